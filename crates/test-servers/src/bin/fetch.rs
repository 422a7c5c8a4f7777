//! `fetch`: an MCP server that calls an HTTPS API the way a sealed toolpack server does: through
//! `HTTPS_PROXY` (CONNECT), trusting `SSL_CERT_FILE`, with `Authorization: Bearer` set to the
//! placeholder in `GIG_CREDENTIAL_API_KEY` (or to `$API_KEY` for an entrusted install).
//!
//! Tools: `fetch{url}` → `<status line>\n<body>`; `fetch_direct{url}`, the same ignoring
//! `HTTPS_PROXY` (the C library resolves the name); `resolve{name}` → `rcode=<n> <addr>...` from
//! the resolver in `/etc/resolv.conf` over TCP; `env` → its environment, one `K=V` a line; and
//! `exchange{host, direct?, steps}`, several keep-alive GETs over one or more tunnels, returning
//! each response's status line and headers as received, and its body.
#![forbid(unsafe_code)]

use gigmcp_test_servers::{Tool, serve};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Most steps one `exchange` runs, and most tunnels it opens.
const MAX_STEPS: usize = 64;
const MAX_TUNNELS: usize = 4;
/// Bounds on what is read back: a response head, a body.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 4 * 1024 * 1024;

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
    match connect_via_proxy(&host, &port)? {
        Ok(tcp) => https_get(tcp, &host, &path),
        Err(status_line) => Ok(status_line),
    }
}

