//! What an update changes in what a server may do, and whether that needs consent again.
//!
//! An update **widens** entitlements when the new version may do something the consented one
//! could not: an egress pattern that allows a host the old patterns did not (added, or a host
//! turned into a wildcard), a credential added, or one whose injection changed (another header,
//! format or variable, or another type), sealed → entrusted, or a tool on by default that was
//! not. Everything else (a new digest, narrower egress, removed credentials or tools, a tool
//! turned off by default, descriptions) does not.

use gigmcp_registry::{Credential, EgressPattern, Manifest, Tier};
use serde::Serialize;

/// The changes between an installed manifest and a newer one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EntitlementDiff {
    /// New patterns allowing hosts the old ones did not.
    pub egress_added: Vec<String>,
    /// Old patterns whose hosts the new ones no longer all allow.
    pub egress_removed: Vec<String>,
    /// Credential ids new in this version.
    pub credentials_added: Vec<String>,
    /// Credential ids whose type or injection changed (`id: old → new`).
    pub credentials_changed: Vec<String>,
    /// Credential ids gone.
    pub credentials_removed: Vec<String>,
    /// `(old, new)` when the tier changed.
    pub tier: Option<(&'static str, &'static str)>,
    /// Tools on by default now that were not (new, or turned on).
    pub tools_on_by_default: Vec<String>,
    /// Tools gone.
    pub tools_removed: Vec<String>,
    /// Tools new in this version but off by default.
    pub tools_added_off: Vec<String>,
    /// The image digest or the toolspec changed (what runs); set by the caller for a toolspec.
    pub runtime_changed: bool,
}

