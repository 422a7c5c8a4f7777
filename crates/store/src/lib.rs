#![forbid(unsafe_code)]
//! Gig'MCP persistence: one repository API over SQLite (default) and PostgreSQL.
//!
//! Both drivers go through sqlx's `Any` driver with the same SQL (`$1..$N` placeholders, times as
//! i64 unix milliseconds, flags as 0/1 integers, blobs as BLOB/BYTEA). Each backend has its own
//! migration folder (`migrations/sqlite`, `migrations/postgres`), applied by [`Store::connect`].
//!
//! SQLite writes are serialised inside the process (one writer at a time, `BEGIN IMMEDIATE`) and
//! retried on `SQLITE_BUSY` with back-off, so "database is locked" never reaches a caller while
//! another process holds the lock for less than the retry budget.
//!
//! A SQLite database is private to the account the gateway runs as: its directory 0700, the
//! database and its `-wal`/`-shm`/`-journal` files 0600, checked and narrowed at every
//! [`Store::connect`] (see `sqlite_files`).

mod audit;
mod auth_configs;
mod credentials;
mod error;
mod gateway_secrets;
mod ids;
mod install_settings;
mod name;
mod oauth;
mod profiles;
mod registry;
mod servers;
mod sessions;
mod sqlite_files;
mod tools;
mod url;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Transaction};

pub use audit::{AuditEvent, AuditRecord};
pub use auth_configs::AuthConfig;
pub use credentials::{
    CasUpdate, CredentialMeta, MAX_REWRAP_BATCH, NewCredential, StoredCredential,
};
pub use error::StoreError;
pub use gateway_secrets::{GatewaySecretCas, StoredGatewaySecret};
pub use ids::{CredentialRowId, ProfileId, ServerId, UserId};
pub use install_settings::{InstallSetting, MAX_SETTING_VALUE_LEN, SettingKey};
pub use name::{NameError, ServerName, Slug};
pub use oauth::{NewOAuthConnection, OAuthConnection};
pub use profiles::{NewProfile, Profile, ProfileSummary};
pub use registry::{
    AcceptedIndexRecord, ConsentRecord, MAX_INDEX_BYTES, RegistryRelease, RegistryState,
};
pub use servers::{ConsentMark, NewServer, Server, ServerOrigin, ServerSource};
pub use sessions::{NewSession, Session};
pub use tools::ToolSelection;
pub use url::{SQLITE_FILE_NAME, StoreUrl};
pub use users::{Role, User};

/// Longest name/slug/credential id the store accepts (callers validate the exact syntax).
pub(crate) const MAX_NAME_LEN: usize = 256;
/// Longest free text (paths, JSON documents, audit details) the store accepts.
pub(crate) const MAX_TEXT_LEN: usize = 1 << 20;
/// Largest ciphertext the store accepts.
pub(crate) const MAX_BLOB_LEN: usize = 1 << 20;

/// How long SQLite waits for a lock held by another process before reporting BUSY.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;
/// Retries after a BUSY error (each after an exponential back-off capped at 500 ms).
const MAX_BUSY_RETRIES: u32 = 20;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine backs a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// Handle to the database. Cheap to clone; all clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time: writers of this process queue here instead of
    /// fighting over the file lock. `None` for PostgreSQL.
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    ///
    /// SQLite: the directory holding the database is created 0700 when missing; the database and
    /// its `-wal`/`-shm`/`-journal` files are made 0600 (a wider mode found on them or on the
    /// directory is narrowed with a warning); an entry owned by another uid, or a mode that cannot
    /// be narrowed, fails with [`StoreError::Permissions`] naming the path and the fix.
    pub async fn connect(url: &StoreUrl) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let connect_url = url.connect_url()?;
        match url {
            StoreUrl::Sqlite { path } => {
                // Before SQLite creates anything: the directory 0700, the database file 0600
                // (SQLite gives its -wal/-shm/-journal files the database file's mode).
                sqlite_files::prepare(path)?;
                // journal_mode needs an exclusive lock that busy_timeout cannot wait for, so set
                // it once on a lone connection; WAL is then persistent in the file.
                let mut conn = AnyConnection::connect(&connect_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"
                )))
                .execute(&mut conn)
                .await?;
                sqlx::raw_sql("PRAGMA journal_mode = WAL")
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA foreign_keys = ON".to_owned(),
                                format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"),
                                "PRAGMA synchronous = FULL".to_owned(),
                            ] {
                                sqlx::raw_sql(sqlx::AssertSqlSafe(pragma))
                                    .execute(&mut *conn)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&connect_url)
                    .await?;
                let store = Self {
                    pool,
                    backend: Backend::Sqlite,
                    write_lock: Some(Arc::new(tokio::sync::Mutex::new(()))),
                };
                store
                    .write(|| async { Ok(SQLITE_MIGRATOR.run(&store.pool).await?) })
                    .await?;
                // The -wal and -shm files exist now.
                sqlite_files::recheck(path)?;
                Ok(store)
            }
            StoreUrl::Postgres { .. } => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(&connect_url)
                    .await?;
                POSTGRES_MIGRATOR.run(&pool).await?;
                Ok(Self {
                    pool,
                    backend: Backend::Postgres,
                    write_lock: None,
                })
            }
        }
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every pooled connection (call before exiting to checkpoint SQLite cleanly).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (take the write lock up front so
    /// the transaction never has to upgrade a read lock), plain `BEGIN` on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Runs a write operation: serialised per process on SQLite and retried while SQLite
    /// reports the database busy/locked (e.g. another gigmcp process is writing).
    /// `op` must be safe to re-run: either one statement or one transaction.
    pub(crate) async fn write<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let _guard = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let mut delay = Duration::from_millis(5);
        let mut attempt = 0;
        loop {
            match op().await {
                Err(err) if err.is_busy() && attempt < MAX_BUSY_RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, "database busy, retrying write");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }
}

/// Current time as unix epoch milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Converts a stored 0/1 integer flag.
pub(crate) fn flag(value: i64) -> bool {
    value != 0
}
