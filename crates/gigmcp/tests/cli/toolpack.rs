//! Toolpack servers from the operator's CLI: `server add --toolpack` lints the manifest and
//! toolspec first; `server set-host` / `set-var` accept only what the manifest and toolspec
//! allow and say why otherwise; `credential set --user` stores a basic credential as
//! user + password, sealed.

use super::{Env, KEY};
use std::path::{Path, PathBuf};
use std::process::Output;

/// `<repo>/../shared/corpus/gigmcp-registry/manifests`, or `$GIGMCP_CORPUS_DIR/manifests`.
pub(super) fn corpus() -> PathBuf {
    let root = std::env::var_os("GIGMCP_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry")
        });
    let dir = root.join("manifests");
    assert!(
        dir.is_dir(),
        "{} is missing: is the registry corpus beside the repo (or GIGMCP_CORPUS_DIR set)?",
        dir.display()
    );
    dir
}

fn spec(name: &str) -> (String, String) {
    let dir = corpus().join(name);
    (
        dir.join("0.1.0.yaml").display().to_string(),
        dir.join("0.1.0.toolspec.yaml").display().to_string(),
    )
}

/// Runs `gigmcp ARGS` (stdin `input`) without asserting success.
fn attempt(env: &Env, args: &[&str], input: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = env
        .cmd()
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

/// Runs `gigmcp ARGS`; it must fail. Returns stderr.
fn refused(env: &Env, args: &[&str], input: Option<&str>) -> String {
    let out = attempt(env, args, input);
    assert!(!out.status.success(), "gigmcp {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A toolpack pair with an install variable (`from: install.account_id`).
fn account_pair(dir: &Path) -> (String, String) {
    let manifest = format!(
        "schemaVersion: 1\nname: acct\nversion: 0.1.0\nsource: {{repo: github.com/gigmcp/toolpack, tag: v0.1.0}}\n\
         image: {{ref: ghcr.io/gigmcp/acct-mcp, digest: \"sha256:{}\", entrypoint: /app/server, builder: toolpack}}\n\
         tier: sealed\ndisplayName: Acct\ncategory: testing\nentitlements:\n  egress: [api.acct.example.com]\n\
         tools:\n  - name: whoami\n    default: true\n",
        "ab".repeat(32)
    );
    let toolspec = "schemaVersion: 1\nname: acct\nversion: 0.1.0\nbaseUrl: https://api.acct.example.com\n\
         tools:\n  - name: whoami\n    description: Who am I\n    method: GET\n    path: /v1/me\n    params:\n\
         \x20     - {name: Account-Id, in: header, type: string, from: install.account_id}\n";
    let (m, t) = (dir.join("acct.yaml"), dir.join("acct.toolspec.yaml"));
    std::fs::write(&m, manifest).unwrap();
    std::fs::write(&t, toolspec).unwrap();
    (m.display().to_string(), t.display().to_string())
}

#[tokio::test]
async fn toolpack_servers_are_linted_and_their_settings_checked() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let (zm, zs) = spec("zendesk");
    let (_, hs) = spec("hackernews");

    // a toolspec that does not pair with the manifest: every lint error, nothing installed
    let err = refused(
        &env,
        &[
            "server",
            "add",
            "zendesk",
            "--toolpack",
            "--manifest",
            &zm,
            "--toolspec",
            &hs,
        ],
        None,
    );
    assert!(
        err.contains("is not acceptable") && err.contains("get_top_stories"),
        "{err}"
    );
    // --toolpack needs both documents
    let err = refused(
        &env,
        &["server", "add", "zendesk", "--toolpack", "--manifest", &zm],
        None,
    );
    assert!(err.contains("--toolspec"), "{err}");
    // a manifest not built by toolpack
    let echo_manifest = dir.path().join("echo.yaml");
    std::fs::write(
        &echo_manifest,
        std::fs::read_to_string(&zm)
            .unwrap()
            .replace("  builder: toolpack\n", ""),
    )
    .unwrap();
    let err = refused(
        &env,
        &[
            "server",
            "add",
            "zendesk",
            "--toolpack",
            "--manifest",
            echo_manifest.to_str().unwrap(),
            "--toolspec",
            &zs,
        ],
        None,
    );
    assert!(err.contains("image.builder: toolpack"), "{err}");
    assert!(String::from_utf8_lossy(&env.run(&["server", "list"], None).stdout).is_empty());

    let out = env.run(
        &[
            "server",
            "add",
            "zendesk",
            "--toolpack",
            "--manifest",
            &zm,
            "--toolspec",
            &zs,
        ],
        None,
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("added toolpack server zendesk (10 tools"),
        "{said}"
    );
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("gigmcp server set-host zendesk yoursubdomain.zendesk.com=<tenant host>"),
        "{note}"
    );
    let listed = String::from_utf8(env.run(&["server", "list"], None).stdout).unwrap();
    assert!(
        listed.contains(
            "zendesk\tlocal\ttoolpack\tbuilt-in engine\ttier sealed, egress: *.zendesk.com"
        ),
        "{listed}"
    );
    env.run(&["profile", "create", "dev"], None);

    // host overrides: only the wildcard-only base host, only to a host under that wildcard
    let err = refused(
        &env,
        &[
            "server",
            "set-host",
            "zendesk",
            "yoursubdomain.zendesk.com=evil.example.com",
            "--profile",
            "dev",
        ],
        None,
    );
    assert!(
        err.contains("not allowed by zendesk's egress policy (*.zendesk.com)"),
        "{err}"
    );
    let err = refused(
        &env,
        &[
            "server",
            "set-host",
            "zendesk",
            "api.example.com=acme.zendesk.com",
            "--profile",
            "dev",
        ],
        None,
    );
    assert!(
        err.contains("the hosts it can override: yoursubdomain.zendesk.com"),
        "{err}"
    );
    let err = refused(
        &env,
        &[
            "server",
            "set-host",
            "zendesk",
            "acme.zendesk.com",
            "--profile",
            "dev",
        ],
        None,
    );
    assert!(
        err.contains("yoursubdomain.zendesk.com=acme.zendesk.com"),
        "{err}"
    );
    let err = refused(
        &env,
        &[
            "server",
            "set-host",
            "zendesk",
            "yoursubdomain.zendesk.com=acme.zendesk.com",
            "--profile",
            "nope",
        ],
        None,
    );
    assert!(err.contains("no profile nope"), "{err}");
    let out = env.run(
        &[
            "server",
            "set-host",
            "zendesk",
            "YourSubdomain.zendesk.com=Acme.Zendesk.com",
            "--profile",
            "dev",
        ],
        None,
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("reaches acme.zendesk.com instead of yoursubdomain.zendesk.com")
            && said.contains("zendesk_token goes to acme.zendesk.com"),
        "{said}"
    );
    let settings = String::from_utf8(
        env.run(&["server", "settings", "zendesk", "--profile", "dev"], None)
            .stdout,
    )
    .unwrap();
    assert_eq!(
        settings,
        "host\tyoursubdomain.zendesk.com\tacme.zendesk.com\n"
    );
    let err = refused(
        &env,
        &[
            "server",
            "set-var",
            "zendesk",
            "subdomain=acme",
            "--profile",
            "dev",
        ],
        None,
    );
    assert!(
        err.contains("not an install variable") && err.contains("it has none"),
        "{err}"
    );

    // install variables: only the toolspec's
    let (am, at) = account_pair(dir.path());
    env.run(
        &[
            "server",
            "add",
            "acct",
            "--toolpack",
            "--manifest",
            &am,
            "--toolspec",
            &at,
        ],
        None,
    );
    let err = refused(
        &env,
        &["server", "set-var", "acct", "region=eu", "--profile", "dev"],
        None,
    );
    assert!(err.contains("its variables: account_id"), "{err}");
    let err = refused(
        &env,
        &[
            "server",
            "set-host",
            "acct",
            "api.acct.example.com=x.acct.example.com",
            "--profile",
            "dev",
        ],
        None,
    );
    assert!(
        err.contains("it has none, so it needs no host override"),
        "{err}"
    );
    env.run(
        &[
            "server",
            "set-var",
            "acct",
            "account_id=42",
            "--profile",
            "dev",
        ],
        None,
    );
    let settings = String::from_utf8(
        env.run(&["server", "settings", "acct", "--profile", "dev"], None)
            .stdout,
    )
    .unwrap();
    assert_eq!(settings, "var\taccount_id\t42\n");
    env.run(
        &[
            "server",
            "set-var",
            "acct",
            "account_id",
            "--unset",
            "--profile",
            "dev",
        ],
        None,
    );
    let settings = String::from_utf8(
        env.run(&["server", "settings", "acct", "--profile", "dev"], None)
            .stdout,
    )
    .unwrap();
    assert!(
        settings.contains("(not set: `gigmcp server set-var acct account_id=<value>"),
        "{settings}"
    );

    // a server that is not a toolpack server has no install settings
    let echo = gigmcp_testkit::static_bin("gigmcp-test-servers", "echo");
    env.run(
        &["server", "add", "echo", "--binary", echo.to_str().unwrap()],
        None,
    );
    let err = refused(
        &env,
        &["server", "set-var", "echo", "a=b", "--profile", "dev"],
        None,
    );
    assert!(err.contains("not a toolpack server"), "{err}");
}

#[tokio::test]
async fn basic_credentials_take_a_user_and_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let (fm, fs) = spec("freshdesk");
    env.run(
        &[
            "server",
            "add",
            "freshdesk",
            "--toolpack",
            "--manifest",
            &fm,
            "--toolspec",
            &fs,
        ],
        None,
    );
    env.run(&["profile", "create", "dev"], None);
    let base = ["credential", "set", "freshdesk", "--profile", "dev"];
    let with =
        |extra: &[&'static str]| -> Vec<&str> { base.iter().chain(extra).copied().collect() };

    // without --name: the only declared credential, which is basic, so --user is needed
    let err = refused(&env, &with(&[]), Some("x"));
    assert!(
        err.contains("freshdesk_api_key") && err.contains("--user"),
        "{err}"
    );
    let err = refused(&env, &with(&["--name", "default"]), Some("x"));
    assert!(
        err.contains("declares no credential \"default\"") && err.contains("freshdesk_api_key"),
        "{err}"
    );
    let err = refused(&env, &with(&["--name", "freshdesk_api_key"]), Some("x"));
    assert!(
        err.contains("`type: basic`") && err.contains("--user"),
        "{err}"
    );
    let err = refused(
        &env,
        &with(&["--name", "freshdesk_api_key", "--user", "a:b"]),
        Some("x"),
    );
    assert!(err.contains("RFC 7617"), "{err}");
    env.run(
        &with(&["--name", "freshdesk_api_key", "--user", "KEY123"]),
        Some("X\n"),
    );

    // sealed as user:password; nothing of it in the database file
    let store = gigmcp_store::Store::connect(&gigmcp_store::StoreUrl::sqlite_in(&env.data_dir))
        .await
        .unwrap();
    let keyring = gigmcp_vault::Keyring::new(
        gigmcp_vault::MasterKey::from_hex("GIG_MASTER_KEY", KEY).unwrap(),
        Vec::new(),
    );
    let server = store.server_by_name("freshdesk").await.unwrap().unwrap();
    let owner = store.user_by_username("admin").await.unwrap().unwrap();
    let stored =
        gigmcp_vault::get_secret(&store, &keyring, owner.id, server.id, "freshdesk_api_key")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored.as_slice(), b"KEY123:X");
    store.close().await;
    let db = std::fs::read(env.data_dir.join(gigmcp_store::SQLITE_FILE_NAME)).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("KEY123"));

    // an empty password is fine (APIs that take the key as the user)
    env.run(
        &with(&["--name", "freshdesk_api_key", "--user", "KEY123"]),
        Some(""),
    );

    // an api_key credential takes one secret, no --user
    let (sm, ss) = spec("shopify");
    env.run(
        &[
            "server",
            "add",
            "shopify",
            "--toolpack",
            "--manifest",
            &sm,
            "--toolspec",
            &ss,
        ],
        None,
    );
    let err = refused(
        &env,
        &[
            "credential",
            "set",
            "shopify",
            "--profile",
            "dev",
            "--name",
            "shopify_token",
            "--user",
            "u",
        ],
        Some("x"),
    );
    assert!(err.contains("drop --user"), "{err}");
}

