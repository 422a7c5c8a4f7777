//! Installing, updating and uninstalling servers from the catalogue.
//!
//! Each step is planned first (what will be installed, the consent document, the diff) and
//! applied only when the caller has the user's yes; a plan changes nothing. Applying pulls an
//! image by its pinned digest (verified byte for byte) before anything is written, then writes
//! the server, the consent and the audit event in one transaction: an install that fails
//! leaves nothing behind.
//!
//! A toolpack entry runs on the gateway's own engine (no image is pulled); its toolspec comes
//! from the verified index.

use std::path::{Path, PathBuf};

use gigmcp_registry::{IndexEntry, Manifest};
use gigmcp_store::{
    AuditEvent, RegistryRelease, Server, ServerName, ServerOrigin, ServerSource, Store,
};

use crate::catalogue::{Catalogue, is_toolpack, not_installable};
use crate::consent::ConsentDocument;
use crate::diff::EntitlementDiff;
use crate::error::CatalogError;

/// What applying a plan needs besides the store.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The gateway's data dir (image cache, server files).
    pub data_dir: PathBuf,
    /// Image registries reached over plain HTTP (`GIG_INSECURE_REGISTRIES`).
    pub insecure_registries: Vec<String>,
    /// Largest toolspec (stored JSON) the built-in engine takes: what a sandbox gets as one file.
    pub max_builtin_toolspec: usize,
}

/// `NAME` or `NAME@VERSION`.
pub fn parse_reference(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('@') {
        Some((name, version)) => (name.trim(), Some(version.trim())),
        None => (reference.trim(), None),
    }
}

/// An install, planned: nothing is written until [`install`].
#[derive(Debug, Clone)]
pub struct InstallPlan {
    pub name: ServerName,
    pub entry: IndexEntry,
    pub document: ConsentDocument,
}

/// Plans installing `reference` (`NAME[@VERSION]`, the latest version by default).
pub async fn plan_install(
    store: &Store,
    catalogue: &Catalogue,
    reference: &str,
) -> Result<InstallPlan, CatalogError> {
    let (name, version) = parse_reference(reference);
    let entry = catalogue.entry(name, version)?;
    if let Some(reason) = not_installable(entry) {
        return Err(CatalogError::NotInstallable {
            name: entry.name.clone(),
            version: entry.version.clone(),
            reason,
        });
    }
    let name = ServerName::new(&entry.name).map_err(|e| CatalogError::NotInstallable {
        name: entry.name.clone(),
        version: entry.version.clone(),
        reason: e.to_string(),
    })?;
    if store.server_by_name(&name).await?.is_some() {
        return Err(CatalogError::AlreadyInstalled {
            name: name.to_string(),
        });
    }
    Ok(InstallPlan {
        name,
        document: ConsentDocument::for_entry(entry),
        entry: entry.clone(),
    })
}

/// Installs a planned server with the consent of `actor`.
pub async fn install(
    store: &Store,
    options: &InstallOptions,
    plan: &InstallPlan,
    actor: &str,
) -> Result<Server, CatalogError> {
    let release = release(options, &plan.entry, &plan.document, actor).await?;
    store
        .install_registry_server(&plan.name, &release)
        .await
        .map_err(|e| match e {
            gigmcp_store::StoreError::Conflict { .. } => CatalogError::AlreadyInstalled {
                name: plan.name.to_string(),
            },
            other => other.into(),
        })
}

/// What the store keeps for `entry`: its image pulled and verified first, or its toolspec for
/// the built-in engine.
async fn release(
    options: &InstallOptions,
    entry: &IndexEntry,
    document: &ConsentDocument,
    actor: &str,
) -> Result<RegistryRelease, CatalogError> {
    let m = &entry.manifest;
    let not = |reason: String| CatalogError::NotInstallable {
        name: entry.name.clone(),
        version: entry.version.clone(),
        reason,
    };
    let (source, toolspec) = if is_toolpack(m) {
        let spec = entry
            .toolspec
            .as_ref()
            .ok_or_else(|| not("the index has no toolspec for it".into()))?;
        let json = serde_json::to_string(spec).map_err(|e| not(e.to_string()))?;
        if json.len() > options.max_builtin_toolspec {
            return Err(not(format!(
                "its toolspec is {} bytes, more than the {} the built-in engine takes",
                json.len(),
                options.max_builtin_toolspec
            )));
        }
        (ServerSource::Toolpack, Some(json))
    } else {
        let reference = format!("{}@{}", m.image.reference, m.image.digest);
        pull(options, &reference).await?;
        (ServerSource::Image { reference }, None)
    };
    Ok(RegistryRelease {
        source,
        version: entry.version.clone(),
        manifest: serde_json::to_string(m).map_err(|e| not(e.to_string()))?,
        runtime_hash: entry.runtime_hash.clone(),
        toolspec,
        actor: actor.to_owned(),
        document: document.render(),
    })
}

