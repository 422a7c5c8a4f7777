//! `registryctl build-index [DIR] -o index.json (--sequence N | --sequence-from PREVIOUS)`.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use gigmcp_registry::index::MAX_INDEX_BYTES;
use gigmcp_registry::{Index, IndexError, build_index};

use crate::error::CliError;
use crate::fsio;

/// Lint everything and compile every manifest version into a deterministic index.json
/// (same inputs and sequence, same bytes), with each entry's runtime hash. Refuses on any lint
/// error.
///
/// Every index carries a signed sequence number that must grow with each published index:
/// verifiers refuse an index older than the last one they accepted, so an old index cannot be
/// replayed. Pass it with --sequence N (the previous index's sequence + 1; 1 for the first) or
/// let --sequence-from PREVIOUS_INDEX read the previous index and add 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry root holding `manifests/`.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to write the index.
    #[arg(short, long, value_name = "FILE", default_value = "index.json")]
    pub output: PathBuf,
    /// Exfiltration denylist [default: DIR/denylist/exfil-domains.txt].
    #[arg(long, value_name = "FILE")]
    pub denylist: Option<PathBuf>,
    /// The index's sequence number, at least 1: the previously published index's sequence + 1
    /// (1 for the first). Required unless --sequence-from is given.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "sequence_from",
        value_parser = parse_sequence
    )]
    pub sequence: Option<NonZeroU64>,
    /// Read the previously published index and use its sequence + 1.
    #[arg(long, value_name = "PREVIOUS_INDEX")]
    pub sequence_from: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    // Decided before any work, so a missing flag fails fast and writes nothing.
    let sequence = match (args.sequence, &args.sequence_from) {
        (Some(n), _) => n,
        (None, Some(previous)) => next_sequence(previous)?,
        (None, None) => return Err(CliError::SequenceRequired),
    };
    let loaded = fsio::load_registry(&args.dir)?;
    let denylist = fsio::load_denylist(&args.dir, args.denylist.as_deref())?;
    // Filesystem problems and lint findings are listed together.
    let mut report = loaded.report;
    let index = match build_index(&loaded.files, &denylist, sequence) {
        Ok((index, lint)) => {
            report.extend(lint);
            index
        }
        Err(lint) => {
            report.extend(lint);
            return super::finish(&report, "");
        }
    };
    if report.has_errors() {
        return super::finish(&report, "");
    }
    let bytes = index.to_json();
    fsio::write_atomic(&args.output, &bytes, 0o644)?;
    let installable = index.entries.iter().filter(|e| e.installable).count();
    super::finish(
        &report,
        &format!(
            "wrote {} (sequence {sequence}, {} entries, {installable} installable, {} bytes)",
            args.output.display(),
            index.entries.len(),
            bytes.len()
        ),
    )
}

fn parse_sequence(text: &str) -> Result<NonZeroU64, String> {
    let n: u64 = text.parse().map_err(|_| {
        format!("`{text}` is not a whole number; pass the previous index's sequence + 1 (1 for the first)")
    })?;
    NonZeroU64::new(n).ok_or_else(|| {
        "sequences start at 1; pass the previous index's sequence + 1 (1 for the first)".to_owned()
    })
}

/// The sequence after the one of the index at `previous`.
fn next_sequence(previous: &Path) -> Result<NonZeroU64, CliError> {
    let bytes = fsio::read_bounded(previous, MAX_INDEX_BYTES)?;
    let index = Index::from_json(&bytes).map_err(|source| match source {
        IndexError::MissingSequence => CliError::Usage(format!(
            "{}: this index predates sequence numbers, so there is no sequence to continue from; pass --sequence 1 for the first sequenced index",
            previous.display()
        )),
        source => CliError::Index {
            path: previous.to_path_buf(),
            source,
        },
    })?;
    index
        .sequence
        .checked_add(1)
        .and_then(NonZeroU64::new)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{}: sequence {} is the largest possible; there is no next one",
                previous.display(),
                index.sequence
            ))
        })
}
