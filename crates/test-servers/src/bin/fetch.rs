//! `fetch`: an MCP server that calls an HTTPS API the way a sealed toolpack server does: through
//! `HTTPS_PROXY` (CONNECT), trusting `SSL_CERT_FILE`, with `Authorization: Bearer` set to the
//! placeholder in `GIG_CREDENTIAL_API_KEY` (or to `$API_KEY` for an entrusted install).
//!
//! Tools: `fetch{url}` → `<status line>\n<body>`; `fetch_direct{url}`, the same ignoring
//! `HTTPS_PROXY` (the C library resolves the name); `resolve{name}` → `rcode=<n> <addr>...` from
//! the resolver in `/etc/resolv.conf` over TCP; and `env` → its environment, one `K=V` a line.
#![forbid(unsafe_code)]

use gigmcp_test_servers::{Tool, serve};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// `(host, port, path)` of an `https://` URL.
fn parse_url(args: &Value) -> Result<(String, String, String), String> {
    let url = args
        .get("url")
        .and_then(Value::as_str)
        .ok_or("argument `url` is required")?;
    let rest = url.strip_prefix("https://").ok_or("only https:// URLs")?;
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let (host, port) = authority
        .split_once(':')
        .map(|(h, p)| (h, p.to_string()))
        .unwrap_or((authority, "443".into()));
    Ok((host.to_string(), port, path))
}

/// Through `HTTPS_PROXY`, as proxy-aware clients do.
fn fetch(args: &Value) -> Result<String, String> {
    let (host, port, path) = parse_url(args)?;
    let proxy = std::env::var("HTTPS_PROXY").map_err(|_| "HTTPS_PROXY is not set")?;
    let proxy = proxy.trim_start_matches("http://").trim_end_matches('/');
    let mut tcp =
        TcpStream::connect(proxy).map_err(|e| format!("connect to proxy {proxy}: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        tcp,
        "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => {
                return Err(format!(
                    "proxy closed during CONNECT: {}",
                    String::from_utf8_lossy(&head)
                ));
            }
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return Ok(head.lines().next().unwrap_or_default().to_string());
    }
    https_get(tcp, &host, &path)
}

/// Straight to the name, ignoring `HTTPS_PROXY`, as Node's built-in fetch does: the C
/// library's resolver (`/etc/resolv.conf`), then TLS to the address it returned.
fn fetch_direct(args: &Value) -> Result<String, String> {
    let (host, port, path) = parse_url(args)?;
    let addrs: Vec<_> = format!("{host}:{port}")
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .collect();
    let addr = addrs.first().ok_or(format!("{host} has no address"))?;
    let tcp = TcpStream::connect_timeout(addr, Duration::from_secs(10))
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    https_get(tcp, &host, &path)
}

/// One A query over TCP to the first `nameserver` of `/etc/resolv.conf`:
/// `rcode=<n> <address>...`.
fn resolve(args: &Value) -> Result<String, String> {
    let name = args
        .get("name")
        .and_then(Value::as_str)
        .ok_or("argument `name` is required")?;
    let conf = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| e.to_string())?;
    let server = conf
        .lines()
        .find_map(|l| l.strip_prefix("nameserver "))
        .ok_or("no nameserver in /etc/resolv.conf")?
        .trim();
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut tcp = TcpStream::connect((server, 53)).map_err(|e| format!("{server}:53: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    tcp.write_all(&(q.len() as u16).to_be_bytes())
        .and_then(|()| tcp.write_all(&q))
        .map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut resp = vec![0u8; u16::from_be_bytes(len).into()];
    tcp.read_exact(&mut resp).map_err(|e| e.to_string())?;
    if resp.len() < 12 {
        return Err("short DNS answer".into());
    }
    let rcode = resp[3] & 0x0f;
    // answers are A records after the echoed question; their last 4 bytes are the address
    let answers = u16::from_be_bytes([resp[6], resp[7]]) as usize;
    let mut out = format!("rcode={rcode}");
    let mut at = q.len();
    for _ in 0..answers {
        let rdlen_at = at + 10;
        let Some(rd) = resp.get(rdlen_at..rdlen_at + 2) else {
            break;
        };
        let rdlen = u16::from_be_bytes([rd[0], rd[1]]) as usize;
        if let Some(ip) = resp.get(rdlen_at + 2..rdlen_at + 2 + rdlen)
            && rdlen == 4
        {
            out.push_str(&format!(" {}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]));
        }
        at = rdlen_at + 2 + rdlen;
    }
    Ok(out)
}

/// A GET over TLS on `tcp` (trusting `SSL_CERT_FILE`) with the API credential.
fn https_get(tcp: TcpStream, host: &str, path: &str) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    let ca_file = std::env::var("SSL_CERT_FILE").map_err(|_| "SSL_CERT_FILE is not set")?;
    let pem = std::fs::read(&ca_file).map_err(|e| format!("{ca_file}: {e}"))?;
    for cert in
        <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(
            &pem,
        )
    {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let token = std::env::var("GIG_CREDENTIAL_API_KEY")
        .or_else(|_| std::env::var("API_KEY"))
        .unwrap_or_default();
    write!(tls, "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("TLS: {e}"))?;
    let mut out = Vec::new();
    if let Err(e) = tls.read_to_end(&mut out)
        && out.is_empty()
    {
        return Err(format!("reading the response: {e}"));
    }
    let text = String::from_utf8_lossy(&out);
    let status = text.lines().next().unwrap_or_default();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    Ok(format!("{status}\n{body}"))
}

fn env(_: &Value) -> Result<String, String> {
    Ok(std::env::vars()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn main() {
    serve(
        "fetch",
        &[
            Tool {
                name: "fetch",
                description: "GET an https:// URL through the egress proxy with the API credential.",
                input_schema: json!({"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}),
                run: fetch,
            },
            Tool {
                name: "fetch_direct",
                description: "GET an https:// URL directly (resolver + TLS), ignoring HTTPS_PROXY.",
                input_schema: json!({"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}),
                run: fetch_direct,
            },
            Tool {
                name: "resolve",
                description: "Ask the resolver in /etc/resolv.conf for a name's A records.",
                input_schema: json!({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}),
                run: resolve,
            },
            Tool {
                name: "env",
                description: "The server's environment.",
                input_schema: json!({"type":"object","properties":{}}),
                run: env,
            },
        ],
    );
}
