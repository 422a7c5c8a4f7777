//! `registryctl lint [DIR]`: every manifest parses and passes the rules.

use std::path::PathBuf;

use gigmcp_registry::{Scope, lint_registry};

use crate::error::CliError;
use crate::fsio;

/// Lint every manifest of a registry (schema, names, versions, digests, egress, tiers, tools).
///
/// Placeholder digests (all zeros) are warnings: the entry is listed but not installable.
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
    let linted = lint_registry(&loaded.files, &denylist, Scope::Manifests);
    let mut report = loaded.report;
    report.extend(linted.report);
    super::finish(&report, &format!("{} manifest(s)", linted.manifests.len()))
}
