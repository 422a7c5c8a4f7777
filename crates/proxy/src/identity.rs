//! Who is calling: sandbox identities looked up by source address, the sealed-credential rules
//! they carry, and what each registration has been sent.
//!
//! Contract: an [`Injection`] is valid by construction (header name, placeholder, format and
//! host scope checked by [`Injection::new`]); its credential goes only to the exact hosts of its
//! scope. [`IdentityTable::insert`] starts a registration with a fresh, empty
//! [`RedactionSet`]; every tunnel resolved from that registration shares it until the last one
//! closes, so a secret injected on one tunnel is masked on all of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use gigmcp_registry::egress::{EgressPattern, EgressPolicy};
use http::HeaderName;
use zeroize::Zeroizing;

use crate::audit::AuditSubject;
use crate::redact::RedactionSet;

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
    #[error(
        "credential host scope entry `{0}` is a wildcard: list the exact host names the credential may be sent to (e.g. `acme.zendesk.com`, not `*.zendesk.com`)"
    )]
    WildcardHost(String),
    #[error("credential host scope entry is invalid: {0}")]
    Host(String),
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

/// One sealed credential: where the sandbox puts the placeholder, how the real value looks and
/// which hosts may receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// Which secret to ask the `CredentialSource` for.
    pub credential_id: String,
    /// The header that carries the placeholder (`inject.header`).
    pub header: HeaderName,
    /// The value the sandbox was given instead of the secret.
    pub placeholder: String,
    /// The trusted shape of the real header value.
    pub format: SecretFormat,
    /// Exact host names (lowercase, sorted, no wildcard) the secret may be sent to.
    hosts: Vec<String>,
}

