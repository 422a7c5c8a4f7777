//! SSRF guard: which resolved addresses the proxy may connect to.
//!
//! Every address a name resolves to is classified; a name with any forbidden address is refused
//! (no mixing public and private answers), and the proxy then connects to exactly the vetted
//! addresses, never re-resolving. Operators may allow ranges explicitly with [`Cidr`]s.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why an address is not reachable through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedClass {
    Unspecified,
    Loopback,
    /// RFC 1918.
    Private,
    /// 100.64.0.0/10.
    Cgnat,
    LinkLocal,
    /// Cloud metadata endpoints (169.254.169.254, fd00:ec2::254).
    Metadata,
    Multicast,
    Broadcast,
    /// fc00::/7.
    UniqueLocal,
    /// Documentation, benchmarking, protocol-assignment and reserved ranges.
    Reserved,
}

impl fmt::Display for BlockedClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "an unspecified address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private (RFC 1918) address",
            Self::Cgnat => "a carrier-grade NAT (100.64/10) address",
            Self::LinkLocal => "a link-local address",
            Self::Metadata => "a cloud metadata address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::UniqueLocal => "a unique-local (fc00::/7) address",
            Self::Reserved => "a reserved or special-purpose address",
        })
    }
}

/// Classifies an address; `None` means globally routable and allowed.
pub fn classify(ip: IpAddr) -> Option<BlockedClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<BlockedClass> {
    let o = ip.octets();
    let in_net = |net: [u8; 4], prefix: u8| Cidr::v4(net, prefix).contains_v4(ip);
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        return Some(BlockedClass::Metadata);
    }
    if ip.is_unspecified() || o[0] == 0 {
        return Some(BlockedClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(BlockedClass::Loopback);
    }
    if ip.is_private() {
        return Some(BlockedClass::Private);
    }
    if in_net([100, 64, 0, 0], 10) {
        return Some(BlockedClass::Cgnat);
    }
    if ip.is_link_local() {
        return Some(BlockedClass::LinkLocal);
    }
    if ip.is_multicast() {
        return Some(BlockedClass::Multicast);
    }
    if ip.is_broadcast() {
        return Some(BlockedClass::Broadcast);
    }
    let reserved: [([u8; 4], u8); 7] = [
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // TEST-NET-1
        ([198, 51, 100, 0], 24), // TEST-NET-2
        ([203, 0, 113, 0], 24),  // TEST-NET-3
        ([198, 18, 0, 0], 15),   // benchmarking
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([240, 0, 0, 0], 4),     // reserved
    ];
    if reserved.iter().any(|(n, p)| in_net(*n, *p)) {
        return Some(BlockedClass::Reserved);
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockedClass> {
    // Addresses that embed an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
    if seg[0] == 0x64 && seg[1] == 0xff9b {
        if seg[2..6] == [0, 0, 0, 0] {
            let [a, b] = seg[6].to_be_bytes();
            let [c, d] = seg[7].to_be_bytes();
            return classify_v4(Ipv4Addr::new(a, b, c, d));
        }
        return Some(BlockedClass::Reserved);
    }
    // 6to4 2002::/16 embeds the IPv4 address in bits 16..48.
    if seg[0] == 0x2002 {
        let [a, b] = seg[1].to_be_bytes();
        let [c, d] = seg[2].to_be_bytes();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(BlockedClass::Metadata);
    }
    if ip.is_unspecified() {
        return Some(BlockedClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(BlockedClass::Loopback);
    }
    if ip.is_multicast() {
        return Some(BlockedClass::Multicast);
    }
    if seg[0] & 0xfe00 == 0xfc00 {
        return Some(BlockedClass::UniqueLocal);
    }
    if seg[0] & 0xffc0 == 0xfe80 || seg[0] & 0xffc0 == 0xfec0 {
        return Some(BlockedClass::LinkLocal);
    }
    // IPv4-compatible (deprecated) ::/96, discard 100::/64, documentation 2001:db8::/32,
    // ORCHID/benchmarking/TEREDO inside 2001::/23 special-purpose block.
    let reserved = seg[0..6] == [0, 0, 0, 0, 0, 0]
        || (seg[0] == 0x100 && seg[1..4] == [0, 0, 0])
        || (seg[0] == 0x2001 && seg[1] == 0xdb8)
        || (seg[0] == 0x2001 && seg[1] < 0x200);
    if reserved {
        return Some(BlockedClass::Reserved);
    }
    None
}

/// An address range, `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// A malformed CIDR string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not a CIDR: write ADDRESS/PREFIX, e.g. 127.0.0.0/8 or fd00::/8")]
    Syntax(String),
    #[error("`{0}`: prefix longer than the address ({1} bits)")]
    PrefixTooLong(String, u8),
}

impl Cidr {
    const fn v4(net: [u8; 4], prefix: u8) -> Self {
        Self {
            net: IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], net[3])),
            prefix,
        }
    }

    /// A range from an address and prefix length; host bits are ignored.
    pub fn new(net: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let max = if net.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(CidrError::PrefixTooLong(format!("{net}/{prefix}"), max));
        }
        Ok(Self { net, prefix })
    }

    /// Whether `ip` is inside the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(_), IpAddr::V4(v4)) => self.contains_v4(v4),
            (IpAddr::V6(net), IpAddr::V6(v6)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(v6) & mask
            }
            _ => false,
        }
    }

    fn contains_v4(&self, ip: Ipv4Addr) -> bool {
        let IpAddr::V4(net) = self.net else {
            return false;
        };
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        u32::from(net) & mask == u32::from(ip) & mask
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || CidrError::Syntax(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| syntax())?;
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| syntax())?,
            None if net.is_ipv4() => 32,
            None => 128,
        };
        Self::new(net, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Classifier plus the operator's explicit exceptions.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    allow: Vec<Cidr>,
}

