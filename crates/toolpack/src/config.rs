//! The runtime contract's environment (see the crate docs): what the engine reads at start.
//!
//! Contract: [`Settings::from_vars`] reads only the variables listed in the crate docs, checks
//! each, and fails with a message naming the variable and what to write instead. Documents are
//! read with [`read_document`], bounded by the registry's document limit.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gigmcp_registry::egress::normalize_host;
use gigmcp_registry::limits::MAX_DOCUMENT_BYTES;

use crate::http::parse_proxy;

pub const ENV_MANIFEST: &str = "GIG_TOOLPACK_MANIFEST";
pub const ENV_SPEC: &str = "GIG_TOOLPACK_SPEC";
pub const ENV_HOSTS: &str = "GIG_TOOLPACK_HOSTS";
pub const ENV_VAR_PREFIX: &str = "GIG_TOOLPACK_VAR_";
pub const ENV_TIMEOUT: &str = "GIG_TOOLPACK_TIMEOUT";
pub const ENV_MAX_TEXT: &str = "GIG_TOOLPACK_MAX_TEXT";

pub const DEFAULT_MANIFEST: &str = "/app/manifest.yaml";
pub const DEFAULT_SPEC: &str = "/app/toolspec.yaml";
/// Whole-call bound, seconds (the gateway's call timeout is 60 s).
pub const DEFAULT_TIMEOUT_SECS: u64 = 55;
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// Text kept from a response, bytes.
pub const DEFAULT_MAX_TEXT: usize = 102_400;
pub const MIN_MAX_TEXT: usize = 1024;
/// Most bytes read from a response body (and the largest binary returned).
pub const BODY_CAP: usize = 5 * 1024 * 1024;
/// Tunnel + TLS set-up bound.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Calls running at once; more wait.
pub const MAX_CONCURRENT_CALLS: usize = 16;

/// What the environment configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub manifest_path: PathBuf,
    pub spec_path: PathBuf,
    /// `(from, to)`, normalised host names.
    pub host_overrides: Vec<(String, String)>,
    /// Install settings by the toolspec's variable name (`install.<var>`, lower case).
    pub install_vars: HashMap<String, String>,
    pub timeout: Duration,
    pub max_text: usize,
    /// The proxy's `host:port`, from `HTTPS_PROXY` (or `https_proxy`).
    pub proxy: Option<String>,
    /// `SSL_CERT_FILE`.
    pub ca_file: Option<PathBuf>,
}

/// A setting that is not usable; the message names it and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn parse_hosts(value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |why: &str| {
            ConfigError(format!(
                "{ENV_HOSTS}: `{entry}` {why}; write `from=to` host names, comma-separated (e.g. `yoursubdomain.zendesk.com=acme.zendesk.com`)"
            ))
        };
        let (from, to) = entry.split_once('=').ok_or_else(|| bad("has no `=`"))?;
        let from = normalize_host(from.trim()).map_err(|e| bad(&e.to_string()))?;
        let to = normalize_host(to.trim()).map_err(|e| bad(&e.to_string()))?;
        if out.iter().any(|(f, _): &(String, String)| *f == from) {
            return Err(bad("repeats a host already overridden"));
        }
        out.push((from, to));
    }
    Ok(out)
}

fn parse_number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ConfigError(format!(
                "{name}=`{value}`: write a whole number from {min} to {max}"
            ))
        })
}

