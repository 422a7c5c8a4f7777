//! `gigmcp`: the Gig'MCP gateway (`serve`) and the operator commands that work on its store.
#![forbid(unsafe_code)]

mod cmd;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    cmd::init_logging(cli.log_json);
    match cmd::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
