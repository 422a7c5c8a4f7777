//! Fan-out: what a request needs from every server of a profile, in parallel, with a bound on
//! how long one server may hold the others up.
//!
//! Starts go on in tasks of their own, so a caller that stops waiting (a list that leaves a
//! slow server out) never aborts a server's start; the next request finds it up.

use super::Router;
use crate::backend::{Backend, BackendError};
use crate::profiles::ProfileState;
use gigmcp_mcp::jsonrpc::{ErrorObject, code};
use gigmcp_store::Server;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Pages fetched from one server for one list, at most (a server paging forever is cut off).
const MAX_PAGES: usize = 100;
/// Entries kept from one server for one list, at most.
const MAX_ENTRIES: usize = 10_000;

/// The capabilities a client of this profile is offered: tools always (the gateway's own
/// list), the rest as the union of what the profile's running servers declare.
pub fn capabilities(backends: &[Arc<Backend>]) -> Value {
    let mut caps = Map::new();
    caps.insert("tools".into(), json!({ "listChanged": true }));
    if backends.iter().any(|b| b.declares("resources")) {
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
    if backends.iter().any(|b| b.declares("prompts")) {
        caps.insert("prompts".into(), json!({ "listChanged": true }));
    }
    if backends.iter().any(|b| b.declares("completions")) {
        caps.insert("completions".into(), json!({}));
    }
    if backends.iter().any(|b| b.declares("logging")) {
        caps.insert("logging".into(), json!({}));
    }
    Value::Object(caps)
}

/// Starts (or finds) every server of the profile, waiting at most `wait`; those not up by then
/// keep starting in the background and are left out.
pub async fn running_backends(
    router: &Router,
    state: &Arc<ProfileState>,
    wait: Duration,
) -> Vec<Arc<Backend>> {
    let starts: Vec<_> = state
        .servers
        .iter()
        .map(|server| {
            let (supervisor, state, server) =
                (router.supervisor().clone(), state.clone(), server.clone());
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
pub async fn backends_with<'a>(
    router: &Router,
    state: &'a ProfileState,
    capability: &str,
) -> Vec<(&'a Server, Arc<Backend>)> {
    let starts: Vec<_> = state
        .servers
        .iter()
        .map(|server| (server, start_in_background(router, &state.profile, server)))
        .collect();
    let deadline = tokio::time::Instant::now() + router.list_wait();
    let mut out = Vec::new();
    for (server, start) in starts {
        match tokio::time::timeout_at(deadline, start).await {
            Ok(Ok(b)) if b.declares(capability) => out.push((server, b)),
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
    router: &Router,
    profile: &gigmcp_store::Profile,
    server: &Server,
) -> Result<Arc<Backend>, BackendError> {
    let name = server.name.clone();
    let (supervisor, profile, server) =
        (router.supervisor().clone(), profile.clone(), server.clone());
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
pub async fn all_pages(
    backend: &Backend,
    method: &str,
    key: &str,
) -> Result<Vec<Value>, BackendError> {
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
pub async fn gather(
    router: &Router,
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
    let backends = backends_with(router, state, capability).await;
    let wait = router.list_wait();
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
