//! Deterministic OCI images from a static binary or a directory, written to an image layout or pushed
//! to a registry. Same inputs → same bytes → same digest: entries sorted by path, mtime 0, uid/gid 0,
//! no user/group names, permission bits kept except group/other write, setuid, setgid and sticky
//! (the bits extraction drops too), gzip level 6 without name or timestamp, config without
//! `created`/history.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::extract::image_mode;
use crate::layout::Layout;
use crate::media::{self, ConfigFile, Descriptor, ExecConfig, Manifest, RootFs};
use crate::platform::{self, Platform};
use crate::reference::{PushTarget, validate_tag};
use crate::registry::{ClientConfig, RegistryClient};

/// Layer compression for packed images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LayerCompression {
    /// gzip level 6, no timestamp (most compatible).
    #[default]
    Gzip,
    /// zstd (fastest level).
    Zstd,
    /// Uncompressed tar.
    None,
}

/// `registryctl pack` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct PackArgs {
    /// A single (static) binary: the image holds only `/<file name>`, which is the default entrypoint.
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "dir",
        required_unless_present = "dir"
    )]
    pub binary: Option<PathBuf>,
    /// A directory to pack as the full rootfs.
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
    /// Entrypoint argv element (repeat for more). Default with --binary: `/<file name>`.
    #[arg(long, value_name = "ARG")]
    pub entrypoint: Vec<String>,
    /// Default argument (cmd) element (repeat for more).
    #[arg(long, value_name = "ARG")]
    pub cmd: Vec<String>,
    /// Environment variable `K=V` (repeat for more).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Working directory.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Write into this OCI image-layout directory (created if needed)...
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "push",
        requires = "tag",
        required_unless_present = "push"
    )]
    pub layout: Option<PathBuf>,
    /// ...under this tag.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Or push to a registry: `host[:port]/repo:tag`.
    #[arg(long, value_name = "REF", value_parser = parse_push)]
    pub push: Option<PushTarget>,
    /// Allow plain HTTP to the push registry (loopback/test registries only).
    #[arg(long)]
    pub insecure: bool,
    /// Upload blobs in chunks of this many bytes (PATCH) instead of one PUT.
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<usize>,
    /// Target architecture recorded in the config (GOARCH spelling).
    #[arg(long, default_value_t = platform::goarch(std::env::consts::ARCH).to_owned())]
    pub arch: String,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = LayerCompression::Gzip)]
    pub compression: LayerCompression,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not K=V"))?;
    if k.is_empty() || k.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(format!("{k:?} is not a valid variable name"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

fn parse_push(s: &str) -> Result<PushTarget, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// What `pack` produced.
#[derive(Debug, Clone)]
pub struct PackOutput {
    /// Manifest digest: pull with `<ref>@<digest>` or `oci:<layout>@<digest>`.
    pub digest: Digest,
    /// Manifest size in bytes.
    pub manifest_size: u64,
    /// Config digest.
    pub config_digest: Digest,
    /// Layer (compressed) digests.
    pub layers: Vec<Digest>,
    /// Where it went (`oci:<dir>:<tag>` or `host/repo:tag`).
    pub destination: String,
}

impl std::fmt::Display for PackOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.digest, self.destination)
    }
}

/// Runs `pack`.
pub async fn run(args: &PackArgs) -> Result<PackOutput> {
    let (tar, default_entry) = match (&args.binary, &args.dir) {
        (Some(bin), None) => {
            let name = bin
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::Pack(format!("{} has no usable file name", bin.display())))?
                .to_owned();
            (tar_from_binary(bin, &name)?, vec![format!("/{name}")])
        }
        (None, Some(dir)) => (tar_from_dir(dir)?, vec![]),
        _ => return Err(Error::Pack("give exactly one of --binary or --dir".into())),
    };
    run_layer(args, tar, default_entry).await
}

