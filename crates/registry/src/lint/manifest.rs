//! Manifest rules.

use std::collections::HashSet;

use crate::diag::{Diagnostic, FileDiags};
use crate::digest::Digest;
use crate::egress::{Denylist, EgressPattern};
use crate::lint::syntax;
use crate::manifest::{CredentialType, Manifest, SCHEMA_VERSION, Tier};
use crate::path::{DocKind, DocPath};

/// Parses and lints one manifest. Returns the manifest when it parsed (even with lint errors)
/// and every finding.
pub fn lint_manifest(
    path: &str,
    bytes: &[u8],
    denylist: &Denylist,
) -> (Option<Manifest>, Vec<Diagnostic>) {
    let mut d = FileDiags::new(path);
    let doc_path = match DocPath::parse(path) {
        Ok(p) if p.kind == DocKind::Manifest => Some(p),
        Ok(_) => {
            d.error(
                "-",
                "this is a toolspec, not a manifest",
                "lint it with `registryctl lint-toolspecs`",
            );
            None
        }
        Err(e) => {
            d.error(
                "-",
                e.to_string(),
                "keep only manifests and toolspecs under manifests/<name>/",
            );
            None
        }
    };
    let manifest = match Manifest::from_yaml(bytes) {
        Ok(m) => m,
        Err(e) => {
            d.error(
                "-",
                format!("does not parse: {e}"),
                "correct the YAML; unknown fields are errors, see docs/registry.md for the schema",
            );
            return (None, d.out);
        }
    };
    check_manifest(&manifest, doc_path.as_ref(), denylist, &mut d);
    (Some(manifest), d.out)
}

fn check_manifest(m: &Manifest, path: Option<&DocPath>, denylist: &Denylist, d: &mut FileDiags) {
    if m.schema_version != SCHEMA_VERSION {
        d.error(
            "schemaVersion",
            format!("schema version {} is not supported", m.schema_version),
            format!("set `schemaVersion: {SCHEMA_VERSION}`"),
        );
    }
    check_identity(m, path, d);
    check_source_and_image(m, d);
    for (field, value) in [("displayName", &m.display_name), ("category", &m.category)] {
        if value.trim().is_empty() {
            d.error(
                field,
                "is empty",
                format!("give `{field}` a short human-readable value"),
            );
        }
    }
    check_egress(m, denylist, d);
    check_credentials(m, d);
    check_tools(m, d);
}

fn check_identity(m: &Manifest, path: Option<&DocPath>, d: &mut FileDiags) {
    if !syntax::is_server_name(&m.name) {
        d.error(
            "name",
            format!("`{}` is not a valid server name", m.name),
            "use 1-64 characters of a-z, 0-9 and `-`, not starting or ending with `-`",
        );
    }
    if semver::Version::parse(&m.version).is_err() {
        d.error(
            "version",
            format!("`{}` is not a semantic version", m.version),
            "write MAJOR.MINOR.PATCH, e.g. `0.1.0`",
        );
    }
    if let Some(p) = path {
        if p.name != m.name {
            d.error(
                "name",
                format!(
                    "`{}` does not match the directory `manifests/{}/`",
                    m.name, p.name
                ),
                "make the directory name and `name` equal",
            );
        }
        if p.version != m.version {
            d.error(
                "version",
                format!(
                    "`{}` does not match the file name `{}.yaml`",
                    m.version, p.version
                ),
                "name the file `<version>.yaml` after the `version` field",
            );
        }
    }
}

fn check_source_and_image(m: &Manifest, d: &mut FileDiags) {
    if !syntax::is_source_repo(&m.source.repo) {
        d.error(
            "source.repo",
            format!("`{}` is not a repository path", m.source.repo),
            "write `host/owner/repo` without scheme, e.g. `github.com/gigmcp/toolpack`",
        );
    }
    if !syntax::is_git_tag(&m.source.tag) {
        d.error(
            "source.tag",
            format!("`{}` is not a git tag name", m.source.tag),
            "use letters, digits, `.`, `_`, `-` and `/` only, e.g. `v0.1.0`",
        );
    }
    if let Some(pkg) = &m.source.package
        && !syntax::is_safe_rel_path(pkg)
    {
        d.error(
            "source.package",
            format!("`{pkg}` is not a relative package path"),
            "write a path inside the repository without `..`, e.g. `cmd/server`",
        );
    }
    if !syntax::is_image_ref(&m.image.reference) {
        d.error(
            "image.ref",
            format!("`{}` is not an image repository reference", m.image.reference),
            "write lowercase `registry/path` without tag or digest, e.g. `ghcr.io/gigmcp/ably-mcp`; the digest goes in `image.digest`",
        );
    }
    match m.image.digest.parse::<Digest>() {
        Ok(digest) if digest.is_placeholder() => d.warning(
            "image.digest",
            "placeholder digest (all zeros): this entry is listed but not installable",
            "build the image and pin its real digest",
        ),
        Ok(_) => {}
        Err(e) => d.error(
            "image.digest",
            e.to_string(),
            "pin the digest the image build printed",
        ),
    }
    if !syntax::is_abs_image_path(&m.image.entrypoint) {
        d.error(
            "image.entrypoint",
            format!(
                "`{}` is not an absolute path inside the image",
                m.image.entrypoint
            ),
            "write an absolute path without `..`, e.g. `/app/server`",
        );
    }
}

