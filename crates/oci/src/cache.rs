//! The content-addressed cache: `<root>/blobs/sha256/<hex>` (verified blobs), `<root>/rootfs/<hex>/`
//! (one extracted rootfs per platform manifest digest) and `<root>/tmp/` (staging, same file system so
//! that the final `rename` is atomic).
//!
//! Every entry appears by an atomic rename of a fully written and verified temp file or directory, so
//! concurrent pulls of the same digest (threads or processes) never observe partial content: the
//! loser of a rootfs rename race discards its copy and uses the winner's.
//!
//! Nobody but the cache's owner can change it. [`Cache::open`] checks this at every open: each cache
//! directory must be a real directory owned by this process's effective uid, and gets its mode
//! (`<root>` and `rootfs/`: 0711, traversable so that a rootfs can still be bound by path; `blobs/`,
//! `blobs/sha256/`, `tmp/`: 0700); a wider mode is narrowed with a warning, a foreign owner is an
//! error. Blobs are written 0600. A rootfs extracted before the current permission policy (see
//! `crate::extract`) cannot be trusted, so `open` retires every rootfs of a cache that lacks the
//! policy stamp `<root>/rootfs-policy`; those images are extracted again on their next pull.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// Mode of the cache root and of `rootfs/`: the owner's, plus traversal (no listing) for others, so
/// a sandbox that binds its rootfs by path can reach it.
const TRAVERSABLE_DIR_MODE: u32 = 0o711;
/// Mode of `blobs/`, `blobs/sha256/` and `tmp/`: nobody else needs them.
const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of blobs and of the cache's own files.
const PRIVATE_FILE_MODE: u32 = 0o600;
/// Directories inside the root, in creation order, with their modes.
const SUBDIRS: [(&str, u32); 4] = [
    ("blobs", PRIVATE_DIR_MODE),
    ("blobs/sha256", PRIVATE_DIR_MODE),
    ("rootfs", TRAVERSABLE_DIR_MODE),
    ("tmp", PRIVATE_DIR_MODE),
];
/// Marks a cache whose every rootfs was extracted under the current permission policy.
const POLICY_FILE: &str = "rootfs-policy";
/// Content of [`POLICY_FILE`]; change it whenever extraction gets stricter, so older trees are retired.
const POLICY: &str = "2 owner=extractor no-group-other-write no-setuid-setgid-sticky\n";
/// Serialises the retirement of old trees between processes opening the same cache.
const LOCK_FILE: &str = "lock";

