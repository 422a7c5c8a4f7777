//! What each owner of a toolpack install sets for themselves: the tenant hosts that a wildcard
//! egress entry covers (the toolspec names a placeholder such as `yoursubdomain.zendesk.com`),
//! and the install variables its params read (`from: install.<var>`). Pure functions of the
//! manifest and toolspec, shared by the consent document and the gateway's checks.

use std::collections::BTreeSet;

use crate::egress::normalize_host;
use crate::manifest::Manifest;
use crate::toolspec::Toolspec;

/// The toolspec's base hosts (spec and per-tool `baseUrl`) that `manifest`'s egress allows only
/// through a wildcard entry, sorted: the hosts an owner may override.
pub fn wildcard_only_hosts(manifest: &Manifest, toolspec: &Toolspec) -> Vec<String> {
    let Ok(policy) = manifest.egress_policy() else {
        return Vec::new();
    };
    let exact = policy.exact_hosts();
    let hosts: BTreeSet<String> = toolspec
        .base_urls()
        .filter_map(url_host)
        .filter(|h| policy.allows(h) && !exact.contains(h))
        .collect();
    hosts.into_iter().collect()
}

/// The install variables of a toolspec (`from: install.<var>`), sorted.
pub fn install_vars(toolspec: &Toolspec) -> Vec<String> {
    let vars: BTreeSet<String> = toolspec
        .tools
        .iter()
        .flat_map(|t| &t.params)
        .filter_map(|p| p.install_var())
        .map(str::to_owned)
        .collect();
    vars.into_iter().collect()
}

/// The host of a toolspec base URL (`https://host[/prefix]`), lowercase.
fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    normalize_host(host).ok()
}
