//! The tokio + tokio-rustls echo server of the benchmark: what a Rust user
//! would write instead of using sack_tcp. A multi-thread tokio runtime (one
//! worker per CPU unless `--threads` says otherwise, as sack_tcp's
//! default), an accept loop spawning one task per connection, each task
//! reading up to 64 KiB into its own buffer and echoing it with `write_all`
//! and `flush` (tokio-rustls needs the flush to send what it buffered).
//! TLS is rustls with the aws-lc-rs provider (sack_tcp's crypto), TLS 1.3
//! and 1.2, rustls' default suites and session handling (stateful tickets
//! with its in-memory cache, as sack_tcp gets). Without `--tls` it is a
//! plain tokio echo server. TCP_NODELAY on every connection, backlog 4096.
//!
//!   tokio-rustls-echo [--port N] [--tls --cert FILE --key FILE] [--threads N]
//!
//! Prints "listening on PORT"; SIGTERM ends it (default action). It dies
//! with its parent (`PR_SET_PDEATHSIG`) unless BENCH_NO_PDEATHSIG is set,
//! like the C servers. SIGPIPE goes back to its default action (Rust's
//! runtime sets it to ignored before `main`): a server that relies on
//! ignoring it would die here, and this one writes only with std's
//! `send(MSG_NOSIGNAL)`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::aws_lc_rs;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsAcceptor;

const READ_SIZE: usize = 64 * 1024;

struct Options {
    port: u16,
    tls: bool,
    cert: Option<String>,
    key: Option<String>,
    threads: usize,
}

fn usage() -> ! {
    eprintln!("usage: tokio-rustls-echo [--port N] [--tls --cert FILE --key FILE] [--threads N]");
    std::process::exit(2)
}

fn parse() -> Options {
    let mut o = Options {
        port: 0,
        tls: false,
        cert: None,
        key: None,
        threads: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--tls" {
            o.tls = true;
            continue;
        }
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--port" => o.port = value.parse().unwrap_or_else(|_| usage()),
            "--cert" => o.cert = Some(value),
            "--key" => o.key = Some(value),
            "--threads" => o.threads = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.tls && (o.cert.is_none() || o.key.is_none()) {
        eprintln!("--tls needs --cert and --key");
        std::process::exit(2);
    }
    o
}

/// Dies with the run script, and lifts the descriptor limit to the hard
/// limit (10,000 idle connections need it), as bench/servers/common.h does;
/// SIGPIPE back to its default action.
fn process_setup() {
    // SAFETY: plain system calls with valid arguments, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if std::env::var_os("BENCH_NO_PDEATHSIG").is_none() {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

fn tls_acceptor(cert: &str, key: &str) -> TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect())
        .unwrap_or_else(|e| fail(&format!("{cert}: {e}")));
    let key = PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| fail(&format!("{key}: {e}")));
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap_or_else(|e| fail(&format!("TLS versions: {e}")))
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| fail(&format!("certificate: {e}")));
    TlsAcceptor::from(Arc::new(config))
}

fn fail(what: &str) -> ! {
    eprintln!("tokio-rustls-echo: {what}");
    std::process::exit(1)
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

async fn serve(o: Options, acceptor: Option<TlsAcceptor>) {
    let socket = TcpSocket::new_v4().unwrap_or_else(|e| fail(&format!("socket: {e}")));
    socket
        .set_reuseaddr(true)
        .unwrap_or_else(|e| fail(&format!("SO_REUSEADDR: {e}")));
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, o.port)))
        .unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let listener = socket
        .listen(4096)
        .unwrap_or_else(|e| fail(&format!("listen: {e}")));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("listening on {port}");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors or a connection reset before accept:
                // wait a little rather than spin.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match &acceptor {
            Some(acceptor) => {
                let accept = acceptor.accept(stream);
                tokio::spawn(async move {
                    if let Ok(tls) = accept.await {
                        echo(tls).await;
                    }
                });
            }
            None => {
                tokio::spawn(echo(stream));
            }
        }
    }
}

fn main() {
    let o = parse();
    process_setup();
    let acceptor = match (o.tls, &o.cert, &o.key) {
        (true, Some(cert), Some(key)) => Some(tls_acceptor(cert, key)),
        _ => None,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if o.threads > 0 {
        builder.worker_threads(o.threads);
    }
    let runtime = builder
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    runtime.block_on(serve(o, acceptor));
}
