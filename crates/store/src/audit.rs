//! Append-only audit log.

use sqlx::FromRow;

use crate::error::bounded;
use crate::{MAX_NAME_LEN, MAX_TEXT_LEN, Store, StoreError, now_millis};

/// Largest number of audit records one [`Store::list_audit`] call returns.
pub const MAX_AUDIT_PAGE: u32 = 10_000;

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Who did it (user name, `admin`, `system`, ...).
    pub actor: String,
    /// What was done, e.g. `profile.create`.
    pub action: String,
    /// What it was done to, e.g. the profile slug.
    pub target: String,
    /// Extra structured detail as JSON text (`{}` when there is none).
    pub detail: String,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRecord {
    /// Sequence number (increasing).
    pub id: i64,
    /// When it was recorded (unix ms).
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// JSON detail.
    pub detail: String,
}

impl Store {
    /// Appends an event to the audit log.
    pub async fn append_audit(&self, event: AuditEvent) -> Result<(), StoreError> {
        bounded("audit actor", &event.actor, MAX_NAME_LEN)?;
        bounded("audit action", &event.action, MAX_NAME_LEN)?;
        bounded("audit target", &event.target, MAX_TEXT_LEN)?;
        bounded("audit detail", &event.detail, MAX_TEXT_LEN)?;
        let at = now_millis();
        self.write(|| async {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, target, detail) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(at)
            .bind(&event.actor)
            .bind(&event.action)
            .bind(&event.target)
            .bind(&event.detail)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }

    /// The newest `limit` events (at most [`MAX_AUDIT_PAGE`]), newest first.
    pub async fn list_audit(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = i64::from(limit.min(MAX_AUDIT_PAGE));
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, target, detail FROM audit_events \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
