//! How a profile names what its servers offer, so two servers can never collide:
//!
//! - tools and prompts become `<server>_<name>` (server names cannot contain `_`, so the
//!   first `_` splits them again);
//! - resource URIs (and URI templates) become `gigmcp://<server>/<original uri>`: the prefix
//!   holds no template variable, so a client's expansion maps straight back.
//!
//! A profile with one server may turn prefixes off ([`Naming::Plain`]).

/// Separator between server name and tool or prompt name. Server names cannot contain it.
pub const SEPARATOR: char = '_';
/// Scheme of the gateway's namespaced resource URIs.
pub const SCHEME: &str = "gigmcp://";

/// What the gateway tells clients about its names.
pub const INSTRUCTIONS: &str = "Tools and prompts of this profile's servers are named \
    <server>_<name>, their resources gigmcp://<server>/<uri> (unless the profile has one server \
    and prefixes off).";

/// The namespaced name of `tool` (or prompt) of `server`.
pub fn namespaced(server: &str, tool: &str) -> String {
    format!("{server}{SEPARATOR}{tool}")
}

/// Splits a namespaced name into (server, name).
pub fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once(SEPARATOR)
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
}

/// The namespaced form of a server's resource URI (or URI template).
pub fn namespace_uri(server: &str, uri: &str) -> String {
    format!("{SCHEME}{server}/{uri}")
}

/// Splits a namespaced URI into (server, original URI).
pub fn split_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix(SCHEME)?
        .split_once('/')
        .filter(|(server, original)| !server.is_empty() && !original.is_empty())
}

/// How a profile names what its servers offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `<server>_<name>` and `gigmcp://<server>/<uri>`: servers can never collide.
    Prefixed,
    /// Names and URIs as the profile's one server gives them.
    Plain,
}

impl Naming {
    pub fn of(profile: &gigmcp_store::Profile) -> Self {
        if profile.prefix_names {
            Naming::Prefixed
        } else {
            Naming::Plain
        }
    }

    /// The name a client sees for tool or prompt `name` of `server`.
    pub fn name(self, server: &str, name: &str) -> String {
        match self {
            Naming::Prefixed => namespaced(server, name),
            Naming::Plain => name.to_owned(),
        }
    }

    /// The URI (or URI template) a client sees for `uri` of `server`.
    pub fn uri(self, server: &str, uri: &str) -> String {
        match self {
            Naming::Prefixed => namespace_uri(server, uri),
            Naming::Plain => uri.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_first_separator() {
        assert_eq!(split("echo_echo"), Some(("echo", "echo")));
        assert_eq!(split("my-server_do_thing"), Some(("my-server", "do_thing")));
        assert_eq!(split("noseparator"), None);
        assert_eq!(split("_x"), None);
        assert_eq!(split("x_"), None);
        assert_eq!(namespaced("a", "b_c"), "a_b_c");
    }

    #[test]
    fn uris_round_trip_through_their_namespace() {
        for uri in [
            "test://static-text",
            "file:///etc/hosts",
            "https://x.test/a?b=c#d",
            "weird",
        ] {
            let n = namespace_uri("docs", uri);
            assert!(n.starts_with("gigmcp://docs/"));
            assert_eq!(split_uri(&n), Some(("docs", uri)));
        }
        assert_eq!(split_uri("test://static-text"), None);
        assert_eq!(split_uri("gigmcp://docs/"), None);
        assert_eq!(split_uri("gigmcp:///x"), None);
    }
}
