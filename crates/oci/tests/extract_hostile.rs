//! Hostile and tricky layers, served from an OCI image-layout directory: each unsafe image is refused
//! with a clear error and nothing is written outside the cache; a permissive image is extracted with
//! safe owners and modes, so another local account cannot change what sandboxes run.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::*;
use gigmcp_oci::pack::{BuiltImage, LayerCompression};
use gigmcp_oci::{
    Error, ImageSource, Layout, Limits, Progress, PullOptions, PulledImage, Puller, SpecialFiles,
};
use tar::EntryType;

struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn pull(&self, img: &BuiltImage, limits: Limits) -> Result<PulledImage, Error> {
        let layout = Layout::create(self.path().join("layout")).unwrap();
        img.write_layout(&layout, "t").unwrap();
        let mut opts = PullOptions::new(self.path().join("cache"));
        opts.limits = limits;
        opts.progress = Progress::Never;
        let src = ImageSource::Layout {
            dir: layout.dir().to_owned(),
            digest: img.manifest_digest.clone(),
        };
        Puller::new(opts).unwrap().pull(&src).await
    }

    /// After a refused pull: no rootfs, no staging leftovers, nothing outside cache/ and layout/.
    fn assert_clean(&self) {
        assert!(
            tree(&self.path().join("cache/rootfs")).is_empty(),
            "no rootfs may be published"
        );
        assert!(
            tree(&self.path().join("cache/tmp")).is_empty(),
            "staging must be removed"
        );
        let outside: Vec<String> = tree(self.path())
            .into_iter()
            .filter(|p| {
                !(p == "cache"
                    || p.starts_with("cache/")
                    || p == "layout"
                    || p.starts_with("layout/")
                    || p == "outside")
            })
            .collect();
        assert!(outside.is_empty(), "written outside the cache: {outside:?}");
        assert!(
            tree(&self.path().join("outside")).is_empty(),
            "written into outside/"
        );
    }
}

fn unsafe_reason(e: &Error) -> String {
    match e {
        Error::UnsafeEntry { reason, .. } => reason.clone(),
        other => panic!("expected UnsafeEntry, got {other:?}"),
    }
}

#[tokio::test]
async fn parent_traversal_is_refused() {
    let w = Work::new();
    let img = image(
        vec![tar_of(vec![file("../../outside/pwned", b"x")])],
        LayerCompression::Gzip,
    );
    let e = w.pull(&img, Limits::default()).await.unwrap_err();
    assert!(unsafe_reason(&e).contains(".."), "{e}");
    assert!(
        e.to_string().contains("../../outside/pwned"),
        "error names the entry: {e}"
    );
    w.assert_clean();

    let w = Work::new();
    let img = image(
        vec![tar_of(vec![dir("a/"), file("a/../../outside/pwned", b"x")])],
        LayerCompression::Gzip,
    );
    assert!(unsafe_reason(&w.pull(&img, Limits::default()).await.unwrap_err()).contains(".."));
    w.assert_clean();
}

#[tokio::test]
async fn absolute_paths_are_refused() {
    let w = Work::new();
    let target = w.path().join("outside/abs");
    let img = image(
        vec![tar_of(vec![file(target.to_str().unwrap(), b"x")])],
        LayerCompression::Gzip,
    );
    let e = w.pull(&img, Limits::default()).await.unwrap_err();
    assert!(unsafe_reason(&e).contains("absolute"), "{e}");
    assert!(!target.exists());
    w.assert_clean();
}

