//! A handshake-era server: initialized once, for every client of the profile.
//!
//! A client's call goes to it as sent, without the stateless revision's `_meta` keys (a
//! request must not look stateless to such a server), and without `requestState` or
//! `inputResponses`: those only mean something to stateless servers. In the middle of a call
//! the server may ask the client something with a request of its own (sampling, elicitation,
//! roots); the gateway passes it to the client whose call is in flight ([`ask_client`]).

use super::{Backend, BackendError};
use crate::caller::{self, CallContext, input_key};
use crate::link::{AnswerTo, ServerLink};
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, code};
use gigmcp_mcp::meta;
use serde_json::Value;
use std::sync::Arc;

impl Backend {
    /// A client's call to a handshake-era server.
    pub(super) async fn handshake_call(
        self: &Arc<Self>,
        method: &str,
        mut params: Value,
        ctx: &CallContext,
    ) -> Result<Value, BackendError> {
        if let Some(obj) = params.as_object_mut() {
            if let Some(state) = obj.get("requestState").and_then(Value::as_str)
                && state.starts_with(super::PASSED_STATE_PREFIX)
            {
                return Err(BackendError::Input(ErrorObject::new(
                    code::INVALID_PARAMS,
                    format!(
                        "requestState was not given out for a call of server {}: send the \
                         request again without it",
                        self.server
                    ),
                )));
            }
            obj.remove("requestState");
            obj.remove("inputResponses");
        }
        meta::strip_request_meta(&mut params);
        self.call_once(method, params, ctx).await
    }
}

/// Sends a handshake-era server's own request (sampling, elicitation, roots) to the client
/// whose call is in flight on it; the client's answer goes back under the server's id. A
/// request outside any call, or one the client cannot take, is refused with the reason.
pub(super) async fn ask_client(
    b: &Arc<Backend>,
    backend_id: Id,
    method: &str,
    params: Option<Value>,
) {
    let key = input_key(&backend_id);
    let link: Arc<dyn ServerLink> = b.clone();
    let to = AnswerTo::Server {
        link: Arc::downgrade(&link),
        id: backend_id,
    };
    match b.inflight.latest() {
        Some(ctx) => {
            let _ = caller::ask(&ctx, method, params, key, to).await;
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