/// Packs a toolpack image of `manifest` and `toolspec` (as `registryctl pack --toolpack` does)
/// into `layout`; returns its `oci:` reference.
async fn toolpack_image(layout: &Path, manifest: &str, toolspec: &str) -> String {
    let engine = b"\x7fELF not run by this test".to_vec();
    let (m, t) = (
        std::fs::read(manifest).unwrap(),
        std::fs::read(toolspec).unwrap(),
    );
    let tar = gigmcp_oci::pack::tar_from_files(&[
        ("app/manifest.yaml", 0o644, &m),
        ("app/server", 0o755, &engine),
        ("app/toolspec.yaml", 0o644, &t),
    ])
    .unwrap();
    let args = gigmcp_oci::pack::PackArgs {
        binary: None,
        dir: None,
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        env: Vec::new(),
        workdir: None,
        layout: Some(layout.to_path_buf()),
        tag: Some("v1".into()),
        push: None,
        insecure: false,
        chunk_size: None,
        arch: gigmcp_oci::platform::goarch(std::env::consts::ARCH).to_owned(),
        compression: gigmcp_oci::pack::LayerCompression::Gzip,
    };
    let packed = gigmcp_oci::pack::run_layer(&args, tar, vec!["/app/server".into()])
        .await
        .unwrap();
    format!("oci:{}@{}", layout.display(), packed.digest)
}

