//! The crate's module layering, checked from its sources: no import cycle of more than two
//! files, the shared state (`state.rs`) a leaf that imports none of the phases, and nothing but
//! the crate root importing the facade (`proxy.rs`).
//!
//! A module's dependencies are the `crate::<module>` paths in its code and doc comments (tests
//! excluded); `crate::<Item>` (a root re-export) counts as a dependency on `lib`.
//! `cargo test -p gigmcp-proxy --test layers -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What `state.rs` may import: the crate's plain types, none of the phases.
const PLAIN_TYPES: [&str; 8] = [
    "audit",
    "ca",
    "config",
    "credentials",
    "identity",
    "limits",
    "resolver",
    "ssrf",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Top-level module name of every `.rs` file under `src/`, with its text (test code cut off).
fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(i) if module != "lib" => text[..i].to_owned(),
                _ => text,
            };
            out.push((module, code));
        }
    }
    out
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The identifiers right after each `crate::` (each top-level name of a `crate::{...}` group,
/// which may span lines).
fn crate_paths(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.push(ident(rest));
            continue;
        };
        let (mut depth, mut at_start) = (0usize, true);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => at_start = true,
                c if c.is_whitespace() => {}
                _ if at_start && depth == 0 => {
                    names.push(ident(&group[i..]));
                    at_start = false;
                }
                _ => {}
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn graph() -> Graph {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = Graph::new();
    for (module, code) in &sources {
        // Plain comments do not count; doc comments (and their links) do.
        let code: Vec<&str> = code
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                !t.starts_with("//") || t.starts_with("///") || t.starts_with("//!")
            })
            .collect();
        let code = code.join("\n");
        let deps = graph.entry(module.clone()).or_default();
        for name in crate_paths(&code) {
            let dep = if modules.contains(&name) {
                name
            } else {
                "lib".to_owned()
            };
            if dep != *module {
                deps.insert(dep);
            }
        }
        if module == "lib" {
            for line in code.lines() {
                if let Some(rest) = line.strip_prefix("pub use ") {
                    let name = ident(rest);
                    if modules.contains(&name) {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// Strongly connected groups of more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(w: &mut Walk<'g>, v: &'g str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        for d in &w.graph[v] {
            let d = d.as_str();
            if !w.index.contains_key(d) {
                visit(w, d);
                let low = w.low[v].min(w.low[d]);
                w.low.insert(v, low);
            } else if w.stack.contains(&d) {
                let low = w.low[v].min(w.index[d]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(top) = w.stack.pop() {
                group.push(top.to_owned());
                if top == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                w.found.push(group);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

#[test]
fn no_cycle_of_more_than_two_files() {
    let graph = graph();
    for (module, deps) in &graph {
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        println!("{module:12} -> {}", deps.join(", "));
    }
    let cycles = cycles(&graph);
    println!("cycles: {cycles:?}");
    assert!(
        cycles.iter().all(|c| c.len() <= 2),
        "import cycles: {cycles:?}"
    );
}

#[test]
fn shared_state_is_a_leaf_and_the_facade_a_root() {
    let graph = graph();
    let state = &graph["state"];
    let phases: Vec<&String> = state
        .iter()
        .filter(|d| !PLAIN_TYPES.contains(&d.as_str()))
        .collect();
    assert!(phases.is_empty(), "state.rs imports {phases:?}");
    let on_facade: Vec<&String> = graph
        .iter()
        .filter(|(m, deps)| *m != "lib" && deps.contains("proxy"))
        .map(|(m, _)| m)
        .collect();
    assert!(on_facade.is_empty(), "{on_facade:?} import proxy.rs");
}

#[test]
fn the_graph_sees_grouped_imports() {
    assert_eq!(
        crate_paths("use crate::{audit::DenyReason, state::Shared};"),
        ["audit", "state"]
    );
    assert_eq!(
        crate_paths("x(crate::vet::check_host(a), crate::Cidr)"),
        ["vet", "Cidr"]
    );
    assert_eq!(
        crate_paths("use crate::{\n    a::{b, c},\n    d,\n};"),
        ["a", "d"]
    );
}

#[test]
fn cycles_are_found() {
    let mut g = Graph::new();
    for (m, deps) in [
        ("a", &["b"][..]),
        ("b", &["c"]),
        ("c", &["a", "d"]),
        ("d", &["e"]),
        ("e", &["d"]),
        ("f", &["a"]),
    ] {
        g.insert(m.into(), deps.iter().map(|d| d.to_string()).collect());
    }
    let mut found = cycles(&g);
    found.sort();
    assert_eq!(found, [vec!["a", "b", "c"], vec!["d", "e"]]);
}
