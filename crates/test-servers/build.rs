//! Builds the `catalog` test server's tool list from the public registry corpus's toolspecs
//! (`<repo>/../shared/corpus/gigmcp-registry`, or `GIGMCP_CORPUS_DIR`): realistic names,
//! descriptions and parameters for search tests, without copying the corpus into this repo.
//! If the corpus is missing the catalog is empty, and the tests that need it fail saying so.

use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Services whose tools the catalog serves (each has a toolspec in the corpus).
const SERVICES: &[&str] = &[
    "airtable",
    "asana",
    "attio",
    "bamboohr",
    "chatwork",
    "clickup",
    "discord",
    "gmail",
    "hubspot",
    "jira",
    "linear",
    "mailchimp",
    "notion",
    "stripe",
    "todoist",
    "trello",
    "zendesk",
    "ahrefs",
    "amplitude",
    "ashby",
    "baserow",
    "bitbucket",
    "affinity",
    "activecampaign",
];

fn corpus_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GIGMCP_CORPUS_DIR") {
        return PathBuf::from(d);
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    manifest.join("../../../shared/corpus/gigmcp-registry")
}

fn newest_toolspec(dir: &Path) -> Option<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".toolspec.yaml"))
        .collect();
    specs.sort();
    specs.pop()
}

fn schema(params: Option<&Value>) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for p in params.and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        let mut prop = Map::new();
        if let Some(t) = p.get("type").and_then(Value::as_str)
            && ["string", "integer", "number", "boolean", "array", "object"].contains(&t)
        {
            prop.insert("type".into(), json!(t));
        }
        if let Some(d) = p.get("description") {
            prop.insert("description".into(), d.clone());
        }
        if p.get("required").and_then(Value::as_bool) == Some(true) {
            required.push(json!(name));
        }
        props.insert(name.into(), Value::Object(prop));
    }
    json!({"type": "object", "properties": props, "required": required})
}

fn main() {
    let corpus = corpus_dir();
    println!(
        "cargo:rerun-if-changed={}",
        corpus.join("manifests").display()
    );
    println!("cargo:rerun-if-env-changed=GIGMCP_CORPUS_DIR");
    let mut tools = Vec::new();
    for service in SERVICES {
        let Some(path) = newest_toolspec(&corpus.join("manifests").join(service)) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(spec) = yaml_serde::from_str::<Value>(&text) else {
            continue;
        };
        for t in spec
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                continue;
            };
            tools.push(json!({
                "name": format!("{service}_{name}"),
                "description": t.get("description").cloned().unwrap_or(json!("")),
                "inputSchema": schema(t.get("params")),
            }));
        }
    }
    if tools.is_empty() {
        println!(
            "cargo:warning=registry corpus not found at {}: the catalog test server has no tools",
            corpus.display()
        );
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("catalog.json");
    std::fs::write(out, serde_json::to_string(&tools).unwrap()).unwrap();
}
