//! The sandbox runtime: spawns servers under bwrap, wires cgroups and network, reaps them.
//!
//! Start sequence of one sandbox:
//! 1. take a slot (its own host uid, its own /30), create the cgroup with the limits;
//! 2. fork; in the child, join the cgroup, drop to the slot's host uid (no groups), and exec
//!    bwrap, which builds the namespaces and the read-only root and runs the bootstrap;
//! 3. bwrap reports the sandbox's first pid on `--info-fd`; the runtime moves the veth peer into
//!    that pid's network namespace and configures both ends from the host side;
//! 4. the runtime writes the go byte; the bootstrap drops what is left of its privileges,
//!    installs Landlock and seccomp, and execs the server. If the runtime fails or dies before
//!    step 4, the bootstrap reads EOF and exits without running the server.

use crate::access::{Need, check_usable};
use crate::cgroup::{CgroupLayout, SandboxCgroup};
use crate::command::{
    CommandInputs, ProcMask, RootEntry, bwrap_args, proc_masks, root_entries, substitute_host_addr,
};
use crate::config::RuntimeConfig;
use crate::error::SandboxError;
use crate::host_view::{HostView, VIEW_ROOT};
use crate::net::{NetLease, Network};
use crate::pidfd::PidFd;
use crate::sandbox::{ExitReason, Sandbox, SandboxAddresses, SandboxHandle};
use crate::slots::Slots;
use crate::spec::{ProgramSource, SandboxSpec};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::process::Child;
use tokio::sync::watch;

/// Starts and supervises sandboxes. Cheap to clone (shared state).
#[derive(Clone)]
pub struct SandboxRuntime {
    inner: Arc<Inner>,
}

/// Identities (uid bases, link prefixes, cgroup names) held by live runtimes of this process:
/// two runtimes sharing one would hand out the same uids, addresses or link names.
static CLAIMS: Mutex<Vec<String>> = Mutex::new(Vec::new());

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
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, LiveEntry>>,
}

struct LiveEntry {
    kill: Arc<watch::Sender<bool>>,
    exit: watch::Receiver<Option<ExitReason>>,
}

/// Everything acquired for a sandbox that must be released if it fails or ends.
struct Resources {
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

