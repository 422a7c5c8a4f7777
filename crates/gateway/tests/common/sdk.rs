//! Running the official SDK client scripts in `tests/clients/`.

use serde_json::Value;
use std::path::Path;
use tokio::process::Command;

/// Where the client scripts live.
pub fn clients_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

/// Runs a client script to completion (at most 120 s) and parses the JSON object it prints
/// last; a failing client fails the test with its output.
pub async fn run_client(cmd: &mut Command) -> Value {
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("the SDK client finished within 120 s")
        .expect("the SDK client ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
