//! Installing from the signed registry index, end to end as root with real sandboxes. A
//! publisher's registry tree is built into `index.json` and signed in the test; the gateway's
//! registry reads it from `file://` with the publisher's key pinned; servers are installed,
//! updated and uninstalled with `gigmcp-catalog` (what `gigmcp server install|update|remove`
//! run) and used through `/mcp/p/<slug>`.
//!
//! - A toolpack server from the index (`notes`: sealed, an API key sent in `X-Notes-Key`)
//!   answers the official Python SDK client: the API (a local HTTPS recorder standing in for the
//!   vendor) got the owner's REAL key in that header, and its answer reached the client.
//! - An image server from the index (the static echo server packed and pushed to a local
//!   `docker-registry`, pinned by digest): the install pulls and verifies it, so a call answers
//!   even with the image registry gone.
//! - A widening update (`notes` 0.2.0 adds an egress host and a tool) needs consent and names
//!   the host; until it is applied the consented 0.1.0 keeps serving (its tools, its host); once
//!   applied, the next use runs 0.2.0 (the new tool reaches the new host with the real key). A
//!   narrowing one (0.3.0 drops a tool) needs no consent, and the tool goes.
//! - Uninstalling `notes` while it runs in a profile: its sandbox is stopped within the idle
//!   reaper's tick (long before the idle timeout), and its tools leave the profile.

mod common;

use common::recorder::{self, Recorder};
use common::sdk::{clients_dir, run_client};
use common::{RawClient, TestGateway};
use gigmcp_catalog::{
    InstallOptions, Refreshed, Registry, RegistryConfig, RegistrySettings, apply_update, install,
    plan_install, plan_update, uninstall,
};
use gigmcp_oci::pack::{LayerCompression, PackArgs};
use gigmcp_registry::sign::verifying_key_to_hex;
use gigmcp_registry::{Denylist, SigningKey, SourceFile, build_index, sign_index};
use gigmcp_store::{ServerOrigin, ServerSource, Store};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::process::Command;

const API: &str = "api.notes.example.com";
/// The host `notes` 0.2.0 adds.
const FILES: &str = "files.notes.example.com";
const SECRET: &str = "NOTES-ALICE-SECRET";
/// The idle timeout of the toolpack test's gateway: its reaper ticks every quarter of it.
const IDLE_SECS: u64 = 20;

/// A publisher's registry checkout (`registry/manifests/<name>/<version>[.toolspec].yaml`) and
/// what it publishes beside it: `index.json` and `index.json.sig`.
struct Publisher {
    dir: tempfile::TempDir,
    key: SigningKey,
}

impl Publisher {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            key: SigningKey::from_bytes(&[71; 32]),
        }
    }

    fn add(&self, name: &str, version: &str, manifest: &str, toolspec: Option<&str>) {
        let dir = self.dir.path().join("registry/manifests").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{version}.yaml")), manifest).unwrap();
        if let Some(spec) = toolspec {
            std::fs::write(dir.join(format!("{version}.toolspec.yaml")), spec).unwrap();
        }
    }

    /// Builds the checkout into an index with `sequence` (as `registryctl build-index`), signs it
    /// (as `registryctl sign`) and publishes both files.
    fn publish(&self, sequence: u64) {
        let root = self.dir.path().join("registry");
        let mut files = Vec::new();
        for server in sorted(&root.join("manifests")) {
            for file in sorted(&server) {
                files.push(SourceFile {
                    path: file.strip_prefix(&root).unwrap().display().to_string(),
                    bytes: std::fs::read(&file).unwrap(),
                });
            }
        }
        let sequence = NonZeroU64::new(sequence).unwrap();
        let (index, _warnings) = build_index(&files, &Denylist::builtin(), sequence)
            .unwrap_or_else(|report| panic!("{report:?}"));
        let bytes = index.to_json();
        let signature = sign_index(&bytes, &self.key);
        std::fs::write(self.dir.path().join("index.json"), &bytes).unwrap();
        std::fs::write(
            self.dir.path().join("index.json.sig"),
            format!("{signature}\n"),
        )
        .unwrap();
    }

    /// The gateway's registry: `GIG_REGISTRY_INDEX_URL=file://…/index.json` and this
    /// publisher's key as `GIG_REGISTRY_PUBKEY`.
    fn registry(&self, store: &Store) -> Arc<Registry> {
        let url = format!("file://{}", self.dir.path().join("index.json").display());
        let key = verifying_key_to_hex(&self.key.verifying_key());
        let config = RegistryConfig::from_settings(&RegistrySettings {
            index_url: Some(&url),
            pubkeys: Some(&key),
            ..Default::default()
        })
        .unwrap()
        .expect("the registry is configured");
        Registry::new(store.clone(), config)
    }
}

