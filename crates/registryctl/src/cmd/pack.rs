//! `registryctl pack`: a deterministic OCI image from a binary or a directory (the work is done
//! by `gigmcp_oci::pack`; this runs it and prints where the image went).
//!
//! `--toolpack --binary ENGINE --manifest M.yaml --toolspec T.yaml` builds a toolpack image: both
//! documents are linted first (the manifest must say `image.builder: toolpack`), then the image's
//! one layer holds exactly `/app/server` (0755, the engine), `/app/manifest.yaml` and
//! `/app/toolspec.yaml` (0644, the bytes given), with entrypoint `/app/server`. Same inputs,
//! same digest.

use std::path::{Path, PathBuf};

use gigmcp_registry::limits::MAX_DOCUMENT_BYTES;
use gigmcp_registry::{Denylist, Manifest, Report, lint_manifest, lint_toolspec};

use crate::error::CliError;
use crate::fsio::read_bounded;

use gigmcp_oci::pack::TOOLPACK_ENTRYPOINT;

/// `registryctl pack` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub pack: gigmcp_oci::pack::PackArgs,
    /// Build a toolpack image: `/app/server` (the --binary, the toolpack engine),
    /// `/app/manifest.yaml` and `/app/toolspec.yaml`, entrypoint `/app/server`.
    #[arg(
        long,
        requires_all = ["binary", "manifest", "toolspec"],
        conflicts_with_all = ["dir", "entrypoint", "cmd"]
    )]
    pub toolpack: bool,
    /// The toolpack's manifest (must say `image.builder: toolpack`).
    #[arg(long, value_name = "FILE", requires = "toolpack")]
    pub manifest: Option<PathBuf>,
    /// The toolpack's toolspec.
    #[arg(long, value_name = "FILE", requires = "toolpack")]
    pub toolspec: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    let out = match (&args.pack.binary, &args.manifest, &args.toolspec) {
        (Some(binary), Some(manifest), Some(toolspec)) if args.toolpack => {
            let tar = toolpack_layer(binary, manifest, toolspec)?;
            let entry = vec![TOOLPACK_ENTRYPOINT.to_owned()];
            runtime.block_on(gigmcp_oci::pack::run_layer(&args.pack, tar, entry))?
        }
        _ if args.toolpack => {
            return Err(CliError::Usage(
                "--toolpack needs --binary ENGINE --manifest M.yaml --toolspec T.yaml".into(),
            ));
        }
        _ => runtime.block_on(gigmcp_oci::pack::run(&args.pack))?,
    };
    println!("{out}");
    Ok(())
}

/// Lints the manifest and toolspec, then builds the `/app` layer.
fn toolpack_layer(binary: &Path, manifest: &Path, toolspec: &Path) -> Result<Vec<u8>, CliError> {
    let manifest_bytes = read_bounded(manifest, MAX_DOCUMENT_BYTES)?;
    let toolspec_bytes = read_bounded(toolspec, MAX_DOCUMENT_BYTES)?;
    lint_pair(manifest, &manifest_bytes, &toolspec_bytes)?;
    let engine = std::fs::read(binary).map_err(CliError::io(binary))?;
    Ok(gigmcp_oci::pack::toolpack_layer(
        &engine,
        &manifest_bytes,
        &toolspec_bytes,
    )?)
}

/// Lints both documents under the paths the registry would keep them at; prints every finding
/// and fails on any error.
fn lint_pair(path: &Path, manifest: &[u8], toolspec: &[u8]) -> Result<(), CliError> {
    let parsed = Manifest::from_yaml(manifest)
        .map_err(|e| CliError::Usage(format!("--manifest {}: {e}", path.display())))?;
    let base = format!("manifests/{}/{}", parsed.name, parsed.version);
    let (manifest, mut diagnostics) =
        lint_manifest(&format!("{base}.yaml"), manifest, &Denylist::builtin());
    let (_, spec_diagnostics) = lint_toolspec(
        &format!("{base}.toolspec.yaml"),
        toolspec,
        manifest.as_ref(),
    );
    diagnostics.extend(spec_diagnostics);
    let report = Report { diagnostics };
    for d in &report.diagnostics {
        eprintln!("{d}");
    }
    let count = report.errors().count();
    if count > 0 {
        return Err(CliError::LintFailed { count });
    }
    Ok(())
}
