//! `registryctl lint-toolspecs [DIR]`: every toolspec parses and pairs with its manifest.

use std::path::PathBuf;

use gigmcp_registry::{Scope, lint_registry};

use crate::error::CliError;
use crate::fsio;

/// Lint every toolspec against its manifest: same tool set, base URL hosts inside the
/// manifest's egress, `auth` only for entrusted servers, path placeholders = path params.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry root holding `manifests/`.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Exfiltration denylist [default: DIR/denylist/exfil-domains.txt].
    #[arg(long, value_name = "FILE")]
    pub denylist: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let loaded = fsio::load_registry(&args.dir)?;
    let denylist = fsio::load_denylist(&args.dir, args.denylist.as_deref())?;
    let linted = lint_registry(&loaded.files, &denylist, Scope::Toolspecs);
    let mut report = loaded.report;
    report.extend(linted.report);
    super::finish(&report, &format!("{} toolspec(s)", linted.toolspecs.len()))
}
