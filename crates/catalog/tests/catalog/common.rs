//! Shared fixtures: the real registry corpus built into signed indexes (parsed once per test
//! binary), published as `index.json` + `index.json.sig` in a temp dir or over a local HTTPS
//! server, and small helpers to read back what the store holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use gigmcp_catalog::{InstallOptions, Registry, RegistryConfig, RegistrySettings};
use gigmcp_registry::sign::verifying_key_to_hex;
use gigmcp_registry::{Denylist, Index, Manifest, SigningKey, SourceFile, build_index, sign_index};
use gigmcp_store::{AuditRecord, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// `<repo>/../shared/corpus/gigmcp-registry`, or `$GIGMCP_CORPUS_DIR`.
pub fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIGMCP_CORPUS_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry")
}

/// The host the widening update of `hackernews` adds to its egress.
pub const ADDED_HOST: &str = "news.ycombinator.com";
/// The tool the non-widening update of `zendesk` removes.
pub const REMOVED_TOOL: &str = "create_organization";

/// The corpus, read and built once.
pub struct Corpus {
    /// Every file under `manifests/*/`, as read.
    pub files: Vec<SourceFile>,
    /// The corpus as published: every manifest at its version.
    pub base: Index,
    /// The corpus plus `hackernews@0.2.0` (one egress host added: widens) and
    /// `zendesk@0.2.0` (one tool removed: does not widen).
    pub updated: Index,
}

static CORPUS: OnceLock<Corpus> = OnceLock::new();

pub fn corpus() -> &'static Corpus {
    CORPUS.get_or_init(|| {
        let root = corpus_dir();
        let files = load(&root);
        let deny_text = std::fs::read_to_string(root.join("denylist/exfil-domains.txt"))
            .expect("read the corpus denylist");
        let deny = Denylist::parse_with_builtin(&deny_text).expect("parse the corpus denylist");
        let one = NonZeroU64::new(1).unwrap();
        let (base, _warnings) =
            build_index(&files, &deny, one).unwrap_or_else(|r| panic!("corpus index: {r:?}"));
        let mut with_updates = files.clone();
        with_updates.extend(update_files(&files));
        let (updated, _) = build_index(&with_updates, &deny, one)
            .unwrap_or_else(|r| panic!("updated corpus index: {r:?}"));
        Corpus {
            files,
            base,
            updated,
        }
    })
}

/// Every file under `<root>/manifests/*/`, sorted, paths relative to `root`.
fn load(root: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    for dir in sorted_entries(&root.join("manifests")) {
        for f in sorted_entries(&dir) {
            files.push(SourceFile {
                path: f.strip_prefix(root).unwrap().to_str().unwrap().to_owned(),
                bytes: std::fs::read(&f).unwrap(),
            });
        }
    }
    files
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set GIGMCP_CORPUS_DIR?)", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

fn text_of<'a>(files: &'a [SourceFile], path: &str) -> &'a str {
    let f = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is not in the corpus"));
    std::str::from_utf8(&f.bytes).unwrap()
}

