//! The streamable-HTTP MCP endpoint `/mcp/p/<slug>` (handshake-era revisions) and the router.
//!
//! Every request is authenticated first (401 before anything else happens, so a request
//! without the profile's token never starts a server), then checked against the transport
//! rules: `Origin`, `Content-Type`, `Accept`, body size, one JSON-RPC message per POST,
//! `Mcp-Session-Id` after `initialize`, `MCP-Protocol-Version`.

use crate::aggregate;
use crate::auth::{self, AuthError};
use crate::calls::CallContext;
use crate::config::GatewayConfig;
use crate::egress::Egress;
use crate::launch::Networked;
use crate::profiles::{ProfileCache, ProfileState};
use crate::replay::{StreamLog, parse_event_id};
use crate::session::{Session, Sessions};
use crate::supervisor::BackendEvent;
use crate::supervisor::{Supervisor, SupervisorConfig};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, Message, code};
use gigmcp_mcp::version;
use gigmcp_sandbox::{NetworkConfig, SandboxError, SandboxRuntime};
use gigmcp_store::{Profile, Store};
use gigmcp_vault::Keyring;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header a client resumes a stream with.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// Header carrying the negotiated protocol revision.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// JSON-RPC code for an unsupported protocol revision (2026-07-28 numbering; clients that
/// probe `server/discover` fall back to `initialize` on it when the list names a handshake revision).
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// Shared gateway state.
pub struct Inner {
    pub store: Store,
    pub profiles: ProfileCache,
    pub search: crate::meta::SearchCache,
    pub sessions: Sessions,
    pub supervisor: Arc<Supervisor>,
    pub config: GatewayConfig,
    /// Stateless calls waiting for their client's input.
    pub parked: crate::modern::ParkedCalls,
    /// Open `subscriptions/listen` streams.
    pub listeners: crate::modern::Listeners,
}

/// The gateway: cheap to clone.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("sandbox runtime unavailable: {0}")]
    Sandbox(#[from] SandboxError),
    #[error(
        "sandbox networking unavailable ({0}); it needs root (CAP_NET_ADMIN). Run as root, or set GIG_SANDBOX_NETWORK=off so that no server gets network egress"
    )]
    Network(SandboxError),
    #[error(transparent)]
    Egress(#[from] crate::egress::EgressError),
    #[error("image cache: {0}")]
    Images(gigmcp_oci::Error),
}

/// The image puller over the data dir's image cache (shared with `gigmcp server add --image`).
pub fn images_puller(config: &GatewayConfig) -> Result<gigmcp_oci::Puller, gigmcp_oci::Error> {
    let mut options = gigmcp_oci::PullOptions::new(config.data_dir.join("images"));
    options.client.insecure_hosts = config.insecure_registries.clone();
    options.progress = gigmcp_oci::Progress::Never;
    options.mount_points = crate::egress::MOUNT_POINTS.map(String::from).to_vec();
    gigmcp_oci::Puller::new(options)
}

