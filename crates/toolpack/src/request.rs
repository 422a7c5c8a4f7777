//! Arguments ⇒ one HTTP request (T10–T15). Public so that other code can inspect what a call
//! sends; the credential is not part of it (the HTTP client adds it per hop, see
//! [`crate::http`]).
//!
//! Contract of [`build`]:
//! 1. the arguments are validated against the tool's input schema; failures are listed, each
//!    naming its field ([`CallError::Invalid`]);
//! 2. values: an argument under its property name (absent or `null` ⇒ not sent), a `const`, or an
//!    install setting (`from: install.<var>`; a required param whose setting is missing fails
//!    with [`CallError::InstallSetting`], an optional one is left out; a non-string param's
//!    setting is read as JSON and must have the param's type);
//! 3. URL `https://<host after overrides><base prefix><path>?<query>`: path per
//!    [`crate::path`], query params in spec order per [`crate::pairs`];
//! 4. headers: `User-Agent: gigmcp-toolpack/<version> (<server>)`, `Accept: application/json,
//!    */*;q=0.5`, header params in spec order per [`crate::header`], then `Content-Type` and, for a
//!    POST/PUT/PATCH without body, `Content-Length: 0`;
//! 5. body per [`crate::body`].

use gigmcp_registry::{HttpMethod, ParamLocation, ParamType};
use serde_json::{Map, Value};

use crate::body::{self, Body, Field};
use crate::encode::scalar_text;
use crate::header::{HeaderError, header_value};
use crate::pairs::{Target, encode_pairs, pairs};
use crate::path::{PathError, PathValue};
use crate::toolpack::{Slot, Source, Tool};

/// `Accept` sent with every request.
pub const ACCEPT: &str = "application/json, */*;q=0.5";

/// One request, before the credential is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: http::Method,
    /// Host after overrides (port 443).
    pub host: String,
    /// Path (prefix included), percent-encoded.
    pub path: String,
    /// Query without `?` (empty when none), encoded.
    pub query: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl HttpRequest {
    /// `https://host/path?query`.
    pub fn url(&self) -> String {
        if self.query.is_empty() {
            format!("https://{}{}", self.host, self.path)
        } else {
            format!("https://{}{}?{}", self.host, self.path, self.query)
        }
    }
}

/// Why a call could not be turned into a request: a tool execution error the model can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("invalid arguments: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("invalid arguments: {0}")]
    Path(String),
    #[error("invalid arguments: `{name}` {why}")]
    Header { name: String, why: HeaderError },
    #[error("invalid arguments: {0}")]
    Body(#[from] body::BodyError),
    #[error(
        "this server is not fully set up: the install setting `{var}` is missing (set it for this server in the dashboard; GIG_TOOLPACK_VAR_{})",
        .var.to_ascii_uppercase()
    )]
    InstallSetting { var: String },
    #[error(
        "this server is not fully set up: the install setting `{var}` must be a {kind} (fix it in the dashboard)"
    )]
    InstallSettingType { var: String, kind: &'static str },
}

/// Install settings by variable name as the toolspec writes it (`install.<var>`).
pub type InstallVars = std::collections::HashMap<String, String>;

fn method(m: HttpMethod) -> http::Method {
    match m {
        HttpMethod::Get => http::Method::GET,
        HttpMethod::Post => http::Method::POST,
        HttpMethod::Put => http::Method::PUT,
        HttpMethod::Patch => http::Method::PATCH,
        HttpMethod::Delete => http::Method::DELETE,
    }
}

fn kind_name(k: ParamType) -> &'static str {
    match k {
        ParamType::String => "string",
        ParamType::Integer => "integer",
        ParamType::Number => "number",
        ParamType::Boolean => "boolean",
        ParamType::Array => "array",
        ParamType::Object => "object",
    }
}

/// Lists what is wrong with `args`, each naming the field (at most 10).
pub fn validate(tool: &Tool, args: &Value) -> Result<(), CallError> {
    let problems: Vec<String> = tool
        .validator
        .iter_errors(args)
        .take(10)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = at.trim_start_matches('/');
            if at.is_empty() {
                e.to_string()
            } else {
                format!("`{at}`: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CallError::Invalid(problems))
    }
}

/// The value of each slot (`None`: not sent).
fn values(
    tool: &Tool,
    args: &Map<String, Value>,
    vars: &InstallVars,
) -> Result<Vec<Option<Value>>, CallError> {
    let mut out = Vec::with_capacity(tool.slots.len());
    for s in &tool.slots {
        let v = match &s.source {
            Source::Argument(prop) => args.get(prop).filter(|v| !v.is_null()).cloned(),
            Source::Constant(v) => Some(v.clone()),
            Source::Install(var) => match vars.get(var) {
                None if s.param.required => {
                    return Err(CallError::InstallSetting { var: var.clone() });
                }
                None => None,
                Some(text) if s.param.kind == ParamType::String => {
                    Some(Value::String(text.clone()))
                }
                Some(text) => Some(install_json(var, text, s.param.kind)?),
            },
        };
        out.push(v);
    }
    Ok(out)
}

fn install_json(var: &str, text: &str, kind: ParamType) -> Result<Value, CallError> {
    let v: Option<Value> = serde_json::from_str(text.trim()).ok();
    let fits = v.as_ref().is_some_and(|v| match kind {
        ParamType::String => v.is_string(),
        ParamType::Integer => v.is_i64() || v.is_u64(),
        ParamType::Number => v.is_number(),
        ParamType::Boolean => v.is_boolean(),
        ParamType::Array => v.is_array(),
        ParamType::Object => v.is_object(),
    });
    match v {
        Some(v) if fits => Ok(v),
        _ => Err(CallError::InstallSettingType {
            var: var.to_owned(),
            kind: kind_name(kind),
        }),
    }
}

/// The name the model knows a slot by (its property, else the wire name).
fn shown_name(tool: &Tool, i: usize) -> String {
    match &tool.slots[i].source {
        Source::Argument(p) => p.clone(),
        _ => tool.slots[i].param.name.clone(),
    }
}

/// A call's values, by slot.
struct Values<'a> {
    tool: &'a Tool,
    values: Vec<Option<Value>>,
}

