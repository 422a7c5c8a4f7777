//! One profile's MCP surface: the permitted tools of all its servers, namespaced
//! `<server>_<tool>`, with each call checked (permitted, arguments valid against the tool's
//! input schema) and routed to the server that owns the tool.

use crate::calls::CallContext;
use crate::http::Inner;
use crate::meta;
use crate::profiles::{Naming, ProfileState};
use crate::supervisor::{Backend, BackendError};
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_store::Server;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Separator between server name and tool name. Server names cannot contain it.
pub const SEPARATOR: char = '_';

/// The namespaced name of `tool` of `server`.
pub fn namespaced(server: &str, tool: &str) -> String {
    format!("{server}{SEPARATOR}{tool}")
}

/// Splits a namespaced name into (server, tool).
pub fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once(SEPARATOR)
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
}

/// What the gateway tells clients about its names.
pub const INSTRUCTIONS: &str = "Tools and prompts of this profile's servers are named \
    <server>_<name>, their resources gigmcp://<server>/<uri> (unless the profile has one server \
    and prefixes off).";

/// The `initialize` result the gateway gives its clients.
pub fn initialize_result(version: &str, capabilities: Value) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": capabilities,
        "serverInfo": { "name": "gigmcp", "title": "Gig'MCP gateway", "version": env!("CARGO_PKG_VERSION") },
        "instructions": INSTRUCTIONS
    })
}

/// Answers one client request (other than `initialize`).
pub async fn handle(
    gw: &Inner,
    state: &ProfileState,
    ctx: &CallContext,
    method: &str,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let session = &*ctx.session;
    match method {
        "ping" => Ok(json!({})),
        "tools/list" if state.profile.meta_tools => Ok(meta::list(gw, state, session).await),
        "tools/list" => list_tools(gw, state, params).await,
        "tools/call" => call_tool(gw, state, ctx, params).await,
        other => match crate::surface::handle(gw, state, ctx, other, params).await {
            Some(result) => result,
            None => Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("method not found: {other}"),
            )),
        },
    }
}

/// A permitted tool of one of the profile's servers, as the server described it.
pub struct PermittedTool<'a> {
    pub server: &'a Server,
    pub tool: Value,
    pub naming: Naming,
}

impl PermittedTool<'_> {
    pub fn name(&self) -> &str {
        self.tool
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The name the profile's clients see.
    pub fn shown_name(&self) -> String {
        self.naming.name(&self.server.name, self.name())
    }

    /// The tool object with the name the profile's clients see.
    pub fn namespaced(&self) -> Value {
        let mut obj = self.tool.as_object().cloned().unwrap_or_default();
        obj.insert("name".into(), Value::String(self.shown_name()));
        Value::Object(obj)
    }
}

/// How long a list waits for one server: a slow or stuck server is left out of it (and
/// logged) rather than holding up the others.
pub fn list_wait(gw: &Inner) -> std::time::Duration {
    gw.config
        .call_timeout
        .min(std::time::Duration::from_secs(10))
}

/// Every permitted tool of the profile, gathered from its servers in parallel. A server that
/// cannot be reached is left out (and logged) rather than failing the whole list.
pub async fn permitted_tools<'a>(gw: &Inner, state: &'a ProfileState) -> Vec<PermittedTool<'a>> {
    let wait = list_wait(gw);
    let lists = state.servers.iter().map(|server| async move {
        let list = async {
            let backend = crate::surface::start_in_background(gw, &state.profile, server).await?;
            backend.tools().await
        };
        match tokio::time::timeout(wait, list).await {
            Ok(r) => r.map(|list| (server, list)),
            Err(_) => Err(BackendError::Timeout {
                server: server.name.clone(),
                secs: wait.as_secs(),
            }),
        }
    });
    let mut out = Vec::new();
    for result in futures_util::future::join_all(lists).await {
        match result {
            Ok((server, list)) => {
                for tool in list.iter() {
                    let Some(name) = tool.get("name").and_then(Value::as_str) else {
                        continue;
                    };
                    if tool.is_object() && state.tool_enabled(server, name) {
                        out.push(PermittedTool {
                            server,
                            tool: tool.clone(),
                            naming: state.naming(),
                        });
                    }
                }
            }
            Err(e) => {
                tracing::warn!(profile = %state.profile.slug, error = %e, "left a server's tools out of tools/list")
            }
        }
    }
    out
}

