//! Wiring of the egress proxy to sandboxes: on each networked sandbox's host-side address a
//! CONNECT proxy, a transparent TLS listener and a DNS-over-TCP responder, the sandbox's identity (server, profile, owner, manifest allowlist,
//! sealed injections) registered under its address, secrets read from the vault at the moment
//! of each request, and audit events written to the store without blocking the data path.
//!
//! Credentials of `type: basic` are stored as `user:password` and injected as its base64
//! ([`basic_token`]), built at the moment of the request.
//!
//! The proxy's CA is new at every start, or, with `GIG_EGRESS_CA=vault`, kept sealed in the
//! vault as the gateway secret [`EGRESS_CA_SECRET`] (created on first start), so a restarted
//! gateway presents the same CA.

use gigmcp_proxy::{
    AuditEvent, AuditSink, BoxFuture, CertificateAuthority, Cidr, CredentialError,
    CredentialSource, EgressProxy, IdentityTable, ListenerHandle, ProxyConfig, ProxyDeps, Resolver,
    SandboxIdentity, SystemResolver,
};
use gigmcp_registry::{CredentialType, Manifest};
use gigmcp_store::{ServerId, Store, UserId};
use gigmcp_vault::{Keyring, SecretError};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// Port of the CONNECT proxy on every sandbox's host-side address.
pub const PROXY_PORT: u16 = 3128;
/// Port of the transparent TLS listener (host from SNI) on every sandbox's host-side address.
pub const TLS_PORT: u16 = 443;
/// Port of the DNS-over-TCP responder on every sandbox's host-side address.
pub const DNS_PORT: u16 = 53;
/// The TCP ports a networked sandbox may connect to (on its host-side address, the only one
/// it can route to).
pub const SANDBOX_PORTS: [u16; 3] = [PROXY_PORT, TLS_PORT, DNS_PORT];
/// Where the sandbox finds the egress CA certificate.
pub const CA_PATH: &str = "/etc/gigmcp/egress-ca.pem";
/// The sandbox's resolver configuration, naming the DNS responder.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Files every image rootfs must hold so a sandbox can mount its own copies over them.
pub const MOUNT_POINTS: [&str; 2] = [RESOLV_CONF, CA_PATH];

/// Name of the gateway secret holding the egress CA (`GIG_EGRESS_CA=vault`).
pub const EGRESS_CA_SECRET: &str = "egress-ca";
/// Common name of the egress CA certificate.
const CA_COMMON_NAME: &str = "Gig'MCP egress CA";

/// Where the egress proxy's CA comes from (`GIG_EGRESS_CA`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EgressCaMode {
    /// `ephemeral`: a new CA at every start (sandboxes are started again after a restart, so
    /// none holds a stale one).
    #[default]
    Ephemeral,
    /// `vault`: the CA (certificate and key) sealed in the vault as the gateway secret
    /// [`EGRESS_CA_SECRET`], created on first start and loaded on every later one.
    Vault,
}

impl EgressCaMode {
    /// The accepted spellings, for error messages.
    pub const ACCEPTED: &'static str = "ephemeral (a new CA at every start, the default) or \
        vault (kept sealed in the vault, created on first start)";
}

impl FromStr for EgressCaMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ephemeral" => Ok(Self::Ephemeral),
            "vault" => Ok(Self::Vault),
            _ => Err(()),
        }
    }
}

/// Operator settings for egress.
#[derive(Clone, Debug, Default)]
pub struct EgressSettings {
    /// Private ranges upstreams may resolve to despite the SSRF guard.
    pub allowed_ranges: Vec<Cidr>,
    /// Extra PEM roots trusted for upstream certificates.
    pub extra_roots_pem: Option<String>,
    /// Fixed name → address answers consulted before the system resolver.
    pub resolve: HashMap<String, IpAddr>,
    /// Where the CA comes from.
    pub ca: EgressCaMode,
}

/// Why egress could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("egress proxy: {0}")]
    Proxy(String),
    /// The CA stored in the vault exists but cannot be used; it is never replaced silently
    /// (sandboxes, and anyone who exported it, trust that CA).
    #[error(
        "GIG_EGRESS_CA=vault: the egress CA stored in the vault (gateway secret \"{EGRESS_CA_SECRET}\") cannot be used: {0}. \
         It is not replaced automatically: start with the master key that sealed it \
         (in GIG_MASTER_KEY or GIG_MASTER_KEY_PREVIOUS), or set GIG_EGRESS_CA=ephemeral"
    )]
    StoredCa(String),
    /// The vault could not be read or written.
    #[error("GIG_EGRESS_CA=vault: the egress CA: {0}")]
    Vault(String),
}

/// The CA as sealed in the vault: certificate and key PEM in one JSON document.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCa {
    cert_pem: String,
    key_pem: String,
}

