//! Against a real registry on loopback (Debian's `docker-registry`, CNCF distribution 2.8): pack and
//! push, pull by digest (manifest or multi-arch index), caching, concurrency, and tampering with the
//! registry's stored bytes.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;
use common::*;
use gigmcp_oci::media::{self, Index};
use gigmcp_oci::pack::{self, ImageBuilder, LayerCompression, PackArgs};
use gigmcp_oci::{
    ClientConfig, Digest, Error, ImageSource, Platform, Progress, PullOptions, Puller, PushTarget,
    RegistryClient,
};

fn pack_args(reg: &Registry, repo: &str) -> PackArgs {
    PackArgs {
        binary: None,
        dir: None,
        entrypoint: vec![],
        cmd: vec![],
        env: vec![],
        workdir: None,
        layout: None,
        tag: None,
        push: Some(format!("{}/{repo}:v1", reg.host).parse().unwrap()),
        insecure: true,
        chunk_size: None,
        arch: Platform::host().architecture,
        compression: LayerCompression::Gzip,
    }
}

fn puller(reg: &Registry, cache: &std::path::Path) -> Puller {
    let mut opts = PullOptions::new(cache);
    opts.client.insecure_hosts.push(reg.host.clone());
    opts.progress = Progress::Never;
    Puller::new(opts).unwrap()
}

fn src(reg: &Registry, repo: &str, digest: &Digest) -> ImageSource {
    format!("{}/{repo}@{digest}", reg.host).parse().unwrap()
}

