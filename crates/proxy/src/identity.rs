//! Who is calling: sandbox identities looked up by source address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use gigmcp_registry::egress::EgressPolicy;
use http::HeaderName;
use zeroize::Zeroizing;

use crate::audit::AuditSubject;

/// Shortest accepted placeholder: it must be distinctive enough never to occur by accident.
const MIN_PLACEHOLDER_LEN: usize = 8;
/// The token the secret replaces in a [`SecretFormat`].
const TOKEN: &str = "{token}";

/// An invalid sealed-credential injection rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectionError {
    #[error("format {0:?} must contain `{{token}}` exactly once, e.g. \"Bearer {{token}}\"")]
    FormatToken(String),
    #[error("format {0:?} contains characters not allowed in an HTTP header value")]
    FormatChars(String),
    #[error("placeholder must be at least {MIN_PLACEHOLDER_LEN} visible ASCII characters")]
    Placeholder,
    #[error("`{0}` is not a valid HTTP header name")]
    Header(String),
}

/// The trusted shape of an injected header value: `prefix{token}suffix`, such as
/// `Bearer {token}`, `{token}` (raw) or `Basic {token}` (pre-encoded Basic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFormat {
    prefix: String,
    suffix: String,
}

impl SecretFormat {
    /// Parses a format string; `{token}` must occur exactly once.
    pub fn parse(format: &str) -> Result<Self, InjectionError> {
        if format.matches(TOKEN).count() != 1 {
            return Err(InjectionError::FormatToken(format.to_owned()));
        }
        if !format
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(InjectionError::FormatChars(format.to_owned()));
        }
        let (prefix, suffix) = format.split_once(TOKEN).unwrap_or((format, ""));
        Ok(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The header value with the secret filled in.
    pub fn render(&self, secret: &str) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(
            self.prefix.len() + secret.len() + self.suffix.len(),
        ));
        out.push_str(&self.prefix);
        out.push_str(secret);
        out.push_str(&self.suffix);
        out
    }
}

/// One sealed credential: where the sandbox puts the placeholder and how the real value looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// Which secret to ask the [`CredentialSource`](crate::CredentialSource) for.
    pub credential_id: String,
    /// The header that carries the placeholder (`inject.header`).
    pub header: HeaderName,
    /// The value the sandbox was given instead of the secret.
    pub placeholder: String,
    /// The trusted shape of the real header value.
    pub format: SecretFormat,
}

impl Injection {
    /// Validates and builds an injection rule.
    pub fn new(
        credential_id: impl Into<String>,
        header: &str,
        placeholder: impl Into<String>,
        format: &str,
    ) -> Result<Self, InjectionError> {
        let placeholder = placeholder.into();
        if placeholder.len() < MIN_PLACEHOLDER_LEN
            || !placeholder.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(InjectionError::Placeholder);
        }
        let header = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| InjectionError::Header(header.to_owned()))?;
        Ok(Self {
            credential_id: credential_id.into(),
            header,
            placeholder,
            format: SecretFormat::parse(format)?,
        })
    }
}

/// A live sandbox as the proxy sees it.
#[derive(Debug, Clone)]
pub struct SandboxIdentity {
    pub server: String,
    pub profile: String,
    /// The user whose credentials this sandbox uses.
    pub owner: String,
    /// The manifest's `entitlements.egress`, a hard cap.
    pub egress: EgressPolicy,
    /// Sealed-tier injections (empty for entrusted or credential-less servers).
    pub injections: Vec<Injection>,
    /// Opaque key the [`CredentialSource`](crate::CredentialSource) uses to find this
    /// install's secrets (e.g. the vault entry of owner + install).
    pub credential_key: String,
    /// Entrusted tier: the server holds its real secret in its environment. The allowlist
    /// still applies; audit events carry the mark so logs can flag such installs.
    pub entrusted: bool,
}

impl SandboxIdentity {
    pub(crate) fn subject(&self) -> AuditSubject {
        AuditSubject {
            server: self.server.clone(),
            profile: self.profile.clone(),
            owner: self.owner.clone(),
            entrusted: self.entrusted,
        }
    }
}

/// Maps a connection's source address to the sandbox behind it.
pub trait IdentityResolver: Send + Sync {
    /// The sandbox whose host-side address is `peer`, if it is live.
    fn resolve(&self, peer: IpAddr) -> Option<Arc<SandboxIdentity>>;
}

/// A concurrent table of live sandboxes keyed by source address.
#[derive(Debug, Default)]
pub struct IdentityTable {
    map: RwLock<HashMap<IpAddr, Arc<SandboxIdentity>>>,
}

impl IdentityTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the sandbox at `addr`; returns the previous one.
    pub fn insert(&self, addr: IpAddr, identity: SandboxIdentity) -> Option<Arc<SandboxIdentity>> {
        self.write().insert(addr.to_canonical(), Arc::new(identity))
    }

    /// Forgets the sandbox at `addr` (call when it stops).
    pub fn remove(&self, addr: IpAddr) -> Option<Arc<SandboxIdentity>> {
        self.write().remove(&addr.to_canonical())
    }

    /// Number of registered sandboxes.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<IpAddr, Arc<SandboxIdentity>>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<IpAddr, Arc<SandboxIdentity>>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl IdentityResolver for IdentityTable {
    fn resolve(&self, peer: IpAddr) -> Option<Arc<SandboxIdentity>> {
        self.read().get(&peer.to_canonical()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_renders_and_validates() {
        let f = SecretFormat::parse("Bearer {token}").unwrap();
        assert_eq!(f.render("K").as_str(), "Bearer K");
        assert_eq!(
            SecretFormat::parse("{token}").unwrap().render("K").as_str(),
            "K"
        );
        assert!(SecretFormat::parse("Bearer").is_err());
        assert!(SecretFormat::parse("{token}{token}").is_err());
        assert!(SecretFormat::parse("Bearer {token}\r\nX: y").is_err());
    }

    #[test]
    fn injection_validates_placeholder_and_header() {
        assert!(Injection::new("c", "authorization", "PLACEHOLDER-1", "Bearer {token}").is_ok());
        assert_eq!(
            Injection::new("c", "authorization", "short", "{token}"),
            Err(InjectionError::Placeholder)
        );
        assert!(matches!(
            Injection::new("c", "bad header", "PLACEHOLDER-1", "{token}"),
            Err(InjectionError::Header(_))
        ));
    }

    #[test]
    fn table_resolves_mapped_addresses() {
        let t = IdentityTable::new();
        let id = SandboxIdentity {
            server: "s".into(),
            profile: "p".into(),
            owner: "o".into(),
            egress: EgressPolicy::default(),
            injections: vec![],
            credential_key: "k".into(),
            entrusted: false,
        };
        t.insert("127.0.0.2".parse().unwrap(), id);
        assert!(t.resolve("::ffff:127.0.0.2".parse().unwrap()).is_some());
        assert!(t.resolve("127.0.0.3".parse().unwrap()).is_none());
        assert!(t.remove("127.0.0.2".parse().unwrap()).is_some());
        assert!(t.is_empty());
    }
}
