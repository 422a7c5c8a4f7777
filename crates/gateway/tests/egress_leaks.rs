//! A malicious server in a real sandbox, working with a hostile upstream, tries to get the
//! owner's sealed key into the sandbox: echoed in the status line, kept by the upstream and
//! returned on later requests, on other tunnels (explicit and transparent) and on a stream
//! opened before the key was sent, base64-, percent- and JSON-encoded; and sent to another
//! tenant under a wildcard allowlist entry. The upstream really receives the key where it is
//! meant to; the sandboxed server never holds it in any form, in what it is answered or in its
//! memory.

mod common;

use common::upstream::{HOST, echo_forms, hostile_gateway, key_of};
use common::{RawClient, TestGateway};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// Its own upstream address, so this test can run beside the other egress tests.
const HOSTILE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 49);
/// Allowed by `*.tenant.example.test`, but not a host the credential is for.
const OTHER_TENANT: &str = "attacker.tenant.example.test";
/// The owner's key: with characters that percent- and JSON-encoders escape.
const KEY: &str = "sk/ALICE+live=0123456789<&>";

fn manifest() -> String {
    format!(
        r#"
schemaVersion: 1
name: fetch
version: 0.1.0
source: {{repo: github.com/gigmcp/gigmcp, tag: v0.1.0}}
image: {{ref: ghcr.io/gigmcp/fetch, digest: "sha256:{digest}", entrypoint: /fetch}}
tier: sealed
displayName: Fetch
category: testing
entitlements:
  egress: [api.example.test, "*.tenant.example.test"]
credentials:
  - id: api_key
    type: api_key
    provider: example
    inject: {{header: Authorization, format: "Bearer {{token}}"}}
tools:
  - {{name: exchange, default: true}}
  - {{name: env, default: true}}
"#,
        digest = "ab".repeat(32)
    )
}

async fn exchange(c: &RawClient, id: i64, args: Value) -> String {
    let out = c
        .call(
            id,
            "tools/call",
            json!({"name": "fetch_exchange", "arguments": args}),
        )
        .await;
    assert_ne!(out["result"]["isError"], true, "{out}");
    out["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_string()
}

/// Every form in which the hostile upstream hands the key back, and the key itself.
fn forms(auth: &str) -> Vec<(String, String)> {
    let mut all = vec![("key itself".to_string(), key_of(auth).to_string())];
    all.extend(
        echo_forms(auth)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v)),
    );
    all
}

fn assert_no_form(view: &str, auth: &str) {
    for (name, form) in forms(auth) {
        assert!(
            !view.contains(&form),
            "the {name} form reached the sandbox: {view}"
        );
    }
}

/// An echo `name=value` came back masked: (nearly) as many `*` as the key is long, and nothing
/// visible beyond the non-secret context an encoding adds (`Bearer%20`, the base64 of `user:`).
fn assert_masked(line: &str) {
    let (name, value) = line
        .split_once('=')
        .unwrap_or_else(|| panic!("not an echo: {line:?}"));
    let stars = value.bytes().filter(|&b| b == b'*').count();
    assert!(stars >= KEY.len() - 4, "{name} not masked: {line}");
    let visible = value.split('*').map(str::len).max().unwrap_or(0);
    assert!(
        visible <= 12,
        "{name}: {visible} characters left visible: {line}"
    );
}

/// The `name=value` echo lines of an exchange's bodies (SSE `data:` prefixes removed).
fn echo_lines(out: &str) -> Vec<&str> {
    out.lines()
        .map(|l| l.strip_prefix("data: ").unwrap_or(l))
        .filter(|l| {
            l.split_once('=')
                .is_some_and(|(n, _)| echo_forms("x").iter().any(|(f, _)| f == &n))
        })
        .collect()
}

/// Recalls of every form, without the credential, on `tunnel`.
fn recalls(tunnel: u64) -> Vec<Value> {
    echo_forms("x")
        .into_iter()
        .map(|(n, _)| json!({"path": format!("/recall/{n}"), "tunnel": tunnel}))
        .collect()
}

