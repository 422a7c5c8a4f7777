//! Header param values (T13).
//!
//! Contract: a header value is printable ASCII (space to `~`, and tab); CR, LF and other
//! control characters are refused (no header injection). Arrays and objects are sent as compact
//! JSON. JSON text with non-ASCII characters (an object or array argument, or a string argument
//! holding JSON such as Dropbox's `Dropbox-API-Arg`) has each non-ASCII character written as a
//! `\uXXXX` escape (surrogate pairs beyond the BMP), which leaves the JSON's meaning unchanged;
//! any other non-ASCII text is refused. Which header names may be params is lint's rule (no
//! `Host`, `Content-Length`, hop-by-hop headers, ...).

use gigmcp_registry::ParamType;
use serde_json::Value;

use crate::encode::scalar_text;

/// Why a value cannot be a header value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(
        "contains a line break or another control character, which an HTTP header cannot carry"
    )]
    Control,
    #[error(
        "contains non-ASCII text, which an HTTP header cannot carry (only JSON values are escaped to ASCII)"
    )]
    NonAscii,
}

/// `text` (valid JSON) with every non-ASCII character written as `\uXXXX`.
pub fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn is_json_container(text: &str) -> bool {
    matches!(
        serde_json::from_str::<Value>(text),
        Ok(Value::Object(_) | Value::Array(_))
    )
}

/// The header text of `value` (declared `kind`).
pub fn header_value(value: &Value, kind: ParamType) -> Result<String, HeaderError> {
    let text = match value {
        Value::Array(_) | Value::Object(_) => ascii_json(&value.to_string()),
        Value::String(s) if !s.is_ascii() => {
            if is_json_container(s) {
                ascii_json(s)
            } else {
                return Err(HeaderError::NonAscii);
            }
        }
        _ => scalar_text(value, kind),
    };
    if text
        .bytes()
        .any(|b| b != b'\t' && !(b' '..=b'~').contains(&b))
    {
        return Err(HeaderError::Control);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_values() {
        let s = ParamType::String;
        assert_eq!(header_value(&json!("abc-1"), s).unwrap(), "abc-1");
        assert_eq!(header_value(&json!(7), ParamType::Integer).unwrap(), "7");
        for bad in ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\u{0}b", "a\u{7f}"] {
            assert_eq!(
                header_value(&json!(bad), s),
                Err(HeaderError::Control),
                "{bad:?}"
            );
        }
        assert_eq!(header_value(&json!("café"), s), Err(HeaderError::NonAscii));
        // JSON in a string param (Dropbox-API-Arg): non-ASCII escaped, the rest untouched
        assert_eq!(
            header_value(&json!(r#"{"path": "/café/😀.txt"}"#), s).unwrap(),
            r#"{"path": "/caf\u00e9/\ud83d\ude00.txt"}"#
        );
        assert_eq!(
            header_value(&json!({"path": "/é"}), ParamType::Object).unwrap(),
            r#"{"path":"/\u00e9"}"#
        );
        // a JSON string with an escaped newline stays on one line
        assert_eq!(
            header_value(&json!({"a": "x\ny"}), ParamType::Object).unwrap(),
            r#"{"a":"x\ny"}"#
        );
    }
}
