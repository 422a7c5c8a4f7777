//! Ranking MCP tools for a plain-language request, for meta-tools mode's `search_tools`.
//!
//! ```
//! use gigmcp_toolsearch::{Index, ToolDoc};
//! use serde_json::json;
//!
//! let tools = [
//!     ("asana", json!({"name": "create_task", "description": "Create a new task"})),
//!     ("todoist", json!({"name": "create_task", "description": "Create a new task"})),
//!     ("slack", json!({"name": "conversations_add_message"})),
//! ];
//! let docs = tools
//!     .iter()
//!     .map(|(server, tool)| ToolDoc::from_mcp_tool(server, tool))
//!     .collect::<Result<Vec<_>, _>>()
//!     .unwrap();
//! let index = Index::build(docs);
//! let hits = index.search("create a task in asana", 5);
//! assert_eq!(index.doc(hits[0].doc).unwrap().server, "asana");
//! // Only permitted tools are ranked.
//! let hits = index.search_filtered("create a task in asana", 5, |doc| doc != 0);
//! assert!(hits.iter().all(|h| h.doc != 0));
//! ```
//!
//! Ranking is BM25F over five fields — server name and tool name (weight 3), description (1),
//! parameter names (0.5), parameter descriptions (0.2) — on terms that are lowercased, split at
//! non-alphanumerics and snake/camel/kebab boundaries, stripped of stop words and lightly stemmed.
//! A query word also matches a few common synonyms (send/post/message, create/add/new,
//! delete/remove, get/fetch/retrieve/read, list/search/find, update/edit/modify) at half weight,
//! and two adjacent query words also match their concatenation ("google drive" → `googledrive`).

#![forbid(unsafe_code)]

mod doc;
mod fields;
mod index;
mod search;
mod synonyms;
mod text;

pub use doc::{
    MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_PARAM_DESCRIPTION_CHARS, MAX_PARAM_NAME_CHARS,
    MAX_PARAMS, MAX_SERVER_CHARS, ToolDoc, ToolDocError,
};
pub use index::Index;
pub use search::{Hit, MAX_QUERY_BYTES, MAX_QUERY_WORDS};
