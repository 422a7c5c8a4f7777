//! The MCP method names the gateway sends, answers or matches, in one place: a name typed twice
//! is a bug waiting for a typo.

// Requests a client sends to a server (and the gateway to its servers).
pub const INITIALIZE: &str = "initialize";
pub const PING: &str = "ping";
pub const TOOLS_LIST: &str = "tools/list";
pub const TOOLS_CALL: &str = "tools/call";
pub const RESOURCES_LIST: &str = "resources/list";
pub const RESOURCES_TEMPLATES_LIST: &str = "resources/templates/list";
pub const RESOURCES_READ: &str = "resources/read";
pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
pub const PROMPTS_LIST: &str = "prompts/list";
pub const PROMPTS_GET: &str = "prompts/get";
pub const COMPLETION_COMPLETE: &str = "completion/complete";
pub const LOGGING_SET_LEVEL: &str = "logging/setLevel";
/// Stateless revision: what the server speaks and offers (replaces `initialize`).
pub const SERVER_DISCOVER: &str = "server/discover";
/// Stateless revision: a long-lived stream of change notifications.
pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";

// Requests a server sends to its client.
pub const SAMPLING_CREATE_MESSAGE: &str = "sampling/createMessage";
pub const ELICITATION_CREATE: &str = "elicitation/create";
pub const ROOTS_LIST: &str = "roots/list";

// Notifications.
pub const INITIALIZED: &str = "notifications/initialized";
pub const CANCELLED: &str = "notifications/cancelled";
pub const PROGRESS: &str = "notifications/progress";
pub const MESSAGE: &str = "notifications/message";
pub const TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
pub const PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";
pub const RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
pub const RESOURCES_UPDATED: &str = "notifications/resources/updated";
pub const SUBSCRIPTIONS_ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";

/// Requests whose server may ask the client for input while answering them.
pub const INTERACTIVE: &[&str] = &[TOOLS_CALL, PROMPTS_GET, RESOURCES_READ];

/// Handshake-era requests the stateless revision removed.
pub const REMOVED_IN_STATELESS: &[&str] = &[
    PING,
    LOGGING_SET_LEVEL,
    RESOURCES_SUBSCRIBE,
    RESOURCES_UNSUBSCRIBE,
];

/// List requests (cacheable in the stateless revision).
pub const LISTS: &[&str] = &[
    SERVER_DISCOVER,
    TOOLS_LIST,
    PROMPTS_LIST,
    RESOURCES_LIST,
    RESOURCES_TEMPLATES_LIST,
    RESOURCES_READ,
];

/// The client capability a server's request to the client needs; `None` for requests the
/// gateway does not pass on to clients.
pub fn needed_capability(method: &str) -> Option<&'static str> {
    match method {
        SAMPLING_CREATE_MESSAGE => Some("sampling"),
        ELICITATION_CREATE => Some("elicitation"),
        ROOTS_LIST => Some("roots"),
        _ => None,
    }
}
