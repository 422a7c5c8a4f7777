//! `registryctl sign --key KEYFILE index.json`.

use std::path::PathBuf;

use gigmcp_registry::index::MAX_INDEX_BYTES;
use gigmcp_registry::sign::{signing_key_from_hex, verifying_key_to_hex};
use gigmcp_registry::{Index, sign_index};

use crate::error::CliError;
use crate::fsio;

/// Sign the exact bytes of an index with ed25519; writes the hex signature to `<INDEX>.sig`.
/// The index must parse, carry a sequence and its runtime hashes must match (nothing malformed
/// gets signed).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Private key file written by `registryctl keygen` (must not be group/other readable).
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
    /// The index to sign.
    #[arg(value_name = "INDEX")]
    pub index: PathBuf,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let key_hex = fsio::read_secret(&args.key)?;
    let key = signing_key_from_hex(&key_hex).map_err(|source| CliError::Key {
        path: args.key.clone(),
        source,
    })?;
    let bytes = fsio::read_bounded(&args.index, MAX_INDEX_BYTES)?;
    let index = Index::from_json(&bytes).map_err(|source| CliError::Index {
        path: args.index.clone(),
        source,
    })?;
    let mut sig = sign_index(&bytes, &key);
    sig.push('\n');
    let sig_path = super::sig_path(&args.index);
    fsio::write_atomic(&sig_path, sig.as_bytes(), 0o644)?;
    println!(
        "signed {} (sequence {}) -> {} (public key {})",
        args.index.display(),
        index.sequence,
        sig_path.display(),
        verifying_key_to_hex(&key.verifying_key())
    );
    Ok(())
}
