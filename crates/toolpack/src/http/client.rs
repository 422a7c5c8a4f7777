//! Sending one call's request (T16): credential per hop, redirects, the call deadline, and a
//! bounded read of the response body.
//!
//! Contract of [`HttpClient::fetch`]:
//! - tunnels come from [`Connector`] and are kept alive in a pool (per host, 30 s idle);
//! - the credential ([`Credentials`]) is added to the first request and to redirects that stay
//!   on the same host: its header, or its query parameter; a redirect to another host carries
//!   neither (an auth query parameter the `Location` itself names is removed). The credential
//!   replaces a header or query param of the same name; header params replace the fixed
//!   headers of the same name;
//! - redirects (301, 302, 303, 307, 308 with a `Location`): at most [`MAX_REDIRECTS`], `https`
//!   only, port 443, and the target host must pass the manifest's egress policy; 303, and 301/302
//!   of a non-GET, continue as a GET without body; 307/308 repeat the method and body;
//! - one retry, for a GET only, when the tunnel could not be opened for a transient reason
//!   (the proxy unreachable, or it could not reach the upstream: 502);
//! - the body is read up to `body_cap` bytes; beyond that reading stops and the total is the
//!   `Content-Length` when given; a text body without one is read on to [`DRAIN_CAP`] bytes,
//!   counted but not kept, so its total is known (else it is "more than" what was read).
//!
//! The whole call (all hops and the body) is bounded by the caller's deadline.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gigmcp_registry::EgressPolicy;
use gigmcp_registry::egress::normalize_host;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::connect::{ConnectError, Connector};
use crate::credential::{AuthPart, Credentials};
use crate::encode::{Component, encode};
use crate::request::HttpRequest;
use crate::response::{is_textual, media_type};

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;
/// Most bytes of a text body counted (not kept) past the read cap, to tell its length.
pub const DRAIN_CAP: u64 = 64 * 1024 * 1024;

/// A response, body read (bounded).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body's full length when known (read whole, or `Content-Length`).
    pub total: Option<u64>,
    /// Whether the body was longer than what was read.
    pub cut: bool,
    /// The host that answered (after redirects).
    pub host: String,
    /// `https://host/path` of the answer, without the query.
    pub url: String,
}

/// Why a call got no HTTP response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("redirect refused: {0}")]
    Redirect(String),
    #[error("the request to {host} failed: {why}")]
    Http { host: String, why: String },
    #[error("the request URL is invalid or too long: {0}")]
    Url(String),
}

/// The pooled HTTPS client of one engine.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    policy: EgressPolicy,
    body_cap: usize,
}

/// One hop: where to and what to send.
struct Hop {
    method: Method,
    host: String,
    path: String,
    query: String,
    with_body: bool,
}

