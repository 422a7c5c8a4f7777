//! The life cycle of backends: each (profile × server) started on first use by the
//! [`Launcher`], kept while it is used, started again after it dies, stopped when idle.
//!
//! One [`Slot`] per (profile, server) holds an async mutex, so concurrent first requests start
//! a server exactly once: the first caller starts it, the others wait for that start.
//!
//! A new server's era is found when it starts: it is asked `server/discover`; one that lists
//! the stateless revision is driven statelessly, any other is initialized. A server that exits
//! at the probe is started once more and initialized (and so from then on); one that does not
//! answer the probe within [`PROBE_WAIT`] is initialized and not probed again.

use crate::backend::{
    Backend, BackendError, BackendEvent, BackendIdentity, Era, GATEWAY_CAPABILITIES, GATEWAY_INFO,
    spawn_inbound, spawn_stderr_logger,
};
use crate::launcher::{Launched, Launcher};
use crate::naming::Naming;
use gigmcp_mcp::{Discovery, StdioClient, StdioClientConfig};
use gigmcp_store::{Profile, ProfileId, Server, ServerId};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a new server has to answer `server/discover` (at most half the start timeout)
/// before it is initialized instead. A server answers every request, so only one that
/// ignores methods it does not know waits this long, once: it is not probed again. Generous,
/// because a slow starter (an interpreter importing its packages) that answered late would be
/// driven in the handshake era although it speaks the stateless one.
const PROBE_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Slot {
    /// The running backend and the revision (`updated_at`) of the server row it was started
    /// from: a server updated since (a new version from the registry) is restarted.
    backend: tokio::sync::Mutex<Option<(Arc<Backend>, i64)>>,
}

/// Supervisor settings.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    pub call_timeout: Duration,
    pub start_timeout: Duration,
    pub max_line_bytes: usize,
}

/// Owns every running backend.
pub struct Supervisor {
    launcher: Arc<dyn Launcher>,
    config: SupervisorConfig,
    slots: Mutex<HashMap<(ProfileId, ServerId), Arc<Slot>>>,
    started: AtomicU64,
    events: tokio::sync::broadcast::Sender<BackendEvent>,
    /// Servers that exited when probed with `server/discover`: initialized straight away.
    handshake_only: Mutex<HashSet<ServerId>>,
}

/// How a start failed: the server died at the `server/discover` probe, or otherwise.
enum StartFailure {
    DiedAtProbe(String),
    Failed(BackendError),
}

impl From<BackendError> for StartFailure {
    fn from(e: BackendError) -> Self {
        StartFailure::Failed(e)
    }
}

