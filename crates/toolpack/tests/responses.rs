//! What the model gets back: the engine's tool results for the answers an API really gives
//! (no content, client and server errors, rate limits, images, documents, huge text, an API
//! that does not answer, a call the client gives up on, redirects), through the real egress
//! proxy against a mock upstream with canned answers per path (`tests/data/manifests/respond`).

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::engine::{Engine, is_error, result_text};
use common::mock::{Event, Recorded, Reply};
use common::rig::Rig;
use common::{Setup, new_rig, start_data_engine};
use serde_json::{Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\xff\xfe";
const PDF: &[u8] =
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n\x00\xff\x10 trailer <<>>\n%%EOF\n";
const TEN_MIB: usize = 10 * 1024 * 1024;
const HTML_HEAD: &str = "<!doctype html><html><body><h1>Internal boom</h1>";
const HTML_TAIL: &str = "END-OF-A-LONG-HTML-PAGE";
/// How long the slow answer takes (longer than any test waits).
const SLOW: Duration = Duration::from_secs(30);

/// 10 MiB of text whose characters are 1, 2 and 3 bytes long, so a byte cap rarely falls on
/// a character boundary.
fn big_text() -> String {
    let mut s = "é€x".repeat(TEN_MIB / 6);
    while s.len() < TEN_MIB {
        s.push('y');
    }
    s
}

/// The canned answers, by path.
fn canned(rec: &Recorded) -> Reply {
    match rec.path.as_str() {
        "/r/no-content" => Reply::new(204),
        "/r/missing" => Reply::new(404)
            .header("content-type", "application/json")
            .body(br#"{"error":"no such thing"}"#.to_vec()),
        "/r/rate-limited" => Reply::new(429)
            .header("retry-after", "7")
            .header("content-type", "text/plain")
            .body("slow down"),
        "/r/unauthorized" => Reply::new(401)
            .header("content-type", "application/json")
            .body(br#"{"error":"invalid token"}"#.to_vec()),
        "/r/html-error" => {
            let page = format!(
                "{HTML_HEAD}{}{HTML_TAIL}</body></html>",
                "<p>trace line</p>".repeat(600)
            );
            Reply::new(500)
                .header("content-type", "text/html; charset=utf-8")
                .body(page)
        }
        "/r/object" => Reply::new(200)
            .header("content-type", "application/json")
            .header(
                "link",
                "<https://api.respond.example/r/object?page=2>; rel=\"next\"",
            )
            .header("x-request-id", "req-42")
            .header("x-ratelimit-remaining", "99")
            .header("set-cookie", "session=upstream-cookie")
            .header("x-internal-debug", "do-not-forward")
            .body(br#"{"items":[1,2],"next":"c2"}"#.to_vec()),
        "/r/image" => Reply::new(200)
            .header("content-type", "image/png")
            .body(PNG),
        "/r/pdf" => Reply::new(200)
            .header("content-type", "application/pdf")
            .body(PDF),
        "/r/huge-image" => Reply::new(200)
            .header("content-type", "image/png")
            .body([PNG, &vec![0x5a; 6 * 1024 * 1024]].concat()),
        "/r/big" => Reply::new(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(big_text()),
        "/r/slow" => Reply::ok_json().delay(SLOW),
        "/r/redirect-out" => {
            Reply::new(302).header("location", "https://evil.elsewhere.example/steal")
        }
        "/r/redirect-other" => {
            Reply::new(302).header("location", "https://other.respond.example/r/landing")
        }
        "/r/redirect-same" => Reply::new(302).header("location", "/r/landing"),
        "/r/redirect-http" => {
            Reply::new(302).header("location", "http://api.respond.example/r/landing")
        }
        "/r/loop" => Reply::new(302).header("location", "/r/loop"),
        "/r/landing" => Reply::new(200)
            .header("content-type", "application/json")
            .body(br#"{"landed":true}"#.to_vec()),
        _ => Reply::new(418).body("unexpected path"),
    }
}

async fn respond_rig() -> Rig {
    let rig = new_rig().await;
    rig.mock.respond(canned);
    rig
}

/// Calls `fetch` with `case`; returns the tool result (a JSON-RPC error fails the test).
async fn fetch(engine: &Engine, case: &str) -> Value {
    engine
        .call_result("fetch", &json!({"case": case}))
        .await
        .unwrap_or_else(|e| panic!("fetch {case}: {e}; stderr: {}", engine.stderr()))
}

fn http_meta(result: &Value) -> &Value {
    &result["_meta"]["io.gigmcp/http"]
}

/// The one request the upstream received, checked to carry the real secret.
fn only_request(rig: &Rig, setup: &Setup, path: &str) -> Recorded {
    let recs = rig.mock.records();
    assert_eq!(recs.len(), 1, "one request upstream: {recs:?}");
    let rec = recs.into_iter().next().expect("one request");
    assert_eq!(rec.path, path);
    let cred = setup.cred.as_ref().expect("respond has a credential");
    assert_eq!(
        rec.header("authorization"),
        Some(format!("Bearer {}", cred.secret)),
        "the upstream got the real secret"
    );
    rec
}

#[tokio::test]
async fn no_content_is_a_success_saying_so() {
    let rig = respond_rig().await;
    let (engine, setup) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "no-content").await;
    assert!(!is_error(&r), "204 is a success: {r}");
    assert!(
        result_text(&r).contains("204"),
        "the text names the status: {r}"
    );
    assert_eq!(http_meta(&r)["status"], 204, "{r}");
    only_request(&rig, &setup, "/r/no-content");
}

#[tokio::test]
async fn not_found_is_a_tool_error_with_status_and_body() {
    let rig = respond_rig().await;
    let (engine, setup) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "missing").await;
    assert!(is_error(&r), "404 is a tool error: {r}");
    let text = result_text(&r);
    assert!(text.contains("404"), "names the status: {text}");
    assert!(text.contains("no such thing"), "carries the body: {text}");
    assert_eq!(http_meta(&r)["status"], 404, "{r}");
    // No retry of a client error.
    only_request(&rig, &setup, "/r/missing");
}

#[tokio::test]
async fn rate_limit_names_retry_after() {
    let rig = respond_rig().await;
    let (engine, setup) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "rate-limited").await;
    assert!(is_error(&r), "429 is a tool error: {r}");
    let text = result_text(&r);
    assert!(text.contains("429"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after") && text.contains('7'),
        "the text names Retry-After and its value: {text}"
    );
    assert_eq!(http_meta(&r)["headers"]["retry-after"], "7", "{r}");
    // The engine does not retry on its own.
    only_request(&rig, &setup, "/r/rate-limited");
}

#[tokio::test]
async fn unauthorized_asks_to_reconnect_the_credential() {
    let rig = respond_rig().await;
    let (engine, setup) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "unauthorized").await;
    assert!(is_error(&r), "{r}");
    let text = result_text(&r);
    assert!(text.contains("401"), "{text}");
    assert!(
        text.contains("reconnect"),
        "tells the user what to do: {text}"
    );
    only_request(&rig, &setup, "/r/unauthorized");
}

#[tokio::test]
async fn server_error_html_is_an_error_with_a_short_snippet() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "html-error").await;
    assert!(is_error(&r), "500 is a tool error: {r}");
    let text = result_text(&r);
    assert!(text.contains("500"), "{text}");
    assert!(
        text.contains("Internal boom"),
        "the body's start is quoted: {text}"
    );
    assert!(
        !text.contains(HTML_TAIL),
        "a 10 KiB page is not returned whole"
    );
    assert!(
        text.len() <= 4096 + 512,
        "the snippet is at most 4 KiB (text is {} bytes)",
        text.len()
    );
    assert_eq!(http_meta(&r)["status"], 500);
}

#[tokio::test]
async fn json_object_is_structured_and_only_selected_headers_are_kept() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "object").await;
    assert!(!is_error(&r), "{r}");
    let want = json!({"items": [1, 2], "next": "c2"});
    let text = result_text(&r);
    assert_eq!(
        serde_json::from_str::<Value>(&text).ok(),
        Some(want.clone()),
        "{text}"
    );
    assert_eq!(
        r["structuredContent"], want,
        "an object answer is structured content"
    );
    let meta = http_meta(&r);
    assert_eq!(meta["status"], 200);
    let headers = meta["headers"].as_object().expect("headers object");
    assert_eq!(
        headers.get("link").and_then(Value::as_str),
        Some("<https://api.respond.example/r/object?page=2>; rel=\"next\"")
    );
    assert_eq!(
        headers.get("x-request-id").and_then(Value::as_str),
        Some("req-42")
    );
    assert_eq!(
        headers.get("x-ratelimit-remaining").and_then(Value::as_str),
        Some("99")
    );
    for dropped in ["set-cookie", "x-internal-debug", "content-type"] {
        assert!(
            !headers.contains_key(dropped),
            "{dropped} is not passed on: {meta}"
        );
    }
}

