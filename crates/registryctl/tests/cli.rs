//! End-to-end tests of the `registryctl` binary over the shared corpus, our own `registry/`
//! and scratch registries.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIGMCP_CORPUS_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry")
}

fn own_registry() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../registry")
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registryctl"))
        .args(args.iter().map(|a| a.as_ref()))
        .env_remove("GIGMCP_REGISTRY_PUBKEY")
        .output()
        .expect("registryctl runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[track_caller]
fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// A one-manifest registry in a temp dir.
fn scratch(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("manifests/demo")).unwrap();
    fs::create_dir_all(dir.path().join("denylist")).unwrap();
    fs::write(
        dir.path().join("denylist/exfil-domains.txt"),
        "pastebin.com\n",
    )
    .unwrap();
    fs::write(dir.path().join("manifests/demo/1.0.0.yaml"), manifest).unwrap();
    dir
}

const DEMO: &str = "schemaVersion: 1
name: demo
version: 1.0.0
source: {repo: github.com/gigmcp/demo, tag: v1.0.0, package: cmd/demo}
image: {ref: ghcr.io/gigmcp/demo, digest: 'sha256:1111111111111111111111111111111111111111111111111111111111111111', entrypoint: /demo}
tier: sealed
displayName: Demo
category: test
entitlements: {egress: [api.demo.example]}
tools: [{name: hello, default: true}]
";

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "lint",
        "lint-toolspecs",
        "build-index",
        "keygen",
        "sign",
        "verify",
        "build-args",
    ] {
        let out = ok(&run(&[&sub, &"--help"]));
        assert!(out.contains("Usage: registryctl"), "{sub}: {out}");
    }
    assert!(ok(&run(&[&"--help"])).contains("build-index"));
    assert_eq!(run(&[&"no-such-command"]).status.code(), Some(2));
}

#[test]
fn corpus_lints_clean_with_placeholder_warnings() {
    let out = run(&[&"lint", &corpus_dir()]);
    let stdout = ok(&out);
    assert!(stdout.contains("221 manifest(s), 4 warning(s)"), "{stdout}");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("not installable").count(), 4, "{stderr}");
    let stdout = ok(&run(&[&"lint-toolspecs", &corpus_dir()]));
    assert!(stdout.contains("215 toolspec(s), 0 warning(s)"), "{stdout}");
}

#[test]
fn own_registry_lints_clean() {
    ok(&run(&[&"lint", &own_registry()]));
    ok(&run(&[&"lint-toolspecs", &own_registry()]));
    let tmp = tempfile::tempdir().unwrap();
    ok(&run(&[
        &"build-index",
        &own_registry(),
        &"-o",
        &tmp.path().join("i.json"),
    ]));
}

#[test]
fn keygen_build_sign_verify_round_trip_and_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("registry.key");
    let index = tmp.path().join("index.json");
    let pubkey = ok(&run(&[&"keygen", &"-o", &key])).trim().to_owned();
    assert_eq!(pubkey.len(), 64);
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(fails(&run(&[&"keygen", &"-o", &key])).contains("already exists"));

    ok(&run(&[&"build-index", &corpus_dir(), &"-o", &index]));
    let first = fs::read(&index).unwrap();
    ok(&run(&[&"build-index", &corpus_dir(), &"-o", &index]));
    assert_eq!(
        fs::read(&index).unwrap(),
        first,
        "index bytes are deterministic"
    );

    ok(&run(&[&"sign", &"--key", &key, &index]));
    let sig_path = tmp.path().join("index.json.sig");
    let sig = fs::read_to_string(&sig_path).unwrap();
    assert_eq!(sig.trim().len(), 128);
    assert!(ok(&run(&[&"verify", &"--pubkey", &pubkey, &index])).contains("221 entries"));

    // Flipped byte.
    let mut flipped = first.clone();
    flipped[first.len() / 2] ^= 0x01;
    fs::write(&index, &flipped).unwrap();
    assert!(fails(&run(&[&"verify", &"--pubkey", &pubkey, &index])).contains("UNTRUSTED"));
    // Truncated.
    fs::write(&index, &first[..first.len() - 10]).unwrap();
    assert!(fails(&run(&[&"verify", &"--pubkey", &pubkey, &index])).contains("UNTRUSTED"));
    // Wrong key.
    fs::write(&index, &first).unwrap();
    let other = ok(&run(&[&"keygen", &"-o", &tmp.path().join("other.key")]))
        .trim()
        .to_owned();
    assert!(fails(&run(&[&"verify", &"--pubkey", &other, &index])).contains("UNTRUSTED"));
    // Signature of another index (our own registry's), presented beside the corpus index.
    let own = tmp.path().join("own.json");
    ok(&run(&[&"build-index", &own_registry(), &"-o", &own]));
    ok(&run(&[&"sign", &"--key", &key, &own]));
    fs::copy(tmp.path().join("own.json.sig"), &sig_path).unwrap();
    assert!(fails(&run(&[&"verify", &"--pubkey", &pubkey, &index])).contains("UNTRUSTED"));
    // Missing signature.
    fs::remove_file(&sig_path).unwrap();
    assert!(fails(&run(&[&"verify", &"--pubkey", &pubkey, &index])).contains("UNTRUSTED"));
    // Malformed public key.
    fs::write(&sig_path, &sig).unwrap();
    assert!(fails(&run(&[&"verify", &"--pubkey", &"abc", &index])).contains("UNTRUSTED"));
    ok(&run(&[&"verify", &"--pubkey", &pubkey, &index]));
}

