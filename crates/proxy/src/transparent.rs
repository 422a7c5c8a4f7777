//! The transparent TLS entry point: the host comes from SNI, then it continues as a CONNECT
//! would.
//!
//! Contract, in order: identify and admit the caller ([`crate::admit`]); read the ClientHello
//! (no SNI: refused); normalise the SNI host and vet it ([`crate::vet`]) toward the operator's
//! `transparent_upstream_port`; connect upstream ([`Tunnel::open`]); then the tunnel
//! ([`Tunnel::serve_tls`]), where `Host` must name the SNI host on this listener's port. Every
//! refusal is audited (without an HTTP status: the connection is closed). The whole connection
//! lives at most `total_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::admit::{admit, identify};
use crate::audit::{DenyReason, Entry};
use crate::client_tls::read_client_hello;
use crate::state::{Refusal, Shared};
use crate::tunnel::Tunnel;
use crate::vet::{Vetter, check_host};

/// Handles one connection on the transparent listener.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let total = shared.config.limits.total_timeout;
    let _ = timeout(total, handle_inner(shared, stream, peer, local)).await;
}

async fn handle_inner(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
    let opened = Instant::now();
    let peer_ip = peer.ip().to_canonical();
    let registration = identify(&shared, peer_ip);
    let deny = |host: &str, reason: DenyReason| {
        shared.deny(
            Refusal {
                entry: Entry::Transparent,
                peer: peer_ip,
                identity: registration.as_ref().map(|r| &*r.identity),
                host,
                method: "TLS",
                path: "",
                status: None,
                duration: opened.elapsed(),
            },
            reason,
        );
    };
    let Some(reg) = registration.as_ref() else {
        return deny("", DenyReason::UnknownSource);
    };
    let permit = match admit(&shared, peer_ip) {
        Ok(p) => p,
        Err(reason) => return deny("", reason),
    };
    let start = match read_client_hello(stream, shared.config.limits.handshake_timeout).await {
        Ok(s) => s,
        Err(reason) => return deny("", reason),
    };
    let Some(sni) = start.client_hello().server_name().map(str::to_owned) else {
        return deny("", DenyReason::NoSni);
    };
    let host = match check_host(&sni) {
        Ok(h) => h,
        Err(reason) => return deny(&sni, reason),
    };
    let port = shared.config.transparent_upstream_port;
    let vetted = match Vetter::new(&shared)
        .vet(&reg.identity.egress, &host, port)
        .await
    {
        Ok(v) => v,
        Err(reason) => return deny(&host, reason),
    };
    let opening = Tunnel::open(
        &shared,
        reg,
        Entry::Transparent,
        peer_ip,
        vetted,
        local.port(),
    );
    let tunnel = match opening.await {
        Ok(t) => t,
        Err(reason) => return deny(&host, reason),
    };
    tunnel.serve_tls(start, opened).await;
    drop(permit);
}
