//! The registry service: its settings, refresh (fetch → verify the exact bytes → keep), import,
//! and the catalogue read back from the last accepted copy.
//!
//! The stored copy is verified again with the configured keys every time it is loaded, so a
//! copy written by anyone but this code, or signed by a key that was since removed from
//! `GIG_REGISTRY_PUBKEY`, is never served. Refreshes are serialised; a caller that waited for
//! another refresh to finish gets that refresh's outcome instead of fetching again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gigmcp_proxy::Cidr;
use gigmcp_registry::sign::verifying_key_from_hex;
use gigmcp_registry::{
    Acceptance, AcceptedIndex, IndexError, VerifiedIndex, VerifyingKey, verify_index,
    verify_signature,
};
use gigmcp_store::{AcceptedIndexRecord, AuditEvent, Store};

use crate::catalogue::{Catalogue, Freshness};
use crate::error::CatalogError;
use crate::source::{FetchOptions, IndexSource, fetch};

/// Default `GIG_REGISTRY_REFRESH`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// Where `import` says the index came from.
pub const IMPORT_URL: &str = "import:";

/// The registry settings.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `GIG_REGISTRY_INDEX_URL`; `None` for import only (air-gapped).
    pub source: Option<IndexSource>,
    /// `GIG_REGISTRY_PUBKEY`: any of these may sign the index (more than one during rotation).
    pub keys: Vec<VerifyingKey>,
    /// How HTTPS fetches are made.
    pub fetch: FetchOptions,
    /// How often the gateway refreshes (`None`: only on demand).
    pub refresh_every: Option<Duration>,
}

/// The raw registry settings, as given.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings<'a> {
    pub index_url: Option<&'a str>,
    pub pubkeys: Option<&'a str>,
    pub allow_ranges: &'a [String],
    pub ca_bundle: Option<&'a Path>,
    pub refresh: Option<&'a str>,
}

impl RegistryConfig {
    /// Checks the settings. `Ok(None)` when the registry is not configured at all (no URL and
    /// no key); a URL without a key is refused (an index nobody can verify is never used).
    pub fn from_settings(s: &RegistrySettings<'_>) -> Result<Option<Self>, CatalogError> {
        let url = s.index_url.map(str::trim).filter(|u| !u.is_empty());
        let keys = s.pubkeys.map(str::trim).filter(|k| !k.is_empty());
        let keys = match (url, keys) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(CatalogError::Config {
                    setting: "GIG_REGISTRY_PUBKEY",
                    reason: "GIG_REGISTRY_INDEX_URL is set but no key to verify the index with; \
                             set the publisher's ed25519 public key (64 hex, `registryctl keygen` \
                             prints it), several separated by commas during a key rotation"
                        .into(),
                });
            }
            (_, Some(k)) => parse_keys(k)?,
        };
        let source = url.map(IndexSource::parse).transpose()?;
        let allow_ranges = s
            .allow_ranges
            .iter()
            .map(|r| {
                r.trim().parse::<Cidr>().map_err(|e| CatalogError::Config {
                    setting: "GIG_REGISTRY_ALLOW_RANGES",
                    reason: format!("{r:?}: {e}; give CIDR ranges such as 10.1.0.0/16"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ca_bundle_pem = s
            .ca_bundle
            .map(|p| {
                crate::source::read_file(p, 1024 * 1024).map_err(|reason| CatalogError::Config {
                    setting: "GIG_REGISTRY_CA_BUNDLE",
                    reason,
                })
            })
            .transpose()?;
        Ok(Some(Self {
            source,
            keys,
            fetch: FetchOptions {
                allow_ranges,
                ca_bundle_pem,
            },
            refresh_every: parse_refresh(s.refresh)?,
        }))
    }
}

fn parse_keys(text: &str) -> Result<Vec<VerifyingKey>, CatalogError> {
    text.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            verifying_key_from_hex(k).map_err(|e| CatalogError::Config {
                setting: "GIG_REGISTRY_PUBKEY",
                reason: format!(
                    "{e}; give 64 hex characters per key (`registryctl keygen` prints the public \
                     key), comma-separated"
                ),
            })
        })
        .collect()
}

/// `GIG_REGISTRY_REFRESH`: seconds, or a number with `s`, `m` or `h`; `0`/`off` disables.
fn parse_refresh(raw: Option<&str>) -> Result<Option<Duration>, CatalogError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(Some(DEFAULT_REFRESH));
    };
    if raw == "off" || raw == "0" {
        return Ok(None);
    }
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 0,
    };
    let n: u64 = digits.parse().unwrap_or(0);
    if factor == 0 || n == 0 {
        return Err(CatalogError::Config {
            setting: "GIG_REGISTRY_REFRESH",
            reason: format!("{raw:?}: give seconds or a number with s, m or h (e.g. 1h), or off"),
        });
    }
    Ok(Some(Duration::from_secs(n.saturating_mul(factor).max(60))))
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// A newer (or the first) index was accepted.
    Accepted { sequence: u64, entries: usize },
    /// The source serves the index already accepted.
    Unchanged { sequence: u64 },
}

/// The registry: settings and store.
pub struct Registry {
    store: Store,
    config: RegistryConfig,
    /// Serialises refreshes; holds the generation and outcome of the last one.
    refresh: tokio::sync::Mutex<(u64, Option<Result<Refreshed, String>>)>,
    generation: std::sync::atomic::AtomicU64,
}

