//! `catalog`: hundreds of realistic tools (`<service>_<tool>`, built from the registry corpus's
//! toolspecs at build time) for search and meta-tools tests. Every call answers
//! `called <tool> with <arguments>`.
#![forbid(unsafe_code)]

use gigmcp_test_servers::serve_dynamic;
use serde_json::Value;

fn main() {
    let tools: Vec<Value> =
        serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/catalog.json")))
            .expect("catalog.json is JSON");
    serve_dynamic("catalog", tools, |name, args| {
        Ok(format!("called {name} with {args}"))
    });
}
