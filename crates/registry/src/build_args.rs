//! The parameters of an image build for one manifest (`registryctl build-args`).

use serde::Serialize;

use crate::manifest::{Builder, Manifest};
use crate::path::{DocKind, DocPath};

/// How the image is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildKind {
    /// The toolpack engine image plus the manifest's toolspec.
    Toolpack,
    /// Built from `source.repo` at `source.tag` (optionally `source.package`).
    Source,
}

/// Everything an image build needs, taken from a linted manifest. All values passed lint's
/// syntax rules, so they contain no whitespace, quotes or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildArgs {
    pub name: String,
    pub version: String,
    pub builder: BuildKind,
    pub source_repo: String,
    pub source_tag: String,
    pub source_package: Option<String>,
    pub image_ref: String,
    pub entrypoint: String,
    /// Registry-relative toolspec path, for toolpack builds.
    pub toolspec: Option<String>,
}

impl BuildArgs {
    pub fn from_manifest(m: &Manifest) -> Self {
        let builder = match m.image.builder {
            Some(Builder::Toolpack) => BuildKind::Toolpack,
            None => BuildKind::Source,
        };
        Self {
            name: m.name.clone(),
            version: m.version.clone(),
            builder,
            source_repo: m.source.repo.clone(),
            source_tag: m.source.tag.clone(),
            source_package: m.source.package.clone(),
            image_ref: m.image.reference.clone(),
            entrypoint: m.image.entrypoint.clone(),
            toolspec: (builder == BuildKind::Toolpack)
                .then(|| DocPath::path_of(&m.name, &m.version, DocKind::Toolspec)),
        }
    }

    /// `KEY=value` pairs in a fixed order; absent values are empty strings.
    pub fn env_pairs(&self) -> Vec<(&'static str, String)> {
        let builder = match self.builder {
            BuildKind::Toolpack => "toolpack",
            BuildKind::Source => "source",
        };
        vec![
            ("NAME", self.name.clone()),
            ("VERSION", self.version.clone()),
            ("BUILDER", builder.to_owned()),
            ("SOURCE_REPO", self.source_repo.clone()),
            ("SOURCE_TAG", self.source_tag.clone()),
            (
                "SOURCE_PACKAGE",
                self.source_package.clone().unwrap_or_default(),
            ),
            ("IMAGE_REF", self.image_ref.clone()),
            ("ENTRYPOINT", self.entrypoint.clone()),
            ("TOOLSPEC", self.toolspec.clone().unwrap_or_default()),
        ]
    }
}
