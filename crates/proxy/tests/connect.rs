//! The explicit CONNECT path, end to end over real sockets and real TLS on loopback.

mod common;

use std::time::Duration;

use common::*;
use gigmcp_proxy::{AuditEvent, BlockedClass, Decision, DenyReason, Entry};
use http::Version;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn denials(events: &[AuditEvent]) -> Vec<&DenyReason> {
    events.iter().filter_map(|e| e.decision.denied()).collect()
}

#[tokio::test]
async fn upstream_sees_real_key_while_client_sent_placeholder() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    let host = h.target(API);
    for i in 0..3 {
        let req = request(
            &host,
            &format!("/echo-auth?q={i}&token=zzz"),
            Some(&format!("Bearer {PLACEHOLDER_A}")),
        );
        let (status, headers, body) = get(&mut s, req).await;
        assert_eq!(status, 200);
        // The upstream echoed the real header value; the sandbox must only see it masked
        // (the whole injected value, `Bearer ` included).
        assert!(!body.contains(KEY_A), "{body}");
        assert!(!headers["x-echo-auth"].to_str().unwrap().contains(KEY_A));
        let masked = "*".repeat(format!("Bearer {KEY_A}").len());
        assert_eq!(body, format!("you sent: {masked}\n"));
    }
    let seen = h.upstream.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Bearer {KEY_A}").as_str())
        );
        assert_eq!(s.version, Version::HTTP_11);
        assert!(!format!("{:?}", s.headers).contains(PLACEHOLDER_A));
        assert_eq!(s.host, h.target(API));
    }
    // Keep-alive: one tunnel, one leaf, three requests.
    let m = h.proxy.metrics();
    assert_eq!(m.leaves_minted, 1);
    assert_eq!(m.requests, 3);
    assert_eq!(m.tunnels, 1);
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 3, "{events:?}");
    for e in &events {
        assert_eq!(e.decision, Decision::Allowed);
        assert_eq!(e.entry, Entry::Connect);
        assert_eq!(e.path, "/echo-auth");
        assert_eq!(e.method, "GET");
        assert_eq!(e.host, API);
        assert_eq!(e.status, Some(200));
        assert!(e.bytes_down > 0);
        let who = e.subject.as_ref().unwrap();
        assert_eq!(
            (
                who.owner.as_str(),
                who.profile.as_str(),
                who.server.as_str()
            ),
            ("alice", "alice-profile", "weather")
        );
    }
}

