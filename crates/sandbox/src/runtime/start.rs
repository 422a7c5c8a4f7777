//! The start sequence of one sandbox, as [`SandboxRuntime::start`] runs it:
//! 1. `spawn` takes a slot (its own host uid, its own /30); the bootstrap and the program are
//!    exposed in the host view, the cgroup is created with the limits, and the pipes bwrap
//!    inherits are opened (the go and info pipes, one more per file copied in);
//! 2. fork; in the child, join the cgroup, drop to the slot's host uid (no groups), and exec
//!    bwrap, which builds the namespaces and the read-only root and runs the bootstrap;
//! 3. bwrap reports the sandbox's first pid on `--info-fd`; the runtime creates the veth peer in
//!    that pid's network namespace and configures both ends from the host side;
//! 4. the runtime writes the go byte; the bootstrap drops what is left of its privileges,
//!    installs Landlock and seccomp, and execs the server. If the runtime fails or dies before
//!    step 4, the bootstrap reads EOF and exits without running the server;
//! 5. a reaper ([`super::reaper`]) takes over bwrap, the init's pidfd and the resources.
//!
//! If a step after the fork fails, bwrap is killed and what it wrote to stderr joins the error.
//! Whatever `Resources` holds when a step fails is released by `spawn`.

use super::{Inner, Resources, SandboxRuntime, reaper};
use crate::access::{Need, check_usable};
use crate::command::{CommandInputs, RootEntry, bwrap_args, root_entries, substitute_host_addr};
use crate::config::Limits;
use crate::error::SandboxError;
use crate::pidfd::PidFd;
use crate::sandbox::{Sandbox, SandboxAddresses, SandboxHandle};
use crate::spec::{ProgramSource, SandboxSpec};
use std::fs::File;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

impl SandboxRuntime {
    /// Runs the start sequence (see the module doc) for `spec` in the slot `res` holds. What it
    /// acquires goes into `res`: `spawn` releases it if this fails, the reaper once it succeeds.
    pub(super) async fn start(
        &self,
        spec: &SandboxSpec,
        limits: &Limits,
        res: &mut Resources,
    ) -> Result<Sandbox, SandboxError> {
        let inner = &self.inner;
        let t0 = Instant::now();
        // 1. The host objects, the cgroup, and the pipes bwrap inherits.
        let uid = inner.config.host_uid_base + res.slot;
        let exposed = inner.expose_objects(spec, uid)?;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let cgroup_procs = inner.create_cgroup(spec, id, limits, res)?;
        let handshake = Handshake::open()?;
        let host_addr = inner
            .config
            .network
            .as_ref()
            .map(|n| n.pool.addresses(res.slot).0);
        let files = prepare_files(spec, &exposed.root_entries, host_addr)?;
        let prepared = Prepared {
            uid,
            host_addr,
            exposed,
            cgroup_procs,
            handshake,
            files,
        };
        // 2. Fork; the child joins the cgroup, drops to `uid` and execs bwrap.
        let cmd = inner.bwrap_command(spec, limits, &prepared);
        let (mut child, mut go_w, info_r) = inner.spawn_bwrap(cmd, spec, prepared)?;
        let spawned_at = t0.elapsed();
        // 3. and 4. The sandbox's pid and network, then the go byte.
        let released = match inner
            .bring_up(spec, res, &mut child, info_r, &mut go_w, t0)
            .await
        {
            Ok(released) => released,
            // `go_w` is still open: bwrap is killed while the bootstrap waits for its go byte.
            Err(e) => return Err(fail_child(&mut child, spec, e).await),
        };
        drop(go_w);
        // 5. The reaper takes over.
        let info_at = released.info_at;
        let sandbox = self.hand_over(spec, id, child, released, res);
        tracing::debug!(
            sandbox = %spec.name, pid = sandbox.handle.pid, child_pid = sandbox.handle.child_pid,
            fork_us = spawned_at.as_micros() as u64,
            info_us = info_at.as_micros() as u64,
            go_us = t0.elapsed().as_micros() as u64,
            "sandbox started"
        );
        Ok(sandbox)
    }
}

/// The host-view paths bwrap binds a sandbox's objects from.
struct Exposed {
    bootstrap: PathBuf,
    /// The server binary ([`ProgramSource::StaticBinary`]).
    program: Option<PathBuf>,
    /// The image root's top-level entries ([`ProgramSource::Rootfs`]), bound from the view.
    root_entries: Vec<RootEntry>,
}

