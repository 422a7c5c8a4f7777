//! Toolpack servers end to end, as root with real sandboxes: the official Python SDK client →
//! the gateway → a bubblewrap sandbox running the toolpack engine (`gigmcp-toolpack`) → the
//! egress proxy → a local HTTPS API with its own CA, standing in for every vendor's host.
//!
//! Registry corpus toolspecs, each for what it exercises: zendesk (a host override: the
//! credential reaches the owner's `acme.zendesk.com` only), shopify (a custom auth header),
//! freshdesk (Basic from user + password), serpapi (entrusted, key in the query), box (two
//! hosts, a form upload), linear (GraphQL), hackernews (no credential), google-analytics (a
//! reserved path value, `properties/1234`), dropbox (a JSON header), and a small toolspec with
//! an install variable. For each call: the client gets the API's answer, the API saw the right
//! method, host, path, headers and body with the owner's REAL secret, and no placeholder ever
//! left a sandbox. Then: an owner without an override (the placeholder tenant host gets no
//! credential), an override that no longer passes (the start is refused, naming the fix), an
//! owner without a stored secret (the call fails closed, naming the fix).
//!
//! Two toolspecs are test-data copies, not the corpus files (`tests/data/toolpack/`): serpapi's
//! gains `auth.query: api_key` (the corpus file has only an `X-Api-Key` header, which SerpApi
//! ignores) and google-analytics' gains `allowReserved: true` on its `property` path params
//! (without it `properties/1234` goes out as `properties%2F1234`).
//!
//! Then an image-based toolpack server: packed as `registryctl pack --toolpack` packs it, installed as
//! `gigmcp server add-image` does (the oci: reference, the manifest, the toolspec the image
//! bakes), answering a call.

mod common;

use base64::Engine as _;
use common::recorder::{Recorder, toolpack_gateway};
use common::sdk::{clients_dir, run_client};
use common::{RawClient, TestGateway};
use gigmcp_gateway::launch::toolpack::check_host_override;
use gigmcp_registry::{Denylist, Manifest, Severity, Toolspec, lint_manifest, lint_toolspec};
use gigmcp_store::{NewServer, ServerId, ServerSource, SettingKey, UserId};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// `<repo>/../shared/corpus/gigmcp-registry/manifests`, or `$GIGMCP_CORPUS_DIR/manifests`.
fn corpus() -> PathBuf {
    let root = std::env::var_os("GIGMCP_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry")
        });
    let dir = root.join("manifests");
    assert!(
        dir.is_dir(),
        "{} is missing: is the registry corpus beside the repo (or GIGMCP_CORPUS_DIR set)?",
        dir.display()
    );
    dir
}

fn test_data(file: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/toolpack")
            .join(file),
    )
    .unwrap()
}

/// The corpus manifest of `name` and its toolspec (or the test-data copy `spec`).
fn documents(name: &str, spec: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let dir = corpus().join(name);
    let manifest = std::fs::read(dir.join("0.1.0.yaml")).unwrap();
    let toolspec = match spec {
        Some(file) => test_data(file),
        None => std::fs::read(dir.join("0.1.0.toolspec.yaml")).unwrap(),
    };
    (manifest, toolspec)
}

/// Both documents linted as `gigmcp server add --toolpack` does.
fn linted(manifest: &[u8], toolspec: &[u8]) -> (Manifest, Toolspec) {
    let m = Manifest::from_yaml(manifest).unwrap();
    let base = format!("manifests/{}/{}", m.name, m.version);
    let (m, d) = lint_manifest(&format!("{base}.yaml"), manifest, &Denylist::builtin());
    let errors = |d: &[gigmcp_registry::Diagnostic]| {
        d.iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    };
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    let m = m.unwrap();
    let (s, d) = lint_toolspec(&format!("{base}.toolspec.yaml"), toolspec, Some(&m));
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    (m, s.unwrap())
}

