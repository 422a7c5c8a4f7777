//! Starts each (profile × server) backend in its own sandbox on first use, keeps it while it is
//! used, and starts it again after it dies.
//!
//! One [`Slot`] per (profile, server) holds an async mutex, so concurrent first requests start
//! a server exactly once: the first caller starts it, the others wait for that start.
//!
//! A server of either era is driven in its own: the gateway first asks `server/discover`, and
//! a server that lists the stateless revision (2026-07-28) gets that revision's `_meta` on every
//! request (with the capabilities of the client whose call it is), its `InputRequiredResult`s
//! asked of that client and the call retried with the answers, and one `subscriptions/listen`
//! for its change notifications. Any other server is initialized (handshake era).

use gigmcp_mcp::jsonrpc::{ErrorObject, Message, code};
use gigmcp_mcp::stdio::{Line, read_bounded_line};
use gigmcp_mcp::{ClientError, Discovery, StdioClient, StdioClientConfig, meta};
use gigmcp_sandbox::{SandboxHandle, SandboxRuntime};
use gigmcp_store::{Profile, ProfileId, Server, ServerId};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::io::BufReader;
use tokio::sync::mpsc;

use crate::calls::{AnswerTo, CallContext, CancelHandle, InFlight};

/// Why a backend could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("server {server} could not be started: {reason}")]
    Start { server: String, reason: String },
    #[error("server {server} did not complete the MCP handshake within {secs} s")]
    StartTimeout { server: String, secs: u64 },
    #[error("server {server} did not answer within {secs} s; the call was cancelled")]
    Timeout { server: String, secs: u64 },
    #[error("the request was cancelled by the client")]
    Cancelled,
    /// The client could not be asked what the server needs, or did not answer.
    #[error("{0}")]
    Input(ErrorObject),
    #[error("server {server} broke the protocol: {reason}")]
    Protocol { server: String, reason: String },
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl BackendError {
    /// The JSON-RPC error for the client.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            BackendError::Client(e) => e.to_error_object(),
            BackendError::Timeout { .. } => {
                ErrorObject::new(code::REQUEST_TIMEOUT, self.to_string())
            }
            BackendError::Cancelled => ErrorObject::new(REQUEST_CANCELLED, self.to_string()),
            BackendError::Input(e) => e.clone(),
            BackendError::Protocol { .. } => {
                ErrorObject::new(code::INTERNAL_ERROR, self.to_string())
            }
            _ => ErrorObject::new(code::SERVER_UNAVAILABLE, self.to_string()),
        }
    }
}

/// Ends a call's registrations; cancels it at the backend if it ended without an outcome.
struct CallGuard {
    backend: Arc<Backend>,
    backend_id: i64,
    token: Option<String>,
    ctx: CallContext,
    finished: bool,
}

impl CallGuard {
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.backend
            .inflight
            .end(self.backend_id, self.token.as_deref());
        if let Some(id) = &self.ctx.client_id {
            self.ctx.session.untrack_call(id);
        }
        if !self.finished {
            let (backend, id) = (self.backend.clone(), self.backend_id);
            tokio::spawn(async move { backend.cancel(id, "the client went away").await });
        }
    }
}

/// Answer to a call the client cancelled (clients ignore it, as the spec asks).
const REQUEST_CANCELLED: i64 = -32800;

/// How long a new server has to answer `server/discover` (at most half the start timeout)
/// before it is initialized instead. A server answers every request, so only one that
/// ignores methods it does not know waits this long, once: it is not probed again. Generous,
/// because a slow starter (an interpreter importing its packages) that answered late would be
/// driven in the handshake era although it speaks the stateless one.
const PROBE_WAIT: Duration = Duration::from_secs(10);
/// Starts a stateless server's `requestState` as the gateway passes it to a stateless client
/// (the gateway's own states, random base64url, never contain a dot).
pub const PASSED_STATE_PREFIX: &str = "s.";
/// Rounds of input one call of a stateless server may ask for.
const MAX_INPUT_ROUNDS: usize = 16;
/// Input requests in one round.
const MAX_INPUTS_PER_ROUND: usize = 16;
/// Resources a stateless server's listen stream may watch.
const MAX_WATCHED: usize = 1024;

/// What the gateway can ask its clients on a server's behalf (declared to every server; a
/// request a client did not declare is refused for that client).
static GATEWAY_CAPABILITIES: LazyLock<Value> =
    LazyLock::new(|| json!({ "sampling": {}, "elicitation": {}, "roots": {} }));

/// The gateway as a client of its servers.
static GATEWAY_INFO: LazyLock<Value> =
    LazyLock::new(|| json!({ "name": "gigmcp", "version": env!("CARGO_PKG_VERSION") }));

