//! Safe layer extraction into a private staging directory.
//!
//! Policy (see docs/oci.md):
//! - entry paths are relative; an absolute path or a `..` component refuses the image (no silent
//!   normalisation); `.` components and a leading `./` are fine;
//! - nothing is ever written through a symlink: every parent component is checked with `lstat` and must
//!   be a real directory (a symlinked parent refuses the image), and files are created with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW` after removing whatever was there. The staging directory is created by
//!   us, private to this process and unknown to any sandbox, so the layer is the only thing that can
//!   shape it and checking component by component is race-free;
//! - symlink *targets* are stored verbatim: they are only ever resolved inside the sandbox, whose root
//!   is this rootfs;
//! - hardlinks must name an existing regular file inside the rootfs (same path rules);
//! - device nodes and FIFOs refuse the image (or are skipped, [`SpecialFiles::Skip`]);
//! - permissions: the image decides the owner's bits and read/execute for group and other; write for
//!   group and other, setuid, setgid and sticky are dropped (`image_mode`), so no other account can
//!   change a rootfs that every sandbox of the image runs. Ownership is never taken from the layer:
//!   every entry belongs to the extracting identity (`extract_owner`: uid/gid 0 when running as
//!   root), and `Extractor::finish` walks the finished tree to enforce both rules on every entry;
//!   xattrs (file capabilities included) are dropped;
//! - sizes are bounded: total file bytes, entry count, and the bytes a tar stream may spend between two
//!   entries (PAX/GNU headers), so a decompression bomb stops with [`Error::ExtractLimit`];
//! - whiteouts `.wh.<name>` delete `<name>` from lower layers, `.wh..wh..opq` empties its directory of
//!   lower-layer content; both are applied across layers and never materialised;
//! - the uncompressed stream must hash to the config's `diff_id`, and the compressed blob is re-hashed
//!   while it is read.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use tar::EntryType;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::media::{Compression, Descriptor};

/// The permission bits an image may give an entry: everything of the owner's, read and execute of
/// group and other. Group/other write, setuid, setgid and the sticky bit are dropped: a rootfs is
/// shared by every sandbox of its image, so nobody but its owner may change it.
pub(crate) fn image_mode(mode: u32) -> u32 {
    mode & 0o755
}

/// The owner (uid, gid) every extracted entry gets: `(0, 0)` when the process runs as root (the
/// gateway does), otherwise its effective uid and gid.
pub(crate) fn extract_owner() -> (u32, u32) {
    let uid = rustix::process::geteuid().as_raw();
    if uid == 0 {
        (0, 0)
    } else {
        (uid, rustix::process::getegid().as_raw())
    }
}

/// Mode of directories created before their own entry (if any) sets theirs, and of mount points.
const DEFAULT_DIR_MODE: u32 = 0o755;

fn create_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(DEFAULT_DIR_MODE).create(path)
}

/// What to do with device nodes and FIFOs in layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpecialFiles {
    /// Refuse the image (default).
    #[default]
    Reject,
    /// Skip the entry, keep extracting.
    Skip,
}

/// Size bounds for untrusted images.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest manifest or index document.
    pub max_manifest_bytes: u64,
    /// Largest image config blob.
    pub max_config_bytes: u64,
    /// Largest single compressed layer blob.
    pub max_layer_bytes: u64,
    /// Most layers in one image.
    pub max_layers: usize,
    /// Total bytes of file content written for one image (all layers).
    pub max_total_bytes: u64,
    /// Total tar entries for one image (all layers).
    pub max_entries: u64,
    /// Bytes a tar stream may spend on headers (PAX, GNU long names) around one entry.
    pub max_header_bytes: u64,
    /// Device nodes and FIFOs.
    pub special_files: SpecialFiles,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 4 << 20,
            max_config_bytes: 4 << 20,
            max_layer_bytes: 4 << 30,
            max_layers: 128,
            max_total_bytes: 8 << 30,
            max_entries: 1_000_000,
            max_header_bytes: 1 << 20,
            special_files: SpecialFiles::Reject,
        }
    }
}

