//! Typed, borrowed views of the fields the gateway reads from messages it otherwise passes on
//! untouched. A view never owns or rebuilds the message, so unknown fields survive.

use crate::meta;
use serde_json::{Map, Value};

/// `params._meta` of a request (either era).
#[derive(Clone, Copy, Debug)]
pub struct RequestMeta<'a>(Option<&'a Map<String, Value>>);

impl<'a> RequestMeta<'a> {
    /// The `_meta` of `params` (empty when there is none).
    pub fn of(params: Option<&'a Value>) -> Self {
        Self(
            params
                .and_then(|p| p.get("_meta"))
                .and_then(Value::as_object),
        )
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.and_then(|m| m.get(key))
    }

    /// Stateless revision: the revision the request speaks.
    pub fn protocol_version(&self) -> Option<&'a str> {
        self.get(meta::PROTOCOL_VERSION).and_then(Value::as_str)
    }

    /// Stateless revision: the client's capabilities (an object when well-formed).
    pub fn client_capabilities(&self) -> Option<&'a Value> {
        self.get(meta::CLIENT_CAPABILITIES)
    }

    /// Stateless revision: the least severe log level the client wants for this request.
    pub fn log_level(&self) -> Option<&'a str> {
        self.get(meta::LOG_LEVEL).and_then(Value::as_str)
    }

    /// The client's progress token, if it wants progress.
    pub fn progress_token(&self) -> Option<&'a Value> {
        self.get("progressToken")
    }
}

/// The params of a `tools/call`.
#[derive(Clone, Copy, Debug)]
pub struct ToolCall<'a> {
    pub name: &'a str,
    /// `None` when the client sent none.
    pub arguments: Option<&'a Value>,
    pub meta: RequestMeta<'a>,
}

impl<'a> ToolCall<'a> {
    /// `None` when `params` is not an object with a string `name`.
    pub fn of(params: Option<&'a Value>) -> Option<Self> {
        let name = params?.get("name")?.as_str()?;
        Some(Self {
            name,
            arguments: params.and_then(|p| p.get("arguments")),
            meta: RequestMeta::of(params),
        })
    }
}

/// A stateless server's (or the gateway's) `InputRequiredResult`: the call needs answers from
/// the client before it can complete.
#[derive(Clone, Copy, Debug)]
pub struct InputRequired<'a> {
    /// Input requests by the key the client answers them under in `inputResponses`.
    pub requests: Option<&'a Map<String, Value>>,
    /// Opaque state the retry must carry back.
    pub request_state: Option<&'a str>,
}

/// `resultType` of a result that asks for input.
pub const INPUT_REQUIRED: &str = "input_required";
/// `resultType` of a complete result.
pub const COMPLETE: &str = "complete";

impl<'a> InputRequired<'a> {
    /// `Some` when `result` asks for input.
    pub fn of(result: &'a Value) -> Option<Self> {
        if result.get("resultType").and_then(Value::as_str) != Some(INPUT_REQUIRED) {
            return None;
        }
        Some(Self {
            requests: result.get("inputRequests").and_then(Value::as_object),
            request_state: result.get("requestState").and_then(Value::as_str),
        })
    }
}

/// The answers and state a stateless client's retry carries.
#[derive(Clone, Copy, Debug)]
pub struct InputRetry<'a> {
    /// `inputResponses`, by request key.
    pub responses: Option<&'a Map<String, Value>>,
    pub request_state: Option<&'a str>,
}

impl<'a> InputRetry<'a> {
    pub fn of(params: Option<&'a Value>) -> Self {
        Self {
            responses: params
                .and_then(|p| p.get("inputResponses"))
                .and_then(Value::as_object),
            request_state: params
                .and_then(|p| p.get("requestState"))
                .and_then(Value::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_read_without_touching_the_message() {
        let params = json!({"name": "t", "arguments": {"a": 1}, "x-extension": true,
            "_meta": {"progressToken": 7, meta::PROTOCOL_VERSION: "2026-07-28",
                      meta::CLIENT_CAPABILITIES: {"elicitation": {}}, meta::LOG_LEVEL: "debug"}});
        let call = ToolCall::of(Some(&params)).unwrap();
        assert_eq!(call.name, "t");
        assert_eq!(call.arguments, Some(&json!({"a": 1})));
        assert_eq!(call.meta.progress_token(), Some(&json!(7)));
        assert_eq!(call.meta.protocol_version(), Some("2026-07-28"));
        assert_eq!(call.meta.log_level(), Some("debug"));
        assert!(call.meta.client_capabilities().unwrap().is_object());
        assert!(ToolCall::of(Some(&json!({"name": 3}))).is_none());
        assert!(RequestMeta::of(None).progress_token().is_none());

        let result = json!({"resultType": INPUT_REQUIRED, "requestState": "s",
                            "inputRequests": {"k": {"method": "elicitation/create"}}});
        let input = InputRequired::of(&result).unwrap();
        assert_eq!(input.request_state, Some("s"));
        assert_eq!(input.requests.unwrap().len(), 1);
        assert!(InputRequired::of(&json!({"content": []})).is_none());
        let retry = json!({"inputResponses": {"k": {}}, "requestState": "s"});
        let retry = InputRetry::of(Some(&retry));
        assert_eq!(retry.request_state, Some("s"));
        assert!(retry.responses.unwrap().contains_key("k"));
    }
}
