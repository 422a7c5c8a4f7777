//! The stateless 2026-07-28 revision on `/mcp/p/<slug>`.
//!
//! No `initialize`, no session: every POST is one request carrying in `_meta` the protocol
//! version and the client's capabilities, with `MCP-Protocol-Version`, `Mcp-Method` and (for
//! tools/call, resources/read, prompts/get) `Mcp-Name` headers that must agree with the body.
//! Nothing is kept between requests, so any replica of the gateway can answer any of them.
//! Results carry `resultType` and the server's info; list results carry cache hints. A tool
//! call streamed as SSE carries only its own notifications (progress), and closing that stream
//! cancels the call at the backend.
//!
//! A backend's elicitation or sampling request during a tool call becomes an
//! `InputRequiredResult`; the client's retry carries the answer back to the backend, whose
//! call kept running (parked in this gateway's memory until then).

use crate::aggregate;
use crate::calls::{CallContext, InputRequest, Redirect, missing_capability};
use crate::http::{Inner, SESSION_HEADER, UNSUPPORTED_PROTOCOL_VERSION, VERSION_HEADER};
use crate::profiles::ProfileState;
use crate::replay::StreamLog;
use crate::session::Session;
use crate::supervisor::BackendEvent;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, Message, code};
use gigmcp_mcp::version;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The revisions a modern request may name.
pub const MODERN_VERSIONS: &[&str] = &[version::MODERN_VERSION];
pub use gigmcp_mcp::meta::{
    CLIENT_CAPABILITIES as META_CLIENT_CAPABILITIES, PROTOCOL_VERSION as META_VERSION,
    SERVER_INFO as META_SERVER_INFO, SUBSCRIPTION_ID as META_SUBSCRIPTION_ID,
};
pub const METHOD_HEADER: &str = "mcp-method";
pub const NAME_HEADER: &str = "mcp-name";
/// A header is missing or disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// The request needs a capability the client did not declare.
pub const MISSING_CAPABILITY: i64 = -32021;
/// A handshake server's "resource not found".
const LEGACY_RESOURCE_NOT_FOUND: i64 = -32002;
/// Requests whose server may ask the client for input while answering.
const INTERACTIVE: &[&str] = &["tools/call", "prompts/get", "resources/read"];
/// Methods of the handshake era that the stateless revision removed.
const REMOVED: &[&str] = &[
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];
/// How long a client may reuse a list result (the gateway's lists follow its servers, which
/// can change at any time: no reuse).
const LIST_TTL_MS: u64 = 0;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a POST speaks the stateless revision: it names no session and carries a modern
/// version in its header or `_meta`, or it is `server/discover`.
pub fn is_modern(headers: &HeaderMap, msg: &Message) -> bool {
    if headers.contains_key(SESSION_HEADER) {
        return false;
    }
    if header(headers, VERSION_HEADER).is_some_and(|v| MODERN_VERSIONS.contains(&v)) {
        return true;
    }
    match msg {
        Message::Request { method, params, .. } => {
            method == "server/discover"
                || params
                    .as_ref()
                    .and_then(|p| p.get("_meta"))
                    .and_then(|m| m.get(META_VERSION))
                    .is_some()
        }
        _ => false,
    }
}

