//! Real third-party MCP servers nobody here wrote, packed by the test into OCI images, installed
//! by digest, verified and extracted by the gateway, and used through `/mcp/p/<slug>` in full
//! sandboxes: the reference `everything` server from npm (Node, handshake era), and a server
//! built on the official Python SDK (`mcp` 2.3.0), which speaks the stateless revision.

mod common;

use common::{RawClient, TestGateway};
use gigmcp_oci::pack::{LayerCompression, PackArgs};
use gigmcp_store::{NewServer, ServerSource};
use gigmcp_testkit::rootfs;
use serde_json::json;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Packs `root` into an OCI image layout at `layout`; returns the `oci:` reference by digest.
async fn pack(root: PathBuf, entrypoint: &[&str], layout: &Path) -> String {
    pack_with_env(root, entrypoint, &[], layout).await
}

/// [`pack`], the image's environment also setting `env`.
async fn pack_with_env(
    root: PathBuf,
    entrypoint: &[&str],
    env: &[(&str, &str)],
    layout: &Path,
) -> String {
    let mut image_env = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
    image_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let packed = gigmcp_oci::pack::run(&PackArgs {
        binary: None,
        dir: Some(root),
        entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
        cmd: Vec::new(),
        env: image_env,
        workdir: Some("/app".into()),
        layout: Some(layout.to_path_buf()),
        tag: Some("v1".into()),
        push: None,
        insecure: false,
        chunk_size: None,
        arch: gigmcp_oci::platform::goarch(std::env::consts::ARCH).to_owned(),
        compression: LayerCompression::Gzip,
    })
    .await
    .unwrap();
    format!("oci:{}@{}", layout.display(), packed.digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_everything_server_runs_from_an_oci_image_through_the_gateway() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rootfs");
    rootfs::node_everything(&root);
    let layout = work.path().join("layout");
    let reference = pack(root, &["node", rootfs::EVERYTHING_ENTRY, "stdio"], &layout).await;

    let gw = TestGateway::start().await;
    gw.store
        .create_server(NewServer {
            name: "everything".parse().unwrap(),
            source: ServerSource::Image { reference },
        })
        .await
        .unwrap();
    let p = gw.add_profile("dev", &["everything"]).await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    let list = c.call(2, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"everything_echo"), "{names:?}");
    let out = c
        .call(
            3,
            "tools/call",
            json!({"name": "everything_echo", "arguments": {"message": "through an image"}}),
        )
        .await;
    let text = out["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert!(text.contains("through an image"), "{text}");

    // a tampered digest is refused with a clear error, and nothing is started for it
    let bad = format!("oci:{}@sha256:{}", layout.display(), "0".repeat(64));
    gw.store
        .create_server(NewServer {
            name: "tampered".parse().unwrap(),
            source: ServerSource::Image { reference: bad },
        })
        .await
        .unwrap();
    let q = gw.add_profile("bad", &["tampered"]).await;
    let mut d = RawClient::new(gw.url("bad"), &q.token);
    d.initialize().await;
    let out = d
        .call(
            2,
            "tools/call",
            json!({"name": "tampered_echo", "arguments": {}}),
        )
        .await;
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("could not be started") && message.contains("pulling"),
        "{out}"
    );
    gw.stop().await;
}

/// A Node server with no dependencies whose one tool calls Node's built-in `fetch`, which
/// ignores HTTPS_PROXY: it resolves the name with the C library and connects straight to it,
/// sending the sealed placeholder it was given.
const NODE_FETCH: &str = r#"
const readline = require("node:readline");
const send = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
async function get(url) {
  try {
    const res = await fetch(url, {
      headers: { authorization: "Bearer " + process.env.GIG_CREDENTIAL_API_KEY },
    });
    return `${res.status} ${await res.text()}`;
  } catch (e) {
    return `failed: ${e.cause ? e.cause.code || e.cause.message : e.message}`;
  }
}
readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const msg = JSON.parse(line);
  if (msg.id === undefined) return;
  let result = {};
  if (msg.method === "initialize") {
    result = { protocolVersion: "2025-11-25", capabilities: { tools: {} },
               serverInfo: { name: "node-fetch", version: "0" } };
  } else if (msg.method === "tools/list") {
    result = { tools: [{ name: "get", inputSchema: { type: "object",
               properties: { url: { type: "string" } }, required: ["url"] } }] };
  } else if (msg.method === "tools/call") {
    result = { content: [{ type: "text", text: await get(msg.params.arguments.url) }] };
  }
  send({ jsonrpc: "2.0", id: msg.id, result });
});
"#;

const NODE_FETCH_MANIFEST: &str = r#"
schemaVersion: 1
name: node-fetch
version: 0.1.0
source: {repo: github.com/gigmcp/gigmcp, tag: v0.1.0}
image: {ref: ghcr.io/gigmcp/node-fetch, digest: "sha256:abababababababababababababababababababababababababababababababab", entrypoint: node}
tier: sealed
displayName: Node fetch
category: testing
entitlements:
  egress: [api.example.test]
