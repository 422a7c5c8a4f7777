//! An independent request builder: from a toolspec tool and arguments, what the upstream must
//! receive. Written from the toolspec schema and the engine's contract, sharing no code with
//! the engine, so the sweep compares two implementations.
//!
//! Rules (the toolpack notes 1.4, T6-T15; where the notes leave a choice, the one stated):
//! - path: `{name}` replaced by the value (strings as is, numbers and booleans as JSON text),
//!   percent-encoded as one RFC 3986 segment (unreserved kept, hex compared case-blind; with
//!   `allowReserved` also `/ : @ ! $ & ' ( ) * + , ; =`); inside an OData literal `'{name}'` a
//!   quote is doubled; literal template text untouched;
//! - query: params in spec order, absent ones omitted, compared as decoded pairs (a raw `+`
//!   reads as a space, as servers read it); arrays by `style` (form: the key repeated, the
//!   default; comma; brackets: `key[]` repeated; json), objects as JSON; a reserved-expansion
//!   value of safe characters must also appear verbatim;
//! - headers: scalars as text, arrays/objects as JSON in ASCII; besides the fixed `User-Agent`
//!   and `Accept`, the framing headers and the proxy's `Accept-Encoding`, nothing else;
//! - body: a tool with body params sends one, even when no body argument is given (choice:
//!   `{}` / an empty form); JSON: the given args under their literal names; form: urlencoded
//!   like the query; multipart: a part per arg (arrays one per item), `contentEncoding:
//!   base64` args as file parts with a filename, their media type and decoded bytes; binary:
//!   the decoded bytes; a POST/PUT/PATCH of a tool without body params: no body, no
//!   `Content-Type`, `Content-Length: 0`;
//! - `const` params always sent with their value, `from: install.<var>` params with the
//!   install value, `default` never sent;
//! - auth: the sealed header with the real secret (the proxy swapped it), the entrusted
//!   header, or the entrusted `auth.query` parameter.
//! - property keys (T7): a valid name as is; an invalid one as an alias with each invalid
//!   character as `_` (runs collapsed and ends trimmed, or not), de-duplicated with `_<n>`,
//!   whose description names the original.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use gigmcp_registry::{
    ContentEncoding, Encoding, HttpMethod, Param, ParamLocation, ParamType, Toolspec, ToolspecTool,
    ValueStyle,
};
use serde_json::{Value, json};

use super::mock::Recorded;

/// A value as the upstream must read it: literal text, or JSON text equal to a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(String),
    Json(Value),
}

impl Val {
    fn matches(&self, got: &str) -> bool {
        match self {
            Val::Text(t) => t == got,
            Val::Json(v) => serde_json::from_str::<Value>(got).is_ok_and(|g| &g == v),
        }
    }
}

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Val::Text(t) => write!(f, "{t:?}"),
            Val::Json(v) => write!(f, "json {v}"),
        }
    }
}

/// One expected multipart part.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub value: PartValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PartValue {
    Field(Val),
    File { bytes: Vec<u8>, media_type: String },
}

/// The expected body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body at all.
    Empty,
    Json(Value),
    Form(Vec<(String, Val)>),
    Multipart(Vec<Part>),
    Raw {
        bytes: Vec<u8>,
        media_type: String,
    },
}

/// Where the credential goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Header { name: String, value: String },
    Query { name: String, value: String },
}

/// Everything the upstream must see for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub method: &'static str,
    pub host: String,
    /// Raw path, percent-encoded.
    pub path: String,
    /// Decoded `(name, value)` pairs (a multiset).
    pub query: Vec<(String, Val)>,
    /// Raw `name=value` texts that must appear verbatim in the query (reserved expansion).
    pub raw_query: Vec<String>,
    /// Lowercase header name and value, each sent exactly once.
    pub headers: Vec<(String, Val)>,
    pub body: Body,
}