#[test]
fn sign_refuses_loose_keys_and_non_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k");
    ok(&run(&[&"keygen", &"-o", &key]));
    let junk = tmp.path().join("junk.json");
    fs::write(&junk, "{\"not\": \"an index\"}").unwrap();
    assert!(fails(&run(&[&"sign", &"--key", &key, &junk])).contains("does not parse"));
    assert!(!tmp.path().join("junk.json.sig").exists());
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(fails(&run(&[&"sign", &"--key", &key, &junk])).contains("chmod 600"));
}

#[test]
fn lint_lists_every_problem_and_fails() {
    let bad = DEMO
        .replace("api.demo.example", "'*'")
        .replace("name: demo", "name: Demo")
        .replace("/demo}", "demo}");
    let dir = scratch(&bad);
    fs::write(dir.path().join("manifests/demo/notes.md"), "x").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("manifests/demo/2.0.0.yaml"))
        .unwrap();
    let err = fails(&run(&[&"lint", &dir.path()]));
    for needle in [
        "entitlements.egress[0]",
        "name: `Demo`",
        "does not match the directory",
        "image.entrypoint",
        "notes.md",
        "symlink",
    ] {
        assert!(err.contains(needle), "missing {needle}:\n{err}");
    }
    assert!(err.contains("6 error(s)"), "{err}");
    // build-index refuses too and writes nothing.
    let out = dir.path().join("index.json");
    fails(&run(&[&"build-index", &dir.path(), &"-o", &out]));
    assert!(!out.exists());
}

#[test]
fn oversized_and_missing_inputs_fail_cleanly() {
    let dir = scratch(DEMO);
    let big = fs::File::create(dir.path().join("manifests/demo/9.9.9.yaml")).unwrap();
    big.set_len(50 * 1024 * 1024).unwrap();
    let err = fails(&run(&[&"lint", &dir.path()]));
    assert!(err.contains("larger than 1048576 bytes"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    assert!(fails(&run(&[&"lint", &empty.path()])).contains("not a registry directory"));
    let no_deny = scratch(DEMO);
    fs::remove_file(no_deny.path().join("denylist/exfil-domains.txt")).unwrap();
    assert!(fails(&run(&[&"lint", &no_deny.path()])).contains("denylist"));
}

#[test]
fn build_args_for_source_and_toolpack_builds() {
    let dir = scratch(DEMO);
    let out = ok(&run(&[&"build-args", &dir.path(), &"demo"]));
    assert!(
        out.contains("NAME=demo\nVERSION=1.0.0\nBUILDER=source\n"),
        "{out}"
    );
    assert!(
        out.contains("SOURCE_PACKAGE=cmd/demo\n")
            && out.contains("ENTRYPOINT=/demo\n")
            && out.contains("TOOLSPEC=\n"),
        "{out}"
    );
    let json = ok(&run(&[
        &"build-args",
        &corpus_dir(),
        &"ably@0.1.0",
        &"--format",
        &"json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["builder"], "toolpack");
    assert_eq!(v["toolspec"], "manifests/ably/0.1.0.toolspec.yaml");
    assert_eq!(v["imageRef"], "ghcr.io/gigmcp/ably-mcp");
    assert!(fails(&run(&[&"build-args", &dir.path(), &"../../etc"])).contains("not a server name"));
    assert!(
        fails(&run(&[&"build-args", &dir.path(), &"demo@1.0"])).contains("not a semantic version")
    );
    assert!(fails(&run(&[&"build-args", &dir.path(), &"demo@2.0.0"])).contains("no manifest"));
    let broken = scratch(&DEMO.replace("/demo}", "demo}"));
    assert!(fails(&run(&[&"build-args", &broken.path(), &"demo"])).contains("image.entrypoint"));
}