/// A publisher's next release of two servers, as files of a registry checkout: each server's
/// 0.1.0 copied to 0.2.0 with its `version:` changed, and
/// - hackernews: [`ADDED_HOST`] added to its egress;
/// - zendesk: [`REMOVED_TOOL`] removed from its manifest and toolspec.
fn update_files(files: &[SourceFile]) -> Vec<SourceFile> {
    let bump = |text: &str| {
        assert!(text.contains("\nversion: 0.1.0\n"));
        text.replacen("\nversion: 0.1.0\n", "\nversion: 0.2.0\n", 1)
    };
    let hn = bump(text_of(files, "manifests/hackernews/0.1.0.yaml"));
    let hn = hn.replacen(
        "    - hn.algolia.com\n",
        &format!("    - hn.algolia.com\n    - {ADDED_HOST}\n"),
        1,
    );
    assert!(hn.contains(ADDED_HOST));
    let hn_spec = bump(text_of(files, "manifests/hackernews/0.1.0.toolspec.yaml"));

    let zd = bump(text_of(files, "manifests/zendesk/0.1.0.yaml"));
    let entry = format!("  - name: {REMOVED_TOOL}\n");
    let at = zd.find(&entry).expect("zendesk lists the tool");
    let rest = &zd[at + entry.len()..];
    let end = rest.find("  - name: ").unwrap_or(rest.len());
    let zd = format!("{}{}", &zd[..at], &rest[end..]);
    let zd_spec = bump(text_of(files, "manifests/zendesk/0.1.0.toolspec.yaml"));
    let at = zd_spec
        .find(&entry)
        .expect("zendesk's toolspec has the tool");
    let rest = &zd_spec[at + entry.len()..];
    let end = rest.find("\n  - name: ").map_or(rest.len(), |i| i + 1);
    let zd_spec = format!("{}{}", &zd_spec[..at], &rest[end..]);
    assert!(!zd.contains(REMOVED_TOOL) && !zd_spec.contains(REMOVED_TOOL));

    [
        ("manifests/hackernews/0.2.0.yaml", hn),
        ("manifests/hackernews/0.2.0.toolspec.yaml", hn_spec),
        ("manifests/zendesk/0.2.0.yaml", zd),
        ("manifests/zendesk/0.2.0.toolspec.yaml", zd_spec),
    ]
    .into_iter()
    .map(|(path, text)| SourceFile {
        path: path.into(),
        bytes: text.into_bytes(),
    })
    .collect()
}

/// The names of the servers in the corpus, from its directory listing: one directory per
/// server, holding at least one manifest (`<version>.yaml`).
pub fn corpus_names() -> BTreeSet<String> {
    sorted_entries(&corpus_dir().join("manifests"))
        .into_iter()
        .filter(|dir| {
            sorted_entries(dir).iter().any(|f| {
                let n = f.file_name().unwrap().to_str().unwrap();
                n.ends_with(".yaml") && !n.ends_with(".toolspec.yaml")
            })
        })
        .map(|dir| dir.file_name().unwrap().to_str().unwrap().to_owned())
        .collect()
}

/// Every corpus manifest, parsed, by file path.
pub fn corpus_manifests() -> BTreeMap<String, Manifest> {
    corpus()
        .files
        .iter()
        .filter(|f| !f.path.ends_with(".toolspec.yaml"))
        .map(|f| {
            (
                f.path.clone(),
                Manifest::from_yaml(&f.bytes).unwrap_or_else(|e| panic!("{}: {e}", f.path)),
            )
        })
        .collect()
}

/// The canonical bytes of `index` as published with `sequence` (what `registryctl
/// build-index --sequence N` writes: the sequence is the only input that differs).
pub fn with_sequence(index: &Index, sequence: u64) -> Vec<u8> {
    let mut index = index.clone();
    index.sequence = sequence;
    index.to_json()
}

/// The corpus index at `sequence`.
pub fn base_index(sequence: u64) -> Vec<u8> {
    with_sequence(&corpus().base, sequence)
}

/// The updated corpus index at `sequence`.
pub fn updated_index(sequence: u64) -> Vec<u8> {
    with_sequence(&corpus().updated, sequence)
}

/// The publisher's key (fixed seed: the tests need no randomness).
pub fn publisher_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// Someone else's key.
pub fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

/// `GIG_REGISTRY_PUBKEY` for [`publisher_key`].
pub fn pubkey_hex() -> String {
    verifying_key_to_hex(&publisher_key().verifying_key())
}

pub fn sign(bytes: &[u8]) -> String {
    sign_index(bytes, &publisher_key())
}

/// A published index: `index.json` and (when given) `index.json.sig` in a temp dir.
pub struct Published {
    pub dir: tempfile::TempDir,
}

impl Published {
    /// `index` signed by the publisher.
    pub fn signed(index: &[u8]) -> Self {
        Self::with(index, Some(&sign(index)))
    }

    /// `index` with `signature` (none: no `.sig` file).
    pub fn with(index: &[u8], signature: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = Self { dir };
        p.publish(index, signature);
        p
    }