async fn list_tools(
    gw: &Inner,
    state: &ProfileState,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    if let Some(cursor) = params
        .as_ref()
        .and_then(|p| p.get("cursor"))
        .and_then(Value::as_str)
        && !cursor.is_empty()
    {
        return Err(ErrorObject::new(
            code::INVALID_PARAMS,
            "invalid cursor: the tool list has a single page",
        ));
    }
    let tools: Vec<Value> = permitted_tools(gw, state)
        .await
        .iter()
        .map(PermittedTool::namespaced)
        .collect();
    Ok(json!({ "tools": tools }))
}

fn unknown_tool(name: &str) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, format!("unknown tool: {name}"))
}

/// Resolves a namespaced tool name to its backend, refusing tools that do not exist or that
/// the profile does not permit.
pub async fn resolve(
    gw: &Inner,
    state: &ProfileState,
    name: &str,
) -> Result<(Arc<Backend>, Value), ErrorObject> {
    let (server_name, tool) = state.route_name(name).ok_or_else(|| unknown_tool(name))?;
    let server = state
        .server(server_name)
        .ok_or_else(|| unknown_tool(name))?;
    if !state.tool_enabled(server, tool) {
        return Err(unknown_tool(name));
    }
    let backend = gw
        .supervisor
        .backend(&state.profile, server)
        .await
        .map_err(|e| e.to_error_object())?;
    let tools = backend.tools().await.map_err(|e| e.to_error_object())?;
    let spec = tools
        .iter()
        .find(|t| t.get("name").and_then(Value::as_str) == Some(tool))
        .cloned()
        .ok_or_else(|| unknown_tool(name))?;
    Ok((backend, spec))
}

/// A tool-execution error the model can read (`isError: true`), as the spec wants for bad input.
pub fn tool_error(text: String) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "isError": true })
}

/// Calls a permitted tool by its namespaced name with `params` (`name` replaced by the
/// server's own tool name; everything else, `_meta` included, passed through).
pub async fn call_permitted(
    gw: &Inner,
    state: &ProfileState,
    ctx: &CallContext,
    name: &str,
    mut params: Map<String, Value>,
) -> Result<Value, ErrorObject> {
    let (backend, spec) = resolve(gw, state, name).await?;
    let arguments = params
        .get("arguments")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Err(problems) = backend.check_arguments(&spec, &arguments) {
        return Ok(tool_error(format!(
            "invalid arguments for {name}: {problems}"
        )));
    }
    let tool = spec.get("name").cloned().unwrap_or_default();
    params.insert("name".into(), tool);
    let mut result = backend
        .call("tools/call", Value::Object(params), ctx)
        .await
        .map_err(|e| e.to_error_object())?;
    crate::surface::namespace_tool_result(state.naming(), &backend.server, &mut result);
    Ok(result)
}

async fn call_tool(
    gw: &Inner,
    state: &ProfileState,
    ctx: &CallContext,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let Some(Value::Object(params)) = params else {
        return Err(ErrorObject::new(
            code::INVALID_PARAMS,
            "tools/call needs params {name, arguments}",
        ));
    };
    let Some(name) = params
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(ErrorObject::new(
            code::INVALID_PARAMS,
            "tools/call needs a string `name`",
        ));
    };
    if state.profile.meta_tools {
        let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
        if let Some(result) = meta::call(gw, state, ctx, &name, &arguments).await {
            return result;
        }
    }
    call_permitted(gw, state, ctx, &name, params).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_first_separator() {
        assert_eq!(split("echo_echo"), Some(("echo", "echo")));
        assert_eq!(split("my-server_do_thing"), Some(("my-server", "do_thing")));
        assert_eq!(split("noseparator"), None);
        assert_eq!(split("_x"), None);
        assert_eq!(split("x_"), None);
        assert_eq!(namespaced("a", "b_c"), "a_b_c");
    }
}
