//! `gigmcp server …`: installed servers (local binaries, images, toolpack servers) and the
//! install settings of toolpack servers (see [`super::toolpack`]).

use super::Context;
use super::install;
use super::toolpack::{self, SettingArgs};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use gigmcp_registry::{Denylist, Manifest, Severity, lint_manifest};
use gigmcp_store::{NewServer, ServerName, ServerSource};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ServerCmd {
    /// Install a local static binary as server NAME (the binary is copied into the data dir),
    /// or, with --toolpack, a registry toolspec served by the gateway's own toolpack engine.
    Add {
        name: String,
        /// Path of a statically linked MCP server speaking stdio.
        #[arg(
            long,
            required_unless_present = "toolpack",
            conflicts_with = "toolpack"
        )]
        binary: Option<PathBuf>,
        /// A registry manifest (YAML) declaring what the server may do: egress allowlist,
        /// credentials and how they are injected, its tools and which are on by default.
        /// Without one the server gets no network and exposes all its tools.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Serve the --toolspec with the gateway's toolpack engine (`gigmcp-toolpack`) under
        /// the --manifest (which must say `image.builder: toolpack`); both are linted first.
        #[arg(long, requires_all = ["manifest", "toolspec"])]
        toolpack: bool,
        /// The registry toolspec (YAML) of a --toolpack server.
        #[arg(long, requires = "toolpack")]
        toolspec: Option<PathBuf>,
    },
    /// Install an OCI image pinned by digest as server NAME: pulled, verified byte for byte and
    /// extracted into the data dir's image cache now; its entrypoint runs sandboxed. A toolpack
    /// image (`registryctl pack --toolpack`) must bake the --manifest given here.
    AddImage {
        name: String,
        /// `host/repo@sha256:<digest>` or `oci:<layout dir>@sha256:<digest>`.
        reference: String,
        /// Registries (`host[:port]`) to reach over plain HTTP; loopback/test registries only.
        #[arg(
            long = "insecure-registry",
            env = "GIG_INSECURE_REGISTRIES",
            value_delimiter = ','
        )]
        insecure_registries: Vec<String>,
        /// A registry manifest (YAML) for the image, as for `server add`: without one the
        /// server gets no network and exposes all its tools.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Install NAME or NAME@VERSION from the signed registry index (GIG_REGISTRY_INDEX_URL,
    /// GIG_REGISTRY_PUBKEY): prints the consent document (hosts, credentials and where they
    /// go, tier, tools) and installs after --yes or an interactive yes. Image servers are
    /// pulled by digest; toolpack servers run on the gateway's engine.
    Install {
        /// `NAME` (latest version) or `NAME@VERSION`.
        reference: String,
        /// Consent without asking (after reading the document, e.g. from `--dry-run`).
        #[arg(long)]
        yes: bool,
        /// Print the consent document and stop.
        #[arg(long, conflicts_with = "yes")]
        dry_run: bool,
        #[arg(
            long = "insecure-registry",
            env = "GIG_INSECURE_REGISTRIES",
            value_delimiter = ','
        )]
        insecure_registries: Vec<String>,
    },
    /// Move a server installed from the index to its latest version (or --version): shows
    /// what changes. An update that widens what the server may do needs --yes or an
    /// interactive yes; until then the installed version keeps running.
    Update {
        name: String,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        yes: bool,
        #[arg(
            long = "insecure-registry",
            env = "GIG_INSECURE_REGISTRIES",
            value_delimiter = ','
        )]
        insecure_registries: Vec<String>,
    },
    /// List installed servers: name, source, tier and egress. ENTRUSTED servers hold their
    /// credentials in their own environment.
    List,
    /// Uninstall server NAME: removes it from every profile with its credentials, settings
    /// and files (audit rows stay); running sandboxes stop. Names the profiles using it and
    /// asks first (or --yes).
    Remove {
        name: String,
        #[arg(long)]
        yes: bool,
    },
    /// Point a toolpack server at the tenant host of a profile's owner: FROM is a base host of
    /// its toolspec that only a wildcard egress entry covers (e.g. yoursubdomain.zendesk.com),
    /// TO a host under that wildcard (acme.zendesk.com). The owner's sealed credentials go to
    /// TO. `FROM --unset` removes it.
    SetHost {
        name: String,
        /// `FROM=TO` (or `FROM` with --unset).
        #[arg(value_name = "FROM=TO")]
        mapping: String,
        /// Profile whose owner the setting belongs to.
        #[arg(long)]
        profile: String,
        #[arg(long)]
        unset: bool,
    },
    /// Set an install variable of a toolpack server for a profile's owner: VAR is a
    /// `from: install.<var>` param of its toolspec. Not for secrets (use `gigmcp credential`).
    SetVar {
        name: String,
        /// `VAR=VALUE` (or `VAR` with --unset).
        #[arg(value_name = "VAR=VALUE")]
        assignment: String,
        /// Profile whose owner the setting belongs to.
        #[arg(long)]
        profile: String,
        #[arg(long)]
        unset: bool,
    },
    /// Show a toolpack server's host overrides and install variables for a profile's owner,
    /// and which are still unset.
    Settings {
        name: String,
        #[arg(long)]
        profile: String,
    },
}

