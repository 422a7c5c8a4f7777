//! Tools: the permitted tools of all the profile's servers, named as the profile names them,
//! and each call checked (the tool exists and is permitted, its arguments are valid against the
//! tool's input schema) and routed to the server that owns it.

use super::{Router, meta, tool_error};
use crate::backend::{Backend, BackendError};
use crate::caller::CallContext;
use crate::naming::Naming;
use crate::profiles::ProfileState;
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_mcp::method;
use gigmcp_store::Server;
use serde_json::{Map, Value, json};
use std::sync::Arc;

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

/// Every permitted tool of the profile, gathered from its servers in parallel. A server that
/// cannot be reached is left out (and logged) rather than failing the whole list.
pub async fn permitted<'a>(router: &Router, state: &'a ProfileState) -> Vec<PermittedTool<'a>> {
    let wait = router.list_wait();
    let lists = state.servers.iter().map(|server| async move {
        let list = async {
            let backend =
                super::fanout::start_in_background(router, &state.profile, server).await?;
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

pub async fn list(
    router: &Router,
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
    let tools: Vec<Value> = permitted(router, state)
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
    router: &Router,
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
    let backend = router
        .supervisor()
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

/// Calls a permitted tool by its namespaced name with `params` (`name` replaced by the
/// server's own tool name; everything else, `_meta` included, passed through).
pub async fn call_permitted(
    router: &Router,
    state: &ProfileState,
    ctx: &CallContext,
    name: &str,
    mut params: Map<String, Value>,
) -> Result<Value, ErrorObject> {
    let (backend, spec) = resolve(router, state, name).await?;
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
        .call(method::TOOLS_CALL, Value::Object(params), ctx)
        .await
        .map_err(|e| e.to_error_object())?;
    super::surface::namespace_tool_result(state.naming(), &backend.server, &mut result);
    Ok(result)
}

pub async fn call(
    router: &Router,
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
        if let Some(result) = meta::call(router, state, ctx, &name, &arguments).await {
            return result;
        }
    }
    call_permitted(router, state, ctx, &name, params).await
}
