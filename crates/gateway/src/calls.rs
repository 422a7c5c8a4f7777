//! Calls in flight between a client session and a backend, and the messages that belong to
//! them: progress notifications, cancellation, and the backend's own requests to the client
//! (sampling, elicitation).
//!
//! Ids and tokens are remapped at the gateway, because one backend serves every session of
//! its profile and two clients may well use the same ids:
//!
//! - a client's `_meta.progressToken` is replaced by a gateway token unique on that backend,
//!   and the backend's `notifications/progress` is mapped back and sent to the calling client;
//! - a client's `notifications/cancelled` names its own request id: the gateway finds the
//!   backend request it became and cancels that one (also when the per-call timeout expires);
//! - a backend's request goes to the client whose call is in flight on that backend (the most
//!   recent one), under a gateway id; the client's answer goes back under the backend's id;
//! - a stateless backend's `InputRequiredResult` names its call itself: each of its input
//!   requests is asked of that call's client the same way, and the answers are gathered for the
//!   gateway's retry of the call ([`AnswerTo::Gatherer`]).
//!
//! A session client is asked on its call's stream; a stateless client through its own call's
//! `InputRequiredResult` (see `modern.rs`).

use crate::replay::StreamLog;
use crate::session::Session;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, Message, code};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Notify, mpsc, oneshot};

/// Where a client call's related messages go.
#[derive(Clone)]
pub struct CallContext {
    pub session: Arc<Session>,
    /// The POST's own SSE stream, when the client accepts one; otherwise related messages go
    /// to the session's GET stream.
    pub related: Option<Arc<StreamLog>>,
    /// The client's id for this request (what its `notifications/cancelled` will name).
    pub client_id: Option<Id>,
    /// Stateless clients: where a backend's request for input (elicitation, sampling) goes, to
    /// be returned as an `InputRequiredResult` and answered on the client's retry.
    pub inputs: Option<mpsc::Sender<InputRequest>>,
    /// Stateless clients: set once a retry resumes the call, whose related messages then go
    /// to that retry instead.
    pub redirect: Option<Arc<Redirect>>,
}

/// Where a parked stateless call's related messages go once the client's retry resumes it:
/// the retry's own stream, its progress under the retry's progress token.
#[derive(Default)]
pub struct Redirect {
    to: Mutex<Option<Target>>,
}

struct Target {
    /// `None`: the retry has no stream of its own (a JSON answer); related messages are dropped.
    log: Option<Arc<StreamLog>>,
    /// `None`: the retry asked for no progress.
    progress_token: Option<Value>,
}

impl Redirect {
    /// From now on, related messages go to `log`, progress under `progress_token`.
    pub fn retarget(&self, log: Option<Arc<StreamLog>>, progress_token: Option<Value>) {
        *lock(&self.to) = Some(Target {
            log,
            progress_token,
        });
    }

    /// Delivers `msg` to the retry that resumed the call (whether the client can still be
    /// reached); `msg` back if no retry did yet.
    fn deliver(&self, mut msg: Value) -> Result<bool, Value> {
        let to = lock(&self.to);
        let Some(target) = to.as_ref() else {
            return Err(msg);
        };
        if msg.get("method").and_then(Value::as_str) == Some("notifications/progress") {
            let Some(token) = &target.progress_token else {
                return Ok(true);
            };
            if let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) {
                params.insert("progressToken".into(), token.clone());
            }
        }
        Ok(match &target.log {
            Some(log) => log.push(msg.to_string()),
            None => true,
        })
    }
}

/// A backend's request for input, on its way to a stateless client.
pub struct InputRequest {
    pub method: String,
    pub params: Option<Value>,
    /// The key the client answers it under in `inputResponses`.
    pub key: String,
    pub to: AnswerTo,
}

/// Where a client's answer to a server's request goes.
pub enum AnswerTo {
    /// A handshake-era backend's own request: answered on its connection, under its id.
    Backend {
        backend: Weak<crate::supervisor::Backend>,
        backend_id: Id,
    },
    /// One input request of a stateless backend's `InputRequiredResult`: the gateway gathers
    /// the answers and retries the call with them.
    Gatherer(oneshot::Sender<Result<Value, ErrorObject>>),
}

