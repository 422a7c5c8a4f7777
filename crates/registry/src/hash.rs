//! The runtime hash: what a user consents to when installing a server.
//!
//! Covers exactly the image digest, entrypoint, tier, egress, credentials (id, type, provider,
//! vendor, scopes, injection) and tools (name, default). Display fields (displayName, category,
//! description), the source and the image repository are left out: changing them does not change
//! what runs or what it may reach. Sets are canonicalised (egress normalised with the egress rule
//! and sorted, scopes sorted, credentials sorted by id, tools by name), so key order, YAML
//! formatting and list order do not change the hash.
//!
//! The canonical form is compact JSON of fixed-order structs (independent of serde_json's map
//! implementation), prefixed by a format version; the hash is lowercase hex sha256 of it.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::egress::EgressPattern;
use crate::manifest::{CredentialType, Manifest, Tier};

/// Bump when the canonical form changes; it is part of the hashed bytes.
pub const RUNTIME_HASH_VERSION: u32 = 1;

#[derive(Serialize)]
struct Canonical<'a> {
    v: u32,
    digest: &'a str,
    entrypoint: &'a str,
    tier: Tier,
    egress: Vec<String>,
    credentials: Vec<CanonicalCredential<'a>>,
    tools: Vec<(&'a str, bool)>,
}

#[derive(Serialize)]
struct CanonicalCredential<'a> {
    id: &'a str,
    kind: CredentialType,
    provider: &'a str,
    vendor: Option<&'a str>,
    scopes: Vec<&'a str>,
    header: Option<&'a str>,
    format: Option<&'a str>,
    env: Option<&'a str>,
}

/// The canonical JSON the runtime hash is computed over (exposed for debugging and docs).
pub fn canonical_runtime_json(m: &Manifest) -> Vec<u8> {
    let mut egress: Vec<String> = m
        .entitlements
        .egress
        .iter()
        .map(|e| EgressPattern::parse(e).map_or_else(|_| e.clone(), |p| p.to_string()))
        .collect();
    egress.sort();
    egress.dedup();
    let mut credentials: Vec<CanonicalCredential<'_>> = m
        .credentials
        .iter()
        .map(|c| {
            let mut scopes: Vec<&str> = c.scopes.iter().map(String::as_str).collect();
            scopes.sort_unstable();
            scopes.dedup();
            CanonicalCredential {
                id: &c.id,
                kind: c.kind,
                provider: &c.provider,
                vendor: c.vendor.as_deref(),
                scopes,
                header: c.inject.header.as_deref(),
                format: c.inject.format.as_deref(),
                env: c.inject.env.as_deref(),
            }
        })
        .collect();
    credentials.sort_by(|a, b| a.id.cmp(b.id));
    let mut tools: Vec<(&str, bool)> = m
        .tools
        .iter()
        .map(|t| (t.name.as_str(), t.default))
        .collect();
    tools.sort_unstable();
    let canonical = Canonical {
        v: RUNTIME_HASH_VERSION,
        digest: &m.image.digest,
        entrypoint: &m.image.entrypoint,
        tier: m.tier,
        egress,
        credentials,
        tools,
    };
    serde_json::to_vec(&canonical).expect("structs of strings, bools and vectors always serialise")
}

impl Manifest {
    /// Lowercase hex sha256 of [`canonical_runtime_json`]. Equal hashes mean the same consent.
    pub fn runtime_hash(&self) -> String {
        hex::encode(Sha256::digest(canonical_runtime_json(self)))
    }
}
