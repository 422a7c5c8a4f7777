//! OCI images without a Docker daemon: pull by digest (registry or image layout), verify every byte,
//! extract safely into a shared read-only rootfs per image, and pack deterministic images.
//!
//! See `docs/oci.md` for the cache layout and the extraction policy.
#![forbid(unsafe_code)]

pub mod cache;
pub mod digest;
pub mod error;
pub mod extract;
pub mod layout;
pub mod media;
pub mod mount_points;
pub mod pack;
pub mod platform;
pub mod pull;
pub mod reference;
pub mod registry;

pub use cache::Cache;
pub use digest::Digest;
pub use error::{Error, Result};
pub use extract::{ExtractStats, Limits, SpecialFiles};
pub use layout::Layout;
pub use platform::Platform;
pub use pull::{ImageConfig, Progress, PullOptions, PulledImage, Puller};
pub use reference::{ImageSource, PushTarget, Repository};
pub use registry::{ClientConfig, Credentials, RegistryClient};
