//! Key/value pairs of a query string or a form body (T12, T14, G9 `style`).
//!
//! Contract, for a param named `k`:
//! - scalar ⇒ `k=<text>` ([`crate::encode::scalar_text`]).
//! - array, by `style` (default `form`): `form` repeats the key (`k=a&k=b`); `comma` joins the
//!   items with a literal `,` (`k=a,b`, a `,` inside an item is encoded); `brackets` repeats
//!   `k[]` (`k` itself when the name already ends in `[]`); `json` writes `k=["a","b"]`. An
//!   empty array writes nothing, except in `json` style (`k=[]`). Items that are arrays or
//!   objects are written as JSON.
//! - object, by `style` (default `json`): `json` writes `k={"a":1}`; `form` writes each
//!   member as its own pair (`a=1&b=2`); `brackets` writes `k[a]=1&k[b]=2` (deepObject);
//!   `comma` writes `k=a,1,b,2`.
//!
//! Pairs are built unencoded; [`encode_pairs`] writes them for a query or a form body.

use gigmcp_registry::{ParamType, ValueStyle};
use serde_json::Value;

use crate::encode::{Component, encode, scalar_text};

/// One pair: a key and a value made of pieces joined by a literal `,`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: String,
    pub pieces: Vec<String>,
}

fn pair(key: impl Into<String>, piece: String) -> Pair {
    Pair {
        key: key.into(),
        pieces: vec![piece],
    }
}

/// The pairs `value` of param `name` (declared `kind`, `style`) writes.
pub fn pairs(name: &str, value: &Value, kind: ParamType, style: Option<ValueStyle>) -> Vec<Pair> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => array_pairs(name, items, style.unwrap_or(ValueStyle::Form)),
        Value::Object(members) => match style.unwrap_or(ValueStyle::Json) {
            ValueStyle::Json => vec![pair(name, value.to_string())],
            ValueStyle::Form => members
                .iter()
                .map(|(k, v)| pair(k.clone(), item_text(v)))
                .collect(),
            ValueStyle::Brackets => members
                .iter()
                .map(|(k, v)| pair(format!("{name}[{k}]"), item_text(v)))
                .collect(),
            ValueStyle::Comma => vec![Pair {
                key: name.to_owned(),
                pieces: members
                    .iter()
                    .flat_map(|(k, v)| [k.clone(), item_text(v)])
                    .collect(),
            }],
        },
        _ => vec![pair(name, scalar_text(value, kind))],
    }
}

fn item_text(v: &Value) -> String {
    scalar_text(v, ParamType::Number)
}

fn array_pairs(name: &str, items: &[Value], style: ValueStyle) -> Vec<Pair> {
    match style {
        ValueStyle::Json => vec![pair(name, Value::Array(items.to_vec()).to_string())],
        _ if items.is_empty() => Vec::new(),
        ValueStyle::Form => items.iter().map(|v| pair(name, item_text(v))).collect(),
        ValueStyle::Brackets => {
            let key = if name.ends_with("[]") {
                name.to_owned()
            } else {
                format!("{name}[]")
            };
            items
                .iter()
                .map(|v| pair(key.clone(), item_text(v)))
                .collect()
        }
        ValueStyle::Comma => vec![Pair {
            key: name.to_owned(),
            pieces: items.iter().map(item_text).collect(),
        }],
    }
}

/// How [`encode_pairs`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A query string; `reserved`: the param has `allowReserved`.
    Query { reserved: bool },
    /// An `application/x-www-form-urlencoded` body.
    Form,
}

