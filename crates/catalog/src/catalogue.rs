//! The catalogue: a verified index, how fresh it is, and the views a user browses (one card per
//! server name, its latest version; the detail of one version).

use gigmcp_registry::{
    CredentialType, Index, IndexEntry, Manifest, Tier, Toolspec, settings::wildcard_only_hosts,
};
use serde::Serialize;

use crate::error::CatalogError;

/// How current the catalogue is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Freshness {
    /// Where the index came from.
    pub url: String,
    /// Its sequence.
    pub sequence: u64,
    /// When it was accepted (unix ms).
    pub accepted_at: i64,
    /// When a refresh was last tried (unix ms).
    pub checked_at: i64,
    /// The last refresh failed: this is the last good copy.
    pub stale: bool,
    /// Why the last refresh failed.
    pub last_error: Option<String>,
}

/// A verified index and its freshness.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub index: Index,
    pub freshness: Freshness,
}

/// One line of the catalogue: a server name at its latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Card {
    pub name: String,
    pub display_name: String,
    pub version: String,
    pub category: String,
    pub description: Option<String>,
    pub tier: &'static str,
    /// Credential types (`api_key`, `oauth2`, …).
    pub auth: Vec<&'static str>,
    pub egress: Vec<String>,
    pub tools: usize,
    pub default_tools: usize,
    /// `None` when installable, else why not.
    pub not_installable: Option<String>,
}

/// The name a credential type is written with.
pub fn credential_type(kind: CredentialType) -> &'static str {
    match kind {
        CredentialType::Oauth2 => "oauth2",
        CredentialType::ApiKey => "api_key",
        CredentialType::Basic => "basic",
        CredentialType::CustomEnv => "custom_env",
    }
}

/// Why `entry` cannot be installed, or `None`.
pub fn not_installable(entry: &IndexEntry) -> Option<String> {
    let toolpack = is_toolpack(&entry.manifest);
    if toolpack {
        return match &entry.toolspec {
            None => Some("a toolpack entry without a toolspec in the index".into()),
            Some(_) => None,
        };
    }
    if !entry.installable {
        return Some(
            "its image digest is the all-zero placeholder (no image was published); the \
             registry must pin the real digest"
                .into(),
        );
    }
    None
}

/// Whether the toolpack engine serves `manifest`.
pub fn is_toolpack(manifest: &Manifest) -> bool {
    manifest.image.builder == Some(gigmcp_registry::Builder::Toolpack)
}

impl Catalogue {
    /// One card per name (its latest version), filtered: `search` matches name, display name,
    /// description and category (case-insensitive, every word must match); `category` exactly.
    pub fn cards(&self, search: Option<&str>, category: Option<&str>) -> Vec<Card> {
        let words: Vec<String> = search
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let mut out: Vec<Card> = Vec::new();
        for entry in &self.index.entries {
            // Entries are sorted by name then semver: the last of a name is its latest.
            if out.last().is_some_and(|c| c.name == entry.name) {
                out.pop();
            }
            out.push(card(entry));
        }
        out.retain(|c| {
            category.is_none_or(|want| c.category.eq_ignore_ascii_case(want))
                && words.iter().all(|w| {
                    c.name.contains(w.as_str())
                        || c.display_name.to_lowercase().contains(w.as_str())
                        || c.category.to_lowercase().contains(w.as_str())
                        || c.description
                            .as_deref()
                            .is_some_and(|d| d.to_lowercase().contains(w.as_str()))
                })
        });
        out
    }

    /// The entry `name` at `version` (its latest when `None`).
    pub fn entry(&self, name: &str, version: Option<&str>) -> Result<&IndexEntry, CatalogError> {
        if let Some(e) = self.index.find(name, version) {
            return Ok(e);
        }
        let versions: Vec<&str> = self
            .index
            .entries
            .iter()
            .filter(|e| e.name == name)
            .map(|e| e.version.as_str())
            .collect();
        match version {
            Some(v) if !versions.is_empty() => Err(CatalogError::UnknownVersion {
                name: name.to_owned(),
                version: v.to_owned(),
                available: versions.join(", "),
            }),
            _ => Err(CatalogError::UnknownServer {
                name: name.to_owned(),
                hint: self.suggest(name),
            }),
        }
    }

