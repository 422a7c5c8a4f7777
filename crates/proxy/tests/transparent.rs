//! The transparent path: DNS responder plus SNI-routed TLS listener.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::*;
use gigmcp_proxy::dns::{TYPE_A, TYPE_AAAA, build_query, parse_response};
use gigmcp_proxy::{Decision, DenyReason, Entry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

async fn dns_ask(from: IpAddr, server: SocketAddr, name: &str, qtype: u16) -> (u8, Vec<IpAddr>) {
    let sock = UdpSocket::bind(SocketAddr::new(from, 0)).await.unwrap();
    sock.send_to(&build_query(0x4242, name, qtype), server)
        .await
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("DNS answer")
        .unwrap();
    let (id, rcode, addrs) = parse_response(&buf[..n]).unwrap();
    assert_eq!(id, 0x4242);
    (rcode, addrs)
}

#[tokio::test]
async fn dns_answers_allowlisted_names_only() {
    let mut h = Harness::new(Options::default()).await;
    let listener: IpAddr = "127.0.0.1".parse().unwrap();
    let dns = h
        .proxy
        .bind_dns("127.0.0.1:0".parse().unwrap(), listener)
        .await
        .unwrap();
    let server = dns.local_addr();
    assert_eq!(
        dns_ask(sandbox_a(), server, API, TYPE_A).await,
        (0, vec![listener])
    );
    assert_eq!(
        dns_ask(sandbox_a(), server, "X.Wild.Test.Example", TYPE_A).await,
        (0, vec![listener])
    );
    assert_eq!(
        dns_ask(sandbox_a(), server, API, TYPE_AAAA).await,
        (0, vec![])
    );
    // Not allowlisted (and exfiltration-shaped) names: NXDOMAIN.
    assert_eq!(
        dns_ask(sandbox_a(), server, OTHER, TYPE_A).await,
        (3, vec![])
    );
    assert_eq!(
        dns_ask(sandbox_a(), server, "c2VjcmV0.attacker.example", TYPE_A).await,
        (3, vec![])
    );
    // Bob's allowlist is narrower.
    assert_eq!(
        dns_ask(sandbox_b(), server, "x.wild.test.example", TYPE_A).await,
        (3, vec![])
    );
    // Unknown source: REFUSED.
    assert_eq!(
        dns_ask("127.0.0.9".parse().unwrap(), server, API, TYPE_A).await,
        (5, vec![])
    );
    let events = h.drain_audit().await;
    let reasons: Vec<_> = events
        .iter()
        .map(|e| (e.entry, e.host.as_str(), e.decision.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                Entry::Dns,
                OTHER,
                Decision::Denied(DenyReason::NotAllowlisted)
            ),
            (
                Entry::Dns,
                "c2vjcmv0.attacker.example",
                Decision::Denied(DenyReason::NotAllowlisted)
            ),
            (
                Entry::Dns,
                "x.wild.test.example",
                Decision::Denied(DenyReason::NotAllowlisted)
            ),
            (Entry::Dns, API, Decision::Denied(DenyReason::UnknownSource)),
        ]
    );
}

/// Several queries on one DNS-over-TCP connection, as a resolver with `options use-vc` sends.
async fn dns_ask_tcp(
    from: IpAddr,
    server: SocketAddr,
    queries: &[(&str, u16)],
) -> Vec<(u8, Vec<IpAddr>)> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(from, 0)).unwrap();
    let mut tcp = sock.connect(server).await.unwrap();
    let mut out = Vec::new();
    for (i, (name, qtype)) in queries.iter().enumerate() {
        let q = build_query(i as u16, name, *qtype);
        tcp.write_all(&(q.len() as u16).to_be_bytes())
            .await
            .unwrap();
        tcp.write_all(&q).await.unwrap();
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len).into()];
        tcp.read_exact(&mut buf).await.unwrap();
        let (id, rcode, addrs) = parse_response(&buf).unwrap();
        assert_eq!(id, i as u16);
        out.push((rcode, addrs));
    }
    out
}

