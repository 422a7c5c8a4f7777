//! Linux sandbox runtime for MCP servers.
//!
//! [`SandboxRuntime::spawn`] runs a [`SandboxSpec`] under bubblewrap: every namespace unshared,
//! an unprivileged host uid per sandbox, an empty read-only root holding only the server (and
//! its image rootfs), private `/proc` and size-limited `/tmp`, a cgroup with memory/pids/CPU
//! limits, optionally a veth pair on its own /30, and the trusted `gigmcp-bootstrap`, which
//! empties capabilities, installs Landlock and seccomp and only then execs the server.
//! See `docs/sandbox.md`.

mod access;
mod cgroup;
mod command;
mod config;
mod elf;
mod error;
mod host_guard;
mod host_view;
mod net;
mod pidfd;
mod runtime;
mod sandbox;
mod slots;
mod spec;

pub use command::{BOOTSTRAP_PATH, HOST_ADDR_TOKEN, SANDBOX_ID, SERVER_PATH};
pub use config::{Ipv4Pool, Limits, NetworkConfig, RuntimeConfig, default_bootstrap_path};
pub use error::SandboxError;
pub use runtime::SandboxRuntime;
pub use sandbox::{ExitReason, Sandbox, SandboxAddresses, SandboxHandle};
pub use spec::{ProgramSource, SandboxFile, SandboxSpec};