/// Pulls and verifies `reference` into the image cache, and checks it names a program.
async fn pull(options: &InstallOptions, reference: &str) -> Result<(), CatalogError> {
    let fail = |reason: String| CatalogError::Pull {
        reference: reference.to_owned(),
        reason,
    };
    let source: gigmcp_oci::ImageSource = reference.parse().map_err(|e| fail(format!("{e}")))?;
    let mut pull_options = gigmcp_oci::PullOptions::new(options.data_dir.join("images"));
    pull_options.client.insecure_hosts = options.insecure_registries.clone();
    let pulled = gigmcp_oci::Puller::new(pull_options)
        .map_err(|e| fail(e.to_string()))?
        .pull(&source)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if pulled.config.argv().is_empty() {
        return Err(fail(
            "the image names no entrypoint or cmd, so there is nothing to run".into(),
        ));
    }
    Ok(())
}

/// An update, planned.
#[derive(Debug, Clone)]
pub struct UpdatePlan {
    pub name: ServerName,
    /// The installed version.
    pub from: String,
    /// The version it moves to.
    pub target: IndexEntry,
    /// What changes in what it may do.
    pub diff: EntitlementDiff,
    /// The consent document of the target version.
    pub document: ConsentDocument,
}

impl UpdatePlan {
    /// Whether the update needs consent (it widens what the server may do).
    pub fn needs_consent(&self) -> bool {
        self.diff.widens()
    }
}

/// The installed registry server `name` and its consented manifest.
async fn installed(store: &Store, name: &str) -> Result<(Server, String, Manifest), CatalogError> {
    let server = store
        .server_by_name(name)
        .await?
        .ok_or_else(|| CatalogError::NotInstalled {
            name: name.to_owned(),
        })?;
    let ServerOrigin::Registry { version } = server.origin.clone() else {
        return Err(CatalogError::NotFromRegistry {
            name: name.to_owned(),
        });
    };
    let manifest: Manifest = server
        .manifest
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| CatalogError::Stored {
            name: name.to_owned(),
            what: "manifest",
            reason: e.to_string(),
        })?
        .ok_or_else(|| CatalogError::Stored {
            name: name.to_owned(),
            what: "manifest",
            reason: "it has none".into(),
        })?;
    Ok((server, version, manifest))
}

/// Plans moving installed server `name` to `version` (the latest by default). `Ok(None)` when
/// it already runs that version as published, or the latest is not newer than what runs. The
/// same version published again with another manifest or toolspec is an update too.
pub async fn plan_update(
    store: &Store,
    catalogue: &Catalogue,
    name: &str,
    version: Option<&str>,
) -> Result<Option<UpdatePlan>, CatalogError> {
    let (server, from, manifest) = installed(store, name).await?;
    let target = catalogue.entry(name, version)?;
    let target_spec = target
        .toolspec
        .as_ref()
        .and_then(|s| serde_json::to_string(s).ok());
    let republished = target.version == from
        && (server.runtime_hash.as_deref() != Some(target.runtime_hash.as_str())
            || server.toolspec != target_spec);
    let newer = match (
        semver_of(&target.version),
        semver_of(&from),
        version.is_some(),
    ) {
        (_, _, true) => target.version != from,
        (Some(t), Some(f), false) => t > f,
        _ => target.version != from,
    };
    if !newer && !republished {
        return Ok(None);
    }
    if let Some(reason) = not_installable(target) {
        return Err(CatalogError::NotInstallable {
            name: target.name.clone(),
            version: target.version.clone(),
            reason,
        });
    }
    Ok(Some(UpdatePlan {
        name: ServerName::new(name).map_err(|e| CatalogError::NotInstallable {
            name: name.to_owned(),
            version: target.version.clone(),
            reason: e.to_string(),
        })?,
        from,
        diff: {
            let mut diff = EntitlementDiff::between(&manifest, &target.manifest);
            diff.runtime_changed |= server.toolspec != target_spec;
            diff
        },
        document: ConsentDocument::for_entry(target),
        target: target.clone(),
    }))
}

fn semver_of(v: &str) -> Option<(u64, u64, u64, bool)> {
    // Enough of semver for ordering releases: pre-releases sort before their release.
    let (core, pre) = match v.split_once('-') {
        Some((c, _)) => (c, true),
        None => (v.split('+').next().unwrap_or(v), false),
    };
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??, !pre))
}

