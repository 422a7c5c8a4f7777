//! Pull orchestration: resolve the pinned digest (index → platform manifest), fetch and verify config
//! and layers into the blob cache, extract once per manifest digest.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::extract::{ExtractStats, Extractor, Limits};
use crate::layout::Layout;
use crate::media::{self, ConfigFile, Descriptor, Manifest, ManifestDoc};
use crate::platform::{self, Platform};
use crate::reference::{ImageSource, Repository};
use crate::registry::{ClientConfig, RegistryClient};

/// When to draw a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Only when stderr is a terminal.
    #[default]
    Auto,
    /// Never.
    Never,
}

/// Settings of a [`Puller`].
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Cache root (blobs, rootfs, tmp).
    pub cache_dir: PathBuf,
    /// Registry client settings (insecure hosts, credentials).
    pub client: ClientConfig,
    /// Size bounds.
    pub limits: Limits,
    /// Platform to select and require (default: this host).
    pub platform: Platform,
    /// Progress bar policy.
    pub progress: Progress,
    /// Absolute file paths made to exist (empty, if the image has nothing there) in every
    /// rootfs, so a sandbox can mount its own copy over them; see [`crate::mount_points`].
    pub mount_points: Vec<String>,
}

impl PullOptions {
    /// Defaults for a cache at `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            client: ClientConfig::default(),
            limits: Limits::default(),
            platform: Platform::host(),
            progress: Progress::Auto,
            mount_points: Vec::new(),
        }
    }
}

/// The execution parameters of an image, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Entrypoint argv (may be empty).
    pub entrypoint: Vec<String>,
    /// Default arguments.
    pub cmd: Vec<String>,
    /// Environment, in image order (`NAME`, `value`).
    pub env: Vec<(String, String)>,
    /// Working directory, if set.
    pub working_dir: Option<String>,
    /// The image's `User` (informational: the sandbox runs as 65534).
    pub user: Option<String>,
}

impl ImageConfig {
    fn from_file(cfg: &ConfigFile) -> Self {
        let ec = cfg.config.clone().unwrap_or_default();
        Self {
            entrypoint: ec.entrypoint.unwrap_or_default(),
            cmd: ec.cmd.unwrap_or_default(),
            env: ec
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (kv, String::new()),
                })
                .collect(),
            working_dir: ec.working_dir.filter(|w| !w.is_empty()),
            user: ec.user.filter(|u| !u.is_empty()),
        }
    }

    /// Entrypoint followed by cmd: the argv to exec.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint
            .iter()
            .chain(self.cmd.iter())
            .cloned()
            .collect()
    }
}

/// A pulled, verified and extracted image.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// Digest of the platform manifest (the rootfs key; equals the pinned digest unless an index was
    /// pinned).
    pub manifest_digest: Digest,
    /// Read-only-by-convention extracted rootfs, shared by every sandbox of this image: bind it read-only.
    pub rootfs: PathBuf,
    /// Entrypoint, cmd, env, workdir.
    pub config: ImageConfig,
    /// The image's platform.
    pub platform: Platform,
    /// True when the rootfs already existed (no layer was fetched or extracted).
    pub cached: bool,
    /// Extraction counters (zero when cached).
    pub stats: ExtractStats,
}

/// Pulls images into a cache.
#[derive(Debug)]
pub struct Puller {
    cache: Cache,
    client: RegistryClient,
    limits: Limits,
    platform: Platform,
    progress: Progress,
    mount_points: Vec<String>,
}

enum Source<'a> {
    Registry(&'a Repository),
    Layout(Layout),
}

impl Puller {
    /// Opens the cache and builds the HTTP client.
    pub fn new(opts: PullOptions) -> Result<Self> {
        Ok(Self {
            cache: Cache::open(opts.cache_dir)?,
            client: RegistryClient::new(opts.client)?,
            limits: opts.limits,
            platform: opts.platform,
            progress: opts.progress,
            mount_points: opts.mount_points,
        })
    }