impl AnswerTo {
    /// Passes the client's answer (or why there is none) on.
    pub async fn answer(self, outcome: Result<Value, ErrorObject>) {
        match self {
            AnswerTo::Backend {
                backend,
                backend_id,
            } => {
                let Some(backend) = backend.upgrade() else {
                    return;
                };
                let msg = match outcome {
                    Ok(result) => Message::Response {
                        id: backend_id,
                        result,
                    },
                    Err(error) => Message::error(Some(backend_id), error),
                };
                if let Err(e) = backend.client.reply(msg).await {
                    tracing::debug!(server = %backend.server, error = %e, "could not pass an answer on");
                }
            }
            AnswerTo::Gatherer(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// The key a handshake-era backend's request goes under in `inputRequests`: its JSON-RPC id.
pub fn input_key(id: &Id) -> String {
    match id {
        Id::Str(s) => s.clone(),
        Id::Num(n) => n.to_string(),
    }
}

/// The client capability a server's request to the client needs, if the gateway passes such
/// requests on at all.
pub fn needed_capability(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// The stateless revision's -32021 for a server's request (`method`) that needs a capability
/// `session`'s client did not declare; `None` when it declared it, or the method needs none
/// the gateway knows of.
pub fn missing_capability(method: &str, session: &Session) -> Option<ErrorObject> {
    let capability = needed_capability(method)?;
    if session.client_supports(capability) {
        return None;
    }
    Some(
        ErrorObject::new(
            crate::modern::MISSING_CAPABILITY,
            format!(
                "the server needs the client's {capability} capability for this request, and \
                 the client did not declare it"
            ),
        )
        .with_data(json!({ "requiredCapabilities": { capability: {} } })),
    )
}

/// Asks the client of `ctx` something on a server's behalf (`key`: what a stateless client
/// answers it under). A session client gets it as a request on its call's stream, under a
/// gateway id; a stateless client in its call's `InputRequiredResult`, whose capabilities are
/// checked there. When it cannot be asked, `to` is answered with the reason, also returned.
pub async fn ask(
    ctx: &CallContext,
    method: &str,
    params: Option<Value>,
    key: String,
    to: AnswerTo,
) -> Result<(), ErrorObject> {
    let refuse = |why: String| ErrorObject::new(code::METHOD_NOT_FOUND, why);
    let outcome = ask_inner(ctx, method, params, key, to);
    match outcome {
        Ok(()) => Ok(()),
        Err((why, to)) => {
            let err = refuse(why);
            to.answer(Err(err.clone())).await;
            Err(err)
        }
    }
}

fn ask_inner(
    ctx: &CallContext,
    method: &str,
    params: Option<Value>,
    key: String,
    to: AnswerTo,
) -> Result<(), (String, AnswerTo)> {
    let Some(capability) = needed_capability(method) else {
        return Err((
            format!("the gateway does not forward {method} requests to clients"),
            to,
        ));
    };
    if ctx.session.is_detached() {
        let Some(inputs) = ctx.inputs.as_ref() else {
            return Err((
                format!("{method}: this request cannot carry an InputRequiredResult"),
                to,
            ));
        };
        let request = InputRequest {
            method: method.to_owned(),
            params,
            key,
            to,
        };
        return inputs.try_send(request).map_err(|e| {
            let request = match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            (
                format!("{method}: the client can no longer be asked"),
                request.to,
            )
        });
    }
    if !ctx.session.client_supports(capability) {
        return Err((
            format!("{method}: the client did not declare the {capability} capability"),
            to,
        ));
    }
    let id = match ctx.session.add_server_request(to) {
        Ok(id) => id,
        Err(to) => {
            return Err((
                format!("{method}: too many requests waiting for the client"),
                to,
            ));
        }
    };
    let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(p) = params {
        msg["params"] = p;
    }
    if !ctx.send(msg)
        && let Some(to) = ctx.session.take_server_request(&id)
    {
        return Err((format!("{method}: the client can no longer be reached"), to));
    }
    Ok(())
}

impl CallContext {
    /// A context for work not caused by a client request (nothing related is delivered
    /// except through the session's GET stream).
    pub fn detached(session: Arc<Session>) -> Self {
        Self {
            session,
            related: None,
            client_id: None,
            inputs: None,
            redirect: None,
        }
    }

    /// Delivers a related message; `false` if the client can no longer be reached.
    pub fn send(&self, msg: Value) -> bool {
        let msg = match &self.redirect {
            Some(redirect) => match redirect.deliver(msg) {
                Ok(delivered) => return delivered,
                Err(msg) => msg,
            },
            None => msg,
        };
        match &self.related {
            Some(log) => log.push(msg.to_string()),
            None => self.session.push(msg),
        }
    }
}

/// How a client's cancellation reaches the backend request its call became.
pub struct CancelHandle {
    pub backend: Weak<crate::supervisor::Backend>,
    pub backend_id: i64,
    /// Wakes the gateway task waiting for the backend's answer.
    pub cancelled: Arc<Notify>,
}

/// The per-backend registry of calls in flight.
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<HashMap<i64, CallContext>>,
    /// gateway progress token → (the client's token, the call).
    progress: Mutex<HashMap<String, (Value, CallContext)>>,
    next_token: AtomicU64,
}

impl InFlight {
    /// Replaces a client progress token in `params._meta` with a gateway token; returns it.
    pub fn remap_progress(&self, params: &mut Value, ctx: &CallContext) -> Option<String> {
        let meta = params.get_mut("_meta")?.as_object_mut()?;
        let client_token = meta.get("progressToken")?.clone();
        let n = self.next_token.fetch_add(1, Ordering::Relaxed);
        let token = format!("gigmcp-progress-{n}");
        meta.insert("progressToken".into(), Value::String(token.clone()));
        lock(&self.progress).insert(token.clone(), (client_token, ctx.clone()));
        Some(token)
    }

    pub fn begin(&self, backend_id: i64, ctx: &CallContext) {
        lock(&self.calls).insert(backend_id, ctx.clone());
    }

    /// Forgets every call of `ctx`'s session with `ctx`'s client id (a request that could not
    /// be sent).
    pub fn end_all_of(&self, ctx: &CallContext) {
        lock(&self.calls).retain(|_, c| {
            !(Arc::ptr_eq(&c.session, &ctx.session) && c.client_id == ctx.client_id)
        });
    }

    pub fn end(&self, backend_id: i64, token: Option<&str>) {
        lock(&self.calls).remove(&backend_id);
        if let Some(t) = token {
            lock(&self.progress).remove(t);
        }
    }

    /// A backend's `notifications/progress`, mapped back to the client's token, and the call
    /// it belongs to.
    pub fn progress(&self, mut params: Value) -> Option<(Value, CallContext)> {
        let token = params.get("progressToken")?.as_str()?.to_owned();
        let (client_token, ctx) = lock(&self.progress).get(&token).cloned()?;
        params["progressToken"] = client_token;
        Some((params, ctx))
    }

    /// The call a backend's own request most likely belongs to: the most recent in flight.
    pub fn latest(&self) -> Option<CallContext> {
        let calls = lock(&self.calls);
        calls
            .iter()
            .max_by_key(|(id, _)| **id)
            .map(|(_, ctx)| ctx.clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigmcp_store::ProfileId;
    use serde_json::json;

    fn ctx() -> (CallContext, Arc<StreamLog>) {
        let sessions = crate::session::Sessions::new(10, std::time::Duration::from_secs(60));
        let session = sessions.create(ProfileId(1), "2025-11-25").unwrap();
        let log = session.new_log('c');
        (
            CallContext {
                session,
                related: Some(log.clone()),
                client_id: Some(Id::Num(7)),
                inputs: None,
                redirect: None,
            },
            log,
        )
    }

    #[test]
    fn progress_tokens_are_remapped_per_backend_and_back() {
        let inflight = InFlight::default();
        let (a, _ra) = ctx();
        let (b, _rb) = ctx();
        // two clients using the same token
        let mut pa = json!({"name": "t", "_meta": {"progressToken": 1}});
        let mut pb = json!({"name": "t", "_meta": {"progressToken": 1}});
        let ta = inflight.remap_progress(&mut pa, &a).unwrap();
        let tb = inflight.remap_progress(&mut pb, &b).unwrap();
        assert_ne!(ta, tb);
        assert_eq!(pa["_meta"]["progressToken"], ta.as_str());
        let (back, to) = inflight
            .progress(json!({"progressToken": tb, "progress": 1}))
            .unwrap();
        assert_eq!(back, json!({"progressToken": 1, "progress": 1}));
        assert!(Arc::ptr_eq(&to.session, &b.session));
        inflight.end(1, Some(&tb));
        assert!(
            inflight
                .progress(json!({"progressToken": tb, "progress": 2}))
                .is_none()
        );
        // no token: nothing to remap
        assert!(
            inflight
                .remap_progress(&mut json!({"name": "t"}), &a)
                .is_none()
        );
    }

    #[test]
    fn a_backend_request_goes_to_the_latest_call() {
        let inflight = InFlight::default();
        assert!(inflight.latest().is_none());
        let (a, _ra) = ctx();
        let (b, _rb) = ctx();
        inflight.begin(3, &a);
        inflight.begin(9, &b);
        assert!(Arc::ptr_eq(&inflight.latest().unwrap().session, &b.session));
        inflight.end(9, None);
        assert!(Arc::ptr_eq(&inflight.latest().unwrap().session, &a.session));
    }
}
