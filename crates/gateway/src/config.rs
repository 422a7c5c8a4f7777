//! Typed gateway configuration, validated once at start.
//!
//! Every error names the setting (flag and environment variable) and says how to fix it.

use crate::egress::{EgressCaMode, EgressSettings};
use gigmcp_proxy::Cidr;
use gigmcp_sandbox::{Ipv4Pool, RuntimeConfig};
use gigmcp_store::StoreUrl;
use std::collections::HashMap;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{setting} = {value:?}: {problem}; {fix}")]
pub struct ConfigError {
    /// The flag and variable, e.g. `--listen / GIG_LISTEN`.
    pub setting: &'static str,
    pub value: String,
    pub problem: String,
    pub fix: String,
}

/// Settings as given (flags or `GIG_*` variables), before validation.
#[derive(Clone, Debug)]
pub struct RawConfig {
    pub listen: String,
    pub data_dir: String,
    pub database_url: Option<String>,
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: u64,
    pub call_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub bwrap: String,
    pub bootstrap: Option<String>,
    /// The toolpack engine (`gigmcp-toolpack`) built-in toolpack servers run; `None`: the
    /// `GIG_TOOLPACK` variable, else `gigmcp-toolpack` beside the gateway's own binary.
    pub toolpack: Option<String>,
    /// Give servers whose manifest grants egress a network (veth + egress proxy).
    pub sandbox_network: bool,
    /// Address pool for sandbox veth pairs (/30 each).
    pub sandbox_pool: String,
    /// Private ranges (CIDR) upstreams may resolve to despite the SSRF guard.
    pub egress_allow_ranges: Vec<String>,
    /// PEM file of extra roots trusted for upstream certificates.
    pub egress_ca_bundle: Option<String>,
    /// `host=ip` answers the egress proxy uses before the system resolver.
    pub egress_resolve: Vec<String>,
    /// Where the egress CA comes from: `ephemeral` (new at every start) or `vault`.
    pub egress_ca: String,
    /// Image registries (`host[:port]`) reached over plain HTTP; keep to loopback/test ones.
    pub insecure_registries: Vec<String>,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where the HTTP listener binds.
    pub listen: SocketAddr,
    /// Holds the SQLite file and copies of local server binaries.
    pub data_dir: PathBuf,
    pub store: StoreUrl,
    /// Origins allowed besides the gateway's own (exact `scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Longest a call to a server may take before the client gets an error.
    pub call_timeout: Duration,
    /// A server unused this long is stopped (it starts again on the next request).
    pub idle_timeout: Duration,
    pub sandbox: RuntimeConfig,
    /// The static toolpack engine bound read-only into the sandbox of every built-in toolpack
    /// server (checked when such a server starts, so a gateway without one still serves the rest).
    pub toolpack: PathBuf,
    /// Networking for servers with egress entitlements; `None`: no server gets a network.
    pub network: Option<NetworkSettings>,
    /// Image registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
}

/// Sandbox networking and egress settings.
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    pub pool: Ipv4Pool,
    /// Prefix of host-side link names (at most 8 characters).
    pub link_prefix: String,
    pub egress: EgressSettings,
}

impl GatewayConfig {
    /// Validates raw settings, one group at a time; the first bad setting stops it.
    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let listen = listen_address(&raw.listen)?;
        let (data_dir, store) = storage(&raw)?;
        let allowed_origins = origins(&raw.allowed_origins)?;
        let max_body_bytes = body_limit(raw.max_body_bytes)?;
        let call_timeout = seconds("--call-timeout / GIG_CALL_TIMEOUT", raw.call_timeout_secs)?;
        let idle_timeout = seconds("--idle-timeout / GIG_IDLE_TIMEOUT", raw.idle_timeout_secs)?;
        let mut sandbox = RuntimeConfig::new(
            raw.bootstrap
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(gigmcp_sandbox::default_bootstrap_path),
        );
        sandbox.bwrap = PathBuf::from(&raw.bwrap);
        let toolpack = toolpack_engine(raw.toolpack.as_deref())?;
        // Checked even without sandbox networking, so a typo never waits for it to be enabled.
        let egress_ca = egress_ca_mode(&raw.egress_ca)?;
        let network = if raw.sandbox_network {
            Some(network(&raw, egress_ca)?)
        } else {
            None
        };
        Ok(Self {
            listen,
            data_dir,
            store,
            allowed_origins,
            max_body_bytes,
            call_timeout,
            idle_timeout,
            sandbox,
            toolpack,
            network,
            insecure_registries: raw.insecure_registries,
        })
    }
}

