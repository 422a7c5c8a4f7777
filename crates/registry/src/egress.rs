//! The egress rule: which hostnames a server may reach.
//!
//! This module is the single definition used by both `registryctl lint` and the gateway's egress
//! proxy, so what the registry approved is exactly what the proxy lets through.
//!
//! # Patterns
//!
//! A manifest's `entitlements.egress` lists patterns of two forms:
//!
//! * **exact**: a fully qualified hostname such as `api.example.com`. It matches that host only.
//! * **wildcard**: `*.` followed by a suffix of at least two labels, such as `*.example.com`.
//!   It matches every host that ends in `.example.com` and has **one or more** labels in front of
//!   it: `a.example.com` and `a.b.example.com` match, `example.com` itself does **not** (list it
//!   separately if it is needed). The any-depth choice is what the corpus relies on (Dynamics 365
//!   reaches `org.api.crm.dynamics.com` under `*.dynamics.com`).
//!
//! Rejected: a bare `*`, a `*` anywhere but the whole first label, a wildcard over fewer than two
//! labels (`*.com`), a single-label name (`localhost`, resolved through search domains), IP
//! literals (`10.0.0.1`, `[::1]`, and anything whose last label is numeric, such as `0x7f.1`),
//! ports, schemes, paths, empty labels, labels over 63 bytes or names over 253 bytes, and any
//! character outside `a-z 0-9 -` (internationalised names must be written in punycode, `xn--…`).
//!
//! # Host comparison
//!
//! Both patterns and hosts are compared ASCII case-insensitively after removing **one** trailing
//! dot (`API.Example.COM.` is `api.example.com`). A host that is not a valid DNS name (an IP
//! literal, an empty string, a name with a port) is never allowed.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// Longest DNS name we accept, in bytes, without the trailing dot.
const MAX_NAME_LEN: usize = 253;
/// Longest DNS label, in bytes.
const MAX_LABEL_LEN: usize = 63;

/// Why a string is not a valid egress pattern. Each message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("empty egress entry: write a hostname such as `api.example.com`")]
    Empty,
    #[error(
        "`*` alone would allow every host: list the exact hostnames, or `*.suffix` with a suffix of at least two labels"
    )]
    BareWildcard,
    #[error(
        "`{0}`: `*` may only be the whole first label, as in `*.example.com`; list other hosts exactly"
    )]
    MisplacedWildcard(String),
    #[error(
        "`{0}`: a wildcard needs a suffix of at least two labels (`*.example.com`, not `*.com`)"
    )]
    WildcardTooBroad(String),
    #[error(
        "`{0}` is a single-label name, which resolves through local search domains: write the fully qualified hostname"
    )]
    SingleLabel(String),
    #[error("`{0}` is an IP literal: egress is granted to DNS hostnames only")]
    IpLiteral(String),
    #[error(
        "`{0}` contains `{1}`: write a bare hostname, without scheme, port, path or whitespace"
    )]
    InvalidChar(String, char),
    #[error("`{0}` contains non-ASCII text: write internationalised names in punycode (`xn--…`)")]
    NonAscii(String),
    #[error("`{0}` has an empty label (`..`, or a leading dot): remove the extra dot")]
    EmptyLabel(String),
    #[error("`{0}`: label `{1}` is longer than 63 bytes")]
    LabelTooLong(String, String),
    #[error("`{0}`: label `{1}` starts or ends with `-`, which DNS does not allow")]
    HyphenEdge(String, String),
    #[error("`{0}` is longer than 253 bytes")]
    TooLong(String),
}

/// One entry of `entitlements.egress`, validated and normalised (lowercase, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EgressPattern {
    /// Matches this host only.
    Exact(String),
    /// `*.suffix`: matches hosts with one or more labels before `.suffix`, never `suffix` itself.
    /// Holds the suffix without the `*.`.
    Wildcard(String),
}

impl EgressPattern {
    /// Parses one egress entry. See the [module docs](self) for the rule.
    pub fn parse(raw: &str) -> Result<Self, EgressError> {
        if raw.is_empty() {
            return Err(EgressError::Empty);
        }
        if raw == "*" || raw == "*." {
            return Err(EgressError::BareWildcard);
        }
        let (wildcard, rest) = match raw.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        if rest.contains('*') {
            return Err(EgressError::MisplacedWildcard(raw.to_owned()));
        }
        let name = normalize_name(rest).map_err(|e| e.into_error(raw))?;
        if wildcard {
            if label_count(&name) < 2 {
                return Err(EgressError::WildcardTooBroad(raw.to_owned()));
            }
            Ok(Self::Wildcard(name))
        } else {
            if label_count(&name) < 2 {
                return Err(EgressError::SingleLabel(raw.to_owned()));
            }
            Ok(Self::Exact(name))
        }
    }

