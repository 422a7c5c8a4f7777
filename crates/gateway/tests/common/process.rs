//! A launcher that runs servers as plain child processes: no sandbox, no root. For routing
//! tests through the gateway's `Launcher` seam; production always sandboxes.

use futures_util::future::BoxFuture;
use gigmcp_gateway::launcher::{Launched, Launcher, Process};
use gigmcp_store::{Profile, Server, ServerSource};
use std::process::Stdio;
use std::sync::Arc;
use tokio::sync::{Notify, watch};

/// Runs each server's local binary directly.
pub struct ProcessLauncher;

/// A child process owned by a task that reaps it.
struct Child {
    pid: u32,
    kill: Arc<Notify>,
    exit: watch::Receiver<Option<String>>,
}

impl Process for Child {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn kill(&self) {
        self.kill.notify_one();
    }

    fn exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    fn wait(&self) -> BoxFuture<'_, String> {
        let mut exit = self.exit.clone();
        Box::pin(async move {
            loop {
                if let Some(reason) = exit.borrow_and_update().clone() {
                    return reason;
                }
                if exit.changed().await.is_err() {
                    return "the reaper went away".into();
                }
            }
        })
    }
}

impl Launcher for ProcessLauncher {
    fn launch<'a>(
        &'a self,
        _profile: &'a Profile,
        server: &'a Server,
    ) -> BoxFuture<'a, Result<Launched, String>> {
        Box::pin(async move {
            let ServerSource::LocalBinary { path } = &server.source else {
                return Err(format!("{} is not a local binary", server.name));
            };
            let mut child = tokio::process::Command::new(path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot run {path}: {e}"))?;
            let (stdin, stdout, stderr) = (
                child.stdin.take().expect("piped"),
                child.stdout.take().expect("piped"),
                child.stderr.take().expect("piped"),
            );
            let pid = child.id().unwrap_or_default();
            let kill = Arc::new(Notify::new());
            let (exit_tx, exit) = watch::channel(None);
            let killer = kill.clone();
            tokio::spawn(async move {
                let reason = tokio::select! {
                    s = child.wait() => format!("exited: {s:?}"),
                    () = killer.notified() => {
                        let _ = child.kill().await;
                        "killed".to_string()
                    }
                };
                let _ = exit_tx.send(Some(reason));
            });
            Ok(Launched {
                stdin: Box::new(stdin),
                stdout: Box::new(stdout),
                stderr: Some(Box::new(stderr)),
                process: Arc::new(Child { pid, kill, exit }),
                lease: None,
            })
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
