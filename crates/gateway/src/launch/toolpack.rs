//! Toolpack servers: the toolpack engine (`gigmcp-toolpack`) serving a registry toolspec's tools
//! as HTTPS requests, under its manifest.
//!
//! - **Built-in** ([`ServerSource::Toolpack`]): the gateway's own engine binary is bound
//!   read-only as the sandbox's program; the stored manifest and toolspec are written into the
//!   sandbox read-only at [`MANIFEST_PATH`] and [`TOOLSPEC_PATH`] (JSON text, which YAML
//!   parsers read as YAML), named by `GIG_TOOLPACK_MANIFEST` / `GIG_TOOLPACK_SPEC`.
//! - **Image** (`builder: toolpack` on an image server): the image's `/app/server` with its own
//!   `/app/manifest.yaml` and `/app/toolspec.yaml` (the engine's defaults).
//!
//! Either way the sandbox also gets the owner's install settings: host overrides as
//! `GIG_TOOLPACK_HOSTS=from=to,...` and install variables as `GIG_TOOLPACK_VAR_<NAME>`, each
//! checked again here against the manifest and toolspec (they were checked when saved, but the
//! server may have been reinstalled since), and `GIG_TOOLPACK_TIMEOUT`, the gateway's call
//! timeout minus 5 s (at least 1 s), so the engine gives up before the client does.
//!
//! A host override replaces a base host that only a wildcard egress entry covers (the corpus
//! writes `https://yoursubdomain.zendesk.com` for a `*.zendesk.com` tenant). Its target must be
//! allowed by a wildcard entry that also covers the host it replaces, and it joins the sealed
//! credentials' scope: the override is the one wildcard-covered host the owner's key goes to.

use super::plan::{LaunchError, Program, set_env};
use gigmcp_registry::{Builder, Denylist, EgressPattern, Manifest, Toolspec};
use gigmcp_sandbox::{ProgramSource, SandboxFile};
use gigmcp_store::{Profile, Server, SettingKey, Store};
use std::path::PathBuf;
use std::time::Duration;

/// Where a built-in toolpack sandbox finds its manifest.
pub const MANIFEST_PATH: &str = "/etc/gigmcp/manifest.yaml";
/// Where a built-in toolpack sandbox finds its toolspec.
pub const TOOLSPEC_PATH: &str = "/etc/gigmcp/toolspec.yaml";
/// Largest manifest or toolspec a built-in toolpack server takes: what the sandbox runtime
/// copies into a sandbox as one file. A larger toolspec is served from an image
/// (`registryctl pack --toolpack`).
pub const MAX_FILE_BYTES: usize = 60 * 1024;
/// Longest value of an install variable.
pub const MAX_VAR_BYTES: usize = 1024;

/// The engine built-in toolpack servers run, and what every toolpack sandbox is told.
#[derive(Clone, Debug)]
pub struct ToolpackEngine {
    /// The static `gigmcp-toolpack` binary.
    pub path: PathBuf,
    /// The gateway's call timeout.
    pub call_timeout: Duration,
}

impl ToolpackEngine {
    /// `GIG_TOOLPACK_TIMEOUT`: the call timeout minus 5 s, at least 1 s.
    pub fn timeout_secs(&self) -> u64 {
        self.call_timeout.as_secs().saturating_sub(5).max(1)
    }
}

/// Whether `manifest` is served by the toolpack engine.
pub fn is_toolpack(manifest: &Manifest) -> bool {
    manifest.image.builder == Some(Builder::Toolpack)
}

