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
