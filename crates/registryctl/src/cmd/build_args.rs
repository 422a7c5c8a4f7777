//! `registryctl build-args [DIR] NAME[@VERSION]`.

use std::path::PathBuf;

use gigmcp_registry::{BuildArgs, DocKind, DocPath, Scope, lint_registry};

use crate::error::CliError;
use crate::fsio;

/// Print the build parameters of one manifest for an image build, as `KEY=value` lines
/// (NAME, VERSION, BUILDER, SOURCE_REPO, SOURCE_TAG, SOURCE_PACKAGE, IMAGE_REF, ENTRYPOINT,
/// TOOLSPEC) or JSON. Without @VERSION the highest version is used. Refuses a manifest (or its
/// toolspec) with lint errors.
#[derive(Debug, clap::Args)]
#[command(override_usage = "registryctl build-args [OPTIONS] [DIR] <NAME[@VERSION]>")]
pub struct Args {
    /// `[DIR] NAME[@VERSION]`; DIR defaults to `.`.
    #[arg(value_name = "ARGS", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Env)]
    pub format: Format,
    /// Exfiltration denylist [default: DIR/denylist/exfil-domains.txt].
    #[arg(long, value_name = "FILE")]
    pub denylist: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `KEY=value` lines.
    Env,
    /// One JSON object.
    Json,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let (dir, target) = match args.args.as_slice() {
        [target] => (PathBuf::from("."), target.as_str()),
        [dir, target] => (PathBuf::from(dir), target.as_str()),
        _ => return Err(CliError::Usage("expected [DIR] NAME[@VERSION]".into())),
    };
    let (name, version) = match target.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (target, None),
    };
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_name {
        return Err(CliError::Usage(format!(
            "`{name}` is not a server name (a-z, 0-9 and `-`); write NAME or NAME@VERSION"
        )));
    }
    if let Some(v) = version
        && semver::Version::parse(v).is_err()
    {
        return Err(CliError::Usage(format!(
            "`{v}` is not a semantic version (e.g. 0.1.0)"
        )));
    }
    let loaded = fsio::load_registry(&dir)?;
    let denylist = fsio::load_denylist(&dir, args.denylist.as_deref())?;
    let linted = lint_registry(&loaded.files, &denylist, Scope::All);
    let (key, manifest) = linted
        .manifests
        .iter()
        .filter(|(k, _)| k.name == name && version.is_none_or(|v| k.version == v))
        .max_by(|(a, _), (b, _)| {
            let parse = |k: &DocPath| semver::Version::parse(&k.version).ok();
            parse(a).cmp(&parse(b))
        })
        .ok_or_else(|| CliError::NotFound(target.to_owned()))?;
    let own_files = [
        key.to_path(),
        DocPath::path_of(&key.name, &key.version, DocKind::Toolspec),
    ];
    let mut report = gigmcp_registry::Report::default();
    report.diagnostics = linted
        .report
        .diagnostics
        .iter()
        .filter(|d| own_files.contains(&d.file))
        .cloned()
        .collect();
    if report.has_errors() {
        for d in &report.diagnostics {
            eprintln!("{d}");
        }
        return Err(CliError::LintFailed {
            count: report.errors().count(),
        });
    }
    let build = BuildArgs::from_manifest(manifest);
    match args.format {
        Format::Env => {
            for (k, v) in build.env_pairs() {
                println!("{k}={v}");
            }
        }
        Format::Json => {
            let json = serde_json::to_string_pretty(&build).expect("build args always serialise");
            println!("{json}");
        }
    }
    Ok(())
}
