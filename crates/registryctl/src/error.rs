//! The CLI's failure modes. Each message says what to do.

use std::path::PathBuf;

use gigmcp_registry::sign::KeyError;
use gigmcp_registry::{IndexError, VerifyError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("pack: {0}")]
    Pack(#[from] gigmcp_oci::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0}: not a registry directory (no `manifests/` inside); pass the registry root as DIR"
    )]
    NotARegistry(PathBuf),
    #[error("{path}: {message}")]
    Denylist { path: PathBuf, message: String },
    #[error("{count} error(s) found; see the list above")]
    LintFailed { count: usize },
    #[error("{path} is larger than {max} bytes; refusing to read it")]
    TooLarge { path: PathBuf, max: usize },
    #[error("{path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error(
        "{path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}` and keep the key private"
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("{path} already exists; remove it first or pass --force to overwrite")]
    Exists { path: PathBuf },
    #[error("{0}")]
    Verify(#[from] VerifyError),
    #[error("UNTRUSTED: signature file {0} is missing; sign the index with `registryctl sign`")]
    MissingSignatureFile(PathBuf),
    #[error("{path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: IndexError,
    },
    #[error("{0}")]
    Usage(String),
    #[error("no manifest {0} in the registry; check the name and version")]
    NotFound(String),
}

impl CliError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