/// Handle on a cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) a cache rooted at `root`: checks owner and modes of its directories
    /// (narrowing wider modes, refusing directories owned by another uid) and retires every rootfs
    /// extracted under an older permission policy. Missing parents of `root` are created 0700.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_DIR_MODE)
                .create(parent)
                .map_err(Error::io("create cache directory", parent))?;
        }
        // The root may be a symlink the operator placed; below it, nothing may be one.
        secure_dir(&root, TRAVERSABLE_DIR_MODE, true)?;
        for (sub, mode) in SUBDIRS {
            secure_dir(&root.join(sub), mode, false)?;
        }
        let cache = Self { root };
        cache.retire_unsafe_rootfs()?;
        Ok(cache)
    }

    /// Moves every rootfs out of `rootfs/` (and deletes it) unless the policy stamp says they were
    /// all extracted under the current policy, then writes the stamp. Once a cache has the stamp,
    /// this is one small read.
    fn retire_unsafe_rootfs(&self) -> Result<()> {
        let stamp = self.root.join(POLICY_FILE);
        let current = || fs::read(&stamp).is_ok_and(|b| b == POLICY.as_bytes());
        if current() {
            return Ok(());
        }
        let lock_path = self.root.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&lock_path)
            .map_err(Error::io("open cache lock", &lock_path))?;
        lock.lock().map_err(Error::io("lock", &lock_path))?;
        if current() {
            return Ok(());
        }
        let rootfs = self.root.join("rootfs");
        let mut retired = 0usize;
        for entry in fs::read_dir(&rootfs).map_err(Error::io("read directory", &rootfs))? {
            let old = entry.map_err(Error::io("read directory", &rootfs))?.path();
            let dst = self.temp_path("retired-rootfs")?;
            match fs::rename(&old, &dst) {
                Ok(()) => retired += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("retire old rootfs", &old)(e)),
            }
            if let Err(e) = fs::remove_dir_all(&dst) {
                tracing::warn!(
                    path = %dst.display(),
                    error = %e,
                    "cannot delete a retired rootfs; Cache::remove_stale_temp will remove it later"
                );
            }
        }
        if retired > 0 {
            tracing::warn!(
                cache = %self.root.display(),
                retired,
                "removed image rootfs trees extracted before the current permission policy \
                 (they may have been writable by other accounts); each image is extracted again \
                 on its next pull"
            );
        }
        let tmp = self.temp_path("policy")?;
        write_private(&tmp, POLICY.as_bytes())?;
        fs::rename(&tmp, &stamp).map_err(Error::io("write", &stamp))
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Where the extracted rootfs of manifest `digest` lives.
    pub fn rootfs_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("rootfs").join(digest.hex())
    }

    /// True when the blob is present (it was verified before it was renamed into place).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A fresh, unique path under `tmp/` (nothing created).
    pub fn temp_path(&self, prefix: &str) -> Result<PathBuf> {
        let mut rnd = [0u8; 12];
        getrandom::fill(&mut rnd)
            .map_err(|e| Error::Task(format!("no randomness for a temp name: {e}")))?;
        Ok(self
            .root
            .join("tmp")
            .join(format!("{prefix}-{}", hex::encode(rnd))))
    }

    /// Removes staging leftovers (of crashed pulls) older than `older_than`; returns how many. Safe
    /// to call while other pulls run, as long as `older_than` exceeds the longest pull.
    pub fn remove_stale_temp(&self, older_than: std::time::Duration) -> Result<usize> {
        let tmp = self.root.join("tmp");
        let mut removed = 0;
        for e in fs::read_dir(&tmp).map_err(Error::io("read directory", &tmp))? {
            let e = e.map_err(Error::io("read directory", &tmp))?;
            let meta = e.metadata().map_err(Error::io("stat", e.path()))?;
            let old = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > older_than);
            if old {
                let p = e.path();
                if meta.is_dir() {
                    fs::remove_dir_all(&p).map_err(Error::io("remove", &p))?;
                } else {
                    fs::remove_file(&p).map_err(Error::io("remove", &p))?;
                }
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Reads a small cached blob, re-verifying its digest (a damaged cache entry is removed and reported
    /// as absent). `Ok(None)` when absent.
    pub fn read_small(&self, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let path = self.blob_path(digest);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open cached blob", &path)(e)),
        };
        let mut buf = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(Error::io("read cached blob", &path))?;
        if buf.len() as u64 > limit || Digest::of(&buf) != *digest {
            tracing::warn!(%digest, "cached blob is damaged; removing it and fetching again");
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(buf))
    }

    /// Stores small, already verified bytes under their digest.
    pub fn put_small(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        digest.verify(&Digest::of(bytes), "blob written to cache")?;
        let tmp = self.temp_path("blob")?;
        if let Err(e) = write_private(&tmp, bytes) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let dst = self.blob_path(digest);
        fs::rename(&tmp, &dst).map_err(Error::io("rename blob into cache", &dst))
    }

    /// Starts a streamed, verified blob write.
    pub async fn blob_writer(
        &self,
        digest: &Digest,
        size: u64,
        what: String,
    ) -> Result<BlobWriter> {
        let tmp = self.temp_path("blob")?;
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&tmp)
            .await
            .map_err(Error::io("create temp blob", &tmp))?;
        Ok(BlobWriter {
            file: Some(tokio::io::BufWriter::with_capacity(1 << 20, file)),
            tmp,
            dst: self.blob_path(digest),
            expected: digest.clone(),
            size,
            hasher: Hasher::new(),
            what,
        })
    }
}

/// Writes a new file (never an existing one, never through a symlink) readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(Error::io("write", path))
}

/// Makes `path` a directory of this process's effective uid with exactly `mode`: creates it if
/// missing, narrows a wider mode (with a warning), and refuses a directory owned by another uid or
/// something that is not a directory (`follow`: whether `path` itself may be a symlink to one).
fn secure_dir(path: &Path, mode: u32, follow: bool) -> Result<()> {
    let created = match fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(Error::io("create cache directory", path)(e)),
    };
    let meta = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .map_err(Error::io("stat", path))?;
    if !meta.is_dir() {
        return Err(Error::UnsafeCache {
            path: path.to_owned(),
            reason: "it is not a directory (a file or a symlink is in its place); remove it and \
                     the cache rebuilds it"
                .into(),
        });
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(Error::UnsafeCache {
            path: path.to_owned(),
            reason: format!(
                "it is owned by uid {}, but this process runs as uid {euid}; another account could \
                 change the images sandboxes run. Run `chown -R {euid} {}` or delete the \
                 directory (the cache is rebuilt)",
                meta.uid(),
                path.display()
            ),
        });
    }
    let old = meta.mode() & 0o7777;
    if old != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(Error::io("chmod", path))?;
        if !created && old & !mode != 0 {
            tracing::warn!(
                path = %path.display(),
                old = %format!("{old:04o}"),
                new = %format!("{mode:04o}"),
                "image cache directory was open to other accounts; mode narrowed"
            );
        }
    }
    Ok(())
}