#[tokio::test]
async fn add_image_of_a_toolpack_keeps_the_toolspec_it_bakes() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let (zm, zs) = spec("zendesk");
    let (fm, fs) = spec("freshdesk");
    let good = toolpack_image(&dir.path().join("good"), &zm, &zs).await;
    let other = toolpack_image(&dir.path().join("other"), &fm, &fs).await;

    // the image must bake the manifest being consented to
    let err = refused(
        &env,
        &["server", "add-image", "zendesk", &other, "--manifest", &zm],
        None,
    );
    assert!(err.contains("differs from --manifest"), "{err}");
    let out = env.run(
        &["server", "add-image", "zendesk", &good, "--manifest", &zm],
        None,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("runs [\"/app/server\"]"),
        "{out:?}"
    );
    env.run(&["profile", "create", "dev"], None);
    // its install settings are checked against the toolspec the image bakes
    env.run(
        &[
            "server",
            "set-host",
            "zendesk",
            "yoursubdomain.zendesk.com=acme.zendesk.com",
            "--profile",
            "dev",
        ],
        None,
    );
    let settings = String::from_utf8(
        env.run(&["server", "settings", "zendesk", "--profile", "dev"], None)
            .stdout,
    )
    .unwrap();
    assert_eq!(
        settings,
        "host\tyoursubdomain.zendesk.com\tacme.zendesk.com\n"
    );
}
