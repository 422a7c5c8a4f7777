//! Shared by the gateway's bench binaries.
#![allow(dead_code)] // each bench uses a different part

use gigmcp_gateway::config::RawConfig;
use gigmcp_gateway::{Gateway, GatewayConfig, router, token};
use gigmcp_store::{NewProfile, NewServer, Role, ServerId, ServerSource, Store, StoreUrl, UserId};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// A gateway on its defaults (SQLite in a temporary data dir, the full sandbox runtime, no
/// sandbox networking: the bench servers have no manifest), served on a loopback port in this
/// process.
pub struct BenchGateway {
    pub gateway: Gateway,
    pub store: Store,
    pub addr: SocketAddr,
    pub owner: UserId,
    _dir: tempfile::TempDir,
}

impl BenchGateway {
    pub async fn start() -> Self {
        let bootstrap = gigmcp_testkit::static_bin("gigmcp-bootstrap", "gigmcp-bootstrap");
        let dir = tempfile::tempdir().unwrap();
        let mut raw = RawConfig::defaults();
        raw.data_dir = dir.path().display().to_string();
        raw.bootstrap = Some(bootstrap.display().to_string());
        raw.sandbox_network = false;
        let config = GatewayConfig::from_raw(raw).unwrap();
        let store = Store::connect(&StoreUrl::sqlite_in(dir.path()))
            .await
            .unwrap();
        let owner = store.ensure_user("admin", Role::Admin).await.unwrap().id;
        let keyring =
            gigmcp_vault::Keyring::new(gigmcp_vault::MasterKey::generate().unwrap(), Vec::new());
        let gateway = Gateway::start(config, store.clone(), std::sync::Arc::new(keyring))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            axum::serve(gigmcp_gateway::nodelay(listener), router(gateway.clone())).into_future(),
        );
        BenchGateway {
            gateway,
            store,
            addr,
            owner,
            _dir: dir,
        }
    }

    /// Installs the static test server at `path` as `name`.
    pub async fn install(&self, path: &std::path::Path, name: String) -> ServerId {
        self.store
            .create_server(NewServer {
                name: name.parse().expect("a valid server name"),
                source: ServerSource::LocalBinary {
                    path: path.display().to_string(),
                },
            })
            .await
            .unwrap()
            .id
    }

    /// Installs static test server `bin` `count` times, as `<prefix>01`, `<prefix>02`, ...
    pub async fn install_many(&self, bin: &str, prefix: &str, count: usize) -> Vec<ServerId> {
        let path = gigmcp_testkit::static_bin("gigmcp-test-servers", bin);
        let mut ids = Vec::with_capacity(count);
        for n in 1..=count {
            ids.push(self.install(&path, format!("{prefix}{n:02}")).await);
        }
        ids
    }

    /// A profile `slug` serving `servers`: its endpoint URL and token.
    pub async fn profile(&self, slug: &str, servers: &[ServerId]) -> (String, String) {
        let t = token::generate();
        let p = self
            .store
            .create_profile(NewProfile {
                slug: slug.parse().unwrap(),
                owner: self.owner,
                token_hash: t.hash,
            })
            .await
            .unwrap();
        for s in servers {
            self.store.add_profile_server(p.id, *s).await.unwrap();
        }
        (format!("http://{}/mcp/p/{slug}", self.addr), t.token)
    }
}

pub const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;

/// The JSON-RPC answer in a body that is JSON or an SSE stream (tool calls stream when the
/// client accepts it, as SDK clients do).
pub fn answer_of(body: &[u8]) -> &[u8] {
    if body.first() == Some(&b'{') {
        return body;
    }
    let text = std::str::from_utf8(body).unwrap();
    let last = text
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|d| d.starts_with('{'))
        .expect("an SSE message");
    &body[last.as_ptr() as usize - body.as_ptr() as usize..][..last.len()]
}

/// One client of the gateway's endpoint, in either protocol era.
pub struct Session {
    http: reqwest::Client,
    url: String,
    token: String,
    /// `None`: the stateless 2026-07-28 revision (no session).
    id: Option<String>,
    /// The `Accept` header: SDK clients accept both, so tool calls come back as SSE.
    pub accept: &'static str,
}

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

impl Session {
    pub async fn open(http: &reqwest::Client, url: &str, token: &str) -> Self {
        let r = http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(INIT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        r.bytes().await.unwrap();
        Session {
            http: http.clone(),
            url: url.into(),
            token: token.into(),
            id: Some(id),
            accept: ACCEPT_BOTH,
        }
    }

    pub fn stateless(http: &reqwest::Client, url: &str, token: &str) -> Self {
        Session {
            http: http.clone(),
            url: url.into(),
            token: token.into(),
            id: None,
            accept: ACCEPT_BOTH,
        }
    }

    /// Sends one request (given as a JSON-RPC body of the handshake era; for the stateless
    /// revision its `_meta` and routing headers are added) and returns the whole response
    /// body, unparsed.
    pub async fn raw(&self, body: String) -> Vec<u8> {
        let mut r = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", self.accept);
        let body = match &self.id {
            Some(id) => {
                r = r
                    .header("mcp-session-id", id)
                    .header("mcp-protocol-version", "2025-11-25");
                body
            }
            None => {
                let mut v: Value = serde_json::from_str(&body).unwrap();
                let method = v["method"].as_str().unwrap().to_string();
                r = r
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", &method);
                if let Some(name) = v["params"]["name"].as_str() {
                    r = r.header("mcp-name", name);
                }
                if v.get("params").is_none() {
                    v["params"] = json!({});
                }
                v["params"]["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {}
                });
                v.to_string()
            }
        };
        let r = r.body(body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap().to_vec()
    }

    pub async fn call(&self, body: String) -> Value {
        serde_json::from_slice(answer_of(&self.raw(body).await)).unwrap()
    }
}