/// Install-wide context of a spec: host overrides, install values, credential.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub hosts: HashMap<String, String>,
    pub install: HashMap<String, String>,
    pub auth: Auth,
}

pub fn method_str(m: HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Delete => "DELETE",
    }
}

/// `https://host[/prefix]` → (host, prefix without trailing `/`).
pub fn split_base(url: &str) -> (String, String) {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("/{prefix}")
    };
    (host.to_ascii_lowercase(), prefix)
}

/// Scalars as the wire writes them: strings as is, numbers and booleans as JSON text.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A scalar as text, an array or object as JSON.
fn val_of(v: &Value) -> Val {
    match v {
        Value::Array(_) | Value::Object(_) => Val::Json(v.clone()),
        other => Val::Text(text_of(other)),
    }
}

const RESERVED_KEPT: &[u8] = b"/:@!$&'()*+,;=";

/// Percent-encodes one path segment (uppercase hex).
pub fn encode_segment(s: &str, allow_reserved: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || b"-._~".contains(&b)
            || allow_reserved && RESERVED_KEPT.contains(&b)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value a param is sent with: its constant, its install value, or the argument.
fn value_of(p: &Param, args: &BTreeMap<String, Value>, ctx: &Ctx) -> Result<Option<Value>, String> {
    if let Some(c) = &p.constant {
        return Ok(Some(c.clone()));
    }
    if let Some(var) = p.install_var() {
        return ctx
            .install
            .get(var)
            .map(|v| Some(Value::String(v.clone())))
            .ok_or_else(|| format!("no install value for `{var}`"));
    }
    Ok(args.get(&p.name).filter(|v| !v.is_null()).cloned())
}

/// `name`/`value` pairs of a query or form value, by style.
fn pairs(name: &str, v: &Value, style: Option<ValueStyle>) -> Result<Vec<(String, Val)>, String> {
    Ok(match v {
        Value::Array(items) => match style.unwrap_or(ValueStyle::Form) {
            ValueStyle::Form => items.iter().map(|i| (name.to_owned(), val_of(i))).collect(),
            ValueStyle::Brackets => {
                // A name already ending in `[]` is the bracketed key itself.
                let key = if name.ends_with("[]") {
                    name.to_owned()
                } else {
                    format!("{name}[]")
                };
                items.iter().map(|i| (key.clone(), val_of(i))).collect()
            }
            ValueStyle::Comma => {
                let texts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Value::Array(_) | Value::Object(_) => i.to_string(),
                        other => text_of(other),
                    })
                    .collect();
                vec![(name.to_owned(), Val::Text(texts.join(",")))]
            }
            ValueStyle::Json => vec![(name.to_owned(), Val::Json(v.clone()))],
        },
        Value::Object(_) => match style.unwrap_or(ValueStyle::Json) {
            ValueStyle::Json => vec![(name.to_owned(), Val::Json(v.clone()))],
            other => {
                return Err(format!(
                    "object `{name}` with style {other:?}: not specified"
                ));
            }
        },
        other => vec![(name.to_owned(), Val::Text(text_of(other)))],
    })
}

