//! A real gateway on an ephemeral loopback port, with a SQLite store in a temp dir, the
//! static test servers installed, a profile and its token.
#![allow(dead_code)] // each test file uses a different part

pub mod process;
pub mod recorder;
pub mod sdk;
pub mod stateless;
pub mod upstream;

use gigmcp_gateway::config::RawConfig;
use gigmcp_gateway::{Gateway, GatewayConfig, router, token};
use gigmcp_store::{NewProfile, NewServer, Role, ServerSource, Store, StoreUrl};
use gigmcp_vault::{Keyring, MasterKey};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

pub struct TestGateway {
    pub gateway: Gateway,
    pub keyring: Keyring,
    pub addr: SocketAddr,
    pub store: Store,
    data_dir: std::path::PathBuf,
    /// `None` for a [`TestGateway::replica`]: the first gateway owns the data.
    _dir: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

pub struct TestProfile {
    pub slug: String,
    pub token: String,
}

impl TestGateway {
    /// Starts a gateway with the given tuning applied to the defaults.
    pub async fn start_with(tune: impl FnOnce(&mut RawConfig)) -> Self {
        // Private (0700), as a data dir holding secrets is: sandboxes get their binaries and
        // images through the runtime's host view.
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::new(MasterKey::generate().unwrap(), Vec::new());
        let data_dir = dir.path().to_path_buf();
        Self::start_on(data_dir, Some(dir), keyring, tune).await
    }

    /// A second gateway on this one's data (store and master key), as another replica of a
    /// deployment runs: its own sessions, memory and sandboxes. Stop it before this one.
    pub async fn replica(&self) -> Self {
        Self::start_on(self.data_dir.clone(), None, self.keyring.clone(), |_| {}).await
    }

    /// A gateway whose servers run as plain processes (the routing is the same; no sandbox, so
    /// no root needed): for tests of what happens between clients and servers.
    pub async fn unsandboxed(tune: impl FnOnce(&mut RawConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::new(MasterKey::generate().unwrap(), Vec::new());
        let data_dir = dir.path().to_path_buf();
        let mut raw = RawConfig::defaults();
        raw.listen = "127.0.0.1:0".into();
        raw.data_dir = data_dir.display().to_string();
        raw.sandbox_network = false;
        tune(&mut raw);
        let config = GatewayConfig::from_raw(raw).unwrap();
        let store = Store::connect(&StoreUrl::sqlite_in(&data_dir))
            .await
            .unwrap();
        let gateway =
            Gateway::with_launcher(config, store.clone(), Arc::new(process::ProcessLauncher));
        Self::serve(gateway, keyring, store, data_dir, Some(dir)).await
    }

    async fn start_on(
        data_dir: std::path::PathBuf,
        dir: Option<tempfile::TempDir>,
        keyring: Keyring,
        tune: impl FnOnce(&mut RawConfig),
    ) -> Self {
        let mut raw = RawConfig::defaults();
        raw.listen = "127.0.0.1:0".into();
        raw.data_dir = data_dir.display().to_string();
        raw.bootstrap = Some(
            gigmcp_testkit::static_bin("gigmcp-bootstrap", "gigmcp-bootstrap")
                .display()
                .to_string(),
        );
        // Only the egress tests give sandboxes a network (each with its own pool and links).
        raw.sandbox_network = false;
        tune(&mut raw);
        let mut config = GatewayConfig::from_raw(raw).unwrap();
        // Several gateways share this test process: give each sandbox runtime its own uid range
        // and cgroup, as the runtime requires.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        config.sandbox.max_sandboxes = 256;
        config.sandbox.host_uid_base = 1_800_000_000 + n * 1_000;
        config.sandbox.cgroup_name = format!("gigmcp-test-{}-{n}", std::process::id());
        if let Some(net) = config.network.as_mut() {
            net.pool = format!("10.{}.0.0/16", 100 + n).parse().unwrap();
            net.link_prefix = format!("gt{}", (b'a' + (n % 26) as u8) as char);
        }
        let store = Store::connect(&StoreUrl::sqlite_in(&data_dir))
            .await
            .unwrap();
        let gateway = Gateway::start(config, store.clone(), Arc::new(keyring.clone()))
            .await
            .unwrap();
        Self::serve(gateway, keyring, store, data_dir, dir).await
    }

    /// Serves `gateway` on an ephemeral loopback port.
    async fn serve(
        gateway: Gateway,
        keyring: Keyring,
        store: Store,
        data_dir: std::path::PathBuf,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(gateway.clone());
        let server = tokio::spawn(async move {
            axum::serve(gigmcp_gateway::nodelay(listener), app)
                .await
                .unwrap();
        });
        TestGateway {
            gateway,
            keyring,
            addr,
            store,
            data_dir,
            _dir: dir,
            server,
        }
    }

    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Installs static test server `bin` (from gigmcp-test-servers) as `name`.
    pub async fn add_server(&self, name: &str, bin: &str) {
        let path = gigmcp_testkit::static_bin("gigmcp-test-servers", bin);
        self.store
            .create_server(NewServer {
                name: name.parse().unwrap(),
                source: ServerSource::LocalBinary {
                    path: path.display().to_string(),
                },
            })
            .await
            .unwrap();
    }

    /// Creates a profile serving the named servers and returns its token.
    pub async fn add_profile(&self, slug: &str, servers: &[&str]) -> TestProfile {
        self.add_profile_of("admin", slug, servers).await
    }

    /// Like [`Self::add_profile`], owned by user `owner` (created if needed).
    pub async fn add_profile_of(&self, owner: &str, slug: &str, servers: &[&str]) -> TestProfile {
        let role = if owner == "admin" {
            Role::Admin
        } else {
            Role::User
        };
        let owner = self.store.ensure_user(owner, role).await.unwrap();
        let t = token::generate();
        let profile = self
            .store
            .create_profile(NewProfile {
                slug: slug.parse().unwrap(),
                owner: owner.id,
                token_hash: t.hash,
            })
            .await
            .unwrap();
        for name in servers {
            let server = self.store.server_by_name(name).await.unwrap().unwrap();
            self.store
                .add_profile_server(profile.id, server.id)
                .await
                .unwrap();
        }
        TestProfile {
            slug: slug.into(),
            token: t.token,
        }
    }

    /// Records a registry manifest (YAML) for `server`, as an install would.
    pub async fn set_manifest(&self, server: gigmcp_store::ServerId, yaml: &str) {
        let manifest = gigmcp_registry::Manifest::from_yaml(yaml.as_bytes()).unwrap();
        self.store
            .set_server_manifest(
                server,
                &serde_json::to_string(&manifest).unwrap(),
                &manifest.runtime_hash(),
            )
            .await
            .unwrap();
    }

    pub fn url(&self, slug: &str) -> String {
        format!("http://{}/mcp/p/{slug}", self.addr)
    }

    /// Sandboxes started so far.
    pub fn started(&self) -> u64 {
        self.gateway.supervisor().started()
    }

    pub async fn stop(self) {
        self.server.abort();
        self.gateway.shutdown().await;
    }
}

/// A minimal raw client for protocol-level tests.
pub struct RawClient {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub session: Option<String>,
}

pub const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

impl RawClient {
    pub fn new(url: String, token: &str) -> Self {
        RawClient {
            http: reqwest::Client::new(),
            url,
            token: token.into(),
            session: None,
        }
    }

