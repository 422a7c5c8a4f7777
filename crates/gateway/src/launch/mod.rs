//! Production launching: each server in a sandbox of its own, started by the sandbox runtime
//! as its manifest says ([`plan`]; toolpack servers: [`toolpack`]), registered with the egress
//! proxy when it has network egress.

pub mod plan;
pub mod toolpack;

pub use plan::{LaunchError, Networked};
pub use toolpack::ToolpackEngine;

use crate::launcher::{Launched, Launcher, Process};
use futures_util::future::BoxFuture;
use gigmcp_oci::Puller;
use gigmcp_sandbox::{SandboxHandle, SandboxRuntime};
use gigmcp_store::{Profile, Server};
use std::sync::Arc;

/// Launches servers in sandboxes: the isolated runtime for servers without egress, the
/// networked one (with the egress proxy) for the others.
pub struct SandboxLauncher {
    runtime: SandboxRuntime,
    networked: Option<Networked>,
    images: Arc<Puller>,
    toolpack: ToolpackEngine,
}

impl SandboxLauncher {
    pub fn new(
        runtime: SandboxRuntime,
        networked: Option<Networked>,
        images: Arc<Puller>,
        toolpack: ToolpackEngine,
    ) -> Self {
        Self {
            runtime,
            networked,
            images,
            toolpack,
        }
    }

    async fn start(&self, profile: &Profile, server: &Server) -> Result<Launched, String> {
        let with = plan::Launchers {
            isolated: &self.runtime,
            networked: self.networked.as_ref(),
            images: &self.images,
            toolpack: &self.toolpack,
        };
        let launch = plan::plan(with, profile, server)
            .await
            .map_err(|e| e.to_string())?;
        let sandbox = launch
            .runtime
            .spawn(&launch.spec)
            .await
            .map_err(|e| e.to_string())?;
        let lease: Option<Box<dyn Send + Sync>> = match (
            launch.identity,
            sandbox.addresses(),
            self.networked.as_ref(),
        ) {
            (Some(identity), Some(addrs), Some(net)) => Some(Box::new(
                net.egress
                    .attach(addrs.host, addrs.sandbox, identity)
                    .await
                    .map_err(|e| e.to_string())?,
            )),
            (Some(_), _, _) => {
                sandbox.handle.kill();
                return Err("the sandbox got no network address for its egress".into());
            }
            _ => None,
        };
        let gigmcp_sandbox::Sandbox {
            stdin,
            stdout,
            stderr,
            handle,
        } = sandbox;
        Ok(Launched {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Some(Box::new(stderr)),
            process: Arc::new(Sandboxed(handle)),
            lease,
        })
    }
}

impl Launcher for SandboxLauncher {
    fn launch<'a>(
        &'a self,
        profile: &'a Profile,
        server: &'a Server,
    ) -> BoxFuture<'a, Result<Launched, String>> {
        Box::pin(self.start(profile, server))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.runtime.shutdown().await;
            if let Some(net) = &self.networked {
                net.runtime.shutdown().await;
            }
        })
    }
}

/// A sandbox as the supervisor sees it.
struct Sandboxed(SandboxHandle);

impl Process for Sandboxed {
    fn pid(&self) -> u32 {
        self.0.pid()
    }

    fn kill(&self) {
        self.0.kill();
    }

    fn exited(&self) -> bool {
        self.0.try_exit().is_some()
    }

    fn wait(&self) -> BoxFuture<'_, String> {
        Box::pin(async move { self.0.wait().await.to_string() })
    }
}
