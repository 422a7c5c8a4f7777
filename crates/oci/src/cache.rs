//! The content-addressed cache: `<root>/blobs/sha256/<hex>` (verified blobs), `<root>/rootfs/<hex>/`
//! (one extracted rootfs per platform manifest digest) and `<root>/tmp/` (staging, same file system so
//! that the final `rename` is atomic).
//!
//! Every entry appears by an atomic rename of a fully written and verified temp file or directory, so
//! concurrent pulls of the same digest (threads or processes) never observe partial content: the
//! loser of a rootfs rename race discards its copy and uses the winner's.

use std::io::Read;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// Handle on a cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) a cache rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for sub in ["blobs/sha256", "rootfs", "tmp"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(Error::io("create cache directory", &p))?;
        }
        Ok(Self { root })
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
        for e in std::fs::read_dir(&tmp).map_err(Error::io("read directory", &tmp))? {
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
                    std::fs::remove_dir_all(&p).map_err(Error::io("remove", &p))?;
                } else {
                    std::fs::remove_file(&p).map_err(Error::io("remove", &p))?;
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
        let file = match std::fs::File::open(&path) {
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
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(buf))
    }

    /// Stores small, already verified bytes under their digest.
    pub fn put_small(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        digest.verify(&Digest::of(bytes), "blob written to cache")?;
        let tmp = self.temp_path("blob")?;
        std::fs::write(&tmp, bytes).map_err(Error::io("write temp blob", &tmp))?;
        let dst = self.blob_path(digest);
        std::fs::rename(&tmp, &dst).map_err(Error::io("rename blob into cache", &dst))
    }

    /// Starts a streamed, verified blob write.
    pub async fn blob_writer(
        &self,
        digest: &Digest,
        size: u64,
        what: String,
    ) -> Result<BlobWriter> {
        let tmp = self.temp_path("blob")?;
        let file = tokio::fs::File::create(&tmp)
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
        let _ = std::fs::remove_file(&self.tmp);
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
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "temp files are cleaned up"
        );
    }

    #[test]
    fn stale_temp_entries_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let old = cache.temp_path("rootfs").unwrap();
        std::fs::create_dir_all(old.join("x/y")).unwrap();
        let fresh = cache.temp_path("blob").unwrap();
        std::fs::write(&fresh, b"partial").unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        assert_eq!(
            cache
                .remove_stale_temp(std::time::Duration::from_secs(3600))
                .unwrap(),
            1
        );
        assert!(!old.exists() && fresh.exists());
    }

    #[test]
    fn damaged_cached_blob_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let d = Digest::of(b"data");
        cache.put_small(&d, b"data").unwrap();
        std::fs::write(cache.blob_path(&d), b"dat4").unwrap();
        assert!(cache.read_small(&d, 100).unwrap().is_none());
        assert!(!cache.has_blob(&d));
    }
}
