//! The one error type of the sandbox runtime.

use std::path::PathBuf;

/// Everything that can go wrong while setting up or running a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "bubblewrap not usable at `{path}`: {reason}; install it (`apt-get install -y bubblewrap`) \
         or point RuntimeConfig::bwrap at it"
    )]
    BwrapMissing { path: PathBuf, reason: String },

    #[error(
        "sandbox bootstrap `{path}` is unusable: {reason}; build it statically \
         (`cargo rustc --release -p gigmcp-bootstrap -- -C target-feature=+crt-static`) and set \
         RuntimeConfig::bootstrap or GIG_BOOTSTRAP to its path"
    )]
    Bootstrap { path: PathBuf, reason: String },

    #[error("invalid sandbox spec `{name}`: {reason}")]
    InvalidSpec { name: String, reason: String },

    #[error("invalid sandbox runtime config: {0}")]
    Config(String),

    #[error(
        "sandbox user (host uid {uid}) cannot use `{path}`: {reason}; it is bound into the \
         sandbox by file descriptor (its parent directories may stay private), but the sandbox's \
         user is \"other\" to it: a binary needs o+x (chmod o+x), a directory o+rx"
    )]
    NotReachable {
        uid: u32,
        path: PathBuf,
        reason: String,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cgroup setup at `{path}` failed: {source}")]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("network setup for sandbox `{name}` failed: {reason}")]
    Network { name: String, reason: String },

    #[error(
        "no free sandbox slot: all {capacity} slots of the address/uid pool are in use; stop idle \
         sandboxes or widen RuntimeConfig network pool / max_sandboxes"
    )]
    PoolExhausted { capacity: u32 },

    #[error("sandbox `{name}` failed to start: {reason}")]
    StartFailed { name: String, reason: String },
}

impl SandboxError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
