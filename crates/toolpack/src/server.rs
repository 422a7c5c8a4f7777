//! The MCP server over stdio (T4, T17): newline-delimited JSON-RPC, both protocol eras.
//!
//! Contract:
//! - `initialize` (handshake era) answers the revision negotiated by
//!   [`gigmcp_mcp::version::negotiate`], capabilities `{tools: {}}` and `serverInfo`;
//!   `server/discover` (stateless) answers `supportedVersions` =
//!   [`gigmcp_mcp::version::STATELESS_VERSIONS`], the same capabilities and `serverInfo`.
//!   Neither is required before other requests.
//! - `ping` ⇒ `{}`; `tools/list` ⇒ every tool, spec order, no pagination; `tools/call` ⇒
//!   [`Engine::call`]; other requests ⇒ -32601.
//! - A request whose `_meta` names the stateless revision gets `resultType: "complete"` in its
//!   result; one naming a revision this server does not speak gets -32022 with the supported
//!   ones in `data`.
//! - Calls run concurrently, at most [`MAX_CONCURRENT_CALLS`] at once (later ones wait) and at
//!   most [`MAX_QUEUED_CALLS`] accepted (beyond: -32000). `notifications/cancelled` aborts the
//!   named call (its HTTP exchange is dropped) and no answer is sent for it.
//! - Input lines are at most [`MAX_LINE`] bytes (longer: -32600 with id `null`, the line is
//!   skipped); unparsable lines get -32700/-32600 with id `null`; responses from the client are
//!   ignored (this server sends no requests). End of input ends the server and aborts calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gigmcp_mcp::jsonrpc::code;
use gigmcp_mcp::view::RequestMeta;
use gigmcp_mcp::{ErrorObject, Id, Message, method, version};
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;

use crate::config::MAX_CONCURRENT_CALLS;
use crate::engine::Engine;

/// Longest input line (a base64 upload of a few MiB fits).
pub const MAX_LINE: usize = 16 * 1024 * 1024;
/// Calls accepted at once (running or waiting).
pub const MAX_QUEUED_CALLS: usize = 256;

/// One line read.
enum Line {
    Eof,
    Text,
    TooLong,
}

/// Reads one `\n`-terminated line into `buf` (cleared first), at most `max` bytes; an over-long
/// line is consumed and reported.
async fn read_line(
    r: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if buf.is_empty() {
                Line::Eof
            } else {
                Line::Text
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Text });
        }
    }
}

/// The stdio server's shared state.
struct Server {
    engine: Arc<Engine>,
    out: mpsc::UnboundedSender<String>,
    running: Arc<Semaphore>,
    calls: Arc<Mutex<HashMap<Id, AbortHandle>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The response line for `id`; stateless results get `resultType`.
fn answer(id: Id, outcome: Result<Value, ErrorObject>, stateless: bool) -> String {
    match outcome {
        Ok(mut result) => {
            if stateless && let Some(obj) = result.as_object_mut() {
                obj.insert("resultType".into(), json!(gigmcp_mcp::view::COMPLETE));
            }
            Message::response(id, result).to_string()
        }
        Err(e) => Message::error(Some(id), e).to_string(),
    }
}

impl Server {
    fn send(&self, line: String) {
        // The writer ends only when stdout is gone; then nobody is listening.
        let _ = self.out.send(line);
    }

    fn server_info(&self) -> Value {
        let m = &self.engine.pack.manifest;
        json!({"name": m.name, "title": m.display_name, "version": m.version})
    }