fn error(status: StatusCode, id: Option<Id>, error: ErrorObject) -> Response {
    let body = Message::error(id, error).to_value().to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn mismatch(id: &Id, why: String) -> Box<Response> {
    Box::new(error(
        StatusCode::BAD_REQUEST,
        Some(id.clone()),
        ErrorObject::new(HEADER_MISMATCH, why),
    ))
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

/// Checks the version and the routing headers against the body.
fn check_headers(
    headers: &HeaderMap,
    id: &Id,
    method: &str,
    params: Option<&Value>,
) -> Result<(), Box<Response>> {
    let requested = header(headers, VERSION_HEADER).unwrap_or("");
    let meta_version = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str);
    if !MODERN_VERSIONS.contains(&requested) {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            Some(id.clone()),
            ErrorObject::new(
                UNSUPPORTED_PROTOCOL_VERSION,
                format!(
                    "unsupported protocol version {requested:?}: this gateway speaks {} without a \
                     session, and {} after initialize",
                    MODERN_VERSIONS.join(", "),
                    version::LEGACY_VERSIONS.join(", ")
                ),
            )
            // what server/discover would list: the revisions spoken without a session
            .with_data(json!({ "supported": MODERN_VERSIONS, "requested": requested })),
        )));
    }
    let meta = params.and_then(|p| p.get("_meta"));
    let caps = meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES));
    if meta_version.is_none() || !caps.is_some_and(Value::is_object) {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            Some(id.clone()),
            ErrorObject::new(
                code::INVALID_PARAMS,
                format!(
                    "params._meta must carry {META_VERSION} and {META_CLIENT_CAPABILITIES} (an \
                     object) on every request of the stateless revision"
                ),
            ),
        )));
    }
    if let Some(v) = meta_version
        && v != requested
    {
        return Err(mismatch(
            id,
            format!("MCP-Protocol-Version {requested:?} differs from _meta {META_VERSION} {v:?}"),
        ));
    }
    match header(headers, METHOD_HEADER) {
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
        "tools/call" | "prompts/get" => params.and_then(|p| p.get("name")),
        "resources/read" => params.and_then(|p| p.get("uri")),
        _ => None,
    }
    .and_then(Value::as_str);
    if let Some(name) = named {
        let given = header(headers, NAME_HEADER).and_then(decode_header_value);
        if given.as_deref() != Some(name) {
            return Err(mismatch(
                id,
                format!("the Mcp-Name header must be {name:?} (the body's name or uri)"),
            ));
        }
    }
    Ok(())
}

fn server_info() -> Value {
    json!({ "name": "gigmcp", "title": "Gig'MCP gateway", "version": env!("CARGO_PKG_VERSION") })
}

/// Adds what every modern result carries, and cache hints on the cacheable ones.
fn decorate(method: &str, result: &mut Value) {
    let Some(obj) = result.as_object_mut() else {
        return;
    };
    obj.entry("resultType").or_insert_with(|| json!("complete"));
    let meta = obj
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(META_SERVER_INFO.into(), server_info());
    }
    let interim = obj.get("resultType").and_then(Value::as_str) == Some("input_required");
    if !interim
        && matches!(
            method,
            "server/discover"
                | "tools/list"
                | "prompts/list"
                | "resources/list"
                | "resources/templates/list"
                | "resources/read"
        )
    {
        obj.entry("ttlMs").or_insert_with(|| json!(LIST_TTL_MS));
        // A profile's lists depend on its owner's choices: never shared across users.
        obj.insert("cacheScope".into(), json!("private"));
    }
}

async fn discover(gw: &Inner, state: &Arc<ProfileState>) -> Value {
    let backends = crate::surface::running_backends(gw, state, Duration::from_secs(5)).await;
    let mut caps = crate::surface::capabilities(&backends);
    // Logging is set per request (`_meta` logLevel) in this revision.
    if let Some(c) = caps.as_object_mut() {
        c.remove("logging");
    }
    json!({
        "supportedVersions": MODERN_VERSIONS,
        "capabilities": caps,
        "instructions": aggregate::INSTRUCTIONS,
    })
}

/// GET and DELETE belong to sessions, which the stateless revision does not have.
pub fn session_less(headers: &HeaderMap) -> Option<Response> {
    let modern = !headers.contains_key(SESSION_HEADER)
        && header(headers, VERSION_HEADER).is_some_and(|v| MODERN_VERSIONS.contains(&v));
    modern.then(|| {
        let mut resp = error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "the stateless revision has no GET stream or session to delete: POST requests only",
            ),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        resp
    })
}

