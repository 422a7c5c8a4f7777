//! What happens while a call runs, over the handshake era: progress reaches the calling client
//! under its own token, the client's cancellation reaches the backend under the backend's id,
//! the per-call timeout cancels at the backend too, and a backend's elicitation and sampling
//! requests reach the client whose call caused them, whose answers go back.

mod common;

use common::{RawClient, SseReader, TestGateway};
use serde_json::{Value, json};

/// A session declaring `capabilities`.
async fn client(gw: &TestGateway, slug: &str, token: &str, capabilities: Value) -> RawClient {
    RawClient::with_capabilities(gw.url(slug), token, capabilities).await
}

/// Starts `tools/call` of `tool` and returns its SSE stream.
async fn start_call(c: &RawClient, id: i64, tool: &str, meta: Option<Value>) -> SseReader {
    c.start_call(id, tool, json!({}), meta).await
}

async fn text_of(c: &RawClient, id: i64, tool: &str) -> String {
    let out = c
        .call(id, "tools/call", json!({"name": tool, "arguments": {}}))
        .await;
    out["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_string()
}

async fn post(c: &RawClient, msg: Value) {
    c.post_accepted(msg).await;
}

#[tokio::test]
async fn progress_reaches_the_caller_and_its_cancellation_reaches_the_backend() {
    let gw = TestGateway::start().await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("work", &["lib"]).await;
    let a = client(&gw, "work", &p.token, json!({})).await;
    let b = client(&gw, "work", &p.token, json!({})).await;
    // two sessions on one backend, using the same progress token and request id
    let mut sa = start_call(&a, 5, "lib_slow", Some(json!({"progressToken": "t"}))).await;
    let mut sb = start_call(&b, 5, "lib_slow", Some(json!({"progressToken": "t"}))).await;
    for s in [&mut sa, &mut sb] {
        for step in 1..=2 {
            let note = s.next().await.expect("progress");
            assert_eq!(note["method"], "notifications/progress", "{note}");
            assert_eq!(note["params"]["progressToken"], "t");
            assert_eq!(note["params"]["progress"], step);
        }
    }
    // a cancels its call; the backend hears it, and a's stream ends
    post(
        &a,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 5, "reason": "user gave up"}}),
    )
    .await;
    let last = sa.next().await.expect("the call ends");
    assert_eq!(last["id"], 5);
    assert!(sa.next().await.is_none(), "stream closed");
    let seen = text_of(&a, 6, "lib_cancelled").await;
    assert_eq!(seen.lines().count(), 1, "{seen}");
    assert!(seen.ends_with(": user gave up"), "{seen}");
    // b's call is still running: cancel it too, with its own (equal) id
    post(
        &b,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 5, "reason": "b too"}}),
    )
    .await;
    sb.next().await.expect("the call ends");
    let seen = text_of(&a, 7, "lib_cancelled").await;
    assert_eq!(seen.lines().count(), 2, "{seen}");
    // cancelling something unknown, or twice, is harmless
    post(
        &a,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}),
    )
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn the_per_call_timeout_cancels_at_the_backend_too() {
    let gw = TestGateway::start_with(|raw| raw.call_timeout_secs = 1).await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("work", &["lib"]).await;
    let mut c = RawClient::new(gw.url("work"), &p.token);
    c.initialize().await;
    let out = c
        .call(
            2,
            "tools/call",
            json!({"name": "lib_slow", "arguments": {}}),
        )
        .await;
    assert_eq!(out["error"]["code"], -32001, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer within 1 s"),
        "{out}"
    );
    let seen = text_of(&c, 3, "lib_cancelled").await;
    assert!(seen.ends_with("per-call timeout expired"), "{seen}");
    gw.stop().await;
}

#[tokio::test]
async fn elicitation_and_sampling_reach_the_calling_client_and_its_answers_go_back() {
    let gw = TestGateway::start().await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("work", &["lib"]).await;
    let c = client(
        &gw,
        "work",
        &p.token,
        json!({"elicitation": {}, "sampling": {}}),
    )
    .await;

    let mut s = start_call(&c, 2, "lib_ask", None).await;
    let ask = s.next().await.expect("the elicitation request");
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["message"], "What is your name?");
    post(
        &c,
        json!({"jsonrpc": "2.0", "id": ask["id"],
               "result": {"action": "accept", "content": {"name": "Ana"}}}),
    )
    .await;
    let done = s.next().await.expect("the result");
    assert_eq!(done["id"], 2);
    assert_eq!(
        done["result"]["content"][0]["text"],
        r#"answer: {"action":"accept","content":{"name":"Ana"}}"#
    );

    let mut s = start_call(&c, 3, "lib_sample", None).await;
    let ask = s.next().await.expect("the sampling request");
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    // an answer under an id the gateway never used goes nowhere
    post(&c, json!({"jsonrpc": "2.0", "id": "forged", "result": {}})).await;
    post(
        &c,
        json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
            "role": "assistant", "content": {"type": "text", "text": "4"}, "model": "test"}}),
    )
    .await;
    let done = s.next().await.expect("the result");
    assert_eq!(done["result"]["content"][0]["text"], "sampled: 4");

    // a client that did not declare elicitation is never asked: the server hears why
    let mut plain = RawClient::new(gw.url("work"), &p.token);
    plain.initialize().await;
    let refused = text_of(&plain, 2, "lib_ask").await;
    assert!(
        refused.starts_with("refused:") && refused.contains("elicitation capability"),
        "{refused}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_dropped_call_stream_resumes_with_last_event_id_and_loses_nothing() {
    let gw = TestGateway::start().await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("work", &["lib"]).await;
    let c = client(&gw, "work", &p.token, json!({"elicitation": {}})).await;
    let mut s = start_call(&c, 2, "lib_ask", None).await;
    let ask = s.next().await.expect("the elicitation request");
    assert_eq!(ask["method"], "elicitation/create");
    // the stream opened with a priming event (an id, no data), then the request's event
    assert_eq!(s.ids.len(), 2, "{:?}", s.ids);
    assert!(s.ids[0].ends_with("-0"), "{:?}", s.ids);
    let last = s.last_event_id.clone().expect("events carry ids");
    // the connection drops before the answer exists
    drop(s);
    post(
        &c,
        json!({"jsonrpc": "2.0", "id": ask["id"],
               "result": {"action": "accept", "content": {"name": "Bo"}}}),
    )
    .await;
    let get = |last: &str| {
        c.http
            .get(&c.url)
            .bearer_auth(&c.token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", c.session.as_deref().unwrap())
            .header("last-event-id", last.to_string())
            .send()
    };
    let resumed = get(&last).await.unwrap();
    assert_eq!(resumed.status(), 200);
    let mut r = SseReader::new(resumed);
    let done = r.next().await.expect("the answer, kept for the client");
    assert_eq!(done["id"], 2, "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"],
        r#"answer: {"action":"accept","content":{"name":"Bo"}}"#
    );
    assert!(r.next().await.is_none(), "the call's stream is complete");
    // an id the session does not know: 404, open a new stream instead
    assert_eq!(get("zz-3").await.unwrap().status(), 404);
    gw.stop().await;
}