    /// The cache this puller fills.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The registry client (also used by `pack` pushes).
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Pulls `source`, verifying every byte, and returns the extracted rootfs and config. Offline when
    /// the image is already cached.
    pub async fn pull(&self, source: &ImageSource) -> Result<PulledImage> {
        let src = match source {
            ImageSource::Registry { repository, .. } => Source::Registry(repository),
            ImageSource::Layout { dir, .. } => Source::Layout(Layout::open(dir.clone())?),
        };
        let pinned = source.digest();
        let (manifest_digest, manifest) = self.resolve(&src, pinned).await?;
        if manifest.layers.len() > self.limits.max_layers {
            return Err(Error::TooLarge {
                what: format!("layer count of {manifest_digest}"),
                limit: self.limits.max_layers as u64,
            });
        }
        let cfg_desc = &manifest.config;
        if cfg_desc.size > self.limits.max_config_bytes {
            return Err(Error::TooLarge {
                what: format!("config {}", cfg_desc.digest),
                limit: self.limits.max_config_bytes,
            });
        }
        let cfg_bytes = self.small_blob(&src, cfg_desc, "image config").await?;
        let cfg: ConfigFile =
            serde_json::from_slice(&cfg_bytes).map_err(Error::json("image config"))?;
        let found = Platform {
            architecture: cfg.architecture.clone(),
            os: cfg.os.clone(),
            variant: cfg.variant.clone(),
        };
        if !self.platform.accepts(&found) {
            return Err(Error::WrongPlatform {
                manifest: manifest_digest,
                found: found.to_string(),
                wanted: self.platform.to_string(),
            });
        }
        if cfg.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::Invalid {
                what: format!("image {manifest_digest}"),
                reason: format!(
                    "{} layers but {} diff_ids in the config",
                    manifest.layers.len(),
                    cfg.rootfs.diff_ids.len()
                ),
            });
        }
        let config = ImageConfig::from_file(&cfg);
        let rootfs = self.cache.rootfs_path(&manifest_digest);
        if rootfs.is_dir() {
            // Also for a rootfs extracted before these mount points were asked for.
            self.ensure_mount_points(&rootfs)?;
            return Ok(PulledImage {
                manifest_digest,
                rootfs,
                config,
                platform: found,
                cached: true,
                stats: ExtractStats::default(),
            });
        }
        self.fetch_layers(&src, &manifest).await?;
        let stats = self.extract(&manifest, &cfg, &rootfs).await?;
        self.ensure_mount_points(&rootfs)?;
        Ok(PulledImage {
            manifest_digest,
            rootfs,
            config,
            platform: found,
            cached: false,
            stats,
        })
    }

    /// Fetches (or reads from cache) the pinned document and, for an index, the platform child.
    async fn resolve(&self, src: &Source<'_>, pinned: &Digest) -> Result<(Digest, Manifest)> {
        let (bytes, ctype) = self.manifest_bytes(src, pinned, None).await?;
        match media::parse_manifest_doc(&bytes, ctype.as_deref())? {
            ManifestDoc::Image(m) => Ok((pinned.clone(), m)),
            ManifestDoc::Index(idx) => {
                let child = platform::select(pinned, &idx, &self.platform)?.clone();
                if child.size > self.limits.max_manifest_bytes {
                    return Err(Error::TooLarge {
                        what: format!("manifest {}", child.digest),
                        limit: self.limits.max_manifest_bytes,
                    });
                }
                let (bytes, _) = self
                    .manifest_bytes(src, &child.digest, Some(child.size))
                    .await?;
                match media::parse_manifest_doc(&bytes, Some(&child.media_type))? {
                    ManifestDoc::Image(m) => Ok((child.digest, m)),
                    ManifestDoc::Index(_) => Err(Error::Invalid {
                        what: format!("index {pinned}"),
                        reason:
                            "its platform child is another index; nested indexes are not supported"
                                .into(),
                    }),
                }
            }
        }
    }

    /// Verified manifest bytes (cache first); `size` is checked when a descriptor gave one.
    async fn manifest_bytes(
        &self,
        src: &Source<'_>,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let limit = self.limits.max_manifest_bytes;
        let (bytes, ctype) = if let Some(b) = self.cache.read_small(digest, limit)? {
            (b, None)
        } else {
            let (bytes, ctype) = match src {
                Source::Registry(repo) => {
                    let raw = self.client.get_manifest(repo, digest, limit).await?;
                    (raw.bytes.to_vec(), raw.content_type)
                }
                Source::Layout(l) => (l.read_blob(digest, limit, "manifest")?, None),
            };
            digest.verify(&Digest::of(&bytes), format!("manifest {digest}"))?;
            self.cache.put_small(digest, &bytes)?;
            (bytes, ctype)
        };
        if let Some(expected) = size.filter(|s| *s != bytes.len() as u64) {
            return Err(Error::SizeMismatch {
                what: format!("manifest {digest}"),
                expected,
                actual: bytes.len() as u64,
            });
        }
        Ok((bytes, ctype))
    }

    async fn small_blob(&self, src: &Source<'_>, desc: &Descriptor, what: &str) -> Result<Vec<u8>> {
        let limit = desc.size;
        if let Some(b) = self.cache.read_small(&desc.digest, limit)? {
            return Ok(b);
        }
        let bytes = match src {
            Source::Registry(repo) => self
                .client
                .get_blob_bytes(repo, &desc.digest, limit)
                .await?
                .to_vec(),
            Source::Layout(l) => l.read_blob(&desc.digest, limit, what)?,
        };
        desc.digest
            .verify(&Digest::of(&bytes), format!("{what} {}", desc.digest))?;
        if bytes.len() as u64 != desc.size {
            return Err(Error::SizeMismatch {
                what: format!("{what} {}", desc.digest),
                expected: desc.size,
                actual: bytes.len() as u64,
            });
        }
        self.cache.put_small(&desc.digest, &bytes)?;
        Ok(bytes)
    }

    async fn fetch_layers(&self, src: &Source<'_>, manifest: &Manifest) -> Result<()> {
        let missing: Vec<&Descriptor> = manifest
            .layers
            .iter()
            .filter(|l| !self.cache.has_blob(&l.digest))
            .collect();
        for l in &manifest.layers {
            if l.size > self.limits.max_layer_bytes {
                return Err(Error::TooLarge {
                    what: format!("layer {}", l.digest),
                    limit: self.limits.max_layer_bytes,
                });
            }
        }
        let total: u64 = missing.iter().map(|l| l.size).sum();
        let bar = self.progress_bar(total);
        for layer in missing {
            let what = format!("layer {}", layer.digest);
            let mut writer = self
                .cache
                .blob_writer(&layer.digest, layer.size, what)
                .await?;
            let on_chunk = |n| bar.inc(n);
            match src {
                Source::Registry(repo) => {
                    self.client
                        .get_blob_into(repo, &layer.digest, &mut writer, on_chunk)
                        .await?
                }
                Source::Layout(l) => {
                    l.copy_blob_into(&layer.digest, &mut writer, on_chunk)
                        .await?
                }
            }
            writer.commit().await?;
        }
        bar.finish_and_clear();
        Ok(())
    }

    fn progress_bar(&self, total: u64) -> ProgressBar {
        if self.progress == Progress::Never || total == 0 || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("pulling layers");
        bar
    }

    fn ensure_mount_points(&self, rootfs: &std::path::Path) -> Result<()> {
        let outcomes = crate::mount_points::ensure(rootfs, &self.mount_points)
            .map_err(Error::io("create mount points in", rootfs))?;
        for (point, outcome) in self.mount_points.iter().zip(outcomes) {
            if let crate::mount_points::Outcome::Skipped(why) = outcome {
                tracing::warn!(rootfs = %rootfs.display(), %point, why, "no mount point");
            }
        }
        Ok(())
    }

    /// Extracts all layers into a private temp dir, then renames it into place (losing a race to a
    /// concurrent puller of the same digest is fine: its rootfs is used).
    async fn extract(
        &self,
        manifest: &Manifest,
        cfg: &ConfigFile,
        rootfs: &std::path::Path,
    ) -> Result<ExtractStats> {
        let staging = self.cache.temp_path("rootfs")?;
        let layers: Vec<(PathBuf, Descriptor, Digest)> = manifest
            .layers
            .iter()
            .zip(&cfg.rootfs.diff_ids)
            .map(|(l, d)| (self.cache.blob_path(&l.digest), l.clone(), d.clone()))
            .collect();
        let limits = self.limits.clone();
        let stage = staging.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<ExtractStats> {
            std::fs::create_dir(&stage).map_err(Error::io("create staging directory", &stage))?;
            std::fs::set_permissions(&stage, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(Error::io("chmod", &stage))?;
            let mut ex = Extractor::new(stage.clone(), &limits);
            for (blob, desc, diff_id) in &layers {
                ex.apply_layer(blob, desc, diff_id)?;
            }
            ex.finish()
        })
        .await
        .map_err(|e| Error::Task(e.to_string()));
        let stats = match result.and_then(|r| r) {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        match std::fs::rename(&staging, rootfs) {
            Ok(()) => Ok(stats),
            Err(_) if rootfs.is_dir() => {
                // A concurrent pull of the same digest won; its rootfs is equivalent.
                let _ = std::fs::remove_dir_all(&staging);
                Ok(stats)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(Error::io("rename rootfs into cache", rootfs)(e))
            }
        }
    }
}
