//! The gateway's egress wiring: the proxy on a sandbox's host-side address, the sandbox named by
//! its source address, the owner's secret read from the vault and swapped for the placeholder,
//! and the request audited in the store. Sandboxes are stood in for by clients bound to their
//! own loopback source addresses; the upstream is a local HTTPS server with its own CA.

mod common;

use common::upstream::{HOST, UPSTREAM_IP, upstream};
use gigmcp_gateway::egress::{Egress, EgressSettings, PROXY_PORT, credential_key};
use gigmcp_proxy::{CertificateAuthority, Injection, SandboxIdentity};
use gigmcp_registry::egress::EgressPolicy;
use gigmcp_store::{NewServer, Role, ServerSource, Store, StoreUrl};
use gigmcp_vault::{Keyring, MasterKey};
use rustls::pki_types::ServerName;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// A "sandbox" at `source` asks the proxy at `proxy` for `https://HOST/` with the placeholder.
async fn request_via_proxy(
    source: Ipv4Addr,
    proxy: Ipv4Addr,
    egress_ca_pem: &str,
    placeholder: &str,
) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    let mut tcp = socket
        .connect(SocketAddr::from((proxy, PROXY_PORT)))
        .await
        .unwrap();
    tcp.write_all(format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tcp.read(&mut byte).await.unwrap(),
            1,
            "proxy closed during CONNECT"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return head;
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(egress_ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = connector
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await
        .unwrap();
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {placeholder}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = tls.read_to_string(&mut out).await;
    out
}

#[tokio::test]
async fn each_owner_s_vault_secret_replaces_the_placeholder_and_every_request_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&StoreUrl::sqlite_in(dir.path()))
        .await
        .unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::generate().unwrap(), Vec::new()));
    let server = store
        .create_server(NewServer {
            name: "api".parse().unwrap(),
            source: ServerSource::LocalBinary {
                path: "/nonexistent".into(),
            },
        })
        .await
        .unwrap();
    let alice = store.ensure_user("alice", Role::User).await.unwrap();
    let bob = store.ensure_user("bob", Role::User).await.unwrap();
    gigmcp_vault::put_secret(
        &store,
        &keyring,
        alice.id,
        server.id,
        "api_key",
        b"ALICEKEY",
    )
    .await
    .unwrap();
    gigmcp_vault::put_secret(&store, &keyring, bob.id, server.id, "api_key", b"BOBKEY")
        .await
        .unwrap();

    let upstream_ca = CertificateAuthority::generate("test upstream CA").unwrap();
    let settings = EgressSettings {
        allowed_ranges: vec!["127.0.0.0/8".parse().unwrap()],
        extra_roots_pem: Some(upstream_ca.cert_pem().to_string()),
        resolve: [(HOST.to_string(), IpAddr::V4(UPSTREAM_IP))].into(),
        ..EgressSettings::default()
    };
    let egress = Egress::start(settings, store.clone(), keyring).unwrap();
    upstream(&upstream_ca, &[("ALICEKEY", "alice")]).await;

    let identity = |owner: &gigmcp_store::User, allow: &str| SandboxIdentity {
        server: "api".into(),
        profile: format!("{}-profile", owner.username),
        owner: owner.username.clone(),
        egress: EgressPolicy::parse(&[allow.to_string()]).unwrap(),
        injections: vec![
            Injection::new(
                "api_key",
                "authorization",
                "GIG_PLACEHOLDER_1",
                "Bearer {token}",
                [HOST],
            )
            .unwrap(),
        ],
        credential_key: credential_key(owner.id, server.id),
        entrusted: false,
    };
    let (alice_host, alice_sb) = (Ipv4Addr::new(127, 0, 0, 41), Ipv4Addr::new(127, 0, 0, 42));
    let (bob_host, bob_sb) = (Ipv4Addr::new(127, 0, 0, 45), Ipv4Addr::new(127, 0, 0, 46));
    let _alice = egress
        .attach(alice_host, alice_sb, identity(&alice, HOST))
        .await
        .unwrap();
    let bob_lease = egress
        .attach(bob_host, bob_sb, identity(&bob, "*.other.test"))
        .await
        .unwrap();

    // alice's sandbox sends only the placeholder; the upstream sees her real key
    let out = request_via_proxy(alice_sb, alice_host, egress.ca_pem(), "GIG_PLACEHOLDER_1").await;
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("hello alice"),
        "{out}"
    );
    assert!(!out.contains("ALICEKEY"));
    // bob's manifest does not allow the host: refused at CONNECT
    let out = request_via_proxy(bob_sb, bob_host, egress.ca_pem(), "GIG_PLACEHOLDER_1").await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    // an unknown source address is refused
    let out = request_via_proxy(
        Ipv4Addr::new(127, 0, 0, 47),
        alice_host,
        egress.ca_pem(),
        "GIG_PLACEHOLDER_1",
    )
    .await;
    assert!(!out.starts_with("HTTP/1.1 200"), "{out}");
    // a lease dropped: the sandbox is forgotten
    drop(bob_lease);

    // audited, asynchronously
    let mut hosts = Vec::new();
    for _ in 0..50 {
        hosts = store
            .list_audit(50)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "egress.request")
            .collect();
        if hosts.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        hosts
            .iter()
            .any(|e| e.actor == "alice" && e.detail.contains(HOST)),
        "{hosts:?}"
    );
    assert!(hosts.iter().any(|e| e.actor == "bob"), "{hosts:?}");
    assert!(
        hosts
            .iter()
            .all(|e| !e.detail.contains("ALICEKEY") && !e.detail.contains("BOBKEY"))
    );
}
