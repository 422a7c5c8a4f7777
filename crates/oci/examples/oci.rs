//! Manual driver: `cargo run -p gigmcp-oci --example oci -- pack …` / `… pull REF --cache DIR`.

use clap::{Parser, Subcommand};
use gigmcp_oci::pack::{self, PackArgs};
use gigmcp_oci::{ImageSource, PullOptions, Puller};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build a deterministic image.
    Pack(PackArgs),
    /// Pull `host/repo@sha256:…` or `oci:DIR@sha256:…` and print the rootfs path and config.
    Pull {
        reference: ImageSource,
        #[arg(long)]
        cache: std::path::PathBuf,
        /// Plain-HTTP registry host (repeatable).
        #[arg(long)]
        insecure: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().cmd {
        Cmd::Pack(args) => println!("{}", pack::run(&args).await?),
        Cmd::Pull {
            reference,
            cache,
            insecure,
        } => {
            let mut opts = PullOptions::new(cache);
            opts.client.insecure_hosts = insecure;
            let img = Puller::new(opts)?.pull(&reference).await?;
            println!(
                "{} {} cached={}",
                img.manifest_digest,
                img.rootfs.display(),
                img.cached
            );
            println!("{:?}", img.config);
        }
    }
    Ok(())
}
