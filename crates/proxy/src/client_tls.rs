//! The sandbox-facing TLS: read the ClientHello, then (phase 5) **mint or reuse the leaf** for
//! the vetted host and complete the handshake.
//!
//! Contract: the ClientHello is read with `LazyConfigAcceptor`, so nothing is presented before
//! the entry point has checked SNI and the destination has been vetted; the leaf is chosen by
//! the vetted host only (never by an unvetted SNI), minted once per host and cached as a ready
//! `rustls::ServerConfig` (ALPN `http/1.1`). Both steps are bounded by the handshake timeout;
//! every failure is a [`DenyReason::ClientTls`].

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::audit::DenyReason;
use crate::ca::LeafCache;

/// The ClientHello-read stage of a client TLS connection.
pub(crate) type LazyStart<IO> = tokio_rustls::StartHandshake<IO>;

/// Reads the client's ClientHello within the handshake timeout.
pub(crate) async fn read_client_hello<IO>(
    io: IO,
    limit: Duration,
) -> Result<LazyStart<IO>, DenyReason>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    match timeout(limit, acceptor).await {
        Ok(Ok(start)) => Ok(start),
        Ok(Err(e)) => Err(DenyReason::ClientTls(e.to_string())),
        Err(_) => Err(DenyReason::ClientTls(
            "ClientHello not received in time".into(),
        )),
    }
}

/// Mints (or reuses) the leaf for the vetted `host` and completes the client handshake within
/// `limit`. The caller has vetted `host` and matched it against SNI.
pub(crate) async fn accept<IO>(
    leaves: &LeafCache,
    start: LazyStart<IO>,
    host: &str,
    limit: Duration,
) -> Result<TlsStream<IO>, DenyReason>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let cfg = leaves
        .get_or_mint(host)
        .map_err(|e| DenyReason::ClientTls(e.to_string()))?;
    match timeout(limit, start.into_stream(cfg)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(DenyReason::ClientTls(e.to_string())),
        Err(_) => Err(DenyReason::ClientTls("handshake timed out".into())),
    }
}
