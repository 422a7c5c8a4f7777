//! Handshake-era MCP sessions (`Mcp-Session-Id`), held in memory.
//!
//! A session belongs to one profile: its id is useless with another profile's URL or token.
//! Sessions idle for longer than the expiry are forgotten (the client gets 404 and
//! re-initializes, as the spec intends), and their number is bounded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gigmcp_store::ProfileId;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::link::{AnswerTo, CancelHandle};
use crate::replay::StreamLog;
use gigmcp_mcp::jsonrpc::Id;
use std::collections::VecDeque;

/// Resource subscriptions one session may hold.
const MAX_SUBSCRIPTIONS: usize = 1024;
/// Streams one session keeps for resumption.
const MAX_LOGS: usize = 32;
/// Calls in flight, and backends' requests awaiting an answer, one session may have.
const MAX_PENDING: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client session.
pub struct Session {
    pub id: String,
    pub profile: ProfileId,
    /// The negotiated protocol revision.
    pub version: &'static str,
    last_seen: Mutex<Instant>,
    /// The server-to-client stream opened by GET, if any (kept after a disconnect, so the
    /// client can resume it).
    get_log: Mutex<Option<Arc<StreamLog>>>,
    /// This session's recent streams, for `Last-Event-ID` resumption.
    logs: Mutex<VecDeque<Arc<StreamLog>>>,
    next_stream: AtomicU64,
    /// Meta-tools mode: the namespaced tools this client loaded with `load_tools`.
    loaded: Mutex<std::collections::BTreeSet<String>>,
    /// Namespaced resource URIs this client subscribed to.
    subscriptions: Mutex<std::collections::HashSet<String>>,
    /// What the client declared in `initialize` (sampling, elicitation, roots...).
    client_capabilities: Mutex<Value>,
    /// This client's calls in flight, by its request id, for its cancellations.
    calls: Mutex<HashMap<Id, CancelHandle>>,
    /// Backends' requests sent to this client and not answered yet, by gateway id.
    server_requests: Mutex<HashMap<Id, AnswerTo>>,
    next_server_request: AtomicU64,
}

impl Session {
    /// Adds tools to this session's loaded set; returns how many were new.
    pub fn load(&self, names: impl IntoIterator<Item = String>) -> usize {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        names
            .into_iter()
            .filter(|n| loaded.insert(n.clone()))
            .count()
    }

    /// The tools this session loaded.
    pub fn loaded(&self) -> std::collections::BTreeSet<String> {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records a `resources/subscribe` (`true`) or `resources/unsubscribe` (`false`).
    pub fn set_subscribed(&self, uri: &str, on: bool) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            // bounded: a client cannot grow the gateway's memory without limit
            if subs.len() < MAX_SUBSCRIPTIONS {
                subs.insert(uri.to_owned());
            }
        } else {
            subs.remove(uri);
        }
    }

    /// Whether this client subscribed to the namespaced `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(uri)
    }

    fn with_id(id: String, profile: ProfileId, version: &'static str) -> Arc<Self> {
        Arc::new(Session {
            id,
            profile,
            version,
            last_seen: Mutex::new(Instant::now()),
            get_log: Mutex::new(None),
            logs: Mutex::new(VecDeque::new()),
            next_stream: AtomicU64::new(1),
            loaded: Mutex::new(Default::default()),
            subscriptions: Mutex::new(Default::default()),
            client_capabilities: Mutex::new(Value::Null),
            calls: Mutex::new(HashMap::new()),
            server_requests: Mutex::new(HashMap::new()),
            next_server_request: AtomicU64::new(1),
        })
    }

    /// Records the capabilities the client declared in `initialize`.
    pub fn set_client_capabilities(&self, caps: Value) {
        *lock(&self.client_capabilities) = caps;
    }

    /// What the client declared.
    pub fn client_capabilities(&self) -> Value {
        lock(&self.client_capabilities).clone()
    }

    /// Whether the client declared `capability` (e.g. `sampling`, `elicitation`).
    pub fn client_supports(&self, capability: &str) -> bool {
        lock(&self.client_capabilities)
            .get(capability)
            .is_some_and(|v| !v.is_null())
    }

    /// Remembers how to cancel the client's request `id`; `false` if too many are in flight.
    pub fn track_call(&self, id: Id, handle: CancelHandle) -> bool {
        let mut calls = lock(&self.calls);
        if calls.len() >= MAX_PENDING {
            return false;
        }
        calls.insert(id, handle);
        true
    }

    /// Forgets the client's request `id` (it completed).
    pub fn untrack_call(&self, id: &Id) {
        lock(&self.calls).remove(id);
    }

    /// The cancel handle of the client's request `id`, removed.
    pub fn take_call(&self, id: &Id) -> Option<CancelHandle> {
        lock(&self.calls).remove(id)
    }

    /// Registers a server's request for this client; returns the id to send it under, or the
    /// request back when too many wait already.
    pub fn add_server_request(&self, request: AnswerTo) -> Result<Id, AnswerTo> {
        let mut pending = lock(&self.server_requests);
        if pending.len() >= MAX_PENDING {
            return Err(request);
        }
        let n = self.next_server_request.fetch_add(1, Ordering::Relaxed);
        let id = Id::Str(format!("gigmcp-{n}"));
        pending.insert(id.clone(), request);
        Ok(id)
    }

    /// Where this client's answer with `id` goes, removed.
    pub fn take_server_request(&self, id: &Id) -> Option<AnswerTo> {
        lock(&self.server_requests).remove(id)
    }

    fn touch(&self) {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// A new stream (`kind` prefixes its id: `c` for a call, `g` for GET), kept for resumption.
    pub fn new_log(&self, kind: char) -> Arc<StreamLog> {
        let n = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let log = StreamLog::new(format!("{kind}{n}"));
        let mut logs = lock(&self.logs);
        logs.push_back(log.clone());
        while logs.len() > MAX_LOGS {
            logs.pop_front();
        }
        log
    }

    /// The stream `id` of this session, if still kept.
    pub fn log(&self, id: &str) -> Option<Arc<StreamLog>> {
        lock(&self.logs).iter().find(|l| l.id() == id).cloned()
    }

    /// Opens a new GET stream, ending the previous one; `None` while a connection still reads
    /// the current one (one GET stream per session).
    pub fn open_get_stream(&self) -> Option<Arc<StreamLog>> {
        let mut current = lock(&self.get_log);
        if let Some(old) = current.as_ref() {
            if old.readers() > 0 {
                return None;
            }
            // What was sent before the client first opened its GET stream waits for it.
            if !old.ever_read() {
                return Some(old.clone());
            }
            old.close();
        }
        let log = self.new_log('g');
        *current = Some(log.clone());
        Some(log)
    }

    /// Sends a server-to-client message on the GET stream, kept (bounded) while no connection
    /// reads it: before the client first opens it, and for resumption after a disconnect.
    pub fn push(&self, msg: Value) -> bool {
        let log = {
            let mut current = lock(&self.get_log);
            current.get_or_insert_with(|| self.new_log('g')).clone()
        };
        log.push(msg.to_string())
    }
}

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
#[error("too many open sessions ({0}); close unused ones (DELETE) or try again later")]
pub struct TooManySessions(pub usize);

