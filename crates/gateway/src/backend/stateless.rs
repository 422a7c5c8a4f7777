//! A stateless (2026-07-28) server: no session, so everything travels with each request.
//!
//! - Every request carries the revision's `_meta`: the revision, the capabilities of the client
//!   whose call it is (the gateway's own for its own requests), the gateway as client, and the
//!   log level (what handshake-era clients set with `logging/setLevel`).
//! - Methods the revision removed are done its way: `ping` is answered here, the log level is
//!   kept for the `_meta` of later requests, resource subscriptions become the watch list of
//!   the server's one `subscriptions/listen` stream, reopened when that list changes.
//! - An `InputRequiredResult` is asked of a session client (its requests on the call's stream,
//!   then the call sent again with the answers and the server's `requestState`, round by
//!   round), or passed through to a stateless client with its `requestState` tagged
//!   `s.<server>.` so that the client's retry, on any replica, comes back to this server.
//! - What a result says about the server itself (`resultType`, server info) is removed: the
//!   gateway is the server its clients see.

use super::{Backend, BackendError, Era, GATEWAY_CAPABILITIES, GATEWAY_INFO, capabilities_of};
use crate::caller::{self, CallContext, Caller, missing_capability};
use crate::link::{AnswerTo, CancelHandle};
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_mcp::view::{InputRequired, InputRetry, RequestMeta};
use gigmcp_mcp::{meta, method};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Starts a stateless server's `requestState` as the gateway passes it to a stateless client
/// (the gateway's own states, random base64url, never contain a dot).
pub const PASSED_STATE_PREFIX: &str = "s.";
/// Rounds of input one call of a stateless server may ask for.
const MAX_INPUT_ROUNDS: usize = 16;
/// Input requests in one round.
const MAX_INPUTS_PER_ROUND: usize = 16;
/// Resources a stateless server's listen stream may watch.
const MAX_WATCHED: usize = 1024;

/// What only a stateless server's backend keeps.
#[derive(Default)]
pub(super) struct StatelessState {
    /// The log level handshake-era clients set (`logging/setLevel`), sent as `_meta` with each
    /// request.
    log_level: Mutex<Option<String>>,
    listen: tokio::sync::Mutex<Listen>,
}

/// The server's listen stream: its request id and the resources it watches.
#[derive(Default)]
struct Listen {
    id: Option<i64>,
    uris: BTreeSet<String>,
}

/// Where a stateless client's retry sends its answers and state.
enum RetryTo {
    /// A state this server gave out (passed through): the answers and that state go back to it.
    Server(String),
    /// Nothing of this server's: a first request may carry answers, a state of the gateway's
    /// own stays with the gateway.
    Fresh { gateway_state: bool },
}