impl Drop for StoredCa {
    fn drop(&mut self) {
        self.key_pem.zeroize();
    }
}

#[derive(serde::Serialize)]
struct StoredCaRef<'a> {
    cert_pem: &'a str,
    key_pem: &'a str,
}

fn new_ca() -> Result<CertificateAuthority, EgressError> {
    CertificateAuthority::generate(CA_COMMON_NAME).map_err(|e| EgressError::Proxy(e.to_string()))
}

/// Opens the stored CA, if any. Anything stored but unusable is an error, never `None`.
async fn stored_ca(
    store: &Store,
    keyring: &Keyring,
) -> Result<Option<CertificateAuthority>, EgressError> {
    let plaintext = match gigmcp_vault::get_gateway_secret(store, keyring, EGRESS_CA_SECRET).await {
        Ok(None) => return Ok(None),
        Ok(Some(p)) => p,
        Err(SecretError::Vault(e)) => return Err(EgressError::StoredCa(e.to_string())),
        Err(SecretError::Store(e)) => {
            return Err(EgressError::Vault(format!("cannot read it: {e}")));
        }
    };
    let stored: StoredCa = serde_json::from_slice(&plaintext)
        .map_err(|e| EgressError::StoredCa(format!("not a certificate and key document ({e})")))?;
    let ca = CertificateAuthority::from_pem(&stored.cert_pem, &stored.key_pem)
        .map_err(|e| EgressError::StoredCa(e.to_string()))?;
    Ok(Some(ca))
}

/// The CA kept in the vault: loaded, or created and stored on first start. When several
/// gateways share the database and start together, the first one stored wins and all use it.
async fn vault_ca(store: &Store, keyring: &Keyring) -> Result<CertificateAuthority, EgressError> {
    if let Some(ca) = stored_ca(store, keyring).await? {
        tracing::info!(secret = EGRESS_CA_SECRET, "egress CA loaded from the vault");
        return Ok(ca);
    }
    let ca = new_ca()?;
    let (cert_pem, key_pem) = (ca.cert_pem(), ca.key_pem().as_str());
    // Room for the JSON escapes of every newline, so the buffer holding the key never grows
    // (a reallocation would leave a copy behind).
    let mut document = Zeroizing::new(Vec::with_capacity(
        2 * (cert_pem.len() + key_pem.len()) + 64,
    ));
    serde_json::to_writer(&mut *document, &StoredCaRef { cert_pem, key_pem })
        .map_err(|e| EgressError::Vault(format!("cannot encode it: {e}")))?;
    let created = gigmcp_vault::create_gateway_secret(store, keyring, EGRESS_CA_SECRET, &document)
        .await
        .map_err(|e| EgressError::Vault(format!("cannot store it: {e}")))?;
    if created {
        tracing::info!(
            secret = EGRESS_CA_SECRET,
            "egress CA created and sealed in the vault"
        );
        return Ok(ca);
    }
    // Another gateway on this database stored one meanwhile: use that one.
    stored_ca(store, keyring)
        .await?
        .ok_or_else(|| EgressError::Vault("it was deleted while this gateway started".into()))
}

/// Answers from fixed overrides first, then from the system resolver.
struct OverrideResolver {
    fixed: HashMap<String, IpAddr>,
}

impl Resolver for OverrideResolver {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        match self.fixed.get(&host.to_ascii_lowercase()) {
            Some(ip) => {
                let ip = *ip;
                Box::pin(async move { Ok(vec![ip]) })
            }
            None => SystemResolver.lookup(host, port),
        }
    }
}

/// Secrets from the vault: the credential key is `<owner id>:<server id>`.
///
/// A credential the server's manifest declares `type: basic` is stored as `user:password`
/// (the user without `:`, as RFC 7617 requires); what it injects is `base64(user:password)`,
/// assembled here at the moment of the request ([`basic_token`]). Every other type is injected
/// as stored (an `api_key` whose format is `Basic {token}` is stored already encoded).
struct VaultCredentials {
    store: Store,
    keyring: Arc<Keyring>,
}

/// A stored `type: basic` credential that is not `user:password`.
#[derive(Debug, thiserror::Error)]
#[error(
    "credential {credential} of server {server} is `type: basic` but is not stored as user + password; \
     store it again with `gigmcp credential set {server} --name {credential} --user USER` (password on stdin)"
)]
pub struct BasicError {
    server: String,
    credential: String,
}

/// `base64(user:password)` of a stored basic credential (`user:password`).
pub fn basic_token(
    stored: &[u8],
    server: &str,
    credential: &str,
) -> Result<Zeroizing<String>, BasicError> {
    use base64::Engine as _;
    if !stored.contains(&b':') {
        return Err(BasicError {
            server: server.to_owned(),
            credential: credential.to_owned(),
        });
    }
    // Sized up front so the buffer holding the token never reallocates (leaving a copy behind).
    let mut token = Zeroizing::new(String::with_capacity(stored.len().div_ceil(3) * 4));
    base64::engine::general_purpose::STANDARD.encode_string(stored, &mut token);
    Ok(token)
}