/// The pipes of the start handshake: bwrap inherits one end of each, the runtime keeps the other.
struct Handshake {
    /// The bootstrap waits on it for the go byte (`--go-fd`); EOF means abort.
    go_r: PipeReader,
    go_w: PipeWriter,
    info_r: PipeReader,
    /// bwrap reports the sandbox's first pid on it, as JSON (`--info-fd`).
    info_w: PipeWriter,
}

/// A file bwrap copies into the sandbox: a pipe holding its contents, and its path there.
type FilePipe = (PipeReader, String);

/// What step 1 prepared, held open until bwrap has been forked.
struct Prepared {
    /// The slot's host uid, also its gid.
    uid: u32,
    /// The host side of the slot's /30, if networking is on.
    host_addr: Option<Ipv4Addr>,
    exposed: Exposed,
    /// The cgroup's `cgroup.procs` file(s), open for writing (close-on-exec).
    cgroup_procs: Vec<File>,
    handshake: Handshake,
    files: Vec<FilePipe>,
}

/// A sandbox whose server has been released (step 4), not yet handed to its reaper.
struct Released {
    /// Host pid of the sandbox's init.
    child_pid: u32,
    init: PidFd,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: ChildStderr,
    /// When bwrap reported `child_pid`, counted from the start of `start`.
    info_at: Duration,
}

impl Inner {
    /// Step 1: checks that the slot's `uid` can use the bootstrap and the program as "other" (the
    /// error names the fix) and exposes them in the host view.
    fn expose_objects(&self, spec: &SandboxSpec, uid: u32) -> Result<Exposed, SandboxError> {
        check_usable(uid, &self.config.bootstrap, Need::ExecFile)?;
        let bootstrap = self.view.expose(&self.config.bootstrap)?;
        let (program, entries) = match &spec.program {
            ProgramSource::StaticBinary(p) => {
                check_usable(uid, p, Need::ExecFile)?;
                (Some(self.view.expose(p)?), Vec::new())
            }
            ProgramSource::Rootfs { dir, .. } => {
                check_usable(uid, dir, Need::Dir)?;
                let root = self.view.expose(dir)?;
                (None, root_entries(&spec.name, &root)?)
            }
        };
        Ok(Exposed {
            bootstrap,
            program,
            root_entries: entries,
        })
    }

    /// Step 1: creates the sandbox's cgroup with `limits` (kept in `res`) and opens the
    /// `cgroup.procs` file(s) the forked child writes to join it; none without cgroups.
    fn create_cgroup(
        &self,
        spec: &SandboxSpec,
        id: u64,
        limits: &Limits,
        res: &mut Resources,
    ) -> Result<Vec<File>, SandboxError> {
        if let Some(layout) = &self.cgroups {
            res.cgroup = Some(layout.create(&format!("{}-{id}", spec.name), limits)?);
        }
        match &res.cgroup {
            Some(cg) => cg.procs_files(),
            None => Ok(Vec::new()),
        }
    }
}

impl Handshake {
    /// Step 1: opens the go and the info pipe.
    fn open() -> Result<Self, SandboxError> {
        let (go_r, go_w) =
            std::io::pipe().map_err(|e| SandboxError::io("creating the go pipe", e))?;
        let (info_r, info_w) =
            std::io::pipe().map_err(|e| SandboxError::io("creating the info pipe", e))?;
        if go_r.as_raw_fd() < 3 || info_w.as_raw_fd() < 3 {
            return Err(stdio_closed());
        }
        Ok(Self {
            go_r,
            go_w,
            info_r,
            info_w,
        })
    }
}

/// Step 1: checks that each of `spec.files` that lands in an image directory has an entry there
/// to be mounted over, then writes each file's contents (with the host address substituted into
/// text) into a pipe of its own, whose buffer holds them until bwrap copies them in.
fn prepare_files(
    spec: &SandboxSpec,
    root_entries: &[RootEntry],
    host_addr: Option<Ipv4Addr>,
) -> Result<Vec<FilePipe>, SandboxError> {
    if let ProgramSource::Rootfs { dir, .. } = &spec.program {
        check_mount_points(spec, dir, root_entries)?;
    }
    let mut pipes = Vec::with_capacity(spec.files.len());
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
        pipes.push((r, f.path.clone()));
    }
    if pipes.iter().any(|(r, _)| r.as_raw_fd() < 3) {
        return Err(stdio_closed());
    }
    Ok(pipes)
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

/// The error for pipe fds that landed on 0-2, which bwrap's stdio takes over.
fn stdio_closed() -> SandboxError {
    SandboxError::Config(
        "the gateway's stdin/stdout/stderr are closed, so pipe fds collide with them; \
         start it with fds 0-2 open (e.g. </dev/null)"
            .into(),
    )
}

