//! The transparent TLS listener: the host comes from SNI, then it continues as a CONNECT would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::time::timeout;

use crate::audit::{DenyReason, Entry};
use crate::proxy::{Inner, Refusal};
use crate::tunnel::{Tunnel, check_host, read_client_hello, vet};

/// Handles one connection on the transparent listener.
pub(crate) async fn handle(
    inner: Arc<Inner>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let total = inner.config.limits.total_timeout;
    let _ = timeout(total, handle_inner(inner, stream, peer, local)).await;
}

async fn handle_inner(inner: Arc<Inner>, stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
    let opened = Instant::now();
    let peer_ip = peer.ip().to_canonical();
    let registration = inner.identities.resolve(peer_ip);
    let deny = |host: &str, reason: DenyReason| {
        inner.deny(
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
    let Some(permit) = inner.limiter.try_acquire(peer_ip) else {
        let limit = inner.limiter.max();
        return deny("", DenyReason::TooManyConnections { limit });
    };
    let start = match read_client_hello(stream, inner.config.limits.handshake_timeout).await {
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
    let port = inner.config.transparent_upstream_port;
    let vetted = match vet(&inner, &reg.identity, &host, port).await {
        Ok(v) => v,
        Err(reason) => return deny(&host, reason),
    };
    let tunnel = Arc::new(Tunnel {
        inner: Arc::clone(&inner),
        identity: Arc::clone(&reg.identity),
        redactions: Arc::clone(&reg.redactions),
        peer: peer_ip,
        entry: Entry::Transparent,
        target: vetted,
        port,
        client_port: local.port(),
        upstream: Mutex::new(None),
    });
    if let Err(reason) = tunnel.connect_upstream().await {
        return deny(&host, reason);
    }
    tunnel.serve_tls(start, opened).await;
    drop(permit);
}
