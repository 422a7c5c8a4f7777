//! The stateless transport (revision 2026-07-28) on `/mcp/p/<slug>`.
//!
//! No `initialize`, no session: every POST is one request carrying in `_meta` the protocol
//! version and the client's capabilities, with `MCP-Protocol-Version`, `Mcp-Method` and (for
//! tools/call, resources/read, prompts/get) `Mcp-Name` headers that must agree with the body.
//! Nothing is kept between requests, so any replica of the gateway can answer any of them
//! (except the retry of a call parked for a handshake-era server's question: [`parked`]).
//! Results carry `resultType` and the server's info; list results carry cache hints. A tool
//! call streamed as SSE carries only its own notifications (progress), and closing that stream
//! cancels the call at the backend. `subscriptions/listen` streams are in [`listen`].

pub mod listen;
pub mod parked;

use super::guard;
use super::reply::{self, HttpError, StreamHold};
use crate::caller::{CallContext, Caller, StatelessCaller};
use crate::gateway::Gateway;
use crate::naming::INSTRUCTIONS;
use crate::profiles::ProfileState;
use crate::replay::StreamLog;
use crate::router::{self, fanout, tools};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, Message, code};
use gigmcp_mcp::view::{COMPLETE, INPUT_REQUIRED, RequestMeta, ToolCall};
use gigmcp_mcp::{header as mcp_header, meta, method, version};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use parked::Interactive;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a client may reuse a list result (the gateway's lists follow its servers, which
/// can change at any time: no reuse).
const LIST_TTL_MS: u64 = 0;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a POST speaks the stateless revision: it names no session and carries a stateless
/// revision in its header or `_meta`, or it is `server/discover`.
pub fn is_stateless(headers: &HeaderMap, msg: &Message) -> bool {
    if headers.contains_key(mcp_header::SESSION_ID) {
        return false;
    }
    if header(headers, mcp_header::PROTOCOL_VERSION).is_some_and(version::is_stateless) {
        return true;
    }
    match msg {
        Message::Request { method, params, .. } => {
            method == method::SERVER_DISCOVER
                || RequestMeta::of(params.as_ref())
                    .protocol_version()
                    .is_some()
        }
        _ => false,
    }
}

fn mismatch(id: &Id, why: String) -> HttpError {
    HttpError::new(
        StatusCode::BAD_REQUEST,
        Some(id.clone()),
        ErrorObject::new(code::HEADER_MISMATCH, why),
    )
}

/// `=?base64?…?=` header values carry what plain ASCII cannot.
fn decode_header_value(v: &str) -> Option<String> {
    match v
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_owned()),
    }
}

