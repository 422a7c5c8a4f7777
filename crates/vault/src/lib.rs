#![forbid(unsafe_code)]
//! Gig'MCP vault: envelope encryption of per-user secrets.
//!
//! Each secret is sealed with XChaCha20-Poly1305 under a fresh 32-byte data key (DEK); the DEK is
//! wrapped with XChaCha20-Poly1305 under the master key-encryption key (KEK). The result carries
//! a versioned header (format version, KEK id, nonces) and is bound to the secret's owner and
//! purpose, so a ciphertext copied to another row or user fails to open. Gateway-wide secrets
//! (e.g. the egress CA) are sealed the same way, bound to their name. See `envelope` for the
//! byte layout. Keys live in [`Keyring`]; rotation rewraps DEKs only ([`rotate()`]).

mod aad;
mod envelope;
mod error;
mod key;
mod keyring;
mod rotate;
mod secrets;
mod status;

pub use aad::Aad;
pub use envelope::{FORMAT_VERSION, MAX_SECRET_LEN, kek_id_of};
pub use error::{KeyError, VaultError};
pub use key::{KekId, MasterKey};
pub use keyring::{
    ENV_MASTER_KEY, ENV_MASTER_KEY_FILE, ENV_MASTER_KEY_PREVIOUS, ENV_MASTER_KEY_PREVIOUS_FILE,
    Keyring, MasterKeySources,
};
pub use rotate::{
    RotateOptions, RotatedSecret, RotationFailure, RotationReport, rotate, rotate_with,
};
pub use secrets::{
    SecretError, create_gateway_secret, get_gateway_secret, get_secret, put_gateway_secret,
    put_secret,
};
pub use status::{KekRole, KekUsage, ReadSecretError, read_secret, status};
pub use zeroize::Zeroizing;
