//! The handshake-era transport (revisions up to 2025-11-25): `initialize` opens a session, every
//! later request names it (`Mcp-Session-Id`) and the revision (`MCP-Protocol-Version`).
//!
//! - A tool call whose client accepts SSE is answered on its own stream, written first to a
//!   bounded log so the client can resume it (`GET` with `Last-Event-ID`); the call's progress
//!   and the server's requests to the client travel on it before the answer.
//! - The session's `GET` stream carries what belongs to no call (list changes, resource
//!   updates, log messages).
//! - A client's `notifications/cancelled` cancels its call at the server; its responses answer
//!   the server requests the gateway passed on to it.

use super::guard;
use super::reply::{self, HttpError, ReplyKind, SseOptions};
use crate::caller::{CallContext, Caller};
use crate::gateway::Gateway;
use crate::profiles::ProfileState;
use crate::replay::{StreamLog, parse_event_id};
use crate::router::{self, fanout};
use crate::session::Session;
use axum::response::{IntoResponse, Response};
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, Message, code};
use gigmcp_mcp::{header as mcp_header, method, version};
use gigmcp_store::Profile;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long `initialize` waits for the profile's servers to start.
const INITIALIZE_WAIT: Duration = Duration::from_secs(5);
/// A comment on an idle GET stream this often.
const GET_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A call's stream ends with its answer; no keep-alive needed.
const CALL_STREAM: SseOptions = SseOptions {
    resumable: true,
    keep_alive: Duration::from_secs(3600),
};
const GET_STREAM: SseOptions = SseOptions {
    resumable: true,
    keep_alive: GET_KEEP_ALIVE,
};

