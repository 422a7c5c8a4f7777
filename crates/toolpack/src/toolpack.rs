//! The loaded engine: a linted manifest + toolspec turned into MCP tools (T1, T2, T5–T9).
//!
//! Contract: [`Toolpack::load`] parses both documents with `gigmcp-registry` (bounded), lints
//! the manifest ([`lint_manifest`], built-in denylist) and the toolspec against it
//! ([`lint_toolspec`], which also refuses a name used in two locations of one tool, T9); any
//! error refuses the whole toolpack (never a partial spec). Host overrides replace a base URL's
//! host; each `to` must be a host the manifest's egress policy allows (an override whose `from`
//! no base URL uses changes nothing and is listed in [`Toolpack::unused_overrides`]). Every tool's input schema, annotations and argument
//! validator are built here, once; `tools/list` is then a prebuilt value in spec order.

use std::collections::HashMap;

use gigmcp_registry::egress::normalize_host;
use gigmcp_registry::{
    Denylist, DocKind, DocPath, EgressPolicy, Encoding, HttpMethod, Manifest, Param, ParamLocation,
    Severity, Toolspec, ToolspecTool, lint_manifest, lint_toolspec,
};
use serde_json::{Value, json};

use crate::credential::Credentials;
use crate::names::property_names;
use crate::path::PathTemplate;
use crate::schema;

/// Why a toolpack cannot be served. The message says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the manifest does not parse: {0} (fix the manifest YAML)")]
    Manifest(String),
    #[error("the manifest or toolspec fails lint:\n{}", .0.join("\n"))]
    Lint(Vec<String>),
    #[error(
        "host override `{from}={to}`: {why} (fix GIG_TOOLPACK_HOSTS; overrides are set per install in the dashboard)"
    )]
    HostOverride {
        from: String,
        to: String,
        why: String,
    },
    #[error(
        "tool `{tool}`: its input schema does not compile: {why} (a bug in the engine: report it)"
    )]
    Schema { tool: String, why: String },
}

/// Where a param's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The model gives it, under this property name.
    Argument(String),
    /// `const`: always this value.
    Constant(Value),
    /// `from: install.<var>`: the install setting `var`.
    Install(String),
}

/// One param of a tool and where its value comes from.
#[derive(Debug, Clone)]
pub struct Slot {
    pub param: Param,
    pub source: Source,
}

/// One served tool.
#[derive(Debug)]
pub struct Tool {
    pub name: String,
    pub title: String,
    pub description: String,
    pub method: HttpMethod,
    pub encoding: Option<Encoding>,
    /// The host requests go to (after overrides).
    pub host: String,
    /// The base URL's path prefix, without a trailing `/` (often empty).
    pub prefix: String,
    pub path: PathTemplate,
    /// The tool's params, in spec order.
    pub slots: Vec<Slot>,
    pub input_schema: Value,
    pub annotations: Value,
    /// The MCP `Tool` object as JSON text, properties in spec order.
    pub mcp_json: String,
    pub(crate) validator: jsonschema::Validator,
}

impl Tool {
    /// Whether the tool has body params (else POST/PUT/PATCH send no body).
    pub fn has_body_params(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.param.location == ParamLocation::Body)
    }

    /// The MCP `Tool` object `tools/list` shows (as a value: object members sorted; the text
    /// sent is [`Tool::mcp_json`], same content, properties in spec order).
    pub fn to_mcp(&self) -> Value {
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "annotations": self.annotations,
        })
    }

    /// The property name of the param named `name` in `location`.
    pub fn property_of(&self, location: ParamLocation, name: &str) -> Option<&str> {
        self.slots.iter().find_map(|s| match &s.source {
            Source::Argument(p) if s.param.location == location && s.param.name == name => {
                Some(p.as_str())
            }
            _ => None,
        })
    }
}

/// What the environment adds to the documents.
pub struct Setup<'a> {
    /// `(from, to)` host overrides (normalised host names).
    pub host_overrides: &'a [(String, String)],
    /// Reads an environment variable (credentials).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A manifest + toolspec ready to serve.
#[derive(Debug)]
pub struct Toolpack {
    pub manifest: Manifest,
    pub tools: Vec<Tool>,
    pub credentials: Credentials,
    pub policy: EgressPolicy,
    /// Overridden hosts (`from`) that no base URL of the toolspec uses (nothing changes for
    /// them; worth a note).
    pub unused_overrides: Vec<String>,
    index: HashMap<String, usize>,
    list_json: String,
}

/// `https://host[/prefix]` ⇒ (host, prefix without trailing `/`). Lint has validated it.
fn split_base(url: &str) -> (String, String) {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let (host, prefix) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let host = normalize_host(host).unwrap_or_else(|_| host.to_ascii_lowercase());
    let prefix = prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("/{prefix}")
    };
    (host, prefix)
}