/// Checks the version, the `_meta` envelope and the routing headers against the body.
fn check_headers(
    headers: &HeaderMap,
    id: &Id,
    method: &str,
    params: Option<&Value>,
) -> Result<(), HttpError> {
    let requested = header(headers, mcp_header::PROTOCOL_VERSION).unwrap_or("");
    let meta = RequestMeta::of(params);
    if !version::is_stateless(requested) {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            Some(id.clone()),
            ErrorObject::new(
                code::UNSUPPORTED_PROTOCOL_VERSION,
                format!(
                    "unsupported protocol version {requested:?}: this gateway speaks {} without a \
                     session, and {} after initialize",
                    version::STATELESS_VERSIONS.join(", "),
                    version::HANDSHAKE_VERSIONS.join(", ")
                ),
            )
            // what server/discover would list: the revisions spoken without a session
            .with_data(json!({ "supported": version::STATELESS_VERSIONS, "requested": requested })),
        ));
    }
    let meta_version = meta.protocol_version();
    if meta_version.is_none() || !meta.client_capabilities().is_some_and(Value::is_object) {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            Some(id.clone()),
            ErrorObject::new(
                code::INVALID_PARAMS,
                format!(
                    "params._meta must carry {} and {} (an object) on every request of the \
                     stateless revision",
                    meta::PROTOCOL_VERSION,
                    meta::CLIENT_CAPABILITIES
                ),
            ),
        ));
    }
    if let Some(v) = meta_version
        && v != requested
    {
        return Err(mismatch(
            id,
            format!(
                "MCP-Protocol-Version {requested:?} differs from _meta {} {v:?}",
                meta::PROTOCOL_VERSION
            ),
        ));
    }
    match header(headers, mcp_header::METHOD) {
        Some(m) if m == method => {}
        Some(m) => {
            return Err(mismatch(
                id,
                format!("Mcp-Method {m:?} differs from the body's method {method:?}"),
            ));
        }
        None => return Err(mismatch(id, "the Mcp-Method header is required".into())),
    }
    let named = match method {
        method::TOOLS_CALL | method::PROMPTS_GET => params.and_then(|p| p.get("name")),
        method::RESOURCES_READ => params.and_then(|p| p.get("uri")),
        _ => None,
    }
    .and_then(Value::as_str);
    if let Some(name) = named {
        let given = header(headers, mcp_header::NAME).and_then(decode_header_value);
        if given.as_deref() != Some(name) {
            return Err(mismatch(
                id,
                format!("the Mcp-Name header must be {name:?} (the body's name or uri)"),
            ));
        }
    }
    Ok(())
}

/// Adds what every result of this revision carries, and cache hints on the cacheable ones.
fn decorate(method: &str, result: &mut Value) {
    let Some(obj) = result.as_object_mut() else {
        return;
    };
    obj.entry("resultType").or_insert_with(|| json!(COMPLETE));
    let meta = obj
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(meta::SERVER_INFO.into(), router::server_info());
    }
    let interim = obj.get("resultType").and_then(Value::as_str) == Some(INPUT_REQUIRED);
    if !interim && method::LISTS.contains(&method) {
        obj.entry("ttlMs").or_insert_with(|| json!(LIST_TTL_MS));
        // A profile's lists depend on its owner's choices: never shared across users.
        obj.insert("cacheScope".into(), json!("private"));
    }
}

async fn discover(gw: &Gateway, state: &Arc<ProfileState>) -> Value {
    let backends = fanout::running_backends(gw.router(), state, Duration::from_secs(5)).await;
    let mut caps = fanout::capabilities(&backends);
    // Logging is set per request (`_meta` logLevel) in this revision.
    if let Some(c) = caps.as_object_mut() {
        c.remove("logging");
    }
    json!({
        "supportedVersions": version::STATELESS_VERSIONS,
        "capabilities": caps,
        "instructions": INSTRUCTIONS,
    })
}

/// GET and DELETE belong to sessions, which the stateless revision does not have.
pub fn session_less(headers: &HeaderMap) -> Option<HttpError> {
    let stateless = !headers.contains_key(mcp_header::SESSION_ID)
        && header(headers, mcp_header::PROTOCOL_VERSION).is_some_and(version::is_stateless);
    stateless.then(|| {
        HttpError::status(
            StatusCode::METHOD_NOT_ALLOWED,
            "the stateless revision has no GET stream or session to delete: POST requests only",
        )
        .with_header(header::ALLOW, HeaderValue::from_static("POST"))
    })
}

