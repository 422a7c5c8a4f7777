//! Meta-tools mode: instead of every tool, a profile exposes `search_tools`, `load_tools` and
//! `call_tool`, so a client pulls in only what a task needs. Only tools the profile permits can
//! be found, loaded or called.

use super::tools::{self, PermittedTool};
use super::{Router, tool_error};
use crate::caller::{CallContext, Caller};
use crate::profiles::ProfileState;
use gigmcp_mcp::jsonrpc::ErrorObject;
use gigmcp_store::ProfileId;
use gigmcp_toolsearch::{Index, ToolDoc};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

pub const SEARCH: &str = "search_tools";
pub const LOAD: &str = "load_tools";
pub const CALL: &str = "call_tool";

const MAX_RESULTS: u64 = 50;
const MAX_LOAD: usize = 50;

/// The three meta-tools as MCP tool objects.
pub fn meta_tools() -> Vec<Value> {
    vec![
        json!({
            "name": SEARCH,
            "description": "Search this profile's tools by what you want to do (e.g. \"create a task in asana\"). Returns the best matches with their server, description and input schema. Load the ones you need with load_tools, or call them directly with call_tool.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string", "description": "The task, in plain language"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": "Most results to return (default 10)"}
            }, "required": ["query"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false}
        }),
        json!({
            "name": LOAD,
            "description": "Add tools (by the names search_tools returned) to this session's tool list; the client is told the list changed.",
            "inputSchema": {"type": "object", "properties": {
                "names": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_LOAD}
            }, "required": ["names"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false}
        }),
        json!({
            "name": CALL,
            "description": "Call any tool of this profile by name (as search_tools returned it) with its arguments.",
            "inputSchema": {"type": "object", "properties": {
                "name": {"type": "string"},
                "arguments": {"type": "object"}
            }, "required": ["name"]}
        }),
    ]
}

/// `tools/list` in meta-tools mode: the meta-tools, then what this session loaded.
pub async fn list(router: &Router, state: &ProfileState, caller: &Caller) -> Value {
    let mut tools = meta_tools();
    let loaded = caller.loaded();
    if !loaded.is_empty() {
        for t in tools::permitted(router, state).await {
            let namespaced = t.namespaced();
            if namespaced
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| loaded.contains(n))
            {
                tools.push(namespaced);
            }
        }
    }
    json!({ "tools": tools })
}

fn structured(text_summary: String, structured: Value) -> Value {
    json!({ "content": [{ "type": "text", "text": text_summary }], "structuredContent": structured })
}

/// A search index over one profile's permitted tools, with what each hit returns.
struct SearchIndex {
    index: Index,
    /// Per indexed document: (namespaced name, server, description, input schema).
    entries: Vec<(String, String, Value, Value)>,
}

/// Built indexes by profile, reused while the profile's permitted tools stay the same.
#[derive(Default)]
pub struct SearchCache {
    map: Mutex<HashMap<ProfileId, (u64, Arc<SearchIndex>)>>,
}

fn fingerprint(tools: &[PermittedTool<'_>]) -> u64 {
    let mut h = DefaultHasher::new();
    for t in tools {
        t.server.name.hash(&mut h);
        t.tool.to_string().hash(&mut h);
    }
    h.finish()
}

impl SearchCache {
    fn index_for(&self, profile: ProfileId, tools: &[PermittedTool<'_>]) -> Arc<SearchIndex> {
        let fp = fingerprint(tools);
        if let Some((seen, index)) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&profile)
            && *seen == fp
        {
            return index.clone();
        }
        let mut docs = Vec::with_capacity(tools.len());
        let mut entries = Vec::with_capacity(tools.len());
        for t in tools {
            if let Ok(doc) = ToolDoc::from_mcp_tool(&t.server.name, &t.tool) {
                docs.push(doc);
                entries.push((
                    t.shown_name(),
                    t.server.name.clone(),
                    t.tool.get("description").cloned().unwrap_or(Value::Null),
                    t.tool
                        .get("inputSchema")
                        .cloned()
                        .unwrap_or(json!({"type": "object"})),
                ));
            }
        }
        let built = Arc::new(SearchIndex {
            index: Index::build(docs),
            entries,
        });
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(profile, (fp, built.clone()));
        built
    }

    /// Ranks the permitted tools for `query`, best first.
    pub fn search(
        &self,
        profile: ProfileId,
        tools: &[PermittedTool<'_>],
        query: &str,
        limit: usize,
    ) -> Vec<Value> {
        let index = self.index_for(profile, tools);
        index
            .index
            .search(query, limit)
            .into_iter()
            .map(|hit| {
                let (name, server, description, schema) = &index.entries[hit.doc];
                json!({ "name": name, "server": server, "description": description, "inputSchema": schema, "score": hit.score })
            })
            .collect()
    }
}

/// Handles a `tools/call` of a meta-tool; `None` if `name` is not one.
pub async fn call(
    router: &Router,
    state: &ProfileState,
    ctx: &CallContext,
    name: &str,
    arguments: &Value,
) -> Option<Result<Value, ErrorObject>> {
    let args = arguments.as_object().cloned().unwrap_or_default();
    Some(match name {
        SEARCH => {
            let Some(query) = args
                .get("query")
                .and_then(Value::as_str)
                .filter(|q| !q.trim().is_empty())
            else {
                return Some(Ok(tool_error(
                    "search_tools needs a non-empty `query` string".into(),
                )));
            };
            let limit = args
                .get("limit")
                .and_then(Value::as_u64)
                .unwrap_or(10)
                .clamp(1, MAX_RESULTS) as usize;
            let tools = tools::permitted(router, state).await;
            let hits = router
                .search()
                .search(state.profile.id, &tools, query, limit);
            let summary = if hits.is_empty() {
                format!("no tool matches {query:?}; try other words")
            } else {
                serde_json::to_string(&hits).unwrap_or_default()
            };
            Ok(structured(summary, json!({ "tools": hits })))
        }
        LOAD => {
            let names: Vec<String> = args
                .get("names")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if names.is_empty() || names.len() > MAX_LOAD {
                return Some(Ok(tool_error(format!(
                    "load_tools needs `names`: 1 to {MAX_LOAD} tool names"
                ))));
            }
            let permitted: std::collections::HashSet<String> = tools::permitted(router, state)
                .await
                .iter()
                .map(|t| t.shown_name())
                .collect();
            let (known, unknown): (Vec<String>, Vec<String>) =
                names.into_iter().partition(|n| permitted.contains(n));
            if !unknown.is_empty() {
                return Some(Ok(tool_error(format!(
                    "unknown tools: {}; use search_tools to find the exact names",
                    unknown.join(", ")
                ))));
            }
            ctx.caller.load(known.clone());
            Ok(structured(
                format!("loaded {}; they are now in tools/list", known.join(", ")),
                json!({ "loaded": known }),
            ))
        }
        CALL => {
            let Some(target) = args.get("name").and_then(Value::as_str) else {
                return Some(Ok(tool_error("call_tool needs the tool's `name`".into())));
            };
            if [SEARCH, LOAD, CALL].contains(&target) {
                return Some(Ok(tool_error(
                    "call_tool calls the profile's tools, not the meta-tools".into(),
                )));
            }
            let mut params = Map::new();
            params.insert("name".into(), json!(target));
            params.insert(
                "arguments".into(),
                args.get("arguments").cloned().unwrap_or_else(|| json!({})),
            );
            tools::call_permitted(router, state, ctx, target, params).await
        }
        _ => return None,
    })
}
