//! Servers of the stateless revision (2026-07-28) behind the gateway. The gateway finds out
//! with `server/discover` that the conformance fixture speaks that revision, and then:
//!
//! - sends it each calling client's own capabilities with each request, so the server adapts to
//!   that client (here it asks only what the client declared, or refuses with -32021);
//! - for a handshake-era client, asks what the server's `InputRequiredResult`s ask, as requests
//!   on the call's stream, and sends the call again with the answers and the server's
//!   `requestState`, round after round;
//! - for a stateless client, passes the `InputRequiredResult` through (its `requestState`
//!   tagged with the server), keeping nothing: each retry may reach another replica;
//! - listens to it (`subscriptions/listen`) for list changes and the resources its clients
//!   subscribed to, and passes them on to the profile's sessions.
//!
//! The official conformance suites run against this fixture too (`conformance.rs`), and a
//! server built on the official Python SDK in `image_servers.rs`.

mod common;

use common::{RawClient, SseReader, TestGateway, TestProfile};
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

/// A gateway whose profile `stateless` has one server, `fx`: the conformance fixture, which
/// speaks the stateless revision.
async fn fixture_gateway() -> (TestGateway, TestProfile) {
    let gw = TestGateway::start().await;
    gw.add_server("fx", "conformance").await;
    let p = gw.add_profile("stateless", &["fx"]).await;
    (gw, p)
}

/// Starts `tools/call` of `tool` (no arguments) on `c`: the call's stream and the first
/// question the server asks on it.
async fn first_question(c: &RawClient, id: i64, tool: &str) -> (SseReader, Value) {
    let mut s = c.start_call(id, tool, json!({}), None).await;
    let ask = next_non_notification(&mut s).await;
    (s, ask)
}

/// The client's answer (`result`) to the question `ask` it got.
async fn answer(c: &RawClient, ask: &Value, result: Value) {
    c.post_accepted(json!({"jsonrpc": "2.0", "id": ask["id"], "result": result}))
        .await;
}