#[tokio::test]
async fn writing_through_a_symlink_is_refused() {
    // Same layer: symlink to a directory outside, then a file through it.
    let w = Work::new();
    let outside = w.path().join("outside");
    let evil = raw_link(
        EntryType::Symlink,
        b"evil",
        outside.to_str().unwrap().as_bytes(),
    );
    let img = image(
        vec![tar_of(vec![
            (evil.clone(), vec![]),
            file("evil/pwned", b"x"),
        ])],
        LayerCompression::Gzip,
    );
    let e = w.pull(&img, Limits::default()).await.unwrap_err();
    assert!(unsafe_reason(&e).contains("symlink"), "{e}");
    w.assert_clean();

    // Across layers, with a relative target climbing out.
    let w = Work::new();
    let rel = raw_link(
        EntryType::Symlink,
        b"up",
        b"../../../../../../../../../../../../tmp",
    );
    let img = image(
        vec![
            tar_of(vec![(rel, vec![])]),
            tar_of(vec![file("up/gigmcp-oci-pwned", b"x")]),
        ],
        LayerCompression::Gzip,
    );
    let e = w.pull(&img, Limits::default()).await.unwrap_err();
    assert!(unsafe_reason(&e).contains("symlink"), "{e}");
    assert!(!Path::new("/tmp/gigmcp-oci-pwned").exists());
    w.assert_clean();

    // A symlink then a directory entry through it.
    let w = Work::new();
    let img = image(
        vec![tar_of(vec![(evil, vec![]), dir("evil/sub/")])],
        LayerCompression::Gzip,
    );
    assert!(unsafe_reason(&w.pull(&img, Limits::default()).await.unwrap_err()).contains("symlink"));
    w.assert_clean();
}

#[tokio::test]
async fn hardlinks_out_of_the_rootfs_are_refused() {
    for target in [&b"../../../../etc/passwd"[..], b"/etc/passwd"] {
        let w = Work::new();
        let img = image(
            vec![tar_of(vec![(
                raw_link(EntryType::Link, b"h", target),
                vec![],
            )])],
            LayerCompression::Gzip,
        );
        let e = w.pull(&img, Limits::default()).await.unwrap_err();
        assert!(unsafe_reason(&e).contains("hardlink target"), "{e}");
        w.assert_clean();
    }
    // Via a symlink inside the rootfs that points out: the hardlink target must be a regular file.
    let w = Work::new();
    let img = image(
        vec![tar_of(vec![
            (raw_link(EntryType::Symlink, b"s", b"/etc/passwd"), vec![]),
            (raw_link(EntryType::Link, b"h", b"s"), vec![]),
        ])],
        LayerCompression::Gzip,
    );
    assert!(
        unsafe_reason(&w.pull(&img, Limits::default()).await.unwrap_err())
            .contains("not a regular file")
    );
    w.assert_clean();
    // Via a symlinked parent directory.
    let w = Work::new();
    let img = image(
        vec![tar_of(vec![
            (raw_link(EntryType::Symlink, b"etc", b"/etc"), vec![]),
            (raw_link(EntryType::Link, b"h", b"etc/passwd"), vec![]),
        ])],
        LayerCompression::Gzip,
    );
    assert!(
        unsafe_reason(&w.pull(&img, Limits::default()).await.unwrap_err())
            .contains("not a directory")
    );
    w.assert_clean();
}

#[tokio::test]
async fn device_nodes_are_refused_or_skipped() {
    let mut dev = raw_header(EntryType::Char, b"dev/mem2", 0);
    dev.set_device_major(1).unwrap();
    dev.set_device_minor(1).unwrap();
    dev.set_cksum();
    let fifo = raw_header(EntryType::Fifo, b"fifo", 0);
    let img = image(
        vec![tar_of(vec![
            (dev.clone(), vec![]),
            (fifo.clone(), vec![]),
            file("ok", b"1"),
        ])],
        LayerCompression::Gzip,
    );
    let w = Work::new();
    let e = w.pull(&img, Limits::default()).await.unwrap_err();
    assert!(unsafe_reason(&e).contains("device nodes"), "{e}");
    w.assert_clean();

    let w = Work::new();
    let limits = Limits {
        special_files: SpecialFiles::Skip,
        ..Limits::default()
    };
    let pulled = w.pull(&img, limits).await.unwrap();
    assert_eq!(pulled.stats.skipped_special, 2);
    assert!(!pulled.rootfs.join("dev/mem2").exists() && !pulled.rootfs.join("fifo").exists());
    assert_eq!(std::fs::read(pulled.rootfs.join("ok")).unwrap(), b"1");
}

