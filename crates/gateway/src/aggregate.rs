//! One profile's MCP surface: the tools of all its servers, namespaced `<server>_<tool>`,
//! with each call routed to the server that owns the tool.

use crate::http::Inner;
use crate::supervisor::Backend;
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_store::{Profile, Server};
use serde_json::{Value, json};
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

/// The `initialize` result the gateway gives its clients.
pub fn initialize_result(version: &str) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "gigmcp", "title": "Gig'MCP gateway", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Tools of this profile's servers are named <server>_<tool>."
    })
}

fn internal(e: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::new(code::INTERNAL_ERROR, format!("gateway error: {e}"))
}

/// Answers one client request (other than `initialize`).
pub async fn handle(
    gw: &Inner,
    profile: &Profile,
    method: &str,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    match method {
        "ping" => Ok(json!({})),
        "tools/list" => list_tools(gw, profile, params).await,
        "tools/call" => call_tool(gw, profile, params).await,
        other => Err(ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!(
                "method not found: {other} (this gateway serves tools: tools/list, tools/call, ping)"
            ),
        )),
    }
}

async fn list_tools(
    gw: &Inner,
    profile: &Profile,
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
    let servers = gw
        .store
        .profile_servers(profile.id)
        .await
        .map_err(internal)?;
    let lists = servers.iter().map(|server| async move {
        let backend = gw.supervisor.backend(profile, server).await?;
        Ok::<_, crate::supervisor::BackendError>((server, backend.tools().await?))
    });
    let mut tools = Vec::new();
    for result in futures_util::future::join_all(lists).await {
        match result {
            Ok((server, list)) => {
                for tool in list.iter() {
                    let (Some(name), Value::Object(obj)) =
                        (tool.get("name").and_then(Value::as_str), tool)
                    else {
                        continue;
                    };
                    let mut obj = obj.clone();
                    obj.insert("name".into(), Value::String(namespaced(&server.name, name)));
                    tools.push(Value::Object(obj));
                }
            }
            Err(e) => {
                tracing::warn!(profile = %profile.slug, error = %e, "left a server's tools out of tools/list")
            }
        }
    }
    Ok(json!({ "tools": tools }))
}

async fn route(
    gw: &Inner,
    profile: &Profile,
    name: &str,
) -> Result<(Arc<Backend>, Server), ErrorObject> {
    let unknown = || ErrorObject::new(code::INVALID_PARAMS, format!("unknown tool: {name}"));
    let (server_name, _) = split(name).ok_or_else(unknown)?;
    let servers = gw
        .store
        .profile_servers(profile.id)
        .await
        .map_err(internal)?;
    let server = servers
        .into_iter()
        .find(|s| s.name == server_name)
        .ok_or_else(unknown)?;
    let backend = gw
        .supervisor
        .backend(profile, &server)
        .await
        .map_err(|e| e.to_error_object())?;
    Ok((backend, server))
}

async fn call_tool(
    gw: &Inner,
    profile: &Profile,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let Some(Value::Object(mut params)) = params else {
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
    let (backend, _server) = route(gw, profile, &name).await?;
    let (_, tool) = split(&name).expect("route checked the name");
    params.insert("name".into(), Value::String(tool.to_string()));
    backend
        .request("tools/call", Some(Value::Object(params)))
        .await
        .map_err(|e| e.to_error_object())
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
