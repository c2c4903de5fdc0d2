//! Happy eyeballs (RFC 8305): connection attempts to a name's addresses,
//! families interleaved, each started a fixed delay after the previous one
//! or as soon as it fails; the first to connect wins and the others are
//! dropped, which closes their sockets.
//!
//! Generic over the attempt so the schedule can be tested on a paused
//! clock with attempts that never touch a socket.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use crate::error::{Code, Error, Result};

/// RFC 8305 section 4: alternate the families, starting with the family of
/// the resolver's first answer (getaddrinfo has already sorted by RFC 6724
/// preference); within a family the resolver's order is kept.
pub fn interleave(targets: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = targets.first() else {
        return Vec::new();
    };
    let (mut preferred, mut other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        targets.iter().partition(|a| a.is_ipv6() == first.is_ipv6());
    preferred.reverse();
    other.reverse();
    let mut order = Vec::with_capacity(targets.len());
    loop {
        match (preferred.pop(), other.pop()) {
            (None, None) => return order,
            (a, b) => order.extend(a.into_iter().chain(b)),
        }
    }
}

/// Races `attempt` over `targets` (already in order). The error names every
/// failed attempt; its code is the last failure's.
pub async fn race<T, F, Fut>(targets: &[SocketAddr], delay: Duration, mut attempt: F) -> Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut running: Vec<(SocketAddr, Pin<Box<Fut>>)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut last_code = Code::Resolve;
    let mut next = 0;
    let mut timer = pin!(sleep_until(Instant::now()));
    // True when the next attempt may start without waiting for the timer:
    // at the start, and after a failure.
    let mut start_now = true;
    poll_fn(|cx| loop {
        if next < targets.len() && (start_now || timer.as_mut().poll(cx).is_ready()) {
            let target = targets[next];
            next += 1;
            running.push((target, Box::pin(attempt(target))));
            timer.as_mut().reset(Instant::now() + delay);
            start_now = false;
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].1.as_mut().poll(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(Ok(winner)) => return Poll::Ready(Ok(winner)),
                Poll::Ready(Err(error)) => {
                    let (target, _) = running.remove(i);
                    failures.push(format!("{target}: {}", error.message()));
                    last_code = error.code();
                    start_now = true;
                }
            }
        }
        if next < targets.len() && start_now {
            continue;
        }
        if running.is_empty() && next == targets.len() {
            return Poll::Ready(Err(Error::new(
                last_code,
                format!("could not connect: {}", failures.join("; ")),
            )));
        }
        // Pending: every running attempt and (if another is left) the timer
        // have registered the waker.
        if next < targets.len() {
            // The timer was polled above only if the start condition was
            // evaluated with start_now false; make sure it is registered.
            if timer.as_mut().poll(cx).is_ready() {
                continue;
            }
        }
        return Poll::Pending;
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn v4(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 80))
    }
    fn v6(n: u16) -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, n], 80))
    }

    #[test]
    fn families_alternate_from_the_first_answer() {
        assert_eq!(
            interleave(&[v6(1), v6(2), v6(3), v4(1), v4(2)]),
            [v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        assert_eq!(interleave(&[v4(1), v6(1), v6(2)]), [v4(1), v6(1), v6(2)]);
        assert_eq!(interleave(&[v4(1), v4(2)]), [v4(1), v4(2)]);
        assert!(interleave(&[]).is_empty());
    }

    /// What a scripted attempt does, and a log of starts, outcomes and
    /// cancellations (an attempt dropped before it finished), by the paused
    /// clock's milliseconds since the race began.
    #[derive(Clone, Copy)]
    enum Script {
        Connect(u64),
        Fail(u64),
        Hang,
    }

    struct Log {
        begun: Instant,
        lines: Mutex<Vec<String>>,
    }

    impl Log {
        fn note(&self, what: String) {
            let ms = self.begun.elapsed().as_millis();
            self.lines.lock().unwrap().push(format!("{ms} {what}"));
        }
    }

    struct CancelGuard {
        log: Arc<Log>,
        target: SocketAddr,
        done: bool,
    }

    impl Drop for CancelGuard {
        fn drop(&mut self) {
            if !self.done {
                self.log.note(format!("cancel {}", self.target.ip()));
            }
        }
    }

    async fn run(
        scripts: &[(SocketAddr, Script)],
        delay: u64,
    ) -> (Result<SocketAddr>, Vec<String>) {
        let log = Arc::new(Log {
            begun: Instant::now(),
            lines: Mutex::new(Vec::new()),
        });
        let targets: Vec<_> = scripts.iter().map(|(a, _)| *a).collect();
        let script = |a: SocketAddr| scripts.iter().find(|(t, _)| *t == a).unwrap().1;
        let result = race(&targets, Duration::from_millis(delay), |target| {
            let log = log.clone();
            let what = script(target);
            async move {
                log.note(format!("start {}", target.ip()));
                let mut guard = CancelGuard {
                    log: log.clone(),
                    target,
                    done: false,
                };
                let outcome = match what {
                    Script::Connect(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok(target)
                    }
                    Script::Fail(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Err(Error::new(Code::Refused, "refused"))
                    }
                    Script::Hang => std::future::pending().await,
                };
                guard.done = true;
                log.note(format!("end {}", target.ip()));
                outcome
            }
        })
        .await;
        let lines = log.lines.lock().unwrap().clone();
        (result, lines)
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_first_attempt_loses_to_the_second_after_the_delay() {
        let (won, log) = run(&[(v6(1), Script::Hang), (v4(1), Script::Connect(5))], 250).await;
        assert_eq!(won.unwrap(), v4(1));
        assert_eq!(
            log,
            [
                "0 start ::1",
                "250 start 127.0.0.1",
                "255 end 127.0.0.1",
                "255 cancel ::1"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_starts_the_next_attempt_at_once() {
        let (won, log) = run(
            &[
                (v6(1), Script::Fail(30)),
                (v4(1), Script::Fail(10)),
                (v6(2), Script::Connect(1)),
            ],
            250,
        )
        .await;
        assert_eq!(won.unwrap(), v6(2));
        assert_eq!(
            log,
            [
                "0 start ::1",
                "30 end ::1",
                "30 start 127.0.0.1",
                "40 end 127.0.0.1",
                "40 start ::2",
                "41 end ::2"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_overlap_every_delay_the_first_to_connect_wins_and_no_more_start() {
        let (won, log) = run(
            &[
                (v6(1), Script::Connect(900)),
                (v4(1), Script::Hang),
                (v6(2), Script::Connect(50)),
                (v4(2), Script::Hang),
            ],
            100,
        )
        .await;
        assert_eq!(won.unwrap(), v6(2));
        assert_eq!(
            log,
            [
                "0 start ::1",
                "100 start 127.0.0.1",
                "200 start ::2",
                "250 end ::2",
                "250 cancel ::1",
                "250 cancel 127.0.0.1"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_failure_is_named_and_the_last_code_reported() {
        let (result, _) = run(&[(v6(1), Script::Fail(1)), (v4(1), Script::Fail(1))], 250).await;
        let error = result.unwrap_err();
        assert_eq!(error.code(), Code::Refused);
        assert!(error.message().contains("[::1]:80: refused"), "{error}");
        assert!(error.message().contains("127.0.0.1:80: refused"), "{error}");
    }
}