#[tokio::test]
async fn decompression_bombs_are_stopped() {
    // 256 MiB of zeros declared in one entry: a ~250 KiB gzip blob.
    let size: u64 = 256 << 20;
    let mut tar = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar);
        let h = raw_header(EntryType::Regular, b"zeros", size);
        b.append(&h, std::io::repeat(0).take_bytes(size)).unwrap();
        b.finish().unwrap();
    }
    let img = image(vec![tar], LayerCompression::Gzip);
    assert!(
        img.layers[0].1.len() < 1 << 20,
        "the blob is small: {}",
        img.layers[0].1.len()
    );
    let w = Work::new();
    let limits = Limits {
        max_total_bytes: 64 << 20,
        ..Limits::default()
    };
    let e = w.pull(&img, limits).await.unwrap_err();
    assert!(matches!(e, Error::ExtractLimit { .. }), "{e:?}");
    assert!(e.to_string().contains("decompression bomb"), "{e}");
    w.assert_clean();

    // Many tiny entries.
    let entries: Vec<_> = (0..300).map(|i| file(&format!("f{i}"), b"")).collect();
    let img = image(vec![tar_of(entries)], LayerCompression::Gzip);
    let w = Work::new();
    let e = w
        .pull(
            &img,
            Limits {
                max_entries: 100,
                ..Limits::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::ExtractLimit { ref reason, .. } if reason.contains("entries")),
        "{e:?}"
    );
    w.assert_clean();

    // A giant PAX extension header (held in memory by tar readers).
    let pax_len: u64 = 8 << 20;
    let mut tar = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar);
        let h = raw_header(EntryType::XHeader, b"PaxHeaders/x", pax_len);
        b.append(&h, std::io::repeat(b'a').take_bytes(pax_len))
            .unwrap();
        b.append(&raw_header(EntryType::Regular, b"x", 0), std::io::empty())
            .unwrap();
        b.finish().unwrap();
    }
    let img = image(vec![tar], LayerCompression::Zstd);
    let w = Work::new();
    let e = w.pull(&img, Limits::default()).await.unwrap_err();
    assert!(
        matches!(e, Error::ExtractLimit { ref reason, .. } if reason.contains("header")),
        "{e:?}"
    );
    w.assert_clean();
}

trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeBytes for R {}

#[tokio::test]
async fn whiteouts_apply_across_layers() {
    let base = tar_of(vec![
        dir("a/"),
        file("a/x", b"x"),
        file("a/y", b"y"),
        dir("b/"),
        file("b/old", b"old"),
        dir("b/sub/"),
        file("b/sub/deep", b"deep"),
        dir("c/"),
        file("c/d", b"d"),
        file("keep", b"keep"),
    ]);
    let upper = tar_of(vec![
        file("a/.wh.x", b""),
        dir("b/"),
        file("b/.wh..wh..opq", b""),
        file("b/new", b"new"),
        file(".wh.c", b""),
        file(".wh.never-existed", b""),
    ]);
    for how in [
        LayerCompression::Gzip,
        LayerCompression::Zstd,
        LayerCompression::None,
    ] {
        let w = Work::new();
        let img = image(vec![base.clone(), upper.clone()], how);
        let pulled = w.pull(&img, Limits::default()).await.unwrap();
        let t = tree(&pulled.rootfs);
        let expected = [
            "a", "a/y", "b", "b/new", "dev", "keep", "proc", "sys", "tmp",
        ];
        assert_eq!(t, expected, "{how:?}");
        assert!(pulled.stats.whiteouts >= 4);
    }
}

