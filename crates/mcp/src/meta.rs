//! The `_meta` keys of the stateless revision (2026-07-28): every request names its revision,
//! the client's capabilities and the client; results name the server.

use crate::version::STATELESS_VERSION;
use serde_json::{Map, Value};

pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Replaces `logging/setLevel`: the least severe level the client wants for this request.
pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";

/// Adds the stateless revision's request `_meta` to `params` (created if absent), keeping any
/// other `_meta` entries (a progress token, say).
pub fn with_request_meta(
    params: Option<Value>,
    capabilities: &Value,
    client_info: &Value,
    log_level: Option<&str>,
) -> Value {
    let mut params = match params {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(
            PROTOCOL_VERSION.into(),
            Value::String(STATELESS_VERSION.into()),
        );
        meta.insert(CLIENT_CAPABILITIES.into(), capabilities.clone());
        meta.insert(CLIENT_INFO.into(), client_info.clone());
        match log_level {
            Some(level) => {
                meta.insert(LOG_LEVEL.into(), Value::String(level.into()));
            }
            None => {
                meta.remove(LOG_LEVEL);
            }
        }
    }
    Value::Object(params)
}

/// Removes the stateless revision's request keys from `params._meta` (a request forwarded to a
/// server of the handshake era must not look stateless to it); drops an emptied `_meta`.
pub fn strip_request_meta(params: &mut Value) {
    let Some(obj) = params.as_object_mut() else {
        return;
    };
    let Some(meta) = obj.get_mut("_meta").and_then(Value::as_object_mut) else {
        return;
    };
    for key in [
        PROTOCOL_VERSION,
        CLIENT_CAPABILITIES,
        CLIENT_INFO,
        LOG_LEVEL,
    ] {
        meta.remove(key);
    }
    if meta.is_empty() {
        obj.remove("_meta");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_meta_is_added_beside_what_is_there_and_stripped_again() {
        let caps = json!({"sampling": {}});
        let info = json!({"name": "gigmcp", "version": "1"});
        let mut p = with_request_meta(
            Some(json!({"name": "t", "_meta": {"progressToken": 3}})),
            &caps,
            &info,
            Some("info"),
        );
        assert_eq!(p["_meta"][PROTOCOL_VERSION], STATELESS_VERSION);
        assert_eq!(p["_meta"][CLIENT_CAPABILITIES], caps);
        assert_eq!(p["_meta"][LOG_LEVEL], "info");
        assert_eq!(p["_meta"]["progressToken"], 3);
        assert_eq!(p["name"], "t");
        strip_request_meta(&mut p);
        assert_eq!(p, json!({"name": "t", "_meta": {"progressToken": 3}}));
        let mut q = with_request_meta(None, &caps, &info, None);
        assert!(q["_meta"].get(LOG_LEVEL).is_none());
        strip_request_meta(&mut q);
        assert_eq!(q, json!({}));
    }
}