#[tokio::test]
async fn two_users_get_their_own_keys_under_concurrency() {
    let h = Harness::new(Options::default()).await;
    let host = h.target(API);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (src, who, placeholder) = if i % 2 == 0 {
            (sandbox_a(), "alice", PLACEHOLDER_A)
        } else {
            (sandbox_b(), "bob", PLACEHOLDER_B)
        };
        let mut s = tunnel(&h, src, API).await;
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let mut req = request(&host, "/", Some(&format!("Bearer {placeholder}")));
                req.headers_mut().insert("x-who", who.parse().unwrap());
                let (status, _, _) = get(&mut s, req).await;
                assert_eq!(status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seen = h.upstream.seen();
    assert_eq!(seen.len(), 160);
    for s in seen {
        let expected = match s.who.as_deref() {
            Some("alice") => KEY_A,
            Some("bob") => KEY_B,
            other => panic!("unexpected marker {other:?}"),
        };
        assert_eq!(s.authorization, Some(format!("Bearer {expected}")));
    }
}

#[tokio::test]
async fn other_users_placeholder_is_not_swapped() {
    // Bob's sandbox sending Alice's placeholder gets no key (it is just an unknown token).
    let h = Harness::new(Options::default()).await;
    let mut s = tunnel(&h, sandbox_b(), API).await;
    let (status, _, _) = get(
        &mut s,
        request(
            &h.target(API),
            "/",
            Some(&format!("Bearer {PLACEHOLDER_A}")),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let seen = h.upstream.seen();
    assert_eq!(
        seen[0].authorization,
        Some(format!("Bearer {PLACEHOLDER_A}"))
    );
    assert!(!format!("{:?}", seen[0].headers).contains(KEY_A));
}

#[tokio::test]
async fn not_allowlisted_host_refused_before_any_leaf() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    let (status, body) = send_connect(&mut s, &h.target(OTHER)).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("not in the server's egress allowlist"),
        "{body}"
    );
    assert_eq!(h.proxy.metrics().leaves_minted, 0);
    assert!(!h.proxy.leaves().contains(OTHER));
    // Bob may reach API only; wildcard entries of Alice do not leak to him.
    let mut s = connect_from(sandbox_b(), h.proxy_addr()).await;
    let (status, _) = send_connect(&mut s, &h.target("x.wild.test.example")).await;
    assert_eq!(status, 403);
    let events = h.drain_audit().await;
    assert_eq!(
        denials(&events),
        vec![&DenyReason::NotAllowlisted, &DenyReason::NotAllowlisted]
    );
    assert_eq!(events[0].host, OTHER);
    assert_eq!(events[0].status, Some(403));
    assert!(h.upstream.seen().is_empty());
}

#[tokio::test]
async fn names_resolving_to_private_addresses_are_refused() {
    let mut h = Harness::new(Options {
        allow_loopback: false,
        ..Options::default()
    })
    .await;
    for (name, class) in [
        ("rebind.test.example", BlockedClass::Loopback),
        ("ten.test.example", BlockedClass::Private),
    ] {
        let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
        let (status, body) = send_connect(&mut s, &h.target(name)).await;
        assert_eq!(status, 403, "{name}: {body}");
        let events = h.drain_audit().await;
        match &events[..] {
            [e] => assert!(
                matches!(e.decision.denied(), Some(DenyReason::ForbiddenAddress { class: c, .. }) if *c == class),
                "{e:?}"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(h.proxy.metrics().leaves_minted, 0);
}

#[tokio::test]
async fn garbage_instead_of_connect() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = read_response(&mut s).await;
    assert_eq!(status, 400);
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    s.write_all(b"GET http://api.test.example/ HTTP/1.1\r\nHost: api.test.example\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = read_response(&mut s).await;
    assert_eq!(status, 405);
    let events = h.drain_audit().await;
    let reasons = denials(&events);
    assert!(
        matches!(reasons[0], DenyReason::Malformed(m) if m.contains("UTF-8") || m.contains("request line")),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], &DenyReason::NotConnect("GET".into()));
}

#[tokio::test]
async fn one_megabyte_header_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    let mut req = format!("CONNECT {} HTTP/1.1\r\nX-Big: ", h.target(API)).into_bytes();
    req.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    let (mut rd, mut wr) = s.split();
    let writer = async {
        let _ = wr.write_all(&req).await; // the proxy stops reading early
    };
    let reader = async {
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut buf)).await;
        String::from_utf8_lossy(&buf).to_string()
    };
    let ((), resp) = tokio::join!(writer, reader);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    let events = h.drain_audit().await;
    assert_eq!(
        denials(&events),
        vec![&DenyReason::HeaderTooLarge { limit: 16 * 1024 }]
    );
}

#[tokio::test]
async fn connect_to_ip_literal_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    for target in ["127.0.0.1:443", "[::1]:443", "0x7f.1:443"] {
        let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
        let (status, body) = send_connect(&mut s, target).await;
        assert_eq!(status, 403, "{target}");
        assert!(body.contains("IP literal"), "{body}");
    }
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| matches!(e.decision.denied(), Some(DenyReason::IpLiteral(_))))
    );
}

#[tokio::test]
async fn unknown_source_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = connect_from("127.0.0.9".parse().unwrap(), h.proxy_addr()).await;
    let (status, _) = send_connect(&mut s, &h.target(API)).await;
    assert_eq!(status, 403);
    let events = h.drain_audit().await;
    assert_eq!(denials(&events), vec![&DenyReason::UnknownSource]);
    assert!(events[0].subject.is_none());
}

#[tokio::test]
async fn client_hello_without_sni_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    let (status, _) = send_connect(&mut s, &h.target(API)).await;
    assert_eq!(status, 200);
    // rustls sends no SNI when the server name is an IP address.
    let name = rustls::pki_types::ServerName::IpAddress(
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap().into(),
    );
    let r = client_tls(&h.ca_pem).connect(name, s).await;
    assert!(r.is_err());
    let events = h.drain_audit().await;
    assert_eq!(denials(&events), vec![&DenyReason::NoSni]);
    assert_eq!(h.proxy.metrics().leaves_minted, 0);
}

