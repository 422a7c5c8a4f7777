//! The searchable view of one MCP tool.

use serde_json::Value;

/// Longest server name kept, in characters.
pub const MAX_SERVER_CHARS: usize = 128;
/// Longest tool name kept, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest description kept (title included), in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Most parameters kept per tool (in `inputSchema.properties` order).
pub const MAX_PARAMS: usize = 64;
/// Longest parameter name kept, in characters.
pub const MAX_PARAM_NAME_CHARS: usize = 128;
/// Longest parameter description kept, in characters.
pub const MAX_PARAM_DESCRIPTION_CHARS: usize = 512;

/// What the index knows about a tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolDoc {
    /// The server (namespace) exposing the tool, e.g. `asana`.
    pub server: String,
    /// The tool's name as the server lists it, e.g. `create_task`.
    pub name: String,
    /// Title and description.
    pub description: String,
    /// `(name, description)` of each input parameter.
    pub params: Vec<(String, String)>,
}

/// Why an MCP tool object could not be turned into a [`ToolDoc`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolDocError {
    /// The value is not a JSON object.
    #[error("tool entry from server `{server}` is not a JSON object; expected a tools/list entry")]
    NotAnObject {
        /// The server the entry came from.
        server: String,
    },
    /// `name` is missing, not a string, or empty.
    #[error(
        "tool entry from server `{server}` has no non-empty string `name`; every tools/list entry must carry one"
    )]
    MissingName {
        /// The server the entry came from.
        server: String,
    },
}

impl ToolDoc {
    /// Extracts the searchable text of an MCP `tools/list` entry: `name`, `title` (or
    /// `annotations.title`) and `description`, and for each of `inputSchema.properties` its name
    /// and `description` (or `title`). Every piece of text is truncated to the `MAX_*` limits of
    /// this module and at most [`MAX_PARAMS`] parameters are kept, so a hostile server cannot make
    /// the index large. Unknown fields are ignored.
    pub fn from_mcp_tool(server: &str, tool: &Value) -> Result<ToolDoc, ToolDocError> {
        let server = truncate(server, MAX_SERVER_CHARS);
        let Some(obj) = tool.as_object() else {
            return Err(ToolDocError::NotAnObject { server });
        };
        let name = match obj.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => truncate(n, MAX_NAME_CHARS),
            _ => return Err(ToolDocError::MissingName { server }),
        };
        let title = obj
            .get("title")
            .and_then(Value::as_str)
            .or_else(|| obj.get("annotations")?.get("title")?.as_str());
        let description = obj.get("description").and_then(Value::as_str);
        let description = match (title, description) {
            (Some(t), Some(d)) => {
                let (t, d) = (
                    truncate(t, MAX_DESCRIPTION_CHARS),
                    truncate(d, MAX_DESCRIPTION_CHARS),
                );
                truncate(&format!("{t}. {d}"), MAX_DESCRIPTION_CHARS)
            }
            (Some(t), None) => truncate(t, MAX_DESCRIPTION_CHARS),
            (None, Some(d)) => truncate(d, MAX_DESCRIPTION_CHARS),
            (None, None) => String::new(),
        };
        let params = obj
            .get("inputSchema")
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .take(MAX_PARAMS)
                    .map(|(pname, schema)| {
                        let text = schema
                            .get("description")
                            .and_then(Value::as_str)
                            .or_else(|| schema.get("title").and_then(Value::as_str))
                            .unwrap_or("");
                        (
                            truncate(pname, MAX_PARAM_NAME_CHARS),
                            truncate(text, MAX_PARAM_DESCRIPTION_CHARS),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ToolDoc {
            server,
            name,
            description,
            params,
        })
    }
}

/// The first `max_chars` characters of `s`.
fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_name_title_description_and_params() {
        let tool = json!({
            "name": "create_task",
            "title": "Create task",
            "description": "Create a new task",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Name of the task"},
                    "due_on": {"type": "string", "title": "Due date"},
                    "notes": {"type": "string"}
                }
            },
            "annotations": {"readOnlyHint": false},
            "x-unknown": 1
        });
        let doc = ToolDoc::from_mcp_tool("asana", &tool).unwrap();
        assert_eq!(doc.server, "asana");
        assert_eq!(doc.name, "create_task");
        assert_eq!(doc.description, "Create task. Create a new task");
        let mut params = doc.params.clone();
        params.sort();
        assert_eq!(
            params,
            [
                ("due_on".to_owned(), "Due date".to_owned()),
                ("name".to_owned(), "Name of the task".to_owned()),
                ("notes".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn annotation_title_is_used_when_no_top_level_title() {
        let tool = json!({"name": "t", "annotations": {"title": "Nice title"}});
        let doc = ToolDoc::from_mcp_tool("s", &tool).unwrap();
        assert_eq!(doc.description, "Nice title");
        assert!(doc.params.is_empty());
    }

    #[test]
    fn rejects_non_objects_and_missing_names() {
        assert_eq!(
            ToolDoc::from_mcp_tool("s", &json!("x")),
            Err(ToolDocError::NotAnObject { server: "s".into() })
        );
        for bad in [json!({}), json!({"name": 3}), json!({"name": ""})] {
            let err = ToolDoc::from_mcp_tool("s", &bad).unwrap_err();
            assert_eq!(err, ToolDocError::MissingName { server: "s".into() });
            assert!(err.to_string().contains("`name`"));
        }
    }

    #[test]
    fn hostile_sizes_are_bounded() {
        let mut props = serde_json::Map::new();
        for i in 0..1000 {
            props.insert(
                format!("p{i:04}{}", "n".repeat(1000)),
                json!({"description": "d".repeat(10_000)}),
            );
        }
        let tool = json!({
            "name": "é".repeat(10_000),
            "description": "ü".repeat(100_000),
            "inputSchema": {"properties": props},
        });
        let doc = ToolDoc::from_mcp_tool(&"s".repeat(1000), &tool).unwrap();
        assert_eq!(doc.server.chars().count(), MAX_SERVER_CHARS);
        assert_eq!(doc.name.chars().count(), MAX_NAME_CHARS);
        assert_eq!(doc.description.chars().count(), MAX_DESCRIPTION_CHARS);
        assert_eq!(doc.params.len(), MAX_PARAMS);
        for (n, d) in &doc.params {
            assert_eq!(n.chars().count(), MAX_PARAM_NAME_CHARS);
            assert_eq!(d.chars().count(), MAX_PARAM_DESCRIPTION_CHARS);
        }
    }
}