impl HttpClient {
    pub fn new(connector: Connector, policy: EgressPolicy, body_cap: usize) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(4)
            .build(connector);
        Self {
            client,
            policy,
            body_cap,
        }
    }

    /// Sends `req` (see the module contract).
    pub async fn fetch(
        &self,
        req: &HttpRequest,
        creds: &Credentials,
    ) -> Result<Fetched, FetchError> {
        let mut hop = Hop {
            method: req.method.clone(),
            host: req.host.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            with_body: true,
        };
        let mut redirects = 0;
        loop {
            let same_host = hop.host == req.host;
            let resp = self.send_retrying(req, &hop, creds, same_host).await?;
            let location = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = resp.status();
            let Some(location) = location.filter(|_| is_redirect(status)) else {
                return self.read(resp, &hop).await;
            };
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(FetchError::Redirect(format!(
                    "more than {MAX_REDIRECTS} redirects"
                )));
            }
            hop = self.follow(&hop, status, &location, req, creds)?;
        }
    }

    /// The next hop of a redirect to `location`.
    fn follow(
        &self,
        hop: &Hop,
        status: StatusCode,
        location: &str,
        req: &HttpRequest,
        creds: &Credentials,
    ) -> Result<Hop, FetchError> {
        let (host, path, mut query) =
            resolve_location(&hop.host, &hop.path, location).map_err(FetchError::Redirect)?;
        if !self.policy.allows(&host) {
            return Err(FetchError::Redirect(format!(
                "egress denied: {host} is not allowed by this server's egress policy"
            )));
        }
        if host != req.host
            && let Some(name) = creds.query_name()
        {
            query = without_param(&query, name);
        }
        let to_get = status == StatusCode::SEE_OTHER
            || matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && hop.method != Method::GET;
        Ok(Hop {
            method: if to_get {
                Method::GET
            } else {
                hop.method.clone()
            },
            with_body: hop.with_body && !to_get,
            host,
            path,
            query,
        })
    }

    async fn send_retrying(
        &self,
        req: &HttpRequest,
        hop: &Hop,
        creds: &Credentials,
        same_host: bool,
    ) -> Result<http::Response<hyper::body::Incoming>, FetchError> {
        match self.send(req, hop, creds, same_host).await {
            Err(FetchError::Connect(
                ConnectError::Proxy { .. } | ConnectError::Refused { status: 502, .. },
            )) if hop.method == Method::GET => self.send(req, hop, creds, same_host).await,
            other => other,
        }
    }

    async fn send(
        &self,
        req: &HttpRequest,
        hop: &Hop,
        creds: &Credentials,
        same_host: bool,
    ) -> Result<http::Response<hyper::body::Incoming>, FetchError> {
        let mut query = hop.query.clone();
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            if !hop.with_body && is_body_header(name) {
                continue;
            }
            insert(&mut headers, name, value)?;
        }
        if same_host {
            for part in creds.parts() {
                match part {
                    AuthPart::Header { name, value } => insert(&mut headers, name, value)?,
                    AuthPart::Query { name, value } => {
                        // The credential wins over a query param of the same name.
                        query = without_param(&query, name);
                        if !query.is_empty() {
                            query.push('&');
                        }
                        query.push_str(&format!("{name}={}", encode(value, Component::Strict)));
                    }
                }
            }
        }
        if !hop.with_body && matches!(hop.method, Method::POST | Method::PUT | Method::PATCH) {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        let url = if query.is_empty() {
            format!("https://{}{}", hop.host, hop.path)
        } else {
            format!("https://{}{}?{}", hop.host, hop.path, query)
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| FetchError::Url(e.to_string()))?;
        let body = if hop.with_body {
            Bytes::from(req.body.bytes.clone())
        } else {
            Bytes::new()
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = hop.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        self.client.request(request).await.map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> =
                std::error::Error::source(&e);
            while let Some(s) = source {
                if let Some(c) = s.downcast_ref::<ConnectError>() {
                    return FetchError::Connect(c.clone());
                }
                source = s.source();
            }
            FetchError::Http {
                host: hop.host.clone(),
                why: error_chain(&e),
            }
        })
    }

    /// Reads the body, at most `body_cap` bytes.
    async fn read(
        &self,
        resp: http::Response<hyper::body::Incoming>,
        hop: &Hop,
    ) -> Result<Fetched, FetchError> {
        let (parts, mut body) = resp.into_parts();
        let declared: Option<u64> = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        // Text past the cap is still counted (not kept) so the truncation note can say of how
        // much, unless the length is declared; binary past the cap is an error: stop there.
        let drain = declared.is_none() && is_textual(media_type(&parts.headers).as_deref());
        let mut buf = BytesMut::new();
        let mut seen: u64 = 0;
        let mut cut = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| FetchError::Http {
                host: hop.host.clone(),
                why: format!("reading the response body: {}", error_chain(&e)),
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len() as u64;
            let room = self.body_cap - buf.len();
            if data.len() > room {
                buf.extend_from_slice(&data[..room]);
                cut = true;
                if !drain || seen > DRAIN_CAP {
                    break;
                }
            } else {
                buf.extend_from_slice(&data);
            }
        }
        let total = match (cut, declared) {
            (false, _) => Some(buf.len() as u64),
            (true, Some(d)) => Some(d),
            (true, None) if drain && seen <= DRAIN_CAP => Some(seen),
            (true, None) => None,
        };
        Ok(Fetched {
            status: parts.status,
            headers: parts.headers,
            body: buf.freeze(),
            total,
            cut,
            host: hop.host.clone(),
            url: format!("https://{}{}", hop.host, hop.path),
        })
    }
}

