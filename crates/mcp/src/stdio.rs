//! A JSON-RPC client over a child process's stdin/stdout (newline-delimited JSON).
//!
//! Requests are multiplexed: each gets a fresh integer id and a slot in a pending table that
//! the reader task completes. Messages the server sends on its own (notifications, and
//! requests such as `sampling/createMessage`) are handed to the owner through a bounded channel;
//! `ping` is answered here. When the server's stdout ends, every pending request fails with
//! [`ClientError::Closed`] at once: a dead server never leaves a caller hanging.

use crate::jsonrpc::{ErrorObject, Id, Message, code};
use crate::version::{LATEST_HANDSHAKE, STATELESS_VERSION};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc, oneshot};

/// Limits and labels for a [`StdioClient`].
#[derive(Clone, Debug)]
pub struct StdioClientConfig {
    /// Name used in logs and errors (the server's name).
    pub name: String,
    /// Longest line accepted from the server; longer lines are dropped with a warning.
    pub max_line_bytes: usize,
    /// Capacity of the channel of server-initiated messages.
    pub inbound_capacity: usize,
}

impl StdioClientConfig {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            max_line_bytes: 16 * 1024 * 1024,
            inbound_capacity: 256,
        }
    }
}

/// Why a request to a server failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("server {server} is no longer running ({reason})")]
    Closed { server: String, reason: String },
    #[error("server {server} answered with an error: {error}")]
    Rpc { server: String, error: ErrorObject },
}

impl ClientError {
    /// The JSON-RPC error to pass on to whoever made the request.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            ClientError::Closed { .. } => {
                ErrorObject::new(code::SERVER_UNAVAILABLE, self.to_string())
            }
            ClientError::Rpc { error, .. } => error.clone(),
        }
    }
}

/// An answer, with how many server-initiated messages had been handed to the inbound receiver
/// before it (see [`PendingRequest::response_after`]).
type Reply = (Result<Value, ErrorObject>, u64);

struct Inner {
    config: StdioClientConfig,
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    pending: Mutex<HashMap<i64, oneshot::Sender<Reply>>>,
    next_id: AtomicI64,
    closed: AtomicBool,
    close_reason: Mutex<Option<String>>,
    closed_notify: Notify,
    dropped_inbound: AtomicU64,
    /// Server-initiated messages handed to the inbound receiver so far.
    delivered_inbound: AtomicU64,
}

impl Inner {
    fn close(&self, reason: String) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        *self.close_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        drop(pending); // dropping the senders wakes every waiter with "closed"
        self.closed_notify.notify_waiters();
    }

    fn closed_error(&self) -> ClientError {
        let reason = self
            .close_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "its output ended".into());
        ClientError::Closed {
            server: self.config.name.clone(),
            reason,
        }
    }

    async fn write(&self, msg: &Message) -> Result<(), ClientError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.closed_error());
        }
        let mut line = serde_json::to_vec(&msg.to_value()).expect("a JSON value serialises");
        line.push(b'\n');
        let mut w = self.writer.lock().await;
        let res = async {
            w.write_all(&line).await?;
            w.flush().await
        }
        .await;
        if let Err(e) = res {
            self.close(format!("writing to it failed: {e}"));
            return Err(self.closed_error());
        }
        Ok(())
    }
}

/// What [`read_bounded_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A whole line is in the buffer.
    Complete,
    /// A line longer than the bound was read and discarded.
    TooLong,
    /// The input ended.
    Eof,
}

