//! The background runtime through its Rust API: configuration, task
//! counting, panics inside tasks, and shutdown. The runtime is global, so
//! the tests take turns.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use sack_tcp::error::Code;
use sack_tcp::events::Delivery;
use sack_tcp::runtime::{self, RuntimeConfig, Stop};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs after any earlier test, with the runtime stopped.
fn exclusive() -> MutexGuard<'static, ()> {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    runtime::shutdown().unwrap();
    turn
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Spawns a counted task that runs `f` on a runtime thread and sends back
/// its result.
fn on_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let rt = runtime::get().unwrap();
    let (tx, rx) = mpsc::channel();
    runtime::spawn_socket_task(
        &rt,
        async move {
            let _ = tx.send(f());
        },
        || {},
    );
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

#[test]
fn start_takes_the_configuration_once_per_run() {
    let _turn = exclusive();
    let config = RuntimeConfig {
        worker_threads: 2,
        delivery: Delivery::Direct,
        ..RuntimeConfig::default()
    };
    runtime::start(config).unwrap();
    let again = runtime::start(config).unwrap_err();
    assert_eq!(again.code(), Code::InvalidArgument, "{again}");
    let names: Vec<String> = (0..20)
        .map(|_| on_runtime(|| std::thread::current().name().unwrap_or("").to_owned()))
        .collect();
    assert!(
        names.iter().all(|name| name == "sack_tcp-worker"),
        "{names:?}"
    );
    runtime::shutdown().unwrap();
    // Stopped, it can be configured again.
    runtime::start(config).unwrap();
    runtime::shutdown().unwrap();
}

#[test]
fn the_first_use_starts_the_runtime_and_shutdown_stops_it() {
    let _turn = exclusive();
    assert_eq!(runtime::socket_tasks(), 0);
    assert!(on_runtime(|| tokio::runtime::Handle::try_current().is_ok()));
    runtime::shutdown().unwrap();
    // Nothing runs any more: shutting down again is a no-op, and the next
    // use starts a fresh runtime.
    runtime::shutdown().unwrap();
    assert_eq!(on_runtime(|| 7), 7);
    runtime::shutdown().unwrap();
}

#[test]
fn tasks_are_counted_until_they_end() {
    let _turn = exclusive();
    let rt = runtime::get().unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (end_tx, end_rx) = mpsc::channel();
    runtime::spawn_socket_task(
        &rt,
        async move {
            let _ = released.await;
            let _ = end_tx.send(());
        },
        || {},
    );
    assert_eq!(runtime::socket_tasks(), 1);
    release.send(()).unwrap();
    end_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    wait_until("the task is no longer counted", || {
        runtime::socket_tasks() == 0
    });
    runtime::shutdown().unwrap();
}

#[test]
fn a_panicking_task_runs_its_handler_and_is_no_longer_counted() {
    let _turn = exclusive();
    let rt = runtime::get().unwrap();
    let (tx, rx) = mpsc::channel();
    runtime::spawn_socket_task(
        &rt,
        async {
            panic!("a bug in a socket task");
        },
        move || {
            let _ = tx.send(());
        },
    );
    rx.recv_timeout(Duration::from_secs(10))
        .expect("on_panic ran");
    wait_until("the task is no longer counted", || {
        runtime::socket_tasks() == 0
    });
    // The worker survived the panic.
    assert_eq!(on_runtime(|| 1), 1);
    runtime::shutdown().unwrap();
}

/// A socket whose task ends when it is stopped.
struct Stoppable {
    stops: AtomicUsize,
    notify: tokio::sync::Notify,
}

impl Stop for Stoppable {
    fn stop(&self) {
        self.stops.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

#[test]
fn shutdown_stops_registered_sockets_and_waits_for_their_tasks() {
    let _turn = exclusive();
    let rt = runtime::get().unwrap();
    let socket = Arc::new(Stoppable {
        stops: AtomicUsize::new(0),
        notify: tokio::sync::Notify::new(),
    });
    let key = Arc::as_ptr(&socket) as usize;
    let weak: Weak<dyn Stop> = Arc::downgrade(&socket) as Weak<dyn Stop>;
    runtime::register(key, weak);
    let ended = Arc::new(AtomicBool::new(false));
    {
        let (socket, ended) = (socket.clone(), ended.clone());
        runtime::spawn_socket_task(
            &rt,
            async move {
                socket.notify.notified().await;
                // Closing takes a moment; shutdown must wait for it.
                tokio::time::sleep(Duration::from_millis(50)).await;
                ended.store(true, Ordering::SeqCst);
            },
            || {},
        );
    }
    runtime::shutdown().unwrap();
    assert!(socket.stops.load(Ordering::SeqCst) >= 1);
    assert!(
        ended.load(Ordering::SeqCst),
        "shutdown returned before the task ended"
    );
    assert_eq!(runtime::socket_tasks(), 0);
    runtime::deregister(key);
}

#[test]
fn shutdown_from_a_runtime_thread_would_deadlock() {
    let _turn = exclusive();
    let code = on_runtime(|| runtime::shutdown().map_err(|e| e.code()));
    assert_eq!(code, Err(Code::WouldDeadlock));
    // The refused call changed nothing.
    assert_eq!(on_runtime(|| 2), 2);
    runtime::shutdown().unwrap();
}