/// The era a backend speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// Initialized once (`initialize`); asks clients things with its own requests.
    Handshake,
    /// Stateless 2026-07-28: `_meta` on every request, input through `InputRequiredResult`,
    /// change notifications on a `subscriptions/listen` stream.
    Stateless,
}

/// A stateless server's listen stream: its request id and the resources it watches.
#[derive(Default)]
struct Listen {
    id: Option<i64>,
    uris: BTreeSet<String>,
}

/// Something a backend did that the profile's clients should hear about.
#[derive(Clone, Debug)]
pub enum BackendEvent {
    /// A server of this profile reported that its tool list changed.
    ToolsChanged { profile: ProfileId },
    /// A notification for every session of the profile (list changes, log messages), with
    /// names and URIs already namespaced.
    Notify { profile: ProfileId, message: Value },
    /// A subscribed resource changed; for the sessions subscribed to `uri` (namespaced).
    ResourceUpdated {
        profile: ProfileId,
        uri: String,
        message: Value,
    },
}

/// A running server.
pub struct Backend {
    pub profile: ProfileId,
    /// How the profile names things (taken when the backend starts).
    pub naming: crate::profiles::Naming,
    pub server: String,
    pub client: StdioClient,
    /// The server's `InitializeResult` (or `DiscoverResult`): its capabilities and info.
    pub init: Value,
    pub era: Era,
    /// Stateless servers: the log level handshake-era clients set (`logging/setLevel`), sent
    /// as `_meta` with each request.
    log_level: Mutex<Option<String>>,
    listen: tokio::sync::Mutex<Listen>,
    sandbox: Arc<SandboxHandle>,
    /// The sandbox's registration with the egress proxy, if it has network egress.
    _egress: Option<crate::egress::EgressLease>,
    tools: tokio::sync::Mutex<Option<Arc<Vec<Value>>>>,
    /// Client calls in flight on this backend (progress, cancellation, its own requests).
    inflight: InFlight,
    /// Server-initiated messages handled so far (they are handled by another task than the
    /// one that completes calls; a call's answer waits for those the server sent before it).
    inbound_handled: AtomicU64,
    inbound_progress: tokio::sync::Notify,
    /// Compiled input schemas by tool name (`None`: the schema does not compile; not checked).
    validators: Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>,
    last_used: Mutex<Instant>,
    call_timeout: Duration,
}

impl Backend {
    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Host pid of the sandbox.
    pub fn pid(&self) -> u32 {
        self.sandbox.pid()
    }