/// The type the manifest of `server` gives credential `credential_id` (`None`: no manifest, or
/// it does not declare that credential).
async fn credential_type(
    store: &Store,
    server: ServerId,
    credential_id: &str,
) -> Result<Option<(String, CredentialType)>, CredentialError> {
    let row = store
        .server(server)
        .await
        .map_err(|e| CredentialError::Unavailable(e.to_string()))?;
    let Some(row) = row else { return Ok(None) };
    let Some(text) = row.manifest.as_deref() else {
        return Ok(None);
    };
    let manifest: Manifest = serde_json::from_str(text).map_err(|e| {
        CredentialError::Unavailable(format!("the manifest of {} is unreadable: {e}", row.name))
    })?;
    Ok(manifest
        .credentials
        .iter()
        .find(|c| c.id == credential_id)
        .map(|c| (row.name.clone(), c.kind)))
}

/// The key under which an install's secrets are found.
pub fn credential_key(owner: UserId, server: ServerId) -> String {
    format!("{}:{}", owner.0, server.0)
}

impl CredentialSource for VaultCredentials {
    fn secret<'a>(
        &'a self,
        identity: &'a SandboxIdentity,
        credential_id: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<String>, CredentialError>> {
        Box::pin(async move {
            let not_found = || CredentialError::NotFound {
                credential_key: identity.credential_key.clone(),
                credential_id: credential_id.to_string(),
            };
            let (owner, server) = identity
                .credential_key
                .split_once(':')
                .ok_or_else(not_found)?;
            let (Ok(owner), Ok(server)) = (owner.parse(), server.parse()) else {
                return Err(not_found());
            };
            let secret = gigmcp_vault::get_secret(
                &self.store,
                &self.keyring,
                UserId(owner),
                ServerId(server),
                credential_id,
            )
            .await
            .map_err(|e| CredentialError::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                // What the server's call reports: say how to fix it.
                CredentialError::Unavailable(format!(
                    "no credential {credential_id} stored for profile {profile}'s owner; store it \
                     with `gigmcp credential set {server} --profile {profile} --name {credential_id}`",
                    profile = identity.profile,
                    server = identity.server,
                ))
            })?;
            if let Some((name, CredentialType::Basic)) =
                credential_type(&self.store, ServerId(server), credential_id).await?
            {
                return basic_token(&secret, &name, credential_id)
                    .map_err(|e| CredentialError::Unavailable(e.to_string()));
            }
            let text = String::from_utf8(secret.to_vec())
                .map_err(|_| CredentialError::Unavailable("secret is not UTF-8".into()))?;
            Ok(Zeroizing::new(text))
        })
    }
}

/// The running egress proxy.
pub struct Egress {
    proxy: EgressProxy,
    table: Arc<IdentityTable>,
}

/// A sandbox's registration with the proxy; dropping it closes its listeners and forgets it.
pub struct EgressLease {
    _listeners: [ListenerHandle; 3],
    table: Arc<IdentityTable>,
    ip: IpAddr,
}

impl Drop for EgressLease {
    fn drop(&mut self) {
        self.table.remove(self.ip);
    }
}

impl Egress {
    /// Starts the proxy and an audit writer, with the CA `settings.ca` names.
    ///
    /// With [`EgressCaMode::Vault`] this reads the vault by blocking the calling worker thread
    /// (`block_in_place`), which needs tokio's multi-threaded runtime; on another runtime it
    /// fails with an error. [`Egress::open`] does the same without blocking.
    pub fn start(
        settings: EgressSettings,
        store: Store,
        keyring: Arc<Keyring>,
    ) -> Result<Self, EgressError> {
        let ca = match settings.ca {
            EgressCaMode::Ephemeral => new_ca()?,
            EgressCaMode::Vault => {
                let handle = tokio::runtime::Handle::try_current()
                    .map_err(|e| EgressError::Vault(format!("no async runtime ({e})")))?;
                if !matches!(
                    handle.runtime_flavor(),
                    tokio::runtime::RuntimeFlavor::MultiThread
                ) {
                    return Err(EgressError::Vault(
                        "Egress::start can only read the vault on tokio's multi-threaded \
                         runtime; use Egress::open"
                            .into(),
                    ));
                }
                tokio::task::block_in_place(|| handle.block_on(vault_ca(&store, &keyring)))?
            }
        };
        Self::with_ca(settings, store, keyring, ca)
    }

