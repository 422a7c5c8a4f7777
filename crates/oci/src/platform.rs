//! Platforms (`linux/amd64`, `linux/arm64/v8`) and index child selection.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::{Descriptor, Index};

/// An OS/architecture pair as OCI spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// `v8`, `v7`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this host (`linux/<GOARCH spelling of the Rust target arch>`).
    pub fn host() -> Self {
        Self::linux(goarch(std::env::consts::ARCH))
    }

    /// `linux/<arch>` without variant.
    pub fn linux(arch: &str) -> Self {
        Self {
            architecture: arch.to_owned(),
            os: "linux".to_owned(),
            variant: None,
        }
    }

    /// True when an image built for `other` runs here. Variants are compared only when both sides name
    /// one, except that arm64's implicit `v8` equals none.
    pub fn accepts(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        let norm = |v: &Option<String>| match (self.architecture.as_str(), v.as_deref()) {
            ("arm64", Some("v8")) | (_, None) => None,
            (_, Some(v)) => Some(v.to_owned()),
        };
        match (norm(&self.variant), norm(&other.variant)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Maps a Rust `target_arch` to the Go/OCI architecture name.
pub fn goarch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Picks the child of `index` for `wanted`; the first match wins (registries list preferred variants
/// first). Children without a platform are not candidates (attestations, artefacts).
pub fn select<'a>(
    index_digest: &Digest,
    index: &'a Index,
    wanted: &Platform,
) -> Result<&'a Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| wanted.accepts(p)))
        .ok_or_else(|| {
            let available: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect();
            Error::NoMatchingPlatform {
                index: index_digest.clone(),
                wanted: wanted.to_string(),
                available: if available.is_empty() {
                    "no platforms".into()
                } else {
                    available.join(", ")
                },
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn accepts_matching_platforms_only() {
        assert!(p("amd64", None).accepts(&p("amd64", None)));
        assert!(!p("amd64", None).accepts(&p("arm64", None)));
        assert!(p("arm64", None).accepts(&p("arm64", Some("v8"))));
        assert!(!p("arm", Some("v7")).accepts(&p("arm", Some("v6"))));
        let mut win = p("amd64", None);
        win.os = "windows".into();
        assert!(!p("amd64", None).accepts(&win));
    }

    #[test]
    fn host_is_linux() {
        assert_eq!(Platform::host().os, "linux");
        assert_ne!(Platform::host().architecture, "x86_64");
    }
}
