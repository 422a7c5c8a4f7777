//! Dynamic runtimes in full-rootfs sandboxes, under the same bootstrap, Landlock and seccomp as
//! any server: a real third-party server nobody here wrote (the reference `everything` server
//! from npm, on Node), and a Python server that uses threads and a subprocess (glibc's clone3 →
//! clone fallback, fork/exec).

mod common;

use common::*;
use gigmcp_sandbox::{ProgramSource, SandboxSpec};
use gigmcp_testkit::rootfs;
use serde_json::json;

const BINARY_ID: u32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_everything_server_runs_in_a_rootfs_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    rootfs::node_everything(dir.path());
    let rt = runtime(config(BINARY_ID, true, vec![])).await;
    let spec = SandboxSpec {
        name: "everything".into(),
        program: ProgramSource::Rootfs {
            dir: dir.path().to_path_buf(),
            entrypoint: vec!["node".into(), rootfs::EVERYTHING_ENTRY.into()],
            workdir: Some("/app".into()),
        },
        args: vec!["stdio".into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        limits: None,
    };
    let (mut c, handle) = Client::start(rt.spawn(&spec).await.unwrap()).await;
    let tools = c
        .request("tools/list", json!({}))
        .await
        .expect("tools/list");
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{tools}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"echo"), "{names:?}");
    let (text, is_error) = c.call("echo", json!({"message": "hi"})).await.unwrap();
    assert!(!is_error && text.contains("hi"), "{text}");
    handle.kill();
    handle.wait().await;
}

const PY_SERVER: &str = r#"
import json, subprocess, sys, threading

def work():
    box = []
    t = threading.Thread(target=lambda: box.append(sum(range(1000))))
    t.start(); t.join()
    out = subprocess.run([sys.executable, "-c", "print(6*7)"], capture_output=True, text=True)
    return f"thread={box[0]} child={out.stdout.strip()}"

for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    m = msg["method"]
    if m == "initialize":
        result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "py", "version": "0"}}
    elif m == "tools/list":
        result = {"tools": [{"name": "work", "inputSchema": {"type": "object"}}]}
    elif m == "tools/call":
        result = {"content": [{"type": "text", "text": work()}]}
    else:
        result = {}
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_server_with_threads_and_subprocesses_runs_in_a_rootfs_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    rootfs::python(dir.path(), PY_SERVER);
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let spec = SandboxSpec {
        name: "python".into(),
        program: ProgramSource::Rootfs {
            dir: dir.path().to_path_buf(),
            entrypoint: vec!["python3.11".into(), "-u".into(), "/app/server.py".into()],
            workdir: None,
        },
        args: vec![],
        env: vec![("PATH".into(), "/usr/bin".into())],
        limits: None,
    };
    let (mut c, _handle) = Client::start(rt.spawn(&spec).await.unwrap()).await;
    let (text, is_error) = c.call("work", json!({})).await.expect("work answered");
    assert!(!is_error);
    assert_eq!(text, "thread=499500 child=42");
}
