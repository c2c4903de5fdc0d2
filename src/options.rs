//! Socket options as the core uses them: already converted from the C
//! struct, with defaults applied and checked against the kind of socket
//! they will open.

use std::time::Duration;

use crate::address::{self, Family, ParsedAddress};
use crate::error::{Code, Error, Result};

pub const DEFAULT_READ_BUFFER_SIZE: usize = 4096;
/// Small enough that text mode can always fit one character plus carry.
pub const MIN_READ_BUFFER_SIZE: usize = 16;
pub const MAX_READ_BUFFER_SIZE: usize = 16 << 20;
pub const DEFAULT_SEND_QUEUE_LIMIT: usize = 16 << 20;
pub const DEFAULT_BACKLOG: u32 = 4096;
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `sack_tcp_open` accepts, in Rust terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub port: u16,
    pub address: Option<String>,
    pub family: Family,
    pub to_address: Option<String>,
    pub to_port: Option<u16>,
    pub read_strings: bool,
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub no_delay: bool,
    /// Idle time before the first keepalive probe; `None` leaves keepalive off.
    pub keep_alive: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub read_buffer_size: usize,
    pub send_queue_limit: usize,
    pub send_queue_low_mark: usize,
    /// `None` means the default; a client rejects any explicit value.
    pub backlog: Option<u32>,
    pub close_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            address: None,
            family: Family::Any,
            to_address: None,
            to_port: None,
            read_strings: false,
            reuse_address: false,
            reuse_port: false,
            no_delay: true,
            keep_alive: None,
            connect_timeout: None,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            send_queue_limit: DEFAULT_SEND_QUEUE_LIMIT,
            send_queue_low_mark: 0,
            backlog: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

/// Per-connection settings, shared by clients and accepted connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnSettings {
    pub no_delay: bool,
    pub keep_alive: Option<Duration>,
    pub read_buffer_size: usize,
    pub send_queue_limit: usize,
    pub send_queue_low_mark: usize,
    pub close_timeout: Duration,
}

/// A listening socket's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPlan {
    pub bind: Option<ParsedAddress>,
    pub port: u16,
    pub family: Family,
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub backlog: u32,
    pub conn: ConnSettings,
}

/// A client's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    pub target: ParsedAddress,
    pub to_port: Option<u16>,
    pub bind: Option<ParsedAddress>,
    pub bind_port: u16,
    pub family: Family,
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub connect_timeout: Option<Duration>,
    pub conn: ConnSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Server(ServerPlan),
    Client(ClientPlan),
}

fn not_applicable(option: &str, kind: &str) -> Error {
    Error::new(
        Code::NotApplicable,
        format!("option `{option}` does not apply to a {kind}"),
    )
}

impl Options {
    /// Checks the options and decides what to open: `to_address` makes a
    /// client, its absence a server. Address strings are parsed here so a
    /// typo is reported by the open call itself.
    pub fn plan(&self) -> Result<Plan> {
        if !(MIN_READ_BUFFER_SIZE..=MAX_READ_BUFFER_SIZE).contains(&self.read_buffer_size) {
            return Err(Error::invalid(format!(
                "read buffer size {} is outside {MIN_READ_BUFFER_SIZE}..={MAX_READ_BUFFER_SIZE}",
                self.read_buffer_size
            )));
        }
        if self.send_queue_limit == 0 {
            return Err(Error::invalid("send queue limit must be at least 1 byte"));
        }
        if self.send_queue_low_mark >= self.send_queue_limit {
            return Err(Error::invalid(format!(
                "send queue low mark {} must be below the limit {}",
                self.send_queue_low_mark, self.send_queue_limit
            )));
        }
        let conn = ConnSettings {
            no_delay: self.no_delay,
            keep_alive: self.keep_alive,
            read_buffer_size: self.read_buffer_size,
            send_queue_limit: self.send_queue_limit,
            send_queue_low_mark: self.send_queue_low_mark,
            close_timeout: self.close_timeout,
        };
        let bind = self.address.as_deref().map(address::parse).transpose()?;
        match &self.to_address {
            None => {
                if self.to_port.is_some() {
                    return Err(not_applicable("toPort", "server (no toAddress given)"));
                }
                if self.connect_timeout.is_some() {
                    return Err(not_applicable("connect timeout", "server"));
                }
                Ok(Plan::Server(ServerPlan {
                    bind,
                    port: self.port,
                    family: self.family,
                    reuse_address: self.reuse_address,
                    reuse_port: self.reuse_port,
                    backlog: self.backlog.unwrap_or(DEFAULT_BACKLOG),
                    conn,
                }))
            }
            Some(to) => {
                if self.backlog.is_some() {
                    return Err(not_applicable("backlog", "client"));
                }
                let target = address::parse(to)?;
                if target.port.is_none() && self.to_port.is_none() {
                    return Err(Error::new(
                        Code::BadAddress,
                        format!("toAddress \"{to}\" has no port and toPort is not set"),
                    ));
                }
                Ok(Plan::Client(ClientPlan {
                    target,
                    to_port: self.to_port,
                    bind,
                    bind_port: self.port,
                    family: self.family,
                    reuse_address: self.reuse_address,
                    reuse_port: self.reuse_port,
                    connect_timeout: self.connect_timeout,
                    conn,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(to: &str) -> Options {
        Options {
            to_address: Some(to.into()),
            ..Options::default()
        }
    }

    #[test]
    fn to_address_makes_a_client() {
        assert!(matches!(client("127.0.0.1:80").plan(), Ok(Plan::Client(_))));
        assert!(matches!(Options::default().plan(), Ok(Plan::Server(_))));
    }

    #[test]
    fn client_needs_a_port_somewhere() {
        let err = client("127.0.0.1").plan().unwrap_err();
        assert_eq!(err.code(), Code::BadAddress);
        let ok = Options {
            to_port: Some(80),
            ..client("127.0.0.1")
        };
        assert!(ok.plan().is_ok());
    }

    #[test]
    fn options_of_the_other_kind_are_refused() {
        let server_with_to_port = Options {
            to_port: Some(1),
            ..Options::default()
        };
        assert_eq!(
            server_with_to_port.plan().unwrap_err().code(),
            Code::NotApplicable
        );
        let server_with_timeout = Options {
            connect_timeout: Some(Duration::from_millis(5)),
            ..Options::default()
        };
        assert_eq!(
            server_with_timeout.plan().unwrap_err().code(),
            Code::NotApplicable
        );
        let client_with_backlog = Options {
            backlog: Some(5),
            ..client("127.0.0.1:1")
        };
        assert_eq!(
            client_with_backlog.plan().unwrap_err().code(),
            Code::NotApplicable
        );
    }

    #[test]
    fn sizes_are_checked() {
        for size in [0, MIN_READ_BUFFER_SIZE - 1, MAX_READ_BUFFER_SIZE + 1] {
            let o = Options {
                read_buffer_size: size,
                ..Options::default()
            };
            assert_eq!(o.plan().unwrap_err().code(), Code::InvalidArgument);
        }
        let o = Options {
            send_queue_limit: 10,
            send_queue_low_mark: 10,
            ..Options::default()
        };
        assert_eq!(o.plan().unwrap_err().code(), Code::InvalidArgument);
    }

    #[test]
    fn bad_address_strings_fail_the_plan() {
        let o = Options {
            address: Some("[::1".into()),
            ..Options::default()
        };
        assert_eq!(o.plan().unwrap_err().code(), Code::BadAddress);
        assert_eq!(
            client("1.2.3.4:99999").plan().unwrap_err().code(),
            Code::BadAddress
        );
    }
}