#[tokio::test]
async fn safe_content_is_extracted_faithfully() {
    let mut suid = raw_header(EntryType::Regular, b"bin/su", 3);
    suid.set_mode(0o4755);
    suid.set_cksum();
    let mut sgid_dir = raw_header(EntryType::Directory, b"shared/", 0);
    sgid_dir.set_mode(0o2775);
    sgid_dir.set_cksum();
    let mut ro_dir = raw_header(EntryType::Directory, b"ro/", 0);
    ro_dir.set_mode(0o555);
    ro_dir.set_cksum();
    let img = image(
        vec![
            tar_of(vec![
                (suid, b"su!".to_vec()),
                (sgid_dir, vec![]),
                (ro_dir, vec![]),
                file("ro/inside", b"written after the dir entry"),
                file("./usr/lib/libx.so.1", b"lib"),
                (
                    raw_link(
                        EntryType::Symlink,
                        b"usr/lib/libx.so",
                        b"/usr/lib/libx.so.1",
                    ),
                    vec![],
                ),
                (
                    raw_link(EntryType::Link, b"usr/lib/libx-hard", b"usr/lib/libx.so.1"),
                    vec![],
                ),
            ]),
            // A later layer replaces a symlink by a file and a file by a directory.
            tar_of(vec![
                file("usr/lib/libx.so", b"now a file"),
                dir("bin/su/"),
                file("bin/su/x", b"x"),
            ]),
        ],
        LayerCompression::Gzip,
    );
    let w = Work::new();
    let pulled = w.pull(&img, Limits::default()).await.unwrap();
    let r = &pulled.rootfs;
    assert_eq!(
        std::fs::metadata(r.join("shared"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755,
        "setgid and group write cleared"
    );
    assert_eq!(
        std::fs::metadata(r.join("ro"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o555
    );
    assert_eq!(
        std::fs::read(r.join("ro/inside")).unwrap(),
        b"written after the dir entry"
    );
    assert_eq!(
        std::fs::read(r.join("usr/lib/libx.so")).unwrap(),
        b"now a file"
    );
    let a = std::fs::metadata(r.join("usr/lib/libx.so.1")).unwrap();
    let b = std::fs::metadata(r.join("usr/lib/libx-hard")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hardlink shares the inode");
    assert!(r.join("bin/su").is_dir());
    assert_eq!(pulled.config.entrypoint, ["/bin/app"]);

    // setuid on a file that stays a file.
    let mut suid = raw_header(EntryType::Regular, b"suid", 1);
    suid.set_mode(0o6755);
    suid.set_cksum();
    let w = Work::new();
    let pulled = w
        .pull(
            &image(
                vec![tar_of(vec![(suid, b"s".to_vec())])],
                LayerCompression::None,
            ),
            Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(pulled.rootfs.join("suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    let link = raw_link(EntryType::Symlink, b"abs-link", b"/etc/hostname");
    let w = Work::new();
    let pulled = w
        .pull(
            &image(vec![tar_of(vec![(link, vec![])])], LayerCompression::None),
            Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_link(pulled.rootfs.join("abs-link")).unwrap(),
        Path::new("/etc/hostname"),
        "symlink targets are kept verbatim"
    );
}

#[tokio::test]
async fn tampered_layout_blobs_are_refused() {
    let img = image(
        vec![tar_of(vec![file("a", b"hello")])],
        LayerCompression::Gzip,
    );
    let layer = img.layers[0].0.clone();
    for (victim, what) in [
        (layer.clone(), "layer"),
        (img.config_digest.clone(), "config"),
        (img.manifest_digest.clone(), "manifest"),
    ] {
        let w = Work::new();
        let layout = Layout::create(w.path().join("layout")).unwrap();
        img.write_layout(&layout, "t").unwrap();
        let p = layout.blob_path(&victim);
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        std::fs::write(&p, bytes).unwrap();
        let mut opts = PullOptions::new(w.path().join("cache"));
        opts.progress = Progress::Never;
        let src = ImageSource::Layout {
            dir: layout.dir().to_owned(),
            digest: img.manifest_digest.clone(),
        };
        let e = Puller::new(opts).unwrap().pull(&src).await.unwrap_err();
        match &e {
            Error::DigestMismatch { expected, .. } => assert_eq!(expected, &victim, "{what}: {e}"),
            other => panic!("{what}: expected DigestMismatch, got {other:?}"),
        }
        assert!(
            !w.path()
                .join("cache/blobs/sha256")
                .join(victim.hex())
                .exists(),
            "{what} not cached"
        );
        w.assert_clean();
    }

    // A layer whose uncompressed content does not match the config's diff_id.
    let good = tar_of(vec![file("a", b"hello")]);
    let (blob, media) = gigmcp_oci::pack::compress(&good, LayerCompression::Gzip).unwrap();
    let wrong = gigmcp_oci::Digest::of(b"not the tar");
    let img = gigmcp_oci::pack::ImageBuilder::new(gigmcp_oci::Platform::host())
        .raw_layer(blob.into(), media, wrong.clone())
        .build()
        .unwrap();
    let w = Work::new();
    let e = w.pull(&img, Limits::default()).await.unwrap_err();
    assert!(
        matches!(e, Error::DigestMismatch { ref what, .. } if what.contains("diff_id")),
        "{e:?}"
    );
    w.assert_clean();
}

#[tokio::test]
async fn directory_modes_never_follow_a_replaced_parent() {
    let w = Work::new();
    let victim = w.path().join("outside/b");
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut private = raw_header(EntryType::Directory, b"a/b/", 0);
    private.set_mode(0o700);
    private.set_cksum();
    let outside = w.path().join("outside");
    let img = image(
        vec![
            tar_of(vec![dir("a/"), (private, vec![])]),
            // Replacing a directory by a symlink is legitimate; the deferred chmod of a/b must not follow it.
            tar_of(vec![(
                raw_link(
                    EntryType::Symlink,
                    b"a",
                    outside.to_str().unwrap().as_bytes(),
                ),
                vec![],
            )]),
        ],
        LayerCompression::Gzip,
    );
    let pulled = w.pull(&img, Limits::default()).await.unwrap();
    assert!(
        std::fs::symlink_metadata(pulled.rootfs.join("a"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777,
        0o755,
        "host directory untouched"
    );
}

/// The owner every extracted entry must have: root when the tests run as root (the gateway does).
fn expected_owner() -> (u32, u32) {
    let uid = rustix::process::geteuid().as_raw();
    if uid == 0 {
        (0, 0)
    } else {
        (uid, rustix::process::getegid().as_raw())
    }
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// A header owned by uid/gid 1000 with an explicit mode.
fn owned(kind: EntryType, path: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = raw_header(kind, path.as_bytes(), size);
    h.set_mode(mode);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_cksum();
    h
}

/// An image that asks for everything a shared rootfs must not have: world-writable directories
/// and entrypoint, setuid/setgid files, a sticky world-writable directory, group-writable entries,
/// uid 1000 as owner; a second layer rewrites the entrypoint and the sticky directory.
fn permissive_image() -> BuiltImage {
    const SERVER: &[u8] = b"#!/bin/sh\necho genuine\n";
    let server = owned(EntryType::Regular, "app/server", SERVER.len() as u64, 0o777);
    image(
        vec![
            tar_of(vec![
                (owned(EntryType::Directory, "app/", 0, 0o777), vec![]),
                (server.clone(), SERVER.to_vec()),
                (owned(EntryType::Directory, "bin/", 0, 0o755), vec![]),
                (
                    owned(EntryType::Regular, "bin/su", 2, 0o4755),
                    b"su".to_vec(),
                ),
                (
                    owned(EntryType::Regular, "bin/sg", 2, 0o2775),
                    b"sg".to_vec(),
                ),
                (owned(EntryType::Directory, "shared/", 0, 0o1777), vec![]),
                (owned(EntryType::Directory, "data/", 0, 0o2775), vec![]),
                (
                    owned(EntryType::Regular, "data/conf", 1, 0o666),
                    b"c".to_vec(),
                ),
                (
                    owned(EntryType::Regular, "readonly", 1, 0o644),
                    b"r".to_vec(),
                ),
                (
                    owned(EntryType::Regular, "private", 1, 0o600),
                    b"p".to_vec(),
                ),
                (owned(EntryType::Directory, "opaque/", 0, 0o711), vec![]),
                // Parents created on the way, without entries of their own.
                (
                    owned(EntryType::Regular, "implicit/deep/f", 1, 0o640),
                    b"f".to_vec(),
                ),
                (
                    raw_link(EntryType::Link, b"app/server-link", b"app/server"),
                    vec![],
                ),
                (
                    raw_link(EntryType::Symlink, b"app/current", b"server"),
                    vec![],
                ),
            ]),
            tar_of(vec![
                (server, SERVER.to_vec()),
                (owned(EntryType::Directory, "shared/", 0, 0o1777), vec![]),
            ]),
        ],
        LayerCompression::Gzip,
    )
}

/// After extraction nothing is writable by group or other, no setuid/setgid/sticky bit is left,
/// everything belongs to the extracting identity, read/execute bits for others are kept, and the
/// cache's own directories and blobs are private.
#[tokio::test]
async fn permissive_images_are_extracted_with_safe_owners_and_modes() {
    let w = Work::new();
    let pulled = w
        .pull(&permissive_image(), Limits::default())
        .await
        .unwrap();
    let r = &pulled.rootfs;
    let owner = expected_owner();
    let mut checked = 0;
    for rel in std::iter::once(String::new()).chain(tree(r)) {
        let p = r.join(&rel);
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), owner, "owner of /{rel}");
        if !m.file_type().is_symlink() {
            let mode = m.mode() & 0o7777;
            assert_eq!(mode & 0o7022, 0, "/{rel} has mode {mode:04o}");
        }
        checked += 1;
    }
    assert!(checked >= 17, "walked {checked} entries");
    for (rel, mode) in [
        ("", 0o755),
        ("app", 0o755),
        ("app/server", 0o755),
        ("bin/su", 0o755),
        ("bin/sg", 0o755),
        ("shared", 0o755),
        ("data", 0o755),
        ("data/conf", 0o644),
        ("readonly", 0o644),
        ("private", 0o600),
        ("opaque", 0o711),
        ("implicit", 0o755),
        ("implicit/deep", 0o755),
        ("implicit/deep/f", 0o640),
        ("dev", 0o755),
        ("tmp", 0o755),
    ] {
        assert_eq!(mode_of(&r.join(rel)), mode, "/{rel}");
    }
    assert_eq!(
        std::fs::read(r.join("app/server-link")).unwrap(),
        b"#!/bin/sh\necho genuine\n"
    );
    let cache = w.path().join("cache");
    for (rel, mode) in [
        ("", 0o711),
        ("rootfs", 0o711),
        ("blobs", 0o700),
        ("blobs/sha256", 0o700),
        ("tmp", 0o700),
    ] {
        let p = cache.join(rel);
        assert_eq!(mode_of(&p), mode, "cache/{rel}");
        assert_eq!(std::fs::metadata(&p).unwrap().uid(), owner.0, "cache/{rel}");
    }
    for blob in tree(&cache.join("blobs/sha256")) {
        assert_eq!(
            mode_of(&cache.join("blobs/sha256").join(&blob)),
            0o600,
            "{blob}"
        );
    }
}

/// Runs `script` with `sh` as uid/gid 65534 (no supplementary groups): another local account.
fn as_other_user(script: &str) -> std::process::Output {
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        // std drops the supplementary groups (setgroups) before setgid/setuid when run as root.
        .gid(65534)
        .uid(65534)
        .output()
        .expect("run /bin/sh as uid 65534")
}

fn require_root(what: &str) {
    assert_eq!(
        rustix::process::geteuid().as_raw(),
        0,
        "{what} needs root (it drops a child to uid 65534, as the gateway runs as root): run the \
         tests as root"
    );
}

/// ATTACK: another local account tries to replace the entrypoint of an extracted image, to create
/// files in the rootfs, and to plant files in the cache. Everything above the cache is made
/// traversable, so only the modes the cache and the extraction set stand in the way.
#[tokio::test]
async fn another_account_cannot_change_an_extracted_image_or_the_cache() {
    require_root("this attack test");
    let w = Work::new();
    std::fs::set_permissions(w.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pulled = w
        .pull(&permissive_image(), Limits::default())
        .await
        .unwrap();
    let r = pulled.rootfs.display().to_string();
    let c = w.path().join("cache").display().to_string();

    // Control: the other account reaches and reads the image (o+r, o+x kept), so the refusals
    // below are the modes' doing, not an unreachable path.
    let out = as_other_user(&format!("id -u && cat {r}/app/server && cat {r}/readonly"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "65534\n#!/bin/sh\necho genuine\nr"
    );

    for attack in [
        format!("echo pwned > {r}/app/server"),
        format!("echo pwned > {r}/app/server-link"),
        format!("echo pwned > {r}/app/new"),
        format!("rm -f {r}/app/server"),
        format!("mv {r}/app/server {r}/app/moved"),
        format!("echo pwned > {r}/shared/planted"),
        format!("echo pwned > {r}/data/conf"),
        format!("echo pwned > {r}/planted"),
        format!("mkdir {r}/implicit/planted"),
        format!("echo pwned > {c}/planted"),
        format!("echo pwned > {c}/rootfs/planted"),
        format!("echo pwned > {c}/tmp/planted"),
        format!("echo pwned > {c}/blobs/sha256/planted"),
        format!("ls {c}/rootfs {c}/blobs/sha256"),
    ] {
        let out = as_other_user(&attack);
        assert!(
            !out.status.success(),
            "uid 65534 succeeded: {attack}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read(pulled.rootfs.join("app/server")).unwrap(),
        b"#!/bin/sh\necho genuine\n"
    );
    assert_eq!(
        std::fs::read(pulled.rootfs.join("data/conf")).unwrap(),
        b"c"
    );
    let planted: Vec<String> = tree(w.path())
        .into_iter()
        .filter(|p| p.contains("planted") || p.contains("moved") || p.ends_with("app/new"))
        .collect();
    assert!(planted.is_empty(), "{planted:?}");
}

/// A cache made before the permission policy (world-writable directories, a rootfs with a
/// world-writable entrypoint, no policy stamp) is repaired at open: directory modes narrowed and the
/// untrustworthy rootfs retired, so the next pull extracts it again.
#[tokio::test]
async fn an_old_permissive_cache_is_repaired_and_its_rootfs_extracted_again() {
    let w = Work::new();
    let img = permissive_image();
    let cache = w.path().join("cache");
    let old_rootfs = cache.join("rootfs").join(img.manifest_digest.hex());
    std::fs::create_dir_all(old_rootfs.join("app")).unwrap();
    std::fs::create_dir_all(cache.join("blobs/sha256")).unwrap();
    std::fs::create_dir_all(cache.join("tmp")).unwrap();
    std::fs::write(old_rootfs.join("app/server"), b"tampered").unwrap();
    for p in [
        cache.clone(),
        cache.join("rootfs"),
        cache.join("blobs"),
        cache.join("blobs/sha256"),
        cache.join("tmp"),
        old_rootfs.join("app"),
        old_rootfs.join("app/server"),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let pulled = w.pull(&img, Limits::default()).await.unwrap();
    assert!(!pulled.cached, "the old rootfs is not trusted");
    assert_eq!(
        std::fs::read(pulled.rootfs.join("app/server")).unwrap(),
        b"#!/bin/sh\necho genuine\n"
    );
    assert_eq!(mode_of(&pulled.rootfs.join("app/server")), 0o755);
    assert_eq!(mode_of(&cache), 0o711);
    assert_eq!(mode_of(&cache.join("rootfs")), 0o711);
    assert_eq!(mode_of(&cache.join("tmp")), 0o700);
    assert_eq!(mode_of(&cache.join("blobs/sha256")), 0o700);
    assert!(tree(&cache.join("tmp")).is_empty(), "retired tree deleted");
    // Stamped now: the next pull uses the new rootfs.
    assert!(w.pull(&img, Limits::default()).await.unwrap().cached);
}

/// A cache directory another account owns is refused with the path and the fix.
#[tokio::test]
async fn a_cache_directory_owned_by_another_account_is_refused() {
    require_root("this test");
    let w = Work::new();
    let cache = w.path().join("cache");
    gigmcp_oci::Cache::open(&cache).unwrap();
    std::os::unix::fs::chown(cache.join("rootfs"), Some(1000), Some(1000)).unwrap();
    let e = gigmcp_oci::Cache::open(&cache).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::UnsafeCache { .. }), "{e:?}");
    assert!(
        text.contains(&cache.join("rootfs").display().to_string())
            && text.contains("uid 1000")
            && text.contains("chown -R 0"),
        "{text}"
    );
}
