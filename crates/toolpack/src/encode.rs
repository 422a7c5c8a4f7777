//! How argument values become URL and header text: the scalar rendering every location shares,
//! and percent-encoding by component.
//!
//! Contract:
//! - [`scalar_text`]: strings as they are, integers without a fraction (`3`, also for a `3.0`
//!   the JSON parser kept as a float), other numbers as JSON text, booleans `true`/`false`,
//!   arrays and objects as compact JSON, `null` as the empty string.
//! - [`encode`]: UTF-8 bytes percent-encoded with upper-case hex; which ASCII characters stay
//!   literal depends on the [`Component`] (RFC 3986 unreserved `A-Z a-z 0-9 - . _ ~` always).

use gigmcp_registry::ParamType;
use serde_json::Value;

/// Where encoded text goes; decides which characters stay literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A path segment or query value: unreserved characters only.
    Strict,
    /// A path value with `allowReserved`: also `/ : @` and the sub-delims `! $ & ' ( ) * + , ; =`
    /// (`?`, `#`, `[`, `]`, `%` and the rest stay encoded: they would change the URL's shape).
    PathReserved,
    /// A query value with `allowReserved`: also `/ : @ ? ! $ ' ( ) * , ;` (`&`, `=`, `+` and
    /// `#` stay encoded: they would split or end the query).
    QueryReserved,
    /// A query key from the toolspec: also `$ [ ] @ : , / ! ' ( ) * ;`, so `$filter`,
    /// `filters[search]` and `team_ids[]` read as the API documents them.
    QueryKey,
    /// `application/x-www-form-urlencoded` (WHATWG): alphanumerics and `* - . _` literal, space
    /// as `+`, everything else percent-encoded.
    Form,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn literal(b: u8, c: Component) -> bool {
    match c {
        Component::Strict => is_unreserved(b),
        Component::PathReserved => is_unreserved(b) || b"/:@!$&'()*+,;=".contains(&b),
        Component::QueryReserved => is_unreserved(b) || b"/:@?!$'()*,;".contains(&b),
        Component::QueryKey => is_unreserved(b) || b"$[]@:,/!'()*;".contains(&b),
        Component::Form => b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_'),
    }
}

/// Percent-encodes `s` for `component`.
pub fn encode(s: &str, component: Component) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if literal(b, component) {
            out.push(char::from(b));
        } else if b == b' ' && component == Component::Form {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// The text of a value in a URL, a header or a form field (see the module contract). `kind` is
/// the param's declared type: an integer param given `3.0` is written `3`.
pub fn scalar_text(value: &Value, kind: ParamType) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if kind == ParamType::Integer
                && n.as_i64().is_none()
                && n.as_u64().is_none()
                && let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // Exact: |f| < 2^53, so the conversion loses nothing.
                #[allow(clippy::cast_possible_truncation)]
                return (f as i64).to_string();
            }
            n.to_string()
        }
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn components_keep_what_they_should() {
        let s = "a b/c?d#e&f=g+h[i]@j:k$l'é~";
        assert_eq!(
            encode(s, Component::Strict),
            "a%20b%2Fc%3Fd%23e%26f%3Dg%2Bh%5Bi%5D%40j%3Ak%24l%27%C3%A9~"
        );
        assert_eq!(
            encode(s, Component::PathReserved),
            "a%20b/c%3Fd%23e&f=g+h%5Bi%5D@j:k$l'%C3%A9~"
        );
        assert_eq!(
            encode(s, Component::QueryReserved),
            "a%20b/c?d%23e%26f%3Dg%2Bh%5Bi%5D@j:k$l'%C3%A9~"
        );
        assert_eq!(encode("$filter", Component::QueryKey), "$filter");
        assert_eq!(encode("team_ids[]", Component::QueryKey), "team_ids[]");
        assert_eq!(encode("a b&c", Component::QueryKey), "a%20b%26c");
        assert_eq!(encode("a b~*", Component::Form), "a+b%7E*");
    }

    #[test]
    fn scalars() {
        assert_eq!(scalar_text(&json!("x y"), ParamType::String), "x y");
        assert_eq!(scalar_text(&json!(3), ParamType::Integer), "3");
        assert_eq!(scalar_text(&json!(3.0), ParamType::Integer), "3");
        assert_eq!(scalar_text(&json!(3.5), ParamType::Number), "3.5");
        assert_eq!(scalar_text(&json!(-2), ParamType::Number), "-2");
        assert_eq!(scalar_text(&json!(true), ParamType::Boolean), "true");
        assert_eq!(
            scalar_text(&json!({"a": [1]}), ParamType::Object),
            r#"{"a":[1]}"#
        );
        assert_eq!(scalar_text(&Value::Null, ParamType::String), "");
    }
}
