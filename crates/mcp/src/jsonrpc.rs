//! JSON-RPC 2.0 messages.
//!
//! Parameters and results stay `serde_json::Value`s so that everything a peer sends that we do
//! not interpret (extension fields, `_meta`, future additions) passes through untouched.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;

/// Standard JSON-RPC error codes.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Implementation-defined server error: the backend server is unavailable.
    pub const SERVER_UNAVAILABLE: i64 = -32000;
    /// Implementation-defined server error: the request timed out.
    pub const REQUEST_TIMEOUT: i64 = -32001;
    /// Handshake era: the resource a `resources/read` named does not exist.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// Stateless revision: a routing header is missing or disagrees with the body.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// Stateless revision: the request needs a client capability the client did not declare.
    pub const MISSING_CAPABILITY: i64 = -32021;
    /// The protocol revision is not one the receiver speaks (clients that probe
    /// `server/discover` fall back to `initialize` when the list names a handshake revision).
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
    /// The request was cancelled by the client (clients ignore the answer, as the spec asks).
    pub const REQUEST_CANCELLED: i64 = -32800;
}

/// A request id: a string or an integer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Num(i64),
    Str(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The `error` member of an error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

/// One JSON-RPC message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Request {
        id: Id,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
    Response {
        id: Id,
        result: Value,
    },
    Error {
        id: Option<Id>,
        error: ErrorObject,
    },
}

/// Why bytes are not one JSON-RPC message.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "JSON-RPC batches are not supported (removed from MCP in 2025-06-18): send one message per request"
    )]
    Batch,
    #[error("invalid JSON-RPC message: {0}")]
    Invalid(String),
}

impl ParseError {
    /// The JSON-RPC error a peer should get for this.
    pub fn to_error_object(&self) -> ErrorObject {
        let code = match self {
            ParseError::NotJson(_) => code::PARSE_ERROR,
            ParseError::Batch | ParseError::Invalid(_) => code::INVALID_REQUEST,
        };
        ErrorObject::new(code, self.to_string())
    }
}

fn parse_id(v: &Value) -> Result<Id, ParseError> {
    match v {
        Value::String(s) => Ok(Id::Str(s.clone())),
        Value::Number(n) => n.as_i64().map(Id::Num).ok_or_else(|| {
            ParseError::Invalid(format!("`id` must be a string or an integer, got {n}"))
        }),
        other => Err(ParseError::Invalid(format!(
            "`id` must be a string or an integer, got {}",
            type_name(other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Message {
    /// Parses one message from raw bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ParseError::NotJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// Classifies a parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        let mut obj = match value {
            Value::Object(o) => o,
            Value::Array(_) => return Err(ParseError::Batch),
            other => {
                return Err(ParseError::Invalid(format!(
                    "expected a JSON object, got {}",
                    type_name(&other)
                )));
            }
        };
        match obj.get("jsonrpc") {
            Some(Value::String(v)) if v == "2.0" => {}
            _ => return Err(ParseError::Invalid("`jsonrpc` must be \"2.0\"".into())),
        }
        if let Some(method) = obj.remove("method") {
            let Value::String(method) = method else {
                return Err(ParseError::Invalid("`method` must be a string".into()));
            };
            let params = obj.remove("params");
            if let Some(p) = &params
                && !(p.is_object() || p.is_array())
            {
                return Err(ParseError::Invalid(
                    "`params` must be an object or an array".into(),
                ));
            }
            return match obj.get("id") {
                None => Ok(Message::Notification { method, params }),
                Some(id) => Ok(Message::Request {
                    id: parse_id(id)?,
                    method,
                    params,
                }),
            };
        }
        if let Some(result) = obj.remove("result") {
            let id = obj
                .get("id")
                .ok_or_else(|| ParseError::Invalid("a response needs an `id`".into()))?;
            return Ok(Message::Response {
                id: parse_id(id)?,
                result,
            });
        }
        if let Some(error) = obj.remove("error") {
            let error: ErrorObject = serde_json::from_value(error)
                .map_err(|e| ParseError::Invalid(format!("malformed `error`: {e}")))?;
            let id = match obj.get("id") {
                None | Some(Value::Null) => None,
                Some(v) => Some(parse_id(v)?),
            };
            return Ok(Message::Error { id, error });
        }
        Err(ParseError::Invalid(
            "a message needs `method` (request or notification), `result` or `error`".into(),
        ))
    }

    /// The message as a JSON value.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("jsonrpc".into(), json!("2.0"));
        match self {
            Message::Request { id, method, params } => {
                m.insert("id".into(), json!(id));
                m.insert("method".into(), json!(method));
                if let Some(p) = params {
                    m.insert("params".into(), p.clone());
                }
            }
            Message::Notification { method, params } => {
                m.insert("method".into(), json!(method));
                if let Some(p) = params {
                    m.insert("params".into(), p.clone());
                }
            }
            Message::Response { id, result } => {
                m.insert("id".into(), json!(id));
                m.insert("result".into(), result.clone());
            }
            Message::Error { id, error } => {
                m.insert("id".into(), json!(id));
                m.insert("error".into(), json!(error));
            }
        }
        Value::Object(m)
    }

    /// A success response.
    pub fn response(id: Id, result: Value) -> Self {
        Message::Response { id, result }
    }

    /// An error response.
    pub fn error(id: Option<Id>, error: ErrorObject) -> Self {
        Message::Error { id, error }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        let req = Message::parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#).unwrap();
        assert_eq!(
            req,
            Message::Request {
                id: Id::Num(7),
                method: "tools/list".into(),
                params: None
            }
        );
        let note = Message::parse(br#"{"jsonrpc":"2.0","method":"x","params":{"a":1}}"#).unwrap();
        assert!(matches!(note, Message::Notification { .. }));
        let resp = Message::parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert_eq!(
            resp,
            Message::Response {
                id: Id::Str("a".into()),
                result: json!({})
            }
        );
        let err =
            Message::parse(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"m"}}"#)
                .unwrap();
        assert_eq!(
            err,
            Message::Error {
                id: None,
                error: ErrorObject::new(-1, "m")
            }
        );
    }

    #[test]
    fn rejects_what_is_not_one_message() {
        assert!(matches!(
            Message::parse(b"{nope"),
            Err(ParseError::NotJson(_))
        ));
        assert_eq!(Message::parse(b"[]"), Err(ParseError::Batch));
        assert!(matches!(Message::parse(b"3"), Err(ParseError::Invalid(_))));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"1.0","id":1,"method":"m"}"#),
            Err(ParseError::Invalid(_))
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#),
            Err(ParseError::Invalid(_))
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":3}"#),
            Err(ParseError::Invalid(_))
        ));
        assert_eq!(
            ParseError::Batch.to_error_object().code,
            code::INVALID_REQUEST
        );
        assert_eq!(
            ParseError::NotJson("x".into()).to_error_object().code,
            code::PARSE_ERROR
        );
    }

    #[test]
    fn unknown_fields_in_params_survive_a_round_trip() {
        let raw = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"t","arguments":{},"_meta":{"x":1},"future":[1,2]}});
        let msg = Message::from_value(raw.clone()).unwrap();
        assert_eq!(msg.to_value(), raw);
    }
}
