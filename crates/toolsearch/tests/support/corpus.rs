//! Loads the shared registry corpus as MCP tools/list entries and turns them into `ToolDoc`s
//! through `ToolDoc::from_mcp_tool`, the same path the gateway uses.
//!
//! Corpus: `$GIGMCP_CORPUS_DIR` or `<repo>/../shared/corpus/gigmcp-registry`. For each server
//! directory the toolspec (`*.toolspec.yaml`: name, description, params) is used; servers without
//! one (e.g. `slack`, which runs its own MCP server) contribute the tool names of their manifest.

use std::path::{Path, PathBuf};

use gigmcp_toolsearch::ToolDoc;
use serde_json::{Map, Value, json};

pub fn corpus_dir() -> PathBuf {
    std::env::var_os("GIGMCP_CORPUS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry"),
        PathBuf::from,
    )
}

fn read_yaml(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The MCP tools/list entry a server would publish for one toolspec or manifest tool.
fn mcp_tool(tool: &Value) -> Value {
    let mut props = Map::new();
    for p in tool["params"].as_array().into_iter().flatten() {
        if let Some(name) = p["name"].as_str() {
            let mut schema = json!({"type": p.get("type").cloned().unwrap_or(json!("string"))});
            if let Some(d) = p.get("description") {
                schema["description"] = d.clone();
            }
            props.insert(name.to_owned(), schema);
        }
    }
    let mut out = json!({
        "name": tool["name"],
        "inputSchema": {"type": "object", "properties": props},
    });
    if let Some(d) = tool.get("description") {
        out["description"] = d.clone();
    }
    out
}

/// All corpus tools, servers in name order, tools in file order.
pub fn load() -> Vec<ToolDoc> {
    let manifests = corpus_dir().join("manifests");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .unwrap_or_else(|e| {
            panic!(
                "corpus not found at {} ({e}); put shared/ beside the repo or set GIGMCP_CORPUS_DIR",
                manifests.display()
            )
        })
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut docs = Vec::new();
    for dir in dirs {
        let server = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 dir name")
            .to_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("server dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let is_spec = |p: &PathBuf| p.to_string_lossy().ends_with(".toolspec.yaml");
        let source = files
            .iter()
            .rfind(|p| is_spec(p))
            .or_else(|| {
                files
                    .iter()
                    .rfind(|p| p.extension().is_some_and(|e| e == "yaml"))
            })
            .unwrap_or_else(|| panic!("{} holds no manifest", dir.display()));
        let spec = read_yaml(source);
        for tool in spec["tools"].as_array().into_iter().flatten() {
            let doc = ToolDoc::from_mcp_tool(&server, &mcp_tool(tool))
                .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
            docs.push(doc);
        }
    }
    docs
}