#[tokio::test]
async fn image_is_image_content() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "image").await;
    assert!(!is_error(&r), "{r}");
    let content = r["content"].as_array().expect("content");
    let image = content
        .iter()
        .find(|c| c["type"] == "image")
        .unwrap_or_else(|| panic!("no image content: {r}"));
    assert_eq!(image["mimeType"], "image/png");
    let data = image["data"].as_str().expect("data");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64"),
        PNG,
        "the image bytes, base64"
    );
}

#[tokio::test]
async fn pdf_is_an_embedded_resource_blob() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "pdf").await;
    assert!(!is_error(&r), "{r}");
    let content = r["content"].as_array().expect("content");
    let res = content
        .iter()
        .find(|c| c["type"] == "resource")
        .unwrap_or_else(|| panic!("no embedded resource: {r}"));
    assert_eq!(res["resource"]["mimeType"], "application/pdf", "{res}");
    let blob = res["resource"]["blob"].as_str().expect("blob");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(blob)
            .expect("base64"),
        PDF,
        "the document bytes, base64"
    );
    assert!(
        res["resource"]["uri"]
            .as_str()
            .is_some_and(|u| !u.is_empty()),
        "{res}"
    );
}

/// The text kept from `body` under a cap of `max` bytes, cut at a character boundary.
fn kept(body: &str, max: usize) -> &str {
    let mut n = max.min(body.len());
    while !body.is_char_boundary(n) {
        n -= 1;
    }
    &body[..n]
}

