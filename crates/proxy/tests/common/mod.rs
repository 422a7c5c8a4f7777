//! Test harness: a real HTTPS upstream with its own CA, a real proxy on loopback, and clients
//! bound to distinct loopback source addresses standing in for sandboxes.
//!
//! The upstream can also play a hostile API: it remembers the `Authorization` it was sent
//! (`/store`) and hands it back later, on any connection, in the status line, a header, the
//! body or an SSE stream, raw or encoded (`/recall/<form>`, `/reason`, `/events`, `/forms`).
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gigmcp_proxy::{
    AuditEvent, AuditReceiver, AuditSink, CertificateAuthority, EgressProxy, IdentityTable,
    Injection, PortPolicy, ProxyConfig, ProxyDeps, SandboxIdentity, StaticCredentials,
    StaticResolver,
};
use gigmcp_registry::egress::EgressPolicy;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub const API: &str = "api.test.example";
pub const OTHER: &str = "other.test.example";
/// Under the `*.wild.test.example` allowlist entry: a tenant the credential is scoped to...
pub const TENANT: &str = "acme.wild.test.example";
/// ...and one it is not (the attacker's).
pub const ATTACKER_TENANT: &str = "x.wild.test.example";
pub const BADCERT: &str = "badcert.test.example";
pub const PLACEHOLDER_A: &str = "GIGMCP-SEALED-PLACEHOLDER-A";
pub const PLACEHOLDER_B: &str = "GIGMCP-SEALED-PLACEHOLDER-B";
pub const KEY_A: &str = "REALKEY-alice-0123456789";
pub const KEY_B: &str = "REALKEY-bob-9876543210";
/// Erin's key has the characters encoders treat specially.
pub const PLACEHOLDER_E: &str = "GIGMCP-SEALED-PLACEHOLDER-E";
pub const KEY_E: &str = "sk/erin+KEY=0123456789<&>'";

pub fn sandbox_a() -> IpAddr {
    "127.0.0.2".parse().unwrap()
}
pub fn sandbox_b() -> IpAddr {
    "127.0.0.3".parse().unwrap()
}
pub fn sandbox_e() -> IpAddr {
    "127.0.0.6".parse().unwrap()
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// What the upstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub version: Version,
    pub method: String,
    pub path: String,
    pub host: String,
    pub authorization: Option<String>,
    pub who: Option<String>,
    pub headers: http::HeaderMap,
}

/// A local HTTPS upstream with its own CA.
pub struct Upstream {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The `Authorization` value `/store` last received.
    pub stored: Arc<Mutex<Option<String>>>,
}

impl Upstream {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type UpBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn full(b: impl Into<Bytes>) -> UpBody {
    Full::new(b.into()).boxed()
}

/// A chunked body that echoes `auth` split across frames with pauses between them.
fn split_echo(auth: String) -> UpBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let cut = auth.len() - 7;
        let parts = [
            format!("first: {}", &auth[..cut]),
            auth[cut..].to_string(),
            format!(" second: {auth}\n"),
        ];
        for p in parts {
            if tx.send(Bytes::from(p)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| {
            (
                Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(b)),
                rx,
            )
        })
    });
    http_body_util::StreamBody::new(stream).boxed()
}

/// The key in an `Authorization` value (`Bearer <key>` or the value itself).
pub fn key_of(auth: &str) -> &str {
    auth.strip_prefix("Bearer ").unwrap_or(auth)
}

/// Percent-encodes every byte but RFC 3986 unreserved ones (upper- or lower-case hex).
pub fn percent(value: &str, upper: bool) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// A JSON string body as an encoder writes it: `"` and `\` escaped, then `extra` applied.
pub fn json(value: &str, extra: &[(&str, &str)]) -> String {
    let mut out = value.replace('\\', "\\\\").replace('"', "\\\"");
    for (from, to) in extra {
        out = out.replace(from, to);
    }
    out
}