/// One POSTed message of the handshake era.
pub async fn post(
    gw: &Gateway,
    state: Arc<ProfileState>,
    headers: &HeaderMap,
    kind: ReplyKind,
    msg: Message,
) -> Result<Response, HttpError> {
    match msg {
        Message::Request { id, method, params } if method == method::INITIALIZE => {
            initialize(gw, &state, kind, id, params).await
        }
        Message::Request { id, method, params } => {
            let session = session_of(gw, &state.profile, headers)?;
            if method == method::TOOLS_CALL && guard::accepts(headers, "text/event-stream") {
                return Ok(stream_call(gw, state, session, id, method, params));
            }
            let ctx = CallContext::new(Caller::Session(session.clone()), Some(id.clone()), None);
            let reply = match gw.router().handle(&state, &ctx, &method, params).await {
                Ok(result) => Message::response(id, result),
                Err(error) => Message::error(Some(id), error),
            };
            Ok(reply::message(kind, reply, Some(&session.id)))
        }
        Message::Notification { method, params } => {
            let session = session_of(gw, &state.profile, headers)?;
            if method == method::CANCELLED {
                cancel_call(&session, params.as_ref()).await;
            }
            Ok(StatusCode::ACCEPTED.into_response())
        }
        msg @ (Message::Response { .. } | Message::Error { .. }) => {
            let session = session_of(gw, &state.profile, headers)?;
            answer_server(&session, msg).await;
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}

/// The session a non-initialize request names, checked against the profile and the
/// protocol revision header.
fn session_of(
    gw: &Gateway,
    profile: &Profile,
    headers: &HeaderMap,
) -> Result<Arc<Session>, HttpError> {
    let Some(id) = headers.get(mcp_header::SESSION_ID) else {
        return Err(HttpError::bad_request(
            "missing Mcp-Session-Id header: send initialize first, then repeat the session id it returns on every request",
        ));
    };
    let id = id
        .to_str()
        .map_err(|_| HttpError::bad_request("Mcp-Session-Id must be visible ASCII"))?;
    let session = gw.state().sessions.get(id, profile.id).ok_or_else(|| {
        HttpError::status(
            StatusCode::NOT_FOUND,
            "session not found or expired: send initialize to start a new one",
        )
    })?;
    if let Some(v) = headers.get(mcp_header::PROTOCOL_VERSION) {
        let v = v.to_str().unwrap_or("");
        if !version::is_handshake(v) {
            return Err(HttpError::bad_request(format!(
                "unsupported MCP-Protocol-Version {v:?}: this gateway speaks {}",
                version::HANDSHAKE_VERSIONS.join(", ")
            )));
        }
        // Any supported revision is accepted on a session (as the reference SDK servers
        // do); the negotiated one decides what the gateway sends.
    }
    Ok(session)
}

/// Answers a request on its own SSE stream: related messages (progress, the server's
/// requests to this client) while it runs, then the response. A client that goes away does
/// not cancel the call (only `notifications/cancelled` does, as the spec says).
fn stream_call(
    gw: &Gateway,
    state: Arc<ProfileState>,
    session: Arc<Session>,
    id: Id,
    method: String,
    params: Option<Value>,
) -> Response {
    let log = session.new_log('c');
    let session_id = session.id.clone();
    let ctx = CallContext::new(
        Caller::Session(session),
        Some(id.clone()),
        Some(log.clone()),
    );
    let writer = log.clone();
    let router = gw.router().clone();
    tokio::spawn(async move {
        let reply = match router.handle(&state, &ctx, &method, params).await {
            Ok(result) => Message::response(id, result),
            Err(error) => Message::error(Some(id), error),
        };
        drop(ctx);
        writer.push(reply.to_value().to_string());
        writer.close();
    });
    let mut resp = reply::sse(&log, None, CALL_STREAM, ());
    if let Ok(v) = http::HeaderValue::from_str(&session_id) {
        resp.headers_mut().insert(mcp_header::SESSION_ID, v);
    }
    resp
}

/// A client's `notifications/cancelled`: the server request its call became is cancelled and
/// the gateway stops waiting for it.
async fn cancel_call(session: &Session, params: Option<&Value>) {
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
    handle.cancel(reason).await;
}

/// A client's answer to a server's request, passed to where it is awaited.
async fn answer_server(session: &Session, msg: Message) {
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

async fn initialize(
    gw: &Gateway,
    state: &Arc<ProfileState>,
    kind: ReplyKind,
    id: Id,
    params: Option<Value>,
) -> Result<Response, HttpError> {
    let profile = &state.profile;
    let Some(requested) = params
        .as_ref()
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
    else {
        return Ok(reply::message(
            kind,
            Message::error(
                Some(id),
                ErrorObject::new(
                    code::INVALID_PARAMS,
                    "initialize needs params.protocolVersion",
                ),
            ),
            None,
        ));
    };
    let negotiated = version::negotiate(requested);
    let session = gw
        .state()
        .sessions
        .create(profile.id, negotiated)
        .map_err(|e| {
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id.clone()),
                ErrorObject::new(code::INTERNAL_ERROR, e.to_string()),
            )
        })?;
    session.set_client_capabilities(
        params
            .as_ref()
            .and_then(|p| p.get("capabilities"))
            .cloned()
            .unwrap_or(Value::Null),
    );
    // The profile's servers start now (the client's first list finds them up), and what they
    // declare decides the capabilities offered; one slow to start is left out of them.
    let backends = fanout::running_backends(gw.router(), state, INITIALIZE_WAIT).await;
    let capabilities = fanout::capabilities(&backends);
    tracing::info!(profile = %profile.slug, version = negotiated, "session started");
    Ok(reply::message(
        kind,
        Message::response(id, router::initialize_result(negotiated, capabilities)),
        Some(&session.id),
    ))
}

/// `GET`: the session's stream of messages that belong to no call, or, with `Last-Event-ID`,
/// any of its streams resumed after that event.
pub async fn get_stream(
    gw: &Gateway,
    state: &ProfileState,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    if !guard::accepts(headers, "text/event-stream") {
        return Err(HttpError::status(
            StatusCode::NOT_ACCEPTABLE,
            "GET opens an event stream: Accept must include text/event-stream",
        ));
    }
    let session = session_of(gw, &state.profile, headers)?;
    // A client coming back after a dropped connection: everything after its last event.
    if let Some(last) = headers.get(mcp_header::LAST_EVENT_ID) {
        let resumed: Option<(Arc<StreamLog>, u64)> = last
            .to_str()
            .ok()
            .and_then(parse_event_id)
            .and_then(|(stream, seq)| Some((session.log(stream)?, seq)));
        let Some((log, seq)) = resumed else {
            return Err(HttpError::status(
                StatusCode::NOT_FOUND,
                "Last-Event-ID names no stream this session still keeps: open a new one (GET without it)",
            ));
        };
        return Ok(reply::sse(&log, Some(seq), GET_STREAM, ()));
    }
    let Some(log) = session.open_get_stream() else {
        return Err(HttpError::status(
            StatusCode::CONFLICT,
            "this session already has an open GET stream",
        ));
    };
    Ok(reply::sse(&log, None, GET_STREAM, ()))
}

/// `DELETE`: ends the session.
pub async fn delete_session(
    gw: &Gateway,
    state: &ProfileState,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    let session = session_of(gw, &state.profile, headers)?;
    gw.state().sessions.remove(&session.id, state.profile.id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
