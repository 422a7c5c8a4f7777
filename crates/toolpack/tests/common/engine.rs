//! The engine as a child process and a small MCP client over its stdio (JSON-RPC, one message
//! a line), speaking either era.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

/// The handshake-era revision the client asks for.
pub const HANDSHAKE_VERSION: &str = "2025-11-25";
/// The stateless revision (`server/discover`, `_meta` on every request).
pub const STATELESS_VERSION: &str = "2026-07-28";
/// How long one request may take before the test calls it hung.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The static engine binary (built once per test binary).
pub fn engine_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| gigmcp_testkit::static_bin("gigmcp-toolpack", "gigmcp-toolpack"))
        .clone()
}

/// [`engine_bin`] from async code (the first call runs cargo).
pub async fn engine_bin_async() -> PathBuf {
    tokio::task::spawn_blocking(engine_bin)
        .await
        .expect("building the engine binary")
}

/// Which MCP era the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` + `notifications/initialized`, then requests.
    Handshake,
    /// `server/discover`, then requests carrying the revision in `_meta`.
    Stateless,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A running engine.
pub struct Engine {
    child: Child,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Messages from the engine that answer no request (notifications, requests).
    pub inbound: Arc<Mutex<Vec<Value>>>,
    era: Era,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Environment of an engine: only what is given here (the parent's is not inherited).
#[derive(Debug, Clone, Default)]
pub struct EngineEnv {
    pub vars: Vec<(String, String)>,
}

impl EngineEnv {
    /// The files and the proxy every engine needs.
    pub fn new(manifest: &Path, spec: &Path, proxy_url: &str, ca_file: &Path) -> Self {
        let mut env = Self::default();
        env.set("GIG_TOOLPACK_MANIFEST", &manifest.display().to_string());
        env.set("GIG_TOOLPACK_SPEC", &spec.display().to_string());
        env.set("HTTPS_PROXY", proxy_url);
        env.set("SSL_CERT_FILE", &ca_file.display().to_string());
        env
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl Engine {
    /// Starts the engine with exactly `env`; `era` decides how [`Engine::start`] greets it.
    pub fn spawn(env: &EngineEnv, era: Era) -> Self {
        let mut cmd = Command::new(engine_bin());
        cmd.env_clear()
            .envs(env.vars.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn gigmcp-toolpack");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let stdin = child.stdin.take();
        let pending: Pending = Arc::default();
        let inbound: Arc<Mutex<Vec<Value>>> = Arc::default();
        let stderr: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (p, i) = (pending.clone(), inbound.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    i.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(json!({"unparsable": line}));
                    continue;
                };
                let is_response = msg.get("method").is_none()
                    && (msg.get("result").is_some() || msg.get("error").is_some());
                let id = msg.get("id").and_then(Value::as_u64);
                match (is_response, id) {
                    (true, Some(id)) => {
                        let tx = p.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                        if let Some(tx) = tx {
                            let _ = tx.send(msg);
                        }
                    }
                    _ => i.lock().unwrap_or_else(|e| e.into_inner()).push(msg),
                }
            }
            // Output ended: every waiting request learns it by its sender being dropped.
            p.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
        let e = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 8192];
            loop {
                match stderr_pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut all = e.lock().unwrap_or_else(|p| p.into_inner());
                        // Bounded: a chatty engine cannot exhaust the test's memory.
                        if all.len() < 4 << 20 {
                            all.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
        });
        Self {
            child,
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
            stderr,
            inbound,
            era,
        }
    }

    /// Spawns and greets the engine in `era`, returning the greeting's result.
    pub async fn start(env: &EngineEnv, era: Era) -> Result<(Self, Value), String> {
        engine_bin_async().await;
        let engine = Self::spawn(env, era);
        let greeting = match era {
            Era::Handshake => engine.initialize().await,
            Era::Stateless => engine.discover().await,
        };
        match greeting {
            Ok(v) => Ok((engine, v)),
            Err(e) => Err(format!("{e}; stderr: {}", engine.stderr())),
        }
    }

    /// What the engine wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    async fn write(&self, msg: &Value) -> Result<(), String> {
        let mut guard = self.stdin.lock().await;
        let stdin = guard.as_mut().ok_or("stdin closed")?;
        let mut line = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
        line.push(b'\n');
        stdin
            .write_all(&line)
            .await
            .map_err(|e| format!("writing to the engine: {e}"))?;
        stdin.flush().await.map_err(|e| e.to_string())
    }

    /// `params` with the stateless era's request `_meta` when speaking that era.
    fn with_meta(&self, params: Value) -> Value {
        if self.era == Era::Handshake {
            return params;
        }
        let mut params = match params {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let meta = params.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "io.modelcontextprotocol/protocolVersion".into(),
                json!(STATELESS_VERSION),
            );
            meta.insert(
                "io.modelcontextprotocol/clientCapabilities".into(),
                json!({}),
            );
            meta.insert(
                "io.modelcontextprotocol/clientInfo".into(),
                json!({"name": "toolpack-acceptance", "version": "1"}),
            );
        }
        Value::Object(params)
    }

    /// Sends a request; returns its id and where its response arrives.
    pub async fn send(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(u64, oneshot::Receiver<Value>), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let params = self.with_meta(params);
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        Ok((id, rx))
    }

    /// A request's whole response message (`result` or `error`), within [`REQUEST_TIMEOUT`].
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, String> {
        self.request_within(method, params, REQUEST_TIMEOUT).await
    }

    pub async fn request_within(
        &self,
        method: &str,
        params: Value,
        within: Duration,
    ) -> Result<Value, String> {
        let (id, rx) = self.send(method, params).await?;
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(_)) => Err(format!(
                "the engine closed its output before answering {method}"
            )),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                Err(format!("no answer to {method} within {within:?}"))
            }
        }
    }

    /// A request's `result`; a JSON-RPC error is an `Err`.
    pub async fn result(&self, method: &str, params: Value) -> Result<Value, String> {
        let msg = self.request(method, params).await?;
        match msg.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(format!("{method} failed: {msg}")),
        }
    }

    pub async fn notify(&self, method: &str, params: Value) -> Result<(), String> {
        self.write(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await
    }

    /// `initialize` + `notifications/initialized`.
    pub async fn initialize(&self) -> Result<Value, String> {
        let r = self
            .result(
                "initialize",
                json!({
                    "protocolVersion": HANDSHAKE_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "toolpack-acceptance", "version": "1"},
                }),
            )
            .await?;
        self.notify("notifications/initialized", json!({})).await?;
        Ok(r)
    }

    /// `server/discover` (stateless era).
    pub async fn discover(&self) -> Result<Value, String> {
        self.result("server/discover", json!({})).await
    }

    /// Every tool of `tools/list`, following `nextCursor` (bounded).
    pub async fn list_tools(&self) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let r = self.result("tools/list", params).await?;
            let tools = r
                .get("tools")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("tools/list result without tools: {r}"))?;
            out.extend(tools.iter().cloned());
            match r.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
        Err("tools/list kept returning a cursor".into())
    }

    /// `tools/call`: the whole response message.
    pub async fn call(&self, name: &str, arguments: &Value) -> Result<Value, String> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// `tools/call`: the result (a JSON-RPC error is an `Err`).
    pub async fn call_result(&self, name: &str, arguments: &Value) -> Result<Value, String> {
        let msg = self.call(name, arguments).await?;
        match msg.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(format!("tools/call {name} failed: {msg}")),
        }
    }

    /// Closes stdin and waits (bounded) for the process to exit; kills it otherwise.
    pub async fn shutdown(&mut self, within: Duration) -> Option<ExitStatus> {
        self.stdin.lock().await.take();
        self.wait_exit(within).await
    }

    /// Waits (bounded) for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => {
                // Let the stderr reader drain what is left in the pipe.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some(status)
            }
            _ => {
                let _ = self.child.start_kill();
                None
            }
        }
    }
}

/// The text of a tool result's `text` contents, joined.
pub fn result_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Whether a tool result is marked as an error.
pub fn is_error(result: &Value) -> bool {
    result.get("isError").and_then(Value::as_bool) == Some(true)
}