/// Answers one stateless POST.
pub async fn handle(
    gw: Arc<Inner>,
    state: Arc<ProfileState>,
    headers: &HeaderMap,
    msg: Message,
) -> Response {
    let (id, method, params) = match msg {
        Message::Request { id, method, params } => (id, method, params),
        // Cancellation is closing the response stream; other notifications need no answer.
        Message::Notification { .. } => return StatusCode::ACCEPTED.into_response(),
        Message::Response { .. } | Message::Error { .. } => {
            return error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::new(
                    code::INVALID_REQUEST,
                    "clients of the stateless revision never send responses; answer an \
                     InputRequiredResult by retrying the request with inputResponses",
                ),
            );
        }
    };
    if let Err(resp) = check_headers(headers, &id, &method, params.as_ref()) {
        return *resp;
    }
    if method == "initialize" || REMOVED.contains(&method.as_str()) {
        return error(
            StatusCode::NOT_FOUND,
            Some(id),
            ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!(
                    "{method} is not part of the stateless revision {}",
                    version::MODERN_VERSION
                ),
            ),
        );
    }
    if method == "server/discover" {
        let mut result = discover(&gw, &state).await;
        decorate(&method, &mut result);
        return json_response(Message::response(id, result));
    }
    // A session that lives for this request only: nothing is kept between requests.
    let session = Session::detached(state.profile.id, version::MODERN_VERSION);
    session.set_client_capabilities(
        params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
            .cloned()
            .unwrap_or(Value::Null),
    );
    if method == "subscriptions/listen" {
        return listen(&gw, &state, id, params).await;
    }
    if method == "tools/call"
        && let Err(resp) = check_param_headers(&gw, &state, headers, &id, params.as_ref()).await
    {
        return *resp;
    }
    if INTERACTIVE.contains(&method.as_str()) {
        let wants_progress = params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("progressToken"))
            .is_some();
        // A stream only pays when there is progress to carry; otherwise one JSON answer (and
        // its HTTP status) does, and a closed connection cancels the call all the same.
        if wants_progress && crate::http::accepts(headers, "text/event-stream") {
            return stream(gw, state, session, id, method, params);
        }
        let uri = params.as_ref().and_then(|p| p.get("uri")).cloned();
        return match call_interactive(&gw, &state, session, &id, &method, params, None).await {
            Ok(result) => json_response(Message::response(id, result)),
            Err(e) => {
                let e = resource_not_found(&method, e, uri);
                let status = match e.code {
                    MISSING_CAPABILITY => StatusCode::BAD_REQUEST,
                    code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                    _ => StatusCode::OK,
                };
                error(status, Some(id), e)
            }
        };
    }
    let ctx = CallContext {
        session,
        related: None,
        client_id: Some(id.clone()),
        inputs: None,
        redirect: None,
    };
    match aggregate::handle(&gw, &state, &ctx, &method, params).await {
        Ok(mut result) => {
            decorate(&method, &mut result);
            json_response(Message::response(id, result))
        }
        Err(e) if e.code == code::METHOD_NOT_FOUND => error(StatusCode::NOT_FOUND, Some(id), e),
        Err(e) => json_response(Message::error(Some(id), e)),
    }
}

/// Tool arguments the tool's schema marks `x-mcp-header: <Name>` travel also as
/// `Mcp-Param-<Name>` headers (so that HTTP infrastructure can route on them); each must agree
/// with the body.
async fn check_param_headers(
    gw: &Inner,
    state: &ProfileState,
    headers: &HeaderMap,
    id: &Id,
    params: Option<&Value>,
) -> Result<(), Box<Response>> {
    let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
        return Ok(());
    };
    // an unknown or hidden tool is refused later, with its own error
    let Ok((_, spec)) = aggregate::resolve(gw, state, name).await else {
        return Ok(());
    };
    let Some(props) = spec
        .get("inputSchema")
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let args = params.and_then(|p| p.get("arguments"));
    for (prop, schema) in props {
        let Some(header_name) = schema.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let Some(value) = args.and_then(|a| a.get(prop)) else {
            continue;
        };
        let expected = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let header_key = format!("mcp-param-{}", header_name.to_ascii_lowercase());
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
    if method != "resources/read" || e.code != LEGACY_RESOURCE_NOT_FOUND {
        return e;
    }
    ErrorObject::new(code::INVALID_PARAMS, e.message).with_data(json!({ "uri": uri }))
}

