//! Interop with an independent implementation, Debian's `umoci`: it must unpack what `pack` writes,
//! and we must pull what it repacks (its own whiteouts included).

mod common;

use std::process::Command;

use common::tree;
use gigmcp_oci::pack::{self, LayerCompression, PackArgs};
use gigmcp_oci::{Digest, ImageSource, Layout, Platform, Progress, PullOptions, Puller};

fn umoci(args: &[&str], cwd: &std::path::Path) {
    let out = Command::new("umoci")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("umoci is not installed: `apt-get install -y umoci`");
    assert!(
        out.status.success(),
        "umoci {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn umoci_reads_our_images_and_we_read_its_whiteouts() {
    let w = tempfile::tempdir().unwrap();
    let root = w.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("etc/motd"), b"hello\n").unwrap();
    std::fs::write(root.join("etc/keep"), b"keep\n").unwrap();
    std::fs::copy("/bin/true", root.join("bin/app")).unwrap();
    let args = PackArgs {
        binary: None,
        dir: Some(root),
        entrypoint: vec!["/bin/app".into()],
        cmd: vec![],
        env: vec![("A".into(), "1".into())],
        workdir: None,
        layout: Some(w.path().join("lay")),
        tag: Some("v1".into()),
        push: None,
        insecure: false,
        chunk_size: None,
        arch: Platform::host().architecture,
        compression: LayerCompression::Gzip,
    };
    pack::run(&args).await.unwrap();

    umoci(&["unpack", "--image", "lay:v1", "bundle"], w.path());
    let rootfs = w.path().join("bundle/rootfs");
    assert_eq!(std::fs::read(rootfs.join("etc/motd")).unwrap(), b"hello\n");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.path().join("bundle/config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["process"]["args"], serde_json::json!(["/bin/app"]));

    std::fs::remove_file(rootfs.join("etc/motd")).unwrap();
    std::fs::create_dir(rootfs.join("opt")).unwrap();
    std::fs::write(rootfs.join("opt/new"), b"new\n").unwrap();
    umoci(&["repack", "--image", "lay:v2", "bundle"], w.path());

    let layout = Layout::open(w.path().join("lay")).unwrap();
    let digest: Digest = layout.resolve_tag("v2").unwrap().digest;
    let mut opts = PullOptions::new(w.path().join("cache"));
    opts.progress = Progress::Never;
    let img = Puller::new(opts)
        .unwrap()
        .pull(&ImageSource::Layout {
            dir: layout.dir().to_owned(),
            digest,
        })
        .await
        .unwrap();
    let t = tree(&img.rootfs);
    assert!(
        t.contains(&"opt/new".to_owned()) && t.contains(&"etc/keep".to_owned()),
        "{t:?}"
    );
    assert!(
        !img.rootfs.join("etc/motd").exists(),
        "umoci's whiteout applied: {t:?}"
    );
    assert_eq!(img.config.entrypoint, ["/bin/app"]);
}