/// Reads one `\n`-terminated line into `buf` (without the newline), never holding more than
/// `max` bytes: the rest of an over-long line is read and thrown away.
pub async fn read_bounded_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if buf.is_empty() && !too_long {
                Line::Eof
            } else if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
        let (part, found) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], Some(i)),
            None => (chunk, None),
        };
        if !too_long {
            if buf.len() + part.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        let used = found.map_or(chunk.len(), |i| i + 1);
        r.consume(used);
        if found.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

/// Removes a pending slot if the caller gives up (timeout, cancelled future).
/// A request written to the server and not answered yet. Dropping it forgets the request (a
/// late answer is then ignored).
pub struct PendingRequest {
    inner: Arc<Inner>,
    id: i64,
    rx: Option<oneshot::Receiver<Reply>>,
}

impl PendingRequest {
    /// The id the request carries on the wire (what the server's progress, cancellation and
    /// related messages refer to).
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Waits for the answer.
    pub async fn response(self) -> Result<Value, ClientError> {
        self.response_after().await.0
    }

    /// Waits for the answer; also says how many server-initiated messages (notifications such
    /// as progress, requests) the server sent before it, counted as the inbound receiver got
    /// them, so a caller can wait until those were handled and keep the server's order.
    pub async fn response_after(mut self) -> (Result<Value, ClientError>, u64) {
        let Some(rx) = self.rx.take() else {
            return (Err(self.inner.closed_error()), 0);
        };
        match rx.await {
            Ok((Ok(result), mark)) => (Ok(result), mark),
            Ok((Err(error), mark)) => (
                Err(ClientError::Rpc {
                    server: self.inner.config.name.clone(),
                    error,
                }),
                mark,
            ),
            Err(_) => (Err(self.inner.closed_error()), 0),
        }
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// What a `server/discover` probe found.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// The server lists the stateless revision: its `DiscoverResult`.
    Stateless(Value),
    /// It refused the method, or lists other revisions only: a server of the handshake era.
    Refused,
    /// No answer in time (a server that ignores methods it does not know).
    Silent,
}

/// True if a `DiscoverResult` lists the stateless revision among its supported versions.
fn lists_stateless(result: &Value) -> bool {
    result
        .get("supportedVersions")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|v| v.as_str() == Some(STATELESS_VERSION)))
}

/// A cheap-to-clone handle on one server connection.
#[derive(Clone)]
pub struct StdioClient {
    inner: Arc<Inner>,
}

