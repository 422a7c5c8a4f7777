//! Phase 6, per request: the **request filter**, between the sandbox's request and the upstream.
//!
//! Contract, in this order (the first failure refuses the request, which is then never
//! forwarded):
//!
//! 1. the `Host` (or absolute-form authority) must name the tunnel host and the port the
//!    sandbox connected to ([`DenyReason::HostMismatch`], 421: no domain fronting);
//! 2. no placeholder in the path or the query ([`swap::check_target`]);
//! 3. hop-by-hop and `Proxy-*` headers are dropped ([`strip_hop_by_hop`]);
//! 4. for a registration with injection rules: the secrets the swap needs are fetched from the
//!    credential source (each within the connect timeout), [`swap::swap`] runs, and every secret
//!    it wrote is added to the registration's redaction set (its matcher rebuilt off the async
//!    workers) **before** the request leaves; then `Accept-Encoding: identity`, so every
//!    response can be inspected;
//! 5. the request is addressed to the upstream: `https://host[:port]` and a `Host` to match.
//!
//! Returns the request to send and the ids of the credentials withheld from it.

use std::sync::Arc;

use gigmcp_registry::egress::normalize_host;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Uri};
use tokio::time::timeout;
use zeroize::Zeroizing;

use crate::audit::DenyReason;
use crate::hop_by_hop::strip_hop_by_hop;
use crate::identity::{Injection, SandboxIdentity};
use crate::redact::RedactionSet;
use crate::state::Shared;
use crate::swap::{self, Fetched, Verdict};

/// Where a tunnel's requests go, and where the sandbox believes they go.
pub(crate) struct Route<'a> {
    /// The vetted tunnel host.
    pub(crate) host: &'a str,
    /// Upstream port.
    pub(crate) port: u16,
    /// Port the sandbox believes it talks to (CONNECT port, or the transparent listener's).
    pub(crate) client_port: u16,
}

/// The request filter (see the module contract). Generic over the body, which it never reads.
pub(crate) async fn filter<B>(
    shared: &Shared,
    identity: &SandboxIdentity,
    redactions: &Arc<RedactionSet>,
    route: &Route<'_>,
    req: Request<B>,
) -> Result<(Request<B>, Vec<String>), DenyReason> {
    let (mut parts, body) = req.into_parts();
    check_request_host(&parts.uri, &parts.headers, route)?;
    let injections = &identity.injections;
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    swap::check_target(&pq, injections)?;
    strip_hop_by_hop(&mut parts.headers);
    let mut withheld = Vec::new();
    if !injections.is_empty() {
        let headers = std::mem::take(&mut parts.headers);
        (parts.headers, withheld) =
            inject(shared, identity, redactions, route.host, headers).await?;
        // Redaction needs to see the plain bytes of every response of this registration.
        parts.headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    let authority = if route.port == 443 {
        route.host.to_owned()
    } else {
        format!("{}:{}", route.host, route.port)
    };
    parts.headers.remove(header::HOST);
    parts.uri = Uri::builder()
        .scheme("https")
        .authority(authority.as_str())
        .path_and_query(pq.as_str())
        .build()
        .map_err(|e| DenyReason::Malformed(format!("request target: {e}")))?;
    parts.headers.insert(
        header::HOST,
        HeaderValue::from_str(&authority)
            .map_err(|_| DenyReason::InvalidHost(authority.clone()))?,
    );
    Ok((Request::from_parts(parts, body), withheld))
}

/// The swap with its I/O around it: fetch what it needs, run it, add every secret it wrote to
/// the registration's redaction set, then hand back the headers to send (or the refusal).
async fn inject(
    shared: &Shared,
    identity: &SandboxIdentity,
    redactions: &Arc<RedactionSet>,
    host: &str,
    headers: HeaderMap,
) -> Result<(HeaderMap, Vec<String>), DenyReason> {
    let injections = &identity.injections;
    let fetched = fetch(shared, identity, swap::wanted(&headers, injections, host)).await;
    let swap::Swap {
        verdict,
        injected,
        withheld,
    } = swap::swap(headers, injections, host, &fetched);
    for credential in &withheld {
        tracing::info!(%credential, host, "credential withheld: host outside its scope");
    }
    for i in &injected {
        if !i.secret.is_empty() {
            // Before the request leaves: an echo can only come after this.
            remember(
                redactions,
                &i.injection.credential_id,
                i.secret,
                &i.rendered,
            )
            .await?;
        }
    }
    match verdict {
        Verdict::Send(headers) => Ok((headers, withheld)),
        Verdict::Refuse(reason) => Err(reason),
    }
}

/// Asks the credential source for each wanted secret, in order, once each, each within the
/// connect timeout; stops at the first failure (the swap refuses there, see [`swap::wanted`]).
async fn fetch<'a>(
    shared: &Shared,
    identity: &SandboxIdentity,
    wanted: impl Iterator<Item = &'a Injection>,
) -> Fetched<'a> {
    let mut fetched = Fetched::default();
    let limit = shared.config.limits.connect_timeout;
    for inj in wanted {
        let id = inj.credential_id.as_str();
        if fetched.has(id) {
            continue;
        }
        let answer = match timeout(limit, shared.credentials.secret(identity, id)).await {
            Ok(Ok(secret)) => Ok(secret),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("vault timed out".to_owned()),
        };
        let failed = answer.is_err();
        fetched.insert(id, answer);
        if failed {
            break;
        }
    }
    fetched
}