/// How the hostile upstream echoes an `Authorization` value: `(name, encoded)` pairs, each a
/// transformation a real API or encoder produces.
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
        ("basic-3", STANDARD.encode(format!("ab:c{key}"))),
        ("base64-inside", STANDARD.encode(format!("x{key}tail"))),
        ("percent", percent(key, true)),
        ("percent-lower", percent(key, false)),
        ("percent-header", percent(auth, true)),
        ("form-header", percent(auth, true).replace("%20", "+")),
        ("json", json(key, &[])),
        ("json-php", json(key, &[("/", "\\/")])),
        (
            "json-go",
            json(key, &[("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")]),
        ),
        (
            "json-dotnet",
            json(
                key,
                &[
                    ("+", "\\u002B"),
                    ("<", "\\u003C"),
                    (">", "\\u003E"),
                    ("&", "\\u0026"),
                    ("'", "\\u0027"),
                ],
            ),
        ),
        (
            "json-base64-php",
            json(&STANDARD.encode(key), &[("/", "\\/")]),
        ),
    ]
}

fn sse_body(stored: Arc<Mutex<Option<String>>>) -> UpBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        if tx
            .send(Bytes::from_static(b"data: waiting\n\n"))
            .await
            .is_err()
        {
            return;
        }
        for _ in 0..500 {
            let got = stored.lock().unwrap().clone();
            if let Some(auth) = got {
                for (name, value) in echo_forms(&auth) {
                    let ev = format!("data: {name}={value}\n\n");
                    if tx.send(Bytes::from(ev)).await.is_err() {
                        return;
                    }
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| {
            (
                Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(b)),
                rx,
            )
        })
    });
    http_body_util::StreamBody::new(stream).boxed()
}

/// A response echoing `auth` as `form` in the reason phrase, a header and the body.
fn recall(auth: &str, form: &str) -> Response<UpBody> {
    let Some((_, value)) = echo_forms(auth).into_iter().find(|(n, _)| *n == form) else {
        return Response::builder()
            .status(404)
            .body(full(format!("no form {form}")))
            .unwrap();
    };
    let mut resp = Response::builder()
        .header("x-recall", value.as_str())
        .body(full(format!("{form}={value}\n")))
        .unwrap();
    resp.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::try_from(value.into_bytes()).unwrap());
    resp
}

async fn upstream_handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stored: Arc<Mutex<Option<String>>>,
) -> Result<Response<UpBody>, hyper::Error> {
    let h = |n: &str| {
        req.headers()
            .get(n)
            .map(|v| v.to_str().unwrap_or("").to_owned())
    };
    let host = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| h("host"))
        .unwrap_or_default();
    let entry = Seen {
        version: req.version(),
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        host,
        authorization: h("authorization"),
        who: h("x-who"),
        headers: req.headers().clone(),
    };
    seen.lock().unwrap().push(entry.clone());
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await?.to_bytes();
    let auth = entry.authorization.clone().unwrap_or_default();
    let remembered = stored.lock().unwrap().clone().unwrap_or_default();
    let resp = match path.as_str() {
        "/store" => {
            *stored.lock().unwrap() = entry.authorization.clone();
            Response::new(full("stored\n"))
        }
        "/reason" => {
            // The value it was just sent, as the status line's reason phrase.
            let mut resp = Response::builder()
                .status(401)
                .body(full("who are you?\n"))
                .unwrap();
            resp.extensions_mut()
                .insert(hyper::ext::ReasonPhrase::try_from(auth.clone().into_bytes()).unwrap());
            resp
        }
        "/forms" => {
            let lines: Vec<String> = echo_forms(&auth)
                .into_iter()
                .map(|(n, v)| format!("{n}={v}\n"))
                .collect();
            Response::new(full(lines.concat()))
        }
        "/events" => Response::builder()
            .header("content-type", "text/event-stream")
            .body(sse_body(Arc::clone(&stored)))
            .unwrap(),
        p if p.starts_with("/recall/") => recall(&remembered, &p["/recall/".len()..]),
        "/echo-auth" => Response::builder()
            .header("x-echo-auth", auth.as_str())
            .body(full(format!("you sent: {auth}\n")))
            .unwrap(),
        "/split" => Response::new(split_echo(auth)),
        "/upload" => Response::new(full(format!("got {} bytes", body.len()))),
        _ => Response::new(full(Bytes::from_static(b"ok"))),
    };
    Ok(resp)
}