impl StdioClient {
    /// Starts the reader task. Returns the client and the receiver of server-initiated messages
    /// (notifications and requests other than `ping`).
    pub fn start<R, W>(
        reader: R,
        writer: W,
        config: StdioClientConfig,
    ) -> (Self, mpsc::Receiver<Message>)
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let (tx, rx) = mpsc::channel(config.inbound_capacity.max(1));
        let max_line = config.max_line_bytes;
        let inner = Arc::new(Inner {
            config,
            writer: tokio::sync::Mutex::new(Box::new(writer)),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            closed_notify: Notify::new(),
            dropped_inbound: AtomicU64::new(0),
            delivered_inbound: AtomicU64::new(0),
        });
        let client = StdioClient {
            inner: inner.clone(),
        };
        let task_client = client.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(reader);
            let mut line = Vec::new();
            let reason = loop {
                match read_bounded_line(&mut reader, &mut line, max_line).await {
                    Ok(Line::Eof) => break "its output ended".to_string(),
                    Ok(Line::TooLong) => {
                        tracing::warn!(server = %task_client.inner.config.name, max_line,
                            "dropped an over-long line from the server");
                    }
                    Ok(Line::Complete) => task_client.dispatch(&line, &tx).await,
                    Err(e) => break format!("reading from it failed: {e}"),
                }
            };
            task_client.inner.close(reason);
        });
        (client, rx)
    }

    async fn dispatch(&self, line: &[u8], tx: &mpsc::Sender<Message>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let name = &self.inner.config.name;
        let msg = match Message::parse(line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(server = %name, error = %e, "ignored a malformed line from the server");
                return;
            }
        };
        match msg {
            Message::Response {
                id: Id::Num(n),
                result,
            } => self.complete(n, Ok(result)),
            Message::Error {
                id: Some(Id::Num(n)),
                error,
            } => self.complete(n, Err(error)),
            Message::Response { id, .. } | Message::Error { id: Some(id), .. } => {
                tracing::warn!(server = %name, %id, "response to an id we never used");
            }
            Message::Error { id: None, error } => {
                tracing::warn!(server = %name, %error, "server reported an error without an id");
            }
            Message::Request { id, method, .. } if method == "ping" => {
                let _ = self.inner.write(&Message::response(id, json!({}))).await;
            }
            other => {
                if tx.try_send(other).is_ok() {
                    self.inner.delivered_inbound.fetch_add(1, Ordering::SeqCst);
                } else {
                    self.inner.dropped_inbound.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(server = %name, "dropped a server message: nobody is reading fast enough");
                }
            }
        }
    }

    fn complete(&self, id: i64, reply: Result<Value, ErrorObject>) {
        let mark = self.inner.delivered_inbound.load(Ordering::SeqCst);
        let slot = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        match slot {
            Some(tx) => {
                let _ = tx.send((reply, mark));
            }
            None => {
                tracing::debug!(server = %self.inner.config.name, id, "late or unknown response")
            }
        }
    }

    /// Sends a request and waits for its answer. Wrap in a timeout to bound the wait; dropping
    /// the future frees its slot.
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ClientError> {
        self.send_request(method, params).await?.response().await
    }

    /// Sends a request; the returned handle knows its wire id and waits for the answer.
    pub async fn send_request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<PendingRequest, ClientError> {
        self.send_request_with(method, params, |_| {}).await
    }

    /// [`Self::send_request`], calling `before_send` with the request's wire id before it is
    /// written, so whatever the server sends about it (even at once) finds it registered.
    pub async fn send_request_with(
        &self,
        method: &str,
        params: Option<Value>,
        before_send: impl FnOnce(i64),
    ) -> Result<PendingRequest, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            if self.inner.closed.load(Ordering::SeqCst) {
                return Err(self.inner.closed_error());
            }
            pending.insert(id, tx);
        }
        let pending = PendingRequest {
            inner: self.inner.clone(),
            id,
            rx: Some(rx),
        };
        before_send(id);
        let msg = Message::Request {
            id: Id::Num(id),
            method: method.to_string(),
            params,
        };
        self.inner.write(&msg).await?;
        Ok(pending)
    }

    /// Sends a notification.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ClientError> {
        self.inner
            .write(&Message::Notification {
                method: method.to_string(),
                params,
            })
            .await
    }

    /// Answers a request the server sent us.
    pub async fn reply(&self, msg: Message) -> Result<(), ClientError> {
        self.inner.write(&msg).await
    }

    /// The `initialize` handshake followed by `notifications/initialized`; returns the
    /// server's `InitializeResult`.
    pub async fn initialize(
        &self,
        client_name: &str,
        client_version: &str,
    ) -> Result<Value, ClientError> {
        self.initialize_with(client_name, client_version, json!({}))
            .await
    }

    /// [`Self::initialize`] declaring `capabilities` as the client's.
    pub async fn initialize_with(
        &self,
        client_name: &str,
        client_version: &str,
        capabilities: Value,
    ) -> Result<Value, ClientError> {
        let result = self
            .request(
                crate::method::INITIALIZE,
                Some(json!({
                    "protocolVersion": LATEST_HANDSHAKE,
                    "capabilities": capabilities,
                    "clientInfo": {"name": client_name, "version": client_version},
                })),
            )
            .await?;
        self.notify(crate::method::INITIALIZED, None).await?;
        Ok(result)
    }

    /// Asks `server/discover` (the stateless revision's first request), waiting at most
    /// `wait` for the answer. Only a closed connection is an error.
    pub async fn discover(
        &self,
        capabilities: &Value,
        client_info: &Value,
        wait: std::time::Duration,
    ) -> Result<Discovery, ClientError> {
        let params = crate::meta::with_request_meta(None, capabilities, client_info, None);
        let probe = self
            .send_request(crate::method::SERVER_DISCOVER, Some(params))
            .await?;
        match tokio::time::timeout(wait, probe.response()).await {
            Ok(Ok(result)) if lists_stateless(&result) => Ok(Discovery::Stateless(result)),
            Ok(Err(e @ ClientError::Closed { .. })) => Err(e),
            Ok(Ok(_) | Err(ClientError::Rpc { .. })) => Ok(Discovery::Refused),
            Err(_) => {
                tracing::debug!(server = %self.inner.config.name, "no answer to server/discover");
                Ok(Discovery::Silent)
            }
        }
    }

    /// True once the server's output has ended or writing to it failed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Resolves when the connection closes.
    pub async fn closed(&self) {
        loop {
            let notified = self.inner.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Marks the connection closed (e.g. because the process was killed) with a reason.
    pub fn close(&self, reason: impl Into<String>) {
        self.inner.close(reason.into());
    }

    /// Server-initiated messages dropped because the receiver was full.
    pub fn dropped_inbound(&self) -> u64 {
        self.inner.dropped_inbound.load(Ordering::Relaxed)
    }

    /// The server's name, as configured.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader, duplex};

    /// A scripted peer on the other end of an in-memory pipe.
    fn peer(script: impl FnOnce(String) -> Option<String> + Send + Copy + 'static) -> StdioClient {
        let (client_side, server_side) = duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client_side);
        let (sr, mut sw) = tokio::io::split(server_side);
        tokio::spawn(async move {
            let mut lines = BufReader::new(sr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match script(line) {
                    Some(out) => {
                        if sw.write_all(format!("{out}\n").as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                }
            }
        });
        StdioClient::start(cr, cw, StdioClientConfig::new("peer")).0
    }

    fn answer(line: String) -> Option<String> {
        let v: Value = serde_json::from_str(&line).unwrap();
        Some(json!({"jsonrpc":"2.0","id":v["id"],"result":{"method":v["method"]}}).to_string())
    }

    #[tokio::test]
    async fn concurrent_requests_get_their_own_answers() {
        let client = peer(answer);
        let calls = (0..50).map(|i| {
            let c = client.clone();
            async move { c.request(&format!("m{i}"), None).await.unwrap() }
        });
        let results = futures_util::future::join_all(calls).await;
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r["method"], format!("m{i}"));
        }
    }

    /// A peer of either era: `stateless` answers `server/discover`; `silent` ignores it.
    fn era_peer(line: String, stateless: bool, silent: bool) -> Option<String> {
        let v: Value = serde_json::from_str(&line).unwrap();
        let Some(id) = v.get("id") else {
            return Some(String::new()); // a notification: nothing to say
        };
        let reply = match v["method"].as_str().unwrap() {
            "server/discover" if silent => return Some(String::new()),
            "server/discover" if stateless => {
                assert_eq!(
                    v["params"]["_meta"][crate::meta::PROTOCOL_VERSION],
                    STATELESS_VERSION
                );
                assert_eq!(
                    v["params"]["_meta"][crate::meta::CLIENT_CAPABILITIES]["sampling"],
                    json!({})
                );
                json!({"result": {"supportedVersions": [STATELESS_VERSION], "capabilities": {"tools": {}}}})
            }
            "server/discover" => json!({"error": {"code": -32601, "message": "method not found"}}),
            "initialize" => {
                json!({"result": {"protocolVersion": LATEST_HANDSHAKE, "capabilities": {}}})
            }
            _ => json!({"result": {}}),
        };
        let mut reply = reply;
        reply["jsonrpc"] = json!("2.0");
        reply["id"] = id.clone();
        Some(reply.to_string())
    }

    #[tokio::test]
    async fn discover_tells_the_eras_apart_and_a_refusing_server_can_be_initialized() {
        let caps = json!({"sampling": {}});
        let info = json!({"name": "t", "version": "1"});
        let wait = std::time::Duration::from_secs(5);
        let stateless = peer(|l| era_peer(l, true, false));
        match stateless.discover(&caps, &info, wait).await.unwrap() {
            Discovery::Stateless(found) => {
                assert_eq!(found["capabilities"]["tools"], json!({}))
            }
            other => panic!("{other:?}"),
        }

        let handshake = peer(|l| era_peer(l, false, false));
        let found = handshake.discover(&caps, &info, wait).await.unwrap();
        assert!(matches!(found, Discovery::Refused), "{found:?}");
        let init = handshake
            .initialize_with("t", "1", caps.clone())
            .await
            .unwrap();
        assert_eq!(init["protocolVersion"], LATEST_HANDSHAKE);

        // a server that never answers the probe is found silent once the wait is over, and
        // can be initialized still
        let silent = peer(|l| era_peer(l, true, true));
        let started = std::time::Instant::now();
        let found = silent
            .discover(&caps, &info, std::time::Duration::from_millis(200))
            .await
            .unwrap();
        assert!(matches!(found, Discovery::Silent), "{found:?}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
        let init = silent
            .initialize_with("t", "1", caps.clone())
            .await
            .unwrap();
        assert_eq!(init["protocolVersion"], LATEST_HANDSHAKE);

        // a server that dies on the probe is an error, not a fallback
        let dead = peer(|_| None);
        assert!(matches!(
            dead.discover(&caps, &info, wait).await,
            Err(ClientError::Closed { .. })
        ));
    }

    #[tokio::test]
    async fn a_peer_that_dies_fails_pending_requests_instead_of_hanging() {
        let client = peer(|_| None);
        let err = client.request("tools/list", None).await.unwrap_err();
        assert!(matches!(err, ClientError::Closed { .. }), "{err}");
        assert!(client.is_closed());
        assert_eq!(err.to_error_object().code, code::SERVER_UNAVAILABLE);
        // and later requests fail at once
        assert!(client.request("ping", None).await.is_err());
    }

    #[tokio::test]
    async fn an_error_reply_is_passed_on() {
        let client = peer(|line| {
            let v: Value = serde_json::from_str(&line).unwrap();
            Some(
                json!({"jsonrpc":"2.0","id":v["id"],"error":{"code":-32601,"message":"nope"}})
                    .to_string(),
            )
        });
        match client.request("x", None).await {
            Err(ClientError::Rpc { error, .. }) => assert_eq!(error.code, -32601),
            other => panic!("expected an rpc error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn over_long_lines_are_dropped_not_buffered() {
        let (client_side, server_side) = duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client_side);
        let (_sr, mut sw) = tokio::io::split(server_side);
        let mut cfg = StdioClientConfig::new("big");
        cfg.max_line_bytes = 64;
        let (client, mut rx) = StdioClient::start(cr, cw, cfg);
        let long = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{{\"x\":\"{}\"}}}}\n",
            "a".repeat(500)
        );
        sw.write_all(long.as_bytes()).await.unwrap();
        sw.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"ok\"}\n")
            .await
            .unwrap();
        let msg = rx.recv().await.unwrap();
        assert_eq!(
            msg,
            Message::Notification {
                method: "ok".into(),
                params: None
            }
        );
        assert!(!client.is_closed());
    }

    #[tokio::test]
    async fn speaks_to_the_real_echo_server() {
        let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
        let mut child = tokio::process::Command::new(echo)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (client, _rx) = StdioClient::start(
            child.stdout.take().unwrap(),
            child.stdin.take().unwrap(),
            StdioClientConfig::new("echo"),
        );
        let init = client.initialize("test", "0").await.unwrap();
        assert_eq!(init["protocolVersion"], LATEST_HANDSHAKE);
        let out = client
            .request(
                "tools/call",
                Some(json!({"name":"echo","arguments":{"message":"hi"}})),
            )
            .await
            .unwrap();
        assert_eq!(out["content"][0]["text"], "echo: hi");
    }
}
