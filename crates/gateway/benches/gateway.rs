//! Gateway figures for docs/PERFORMANCE.md (issue: walking skeleton).
//!
//! `cargo bench -p gigmcp-gateway --bench gateway` prints:
//! - cold start: `initialize` → `tools/list` through the gateway to a not-yet-started echo sandbox;
//! - warm `tools/call` latency through the gateway vs the same call straight to the echo server
//!   over stdio (no sandbox, no HTTP), measured side by side in one run; and
//! - warm `tools/call` throughput with 32 concurrent clients.

mod common;

use common::{BenchGateway, Session};
use gigmcp_mcp::{StdioClient, StdioClientConfig};
use serde_json::json;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn echo_call(i: usize) -> String {
    json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"echo_echo","arguments":{"message":"hello"}}})
        .to_string()
}

#[tokio::main]
async fn main() {
    let bg = BenchGateway::start().await;
    let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
    let server = [bg.install(&echo, "echo".into()).await];
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    let mut profiles = 0;
    let mut new_profile = || {
        profiles += 1;
        let slug = format!("p{profiles}");
        let (bg, server) = (&bg, &server);
        async move { bg.profile(&slug, server).await }
    };

    // --- cold start -----------------------------------------------------------------------
    let mut cold = Vec::new();
    for _ in 0..40 {
        let (url, tok) = new_profile().await;
        let t0 = Instant::now();
        let s = Session::open(&http, &url, &tok).await;
        let list = s
            .call(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.into())
            .await;
        cold.push(t0.elapsed());
        assert_eq!(list["result"]["tools"][0]["name"], "echo_echo");
    }
    bg.gateway.supervisor().reap_idle(Duration::ZERO).await;

    // --- warm latency: gateway vs direct stdio, interleaved in one run ----------------------
    let (url, tok) = new_profile().await;
    let s = Session::open(&http, &url, &tok).await;
    let mut child = tokio::process::Command::new(&echo)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (direct, _rx) = StdioClient::start(
        child.stdout.take().unwrap(),
        child.stdin.take().unwrap(),
        StdioClientConfig::new("echo"),
    );
    direct.initialize("bench", "0").await.unwrap();
    let params = json!({"name":"echo","arguments":{"message":"hello"}});
    for i in 0..200 {
        s.call(echo_call(i)).await;
        direct
            .request("tools/call", Some(params.clone()))
            .await
            .unwrap();
    }
    let (mut via_gw, mut via_stdio) = (Vec::new(), Vec::new());
    for i in 0..3000 {
        let t0 = Instant::now();
        let v = s.call(echo_call(i)).await;
        via_gw.push(t0.elapsed());
        assert_eq!(v["result"]["content"][0]["text"], "echo: hello");
        let t0 = Instant::now();
        direct
            .request("tools/call", Some(params.clone()))
            .await
            .unwrap();
        via_stdio.push(t0.elapsed());
    }

    // --- throughput with 32 concurrent clients ---------------------------------------------
    let clients = 32;
    let window = Duration::from_secs(5);
    let mut sessions = Vec::new();
    for _ in 0..clients {
        sessions.push(Session::open(&http, &url, &tok).await);
    }
    let t0 = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                let mut n = 0u64;
                while t0.elapsed() < window {
                    let v = s.call(echo_call(n as usize)).await;
                    debug_assert!(v["result"].is_object());
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let rate = total as f64 / t0.elapsed().as_secs_f64();

    let (gw_med, io_med) = (median(via_gw.clone()), median(via_stdio.clone()));
    println!("| figure | median | p90 | note |");
    println!("|---|---|---|---|");
    println!(
        "| cold start: initialize → tools/list, new echo sandbox | {:.1} ms | {:.1} ms | 40 runs |",
        median(cold.clone()).as_secs_f64() * 1e3,
        pct(cold, 0.9).as_secs_f64() * 1e3
    );
    println!(
        "| warm tools/call through the gateway (HTTP, sandbox) | {:.3} ms | {:.3} ms | 3000 calls |",
        gw_med.as_secs_f64() * 1e3,
        pct(via_gw, 0.9).as_secs_f64() * 1e3
    );
    println!(
        "| same call straight to echo over stdio | {:.3} ms | {:.3} ms | 3000 calls, interleaved |",
        io_med.as_secs_f64() * 1e3,
        pct(via_stdio, 0.9).as_secs_f64() * 1e3
    );
    println!(
        "| added by the gateway | {:.3} ms | | difference of medians |",
        (gw_med.as_secs_f64() - io_med.as_secs_f64()) * 1e3
    );
    println!(
        "| warm tools/call throughput, {clients} concurrent clients | {rate:.0} calls/s | | {} s window, client in the same process |",
        window.as_secs()
    );
    bg.gateway.shutdown().await;
}
