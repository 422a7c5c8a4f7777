//! `gigmcp registry …`: the catalogue from the signed index (list, show), refreshing it from
//! `GIG_REGISTRY_INDEX_URL`, and importing one by hand on an air-gapped host. The settings are
//! shared by every command (`RegistryArgs`), so `server install` and `serve` read the same.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use gigmcp_catalog::catalogue::detail;
use gigmcp_catalog::{Catalogue, Refreshed, Registry, RegistryConfig, RegistrySettings};
use gigmcp_store::ServerOrigin;

use super::Context;

/// The registry settings (every command takes them).
#[derive(Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    /// Where the signed index is: `https://…/index.json` or `file:///…/index.json`; its
    /// signature is at the same URL + `.sig`.
    #[arg(long, global = true, env = "GIG_REGISTRY_INDEX_URL")]
    pub registry_index_url: Option<String>,
    /// The index publisher's ed25519 public key (64 hex); several, comma-separated, during a
    /// key rotation. Only an index signed by one of them is used.
    #[arg(long, global = true, env = "GIG_REGISTRY_PUBKEY")]
    pub registry_pubkey: Option<String>,
    /// Private ranges (CIDR, comma-separated) the index host may resolve to despite the SSRF
    /// guard: a registry mirror on the local network.
    #[arg(
        long,
        global = true,
        env = "GIG_REGISTRY_ALLOW_RANGES",
        value_delimiter = ','
    )]
    pub registry_allow_ranges: Vec<String>,
    /// PEM file of extra CAs trusted for the index host.
    #[arg(long, global = true, env = "GIG_REGISTRY_CA_BUNDLE")]
    pub registry_ca_bundle: Option<PathBuf>,
    /// How often `serve` refreshes the index: seconds or a number with s, m or h; `off`.
    #[arg(long, global = true, env = "GIG_REGISTRY_REFRESH")]
    pub registry_refresh: Option<String>,
}

impl RegistryArgs {
    /// The checked settings; `None` when the registry is not configured.
    pub fn config(&self) -> anyhow::Result<Option<RegistryConfig>> {
        Ok(RegistryConfig::from_settings(&RegistrySettings {
            index_url: self.registry_index_url.as_deref(),
            pubkeys: self.registry_pubkey.as_deref(),
            allow_ranges: &self.registry_allow_ranges,
            ca_bundle: self.registry_ca_bundle.as_deref(),
            refresh: self.registry_refresh.as_deref(),
        })?)
    }
}

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// The catalogue: one line per server at its latest version.
    List {
        /// Only servers whose name, title, category or description contain every word.
        #[arg(long)]
        search: Option<String>,
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
    },
    /// Everything about one server: tools (with method and path for toolpack servers),
    /// credentials, egress, tier, per-user settings, versions.
    Show {
        name: String,
        #[arg(long)]
        version: Option<String>,
    },
    /// Fetch the index from GIG_REGISTRY_INDEX_URL now, verify it and keep it if newer.
    Refresh,
    /// Verify and keep an index brought by hand (air-gapped hosts): INDEX and its signature.
    Import { index: PathBuf, signature: PathBuf },
    /// Forget the last accepted index, so that the next refresh or import accepts any validly
    /// signed one, an OLDER one included: only to go back on purpose after a publishing
    /// mistake. Installed servers stay as they are.
    Reset {
        #[arg(long)]
        yes: bool,
    },
}

/// The registry service, or what to set.
pub fn registry(ctx: &Context) -> anyhow::Result<Arc<Registry>> {
    let Some(config) = ctx.registry.config()? else {
        bail!(gigmcp_catalog::CatalogError::NoIndex);
    };
    Ok(Registry::new(ctx.store.clone(), config))
}

/// The catalogue, with a note on stderr when it is the last good copy.
pub async fn catalogue(registry: &Registry) -> anyhow::Result<Catalogue> {
    let catalogue = registry.catalogue().await?;
    let f = &catalogue.freshness;
    if f.stale {
        eprintln!(
            "note: showing the last good index (sequence {}, accepted {}); the last refresh failed: {}",
            f.sequence,
            when(f.accepted_at),
            f.last_error.as_deref().unwrap_or("?")
        );
    }
    Ok(catalogue)
}

