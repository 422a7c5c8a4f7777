//! Per-user credentials for installed servers, stored as opaque ciphertext produced by the vault.
//!
//! Every write bumps `version`, which key rotation uses as a compare-and-swap token so a
//! concurrent `put_credential` is never overwritten by a stale rewrap.

use std::fmt;

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::{
    CredentialRowId, MAX_BLOB_LEN, MAX_NAME_LEN, ServerId, Store, StoreError, UserId, now_millis,
};

/// Largest batch [`Store::credentials_to_rewrap`] returns.
pub const MAX_REWRAP_BATCH: u32 = 10_000;

/// A credential row including its ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// Row id.
    pub id: CredentialRowId,
    /// The user it belongs to.
    pub owner: UserId,
    /// The server it is for.
    pub server: ServerId,
    /// Name of the credential within (owner, server), e.g. an environment variable name.
    pub credential_id: String,
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

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("server", &self.server)
            .field("credential_id", &self.credential_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .field("kek_id", &self.kek_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A credential without its ciphertext, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialMeta {
    /// The user it belongs to.
    pub owner: UserId,
    /// That user's name.
    pub owner_name: String,
    /// The server it is for.
    pub server: ServerId,
    /// That server's name.
    pub server_name: String,
    /// Name of the credential.
    pub credential_id: String,
    /// KEK id it is wrapped under.
    pub kek_id: String,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
}

/// One credential to write with [`Store::put_credentials`].
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The user it belongs to.
    pub owner: UserId,
    /// The server it is for.
    pub server: ServerId,
    /// Name of the credential.
    pub credential_id: String,
    /// Vault ciphertext.
    pub ciphertext: Vec<u8>,
    /// KEK id of the ciphertext.
    pub kek_id: String,
}

/// One rewrapped ciphertext to write back if the row is still at `expected_version`.
#[derive(Debug, Clone)]
pub struct CasUpdate {
    /// Row to update.
    pub id: CredentialRowId,
    /// The version the ciphertext was read at.
    pub expected_version: i64,
    /// The new ciphertext.
    pub ciphertext: Vec<u8>,
    /// KEK id of the new ciphertext.
    pub kek_id: String,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    owner_id: i64,
    server_id: i64,
    credential_id: String,
    ciphertext: Vec<u8>,
    kek_id: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for StoredCredential {
    fn from(r: Row) -> Self {
        Self {
            id: CredentialRowId(r.id),
            owner: UserId(r.owner_id),
            server: ServerId(r.server_id),
            credential_id: r.credential_id,
            ciphertext: r.ciphertext,
            kek_id: r.kek_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const UPSERT: &str = "INSERT INTO credentials (owner_id, server_id, credential_id, ciphertext, \
     kek_id, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) \
     ON CONFLICT (owner_id, server_id, credential_id) DO UPDATE SET \
     ciphertext = excluded.ciphertext, kek_id = excluded.kek_id, \
     version = credentials.version + 1, updated_at = excluded.updated_at";

fn check_new(credential_id: &str, ciphertext: &[u8], kek_id: &str) -> Result<(), StoreError> {
    bounded("credential id", credential_id, MAX_NAME_LEN)?;
    bounded("KEK id", kek_id, MAX_NAME_LEN)?;
    if ciphertext.len() > MAX_BLOB_LEN {
        return Err(StoreError::Invalid {
            field: "ciphertext",
            reason: format!("{} bytes, at most {MAX_BLOB_LEN} allowed", ciphertext.len()),
        });
    }
    Ok(())
}

/// Rows per rewrap `UPDATE` (4 parameters each; stays below SQLite's parameter limit).
const REWRAP_ROWS_PER_STATEMENT: usize = 1_000;

/// One `UPDATE … FROM (VALUES …)` for `rows` rewraps, compare-and-swap on `version`, returning
/// the ids it changed. Unnamed `VALUES` columns are `column1..4` in SQLite and PostgreSQL alike.
fn rewrap_statement(rows: usize) -> String {
    let mut sql = String::from(
        "UPDATE credentials SET ciphertext = v.column3, kek_id = v.column4, \
         version = credentials.version + 1, updated_at = $1 FROM (VALUES ",
    );
    for r in 0..rows {
        let p = 2 + r * 4;
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${}, ${}, ${})", p, p + 1, p + 2, p + 3));
    }
    sql.push_str(
        ") AS v WHERE credentials.id = v.column1 AND credentials.version = v.column2 \
         RETURNING credentials.id",
    );
    sql
}

const COLUMNS: &str = "id, owner_id, server_id, credential_id, ciphertext, kek_id, version, \
                       created_at, updated_at";

impl Store {
    /// Creates or replaces the credential `credential_id` of `owner` for `server`.
    /// `NotFound` if the user or server does not exist.
    pub async fn put_credential(
        &self,
        owner: UserId,
        server: ServerId,
        credential_id: &str,
        ciphertext: Vec<u8>,
        kek_id: &str,
    ) -> Result<(), StoreError> {
        check_new(credential_id, &ciphertext, kek_id)?;
        let now = now_millis();
        self.write(|| async {
            sqlx::query(UPSERT)
                .bind(owner.0)
                .bind(server.0)
                .bind(credential_id)
                .bind(ciphertext.as_slice())
                .bind(kek_id)
                .bind(now)
                .execute(self.pool())
                .await
                .map_err(|e| {
                    classify(
                        e,
                        || format!("credential {credential_id:?}"),
                        || format!("user id {owner} or server id {server}"),
                    )
                })?;
            Ok(())
        })
        .await
    }

    /// Creates or replaces many credentials in one transaction (at most
    /// [`MAX_REWRAP_BATCH`] per call): all of them are written, or none.
    pub async fn put_credentials(&self, items: &[NewCredential]) -> Result<(), StoreError> {
        if items.len() > MAX_REWRAP_BATCH as usize {
            return Err(StoreError::Invalid {
                field: "credentials",
                reason: format!("{} in one call, at most {MAX_REWRAP_BATCH}", items.len()),
            });
        }
        for c in items {
            check_new(&c.credential_id, &c.ciphertext, &c.kek_id)?;
        }
        let now = now_millis();
        self.write(|| async {
            let mut tx = self.begin_write().await?;
            for c in items {
                sqlx::query(UPSERT)
                    .bind(c.owner.0)
                    .bind(c.server.0)
                    .bind(c.credential_id.as_str())
                    .bind(c.ciphertext.as_slice())
                    .bind(c.kek_id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        classify(
                            e,
                            || format!("credential {:?}", c.credential_id),
                            || format!("user id {} or server id {}", c.owner, c.server),
                        )
                    })?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Up to `limit` credentials (at most [`MAX_REWRAP_BATCH`]) with row id greater than
    /// `after`, in row-id order, with ciphertext: for full scans (verification, export).
    pub async fn credentials_page(
        &self,
        after: Option<CredentialRowId>,
        limit: u32,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM credentials WHERE id > $1 ORDER BY id LIMIT $2"
        ));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(after.map_or(i64::MIN, |a| a.0))
            .bind(i64::from(limit.clamp(1, MAX_REWRAP_BATCH)))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(StoredCredential::from).collect())
    }

    /// The credential `credential_id` of `owner` for `server`, with its ciphertext.
    pub async fn credential(
        &self,
        owner: UserId,
        server: ServerId,
        credential_id: &str,
    ) -> Result<Option<StoredCredential>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM credentials WHERE owner_id = $1 AND server_id = $2 \
             AND credential_id = $3"
        ));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(owner.0)
            .bind(server.0)
            .bind(credential_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(StoredCredential::from))
    }

    /// Every credential of `owner` for `server`, with ciphertext, by credential id.
    pub async fn server_credentials(
        &self,
        owner: UserId,
        server: ServerId,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM credentials WHERE owner_id = $1 AND server_id = $2 \
             ORDER BY credential_id"
        ));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(owner.0)
            .bind(server.0)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(StoredCredential::from).collect())
    }

    /// Metadata (never ciphertext) of every credential, or of one user's.
    pub async fn list_credentials(
        &self,
        owner: Option<UserId>,
    ) -> Result<Vec<CredentialMeta>, StoreError> {
        #[derive(FromRow)]
        struct MetaRow {
            owner_id: i64,
            username: String,
            server_id: i64,
            name: String,
            credential_id: String,
            kek_id: String,
            created_at: i64,
            updated_at: i64,
        }
        let rows: Vec<MetaRow> = sqlx::query_as(
            "SELECT c.owner_id, u.username, c.server_id, s.name, c.credential_id, c.kek_id, \
             c.created_at, c.updated_at FROM credentials c \
             JOIN users u ON u.id = c.owner_id JOIN servers s ON s.id = c.server_id \
             WHERE ($1 = 1 OR c.owner_id = $2) ORDER BY u.username, s.name, c.credential_id",
        )
        .bind(i64::from(owner.is_none()))
        .bind(owner.map_or(0, |o| o.0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CredentialMeta {
                owner: UserId(r.owner_id),
                owner_name: r.username,
                server: ServerId(r.server_id),
                server_name: r.name,
                credential_id: r.credential_id,
                kek_id: r.kek_id,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
            .collect())
    }

    /// Deletes a credential; returns whether it existed.
    pub async fn delete_credential(
        &self,
        owner: UserId,
        server: ServerId,
        credential_id: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .write(|| async {
                Ok(sqlx::query(
                    "DELETE FROM credentials WHERE owner_id = $1 AND server_id = $2 \
                     AND credential_id = $3",
                )
                .bind(owner.0)
                .bind(server.0)
                .bind(credential_id)
                .execute(self.pool())
                .await?
                .rows_affected())
            })
            .await?;
        Ok(n > 0)
    }

    /// How many credentials sit under each KEK id, by KEK id.
    pub async fn count_credentials_by_kek(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kek_id, COUNT(*) FROM credentials GROUP BY kek_id ORDER BY kek_id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// Up to `limit` credentials (at most [`MAX_REWRAP_BATCH`]) whose KEK id is not
    /// `target_kek_id` and whose row id is greater than `after`, in row-id order.
    /// Rotation pages through this with `after` = the last id it saw.
    pub async fn credentials_to_rewrap(
        &self,
        target_kek_id: &str,
        after: Option<CredentialRowId>,
        limit: u32,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM credentials WHERE kek_id <> $1 AND id > $2 ORDER BY id LIMIT $3"
        ));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(target_kek_id)
            .bind(after.map_or(i64::MIN, |a| a.0))
            .bind(i64::from(limit.clamp(1, MAX_REWRAP_BATCH)))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(StoredCredential::from).collect())
    }

    /// Writes rewrapped ciphertexts in one transaction. A row is only updated if its version
    /// still equals `expected_version`; rows changed meanwhile are left alone and returned.
    pub async fn apply_rewraps(
        &self,
        updates: &[CasUpdate],
    ) -> Result<Vec<CredentialRowId>, StoreError> {
        for u in updates {
            bounded("KEK id", &u.kek_id, MAX_NAME_LEN)?;
        }
        let now = now_millis();
        self.write(|| async {
            let mut tx = self.begin_write().await?;
            let mut applied = std::collections::HashSet::with_capacity(updates.len());
            for chunk in updates.chunks(REWRAP_ROWS_PER_STATEMENT) {
                let sql = sqlx::AssertSqlSafe(rewrap_statement(chunk.len()));
                let mut query = sqlx::query_scalar::<_, i64>(sql).bind(now);
                for u in chunk {
                    query = query
                        .bind(u.id.0)
                        .bind(u.expected_version)
                        .bind(u.ciphertext.as_slice())
                        .bind(u.kek_id.as_str());
                }
                applied.extend(query.fetch_all(&mut *tx).await?);
            }
            tx.commit().await?;
            Ok(updates
                .iter()
                .map(|u| u.id)
                .filter(|id| !applied.contains(&id.0))
                .collect())
        })
        .await
    }
}