    /// A request of the gateway's own (lists, subscriptions, ...), with the per-call timeout.
    /// A stateless server gets the revision's `_meta`; what that revision removed is done its
    /// way (the log level travels with each request, subscriptions on the listen stream).
    pub async fn request(
        &self,
        method: &str,
        mut params: Option<Value>,
    ) -> Result<Value, BackendError> {
        self.touch();
        if self.era == Era::Stateless {
            match method {
                "ping" => return Ok(json!({})),
                "logging/setLevel" => {
                    let level = params
                        .as_ref()
                        .and_then(|p| p.get("level"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    *self.log_level.lock().unwrap_or_else(|e| e.into_inner()) = level;
                    return Ok(json!({}));
                }
                "resources/subscribe" | "resources/unsubscribe" => {
                    let uri = params
                        .as_ref()
                        .and_then(|p| p.get("uri"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.watch(uri, method == "resources/subscribe").await?;
                    return Ok(json!({}));
                }
                _ => {}
            }
            let level = self.log_level();
            params = Some(meta::with_request_meta(
                params,
                &GATEWAY_CAPABILITIES,
                &GATEWAY_INFO,
                level.as_deref(),
            ));
        }
        let mut result = match tokio::time::timeout(
            self.call_timeout,
            self.client.request(method, params),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(BackendError::Timeout {
                    server: self.server.clone(),
                    secs: self.call_timeout.as_secs(),
                });
            }
        };
        if self.era == Era::Stateless {
            if is_input_required(&result) {
                return Err(BackendError::Input(ErrorObject::new(
                    code::INVALID_REQUEST,
                    format!(
                        "server {} asked for input in answer to {method}, which no client made",
                        self.server
                    ),
                )));
            }
            tidy_stateless_result(&mut result);
        }
        Ok(result)
    }

    fn log_level(&self) -> Option<String> {
        self.log_level
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts or stops watching a resource of a stateless server: its listen stream is opened
    /// again with the new set.
    async fn watch(&self, uri: &str, on: bool) -> Result<(), BackendError> {
        let mut listen = self.listen.lock().await;
        let changed = if on {
            if listen.uris.len() >= MAX_WATCHED && !listen.uris.contains(uri) {
                return Err(BackendError::Input(ErrorObject::new(
                    code::INVALID_PARAMS,
                    format!("at most {MAX_WATCHED} resources of one server can be watched"),
                )));
            }
            listen.uris.insert(uri.to_owned())
        } else {
            listen.uris.remove(uri)
        };
        if changed || listen.id.is_none() {
            self.open_listen(&mut listen).await?;
        }
        Ok(())
    }

    /// (Re)opens a stateless server's `subscriptions/listen` stream for every list change and
    /// the watched resources; the previous stream is cancelled.
    async fn open_listen(&self, listen: &mut Listen) -> Result<(), BackendError> {
        if let Some(old) = listen.id.take() {
            self.cancel(old, "replaced by a stream with other subscriptions")
                .await;
        }
        let mut notifications = json!({
            "toolsListChanged": true,
            "promptsListChanged": true,
            "resourcesListChanged": true,
        });
        if !listen.uris.is_empty() {
            notifications["resourceSubscriptions"] = json!(listen.uris);
        }
        let params = meta::with_request_meta(
            Some(json!({ "notifications": notifications })),
            &GATEWAY_CAPABILITIES,
            &GATEWAY_INFO,
            None,
        );
        // The stream's notifications arrive as any others; its answer only comes when it ends.
        let pending = self
            .client
            .send_request("subscriptions/listen", Some(params))
            .await?;
        listen.id = Some(pending.id());
        Ok(())
    }

    /// A client's call: like [`Self::request`], with the client's progress token remapped,
    /// cancellable by the client (its `notifications/cancelled` reaches the backend under the
    /// backend's id), and the backend told to cancel when the per-call timeout expires.
    ///
    /// A stateless server is told the calling client's capabilities; when it answers with an
    /// `InputRequiredResult`, its requests are asked of that client (as requests on a
    /// session's stream, or in a stateless client's own `InputRequiredResult`) and the call is
    /// sent again with the answers and the server's `requestState`.
    pub async fn call(
        self: &Arc<Self>,
        method: &str,
        mut params: Value,
        ctx: &CallContext,
    ) -> Result<Value, BackendError> {
        // A stateless client's answers and state go to this server when the state is one the
        // server gave out (passed through, below), or when there is no state (a first request
        // may carry answers); a state of the gateway's own stays with the gateway.
        let passed = self.passed_state(&params)?;
        if let Some(obj) = params.as_object_mut() {
            let has_state = obj.contains_key("requestState");
            match passed {
                Some(state) if !state.is_empty() => {
                    obj.insert("requestState".into(), Value::String(state));
                }
                Some(_) => {
                    obj.remove("requestState");
                }
                None => {
                    obj.remove("requestState");
                    if has_state || self.era == Era::Handshake {
                        obj.remove("inputResponses");
                    }
                }
            }
        }
        if self.era == Era::Handshake {
            meta::strip_request_meta(&mut params);
            return self.call_once(method, params, ctx).await;
        }
        let capabilities = ctx.session.client_capabilities();
        let capabilities = if capabilities.is_object() {
            capabilities
        } else {
            json!({})
        };
        // a stateless client's own level; a session's, as set with logging/setLevel
        let level = params
            .pointer("/_meta")
            .and_then(|m| m.get(meta::LOG_LEVEL))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.log_level());
        for _round in 0..MAX_INPUT_ROUNDS {
            let sent = meta::with_request_meta(
                Some(params.clone()),
                &capabilities,
                &GATEWAY_INFO,
                level.as_deref(),
            );
            let mut result = self.call_once(method, sent, ctx).await?;
            if !is_input_required(&result) {
                tidy_stateless_result(&mut result);
                return Ok(result);
            }
            if ctx.session.is_detached() {
                // A stateless client answers the server itself, on its retry: nothing waits
                // here, so any replica running this server can take that retry.
                return self.pass_input_required(result, ctx);
            }
            let answers = self.gather_input(&result, ctx).await?;
            let Some(obj) = params.as_object_mut() else {
                break;
            };
            obj.insert("inputResponses".into(), answers);
            match result.get("requestState") {
                Some(state) => obj.insert("requestState".into(), state.clone()),
                None => obj.remove("requestState"),
            };
        }
        Err(BackendError::Protocol {
            server: self.server.clone(),
            reason: format!("it asked for input more than {MAX_INPUT_ROUNDS} times in one call"),
        })
    }

    /// The server's own `requestState` in a stateless client's retry (`s.<server>.<state>`,
    /// as [`Self::pass_input_required`] gave it out); `None` when the request carries none
    /// of those.
    fn passed_state(&self, params: &Value) -> Result<Option<String>, BackendError> {
        let Some(rest) = params
            .get("requestState")
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix(PASSED_STATE_PREFIX))
        else {
            return Ok(None);
        };
        match rest.split_once('.') {
            Some((server, state)) if server == self.server && self.era == Era::Stateless => {
                Ok(Some(state.to_owned()))
            }
            _ => Err(BackendError::Input(ErrorObject::new(
                code::INVALID_PARAMS,
                format!(
                    "requestState was not given out for a call of server {}: send the request \
                     again without it",
                    self.server
                ),
            ))),
        }
    }

    /// A stateless server's `InputRequiredResult` for a stateless client, passed on: its
    /// `requestState` is tagged with the server (so the retry reaches it), and a request for a
    /// capability the client did not declare is refused (-32021) instead.
    fn pass_input_required(
        &self,
        mut result: Value,
        ctx: &CallContext,
    ) -> Result<Value, BackendError> {
        let methods = result
            .get("inputRequests")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|r| r.values())
            .filter_map(|r| r.get("method")?.as_str());
        for method in methods {
            if let Some(missing) = crate::calls::missing_capability(method, &ctx.session) {
                return Err(BackendError::Input(missing));
            }
        }
        let state = result
            .get("requestState")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let tagged = format!("{PASSED_STATE_PREFIX}{}.{state}", self.server);
        if let Some(obj) = result.as_object_mut() {
            obj.insert("requestState".into(), Value::String(tagged));
            if let Some(meta) = obj.get_mut("_meta").and_then(Value::as_object_mut) {
                meta.remove(meta::SERVER_INFO);
            }
        }
        Ok(result)
    }

    /// Asks the calling client each input request of an `InputRequiredResult` (all at once)
    /// and gathers the answers under their keys.
    async fn gather_input(&self, result: &Value, ctx: &CallContext) -> Result<Value, BackendError> {
        let bad = |reason: &str| BackendError::Protocol {
            server: self.server.clone(),
            reason: reason.to_owned(),
        };
        let requests = result
            .get("inputRequests")
            .and_then(Value::as_object)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad("an InputRequiredResult without inputRequests"))?;
        if requests.len() > MAX_INPUTS_PER_ROUND {
            return Err(bad("an InputRequiredResult with too many inputRequests"));
        }
        // A session client may cancel its call while it is being asked.
        let cancelled = Arc::new(tokio::sync::Notify::new());
        let tracked = match (&ctx.client_id, ctx.session.is_detached()) {
            (Some(id), false) => ctx.session.track_call(
                id.clone(),
                CancelHandle {
                    backend: std::sync::Weak::new(),
                    backend_id: -1,
                    cancelled: cancelled.clone(),
                },
            ),
            _ => false,
        };
        let mut waits = Vec::with_capacity(requests.len());
        let mut asked = Ok(());
        for (key, request) in requests {
            let Some(method) = request.get("method").and_then(Value::as_str) else {
                asked = Err(bad("an input request without a method"));
                break;
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let params = request.get("params").cloned();
            if let Err(e) =
                crate::calls::ask(ctx, method, params, key.clone(), AnswerTo::Gatherer(tx)).await
            {
                asked = Err(BackendError::Input(e));
                break;
            }
            waits.push((key.clone(), rx));
        }
        let gathered = async {
            asked?;
            let mut answers = serde_json::Map::new();
            for (key, rx) in waits {
                match rx.await {
                    Ok(Ok(answer)) => {
                        answers.insert(key, answer);
                    }
                    Ok(Err(e)) => return Err(BackendError::Input(e)),
                    Err(_) => {
                        return Err(BackendError::Input(ErrorObject::new(
                            code::INTERNAL_ERROR,
                            "the client's answer was lost",
                        )));
                    }
                }
            }
            Ok(Value::Object(answers))
        };
        let outcome = tokio::select! {
            r = tokio::time::timeout(self.call_timeout, gathered) => r.unwrap_or_else(|_| {
                Err(BackendError::Input(ErrorObject::new(
                    code::REQUEST_TIMEOUT,
                    format!(
                        "the client did not answer server {}'s questions within {} s",
                        self.server,
                        self.call_timeout.as_secs()
                    ),
                )))
            }),
            () = cancelled.notified() => Err(BackendError::Cancelled),
        };
        if tracked && let Some(id) = &ctx.client_id {
            ctx.session.untrack_call(id);
        }
        outcome
    }

    /// One request of a client's call, answered (or not) once.
    async fn call_once(
        self: &Arc<Self>,
        method: &str,
        mut params: Value,
        ctx: &CallContext,
    ) -> Result<Value, BackendError> {
        self.touch();
        let token = self.inflight.remap_progress(&mut params, ctx);
        let sent = self
            .client
            .send_request_with(method, Some(params), |id| self.inflight.begin(id, ctx))
            .await;
        let pending = match sent {
            Ok(p) => p,
            Err(e) => {
                // (a write that failed may have registered the call already)
                self.inflight.end_all_of(ctx);
                self.inflight.end(-1, token.as_deref());
                return Err(e.into());
            }
        };
        let backend_id = pending.id();
        // Cleans up however the call ends; a call whose caller went away (its future dropped,
        // e.g. a stateless client that closed its connection) is cancelled at the backend.
        let mut guard = CallGuard {
            backend: self.clone(),
            backend_id,
            token: token.clone(),
            ctx: ctx.clone(),
            finished: false,
        };
        let cancelled = Arc::new(tokio::sync::Notify::new());
        if let Some(id) = &ctx.client_id {
            ctx.session.track_call(
                id.clone(),
                CancelHandle {
                    backend: Arc::downgrade(self),
                    backend_id,
                    cancelled: cancelled.clone(),
                },
            );
        }
        let outcome = tokio::select! {
            r = tokio::time::timeout(self.call_timeout, pending.response_after()) => Some(r),
            () = cancelled.notified() => None,
        };
        // What the server sent before its answer (progress above all) reaches the client first.
        if let Some(Ok((_, mark))) = &outcome {
            self.inbound_caught_up(*mark).await;
        }
        let outcome = outcome.map(|r| r.map(|(result, _)| result));
        guard.finish();
        drop(guard);
        match outcome {
            Some(Ok(r)) => Ok(r?),
            Some(Err(_)) => {
                self.cancel(backend_id, "the gateway's per-call timeout expired")
                    .await;
                Err(BackendError::Timeout {
                    server: self.server.clone(),
                    secs: self.call_timeout.as_secs(),
                })
            }
            None => Err(BackendError::Cancelled),
        }
    }

    /// Waits (briefly) until the first `mark` server-initiated messages were handled.
    async fn inbound_caught_up(&self, mark: u64) {
        let wait = async {
            loop {
                let progressed = self.inbound_progress.notified();
                tokio::pin!(progressed);
                progressed.as_mut().enable();
                if self.inbound_handled.load(Ordering::SeqCst) >= mark {
                    return;
                }
                progressed.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(1), wait)
            .await
            .is_err()
        {
            tracing::debug!(server = %self.server, "an answer overtook the server's earlier messages");
        }
    }

    /// Tells the backend to stop working on its request `backend_id`.
    pub async fn cancel(&self, backend_id: i64, reason: &str) {
        let params = json!({ "requestId": backend_id, "reason": reason });
        if let Err(e) = self
            .client
            .notify("notifications/cancelled", Some(params))
            .await
        {
            tracing::debug!(server = %self.server, error = %e, "could not send a cancellation");
        }
    }

    /// The server's tools (all pages), cached until it reports a change.
    pub async fn tools(&self) -> Result<Arc<Vec<Value>>, BackendError> {
        let mut cache = self.tools.lock().await;
        if let Some(t) = cache.as_ref() {
            return Ok(t.clone());
        }
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _page in 0..1000 {
            let params = cursor.as_ref().map(|c| json!({ "cursor": c }));
            let page = self.request("tools/list", params).await?;
            if let Some(list) = page.get("tools").and_then(Value::as_array) {
                tools.extend(list.iter().cloned());
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
                _ => break,
            }
        }
        let tools = Arc::new(tools);
        *cache = Some(tools.clone());
        Ok(tools)
    }

    async fn forget_tools(&self) {
        *self.tools.lock().await = None;
        self.validators
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Checks `arguments` against the input schema of `tool` (an entry of [`Self::tools`]).
    /// A schema that does not compile is the server's bug: it is logged and not enforced.
    pub fn check_arguments(&self, tool: &Value, arguments: &Value) -> Result<(), String> {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
        let validator = {
            let mut cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .entry(name.to_string())
                .or_insert_with(|| {
                    let schema = tool
                        .get("inputSchema")
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object"}));
                    match jsonschema::validator_for(&schema) {
                        Ok(v) => Some(Arc::new(v)),
                        Err(e) => {
                            tracing::warn!(server = %self.server, tool = name, error = %e,
                                "tool input schema does not compile; arguments not checked");
                            None
                        }
                    }
                })
                .clone()
        };
        let Some(validator) = validator else {
            return Ok(());
        };
        let problems: Vec<String> = validator
            .iter_errors(arguments)
            .take(10)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    fn is_alive(&self) -> bool {
        !self.client.is_closed() && self.sandbox.try_exit().is_none()
    }

    fn stop(&self) {
        self.client.close("stopped by the gateway");
        self.sandbox.kill();
    }
}

#[derive(Default)]
struct Slot {
    backend: tokio::sync::Mutex<Option<Arc<Backend>>>,
}

/// Supervisor settings.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    pub call_timeout: Duration,
    pub start_timeout: Duration,
    pub max_line_bytes: usize,
}

/// Owns every running backend.
pub struct Supervisor {
    runtime: SandboxRuntime,
    images: Arc<gigmcp_oci::Puller>,
    networked: Option<crate::launch::Networked>,
    config: SupervisorConfig,
    slots: Mutex<HashMap<(ProfileId, ServerId), Arc<Slot>>>,
    started: AtomicU64,
    events: tokio::sync::broadcast::Sender<BackendEvent>,
    /// Servers that exited when probed with `server/discover`: initialized straight away.
    handshake_only: Mutex<HashSet<ServerId>>,
}

/// How a start failed: the server died at the `server/discover` probe, or otherwise.
enum Probe {
    Died(String),
    Failed(BackendError),
}

impl From<BackendError> for Probe {
    fn from(e: BackendError) -> Self {
        Probe::Failed(e)
    }
}

impl Probe {
    fn into_error(self, server: &str) -> BackendError {
        match self {
            Probe::Failed(e) => e,
            Probe::Died(reason) => BackendError::Start {
                server: server.to_owned(),
                reason,
            },
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Supervisor {
    /// `networked`: the runtime with per-sandbox networking and the egress proxy, for servers
    /// whose manifest grants egress; `None` means no server gets a network.
    pub fn new(
        runtime: SandboxRuntime,
        networked: Option<crate::launch::Networked>,
        images: Arc<gigmcp_oci::Puller>,
        config: SupervisorConfig,
    ) -> Self {
        Self {
            runtime,
            images,
            networked,
            config,
            slots: Mutex::new(HashMap::new()),
            started: AtomicU64::new(0),
            events: tokio::sync::broadcast::channel(256).0,
            handshake_only: Mutex::new(HashSet::new()),
        }
    }

    /// Events from the backends (tool list changes, …).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<BackendEvent> {
        self.events.subscribe()
    }

    /// How many sandboxes this supervisor has started since it was created.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// The running backend of `server` for `profile`, started if needed.
    pub async fn backend(
        &self,
        profile: &Profile,
        server: &Server,
    ) -> Result<Arc<Backend>, BackendError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry((profile.id, server.id)).or_default().clone()
        };
        let mut guard = slot.backend.lock().await;
        if let Some(b) = guard.as_ref() {
            if b.is_alive() {
                b.touch();
                return Ok(b.clone());
            }
            tracing::info!(server = %server.name, profile = %profile.slug, "server ended; starting it again");
            b.stop();
        }
        let backend = self.start(profile, server).await?;
        *guard = Some(backend.clone());
        Ok(backend)
    }

    /// Starts a server in a new sandbox and finds out its era. A server that exits when asked
    /// `server/discover` is started once more and initialized straight away (and so from then
    /// on).
    async fn start(
        &self,
        profile: &Profile,
        server: &Server,
    ) -> Result<Arc<Backend>, BackendError> {
        let started_at = Instant::now();
        let probe = !lock(&self.handshake_only).contains(&server.id);
        match self.start_once(profile, server, probe, started_at).await {
            Err(Probe::Died(reason)) => {
                tracing::warn!(server = %server.name, %reason,
                    "server exited when asked server/discover; starting it again, initialized");
                lock(&self.handshake_only).insert(server.id);
                self.start_once(profile, server, false, started_at)
                    .await
                    .map_err(|e| e.into_error(&server.name))
            }
            other => other.map_err(|e| e.into_error(&server.name)),
        }
    }

    async fn start_once(
        &self,
        profile: &Profile,
        server: &Server,
        probe: bool,
        started_at: Instant,
    ) -> Result<Arc<Backend>, Probe> {
        let start_error = |reason: String| BackendError::Start {
            server: server.name.clone(),
            reason,
        };
        let launch = crate::launch::plan(
            &self.runtime,
            self.networked.as_ref(),
            &self.images,
            profile,
            server,
        )
        .await
        .map_err(|e| start_error(e.to_string()))?;
        let sandbox = launch
            .runtime
            .spawn(&launch.spec)
            .await
            .map_err(|e| start_error(e.to_string()))?;
        let egress_lease = match (
            launch.identity,
            sandbox.addresses(),
            self.networked.as_ref(),
        ) {
            (Some(identity), Some(addrs), Some(net)) => Some(
                net.egress
                    .attach(addrs.host, addrs.sandbox, identity)
                    .await
                    .map_err(|e| start_error(e.to_string()))?,
            ),
            (Some(_), _, _) => {
                return Err(start_error(
                    "the sandbox got no network address for its egress".into(),
                )
                .into());
            }
            _ => None,
        };
        self.started.fetch_add(1, Ordering::Relaxed);
        let gigmcp_sandbox::Sandbox {
            stdin,
            stdout,
            stderr,
            handle,
        } = sandbox;
        let handle = Arc::new(handle);
        let mut client_cfg = StdioClientConfig::new(server.name.clone());
        client_cfg.max_line_bytes = self.config.max_line_bytes;
        let (client, inbound) = StdioClient::start(stdout, stdin, client_cfg);
        spawn_stderr_logger(server.name.clone(), profile.slug.clone(), stderr);
        {
            let (handle, client) = (handle.clone(), client.clone());
            tokio::spawn(async move {
                let reason = handle.wait().await;
                client.close(reason.to_string());
            });
        }
        let handshake = async {
            let found = if probe {
                let wait = PROBE_WAIT.min(self.config.start_timeout / 2);
                match client
                    .discover(&GATEWAY_CAPABILITIES, &GATEWAY_INFO, wait)
                    .await
                {
                    Ok(found) => found,
                    Err(e) => return Err(Probe::Died(e.to_string())),
                }
            } else {
                Discovery::Refused
            };
            if let Discovery::Silent = found {
                // (it ignores what it does not know: not asked again at its next start)
                tracing::warn!(server = %server.name, "no answer to server/discover; initializing it");
                lock(&self.handshake_only).insert(server.id);
            }
            match found {
                Discovery::Stateless(discovered) => Ok((Era::Stateless, discovered)),
                Discovery::Refused | Discovery::Silent => client
                    .initialize_with(
                        "gigmcp",
                        env!("CARGO_PKG_VERSION"),
                        GATEWAY_CAPABILITIES.clone(),
                    )
                    .await
                    .map(|init| (Era::Handshake, init))
                    .map_err(|e| Probe::Failed(start_error(e.to_string()))),
            }
        };
        let (era, init) = match tokio::time::timeout(self.config.start_timeout, handshake).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                handle.kill();
                return Err(e);
            }
            Err(_) => {
                handle.kill();
                return Err(Probe::Failed(BackendError::StartTimeout {
                    server: server.name.clone(),
                    secs: self.config.start_timeout.as_secs(),
                }));
            }
        };
        let backend = Arc::new(Backend {
            profile: profile.id,
            naming: crate::profiles::Naming::of(profile),
            server: server.name.clone(),
            client,
            init,
            era,
            log_level: Mutex::new(None),
            listen: tokio::sync::Mutex::new(Listen::default()),
            sandbox: handle,
            _egress: egress_lease,
            tools: tokio::sync::Mutex::new(None),
            inflight: InFlight::default(),
            inbound_handled: AtomicU64::new(0),
            inbound_progress: tokio::sync::Notify::new(),
            validators: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
            call_timeout: self.config.call_timeout,
        });
        tokio::spawn(handle_inbound(
            Arc::downgrade(&backend),
            inbound,
            self.events.clone(),
        ));
        if era == Era::Stateless {
            // Its change notifications come on a listen stream, open while it runs.
            let mut listen = backend.listen.lock().await;
            if let Err(e) = backend.open_listen(&mut listen).await {
                tracing::warn!(server = %server.name, error = %e, "could not listen for the server's changes");
            }
        }
        tracing::info!(server = %server.name, profile = %profile.slug, pid = backend.pid(),
            era = ?era, elapsed_ms = started_at.elapsed().as_millis() as u64,
            "server started in its sandbox");
        Ok(backend)
    }

    /// Stops backends unused for `idle`; returns how many were stopped.
    pub async fn reap_idle(&self, idle: Duration) -> usize {
        let slots: Vec<_> = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut stopped = 0;
        for slot in slots {
            let mut guard = slot.backend.lock().await;
            if guard
                .as_ref()
                .is_some_and(|b| b.idle_for() >= idle || !b.is_alive())
                && let Some(b) = guard.take()
            {
                tracing::info!(server = %b.server, "stopping idle server");
                b.stop();
                stopped += 1;
            }
        }
        stopped
    }

    /// Stops every backend and waits for the sandbox runtime to clean up.
    pub async fn shutdown(&self) {
        let slots: Vec<_> = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            if let Some(b) = slot.backend.lock().await.take() {
                b.stop();
            }
        }
        self.runtime.shutdown().await;
        if let Some(net) = &self.networked {
            net.runtime.shutdown().await;
        }
    }
}

