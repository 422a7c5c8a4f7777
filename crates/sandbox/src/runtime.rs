//! The sandbox runtime: spawns servers under bwrap, wires cgroups and network, reaps them.
//!
//! This file holds what a runtime shares between its sandboxes (slots, cgroup layout, network,
//! host view, the table of live sandboxes), [`SandboxRuntime::new`], `spawn` and `shutdown`.
//! One sandbox's life is in the two submodules: [`start`] takes it from a free slot to a released
//! server (the start sequence is documented there); [`reaper`] waits for it to end, kills it on
//! request and frees what it held.

mod reaper;
mod start;

use crate::access::{Need, check_usable};
use crate::cgroup::{CgroupLayout, SandboxCgroup};
use crate::command::{ProcMask, proc_masks};
use crate::config::RuntimeConfig;
use crate::error::SandboxError;
use crate::host_view::{HostView, VIEW_ROOT};
use crate::net::{NetLease, Network};
use crate::sandbox::{ExitReason, Sandbox};
use crate::slots::Slots;
use crate::spec::SandboxSpec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Starts and supervises sandboxes. Cheap to clone (shared state).
#[derive(Clone)]
pub struct SandboxRuntime {
    inner: Arc<Inner>,
}

/// Identities (uid bases, link prefixes, cgroup names) held by live runtimes of this process:
/// two runtimes sharing one would hand out the same uids, addresses or link names.
static CLAIMS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The keys of [`CLAIMS`] one runtime holds, given back when it is dropped.
struct Claim(Vec<String>);

impl Claim {
    fn take(config: &RuntimeConfig) -> Result<Self, SandboxError> {
        let mut keys = vec![
            format!("uid base {}", config.host_uid_base),
            format!("cgroup {}", config.cgroup_name),
        ];
        if let Some(n) = &config.network {
            keys.push(format!("link prefix {}", n.link_prefix));
            keys.push(format!("address pool {}", n.pool));
        }
        let mut held = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = keys.iter().find(|k| held.contains(k)) {
            return Err(SandboxError::Config(format!(
                "another SandboxRuntime in this process already uses {k}; share one runtime \
                 (it is Clone) or give each its own host_uid_base, cgroup_name, link prefix and pool"
            )));
        }
        held.extend(keys.iter().cloned());
        Ok(Self(keys))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k| !self.0.contains(k));
    }
}

/// The state a runtime shares with every sandbox's reaper.
struct Inner {
    _claim: Claim,
    config: RuntimeConfig,
    bwrap: PathBuf,
    slots: Slots,
    cgroups: Option<CgroupLayout>,
    network: Option<Network>,
    /// Where bwrap finds the bootstrap, server binaries and image roots.
    view: HostView,
    proc_masks: Vec<ProcMask>,
    /// Numbers the sandboxes' cgroups and live entries.
    next_id: AtomicU64,
    /// The sandboxes whose reaper has not finished, by id.
    live: Mutex<HashMap<u64, LiveEntry>>,
}

/// A live sandbox as `shutdown` sees it: its kill switch and its exit reason, once known.
struct LiveEntry {
    kill: Arc<watch::Sender<bool>>,
    exit: watch::Receiver<Option<ExitReason>>,
}

/// Everything acquired for a sandbox that must be released if it fails or ends.
struct Resources {
    /// `u32::MAX` once the slot has been handed to the reaper.
    slot: u32,
    cgroup: Option<SandboxCgroup>,
    net: Option<NetLease>,
}

