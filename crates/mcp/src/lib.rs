//! JSON-RPC 2.0 and MCP plumbing shared by the gateway: message types that pass unknown fields
//! through untouched, the protocol's vocabulary (revisions, method names, header names, error
//! codes, `_meta` keys), typed views of the fields the gateway reads, and a stdio client for
//! MCP servers.
#![forbid(unsafe_code)]

pub mod header;
pub mod jsonrpc;
pub mod meta;
pub mod method;
pub mod stdio;
pub mod version;
pub mod view;

pub use jsonrpc::{ErrorObject, Id, Message, ParseError};
pub use stdio::{ClientError, Discovery, PendingRequest, StdioClient, StdioClientConfig};
