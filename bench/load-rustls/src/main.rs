//! The TLS load client for bench/run on rustls: the OpenSSL 3.0 client in
//! bench/load/load.c spends more CPU per handshake (about 490 µs) than the
//! servers it measures, so on two shared CPUs it, not the server, set the
//! pace. This one does the same work per connection on one thread, with
//! the same output, at a fraction of the cost: a full TLS 1.3 handshake
//! with X25519 only (what OpenSSL 3.0 offers, so every server does the same
//! key exchange), no resumption, the server's certificate not checked
//! (like `SSL_VERIFY_NONE`) but its handshake signature verified.
//!
//!   load-rustls connrate --port P --conns N --size B --duration S --pid PID
//!   load-rustls bulk     --port P --conns 1 --duration S --pid PID [--window B] [--chunk B]

use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The byte at stream offset k is k % 251, as in load.c.
const PATTERN_PERIOD: usize = 251;

struct Options {
    mode: String,
    port: u16,
    conns: usize,
    size: usize,
    duration: f64,
    pid: u32,
    window: u64,
    chunk: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: load-rustls connrate|bulk --port P [--tls] [--conns N] [--size B] \
         [--duration S] [--pid PID] [--window B] [--chunk B]"
    );
    std::process::exit(2)
}

fn parse() -> Options {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    let mut o = Options {
        mode,
        port: 0,
        conns: 1,
        size: 64,
        duration: 2.0,
        pid: 0,
        window: 256 * 1024,
        chunk: 16 * 1024,
    };
    while let Some(flag) = args.next() {
        if flag == "--tls" {
            continue; // always TLS; accepted so load.c's arguments work as they are
        }
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--port" => o.port = number(&value),
            "--conns" => o.conns = number(&value),
            "--size" => o.size = number(&value),
            "--duration" => o.duration = number(&value),
            "--pid" => o.pid = number(&value),
            "--window" => o.window = number(&value),
            "--chunk" => o.chunk = number(&value),
            _ => usage(),
        }
    }
    if o.port == 0 || o.conns == 0 {
        usage();
    }
    o
}

fn number<T: std::str::FromStr>(value: &str) -> T {
    value.parse().unwrap_or_else(|_| usage())
}

/// utime + stime of a process (all threads) in seconds, from /proc.
fn proc_cpu_s(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    // After ')': field 3 is the state; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(14) + ticks(15)) as f64 / 100.0
}

fn server_cpu(o: &Options) -> f64 {
    if o.pid == 0 {
        0.0
    } else {
        proc_cpu_s(&o.pid.to_string())
    }
}

fn self_cpu() -> f64 {
    proc_cpu_s("self")
}

fn fail(what: &str, detail: impl std::fmt::Display) -> ! {
    eprintln!("load-rustls: {what}: {detail}");
    println!("error={what}");
    std::process::exit(1)
}

/// Accepts any certificate, as `SSL_VERIFY_NONE` does, but checks the
/// handshake signature with it, as OpenSSL also still does.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn connector() -> TlsConnector {
    let mut provider = aws_lc_rs::default_provider();
    provider.kx_groups = vec![aws_lc_rs::kx_group::X25519];
    let provider = Arc::new(provider);
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail("tls config", e))
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(o: &Options, tls: &TlsConnector) -> std::io::Result<Tls> {
    let stream = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, o.port))).await?;
    stream.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").expect("a valid name");
    tls.connect(name, stream).await
}

fn tls_info(stream: &Tls) -> String {
    let (_, conn) = stream.get_ref();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS?",
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    format!("{version}/{suite}")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..PATTERN_PERIOD + len)
        .map(|i| (i % PATTERN_PERIOD) as u8)
        .collect()
}

/// Connect, full handshake, echo `size` bytes, close; `conns` at once.
async fn connrate(o: Rc<Options>) {
    let tls = connector();
    let pattern = Rc::new(pattern(o.size));
    let done = Rc::new(Cell::new(0u64));
    let failed = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    let info = Rc::new(std::cell::RefCell::new(String::new()));
    let mut slots = Vec::new();
    for _ in 0..o.conns {
        let (o, tls, pattern) = (o.clone(), tls.clone(), pattern.clone());
        let (done, failed, stop, info) = (done.clone(), failed.clone(), stop.clone(), info.clone());
        slots.push(tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; o.size];
            while !stop.get() {
                let cycle = async {
                    let mut s = connect(&o, &tls).await?;
                    if info.borrow().is_empty() {
                        *info.borrow_mut() = tls_info(&s);
                    }
                    s.write_all(&pattern[..o.size]).await?;
                    s.read_exact(&mut buf).await?;
                    Ok::<_, std::io::Error>(())
                };
                match cycle.await {
                    Ok(()) if buf[..] == pattern[..o.size] => done.set(done.get() + 1),
                    Ok(()) => fail("echo mismatch", "the echo differs from what was sent"),
                    Err(e) => {
                        failed.set(failed.get() + 1);
                        if failed.get() > 100 && failed.get() > done.get() {
                            fail("too many failed connections", e);
                        }
                    }
                }
            }
        }));
    }
    let warm = (o.duration * 0.1).min(0.3);
    tokio::time::sleep(Duration::from_secs_f64(warm)).await;
    let (cpu0, self0, done0, t0) = (server_cpu(&o), self_cpu(), done.get(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(o.duration)).await;
    let (cpu1, self1, done1) = (server_cpu(&o), self_cpu(), done.get());
    let elapsed = t0.elapsed().as_secs_f64();
    stop.set(true);
    for slot in slots {
        let _ = slot.await;
    }
    let counted = done1 - done0;
    let cpu = cpu1 - cpu0;
    println!(
        "conns_per_s={:.1} server_cpu_us_per_conn={:.2} server_cpu_util={:.3} \
         client_cpu_util={:.3} completed={} failed={} slots={} tls={} client=rustls",
        counted as f64 / elapsed,
        if counted > 0 {
            cpu * 1e6 / counted as f64
        } else {
            0.0
        },
        cpu / elapsed,
        (self1 - self0) / elapsed,
        counted,
        failed.get(),
        o.conns,
        info.borrow(),
    );
}

