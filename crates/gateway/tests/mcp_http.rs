//! The `/mcp/p/<slug>` endpoint at the HTTP level: auth, transport rules, bad input, routing,
//! and how the gateway copes with a server that dies.

mod common;

use common::{INIT, RawClient, TestGateway};
use serde_json::{Value, json};

async fn gateway_with_echo() -> (TestGateway, common::TestProfile) {
    let gw = TestGateway::start().await;
    gw.add_server("echo", "echo").await;
    let p = gw.add_profile("dev", &["echo"]).await;
    (gw, p)
}

fn assert_unauthorized(resp: &reqwest::Response) {
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

#[tokio::test]
async fn unauthorised_requests_get_401_and_spawn_nothing() {
    let (gw, p) = gateway_with_echo().await;
    let other = gw.add_profile("other", &["echo"]).await;
    let http = reqwest::Client::new();
    let post = |url: String| {
        http.post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(INIT)
    };
    // no token
    assert_unauthorized(&post(gw.url("dev")).send().await.unwrap());
    // wrong token
    assert_unauthorized(
        &post(gw.url("dev"))
            .bearer_auth("gig_wrong")
            .send()
            .await
            .unwrap(),
    );
    // another profile's token
    assert_unauthorized(
        &post(gw.url("dev"))
            .bearer_auth(&other.token)
            .send()
            .await
            .unwrap(),
    );
    // unknown slug, with a valid token of some profile
    assert_unauthorized(
        &post(gw.url("nope"))
            .bearer_auth(&p.token)
            .send()
            .await
            .unwrap(),
    );
    // not a bearer scheme
    let r = post(gw.url("dev"))
        .header("authorization", format!("Basic {}", p.token))
        .send()
        .await
        .unwrap();
    assert_unauthorized(&r);
    // GET and DELETE too
    let r = http
        .get(gw.url("dev"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_unauthorized(&r);
    let r = http
        .delete(gw.url("dev"))
        .bearer_auth("gig_wrong")
        .send()
        .await
        .unwrap();
    assert_unauthorized(&r);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(gw.started(), 0, "a 401 must never start a sandbox");
    gw.stop().await;
}

#[tokio::test]
async fn lists_and_calls_namespaced_tools() {
    let (gw, p) = gateway_with_echo().await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    let init = c.initialize().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    let list = c.call(2, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo_echo"]);
    let out = c
        .call(
            3,
            "tools/call",
            json!({"name":"echo_echo","arguments":{"message":"hello"}}),
        )
        .await;
    assert_eq!(out["result"]["content"][0]["text"], "echo: hello");
    // a tool of a server the profile does not have, and a bare name
    for name in ["other_echo", "echo", "echo_nope"] {
        let out = c
            .call(4, "tools/call", json!({"name": name, "arguments": {}}))
            .await;
        assert!(
            out["error"]["code"].as_i64().is_some() || out["result"]["isError"] == true,
            "{name}: {out}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn answers_by_accept_json_or_sse() {
    let (gw, p) = gateway_with_echo().await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    let resp = c
        .post_with(
            r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
            &[("accept", "text/event-stream")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = resp.text().await.unwrap();
    let data = body
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("an SSE data line");
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v, json!({"jsonrpc":"2.0","id":9,"result":{}}));
    gw.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_spec_status_and_a_clear_message() {
    let (gw, p) = gateway_with_echo().await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);

    // before initialize: a request without a session id
    let r = c
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Mcp-Session-Id"));

    c.initialize().await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            b"{not json".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "batch",
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec(),
            400,
            "batches",
        ),
        ("not an object", b"42".to_vec(), 400, "JSON object"),
        (
            "no jsonrpc",
            br#"{"id":1,"method":"ping"}"#.to_vec(),
            400,
            "jsonrpc",
        ),
        ("over 4 MiB", vec![b' '; 4 * 1024 * 1024 + 1], 413, "limit"),
    ];
    for (what, body, status, needle) in cases {
        let r = c.post(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        let text = r.text().await.unwrap();
        assert!(text.contains(needle), "{what}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v["error"]["code"].is_i64(), "{what}: a JSON-RPC error body");
    }

    // unknown method: a JSON-RPC error in a 200
    let v = c.call(5, "no/such/method", json!({})).await;
    assert_eq!(v["error"]["code"], -32601);

    // wrong protocol version header
    let r = c
        .post_with(
            r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#,
            &[("mcp-protocol-version", "1999-01-01")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("MCP-Protocol-Version"));

    // wrong content type, unacceptable Accept
    let r = c
        .post_with("{}", &[("content-type", "text/plain")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .post_with(
            r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
            &[("accept", "text/html")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);

    // a foreign Origin
    let r = c
        .post_with(
            r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#,
            &[("origin", "https://evil.example")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // DNS rebinding: a page whose name now points at 127.0.0.1, with its own Origin and Host
    let r = c
        .post_with(
            r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
            &[
                ("origin", "http://evil.example.com"),
                ("host", "evil.example.com"),
            ],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("DNS-rebinding"));
    // a loopback name is fine, and so is any supported revision on the session
    let r = c
        .post_with(
            r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#,
            &[
                ("host", "localhost"),
                ("mcp-protocol-version", "2025-03-26"),
            ],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // unknown session id: 404 so the client re-initializes
    let mut stale = RawClient::new(gw.url("dev"), &p.token);
    stale.session = Some("not-a-session".into());
    let r = stale
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // and the gateway keeps serving
    let out = c
        .call(
            10,
            "tools/call",
            json!({"name":"echo_echo","arguments":{"message":"still here"}}),
        )
        .await;
    assert_eq!(out["result"]["content"][0]["text"], "echo: still here");
    gw.stop().await;
}

#[tokio::test]
async fn server_discover_names_the_sessionless_revision_and_needs_its_envelope() {
    let (gw, p) = gateway_with_echo().await;
    let c = RawClient::new(gw.url("dev"), &p.token);
    let discover = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#;
    // a probe at a handshake-era revision: -32022 with the revision spoken without a session
    // (the message says the others need initialize)
    let r = c
        .post_with(
            discover,
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "server/discover"),
            ],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32022);
    assert_eq!(
        v["error"]["data"]["supported"],
        json!(["2026-07-28"]),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after initialize"),
        "{v}"
    );
    // the stateless revision without its _meta envelope: -32602
    let r = c
        .post_with(
            discover,
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "server/discover"),
            ],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32602, "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn sessions_end_with_delete_and_get_opens_a_stream() {
    let (gw, p) = gateway_with_echo().await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    let sid = c.session.clone().unwrap();
    let get = |c: &RawClient| {
        c.http
            .get(&c.url)
            .bearer_auth(&c.token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", c.session.as_deref().unwrap())
    };
    let stream = get(&c).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // one GET stream per session
    assert_eq!(get(&c).send().await.unwrap().status(), 409);
    drop(stream);
    // a session is bound to its profile
    let other = gw.add_profile("other", &["echo"]).await;
    let mut foreign = RawClient::new(gw.url("other"), &other.token);
    foreign.session = Some(sid.clone());
    assert_eq!(
        foreign
            .post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let r = c
        .http
        .delete(&c.url)
        .bearer_auth(&c.token)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(
        c.post(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    gw.stop().await;
}

#[tokio::test]
async fn ten_concurrent_cold_requests_start_one_sandbox() {
    let (gw, p) = gateway_with_echo().await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    // initialize starts the profile's servers in the background; race it with ten calls
    c.initialize().await;
    let calls = (0..10).map(|i| {
        let c = &c;
        async move {
            c.call(
                100 + i,
                "tools/call",
                json!({"name":"echo_echo","arguments":{"message": format!("m{i}")}}),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["result"]["content"][0]["text"], format!("echo: m{i}"));
    }
    assert_eq!(gw.started(), 1, "one sandbox for one (profile, server)");
    gw.stop().await;
}

#[tokio::test]
async fn a_dying_server_gives_an_error_and_is_started_again() {
    let gw = TestGateway::start().await;
    gw.add_server("probe", "probe").await;
    let p = gw.add_profile("dev", &["probe"]).await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    let before = c
        .call(
            2,
            "tools/call",
            json!({"name":"probe_inspect","arguments":{}}),
        )
        .await;
    assert!(before["result"]["content"][0]["text"].is_string());
    let died = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        c.call(3, "tools/call", json!({"name":"probe_exit","arguments":{}})),
    )
    .await
    .expect("a dying server must not hang the client");
    assert_eq!(died["error"]["code"], -32000, "{died}");
    assert!(
        died["error"]["message"].as_str().unwrap().contains("probe"),
        "{died}"
    );
    let after = c
        .call(
            4,
            "tools/call",
            json!({"name":"probe_inspect","arguments":{}}),
        )
        .await;
    assert!(after["result"]["content"][0]["text"].is_string(), "{after}");
    assert_eq!(gw.started(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn a_disabled_tool_is_neither_listed_nor_callable() {
    let (gw, p) = gateway_with_echo().await;
    let profile = gw.store.profile_by_slug("dev").await.unwrap().unwrap();
    let echo = gw.store.server_by_name("echo").await.unwrap().unwrap();
    gw.store
        .set_tool_enabled(profile.id, echo.id, "echo", false)
        .await
        .unwrap();
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    let list = c.call(2, "tools/list", json!({})).await;
    assert_eq!(list["result"]["tools"], json!([]), "{list}");
    let out = c
        .call(
            3,
            "tools/call",
            json!({"name":"echo_echo","arguments":{"message":"x"}}),
        )
        .await;
    assert_eq!(out["error"]["code"], -32602, "{out}");

    // enabled again: visible once the profile cache is refreshed
    gw.store
        .set_tool_enabled(profile.id, echo.id, "echo", true)
        .await
        .unwrap();
    gw.gateway.state().profiles.invalidate("dev");
    let list = c.call(4, "tools/list", json!({})).await;
    assert_eq!(list["result"]["tools"][0]["name"], "echo_echo");
    gw.stop().await;
}

#[tokio::test]
async fn arguments_are_checked_against_the_input_schema_before_the_server_sees_them() {
    let (gw, p) = gateway_with_echo().await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    for (args, needle) in [(json!({"message": 5}), "string"), (json!({}), "message")] {
        let out = c
            .call(
                2,
                "tools/call",
                json!({"name":"echo_echo","arguments": args}),
            )
            .await;
        assert_eq!(out["result"]["isError"], true, "{out}");
        let text = out["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.contains("invalid arguments for echo_echo") && text.contains(needle),
            "{text}"
        );
    }
    gw.stop().await;
}
