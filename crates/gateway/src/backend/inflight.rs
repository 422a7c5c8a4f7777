//! The calls in flight on one backend, and the ids and tokens remapped for them.
//!
//! One backend serves every client of its profile, and two clients may well use the same ids:
//!
//! - a client's `_meta.progressToken` is replaced by a gateway token unique on that backend,
//!   and the backend's `notifications/progress` is mapped back and sent to the calling client;
//! - a backend's own request goes to the client whose call is in flight on it (the most recent
//!   one).

use crate::caller::CallContext;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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

    /// Forgets every call of `ctx`'s caller with `ctx`'s client id (a request that could not
    /// be sent).
    pub fn end_all_of(&self, ctx: &CallContext) {
        lock(&self.calls)
            .retain(|_, c| !(c.caller.same(&ctx.caller) && c.client_id == ctx.client_id));
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
    use crate::caller::Caller;
    use crate::replay::StreamLog;
    use gigmcp_mcp::jsonrpc::Id;
    use gigmcp_store::ProfileId;
    use serde_json::json;
    use std::sync::Arc;

    fn ctx() -> (CallContext, Arc<StreamLog>) {
        let sessions = crate::session::Sessions::new(10, std::time::Duration::from_secs(60));
        let session = sessions.create(ProfileId(1), "2025-11-25").unwrap();
        let log = session.new_log('c');
        (
            CallContext::new(
                Caller::Session(session),
                Some(Id::Num(7)),
                Some(log.clone()),
            ),
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
        assert!(to.caller.same(&b.caller));
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
        assert!(inflight.latest().unwrap().caller.same(&b.caller));
        inflight.end(9, None);
        assert!(inflight.latest().unwrap().caller.same(&a.caller));
    }
}
