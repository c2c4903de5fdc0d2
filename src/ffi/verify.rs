//! The host's TLS callbacks given in the options: `tls_verify` as the
//! core's [`PeerCheck`], `tls_client_hello` as its [`HelloHook`].

use std::ffi::{c_void, CString};
use std::sync::Arc;

use super::types::{
    sack_tcp_client_hello, sack_tcp_client_hello_cb, sack_tcp_peer_chain, sack_tcp_verify_cb,
};
use crate::tls::hello::{Hello, HelloHook, HelloHookRef};
use crate::tls::peer_check::{PeerChain, PeerCheck, PeerCheckRef};

struct CVerify {
    callback: unsafe extern "C" fn(*mut c_void, *const sack_tcp_peer_chain) -> bool,
    user_data: *mut c_void,
}

// SAFETY: the header documents that `tls_verify` is called on library
// threads, several at once, so handing `user_data` to it there is what the
// user asked for; the struct itself is never mutated.
unsafe impl Send for CVerify {}
// SAFETY: as above.
unsafe impl Sync for CVerify {}

impl PeerCheck for CVerify {
    fn accepts(&self, chain: &PeerChain<'_>) -> bool {
        let certs: Vec<*const u8> = chain.certs.iter().map(|c| c.as_ptr()).collect();
        let lens: Vec<usize> = chain.certs.iter().map(|c| c.len()).collect();
        // A name with an interior NUL cannot be a verified DNS name or IP
        // address; pass none rather than a truncated one.
        let name = chain
            .server_name
            .as_deref()
            .and_then(|n| CString::new(n).ok());
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

    fn identity(&self) -> Vec<u8> {
        identity(self.callback as usize, self.user_data)
    }
}

/// The check for the `tls_verify` option, if one is set.
pub fn peer_check(callback: sack_tcp_verify_cb, user_data: *mut c_void) -> Option<PeerCheckRef> {
    let callback = callback?;
    Some(PeerCheckRef(Arc::new(CVerify {
        callback,
        user_data,
    })))
}

struct CHello {
    callback: unsafe extern "C" fn(*mut c_void, *const sack_tcp_client_hello) -> bool,
    user_data: *mut c_void,
}

// SAFETY: the header documents that `tls_client_hello` is called on library
// threads, several at once, so handing `user_data` to it there is what the
// user asked for; the struct itself is never mutated.
unsafe impl Send for CHello {}
// SAFETY: as above.
unsafe impl Sync for CHello {}

impl HelloHook for CHello {
    fn accepts(&self, hello: &Hello<'_>) -> bool {
        let names: Vec<*const u8> = hello.alpn.iter().map(|p| p.as_ptr()).collect();
        let lens: Vec<usize> = hello.alpn.iter().map(|p| p.len()).collect();
        // rustls only hands over a syntactically valid DNS name, which has
        // no NUL; none is passed rather than a truncated one otherwise.
        let name = hello.server_name.and_then(|n| CString::new(n).ok());
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

    fn identity(&self) -> Vec<u8> {
        identity(self.callback as usize, self.user_data)
    }
}

/// The hook for the `tls_client_hello` option, if one is set.
pub fn hello_hook(
    callback: sack_tcp_client_hello_cb,
    user_data: *mut c_void,
) -> Option<HelloHookRef> {
    let callback = callback?;
    Some(HelloHookRef(Arc::new(CHello {
        callback,
        user_data,
    })))
}

/// A callback's identity: its function and user data pointers.
fn identity(callback: usize, user_data: *mut c_void) -> Vec<u8> {
    let mut id = callback.to_ne_bytes().to_vec();
    id.extend_from_slice(&(user_data as usize).to_ne_bytes());
    id
}
