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
//!   recent one), under a gateway id; the client's answer goes back under the backend's id.

use crate::replay::StreamLog;
use crate::session::Session;
use gigmcp_mcp::jsonrpc::{Id, Message};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Notify, mpsc};

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
}

/// A backend's request for input, on its way to a stateless client.
#[derive(Debug)]
pub struct InputRequest {
    pub method: String,
    pub params: Option<Value>,
    pub backend: Weak<crate::supervisor::Backend>,
    /// The id the backend used (its answer goes back under it).
    pub backend_id: Id,
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
        }
    }

    /// Delivers a related message; `false` if the client can no longer be reached.
    pub fn send(&self, msg: Value) -> bool {
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

/// A backend's request waiting for a client's answer.
pub struct ServerRequest {
    pub backend: Weak<crate::supervisor::Backend>,
    /// The id the backend used.
    pub backend_id: Id,
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

/// A client's answer to a backend's request, under the backend's own id.
pub fn answer_for_backend(msg: Message, backend_id: Id) -> Option<Message> {
    match msg {
        Message::Response { result, .. } => Some(Message::Response {
            id: backend_id,
            result,
        }),
        Message::Error { error, .. } => Some(Message::Error {
            id: Some(backend_id),
            error,
        }),
        _ => None,
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
