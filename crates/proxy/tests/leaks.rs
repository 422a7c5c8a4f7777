//! A hostile upstream trying to hand the owner's secret back to the sandbox, or to get it sent
//! where it should not go: through the real proxy, real TLS and a local HTTPS upstream that
//! remembers what it was sent and echoes it later, encoded, in the status line, a header, the
//! body or a stream opened beforehand.

mod common;

use std::time::Duration;

use common::*;
use gigmcp_proxy::Decision;
use http_body_util::BodyExt;

/// The forms the hostile upstream uses: the key itself and every encoding in `echo_forms`.
fn assert_no_form_of(view: &str, auth: &str) {
    assert!(
        !view.contains(key_of(auth)),
        "the key itself leaked: {view}"
    );
    for (name, form) in echo_forms(auth) {
        assert!(!view.contains(&form), "the {name} form leaked: {view}");
    }
}

/// An echo `name=value` came back masked: at least as many `*` as the key has bytes minus a
/// few, and nothing visible beyond the non-secret context an encoding adds (`Bearer%20`, the
/// base64 of `user:`).
fn assert_masked_echo(line: &str, key: &str) {
    let (name, value) = line.split_once('=').unwrap_or_else(|| panic!("{line:?}"));
    let stars = value.bytes().filter(|&b| b == b'*').count();
    assert!(stars >= key.len() - 4, "{name}: not masked: {line}");
    let visible = value.split('*').map(str::len).max().unwrap_or(0);
    assert!(
        visible <= 12,
        "{name}: {visible} characters left visible: {line}"
    );
}

fn bearer(placeholder: &str) -> String {
    format!("Bearer {placeholder}")
}

#[tokio::test]
async fn the_status_line_carries_the_canonical_reason_never_the_upstream_s() {
    let h = Harness::new(Options::default()).await;
    let mut s = tunnel(&h, sandbox_a(), API).await;
    let req = request(&h.target(API), "/reason", Some(&bearer(PLACEHOLDER_A)));
    let got = get_all(&mut s, req).await;
    // The upstream answered `401 Bearer REALKEY-…`.
    assert_eq!(got.status, 401);
    assert_eq!(
        got.reason, None,
        "a reason phrase other than `Unauthorized`"
    );
    assert_no_form_of(&got.text(), &format!("Bearer {KEY_A}"));
    assert_eq!(
        h.upstream.seen()[0].authorization,
        Some(format!("Bearer {KEY_A}"))
    );
}

#[tokio::test]
async fn a_secret_stored_by_the_upstream_is_masked_when_returned_on_a_later_request() {
    let h = Harness::new(Options::default()).await;
    let auth = format!("Bearer {KEY_E}");
    let mut s = tunnel(&h, sandbox_e(), API).await;
    let stored = get_all(
        &mut s,
        request(&h.target(API), "/store", Some(&bearer(PLACEHOLDER_E))),
    )
    .await;
    assert_eq!(stored.status, 200);
    // Later requests carry no credential; the upstream returns what it kept, in every form,
    // in the reason phrase, a header and the body.
    for (name, _) in echo_forms(&auth) {
        let got = get_all(
            &mut s,
            request(&h.target(API), &format!("/recall/{name}"), None),
        )
        .await;
        assert_eq!(got.status, 200, "{name}: {}", got.body);
        assert_eq!(got.reason, None, "{name}");
        assert_no_form_of(&got.text(), &auth);
        assert_masked_echo(got.body.trim_end(), KEY_E);
        let header = got.headers["x-recall"].to_str().unwrap();
        assert_masked_echo(&format!("{name}={header}"), KEY_E);
    }
    // The control: the upstream really was sent the key, once, and only the placeholder-free
    // requests after it; every request of this sandbox asked for an unencoded body.
    let seen = h.upstream.seen();
    assert_eq!(seen[0].authorization, Some(auth.clone()));
    assert!(seen[1..].iter().all(|s| s.authorization.is_none()));
    assert!(
        seen.iter()
            .all(|s| s.headers["accept-encoding"] == "identity")
    );
}

