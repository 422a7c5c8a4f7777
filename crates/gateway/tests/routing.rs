//! Routing through the gateway's `Launcher` seam, with servers run as plain processes (no
//! sandbox, no root, seconds): both eras of clients and servers, fan-out with a stuck server,
//! cancellation, and a server's questions asked of the calling client. The sandbox path itself
//! is proven by the other test files, as root.

mod common;

use common::stateless::{StatelessClient, first_input_key};
use common::{RawClient, TestGateway};
use serde_json::{Value, json};

fn stateless_client(gw: &TestGateway, slug: &str, token: &str) -> StatelessClient {
    StatelessClient {
        http: reqwest::Client::new(),
        url: gw.url(slug),
        token: token.into(),
    }
}

fn tool_names(list: &Value) -> Vec<String> {
    list["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn clients_and_servers_of_both_eras_reach_each_other() {
    let gw = TestGateway::unsandboxed(|_| {}).await;
    gw.add_server("old", "echo").await;
    gw.add_server("new", "twenty_stateless").await;
    let p = gw.add_profile("both", &["old", "new"]).await;

    // a handshake-era client sees both servers' tools and calls each
    let mut session = RawClient::new(gw.url("both"), &p.token);
    session.initialize().await;
    let list = session.call(2, "tools/list", json!({})).await;
    let names = tool_names(&list["result"]);
    assert!(names.contains(&"old_echo".to_string()), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("new_")), "{names:?}");
    let echoed = session
        .call(
            3,
            "tools/call",
            json!({"name": "old_echo", "arguments": {"message": "hi"}}),
        )
        .await;
    assert_eq!(
        echoed["result"]["content"][0]["text"], "echo: hi",
        "{echoed}"
    );
    let issue = session
        .call(
            4,
            "tools/call",
            json!({"name": "new_get_issue", "arguments": {"issue_id": "GIG-1"}}),
        )
        .await;
    assert_eq!(issue["result"]["isError"], Value::Null, "{issue}");
    assert!(issue["result"]["content"][0]["text"].is_string(), "{issue}");

    // a stateless client does the same, without a session
    let m = stateless_client(&gw, "both", &p.token);
    let (status, list) = m.json("tools/list", json!({})).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(tool_names(&list["result"]).len(), names.len());
    let (_, echoed) = m
        .json(
            "tools/call",
            json!({"name": "old_echo", "arguments": {"message": "yo"}}),
        )
        .await;
    assert_eq!(
        echoed["result"]["content"][0]["text"], "echo: yo",
        "{echoed}"
    );
    assert_eq!(echoed["result"]["resultType"], "complete");
    // every server ran as a plain process, once per (profile, server)
    assert_eq!(gw.started(), 2);
}

#[tokio::test]
async fn a_stuck_server_is_left_out_of_lists_and_the_others_answer() {
    let gw = TestGateway::unsandboxed(|raw| raw.call_timeout_secs = 2).await;
    gw.add_server("echo", "echo").await;
    gw.add_server("stuck", "mute").await;
    let p = gw.add_profile("mixed", &["echo", "stuck"]).await;
    let mut c = RawClient::new(gw.url("mixed"), &p.token);
    c.initialize().await;
    let list = c.call(2, "tools/list", json!({})).await;
    assert_eq!(tool_names(&list["result"]), ["echo_echo"], "{list}");
    // the stuck server's own tools fail with a timeout; the other keeps answering
    let stuck = c
        .call(
            3,
            "tools/call",
            json!({"name": "stuck_anything", "arguments": {}}),
        )
        .await;
    assert!(stuck["error"]["code"].is_i64(), "{stuck}");
    let echoed = c
        .call(
            4,
            "tools/call",
            json!({"name": "echo_echo", "arguments": {"message": "still here"}}),
        )
        .await;
    assert_eq!(echoed["result"]["content"][0]["text"], "echo: still here");
}

#[tokio::test]
async fn a_client_s_cancellation_reaches_the_server_under_the_server_s_id() {
    let gw = TestGateway::unsandboxed(|_| {}).await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("work", &["lib"]).await;
    let mut c = RawClient::new(gw.url("work"), &p.token);
    c.initialize().await;
    let mut call = c
        .start_call(
            9,
            "lib_slow",
            json!({}),
            Some(json!({"progressToken": "p"})),
        )
        .await;
    let progress = call.next().await.expect("progress first");
    assert_eq!(progress["params"]["progressToken"], "p", "{progress}");
    c.post_accepted(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 9, "reason": "changed my mind"}}),
    )
    .await;
    let end = loop {
        let msg = call.next().await.expect("the call ends");
        if msg["method"] != "notifications/progress" {
            break msg;
        }
    };
    assert_eq!(end["id"], 9, "{end}");
    let seen = c
        .call(
            10,
            "tools/call",
            json!({"name": "lib_cancelled", "arguments": {}}),
        )
        .await;
    let text = seen["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.ends_with(": changed my mind"), "{text}");
}

#[tokio::test]
async fn a_server_s_question_is_asked_of_the_caller_in_its_own_era() {
    let gw = TestGateway::unsandboxed(|_| {}).await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("work", &["lib"]).await;

    // a stateless client gets an InputRequiredResult and answers it on its retry
    let m = stateless_client(&gw, "work", &p.token);
    let caps = json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}});
    let (_, first) = m
        .json(
            "tools/call",
            json!({"name": "lib_ask", "arguments": {}, "_meta": caps.clone()}),
        )
        .await;
    let r = &first["result"];
    assert_eq!(r["resultType"], "input_required", "{first}");
    let key = first_input_key(r);
    let (_, done) = m
        .json(
            "tools/call",
            json!({"name": "lib_ask", "arguments": {}, "_meta": caps,
                "inputResponses": {key: {"action": "accept", "content": {"name": "Ada"}}},
                "requestState": r["requestState"]}),
        )
        .await;
    assert_eq!(
        done["result"]["content"][0]["text"],
        r#"answer: {"action":"accept","content":{"name":"Ada"}}"#,
        "{done}"
    );

    // a session client is asked with a request on its call's stream, and answers it
    let c =
        RawClient::with_capabilities(gw.url("work"), &p.token, json!({"elicitation": {}})).await;
    let mut call = c.start_call(3, "lib_ask", json!({}), None).await;
    let question = call.next().await.expect("the server's question");
    assert_eq!(question["method"], "elicitation/create", "{question}");
    c.post_accepted(json!({"jsonrpc": "2.0", "id": question["id"],
        "result": {"action": "accept", "content": {"name": "Bo"}}}))
        .await;
    let answer = call.next().await.expect("the call's answer");
    assert_eq!(
        answer["result"]["content"][0]["text"],
        r#"answer: {"action":"accept","content":{"name":"Bo"}}"#,
        "{answer}"
    );
}