impl Backend {
    /// A request of the gateway's own to a stateless server.
    pub(super) async fn stateless_request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, BackendError> {
        match method {
            method::PING => return Ok(json!({})),
            method::LOGGING_SET_LEVEL => {
                let level = params
                    .as_ref()
                    .and_then(|p| p.get("level"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                *lock(&self.stateless.log_level) = level;
                return Ok(json!({}));
            }
            method::RESOURCES_SUBSCRIBE | method::RESOURCES_UNSUBSCRIBE => {
                let uri = params
                    .as_ref()
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.watch(uri, method == method::RESOURCES_SUBSCRIBE)
                    .await?;
                return Ok(json!({}));
            }
            _ => {}
        }
        let level = self.log_level();
        let params = Some(meta::with_request_meta(
            params,
            &GATEWAY_CAPABILITIES,
            &GATEWAY_INFO,
            level.as_deref(),
        ));
        let mut result = self.timed(method, params).await?;
        if InputRequired::of(&result).is_some() {
            return Err(BackendError::Input(ErrorObject::new(
                code::INVALID_REQUEST,
                format!(
                    "server {} asked for input in answer to {method}, which no client made",
                    self.server
                ),
            )));
        }
        tidy_result(&mut result);
        Ok(result)
    }

    fn log_level(&self) -> Option<String> {
        lock(&self.stateless.log_level).clone()
    }

    /// A client's call to a stateless server: sent with the client's capabilities, its
    /// `InputRequiredResult`s answered round by round (a session client) or passed through (a
    /// stateless client).
    pub(super) async fn stateless_call(
        self: &Arc<Self>,
        method: &str,
        mut params: Value,
        ctx: &CallContext,
    ) -> Result<Value, BackendError> {
        let retry_to = self.retry_to(&params)?;
        if let Some(obj) = params.as_object_mut() {
            match retry_to {
                RetryTo::Server(state) if !state.is_empty() => {
                    obj.insert("requestState".into(), Value::String(state));
                }
                RetryTo::Server(_) => {
                    obj.remove("requestState");
                }
                RetryTo::Fresh { gateway_state } => {
                    obj.remove("requestState");
                    if gateway_state {
                        obj.remove("inputResponses");
                    }
                }
            }
        }
        let capabilities = capabilities_of(&ctx.caller);
        // a stateless client's own level; a session's, as set with logging/setLevel
        let level = RequestMeta::of(Some(&params))
            .log_level()
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
            if InputRequired::of(&result).is_none() {
                tidy_result(&mut result);
                return Ok(result);
            }
            if let Caller::Stateless(_) = &ctx.caller {
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

    /// Where the answers and state of a stateless client's retry go: the server's own
    /// `requestState` (`s.<server>.<state>`, as [`Self::pass_input_required`] gave it out), or
    /// nothing of this server's. A state tagged for another server is refused.
    fn retry_to(&self, params: &Value) -> Result<RetryTo, BackendError> {
        if params.get("requestState").is_none() {
            return Ok(RetryTo::Fresh {
                gateway_state: false,
            });
        }
        let retry = InputRetry::of(Some(params));
        let Some(rest) = retry
            .request_state
            .and_then(|s| s.strip_prefix(PASSED_STATE_PREFIX))
        else {
            return Ok(RetryTo::Fresh {
                gateway_state: true,
            });
        };
        match rest.split_once('.') {
            Some((server, state)) if server == self.server && self.era == Era::Stateless => {
                Ok(RetryTo::Server(state.to_owned()))
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
            if let Some(missing) = missing_capability(method, &ctx.caller) {
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

    /// Asks the calling session client each input request of an `InputRequiredResult` (all at
    /// once) and gathers the answers under their keys.
    async fn gather_input(&self, result: &Value, ctx: &CallContext) -> Result<Value, BackendError> {
        let bad = |reason: &str| BackendError::Protocol {
            server: self.server.clone(),
            reason: reason.to_owned(),
        };
        let requests = InputRequired::of(result)
            .and_then(|r| r.requests)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad("an InputRequiredResult without inputRequests"))?;
        if requests.len() > MAX_INPUTS_PER_ROUND {
            return Err(bad("an InputRequiredResult with too many inputRequests"));
        }
        // A session client may cancel its call while it is being asked.
        let cancelled = Arc::new(tokio::sync::Notify::new());
        let tracked = match (&ctx.client_id, ctx.caller.session()) {
            (Some(id), Some(session)) => session.track_call(
                id.clone(),
                CancelHandle {
                    link: None,
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
                caller::ask(ctx, method, params, key.clone(), AnswerTo::Gatherer(tx)).await
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
        if tracked && let (Some(id), Some(session)) = (&ctx.client_id, ctx.caller.session()) {
            session.untrack_call(id);
        }
        outcome
    }

    /// Starts or stops watching a resource: the listen stream is opened again with the new set.
    async fn watch(&self, uri: &str, on: bool) -> Result<(), BackendError> {
        let mut listen = self.stateless.listen.lock().await;
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

    /// Opens the server's listen stream (for every list change) when it starts.
    pub(crate) async fn start_listening(&self) {
        let mut listen = self.stateless.listen.lock().await;
        if let Err(e) = self.open_listen(&mut listen).await {
            tracing::warn!(server = %self.server, error = %e, "could not listen for the server's changes");
        }
    }

    /// (Re)opens the `subscriptions/listen` stream for every list change and the watched
    /// resources; the previous stream is cancelled.
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
            .send_request(method::SUBSCRIPTIONS_LISTEN, Some(params))
            .await?;
        listen.id = Some(pending.id());
        Ok(())
    }
}

/// Removes what a stateless server's result says about itself: the gateway is the server its
/// clients see (and adds its own `resultType` and info for stateless clients).
fn tidy_result(result: &mut Value) {
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