/// Server-initiated messages: progress and other notifications for the profile's clients,
/// and handshake-era servers' own requests to a client (sampling, roots, elicitation).
async fn handle_inbound(
    backend: std::sync::Weak<Backend>,
    mut inbound: mpsc::Receiver<Message>,
    events: tokio::sync::broadcast::Sender<BackendEvent>,
) {
    while let Some(msg) = inbound.recv().await {
        let Some(b) = backend.upgrade() else { break };
        match msg {
            Message::Request { id, method, params } => {
                ask_client(&b, id, &method, params).await;
            }
            Message::Notification { method, params } if method == "notifications/progress" => {
                if let Some((params, ctx)) = params.and_then(|p| b.inflight.progress(p)) {
                    ctx.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
                }
            }
            Message::Notification { method, .. }
                if method == "notifications/tools/list_changed" =>
            {
                b.forget_tools().await;
                let _ = events.send(BackendEvent::ToolsChanged { profile: b.profile });
            }
            Message::Notification { method, params } => {
                if let Some(event) = republish(&b, &method, params) {
                    let _ = events.send(event);
                }
            }
            _ => {}
        }
        b.inbound_handled.fetch_add(1, Ordering::SeqCst);
        b.inbound_progress.notify_waiters();
    }
}

/// Sends a handshake-era backend's request (sampling, elicitation, roots) to the client whose
/// call is in flight on it; the client's answer goes back under the backend's id. A request
/// outside any call, or one the client cannot take, is refused with the reason.
async fn ask_client(
    b: &Arc<Backend>,
    backend_id: gigmcp_mcp::jsonrpc::Id,
    method: &str,
    params: Option<Value>,
) {
    let key = crate::calls::input_key(&backend_id);
    let to = AnswerTo::Backend {
        backend: Arc::downgrade(b),
        backend_id,
    };
    match b.inflight.latest() {
        Some(ctx) => {
            let _ = crate::calls::ask(&ctx, method, params, key, to).await;
        }
        None => {
            let why = format!(
                "{method}: no client request is in progress on this server, so there is no client to ask"
            );
            to.answer(Err(ErrorObject::new(code::METHOD_NOT_FOUND, why)))
                .await;
        }
    }
}

