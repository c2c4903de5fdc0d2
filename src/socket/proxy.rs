//! The PROXY protocol (HAProxy's, versions 1 and 2) on listeners: a load
//! balancer in front sends one header before the client's bytes, naming
//! the real client. The header is read exactly (never a byte of what
//! follows, which belongs to TLS or to the host), however many reads it
//! takes to arrive, within a deadline.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::stream::Stream;

use crate::error::{Code, Error, Result};

/// Version 2's signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's longest header, CRLF included.
const V1_MAX: usize = 107;

fn bad(what: impl std::fmt::Display) -> Error {
    Error::new(Code::ProxyHeader, format!("PROXY protocol: {what}"))
}

/// Reads exactly `buf.len()` bytes.
async fn read_exact(stream: &Stream, buf: &mut [u8]) -> Result<()> {
    let mut at = 0;
    while at < buf.len() {
        stream
            .readable()
            .await
            .map_err(|e| Error::from_io("waiting for the PROXY header", &e))?;
        match stream.try_read(&mut buf[at..]) {
            Ok(0) => {
                return Err(bad(format_args!(
                    "the connection ended after {at} bytes of the header"
                )))
            }
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io("reading the PROXY header", &e)),
        }
    }
    Ok(())
}

/// Reads one header within `timeout`; returns the client's address it
/// names (`None`: a LOCAL or UNKNOWN header, e.g. a health check, for
/// which the connection's own addresses stand).
pub(crate) async fn read_header(stream: &Stream, timeout: Duration) -> Result<Option<SocketAddr>> {
    match tokio::time::timeout(timeout, read_header_now(stream)).await {
        Ok(result) => result,
        Err(_) => Err(Error::new(
            Code::TimedOut,
            format!("PROXY protocol: no complete header within {timeout:?}"),
        )),
    }
}

async fn read_header_now(stream: &Stream) -> Result<Option<SocketAddr>> {
    let mut head = [0u8; 16];
    read_exact(stream, &mut head[..6]).await?;
    if &head[..6] == b"PROXY " {
        let mut line = head[..6].to_vec();
        // Byte by byte: the header's end is only known at its CRLF, and
        // nothing after it may be consumed.
        while !line.ends_with(b"\r\n") {
            if line.len() == V1_MAX {
                return Err(bad("a version 1 header longer than 107 bytes"));
            }
            let mut byte = [0u8; 1];
            read_exact(stream, &mut byte).await?;
            line.push(byte[0]);
        }
        return parse_v1(&line);
    }
    if head[..6] != V2_SIGNATURE[..6] {
        return Err(bad("no header (the connection does not start with one)"));
    }
    read_exact(stream, &mut head[6..16]).await?;
    let len = u16::from_be_bytes([head[14], head[15]]) as usize;
    let mut rest = vec![0u8; len];
    read_exact(stream, &mut rest).await?;
    parse_v2(&head, &rest)
}

/// A version 1 line, CRLF included.
pub fn parse_v1(line: &[u8]) -> Result<Option<SocketAddr>> {
    let text = std::str::from_utf8(line)
        .ok()
        .and_then(|t| t.strip_suffix("\r\n"))
        .ok_or_else(|| bad("a version 1 header that is not ASCII text ending in CRLF"))?;
    let parts: Vec<&str> = text.split(' ').collect();
    match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", family @ ("TCP4" | "TCP6"), src, _dst, src_port, _dst_port] => {
            let ip: IpAddr = src
                .parse()
                .map_err(|_| bad(format_args!("bad source address {src:?}")))?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(bad(format_args!("{src} is not a {family} address")));
            }
            let port: u16 = src_port
                .parse()
                .map_err(|_| bad(format_args!("bad source port {src_port:?}")))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        _ => Err(bad(format_args!("malformed version 1 header {text:?}"))),
    }
}

/// A version 2 header: its 16 bytes and the `len` bytes after them.
pub fn parse_v2(head: &[u8; 16], rest: &[u8]) -> Result<Option<SocketAddr>> {
    if head[..12] != V2_SIGNATURE {
        return Err(bad("a version 2 header with a bad signature"));
    }
    let (version, command) = (head[12] >> 4, head[12] & 0x0f);
    if version != 2 {
        return Err(bad(format_args!("version {version} (2 expected)")));
    }
    match command {
        0 => return Ok(None), // LOCAL: the proxy's own connection
        1 => {}
        other => return Err(bad(format_args!("unknown command {other}"))),
    }
    let port = |at: usize| u16::from_be_bytes([rest[at], rest[at + 1]]);
    match head[13] {
        0x11 if rest.len() >= 12 => {
            let ip = Ipv4Addr::new(rest[0], rest[1], rest[2], rest[3]);
            Ok(Some(SocketAddr::new(ip.into(), port(8))))
        }
        0x21 if rest.len() >= 36 => {
            let octets: [u8; 16] = rest[..16].try_into().expect("16 bytes");
            Ok(Some(SocketAddr::new(
                Ipv6Addr::from(octets).into(),
                port(32),
            )))
        }
        0x11 | 0x21 => Err(bad("a version 2 address block too short for its family")),
        0x00 => Ok(None), // UNSPEC
        other => Err(bad(format_args!(
            "unsupported address family/protocol 0x{other:02x} (TCP over IPv4 or IPv6 only)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_headers() {
        let a = parse_v1(b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n").unwrap();
        assert_eq!(a, Some("192.0.2.7:56324".parse().unwrap()));
        let a = parse_v1(b"PROXY TCP6 2001:db8::7 2001:db8::1 1000 443\r\n").unwrap();
        assert_eq!(a, Some("[2001:db8::7]:1000".parse().unwrap()));
        assert_eq!(parse_v1(b"PROXY UNKNOWN\r\n").unwrap(), None);
        for bad in [
            &b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n"[..],
            b"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 70000 443\r\n",
            b"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
        ] {
            let e = parse_v1(bad).unwrap_err();
            assert_eq!(e.code(), Code::ProxyHeader, "{e}");
        }
    }

    #[test]
    fn version_2_headers() {
        let mut head = [0u8; 16];
        head[..12].copy_from_slice(&V2_SIGNATURE);
        head[12] = 0x21;
        head[13] = 0x11;
        head[15] = 12;
        let rest = [192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb];
        assert_eq!(
            parse_v2(&head, &rest).unwrap(),
            Some("192.0.2.7:56324".parse().unwrap())
        );
        head[12] = 0x20; // LOCAL
        assert_eq!(parse_v2(&head, &rest).unwrap(), None);
        head[12] = 0x31; // version 3
        assert_eq!(
            parse_v2(&head, &rest).unwrap_err().code(),
            Code::ProxyHeader
        );
        head[12] = 0x21;
        assert_eq!(
            parse_v2(&head, &rest[..8]).unwrap_err().code(),
            Code::ProxyHeader
        );
    }
}
