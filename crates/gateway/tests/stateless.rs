//! The stateless 2026-07-28 revision at the wire: discovery, the `_meta` envelope, the routing
//! headers checked against the body, no sessions (GET/DELETE 405), cache hints, and a call
//! cancelled at the backend when its client closes the stream.

mod common;

use common::stateless::{StatelessClient, V, first_input_key};
use common::{SseReader, TestGateway};
use serde_json::{Value, json};

async fn setup() -> (TestGateway, StatelessClient) {
    let gw = TestGateway::start().await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("work", &["lib"]).await;
    let m = StatelessClient {
        http: reqwest::Client::new(),
        url: gw.url("work"),
        token: p.token.clone(),
    };
    (gw, m)
}

#[tokio::test]
async fn discovery_envelope_headers_and_cache_hints() {
    let (gw, m) = setup().await;
    let (status, d) = m.json("server/discover", json!({})).await;
    assert_eq!(status, 200, "{d}");
    let r = &d["result"];
    assert_eq!(r["supportedVersions"], json!([V]));
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["cacheScope"], "private");
    assert!(r["capabilities"]["prompts"].is_object(), "{r}");
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "gigmcp"
    );

    let (status, list) = m.json("tools/list", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(list["result"]["ttlMs"], 0);
    assert!(
        list["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "lib_whoami")
    );
    let (_, call) = m
        .json("tools/call", json!({"name": "lib_whoami", "arguments": {}}))
        .await;
    assert_eq!(call["result"]["resultType"], "complete", "{call}");

    // Mcp-Method or Mcp-Name disagreeing with the body: 400, -32020
    let resp = m
        .request_with("tools/list", json!({}), &[("mcp-method", "prompts/list")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32020);
    let resp = m
        .request_with(
            "tools/call",
            json!({"name": "lib_whoami", "arguments": {}}),
            &[("mcp-name", "lib_link")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32020);
    // a version the gateway does not speak: 400, -32022 with what it does speak
    let resp = m
        .request_with(
            "tools/list",
            json!({}),
            &[("mcp-protocol-version", "2030-01-01")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32022);
    assert!(
        body["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(V)),
        "{body}"
    );
    // methods the revision removed, and unknown ones: 404
    let (status, body) = m.json("ping", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!(-32601))
    );
    // no session to stream from or delete
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = m
            .http
            .request(method, &m.url)
            .bearer_auth(&m.token)
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", V)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
    }
    gw.stop().await;
}

#[tokio::test]
async fn closing_the_stream_cancels_the_call_at_the_backend() {
    let (gw, m) = setup().await;
    let resp = m
        .request(
            "tools/call",
            json!({"name": "lib_slow", "arguments": {}, "_meta": {"progressToken": 9}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // the call's own stream carries its progress (and nothing else: no priming, no requests)
    let mut stream = SseReader::new(resp);
    let progress = stream.next().await.expect("progress");
    assert_eq!(progress["method"], "notifications/progress", "{progress}");
    assert_eq!(progress["params"]["progressToken"], 9);
    assert!(stream.ids.is_empty(), "no event ids: nothing to resume");
    drop(stream);
    let mut seen = String::new();
    for _ in 0..100 {
        let (_, out) = m
            .json(
                "tools/call",
                json!({"name": "lib_cancelled", "arguments": {}}),
            )
            .await;
        seen = out["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen.ends_with("the client went away"), "{seen:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_backend_s_elicitation_becomes_an_input_required_result_answered_on_retry() {
    let (gw, m) = setup().await;
    let caps =
        json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "sampling": {}}});
    let (status, first) = m
        .json(
            "tools/call",
            json!({"name": "lib_ask", "arguments": {}, "_meta": caps.clone()}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let r = &first["result"];
    assert_eq!(r["resultType"], "input_required", "{first}");
    let (key, request) = r["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    assert_eq!(request["method"], "elicitation/create", "{request}");
    assert_eq!(request["params"]["message"], "What is your name?");
    let state = r["requestState"].as_str().unwrap().to_string();
    // a retry that does not answer is refused, and loses nothing: the call still waits
    let (_, incomplete) = m
        .json(
            "tools/call",
            json!({"name": "lib_ask", "arguments": {}, "_meta": caps.clone(),
                "inputResponses": {}, "requestState": state.clone()}),
        )
        .await;
    assert_eq!(incomplete["error"]["code"], -32602, "{incomplete}");
    assert!(
        incomplete["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry with the same requestState"),
        "{incomplete}"
    );
    // the retry carries the answer; the backend, still in the original call, finishes it
    let retry = json!({"name": "lib_ask", "arguments": {}, "_meta": caps.clone(),
        "inputResponses": {key.clone(): {"action": "accept", "content": {"name": "Cy"}}},
        "requestState": state});
    let (_, done) = m.json("tools/call", retry.clone()).await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"],
        r#"answer: {"action":"accept","content":{"name":"Cy"}}"#
    );
    // a requestState is good once
    let (_, again) = m.json("tools/call", retry).await;
    assert_eq!(again["error"]["code"], -32602, "{again}");

    // sampling the same way
    let (_, first) = m
        .json(
            "tools/call",
            json!({"name": "lib_sample", "arguments": {}, "_meta": caps.clone()}),
        )
        .await;
    let r = &first["result"];
    let key = first_input_key(r);
    assert_eq!(r["inputRequests"][&key]["method"], "sampling/createMessage");
    let (_, done) = m
        .json(
            "tools/call",
            json!({"name": "lib_sample", "arguments": {}, "_meta": caps.clone(),
                "inputResponses": {key: {"role": "assistant", "model": "m",
                    "content": {"type": "text", "text": "4"}}},
                "requestState": r["requestState"]}),
        )
        .await;
    assert_eq!(done["result"]["content"][0]["text"], "sampled: 4", "{done}");

    // a client that declared no elicitation is not asked: 400, -32021, naming what is missing
    let (status, plain) = m
        .json("tools/call", json!({"name": "lib_ask", "arguments": {}}))
        .await;
    assert_eq!(status, 400, "{plain}");
    assert_eq!(plain["error"]["code"], -32021, "{plain}");
    assert_eq!(
        plain["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {}})
    );

    // answers a first request already carries are used when the server asks
    let (_, direct) = m
        .json(
            "tools/call",
            json!({"name": "lib_ask", "arguments": {}, "_meta": caps,
                "inputResponses": {"ask-4": {"action": "decline"}, "unrelated": {}}}),
        )
        .await;
    assert_eq!(
        direct["result"]["content"][0]["text"], r#"answer: {"action":"decline"}"#,
        "{direct}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_listen_stream_acknowledges_and_carries_the_changes_asked_for() {
    let (gw, m) = setup().await;
    let resp = m
        .request(
            "subscriptions/listen",
            json!({"notifications": {"toolsListChanged": true,
                "resourceSubscriptions": ["gigmcp://lib/doc://readme", "gigmcp://nope/x://y"]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = SseReader::new(resp);
    let ack = stream.next().await.expect("acknowledged");
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    let honoured = &ack["params"]["notifications"];
    assert_eq!(honoured["toolsListChanged"], true);
    assert_eq!(honoured["promptsListChanged"], false);
    // only what routes to a server that can subscribe
    assert_eq!(
        honoured["resourceSubscriptions"],
        json!(["gigmcp://lib/doc://readme"])
    );
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        1
    );
    let (_, touched) = m
        .json("tools/call", json!({"name": "lib_touch", "arguments": {}}))
        .await;
    assert_eq!(touched["result"]["content"][0]["text"], "touched");
    let updated = stream.next().await.expect("the update");
    assert_eq!(
        updated["method"], "notifications/resources/updated",
        "{updated}"
    );
    assert_eq!(updated["params"]["uri"], "gigmcp://lib/doc://readme");
    assert_eq!(
        updated["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        1
    );
    gw.stop().await;
}

/// The key of the (first) input request of an `InputRequiredResult`.
/// The answer on a call's SSE stream (after any progress), and the progress seen before it.
async fn answer_on(mut stream: SseReader) -> (Vec<Value>, Value) {
    let mut progress = Vec::new();
    while let Some(msg) = stream.next().await {
        if msg["method"] == "notifications/progress" {
            progress.push(msg);
        } else if msg.get("id").is_some() {
            return (progress, msg);
        }
    }
    panic!("the stream ended without an answer")
}

/// A parked call (a handshake-era server asked for input) is resumed by the client's retry:
/// what the server reports after that reaches the retry's own stream, under the retry's
/// progress token, not the first request's (whose stream is gone).
#[tokio::test]
async fn a_resumed_call_s_progress_goes_to_the_retry_s_stream() {
    let (gw, m) = setup().await;
    let caps = json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}});
    let mut meta = caps.clone();
    meta["progressToken"] = json!("first");
    let resp = m
        .request(
            "tools/call",
            json!({"name": "lib_survey", "arguments": {}, "_meta": meta}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (progress, first) = answer_on(SseReader::new(resp)).await;
    assert!(progress.is_empty(), "{progress:?}");
    let r = &first["result"];
    assert_eq!(r["resultType"], "input_required", "{first}");
    let key = first_input_key(r);

    let mut meta = caps.clone();
    meta["progressToken"] = json!("second");
    let resp = m
        .request(
            "tools/call",
            json!({"name": "lib_survey", "arguments": {}, "_meta": meta,
                "inputResponses": {key: {"action": "accept", "content": {"name": "Di"}}},
                "requestState": r["requestState"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (progress, done) = answer_on(SseReader::new(resp)).await;
    assert_eq!(
        done["result"]["content"][0]["text"],
        r#"answer: {"action":"accept","content":{"name":"Di"}}"#,
        "{done}"
    );
    let steps: Vec<(&Value, &Value)> = progress
        .iter()
        .map(|p| (&p["params"]["progressToken"], &p["params"]["progress"]))
        .collect();
    assert_eq!(
        steps,
        [(&json!("second"), &json!(1)), (&json!("second"), &json!(2))],
        "{progress:?}"
    );
    gw.stop().await;
}