pub async fn run(cmd: ServerCmd, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        ServerCmd::Add {
            name,
            binary,
            manifest,
            toolpack,
            toolspec,
        } => match (binary, toolspec) {
            (_, Some(spec)) if toolpack => {
                let manifest =
                    manifest.ok_or_else(|| anyhow::anyhow!("--toolpack needs --manifest"))?;
                add_toolpack(ctx, &name, &manifest, &spec).await
            }
            (Some(binary), _) => add_binary(ctx, &name, &binary, manifest.as_deref()).await,
            _ => bail!("give --binary PATH, or --toolpack --manifest M.yaml --toolspec T.yaml"),
        },
        ServerCmd::AddImage {
            name,
            reference,
            insecure_registries,
            manifest,
        } => {
            add_image(
                ctx,
                &name,
                &reference,
                insecure_registries,
                manifest.as_deref(),
            )
            .await
        }
        ServerCmd::List => list(ctx).await,
        ServerCmd::Install {
            reference,
            yes,
            dry_run,
            insecure_registries,
        } => install::install(ctx, &reference, yes, dry_run, insecure_registries).await,
        ServerCmd::Update {
            name,
            version,
            yes,
            insecure_registries,
        } => install::update(ctx, &name, version.as_deref(), yes, insecure_registries).await,
        ServerCmd::Remove { name, yes } => install::remove(ctx, &name, yes).await,
        ServerCmd::SetHost {
            name,
            mapping,
            profile,
            unset,
        } => {
            let args = SettingArgs {
                name,
                assignment: mapping,
                profile,
                unset,
            };
            toolpack::set_host(ctx, args).await
        }
        ServerCmd::SetVar {
            name,
            assignment,
            profile,
            unset,
        } => {
            toolpack::set_var(
                ctx,
                SettingArgs {
                    name,
                    assignment,
                    profile,
                    unset,
                },
            )
            .await
        }
        ServerCmd::Settings { name, profile } => toolpack::show(ctx, &name, &profile).await,
    }
}

/// `server list`: name, origin, source, tier and egress.
async fn list(ctx: &Context) -> anyhow::Result<()> {
    for s in ctx.store.list_servers().await? {
        let (kind, source) = match &s.source {
            ServerSource::LocalBinary { path } => ("local binary", path.as_str()),
            ServerSource::Image { reference } => ("image", reference.as_str()),
            ServerSource::Toolpack => ("toolpack", "built-in engine"),
        };
        let manifest = s
            .manifest
            .as_deref()
            .and_then(|m| serde_json::from_str::<Manifest>(m).ok());
        let origin = match &s.origin {
            gigmcp_store::ServerOrigin::Registry { version } => {
                format!("registry {version}")
            }
            gigmcp_store::ServerOrigin::Local => "local".into(),
        };
        println!(
            "{}\t{origin}\t{kind}\t{source}\t{}",
            s.name,
            describe(manifest.as_ref())
        );
    }
    Ok(())
}