#[tokio::test]
async fn a_secret_sent_on_one_tunnel_is_masked_on_the_sandbox_s_other_tunnels() {
    let h = Harness::new(Options::default()).await;
    let auth = format!("Bearer {KEY_E}");
    let mut first = tunnel(&h, sandbox_e(), API).await;
    let mut second = tunnel(&h, sandbox_e(), API).await;
    let t = h
        .proxy
        .bind_transparent("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let direct = connect_from(sandbox_e(), t.local_addr()).await;
    let mut third = http_over(direct, API, &h.ca_pem).await.unwrap();
    let stored = get_all(
        &mut first,
        request(&h.target(API), "/store", Some(&bearer(PLACEHOLDER_E))),
    )
    .await;
    assert_eq!(stored.status, 200);
    for (name, _) in echo_forms(&auth) {
        let path = format!("/recall/{name}");
        let got = get_all(&mut second, request(&h.target(API), &path, None)).await;
        assert_no_form_of(&got.text(), &auth);
        assert_masked_echo(got.body.trim_end(), KEY_E);
        let host = format!("{API}:{}", t.local_addr().port());
        let got = get_all(&mut third, request(&host, &path, None)).await;
        assert_no_form_of(&got.text(), &auth);
        assert_masked_echo(got.body.trim_end(), KEY_E);
    }
    assert_eq!(h.upstream.seen()[0].authorization, Some(auth));
}

#[tokio::test]
async fn a_stream_opened_before_the_secret_was_sent_masks_it_from_then_on() {
    let h = Harness::new(Options::default()).await;
    let auth = format!("Bearer {KEY_E}");
    let mut stream_tunnel = tunnel(&h, sandbox_e(), API).await;
    stream_tunnel.ready().await.unwrap();
    let resp = stream_tunnel
        .send_request(request(&h.target(API), "/events", None))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    // The first event arrives at once: nothing is held back that could not begin a secret.
    let first = tokio::time::timeout(Duration::from_secs(2), body.frame())
        .await
        .expect("the first event is not delayed")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&first[..], b"data: waiting\n\n");
    // Only now is the secret sent, on another tunnel; the upstream then echoes it on the
    // stream that was already open.
    let mut other = tunnel(&h, sandbox_e(), API).await;
    let stored = get_all(
        &mut other,
        request(&h.target(API), "/store", Some(&bearer(PLACEHOLDER_E))),
    )
    .await;
    assert_eq!(stored.status, 200);
    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    let rest = String::from_utf8(rest.to_vec()).unwrap();
    assert_no_form_of(&rest, &auth);
    let events: Vec<&str> = rest
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(events.len(), echo_forms(&auth).len(), "{rest}");
    for e in events {
        assert_masked_echo(e, KEY_E);
    }
}

#[tokio::test]
async fn transformed_echoes_are_masked() {
    let h = Harness::new(Options::default()).await;
    let auth = format!("Bearer {KEY_E}");
    let mut s = tunnel(&h, sandbox_e(), API).await;
    let got = get_all(
        &mut s,
        request(&h.target(API), "/forms", Some(&bearer(PLACEHOLDER_E))),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_no_form_of(&got.text(), &auth);
    let lines: Vec<&str> = got.body.lines().collect();
    assert_eq!(lines.len(), echo_forms(&auth).len());
    for line in lines {
        assert_masked_echo(line, KEY_E);
    }
    // Same length: Content-Length stayed valid.
    assert_eq!(
        got.headers["content-length"],
        got.body.len().to_string().as_str()
    );
    assert_eq!(h.upstream.seen()[0].authorization, Some(auth));
}

#[tokio::test]
async fn a_credential_goes_only_to_the_hosts_of_its_scope_even_under_a_wildcard() {
    let mut h = Harness::new(Options::default()).await;
    let frank: std::net::IpAddr = "127.0.0.7".parse().unwrap();
    const PLACEHOLDER_F: &str = "GIGMCP-SEALED-PLACEHOLDER-F";
    const KEY_F: &str = "REALKEY-frank-zendesk-0123";
    h.table.insert(
        frank,
        scoped_identity(
            "frank",
            &["*.wild.test.example"],
            &[TENANT],
            PLACEHOLDER_F,
            "vault/frank/zendesk",
        ),
    );
    h.creds.insert("vault/frank/zendesk", "api_key", KEY_F);
    // The server names another tenant under the same wildcard, with the placeholder.
    let mut s = tunnel(&h, frank, ATTACKER_TENANT).await;
    let got = get_all(
        &mut s,
        request(
            &h.target(ATTACKER_TENANT),
            "/echo-auth",
            Some(&bearer(PLACEHOLDER_F)),
        ),
    )
    .await;
    assert_eq!(got.status, 200, "the request itself goes through");
    assert_eq!(got.body, "you sent: \n");
    let seen = h.upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].host, h.target(ATTACKER_TENANT));
    assert_eq!(
        seen[0].authorization, None,
        "no Authorization header at all"
    );
    let sent = format!("{:?}", seen[0].headers);
    assert!(
        !sent.contains(KEY_F) && !sent.contains(PLACEHOLDER_F),
        "{sent}"
    );
    // The tenant it is scoped to gets it.
    let mut s = tunnel(&h, frank, TENANT).await;
    let got = get_all(
        &mut s,
        request(&h.target(TENANT), "/", Some(&bearer(PLACEHOLDER_F))),
    )
    .await;
    assert_eq!(got.status, 200);
    let seen = h.upstream.seen();
    assert_eq!(seen[1].host, h.target(TENANT));
    assert_eq!(seen[1].authorization, Some(format!("Bearer {KEY_F}")));
    // The audit says which credential was withheld, and where.
    let events = h.drain_audit().await;
    let decisions: Vec<(&str, &Decision)> = events
        .iter()
        .map(|e| (e.host.as_str(), &e.decision))
        .collect();
    assert_eq!(
        decisions,
        vec![
            (
                ATTACKER_TENANT,
                &Decision::Withheld {
                    credentials: vec!["api_key".into()]
                }
            ),
            (TENANT, &Decision::Allowed),
        ]
    );
}
