//! The official MCP SDK clients (Python `mcp` in auto, legacy and 2026-07-28 modes, TypeScript
//! `@modelcontextprotocol/sdk`) talk to a profile endpoint: list `echo_echo`, call it, get
//! `echo: hello`.

mod common;

use common::TestGateway;
use common::sdk::{clients_dir, run_client};
use serde_json::Value;
use tokio::process::Command;

async fn echo_gateway() -> (TestGateway, common::TestProfile) {
    let gw = TestGateway::start().await;
    gw.add_server("echo", "echo").await;
    let p = gw.add_profile("dev", &["echo"]).await;
    (gw, p)
}

fn assert_echoed(v: &Value) {
    assert_eq!(v["tools"], serde_json::json!(["echo_echo"]), "{v}");
    assert_eq!(v["text"], "echo: hello", "{v}");
}

#[tokio::test]
async fn python_sdk_client_in_auto_legacy_and_stateless_mode() {
    let (gw, p) = echo_gateway().await;
    for mode in ["auto", "legacy", "2026-07-28"] {
        let v = run_client(
            Command::new(gigmcp_testkit::python())
                .arg(clients_dir().join("python_client.py"))
                .args([&gw.url("dev"), &p.token, mode]),
        )
        .await;
        assert_echoed(&v);
        // auto discovers the stateless revision and keeps it
        let expected = if mode == "legacy" {
            "2025-11-25"
        } else {
            "2026-07-28"
        };
        assert_eq!(v["protocol"], expected, "{mode}: {v}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn typescript_sdk_client() {
    let (gw, p) = echo_gateway().await;
    // Node resolves packages next to the script, so run a copy inside the npm project.
    let project = gigmcp_testkit::node_project();
    let script = project.join("gigmcp_ts_client.mjs");
    std::fs::copy(clients_dir().join("ts_client.mjs"), &script).unwrap();
    let v = run_client(
        Command::new("node")
            .arg(&script)
            .args([&gw.url("dev"), &p.token]),
    )
    .await;
    assert_echoed(&v);
    gw.stop().await;
}
