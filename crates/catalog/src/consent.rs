//! The consent document: everything an index entry will be allowed to do, in the words a user
//! reads before saying yes. The same document is printed by `gigmcp server install`, kept with
//! the consent in the store, and (later) shown by the dashboard.
//!
//! It lists every egress pattern (wildcards spelled out), every credential with where it goes
//! (sealed: a header the gateway adds, only for the exact hosts of the egress list and each
//! user's own tenant host; entrusted: a variable the server process holds, as a warning), the
//! tier, the per-user settings, every tool and whether it is on by default, and what runs (the
//! image digest, or the toolspec's hash for the built-in engine) with the runtime hash consent
//! covers.

use gigmcp_registry::settings::{install_vars, wildcard_only_hosts};
use gigmcp_registry::{IndexEntry, Tier};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::catalogue::{credential_type, is_toolpack};
use crate::diff::spell_out;

/// What a user consents to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentDocument {
    pub name: String,
    pub display_name: String,
    pub version: String,
    pub tier: &'static str,
    /// What runs: `image <ref>@<digest>` or `toolpack engine, toolspec sha256:…`.
    pub runs: String,
    /// Each egress pattern, spelled out.
    pub egress: Vec<String>,
    /// Each credential: id, type, and where it goes.
    pub credentials: Vec<String>,
    /// Hosts each user points at their tenant, and install variables.
    pub per_user: Vec<String>,
    /// `name [on|off]` per tool.
    pub tools: Vec<String>,
    /// The hash consent covers.
    pub runtime_hash: String,
}

/// sha256 of the toolspec as stored (its JSON), `sha256:<hex>`.
pub fn toolspec_hash(entry: &IndexEntry) -> Option<String> {
    let spec = entry.toolspec.as_ref()?;
    let json = serde_json::to_vec(spec).ok()?;
    Some(format!("sha256:{}", hex::encode(Sha256::digest(&json))))
}

impl ConsentDocument {
    /// The document for `entry`.
    pub fn for_entry(entry: &IndexEntry) -> Self {
        let m = &entry.manifest;
        let runs = if is_toolpack(m) {
            format!(
                "the gateway's toolpack engine serving toolspec {} ({} tools)",
                toolspec_hash(entry).unwrap_or_else(|| "(missing)".into()),
                entry.toolspec.as_ref().map_or(0, |s| s.tools.len())
            )
        } else {
            format!("image {}@{}", m.image.reference, m.image.digest)
        };
        let policy = m.egress_policy().ok();
        let exact = policy.map(|p| p.exact_hosts()).unwrap_or_default();
        let has_wildcard = m.entitlements.egress.iter().any(|e| e.starts_with("*."));
        let credentials = m
            .credentials
            .iter()
            .map(|c| {
                let kind = credential_type(c.kind);
                match (&c.inject.header, &c.inject.format, &c.inject.env) {
                    (Some(header), Some(format), _) => {
                        let mut to = exact.clone();
                        if has_wildcard {
                            to.push("each user's own tenant host".into());
                        }
                        format!(
                            "{} ({kind}, {}): the server never sees it; the gateway adds header \
                             {header}: {format} for {} only",
                            c.id,
                            c.provider,
                            if to.is_empty() {
                                "no host".into()
                            } else {
                                to.join(", ")
                            }
                        )
                    }
                    (_, _, Some(env)) => format!(
                        "WARNING {} ({kind}, {}): the server process holds this secret in ${env} \
                         and can send it to any host it may reach",
                        c.id, c.provider
                    ),
                    _ => format!("{} ({kind}): not injected", c.id),
                }
            })
            .collect();
        let mut per_user = Vec::new();
        if let Some(spec) = &entry.toolspec {
            for host in wildcard_only_hosts(m, spec) {
                per_user.push(format!(
                    "tenant host in place of {host} (`gigmcp server set-host {} {host}=<host> --profile P`)",
                    entry.name
                ));
            }
            for var in install_vars(spec) {
                per_user.push(format!(
                    "variable {var} (`gigmcp server set-var {} {var}=<value> --profile P`)",
                    entry.name
                ));
            }
        }
        Self {
            name: entry.name.clone(),
            display_name: m.display_name.clone(),
            version: entry.version.clone(),
            tier: m.tier.as_str(),
            runs,
            egress: m.entitlements.egress.iter().map(|e| spell_out(e)).collect(),
            credentials,
            per_user,
            tools: m
                .tools
                .iter()
                .map(|t| format!("{} [{}]", t.name, if t.default { "on" } else { "off" }))
                .collect(),
            runtime_hash: entry.runtime_hash.clone(),
        }
    }

    /// The document as text.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ({}) {} from the signed registry index",
            self.display_name, self.name, self.version
        );
        let _ = writeln!(out, "runs: {}", self.runs);
        if self.tier == Tier::Entrusted.as_str() {
            let _ = writeln!(
                out,
                "tier: WARNING ENTRUSTED: the server receives its secrets in its own \
                 environment; only its egress allowlist limits where they can go"
            );
        } else {
            let _ = writeln!(
                out,
                "tier: sealed: the server only ever sees placeholders; the gateway swaps in the \
                 secret on the way out"
            );
        }
        if self.egress.is_empty() {
            let _ = writeln!(out, "network: none");
        } else {
            let _ = writeln!(
                out,
                "network: only these hosts, over HTTPS through the gateway:"
            );
            for e in &self.egress {
                let _ = writeln!(out, "  - {e}");
            }
        }
        if self.credentials.is_empty() {
            let _ = writeln!(out, "credentials: none");
        } else {
            let _ = writeln!(out, "credentials:");
            for c in &self.credentials {
                let _ = writeln!(out, "  - {c}");
            }
        }
        if !self.per_user.is_empty() {
            let _ = writeln!(out, "each user sets:");
            for s in &self.per_user {
                let _ = writeln!(out, "  - {s}");
            }
        }
        let on = self.tools.iter().filter(|t| t.ends_with("[on]")).count();
        let _ = writeln!(
            out,
            "tools ({}, {on} on by default): {}",
            self.tools.len(),
            self.tools.join(", ")
        );
        let _ = writeln!(out, "runtime hash: {}", self.runtime_hash);
        out
    }
}