/// Records the manifest (consented) and the toolspec of `server`, as the CLI does.
async fn record(gw: &TestGateway, server: ServerId, m: &Manifest, s: &Toolspec) {
    let hash = m.runtime_hash();
    gw.store
        .set_server_manifest(server, &serde_json::to_string(m).unwrap(), &hash)
        .await
        .unwrap();
    gw.store
        .set_server_consent(server, Some(&hash))
        .await
        .unwrap();
    gw.store
        .set_server_toolspec(server, &serde_json::to_string(s).unwrap())
        .await
        .unwrap();
}

/// Installs a built-in toolpack server, as `gigmcp server add NAME --toolpack` does.
async fn install(gw: &TestGateway, name: &str, manifest: &[u8], toolspec: &[u8]) -> ServerId {
    let (m, s) = linted(manifest, toolspec);
    let server = gw
        .store
        .create_server(NewServer {
            name: name.parse().unwrap(),
            source: ServerSource::Toolpack,
        })
        .await
        .unwrap();
    record(gw, server.id, &m, &s).await;
    server.id
}

/// A host override, checked as `gigmcp server set-host` checks it.
async fn set_host(gw: &TestGateway, server: ServerId, owner: UserId, from: &str, to: &str) {
    let row = gw.store.server(server).await.unwrap().unwrap();
    let m: Manifest = serde_json::from_str(row.manifest.as_deref().unwrap()).unwrap();
    let s: Toolspec = serde_json::from_str(row.toolspec.as_deref().unwrap()).unwrap();
    let (from, to) = check_host_override(&row.name, &m, &s, from, to).unwrap();
    gw.store
        .set_install_setting(server, owner, &SettingKey::Host(from), &to)
        .await
        .unwrap();
}

async fn secret(gw: &TestGateway, owner: UserId, server: ServerId, id: &str, value: &str) {
    gigmcp_vault::put_secret(&gw.store, &gw.keyring, owner, server, id, value.as_bytes())
        .await
        .unwrap();
}

/// A toolpack of our own with an install variable sent as a header.
const ACCT_MANIFEST: &str = r#"
schemaVersion: 1
name: acct
version: 0.1.0
source: {repo: github.com/gigmcp/toolpack, tag: v0.1.0}
image: {ref: ghcr.io/gigmcp/acct-mcp, digest: "sha256:abababababababababababababababababababababababababababababababab", entrypoint: /app/server, builder: toolpack}
tier: sealed
displayName: Acct
category: testing
entitlements:
  egress: [api.acct.example.com]
tools:
  - {name: whoami, default: true}
"#;
const ACCT_TOOLSPEC: &str = r#"
schemaVersion: 1
name: acct
version: 0.1.0
baseUrl: https://api.acct.example.com
tools:
  - name: whoami
    description: Who the account is
    method: GET
    path: /v1/me
    params:
      - {name: Account-Id, in: header, type: string, required: true, from: install.account_id}
"#;

const HOSTS: &[&str] = &[
    "acme.zendesk.com",
    "yoursubdomain.zendesk.com",
    "acme.myshopify.com",
    "acme.freshdesk.com",
    "serpapi.com",
    "api.box.com",
    "upload.box.com",
    "api.linear.app",
    "hacker-news.firebaseio.com",
    "analyticsdata.googleapis.com",
    "api.dropboxapi.com",
    "content.dropboxapi.com",
    "api.acct.example.com",
];

/// The calls the Python client makes, in order.
fn calls() -> Value {
    json!([
        {"name": "zendesk_get_ticket", "arguments": {"id": 42}},
        {"name": "shopify_get_order", "arguments": {"order_id": 1001}},
        {"name": "freshdesk_get_ticket", "arguments": {"id": 7}},
        {"name": "serpapi_search", "arguments": {"engine": "google", "q": "gig mcp"}},
        {"name": "box_get_current_user", "arguments": {}},
        {"name": "box_upload_file", "arguments": {
            "attributes": {"name": "a.txt", "parent": {"id": "0"}}, "file": "hello box"}},
        {"name": "linear_list_issues", "arguments": {
            "query": "{ issues(first: 5) { nodes { id title } } }", "variables": {"first": 5}}},
        {"name": "hackernews_get_item", "arguments": {"id": 8863}},
        {"name": "google-analytics_run_report", "arguments": {
            "property": "properties/1234", "metrics": [{"name": "activeUsers"}]}},
        {"name": "dropbox_download_file", "arguments": {"Dropbox-API-Arg": "{\"path\":\"/Ünï.txt\"}"}},
        {"name": "acct_whoami", "arguments": {}},
    ])
}

