//! A foreign client (curl with OpenSSL) through both entry points. CI needs `curl`.

mod common;

use common::*;
use gigmcp_proxy::{Decision, Entry};

async fn curl(args: &[String]) -> (bool, String, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .expect("curl must be installed (apt-get install curl)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn curl_through_the_explicit_proxy() {
    let mut h = Harness::new(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &h.ca_pem).unwrap();
    let port = h.upstream.addr.port();
    let base = |url: String| {
        vec![
            "--interface".into(),
            "127.0.0.2".into(),
            "-x".into(),
            format!("http://{}", h.proxy_addr()),
            "--cacert".into(),
            ca.display().to_string(),
            "-H".into(),
            format!("Authorization: Bearer {PLACEHOLDER_A}"),
            url,
        ]
    };
    let (ok, body, err) = curl(&base(format!("https://{API}:{port}/echo-auth?x=1"))).await;
    assert!(ok, "{err}");
    // The whole injected header value comes back masked.
    let masked = "*".repeat(format!("Bearer {KEY_A}").len());
    assert_eq!(body, format!("you sent: {masked}\n"));
    assert_eq!(
        h.upstream.seen()[0].authorization,
        Some(format!("Bearer {KEY_A}"))
    );
    // Not allowlisted: curl reports the refused CONNECT.
    let (ok, _, err) = curl(&base(format!("https://{OTHER}:{port}/"))).await;
    assert!(!ok);
    assert!(err.contains("403"), "{err}");
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].decision, Decision::Allowed);
    assert_eq!(events[0].path, "/echo-auth");
    assert!(events[1].decision.denied().is_some());
}

#[tokio::test]
async fn curl_ignoring_proxy_variables_goes_through_the_transparent_listener() {
    let mut h = Harness::new(Options::default()).await;
    let t = h
        .proxy
        .bind_transparent("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tport = t.local_addr().port();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &h.ca_pem).unwrap();
    // `--resolve` stands in for the answer our DNS responder gives for allowlisted names.
    let args = |host: &str| {
        vec![
            "--interface".into(),
            "127.0.0.2".into(),
            "--resolve".into(),
            format!("{host}:{tport}:127.0.0.1"),
            "--cacert".into(),
            ca.display().to_string(),
            "-H".into(),
            format!("Authorization: Bearer {PLACEHOLDER_A}"),
            format!("https://{host}:{tport}/echo-auth"),
        ]
    };
    let (ok, body, err) = curl(&args(API)).await;
    assert!(ok, "{err}");
    // The whole injected header value comes back masked.
    let masked = "*".repeat(format!("Bearer {KEY_A}").len());
    assert_eq!(body, format!("you sent: {masked}\n"));
    assert_eq!(
        h.upstream.seen()[0].authorization,
        Some(format!("Bearer {KEY_A}"))
    );
    let (ok, _, _) = curl(&args(OTHER)).await;
    assert!(!ok);
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.entry == Entry::Transparent));
    assert_eq!(events[0].decision, Decision::Allowed);
    assert!(events[1].decision.denied().is_some());
    assert!(!h.proxy.leaves().contains(OTHER));
}
