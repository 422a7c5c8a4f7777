//! The state every connection shares: configuration, CA and leaf cache, identity table,
//! credential source, resolver, SSRF guard, connection limiter, audit sink and counters.
//!
//! Contract: this is a leaf of the pipeline. It imports only the crate's plain types
//! (configuration, CA, identity, credentials, resolver, SSRF guard, limiter, audit) and none of
//! the phases; the entry points (`connect`, `transparent`, `dns`), the tunnel and the phase
//! modules depend on it, never the reverse. It is assembled once by `EgressProxy::new`
//! (`proxy.rs`) and never replaced afterwards (only its counters, caches and tables move).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio_rustls::TlsConnector;

use crate::audit::{AuditEvent, AuditSink, Decision, DenyReason, Entry};
use crate::ca::{CertificateAuthority, LeafCache};
use crate::config::ProxyConfig;
use crate::credentials::CredentialSource;
use crate::identity::{IdentityResolver, SandboxIdentity};
use crate::limits::ConnLimiter;
use crate::resolver::Resolver;
use crate::ssrf::AddressGuard;

/// The proxy's running counters (read through [`Shared::metrics`]).
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

/// Everything the listeners and tunnels of one `EgressProxy` share.
pub(crate) struct Shared {
    pub(crate) config: ProxyConfig,
    /// The interception CA (its certificate is what sandboxes trust).
    pub(crate) ca: Arc<CertificateAuthority>,
    /// Source address → registration.
    pub(crate) identities: Arc<dyn IdentityResolver>,
    /// Real secrets, fetched at the moment of the request.
    pub(crate) credentials: Arc<dyn CredentialSource>,
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) audit: AuditSink,
    /// One ready TLS server configuration per intercepted host.
    pub(crate) leaves: LeafCache,
    /// Verifies upstream certificates (webpki roots + the operator's bundle).
    pub(crate) upstream_tls: TlsConnector,
    pub(crate) guard: AddressGuard,
    pub(crate) limiter: ConnLimiter,
    pub(crate) counters: Counters,
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

impl Shared {
    /// Counts, logs and audits a refusal (of a tunnel, a request or a DNS query).
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

    /// Current counters.
    pub(crate) fn metrics(&self) -> MetricsSnapshot {
        let c = &self.counters;
        MetricsSnapshot {
            leaves_minted: self.leaves.minted(),
            leaf_cache_hits: self.leaves.hits(),
            tunnels: c.tunnels.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            denied: c.denied.load(Ordering::Relaxed),
            connections_open: self.limiter.open() as u64,
            audit_dropped: self.audit.dropped(),
        }
    }
}
