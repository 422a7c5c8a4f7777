//! How the gateway authenticates to an installed server (one config per server).

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::{MAX_NAME_LEN, MAX_TEXT_LEN, ServerId, Store, StoreError, now_millis};

/// A server's auth configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The server it applies to.
    pub server: ServerId,
    /// Kind of scheme, e.g. `env`, `header`, `oauth`.
    pub kind: String,
    /// Scheme parameters as JSON text (never secrets: those live in credentials).
    pub config: String,
    /// Last change (unix ms).
    pub updated_at: i64,
}

#[derive(FromRow)]
struct Row {
    server_id: i64,
    kind: String,
    config: String,
    updated_at: i64,
}

impl Store {
    /// Sets (or replaces) the auth config of a server. `NotFound` if the server is missing.
    pub async fn put_auth_config(
        &self,
        server: ServerId,
        kind: &str,
        config_json: &str,
    ) -> Result<(), StoreError> {
        bounded("auth kind", kind, MAX_NAME_LEN)?;
        bounded("auth config", config_json, MAX_TEXT_LEN)?;
        let now = now_millis();
        self.write(|| async {
            sqlx::query(
                "INSERT INTO auth_configs (server_id, kind, config, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (server_id) DO UPDATE SET kind = excluded.kind, \
                 config = excluded.config, updated_at = excluded.updated_at",
            )
            .bind(server.0)
            .bind(kind)
            .bind(config_json)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(|e| classify(e, || "auth config".into(), || format!("server id {server}")))?;
            Ok(())
        })
        .await
    }

    /// The auth config of a server, if any.
    pub async fn auth_config(&self, server: ServerId) -> Result<Option<AuthConfig>, StoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT server_id, kind, config, updated_at FROM auth_configs WHERE server_id = $1",
        )
        .bind(server.0)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| AuthConfig {
            server: ServerId(r.server_id),
            kind: r.kind,
            config: r.config,
            updated_at: r.updated_at,
        }))
    }

    /// Removes the auth config of a server; returns whether there was one.
    pub async fn delete_auth_config(&self, server: ServerId) -> Result<bool, StoreError> {
        let n = self
            .write(|| async {
                Ok(sqlx::query("DELETE FROM auth_configs WHERE server_id = $1")
                    .bind(server.0)
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            })
            .await?;
        Ok(n > 0)
    }
}
