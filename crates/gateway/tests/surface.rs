//! Everything besides tools, through `/mcp/p/<slug>`: two copies of the `library` server in one
//! profile offer a tool, a resource and a prompt of the same names, which coexist under their
//! namespaces; reads, templates, prompts, completion, logging level and resource subscriptions
//! each reach the copy they name, and its notifications reach the client's GET stream.

mod common;

use common::{RawClient, TestGateway};
use serde_json::{Value, json};
use std::time::Duration;

async fn result(c: &RawClient, id: i64, method: &str, params: Value) -> Value {
    let out = c.call(id, method, params).await;
    assert!(out.get("error").is_none(), "{method}: {out}");
    out["result"].clone()
}

async fn whoami(c: &RawClient, server: &str) -> String {
    let out = result(
        c,
        100,
        "tools/call",
        json!({"name": format!("{server}_whoami"), "arguments": {}}),
    )
    .await;
    out["content"][0]["text"].as_str().unwrap().to_string()
}

/// Reads SSE `data:` messages from a GET stream until `want` of them matched `pred`.
async fn next_messages(
    stream: &mut reqwest::Response,
    want: usize,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut buf = String::new();
    let mut found = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while found.len() < want {
            let chunk = stream.chunk().await.unwrap().expect("stream open");
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                        && pred(&v)
                    {
                        found.push(v);
                    }
                }
            }
        }
    })
    .await
    .expect("notifications arrive");
    found
}

