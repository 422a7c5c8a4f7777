//! `manifests/<name>/<version>.toolspec.yaml`: the REST mapping the toolpack engine serves.
//!
//! Besides the original schema (tools mapped to a method, a path and parameters by location),
//! optional fields cover what the corpus needs and the engine implements (docs/toolpack.md):
//! constant and per-install parameter values (`const`, `from: install.<var>`), enumerations and
//! defaults, reserved expansion (`allowReserved`), array and object styles (`style`), multipart
//! and raw uploads (`encoding: multipart | binary` with `contentEncoding: base64`), and a
//! query-string key for entrusted servers (`auth.query`). Absent, each means what the original
//! schema meant, so every existing toolspec keeps its meaning.

use serde::{Deserialize, Serialize};

use crate::parse::{ParseError, parse_yaml};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Toolspec {
    pub schema_version: u32,
    /// Equal to the manifest's name.
    pub name: String,
    /// Equal to the manifest's version.
    pub version: String,
    /// `https://host[/prefix]`; the host must pass the manifest's egress rules.
    pub base_url: String,
    /// How the toolpack server itself authenticates (entrusted tier only: it reads the secret
    /// from its environment). Sealed toolspecs have none: the proxy injects the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ToolspecAuth>,
    pub tools: Vec<ToolspecTool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolspecAuth {
    pub header: String,
    /// Header value template containing `{token}`.
    pub format: String,
    /// The API takes the key in this query parameter instead (`format` applied to it); the
    /// header is then not sent. Entrusted servers only: the proxy never puts a secret in a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolspecTool {
    pub name: String,
    pub description: String,
    pub method: HttpMethod,
    /// Starts with `/`; `{param}` placeholders name the tool's `in: path` params.
    pub path: String,
    /// Overrides the toolspec's `baseUrl` for this tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Body encoding; absent means JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
}

impl HttpMethod {
    /// The method as sent (`GET`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`: body params are fields; a `contentEncoding: base64` param is a
    /// file part (its bytes decoded from the argument).
    Multipart,
    /// The body is raw bytes: the tool's one `contentEncoding: base64` body param, decoded.
    Binary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Param {
    pub name: String,
    #[serde(rename = "in")]
    pub location: ParamLocation,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The values the API accepts (listed in the tool's input schema).
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<serde_json::Value>>,
    /// What the API assumes when the param is absent (advisory: listed in the input schema,
    /// not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Always sent with this value; not an argument the model gives (e.g. `Prefer: transient`).
    #[serde(default, rename = "const", skip_serializing_if = "Option::is_none")]
    pub constant: Option<serde_json::Value>,
    /// Sent with the value of an install setting, `install.<var>` (e.g. an account id chosen
    /// when the server is set up); not an argument the model gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Path or query value keeps RFC 3986 reserved characters (`/`, `:`, ...) unencoded, for
    /// values such as `properties/1234`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_reserved: bool,
    /// How an array or object value is written in a query string or form body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<ValueStyle>,
    /// The string argument carries bytes in this encoding (a multipart file part, a raw body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<ContentEncoding>,
    /// Media type of those bytes (default `application/octet-stream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

impl Param {
    /// Whether the model gives this param (constants and install values are filled in).
    pub fn is_argument(&self) -> bool {
        self.constant.is_none() && self.from.is_none()
    }

    /// The install setting a `from: install.<var>` param takes its value from.
    pub fn install_var(&self) -> Option<&str> {
        self.from.as_deref()?.strip_prefix(INSTALL_PREFIX)
    }
}

/// Prefix of `from` values naming an install setting.
pub const INSTALL_PREFIX: &str = "install.";

/// How an array (or object) value is serialised in a query string or form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueStyle {
    /// `k=a&k=b` (the default for arrays).
    Form,
    /// `k=a,b`.
    Comma,
    /// `k[]=a&k[]=b`.
    Brackets,
    /// `k=["a","b"]` (the default for objects).
    Json,
}

/// How bytes travel inside a string argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentEncoding {
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamLocation {
    Path,
    Query,
    Body,
    Header,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
}

impl Toolspec {
    /// Parses toolspec YAML (bounded: see [`crate::limits`]). Shapes only; run
    /// [`crate::lint::lint_toolspec`] for the rules.
    pub fn from_yaml(bytes: &[u8]) -> Result<Self, ParseError> {
        parse_yaml(bytes)
    }

    /// Every base URL used: the toolspec's and each tool override, in order, duplicates kept.
    pub fn base_urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.base_url.as_str())
            .chain(self.tools.iter().filter_map(|t| t.base_url.as_deref()))
    }
}
