//! Gateway-wide secrets (not owned by a user, e.g. the egress CA), stored as opaque ciphertext
//! produced by the vault, one row per unique name.
//!
//! Like credentials, every write bumps `version`, which key rotation uses as a compare-and-swap
//! token so a concurrent [`Store::put_gateway_secret`] is never overwritten by a stale rewrap.

use std::fmt;

use sqlx::FromRow;

use crate::error::bounded;
use crate::{MAX_BLOB_LEN, MAX_NAME_LEN, MAX_REWRAP_BATCH, Store, StoreError, now_millis};

/// A gateway secret row including its ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredGatewaySecret {
    /// Unique name, e.g. `egress-ca`.
    pub name: String,
    /// Vault ciphertext.
    pub ciphertext: Vec<u8>,
    /// Id of the key-encryption key the ciphertext's DEK is wrapped under.
    pub kek_id: String,
    /// Write counter (compare-and-swap token).
    pub version: i64,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
}

impl fmt::Debug for StoredGatewaySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredGatewaySecret")
            .field("name", &self.name)
            .field("ciphertext_len", &self.ciphertext.len())
            .field("kek_id", &self.kek_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// One rewrapped gateway secret to write back if the row is still at `expected_version`.
#[derive(Debug, Clone)]
pub struct GatewaySecretCas {
    /// Name of the row to update.
    pub name: String,
    /// The version the ciphertext was read at.
    pub expected_version: i64,
    /// The new ciphertext.
    pub ciphertext: Vec<u8>,
    /// KEK id of the new ciphertext.
    pub kek_id: String,
}

#[derive(FromRow)]
struct Row {
    name: String,
    ciphertext: Vec<u8>,
    kek_id: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for StoredGatewaySecret {
    fn from(r: Row) -> Self {
        Self {
            name: r.name,
            ciphertext: r.ciphertext,
            kek_id: r.kek_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "name, ciphertext, kek_id, version, created_at, updated_at";

const UPSERT: &str = "INSERT INTO gateway_secrets (name, ciphertext, kek_id, version, \
     created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4) \
     ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, \
     kek_id = excluded.kek_id, version = gateway_secrets.version + 1, \
     updated_at = excluded.updated_at";

const INSERT_IF_ABSENT: &str = "INSERT INTO gateway_secrets (name, ciphertext, kek_id, version, \
     created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4) ON CONFLICT (name) DO NOTHING";

fn check_new(name: &str, ciphertext: &[u8], kek_id: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::Invalid {
            field: "gateway secret name",
            reason: "empty".into(),
        });
    }
    bounded("gateway secret name", name, MAX_NAME_LEN)?;
    bounded("KEK id", kek_id, MAX_NAME_LEN)?;
    if ciphertext.len() > MAX_BLOB_LEN {
        return Err(StoreError::Invalid {
            field: "ciphertext",
            reason: format!("{} bytes, at most {MAX_BLOB_LEN} allowed", ciphertext.len()),
        });
    }
    Ok(())
}

impl Store {
    /// The gateway secret `name`, with its ciphertext.
    pub async fn gateway_secret(
        &self,
        name: &str,
    ) -> Result<Option<StoredGatewaySecret>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gateway_secrets WHERE name = $1"
        ));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(StoredGatewaySecret::from))
    }

    /// Creates or replaces the gateway secret `name` (a replacement bumps its version).
    pub async fn put_gateway_secret(
        &self,
        name: &str,
        ciphertext: Vec<u8>,
        kek_id: &str,
    ) -> Result<(), StoreError> {
        check_new(name, &ciphertext, kek_id)?;
        let now = now_millis();
        self.write(|| async {
            sqlx::query(UPSERT)
                .bind(name)
                .bind(ciphertext.as_slice())
                .bind(kek_id)
                .bind(now)
                .execute(self.pool())
                .await?;
            Ok(())
        })
        .await
    }

    /// Creates the gateway secret `name` unless it exists; returns whether it was written.
    /// Several gateways starting at once on one database agree on the first value written.
    pub async fn create_gateway_secret(
        &self,
        name: &str,
        ciphertext: Vec<u8>,
        kek_id: &str,
    ) -> Result<bool, StoreError> {
        check_new(name, &ciphertext, kek_id)?;
        let now = now_millis();
        let n = self
            .write(|| async {
                Ok(sqlx::query(INSERT_IF_ABSENT)
                    .bind(name)
                    .bind(ciphertext.as_slice())
                    .bind(kek_id)
                    .bind(now)
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            })
            .await?;
        Ok(n > 0)
    }

    /// Deletes the gateway secret `name`; returns whether it existed.
    pub async fn delete_gateway_secret(&self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .write(|| async {
                Ok(sqlx::query("DELETE FROM gateway_secrets WHERE name = $1")
                    .bind(name)
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            })
            .await?;
        Ok(n > 0)
    }

    /// How many gateway secrets sit under each KEK id, by KEK id.
    pub async fn count_gateway_secrets_by_kek(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kek_id, COUNT(*) FROM gateway_secrets GROUP BY kek_id ORDER BY kek_id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// Up to `limit` gateway secrets (at most [`MAX_REWRAP_BATCH`]) whose KEK id is not
    /// `target_kek_id` and whose name sorts after `after`, in name order.
    /// Rotation pages through this with `after` = the last name it saw.
    pub async fn gateway_secrets_to_rewrap(
        &self,
        target_kek_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredGatewaySecret>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gateway_secrets WHERE kek_id <> $1 AND name > $2 \
             ORDER BY name LIMIT $3"
        ));
        // Names are never empty, so "" sorts before every one of them.
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(target_kek_id)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit.clamp(1, MAX_REWRAP_BATCH)))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(StoredGatewaySecret::from).collect())
    }

    /// Writes rewrapped gateway secrets in one transaction. A row is only updated if its
    /// version still equals `expected_version`; rows changed (or deleted) meanwhile are left
    /// alone and their names returned.
    pub async fn apply_gateway_secret_rewraps(
        &self,
        updates: &[GatewaySecretCas],
    ) -> Result<Vec<String>, StoreError> {
        if updates.len() > MAX_REWRAP_BATCH as usize {
            return Err(StoreError::Invalid {
                field: "gateway secrets",
                reason: format!("{} in one call, at most {MAX_REWRAP_BATCH}", updates.len()),
            });
        }
        for u in updates {
            bounded("KEK id", &u.kek_id, MAX_NAME_LEN)?;
            if u.ciphertext.len() > MAX_BLOB_LEN {
                return Err(StoreError::Invalid {
                    field: "ciphertext",
                    reason: format!(
                        "{} bytes, at most {MAX_BLOB_LEN} allowed",
                        u.ciphertext.len()
                    ),
                });
            }
        }
        let now = now_millis();
        self.write(|| async {
            let mut tx = self.begin_write().await?;
            let mut stale = Vec::new();
            for u in updates {
                let n = sqlx::query(
                    "UPDATE gateway_secrets SET ciphertext = $1, kek_id = $2, \
                     version = version + 1, updated_at = $3 WHERE name = $4 AND version = $5",
                )
                .bind(u.ciphertext.as_slice())
                .bind(u.kek_id.as_str())
                .bind(now)
                .bind(u.name.as_str())
                .bind(u.expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    stale.push(u.name.clone());
                }
            }
            tx.commit().await?;
            Ok(stale)
        })
        .await
    }
}
