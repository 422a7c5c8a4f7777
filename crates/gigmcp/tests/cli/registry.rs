//! Installing from the signed registry index with the operator's CLI, on SQLite and
//! PostgreSQL: `registry refresh` / `list` / `show` / `import`, `server install` with its
//! consent document (nothing without a yes), a credential filled without `--name`, what is
//! still missing per profile, an index refused as UNTRUSTED while the last good copy keeps
//! serving, and `server remove` naming the profiles it takes the server out of.

use super::Env;
use super::toolpack::corpus;
use gigmcp_registry::sign::{signing_key_from_hex, verifying_key_to_hex};
use gigmcp_registry::{Denylist, SourceFile, build_index, sign_index};
use gigmcp_store::StoreUrl;
use gigmcp_store::testing::{Driver, TestDb};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Output;

const SIGNING_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const OTHER_KEY: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

/// The corpus files of `names` (every version), as registry sources.
fn sources(names: &[&str]) -> Vec<SourceFile> {
    let mut files = Vec::new();
    for name in names {
        let dir = corpus().join(name);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            files.push(SourceFile {
                path: format!(
                    "manifests/{name}/{}",
                    path.file_name().unwrap().to_str().unwrap()
                ),
                bytes: std::fs::read(&path).unwrap(),
            });
        }
    }
    files
}

/// Builds and signs an index of `names` with `sequence` into `dir` (index.json + .sig).
fn publish(dir: &Path, names: &[&str], sequence: u64, key_hex: &str) -> PathBuf {
    let (index, _) = build_index(
        &sources(names),
        &Denylist::builtin(),
        NonZeroU64::new(sequence).unwrap(),
    )
    .unwrap_or_else(|r| panic!("{r:?}"));
    let bytes = index.to_json();
    let key = signing_key_from_hex(key_hex).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("index.json");
    std::fs::write(&path, &bytes).unwrap();
    std::fs::write(dir.join("index.json.sig"), sign_index(&bytes, &key) + "\n").unwrap();
    path
}

