//! `registryctl keygen -o KEYFILE`.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use gigmcp_registry::sign::{signing_key_to_hex, verifying_key_to_hex};

use crate::error::CliError;
use crate::fsio;

/// Generate an ed25519 signing key: the private key (hex) goes to KEYFILE with mode 0600, the
/// public key (hex) is printed on stdout for gateways to pin.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Private key file to create.
    #[arg(short, long, value_name = "KEYFILE")]
    pub output: PathBuf,
    /// Overwrite KEYFILE if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let key = SigningKey::generate(&mut UnwrapErr(SysRng));
    let mut private = signing_key_to_hex(&key);
    private.push('\n');
    fsio::write_secret(&args.output, private.as_bytes(), args.force)?;
    println!("{}", verifying_key_to_hex(&key.verifying_key()));
    Ok(())
}