fn sorted(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

/// `notes` at `version`: a sealed toolpack server whose key goes in `X-Notes-Key`. 0.1.0 reads
/// notes on [`API`] (`get_note`, `list_notes`); 0.2.0 also reads files on [`FILES`]
/// (`get_file`); 0.3.0 drops `list_notes`.
fn notes(version: &str) -> (String, String) {
    let files = version != "0.1.0";
    let list = version != "0.3.0";
    let mut egress = format!("    - {API}\n");
    let mut tools = "  - {name: get_note, default: true}\n".to_owned();
    let mut spec = "  - name: get_note\n    description: Reads one note\n    method: GET\n    \
                    path: /v1/notes/{id}\n    params:\n      \
                    - {name: id, in: path, type: integer, required: true}\n"
        .to_owned();
    if list {
        tools.push_str("  - {name: list_notes, default: true}\n");
        spec.push_str(
            "  - name: list_notes\n    description: Lists the notes\n    method: GET\n    \
             path: /v1/notes\n",
        );
    }
    if files {
        egress.push_str(&format!("    - {FILES}\n"));
        tools.push_str("  - {name: get_file, default: true}\n");
        spec.push_str(&format!(
            "  - name: get_file\n    description: Reads one attached file\n    method: GET\n    \
             path: /v1/files/{{id}}\n    baseUrl: https://{FILES}\n    params:\n      \
             - {{name: id, in: path, type: integer, required: true}}\n"
        ));
    }
    let manifest = format!(
        r#"schemaVersion: 1
name: notes
version: {version}
source: {{repo: github.com/gigmcp/toolpack, tag: v{version}}}
image: {{ref: ghcr.io/gigmcp/notes-mcp, digest: "sha256:{digest}", entrypoint: /app/server, builder: toolpack}}
tier: sealed
displayName: Notes
category: testing
entitlements:
  egress:
{egress}credentials:
  - id: notes_key
    type: api_key
    provider: notes
    inject: {{header: X-Notes-Key, format: "{{token}}"}}
tools:
{tools}"#,
        digest = "ab".repeat(32)
    );
    let toolspec = format!(
        "schemaVersion: 1\nname: notes\nversion: {version}\nbaseUrl: https://{API}\ntools:\n{spec}"
    );
    (manifest, toolspec)
}

/// How the operator CLI installs: into the gateway's data dir (its image cache).
fn options(gw: &TestGateway, insecure_registries: Vec<String>) -> InstallOptions {
    InstallOptions {
        data_dir: gw.gateway.state().config.data_dir.clone(),
        insecure_registries,
        max_builtin_toolspec: gigmcp_gateway::launch::toolpack::MAX_FILE_BYTES,
    }
}

/// A gateway whose sandboxes reach a recorder for `hosts` at `ip` through the egress proxy (as
/// `recorder::toolpack_gateway` makes it), with an idle timeout of [`IDLE_SECS`].
async fn toolpack_gateway(ip: Ipv4Addr, hosts: &[&str]) -> (TestGateway, Recorder) {
    let ca = gigmcp_proxy::CertificateAuthority::generate("notes API CA").unwrap();
    let api = recorder::start(ip, &ca, hosts).await;
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), ca.cert_pem()).unwrap();
    let engine = gigmcp_testkit::static_bin("gigmcp-toolpack", "gigmcp-toolpack");
    let gw = TestGateway::start_with(|raw| {
        raw.sandbox_network = true;
        raw.egress_allow_ranges = vec!["127.0.0.0/8".into()];
        raw.egress_ca_bundle = Some(bundle.path().display().to_string());
        raw.egress_resolve = hosts.iter().map(|h| format!("{h}={ip}")).collect();
        raw.toolpack = Some(engine.display().to_string());
        raw.idle_timeout_secs = IDLE_SECS;
    })
    .await;
    (gw, api)
}

fn next_id() -> i64 {
    static ID: AtomicI64 = AtomicI64::new(100);
    ID.fetch_add(1, Ordering::Relaxed)
}