fn json_response(msg: Message) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        msg.to_value().to_string(),
    )
        .into_response()
}

/// A tool call running in its own task, so that it can outlive the HTTP request that started
/// it while it waits for the client's input. Dropping it cancels the call (at the backend too).
struct RunningCall {
    inputs: mpsc::Receiver<InputRequest>,
    done: oneshot::Receiver<Result<Value, ErrorObject>>,
    task: tokio::task::AbortHandle,
    /// Points the call's related messages (progress) at the retry that resumes it.
    redirect: Arc<Redirect>,
}

impl Drop for RunningCall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Step {
    /// The backend asks the client something.
    Input(InputRequest),
    Done(Result<Value, ErrorObject>),
}

impl RunningCall {
    fn start(
        gw: Arc<Inner>,
        state: Arc<ProfileState>,
        session: Arc<Session>,
        id: Id,
        method: String,
        params: Option<Value>,
        related: Option<Arc<StreamLog>>,
    ) -> Self {
        let (inputs_tx, inputs) = mpsc::channel(4);
        let (done_tx, done) = oneshot::channel();
        let redirect = Arc::new(Redirect::default());
        let ctx = CallContext {
            session,
            related,
            client_id: Some(id),
            inputs: Some(inputs_tx),
            redirect: Some(redirect.clone()),
        };
        let task = tokio::spawn(async move {
            let r = aggregate::handle(&gw, &state, &ctx, &method, params).await;
            let _ = done_tx.send(r);
        });
        RunningCall {
            inputs,
            done,
            task: task.abort_handle(),
            redirect,
        }
    }

    async fn next(&mut self) -> Step {
        tokio::select! {
            biased;
            r = &mut self.done => Step::Done(r.unwrap_or_else(|_| {
                Err(ErrorObject::new(code::INTERNAL_ERROR, "the call ended without an answer"))
            })),
            Some(input) = self.inputs.recv() => Step::Input(input),
        }
    }
}

/// A call waiting for a stateless client's input, under the `requestState` it was given.
struct ParkedCall {
    call: RunningCall,
    /// The backend's requests, each under the key the client answers it with.
    waiting: Vec<InputRequest>,
    profile: gigmcp_store::ProfileId,
    expires: Instant,
}

/// Calls parked until their client retries with `inputResponses`. A call whose client never
/// comes back is dropped (and so cancelled) once the per-call timeout passes.
#[derive(Default)]
pub struct ParkedCalls {
    map: Mutex<HashMap<String, ParkedCall>>,
}

/// Calls that may wait for input at once, across all clients.
const MAX_PARKED: usize = 1024;

impl ParkedCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ParkedCall>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn park(&self, token: String, call: ParkedCall) -> bool {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, c| c.expires > now);
        if map.len() >= MAX_PARKED {
            return false;
        }
        map.insert(token, call);
        true
    }

    fn take(&self, token: &str, profile: gigmcp_store::ProfileId) -> Option<ParkedCall> {
        let mut map = self.lock();
        let call = map.remove(token)?;
        if call.profile != profile || call.expires <= Instant::now() {
            return None;
        }
        Some(call)
    }
}

