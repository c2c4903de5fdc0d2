//! Who drives a connection right now: a tokio task, or nobody.
//!
//! An idle connection gives its task up ("parks") and leaves a waker made
//! from its socket in the I/O driver instead; readiness or a request from a
//! user thread then spawns a fresh task. A parked connection so costs no
//! task at all, which is most of what an idle connection used to cost
//! (tokio's task cell, aligned to 128 bytes, plus the future inside it).
//!
//! The state is one atomic with three values, so at most one task drives a
//! connection at any moment and no request is lost:
//! - `RUNNING`: a task exists (it may be waiting on its own waker);
//! - `NOTIFIED`: as `RUNNING`, and something asked it to look again since
//!   it last looked;
//! - `PARKED`: no task; whoever notifies first must start one.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::task::Waker;

use crate::lock;

const RUNNING: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;

/// `O` is what a new task needs to drive the connection (its socket): a
/// parked connection leaves it here for whoever starts that task.
#[derive(Debug)]
pub(crate) struct Runner<O> {
    state: AtomicU8,
    slot: Mutex<Slot<O>>,
}

#[derive(Debug)]
enum Slot<O> {
    Empty,
    /// The waiting task's waker, for requests that do not come through the
    /// I/O driver (a send queued from a user thread, a close).
    Waiting(Waker),
    Parked(O),
}

impl<O> Runner<O> {
    /// A connection starts with the task that creates it.
    pub(crate) fn new() -> Runner<O> {
        Runner {
            state: AtomicU8::new(RUNNING),
            slot: Mutex::new(Slot::Empty),
        }
    }

    /// Asks the connection's task to look at its state again. Returns the
    /// owner of a parked connection: the caller must start its task now.
    #[must_use = "a parked connection needs a task started for it"]
    pub(crate) fn notify(&self) -> Option<O> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = match current {
                PARKED => RUNNING,
                RUNNING => NOTIFIED,
                _ => break,
            };
            match self
                .state
                .compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if current == PARKED => return Some(self.take_owner()),
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let waiting = {
            let mut slot = lock(&self.slot);
            match std::mem::replace(&mut *slot, Slot::Empty) {
                Slot::Waiting(waker) => Some(waker),
                // A task on its way to parking: it sees the notification
                // when it tries to park and keeps its owner.
                other => {
                    *slot = other;
                    None
                }
            }
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
        None
    }

    fn take_owner(&self) -> O {
        match std::mem::replace(&mut *lock(&self.slot), Slot::Empty) {
            Slot::Parked(owner) => owner,
            // `park` stores the owner before it publishes PARKED.
            _ => unreachable!("a parked connection always leaves its owner"),
        }
    }

    /// Called by the task each time it starts looking at its state:
    /// notifications before this point are answered by that look.
    pub(crate) fn begin_pass(&self) {
        let _ = self
            .state
            .compare_exchange(NOTIFIED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Called by the task before it returns `Pending`: leaves `waker` for
    /// notifications. Returns true when one arrived since `begin_pass`, in
    /// which case the task must look again instead of waiting.
    pub(crate) fn prepare_wait(&self, waker: &Waker) -> bool {
        {
            let mut slot = lock(&self.slot);
            if !matches!(&*slot, Slot::Waiting(w) if w.will_wake(waker)) {
                *slot = Slot::Waiting(waker.clone());
            }
        }
        self.state.load(Ordering::Acquire) == NOTIFIED
    }

    /// Gives the task up, leaving `owner` for the notification that will
    /// start the next one. False when a notification arrived first; the
    /// task must then look again and stays the runner.
    pub(crate) fn park(&self, owner: O) -> bool {
        let old = std::mem::replace(&mut *lock(&self.slot), Slot::Parked(owner));
        drop(old);
        let parked = self
            .state
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if !parked {
            drop(self.take_owner());
        }
        parked
    }

    /// Takes the runner's role back right after `park`, when the connection
    /// turned out to have work after all. False when a notification already
    /// started another task, which then does that work.
    pub(crate) fn unpark(&self) -> bool {
        let unparked = self
            .state
            .compare_exchange(PARKED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if unparked {
            drop(self.take_owner());
        }
        unparked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker::default());
        (counter.clone(), Waker::from(counter))
    }

    #[test]
    fn a_notification_wakes_the_waiting_task_once() {
        let runner: Runner<u32> = Runner::new();
        let (count, waker) = counting();
        runner.begin_pass();
        assert!(!runner.prepare_wait(&waker));
        assert_eq!(runner.notify(), None);
        assert_eq!(runner.notify(), None);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_notification_before_waiting_is_not_lost() {
        let runner: Runner<u32> = Runner::new();
        let (count, waker) = counting();
        runner.begin_pass();
        assert_eq!(runner.notify(), None);
        assert!(runner.prepare_wait(&waker), "must look again, not wait");
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        runner.begin_pass();
        assert!(!runner.prepare_wait(&waker));
    }

    #[test]
    fn only_the_first_notification_of_a_parked_connection_starts_a_task() {
        let runner: Runner<u32> = Runner::new();
        assert!(runner.park(7));
        assert_eq!(runner.notify(), Some(7));
        assert_eq!(runner.notify(), None);
        // The parking task may not take the role back: a task was started.
        assert!(!runner.unpark());
    }

    #[test]
    fn parking_fails_after_a_notification() {
        let runner: Runner<u32> = Runner::new();
        runner.begin_pass();
        assert_eq!(runner.notify(), None);
        assert!(!runner.park(7));
        runner.begin_pass();
        assert!(runner.park(7));
        assert!(runner.unpark(), "nobody else started a task");
        assert_eq!(runner.notify(), None, "running again, so nothing to start");
    }

    #[test]
    fn concurrent_notifications_start_exactly_one_task() {
        for _ in 0..200 {
            let runner: Arc<Runner<u32>> = Arc::new(Runner::new());
            assert!(runner.park(7));
            let started = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (runner, started) = (runner.clone(), started.clone());
                    std::thread::spawn(move || {
                        if runner.notify() == Some(7) {
                            started.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(started.load(Ordering::SeqCst), 1);
        }
    }
}