/// Appends `pairs` to `out` (`&`-separated), encoded for `target`.
pub fn encode_pairs(out: &mut String, pairs: &[Pair], target: Target) {
    let (key_c, value_c) = match target {
        Target::Query { reserved: false } => (Component::QueryKey, Component::Strict),
        Target::Query { reserved: true } => (Component::QueryKey, Component::QueryReserved),
        Target::Form => (Component::Form, Component::Form),
    };
    for p in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(&p.key, key_c));
        out.push('=');
        for (i, piece) in p.pieces.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&encode(piece, value_c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(name: &str, v: Value, kind: ParamType, style: Option<ValueStyle>) -> String {
        let mut out = String::new();
        encode_pairs(
            &mut out,
            &pairs(name, &v, kind, style),
            Target::Query { reserved: false },
        );
        out
    }

    #[test]
    fn query_arrays_per_style() {
        let v = || json!(["a b", "c,d", 3]);
        let a = ParamType::Array;
        assert_eq!(query("k", v(), a, None), "k=a%20b&k=c%2Cd&k=3");
        assert_eq!(
            query("k", v(), a, Some(ValueStyle::Form)),
            "k=a%20b&k=c%2Cd&k=3"
        );
        assert_eq!(
            query("k", v(), a, Some(ValueStyle::Comma)),
            "k=a%20b,c%2Cd,3"
        );
        assert_eq!(
            query("k", v(), a, Some(ValueStyle::Brackets)),
            "k[]=a%20b&k[]=c%2Cd&k[]=3"
        );
        assert_eq!(
            query(
                "team_ids[]",
                json!(["x", "y"]),
                a,
                Some(ValueStyle::Brackets)
            ),
            "team_ids[]=x&team_ids[]=y"
        );
        assert_eq!(
            query("team_ids[]", json!(["x", "y"]), a, None),
            "team_ids[]=x&team_ids[]=y"
        );
        assert_eq!(
            query("k", json!(["a", 1]), a, Some(ValueStyle::Json)),
            "k=%5B%22a%22%2C1%5D"
        );
        assert_eq!(query("k", json!([]), a, None), "");
        assert_eq!(query("k", json!([]), a, Some(ValueStyle::Json)), "k=%5B%5D");
        assert_eq!(
            query("k", json!([{"x": 1}]), a, None),
            "k=%7B%22x%22%3A1%7D"
        );
    }

    #[test]
    fn query_objects_per_style() {
        let v = || json!({"since": "2024-01-01", "until": 5});
        let o = ParamType::Object;
        assert_eq!(
            query("time_range", v(), o, None),
            "time_range=%7B%22since%22%3A%222024-01-01%22%2C%22until%22%3A5%7D"
        );
        assert_eq!(
            query("t", v(), o, Some(ValueStyle::Form)),
            "since=2024-01-01&until=5"
        );
        assert_eq!(
            query("t", v(), o, Some(ValueStyle::Brackets)),
            "t[since]=2024-01-01&t[until]=5"
        );
        assert_eq!(
            query("t", v(), o, Some(ValueStyle::Comma)),
            "t=since,2024-01-01,until,5"
        );
    }

    #[test]
    fn scalars_keys_and_reserved() {
        assert_eq!(
            query("$filter", json!("a eq 'b'"), ParamType::String, None),
            "$filter=a%20eq%20%27b%27"
        );
        assert_eq!(query("n", json!(2.0), ParamType::Integer, None), "n=2");
        assert_eq!(
            query("b", json!(false), ParamType::Boolean, None),
            "b=false"
        );
        let mut out = String::new();
        encode_pairs(
            &mut out,
            &pairs("p", &json!("a/b:c&d"), ParamType::String, None),
            Target::Query { reserved: true },
        );
        assert_eq!(out, "p=a/b:c%26d");
    }

    #[test]
    fn form_encoding() {
        let mut out = String::new();
        for (k, v, kind) in [
            ("name", json!("a b+c"), ParamType::String),
            ("tags", json!(["x", "y"]), ParamType::Array),
            ("attributes", json!({"a": "é"}), ParamType::Object),
            ("cleanup.mode", json!("raw"), ParamType::String),
        ] {
            encode_pairs(&mut out, &pairs(k, &v, kind, None), Target::Form);
        }
        assert_eq!(
            out,
            "name=a+b%2Bc&tags=x&tags=y&attributes=%7B%22a%22%3A%22%C3%A9%22%7D&cleanup.mode=raw"
        );
    }
}
