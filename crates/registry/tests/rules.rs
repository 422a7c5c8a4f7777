//! Every lint rule with a failing and a passing example. The passing examples are the two base
//! documents (sealed and entrusted) and the variants in `*_variants_pass`; each failing case
//! mutates one thing and expects an error (or warning) on the named field.

use gigmcp_registry::{
    Denylist, Diagnostic, Manifest, Scope, Severity, SourceFile, lint_manifest, lint_registry,
    lint_toolspec,
};

const PATH: &str = "manifests/demo/1.2.3.yaml";
const SPEC_PATH: &str = "manifests/demo/1.2.3.toolspec.yaml";

const SEALED: &str = r#"schemaVersion: 1
name: demo
version: 1.2.3
source:
  repo: github.com/gigmcp/toolpack
  tag: v0.1.0
image:
  ref: ghcr.io/gigmcp/demo-mcp
  digest: sha256:84686ed00e0498e40c2071a7fdbe668c99815fffd05802e3b34b5962b4ca0873
  entrypoint: /app/server
  builder: toolpack
tier: sealed
displayName: Demo
category: dev-tools
entitlements:
  egress:
    - api.demo.example
    - "*.tenants.demo.example"
credentials:
  - id: demo_key
    type: api_key
    provider: demo
    inject:
      header: Authorization
      format: "Bearer {token}"
tools:
  - name: list_items
    default: true
  - name: delete_item
    default: false
"#;

const SEALED_SPEC: &str = r#"schemaVersion: 1
name: demo
version: 1.2.3
baseUrl: https://api.demo.example
tools:
  - name: list_items
    description: List items
    method: GET
    path: /items
    params:
      - {name: limit, in: query, type: integer, description: Max items}
  - name: delete_item
    description: Delete one item
    method: DELETE
    path: /items/{id}
    baseUrl: https://acme.tenants.demo.example
    params:
      - {name: id, in: path, type: string, required: true, description: Item id}
"#;

fn entrusted() -> String {
    SEALED.replace("tier: sealed", "tier: entrusted").replace(
        "      header: Authorization\n      format: \"Bearer {token}\"",
        "      env: DEMO_API_KEY",
    )
}

fn entrusted_spec() -> String {
    SEALED_SPEC.replace(
        "baseUrl: https://api.demo.example\n",
        "baseUrl: https://api.demo.example\nauth:\n  header: X-Api-Key\n  format: \"{token}\"\n",
    )
}

fn denylist() -> Denylist {
    Denylist::parse_with_builtin("pastebin.com\nevil.co.uk\n").unwrap()
}

fn lint_m(yaml: &str) -> Vec<Diagnostic> {
    lint_manifest(PATH, yaml.as_bytes(), &denylist()).1
}

fn lint_t(manifest: &str, spec: &str) -> Vec<Diagnostic> {
    let m = Manifest::from_yaml(manifest.as_bytes()).unwrap();
    lint_toolspec(SPEC_PATH, spec.as_bytes(), Some(&m)).1
}

fn errors(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect()
}