/// Counters of one extraction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Tar entries seen.
    pub entries: u64,
    /// File content bytes written.
    pub bytes: u64,
    /// Device nodes / FIFOs skipped (only with [`SpecialFiles::Skip`]).
    pub skipped_special: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
}

/// Extracts layers, base first, into `root` (a fresh private directory).
pub struct Extractor<'a> {
    root: PathBuf,
    limits: &'a Limits,
    stats: ExtractStats,
    dir_modes: BTreeMap<PathBuf, u32>,
}

/// Shared byte budget of the decompressed stream (the tar reader owns the stream, the extractor flips
/// the mode between "inside file content" and "between entries").
struct Budget {
    total: Cell<u64>,
    total_limit: u64,
    window: Cell<u64>,
    window_limit: u64,
    in_content: Cell<bool>,
    tripped: Cell<Option<&'static str>>,
}

struct Guarded<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let b = &self.budget;
        b.total.set(b.total.get() + n as u64);
        if b.total.get() > b.total_limit {
            b.tripped.set(Some(
                "the decompressed layer stream is larger than the total size limit",
            ));
            return Err(io::Error::other("extraction limit"));
        }
        if !b.in_content.get() {
            b.window.set(b.window.get() + n as u64);
            if b.window.get() > b.window_limit {
                b.tripped.set(Some(
                    "tar headers (PAX/GNU extensions or skipped data) exceed the header size limit",
                ));
                return Err(io::Error::other("extraction limit"));
            }
        }
        Ok(n)
    }
}

/// Reads a sequence of zstd frames.
struct ZstdFrames<R: BufRead> {
    dec: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(src: R) -> io::Result<Self> {
        let dec = ruzstd::decoding::StreamingDecoder::new(src)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self { dec: Some(dec) })
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let mut src = self
                .dec
                .take()
                .map(|d| d.into_inner())
                .ok_or_else(|| io::Error::other("zstd state"))?;
            if src.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.dec = Some(
                ruzstd::decoding::StreamingDecoder::new(src)
                    .map_err(|e| io::Error::other(e.to_string()))?,
            );
        }
    }
}

impl<'a> Extractor<'a> {
    /// Extracts into `root`, which must exist and be empty.
    pub fn new(root: PathBuf, limits: &'a Limits) -> Self {
        Self {
            root,
            limits,
            stats: ExtractStats::default(),
            dir_modes: BTreeMap::new(),
        }
    }

