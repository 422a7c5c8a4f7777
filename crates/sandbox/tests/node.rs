//! A real third-party server nobody here wrote — the reference `everything` server from npm —
//! runs in a full-rootfs sandbox (Node + its glibc libraries, copied from the host), with the
//! same bootstrap, Landlock and seccomp as any other server.

mod common;

use common::*;
use gigmcp_sandbox::{ProgramSource, SandboxSpec};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BINARY_ID: u32 = 2;
const PACKAGE: &str = "@modelcontextprotocol/server-everything@2026.8.31";

/// `npm install`s the server once per checkout into `target/test-npm/everything`.
fn everything_modules() -> PathBuf {
    let dir = gigmcp_testkit::workspace_root().join("target/test-npm/everything");
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if !entry.is_file() {
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("npm")
            .current_dir(&dir)
            .args(["install", "--no-audit", "--no-fund", "--no-save", PACKAGE])
            .status()
            .expect("npm must be installed (apt-get install -y nodejs npm)");
        assert!(st.success(), "npm install {PACKAGE} failed");
    }
    dir.join("node_modules")
}

fn copy_into(root: &Path, host_path: &Path) {
    let dest = root.join(host_path.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(host_path, &dest).unwrap();
}

/// A minimal image rootfs: /usr/bin/node, the libraries `ldd` names, and the app.
fn node_rootfs(root: &Path) {
    let node = std::fs::canonicalize("/usr/bin/node").unwrap();
    copy_into(root, &node);
    if node != Path::new("/usr/bin/node") {
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink(&node, root.join("usr/bin/node")).unwrap();
    }
    let ldd = Command::new("ldd").arg(&node).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        if let Some(p) = path {
            copy_into(root, &p);
        }
    }
    std::fs::create_dir_all(root.join("app")).unwrap();
    let st = Command::new("cp")
        .arg("-r")
        .arg(everything_modules())
        .arg(root.join("app/node_modules"))
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(root)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_everything_server_runs_in_a_rootfs_sandbox() {
    let rootfs = tempfile::tempdir().unwrap();
    node_rootfs(rootfs.path());
    let rt = runtime(config(BINARY_ID, true, vec![])).await;
    let spec = SandboxSpec {
        name: "everything".into(),
        program: ProgramSource::Rootfs {
            dir: rootfs.path().to_path_buf(),
            entrypoint: vec![
                "node".into(),
                "/app/node_modules/@modelcontextprotocol/server-everything/dist/index.js".into(),
            ],
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
