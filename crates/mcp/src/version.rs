//! MCP protocol revisions.

/// Handshake-era ("legacy") revisions the gateway speaks, newest first.
pub const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The newest handshake-era revision; what we answer when a client asks for one we lack.
pub const LATEST_LEGACY: &str = LEGACY_VERSIONS[0];

/// What a client that sends no `MCP-Protocol-Version` header is assumed to speak (spec rule).
pub const ASSUMED_WITHOUT_HEADER: &str = "2025-03-26";

/// The stateless revision (no `initialize`, no sessions).
pub const MODERN_VERSION: &str = "2026-07-28";

/// True if `v` is a handshake-era revision we speak.
pub fn is_supported_legacy(v: &str) -> bool {
    LEGACY_VERSIONS.contains(&v)
}

/// The revision to answer an `initialize` that proposed `requested`: the same if we speak it,
/// otherwise our newest (the client then decides whether it can continue).
pub fn negotiate(requested: &str) -> &'static str {
    LEGACY_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LATEST_LEGACY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_keeps_a_supported_revision_and_replaces_others() {
        assert_eq!(negotiate("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate("2024-11-05"), LATEST_LEGACY);
        assert_eq!(negotiate("garbage"), LATEST_LEGACY);
        assert!(!is_supported_legacy(MODERN_VERSION));
    }
}
