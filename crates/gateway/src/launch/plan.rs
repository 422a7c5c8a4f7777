//! How a server is launched: which sandbox runtime, program, environment and egress identity,
//! derived from its manifest (if any).
//!
//! - No manifest, or a manifest with no egress: the sandbox has no network at all (only `lo`).
//! - Egress entitlements (static binary or image alike): the sandbox gets its veth pair; its
//!   environment points HTTPS_PROXY at the egress proxy on its host-side address and names the
//!   egress CA, placed at [`CA_PATH`]; its `/etc/resolv.conf` names the gateway's DNS responder
//!   there, so a server that ignores proxy variables reaches allowlisted hosts through the
//!   transparent TLS listener and gets NXDOMAIN for every other name. Sealed credentials: the server sees only a random placeholder
//!   (`GIG_CREDENTIAL_<ID>`), which the proxy swaps for the owner's secret on the way out.
//!   Entrusted credentials: the owner's secret is put in the variable the manifest names.
//!   A `type: basic` credential is stored as user + password; what is injected (or put in the
//!   variable) is `base64(user:password)` ([`basic_token`]).
//! - Toolpack servers (`builder: toolpack`): see [`super::toolpack`] (the built-in engine, the
//!   owner's host overrides and install variables, the overrides in the credentials' scope).

use super::toolpack::{self, ToolpackEngine};
use crate::egress::{CA_PATH, Egress, PROXY_PORT, RESOLV_CONF, basic_token, credential_key};
use gigmcp_oci::{ImageSource, Puller};
use gigmcp_proxy::{Injection, SandboxIdentity};
use gigmcp_registry::{CredentialType, InjectTarget, Manifest, Tier};
use gigmcp_sandbox::{HOST_ADDR_TOKEN, ProgramSource, SandboxFile, SandboxRuntime, SandboxSpec};
use gigmcp_store::{Profile, Server, ServerSource, Store};
use gigmcp_vault::Keyring;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Sandbox runtime with networking plus the egress proxy, when the gateway has them.
pub struct Networked {
    pub runtime: SandboxRuntime,
    pub egress: Arc<Egress>,
    pub store: Store,
    pub keyring: Arc<Keyring>,
}

/// What [`plan`] decided.
pub struct Launch<'a> {
    pub runtime: &'a SandboxRuntime,
    pub spec: SandboxSpec,
    /// Registered with the egress proxy once the sandbox has its addresses.
    pub identity: Option<SandboxIdentity>,
}

/// Why a server could not be launched as its manifest asks.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("its manifest in the store is unreadable ({0}); reinstall it")]
    Manifest(String),
    #[error(
        "its manifest asks for network egress, but sandbox networking is off on this gateway (GIG_SANDBOX_NETWORK=off or not running as root)"
    )]
    NoNetwork,
    #[error(
        "no credential {credential} stored for the profile's owner; store it with `gigmcp credential set {server} --profile {profile} --name {credential}`"
    )]
    MissingCredential {
        server: String,
        profile: String,
        credential: String,
    },
    #[error("{0}")]
    Other(String),
}

fn env_name(credential_id: &str) -> String {
    let id: String = credential_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("GIG_CREDENTIAL_{id}")
}

fn placeholder() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("gigmcp-placeholder-{hex}")
}

/// The files a networked sandbox gets: the egress CA, and a resolver configuration naming the
/// gateway's DNS responder on the sandbox's host-side address, over TCP (the sandbox's seccomp
/// filter allows no UDP; glibc honours `use-vc`).
fn egress_files(ca_pem: &str) -> Vec<SandboxFile> {
    vec![
        SandboxFile::new(CA_PATH, ca_pem.as_bytes().to_vec()),
        SandboxFile::new(
            RESOLV_CONF,
            format!("nameserver {HOST_ADDR_TOKEN}\noptions use-vc attempts:2 timeout:5\n"),
        ),
    ]
}

/// The hosts a sealed credential of `manifest` may be sent to: the exact (non-wildcard) hosts of
/// its `entitlements.egress`, plus `overrides`, the owner's host-override targets (checked
/// against the manifest and toolspec by [`toolpack::install_env`]). A wildcard entry
/// (`*.zendesk.com`) lets the server reach any tenant, but the owner's key goes only to hosts
/// named here (the owner's `acme.zendesk.com`); the proxy strips the credential header on every
/// other allowlisted host. An egress list that does not parse yields no host (the credential
/// goes nowhere); [`plan`] refuses such a manifest before this is asked.
fn credential_hosts(manifest: &Manifest, overrides: &[String]) -> Vec<String> {
    let mut hosts = manifest
        .egress_policy()
        .map(|policy| policy.exact_hosts())
        .unwrap_or_default();
    hosts.extend(overrides.iter().cloned());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Sets `key` to `value`, replacing what the image's own environment said.
pub(super) fn set_env(env: &mut Vec<(String, String)>, key: &str, value: String) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value));
}