impl StartFailure {
    fn into_error(self, server: &str) -> BackendError {
        match self {
            StartFailure::Failed(e) => e,
            StartFailure::DiedAtProbe(reason) => BackendError::Start {
                server: server.to_owned(),
                reason,
            },
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Supervisor {
    pub fn new(launcher: Arc<dyn Launcher>, config: SupervisorConfig) -> Self {
        let (events, _) = tokio::sync::broadcast::channel(256);
        Self {
            launcher,
            config,
            slots: Mutex::new(HashMap::new()),
            started: AtomicU64::new(0),
            events,
            handshake_only: Mutex::new(HashSet::new()),
        }
    }

    /// What the profiles' servers report (list changes, log messages, resource updates).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<BackendEvent> {
        self.events.subscribe()
    }

    /// The per-call timeout of every backend.
    pub fn call_timeout(&self) -> Duration {
        self.config.call_timeout
    }

    /// How many servers this supervisor has started since it was created.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// The running backend of `server` for `profile`, started if needed.
    pub async fn backend(
        &self,
        profile: &Profile,
        server: &Server,
    ) -> Result<Arc<Backend>, BackendError> {
        let slot = lock(&self.slots)
            .entry((profile.id, server.id))
            .or_default()
            .clone();
        let mut guard = slot.backend.lock().await;
        if let Some((b, revision)) = guard.as_ref() {
            if b.is_alive() && *revision == server.updated_at {
                b.touch();
                return Ok(b.clone());
            }
            if b.is_alive() {
                tracing::info!(server = %server.name, profile = %profile.slug, "server changed (updated or reinstalled); starting the new version");
            } else {
                tracing::info!(server = %server.name, profile = %profile.slug, "server ended; starting it again");
            }
            b.stop();
        }
        let backend = self.start(profile, server).await?;
        *guard = Some((backend.clone(), server.updated_at));
        Ok(backend)
    }

    /// Starts a server and finds out its era. A server that exits when asked
    /// `server/discover` is started once more and initialized straight away (and so from then
    /// on).
    async fn start(
        &self,
        profile: &Profile,
        server: &Server,
    ) -> Result<Arc<Backend>, BackendError> {
        let started_at = Instant::now();
        let probe = !lock(&self.handshake_only).contains(&server.id);
        match self.start_once(profile, server, probe, started_at).await {
            Err(StartFailure::DiedAtProbe(reason)) => {
                tracing::warn!(server = %server.name, %reason,
                    "server exited when asked server/discover; starting it again, initialized");
                lock(&self.handshake_only).insert(server.id);
                self.start_once(profile, server, false, started_at)
                    .await
                    .map_err(|e| e.into_error(&server.name))
            }
            other => other.map_err(|e| e.into_error(&server.name)),
        }
    }

    /// One start: launch, connect, find the era, then hand the backend its inbound messages.
    async fn start_once(
        &self,
        profile: &Profile,
        server: &Server,
        probe: bool,
        started_at: Instant,
    ) -> Result<Arc<Backend>, StartFailure> {
        let launched = self
            .launcher
            .launch(profile, server)
            .await
            .map_err(|reason| BackendError::Start {
                server: server.name.clone(),
                reason,
            })?;
        self.started.fetch_add(1, Ordering::Relaxed);
        let Launched {
            stdin,
            stdout,
            stderr,
            process,
            lease,
        } = launched;
        let mut client_cfg = StdioClientConfig::new(server.name.clone());
        client_cfg.max_line_bytes = self.config.max_line_bytes;
        let (client, inbound) = StdioClient::start(stdout, stdin, client_cfg);
        if let Some(stderr) = stderr {
            spawn_stderr_logger(server.name.clone(), profile.slug.clone(), stderr);
        }
        // The connection closes when the process ends, so pending calls fail at once.
        {
            let (process, client) = (process.clone(), client.clone());
            tokio::spawn(async move {
                let reason = process.wait().await;
                client.close(reason);
            });
        }
        let (era, init) = match tokio::time::timeout(
            self.config.start_timeout,
            self.handshake(&client, server, probe),
        )
        .await
        {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                process.kill();
                return Err(e);
            }
            Err(_) => {
                process.kill();
                return Err(StartFailure::Failed(BackendError::StartTimeout {
                    server: server.name.clone(),
                    secs: self.config.start_timeout.as_secs(),
                }));
            }
        };
        let who = BackendIdentity {
            profile: profile.id,
            server: server.name.clone(),
            naming: Naming::of(profile),
        };
        let backend = Backend::new(
            who,
            client,
            init,
            era,
            process,
            lease,
            self.config.call_timeout,
        );
        spawn_inbound(&backend, inbound, self.events.clone());
        if era == Era::Stateless {
            // Its change notifications come on a listen stream, open while it runs.
            backend.start_listening().await;
        }
        tracing::info!(server = %server.name, profile = %profile.slug, pid = backend.pid(),
            era = ?era, elapsed_ms = started_at.elapsed().as_millis() as u64,
            "server started");
        Ok(backend)
    }

    /// Finds the server's era: `server/discover` first (if `probe`), else `initialize`.
    async fn handshake(
        &self,
        client: &StdioClient,
        server: &Server,
        probe: bool,
    ) -> Result<(Era, Value), StartFailure> {
        let found = if probe {
            let wait = PROBE_WAIT.min(self.config.start_timeout / 2);
            client
                .discover(&GATEWAY_CAPABILITIES, &GATEWAY_INFO, wait)
                .await
                .map_err(|e| StartFailure::DiedAtProbe(e.to_string()))?
        } else {
            Discovery::Refused
        };
        if let Discovery::Silent = found {
            // (it ignores what it does not know: not asked again at its next start)
            tracing::warn!(server = %server.name, "no answer to server/discover; initializing it");
            lock(&self.handshake_only).insert(server.id);
        }
        match found {
            Discovery::Stateless(discovered) => Ok((Era::Stateless, discovered)),
            Discovery::Refused | Discovery::Silent => client
                .initialize_with(
                    "gigmcp",
                    env!("CARGO_PKG_VERSION"),
                    GATEWAY_CAPABILITIES.clone(),
                )
                .await
                .map(|init| (Era::Handshake, init))
                .map_err(|e| {
                    StartFailure::Failed(BackendError::Start {
                        server: server.name.clone(),
                        reason: e.to_string(),
                    })
                }),
        }
    }

    /// Stops backends unused for `idle`; returns how many were stopped.
    pub async fn reap_idle(&self, idle: Duration) -> usize {
        let slots: Vec<_> = lock(&self.slots).values().cloned().collect();
        let mut stopped = 0;
        for slot in slots {
            let mut guard = slot.backend.lock().await;
            if guard
                .as_ref()
                .is_some_and(|(b, _)| b.idle_for() >= idle || !b.is_alive())
                && let Some((b, _)) = guard.take()
            {
                tracing::info!(server = %b.server, "stopping idle server");
                b.stop();
                stopped += 1;
            }
        }
        stopped
    }

    /// Stops the backends of (profile, server) pairs that `keep` rejects (a server
    /// uninstalled, or taken out of a profile); returns how many were stopped.
    pub async fn retain(&self, keep: impl Fn(ProfileId, ServerId) -> bool) -> usize {
        let gone: Vec<Arc<Slot>> = {
            let mut slots = lock(&self.slots);
            let keys: Vec<_> = slots
                .keys()
                .copied()
                .filter(|(p, s)| !keep(*p, *s))
                .collect();
            keys.iter().filter_map(|k| slots.remove(k)).collect()
        };
        let mut stopped = 0;
        for slot in gone {
            if let Some((b, _)) = slot.backend.lock().await.take() {
                tracing::info!(server = %b.server, "stopping a server no longer in its profile");
                b.stop();
                stopped += 1;
            }
        }
        stopped
    }

    /// Stops every backend and waits for the launcher to clean up.
    pub async fn shutdown(&self) {
        let slots: Vec<_> = lock(&self.slots).drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some((b, _)) = slot.backend.lock().await.take() {
                b.stop();
            }
        }
        self.launcher.shutdown().await;
    }
}