    /// Applies one layer read from the verified blob at `blob`.
    pub fn apply_layer(&mut self, blob: &Path, desc: &Descriptor, diff_id: &Digest) -> Result<()> {
        let layer = &desc.digest;
        let file = fs::File::open(blob).map_err(Error::io("open layer blob", blob))?;
        let mut raw = BufReader::with_capacity(256 << 10, HashingReader::new(file));
        let head = raw.fill_buf().map_err(Error::io("read layer blob", blob))?;
        let compression = Compression::from_media_type(&desc.media_type)
            .unwrap_or_else(|| Compression::sniff(head));
        let corrupt = |reason: String| Error::CorruptLayer {
            layer: layer.clone(),
            reason,
        };

        let budget = Rc::new(Budget {
            total: Cell::new(0),
            total_limit: self.limits.max_total_bytes.saturating_sub(self.stats.bytes)
                + self.limits.max_entries.saturating_mul(1536)
                + self.limits.max_header_bytes,
            window: Cell::new(0),
            window_limit: self.limits.max_header_bytes,
            in_content: Cell::new(false),
            tripped: Cell::new(None),
        });
        let limit_err = |budget: &Budget, fallback: String| match budget.tripped.get() {
            Some(reason) => Error::ExtractLimit {
                layer: layer.clone(),
                reason: reason.to_owned(),
            },
            None => corrupt(fallback),
        };
        {
            let decompressed: Box<dyn Read + '_> = match compression {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut raw)),
                Compression::Zstd => {
                    Box::new(ZstdFrames::new(&mut raw).map_err(|e| corrupt(format!("zstd: {e}")))?)
                }
                Compression::None => Box::new(&mut raw),
            };
            let guarded = Guarded {
                inner: HashingReader::new(decompressed),
                budget: budget.clone(),
            };
            let mut archive = tar::Archive::new(guarded);
            let mut layer_paths = HashSet::new();
            let entries = archive
                .entries()
                .map_err(|e| limit_err(&budget, format!("tar: {e}")))?;
            for entry in entries {
                budget.in_content.set(false);
                budget.window.set(0);
                let mut entry = entry.map_err(|e| limit_err(&budget, format!("tar: {e}")))?;
                budget.in_content.set(true);
                self.apply_entry(layer, &mut entry, &mut layer_paths)
                    .map_err(|e| {
                        if budget.tripped.get().is_some() {
                            limit_err(&budget, String::new())
                        } else {
                            e
                        }
                    })?;
                budget.in_content.set(false);
                budget.window.set(0);
            }
            // Trailing zero blocks and padding belong to the diff_id too.
            let mut guarded = archive.into_inner();
            budget.window.set(0);
            io::copy(&mut guarded, &mut io::sink())
                .map_err(|e| limit_err(&budget, format!("after tar end: {e}")))?;
            let (diff, _) = guarded.inner.finish();
            diff_id.verify(
                &diff,
                format!("uncompressed content (diff_id) of layer {layer}"),
            )?;
        }
        io::copy(&mut raw, &mut io::sink()).map_err(Error::io("read layer blob", blob))?;
        let (actual, len) = raw.into_inner().finish();
        if len != desc.size {
            return Err(Error::SizeMismatch {
                what: format!("cached layer {layer}"),
                expected: desc.size,
                actual: len,
            });
        }
        layer.verify(&actual, format!("cached layer {layer}"))
    }

    /// Enforces owner and permission rules on every entry (`secure_tree`), applies deferred
    /// directory modes, creates the mount points a sandbox needs, and returns the counters.
    pub fn finish(self) -> Result<ExtractStats> {
        // Before the deferred modes: a directory the image makes unreadable (0o000) can still be
        // walked by a non-root extractor now.
        secure_tree(&self.root, extract_owner())?;
        for (rel, mode) in self.dir_modes.iter().rev() {
            // A later layer may have replaced a parent by a symlink: re-check every component so
            // that chmod never follows one out of the rootfs.
            let Ok(abs) = self.resolve_existing(rel) else {
                continue;
            };
            if fs::symlink_metadata(&abs).is_ok_and(|m| m.file_type().is_dir()) {
                fs::set_permissions(&abs, fs::Permissions::from_mode(*mode))
                    .map_err(Error::io("chmod", &abs))?;
            }
        }
        for dir in ["dev", "proc", "sys", "tmp"] {
            let abs = self.root.join(dir);
            if fs::symlink_metadata(&abs).is_err() {
                create_dir(&abs).map_err(Error::io("create mount point", &abs))?;
            }
        }
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o755))
            .map_err(Error::io("chmod", &self.root))?;
        Ok(self.stats)
    }

    // Long: one tar entry end to end (path checks, type, whiteouts, modes, limits), in the order
    // the rules apply; each branch is short, splitting would pass most of them around.
    fn apply_entry<R: Read>(
        &mut self,
        layer: &Digest,
        entry: &mut tar::Entry<'_, R>,
        layer_paths: &mut HashSet<PathBuf>,
    ) -> Result<()> {
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let unsafe_entry = |reason: String| Error::UnsafeEntry {
            layer: layer.clone(),
            path: shown.clone(),
            reason,
        };
        self.stats.entries += 1;
        if self.stats.entries > self.limits.max_entries {
            return Err(Error::ExtractLimit {
                layer: layer.clone(),
                reason: format!("more than {} entries", self.limits.max_entries),
            });
        }
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            return Ok(());
        }
        let rel = sanitize(&raw_path).map_err(|r| unsafe_entry(r.to_owned()))?;
        let Some(name) = rel.file_name().map(|n| n.to_owned()) else {
            return Ok(()); // the layer root itself (`./`)
        };
        let name_bytes = name.as_bytes();
        if let Some(target) = name_bytes.strip_prefix(b".wh.") {
            self.stats.whiteouts += 1;
            return self
                .whiteout(&rel, target, layer_paths)
                .map_err(|e| match e {
                    WalkError::Unsafe(r) => unsafe_entry(r),
                    WalkError::Other(e) => e,
                });
        }
        let mode = image_mode(
            entry
                .header()
                .mode()
                .map_err(|e| unsafe_entry(format!("bad mode field: {e}")))?,
        );
        let walk = |e: WalkError| match e {
            WalkError::Unsafe(r) => unsafe_entry(r),
            WalkError::Other(e) => e,
        };
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.size();
                if self.stats.bytes.saturating_add(size) > self.limits.max_total_bytes {
                    return Err(Error::ExtractLimit {
                        layer: layer.clone(),
                        reason: format!(
                            "file contents exceed {} bytes (this entry declares {size} bytes)",
                            self.limits.max_total_bytes
                        ),
                    });
                }
                let abs = self.prepare(&rel, layer_paths).map_err(walk)?;
                remove_existing(&abs, false).map_err(walk)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&abs)
                    .map_err(Error::io("create file", &abs))?;
                let written = io::copy(entry, &mut f).map_err(|e| Error::CorruptLayer {
                    layer: layer.clone(),
                    reason: format!("reading {shown}: {e}"),
                })?;
                self.stats.bytes += written;
                f.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(Error::io("chmod", &abs))?;
                if let Ok(mtime) = entry.header().mtime() {
                    let _ = f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime));
                }
            }
            EntryType::Directory => {
                let abs = self.prepare(&rel, layer_paths).map_err(walk)?;
                if !remove_existing(&abs, true).map_err(walk)? {
                    create_dir(&abs).map_err(Error::io("create directory", &abs))?;
                }
                self.dir_modes.insert(rel, mode);
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry("symlink without a target".into()))?
                    .into_owned();
                if target.is_empty() || target.len() > 4096 {
                    return Err(unsafe_entry(
                        "symlink target empty or longer than 4096 bytes".into(),
                    ));
                }
                let abs = self.prepare(&rel, layer_paths).map_err(walk)?;
                remove_existing(&abs, false).map_err(walk)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &abs)
                    .map_err(Error::io("create symlink", &abs))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry("hardlink without a target".into()))?
                    .into_owned();
                let target_rel =
                    sanitize(&target).map_err(|r| unsafe_entry(format!("hardlink target: {r}")))?;
                let target_abs = self.resolve_existing(&target_rel).map_err(walk)?;
                let meta = fs::symlink_metadata(&target_abs).map_err(|_| {
                    unsafe_entry(format!(
                        "hardlink target {:?} does not exist in the rootfs",
                        target_rel
                    ))
                })?;
                if !meta.file_type().is_file() {
                    return Err(unsafe_entry(format!(
                        "hardlink target {target_rel:?} is not a regular file"
                    )));
                }
                if target_rel == rel {
                    return Ok(());
                }
                let abs = self.prepare(&rel, layer_paths).map_err(walk)?;
                remove_existing(&abs, false).map_err(walk)?;
                // linkat(2) without AT_SYMLINK_FOLLOW: the source is never dereferenced.
                fs::hard_link(&target_abs, &abs).map_err(Error::io("create hardlink", &abs))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => match self.limits.special_files
            {
                SpecialFiles::Reject => {
                    return Err(unsafe_entry(
                        "device nodes and FIFOs are not allowed in sandbox images".into(),
                    ));
                }
                SpecialFiles::Skip => self.stats.skipped_special += 1,
            },
            EntryType::GNUSparse => {
                return Err(unsafe_entry("sparse files are not supported".into()));
            }
            other => {
                return Err(unsafe_entry(format!(
                    "unsupported tar entry type {other:?}"
                )));
            }
        }
        Ok(())
    }

    /// Creates missing parents of `rel` (checking every existing one is a real directory) and returns
    /// the absolute path of `rel`. Records `rel` and created parents as written by this layer.
    fn prepare(
        &mut self,
        rel: &Path,
        layer_paths: &mut HashSet<PathBuf>,
    ) -> Result<PathBuf, WalkError> {
        let mut cur_rel = PathBuf::new();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                cur_rel.push(c);
                let abs = self.root.join(&cur_rel);
                match fs::symlink_metadata(&abs) {
                    Ok(m) if m.file_type().is_dir() => {}
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(WalkError::Unsafe(format!(
                            "its parent {cur_rel:?} is a symlink; writing through symlinks is refused"
                        )));
                    }
                    Ok(_) => {
                        return Err(WalkError::Unsafe(format!(
                            "its parent {cur_rel:?} is not a directory"
                        )));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        create_dir(&abs).map_err(|e| {
                            WalkError::Other(Error::io("create directory", &abs)(e))
                        })?;
                        layer_paths.insert(cur_rel.clone());
                    }
                    Err(e) => return Err(WalkError::Other(Error::io("stat", &abs)(e))),
                }
            }
        }
        layer_paths.insert(rel.to_owned());
        Ok(self.root.join(rel))
    }

    /// Resolves an existing path inside the rootfs without following symlinks in its parents.
    fn resolve_existing(&self, rel: &Path) -> Result<PathBuf, WalkError> {
        let mut cur_rel = PathBuf::new();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                cur_rel.push(c);
                match fs::symlink_metadata(self.root.join(&cur_rel)) {
                    Ok(m) if m.file_type().is_dir() => {}
                    Ok(_) => {
                        return Err(WalkError::Unsafe(format!(
                            "{cur_rel:?} is not a directory (symlinks are not followed)"
                        )));
                    }
                    Err(_) => {
                        return Err(WalkError::Unsafe(format!(
                            "{cur_rel:?} does not exist in the rootfs"
                        )));
                    }
                }
            }
        }
        Ok(self.root.join(rel))
    }

    fn whiteout(
        &mut self,
        rel: &Path,
        target: &[u8],
        layer_paths: &HashSet<PathBuf>,
    ) -> Result<(), WalkError> {
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_owned();
        let parent_abs = match self.resolve_existing(&parent_rel.join("x")) {
            Ok(p) => p
                .parent()
                .map(Path::to_owned)
                .unwrap_or_else(|| self.root.clone()),
            Err(WalkError::Unsafe(r)) if r.ends_with("does not exist in the rootfs") => {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if !fs::symlink_metadata(&parent_abs).is_ok_and(|m| m.file_type().is_dir()) {
            return Ok(());
        }
        if target == b".wh..opq" {
            let rd = fs::read_dir(&parent_abs)
                .map_err(|e| WalkError::Other(Error::io("read directory", &parent_abs)(e)))?;
            for child in rd {
                let child = child
                    .map_err(|e| WalkError::Other(Error::io("read directory", &parent_abs)(e)))?;
                if !layer_paths.contains(&parent_rel.join(child.file_name())) {
                    remove_existing(&child.path(), false)?;
                }
            }
            return Ok(());
        }
        if target.starts_with(b".wh.") {
            return Ok(()); // other AUFS metadata (.wh..wh.plnk, ...): nothing to apply
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(WalkError::Unsafe("whiteout of an invalid name".into()));
        }
        let victim_rel = parent_rel.join(OsStr::from_bytes(target));
        if !layer_paths.contains(&victim_rel) {
            remove_existing(&parent_abs.join(OsStr::from_bytes(target)), false)?;
        }
        Ok(())
    }
}

enum WalkError {
    Unsafe(String),
    Other(Error),
}

/// Makes `owner` the owner of `root` and of everything below it, and drops from every entry the
/// permission bits [`image_mode`] does not allow. Symlinks are never followed (`lchown`; their own
/// mode means nothing). Only for trees nobody else can write to while this runs (the private
/// staging directory).
fn secure_tree(root: &Path, (uid, gid): (u32, u32)) -> Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).map_err(Error::io("stat", &path))?;
        if meta.uid() != uid || meta.gid() != gid {
            // Also clears setuid/setgid on files; the chmod below covers the rest.
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                .map_err(Error::io("chown", &path))?;
        }
        let kind = meta.file_type();
        if kind.is_symlink() {
            continue;
        }
        let mode = meta.mode() & 0o7777;
        if image_mode(mode) != mode {
            fs::set_permissions(&path, fs::Permissions::from_mode(image_mode(mode)))
                .map_err(Error::io("chmod", &path))?;
        }
        if kind.is_dir() {
            for child in fs::read_dir(&path).map_err(Error::io("read directory", &path))? {
                pending.push(child.map_err(Error::io("read directory", &path))?.path());
            }
        }
    }
    Ok(())
}

