//! Typed configuration of the sandbox runtime.

use crate::error::SandboxError;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Per-sandbox resource limits (enforced by cgroups, and a size-limited `/tmp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Memory (RSS + page cache + tmpfs pages) in bytes; exceeding it OOM-kills the sandbox.
    pub memory_bytes: u64,
    /// Maximum number of processes/threads.
    pub pids: u32,
    /// CPU quota in thousandths of one CPU (1000 = one full core).
    pub cpu_millis: u32,
    /// Size of the sandbox's private `/tmp` tmpfs.
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            pids: 256,
            cpu_millis: 1000,
            tmp_bytes: 64 << 20,
        }
    }
}

impl Limits {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.memory_bytes < (8 << 20) {
            return Err("memory limit below 8 MiB cannot start a server".into());
        }
        if self.pids < 4 {
            return Err("pids limit below 4 cannot start bwrap + bootstrap + server".into());
        }
        if !(10..=256_000).contains(&self.cpu_millis) {
            return Err("cpu_millis must be within 10..=256000".into());
        }
        if self.tmp_bytes < 4096 {
            return Err("tmp_bytes must be at least 4096".into());
        }
        Ok(())
    }
}

/// An IPv4 prefix from which each sandbox gets its own /30.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Pool {
    base: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Pool {
    /// A pool; `base` must be the network address and `prefix_len` within 8..=30.
    pub fn new(base: Ipv4Addr, prefix_len: u8) -> Result<Self, SandboxError> {
        if !(8..=30).contains(&prefix_len) {
            return Err(SandboxError::Config(format!(
                "address pool prefix /{prefix_len} must be between /8 and /30"
            )));
        }
        let mask = u32::MAX << (32 - prefix_len);
        if u32::from(base) & !mask != 0 {
            return Err(SandboxError::Config(format!(
                "address pool {base}/{prefix_len} has host bits set; use {}/{prefix_len}",
                Ipv4Addr::from(u32::from(base) & mask)
            )));
        }
        Ok(Self { base, prefix_len })
    }

    /// Number of /30 networks in the pool.
    pub fn slots(&self) -> u32 {
        1u32 << (30 - self.prefix_len)
    }

    /// (host-side, sandbox-side) addresses of slot `slot`.
    pub fn addresses(&self, slot: u32) -> (Ipv4Addr, Ipv4Addr) {
        let net = u32::from(self.base) + slot * 4;
        (Ipv4Addr::from(net + 1), Ipv4Addr::from(net + 2))
    }
}

impl FromStr for Ipv4Pool {
    type Err = SandboxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || SandboxError::Config(format!("address pool `{s}` is not of the form A.B.C.D/N"));
        let (a, n) = s.split_once('/').ok_or_else(bad)?;
        let base = a.parse().map_err(|_| bad())?;
        let prefix = n.parse().map_err(|_| bad())?;
        Self::new(base, prefix)
    }
}

impl std::fmt::Display for Ipv4Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix_len)
    }
}

/// The per-sandbox network: a veth pair on a /30 of `pool`.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub pool: Ipv4Pool,
    /// Host-side link names are `<prefix><slot>`; links with this prefix left by a crashed
    /// gateway are removed when the runtime starts. At most 8 characters.
    pub link_prefix: String,
    /// TCP ports the sandbox may connect to (the egress proxy's ports on the host-side address).
    /// Enforced by Landlock (ABI ≥ 4); every other TCP connect and every TCP bind is denied.
    pub allowed_tcp_ports: Vec<u16>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            pool: Ipv4Pool::new(Ipv4Addr::new(10, 88, 0, 0), 16).expect("valid default pool"),
            link_prefix: "gigv".into(),
            allowed_tcp_ports: Vec::new(),
        }
    }
}

/// Configuration of a [`crate::SandboxRuntime`].
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The bubblewrap binary (a bare name is looked up in `PATH`).
    pub bwrap: PathBuf,
    /// The static `gigmcp-bootstrap` binary, bound read-only at `/.gig/bootstrap`.
    pub bootstrap: PathBuf,
    /// Sandbox `n` runs as host uid/gid `host_uid_base + n` (its own unprivileged identity; it is
    /// uid/gid 65534 inside its user namespace).
    pub host_uid_base: u32,
    /// Upper bound on sandboxes running at once (also bounded by the address pool).
    pub max_sandboxes: u32,
    /// `None`: the sandbox gets a network namespace with only a loopback interface.
    pub network: Option<NetworkConfig>,
    /// Put each sandbox into its own cgroup (memory, pids, cpu).
    pub cgroups: bool,
    /// cgroup directory name under the gateway's own cgroup, holding one cgroup per sandbox.
    pub cgroup_name: String,
    /// Limits for specs that set none.
    pub default_limits: Limits,
    /// How long bwrap may take to report its namespaces.
    pub start_timeout: Duration,
}

impl RuntimeConfig {
    /// Defaults: no network, cgroups on, 4096 sandboxes, host uids from 1 800 000 000.
    pub fn new(bootstrap: PathBuf) -> Self {
        Self {
            bwrap: PathBuf::from("bwrap"),
            bootstrap,
            host_uid_base: 1_800_000_000,
            max_sandboxes: 4096,
            network: None,
            cgroups: true,
            cgroup_name: "gigmcp".into(),
            default_limits: Limits::default(),
            start_timeout: Duration::from_secs(10),
        }
    }
}

impl RuntimeConfig {
    /// Gives this runtime identity number `n` (0..=99): its own host uid range, cgroup name,
    /// link prefix and (if networking is on) address pool `10.(120+n).0.0/16`. Runtimes that
    /// coexist — several gateways on one host, or parallel tests in one process — need distinct
    /// identities; [`crate::SandboxRuntime::new`] refuses a duplicate within a process.
    pub fn instance(mut self, n: u8) -> Result<Self, SandboxError> {
        if n > 99 {
            return Err(SandboxError::Config(format!(
                "runtime instance {n} is out of range 0..=99"
            )));
        }
        self.host_uid_base = 1_800_000_000 + u32::from(n) * 65_536;
        self.max_sandboxes = self.max_sandboxes.min(65_536);
        self.cgroup_name = format!("gigmcp-{n}");
        let letters: String = [b'a' + n / 26, b'a' + n % 26]
            .iter()
            .map(|b| *b as char)
            .collect();
        if let Some(net) = &mut self.network {
            net.link_prefix = format!("gig{letters}");
            net.pool = Ipv4Pool::new(Ipv4Addr::new(10, 120 + n, 0, 0), 16)?;
        }
        Ok(self)
    }
}

/// Where the bootstrap binary is expected: `$GIG_BOOTSTRAP`, else `gigmcp-bootstrap` next to the
/// running executable.
pub fn default_bootstrap_path() -> PathBuf {
    if let Some(p) = std::env::var_os("GIG_BOOTSTRAP") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("gigmcp-bootstrap")))
        .unwrap_or_else(|| PathBuf::from("gigmcp-bootstrap"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_parses_and_hands_out_slash_30s() {
        let p: Ipv4Pool = "10.88.0.0/16".parse().unwrap();
        assert_eq!(p.slots(), 16384);
        assert_eq!(
            p.addresses(0),
            (Ipv4Addr::new(10, 88, 0, 1), Ipv4Addr::new(10, 88, 0, 2))
        );
        assert_eq!(
            p.addresses(16383),
            (
                Ipv4Addr::new(10, 88, 255, 253),
                Ipv4Addr::new(10, 88, 255, 254)
            )
        );
    }

    #[test]
    fn pool_rejects_host_bits_and_bad_prefixes() {
        assert!("10.88.0.1/16".parse::<Ipv4Pool>().is_err());
        assert!("10.88.0.0/31".parse::<Ipv4Pool>().is_err());
        assert!("10.88.0.0".parse::<Ipv4Pool>().is_err());
    }

    #[test]
    fn instances_get_disjoint_identities() {
        let mk = |n| {
            let mut c = RuntimeConfig::new("/b".into());
            c.network = Some(NetworkConfig::default());
            c.instance(n).unwrap()
        };
        let (a, b) = (mk(0), mk(27));
        assert_ne!(a.host_uid_base, b.host_uid_base);
        assert!(a.host_uid_base + a.max_sandboxes <= b.host_uid_base);
        assert_ne!(a.cgroup_name, b.cgroup_name);
        let (na, nb) = (a.network.unwrap(), b.network.unwrap());
        assert_eq!(na.link_prefix, "gigaa");
        assert_eq!(nb.link_prefix, "gigbb");
        assert_eq!(nb.pool.to_string(), "10.147.0.0/16");
        assert!(RuntimeConfig::new("/b".into()).instance(100).is_err());
    }

    #[test]
    fn default_limits_are_valid() {
        Limits::default().validate().unwrap();
        let l = Limits {
            pids: 1,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
    }
}
