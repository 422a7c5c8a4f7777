//! Phase 7, per response: the **response filter**, and the answers the proxy gives itself.
//!
//! Contract for an upstream response head on its way to the sandbox: HTTP/1.1, hop-by-hop
//! headers dropped, none of the upstream client connection's extensions kept (in particular not
//! hyper's `ReasonPhrase`, so the status line carries the **canonical reason phrase** for the
//! code, never the upstream's text), and, for a registration with injection rules, header names
//! and values masked against the registration's whole redaction set. The body and trailers are
//! masked as they stream ([`ResponseBody`](crate::body::ResponseBody)).
//!
//! A refusal is answered with [`status_for`] its reason and a short plain-text page naming it.

use http::header::{self, HeaderValue};
use http::{Extensions, Response, StatusCode, Version};

use crate::audit::DenyReason;
use crate::body::{ProxyBody, text_body};
use crate::hop_by_hop::strip_hop_by_hop;
use crate::redact::RedactionSet;

/// The response filter (see the module contract). `redactions`: the registration's set when it
/// has injection rules.
pub(crate) fn filter(parts: &mut http::response::Parts, redactions: Option<&RedactionSet>) {
    strip_hop_by_hop(&mut parts.headers);
    parts.version = Version::HTTP_11;
    // Nothing the upstream's client connection attached travels on: in particular not
    // `hyper::ext::ReasonPhrase`, so the status line gets the canonical reason phrase.
    parts.extensions = Extensions::new();
    if let Some(set) = redactions {
        set.redact_headers(&mut parts.headers);
    }
}

/// HTTP status shown to the sandbox for a refusal.
pub(crate) fn status_for(reason: &DenyReason) -> StatusCode {
    use DenyReason as R;
    match reason {
        R::UnknownSource
        | R::IpLiteral(_)
        | R::PortNotAllowed(_)
        | R::NotAllowlisted
        | R::ForbiddenAddress { .. }
        | R::PlaceholderMisuse => StatusCode::FORBIDDEN,
        R::TooManyConnections { .. } => StatusCode::TOO_MANY_REQUESTS,
        R::HeaderTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        R::HeaderTimeout => StatusCode::REQUEST_TIMEOUT,
        R::Malformed(_)
        | R::InvalidHost(_)
        | R::NoSni
        | R::SniMismatch { .. }
        | R::ClientTls(_) => StatusCode::BAD_REQUEST,
        R::NotConnect(_) => StatusCode::METHOD_NOT_ALLOWED,
        R::HostMismatch { .. } => StatusCode::MISDIRECTED_REQUEST,
        R::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        R::ResolveFailed(_)
        | R::UpstreamConnect(_)
        | R::UpstreamCertificate(_)
        | R::UpstreamTls(_)
        | R::UpstreamFailed(_)
        | R::CredentialUnavailable(_) => StatusCode::BAD_GATEWAY,
    }
}

/// The page answering a refused request inside a tunnel.
pub(crate) fn refusal_page(status: StatusCode, reason: &DenyReason) -> Response<ProxyBody> {
    let text = format!("gigmcp egress proxy: {reason}\n");
    let mut resp = Response::new(text_body(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_drops_the_upstream_s_reason_and_hop_headers() {
        let mut resp = Response::builder()
            .status(401)
            .version(Version::HTTP_2)
            .header("connection", "x-hop")
            .header("x-hop", "1")
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        resp.extensions_mut().insert(7u8);
        let (mut parts, ()) = resp.into_parts();
        filter(&mut parts, None);
        assert_eq!(parts.version, Version::HTTP_11);
        assert!(parts.extensions.get::<u8>().is_none());
        assert_eq!(parts.headers.len(), 1);
        assert_eq!(parts.status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn refusals_map_to_statuses() {
        assert_eq!(
            status_for(&DenyReason::PlaceholderMisuse),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_for(&DenyReason::HostMismatch { host: "h".into() }),
            StatusCode::MISDIRECTED_REQUEST
        );
        assert_eq!(
            status_for(&DenyReason::CredentialUnavailable("x".into())),
            StatusCode::BAD_GATEWAY
        );
        let page = refusal_page(StatusCode::FORBIDDEN, &DenyReason::PlaceholderMisuse);
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
}
