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
        &"--sequence",
        &"1",
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

    ok(&run(&[
        &"build-index",
        &corpus_dir(),
        &"--sequence",
        &"1",
        &"-o",
        &index,
    ]));
    let first = fs::read(&index).unwrap();
    ok(&run(&[
        &"build-index",
        &corpus_dir(),
        &"--sequence",
        &"1",
        &"-o",
        &index,
    ]));
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
    ok(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence",
        &"1",
        &"-o",
        &own,
    ]));
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
    fails(&run(&[
        &"build-index",
        &dir.path(),
        &"--sequence",
        &"1",
        &"-o",
        &out,
    ]));
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

#[track_caller]
fn usage_error(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

#[test]
fn build_index_requires_a_sequence_and_stays_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index.json");
    // No sequence: a usage error that says what to pass, and nothing written.
    let err = usage_error(&run(&[&"build-index", &own_registry(), &"-o", &index]));
    for needle in ["--sequence N", "previous", "+ 1", "--sequence-from"] {
        assert!(err.contains(needle), "missing {needle}: {err}");
    }
    assert!(!index.exists());
    let err = usage_error(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence",
        &"0",
        &"-o",
        &index,
    ]));
    assert!(err.contains("start at 1"), "{err}");
    usage_error(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence",
        &"2",
        &"--sequence-from",
        &index,
        &"-o",
        &index,
    ]));

    // Same inputs and sequence: the same bytes; the sequence is in them.
    ok(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence",
        &"3",
        &"-o",
        &index,
    ]));
    let three = fs::read(&index).unwrap();
    assert!(text(&three).contains("\n  \"sequence\": 3,\n"));
    ok(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence",
        &"3",
        &"-o",
        &index,
    ]));
    assert_eq!(fs::read(&index).unwrap(), three);

    // --sequence-from: the previous index's sequence + 1, same bytes as passing it.
    let next = tmp.path().join("next.json");
    let out = ok(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence-from",
        &index,
        &"-o",
        &next,
    ]));
    assert!(out.contains("sequence 4"), "{out}");
    let four = tmp.path().join("four.json");
    ok(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence",
        &"4",
        &"-o",
        &four,
    ]));
    assert_eq!(fs::read(&next).unwrap(), fs::read(&four).unwrap());

    // An index from before sequence numbers has no sequence to continue from.
    let legacy = tmp.path().join("legacy.json");
    fs::write(
        &legacy,
        text(&three)
            .replace("\"schemaVersion\": 2,", "\"schemaVersion\": 1,")
            .replace("  \"sequence\": 3,\n", ""),
    )
    .unwrap();
    let err = fails(&run(&[
        &"build-index",
        &own_registry(),
        &"--sequence-from",
        &legacy,
        &"-o",
        &next,
    ]));
    assert!(err.contains("--sequence 1"), "{err}");
    // And it can no longer be signed or verified: the message says how to rebuild it.
    let key = tmp.path().join("k");
    ok(&run(&[&"keygen", &"-o", &key]));
    let err = fails(&run(&[&"sign", &"--key", &key, &legacy]));
    assert!(
        err.contains("predates sequence numbers") && err.contains("--sequence"),
        "{err}"
    );
}

/// The state file's `(sequence, sha256)`.
fn state_of(path: &Path) -> (u64, String) {
    let v: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    (
        v["sequence"].as_u64().unwrap(),
        v["sha256"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn verify_state_refuses_replays_and_advances() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    let key = p("registry.key");
    let pubkey = ok(&run(&[&"keygen", &"-o", &key])).trim().to_owned();
    // Three validly signed indexes: sequences 1 and 2 of our registry, and another registry's
    // content under sequence 2.
    for (name, dir, seq) in [
        ("one.json", own_registry(), "1"),
        ("two.json", own_registry(), "2"),
    ] {
        ok(&run(&[
            &"build-index",
            &dir,
            &"--sequence",
            &seq,
            &"-o",
            &p(name),
        ]));
        ok(&run(&[&"sign", &"--key", &key, &p(name)]));
    }
    let demo = scratch(DEMO);
    ok(&run(&[
        &"build-index",
        &demo.path(),
        &"--sequence",
        &"2",
        &"-o",
        &p("other2.json"),
    ]));
    ok(&run(&[&"sign", &"--key", &key, &p("other2.json")]));
    let state = p("state.json");
    let verify = |index: &str| {
        run(&[
            &"verify",
            &"--pubkey",
            &pubkey,
            &"--state",
            &state,
            &p(index),
        ])
    };

    // First use: accepted and recorded, mode 0600.
    let out = ok(&verify("one.json"));
    assert!(out.contains("sequence 1 (first accepted index)"), "{out}");
    assert_eq!(state_of(&state).0, 1);
    assert_eq!(state_of(&state).1.len(), 64);
    assert_eq!(
        fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Newer: accepted, the state advances.
    let out = ok(&verify("two.json"));
    assert!(out.contains("newer than the last accepted 1"), "{out}");
    let after_two = fs::read(&state).unwrap();
    assert_eq!(state_of(&state).0, 2);
    // Replay of the older, validly signed index: refused, state untouched.
    let err = fails(&verify("one.json"));
    for needle in [
        "UNTRUSTED",
        "older index than the last one accepted",
        "replay",
        "delete",
    ] {
        assert!(err.contains(needle), "missing {needle}: {err}");
    }
    assert_eq!(fs::read(&state).unwrap(), after_two);
    // Same sequence, other content: refused, state untouched.
    let err = fails(&verify("other2.json"));
    assert!(err.contains("different content"), "{err}");
    assert_eq!(fs::read(&state).unwrap(), after_two);
    // Same bytes again: a no-op refresh.
    let out = ok(&verify("two.json"));
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(fs::read(&state).unwrap(), after_two);
    // A bumped sequence breaks the signature.
    let bumped =
        text(&fs::read(p("two.json")).unwrap()).replace("\"sequence\": 2,", "\"sequence\": 3,");
    fs::write(p("bumped.json"), bumped).unwrap();
    fs::copy(p("two.json.sig"), p("bumped.json.sig")).unwrap();
    assert!(fails(&verify("bumped.json")).contains("UNTRUSTED"));
    assert_eq!(fs::read(&state).unwrap(), after_two);

    // --last-sequence: older refused, equal accepted.
    let last = |n: &str, index: &str| {
        run(&[
            &"verify",
            &"--pubkey",
            &pubkey,
            &"--last-sequence",
            &n,
            &p(index),
        ])
    };
    assert!(fails(&last("2", "one.json")).contains("older index than the last one accepted"));
    ok(&last("1", "one.json"));
    ok(&last("2", "other2.json"));
    usage_error(&run(&[
        &"verify",
        &"--pubkey",
        &pubkey,
        &"--last-sequence",
        &"1",
        &"--state",
        &state,
        &p("one.json"),
    ]));

    // A corrupt state file is an error naming the file, not a fresh start.
    fs::write(&state, "{\"sequence\": 2}\n").unwrap();
    let err = fails(&verify("two.json"));
    assert!(
        err.contains("state file") && err.contains("sha256"),
        "{err}"
    );
    // The operator's explicit reset: deleting the state accepts the older index again.
    fs::remove_file(&state).unwrap();
    ok(&verify("one.json"));
    assert_eq!(state_of(&state).0, 1);
}