    async fn start(
        &self,
        spec: &SandboxSpec,
        limits: &crate::Limits,
        res: &mut Resources,
    ) -> Result<Sandbox, SandboxError> {
        let inner = &self.inner;
        let t0 = std::time::Instant::now();
        let uid = inner.config.host_uid_base + res.slot;
        check_usable(uid, &inner.config.bootstrap, Need::ExecFile)?;
        let bootstrap = inner.view.expose(&inner.config.bootstrap)?;
        let (program, entries) = match &spec.program {
            ProgramSource::StaticBinary(p) => {
                check_usable(uid, p, Need::ExecFile)?;
                (Some(inner.view.expose(p)?), Vec::new())
            }
            ProgramSource::Rootfs { dir, .. } => {
                check_usable(uid, dir, Need::Dir)?;
                let root = inner.view.expose(dir)?;
                (None, root_entries(&spec.name, &root)?)
            }
        };
        let entries = &entries;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Some(layout) = &inner.cgroups {
            res.cgroup = Some(layout.create(&format!("{}-{id}", spec.name), limits)?);
        }
        let cg_files = match &res.cgroup {
            Some(cg) => cg.procs_files()?,
            None => Vec::new(),
        };
        let (go_r, go_w) =
            std::io::pipe().map_err(|e| SandboxError::io("creating the go pipe", e))?;
        let (info_r, info_w) =
            std::io::pipe().map_err(|e| SandboxError::io("creating the info pipe", e))?;
        let (go_fd, info_fd) = (go_r.as_raw_fd(), info_w.as_raw_fd());
        if go_fd < 3 || info_fd < 3 {
            return Err(SandboxError::Config(
                "the gateway's stdin/stdout/stderr are closed, so pipe fds collide with them; \
                 start it with fds 0-2 open (e.g. </dev/null)"
                    .into(),
            ));
        }
        let ports = inner
            .config
            .network
            .as_ref()
            .map(|n| n.allowed_tcp_ports.clone())
            .unwrap_or_default();
        let host_addr = inner
            .config
            .network
            .as_ref()
            .map(|n| n.pool.addresses(res.slot).0);
        if let ProgramSource::Rootfs { dir, .. } = &spec.program {
            check_mount_points(spec, dir, entries)?;
        }
        // Each file's contents wait in a pipe that bwrap copies from (they fit its buffer).
        let mut file_pipes = Vec::with_capacity(spec.files.len());
        for f in &spec.files {
            let (r, mut w) =
                std::io::pipe().map_err(|e| SandboxError::io("creating a file pipe", e))?;
            let contents = match std::str::from_utf8(&f.contents) {
                Ok(text) => substitute_host_addr(text, host_addr).into_bytes(),
                Err(_) => f.contents.clone(),
            };
            w.write_all(&contents)
                .map_err(|e| SandboxError::io(format!("passing {} to bwrap", f.path), e))?;
            drop(w);
            file_pipes.push((r, f.path.clone()));
        }
        let file_fds: Vec<(i32, String)> = file_pipes
            .iter()
            .map(|(r, path)| (r.as_raw_fd(), path.clone()))
            .collect();
        if file_fds.iter().any(|(fd, _)| *fd < 3) {
            return Err(SandboxError::Config(
                "the gateway's stdin/stdout/stderr are closed, so pipe fds collide with them; \
                 start it with fds 0-2 open (e.g. </dev/null)"
                    .into(),
            ));
        }
        let args = bwrap_args(&CommandInputs {
            spec,
            limits,
            bootstrap: &bootstrap,
            program: program.as_deref(),
            root_entries: entries,
            go_fd,
            info_fd,
            allowed_tcp_ports: &ports,
            proc_masks: &inner.proc_masks,
            host_addr,
            file_fds: &file_fds,
        });
        let mut cmd = tokio::process::Command::new(&inner.bwrap);
        cmd.args(&args)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let cg_fds: Vec<i32> = cg_files.iter().map(|f| f.as_raw_fd()).collect();
        let inherit: Vec<i32> = [go_fd, info_fd]
            .into_iter()
            .chain(file_fds.iter().map(|(fd, _)| *fd))
            .collect();
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe system calls (write, fcntl, setgroups, setresgid, setresuid, prctl)
        // on values captured by copy; it allocates nothing (io::Error::last_os_error does not).
        unsafe {
            cmd.pre_exec(move || {
                for fd in &cg_fds {
                    // Writing "0" moves the writing process into the cgroup.
                    if libc::write(*fd, c"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if libc::setgroups(0, std::ptr::null()) == -1
                    || libc::setresgid(uid, uid, uid) == -1
                    || libc::setresuid(uid, uid, uid) == -1
                {
                    return Err(std::io::Error::last_os_error());
                }
                // Changing credentials cleared any parent-death signal; bwrap sets its own for
                // its children (--die-with-parent), this one covers bwrap itself.
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) == -1
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| SandboxError::StartFailed {
            name: spec.name.clone(),
            reason: format!("cannot execute {}: {e}", inner.bwrap.display()),
        })?;
        drop(info_w);
        drop(cg_files);
        drop(file_pipes);
        // The bootstrap must see EOF on its go fd if we go away, so we keep only the write end.
        drop(go_r);
        let t_spawned = t0.elapsed();
        let mut t_info = std::time::Duration::ZERO;
        let started = async {
            let child_pid =
                read_child_pid(info_r)
                    .await
                    .map_err(|reason| SandboxError::StartFailed {
                        name: spec.name.clone(),
                        reason,
                    })?;
            t_info = t0.elapsed();
            if let Some(net) = &inner.network {
                res.net = Some(net.attach(&spec.name, res.slot, child_pid).await?);
            }
            Ok::<u32, SandboxError>(child_pid)
        };
        let outcome = tokio::time::timeout(inner.config.start_timeout, started).await;
        let child_pid = match outcome {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => return Err(fail_child(&mut child, spec, e).await),
            Err(_) => {
                let e = SandboxError::StartFailed {
                    name: spec.name.clone(),
                    reason: format!(
                        "bwrap did not start the sandbox within {:?}",
                        inner.config.start_timeout
                    ),
                };
                return Err(fail_child(&mut child, spec, e).await);
            }
        };
        // The sandbox's init is bwrap's unreaped child, so its pid cannot have been reused yet.
        let init = match PidFd::open(child_pid) {
            Ok(p) => p,
            Err(e) => {
                let e = SandboxError::io("opening a pidfd for the sandbox", e);
                return Err(fail_child(&mut child, spec, e).await);
            }
        };
        let mut go_w = go_w;
        if let Err(e) = go_w.write_all(b"G") {
            let e = SandboxError::io("sending the go signal to the bootstrap", e);
            return Err(fail_child(&mut child, spec, e).await);
        }
        drop(go_w);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let e = SandboxError::StartFailed {
                name: spec.name.clone(),
                reason: "stdio pipes missing".into(),
            };
            return Err(fail_child(&mut child, spec, e).await);
        };
        let pid = child.id().unwrap_or_default();
        let addresses = res.net.as_ref().map(|n| {
            let (host, sandbox) = n.addresses();
            SandboxAddresses { host, sandbox }
        });
        let (kill_tx, kill_rx) = watch::channel(false);
        let kill_tx = Arc::new(kill_tx);
        let (exit_tx, exit_rx) = watch::channel(None);
        inner.live.lock().unwrap_or_else(|e| e.into_inner()).insert(
            id,
            LiveEntry {
                kill: kill_tx.clone(),
                exit: exit_rx.clone(),
            },
        );
        let taken = Resources {
            slot: res.slot,
            cgroup: res.cgroup.take(),
            net: res.net.take(),
        };
        // The slot now belongs to the reaper; make `spawn` not release it again.
        res.slot = u32::MAX;
        // Built before the task is spawned: a task dropped unpolled still cleans up.
        let guard = ReapGuard {
            inner: self.inner.clone(),
            id,
            child,
            init,
            res: Some(taken),
        };
        tokio::spawn(reap(guard, kill_rx, exit_tx));
        tracing::debug!(
            sandbox = %spec.name, pid, child_pid,
            fork_us = t_spawned.as_micros() as u64,
            info_us = t_info.as_micros() as u64,
            go_us = t0.elapsed().as_micros() as u64,
            "sandbox started"
        );
        Ok(Sandbox {
            stdin,
            stdout,
            stderr,
            handle: SandboxHandle {
                name: spec.name.clone(),
                pid,
                child_pid,
                addresses,
                kill: kill_tx,
                exit: exit_rx,
            },
        })
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

/// Frees a sandbox's resources synchronously if its reaper is dropped before finishing (its
/// tokio runtime shut down): kills and reaps bwrap (a zombie would keep the cgroup busy), removes
/// the cgroup and frees the slot; the veth goes with the network namespace.
struct ReapGuard {
    inner: Arc<Inner>,
    id: u64,
    child: Child,
    init: PidFd,
    res: Option<Resources>,
}

impl Drop for ReapGuard {
    fn drop(&mut self) {
        let Some(mut res) = self.res.take() else {
            return;
        };
        // Kill the sandbox's init first: bwrap reaps it and exits, so no zombie is orphaned to
        // a host reaper while still counted in the cgroup. bwrap itself only as a last resort.
        self.init.kill();
        for i in 0..150 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            if i == 100 {
                let _ = self.child.start_kill();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if let Some(cg) = res.cgroup.take() {
            cg.destroy_blocking();
        }
        self.inner.slots.release(res.slot);
        self.inner
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

async fn reap(
    mut guard: ReapGuard,
    mut kill_rx: watch::Receiver<bool>,
    exit_tx: watch::Sender<Option<ExitReason>>,
) {
    let (inner, id) = (guard.inner.clone(), guard.id);
    // After a kill request: the init's SIGKILL, then bwrap's if it has not exited by then.
    let mut escalate: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut killed = false;
    let status = loop {
        tokio::select! {
            status = guard.child.wait() => break status,
            changed = kill_rx.changed(), if !killed => {
                if changed.is_err() || *kill_rx.borrow() {
                    killed = true;
                    guard.init.kill();
                    escalate = Some(Box::pin(tokio::time::sleep(std::time::Duration::from_secs(1))));
                }
            }
            () = async { escalate.as_mut().expect("guarded").await }, if escalate.is_some() => {
                escalate = None;
                let _ = guard.child.start_kill();
            }
        }
    };
    let res_ref = guard
        .res
        .as_ref()
        .expect("resources present until released");
    let oom = res_ref
        .cgroup
        .as_ref()
        .is_some_and(SandboxCgroup::oom_killed);
    let reason = match status {
        _ if oom => ExitReason::OutOfMemory,
        _ if killed => ExitReason::Killed,
        Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
            (Some(c), _) => ExitReason::Exited(c),
            (None, Some(sig)) => ExitReason::Signaled(sig),
            (None, None) => ExitReason::Killed,
        },
        Err(e) => {
            tracing::warn!(error = %e, "waiting for a sandbox failed");
            ExitReason::Killed
        }
    };
    if let Some(res) = guard.res.take() {
        inner.release(res).await;
    }
    inner
        .live
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    drop(guard);
    let _ = exit_tx.send(Some(reason));
}

async fn fail_child(child: &mut Child, spec: &SandboxSpec, err: SandboxError) -> SandboxError {
    let _ = child.start_kill();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            (&mut e).take(4096).read_to_end(&mut buf),
        )
        .await;
        stderr = String::from_utf8_lossy(&buf).trim().to_string();
    }
    let _ = child.wait().await;
    if stderr.is_empty() {
        err
    } else {
        SandboxError::StartFailed {
            name: spec.name.clone(),
            reason: format!("{err}; bwrap said: {stderr}"),
        }
    }
}

/// Reads bwrap's `--info-fd` JSON (bounded) and returns `child-pid`.
async fn read_child_pid(info: std::io::PipeReader) -> Result<u32, String> {
    let fd: OwnedFd = info.into();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::from(fd);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = file
                .read(&mut chunk)
                .map_err(|e| format!("reading bwrap's info fd: {e}"))?;
            if n == 0 || buf.len() + n > 64 * 1024 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&buf) {
                return v
                    .get("child-pid")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| format!("bwrap info has no child-pid: {v}"));
            }
        }
        Err("bwrap exited before reporting the sandbox pid".to_string())
    })
    .await
    .map_err(|e| format!("joining the info reader: {e}"))?
}

/// A file destined for a directory bound read-only from the image needs an entry there to be
/// mounted over: bwrap cannot create one in a read-only tree.
fn check_mount_points(
    spec: &SandboxSpec,
    dir: &Path,
    entries: &[RootEntry],
) -> Result<(), SandboxError> {
    for f in &spec.files {
        let rel = f.path.trim_start_matches('/');
        let top = rel.split('/').next().unwrap_or_default();
        let from_image = entries.iter().any(|e| match e {
            RootEntry::Bind { name, .. } | RootEntry::Symlink { name, .. } => name == top,
        });
        if !from_image || rel == top {
            continue;
        }
        let target = dir.join(rel);
        let ok = std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_file())
            && std::fs::symlink_metadata(dir.join(top)).is_ok_and(|m| m.is_dir());
        if !ok {
            return Err(SandboxError::InvalidSpec {
                name: spec.name.clone(),
                reason: format!(
                    "rootfs {} has no regular file at {} to mount the sandbox's own copy over; \
                     create an empty one there (the OCI puller does this for its mount points)",
                    dir.display(),
                    f.path
                ),
            });
        }
    }
    Ok(())
}

fn resolve_in_path(p: &Path) -> Option<PathBuf> {
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
}

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