/// Runs `pack` on a layer built by the caller (an uncompressed tar, e.g. a toolpack's `/app`):
/// `args` gives everything but the input (`binary`/`dir` are ignored); `default_entry` is the
/// entrypoint when `args` names none.
pub async fn run_layer(
    args: &PackArgs,
    tar: Vec<u8>,
    default_entry: Vec<String>,
) -> Result<PackOutput> {
    let entrypoint = if args.entrypoint.is_empty() {
        default_entry
    } else {
        args.entrypoint.clone()
    };
    if entrypoint.is_empty() && args.cmd.is_empty() {
        return Err(Error::Pack(
            "the image would have nothing to run: give --entrypoint and/or --cmd".into(),
        ));
    }
    let exec = ExecConfig {
        entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
        cmd: (!args.cmd.is_empty()).then(|| args.cmd.clone()),
        env: (!args.env.is_empty())
            .then(|| args.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: args.workdir.clone(),
        user: None,
    };
    let image = ImageBuilder::new(Platform::linux(&args.arch))
        .exec(exec)
        .layer(tar, args.compression)?
        .build()?;
    let destination = match (&args.layout, &args.push) {
        (Some(dir), None) => {
            let tag = args
                .tag
                .as_deref()
                .ok_or_else(|| Error::Pack("--layout needs --tag".into()))?;
            image.write_layout(&Layout::create(dir)?, tag)?;
            format!("oci:{}:{tag}", dir.display())
        }
        (None, Some(target)) => {
            let mut cfg = ClientConfig::default();
            if args.insecure {
                cfg.insecure_hosts.push(target.repository.host.clone());
            }
            image
                .push(&RegistryClient::new(cfg)?, target, args.chunk_size)
                .await?;
            target.to_string()
        }
        _ => {
            return Err(Error::Pack(
                "give exactly one of --layout DIR --tag T or --push host/repo:tag".into(),
            ));
        }
    };
    Ok(PackOutput {
        digest: image.manifest_digest.clone(),
        manifest_size: image.manifest.len() as u64,
        config_digest: image.config_digest.clone(),
        layers: image.layers.iter().map(|(d, _)| d.clone()).collect(),
        destination,
    })
}

fn tar_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// A one-entry layer: `name` (mode 0755) with the binary's bytes.
pub fn tar_from_binary(path: &Path, name: &str) -> Result<Vec<u8>> {
    let data = std::fs::read(path).map_err(Error::io("read binary", path))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar_header(tar::EntryType::Regular, 0o755, data.len() as u64);
    b.append_data(&mut h, name, data.as_slice())
        .map_err(Error::io("build tar", path))?;
    b.into_inner().map_err(Error::io("build tar", path))
}

/// Where a toolpack image keeps the engine; its entrypoint.
pub const TOOLPACK_ENTRYPOINT: &str = "/app/server";

/// The one layer of a toolpack image: exactly `/app/server` (0755, the engine),
/// `/app/manifest.yaml` and `/app/toolspec.yaml` (0644, the bytes given). Lint the documents
/// first (`registryctl pack --toolpack` does).
pub fn toolpack_layer(engine: &[u8], manifest: &[u8], toolspec: &[u8]) -> Result<Vec<u8>> {
    tar_from_files(&[
        ("app/manifest.yaml", 0o644, manifest),
        ("app/server", 0o755, engine),
        ("app/toolspec.yaml", 0o644, toolspec),
    ])
}

/// Pack options for an image written to an OCI layout directory `layout` under `tag`, with
/// every other option at its default.
pub fn layout_args(layout: &Path, tag: &str) -> PackArgs {
    PackArgs {
        binary: None,
        dir: None,
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        env: Vec::new(),
        workdir: None,
        layout: Some(layout.to_path_buf()),
        tag: Some(tag.to_owned()),
        push: None,
        insecure: false,
        chunk_size: None,
        arch: platform::goarch(std::env::consts::ARCH).to_owned(),
        compression: LayerCompression::Gzip,
    }
}

/// A layer of in-memory files `(path, mode, bytes)` (relative paths, `/`-separated), each with
/// its parent directories (mode 0755), sorted by path; modes lose group/other write and the
/// special bits, as [`tar_from_dir`]'s do.
pub fn tar_from_files(files: &[(&str, u32, &[u8])]) -> Result<Vec<u8>> {
    let mut entries: BTreeMap<String, Option<(u32, &[u8])>> = BTreeMap::new();
    for (path, mode, data) in files {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            return Err(Error::Pack(format!(
                "{path:?} is not a plain relative path"
            )));
        }
        let mut parent = String::new();
        for component in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, p)| p)
        {
            parent.push_str(component);
            parent.push('/');
            entries.entry(parent.clone()).or_insert(None);
        }
        entries.insert((*path).to_owned(), Some((image_mode(*mode), *data)));
    }
    let mut b = tar::Builder::new(Vec::new());
    for (path, entry) in &entries {
        let io = Error::io("build tar", path);
        match entry {
            None => {
                let mut h = tar_header(tar::EntryType::Directory, 0o755, 0);
                b.append_data(&mut h, path, std::io::empty()).map_err(io)?;
            }
            Some((mode, data)) => {
                let mut h = tar_header(tar::EntryType::Regular, *mode, data.len() as u64);
                b.append_data(&mut h, path, *data).map_err(io)?;
            }
        }
    }
    b.into_inner().map_err(Error::io("build tar", "<files>"))
}

