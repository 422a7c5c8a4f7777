//! `registryctl pack` end to end: the same binary packed twice into OCI layouts gives the same
//! digest, and a bad input is refused with a clear error.

use std::process::Command;

fn pack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_registryctl"))
        .arg("pack")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn packing_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("server");
    std::fs::write(&bin, b"\x7fELF not really, but bytes are bytes").unwrap();
    let mut digests = Vec::new();
    for n in 0..2 {
        let layout = dir.path().join(format!("layout{n}"));
        let out = pack(&[
            "--binary",
            bin.to_str().unwrap(),
            "--layout",
            layout.to_str().unwrap(),
            "--tag",
            "v1",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let digest = line.split_whitespace().next().unwrap().to_string();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{line}"
        );
        assert!(layout.join("index.json").is_file());
        digests.push(digest);
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn a_missing_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = pack(&[
        "--binary",
        "/nonexistent/server",
        "--layout",
        dir.path().join("l").to_str().unwrap(),
        "--tag",
        "v1",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/server"), "{err}");
}

/// `<repo>/../shared/corpus/gigmcp-registry`, or `$GIGMCP_CORPUS_DIR`.
fn corpus_dir() -> std::path::PathBuf {
    std::env::var_os("GIGMCP_CORPUS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/corpus/gigmcp-registry")
        })
}

/// A toolpack image of a corpus manifest and toolspec: the same digest on every run, exactly
/// `/app/{server,manifest.yaml,toolspec.yaml}` with their modes and bytes, entrypoint
/// `/app/server`, and an independent implementation (umoci) unpacks it.
#[test]
fn toolpack_images_are_deterministic_and_hold_exactly_the_app_files() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_dir().join("manifests/hackernews");
    let manifest = corpus.join("0.1.0.yaml");
    let toolspec = corpus.join("0.1.0.toolspec.yaml");
    assert!(
        manifest.is_file(),
        "{} is missing: is the registry corpus beside the repo (or GIGMCP_CORPUS_DIR set)?",
        manifest.display()
    );
    let engine = dir.path().join("gigmcp-toolpack");
    std::fs::write(&engine, b"\x7fELF the engine, as far as packing goes").unwrap();
    let mut digests = Vec::new();
    for n in 0..2 {
        let layout = dir.path().join(format!("layout{n}"));
        let out = pack(&[
            "--toolpack",
            "--binary",
            engine.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--toolspec",
            toolspec.to_str().unwrap(),
            "--layout",
            layout.to_str().unwrap(),
            "--tag",
            "v1",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        digests.push(line.split_whitespace().next().unwrap().to_string());
    }
    assert_eq!(digests[0], digests[1], "same inputs, same digest");

    let out = Command::new("umoci")
        .args(["unpack", "--image", "layout0:v1", "bundle"])
        .current_dir(dir.path())
        .output()
        .expect("umoci is not installed: run scripts/test-deps (apt-get install -y umoci)");
    assert!(
        out.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = dir.path().join("bundle/rootfs");
    let mut names: Vec<String> = std::fs::read_dir(&rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["app"], "the image holds /app only");
    let mut app: Vec<(String, u32)> = std::fs::read_dir(rootfs.join("app"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let mode =
                std::os::unix::fs::PermissionsExt::mode(&e.metadata().unwrap().permissions());
            (e.file_name().to_string_lossy().into_owned(), mode & 0o7777)
        })
        .collect();
    app.sort();
    assert_eq!(
        app,
        [
            ("manifest.yaml".to_string(), 0o644),
            ("server".to_string(), 0o755),
            ("toolspec.yaml".to_string(), 0o644),
        ]
    );
    assert_eq!(
        std::fs::read(rootfs.join("app/server")).unwrap(),
        std::fs::read(&engine).unwrap()
    );
    assert_eq!(
        std::fs::read(rootfs.join("app/toolspec.yaml")).unwrap(),
        std::fs::read(&toolspec).unwrap()
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bundle/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/app/server"])
    );
}

/// A toolspec that does not pair with its manifest is refused with the lint findings, and no
/// image is written.
#[test]
fn toolpack_inputs_are_linted_first() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_dir().join("manifests");
    let engine = dir.path().join("engine");
    std::fs::write(&engine, b"engine").unwrap();
    let layout = dir.path().join("layout");
    let out = pack(&[
        "--toolpack",
        "--binary",
        engine.to_str().unwrap(),
        "--manifest",
        corpus.join("hackernews/0.1.0.yaml").to_str().unwrap(),
        "--toolspec",
        corpus.join("zendesk/0.1.0.toolspec.yaml").to_str().unwrap(),
        "--layout",
        layout.to_str().unwrap(),
        "--tag",
        "v1",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("manifests/hackernews/0.1.0.toolspec.yaml") && err.contains("zendesk"),
        "{err}"
    );
    assert!(!layout.exists(), "nothing written");

    // --toolpack needs all three inputs
    let out = pack(&[
        "--toolpack",
        "--binary",
        engine.to_str().unwrap(),
        "--layout",
        layout.to_str().unwrap(),
        "--tag",
        "v1",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--manifest") && err.contains("--toolspec"),
        "{err}"
    );
}
