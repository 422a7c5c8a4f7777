//! Installed MCP servers.

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::{MAX_NAME_LEN, MAX_TEXT_LEN, ServerId, Store, StoreError, now_millis};

/// Where an installed server's code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSource {
    /// A static binary copied into the data dir; `path` is where the copy lives.
    LocalBinary {
        /// Path of the copied binary.
        path: String,
    },
    /// An OCI image pinned by digest (`host/repo@sha256:…` or `oci:DIR@sha256:…`), pulled and
    /// verified into the gateway's image cache.
    Image {
        /// The pinned reference.
        reference: String,
    },
    /// A toolpack server run by the gateway's own engine (`gigmcp-toolpack`), serving the
    /// toolspec kept in [`Server::toolspec`] under the manifest in [`Server::manifest`].
    Toolpack,
}

/// What `source_location` holds for a [`ServerSource::Toolpack`] server.
const TOOLPACK_LOCATION: &str = "builtin:gigmcp-toolpack";

impl ServerSource {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::LocalBinary { .. } => "local_binary",
            Self::Image { .. } => "oci_image",
            Self::Toolpack => "toolpack",
        }
    }

    pub(crate) fn location(&self) -> &str {
        match self {
            Self::LocalBinary { path } => path,
            Self::Image { reference } => reference,
            Self::Toolpack => TOOLPACK_LOCATION,
        }
    }

    fn from_columns(kind: &str, location: String) -> Result<Self, StoreError> {
        match kind {
            "local_binary" => Ok(Self::LocalBinary { path: location }),
            "oci_image" => Ok(Self::Image {
                reference: location,
            }),
            "toolpack" => Ok(Self::Toolpack),
            other => Err(StoreError::Invalid {
                field: "servers.source_kind",
                reason: format!(
                    "unknown server source {other:?} in the database (written by a newer gigmcp?)"
                ),
            }),
        }
    }
}

/// Where an installed server's manifest came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOrigin {
    /// Added by hand (`gigmcp server add`, `add-image`), with or without a manifest file.
    Local,
    /// Installed from the signed registry index at this version.
    Registry {
        /// The manifest version that runs.
        version: String,
    },
}

/// Who consented to a server's runtime hash, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentMark {
    /// The consenting user's name.
    pub by: String,
    /// When (unix ms).
    pub at: i64,
}

/// What [`Store::create_server`] needs.
#[derive(Debug, Clone)]
pub struct NewServer {
    /// Unique name; the type guarantees it can prefix tool names.
    pub name: crate::ServerName,
    /// Where it came from.
    pub source: ServerSource,
}

/// A row of `servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Primary key.
    pub id: ServerId,
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: ServerSource,
    /// The manifest (JSON text) of a registry install.
    pub manifest: Option<String>,
    /// Hash of the runtime (image/binary) that is installed.
    pub runtime_hash: Option<String>,
    /// Hash of the manifest permissions the admin consented to.
    pub consented_hash: Option<String>,
    /// The toolspec (JSON text) of a toolpack server: served by the gateway's engine for a
    /// [`ServerSource::Toolpack`] server, baked into the image of an image-based one.
    pub toolspec: Option<String>,
    /// Installed by hand or from the registry index.
    pub origin: ServerOrigin,
    /// Who consented to [`Server::consented_hash`], when (registry installs).
    pub consent: Option<ConsentMark>,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
}