#[tokio::test]
async fn sni_must_match_connect_host() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    let (status, _) = send_connect(&mut s, &h.target(API)).await;
    assert_eq!(status, 200);
    assert!(http_over(s, OTHER, &h.ca_pem).await.is_err());
    let events = h.drain_audit().await;
    assert!(matches!(
        denials(&events)[..],
        [DenyReason::SniMismatch { .. }]
    ));
    assert!(!h.proxy.leaves().contains(OTHER));
}

#[tokio::test]
async fn upstream_with_invalid_certificate_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    // A second upstream whose CA the proxy does not trust.
    let rogue = start_upstream(&[BADCERT], false).await;
    h.resolver
        .insert(BADCERT, vec!["127.0.0.1".parse().unwrap()]);
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    let (status, body) = send_connect(&mut s, &format!("{BADCERT}:{}", rogue.addr.port())).await;
    assert_eq!(status, 502);
    assert!(body.contains("upstream certificate invalid"), "{body}");
    let events = h.drain_audit().await;
    assert!(
        matches!(denials(&events)[..], [DenyReason::UpstreamCertificate(_)]),
        "{events:?}"
    );
    assert_eq!(h.proxy.metrics().leaves_minted, 0);
    assert!(rogue.seen().is_empty());
}

#[tokio::test]
async fn host_header_must_name_the_tunnel_host() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    let (status, _, body) = get(
        &mut s,
        request(
            &h.target(OTHER),
            "/",
            Some(&format!("Bearer {PLACEHOLDER_A}")),
        ),
    )
    .await;
    assert_eq!(status, 421, "{body}");
    let (status, _, _) = get(&mut s, request(API, "/", None)).await; // wrong port
    assert_eq!(status, 421);
    assert!(h.upstream.seen().is_empty());
    let events = h.drain_audit().await;
    assert!(matches!(
        denials(&events)[..],
        [
            DenyReason::HostMismatch { .. },
            DenyReason::HostMismatch { .. }
        ]
    ));
}

#[tokio::test]
async fn placeholder_outside_its_header_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    let mut req = request(&h.target(API), "/", None);
    req.headers_mut()
        .insert("x-api-key", PLACEHOLDER_A.parse().unwrap());
    let (status, _, _) = get(&mut s, req).await;
    assert_eq!(status, 403);
    let (status, _, _) = get(
        &mut s,
        request(&h.target(API), &format!("/?key={PLACEHOLDER_A}"), None),
    )
    .await;
    assert_eq!(status, 403);
    assert!(h.upstream.seen().is_empty());
    let events = h.drain_audit().await;
    assert_eq!(
        denials(&events),
        vec![
            &DenyReason::PlaceholderMisuse,
            &DenyReason::PlaceholderMisuse
        ]
    );
}

#[tokio::test]
async fn http2_toward_the_upstream_when_offered() {
    let h = Harness::new(Options {
        h2: true,
        ..Options::default()
    })
    .await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    for _ in 0..2 {
        let (status, _, body) = get(
            &mut s,
            request(
                &h.target(API),
                "/echo-auth",
                Some(&format!("Bearer {PLACEHOLDER_A}")),
            ),
        )
        .await;
        assert_eq!(status, 200);
        assert!(!body.contains(KEY_A));
    }
    let seen = h.upstream.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.version == Version::HTTP_2));
    assert_eq!(seen[0].authorization, Some(format!("Bearer {KEY_A}")));
    assert_eq!(seen[0].host, h.target(API));
}

#[tokio::test]
async fn request_body_streams_and_is_counted() {
    let mut h = Harness::new(Options::default()).await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    let body = vec![b'x'; 3 * 1024 * 1024];
    let req = http::Request::builder()
        .method("POST")
        .uri("/upload")
        .header("host", h.target(API))
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let (status, _, text) = get(&mut s, req).await;
    assert_eq!(status, 200);
    assert_eq!(text, format!("got {} bytes", 3 * 1024 * 1024));
    let events = h.drain_audit().await;
    assert_eq!(events[0].bytes_up, 3 * 1024 * 1024);
    assert_eq!(events[0].method, "POST");
}

#[tokio::test]
async fn connections_per_sandbox_are_limited() {
    let mut h = Harness::new(Options {
        tweak: |c| c.limits.max_connections_per_identity = 2,
        ..Options::default()
    })
    .await;
    let _t1 = tunnel(&h, sandbox_a(), API).await;
    let _t2 = tunnel(&h, sandbox_a(), API).await;
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    let (status, _) = send_connect(&mut s, &h.target(API)).await;
    assert_eq!(status, 429);
    // Another sandbox is not starved.
    let _t3 = tunnel(&h, sandbox_b(), API).await;
    let events = h.drain_audit().await;
    assert_eq!(
        denials(&events),
        vec![&DenyReason::TooManyConnections { limit: 2 }]
    );
}

