//! Toolspec rules, including its pairing with the manifest.

use std::collections::{BTreeSet, HashSet};

use crate::diag::{Diagnostic, FileDiags};
use crate::egress::normalize_host;
use crate::lint::syntax;
use crate::manifest::{Builder, Manifest, SCHEMA_VERSION, Tier};
use crate::path::{DocKind, DocPath};
use crate::toolspec::{
    ContentEncoding, Encoding, HttpMethod, INSTALL_PREFIX, Param, ParamLocation, ParamType,
    Toolspec, ToolspecTool,
};

/// Parses and lints one toolspec against its manifest (`None` when the manifest is missing or
/// does not parse).
pub fn lint_toolspec(
    path: &str,
    bytes: &[u8],
    manifest: Option<&Manifest>,
) -> (Option<Toolspec>, Vec<Diagnostic>) {
    let mut d = FileDiags::new(path);
    let doc_path = match DocPath::parse(path) {
        Ok(p) if p.kind == DocKind::Toolspec => Some(p),
        Ok(_) => {
            d.error(
                "-",
                "this is a manifest, not a toolspec",
                "lint it with `registryctl lint`",
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
    let spec = match Toolspec::from_yaml(bytes) {
        Ok(s) => s,
        Err(e) => {
            d.error(
                "-",
                format!("does not parse: {e}"),
                "correct the YAML; unknown fields are errors, see docs/registry.md for the schema",
            );
            return (None, d.out);
        }
    };
    if spec.schema_version != SCHEMA_VERSION {
        d.error(
            "schemaVersion",
            format!("schema version {} is not supported", spec.schema_version),
            format!("set `schemaVersion: {SCHEMA_VERSION}`"),
        );
    }
    if let Some(p) = &doc_path {
        for (field, value, expected) in [
            ("name", &spec.name, &p.name),
            ("version", &spec.version, &p.version),
        ] {
            if value != expected {
                d.error(
                    field,
                    format!("`{value}` does not match the path `{path}`"),
                    format!("set `{field}: {expected}`"),
                );
            }
        }
    }
    match manifest {
        None => {
            let mpath = doc_path.as_ref().map_or_else(
                || "its manifest".to_owned(),
                |p| DocPath::path_of(&p.name, &p.version, DocKind::Manifest),
            );
            d.error("-", format!("no valid manifest pairs with this toolspec ({mpath} is missing or does not parse)"), "add the manifest, or run `registryctl lint` and fix it");
        }
        Some(m) => check_against_manifest(&spec, m, &mut d),
    }
    check_tools(&spec, &mut d);
    (Some(spec), d.out)
}

fn check_against_manifest(spec: &Toolspec, m: &Manifest, d: &mut FileDiags) {
    if m.image.builder != Some(Builder::Toolpack) {
        d.error(
            "-",
            "the manifest is not built by toolpack, so nothing serves this toolspec",
            "set `image.builder: toolpack` in the manifest, or remove the toolspec",
        );
    }
    let manifest_tools: BTreeSet<&str> = m.tools.iter().map(|t| t.name.as_str()).collect();
    let spec_tools: BTreeSet<&str> = spec.tools.iter().map(|t| t.name.as_str()).collect();
    for missing in manifest_tools.difference(&spec_tools) {
        d.error(
            "tools",
            format!("manifest tool `{missing}` has no toolspec entry"),
            "add the tool here or remove it from the manifest",
        );
    }
    for extra in spec_tools.difference(&manifest_tools) {
        d.error(
            "tools",
            format!("tool `{extra}` is not in the manifest"),
            "add it to the manifest's `tools` (with `default`) or remove it here",
        );
    }
    match (m.tier, &spec.auth) {
        (Tier::Entrusted, None) => d.error("auth", "the manifest is entrusted, so the server must authenticate itself and needs `auth`", "add `auth: {header: ..., format: \"... {token}\"}`"),
        (Tier::Sealed, Some(_)) => d.error("auth", "the manifest is sealed: the proxy injects the credential and the server never holds it", "remove `auth`"),
        _ => {}
    }
    if let Some(auth) = &spec.auth {
        if !syntax::is_header_name(&auth.header) || syntax::is_reserved_header(&auth.header) {
            d.error(
                "auth.header",
                format!("`{}` is not a usable HTTP header name", auth.header),
                "use the header the API documents, e.g. `Authorization`",
            );
        }
        if let Some(q) = &auth.query
            && (q.is_empty()
                || !q
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)))
        {
            d.error(
                "auth.query",
                format!("`{q}` is not a plain query parameter name"),
                "use the name the API documents, e.g. `api_key`",
            );
        }
        if !auth.format.contains("{token}") || auth.format.bytes().any(|b| b.is_ascii_control()) {
            d.error(
                "auth.format",
                format!(
                    "`{}` must contain `{{token}}` and no control characters",
                    auth.format
                ),
                "write e.g. `Bearer {token}`",
            );
        }
    }
    // Egress of the base URLs: only meaningful when the manifest's egress parses (lint reports it otherwise).
    let policy = m.egress_policy().ok();
    let mut check_url = |field: String, url: &str| match base_url_host(url) {
        Err(msg) => d.error(
            field,
            format!("`{url}`: {msg}"),
            "write `https://host` with an optional path prefix",
        ),
        Ok(host) => {
            if let Some(policy) = &policy
                && !policy.allows(&host)
            {
                d.error(field, format!("host `{host}` is not allowed by the manifest's `entitlements.egress`"), "add the host (or a covering `*.suffix`) to the manifest's egress, or fix the URL");
            }
        }
    };
    check_url("baseUrl".to_owned(), &spec.base_url);
    for (i, t) in spec.tools.iter().enumerate() {
        if let Some(url) = &t.base_url {
            check_url(format!("tools[{i}].baseUrl"), url);
        }
    }
}

/// Extracts and validates the host of `https://host[/path]`. No userinfo, port, query or fragment.
fn base_url_host(url: &str) -> Result<String, &'static str> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("only https:// base URLs are allowed")?;
    if rest.contains(['?', '#']) {
        return Err("query and fragment are not allowed in a base URL");
    }
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    if host.contains('@') {
        return Err("credentials in the URL are not allowed");
    }
    if host.contains(':') {
        return Err("a port is not allowed; the egress proxy serves port 443");
    }
    if !path.is_empty() && !syntax::is_safe_url_path(path) {
        return Err("the path prefix has an empty, `.` or `..` segment or unsafe characters");
    }
    normalize_host(host).map_err(|_| "the host is not a DNS name")
}

