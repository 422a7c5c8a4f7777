//! `registryctl verify --pubkey HEX [--state FILE | --last-sequence N] index.json`.
//!
//! The checks are [`gigmcp_registry::verify_index`]'s: the signature over the exact bytes, then
//! the parse, then the rollback rule against the last accepted index. With `--state FILE` the
//! last accepted index (sequence and sha256 of its bytes) is read from FILE and, after a
//! successful verification, written back atomically with mode 0600:
//!
//! ```json
//! {"sequence": 7, "sha256": "<64 lowercase hex>"}
//! ```

use std::path::{Path, PathBuf};

use gigmcp_registry::index::MAX_INDEX_BYTES;
use gigmcp_registry::sign::verifying_key_from_hex;
use gigmcp_registry::{Acceptance, AcceptedIndex, IndexError, verify_index};

use crate::error::CliError;
use crate::fsio;

/// Largest state file read; a valid one is under 100 bytes.
const MAX_STATE_BYTES: usize = 4096;

/// Check `<INDEX>.sig` over the exact bytes of INDEX with the pinned public key, then check
/// every entry's runtime hash, then refuse an index older than the last accepted one (with
/// --state or --last-sequence). Any failure is reported as UNTRUSTED.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry's ed25519 public key, hex (as printed by `registryctl keygen`).
    #[arg(long, value_name = "HEX", env = "GIGMCP_REGISTRY_PUBKEY")]
    pub pubkey: String,
    /// The index to verify; its signature is read from `<INDEX>.sig`.
    #[arg(value_name = "INDEX")]
    pub index: PathBuf,
    /// The sequence of the last accepted index: refuse an older one (an equal sequence is
    /// accepted; use --state to also refuse an equal sequence with different content).
    #[arg(long, value_name = "N", conflicts_with = "state")]
    pub last_sequence: Option<u64>,
    /// File holding the last accepted index's sequence and sha256: refuse an older index or
    /// the same sequence with different content, and record INDEX there once it verifies
    /// (written atomically, mode 0600). A missing FILE means nothing was accepted yet.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
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
    let key = verifying_key_from_hex(&args.pubkey)?;
    let last = match (&args.state, args.last_sequence) {
        (Some(state), _) => read_state(state)?,
        (None, Some(n)) => Some(AcceptedIndex::sequence_only(n)),
        (None, None) => None,
    };
    let verified = verify_index(&bytes, &sig, &[key], last).map_err(|source| match source {
        IndexError::Untrusted(e) => CliError::Verify(e),
        source @ (IndexError::Rollback { .. } | IndexError::SequenceReused { .. }) => {
            CliError::Rollback {
                path: args.index.clone(),
                source: Box::new(source),
                recover: recover_hint(&args),
            }
        }
        source => CliError::Index {
            path: args.index.clone(),
            source,
        },
    })?;
    if let Some(state) = &args.state {
        write_state(state, &verified.accepted)?;
    }
    let relation = if args.state.is_none() && args.last_sequence.is_none() {
        "not checked against a previous index: pass --state FILE to refuse replays".to_owned()
    } else {
        match verified.acceptance {
            Acceptance::First => "first accepted index".to_owned(),
            Acceptance::Newer { previous } => format!("newer than the last accepted {previous}"),
            Acceptance::Unchanged => "unchanged since the last accepted".to_owned(),
        }
    };
    println!(
        "verified {}: sequence {} ({relation}), {} entries, signature good",
        args.index.display(),
        verified.index.sequence,
        verified.index.entries.len()
    );
    if let Some(state) = &args.state {
        println!(
            "recorded sequence {} in {}",
            verified.accepted.sequence,
            state.display()
        );
    }
    Ok(())
}

/// How to go back to an older index on purpose, for the option that supplied the state.
fn recover_hint(args: &Args) -> String {
    match &args.state {
        Some(state) => format!(
            "(the last accepted index is recorded in {s}; to go back on purpose, make sure this index is the one you want, then delete {s}: the next verified index is accepted as a first use and recorded)",
            s = state.display()
        ),
        None => "(to go back on purpose, pass the older sequence as --last-sequence)".to_owned(),
    }
}

/// The last accepted index recorded in `path`; `None` when the file does not exist.
fn read_state(path: &Path) -> Result<Option<AcceptedIndex>, CliError> {
    let bytes = match fsio::read_bounded(path, MAX_STATE_BYTES) {
        Ok(bytes) => bytes,
        Err(CliError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(CliError::TooLarge { max, .. }) => {
            return Err(state_error(path, format!("larger than {max} bytes")));
        }
        Err(e) => return Err(e),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| state_error(path, format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| state_error(path, "not a JSON object".into()))?;
    if let Some(unknown) = obj.keys().find(|k| *k != "sequence" && *k != "sha256") {
        return Err(state_error(path, format!("unknown field `{unknown}`")));
    }
    let sequence = obj
        .get("sequence")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| state_error(path, "`sequence` is missing or not a whole number".into()))?;
    let sha256 = obj
        .get("sha256")
        .and_then(serde_json::Value::as_str)
        .and_then(AcceptedIndex::parse_sha256_hex)
        .ok_or_else(|| state_error(path, "`sha256` is missing or not 64 hex characters".into()))?;
    Ok(Some(AcceptedIndex::new(sequence, sha256)))
}

fn write_state(path: &Path, accepted: &AcceptedIndex) -> Result<(), CliError> {
    let mut text = serde_json::json!({
        "sequence": accepted.sequence,
        "sha256": accepted.sha256_hex(),
    })
    .to_string();
    text.push('\n');
    fsio::write_atomic(path, text.as_bytes(), 0o600)
}

fn state_error(path: &Path, message: String) -> CliError {
    CliError::State {
        path: path.to_path_buf(),
        message,
    }
}
