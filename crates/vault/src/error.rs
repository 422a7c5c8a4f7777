//! Vault errors. None of them ever contains key material.

use crate::KekId;

const MAKE_KEY: &str = "make one with `openssl rand -hex 32`";

/// A master key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key configured at all.
    #[error(
        "no master key: set GIG_MASTER_KEY to 64 hex characters or GIG_MASTER_KEY_FILE to a file \
         holding them ({MAKE_KEY})"
    )]
    Missing,
    /// A key and a key file were both given.
    #[error("both {var} and {var}_FILE are set: set only one of them")]
    Ambiguous {
        /// The variable name without `_FILE`.
        var: String,
    },
    /// The value is empty.
    #[error("{var} is empty: it must hold 64 hex characters ({MAKE_KEY})")]
    Empty {
        /// Where the key came from.
        var: String,
    },
    /// The value has the wrong length.
    #[error("{var} must be 64 hex characters (32 bytes), found {found} characters ({MAKE_KEY})")]
    WrongLength {
        /// Where the key came from.
        var: String,
        /// How many characters it had.
        found: usize,
    },
    /// The value is not hexadecimal.
    #[error(
        "{var}: character {position} is not a hex digit; the key must be 64 hex characters ({MAKE_KEY})"
    )]
    NotHex {
        /// Where the key came from.
        var: String,
        /// 1-based position of the first bad character.
        position: usize,
    },
    /// A key file could not be read.
    #[error("{var}: cannot read key file {path}: {source}")]
    ReadFile {
        /// The `_FILE` variable.
        var: String,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Sealing or opening a secret failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Not a vault ciphertext, or truncated.
    #[error("not a vault ciphertext: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// Written by a newer format version.
    #[error("ciphertext format version {0} is not supported by this gigmcp (expected 1)")]
    UnsupportedVersion(u8),
    /// The KEK that wrapped the DEK is not in the keyring.
    #[error(
        "secret was sealed under master key {kek_id}, which is neither GIG_MASTER_KEY ({current}) \
         nor listed in GIG_MASTER_KEY_PREVIOUS: start gigmcp with that key in \
         GIG_MASTER_KEY_PREVIOUS"
    )]
    UnknownKek {
        /// KEK id in the ciphertext header.
        kek_id: KekId,
        /// Current KEK id.
        current: KekId,
    },
    /// The DEK did not authenticate under its KEK: header or wrapped key modified.
    #[error(
        "the secret's data key failed authentication under master key {kek_id}: the ciphertext header was modified or is corrupt"
    )]
    UnwrapFailed {
        /// KEK id used.
        kek_id: KekId,
    },
    /// The secret did not authenticate: modified ciphertext or wrong owner/purpose.
    #[error(
        "the secret failed authentication: the ciphertext was modified or belongs to another owner or purpose"
    )]
    OpenFailed,
    /// Plaintext too large.
    #[error("secret of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The system RNG failed.
    #[error("system random number generator failed: {0}")]
    Rng(getrandom::Error),
    /// Encryption failed (only if an input exceeds the AEAD's limits).
    #[error("encryption failed")]
    Seal,
}
