//! `manifests/<name>/<version>.yaml`: what a server is and what it may do.
//!
//! Parsing is strict (unknown fields are errors) and only checks shapes and enums; the rules
//! that relate fields to each other live in [`crate::lint`], so that lint can list every problem
//! of a file at once.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestError};
use crate::egress::{EgressError, EgressPattern, EgressPolicy};
use crate::parse::{ParseError, parse_yaml};

/// The only manifest/toolspec schema version this crate understands.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    /// Lowercase `[a-z0-9-]`, equal to the directory name.
    pub name: String,
    /// Semver, equal to the file stem.
    pub version: String,
    pub source: Source,
    pub image: Image,
    pub tier: Tier,
    pub display_name: String,
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub entitlements: Entitlements,
    /// Empty for servers that need no secret (e.g. a public API).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<Credential>,
    pub tools: Vec<ToolEntry>,
}

/// Where the server's code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    /// `host/owner/repo`, without scheme (e.g. `github.com/gigmcp/toolpack`).
    pub repo: String,
    /// Git tag the image is built from.
    pub tag: String,
    /// Package path inside the repository, for source builds (e.g. `cmd/slack-mcp-server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

/// The OCI image that is run, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    /// Repository reference without tag or digest (e.g. `ghcr.io/gigmcp/ably-mcp`).
    #[serde(rename = "ref")]
    pub reference: String,
    /// `sha256:` + 64 lowercase hex. All zeros is a placeholder: not installable.
    pub digest: String,
    /// Absolute path of the server binary inside the image.
    pub entrypoint: String,
    /// How the image is built; absent means built from `source.repo` (+ `source.package`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<Builder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    /// The generic toolpack engine serving the manifest's toolspec.
    Toolpack,
}

/// How credentials reach upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The server never sees secrets: the egress proxy injects them as a header.
    Sealed,
    /// The server receives secrets in its environment.
    Entrusted,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Entrusted => "entrusted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Entitlements {
    /// Egress patterns (see [`crate::egress`]). Empty means no network.
    pub egress: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Credential {
    /// Unique within the manifest.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: CredentialType,
    /// Service the credential belongs to (e.g. `ably`).
    pub provider: String,
    /// Identity vendor when it differs from the provider (e.g. `google`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// OAuth scopes requested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    pub inject: Inject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialType {
    Oauth2,
    ApiKey,
    Basic,
    CustomEnv,
}

/// How a credential is handed over: a header the proxy sets (sealed) or an env var (entrusted).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Inject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Header value template containing `{token}`, e.g. `Bearer {token}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// The two valid shapes of [`Inject`], once lint has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectTarget<'a> {
    Header { name: &'a str, format: &'a str },
    Env { name: &'a str },
}

impl Inject {
    /// The injection target, or `None` when the fields are not exactly one of
    /// `{header, format}` or `{env}`.
    pub fn target(&self) -> Option<InjectTarget<'_>> {
        match (&self.header, &self.format, &self.env) {
            (Some(name), Some(format), None) => Some(InjectTarget::Header { name, format }),
            (None, None, Some(name)) => Some(InjectTarget::Env { name }),
            _ => None,
        }
    }
}

/// A tool the server offers and whether it is enabled by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolEntry {
    pub name: String,
    pub default: bool,
}

impl Manifest {
    /// Parses manifest YAML (bounded: see [`crate::limits`]). Shapes only; run
    /// [`crate::lint::lint_manifest`] for the rules.
    pub fn from_yaml(bytes: &[u8]) -> Result<Self, ParseError> {
        parse_yaml(bytes)
    }

    /// The image digest, typed.
    pub fn digest(&self) -> Result<Digest, DigestError> {
        self.image.digest.parse()
    }

    /// Whether the manifest can be installed (its digest is real, not the all-zero placeholder).
    pub fn installable(&self) -> bool {
        self.digest().is_ok_and(|d| !d.is_placeholder())
    }

    /// Parsed egress patterns; fails on the first invalid entry.
    pub fn egress_patterns(&self) -> Result<Vec<EgressPattern>, EgressError> {
        self.entitlements
            .egress
            .iter()
            .map(|e| EgressPattern::parse(e))
            .collect()
    }

    /// The egress policy the proxy enforces for this server.
    pub fn egress_policy(&self) -> Result<EgressPolicy, EgressError> {
        EgressPolicy::parse(&self.entitlements.egress)
    }

    /// The semver version.
    pub fn semver(&self) -> Result<semver::Version, semver::Error> {
        semver::Version::parse(&self.version)
    }

    /// Names of tools enabled by default.
    pub fn default_tools(&self) -> impl Iterator<Item = &str> {
        self.tools
            .iter()
            .filter(|t| t.default)
            .map(|t| t.name.as_str())
    }
}