/// Echo as fast as the server takes it, at most `window` bytes in flight.
/// rustls is driven by hand over one non-blocking socket, as the sack_tcp
/// server drives it: 64 KiB reads fed to rustls in one go and its records
/// written with one vectored write, rather than tokio-rustls' 4 KiB reads.
async fn bulk(o: Rc<Options>) {
    if o.conns != 1 {
        fail("bulk", "load-rustls drives one bulk connection");
    }
    let tls = connector();
    let stream = connect(&o, &tls)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    let info = tls_info(&stream);
    let (socket, mut conn) = stream.into_inner();
    // The window bounds what is in flight; rustls need not bound it again.
    conn.set_buffer_limit(None);
    let pattern = pattern(o.chunk);
    let (mut sent, mut recvd) = (0u64, 0u64);
    let mut buf = vec![0u8; 65536];
    let mut plain = vec![0u8; 65536];
    let warm = (o.duration * 0.15).min(0.5);
    let start = Instant::now();
    let t_measure = start + Duration::from_secs_f64(warm);
    let t_end = t_measure + Duration::from_secs_f64(o.duration);
    let mut mark: Option<(f64, f64, u64, Instant)> = None;
    loop {
        let now = Instant::now();
        if mark.is_none() && now >= t_measure {
            mark = Some((server_cpu(&o), self_cpu(), recvd, now));
        }
        if now >= t_end {
            break;
        }
        // Encrypt up to the window, then write what rustls holds.
        while sent - recvd < o.window {
            let n = (o.window - (sent - recvd)).min(o.chunk as u64) as usize;
            let at = (sent % PATTERN_PERIOD as u64) as usize;
            std::io::Write::write_all(&mut conn.writer(), &pattern[at..at + n])
                .unwrap_or_else(|e| fail("bulk write", e));
            sent += n as u64;
        }
        let mut writer = SocketWriter(&socket);
        while conn.wants_write() {
            match conn.write_tls(&mut writer) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => fail("bulk write", e),
            }
        }
        let interest = if conn.wants_write() {
            tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE
        } else {
            tokio::io::Interest::READABLE
        };
        let ready = tokio::time::timeout(Duration::from_secs(5), socket.ready(interest))
            .await
            .unwrap_or_else(|_| fail("bulk stalled", "no progress for 5 s"))
            .unwrap_or_else(|e| fail("bulk wait", e));
        if !ready.is_readable() && !ready.is_read_closed() {
            continue;
        }
        let n = match socket.try_read(&mut buf) {
            Ok(0) => fail("bulk read", "the server closed"),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => fail("bulk read", e),
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            conn.read_tls(&mut rest)
                .unwrap_or_else(|e| fail("bulk read", e));
            conn.process_new_packets()
                .unwrap_or_else(|e| fail("bulk tls", e));
            loop {
                match std::io::Read::read(&mut conn.reader(), &mut plain) {
                    Ok(0) => fail("bulk read", "the server ended TLS"),
                    Ok(k) => {
                        if !matches_pattern(&pattern, o.chunk, recvd, &plain[..k]) {
                            fail("bulk echo mismatch", "the echo differs from what was sent");
                        }
                        recvd += k as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => fail("bulk read", e),
                }
            }
        }
    }
    let (cpu0, self0, bytes0, t0) = mark.unwrap_or_else(|| fail("bulk", "never measured"));
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, self1) = (server_cpu(&o), self_cpu());
    let mb = (recvd - bytes0) as f64 / 1e6;
    let cpu = cpu1 - cpu0;
    println!(
        "mb_per_s={:.2} server_cpu_ms_per_mb={:.4} server_cpu_util={:.3} client_cpu_util={:.3} \
         conns=1 tls={} client=rustls",
        mb / elapsed,
        if mb > 0.0 { cpu * 1e3 / mb } else { 0.0 },
        cpu / elapsed,
        (self1 - self0) / elapsed,
        info,
    );
}

/// Whether `data`, found at stream offset `at`, is the pattern; compared in
/// pieces of at most `chunk` bytes (the pattern holds a period more).
fn matches_pattern(pattern: &[u8], chunk: usize, at: u64, data: &[u8]) -> bool {
    data.chunks(chunk).enumerate().all(|(i, piece)| {
        let start = ((at + (i * chunk) as u64) % PATTERN_PERIOD as u64) as usize;
        piece == &pattern[start..start + piece.len()]
    })
}

/// rustls' records to the socket without blocking.
struct SocketWriter<'a>(&'a TcpStream);

impl std::io::Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let o = Rc::new(parse());
    // One thread, like load.c's one epoll loop.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    let local = tokio::task::LocalSet::new();
    // A hung server must not hang the benchmark.
    let limit = Duration::from_secs_f64(o.duration + 60.0);
    let work = async {
        match o.mode.as_str() {
            "connrate" => connrate(o.clone()).await,
            "bulk" => bulk(o.clone()).await,
            _ => usage(),
        }
    };
    let finished = local.block_on(&rt, async { tokio::time::timeout(limit, work).await });
    if finished.is_err() {
        println!("error=deadline");
        std::process::exit(3);
    }
}
