//! The real egress proxy in front of a [`Mock`]: every name resolves to the mock's loopback
//! address, loopback is an allowed range, the mock's CA is trusted for upstreams, and the
//! engine (connecting from 127.0.0.1) is registered with the manifest's egress policy and its
//! sealed injection, exactly as the gateway registers a sandbox.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gigmcp_proxy::{
    AuditEvent, AuditReceiver, AuditSink, BoxFuture, CertificateAuthority, EgressProxy,
    IdentityTable, Injection, ListenerHandle, ProxyConfig, ProxyDeps, Resolver, SandboxIdentity,
    StaticCredentials,
};
use gigmcp_registry::{InjectTarget, Manifest, Tier};

use super::mock::Mock;

/// Where engines connect from (an engine child process has no other source address).
pub const ENGINE_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Every name resolves to the mock.
struct ToMock(Ipv4Addr);

impl Resolver for ToMock {
    fn lookup<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        let ip = IpAddr::V4(self.0);
        Box::pin(async move { Ok(vec![ip]) })
    }
}

/// How the engine of one spec authenticates, and what the upstream must receive.
#[derive(Debug, Clone)]
pub struct Credential {
    /// `GIG_CREDENTIAL_<ID>` (sealed) or the manifest's `inject.env` (entrusted).
    pub env_name: String,
    /// What that variable holds: the placeholder (sealed) or the real secret (entrusted).
    pub env_value: String,
    /// The placeholder given to a sealed engine (never to be seen upstream).
    pub placeholder: Option<String>,
    /// The owner's real secret.
    pub secret: String,
}

/// `GIG_CREDENTIAL_<ID>`: the id uppercased, every non-alphanumeric byte as `_`.
pub fn credential_env(id: &str) -> String {
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("GIG_CREDENTIAL_{id}")
}

/// The known real secret and placeholder of a spec's credential, if it has one.
pub fn credential_for(manifest: &Manifest) -> Option<Credential> {
    let cred = manifest.credentials.first()?;
    let secret = format!("REAL-{}-s3cr3t-7f3a9c", manifest.name);
    match (manifest.tier, cred.inject.target()?) {
        (Tier::Sealed, InjectTarget::Header { .. }) => {
            let placeholder = format!("GIGMCP-PLACEHOLDER-{}-51f0", manifest.name);
            Some(Credential {
                env_name: credential_env(&cred.id),
                env_value: placeholder.clone(),
                placeholder: Some(placeholder),
                secret,
            })
        }
        (Tier::Entrusted, InjectTarget::Env { name }) => Some(Credential {
            env_name: name.to_owned(),
            env_value: secret.clone(),
            placeholder: None,
            secret,
        }),
        _ => None,
    }
}

/// The proxy, its registration table and credential store, listening on loopback.
pub struct Rig {
    pub mock: Mock,
    pub proxy: EgressProxy,
    pub table: Arc<IdentityTable>,
    pub creds: Arc<StaticCredentials>,
    audit: tokio::sync::Mutex<AuditReceiver>,
    connect: ListenerHandle,
    _dir: tempfile::TempDir,
    /// The proxy's CA, for the engine's `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
}

impl Rig {
    /// A proxy in front of a new mock whose leaves `upstream_ca` signs.
    pub async fn start(upstream_ca: Arc<CertificateAuthority>) -> Self {
        let mock = Mock::start(upstream_ca.clone()).await;
        let table = Arc::new(IdentityTable::new());
        let creds = Arc::new(StaticCredentials::new());
        let (sink, audit) = AuditSink::channel(100_000);
        let config = ProxyConfig {
            extra_roots_pem: Some(upstream_ca.cert_pem().to_owned()),
            use_webpki_roots: false,
            allowed_ranges: vec!["127.0.0.0/8".parse().expect("CIDR")],
            ..ProxyConfig::default()
        };
        let ca = Arc::new(CertificateAuthority::generate("toolpack test egress CA").expect("CA"));
        let proxy = EgressProxy::new(
            config,
            ProxyDeps {
                ca,
                identities: table.clone(),
                credentials: creds.clone(),
                resolver: Arc::new(ToMock(mock.ip)),
                audit: sink,
            },
        )
        .expect("egress proxy");
        let connect = proxy
            .bind_connect((ENGINE_IP, 0).into())
            .await
            .expect("bind the proxy");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("egress-ca.pem");
        std::fs::write(&ca_file, proxy.ca_pem()).expect("write the CA bundle");
        Self {
            mock,
            proxy,
            table,
            creds,
            audit: tokio::sync::Mutex::new(audit),
            connect,
            _dir: dir,
            ca_file,
        }
    }

    /// `HTTPS_PROXY` for engines.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.connect.local_addr())
    }

    /// Registers the engine's source address as a sandbox of `manifest` (replacing any previous
    /// registration): its egress policy and, for a sealed credential, the injection scoped to
    /// `hosts` with `cred`'s real secret in the credential store.
    pub fn register(&self, manifest: &Manifest, hosts: &[String], cred: Option<&Credential>) {
        let key = format!("owner/{}", manifest.name);
        let mut injections = Vec::new();
        if let (Some(c), Some(mc)) = (cred, manifest.credentials.first())
            && let (Some(placeholder), Some(InjectTarget::Header { name, format })) =
                (&c.placeholder, mc.inject.target())
        {
            injections.push(
                Injection::new(mc.id.as_str(), name, placeholder.as_str(), format, hosts)
                    .unwrap_or_else(|e| panic!("{}: injection: {e}", manifest.name)),
            );
            self.creds.insert(&key, &mc.id, &c.secret);
        }
        let identity = SandboxIdentity {
            server: manifest.name.clone(),
            profile: "default".into(),
            owner: "owner".into(),
            egress: manifest
                .egress_policy()
                .unwrap_or_else(|e| panic!("{}: egress: {e}", manifest.name)),
            injections,
            credential_key: key,
            entrusted: manifest.tier == Tier::Entrusted,
        };
        self.table.insert(ENGINE_IP, identity);
    }

    /// Audit events emitted so far (collects until none arrives for `quiet`).
    pub async fn drain_audit(&self, quiet: Duration) -> Vec<AuditEvent> {
        let mut rx = self.audit.lock().await;
        let mut out = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout(quiet, rx.recv()).await {
            out.push(e);
        }
        out
    }
}
