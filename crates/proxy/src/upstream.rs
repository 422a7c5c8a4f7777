//! Connections toward the real upstream: vetted address, verified TLS, HTTP/1.1 or HTTP/2.
//!
//! Contract: [`connect`] dials only the addresses it is given (the vetted ones: no resolution
//! here), verifies the certificate for the host against webpki roots plus the operator's bundle
//! ([`client_config`]) and speaks what ALPN chose. Failures map to upstream [`DenyReason`]s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use crate::audit::DenyReason;
use crate::body::CountingBody;
use crate::config::ProxyConfig;
use crate::error::ProxyError;

/// A ready connection to one upstream host.
pub(crate) enum UpstreamSender {
    H1(http1::SendRequest<CountingBody>),
    H2(http2::SendRequest<CountingBody>),
}

impl UpstreamSender {
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Self::H1(s) => s.is_closed(),
            Self::H2(s) => s.is_closed(),
        }
    }

    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Self::H2(_))
    }
}

/// Sends one request on an upstream connection (HTTP/1.1 waits for the connection to be idle).
pub(crate) async fn send(
    sender: &mut UpstreamSender,
    req: Request<CountingBody>,
) -> Result<Response<Incoming>, hyper::Error> {
    match sender {
        UpstreamSender::H1(s) => {
            s.ready().await?;
            s.send_request(req).await
        }
        UpstreamSender::H2(s) => {
            s.ready().await?;
            s.send_request(req).await
        }
    }
}

/// The upstream TLS client configuration: webpki roots plus the operator's bundle.
pub(crate) fn client_config(
    config: &ProxyConfig,
    provider: Arc<CryptoProvider>,
) -> Result<ClientConfig, ProxyError> {
    let mut roots = RootCertStore::empty();
    if config.use_webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(pem) = &config.extra_roots_pem {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProxyError::Roots(format!("cannot parse the PEM bundle: {e}")))?;
        if certs.is_empty() {
            return Err(ProxyError::Roots(
                "the PEM bundle holds no certificate".into(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ProxyError::Roots(format!("rejected root certificate: {e}")))?;
        }
    }
    if roots.is_empty() {
        return Err(ProxyError::Roots(
            "no upstream roots: enable the webpki roots or give a PEM bundle".into(),
        ));
    }
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ProxyError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

fn tls_reason(e: &std::io::Error) -> DenyReason {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            DenyReason::UpstreamCertificate(format!("{c:?}"))
        }
        Some(other) => DenyReason::UpstreamTls(other.to_string()),
        None => DenyReason::UpstreamTls(e.to_string()),
    }
}

/// Connects to the first reachable vetted address (never re-resolving), verifies the
/// certificate for `host` and performs the HTTP handshake chosen by ALPN.
pub(crate) async fn connect(
    tls: &TlsConnector,
    host: &str,
    addrs: &[SocketAddr],
    connect_timeout: Duration,
    handshake_timeout: Duration,
) -> Result<UpstreamSender, DenyReason> {
    let mut last = DenyReason::UpstreamConnect("no address".into());
    let mut tcp = None;
    for addr in addrs {
        match timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => last = DenyReason::UpstreamConnect(format!("{addr}: {e}")),
            Err(_) => last = DenyReason::UpstreamConnect(format!("{addr}: timed out")),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| DenyReason::InvalidHost(format!("{host}: {e}")))?;
    let stream = match timeout(handshake_timeout, tls.connect(name, tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(tls_reason(&e)),
        Err(_) => return Err(DenyReason::UpstreamTimeout),
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(stream);
    let fail = |e: hyper::Error| DenyReason::UpstreamFailed(format!("HTTP handshake: {e}"));
    if h2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .map_err(fail)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream h2 connection ended");
            }
        });
        Ok(UpstreamSender::H2(sender))
    } else {
        let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(fail)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream h1 connection ended");
            }
        });
        Ok(UpstreamSender::H1(sender))
    }
}
