//! A short-lived cache of what a profile is: its row, its servers and its tool selections.
//!
//! Every MCP request needs these; reading them from the database each time would put queries
//! on the hot path. Entries live for a short TTL (default 2 s), so changes made with the CLI or
//! by another gateway replica take effect within that time, including a rotated token.

use crate::naming::{self, Naming};
use gigmcp_store::{Profile, Server, ServerId, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A profile with everything needed to serve it.
#[derive(Debug)]
pub struct ProfileState {
    pub profile: Profile,
    pub servers: Vec<Server>,
    /// Explicit per-tool choices; tools without one follow their server's [`ToolDefaults`].
    pub selections: HashMap<(ServerId, String), bool>,
    /// Each server's defaults, read from its manifest once per load.
    pub defaults: HashMap<ServerId, ToolDefaults>,
}

/// Which tools a server exposes when the profile made no choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolDefaults {
    /// A local binary without a manifest (or one naming no tools): everything.
    All,
    /// A registry install: the manifest's `default: true` tools; tools it does not name stay
    /// hidden.
    Listed(HashMap<String, bool>),
    /// The stored manifest is unreadable: nothing until the operator reinstalls or chooses.
    Nothing,
}

impl ToolDefaults {
    /// Reads a server's defaults from its stored manifest.
    pub fn of(server: &Server) -> Self {
        let Some(manifest) = server.manifest.as_deref() else {
            return ToolDefaults::All;
        };
        let Ok(manifest) = serde_json::from_str::<serde_json::Value>(manifest) else {
            return ToolDefaults::Nothing;
        };
        let Some(tools) = manifest.get("tools").and_then(|t| t.as_array()) else {
            return ToolDefaults::All;
        };
        ToolDefaults::Listed(
            tools
                .iter()
                .filter_map(|t| {
                    let name = t.get("name")?.as_str()?.to_owned();
                    Some((
                        name,
                        t.get("default").and_then(|d| d.as_bool()) == Some(true),
                    ))
                })
                .collect(),
        )
    }

    pub fn enabled(&self, tool: &str) -> bool {
        match self {
            ToolDefaults::All => true,
            ToolDefaults::Listed(tools) => tools.get(tool).copied().unwrap_or(false),
            ToolDefaults::Nothing => false,
        }
    }
}

impl ProfileState {
    /// How this profile names things.
    pub fn naming(&self) -> Naming {
        Naming::of(&self.profile)
    }

    /// The server name and the server's own name behind a name a client sees.
    pub fn route_name<'a>(&'a self, name: &'a str) -> Option<(&'a str, &'a str)> {
        match self.naming() {
            Naming::Prefixed => naming::split(name),
            Naming::Plain => Some((self.servers.first()?.name.as_str(), name)),
        }
    }

    /// The server name and the server's own URI behind a URI a client sees.
    pub fn route_uri<'a>(&'a self, uri: &'a str) -> Option<(&'a str, &'a str)> {
        match self.naming() {
            Naming::Prefixed => naming::split_uri(uri),
            Naming::Plain => Some((self.servers.first()?.name.as_str(), uri)),
        }
    }

    /// The server of this profile named `name`.
    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Whether `tool` of `server` is exposed by this profile.
    pub fn tool_enabled(&self, server: &Server, tool: &str) -> bool {
        match self.selections.get(&(server.id, tool.to_string())) {
            Some(choice) => *choice,
            None => match self.defaults.get(&server.id) {
                Some(d) => d.enabled(tool),
                None => ToolDefaults::of(server).enabled(tool),
            },
        }
    }
}

/// The cache.
pub struct ProfileCache {
    ttl: Duration,
    max_entries: usize,
    map: Mutex<HashMap<String, (Instant, Arc<ProfileState>)>>,
}

impl ProfileCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The profile `slug`, from the cache if fresh, else from the store.
    pub async fn get(
        &self,
        store: &Store,
        slug: &str,
    ) -> Result<Option<Arc<ProfileState>>, StoreError> {
        if let Some((at, state)) = self.map.lock().unwrap_or_else(|e| e.into_inner()).get(slug)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(state.clone()));
        }
        let Some(profile) = store.profile_by_slug(slug).await? else {
            self.invalidate(slug);
            return Ok(None);
        };
        let servers = store.profile_servers(profile.id).await?;
        let selections = store
            .tool_selections(profile.id)
            .await?
            .into_iter()
            .map(|s| ((s.server, s.tool), s.enabled))
            .collect();
        let defaults = servers
            .iter()
            .map(|s| (s.id, ToolDefaults::of(s)))
            .collect();
        let state = Arc::new(ProfileState {
            profile,
            servers,
            selections,
            defaults,
        });
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.max_entries {
            map.clear();
        }
        map.insert(slug.to_string(), (Instant::now(), state.clone()));
        Ok(Some(state))
    }

    /// Drops the cached entry of `slug`.
    pub fn invalidate(&self, slug: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(slug);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigmcp_store::ServerSource;

    fn server(manifest: Option<&str>) -> Server {
        Server {
            id: ServerId(1),
            name: "s".into(),
            source: ServerSource::LocalBinary { path: "/x".into() },
            manifest: manifest.map(str::to_string),
            runtime_hash: None,
            consented_hash: None,
            origin: gigmcp_store::ServerOrigin::Local,
            consent: None,
            toolspec: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn defaults_follow_the_manifest_and_expose_everything_without_one() {
        assert!(ToolDefaults::of(&server(None)).enabled("anything"));
        let m = r#"{"tools":[{"name":"a","default":true},{"name":"b","default":false}]}"#;
        let d = ToolDefaults::of(&server(Some(m)));
        assert!(d.enabled("a"));
        assert!(!d.enabled("b"));
        assert!(!d.enabled("unlisted"));
        assert!(!ToolDefaults::of(&server(Some("not json"))).enabled("a"));
    }
}