fn client(reg: &Registry) -> RegistryClient {
    RegistryClient::new(ClientConfig {
        insecure_hosts: vec![reg.host.clone()],
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn packed_binary_round_trips_and_is_cached() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("server");
    std::fs::copy("/bin/true", &bin).unwrap();
    let mut args = pack_args(&reg, "gig/server");
    args.binary = Some(bin.clone());
    args.env = vec![
        ("RUST_LOG".into(), "info".into()),
        ("A".into(), "b=c".into()),
    ];
    args.cmd = vec!["--stdio".into()];
    let out = pack::run(&args).await.unwrap();
    assert_eq!(out.destination, format!("{}/gig/server:v1", reg.host));

    // Same inputs → same digest, whether pushed again or written to a layout.
    assert_eq!(pack::run(&args).await.unwrap().digest, out.digest);
    let mut to_layout = args.clone();
    to_layout.push = None;
    to_layout.layout = Some(work.path().join("layout"));
    to_layout.tag = Some("v1".into());
    assert_eq!(pack::run(&to_layout).await.unwrap().digest, out.digest);

    let p = puller(&reg, &work.path().join("cache"));
    let img = p.pull(&src(&reg, "gig/server", &out.digest)).await.unwrap();
    assert!(!img.cached);
    assert_eq!(img.manifest_digest, out.digest);
    assert_eq!(
        img.rootfs,
        work.path().join("cache/rootfs").join(out.digest.hex())
    );
    assert_eq!(
        std::fs::read(img.rootfs.join("server")).unwrap(),
        std::fs::read("/bin/true").unwrap()
    );
    assert_eq!(
        std::fs::metadata(img.rootfs.join("server"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(img.config.entrypoint, ["/server"]);
    assert_eq!(img.config.argv(), ["/server", "--stdio"]);
    assert_eq!(
        img.config.env,
        [
            ("RUST_LOG".into(), "info".into()),
            ("A".into(), "b=c".into())
        ]
    );
    assert_eq!(img.platform, Platform::host());

    // Re-pull: served from the cache, even with the registry gone.
    drop(reg);
    let again = p
        .pull(
            &format!("127.0.0.1:1/gig/server@{}", out.digest)
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.rootfs, img.rootfs);
    assert_eq!(again.config, img.config);

    // And the layout copy pulls to the same rootfs key.
    let lay = p
        .pull(
            &format!(
                "oci:{}@{}",
                work.path().join("layout").display(),
                out.digest
            )
            .parse()
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(lay.rootfs, img.rootfs);
}

#[tokio::test]
async fn directory_pack_with_chunked_upload() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rootfs");
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::create_dir_all(root.join("app")).unwrap();
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(root.join("app/data.bin"), &big).unwrap();
    std::fs::write(root.join("app/main.py"), b"print('hi')\n").unwrap();
    std::os::unix::fs::symlink("../../app/main.py", root.join("usr/bin/main")).unwrap();
    let mut args = pack_args(&reg, "gig/py");
    args.dir = Some(root);
    args.entrypoint = vec!["/usr/bin/python3".into(), "/app/main.py".into()];
    args.workdir = Some("/app".into());
    args.chunk_size = Some(64 << 10);
    let out = pack::run(&args).await.unwrap();
    let img = puller(&reg, &work.path().join("cache"))
        .pull(&src(&reg, "gig/py", &out.digest))
        .await
        .unwrap();
    assert_eq!(std::fs::read(img.rootfs.join("app/data.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read_link(img.rootfs.join("usr/bin/main")).unwrap(),
        std::path::Path::new("../../app/main.py")
    );
    assert_eq!(img.config.working_dir.as_deref(), Some("/app"));

    // Nothing to run is refused up front.
    let mut empty = pack_args(&reg, "gig/none");
    empty.dir = Some(work.path().join("rootfs"));
    assert!(matches!(pack::run(&empty).await, Err(Error::Pack(_))));
}

async fn push_built(reg: &Registry, repo: &str, img: &pack::BuiltImage) {
    let target: PushTarget = format!("{}/{repo}:{}", reg.host, &img.manifest_digest.hex()[..12])
        .parse()
        .unwrap();
    img.push(&client(reg), &target, None).await.unwrap();
}

async fn push_index(
    reg: &Registry,
    repo: &str,
    children: &[(&pack::BuiltImage, Platform)],
) -> Digest {
    let index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests: children
            .iter()
            .map(|(img, p)| img.descriptor(Some(p.clone())))
            .collect(),
        annotations: BTreeMap::new(),
    };
    let bytes = Bytes::from(serde_json::to_vec(&index).unwrap());
    let target: PushTarget = format!("{}/{repo}:index", reg.host).parse().unwrap();
    client(reg)
        .put_manifest(&target.repository, &target.tag, media::OCI_INDEX, bytes)
        .await
        .unwrap()
}

fn multi_layer(platform: Platform, marker: &str) -> pack::BuiltImage {
    ImageBuilder::new(platform)
        .layer(
            tar_of(vec![
                dir("etc/"),
                file("etc/os-release", marker.as_bytes()),
                file("etc/gone", b"x"),
            ]),
            LayerCompression::Gzip,
        )
        .unwrap()
        .layer(
            tar_of(vec![file("etc/.wh.gone", b""), file("bin/app", b"app")]),
            LayerCompression::Zstd,
        )
        .unwrap()
        .build()
        .unwrap()
}

#[tokio::test]
async fn index_selects_the_host_platform() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let host = multi_layer(Platform::host(), "host");
    let other_arch = if Platform::host().architecture == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let other = multi_layer(Platform::linux(other_arch), "other");
    let s390 = multi_layer(Platform::linux("s390x"), "s390x");
    for img in [&host, &other, &s390] {
        push_built(&reg, "gig/multi", img).await;
    }
    let idx = push_index(
        &reg,
        "gig/multi",
        &[
            (&other, Platform::linux(other_arch)),
            (&host, Platform::host()),
        ],
    )
    .await;
    let p = puller(&reg, &work.path().join("cache"));
    let img = p.pull(&src(&reg, "gig/multi", &idx)).await.unwrap();
    assert_eq!(img.manifest_digest, host.manifest_digest);
    assert_eq!(
        std::fs::read(img.rootfs.join("etc/os-release")).unwrap(),
        b"host"
    );
    assert!(!img.rootfs.join("etc/gone").exists(), "whiteout applied");
    assert_eq!(std::fs::read(img.rootfs.join("bin/app")).unwrap(), b"app");

    // An index without this host's platform.
    let idx = push_index(
        &reg,
        "gig/multi",
        &[
            (&other, Platform::linux(other_arch)),
            (&s390, Platform::linux("s390x")),
        ],
    )
    .await;
    let e = p.pull(&src(&reg, "gig/multi", &idx)).await.unwrap_err();
    assert!(matches!(e, Error::NoMatchingPlatform { .. }), "{e:?}");
    assert!(e.to_string().contains("linux/s390x"), "{e}");

    // A single-arch manifest for another architecture, pinned directly.
    let e = p
        .pull(&src(&reg, "gig/multi", &other.manifest_digest))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::WrongPlatform { .. }), "{e:?}");

    // An index that lies about its child's platform: the config is checked too.
    let idx = push_index(&reg, "gig/multi", &[(&other, Platform::host())]).await;
    let e = p.pull(&src(&reg, "gig/multi", &idx)).await.unwrap_err();
    assert!(matches!(e, Error::WrongPlatform { .. }), "{e:?}");
    assert!(
        tree(&work.path().join("cache/rootfs"))
            .iter()
            .all(|p| !p.starts_with(other.manifest_digest.hex()))
    );
}

/// Changes one byte of a stored blob, keeping its length (and keeping JSON documents valid JSON, so
/// the registry serves them: the last digit of the first `"size":` number changes).
fn tamper(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = match bytes.windows(7).position(|w| w == b"\"size\":") {
        Some(at) => {
            let start = at + 7;
            let len = bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            start + len - 1
        }
        None => bytes.len() - 3,
    };
    bytes[i] = if bytes[i].is_ascii_digit() {
        b'0' + (bytes[i] - b'0' + 1) % 10
    } else {
        bytes[i] ^ 0x01
    };
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn tampered_registry_content_is_refused() {
    let reg = Registry::start();
    let host_img = multi_layer(Platform::host(), "host");
    push_built(&reg, "gig/t", &host_img).await;
    let idx = push_index(&reg, "gig/t", &[(&host_img, Platform::host())]).await;
    let cases: Vec<(&str, Digest, Digest)> = vec![
        (
            "layer",
            host_img.layers[1].0.clone(),
            host_img.manifest_digest.clone(),
        ),
        (
            "config",
            host_img.config_digest.clone(),
            host_img.manifest_digest.clone(),
        ),
        (
            "manifest",
            host_img.manifest_digest.clone(),
            host_img.manifest_digest.clone(),
        ),
        (
            "manifest under index",
            host_img.manifest_digest.clone(),
            idx.clone(),
        ),
        ("index", idx.clone(), idx.clone()),
    ];
    for (what, victim, pinned) in cases {
        let data = reg.blob_data(&victim);
        let original = std::fs::read(&data).unwrap();
        tamper(&data);
        let work = tempfile::tempdir().unwrap();
        let e = puller(&reg, &work.path().join("cache"))
            .pull(&src(&reg, "gig/t", &pinned))
            .await
            .unwrap_err();
        match &e {
            Error::DigestMismatch { expected, .. } => assert_eq!(expected, &victim, "{what}: {e}"),
            other => panic!("{what}: expected a digest mismatch, got {other:?}"),
        }
        assert!(tree(&work.path().join("cache/rootfs")).is_empty(), "{what}");
        assert!(tree(&work.path().join("cache/tmp")).is_empty(), "{what}");
        assert!(
            !work
                .path()
                .join("cache/blobs/sha256")
                .join(victim.hex())
                .exists(),
            "{what}: bad blob cached"
        );
        std::fs::write(&data, original).unwrap();
    }
    // Restored: pulls fine.
    let work = tempfile::tempdir().unwrap();
    puller(&reg, &work.path().join("cache"))
        .pull(&src(&reg, "gig/t", &idx))
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_pulls_of_one_digest_share_one_rootfs() {
    let reg = Registry::start();
    let img = multi_layer(Platform::host(), "conc");
    push_built(&reg, "gig/c", &img).await;
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let pulls = (0..4).map(|_| {
        let p = puller(&reg, &cache);
        let s = src(&reg, "gig/c", &img.manifest_digest);
        tokio::spawn(async move { p.pull(&s).await })
    });
    let results: Vec<_> = futures_util::future::join_all(pulls).await;
    for r in results {
        let r = r.unwrap().unwrap();
        assert_eq!(
            std::fs::read(r.rootfs.join("etc/os-release")).unwrap(),
            b"conc"
        );
    }
    assert_eq!(
        tree(&cache.join("rootfs")),
        [
            img.manifest_digest.hex().to_owned(),
            format!("{}/bin", img.manifest_digest.hex()),
            format!("{}/bin/app", img.manifest_digest.hex()),
            format!("{}/dev", img.manifest_digest.hex()),
            format!("{}/etc", img.manifest_digest.hex()),
            format!("{}/etc/os-release", img.manifest_digest.hex()),
            format!("{}/proc", img.manifest_digest.hex()),
            format!("{}/sys", img.manifest_digest.hex()),
            format!("{}/tmp", img.manifest_digest.hex())
        ]
    );
    assert!(tree(&cache.join("tmp")).is_empty());
}

#[tokio::test]
async fn plain_http_needs_an_explicit_insecure_host() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut opts = PullOptions::new(work.path().join("cache"));
    opts.progress = Progress::Never;
    let p = Puller::new(opts).unwrap();
    let e = p
        .pull(&src(&reg, "gig/x", &Digest::of(b"x")))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Http { ref url, .. } if url.starts_with("https://")),
        "{e:?}"
    );
}