/// Where the toolpack engine is: the setting, else `GIG_TOOLPACK`, else `gigmcp-toolpack` beside
/// the running binary (as the bootstrap is found).
fn toolpack_engine(setting: Option<&str>) -> Result<PathBuf, ConfigError> {
    let path = match setting {
        Some(p) => PathBuf::from(p),
        None => default_toolpack_path(),
    };
    if !path.is_absolute() {
        return Err(ConfigError {
            setting: "--toolpack / GIG_TOOLPACK",
            value: path.display().to_string(),
            problem: "not an absolute path".into(),
            fix: "give the absolute path of the static gigmcp-toolpack binary".into(),
        });
    }
    Ok(path)
}

/// `GIG_TOOLPACK`, else `gigmcp-toolpack` beside the running binary.
pub fn default_toolpack_path() -> PathBuf {
    if let Some(p) = std::env::var_os("GIG_TOOLPACK") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("gigmcp-toolpack")))
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/gigmcp-toolpack"))
}

fn listen_address(value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|e| ConfigError {
        setting: "--listen / GIG_LISTEN",
        value: value.to_owned(),
        problem: format!("not an address and port ({e})"),
        fix: "give HOST:PORT, for example 127.0.0.1:8080".into(),
    })
}

/// The data dir and the database in it (or the one `--database-url` names).
fn storage(raw: &RawConfig) -> Result<(PathBuf, StoreUrl), ConfigError> {
    if raw.data_dir.trim().is_empty() {
        return Err(ConfigError {
            setting: "--data-dir / GIG_DATA_DIR",
            value: raw.data_dir.clone(),
            problem: "empty".into(),
            fix: "give a directory path, for example ./gigmcp-data".into(),
        });
    }
    let data_dir = PathBuf::from(&raw.data_dir);
    let store = StoreUrl::from_setting(raw.database_url.as_deref(), &data_dir).map_err(|e| {
        ConfigError {
            setting: "--database-url / GIG_DATABASE_URL",
            value: raw.database_url.as_deref().map(redact).unwrap_or_default(),
            problem: e.to_string(),
            fix: "give postgres://USER:PASSWORD@HOST/DB, or leave it unset to use SQLite in the data dir".into(),
        }
    })?;
    Ok((data_dir, store))
}

/// Browser origins allowed besides the gateway's own, normalised (lowercase, no trailing `/`).
fn origins(given: &[String]) -> Result<Vec<String>, ConfigError> {
    for origin in given {
        if !(origin.starts_with("http://") || origin.starts_with("https://"))
            || origin.trim_end_matches('/').matches('/').count() != 2
        {
            return Err(ConfigError {
                setting: "--allowed-origin / GIG_ALLOWED_ORIGINS",
                value: origin.clone(),
                problem: "not an origin".into(),
                fix: "give scheme://host[:port] without a path, e.g. https://app.example.com"
                    .into(),
            });
        }
    }
    Ok(given
        .iter()
        .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
        .collect())
}

fn body_limit(bytes: u64) -> Result<usize, ConfigError> {
    const MAX_BODY_CAP: u64 = 256 * 1024 * 1024;
    if !(1024..=MAX_BODY_CAP).contains(&bytes) {
        return Err(ConfigError {
            setting: "--max-body-bytes / GIG_MAX_BODY_BYTES",
            value: bytes.to_string(),
            problem: "out of range".into(),
            fix: format!("give a size between 1024 and {MAX_BODY_CAP} bytes (default 4194304)"),
        });
    }
    Ok(bytes as usize)
}

fn seconds(setting: &'static str, v: u64) -> Result<Duration, ConfigError> {
    if v == 0 || v > 86_400 {
        return Err(ConfigError {
            setting,
            value: v.to_string(),
            problem: "out of range".into(),
            fix: "give a number of seconds between 1 and 86400".into(),
        });
    }
    Ok(Duration::from_secs(v))
}

fn egress_ca_mode(value: &str) -> Result<EgressCaMode, ConfigError> {
    value.parse().map_err(|()| ConfigError {
        setting: "--egress-ca / GIG_EGRESS_CA",
        value: value.to_owned(),
        problem: "not a CA mode".into(),
        fix: format!("give {}", EgressCaMode::ACCEPTED),
    })
}

/// Sandbox networking and the egress proxy's settings.
fn network(raw: &RawConfig, ca: EgressCaMode) -> Result<NetworkSettings, ConfigError> {
    let pool: Ipv4Pool = raw
        .sandbox_pool
        .parse()
        .map_err(|e: gigmcp_sandbox::SandboxError| ConfigError {
            setting: "--sandbox-pool / GIG_SANDBOX_POOL",
            value: raw.sandbox_pool.clone(),
            problem: e.to_string(),
            fix: "give an IPv4 network in CIDR form, e.g. 10.88.0.0/16".into(),
        })?;
    let mut allowed_ranges = Vec::new();
    for r in &raw.egress_allow_ranges {
        allowed_ranges.push(r.parse::<Cidr>().map_err(|e| ConfigError {
            setting: "--egress-allow-range / GIG_EGRESS_ALLOW_RANGES",
            value: r.clone(),
            problem: e.to_string(),
            fix: "give CIDR ranges such as 192.168.10.0/24".into(),
        })?);
    }
    let extra_roots_pem = match &raw.egress_ca_bundle {
        None => None,
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| ConfigError {
            setting: "--egress-ca-bundle / GIG_EGRESS_CA_BUNDLE",
            value: path.clone(),
            problem: format!("cannot read it ({e})"),
            fix: "give a readable PEM file of CA certificates".into(),
        })?),
    };
    Ok(NetworkSettings {
        pool,
        link_prefix: "gigv".into(),
        egress: EgressSettings {
            allowed_ranges,
            extra_roots_pem,
            resolve: resolve_overrides(&raw.egress_resolve)?,
            ca,
        },
    })
}

