//! Errors of setting up the proxy or one of its listeners (never of a tunnel: those are
//! [`DenyReason`](crate::audit::DenyReason)s, audited and answered).
//!
//! A leaf: it imports nothing of the crate.

use std::net::SocketAddr;

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
