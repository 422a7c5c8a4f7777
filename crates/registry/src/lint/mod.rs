//! Validation rules. Every finding names the file, the field and the fix
//! (see [`crate::diag::Diagnostic`]).

mod manifest;
pub(crate) mod syntax;
mod toolspec;

use std::collections::BTreeMap;

pub use manifest::lint_manifest;
pub use toolspec::lint_toolspec;

use crate::diag::{FileDiags, Report};
use crate::egress::Denylist;
use crate::manifest::{Builder, Manifest};
use crate::path::{DocKind, DocPath};
use crate::toolspec::Toolspec;

/// One file of a registry directory, as read by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// `/`-separated, relative to the registry root (e.g. `manifests/ably/0.1.0.yaml`).
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A linted registry: every document that parsed, and all findings.
#[derive(Debug, Clone, Default)]
pub struct Linted {
    /// Parsed manifests by (name, version) path key; present even when they have lint errors.
    pub manifests: BTreeMap<DocPath, Manifest>,
    /// Parsed toolspecs, keyed like the manifest they pair with.
    pub toolspecs: BTreeMap<DocPath, Toolspec>,
    pub report: Report,
}

/// Which document kinds to report on. Toolspec rules need the manifests parsed, so both are
/// always parsed; this only selects whose findings are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Manifests,
    Toolspecs,
    All,
}

/// Lints a whole registry: every file under `manifests/` as handed in by the caller.
pub fn lint_registry(files: &[SourceFile], denylist: &Denylist, scope: Scope) -> Linted {
    let mut out = Linted::default();
    let mut manifest_diags = Vec::new();
    let mut stray = Vec::new();
    let mut toolspec_files = Vec::new();
    for f in files {
        match DocPath::parse(&f.path) {
            Ok(p) if p.kind == DocKind::Manifest => {
                let (m, diags) = lint_manifest(&f.path, &f.bytes, denylist);
                manifest_diags.extend(diags);
                if let Some(m) = m {
                    out.manifests.insert(p, m);
                }
            }
            Ok(p) => toolspec_files.push((p, f)),
            Err(e) => {
                let mut d = FileDiags::new(&f.path);
                d.error(
                    "-",
                    e.to_string(),
                    "keep only manifests and toolspecs under manifests/<name>/",
                );
                stray.extend(d.out);
            }
        }
    }
    let mut toolspec_diags = Vec::new();
    for (p, f) in toolspec_files {
        let key = DocPath {
            kind: DocKind::Manifest,
            ..p.clone()
        };
        let (spec, diags) = lint_toolspec(&f.path, &f.bytes, out.manifests.get(&key));
        toolspec_diags.extend(diags);
        if let Some(spec) = spec {
            out.toolspecs.insert(key, spec);
        }
    }
    // Toolpack manifests must have a toolspec.
    for (key, m) in &out.manifests {
        if m.image.builder == Some(Builder::Toolpack) && !out.toolspecs.contains_key(key) {
            let spec_path = DocPath::path_of(&key.name, &key.version, DocKind::Toolspec);
            let file = key.to_path();
            let mut d = FileDiags::new(&file);
            d.error(
                "image.builder",
                format!("toolpack serves a toolspec, but {spec_path} is missing or does not parse"),
                format!("add {spec_path}, or drop `builder: toolpack` for a source build"),
            );
            toolspec_diags.extend(d.out);
        }
    }
    let d = &mut out.report.diagnostics;
    d.extend(stray);
    if matches!(scope, Scope::Manifests | Scope::All) {
        d.extend(manifest_diags);
    }
    if matches!(scope, Scope::Toolspecs | Scope::All) {
        d.extend(toolspec_diags);
    }
    out
}