fn check_tools(spec: &Toolspec, d: &mut FileDiags) {
    if spec.tools.is_empty() {
        d.error(
            "tools",
            "no tools",
            "map every manifest tool to an endpoint",
        );
    }
    let mut names = HashSet::new();
    for (i, t) in spec.tools.iter().enumerate() {
        let f = |s: &str| format!("tools[{i}].{s}");
        if !names.insert(t.name.as_str()) {
            d.error(
                f("name"),
                format!("`{}` is defined twice", t.name),
                "keep one definition per tool",
            );
        }
        if t.description.trim().is_empty() {
            d.error(
                f("description"),
                "is empty",
                "describe what the tool does; clients show it to the model",
            );
        }
        check_path(t, &f, d);
        let mut seen = HashSet::new();
        for (j, p) in t.params.iter().enumerate() {
            if !seen.insert((p.location, p.name.as_str())) {
                d.error(
                    f(&format!("params[{j}].name")),
                    format!("`{}` is defined twice in the same location", p.name),
                    "keep one definition",
                );
            }
            if p.name.is_empty() || p.name.bytes().any(|b| b.is_ascii_control()) {
                d.error(
                    f(&format!("params[{j}].name")),
                    "is empty or has control characters",
                    "use the parameter name the API documents",
                );
            }
            if p.location == ParamLocation::Header
                && (!syntax::is_header_name(&p.name) || syntax::is_reserved_header(&p.name))
            {
                d.error(
                    f(&format!("params[{j}].name")),
                    format!("`{}` is not a usable HTTP header name", p.name),
                    "use a header token the API documents (not Host, Content-Length, ...)",
                );
            }
            check_param(t, p, &|s: &str| f(&format!("params[{j}].{s}")), d);
        }
        check_locations(t, &f, d);
        check_body(t, &f, d);
    }
}

