//! What installing from the signed registry index keeps: the last accepted index (served as the
//! catalogue through outages and restarts), servers installed or updated from it together with
//! the consent that allowed it, and the history of consents.
//!
//! An install or an update is one transaction: the server row (manifest, toolspec, runtime hash,
//! the consented hash and who consented), a row of `consents` with the document that was shown,
//! and the audit event. Either all of it is written or none.

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::servers::{ConsentMark, ServerOrigin};
use crate::{
    MAX_NAME_LEN, MAX_TEXT_LEN, Server, ServerId, ServerName, ServerSource, Store, StoreError,
    now_millis,
};

/// Largest index the store keeps (the registry's own parse limit).
pub const MAX_INDEX_BYTES: usize = 64 * 1024 * 1024;

/// The last accepted registry index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryState {
    /// Where it was fetched from (`file://…`, `https://…`, or `import:` for an air-gapped import).
    pub url: String,
    /// Its exact bytes, as verified.
    pub index_bytes: Vec<u8>,
    /// Its signature (hex).
    pub signature: String,
    /// sha256 of `index_bytes` (hex).
    pub sha256: String,
    /// Its `sequence`.
    pub sequence: u64,
    /// When it was accepted (unix ms).
    pub accepted_at: i64,
    /// When a refresh was last tried (unix ms).
    pub checked_at: i64,
    /// Why the last refresh failed, if it did.
    pub last_error: Option<String>,
}

#[derive(FromRow)]
struct StateRow {
    url: String,
    index_bytes: Vec<u8>,
    signature: String,
    sha256: String,
    sequence: i64,
    accepted_at: i64,
    checked_at: i64,
    last_error: Option<String>,
}

/// A verified index to keep as the last accepted one.
#[derive(Debug, Clone, Copy)]
pub struct AcceptedIndexRecord<'a> {
    pub url: &'a str,
    pub index_bytes: &'a [u8],
    pub signature: &'a str,
    pub sha256: &'a str,
    pub sequence: u64,
}

/// A server version from the index, consented to: what [`Store::install_registry_server`] and
/// [`Store::update_registry_server`] write.
#[derive(Debug, Clone)]
pub struct RegistryRelease {
    /// How it runs (an image by digest, or the built-in toolpack engine).
    pub source: ServerSource,
    /// The manifest version.
    pub version: String,
    /// The manifest (JSON text).
    pub manifest: String,
    /// Its runtime hash (what consent covers).
    pub runtime_hash: String,
    /// The toolspec (JSON text) of a toolpack server.
    pub toolspec: Option<String>,
    /// Who consented.
    pub actor: String,
    /// The consent document shown (text), kept in `consents`.
    pub document: String,
}

/// One consent given, as kept in the history.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ConsentRecord {
    pub server_name: String,
    pub version: String,
    pub runtime_hash: String,
    /// `install` or `update`.
    pub decision: String,
    pub actor: String,
    pub document: String,
    pub at: i64,
}

fn check_release(r: &RegistryRelease) -> Result<(), StoreError> {
    bounded("server source", r.source.location(), MAX_TEXT_LEN)?;
    bounded("version", &r.version, MAX_NAME_LEN)?;
    bounded("manifest", &r.manifest, MAX_TEXT_LEN)?;
    bounded("runtime hash", &r.runtime_hash, MAX_NAME_LEN)?;
    bounded("consenting user", &r.actor, MAX_NAME_LEN)?;
    bounded("consent document", &r.document, MAX_TEXT_LEN)?;
    if let Some(spec) = &r.toolspec {
        bounded("toolspec", spec, MAX_TEXT_LEN)?;
    }
    Ok(())
}

