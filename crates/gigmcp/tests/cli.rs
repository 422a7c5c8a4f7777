//! The `gigmcp` binary end to end, as an operator uses it: install a server, create a profile,
//! store a secret, serve, call a tool; then restart on the same data (SQLite and PostgreSQL)
//! and find every profile, token and secret still there.

use gigmcp_store::StoreUrl;
use gigmcp_store::testing::{Driver, TestDb};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "cli/registry.rs"]
mod registry;
#[path = "cli/toolpack.rs"]
mod toolpack;

const KEY: &str = "5f0c2a2bd3c9e7a1b4d6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

struct Env {
    data_dir: std::path::PathBuf,
    database_url: Option<String>,
}

impl Env {
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gigmcp"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GIG_DATA_DIR", &self.data_dir)
            .env("GIG_MASTER_KEY", KEY)
            .env("GIG_LOG", "warn")
            // tests run concurrently; none of these servers has egress
            .env("GIG_SANDBOX_NETWORK", "off");
        if let Some(url) = &self.database_url {
            c.env("GIG_DATABASE_URL", url);
        }
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gigmcp {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn serve(&self, port: u16) -> Child {
        let bootstrap = gigmcp_testkit::static_bin("gigmcp-bootstrap", "gigmcp-bootstrap");
        self.cmd()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("GIG_BOOTSTRAP", bootstrap)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn echo_through(port: u16, token: &str) -> Value {
    let url = format!("http://127.0.0.1:{port}/mcp/p/dev");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let init = loop {
        let r = http
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#)
            .send()
            .await;
        match r {
            Ok(r) => break r,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("gateway did not come up: {e}"),
        }
    };
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    http.post(&url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        // (accepting only JSON, the tool call's answer comes as one JSON body, not SSE)
        .header("accept", "application/json")
        .header("mcp-session-id", session)
        .body(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo_echo","arguments":{"message":"hello"}}}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn operator_flow_survives_a_restart(driver: Driver) {
    let db = TestDb::new(driver).await;
    let env = Env {
        data_dir: db.dir.path().to_path_buf(),
        database_url: match &db.url {
            StoreUrl::Sqlite { .. } => None,
            StoreUrl::Postgres { url } => Some(url.clone()),
        },
    };
    let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
    env.run(
        &["server", "add", "echo", "--binary", echo.to_str().unwrap()],
        None,
    );
    let created = env.run(&["profile", "create", "dev"], None);
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with("gig_"), "{token}");
    env.run(&["profile", "add-server", "dev", "echo"], None);
    env.run(
        &["credential", "set", "echo", "--profile", "dev"],
        Some("s3cret-value\n"),
    );

    for round in 0..2 {
        let port = free_port();
        let mut gateway = env.serve(port);
        let out = echo_through(port, &token).await;
        gateway.kill().unwrap();
        gateway.wait().unwrap();
        assert_eq!(
            out["result"]["content"][0]["text"], "echo: hello",
            "round {round}: {out}"
        );
    }
    let listed = String::from_utf8(env.run(&["profile", "list"], None).stdout).unwrap();
    assert!(
        listed.contains("dev") && listed.contains("servers=echo"),
        "{listed}"
    );
    let creds = String::from_utf8(env.run(&["credential", "list"], None).stdout).unwrap();
    assert!(
        creds.contains("echo") && creds.contains("default"),
        "{creds}"
    );
    assert!(
        !creds.contains("s3cret-value"),
        "listing shows metadata only"
    );
    // the token is stored only as a hash, the secret only encrypted
    if let StoreUrl::Sqlite { path } = &db.url {
        let bytes = std::fs::read(path).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&token) && !hay.contains("s3cret-value") && !hay.contains(KEY));
    }
}

#[tokio::test]
async fn operator_flow_survives_a_restart_on_sqlite() {
    operator_flow_survives_a_restart(Driver::Sqlite).await;
}

#[tokio::test]
async fn operator_flow_survives_a_restart_on_postgres() {
    operator_flow_survives_a_restart(Driver::Postgres).await;
}

/// Runs `gigmcp ARGS` on a fresh data dir with only `vars` set; it must fail. Returns stderr.
fn fails(vars: &[(&str, &str)], args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gigmcp"))
        .env_clear()
        .env("GIG_DATA_DIR", dir.path())
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "gigmcp {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_refuses_to_start_without_a_master_key_and_says_how_to_make_one() {
    let err = fails(&[], &["serve", "--listen", "127.0.0.1:0"]);
    assert!(
        err.contains("GIG_MASTER_KEY") && err.contains("openssl rand -hex 32"),
        "{err}"
    );
}

#[test]
fn bad_settings_name_the_variable_and_the_fix() {
    let err = fails(
        &[("GIG_MASTER_KEY", KEY), ("GIG_LISTEN", "not-an-address")],
        &["serve"],
    );
    assert!(
        err.contains("GIG_LISTEN") && err.contains("HOST:PORT"),
        "{err}"
    );
    let err = fails(
        &[("GIG_MASTER_KEY", KEY), ("GIG_EGRESS_CA", "disk")],
        &["serve"],
    );
    assert!(
        err.contains("GIG_EGRESS_CA") && err.contains("ephemeral") && err.contains("vault"),
        "{err}"
    );
}

#[test]
fn names_are_validated() {
    let err = fails(&[], &["profile", "create", "Bad_Slug"]);
    assert!(err.contains("invalid slug"), "{err}");
}

#[test]
fn a_server_added_with_a_manifest_is_linted_first() {
    let dir = tempfile::tempdir().unwrap();
    // The manifests live beside the data dir, not in it (gigmcp keeps that private).
    let env = Env {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
    let manifest = |egress: &str, default: bool| {
        format!(
            "schemaVersion: 1\nname: echo\nversion: 0.1.0\nsource: {{repo: github.com/gigmcp/gigmcp, tag: v0.1.0}}\n\
             image: {{ref: ghcr.io/gigmcp/echo, digest: \"sha256:{}\", entrypoint: /echo}}\n\
             tier: sealed\ndisplayName: Echo\ncategory: testing\nentitlements:\n  egress: {egress}\n\
             tools:\n  - name: echo\n    default: {default}\n",
            "ab".repeat(32)
        )
    };
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, manifest(r#"["*", "10.0.0.1"]"#, true)).unwrap();
    let out = env
        .cmd()
        .args([
            "server",
            "add",
            "echo",
            "--binary",
            echo.to_str().unwrap(),
            "--manifest",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not acceptable") && err.contains("egress"),
        "{err}"
    );
    assert!(
        err.matches("error").count() >= 2,
        "every problem is listed: {err}"
    );

    let good = dir.path().join("good.yaml");
    std::fs::write(&good, manifest("[api.example.com]", true)).unwrap();
    let out = env.run(
        &[
            "server",
            "add",
            "echo",
            "--binary",
            echo.to_str().unwrap(),
            "--manifest",
            good.to_str().unwrap(),
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tier sealed, egress: api.example.com"),
        "{text}"
    );
    let listed = String::from_utf8(env.run(&["server", "list"], None).stdout).unwrap();
    assert!(
        listed.contains("\ttier sealed, egress: api.example.com"),
        "{listed}"
    );
}

#[tokio::test]
async fn add_image_pulls_and_verifies_before_recording_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
    let layout = dir.path().join("layout");
    let packed = gigmcp_oci::pack::run(&gigmcp_oci::pack::PackArgs {
        binary: Some(echo),
        dir: None,
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        env: Vec::new(),
        workdir: None,
        layout: Some(layout.clone()),
        tag: Some("v1".into()),
        push: None,
        insecure: false,
        chunk_size: None,
        arch: gigmcp_oci::platform::goarch(std::env::consts::ARCH).to_owned(),
        compression: gigmcp_oci::pack::LayerCompression::Gzip,
    })
    .await
    .unwrap();
    let digest = packed.digest.to_string();

    let tampered = format!("oci:{}@sha256:{}", layout.display(), "1".repeat(64));
    let out = env
        .cmd()
        .args(["server", "add-image", "bad", &tampered])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&env.run(&["server", "list"], None).stdout)
            .trim()
            .is_empty()
    );

    let reference = format!("oci:{}@{digest}", layout.display());
    let out = env.run(&["server", "add-image", "echo", &reference], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));
    let listed = String::from_utf8(env.run(&["server", "list"], None).stdout).unwrap();
    assert!(listed.contains("echo\tlocal\timage\toci:"), "{listed}");
    assert!(listed.contains("no manifest: no network"), "{listed}");
}

#[test]
fn vault_rotate_moves_every_secret_to_the_new_key() {
    const NEW: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        data_dir: dir.path().to_path_buf(),
        database_url: None,
    };
    let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
    env.run(
        &["server", "add", "echo", "--binary", echo.to_str().unwrap()],
        None,
    );
    env.run(&["profile", "create", "dev"], None);
    for name in ["a", "b", "c"] {
        env.run(
            &[
                "credential",
                "set",
                "echo",
                "--profile",
                "dev",
                "--name",
                name,
            ],
            Some("secret"),
        );
    }
    let status = |new_key: bool| {
        let mut c = env.cmd();
        if new_key {
            c.env("GIG_MASTER_KEY", NEW)
                .env("GIG_MASTER_KEY_PREVIOUS", KEY);
        }
        let out = c.args(["vault", "status"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let before = status(false);
    assert!(before.contains("3  current"), "{before}");
    // with only the new key, the old secrets are reported as unreadable, with the fix
    let out = env
        .cmd()
        .env("GIG_MASTER_KEY", NEW)
        .args(["vault", "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GIG_MASTER_KEY_PREVIOUS"));

    let out = env
        .cmd()
        .env("GIG_MASTER_KEY", NEW)
        .env("GIG_MASTER_KEY_PREVIOUS", KEY)
        .args(["vault", "rotate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = status(true);
    assert!(after.contains("3  current"), "{after}");
    assert!(
        !after
            .lines()
            .any(|l| l.contains("previous") && !l.contains(" 0  ")),
        "{after}"
    );
}