    /// Whether this pattern allows `host` (any case, optional trailing dot).
    pub fn allows(&self, host: &str) -> bool {
        match normalize_name(host) {
            Ok(host) => self.allows_normalized(&host),
            Err(_) => false,
        }
    }

    /// `host` must already be normalised (see [`normalize_host`]).
    fn allows_normalized(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h == host,
            Self::Wildcard(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }

    /// The DNS name the pattern is anchored on: the host itself, or the wildcard's suffix.
    pub fn base(&self) -> &str {
        match self {
            Self::Exact(h) | Self::Wildcard(h) => h,
        }
    }

    /// Whether this is a `*.suffix` pattern.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Self::Wildcard(_))
    }
}

impl FromStr for EgressPattern {
    type Err = EgressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EgressPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(h) => f.write_str(h),
            Self::Wildcard(s) => write!(f, "*.{s}"),
        }
    }
}

/// The set of egress patterns one server is entitled to.
///
/// An empty policy allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    exact: HashSet<String>,
    suffixes: HashSet<String>,
}

impl EgressPolicy {
    /// A policy allowing exactly the given patterns.
    pub fn new(patterns: impl IntoIterator<Item = EgressPattern>) -> Self {
        let mut policy = Self::default();
        for p in patterns {
            match p {
                EgressPattern::Exact(h) => policy.exact.insert(h),
                EgressPattern::Wildcard(s) => policy.suffixes.insert(s),
            };
        }
        policy
    }

    /// Parses every entry; fails on the first invalid one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, EgressError> {
        let patterns = entries
            .iter()
            .map(|e| EgressPattern::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(patterns))
    }

    /// Whether `host` may be reached. `host` is a bare DNS name (no port), compared
    /// case-insensitively with one trailing dot ignored; IP literals and invalid names are never
    /// allowed. Cost: one hash lookup per label of `host`.
    pub fn allows(&self, host: &str) -> bool {
        let Ok(host) = normalize_name(host) else {
            return false;
        };
        if self.exact.contains(&host) {
            return true;
        }
        // Every proper suffix that starts after a dot, e.g. for a.b.c.com: b.c.com, c.com, com.
        host.match_indices('.')
            .any(|(i, _)| self.suffixes.contains(&host[i + 1..]))
    }

    /// Whether the policy allows nothing.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.suffixes.is_empty()
    }

    /// The exact (non-wildcard) hosts, sorted: the names a credential may be scoped to.
    pub fn exact_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.exact.iter().cloned().collect();
        hosts.sort();
        hosts
    }

    /// The patterns, sorted (exact before wildcard, then by name).
    pub fn patterns(&self) -> Vec<EgressPattern> {
        let mut v: Vec<EgressPattern> = self
            .exact
            .iter()
            .cloned()
            .map(EgressPattern::Exact)
            .chain(self.suffixes.iter().cloned().map(EgressPattern::Wildcard))
            .collect();
        v.sort();
        v
    }
}

/// Normalises a host for comparison: ASCII lowercase, one trailing dot removed, validated as a
/// DNS name that is not an IP literal. Single-label names are accepted here (the proxy may see
/// them); only patterns require two labels.
pub fn normalize_host(host: &str) -> Result<String, EgressError> {
    normalize_name(host).map_err(|e| e.into_error(host))
}

/// Internal failure kinds of [`normalize_name`], turned into [`EgressError`] with the raw input.
enum NameError {
    Empty,
    Char(char),
    NonAscii,
    EmptyLabel,
    LabelTooLong(String),
    HyphenEdge(String),
    TooLong,
    Ip,
}

impl NameError {
    fn into_error(self, raw: &str) -> EgressError {
        let raw = raw.to_owned();
        match self {
            Self::Empty => EgressError::Empty,
            Self::Char(c) => EgressError::InvalidChar(raw, c),
            Self::NonAscii => EgressError::NonAscii(raw),
            Self::EmptyLabel => EgressError::EmptyLabel(raw),
            Self::LabelTooLong(l) => EgressError::LabelTooLong(raw, l),
            Self::HyphenEdge(l) => EgressError::HyphenEdge(raw, l),
            Self::TooLong => EgressError::TooLong(raw),
            Self::Ip => EgressError::IpLiteral(raw),
        }
    }
}