/// An image server's program: its verified rootfs (pulled on first use, cached by digest).
async fn image_program(
    images: &Puller,
    reference: &str,
) -> Result<(ProgramSource, Vec<(String, String)>), LaunchError> {
    let source: ImageSource = reference
        .parse()
        .map_err(|e: gigmcp_oci::Error| LaunchError::Other(e.to_string()))?;
    let pulled = images
        .pull(&source)
        .await
        .map_err(|e| LaunchError::Other(format!("pulling {reference}: {e}")))?;
    let argv = pulled.config.argv();
    if argv.is_empty() {
        return Err(LaunchError::Other(format!(
            "image {reference} names no entrypoint or cmd"
        )));
    }
    let program = ProgramSource::Rootfs {
        dir: pulled.rootfs,
        entrypoint: argv,
        workdir: pulled.config.working_dir.clone(),
    };
    Ok((program, pulled.config.env.clone()))
}

/// The manifest's credentials, as the sandbox gets them: a sealed one as a placeholder in its
/// environment (and the injection rule the proxy swaps it with), an entrusted one as the
/// owner's secret in the variable the manifest names.
async fn credentials(
    net: &Networked,
    profile: &Profile,
    server: &Server,
    manifest: &Manifest,
    overrides: &[String],
    env: &mut Vec<(String, String)>,
) -> Result<Vec<Injection>, LaunchError> {
    let mut injections = Vec::new();
    let scope = credential_hosts(manifest, overrides);
    for c in &manifest.credentials {
        match c.inject.target() {
            Some(InjectTarget::Header {
                name: header,
                format,
            }) => {
                let value = placeholder();
                injections.push(
                    Injection::new(c.id.clone(), header, value.clone(), format, &scope)
                        .map_err(|e| LaunchError::Manifest(e.to_string()))?,
                );
                set_env(env, &env_name(&c.id), value);
            }
            Some(InjectTarget::Env { name: var }) => {
                let secret = gigmcp_vault::get_secret(
                    &net.store,
                    &net.keyring,
                    profile.owner,
                    server.id,
                    &c.id,
                )
                .await
                .map_err(|e| LaunchError::Other(e.to_string()))?
                .ok_or_else(|| LaunchError::MissingCredential {
                    server: server.name.clone(),
                    profile: profile.slug.clone(),
                    credential: c.id.clone(),
                })?;
                let secret = if c.kind == CredentialType::Basic {
                    basic_token(&secret, &server.name, &c.id)
                        .map_err(|e| LaunchError::Other(e.to_string()))?
                } else {
                    Zeroizing::new(
                        String::from_utf8(secret.to_vec())
                            .map_err(|_| LaunchError::Other("the secret is not UTF-8".into()))?,
                    )
                };
                tracing::warn!(server = %server.name, profile = %profile.slug, credential = %c.id,
                    "ENTRUSTED install: the server holds this credential in its environment");
                set_env(env, var, secret.to_string());
            }
            None => {
                return Err(LaunchError::Manifest(format!(
                    "credential {} has no usable inject target",
                    c.id
                )));
            }
        }
    }
    Ok(injections)
}

/// The program a server runs, with the environment and files it brings: a local binary, an
/// image's entrypoint (and its environment), or the toolpack engine (with its manifest and
/// toolspec).
pub(super) type Program = (ProgramSource, Vec<(String, String)>, Vec<SandboxFile>);

async fn program(
    images: &Puller,
    engine: &ToolpackEngine,
    server: &Server,
    manifest: Option<&Manifest>,
) -> Result<Program, LaunchError> {
    Ok(match &server.source {
        ServerSource::LocalBinary { path } => (
            ProgramSource::StaticBinary(PathBuf::from(path)),
            Vec::new(),
            Vec::new(),
        ),
        ServerSource::Image { reference } => {
            let (program, env) = image_program(images, reference).await?;
            (program, env, Vec::new())
        }
        ServerSource::Toolpack => toolpack::builtin(engine, server, manifest)?,
    })
}

/// Points a networked sandbox at the egress proxy on its host-side address and at the egress CA.
fn proxy_env(env: &mut Vec<(String, String)>) {
    let proxy = format!("http://{HOST_ADDR_TOKEN}:{PROXY_PORT}");
    for key in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        set_env(env, key, proxy.clone());
    }
    for key in ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"] {
        set_env(env, key, CA_PATH.into());
    }
}

