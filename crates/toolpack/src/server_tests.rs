//! The stdio server end to end on loopback: both eras, tools/list order, argument errors, and
//! calls through a stand-in proxy + upstream (credential per hop, redirects, egress refusals,
//! timeout, cancellation).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

use super::{Line, read_line, serve};
use crate::config::{BODY_CAP, CONNECT_TIMEOUT, Settings};
use crate::engine::Engine;
use crate::http::{Connector, HttpClient, tls_config};
use crate::testing::Fake;
use crate::toolpack::{Setup, Toolpack};

const MANIFEST: &str = r#"
schemaVersion: 1
name: demo
version: 0.1.0
source: {repo: github.com/gigmcp/toolpack, tag: v0.1.0}
image:
  ref: ghcr.io/gigmcp/demo-mcp
  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
  entrypoint: /app/server
  builder: toolpack
tier: sealed
displayName: Demo
category: testing
entitlements:
  egress: [api.example.com, other.example.com, denied.example.com, "*.example.net"]
credentials:
  - id: demo-token
    type: api_key
    provider: demo
    inject: {header: Authorization, format: "Bearer {token}"}
tools:
  - {name: get_item, default: true}
  - {name: create_item, default: true}
  - {name: tenant_ping, default: false}
"#;

const SPEC: &str = r#"
schemaVersion: 1
name: demo
version: 0.1.0
baseUrl: https://api.example.com/v1
tools:
  - name: get_item
    description: Get an item
    method: GET
    path: /items/{id}
    params:
      - {name: "zeta", in: query, type: string}
      - {name: id, in: path, type: string, required: true}
      - {name: "filter[q]", in: query, type: string}
      - {name: alpha, in: query, type: array}
  - name: create_item
    description: Create an item
    method: POST
    path: /items/ok
    params:
      - {name: name, in: body, type: string, required: true}
      - {name: X-Account, in: header, type: string, from: install.account, required: true}
      - {name: kind, in: body, type: string, const: widget}
  - name: tenant_ping
    description: Ping the tenant
    method: GET
    path: /landing
    baseUrl: https://tenant.example.net
"#;

struct Client {
    out: WriteHalf<DuplexStream>,
    lines: tokio::io::Lines<BufReader<ReadHalf<DuplexStream>>>,
}

impl Client {
    async fn send(&mut self, v: Value) {
        self.out
            .write_all(format!("{v}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("an answer within 20 s")
            .unwrap()
            .expect("the server is running");
        serde_json::from_str(&line).unwrap()
    }

    async fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let v = self.recv().await;
        assert_eq!(v["id"], id, "{v}");
        v
    }

    async fn call(&mut self, id: i64, tool: &str, args: Value) -> Value {
        self.request(id, "tools/call", json!({"name": tool, "arguments": args}))
            .await["result"]
            .clone()
    }
}

fn engine(fake: Option<&Fake>, vars: &[(&str, &str)], credential: bool) -> Engine {
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if let Some(f) = fake {
        all.push(("HTTPS_PROXY".into(), format!("http://{}", f.proxy)));
    }
    let settings = Settings::from_vars(all).unwrap();
    let env = move |k: &str| {
        (credential && k == "GIG_CREDENTIAL_DEMO_TOKEN").then(|| "ph-123".to_owned())
    };
    let pack = Toolpack::load(
        MANIFEST.as_bytes(),
        SPEC.as_bytes(),
        &Setup {
            host_overrides: &settings.host_overrides,
            env: &env,
        },
    )
    .unwrap();
    let tls = tls_config(fake.map(|f| f.ca_pem.as_bytes())).unwrap();
    let connector = Connector::new(settings.proxy.clone(), tls, CONNECT_TIMEOUT);
    let client = HttpClient::new(connector, pack.policy.clone(), BODY_CAP);
    Engine::new(pack, settings, client)
}

fn start(engine: Engine) -> Client {
    let (client_side, server_side) = tokio::io::duplex(1 << 20);
    let (sr, sw) = tokio::io::split(server_side);
    tokio::spawn(serve(Arc::new(engine), sr, sw));
    let (cr, cw) = tokio::io::split(client_side);
    Client {
        out: cw,
        lines: BufReader::new(cr).lines(),
    }
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn both_eras_and_the_tool_list() {
    let mut c = start(engine(None, &[], true));
    let init = c
        .request(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}}),
        )
        .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["capabilities"], json!({"tools": {}}));
    assert_eq!(init["result"]["serverInfo"]["name"], "demo");
    let old = c
        .request(2, "initialize", json!({"protocolVersion": "2024-01-01"}))
        .await;
    assert_eq!(
        old["result"]["protocolVersion"],
        gigmcp_mcp::version::LATEST_HANDSHAKE
    );
    let meta = json!({"_meta": {gigmcp_mcp::meta::PROTOCOL_VERSION: "2026-07-28"}});
    let d = c.request(3, "server/discover", meta.clone()).await;
    assert_eq!(d["result"]["supportedVersions"], json!(["2026-07-28"]));
    assert_eq!(d["result"]["resultType"], "complete");
    let list = c.request(4, "tools/list", meta).await;
    assert_eq!(list["result"]["resultType"], "complete");
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["get_item", "create_item", "tenant_ping"]);
    let props = tools[0]["inputSchema"]["properties"].as_object().unwrap();
    assert!(props.contains_key("filter_q") && props.contains_key("id"));
    assert_eq!(
        tools[1]["inputSchema"]["properties"],
        json!({"name": {"type": "string"}})
    );
    assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);
    // handshake-era tools/list: same list, no resultType
    let plain = c.request(5, "tools/list", json!({})).await;
    assert!(plain["result"].get("resultType").is_none());
    assert_eq!(c.request(6, "ping", json!({})).await["result"], json!({}));
    let unknown = c.request(7, "prompts/list", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601);
    let bad_rev = c
        .request(
            8,
            "tools/list",
            json!({"_meta": {gigmcp_mcp::meta::PROTOCOL_VERSION: "2099-01-01"}}),
        )
        .await;
    assert_eq!(bad_rev["error"]["code"], -32022);
    let no_tool = c.request(9, "tools/call", json!({"name": "nope"})).await;
    assert_eq!(no_tool["error"]["code"], -32602);
    c.out.write_all(b"{not json\n").await.unwrap();
    assert_eq!(c.recv().await["error"]["code"], -32700);
}