fn normalize_name(raw: &str) -> Result<String, NameError> {
    let name = raw.strip_suffix('.').unwrap_or(raw);
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if !name.is_ascii() {
        return Err(NameError::NonAscii);
    }
    if name.starts_with('[') || name.contains(':') && name.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(NameError::Ip);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(NameError::Char(c));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let name = name.to_ascii_lowercase();
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong(label.to_owned()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::HyphenEdge(label.to_owned()));
        }
    }
    // WHATWG URL "ends in a number": a numeric last label makes the host an IPv4 address in some
    // form (1.2.3.4, 127.1, 0x7f.1, 2130706433). No real TLD is numeric.
    let last = name.rsplit('.').next().unwrap_or(&name);
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
    if hex || last.chars().all(|c| c.is_ascii_digit()) {
        return Err(NameError::Ip);
    }
    Ok(name)
}

fn label_count(name: &str) -> usize {
    name.split('.').count()
}

/// The exfiltration denylist (`denylist/exfil-domains.txt`): one domain per line, `#` comments.
/// A domain is denied together with all its subdomains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Denylist {
    domains: Vec<String>,
}

/// A line of the denylist that is not a domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("denylist line {line}: {source}")]
pub struct DenylistError {
    pub line: usize,
    #[source]
    pub source: EgressError,
}

impl Denylist {
    /// Parses the denylist text. Single-label entries (`localhost`, `internal`) are allowed.
    pub fn parse(text: &str) -> Result<Self, DenylistError> {
        let mut domains = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let name = normalize_host(entry).map_err(|source| DenylistError {
                line: i + 1,
                source,
            })?;
            domains.push(name);
        }
        domains.sort();
        domains.dedup();
        Ok(Self { domains })
    }

    /// Names that are always denied, whatever the registry's denylist file says: local and
    /// internal names the proxy must never dial from the host network namespace.
    pub const BUILTIN: &'static [&'static str] = &[
        "localhost",
        "local",
        "localdomain",
        "internal",
        "home.arpa",
        "in-addr.arpa",
        "ip6.arpa",
        "metadata.google.internal",
    ];

    /// The [`Self::BUILTIN`] names only.
    pub fn builtin() -> Self {
        let mut domains: Vec<String> = Self::BUILTIN.iter().map(|s| (*s).to_owned()).collect();
        domains.sort();
        Self { domains }
    }

    /// Parses the denylist text and adds the [`Self::BUILTIN`] names.
    pub fn parse_with_builtin(text: &str) -> Result<Self, DenylistError> {
        let mut list = Self::parse(text)?;
        list.domains
            .extend(Self::BUILTIN.iter().map(|s| (*s).to_owned()));
        list.domains.sort();
        list.domains.dedup();
        Ok(list)
    }

    /// The denied domains, sorted.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// The denied domain that `host` equals or is a subdomain of, if any.
    pub fn denies_host(&self, host: &str) -> Option<&str> {
        let host = normalize_name(host).ok()?;
        self.domains
            .iter()
            .find(|d| is_same_or_subdomain(&host, d))
            .map(String::as_str)
    }

    /// The denied domain that `pattern` could reach, if any: an exact host that is (a subdomain
    /// of) a denied domain, or a wildcard whose suffix is (a subdomain of) a denied domain or that
    /// covers one (`*.co.uk` covers a denied `evil.co.uk`).
    pub fn denies_pattern(&self, pattern: &EgressPattern) -> Option<&str> {
        self.domains
            .iter()
            .find(|d| match pattern {
                EgressPattern::Exact(h) => is_same_or_subdomain(h, d),
                EgressPattern::Wildcard(s) => {
                    is_same_or_subdomain(s, d) || pattern.allows_normalized(d)
                }
            })
            .map(String::as_str)
    }
}

