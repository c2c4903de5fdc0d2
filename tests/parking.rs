//! Idle connections give their tasks up and come back when there is work:
//! readiness from the peer, a send or a close from a user thread. Its own
//! test binary, since it counts the runtime's tasks.

use std::any::Any;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sack_tcp::events::Event;
use sack_tcp::options::Options;
use sack_tcp::runtime;
use sack_tcp::socket::Handler;
use sack_tcp::socket::Socket;

/// Echoes messages and reports them, and close, on a channel.
struct Echo {
    tx: Mutex<Sender<Vec<u8>>>,
    echo: bool,
}

impl Handler for Echo {
    fn handle(&self, socket: &Socket, event: Event<'_>) {
        let seen = match event {
            Event::Message(data) => {
                if self.echo {
                    socket.send(data).unwrap();
                }
                data.to_vec()
            }
            Event::Close => b"<close>".to_vec(),
            // Nobody here keeps accepted connections: the library may free
            // them after their close.
            Event::Connect(_) if socket.is_accepted() => {
                drop(socket.disown());
                return;
            }
            _ => return,
        };
        let _ = self.tx.lock().unwrap().send(seen);
    }

    fn for_accepted(&self) -> Arc<dyn Handler> {
        Arc::new(Echo {
            tx: Mutex::new(self.tx.lock().unwrap().clone()),
            echo: self.echo,
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn echo(echo: bool) -> (Arc<dyn Handler>, Receiver<Vec<u8>>) {
    let (tx, rx) = channel();
    (
        Arc::new(Echo {
            tx: Mutex::new(tx),
            echo,
        }),
        rx,
    )
}

fn next(rx: &Receiver<Vec<u8>>) -> Vec<u8> {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("event within 10 s")
}

/// Parking happens on a runtime thread right after the last event, with
/// nothing to signal it; yielding (not sleeping) until it shows, bounded.
fn wait_tasks(target: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = runtime::socket_tasks();
        if tasks == target || Instant::now() >= deadline {
            return tasks;
        }
        std::thread::yield_now();
    }
}

#[test]
fn idle_connections_hold_no_task_and_wake_for_work() {
    let (server_handler, server_rx) = echo(true);
    let server = Socket::open(
        &Options {
            address: Some("127.0.0.1".into()),
            ..Options::default()
        },
        server_handler,
    )
    .unwrap();
    let port = server.local_addr().unwrap().port();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let (h, rx) = echo(false);
        let client = Socket::open(
            &Options {
                to_address: Some(format!("127.0.0.1:{port}")),
                ..Options::default()
            },
            h,
        )
        .unwrap();
        client.send(b"first").unwrap();
        clients.push((client, rx));
    }
    for (_, rx) in &clients {
        assert_eq!(next(rx), b"first");
        assert_eq!(next(&server_rx), b"first");
    }
    // 40 idle connections; only the listener's accept loop keeps a task.
    assert_eq!(wait_tasks(1), 1);

    // A send from this thread wakes a parked client; readiness wakes the
    // parked server side, whose echo wakes the client again.
    for (client, rx) in &clients {
        client.send(b"second").unwrap();
        assert_eq!(next(rx), b"second");
    }
    assert_eq!(wait_tasks(1), 1);

    // A close from this thread wakes a parked client; the FIN wakes the
    // server side, and both close gracefully.
    for (client, rx) in &clients {
        client.close().unwrap();
        assert_eq!(next(rx), b"<close>");
    }
    for _ in &clients {
        assert_eq!(next(&server_rx), b"second");
    }
    let mut server_closes = 0;
    while server_closes < clients.len() {
        if next(&server_rx) == b"<close>" {
            server_closes += 1;
        }
    }
    server.close().unwrap();
    assert_eq!(next(&server_rx), b"<close>");
    for (client, _) in clients {
        drop(client.release().unwrap());
    }
    drop(server.release().unwrap());
    drop(server);
    runtime::shutdown().unwrap();
    assert_eq!(
        sack_tcp::socket::wait_live_count(0, Duration::from_secs(10)),
        0
    );
}