/// One name in two locations cannot be one property of a flat input schema.
fn check_locations(t: &ToolspecTool, f: &dyn Fn(&str) -> String, d: &mut FileDiags) {
    let mut by_name: std::collections::HashMap<&str, ParamLocation> = Default::default();
    for p in t.params.iter().filter(|p| p.is_argument()) {
        if let Some(other) = by_name.insert(p.name.as_str(), p.location)
            && other != p.location
        {
            d.error(
                f("params"),
                format!(
                    "`{}` is a param in two locations ({other:?} and {:?})",
                    p.name, p.location
                ),
                "rename one of them: the tool's arguments are one flat object",
            );
        }
    }
}

/// Bodies: none on GET/DELETE; uploads on methods with a body, with their bytes param. (An
/// `encoding` on a tool without body params says nothing and is accepted: the corpus has four.)
fn check_body(t: &ToolspecTool, f: &dyn Fn(&str) -> String, d: &mut FileDiags) {
    let body: Vec<&Param> = t
        .params
        .iter()
        .filter(|p| p.location == ParamLocation::Body)
        .collect();
    let bodyless = matches!(t.method, HttpMethod::Get | HttpMethod::Delete);
    if bodyless && !body.is_empty() {
        d.error(
            f("params"),
            format!(
                "{:?} requests carry no body, but the tool has body params",
                t.method
            ),
            "make them query params, or use POST/PUT/PATCH",
        );
    }
    let bytes = body
        .iter()
        .filter(|p| p.content_encoding == Some(ContentEncoding::Base64))
        .count();
    match t.encoding {
        Some(Encoding::Multipart | Encoding::Binary) if bodyless => d.error(
            f("encoding"),
            format!("{:?} requests carry no body to upload", t.method),
            "use POST, PUT or PATCH for uploads",
        ),
        Some(Encoding::Binary) if bytes != 1 || body.len() != 1 => d.error(
            f("encoding"),
            "a binary body is exactly one body param, with `contentEncoding: base64`",
            "keep one `{name: content, in: body, type: string, contentEncoding: base64}`",
        ),
        Some(Encoding::Json | Encoding::Form) | None if bytes > 0 => d.error(
            f("encoding"),
            "a `contentEncoding: base64` param needs a multipart or binary body",
            "set `encoding: multipart` (a file part) or `encoding: binary` (the raw body)",
        ),
        _ => {}
    }
}

fn type_matches(kind: ParamType, v: &serde_json::Value) -> bool {
    match kind {
        ParamType::String => v.is_string(),
        ParamType::Integer => v.is_i64() || v.is_u64(),
        ParamType::Number => v.is_number(),
        ParamType::Boolean => v.is_boolean(),
        ParamType::Array => v.is_array(),
        ParamType::Object => v.is_object(),
    }
}

/// The optional fields of one param agree with its type and location.
fn check_param(t: &ToolspecTool, p: &Param, f: &dyn Fn(&str) -> String, d: &mut FileDiags) {
    if p.constant.is_some() && p.from.is_some() {
        d.error(
            f("const"),
            "a param has `const` or `from`, not both",
            "keep one",
        );
    }
    for (field, v) in [("const", &p.constant), ("default", &p.default)] {
        if let Some(v) = v
            && !type_matches(p.kind, v)
        {
            d.error(
                f(field),
                format!("`{v}` is not a {:?}", p.kind),
                "give a value of the param's type",
            );
        }
    }
    if let Some(values) = &p.enum_values
        && (values.is_empty() || values.iter().any(|v| !type_matches(p.kind, v)))
    {
        d.error(
            f("enum"),
            format!("every value must be a {:?}, and there must be one", p.kind),
            "list the values the API accepts",
        );
    }
    if let Some(from) = &p.from {
        let var = from.strip_prefix(INSTALL_PREFIX).unwrap_or_default();
        if var.is_empty()
            || var.len() > 64
            || !var
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            d.error(
                f("from"),
                format!("`{from}` does not name an install setting"),
                "write `install.<name>` with lowercase letters, digits and `_`",
            );
        }
    }
    if p.allow_reserved && !matches!(p.location, ParamLocation::Path | ParamLocation::Query) {
        d.error(
            f("allowReserved"),
            "only path and query values are URL-encoded",
            "remove it",
        );
    }
    if p.style.is_some()
        && !(matches!(p.kind, ParamType::Array | ParamType::Object)
            && (p.location == ParamLocation::Query
                || p.location == ParamLocation::Body && t.encoding == Some(Encoding::Form)))
    {
        d.error(
            f("style"),
            "a style applies to array or object values in a query or a form body",
            "remove it",
        );
    }
    if p.content_encoding.is_some()
        && !(p.kind == ParamType::String && p.location == ParamLocation::Body)
    {
        d.error(
            f("contentEncoding"),
            "bytes travel in a string body param",
            "use `in: body, type: string`",
        );
    }
    if p.media_type.is_some() && p.content_encoding.is_none() {
        d.error(
            f("mediaType"),
            "a media type describes bytes (`contentEncoding: base64`)",
            "remove it or add `contentEncoding: base64`",
        );
    }
    if let Some(m) = &p.media_type
        && (!m.contains('/') || m.bytes().any(|b| b.is_ascii_control() || b == b' '))
    {
        d.error(
            f("mediaType"),
            format!("`{m}` is not a media type"),
            "write e.g. `image/png`",
        );
    }
}