    pub fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.post_with(body, &[])
    }

    /// A POST with the usual headers, each of `overrides` replacing the default of that name.
    pub fn post_with(
        &self,
        body: impl Into<reqwest::Body>,
        overrides: &[(&'static str, &str)],
    ) -> reqwest::RequestBuilder {
        use reqwest::header::{HeaderMap, HeaderValue};
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {}", self.token)).unwrap(),
        );
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(s) = &self.session {
            h.insert("mcp-session-id", HeaderValue::from_str(s).unwrap());
            h.insert(
                "mcp-protocol-version",
                HeaderValue::from_static("2025-11-25"),
            );
        }
        for (name, value) in overrides {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        self.http.post(&self.url).headers(h).body(body)
    }

    pub async fn initialize(&mut self) -> Value {
        let resp = self.post(INIT).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        self.session = Some(
            resp.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
        let v: Value = resp.json().await.unwrap();
        let r = self
            .post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        v
    }

    /// A session (initialized, not yet `notifications/initialized`) declaring `capabilities`.
    pub async fn with_capabilities(url: String, token: &str, capabilities: Value) -> Self {
        let mut c = RawClient::new(url, token);
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "clientInfo": {"name": "raw", "version": "0"}}});
        let resp = c.post(init.to_string()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        c.session = Some(resp.headers()["mcp-session-id"].to_str().unwrap().into());
        c
    }

    /// Starts `tools/call` of `tool` with `arguments` and returns its SSE stream.
    pub async fn start_call(
        &self,
        id: i64,
        tool: &str,
        arguments: Value,
        meta: Option<Value>,
    ) -> SseReader {
        let mut params = json!({"name": tool, "arguments": arguments});
        if let Some(m) = meta {
            params["_meta"] = m;
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
        let resp = self.post(body.to_string()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        SseReader::new(resp)
    }

    /// Opens the session's GET stream (asserting 200).
    pub async fn open_get_stream(&self) -> reqwest::Response {
        let resp = self
            .http
            .get(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", self.session.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp
    }

    /// Posts a notification or a response (answered 202).
    pub async fn post_accepted(&self, msg: Value) {
        let resp = self.post(msg.to_string()).send().await.unwrap();
        assert_eq!(resp.status(), 202, "{msg}");
    }

    /// A request and its answer, whether it comes as JSON or as an SSE stream (tool calls).
    pub async fn call(&self, id: i64, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string();
        let resp = self.post(body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        let sse = resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream");
        if !sse {
            return resp.json().await.unwrap();
        }
        let mut stream = SseReader::new(resp);
        while let Some(msg) = stream.next().await {
            if msg["id"] == id && msg.get("method").is_none() {
                return msg;
            }
        }
        panic!("{method}: the stream ended without an answer")
    }
}

/// Reads JSON-RPC messages from an SSE response, one `data:` at a time.
pub struct SseReader {
    resp: reqwest::Response,
    buf: String,
    ready: std::collections::VecDeque<(Option<String>, Value)>,
    /// The id of the last event read (what a client resumes from).
    pub last_event_id: Option<String>,
    /// Ids of events seen, priming events (no data) included.
    pub ids: Vec<String>,
}

impl SseReader {
    pub fn new(resp: reqwest::Response) -> Self {
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "not an SSE response"
        );
        SseReader {
            resp,
            buf: String::new(),
            ready: Default::default(),
            last_event_id: None,
            ids: Vec::new(),
        }
    }

    /// The next message, or `None` when the stream ended; panics after 10 s of silence.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some((id, v)) = self.ready.pop_front() {
                if id.is_some() {
                    self.last_event_id = id;
                }
                return Some(v);
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("an SSE message within 10 s")
                .ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                let id = event
                    .lines()
                    .find_map(|l| l.strip_prefix("id:"))
                    .map(|i| i.trim().to_string());
                if let Some(i) = &id {
                    self.ids.push(i.clone());
                }
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                    {
                        self.ready.push_back((id.clone(), v));
                    }
                }
            }
        }
    }
}