/// A TCP connection to `host:port` through `HTTPS_PROXY` (`CONNECT`), or the proxy's status
/// line when it refused.
fn connect_via_proxy(host: &str, port: &str) -> Result<Result<TcpStream, String>, String> {
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
        return Ok(Err(head.lines().next().unwrap_or_default().to_string()));
    }
    Ok(Ok(tcp))
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

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// TLS on `tcp` toward `host`, trusting `SSL_CERT_FILE`.
fn tls_client(tcp: TcpStream, host: &str) -> Result<Tls, String> {
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
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// The API credential this server holds: the placeholder (sealed) or the key (entrusted).
fn token() -> String {
    std::env::var("GIG_CREDENTIAL_API_KEY")
        .or_else(|_| std::env::var("API_KEY"))
        .unwrap_or_default()
}

/// A GET over TLS on `tcp` (trusting `SSL_CERT_FILE`) with the API credential.
fn https_get(tcp: TcpStream, host: &str, path: &str) -> Result<String, String> {
    let mut tls = tls_client(tcp, host)?;
    let token = token();
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

/// One request of an `exchange`.
struct Step {
    path: String,
    auth: bool,
    tunnel: usize,
    defer: bool,
}

fn steps(args: &Value) -> Result<Vec<Step>, String> {
    let list = args
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("argument `steps` (an array) is required")?;
    if list.is_empty() || list.len() > MAX_STEPS {
        return Err(format!("give 1 to {MAX_STEPS} steps"));
    }
    list.iter()
        .map(|s| {
            let path = s
                .get("path")
                .and_then(Value::as_str)
                .filter(|p| p.starts_with('/') && !p.contains(char::is_whitespace))
                .ok_or("each step needs a `path` starting with `/`, without spaces")?;
            let tunnel = s.get("tunnel").and_then(Value::as_u64).unwrap_or(0) as usize;
            if tunnel >= MAX_TUNNELS {
                return Err(format!("`tunnel` is 0 to {}", MAX_TUNNELS - 1));
            }
            Ok(Step {
                path: path.to_string(),
                auth: s.get("auth").and_then(Value::as_bool).unwrap_or(false),
                tunnel,
                defer: s.get("defer").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

/// A response head, up to and including its blank line.
fn read_head(r: &mut impl BufRead) -> Result<String, String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut line = Vec::new();
        let n = r
            .take((MAX_HEAD - head.len()) as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading a response head: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection closed in a response head: {}",
                String::from_utf8_lossy(&head)
            ));
        }
        head.extend_from_slice(&line);
        if head.len() >= MAX_HEAD {
            return Err("response head too large".into());
        }
    }
    Ok(String::from_utf8_lossy(&head).to_string())
}

/// The body that follows `head`: `Content-Length`, chunked, or (neither) none.
fn read_body(r: &mut impl BufRead, head: &str) -> Result<Vec<u8>, String> {
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let io = |e: std::io::Error| format!("reading a response body: {e}");
    if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len}"))?;
        if len > MAX_BODY {
            return Err(format!("body of {len} bytes is too large"));
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).map_err(io)?;
        return Ok(body);
    }
    if !header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return Ok(Vec::new());
    }
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.take(1024).read_line(&mut line).map_err(io)?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        if size == 0 {
            // trailers, then the blank line
            loop {
                let mut t = String::new();
                if r.take(8192).read_line(&mut t).map_err(io)? == 0 || t == "\r\n" {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err("chunked body too large".into());
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).map_err(io)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(io)?;
    }
}

/// Keep-alive GETs to `host` over one or more tunnels (through `HTTPS_PROXY`, or with
/// `direct` straight to the name as `fetch_direct` does). A step with `auth` carries the API
/// credential. A `defer` step's head is read at once and its body after all other steps (a
/// stream opened before later requests). Returns, per step, `--- <n> <path>`, the response's
/// status line and headers exactly as received, and its body.
fn exchange(args: &Value) -> Result<String, String> {
    let host = args
        .get("host")
        .and_then(Value::as_str)
        .ok_or("argument `host` is required")?
        .to_string();
    let direct = args.get("direct").and_then(Value::as_bool).unwrap_or(false);
    let steps = steps(args)?;
    let mut tunnels: Vec<Option<BufReader<Tls>>> = (0..MAX_TUNNELS).map(|_| None).collect();
    let mut out = String::new();
    let mut deferred = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let conn = match &mut tunnels[step.tunnel] {
            Some(c) => c,
            slot => {
                let tcp = if direct {
                    let addr = format!("{host}:443")
                        .to_socket_addrs()
                        .map_err(|e| format!("resolving {host}: {e}"))?
                        .next()
                        .ok_or(format!("{host} has no address"))?;
                    TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                        .map_err(|e| format!("connect to {addr}: {e}"))?
                } else {
                    match connect_via_proxy(&host, "443")? {
                        Ok(tcp) => tcp,
                        Err(status_line) => return Err(format!("CONNECT refused: {status_line}")),
                    }
                };
                tcp.set_read_timeout(Some(Duration::from_secs(10)))
                    .map_err(|e| e.to_string())?;
                slot.insert(BufReader::new(tls_client(tcp, &host)?))
            }
        };
        let auth = if step.auth {
            format!("Authorization: Bearer {}\r\n", token())
        } else {
            String::new()
        };
        write!(
            conn.get_mut(),
            "GET {} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n",
            step.path
        )
        .map_err(|e| format!("TLS: {e}"))?;
        conn.get_mut().flush().map_err(|e| format!("TLS: {e}"))?;
        let head = read_head(conn)?;
        if step.defer {
            deferred.push((n, step.tunnel, head));
            continue;
        }
        let body = read_body(conn, &head)?;
        out.push_str(&format!(
            "--- {n} {}\n{head}{}\n",
            step.path,
            String::from_utf8_lossy(&body)
        ));
    }
    for (n, tunnel, head) in deferred {
        let Some(conn) = tunnels[tunnel].as_mut() else {
            continue;
        };
        let body = read_body(conn, &head)?;
        out.push_str(&format!(
            "--- {n} {}\n{head}{}\n",
            steps[n].path,
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(out)
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
            Tool {
                name: "exchange",
                description: "Keep-alive GETs to a host over one or more tunnels; returns each response's status line, headers and body as received.",
                input_schema: json!({"type":"object","properties":{
                    "host":{"type":"string"},
                    "direct":{"type":"boolean"},
                    "steps":{"type":"array","items":{"type":"object","properties":{
                        "path":{"type":"string"},"auth":{"type":"boolean"},
                        "tunnel":{"type":"integer"},"defer":{"type":"boolean"}},
                        "required":["path"]}}},
                    "required":["host","steps"]}),
                run: exchange,
            },
        ],
    );
}