impl Store {
    /// The last accepted index, if one was ever accepted.
    pub async fn registry_state(&self) -> Result<Option<RegistryState>, StoreError> {
        let row: Option<StateRow> = sqlx::query_as(
            "SELECT url, index_bytes, signature, sha256, sequence, accepted_at, checked_at, \
             last_error FROM registry_state WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(RegistryState {
                url: r.url,
                index_bytes: r.index_bytes,
                signature: r.signature,
                sha256: r.sha256,
                sequence: u64::try_from(r.sequence).map_err(|_| StoreError::Invalid {
                    field: "registry_state.sequence",
                    reason: format!("negative sequence {} in the database", r.sequence),
                })?,
                accepted_at: r.accepted_at,
                checked_at: r.checked_at,
                last_error: r.last_error,
            })
        })
        .transpose()
    }

    /// Keeps `index` as the last accepted index (replacing the previous one) and clears the
    /// last refresh error. The caller verified it, sequence rule included.
    pub async fn save_registry_index(
        &self,
        index: AcceptedIndexRecord<'_>,
    ) -> Result<(), StoreError> {
        bounded("index url", index.url, MAX_TEXT_LEN)?;
        bounded("index signature", index.signature, MAX_NAME_LEN)?;
        bounded("index sha256", index.sha256, MAX_NAME_LEN)?;
        if index.index_bytes.len() > MAX_INDEX_BYTES {
            return Err(StoreError::Invalid {
                field: "index",
                reason: format!(
                    "{} bytes, more than the {MAX_INDEX_BYTES} the store keeps",
                    index.index_bytes.len()
                ),
            });
        }
        let sequence = i64::try_from(index.sequence).map_err(|_| StoreError::Invalid {
            field: "index sequence",
            reason: format!("{} does not fit the store", index.sequence),
        })?;
        let now = now_millis();
        self.write(|| async {
            sqlx::query(
                "INSERT INTO registry_state (id, url, index_bytes, signature, sha256, sequence, \
                 accepted_at, checked_at, last_error) VALUES (1, $1, $2, $3, $4, $5, $6, $6, NULL) \
                 ON CONFLICT (id) DO UPDATE SET url = excluded.url, \
                 index_bytes = excluded.index_bytes, signature = excluded.signature, \
                 sha256 = excluded.sha256, sequence = excluded.sequence, \
                 accepted_at = excluded.accepted_at, checked_at = excluded.checked_at, \
                 last_error = NULL",
            )
            .bind(index.url)
            .bind(index.index_bytes)
            .bind(index.signature)
            .bind(index.sha256)
            .bind(sequence)
            .bind(now)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }

    /// Records a refresh attempt that kept the stored index (unchanged, or refused with
    /// `error`). Nothing is recorded when no index was ever accepted.
    pub async fn record_registry_check(&self, error: Option<&str>) -> Result<(), StoreError> {
        if let Some(e) = error {
            bounded("refresh error", e, MAX_TEXT_LEN)?;
        }
        let now = now_millis();
        self.write(|| async {
            sqlx::query("UPDATE registry_state SET checked_at = $1, last_error = $2 WHERE id = 1")
                .bind(now)
                .bind(error)
                .execute(self.pool())
                .await?;
            Ok(())
        })
        .await
    }

    /// Forgets the last accepted index, so that the next refresh accepts any validly signed
    /// one, an older one included. Returns whether there was one.
    pub async fn reset_registry_state(&self) -> Result<bool, StoreError> {
        self.write(|| async {
            Ok(sqlx::query("DELETE FROM registry_state WHERE id = 1")
                .execute(self.pool())
                .await?
                .rows_affected()
                > 0)
        })
        .await
    }

    /// Installs `name` from the index with the consent given: the server row, the consent
    /// history row and the `server_install` audit event, in one transaction. `Conflict` when
    /// the name is taken.
    pub async fn install_registry_server(
        &self,
        name: &ServerName,
        release: &RegistryRelease,
    ) -> Result<Server, StoreError> {
        bounded("server name", name, MAX_NAME_LEN)?;
        check_release(release)?;
        let now = now_millis();
        let id: i64 = self
            .write(|| async {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO servers (name, source_kind, source_location, manifest, \
                     runtime_hash, consented_hash, toolspec, origin, version, consented_by, \
                     consented_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5, $6, 'registry', $7, $8, $9, $9, $9) \
                     RETURNING id",
                )
                .bind(name.as_str())
                .bind(release.source.kind())
                .bind(release.source.location())
                .bind(&release.manifest)
                .bind(&release.runtime_hash)
                .bind(release.toolspec.as_deref())
                .bind(&release.version)
                .bind(&release.actor)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| classify(e, || format!("server named {name:?}"), || "user".into()))?;
                record_consent(&mut tx, name, release, "install", now).await?;
                tx.commit().await?;
                Ok(id)
            })
            .await?;
        Ok(Server {
            id: ServerId(id),
            name: name.to_string(),
            source: release.source.clone(),
            manifest: Some(release.manifest.clone()),
            runtime_hash: Some(release.runtime_hash.clone()),
            consented_hash: Some(release.runtime_hash.clone()),
            toolspec: release.toolspec.clone(),
            origin: ServerOrigin::Registry {
                version: release.version.clone(),
            },
            consent: Some(ConsentMark {
                by: release.actor.clone(),
                at: now,
            }),
            created_at: now,
            updated_at: now,
        })
    }

    /// Moves installed server `name` to `release` (consented): source, manifest, toolspec,
    /// runtime and consented hash, version; with the consent row and the `server_update` audit
    /// event, in one transaction. A running sandbox of the server is restarted on its next use
    /// (its row's `updated_at` changed). `NotFound` when no such server is installed.
    pub async fn update_registry_server(
        &self,
        name: &ServerName,
        release: &RegistryRelease,
    ) -> Result<(), StoreError> {
        check_release(release)?;
        let now = now_millis();
        let changed = self
            .write(|| async {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE servers SET source_kind = $1, source_location = $2, manifest = $3, \
                     runtime_hash = $4, consented_hash = $4, toolspec = $5, origin = 'registry', \
                     version = $6, consented_by = $7, consented_at = $8, updated_at = $8 \
                     WHERE name = $9",
                )
                .bind(release.source.kind())
                .bind(release.source.location())
                .bind(&release.manifest)
                .bind(&release.runtime_hash)
                .bind(release.toolspec.as_deref())
                .bind(&release.version)
                .bind(&release.actor)
                .bind(now)
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed > 0 {
                    record_consent(&mut tx, name, release, "update", now).await?;
                }
                tx.commit().await?;
                Ok(changed)
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::not_found(format!("server {name:?}")));
        }
        Ok(())
    }

    /// The consents given for servers named `name`, oldest first (kept after uninstall).
    pub async fn consents(&self, name: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT server_name, version, runtime_hash, decision, actor, document, at \
             FROM consents WHERE server_name = $1 ORDER BY id",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?)
    }

    /// Slugs of the profiles that hold server `id`, by slug.
    pub async fn profiles_using(&self, id: ServerId) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT p.slug FROM profiles p JOIN profile_servers ps ON ps.profile_id = p.id \
             WHERE ps.server_id = $1 ORDER BY p.slug",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?)
    }
}

async fn record_consent(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &ServerName,
    release: &RegistryRelease,
    decision: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO consents (server_name, version, runtime_hash, decision, actor, document, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(name.as_str())
    .bind(&release.version)
    .bind(&release.runtime_hash)
    .bind(decision)
    .bind(&release.actor)
    .bind(&release.document)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let detail = serde_json::json!({
        "version": release.version,
        "runtime_hash": release.runtime_hash,
        "source": release.source.location(),
    })
    .to_string();
    sqlx::query(
        "INSERT INTO audit_events (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(&release.actor)
    .bind(format!("server_{decision}"))
    .bind(name.as_str())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
