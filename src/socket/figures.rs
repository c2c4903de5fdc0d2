//! Per-connection figures: bytes on the wire each way, how long the
//! connection has been (or was) up, and the kernel's TCP_INFO round-trip
//! time and retransmissions. Kept with the connection's addresses (a box
//! allocated once connected), updated under the state lock, and frozen at
//! teardown, just before the descriptor closes, so the close callback and
//! later reads see the final values.

use std::time::{Duration, Instant};

use super::stream::Stream;

/// What the kernel says of the connection (Linux's TCP_INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFigures {
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Its mean deviation, microseconds.
    pub rtt_var_us: u32,
    /// Segments retransmitted over the connection's life.
    pub retransmits: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub connected_at: Instant,
    /// Set at teardown: the connection's time stops there.
    pub ended_at: Option<Instant>,
    /// Bytes read from the socket (TLS records included).
    pub received: u64,
    /// Bytes the kernel accepted from the library (TLS records included).
    pub sent: u64,
    /// The last TCP_INFO read: refreshed on every query while the
    /// connection is open, frozen at teardown.
    pub tcp: Option<TcpFigures>,
}

impl Figures {
    pub fn new() -> Figures {
        Figures {
            connected_at: Instant::now(),
            ended_at: None,
            received: 0,
            sent: 0,
            tcp: None,
        }
    }

    pub fn connected_for(&self) -> Duration {
        self.ended_at
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(self.connected_at)
    }

    /// Freezes the figures before the descriptor closes.
    pub(crate) fn end(&mut self, stream: &Stream) {
        if self.ended_at.is_none() {
            self.tcp = tcp_info(stream).or(self.tcp);
            self.ended_at = Some(Instant::now());
        }
    }
}

/// Reads TCP_INFO; `None` where it does not exist or the socket is gone.
/// A Unix socket has none.
#[cfg(target_os = "linux")]
pub(crate) fn tcp_info(stream: &Stream) -> Option<TcpFigures> {
    use std::os::fd::AsRawFd;
    if !stream.is_tcp() {
        return None;
    }
    crate::sys::tcp_info(stream.as_raw_fd()).map(|(rtt_us, rtt_var_us, retransmits)| TcpFigures {
        rtt_us,
        rtt_var_us,
        retransmits,
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn tcp_info(_stream: &Stream) -> Option<TcpFigures> {
    None
}
