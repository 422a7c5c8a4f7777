//! `index.json`: every manifest version of a registry, compiled into one deterministic file.
//!
//! Same inputs give the same bytes: entries are sorted by name then semver, struct fields have a
//! fixed order, there is no timestamp. The signature covers these exact bytes.
//!
//! Every index carries a `sequence` (u64, at least 1) chosen by the publisher, one higher for
//! each published index. It is an ordinary field of the serialised index, so the signature
//! covers it; consumers refuse an index whose sequence is lower than the last one they accepted
//! (see [`crate::verify`]). The sequence is an input of the build, never a clock reading, so the
//! build stays deterministic. Parsing an index without one fails with
//! [`IndexError::MissingSequence`].

use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::diag::Report;
use crate::egress::Denylist;
use crate::lint::{Linted, Scope, SourceFile, lint_registry};
use crate::manifest::Manifest;
use crate::sign::VerifyError;
use crate::toolspec::Toolspec;

/// Format version of `index.json`. Version 2 added the required `sequence`; version 1 indexes
/// (no sequence) are refused with [`IndexError::MissingSequence`].
pub const INDEX_SCHEMA_VERSION: u32 = 2;

/// Largest `index.json` [`Index::from_json`] accepts (the 221-manifest corpus is ~2 MiB).
pub const MAX_INDEX_BYTES: usize = 64 * 1024 * 1024;

/// A parsed, checked index. Deserialising one (with [`Index::from_json`] or through serde)
/// applies every check: schema version, a sequence of at least 1, every runtime hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawIndex")]
pub struct Index {
    pub schema_version: u32,
    /// Publisher-chosen, strictly growing from one published index to the next; at least 1.
    /// Serialised right after `schemaVersion`, inside the signed bytes.
    pub sequence: u64,
    pub entries: Vec<IndexEntry>,
}

/// The wire form before the checks: `sequence` is optional here only so that an index built
/// before sequence numbers gets [`IndexError::MissingSequence`] instead of serde's generic
/// "missing field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIndex {
    schema_version: u32,
    #[serde(default)]
    sequence: Option<u64>,
    entries: Vec<IndexEntry>,
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
        "index.json has no `sequence`: it predates sequence numbers, and an index without one can be replayed to roll consumers back; rebuild it with `registryctl build-index --sequence N` (N = 1 for the first sequenced index, then the previous sequence + 1) and sign it again"
    )]
    MissingSequence,
    #[error(
        "index.json has sequence 0; sequences start at 1: rebuild it with `registryctl build-index --sequence N` (N = the previous index's sequence + 1) and sign it again"
    )]
    ZeroSequence,
    #[error(
        "index entry {name}@{version}: stored runtime hash {stored} does not match its manifest ({computed}); the index is corrupt or forged"
    )]
    HashMismatch {
        name: String,
        version: String,
        stored: String,
        computed: String,
    },
    /// The signature does not verify (the message starts with `UNTRUSTED`).
    #[error("{0}")]
    Untrusted(#[from] VerifyError),
    /// A validly signed index older than the last accepted one: a replay or a rollback attempt.
    #[error(
        "UNTRUSTED: index sequence {offered} is older than the last accepted sequence {last_accepted}: an older index than the last one accepted was offered, possibly a replay by whoever serves the index. Keep using the last accepted index and check the index source; an operator who really means to go back must reset the stored last-accepted sequence explicitly"
    )]
    Rollback { offered: u64, last_accepted: u64 },
    /// A validly signed index with the last accepted sequence but other bytes.
    #[error(
        "UNTRUSTED: index sequence {sequence} was already accepted with different content: the publisher signed two different indexes under one sequence (a publishing mistake, or the key is misused). Keep using the last accepted index; the publisher must rebuild with a sequence above {sequence} (`registryctl build-index --sequence-from` the published index) and sign it again"
    )]
    SequenceReused { sequence: u64 },
}

impl TryFrom<RawIndex> for Index {
    type Error = IndexError;

    fn try_from(raw: RawIndex) -> Result<Self, IndexError> {
        // Checked before the schema version: a version-1 index has no sequence, and the useful
        // message for it is how to rebuild it.
        let sequence = raw.sequence.ok_or(IndexError::MissingSequence)?;
        if raw.schema_version != INDEX_SCHEMA_VERSION {
            return Err(IndexError::SchemaVersion(raw.schema_version));
        }
        if sequence == 0 {
            return Err(IndexError::ZeroSequence);
        }
        for e in &raw.entries {
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
        Ok(Self {
            schema_version: raw.schema_version,
            sequence,
            entries: raw.entries,
        })
    }
}

impl Index {
    /// Builds the index from parsed documents with the publisher's `sequence`. Callers normally
    /// use [`build_index`], which lints first.
    pub fn from_linted(linted: &Linted, sequence: NonZeroU64) -> Self {
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
            sequence: sequence.get(),
            entries,
        }
    }

    /// The canonical bytes: pretty JSON plus a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("index types always serialise");
        out.push(b'\n');
        out
    }

    /// Parses `index.json` (at most [`MAX_INDEX_BYTES`]), requires a sequence of at least 1 and
    /// re-checks every runtime hash. This does not check the signature or the sequence against
    /// the last accepted index: consumers use [`crate::verify_index`], which does both.
    pub fn from_json(bytes: &[u8]) -> Result<Self, IndexError> {
        if bytes.len() > MAX_INDEX_BYTES {
            return Err(IndexError::TooLarge {
                size: bytes.len(),
                max: MAX_INDEX_BYTES,
            });
        }
        let raw: RawIndex = serde_json::from_slice(bytes)?;
        Self::try_from(raw)
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

/// Lints every document and, when there is no error, compiles the index with the publisher's
/// `sequence` (the previous published index's sequence + 1; 1 for the first). Warnings
/// (placeholder digests) are returned alongside; errors are returned as the full report.
pub fn build_index(
    files: &[SourceFile],
    denylist: &Denylist,
    sequence: NonZeroU64,
) -> Result<(Index, Report), Report> {
    let linted = lint_registry(files, denylist, Scope::All);
    if linted.report.has_errors() {
        return Err(linted.report);
    }
    Ok((Index::from_linted(&linted, sequence), linted.report))
}
