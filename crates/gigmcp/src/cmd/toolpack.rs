//! Toolpack servers from the CLI: installing one (a manifest with `builder: toolpack` and its
//! toolspec, both linted with the registry's rules), checking the toolspec an image bakes, and
//! the per-owner install settings (`server set-host`, `server set-var`, `server settings`).
//!
//! A setting is checked against the server's manifest and toolspec here, when it is saved, and
//! again by the gateway when a sandbox starts. It reaches a running server when its sandbox
//! starts next (after the idle timeout, or a gateway restart).

use super::Context;
use super::credential::profile_owner;
use anyhow::{Context as _, anyhow, bail};
use gigmcp_gateway::launch::toolpack::{
    self, MAX_FILE_BYTES, SettingError, check_host_override, check_install_var, split_assignment,
    stored_toolspec,
};
pub use gigmcp_gateway::launch::toolpack::{install_vars, wildcard_only_hosts};
use gigmcp_registry::{Manifest, Severity, Toolspec, lint_toolspec};
use gigmcp_store::{AuditEvent, Server, SettingKey};
use std::path::Path;

/// Largest toolspec file read.
const MAX_TOOLSPEC_BYTES: u64 = 1024 * 1024;

/// Reads `path` (at most 1 MiB), naming `flag` in errors.
fn read_bounded(flag: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
    if !meta.is_file() {
        bail!("{flag} {}: not a regular file", path.display());
    }
    if meta.len() > MAX_TOOLSPEC_BYTES {
        bail!("{flag} {}: larger than 1 MiB", path.display());
    }
    std::fs::read(path).with_context(|| format!("{flag} {}: cannot read it", path.display()))
}

/// Checks that `manifest` (already linted) is a toolpack manifest.
pub fn require_toolpack(flag: &str, path: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    if !toolpack::is_toolpack(manifest) {
        bail!(
            "{flag} {}: not a toolpack manifest; set `image.builder: toolpack` (the toolpack \
             engine serves only toolpack manifests)",
            path.display()
        );
    }
    Ok(())
}

/// Lints toolspec `bytes` against `manifest` under the path the registry would keep it at;
/// every error is listed.
pub fn lint_spec(what: &str, bytes: &[u8], manifest: &Manifest) -> anyhow::Result<Toolspec> {
    let registry_path = format!(
        "manifests/{}/{}.toolspec.yaml",
        manifest.name, manifest.version
    );
    let (spec, diagnostics) = lint_toolspec(&registry_path, bytes, Some(manifest));
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect();
    if !errors.is_empty() {
        bail!("{what} is not acceptable:\n  {}", errors.join("\n  "));
    }
    spec.ok_or_else(|| anyhow!("{what}: did not parse"))
}

/// Reads and lints `--toolspec` against `manifest`, and checks a built-in server can take it.
pub fn load_toolspec(path: &Path, manifest: &Manifest) -> anyhow::Result<Toolspec> {
    let bytes = read_bounded("--toolspec", path)?;
    let spec = lint_spec(&format!("--toolspec {}", path.display()), &bytes, manifest)?;
    let stored = serde_json::to_string(&spec)?.len();
    if stored > MAX_FILE_BYTES {
        bail!(
            "--toolspec {}: {stored} bytes once stored, more than the {MAX_FILE_BYTES} a \
             built-in toolpack server takes; pack it as an image with `registryctl pack \
             --toolpack` and install that with `gigmcp server add-image`",
            path.display()
        );
    }
    Ok(spec)
}

/// The toolspec an image-based toolpack server bakes (`/app/toolspec.yaml` of its rootfs),
/// linted against `manifest`; its `/app/manifest.yaml` must be `manifest` (the image digest
/// aside: an image cannot name its own digest).
pub fn baked_toolspec(rootfs: &Path, manifest: &Manifest) -> anyhow::Result<Toolspec> {
    let app = rootfs.join("app");
    let baked = read_bounded("the image's", &app.join("manifest.yaml")).context(
        "a toolpack image holds /app/manifest.yaml and /app/toolspec.yaml (`registryctl pack --toolpack`)",
    )?;
    let mut baked = Manifest::from_yaml(&baked).context("the image's /app/manifest.yaml")?;
    baked.image.digest.clone_from(&manifest.image.digest);
    if baked.runtime_hash() != manifest.runtime_hash() {
        bail!(
            "the image's /app/manifest.yaml differs from --manifest (entrypoint, tier, egress, \
             credentials or tools); pack the image with the manifest you install"
        );
    }
    let bytes = read_bounded("the image's", &app.join("toolspec.yaml"))?;
    lint_spec("the image's /app/toolspec.yaml", &bytes, manifest)
}

/// The server, its manifest (a toolpack one) and its stored toolspec.
async fn toolpack_server(
    ctx: &Context,
    name: &str,
) -> anyhow::Result<(Server, Manifest, Toolspec)> {
    let server = ctx
        .store
        .server_by_name(name)
        .await?
        .ok_or_else(|| anyhow!("no server {name}; see `gigmcp server list`"))?;
    let manifest: Option<Manifest> = server
        .manifest
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .with_context(|| format!("the stored manifest of {name}; reinstall the server"))?;
    let Some(manifest) = manifest.filter(toolpack::is_toolpack) else {
        return Err(SettingError::NotToolpack {
            server: name.to_owned(),
        }
        .into());
    };
    let spec = stored_toolspec(&server)?;
    Ok((server, manifest, spec))
}

