//! HTTP response ⇒ MCP `CallToolResult` (T18–T21).
//!
//! Contract of [`to_result`]:
//! - every result carries `_meta["io.gigmcp/http"] = {status, headers}` with only `link`,
//!   `location`, `retry-after`, `x-ratelimit-*` and `x-request-id` (repeated values joined with
//!   `, `, each value cut to 1 KiB);
//! - 2xx: 204 ⇒ text "204 No Content"; another empty body ⇒ text `<status> <reason>`; JSON
//!   (`application/json`, `*+json`, `text/json`, or no `Content-Type` and a body that parses) ⇒
//!   one text content with the JSON compacted and, when it is an object that fits the text cap,
//!   `structuredContent`; other text (`text/*`, `*+xml`, XML, JavaScript, YAML, form, SVG, or no
//!   type and valid UTF-8) ⇒ text; `image/*` ⇒ image content, `audio/*` ⇒ audio content
//!   (base64); anything else ⇒ an embedded resource blob with its media type and the answering
//!   URL without query as `uri`. Binary bodies over the read cap are a tool error;
//! - text longer than `max_text` bytes is cut at a UTF-8 boundary and ends with
//!   `[truncated: N of M bytes]` (`of more than M bytes` when the length is unknown); invalid
//!   UTF-8 is replaced by U+FFFD;
//! - non-2xx ⇒ `isError: true`, text `HTTP <status> <reason>`, a body snippet of at most 4 KiB,
//!   then for 401/403 a hint to reconnect the credential and for 429/503 the `Retry-After`;
//! - a refusal by the egress proxy itself (403 whose body starts `gigmcp egress proxy:`, or any
//!   421) ⇒ `isError: true`, `egress denied: <host>` and the proxy's reason.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use crate::http::Fetched;

/// `_meta` key of the HTTP summary.
pub const META_HTTP: &str = "io.gigmcp/http";
/// Longest error-body snippet.
pub const SNIPPET: usize = 4096;
/// Prefix of the egress proxy's own refusal pages.
pub const PROXY_PAGE: &str = "gigmcp egress proxy:";
/// Longest header value copied into `_meta`.
const META_VALUE: usize = 1024;

/// How a body is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Text,
    Image,
    Audio,
    Binary,
}

/// The media type without parameters, lower-cased (`None` when absent).
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = v.split(';').next().unwrap_or_default().trim();
    (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
}

/// Classifies a body by media type (sniffing only when there is none).
pub fn kind_of(media: Option<&str>, body: &[u8]) -> Kind {
    let Some(m) = media else {
        if serde_json::from_slice::<Value>(body).is_ok() {
            return Kind::Json;
        }
        return if std::str::from_utf8(body).is_ok() {
            Kind::Text
        } else {
            Kind::Binary
        };
    };
    let (top, sub) = m.split_once('/').unwrap_or((m, ""));
    if sub == "json" && matches!(top, "application" | "text") || sub.ends_with("+json") {
        Kind::Json
    } else if top == "text"
        || sub.ends_with("+xml")
        || matches!(
            sub,
            "xml"
                | "javascript"
                | "ecmascript"
                | "yaml"
                | "x-yaml"
                | "x-www-form-urlencoded"
                | "x-ndjson"
                | "ndjson"
                | "graphql"
                | "csv"
        )
    {
        Kind::Text
    } else if top == "image" {
        Kind::Image
    } else if top == "audio" {
        Kind::Audio
    } else {
        Kind::Binary
    }
}

/// Whether a body of this media type is shown as text (JSON included; an absent type may be).
pub fn is_textual(media: Option<&str>) -> bool {
    media.is_none_or(|m| matches!(kind_of(Some(m), b""), Kind::Json | Kind::Text))
}

