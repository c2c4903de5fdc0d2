//! The connection's deadlines: a graceful close's, a TLS handshake's and the
//! idle timeout, behind one timer that is allocated only while one is set.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;

use tokio::time::{Instant, Sleep};

use super::Progress;

#[derive(Default)]
pub(super) struct Timing {
    /// Set once a close begins; the close must finish by then.
    close: Option<Instant>,
    /// Set while a TLS handshake runs; it must finish by then.
    handshake: Option<Instant>,
    /// With an idle timeout: when the connection counts as idle unless
    /// something arrives first.
    idle: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

#[derive(Clone, Copy)]
pub(super) enum Deadline {
    Close,
    Handshake,
    Idle,
}

impl Timing {
    fn slot(&mut self, which: Deadline) -> &mut Option<Instant> {
        match which {
            Deadline::Close => &mut self.close,
            Deadline::Handshake => &mut self.handshake,
            Deadline::Idle => &mut self.idle,
        }
    }
}

impl Progress {
    pub(super) fn deadline(&self, which: Deadline) -> Option<Instant> {
        let timing = self.timing.as_deref()?;
        match which {
            Deadline::Close => timing.close,
            Deadline::Handshake => timing.handshake,
            Deadline::Idle => timing.idle,
        }
    }

    pub(super) fn set_deadline(&mut self, which: Deadline, at: Option<Instant>) {
        match (&mut self.timing, at) {
            (None, None) => {}
            (Some(timing), _) => *timing.slot(which) = at,
            (timing @ None, Some(_)) => *timing.get_or_insert_with(Box::default).slot(which) = at,
        }
    }

    /// Arms the timer for the earliest deadline and polls it; true once it
    /// fired. With no deadline left the timing state is freed.
    pub(super) fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timing) = self.timing.as_deref_mut() else {
            return false;
        };
        let next = [timing.close, timing.handshake, timing.idle]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            self.timing = None;
            return false;
        };
        let timer = match &mut timing.timer {
            Some(timer) => {
                if timer.deadline() != next {
                    timer.as_mut().reset(next);
                }
                timer
            }
            none => none.insert(Box::pin(tokio::time::sleep_until(next))),
        };
        timer.as_mut().poll(cx).is_ready()
    }
}