    /// Every version of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Vec<&IndexEntry> {
        self.index
            .entries
            .iter()
            .filter(|e| e.name == name)
            .collect()
    }

    /// `; did you mean a, b?` for names close to `name`, or empty.
    fn suggest(&self, name: &str) -> String {
        let lower = name.to_lowercase();
        let mut close: Vec<&str> = self
            .index
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| n.contains(lower.as_str()) || lower.contains(n))
            .collect();
        close.dedup();
        close.truncate(5);
        if close.is_empty() {
            String::new()
        } else {
            format!("; did you mean {}?", close.join(", "))
        }
    }
}

fn card(entry: &IndexEntry) -> Card {
    let m = &entry.manifest;
    Card {
        name: entry.name.clone(),
        display_name: m.display_name.clone(),
        version: entry.version.clone(),
        category: m.category.clone(),
        description: m.description.clone(),
        tier: m.tier.as_str(),
        auth: m
            .credentials
            .iter()
            .map(|c| credential_type(c.kind))
            .collect(),
        egress: m.entitlements.egress.clone(),
        tools: m.tools.len(),
        default_tools: m.default_tools().count(),
        not_installable: not_installable(entry),
    }
}

/// What `gigmcp registry show` prints: the entry, its tools (with method and path for a
/// toolpack server), credentials, egress, tier, the per-user settings, and every version.
pub fn detail(catalogue: &Catalogue, entry: &IndexEntry) -> String {
    use std::fmt::Write as _;
    let m = &entry.manifest;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}) {}", m.display_name, entry.name, entry.version);
    let _ = writeln!(out, "category: {}", m.category);
    if let Some(d) = &m.description {
        let _ = writeln!(out, "description: {d}");
    }
    let tier = match m.tier {
        Tier::Sealed => "sealed (the server never sees the secrets)".to_owned(),
        Tier::Entrusted => "ENTRUSTED (the server holds its secrets in its environment)".into(),
    };
    let _ = writeln!(out, "tier: {tier}");
    let runs = if is_toolpack(m) {
        "the gateway's toolpack engine (no image is pulled)".to_owned()
    } else {
        format!("image {}@{}", m.image.reference, m.image.digest)
    };
    let _ = writeln!(out, "runs: {runs}");
    let _ = writeln!(
        out,
        "installable: {}",
        not_installable(entry).unwrap_or_else(|| "yes".into())
    );
    let _ = writeln!(
        out,
        "egress: {}",
        if m.entitlements.egress.is_empty() {
            "none (no network)".to_owned()
        } else {
            m.entitlements.egress.join(", ")
        }
    );
    for c in &m.credentials {
        let _ = writeln!(
            out,
            "credential: {} ({}, {}){}",
            c.id,
            credential_type(c.kind),
            c.provider,
            if c.scopes.is_empty() {
                String::new()
            } else {
                format!(", scopes {}", c.scopes.join(" "))
            }
        );
    }
    if let Some(spec) = &entry.toolspec {
        for host in wildcard_only_hosts(m, spec) {
            let _ = writeln!(out, "per-user tenant host: {host}");
        }
        for var in gigmcp_registry::settings::install_vars(spec) {
            let _ = writeln!(out, "per-user variable: {var}");
        }
    }
    let _ = writeln!(
        out,
        "tools ({}, {} on by default):",
        m.tools.len(),
        m.default_tools().count()
    );
    for t in &m.tools {
        let route = entry
            .toolspec
            .as_ref()
            .and_then(|s| route(s, &t.name))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} [{}]{route}",
            t.name,
            if t.default { "on" } else { "off" }
        );
    }
    let versions: Vec<&str> = catalogue
        .versions(&entry.name)
        .iter()
        .map(|e| e.version.as_str())
        .collect();
    let _ = writeln!(out, "versions: {}", versions.join(", "));
    let _ = writeln!(out, "runtime hash: {}", entry.runtime_hash);
    out
}

/// ` METHOD /path` of a toolspec tool.
fn route(spec: &Toolspec, tool: &str) -> Option<String> {
    let t = spec.tools.iter().find(|t| t.name == tool)?;
    Some(format!("  {} {}", t.method.as_str(), t.path))
}
