//! Phase 3, both entry points: **vet** the destination before anything is resolved into a
//! connection or a leaf is minted.
//!
//! Contract, in this order:
//!
//! 1. the client-supplied host (CONNECT target or SNI) is normalised ([`check_host`]); IP
//!    literals in any spelling (`10.0.0.1`, `[::1]`, `0x7f.1`) are refused as such: egress is by
//!    hostname only;
//! 2. on the explicit path, the port must be in the operator's [`PortPolicy`](crate::config::PortPolicy)
//!    ([`check_port`]);
//! 3. the host must be in the sandbox's allowlist (the registry's single rule,
//!    `EgressPolicy::allows`): refused before any lookup;
//! 4. the name is resolved through the injected resolver, within the connect timeout;
//! 5. **every** resolved address passes the SSRF guard ([`AddressGuard`]): one forbidden address
//!    refuses the name (no mixing public and private answers).
//!
//! The result, [`Vetted`], is the only way to name an upstream: the tunnel connects to exactly
//! its addresses and never resolves again (no DNS rebinding).

use std::net::SocketAddr;
use std::time::Duration;

use gigmcp_registry::egress::{EgressError, EgressPolicy, normalize_host};
use tokio::time::timeout;

use crate::audit::DenyReason;
use crate::config::ProxyConfig;
use crate::resolver::Resolver;
use crate::ssrf::AddressGuard;
use crate::state::Shared;

/// Normalises a client-supplied host (CONNECT target or SNI) or says why it is refused.
pub(crate) fn check_host(raw: &str) -> Result<String, DenyReason> {
    if raw.starts_with('[') {
        return Err(DenyReason::IpLiteral(raw.to_owned()));
    }
    normalize_host(raw).map_err(|e| match e {
        EgressError::IpLiteral(h) => DenyReason::IpLiteral(h),
        _ => DenyReason::InvalidHost(raw.to_owned()),
    })
}

/// The operator's port policy (explicit path; the transparent path's port is the operator's).
pub(crate) fn check_port(config: &ProxyConfig, port: u16) -> Result<(), DenyReason> {
    if config.ports.allows(port) {
        Ok(())
    } else {
        Err(DenyReason::PortNotAllowed(port))
    }
}

/// A destination that passed the allowlist and the SSRF guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vetted {
    /// Normalised host name (what SNI, `Host` and the upstream certificate must name).
    pub(crate) host: String,
    /// Upstream port.
    pub(crate) port: u16,
    /// The resolved addresses, each allowed by the guard, canonical and without duplicates.
    pub(crate) addrs: Vec<SocketAddr>,
}

/// What vetting consults besides the sandbox's allowlist.
pub(crate) struct Vetter<'a> {
    pub(crate) resolver: &'a dyn Resolver,
    pub(crate) guard: &'a AddressGuard,
    /// Time allowed for the lookup.
    pub(crate) timeout: Duration,
}

