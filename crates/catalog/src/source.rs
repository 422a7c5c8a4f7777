//! Where the index comes from (`GIG_REGISTRY_INDEX_URL`) and how its two files are read: the
//! index and its signature at `<url>.sig`.
//!
//! - `file://…`: read from disk, each file bounded before it is read.
//! - `https://…`: fetched with a client whose every resolved address passes the SSRF guard
//!   (the egress proxy's [`AddressGuard`]; `GIG_REGISTRY_ALLOW_RANGES` opens private ranges for
//!   a registry mirror on the local network), IP-literal hosts checked the same way, no
//!   redirects, a time limit, and the body cut off at [`MAX_INDEX_BYTES`] while it streams.
//!   Extra CAs come from `GIG_REGISTRY_CA_BUNDLE`.
//!
//! Nothing here trusts the bytes: the caller verifies them before parsing.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gigmcp_proxy::{AddressGuard, Cidr};
use gigmcp_registry::index::MAX_INDEX_BYTES;

use crate::error::CatalogError;

/// Largest signature file read (`registryctl sign` writes 128 hex characters and a newline).
pub const MAX_SIG_BYTES: usize = 1024;
/// How long one fetch (connect, headers and body) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// An index location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSource {
    /// `file:///abs/index.json`.
    File(PathBuf),
    /// `https://host[:port]/path/index.json`.
    Https(reqwest::Url),
}

impl IndexSource {
    /// Parses `GIG_REGISTRY_INDEX_URL`.
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        let bad = |reason: String| CatalogError::Config {
            setting: "GIG_REGISTRY_INDEX_URL",
            reason,
        };
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("file://") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(bad(format!(
                    "{raw}: a file URL needs an absolute path, e.g. file:///srv/registry/index.json"
                )));
            }
            return Ok(Self::File(path));
        }
        let url = reqwest::Url::parse(raw).map_err(|e| {
            bad(format!(
                "{raw:?} is not a URL ({e}); give https://… or file:///…"
            ))
        })?;
        if url.scheme() != "https" {
            return Err(bad(format!(
                "{raw}: only https:// and file:// are accepted (an index over plain HTTP could \
                 be withheld or replayed by anyone on the path)"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(format!(
                "{}: credentials in the URL are not accepted",
                url.host_str().unwrap_or("?")
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(format!(
                "{raw}: no query or fragment; the signature is looked up at the URL + `.sig`"
            )));
        }
        Ok(Self::Https(url))
    }

    /// The URL as written in the stored state and the audit log.
    pub fn display(&self) -> String {
        match self {
            Self::File(p) => format!("file://{}", p.display()),
            Self::Https(u) => u.to_string(),
        }
    }

    /// Where the signature is: the index location + `.sig`.
    pub fn signature_location(&self) -> String {
        format!("{}.sig", self.display())
    }
}

/// How HTTPS fetches are made.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Ranges the guard lets through (`GIG_REGISTRY_ALLOW_RANGES`).
    pub allow_ranges: Vec<Cidr>,
    /// Extra trusted CAs, PEM (`GIG_REGISTRY_CA_BUNDLE`).
    pub ca_bundle_pem: Option<Vec<u8>>,
}

/// The two files as fetched, unverified.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub index: Vec<u8>,
    pub signature: String,
}

/// Reads the index and its signature from `source`.
pub async fn fetch(source: &IndexSource, options: &FetchOptions) -> Result<Fetched, CatalogError> {
    match source {
        IndexSource::File(path) => {
            let index = read_file(path, MAX_INDEX_BYTES).map_err(|reason| CatalogError::Fetch {
                url: source.display(),
                reason,
            })?;
            let sig_path = PathBuf::from(format!("{}.sig", path.display()));
            let signature = read_file(&sig_path, MAX_SIG_BYTES).map_err(|reason| {
                CatalogError::MissingSignature {
                    url: source.signature_location(),
                    reason,
                }
            })?;
            Ok(Fetched {
                index,
                signature: String::from_utf8_lossy(&signature).into_owned(),
            })
        }
        IndexSource::Https(url) => {
            let client = client(options)?;
            let index = get(&client, url, MAX_INDEX_BYTES, options)
                .await
                .map_err(|reason| CatalogError::Fetch {
                    url: url.to_string(),
                    reason,
                })?;
            let sig_url = reqwest::Url::parse(&source.signature_location()).map_err(|e| {
                CatalogError::MissingSignature {
                    url: source.signature_location(),
                    reason: e.to_string(),
                }
            })?;
            let signature = get(&client, &sig_url, MAX_SIG_BYTES, options)
                .await
                .map_err(|reason| CatalogError::MissingSignature {
                    url: sig_url.to_string(),
                    reason,
                })?;
            Ok(Fetched {
                index,
                signature: String::from_utf8_lossy(&signature).into_owned(),
            })
        }
    }
}

