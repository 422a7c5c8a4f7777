//! Per-profile tool selections: which tools of a server a profile exposes.

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::{MAX_NAME_LEN, ProfileId, ServerId, Store, StoreError, flag, now_millis};

/// One explicit choice. Tools without a selection follow the gateway's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSelection {
    /// The server providing the tool.
    pub server: ServerId,
    /// The tool's name as the server reports it.
    pub tool: String,
    /// Whether the profile exposes it.
    pub enabled: bool,
}

#[derive(FromRow)]
struct Row {
    server_id: i64,
    tool_name: String,
    enabled: i64,
}

impl Store {
    /// Enables or disables one tool of a server in a profile. `NotFound` if the server is not
    /// in the profile.
    pub async fn set_tool_enabled(
        &self,
        profile: ProfileId,
        server: ServerId,
        tool: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        bounded("tool name", tool, MAX_NAME_LEN)?;
        let now = now_millis();
        self.write(|| async {
            sqlx::query(
                "INSERT INTO tool_selections (profile_id, server_id, tool_name, enabled, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (profile_id, server_id, tool_name) \
                 DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
            )
            .bind(profile.0)
            .bind(server.0)
            .bind(tool)
            .bind(i64::from(enabled))
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(|e| {
                classify(
                    e,
                    || format!("tool {tool:?}"),
                    || format!("server id {server} in profile id {profile}"),
                )
            })?;
            Ok(())
        })
        .await
    }

    /// Forgets the explicit choice for a tool (back to the default).
    pub async fn clear_tool_selection(
        &self,
        profile: ProfileId,
        server: ServerId,
        tool: &str,
    ) -> Result<(), StoreError> {
        self.write(|| async {
            sqlx::query(
                "DELETE FROM tool_selections WHERE profile_id = $1 AND server_id = $2 \
                 AND tool_name = $3",
            )
            .bind(profile.0)
            .bind(server.0)
            .bind(tool)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }

    /// Every explicit tool choice of a profile, by server then tool.
    pub async fn tool_selections(
        &self,
        profile: ProfileId,
    ) -> Result<Vec<ToolSelection>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT server_id, tool_name, enabled FROM tool_selections WHERE profile_id = $1 \
             ORDER BY server_id, tool_name",
        )
        .bind(profile.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ToolSelection {
                server: ServerId(r.server_id),
                tool: r.tool_name,
                enabled: flag(r.enabled),
            })
            .collect())
    }
}
