//! The explicit `CONNECT` entry point: a strict, hand-parsed request head.
//!
//! Contract, in order: identify and admit the caller ([`crate::admit`]); read the head within
//! `header_timeout` and at most `max_header_bytes` (408, 431); parse `CONNECT host:port` and
//! nothing else (405 for another method, 400 for anything malformed); check the port and vet the
//! host ([`crate::vet`]); connect upstream ([`Tunnel::open`]). Only then `200 Connection
//! Established`; then the ClientHello, whose SNI must be the CONNECT host, and the tunnel
//! ([`Tunnel::serve_tls`]). Every refusal is audited; before the `200` it is answered with its
//! HTTP status, after it the connection is closed. The whole connection lives at most
//! `total_timeout`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::admit::{admit, identify};
use crate::audit::{DenyReason, Entry};
use crate::client_tls::read_client_hello;
use crate::identity::Registration;
use crate::limits::ConnPermit;
use crate::response::status_for;
use crate::state::{Refusal, Shared};
use crate::tunnel::Tunnel;
use crate::vet::{Vetter, check_host, check_port};

/// Parsed `CONNECT host:port`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ConnectTarget {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Why a head could not be read.
#[derive(Debug)]
enum HeadError {
    TooLarge,
    Closed,
    Io(std::io::Error),
}

/// Reads up to and including the blank line, refusing heads over `max` bytes. Bytes after the
/// head stay buffered in `reader`.
async fn read_head(reader: &mut BufReader<TcpStream>, max: usize) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(512);
    loop {
        let buf = reader.fill_buf().await.map_err(HeadError::Io)?;
        if buf.is_empty() {
            return Err(HeadError::Closed);
        }
        let room = max - head.len();
        let chunk = &buf[..buf.len().min(room)];
        let old = head.len();
        head.extend_from_slice(chunk);
        let from = old.saturating_sub(3);
        if let Some(p) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + p + 4;
            reader.consume(end - old);
            head.truncate(end);
            return Ok(head);
        }
        let used = chunk.len();
        reader.consume(used);
        if head.len() >= max {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Parses a request head that must be `CONNECT host:port HTTP/1.x`.
pub(crate) fn parse_connect(head: &[u8]) -> Result<ConnectTarget, DenyReason> {
    let malformed = |m: &str| DenyReason::Malformed(m.to_owned());
    let text = std::str::from_utf8(head).map_err(|_| malformed("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("request line is not `METHOD TARGET VERSION`"));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(malformed("not an HTTP/1.x request"));
    }
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() {
        return Err(malformed("invalid method"));
    }
    for line in lines.take_while(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some((name, _)) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) => {}
            _ => return Err(malformed("invalid header line")),
        }
    }
    if method != "CONNECT" {
        return Err(DenyReason::NotConnect(method.to_owned()));
    }
    if target.starts_with('[') {
        return Err(DenyReason::IpLiteral(target.to_owned()));
    }
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| malformed("CONNECT target must be host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| malformed("CONNECT target has an invalid port"))?;
    let host = check_host(host)?;
    Ok(ConnectTarget { host, port })
}

async fn respond(stream: &mut BufReader<TcpStream>, status: http::StatusCode, reason: &str) {
    let body = format!("gigmcp egress proxy: {reason}\n");
    let msg = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = stream.get_mut().write_all(msg.as_bytes()).await;
    let _ = stream.get_mut().shutdown().await;
}

/// Handles one client connection on the explicit proxy.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _local: SocketAddr,
) {
    let total = shared.config.limits.total_timeout;
    let _ = timeout(total, handle_inner(shared, stream, peer)).await;
}