/// What [`plan`] launches with: the sandbox runtimes, the egress proxy, the image cache and the
/// toolpack engine.
pub struct Launchers<'a> {
    pub isolated: &'a SandboxRuntime,
    pub networked: Option<&'a Networked>,
    pub images: &'a Puller,
    pub toolpack: &'a ToolpackEngine,
}

/// Decides how to launch `server` for `profile`.
pub async fn plan<'a>(
    with: Launchers<'a>,
    profile: &Profile,
    server: &Server,
) -> Result<Launch<'a>, LaunchError> {
    let Launchers {
        isolated,
        networked,
        images,
        toolpack: engine,
    } = with;
    let name = format!("{}.{}", profile.slug, server.name);
    let manifest: Option<Manifest> = match server.manifest.as_deref() {
        Some(text) => {
            Some(serde_json::from_str(text).map_err(|e| LaunchError::Manifest(e.to_string()))?)
        }
        None => None,
    };
    let (program, mut env, mut files) = program(images, engine, server, manifest.as_ref()).await?;
    let toolpack_manifest = manifest.as_ref().is_some_and(toolpack::is_toolpack);
    if toolpack_manifest {
        let timeout = engine.timeout_secs().to_string();
        set_env(&mut env, "GIG_TOOLPACK_TIMEOUT", timeout);
    }
    let Some(manifest) = manifest.filter(|m| !m.entitlements.egress.is_empty()) else {
        return Ok(Launch {
            runtime: isolated,
            spec: SandboxSpec {
                name,
                program,
                args: Vec::new(),
                env,
                limits: None,
                files,
            },
            identity: None,
        });
    };
    let net = networked.ok_or(LaunchError::NoNetwork)?;
    let egress_policy = manifest
        .egress_policy()
        .map_err(|e| LaunchError::Manifest(e.to_string()))?;
    proxy_env(&mut env);
    let owner = net
        .store
        .user(profile.owner)
        .await
        .map_err(|e| LaunchError::Other(e.to_string()))?
        .map(|u| u.username)
        .unwrap_or_else(|| profile.owner.to_string());
    let overrides = if toolpack_manifest {
        toolpack::install_env(&net.store, profile, server, &manifest, &mut env).await?
    } else {
        Vec::new()
    };
    let injections = credentials(net, profile, server, &manifest, &overrides, &mut env).await?;
    let identity = SandboxIdentity {
        server: server.name.clone(),
        profile: profile.slug.clone(),
        owner,
        egress: egress_policy,
        injections,
        credential_key: credential_key(profile.owner, server.id),
        entrusted: manifest.tier == Tier::Entrusted,
    };
    Ok(Launch {
        runtime: &net.runtime,
        spec: SandboxSpec {
            name,
            program,
            args: Vec::new(),
            env,
            limits: None,
            files: {
                files.extend(egress_files(net.egress.ca_pem()));
                files
            },
        },
        identity: Some(identity),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_env_names_are_shell_safe() {
        assert_eq!(env_name("api_key"), "GIG_CREDENTIAL_API_KEY");
        assert_eq!(
            env_name("zoho-books_token"),
            "GIG_CREDENTIAL_ZOHO_BOOKS_TOKEN"
        );
    }

    #[test]
    fn credentials_are_scoped_to_the_exact_egress_hosts() {
        let yaml = format!(
            r#"
schemaVersion: 1
name: zd
version: 0.1.0
source: {{repo: github.com/x/y, tag: v0.1.0}}
image: {{ref: ghcr.io/x/y, digest: "sha256:{digest}", entrypoint: /zd}}
tier: sealed
displayName: Z
category: testing
entitlements:
  egress: ["*.zendesk.com", API.example.com, auth.example.com]
tools:
  - {{name: search, default: true}}
"#,
            digest = "ab".repeat(32)
        );
        let mut manifest = Manifest::from_yaml(yaml.as_bytes()).unwrap();
        assert_eq!(
            credential_hosts(&manifest, &[]),
            ["api.example.com", "auth.example.com"]
        );
        manifest.entitlements.egress = vec!["*.zendesk.com".into()];
        assert!(credential_hosts(&manifest, &[]).is_empty());
        // the owner's host override is the one wildcard-covered host the key goes to
        assert_eq!(
            credential_hosts(&manifest, &["acme.zendesk.com".into()]),
            ["acme.zendesk.com"]
        );
    }

    #[test]
    fn placeholders_are_random() {
        assert_ne!(placeholder(), placeholder());
        assert!(placeholder().starts_with("gigmcp-placeholder-"));
    }
}
