//! Per-sandbox network: a veth pair on its own /30, configured entirely from the host side.
//!
//! The sandbox never holds CAP_NET_ADMIN: the runtime creates the pair from the host, with the
//! peer born inside the sandbox's network namespace (by pid) as `eth0`, and then configures the
//! peer from a short-lived thread that has `setns()`ed into that namespace. The sandbox ends up
//! with `lo` (set up by bwrap) and `eth0` (address `.2/30`); its only route is the connected /30,
//! so the host side (`.1`) is the one address it can reach. IPv6 is disabled on both ends, so no
//! link-local path exists.
//!
//! The host side does not rely on any of that: before the link comes up, it is added to the
//! runtime's host guard ([`crate::host_guard`]), so the host's kernel drops anything from it but
//! TCP from the sandbox's address to its host-side address on the allowed ports.

use crate::config::NetworkConfig;
use crate::error::SandboxError;
use crate::host_guard::{Guard, GuardedLink};
use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

/// Name of the peer inside the sandbox.
const SANDBOX_IF: &str = "eth0";

/// The network part of the runtime.
pub struct Network {
    config: NetworkConfig,
    guard: Guard,
}

/// The link and addresses one sandbox holds.
#[derive(Debug)]
pub struct NetLease {
    host_if: String,
    host: Ipv4Addr,
    sandbox: Ipv4Addr,
    /// Set once the link is in the host guard.
    guarded: Option<GuardedLink>,
}

impl NetLease {
    pub fn addresses(&self) -> (Ipv4Addr, Ipv4Addr) {
        (self.host, self.sandbox)
    }
}

fn link_name(msg: &LinkMessage) -> Option<&str> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// Runs `f` with a fresh netlink connection on a new thread (optionally inside the network
/// namespace of `netns_pid`), so the caller's runtime and thread are never moved between
/// namespaces.
async fn on_netlink_thread<T, F, Fut>(netns_pid: Option<u32>, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, String>>,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("gig-netlink".into())
        .spawn(move || {
            let run = || -> Result<T, String> {
                if let Some(pid) = netns_pid {
                    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
                        .map_err(|e| format!("open netns of pid {pid}: {e}"))?;
                    // SAFETY: setns(2) on a valid, owned fd; it only changes this thread's
                    // network namespace, and this thread ends after `f`.
                    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(format!(
                            "setns into pid {pid}: {}",
                            std::io::Error::last_os_error()
                        ));
                    }
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("netlink runtime: {e}"))?;
                rt.block_on(async {
                    let (conn, handle, _) =
                        rtnetlink::new_connection().map_err(|e| format!("netlink socket: {e}"))?;
                    let task = tokio::spawn(conn);
                    let out = f(handle).await;
                    task.abort();
                    out
                })
            };
            let _ = tx.send(run());
        })
        .map_err(|e| format!("spawning the netlink thread: {e}"))?;
    rx.await
        .map_err(|_| "the netlink thread panicked".to_string())?
}

async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>, String> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(m)) => Ok(Some(m.header.index)),
        Ok(None) => Ok(None),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
        Err(e) => Err(format!("looking up link {name}: {e}")),
    }
}

async fn delete_link(h: &Handle, name: &str) -> Result<(), String> {
    if let Some(i) = index_of(h, name).await? {
        match h.link().del(i).execute().await {
            Ok(()) => {}
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => {}
            Err(e) => return Err(format!("deleting link {name}: {e}")),
        }
    }
    Ok(())
}

