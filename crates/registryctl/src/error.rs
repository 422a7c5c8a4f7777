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
    #[error(
        "build-index needs --sequence N: every index carries a signed sequence number that must grow with each published index (verifiers refuse an index older than the last one they accepted). Pass --sequence with the previous published index's sequence + 1 (1 for the very first index), or --sequence-from PREVIOUS_INDEX.json to read it and add 1"
    )]
    SequenceRequired,
    /// A validly signed index refused by the rollback rule; `recover` says how to go back on
    /// purpose with the option that supplied the last accepted state.
    #[error("{path}: {source}\n  {recover}")]
    Rollback {
        path: PathBuf,
        #[source]
        source: Box<IndexError>,
        recover: String,
    },
    #[error(
        "{path}: not a registryctl verify state file ({message}); it must hold {{\"sequence\": N, \"sha256\": \"<64 hex>\"}}: restore it, or delete it to trust the next verified index on first use"
    )]
    State { path: PathBuf, message: String },
}

impl CliError {
    /// The process exit status: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::SequenceRequired => 2,
            _ => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
