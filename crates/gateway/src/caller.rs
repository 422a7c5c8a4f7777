//! Who a call is for, and how a server's question reaches them.
//!
//! A [`Caller`] is either a handshake-era **session** (asked with requests on its call's SSE
//! stream, answering with responses) or one **stateless** request (asked through the
//! `InputRequiredResult` its call returns, answering on its retry). A [`CallContext`] is one
//! call of a caller: where its related messages (progress, the server's requests) go, and the
//! client's id for it.
//!
//! A stateless caller's call may be resumed by a retry that carries the answers; from then on
//! its related messages go to that retry ([`Redirect`]).

use crate::link::AnswerTo;
use crate::replay::StreamLog;
use crate::session::Session;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, code};
use gigmcp_mcp::method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The client a call is for.
#[derive(Clone)]
pub enum Caller {
    /// A handshake-era session.
    Session(Arc<Session>),
    /// One stateless (2026-07-28) request; nothing of it outlives the request.
    Stateless(Arc<StatelessCaller>),
}

/// What the gateway knows of a stateless request's client.
pub struct StatelessCaller {
    /// The capabilities its `_meta` declares.
    pub capabilities: Value,
    /// Where a server's request for input goes, to be returned as an `InputRequiredResult` and
    /// answered on the client's retry; `None` when this request cannot carry one.
    pub inputs: Option<mpsc::Sender<InputRequest>>,
    /// Set for a call that a retry may resume.
    pub redirect: Option<Arc<Redirect>>,
}

impl StatelessCaller {
    /// A caller that cannot be asked anything (lists, discovery).
    pub fn plain(capabilities: Value) -> Arc<Self> {
        Arc::new(Self {
            capabilities,
            inputs: None,
            redirect: None,
        })
    }
}

impl Caller {
    /// What the client declared (`initialize`, or this request's `_meta`).
    pub fn capabilities(&self) -> Value {
        match self {
            Caller::Session(s) => s.client_capabilities(),
            Caller::Stateless(c) => c.capabilities.clone(),
        }
    }

    /// Whether the client declared `capability` (e.g. `sampling`, `elicitation`).
    pub fn supports(&self, capability: &str) -> bool {
        match self {
            Caller::Session(s) => s.client_supports(capability),
            Caller::Stateless(c) => c.capabilities.get(capability).is_some_and(|v| !v.is_null()),
        }
    }

    /// The session, for a handshake-era caller.
    pub fn session(&self) -> Option<&Arc<Session>> {
        match self {
            Caller::Session(s) => Some(s),
            Caller::Stateless(_) => None,
        }
    }

    /// Whether `self` and `other` are the same client.
    pub fn same(&self, other: &Caller) -> bool {
        match (self, other) {
            (Caller::Session(a), Caller::Session(b)) => Arc::ptr_eq(a, b),
            (Caller::Stateless(a), Caller::Stateless(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Meta-tools mode: the tools this client loaded (a stateless client keeps none).
    pub fn loaded(&self) -> BTreeSet<String> {
        match self {
            Caller::Session(s) => s.loaded(),
            Caller::Stateless(_) => BTreeSet::new(),
        }
    }

    /// Meta-tools mode: loads `names` for this client; returns how many were new, and tells a
    /// session client that its list changed. A stateless client keeps nothing between requests.
    pub fn load(&self, names: Vec<String>) -> usize {
        match self {
            Caller::Session(s) => {
                let added = s.load(names);
                if added > 0 {
                    s.push(json!({"jsonrpc": "2.0", "method": method::TOOLS_LIST_CHANGED}));
                }
                added
            }
            Caller::Stateless(_) => names.len(),
        }
    }
}

/// One call of a caller.
#[derive(Clone)]
pub struct CallContext {
    pub caller: Caller,
    /// The call's own SSE stream, when the client accepts one; otherwise a session's related
    /// messages go to its GET stream, and a stateless caller's are dropped.
    pub related: Option<Arc<StreamLog>>,
    /// The client's id for this request (what its `notifications/cancelled` will name).
    pub client_id: Option<Id>,
}

impl CallContext {
    /// A call of `caller` with the client's request id `id`, its related messages on `related`.
    pub fn new(caller: Caller, id: Option<Id>, related: Option<Arc<StreamLog>>) -> Self {
        Self {
            caller,
            related,
            client_id: id,
        }
    }

    /// Delivers a related message; `false` if the client can no longer be reached.
    pub fn send(&self, msg: Value) -> bool {
        let msg = match &self.caller {
            Caller::Stateless(c) => match &c.redirect {
                Some(redirect) => match redirect.deliver(msg) {
                    Ok(delivered) => return delivered,
                    Err(msg) => msg,
                },
                None => msg,
            },
            Caller::Session(_) => msg,
        };
        match (&self.related, &self.caller) {
            (Some(log), _) => log.push(msg.to_string()),
            (None, Caller::Session(s)) => s.push(msg),
            (None, Caller::Stateless(_)) => false,
        }
    }
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
        if msg.get("method").and_then(Value::as_str) == Some(method::PROGRESS) {
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

/// A server's request for input, on its way to a stateless client.
pub struct InputRequest {
    pub method: String,
    pub params: Option<Value>,
    /// The key the client answers it under in `inputResponses`.
    pub key: String,
    pub to: AnswerTo,
}

/// The key a handshake-era server's request goes under in `inputRequests`: its JSON-RPC id.
pub fn input_key(id: &Id) -> String {
    match id {
        Id::Str(s) => s.clone(),
        Id::Num(n) => n.to_string(),
    }
}

/// The stateless revision's -32021 for a server's request (`method`) that needs a capability
/// the caller did not declare; `None` when it declared it, or the method needs none the
/// gateway knows of.
pub fn missing_capability(method: &str, caller: &Caller) -> Option<ErrorObject> {
    let capability = method::needed_capability(method)?;
    if caller.supports(capability) {
        return None;
    }
    Some(
        ErrorObject::new(
            code::MISSING_CAPABILITY,
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
    match ask_inner(ctx, method, params, key, to) {
        Ok(()) => Ok(()),
        Err((why, to)) => {
            let err = ErrorObject::new(code::METHOD_NOT_FOUND, why);
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
    let Some(capability) = method::needed_capability(method) else {
        return Err((
            format!("the gateway does not forward {method} requests to clients"),
            to,
        ));
    };
    let session = match &ctx.caller {
        Caller::Stateless(c) => {
            let Some(inputs) = c.inputs.as_ref() else {
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
        Caller::Session(s) => s,
    };
    if !session.client_supports(capability) {
        return Err((
            format!("{method}: the client did not declare the {capability} capability"),
            to,
        ));
    }
    let id = match session.add_server_request(to) {
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
        && let Some(to) = session.take_server_request(&id)
    {
        return Err((format!("{method}: the client can no longer be reached"), to));
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