impl AddressGuard {
    /// A guard that additionally permits the given ranges.
    pub fn new(allow: Vec<Cidr>) -> Self {
        Self { allow }
    }

    /// `Ok` if the proxy may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), BlockedClass> {
        match classify(ip) {
            None => Ok(()),
            Some(_) if self.allow.iter().any(|c| c.contains(ip)) => Ok(()),
            Some(class) => Err(class),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<BlockedClass> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn blocks_every_special_range() {
        use BlockedClass as B;
        let cases = [
            ("0.0.0.0", B::Unspecified),
            ("0.1.2.3", B::Unspecified),
            ("127.0.0.1", B::Loopback),
            ("127.255.0.9", B::Loopback),
            ("10.1.2.3", B::Private),
            ("172.16.0.1", B::Private),
            ("172.31.255.255", B::Private),
            ("192.168.1.1", B::Private),
            ("100.64.0.1", B::Cgnat),
            ("100.127.255.254", B::Cgnat),
            ("169.254.1.1", B::LinkLocal),
            ("169.254.169.254", B::Metadata),
            ("224.0.0.1", B::Multicast),
            ("255.255.255.255", B::Broadcast),
            ("240.0.0.1", B::Reserved),
            ("192.0.2.7", B::Reserved),
            ("198.18.0.1", B::Reserved),
            ("::", B::Unspecified),
            ("::1", B::Loopback),
            ("fe80::1", B::LinkLocal),
            ("fc00::1", B::UniqueLocal),
            ("fd12:3456::1", B::UniqueLocal),
            ("fd00:ec2::254", B::Metadata),
            ("ff02::1", B::Multicast),
            ("::ffff:127.0.0.1", B::Loopback),
            ("::ffff:10.0.0.1", B::Private),
            ("::ffff:169.254.169.254", B::Metadata),
            ("64:ff9b::a00:1", B::Private),
            ("2002:7f00:1::", B::Loopback),
            ("2001:db8::1", B::Reserved),
            ("::127.0.0.1", B::Reserved),
        ];
        for (ip, class) in cases {
            assert_eq!(c(ip), Some(class), "{ip}");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
        ] {
            assert_eq!(c(ip), None, "{ip}");
        }
    }

    #[test]
    fn operator_ranges_override() {
        let guard = AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(guard.check("127.0.0.9".parse().unwrap()), Ok(()));
        assert_eq!(guard.check("::ffff:127.0.0.9".parse().unwrap()), Ok(()));
        assert_eq!(
            guard.check("10.0.0.1".parse().unwrap()),
            Err(BlockedClass::Private)
        );
        assert_eq!(
            AddressGuard::default().check("8.8.4.4".parse().unwrap()),
            Ok(())
        );
    }

    #[test]
    fn cidr_parsing() {
        assert!(
            "10.0.0.0/8"
                .parse::<Cidr>()
                .unwrap()
                .contains("10.9.9.9".parse().unwrap())
        );
        assert!(
            !"10.0.0.0/8"
                .parse::<Cidr>()
                .unwrap()
                .contains("11.0.0.0".parse().unwrap())
        );
        assert!(
            "fd00::/8"
                .parse::<Cidr>()
                .unwrap()
                .contains("fd00:ec2::254".parse().unwrap())
        );
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("9.9.9.9".parse().unwrap())
        );
        assert!(
            "1.2.3.4"
                .parse::<Cidr>()
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(matches!(
            "1.2.3.4/33".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong(..))
        ));
        assert!(matches!(
            "nope/8".parse::<Cidr>(),
            Err(CidrError::Syntax(_))
        ));
    }
}