pub async fn run(cmd: RegistryCmd, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        RegistryCmd::List { search, category } => {
            let registry = registry(ctx)?;
            list(ctx, &registry, search.as_deref(), category.as_deref()).await?;
        }
        RegistryCmd::Show { name, version } => {
            let registry = registry(ctx)?;
            let catalogue = catalogue(&registry).await?;
            let entry = catalogue.entry(&name, version.as_deref())?;
            print!("{}", detail(&catalogue, entry));
        }
        RegistryCmd::Refresh => {
            let registry = registry(ctx)?;
            let outcome = registry.refresh().await;
            match outcome {
                Ok(Refreshed::Accepted { sequence, entries }) => {
                    println!("accepted index sequence {sequence} ({entries} entries)");
                }
                Ok(Refreshed::Unchanged { sequence }) => {
                    println!("index unchanged (sequence {sequence})");
                }
                Err(e) => {
                    if let Ok(c) = registry.catalogue().await {
                        eprintln!(
                            "the last good index stays in use (sequence {}, accepted {})",
                            c.freshness.sequence,
                            when(c.freshness.accepted_at)
                        );
                    }
                    return Err(e.into());
                }
            }
            print_updates(ctx, &registry).await?;
        }
        RegistryCmd::Import { index, signature } => {
            let registry = registry(ctx)?;
            let bytes =
                gigmcp_catalog::source::read_file(&index, gigmcp_registry::index::MAX_INDEX_BYTES)
                    .map_err(anyhow::Error::msg)
                    .context("reading the index")?;
            let sig = gigmcp_catalog::source::read_file(
                &signature,
                gigmcp_catalog::source::MAX_SIG_BYTES,
            )
            .map_err(anyhow::Error::msg)
            .context("reading the signature")?;
            match registry
                .import(&bytes, &String::from_utf8_lossy(&sig))
                .await?
            {
                Refreshed::Accepted { sequence, entries } => {
                    println!("imported index sequence {sequence} ({entries} entries)");
                }
                Refreshed::Unchanged { sequence } => {
                    println!("index unchanged (sequence {sequence})");
                }
            }
            print_updates(ctx, &registry).await?;
        }
        RegistryCmd::Reset { yes } => reset(ctx, yes).await?,
    }
    Ok(())
}

/// `registry reset`: drops the stored index and its sequence (the rollback guard's memory).
async fn reset(ctx: &Context, yes: bool) -> anyhow::Result<()> {
    if !yes {
        bail!(
            "this forgets the last accepted index and its sequence: the next refresh or import              then accepts an OLDER validly signed index. Re-run with --yes if that is meant"
        );
    }
    let had = ctx.store.reset_registry_state().await?;
    ctx.store
        .append_audit(gigmcp_store::AuditEvent {
            actor: ctx.operator().await?.username,
            action: "registry_reset".into(),
            target: "registry_state".into(),
            detail: "{}".into(),
        })
        .await?;
    println!(
        "{}",
        if had {
            "forgot the last accepted index; the next refresh or import starts afresh"
        } else {
            "no index was accepted yet"
        }
    );
    Ok(())
}

/// `registry list`: one line per server, with whether it is installed.
async fn list(
    ctx: &Context,
    registry: &Registry,
    search: Option<&str>,
    category: Option<&str>,
) -> anyhow::Result<()> {
    let catalogue = catalogue(registry).await?;
    let installed: Vec<(String, String)> = ctx
        .store
        .list_servers()
        .await?
        .into_iter()
        .filter_map(|s| match s.origin {
            ServerOrigin::Registry { version } => Some((s.name, version)),
            ServerOrigin::Local => None,
        })
        .collect();
    let cards = catalogue.cards(search, category);
    println!(
        "{:<24} {:<9} {:<16} {:<9} {:<14} {:>5}  {:<12} EGRESS",
        "NAME", "VERSION", "CATEGORY", "TIER", "AUTH", "TOOLS", "STATE"
    );
    for c in &cards {
        let state = match (
            installed.iter().find(|(n, _)| *n == c.name),
            &c.not_installable,
        ) {
            (Some((_, v)), _) => format!("installed {v}"),
            (None, Some(_)) => "not installable".into(),
            (None, None) => "installable".into(),
        };
        println!(
            "{:<24} {:<9} {:<16} {:<9} {:<14} {:>2}/{:<2}  {:<12} {}",
            c.name,
            c.version,
            c.category,
            c.tier,
            if c.auth.is_empty() {
                "none".into()
            } else {
                c.auth.join(",")
            },
            c.default_tools,
            c.tools,
            state,
            c.egress.join(",")
        );
    }
    eprintln!(
        "{} servers (index sequence {}, {})",
        cards.len(),
        catalogue.freshness.sequence,
        catalogue.freshness.url
    );
    Ok(())
}

/// The updates the new catalogue offers for installed servers.
async fn print_updates(ctx: &Context, registry: &Registry) -> anyhow::Result<()> {
    let catalogue = registry.catalogue().await?;
    for u in gigmcp_catalog::pending_updates(&ctx.store, &catalogue).await? {
        println!(
            "update available: {} {} → {}{}: `gigmcp server update {}`",
            u.name,
            u.from,
            u.to,
            if u.needs_consent {
                " (widens what it may do: needs consent)"
            } else {
                ""
            },
            u.name
        );
    }
    Ok(())
}

/// A unix-ms time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::when(1_795_000_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(super::when(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