/// Answers one stateless POST.
pub async fn handle(
    gw: &Gateway,
    state: Arc<ProfileState>,
    headers: &HeaderMap,
    msg: Message,
) -> Result<Response, HttpError> {
    let (id, method, params) = match msg {
        Message::Request { id, method, params } => (id, method, params),
        // Cancellation is closing the response stream; other notifications need no answer.
        Message::Notification { .. } => return Ok(StatusCode::ACCEPTED.into_response()),
        Message::Response { .. } | Message::Error { .. } => {
            return Err(HttpError::bad_request(
                "clients of the stateless revision never send responses; answer an \
                 InputRequiredResult by retrying the request with inputResponses",
            ));
        }
    };
    check_headers(headers, &id, &method, params.as_ref())?;
    if method == method::INITIALIZE || method::REMOVED_IN_STATELESS.contains(&method.as_str()) {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            Some(id),
            ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!(
                    "{method} is not part of the stateless revision {}",
                    version::STATELESS_VERSION
                ),
            ),
        ));
    }
    if method == method::SERVER_DISCOVER {
        let mut result = discover(gw, &state).await;
        decorate(&method, &mut result);
        return Ok(reply::json(Message::response(id, result)));
    }
    if method == method::SUBSCRIPTIONS_LISTEN {
        let router = gw.router();
        return Ok(listen::listen(router, &gw.state().listeners, &state, id, params).await);
    }
    if method == method::TOOLS_CALL {
        check_param_headers(gw, &state, headers, &id, params.as_ref()).await?;
    }
    let capabilities = RequestMeta::of(params.as_ref())
        .client_capabilities()
        .cloned()
        .unwrap_or(Value::Null);
    if method::INTERACTIVE.contains(&method.as_str()) {
        return interactive(gw, state, headers, capabilities, id, method, params).await;
    }
    let caller = Caller::Stateless(StatelessCaller::plain(capabilities));
    let ctx = CallContext::new(caller, Some(id.clone()), None);
    match gw.router().handle(&state, &ctx, &method, params).await {
        Ok(mut result) => {
            decorate(&method, &mut result);
            Ok(reply::json(Message::response(id, result)))
        }
        Err(e) if e.code == code::METHOD_NOT_FOUND => {
            Err(HttpError::new(StatusCode::NOT_FOUND, Some(id), e))
        }
        Err(e) => Ok(reply::json(Message::error(Some(id), e))),
    }
}

/// `tools/call`, `prompts/get`, `resources/read`: answered as JSON, or on an SSE stream when
/// the client wants progress and accepts one.
async fn interactive(
    gw: &Gateway,
    state: Arc<ProfileState>,
    headers: &HeaderMap,
    capabilities: Value,
    id: Id,
    method: String,
    params: Option<Value>,
) -> Result<Response, HttpError> {
    let wants_progress = RequestMeta::of(params.as_ref()).progress_token().is_some();
    // A stream only pays when there is progress to carry; otherwise one JSON answer (and its
    // HTTP status) does, and a closed connection cancels the call all the same.
    if wants_progress && guard::accepts(headers, "text/event-stream") {
        return Ok(stream(gw, state, capabilities, id, method, params));
    }
    let uri = params.as_ref().and_then(|p| p.get("uri")).cloned();
    let call = Interactive {
        router: gw.router(),
        parked: &gw.state().parked,
        park_for: gw.state().config.call_timeout,
        state: &state,
        capabilities,
        id: &id,
        method: &method,
        related: None,
    };
    match call.run(params).await {
        Ok(mut result) => {
            decorate(&method, &mut result);
            Ok(reply::json(Message::response(id, result)))
        }
        Err(e) => {
            let e = resource_not_found(&method, e, uri);
            let status = match e.code {
                code::MISSING_CAPABILITY => StatusCode::BAD_REQUEST,
                code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                _ => StatusCode::OK,
            };
            Err(HttpError::new(status, Some(id), e))
        }
    }
}