impl Inner {
    /// Step 2: the bwrap command for the sandbox: stdio piped, an empty environment, and
    /// [`enter_sandbox_identity`] run in the forked child before exec.
    fn bwrap_command(&self, spec: &SandboxSpec, limits: &Limits, p: &Prepared) -> Command {
        let (go_fd, info_fd) = (p.handshake.go_r.as_raw_fd(), p.handshake.info_w.as_raw_fd());
        let file_fds: Vec<(RawFd, String)> = p
            .files
            .iter()
            .map(|(r, path)| (r.as_raw_fd(), path.clone()))
            .collect();
        let ports = self
            .config
            .network
            .as_ref()
            .map_or(&[][..], |n| &n.allowed_tcp_ports);
        let args = bwrap_args(&CommandInputs {
            spec,
            limits,
            bootstrap: &p.exposed.bootstrap,
            program: p.exposed.program.as_deref(),
            root_entries: &p.exposed.root_entries,
            go_fd,
            info_fd,
            allowed_tcp_ports: ports,
            proc_masks: &self.proc_masks,
            host_addr: p.host_addr,
            file_fds: &file_fds,
        });
        let mut cmd = Command::new(&self.bwrap);
        cmd.args(&args)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let cgroup_fds: Vec<RawFd> = p.cgroup_procs.iter().map(AsRawFd::as_raw_fd).collect();
        let inherit: Vec<RawFd> = [go_fd, info_fd]
            .into_iter()
            .chain(file_fds.iter().map(|(fd, _)| *fd))
            .collect();
        let uid = p.uid;
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
        // calls are sound; it only calls `enter_sandbox_identity`, which makes nothing but such
        // system calls, allocates nothing and takes no lock, on the fd lists the closure owns
        // (fork copied them) and `uid` by copy.
        unsafe {
            cmd.pre_exec(move || enter_sandbox_identity(&cgroup_fds, &inherit, uid));
        }
        cmd
    }

    /// Step 2: forks and execs bwrap, then closes the pipe ends and files only the child needs.
    /// The bootstrap must see EOF on its go fd if the runtime goes away, so the runtime keeps
    /// only the go pipe's write end. Returns bwrap, that write end and the info pipe's read end.
    fn spawn_bwrap(
        &self,
        mut cmd: Command,
        spec: &SandboxSpec,
        prepared: Prepared,
    ) -> Result<(Child, PipeWriter, PipeReader), SandboxError> {
        let child = cmd.spawn().map_err(|e| SandboxError::StartFailed {
            name: spec.name.clone(),
            reason: format!("cannot execute {}: {e}", self.bwrap.display()),
        })?;
        let Prepared {
            cgroup_procs,
            handshake:
                Handshake {
                    go_r,
                    go_w,
                    info_r,
                    info_w,
                },
            files,
            ..
        } = prepared;
        drop(info_w);
        drop(cgroup_procs);
        drop(files);
        drop(go_r);
        Ok((child, go_w, info_r))
    }
}

