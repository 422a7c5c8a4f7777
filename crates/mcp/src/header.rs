//! HTTP header names of the streamable-HTTP transport (lowercase, as `http` compares them).

/// Handshake era: the session a request belongs to.
pub const SESSION_ID: &str = "mcp-session-id";
/// The protocol revision of a request (after `initialize`; on every stateless request).
pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// Handshake era: the last SSE event a client saw, to resume a stream after it.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// Stateless revision: the request's method, for routing by HTTP infrastructure.
pub const METHOD: &str = "mcp-method";
/// Stateless revision: the tool or prompt name (or resource URI) of a request.
pub const NAME: &str = "mcp-name";
/// Stateless revision: a tool argument marked `x-mcp-header: <Name>` travels as
/// `Mcp-Param-<Name>`.
pub const PARAM_PREFIX: &str = "mcp-param-";