/// Starts an HTTPS upstream serving `names` with a certificate from its own fresh CA.
/// `h2` adds HTTP/2 to its ALPN.
pub async fn start_upstream(names: &[&str], h2: bool) -> Upstream {
    let ca = CertificateAuthority::generate("upstream test CA").unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        ca.cert_pem(),
        rcgen::KeyPair::from_pem(ca.key_pem()).unwrap(),
    )
    .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let chain = vec![cert.der().clone()];
    let key_der = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .unwrap();
    cfg.alpn_protocols = if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    let stored: Arc<Mutex<Option<String>>> = Arc::default();
    let stored2 = Arc::clone(&stored);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let seen = Arc::clone(&seen2);
            let stored = Arc::clone(&stored2);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let svc = service_fn(move |req| {
                    upstream_handle(req, Arc::clone(&seen), Arc::clone(&stored))
                });
                let io = TokioIo::new(tls);
                if is_h2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            });
        }
    });
    Upstream {
        addr,
        ca_pem: ca.cert_pem().to_owned(),
        seen,
        stored,
    }
}

/// A sandbox allowed `egress`, its `api_key` credential scoped to the exact (non-wildcard)
/// entries of `egress`, as the gateway does.
pub fn identity(
    owner: &str,
    egress: &[&str],
    placeholder: &str,
    credential_key: &str,
) -> SandboxIdentity {
    let exact: Vec<&str> = egress
        .iter()
        .copied()
        .filter(|e| !e.starts_with("*."))
        .collect();
    scoped_identity(owner, egress, &exact, placeholder, credential_key)
}

/// A sandbox allowed `egress`, its `api_key` credential scoped to `scope`.
pub fn scoped_identity(
    owner: &str,
    egress: &[&str],
    scope: &[&str],
    placeholder: &str,
    credential_key: &str,
) -> SandboxIdentity {
    SandboxIdentity {
        server: "weather".into(),
        profile: format!("{owner}-profile"),
        owner: owner.into(),
        egress: EgressPolicy::parse(egress).unwrap(),
        injections: vec![
            Injection::new(
                "api_key",
                "authorization",
                placeholder,
                "Bearer {token}",
                scope,
            )
            .unwrap(),
        ],
        credential_key: credential_key.into(),
        entrusted: false,
    }
}

/// A proxy wired to a real upstream, two registered sandboxes and a static resolver.
pub struct Harness {
    pub proxy: EgressProxy,
    pub table: Arc<IdentityTable>,
    pub resolver: Arc<StaticResolver>,
    pub creds: Arc<StaticCredentials>,
    pub audit: AuditReceiver,
    pub upstream: Upstream,
    pub ca_pem: String,
    pub connect: gigmcp_proxy::ListenerHandle,
}

pub struct Options {
    pub allow_loopback: bool,
    pub h2: bool,
    pub audit_capacity: usize,
    pub tweak: fn(&mut ProxyConfig),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allow_loopback: true,
            h2: false,
            audit_capacity: 10_000,
            tweak: |_| {},
        }
    }
}

impl Harness {
    pub async fn new(opts: Options) -> Self {
        let upstream = start_upstream(
            &[
                API,
                OTHER,
                TENANT,
                ATTACKER_TENANT,
                "rebind.test.example",
                "ten.test.example",
            ],
            opts.h2,
        )
        .await;
        let table = Arc::new(IdentityTable::new());
        table.insert(
            sandbox_a(),
            identity(
                "alice",
                &[
                    API,
                    "*.wild.test.example",
                    BADCERT,
                    "rebind.test.example",
                    "ten.test.example",
                ],
                PLACEHOLDER_A,
                "vault/alice/weather",
            ),
        );
        table.insert(
            sandbox_b(),
            identity("bob", &[API], PLACEHOLDER_B, "vault/bob/weather"),
        );
        table.insert(
            sandbox_e(),
            identity("erin", &[API], PLACEHOLDER_E, "vault/erin/weather"),
        );
        let creds = Arc::new(StaticCredentials::new());
        creds.insert("vault/alice/weather", "api_key", KEY_A);
        creds.insert("vault/bob/weather", "api_key", KEY_B);
        creds.insert("vault/erin/weather", "api_key", KEY_E);
        let resolver = Arc::new(StaticResolver::new());
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for n in [API, OTHER, TENANT, ATTACKER_TENANT] {
            resolver.insert(n, vec![lo]);
        }
        resolver.insert("rebind.test.example", vec![lo]);
        resolver.insert("ten.test.example", vec!["10.1.2.3".parse().unwrap()]);
        let (sink, audit) = AuditSink::channel(opts.audit_capacity);
        let mut config = ProxyConfig {
            extra_roots_pem: Some(upstream.ca_pem.clone()),
            ports: PortPolicy::Any,
            transparent_upstream_port: upstream.addr.port(),
            allowed_ranges: if opts.allow_loopback {
                vec!["127.0.0.1/32".parse().unwrap()]
            } else {
                vec![]
            },
            ..ProxyConfig::default()
        };
        (opts.tweak)(&mut config);
        let ca = Arc::new(CertificateAuthority::generate("Gig'MCP test egress CA").unwrap());
        let proxy = EgressProxy::new(
            config,
            ProxyDeps {
                ca,
                identities: table.clone(),
                credentials: creds.clone(),
                resolver: resolver.clone(),
                audit: sink,
            },
        )
        .unwrap();
        let ca_pem = proxy.ca_pem().to_owned();
        let connect = proxy
            .bind_connect("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Self {
            connect,
            proxy,
            table,
            resolver,
            creds,
            audit,
            upstream,
            ca_pem,
        }
    }

