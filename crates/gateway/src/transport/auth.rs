//! Authentication of `/mcp/p/<slug>` as an axum extractor: a handler that takes [`Admitted`]
//! runs only for a request carrying the profile's token and passing the `Host`/`Origin` checks.
//!
//! The token is checked on every request, first: a request without it is answered 401 before
//! anything else happens, so it never starts a server. An unknown slug and a wrong token are
//! answered the same way, so the endpoint does not reveal which slugs exist.

use super::guard::check_origin;
use super::reply::HttpError;
use crate::gateway::Gateway;
use crate::profiles::{ProfileCache, ProfileState};
use crate::token;
use axum::extract::{FromRequestParts, Path};
use gigmcp_mcp::jsonrpc::code;
use gigmcp_store::{Store, StoreError};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <profile token>`")]
    Missing,
    #[error("malformed Authorization header: expected `Bearer <profile token>`")]
    Malformed,
    #[error("invalid token for this profile")]
    Invalid,
    #[error("could not check the token: {0}")]
    Store(#[from] StoreError),
}

impl AuthError {
    /// The `WWW-Authenticate` challenge to send with the 401.
    pub fn challenge(&self) -> &'static str {
        match self {
            AuthError::Missing => r#"Bearer realm="gigmcp""#,
            _ => r#"Bearer realm="gigmcp", error="invalid_token""#,
        }
    }
}

impl From<AuthError> for HttpError {
    fn from(err: AuthError) -> Self {
        if let AuthError::Store(e) = &err {
            tracing::error!(error = %e, "store unavailable during authentication");
            return HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                gigmcp_mcp::ErrorObject::new(
                    code::INTERNAL_ERROR,
                    "the gateway cannot check tokens right now; retry shortly",
                ),
            );
        }
        HttpError::status(StatusCode::UNAUTHORIZED, err.to_string()).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(err.challenge()),
        )
    }
}

/// Extracts the bearer token from the headers.
pub fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    let token = token.trim();
    if token.is_empty() || token.len() > 512 {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// The profile `slug` if `headers` carry its token.
pub async fn authenticate(
    cache: &ProfileCache,
    store: &Store,
    slug: &str,
    headers: &HeaderMap,
) -> Result<Arc<ProfileState>, AuthError> {
    let presented = token::hash(bearer(headers)?);
    let Some(state) = cache.get(store, slug).await? else {
        // Compare anyway so an unknown slug costs the same as a wrong token.
        let _ = presented.ct_eq(&[0u8; 32]);
        return Err(AuthError::Invalid);
    };
    if bool::from(presented.ct_eq(&state.profile.token_hash)) {
        Ok(state)
    } else {
        Err(AuthError::Invalid)
    }
}

/// A request to `/mcp/p/<slug>` with the profile's token, from an acceptable `Host` and
/// `Origin`: the profile it may use.
pub struct Admitted(pub Arc<ProfileState>);

impl FromRequestParts<Gateway> for Admitted {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, HttpError> {
        let Path(slug) = Path::<String>::from_request_parts(parts, gw)
            .await
            .map_err(|e| HttpError::bad_request(e.body_text()))?;
        let state = gw.state();
        let profile = authenticate(&state.profiles, &state.store, &slug, &parts.headers).await?;
        check_origin(&state.config, &parts.headers)?;
        Ok(Admitted(profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn parses_bearer_tokens() {
        assert_eq!(bearer(&with_auth("Bearer gig_abc")).unwrap(), "gig_abc");
        assert_eq!(bearer(&with_auth("bearer gig_abc")).unwrap(), "gig_abc");
        assert!(matches!(bearer(&HeaderMap::new()), Err(AuthError::Missing)));
        assert!(matches!(
            bearer(&with_auth("Basic abc")),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            bearer(&with_auth("Bearer ")),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            bearer(&with_auth("Bearergig")),
            Err(AuthError::Malformed)
        ));
    }
}
