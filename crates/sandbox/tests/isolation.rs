//! The walking-skeleton guarantees, checked from inside with the `probe` server.

mod common;

use common::*;
use serde_json::{Value, json};

const BINARY_ID: u32 = 0;

fn own_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_runs_in_its_own_namespaces_with_nothing_of_the_host() {
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let sb = rt.spawn(&static_spec("probe", "probe")).await.unwrap();
    let (mut c, handle) = Client::start(sb).await;
    let (text, is_error) = c
        .call("inspect", json!({}))
        .await
        .expect("inspect answered");
    assert!(!is_error, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    for kind in ["pid", "net", "mnt", "user", "ipc", "uts", "cgroup"] {
        assert_ne!(
            report["ns"][kind].as_str().unwrap_or_default(),
            own_ns(kind),
            "{kind} namespace is shared with the host"
        );
        assert!(
            report["ns"][kind].is_string(),
            "{kind} ns unreadable: {report}"
        );
    }
    assert_eq!(report["interfaces"], json!(["lo"]), "{report}");
    assert_eq!(report["etc_hostname_visible"], json!(false));
    assert_eq!(
        report["uid"].as_str().unwrap().split_whitespace().next(),
        Some("65534")
    );
    // Only the spec's environment (and bwrap's PWD of the working directory), nothing of ours
    // (PATH, HOME, CARGO_*, ...).
    assert_eq!(report["env"], json!(["GIG_TEST=1", "PWD=/"]), "{report}");
    // Its own pid namespace: it sees only the sandbox's few processes.
    let pids = report["proc_pids"].as_array().unwrap();
    assert!(pids.len() <= 3, "sees {} processes: {pids:?}", pids.len());
    // An empty root: only what the runtime put there.
    let mut root: Vec<String> = report["root_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    root.sort();
    assert_eq!(root, [".gig", "dev", "proc", "tmp"], "{report}");
    handle.kill();
    assert_eq!(handle.wait().await, gigmcp_sandbox::ExitReason::Killed);
    assert_eq!(rt.running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_exits_is_reported_and_cleaned_up() {
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let sb = rt.spawn(&static_spec("probe-exit", "probe")).await.unwrap();
    let (mut c, handle) = Client::start(sb).await;
    assert!(c.call("exit", json!({})).await.is_none());
    assert_eq!(handle.wait().await, gigmcp_sandbox::ExitReason::Exited(3));
    assert_eq!(rt.running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bwrap_is_a_clear_error() {
    let mut c = config(BINARY_ID, false, vec![]);
    c.bwrap = "/nonexistent/bwrap".into();
    let err = gigmcp_sandbox::SandboxRuntime::new(c)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("apt-get install -y bubblewrap"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_cannot_share_uids_or_cgroups() {
    let c = config(BINARY_ID, false, vec![]);
    let first = runtime(c.clone()).await;
    let err = gigmcp_sandbox::SandboxRuntime::new(c.clone())
        .await
        .err()
        .expect("second runtime with the same identity refused")
        .to_string();
    assert!(err.contains("share one runtime"), "{err}");
    drop(first);
    runtime(c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binaries_and_images_under_a_private_directory_run() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    // As a checkout in root's home (0700 on Debian) or a 0700 data dir holding secrets would
    // be: nothing above the files is traversable by the sandbox's user.
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("home");
    std::fs::create_dir(&private).unwrap();
    let bootstrap = private.join("gigmcp-bootstrap");
    std::fs::copy(common::bootstrap(), &bootstrap).unwrap();
    let bin = private.join("echo");
    std::fs::copy(bin_path("echo"), &bin).unwrap();
    let image = private.join("rootfs");
    std::fs::create_dir_all(image.join("bin")).unwrap();
    std::fs::copy(bin_path("echo"), image.join("bin/echo")).unwrap();
    for p in [&image, &image.join("bin")] {
        mode(p, 0o755);
    }
    for p in [&bootstrap, &bin, &image.join("bin/echo")] {
        mode(p, 0o755);
    }
    mode(&private, 0o700);
    let mut c = config(BINARY_ID, false, vec![]);
    c.bootstrap = bootstrap;
    let rt = runtime(c).await;
    let mut spec = static_spec("private", "echo");
    spec.program = gigmcp_sandbox::ProgramSource::StaticBinary(bin.clone());
    let sb = rt
        .spawn(&spec)
        .await
        .expect("a private parent does not matter");
    let (mut client, h) = Client::start(sb).await;
    let (text, _) = client.call("echo", json!({"message": "hi"})).await.unwrap();
    assert!(text.contains("hi"), "{text}");
    h.kill();
    h.wait().await;
    let mut image_spec = static_spec("private-image", "echo");
    image_spec.program = gigmcp_sandbox::ProgramSource::Rootfs {
        dir: image.clone(),
        entrypoint: vec!["/bin/echo".into()],
        workdir: None,
    };
    let sb = rt
        .spawn(&image_spec)
        .await
        .expect("a private image cache works");
    let (mut client, h) = Client::start(sb).await;
    let (text, _) = client
        .call("echo", json!({"message": "image"}))
        .await
        .unwrap();
    assert!(text.contains("image"), "{text}");
    h.kill();
    h.wait().await;
    // The file itself must still be usable by "other": the error says so and names it.
    mode(&bin, 0o700);
    let err = rt.spawn(&spec).await.err().expect("refused").to_string();
    assert!(
        err.contains("o+x") && err.contains(&bin.display().to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_entrypoint_exits_127_and_frees_everything() {
    use std::os::unix::fs::PermissionsExt;
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("usr")).unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = gigmcp_sandbox::SandboxSpec {
        name: "missing".into(),
        program: gigmcp_sandbox::ProgramSource::Rootfs {
            dir: root.path().to_path_buf(),
            entrypoint: vec!["no-such-server".into()],
            workdir: None,
        },
        args: vec![],
        env: vec![],
        limits: None,
        files: Vec::new(),
    };
    let sb = rt.spawn(&spec).await.unwrap();
    assert_eq!(sb.wait().await, gigmcp_sandbox::ExitReason::Exited(127));
    assert_eq!(rt.running(), 0);
}
