//! Toolpack engine figures (a bench binary, not a timed test), for the largest corpus toolspec
//! (`peopledatalabs`, 9 tools):
//!
//! 1. start → first `tools/list` answer (spawn, `initialize`, `notifications/initialized`,
//!    `tools/list` over stdio), median and p90, side by side in one loop:
//!    (a) the engine process alone; (b) the engine in a full sandbox as the gateway runs it
//!    (networked runtime, the manifest and toolspec as JSON sandbox files under
//!    `/etc/gigmcp/`, the egress CA, `resolv.conf`, the gateway's environment) — root only;
//!    (c) a server on the official Python MCP SDK (`mcp`, low-level `Server` over stdio)
//!    registering the same tools, taken from the engine's own `tools/list` answer;
//! 2. PSS (and RSS) of each after its first `tools/list`, one instance alive at a time (the
//!    sandbox as its whole process tree: bwrap, the sandbox init, the engine);
//! 3. warm `tools/call` latency: the engine (unsandboxed) calling a mock HTTPS upstream through
//!    the real `gigmcp-proxy` (CONNECT, the proxy's CA, the sealed placeholder swapped by the
//!    proxy), against a direct HTTPS request from this process to the same mock over one
//!    kept-alive connection; interleaved, medians and p99 and their difference.
//!
//! The engine is the static build the gateway ships (`gigmcp_testkit::static_bin`, or
//! `GIG_TEST_BIN_DIR`); the sandbox needs it static. The mock upstream listens on port 443
//! (the proxy only connects there), so part 3 needs root or `CAP_NET_BIND_SERVICE`.
//!
//! Run as root: `cargo bench -p gigmcp-toolpack --bench engine`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gigmcp_proxy::CertificateAuthority;
use gigmcp_sandbox::{
    HOST_ADDR_TOKEN, NetworkConfig, ProgramSource, RuntimeConfig, Sandbox, SandboxFile,
    SandboxRuntime, SandboxSpec,
};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use common::SpecFiles;
use common::engine::{Engine, Era, is_error, result_text};
use common::rig::Rig;

/// The largest toolspec of the corpus.
const SPEC: &str = "peopledatalabs";
/// Cold starts measured per variant, after [`START_WARMUP`] unmeasured rounds.
const STARTS: usize = 40;
const START_WARMUP: usize = 3;
/// Instances measured (one at a time) for memory.
const MEM_SAMPLES: usize = 5;
/// Warm calls measured per path, after [`CALL_WARMUP`] unmeasured ones.
const CALLS: usize = 500;
const CALL_WARMUP: usize = 50;
/// Bound on any one answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the gateway puts a built-in toolpack's documents and the egress CA
/// (`crates/gateway/src/launch/toolpack.rs`, `crates/gateway/src/egress.rs`).
const SB_MANIFEST: &str = "/etc/gigmcp/manifest.yaml";
const SB_TOOLSPEC: &str = "/etc/gigmcp/toolspec.yaml";
const SB_CA: &str = "/etc/gigmcp/egress-ca.pem";
const SB_RESOLV: &str = "/etc/resolv.conf";
const PROXY_PORT: u16 = 3128;

// ---------------------------------------------------------------------------------------------
// Helpers: percentiles, memory, privileges.

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// `field` (`Rss`, `Pss`) of a process in KiB, from smaps_rollup.
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

/// A process and every process below it: (pid, command name).
fn tree(root: u32) -> Vec<(u32, String)> {
    let comm = std::fs::read_to_string(format!("/proc/{root}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    let mut out = vec![(root, comm)];
    if let Ok(children) = std::fs::read_to_string(format!("/proc/{root}/task/{root}/children")) {
        for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            out.extend(tree(c));
        }
    }
    out
}

fn tree_kib(root: u32, field: &str) -> u64 {
    tree(root).iter().map(|(p, _)| mem_kib(*p, field)).sum()
}

/// A line of `/proc/self/status`, its first field.
fn status_field(name: &str) -> Option<String> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
}

