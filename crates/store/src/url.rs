//! Where the store lives: a SQLite file (default) or a PostgreSQL database.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// File name of the SQLite database inside the data dir.
pub const SQLITE_FILE_NAME: &str = "gigmcp.sqlite3";

/// Which database the store talks to.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite database file (created when missing).
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
    },
    /// A PostgreSQL database, `postgres://user:password@host:port/db`.
    Postgres {
        /// The full connection URL (may contain a password; never printed).
        url: String,
    },
}

impl StoreUrl {
    /// The default: `gigmcp.sqlite3` inside `data_dir`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite {
            path: data_dir.join(SQLITE_FILE_NAME),
        }
    }

    /// `GIG_DATABASE_URL` if given (`postgres://…`, `postgresql://…` or `sqlite://PATH`),
    /// otherwise the SQLite file in `data_dir`.
    pub fn from_setting(database_url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        match database_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => url.parse(),
            None => Ok(Self::sqlite_in(data_dir)),
        }
    }

    /// The URL handed to sqlx.
    pub(crate) fn connect_url(&self) -> Result<String, StoreError> {
        match self {
            Self::Postgres { url } => Ok(url.clone()),
            Self::Sqlite { path } => {
                let text = path.to_str().ok_or_else(|| StoreError::BadUrl {
                    url: path.display().to_string(),
                    reason:
                        "the SQLite path is not valid UTF-8; choose a data dir with a UTF-8 path"
                            .into(),
                })?;
                Ok(format!("sqlite://{}?mode=rwc", percent_encode_path(text)))
            }
        }
    }

    /// True for the SQLite driver.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite { .. })
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres {
                url: url.to_owned(),
            })
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StoreError::BadUrl {
                    url: url.to_owned(),
                    reason: "no file path after sqlite://".into(),
                });
            }
            Ok(Self::Sqlite {
                path: PathBuf::from(path),
            })
        } else {
            Err(StoreError::BadUrl {
                url: redact(url),
                reason: "expected postgres://USER:PASSWORD@HOST:PORT/DB or sqlite://PATH; \
                         leave GIG_DATABASE_URL unset to use SQLite in the data dir"
                    .into(),
            })
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => write!(f, "sqlite://{}", path.display()),
            Self::Postgres { url } => f.write_str(&redact(url)),
        }
    }
}

/// Replaces the password of a `scheme://user:password@host` URL with `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable URL>".into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            let tail = tail.split('?').next().unwrap_or_default();
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => format!(
            "{scheme}://{authority}{}",
            tail.split('?').next().unwrap_or_default()
        ),
    }
}

fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_printed() {
        let url: StoreUrl = "postgres://gig:s3cret@db.example:5432/gig?sslmode=require"
            .parse()
            .unwrap();
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://gig:***@db.example:5432/gig"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_scheme_is_rejected_with_a_fix() {
        let err = "mysql://root:pw@h/db"
            .parse::<StoreUrl>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
    }

    #[test]
    fn sqlite_paths_are_percent_encoded() {
        let url = StoreUrl::Sqlite {
            path: PathBuf::from("/tmp/a b?c/x.db"),
        };
        assert_eq!(
            url.connect_url().unwrap(),
            "sqlite:///tmp/a%20b%3Fc/x.db?mode=rwc"
        );
    }

    #[test]
    fn default_is_sqlite_in_data_dir() {
        let url = StoreUrl::from_setting(None, Path::new("/var/lib/gig")).unwrap();
        assert_eq!(
            url,
            StoreUrl::Sqlite {
                path: "/var/lib/gig/gigmcp.sqlite3".into()
            }
        );
        let url = StoreUrl::from_setting(Some("postgres://h/db"), Path::new("/x")).unwrap();
        assert!(!url.is_sqlite());
    }
}
