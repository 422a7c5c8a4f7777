//! Harness for the toolpack engine's acceptance tests.
//!
//! - [`mock`]: a local HTTPS upstream (one test CA, a leaf per SNI) that records every request;
//! - [`rig`]: the real `gigmcp-proxy` in front of it, registering the engine as a sandbox;
//! - [`engine`]: the `gigmcp-toolpack` binary as a stdio child and an MCP client of both eras;
//! - [`expect`]: an independent request builder and the comparison with what was received.
//!
//! Specs come from the shared corpus (`<repo>/../shared/corpus/gigmcp-registry`, or
//! `$GIGMCP_CORPUS_DIR`) and from `tests/data/manifests/<name>/` (purpose-built pairs, laid
//! out like the registry so that the engine's lint sees registry paths).
#![allow(dead_code)]

pub mod engine;
pub mod expect;
pub mod mock;
pub mod rig;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gigmcp_proxy::CertificateAuthority;
use gigmcp_registry::{EgressPattern, InjectTarget, Manifest, Tier, Toolspec};

use engine::{Engine, EngineEnv, Era};
use expect::{Auth, Ctx, split_base};
use rig::{Credential, Rig};

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The shared registry corpus.
pub fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIGMCP_CORPUS_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry")
}

/// This crate's purpose-built manifests and toolspecs.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A manifest and its toolspec, parsed, with their paths.
#[derive(Debug, Clone)]
pub struct SpecFiles {
    pub manifest_path: PathBuf,
    pub spec_path: PathBuf,
    pub manifest: Manifest,
    pub spec: Toolspec,
}

impl SpecFiles {
    /// Loads `<dir>/<version>.yaml` and `<dir>/<version>.toolspec.yaml`.
    pub fn load(dir: &Path, version: &str) -> Self {
        let manifest_path = dir.join(format!("{version}.yaml"));
        let spec_path = dir.join(format!("{version}.toolspec.yaml"));
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let manifest = Manifest::from_yaml(&read(&manifest_path))
            .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
        let spec = Toolspec::from_yaml(&read(&spec_path))
            .unwrap_or_else(|e| panic!("{}: {e}", spec_path.display()));
        Self {
            manifest_path,
            spec_path,
            manifest,
            spec,
        }
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }
}

