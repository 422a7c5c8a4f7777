//! How a server is launched: which sandbox runtime, program, environment and egress identity,
//! derived from its manifest (if any).
//!
//! - No manifest, or a manifest with no egress: the sandbox has no network at all (only `lo`).
//! - Egress entitlements: the sandbox gets its veth pair; its environment points HTTPS_PROXY at
//!   the egress proxy on its host-side address and names the egress CA (at [`CA_PATH`] in its
//!   root). Sealed credentials: the server sees only a random placeholder
//!   (`GIG_CREDENTIAL_<ID>`), which the proxy swaps for the owner's secret on the way out.
//!   Entrusted credentials: the owner's secret is put in the variable the manifest names.

use crate::egress::{CA_PATH, Egress, PROXY_PORT, credential_key};
use gigmcp_oci::{ImageSource, Puller};
use gigmcp_proxy::{Injection, SandboxIdentity};
use gigmcp_registry::{InjectTarget, Manifest, Tier};
use gigmcp_sandbox::{HOST_ADDR_TOKEN, ProgramSource, SandboxRuntime, SandboxSpec};
use gigmcp_store::{Profile, Server, ServerSource, Store};
use gigmcp_vault::Keyring;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Sandbox runtime with networking plus the egress proxy, when the gateway has them.
pub struct Networked {
    pub runtime: SandboxRuntime,
    pub egress: Arc<Egress>,
    pub store: Store,
    pub keyring: Arc<Keyring>,
    /// Per-start directory where servers' rootfs trees (binary + CA) are assembled.
    pub run_dir: PathBuf,
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

/// A root holding the server binary and the egress CA, rebuilt each gateway start.
fn assemble_rootfs(
    run_dir: &Path,
    server: &Server,
    binary: &Path,
    ca_pem: &str,
) -> Result<PathBuf, LaunchError> {
    let io = |what: &str, e: std::io::Error| LaunchError::Other(format!("{what}: {e}"));
    let dir = run_dir.join(format!("rootfs-{}", server.id.0));
    if dir.join("server").is_file() {
        return Ok(dir);
    }
    let staging = run_dir.join(format!(".rootfs-{}-{}", server.id.0, std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let ca_dir = staging
        .join(CA_PATH.trim_start_matches('/'))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    std::fs::create_dir_all(&ca_dir).map_err(|e| io("creating the sandbox root", e))?;
    std::fs::copy(binary, staging.join("server"))
        .map_err(|e| io("copying the server binary", e))?;
    std::fs::write(staging.join(CA_PATH.trim_start_matches('/')), ca_pem)
        .map_err(|e| io("writing the CA", e))?;
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [
        (staging.clone(), 0o755),
        (staging.join("etc"), 0o755),
        (ca_dir, 0o755),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io("permissions", e))?;
    }
    std::fs::set_permissions(
        staging.join("server"),
        std::fs::Permissions::from_mode(0o555),
    )
    .map_err(|e| io("permissions", e))?;
    std::fs::set_permissions(
        staging.join(CA_PATH.trim_start_matches('/')),
        std::fs::Permissions::from_mode(0o444),
    )
    .map_err(|e| io("permissions", e))?;
    match std::fs::rename(&staging, &dir) {
        Ok(()) => Ok(dir),
        Err(_) if dir.join("server").is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(dir)
        }
        Err(e) => Err(io("placing the sandbox root", e)),
    }
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

/// Decides how to launch `server` for `profile`.
pub async fn plan<'a>(
    isolated: &'a SandboxRuntime,
    networked: Option<&'a Networked>,
    images: &Puller,
    profile: &Profile,
    server: &Server,
) -> Result<Launch<'a>, LaunchError> {
    let binary = match &server.source {
        ServerSource::LocalBinary { path } => PathBuf::from(path),
        ServerSource::Image { reference } => {
            let wants_egress = server
                .manifest
                .as_deref()
                .and_then(|m| serde_json::from_str::<Manifest>(m).ok())
                .is_some_and(|m| !m.entitlements.egress.is_empty());
            if wants_egress {
                return Err(LaunchError::Other(
                    "egress for image servers is not available yet (the egress CA cannot be placed in a shared read-only image root); install it without egress entitlements or as a static binary".into(),
                ));
            }
            let (program, env) = image_program(images, reference).await?;
            return Ok(Launch {
                runtime: isolated,
                spec: SandboxSpec {
                    name: format!("{}.{}", profile.slug, server.name),
                    program,
                    args: Vec::new(),
                    env,
                    limits: None,
                },
                identity: None,
            });
        }
    };
    let name = format!("{}.{}", profile.slug, server.name);
    let manifest: Option<Manifest> = match server.manifest.as_deref() {
        Some(text) => {
            Some(serde_json::from_str(text).map_err(|e| LaunchError::Manifest(e.to_string()))?)
        }
        None => None,
    };
    let Some(manifest) = manifest.filter(|m| !m.entitlements.egress.is_empty()) else {
        return Ok(Launch {
            runtime: isolated,
            spec: SandboxSpec {
                name,
                program: ProgramSource::StaticBinary(binary),
                args: Vec::new(),
                env: Vec::new(),
                limits: None,
            },
            identity: None,
        });
    };
    let net = networked.ok_or(LaunchError::NoNetwork)?;
    let egress_policy = manifest
        .egress_policy()
        .map_err(|e| LaunchError::Manifest(e.to_string()))?;
    let dir = assemble_rootfs(&net.run_dir, server, &binary, net.egress.ca_pem())?;
    let proxy = format!("http://{HOST_ADDR_TOKEN}:{PROXY_PORT}");
    let mut env: Vec<(String, String)> = vec![
        ("HTTPS_PROXY".into(), proxy.clone()),
        ("https_proxy".into(), proxy.clone()),
        ("HTTP_PROXY".into(), proxy.clone()),
        ("http_proxy".into(), proxy),
        ("SSL_CERT_FILE".into(), CA_PATH.into()),
        ("NODE_EXTRA_CA_CERTS".into(), CA_PATH.into()),
        ("REQUESTS_CA_BUNDLE".into(), CA_PATH.into()),
    ];
    let owner = net
        .store
        .user(profile.owner)
        .await
        .map_err(|e| LaunchError::Other(e.to_string()))?
        .map(|u| u.username)
        .unwrap_or_else(|| profile.owner.to_string());
    let mut injections = Vec::new();
    for c in &manifest.credentials {
        match c.inject.target() {
            Some(InjectTarget::Header {
                name: header,
                format,
            }) => {
                let value = placeholder();
                injections.push(
                    Injection::new(c.id.clone(), header, value.clone(), format)
                        .map_err(|e| LaunchError::Manifest(e.to_string()))?,
                );
                env.push((env_name(&c.id), value));
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
                let secret = String::from_utf8(secret.to_vec())
                    .map_err(|_| LaunchError::Other("the secret is not UTF-8".into()))?;
                tracing::warn!(server = %server.name, profile = %profile.slug, credential = %c.id,
                    "ENTRUSTED install: the server holds this credential in its environment");
                env.push((var.to_string(), secret));
            }
            None => {
                return Err(LaunchError::Manifest(format!(
                    "credential {} has no usable inject target",
                    c.id
                )));
            }
        }
    }
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
            program: ProgramSource::Rootfs {
                dir,
                entrypoint: vec!["/server".into()],
                workdir: None,
            },
            args: Vec::new(),
            env,
            limits: None,
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
    fn placeholders_are_random() {
        assert_ne!(placeholder(), placeholder());
        assert!(placeholder().starts_with("gigmcp-placeholder-"));
    }
}
