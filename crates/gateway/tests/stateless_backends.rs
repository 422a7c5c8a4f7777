//! Servers of the stateless revision (2026-07-28) behind the gateway, as a handshake-era client
//! sees them. The gateway finds out with `server/discover` that the conformance fixture speaks
//! that revision, and then:
//!
//! - sends it each calling client's own capabilities with each request, so the server adapts to
//!   that client (here it asks only what the client declared, or refuses with -32021);
//! - asks the calling client what the server's `InputRequiredResult`s ask, as requests on the
//!   call's stream, and sends the call again with the answers and the server's `requestState`,
//!   round after round;
//! - listens to it (`subscriptions/listen`) for list changes and the resources its clients
//!   subscribed to, and passes them on to the profile's sessions.

mod common;

use common::{RawClient, SseReader, TestGateway};
use serde_json::{Value, json};
use std::time::Duration;

/// The next message on `s` that is not a notification.
async fn next_non_notification(s: &mut SseReader) -> Value {
    loop {
        let msg = s.next().await.expect("the stream is still open");
        if !msg["method"]
            .as_str()
            .is_some_and(|m| m.starts_with("notifications/"))
        {
            return msg;
        }
    }
}

fn text(result: &Value) -> &str {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_server_asks_a_session_client_round_by_round_and_adapts_to_its_capabilities() {
    let gw = TestGateway::start().await;
    gw.add_server("fx", "conformance").await;
    let p = gw.add_profile("modern", &["fx"]).await;
    // a session that can answer elicitation, and no sampling
    let c =
        RawClient::with_capabilities(gw.url("modern"), &p.token, json!({"elicitation": {}})).await;

    // two rounds of input, one question each, asked on the call's own stream in turn
    let mut s = c
        .start_call(
            2,
            "fx_test_input_required_result_multi_round",
            json!({}),
            None,
        )
        .await;
    let ask = next_non_notification(&mut s).await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["message"], "Step 1: What is your name?");
    c.post_accepted(json!({"jsonrpc": "2.0", "id": ask["id"],
        "result": {"action": "accept", "content": {"name": "Ada"}}}))
        .await;
    let ask = next_non_notification(&mut s).await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(
        ask["params"]["message"],
        "Step 2: What is your favorite color?"
    );
    c.post_accepted(json!({"jsonrpc": "2.0", "id": ask["id"],
        "result": {"action": "accept", "content": {"color": "blue"}}}))
        .await;
    let done = next_non_notification(&mut s).await;
    assert_eq!(done["id"], 2, "{done}");
    assert_eq!(text(&done), "Ada likes blue");
    assert!(done["result"].get("resultType").is_none(), "{done}");

    // The server asks what this client declared (elicitation) and not what it did not
    // (sampling): it saw the client's own capabilities, not the gateway's.
    let mut s = c
        .start_call(
            3,
            "fx_test_input_required_result_capabilities",
            json!({}),
            None,
        )
        .await;
    let ask = next_non_notification(&mut s).await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    c.post_accepted(json!({"jsonrpc": "2.0", "id": ask["id"],
        "result": {"action": "accept", "content": {"name": "Ada"}}}))
        .await;
    let done = next_non_notification(&mut s).await;
    assert_eq!(done["id"], 3, "only one question was asked: {done}");
    assert_eq!(
        text(&done),
        "name: Ada; LLM response: (the client does not support sampling)"
    );

    // a request that needs what the client lacks is refused by the server itself
    let refused = c
        .call(
            4,
            "tools/call",
            json!({"name": "fx_test_missing_capability", "arguments": {}}),
        )
        .await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    assert_eq!(
        refused["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}}),
        "{refused}"
    );

    // a session client that declared sampling is sampled, through the same rounds
    let s2 =
        RawClient::with_capabilities(gw.url("modern"), &p.token, json!({"sampling": {}})).await;
    let mut s = s2
        .start_call(5, "fx_test_missing_capability", json!({}), None)
        .await;
    let ask = next_non_notification(&mut s).await;
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    s2.post_accepted(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "role": "assistant", "model": "m", "content": {"type": "text", "text": "Paris"}}}))
        .await;
    let done = next_non_notification(&mut s).await;
    assert_eq!(text(&done), "LLM response: Paris");

    // a client that answers with an error ends the call with it
    let mut s = c
        .start_call(
            6,
            "fx_test_input_required_result_elicitation",
            json!({}),
            None,
        )
        .await;
    let ask = next_non_notification(&mut s).await;
    c.post_accepted(json!({"jsonrpc": "2.0", "id": ask["id"],
        "error": {"code": -1, "message": "the user closed the dialog"}}))
        .await;
    let done = next_non_notification(&mut s).await;
    assert_eq!(done["id"], 6, "{done}");
    assert_eq!(
        done["error"]["message"], "the user closed the dialog",
        "{done}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_client_cancelling_while_it_is_asked_ends_the_call() {
    let gw = TestGateway::start().await;
    gw.add_server("fx", "conformance").await;
    let p = gw.add_profile("modern", &["fx"]).await;
    let c =
        RawClient::with_capabilities(gw.url("modern"), &p.token, json!({"elicitation": {}})).await;
    let mut s = c
        .start_call(
            2,
            "fx_test_input_required_result_elicitation",
            json!({}),
            None,
        )
        .await;
    let ask = next_non_notification(&mut s).await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    c.post_accepted(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 2, "reason": "never mind"}}),
    )
    .await;
    let done = next_non_notification(&mut s).await;
    assert_eq!(done["id"], 2, "{done}");
    assert_eq!(done["error"]["code"], -32800, "{done}");
    // the late answer goes nowhere, and the session still works
    c.post_accepted(json!({"jsonrpc": "2.0", "id": ask["id"],
        "result": {"action": "accept", "content": {"name": "late"}}}))
        .await;
    let out = c
        .call(
            3,
            "tools/call",
            json!({"name": "fx_test_simple_text", "arguments": {}}),
        )
        .await;
    assert_eq!(text(&out), "This is a simple text response for testing.");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_server_s_changes_reach_the_profile_s_sessions() {
    let gw = TestGateway::start().await;
    gw.add_server("fx", "conformance").await;
    let p = gw.add_profile("modern", &["fx"]).await;
    let mut c = RawClient::new(gw.url("modern"), &p.token);
    c.initialize().await;
    let get = c
        .http
        .get(&c.url)
        .bearer_auth(&c.token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", c.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let mut get = SseReader::new(get);
    let watched = "gigmcp://fx/test://watched-resource";
    let sub = c
        .call(2, "resources/subscribe", json!({"uri": watched}))
        .await;
    assert_eq!(sub["result"], json!({}), "{sub}");

    let out = c
        .call(
            3,
            "tools/call",
            json!({"name": "fx_test_touch_watched_resource", "arguments": {}}),
        )
        .await;
    // the server told one subscriber: the gateway's listen stream
    assert!(text(&out).ends_with("subscribers told: 1"), "{out}");
    let note = get.next().await.expect("the update");
    assert_eq!(note["method"], "notifications/resources/updated", "{note}");
    assert_eq!(note["params"]["uri"], watched, "{note}");
    assert!(
        note["params"]
            .get("_meta")
            .is_none_or(|m| m.get("io.modelcontextprotocol/subscriptionId").is_none()),
        "the server's listen tag stays with the gateway: {note}"
    );

    // after unsubscribing, the server watches it no more
    c.call(4, "resources/unsubscribe", json!({"uri": watched}))
        .await;
    let out = c
        .call(
            5,
            "tools/call",
            json!({"name": "fx_test_touch_watched_resource", "arguments": {}}),
        )
        .await;
    assert!(text(&out).ends_with("subscribers told: 0"), "{out}");

    // a tool added at run time: the session hears the list changed, and the list has it
    c.call(
        6,
        "tools/call",
        json!({"name": "fx_test_trigger_tool_change", "arguments": {}}),
    )
    .await;
    let note = tokio::time::timeout(Duration::from_secs(10), get.next())
        .await
        .unwrap()
        .expect("the list change");
    assert_eq!(note["method"], "notifications/tools/list_changed", "{note}");
    let tools = c.call(7, "tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"fx_test_dynamic_tool"), "{names:?}");
    gw.stop().await;
}