#[tokio::test]
async fn argument_and_setup_errors_are_tool_errors() {
    let mut c = start(engine(None, &[], false));
    let r = c.call(1, "get_item", json!({"id": 5, "extra": 1})).await;
    assert_eq!(r["isError"], true);
    assert!(
        text(&r).contains("`id`") && text(&r).contains("extra"),
        "{r}"
    );
    let r = c.call(2, "create_item", json!({"name": "n"})).await;
    assert!(text(&r).contains("install setting `account`"), "{r}");
    let r = c.call(3, "get_item", json!({"id": "1"})).await;
    assert!(text(&r).starts_with("credential not configured"), "{r}");
    // with a credential but no proxy
    let mut c = start(engine(None, &[], true));
    let r = c.call(4, "get_item", json!({"id": "1"})).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("HTTPS_PROXY"), "{r}");
}

#[tokio::test]
async fn calls_go_through_the_proxy_with_the_credential() {
    let fake = Fake::start().await;
    let vars = [
        ("GIG_TOOLPACK_VAR_ACCOUNT", "acc-9"),
        ("GIG_TOOLPACK_MAX_TEXT", "2048"),
    ];
    let mut c = start(engine(Some(&fake), &vars, true));
    let r = c
        .call(
            1,
            "get_item",
            json!({"id": "ok", "filter_q": "a b", "alpha": ["x", "y"]}),
        )
        .await;
    assert_eq!(r["structuredContent"], json!({"ok": true}), "{r}");
    assert_eq!(
        r["_meta"]["io.gigmcp/http"]["headers"]["x-request-id"],
        "rq-1"
    );
    let seen = fake.seen();
    assert_eq!(
        seen[0].target,
        "/v1/items/ok?filter[q]=a%20b&alpha=x&alpha=y"
    );
    assert_eq!(seen[0].header("authorization"), Some("Bearer ph-123"));
    assert!(seen[0].header("user-agent").unwrap().ends_with("(demo)"));
    let r = c.call(2, "create_item", json!({"name": "n"})).await;
    assert_eq!(r["structuredContent"], json!({"ok": true}), "{r}");
    let post = fake.seen().pop().unwrap();
    assert_eq!(post.method, "POST");
    assert_eq!(post.header("x-account"), Some("acc-9"));
    assert_eq!(
        serde_json::from_slice::<Value>(&post.body).unwrap(),
        json!({"name": "n", "kind": "widget"})
    );
    let r = c.call(3, "get_item", json!({"id": "png"})).await;
    assert_eq!(r["content"][0]["type"], "image");
    let r = c.call(5, "get_item", json!({"id": "big"})).await;
    let t = text(&r);
    assert!(t.len() < 3000, "{}", t.len());
    // 2048 falls inside a 3-byte character: 2046 bytes kept; the length is counted
    assert!(
        t.ends_with(&format!(
            "€\n[truncated: 2046 of {} bytes]",
            crate::testing::BIG_TEXT
        )),
        "{}",
        &t[t.len() - 60..]
    );
    let r = c.call(4, "get_item", json!({"id": "missing"})).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).starts_with("HTTP 404 Not Found"), "{r}");
}

