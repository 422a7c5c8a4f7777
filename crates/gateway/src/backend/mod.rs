//! One running server of one profile, as the gateway drives it.
//!
//! A [`Backend`] wraps the server's stdio client and process and speaks the server's era:
//! what differs lives in one module per era, behind this one type, like rustls's client
//! state machines per protocol version:
//!
//! - [`handshake`]: a server initialized once (`initialize`), asking clients things with its own
//!   requests in the middle of a call;
//! - [`stateless`]: a 2026-07-28 server, sent `_meta` with the calling client's capabilities
//!   on every request, asking for input with `InputRequiredResult`s, reporting changes on a
//!   `subscriptions/listen` stream.
//!
//! What is common is here: the tool list cache and argument validation, one call sent and
//! awaited (progress token remapped, cancellation, per-call timeout), cancellation, liveness.
//! Server-initiated messages are handled in [`inbound`].

mod error;
mod handshake;
mod inbound;
mod inflight;
mod stateless;

pub use error::BackendError;
pub use inbound::{BackendEvent, spawn_inbound, spawn_stderr_logger};
pub use stateless::PASSED_STATE_PREFIX;

use crate::caller::{CallContext, Caller};
use crate::launcher::Process;
use crate::link::{CancelHandle, ServerLink};
use crate::naming::Naming;
use futures_util::future::BoxFuture;
use gigmcp_mcp::StdioClient;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, Message};
use gigmcp_mcp::method;
use gigmcp_store::ProfileId;
use inflight::InFlight;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// What the gateway can ask its clients on a server's behalf (declared to every server; a
/// request a client did not declare is refused for that client).
pub static GATEWAY_CAPABILITIES: LazyLock<Value> =
    LazyLock::new(|| json!({ "sampling": {}, "elicitation": {}, "roots": {} }));

/// The gateway as a client of its servers.
pub static GATEWAY_INFO: LazyLock<Value> =
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

/// Who the backend is: its profile, its name and how the profile names what it offers.
#[derive(Clone, Debug)]
pub struct BackendIdentity {
    pub profile: ProfileId,
    pub server: String,
    pub naming: Naming,
}

/// A running server.
pub struct Backend {
    pub profile: ProfileId,
    /// How the profile names things (taken when the backend starts).
    pub naming: Naming,
    pub server: String,
    pub client: StdioClient,
    /// The server's `InitializeResult` (or `DiscoverResult`): its capabilities and info.
    pub init: Value,
    pub era: Era,
    /// State only a stateless server has (log level, listen stream).
    stateless: stateless::StatelessState,
    process: Arc<dyn Process>,
    /// Whatever must live as long as the server (its egress registration).
    _lease: Option<Box<dyn Send + Sync>>,
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

/// Ends a call's registrations; cancels it at the backend if it ended without an outcome.
struct CallGuard {
    backend: Arc<Backend>,
    backend_id: i64,
    token: Option<String>,
    ctx: CallContext,
    finished: bool,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.backend
            .inflight
            .end(self.backend_id, self.token.as_deref());
        if let (Some(id), Some(session)) = (&self.ctx.client_id, self.ctx.caller.session()) {
            session.untrack_call(id);
        }
        if !self.finished {
            let (backend, id) = (self.backend.clone(), self.backend_id);
            tokio::spawn(async move { backend.cancel(id, "the client went away").await });
        }
    }
}

impl Backend {
    /// A backend over a started server whose era is known (`init`: its answer to
    /// `initialize` or `server/discover`).
    pub fn new(
        who: BackendIdentity,
        client: StdioClient,
        init: Value,
        era: Era,
        process: Arc<dyn Process>,
        lease: Option<Box<dyn Send + Sync>>,
        call_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Backend {
            profile: who.profile,
            naming: who.naming,
            server: who.server,
            client,
            init,
            era,
            stateless: Default::default(),
            process,
            _lease: lease,
            tools: tokio::sync::Mutex::new(None),
            inflight: InFlight::default(),
            inbound_handled: AtomicU64::new(0),
            inbound_progress: tokio::sync::Notify::new(),
            validators: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
            call_timeout,
        })
    }

    pub(crate) fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    pub(crate) fn idle_for(&self) -> Duration {
        lock(&self.last_used).elapsed()
    }

    /// Host pid of the server's process.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the server declares `capability` in its `initialize` (or discover) result.
    pub fn declares(&self, capability: &str) -> bool {
        self.init
            .get("capabilities")
            .and_then(|c| c.get(capability))
            .is_some_and(|v| !v.is_null())
    }

    /// A request of the gateway's own (lists, subscriptions, ...), with the per-call timeout,
    /// in the server's era.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, BackendError> {
        self.touch();
        match self.era {
            Era::Handshake => self.timed(method, params).await,
            Era::Stateless => self.stateless_request(method, params).await,
        }
    }

    /// `request` as sent, with the per-call timeout.
    async fn timed(&self, method: &str, params: Option<Value>) -> Result<Value, BackendError> {
        match tokio::time::timeout(self.call_timeout, self.client.request(method, params)).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(BackendError::Timeout {
                server: self.server.clone(),
                secs: self.call_timeout.as_secs(),
            }),
        }
    }

    /// A client's call (`tools/call`, `prompts/get`, `resources/read`): like
    /// [`Self::request`], with the client's progress token remapped, cancellable by the client
    /// (its `notifications/cancelled` reaches the backend under the backend's id), the backend
    /// told to cancel when the per-call timeout expires, and the server's questions asked of
    /// the calling client as its era asks them.
    pub async fn call(
        self: &Arc<Self>,
        method: &str,
        params: Value,
        ctx: &CallContext,
    ) -> Result<Value, BackendError> {
        match self.era {
            Era::Handshake => self.handshake_call(method, params, ctx).await,
            Era::Stateless => self.stateless_call(method, params, ctx).await,
        }
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
        if let (Some(id), Some(session)) = (&ctx.client_id, ctx.caller.session()) {
            let link: Arc<dyn ServerLink> = self.clone();
            session.track_call(
                id.clone(),
                CancelHandle {
                    link: Some(Arc::downgrade(&link)),
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
        guard.finished = true;
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
        if let Err(e) = self.client.notify(method::CANCELLED, Some(params)).await {
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
            let page = self.request(method::TOOLS_LIST, params).await?;
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
        lock(&self.validators).clear();
    }

    /// Checks `arguments` against the input schema of `tool` (an entry of [`Self::tools`]).
    /// A schema that does not compile is the server's bug: it is logged and not enforced.
    pub fn check_arguments(&self, tool: &Value, arguments: &Value) -> Result<(), String> {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
        let validator = lock(&self.validators)
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
            .clone();
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

    pub(crate) fn is_alive(&self) -> bool {
        !self.client.is_closed() && !self.process.exited()
    }

    pub(crate) fn stop(&self) {
        self.client.close("stopped by the gateway");
        self.process.kill();
    }
}

impl ServerLink for Backend {
    fn reply(&self, id: Id, outcome: Result<Value, ErrorObject>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let msg = match outcome {
                Ok(result) => Message::Response { id, result },
                Err(error) => Message::error(Some(id), error),
            };
            if let Err(e) = self.client.reply(msg).await {
                tracing::debug!(server = %self.server, error = %e, "could not pass an answer on");
            }
        })
    }

    fn cancel<'a>(&'a self, backend_id: i64, reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(Backend::cancel(self, backend_id, reason))
    }
}

/// The caller's declared capabilities as an object (what a stateless server is told).
fn capabilities_of(caller: &Caller) -> Value {
    let caps = caller.capabilities();
    if caps.is_object() { caps } else { json!({}) }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
