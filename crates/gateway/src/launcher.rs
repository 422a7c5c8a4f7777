//! The seam between the supervisor and how a server is run.
//!
//! The supervisor asks a [`Launcher`] for a running server of a (profile, server) pair and
//! gets its stdio and a [`Process`] handle; everything about sandboxes, images and egress stays
//! behind the trait. Production launches sandboxes ([`crate::launch::SandboxLauncher`]); a test
//! can launch plain child processes or in-memory pipes, so routing, fan-out and both eras are
//! tested without root.

use futures_util::future::BoxFuture;
use gigmcp_store::{Profile, Server};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// A running server's process, whatever runs it.
pub trait Process: Send + Sync {
    /// Host pid, for logs.
    fn pid(&self) -> u32;
    /// Stops it (idempotent); [`Self::wait`] then returns.
    fn kill(&self);
    /// Whether it has ended.
    fn exited(&self) -> bool;
    /// Waits until it ends; says how.
    fn wait(&self) -> BoxFuture<'_, String>;
}

/// A server started by a [`Launcher`].
pub struct Launched {
    /// The server's stdin (MCP messages to it).
    pub stdin: Box<dyn AsyncWrite + Send + Unpin>,
    /// The server's stdout (MCP messages from it).
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    /// The server's stderr, logged line by line (bounded), if there is one.
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub process: Arc<dyn Process>,
    /// Whatever must live as long as the server (its egress registration); dropped with it.
    pub lease: Option<Box<dyn Send + Sync>>,
}

/// Starts servers for the supervisor.
pub trait Launcher: Send + Sync {
    /// Starts `server` for `profile`. The error is for the operator: what went wrong and what
    /// to do about it.
    fn launch<'a>(
        &'a self,
        profile: &'a Profile,
        server: &'a Server,
    ) -> BoxFuture<'a, Result<Launched, String>>;

    /// Stops everything this launcher started and waits until it is cleaned up.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}
