//! Small syntax predicates shared by the lint rules.

/// Server names: `[a-z0-9]` then `[a-z0-9-]`, no trailing `-`, at most 64 bytes.
pub fn is_server_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// MCP tool names (2025-11-25): 1–128 bytes of `A-Z a-z 0-9 _ - .`.
pub fn is_tool_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Credential ids: `[a-z0-9_-]`, starting with a letter, at most 64 bytes (the corpus derives
/// ids from server names, e.g. `zoho-books_token`).
pub fn is_credential_id(s: &str) -> bool {
    s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Environment variable names: `[A-Z_][A-Z0-9_]*`, at most 128 bytes.
pub fn is_env_name(s: &str) -> bool {
    s.len() <= 128
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Environment variables a credential may not claim: they change how the process or its
/// dynamic loader behaves, or redirect its traffic around the egress proxy.
pub fn is_reserved_env(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "SHELL",
        "TMPDIR",
        "PWD",
        "IFS",
        "ENV",
        "BASH_ENV",
        "NODE_OPTIONS",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ];
    let upper = s.to_ascii_uppercase();
    RESERVED.contains(&upper.as_str()) || upper.starts_with("LD_") || upper.starts_with("GIGMCP_")
}

/// HTTP header field names (RFC 9110 token).
pub fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers the proxy owns: a credential may not be injected into them.
pub fn is_reserved_header(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "proxy-authenticate",
    ];
    RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

/// Exactly one `{token}` and no other `{`/`}` and no control characters (header injection).
pub fn is_token_format(s: &str) -> bool {
    s.matches("{token}").count() == 1
        && s.replacen("{token}", "", 1)
            .bytes()
            .all(|b| b != b'{' && b != b'}')
        && !s.bytes().any(|b| b.is_ascii_control())
}

/// A `/`-separated relative path whose segments are `[A-Za-z0-9._-]` and never `.`/`..`.
pub fn is_safe_rel_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// A URL path after its leading `/`: no `.`/`..` segment (also percent-encoded), no empty
/// segment except a trailing slash, only RFC 3986 path characters plus `{}` for placeholders.
pub fn is_safe_url_path(s: &str) -> bool {
    let segments: Vec<&str> = s.split('/').collect();
    let last = segments.len() - 1;
    !s.to_ascii_lowercase().contains("%2e")
        && segments.iter().enumerate().all(|(i, seg)| {
            (!seg.is_empty() || i == last)
                && *seg != "."
                && *seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%{}".contains(&b))
        })
}

/// Source repositories: `host/owner/repo[/...]` with a dotted host, no scheme.
pub fn is_source_repo(s: &str) -> bool {
    is_safe_rel_path(s)
        && s.split('/').count() >= 3
        && s.split('/').next().is_some_and(|h| h.contains('.'))
}

/// Git tags: safe path segments (tags may contain `/`).
pub fn is_git_tag(s: &str) -> bool {
    is_safe_rel_path(s) && s.len() <= 128
}

/// OCI repository references without tag or digest: lowercase path components, optional
/// `host[:port]` first component.
pub fn is_image_ref(s: &str) -> bool {
    let mut parts = s.split('/');
    let Some(host) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let host_ok = match host.split_once(':') {
        Some((h, port)) => !h.is_empty() && port.parse::<u16>().is_ok() && is_lower_component(h),
        None => is_lower_component(host),
    };
    host_ok && !rest.is_empty() && rest.iter().all(|c| is_lower_component(c)) && s.len() <= 255
}

fn is_lower_component(c: &str) -> bool {
    !c.is_empty()
        && c != "."
        && c != ".."
        && c.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// Absolute paths inside an image: `/` + safe relative path.
pub fn is_abs_image_path(s: &str) -> bool {
    s.strip_prefix('/').is_some_and(is_safe_rel_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates() {
        assert!(
            is_server_name("more-trees")
                && !is_server_name("Ably")
                && !is_server_name("a-")
                && !is_server_name("../x")
        );
        assert!(is_tool_name("get.item_v2-x") && !is_tool_name("get item") && !is_tool_name(""));
        assert!(
            is_credential_id("ably_api_key")
                && is_credential_id("zoho-books_token")
                && !is_credential_id("1key")
                && !is_credential_id("Key")
        );
        assert!(is_env_name("ALCHEMY_API_KEY") && !is_env_name("lower") && !is_env_name("1A"));
        assert!(
            is_reserved_env("LD_PRELOAD") && is_reserved_env("PATH") && !is_reserved_env("API_KEY")
        );
        assert!(is_header_name("X-Api-Key") && !is_header_name("X Api") && !is_header_name("X:Y"));
        assert!(is_reserved_header("Host") && !is_reserved_header("Authorization"));
        assert!(is_token_format("Bearer {token}") && is_token_format("{token}"));
        assert!(
            !is_token_format("Bearer")
                && !is_token_format("{token}{token}")
                && !is_token_format("{token}\r\nX: y")
                && !is_token_format("{tok}{token}")
        );
        assert!(
            is_source_repo("github.com/gigmcp/toolpack")
                && !is_source_repo("https://github.com/a/b")
                && !is_source_repo("github.com/../b")
                && !is_source_repo("gh/a/b")
        );
        assert!(
            is_image_ref("ghcr.io/gigmcp/ably-mcp") && is_image_ref("127.0.0.1:5000/gigmcp/echo")
        );
        assert!(
            !is_image_ref("ghcr.io/gigmcp/ably-mcp:latest")
                && !is_image_ref("ghcr.io/x@sha256:00")
                && !is_image_ref("ghcr.io")
                && !is_image_ref("GHCR.io/a")
        );
        assert!(
            is_safe_url_path("v1/a/{id}/")
                && is_safe_url_path("a:b")
                && !is_safe_url_path("a/../b")
                && !is_safe_url_path("a//b")
                && !is_safe_url_path("%2E%2e/x")
                && !is_safe_url_path("a b")
        );
        assert!(
            is_abs_image_path("/app/server")
                && !is_abs_image_path("app/server")
                && !is_abs_image_path("/app/../bin/sh")
        );
    }
}
