//! The proxy object the gateway owns, and its listeners.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::audit::{AuditEvent, AuditSink, Decision, DenyReason, Entry};
use crate::ca::{CertificateAuthority, LeafCache};
use crate::config::ProxyConfig;
use crate::credentials::CredentialSource;
use crate::identity::{IdentityResolver, SandboxIdentity};
use crate::limits::ConnLimiter;
use crate::resolver::Resolver;
use crate::ssrf::AddressGuard;

/// Setting up the proxy or a listener failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("upstream trust roots: {0}")]
    Roots(String),
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    #[error(
        "refusing to listen on {0}: bind the sandbox's host-side address, never a wildcard address reachable from outside the host"
    )]
    UnsafeBind(SocketAddr),
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// What the proxy needs from the gateway.
pub struct ProxyDeps {
    /// Interception CA (fresh per start, or reloaded from the vault).
    pub ca: Arc<CertificateAuthority>,
    /// Source address → sandbox.
    pub identities: Arc<dyn IdentityResolver>,
    /// Decrypts sealed secrets at request time.
    pub credentials: Arc<dyn CredentialSource>,
    /// Name resolution (use [`SystemResolver`](crate::SystemResolver) in production).
    pub resolver: Arc<dyn Resolver>,
    /// Where audit events go.
    pub audit: AuditSink,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tunnels: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) denied: AtomicU64,
}

/// A point-in-time copy of the proxy's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Leaf certificates minted since start.
    pub leaves_minted: u64,
    /// Tunnels that reused a cached leaf.
    pub leaf_cache_hits: u64,
    /// Tunnels fully established (upstream verified, client handshake done).
    pub tunnels: u64,
    /// Requests forwarded upstream.
    pub requests: u64,
    /// Tunnels, requests and DNS queries refused.
    pub denied: u64,
    /// Client connections currently open.
    pub connections_open: u64,
    /// Audit events dropped because the consumer lagged.
    pub audit_dropped: u64,
}

pub(crate) struct Inner {
    pub(crate) config: ProxyConfig,
    pub(crate) identities: Arc<dyn IdentityResolver>,
    pub(crate) credentials: Arc<dyn CredentialSource>,
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) audit: AuditSink,
    pub(crate) leaves: LeafCache,
    pub(crate) upstream_tls: TlsConnector,
    pub(crate) guard: AddressGuard,
    pub(crate) limiter: ConnLimiter,
    pub(crate) counters: Counters,
    ca: Arc<CertificateAuthority>,
}

/// Facts known about a refusal, turned into one audit event.
pub(crate) struct Refusal<'a> {
    pub(crate) entry: Entry,
    pub(crate) peer: IpAddr,
    pub(crate) identity: Option<&'a SandboxIdentity>,
    pub(crate) host: &'a str,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: Option<u16>,
    pub(crate) duration: Duration,
}

impl Inner {
    pub(crate) fn deny(&self, r: Refusal<'_>, reason: DenyReason) {
        self.counters.denied.fetch_add(1, Ordering::Relaxed);
        tracing::info!(peer = %r.peer, host = r.host, reason = %reason, "egress refused");
        self.audit.emit(AuditEvent {
            time: SystemTime::now(),
            entry: r.entry,
            peer: r.peer,
            subject: r.identity.map(SandboxIdentity::subject),
            host: r.host.to_owned(),
            method: r.method.to_owned(),
            path: r.path.to_owned(),
            decision: Decision::Denied(reason),
            status: r.status,
            bytes_up: 0,
            bytes_down: 0,
            duration: r.duration,
        });
    }
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
    inner: Arc<Inner>,
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
            inner: Arc::new(Inner {
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
        self.inner.ca.cert_pem()
    }

    /// The leaf cache (mint counters; benchmarks).
    pub fn leaves(&self) -> &LeafCache {
        &self.inner.leaves
    }

    /// Current counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let c = &self.inner.counters;
        MetricsSnapshot {
            leaves_minted: self.inner.leaves.minted(),
            leaf_cache_hits: self.inner.leaves.hits(),
            tunnels: c.tunnels.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            denied: c.denied.load(Ordering::Relaxed),
            connections_open: self.inner.limiter.open() as u64,
            audit_dropped: self.inner.audit.dropped(),
        }
    }

    /// Binds the explicit `CONNECT` proxy on `addr` (a sandbox's host-side address).
    pub async fn bind_connect(&self, addr: SocketAddr) -> Result<ListenerHandle, ProxyError> {
        let listener = bind_tcp(addr, "CONNECT proxy").await?;
        self.serve_connect(listener)
    }

    /// Serves the explicit `CONNECT` proxy on an already bound listener.
    pub fn serve_connect(&self, listener: TcpListener) -> Result<ListenerHandle, ProxyError> {
        let inner = Arc::clone(&self.inner);
        serve_tcp(listener, move |stream, peer, local| {
            crate::connect::handle(Arc::clone(&inner), stream, peer, local)
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
        let inner = Arc::clone(&self.inner);
        serve_tcp(listener, move |stream, peer, local| {
            crate::transparent::handle(Arc::clone(&inner), stream, peer, local)
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
        let inner = Arc::clone(&self.inner);
        serve_tcp(listener, move |stream, peer, _local| {
            crate::dns::serve_tcp_connection(Arc::clone(&inner), stream, peer, answer)
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
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(crate::dns::serve(inner, socket, answer));
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
