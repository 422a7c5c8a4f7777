//! The interception CA and the per-host leaf cache.
//!
//! A runtime ECDSA P-256 CA signs one leaf per host. Leaves are minted only for hosts that
//! already passed the allowlist (callers check first) and are cached as ready rustls server
//! configurations, so the second tunnel to a host costs a hash lookup.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, date_time_ymd,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

/// Leaf and CA generation or loading failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the CA key does not match an ECDSA P-256 key: {0}")]
    Key(String),
    #[error("building the TLS configuration for {host} failed: {source}")]
    Tls {
        host: String,
        #[source]
        source: rustls::Error,
    },
}

/// A signing CA held in memory.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

fn current_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Mean Gregorian year: 365.2425 days.
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}

impl CertificateAuthority {
    /// Generates a fresh CA named `common_name`, valid from last year to ten years ahead.
    pub fn generate(common_name: &str) -> Result<Self, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "Gig'MCP");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let year = current_year();
        params.not_before = date_time_ymd(year - 1, 1, 1);
        params.not_after = date_time_ymd(year + 10, 1, 1);
        let cert = params.self_signed(&key)?;
        let key_pem = Zeroizing::new(key.serialize_pem());
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            key_pem,
        })
    }

    /// Reloads a persisted CA (e.g. from the vault).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CaError> {
        let key = KeyPair::from_pem(key_pem)?;
        if !key.is_compatible(&PKCS_ECDSA_P256_SHA256) {
            return Err(CaError::Key("expected an ECDSA P-256 key".into()));
        }
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| CaError::Key(format!("CA certificate PEM: {e}")))?;
        let issuer = Issuer::from_ca_cert_der(&der, key)?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_owned(),
            cert_der: der,
            key_pem: Zeroizing::new(key_pem.to_owned()),
        })
    }

    /// The CA certificate, to install in sandboxes (`SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`, ...).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, for persisting in the vault.
    pub fn key_pem(&self) -> &Zeroizing<String> {
        &self.key_pem
    }

    /// Mints a leaf for `host`: certificate chain (leaf, CA) and its PKCS#8 key.
    pub fn mint_leaf(
        &self,
        host: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![host.to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let year = current_year();
        params.not_before = date_time_ymd(year - 1, 1, 1);
        params.not_after = date_time_ymd(year + 1, 12, 31);
        let cert = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone(), self.cert_der.clone()], key_der))
    }
}

/// Cached TLS server configurations, one per intercepted host.
pub struct LeafCache {
    ca: Arc<CertificateAuthority>,
    provider: Arc<CryptoProvider>,
    max: usize,
    map: RwLock<HashMap<String, Arc<ServerConfig>>>,
    minted: AtomicU64,
    hits: AtomicU64,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCache")
            .field("minted", &self.minted())
            .finish_non_exhaustive()
    }
}

impl LeafCache {
    /// A cache holding at most `max` hosts (emptied when full).
    pub fn new(ca: Arc<CertificateAuthority>, provider: Arc<CryptoProvider>, max: usize) -> Self {
        Self {
            ca,
            provider,
            max: max.max(1),
            map: RwLock::default(),
            minted: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// The server configuration for `host`, minting its leaf on first use. The caller must have
    /// checked the allowlist: this never refuses a valid name.
    pub fn get_or_mint(&self, host: &str) -> Result<Arc<ServerConfig>, CaError> {
        if let Some(cfg) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(host) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(cfg));
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(cfg) = map.get(host) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(cfg));
        }
        let (chain, key) = self.ca.mint_leaf(host)?;
        let tls = |source| CaError::Tls {
            host: host.to_owned(),
            source,
        };
        let mut cfg = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(tls)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let cfg = Arc::new(cfg);
        self.minted.fetch_add(1, Ordering::Relaxed);
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(host.to_owned(), Arc::clone(&cfg));
        Ok(cfg)
    }

    /// Leaves minted since start (a host minted once counts once while cached).
    pub fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// Lookups served from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Whether a leaf for `host` is cached.
    pub fn contains(&self, host: &str) -> bool {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    #[test]
    fn mints_once_per_host() {
        let ca = Arc::new(CertificateAuthority::generate("test CA").unwrap());
        let cache = LeafCache::new(ca, provider(), 100);
        let a = cache.get_or_mint("a.example.com").unwrap();
        let b = cache.get_or_mint("a.example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        cache.get_or_mint("b.example.com").unwrap();
        assert_eq!(cache.minted(), 2);
        assert_eq!(cache.hits(), 1);
        assert!(cache.contains("b.example.com"));
        assert!(!cache.contains("c.example.com"));
    }

    #[test]
    fn pem_round_trip_keeps_signing() {
        let ca = CertificateAuthority::generate("test CA").unwrap();
        let again = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(again.cert_pem(), ca.cert_pem());
        let (chain, _) = again.mint_leaf("x.example.com").unwrap();
        assert_eq!(chain.len(), 2);
        assert!(CertificateAuthority::from_pem(ca.cert_pem(), "junk").is_err());
    }

    #[test]
    fn cache_is_bounded() {
        let ca = Arc::new(CertificateAuthority::generate("test CA").unwrap());
        let cache = LeafCache::new(ca, provider(), 2);
        for h in ["a.example.com", "b.example.com", "c.example.com"] {
            cache.get_or_mint(h).unwrap();
        }
        assert!(cache.contains("c.example.com"));
        assert!(!cache.contains("a.example.com"));
    }
}
