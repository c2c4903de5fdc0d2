//! The background tokio runtime: started lazily on first use, optionally
//! configured first, and shut down explicitly so that unloading the library
//! leaves no thread behind.
//!
//! Every socket task is spawned through [`spawn_socket_task`], which counts
//! it and catches its panics. Every socket registers itself (see
//! [`register`]) so that `shutdown` can ask each to stop; it then uses the
//! task count to wait until every socket has delivered its `close`
//! callback before it stops the worker threads. (A registry, rather than a
//! shutdown signal every task waits on, keeps idle connections small.)

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{Code, Error, Result};
use crate::lock;

/// How long `shutdown` waits for sockets to finish their close callbacks,
/// and then for worker threads to exit, before giving up on a stuck one.
const TASK_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const WORKER_JOIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// 0 picks the number of CPUs.
    pub worker_threads: usize,
    pub delivery: crate::events::Delivery,
    /// The queued mode's bounds on received bytes waiting for dispatch.
    pub queue_limits: crate::events::QueueLimits,
}

impl RuntimeConfig {
    pub const DEFAULT: RuntimeConfig = RuntimeConfig {
        worker_threads: 0,
        delivery: crate::events::Delivery::Direct,
        queue_limits: crate::events::DEFAULT_QUEUE_LIMITS,
    };
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig::DEFAULT
    }
}

enum State {
    Stopped { config: RuntimeConfig },
    Running(Arc<Running>),
    ShuttingDown,
}

struct Running {
    config: RuntimeConfig,
    // Taken out by `shutdown`, which may run while sockets still hold a
    // `RuntimeRef` for a moment; hence a Mutex rather than ownership.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    tasks: Arc<TaskCount>,
}

static STATE: Mutex<State> = Mutex::new(State::Stopped {
    config: RuntimeConfig::DEFAULT,
});

fn state() -> MutexGuard<'static, State> {
    lock(&STATE)
}

/// Sets the configuration used when the runtime starts. Starts it at once so
/// that a bad configuration is reported here rather than at the first open.
pub fn start(config: RuntimeConfig) -> Result<()> {
    let mut st = state();
    match &*st {
        State::Running(_) => Err(Error::new(
            Code::InvalidArgument,
            "the runtime is already running; configure it before the first socket is opened \
             or after sack_tcp_shutdown",
        )),
        State::ShuttingDown => Err(shutting_down()),
        State::Stopped { .. } => {
            let running = build(config)?;
            *st = State::Running(running);
            Ok(())
        }
    }
}

fn shutting_down() -> Error {
    Error::new(Code::Runtime, "sack_tcp_shutdown is in progress")
}

fn build(config: RuntimeConfig) -> Result<Arc<Running>> {
    crate::events::set_delivery(config.delivery);
    crate::events::set_queue_limits(config.queue_limits);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("sack_tcp-worker");
    if config.worker_threads > 0 {
        builder.worker_threads(config.worker_threads);
    }
    let runtime = builder
        .build()
        .map_err(|e| Error::from_io("starting the runtime", &e))?;
    Ok(Arc::new(Running {
        config,
        handle: runtime.handle().clone(),
        runtime: Mutex::new(Some(runtime)),
        tasks: Arc::new(TaskCount::default()),
    }))
}

/// What a socket needs from the runtime: somewhere to spawn, and the signal
/// that tells its task to close because the runtime is going away.
#[derive(Clone)]
pub struct RuntimeRef {
    running: Arc<Running>,
}

impl RuntimeRef {
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.running.handle
    }
}

/// The running runtime, started with the configured (or default) settings
/// if this is the first use.
pub fn get() -> Result<RuntimeRef> {
    let mut st = state();
    let running = match &*st {
        State::Running(running) => running.clone(),
        State::ShuttingDown => return Err(shutting_down()),
        State::Stopped { config } => {
            let running = build(*config)?;
            *st = State::Running(running.clone());
            running
        }
    };
    Ok(RuntimeRef { running })
}

/// What `shutdown` asks of every socket: close at once (abortively).
pub trait Stop: Send + Sync {
    fn stop(&self);
}

/// Every socket not yet dropped (open ones, closed ones the user still
/// holds, ones whose task is finishing), for `shutdown` to stop and for
/// the live-handle count. The one place sockets are tracked; the condvar
/// wakes those waiting for the count to fall.
static REGISTRY: Mutex<Option<HashMap<usize, Weak<dyn Stop>>>> = Mutex::new(None);
static DEREGISTERED: Condvar = Condvar::new();

fn registry() -> MutexGuard<'static, Option<HashMap<usize, Weak<dyn Stop>>>> {
    lock(&REGISTRY)
}

/// Registers a socket for `shutdown`; `key` must be unique while it lives
/// (its address) and be passed to [`deregister`] when it is dropped.
pub fn register(key: usize, socket: Weak<dyn Stop>) {
    registry()
        .get_or_insert_with(HashMap::new)
        .insert(key, socket);
}

pub fn deregister(key: usize) {
    let mut registry = registry();
    if let Some(map) = registry.as_mut() {
        map.remove(&key);
        if map.is_empty() {
            // Freed, not kept: a static's heap memory would outlive a
            // dlclose of the library.
            *registry = None;
        }
    }
    DEREGISTERED.notify_all();
}

/// Sockets not yet dropped. Tests expect 0 after shutdown.
pub fn live_sockets() -> usize {
    registry().as_ref().map_or(0, HashMap::len)
}