/// Tool arguments the tool's schema marks `x-mcp-header: <Name>` travel also as
/// `Mcp-Param-<Name>` headers (so that HTTP infrastructure can route on them); each must agree
/// with the body.
async fn check_param_headers(
    gw: &Gateway,
    state: &ProfileState,
    headers: &HeaderMap,
    id: &Id,
    params: Option<&Value>,
) -> Result<(), HttpError> {
    let Some(call) = ToolCall::of(params) else {
        return Ok(());
    };
    // an unknown or hidden tool is refused later, with its own error
    let Ok((_, spec)) = tools::resolve(gw.router(), state, call.name).await else {
        return Ok(());
    };
    let Some(props) = spec
        .get("inputSchema")
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    for (prop, schema) in props {
        let Some(header_name) = schema.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let Some(value) = call.arguments.and_then(|a| a.get(prop)) else {
            continue;
        };
        let expected = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let header_key = format!(
            "{}{}",
            mcp_header::PARAM_PREFIX,
            header_name.to_ascii_lowercase()
        );
        let given = header(headers, &header_key).map(decode_header_value);
        if given != Some(Some(expected)) {
            return Err(mismatch(
                id,
                format!(
                    "the Mcp-Param-{header_name} header must carry argument {prop:?} as the body \
                     has it (base64 as =?base64?…?= for what plain ASCII cannot carry)"
                ),
            ));
        }
    }
    Ok(())
}

/// This revision reports a missing resource as -32602 with its URI.
fn resource_not_found(method: &str, e: ErrorObject, uri: Option<Value>) -> ErrorObject {
    if method != method::RESOURCES_READ || e.code != code::RESOURCE_NOT_FOUND {
        return e;
    }
    ErrorObject::new(code::INVALID_PARAMS, e.message).with_data(json!({ "uri": uri }))
}

/// Tells the call's task that the client closed its stream before the answer.
struct CancelOnClose {
    gone: Option<oneshot::Sender<()>>,
}

impl StreamHold for CancelOnClose {
    fn ended(&mut self) {
        // answered: closing now cancels nothing
        self.gone = None;
    }
}

impl Drop for CancelOnClose {
    fn drop(&mut self) {
        if let Some(gone) = self.gone.take() {
            let _ = gone.send(());
        }
    }
}

/// An interactive request answered on its own SSE stream: its progress, then the result (or
/// an `InputRequiredResult`). Closing the stream before that cancels the call.
fn stream(
    gw: &Gateway,
    state: Arc<ProfileState>,
    capabilities: Value,
    id: Id,
    method: String,
    params: Option<Value>,
) -> Response {
    let log = StreamLog::new(format!("m{id}"));
    let writer = log.clone();
    let (gone, mut client_gone) = oneshot::channel();
    let gw = gw.clone();
    tokio::spawn(async move {
        let call = Interactive {
            router: gw.router(),
            parked: &gw.state().parked,
            park_for: gw.state().config.call_timeout,
            state: &state,
            capabilities,
            id: &id,
            method: &method,
            related: Some(writer.clone()),
        };
        // Dropping the call when the client is gone cancels it at the backend (or before it
        // gets there).
        let outcome = tokio::select! {
            r = call.run(params) => r,
            Ok(()) = &mut client_gone => return,
        };
        let reply = match outcome {
            Ok(mut result) => {
                decorate(&method, &mut result);
                Message::response(id, result)
            }
            Err(e) => Message::error(Some(id), e),
        };
        writer.push(reply.to_value().to_string());
        writer.close();
    });
    reply::sse(
        &log,
        Some(0),
        reply::STATELESS_STREAM,
        CancelOnClose { gone: Some(gone) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_may_be_base64_encoded() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(
            decode_header_value("=?base64?w6ljaG8=?=").as_deref(),
            Some("écho")
        );
        assert_eq!(decode_header_value("=?base64?!!?="), None);
    }

    #[test]
    fn list_results_carry_cache_hints_and_all_results_a_type() {
        let mut r = json!({"tools": []});
        decorate(method::TOOLS_LIST, &mut r);
        assert_eq!(r["resultType"], "complete");
        assert_eq!(r["cacheScope"], "private");
        assert_eq!(r["ttlMs"], 0);
        assert_eq!(r["_meta"][meta::SERVER_INFO]["name"], "gigmcp");
        let mut r = json!({"content": []});
        decorate(method::TOOLS_CALL, &mut r);
        assert!(r.get("cacheScope").is_none());
    }
}