/// Applies a planned update with the consent of `actor` (the caller asked for it when
/// [`UpdatePlan::needs_consent`]). The new version's image is pulled first; a running sandbox
/// is restarted on its next use.
pub async fn apply_update(
    store: &Store,
    options: &InstallOptions,
    plan: &UpdatePlan,
    actor: &str,
) -> Result<(), CatalogError> {
    let release = release(options, &plan.target, &plan.document, actor).await?;
    store.update_registry_server(&plan.name, &release).await?;
    Ok(())
}

/// An available update of an installed server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpdate {
    pub name: String,
    pub from: String,
    pub to: String,
    /// It widens entitlements: `gigmcp server update` asks for consent.
    pub needs_consent: bool,
}

/// The updates the catalogue offers for installed registry servers.
pub async fn pending_updates(
    store: &Store,
    catalogue: &Catalogue,
) -> Result<Vec<PendingUpdate>, CatalogError> {
    let mut out = Vec::new();
    for server in store.list_servers().await? {
        if !matches!(server.origin, ServerOrigin::Registry { .. }) {
            continue;
        }
        match plan_update(store, catalogue, &server.name, None).await {
            Ok(Some(plan)) => out.push(PendingUpdate {
                name: server.name.clone(),
                from: plan.from.clone(),
                to: plan.target.version.clone(),
                needs_consent: plan.needs_consent(),
            }),
            Ok(None) => {}
            // Gone from the index, or not installable any more: nothing to offer.
            Err(e) => tracing::debug!(server = %server.name, error = %e, "no update"),
        }
    }
    Ok(out)
}

/// What an uninstall removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uninstalled {
    /// Profiles the server was removed from.
    pub profiles: Vec<String>,
    /// Whether its image's extracted files were removed (no other server used them).
    pub image_files_removed: bool,
}

/// The profiles that would lose `name` if it were uninstalled.
pub async fn profiles_using(store: &Store, name: &str) -> Result<Vec<String>, CatalogError> {
    let server = store
        .server_by_name(name)
        .await?
        .ok_or_else(|| CatalogError::NotInstalled {
            name: name.to_owned(),
        })?;
    Ok(store.profiles_using(server.id).await?)
}

/// Uninstalls `name`: removes it from every profile with its credentials, OAuth connections,
/// install settings and tool choices (one cascade in the store), then its files (a copied
/// binary; its image's extracted root when no other server uses that image). Audit rows and
/// the consent history stay. Running sandboxes are stopped by the gateway, which finds the
/// server gone.
pub async fn uninstall(
    store: &Store,
    data_dir: &Path,
    name: &str,
    actor: &str,
) -> Result<Uninstalled, CatalogError> {
    let server = store
        .server_by_name(name)
        .await?
        .ok_or_else(|| CatalogError::NotInstalled {
            name: name.to_owned(),
        })?;
    let profiles = store.profiles_using(server.id).await?;
    store.delete_server(name).await?;
    store
        .append_audit(AuditEvent {
            actor: actor.to_owned(),
            action: "server_uninstall".into(),
            target: name.to_owned(),
            detail: serde_json::json!({ "profiles": profiles }).to_string(),
        })
        .await?;
    let dir = data_dir.join("servers").join(name);
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        tracing::warn!(path = %dir.display(), error = %e, "could not remove the server's files");
    }
    let image_files_removed = match &server.source {
        ServerSource::Image { reference } => remove_image_files(store, data_dir, reference).await,
        _ => false,
    };
    Ok(Uninstalled {
        profiles,
        image_files_removed,
    })
}

/// Removes the extracted root of `reference`'s image when no remaining server pins the same
/// digest.
async fn remove_image_files(store: &Store, data_dir: &Path, reference: &str) -> bool {
    let Some((_, digest)) = reference.rsplit_once('@') else {
        return false;
    };
    let Ok(remaining) = store.list_servers().await else {
        return false;
    };
    let shared = remaining.iter().any(
        |s| matches!(&s.source, ServerSource::Image { reference } if reference.ends_with(digest)),
    );
    if shared {
        return false;
    }
    let Ok(digest) = digest.parse::<gigmcp_oci::Digest>() else {
        return false;
    };
    let Ok(cache) = gigmcp_oci::Cache::open(data_dir.join("images")) else {
        return false;
    };
    let root = cache.rootfs_path(&digest);
    root.exists() && std::fs::remove_dir_all(&root).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_versions() {
        assert_eq!(parse_reference("zendesk"), ("zendesk", None));
        assert_eq!(parse_reference("zendesk@0.2.0"), ("zendesk", Some("0.2.0")));
        assert!(semver_of("0.10.0") > semver_of("0.9.1"));
        assert!(semver_of("1.0.0") > semver_of("1.0.0-rc.1"));
        assert_eq!(semver_of("x"), None);
    }
}