#[tokio::test]
async fn idle_tunnels_are_closed() {
    let h = Harness::new(Options {
        tweak: |c| c.limits.idle_timeout = Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    let (status, _, _) = get(&mut s, request(&h.target(API), "/", None)).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(s.is_closed() || s.ready().await.is_err());
    assert_eq!(h.proxy.metrics().connections_open, 0);
}

#[tokio::test]
async fn slow_request_head_times_out() {
    let mut h = Harness::new(Options {
        tweak: |c| c.limits.header_timeout = Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let mut s = connect_from(sandbox_a(), h.proxy_addr()).await;
    s.write_all(b"CONNECT api.test").await.unwrap();
    let (status, _) = read_response(&mut s).await;
    assert_eq!(status, 408);
    let events = h.drain_audit().await;
    assert_eq!(denials(&events), vec![&DenyReason::HeaderTimeout]);
}

#[tokio::test]
async fn audit_drops_are_counted_not_blocking() {
    let h = Harness::new(Options {
        audit_capacity: 1,
        ..Options::default()
    })
    .await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    for _ in 0..4 {
        let (status, _, _) = get(&mut s, request(&h.target(API), "/", None)).await;
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.proxy.metrics().audit_dropped, 3);
}

#[tokio::test]
async fn entrusted_server_keeps_its_header_and_its_allowlist() {
    let mut h = Harness::new(Options::default()).await;
    let entrusted: std::net::IpAddr = "127.0.0.4".parse().unwrap();
    let mut id = identity("carol", &[API], "UNUSED-PLACEHOLDER", "vault/carol/weather");
    id.injections.clear();
    id.entrusted = true;
    h.table.insert(entrusted, id);
    let mut s = tunnel(&h, entrusted, API).await;
    let (status, _, body) = get(
        &mut s,
        request(
            &h.target(API),
            "/echo-auth",
            Some("Bearer carol-own-env-key"),
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, "you sent: Bearer carol-own-env-key\n");
    let mut c = connect_from(entrusted, h.proxy_addr()).await;
    let (status, _) = send_connect(&mut c, &h.target(OTHER)).await;
    assert_eq!(status, 403);
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.subject.as_ref().is_some_and(|s| s.entrusted))
    );
    assert_eq!(
        events[1].decision,
        Decision::Denied(DenyReason::NotAllowlisted)
    );
}

#[tokio::test]
async fn secret_echoed_in_a_streamed_body_split_across_frames_is_masked() {
    let h = Harness::new(Options::default()).await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    let req = request(
        &h.target(API),
        "/split",
        Some(&format!("Bearer {PLACEHOLDER_A}")),
    );
    let (status, headers, body) = get(&mut s, req).await;
    assert_eq!(status, 200);
    assert!(
        headers.get("content-length").is_none(),
        "expected a streamed body"
    );
    let masked = "*".repeat(format!("Bearer {KEY_A}").len());
    assert_eq!(body, format!("first: {masked} second: {masked}\n"));
    assert_eq!(
        h.upstream.seen()[0].authorization,
        Some(format!("Bearer {KEY_A}"))
    );
}

#[tokio::test]
async fn missing_credential_fails_closed() {
    let mut h = Harness::new(Options::default()).await;
    let dave: std::net::IpAddr = "127.0.0.5".parse().unwrap();
    // Registered, but the vault holds nothing under this key.
    h.table.insert(
        dave,
        identity("dave", &[API], PLACEHOLDER_A, "vault/dave/none"),
    );
    let mut s = tunnel(&h, dave, API).await;
    let (status, _, body) = get(
        &mut s,
        request(
            &h.target(API),
            "/",
            Some(&format!("Bearer {PLACEHOLDER_A}")),
        ),
    )
    .await;
    assert_eq!(status, 502);
    assert!(body.contains("credential unavailable"), "{body}");
    assert!(h.upstream.seen().is_empty());
    let events = h.drain_audit().await;
    assert!(matches!(
        events[0].decision.denied(),
        Some(DenyReason::CredentialUnavailable(_))
    ));
}
