//! Why a backend could not answer, and the JSON-RPC error each reason becomes for the client.

use gigmcp_mcp::ClientError;
use gigmcp_mcp::jsonrpc::{ErrorObject, code};

/// Why a backend could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("server {server} could not be started: {reason}")]
    Start { server: String, reason: String },
    #[error("server {server} did not complete the MCP handshake within {secs} s")]
    StartTimeout { server: String, secs: u64 },
    #[error("server {server} did not answer within {secs} s; the call was cancelled")]
    Timeout { server: String, secs: u64 },
    #[error("the request was cancelled by the client")]
    Cancelled,
    /// The client could not be asked what the server needs, or did not answer.
    #[error("{0}")]
    Input(ErrorObject),
    #[error("server {server} broke the protocol: {reason}")]
    Protocol { server: String, reason: String },
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl BackendError {
    /// The JSON-RPC error for the client.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            BackendError::Client(e) => e.to_error_object(),
            BackendError::Timeout { .. } => {
                ErrorObject::new(code::REQUEST_TIMEOUT, self.to_string())
            }
            BackendError::Cancelled => ErrorObject::new(code::REQUEST_CANCELLED, self.to_string()),
            BackendError::Input(e) => e.clone(),
            BackendError::Protocol { .. } => {
                ErrorObject::new(code::INTERNAL_ERROR, self.to_string())
            }
            _ => ErrorObject::new(code::SERVER_UNAVAILABLE, self.to_string()),
        }
    }
}
