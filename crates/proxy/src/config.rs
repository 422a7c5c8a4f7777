//! Operator configuration of the proxy: limits, SSRF exceptions, upstream trust, ports.
//!
//! Plain data with safe defaults (`PortPolicy::Only([443])`, webpki roots, the timeouts in
//! [`Limits::default`]); read, never changed, once the proxy is built.

use std::time::Duration;

use crate::ssrf::Cidr;

/// Which upstream ports a tunnel may target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortPolicy {
    /// Only these ports (the default is `[443]`).
    Only(Vec<u16>),
    /// Any port (tests with ephemeral upstream ports).
    Any,
}

impl PortPolicy {
    pub fn allows(&self, port: u16) -> bool {
        match self {
            Self::Only(ports) => ports.contains(&port),
            Self::Any => true,
        }
    }
}

/// Resource limits; a slow or hostile sandbox cannot starve others.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent connections per sandbox (across all listeners).
    pub max_connections_per_identity: usize,
    /// Largest `CONNECT` request head, and the HTTP read buffer inside tunnels.
    pub max_header_bytes: usize,
    /// Time allowed to send a complete request head (slowloris guard).
    pub header_timeout: Duration,
    /// Time allowed for a TLS handshake (client or upstream side).
    pub handshake_timeout: Duration,
    /// Time allowed for name resolution plus the upstream TCP connect.
    pub connect_timeout: Duration,
    /// A tunnel with no traffic in either direction for this long is closed; also bounds the
    /// wait for an upstream response head.
    pub idle_timeout: Duration,
    /// Absolute lifetime of one client connection.
    pub total_timeout: Duration,
    /// Most leaves kept in the cache (the cache is emptied when full).
    pub max_cached_leaves: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections_per_identity: 64,
            max_header_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(15 * 60),
            max_cached_leaves: 10_000,
        }
    }
}

/// Everything the operator decides.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub limits: Limits,
    /// Ranges the SSRF guard lets through despite being private/loopback/etc.
    pub allowed_ranges: Vec<Cidr>,
    /// Extra PEM roots trusted for upstream certificates (in addition to the webpki roots).
    pub extra_roots_pem: Option<String>,
    /// Trust the Mozilla (webpki-roots) set for upstreams.
    pub use_webpki_roots: bool,
    /// Ports a `CONNECT` may target.
    pub ports: PortPolicy,
    /// Upstream port used on the transparent path (SNI carries no port).
    pub transparent_upstream_port: u16,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            allowed_ranges: Vec::new(),
            extra_roots_pem: None,
            use_webpki_roots: true,
            ports: PortPolicy::Only(vec![443]),
            transparent_upstream_port: 443,
        }
    }
}
