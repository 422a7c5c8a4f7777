//! What a server sends on its own: progress for the call it belongs to, list changes and log
//! messages for the profile's clients (namespaced), resource updates for their subscribers, and
//! a handshake-era server's own requests to a client. Also its stderr, logged (bounded).

use super::Backend;
use crate::backend::handshake::ask_client;
use gigmcp_mcp::jsonrpc::Message;
use gigmcp_mcp::stdio::{Line, read_bounded_line};
use gigmcp_mcp::{meta, method};
use gigmcp_store::ProfileId;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncRead, BufReader};
use tokio::sync::mpsc;

/// Something a backend did that the profile's clients should hear about.
#[derive(Clone, Debug)]
pub enum BackendEvent {
    /// A server of this profile reported that its tool list changed.
    ToolsChanged { profile: ProfileId },
    /// A notification for every session of the profile (list changes, log messages), with
    /// names and URIs already namespaced.
    Notify { profile: ProfileId, message: Value },
    /// A subscribed resource changed; for the sessions subscribed to `uri` (namespaced).
    ResourceUpdated {
        profile: ProfileId,
        uri: String,
        message: Value,
    },
}

/// Handles the server-initiated messages of `backend` until its connection ends.
pub fn spawn_inbound(
    backend: &Arc<Backend>,
    inbound: mpsc::Receiver<Message>,
    events: tokio::sync::broadcast::Sender<BackendEvent>,
) {
    tokio::spawn(handle_inbound(Arc::downgrade(backend), inbound, events));
}

/// Server-initiated messages: progress and other notifications for the profile's clients,
/// and handshake-era servers' own requests to a client (sampling, roots, elicitation).
async fn handle_inbound(
    backend: std::sync::Weak<Backend>,
    mut inbound: mpsc::Receiver<Message>,
    events: tokio::sync::broadcast::Sender<BackendEvent>,
) {
    while let Some(msg) = inbound.recv().await {
        let Some(b) = backend.upgrade() else { break };
        match msg {
            Message::Request { id, method, params } => {
                ask_client(&b, id, &method, params).await;
            }
            Message::Notification { method, params } if method == method::PROGRESS => {
                if let Some((params, ctx)) = params.and_then(|p| b.inflight.progress(p)) {
                    ctx.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
                }
            }
            Message::Notification { method, .. } if method == method::TOOLS_LIST_CHANGED => {
                b.forget_tools().await;
                let _ = events.send(BackendEvent::ToolsChanged { profile: b.profile });
            }
            Message::Notification { method, params } => {
                if let Some(event) = republish(&b, &method, params) {
                    let _ = events.send(event);
                }
            }
            _ => {}
        }
        b.inbound_handled.fetch_add(1, Ordering::SeqCst);
        b.inbound_progress.notify_waiters();
    }
}

/// The event a backend's notification becomes for the profile's clients, if any.
fn republish(b: &Backend, method: &str, params: Option<Value>) -> Option<BackendEvent> {
    let profile = b.profile;
    let note = |mut params: Option<Value>| {
        // (a stateless server tags what its listen stream carries; that tag is not the client's)
        if let Some(meta) = params
            .as_mut()
            .and_then(|p| p.get_mut("_meta"))
            .and_then(Value::as_object_mut)
        {
            meta.remove(meta::SUBSCRIPTION_ID);
        }
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        msg
    };
    match method {
        method::RESOURCES_LIST_CHANGED | method::PROMPTS_LIST_CHANGED => {
            Some(BackendEvent::Notify {
                profile,
                message: note(None),
            })
        }
        method::RESOURCES_UPDATED => {
            let mut params = params?;
            let original = params.get("uri")?.as_str()?;
            let uri = b.naming.uri(&b.server, original);
            params["uri"] = Value::String(uri.clone());
            Some(BackendEvent::ResourceUpdated {
                profile,
                uri,
                message: note(Some(params)),
            })
        }
        method::MESSAGE => {
            // Log messages name their server, so a client can tell them apart.
            let mut params = params.filter(Value::is_object)?;
            let logger = match params.get("logger").and_then(Value::as_str) {
                Some(l) => format!("{}/{l}", b.server),
                None => b.server.clone(),
            };
            params["logger"] = Value::String(logger);
            Some(BackendEvent::Notify {
                profile,
                message: note(Some(params)),
            })
        }
        _ => None,
    }
}

/// Logs a server's stderr line by line under its name (bounded).
pub fn spawn_stderr_logger(
    server: String,
    profile: String,
    stderr: Box<dyn AsyncRead + Send + Unpin>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        let mut logged = 0u32;
        // Bounded: a chatty or hostile server can neither flood the log nor grow our memory.
        loop {
            match read_bounded_line(&mut reader, &mut line, 4096).await {
                Ok(Line::Complete) if logged < 1000 => {
                    let text = String::from_utf8_lossy(&line);
                    tracing::info!(target: "gigmcp::server_stderr", %server, %profile, "{text}");
                    logged += 1;
                }
                Ok(Line::Complete | Line::TooLong) => {}
                Ok(Line::Eof) | Err(_) => break,
            }
        }
    });
}
