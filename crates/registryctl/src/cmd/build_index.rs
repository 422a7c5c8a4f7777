//! `registryctl build-index [DIR] -o index.json`.

use std::path::PathBuf;

use gigmcp_registry::build_index;

use crate::error::CliError;
use crate::fsio;

/// Lint everything and compile every manifest version into a deterministic index.json
/// (same inputs, same bytes), with each entry's runtime hash. Refuses on any lint error.
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
}

pub fn run(args: Args) -> Result<(), CliError> {
    let loaded = fsio::load_registry(&args.dir)?;
    let denylist = fsio::load_denylist(&args.dir, args.denylist.as_deref())?;
    // Filesystem problems and lint findings are listed together.
    let mut report = loaded.report;
    let index = match build_index(&loaded.files, &denylist) {
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
            "wrote {} ({} entries, {installable} installable, {} bytes)",
            args.output.display(),
            index.entries.len(),
            bytes.len()
        ),
    )
}
