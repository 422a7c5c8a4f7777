//! The gateway: its shared state, how it starts (sandbox runtimes, egress proxy, supervisor),
//! and the tasks that run beside requests (delivering what servers report to the sessions and
//! listen streams that asked for it; stopping idle servers).

use crate::backend::BackendEvent;
use crate::config::GatewayConfig;
use crate::egress::Egress;
use crate::launch::{Networked, SandboxLauncher, ToolpackEngine};
use crate::launcher::Launcher;
use crate::profiles::ProfileCache;
use crate::router::Router;
use crate::session::Sessions;
use crate::state::State;
use crate::supervisor::{Supervisor, SupervisorConfig};
use gigmcp_mcp::method;
use gigmcp_sandbox::{NetworkConfig, SandboxError, SandboxRuntime};
use gigmcp_store::Store;
use gigmcp_vault::Keyring;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The gateway: cheap to clone.
#[derive(Clone)]
pub struct Gateway(Arc<State>);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("sandbox runtime unavailable: {0}")]
    Sandbox(#[from] SandboxError),
    #[error(
        "sandbox networking unavailable ({0}); it needs root (CAP_NET_ADMIN). Run as root, or set GIG_SANDBOX_NETWORK=off so that no server gets network egress"
    )]
    Network(SandboxError),
    #[error(transparent)]
    Egress(#[from] crate::egress::EgressError),
    #[error("image cache: {0}")]
    Images(gigmcp_oci::Error),
}

/// The image puller over the data dir's image cache (shared with `gigmcp server add --image`).
pub fn images_puller(config: &GatewayConfig) -> Result<gigmcp_oci::Puller, gigmcp_oci::Error> {
    let mut options = gigmcp_oci::PullOptions::new(config.data_dir.join("images"));
    options.client.insecure_hosts = config.insecure_registries.clone();
    options.progress = gigmcp_oci::Progress::Never;
    options.mount_points = crate::egress::MOUNT_POINTS.map(String::from).to_vec();
    gigmcp_oci::Puller::new(options)
}

/// The sandbox launcher of `config`: the isolated runtime, and the networked one with the
/// egress proxy when sandbox networking is on.
async fn sandbox_launcher(
    config: &GatewayConfig,
    store: &Store,
    keyring: Arc<Keyring>,
) -> Result<SandboxLauncher, StartError> {
    let runtime = SandboxRuntime::new(config.sandbox.clone()).await?;
    let networked = match &config.network {
        None => None,
        Some(net) => {
            let mut cfg = config.sandbox.clone();
            // A second runtime: its own uids, cgroup and links.
            cfg.host_uid_base = config.sandbox.host_uid_base + config.sandbox.max_sandboxes;
            cfg.cgroup_name = format!("{}-net", config.sandbox.cgroup_name);
            cfg.network = Some(NetworkConfig {
                pool: net.pool,
                link_prefix: net.link_prefix.clone(),
                allowed_tcp_ports: crate::egress::SANDBOX_PORTS.to_vec(),
            });
            let runtime = SandboxRuntime::new(cfg)
                .await
                .map_err(StartError::Network)?;
            let egress =
                Arc::new(Egress::open(net.egress.clone(), store.clone(), keyring.clone()).await?);
            Some(Networked {
                runtime,
                egress,
                store: store.clone(),
                keyring,
            })
        }
    };
    let images = Arc::new(images_puller(config).map_err(StartError::Images)?);
    let toolpack = ToolpackEngine {
        path: config.toolpack.clone(),
        call_timeout: config.call_timeout,
    };
    Ok(SandboxLauncher::new(runtime, networked, images, toolpack))
}

impl Gateway {
    /// Builds the gateway on an open store, every server in a sandbox, and starts its
    /// background tasks. `keyring` opens the credentials the egress proxy injects and
    /// entrusted servers receive.
    pub async fn start(
        config: GatewayConfig,
        store: Store,
        keyring: Arc<Keyring>,
    ) -> Result<Self, StartError> {
        let launcher = sandbox_launcher(&config, &store, keyring).await?;
        Ok(Self::with_launcher(config, store, Arc::new(launcher)))
    }

    /// Builds the gateway with servers started by `launcher` (tests run them as plain
    /// processes), and starts its background tasks.
    pub fn with_launcher(config: GatewayConfig, store: Store, launcher: Arc<dyn Launcher>) -> Self {
        let supervisor = Arc::new(Supervisor::new(
            launcher,
            SupervisorConfig {
                call_timeout: config.call_timeout,
                start_timeout: Duration::from_secs(30),
                max_line_bytes: config.max_body_bytes.max(16 * 1024 * 1024),
            },
        ));
        let sessions = Arc::new(Sessions::new(10_000, Duration::from_secs(3600)));
        let router = Router::new(supervisor.clone(), sessions.clone());
        let state = Arc::new(State {
            store,
            profiles: ProfileCache::new(Duration::from_secs(2), 10_000),
            sessions,
            config,
            parked: Default::default(),
            listeners: Default::default(),
            router,
        });
        spawn_event_delivery(&state, &supervisor);
        spawn_idle_reaper(&state);
        Gateway(state)
    }

    /// The shared state.
    pub fn state(&self) -> &State {
        &self.0
    }

    pub fn router(&self) -> &Router {
        &self.0.router
    }

    pub fn supervisor(&self) -> &Arc<Supervisor> {
        self.0.router.supervisor()
    }

    /// Stops every server.
    pub async fn shutdown(&self) {
        self.supervisor().shutdown().await;
    }
}

/// Delivers what servers report to the sessions and listen streams of their profile.
fn spawn_event_delivery(state: &Arc<State>, supervisor: &Supervisor) {
    let mut events = supervisor.subscribe();
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let Some(state) = weak.upgrade() else { break };
            state.listeners.deliver(&event);
            match event {
                BackendEvent::ToolsChanged { profile } => {
                    let note = json!({"jsonrpc": "2.0", "method": method::TOOLS_LIST_CHANGED});
                    for session in state.sessions.of_profile(profile) {
                        session.push(note.clone());
                    }
                }
                BackendEvent::Notify { profile, message } => {
                    for session in state.sessions.of_profile(profile) {
                        session.push(message.clone());
                    }
                }
                BackendEvent::ResourceUpdated {
                    profile,
                    uri,
                    message,
                } => {
                    for session in state.sessions.of_profile(profile) {
                        if session.is_subscribed(&uri) {
                            session.push(message.clone());
                        }
                    }
                }
            }
        }
    });
}

/// Stops servers unused for the idle timeout.
fn spawn_idle_reaper(state: &Arc<State>) {
    let weak = Arc::downgrade(state);
    let idle = state.config.idle_timeout;
    tokio::spawn(async move {
        let tick = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        loop {
            tokio::time::sleep(tick).await;
            let Some(state) = weak.upgrade() else { break };
            state.router.supervisor().reap_idle(idle).await;
            // Servers uninstalled or taken out of a profile (by the CLI, another replica):
            // their sandboxes stop now rather than at the idle timeout.
            match state.store.profile_server_pairs().await {
                Ok(pairs) => {
                    let pairs: std::collections::HashSet<_> = pairs.into_iter().collect();
                    state
                        .router
                        .supervisor()
                        .retain(|p, s| pairs.contains(&(p, s)))
                        .await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read profile memberships"),
            }
        }
    });
}