fn is_root() -> bool {
    // `Uid:` lists real, effective, saved, fs: the first two must be 0 for the sandbox runtime.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().take(2).all(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether this process may bind port 443 (root, `CAP_NET_BIND_SERVICE`, or a low
/// `ip_unprivileged_port_start`).
fn can_bind_443() -> bool {
    let cap = status_field("CapEff")
        .and_then(|h| u64::from_str_radix(&h, 16).ok())
        .is_some_and(|caps| caps & (1 << 10) != 0);
    let unprivileged = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .is_some_and(|start| start <= 443);
    is_root() || cap || unprivileged
}

// ---------------------------------------------------------------------------------------------
// A minimal MCP client over any stdio pair.

/// Reads lines until the JSON-RPC answer to `id` arrives (other messages are skipped).
async fn answer<R: AsyncRead + Unpin>(r: &mut BufReader<R>, id: u64) -> Result<Value, String> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(ANSWER_TIMEOUT, r.read_line(&mut line))
            .await
            .map_err(|_| format!("no answer to request {id} within {ANSWER_TIMEOUT:?}"))?
            .map_err(|e| format!("reading the server's output: {e}"))?;
        if n == 0 {
            return Err(format!(
                "the server closed its output before answering request {id}"
            ));
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if msg.get("method").is_none() && msg.get("id").and_then(Value::as_u64) == Some(id) {
            return Ok(msg);
        }
    }
}

/// `initialize` (waiting for its answer, as clients do), then `notifications/initialized` and
/// `tools/list` in one write; returns the `tools/list` result.
async fn greet_and_list<W, R>(w: &mut W, r: &mut BufReader<R>) -> Result<Value, String>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": common::engine::HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "toolpack-bench", "version": "1"}}});
    w.write_all(format!("{init}\n").as_bytes())
        .await
        .map_err(|e| format!("writing initialize: {e}"))?;
    w.flush().await.map_err(|e| e.to_string())?;
    let msg = answer(r, 1).await?;
    if msg.get("result").is_none() {
        return Err(format!("initialize failed: {msg}"));
    }
    let rest = format!(
        "{}\n{}\n",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
    );
    w.write_all(rest.as_bytes())
        .await
        .map_err(|e| format!("writing tools/list: {e}"))?;
    w.flush().await.map_err(|e| e.to_string())?;
    let msg = answer(r, 2).await?;
    msg.get("result")
        .cloned()
        .ok_or_else(|| format!("tools/list failed: {msg}"))
}

// ---------------------------------------------------------------------------------------------
// The three servers.

/// A stdio server run as a plain child process (the engine alone, or the Python server).
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr_file: PathBuf,
}

impl Proc {
    fn spawn(cmd: &mut Command, stderr_file: &Path) -> Self {
        let stderr = std::fs::File::create(stderr_file)
            .unwrap_or_else(|e| panic!("{}: {e}", stderr_file.display()));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        Self {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().expect("stdout")),
            child,
            stderr_file: stderr_file.to_owned(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("a running child has a pid")
    }

    async fn list(&mut self) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin");
        match greet_and_list(stdin, &mut self.stdout).await {
            Ok(v) => v,
            Err(e) => panic!(
                "{e}; stderr: {}",
                std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
            ),
        }
    }