    fn handle_request(&self, id: Id, method_name: &str, params: Option<Value>) {
        let meta = RequestMeta::of(params.as_ref());
        let stateless = match meta.protocol_version() {
            None => false,
            Some(v) if version::is_stateless(v) => true,
            Some(v) => {
                let e = ErrorObject::new(
                    code::UNSUPPORTED_PROTOCOL_VERSION,
                    format!("protocol revision {v} is not supported"),
                )
                .with_data(json!({"supported": version::STATELESS_VERSIONS, "requested": v}));
                self.send(answer(id, Err(e), false));
                return;
            }
        };
        let outcome = match method_name {
            method::INITIALIZE => {
                let asked = params
                    .as_ref()
                    .and_then(|p| p.get("protocolVersion"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Ok(json!({
                    "protocolVersion": version::negotiate(asked),
                    "capabilities": {"tools": {}},
                    "serverInfo": self.server_info(),
                }))
            }
            method::SERVER_DISCOVER => Ok(json!({
                "supportedVersions": version::STATELESS_VERSIONS,
                "capabilities": {"tools": {}},
                "serverInfo": self.server_info(),
            })),
            method::PING => Ok(json!({})),
            method::TOOLS_LIST => {
                // Sent as prebuilt text, so the properties keep their spec order.
                let list = self.engine.pack.list_json();
                // `list` is `{"tools":[…]}`: the stateless variant adds a member before the `}`.
                let result = match list.strip_suffix('}') {
                    Some(head) if stateless => {
                        format!(r#"{head},"resultType":"{}"}}"#, gigmcp_mcp::view::COMPLETE)
                    }
                    _ => list.to_owned(),
                };
                let id = serde_json::to_string(&id).unwrap_or_else(|_| "null".into());
                self.send(format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#
                ));
                return;
            }
            method::TOOLS_CALL => return self.spawn_call(id, params, stateless),
            other => Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("method not found: {other} (this server offers tools only)"),
            )),
        };
        self.send(answer(id, outcome, stateless));
    }

    fn spawn_call(&self, id: Id, params: Option<Value>, stateless: bool) {
        let mut calls = lock(&self.calls);
        if calls.len() >= MAX_QUEUED_CALLS {
            drop(calls);
            let e = ErrorObject::new(
                code::SERVER_UNAVAILABLE,
                format!("more than {MAX_QUEUED_CALLS} calls in flight: retry when some finish"),
            );
            self.send(answer(id, Err(e), false));
            return;
        }
        let (engine, running, out, registry) = (
            Arc::clone(&self.engine),
            Arc::clone(&self.running),
            self.out.clone(),
            Arc::clone(&self.calls),
        );
        let task_id = id.clone();
        let handle = tokio::spawn(async move {
            let permit = running.acquire_owned().await;
            let outcome = engine.call(params.as_ref()).await;
            drop(permit);
            // Removed before answering, so a late cancellation finds nothing to abort.
            lock(&registry).remove(&task_id);
            let _ = out.send(answer(task_id, outcome, stateless));
        });
        calls.insert(id, handle.abort_handle());
    }

    fn cancelled(&self, params: Option<&Value>) {
        let id = params
            .and_then(|p| p.get("requestId"))
            .and_then(|v| serde_json::from_value::<Id>(v.clone()).ok());
        if let Some(id) = id
            && let Some(handle) = lock(&self.calls).remove(&id)
        {
            handle.abort();
        }
    }

    fn handle_line(&self, bytes: &[u8]) {
        match Message::parse(bytes) {
            Err(e) => self.send(Message::error(None, e.to_error_object()).to_string()),
            Ok(Message::Request { id, method, params }) => self.handle_request(id, &method, params),
            Ok(Message::Notification { method, params }) => {
                if method == method::CANCELLED {
                    self.cancelled(params.as_ref());
                }
            }
            Ok(Message::Response { .. } | Message::Error { .. }) => {}
        }
    }
}

/// Serves MCP on `input`/`output` until `input` ends.
pub async fn serve<R, W>(engine: Arc<Engine>, input: R, output: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = rx.recv().await {
            line.push('\n');
            if output.write_all(line.as_bytes()).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    let server = Server {
        engine,
        out: tx,
        running: Arc::new(Semaphore::new(MAX_CONCURRENT_CALLS)),
        calls: Arc::new(Mutex::new(HashMap::new())),
    };
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let mut buf = Vec::new();
    loop {
        match read_line(&mut input, &mut buf, MAX_LINE).await {
            Err(_) | Ok(Line::Eof) => break,
            Ok(Line::TooLong) => {
                let e = ErrorObject::new(
                    code::INVALID_REQUEST,
                    format!("message longer than {MAX_LINE} bytes: send less (uploads included)"),
                );
                server.send(Message::error(None, e).to_string());
            }
            Ok(Line::Text) => {
                if !buf.iter().all(u8::is_ascii_whitespace) {
                    server.handle_line(&buf);
                }
            }
        }
    }
    for (_, handle) in lock(&server.calls).drain() {
        handle.abort();
    }
    drop(server);
    let _ = writer.await;
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