/// A layer with the whole tree under `dir` (not following symlinks), sorted by path. Hardlinked files
/// are stored as separate files; device nodes, FIFOs and sockets are refused. Modes are the input's
/// minus group/other write, setuid, setgid and sticky; owners are uid/gid 0.
pub fn tar_from_dir(dir: &Path) -> Result<Vec<u8>> {
    let mut paths = BTreeMap::new();
    collect(dir, Path::new(""), &mut paths)?;
    let mut b = tar::Builder::new(Vec::new());
    for (rel, abs) in &paths {
        let meta = std::fs::symlink_metadata(abs).map_err(Error::io("stat", abs))?;
        let ft = meta.file_type();
        let mode = image_mode(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()));
        let io = Error::io("add to tar", abs);
        if ft.is_dir() {
            let mut h = tar_header(tar::EntryType::Directory, mode, 0);
            b.append_data(&mut h, format!("{rel}/"), std::io::empty())
                .map_err(io)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(abs).map_err(Error::io("readlink", abs))?;
            let mut h = tar_header(tar::EntryType::Symlink, 0o777, 0);
            b.append_link(&mut h, rel, &target).map_err(io)?;
        } else if ft.is_file() {
            let f = std::fs::File::open(abs).map_err(Error::io("open", abs))?;
            let mut h = tar_header(tar::EntryType::Regular, mode, meta.len());
            b.append_data(&mut h, rel, f).map_err(io)?;
        } else {
            return Err(Error::Pack(format!(
                "{} is a device, FIFO or socket; images cannot hold those",
                abs.display()
            )));
        }
    }
    b.into_inner().map_err(Error::io("build tar", dir))
}

fn collect(root: &Path, rel: &Path, out: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    let abs = root.join(rel);
    let mut names = Vec::new();
    for e in std::fs::read_dir(&abs).map_err(Error::io("read directory", &abs))? {
        names.push(e.map_err(Error::io("read directory", &abs))?.file_name());
    }
    names.sort();
    for name in names {
        let child_rel = rel.join(&name);
        let key = child_rel
            .to_str()
            .ok_or_else(|| Error::Pack(format!("{} is not valid UTF-8", child_rel.display())))?
            .to_owned();
        let child_abs = root.join(&child_rel);
        let is_dir = std::fs::symlink_metadata(&child_abs)
            .map_err(Error::io("stat", &child_abs))?
            .file_type()
            .is_dir();
        out.insert(key, child_abs);
        if is_dir {
            collect(root, &child_rel, out)?;
        }
    }
    Ok(())
}

/// Compresses a layer tar deterministically.
pub fn compress(tar: &[u8], how: LayerCompression) -> Result<(Vec<u8>, &'static str)> {
    Ok(match how {
        LayerCompression::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(Vec::new(), flate2::Compression::new(6));
            enc.write_all(tar).map_err(Error::io("gzip", "<layer>"))?;
            (
                enc.finish().map_err(Error::io("gzip", "<layer>"))?,
                media::LAYER_GZIP,
            )
        }
        LayerCompression::Zstd => (
            ruzstd::encoding::compress_to_vec(tar, ruzstd::encoding::CompressionLevel::Fastest),
            media::LAYER_ZSTD,
        ),
        LayerCompression::None => (tar.to_vec(), media::LAYER_TAR),
    })
}

/// Assembles an image from layers (also used by tests and benchmarks to build multi-layer or
/// deliberately hostile images).
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    platform: Platform,
    exec: ExecConfig,
    layers: Vec<(Descriptor, Bytes, Digest)>,
}

/// A built image: every blob in memory.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Manifest bytes.
    pub manifest: Bytes,
    /// Their digest.
    pub manifest_digest: Digest,
    /// Config bytes.
    pub config: Bytes,
    /// Their digest.
    pub config_digest: Digest,
    /// Compressed layers.
    pub layers: Vec<(Digest, Bytes)>,
}

