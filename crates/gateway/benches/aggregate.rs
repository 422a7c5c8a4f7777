//! Aggregation figures for docs/PERFORMANCE.md ("Gateway aggregation").
//!
//! `cargo bench -p gigmcp-gateway --bench aggregate` prints:
//! - warm `tools/list` of one profile of 50 servers × 20 tools (the static `twenty` test server
//!   installed under 50 names, every sandbox already started and its list cached by the
//!   gateway): median and p90 over 300 sequential requests, each answer checked to hold the
//!   1000 tools; and
//! - warm `tools/call` throughput and latency with 64 concurrent clients spread over 8 backends
//!   (one profile of 8 of those servers, so 8 (profile × server) sandboxes; client `i` calls a
//!   tool of server `i mod 8`), for clients of each era (2025-11-25 with a session, SSE or
//!   JSON answers; 2026-07-28 stateless), against servers of the handshake era (`twenty`) and
//!   of the stateless revision (`twenty_stateless`: each request carries `_meta`).
//!
//! The HTTP client runs in the same process as the gateway, so it shares the CPUs with it.

mod common;

use common::{BenchGateway, Session};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

const SERVERS: usize = 50;
const TOOLS_PER_SERVER: usize = 20;
const LIST_RUNS: usize = 300;
const BACKENDS: usize = 8;
const CLIENTS: usize = 64;
const WINDOW: Duration = Duration::from_secs(5);

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Checks a `tools/list` answer: 1000 tools, all named `<server>_<tool>`, all distinct.
fn check_list(body: &[u8]) {
    let v: Value = serde_json::from_slice(body).unwrap();
    let tools = v["result"]["tools"].as_array().expect("a tool list");
    assert_eq!(tools.len(), SERVERS * TOOLS_PER_SERVER, "tools listed");
    let names: std::collections::HashSet<&str> =
        tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names.len(), SERVERS * TOOLS_PER_SERVER, "distinct names");
    assert!(names.contains("t01_list_projects") && names.contains("t50_set_milestone"));
}

fn get_issue(prefix: char, server: usize, id: usize) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{
        "name": format!("{prefix}{server:02}_get_issue"),
        "arguments": {"issue_id": format!("ISS-{id}")}
    }})
    .to_string()
}

#[tokio::main]
async fn main() {
    let bg = BenchGateway::start().await;
    let servers = bg.install_many("twenty", "t", SERVERS).await;
    let stateless_servers = bg.install_many("twenty_stateless", "s", BACKENDS).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(2 * CLIENTS)
        .build()
        .unwrap();

    // --- tools/list, 50 servers × 20 tools, warm ------------------------------------------
    let (url, tok) = bg.profile("wide", &servers).await;
    let t0 = Instant::now();
    let s = Session::open(&http, &url, &tok).await;
    let first = s.raw(LIST.into()).await;
    let cold = t0.elapsed();
    check_list(&first);
    for _ in 0..20 {
        check_list(&s.raw(LIST.into()).await);
    }
    let mut list = Vec::with_capacity(LIST_RUNS);
    let mut bytes = 0;
    for _ in 0..LIST_RUNS {
        let t0 = Instant::now();
        let body = s.raw(LIST.into()).await;
        list.push(t0.elapsed());
        check_list(&body); // outside the timed part: the client's own parsing is not the gateway's
        bytes = body.len();
    }

    // --- tools/call throughput, 64 clients over 8 backends, each era ---------------------
    let handshake = bg.profile("eight", &servers[..BACKENDS]).await;
    let stateless = bg.profile("eight-stateless", &stateless_servers).await;
    let mut rows = Vec::new();
    for (era, (url, tok), prefix) in [
        ("2025-11-25", &handshake, 't'),
        (
            "2025-11-25, JSON answers (Accept: application/json)",
            &handshake,
            't',
        ),
        ("2026-07-28", &handshake, 't'),
        ("2025-11-25, stateless servers", &stateless, 's'),
        ("2026-07-28, stateless servers", &stateless, 's'),
    ] {
        let mut sessions = Vec::new();
        for _ in 0..CLIENTS {
            sessions.push(if era.starts_with("2026-07-28") {
                Session::stateless(&http, url, tok)
            } else {
                let mut s = Session::open(&http, url, tok).await;
                if era.contains("JSON") {
                    s.accept = "application/json";
                }
                s
            });
        }
        for (i, s) in sessions.iter().enumerate() {
            let server = i % BACKENDS + 1;
            for k in 0..5 {
                let v = s.call(get_issue(prefix, server, k)).await;
                assert_eq!(
                    v["result"]["content"][0]["text"],
                    format!(r#"called get_issue with {{"issue_id":"ISS-{k}"}}"#)
                );
            }
        }
        let t0 = Instant::now();
        let tasks: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                tokio::spawn(async move {
                    let server = i % BACKENDS + 1;
                    let mut lat = Vec::new();
                    while t0.elapsed() < WINDOW {
                        let t = Instant::now();
                        let body = s.raw(get_issue(prefix, server, lat.len())).await;
                        lat.push(t.elapsed());
                        let ok = br#""text":"called get_issue with"#;
                        assert!(body.windows(ok.len()).any(|w| w == ok), "a tool result");
                    }
                    lat
                })
            })
            .collect();
        let mut calls = Vec::new();
        for t in tasks {
            calls.extend(t.await.unwrap());
        }
        let elapsed = t0.elapsed();
        let rate = calls.len() as f64 / elapsed.as_secs_f64();
        rows.push((era, calls, elapsed, rate));
    }

    println!("| figure | median | p90 | note |");
    println!("|---|---|---|---|");
    println!(
        "| warm tools/list, 1 profile of {SERVERS} servers × {TOOLS_PER_SERVER} tools | {:.2} ms | {:.2} ms | {LIST_RUNS} requests, 1000 tools ({bytes} bytes) each; first list with all {SERVERS} sandboxes cold: {:.0} ms |",
        ms(pct(&mut list, 0.5)),
        ms(pct(&mut list, 0.9)),
        ms(cold),
    );
    for (era, mut calls, elapsed, rate) in rows {
        println!(
            "| warm tools/call, {CLIENTS} concurrent clients over {BACKENDS} backends, {era} | {:.2} ms | {:.2} ms | {rate:.0} calls/s ({} calls in {:.1} s) |",
            ms(pct(&mut calls, 0.5)),
            ms(pct(&mut calls, 0.9)),
            calls.len(),
            elapsed.as_secs_f64(),
        );
    }
    bg.gateway.shutdown().await;
}