fn check_path(t: &ToolspecTool, f: &dyn Fn(&str) -> String, d: &mut FileDiags) {
    let Some(rest) = t.path.strip_prefix('/') else {
        d.error(
            f("path"),
            format!("`{}` does not start with `/`", t.path),
            "write the endpoint path relative to the base URL, starting with `/`",
        );
        return;
    };
    if t.path.contains(['?', '#']) || !syntax::is_safe_url_path(rest) && !rest.is_empty() {
        d.error(
            f("path"),
            format!(
                "`{}` has a query, fragment, empty/`.`/`..` segment or unsafe characters",
                t.path
            ),
            "write a plain path; use `in: query` params for query strings",
        );
    }
    let placeholders = match placeholders(&t.path) {
        Ok(p) => p,
        Err(msg) => {
            d.error(
                f("path"),
                format!("`{}`: {msg}", t.path),
                "write placeholders as `{name}`",
            );
            return;
        }
    };
    let path_params: BTreeSet<&str> = t
        .params
        .iter()
        .filter(|p| p.location == ParamLocation::Path)
        .map(|p| p.name.as_str())
        .collect();
    for ph in placeholders.difference(&path_params) {
        d.error(
            f("path"),
            format!("placeholder `{{{ph}}}` has no `in: path` param"),
            format!("add `{{name: {ph}, in: path, type: string, required: true}}`"),
        );
    }
    for p in path_params.difference(&placeholders) {
        d.error(
            f("params"),
            format!(
                "path param `{p}` has no `{{{p}}}` placeholder in `{}`",
                t.path
            ),
            "add the placeholder to the path or change the param's `in`",
        );
    }
    for (j, p) in t.params.iter().enumerate() {
        if p.location == ParamLocation::Path && !p.required {
            d.error(
                f(&format!("params[{j}].required")),
                format!(
                    "path param `{}` must be required: the URL cannot be built without it",
                    p.name
                ),
                "set `required: true`",
            );
        }
    }
}

/// `{name}` placeholders of a path; errors on unbalanced or empty braces.
fn placeholders(path: &str) -> Result<BTreeSet<&str>, &'static str> {
    let mut out = BTreeSet::new();
    let mut rest = path;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("`}` without `{`");
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("`{` without `}`")?;
        let name = &after[..close];
        if name.is_empty() || name.contains('{') {
            return Err("empty or nested placeholder");
        }
        out.insert(name);
        rest = &after[close + 1..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_hosts() {
        assert_eq!(
            base_url_host("https://API.example.com").unwrap(),
            "api.example.com"
        );
        assert_eq!(
            base_url_host("https://api.example.com/v1").unwrap(),
            "api.example.com"
        );
        assert!(base_url_host("http://api.example.com").is_err());
        assert!(base_url_host("https://u:p@api.example.com").is_err());
        assert!(base_url_host("https://api.example.com:8443").is_err());
        assert!(base_url_host("https://api.example.com/v1?x=1").is_err());
        assert!(base_url_host("https://api.example.com/../x").is_err());
        assert!(base_url_host("https://10.0.0.1").is_err());
    }

    #[test]
    fn placeholder_parsing() {
        assert_eq!(
            placeholders("/a/{b}/c/{d}")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["b", "d"]
        );
        assert!(placeholders("/a/{b").is_err());
        assert!(placeholders("/a/b}").is_err());
        assert!(placeholders("/a/{}").is_err());
        assert!(placeholders("/a/{{b}}").is_err());
    }
}
