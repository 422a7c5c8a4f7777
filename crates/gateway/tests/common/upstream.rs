//! A local HTTPS upstream with its own CA, standing in for a third-party API.

use gigmcp_proxy::CertificateAuthority;
use std::net::Ipv4Addr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 44);
pub const HOST: &str = "api.example.test";

/// An HTTPS upstream on `UPSTREAM_IP:443` for `HOST`: answers 200 `hello <user>` to
/// `Authorization: Bearer <key>` of a known user, 403 `denied` to anything else.
pub async fn upstream(ca: &CertificateAuthority, users: &[(&'static str, &'static str)]) {
    upstream_at(UPSTREAM_IP, ca, users).await;
}

/// [`upstream`] on another loopback address, for tests that run side by side.
pub async fn upstream_at(
    ip: Ipv4Addr,
    ca: &CertificateAuthority,
    users: &[(&'static str, &'static str)],
) {
    let users = users.to_vec();
    let (chain, leaf_key) = ca.mint_leaf(HOST).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, leaf_key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((ip, 443)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let acceptor = acceptor.clone();
            let users = users.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let who = users
                    .iter()
                    .find(|(key, _)| {
                        let line =
                            format!("\r\nauthorization: bearer {}\r\n", key.to_ascii_lowercase());
                        head.contains(&line)
                    })
                    .map(|(_, user)| format!("hello {user}"));
                let (status, body) = match &who {
                    Some(greeting) => ("200 OK", greeting.as_str()),
                    None => ("403 Forbidden", "denied"),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
}

/// A gateway with networked sandboxes whose egress proxy trusts a local HTTPS upstream at `ip`
/// (answering `users`' keys, its own CA) and resolves [`HOST`] and `evil.example.test` to it.
pub async fn egress_gateway(
    ip: Ipv4Addr,
    users: &[(&'static str, &'static str)],
) -> super::TestGateway {
    let upstream_ca = CertificateAuthority::generate("test upstream CA").unwrap();
    upstream_at(ip, &upstream_ca, users).await;
    // read once, when the gateway starts
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), upstream_ca.cert_pem()).unwrap();
    let bundle_path = bundle.path().display().to_string();
    super::TestGateway::start_with(|raw| {
        raw.sandbox_network = true;
        raw.egress_allow_ranges = vec!["127.0.0.0/8".into()];
        raw.egress_ca_bundle = Some(bundle_path);
        raw.egress_resolve = vec![format!("{HOST}={ip}"), format!("evil.example.test={ip}")];
    })
    .await
}

/// A request the [`hostile_upstream_at`] API received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The name the client asked for (SNI).
    pub host: String,
    pub path: String,
    pub authorization: Option<String>,
    /// The whole request head, as received.
    pub head: String,
}

/// A hostile API: see [`hostile_upstream_at`].
pub struct HostileUpstream {
    pub received: Arc<std::sync::Mutex<Vec<Received>>>,
}

