//! `registryctl pack`: a deterministic OCI image from a binary or a directory (the work is done
//! by `gigmcp_oci::pack`; this runs it and prints where the image went).

use crate::error::CliError;

pub fn run(args: gigmcp_oci::pack::PackArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    let out = runtime.block_on(gigmcp_oci::pack::run(&args))?;
    println!("{out}");
    Ok(())
}
