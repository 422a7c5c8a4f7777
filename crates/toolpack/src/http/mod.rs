//! The engine's HTTPS client: tunnels through the egress proxy ([`connect`]) and one call's
//! exchange with redirects and bounded reads ([`client`]).

pub mod client;
pub mod connect;

pub use client::{FetchError, Fetched, HttpClient, MAX_REDIRECTS};
pub use connect::{ConnectError, Connector, parse_proxy, tls_config};
