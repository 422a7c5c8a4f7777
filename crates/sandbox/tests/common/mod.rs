//! Shared helpers for the sandbox integration tests: runtimes with their own uid range, address
//! pool, link prefix and cgroup (so tests running in parallel never touch each other's), and a
//! tiny MCP client over the sandbox's stdio.
#![allow(dead_code)]

use gigmcp_sandbox::{
    Ipv4Pool, NetworkConfig, ProgramSource, RuntimeConfig, Sandbox, SandboxRuntime, SandboxSpec,
};
use serde_json::{Value, json};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn bin_path(name: &str) -> PathBuf {
    gigmcp_testkit::static_bin("gigmcp-test-servers", name)
}

pub fn bootstrap() -> PathBuf {
    gigmcp_testkit::static_bin("gigmcp-bootstrap", "gigmcp-bootstrap")
}

/// A config unique to this test (by `test_id`, 0..=99, unique per test binary + `binary_id`).
pub fn config(binary_id: u32, network: bool, allowed_tcp_ports: Vec<u16>) -> RuntimeConfig {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(n < 16, "too many runtimes in one test binary");
    let key = binary_id * 16 + n; // 0..=255
    let mut c = RuntimeConfig::new(bootstrap());
    c.host_uid_base = 1_900_000_000 + key * 1024;
    c.max_sandboxes = 1024;
    c.cgroup_name = format!("gigmcp-test-{key}");
    if network {
        c.network = Some(NetworkConfig {
            pool: format!("10.89.{key}.0/24").parse::<Ipv4Pool>().unwrap(),
            link_prefix: format!("gt{}", letters(key)),
            allowed_tcp_ports,
        });
    }
    c
}

fn letters(mut k: u32) -> String {
    let mut s = String::new();
    for _ in 0..2 {
        s.push((b'a' + (k % 26) as u8) as char);
        k /= 26;
    }
    s
}

pub fn static_spec(name: &str, server: &str) -> SandboxSpec {
    SandboxSpec {
        name: name.into(),
        program: ProgramSource::StaticBinary(bin_path(server)),
        args: vec![],
        env: vec![("GIG_TEST".into(), "1".into())],
        limits: None,
        files: Vec::new(),
    }
}

/// A line-oriented MCP client over a sandbox's stdio.
pub struct Client {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Client {
    /// Takes the pipes of `sb`; returns the client and the handle (keep it alive).
    pub async fn start(sb: Sandbox) -> (Self, gigmcp_sandbox::SandboxHandle) {
        let Sandbox {
            stdin,
            stdout,
            stderr,
            handle,
        } = sb;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                eprintln!("[sandbox stderr] {l}");
            }
        });
        let mut c = Self {
            stdin,
            stdout: BufReader::new(stdout),
            next_id: 1,
        };
        let init = c
            .request(
                "initialize",
                json!({"protocolVersion":"2025-11-25","capabilities":{},
                       "clientInfo":{"name":"sandbox-test","version":"0"}}),
            )
            .await
            .expect("initialize answered");
        assert!(init["result"]["protocolVersion"].is_string(), "{init}");
        c.notify("notifications/initialized").await;
        (c, handle)
    }

    pub async fn notify(&mut self, method: &str) {
        let msg = json!({"jsonrpc":"2.0","method":method});
        self.stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Sends a request; `None` if the server went away or took longer than 30 s.
    pub async fn request(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        self.stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .ok()?;
        let read = async {
            loop {
                let mut line = String::new();
                if self.stdout.read_line(&mut line).await.ok()? == 0 {
                    return None;
                }
                let v: Value = serde_json::from_str(&line).ok()?;
                if v["id"] == json!(id) {
                    return Some(v);
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .ok()
            .flatten()
    }

    /// Calls a tool and returns its text and isError flag.
    pub async fn call(&mut self, tool: &str, args: Value) -> Option<(String, bool)> {
        let v = self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await?;
        let r = &v["result"];
        Some((
            r["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            r["isError"].as_bool().unwrap_or(false),
        ))
    }
}

pub async fn runtime(c: RuntimeConfig) -> SandboxRuntime {
    SandboxRuntime::new(c).await.expect("sandbox runtime")
}
