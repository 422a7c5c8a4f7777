//! One module per subcommand: `Args` (clap) and `run`.

pub mod build_args;
pub mod build_index;
pub mod keygen;
pub mod lint;
pub mod lint_toolspecs;
pub mod pack;
pub mod sign;
pub mod verify;

use gigmcp_registry::Report;

use crate::error::CliError;

/// Prints every finding to stderr and fails when any is an error.
pub fn finish(report: &Report, what: &str) -> Result<(), CliError> {
    for d in &report.diagnostics {
        eprintln!("{d}");
    }
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    if errors > 0 {
        return Err(CliError::LintFailed { count: errors });
    }
    println!("ok: {what}, {warnings} warning(s)");
    Ok(())
}

/// `<file>.sig` beside `file`.
pub fn sig_path(file: &std::path::Path) -> std::path::PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sig");
    name.into()
}