async fn handle_inner(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let opened = Instant::now();
    let peer_ip = peer.ip().to_canonical();
    let mut stream = BufReader::new(stream);
    let resolved = identify(&shared, peer_ip);
    let mut host = String::new();
    let (tunnel, permit) =
        match open(&shared, resolved.as_ref(), &mut stream, peer_ip, &mut host).await {
            Ok(t) => t,
            Err(reason) => {
                let status = status_for(&reason);
                let text = reason.to_string();
                shared.deny(
                    Refusal {
                        entry: Entry::Connect,
                        peer: peer_ip,
                        identity: resolved.as_ref().map(|r| &*r.identity),
                        host: &host,
                        method: "CONNECT",
                        path: "",
                        status: Some(status.as_u16()),
                        duration: opened.elapsed(),
                    },
                    reason,
                );
                respond(&mut stream, status, &text).await;
                return;
            }
        };
    if stream
        .get_mut()
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let limit = shared.config.limits.handshake_timeout;
    let start = match read_client_hello(stream, limit).await {
        Ok(s) => s,
        Err(reason) => return tunnel.deny_tls(reason, opened),
    };
    let sni = start.client_hello().server_name().map(str::to_owned);
    match sni.as_deref().map(check_host) {
        None => return tunnel.deny_tls(DenyReason::NoSni, opened),
        Some(Ok(h)) if h == tunnel.target.host => {}
        Some(_) => {
            let sni = sni.unwrap_or_default();
            return tunnel.deny_tls(DenyReason::SniMismatch { sni }, opened);
        }
    }
    tunnel.serve_tls(start, opened).await;
    drop(permit);
}

/// Everything before `200 Connection Established`: identity, limits, head, port, vetting,
/// upstream connection. Any error here is answered with an HTTP status.
async fn open(
    shared: &Arc<Shared>,
    registration: Option<&Registration>,
    stream: &mut BufReader<TcpStream>,
    peer_ip: IpAddr,
    host: &mut String,
) -> Result<(Arc<Tunnel>, ConnPermit), DenyReason> {
    let registration = registration.ok_or(DenyReason::UnknownSource)?;
    let permit = admit(shared, peer_ip)?;
    let limits = &shared.config.limits;
    let head = match timeout(
        limits.header_timeout,
        read_head(stream, limits.max_header_bytes),
    )
    .await
    {
        Err(_) => return Err(DenyReason::HeaderTimeout),
        Ok(Err(HeadError::TooLarge)) => {
            return Err(DenyReason::HeaderTooLarge {
                limit: limits.max_header_bytes,
            });
        }
        Ok(Err(HeadError::Closed)) => {
            return Err(DenyReason::Malformed(
                "connection closed before the request head ended".into(),
            ));
        }
        Ok(Err(HeadError::Io(e))) => return Err(DenyReason::Malformed(e.to_string())),
        Ok(Ok(h)) => h,
    };
    let target = parse_connect(&head)?;
    host.clone_from(&target.host);
    check_port(&shared.config, target.port)?;
    let vetted = Vetter::new(shared)
        .vet(&registration.identity.egress, &target.host, target.port)
        .await?;
    let tunnel = Tunnel::open(
        shared,
        registration,
        Entry::Connect,
        peer_ip,
        vetted,
        target.port,
    )
    .await?;
    Ok((tunnel, permit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ConnectTarget, DenyReason> {
        parse_connect(s.as_bytes())
    }

    #[test]
    fn parses_connect() {
        let t = parse("CONNECT API.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n")
            .unwrap();
        assert_eq!(
            t,
            ConnectTarget {
                host: "api.example.com".into(),
                port: 443
            }
        );
    }

    #[test]
    fn refuses_bad_heads() {
        assert!(matches!(
            parse("GET / HTTP/1.1\r\n\r\n"),
            Err(DenyReason::NotConnect(_))
        ));
        assert!(matches!(
            parse("\x16\x03\x01garbage\r\n\r\n"),
            Err(DenyReason::Malformed(_))
        ));
        assert!(matches!(
            parse("CONNECT a.example.com HTTP/1.1\r\n\r\n"),
            Err(DenyReason::Malformed(_))
        ));
        assert!(matches!(
            parse("CONNECT a.example.com:99999 HTTP/1.1\r\n\r\n"),
            Err(DenyReason::Malformed(_))
        ));
        assert!(matches!(
            parse("CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n"),
            Err(DenyReason::IpLiteral(_))
        ));
        assert!(matches!(
            parse("CONNECT [::1]:443 HTTP/1.1\r\n\r\n"),
            Err(DenyReason::IpLiteral(_))
        ));
        assert!(matches!(
            parse("CONNECT a.example.com:443 HTTP/2\r\n\r\n"),
            Err(DenyReason::Malformed(_))
        ));
        assert!(matches!(
            parse("CONNECT a.example.com:443 HTTP/1.1\r\nbad line\r\n\r\n"),
            Err(DenyReason::Malformed(_))
        ));
    }
}