impl HostileUpstream {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// The key in an `Authorization` value (`Bearer <key>`, or the value itself).
pub fn key_of(auth: &str) -> &str {
    auth.strip_prefix("Bearer ").unwrap_or(auth)
}

/// Percent-encoding of every byte but RFC 3986 unreserved ones.
fn percent(value: &str, upper: bool) -> String {
    value
        .bytes()
        .map(|b| match b {
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => (b as char).to_string(),
            b if upper => format!("%{b:02X}"),
            b => format!("%{b:02x}"),
        })
        .collect()
}

/// `value` as a JSON string body: `"` and `\` escaped, then each `(from, to)` of `extra`.
fn json_escaped(value: &str, extra: &[(&str, &str)]) -> String {
    let mut out = value.replace('\\', "\\\\").replace('"', "\\\"");
    for (from, to) in extra {
        out = out.replace(from, to);
    }
    out
}

/// The ways the hostile API hands an `Authorization` value back, `(name, encoded)`: each is
/// what a real API or encoder produces.
pub fn echo_forms(auth: &str) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let key = key_of(auth);
    vec![
        ("raw", auth.to_owned()),
        ("key", key.to_owned()),
        ("base64", STANDARD.encode(key)),
        ("base64-nopad", STANDARD_NO_PAD.encode(key)),
        ("base64url", URL_SAFE.encode(key)),
        ("base64url-nopad", URL_SAFE_NO_PAD.encode(key)),
        ("base64-header", STANDARD.encode(auth)),
        ("basic", STANDARD.encode(format!("user:{key}"))),
        ("basic-2", STANDARD.encode(format!("me:{key}"))),
        ("base64-inside", STANDARD.encode(format!("x{key}tail"))),
        ("percent", percent(key, true)),
        ("percent-lower", percent(key, false)),
        ("percent-header", percent(auth, true)),
        ("json-php", json_escaped(key, &[("/", "\\/")])),
        (
            "json-go",
            json_escaped(key, &[("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")]),
        ),
        (
            "json-dotnet",
            json_escaped(
                key,
                &[
                    ("+", "\\u002B"),
                    ("<", "\\u003C"),
                    (">", "\\u003E"),
                    ("&", "\\u0026"),
                ],
            ),
        ),
    ]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

/// One keep-alive connection of the hostile API.
async fn serve_hostile<S>(
    mut tls: S,
    host: String,
    kept: Arc<std::sync::Mutex<Option<String>>>,
    received: Arc<std::sync::Mutex<Vec<Received>>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    loop {
        let head = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break buf.drain(..end + 4).collect::<Vec<u8>>();
            }
            let mut chunk = [0u8; 4096];
            match tls.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) if buf.len() + n <= 65536 => buf.extend_from_slice(&chunk[..n]),
                Ok(_) => return,
            }
        };
        let head = String::from_utf8_lossy(&head).to_string();
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let authorization = head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        });
        received.lock().unwrap().push(Received {
            host: host.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
            head: head.clone(),
        });
        let auth = authorization.unwrap_or_default();
        let out = match path.as_str() {
            "/store" => {
                *kept.lock().unwrap() = Some(auth);
                response("200 OK", &[], "stored\n")
            }
            // what it was just sent, as the status line's reason phrase
            "/reason" => response(&format!("401 {auth}"), &[], "who are you?\n"),
            "/forms" => {
                let lines: String = echo_forms(&auth)
                    .into_iter()
                    .map(|(n, v)| format!("{n}={v}\n"))
                    .collect();
                response("200 OK", &[], &lines)
            }
            "/events" => {
                let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                    transfer-encoding: chunked\r\n\r\n"
                    .to_vec();
                out.extend(chunk("data: waiting\n\n"));
                if tls.write_all(&out).await.is_err() {
                    return;
                }
                let mut value = None;
                for _ in 0..500 {
                    value = kept.lock().unwrap().clone();
                    if value.is_some() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                let mut out = Vec::new();
                for (n, v) in echo_forms(&value.unwrap_or_default()) {
                    out.extend(chunk(&format!("data: {n}={v}\n\n")));
                }
                out.extend_from_slice(b"0\r\n\r\n");
                out
            }
            p if p.starts_with("/recall/") => {
                let value = kept.lock().unwrap().clone().unwrap_or_default();
                let form = &p["/recall/".len()..];
                match echo_forms(&value).into_iter().find(|(n, _)| *n == form) {
                    Some((_, v)) => response(
                        &format!("200 {v}"),
                        &[("x-recall", &v)],
                        &format!("{form}={v}\n"),
                    ),
                    None => response("404 Not Found", &[], "no such form\n"),
                }
            }
            _ => response("200 OK", &[], "hello\n"),
        };
        if tls.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// A hostile HTTPS API on `ip:443` for `hosts` (certificates from `ca`, picked by SNI),
/// HTTP/1.1 keep-alive. It records every request, keeps the `Authorization` value `/store` is
/// sent, and hands values back: `/reason` answers `401 <the value it was sent>`;
/// `/recall/<form>` returns the kept value as `form` (see [`echo_forms`]) in the reason phrase,
/// an `x-recall` header and the body (`<form>=<value>`); `/forms` returns the value it was sent
/// in every form, one `<form>=<value>` a line; `/events` streams `data: waiting`, then, once a
/// value is kept (by a request on any connection), one `data: <form>=<value>` event per form.
pub async fn hostile_upstream_at(
    ip: Ipv4Addr,
    ca: &CertificateAuthority,
    hosts: &[&str],
) -> HostileUpstream {
    let mut certs = rustls::server::ResolvesServerCertUsingSni::new();
    for host in hosts {
        let (chain, key) = ca.mint_leaf(host).unwrap();
        let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).unwrap();
        certs
            .add(host, rustls::sign::CertifiedKey::new(chain, key))
            .unwrap();
    }
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(certs));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((ip, 443)).await.unwrap();
    let received: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
    let kept: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let (r, k) = (received.clone(), kept.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let acceptor = acceptor.clone();
            let (r, k) = (r.clone(), k.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let host = tls.get_ref().1.server_name().unwrap_or("").to_string();
                serve_hostile(tls, host, k, r).await;
            });
        }
    });
    HostileUpstream { received }
}

/// A gateway with networked sandboxes whose egress proxy resolves every name of `hosts` to a
/// [`hostile_upstream_at`] `ip` (its own CA, trusted by the proxy).
pub async fn hostile_gateway(
    ip: Ipv4Addr,
    hosts: &[&str],
) -> (super::TestGateway, HostileUpstream) {
    let upstream_ca = CertificateAuthority::generate("hostile upstream CA").unwrap();
    let upstream = hostile_upstream_at(ip, &upstream_ca, hosts).await;
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), upstream_ca.cert_pem()).unwrap();
    let bundle_path = bundle.path().display().to_string();
    let resolve: Vec<String> = hosts.iter().map(|h| format!("{h}={ip}")).collect();
    let gw = super::TestGateway::start_with(|raw| {
        raw.sandbox_network = true;
        raw.egress_allow_ranges = vec!["127.0.0.0/8".into()];
        raw.egress_ca_bundle = Some(bundle_path);
        raw.egress_resolve = resolve;
    })
    .await;
    (gw, upstream)
}
