//! One intercepted tunnel, from its vetted destination to the last response: the phases both
//! entry points share once they have identified, admitted and vetted the caller.
//!
//! * [`Tunnel::open`], phase 4: **connect upstream** to the vetted addresses only (never
//!   re-resolving) and verify the upstream certificate ([`upstream`]), before the sandbox is
//!   told anything.
//! * [`Tunnel::serve_tls`], phase 5: **mint or reuse the leaf** and complete the sandbox's
//!   handshake ([`client_tls`]), then serve HTTP/1.1 keep-alive on the decrypted stream until it
//!   ends, idles out ([`idle`](crate::idle)) or reaches its lifetime.
//! * per request ([`Tunnel::handle`]): the **request filter** ([`request`], with the swap in
//!   [`swap`](crate::swap)) → send on the tunnel's upstream connection (reconnecting to the same
//!   vetted addresses if the upstream closed it) → the **response filter** ([`response`]) → the
//!   body masked as it streams ([`body`](crate::body)) → one **audit** event when it ends.
//!
//! Contract for each request: the `Host` must name the tunnel host; a placeholder goes nowhere
//! but its configured header; that header gets the owner's secret only when the tunnel host is
//! in the credential's host scope, and is removed otherwise (audited as withheld); every secret
//! is added to the registration's redaction set before the request leaves. For each response:
//! the status line carries the canonical reason phrase (never the upstream's), nothing of the
//! upstream's hyper extensions is kept, and headers, trailers and body are masked against the
//! whole registration's set.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::header;
use http::{Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;
use tokio::time::timeout;

use crate::audit::{AuditEvent, AuditGuard, Decision, DenyReason, Entry};
use crate::body::{CountingBody, ProxyBody, ResponseBody};
use crate::client_tls::{self, LazyStart};
use crate::identity::{Registration, SandboxIdentity};
use crate::idle::{Activity, ActivityIo};
use crate::redact::RedactionSet;
use crate::request::{self, Route};
use crate::response::{self, status_for};
use crate::state::{Refusal, Shared};
use crate::upstream::{self, UpstreamSender};
use crate::vet::Vetted;

/// An established tunnel: identity, vetted target and the upstream connection.
pub(crate) struct Tunnel {
    shared: Arc<Shared>,
    identity: Arc<SandboxIdentity>,
    /// The registration's redaction set: shared by all its tunnels.
    redactions: Arc<RedactionSet>,
    peer: IpAddr,
    entry: Entry,
    pub(crate) target: Vetted,
    /// Port the sandbox believes it talks to (CONNECT port, or the transparent listener's).
    client_port: u16,
    upstream: Mutex<Option<UpstreamSender>>,
}

/// Connects to the vetted addresses and verifies the upstream certificate.
async fn dial(shared: &Shared, target: &Vetted) -> Result<UpstreamSender, DenyReason> {
    let limits = &shared.config.limits;
    upstream::connect(
        &shared.upstream_tls,
        &target.host,
        &target.addrs,
        limits.connect_timeout,
        limits.handshake_timeout,
    )
    .await
}

impl Tunnel {
    /// Phase 4: opens the first upstream connection (before the sandbox is told the tunnel is
    /// up) for a registration and its vetted target.
    pub(crate) async fn open(
        shared: &Arc<Shared>,
        registration: &Registration,
        entry: Entry,
        peer: IpAddr,
        target: Vetted,
        client_port: u16,
    ) -> Result<Arc<Self>, DenyReason> {
        let sender = dial(shared, &target).await?;
        Ok(Arc::new(Self {
            shared: Arc::clone(shared),
            identity: Arc::clone(&registration.identity),
            redactions: Arc::clone(&registration.redactions),
            peer,
            entry,
            target,
            client_port,
            upstream: Mutex::new(Some(sender)),
        }))
    }

    fn refusal<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        status: Option<u16>,
        start: Instant,
    ) -> Refusal<'a> {
        Refusal {
            entry: self.entry,
            peer: self.peer,
            identity: Some(&self.identity),
            host: &self.target.host,
            method,
            path,
            status,
            duration: start.elapsed(),
        }
    }

    /// Tunnel-level refusal (TLS stage), audited without an HTTP status.
    pub(crate) fn deny_tls(&self, reason: DenyReason, start: Instant) {
        let method = if self.entry == Entry::Transparent {
            "TLS"
        } else {
            "CONNECT"
        };
        self.shared
            .deny(self.refusal(method, "", None, start), reason);
    }

    /// Phase 5: mints (or reuses) the leaf for the tunnel host, completes the sandbox's
    /// handshake and serves HTTP until the connection ends or a timeout fires. The caller has
    /// read the ClientHello and checked its SNI.
    pub(crate) async fn serve_tls<IO>(self: Arc<Self>, start: LazyStart<IO>, opened: Instant)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = &self.shared.config.limits;
        let accepted = client_tls::accept(
            &self.shared.leaves,
            start,
            &self.target.host,
            limits.handshake_timeout,
        )
        .await;
        let tls = match accepted {
            Ok(s) => s,
            Err(reason) => return self.deny_tls(reason, opened),
        };
        self.shared.counters.tunnels.fetch_add(1, Ordering::Relaxed);
        self.serve_http(tls).await;
    }

    /// HTTP/1.1 keep-alive on the decrypted stream, one request at a time through
    /// [`handle`](Self::handle), closed after `idle_timeout` without traffic.
    async fn serve_http<IO>(self: Arc<Self>, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = &self.shared.config.limits;
        let activity = Activity::new();
        let io = ActivityIo {
            io,
            activity: activity.clone(),
        };
        let tunnel = Arc::clone(&self);
        let svc = service_fn(move |req| {
            let t = Arc::clone(&tunnel);
            async move { Ok::<_, Infallible>(t.handle(req).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192))
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        let idle = limits.idle_timeout;
        let tick = (idle / 4).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, host = %self.target.host, "tunnel ended");
                    }
                    break;
                }
                () = tokio::time::sleep(tick) => {
                    if activity.idle_for() >= idle {
                        tracing::debug!(host = %self.target.host, "tunnel idle, closing");
                        break;
                    }
                }
            }
        }
    }

    /// One request, through the per-request phases.
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        let start = Instant::now();
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        // Request filter: Host, placeholders, hop-by-hop, the swap.
        let route = Route {
            host: &self.target.host,
            port: self.target.port,
            client_port: self.client_port,
        };
        let filtered =
            request::filter(&self.shared, &self.identity, &self.redactions, &route, req).await;
        let (req, withheld) = match filtered {
            Ok(r) => r,
            Err(reason) => return self.refuse(reason, &method, &path, start),
        };
        let up = Arc::new(AtomicU64::new(0));
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts, CountingBody::new(body, Arc::clone(&up)));
        self.shared
            .counters
            .requests
            .fetch_add(1, Ordering::Relaxed);
        let resp = match self.send(req).await {
            Ok(r) => r,
            Err(reason) => return self.refuse(reason, &method, &path, start),
        };
        // Response filter. A registration with injection rules may be sent a secret at any
        // moment (on this or another tunnel): all its responses are masked against its set as
        // it grows.
        let (mut parts, body) = resp.into_parts();
        let redactions =
            (!self.identity.injections.is_empty()).then(|| Arc::clone(&self.redactions));
        response::filter(&mut parts, redactions.as_deref());
        // Audit, when the body ends.
        let decision = if withheld.is_empty() {
            Decision::Allowed
        } else {
            Decision::Withheld {
                credentials: withheld,
            }
        };
        let event = AuditEvent {
            time: SystemTime::now(),
            entry: self.entry,
            peer: self.peer,
            subject: Some(self.identity.subject()),
            host: self.target.host.clone(),
            method,
            path,
            decision,
            status: Some(parts.status.as_u16()),
            bytes_up: 0,
            bytes_down: 0,
            duration: Duration::ZERO,
        };
        let guard = AuditGuard::new(self.shared.audit.clone(), event, start, up);
        let body = ResponseBody::new(body, redactions, guard);
        Response::from_parts(parts, body.boxed())
    }

    /// Answers a refused request with its status and audits the refusal.
    fn refuse(
        &self,
        reason: DenyReason,
        method: &str,
        path: &str,
        start: Instant,
    ) -> Response<ProxyBody> {
        let status = status_for(&reason);
        let page = response::refusal_page(status, &reason);
        self.shared.deny(
            self.refusal(method, path, Some(status.as_u16()), start),
            reason,
        );
        page
    }

    /// Sends on the tunnel's upstream connection, reconnecting (to the same vetted addresses)
    /// if the upstream closed it.
    async fn send(&self, mut req: Request<CountingBody>) -> Result<Response<Incoming>, DenyReason> {
        let limits = &self.shared.config.limits;
        let mut guard = self.upstream.lock().await;
        if guard.as_ref().is_none_or(UpstreamSender::is_closed) {
            *guard = None;
            *guard = Some(dial(&self.shared, &self.target).await?);
        }
        let Some(sender) = guard.as_mut() else {
            return Err(DenyReason::UpstreamFailed("no upstream connection".into()));
        };
        if sender.is_h2() {
            *req.version_mut() = Version::HTTP_2;
            req.headers_mut().remove(header::HOST);
        } else {
            *req.version_mut() = Version::HTTP_11;
            let pq = req.uri().path_and_query().cloned();
            *req.uri_mut() =
                Uri::from(pq.unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")));
        }
        let result = if let UpstreamSender::H2(s) = sender {
            // HTTP/2 multiplexes: release the lock so concurrent requests proceed.
            let mut shared = UpstreamSender::H2(s.clone());
            drop(guard);
            timeout(limits.idle_timeout, upstream::send(&mut shared, req)).await
        } else {
            timeout(limits.idle_timeout, upstream::send(sender, req)).await
        };
        match result {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(DenyReason::UpstreamFailed(e.to_string())),
            Err(_) => Err(DenyReason::UpstreamTimeout),
        }
    }
}
