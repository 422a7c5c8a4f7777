//! Everything a profile offers besides tools: resources (list, templates, read, subscriptions),
//! prompts, completion and logging level, gathered from the profile's servers and namespaced so
//! that two servers can never collide:
//!
//! - resource URIs become `gigmcp://<server>/<original uri>` (templates likewise: the prefix
//!   holds no template variable, so a client's expansion maps straight back);
//! - prompt names become `<server>_<name>`, like tools.
//!
//! The same rewriting applies to URIs inside results (resource links and embedded resources in
//! tool results and prompt messages, `resources/read` contents) and in notifications.

use crate::calls::CallContext;
use crate::http::Inner;
use crate::profiles::Naming;
use crate::profiles::ProfileState;
use crate::session::Session;
use crate::supervisor::{Backend, BackendError};
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_store::Server;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Scheme of the gateway's namespaced resource URIs.
pub const SCHEME: &str = "gigmcp://";
/// Pages fetched from one server for one list, at most (a server paging forever is cut off).
const MAX_PAGES: usize = 100;
/// Entries kept from one server for one list, at most.
const MAX_ENTRIES: usize = 10_000;

/// The namespaced form of a server's resource URI (or URI template).
pub fn namespace_uri(server: &str, uri: &str) -> String {
    format!("{SCHEME}{server}/{uri}")
}

/// Splits a namespaced URI into (server, original URI).
pub fn split_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix(SCHEME)?
        .split_once('/')
        .filter(|(server, original)| !server.is_empty() && !original.is_empty())
}

/// Does the server's `initialize` result declare `capability`?
fn has(backend: &Backend, capability: &str) -> bool {
    backend
        .init
        .get("capabilities")
        .and_then(|c| c.get(capability))
        .is_some_and(|v| !v.is_null())
}

/// The capabilities a client of this profile is offered: tools always (the gateway's own
/// list), the rest as the union of what the profile's running servers declare.
pub fn capabilities(backends: &[Arc<Backend>]) -> Value {
    let mut caps = Map::new();
    caps.insert("tools".into(), json!({ "listChanged": true }));
    if backends.iter().any(|b| has(b, "resources")) {
        let subscribe = backends.iter().any(|b| {
            b.init["capabilities"]["resources"]["subscribe"]
                .as_bool()
                .unwrap_or(false)
        });
        caps.insert(
            "resources".into(),
            json!({ "subscribe": subscribe, "listChanged": true }),
        );
    }
    if backends.iter().any(|b| has(b, "prompts")) {
        caps.insert("prompts".into(), json!({ "listChanged": true }));
    }
    if backends.iter().any(|b| has(b, "completions")) {
        caps.insert("completions".into(), json!({}));
    }
    if backends.iter().any(|b| has(b, "logging")) {
        caps.insert("logging".into(), json!({}));
    }
    Value::Object(caps)
}

