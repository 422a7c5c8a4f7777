//! JSON-RPC 2.0 and MCP plumbing shared by the gateway: message types that pass unknown fields
//! through untouched, the protocol revisions we speak, and a stdio client for MCP servers.
#![forbid(unsafe_code)]

pub mod jsonrpc;
pub mod meta;
pub mod stdio;
pub mod version;

pub use jsonrpc::{ErrorObject, Id, Message, ParseError};
pub use stdio::{ClientError, Discovery, PendingRequest, StdioClient, StdioClientConfig};