impl ImageBuilder {
    /// An empty image for `platform`.
    pub fn new(platform: Platform) -> Self {
        Self {
            platform,
            exec: ExecConfig::default(),
            layers: Vec::new(),
        }
    }

    /// Sets the execution config.
    pub fn exec(mut self, exec: ExecConfig) -> Self {
        self.exec = exec;
        self
    }

    /// Adds a layer from an uncompressed tar.
    pub fn layer(self, tar: Vec<u8>, how: LayerCompression) -> Result<Self> {
        let diff_id = Digest::of(&tar);
        let (blob, media_type) = compress(&tar, how)?;
        Ok(self.raw_layer(blob.into(), media_type, diff_id))
    }

    /// Adds an already encoded layer blob with an explicit media type and diff_id (no checks: this is
    /// how tests build broken images).
    pub fn raw_layer(mut self, blob: Bytes, media_type: &str, diff_id: Digest) -> Self {
        let desc = Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(&blob),
            size: blob.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        };
        self.layers.push((desc, blob, diff_id));
        self
    }

    /// Serialises config and manifest.
    pub fn build(self) -> Result<BuiltImage> {
        let cfg = ConfigFile {
            architecture: self.platform.architecture.clone(),
            os: self.platform.os.clone(),
            variant: self.platform.variant.clone(),
            config: Some(self.exec),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: self.layers.iter().map(|(_, _, d)| d.clone()).collect(),
            },
        };
        let config = Bytes::from(serde_json::to_vec(&cfg).map_err(Error::json("image config"))?);
        let config_digest = Digest::of(&config);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: media::OCI_CONFIG.into(),
                digest: config_digest.clone(),
                size: config.len() as u64,
                platform: None,
                annotations: BTreeMap::new(),
            },
            layers: self.layers.iter().map(|(d, _, _)| d.clone()).collect(),
            annotations: BTreeMap::new(),
        };
        let manifest =
            Bytes::from(serde_json::to_vec(&manifest).map_err(Error::json("image manifest"))?);
        Ok(BuiltImage {
            manifest_digest: Digest::of(&manifest),
            manifest,
            config,
            config_digest,
            layers: self
                .layers
                .into_iter()
                .map(|(d, b, _)| (d.digest, b))
                .collect(),
        })
    }
}