#[tokio::test]
async fn two_servers_resources_prompts_and_tools_coexist_under_their_namespaces() {
    let gw = TestGateway::start().await;
    gw.add_server("a", "library").await;
    gw.add_server("b", "library").await;
    gw.add_server("echo", "echo").await;
    let p = gw.add_profile("lib", &["a", "b", "echo"]).await;
    let mut c = RawClient::new(gw.url("lib"), &p.token);
    let init = c.initialize().await;
    // the union of what the servers declare
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["resources"]["subscribe"], true, "{init}");
    for cap in ["tools", "prompts", "completions", "logging"] {
        assert!(caps.get(cap).is_some(), "{cap} missing: {init}");
    }
    let (a, b) = (whoami(&c, "a").await, whoami(&c, "b").await);
    assert_ne!(a, b, "two separate processes");

    // resources: one list, namespaced, each read reaching its own server
    let list = result(&c, 2, "resources/list", json!({})).await;
    let mut uris: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    uris.sort();
    assert_eq!(uris, ["gigmcp://a/doc://readme", "gigmcp://b/doc://readme"]);
    for (server, id) in [("a", &a), ("b", &b)] {
        let uri = format!("gigmcp://{server}/doc://readme");
        let read = result(&c, 3, "resources/read", json!({"uri": uri})).await;
        assert_eq!(read["contents"][0]["uri"], uri.as_str());
        assert_eq!(read["contents"][0]["text"], format!("readme of {id}"));
    }
    let templates = result(&c, 4, "resources/templates/list", json!({})).await;
    let template = templates["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t["uriTemplate"].as_str().filter(|u| u.contains("//b/")))
        .unwrap()
        .to_string();
    assert_eq!(template, "gigmcp://b/doc://pages/{n}");
    let page = result(
        &c,
        5,
        "resources/read",
        json!({"uri": template.replace("{n}", "7")}),
    )
    .await;
    assert_eq!(page["contents"][0]["text"], format!("page 7 of {b}"));
    // a URI outside every namespace, or of a server not in the profile: a clear error
    for uri in ["doc://readme", "gigmcp://zzz/doc://readme"] {
        let out = c.call(6, "resources/read", json!({"uri": uri})).await;
        assert_eq!(out["error"]["code"], -32602, "{out}");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown resource"),
            "{out}"
        );
    }
    // the server's own "not found" passes through
    let out = c
        .call(
            7,
            "resources/read",
            json!({"uri": "gigmcp://a/doc://nothing"}),
        )
        .await;
    assert_eq!(out["error"]["code"], -32002, "{out}");
    // echo has no resources: not asked
    let out = c
        .call(8, "resources/read", json!({"uri": "gigmcp://echo/x://y"}))
        .await;
    assert_eq!(out["error"]["code"], -32601, "{out}");

    // a resource link in a tool result is readable through the gateway
    let link = result(
        &c,
        9,
        "tools/call",
        json!({"name": "b_link", "arguments": {}}),
    )
    .await;
    assert_eq!(link["content"][0]["uri"], "gigmcp://b/doc://readme");

    // prompts: namespaced like tools
    let prompts = result(&c, 10, "prompts/list", json!({})).await;
    let mut names: Vec<&str> = prompts["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a_greet", "b_greet"]);
    let got = result(
        &c,
        11,
        "prompts/get",
        json!({"name": "a_greet", "arguments": {"who": "ana"}}),
    )
    .await;
    assert_eq!(
        got["messages"][0]["content"]["text"],
        format!("Hello ana from {a}")
    );
    assert_eq!(
        got["messages"][1]["content"]["resource"]["uri"],
        "gigmcp://a/doc://readme"
    );

    // completion, by prompt and by resource template
    let done = result(
        &c,
        12,
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "b_greet"},
               "argument": {"name": "who", "value": "b"}}),
    )
    .await;
    assert_eq!(done["completion"]["values"], json!(["bob"]));
    let done = result(
        &c,
        13,
        "completion/complete",
        json!({"ref": {"type": "ref/resource", "uri": template},
               "argument": {"name": "n", "value": "c"}}),
    )
    .await;
    assert_eq!(done["completion"]["values"], json!(["carol"]));

    // logging level to every server; subscriptions; notifications on the GET stream
    result(&c, 14, "logging/setLevel", json!({"level": "debug"})).await;
    let mut stream = c.open_get_stream().await;
    result(
        &c,
        15,
        "resources/subscribe",
        json!({"uri": "gigmcp://a/doc://readme"}),
    )
    .await;
    // b is touched too, but nobody subscribed to b's readme
    result(&c, 16, "tools/call", json!({"name": "b_touch"})).await;
    result(&c, 17, "tools/call", json!({"name": "a_touch"})).await;
    let got = next_messages(&mut stream, 3, |v| {
        v["method"]
            .as_str()
            .is_some_and(|m| m.starts_with("notifications/"))
    })
    .await;
    let updated: Vec<&Value> = got
        .iter()
        .filter(|v| v["method"] == "notifications/resources/updated")
        .collect();
    assert_eq!(updated.len(), 1, "{got:?}");
    assert_eq!(updated[0]["params"]["uri"], "gigmcp://a/doc://readme");
    let mut loggers: Vec<&str> = got
        .iter()
        .filter(|v| v["method"] == "notifications/message")
        .map(|v| v["params"]["logger"].as_str().unwrap())
        .collect();
    loggers.sort();
    assert_eq!(loggers, ["a/books", "b/books"], "{got:?}");
    assert!(
        got.iter()
            .any(|v| v["params"]["data"] == "touched at level debug"),
        "{got:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_stuck_server_is_left_out_of_lists_without_holding_up_the_others() {
    let gw = TestGateway::start_with(|raw| raw.call_timeout_secs = 1).await;
    gw.add_server("lib", "library").await;
    gw.add_server("mute", "mute").await;
    let p = gw.add_profile("mixed", &["lib", "mute"]).await;
    let mut c = RawClient::new(gw.url("mixed"), &p.token);
    c.initialize().await;
    let started = std::time::Instant::now();
    let tools = result(&c, 2, "tools/list", json!({})).await;
    let prompts = result(&c, 3, "prompts/list", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"lib_whoami"), "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with("mute_")), "{names:?}");
    assert_eq!(prompts["prompts"][0]["name"], "lib_greet");
    // and a call to it says why, instead of hanging
    let out = c
        .call(
            4,
            "tools/call",
            json!({"name": "mute_anything", "arguments": {}}),
        )
        .await;
    assert!(out.get("error").is_some(), "{out}");
    gw.stop().await;
}

#[tokio::test]
async fn notifications_sent_before_the_get_stream_opens_wait_for_it() {
    let gw = TestGateway::start().await;
    gw.add_server("lib", "library").await;
    let p = gw.add_profile("early", &["lib"]).await;
    let mut c = RawClient::new(gw.url("early"), &p.token);
    c.initialize().await;
    result(
        &c,
        2,
        "resources/subscribe",
        json!({"uri": "gigmcp://lib/doc://readme"}),
    )
    .await;
    result(&c, 3, "tools/call", json!({"name": "lib_touch"})).await;
    let mut stream = c.open_get_stream().await;
    let got = next_messages(&mut stream, 1, |v| {
        v["method"] == "notifications/resources/updated"
    })
    .await;
    assert_eq!(got[0]["params"]["uri"], "gigmcp://lib/doc://readme");
    gw.stop().await;
}
