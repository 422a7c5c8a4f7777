//! OCI image-layout directories (`oci-layout`, `index.json`, `blobs/sha256/<hex>`): read as a pull
//! source, written by `pack`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use crate::cache::BlobWriter;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::{Descriptor, Index, OCI_INDEX};

/// The annotation naming a tag inside `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Handle on an OCI image-layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Opens an existing layout (checks its `oci-layout` marker).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let marker = dir.join("oci-layout");
        let text = std::fs::read_to_string(&marker).map_err(|e| Error::Layout {
            path: dir.clone(),
            reason: format!("no readable oci-layout marker ({e}); is this an OCI image layout?"),
        })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(Error::json("oci-layout"))?;
        if v.get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none_or(|v| !v.starts_with("1."))
        {
            return Err(Error::Layout {
                path: dir,
                reason: "unsupported imageLayoutVersion (want 1.x)".into(),
            });
        }
        Ok(Self { dir })
    }

    /// Opens a layout, creating an empty one if `dir` has none.
    pub fn create(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(Error::io("create layout", &blobs))?;
        let marker = dir.join("oci-layout");
        if !marker.exists() {
            std::fs::write(&marker, LAYOUT_FILE).map_err(Error::io("write", &marker))?;
        }
        let index = dir.join("index.json");
        if !index.exists() {
            let empty = Index {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                manifests: vec![],
                annotations: BTreeMap::new(),
            };
            write_atomic(
                &index,
                &serde_json::to_vec(&empty).map_err(Error::json("index.json"))?,
            )?;
        }
        Self::open(dir)
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a blob.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Reads a small blob and verifies its digest.
    pub fn read_blob(&self, digest: &Digest, limit: u64, what: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let file = std::fs::File::open(&path).map_err(|e| Error::Layout {
            path: self.dir.clone(),
            reason: format!("{what} {digest} is missing: {e}"),
        })?;
        let mut buf = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(Error::io("read blob", &path))?;
        if buf.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: format!("{what} {digest}"),
                limit,
            });
        }
        digest.verify(
            &Digest::of(&buf),
            format!("{what} in layout {}", self.dir.display()),
        )?;
        Ok(buf)
    }

    /// Streams a blob into a verifying cache writer.
    pub async fn copy_blob_into(
        &self,
        digest: &Digest,
        writer: &mut BlobWriter,
        mut on_chunk: impl FnMut(u64),
    ) -> Result<()> {
        let path = self.blob_path(digest);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::Layout {
                path: self.dir.clone(),
                reason: format!("blob {digest} is missing: {e}"),
            })?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(Error::io("read blob", &path))?;
            if n == 0 {
                return Ok(());
            }
            writer.write(&buf[..n]).await?;
            on_chunk(n as u64);
        }
    }

    /// Writes a blob (atomically) and returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Reads `index.json`.
    pub fn index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
        serde_json::from_slice(&bytes).map_err(Error::json("index.json"))
    }

    /// Points `tag` at `manifest` in `index.json` (replacing an older entry with that tag).
    pub fn set_tag(&self, manifest: &Descriptor, tag: &str) -> Result<()> {
        let mut index = self.index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
        let mut desc = manifest.clone();
        desc.annotations.insert(REF_NAME.into(), tag.into());
        index.manifests.push(desc);
        let path = self.dir.join("index.json");
        write_atomic(
            &path,
            &serde_json::to_vec(&index).map_err(Error::json("index.json"))?,
        )
    }

    /// The descriptor tagged `tag` in `index.json`.
    pub fn resolve_tag(&self, tag: &str) -> Result<Descriptor> {
        self.index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
            .ok_or_else(|| Error::Layout {
                path: self.dir.clone(),
                reason: format!("no manifest tagged {tag:?}"),
            })
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|e| Error::Task(format!("no randomness: {e}")))?;
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(rnd)));
    std::fs::write(&tmp, bytes).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", path))
}
