//! Listening sockets: bind every address the `address` option resolves to,
//! accept on all of them from one task (so the listener's callbacks stay
//! sequential), and stop them all on close.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::net::{self, BindFlags};
use super::{conn, finish, lock, Connection, Phase, Role, Socket};
use crate::address::{self, Family};
use crate::error::{Error, Result};
use crate::events::{self, Event, Handler};
use crate::options::{ConnSettings, ServerPlan};
use crate::runtime::{self, RuntimeRef, ShutdownSignal};

/// After an accept error such as EMFILE, wait this long before retrying
/// instead of spinning on a listener that stays readable.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) struct Listener {
    addrs: Vec<SocketAddr>,
    close_requested: Mutex<bool>,
    wake: Notify,
    conn_settings: ConnSettings,
}

impl Listener {
    pub(super) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub(super) fn request_close(&self) {
        *lock(&self.close_requested) = true;
        self.wake.notify_one();
    }
}

pub(super) fn open(
    rt: &RuntimeRef,
    plan: ServerPlan,
    handler: Arc<dyn Handler>,
    read_strings: bool,
) -> Result<Arc<Socket>> {
    let listeners = {
        // Registering with tokio's reactor needs the runtime's context.
        let _enter = rt.handle().enter();
        bind_all(&plan)?
    };
    let addrs = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::from_io("reading the bound address", &e))?;
    let socket = Socket::new(
        handler,
        read_strings,
        Role::Listener(Listener {
            addrs,
            close_requested: Mutex::new(false),
            wake: Notify::new(),
            conn_settings: plan.conn,
        }),
    );
    let task_socket = socket.clone();
    let panic_socket = socket.clone();
    let task_rt = rt.clone();
    runtime::spawn_socket_task(
        rt,
        move |shutdown| accept_loop(task_socket, listeners, task_rt, shutdown),
        move || super::finish_after_panic(&panic_socket),
    );
    Ok(socket)
}

fn bind_all(plan: &ServerPlan) -> Result<Vec<TcpListener>> {
    let addrs = address::resolve_bind(plan.bind.as_ref(), plan.port, plan.family)?;
    let flags = BindFlags {
        reuse_address: plan.reuse_address,
        reuse_port: plan.reuse_port,
        v6_only: plan.family == Family::V6,
    };
    let mut listeners = Vec::with_capacity(addrs.len());
    // With port 0 and several addresses ("localhost" → 127.0.0.1 and ::1),
    // the first bind picks the port and the others share it.
    let mut chosen_port = None;
    for mut addr in addrs {
        if addr.port() == 0 {
            if let Some(port) = chosen_port {
                addr.set_port(port);
            }
        }
        let listener = bind_one(addr, &flags, plan.backlog)?;
        chosen_port.get_or_insert(
            listener
                .local_addr()
                .map_err(|e| Error::from_io("reading the bound address", &e))?
                .port(),
        );
        listeners.push(listener);
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr, flags: &BindFlags, backlog: u32) -> Result<TcpListener> {
    let context = |what: &str| format!("{what} {addr}");
    let socket =
        net::new_socket(&addr, flags).map_err(|e| Error::from_io(&context("socket for"), &e))?;
    socket
        .bind(&addr.into())
        .map_err(|e| Error::from_io(&context("bind"), &e))?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket
        .listen(backlog)
        .map_err(|e| Error::from_io(&context("listen on"), &e))?;
    TcpListener::from_std(socket.into()).map_err(|e| Error::from_io(&context("register"), &e))
}

async fn accept_loop(
    socket: Arc<Socket>,
    listeners: Vec<TcpListener>,
    rt: RuntimeRef,
    mut shutdown: ShutdownSignal,
) {
    let Role::Listener(listener) = &socket.role else {
        unreachable!("accept loop on a connection")
    };
    let mut next = 0usize;
    loop {
        if *lock(&listener.close_requested) {
            break;
        }
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = listener.wake.notified() => continue,
            accepted = accept_any(&listeners, &mut next) => match accepted {
                Ok((stream, peer)) => accept_one(&socket, listener, stream, peer, &rt),
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    let error = Error::from_io("accept", &e);
                    events::emit(&socket, Event::Error { error: &error, data: &[] });
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
    }
    // Closes every listening descriptor before the user hears `close`.
    drop(listeners);
    finish(&socket, None);
}

/// Accepts from whichever listener is ready, starting the scan at a
/// rotating index so one busy address cannot starve the others.
async fn accept_any(
    listeners: &[TcpListener],
    next: &mut usize,
) -> io::Result<(TcpStream, SocketAddr)> {
    poll_fn(|cx| {
        let count = listeners.len();
        for i in 0..count {
            let index = (*next + i) % count;
            if let Poll::Ready(result) = listeners[index].poll_accept(cx) {
                *next = (index + 1) % count;
                return Poll::Ready(result);
            }
        }
        Poll::Pending
    })
    .await
}

/// Errors that concern one failed handshake, not the listener.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn accept_one(
    server: &Arc<Socket>,
    listener: &Listener,
    stream: TcpStream,
    peer: SocketAddr,
    rt: &RuntimeRef,
) {
    let settings = listener.conn_settings;
    if let Err(e) = net::configure_stream(&stream, &settings) {
        let error = Error::from_io("configuring an accepted connection", &e);
        events::emit(
            server,
            Event::Error {
                error: &error,
                data: &[],
            },
        );
        return;
    }
    let stream = Arc::new(stream);
    let connection = Connection::new(Phase::Open, settings);
    {
        let mut st = connection.lock();
        st.local = stream.local_addr().ok();
        st.peer = Some(peer);
        st.stream = Some(stream.clone());
    }
    let conn_socket = Socket::new(
        server.handler().for_accepted(),
        server.read_strings(),
        Role::Connection(connection),
    );
    // Raised on the new connection with the listener's callbacks copied in,
    // on the listener's task: the connection's own task does not exist yet,
    // so nothing else can run for it concurrently.
    events::emit(&conn_socket, Event::Connect(Ok(())));
    let task_socket = conn_socket.clone();
    let panic_socket = conn_socket;
    runtime::spawn_socket_task(
        rt,
        move |shutdown| async move {
            if !task_socket.gate().messages_stopped() {
                events::emit(&task_socket, Event::Ready);
            }
            conn::run(task_socket, stream, shutdown).await;
        },
        move || super::finish_after_panic(&panic_socket),
    );
}
