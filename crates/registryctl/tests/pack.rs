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
