//! Meta-tools mode on a profile of realistic tools (the `catalog` test server serves 200+ tools
//! built from the registry corpus's toolspecs): search ranks the right tool first, disabled
//! tools never appear, load_tools changes the list, call_tool calls.

mod common;

use common::{RawClient, TestGateway};
use serde_json::{Value, json};

async fn meta_gateway() -> (TestGateway, RawClient) {
    let gw = TestGateway::start().await;
    gw.add_server("catalog", "catalog").await;
    gw.add_server("echo", "echo").await;
    let p = gw.add_profile("meta", &["catalog", "echo"]).await;
    gw.store.set_profile_meta_tools("meta", true).await.unwrap();
    let profile = gw.store.profile_by_slug("meta").await.unwrap().unwrap();
    let catalog = gw.store.server_by_name("catalog").await.unwrap().unwrap();
    gw.store
        .set_tool_enabled(profile.id, catalog.id, "todoist_create_task", false)
        .await
        .unwrap();
    let mut c = RawClient::new(gw.url("meta"), &p.token);
    c.initialize().await;
    (gw, c)
}

fn result_json(v: &Value) -> Value {
    assert_ne!(v["result"]["isError"], true, "{v}");
    v["result"]["structuredContent"].clone()
}

async fn search(c: &RawClient, query: &str) -> Vec<String> {
    let v = c
        .call(
            10,
            "tools/call",
            json!({"name":"search_tools","arguments":{"query": query, "limit": 50}}),
        )
        .await;
    result_json(&v)["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn search_ranks_the_right_tool_first_among_hundreds_and_hides_disabled_ones() {
    let (gw, c) = meta_gateway().await;
    let list = c.call(2, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["search_tools", "load_tools", "call_tool"],
        "meta mode lists only the meta-tools"
    );

    // the profile really has hundreds of tools behind the meta-tools
    let all = search(&c, "list get create update delete").await;
    assert!(!all.is_empty());
    let everything = gw
        .gateway
        .state()
        .profiles
        .get(&gw.store, "meta")
        .await
        .unwrap()
        .unwrap();
    let permitted = gw.gateway.router().permitted_tools(&everything).await;
    assert!(
        permitted.len() >= 200,
        "catalog serves {} tools; is the registry corpus beside the repo?",
        permitted.len()
    );

    for (query, expected) in [
        ("create a task in asana", "catalog_asana_create_task"),
        (
            "post a message to a chatwork room",
            "catalog_chatwork_post_message",
        ),
        (
            "create a new customer in stripe",
            "catalog_stripe_create_customer",
        ),
        ("open a jira issue", "catalog_jira_create_issue"),
        ("echo some text back", "echo_echo"),
    ] {
        let hits = search(&c, query).await;
        assert_eq!(
            hits.first().map(String::as_str),
            Some(expected),
            "{query}: {hits:?}"
        );
    }
    // a disabled tool is never found, however precisely asked for
    let hits = search(&c, "todoist create task").await;
    assert!(
        !hits.iter().any(|h| h == "catalog_todoist_create_task"),
        "{hits:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn load_tools_adds_to_the_list_and_call_tool_calls() {
    let (gw, c) = meta_gateway().await;
    let v = c
        .call(
            3,
            "tools/call",
            json!({"name":"load_tools","arguments":{"names":["echo_echo"]}}),
        )
        .await;
    assert_eq!(result_json(&v)["loaded"], json!(["echo_echo"]));
    let list = c.call(4, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["search_tools", "load_tools", "call_tool", "echo_echo"]
    );

    // disabled or unknown tools cannot be loaded or called
    let v = c
        .call(
            5,
            "tools/call",
            json!({"name":"load_tools","arguments":{"names":["catalog_todoist_create_task"]}}),
        )
        .await;
    assert_eq!(v["result"]["isError"], true, "{v}");
    let v = c.call(6, "tools/call", json!({"name":"call_tool","arguments":{"name":"catalog_todoist_create_task","arguments":{}}})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");

    let v = c.call(7, "tools/call", json!({"name":"call_tool","arguments":{"name":"echo_echo","arguments":{"message":"via meta"}}})).await;
    assert_eq!(v["result"]["content"][0]["text"], "echo: via meta");
    let v = c.call(8, "tools/call", json!({"name":"call_tool","arguments":{"name":"catalog_asana_get_task","arguments":{"task_gid":"1"}}})).await;
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("called asana_get_task"),
        "{v}"
    );
    gw.stop().await;
}
