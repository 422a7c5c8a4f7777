//! Gig'MCP registry schema: the trust root shared by the gateway and `registryctl`.
//!
//! Pure: no network, no filesystem. Callers hand in bytes; this crate parses (bounded, strict),
//! lints, hashes, compiles and signs them. See `docs/registry.md`.
//!
//! - [`egress`]: the one wildcard rule used by lint and the egress proxy.
//! - [`Manifest`], [`Toolspec`]: strict schema types; [`lint`] holds the rules.
//! - [`Manifest::runtime_hash`]: what consent covers.
//! - [`Index`], [`build_index`]: deterministic `index.json` with a signed `sequence`;
//!   [`sign`]: ed25519 over its bytes.
//! - [`verify_index`]: what consumers call: signature over the exact bytes, then parse, then
//!   refuse a rollback to an older index than the last one accepted ([`verify`]).
#![forbid(unsafe_code)]

pub mod build_args;
pub mod diag;
pub mod digest;
pub mod egress;
pub mod hash;
pub mod index;
pub mod limits;
pub mod lint;
pub mod manifest;
pub mod parse;
pub mod path;
pub mod settings;
pub mod sign;
pub mod toolspec;
pub mod verify;

pub use build_args::{BuildArgs, BuildKind};
pub use diag::{Diagnostic, Report, Severity};
pub use digest::{Digest, DigestError};
pub use egress::{Denylist, EgressError, EgressPattern, EgressPolicy};
pub use index::{Index, IndexEntry, IndexError, build_index};
pub use lint::{Linted, Scope, SourceFile, lint_manifest, lint_registry, lint_toolspec};
pub use manifest::{
    Builder, Credential, CredentialType, Entitlements, Image, Inject, InjectTarget, Manifest,
    Source, Tier, ToolEntry,
};
pub use parse::ParseError;
pub use path::{DocKind, DocPath, PathError};
pub use sign::{SigningKey, VerifyError, VerifyingKey, sign_index, verify_signature};
pub use toolspec::{
    ContentEncoding, Encoding, HttpMethod, INSTALL_PREFIX, Param, ParamLocation, ParamType,
    Toolspec, ToolspecAuth, ToolspecTool, ValueStyle,
};
pub use verify::{Acceptance, AcceptedIndex, VerifiedIndex, verify_index};