/// Refuses a name that is taken.
async fn free_name(ctx: &Context, name: &str) -> anyhow::Result<ServerName> {
    let name = ServerName::new(name)?;
    if ctx.store.server_by_name(&name).await?.is_some() {
        bail!("server {name} already exists; remove it first or pick another name");
    }
    Ok(name)
}

/// `server add NAME --binary PATH [--manifest M]`.
async fn add_binary(
    ctx: &Context,
    name: &str,
    binary: &Path,
    manifest: Option<&Path>,
) -> anyhow::Result<()> {
    let manifest = manifest.map(load_manifest).transpose()?;
    let meta = std::fs::metadata(binary)
        .with_context(|| format!("--binary {}: cannot read it", binary.display()))?;
    if !meta.is_file() {
        bail!("--binary {}: not a regular file", binary.display());
    }
    let name = free_name(ctx, name).await?;
    let dir = ctx.data_dir.join("servers").join(name.as_str());
    // Private like the rest of the data dir: sandboxes get the binary through the runtime's
    // host view, not by this path.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let dest = dir.join("server");
    let tmp = dir.join(".server.tmp");
    std::fs::copy(binary, &tmp)
        .with_context(|| format!("copying {} into the data dir", binary.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o555))?;
    std::fs::rename(&tmp, &dest)?;
    let dest = std::fs::canonicalize(&dest)?;
    let server = ctx
        .store
        .create_server(NewServer {
            name: name.clone(),
            source: ServerSource::LocalBinary {
                path: dest.display().to_string(),
            },
        })
        .await?;
    let what = record_manifest(ctx, server.id, manifest.as_ref()).await?;
    println!("added server {} ({}), {what}", server.name, dest.display());
    Ok(())
}

/// `server add NAME --toolpack --manifest M --toolspec T`: both linted, then recorded; the
/// gateway's engine serves it.
async fn add_toolpack(
    ctx: &Context,
    name: &str,
    manifest_path: &Path,
    spec_path: &Path,
) -> anyhow::Result<()> {
    let manifest = load_manifest(manifest_path)?;
    toolpack::require_toolpack("--manifest", manifest_path, &manifest)?;
    let spec = toolpack::load_toolspec(spec_path, &manifest)?;
    let name = free_name(ctx, name).await?;
    let server = ctx
        .store
        .create_server(NewServer {
            name,
            source: ServerSource::Toolpack,
        })
        .await?;
    let recorded = async {
        ctx.store
            .set_server_toolspec(server.id, &serde_json::to_string(&spec)?)
            .await?;
        record_manifest(ctx, server.id, Some(&manifest)).await
    }
    .await;
    let what = match recorded {
        Ok(what) => what,
        Err(e) => {
            // nothing half-installed stays behind
            let _ = ctx.store.delete_server(&server.name).await;
            return Err(e);
        }
    };
    println!(
        "added toolpack server {} ({} tools, served by the gateway's engine), {what}",
        server.name,
        spec.tools.len()
    );
    print_setup_hints(&server.name, &manifest, &spec);
    Ok(())
}

/// What the owners still have to set up: host overrides and install variables.
pub(super) fn print_setup_hints(name: &str, manifest: &Manifest, spec: &gigmcp_registry::Toolspec) {
    for host in toolpack::wildcard_only_hosts(manifest, spec) {
        eprintln!(
            "note: {host} is a placeholder under a wildcard; each owner sets the tenant host: \
             `gigmcp server set-host {name} {host}=<tenant host> --profile P`"
        );
    }
    for var in toolpack::install_vars(spec) {
        eprintln!(
            "note: each owner sets `{var}`: `gigmcp server set-var {name} {var}=<value> --profile P`"
        );
    }
}