/// Why an install setting is refused; each message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error(
        "server {server} is not a toolpack server (its manifest has no `image.builder: toolpack`); install settings are for toolpack servers only"
    )]
    NotToolpack { server: String },
    #[error("`{0}` is not HOST=VALUE: write it as `yoursubdomain.zendesk.com=acme.zendesk.com`")]
    NotAssignment(String),
    #[error("`{host}` is not a hostname ({reason}); give a bare DNS name such as acme.zendesk.com")]
    BadHost { host: String, reason: String },
    #[error("`{from}` is not a base host of {server}'s toolspec that only a wildcard egress entry covers; {}", hosts_hint(.candidates))]
    NotOverridable {
        server: String,
        from: String,
        candidates: Vec<String>,
    },
    #[error(
        "`{to}` is not allowed by {server}'s egress policy ({egress}); give a host under the wildcard that covers `{from}`"
    )]
    NotAllowed {
        server: String,
        from: String,
        to: String,
        egress: String,
    },
    #[error("`{var}` is not an install variable of {server}'s toolspec (a param `from: install.<var>`); {}", vars_hint(.known))]
    UnknownVar {
        server: String,
        var: String,
        known: Vec<String>,
    },
    #[error(
        "the value of `{var}` is {problem}; give at most {MAX_VAR_BYTES} bytes of text without control characters"
    )]
    BadValue { var: String, problem: String },
    #[error(
        "server {server} has no stored toolspec; reinstall it with `gigmcp server add {server} --toolpack --manifest M.yaml --toolspec T.yaml` (or `add-image` with --manifest)"
    )]
    NoToolspec { server: String },
    #[error("the stored toolspec of {server} is unreadable ({reason}); reinstall the server")]
    BadToolspec { server: String, reason: String },
}

fn hosts_hint(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "it has none, so it needs no host override".into()
    } else {
        format!("the hosts it can override: {}", candidates.join(", "))
    }
}

fn vars_hint(known: &[String]) -> String {
    if known.is_empty() {
        "it has none".into()
    } else {
        format!("its variables: {}", known.join(", "))
    }
}

pub use gigmcp_registry::settings::{install_vars, wildcard_only_hosts};

/// Splits `FROM=TO` (or `VAR=VALUE`).
pub fn split_assignment(text: &str) -> Result<(&str, &str), SettingError> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| SettingError::NotAssignment(text.to_owned()))
}