/// The request the engine must send for `tool` called with `args` (keyed by spec param name).
pub fn build(
    spec: &Toolspec,
    tool: &ToolspecTool,
    args: &BTreeMap<String, Value>,
    ctx: &Ctx,
) -> Result<Expected, String> {
    let (base_host, prefix) = split_base(tool.base_url.as_deref().unwrap_or(&spec.base_url));
    let host = ctx.hosts.get(&base_host).cloned().unwrap_or(base_host);

    // Path: template text kept, placeholders replaced by encoded values.
    let mut path = prefix;
    let mut rest = tool.path.as_str();
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| format!("unbalanced path `{}`", tool.path))?;
        path.push_str(&rest[..open]);
        let name = &rest[open + 1..close];
        let p = tool
            .params
            .iter()
            .find(|p| p.location == ParamLocation::Path && p.name == name)
            .ok_or_else(|| format!("placeholder `{name}` has no path param"))?;
        let v = value_of(p, args, ctx)?.ok_or_else(|| format!("path param `{name}` missing"))?;
        let mut text = text_of(&v);
        // Inside an OData string literal (`search(q='{q}')`) a quote is doubled.
        if rest[..open].ends_with('\'') && rest[close + 1..].starts_with('\'') {
            text = text.replace('\'', "''");
        }
        path.push_str(&encode_segment(&text, p.allow_reserved));
        rest = &rest[close + 1..];
    }
    path.push_str(rest);

    let mut query = Vec::new();
    let mut raw_query = Vec::new();
    let mut headers = Vec::new();
    let mut body_params: Vec<(&Param, Value)> = Vec::new();
    for p in &tool.params {
        let Some(v) = value_of(p, args, ctx)? else {
            continue;
        };
        match p.location {
            ParamLocation::Path => {}
            ParamLocation::Query => {
                // Reserved expansion keeps `/ : @ ? ! $ ' ( ) * , ;` as they are; a value made of
                // those and unreserved characters only must appear verbatim. (`& = # + %` and
                // spaces are always encoded, so they can never start a new parameter.)
                let text = text_of(&v);
                if p.allow_reserved
                    && v.is_string()
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~/:@?!$'()*,;".contains(&b))
                {
                    raw_query.push(format!("{}={text}", p.name));
                }
                query.extend(pairs(&p.name, &v, p.style)?);
            }
            ParamLocation::Header => headers.push((p.name.to_ascii_lowercase(), val_of(&v))),
            ParamLocation::Body => body_params.push((p, v)),
        }
    }
    match &ctx.auth {
        Auth::None => {}
        Auth::Header { name, value } => {
            headers.push((name.to_ascii_lowercase(), Val::Text(value.clone())));
        }
        Auth::Query { name, value } => query.push((name.clone(), Val::Text(value.clone()))),
    }

    // A tool with body params always sends a body (an empty object or form when no value was
    // given); a tool without any sends none (`Content-Length: 0`), whatever its `encoding`.
    let has_body = tool
        .params
        .iter()
        .any(|p| p.location == ParamLocation::Body);
    let body = if !has_body {
        Body::Empty
    } else {
        match tool.encoding.unwrap_or(Encoding::Json) {
            Encoding::Json => Body::Json(Value::Object(
                body_params
                    .iter()
                    .map(|(p, v)| (p.name.clone(), v.clone()))
                    .collect(),
            )),
            Encoding::Form => {
                let mut out = Vec::new();
                for (p, v) in &body_params {
                    out.extend(pairs(&p.name, v, p.style)?);
                }
                Body::Form(out)
            }
            Encoding::Multipart => {
                let mut parts = Vec::new();
                for (p, v) in &body_params {
                    if p.content_encoding == Some(ContentEncoding::Base64) {
                        parts.push(Part {
                            name: p.name.clone(),
                            value: PartValue::File {
                                bytes: decode_b64(&text_of(v))?,
                                media_type: media_type(p),
                            },
                        });
                    } else if let Value::Array(items) = v {
                        // One field per item, like a repeated form key.
                        parts.extend(items.iter().map(|i| Part {
                            name: p.name.clone(),
                            value: PartValue::Field(val_of(i)),
                        }));
                    } else {
                        parts.push(Part {
                            name: p.name.clone(),
                            value: PartValue::Field(val_of(v)),
                        });
                    }
                }
                Body::Multipart(parts)
            }
            Encoding::Binary => {
                let (p, v) = body_params
                    .first()
                    .ok_or("a binary body without its bytes argument")?;
                Body::Raw {
                    bytes: decode_b64(&text_of(v))?,
                    media_type: media_type(p),
                }
            }
        }
    };
    Ok(Expected {
        method: method_str(tool.method),
        host,
        path,
        query,
        raw_query,
        headers,
        body,
    })
}

fn media_type(p: &Param) -> String {
    p.media_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

fn decode_b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("argument is not base64: {e}"))
}

