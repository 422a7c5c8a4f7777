//! One intercepted tunnel: vetting, the client-side TLS handshake and the HTTP exchange.
//!
//! Contract for each request: the `Host` must name the tunnel host; a placeholder goes nowhere
//! but its configured header; that header gets the owner's secret only when the tunnel host is
//! in the credential's host scope, and is removed otherwise (audited as withheld); every secret
//! is added to the registration's redaction set before the request leaves. For each response:
//! the status line carries the canonical reason phrase (never the upstream's), nothing of the
//! upstream's hyper extensions is kept, and headers, trailers and body are masked against the
//! whole registration's set.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use gigmcp_registry::egress::{EgressError, normalize_host};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Extensions, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Mutex;
use tokio::time::timeout;
use tokio_rustls::LazyConfigAcceptor;
use zeroize::Zeroizing;

use crate::audit::{AuditEvent, Decision, DenyReason, Entry};
use crate::body::{AuditGuard, CountingBody, ProxyBody, ResponseBody, text_body};
use crate::identity::SandboxIdentity;
use crate::proxy::{Inner, Refusal};
use crate::redact::RedactionSet;
use crate::upstream::{self, UpstreamSender};

/// Hop-by-hop and proxy headers never forwarded in either direction.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Normalises a client-supplied host (CONNECT target or SNI) or says why it is refused.
pub(crate) fn check_host(raw: &str) -> Result<String, DenyReason> {
    if raw.starts_with('[') {
        return Err(DenyReason::IpLiteral(raw.to_owned()));
    }
    normalize_host(raw).map_err(|e| match e {
        EgressError::IpLiteral(h) => DenyReason::IpLiteral(h),
        _ => DenyReason::InvalidHost(raw.to_owned()),
    })
}

/// A destination that passed the allowlist and the SSRF guard.
pub(crate) struct Vetted {
    pub(crate) host: String,
    pub(crate) addrs: Vec<SocketAddr>,
}

/// Allowlist, resolution and SSRF guard, in that order. Nothing is minted or connected here.
pub(crate) async fn vet(
    inner: &Inner,
    identity: &SandboxIdentity,
    host: &str,
    port: u16,
) -> Result<Vetted, DenyReason> {
    if !identity.egress.allows(host) {
        return Err(DenyReason::NotAllowlisted);
    }
    let lookup = timeout(
        inner.config.limits.connect_timeout,
        inner.resolver.lookup(host, port),
    );
    let ips = match lookup.await {
        Ok(Ok(ips)) => ips,
        Ok(Err(e)) => return Err(DenyReason::ResolveFailed(e.to_string())),
        Err(_) => return Err(DenyReason::ResolveFailed("timed out".into())),
    };
    if ips.is_empty() {
        return Err(DenyReason::ResolveFailed("no addresses".into()));
    }
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(ips.len());
    for ip in ips {
        inner
            .guard
            .check(ip)
            .map_err(|class| DenyReason::ForbiddenAddress { addr: ip, class })?;
        let sa = SocketAddr::new(ip.to_canonical(), port);
        if !addrs.contains(&sa) {
            addrs.push(sa);
        }
    }
    Ok(Vetted {
        host: host.to_owned(),
        addrs,
    })
}

/// HTTP status shown to the sandbox for a refusal.
pub(crate) fn status_for(reason: &DenyReason) -> StatusCode {
    use DenyReason as R;
    match reason {
        R::UnknownSource
        | R::IpLiteral(_)
        | R::PortNotAllowed(_)
        | R::NotAllowlisted
        | R::ForbiddenAddress { .. }
        | R::PlaceholderMisuse => StatusCode::FORBIDDEN,
        R::TooManyConnections { .. } => StatusCode::TOO_MANY_REQUESTS,
        R::HeaderTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        R::HeaderTimeout => StatusCode::REQUEST_TIMEOUT,
        R::Malformed(_)
        | R::InvalidHost(_)
        | R::NoSni
        | R::SniMismatch { .. }
        | R::ClientTls(_) => StatusCode::BAD_REQUEST,
        R::NotConnect(_) => StatusCode::METHOD_NOT_ALLOWED,
        R::HostMismatch { .. } => StatusCode::MISDIRECTED_REQUEST,
        R::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        R::ResolveFailed(_)
        | R::UpstreamConnect(_)
        | R::UpstreamCertificate(_)
        | R::UpstreamTls(_)
        | R::UpstreamFailed(_)
        | R::CredentialUnavailable(_) => StatusCode::BAD_GATEWAY,
    }
}

