//! Dynamic runtimes in full-rootfs sandboxes, under the same bootstrap, Landlock and seccomp as
//! any server: a real third-party server nobody here wrote (the reference `everything` server
//! from npm, on Node), and a Python server that uses threads and a subprocess (glibc's clone3 →
//! clone fallback, fork/exec).

mod common;

use common::*;
use gigmcp_sandbox::{HOST_ADDR_TOKEN, ProgramSource, SandboxFile, SandboxSpec};
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
        files: Vec::new(),
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
        files: Vec::new(),
    };
    let (mut c, _handle) = Client::start(rt.spawn(&spec).await.unwrap()).await;
    let (text, is_error) = c.call("work", json!({})).await.expect("work answered");
    assert!(!is_error);
    assert_eq!(text, "thread=499500 child=42");
}

const PY_READER: &str = r#"
import json, sys

for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    m = msg["method"]
    if m == "initialize":
        result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "py", "version": "0"}}
    elif m == "tools/call":
        path = msg["params"]["arguments"]["path"]
        try:
            with open(path) as f:
                text = f.read()
            try:
                open(path, "w")
                text += "|WRITABLE"
            except OSError:
                pass
        except OSError as e:
            text = f"error: {e}"
        result = {"content": [{"type": "text", "text": text}]}
    else:
        result = {}
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
"#;

fn reader_spec(dir: &std::path::Path, files: Vec<SandboxFile>) -> SandboxSpec {
    SandboxSpec {
        name: "reader".into(),
        program: ProgramSource::Rootfs {
            dir: dir.to_path_buf(),
            entrypoint: vec!["python3.11".into(), "-u".into(), "/app/server.py".into()],
            workdir: None,
        },
        args: vec![],
        env: vec![("PATH".into(), "/usr/bin".into())],
        limits: None,
        files,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_sandbox_files_mount_read_only_over_the_shared_image_root() {
    let dir = tempfile::tempdir().unwrap();
    rootfs::python(dir.path(), PY_READER);
    // the image's own resolv.conf, which each sandbox's copy must cover
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/resolv.conf"), "nameserver 8.8.8.8\n").unwrap();
    let rt = runtime(config(BINARY_ID, true, vec![])).await;
    let files = vec![
        SandboxFile::new(
            "/etc/resolv.conf",
            format!("nameserver {HOST_ADDR_TOKEN}\noptions use-vc\n"),
        ),
        // a directory the image lacks is created in the sandbox's own root
        SandboxFile::new("/gig/ca.pem", b"CA".to_vec()),
    ];
    let (mut c, handle) =
        Client::start(rt.spawn(&reader_spec(dir.path(), files)).await.unwrap()).await;
    let host = handle.addresses().expect("networked").host;
    let (text, _) = c
        .call("read", json!({"path": "/etc/resolv.conf"}))
        .await
        .unwrap();
    assert_eq!(text, format!("nameserver {host}\noptions use-vc\n"));
    let (text, _) = c
        .call("read", json!({"path": "/gig/ca.pem"}))
        .await
        .unwrap();
    assert_eq!(text, "CA");
    // the shared image is untouched
    assert_eq!(
        std::fs::read_to_string(dir.path().join("etc/resolv.conf")).unwrap(),
        "nameserver 8.8.8.8\n"
    );
    handle.kill();
    handle.wait().await;

    // a file whose directory comes from the read-only image needs a mount point there
    let err = rt
        .spawn(&reader_spec(
            dir.path(),
            vec![SandboxFile::new("/etc/gigmcp/egress-ca.pem", b"x".to_vec())],
        ))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("/etc/gigmcp/egress-ca.pem") && err.contains("mount"),
        "{err}"
    );
}
