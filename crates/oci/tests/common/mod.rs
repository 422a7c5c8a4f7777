//! Shared test helpers: a real `docker-registry` (Debian's CNCF distribution 2.8 package) on a free
//! loopback port with temp storage, and hostile-tar builders.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gigmcp_oci::pack::{ImageBuilder, LayerCompression};
use gigmcp_oci::{Digest, Platform};

/// A running `docker-registry serve` bound to 127.0.0.1:<free port>; killed on drop.
pub struct Registry {
    child: Child,
    pub host: String,
    pub storage: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    pub fn start() -> Self {
        let bin = which("docker-registry").expect(
            "docker-registry is not installed: `apt-get install -y docker-registry` (Debian package of the CNCF distribution registry)",
        );
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("data");
        for _attempt in 0..5 {
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let cfg = dir.path().join("config.yml");
            std::fs::write(
                &cfg,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                    storage.display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken between probe and bind: retry with another
                }
                if std::net::TcpStream::connect(&host).is_ok() {
                    return Self {
                        child,
                        host,
                        storage,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
        panic!("docker-registry did not come up: {log}");
    }

    /// The stored data file of a blob (manifests are blobs too), for tamper tests.
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A tar header with the low-level API (no path checks): `kind`, `path`, `size`, mode 0644.
pub fn raw_header(kind: tar::EntryType, path: &[u8], size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(0);
    // Write the name bytes directly: `set_path` would refuse `..` and absolute paths.
    let name = &mut h.as_old_mut().name;
    name.fill(0);
    name[..path.len()].copy_from_slice(path);
    h.set_cksum();
    h
}

/// A link header (symlink or hardlink) with raw name and target.
pub fn raw_link(kind: tar::EntryType, path: &[u8], target: &[u8]) -> tar::Header {
    let mut h = raw_header(kind, path, 0);
    let link = &mut h.as_old_mut().linkname;
    link.fill(0);
    link[..target.len()].copy_from_slice(target);
    h.set_cksum();
    h
}

/// Builds a tar from (header, data) pairs.
pub fn tar_of(entries: Vec<(tar::Header, Vec<u8>)>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (h, data) in entries {
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn file(path: &str, data: &[u8]) -> (tar::Header, Vec<u8>) {
    (
        raw_header(tar::EntryType::Regular, path.as_bytes(), data.len() as u64),
        data.to_vec(),
    )
}

pub fn dir(path: &str) -> (tar::Header, Vec<u8>) {
    (
        raw_header(tar::EntryType::Directory, path.as_bytes(), 0),
        vec![],
    )
}

/// An image for this host from uncompressed layer tars.
pub fn image(layers: Vec<Vec<u8>>, how: LayerCompression) -> gigmcp_oci::pack::BuiltImage {
    let mut b = ImageBuilder::new(Platform::host()).exec(gigmcp_oci::media::ExecConfig {
        entrypoint: Some(vec!["/bin/app".into()]),
        ..Default::default()
    });
    for l in layers {
        b = b.layer(l, how).unwrap();
    }
    b.build().unwrap()
}

/// Every path under `dir` (relative), sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, cur: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(cur).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}
