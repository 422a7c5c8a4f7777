//! A local HTTPS API standing in for many third-party hosts at once: certificates from a test
//! CA picked by SNI, HTTP/1.1 keep-alive, every request recorded whole (head and body), and
//! every request answered `200 application/json {"ok":true,"seen":"<METHOD> <host><path>"}`
//! (the path without its query).

use gigmcp_proxy::CertificateAuthority;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Largest request head and body the recorder accepts.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1024 * 1024;

/// One request as the API received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The name the client asked for (SNI).
    pub host: String,
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names lowercase, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Head and body as received.
    pub raw: Vec<u8>,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The value of header `name` (any case), if sent once or more (the first).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running API; see the module docs.
#[derive(Clone, Default)]
pub struct Recorder {
    received: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub fn received(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }

    /// The one request to `host` whose path is `path`; panics with what was received otherwise.
    pub fn one(&self, host: &str, path: &str) -> Recorded {
        let all = self.received();
        let found: Vec<&Recorded> = all
            .iter()
            .filter(|r| r.host == host && r.path() == path)
            .collect();
        match found.as_slice() {
            [one] => (*one).clone(),
            _ => panic!(
                "expected one request to {host}{path}, got {}; received: {:#?}",
                found.len(),
                all.iter()
                    .map(|r| format!("{} {}{}", r.method, r.host, r.target))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request from `tls` (after what `buf` already holds); `None` at the end.
async fn read_request<S: AsyncRead + Unpin>(
    tls: &mut S,
    buf: &mut Vec<u8>,
    host: &str,
) -> Option<Recorded> {
    let head_end = loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 8192];
        match tls.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) if buf.len() + n <= MAX_HEAD => buf.extend_from_slice(&chunk[..n]),
            Ok(_) => return None,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let (method, target) = (start.next()?.to_owned(), start.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "the recorder reads Content-Length bodies only: {head}"
    );
    if length > MAX_BODY {
        return None;
    }
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        match tls.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let raw: Vec<u8> = buf.drain(..head_end + length).collect();
    Some(Recorded {
        host: host.to_owned(),
        method,
        target,
        headers,
        body: raw[head_end..].to_vec(),
        raw,
    })
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut tls: S, host: String, recorder: Recorder) {
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut tls, &mut buf, &host).await {
        let seen = format!("{} {}{}", request.method, request.host, request.path());
        recorder.received.lock().unwrap().push(request);
        let body = serde_json::json!({"ok": true, "seen": seen}).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if tls.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Starts the API on `ip:443` for `hosts` (leaf certificates from `ca`).
pub async fn start(ip: Ipv4Addr, ca: &CertificateAuthority, hosts: &[&str]) -> Recorder {
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
    let recorder = Recorder::default();
    let r = recorder.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let (acceptor, r) = (acceptor.clone(), r.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let host = tls.get_ref().1.server_name().unwrap_or("").to_string();
                serve(tls, host, r).await;
            });
        }
    });
    recorder
}

/// A gateway with networked sandboxes and the toolpack engine, whose egress proxy resolves
/// every name of `hosts` to a [`start`]ed recorder at `ip` (its CA trusted by the proxy).
pub async fn toolpack_gateway(ip: Ipv4Addr, hosts: &[&str]) -> (super::TestGateway, Recorder) {
    let ca = CertificateAuthority::generate("toolpack upstream CA").unwrap();
    let recorder = start(ip, &ca, hosts).await;
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), ca.cert_pem()).unwrap();
    let bundle_path = bundle.path().display().to_string();
    let resolve: Vec<String> = hosts.iter().map(|h| format!("{h}={ip}")).collect();
    let engine = gigmcp_testkit::static_bin("gigmcp-toolpack", "gigmcp-toolpack");
    let gw = super::TestGateway::start_with(|raw| {
        raw.sandbox_network = true;
        raw.egress_allow_ranges = vec!["127.0.0.0/8".into()];
        raw.egress_ca_bundle = Some(bundle_path);
        raw.egress_resolve = resolve;
        raw.toolpack = Some(engine.display().to_string());
    })
    .await;
    (gw, recorder)
}