/// Every `<name>/<version>.toolspec.yaml` pair under `<root>/manifests`, sorted by name.
pub fn specs_under(root: &Path) -> Vec<SpecFiles> {
    let manifests = root.join("manifests");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .unwrap_or_else(|e| panic!("{}: {e} (set GIGMCP_CORPUS_DIR?)", manifests.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("manifest dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        files.sort();
        for f in files {
            if let Some(version) = f.strip_suffix(".toolspec.yaml") {
                out.push(SpecFiles::load(&dir, version));
            }
        }
    }
    out
}

/// The purpose-built pair `tests/data/manifests/<name>/0.1.0*`.
pub fn data_spec(name: &str) -> SpecFiles {
    SpecFiles::load(&data_dir().join("manifests").join(name), "0.1.0")
}

/// Every base host of a spec (spec-level first, then per-tool overrides), deduplicated.
pub fn base_hosts(spec: &Toolspec) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for url in spec.base_urls() {
        let (host, _) = split_base(url);
        if !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

/// Host overrides for the base hosts that only a wildcard egress entry covers: the first such
/// host becomes `acme.<suffix>`, the next ones `acme-2.<suffix>`, ... (the most specific
/// wildcard's suffix), so that each override is told apart upstream.
pub fn host_overrides(files: &SpecFiles) -> Vec<(String, String)> {
    let patterns = files.manifest.egress_patterns().expect("egress patterns");
    let mut out = Vec::new();
    for host in base_hosts(&files.spec) {
        if patterns
            .iter()
            .any(|p| matches!(p, EgressPattern::Exact(h) if *h == host))
        {
            continue;
        }
        let suffix = patterns
            .iter()
            .filter(|p| p.is_wildcard() && p.allows(&host))
            .map(EgressPattern::base)
            .max_by_key(|s| s.len())
            .unwrap_or_else(|| panic!("{}: {host} is not allowed by its egress", files.name()));
        let label = match out.len() {
            0 => "acme".to_owned(),
            n => format!("acme-{}", n + 1),
        };
        out.push((host, format!("{label}.{suffix}")));
    }
    out
}

/// The hosts a spec's requests go to, overrides applied.
pub fn effective_hosts(files: &SpecFiles, overrides: &[(String, String)]) -> Vec<String> {
    base_hosts(&files.spec)
        .into_iter()
        .map(|h| {
            overrides
                .iter()
                .find(|(from, _)| *from == h)
                .map_or(h, |(_, to)| to.clone())
        })
        .collect()
}

/// `install.<var>` values for every `from:` param of a spec.
pub fn install_values(spec: &Toolspec) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for t in &spec.tools {
        for p in &t.params {
            if let Some(var) = p.install_var() {
                out.insert(var.to_owned(), format!("install-{var}-v1"));
            }
        }
    }
    out
}

/// Where the upstream must find the credential: the manifest format filled with the real
/// secret (sealed: the proxy swapped the placeholder), or the toolspec's `auth` (entrusted).
pub fn expected_auth(files: &SpecFiles, cred: Option<&Credential>) -> Auth {
    let Some(cred) = cred else {
        return Auth::None;
    };
    match files.manifest.tier {
        Tier::Sealed => match files.manifest.credentials[0].inject.target() {
            Some(InjectTarget::Header { name, format }) => Auth::Header {
                name: name.to_owned(),
                value: format.replace("{token}", &cred.secret),
            },
            _ => Auth::None,
        },
        Tier::Entrusted => {
            let auth = files.spec.auth.as_ref().expect("entrusted specs have auth");
            let value = auth.format.replace("{token}", &cred.secret);
            match &auth.query {
                Some(q) => Auth::Query {
                    name: q.clone(),
                    value,
                },
                None => Auth::Header {
                    name: auth.header.clone(),
                    value,
                },
            }
        }
    }
}

/// Everything needed to run one spec's engine against a rig.
#[derive(Debug, Clone)]
pub struct Setup {
    pub files: SpecFiles,
    pub overrides: Vec<(String, String)>,
    pub hosts: Vec<String>,
    pub cred: Option<Credential>,
    pub ctx: Ctx,
}

impl Setup {
    /// The sweep's setup of a spec: wildcard-only hosts overridden, install values set, a
    /// credential per tier.
    pub fn new(files: SpecFiles) -> Self {
        let overrides = host_overrides(&files);
        Self::with_overrides(files, overrides)
    }

    pub fn with_overrides(files: SpecFiles, overrides: Vec<(String, String)>) -> Self {
        let hosts = effective_hosts(&files, &overrides);
        let cred = rig::credential_for(&files.manifest);
        let ctx = Ctx {
            hosts: overrides.iter().cloned().collect(),
            install: install_values(&files.spec),
            auth: expected_auth(&files, cred.as_ref()),
        };
        Self {
            files,
            overrides,
            hosts,
            cred,
            ctx,
        }
    }

    /// Registers the spec's sandbox with the rig's proxy.
    pub fn register(&self, rig: &Rig) {
        rig.register(&self.files.manifest, &self.hosts, self.cred.as_ref());
    }

    /// The engine's environment.
    pub fn env(&self, rig: &Rig) -> EngineEnv {
        let mut env = EngineEnv::new(
            &self.files.manifest_path,
            &self.files.spec_path,
            &rig.proxy_url(),
            &rig.ca_file,
        );
        if let Some(c) = &self.cred {
            env.set(&c.env_name, &c.env_value);
        }
        if !self.overrides.is_empty() {
            let list: Vec<String> = self
                .overrides
                .iter()
                .map(|(f, t)| format!("{f}={t}"))
                .collect();
            env.set("GIG_TOOLPACK_HOSTS", &list.join(","));
        }
        for (var, value) in &self.ctx.install {
            env.set(
                &format!("GIG_TOOLPACK_VAR_{}", var.to_ascii_uppercase()),
                value,
            );
        }
        env
    }

    /// `User-Agent` the engine must send.
    pub fn user_agent(&self) -> String {
        format!(
            "gigmcp-toolpack/{} ({})",
            env!("CARGO_PKG_VERSION"),
            self.files.name()
        )
    }
}

/// A proxy in front of a fresh mock upstream with a CA of its own.
pub async fn new_rig() -> Rig {
    let ca = CertificateAuthority::generate("toolpack test upstream CA").expect("CA");
    Rig::start(Arc::new(ca)).await
}

/// Registers the purpose-built spec `name` with `rig` and starts its engine (handshake era);
/// `tweak` edits the environment first.
pub async fn start_data_engine(
    rig: &Rig,
    name: &str,
    tweak: impl FnOnce(&mut EngineEnv),
) -> (Engine, Setup) {
    let setup = Setup::new(data_spec(name));
    setup.register(rig);
    let mut env = setup.env(rig);
    tweak(&mut env);
    let (engine, _) = Engine::start(&env, Era::Handshake)
        .await
        .unwrap_or_else(|e| panic!("starting the engine for {name}: {e}"));
    (engine, setup)
}