/// Turns a raw tar path into a relative path of normal components.
fn sanitize(raw: &[u8]) -> Result<PathBuf, &'static str> {
    if raw.len() > 4096 {
        return Err("path longer than 4096 bytes");
    }
    if raw.contains(&0) {
        return Err("path contains a NUL byte");
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute path; layer entries must be relative to the image root");
            }
            Component::ParentDir => return Err("path contains a `..` component (path traversal)"),
            Component::CurDir => {}
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

/// Removes what is at `abs` (never following a symlink). With `keep_dir`, an existing directory is kept
/// and `true` returned.
fn remove_existing(abs: &Path, keep_dir: bool) -> Result<bool, WalkError> {
    match fs::symlink_metadata(abs) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(WalkError::Other(Error::io("stat", abs)(e))),
        Ok(m) if m.file_type().is_dir() => {
            if keep_dir {
                Ok(true)
            } else {
                // remove_dir_all does not follow symlinks inside the tree.
                fs::remove_dir_all(abs)
                    .map_err(|e| WalkError::Other(Error::io("remove directory", abs)(e)))?;
                Ok(false)
            }
        }
        Ok(_) => {
            fs::remove_file(abs).map_err(|e| WalkError::Other(Error::io("remove", abs)(e)))?;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Multi-member gzip and multi-frame zstd streams (split mid-entry) extract completely.
    #[test]
    fn multi_member_and_multi_frame_streams() {
        let tar = tar_with(&[("a", &[1u8; 3000]), ("b", b"second")]);
        let (first, second) = tar.split_at(1700);
        let mut gz = Vec::new();
        for part in [first, second] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        let mut zst = Vec::new();
        for part in [first, second] {
            zst.extend(ruzstd::encoding::compress_to_vec(
                part,
                ruzstd::encoding::CompressionLevel::Fastest,
            ));
        }
        for (blob, media_type) in [
            (gz, crate::media::LAYER_GZIP),
            (zst, "application/octet-stream"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let blob_path = dir.path().join("blob");
            std::fs::write(&blob_path, &blob).unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir(&root).unwrap();
            let desc = Descriptor {
                media_type: media_type.into(),
                digest: Digest::of(&blob),
                size: blob.len() as u64,
                platform: None,
                annotations: Default::default(),
            };
            let limits = Limits::default();
            let mut ex = Extractor::new(root.clone(), &limits);
            ex.apply_layer(&blob_path, &desc, &Digest::of(&tar))
                .unwrap();
            let stats = ex.finish().unwrap();
            assert_eq!(stats.entries, 2);
            assert_eq!(std::fs::read(root.join("a")).unwrap(), vec![1u8; 3000]);
            assert_eq!(std::fs::read(root.join("b")).unwrap(), b"second");
        }
    }

    #[test]
    fn sanitize_accepts_relative_and_refuses_escapes() {
        assert_eq!(
            sanitize(b"./usr/bin/x").unwrap(),
            PathBuf::from("usr/bin/x")
        );
        assert_eq!(
            sanitize(b"usr//lib/./y/").unwrap(),
            PathBuf::from("usr/lib/y")
        );
        assert_eq!(sanitize(b"./").unwrap(), PathBuf::new());
        assert!(sanitize(b"/etc/passwd").is_err());
        assert!(sanitize(b"../x").is_err());
        assert!(sanitize(b"a/../../x").is_err());
        assert!(sanitize(b"a/b/..").is_err());
    }
}
