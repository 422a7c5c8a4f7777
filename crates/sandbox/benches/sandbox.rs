//! Sandbox figures (a bench binary, not a timed test):
//! - cold start: `spawn` → `initialize` → first `tools/list` answer, static echo server, full
//!   sandbox (userns/pidns/netns + veth, cgroup, Landlock, seccomp): median and p90 of 50;
//! - idle memory per sandbox (RSS of bwrap + bootstrap-turned-server) and 200 sandboxes started
//!   at once (wall time, total RSS).
//!
//! Run as root: `cargo bench -p gigmcp-sandbox --bench sandbox`.

use gigmcp_testkit::rootfs;

use gigmcp_sandbox::{
    NetworkConfig, ProgramSource, RuntimeConfig, Sandbox, SandboxRuntime, SandboxSpec,
};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn first_tools_list(sb: Sandbox) -> (Duration, Sandbox) {
    let t = Instant::now();
    let Sandbox {
        mut stdin,
        stdout,
        stderr,
        handle,
    } = sb;
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"0"}}});
    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}});
    let msg = format!(
        "{init}\n{}\n{list}\n",
        json!({"jsonrpc":"2.0","method":"notifications/initialized"})
    );
    stdin.write_all(msg.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(lines.read_line(&mut line).await.unwrap() > 0, "server died");
        if line.contains("\"id\":2") {
            break;
        }
    }
    (
        t.elapsed(),
        Sandbox {
            stdin,
            stdout: lines.into_inner(),
            stderr,
            handle,
        },
    )
}

/// `field` (e.g. `Rss`, `Pss`) of a process in KiB, from smaps_rollup.
fn mem_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// bwrap supervisor + every process below it (the sandbox's init, the server).
fn tree_kib(root: u32, field: &str) -> u64 {
    let mut total = mem_kib(root, field);
    if let Ok(children) = std::fs::read_to_string(format!("/proc/{root}/task/{root}/children")) {
        for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            total += tree_kib(c, field);
        }
    }
    total
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
    let mut cfg = RuntimeConfig::new(gigmcp_testkit::static_bin(
        "gigmcp-bootstrap",
        "gigmcp-bootstrap",
    ));
    cfg.cgroup_name = "gigmcp-bench".into();
    cfg.host_uid_base = 1_950_000_000;
    cfg.network = Some(NetworkConfig {
        pool: "10.87.0.0/16".parse().unwrap(),
        link_prefix: "gigb".into(),
        allowed_tcp_ports: vec![3128],
    });
    let rt = SandboxRuntime::new(cfg).await.expect("runtime");
    let spec = SandboxSpec {
        name: "echo".into(),
        program: ProgramSource::StaticBinary(echo),
        args: vec![],
        env: vec![],
        limits: None,
        files: Vec::new(),
    };

    cold_start(
        "full sandbox: netns + veth, cgroup, Landlock, seccomp",
        &rt,
        &spec,
    )
    .await;
    {
        let mut c = rt.config().clone();
        c.network = None;
        c.cgroup_name = "gigmcp-bench-nonet".into();
        c.host_uid_base = 1_960_000_000;
        let rt2 = SandboxRuntime::new(c).await.expect("runtime");
        cold_start("same without veth (loopback only)", &rt2, &spec).await;
    }
    let node_root = tempfile::tempdir().unwrap();
    rootfs::node_everything(node_root.path());
    let node = SandboxSpec {
        name: "everything".into(),
        program: ProgramSource::Rootfs {
            dir: node_root.path().to_path_buf(),
            entrypoint: vec!["node".into(), rootfs::EVERYTHING_ENTRY.into()],
            workdir: Some("/app".into()),
        },
        args: vec!["stdio".into()],
        env: vec![("PATH".into(), "/usr/bin".into())],
        limits: None,
        files: Vec::new(),
    };
    cold_start_n(
        "npm server-everything on Node 20, rootfs, full sandbox",
        &rt,
        &node,
        15,
    )
    .await;
    many(&rt, &spec, 200).await;
}

async fn cold_start(label: &str, rt: &SandboxRuntime, spec: &SandboxSpec) {
    cold_start_n(label, rt, spec, 50).await
}

async fn cold_start_n(label: &str, rt: &SandboxRuntime, spec: &SandboxSpec, n: usize) {
    let mut cold = Vec::new();
    let mut spawn_only = Vec::new();
    for i in 0..n + 5 {
        let t = Instant::now();
        let sb = rt.spawn(spec).await.expect("spawn");
        let spawned = t.elapsed();
        let (_, sb) = first_tools_list(sb).await;
        if i >= 5 {
            cold.push(t.elapsed());
            spawn_only.push(spawned);
        }
        sb.kill();
        sb.wait().await;
    }
    cold.sort();
    spawn_only.sort();
    println!(
        "cold start to first tools/list ({label}, n={}): median {:.1} ms, p90 {:.1} ms \
         (spawn alone: median {:.1} ms)",
        cold.len(),
        pct(&cold, 0.5).as_secs_f64() * 1e3,
        pct(&cold, 0.9).as_secs_f64() * 1e3,
        pct(&spawn_only, 0.5).as_secs_f64() * 1e3,
    );
}

async fn many(rt: &SandboxRuntime, spec: &SandboxSpec, n: usize) {
    let before = std::fs::read_to_string("/proc/meminfo").unwrap();
    let avail = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let t = Instant::now();
    let starts = (0..n).map(|_| {
        let rt = rt.clone();
        let spec = spec.clone();
        tokio::spawn(async move {
            let sb = rt.spawn(&spec).await.expect("spawn");
            first_tools_list(sb).await.1
        })
    });
    let mut all = Vec::new();
    for s in starts.collect::<Vec<_>>() {
        all.push(s.await.unwrap());
    }
    let wall = t.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut rss: Vec<u64> = all.iter().map(|s| tree_kib(s.pid(), "Rss")).collect();
    let mut pss: Vec<u64> = all.iter().map(|s| tree_kib(s.pid(), "Pss")).collect();
    rss.sort();
    pss.sort();
    let after = std::fs::read_to_string("/proc/meminfo").unwrap();
    println!(
        "{n} sandboxes started at once: all answered tools/list after {:.2} s; per sandbox \
         (bwrap + its init + server): RSS median {} KiB, PSS median {} KiB, PSS total {:.1} MiB; \
         MemAvailable {:.1} MiB lower than before",
        wall.as_secs_f64(),
        rss[n / 2],
        pss[n / 2],
        pss.iter().sum::<u64>() as f64 / 1024.0,
        (avail(&before) as f64 - avail(&after) as f64) / 1024.0,
    );
    let t = Instant::now();
    rt.shutdown().await;
    println!(
        "shutdown of {n} sandboxes (processes, links, cgroups removed): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    drop(all);
}