// ----- arguments ---------------------------------------------------------------------------

/// A deterministic argument for param number `idx` of a tool: each type and location gets
/// values that make encoding visible (spaces, `/`, `?`, `%`, `&`, `=`, `+`, non-ASCII), except
/// headers (visible ASCII) and reserved expansions (only `/` and `:`).
pub fn arg_value(p: &Param, idx: usize) -> Value {
    if let Some(values) = &p.enum_values
        && let Some(first) = values.first()
    {
        return first.clone();
    }
    match p.kind {
        ParamType::String => {
            if p.content_encoding == Some(ContentEncoding::Base64) {
                let bytes = [&[0u8, 1, 0xfe, 0xff][..], format!("bytes-{idx}").as_bytes()].concat();
                return json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
            let s = match (p.location, p.allow_reserved) {
                (ParamLocation::Path | ParamLocation::Query, true) => format!("seg{idx}/sub:{idx}"),
                (ParamLocation::Path, false) => format!("p{idx} a/b?c%d é'"),
                (ParamLocation::Header, _) => format!("h{idx}-value"),
                (ParamLocation::Query, false) => format!("q{idx} a&b=c+d/é?#%"),
                (ParamLocation::Body, _) => format!("b{idx} \"q\" é&=+%"),
            };
            json!(s)
        }
        ParamType::Integer => json!(100 + idx as i64),
        ParamType::Number => json!(idx as f64 + 0.5),
        ParamType::Boolean => json!(idx.is_multiple_of(2)),
        ParamType::Array => json!([format!("a{idx}"), format!("b {idx}é")]),
        ParamType::Object => {
            if p.location == ParamLocation::Header {
                json!({"path": format!("/dir é/{idx}"), "n": idx})
            } else {
                json!({"k": format!("v{idx} é"), "n": idx, "nested": {"ok": true}})
            }
        }
    }
}

/// The two argument sets of a tool, keyed by spec param name: required ones only, then all.
pub fn arg_sets(tool: &ToolspecTool) -> [BTreeMap<String, Value>; 2] {
    let mut required = BTreeMap::new();
    let mut all = BTreeMap::new();
    for (idx, p) in tool.params.iter().enumerate() {
        if !p.is_argument() {
            continue;
        }
        let v = arg_value(p, idx);
        if p.required {
            required.insert(p.name.clone(), v.clone());
        }
        all.insert(p.name.clone(), v);
    }
    [required, all]
}

// ----- input schema ------------------------------------------------------------------------

/// Whether `name` may be a property key as is.
pub fn valid_key(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn type_name(k: ParamType) -> &'static str {
    match k {
        ParamType::String => "string",
        ParamType::Integer => "integer",
        ParamType::Number => "number",
        ParamType::Boolean => "boolean",
        ParamType::Array => "array",
        ParamType::Object => "object",
    }
}

/// `s` with runs of `_` collapsed and leading/trailing `_` removed.
fn collapse_underscores(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches('_').to_owned()
}

/// Whether `key` is an alias of the invalid name `name` per the contract: each invalid
/// character as `_` (runs collapsed and ends trimmed, or not: the notes allow trimming), cut
/// to 64 bytes, optionally de-duplicated with a `_<n>` suffix.
pub fn alias_fits(name: &str, key: &str) -> bool {
    if !valid_key(key) {
        return false;
    }
    let underscored: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let collapsed = collapse_underscores(&underscored);
    let mut bases = vec![underscored, collapsed.clone()];
    if collapsed.is_empty() {
        bases.push("param".to_owned());
    }
    let mut stems = vec![key.to_owned()];
    if let Some((stem, n)) = key.rsplit_once('_')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        stems.push(stem.to_owned());
    }
    stems.iter().any(|s| {
        bases
            .iter()
            .any(|b| b == s || (b.len() > 64 && s.len() >= 56 && b.starts_with(s.as_str())))
    })
}