#[tokio::test]
async fn dns_over_tcp_answers_like_udp_and_drops_oversized_frames() {
    let mut h = Harness::new(Options::default()).await;
    let listener: IpAddr = "127.0.0.1".parse().unwrap();
    let dns = h
        .proxy
        .bind_dns_tcp("127.0.0.1:0".parse().unwrap(), listener)
        .await
        .unwrap();
    let server = dns.local_addr();
    let answers = dns_ask_tcp(
        sandbox_a(),
        server,
        &[(API, TYPE_A), (OTHER, TYPE_A), (API, TYPE_AAAA)],
    )
    .await;
    assert_eq!(answers, vec![(0, vec![listener]), (3, vec![]), (0, vec![])]);
    assert_eq!(
        dns_ask_tcp("127.0.0.9".parse().unwrap(), server, &[(API, TYPE_A)]).await,
        vec![(5, vec![])]
    );
    // a frame longer than any query: the connection is closed unanswered
    let mut tcp = tokio::net::TcpStream::connect(server).await.unwrap();
    tcp.write_all(&u16::MAX.to_be_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let events = h.drain_audit().await;
    assert!(
        events
            .iter()
            .any(|e| e.host == OTHER && e.decision == Decision::Denied(DenyReason::NotAllowlisted)),
        "{events:?}"
    );
}

#[tokio::test]
async fn direct_tls_to_allowed_host_is_intercepted_and_injected() {
    let mut h = Harness::new(Options::default()).await;
    let t = h
        .proxy
        .bind_transparent("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = t.local_addr();
    let stream = connect_from(sandbox_a(), addr).await;
    let mut s = http_over(stream, API, &h.ca_pem).await.unwrap();
    let host = format!("{API}:{}", addr.port());
    for _ in 0..2 {
        let (status, _, body) = get(
            &mut s,
            request(
                &host,
                "/echo-auth",
                Some(&format!("Bearer {PLACEHOLDER_A}")),
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains(KEY_A));
    }
    // Host naming another (even allowed-looking) host is refused: no domain fronting.
    let (status, _, _) = get(
        &mut s,
        request(&format!("{OTHER}:{}", addr.port()), "/", None),
    )
    .await;
    assert_eq!(status, 421);
    let seen = h.upstream.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].authorization, Some(format!("Bearer {KEY_A}")));
    assert_eq!(seen[0].host, h.target(API));
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 3);
    assert!(
        events[..2]
            .iter()
            .all(|e| e.entry == Entry::Transparent && e.decision == Decision::Allowed)
    );
    assert!(matches!(
        events[2].decision.denied(),
        Some(DenyReason::HostMismatch { .. })
    ));
}

#[tokio::test]
async fn direct_tls_to_other_host_fails_without_leaf() {
    let mut h = Harness::new(Options::default()).await;
    let t = h
        .proxy
        .bind_transparent("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let stream = connect_from(sandbox_a(), t.local_addr()).await;
    assert!(http_over(stream, OTHER, &h.ca_pem).await.is_err());
    assert_eq!(h.proxy.metrics().leaves_minted, 0);
    assert!(!h.proxy.leaves().contains(OTHER));
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].entry, Entry::Transparent);
    assert_eq!(events[0].host, OTHER);
    assert_eq!(
        events[0].decision,
        Decision::Denied(DenyReason::NotAllowlisted)
    );
    assert!(h.upstream.seen().is_empty());
}

#[tokio::test]
async fn client_hello_without_sni_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    let t = h
        .proxy
        .bind_transparent("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let stream = connect_from(sandbox_a(), t.local_addr()).await;
    let name =
        rustls::pki_types::ServerName::IpAddress("127.0.0.1".parse::<IpAddr>().unwrap().into());
    assert!(client_tls(&h.ca_pem).connect(name, stream).await.is_err());
    // Garbage instead of a ClientHello.
    let mut stream = connect_from(sandbox_a(), t.local_addr()).await;
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf),
    )
    .await;
    let events = h.drain_audit().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].decision, Decision::Denied(DenyReason::NoSni));
    assert!(matches!(
        events[1].decision.denied(),
        Some(DenyReason::ClientTls(_))
    ));
    assert_eq!(h.proxy.metrics().leaves_minted, 0);
}

#[tokio::test]
async fn unknown_source_on_transparent_listener_is_refused() {
    let mut h = Harness::new(Options::default()).await;
    let t = h
        .proxy
        .bind_transparent("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let stream = connect_from("127.0.0.9".parse().unwrap(), t.local_addr()).await;
    assert!(http_over(stream, API, &h.ca_pem).await.is_err());
    let events = h.drain_audit().await;
    assert_eq!(
        events[0].decision,
        Decision::Denied(DenyReason::UnknownSource)
    );
    assert_eq!(h.proxy.metrics().leaves_minted, 0);
}

#[tokio::test]
async fn wildcard_bind_addresses_are_refused() {
    let h = Harness::new(Options::default()).await;
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let addr: SocketAddr = addr.parse().unwrap();
        assert!(matches!(
            h.proxy.bind_connect(addr).await,
            Err(gigmcp_proxy::ProxyError::UnsafeBind(_))
        ));
        assert!(matches!(
            h.proxy.bind_transparent(addr).await,
            Err(gigmcp_proxy::ProxyError::UnsafeBind(_))
        ));
        assert!(matches!(
            h.proxy.bind_dns(addr, "127.0.0.1".parse().unwrap()).await,
            Err(gigmcp_proxy::ProxyError::UnsafeBind(_))
        ));
    }
    let l = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    assert!(matches!(
        h.proxy.serve_connect(l),
        Err(gigmcp_proxy::ProxyError::UnsafeBind(_))
    ));
}
