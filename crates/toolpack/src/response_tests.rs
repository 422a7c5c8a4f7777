//! The response mapping table (T18–T21).

use super::*;
use bytes::Bytes;

fn fetched(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Fetched {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    Fetched {
        status: StatusCode::from_u16(status).unwrap(),
        headers: map,
        body: Bytes::copy_from_slice(body),
        total: Some(body.len() as u64),
        cut: false,
        host: "api.example.com".into(),
        url: "https://api.example.com/v1/x".into(),
    }
}

fn text_of(r: &Value) -> &str {
    r["content"][0]["text"].as_str().unwrap()
}

const MAX: usize = 100;

#[test]
fn json_object_gives_text_and_structured_content() {
    let f = fetched(
        200,
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("x-request-id", "r1"),
            ("x-ratelimit-remaining", "9"),
            ("set-cookie", "s=1"),
            (
                "link",
                "<https://api.example.com/v1/x?page=2>; rel=\"next\"",
            ),
        ],
        b"{ \"a\": 1,\n \"b\": [true] }",
    );
    let r = to_result(&f, MAX);
    assert_eq!(text_of(&r), r#"{"a":1,"b":[true]}"#);
    assert_eq!(r["structuredContent"], json!({"a": 1, "b": [true]}));
    assert!(r.get("isError").is_none());
    let meta = &r["_meta"][META_HTTP];
    assert_eq!(meta["status"], 200);
    assert_eq!(meta["headers"]["x-request-id"], "r1");
    assert_eq!(meta["headers"]["x-ratelimit-remaining"], "9");
    assert!(
        meta["headers"]["link"]
            .as_str()
            .unwrap()
            .contains("rel=\"next\"")
    );
    assert!(meta["headers"].get("set-cookie").is_none());
}

#[test]
fn json_array_and_problem_json() {
    let r = to_result(
        &fetched(200, &[("content-type", "application/json")], b"[1, 2]"),
        MAX,
    );
    assert_eq!(text_of(&r), "[1,2]");
    assert!(r.get("structuredContent").is_none());
    let r = to_result(
        &fetched(
            200,
            &[("content-type", "application/vnd.api+json")],
            b"{\"x\":1}",
        ),
        MAX,
    );
    assert_eq!(r["structuredContent"]["x"], 1);
    // no content type, but JSON
    let r = to_result(&fetched(200, &[], b"{\"x\":1}"), MAX);
    assert_eq!(r["structuredContent"]["x"], 1);
    // declared JSON that is not: shown as text
    let r = to_result(
        &fetched(200, &[("content-type", "application/json")], b"nope"),
        MAX,
    );
    assert_eq!(text_of(&r), "nope");
}

#[test]
fn text_image_audio_pdf() {
    let r = to_result(
        &fetched(200, &[("content-type", "text/csv")], b"a,b\n1,2"),
        MAX,
    );
    assert_eq!(text_of(&r), "a,b\n1,2");
    let r = to_result(
        &fetched(200, &[("content-type", "image/png")], b"\x89PNG"),
        MAX,
    );
    assert_eq!(r["content"][0]["type"], "image");
    assert_eq!(r["content"][0]["mimeType"], "image/png");
    assert_eq!(r["content"][0]["data"], "iVBORw==");
    let r = to_result(
        &fetched(200, &[("content-type", "audio/mpeg")], b"ID3"),
        MAX,
    );
    assert_eq!(r["content"][0]["type"], "audio");
    let r = to_result(
        &fetched(200, &[("content-type", "application/pdf")], b"%PDF-1.7"),
        MAX,
    );
    let res = &r["content"][0];
    assert_eq!(res["type"], "resource");
    assert_eq!(res["resource"]["mimeType"], "application/pdf");
    assert_eq!(res["resource"]["blob"], "JVBERi0xLjc=");
    assert_eq!(res["resource"]["uri"], "https://api.example.com/v1/x");
    // binary without a type
    let r = to_result(&fetched(200, &[], b"\xff\xfe\x00"), MAX);
    assert_eq!(
        r["content"][0]["resource"]["mimeType"],
        "application/octet-stream"
    );
}

#[test]
fn no_content_and_empty_bodies() {
    let r = to_result(&fetched(204, &[], b""), MAX);
    assert_eq!(text_of(&r), "204 No Content");
    assert!(r.get("isError").is_none());
    let r = to_result(&fetched(201, &[("location", "/v1/x/9")], b""), MAX);
    assert_eq!(text_of(&r), "201 Created");
    assert_eq!(r["_meta"][META_HTTP]["headers"]["location"], "/v1/x/9");
}

#[test]
fn errors_carry_status_snippet_and_hints() {
    let r = to_result(
        &fetched(
            404,
            &[("content-type", "application/json")],
            b"{\"error\":\"not found\"}",
        ),
        MAX,
    );
    assert_eq!(r["isError"], true);
    assert_eq!(text_of(&r), "HTTP 404 Not Found\n{\"error\":\"not found\"}");
    let r = to_result(&fetched(429, &[("retry-after", "30")], b"slow down"), MAX);
    assert!(text_of(&r).starts_with("HTTP 429 Too Many Requests\nslow down"));
    assert!(text_of(&r).contains("Retry-After: 30"));
    assert_eq!(r["_meta"][META_HTTP]["headers"]["retry-after"], "30");
    let r = to_result(&fetched(401, &[], b""), MAX);
    assert!(text_of(&r).contains("reconnect the credential"));
    let r = to_result(&fetched(403, &[], b"{\"message\":\"no\"}"), MAX);
    assert!(text_of(&r).starts_with("HTTP 403 Forbidden"));
    assert!(text_of(&r).contains("reconnect the credential"));
    let html = format!("<html>{}</html>", "x".repeat(10_000));
    let r = to_result(
        &fetched(500, &[("content-type", "text/html")], html.as_bytes()),
        MAX,
    );
    let t = text_of(&r);
    assert!(t.starts_with("HTTP 500 Internal Server Error\n<html>xxx"));
    assert!(t.len() <= SNIPPET + 100, "{}", t.len());
    assert!(t.ends_with("[…]"));
}

#[test]
fn proxy_refusals_are_egress_denied() {
    let r = to_result(
        &fetched(
            403,
            &[("content-type", "text/plain")],
            b"gigmcp egress proxy: a credential placeholder was used outside its header\n",
        ),
        MAX,
    );
    assert_eq!(r["isError"], true);
    assert!(
        text_of(&r).starts_with("egress denied: api.example.com ("),
        "{}",
        text_of(&r)
    );
    let r = to_result(&fetched(421, &[], b""), MAX);
    assert_eq!(text_of(&r), "egress denied: api.example.com");
}

#[test]
fn truncation_at_a_utf8_boundary() {
    // 99 ASCII bytes then a 3-byte char straddling the cap
    let body = format!("{}€tail", "a".repeat(99));
    let r = to_result(
        &fetched(200, &[("content-type", "text/plain")], body.as_bytes()),
        MAX,
    );
    let t = text_of(&r);
    assert_eq!(
        t,
        format!(
            "{}\n[truncated: 99 of {} bytes]",
            "a".repeat(99),
            body.len()
        )
    );
    // cut while reading: the total comes from Content-Length, or is unknown
    let mut f = fetched(
        200,
        &[("content-type", "text/plain")],
        "é".repeat(80).as_bytes(),
    );
    f.cut = true;
    f.total = Some(10_485_760);
    assert!(text_of(&to_result(&f, MAX)).ends_with("[truncated: 100 of 10485760 bytes]"));
    f.total = None;
    assert!(text_of(&to_result(&f, MAX)).ends_with("[truncated: 100 of more than 160 bytes]"));
    // JSON over the cap: compact text cut, no structured content
    let big = json!({"k": "v".repeat(200)}).to_string();
    let r = to_result(
        &fetched(200, &[("content-type", "application/json")], big.as_bytes()),
        MAX,
    );
    assert!(r.get("structuredContent").is_none());
    assert!(text_of(&r).ends_with(&format!("[truncated: 100 of {} bytes]", big.len())));
    // binary cut while reading: a tool error
    let mut f = fetched(200, &[("content-type", "application/zip")], b"PK");
    f.cut = true;
    f.total = None;
    assert_eq!(to_result(&f, MAX)["isError"], true);
}

#[test]
fn cut_utf8_never_splits() {
    let s = "aé€😀";
    for max in 0..=s.len() {
        let c = cut_utf8(s, max);
        assert!(c.len() <= max && s.starts_with(c));
    }
}