pub use toolpack::is_toolpack;

/// What `set-host` / `set-var` change.
pub struct SettingArgs {
    pub name: String,
    /// `FROM=TO` / `VAR=VALUE`, or the bare `FROM` / `VAR` with `unset`.
    pub assignment: String,
    pub profile: String,
    pub unset: bool,
}

/// `gigmcp server set-host NAME FROM=TO --profile P` (or `FROM --unset`).
pub async fn set_host(ctx: &Context, args: SettingArgs) -> anyhow::Result<()> {
    let (server, manifest, spec) = toolpack_server(ctx, &args.name).await?;
    let owner = profile_owner(&ctx.store, &args.profile).await?;
    if args.unset {
        let from = args.assignment.trim().to_ascii_lowercase();
        let key = SettingKey::Host(from.clone());
        let removed = ctx
            .store
            .delete_install_setting(server.id, owner.id, &key)
            .await?;
        if !removed {
            bail!(
                "no host override of {from} for server {} (owner {}); see `gigmcp server settings {} --profile {}`",
                server.name,
                owner.username,
                server.name,
                args.profile
            );
        }
        audit(
            ctx,
            "install_setting.delete",
            &owner.username,
            &server.name,
            &key,
        )
        .await?;
        println!(
            "{} uses {from} again for owner {}",
            server.name, owner.username
        );
        return Ok(());
    }
    let (from, to) = split_assignment(&args.assignment)?;
    let (from, to) = check_host_override(&server.name, &manifest, &spec, from, to)?;
    let key = SettingKey::Host(from.clone());
    ctx.store
        .set_install_setting(server.id, owner.id, &key, &to)
        .await?;
    audit(
        ctx,
        "install_setting.set",
        &owner.username,
        &server.name,
        &key,
    )
    .await?;
    let sealed: Vec<&str> = manifest
        .credentials
        .iter()
        .filter(|c| c.inject.header.is_some())
        .map(|c| c.id.as_str())
        .collect();
    println!(
        "{} reaches {to} instead of {from} for owner {} (from its next start){}",
        server.name,
        owner.username,
        if sealed.is_empty() {
            String::new()
        } else {
            format!("; the owner's {} goes to {to}", sealed.join(", "))
        }
    );
    Ok(())
}

/// `gigmcp server set-var NAME VAR=VALUE --profile P` (or `VAR --unset`).
pub async fn set_var(ctx: &Context, args: SettingArgs) -> anyhow::Result<()> {
    let (server, _, spec) = toolpack_server(ctx, &args.name).await?;
    let owner = profile_owner(&ctx.store, &args.profile).await?;
    if args.unset {
        let var = args.assignment.trim().to_ascii_lowercase();
        let key = SettingKey::Var(var.clone());
        if !ctx
            .store
            .delete_install_setting(server.id, owner.id, &key)
            .await?
        {
            bail!(
                "no install variable {var} set for server {} (owner {})",
                server.name,
                owner.username
            );
        }
        audit(
            ctx,
            "install_setting.delete",
            &owner.username,
            &server.name,
            &key,
        )
        .await?;
        println!(
            "unset {var} of {} for owner {}",
            server.name, owner.username
        );
        return Ok(());
    }
    let (var, value) = split_assignment(&args.assignment)?;
    let var = check_install_var(&server.name, &spec, var, value)?;
    let key = SettingKey::Var(var.clone());
    ctx.store
        .set_install_setting(server.id, owner.id, &key, value)
        .await?;
    audit(
        ctx,
        "install_setting.set",
        &owner.username,
        &server.name,
        &key,
    )
    .await?;
    println!(
        "set {var} of {} for owner {} (from its next start)",
        server.name, owner.username
    );
    Ok(())
}

/// `gigmcp server settings NAME --profile P`: the owner's settings, and what is still unset.
pub async fn show(ctx: &Context, name: &str, profile: &str) -> anyhow::Result<()> {
    let (server, manifest, spec) = toolpack_server(ctx, name).await?;
    let owner = profile_owner(&ctx.store, profile).await?;
    let settings = ctx.store.install_settings(server.id, owner.id).await?;
    let value = |key: &SettingKey| {
        settings
            .iter()
            .find(|s| &s.key == key)
            .map(|s| s.value.as_str())
    };
    for from in wildcard_only_hosts(&manifest, &spec) {
        match value(&SettingKey::Host(from.clone())) {
            Some(to) => println!("host\t{from}\t{to}"),
            None => println!(
                "host\t{from}\t(not set: `gigmcp server set-host {name} {from}=<host> --profile {profile}`)"
            ),
        }
    }
    for var in install_vars(&spec) {
        match value(&SettingKey::Var(var.clone())) {
            Some(v) => println!("var\t{var}\t{v}"),
            None => println!(
                "var\t{var}\t(not set: `gigmcp server set-var {name} {var}=<value> --profile {profile}`)"
            ),
        }
    }
    Ok(())
}

async fn audit(
    ctx: &Context,
    action: &str,
    owner: &str,
    server: &str,
    key: &SettingKey,
) -> anyhow::Result<()> {
    let key = match key {
        SettingKey::Host(from) => format!("host:{from}"),
        SettingKey::Var(name) => format!("var:{name}"),
    };
    ctx.store
        .append_audit(AuditEvent {
            actor: "admin".into(),
            action: action.into(),
            target: format!("{owner}/{server}/{key}"),
            detail: "{}".into(),
        })
        .await?;
    Ok(())
}