    /// Closes stdin and waits (bounded) for the exit; kills otherwise.
    async fn stop(mut self) {
        self.stdin.take();
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Everything the three servers are started from.
struct Inputs {
    dir: tempfile::TempDir,
    engine: PathBuf,
    manifest_json: String,
    toolspec_json: String,
    ca_pem: String,
    placeholder_env: Option<(String, String)>,
    python: Option<PathBuf>,
}

impl Inputs {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The environment the gateway gives a built-in toolpack sandbox
    /// (`crates/gateway/src/launch/{plan,toolpack}.rs`), with the document and CA paths and the
    /// proxy address given.
    fn env(&self, manifest: &str, toolspec: &str, ca: &str, proxy: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("GIG_TOOLPACK_MANIFEST".to_owned(), manifest.to_owned()),
            ("GIG_TOOLPACK_SPEC".to_owned(), toolspec.to_owned()),
            ("GIG_TOOLPACK_TIMEOUT".to_owned(), "55".to_owned()),
        ];
        for k in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
            env.push((k.to_owned(), proxy.to_owned()));
        }
        for k in ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"] {
            env.push((k.to_owned(), ca.to_owned()));
        }
        env.extend(self.placeholder_env.clone());
        env
    }

    /// (a): the engine as a child process, its documents and CA in the temp dir.
    fn engine_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.engine);
        cmd.env_clear().envs(self.env(
            &self.path("manifest.yaml").display().to_string(),
            &self.path("toolspec.yaml").display().to_string(),
            &self.path("egress-ca.pem").display().to_string(),
            &format!("http://127.0.0.1:{PROXY_PORT}"),
        ));
        cmd
    }

    /// (b): the sandbox spec the gateway builds for this server.
    fn sandbox_spec(&self) -> SandboxSpec {
        SandboxSpec {
            name: format!("bench.{SPEC}"),
            program: ProgramSource::StaticBinary(self.engine.clone()),
            args: Vec::new(),
            env: self.env(
                SB_MANIFEST,
                SB_TOOLSPEC,
                SB_CA,
                &format!("http://{HOST_ADDR_TOKEN}:{PROXY_PORT}"),
            ),
            limits: None,
            files: vec![
                SandboxFile::new(SB_MANIFEST, self.manifest_json.as_bytes().to_vec()),
                SandboxFile::new(SB_TOOLSPEC, self.toolspec_json.as_bytes().to_vec()),
                SandboxFile::new(SB_CA, self.ca_pem.as_bytes().to_vec()),
                SandboxFile::new(
                    SB_RESOLV,
                    format!("nameserver {HOST_ADDR_TOKEN}\noptions use-vc attempts:2 timeout:5\n"),
                ),
            ],
        }
    }

    /// (c): the Python SDK server.
    fn python_cmd(&self) -> Option<Command> {
        let python = self.python.as_ref()?;
        let mut cmd = Command::new(python);
        cmd.env_clear().arg(self.path("server.py"));
        Some(cmd)
    }
}

/// The Python server: the SDK's low-level `Server` over stdio, answering `tools/list` with
/// `tools` (the engine's own answer: names, titles, descriptions, input schemas, annotations).
fn python_script(tools: &[Value]) -> String {
    let tools_json = serde_json::to_string(tools).expect("tools as JSON");
    // A JSON string literal is a valid Python string literal.
    let literal = serde_json::to_string(&tools_json).expect("string literal");
    format!(
        r#""""{SPEC}: the toolpack's tools on the official MCP Python SDK (low-level Server, stdio)."""
import json

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

TOOLS = [types.Tool.model_validate(t) for t in json.loads({literal})]


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=TOOLS)


server = Server("{SPEC}", version="0.1.0", on_list_tools=list_tools)


async def main():
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


anyio.run(main)
"#
    )
}

async fn sandbox_list(sb: Sandbox) -> (Value, Sandbox) {
    let Sandbox {
        mut stdin,
        stdout,
        stderr,
        handle,
    } = sb;
    let mut reader = BufReader::new(stdout);
    let list = match greet_and_list(&mut stdin, &mut reader).await {
        Ok(v) => v,
        Err(e) => {
            handle.kill();
            let mut err = String::new();
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::io::AsyncReadExt::read_to_string(&mut { stderr }, &mut err),
            )
            .await;
            panic!("sandboxed engine: {e}; stderr: {err}");
        }
    };
    (
        list,
        Sandbox {
            stdin,
            stdout: reader.into_inner(),
            stderr,
            handle,
        },
    )
}

