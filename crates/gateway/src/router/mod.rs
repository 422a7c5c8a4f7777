//! One profile's MCP surface, routed to its servers: tools ([`tools`]), everything else a
//! server offers ([`surface`]), meta-tools mode ([`meta`]), and the fan-out to every server of
//! a profile that lists need ([`fanout`]).
//!
//! The transports hand each request to [`Router::handle`] with the profile and the call's
//! context; the router needs only the supervisor (to reach backends), the search index cache
//! and the session registry (a resource subscription is held at the server while any session
//! holds it), not the gateway's whole state.

pub mod fanout;
pub mod meta;
pub mod surface;
pub mod tools;

use crate::caller::CallContext;
use crate::naming::INSTRUCTIONS;
use crate::profiles::ProfileState;
use crate::session::Sessions;
use crate::supervisor::Supervisor;
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_mcp::method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The router handle: cheap to clone.
#[derive(Clone)]
pub struct Router(Arc<Inner>);

struct Inner {
    supervisor: Arc<Supervisor>,
    search: meta::SearchCache,
    sessions: Arc<Sessions>,
}

impl Router {
    pub fn new(supervisor: Arc<Supervisor>, sessions: Arc<Sessions>) -> Self {
        Self(Arc::new(Inner {
            supervisor,
            search: Default::default(),
            sessions,
        }))
    }

    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.0.supervisor
    }

    pub(crate) fn search(&self) -> &meta::SearchCache {
        &self.0.search
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.0.sessions
    }

    /// How long a list waits for one server: a slow or stuck server is left out of it (and
    /// logged) rather than holding up the others.
    pub fn list_wait(&self) -> Duration {
        self.0
            .supervisor
            .call_timeout()
            .min(Duration::from_secs(10))
    }

    /// Answers one client request (other than `initialize`, `server/discover` and
    /// `subscriptions/listen`, which belong to the transports).
    pub async fn handle(
        &self,
        state: &ProfileState,
        ctx: &CallContext,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, ErrorObject> {
        match method {
            method::PING => Ok(json!({})),
            method::TOOLS_LIST if state.profile.meta_tools => {
                Ok(meta::list(self, state, &ctx.caller).await)
            }
            method::TOOLS_LIST => tools::list(self, state, params).await,
            method::TOOLS_CALL => tools::call(self, state, ctx, params).await,
            other => match surface::handle(self, state, ctx, other, params).await {
                Some(result) => result,
                None => Err(ErrorObject::new(
                    code::METHOD_NOT_FOUND,
                    format!("method not found: {other}"),
                )),
            },
        }
    }

    /// Every permitted tool of the profile (see [`tools::permitted`]).
    pub async fn permitted_tools<'a>(
        &self,
        state: &'a ProfileState,
    ) -> Vec<tools::PermittedTool<'a>> {
        tools::permitted(self, state).await
    }
}

/// The `initialize` result the gateway gives its clients.
pub fn initialize_result(version: &str, capabilities: Value) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": capabilities,
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS
    })
}

/// The gateway as the server its clients see.
pub fn server_info() -> Value {
    json!({ "name": "gigmcp", "title": "Gig'MCP gateway", "version": env!("CARGO_PKG_VERSION") })
}

/// A tool-execution error the model can read (`isError: true`), as the spec wants for bad input.
pub fn tool_error(text: String) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "isError": true })
}
