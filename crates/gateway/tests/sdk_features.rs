//! The gateway's aggregation features, driven by the official MCP SDK clients (Python `mcp` in
//! legacy mode, in the stateless 2026-07-28 mode and in auto mode (which settles on
//! 2026-07-28), TypeScript `@modelcontextprotocol/sdk`)
//! against a profile whose one server is `library`, installed as `lib`: a call's progress
//! reaches the client's callback and the client's cancellation reaches the backend; the
//! backend's elicitation and sampling requests reach the client's handlers, whose answers go
//! back into the tool result; a subscribed resource's `notifications/resources/updated` arrives
//! under its `gigmcp://lib/...` name; a tool the backend adds at run time is announced with
//! `notifications/tools/list_changed` and listed.
//! The scripts (tests/clients/*_features*.*) print what happened as JSON; this file asserts.

mod common;

use common::TestGateway;
use common::sdk::{clients_dir, run_client};
use serde_json::Value;
use tokio::process::Command;

const README: &str = "gigmcp://lib/doc://readme";

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
    let v = run_client(
        Command::new(gigmcp_testkit::python())
            .arg(clients_dir().join("python_features.py"))
            .args([&gw.url("books"), &p.token]),
    )
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
    let v = run_client(
        Command::new("node")
            .arg(&script)
            .args([&gw.url("books"), &p.token]),
    )
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

/// The same features in the stateless 2026-07-28 revision (Python `mcp`, `mode="2026-07-28"`):
/// no session; the call's progress arrives on its own SSE stream and the client's cancellation
/// is closing that stream (so the backend hears the gateway's reason, not the client's); the
/// backend's elicitation and sampling come back as `InputRequiredResult`s that the SDK answers
/// through its callbacks by retrying with `inputResponses` and `requestState`; a
/// `subscriptions/listen` stream carries the readme's update and the tool list's change.
#[tokio::test]
async fn python_sdk_stateless_client_progress_cancel_input_required_and_listen() {
    stateless_features("2026-07-28").await;
}

/// The same with the client in `auto` mode, which settles on 2026-07-28 with this gateway.
#[tokio::test]
async fn python_sdk_auto_client_progress_cancel_input_required_and_listen() {
    stateless_features("auto").await;
}

async fn stateless_features(mode: &str) {
    let (gw, p) = library_gateway().await;
    let v = run_client(
        Command::new(gigmcp_testkit::python())
            .arg(clients_dir().join("python_features_stateless.py"))
            .args([&gw.url("books"), &p.token, mode]),
    )
    .await;
    assert_eq!(v["protocol"], "2026-07-28", "{v}");
    assert_eq!(
        v["discover"]["supportedVersions"],
        serde_json::json!(["2026-07-28"]),
        "{v}"
    );
    assert_eq!(v["discover"]["serverInfo"], "gigmcp", "{v}");
    // no session: no Mcp-Session-Id, no GET stream or DELETE, the envelope on every POST
    assert_eq!(v["session_ids"], serde_json::json!([]), "{v}");
    let wire = v["wire"].as_array().unwrap();
    for post in wire {
        assert_eq!(post["envelope"], "2026-07-28", "{post} in {v}");
        assert_eq!(post["header"], post["method"], "{post} in {v}");
    }
    let calls = |tool: &str| -> Vec<&Value> { wire.iter().filter(|p| p["name"] == tool).collect() };

    // the client's own cancel scope ended the call, not the safety timeout; the cancellation
    // is closing the call's stream (no notifications/cancelled POST), so the backend hears the
    // gateway's reason
    assert_eq!(v["slow_cancelled"], true, "{v}");
    assert_eq!(v["slow_timed_out"], false, "{v}");
    assert!(
        calls("lib_slow")
            .first()
            .is_some_and(|p| p.get("progressToken").is_some()),
        "the call asked for progress: {v}"
    );
    assert!(
        wire.iter()
            .all(|p| p["method"] != "notifications/cancelled"),
        "{v}"
    );
    assert_common(&v, "the client went away");

    // each of lib_ask and lib_sample: a first call answered with an InputRequiredResult keyed by
    // the backend's request id, which reached the callback, then one retry carrying the answer
    for (tool, key) in [
        ("lib_ask", "elicitation_key"),
        ("lib_sample", "sampling_key"),
    ] {
        let key = v["asked"][key].as_str().unwrap_or_else(|| panic!("{v}"));
        assert!(key.starts_with(&tool["lib_".len()..]), "{key}: {v}");
        let rounds = calls(tool);
        assert_eq!(rounds.len(), 2, "{tool}: {v}");
        assert!(rounds[0].get("inputResponses").is_none(), "{v}");
        assert!(rounds[0].get("requestState").is_none(), "{v}");
        assert_eq!(rounds[1]["inputResponses"], serde_json::json!([key]), "{v}");
        assert_eq!(rounds[1]["requestState"], true, "{v}");
    }

    // one listen stream: the readme's update after the first touch, then the tool list's change
    assert_eq!(v["honored"]["toolsListChanged"], true, "{v}");
    assert_eq!(
        v["honored"]["resourceSubscriptions"],
        serde_json::json!([README]),
        "{v}"
    );
    assert_eq!(v["updated"], true, "no resources/updated: {v}");
    assert_eq!(v["touches"], 1, "the update of the first touch: {v}");
    let events = v["events"].as_array().unwrap();
    let updated: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "ResourceUpdated")
        .collect();
    assert!(!updated.is_empty(), "{v}");
    assert!(updated.iter().all(|e| e["uri"] == README), "{v}");
    assert_eq!(v["tools_changed"], true, "no tools/list_changed: {v}");
    assert!(
        events.iter().any(|e| e["event"] == "ToolsListChanged"),
        "{v}"
    );
    assert!(names(&v["tools_after"]).contains(&"lib_grown"), "{v}");
    assert!(
        v["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.get("exception").is_none()),
        "transport errors: {v}"
    );
    gw.stop().await;
}
