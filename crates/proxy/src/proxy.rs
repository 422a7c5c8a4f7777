//! The proxy object the gateway owns, and its listeners: the crate's top.
//!
//! Contract: [`EgressProxy::new`] assembles the [`Shared`] state (upstream trust store, leaf
//! cache, SSRF guard, connection limiter) and binds nothing; each `bind_*`/`serve_*` starts one
//! listener on a sandbox's host-side address (a wildcard address is refused:
//! [`ProxyError::UnsafeBind`]) and hands each accepted connection to its entry point
//! (`connect`, `transparent`, `dns`). Nothing in the crate imports this module.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::audit::AuditSink;
use crate::ca::{CertificateAuthority, LeafCache};
use crate::config::ProxyConfig;
use crate::credentials::CredentialSource;
use crate::error::ProxyError;
use crate::identity::IdentityResolver;
use crate::limits::ConnLimiter;
use crate::resolver::Resolver;
use crate::ssrf::AddressGuard;
use crate::state::{Counters, MetricsSnapshot, Shared};

/// What the proxy needs from the gateway.
pub struct ProxyDeps {
    /// Interception CA (fresh per start, or reloaded from the vault).
    pub ca: Arc<CertificateAuthority>,
    /// Source address → sandbox.
    pub identities: Arc<dyn IdentityResolver>,
    /// Decrypts sealed secrets at request time.
    pub credentials: Arc<dyn CredentialSource>,
    /// Name resolution (use [`SystemResolver`](crate::resolver::SystemResolver) in production).
    pub resolver: Arc<dyn Resolver>,
    /// Where audit events go.
    pub audit: AuditSink,
}

/// A running listener; dropping it (or calling [`shutdown`](Self::shutdown)) stops accepting.
/// Connections already accepted run to completion or to their timeouts.
#[derive(Debug)]
pub struct ListenerHandle {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ListenerHandle {
    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The egress proxy. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct EgressProxy {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressProxy")
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl EgressProxy {
    /// Builds the proxy (upstream trust store, leaf cache). Binds nothing yet.
    pub fn new(config: ProxyConfig, deps: ProxyDeps) -> Result<Self, ProxyError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let client = crate::upstream::client_config(&config, Arc::clone(&provider))?;
        let leaves = LeafCache::new(
            Arc::clone(&deps.ca),
            provider,
            config.limits.max_cached_leaves,
        );
        Ok(Self {
            shared: Arc::new(Shared {
                guard: AddressGuard::new(config.allowed_ranges.clone()),
                limiter: ConnLimiter::new(config.limits.max_connections_per_identity),
                upstream_tls: TlsConnector::from(Arc::new(client)),
                leaves,
                identities: deps.identities,
                credentials: deps.credentials,
                resolver: deps.resolver,
                audit: deps.audit,
                counters: Counters::default(),
                ca: deps.ca,
                config,
            }),
        })
    }

    /// The CA certificate sandboxes must trust (write it to the fixed CA path).
    pub fn ca_pem(&self) -> &str {
        self.shared.ca.cert_pem()
    }

    /// The leaf cache (mint counters; benchmarks).
    pub fn leaves(&self) -> &LeafCache {
        &self.shared.leaves
    }

    /// Current counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics()
    }

    /// Binds the explicit `CONNECT` proxy on `addr` (a sandbox's host-side address).
    pub async fn bind_connect(&self, addr: SocketAddr) -> Result<ListenerHandle, ProxyError> {
        let listener = bind_tcp(addr, "CONNECT proxy").await?;
        self.serve_connect(listener)
    }

    /// Serves the explicit `CONNECT` proxy on an already bound listener.
    pub fn serve_connect(&self, listener: TcpListener) -> Result<ListenerHandle, ProxyError> {
        let shared = Arc::clone(&self.shared);
        serve_tcp(listener, move |stream, peer, local| {
            crate::connect::handle(Arc::clone(&shared), stream, peer, local)
        })
    }

    /// Binds the transparent TLS listener (host from SNI) on `addr`: the address the DNS
    /// responder hands out, usually port 443.
    pub async fn bind_transparent(&self, addr: SocketAddr) -> Result<ListenerHandle, ProxyError> {
        let listener = bind_tcp(addr, "transparent TLS listener").await?;
        self.serve_transparent(listener)
    }

    /// Serves the transparent TLS listener on an already bound listener.
    pub fn serve_transparent(&self, listener: TcpListener) -> Result<ListenerHandle, ProxyError> {
        let shared = Arc::clone(&self.shared);
        serve_tcp(listener, move |stream, peer, local| {
            crate::transparent::handle(Arc::clone(&shared), stream, peer, local)
        })
    }

    /// Binds the DNS responder on `addr` (UDP, usually port 53). Allowlisted names resolve to
    /// `answer` (the transparent listener's address); all others get NXDOMAIN.
    pub async fn bind_dns(
        &self,
        addr: SocketAddr,
        answer: IpAddr,
    ) -> Result<ListenerHandle, ProxyError> {
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|source| ProxyError::Io {
                what: format!("bind the DNS responder on {addr}"),
                source,
            })?;
        self.serve_dns(socket, answer)
    }

    /// Binds the DNS-over-TCP responder on `addr` (usually port 53), answering like
    /// [`bind_dns`](Self::bind_dns). Sandboxes resolve over TCP (`options use-vc`).
    pub async fn bind_dns_tcp(
        &self,
        addr: SocketAddr,
        answer: IpAddr,
    ) -> Result<ListenerHandle, ProxyError> {
        let listener = bind_tcp(addr, "DNS-over-TCP responder").await?;
        self.serve_dns_tcp(listener, answer)
    }

    /// Serves DNS over TCP on an already bound listener.
    pub fn serve_dns_tcp(
        &self,
        listener: TcpListener,
        answer: IpAddr,
    ) -> Result<ListenerHandle, ProxyError> {
        let shared = Arc::clone(&self.shared);
        serve_tcp(listener, move |stream, peer, _local| {
            crate::dns::serve_tcp_connection(Arc::clone(&shared), stream, peer, answer)
        })
    }

    /// Serves DNS on an already bound socket.
    pub fn serve_dns(
        &self,
        socket: UdpSocket,
        answer: IpAddr,
    ) -> Result<ListenerHandle, ProxyError> {
        let local_addr = socket.local_addr().map_err(|source| ProxyError::Io {
            what: "read the DNS socket address".into(),
            source,
        })?;
        check_bind(local_addr)?;
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(crate::dns::serve(shared, socket, answer));
        Ok(ListenerHandle { local_addr, task })
    }
}

fn check_bind(addr: SocketAddr) -> Result<(), ProxyError> {
    if addr.ip().is_unspecified() {
        return Err(ProxyError::UnsafeBind(addr));
    }
    Ok(())
}

async fn bind_tcp(addr: SocketAddr, what: &str) -> Result<TcpListener, ProxyError> {
    check_bind(addr)?;
    TcpListener::bind(addr)
        .await
        .map_err(|source| ProxyError::Io {
            what: format!("bind the {what} on {addr}"),
            source,
        })
}

fn serve_tcp<F, Fut>(listener: TcpListener, handler: F) -> Result<ListenerHandle, ProxyError>
where
    F: Fn(TcpStream, SocketAddr, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let local_addr = listener.local_addr().map_err(|source| ProxyError::Io {
        what: "read the listener address".into(),
        source,
    })?;
    check_bind(local_addr)?;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(local_addr);
                    tokio::spawn(handler(stream, peer, local));
                }
                Err(e) => {
                    // Out of descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok(ListenerHandle { local_addr, task })
}