fn assert_truncated(r: &Value, body: &str, max: usize) {
    assert!(!is_error(r), "a long text is not an error");
    let text = result_text(r);
    let head = kept(body, max);
    assert_ne!(
        head.len(),
        max,
        "the test's cap must fall inside a character"
    );
    assert!(
        text.starts_with(head),
        "the first {} bytes are kept, cut at a character boundary (got {} bytes starting {:?})",
        head.len(),
        text.len(),
        &text[..text.len().min(40)]
    );
    let marker = text[head.len()..].trim();
    assert_eq!(
        marker,
        format!("[truncated: {} of {} bytes]", head.len(), body.len()),
        "the marker says how much was kept of how much"
    );
}

#[tokio::test]
async fn ten_mib_of_text_is_cut_at_a_character_boundary_with_a_marker() {
    let rig = respond_rig().await;
    let body = big_text();
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "big").await;
    assert_truncated(&r, &body, 102_400);
    let (small, _) = start_data_engine(&rig, "respond", |env| {
        env.set("GIG_TOOLPACK_MAX_TEXT", "2001");
    })
    .await;
    let r = fetch(&small, "big").await;
    assert_truncated(&r, &body, 2001);
}

#[tokio::test]
async fn a_slow_upstream_times_out_in_time() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |env| {
        env.set("GIG_TOOLPACK_TIMEOUT", "2");
    })
    .await;
    let started = Instant::now();
    let r = fetch(&engine, "slow").await;
    let took = started.elapsed();
    assert!(is_error(&r), "a timeout is a tool error: {r}");
    let text = result_text(&r).to_ascii_lowercase();
    assert!(
        text.contains("timeout") || text.contains("timed out"),
        "says it timed out: {text}"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "answered after the 2 s bound, not before and not much later: {took:?}"
    );
    // The request that timed out is given up upstream too.
    let ev = rig
        .mock
        .wait_events(Duration::from_secs(5), |ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Aborted { path, .. } if path == "/r/slow"))
        })
        .await;
    assert!(ev.is_ok(), "the upstream saw the request abandoned: {ev:?}");
}

