//! The gateway's aggregation features, driven by the official MCP SDK clients (Python `mcp` in
//! legacy mode, TypeScript `@modelcontextprotocol/sdk`) against a profile whose one server is
//! `library`, installed as `lib`: a call's progress reaches the client's callback and the
//! client's cancellation reaches the backend; the backend's elicitation and sampling requests
//! reach the client's handlers, whose answers go back into the tool result; a subscribed
//! resource's `notifications/resources/updated` arrives under its `gigmcp://lib/...` name; a tool
//! the backend adds at run time is announced with `notifications/tools/list_changed` and listed.
//! The scripts (tests/clients/*_features.*) print what happened as JSON; this file asserts.

mod common;

use common::TestGateway;
use serde_json::Value;
use std::path::Path;
use tokio::process::Command;

const README: &str = "gigmcp://lib/doc://readme";

async fn run(cmd: &mut Command) -> Value {
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("the SDK client finished within 120 s")
        .expect("the SDK client ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn clients_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

async fn library_gateway() -> (TestGateway, common::TestProfile) {
    let gw = TestGateway::start().await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("books", &["lib"]).await;
    (gw, p)
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect()
}

/// What both clients must have seen: the backend's first progress, exactly one cancellation
/// at the backend, elicitation and sampling answered by the client, a tool list before and
/// after `lib_grow`.
fn assert_common(v: &Value, cancel_reason: &str) {
    assert!(v.get("slow_returned").is_none(), "lib_slow answered: {v}");
    let first = &v["progress"][0];
    // (Python reports numbers as floats)
    assert_eq!(first["progress"].as_f64(), Some(1.0), "{v}");
    assert_eq!(first["total"].as_f64(), Some(10.0), "{v}");
    assert_eq!(first["message"], "step 1", "{v}");
    let seen = names(&v["cancelled_seen"]);
    assert_eq!(seen.len(), 1, "one cancellation reached the backend: {v}");
    assert!(
        seen[0].ends_with(&format!(": {cancel_reason}")),
        "the client's reason reached the backend: {v}"
    );

    let answer: Value = serde_json::from_str(
        v["ask"]
            .as_str()
            .and_then(|a| a.strip_prefix("answer: "))
            .unwrap_or_else(|| panic!("{v}")),
    )
    .unwrap();
    assert_eq!(answer["action"], "accept", "{v}");
    assert_eq!(answer["content"]["name"], "Ana", "{v}");
    assert_eq!(v["sample"], "sampled: 4", "{v}");
    assert_eq!(v["asked"]["elicitation"], "What is your name?", "{v}");
    assert_eq!(v["asked"]["sampling"], "What is 2+2?", "{v}");

    assert_eq!(v["touch"], "touched", "{v}");
    assert!(v["touches"].as_u64().unwrap() <= 3, "{v}");

    let before = names(&v["tools_before"]);
    for tool in [
        "lib_slow",
        "lib_cancelled",
        "lib_ask",
        "lib_sample",
        "lib_grow",
    ] {
        assert!(before.contains(&tool), "{tool} missing: {v}");
    }
    assert!(!before.contains(&"lib_grown"), "{v}");
    assert_eq!(v["grow"], "grew", "{v}");
    assert_eq!(v["grown"], "grown", "lib_grown listed and callable: {v}");
}

#[tokio::test]
async fn python_sdk_client_progress_cancel_elicit_sample_subscribe_and_list_changed() {
    let (gw, p) = library_gateway().await;
    let v = run(Command::new(gigmcp_testkit::python())
        .arg(clients_dir().join("python_features.py"))
        .args([&gw.url("books"), &p.token]))
    .await;
    assert_eq!(v["protocol"], "2025-11-25", "{v}");
    // the client's own cancel scope ended the call, not the safety timeout
    assert_eq!(v["slow_cancelled"], true, "{v}");
    assert_eq!(v["slow_timed_out"], false, "{v}");
    assert_common(&v, "caller cancelled");

    assert_eq!(v["resources"], serde_json::json!([README]), "{v}");
    assert_eq!(v["read"]["uri"], README, "{v}");
    assert!(
        v["read"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("readme of ")),
        "{v}"
    );
    let notes = v["notifications"].as_array().unwrap();
    let updated: Vec<&Value> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/resources/updated")
        .collect();
    assert!(!updated.is_empty(), "no resources/updated: {v}");
    assert!(updated.iter().all(|n| n["params"]["uri"] == README), "{v}");
    assert!(
        notes.iter().any(|n| n["method"] == "notifications/message"
            && n["params"]["logger"] == "lib/books"),
        "the backend's log message, named after its server: {v}"
    );
    assert!(
        notes.iter().all(|n| n.get("exception").is_none()),
        "transport errors: {v}"
    );

    assert_eq!(v["tools_changed"], true, "no tools/list_changed: {v}");
    assert!(names(&v["tools_after"]).contains(&"lib_grown"), "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn typescript_sdk_client_progress_abort_elicit_sample_subscribe_and_list_changed() {
    let (gw, p) = library_gateway().await;
    // Node resolves packages next to the script, so run a copy inside the npm project.
    let project = gigmcp_testkit::node_project();
    let script = project.join("gigmcp_ts_features.mjs");
    std::fs::copy(clients_dir().join("ts_features.mjs"), &script).unwrap();
    let v = run(Command::new("node")
        .arg(&script)
        .args([&gw.url("books"), &p.token]))
    .await;
    assert_eq!(v["protocol"], "2025-11-25", "{v}");
    assert_eq!(v["slow_aborted"], true, "{v}");
    assert!(
        v["slow_error"]
            .as_str()
            .is_some_and(|e| e.contains("user gave up")),
        "the call ended by the abort: {v}"
    );
    assert_common(&v, "user gave up");
    assert_eq!(v["updated"]["uri"], README, "{v}");
    let listed = names(&v["tools_changed"]["tools"]);
    assert!(listed.contains(&"lib_grown"), "{v}");
    gw.stop().await;
}