fn attempt(env: &Env, vars: &[(&str, String)], args: &[&str], input: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = env
        .cmd()
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = input {
        stdin.write_all(text.as_bytes()).unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn ok(env: &Env, vars: &[(&str, String)], args: &[&str], input: Option<&str>) -> (String, String) {
    let out = attempt(env, vars, args, input);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "gigmcp {args:?} failed: {stderr}");
    (stdout, stderr)
}

fn refused(env: &Env, vars: &[(&str, String)], args: &[&str]) -> (String, String) {
    let out = attempt(env, vars, args, None);
    assert!(!out.status.success(), "gigmcp {args:?} should have failed");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn install_flow(driver: Driver) {
    let db = TestDb::new(driver).await;
    let env = Env {
        data_dir: db.dir.path().join("data"),
        database_url: match &db.url {
            StoreUrl::Sqlite { .. } => None,
            StoreUrl::Postgres { url } => Some(url.clone()),
        },
    };
    let published = db.dir.path().join("published");
    // zendesk: toolpack, a wildcard tenant, one oauth2 credential; freshdesk: basic;
    // borneo: an image entry with the placeholder digest.
    let servers = ["zendesk", "freshdesk", "borneo"];
    let index = publish(&published, &servers, 2, SIGNING_KEY);
    let public = verifying_key_to_hex(&signing_key_from_hex(SIGNING_KEY).unwrap().verifying_key());
    let vars = vec![
        (
            "GIG_REGISTRY_INDEX_URL",
            format!("file://{}", index.display()),
        ),
        ("GIG_REGISTRY_PUBKEY", public.clone()),
    ];

    // Nothing accepted yet: the catalogue says how to get one.
    let (_, err) = refused(&env, &vars, &["registry", "list"]);
    assert!(err.contains("gigmcp registry refresh"), "{err}");
    let (out, _) = ok(&env, &vars, &["registry", "refresh"], None);
    assert!(
        out.contains("accepted index sequence 2 (3 entries)"),
        "{out}"
    );

    let (list, _) = ok(&env, &vars, &["registry", "list"], None);
    assert!(
        list.lines()
            .any(|l| l.starts_with("zendesk ") && l.contains(" installable")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("borneo ") && l.contains("not installable")),
        "{list}"
    );
    let (found, _) = ok(
        &env,
        &vars,
        &["registry", "list", "--search", "zendesk"],
        None,
    );
    assert_eq!(found.lines().count(), 2, "header and zendesk only: {found}");
    let (show, _) = ok(&env, &vars, &["registry", "show", "zendesk"], None);
    assert!(
        show.contains("*.zendesk.com") && show.contains("GET /"),
        "{show}"
    );
    assert!(
        show.contains("per-user tenant host: yoursubdomain.zendesk.com"),
        "{show}"
    );

    // The consent document, and nothing installed without a yes.
    let (doc, err) = refused(&env, &vars, &["server", "install", "zendesk"]);
    assert!(
        doc.contains("*.zendesk.com (any subdomain of zendesk.com, not zendesk.com itself)"),
        "{doc}"
    );
    assert!(
        doc.contains("zendesk_token") && doc.contains("the server never sees it"),
        "{doc}"
    );
    assert!(
        doc.contains("tier: sealed") && doc.contains("list_tickets [on]"),
        "{doc}"
    );
    assert!(err.contains("--yes"), "{err}");
    let (listed, _) = ok(&env, &vars, &["server", "list"], None);
    assert!(listed.trim().is_empty(), "{listed}");

    let (out, _) = ok(
        &env,
        &vars,
        &["server", "install", "zendesk", "--yes"],
        None,
    );
    assert!(out.contains("installed zendesk 0.1.0"), "{out}");
    let (listed, _) = ok(&env, &vars, &["server", "list"], None);
    assert!(
        listed.contains("zendesk\tregistry 0.1.0\ttoolpack"),
        "{listed}"
    );
    ok(
        &env,
        &vars,
        &["server", "install", "freshdesk", "--yes"],
        None,
    );

    // Bad input: a clear error, nothing changed.
    let (_, err) = refused(&env, &vars, &["server", "install", "zendesk", "--yes"]);
    assert!(err.contains("already installed"), "{err}");
    let (_, err) = refused(&env, &vars, &["server", "install", "nosuch", "--yes"]);
    assert!(
        err.contains("no server \"nosuch\" in the registry index"),
        "{err}"
    );
    let (_, err) = refused(
        &env,
        &vars,
        &["server", "install", "zendesk@9.9.9", "--yes"],
    );
    assert!(err.contains("has no version 9.9.9"), "{err}");
    let (_, err) = refused(&env, &vars, &["server", "install", "borneo", "--yes"]);
    assert!(err.contains("placeholder"), "{err}");
    let (listed, _) = ok(&env, &vars, &["server", "list"], None);
    assert_eq!(listed.lines().count(), 2, "{listed}");

    // Into a profile: what the owner still has to set is named.
    ok(&env, &vars, &["profile", "create", "dev"], None);
    let (_, next) = ok(
        &env,
        &vars,
        &["profile", "add-server", "dev", "zendesk"],
        None,
    );
    assert!(
        next.contains("gigmcp credential set zendesk --profile dev"),
        "{next}"
    );
    assert!(
        next.contains("set-host zendesk yoursubdomain.zendesk.com=<host>"),
        "{next}"
    );
    ok(
        &env,
        &vars,
        &["profile", "add-server", "dev", "freshdesk"],
        None,
    );
    // The only declared credential, without --name; a name it does not declare is refused.
    let (_, stored) = ok(
        &env,
        &vars,
        &["credential", "set", "zendesk", "--profile", "dev"],
        Some("zd-token-1"),
    );
    assert!(
        stored.contains("stored credential zendesk_token"),
        "{stored}"
    );
    let out = attempt(
        &env,
        &vars,
        &[
            "credential",
            "set",
            "zendesk",
            "--profile",
            "dev",
            "--name",
            "default",
        ],
        Some("x"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("zendesk_token"));
    let (creds, _) = ok(
        &env,
        &vars,
        &["credential", "list", "--profile", "dev"],
        None,
    );
    assert!(
        creds
            .lines()
            .any(|l| l.starts_with("MISSING freshdesk") && l.contains("--user USER")),
        "{creds}"
    );
    assert!(
        !creds.lines().any(|l| l.starts_with("MISSING zendesk")),
        "{creds}"
    );

    // An index that does not verify is refused and the last good copy keeps serving.
    let mut tampered = std::fs::read(&index).unwrap();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    std::fs::write(&index, &tampered).unwrap();
    let (_, err) = refused(&env, &vars, &["registry", "refresh"]);
    assert!(err.contains("UNTRUSTED"), "{err}");
    let (list, note) = ok(&env, &vars, &["registry", "list"], None);
    assert!(list.contains("zendesk"), "{list}");
    assert!(
        note.contains("showing the last good index (sequence 2"),
        "{note}"
    );
    // An older index, validly signed, is a rollback.
    let older = publish(&db.dir.path().join("older"), &servers, 1, SIGNING_KEY);
    let sig = older.with_extension("json.sig");
    let (_, err) = refused(
        &env,
        &vars,
        &[
            "registry",
            "import",
            older.to_str().unwrap(),
            sig.to_str().unwrap(),
        ],
    );
    assert!(err.contains("UNTRUSTED") && err.contains("older"), "{err}");
    // Signed by another key.
    let foreign = publish(&db.dir.path().join("foreign"), &servers, 3, OTHER_KEY);
    let sig = foreign.with_extension("json.sig");
    let (_, err) = refused(
        &env,
        &vars,
        &[
            "registry",
            "import",
            foreign.to_str().unwrap(),
            sig.to_str().unwrap(),
        ],
    );
    assert!(err.contains("UNTRUSTED"), "{err}");

    // Going back on purpose: only after an explicit, confirmed reset.
    let (_, err) = refused(&env, &vars, &["registry", "reset"]);
    assert!(err.contains("--yes") && err.contains("OLDER"), "{err}");
    ok(&env, &vars, &["registry", "reset", "--yes"], None);
    let sig = older.with_extension("json.sig");
    let (out, _) = ok(
        &env,
        &vars,
        &[
            "registry",
            "import",
            older.to_str().unwrap(),
            sig.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.contains("imported index sequence 1"), "{out}");

    // Uninstall names the profiles and asks; with --yes it cascades.
    let (_, err) = refused(&env, &vars, &["server", "remove", "zendesk"]);
    assert!(err.contains("profile(s) dev"), "{err}");
    let (out, _) = ok(&env, &vars, &["server", "remove", "zendesk", "--yes"], None);
    assert!(
        out.contains("removed server zendesk (from profiles dev)"),
        "{out}"
    );
    let (creds, _) = ok(&env, &vars, &["credential", "list"], None);
    assert!(!creds.contains("zendesk_token"), "{creds}");
    let (profiles, _) = ok(&env, &vars, &["profile", "list"], None);
    assert!(!profiles.contains("zendesk"), "{profiles}");
}

#[tokio::test]
async fn install_from_the_index_on_sqlite() {
    install_flow(Driver::Sqlite).await;
}

#[tokio::test]
async fn install_from_the_index_on_postgres() {
    install_flow(Driver::Postgres).await;
}

#[test]
fn registry_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let (_, err) = refused(
        &env,
        &[(
            "GIG_REGISTRY_INDEX_URL",
            "file:///nowhere/index.json".into(),
        )],
        &["registry", "list"],
    );
    assert!(err.contains("GIG_REGISTRY_PUBKEY"), "{err}");
    let (_, err) = refused(
        &env,
        &[
            (
                "GIG_REGISTRY_INDEX_URL",
                "http://registry.example.org/index.json".into(),
            ),
            (
                "GIG_REGISTRY_PUBKEY",
                verifying_key_to_hex(&signing_key_from_hex(SIGNING_KEY).unwrap().verifying_key()),
            ),
        ],
        &["registry", "refresh"],
    );
    assert!(err.contains("only https:// and file://"), "{err}");
}

/// `GIG_INSTALL` installs at start, once: a second start leaves the installed server alone.
#[tokio::test]
async fn gig_install_installs_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let index = publish(
        &dir.path().join("published"),
        &["freshdesk"],
        1,
        SIGNING_KEY,
    );
    let public = verifying_key_to_hex(&signing_key_from_hex(SIGNING_KEY).unwrap().verifying_key());
    let vars = vec![
        (
            "GIG_REGISTRY_INDEX_URL",
            format!("file://{}", index.display()),
        ),
        ("GIG_REGISTRY_PUBKEY", public),
        ("GIG_INSTALL", "freshdesk@0.1.0".to_owned()),
    ];
    for round in 0..2 {
        let port = super::free_port();
        let mut gateway = env
            .cmd()
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env(
                "GIG_BOOTSTRAP",
                gigmcp_testkit::static_bin("gigmcp-bootstrap", "gigmcp-bootstrap"),
            )
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let up = loop {
            match reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await {
                Ok(r) if r.status() == 200 => break true,
                _ if started.elapsed() > std::time::Duration::from_secs(30) => break false,
                _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        gateway.kill().unwrap();
        let out = gateway.wait_with_output().unwrap();
        assert!(
            up,
            "round {round}: the gateway did not come up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (listed, _) = ok(&env, &vars, &["server", "list"], None);
        assert_eq!(listed.lines().count(), 1, "round {round}: {listed}");
        assert!(
            listed.starts_with("freshdesk\tregistry 0.1.0\ttoolpack"),
            "{listed}"
        );
    }
}
