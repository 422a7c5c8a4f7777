//! Phase 8, **audit**: one event per upstream request (or per refused tunnel or DNS query), sent
//! over a bounded channel.
//!
//! Contract: the data path never waits on the audit consumer: events are offered with
//! `try_send`, and an event that does not fit is counted in [`AuditSink::dropped`] instead. A
//! forwarded request's event is emitted by its `AuditGuard` exactly once, when the response
//! body ends, fails or is dropped; refusals are emitted when they happen
//! (`Shared::deny`, `state.rs`).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use crate::ssrf::BlockedClass;

/// Receiving end of the audit channel; the gateway drains it into its log store.
pub type AuditReceiver = mpsc::Receiver<AuditEvent>;

/// Which listener a tunnel came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Explicit `CONNECT` proxy.
    Connect,
    /// Transparent TLS listener (host taken from SNI).
    Transparent,
    /// DNS responder.
    Dns,
}

/// Who made the request, from the identity table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSubject {
    pub server: String,
    pub profile: String,
    pub owner: String,
    /// The install runs in the entrusted tier (real secret in its environment).
    pub entrusted: bool,
}

/// Why a tunnel or request was refused. The `Display` text is the audit reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// The source address is not a live sandbox.
    UnknownSource,
    /// The sandbox already holds its maximum number of connections.
    TooManyConnections { limit: usize },
    /// The request head exceeded the size cap.
    HeaderTooLarge { limit: usize },
    /// The client did not send a complete request head in time.
    HeaderTimeout,
    /// The request head was not valid HTTP.
    Malformed(String),
    /// A method other than `CONNECT` was sent to the explicit proxy.
    NotConnect(String),
    /// The target was an IP literal; egress is granted to hostnames only.
    IpLiteral(String),
    /// The target was not a valid DNS name.
    InvalidHost(String),
    /// The port is not in the operator's allowed set.
    PortNotAllowed(u16),
    /// The host is not in the server's egress allowlist.
    NotAllowlisted,
    /// Name resolution failed.
    ResolveFailed(String),
    /// A resolved address is in a forbidden range.
    ForbiddenAddress { addr: IpAddr, class: BlockedClass },
    /// TCP connect to the upstream failed.
    UpstreamConnect(String),
    /// The upstream certificate did not verify.
    UpstreamCertificate(String),
    /// Another TLS failure toward the upstream.
    UpstreamTls(String),
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream failed while handling the request.
    UpstreamFailed(String),
    /// The client's ClientHello carried no SNI.
    NoSni,
    /// The SNI differs from the host the tunnel was opened for.
    SniMismatch { sni: String },
    /// The client's TLS handshake failed or timed out.
    ClientTls(String),
    /// The request's `Host` does not name the tunnel host (domain fronting).
    HostMismatch { host: String },
    /// A placeholder was sent somewhere other than its configured header.
    PlaceholderMisuse,
    /// The credential could not be obtained from the vault.
    CredentialUnavailable(String),
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSource => f.write_str("unknown source address: not a live sandbox"),
            Self::TooManyConnections { limit } => {
                write!(f, "too many connections from this sandbox (limit {limit})")
            }
            Self::HeaderTooLarge { limit } => {
                write!(f, "request head larger than {limit} bytes")
            }
            Self::HeaderTimeout => f.write_str("request head not received in time"),
            Self::Malformed(m) => write!(f, "malformed request: {m}"),
            Self::NotConnect(m) => write!(f, "method {m} refused: only CONNECT is accepted"),
            Self::IpLiteral(h) => write!(f, "IP literal {h} refused: egress is by hostname only"),
            Self::InvalidHost(h) => write!(f, "invalid hostname {h:?}"),
            Self::PortNotAllowed(p) => write!(f, "port {p} not allowed"),
            Self::NotAllowlisted => f.write_str("host not in the server's egress allowlist"),
            Self::ResolveFailed(e) => write!(f, "name resolution failed: {e}"),
            Self::ForbiddenAddress { addr, class } => {
                write!(f, "resolved address {addr} is {class}: refused")
            }
            Self::UpstreamConnect(e) => write!(f, "upstream connect failed: {e}"),
            Self::UpstreamCertificate(e) => write!(f, "upstream certificate invalid: {e}"),
            Self::UpstreamTls(e) => write!(f, "upstream TLS failed: {e}"),
            Self::UpstreamTimeout => f.write_str("upstream timed out"),
            Self::UpstreamFailed(e) => write!(f, "upstream request failed: {e}"),
            Self::NoSni => f.write_str("TLS ClientHello without SNI"),
            Self::SniMismatch { sni } => write!(f, "SNI {sni:?} does not match the tunnel host"),
            Self::ClientTls(e) => write!(f, "client TLS handshake failed: {e}"),
            Self::HostMismatch { host } => {
                write!(
                    f,
                    "Host {host:?} does not match the tunnel host (domain fronting)"
                )
            }
            Self::PlaceholderMisuse => {
                f.write_str("credential placeholder outside its configured header")
            }
            Self::CredentialUnavailable(e) => write!(f, "credential unavailable: {e}"),
        }
    }
}