    /// [`Egress::start`], reading the vault asynchronously.
    pub async fn open(
        settings: EgressSettings,
        store: Store,
        keyring: Arc<Keyring>,
    ) -> Result<Self, EgressError> {
        let ca = match settings.ca {
            EgressCaMode::Ephemeral => new_ca()?,
            EgressCaMode::Vault => vault_ca(&store, &keyring).await?,
        };
        Self::with_ca(settings, store, keyring, ca)
    }

    fn with_ca(
        settings: EgressSettings,
        store: Store,
        keyring: Arc<Keyring>,
        ca: CertificateAuthority,
    ) -> Result<Self, EgressError> {
        let (audit, mut events) = AuditSink::channel(4096);
        let table = Arc::new(IdentityTable::new());
        let config = ProxyConfig {
            allowed_ranges: settings.allowed_ranges,
            extra_roots_pem: settings.extra_roots_pem,
            ..ProxyConfig::default()
        };
        let proxy = EgressProxy::new(
            config,
            ProxyDeps {
                ca: Arc::new(ca),
                identities: table.clone(),
                credentials: Arc::new(VaultCredentials {
                    store: store.clone(),
                    keyring,
                }),
                resolver: Arc::new(OverrideResolver {
                    fixed: settings.resolve,
                }),
                audit,
            },
        )
        .map_err(|e| EgressError::Proxy(e.to_string()))?;
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                record(&store, &event).await;
            }
        });
        Ok(Self { proxy, table })
    }

    /// The CA certificate sandboxes must trust.
    pub fn ca_pem(&self) -> &str {
        self.proxy.ca_pem()
    }

    /// Opens the proxy on `host` (a sandbox's host-side address) for the sandbox at `sandbox`:
    /// the CONNECT proxy, the transparent TLS listener and the DNS responder that hands out
    /// `host` for allowlisted names.
    pub async fn attach(
        &self,
        host: Ipv4Addr,
        sandbox: Ipv4Addr,
        identity: SandboxIdentity,
    ) -> Result<EgressLease, EgressError> {
        let proxy_error = |e: gigmcp_proxy::ProxyError| EgressError::Proxy(e.to_string());
        let connect = self
            .proxy
            .bind_connect(SocketAddr::from((host, PROXY_PORT)))
            .await
            .map_err(proxy_error)?;
        let tls = self
            .proxy
            .bind_transparent(SocketAddr::from((host, TLS_PORT)))
            .await
            .map_err(proxy_error)?;
        let dns = self
            .proxy
            .bind_dns_tcp(SocketAddr::from((host, DNS_PORT)), IpAddr::V4(host))
            .await
            .map_err(proxy_error)?;
        let ip = IpAddr::V4(sandbox);
        self.table.insert(ip, identity);
        Ok(EgressLease {
            _listeners: [connect, tls, dns],
            table: self.table.clone(),
            ip,
        })
    }
}

async fn record(store: &Store, e: &AuditEvent) {
    let (actor, target) = match &e.subject {
        Some(s) => (s.owner.clone(), format!("{}/{}", s.profile, s.server)),
        None => ("unknown-sandbox".to_string(), e.peer.to_string()),
    };
    let detail = serde_json::json!({
        "host": e.host, "method": e.method, "path": e.path,
        "decision": format!("{:?}", e.decision), "status": e.status,
        "bytes_up": e.bytes_up, "bytes_down": e.bytes_down,
        "duration_ms": e.duration.as_millis() as u64,
        "entrusted": e.subject.as_ref().is_some_and(|s| s.entrusted),
    });
    tracing::info!(target: "gigmcp::egress", %actor, %target, host = %e.host, method = %e.method,
        path = %e.path, decision = ?e.decision, status = ?e.status, "egress");
    let event = gigmcp_store::AuditEvent {
        actor,
        action: "egress.request".into(),
        target,
        detail: detail.to_string(),
    };
    if let Err(err) = store.append_audit(event).await {
        tracing::warn!(error = %err, "could not record an egress audit event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_encoded_at_injection() {
        // RFC 7617's example, and Freshdesk's "API key as the user, X as the password"
        assert_eq!(
            basic_token(b"Aladdin:open sesame", "s", "c")
                .unwrap()
                .as_str(),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(
            basic_token(b"key123:X", "s", "c").unwrap().as_str(),
            "a2V5MTIzOlg="
        );
        // an empty password is allowed (the user is the key); the password may hold `:`
        assert_eq!(basic_token(b"key:", "s", "c").unwrap().as_str(), "a2V5Og==");
        assert_eq!(
            basic_token(b"u:p:q", "s", "c").unwrap().as_str(),
            "dTpwOnE="
        );
        let e = basic_token(b"no-colon", "freshdesk", "freshdesk_api_key")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--user") && e.contains("freshdesk_api_key") && !e.contains("no-colon"),
            "{e}"
        );
    }
}
