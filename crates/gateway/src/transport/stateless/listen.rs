//! `subscriptions/listen` streams of the stateless revision: each open stream receives the
//! change notifications its client opted in to (list changes, updates of the resources it
//! names) from the profile's servers, for as long as the client keeps it open.

use crate::backend::BackendEvent;
use crate::profiles::ProfileState;
use crate::replay::StreamLog;
use crate::router::{Router, fanout, surface};
use crate::transport::reply::{self, HttpError, StreamHold};
use axum::response::{IntoResponse, Response};
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, code};
use gigmcp_mcp::{meta, method};
use gigmcp_store::ProfileId;
use http::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a `subscriptions/listen` stream asked for (and the gateway honours).
#[derive(Debug, Default, Clone)]
struct Filter {
    tools: bool,
    prompts: bool,
    resources: bool,
    /// Namespaced URIs of subscribed resources.
    uris: std::collections::HashSet<String>,
}

/// One open `subscriptions/listen` stream.
pub struct Listener {
    profile: ProfileId,
    filter: Filter,
    log: Arc<StreamLog>,
    subscription_id: Id,
}

impl Listener {
    fn send(&self, mut msg: Value) {
        if let Some(obj) = msg.as_object_mut() {
            let params = obj.entry("params").or_insert_with(|| json!({}));
            if let Some(p) = params.as_object_mut() {
                let meta = p.entry("_meta").or_insert_with(|| json!({}));
                meta[meta::SUBSCRIPTION_ID] = json!(self.subscription_id);
            }
        }
        self.log.push(msg.to_string());
    }
}

/// The open listen streams; each stays registered while its client keeps the stream open.
#[derive(Default)]
pub struct Listeners {
    list: Mutex<Vec<std::sync::Weak<Listener>>>,
}

/// Listen streams open at once, across all clients.
const MAX_LISTENERS: usize = 4096;

impl Listeners {
    fn add(&self, l: &Arc<Listener>) -> bool {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| w.strong_count() > 0);
        if list.len() >= MAX_LISTENERS {
            return false;
        }
        list.push(Arc::downgrade(l));
        true
    }

    /// Passes a backend's event to the listen streams that asked for it.
    pub fn deliver(&self, event: &BackendEvent) {
        let live: Vec<Arc<Listener>> = self
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        for l in live {
            match event {
                BackendEvent::ToolsChanged { profile }
                    if *profile == l.profile && l.filter.tools =>
                {
                    l.send(json!({"jsonrpc": "2.0", "method": method::TOOLS_LIST_CHANGED}));
                }
                BackendEvent::Notify { profile, message } if *profile == l.profile => {
                    let wanted = match message["method"].as_str() {
                        Some(method::PROMPTS_LIST_CHANGED) => l.filter.prompts,
                        Some(method::RESOURCES_LIST_CHANGED) => l.filter.resources,
                        _ => false,
                    };
                    if wanted {
                        l.send(message.clone());
                    }
                }
                BackendEvent::ResourceUpdated {
                    profile,
                    uri,
                    message,
                } if *profile == l.profile && l.filter.uris.contains(uri) => {
                    l.send(message.clone());
                }
                _ => {}
            }
        }
    }
}

/// `subscriptions/listen`: a long-lived stream of the change notifications the client opts in
/// to, acknowledged first with what the gateway honours. Ends when the client closes it.
pub async fn listen(
    router: &Router,
    listeners: &Listeners,
    state: &Arc<ProfileState>,
    id: Id,
    params: Option<Value>,
) -> Response {
    let asked = params
        .as_ref()
        .and_then(|p| p.get("notifications"))
        .cloned()
        .unwrap_or(Value::Null);
    let flag = |k: &str| asked.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut filter = Filter {
        tools: flag("toolsListChanged"),
        prompts: flag("promptsListChanged"),
        resources: flag("resourcesListChanged"),
        uris: Default::default(),
    };
    // The servers must be running for their notifications to flow.
    fanout::running_backends(router, state, Duration::from_secs(5)).await;
    let wanted: Vec<String> = asked
        .get("resourceSubscriptions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for uri in wanted.into_iter().take(256) {
        if surface::subscribe_backend(router, state, &uri).await {
            filter.uris.insert(uri);
        }
    }
    let mut honoured = json!({
        "toolsListChanged": filter.tools,
        "promptsListChanged": filter.prompts,
        "resourcesListChanged": filter.resources,
    });
    if !filter.uris.is_empty() {
        let mut uris: Vec<&String> = filter.uris.iter().collect();
        uris.sort();
        honoured["resourceSubscriptions"] = json!(uris);
    }
    let listener = Arc::new(Listener {
        profile: state.profile.id,
        filter,
        log: StreamLog::new(format!("l{id}")),
        subscription_id: id.clone(),
    });
    if !listeners.add(&listener) {
        return HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(id),
            ErrorObject::new(
                code::INTERNAL_ERROR,
                "too many listen streams are open; try again later",
            ),
        )
        .into_response();
    }
    listener.send(json!({
        "jsonrpc": "2.0",
        "method": method::SUBSCRIPTIONS_ACKNOWLEDGED,
        "params": { "notifications": honoured },
    }));
    let log = listener.log.clone();
    // (the listener stays registered while its stream is open)
    let hold = KeepListening {
        _listener: listener,
    };
    reply::sse(&log, Some(0), reply::STATELESS_STREAM, hold)
}

/// Holds a listener registered while its stream is open.
struct KeepListening {
    _listener: Arc<Listener>,
}

impl StreamHold for KeepListening {}
