//! Transport rules that do not depend on the era: which media types a request sends and
//! accepts, the body limit, and `Host`/`Origin` (DNS-rebinding and cross-origin protection).

use super::reply::{HttpError, ReplyKind};
use crate::config::GatewayConfig;
use axum::body::{Body, Bytes};
use http::{HeaderMap, StatusCode, header};

pub fn media_types(headers: &HeaderMap, name: header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

pub fn reply_kind(headers: &HeaderMap) -> Option<ReplyKind> {
    let accept = media_types(headers, header::ACCEPT);
    if accept.is_empty() {
        return Some(ReplyKind::Json);
    }
    let has = |m: &str| accept.iter().any(|a| a == m);
    if has("application/json") || has("application/*") || has("*/*") {
        Some(ReplyKind::Json)
    } else if has("text/event-stream") {
        Some(ReplyKind::Sse)
    } else {
        None
    }
}

/// The host name of a `Host` header value (no port; IPv6 literals keep their brackets).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// DNS-rebinding protection: a gateway listening on loopback answers only requests addressed
/// to a loopback name (or to a host whose origin the operator allowed), so a web page whose
/// domain was re-pointed at 127.0.0.1 cannot talk to it.
fn check_host(config: &GatewayConfig, headers: &HeaderMap) -> Result<(), HttpError> {
    if !config.listen.ip().is_loopback() {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = host_name(&host);
    let loopback = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
    let allowed = config.allowed_origins.iter().any(|o| {
        o.split_once("://")
            .is_some_and(|(_, authority)| host_name(authority) == name)
    });
    if loopback || allowed {
        return Ok(());
    }
    Err(HttpError::status(
        StatusCode::FORBIDDEN,
        format!(
            "Host {host:?} is not this gateway's: listening on loopback, it answers only \
             localhost, 127.0.0.1 or [::1] (DNS-rebinding protection); an operator serving \
             it under another name lists that origin in GIG_ALLOWED_ORIGINS"
        ),
    ))
}

pub fn check_origin(config: &GatewayConfig, headers: &HeaderMap) -> Result<(), HttpError> {
    check_host(config, headers)?;
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let own = !host.is_empty()
        && (origin == format!("http://{host}") || origin == format!("https://{host}"));
    if own || config.allowed_origins.contains(&origin) {
        return Ok(());
    }
    Err(HttpError::status(
        StatusCode::FORBIDDEN,
        format!(
            "origin {origin:?} is not allowed; an operator can allow it with GIG_ALLOWED_ORIGINS"
        ),
    ))
}

/// Whether the request's `Accept` names `media` exactly.
pub fn accepts(headers: &HeaderMap, media: &str) -> bool {
    media_types(headers, header::ACCEPT)
        .iter()
        .any(|m| m == media)
}

/// The POST's body, within `limit` bytes (checked against `Content-Length` first).
pub async fn body_within(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, HttpError> {
    let too_large = || {
        HttpError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// A POST must send JSON and accept JSON or SSE; the kind of answer it accepts.
pub fn post_media(headers: &HeaderMap) -> Result<ReplyKind, HttpError> {
    let content_types = media_types(headers, header::CONTENT_TYPE);
    if content_types.first().map(String::as_str) != Some("application/json") {
        return Err(HttpError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    reply_kind(headers).ok_or_else(|| {
        HttpError::status(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must include application/json or text/event-stream",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("evil.example.com:80"), "evil.example.com");
    }
}