/// All live sessions.
pub struct Sessions {
    map: RwLock<HashMap<String, Arc<Session>>>,
    max: usize,
    expiry: Duration,
}

impl Sessions {
    pub fn new(max: usize, expiry: Duration) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            max,
            expiry,
        }
    }

    /// Creates a session with a fresh random id.
    pub fn create(
        &self,
        profile: ProfileId,
        version: &'static str,
    ) -> Result<Arc<Session>, TooManySessions> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let session = Session::with_id(URL_SAFE_NO_PAD.encode(bytes), profile, version);
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.max {
            map.retain(|_, s| s.idle_for() < self.expiry);
            if map.len() >= self.max {
                return Err(TooManySessions(self.max));
            }
        }
        map.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    /// The live session `id` of `profile`.
    pub fn get(&self, id: &str, profile: ProfileId) -> Option<Arc<Session>> {
        let session = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()?;
        if session.profile != profile {
            return None;
        }
        if session.idle_for() >= self.expiry {
            self.remove(id, profile);
            return None;
        }
        session.touch();
        Some(session)
    }

    /// Ends a session; `false` if there was none.
    pub fn remove(&self, id: &str, profile: ProfileId) -> bool {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.profile == profile => map.remove(id).is_some(),
            _ => false,
        }
    }

    /// Every live session of `profile`.
    pub fn of_profile(&self, profile: ProfileId) -> Vec<Arc<Session>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|s| s.profile == profile)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_belongs_to_its_profile() {
        let s = Sessions::new(10, Duration::from_secs(60));
        let a = s.create(ProfileId(1), "2025-11-25").unwrap();
        assert!(s.get(&a.id, ProfileId(1)).is_some());
        assert!(s.get(&a.id, ProfileId(2)).is_none());
        assert!(!s.remove(&a.id, ProfileId(2)));
        assert!(s.remove(&a.id, ProfileId(1)));
        assert!(s.get(&a.id, ProfileId(1)).is_none());
    }

    #[test]
    fn ids_are_random_and_visible_ascii() {
        let s = Sessions::new(10, Duration::from_secs(60));
        let a = s.create(ProfileId(1), "2025-11-25").unwrap();
        let b = s.create(ProfileId(1), "2025-11-25").unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
    }

    #[test]
    fn the_number_of_sessions_is_bounded_and_idle_ones_expire() {
        let s = Sessions::new(2, Duration::from_millis(30));
        s.create(ProfileId(1), "2025-11-25").unwrap();
        s.create(ProfileId(1), "2025-11-25").unwrap();
        assert!(s.create(ProfileId(1), "2025-11-25").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            s.create(ProfileId(1), "2025-11-25").is_ok(),
            "expired sessions make room"
        );
        assert_eq!(s.len(), 1);
    }
}