/// Lint findings that are errors, as text.
fn errors(diags: &[gigmcp_registry::Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect()
}

impl Toolpack {
    /// Loads, lints and compiles (see the module contract).
    pub fn load(
        manifest_yaml: &[u8],
        spec_yaml: &[u8],
        setup: &Setup<'_>,
    ) -> Result<Self, LoadError> {
        let parsed =
            Manifest::from_yaml(manifest_yaml).map_err(|e| LoadError::Manifest(e.to_string()))?;
        let mpath = DocPath::path_of(&parsed.name, &parsed.version, DocKind::Manifest);
        let spath = DocPath::path_of(&parsed.name, &parsed.version, DocKind::Toolspec);
        let (manifest, mdiags) = lint_manifest(&mpath, manifest_yaml, &Denylist::builtin());
        let mut problems = errors(&mdiags);
        let manifest = manifest.unwrap_or(parsed);
        let (spec, sdiags) = lint_toolspec(&spath, spec_yaml, Some(&manifest));
        problems.extend(errors(&sdiags));
        let spec = match spec {
            Some(s) if problems.is_empty() => s,
            _ => return Err(LoadError::Lint(problems)),
        };
        let policy = manifest
            .egress_policy()
            .map_err(|e| LoadError::Lint(vec![e.to_string()]))?;
        let overrides = check_overrides(&policy, setup.host_overrides)?;
        let hosts: Vec<String> = spec.base_urls().map(|u| split_base(u).0).collect();
        let unused_overrides = overrides
            .keys()
            .filter(|from| !hosts.contains(from))
            .cloned()
            .collect();
        let credentials = Credentials::resolve(&manifest, &spec, setup.env);
        let tools = spec
            .tools
            .iter()
            .map(|t| build_tool(&spec, t, &overrides))
            .collect::<Result<Vec<_>, _>>()?;
        let index = tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let list_json = format!(
            r#"{{"tools":[{}]}}"#,
            tools
                .iter()
                .map(|t| t.mcp_json.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        Ok(Self {
            manifest,
            tools,
            credentials,
            policy,
            unused_overrides,
            index,
            list_json,
        })
    }

    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.index.get(name).map(|&i| &self.tools[i])
    }

    /// The `tools/list` result as JSON text (all tools in spec order, their properties in spec
    /// order, no pagination).
    pub fn list_json(&self) -> &str {
        &self.list_json
    }

    /// The `tools/list` result as a value (object members sorted).
    pub fn list(&self) -> Value {
        json!({ "tools": self.tools.iter().map(Tool::to_mcp).collect::<Vec<_>>() })
    }
}

/// Validates the overrides; returns them as a map `from ⇒ to`.
fn check_overrides(
    policy: &EgressPolicy,
    overrides: &[(String, String)],
) -> Result<HashMap<String, String>, LoadError> {
    let mut out = HashMap::new();
    for (from, to) in overrides {
        let fail = |why: String| LoadError::HostOverride {
            from: from.clone(),
            to: to.clone(),
            why,
        };
        if !policy.allows(to) {
            return Err(fail(format!(
                "`{to}` is not allowed by the manifest's egress policy ({})",
                policy
                    .patterns()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        out.insert(from.clone(), to.clone());
    }
    Ok(out)
}

fn build_tool(
    spec: &Toolspec,
    t: &ToolspecTool,
    overrides: &HashMap<String, String>,
) -> Result<Tool, LoadError> {
    let (host, prefix) = split_base(t.base_url.as_deref().unwrap_or(&spec.base_url));
    let host = overrides.get(&host).cloned().unwrap_or(host);
    let arg_names = property_names(
        t.params
            .iter()
            .filter(|p| p.is_argument())
            .map(|p| p.name.as_str()),
    );
    let mut arg_names = arg_names.into_iter();
    let mut properties = Vec::with_capacity(t.params.len());
    let mut slots = Vec::with_capacity(t.params.len());
    for p in &t.params {
        let source = if let Some(v) = &p.constant {
            Source::Constant(v.clone())
        } else if let Some(var) = p.install_var() {
            Source::Install(var.to_owned())
        } else {
            Source::Argument(arg_names.next().unwrap_or_else(|| p.name.clone()))
        };
        properties.push(match &source {
            Source::Argument(name) => Some(name.clone()),
            _ => None,
        });
        slots.push(Slot {
            param: p.clone(),
            source,
        });
    }
    let schema = schema::InputSchema::of(t, &properties);
    let input_schema = schema.to_value();
    let validator = jsonschema::validator_for(&input_schema).map_err(|e| LoadError::Schema {
        tool: t.name.clone(),
        why: e.to_string(),
    })?;
    let title = schema::title(&t.name);
    let annotations = schema::annotations(t.method, &title);
    let text = |s: &str| Value::String(s.to_owned()).to_string();
    let mcp_json = format!(
        r#"{{"name":{},"title":{},"description":{},"inputSchema":{},"annotations":{}}}"#,
        text(&t.name),
        text(&title),
        text(&t.description),
        schema.to_json(),
        annotations
    );
    Ok(Tool {
        name: t.name.clone(),
        annotations,
        mcp_json,
        title,
        description: t.description.clone(),
        method: t.method,
        encoding: t.encoding,
        host,
        prefix,
        path: PathTemplate::parse(&t.path),
        slots,
        input_schema,
        validator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_split() {
        assert_eq!(
            split_base("https://API.example.com"),
            ("api.example.com".into(), String::new())
        );
        assert_eq!(
            split_base("https://api.example.com/v1/"),
            ("api.example.com".into(), "/v1".into())
        );
    }
}