#[tokio::test]
async fn cancelling_a_call_aborts_the_upstream_request() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let (id, answer) = engine
        .send(
            "tools/call",
            json!({"name": "fetch", "arguments": {"case": "slow"}}),
        )
        .await
        .expect("send");
    let recs = rig.mock.wait_records(1, Duration::from_secs(10)).await;
    assert_eq!(recs.len(), 1, "the slow request reached the upstream");
    let cancelled_at = Instant::now();
    engine
        .notify(
            "notifications/cancelled",
            json!({"requestId": id, "reason": "the user gave up"}),
        )
        .await
        .expect("notify");
    let ev = rig
        .mock
        .wait_events(Duration::from_secs(5), |ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Aborted { path, .. } if path == "/r/slow"))
        })
        .await;
    let ev = ev.unwrap_or_else(|ev| panic!("the upstream request was not aborted: {ev:?}"));
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Completed { .. })),
        "the slow answer was never sent"
    );
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    // A cancelled request gets no answer (MCP: the receiver should not respond).
    let late = tokio::time::timeout(Duration::from_millis(500), answer).await;
    assert!(
        !matches!(late, Ok(Ok(_))),
        "the cancelled call was answered: {late:?}"
    );
    // The engine goes on serving.
    let r = fetch(&engine, "object").await;
    assert!(!is_error(&r), "a call after the cancellation works: {r}");
}

#[tokio::test]
async fn a_redirect_outside_the_allowlist_is_not_followed() {
    for spec in ["respond", "respond-entrusted"] {
        let rig = respond_rig().await;
        let (engine, setup) = start_data_engine(&rig, spec, |_| {}).await;
        let secret = setup.cred.as_ref().expect("credential").secret.clone();
        let r = fetch(&engine, "redirect-out").await;
        assert!(
            is_error(&r),
            "{spec}: a refused redirect is a tool error: {r}"
        );
        let text = result_text(&r);
        assert!(
            text.contains("evil.elsewhere.example"),
            "{spec}: the error names the refused host: {text}"
        );
        let recs = rig.mock.records();
        assert_eq!(
            recs.len(),
            1,
            "{spec}: only the first request went out: {recs:?}"
        );
        assert_eq!(recs[0].sni, "api.respond.example");
        // The engine did not even ask the proxy for the other host (the proxy would refuse
        // it anyway): no tunnel to it was attempted.
        let audit = rig.drain_audit(Duration::from_millis(300)).await;
        assert!(
            audit.iter().any(|e| e.host == "api.respond.example"),
            "{spec}: the audit sees the first request: {audit:?}"
        );
        let tried: Vec<_> = audit
            .iter()
            .filter(|e| e.host.contains("elsewhere"))
            .collect();
        assert!(
            tried.is_empty(),
            "{spec}: the engine tried the redirect target: {tried:?}"
        );
        assert!(
            !text.contains(&secret),
            "{spec}: the secret is not in the result"
        );
    }
}

#[tokio::test]
async fn a_redirect_to_another_allowed_host_drops_the_credential() {
    for spec in ["respond", "respond-entrusted"] {
        let rig = respond_rig().await;
        let (engine, setup) = start_data_engine(&rig, spec, |_| {}).await;
        let cred = setup.cred.clone().expect("credential");
        let r = fetch(&engine, "redirect-other").await;
        assert!(!is_error(&r), "{spec}: the redirect is followed: {r}");
        assert_eq!(
            serde_json::from_str::<Value>(&result_text(&r)).ok(),
            Some(json!({"landed": true})),
            "{spec}: the result is the redirect target's answer"
        );
        let recs = rig.mock.records();
        assert_eq!(recs.len(), 2, "{spec}: {recs:?}");
        let (first, second) = (&recs[0], &recs[1]);
        assert_eq!(
            (first.sni.as_str(), first.path.as_str()),
            ("api.respond.example", "/r/redirect-other")
        );
        let auth_header = match &setup.ctx.auth {
            common::expect::Auth::Header { name, value } => {
                (name.to_ascii_lowercase(), value.clone())
            }
            other => panic!("{spec}: header auth expected, got {other:?}"),
        };
        assert_eq!(
            first.header(&auth_header.0),
            Some(auth_header.1.clone()),
            "{spec}: the first host got the credential"
        );
        assert_eq!(
            (second.sni.as_str(), second.path.as_str()),
            ("other.respond.example", "/r/landing")
        );
        assert!(
            second.header_values(&auth_header.0).is_empty(),
            "{spec}: the redirect target got the auth header: {:?}",
            second.header_values(&auth_header.0)
        );
        let all = second.all_bytes();
        let has = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(
            !has(&cred.secret),
            "{spec}: the secret reached the redirect target"
        );
        if let Some(ph) = &cred.placeholder {
            assert!(
                !has(ph),
                "{spec}: the placeholder reached the redirect target"
            );
        }
    }
}

