//! `manifests/<name>/<version>.toolspec.yaml`: the REST mapping the toolpack engine serves.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Json,
    Form,
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
