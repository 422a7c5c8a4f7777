//! The gateway's shared state: what every request may need. A leaf: it holds the parts, and
//! imports only their types; nothing here calls into the transports or the router.

use crate::config::GatewayConfig;
use crate::profiles::ProfileCache;
use crate::router::Router;
use crate::session::Sessions;
use crate::transport::stateless::listen::Listeners;
use crate::transport::stateless::parked::ParkedCalls;
use gigmcp_store::Store;
use std::sync::Arc;

/// Shared gateway state.
pub struct State {
    pub store: Store,
    /// Profiles with their servers and tool choices (short TTL).
    pub profiles: ProfileCache,
    /// Handshake-era sessions.
    pub sessions: Arc<Sessions>,
    pub config: GatewayConfig,
    /// Stateless calls waiting for their client's input.
    pub parked: ParkedCalls,
    /// Open `subscriptions/listen` streams.
    pub listeners: Listeners,
    /// Routing of requests to the profiles' servers.
    pub router: Router,
}
