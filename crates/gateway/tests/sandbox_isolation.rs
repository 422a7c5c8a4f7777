//! What a server sees from inside its sandbox, asked through the gateway with the `probe`
//! test server: its own namespaces, only `lo`, no host files, none of the gateway's environment.

mod common;

use common::{RawClient, TestGateway};
use serde_json::{Value, json};

fn own_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[tokio::test]
async fn the_server_runs_in_its_own_namespaces_with_nothing_of_the_host() {
    let gw = TestGateway::start().await;
    gw.add_server("probe", "probe").await;
    let p = gw.add_profile("dev", &["probe"]).await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    let out = c
        .call(
            2,
            "tools/call",
            json!({"name":"probe_inspect","arguments":{}}),
        )
        .await;
    let report: Value =
        serde_json::from_str(out["result"]["content"][0]["text"].as_str().unwrap()).unwrap();

    for kind in ["pid", "net", "mnt", "user", "ipc", "uts", "cgroup"] {
        let inside = report["ns"][kind]
            .as_str()
            .unwrap_or_else(|| panic!("probe reports no {kind} ns: {report}"));
        assert_ne!(
            inside,
            own_ns(kind),
            "{kind} namespace is shared with the gateway"
        );
    }
    assert_eq!(
        report["interfaces"],
        json!(["lo"]),
        "only loopback in the sandbox's netns"
    );
    assert_eq!(report["etc_hostname_visible"], false);
    // Its own pid namespace: it sees only the sandbox's few processes, not the host's.
    let pids = report["proc_pids"].as_array().unwrap();
    assert!(pids.len() <= 3, "sees host processes: {pids:?}");
    assert!(
        !pids.contains(&json!(std::process::id())),
        "sees the gateway's pid"
    );
    // Nothing of the gateway's environment (the test process is the gateway's process).
    let env: Vec<&str> = report["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        std::env::var("PATH").is_ok(),
        "the test needs a real environment"
    );
    for (k, v) in std::env::vars() {
        assert!(
            !env.contains(&format!("{k}={v}").as_str()),
            "gateway variable {k} leaked: {env:?}"
        );
    }
    assert!(
        env.len() <= 1,
        "the sandbox environment should be (almost) empty: {env:?}"
    );
    // An empty root with only what the server needs.
    let root: Vec<&str> = report["root_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for host_dir in ["etc", "home", "root", "usr", "var"] {
        assert!(
            !root.contains(&host_dir),
            "host /{host_dir} visible: {root:?}"
        );
    }
    gw.stop().await;
}
