//! Everything a profile offers besides tools: resources (list, templates, read, subscriptions),
//! prompts, completion and logging level, gathered from the profile's servers and named as the
//! profile names them ([`crate::naming`]). The same renaming applies to URIs inside results
//! (resource links and embedded resources in tool results and prompt messages,
//! `resources/read` contents); notifications are renamed where they arrive
//! ([`crate::backend`]).

use super::{Router, fanout};
use crate::backend::Backend;
use crate::caller::CallContext;
use crate::naming::Naming;
use crate::profiles::ProfileState;
use crate::session::Session;
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_mcp::method;
use serde_json::{Map, Value, json};
use std::sync::Arc;

fn rename_field(obj: &mut Map<String, Value>, field: &str, f: impl Fn(&str) -> String) {
    if let Some(Value::String(s)) = obj.get(field) {
        let renamed = f(s);
        obj.insert(field.into(), Value::String(renamed));
    }
}

/// Rewrites the resource URIs inside one content block (a resource link or an embedded resource).
fn namespace_content_block(naming: Naming, server: &str, block: &mut Value) {
    if naming == Naming::Plain {
        return;
    }
    match block.get("type").and_then(Value::as_str) {
        Some("resource_link") => {
            if let Some(obj) = block.as_object_mut() {
                rename_field(obj, "uri", |u| naming.uri(server, u));
            }
        }
        Some("resource") => {
            if let Some(obj) = block.get_mut("resource").and_then(Value::as_object_mut) {
                rename_field(obj, "uri", |u| naming.uri(server, u));
            }
        }
        _ => {}
    }
}

/// Rewrites resource URIs in a tool result's `content` so a client can read them through the
/// gateway.
pub fn namespace_tool_result(naming: Naming, server: &str, result: &mut Value) {
    if let Some(blocks) = result.get_mut("content").and_then(Value::as_array_mut) {
        for block in blocks {
            namespace_content_block(naming, server, block);
        }
    }
}

fn unknown(what: &str, name: &str) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, format!("unknown {what}: {name}"))
}

/// The backend of the profile's server `server_name`, if it declares `capability`.
async fn backend_of(
    router: &Router,
    state: &ProfileState,
    server_name: &str,
    capability: &str,
    not_found: impl FnOnce() -> ErrorObject,
) -> Result<Arc<Backend>, ErrorObject> {
    let server = state.server(server_name).ok_or_else(not_found)?;
    let backend = router
        .supervisor()
        .backend(&state.profile, server)
        .await
        .map_err(|e| e.to_error_object())?;
    if !backend.declares(capability) {
        return Err(ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("server {server_name} offers no {capability}"),
        ));
    }
    Ok(backend)
}

fn params_object(params: Option<Value>, method: &str) -> Result<Map<String, Value>, ErrorObject> {
    match params {
        Some(Value::Object(p)) => Ok(p),
        _ => Err(ErrorObject::new(
            code::INVALID_PARAMS,
            format!("{method} needs params"),
        )),
    }
}

fn string_param<'a>(
    params: &'a Map<String, Value>,
    key: &str,
    method: &str,
) -> Result<&'a str, ErrorObject> {
    params.get(key).and_then(Value::as_str).ok_or_else(|| {
        ErrorObject::new(
            code::INVALID_PARAMS,
            format!("{method} needs a string `{key}`"),
        )
    })
}

/// A request with a namespaced resource URI: the backend and the params with the original URI.
async fn route_uri(
    router: &Router,
    state: &ProfileState,
    method: &str,
    params: Option<Value>,
) -> Result<(String, Arc<Backend>, Map<String, Value>), ErrorObject> {
    let mut params = params_object(params, method)?;
    let uri = string_param(&params, "uri", method)?.to_owned();
    let (server, original) = state
        .route_uri(&uri)
        .ok_or_else(|| unknown("resource", &uri))?;
    let backend = backend_of(router, state, server, "resources", || {
        unknown("resource", &uri)
    })
    .await?;
    params.insert("uri".into(), Value::String(original.to_owned()));
    Ok((server.to_owned(), backend, params))
}

