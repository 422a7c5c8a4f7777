//! `index.json`: every manifest version of a registry, compiled into one deterministic file.
//!
//! Same inputs give the same bytes: entries are sorted by name then semver, struct fields have a
//! fixed order, there is no timestamp. The signature covers these exact bytes.

use serde::{Deserialize, Serialize};

use crate::diag::Report;
use crate::egress::Denylist;
use crate::lint::{Linted, Scope, SourceFile, lint_registry};
use crate::manifest::Manifest;
use crate::toolspec::Toolspec;

/// Format version of `index.json`.
pub const INDEX_SCHEMA_VERSION: u32 = 1;

/// Largest `index.json` [`Index::from_json`] accepts (the 221-manifest corpus is ~2 MiB).
pub const MAX_INDEX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    pub entries: Vec<IndexEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IndexEntry {
    pub name: String,
    pub version: String,
    /// [`Manifest::runtime_hash`] of `manifest`.
    pub runtime_hash: String,
    /// False for placeholder digests: listed, never installed.
    pub installable: bool,
    pub manifest: Manifest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolspec: Option<Toolspec>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index.json is larger than {max} bytes ({size}): refusing to parse it")]
    TooLarge { size: usize, max: usize },
    #[error("index.json does not parse: {0}")]
    Json(#[from] serde_json::Error),
    #[error("index.json schema version {0} is not supported (expected {INDEX_SCHEMA_VERSION})")]
    SchemaVersion(u32),
    #[error(
        "index entry {name}@{version}: stored runtime hash {stored} does not match its manifest ({computed}); the index is corrupt or forged"
    )]
    HashMismatch {
        name: String,
        version: String,
        stored: String,
        computed: String,
    },
}

impl Index {
    /// Builds the index from parsed documents. Callers normally use [`build_index`], which lints
    /// first.
    pub fn from_linted(linted: &Linted) -> Self {
        let mut entries: Vec<IndexEntry> = linted
            .manifests
            .iter()
            .map(|(key, m)| IndexEntry {
                name: m.name.clone(),
                version: m.version.clone(),
                runtime_hash: m.runtime_hash(),
                installable: m.installable(),
                manifest: m.clone(),
                toolspec: linted.toolspecs.get(key).cloned(),
            })
            .collect();
        entries.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| match (a.manifest.semver(), b.manifest.semver()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => a.version.cmp(&b.version),
                })
        });
        Self {
            schema_version: INDEX_SCHEMA_VERSION,
            entries,
        }
    }

    /// The canonical bytes: pretty JSON plus a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("index types always serialise");
        out.push(b'\n');
        out
    }

    /// Parses `index.json` (verify its signature first) and re-checks every runtime hash.
    pub fn from_json(bytes: &[u8]) -> Result<Self, IndexError> {
        if bytes.len() > MAX_INDEX_BYTES {
            return Err(IndexError::TooLarge {
                size: bytes.len(),
                max: MAX_INDEX_BYTES,
            });
        }
        let index: Self = serde_json::from_slice(bytes)?;
        if index.schema_version != INDEX_SCHEMA_VERSION {
            return Err(IndexError::SchemaVersion(index.schema_version));
        }
        for e in &index.entries {
            let computed = e.manifest.runtime_hash();
            if computed != e.runtime_hash {
                return Err(IndexError::HashMismatch {
                    name: e.name.clone(),
                    version: e.version.clone(),
                    stored: e.runtime_hash.clone(),
                    computed,
                });
            }
        }
        Ok(index)
    }

    /// The entry for `name` at `version`, or its highest semver version when `version` is `None`.
    pub fn find(&self, name: &str, version: Option<&str>) -> Option<&IndexEntry> {
        let mut matching = self.entries.iter().filter(|e| e.name == name);
        match version {
            Some(v) => matching.find(|e| e.version == v),
            // Entries are sorted by semver within a name.
            None => matching.next_back(),
        }
    }
}

/// Lints every document and, when there is no error, compiles the index. Warnings (placeholder
/// digests) are returned alongside; errors are returned as the full report.
pub fn build_index(files: &[SourceFile], denylist: &Denylist) -> Result<(Index, Report), Report> {
    let linted = lint_registry(files, denylist, Scope::All);
    if linted.report.has_errors() {
        return Err(linted.report);
    }
    Ok((Index::from_linted(&linted), linted.report))
}