/// Adds an injected secret to the registration's redaction set; a new one is compiled on
/// the blocking pool (milliseconds, more for long secrets), never on an async worker.
async fn remember(
    redactions: &Arc<RedactionSet>,
    credential_id: &str,
    secret: &str,
    rendered: &str,
) -> Result<(), DenyReason> {
    if redactions.contains(secret.as_bytes(), rendered.as_bytes()) {
        return Ok(());
    }
    let set = Arc::clone(redactions);
    let secret = Zeroizing::new(secret.as_bytes().to_vec());
    let rendered = Zeroizing::new(rendered.as_bytes().to_vec());
    let unavailable =
        |e: String| DenyReason::CredentialUnavailable(format!("secret {credential_id:?}: {e}"));
    tokio::task::spawn_blocking(move || set.insert(&secret, &rendered))
        .await
        .map_err(|e| unavailable(format!("masking its echoes could not be set up ({e})")))?
        .map_err(|e| unavailable(e.to_string()))
}

/// The request's Host (or absolute-form authority) must name the tunnel host and port.
fn check_request_host(uri: &Uri, headers: &HeaderMap, route: &Route<'_>) -> Result<(), DenyReason> {
    let mismatch = |h: &str| DenyReason::HostMismatch { host: h.to_owned() };
    let host_header = headers
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let claimed = match (uri.authority().map(|a| a.as_str()), host_header) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err(mismatch(h)),
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Err(mismatch("")),
    };
    let (name, port) = match claimed.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n, p.parse::<u16>().map_err(|_| mismatch(claimed))?),
        _ => (claimed, 443),
    };
    match normalize_host(name) {
        Ok(n) if n == route.host && port == route.client_port => Ok(()),
        _ => Err(mismatch(claimed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: Route<'static> = Route {
        host: "api.example.com",
        port: 443,
        client_port: 443,
    };

    fn check(uri: &str, host: Option<&str>, route: &Route<'_>) -> Result<(), DenyReason> {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        }
        check_request_host(&uri.parse().unwrap(), &headers, route)
    }

    #[test]
    fn host_must_name_the_tunnel_host_and_port() {
        assert_eq!(check("/", Some("api.example.com"), &ROUTE), Ok(()));
        assert_eq!(check("/", Some("API.example.com:443"), &ROUTE), Ok(()));
        assert_eq!(
            check("https://api.example.com/x", Some("api.example.com"), &ROUTE),
            Ok(())
        );
        assert_eq!(check("https://api.example.com/x", None, &ROUTE), Ok(()));
        for (uri, host) in [
            ("/", Some("evil.example.com")),
            ("/", Some("api.example.com:8443")),
            ("/", None),
            ("https://api.example.com/x", Some("evil.example.com")),
            ("https://evil.example.com/x", None),
        ] {
            assert!(
                matches!(
                    check(uri, host, &ROUTE),
                    Err(DenyReason::HostMismatch { .. })
                ),
                "{uri} {host:?}"
            );
        }
        // The transparent listener's own port is the one the sandbox must name.
        let transparent = Route {
            client_port: 8443,
            ..ROUTE
        };
        assert_eq!(
            check("/", Some("api.example.com:8443"), &transparent),
            Ok(())
        );
        assert!(check("/", Some("api.example.com"), &transparent).is_err());
    }
}
