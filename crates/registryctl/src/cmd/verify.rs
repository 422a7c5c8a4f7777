//! `registryctl verify --pubkey HEX index.json`.

use std::path::PathBuf;

use gigmcp_registry::index::MAX_INDEX_BYTES;
use gigmcp_registry::{Index, verify_index};

use crate::error::CliError;
use crate::fsio;

/// Check `<INDEX>.sig` over the exact bytes of INDEX with the pinned public key, then check
/// every entry's runtime hash. Any failure is reported as UNTRUSTED.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry's ed25519 public key, hex (as printed by `registryctl keygen`).
    #[arg(long, value_name = "HEX", env = "GIGMCP_REGISTRY_PUBKEY")]
    pub pubkey: String,
    /// The index to verify; its signature is read from `<INDEX>.sig`.
    #[arg(value_name = "INDEX")]
    pub index: PathBuf,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let bytes = fsio::read_bounded(&args.index, MAX_INDEX_BYTES)?;
    let sig_path = super::sig_path(&args.index);
    let sig = match fsio::read_bounded(&sig_path, 1024) {
        Ok(sig) => sig,
        Err(CliError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::MissingSignatureFile(sig_path));
        }
        Err(e) => return Err(e),
    };
    let sig = String::from_utf8_lossy(&sig);
    verify_index(&bytes, &sig, &args.pubkey)?;
    let index = Index::from_json(&bytes).map_err(|source| CliError::Index {
        path: args.index.clone(),
        source,
    })?;
    println!(
        "verified {}: {} entries, signature good",
        args.index.display(),
        index.entries.len()
    );
    Ok(())
}