impl Gateway {
    /// Builds the gateway on an open store and starts its idle reaper.
    /// `keyring` opens the credentials the egress proxy injects and entrusted servers receive.
    pub async fn start(
        config: GatewayConfig,
        store: Store,
        keyring: Arc<Keyring>,
    ) -> Result<Self, StartError> {
        let runtime = SandboxRuntime::new(config.sandbox.clone()).await?;
        let networked = match &config.network {
            None => None,
            Some(net) => {
                let mut cfg = config.sandbox.clone();
                // A second runtime: its own uids, cgroup and links.
                cfg.host_uid_base = config.sandbox.host_uid_base + config.sandbox.max_sandboxes;
                cfg.cgroup_name = format!("{}-net", config.sandbox.cgroup_name);
                cfg.network = Some(NetworkConfig {
                    pool: net.pool,
                    link_prefix: net.link_prefix.clone(),
                    allowed_tcp_ports: crate::egress::SANDBOX_PORTS.to_vec(),
                });
                let runtime = SandboxRuntime::new(cfg)
                    .await
                    .map_err(StartError::Network)?;
                let egress = Arc::new(
                    Egress::open(net.egress.clone(), store.clone(), keyring.clone()).await?,
                );
                Some(Networked {
                    runtime,
                    egress,
                    store: store.clone(),
                    keyring,
                })
            }
        };
        let images = Arc::new(images_puller(&config).map_err(StartError::Images)?);
        let supervisor = Arc::new(Supervisor::new(
            runtime,
            networked,
            images,
            SupervisorConfig {
                call_timeout: config.call_timeout,
                start_timeout: Duration::from_secs(30),
                max_line_bytes: config.max_body_bytes.max(16 * 1024 * 1024),
            },
        ));
        let inner = Arc::new(Inner {
            store,
            profiles: ProfileCache::new(Duration::from_secs(2), 10_000),
            search: Default::default(),
            sessions: Sessions::new(10_000, Duration::from_secs(3600)),
            supervisor,
            config,
            parked: Default::default(),
            listeners: Default::default(),
        });
        let mut events = inner.supervisor.subscribe();
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let Some(gw) = weak.upgrade() else { break };
                gw.listeners.deliver(&event);
                match event {
                    BackendEvent::ToolsChanged { profile } => {
                        let note =
                            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                        for session in gw.sessions.of_profile(profile) {
                            session.push(note.clone());
                        }
                    }
                    BackendEvent::Notify { profile, message } => {
                        for session in gw.sessions.of_profile(profile) {
                            session.push(message.clone());
                        }
                    }
                    BackendEvent::ResourceUpdated {
                        profile,
                        uri,
                        message,
                    } => {
                        for session in gw.sessions.of_profile(profile) {
                            if session.is_subscribed(&uri) {
                                session.push(message.clone());
                            }
                        }
                    }
                }
            }
        });
        let weak = Arc::downgrade(&inner);
        let idle = inner.config.idle_timeout;
        tokio::spawn(async move {
            let tick = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
            loop {
                tokio::time::sleep(tick).await;
                let Some(gw) = weak.upgrade() else { break };
                gw.supervisor.reap_idle(idle).await;
            }
        });
        Ok(Gateway(inner))
    }

    pub fn inner(&self) -> &Inner {
        &self.0
    }

    /// Stops every sandbox.
    pub async fn shutdown(&self) {
        self.0.supervisor.shutdown().await;
    }
}

/// The listener to serve the routes on: small MCP messages and SSE events go out at once
/// (`TCP_NODELAY`), instead of waiting on the peer's delayed ACK.
pub fn nodelay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    })
}

/// The HTTP routes.
pub fn router(gw: Gateway) -> Router {
    Router::new()
        .route(
            "/mcp/p/{slug}",
            get(get_stream).post(post_message).delete(delete_session),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(gw)
}

// ---------------------------------------------------------------------------------------------
// responses

fn rpc_error(status: StatusCode, id: Option<Id>, error: ErrorObject) -> Response {
    let body = Message::error(id, error).to_value().to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        None,
        ErrorObject::new(code::INVALID_REQUEST, message),
    )
}

fn unauthorized(err: &AuthError) -> Response {
    if let AuthError::Store(e) = err {
        tracing::error!(error = %e, "store unavailable during authentication");
        return rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            ErrorObject::new(
                code::INTERNAL_ERROR,
                "the gateway cannot check tokens right now; retry shortly",
            ),
        );
    }
    let mut resp = rpc_error(
        StatusCode::UNAUTHORIZED,
        None,
        ErrorObject::new(code::INVALID_REQUEST, err.to_string()),
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(err.challenge()),
    );
    resp
}

/// How the client wants a request answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reply {
    Json,
    Sse,
}