#[track_caller]
fn expect(diags: &[Diagnostic], severity: Severity, field: &str, needle: &str) {
    assert!(
        diags
            .iter()
            .any(|d| d.severity == severity && d.field == field && d.message.contains(needle)),
        "expected {severity:?} on `{field}` containing `{needle}`, got:\n{}",
        diags
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every finding names the file and a fix.
    for d in diags {
        assert!(!d.file.is_empty() && !d.fix.is_empty(), "{d:?}");
    }
}

#[test]
fn base_documents_pass() {
    assert_eq!(errors(&lint_m(SEALED)), Vec::<String>::new());
    assert_eq!(errors(&lint_m(&entrusted())), Vec::<String>::new());
    assert!(lint_m(SEALED).is_empty(), "no warnings either");
    assert_eq!(errors(&lint_t(SEALED, SEALED_SPEC)), Vec::<String>::new());
    assert_eq!(
        errors(&lint_t(&entrusted(), &entrusted_spec())),
        Vec::<String>::new()
    );
}

#[test]
fn manifest_variants_pass() {
    let variants = [
        // No credentials (public API), sealed.
        SEALED.replace(
            "credentials:\n  - id: demo_key\n    type: api_key\n    provider: demo\n    inject:\n      header: Authorization\n      format: \"Bearer {token}\"\n",
            "",
        ),
        // No egress at all.
        SEALED.replace(
            "  egress:\n    - api.demo.example\n    - \"*.tenants.demo.example\"",
            "  egress: []",
        ),
        SEALED.replace("format: \"Bearer {token}\"", "format: \"{token}\""),
        SEALED.replace("tag: v0.1.0", "tag: v0.1.0\n  package: cmd/server"),
        SEALED.replace("ghcr.io/gigmcp/demo-mcp", "127.0.0.1:5000/gigmcp/demo"),
        SEALED.replace("category: dev-tools", "category: dev-tools\ndescription: A demo"),
        SEALED.replace("id: demo_key", "id: demo-key_2"),
        SEALED.replace(
            "    provider: demo\n",
            "    provider: demo\n    vendor: google\n    scopes: [a, b]\n",
        ),
        entrusted().replace("type: api_key", "type: custom_env"),
        // Prerelease semver with matching path is fine for lint_manifest's version rule.
        SEALED.replace("name: list_items", "name: list.items-v2"),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_eq!(errors(&lint_m(v)), Vec::<String>::new(), "variant {i}");
    }
}

#[test]
fn manifest_rules_fail() {
    use Severity::{Error as E, Warning as W};
    let cases: Vec<(String, Severity, &str, &str)> = vec![
        (SEALED.replace("category: dev-tools", "category: dev-tools\nextra: 1"), E, "-", "unknown field"),
        (SEALED.replace("tier: sealed", "tier: open"), E, "-", "unknown variant"),
        (SEALED.replace("schemaVersion: 1", "schemaVersion: 2"), E, "schemaVersion", "not supported"),
        (SEALED.replace("name: demo", "name: Demo"), E, "name", "not a valid server name"),
        (SEALED.replace("name: demo", "name: other"), E, "name", "does not match the directory"),
        (SEALED.replace("version: 1.2.3", "version: \"1.2\""), E, "version", "not a semantic version"),
        (SEALED.replace("version: 1.2.3", "version: 1.2.4"), E, "version", "does not match the file name"),
        (SEALED.replace("github.com/gigmcp/toolpack", "https://github.com/gigmcp/toolpack"), E, "source.repo", "not a repository path"),
        (SEALED.replace("tag: v0.1.0", "tag: \"v0 1\""), E, "source.tag", "not a git tag"),
        (SEALED.replace("tag: v0.1.0", "tag: v0.1.0\n  package: ../../etc"), E, "source.package", "not a relative package path"),
        (SEALED.replace("ghcr.io/gigmcp/demo-mcp", "ghcr.io/gigmcp/demo-mcp:latest"), E, "image.ref", "not an image repository reference"),
        (SEALED.replace("sha256:84686ed0", "sha512:84686ed0"), E, "image.digest", "sha256:"),
        (SEALED.replace("sha256:84686ed0", "sha256:84686ED0"), E, "image.digest", "64 lowercase hex"),
        (SEALED.replace("84686ed00e0498e40c2071a7fdbe668c99815fffd05802e3b34b5962b4ca0873", &"0".repeat(64)), W, "image.digest", "not installable"),
        (SEALED.replace("/app/server", "app/server"), E, "image.entrypoint", "absolute path"),
        (SEALED.replace("/app/server", "/app/../bin/sh"), E, "image.entrypoint", "absolute path"),
        (SEALED.replace("displayName: Demo", "displayName: \" \""), E, "displayName", "empty"),
        (SEALED.replace("- api.demo.example", "- \"*\""), E, "entitlements.egress[0]", "every host"),
        (SEALED.replace("- api.demo.example", "- \"*.example\""), E, "entitlements.egress[0]", "at least two labels"),
        (SEALED.replace("- api.demo.example", "- 169.254.169.254"), E, "entitlements.egress[0]", "IP literal"),
        (SEALED.replace("- api.demo.example", "- \"[::1]\""), E, "entitlements.egress[0]", "IP literal"),
        (SEALED.replace("- api.demo.example", "- intranet"), E, "entitlements.egress[0]", "single-label"),
        (SEALED.replace("- api.demo.example", "- \"https://api.demo.example\""), E, "entitlements.egress[0]", "without scheme"),
        (SEALED.replace("- api.demo.example", "- pastebin.com"), E, "entitlements.egress[0]", "denylisted domain `pastebin.com`"),
        (SEALED.replace("- api.demo.example", "- dl.pastebin.com"), E, "entitlements.egress[0]", "denylisted domain `pastebin.com`"),
        (SEALED.replace("- api.demo.example", "- \"*.pastebin.com\""), E, "entitlements.egress[0]", "denylisted"),
        (SEALED.replace("- api.demo.example", "- \"*.co.uk\""), E, "entitlements.egress[0]", "denylisted domain `evil.co.uk`"),
        (SEALED.replace("- api.demo.example", "- metadata.google.internal"), E, "entitlements.egress[0]", "denylisted"),
        (SEALED.replace("- api.demo.example", "- api.demo.example\n    - API.demo.example."), W, "entitlements.egress[1]", "listed twice"),
        (SEALED.replace("tier: sealed", "tier: entrusted").replace(
            "credentials:\n  - id: demo_key\n    type: api_key\n    provider: demo\n    inject:\n      header: Authorization\n      format: \"Bearer {token}\"\n", ""),
            E, "tier", "without credentials"),
        (SEALED.replace("id: demo_key", "id: Demo Key"), E, "credentials[0].id", "not a valid credential id"),
        (SEALED.replace("provider: demo", "provider: \"\""), E, "credentials[0].provider", "empty"),
        (SEALED.replace("type: api_key", "type: custom_env"), E, "credentials[0].type", "custom_env"),
        (SEALED.replace("type: api_key", "type: password"), E, "-", "unknown variant"),
        (SEALED.replace("      format: \"Bearer {token}\"", "      format: \"Bearer {token}\"\n      env: DEMO"), E, "credentials[0].inject.env", "never sees secrets"),
        (SEALED.replace("      header: Authorization\n", ""), E, "credentials[0].inject.header", "sealed tier needs"),
        (SEALED.replace("header: Authorization", "header: \"X Key\""), E, "credentials[0].inject.header", "not an HTTP header name"),
        (SEALED.replace("header: Authorization", "header: Host"), E, "credentials[0].inject.header", "owned by the proxy"),
        (SEALED.replace("      format: \"Bearer {token}\"\n", ""), E, "credentials[0].inject.format", "sealed tier needs"),
        (SEALED.replace("\"Bearer {token}\"", "\"Bearer\""), E, "credentials[0].inject.format", "exactly once"),
        (SEALED.replace("\"Bearer {token}\"", "\"Bearer {token}\\r\\nX-Evil: 1\""), E, "credentials[0].inject.format", "control characters"),
        (entrusted().replace("      env: DEMO_API_KEY", "      env: DEMO_API_KEY\n      header: X-Key"), E, "credentials[0].inject.header", "header injection is for sealed"),
        (entrusted().replace("      env: DEMO_API_KEY", "      env: DEMO_API_KEY\n      format: \"{token}\""), E, "credentials[0].inject.format", "header injection is for sealed"),
        (entrusted().replace("    inject:\n      env: DEMO_API_KEY\n", "    inject: {}\n"), E, "credentials[0].inject.env", "entrusted tier needs"),
        (entrusted().replace("env: DEMO_API_KEY", "env: demo-key"), E, "credentials[0].inject.env", "not an environment variable name"),
        (entrusted().replace("env: DEMO_API_KEY", "env: LD_PRELOAD"), E, "credentials[0].inject.env", "changes how the process runs"),
        (entrusted().replace("env: DEMO_API_KEY", "env: HTTPS_PROXY"), E, "credentials[0].inject.env", "changes how the process runs"),
        (SEALED.replace("  - name: delete_item\n    default: false\n", "").replace("  - name: list_items\n    default: true\n", "") + "[]", E, "-", "does not parse"),
        (SEALED.replace("name: delete_item", "name: list_items"), E, "tools[1].name", "listed twice"),
        (SEALED.replace("name: delete_item", "name: \"delete item\""), E, "tools[1].name", "not a valid MCP tool name"),
        (SEALED.replace("default: true", "default: false"), E, "tools", "no tool has `default: true`"),
        (SEALED.replace("default: true", "default: yes"), E, "-", "does not parse"),
    ];
    for (yaml, severity, field, needle) in &cases {
        expect(&lint_m(yaml), *severity, field, needle);
    }
    // Empty tool list.
    let no_tools = SEALED.split("tools:").next().unwrap().to_owned() + "tools: []\n";
    expect(&lint_m(&no_tools), E, "tools", "no tools listed");
}

#[test]
fn every_problem_of_a_file_is_listed() {
    let yaml = SEALED
        .replace("name: demo", "name: Other")
        .replace("- api.demo.example", "- \"*\"")
        .replace("header: Authorization", "header: Host")
        .replace("default: true", "default: false");
    let errs = errors(&lint_m(&yaml));
    assert!(errs.len() >= 5, "{errs:#?}");
}

#[test]
fn manifest_path_rules() {
    let d = lint_manifest(
        "manifests/../demo/1.2.3.yaml",
        SEALED.as_bytes(),
        &denylist(),
    )
    .1;
    expect(&d, Severity::Error, "-", "`..`");
    let d = lint_manifest(
        "manifests/demo/1.2.3.toolspec.yaml",
        SEALED.as_bytes(),
        &denylist(),
    )
    .1;
    expect(&d, Severity::Error, "-", "toolspec, not a manifest");
}

#[test]
fn toolspec_variants_pass() {
    let variants = [
        SEALED_SPEC.replace("https://api.demo.example", "https://API.demo.example/v1"),
        SEALED_SPEC.replace("method: GET", "method: POST\n    encoding: form"),
        SEALED_SPEC.replace("path: /items\n", "path: /items/\n"),
        SEALED_SPEC.replace(
            "      - {name: limit, in: query, type: integer, description: Max items}",
            "      - {name: X-Trace, in: header, type: string}\n      - {name: on, in: query, type: string}",
        ),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_eq!(
            errors(&lint_t(SEALED, v)),
            Vec::<String>::new(),
            "variant {i}"
        );
    }
}

#[test]
fn toolspec_rules_fail() {
    use Severity::Error as E;
    let s = SEALED_SPEC;
    let cases: Vec<(String, String, &str, &str)> = vec![
        (SEALED.into(), s.replace("    path: /items\n", "    path: /items\n    timeout: 3\n"), "-", "unknown field"),
        (SEALED.into(), s.replace("schemaVersion: 1", "schemaVersion: 3"), "schemaVersion", "not supported"),
        (SEALED.into(), s.replace("name: demo", "name: other"), "name", "does not match the path"),
        (SEALED.into(), s.replace("version: 1.2.3", "version: 1.2.4"), "version", "does not match the path"),
        (SEALED.replace("  builder: toolpack\n", ""), s.into(), "-", "not built by toolpack"),
        (SEALED.replace("name: delete_item", "name: remove_item"), s.into(), "tools", "`remove_item` has no toolspec entry"),
        (SEALED.replace("name: delete_item", "name: remove_item"), s.into(), "tools", "`delete_item` is not in the manifest"),
        (entrusted(), s.into(), "auth", "needs `auth`"),
        (SEALED.into(), entrusted_spec(), "auth", "the manifest is sealed"),
        (entrusted(), entrusted_spec().replace("format: \"{token}\"", "format: \"key\""), "auth.format", "{token}"),
        (entrusted(), entrusted_spec().replace("header: X-Api-Key", "header: Content-Length"), "auth.header", "not a usable"),
        (SEALED.into(), s.replace("https://api.demo.example", "http://api.demo.example"), "baseUrl", "only https://"),
        (SEALED.into(), s.replace("https://api.demo.example", "https://api.demo.example:8443"), "baseUrl", "port"),
        (SEALED.into(), s.replace("https://api.demo.example", "https://user@api.demo.example"), "baseUrl", "credentials"),
        (SEALED.into(), s.replace("https://api.demo.example", "https://api.demo.example/a/../b"), "baseUrl", "`..`"),
        (SEALED.into(), s.replace("https://api.demo.example", "https://other.example"), "baseUrl", "not allowed by the manifest's `entitlements.egress`"),
        (SEALED.into(), s.replace("https://acme.tenants.demo.example", "https://tenants.demo.example"), "tools[1].baseUrl", "not allowed"),
        (SEALED.into(), s.replace("https://acme.tenants.demo.example", "https://127.0.0.1"), "tools[1].baseUrl", "not a DNS name"),
        (SEALED.into(), s.replace("name: delete_item", "name: list_items"), "tools[1].name", "defined twice"),
        (SEALED.into(), s.replace("description: List items", "description: \"\""), "tools[0].description", "empty"),
        (SEALED.into(), s.replace("path: /items\n", "path: items\n"), "tools[0].path", "does not start with `/`"),
        (SEALED.into(), s.replace("path: /items\n", "path: /items/../admin\n"), "tools[0].path", "`..` segment"),
        (SEALED.into(), s.replace("path: /items\n", "path: /items?all=1\n"), "tools[0].path", "query"),
        (SEALED.into(), s.replace("path: /items\n", "path: /items/{x}\n"), "tools[0].path", "placeholder `{x}` has no `in: path` param"),
        (SEALED.into(), s.replace("path: /items/{id}", "path: /items/{id"), "tools[1].path", "without `}`"),
        (SEALED.into(), s.replace("path: /items/{id}", "path: /items"), "tools[1].params", "path param `id` has no `{id}` placeholder"),
        (SEALED.into(), s.replace("in: path, type: string, required: true", "in: path, type: string"), "tools[1].params[0].required", "must be required"),
        (SEALED.into(), s.replace("      - {name: limit, in: query, type: integer, description: Max items}", "      - {name: limit, in: query, type: integer}\n      - {name: limit, in: query, type: string}"), "tools[0].params[1].name", "defined twice"),
        (SEALED.into(), s.replace("      - {name: limit, in: query, type: integer, description: Max items}", "      - {name: Host, in: header, type: string}"), "tools[0].params[0].name", "not a usable HTTP header name"),
        (SEALED.into(), s.replace("in: query, type: integer", "in: cookie, type: integer"), "-", "unknown variant"),
        (SEALED.into(), s.replace("method: GET", "method: TRACE"), "-", "unknown variant"),
    ];
    for (manifest, spec, field, needle) in &cases {
        expect(&lint_t(manifest, spec), E, field, needle);
    }
    // Path and pairing.
    let m = Manifest::from_yaml(SEALED.as_bytes()).unwrap();
    expect(
        &lint_toolspec(PATH, SEALED_SPEC.as_bytes(), Some(&m)).1,
        E,
        "-",
        "manifest, not a toolspec",
    );
    expect(
        &lint_toolspec(SPEC_PATH, SEALED_SPEC.as_bytes(), None).1,
        E,
        "-",
        "no valid manifest pairs",
    );
}

/// A POST tool with `extra` params (YAML flow maps, one per line) and `head` tool fields.
fn post_tool(head: &str, extra: &[&str]) -> String {
    let params: String = extra.iter().map(|p| format!("      - {p}\n")).collect();
    SEALED_SPEC.replace(
        "    method: GET\n    path: /items\n    params:\n      - {name: limit, in: query, type: integer, description: Max items}\n",
        &format!("    method: POST\n    path: /items\n{head}    params:\n{params}"),
    )
}

#[test]
fn toolspec_extensions_pass() {
    let variants = [
        // constants and install values are filled in, enumerations and defaults listed
        post_tool(
            "",
            &[
                "{name: Prefer, in: header, type: string, const: transient}",
                "{name: account, in: header, type: string, from: install.account_id}",
                "{name: order, in: query, type: string, enum: [asc, desc], default: asc}",
                "{name: ids, in: query, type: array, style: comma}",
                "{name: filter, in: query, type: object, style: json}",
                "{name: page, in: query, type: string, allowReserved: true}",
            ],
        ),
        post_tool(
            "    encoding: multipart\n",
            &[
                "{name: file, in: body, type: string, contentEncoding: base64, mediaType: image/png}",
                "{name: title, in: body, type: string}",
            ],
        ),
        post_tool(
            "    encoding: binary\n",
            &["{name: content, in: body, type: string, contentEncoding: base64, required: true}"],
        ),
        post_tool(
            "    encoding: form\n",
            &["{name: tags, in: body, type: array, style: brackets}"],
        ),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_eq!(
            errors(&lint_t(SEALED, v)),
            Vec::<String>::new(),
            "variant {i}:\n{v}"
        );
    }
    let query_key = entrusted_spec().replace(
        "format: \"{token}\"",
        "format: \"{token}\"\n  query: api_key",
    );
    assert_eq!(
        errors(&lint_t(&entrusted(), &query_key)),
        Vec::<String>::new()
    );
}

#[test]
fn toolspec_extension_rules_fail() {
    use Severity::Error as E;
    let f = "tools[0]";
    let cases: Vec<(String, String, &str)> = vec![
        (
            post_tool("", &["{name: a, in: query, type: integer, const: seven}"]),
            format!("{f}.params[0].const"),
            "not a Integer",
        ),
        (
            post_tool(
                "",
                &["{name: a, in: query, type: string, const: x, from: install.a}"],
            ),
            format!("{f}.params[0].const"),
            "not both",
        ),
        (
            post_tool("", &["{name: a, in: query, type: string, from: account}"]),
            format!("{f}.params[0].from"),
            "install setting",
        ),
        (
            post_tool("", &["{name: a, in: query, type: string, enum: []}"]),
            format!("{f}.params[0].enum"),
            "must be a String",
        ),
        (
            post_tool("", &["{name: a, in: query, type: integer, enum: [1, two]}"]),
            format!("{f}.params[0].enum"),
            "must be a Integer",
        ),
        (
            post_tool(
                "",
                &["{name: a, in: body, type: string, allowReserved: true}"],
            ),
            format!("{f}.params[0].allowReserved"),
            "path and query",
        ),
        (
            post_tool("", &["{name: a, in: query, type: string, style: comma}"]),
            format!("{f}.params[0].style"),
            "array or object",
        ),
        (
            post_tool(
                "",
                &["{name: a, in: query, type: string, contentEncoding: base64}"],
            ),
            format!("{f}.params[0].contentEncoding"),
            "string body param",
        ),
        (
            post_tool(
                "",
                &["{name: a, in: body, type: string, mediaType: image/png}"],
            ),
            format!("{f}.params[0].mediaType"),
            "describes bytes",
        ),
        (
            post_tool(
                "",
                &["{name: a, in: body, type: string, contentEncoding: base64}"],
            ),
            format!("{f}.encoding"),
            "multipart or binary",
        ),
        (
            post_tool(
                "    encoding: binary\n",
                &["{name: a, in: body, type: string}"],
            ),
            format!("{f}.encoding"),
            "exactly one body param",
        ),
        (
            post_tool(
                "",
                &[
                    "{name: a, in: query, type: string}",
                    "{name: a, in: body, type: string}",
                ],
            ),
            format!("{f}.params"),
            "two locations",
        ),
        (
            SEALED_SPEC.replace(
                "      - {name: limit, in: query, type: integer, description: Max items}",
                "      - {name: limit, in: body, type: integer}",
            ),
            format!("{f}.params"),
            "carry no body",
        ),
    ];
    for (spec, field, needle) in &cases {
        expect(&lint_t(SEALED, spec), E, field, needle);
    }
    let bad_query = entrusted_spec().replace(
        "format: \"{token}\"",
        "format: \"{token}\"\n  query: \"a b\"",
    );
    expect(
        &lint_t(&entrusted(), &bad_query),
        E,
        "auth.query",
        "plain query parameter",
    );
}

#[test]
fn registry_level_rules() {
    let file = |path: &str, body: &str| SourceFile {
        path: path.into(),
        bytes: body.as_bytes().to_vec(),
    };
    // Toolpack manifest without its toolspec.
    let linted = lint_registry(&[file(PATH, SEALED)], &denylist(), Scope::All);
    expect(
        &linted.report.diagnostics,
        Severity::Error,
        "image.builder",
        "is missing",
    );
    // Stray file.
    let linted = lint_registry(
        &[
            file(PATH, SEALED),
            file(SPEC_PATH, SEALED_SPEC),
            file("manifests/demo/notes.txt", "x"),
        ],
        &denylist(),
        Scope::All,
    );
    expect(
        &linted.report.diagnostics,
        Severity::Error,
        "-",
        "is not `manifests/<name>/<version>.yaml`",
    );
    assert_eq!(linted.report.errors().count(), 1);
    // Scope selects which findings are kept.
    let broken = SEALED.replace("- api.demo.example", "- \"*\"");
    let only_toolspecs = lint_registry(
        &[file(PATH, &broken), file(SPEC_PATH, SEALED_SPEC)],
        &denylist(),
        Scope::Toolspecs,
    );
    assert!(
        !only_toolspecs.report.has_errors(),
        "{:#?}",
        only_toolspecs.report
    );
    let only_manifests = lint_registry(
        &[file(PATH, &broken), file(SPEC_PATH, SEALED_SPEC)],
        &denylist(),
        Scope::Manifests,
    );
    assert!(only_manifests.report.has_errors());
}