#[tokio::test]
async fn a_binary_answer_over_5_mib_is_a_tool_error() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "huge-image").await;
    let shown: String = r.to_string().chars().take(300).collect();
    assert!(
        is_error(&r),
        "6 MiB of image is refused, not returned: {shown}"
    );
    assert!(
        r["content"]
            .as_array()
            .is_some_and(|c| c.iter().all(|i| i["type"] == "text")),
        "no partial image is returned: {shown}"
    );
    // The engine goes on serving.
    assert!(!is_error(&fetch(&engine, "image").await));
}

#[tokio::test]
async fn calls_run_concurrently() {
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let mut pending = Vec::new();
    for _ in 0..3 {
        let sent = engine
            .send(
                "tools/call",
                json!({"name": "fetch", "arguments": {"case": "slow"}}),
            )
            .await
            .expect("send");
        pending.push(sent);
    }
    // A slow call does not hold the others back: all three reach the upstream at once...
    let recs = rig.mock.wait_records(3, Duration::from_secs(5)).await;
    assert_eq!(
        recs.len(),
        3,
        "three slow calls in flight together: {recs:?}"
    );
    // ...and a fast one is answered meanwhile.
    let started = Instant::now();
    let r = fetch(&engine, "object").await;
    assert!(!is_error(&r), "{r}");
    assert!(started.elapsed() < Duration::from_secs(5));
    for (id, _) in &pending {
        engine
            .notify("notifications/cancelled", json!({"requestId": id}))
            .await
            .expect("cancel");
    }
    let aborted = rig
        .mock
        .wait_events(Duration::from_secs(5), |ev| {
            ev.iter()
                .filter(|e| matches!(e, Event::Aborted { .. }))
                .count()
                == 3
        })
        .await;
    assert!(
        aborted.is_ok(),
        "each cancelled call was aborted upstream: {aborted:?}"
    );
}

#[tokio::test]
async fn a_proxy_refusal_is_reported_as_egress_denied() {
    let rig = respond_rig().await;
    let (engine, setup) = start_data_engine(&rig, "respond", |_| {}).await;
    // The gateway narrowed this install's egress below the manifest's (an admin decision):
    // the engine's own check passes, the proxy refuses the tunnel.
    let mut narrowed = setup.files.manifest.clone();
    narrowed.entitlements.egress = vec!["other.respond.example".into()];
    rig.register(
        &narrowed,
        &["other.respond.example".to_owned()],
        setup.cred.as_ref(),
    );
    let r = fetch(&engine, "object").await;
    assert!(is_error(&r), "{r}");
    let text = result_text(&r);
    assert!(
        text.contains("egress denied") && text.contains("api.respond.example"),
        "the error says the egress proxy refused the host: {text}"
    );
    assert!(
        rig.mock.records().is_empty(),
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn same_host_redirects_keep_the_credential_and_are_bounded_and_https_only() {
    // Same host, relative `Location`: followed with the credential.
    let rig = respond_rig().await;
    let (engine, setup) = start_data_engine(&rig, "respond", |_| {}).await;
    let secret = setup.cred.as_ref().expect("credential").secret.clone();
    let r = fetch(&engine, "redirect-same").await;
    assert!(!is_error(&r), "{r}");
    assert_eq!(
        serde_json::from_str::<Value>(&result_text(&r)).ok(),
        Some(json!({"landed": true}))
    );
    let recs = rig.mock.records();
    let paths: Vec<&str> = recs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/r/redirect-same", "/r/landing"]);
    for rec in &recs {
        assert_eq!(
            rec.header("authorization"),
            Some(format!("Bearer {secret}")),
            "{}: the same host keeps the credential",
            rec.path
        );
    }

    // A downgrade to http:// is not followed.
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "redirect-http").await;
    assert!(is_error(&r), "an http:// redirect is refused: {r}");
    assert_eq!(
        rig.mock.records().len(),
        1,
        "only the first request went out"
    );

    // A loop stops after at most 5 redirects.
    let rig = respond_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let r = fetch(&engine, "loop").await;
    assert!(is_error(&r), "a redirect loop is an error: {r}");
    let n = rig.mock.records().len();
    assert!(
        (2..=6).contains(&n),
        "1 request + at most 5 redirects followed, got {n}"
    );
}