/// Outcome recorded for a request or tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Forwarded, but without these credentials (ids): the host is allowlisted yet outside
    /// their host scope, so the header that carried each placeholder was removed (neither the
    /// secret nor the placeholder went out).
    Withheld {
        credentials: Vec<String>,
    },
    Denied(DenyReason),
}

impl Decision {
    /// The deny reason, if any.
    pub fn denied(&self) -> Option<&DenyReason> {
        match self {
            Self::Allowed | Self::Withheld { .. } => None,
            Self::Denied(r) => Some(r),
        }
    }

    /// The credentials withheld from a forwarded request (empty otherwise).
    pub fn withheld(&self) -> &[String] {
        match self {
            Self::Withheld { credentials } => credentials,
            Self::Allowed | Self::Denied(_) => &[],
        }
    }
}

/// One audited request (or refused tunnel).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub time: SystemTime,
    pub entry: Entry,
    pub peer: IpAddr,
    /// `None` when the source address is not a known sandbox.
    pub subject: Option<AuditSubject>,
    /// Target host (empty when it could not be determined, e.g. garbage instead of CONNECT).
    pub host: String,
    /// HTTP method (`CONNECT` for tunnel-level decisions, `DNS` for the resolver).
    pub method: String,
    /// Path without query string.
    pub path: String,
    pub decision: Decision,
    /// Status returned to the sandbox, if an HTTP status was produced.
    pub status: Option<u16>,
    /// Request body bytes sent upstream.
    pub bytes_up: u64,
    /// Response body bytes returned to the sandbox.
    pub bytes_down: u64,
    pub duration: Duration,
}

/// Bounded, non-blocking sender of audit events.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditEvent>,
    dropped: Arc<AtomicU64>,
}

impl AuditSink {
    /// A sink with room for `capacity` events (minimum 1) and its receiver.
    pub fn channel(capacity: usize) -> (Self, AuditReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Offers an event without waiting; counts it as dropped if the channel is full or closed.
    pub fn emit(&self, event: AuditEvent) {
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events lost because the consumer was too slow (or gone).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Emits one request's audit event exactly once: when the response body ends, fails, or is
/// dropped, with the bytes counted both ways and the time since the request arrived.
pub(crate) struct AuditGuard {
    sink: AuditSink,
    event: Option<AuditEvent>,
    start: Instant,
    up: Arc<AtomicU64>,
    down: u64,
}

impl AuditGuard {
    /// `up`: the request body's byte counter (shared with the body streaming upstream).
    pub(crate) fn new(
        sink: AuditSink,
        event: AuditEvent,
        start: Instant,
        up: Arc<AtomicU64>,
    ) -> Self {
        Self {
            sink,
            event: Some(event),
            start,
            up,
            down: 0,
        }
    }

    /// Counts `n` response body bytes returned to the sandbox.
    #[inline]
    pub(crate) fn count_down(&mut self, n: usize) {
        self.down += n as u64;
    }

    /// Emits the event (once; later calls do nothing).
    pub(crate) fn finish(&mut self) {
        if let Some(mut ev) = self.event.take() {
            ev.bytes_up = self.up.load(Ordering::Relaxed);
            ev.bytes_down = self.down;
            ev.duration = self.start.elapsed();
            self.sink.emit(ev);
        }
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            time: SystemTime::now(),
            entry: Entry::Connect,
            peer: IpAddr::from([127, 0, 0, 2]),
            subject: None,
            host: "a.example.com".into(),
            method: "CONNECT".into(),
            path: String::new(),
            decision: Decision::Denied(DenyReason::NotAllowlisted),
            status: Some(403),
            bytes_up: 0,
            bytes_down: 0,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn full_channel_counts_drops_without_blocking() {
        let (sink, mut rx) = AuditSink::channel(2);
        for _ in 0..5 {
            sink.emit(event());
        }
        assert_eq!(sink.dropped(), 3);
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
        drop(rx);
        sink.emit(event());
        assert_eq!(sink.dropped(), 4);
    }

    #[test]
    fn reasons_are_readable() {
        let r = DenyReason::ForbiddenAddress {
            addr: IpAddr::from([10, 0, 0, 1]),
            class: BlockedClass::Private,
        };
        assert_eq!(
            r.to_string(),
            "resolved address 10.0.0.1 is a private (RFC 1918) address: refused"
        );
    }
}
