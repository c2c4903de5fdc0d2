//! The host's TLS callbacks given in the options: `tls_verify` as the
//! core's [`PeerCheck`], `tls_client_hello` as its [`HelloHook`].

use std::ffi::{c_void, CString};
use std::sync::Arc;

use super::types::{
    sack_tcp_client_hello, sack_tcp_client_hello_cb, sack_tcp_peer_chain, sack_tcp_verify_cb,
};
use crate::tls::hello::{Hello, HelloHook, HelloHookRef};
use crate::tls::peer_check::{PeerChain, PeerCheck, PeerCheckRef};
use crate::tls::{HostCallback, HostRef};

/// A C function pointer `F` and the user data it is called with.
struct CCallback<F> {
    callback: F,
    user_data: *mut c_void,
    /// The function and user data pointers: what tells it apart.
    identity: [usize; 2],
}

// SAFETY: the header documents that both TLS callbacks are called on
// library threads, several at once, so handing `user_data` to them there is
// what the user asked for; the struct itself is never mutated.
unsafe impl<F: Send> Send for CCallback<F> {}
// SAFETY: as above.
unsafe impl<F: Sync> Sync for CCallback<F> {}

impl<F: Send + Sync> HostCallback for CCallback<F> {
    fn identity(&self) -> Vec<u8> {
        self.identity.iter().flat_map(|p| p.to_ne_bytes()).collect()
    }
}

type VerifyFn = unsafe extern "C" fn(*mut c_void, *const sack_tcp_peer_chain) -> bool;
type HelloFn = unsafe extern "C" fn(*mut c_void, *const sack_tcp_client_hello) -> bool;

/// A name for C: none rather than a truncated one if it holds a NUL (a
/// verified DNS name or IP address never does).
fn c_name(name: Option<&str>) -> Option<CString> {
    name.and_then(|n| CString::new(n).ok())
}

impl PeerCheck for CCallback<VerifyFn> {
    fn accepts(&self, chain: &PeerChain<'_>) -> bool {
        let certs: Vec<*const u8> = chain.certs.iter().map(|c| c.as_ptr()).collect();
        let lens: Vec<usize> = chain.certs.iter().map(|c| c.len()).collect();
        let name = c_name(chain.server_name.as_deref());
        let view = sack_tcp_peer_chain {
            certs: certs.as_ptr(),
            cert_lens: lens.as_ptr(),
            count: certs.len(),
            server_name: name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
            leaf_sha256: chain.leaf_sha256,
            leaf_spki_sha256: chain.leaf_spki_sha256.unwrap_or([0; 32]),
            has_leaf_spki_sha256: chain.leaf_spki_sha256.is_some(),
        };
        // SAFETY: the host gave this callback for exactly this call; every
        // pointer in `view` points into `certs`, `lens`, `name` or the
        // chain, all alive until it returns, as the header promises.
        unsafe { (self.callback)(self.user_data, &view) }
    }
}

impl HelloHook for CCallback<HelloFn> {
    fn accepts(&self, hello: &Hello<'_>) -> bool {
        let names: Vec<*const u8> = hello.alpn.iter().map(|p| p.as_ptr()).collect();
        let lens: Vec<usize> = hello.alpn.iter().map(|p| p.len()).collect();
        let name = c_name(hello.server_name);
        let view = sack_tcp_client_hello {
            server_name: name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
            alpn: names.as_ptr(),
            alpn_lens: lens.as_ptr(),
            alpn_count: names.len(),
        };
        // SAFETY: the host gave this callback for exactly this call; every
        // pointer in `view` points into `names`, `lens`, `name` or the
        // ClientHello, all alive until it returns, as the header promises.
        unsafe { (self.callback)(self.user_data, &view) }
    }
}

/// The check for the `tls_verify` option, if one is set.
pub fn peer_check(callback: sack_tcp_verify_cb, user_data: *mut c_void) -> Option<PeerCheckRef> {
    let callback = callback?;
    let identity = [callback as usize, user_data as usize];
    Some(HostRef(Arc::new(CCallback {
        callback,
        user_data,
        identity,
    })))
}

/// The hook for the `tls_client_hello` option, if one is set.
pub fn hello_hook(
    callback: sack_tcp_client_hello_cb,
    user_data: *mut c_void,
) -> Option<HelloHookRef> {
    let callback = callback?;
    let identity = [callback as usize, user_data as usize];
    Some(HostRef(Arc::new(CCallback {
        callback,
        user_data,
        identity,
    })))
}