/// Step 2, in the forked child: joins the sandbox's cgroup (`cgroup_procs`), clears close-on-exec
/// on the fds bwrap inherits (`inherit`), drops to the slot's host `uid` and gid with no
/// supplementary groups, and asks for SIGKILL when the parent (the spawning thread) dies.
///
/// Contract, since it runs between fork and exec (as `pre_exec`) in the child of a multithreaded
/// process: it only makes async-signal-safe system calls (write, fcntl, setgroups, setresgid,
/// setresuid, prctl; std's child makes the same kind of calls for `CommandExt::uid`), allocates
/// nothing (`io::Error::last_os_error` does not) and takes no lock. Run anywhere else, it would
/// move the calling process into the sandbox's cgroup and identity for good.
fn enter_sandbox_identity(
    cgroup_procs: &[RawFd],
    inherit: &[RawFd],
    uid: u32,
) -> std::io::Result<()> {
    for &fd in cgroup_procs {
        // Writing "0" moves the writing process into the cgroup.
        // SAFETY: write(2) reads one byte from a static C string, a valid buffer of 2 bytes; an
        // fd that is not open fails with EBADF and touches no memory.
        if unsafe { libc::write(fd, c"0".as_ptr().cast(), 1) } != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for &fd in inherit {
        // SAFETY: fcntl(F_SETFD, 0) takes integers only and changes nothing but the fd's flags.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: with a size of 0, setgroups(2) reads no list, so the null pointer is never used.
    if unsafe { libc::setgroups(0, std::ptr::null()) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: setresgid(2) takes integers only and touches no memory.
    if unsafe { libc::setresgid(uid, uid, uid) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: setresuid(2) takes integers only and touches no memory.
    if unsafe { libc::setresuid(uid, uid, uid) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // Changing credentials cleared any parent-death signal; bwrap sets its own for its children
    // (--die-with-parent), this one covers bwrap itself.
    let signal = libc::SIGKILL as libc::c_ulong;
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integer arguments only and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Inner {
    /// Steps 3 and 4, whose failure means bwrap must be killed (`start` does): the sandbox's pid
    /// and network, a pidfd pinning its init, the go byte, and bwrap's stdio.
    async fn bring_up(
        &self,
        spec: &SandboxSpec,
        res: &mut Resources,
        child: &mut Child,
        info_r: PipeReader,
        go_w: &mut PipeWriter,
        t0: Instant,
    ) -> Result<Released, SandboxError> {
        let (child_pid, info_at) = self.attach_network(spec, res, info_r, t0).await?;
        // The sandbox's init is bwrap's unreaped child, so its pid cannot have been reused yet.
        let init = PidFd::open(child_pid)
            .map_err(|e| SandboxError::io("opening a pidfd for the sandbox", e))?;
        release_server(go_w)?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SandboxError::StartFailed {
                name: spec.name.clone(),
                reason: "stdio pipes missing".into(),
            });
        };
        Ok(Released {
            child_pid,
            init,
            stdin,
            stdout,
            stderr,
            info_at,
        })
    }

    /// Step 3: waits for bwrap to report the sandbox's first pid on the info pipe, then attaches
    /// the slot's veth pair (kept in `res`) to that pid's network namespace, both within
    /// `start_timeout`. Returns the pid and when it was reported, counted from `t0`.
    async fn attach_network(
        &self,
        spec: &SandboxSpec,
        res: &mut Resources,
        info_r: PipeReader,
        t0: Instant,
    ) -> Result<(u32, Duration), SandboxError> {
        let mut info_at = Duration::ZERO;
        let attached = async {
            let child_pid =
                read_child_pid(info_r)
                    .await
                    .map_err(|reason| SandboxError::StartFailed {
                        name: spec.name.clone(),
                        reason,
                    })?;
            info_at = t0.elapsed();
            if let Some(net) = &self.network {
                res.net = Some(net.attach(&spec.name, res.slot, child_pid).await?);
            }
            Ok::<u32, SandboxError>(child_pid)
        };
        let outcome = tokio::time::timeout(self.config.start_timeout, attached).await;
        match outcome {
            Ok(Ok(child_pid)) => Ok((child_pid, info_at)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SandboxError::StartFailed {
                name: spec.name.clone(),
                reason: format!(
                    "bwrap did not start the sandbox within {:?}",
                    self.config.start_timeout
                ),
            }),
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

/// Step 4: writes the go byte; the bootstrap then confines itself and execs the server.
fn release_server(go_w: &mut PipeWriter) -> Result<(), SandboxError> {
    go_w.write_all(b"G")
        .map_err(|e| SandboxError::io("sending the go signal to the bootstrap", e))
}

/// Kills bwrap after a failed step and waits for it; what it wrote to stderr (the first 4 KiB,
/// read for at most 500 ms) joins the error.
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

impl SandboxRuntime {
    /// Step 5: moves what `res` holds to a reaper for bwrap (`child`) and the sandbox's init, and
    /// returns the sandbox's stdio with its handle.
    fn hand_over(
        &self,
        spec: &SandboxSpec,
        id: u64,
        child: Child,
        released: Released,
        res: &mut Resources,
    ) -> Sandbox {
        let pid = child.id().unwrap_or_default();
        let addresses = res.net.as_ref().map(|n| {
            let (host, sandbox) = n.addresses();
            SandboxAddresses { host, sandbox }
        });
        let taken = Resources {
            slot: res.slot,
            cgroup: res.cgroup.take(),
            net: res.net.take(),
        };
        // The slot now belongs to the reaper; make `spawn` not release it again.
        res.slot = u32::MAX;
        let (kill, exit) = reaper::supervise(&self.inner, id, child, released.init, taken);
        Sandbox {
            stdin: released.stdin,
            stdout: released.stdout,
            stderr: released.stderr,
            handle: SandboxHandle {
                name: spec.name.clone(),
                pid,
                child_pid: released.child_pid,
                addresses,
                kill,
                exit,
            },
        }
    }
}