/// `host=ip` answers the egress proxy uses before DNS.
fn resolve_overrides(entries: &[String]) -> Result<HashMap<String, IpAddr>, ConfigError> {
    let mut resolve = HashMap::new();
    for entry in entries {
        let parsed = entry.split_once('=').and_then(|(h, ip)| {
            Some((
                h.trim().to_ascii_lowercase(),
                ip.trim().parse::<IpAddr>().ok()?,
            ))
        });
        let (host, ip) = parsed.ok_or_else(|| ConfigError {
            setting: "--egress-resolve / GIG_EGRESS_RESOLVE",
            value: entry.clone(),
            problem: "not host=ip".into(),
            fix: "give entries like api.internal.example=192.168.10.5".into(),
        })?;
        resolve.insert(host, ip);
    }
    Ok(resolve)
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

impl RawConfig {
    /// The embedded defaults.
    pub fn defaults() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: "./gigmcp-data".into(),
            database_url: None,
            allowed_origins: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            call_timeout_secs: 60,
            idle_timeout_secs: 600,
            bwrap: "bwrap".into(),
            bootstrap: None,
            toolpack: None,
            sandbox_network: true,
            sandbox_pool: "10.88.0.0/16".into(),
            egress_allow_ranges: Vec::new(),
            egress_ca_bundle: None,
            egress_resolve: Vec::new(),
            egress_ca: "ephemeral".into(),
            insecure_registries: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let c = GatewayConfig::from_raw(RawConfig::defaults()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.store.is_sqlite());
    }

    #[test]
    fn errors_name_the_setting_and_the_fix() {
        let mut raw = RawConfig::defaults();
        raw.listen = "localhost".into();
        let e = GatewayConfig::from_raw(raw).unwrap_err().to_string();
        assert!(
            e.contains("GIG_LISTEN") && e.contains("127.0.0.1:8080"),
            "{e}"
        );

        let mut raw = RawConfig::defaults();
        raw.allowed_origins = vec!["example.com".into()];
        let e = GatewayConfig::from_raw(raw).unwrap_err().to_string();
        assert!(e.contains("GIG_ALLOWED_ORIGINS"), "{e}");

        let mut raw = RawConfig::defaults();
        raw.call_timeout_secs = 0;
        assert!(
            GatewayConfig::from_raw(raw)
                .unwrap_err()
                .to_string()
                .contains("GIG_CALL_TIMEOUT")
        );
    }

    #[test]
    fn egress_ca_mode_is_typed_and_checked() {
        let c = GatewayConfig::from_raw(RawConfig::defaults()).unwrap();
        assert_eq!(c.network.unwrap().egress.ca, EgressCaMode::Ephemeral);

        let mut raw = RawConfig::defaults();
        raw.egress_ca = "vault".into();
        let c = GatewayConfig::from_raw(raw).unwrap();
        assert_eq!(c.network.unwrap().egress.ca, EgressCaMode::Vault);

        for bad in ["", "disk", "vaults"] {
            let mut raw = RawConfig::defaults();
            raw.egress_ca = bad.into();
            raw.sandbox_network = false; // checked even when no sandbox gets a network
            let e = GatewayConfig::from_raw(raw).unwrap_err().to_string();
            assert!(
                e.contains("GIG_EGRESS_CA") && e.contains("ephemeral") && e.contains("vault"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_toolpack_engine_is_an_absolute_path() {
        let mut raw = RawConfig::defaults();
        raw.toolpack = Some("/opt/gigmcp/gigmcp-toolpack".into());
        let c = GatewayConfig::from_raw(raw).unwrap();
        assert_eq!(c.toolpack, PathBuf::from("/opt/gigmcp/gigmcp-toolpack"));
        let mut raw = RawConfig::defaults();
        raw.toolpack = Some("gigmcp-toolpack".into());
        let e = GatewayConfig::from_raw(raw).unwrap_err().to_string();
        assert!(e.contains("GIG_TOOLPACK") && e.contains("absolute"), "{e}");
        // by default: beside the running binary
        let c = GatewayConfig::from_raw(RawConfig::defaults()).unwrap();
        assert!(c.toolpack.is_absolute(), "{}", c.toolpack.display());
    }

    #[test]
    fn passwords_never_reach_an_error() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://***@h/db");
    }
}