/// Waits (up to 2 s) until bwrap has brought the sandbox's loopback up.
async fn wait_for_lo_up(h: &Handle) -> Result<(), String> {
    for _ in 0..2000 {
        let mut links = h.link().get().match_name("lo".to_string()).execute();
        if let Ok(Some(m)) = links.try_next().await
            && m.header.flags.contains(LinkFlags::Up)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    Err("bwrap did not bring up the sandbox's loopback within 2 s".into())
}

fn is_ours(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| {
        let digits = rest.strip_suffix('p').unwrap_or(rest);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

impl Network {
    /// Validates the config and removes links a crashed gateway left behind.
    pub async fn new(config: NetworkConfig) -> Result<Self, SandboxError> {
        let p = &config.link_prefix;
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(SandboxError::Config(format!(
                "link prefix `{p}` must be 1-8 lowercase letters (link names are <prefix><slot>)"
            )));
        }
        let prefix = p.clone();
        let removed = on_netlink_thread(None, move |h| async move {
            let mut stale = Vec::new();
            let mut links = h.link().get().execute();
            while let Some(m) = links
                .try_next()
                .await
                .map_err(|e| format!("listing links: {e}"))?
            {
                if let Some(n) = link_name(&m).filter(|n| is_ours(&prefix, n)) {
                    stale.push(n.to_string());
                }
            }
            for n in &stale {
                delete_link(&h, n).await?;
            }
            Ok(stale)
        })
        .await
        .map_err(|reason| SandboxError::Network {
            name: "(startup)".into(),
            reason,
        })?;
        for n in removed {
            tracing::info!(link = %n, "removed a sandbox link left by an earlier gateway");
        }
        let (prefix, ports) = (config.link_prefix.clone(), config.allowed_tcp_ports.clone());
        let guard = tokio::task::spawn_blocking(move || Guard::install(&prefix, &ports))
            .await
            .map_err(|e| SandboxError::Network {
                name: "(startup)".into(),
                reason: format!("joining the host guard setup: {e}"),
            })?
            .map_err(|reason| SandboxError::Network {
                name: "(startup)".into(),
                reason,
            })?;
        Ok(Self { config, guard })
    }

    /// Creates the veth pair of `slot` and plugs its peer into the netns of `pid`.
    pub async fn attach(&self, name: &str, slot: u32, pid: u32) -> Result<NetLease, SandboxError> {
        let (host, sandbox) = self.config.pool.addresses(slot);
        let host_if = format!("{}{slot}", self.config.link_prefix);
        let err = |reason: String| SandboxError::Network {
            name: name.to_string(),
            reason,
        };
        let h_if = host_if.clone();
        let guard = self.guard.clone();
        let guarded = on_netlink_thread(None, move |h| async move {
            // A link of the same name may linger while an old namespace is torn down.
            delete_link(&h, &h_if).await?;
            // The peer is created directly inside the sandbox's namespace, already named
            // `eth0`: moving an existing device between namespaces costs an RCU grace period
            // (~25 ms), creating it there does not.
            let peer = LinkMessageBuilder::<LinkUnspec>::new()
                .name(SANDBOX_IF.to_string())
                .setns_by_pid(pid)
                .build();
            let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(h_if.clone())
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .build();
            h.link()
                .add(veth)
                .execute()
                .await
                .map_err(|e| format!("creating veth {h_if} with its peer in pid {pid}: {e}"))?;
            let host_idx = index_of(&h, &h_if)
                .await?
                .ok_or_else(|| format!("veth {h_if} vanished"))?;
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{h_if}/disable_ipv6"), "1");
            h.address()
                .add(host_idx, IpAddr::V4(host), 30)
                .execute()
                .await
                .map_err(|e| format!("addressing {h_if}: {e}"))?;
            // Guarded before it carries a single packet.
            let link = GuardedLink {
                ifindex: host_idx,
                host,
                sandbox,
            };
            guard.admit(&link)?;
            h.link()
                .set(LinkUnspec::new_with_index(host_idx).up().build())
                .execute()
                .await
                .map_err(|e| format!("bringing {h_if} up: {e}"))?;
            Ok(link)
        })
        .await
        .map_err(err)?;
        let lease = NetLease {
            host_if,
            host,
            sandbox,
            guarded: Some(guarded),
        };
        on_netlink_thread(Some(pid), move |h| async move {
            // bwrap configures `lo` itself from inside; let it finish before touching the
            // namespace (concurrent requests make its netlink exchange fail).
            wait_for_lo_up(&h).await?;
            let idx = index_of(&h, SANDBOX_IF)
                .await?
                .ok_or_else(|| format!("{SANDBOX_IF} did not arrive in the sandbox"))?;
            let _ = std::fs::write(
                format!("/proc/sys/net/ipv6/conf/{SANDBOX_IF}/disable_ipv6"),
                "1",
            );
            h.address()
                .add(idx, IpAddr::V4(sandbox), 30)
                .execute()
                .await
                .map_err(|e| format!("addressing {SANDBOX_IF}: {e}"))?;
            h.link()
                .set(LinkUnspec::new_with_index(idx).up().build())
                .execute()
                .await
                .map_err(|e| format!("bringing {SANDBOX_IF} up: {e}"))?;
            Ok(())
        })
        .await
        .map_err(err)?;
        Ok(lease)
    }

    /// Removes the sandbox's host-side link (which takes its peer with it), if still there.
    pub async fn detach(&self, lease: NetLease) {
        let name = lease.host_if.clone();
        let peer = format!("{name}p");
        let guard = self.guard.clone();
        let guarded = lease.guarded.clone();
        if let Err(e) = on_netlink_thread(None, move |h| async move {
            // Out of the guard first: once the link is gone its ifindex may be handed out again.
            if let Some(link) = guarded {
                guard.forget(&link)?;
            }
            delete_link(&h, &name).await?;
            delete_link(&h, &peer).await
        })
        .await
        {
            tracing::warn!(link = %lease.host_if, error = %e, "could not remove a sandbox link");
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Every sandbox of the runtime is gone (each reaper holds the runtime).
        self.guard.remove();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognises_only_its_own_link_names() {
        assert!(super::is_ours("gigv", "gigv12"));
        assert!(super::is_ours("gigv", "gigv12p"));
        assert!(!super::is_ours("gigv", "gigv"));
        assert!(!super::is_ours("gigv", "gigvx1"));
        assert!(!super::is_ours("gigv", "eth0"));
    }
}
