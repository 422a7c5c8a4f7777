//! OAuth connections of a user to a server. The token set itself is a credential (encrypted,
//! see `credentials`); this row holds the non-secret metadata and names that credential.

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::{MAX_NAME_LEN, MAX_TEXT_LEN, ServerId, Store, StoreError, UserId, now_millis};

/// What [`Store::put_oauth_connection`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthConnection {
    /// The user who connected.
    pub owner: UserId,
    /// The server the tokens are for.
    pub server: ServerId,
    /// Authorization server issuer URL.
    pub issuer: String,
    /// Subject at the issuer, when known.
    pub subject: Option<String>,
    /// Granted scopes, space separated.
    pub scopes: String,
    /// `credential_id` of the credential row holding the encrypted token set.
    pub credential_id: String,
    /// Access token expiry (unix ms), when known.
    pub expires_at: Option<i64>,
}

/// A stored OAuth connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConnection {
    /// Row id.
    pub id: i64,
    /// Everything given at creation/update.
    pub connection: NewOAuthConnection,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    owner_id: i64,
    server_id: i64,
    issuer: String,
    subject: Option<String>,
    scopes: String,
    credential_id: String,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for OAuthConnection {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            connection: NewOAuthConnection {
                owner: UserId(r.owner_id),
                server: ServerId(r.server_id),
                issuer: r.issuer,
                subject: r.subject,
                scopes: r.scopes,
                credential_id: r.credential_id,
                expires_at: r.expires_at,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, owner_id, server_id, issuer, subject, scopes, credential_id, \
                       expires_at, created_at, updated_at";

impl Store {
    /// Creates or replaces the OAuth connection of `owner` to `server`.
    pub async fn put_oauth_connection(&self, new: &NewOAuthConnection) -> Result<(), StoreError> {
        bounded("issuer", &new.issuer, MAX_TEXT_LEN)?;
        bounded("scopes", &new.scopes, MAX_TEXT_LEN)?;
        bounded("credential id", &new.credential_id, MAX_NAME_LEN)?;
        if let Some(subject) = &new.subject {
            bounded("subject", subject, MAX_TEXT_LEN)?;
        }
        let now = now_millis();
        self.write(|| async {
            sqlx::query(
                "INSERT INTO oauth_connections (owner_id, server_id, issuer, subject, scopes, \
                 credential_id, expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 ON CONFLICT (owner_id, server_id) DO UPDATE SET issuer = excluded.issuer, \
                 subject = excluded.subject, scopes = excluded.scopes, \
                 credential_id = excluded.credential_id, expires_at = excluded.expires_at, \
                 updated_at = excluded.updated_at",
            )
            .bind(new.owner.0)
            .bind(new.server.0)
            .bind(&new.issuer)
            .bind(new.subject.as_deref())
            .bind(&new.scopes)
            .bind(&new.credential_id)
            .bind(new.expires_at)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(|e| {
                classify(
                    e,
                    || "OAuth connection".into(),
                    || format!("user id {} or server id {}", new.owner, new.server),
                )
            })?;
            Ok(())
        })
        .await
    }

    /// The OAuth connection of `owner` to `server`, if any.
    pub async fn oauth_connection(
        &self,
        owner: UserId,
        server: ServerId,
    ) -> Result<Option<OAuthConnection>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM oauth_connections WHERE owner_id = $1 AND server_id = $2"
        ));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(owner.0)
            .bind(server.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(OAuthConnection::from))
    }

    /// All OAuth connections of a user.
    pub async fn list_oauth_connections(
        &self,
        owner: UserId,
    ) -> Result<Vec<OAuthConnection>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM oauth_connections WHERE owner_id = $1 ORDER BY server_id"
        ));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(owner.0)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(OAuthConnection::from).collect())
    }

    /// Removes an OAuth connection; returns whether it existed.
    pub async fn delete_oauth_connection(
        &self,
        owner: UserId,
        server: ServerId,
    ) -> Result<bool, StoreError> {
        let n = self
            .write(|| async {
                Ok(sqlx::query(
                    "DELETE FROM oauth_connections WHERE owner_id = $1 AND server_id = $2",
                )
                .bind(owner.0)
                .bind(server.0)
                .execute(self.pool())
                .await?
                .rows_affected())
            })
            .await?;
        Ok(n > 0)
    }
}