/// What the API answered for each call, in order (`seen` = method, host and path).
const SEEN: &[&str] = &[
    "GET acme.zendesk.com/api/v2/tickets/42",
    "GET acme.myshopify.com/admin/api/2026-01/orders/1001.json",
    "GET acme.freshdesk.com/api/v2/tickets/7",
    "GET serpapi.com/search",
    "GET api.box.com/2.0/users/me",
    "POST upload.box.com/api/2.0/files/content",
    "POST api.linear.app/graphql",
    "GET hacker-news.firebaseio.com/v0/item/8863.json",
    "POST analyticsdata.googleapis.com/v1beta/properties/1234:runReport",
    "POST content.dropboxapi.com/2/files/download",
    "GET api.acct.example.com/v1/me",
];

/// Installs every server for alice (profile `work`) and zendesk for bob (profile `bob`);
/// returns the servers and the two profiles' tokens.
async fn set_up(gw: &TestGateway) -> (Vec<(&'static str, ServerId)>, String, String) {
    let mut servers = Vec::new();
    for (name, spec) in [
        ("zendesk", None),
        ("shopify", None),
        ("freshdesk", None),
        ("serpapi", Some("serpapi-0.1.0.toolspec.yaml")),
        ("box", None),
        ("linear", None),
        ("hackernews", None),
        (
            "google-analytics",
            Some("google-analytics-0.1.0.toolspec.yaml"),
        ),
        ("dropbox", None),
    ] {
        let (m, s) = documents(name, spec);
        servers.push((name, install(gw, name, &m, &s).await));
    }
    servers.push((
        "acct",
        install(
            gw,
            "acct",
            ACCT_MANIFEST.as_bytes(),
            ACCT_TOOLSPEC.as_bytes(),
        )
        .await,
    ));
    let names: Vec<&str> = servers.iter().map(|(n, _)| *n).collect();
    let alice = gw.add_profile_of("alice", "work", &names).await;
    let bob = gw.add_profile_of("bob", "bob", &["zendesk"]).await;
    (servers, alice.token, bob.token)
}

fn id(servers: &[(&str, ServerId)], name: &str) -> ServerId {
    servers.iter().find(|(n, _)| *n == name).unwrap().1
}

/// Alice's overrides, install variable and secrets (and the box upload tool, off by default,
/// enabled); bob's key, no override.
async fn configure(gw: &TestGateway, servers: &[(&str, ServerId)]) {
    let alice = gw
        .store
        .user_by_username("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let bob = gw.store.user_by_username("bob").await.unwrap().unwrap().id;
    let s = |name| id(servers, name);
    set_host(
        gw,
        s("zendesk"),
        alice,
        "yoursubdomain.zendesk.com",
        "acme.zendesk.com",
    )
    .await;
    set_host(
        gw,
        s("shopify"),
        alice,
        "yourstore.myshopify.com",
        "acme.myshopify.com",
    )
    .await;
    set_host(
        gw,
        s("freshdesk"),
        alice,
        "yourcompany.freshdesk.com",
        "acme.freshdesk.com",
    )
    .await;
    gw.store
        .set_install_setting(
            s("acct"),
            alice,
            &SettingKey::Var("account_id".into()),
            "acct-42",
        )
        .await
        .unwrap();
    for (server, credential, value) in [
        ("zendesk", "zendesk_token", "ZD-ALICE-SECRET"),
        ("shopify", "shopify_token", "SHOP-ALICE-SECRET"),
        ("freshdesk", "freshdesk_api_key", "FRESH-ALICE-KEY:X"),
        ("serpapi", "serpapi_api_key", "SERP-ALICE-SECRET"),
        ("box", "box_token", "BOX-ALICE-SECRET"),
        ("linear", "linear_token", "LIN-ALICE-SECRET"),
        (
            "google-analytics",
            "google-analytics_token",
            "GA-ALICE-SECRET",
        ),
        ("dropbox", "dropbox_token", "DBX-ALICE-SECRET"),
    ] {
        secret(gw, alice, s(server), credential, value).await;
    }
    secret(gw, bob, s("zendesk"), "zendesk_token", "ZD-BOB-SECRET").await;
    let work = gw.store.profile_by_slug("work").await.unwrap().unwrap();
    gw.store
        .set_tool_enabled(work.id, s("box"), "upload_file", true)
        .await
        .unwrap();
}

/// What the API must have seen for each call.
fn check_requests(api: &Recorder) {
    let bearer = |r: &common::recorder::Recorded, key: &str| {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {key}").as_str()),
            "{r:?}"
        );
    };
    let r = api.one("acme.zendesk.com", "/api/v2/tickets/42");
    assert_eq!(r.method, "GET");
    bearer(&r, "ZD-ALICE-SECRET");

    let r = api.one("acme.myshopify.com", "/admin/api/2026-01/orders/1001.json");
    assert_eq!(
        r.header("x-shopify-access-token"),
        Some("SHOP-ALICE-SECRET"),
        "{r:?}"
    );
    assert_eq!(r.header("authorization"), None);

    let r = api.one("acme.freshdesk.com", "/api/v2/tickets/7");
    let basic = base64::engine::general_purpose::STANDARD.encode("FRESH-ALICE-KEY:X");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Basic {basic}").as_str()),
        "{r:?}"
    );

    let r = api.one("serpapi.com", "/search");
    let query: Vec<&str> = r.query().split('&').collect();
    assert_eq!(
        query,
        ["engine=google", "q=gig%20mcp", "api_key=SERP-ALICE-SECRET"],
        "{r:?}"
    );
    assert_eq!(
        r.header("x-api-key"),
        None,
        "the key goes in the query only"
    );

    bearer(&api.one("api.box.com", "/2.0/users/me"), "BOX-ALICE-SECRET");
    let r = api.one("upload.box.com", "/api/2.0/files/content");
    assert_eq!(r.method, "POST");
    bearer(&r, "BOX-ALICE-SECRET");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = form_pairs(&r.body);
    assert_eq!(
        form,
        [
            (
                "attributes".into(),
                r#"{"name":"a.txt","parent":{"id":"0"}}"#.into()
            ),
            ("file".into(), "hello box".into()),
        ]
    );

    let r = api.one("api.linear.app", "/graphql");
    bearer(&r, "LIN-ALICE-SECRET");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"query": "{ issues(first: 5) { nodes { id title } } }", "variables": {"first": 5}})
    );

    let r = api.one("hacker-news.firebaseio.com", "/v0/item/8863.json");
    assert_eq!(
        (r.method.as_str(), r.header("authorization")),
        ("GET", None)
    );

    let r = api.one(
        "analyticsdata.googleapis.com",
        "/v1beta/properties/1234:runReport",
    );
    bearer(&r, "GA-ALICE-SECRET");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, json!({"metrics": [{"name": "activeUsers"}]}));

    let r = api.one("content.dropboxapi.com", "/2/files/download");
    bearer(&r, "DBX-ALICE-SECRET");
    assert_eq!(
        r.header("dropbox-api-arg"),
        Some(r#"{"path":"/\u00dcn\u00ef.txt"}"#)
    );

    let r = api.one("api.acct.example.com", "/v1/me");
    assert_eq!(r.header("account-id"), Some("acct-42"), "{r:?}");
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The zendesk engine of alice's profile: its environment has the override, the timeout and
/// the file paths, and a placeholder, never the secret.
fn check_zendesk_environment() {
    let mut found = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name();
        let Ok(environ) = std::fs::read(Path::new("/proc").join(&pid).join("environ")) else {
            continue;
        };
        let env = String::from_utf8_lossy(&environ);
        let vars: Vec<&str> = env.split('\0').collect();
        if !vars.contains(&"GIG_TOOLPACK_HOSTS=yoursubdomain.zendesk.com=acme.zendesk.com") {
            continue;
        }
        for expected in [
            "GIG_TOOLPACK_MANIFEST=/etc/gigmcp/manifest.yaml",
            "GIG_TOOLPACK_SPEC=/etc/gigmcp/toolspec.yaml",
            "GIG_TOOLPACK_TIMEOUT=55",
            "SSL_CERT_FILE=/etc/gigmcp/egress-ca.pem",
        ] {
            assert!(vars.contains(&expected), "{expected}: {vars:?}");
        }
        assert!(
            vars.iter()
                .any(|v| v.starts_with("GIG_CREDENTIAL_ZENDESK_TOKEN=gigmcp-placeholder-")),
            "{vars:?}"
        );
        assert!(!env.contains("ZD-ALICE-SECRET"), "{vars:?}");
        found += 1;
    }
    assert_eq!(found, 1, "alice's zendesk sandbox is running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_toolpacks_answer_through_sandbox_proxy_and_mock_api_with_the_real_secrets() {
    let (gw, api) = toolpack_gateway(Ipv4Addr::new(127, 0, 0, 61), HOSTS).await;
    let (servers, token, bob) = set_up(&gw).await;
    configure(&gw, &servers).await;
    let calls_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(calls_file.path(), calls().to_string()).unwrap();
    let out = run_client(
        Command::new(gigmcp_testkit::python())
            .arg(clients_dir().join("python_toolpack.py"))
            .arg(gw.url("work"))
            .arg(&token)
            .arg(calls_file.path()),
    )
    .await;
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"zendesk_get_ticket") && tools.contains(&"box_upload_file"),
        "{tools:?}"
    );
    assert!(!tools.contains(&"zendesk_create_ticket"), "off by default");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), SEEN.len(), "{out}");
    for (result, seen) in results.iter().zip(SEEN) {
        assert_eq!(result["isError"], false, "{result}");
        assert_eq!(
            result["structured"],
            json!({"ok": true, "seen": seen}),
            "the API's answer reaches the client: {result}"
        );
    }
    check_requests(&api);
    check_zendesk_environment();

    // bob has no override: his engine calls the placeholder host, and the proxy withholds his
    // key there (the credential goes to override targets and exact hosts only)
    let mut b = RawClient::new(gw.url("bob"), &bob);
    b.initialize().await;
    let answer = b
        .call(
            2,
            "tools/call",
            json!({"name": "zendesk_get_ticket", "arguments": {"id": 7}}),
        )
        .await;
    assert_eq!(
        answer["result"]["structuredContent"]["seen"],
        "GET yoursubdomain.zendesk.com/api/v2/tickets/7",
        "{answer}"
    );
    let r = api.one("yoursubdomain.zendesk.com", "/api/v2/tickets/7");
    assert_eq!(
        r.header("authorization"),
        None,
        "withheld outside the scope: {r:?}"
    );

    // an override that no longer passes (stored behind the CLI's back, or the server was
    // reinstalled with a narrower egress) stops the start, and the error says how to fix it
    let dave = gw.add_profile_of("dave", "dave", &["zendesk"]).await;
    let dave_id = gw.store.user_by_username("dave").await.unwrap().unwrap().id;
    gw.store
        .set_install_setting(
            id(&servers, "zendesk"),
            dave_id,
            &SettingKey::Host("yoursubdomain.zendesk.com".into()),
            "evil.example.com",
        )
        .await
        .unwrap();
    let mut d = RawClient::new(gw.url("dave"), &dave.token);
    d.initialize().await;
    let answer = d
        .call(
            2,
            "tools/call",
            json!({"name": "zendesk_get_ticket", "arguments": {"id": 1}}),
        )
        .await;
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no longer valid")
            && message.contains("not allowed by zendesk's egress policy")
            && message.contains(
                "gigmcp server set-host zendesk yoursubdomain.zendesk.com=<host> --profile dave"
            ),
        "{answer}"
    );

    // an owner who stored no secret: the call fails closed, and says so
    let erin = gw.add_profile_of("erin", "erin", &["linear"]).await;
    let mut e = RawClient::new(gw.url("erin"), &erin.token);
    e.initialize().await;
    let answer = e
        .call(
            2,
            "tools/call",
            json!({"name": "linear_list_teams", "arguments": {"query": "{ teams { nodes { id } } }"}}),
        )
        .await;
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        answer["result"]["isError"] == true
            && text.contains(
                "store it with `gigmcp credential set linear --profile erin --name linear_token`"
            ),
        "{answer}"
    );

    // no placeholder ever left a sandbox, and each secret went only to its own hosts
    for r in api.received() {
        let raw = String::from_utf8_lossy(&r.raw);
        assert!(!raw.contains("gigmcp-placeholder-"), "{raw}");
        assert!(!raw.contains("ZD-BOB-SECRET"), "{raw}");
        if raw.contains("ZD-ALICE-SECRET") {
            assert_eq!(r.host, "acme.zendesk.com");
        }
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_packed_by_registryctl_serves_its_baked_toolspec() {
    let (gw, api) = toolpack_gateway(Ipv4Addr::new(127, 0, 0, 62), &["api.linear.app"]).await;
    let work = tempfile::tempdir().unwrap();
    let dir = corpus().join("linear");
    let (manifest, toolspec) = (dir.join("0.1.0.yaml"), dir.join("0.1.0.toolspec.yaml"));
    let engine = gigmcp_testkit::static_bin("gigmcp-toolpack", "gigmcp-toolpack");
    // the image `registryctl pack --toolpack` makes (that command is tested in registryctl's
    // own tests: same layer, same digest; here it is built with the same library call, without
    // a second static build of registryctl)
    let layout = work.path().join("layout");
    let layer = gigmcp_oci::pack::toolpack_layer(
        &std::fs::read(&engine).unwrap(),
        &std::fs::read(&manifest).unwrap(),
        &std::fs::read(&toolspec).unwrap(),
    )
    .unwrap();
    let packed = gigmcp_oci::pack::run_layer(
        &gigmcp_oci::pack::layout_args(&layout, "v1"),
        layer,
        vec![gigmcp_oci::pack::TOOLPACK_ENTRYPOINT.to_owned()],
    )
    .await
    .unwrap();
    let digest = packed.digest.to_string();
    let reference = format!("oci:{}@{digest}", layout.display());

    // what `gigmcp server add-image linear-image REF --manifest M` records: the image, the
    // manifest, and the toolspec the image bakes
    let (m, s) = linted(
        &std::fs::read(&manifest).unwrap(),
        &std::fs::read(&toolspec).unwrap(),
    );
    let server = gw
        .store
        .create_server(NewServer {
            name: "linear-image".parse().unwrap(),
            source: ServerSource::Image { reference },
        })
        .await
        .unwrap();
    record(&gw, server.id, &m, &s).await;
    let p = gw.add_profile_of("carol", "carol", &["linear-image"]).await;
    let carol = gw
        .store
        .user_by_username("carol")
        .await
        .unwrap()
        .unwrap()
        .id;
    secret(&gw, carol, server.id, "linear_token", "LIN-CAROL-SECRET").await;

    let mut c = RawClient::new(gw.url("carol"), &p.token);
    c.initialize().await;
    let answer = c
        .call(
            2,
            "tools/call",
            json!({"name": "linear-image_list_teams", "arguments": {"query": "{ teams { nodes { id } } }"}}),
        )
        .await;
    assert_eq!(
        answer["result"]["structuredContent"],
        json!({"ok": true, "seen": "POST api.linear.app/graphql"}),
        "{answer}"
    );
    let r = api.one("api.linear.app", "/graphql");
    assert_eq!(r.header("authorization"), Some("Bearer LIN-CAROL-SECRET"));
    assert!(!String::from_utf8_lossy(&r.raw).contains("gigmcp-placeholder-"));
    gw.stop().await;
}