/// An interactive request (`tools/call`, `prompts/get`, `resources/read`) in the stateless
/// revision: the answer, or an `InputRequiredResult` when the backend asks the client
/// something (elicitation, sampling, roots).
///
/// - A handshake-era backend asks with its own requests, in the middle of the call. The client
///   gets them keyed by the backend's request ids, with a `requestState` of the gateway's, and
///   retries with `inputResponses`; the gateway hands the answers to the backend, still working
///   on the original request, and waits for what comes next; what it reports from then on
///   (progress) goes to the retry's stream, under the retry's progress token. Answers a first
///   request already carries are used as they are needed. Such a call is parked in this
///   gateway's memory, so the retry must reach the same replica.
/// - A stateless backend's own `InputRequiredResult` is passed through by the supervisor, its
///   `requestState` tagged with the server (`s.<server>.…`); a retry carrying such a state is
///   simply sent on, so nothing is parked and any replica can take it.
async fn call_interactive(
    gw: &Arc<Inner>,
    state: &Arc<ProfileState>,
    session: Arc<Session>,
    id: &Id,
    method: &str,
    params: Option<Value>,
    related: Option<Arc<StreamLog>>,
) -> Result<Value, ErrorObject> {
    let responses: Map<String, Value> = params
        .as_ref()
        .and_then(|p| p.get("inputResponses"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let token = params
        .as_ref()
        .and_then(|p| p.get("requestState"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let caps = session.clone();
    let mut call = match token {
        // (a state a stateless server gave out: it goes back to that server with the answers)
        Some(token) if !token.starts_with(crate::supervisor::PASSED_STATE_PREFIX) => {
            let parked = gw.parked.take(&token, state.profile.id).ok_or_else(|| {
                ErrorObject::new(
                    code::INVALID_PARAMS,
                    "requestState names no request waiting for input here (expired, answered, \
                     or from another gateway): send the request again without it",
                )
            })?;
            if let Some(key) = parked
                .waiting
                .iter()
                .map(|input| &input.key)
                .find(|key| !responses.get(*key).is_some_and(Value::is_object))
            {
                let err = ErrorObject::new(
                    code::INVALID_PARAMS,
                    format!(
                        "inputResponses must answer {key:?} with an object; the request still \
                         waits for it: retry with the same requestState"
                    ),
                );
                // bad input loses nothing: the call stays parked until it expires
                gw.parked.park(token, parked);
                return Err(err);
            }
            // What the backend sends from now on (progress) goes to this retry.
            let progress_token = params
                .as_ref()
                .and_then(|p| p.pointer("/_meta/progressToken"))
                .cloned();
            parked.call.redirect.retarget(related, progress_token);
            for input in parked.waiting {
                let answer = responses[&input.key].clone();
                input.to.answer(Ok(answer)).await;
            }
            parked.call
        }
        _ => RunningCall::start(
            gw.clone(),
            state.clone(),
            session,
            id.clone(),
            method.to_owned(),
            params,
            related,
        ),
    };
    loop {
        let first = match call.next().await {
            Step::Done(result) => {
                return result.map(|mut r| {
                    decorate(method, &mut r);
                    r
                });
            }
            Step::Input(input) => input,
        };
        // Requests the backend sends together go to the client together.
        let mut inputs = vec![first];
        while inputs.len() < 16 {
            match tokio::time::timeout(Duration::from_millis(20), call.inputs.recv()).await {
                Ok(Some(more)) => inputs.push(more),
                _ => break,
            }
        }
        let mut waiting = Vec::new();
        for input in inputs {
            // answered already (a first request may carry answers): used as it is
            if let Some(answer) = responses.get(&input.key).filter(|a| a.is_object()) {
                input.to.answer(Ok(answer.clone())).await;
                continue;
            }
            // (only requests the gateway passes on get here: each needs a known capability)
            if let Some(missing) = missing_capability(&input.method, &caps) {
                let refusal = ErrorObject::new(code::METHOD_NOT_FOUND, missing.message.clone());
                input.to.answer(Err(refusal)).await;
                return Err(missing);
            }
            waiting.push(input);
        }
        if waiting.is_empty() {
            continue;
        }
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut requests = Map::new();
        for input in &waiting {
            let mut request = json!({ "method": input.method });
            if let Some(p) = &input.params {
                request["params"] = p.clone();
            }
            requests.insert(input.key.clone(), request);
        }
        let mut result = json!({
            "resultType": "input_required",
            "inputRequests": requests,
            "requestState": token,
        });
        decorate(method, &mut result);
        let parked = ParkedCall {
            call,
            waiting,
            profile: state.profile.id,
            expires: Instant::now() + gw.config.call_timeout,
        };
        if !gw.parked.park(token, parked) {
            return Err(ErrorObject::new(
                code::SERVER_UNAVAILABLE,
                "too many requests are waiting for input; try again later",
            ));
        }
        return Ok(result);
    }
}

/// What a `subscriptions/listen` stream asked for (and the gateway honours).
#[derive(Debug, Default, Clone)]
struct Filter {
    tools: bool,
    prompts: bool,
    resources: bool,
    /// Namespaced URIs of subscribed resources.
    uris: std::collections::HashSet<String>,
}

/// One open `subscriptions/listen` stream.
pub struct Listener {
    profile: gigmcp_store::ProfileId,
    filter: Filter,
    log: Arc<StreamLog>,
    subscription_id: Id,
}

impl Listener {
    fn send(&self, mut msg: Value) {
        if let Some(obj) = msg.as_object_mut() {
            let params = obj.entry("params").or_insert_with(|| json!({}));
            if let Some(p) = params.as_object_mut() {
                let meta = p.entry("_meta").or_insert_with(|| json!({}));
                meta[META_SUBSCRIPTION_ID] = json!(self.subscription_id);
            }
        }
        self.log.push(msg.to_string());
    }
}

/// The open listen streams; each stays registered while its client keeps the stream open.
#[derive(Default)]
pub struct Listeners {
    list: Mutex<Vec<std::sync::Weak<Listener>>>,
}

/// Listen streams open at once, across all clients.
const MAX_LISTENERS: usize = 4096;

impl Listeners {
    fn add(&self, l: &Arc<Listener>) -> bool {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| w.strong_count() > 0);
        if list.len() >= MAX_LISTENERS {
            return false;
        }
        list.push(Arc::downgrade(l));
        true
    }

    /// Passes a backend's event to the listen streams that asked for it.
    pub fn deliver(&self, event: &BackendEvent) {
        let live: Vec<Arc<Listener>> = self
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        for l in live {
            match event {
                BackendEvent::ToolsChanged { profile }
                    if *profile == l.profile && l.filter.tools =>
                {
                    l.send(json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
                }
                BackendEvent::Notify { profile, message } if *profile == l.profile => {
                    let wanted = match message["method"].as_str() {
                        Some("notifications/prompts/list_changed") => l.filter.prompts,
                        Some("notifications/resources/list_changed") => l.filter.resources,
                        _ => false,
                    };
                    if wanted {
                        l.send(message.clone());
                    }
                }
                BackendEvent::ResourceUpdated {
                    profile,
                    uri,
                    message,
                } if *profile == l.profile && l.filter.uris.contains(uri) => {
                    l.send(message.clone());
                }
                _ => {}
            }
        }
    }
}

/// `subscriptions/listen`: a long-lived stream of the change notifications the client opts in
/// to, acknowledged first with what the gateway honours. Ends when the client closes it.
async fn listen(
    gw: &Arc<Inner>,
    state: &Arc<ProfileState>,
    id: Id,
    params: Option<Value>,
) -> Response {
    let asked = params
        .as_ref()
        .and_then(|p| p.get("notifications"))
        .cloned()
        .unwrap_or(Value::Null);
    let flag = |k: &str| asked.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut filter = Filter {
        tools: flag("toolsListChanged"),
        prompts: flag("promptsListChanged"),
        resources: flag("resourcesListChanged"),
        uris: Default::default(),
    };
    // The servers must be running for their notifications to flow.
    crate::surface::running_backends(gw, state, Duration::from_secs(5)).await;
    let wanted: Vec<String> = asked
        .get("resourceSubscriptions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for uri in wanted.into_iter().take(256) {
        if crate::surface::subscribe_backend(gw, state, &uri).await {
            filter.uris.insert(uri);
        }
    }
    let mut honoured = json!({
        "toolsListChanged": filter.tools,
        "promptsListChanged": filter.prompts,
        "resourcesListChanged": filter.resources,
    });
    if !filter.uris.is_empty() {
        let mut uris: Vec<&String> = filter.uris.iter().collect();
        uris.sort();
        honoured["resourceSubscriptions"] = json!(uris);
    }
    let listener = Arc::new(Listener {
        profile: state.profile.id,
        filter,
        log: StreamLog::new(format!("l{id}")),
        subscription_id: id.clone(),
    });
    if !gw.listeners.add(&listener) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(id),
            ErrorObject::new(
                code::INTERNAL_ERROR,
                "too many listen streams are open; try again later",
            ),
        );
    }
    listener.send(json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": { "notifications": honoured },
    }));
    let log = listener.log.clone();
    sse(log, None, Some(listener))
}