impl Values<'_> {
    /// `(slot index, slot, value)` of the values present in `loc`, in spec order.
    fn at(&self, loc: ParamLocation) -> impl Iterator<Item = (usize, &Slot, &Value)> {
        self.tool
            .slots
            .iter()
            .zip(&self.values)
            .enumerate()
            .filter_map(move |(i, (s, v))| {
                v.as_ref()
                    .filter(|_| s.param.location == loc)
                    .map(|v| (i, s, v))
            })
    }

    fn path(&self) -> Result<String, CallError> {
        let tool = self.tool;
        tool.path
            .render(|name| {
                self.at(ParamLocation::Path)
                    .find(|(_, s, _)| s.param.name == name)
                    .map(|(_, s, v)| PathValue {
                        text: scalar_text(v, s.param.kind),
                        reserved: s.param.allow_reserved,
                    })
            })
            .map_err(|e| {
                let (PathError::Missing(n) | PathError::Unsafe(n)) = &e;
                let shown = tool
                    .property_of(ParamLocation::Path, n)
                    .unwrap_or(n.as_str());
                CallError::Path(
                    e.to_string()
                        .replacen(&format!("`{n}`"), &format!("`{shown}`"), 1),
                )
            })
    }

    fn query(&self) -> String {
        let mut query = String::new();
        for (_, s, v) in self.at(ParamLocation::Query) {
            let target = Target::Query {
                reserved: s.param.allow_reserved,
            };
            let p = &s.param;
            encode_pairs(&mut query, &pairs(&p.name, v, p.kind, p.style), target);
        }
        query
    }

    fn headers(&self, server: &str) -> Result<Vec<(String, String)>, CallError> {
        let mut headers = vec![
            (
                "User-Agent".to_owned(),
                format!("gigmcp-toolpack/{} ({server})", env!("CARGO_PKG_VERSION")),
            ),
            ("Accept".to_owned(), ACCEPT.to_owned()),
        ];
        for (i, s, v) in self.at(ParamLocation::Header) {
            let text = header_value(v, s.param.kind).map_err(|why| CallError::Header {
                name: shown_name(self.tool, i),
                why,
            })?;
            headers.push((s.param.name.clone(), text));
        }
        Ok(headers)
    }

    fn body(&self) -> Result<Body, CallError> {
        let tool = self.tool;
        let fields: Vec<Field<'_>> = self
            .at(ParamLocation::Body)
            .map(|(_, s, v)| (&s.param, v))
            .collect();
        body::build(tool.encoding, tool.has_body_params(), &fields).map_err(|e| {
            let body::BodyError::Base64(n) = &e;
            let shown = tool.property_of(ParamLocation::Body, n).unwrap_or(n);
            CallError::Body(body::BodyError::Base64(shown.to_owned()))
        })
    }
}

/// Builds the request for a call of `tool` with `args` (see the module contract).
pub fn build(
    tool: &Tool,
    args: &Value,
    vars: &InstallVars,
    server: &str,
) -> Result<HttpRequest, CallError> {
    validate(tool, args)?;
    let empty = Map::new();
    let args = args.as_object().unwrap_or(&empty);
    let values = Values {
        tool,
        values: values(tool, args, vars)?,
    };
    let path = values.path()?;
    let query = values.query();
    let mut headers = values.headers(server)?;
    let body = values.body()?;
    let method = method(tool.method);
    match &body.content_type {
        Some(ct) => headers.push(("Content-Type".to_owned(), ct.clone())),
        None if matches!(
            method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        ) =>
        {
            headers.push(("Content-Length".to_owned(), "0".to_owned()));
        }
        None => {}
    }
    Ok(HttpRequest {
        method,
        host: tool.host.clone(),
        path: format!("{}{}", tool.prefix, path),
        query,
        headers,
        body,
    })
}
