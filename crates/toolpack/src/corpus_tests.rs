//! Every toolspec of the registry corpus, offline: it loads, its schemas are ones every model
//! API accepts, and every tool builds a request from generated arguments. Also the builder
//! tables on real corpus tools, and the start-up refusals (T1, T2).
//!
//! Corpus: `$GIGMCP_CORPUS_DIR` or `<repo>/../shared/corpus/gigmcp-registry`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use gigmcp_registry::{ContentEncoding, ParamLocation, ParamType};
use serde_json::{Map, Value, json};

use crate::request::{self, HttpRequest, InstallVars};
use crate::toolpack::{LoadError, Setup, Source, Tool, Toolpack};

fn corpus() -> PathBuf {
    std::env::var_os("GIGMCP_CORPUS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry"),
        PathBuf::from,
    )
}

/// `(name, manifest, toolspec)` of every toolspec in the corpus.
fn documents() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let dir = corpus().join("manifests");
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set GIGMCP_CORPUS_DIR?)", dir.display()));
    for entry in entries {
        let entry = entry.unwrap();
        for file in std::fs::read_dir(entry.path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(version) = name.strip_suffix(".toolspec.yaml") {
                let manifest = std::fs::read(entry.path().join(format!("{version}.yaml"))).unwrap();
                let spec = std::fs::read(&path).unwrap();
                out.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    manifest,
                    spec,
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(
    manifest: &[u8],
    spec: &[u8],
    overrides: &[(String, String)],
) -> Result<Toolpack, LoadError> {
    Toolpack::load(
        manifest,
        spec,
        &Setup {
            host_overrides: overrides,
            env: &no_env,
        },
    )
}

fn corpus_pack(name: &str) -> Toolpack {
    let (_, m, s) = documents()
        .into_iter()
        .find(|d| d.0 == name)
        .unwrap_or_else(|| panic!("{name} is not in the corpus"));
    load(&m, &s, &[]).unwrap()
}

fn is_model_safe(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A deterministic value of the param's type (the first enum value when listed).
fn sample(p: &gigmcp_registry::Param) -> Value {
    if let Some(first) = p.enum_values.as_ref().and_then(|e| e.first()) {
        return first.clone();
    }
    if p.content_encoding == Some(ContentEncoding::Base64) {
        return json!("aGVsbG8=");
    }
    match p.kind {
        // Header values must be ASCII (non-ASCII is only escaped inside JSON).
        ParamType::String if p.location == ParamLocation::Header => json!("v-1"),
        ParamType::String => json!(format!("v {}/é", p.name.len())),
        ParamType::Integer => json!(7),
        ParamType::Number => json!(1.5),
        ParamType::Boolean => json!(true),
        ParamType::Array => json!(["a", "b c"]),
        ParamType::Object => json!({"k": "v"}),
    }
}

/// Arguments for every param the model gives (`all`), or only the required ones.
fn sample_args(tool: &Tool, all: bool) -> Value {
    let mut args = Map::new();
    for s in &tool.slots {
        if let Source::Argument(prop) = &s.source
            && (all || s.param.required)
        {
            args.insert(prop.clone(), sample(&s.param));
        }
    }
    Value::Object(args)
}

fn check_schema(spec: &str, tool: &Tool) {
    let schema = &tool.input_schema;
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], false);
    let props = schema["properties"].as_object().unwrap();
    for key in props.keys() {
        assert!(is_model_safe(key), "{spec}.{}: property `{key}`", tool.name);
    }
    for r in schema["required"].as_array().unwrap() {
        assert!(
            props.contains_key(r.as_str().unwrap()),
            "{spec}.{}: required {r}",
            tool.name
        );
    }
    let args: Vec<&str> = tool
        .slots
        .iter()
        .filter_map(|s| match &s.source {
            Source::Argument(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let unique: HashSet<&str> = args.iter().copied().collect();
    assert_eq!(
        unique.len(),
        args.len(),
        "{spec}.{}: aliases clash",
        tool.name
    );
    assert_eq!(props.len(), args.len(), "{spec}.{}", tool.name);
    for s in &tool.slots {
        if let Source::Argument(p) = &s.source
            && *p != s.param.name
        {
            let d = props[p]["description"].as_str().unwrap();
            assert!(
                d.contains(&format!("`{}`", s.param.name)),
                "{spec}.{}: {d}",
                tool.name
            );
        }
    }
    // The text sent is the same schema, properties in spec order.
    let sent: Value = serde_json::from_str(&tool.mcp_json).unwrap();
    assert_eq!(sent, tool.to_mcp());
    let order: Vec<&str> = args.clone();
    let mut at = 0;
    for name in order {
        let quoted = format!("{}:", Value::String(name.to_owned()));
        let pos = tool.mcp_json[at..].find(&quoted).map(|p| p + at);
        assert!(
            pos.is_some(),
            "{spec}.{}: {name} out of spec order",
            tool.name
        );
        at = pos.unwrap_or(at);
    }
}

fn check_request(spec: &str, tool: &Tool, req: &HttpRequest) {
    let url = req.url();
    let uri: http::Uri = url
        .parse()
        .unwrap_or_else(|e| panic!("{spec}.{}: {url}: {e}", tool.name));
    assert_eq!(uri.host(), Some(tool.host.as_str()));
    assert!(
        !req.path.contains(['{', '}', ' ']),
        "{spec}.{}: {}",
        tool.name,
        req.path
    );
    for (name, value) in &req.headers {
        assert!(http::HeaderName::try_from(name.as_str()).is_ok(), "{name}");
        assert!(
            http::HeaderValue::try_from(value.as_str()).is_ok(),
            "{name}"
        );
    }
}

#[test]
fn every_corpus_toolspec_loads_lists_and_builds() {
    let docs = documents();
    assert!(docs.len() >= 215, "found {} toolspecs", docs.len());
    let (mut tools, mut aliased) = (0, 0);
    let vars = InstallVars::new();
    for (name, m, s) in &docs {
        let pack = load(m, s, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let listed: Value = serde_json::from_str(pack.list_json()).unwrap();
        assert_eq!(listed, pack.list());
        for tool in &pack.tools {
            tools += 1;
            check_schema(name, tool);
            aliased += tool
                .slots
                .iter()
                .filter(|s| matches!(&s.source, Source::Argument(p) if *p != s.param.name))
                .count();
            for all in [false, true] {
                let args = sample_args(tool, all);
                let req = request::build(tool, &args, &vars, name)
                    .unwrap_or_else(|e| panic!("{name}.{} ({args}): {e}", tool.name));
                check_request(name, tool, &req);
            }
        }
    }
    assert!(tools >= 1899, "{tools} tools");
    assert!(aliased >= 100, "{aliased} aliased names");
}

#[test]
fn mixpanel_keeps_on_as_a_string_property() {
    let pack = corpus_pack("mixpanel");
    let with_on: Vec<&Tool> = pack
        .tools
        .iter()
        .filter(|t| t.input_schema["properties"].get("on").is_some())
        .collect();
    assert!(!with_on.is_empty());
    for t in with_on {
        assert_eq!(
            t.input_schema["properties"]["on"]["type"], "string",
            "{}",
            t.name
        );
    }
}

fn build(pack: &Toolpack, tool: &str, args: Value) -> HttpRequest {
    let t = pack.tool(tool).unwrap_or_else(|| panic!("no tool {tool}"));
    request::build(t, &args, &InstallVars::new(), &pack.manifest.name).unwrap()
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn corpus_builder_table() {
    // (spec, tool, arguments, path, query)
    let cases: Vec<(&str, &str, Value, &str, &str)> = vec![
        (
            "dynamics365",
            "get_lead",
            json!({"leadid": "a b"}),
            "/api/data/v9.2/leads(a%20b)",
            "",
        ),
        (
            "dynamics365",
            "get_all_leads",
            json!({"filter": "statecode eq 0"}),
            "/api/data/v9.2/leads",
            "$filter=statecode%20eq%200",
        ),
        (
            "onedrive",
            "search_items",
            json!({"q": "it's"}),
            "/v1.0/me/drive/root/search(q='it%27%27s')",
            "",
        ),
        (
            "google-analytics",
            "run_report",
            json!({"property": "properties/1234"}),
            "/v1beta/properties%2F1234:runReport",
            "",
        ),
        (
            "hackernews",
            "get_item",
            json!({"id": 8863}),
            "/v0/item/8863.json",
            "",
        ),
        (
            "hackernews",
            "get_item",
            json!({"id": 8863.0}),
            "/v0/item/8863.json",
            "",
        ),
        (
            "activecampaign",
            "list_deals",
            json!({"filters_search": "a&b", "filters_stage": 3}),
            "/api/3/deals",
            "filters[search]=a%26b&filters[stage]=3",
        ),
        (
            "metaads",
            "get_insights",
            json!({"object_id": "act_1", "time_range": {"since": "2024-01-01"}}),
            "/v22.0/act_1/insights",
            "time_range=%7B%22since%22%3A%222024-01-01%22%7D",
        ),
        (
            "canvas",
            "list_courses",
            json!({"include": "term"}),
            "/api/v1/courses",
            "include[]=term",
        ),
    ];
    for (spec, tool, args, path, query) in cases {
        let pack = corpus_pack(spec);
        let req = build(&pack, tool, args);
        assert_eq!(
            (req.path.as_str(), req.query.as_str()),
            (path, query),
            "{spec}.{tool}"
        );
    }
}

#[test]
fn corpus_headers_and_bodies() {
    let pack = corpus_pack("dropbox");
    let req = build(
        &pack,
        "download_file",
        json!({"Dropbox-API-Arg": r#"{"path":"/é.txt"}"#}),
    );
    assert_eq!(
        header(&req, "Dropbox-API-Arg"),
        Some(r#"{"path":"/\u00e9.txt"}"#)
    );
    assert_eq!(
        header(&req, "Content-Length"),
        Some("0"),
        "POST without body params"
    );
    assert_eq!(header(&req, "Content-Type"), None);
    assert!(req.body.bytes.is_empty());
    let t = pack.tool("download_file").unwrap();
    let e = request::build(
        t,
        &json!({"Dropbox-API-Arg": "x\r\nX-Evil: 1"}),
        &InstallVars::new(),
        "dropbox",
    )
    .unwrap_err();
    assert!(e.to_string().contains("`Dropbox-API-Arg`"), "{e}");
    assert_eq!(
        header(&req, "User-Agent"),
        Some(concat!(
            "gigmcp-toolpack/",
            env!("CARGO_PKG_VERSION"),
            " (dropbox)"
        ))
    );
    assert_eq!(header(&req, "Accept"), Some(request::ACCEPT));

    let pack = corpus_pack("zendesk");
    let req = build(
        &pack,
        "create_ticket",
        json!({"subject": "Hi", "comment": {"body": "x"}, "tags": ["a"]}),
    );
    assert_eq!(req.method, http::Method::POST);
    assert_eq!(header(&req, "Content-Type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&req.body.bytes).unwrap();
    assert_eq!(
        body,
        json!({"subject": "Hi", "comment": {"body": "x"}, "tags": ["a"]})
    );
    // validation names the field
    let t = pack.tool("create_ticket").unwrap();
    let e = request::build(
        t,
        &json!({"subject": 1, "extra": true}),
        &InstallVars::new(),
        "z",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`subject`") && e.contains("extra") && e.contains("comment"),
        "{e}"
    );
    let e = request::build(
        pack.tool("get_ticket").unwrap(),
        &json!({"id": "../x"}),
        &InstallVars::new(),
        "z",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`id`"), "{e}");
}

#[test]
fn start_up_refuses_lint_errors_and_bad_overrides() {
    let docs: HashMap<String, (Vec<u8>, Vec<u8>)> = documents()
        .into_iter()
        .map(|(n, m, s)| (n, (m, s)))
        .collect();
    let (m, s) = &docs["zendesk"];
    // a toolspec that does not pair with its manifest: lint errors, nothing served
    let (_, other) = &docs["hackernews"];
    match load(m, other, &[]) {
        Err(LoadError::Lint(errors)) => assert!(!errors.is_empty()),
        other => panic!("{other:?}"),
    }
    let o = |from: &str, to: &str| vec![(from.to_owned(), to.to_owned())];
    let pack = load(m, s, &o("yoursubdomain.zendesk.com", "acme.zendesk.com")).unwrap();
    assert!(pack.tools.iter().all(|t| t.host == "acme.zendesk.com"));
    let e = load(m, s, &o("yoursubdomain.zendesk.com", "acme.evil.com")).unwrap_err();
    assert!(e.to_string().contains("acme.evil.com"), "{e}");
    let pack = load(m, s, &o("other.zendesk.com", "acme.zendesk.com")).unwrap();
    assert_eq!(pack.unused_overrides, ["other.zendesk.com"]);
    assert!(
        pack.tools
            .iter()
            .all(|t| t.host == "yoursubdomain.zendesk.com")
    );
}