/// Subscribes at the backend to the resource a client names (for a listen stream); `false`
/// if it names no resource of a server that offers subscriptions.
pub async fn subscribe_backend(router: &Router, state: &ProfileState, uri: &str) -> bool {
    let Some((server, original)) = state.route_uri(uri) else {
        return false;
    };
    let Ok(backend) = backend_of(router, state, server, "resources", || {
        unknown("resource", uri)
    })
    .await
    else {
        return false;
    };
    backend
        .request(
            method::RESOURCES_SUBSCRIBE,
            Some(json!({ "uri": original })),
        )
        .await
        .is_ok()
}

async fn read_resource(
    router: &Router,
    state: &ProfileState,
    ctx: &CallContext,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let (server, backend, params) =
        route_uri(router, state, method::RESOURCES_READ, params).await?;
    let mut result = backend
        .call(method::RESOURCES_READ, Value::Object(params), ctx)
        .await
        .map_err(|e| e.to_error_object())?;
    if let Some(contents) = result.get_mut("contents").and_then(Value::as_array_mut) {
        for c in contents.iter_mut().filter_map(Value::as_object_mut) {
            rename_field(c, "uri", |u| state.naming().uri(&server, u));
        }
    }
    Ok(result)
}

async fn subscription(
    router: &Router,
    state: &ProfileState,
    session: &Session,
    method: &str,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let namespaced_uri = params
        .as_ref()
        .and_then(|p| p.get("uri"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (_, backend, params) = route_uri(router, state, method, params).await?;
    let subscribe = method == method::RESOURCES_SUBSCRIBE;
    session.set_subscribed(&namespaced_uri, subscribe);
    // The backend keeps one subscription per URI for all of the profile's sessions.
    let others = router
        .sessions()
        .of_profile(state.profile.id)
        .iter()
        .any(|s| s.id != session.id && s.is_subscribed(&namespaced_uri));
    if subscribe || !others {
        backend
            .request(method, Some(Value::Object(params)))
            .await
            .map_err(|e| e.to_error_object())?;
    }
    Ok(json!({}))
}

async fn get_prompt(
    router: &Router,
    state: &ProfileState,
    ctx: &CallContext,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let mut params = params_object(params, method::PROMPTS_GET)?;
    let name = string_param(&params, "name", method::PROMPTS_GET)?.to_owned();
    let (server, prompt) = state
        .route_name(&name)
        .ok_or_else(|| unknown("prompt", &name))?;
    let backend = backend_of(router, state, server, "prompts", || {
        unknown("prompt", &name)
    })
    .await?;
    params.insert("name".into(), Value::String(prompt.to_owned()));
    let mut result = backend
        .call(method::PROMPTS_GET, Value::Object(params), ctx)
        .await
        .map_err(|e| e.to_error_object())?;
    if let Some(messages) = result.get_mut("messages").and_then(Value::as_array_mut) {
        for m in messages {
            if let Some(block) = m.get_mut("content") {
                namespace_content_block(state.naming(), server, block);
            }
        }
    }
    Ok(result)
}

async fn complete(
    router: &Router,
    state: &ProfileState,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let mut params = params_object(params, method::COMPLETION_COMPLETE)?;
    let bad_ref = || {
        ErrorObject::new(
            code::INVALID_PARAMS,
            "completion/complete needs `ref` {type: ref/prompt, name} or {type: ref/resource, uri}",
        )
    };
    let reference = params
        .get_mut("ref")
        .and_then(Value::as_object_mut)
        .ok_or_else(bad_ref)?;
    let (server, field, original) = match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => {
            let name = reference
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(bad_ref)?;
            let (server, prompt) = state
                .route_name(name)
                .ok_or_else(|| unknown("prompt", name))?;
            (server.to_owned(), "name", prompt.to_owned())
        }
        Some("ref/resource") => {
            let uri = reference
                .get("uri")
                .and_then(Value::as_str)
                .ok_or_else(bad_ref)?;
            let (server, original) = state
                .route_uri(uri)
                .ok_or_else(|| unknown("resource", uri))?;
            (server.to_owned(), "uri", original.to_owned())
        }
        _ => return Err(bad_ref()),
    };
    reference.insert(field.into(), Value::String(original));
    let backend = backend_of(router, state, &server, "completions", || {
        unknown("completion target", &server)
    })
    .await?;
    backend
        .request(method::COMPLETION_COMPLETE, Some(Value::Object(params)))
        .await
        .map_err(|e| e.to_error_object())
}

/// Sets the level on every server that logs; a server that fails is logged, not fatal.
async fn set_level(
    router: &Router,
    state: &ProfileState,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let params = params_object(params, method::LOGGING_SET_LEVEL)?;
    string_param(&params, "level", method::LOGGING_SET_LEVEL)?;
    let backends = fanout::backends_with(router, state, "logging").await;
    let calls = backends.iter().map(|(server, b)| {
        let params = Value::Object(params.clone());
        async move {
            (
                *server,
                b.request(method::LOGGING_SET_LEVEL, Some(params)).await,
            )
        }
    });
    for (server, r) in futures_util::future::join_all(calls).await {
        if let Err(e) = r {
            tracing::warn!(server = %server.name, error = %e, "logging/setLevel failed");
        }
    }
    Ok(json!({}))
}

/// Answers the non-tool methods; `None` when `method` is not one of them.
pub async fn handle(
    router: &Router,
    state: &ProfileState,
    ctx: &CallContext,
    method: &str,
    params: Option<Value>,
) -> Option<Result<Value, ErrorObject>> {
    let p = params.as_ref();
    let naming = state.naming();
    Some(match method {
        method::RESOURCES_LIST => {
            fanout::gather(
                router,
                state,
                p,
                "resources",
                method,
                "resources",
                |s, r| rename_field(r, "uri", |u| naming.uri(s, u)),
            )
            .await
        }
        method::RESOURCES_TEMPLATES_LIST => {
            fanout::gather(
                router,
                state,
                p,
                "resources",
                method,
                "resourceTemplates",
                |s, r| rename_field(r, "uriTemplate", |u| naming.uri(s, u)),
            )
            .await
        }
        method::RESOURCES_READ => read_resource(router, state, ctx, params).await,
        method::RESOURCES_SUBSCRIBE | method::RESOURCES_UNSUBSCRIBE => match ctx.caller.session() {
            Some(session) => subscription(router, state, session, method, params).await,
            None => Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("{method} belongs to sessions; stateless clients use subscriptions/listen"),
            )),
        },
        method::PROMPTS_LIST => {
            fanout::gather(router, state, p, "prompts", method, "prompts", |s, r| {
                rename_field(r, "name", |n| naming.name(s, n))
            })
            .await
        }
        method::PROMPTS_GET => get_prompt(router, state, ctx, params).await,
        method::COMPLETION_COMPLETE => complete(router, state, params).await,
        method::LOGGING_SET_LEVEL => set_level(router, state, params).await,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_links_and_embedded_resources_in_tool_results_are_namespaced() {
        let mut result = json!({"content": [
            {"type": "text", "text": "see"},
            {"type": "resource_link", "uri": "test://a", "name": "a"},
            {"type": "resource", "resource": {"uri": "test://b", "text": "b"}},
        ]});
        let plain = result.clone();
        let mut unchanged = result.clone();
        namespace_tool_result(Naming::Plain, "docs", &mut unchanged);
        assert_eq!(unchanged, plain);
        namespace_tool_result(Naming::Prefixed, "docs", &mut result);
        assert_eq!(result["content"][1]["uri"], "gigmcp://docs/test://a");
        assert_eq!(
            result["content"][2]["resource"]["uri"],
            "gigmcp://docs/test://b"
        );
        assert_eq!(result["content"][0], json!({"type": "text", "text": "see"}));
    }
}