#[tokio::test]
async fn a_hostile_upstream_never_gets_the_owner_s_key_into_the_sandbox() {
    let (gw, upstream) = hostile_gateway(HOSTILE_IP, &[HOST, OTHER_TENANT]).await;
    gw.add_server("fetch", "fetch").await;
    let server = gw.store.server_by_name("fetch").await.unwrap().unwrap();
    gw.set_manifest(server.id, &manifest()).await;
    let alice = gw.add_profile_of("alice", "alice-work", &["fetch"]).await;
    let owner = gw.store.user_by_username("alice").await.unwrap().unwrap();
    gigmcp_vault::put_secret(
        &gw.store,
        &gw.keyring,
        owner.id,
        server.id,
        "api_key",
        KEY.as_bytes(),
    )
    .await
    .unwrap();
    let auth = format!("Bearer {KEY}");
    let mut a = RawClient::new(gw.url("alice-work"), &alice.token);
    a.initialize().await;

    // 1. A stream is opened before the key has ever been sent; then the key goes out on
    //    another tunnel, and the upstream echoes it, in every form, on the open stream.
    let streamed = exchange(
        &a,
        2,
        json!({"host": HOST, "steps": [
            {"path": "/events", "tunnel": 1, "defer": true},
            {"path": "/store", "tunnel": 0, "auth": true},
        ]}),
    )
    .await;
    // 2. On one tunnel: the key in the reason phrase, every form of it in a body, then, on
    //    requests without any credential, what the upstream kept.
    let mut steps = vec![
        json!({"path": "/reason", "auth": true}),
        json!({"path": "/forms", "auth": true}),
    ];
    steps.extend(recalls(0));
    let same_tunnel = exchange(&a, 3, json!({"host": HOST, "steps": steps})).await;
    // 3. Another tunnel (a new CONNECT), and 4. the transparent path (no HTTPS_PROXY).
    let other_tunnel = exchange(&a, 4, json!({"host": HOST, "steps": recalls(0)})).await;
    let transparent = exchange(
        &a,
        5,
        json!({"host": HOST, "direct": true, "steps": recalls(0)}),
    )
    .await;

    for (what, out) in [
        ("stream opened before", &streamed),
        ("same tunnel", &same_tunnel),
        ("other tunnel", &other_tunnel),
        ("transparent path", &transparent),
    ] {
        assert_no_form(out, &auth);
        let lines = echo_lines(out);
        assert!(!lines.is_empty(), "{what}: no echo came back: {out}");
        for line in lines {
            assert_masked(line);
        }
        // the status lines are the canonical ones, never the upstream's
        for status in out.lines().filter(|l| l.starts_with("HTTP/1.1 ")) {
            assert!(
                ["HTTP/1.1 200 OK", "HTTP/1.1 401 Unauthorized"].contains(&status.trim_end()),
                "{what}: {status}"
            );
        }
    }
    let echoes = echo_forms(&auth).len();
    assert_eq!(echo_lines(&streamed).len(), echoes, "{streamed}");
    // `/forms`, then one recall per form
    assert_eq!(echo_lines(&same_tunnel).len(), 2 * echoes, "{same_tunnel}");
    assert!(same_tunnel.contains("HTTP/1.1 401 Unauthorized\r\n"));
    assert_eq!(
        other_tunnel.matches("\r\nx-recall: ").count(),
        echoes,
        "{other_tunnel}"
    );

    // 5. Another tenant under the wildcard: the request goes out without the credential.
    let tenant = exchange(
        &a,
        6,
        json!({"host": OTHER_TENANT, "steps": [{"path": "/forms", "auth": true}]}),
    )
    .await;
    assert!(tenant.contains("HTTP/1.1 200 OK"), "{tenant}");
    assert_no_form(&tenant, &auth);

    // The control: the upstream really received the key, on each request that carried the
    // placeholder to the host it is for, and nothing of it on the other tenant.
    let received = upstream.received();
    for path in ["/store", "/reason", "/forms"] {
        let r = received
            .iter()
            .find(|r| r.host == HOST && r.path == path)
            .unwrap_or_else(|| panic!("{path} not received: {received:?}"));
        assert_eq!(r.authorization.as_deref(), Some(auth.as_str()), "{path}");
    }
    assert!(
        received
            .iter()
            .filter(|r| r.path.starts_with("/recall/"))
            .all(|r| r.authorization.is_none())
    );
    let to_tenant: Vec<_> = received.iter().filter(|r| r.host == OTHER_TENANT).collect();
    assert_eq!(to_tenant.len(), 1, "{received:?}");
    assert_eq!(to_tenant[0].authorization, None);
    assert!(!to_tenant[0].head.contains(KEY), "{}", to_tenant[0].head);
    assert!(
        !to_tenant[0].head.contains("gigmcp-placeholder-"),
        "{}",
        to_tenant[0].head
    );

    // Neither the environment nor the memory of the sandboxed server holds the key in any form.
    let needles: Vec<Vec<u8>> = forms(&auth)
        .into_iter()
        .map(|(_, f)| f.into_bytes())
        .collect();
    let scanned = scan_sandboxed_servers(&needles);
    assert!(scanned >= 1, "found {scanned} sandboxed servers to scan");

    // The withheld credential is in the audit log.
    let withheld = audit_until(&gw, |d| d.contains(OTHER_TENANT) && d.contains("Withheld")).await;
    assert!(withheld.contains("api_key"), "{withheld}");
    gw.stop().await;
}

/// The detail of the first `egress.request` audit event matching `pred` (written
/// asynchronously: waits up to 5 s).
async fn audit_until(gw: &TestGateway, pred: impl Fn(&str) -> bool) -> String {
    let mut details = Vec::new();
    for _ in 0..100 {
        details = gw
            .store
            .list_audit(200)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "egress.request")
            .map(|e| e.detail)
            .collect();
        if let Some(d) = details.iter().find(|d| pred(d)) {
            return d.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no such audit event: {details:#?}")
}

/// Reads the environment and every readable memory region of each process running a
/// sandboxed static server (`/.gig/server`) with a sealed credential, asserting none holds any
/// of `needles`; returns how many processes were scanned. Root reads them as a debugger would.
fn scan_sandboxed_servers(needles: &[Vec<u8>]) -> usize {
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
            continue;
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
            for needle in needles {
                assert!(
                    !contains(&region[..n], needle),
                    "pid {pid} holds {} in {line}",
                    String::from_utf8_lossy(needle)
                );
            }
        }
        for needle in needles {
            assert!(!contains(&environ, needle), "pid {pid} environment");
        }
        scanned += 1;
    }
    scanned
}