impl Settings {
    /// Reads the settings from the environment variables `vars`.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let timeout = match get(ENV_TIMEOUT) {
            Some(v) => parse_number(ENV_TIMEOUT, v, 1, MAX_TIMEOUT_SECS)?,
            None => DEFAULT_TIMEOUT_SECS,
        };
        let max_text = match get(ENV_MAX_TEXT) {
            Some(v) => parse_number(ENV_MAX_TEXT, v, MIN_MAX_TEXT as u64, BODY_CAP as u64)?,
            None => DEFAULT_MAX_TEXT as u64,
        };
        let proxy = get("HTTPS_PROXY")
            .or_else(|| get("https_proxy"))
            .map(|v| parse_proxy(v).map_err(ConfigError))
            .transpose()?;
        let install_vars = vars
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix(ENV_VAR_PREFIX)?;
                (!name.is_empty()).then(|| (name.to_ascii_lowercase(), v.clone()))
            })
            .collect();
        Ok(Self {
            manifest_path: get(ENV_MANIFEST).unwrap_or(DEFAULT_MANIFEST).into(),
            spec_path: get(ENV_SPEC).unwrap_or(DEFAULT_SPEC).into(),
            host_overrides: get(ENV_HOSTS)
                .map(parse_hosts)
                .transpose()?
                .unwrap_or_default(),
            install_vars,
            timeout: Duration::from_secs(timeout),
            max_text: usize::try_from(max_text).unwrap_or(DEFAULT_MAX_TEXT),
            proxy,
            ca_file: get("SSL_CERT_FILE").map(PathBuf::from),
        })
    }

    /// Reads the settings from this process's environment (variables that are not UTF-8 are
    /// ignored, unless they are ours).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = Vec::new();
        for (k, v) in std::env::vars_os() {
            let Some(k) = k.to_str() else { continue };
            match v.into_string() {
                Ok(v) => vars.push((k.to_owned(), v)),
                Err(_)
                    if k.starts_with("GIG_TOOLPACK_")
                        || k == "SSL_CERT_FILE"
                        || k.ends_with("_proxy")
                        || k.ends_with("_PROXY") =>
                {
                    return Err(ConfigError(format!("{k} is not UTF-8 text")));
                }
                Err(_) => {}
            }
        }
        Self::from_vars(vars)
    }
}

/// Reads a file of at most `max` bytes.
pub fn read_bounded(path: &Path, max: usize, what: &str) -> Result<Vec<u8>, ConfigError> {
    let fail = |why: String| ConfigError(format!("{what} {}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() > max {
        return Err(fail(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

/// Reads a manifest or toolspec (bounded by the registry's document limit).
pub fn read_document(path: &Path, what: &str) -> Result<Vec<u8>, ConfigError> {
    read_bounded(path, MAX_DOCUMENT_BYTES, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.manifest_path, PathBuf::from(DEFAULT_MANIFEST));
        assert_eq!(s.spec_path, PathBuf::from(DEFAULT_SPEC));
        assert_eq!(s.timeout, Duration::from_secs(55));
        assert_eq!(s.max_text, 102_400);
        assert!(s.proxy.is_none() && s.ca_file.is_none() && s.host_overrides.is_empty());
    }

    #[test]
    fn every_setting_is_read_and_checked() {
        let s = settings(&[
            (
                ENV_HOSTS,
                " yoursubdomain.zendesk.com=Acme.Zendesk.com. , a.example.com=b.example.com",
            ),
            ("GIG_TOOLPACK_VAR_ACCOUNT_ID", "42"),
            (ENV_TIMEOUT, "20"),
            (ENV_MAX_TEXT, "2048"),
            ("https_proxy", "http://10.0.0.1:3128"),
            ("SSL_CERT_FILE", "/etc/ca.pem"),
        ])
        .unwrap();
        assert_eq!(
            s.host_overrides,
            [
                (
                    "yoursubdomain.zendesk.com".into(),
                    "acme.zendesk.com".into()
                ),
                ("a.example.com".into(), "b.example.com".into())
            ]
        );
        assert_eq!(s.install_vars["account_id"], "42");
        assert_eq!(s.timeout, Duration::from_secs(20));
        assert_eq!(s.max_text, 2048);
        assert_eq!(s.proxy.as_deref(), Some("10.0.0.1:3128"));
        for bad in [
            (ENV_HOSTS, "a.example.com"),
            (ENV_HOSTS, "a.example.com=10.0.0.1"),
            (
                ENV_HOSTS,
                "a.example.com=b.example.com,a.example.com=c.example.com",
            ),
            (ENV_TIMEOUT, "0"),
            (ENV_TIMEOUT, "soon"),
            (ENV_MAX_TEXT, "10"),
            ("HTTPS_PROXY", "socks5://p:1"),
        ] {
            let e = settings(&[bad]).unwrap_err();
            assert!(e.0.contains(bad.0), "{e}");
        }
    }
}