    /// All audit events emitted so far: collects until none arrives for 300 ms.
    pub async fn drain_audit(&mut self) -> Vec<AuditEvent> {
        let mut out = Vec::new();
        while let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_millis(300), self.audit.recv()).await
        {
            out.push(e);
        }
        out
    }

    pub fn proxy_addr(&self) -> SocketAddr {
        self.connect.local_addr()
    }

    pub fn target(&self, host: &str) -> String {
        format!("{host}:{}", self.upstream.addr.port())
    }
}

/// A TCP connection from the given loopback source address.
pub async fn connect_from(src: IpAddr, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(src, 0)).unwrap();
    sock.connect(to).await.unwrap()
}

/// Sends `CONNECT target` and reads the response head; returns the status and, for refusals,
/// the body text.
pub async fn send_connect(stream: &mut TcpStream, target: &str) -> (u16, String) {
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    read_response(stream).await
}

/// Reads an HTTP/1.1 response head byte by byte; on non-200 also reads the body to EOF.
pub async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status == 200 {
        return (status, text);
    }
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    (status, String::from_utf8_lossy(&rest).to_string())
}

pub fn client_tls(ca_pem: &str) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(cfg))
}

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// TLS (trusting `ca_pem`, SNI `name`) plus an HTTP/1.1 client over `stream`.
pub async fn http_over(stream: TcpStream, name: &str, ca_pem: &str) -> Result<Sender, String> {
    let tls = client_tls(ca_pem)
        .connect(ServerName::try_from(name.to_owned()).unwrap(), stream)
        .await
        .map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// A full tunnel through the explicit proxy from `src`.
pub async fn tunnel(h: &Harness, src: IpAddr, host: &str) -> Sender {
    let mut s = connect_from(src, h.proxy_addr()).await;
    let (status, text) = send_connect(&mut s, &h.target(host)).await;
    assert_eq!(status, 200, "{text}");
    http_over(s, host, &h.ca_pem).await.unwrap()
}

/// Everything the sandbox got for one request: status, reason phrase when it is not the
/// canonical one, headers and body text.
pub struct Received {
    pub status: u16,
    pub reason: Option<String>,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Received {
    /// All of it as one text, for searching.
    pub fn text(&self) -> String {
        format!(
            "{} {}\n{:?}\n{}",
            self.status,
            self.reason.as_deref().unwrap_or(""),
            self.headers,
            self.body
        )
    }
}

/// Sends one request and returns all the sandbox gets back.
pub async fn get_all(sender: &mut Sender, req: Request<Full<Bytes>>) -> Received {
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).to_string());
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Received {
        status,
        reason,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

/// Sends one request and returns status, headers and body text.
pub async fn get(sender: &mut Sender, req: Request<Full<Bytes>>) -> (u16, http::HeaderMap, String) {
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).to_string())
}

pub fn request(host_header: &str, path: &str, auth: Option<&str>) -> Request<Full<Bytes>> {
    let mut b = Request::builder().uri(path).header("host", host_header);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}
