//! MCP protocol revisions, in the two eras this project names them:
//!
//! - **handshake era**: `initialize`, then a session (`Mcp-Session-Id`), up to 2025-11-25;
//! - **stateless**: 2026-07-28, no `initialize` and no session; each request carries its
//!   revision and the client's capabilities in `_meta`.

/// Handshake-era revisions the gateway speaks, newest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The newest handshake-era revision; what we answer when a client asks for one we lack.
pub const LATEST_HANDSHAKE: &str = HANDSHAKE_VERSIONS[0];

/// What a client that sends no `MCP-Protocol-Version` header is assumed to speak (spec rule).
pub const ASSUMED_WITHOUT_HEADER: &str = "2025-03-26";

/// The stateless revision (no `initialize`, no sessions).
pub const STATELESS_VERSION: &str = "2026-07-28";

/// The stateless revisions the gateway speaks.
pub const STATELESS_VERSIONS: &[&str] = &[STATELESS_VERSION];

/// True if `v` is a handshake-era revision we speak.
pub fn is_handshake(v: &str) -> bool {
    HANDSHAKE_VERSIONS.contains(&v)
}

/// True if `v` is a stateless revision we speak.
pub fn is_stateless(v: &str) -> bool {
    STATELESS_VERSIONS.contains(&v)
}

/// The revision to answer an `initialize` that proposed `requested`: the same if we speak it,
/// otherwise our newest (the client then decides whether it can continue).
pub fn negotiate(requested: &str) -> &'static str {
    HANDSHAKE_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LATEST_HANDSHAKE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_keeps_a_supported_revision_and_replaces_others() {
        assert_eq!(negotiate("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate("2024-11-05"), LATEST_HANDSHAKE);
        assert_eq!(negotiate("garbage"), LATEST_HANDSHAKE);
        assert!(!is_handshake(STATELESS_VERSION));
        assert!(is_stateless(STATELESS_VERSION));
    }
}
