//! A running sandbox: its stdio, and a handle to wait for or end it.

use std::net::Ipv4Addr;
use std::sync::Arc;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::watch;

/// Why a sandbox ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The sandbox's main process exited with this status. bwrap reports a server killed by
    /// signal N as 128+N; the bootstrap exits 125 when a privilege-dropping step fails, 126/127
    /// when the server cannot be executed or found.
    Exited(i32),
    /// bwrap itself was killed by this signal.
    Signaled(i32),
    /// The kernel's OOM killer ended a process of the sandbox (memory limit reached).
    OutOfMemory,
    /// Ended by [`SandboxHandle::kill`], by dropping the handle, or by runtime shutdown.
    Killed,
}

impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitReason::Exited(125) => {
                write!(
                    f,
                    "the sandbox bootstrap refused to start the server (status 125)"
                )
            }
            ExitReason::Exited(c) => write!(f, "the server exited with status {c}"),
            ExitReason::Signaled(s) => write!(f, "the sandbox was killed by signal {s}"),
            ExitReason::OutOfMemory => write!(f, "the server ran out of memory (OOM-killed)"),
            ExitReason::Killed => write!(f, "the sandbox was stopped"),
        }
    }
}

/// Addresses of a sandbox's veth pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxAddresses {
    /// The host side (where the egress proxy listens for this sandbox).
    pub host: Ipv4Addr,
    /// The sandbox side (the source address of everything the sandbox sends).
    pub sandbox: Ipv4Addr,
}

/// A running sandbox. Dropping it (or its `handle`) kills the sandbox; to keep it while handing
/// the pipes elsewhere, destructure it: `let Sandbox { stdin, stdout, stderr, handle } = sb;`.
pub struct Sandbox {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    pub handle: SandboxHandle,
}

impl Sandbox {
    /// Host pid of the sandbox's bwrap process.
    pub fn pid(&self) -> u32 {
        self.handle.pid()
    }

    pub fn addresses(&self) -> Option<SandboxAddresses> {
        self.handle.addresses()
    }

    pub async fn wait(&self) -> ExitReason {
        self.handle.wait().await
    }

    pub fn kill(&self) {
        self.handle.kill()
    }
}

/// Controls one sandbox; killing it on drop.
pub struct SandboxHandle {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) child_pid: u32,
    pub(crate) addresses: Option<SandboxAddresses>,
    pub(crate) kill: Arc<watch::Sender<bool>>,
    pub(crate) exit: watch::Receiver<Option<ExitReason>>,
}

impl SandboxHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Host pid of the bwrap process (the sandbox's supervisor).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Host pid of the first process inside the sandbox's namespaces.
    pub fn namespace_pid(&self) -> u32 {
        self.child_pid
    }

    /// `(host side, sandbox side)` addresses, if the runtime has networking on.
    pub fn addresses(&self) -> Option<SandboxAddresses> {
        self.addresses
    }

    /// Waits until the sandbox has ended and everything it held (cgroup, link, slot) is freed.
    pub async fn wait(&self) -> ExitReason {
        let mut rx = self.exit.clone();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                // The reaper went away without a verdict (its tokio runtime shut down).
                return rx.borrow().clone().unwrap_or(ExitReason::Killed);
            }
        }
    }

    /// The exit reason if the sandbox has ended.
    pub fn try_exit(&self) -> Option<ExitReason> {
        self.exit.borrow().clone()
    }

    /// Asks for the sandbox to be killed; [`Self::wait`] tells when it is gone.
    pub fn kill(&self) {
        let _ = self.kill.send(true);
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.kill();
    }
}