/// The tool names the session's profile lists, sorted.
async fn tool_names(c: &RawClient) -> Vec<String> {
    let list = c.call(next_id(), "tools/list", json!({})).await;
    let mut names: Vec<String> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Lists the tools until `done` holds (profile changes show within the profile cache's TTL).
async fn tools_until(c: &RawClient, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let names = tool_names(c).await;
        if done(&names) {
            return names;
        }
        assert!(Instant::now() < deadline, "{what} within 20 s: {names:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Calls `tool`; returns what the API answered it saw (`<METHOD> <host><path>`).
async fn seen(c: &RawClient, tool: &str, arguments: Value) -> String {
    let params = json!({"name": tool, "arguments": arguments});
    let answer = c.call(next_id(), "tools/call", params).await;
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    answer["result"]["structuredContent"]["seen"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

/// Processes holding the `notes_key` placeholder in their environment: a `notes` sandbox's.
fn notes_processes() -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|var| var.starts_with(b"GIG_CREDENTIAL_NOTES_KEY="))
            })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toolpack_server_from_the_index_is_installed_updated_with_consent_and_uninstalled() {
    let (gw, api) = toolpack_gateway(Ipv4Addr::new(127, 0, 0, 71), &[API, FILES]).await;
    let publisher = Publisher::new();
    let (m, s) = notes("0.1.0");
    publisher.add("notes", "0.1.0", &m, Some(&s));
    publisher.publish(1);
    let registry = publisher.registry(&gw.store);
    assert_eq!(
        registry.refresh().await.unwrap(),
        Refreshed::Accepted {
            sequence: 1,
            entries: 1
        }
    );
    let options = options(&gw, Vec::new());

    // install, the owner's key stored, the server in her profile
    let plan = plan_install(&gw.store, &registry.catalogue().await.unwrap(), "notes")
        .await
        .unwrap();
    assert_eq!(plan.entry.version, "0.1.0");
    let server = install(&gw.store, &options, &plan, "admin").await.unwrap();
    assert_eq!(server.source, ServerSource::Toolpack);
    let profile = gw.add_profile_of("alice", "work", &["notes"]).await;
    let alice = gw.store.user_by_username("alice").await.unwrap().unwrap();
    gigmcp_vault::put_secret(
        &gw.store,
        &gw.keyring,
        alice.id,
        server.id,
        "notes_key",
        SECRET.as_bytes(),
    )
    .await
    .unwrap();

    // the official Python SDK client calls it; the API got the real key in the declared header
    let calls = tempfile::NamedTempFile::new().unwrap();
    let call = json!([{"name": "notes_get_note", "arguments": {"id": 7}}]);
    std::fs::write(calls.path(), call.to_string()).unwrap();
    let out = run_client(
        Command::new(gigmcp_testkit::python())
            .arg(clients_dir().join("python_toolpack.py"))
            .arg(gw.url("work"))
            .arg(&profile.token)
            .arg(calls.path()),
    )
    .await;
    assert_eq!(out["tools"], json!(["notes_get_note", "notes_list_notes"]));
    assert_eq!(
        out["results"][0]["structured"],
        json!({"ok": true, "seen": format!("GET {API}/v1/notes/7")}),
        "the API's answer reaches the client: {out}"
    );
    let r = api.one(API, "/v1/notes/7");
    assert_eq!(r.header("x-notes-key"), Some(SECRET), "{r:?}");

    // 0.2.0 adds a host: the update needs consent again and names the host
    let (m, s) = notes("0.2.0");
    publisher.add("notes", "0.2.0", &m, Some(&s));
    publisher.publish(2);
    assert_eq!(
        registry.refresh().await.unwrap(),
        Refreshed::Accepted {
            sequence: 2,
            entries: 2
        }
    );
    let plan = plan_update(
        &gw.store,
        &registry.catalogue().await.unwrap(),
        "notes",
        None,
    )
    .await
    .unwrap()
    .expect("0.2.0 is an update of 0.1.0");
    assert_eq!(
        (plan.from.as_str(), plan.target.version.as_str()),
        ("0.1.0", "0.2.0")
    );
    assert!(plan.needs_consent(), "{:?}", plan.diff);
    assert_eq!(plan.diff.egress_added, [FILES]);

    // not consented yet: 0.1.0 keeps serving, its tools, its host
    let mut c = RawClient::new(gw.url("work"), &profile.token);
    c.initialize().await;
    assert_eq!(tool_names(&c).await, ["notes_get_note", "notes_list_notes"]);
    assert_eq!(
        seen(&c, "notes_get_note", json!({"id": 8})).await,
        format!("GET {API}/v1/notes/8")
    );
    let row = gw.store.server_by_name("notes").await.unwrap().unwrap();
    assert_eq!(
        row.origin,
        ServerOrigin::Registry {
            version: "0.1.0".into()
        }
    );

    // consented: the next use runs 0.2.0, whose new tool reaches the new host with the real key
    apply_update(&gw.store, &options, &plan, "admin")
        .await
        .unwrap();
    tools_until(&c, "0.2.0's get_file listed", |t| {
        t.iter().any(|n| n == "notes_get_file")
    })
    .await;
    assert_eq!(
        seen(&c, "notes_get_file", json!({"id": 3})).await,
        format!("GET {FILES}/v1/files/3")
    );
    let r = api.one(FILES, "/v1/files/3");
    assert_eq!(r.header("x-notes-key"), Some(SECRET), "{r:?}");

    // 0.3.0 only drops a tool: no consent needed, and the tool goes
    let (m, s) = notes("0.3.0");
    publisher.add("notes", "0.3.0", &m, Some(&s));
    publisher.publish(3);
    registry.refresh().await.unwrap();
    let plan = plan_update(
        &gw.store,
        &registry.catalogue().await.unwrap(),
        "notes",
        None,
    )
    .await
    .unwrap()
    .expect("0.3.0 is an update of 0.2.0");
    assert!(!plan.needs_consent(), "{:?}", plan.diff);
    assert_eq!(plan.diff.tools_removed, ["list_notes"]);
    apply_update(&gw.store, &options, &plan, "admin")
        .await
        .unwrap();
    tools_until(&c, "list_notes gone", |t| {
        t == ["notes_get_file", "notes_get_note"]
    })
    .await;

    // uninstalled while running: the sandbox stops at the reaper's next tick (not after the
    // idle timeout), then the profile lists none of its tools
    assert_eq!(
        seen(&c, "notes_get_note", json!({"id": 9})).await,
        format!("GET {API}/v1/notes/9")
    );
    assert!(notes_processes() > 0, "notes runs before the uninstall");
    let used = Instant::now();
    let data_dir = gw.gateway.state().config.data_dir.clone();
    let removed = uninstall(&gw.store, &data_dir, "notes", "admin")
        .await
        .unwrap();
    assert_eq!(removed.profiles, ["work"]);
    // the reaper ticks every IDLE_SECS / 4; the margin stays well under the idle timeout
    while notes_processes() > 0 {
        assert!(
            used.elapsed() < Duration::from_secs(IDLE_SECS / 4 + 8),
            "the notes sandbox stopped within the reaper's tick"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tools_until(&c, "notes' tools gone", |t| t.is_empty()).await;
    gw.stop().await;
}

/// A real `docker-registry` (Debian's CNCF distribution) on 127.0.0.1:<free port>, plain HTTP,
/// storage in a temp dir; killed on drop.
struct ImageRegistry {
    child: std::process::Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl ImageRegistry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for _attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let host = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    \
                     rootdirectory: {}\nhttp:\n  addr: {host}\n",
                    dir.path().join("data").display()
                ),
            )
            .unwrap();
            let mut child = std::process::Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("docker-registry runs (scripts/test-deps installs it)");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                if std::net::TcpStream::connect(&host).is_ok() {
                    return Self {
                        child,
                        host,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not come up");
    }
}

impl Drop for ImageRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_server_from_the_index_is_pulled_at_install_and_answers() {
    // the publisher packs the echo server and pushes it to its image registry
    let images = ImageRegistry::start();
    let host = images.host.clone();
    let packed = gigmcp_oci::pack::run(&PackArgs {
        binary: Some(gigmcp_testkit::static_bin("gigmcp-test-servers", "echo")),
        dir: None,
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        env: Vec::new(),
        workdir: None,
        layout: None,
        tag: None,
        push: Some(format!("{host}/echo:v1").parse().unwrap()),
        insecure: true,
        chunk_size: None,
        arch: gigmcp_oci::platform::goarch(std::env::consts::ARCH).to_owned(),
        compression: LayerCompression::Gzip,
    })
    .await
    .unwrap();
    let digest = packed.digest.to_string();
    let publisher = Publisher::new();
    let manifest = format!(
        r#"schemaVersion: 1
name: echo
version: 1.0.0
source: {{repo: github.com/gigmcp/test-servers, tag: v1.0.0}}
image: {{ref: "{host}/echo", digest: "{digest}", entrypoint: /echo}}
tier: sealed
displayName: Echo
category: testing
entitlements: {{egress: []}}
tools:
  - {{name: echo, default: true}}
"#
    );
    publisher.add("echo", "1.0.0", &manifest, None);
    publisher.publish(1);

    let gw = TestGateway::start_with(|raw| raw.insecure_registries = vec![host.clone()]).await;
    let registry = publisher.registry(&gw.store);
    registry.refresh().await.unwrap();
    let plan = plan_install(&gw.store, &registry.catalogue().await.unwrap(), "echo")
        .await
        .unwrap();
    let server = install(&gw.store, &options(&gw, vec![host.clone()]), &plan, "admin")
        .await
        .unwrap();
    assert_eq!(
        server.source,
        ServerSource::Image {
            reference: format!("{host}/echo@{digest}")
        }
    );

    // the install pulled and verified the image: the call answers with the registry gone
    drop(images);
    let profile = gw.add_profile("dev", &["echo"]).await;
    let mut c = RawClient::new(gw.url("dev"), &profile.token);
    c.initialize().await;
    assert_eq!(tool_names(&c).await, ["echo_echo"]);
    let answer = c
        .call(
            next_id(),
            "tools/call",
            json!({"name": "echo_echo", "arguments": {"message": "from the index"}}),
        )
        .await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "echo: from the index",
        "{answer}"
    );
    gw.stop().await;
}
