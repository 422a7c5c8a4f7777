//! A local HTTPS upstream standing in for every API of the corpus.
//!
//! It listens on port 443 of a loopback address of its own (the egress proxy only connects to
//! port 443), presents a leaf minted per SNI by one test CA, and records every request as it
//! arrived: SNI, `Host`, method, raw path and query, every header (bytes, in order) and the
//! body. What it answers is decided per request by a [`Responder`]; the default is
//! `200 {"ok":true}`. Replies may be delayed: a delayed reply whose connection goes away
//! before it is sent is recorded as [`Event::Aborted`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gigmcp_proxy::CertificateAuthority;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Order of arrival at this mock.
    pub seq: u64,
    /// The TCP connection it came on.
    pub conn: u64,
    /// The server name of the TLS handshake.
    pub sni: String,
    /// The `Host` header, if any.
    pub host: Option<String>,
    pub method: String,
    /// The path, raw (percent-encoding as sent).
    pub path: String,
    /// The query string, raw, without `?`.
    pub query: Option<String>,
    /// Every header, lowercase name and raw value, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// Every value of header `name` (lowercase), as text.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The single value of header `name`, if it was sent exactly once.
    pub fn header(&self, name: &str) -> Option<String> {
        match self.header_values(name).as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    /// Every byte of the request that reached the upstream (request line, headers, body),
    /// for scanning.
    pub fn all_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {}", self.method, self.path).into_bytes();
        if let Some(q) = &self.query {
            out.push(b'?');
            out.extend_from_slice(q.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.sni.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// What the upstream answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// `200 {"ok":true}` as JSON.
    pub fn ok_json() -> Self {
        Self::new(200)
            .header("content-type", "application/json")
            .body(br#"{"ok":true}"#.to_vec())
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Decides the reply to a recorded request.
pub type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// Something the upstream observed besides requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A delayed reply was sent.
    Completed { path: String },
    /// A delayed reply was dropped before it was sent: its connection went away.
    Aborted { path: String, after: Duration },
    /// A connection ended (either side).
    ConnectionClosed { conn: u64 },
}

struct State {
    records: Mutex<Vec<Recorded>>,
    events: Mutex<Vec<Event>>,
    responder: RwLock<Responder>,
    seq: AtomicU64,
    conns: AtomicU64,
}

/// Mints (once) a leaf for whatever name the client asks for.
struct MintPerSni {
    ca: Arc<CertificateAuthority>,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for MintPerSni {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintPerSni").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for MintPerSni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = cache.get(&name) {
            return Some(key.clone());
        }
        let (chain, key) = self.ca.mint_leaf(&name).ok()?;
        let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).ok()?;
        let certified = Arc::new(CertifiedKey::new(chain, key));
        cache.insert(name, certified.clone());
        Some(certified)
    }
}

/// The mock upstream. Dropping it stops the listener.
pub struct Mock {
    pub ip: Ipv4Addr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port-443 listener on a loopback address nobody else uses.
async fn bind_loopback_443() -> (Ipv4Addr, TcpListener) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = u64::from(std::process::id())
        .wrapping_mul(2_654_435_761)
        .wrapping_add(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::from(d.subsec_nanos()))
                .unwrap_or(0),
        );
    for _ in 0..200 {
        let n = seed.wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed));
        // 127.100.0.0 - 127.227.255.254: clear of the addresses other test suites use.
        let ip = Ipv4Addr::new(
            127,
            100 + (n % 128) as u8,
            (n >> 8) as u8,
            1 + (n >> 16) as u8 % 254,
        );
        match TcpListener::bind((ip, 443)).await {
            Ok(l) => return (ip, l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => panic!(
                "binding {ip}:443: {e}. The egress proxy connects upstreams on port 443 only, so \
                 the mock upstream needs it: run as root or with CAP_NET_BIND_SERVICE"
            ),
            Err(e) => panic!("binding {ip}:443: {e}"),
        }
    }
    panic!("no free loopback address for the mock upstream after 200 tries");
}

impl Mock {
    /// Starts a mock answering `200 {"ok":true}`, its leaves signed by `ca`.
    pub async fn start(ca: Arc<CertificateAuthority>) -> Self {
        let resolver = Arc::new(MintPerSni {
            ca,
            cache: Mutex::default(),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(crate::common::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (ip, listener) = bind_loopback_443().await;
        let state = Arc::new(State {
            records: Mutex::default(),
            events: Mutex::default(),
            responder: RwLock::new(Arc::new(|_: &Recorded| Reply::ok_json())),
            seq: AtomicU64::new(0),
            conns: AtomicU64::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let st = st.clone();
                tokio::spawn(async move {
                    let conn = st.conns.fetch_add(1, Ordering::Relaxed);
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let sni = tls.get_ref().1.server_name().unwrap_or("").to_owned();
                    let st2 = st.clone();
                    let svc = service_fn(move |req| handle(req, conn, sni.clone(), st2.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                    st.events
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Event::ConnectionClosed { conn });
                });
            }
        });
        Self { ip, state, task }
    }

    /// Replaces what the upstream answers.
    pub fn respond(&self, responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        *self
            .state
            .responder
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(responder);
    }

    /// Every request received so far.
    pub fn records(&self) -> Vec<Recorded> {
        self.state
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests received after the first `from`.
    pub fn records_from(&self, from: usize) -> Vec<Recorded> {
        let all = self.state.records.lock().unwrap_or_else(|p| p.into_inner());
        all.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    pub fn record_count(&self) -> usize {
        self.state
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn events(&self) -> Vec<Event> {
        self.state
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits (bounded) until `pred` holds for the events, returning them.
    pub async fn wait_events(
        &self,
        within: Duration,
        pred: impl Fn(&[Event]) -> bool,
    ) -> Result<Vec<Event>, Vec<Event>> {
        let until = Instant::now() + within;
        loop {
            let ev = self.events();
            if pred(&ev) {
                return Ok(ev);
            }
            if Instant::now() >= until {
                return Err(ev);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (bounded) until at least `n` requests have been received.
    pub async fn wait_records(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let until = Instant::now() + within;
        loop {
            let r = self.records();
            if r.len() >= n || Instant::now() >= until {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Drops into [`Event::Aborted`] unless the reply it guards was sent.
struct AbortWatch {
    state: Arc<State>,
    path: String,
    started: Instant,
    done: bool,
}

impl Drop for AbortWatch {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        let ev = if self.done {
            Event::Completed { path }
        } else {
            Event::Aborted {
                path,
                after: self.started.elapsed(),
            }
        };
        self.state
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ev);
    }
}

async fn handle(
    req: Request<Incoming>,
    conn: u64,
    sni: String,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let rec = Recorded {
        seq: state.seq.fetch_add(1, Ordering::Relaxed),
        conn,
        sni,
        host: parts
            .headers
            .get("host")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body,
    };
    let responder = state
        .responder
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let reply = responder(&rec);
    let path = rec.path.clone();
    state
        .records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(rec);
    if !reply.delay.is_zero() {
        let mut watch = AbortWatch {
            state: state.clone(),
            path,
            started: Instant::now(),
            done: false,
        };
        tokio::time::sleep(reply.delay).await;
        watch.done = true;
    }
    let mut resp = Response::builder().status(reply.status);
    for (n, v) in &reply.headers {
        resp = resp.header(n, v);
    }
    Ok(resp
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}
