//! A real third-party MCP server nobody here wrote (the reference `everything` server from npm,
//! on Node with its glibc libraries) packed by the test into an OCI image, installed by digest,
//! verified and extracted by the gateway, and used through `/mcp/p/<slug>` in a full sandbox.

mod common;

use common::{RawClient, TestGateway};
use gigmcp_oci::pack::{LayerCompression, PackArgs};
use gigmcp_store::{NewServer, ServerSource};
use gigmcp_testkit::rootfs;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_everything_server_runs_from_an_oci_image_through_the_gateway() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rootfs");
    rootfs::node_everything(&root);
    let layout = work.path().join("layout");
    let packed = gigmcp_oci::pack::run(&PackArgs {
        binary: None,
        dir: Some(root),
        entrypoint: vec![
            "node".into(),
            rootfs::EVERYTHING_ENTRY.into(),
            "stdio".into(),
        ],
        cmd: Vec::new(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        workdir: Some("/app".into()),
        layout: Some(layout.clone()),
        tag: Some("v1".into()),
        push: None,
        insecure: false,
        chunk_size: None,
        arch: gigmcp_oci::platform::goarch(std::env::consts::ARCH).to_owned(),
        compression: LayerCompression::Gzip,
    })
    .await
    .unwrap();

    let gw = TestGateway::start().await;
    let reference = format!("oci:{}@{}", layout.display(), packed.digest);
    gw.store
        .create_server(NewServer {
            name: "everything".into(),
            source: ServerSource::Image { reference },
        })
        .await
        .unwrap();
    let p = gw.add_profile("dev", &["everything"]).await;
    let mut c = RawClient::new(gw.url("dev"), &p.token);
    c.initialize().await;
    let list = c.call(2, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"everything_echo"), "{names:?}");
    let out = c
        .call(
            3,
            "tools/call",
            json!({"name": "everything_echo", "arguments": {"message": "through an image"}}),
        )
        .await;
    let text = out["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert!(text.contains("through an image"), "{text}");

    // a tampered digest is refused with a clear error, and nothing is started for it
    let bad = format!("oci:{}@sha256:{}", layout.display(), "0".repeat(64));
    gw.store
        .create_server(NewServer {
            name: "tampered".into(),
            source: ServerSource::Image { reference: bad },
        })
        .await
        .unwrap();
    let q = gw.add_profile("bad", &["tampered"]).await;
    let mut d = RawClient::new(gw.url("bad"), &q.token);
    d.initialize().await;
    let out = d
        .call(
            2,
            "tools/call",
            json!({"name": "tampered_echo", "arguments": {}}),
        )
        .await;
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("could not be started") && message.contains("pulling"),
        "{out}"
    );
    gw.stop().await;
}