/// `server add-image NAME REF [--manifest M]`.
async fn add_image(
    ctx: &Context,
    name: &str,
    reference: &str,
    insecure_registries: Vec<String>,
    manifest: Option<&Path>,
) -> anyhow::Result<()> {
    let manifest = manifest
        .map(|p| load_manifest(p).map(|m| (p, m)))
        .transpose()?;
    let name = free_name(ctx, name).await?;
    let source: gigmcp_oci::ImageSource = reference.parse().with_context(|| {
        format!("{reference}: give host/repo@sha256:<64 hex> or oci:<dir>@sha256:<64 hex>")
    })?;
    let mut options = gigmcp_oci::PullOptions::new(ctx.data_dir.join("images"));
    options.client.insecure_hosts = insecure_registries;
    let pulled = gigmcp_oci::Puller::new(options)?
        .pull(&source)
        .await
        .with_context(|| format!("pulling {reference}"))?;
    if pulled.config.argv().is_empty() {
        bail!("{reference}: the image names no entrypoint or cmd, so there is nothing to run");
    }
    let spec = match &manifest {
        Some((_, m)) if toolpack::is_toolpack(m) => Some(
            toolpack::baked_toolspec(&pulled.rootfs, m)
                .with_context(|| format!("{reference} as a toolpack image"))?,
        ),
        _ => None,
    };
    let manifest = manifest.map(|(_, m)| m);
    let server = ctx
        .store
        .create_server(NewServer {
            name,
            source: ServerSource::Image {
                reference: reference.to_owned(),
            },
        })
        .await?;
    if let Some(spec) = &spec {
        ctx.store
            .set_server_toolspec(server.id, &serde_json::to_string(spec)?)
            .await?;
    }
    let what = record_manifest(ctx, server.id, manifest.as_ref()).await?;
    println!(
        "added server {} from {} (verified, {}), runs {:?}, {what}",
        server.name,
        reference,
        pulled.manifest_digest,
        pulled.config.argv()
    );
    if let (Some(m), Some(spec)) = (&manifest, &spec) {
        print_setup_hints(&server.name, m, spec);
    }
    Ok(())
}

/// Stores `manifest` for the server with the operator's consent (installing from the CLI is the
/// operator's consent to what it asks); returns what it grants, for the operator to read.
async fn record_manifest(
    ctx: &Context,
    server: gigmcp_store::ServerId,
    manifest: Option<&Manifest>,
) -> anyhow::Result<String> {
    if let Some(m) = manifest {
        let hash = m.runtime_hash();
        ctx.store
            .set_server_manifest(server, &serde_json::to_string(m)?, &hash)
            .await?;
        ctx.store.set_server_consent(server, Some(&hash)).await?;
        if m.tier == gigmcp_registry::Tier::Entrusted {
            eprintln!(
                "warning: ENTRUSTED server: it receives its credentials in its own environment; \
                 only its egress allowlist limits where they can go"
            );
        }
    }
    Ok(describe(manifest))
}

/// Tier and egress of a manifest, or what having none means.
fn describe(manifest: Option<&Manifest>) -> String {
    let Some(m) = manifest else {
        return "no manifest: no network, all tools exposed".into();
    };
    let tier = match m.tier {
        gigmcp_registry::Tier::Sealed => "sealed",
        gigmcp_registry::Tier::Entrusted => "ENTRUSTED (holds its credentials)",
    };
    let egress = if m.entitlements.egress.is_empty() {
        "none".to_string()
    } else {
        m.entitlements.egress.join(", ")
    };
    format!("tier {tier}, egress: {egress}")
}

/// Reads and checks a manifest with the registry's own lint rules; every problem is listed.
fn load_manifest(path: &std::path::Path) -> anyhow::Result<Manifest> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("--manifest {}: cannot read it", path.display()))?;
    if meta.len() > 1024 * 1024 {
        bail!(
            "--manifest {}: larger than 1 MiB; not a manifest",
            path.display()
        );
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("--manifest {}: cannot read it", path.display()))?;
    let parsed =
        Manifest::from_yaml(&bytes).with_context(|| format!("--manifest {}", path.display()))?;
    // Lint under the path the registry would keep it at, so the path rules hold too.
    let registry_path = format!("manifests/{}/{}.yaml", parsed.name, parsed.version);
    let denylist = Denylist::parse_with_builtin("").map_err(|e| anyhow::anyhow!("{e}"))?;
    let (manifest, diagnostics) = lint_manifest(&registry_path, &bytes, &denylist);
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect();
    if !errors.is_empty() {
        bail!(
            "--manifest {} is not acceptable:\n  {}",
            path.display(),
            errors.join("\n  ")
        );
    }
    manifest.ok_or_else(|| anyhow::anyhow!("--manifest {}: did not parse", path.display()))
}
