//! Tunnels to upstream hosts (T16): TCP to the egress proxy (`HTTPS_PROXY`), `CONNECT
//! host:443`, then TLS trusting the CA bundle in `SSL_CERT_FILE` plus the webpki roots.
//!
//! Contract: there is no direct path: without a proxy every connection fails with
//! [`ConnectError::NoProxy`]. Connecting (TCP, CONNECT, TLS handshake) is bounded by the
//! connect timeout. A CONNECT answered with anything but 2xx is [`ConnectError::Refused`]
//! carrying the proxy's status (403: the egress policy refused the host). The CONNECT answer's
//! head is read up to 16 KiB; bytes after it (before TLS) are a protocol error. TLS offers ALPN
//! `http/1.1` only.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Longest CONNECT answer head read.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Why no tunnel to a host could be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no egress proxy is configured (HTTPS_PROXY is not set): this server reaches the internet only through the gateway's egress proxy"
    )]
    NoProxy,
    #[error("the egress proxy answered CONNECT {host}:443 with {status} {reason}")]
    Refused {
        host: String,
        status: u16,
        reason: String,
    },
    #[error("cannot talk to the egress proxy at {addr}: {why}")]
    Proxy { addr: String, why: String },
    #[error("connecting to {host} took longer than {secs} s")]
    Timeout { host: String, secs: u64 },
    #[error("TLS with {host} failed: {why}")]
    Tls { host: String, why: String },
    #[error("`{0}` is not an https URL with a host name")]
    BadUri(String),
}

/// The proxy's `host:port`, from an `HTTPS_PROXY` value (`http://host:port[/]` or `host:port`).
pub fn parse_proxy(value: &str) -> Result<String, String> {
    let rest = value.trim();
    let rest = rest.strip_prefix("http://").unwrap_or(rest);
    if rest.contains("://") {
        return Err(format!(
            "HTTPS_PROXY `{value}`: only an http:// proxy (CONNECT) is supported"
        ));
    }
    let rest = rest.trim_end_matches('/');
    let authority = rest.rsplit('@').next().unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', ' ']) {
        return Err(format!("HTTPS_PROXY `{value}` is not `http://host:port`"));
    }
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").is_some_and(|(_, p)| digits(p)),
        None => authority.rsplit_once(':').is_some_and(|(_, p)| digits(p)),
    };
    Ok(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

/// The TLS client configuration: `ca_pem` (the `SSL_CERT_FILE` bundle) plus webpki roots.
pub fn tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("the CA bundle does not parse: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("the CA bundle holds an unusable certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the CA bundle holds no PEM certificate".into());
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS stream through the proxy, as hyper's connection pool wants it.
pub struct Tunnel(TlsStream<TcpStream>);

impl AsyncRead for Tunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connection for Tunnel {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Opens tunnels (see the module contract). Cheap to clone.
#[derive(Clone)]
pub struct Connector {
    proxy: Option<Arc<str>>,
    tls: TlsConnector,
    timeout: Duration,
}

impl Connector {
    pub fn new(proxy: Option<String>, tls: Arc<rustls::ClientConfig>, timeout: Duration) -> Self {
        Self {
            proxy: proxy.map(Arc::from),
            tls: TlsConnector::from(tls),
            timeout,
        }
    }

    /// A TLS stream to `host:443` through the proxy.
    pub async fn open(&self, host: &str) -> Result<Tunnel, ConnectError> {
        let proxy = self.proxy.clone().ok_or(ConnectError::NoProxy)?;
        let secs = self.timeout.as_secs();
        let work = async {
            let tcp = connect_through(&proxy, host).await?;
            let name = ServerName::try_from(host.to_owned())
                .map_err(|_| ConnectError::BadUri(host.to_owned()))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| ConnectError::Tls {
                    host: host.to_owned(),
                    why: e.to_string(),
                })?;
            Ok(Tunnel(tls))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(ConnectError::Timeout {
                    host: host.to_owned(),
                    secs,
                })
            })
    }
}

/// TCP to the proxy and a successful `CONNECT host:443`.
async fn connect_through(proxy: &str, host: &str) -> Result<TcpStream, ConnectError> {
    let io = |why: io::Error| ConnectError::Proxy {
        addr: proxy.to_owned(),
        why: why.to_string(),
    };
    let mut tcp = TcpStream::connect(proxy).await.map_err(io)?;
    tcp.set_nodelay(true).map_err(io)?;
    tcp.write_all(format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n").as_bytes())
        .await
        .map_err(io)?;
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let end = loop {
        let n = tcp.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(ConnectError::Proxy {
                addr: proxy.to_owned(),
                why: "it closed the connection during CONNECT".into(),
            });
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > MAX_CONNECT_HEAD {
            return Err(ConnectError::Proxy {
                addr: proxy.to_owned(),
                why: "its CONNECT answer is too long".into(),
            });
        }
    };
    let line = String::from_utf8_lossy(&head[..head.iter().position(|&b| b == b'\r').unwrap_or(0)])
        .into_owned();
    let mut words = line.splitn(3, ' ');
    let (version, status) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let status: u16 = match (version.starts_with("HTTP/1."), status.parse()) {
        (true, Ok(s)) => s,
        _ => {
            return Err(ConnectError::Proxy {
                addr: proxy.to_owned(),
                why: format!("its CONNECT answer is not HTTP: {line:?}"),
            });
        }
    };
    if !(200..300).contains(&status) {
        return Err(ConnectError::Refused {
            host: host.to_owned(),
            status,
            reason: words.next().unwrap_or("").to_owned(),
        });
    }
    if head.len() > end {
        return Err(ConnectError::Proxy {
            addr: proxy.to_owned(),
            why: "it sent data before the TLS handshake".into(),
        });
    }
    Ok(tcp)
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Tunnel>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = match (uri.scheme_str(), uri.host(), uri.port_u16()) {
                (Some("https"), Some(h), None | Some(443)) => h.to_owned(),
                _ => return Err(ConnectError::BadUri(uri.to_string())),
            };
            this.open(&host).await.map(TokioIo::new)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_values() {
        assert_eq!(
            parse_proxy("http://10.0.0.1:3128").unwrap(),
            "10.0.0.1:3128"
        );
        assert_eq!(
            parse_proxy("http://10.0.0.1:3128/").unwrap(),
            "10.0.0.1:3128"
        );
        assert_eq!(parse_proxy("proxy.local:8080").unwrap(), "proxy.local:8080");
        assert_eq!(parse_proxy("http://proxy.local").unwrap(), "proxy.local:80");
        assert_eq!(parse_proxy("http://[::1]:3128").unwrap(), "[::1]:3128");
        assert!(parse_proxy("https://p:1").is_err());
        assert!(parse_proxy("socks5://p:1").is_err());
        assert!(parse_proxy("").is_err());
    }

    #[test]
    fn tls_config_takes_webpki_roots_and_rejects_bad_bundles() {
        assert!(tls_config(None).is_ok());
        assert!(tls_config(Some(b"not pem")).is_err());
    }
}