impl BuiltImage {
    /// The manifest's descriptor (for indexes and layouts).
    pub fn descriptor(&self, platform: Option<Platform>) -> Descriptor {
        Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: self.manifest_digest.clone(),
            size: self.manifest.len() as u64,
            platform,
            annotations: BTreeMap::new(),
        }
    }

    /// Writes all blobs into `layout` and tags the manifest.
    pub fn write_layout(&self, layout: &Layout, tag: &str) -> Result<()> {
        validate_tag(tag).map_err(|r| Error::Pack(format!("tag {tag:?}: {r}")))?;
        self.write_blobs(layout)?;
        layout.set_tag(&self.descriptor(None), tag)
    }

    /// Writes all blobs (config, layers, manifest) into `layout` without tagging.
    pub fn write_blobs(&self, layout: &Layout) -> Result<()> {
        for (_, blob) in &self.layers {
            layout.write_blob(blob)?;
        }
        layout.write_blob(&self.config)?;
        layout.write_blob(&self.manifest)?;
        Ok(())
    }

    /// Pushes blobs (skipping those the registry has) and then the manifest under the target's tag.
    pub async fn push(
        &self,
        client: &RegistryClient,
        target: &PushTarget,
        chunk_size: Option<usize>,
    ) -> Result<()> {
        let repo = &target.repository;
        let blobs = self
            .layers
            .iter()
            .map(|(d, b)| (d, b))
            .chain(std::iter::once((&self.config_digest, &self.config)));
        for (digest, blob) in blobs {
            if !client.blob_exists(repo, digest).await? {
                client
                    .upload_blob(repo, digest, blob.clone(), chunk_size)
                    .await?;
            }
        }
        client
            .put_manifest(
                repo,
                &target.tag,
                media::OCI_MANIFEST,
                self.manifest.clone(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_tar_is_deterministic_and_sorted() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("b/c")).unwrap();
        std::fs::write(d.path().join("b/c/f"), b"x").unwrap();
        std::fs::write(d.path().join("a"), b"y").unwrap();
        std::os::unix::fs::symlink("b/c/f", d.path().join("l")).unwrap();
        let t1 = tar_from_dir(d.path()).unwrap();
        // Touch mtimes: the tar must not change.
        let f = std::fs::File::options()
            .write(true)
            .open(d.path().join("a"))
            .unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(99))
            .unwrap();
        let t2 = tar_from_dir(d.path()).unwrap();
        assert_eq!(t1, t2);
        let mut ar = tar::Archive::new(t1.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "b/", "b/c/", "b/c/f", "l"]);
        let (g1, _) = compress(&t1, LayerCompression::Gzip).unwrap();
        let (g2, _) = compress(&t2, LayerCompression::Gzip).unwrap();
        assert_eq!(g1, g2);
    }

    /// Modes taken from the input never carry group/other write or the special bits into an image.
    #[test]
    fn dir_tar_drops_unsafe_mode_bits() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let set = |rel: &str, mode: u32| {
            std::fs::set_permissions(d.path().join(rel), std::fs::Permissions::from_mode(mode))
                .unwrap()
        };
        std::fs::create_dir(d.path().join("open")).unwrap();
        std::fs::create_dir(d.path().join("sticky")).unwrap();
        for f in ["open/server", "suid", "group", "private"] {
            std::fs::write(d.path().join(f), b"x").unwrap();
        }
        set("open", 0o777);
        set("sticky", 0o1777);
        set("open/server", 0o777);
        set("suid", 0o6755);
        set("group", 0o664);
        set("private", 0o700);
        let tar = tar_from_dir(d.path()).unwrap();
        let mut ar = tar::Archive::new(tar.as_slice());
        let modes: BTreeMap<String, (u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    (h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
                )
            })
            .collect();
        let expect = |name: &str, mode: u32| {
            assert_eq!(modes[name], (mode, 0, 0), "{name}: {:o}", modes[name].0);
        };
        expect("open/", 0o755);
        expect("sticky/", 0o755);
        expect("open/server", 0o755);
        expect("suid", 0o755);
        expect("group", 0o644);
        expect("private", 0o700);
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        pack: PackArgs,
    }

    #[test]
    fn clap_definition_is_consistent_and_parses() {
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let c = Cli::try_parse_from([
            "pack",
            "--binary",
            "/bin/x",
            "--env",
            "A=1",
            "--push",
            "127.0.0.1:5000/gig/x:v1",
            "--insecure",
        ])
        .unwrap();
        assert_eq!(c.pack.push.unwrap().tag, "v1");
        assert_eq!(c.pack.compression, LayerCompression::Gzip);
        let c = Cli::try_parse_from([
            "pack",
            "--dir",
            "/r",
            "--entrypoint",
            "/bin/sh",
            "--layout",
            "/l",
            "--tag",
            "t",
        ])
        .unwrap();
        assert_eq!(c.pack.layout.as_deref(), Some(Path::new("/l")));
        for bad in [
            &[
                "pack", "--binary", "/b", "--dir", "/d", "--layout", "/l", "--tag", "t",
            ][..],
            &["pack", "--binary", "/b"],
            &["pack", "--binary", "/b", "--layout", "/l"],
            &[
                "pack", "--binary", "/b", "--layout", "/l", "--tag", "t", "--push", "h.io/r:t",
            ],
            &["pack", "--binary", "/b", "--push", "h.io/r"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_tars_have_their_directories_sorted_modes_and_no_escapes() {
        let tar = tar_from_files(&[
            ("app/toolspec.yaml", 0o644, b"s"),
            ("app/server", 0o4777, b"bin"),
            ("app/manifest.yaml", 0o664, b"m"),
        ])
        .unwrap();
        assert_eq!(
            tar,
            tar_from_files(&[
                ("app/manifest.yaml", 0o664, b"m"),
                ("app/server", 0o4777, b"bin"),
                ("app/toolspec.yaml", 0o644, b"s"),
            ])
            .unwrap(),
            "order of the input does not matter"
        );
        let mut ar = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let mode = e.header().mode().unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), mode)
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("app/".to_owned(), 0o755),
                ("app/manifest.yaml".to_owned(), 0o644),
                ("app/server".to_owned(), 0o755),
                ("app/toolspec.yaml".to_owned(), 0o644),
            ]
        );
        for bad in ["", "/etc/x", "a/../b", "a//b", "./a"] {
            assert!(tar_from_files(&[(bad, 0o644, b"x")]).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_parser() {
        assert_eq!(parse_env("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_env("novalue").is_err());
        assert!(parse_env("=x").is_err());
    }
}