fn media_types(headers: &HeaderMap, name: header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

fn reply_kind(headers: &HeaderMap) -> Option<Reply> {
    let accept = media_types(headers, header::ACCEPT);
    if accept.is_empty() {
        return Some(Reply::Json);
    }
    let has = |m: &str| accept.iter().any(|a| a == m);
    if has("application/json") || has("application/*") || has("*/*") {
        Some(Reply::Json)
    } else if has("text/event-stream") {
        Some(Reply::Sse)
    } else {
        None
    }
}

fn message_response(kind: Reply, msg: Message, session: Option<&str>) -> Response {
    let mut resp = match kind {
        Reply::Json => (
            [(header::CONTENT_TYPE, "application/json")],
            msg.to_value().to_string(),
        )
            .into_response(),
        Reply::Sse => {
            let event = Event::default()
                .event("message")
                .data(msg.to_value().to_string());
            let stream = futures_util::stream::iter([Ok::<_, Infallible>(event)]);
            let mut r = Sse::new(stream).into_response();
            r.headers_mut()
                .insert("x-accel-buffering", HeaderValue::from_static("no"));
            r
        }
    };
    if let Some(id) = session
        && let Ok(v) = HeaderValue::from_str(id)
    {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// shared checks

/// Authentication and `Origin`; the common prelude of every method.
async fn admit(
    gw: &Inner,
    slug: &str,
    headers: &HeaderMap,
) -> Result<Arc<ProfileState>, Box<Response>> {
    let state = auth::authenticate(&gw.profiles, &gw.store, slug, headers)
        .await
        .map_err(|e| Box::new(unauthorized(&e)))?;
    check_origin(&gw.config, headers)?;
    Ok(state)
}

/// The host name of a `Host` header value (no port; IPv6 literals keep their brackets).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// DNS-rebinding protection: a gateway listening on loopback answers only requests addressed
/// to a loopback name (or to a host whose origin the operator allowed), so a web page whose
/// domain was re-pointed at 127.0.0.1 cannot talk to it.
fn check_host(config: &GatewayConfig, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if !config.listen.ip().is_loopback() {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = host_name(&host);
    let loopback = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
    let allowed = config.allowed_origins.iter().any(|o| {
        o.split_once("://")
            .is_some_and(|(_, authority)| host_name(authority) == name)
    });
    if loopback || allowed {
        return Ok(());
    }
    Err(Box::new(rpc_error(
        StatusCode::FORBIDDEN,
        None,
        ErrorObject::new(
            code::INVALID_REQUEST,
            format!(
                "Host {host:?} is not this gateway's: listening on loopback, it answers only \
                 localhost, 127.0.0.1 or [::1] (DNS-rebinding protection); an operator serving \
                 it under another name lists that origin in GIG_ALLOWED_ORIGINS"
            ),
        ),
    )))
}

fn check_origin(config: &GatewayConfig, headers: &HeaderMap) -> Result<(), Box<Response>> {
    check_host(config, headers)?;
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let own = !host.is_empty()
        && (origin == format!("http://{host}") || origin == format!("https://{host}"));
    if own || config.allowed_origins.contains(&origin) {
        return Ok(());
    }
    Err(Box::new(rpc_error(
        StatusCode::FORBIDDEN,
        None,
        ErrorObject::new(
            code::INVALID_REQUEST,
            format!(
                "origin {origin:?} is not allowed; an operator can allow it with GIG_ALLOWED_ORIGINS"
            ),
        ),
    )))
}

/// The session a non-initialize request names, checked against the profile and the
/// protocol revision header.
fn session_of(
    gw: &Inner,
    profile: &Profile,
    headers: &HeaderMap,
) -> Result<Arc<Session>, Box<Response>> {
    let Some(id) = headers.get(SESSION_HEADER) else {
        return Err(Box::new(bad_request(
            "missing Mcp-Session-Id header: send initialize first, then repeat the session id it returns on every request",
        )));
    };
    let id = id
        .to_str()
        .map_err(|_| Box::new(bad_request("Mcp-Session-Id must be visible ASCII")))?;
    let session = gw.sessions.get(id, profile.id).ok_or_else(|| {
        Box::new(rpc_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "session not found or expired: send initialize to start a new one",
            ),
        ))
    })?;
    if let Some(v) = headers.get(VERSION_HEADER) {
        let v = v.to_str().unwrap_or("");
        if !version::is_supported_legacy(v) {
            return Err(Box::new(bad_request(format!(
                "unsupported MCP-Protocol-Version {v:?}: this gateway speaks {}",
                version::LEGACY_VERSIONS.join(", ")
            ))));
        }
        // Any supported revision is accepted on a session (as the reference SDK servers
        // do); the negotiated one decides what the gateway sends.
    }
    Ok(session)
}

// ---------------------------------------------------------------------------------------------
// POST

async fn post_message(
    State(arc_gw): State<Gateway>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let gw = arc_gw.inner();
    let state = match admit(gw, &slug, &headers).await {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let profile = &state.profile;
    let content_types = media_types(&headers, header::CONTENT_TYPE);
    if content_types.first().map(String::as_str) != Some("application/json") {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "Content-Type must be application/json",
            ),
        );
    }
    let Some(kind) = reply_kind(&headers) else {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "Accept must include application/json or text/event-stream",
            ),
        );
    };
    let limit = gw.config.max_body_bytes;
    let too_large = || {
        rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            ErrorObject::new(
                code::INVALID_REQUEST,
                format!("request body exceeds the limit of {limit} bytes"),
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    let msg = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, None, e.to_error_object()),
    };
    match msg {
        msg if crate::modern::is_modern(&headers, &msg) => {
            crate::modern::handle(arc_gw.0.clone(), state.clone(), &headers, msg).await
        }
        Message::Request { id, method, params } if method == "initialize" => {
            initialize(gw, &state, kind, id, params).await
        }
        Message::Request { id, method, params } => {
            let session = match session_of(gw, profile, &headers) {
                Ok(s) => s,
                Err(resp) => return *resp,
            };
            if streams(&headers, &method) {
                return stream_call(arc_gw.0.clone(), state.clone(), session, id, method, params);
            }
            let ctx = CallContext {
                session: session.clone(),
                related: None,
                client_id: Some(id.clone()),
                inputs: None,
                redirect: None,
            };
            let reply = match aggregate::handle(gw, &state, &ctx, &method, params).await {
                Ok(result) => Message::response(id, result),
                Err(error) => Message::error(Some(id), error),
            };
            message_response(kind, reply, Some(&session.id))
        }
        Message::Notification { method, params } => {
            let session = match session_of(gw, profile, &headers) {
                Ok(s) => s,
                Err(resp) => return *resp,
            };
            if method == "notifications/cancelled" {
                cancel_call(&session, params.as_ref()).await;
            }
            StatusCode::ACCEPTED.into_response()
        }
        msg @ (Message::Response { .. } | Message::Error { .. }) => {
            let session = match session_of(gw, profile, &headers) {
                Ok(s) => s,
                Err(resp) => return *resp,
            };
            answer_backend(&session, msg).await;
            StatusCode::ACCEPTED.into_response()
        }
    }
}