impl Injection {
    /// Validates and builds an injection rule.
    ///
    /// `hosts` is the credential's scope: the exact host names it may be sent to (any case, one
    /// trailing dot ignored). A request to an allowlisted host outside it goes out without the
    /// header that carried the placeholder. An empty scope sends the credential nowhere.
    /// Wildcards (`*.example.com`) and IP literals are refused: a wildcard allowlist entry would
    /// otherwise hand the owner's key to whichever tenant the server names.
    pub fn new<H: AsRef<str>>(
        credential_id: impl Into<String>,
        header: &str,
        placeholder: impl Into<String>,
        format: &str,
        hosts: impl IntoIterator<Item = H>,
    ) -> Result<Self, InjectionError> {
        let placeholder = placeholder.into();
        if placeholder.len() < MIN_PLACEHOLDER_LEN
            || !placeholder.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(InjectionError::Placeholder);
        }
        let header = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| InjectionError::Header(header.to_owned()))?;
        let mut scope = Vec::new();
        for host in hosts {
            let host = host.as_ref();
            match EgressPattern::parse(host) {
                Ok(EgressPattern::Exact(h)) => scope.push(h),
                Ok(EgressPattern::Wildcard(_)) => {
                    return Err(InjectionError::WildcardHost(host.to_owned()));
                }
                Err(e) => return Err(InjectionError::Host(e.to_string())),
            }
        }
        scope.sort();
        scope.dedup();
        Ok(Self {
            credential_id: credential_id.into(),
            header,
            placeholder,
            format: SecretFormat::parse(format)?,
            hosts: scope,
        })
    }

    /// The exact host names this credential may be sent to.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Whether the credential may be sent to `host` (normalised: lowercase, no trailing dot).
    pub fn may_send_to(&self, host: &str) -> bool {
        self.hosts
            .binary_search_by(|h| h.as_str().cmp(host))
            .is_ok()
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
    /// Opaque key the `CredentialSource` uses to find this install's secrets (e.g. the vault
    /// entry of owner + install).
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

/// A live sandbox registration: who it is, and the secrets sent on its behalf so far.
#[derive(Debug, Clone)]
pub struct Registration {
    pub identity: Arc<SandboxIdentity>,
    /// Every secret injected into any request of this registration, masked in every response
    /// it receives. One per registration: shared by all its tunnels, never by another.
    pub redactions: Arc<RedactionSet>,
}

impl Registration {
    /// A new registration of `identity` with an empty redaction set.
    pub fn new(identity: SandboxIdentity) -> Self {
        Self {
            identity: Arc::new(identity),
            redactions: Arc::new(RedactionSet::new()),
        }
    }
}

/// Maps a connection's source address to the sandbox behind it.
pub trait IdentityResolver: Send + Sync {
    /// The registration of the sandbox whose host-side address is `peer`, if it is live. Every
    /// call for the same registration must return the same [`Registration::redactions`].
    fn resolve(&self, peer: IpAddr) -> Option<Registration>;
}

/// A concurrent table of live sandboxes keyed by source address.
#[derive(Debug, Default)]
pub struct IdentityTable {
    map: RwLock<HashMap<IpAddr, Registration>>,
}

impl IdentityTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the sandbox at `addr`, with a fresh redaction set; returns the
    /// previous identity.
    pub fn insert(&self, addr: IpAddr, identity: SandboxIdentity) -> Option<Arc<SandboxIdentity>> {
        self.write()
            .insert(addr.to_canonical(), Registration::new(identity))
            .map(|r| r.identity)
    }

    /// Forgets the sandbox at `addr` (call when it stops). Tunnels already open keep its
    /// registration (and redaction set) until they close.
    pub fn remove(&self, addr: IpAddr) -> Option<Arc<SandboxIdentity>> {
        self.write()
            .remove(&addr.to_canonical())
            .map(|r| r.identity)
    }

    /// Number of registered sandboxes.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<IpAddr, Registration>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<IpAddr, Registration>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl IdentityResolver for IdentityTable {
    fn resolve(&self, peer: IpAddr) -> Option<Registration> {
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

    const API: [&str; 1] = ["api.example.com"];

    #[test]
    fn injection_validates_placeholder_and_header() {
        assert!(
            Injection::new("c", "authorization", "PLACEHOLDER-1", "Bearer {token}", API).is_ok()
        );
        assert_eq!(
            Injection::new("c", "authorization", "short", "{token}", API),
            Err(InjectionError::Placeholder)
        );
        assert!(matches!(
            Injection::new("c", "bad header", "PLACEHOLDER-1", "{token}", API),
            Err(InjectionError::Header(_))
        ));
    }

    #[test]
    fn injection_scope_is_exact_hosts_only() {
        let i = Injection::new(
            "c",
            "authorization",
            "PLACEHOLDER-1",
            "{token}",
            ["API.Example.com.", "acme.zendesk.com", "api.example.com"],
        )
        .unwrap();
        assert_eq!(i.hosts(), ["acme.zendesk.com", "api.example.com"]);
        assert!(i.may_send_to("acme.zendesk.com"));
        assert!(!i.may_send_to("attacker.zendesk.com"));
        assert!(!i.may_send_to("example.com"));
        let none = Injection::new("c", "authorization", "PLACEHOLDER-1", "{token}", [""; 0]);
        assert!(!none.unwrap().may_send_to("api.example.com"));
        let wild = Injection::new(
            "c",
            "authorization",
            "PLACEHOLDER-1",
            "{token}",
            ["*.zendesk.com"],
        );
        assert_eq!(
            wild,
            Err(InjectionError::WildcardHost("*.zendesk.com".into()))
        );
        let text = wild.unwrap_err().to_string();
        assert!(text.contains("exact host names"), "{text}");
        for bad in ["10.0.0.1", "[::1]", "localhost", "api.example.com:443", ""] {
            let e = Injection::new("c", "authorization", "PLACEHOLDER-1", "{token}", [bad]);
            assert!(matches!(e, Err(InjectionError::Host(_))), "{bad}: {e:?}");
        }
        let ip = Injection::new(
            "c",
            "authorization",
            "PLACEHOLDER-1",
            "{token}",
            ["10.0.0.1"],
        );
        assert!(ip.unwrap_err().to_string().contains("IP literal"));
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
        t.insert("127.0.0.2".parse().unwrap(), id.clone());
        let a = t.resolve("::ffff:127.0.0.2".parse().unwrap()).unwrap();
        assert!(t.resolve("127.0.0.3".parse().unwrap()).is_none());
        // One redaction set per registration, shared by every lookup of it...
        let b = t.resolve("127.0.0.2".parse().unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a.redactions, &b.redactions));
        // ...and a new one when the address is registered again.
        t.insert("127.0.0.2".parse().unwrap(), id);
        let c = t.resolve("127.0.0.2".parse().unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&a.redactions, &c.redactions));
        assert!(t.remove("127.0.0.2".parse().unwrap()).is_some());
        assert!(t.is_empty());
    }
}