    /// Replaces the published files.
    pub fn publish(&self, index: &[u8], signature: Option<&str>) {
        std::fs::write(self.index_path(), index).unwrap();
        let sig = self.dir.path().join("index.json.sig");
        match signature {
            // `registryctl sign` writes the hex and a newline.
            Some(s) => std::fs::write(sig, format!("{s}\n")).unwrap(),
            None => {
                let _ = std::fs::remove_file(sig);
            }
        }
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.path().join("index.json")
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.index_path().display())
    }
}

/// A registry reading `url` and trusting the publisher's key.
pub fn registry(store: &Store, url: &str) -> Arc<Registry> {
    registry_with(
        store,
        &RegistrySettings {
            index_url: Some(url),
            pubkeys: Some(&pubkey_hex()),
            ..Default::default()
        },
    )
}

pub fn registry_with(store: &Store, settings: &RegistrySettings<'_>) -> Arc<Registry> {
    let config = RegistryConfig::from_settings(settings)
        .expect("valid registry settings")
        .expect("the registry is configured");
    Registry::new(store.clone(), config)
}

/// How the tests install: no image registry is reached (toolpack servers need none).
pub fn install_options(data_dir: &Path) -> InstallOptions {
    InstallOptions {
        data_dir: data_dir.to_owned(),
        insecure_registries: Vec::new(),
        max_builtin_toolspec: 1024 * 1024,
    }
}

/// The audit events with `action`, oldest first.
pub async fn audit(store: &Store, action: &str) -> Vec<AuditRecord> {
    let mut events: Vec<AuditRecord> = store
        .list_audit(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect();
    events.reverse();
    events
}

/// The JSON detail of an audit event.
pub fn detail(event: &AuditRecord) -> serde_json::Value {
    serde_json::from_str(&event.detail)
        .unwrap_or_else(|e| panic!("audit detail {:?} is not JSON: {e}", event.detail))
}

/// A local HTTPS server for `localhost` with its own CA, serving whatever files it holds
/// (`GET /path` → 200 and the bytes, anything else → 404).
pub struct HttpsServer {
    pub port: u16,
    /// The CA's certificate (PEM), for `GIG_REGISTRY_CA_BUNDLE`.
    pub ca_bundle: tempfile::NamedTempFile,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpsServer {
    pub async fn start() -> Self {
        let ca = gigmcp_proxy::CertificateAuthority::generate("catalog test CA").unwrap();
        let ca_bundle = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_bundle.path(), ca.cert_pem()).unwrap();
        let (chain, key) = ca.mint_leaf("localhost").unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (served, logged) = (files.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let served = served.clone();
                let logged = logged.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    logged.lock().unwrap().push(path.clone());
                    let body = served.lock().unwrap().get(&path).cloned();
                    let (status, body) = match body {
                        Some(b) => ("200 OK", b),
                        None => ("404 Not Found", b"not found".to_vec()),
                    };
                    let mut resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    resp.extend_from_slice(&body);
                    let _ = tls.write_all(&resp).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            port,
            ca_bundle,
            files,
            requests,
        }
    }

    /// Serves `index` at `/index.json` and, when given, `signature` at `/index.json.sig`
    /// (else that path answers 404).
    pub fn publish(&self, index: &[u8], signature: Option<&str>) {
        let mut files = self.files.lock().unwrap();
        files.insert("/index.json".into(), index.to_vec());
        match signature {
            Some(s) => files.insert("/index.json.sig".into(), format!("{s}\n").into_bytes()),
            None => files.remove("/index.json.sig"),
        };
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}/index.json", self.port)
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// A registry reading this server, with `allow_ranges` and its CA trusted.
    pub fn registry(&self, store: &Store, allow_ranges: &[String]) -> Arc<Registry> {
        let url = self.url();
        let keys = pubkey_hex();
        registry_with(
            store,
            &RegistrySettings {
                index_url: Some(&url),
                pubkeys: Some(&keys),
                allow_ranges,
                ca_bundle: Some(self.ca_bundle.path()),
                ..Default::default()
            },
        )
    }
}

/// `GIG_REGISTRY_ALLOW_RANGES` opening loopback, where the test server listens.
pub fn loopback() -> Vec<String> {
    vec!["127.0.0.0/8".into()]
}