/// Checks one `tools/list` entry against its spec tool; returns the property key of each
/// argument (by spec name) as the engine published it, and the problems found.
pub fn check_listed_tool(
    tool: &ToolspecTool,
    listed: &Value,
) -> (HashMap<String, String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut keys = HashMap::new();
    let t = &tool.name;
    if listed.get("name").and_then(Value::as_str) != Some(t) {
        problems.push(format!("{t}: listed as {}", listed["name"]));
    }
    if listed.get("description").and_then(Value::as_str) != Some(tool.description.as_str()) {
        problems.push(format!(
            "{t}: description {} differs from the spec's {:?}",
            listed["description"], tool.description
        ));
    }
    if listed["title"].as_str().is_none_or(|s| s.trim().is_empty()) {
        problems.push(format!(
            "{t}: no title (T5: derived from the name): {}",
            listed["title"]
        ));
    }
    // T8: annotations from the method.
    let ann = &listed["annotations"];
    let is = |k: &str| ann[k] == json!(true);
    let (get, delete) = (
        tool.method == HttpMethod::Get,
        tool.method == HttpMethod::Delete,
    );
    let idempotent = matches!(
        tool.method,
        HttpMethod::Get | HttpMethod::Put | HttpMethod::Delete
    );
    if is("readOnlyHint") != get
        || is("destructiveHint") != delete
        || is("idempotentHint") != idempotent
        || !is("openWorldHint")
    {
        problems.push(format!(
            "{t}: annotations {ann} for {} (T8: readOnly GET, destructive DELETE, idempotent GET/PUT/DELETE, openWorld)",
            method_str(tool.method)
        ));
    }
    let schema = &listed["inputSchema"];
    if schema["type"] != "object" {
        problems.push(format!("{t}: inputSchema.type is {}", schema["type"]));
    }
    if schema["additionalProperties"] != json!(false) {
        problems.push(format!(
            "{t}: inputSchema.additionalProperties is {} (want false)",
            schema["additionalProperties"]
        ));
    }
    let empty = serde_json::Map::new();
    let props = schema["properties"].as_object().unwrap_or(&empty);
    for k in props.keys() {
        if !valid_key(k) {
            problems.push(format!(
                "{t}: property key {k:?} fails ^[A-Za-z0-9_.-]{{1,64}}$"
            ));
        }
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for r in &required {
        if !props.contains_key(*r) {
            problems.push(format!("{t}: required {r:?} is not a property"));
        }
    }
    let mut claimed: Vec<String> = Vec::new();
    let mut want_required = Vec::new();
    for p in tool.params.iter().filter(|p| p.is_argument()) {
        let name = &p.name;
        let published = if valid_key(name) {
            if !props.contains_key(name.as_str()) {
                problems.push(format!("{t}: param {name:?} has no property of that name"));
                continue;
            }
            name.clone()
        } else {
            // An alias: the first unclaimed key derived from the name, preferring one whose
            // description names the original.
            let candidates: Vec<(&String, &Value)> = props
                .iter()
                .filter(|(k, _)| !claimed.contains(k) && alias_fits(name, k))
                .filter(|(k, _)| !tool.params.iter().any(|q| q.is_argument() && q.name == **k))
                .collect();
            let names_it = |v: &Value| {
                v["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(name.as_str()))
            };
            let Some((k, v)) = candidates
                .iter()
                .find(|(_, v)| names_it(v))
                .or_else(|| candidates.first())
            else {
                problems.push(format!(
                    "{t}: param {name:?} has no aliased property (keys: {:?})",
                    props.keys().collect::<Vec<_>>()
                ));
                continue;
            };
            if !names_it(v) {
                problems.push(format!(
                    "{t}: property {k:?} (alias of {name:?}) does not name the original in its description"
                ));
            }
            (*k).clone()
        };
        claimed.push(published.clone());
        let prop = &props[&published];
        if prop["type"] != type_name(p.kind) {
            problems.push(format!(
                "{t}: property {published:?} has type {} (spec: {})",
                prop["type"],
                type_name(p.kind)
            ));
        }
        if let Some(values) = &p.enum_values
            && prop.get("enum") != Some(&Value::Array(values.clone()))
        {
            problems.push(format!(
                "{t}: property {published:?} enum {} (spec: {values:?})",
                prop["enum"]
            ));
        }
        if let Some(default) = &p.default
            && prop.get("default") != Some(default)
        {
            problems.push(format!(
                "{t}: property {published:?} default {} (spec: {default})",
                prop["default"]
            ));
        }
        if let Some(d) = &p.description
            && !prop["description"]
                .as_str()
                .is_some_and(|pd| pd.contains(d.as_str()))
        {
            problems.push(format!(
                "{t}: property {published:?} description {} does not carry the spec's {d:?}",
                prop["description"]
            ));
        }
        if p.required {
            want_required.push(published.clone());
        }
        keys.insert(name.clone(), published);
    }
    let published_count = props.len();
    if published_count != keys.len() {
        let extra: Vec<&String> = props
            .keys()
            .filter(|k| !keys.values().any(|v| v == *k))
            .collect();
        problems.push(format!(
            "{t}: properties not from an argument param: {extra:?}"
        ));
    }
    let mut got_required: Vec<String> = required.iter().map(|s| (*s).to_owned()).collect();
    got_required.sort();
    want_required.sort();
    if got_required != want_required {
        problems.push(format!(
            "{t}: required {got_required:?}, expected {want_required:?}"
        ));
    }
    (keys, problems)
}

// ----- comparison --------------------------------------------------------------------------

/// Percent-decodes (`+` as space when `form`); `None` if the bytes are not UTF-8 or a `%` is
/// not followed by two hex digits.
pub fn percent_decode(s: &str, form: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `a=1&b=2` decoded as a form (`+` is a space).
pub fn decode_pairs(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match (percent_decode(k, true), percent_decode(v, true)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(format!("undecodable pair {kv:?}")),
            }
        })
        .collect()
}

/// Uppercases the hex digits of every `%XX` (both cases are the same octet, RFC 3986 2.1).
pub fn normalize_pct(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push('%');
            out.push((b[i + 1] as char).to_ascii_uppercase());
            out.push((b[i + 2] as char).to_ascii_uppercase());
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Multiset difference: what is expected but not received, and what is received but not
/// expected.
fn compare_pairs(
    what: &str,
    expected: &[(String, Val)],
    got: &[(String, String)],
    out: &mut Vec<String>,
) {
    let mut unused: Vec<Option<&(String, String)>> = got.iter().map(Some).collect();
    let mut missing = Vec::new();
    for (name, val) in expected {
        let hit = unused
            .iter_mut()
            .find(|g| g.is_some_and(|(n, v)| n == name && val.matches(v)));
        match hit {
            Some(slot) => *slot = None,
            None => missing.push(format!("{name}={val}")),
        }
    }
    let extra: Vec<String> = unused
        .into_iter()
        .flatten()
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        out.push(format!(
            "{what}: missing [{}], unexpected [{}]",
            missing.join(", "),
            extra.join(", ")
        ));
    }
}

/// A media type without parameters, lowercase.
fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// One multipart part as received.
#[derive(Debug)]
pub struct GotPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a `multipart/form-data` body (RFC 7578).
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<GotPart>, String> {
    let delim = format!("--{boundary}").into_bytes();
    let mut rest = body;
    let start = find(rest, &delim).ok_or("no opening boundary")?;
    rest = &rest[start + delim.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("boundary not followed by CRLF")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("part without a header end")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end + 4..];
        let next_delim = [b"\r\n".as_slice(), &delim].concat();
        let end = find(rest, &next_delim).ok_or("part without a closing boundary")?;
        let bytes = rest[..end].to_vec();
        rest = &rest[end + next_delim.len()..];
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':').ok_or("bad part header")?;
            let k = k.trim().to_ascii_lowercase();
            if k == "content-disposition" {
                for attr in v.split(';').skip(1) {
                    let (ak, av) = attr.trim().split_once('=').unwrap_or((attr.trim(), ""));
                    let av = av.trim_matches('"').to_owned();
                    match ak {
                        "name" => name = Some(av),
                        "filename" => filename = Some(av),
                        _ => {}
                    }
                }
            } else if k == "content-type" {
                content_type = Some(v.trim().to_owned());
            }
        }
        parts.push(GotPart {
            name: name.ok_or("part without a name")?,
            filename,
            content_type,
            bytes,
        });
    }
}

