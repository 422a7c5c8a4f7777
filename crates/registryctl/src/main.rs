//! `registryctl`: the registry maintainer's tool. Each subcommand lives in `src/cmd/<name>.rs`;
//! add one by writing the module, a variant of [`Command`] and a match arm in [`run`].
#![forbid(unsafe_code)]

mod cmd;
mod error;
mod fsio;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// Lint, compile, sign and verify a Gig'MCP registry.
///
/// A registry DIR holds `manifests/<name>/<version>.yaml`, optional
/// `manifests/<name>/<version>.toolspec.yaml` and `denylist/exfil-domains.txt`.
/// Exit status: 0 on success, 1 when a check fails (every problem is listed), 2 on usage errors.
#[derive(Debug, Parser)]
#[command(name = "registryctl", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Lint(cmd::lint::Args),
    LintToolspecs(cmd::lint_toolspecs::Args),
    BuildIndex(cmd::build_index::Args),
    Keygen(cmd::keygen::Args),
    Sign(cmd::sign::Args),
    Verify(cmd::verify::Args),
    BuildArgs(cmd::build_args::Args),
    /// Build a deterministic OCI image (same inputs, same digest) from a binary or a directory,
    /// or (--toolpack) a toolpack image of the engine, a manifest and its toolspec, into an OCI
    /// image layout or pushed to a registry; prints `<digest> <destination>`.
    Pack(Box<cmd::pack::Args>),
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Lint(a) => cmd::lint::run(a),
        Command::LintToolspecs(a) => cmd::lint_toolspecs::run(a),
        Command::BuildIndex(a) => cmd::build_index::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Sign(a) => cmd::sign::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::BuildArgs(a) => cmd::build_args::run(a),
        Command::Pack(a) => cmd::pack::run(*a),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registryctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