fn is_redirect(s: StatusCode) -> bool {
    matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn is_body_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-length")
}

/// Sets a header; a later value of the same name replaces an earlier one (header params over
/// the fixed headers, the body's `Content-Type` and the credential over header params).
fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), FetchError> {
    let bad = |what: &str| FetchError::Url(format!("header `{name}` has an invalid {what}"));
    let name = HeaderName::try_from(name).map_err(|_| bad("name"))?;
    let value = HeaderValue::try_from(value).map_err(|_| bad("value"))?;
    headers.insert(name, value);
    Ok(())
}

/// `query` without the pairs whose key is `name`.
fn without_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(name))
        .collect::<Vec<_>>()
        .join("&")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Resolves a `Location` against the current host and path: `(host, path, query)`. Only
/// `https` on port 443, no user info; the fragment is dropped.
pub fn resolve_location(
    host: &str,
    path: &str,
    location: &str,
) -> Result<(String, String, String), String> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    let absolute = if let Some(rest) = location.strip_prefix("//") {
        Some(format!("https://{rest}"))
    } else if location.contains("://") {
        Some(location.to_owned())
    } else {
        None
    };
    let (host, target) = match absolute {
        Some(url) => {
            let uri: Uri = url
                .parse()
                .map_err(|_| format!("`Location: {location}` is not a valid URL"))?;
            if uri.scheme_str() != Some("https") {
                return Err(format!("`{location}` is not https"));
            }
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
            if authority.contains('@') || !matches!(uri.port_u16(), None | Some(443)) {
                return Err(format!(
                    "`{location}` names user info or a port other than 443"
                ));
            }
            let h = normalize_host(uri.host().unwrap_or_default())
                .map_err(|_| format!("`{location}` does not name a DNS host"))?;
            let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            (h, target)
        }
        None if location.starts_with('/') => (host.to_owned(), location.to_owned()),
        None => {
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            (host.to_owned(), format!("{dir}/{location}"))
        }
    };
    let check: http::uri::PathAndQuery = target
        .parse()
        .map_err(|_| format!("`Location: {location}` is not a valid URL"))?;
    Ok((
        host,
        check.path().to_owned(),
        check.query().unwrap_or_default().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_query_keys_are_removed_by_name() {
        assert_eq!(
            without_param("a=1&api_key=x&b=2&api_key", "api_key"),
            "a=1&b=2"
        );
        assert_eq!(without_param("", "api_key"), "");
        assert_eq!(without_param("api_keys=1", "api_key"), "api_keys=1");
    }

    #[test]
    fn locations_resolve() {
        let r = |l: &str| resolve_location("api.example.com", "/v1/items/3", l);
        assert_eq!(
            r("/v2/x?a=1#frag").unwrap(),
            ("api.example.com".into(), "/v2/x".into(), "a=1".into())
        );
        assert_eq!(
            r("https://CDN.example.com/f").unwrap(),
            ("cdn.example.com".into(), "/f".into(), String::new())
        );
        assert_eq!(
            r("//cdn.example.com:443/f?x").unwrap(),
            ("cdn.example.com".into(), "/f".into(), "x".into())
        );
        assert_eq!(
            r("4").unwrap(),
            (
                "api.example.com".into(),
                "/v1/items/4".into(),
                String::new()
            )
        );
        assert!(r("http://cdn.example.com/f").is_err());
        assert!(r("https://cdn.example.com:8443/f").is_err());
        assert!(r("https://u:p@cdn.example.com/f").is_err());
        assert!(r("https://10.0.0.1/f").is_err());
        assert!(r("/a b").is_err());
    }
}