/// Waits until at most `target` sockets are alive, up to `timeout`; returns
/// the count then. (The count lags the close callback by the end of the
/// socket's task; this waits without polling.)
pub fn wait_live_sockets(target: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    let mut registry = registry();
    loop {
        let live = registry.as_ref().map_or(0, HashMap::len);
        let now = Instant::now();
        if live <= target || now >= deadline {
            return live;
        }
        registry = DEREGISTERED
            .wait_timeout(registry, deadline - now)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

fn stop_all() {
    let sockets: Vec<Weak<dyn Stop>> = registry()
        .as_ref()
        .map(|map| map.values().cloned().collect())
        .unwrap_or_default();
    for socket in sockets.iter().filter_map(Weak::upgrade) {
        socket.stop();
    }
}

/// Socket tasks alive in the running runtime: a listener's accept loop,
/// connections being set up, and connections with work or a deadline (an
/// idle one has none; see `socket/runner.rs`).
pub fn socket_tasks() -> usize {
    match &*state() {
        State::Running(running) => running.tasks.count.load(Ordering::Acquire),
        _ => 0,
    }
}

/// Spawns the task that owns a socket. `on_panic` runs if the task panics,
/// so the socket can still report an error and close instead of vanishing.
pub fn spawn_socket_task<F, P>(rt: &RuntimeRef, task: F, on_panic: P)
where
    F: Future<Output = ()> + Send + 'static,
    P: FnOnce() + Send + 'static,
{
    let guarded = Guarded {
        inner: task,
        guard: TaskGuard::new(rt.running.tasks.clone()),
        on_panic: Some(on_panic),
    };
    rt.running.handle.spawn(guarded);
}

/// True on a thread that belongs to the runtime, where blocking on the
/// runtime's own shutdown would deadlock.
fn on_runtime_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Closes every socket (each gets its `close` callback), waits for their
/// tasks to end, then stops and joins the worker threads. A later open
/// starts a fresh runtime.
pub fn shutdown() -> Result<()> {
    if on_runtime_thread() || crate::events::in_callback() {
        return Err(Error::new(
            Code::WouldDeadlock,
            "sack_tcp_shutdown was called from inside a callback or a runtime thread; \
             it would wait for itself",
        ));
    }
    let running = {
        let mut st = state();
        match std::mem::replace(&mut *st, State::ShuttingDown) {
            State::Running(running) => running,
            other => {
                *st = other;
                return Ok(());
            }
        }
    };
    // A socket opened just before shutdown began may register after a pass,
    // so stopping is repeated until every task has ended.
    let deadline = Instant::now() + TASK_DRAIN_TIMEOUT;
    let drained = loop {
        stop_all();
        if running.tasks.wait_zero(Duration::from_millis(100)) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
    };
    // In the queued mode the close callbacks wait in the queue; this thread
    // is the host's, so it delivers them.
    crate::events::drain_queue(usize::MAX);
    let runtime = lock(&running.runtime).take();
    if let Some(runtime) = runtime {
        runtime.shutdown_timeout(WORKER_JOIN_TIMEOUT);
    }
    // The next open starts a runtime configured like this one.
    *state() = State::Stopped {
        config: running.config,
    };
    if drained {
        Ok(())
    } else {
        log::error!("shutdown: some sockets did not finish closing within 10 s");
        Err(Error::new(
            Code::TimedOut,
            "some sockets did not finish closing within 10 s (a callback may be blocked); \
             the runtime was stopped anyway",
        ))
    }
}

/// Socket tasks alive. An idle connection parks and a busy one gets a new
/// task each time it wakes, so this is counted with an atomic; the lock is
/// taken only by a waiter and by the task that brings the count to zero.
#[derive(Default)]
struct TaskCount {
    count: AtomicUsize,
    lock: Mutex<()>,
    zero: Condvar,
}

impl TaskCount {
    fn wait_zero(&self, timeout: Duration) -> bool {
        let guard = lock(&self.lock);
        let _ = self
            .zero
            .wait_timeout_while(guard, timeout, |_| self.count.load(Ordering::Acquire) > 0)
            .unwrap_or_else(|p| p.into_inner());
        self.count.load(Ordering::Acquire) == 0
    }
}

struct TaskGuard {
    tasks: Arc<TaskCount>,
}

impl TaskGuard {
    fn new(tasks: Arc<TaskCount>) -> TaskGuard {
        tasks.count.fetch_add(1, Ordering::AcqRel);
        TaskGuard { tasks }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.tasks.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Taking the lock orders this with a waiter between its check
            // and its wait, so the notification cannot slip past it.
            let _guard = lock(&self.tasks.lock);
            self.tasks.zero.notify_all();
        }
    }
}

pin_project_lite::pin_project! {
    /// A socket task with what every one of them carries: `catch_unwind`
    /// around each poll (a bug in a task becomes an error and a close for
    /// its socket rather than a silently dropped connection), and the guard
    /// that counts it. Pinned in place, so the future needs no box of its
    /// own inside the task.
    struct Guarded<F, P> {
        #[pin]
        inner: F,
        guard: TaskGuard,
        on_panic: Option<P>,
    }
}

impl<F: Future<Output = ()>, P: FnOnce()> Future for Guarded<F, P> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let inner = this.inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                if let Some(on_panic) = this.on_panic.take() {
                    on_panic();
                }
                Poll::Ready(())
            }
        }
    }
}