/// `text` cut to at most `max` bytes at a UTF-8 boundary.
pub fn cut_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` within `max` bytes, with the truncation note when it was cut or the body was longer
/// than read. `total`: the full length in bytes when known.
pub fn capped_text(text: &str, max: usize, total: Option<u64>, cut: bool) -> String {
    if text.len() <= max && !cut {
        return text.to_owned();
    }
    let kept = cut_utf8(text, max);
    let of = match total {
        Some(t) => format!("of {t} bytes"),
        None => format!("of more than {} bytes", text.len()),
    };
    format!("{kept}\n[truncated: {} {of}]", kept.len())
}

/// The `_meta["io.gigmcp/http"]` value.
pub fn http_meta(status: StatusCode, headers: &HeaderMap) -> Value {
    let mut kept = Map::new();
    for name in headers.keys() {
        let n = name.as_str();
        if !matches!(n, "link" | "location" | "retry-after" | "x-request-id")
            && !n.starts_with("x-ratelimit-")
        {
            continue;
        }
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        kept.insert(n.to_owned(), json!(cut_utf8(&joined, META_VALUE)));
    }
    json!({"status": status.as_u16(), "headers": kept})
}

fn text_content(text: impl Into<String>) -> Value {
    json!({"type": "text", "text": text.into()})
}

fn result(content: Vec<Value>, is_error: bool, meta: Value) -> Value {
    let mut r = json!({"content": content, "_meta": {META_HTTP: meta}});
    if is_error {
        r["isError"] = json!(true);
    }
    r
}

/// A tool-error result without HTTP details.
pub fn tool_error(message: impl Into<String>) -> Value {
    json!({"content": [text_content(message)], "isError": true})
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}

/// Maps a fetched response (see the module contract). `max_text`: the text cap in bytes.
pub fn to_result(f: &Fetched, max_text: usize) -> Value {
    let meta = http_meta(f.status, &f.headers);
    if !f.status.is_success() {
        return error_result(f, meta);
    }
    if f.status == StatusCode::NO_CONTENT || f.body.is_empty() && !f.cut {
        return result(vec![text_content(status_line(f.status))], false, meta);
    }
    let media = media_type(&f.headers);
    let kind = kind_of(media.as_deref(), &f.body);
    match kind {
        Kind::Json if !f.cut => {
            if let Ok(v) = serde_json::from_slice::<Value>(&f.body) {
                let compact = v.to_string();
                let mut r = result(
                    vec![text_content(capped_text(
                        &compact,
                        max_text,
                        Some(compact.len() as u64),
                        false,
                    ))],
                    false,
                    meta,
                );
                if v.is_object() && compact.len() <= max_text {
                    r["structuredContent"] = v;
                }
                return r;
            }
            text_result(f, max_text, meta)
        }
        Kind::Json | Kind::Text => text_result(f, max_text, meta),
        _ if f.cut => result(
            vec![text_content(format!(
                "the response is binary ({}) and larger than {} bytes{}: too large to return",
                media.as_deref().unwrap_or("no media type"),
                f.body.len(),
                f.total.map(|t| format!(" ({t} bytes)")).unwrap_or_default()
            ))],
            true,
            meta,
        ),
        Kind::Image | Kind::Audio => {
            let kind = if kind == Kind::Image {
                "image"
            } else {
                "audio"
            };
            let content = json!({
                "type": kind,
                "data": STANDARD.encode(&f.body),
                "mimeType": media.unwrap_or_default(),
            });
            result(vec![content], false, meta)
        }
        Kind::Binary => {
            let content = json!({"type": "resource", "resource": {
                "uri": f.url,
                "mimeType": media.unwrap_or_else(|| crate::body::OCTET_STREAM.to_owned()),
                "blob": STANDARD.encode(&f.body),
            }});
            result(vec![content], false, meta)
        }
    }
}

fn text_result(f: &Fetched, max_text: usize, meta: Value) -> Value {
    let text = String::from_utf8_lossy(&f.body);
    result(
        vec![text_content(capped_text(&text, max_text, f.total, f.cut))],
        false,
        meta,
    )
}

fn error_result(f: &Fetched, meta: Value) -> Value {
    let body = String::from_utf8_lossy(cut_bytes(&f.body, SNIPPET + 4));
    let status = f.status.as_u16();
    if status == 421 || status == 403 && body.starts_with(PROXY_PAGE) {
        let reason = body.lines().next().unwrap_or_default();
        let reason = reason.strip_prefix(PROXY_PAGE).unwrap_or(reason).trim();
        let mut text = format!("egress denied: {}", f.host);
        if !reason.is_empty() {
            text.push_str(&format!(" ({})", cut_utf8(reason, 512)));
        }
        return result(vec![text_content(text)], true, meta);
    }
    let mut text = format!("HTTP {}", status_line(f.status));
    let snippet = cut_utf8(&body, SNIPPET).trim();
    if !snippet.is_empty() {
        text.push('\n');
        text.push_str(snippet);
        if f.cut || f.body.len() > SNIPPET {
            text.push_str(" […]");
        }
    }
    match status {
        401 => text.push_str(
            "\nThe API did not accept the credential: reconnect the credential for this server in the dashboard.",
        ),
        403 => text.push_str(
            "\nThe API refused access: check the account's permissions, or reconnect the credential for this server in the dashboard.",
        ),
        429 | 503 => {
            let after = f
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok());
            match after {
                Some(a) => text.push_str(&format!("\nRetry-After: {a} (wait this long before retrying)")),
                None => text.push_str("\nRate limited or unavailable: wait before retrying."),
            }
        }
        _ => {}
    }
    result(vec![text_content(text)], true, meta)
}

fn cut_bytes(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