fn text(result: &Value) -> &str {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_server_asks_a_session_client_round_by_round_and_adapts_to_its_capabilities() {
    let (gw, p) = fixture_gateway().await;
    // a session that can answer elicitation, and no sampling
    let c = RawClient::with_capabilities(gw.url("stateless"), &p.token, json!({"elicitation": {}}))
        .await;

    // two rounds of input, one question each, asked on the call's own stream in turn
    let (mut s, ask) = first_question(&c, 2, "fx_test_input_required_result_multi_round").await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["message"], "Step 1: What is your name?");
    answer(
        &c,
        &ask,
        json!({"action": "accept", "content": {"name": "Ada"}}),
    )
    .await;
    let ask = next_non_notification(&mut s).await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(
        ask["params"]["message"],
        "Step 2: What is your favorite color?"
    );
    answer(
        &c,
        &ask,
        json!({"action": "accept", "content": {"color": "blue"}}),
    )
    .await;
    let done = next_non_notification(&mut s).await;
    assert_eq!(done["id"], 2, "{done}");
    assert_eq!(text(&done), "Ada likes blue");
    assert!(done["result"].get("resultType").is_none(), "{done}");

    // The server asks what this client declared (elicitation) and not what it did not
    // (sampling): it saw the client's own capabilities, not the gateway's.
    let (mut s, ask) = first_question(&c, 3, "fx_test_input_required_result_capabilities").await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    answer(
        &c,
        &ask,
        json!({"action": "accept", "content": {"name": "Ada"}}),
    )
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
        RawClient::with_capabilities(gw.url("stateless"), &p.token, json!({"sampling": {}})).await;
    let (mut s, ask) = first_question(&s2, 5, "fx_test_missing_capability").await;
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    answer(
        &s2,
        &ask,
        json!({
        "role": "assistant", "model": "m", "content": {"type": "text", "text": "Paris"}}),
    )
    .await;
    let done = next_non_notification(&mut s).await;
    assert_eq!(text(&done), "LLM response: Paris");

    // a client that answers with an error ends the call with it
    let (mut s, ask) = first_question(&c, 6, "fx_test_input_required_result_elicitation").await;
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
    let (gw, p) = fixture_gateway().await;
    let c = RawClient::with_capabilities(gw.url("stateless"), &p.token, json!({"elicitation": {}}))
        .await;
    let (mut s, ask) = first_question(&c, 2, "fx_test_input_required_result_elicitation").await;
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
    answer(
        &c,
        &ask,
        json!({"action": "accept", "content": {"name": "late"}}),
    )
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
    let (gw, p) = fixture_gateway().await;
    let mut c = RawClient::new(gw.url("stateless"), &p.token);
    c.initialize().await;
    let mut get = SseReader::new(c.open_get_stream().await);
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

/// One stateless `tools/call` of the fixture's `tool` (prefixed `fx_`), with `extra` params
/// (`inputResponses`, `requestState`), to the gateway at `url`; its JSON answer.
async fn stateless_call(url: &str, token: &str, tool: &str, extra: Value) -> Value {
    let name = format!("fx_{tool}");
    let mut params = json!({"name": name, "arguments": {}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}}});
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", &name)
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// A stateless client's InputRequiredResult from a stateless server is passed through, its
/// `requestState` tagged with the server: the gateway keeps nothing while the client answers,
/// so each round can go to another replica (here: a second gateway on the same data, with its
/// own memory and its own sandbox of the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_s_input_rounds_can_each_reach_another_replica() {
    let a = TestGateway::start().await;
    a.add_server("fx", "conformance").await;
    let p = a.add_profile("stateless", &["fx"]).await;
    let b = a.replica().await;
    let tool = "test_input_required_result_multi_round";

    let first = stateless_call(&a.url("stateless"), &p.token, tool, json!({})).await;
    let r = &first["result"];
    assert_eq!(r["resultType"], "input_required", "{first}");
    assert_eq!(
        r["inputRequests"]["step1"]["method"], "elicitation/create",
        "{first}"
    );
    let state = r["requestState"].as_str().unwrap();
    assert!(
        state.starts_with("s.fx.v1."),
        "passed through, tagged: {first}"
    );

    let second = stateless_call(
        &b.url("stateless"),
        &p.token,
        tool,
        json!({
        "inputResponses": {"step1": {"action": "accept", "content": {"name": "Ada"}}},
        "requestState": state}),
    )
    .await;
    let r = &second["result"];
    assert_eq!(r["resultType"], "input_required", "{second}");
    assert!(r["inputRequests"].get("step1").is_none(), "{second}");
    assert_eq!(
        r["inputRequests"]["step2"]["params"]["message"], "Step 2: What is your favorite color?",
        "{second}"
    );

    let done = stateless_call(
        &a.url("stateless"),
        &p.token,
        tool,
        json!({
        "inputResponses": {"step2": {"action": "accept", "content": {"color": "blue"}}},
        "requestState": r["requestState"]}),
    )
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(text(&done), "Ada likes blue");

    // a state tagged for another server of the profile is refused by the gateway
    let forged = stateless_call(
        &a.url("stateless"),
        &p.token,
        tool,
        json!({
        "inputResponses": {"step1": {"action": "accept", "content": {"name": "Eve"}}},
        "requestState": state.replacen("s.fx.", "s.other.", 1)}),
    )
    .await;
    assert_eq!(forged["error"]["code"], -32602, "{forged}");
    // and one the server did not give out, by the server
    let tampered = stateless_call(
        &a.url("stateless"),
        &p.token,
        tool,
        json!({
        "inputResponses": {"step2": {"action": "accept", "content": {"color": "red"}}},
        "requestState": format!("{state}0")}),
    )
    .await;
    assert_eq!(tampered["error"]["code"], -32602, "{tampered}");
    b.stop().await;
    a.stop().await;
}

/// A server that exits when asked `server/discover` before `initialize` is started once more
/// and initialized, and is not probed again at its next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_the_probe_kills_is_started_again_and_initialized() {
    let gw = TestGateway::start().await;
    gw.add_server("st", "strict").await;
    let p = gw.add_profile("strict", &["st"]).await;
    let mut c = RawClient::new(gw.url("strict"), &p.token);
    c.initialize().await;
    let call = |id: i64, tool: &'static str| {
        let c = &c;
        async move {
            c.call(
                id,
                "tools/call",
                json!({"name": format!("st_{tool}"), "arguments": {}}),
            )
            .await
        }
    };
    assert_eq!(text(&call(2, "hello").await), "hello");
    assert_eq!(gw.started(), 2, "probed (it exited), then initialized");
    // it ends; the next call starts it again, initialized straight away
    let _ = call(3, "exit").await;
    assert_eq!(text(&call(4, "hello").await), "hello");
    assert_eq!(gw.started(), 3, "not probed again");
    gw.stop().await;
}
