//! The one error type every store operation returns.

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed row does not exist.
    #[error("{what} not found")]
    NotFound {
        /// Human description of the missing row, e.g. `profile "alice"`.
        what: String,
    },
    /// A uniqueness rule was violated; `what` names the colliding value.
    #[error("{what} already exists")]
    Conflict {
        /// Human description of the collision, e.g. `server named "github"`.
        what: String,
    },
    /// The caller passed a value the store refuses to write (e.g. oversized text).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which argument was rejected.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The database URL could not be used.
    #[error("invalid database URL {url}: {reason}")]
    BadUrl {
        /// The URL with any password removed.
        url: String,
        /// What is wrong with it and how to fix it.
        reason: String,
    },
    /// The SQLite database, its side files or its directory are open to other accounts (or owned
    /// by one) and gigmcp cannot or will not fix that itself.
    #[error("unsafe permissions on {path}: {problem}; to fix: {fix}")]
    Permissions {
        /// The file or directory.
        path: String,
        /// What is wrong with it.
        problem: String,
        /// The command or setting that fixes it.
        fix: String,
    },
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure (connection lost, disk full, ...).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    pub(crate) fn conflict(what: impl Into<String>) -> Self {
        Self::Conflict { what: what.into() }
    }

    /// True when SQLite reported the database (or a table) as locked/busy; such operations are
    /// retried by the store and never reach a caller unless the retry budget is exhausted.
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(db)) => {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6) carry extended codes in the high bits.
                let busy_code = db
                    .code()
                    .and_then(|c| c.parse::<i64>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6));
                busy_code || db.message().contains("database is locked")
            }
            _ => false,
        }
    }
}

/// Maps a unique violation to [`StoreError::Conflict`] and a foreign-key violation to
/// [`StoreError::NotFound`], leaving every other error as [`StoreError::Database`].
pub(crate) fn classify(
    err: sqlx::Error,
    conflict: impl FnOnce() -> String,
    missing: impl FnOnce() -> String,
) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::conflict(conflict());
        }
        if db.is_foreign_key_violation() {
            return StoreError::not_found(missing());
        }
    }
    StoreError::Database(err)
}

/// Rejects text longer than `max` bytes so nothing unbounded reaches the database.
pub(crate) fn bounded(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.len() > max {
        return Err(StoreError::Invalid {
            field,
            reason: format!("{} bytes, at most {max} allowed", value.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_rejects_long_text_and_names_the_field() {
        assert!(bounded("name", "abc", 3).is_ok());
        let err = bounded("name", "abcd", 3).unwrap_err();
        assert_eq!(err.to_string(), "invalid name: 4 bytes, at most 3 allowed");
    }
}