/// `N` of the engine's start-up line (`… loaded in N ms`).
fn loaded_in_ms(stderr_file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(stderr_file).ok()?;
    let rest = &text[text.find("loaded in ")? + "loaded in ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

fn tools_of(list: &Value) -> Vec<Value> {
    list.get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| panic!("tools/list result without tools: {list}"))
}

// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "toolpack engine bench; load average at start: {}",
        loadavg()
    );
    let files = SpecFiles::load(&common::corpus_dir().join("manifests").join(SPEC), "0.1.0");
    let engine = common::engine::engine_bin_async().await;
    println!("engine: {}", engine.display());

    let root = is_root();
    let python = {
        let p = gigmcp_testkit::testenv_dir().join("venv/bin/python");
        if p.is_file() {
            let out = std::process::Command::new(&p)
                .args([
                    "-c",
                    "import importlib.metadata as m; print(m.version('mcp'))",
                ])
                .output()
                .expect("run the venv's python");
            println!(
                "python SDK server: {} with mcp {}",
                p.display(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
            Some(p)
        } else {
            println!(
                "NOTE: {} is missing (or not readable): the Python SDK rows are SKIPPED; run \
                 scripts/test-deps",
                p.display()
            );
            None
        }
    };

    let dir = tempfile::tempdir().expect("temp dir");
    // As the gateway stores and writes them: the parsed documents as JSON.
    let manifest_json = serde_json::to_string(&files.manifest).expect("manifest as JSON");
    let toolspec_json = serde_json::to_string(&files.spec).expect("toolspec as JSON");
    let ca = CertificateAuthority::generate("toolpack bench egress CA").expect("CA");
    let placeholder_env = common::rig::credential_for(&files.manifest)
        .map(|c| (c.env_name.clone(), c.env_value.clone()));
    let inputs = Inputs {
        dir,
        engine,
        manifest_json,
        toolspec_json,
        ca_pem: ca.cert_pem().to_owned(),
        placeholder_env,
        python,
    };
    std::fs::write(inputs.path("manifest.yaml"), &inputs.manifest_json).expect("write");
    std::fs::write(inputs.path("toolspec.yaml"), &inputs.toolspec_json).expect("write");
    std::fs::write(inputs.path("egress-ca.pem"), &inputs.ca_pem).expect("write");
    println!(
        "{SPEC}: manifest {} bytes, toolspec {} bytes as JSON ({} bytes of YAML in the corpus)",
        inputs.manifest_json.len(),
        inputs.toolspec_json.len(),
        std::fs::metadata(&files.spec_path).map_or(0, |m| m.len()),
    );

    // The engine's own list, for the Python server and for checking every answer.
    let mut first = Proc::spawn(&mut inputs.engine_cmd(), &inputs.path("engine.stderr"));
    let engine_list = first.list().await;
    first.stop().await;
    let tools = tools_of(&engine_list);
    println!(
        "engine tools/list: {} tools, {} bytes",
        tools.len(),
        serde_json::to_string(&engine_list).map_or(0, |s| s.len())
    );
    std::fs::write(inputs.path("server.py"), python_script(&tools)).expect("write server.py");

    let runtime = if root {
        let mut cfg = RuntimeConfig::new(gigmcp_testkit::static_bin(
            "gigmcp-bootstrap",
            "gigmcp-bootstrap",
        ));
        cfg.cgroup_name = "gigmcp-bench-toolpack".into();
        cfg.host_uid_base = 1_970_000_000;
        cfg.network = Some(NetworkConfig {
            pool: "10.86.0.0/16".parse().expect("pool"),
            link_prefix: "gigk".into(),
            // The gateway's sandbox ports: proxy, transparent TLS, DNS.
            allowed_tcp_ports: vec![PROXY_PORT, 443, 53],
        });
        Some(SandboxRuntime::new(cfg).await.expect("sandbox runtime"))
    } else {
        println!(
            "NOTE: not root: the sandboxed rows (1b, 2 sandbox) are SKIPPED; run as root for them"
        );
        None
    };

    cold_starts(&inputs, runtime.as_ref(), &tools).await;
    memory(&inputs, runtime.as_ref()).await;
    if let Some(rt) = &runtime {
        rt.shutdown().await;
    }
    if can_bind_443() {
        calls(&files).await;
    } else {
        println!(
            "NOTE: this process cannot bind port 443 (not root, no CAP_NET_BIND_SERVICE): the \
             tools/call rows (3) are SKIPPED; the mock upstream must listen on 443 because the \
             egress proxy connects only there"
        );
    }
    println!("load average at end: {}", loadavg());
}

/// Part 1: start → first `tools/list`, the three variants interleaved round by round.
async fn cold_starts(inputs: &Inputs, rt: Option<&SandboxRuntime>, tools: &[Value]) {
    let spec = inputs.sandbox_spec();
    let (mut alone, mut sandboxed, mut python) = (Vec::new(), Vec::new(), Vec::new());
    let mut spawn_only = Vec::new();
    let mut loaded_ms = Vec::new();
    let mut python_bytes = 0;
    for round in 0..START_WARMUP + STARTS {
        let keep = round >= START_WARMUP;

        let t = Instant::now();
        let mut p = Proc::spawn(&mut inputs.engine_cmd(), &inputs.path("engine.stderr"));
        let list = p.list().await;
        let took = t.elapsed();
        assert_eq!(tools_of(&list), tools, "the engine's list changed");
        p.stop().await;
        if keep {
            alone.push(took);
            if let Some(n) = loaded_in_ms(&inputs.path("engine.stderr")) {
                loaded_ms.push(n);
            }
        }

        if let Some(rt) = rt {
            let t = Instant::now();
            let sb = rt.spawn(&spec).await.expect("spawn the sandbox");
            let spawned = t.elapsed();
            let (list, sb) = sandbox_list(sb).await;
            let took = t.elapsed();
            assert_eq!(
                tools_of(&list),
                tools,
                "the sandboxed engine's list differs"
            );
            sb.kill();
            sb.wait().await;
            if keep {
                sandboxed.push(took);
                spawn_only.push(spawned);
            }
        }

        if let Some(mut cmd) = inputs.python_cmd() {
            let t = Instant::now();
            let mut p = Proc::spawn(&mut cmd, &inputs.path("python.stderr"));
            let list = p.list().await;
            let took = t.elapsed();
            let py_tools = tools_of(&list);
            if py_tools != tools {
                let names = |ts: &[Value]| -> Vec<String> {
                    ts.iter().map(|t| t["name"].to_string()).collect()
                };
                panic!(
                    "the Python server lists other tools: {:?} vs {:?}\nfirst: {}\nvs {}",
                    names(&py_tools),
                    names(tools),
                    py_tools.first().unwrap_or(&Value::Null),
                    tools.first().unwrap_or(&Value::Null),
                );
            }
            python_bytes = serde_json::to_string(&list).map_or(0, |s| s.len());
            p.stop().await;
            if keep {
                python.push(took);
            }
        }
    }
    let report = |label: &str, v: &mut Vec<Duration>, extra: String| {
        if v.is_empty() {
            println!("1{label}: SKIPPED");
            return;
        }
        v.sort();
        println!(
            "1{label} (n={}): median {}, p90 {}, min {}, max {}{extra}",
            v.len(),
            ms(pct(v, 0.5)),
            ms(pct(v, 0.9)),
            ms(v[0]),
            ms(v[v.len() - 1]),
        );
    };
    println!(
        "start → first tools/list answer, {SPEC} ({} tools):",
        tools.len()
    );
    let loaded_note = if loaded_ms.is_empty() {
        String::new()
    } else {
        format!(
            "; the engine's own start-up (settings, parse + lint, tools, TLS), as it logs it: \
             median {} ms",
            median_u64(loaded_ms)
        )
    };
    report("a engine alone", &mut alone, loaded_note);
    spawn_only.sort();
    let spawn_note = if spawn_only.is_empty() {
        String::new()
    } else {
        format!("; spawn alone: median {}", ms(pct(&spawn_only, 0.5)))
    };
    report(
        "b engine in a full sandbox (netns + veth, cgroup, Landlock, seccomp)",
        &mut sandboxed,
        spawn_note,
    );
    report(
        "c Python SDK low-level Server, same tools",
        &mut python,
        format!("; its tools/list answer {python_bytes} bytes, same tools as the engine's"),
    );
}

/// Part 2: PSS/RSS after the first `tools/list`, one instance at a time.
async fn memory(inputs: &Inputs, rt: Option<&SandboxRuntime>) {
    const SETTLE: Duration = Duration::from_millis(500);
    println!("memory after the first tools/list (one instance alive at a time, n={MEM_SAMPLES}):");

    let (mut pss, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..MEM_SAMPLES {
        let mut p = Proc::spawn(&mut inputs.engine_cmd(), &inputs.path("engine.stderr"));
        p.list().await;
        tokio::time::sleep(SETTLE).await;
        pss.push(tree_kib(p.pid(), "Pss"));
        rss.push(tree_kib(p.pid(), "Rss"));
        p.stop().await;
    }
    println!(
        "2 engine alone: PSS median {} KiB, RSS median {} KiB (PSS {:?})",
        median_u64(pss.clone()),
        median_u64(rss),
        pss
    );

    if let Some(rt) = rt {
        let spec = inputs.sandbox_spec();
        let (mut pss, mut rss, mut engine_pss) = (Vec::new(), Vec::new(), Vec::new());
        let mut breakdown = String::new();
        for _ in 0..MEM_SAMPLES {
            let sb = rt.spawn(&spec).await.expect("spawn the sandbox");
            let (_, sb) = sandbox_list(sb).await;
            tokio::time::sleep(SETTLE).await;
            let procs = tree(sb.pid());
            pss.push(tree_kib(sb.pid(), "Pss"));
            rss.push(tree_kib(sb.pid(), "Rss"));
            // The engine is the deepest process of the tree.
            if let Some((pid, _)) = procs.last() {
                engine_pss.push(mem_kib(*pid, "Pss"));
            }
            breakdown = procs
                .iter()
                .map(|(pid, comm)| {
                    format!(
                        "{comm} PSS {} / RSS {}",
                        mem_kib(*pid, "Pss"),
                        mem_kib(*pid, "Rss")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            sb.kill();
            sb.wait().await;
        }
        println!(
            "2 idle toolpack sandbox (whole tree): PSS median {} KiB, RSS median {} KiB \
             (PSS {:?}); the engine process in it: PSS median {} KiB; last tree: {breakdown}",
            median_u64(pss.clone()),
            median_u64(rss),
            pss,
            median_u64(engine_pss),
        );
    } else {
        println!("2 idle toolpack sandbox: SKIPPED (not root)");
    }

    if inputs.python.is_some() {
        let (mut pss, mut rss) = (Vec::new(), Vec::new());
        for _ in 0..MEM_SAMPLES {
            let Some(mut cmd) = inputs.python_cmd() else {
                break;
            };
            let mut p = Proc::spawn(&mut cmd, &inputs.path("python.stderr"));
            p.list().await;
            tokio::time::sleep(SETTLE).await;
            pss.push(tree_kib(p.pid(), "Pss"));
            rss.push(tree_kib(p.pid(), "Rss"));
            p.stop().await;
        }
        println!(
            "2 Python SDK server: PSS median {} KiB, RSS median {} KiB (PSS {:?})",
            median_u64(pss.clone()),
            median_u64(rss),
            pss
        );
    } else {
        println!("2 Python SDK server: SKIPPED (no .testenv venv)");
    }
}

/// A direct HTTPS/1.1 connection to the mock upstream, kept alive.
struct Direct {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: String,
    secret: String,
}

impl Direct {
    async fn connect(ip: std::net::Ipv4Addr, host: &str, ca_pem: &str, secret: &str) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
            .expect("add the CA");
        let mut cfg = rustls::ClientConfig::builder_with_provider(common::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect((ip, 443))
            .await
            .expect("connect the mock");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::try_from(host.to_owned()).expect("server name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .expect("TLS to the mock");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        Self {
            sender,
            host: host.to_owned(),
            secret: secret.to_owned(),
        }
    }

    async fn get(&mut self, path_and_query: &str) -> Bytes {
        self.sender.ready().await.expect("connection ready");
        let req = hyper::Request::get(path_and_query)
            .header("host", &self.host)
            .header("user-agent", "toolpack-bench-direct")
            .header("accept", "application/json, */*;q=0.5")
            .header("x-api-key", &self.secret)
            .body(Empty::new())
            .expect("request");
        let resp = self.sender.send_request(req).await.expect("direct request");
        assert_eq!(resp.status(), 200, "direct request status");
        resp.into_body().collect().await.expect("body").to_bytes()
    }
}

/// Part 3: warm `tools/call` through the proxy against a direct request, interleaved.
async fn calls(files: &SpecFiles) {
    const TOOL: &str = "enrich_person";
    let args = json!({"email": "ada@example.com"});
    let path = "/v5/person/enrich?email=ada%40example.com";

    let upstream_ca =
        Arc::new(CertificateAuthority::generate("toolpack bench upstream CA").expect("CA"));
    let rig = Rig::start(upstream_ca.clone()).await;
    let setup = common::Setup::new(files.clone());
    setup.register(&rig);
    let env = setup.env(&rig);
    let (engine, _) = Engine::start(&env, Era::Handshake)
        .await
        .unwrap_or_else(|e| panic!("starting the engine: {e}"));
    let cred = setup
        .cred
        .clone()
        .expect("peopledatalabs has a sealed credential");
    let host = setup.hosts.first().expect("a base host").clone();
    let mut direct =
        Direct::connect(rig.mock.ip, &host, upstream_ca.cert_pem(), &cred.secret).await;

    let call = async |engine: &Engine| {
        let r = engine.call_result(TOOL, &args).await.expect("tools/call");
        assert!(!is_error(&r), "tool error: {}", result_text(&r));
        assert_eq!(result_text(&r), r#"{"ok":true}"#, "result text");
    };
    for _ in 0..CALL_WARMUP {
        call(&engine).await;
        assert_eq!(&direct.get(path).await[..], br#"{"ok":true}"#);
    }
    let (mut via, mut straight) = (Vec::new(), Vec::new());
    for _ in 0..CALLS {
        let t = Instant::now();
        call(&engine).await;
        via.push(t.elapsed());
        let t = Instant::now();
        let body = direct.get(path).await;
        straight.push(t.elapsed());
        assert_eq!(&body[..], br#"{"ok":true}"#);
    }

    // What the upstream saw: every engine request with the real secret (swapped in by the
    // proxy), the placeholder nowhere, the engine's requests on few (kept-alive) connections.
    let records = rig.mock.records();
    let placeholder = cred.placeholder.clone().expect("sealed: a placeholder");
    let from_engine: Vec<_> = records
        .iter()
        .filter(|r| r.header("user-agent").as_deref() == Some(setup.user_agent().as_str()))
        .collect();
    assert_eq!(
        from_engine.len(),
        CALL_WARMUP + CALLS,
        "engine requests upstream"
    );
    for r in &from_engine {
        assert_eq!(r.path, "/v5/person/enrich");
        assert_eq!(r.query.as_deref(), Some("email=ada%40example.com"));
        assert_eq!(r.header("x-api-key").as_deref(), Some(cred.secret.as_str()));
    }
    assert!(
        !records
            .iter()
            .any(|r| String::from_utf8_lossy(&r.all_bytes()).contains(&placeholder)),
        "the placeholder reached the upstream"
    );
    let mut conns: Vec<u64> = from_engine.iter().map(|r| r.conn).collect();
    conns.sort_unstable();
    conns.dedup();

    via.sort();
    straight.sort();
    let (vm, v99) = (pct(&via, 0.5), pct(&via, 0.99));
    let (dm, d99) = (pct(&straight, 0.5), pct(&straight, 0.99));
    println!(
        "warm tools/call ({TOOL}, n={CALLS} each after {CALL_WARMUP} warm-up, interleaved; \
         engine unsandboxed):"
    );
    println!(
        "3 engine → gigmcp-proxy (CONNECT, placeholder swapped) → mock: median {}, p99 {}",
        us(vm),
        us(v99)
    );
    println!(
        "3 direct HTTPS request to the mock (kept-alive): median {}, p99 {}",
        us(dm),
        us(d99)
    );
    println!(
        "3 added by engine + MCP stdio + proxy: median {}, p99 {}; the engine's {} requests \
         reached the mock on {} upstream connection(s), all with the real secret",
        us(vm.saturating_sub(dm)),
        us(v99.saturating_sub(d99)),
        from_engine.len(),
        conns.len()
    );
    drop(engine);
}