fn is_same_or_subdomain(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> EgressPattern {
        EgressPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn exact_matches_only_itself_case_and_dot_insensitive() {
        let pat = p("Api.Example.com.");
        assert_eq!(pat, EgressPattern::Exact("api.example.com".into()));
        assert!(pat.allows("api.example.com"));
        assert!(pat.allows("API.EXAMPLE.COM."));
        assert!(!pat.allows("example.com"));
        assert!(!pat.allows("x.api.example.com"));
        assert!(!pat.allows("api.example.com.evil.org"));
        assert!(!pat.allows("api.example.com.."));
    }

    #[test]
    fn wildcard_matches_any_depth_but_not_apex() {
        let pat = p("*.example.com");
        assert!(pat.allows("a.example.com"));
        assert!(pat.allows("a.b.example.com"));
        assert!(pat.allows("A.EXAMPLE.COM."));
        assert!(!pat.allows("example.com"));
        assert!(!pat.allows("badexample.com"));
        assert!(!pat.allows("a.example.com.evil.org"));
        let pol = EgressPolicy::new([pat]);
        assert!(pol.allows("a.b.example.com"));
        assert!(!pol.allows("example.com"));
        assert!(!pol.allows("badexample.com"));
    }

    #[test]
    fn rejects_broad_or_malformed_patterns() {
        use EgressError as E;
        let bad = |s: &str| EgressPattern::parse(s).unwrap_err();
        assert_eq!(bad(""), E::Empty);
        assert_eq!(bad("*"), E::BareWildcard);
        assert!(matches!(bad("*.com"), E::WildcardTooBroad(_)));
        assert!(matches!(bad("*.*.example.com"), E::MisplacedWildcard(_)));
        assert!(matches!(bad("a*.example.com"), E::MisplacedWildcard(_)));
        assert!(matches!(bad("api.*.com"), E::MisplacedWildcard(_)));
        assert!(matches!(bad("localhost"), E::SingleLabel(_)));
        assert!(matches!(bad("10.0.0.1"), E::IpLiteral(_)));
        assert!(matches!(bad("127.1"), E::IpLiteral(_)));
        assert!(matches!(bad("0x7f.0x1"), E::IpLiteral(_)));
        assert!(matches!(bad("*.0.0.10"), E::IpLiteral(_)));
        assert!(matches!(bad("[::1]"), E::IpLiteral(_)));
        assert!(matches!(bad("::1"), E::IpLiteral(_)));
        assert!(matches!(bad("api.example.com:443"), E::InvalidChar(_, ':')));
        assert!(matches!(
            bad("https://api.example.com"),
            E::InvalidChar(_, ':')
        ));
        assert!(matches!(bad("api.example.com/x"), E::InvalidChar(_, '/')));
        assert!(matches!(bad(" api.example.com"), E::InvalidChar(_, ' ')));
        assert!(matches!(bad("api..example.com"), E::EmptyLabel(_)));
        assert!(matches!(bad(".example.com"), E::EmptyLabel(_)));
        assert!(matches!(bad("-api.example.com"), E::HyphenEdge(_, _)));
        assert!(matches!(bad("bücher.example"), E::NonAscii(_)));
        assert!(matches!(
            bad(&format!("{}.com", "a".repeat(64))),
            E::LabelTooLong(_, _)
        ));
        let long = ["a".repeat(60).as_str(); 5].join(".");
        assert!(matches!(bad(&long), E::TooLong(_)));
    }

    #[test]
    fn exact_hosts_leave_wildcards_out() {
        let policy =
            EgressPolicy::parse(&["*.zendesk.com", "API.example.com.", "auth.example.com"])
                .unwrap();
        assert_eq!(
            policy.exact_hosts(),
            ["api.example.com", "auth.example.com"]
        );
        assert!(
            EgressPolicy::parse(&["*.zendesk.com"])
                .unwrap()
                .exact_hosts()
                .is_empty()
        );
    }

    #[test]
    fn policy_never_allows_ips_or_junk() {
        let pol = EgressPolicy::parse(&["api.example.com", "*.example.org"]).unwrap();
        for host in [
            "",
            ".",
            "127.0.0.1",
            "[::1]",
            "api.example.com:443",
            "*.example.org",
        ] {
            assert!(!pol.allows(host), "{host}");
        }
        assert!(pol.allows("api.example.com"));
        assert!(pol.allows("x.example.org"));
        assert!(!EgressPolicy::default().allows("api.example.com"));
    }

    #[test]
    fn denylist_covers_subdomains_and_wildcards() {
        let d = Denylist::parse("# c\npastebin.com\n\nlocalhost  # local\nevil.co.uk\n").unwrap();
        assert_eq!(d.denies_host("x.pastebin.com"), Some("pastebin.com"));
        assert_eq!(d.denies_host("LOCALHOST."), Some("localhost"));
        assert_eq!(d.denies_host("notpastebin.com"), None);
        assert_eq!(d.denies_pattern(&p("pastebin.com")), Some("pastebin.com"));
        assert_eq!(d.denies_pattern(&p("a.pastebin.com")), Some("pastebin.com"));
        assert_eq!(d.denies_pattern(&p("*.pastebin.com")), Some("pastebin.com"));
        assert_eq!(d.denies_pattern(&p("*.co.uk")), Some("evil.co.uk"));
        assert_eq!(d.denies_pattern(&p("api.example.com")), None);
        assert!(Denylist::parse("ok.com\nbad host\n").is_err());
        let b = Denylist::parse_with_builtin("pastebin.com").unwrap();
        assert_eq!(
            b.denies_pattern(&p("db.internal.corp.internal")),
            Some("internal")
        );
        assert_eq!(
            b.denies_pattern(&p("paste.pastebin.com")),
            Some("pastebin.com")
        );
        assert_eq!(
            Denylist::builtin().denies_host("printer.local"),
            Some("local")
        );
    }
}