fn hostname(host: &str) -> Result<String, SettingError> {
    let bad = |reason: String| SettingError::BadHost {
        host: host.to_owned(),
        reason,
    };
    match EgressPattern::parse(host) {
        Ok(EgressPattern::Exact(h)) => Ok(h),
        Ok(EgressPattern::Wildcard(_)) => Err(bad("a wildcard".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Checks a host override of `server` and returns it normalised (`from`, `to`): `from` must be a
/// base host of the toolspec that only a wildcard egress entry covers, `to` an exact hostname
/// allowed by a wildcard entry that also covers `from` (`from` itself is allowed: it scopes the
/// credential to a fixed host under a wildcard).
pub fn check_host_override(
    server: &str,
    manifest: &Manifest,
    toolspec: &Toolspec,
    from: &str,
    to: &str,
) -> Result<(String, String), SettingError> {
    let from = hostname(from)?;
    let to = hostname(to)?;
    let candidates = wildcard_only_hosts(manifest, toolspec);
    if !candidates.contains(&from) {
        return Err(SettingError::NotOverridable {
            server: server.to_owned(),
            from,
            candidates,
        });
    }
    if let Some(domain) = Denylist::builtin().denies_host(&to) {
        return Err(SettingError::BadHost {
            host: to.clone(),
            reason: format!("under {domain}, which the exfiltration denylist refuses"),
        });
    }
    let patterns = manifest.egress_patterns().unwrap_or_default();
    let covered = patterns
        .iter()
        .any(|p| p.is_wildcard() && p.allows(&from) && p.allows(&to));
    if !covered {
        return Err(SettingError::NotAllowed {
            server: server.to_owned(),
            from,
            to,
            egress: manifest.entitlements.egress.join(", "),
        });
    }
    Ok((from, to))
}

/// Checks an install variable of `server` and returns its name lowercase.
pub fn check_install_var(
    server: &str,
    toolspec: &Toolspec,
    var: &str,
    value: &str,
) -> Result<String, SettingError> {
    let known = install_vars(toolspec);
    let var = var.to_ascii_lowercase();
    if !known.contains(&var) {
        return Err(SettingError::UnknownVar {
            server: server.to_owned(),
            var,
            known,
        });
    }
    let problem = if value.len() > MAX_VAR_BYTES {
        Some(format!("{} bytes long", value.len()))
    } else if value.chars().any(char::is_control) {
        Some("holding control characters".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(SettingError::BadValue { var, problem }),
        None => Ok(var),
    }
}

/// The toolspec stored for `server`.
pub fn stored_toolspec(server: &Server) -> Result<Toolspec, SettingError> {
    let text = server
        .toolspec
        .as_deref()
        .ok_or_else(|| SettingError::NoToolspec {
            server: server.name.clone(),
        })?;
    serde_json::from_str(text).map_err(|e| SettingError::BadToolspec {
        server: server.name.clone(),
        reason: e.to_string(),
    })
}

/// `GIG_TOOLPACK_VAR_<NAME>` for install variable `name`.
fn var_env(name: &str) -> String {
    format!("GIG_TOOLPACK_VAR_{}", name.to_ascii_uppercase())
}

/// A built-in toolpack server's program (the engine), environment and files.
pub(super) fn builtin(
    engine: &ToolpackEngine,
    server: &Server,
    manifest: Option<&Manifest>,
) -> Result<Program, LaunchError> {
    let manifest = manifest.filter(|m| is_toolpack(m)).ok_or_else(|| {
        LaunchError::Manifest(
            "a built-in toolpack server needs a manifest with `image.builder: toolpack`".into(),
        )
    })?;
    let toolspec = stored_toolspec(server).map_err(|e| LaunchError::Manifest(e.to_string()))?;
    if !engine.path.is_file() {
        return Err(LaunchError::Other(format!(
            "the toolpack engine {} is missing: install the static gigmcp-toolpack beside gigmcp, or point --toolpack / GIG_TOOLPACK at it",
            engine.path.display()
        )));
    }
    let to_json = |what: &str, text: Result<String, serde_json::Error>| {
        let text = text.map_err(|e| LaunchError::Manifest(format!("{what}: {e}")))?;
        if text.len() > MAX_FILE_BYTES {
            return Err(LaunchError::Manifest(format!(
                "its {what} is {} bytes, more than the {MAX_FILE_BYTES} a built-in toolpack server takes; pack it as an image with `registryctl pack --toolpack`",
                text.len()
            )));
        }
        Ok(text)
    };
    let files = vec![
        SandboxFile::new(
            MANIFEST_PATH,
            to_json("manifest", serde_json::to_string(manifest))?,
        ),
        SandboxFile::new(
            TOOLSPEC_PATH,
            to_json("toolspec", serde_json::to_string(&toolspec))?,
        ),
    ];
    let env = vec![
        ("GIG_TOOLPACK_MANIFEST".to_owned(), MANIFEST_PATH.to_owned()),
        ("GIG_TOOLPACK_SPEC".to_owned(), TOOLSPEC_PATH.to_owned()),
    ];
    Ok((ProgramSource::StaticBinary(engine.path.clone()), env, files))
}

/// Puts the owner's install settings into a toolpack sandbox's environment;
/// returns the host-override targets (the hosts the sealed credentials are scoped to besides
/// the manifest's exact ones).
pub(super) async fn install_env(
    store: &Store,
    profile: &Profile,
    server: &Server,
    manifest: &Manifest,
    env: &mut Vec<(String, String)>,
) -> Result<Vec<String>, LaunchError> {
    let settings = store
        .install_settings(server.id, profile.owner)
        .await
        .map_err(|e| LaunchError::Other(e.to_string()))?;
    if settings.is_empty() {
        return Ok(Vec::new());
    }
    let toolspec = stored_toolspec(server).map_err(|e| LaunchError::Manifest(e.to_string()))?;
    let (slug, name) = (&profile.slug, &server.name);
    let refused = |key: &SettingKey, e: SettingError| {
        let fix = match key {
            SettingKey::Host(from) => format!(
                "`gigmcp server set-host {name} {from}=<host> --profile {slug}` (or `{from} --unset`)"
            ),
            SettingKey::Var(var) => format!(
                "`gigmcp server set-var {name} {var}=<value> --profile {slug}` (or `{var} --unset`)"
            ),
        };
        LaunchError::Other(format!(
            "an install setting of profile {slug}'s owner is no longer valid: {e}; set it again with {fix}"
        ))
    };
    let mut hosts = Vec::new();
    let mut targets = Vec::new();
    for setting in settings {
        match &setting.key {
            SettingKey::Host(from) => {
                let (from, to) =
                    check_host_override(name, manifest, &toolspec, from, &setting.value)
                        .map_err(|e| refused(&setting.key, e))?;
                hosts.push(format!("{from}={to}"));
                targets.push(to);
            }
            SettingKey::Var(var) => {
                let var = check_install_var(name, &toolspec, var, &setting.value)
                    .map_err(|e| refused(&setting.key, e))?;
                set_env(env, &var_env(&var), setting.value);
            }
        }
    }
    if !hosts.is_empty() {
        set_env(env, "GIG_TOOLPACK_HOSTS", hosts.join(","));
    }
    targets.sort();
    targets.dedup();
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(egress: &str) -> Manifest {
        let yaml = format!(
            r#"
schemaVersion: 1
name: zendesk
version: 0.1.0
source: {{repo: github.com/gigmcp/toolpack, tag: v0.1.0}}
image: {{ref: ghcr.io/gigmcp/zendesk-mcp, digest: "sha256:{digest}", entrypoint: /app/server, builder: toolpack}}
tier: sealed
displayName: Zendesk
category: support
entitlements:
  egress: {egress}
credentials:
  - id: zendesk_token
    type: oauth2
    provider: zendesk
    inject: {{header: Authorization, format: "Bearer {{token}}"}}
tools:
  - {{name: get_ticket, default: true}}
  - {{name: upload, default: true}}
"#,
            digest = "ab".repeat(32)
        );
        Manifest::from_yaml(yaml.as_bytes()).unwrap()
    }

    fn toolspec() -> Toolspec {
        let yaml = r#"
schemaVersion: 1
name: zendesk
version: 0.1.0
baseUrl: https://yoursubdomain.zendesk.com
tools:
  - name: get_ticket
    description: Get a ticket
    method: GET
    path: /api/v2/tickets/{id}
    params:
      - {name: id, in: path, type: integer, required: true}
      - {name: account, in: header, type: string, from: install.account_id}
  - name: upload
    description: Upload
    method: POST
    path: /upload
    baseUrl: https://uploads.example.com
"#;
        Toolspec::from_yaml(yaml.as_bytes()).unwrap()
    }

    #[test]
    fn only_wildcard_covered_base_hosts_can_be_overridden() {
        let m = manifest(r#"["*.zendesk.com", uploads.example.com]"#);
        let spec = toolspec();
        assert_eq!(
            wildcard_only_hosts(&m, &spec),
            ["yoursubdomain.zendesk.com"]
        );
        assert_eq!(
            check_host_override(
                "zd",
                &m,
                &spec,
                "YourSubdomain.zendesk.com",
                "Acme.Zendesk.com."
            )
            .unwrap(),
            (
                "yoursubdomain.zendesk.com".into(),
                "acme.zendesk.com".into()
            )
        );
        // any depth under the wildcard, and the placeholder host itself
        check_host_override(
            "zd",
            &m,
            &spec,
            "yoursubdomain.zendesk.com",
            "a.b.zendesk.com",
        )
        .unwrap();
        check_host_override(
            "zd",
            &m,
            &spec,
            "yoursubdomain.zendesk.com",
            "yoursubdomain.zendesk.com",
        )
        .unwrap();
        // an exact host is not overridable; a host outside the wildcard is refused
        let e = check_host_override("zd", &m, &spec, "uploads.example.com", "x.example.com")
            .unwrap_err();
        assert!(e.to_string().contains("yoursubdomain.zendesk.com"), "{e}");
        let e = check_host_override("zd", &m, &spec, "yoursubdomain.zendesk.com", "evil.com")
            .unwrap_err();
        assert!(
            matches!(e, SettingError::NotAllowed { .. }) && e.to_string().contains("*.zendesk.com"),
            "{e}"
        );
        for bad in [
            "zendesk.com",
            "*.zendesk.com",
            "10.0.0.1",
            "acme.zendesk.com:443",
            "",
        ] {
            assert!(
                check_host_override("zd", &m, &spec, "yoursubdomain.zendesk.com", bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn install_variables_come_from_the_toolspec() {
        let spec = toolspec();
        assert_eq!(install_vars(&spec), ["account_id"]);
        assert_eq!(
            check_install_var("zd", &spec, "ACCOUNT_ID", "42").unwrap(),
            "account_id"
        );
        let e = check_install_var("zd", &spec, "region", "eu").unwrap_err();
        assert!(e.to_string().contains("account_id"), "{e}");
        assert!(check_install_var("zd", &spec, "account_id", "a\nb").is_err());
        assert!(check_install_var("zd", &spec, "account_id", &"x".repeat(1025)).is_err());
        assert_eq!(var_env("account_id"), "GIG_TOOLPACK_VAR_ACCOUNT_ID");
    }

    #[test]
    fn assignments_and_timeouts() {
        assert_eq!(split_assignment("a=b=c").unwrap(), ("a", "b=c"));
        assert!(split_assignment("=b").is_err());
        assert!(split_assignment("ab").is_err());
        let engine = |secs| ToolpackEngine {
            path: "/x".into(),
            call_timeout: Duration::from_secs(secs),
        };
        assert_eq!(engine(60).timeout_secs(), 55);
        assert_eq!(engine(5).timeout_secs(), 1);
        assert_eq!(engine(1).timeout_secs(), 1);
    }

    fn server(toolspec: Option<&Toolspec>) -> Server {
        Server {
            id: gigmcp_store::ServerId(1),
            name: "zd".into(),
            source: gigmcp_store::ServerSource::Toolpack,
            manifest: None,
            runtime_hash: None,
            consented_hash: None,
            origin: gigmcp_store::ServerOrigin::Local,
            consent: None,
            toolspec: toolspec.map(|s| serde_json::to_string(s).unwrap()),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_builtin_server_runs_the_engine_with_its_documents_as_files() {
        let m = manifest(r#"["*.zendesk.com", uploads.example.com]"#);
        let spec = toolspec();
        let engine = ToolpackEngine {
            path: std::env::current_exe().unwrap(),
            call_timeout: Duration::from_secs(60),
        };
        let (program, env, files) = builtin(&engine, &server(Some(&spec)), Some(&m)).unwrap();
        assert!(matches!(program, ProgramSource::StaticBinary(p) if p == engine.path));
        assert_eq!(
            env,
            [
                ("GIG_TOOLPACK_MANIFEST".to_owned(), MANIFEST_PATH.to_owned()),
                ("GIG_TOOLPACK_SPEC".to_owned(), TOOLSPEC_PATH.to_owned()),
            ]
        );
        assert_eq!(files[0].path, MANIFEST_PATH);
        assert_eq!(Manifest::from_yaml(&files[0].contents).unwrap(), m);
        assert_eq!(files[1].path, TOOLSPEC_PATH);
        assert_eq!(Toolspec::from_yaml(&files[1].contents).unwrap(), spec);

        // each missing piece is named, with the fix
        let err = |e: LaunchError| e.to_string();
        let e = err(builtin(&engine, &server(None), Some(&m)).unwrap_err());
        assert!(
            e.contains("no stored toolspec") && e.contains("--toolpack"),
            "{e}"
        );
        let mut plain = m.clone();
        plain.image.builder = None;
        let e = err(builtin(&engine, &server(Some(&spec)), Some(&plain)).unwrap_err());
        assert!(e.contains("builder: toolpack"), "{e}");
        let missing = ToolpackEngine {
            path: "/nonexistent/gigmcp-toolpack".into(),
            ..engine.clone()
        };
        let e = err(builtin(&missing, &server(Some(&spec)), Some(&m)).unwrap_err());
        assert!(
            e.contains("GIG_TOOLPACK") && e.contains("/nonexistent"),
            "{e}"
        );
        let mut big = spec.clone();
        big.tools[0].description = "x".repeat(MAX_FILE_BYTES);
        let e = err(builtin(&engine, &server(Some(&big)), Some(&m)).unwrap_err());
        assert!(e.contains("registryctl pack --toolpack"), "{e}");
    }

    /// The stored JSON is what the sandbox gets as `.yaml`: the registry's YAML parser reads it
    /// back to the same documents.
    #[test]
    fn json_text_reads_back_as_yaml() {
        let m = manifest(r#"["*.zendesk.com", uploads.example.com]"#);
        let spec = toolspec();
        let m_json = serde_json::to_string(&m).unwrap();
        let s_json = serde_json::to_string(&spec).unwrap();
        assert_eq!(Manifest::from_yaml(m_json.as_bytes()).unwrap(), m);
        assert_eq!(Toolspec::from_yaml(s_json.as_bytes()).unwrap(), spec);
    }
}