impl SandboxRuntime {
    /// Checks bwrap and the bootstrap, finds the cgroup hierarchy, and removes links and cgroups
    /// a crashed gateway left behind.
    pub async fn new(config: RuntimeConfig) -> Result<Self, SandboxError> {
        let bwrap = resolve_in_path(&config.bwrap).ok_or_else(|| SandboxError::BwrapMissing {
            path: config.bwrap.clone(),
            reason: "not found".into(),
        })?;
        let out = std::process::Command::new(&bwrap)
            .arg("--version")
            .output()
            .map_err(|e| SandboxError::BwrapMissing {
                path: bwrap.clone(),
                reason: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(SandboxError::BwrapMissing {
                path: bwrap,
                reason: format!(
                    "`--version` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        check_bootstrap(&config)?;
        config
            .default_limits
            .validate()
            .map_err(SandboxError::Config)?;
        let mut capacity = config.max_sandboxes;
        if let Some(net) = &config.network {
            capacity = capacity.min(net.pool.slots());
        }
        if config.host_uid_base < 65536 || config.host_uid_base.checked_add(capacity).is_none() {
            return Err(SandboxError::Config(format!(
                "host_uid_base {} must be >= 65536 and leave room for {capacity} uids",
                config.host_uid_base
            )));
        }
        let claim = Claim::take(&config)?;
        let cgroups = if config.cgroups {
            Some(CgroupLayout::detect(&config.cgroup_name)?)
        } else {
            None
        };
        if config.cgroup_name.is_empty() || config.cgroup_name.contains(['/', '\0']) {
            return Err(SandboxError::Config(format!(
                "cgroup_name `{}` must be a plain directory name",
                config.cgroup_name
            )));
        }
        let view = HostView::create(&Path::new(VIEW_ROOT).join(&config.cgroup_name))?;
        let network = match &config.network {
            Some(n) => Some(Network::new(n.clone()).await?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                _claim: claim,
                bwrap,
                slots: Slots::new(capacity),
                cgroups,
                network,
                view,
                proc_masks: proc_masks(),
                next_id: AtomicU64::new(1),
                live: Mutex::new(HashMap::new()),
                config,
            }),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Number of sandboxes currently running (or still being cleaned up).
    pub fn running(&self) -> usize {
        self.inner
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Starts `spec` in a new sandbox; returns once the server has been released to run.
    pub async fn spawn(&self, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        spec.validate()?;
        let inner = &self.inner;
        let limits = spec.limits.unwrap_or(inner.config.default_limits);
        limits
            .validate()
            .map_err(|reason| SandboxError::InvalidSpec {
                name: spec.name.clone(),
                reason,
            })?;
        let slot = inner.slots.acquire().ok_or(SandboxError::PoolExhausted {
            capacity: inner.slots.capacity(),
        })?;
        let mut res = Resources {
            slot,
            cgroup: None,
            net: None,
        };
        match self.start(spec, &limits, &mut res).await {
            Ok(sb) => Ok(sb),
            Err(e) => {
                inner.release(res).await;
                Err(e)
            }
        }
    }

    /// Kills every sandbox of this runtime and waits until each is cleaned up (no process,
    /// link or cgroup left).
    pub async fn shutdown(&self) {
        let entries: Vec<LiveEntry> = self
            .inner
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|e| LiveEntry {
                kill: e.kill.clone(),
                exit: e.exit.clone(),
            })
            .collect();
        for e in &entries {
            let _ = e.kill.send(true);
        }
        for LiveEntry { mut exit, .. } in entries {
            while exit.borrow_and_update().is_none() {
                if exit.changed().await.is_err() {
                    break;
                }
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Every reaper holds the Inner, so no sandbox of this runtime is left.
        if let Some(layout) = &self.cgroups {
            layout.remove_parents();
        }
    }
}

impl Inner {
    /// Removes the cgroup, the veth pair and frees the slot (unless handed over).
    async fn release(&self, mut res: Resources) {
        if let Some(cg) = res.cgroup.take()
            && let Err(e) = cg.destroy().await
        {
            tracing::warn!(error = %e, "could not remove a sandbox cgroup");
        }
        if let (Some(lease), Some(net)) = (res.net.take(), &self.network) {
            net.detach(lease).await;
        }
        if res.slot != u32::MAX {
            self.slots.release(res.slot);
        }
    }
}

/// `p` itself if it has a directory part, else the first file of that name on `PATH`.
fn resolve_in_path(p: &Path) -> Option<PathBuf> {
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
}

/// The bootstrap must be an absolute path to a static ELF that the sandboxes' uids can execute.
fn check_bootstrap(config: &RuntimeConfig) -> Result<(), SandboxError> {
    let path = &config.bootstrap;
    let bad = |reason: String| SandboxError::Bootstrap {
        path: path.clone(),
        reason,
    };
    if !path.is_absolute() {
        return Err(bad("the path must be absolute".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if !crate::elf::is_static(&bytes) {
        return Err(bad(
            "it is not a statically linked x86_64/aarch64 ELF (the sandbox root has no libc)"
                .into(),
        ));
    }
    check_usable(config.host_uid_base, path, Need::ExecFile).map_err(|e| bad(e.to_string()))
}
