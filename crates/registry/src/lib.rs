//! Gig'MCP registry schema: the trust root shared by the gateway and `registryctl`.
//!
//! Pure: no network, no filesystem. Callers hand in bytes; this crate parses, validates, hashes
//! and signs them.
#![forbid(unsafe_code)]

pub mod egress;

pub use egress::{Denylist, EgressError, EgressPattern, EgressPolicy};
