//! The Gig'MCP gateway: one streamable-HTTP MCP endpoint per profile (`/mcp/p/<slug>`), bearer
//! authentication, and a supervisor that starts each profile's servers in sandboxes on demand
//! and routes MCP traffic to them.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod auth;
pub mod calls;
pub mod config;
pub mod egress;
pub mod http;
pub mod launch;
pub mod meta;
pub mod modern;
pub mod names;
pub mod profiles;
pub mod replay;
pub mod session;
pub mod supervisor;
pub mod surface;
pub mod token;

pub use config::{ConfigError, GatewayConfig};
pub use http::{Gateway, nodelay, router};