fn check_egress(m: &Manifest, denylist: &Denylist, d: &mut FileDiags) {
    let mut seen = HashSet::new();
    for (i, raw) in m.entitlements.egress.iter().enumerate() {
        let field = format!("entitlements.egress[{i}]");
        match EgressPattern::parse(raw) {
            Ok(pattern) => {
                if let Some(denied) = denylist.denies_pattern(&pattern) {
                    d.error(
                        &field,
                        format!("`{raw}` reaches the denylisted domain `{denied}` (exfiltration or internal name)"),
                        "remove it; denylisted domains and their subdomains are never granted",
                    );
                }
                if !seen.insert(pattern) {
                    d.warning(
                        &field,
                        format!("`{raw}` is listed twice"),
                        "remove the duplicate",
                    );
                }
            }
            Err(e) => d.error(
                &field,
                e.to_string(),
                "see the egress rule in docs/registry.md",
            ),
        }
    }
}

fn check_credentials(m: &Manifest, d: &mut FileDiags) {
    if m.tier == Tier::Entrusted && m.credentials.is_empty() {
        d.error(
            "tier",
            "entrusted tier without credentials: there is nothing to entrust",
            "use `tier: sealed`",
        );
    }
    let mut ids = HashSet::new();
    for (i, c) in m.credentials.iter().enumerate() {
        let f = |s: &str| format!("credentials[{i}].{s}");
        if !syntax::is_credential_id(&c.id) {
            d.error(
                f("id"),
                format!("`{}` is not a valid credential id", c.id),
                "use lowercase letters, digits, `_` and `-`, starting with a letter",
            );
        }
        if !ids.insert(c.id.as_str()) {
            d.error(
                f("id"),
                format!("`{}` is used by two credentials", c.id),
                "give each credential a unique id",
            );
        }
        if c.provider.trim().is_empty() {
            d.error(
                f("provider"),
                "is empty",
                "name the service the credential belongs to",
            );
        }
        if c.kind == CredentialType::CustomEnv && m.tier == Tier::Sealed {
            d.error(f("type"), "custom_env credentials are handed over as environment variables, which sealed servers never get", "use `tier: entrusted` with `inject.env`, or another credential type");
        }
        match m.tier {
            Tier::Sealed => check_sealed_inject(c, &f, d),
            Tier::Entrusted => check_entrusted_inject(c, &f, d),
        }
    }
}

fn check_sealed_inject(
    c: &crate::manifest::Credential,
    f: &dyn Fn(&str) -> String,
    d: &mut FileDiags,
) {
    if c.inject.env.is_some() {
        d.error(
            f("inject.env"),
            "a sealed server never sees secrets, so it cannot receive one in its environment",
            "inject a header (`inject.header` + `inject.format`), or use `tier: entrusted`",
        );
    }
    match &c.inject.header {
        None => d.error(
            f("inject.header"),
            "sealed tier needs the header the proxy injects",
            "add e.g. `header: Authorization`",
        ),
        Some(h) if !syntax::is_header_name(h) => d.error(
            f("inject.header"),
            format!("`{h}` is not an HTTP header name"),
            "use a header token such as `Authorization` or `X-Api-Key`",
        ),
        Some(h) if syntax::is_reserved_header(h) => d.error(
            f("inject.header"),
            format!("`{h}` is owned by the proxy and cannot carry a credential"),
            "use the header the API documents for authentication",
        ),
        Some(_) => {}
    }
    match &c.inject.format {
        None => d.error(f("inject.format"), "sealed tier needs the header value template", "add e.g. `format: \"Bearer {token}\"`"),
        Some(fmt) if !syntax::is_token_format(fmt) => d.error(f("inject.format"), format!("`{fmt}` must contain `{{token}}` exactly once, no other braces and no control characters"), "write e.g. `Bearer {token}` or `{token}`"),
        Some(_) => {}
    }
}

fn check_entrusted_inject(
    c: &crate::manifest::Credential,
    f: &dyn Fn(&str) -> String,
    d: &mut FileDiags,
) {
    for (field, set) in [
        ("inject.header", c.inject.header.is_some()),
        ("inject.format", c.inject.format.is_some()),
    ] {
        if set {
            d.error(f(field), "entrusted servers receive the secret in their environment; header injection is for sealed servers", "remove it and use `inject.env`, or use `tier: sealed`");
        }
    }
    match &c.inject.env {
        None => d.error(
            f("inject.env"),
            "entrusted tier needs the environment variable that receives the secret",
            "add e.g. `env: SERVICE_API_KEY`",
        ),
        Some(e) if !syntax::is_env_name(e) => d.error(
            f("inject.env"),
            format!("`{e}` is not an environment variable name"),
            "use uppercase letters, digits and `_`, e.g. `SERVICE_API_KEY`",
        ),
        Some(e) if syntax::is_reserved_env(e) => d.error(
            f("inject.env"),
            format!("`{e}` changes how the process runs or routes traffic"),
            "pick a service-specific name, e.g. `SERVICE_API_KEY`",
        ),
        Some(_) => {}
    }
}

fn check_tools(m: &Manifest, d: &mut FileDiags) {
    if m.tools.is_empty() {
        d.error(
            "tools",
            "no tools listed",
            "list every tool the server offers",
        );
        return;
    }
    let mut names = HashSet::new();
    for (i, t) in m.tools.iter().enumerate() {
        if !syntax::is_tool_name(&t.name) {
            d.error(
                format!("tools[{i}].name"),
                format!("`{}` is not a valid MCP tool name", t.name),
                "use 1-128 characters of A-Z, a-z, 0-9, `_`, `-` and `.`",
            );
        }
        if !names.insert(t.name.as_str()) {
            d.error(
                format!("tools[{i}].name"),
                format!("`{}` is listed twice", t.name),
                "give each tool a unique name",
            );
        }
    }
    if m.default_tools().next().is_none() {
        d.error(
            "tools",
            "no tool has `default: true`, so a fresh install would expose nothing",
            "mark the safe read-only tools `default: true`",
        );
    }
}