/// Starts (or finds) every server of the profile, waiting at most `wait`; those not up by then
/// keep starting in the background and are left out.
pub async fn running_backends(
    gw: &Inner,
    state: &Arc<ProfileState>,
    wait: Duration,
) -> Vec<Arc<Backend>> {
    let starts: Vec<_> = state
        .servers
        .iter()
        .map(|server| {
            let (supervisor, state, server) =
                (gw.supervisor.clone(), state.clone(), server.clone());
            tokio::spawn(async move { supervisor.backend(&state.profile, &server).await })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    for start in starts {
        match tokio::time::timeout_at(deadline, start).await {
            Ok(Ok(Ok(backend))) => out.push(backend),
            Ok(Ok(Err(e))) => {
                tracing::warn!(profile = %state.profile.slug, error = %e, "server did not start")
            }
            Ok(Err(_)) | Err(_) => {}
        }
    }
    out
}

/// The profile's servers that declare `capability`, started in parallel; a server that cannot
/// be reached, or is not up within the list wait (it keeps starting in the background), is
/// logged and left out.
async fn backends_with<'a>(
    gw: &Inner,
    state: &'a ProfileState,
    capability: &str,
) -> Vec<(&'a Server, Arc<Backend>)> {
    let starts: Vec<_> = state
        .servers
        .iter()
        .map(|server| (server, start_in_background(gw, &state.profile, server)))
        .collect();
    let deadline = tokio::time::Instant::now() + crate::aggregate::list_wait(gw);
    let mut out = Vec::new();
    for (server, start) in starts {
        match tokio::time::timeout_at(deadline, start).await {
            Ok(Ok(b)) if has(&b, capability) => out.push((server, b)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(profile = %state.profile.slug, server = %server.name,
                error = %e, "left a server out of a {capability} list"),
            Err(_) => tracing::warn!(profile = %state.profile.slug, server = %server.name,
                "left a server that is still starting out of a {capability} list"),
        }
    }
    out
}

/// The running backend of `server`, started if needed in a task of its own: a caller that
/// stops waiting does not abort the start.
pub async fn start_in_background(
    gw: &Inner,
    profile: &gigmcp_store::Profile,
    server: &Server,
) -> Result<Arc<Backend>, BackendError> {
    let name = server.name.clone();
    let (supervisor, profile, server) = (gw.supervisor.clone(), profile.clone(), server.clone());
    tokio::spawn(async move { supervisor.backend(&profile, &server).await })
        .await
        .unwrap_or_else(|e| {
            Err(BackendError::Start {
                server: name,
                reason: format!("the start task failed ({e}); the next request tries again"),
            })
        })
}

/// All pages of `method`'s `key` array from one backend.
async fn all_pages(backend: &Backend, method: &str, key: &str) -> Result<Vec<Value>, BackendError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor.as_ref().map(|c| json!({ "cursor": c }));
        let page = backend.request(method, params).await?;
        if let Some(list) = page.get(key).and_then(Value::as_array) {
            items.extend(list.iter().filter(|v| v.is_object()).cloned());
        }
        if items.len() >= MAX_ENTRIES {
            items.truncate(MAX_ENTRIES);
            break;
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(items)
}

/// One list gathered from every capable server in parallel, each entry rewritten by `rename`.
async fn gather(
    gw: &Inner,
    state: &ProfileState,
    params: Option<&Value>,
    capability: &str,
    method: &str,
    key: &str,
    rename: impl Fn(&str, &mut Map<String, Value>),
) -> Result<Value, ErrorObject> {
    if params
        .and_then(|p| p.get("cursor"))
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
    {
        return Err(ErrorObject::new(
            code::INVALID_PARAMS,
            format!("invalid cursor: the gateway's {key} list has a single page"),
        ));
    }
    let backends = backends_with(gw, state, capability).await;
    let wait = crate::aggregate::list_wait(gw);
    let lists = backends.iter().map(|(server, b)| async move {
        let pages = match tokio::time::timeout(wait, all_pages(b, method, key)).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Timeout {
                server: server.name.clone(),
                secs: wait.as_secs(),
            }),
        };
        (*server, pages)
    });
    let mut out = Vec::new();
    for (server, result) in futures_util::future::join_all(lists).await {
        match result {
            Ok(items) => {
                for item in items {
                    if let Value::Object(mut obj) = item {
                        rename(&server.name, &mut obj);
                        out.push(Value::Object(obj));
                    }
                }
            }
            Err(e) => tracing::warn!(profile = %state.profile.slug, server = %server.name,
                error = %e, "left a server out of {method}"),
        }
    }
    Ok(json!({ key: out }))
}

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
    gw: &Inner,
    state: &ProfileState,
    server_name: &str,
    capability: &str,
    not_found: impl FnOnce() -> ErrorObject,
) -> Result<Arc<Backend>, ErrorObject> {
    let server = state.server(server_name).ok_or_else(not_found)?;
    let backend = gw
        .supervisor
        .backend(&state.profile, server)
        .await
        .map_err(|e| e.to_error_object())?;
    if !has(&backend, capability) {
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
    gw: &Inner,
    state: &ProfileState,
    method: &str,
    params: Option<Value>,
) -> Result<(String, Arc<Backend>, Map<String, Value>), ErrorObject> {
    let mut params = params_object(params, method)?;
    let uri = string_param(&params, "uri", method)?.to_owned();
    let (server, original) = state
        .route_uri(&uri)
        .ok_or_else(|| unknown("resource", &uri))?;
    let backend = backend_of(gw, state, server, "resources", || unknown("resource", &uri)).await?;
    params.insert("uri".into(), Value::String(original.to_owned()));
    Ok((server.to_owned(), backend, params))
}

/// Subscribes at the backend to the resource a client names (for a listen stream); `false`
/// if it names no resource of a server that offers subscriptions.
pub async fn subscribe_backend(gw: &Inner, state: &ProfileState, uri: &str) -> bool {
    let Some((server, original)) = state.route_uri(uri) else {
        return false;
    };
    let Ok(backend) = backend_of(gw, state, server, "resources", || unknown("resource", uri)).await
    else {
        return false;
    };
    backend
        .request("resources/subscribe", Some(json!({ "uri": original })))
        .await
        .is_ok()
}

async fn read_resource(
    gw: &Inner,
    state: &ProfileState,
    ctx: &CallContext,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let (server, backend, params) = route_uri(gw, state, "resources/read", params).await?;
    let mut result = backend
        .call("resources/read", Value::Object(params), ctx)
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
    gw: &Inner,
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
    let (_, backend, params) = route_uri(gw, state, method, params).await?;
    let subscribe = method == "resources/subscribe";
    session.set_subscribed(&namespaced_uri, subscribe);
    // The backend keeps one subscription per URI for all of the profile's sessions.
    let others = gw
        .sessions
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
    gw: &Inner,
    state: &ProfileState,
    ctx: &CallContext,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let mut params = params_object(params, "prompts/get")?;
    let name = string_param(&params, "name", "prompts/get")?.to_owned();
    let (server, prompt) = state
        .route_name(&name)
        .ok_or_else(|| unknown("prompt", &name))?;
    let backend = backend_of(gw, state, server, "prompts", || unknown("prompt", &name)).await?;
    params.insert("name".into(), Value::String(prompt.to_owned()));
    let mut result = backend
        .call("prompts/get", Value::Object(params), ctx)
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
    gw: &Inner,
    state: &ProfileState,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let mut params = params_object(params, "completion/complete")?;
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
    let backend = backend_of(gw, state, &server, "completions", || {
        unknown("completion target", &server)
    })
    .await?;
    backend
        .request("completion/complete", Some(Value::Object(params)))
        .await
        .map_err(|e| e.to_error_object())
}

/// Sets the level on every server that logs; a server that fails is logged, not fatal.
async fn set_level(
    gw: &Inner,
    state: &ProfileState,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let params = params_object(params, "logging/setLevel")?;
    string_param(&params, "level", "logging/setLevel")?;
    let backends = backends_with(gw, state, "logging").await;
    let calls = backends.iter().map(|(server, b)| {
        let params = Value::Object(params.clone());
        async move { (*server, b.request("logging/setLevel", Some(params)).await) }
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
    gw: &Inner,
    state: &ProfileState,
    ctx: &CallContext,
    method: &str,
    params: Option<Value>,
) -> Option<Result<Value, ErrorObject>> {
    let session = &*ctx.session;
    let p = params.as_ref();
    let naming = state.naming();
    Some(match method {
        "resources/list" => {
            gather(gw, state, p, "resources", method, "resources", |s, r| {
                rename_field(r, "uri", |u| naming.uri(s, u))
            })
            .await
        }
        "resources/templates/list" => {
            gather(
                gw,
                state,
                p,
                "resources",
                method,
                "resourceTemplates",
                |s, r| rename_field(r, "uriTemplate", |u| naming.uri(s, u)),
            )
            .await
        }
        "resources/read" => read_resource(gw, state, ctx, params).await,
        "resources/subscribe" | "resources/unsubscribe" => {
            subscription(gw, state, session, method, params).await
        }
        "prompts/list" => {
            gather(gw, state, p, "prompts", method, "prompts", |s, r| {
                rename_field(r, "name", |n| naming.name(s, n))
            })
            .await
        }
        "prompts/get" => get_prompt(gw, state, ctx, params).await,
        "completion/complete" => complete(gw, state, params).await,
        "logging/setLevel" => set_level(gw, state, params).await,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_through_their_namespace() {
        for uri in [
            "test://static-text",
            "file:///etc/hosts",
            "https://x.test/a?b=c#d",
            "weird",
        ] {
            let n = namespace_uri("docs", uri);
            assert!(n.starts_with("gigmcp://docs/"));
            assert_eq!(split_uri(&n), Some(("docs", uri)));
        }
        assert_eq!(split_uri("test://static-text"), None);
        assert_eq!(split_uri("gigmcp://docs/"), None);
        assert_eq!(split_uri("gigmcp:///x"), None);
    }

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
