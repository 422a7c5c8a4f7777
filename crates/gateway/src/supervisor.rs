//! Starts each (profile × server) backend in its own sandbox on first use, keeps it while it is
//! used, and starts it again after it dies.
//!
//! One [`Slot`] per (profile, server) holds an async mutex, so concurrent first requests start
//! a server exactly once: the first caller starts it, the others wait for that start.

use gigmcp_mcp::jsonrpc::{ErrorObject, Message, code};
use gigmcp_mcp::stdio::{Line, read_bounded_line};
use gigmcp_mcp::{ClientError, StdioClient, StdioClientConfig};
use gigmcp_sandbox::{SandboxHandle, SandboxRuntime};
use gigmcp_store::{Profile, ProfileId, Server, ServerId};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::BufReader;
use tokio::sync::mpsc;

use crate::calls::{CallContext, CancelHandle, InFlight, ServerRequest};

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
    /// The server's `InitializeResult`.
    pub init: Value,
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

    /// A request with the per-call timeout.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, BackendError> {
        self.touch();
        match tokio::time::timeout(self.call_timeout, self.client.request(method, params)).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(BackendError::Timeout {
                server: self.server.clone(),
                secs: self.call_timeout.as_secs(),
            }),
        }
    }

    /// A client's call: like [`Self::request`], with the client's progress token remapped,
    /// cancellable by the client (its `notifications/cancelled` reaches the backend under the
    /// backend's id), and the backend told to cancel when the per-call timeout expires.
    pub async fn call(
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

    async fn start(
        &self,
        profile: &Profile,
        server: &Server,
    ) -> Result<Arc<Backend>, BackendError> {
        let started_at = Instant::now();
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
                ));
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
        let init = match tokio::time::timeout(
            self.config.start_timeout,
            client.initialize_with(
                "gigmcp",
                env!("CARGO_PKG_VERSION"),
                // Asked of the backend's server on behalf of the client whose call is in
                // flight; refused when that client did not declare them.
                // (roots/list outside any call finds no client, and is refused with a reason)
                json!({ "sampling": {}, "elicitation": {}, "roots": {} }),
            ),
        )
        .await
        {
            Ok(Ok(init)) => init,
            Ok(Err(e)) => {
                handle.kill();
                return Err(BackendError::Start {
                    server: server.name.clone(),
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                handle.kill();
                return Err(BackendError::StartTimeout {
                    server: server.name.clone(),
                    secs: self.config.start_timeout.as_secs(),
                });
            }
        };
        let backend = Arc::new(Backend {
            profile: profile.id,
            naming: crate::profiles::Naming::of(profile),
            server: server.name.clone(),
            client,
            init,
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
        tracing::info!(server = %server.name, profile = %profile.slug, pid = backend.pid(),
            elapsed_ms = started_at.elapsed().as_millis() as u64, "server started in its sandbox");
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

/// Server-initiated messages: handshake-era servers may ask the client things (sampling,
/// roots, elicitation); until those are routed to a session they get a clear refusal.
async fn handle_inbound(
    backend: std::sync::Weak<Backend>,
    mut inbound: mpsc::Receiver<Message>,
    events: tokio::sync::broadcast::Sender<BackendEvent>,
) {
    while let Some(msg) = inbound.recv().await {
        let Some(b) = backend.upgrade() else { break };
        match msg {
            Message::Request { id, method, params } => {
                if let Err(err) = ask_client(&b, id.clone(), &method, params) {
                    let _ = b.client.reply(Message::error(Some(id), err)).await;
                }
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

/// Sends a backend's request (sampling, elicitation, ...) to the client whose call is in
/// flight on it, under a gateway id; the client's answer is routed back by
/// [`crate::calls::answer_for_backend`]. An error says why it cannot be asked.
fn ask_client(
    b: &Arc<Backend>,
    backend_id: gigmcp_mcp::jsonrpc::Id,
    method: &str,
    params: Option<Value>,
) -> Result<(), ErrorObject> {
    let refuse = |why: String| ErrorObject::new(code::METHOD_NOT_FOUND, why);
    let ctx = b.inflight.latest().ok_or_else(|| {
        refuse(format!(
            "{method}: no client request is in progress on this server, so there is no client to ask"
        ))
    })?;
    let capability = match method {
        "sampling/createMessage" => "sampling",
        "elicitation/create" => "elicitation",
        "roots/list" => "roots",
        other => {
            return Err(refuse(format!(
                "the gateway does not forward {other} requests to clients"
            )));
        }
    };
    // (a stateless client's capabilities are checked where its InputRequiredResult is made)
    if !ctx.session.is_detached() && !ctx.session.client_supports(capability) {
        return Err(refuse(format!(
            "{method}: the client did not declare the {capability} capability"
        )));
    }
    if ctx.session.is_detached() {
        // A stateless client is asked through the result of its call (InputRequiredResult).
        let inputs = ctx.inputs.as_ref().ok_or_else(|| {
            refuse(format!(
                "{method}: this request cannot carry an InputRequiredResult"
            ))
        })?;
        return inputs
            .try_send(crate::calls::InputRequest {
                method: method.to_owned(),
                params,
                backend: Arc::downgrade(b),
                backend_id,
            })
            .map_err(|_| refuse(format!("{method}: the client can no longer be asked")));
    }
    let id = ctx
        .session
        .add_server_request(ServerRequest {
            backend: Arc::downgrade(b),
            backend_id,
        })
        .ok_or_else(|| {
            refuse(format!(
                "{method}: too many requests waiting for the client"
            ))
        })?;
    let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(p) = params {
        msg["params"] = p;
    }
    if !ctx.send(msg) {
        ctx.session.take_server_request(&id);
        return Err(refuse(format!(
            "{method}: the client can no longer be reached"
        )));
    }
    Ok(())
}

/// The event a backend's notification becomes for the profile's clients, if any.
fn republish(b: &Backend, method: &str, params: Option<Value>) -> Option<BackendEvent> {
    let profile = b.profile;
    let note = |params: Option<Value>| {
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