#[tokio::test]
async fn redirects_keep_the_credential_on_its_host_only() {
    let fake = Fake::start().await;
    let mut c = start(engine(Some(&fake), &[], true));
    let r = c.call(1, "get_item", json!({"id": "same"})).await;
    assert_eq!(r["structuredContent"], json!({"ok": true}), "{r}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("authorization"), Some("Bearer ph-123"));
    let r = c.call(2, "get_item", json!({"id": "away"})).await;
    assert_eq!(text(&r), "landed", "{r}");
    let landed = fake.seen().pop().unwrap();
    assert_eq!(landed.host, "other.example.com");
    assert_eq!(landed.header("authorization"), None);
    let r = c.call(3, "get_item", json!({"id": "evil"})).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("egress denied: evil.example.org"), "{r}");
}

#[tokio::test]
async fn host_overrides_and_proxy_refusals() {
    let fake = Fake::start().await;
    let hosts = ("GIG_TOOLPACK_HOSTS", "tenant.example.net=acme.example.net");
    let mut c = start(engine(Some(&fake), &[hosts], true));
    let r = c.call(1, "tenant_ping", json!({})).await;
    assert_eq!(text(&r), "landed", "{r}");
    assert_eq!(fake.seen().pop().unwrap().host, "acme.example.net");
    let hosts = ("GIG_TOOLPACK_HOSTS", "api.example.com=denied.example.com");
    let mut c = start(engine(Some(&fake), &[hosts], true));
    let r = c.call(2, "get_item", json!({"id": "ok"})).await;
    assert_eq!(r["isError"], true);
    assert!(
        text(&r).starts_with("egress denied: denied.example.com"),
        "{r}"
    );
}

#[tokio::test]
async fn timeouts_and_cancellation_end_the_http_exchange() {
    let mut fake = Fake::start().await;
    let mut c = start(engine(Some(&fake), &[("GIG_TOOLPACK_TIMEOUT", "1")], true));
    let r = c.call(1, "get_item", json!({"id": "slow"})).await;
    assert!(text(&r).starts_with("timeout:"), "{r}");
    tokio::time::timeout(Duration::from_secs(5), fake.slow_dropped.recv())
        .await
        .expect("the timed-out exchange is dropped");

    let mut c = start(engine(Some(&fake), &[], true));
    c.send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                  "params": {"name": "get_item", "arguments": {"id": "slow"}}}))
        .await;
    while fake
        .seen()
        .iter()
        .filter(|s| s.target == "/v1/items/slow")
        .count()
        < 2
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": 7, "reason": "user"}}),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(5), fake.slow_dropped.recv())
        .await
        .expect("the cancelled exchange is dropped");
    // no answer for the cancelled call: the next line is the ping's
    assert_eq!(c.request(8, "ping", json!({})).await["result"], json!({}));
}

#[tokio::test]
async fn over_long_lines_are_skipped() {
    let input: &[u8] = b"0123456789abc\nshort\nlast-without-newline";
    let mut r = BufReader::with_capacity(4, input);
    let mut buf = Vec::new();
    assert!(matches!(
        read_line(&mut r, &mut buf, 8).await.unwrap(),
        Line::TooLong
    ));
    assert!(matches!(
        read_line(&mut r, &mut buf, 8).await.unwrap(),
        Line::Text
    ));
    assert_eq!(buf, b"short\n");
    assert!(matches!(
        read_line(&mut r, &mut buf, 64).await.unwrap(),
        Line::Text
    ));
    assert_eq!(buf, b"last-without-newline");
    assert!(matches!(
        read_line(&mut r, &mut buf, 64).await.unwrap(),
        Line::Eof
    ));
}
