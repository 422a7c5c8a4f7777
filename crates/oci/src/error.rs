//! Error type of the crate: every variant says what was wrong and, where it helps, what to do.

use std::path::PathBuf;

use crate::digest::Digest;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while pulling, verifying, extracting or packing an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image reference could not be parsed.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: String },
    /// A digest string is not `sha256:<64 lowercase hex>`.
    #[error(
        "invalid digest {0:?}: expected sha256:<64 lowercase hex digits> (only sha256 is supported)"
    )]
    InvalidDigest(String),
    /// Bytes did not hash to the digest that names them.
    #[error(
        "digest mismatch for {what}: expected {expected}, got {actual}; the source served other bytes than the pinned digest, refusing"
    )]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// Bytes did not have the size their descriptor declares.
    #[error(
        "size mismatch for {what}: its descriptor declares {expected} bytes, the source sent {actual}"
    )]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A manifest, config or blob is larger than allowed.
    #[error(
        "{what} exceeds the limit of {limit} bytes; refusing (raise the limit only for trusted images)"
    )]
    TooLarge { what: String, limit: u64 },
    /// An index has no child for the wanted platform.
    #[error("image index {index} has no manifest for {wanted}; it offers: {available}")]
    NoMatchingPlatform {
        index: Digest,
        wanted: String,
        available: String,
    },
    /// An image's config names another platform than the wanted one.
    #[error(
        "image {manifest} is built for {found}, this host needs {wanted}; pin the digest of the {wanted} image or of its multi-arch index"
    )]
    WrongPlatform {
        manifest: Digest,
        found: String,
        wanted: String,
    },
    /// A media type this crate does not handle.
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType { what: String, media_type: String },
    /// A JSON document (manifest, index, config, token) is malformed.
    #[error("malformed {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A manifest or config is well-formed JSON but semantically invalid.
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    /// The registry answered with an unexpected status.
    #[error("registry {host}: {action} answered HTTP {status}: {body}")]
    Registry {
        host: String,
        action: String,
        status: u16,
        body: String,
    },
    /// A transport error talking to a registry or token endpoint.
    #[error("request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// Authentication (token endpoint, credentials) failed.
    #[error("authentication to {host} failed: {reason}")]
    Auth { host: String, reason: String },
    /// Plain HTTP was needed but the host is not configured as insecure.
    #[error(
        "refusing plain HTTP to {0}: list it explicitly as an insecure host (tests: loopback only)"
    )]
    InsecureNotAllowed(String),
    /// A layer entry is unsafe (path traversal, symlink traversal, link out, special file, ...).
    #[error("unsafe entry {path:?} in layer {layer}: {reason}; the image is refused")]
    UnsafeEntry {
        layer: Digest,
        path: String,
        reason: String,
    },
    /// A layer exceeds the extraction bounds (decompression bomb or simply too big).
    #[error(
        "layer {layer} exceeds the extraction limit: {reason} (possible decompression bomb); the image is refused"
    )]
    ExtractLimit { layer: Digest, reason: String },
    /// A layer is not a readable tar stream in the declared compression.
    #[error("layer {layer} is corrupt: {reason}")]
    CorruptLayer { layer: Digest, reason: String },
    /// A local OCI image layout is missing pieces or malformed.
    #[error("OCI image layout {path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    /// Inputs of `pack` are inconsistent.
    #[error("pack: {0}")]
    Pack(String),
    /// A cache directory is not safe to use (another owner, not a directory).
    #[error("image cache {path}: {reason}")]
    UnsafeCache { path: PathBuf, reason: String },
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A background task died.
    #[error("background task failed: {0}")]
    Task(String),
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Error {
        let what = what.into();
        move |source| Error::Json { what, source }
    }
}
