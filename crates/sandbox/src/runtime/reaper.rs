//! The reaper of one sandbox: a task that waits for bwrap to exit (killing the sandbox on
//! request), tells why the sandbox ended and frees what it held. [`ReapGuard`] frees it
//! synchronously if the task is dropped before it finishes.

use super::{Inner, LiveEntry, Resources};
use crate::cgroup::SandboxCgroup;
use crate::pidfd::PidFd;
use crate::sandbox::ExitReason;
use std::sync::Arc;
use tokio::process::Child;
use tokio::sync::watch;

/// The two ends a [`crate::SandboxHandle`] keeps: its kill switch and its exit reason.
pub(super) type HandleEnds = (
    Arc<watch::Sender<bool>>,
    watch::Receiver<Option<ExitReason>>,
);

/// Registers a started sandbox as live and spawns its reaper, which from now on owns bwrap
/// (`child`), the sandbox's init (`init`) and `res`.
pub(super) fn supervise(
    inner: &Arc<Inner>,
    id: u64,
    child: Child,
    init: PidFd,
    res: Resources,
) -> HandleEnds {
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
    // Built before the task is spawned: a task dropped unpolled still cleans up.
    let guard = ReapGuard {
        inner: inner.clone(),
        id,
        child,
        init,
        res: Some(res),
    };
    tokio::spawn(reap(guard, kill_rx, exit_tx));
    (kill_tx, exit_rx)
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

/// Waits for bwrap to exit; on a kill request (the handle's `kill` or drop, or `shutdown`) kills
/// the sandbox's init, and bwrap too if it has not exited a second later. Then frees the
/// resources, leaves the live table and publishes the exit reason (OOM first, then a requested
/// kill, then bwrap's status).
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
