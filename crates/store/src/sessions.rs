//! Login sessions (web UI / control plane). Only a hash of the session secret is stored.

use sqlx::FromRow;

use crate::error::classify;
use crate::{Store, StoreError, UserId, now_millis};

/// What [`Store::create_session`] needs.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the session secret handed to the browser.
    pub id_hash: [u8; 32],
    /// Who is logged in.
    pub user: UserId,
    /// Expiry (unix ms).
    pub expires_at: i64,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session secret.
    pub id_hash: [u8; 32],
    /// Who is logged in.
    pub user: UserId,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Expiry (unix ms).
    pub expires_at: i64,
}

#[derive(FromRow)]
struct SessionRow {
    id_hash: Vec<u8>,
    user_id: i64,
    created_at: i64,
    expires_at: i64,
}

impl Store {
    /// Records a new session. `NotFound` if the user does not exist.
    pub async fn create_session(&self, new: NewSession) -> Result<Session, StoreError> {
        let now = now_millis();
        self.write(|| async {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(new.id_hash.to_vec())
            .bind(new.user.0)
            .bind(now)
            .bind(new.expires_at)
            .execute(self.pool())
            .await
            .map_err(|e| classify(e, || "session".into(), || format!("user id {}", new.user)))?;
            Ok(())
        })
        .await?;
        Ok(Session {
            id_hash: new.id_hash,
            user: new.user,
            created_at: now,
            expires_at: new.expires_at,
        })
    }

    /// The session with this hash, if it exists and has not expired.
    pub async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id_hash, user_id, created_at, expires_at FROM sessions \
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash.to_vec())
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| {
            Some(Session {
                id_hash: r.id_hash.as_slice().try_into().ok()?,
                user: UserId(r.user_id),
                created_at: r.created_at,
                expires_at: r.expires_at,
            })
        }))
    }

    /// Ends a session (logout). Returns whether it existed.
    pub async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let n = self
            .write(|| async {
                Ok(sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash.to_vec())
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            })
            .await?;
        Ok(n > 0)
    }

    /// Deletes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, StoreError> {
        let now = now_millis();
        self.write(|| async {
            Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(self.pool())
                .await?
                .rows_affected())
        })
        .await
    }
}