/// Whether a request's answer comes as an SSE stream: for a tool call, when the client accepts
/// one. The stream carries what relates to the call first (progress, the server's requests to
/// the client), and it can be resumed with `Last-Event-ID`, so an answer is not lost with a
/// dropped connection.
fn streams(headers: &HeaderMap, method: &str) -> bool {
    method == "tools/call" && accepts(headers, "text/event-stream")
}

/// Whether the request's `Accept` names `media` exactly.
pub(crate) fn accepts(headers: &HeaderMap, media: &str) -> bool {
    media_types(headers, header::ACCEPT)
        .iter()
        .any(|m| m == media)
}

/// Answers a request on its own SSE stream: related messages (progress, the backend's
/// requests to this client) while it runs, then the response. A client that goes away does
/// not cancel the call (only `notifications/cancelled` does, as the spec says).
fn stream_call(
    gw: Arc<Inner>,
    state: Arc<ProfileState>,
    session: Arc<Session>,
    id: Id,
    method: String,
    params: Option<Value>,
) -> Response {
    let log = session.new_log('c');
    let session_id = session.id.clone();
    let ctx = CallContext {
        session,
        related: Some(log.clone()),
        client_id: Some(id.clone()),
        inputs: None,
        redirect: None,
    };
    let writer = log.clone();
    tokio::spawn(async move {
        let reply = match aggregate::handle(&gw, &state, &ctx, &method, params).await {
            Ok(result) => Message::response(id, result),
            Err(error) => Message::error(Some(id), error),
        };
        drop(ctx);
        writer.push(reply.to_value().to_string());
        writer.close();
    });
    let mut resp = sse_response(&log, None, None);
    if let Ok(v) = HeaderValue::from_str(&session_id) {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

/// An SSE response reading `log` after event `after` (from its priming event if `None`),
/// with a keep-alive comment every `keep_alive` of silence.
///
/// Written by hand rather than with axum's `Sse`: the priming event must carry an empty `data:`
/// line (so clients dispatch it and learn its id), which axum's encoder leaves out.
fn sse_response(
    log: &Arc<StreamLog>,
    after: Option<u64>,
    keep_alive: Option<Duration>,
) -> Response {
    let events = Box::pin(log.read(after));
    let tick = keep_alive.unwrap_or(Duration::from_secs(3600));
    let body = futures_util::stream::unfold(events, move |mut events| async move {
        let chunk = tokio::select! {
            e = events.next() => {
                let e = e?;
                if e.data.is_empty() {
                    // the priming event: an id to resume from, and how soon to come back
                    format!("id: {}\nretry: 1000\ndata: \n\n", e.id)
                } else {
                    format!("id: {}\nevent: message\ndata: {}\n\n", e.id, e.data)
                }
            }
            () = tokio::time::sleep(tick) => ":\n\n".to_string(),
        };
        Some((Ok::<_, Infallible>(chunk), events))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// A client's `notifications/cancelled`: the backend request its call became is cancelled and
/// the gateway stops waiting for it.
pub(crate) async fn cancel_call(session: &Session, params: Option<&Value>) {
    let Some(id) = params
        .and_then(|p| p.get("requestId"))
        .and_then(|v| serde_json::from_value::<Id>(v.clone()).ok())
    else {
        return;
    };
    let Some(handle) = session.take_call(&id) else {
        return; // finished already, or never ours
    };
    let reason = params
        .and_then(|p| p.get("reason"))
        .and_then(Value::as_str)
        .unwrap_or("cancelled by the client");
    if let Some(backend) = handle.backend.upgrade() {
        backend.cancel(handle.backend_id, reason).await;
    }
    handle.cancelled.notify_one();
}

/// A client's answer to a server's request, passed to where it is awaited.
async fn answer_backend(session: &Session, msg: Message) {
    let (id, outcome) = match msg {
        Message::Response { id, result } => (id, Ok(result)),
        Message::Error {
            id: Some(id),
            error,
        } => (id, Err(error)),
        _ => return,
    };
    let Some(to) = session.take_server_request(&id) else {
        tracing::debug!(%id, "a client answered a request the gateway does not know");
        return;
    };
    to.answer(outcome).await;
}

/// How long `initialize` waits for the profile's servers to start.
const INITIALIZE_WAIT: Duration = Duration::from_secs(5);

async fn initialize(
    gw: &Inner,
    state: &Arc<ProfileState>,
    kind: Reply,
    id: Id,
    params: Option<Value>,
) -> Response {
    let profile = &state.profile;
    let Some(requested) = params
        .as_ref()
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
    else {
        return message_response(
            kind,
            Message::error(
                Some(id),
                ErrorObject::new(
                    code::INVALID_PARAMS,
                    "initialize needs params.protocolVersion",
                ),
            ),
            None,
        );
    };
    let negotiated = version::negotiate(requested);
    let session = match gw.sessions.create(profile.id, negotiated) {
        Ok(s) => s,
        Err(e) => {
            return rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id),
                ErrorObject::new(code::INTERNAL_ERROR, e.to_string()),
            );
        }
    };
    session.set_client_capabilities(
        params
            .as_ref()
            .and_then(|p| p.get("capabilities"))
            .cloned()
            .unwrap_or(Value::Null),
    );
    // The profile's servers start now (the client's first list finds them up), and what they
    // declare decides the capabilities offered; one slow to start is left out of them.
    let backends = crate::surface::running_backends(gw, state, INITIALIZE_WAIT).await;
    let capabilities = crate::surface::capabilities(&backends);
    tracing::info!(profile = %profile.slug, version = negotiated, "session started");
    message_response(
        kind,
        Message::response(id, aggregate::initialize_result(negotiated, capabilities)),
        Some(&session.id),
    )
}

// ---------------------------------------------------------------------------------------------
// GET and DELETE

async fn get_stream(
    State(gw): State<Gateway>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let gw = gw.inner();
    let state = match admit(gw, &slug, &headers).await {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    if let Some(resp) = crate::modern::session_less(&headers) {
        return resp;
    }
    let profile = &state.profile;
    if !media_types(&headers, header::ACCEPT)
        .iter()
        .any(|m| m == "text/event-stream")
    {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "GET opens an event stream: Accept must include text/event-stream",
            ),
        );
    }
    let session = match session_of(gw, profile, &headers) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    // A client coming back after a dropped connection: everything after its last event.
    if let Some(last) = headers.get(LAST_EVENT_ID) {
        let resumed = last
            .to_str()
            .ok()
            .and_then(parse_event_id)
            .and_then(|(stream, seq)| Some((session.log(stream)?, seq)));
        let Some((log, seq)) = resumed else {
            return rpc_error(
                StatusCode::NOT_FOUND,
                None,
                ErrorObject::new(
                    code::INVALID_REQUEST,
                    "Last-Event-ID names no stream this session still keeps: open a new one (GET without it)",
                ),
            );
        };
        return sse_response(&log, Some(seq), Some(Duration::from_secs(15)));
    }
    let Some(log) = session.open_get_stream() else {
        return rpc_error(
            StatusCode::CONFLICT,
            None,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "this session already has an open GET stream",
            ),
        );
    };
    sse_response(&log, None, Some(Duration::from_secs(15)))
}

async fn delete_session(
    State(gw): State<Gateway>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let gw = gw.inner();
    let state = match admit(gw, &slug, &headers).await {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    if let Some(resp) = crate::modern::session_less(&headers) {
        return resp;
    }
    let profile = &state.profile;
    let session = match session_of(gw, profile, &headers) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    gw.sessions.remove(&session.id, profile.id);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("evil.example.com:80"), "evil.example.com");
    }
}