impl<'a> Vetter<'a> {
    /// The proxy's resolver and guard, with its connect timeout.
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Self {
            resolver: &*shared.resolver,
            guard: &shared.guard,
            timeout: shared.config.limits.connect_timeout,
        }
    }

    /// Allowlist, resolution and SSRF guard, in that order. Nothing is minted or connected
    /// here. `host` must come from [`check_host`].
    pub(crate) async fn vet(
        &self,
        egress: &EgressPolicy,
        host: &str,
        port: u16,
    ) -> Result<Vetted, DenyReason> {
        if !egress.allows(host) {
            return Err(DenyReason::NotAllowlisted);
        }
        let ips = match timeout(self.timeout, self.resolver.lookup(host, port)).await {
            Ok(Ok(ips)) => ips,
            Ok(Err(e)) => return Err(DenyReason::ResolveFailed(e.to_string())),
            Err(_) => return Err(DenyReason::ResolveFailed("timed out".into())),
        };
        if ips.is_empty() {
            return Err(DenyReason::ResolveFailed("no addresses".into()));
        }
        let mut addrs: Vec<SocketAddr> = Vec::with_capacity(ips.len());
        for ip in ips {
            self.guard
                .check(ip)
                .map_err(|class| DenyReason::ForbiddenAddress { addr: ip, class })?;
            let sa = SocketAddr::new(ip.to_canonical(), port);
            if !addrs.contains(&sa) {
                addrs.push(sa);
            }
        }
        Ok(Vetted {
            host: host.to_owned(),
            port,
            addrs,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::resolver::StaticResolver;
    use crate::ssrf::BlockedClass;

    #[test]
    fn host_checks() {
        assert_eq!(check_host("API.Example.com.").unwrap(), "api.example.com");
        assert!(matches!(
            check_host("127.0.0.1"),
            Err(DenyReason::IpLiteral(_))
        ));
        assert!(matches!(check_host("[::1]"), Err(DenyReason::IpLiteral(_))));
        assert!(matches!(
            check_host("0x7f.1"),
            Err(DenyReason::IpLiteral(_))
        ));
        assert!(matches!(check_host("a b"), Err(DenyReason::InvalidHost(_))));
    }

    #[test]
    fn port_policy() {
        let config = ProxyConfig::default();
        assert_eq!(check_port(&config, 443), Ok(()));
        assert_eq!(check_port(&config, 22), Err(DenyReason::PortNotAllowed(22)));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    async fn vet(
        resolver: &StaticResolver,
        guard: &AddressGuard,
        host: &str,
    ) -> Result<Vetted, DenyReason> {
        let egress = EgressPolicy::parse(&["api.example.com", "*.example.org"]).unwrap();
        let vetter = Vetter {
            resolver,
            guard,
            timeout: Duration::from_secs(5),
        };
        vetter.vet(&egress, host, 443).await
    }

    #[tokio::test]
    async fn allowlist_comes_before_resolution() {
        // Not allowlisted: refused as such, although the name would not even resolve.
        let r = StaticResolver::new();
        let guard = AddressGuard::default();
        assert_eq!(
            vet(&r, &guard, "evil.example.net").await,
            Err(DenyReason::NotAllowlisted)
        );
        assert!(matches!(
            vet(&r, &guard, "api.example.com").await,
            Err(DenyReason::ResolveFailed(_))
        ));
        r.insert("api.example.com", vec![]);
        assert_eq!(
            vet(&r, &guard, "api.example.com").await,
            Err(DenyReason::ResolveFailed("no addresses".into()))
        );
    }

    #[tokio::test]
    async fn one_forbidden_address_refuses_the_name() {
        let r = StaticResolver::new();
        r.insert("a.example.org", vec![ip("1.1.1.1"), ip("10.0.0.1")]);
        assert_eq!(
            vet(&r, &AddressGuard::default(), "a.example.org").await,
            Err(DenyReason::ForbiddenAddress {
                addr: ip("10.0.0.1"),
                class: BlockedClass::Private
            })
        );
        // The operator's exception lets it through.
        let guard = AddressGuard::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(vet(&r, &guard, "a.example.org").await.is_ok());
    }

    #[tokio::test]
    async fn vetted_addresses_are_canonical_and_distinct() {
        let r = StaticResolver::new();
        r.insert(
            "api.example.com",
            vec![ip("1.1.1.1"), ip("::ffff:1.1.1.1"), ip("2606:4700::1111")],
        );
        let v = vet(&r, &AddressGuard::default(), "api.example.com")
            .await
            .unwrap();
        assert_eq!(v.host, "api.example.com");
        assert_eq!(v.port, 443);
        assert_eq!(
            v.addrs,
            vec![
                SocketAddr::new(ip("1.1.1.1"), 443),
                SocketAddr::new(ip("2606:4700::1111"), 443)
            ]
        );
    }
}