/// Headers the engine may send besides header params and the credential: the fixed ones, the
/// body's framing, and what the proxy adds.
const ALLOWED_HEADERS: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "content-type",
    "content-length",
    "transfer-encoding",
];

/// Compares a received request with the expectation; returns each difference.
pub fn compare(exp: &Expected, got: &Recorded, user_agent: &str) -> Vec<String> {
    let mut out = Vec::new();
    if got.method != exp.method {
        out.push(format!(
            "method: expected {}, got {}",
            exp.method, got.method
        ));
    }
    if got.sni != exp.host {
        out.push(format!(
            "host (SNI): expected {}, got {}",
            exp.host, got.sni
        ));
    }
    let host_header = got.host.clone().unwrap_or_default().to_ascii_lowercase();
    if host_header != exp.host && host_header != format!("{}:443", exp.host) {
        out.push(format!(
            "Host header: expected {}, got {:?}",
            exp.host, got.host
        ));
    }
    if normalize_pct(&got.path) != normalize_pct(&exp.path) {
        out.push(format!("path: expected {}, got {}", exp.path, got.path));
    }
    let raw_query = got.query.clone().unwrap_or_default();
    match decode_pairs(&raw_query) {
        Ok(pairs) => compare_pairs("query", &exp.query, &pairs, &mut out),
        Err(e) => out.push(format!("query {raw_query:?}: {e}")),
    }
    for raw in &exp.raw_query {
        if !raw_query.split('&').any(|kv| kv == raw) {
            out.push(format!(
                "query: `{raw}` not sent verbatim (reserved expansion): {raw_query:?}"
            ));
        }
    }
    // Headers: each expected exactly once; nothing unexpected.
    for (name, val) in &exp.headers {
        let values = got.header_values(name);
        match values.as_slice() {
            [one] if val.matches(one) => {
                if !one.is_ascii() {
                    out.push(format!("header {name}: not ASCII: {one:?}"));
                }
            }
            _ => out.push(format!("header {name}: expected {val}, got {values:?}")),
        }
    }
    for (name, want) in [
        ("user-agent", user_agent),
        ("accept", "application/json, */*;q=0.5"),
    ] {
        let values = got.header_values(name);
        if values != [want] {
            out.push(format!("header {name}: expected {want:?}, got {values:?}"));
        }
    }
    let mut extra: Vec<&str> = got
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !ALLOWED_HEADERS.contains(n) && !exp.headers.iter().any(|(e, _)| e == n))
        .collect();
    extra.dedup();
    if !extra.is_empty() {
        out.push(format!("unexpected headers sent: {extra:?}"));
    }
    // Body.
    let ct = got.header("content-type").unwrap_or_default();
    match &exp.body {
        Body::Empty => {
            if !ct.is_empty() {
                out.push(format!("content-type {ct:?} sent without a body"));
            }
            if !got.body.is_empty() {
                out.push(format!(
                    "body: expected none, got {:?}",
                    String::from_utf8_lossy(&got.body)
                ));
            }
            let te = got.header_values("transfer-encoding");
            if matches!(exp.method, "POST" | "PUT" | "PATCH")
                && (got.header("content-length").as_deref() != Some("0") || !te.is_empty())
            {
                out.push(format!(
                    "body: a {} without body args must say Content-Length: 0, got {:?} (transfer-encoding {te:?})",
                    exp.method,
                    got.header_values("content-length")
                ));
            }
        }
        Body::Json(want) => {
            if essence(&ct) != "application/json" {
                out.push(format!(
                    "content-type: expected application/json, got {ct:?}"
                ));
            }
            match serde_json::from_slice::<Value>(&got.body) {
                Ok(v) if &v == want => {}
                Ok(v) => out.push(format!("body: expected {want}, got {v}")),
                Err(e) => out.push(format!(
                    "body: not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&got.body)
                )),
            }
        }
        Body::Form(want) => {
            if essence(&ct) != "application/x-www-form-urlencoded" {
                out.push(format!(
                    "content-type: expected application/x-www-form-urlencoded, got {ct:?}"
                ));
            }
            match std::str::from_utf8(&got.body)
                .map_err(|e| e.to_string())
                .and_then(decode_pairs)
            {
                Ok(pairs) => compare_pairs("form body", want, &pairs, &mut out),
                Err(e) => out.push(format!("form body: {e}")),
            }
        }
        Body::Multipart(want) => {
            let boundary = ct
                .split(';')
                .filter_map(|a| a.trim().strip_prefix("boundary="))
                .next()
                .map(|b| b.trim_matches('"').to_owned());
            match (essence(&ct).as_str(), boundary) {
                ("multipart/form-data", Some(boundary)) => {
                    match parse_multipart(&got.body, &boundary) {
                        Ok(parts) => compare_parts(want, &parts, &mut out),
                        Err(e) => out.push(format!("multipart body: {e}")),
                    }
                }
                _ => out.push(format!(
                    "content-type: expected multipart/form-data with a boundary, got {ct:?}"
                )),
            }
        }
        Body::Raw { bytes, media_type } => {
            if essence(&ct) != media_type.to_ascii_lowercase() {
                out.push(format!("content-type: expected {media_type}, got {ct:?}"));
            }
            if &got.body != bytes {
                out.push(format!("raw body: expected {bytes:?}, got {:?}", got.body));
            }
        }
    }
    out
}

