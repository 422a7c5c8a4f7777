//! Per-owner install settings of a server: what the owner of a profile set up for it that is
//! not a secret. Today: host overrides of a toolpack server (the tenant host that replaces a
//! base host only a wildcard egress entry covers, e.g. `yoursubdomain.zendesk.com` →
//! `acme.zendesk.com`) and install variables (`from: install.<name>` params of its toolspec).
//!
//! The store keeps them as typed keys and bounded text; what a valid host or variable is
//! depends on the server's manifest and toolspec and is checked by the callers (the CLI when a
//! setting is saved, the gateway again when a sandbox starts).

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::{MAX_NAME_LEN, ServerId, Store, StoreError, UserId, now_millis};

/// Longest value of one install setting.
pub const MAX_SETTING_VALUE_LEN: usize = 4096;

/// Prefix of the stored key of a host override.
const HOST_PREFIX: &str = "host:";
/// Prefix of the stored key of an install variable.
const VAR_PREFIX: &str = "var:";

/// Which setting a row holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SettingKey {
    /// A host override: the base host it replaces (its value is the host used instead).
    Host(String),
    /// An install variable: its name, as in `from: install.<name>`.
    Var(String),
}

impl SettingKey {
    fn column(&self) -> String {
        match self {
            Self::Host(from) => format!("{HOST_PREFIX}{from}"),
            Self::Var(name) => format!("{VAR_PREFIX}{name}"),
        }
    }

    fn from_column(key: String) -> Result<Self, StoreError> {
        if let Some(from) = key.strip_prefix(HOST_PREFIX) {
            return Ok(Self::Host(from.to_owned()));
        }
        if let Some(name) = key.strip_prefix(VAR_PREFIX) {
            return Ok(Self::Var(name.to_owned()));
        }
        Err(StoreError::Invalid {
            field: "install_settings.key",
            reason: format!("unknown setting {key:?} in the database (written by a newer gigmcp?)"),
        })
    }
}

/// One stored install setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSetting {
    pub key: SettingKey,
    pub value: String,
    /// Last change (unix ms).
    pub updated_at: i64,
}

#[derive(FromRow)]
struct Row {
    key: String,
    value: String,
    updated_at: i64,
}

impl Store {
    /// Sets (inserts or replaces) one install setting of `server` for `owner`. `NotFound` if the
    /// server or the user does not exist.
    pub async fn set_install_setting(
        &self,
        server: ServerId,
        owner: UserId,
        key: &SettingKey,
        value: &str,
    ) -> Result<(), StoreError> {
        let column = key.column();
        bounded("install setting name", &column, MAX_NAME_LEN)?;
        bounded("install setting value", value, MAX_SETTING_VALUE_LEN)?;
        let now = now_millis();
        self.write(|| async {
            sqlx::query(
                "INSERT INTO install_settings (server_id, owner_id, key, value, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_id, owner_id, key) \
                 DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(server.0)
            .bind(owner.0)
            .bind(&column)
            .bind(value)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(|e| {
                classify(
                    e,
                    || format!("install setting {column:?}"),
                    || format!("server id {server} or user id {owner}"),
                )
            })?;
            Ok(())
        })
        .await
    }

    /// Removes one install setting; `false` if there was none.
    pub async fn delete_install_setting(
        &self,
        server: ServerId,
        owner: UserId,
        key: &SettingKey,
    ) -> Result<bool, StoreError> {
        let column = key.column();
        let removed = self
            .write(|| async {
                Ok(sqlx::query(
                    "DELETE FROM install_settings WHERE server_id = $1 AND owner_id = $2 \
                     AND key = $3",
                )
                .bind(server.0)
                .bind(owner.0)
                .bind(&column)
                .execute(self.pool())
                .await?
                .rows_affected())
            })
            .await?;
        Ok(removed > 0)
    }

    /// Every install setting of `server` for `owner`, host overrides first, each kind by name.
    pub async fn install_settings(
        &self,
        server: ServerId,
        owner: UserId,
    ) -> Result<Vec<InstallSetting>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT key, value, updated_at FROM install_settings \
             WHERE server_id = $1 AND owner_id = $2 ORDER BY key",
        )
        .bind(server.0)
        .bind(owner.0)
        .fetch_all(self.pool())
        .await?;
        let mut settings = rows
            .into_iter()
            .map(|r| {
                Ok(InstallSetting {
                    key: SettingKey::from_column(r.key)?,
                    value: r.value,
                    updated_at: r.updated_at,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        settings.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(settings)
    }
}