/// Tells the call's task that the client closed its stream before the answer.
struct CancelOnClose {
    gone: Option<oneshot::Sender<()>>,
}

impl CancelOnClose {
    fn disarm(&mut self) {
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

/// A tool call answered on its own SSE stream: its progress, then the result (or an
/// `InputRequiredResult`). Closing the stream before that cancels the call.
fn stream(
    gw: Arc<Inner>,
    state: Arc<ProfileState>,
    session: Arc<Session>,
    id: Id,
    method: String,
    params: Option<Value>,
) -> Response {
    let log = session.new_log('m');
    let writer = log.clone();
    let (gone, mut client_gone) = oneshot::channel();
    tokio::spawn(async move {
        // Dropping the call when the client is gone cancels it at the backend (or before it
        // gets there).
        let outcome = tokio::select! {
            r = call_interactive(&gw, &state, session, &id, &method, params, Some(writer.clone())) => r,
            Ok(()) = &mut client_gone => return,
        };
        let reply = match outcome {
            Ok(result) => Message::response(id, result),
            Err(e) => Message::error(Some(id), e),
        };
        writer.push(reply.to_value().to_string());
        writer.close();
    });
    let guard = CancelOnClose { gone: Some(gone) };
    sse(log, Some(guard), None)
}

/// An SSE response of a log's messages (no ids: nothing to resume in this revision), with a
/// comment every second so that a client that closed the stream is noticed at the next write.
fn sse(
    log: Arc<StreamLog>,
    guard: Option<CancelOnClose>,
    listener: Option<Arc<Listener>>,
) -> Response {
    let events = Box::pin(log.read(Some(0)));
    // (the listener, if any, stays registered while its stream is open)
    let body = futures_util::stream::unfold(
        (events, guard, listener),
        |(mut events, mut guard, listener)| async move {
            use futures_util::StreamExt;
            let chunk = tokio::select! {
                e = events.next() => {
                    let Some(e) = e else {
                        // answered: closing now cancels nothing
                        if let Some(g) = guard.as_mut() {
                            g.disarm();
                        }
                        return None;
                    };
                    format!("event: message\ndata: {}\n\n", e.data)
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => ":\n\n".to_string(),
            };
            Some((
                Ok::<_, std::convert::Infallible>(chunk),
                (events, guard, listener),
            ))
        },
    );
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
        decorate("tools/list", &mut r);
        assert_eq!(r["resultType"], "complete");
        assert_eq!(r["cacheScope"], "private");
        assert_eq!(r["ttlMs"], 0);
        assert_eq!(r["_meta"][META_SERVER_INFO]["name"], "gigmcp");
        let mut r = json!({"content": []});
        decorate("tools/call", &mut r);
        assert!(r.get("cacheScope").is_none());
    }
}
