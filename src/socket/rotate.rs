//! Replacing a running TLS listener's configuration (issue 14, item 6).

use std::sync::Arc;

use super::{Role, Socket};
use crate::error::{Code, Error, Result};
use crate::options::Options;
use crate::tls::config::ServerTls;
use crate::tls::sni::split_host_list;

impl Socket {
    /// Builds a whole new server configuration from the TLS settings of
    /// `options` and makes it the one every handshake accepted from now on
    /// uses, in one step; connections accepted before keep theirs. On any
    /// error nothing changes.
    pub fn reload_tls(&self, options: &Options) -> Result<()> {
        self.check_open()?;
        let Role::Listener(listener) = &self.role else {
            return Err(Error::new(
                Code::NotApplicable,
                "a TLS configuration is replaced on the listening socket, not on a connection",
            ));
        };
        if listener.tls().is_none() {
            return Err(Error::new(
                Code::NotApplicable,
                "this server has no TLS: it was opened without cert or hosts",
            ));
        }
        let new: Arc<ServerTls> = ServerTls::build(&options.replacement_server_tls()?)?;
        listener.replace_tls(new);
        Ok(())
    }

    /// The earliest notAfter (seconds since 1970 UTC) among the
    /// certificates a TLS listener serves now.
    pub fn cert_expiry(&self) -> Result<i64> {
        self.check_open()?;
        self.server_tls()?
            .earliest_expiry()
            .ok_or_else(|| Error::new(Code::NotApplicable, "this server serves no certificate now"))
    }

    /// Stops serving the SNI names `hosts` ('~'-separated) from the next
    /// handshake on; returns how many were served.
    pub fn remove_cert(&self, hosts: &str) -> Result<usize> {
        self.check_open()?;
        let names = split_host_list(hosts)?;
        if names.is_empty() {
            return Err(Error::invalid("remove_cert needs at least one host name"));
        }
        self.server_tls()?.remove_names(&names)
    }
}