/// True if a stateless server's result asks for input.
fn is_input_required(result: &Value) -> bool {
    result.get("resultType").and_then(Value::as_str) == Some("input_required")
}

/// Removes what a stateless server's result says about itself: the gateway is the server its
/// clients see (and adds its own `resultType` and info for stateless clients).
fn tidy_stateless_result(result: &mut Value) {
    let Some(obj) = result.as_object_mut() else {
        return;
    };
    obj.remove("resultType");
    if let Some(meta) = obj.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.remove(meta::SERVER_INFO);
        if meta.is_empty() {
            obj.remove("_meta");
        }
    }
}

/// The event a backend's notification becomes for the profile's clients, if any.
fn republish(b: &Backend, method: &str, params: Option<Value>) -> Option<BackendEvent> {
    let profile = b.profile;
    let note = |mut params: Option<Value>| {
        // (a stateless server tags what its listen stream carries; that tag is not the client's)
        if let Some(meta) = params
            .as_mut()
            .and_then(|p| p.get_mut("_meta"))
            .and_then(Value::as_object_mut)
        {
            meta.remove(meta::SUBSCRIPTION_ID);
        }
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        msg
    };
    match method {
        "notifications/resources/list_changed" | "notifications/prompts/list_changed" => {
            Some(BackendEvent::Notify {
                profile,
                message: note(None),
            })
        }
        "notifications/resources/updated" => {
            let mut params = params?;
            let original = params.get("uri")?.as_str()?;
            let uri = b.naming.uri(&b.server, original);
            params["uri"] = Value::String(uri.clone());
            Some(BackendEvent::ResourceUpdated {
                profile,
                uri,
                message: note(Some(params)),
            })
        }
        "notifications/message" => {
            // Log messages name their server, so a client can tell them apart.
            let mut params = params.filter(Value::is_object)?;
            let logger = match params.get("logger").and_then(Value::as_str) {
                Some(l) => format!("{}/{l}", b.server),
                None => b.server.clone(),
            };
            params["logger"] = Value::String(logger);
            Some(BackendEvent::Notify {
                profile,
                message: note(Some(params)),
            })
        }
        _ => None,
    }
}

fn spawn_stderr_logger(server: String, profile: String, stderr: tokio::process::ChildStderr) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        let mut logged = 0u32;
        // Bounded: a chatty or hostile server can neither flood the log nor grow our memory.
        loop {
            match read_bounded_line(&mut reader, &mut line, 4096).await {
                Ok(Line::Complete) if logged < 1000 => {
                    let text = String::from_utf8_lossy(&line);
                    tracing::info!(target: "gigmcp::server_stderr", %server, %profile, "{text}");
                    logged += 1;
                }
                Ok(Line::Complete | Line::TooLong) => {}
                Ok(Line::Eof) | Err(_) => break,
            }
        }
    });
}
