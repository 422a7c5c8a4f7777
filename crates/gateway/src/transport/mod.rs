//! The streamable-HTTP endpoint `/mcp/p/<slug>`, in both protocol eras.
//!
//! Every request is authenticated first ([`auth::Admitted`]: 401 before anything else
//! happens, so a request without the profile's token never starts a server), then checked
//! against the transport rules ([`guard`]: `Host`/`Origin`, `Content-Type`, `Accept`, body
//! size, one JSON-RPC message per POST), then handed to the era it speaks: the handshake era
//! ([`handshake`], sessions) or the stateless revision ([`stateless`]). Every answer and
//! error is built in [`reply`].

pub mod auth;
pub mod guard;
pub mod handshake;
pub mod reply;
pub mod stateless;

use crate::gateway::Gateway;
use auth::Admitted;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use gigmcp_mcp::jsonrpc::Message;
use http::{HeaderMap, StatusCode};
use reply::HttpError;

/// The HTTP routes.
pub fn routes(gw: Gateway) -> Router {
    Router::new()
        .route("/mcp/p/{slug}", get(get_stream).post(post).delete(delete))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(gw)
}

/// The listener to serve the routes on: small MCP messages and SSE events go out at once
/// (`TCP_NODELAY`), instead of waiting on the peer's delayed ACK.
pub fn nodelay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    })
}

async fn post(
    State(gw): State<Gateway>,
    Admitted(profile): Admitted,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let kind = guard::post_media(&headers)?;
    let limit = gw.state().config.max_body_bytes;
    let bytes = guard::body_within(&headers, body, limit).await?;
    let msg = Message::parse(&bytes)
        .map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, None, e.to_error_object()))?;
    if stateless::is_stateless(&headers, &msg) {
        return stateless::handle(&gw, profile, &headers, msg).await;
    }
    handshake::post(&gw, profile, &headers, kind, msg).await
}

async fn get_stream(
    State(gw): State<Gateway>,
    Admitted(profile): Admitted,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if let Some(refusal) = stateless::session_less(&headers) {
        return Err(refusal);
    }
    handshake::get_stream(&gw, &profile, &headers).await
}

async fn delete(
    State(gw): State<Gateway>,
    Admitted(profile): Admitted,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if let Some(refusal) = stateless::session_less(&headers) {
        return Err(refusal);
    }
    handshake::delete_session(&gw, &profile, &headers).await
}
