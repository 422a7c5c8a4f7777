//! Test support: a loopback stand-in for the egress proxy and the upstream APIs behind it
//! (CONNECT, then TLS with a leaf from a test CA, then HTTP/1.1), recording what arrives.
//!
//! Answers, by path: `/v1/items/ok` 200 JSON; `/v1/items/same` 302 to `/v1/items/ok`;
//! `/v1/items/away` 307 to `https://other.example.com/landing?api_key=leak&x=1`; `/landing`
//! 200 text; `/v1/items/evil` 302 to `https://evil.example.org/x`; `/v1/items/slow` never
//! (the drop of its handler is signalled); `/v1/items/png` an image; `/v1/items/big`
//! [`BIG_TEXT`] bytes of text, chunked (no `Content-Length`); anything else 404 JSON.
//! CONNECT to `denied.example.com` is answered 403.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One request the fake upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub host: String,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running fake.
pub struct Fake {
    /// `host:port` to use as the proxy.
    pub proxy: String,
    /// The test CA (PEM) to trust.
    pub ca_pem: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Receives one message each time a `/slow` handler is dropped (its connection closed).
    pub slow_dropped: mpsc::UnboundedReceiver<()>,
}

struct DropSignal(mpsc::UnboundedSender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// A body of `chunks` × `chunk` bytes of unknown length (sent chunked).
struct Chunked {
    chunk: Bytes,
    left: usize,
}

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// Size of the `/v1/items/big` text: 6 MiB, more than the read cap.
pub const BIG_TEXT: usize = 6 * 1024 * 1024;

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> http::Response<Body> {
    let mut r = http::Response::new(Full::new(Bytes::copy_from_slice(body)).boxed());
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        r.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    r
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    slow: mpsc::UnboundedSender<()>,
) -> Result<http::Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = parts
        .headers
        .get(http::header::HOST)
        .map(|h| h.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        host,
        method: parts.method.to_string(),
        target,
        headers,
        body,
    });
    let json = [("content-type", "application/json")];
    Ok(match parts.uri.path() {
        "/v1/items/ok" => response(
            200,
            &[
                ("content-type", "application/json"),
                ("x-request-id", "rq-1"),
            ],
            br#"{"ok":true}"#,
        ),
        "/v1/items/same" => response(302, &[("location", "/v1/items/ok")], b""),
        "/v1/items/away" => response(
            307,
            &[(
                "location",
                "https://other.example.com/landing?api_key=leak&x=1",
            )],
            b"",
        ),
        "/landing" => response(200, &[("content-type", "text/plain")], b"landed"),
        "/v1/items/evil" => response(302, &[("location", "https://evil.example.org/x")], b""),
        "/v1/items/png" => response(200, &[("content-type", "image/png")], b"\x89PNG"),
        "/v1/items/big" => {
            // 3-byte characters in 64 KiB chunks: the caps fall inside characters.
            let chunk = Bytes::from("€".repeat(64 * 1024 / 4) + &"abcd".repeat(4096));
            let left = BIG_TEXT / chunk.len();
            let mut r = http::Response::new(Chunked { chunk, left }.boxed());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        "/v1/items/slow" => {
            let _signal = DropSignal(slow);
            tokio::time::sleep(Duration::from_secs(120)).await;
            response(200, &[], b"late")
        }
        _ => response(404, &json, br#"{"error":"not found"}"#),
    })
}

async fn serve_tunnel(
    mut tcp: TcpStream,
    tls: tokio_rustls::TlsAcceptor,
    seen: Arc<Mutex<Vec<Seen>>>,
    slow: mpsc::UnboundedSender<()>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let host = head
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(":443");
    if host == "denied.example.com" {
        let _ = tcp
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    if tcp
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let Ok(stream) = tls.accept(tcp).await else {
        return;
    };
    let service = service_fn(move |req| answer(req, Arc::clone(&seen), slow.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

impl Fake {
    /// Starts the fake on loopback (inside the current tokio runtime).
    pub async fn start() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let hosts = ["api.example.com", "other.example.com", "acme.example.net"];
        let leaf = CertificateParams::new(hosts.map(String::from).to_vec())
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca_cert.der().clone()];
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let tls = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (slow_tx, slow_rx) = mpsc::unbounded_channel();
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve_tunnel(
                    tcp,
                    tls.clone(),
                    Arc::clone(&recorded),
                    slow_tx.clone(),
                ));
            }
        });
        Self {
            proxy,
            ca_pem: ca_cert.pem(),
            seen,
            slow_dropped: slow_rx,
        }
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
