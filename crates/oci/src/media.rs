//! OCI / Docker media types and the JSON documents (index, manifest, config) this crate reads and writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::platform::Platform;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker manifest list (treated as an index).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI uncompressed layer.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `Accept` header value for manifest requests.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Layer compression, from the media type, or sniffed from the first bytes when the media type is not
/// conclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (possibly multi-member).
    Gzip,
    /// zstd (possibly multi-frame).
    Zstd,
}

impl Compression {
    /// From a layer media type; `None` when the media type does not say.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let mt = media_type.trim();
        if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") || mt.ends_with("tar.gz") {
            Some(Self::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".tar.zstd") {
            Some(Self::Zstd)
        } else if mt.ends_with(".tar") || mt.ends_with("diff.tar") {
            Some(Self::None)
        } else {
            None
        }
    }

    /// From the magic bytes of a blob.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced bytes.
    pub digest: Digest,
    /// Size of the referenced bytes.
    pub size: u64,
    /// Platform (index children only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type (optional in OCI, required by Docker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// Layers, base first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index / manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Children.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The image configuration blob (only the parts this crate needs; unknown fields are ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigFile {
    /// CPU architecture (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant (`v8`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Execution parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ExecConfig>,
    /// Layer diff ids.
    pub rootfs: RootFs,
}

/// `config` member of the image configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    /// Entrypoint argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `K=V` environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// User (informational: the sandbox always runs as 65534).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `rootfs` member of the image configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// sha256 of each uncompressed layer tar, base first.
    pub diff_ids: Vec<Digest>,
}

/// What a fetched manifest-ish document turned out to be.
#[derive(Debug, Clone)]
pub enum ManifestDoc {
    /// An index of platform manifests.
    Index(Index),
    /// A single image manifest.
    Image(Manifest),
}

/// Classifies and parses a manifest or index document. `content_type` is the HTTP `Content-Type` or
/// the referencing descriptor's media type, used when the document carries no `mediaType`.
pub fn parse_manifest_doc(bytes: &[u8], content_type: Option<&str>) -> crate::Result<ManifestDoc> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(crate::Error::json("manifest"))?;
    let declared = probe
        .media_type
        .as_deref()
        .or(content_type)
        .map(|m| m.split(';').next().unwrap_or(m).trim().to_owned());
    let is_index = match declared.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) if probe.manifests.is_none() && probe.config.is_none() => {
            return Err(crate::Error::UnsupportedMediaType {
                what: "manifest".into(),
                media_type: other.to_owned(),
            });
        }
        _ => probe.manifests.is_some(),
    };
    if is_index {
        let idx: Index =
            serde_json::from_slice(bytes).map_err(crate::Error::json("image index"))?;
        Ok(ManifestDoc::Index(idx))
    } else {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(crate::Error::json("image manifest"))?;
        if m.schema_version != 2 {
            return Err(crate::Error::Invalid {
                what: "image manifest".into(),
                reason: format!("schemaVersion {} (only 2 is supported)", m.schema_version),
            });
        }
        Ok(ManifestDoc::Image(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_from_media_type_and_magic() {
        assert_eq!(
            Compression::from_media_type(LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_media_type(DOCKER_LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_media_type(LAYER_ZSTD),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_media_type(LAYER_TAR),
            Some(Compression::None)
        );
        assert_eq!(
            Compression::from_media_type("application/octet-stream"),
            None
        );
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"usr/"), Compression::None);
    }

    #[test]
    fn classifies_documents() {
        let d = Digest::of(b"x");
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1}}]}}"#
        );
        assert!(matches!(
            parse_manifest_doc(idx.as_bytes(), None).unwrap(),
            ManifestDoc::Index(_)
        ));
        let man = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{d}","size":1}},"layers":[]}}"#
        );
        assert!(matches!(
            parse_manifest_doc(man.as_bytes(), None).unwrap(),
            ManifestDoc::Image(_)
        ));
        let v1 = r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}"#;
        assert!(matches!(
            parse_manifest_doc(v1.as_bytes(), None),
            Err(crate::Error::UnsupportedMediaType { .. })
        ));
    }
}