/// Shared per-connection activity clock for the idle timeout.
#[derive(Clone)]
struct Activity {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.origin.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// An I/O wrapper that records the time of the last successful read or write.
struct ActivityIo<T> {
    io: T,
    activity: Activity,
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(_))) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// An established tunnel: identity, vetted target and the upstream connection.
pub(crate) struct Tunnel {
    pub(crate) inner: Arc<Inner>,
    pub(crate) identity: Arc<SandboxIdentity>,
    /// The registration's redaction set: shared by all its tunnels.
    pub(crate) redactions: Arc<RedactionSet>,
    pub(crate) peer: IpAddr,
    pub(crate) entry: Entry,
    pub(crate) target: Vetted,
    /// Upstream port.
    pub(crate) port: u16,
    /// Port the sandbox believes it talks to (CONNECT port, or the transparent listener's).
    pub(crate) client_port: u16,
    pub(crate) upstream: Mutex<Option<UpstreamSender>>,
}

impl Tunnel {
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
        self.inner
            .deny(self.refusal(method, "", None, start), reason);
    }

    /// Opens the first upstream connection (before the client is told the tunnel is up).
    pub(crate) async fn connect_upstream(&self) -> Result<(), DenyReason> {
        let l = &self.inner.config.limits;
        let sender = upstream::connect(
            &self.inner.upstream_tls,
            &self.target.host,
            &self.target.addrs,
            l.connect_timeout,
            l.handshake_timeout,
        )
        .await?;
        *self.upstream.lock().await = Some(sender);
        Ok(())
    }

    /// Reads the ClientHello, checks SNI against the tunnel host, mints (or reuses) the leaf
    /// and serves HTTP until the connection ends or a timeout fires.
    pub(crate) async fn serve_tls<IO>(self: Arc<Self>, start: LazyStart<IO>, opened: Instant)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = &self.inner.config.limits;
        let cfg = match self.inner.leaves.get_or_mint(&self.target.host) {
            Ok(c) => c,
            Err(e) => {
                self.deny_tls(DenyReason::ClientTls(e.to_string()), opened);
                return;
            }
        };
        let tls = match timeout(limits.handshake_timeout, start.into_stream(cfg)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                self.deny_tls(DenyReason::ClientTls(e.to_string()), opened);
                return;
            }
            Err(_) => {
                self.deny_tls(DenyReason::ClientTls("handshake timed out".into()), opened);
                return;
            }
        };
        self.inner.counters.tunnels.fetch_add(1, Ordering::Relaxed);
        let activity = Activity::new();
        let io = ActivityIo {
            io: tls,
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

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        let start = Instant::now();
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let (req, withheld) = match self.prepare(req).await {
            Ok(r) => r,
            Err(reason) => return self.refuse(reason, &method, &path, start),
        };
        let up = Arc::new(AtomicU64::new(0));
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts, CountingBody::new(body, Arc::clone(&up)));
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let resp = match self.send(req).await {
            Ok(r) => r,
            Err(reason) => return self.refuse(reason, &method, &path, start),
        };
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts.version = Version::HTTP_11;
        // Nothing the upstream's client connection attached travels on: in particular not
        // `hyper::ext::ReasonPhrase`, so the status line gets the canonical reason phrase.
        parts.extensions = Extensions::new();
        // A registration with injection rules may be sent a secret at any moment (on this or
        // another tunnel): all its responses are masked against its set as it grows.
        let redactions =
            (!self.identity.injections.is_empty()).then(|| Arc::clone(&self.redactions));
        if let Some(set) = &redactions {
            set.redact_headers(&mut parts.headers);
        }
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
        let guard = AuditGuard::new(self.inner.audit.clone(), event, start, up);
        let body = ResponseBody::new(body, redactions, guard);
        Response::from_parts(parts, http_body_util::BodyExt::boxed(body))
    }

    fn refuse(
        &self,
        reason: DenyReason,
        method: &str,
        path: &str,
        start: Instant,
    ) -> Response<ProxyBody> {
        let status = status_for(&reason);
        let text = format!("gigmcp egress proxy: {reason}\n");
        self.inner.deny(
            self.refusal(method, path, Some(status.as_u16()), start),
            reason,
        );
        let mut resp = Response::new(text_body(text));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }

    /// Checks the Host, swaps placeholders for secrets (adding each to the registration's
    /// redaction set) and shapes the request for upstream. Returns the ids of credentials
    /// withheld because the tunnel host is outside their scope.
    async fn prepare(
        &self,
        req: Request<Incoming>,
    ) -> Result<(Request<Incoming>, Vec<String>), DenyReason> {
        let (mut parts, body) = req.into_parts();
        self.check_request_host(&parts.uri, &parts.headers)?;
        let injections = &self.identity.injections;
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        if injections.iter().any(|i| pq.contains(&i.placeholder)) {
            return Err(DenyReason::PlaceholderMisuse);
        }
        strip_hop_by_hop(&mut parts.headers);
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        let mut withheld: Vec<String> = Vec::new();
        let mut current: Option<HeaderName> = None;
        for (name, value) in std::mem::take(&mut parts.headers) {
            if let Some(n) = name {
                current = Some(n);
            }
            let Some(name) = current.clone() else {
                continue;
            };
            let bytes = value.as_bytes();
            let carries = |p: &str| contains(bytes, p.as_bytes());
            let value = match injections
                .iter()
                .find(|i| i.header == name && carries(&i.placeholder))
            {
                Some(inj) if !inj.may_send_to(&self.target.host) => {
                    // Allowlisted, but not a host this credential is for: the header goes
                    // nowhere, neither with the secret nor with the placeholder.
                    tracing::info!(credential = %inj.credential_id, host = %self.target.host,
                        "credential withheld: host outside its scope");
                    if !withheld.contains(&inj.credential_id) {
                        withheld.push(inj.credential_id.clone());
                    }
                    continue;
                }
                Some(inj) => {
                    let fetch = self
                        .inner
                        .credentials
                        .secret(&self.identity, &inj.credential_id);
                    let secret = match timeout(self.inner.config.limits.connect_timeout, fetch)
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return Err(DenyReason::CredentialUnavailable(e.to_string())),
                        Err(_) => {
                            return Err(DenyReason::CredentialUnavailable(
                                "vault timed out".into(),
                            ));
                        }
                    };
                    let rendered = inj.format.render(&secret);
                    let mut v = HeaderValue::from_str(&rendered).map_err(|_| {
                        DenyReason::CredentialUnavailable(format!(
                            "secret {:?} is not a valid header value",
                            inj.credential_id
                        ))
                    })?;
                    v.set_sensitive(true);
                    if !secret.is_empty() {
                        // Before the request leaves: an echo can only come after this.
                        self.remember(&inj.credential_id, &secret, &rendered)
                            .await?;
                    }
                    v
                }
                None if injections.iter().any(|i| carries(&i.placeholder)) => {
                    return Err(DenyReason::PlaceholderMisuse);
                }
                None => value,
            };
            headers.append(name, value);
        }
        if !injections.is_empty() {
            // Redaction needs to see the plain bytes of every response of this registration.
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        let authority = if self.port == 443 {
            self.target.host.clone()
        } else {
            format!("{}:{}", self.target.host, self.port)
        };
        headers.remove(header::HOST);
        parts.headers = headers;
        parts.uri = Uri::builder()
            .scheme("https")
            .authority(authority.as_str())
            .path_and_query(pq.as_str())
            .build()
            .map_err(|e| DenyReason::Malformed(format!("request target: {e}")))?;
        parts.headers.insert(
            header::HOST,
            HeaderValue::from_str(&authority)
                .map_err(|_| DenyReason::InvalidHost(authority.clone()))?,
        );
        Ok((Request::from_parts(parts, body), withheld))
    }

    /// Adds an injected secret to the registration's redaction set; a new one is compiled on
    /// the blocking pool (milliseconds, more for long secrets), never on an async worker.
    async fn remember(
        &self,
        credential_id: &str,
        secret: &str,
        rendered: &str,
    ) -> Result<(), DenyReason> {
        if self
            .redactions
            .contains(secret.as_bytes(), rendered.as_bytes())
        {
            return Ok(());
        }
        let set = Arc::clone(&self.redactions);
        let secret = Zeroizing::new(secret.as_bytes().to_vec());
        let rendered = Zeroizing::new(rendered.as_bytes().to_vec());
        let unavailable =
            |e: String| DenyReason::CredentialUnavailable(format!("secret {credential_id:?}: {e}"));
        tokio::task::spawn_blocking(move || set.insert(&secret, &rendered))
            .await
            .map_err(|e| unavailable(format!("masking its echoes could not be set up ({e})")))?
            .map_err(|e| unavailable(e.to_string()))
    }

    /// The request's Host (or absolute-form authority) must name the tunnel host and port.
    fn check_request_host(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), DenyReason> {
        let mismatch = |h: &str| DenyReason::HostMismatch { host: h.to_owned() };
        let host_header = headers
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let claimed = match (uri.authority().map(|a| a.as_str()), host_header) {
            (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err(mismatch(h)),
            (Some(a), _) => a,
            (None, Some(h)) => h,
            (None, None) => return Err(mismatch("")),
        };
        let (name, port) = match claimed.rsplit_once(':') {
            Some((n, p)) if !n.contains(':') => {
                (n, p.parse::<u16>().map_err(|_| mismatch(claimed))?)
            }
            _ => (claimed, 443),
        };
        match normalize_host(name) {
            Ok(n) if n == self.target.host && port == self.client_port => Ok(()),
            _ => Err(mismatch(claimed)),
        }
    }

    /// Sends on the tunnel's upstream connection, reconnecting (to the same vetted addresses)
    /// if the upstream closed it.
    async fn send(&self, mut req: Request<CountingBody>) -> Result<Response<Incoming>, DenyReason> {
        let limits = &self.inner.config.limits;
        let mut guard = self.upstream.lock().await;
        if guard.as_ref().is_none_or(UpstreamSender::is_closed) {
            *guard = None;
            let sender = upstream::connect(
                &self.inner.upstream_tls,
                &self.target.host,
                &self.target.addrs,
                limits.connect_timeout,
                limits.handshake_timeout,
            )
            .await?;
            *guard = Some(sender);
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

/// The ClientHello-read stage of a client TLS connection.
pub(crate) type LazyStart<IO> = tokio_rustls::StartHandshake<IO>;

/// Reads the client's ClientHello within the handshake timeout.
pub(crate) async fn read_client_hello<IO>(
    io: IO,
    limit: Duration,
) -> Result<LazyStart<IO>, DenyReason>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    match timeout(limit, acceptor).await {
        Ok(Ok(start)) => Ok(start),
        Ok(Err(e)) => Err(DenyReason::ClientTls(e.to_string())),
        Err(_) => Err(DenyReason::ClientTls(
            "ClientHello not received in time".into(),
        )),
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_checks() {
        assert_eq!(check_host("API.Example.com.").unwrap(), "api.example.com");
        assert!(matches!(
            check_host("127.0.0.1"),
            Err(DenyReason::IpLiteral(_))
        ));
        assert!(matches!(check_host("[::1]"), Err(DenyReason::IpLiteral(_))));
        assert!(matches!(
            check_host("0x7f.1"),
            Err(DenyReason::IpLiteral(_))
        ));
        assert!(matches!(check_host("a b"), Err(DenyReason::InvalidHost(_))));
    }

    #[test]
    fn strips_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("x-secret-hop, keep-alive"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }
}
