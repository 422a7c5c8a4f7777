//! The Gig'MCP gateway: one streamable-HTTP MCP endpoint per profile (`/mcp/p/<slug>`), in both
//! protocol eras, in front of a supervisor that starts each profile's servers in sandboxes on
//! demand and routes MCP traffic to them. See `docs/ARCHITECTURE.md` for the module map.
//!
//! Top-down: [`transport`] (HTTP, both eras, auth) → [`router`] (tools, surface, meta-tools,
//! fan-out) → [`supervisor`] (life cycle) → [`backend`] (one running server, per era) →
//! [`launcher`] / [`launch`] (how a server is started) and [`egress`]; beside them the call
//! plumbing ([`caller`], [`session`], [`link`], [`replay`]) and the profile model ([`profiles`],
//! [`naming`]).
#![forbid(unsafe_code)]

pub mod backend;
pub mod caller;
pub mod config;
pub mod egress;
pub mod gateway;
pub mod launch;
pub mod launcher;
pub mod link;
pub mod naming;
pub mod profiles;
pub mod replay;
pub mod router;
pub mod session;
pub mod state;
pub mod supervisor;
pub mod token;
pub mod transport;

pub use config::{ConfigError, GatewayConfig};
pub use gateway::{Gateway, StartError, images_puller};
pub use transport::{nodelay, routes as router};
