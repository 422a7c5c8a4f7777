//! What `tools/list` says about one tool (T5–T8): its title, input schema and annotations.
//!
//! Contract:
//! - `title`: the tool name in sentence case, separators (`_ - .`) as spaces (`list_tickets` ⇒
//!   "List tickets").
//! - `inputSchema`: `{type: object, properties, required, additionalProperties: false}`. One
//!   property per param the model gives ([`gigmcp_registry::Param::is_argument`]), in spec
//!   order (kept in the JSON text `tools/list` sends: [`InputSchema::to_json`]), under its property name ([`crate::names`]); `type` from the param (`array` adds
//!   `items: {}`), the description copied, `enum` and `default` listed; a base64 param says
//!   `contentEncoding: base64` (and `contentMediaType`). An aliased property's description ends
//!   with the name sent on the wire. `required` lists the required ones, in spec order.
//! - `annotations`: `readOnlyHint` for GET, `destructiveHint` for DELETE only (set `false`
//!   elsewhere, since MCP assumes `true` when absent), `idempotentHint` for GET, PUT and DELETE,
//!   `openWorldHint: true` always.

use gigmcp_registry::{ContentEncoding, HttpMethod, Param, ParamType, ToolspecTool};
use serde_json::{Map, Value, json};

/// The tool's title, derived from its name.
pub fn title(name: &str) -> String {
    let words: Vec<&str> = name
        .split(['_', '-', '.'])
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = words.join(" ");
    if let Some(first) = out.get(..1) {
        let upper = first.to_ascii_uppercase();
        out.replace_range(..1, &upper);
    }
    if out.is_empty() { name.to_owned() } else { out }
}

fn type_name(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "string",
        ParamType::Integer => "integer",
        ParamType::Number => "number",
        ParamType::Boolean => "boolean",
        ParamType::Array => "array",
        ParamType::Object => "object",
    }
}

/// The schema of one argument param, under property name `property`.
pub fn property_schema(p: &Param, property: &str) -> Value {
    let mut s = Map::new();
    s.insert("type".into(), json!(type_name(p.kind)));
    if p.kind == ParamType::Array {
        s.insert("items".into(), json!({}));
    }
    let mut description = p.description.clone().unwrap_or_default();
    let mut note = |text: String| {
        if !description.is_empty() && !description.ends_with(['.', ' ']) {
            description.push('.');
        }
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str(&text);
    };
    if p.content_encoding == Some(ContentEncoding::Base64) {
        note("The bytes, base64-encoded.".to_owned());
        s.insert("contentEncoding".into(), json!("base64"));
        if let Some(m) = &p.media_type {
            s.insert("contentMediaType".into(), json!(m));
        }
    }
    if property != p.name {
        note(format!("(Sent to the API as `{}`.)", p.name));
    }
    if !description.is_empty() {
        s.insert("description".into(), json!(description));
    }
    if let Some(values) = &p.enum_values {
        s.insert("enum".into(), Value::Array(values.clone()));
    }
    if let Some(d) = &p.default {
        s.insert("default".into(), d.clone());
    }
    Value::Object(s)
}

/// A tool's input schema, its properties in spec order.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSchema {
    /// Property name and schema, in spec order.
    pub properties: Vec<(String, Value)>,
    /// Required property names, in spec order.
    pub required: Vec<String>,
}

impl InputSchema {
    /// The schema of `tool`. `properties[i]` is the property name of `tool.params[i]`, `None`
    /// for params the model does not give.
    pub fn of(tool: &ToolspecTool, properties: &[Option<String>]) -> Self {
        let mut out = Self {
            properties: Vec::new(),
            required: Vec::new(),
        };
        for (p, name) in tool.params.iter().zip(properties) {
            let Some(name) = name else { continue };
            out.properties
                .push((name.clone(), property_schema(p, name)));
            if p.required {
                out.required.push(name.clone());
            }
        }
        out
    }

    /// As a JSON value (object members sorted, as `serde_json` keeps them).
    pub fn to_value(&self) -> Value {
        let props: Map<String, Value> = self.properties.iter().cloned().collect();
        json!({
            "type": "object",
            "properties": props,
            "required": self.required,
            "additionalProperties": false,
        })
    }

    /// As JSON text with the properties in spec order (what `tools/list` sends).
    pub fn to_json(&self) -> String {
        let mut s = String::from(r#"{"type":"object","properties":{"#);
        for (i, (name, schema)) in self.properties.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&Value::String(name.clone()).to_string());
            s.push(':');
            s.push_str(&schema.to_string());
        }
        s.push_str(r#"},"required":"#);
        s.push_str(&json!(self.required).to_string());
        s.push_str(r#","additionalProperties":false}"#);
        s
    }
}

/// The tool's annotations (T8).
pub fn annotations(method: HttpMethod, title: &str) -> Value {
    let read_only = method == HttpMethod::Get;
    let destructive = method == HttpMethod::Delete;
    let idempotent = matches!(
        method,
        HttpMethod::Get | HttpMethod::Put | HttpMethod::Delete
    );
    json!({
        "title": title,
        "readOnlyHint": read_only,
        "destructiveHint": destructive,
        "idempotentHint": idempotent,
        "openWorldHint": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(title("list_tickets"), "List tickets");
        assert_eq!(title("get-ip.v2"), "Get ip v2");
        assert_eq!(title("_"), "_");
    }

    #[test]
    fn annotations_follow_the_method() {
        let get = annotations(HttpMethod::Get, "t");
        assert_eq!(get["readOnlyHint"], true);
        assert_eq!(get["destructiveHint"], false);
        assert_eq!(get["idempotentHint"], true);
        let del = annotations(HttpMethod::Delete, "t");
        assert_eq!(del["destructiveHint"], true);
        assert_eq!(del["readOnlyHint"], false);
        let post = annotations(HttpMethod::Post, "t");
        assert_eq!(post["idempotentHint"], false);
        assert_eq!(post["openWorldHint"], true);
        assert_eq!(annotations(HttpMethod::Put, "t")["idempotentHint"], true);
    }
}