#[derive(FromRow)]
pub(crate) struct ServerRow {
    id: i64,
    name: String,
    source_kind: String,
    source_location: String,
    manifest: Option<String>,
    runtime_hash: Option<String>,
    consented_hash: Option<String>,
    toolspec: Option<String>,
    origin: String,
    version: Option<String>,
    consented_by: Option<String>,
    consented_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

pub(crate) const SERVER_COLUMNS: &str = "s.id, s.name, s.source_kind, s.source_location, \
     s.manifest, s.runtime_hash, s.consented_hash, s.toolspec, s.origin, s.version, \
     s.consented_by, s.consented_at, s.created_at, s.updated_at";

impl TryFrom<ServerRow> for Server {
    type Error = StoreError;
    fn try_from(row: ServerRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ServerId(row.id),
            name: row.name,
            source: ServerSource::from_columns(&row.source_kind, row.source_location)?,
            manifest: row.manifest,
            runtime_hash: row.runtime_hash,
            consented_hash: row.consented_hash,
            toolspec: row.toolspec,
            origin: match (row.origin.as_str(), row.version) {
                ("registry", Some(version)) => ServerOrigin::Registry { version },
                ("local", _) => ServerOrigin::Local,
                (other, _) => {
                    return Err(StoreError::Invalid {
                        field: "servers.origin",
                        reason: format!(
                            "origin {other:?} (without a version?) in the database; written by a newer gigmcp?"
                        ),
                    });
                }
            },
            consent: match (row.consented_by, row.consented_at) {
                (Some(by), Some(at)) => Some(ConsentMark { by, at }),
                _ => None,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Store {
    /// Records a newly installed server. `Conflict` if the name is taken.
    pub async fn create_server(&self, new: NewServer) -> Result<Server, StoreError> {
        bounded("server name", &new.name, MAX_NAME_LEN)?;
        bounded("server source", new.source.location(), MAX_TEXT_LEN)?;
        let now = now_millis();
        let id: i64 = self
            .write(|| async {
                sqlx::query_scalar(
                    "INSERT INTO servers (name, source_kind, source_location, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
                )
                .bind(new.name.as_str())
                .bind(new.source.kind())
                .bind(new.source.location())
                .bind(now)
                .fetch_one(self.pool())
                .await
                .map_err(|e| {
                    classify(
                        e,
                        || format!("server named {:?}", new.name),
                        || "user".into(),
                    )
                })
            })
            .await?;
        Ok(Server {
            id: ServerId(id),
            name: new.name.into(),
            source: new.source,
            manifest: None,
            runtime_hash: None,
            consented_hash: None,
            toolspec: None,
            origin: ServerOrigin::Local,
            consent: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Looks a server up by name.
    pub async fn server_by_name(&self, name: &str) -> Result<Option<Server>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers s WHERE s.name = $1"
        ));
        let row: Option<ServerRow> = sqlx::query_as(sql)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.map(Server::try_from).transpose()
    }

    /// Looks a server up by id.
    pub async fn server(&self, id: ServerId) -> Result<Option<Server>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers s WHERE s.id = $1"
        ));
        let row: Option<ServerRow> = sqlx::query_as(sql)
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        row.map(Server::try_from).transpose()
    }

    /// Every installed server, by name.
    pub async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers s ORDER BY s.name"
        ));
        let rows: Vec<ServerRow> = sqlx::query_as(sql).fetch_all(self.pool()).await?;
        rows.into_iter().map(Server::try_from).collect()
    }

    /// Removes a server together with its profile memberships, tool selections, credentials,
    /// OAuth connections, auth config and install settings. `NotFound` if no server has that name.
    pub async fn delete_server(&self, name: &str) -> Result<(), StoreError> {
        let done = self
            .write(|| async {
                Ok(sqlx::query("DELETE FROM servers WHERE name = $1")
                    .bind(name)
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            })
            .await?;
        if done == 0 {
            return Err(StoreError::not_found(format!("server {name:?}")));
        }
        Ok(())
    }

    /// Stores the manifest (JSON text) and runtime hash of a registry install.
    pub async fn set_server_manifest(
        &self,
        id: ServerId,
        manifest: &str,
        runtime_hash: &str,
    ) -> Result<(), StoreError> {
        bounded("manifest", manifest, MAX_TEXT_LEN)?;
        bounded("runtime hash", runtime_hash, MAX_NAME_LEN)?;
        self.update_server(id, || async {
            Ok(sqlx::query(
                "UPDATE servers SET manifest = $1, runtime_hash = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(manifest)
            .bind(runtime_hash)
            .bind(now_millis())
            .bind(id.0)
            .execute(self.pool())
            .await?
            .rows_affected())
        })
        .await
    }

    /// Stores the toolspec (JSON text) of a toolpack server.
    pub async fn set_server_toolspec(
        &self,
        id: ServerId,
        toolspec: &str,
    ) -> Result<(), StoreError> {
        bounded("toolspec", toolspec, MAX_TEXT_LEN)?;
        self.update_server(id, || async {
            Ok(
                sqlx::query("UPDATE servers SET toolspec = $1, updated_at = $2 WHERE id = $3")
                    .bind(toolspec)
                    .bind(now_millis())
                    .bind(id.0)
                    .execute(self.pool())
                    .await?
                    .rows_affected(),
            )
        })
        .await
    }

    /// Records the manifest hash the admin consented to (`None` withdraws consent).
    pub async fn set_server_consent(
        &self,
        id: ServerId,
        consented_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(hash) = consented_hash {
            bounded("consented hash", hash, MAX_NAME_LEN)?;
        }
        self.update_server(id, || async {
            Ok(
                sqlx::query(
                    "UPDATE servers SET consented_hash = $1, updated_at = $2 WHERE id = $3",
                )
                .bind(consented_hash)
                .bind(now_millis())
                .bind(id.0)
                .execute(self.pool())
                .await?
                .rows_affected(),
            )
        })
        .await
    }

    async fn update_server<F, Fut>(&self, id: ServerId, op: F) -> Result<(), StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<u64, StoreError>>,
    {
        if self.write(op).await? == 0 {
            return Err(StoreError::not_found(format!("server id {id}")));
        }
        Ok(())
    }
}