impl EntitlementDiff {
    /// Compares the consented manifest `old` with `new`.
    pub fn between(old: &Manifest, new: &Manifest) -> Self {
        let old_egress = patterns(old);
        let new_egress = patterns(new);
        let egress_added = new_egress
            .iter()
            .filter(|p| !old_egress.iter().any(|q| covers(q, p)))
            .map(ToString::to_string)
            .collect();
        let egress_removed = old_egress
            .iter()
            .filter(|q| !new_egress.iter().any(|p| covers(p, q)))
            .map(ToString::to_string)
            .collect();
        let find = |list: &[Credential], id: &str| list.iter().find(|c| c.id == id).cloned();
        let mut credentials_added = Vec::new();
        let mut credentials_changed = Vec::new();
        for c in &new.credentials {
            match find(&old.credentials, &c.id) {
                None => credentials_added.push(c.id.clone()),
                Some(o) if o.kind != c.kind || o.inject != c.inject => credentials_changed
                    .push(format!("{}: {} → {}", c.id, injection(&o), injection(c))),
                Some(_) => {}
            }
        }
        let credentials_removed = old
            .credentials
            .iter()
            .filter(|o| find(&new.credentials, &o.id).is_none())
            .map(|o| o.id.clone())
            .collect();
        let tier = (old.tier != new.tier).then(|| (old.tier.as_str(), new.tier.as_str()));
        let was_on = |name: &str| old.tools.iter().any(|t| t.name == name && t.default);
        let existed = |name: &str| old.tools.iter().any(|t| t.name == name);
        let tools_on_by_default = new
            .tools
            .iter()
            .filter(|t| t.default && !was_on(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let tools_added_off = new
            .tools
            .iter()
            .filter(|t| !t.default && !existed(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let tools_removed = old
            .tools
            .iter()
            .filter(|t| !new.tools.iter().any(|n| n.name == t.name))
            .map(|t| t.name.clone())
            .collect();
        Self {
            egress_added,
            egress_removed,
            credentials_added,
            credentials_changed,
            credentials_removed,
            tier,
            tools_on_by_default,
            tools_removed,
            tools_added_off,
            runtime_changed: old.image.digest != new.image.digest,
        }
    }

    /// Whether the new version may do more than the consented one: then it needs consent.
    pub fn widens(&self) -> bool {
        !self.egress_added.is_empty()
            || !self.credentials_added.is_empty()
            || !self.credentials_changed.is_empty()
            || self.tier == Some((Tier::Sealed.as_str(), Tier::Entrusted.as_str()))
            || !self.tools_on_by_default.is_empty()
    }

    /// The diff as lines, widening changes marked `+`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.egress_added {
            out.push(format!("+ egress: {}", spell_out(p)));
        }
        for p in &self.egress_removed {
            out.push(format!("- egress: {p}"));
        }
        for c in &self.credentials_added {
            out.push(format!("+ credential: {c}"));
        }
        for c in &self.credentials_changed {
            out.push(format!("+ credential changed: {c}"));
        }
        for c in &self.credentials_removed {
            out.push(format!("- credential: {c}"));
        }
        if let Some((from, to)) = self.tier {
            let mark = if to == Tier::Entrusted.as_str() {
                "+"
            } else {
                "-"
            };
            out.push(format!("{mark} tier: {from} → {to}"));
        }
        for t in &self.tools_on_by_default {
            out.push(format!("+ tool on by default: {t}"));
        }
        for t in &self.tools_added_off {
            out.push(format!("  tool added, off by default: {t}"));
        }
        for t in &self.tools_removed {
            out.push(format!("- tool: {t}"));
        }
        if self.runtime_changed {
            out.push("  what runs changed (image digest or toolspec)".into());
        }
        out
    }
}

fn patterns(m: &Manifest) -> Vec<EgressPattern> {
    m.egress_patterns().unwrap_or_default()
}

/// Whether every host `inner` allows, `outer` allows too.
fn covers(outer: &EgressPattern, inner: &EgressPattern) -> bool {
    match (outer, inner) {
        (EgressPattern::Exact(a), EgressPattern::Exact(b)) => a == b,
        (EgressPattern::Wildcard(_), EgressPattern::Exact(host)) => outer.allows(host),
        // `*.s` covers `*.x.s` (and `*.s` itself); an exact host never covers a wildcard.
        (EgressPattern::Wildcard(s), EgressPattern::Wildcard(t)) => {
            t == s || t.strip_suffix(s.as_str()).is_some_and(|h| h.ends_with('.'))
        }
        (EgressPattern::Exact(_), EgressPattern::Wildcard(_)) => false,
    }
}

/// `*.x.com (any subdomain of x.com, not x.com itself)` or the host itself.
pub fn spell_out(pattern: &str) -> String {
    match pattern.strip_prefix("*.") {
        Some(base) => format!("{pattern} (any subdomain of {base}, not {base} itself)"),
        None => format!("{pattern} (this host only)"),
    }
}

/// `header Authorization "Bearer {token}"`, `env X`, with the type.
fn injection(c: &Credential) -> String {
    let how = match (&c.inject.header, &c.inject.format, &c.inject.env) {
        (Some(h), Some(f), _) => format!("header {h} {f:?}"),
        (_, _, Some(env)) => format!("env {env}"),
        _ => "nothing".into(),
    };
    format!("{} as {how}", crate::catalogue::credential_type(c.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(egress: &[&str], tier: &str, creds: &str, tools: &str) -> Manifest {
        let egress: Vec<String> = egress.iter().map(|e| format!("    - \"{e}\"")).collect();
        let yaml = format!(
            "schemaVersion: 1\nname: x\nversion: 1.0.0\nsource:\n  repo: github.com/a/b\n  tag: v1\n\
             image:\n  ref: ghcr.io/a/x\n  digest: sha256:{}\n  entrypoint: /app/server\n\
             tier: {tier}\ndisplayName: X\ncategory: dev\nentitlements:\n  egress:\n{}\n{creds}tools:\n{tools}",
            "1".repeat(64),
            egress.join("\n")
        );
        Manifest::from_yaml(yaml.as_bytes()).unwrap()
    }

    const KEY: &str = "credentials:\n  - id: key\n    type: api_key\n    provider: x\n    inject:\n      header: Authorization\n      format: \"Bearer {token}\"\n";
    const TOOLS: &str = "  - name: a\n    default: true\n  - name: b\n    default: false\n";

    #[test]
    fn egress_added_or_broadened_widens_narrowed_does_not() {
        let old = manifest(&["api.x.com"], "sealed", KEY, TOOLS);
        let added = manifest(&["api.x.com", "up.x.com"], "sealed", KEY, TOOLS);
        let d = EntitlementDiff::between(&old, &added);
        assert_eq!(d.egress_added, ["up.x.com"]);
        assert!(d.widens());
        let broadened = manifest(&["*.x.com"], "sealed", KEY, TOOLS);
        let d = EntitlementDiff::between(&old, &broadened);
        assert_eq!(d.egress_added, ["*.x.com"]);
        assert!(d.egress_removed.is_empty(), "{d:?}");
        assert!(d.widens());
        // the reverse narrows
        let d = EntitlementDiff::between(&broadened, &old);
        assert!(d.egress_added.is_empty() && !d.widens(), "{d:?}");
        assert_eq!(d.egress_removed, ["*.x.com"]);
        // a deeper wildcard under an old one is covered
        let deeper = manifest(&["*.x.com", "*.eu.x.com"], "sealed", KEY, TOOLS);
        assert!(!EntitlementDiff::between(&broadened, &deeper).widens());
    }

    #[test]
    fn credentials_tier_and_default_tools() {
        let old = manifest(&["api.x.com"], "sealed", KEY, TOOLS);
        let moved = manifest(
            &["api.x.com"],
            "sealed",
            &KEY.replace("Authorization", "X-Api-Key"),
            TOOLS,
        );
        let d = EntitlementDiff::between(&old, &moved);
        assert_eq!(d.credentials_changed.len(), 1, "{d:?}");
        assert!(d.widens());
        let entrusted = manifest(
            &["api.x.com"],
            "entrusted",
            "credentials:\n  - id: key\n    type: api_key\n    provider: x\n    inject:\n      env: X_KEY\n",
            TOOLS,
        );
        let d = EntitlementDiff::between(&old, &entrusted);
        assert_eq!(d.tier, Some(("sealed", "entrusted")));
        assert!(d.widens());
        let on = manifest(
            &["api.x.com"],
            "sealed",
            KEY,
            "  - name: a\n    default: true\n  - name: b\n    default: true\n",
        );
        let d = EntitlementDiff::between(&old, &on);
        assert_eq!(d.tools_on_by_default, ["b"]);
        assert!(d.widens());
        let fewer = manifest(
            &["api.x.com"],
            "sealed",
            "",
            "  - name: a\n    default: true\n",
        );
        let d = EntitlementDiff::between(&old, &fewer);
        assert!(!d.widens(), "{d:?}");
        assert_eq!(d.credentials_removed, ["key"]);
        assert_eq!(d.tools_removed, ["b"]);
        let added_off = manifest(
            &["api.x.com"],
            "sealed",
            KEY,
            "  - name: a\n    default: true\n  - name: b\n    default: false\n  - name: c\n    default: false\n",
        );
        let d = EntitlementDiff::between(&old, &added_off);
        assert!(!d.widens());
        assert_eq!(d.tools_added_off, ["c"]);
    }

    #[test]
    fn wildcards_are_spelled_out() {
        assert_eq!(
            spell_out("*.zendesk.com"),
            "*.zendesk.com (any subdomain of zendesk.com, not zendesk.com itself)"
        );
        assert_eq!(spell_out("api.x.com"), "api.x.com (this host only)");
    }
}