impl Registry {
    pub fn new(store: Store, config: RegistryConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            config,
            refresh: tokio::sync::Mutex::new((0, None)),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The catalogue from the last accepted index, its signature checked again with the
    /// configured keys.
    pub async fn catalogue(&self) -> Result<Catalogue, CatalogError> {
        let Some(state) = self.store.registry_state().await? else {
            return Err(CatalogError::NoIndex);
        };
        // Signature first, then parse: the same order as on the way in.
        verify_signature(&state.index_bytes, &state.signature, &self.config.keys)
            .map_err(IndexError::from)?;
        let index = gigmcp_registry::Index::from_json(&state.index_bytes)?;
        Ok(Catalogue {
            index,
            freshness: Freshness {
                url: state.url,
                sequence: state.sequence,
                accepted_at: state.accepted_at,
                checked_at: state.checked_at,
                stale: state.last_error.is_some(),
                last_error: state.last_error,
            },
        })
    }

    /// Fetches the index from `GIG_REGISTRY_INDEX_URL`, verifies it and keeps it when it is
    /// newer. A failure is recorded (the stored copy is then marked stale) and returned;
    /// nothing of a refused index is kept.
    pub async fn refresh(&self) -> Result<Refreshed, CatalogError> {
        use std::sync::atomic::Ordering;
        let seen = self.generation.load(Ordering::Acquire);
        let mut last = self.refresh.lock().await;
        if last.0 > seen
            && let Some(outcome) = &last.1
        {
            // Another caller refreshed while this one waited: share its outcome.
            return outcome.clone().map_err(CatalogError::Shared);
        }
        let outcome = self.refresh_now().await;
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        *last = (
            generation,
            Some(
                outcome
                    .as_ref()
                    .map(Clone::clone)
                    .map_err(|e| e.to_string()),
            ),
        );
        outcome
    }

    async fn refresh_now(&self) -> Result<Refreshed, CatalogError> {
        let Some(source) = &self.config.source else {
            return Err(CatalogError::Config {
                setting: "GIG_REGISTRY_INDEX_URL",
                reason: "not set: this gateway takes indexes by `gigmcp registry import` only"
                    .into(),
            });
        };
        let result = async {
            let fetched = fetch(source, &self.config.fetch).await?;
            self.accept(&source.display(), &fetched.index, &fetched.signature)
                .await
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(url = %source.display(), error = %e, "registry refresh failed; the last good index stays in use");
            self.store
                .record_registry_check(Some(&e.to_string()))
                .await?;
            self.audit("registry_refresh", &source.display(), &e.to_string())
                .await?;
        }
        result
    }

    /// Verifies and keeps an index given by hand (`gigmcp registry import`), with the same
    /// rules as a refresh.
    pub async fn import(&self, index: &[u8], signature: &str) -> Result<Refreshed, CatalogError> {
        let result = self.accept(IMPORT_URL, index, signature).await;
        if let Err(e) = &result {
            self.audit("registry_import", IMPORT_URL, &e.to_string())
                .await?;
        }
        result
    }

    /// Signature over the exact bytes, parse, hashes, rollback rule; then keep it.
    async fn accept(
        &self,
        url: &str,
        bytes: &[u8],
        signature: &str,
    ) -> Result<Refreshed, CatalogError> {
        let last =
            self.store.registry_state().await?.map(|s| {
                match AcceptedIndex::parse_sha256_hex(&s.sha256) {
                    Some(sha) => AcceptedIndex::new(s.sequence, sha),
                    None => AcceptedIndex::sequence_only(s.sequence),
                }
            });
        let VerifiedIndex {
            index,
            accepted,
            acceptance,
        } = verify_index(bytes, signature, &self.config.keys, last)?;
        if acceptance == Acceptance::Unchanged {
            self.store.record_registry_check(None).await?;
            return Ok(Refreshed::Unchanged {
                sequence: index.sequence,
            });
        }
        let sha256 = accepted.sha256_hex().unwrap_or_default();
        self.store
            .save_registry_index(AcceptedIndexRecord {
                url,
                index_bytes: bytes,
                signature: signature.trim(),
                sha256: &sha256,
                sequence: index.sequence,
            })
            .await?;
        let detail = format!(
            "{{\"sequence\":{},\"entries\":{},\"sha256\":\"{sha256}\"}}",
            index.sequence,
            index.entries.len()
        );
        self.audit(
            if url == IMPORT_URL {
                "registry_import"
            } else {
                "registry_refresh"
            },
            url,
            &detail,
        )
        .await?;
        tracing::info!(
            url,
            sequence = index.sequence,
            entries = index.entries.len(),
            "registry index accepted"
        );
        Ok(Refreshed::Accepted {
            sequence: index.sequence,
            entries: index.entries.len(),
        })
    }

    async fn audit(&self, action: &str, target: &str, detail: &str) -> Result<(), CatalogError> {
        let detail = if detail.starts_with('{') {
            detail.to_owned()
        } else {
            serde_json::json!({ "error": detail }).to_string()
        };
        self.store
            .append_audit(AuditEvent {
                actor: "system".into(),
                action: action.into(),
                target: target.into(),
                detail,
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_both_or_keys_only() {
        assert!(
            RegistryConfig::from_settings(&RegistrySettings::default())
                .unwrap()
                .is_none()
        );
        let err = RegistryConfig::from_settings(&RegistrySettings {
            index_url: Some("file:///srv/index.json"),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("GIG_REGISTRY_PUBKEY"), "{err}");
        let err = RegistryConfig::from_settings(&RegistrySettings {
            pubkeys: Some("zz"),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("64 hex"), "{err}");
    }

    #[test]
    fn refresh_interval() {
        assert_eq!(parse_refresh(None).unwrap(), Some(DEFAULT_REFRESH));
        assert_eq!(
            parse_refresh(Some("2h")).unwrap(),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            parse_refresh(Some("90")).unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_refresh(Some("off")).unwrap(), None);
        assert!(parse_refresh(Some("1d")).is_err());
        assert!(parse_refresh(Some("h")).is_err());
    }
}