fn compare_parts(want: &[Part], got: &[GotPart], out: &mut Vec<String>) {
    let mut unused: Vec<Option<&GotPart>> = got.iter().map(Some).collect();
    for w in want {
        let same_name: Vec<usize> = unused
            .iter()
            .enumerate()
            .filter(|(_, g)| g.is_some_and(|g| g.name == w.name))
            .map(|(i, _)| i)
            .collect();
        let mut why = Vec::new();
        let hit = same_name.into_iter().find(|&i| {
            let Some(g) = unused[i] else { return false };
            match &w.value {
                PartValue::Field(val) => {
                    let text = String::from_utf8_lossy(&g.bytes);
                    let ok = val.matches(&text);
                    if !ok {
                        why.push(format!("expected {val}, got {text:?}"));
                    }
                    ok
                }
                PartValue::File { bytes, media_type } => {
                    let ct = g.content_type.as_deref().map(essence).unwrap_or_default();
                    let ok = &g.bytes == bytes
                        && ct == media_type.to_ascii_lowercase()
                        && g.filename.is_some();
                    if !ok {
                        why.push(format!(
                            "expected file bytes {bytes:?} of type {media_type} with a filename, \
                             got {:?} of type {:?}, filename {:?}",
                            g.bytes, g.content_type, g.filename
                        ));
                    }
                    ok
                }
            }
        });
        match hit {
            Some(i) => unused[i] = None,
            None if why.is_empty() => out.push(format!("multipart: no part {:?}", w.name)),
            None => out.push(format!("multipart {}: {}", w.name, why.join("; "))),
        }
    }
    let extra: Vec<&str> = unused.iter().flatten().map(|g| g.name.as_str()).collect();
    if !extra.is_empty() {
        out.push(format!("multipart: unexpected parts {extra:?}"));
    }
}