/// A streamed blob write that is renamed into the cache only once the digest and size match.
/// Dropping it without [`BlobWriter::commit`] removes the temp file.
pub struct BlobWriter {
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    tmp: PathBuf,
    dst: PathBuf,
    expected: Digest,
    size: u64,
    hasher: Hasher,
    what: String,
}

impl BlobWriter {
    /// Appends a chunk; fails as soon as more bytes arrive than the descriptor declares.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if self.hasher.len() + chunk.len() as u64 > self.size {
            return Err(Error::SizeMismatch {
                what: self.what.clone(),
                expected: self.size,
                actual: self.hasher.len() + chunk.len() as u64,
            });
        }
        self.hasher.update(chunk);
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::Task("blob writer used after commit".into()))?;
        file.write_all(chunk)
            .await
            .map_err(Error::io("write temp blob", &self.tmp))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.hasher.len()
    }

    /// Verifies size and digest, then renames the blob into place.
    pub async fn commit(mut self) -> Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Error::Task("blob writer committed twice".into()))?;
        file.flush()
            .await
            .map_err(Error::io("flush temp blob", &self.tmp))?;
        drop(file);
        let hasher = std::mem::take(&mut self.hasher);
        let len = hasher.len();
        if len != self.size {
            return Err(Error::SizeMismatch {
                what: self.what.clone(),
                expected: self.size,
                actual: len,
            });
        }
        self.expected.verify(&hasher.finish(), self.what.clone())?;
        tokio::fs::rename(&self.tmp, &self.dst)
            .await
            .map_err(Error::io("rename blob into cache", &self.dst))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the temp path no longer exists; this is then a harmless ENOENT.
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blob_writer_commits_only_verified_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let d = Digest::of(b"hello");
        let mut w = cache.blob_writer(&d, 5, "test blob".into()).await.unwrap();
        w.write(b"hel").await.unwrap();
        w.write(b"lo").await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(cache.read_small(&d, 100).unwrap().unwrap(), b"hello");

        let mut w = cache
            .blob_writer(&Digest::of(b"world"), 5, "bad blob".into())
            .await
            .unwrap();
        w.write(b"wxrld").await.unwrap();
        assert!(matches!(
            w.commit().await,
            Err(Error::DigestMismatch { .. })
        ));
        let mut w = cache
            .blob_writer(&Digest::of(b"world"), 5, "long blob".into())
            .await
            .unwrap();
        assert!(matches!(
            w.write(b"world!").await,
            Err(Error::SizeMismatch { .. })
        ));
        drop(w);
        assert!(!cache.has_blob(&Digest::of(b"world")));
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "temp files are cleaned up"
        );
    }

    #[test]
    fn stale_temp_entries_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let old = cache.temp_path("rootfs").unwrap();
        fs::create_dir_all(old.join("x/y")).unwrap();
        let fresh = cache.temp_path("blob").unwrap();
        fs::write(&fresh, b"partial").unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        fs::File::open(&old).unwrap().set_modified(past).unwrap();
        assert_eq!(
            cache
                .remove_stale_temp(std::time::Duration::from_secs(3600))
                .unwrap(),
            1
        );
        assert!(!old.exists() && fresh.exists());
    }

    #[test]
    fn open_sets_private_modes_and_refuses_a_symlinked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data/images");
        let cache = Cache::open(&root).unwrap();
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&dir.path().join("data")), 0o700, "missing parents");
        assert_eq!(mode(&root), 0o711);
        assert_eq!(mode(&root.join("rootfs")), 0o711);
        for sub in ["blobs", "blobs/sha256", "tmp"] {
            assert_eq!(mode(&root.join(sub)), 0o700, "{sub}");
        }
        let d = Digest::of(b"x");
        cache.put_small(&d, b"x").unwrap();
        assert_eq!(mode(&cache.blob_path(&d)), 0o600);
        assert_eq!(fs::read(root.join(POLICY_FILE)).unwrap(), POLICY.as_bytes());

        // Wider modes are narrowed at the next open; a rootfs of a stamped cache is kept.
        fs::create_dir(root.join("rootfs/kept")).unwrap();
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o2777)).unwrap();
        Cache::open(&root).unwrap();
        assert_eq!(mode(&root.join("tmp")), 0o700);
        assert_eq!(mode(&root), 0o711);
        assert!(root.join("rootfs/kept").is_dir());

        // Something else in place of a cache directory is refused, never followed.
        let elsewhere = tempfile::tempdir().unwrap();
        fs::remove_dir(root.join("tmp")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.join("tmp")).unwrap();
        let e = Cache::open(&root).unwrap_err();
        assert!(matches!(e, Error::UnsafeCache { .. }), "{e:?}");
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn damaged_cached_blob_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let d = Digest::of(b"data");
        cache.put_small(&d, b"data").unwrap();
        fs::write(cache.blob_path(&d), b"dat4").unwrap();
        assert!(cache.read_small(&d, 100).unwrap().is_none());
        assert!(!cache.has_blob(&d));
    }
}