/// Reads a regular file of at most `max` bytes.
pub fn read_file(path: &std::path::Path, max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > max as u64 {
        return Err(format!(
            "{}: {} bytes, more than the {max} accepted",
            path.display(),
            meta.len()
        ));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    file.take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if out.len() > max {
        return Err(format!(
            "{}: grew past the {max} bytes accepted",
            path.display()
        ));
    }
    Ok(out)
}

fn client(options: &FetchOptions) -> Result<reqwest::Client, CatalogError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gigmcp/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(FETCH_TIMEOUT)
        .dns_resolver(Arc::new(GuardedResolver {
            guard: AddressGuard::new(options.allow_ranges.clone()),
        }));
    if let Some(pem) = &options.ca_bundle_pem {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| CatalogError::Config {
                setting: "GIG_REGISTRY_CA_BUNDLE",
                reason: format!("not a PEM bundle of certificates ({e})"),
            })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| CatalogError::Config {
        setting: "GIG_REGISTRY_INDEX_URL",
        reason: format!("cannot set up the HTTPS client ({e})"),
    })
}

/// GET `url`, at most `max` body bytes, through the guard.
async fn get(
    client: &reqwest::Client,
    url: &reqwest::Url,
    max: usize,
    options: &FetchOptions,
) -> Result<Vec<u8>, String> {
    // The resolver is not asked for IP-literal hosts: check them here.
    if let Some(host) = url.host_str() {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            AddressGuard::new(options.allow_ranges.clone())
                .check(ip)
                .map_err(|class| blocked(ip, class))?;
        }
    }
    let mut resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = resp.status();
    if status.is_redirection() {
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Err(format!(
            "{status} to {to}: redirects are not followed; point GIG_REGISTRY_INDEX_URL at the final location"
        ));
    }
    if !status.is_success() {
        return Err(format!("the server answered {status}"));
    }
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("larger than the {max} bytes accepted"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max {
            return Err(format!("larger than the {max} bytes accepted"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn blocked(ip: IpAddr, class: gigmcp_proxy::BlockedClass) -> String {
    format!(
        "{ip} is {class}, which the SSRF guard refuses; for a registry mirror on a \
         private network, add its range to GIG_REGISTRY_ALLOW_RANGES"
    )
}

/// The error and its sources, one line.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// DNS through the system resolver, every answer checked by the guard: one forbidden address
/// fails the lookup (a name that resolves to both a public and a private address is refused).
struct GuardedResolver {
    guard: AddressGuard,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            for a in &addrs {
                guard
                    .check(a.ip())
                    .map_err(|class| format!("{host} resolves to {}", blocked(a.ip(), class)))?;
            }
            let out: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_and_absolute_files() {
        assert_eq!(
            IndexSource::parse("file:///srv/index.json").unwrap(),
            IndexSource::File("/srv/index.json".into())
        );
        assert!(matches!(
            IndexSource::parse("https://registry.example.org/index.json").unwrap(),
            IndexSource::Https(_)
        ));
        for bad in [
            "http://registry.example.org/index.json",
            "file://relative/index.json",
            "https://u:p@registry.example.org/index.json",
            "https://registry.example.org/index.json?x=1",
            "ftp://x/index.json",
            "index.json",
        ] {
            let err = IndexSource::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("GIG_REGISTRY_INDEX_URL"), "{bad}: {err}");
        }
        assert_eq!(
            IndexSource::parse("https://r.example.org/a/index.json")
                .unwrap()
                .signature_location(),
            "https://r.example.org/a/index.json.sig"
        );
    }

    #[tokio::test]
    async fn loopback_and_private_hosts_are_refused_unless_allowed() {
        let source = IndexSource::parse("https://127.0.0.1:1/index.json").unwrap();
        let err = fetch(&source, &FetchOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("SSRF guard"), "{err}");
        let source = IndexSource::parse("https://localhost:1/index.json").unwrap();
        let err = fetch(&source, &FetchOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("SSRF guard"), "{err}");
    }
}