credentials:
  - id: api_key
    type: api_key
    provider: example
    inject: {header: Authorization, format: "Bearer {token}"}
tools:
  - {name: get, default: true}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_server_using_node_fetch_reaches_allowed_hosts_with_the_owner_s_key() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rootfs");
    rootfs::node_script(&root, NODE_FETCH);
    let reference = pack(
        root,
        &["node", "/app/server.js"],
        &work.path().join("layout"),
    )
    .await;

    let upstream_ip = Ipv4Addr::new(127, 0, 0, 46);
    let gw = common::upstream::egress_gateway(upstream_ip, &[("DANAKEY", "dana")]).await;
    let server = gw
        .store
        .create_server(NewServer {
            name: "web".parse().unwrap(),
            source: ServerSource::Image { reference },
        })
        .await
        .unwrap();
    gw.set_manifest(server.id, NODE_FETCH_MANIFEST).await;
    let p = gw.add_profile_of("dana", "dana-dev", &["web"]).await;
    let owner = gw.store.user_by_username("dana").await.unwrap().unwrap();
    gigmcp_vault::put_secret(
        &gw.store,
        &gw.keyring,
        owner.id,
        server.id,
        "api_key",
        b"DANAKEY",
    )
    .await
    .unwrap();
    let mut c = RawClient::new(gw.url("dana-dev"), &p.token);
    c.initialize().await;
    let get = |id: i64, url: &'static str| {
        let c = &c;
        async move {
            let out = c
                .call(
                    id,
                    "tools/call",
                    json!({"name": "web_get", "arguments": {"url": url}}),
                )
                .await;
            out["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_else(|| panic!("{out}"))
                .to_string()
        }
    };
    assert_eq!(
        get(2, "https://api.example.test/v1/me").await,
        "200 hello dana"
    );
    // not allowlisted: the gateway's resolver says the name does not exist
    assert_eq!(
        get(3, "https://evil.example.test/").await,
        "failed: ENOTFOUND"
    );
    gw.stop().await;
}

/// A server on the official Python SDK: `MCPServer` over stdio answers `server/discover`, so the
/// gateway drives it in the stateless revision. `greet` asks the user's name the SDK's way for
/// that revision (a resolver returning `Elicit`: an `InputRequiredResult`, resumed when the
/// request comes again with the answer); `era` says which revision the request came in.
const PY_SDK_SERVER: &str = r#"
from typing import Annotated
from pydantic import BaseModel
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve

mcp = MCPServer("pysdk")

class Name(BaseModel):
    name: str

def ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)

@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b

@mcp.tool()
def greet(who: Annotated[Name, Resolve(ask_name)]) -> str:
    """Asks the user's name, then greets them."""
    return f"Hello, {who.name}!"

@mcp.tool()
def era(ctx: Context) -> str:
    """The protocol revision of this request."""
    return ctx.protocol_version or "unknown"

mcp.run()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_sdk_server_of_the_stateless_revision_serves_clients_of_both_eras() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rootfs");
    let site_packages = gigmcp_testkit::testenv_dir().join("venv/lib/python3.11/site-packages");
    assert!(
        site_packages.is_dir(),
        "{} is missing: run scripts/test-deps",
        site_packages.display()
    );
    rootfs::python_with_packages(&root, PY_SDK_SERVER, &site_packages);
    let layout = work.path().join("layout");
    let reference = pack_with_env(
        root,
        &["/usr/bin/python3.11", "/app/server.py"],
        &[("PYTHONPATH", "/app/site-packages")],
        &layout,
    )
    .await;
    let gw = TestGateway::start().await;
    gw.store
        .create_server(NewServer {
            name: "py".parse().unwrap(),
            source: ServerSource::Image { reference },
        })
        .await
        .unwrap();
    let p = gw.add_profile("py", &["py"]).await;
    for mode in ["legacy", "2026-07-28", "auto"] {
        let v = common::sdk::run_client(
            tokio::process::Command::new(gigmcp_testkit::python())
                .arg(common::sdk::clients_dir().join("python_greet.py"))
                .args([&gw.url("py"), &p.token, mode]),
        )
        .await;
        let client_era = if mode == "legacy" {
            "2025-11-25"
        } else {
            "2026-07-28"
        };
        assert_eq!(v["protocol"], client_era, "{mode}: {v}");
        assert_eq!(
            v["tools"],
            json!(["py_add", "py_era", "py_greet"]),
            "{mode}: {v}"
        );
        assert_eq!(v["sum"], json!({"result": 5}), "{mode}: {v}");
        // the server's InputRequiredResult reached the client (as a request on its session, or
        // in its own InputRequiredResult), and its answer came back to the server
        assert_eq!(v["asked"], json!(["What is your name?"]), "{mode}: {v}");
        assert_eq!(v["greeting"], "Hello, Ada!", "{mode}: {v}");
        // whatever the client speaks, the gateway spoke the stateless revision to the server
        assert_eq!(v["era"], "2026-07-28", "{mode}: {v}");
    }
    gw.stop().await;
}
