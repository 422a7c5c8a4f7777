//! The corpus sweep: every tool of every toolspec of the registry corpus, served by the real
//! `gigmcp-toolpack` binary over stdio, called through the real egress proxy against a
//! recording HTTPS upstream, compared with what an independent builder (`common::expect`)
//! says the API must receive: method, host (overrides applied), raw path, query pairs, header
//! params, body, the credential as the owner's real secret where the manifest puts it, and the
//! placeholder nowhere upstream.
//!
//! Each tool is called twice: with its required arguments only, then with all of them. Specs
//! run a few at a time, each slot with its own proxy and mock (the proxy tells sandboxes apart
//! by source address, and every engine connects from 127.0.0.1); half the specs are spoken to
//! in the handshake era, half in the stateless one.

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::engine::{Engine, Era, STATELESS_VERSION, engine_bin_async, is_error, result_text};
use common::expect::{
    self, Auth, Body, Ctx, Expected, Part, PartValue, Val, arg_sets, build, check_listed_tool,
};
use common::mock::Recorded;
use common::rig::Rig;
use common::{Setup, SpecFiles, corpus_dir, data_dir, data_spec, specs_under};
use gigmcp_proxy::CertificateAuthority;
use serde_json::{Value, json};

/// Specs run at once (each with its own proxy and mock).
const SLOTS: usize = 4;

#[derive(Debug, Default)]
struct Outcome {
    name: String,
    tools: usize,
    calls: usize,
    requests_checked: usize,
    problems: Vec<String>,
    took: Duration,
}

/// Secrets must be exactly where the expectation puts the credential, placeholders nowhere.
fn scan_credentials(setup: &Setup, rec: &Recorded, out: &mut Vec<String>) {
    let Some(cred) = &setup.cred else {
        return;
    };
    let all = rec.all_bytes();
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    if let Some(ph) = &cred.placeholder
        && contains(&all, ph)
    {
        out.push(format!("the placeholder {ph:?} reached the upstream"));
    }
    // The real secret only in the credential's own header or query pair.
    let mut outside = rec.clone();
    match &setup.ctx.auth {
        Auth::Header { name, .. } => {
            let name = name.to_ascii_lowercase();
            outside.headers.retain(|(n, _)| *n != name);
        }
        Auth::Query { name, .. } => {
            outside.query = outside.query.map(|q| {
                q.split('&')
                    .filter(|kv| kv.split('=').next() != Some(name.as_str()))
                    .collect::<Vec<_>>()
                    .join("&")
            });
        }
        Auth::None => {}
    }
    if contains(&outside.all_bytes(), &cred.secret) {
        out.push("the real secret appears outside the credential's header/query pair".into());
    }
}

/// Checks one tool result: a success carrying the upstream's `{"ok":true}` and its status.
fn check_result(msg: &Value) -> Result<(), String> {
    let Some(result) = msg.get("result") else {
        return Err(format!("JSON-RPC error: {msg}"));
    };
    if is_error(result) {
        return Err(format!("isError: {}", result_text(result)));
    }
    let text = result_text(result);
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v == json!({"ok": true}) => {}
        _ => return Err(format!("text content is not the upstream's JSON: {text:?}")),
    }
    let status = &result["_meta"]["io.gigmcp/http"]["status"];
    if status != 200 {
        return Err(format!("_meta io.gigmcp/http status is {status}, want 200"));
    }
    Ok(())
}

/// Runs one spec against `rig`: start, list, call every tool twice, compare.
async fn run_spec(rig: &Rig, setup: &Setup, era: Era) -> Outcome {
    let started = Instant::now();
    let spec = &setup.files.spec;
    let mut o = Outcome {
        name: setup.files.name().to_owned(),
        ..Outcome::default()
    };
    setup.register(rig);
    let env = setup.env(rig);
    let (mut engine, greeting) = match Engine::start(&env, era).await {
        Ok(x) => x,
        Err(e) => {
            o.problems.push(format!("start ({era:?}): {e}"));
            return o;
        }
    };
    match era {
        Era::Handshake => {
            if greeting["capabilities"]["tools"].is_null() {
                o.problems
                    .push(format!("initialize: no tools capability: {greeting}"));
            }
            if greeting["protocolVersion"] != common::engine::HANDSHAKE_VERSION {
                o.problems.push(format!(
                    "initialize: revision {} instead of the requested {}",
                    greeting["protocolVersion"],
                    common::engine::HANDSHAKE_VERSION
                ));
            }
        }
        Era::Stateless => {
            let versions = greeting["supportedVersions"].as_array();
            if !versions.is_some_and(|v| v.iter().any(|x| x == STATELESS_VERSION)) {
                o.problems.push(format!(
                    "server/discover: {STATELESS_VERSION} not supported: {greeting}"
                ));
            }
        }
    }
    let listed = match engine.list_tools().await {
        Ok(t) => t,
        Err(e) => {
            o.problems
                .push(format!("tools/list: {e}; stderr: {}", engine.stderr()));
            return o;
        }
    };
    let listed_names: Vec<&str> = listed.iter().filter_map(|t| t["name"].as_str()).collect();
    let spec_names: Vec<&str> = spec.tools.iter().map(|t| t.name.as_str()).collect();
    if listed_names != spec_names {
        o.problems.push(format!(
            "tools/list names {listed_names:?}, spec order {spec_names:?}"
        ));
    }
    let ua = setup.user_agent();
    // Every string argument sent, raw and as the wire encodes it: none may be logged (T22).
    let mut sent_values: Vec<String> = Vec::new();
    for tool in &spec.tools {
        o.tools += 1;
        let Some(entry) = listed.iter().find(|t| t["name"] == tool.name.as_str()) else {
            o.problems.push(format!("{}: not listed", tool.name));
            continue;
        };
        let (keys, problems) = check_listed_tool(tool, entry);
        o.problems.extend(problems);
        for (set, args) in ["required", "all"].into_iter().zip(arg_sets(tool)) {
            let at = format!("{}/{set}", tool.name);
            let arguments: serde_json::Map<String, Value> = args
                .iter()
                .filter_map(|(name, v)| Some((keys.get(name)?.clone(), v.clone())))
                .collect();
            for v in args.values() {
                if let Some(text) = v.as_str()
                    && text.len() >= 6
                {
                    sent_values.push(text.to_owned());
                    sent_values.push(expect::encode_segment(text, false));
                }
            }
            let expected = match build(spec, tool, &args, &setup.ctx) {
                Ok(e) => e,
                Err(e) => {
                    o.problems.push(format!("{at}: the test's builder: {e}"));
                    continue;
                }
            };
            let before = rig.mock.record_count();
            o.calls += 1;
            let msg = match engine.call(&tool.name, &Value::Object(arguments)).await {
                Ok(m) => m,
                Err(e) => {
                    o.problems
                        .push(format!("{at}: {e}; stderr: {}", engine.stderr()));
                    return o;
                }
            };
            if let Err(e) = check_result(&msg) {
                o.problems.push(format!("{at}: result: {e}"));
            }
            let recs = rig.mock.records_from(before);
            let [rec] = recs.as_slice() else {
                o.problems.push(format!(
                    "{at}: the upstream received {} requests for one call: {:?}",
                    recs.len(),
                    recs.iter()
                        .map(|r| format!("{} {}{}", r.method, r.sni, r.path))
                        .collect::<Vec<_>>()
                ));
                continue;
            };
            o.requests_checked += 1;
            let mut diffs = expect::compare(&expected, rec, &ua);
            scan_credentials(setup, rec, &mut diffs);
            o.problems
                .extend(diffs.into_iter().map(|d| format!("{at}: {d}")));
        }
    }
    match engine.shutdown(Duration::from_secs(5)).await {
        None => o
            .problems
            .push("did not exit within 5 s of stdin closing".into()),
        Some(status) if !status.success() => o
            .problems
            .push(format!("exited with {status} when stdin closed (want 0)")),
        Some(_) => {}
    }
    let stderr = engine.stderr();
    if let Some(c) = &setup.cred {
        if stderr.contains(&c.secret) {
            o.problems.push("stderr logs the secret".into());
        }
        if c.placeholder
            .as_ref()
            .is_some_and(|p| stderr.contains(p.as_str()))
        {
            o.problems.push("stderr logs the placeholder".into());
        }
    }
    sent_values.sort();
    sent_values.dedup();
    if let Some(v) = sent_values.iter().find(|v| stderr.contains(v.as_str())) {
        o.problems
            .push(format!("stderr logs an argument value {v:?}: {stderr}"));
    }
    o.took = started.elapsed();
    o
}

/// Runs `setups` over [`SLOTS`] rigs sharing one upstream CA; returns the outcomes in order.
async fn sweep(setups: Vec<Setup>) -> Vec<Outcome> {
    let _bin = engine_bin_async().await;
    let ca = Arc::new(CertificateAuthority::generate("toolpack sweep upstream CA").expect("CA"));
    let n = setups.len();
    let queue: Arc<Mutex<VecDeque<(usize, Setup)>>> =
        Arc::new(Mutex::new(setups.into_iter().enumerate().collect()));
    let results: Arc<Mutex<Vec<Option<Outcome>>>> =
        Arc::new(Mutex::new((0..n).map(|_| None).collect()));
    let mut slots = Vec::new();
    for _ in 0..SLOTS.min(n) {
        let rig = Rig::start(ca.clone()).await;
        let (queue, results) = (queue.clone(), results.clone());
        slots.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some((i, setup)) = next else { break };
                let era = if i % 2 == 0 {
                    Era::Handshake
                } else {
                    Era::Stateless
                };
                let outcome = run_spec(&rig, &setup, era).await;
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
            }
        }));
    }
    for s in slots {
        s.await.expect("sweep slot panicked");
    }
    let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
    results
        .iter_mut()
        .map(|r| r.take().expect("every spec ran"))
        .collect()
}

/// Prints a summary and fails with every problem, grouped by spec.
fn report(outcomes: &[Outcome]) {
    let mut slowest: Vec<&Outcome> = outcomes.iter().collect();
    slowest.sort_by_key(|o| std::cmp::Reverse(o.took));
    eprintln!(
        "sweep: {} specs, {} tools, {} calls, {} requests compared; slowest: {}",
        outcomes.len(),
        outcomes.iter().map(|o| o.tools).sum::<usize>(),
        outcomes.iter().map(|o| o.calls).sum::<usize>(),
        outcomes.iter().map(|o| o.requests_checked).sum::<usize>(),
        slowest
            .iter()
            .take(3)
            .map(|o| format!("{} {:?}", o.name, o.took))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let failing: Vec<&Outcome> = outcomes.iter().filter(|o| !o.problems.is_empty()).collect();
    if failing.is_empty() {
        return;
    }
    let mut text = format!(
        "{} of {} specs differ from the independent expectation ({} problems):\n",
        failing.len(),
        outcomes.len(),
        failing.iter().map(|o| o.problems.len()).sum::<usize>()
    );
    let mut lines = 0;
    for o in &failing {
        text.push_str(&format!("== {} ({} problems)\n", o.name, o.problems.len()));
        for p in o.problems.iter().take(12) {
            text.push_str(&format!("   {p}\n"));
            lines += 1;
        }
        if lines > 600 {
            text.push_str("   ... (more specs left out)\n");
            break;
        }
    }
    panic!("{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_corpus_tool_sends_what_its_toolspec_declares() {
    let specs = specs_under(&corpus_dir());
    assert_eq!(specs.len(), 215, "the corpus has 215 toolspecs");
    let tools: usize = specs.iter().map(|s| s.spec.tools.len()).sum();
    assert_eq!(tools, 1899, "the corpus has 1,899 tools");
    let entrusted = specs
        .iter()
        .filter(|s| s.manifest.tier == gigmcp_registry::Tier::Entrusted)
        .count();
    assert_eq!(entrusted, 13, "13 corpus specs are entrusted");
    let setups: Vec<Setup> = specs.into_iter().map(Setup::new).collect();
    let overridden = setups.iter().filter(|s| !s.overrides.is_empty()).count();
    assert_eq!(
        overridden, 22,
        "22 specs have a base host only a wildcard covers"
    );
    let started = Instant::now();
    let outcomes = sweep(setups).await;
    eprintln!("corpus sweep took {:?}", started.elapsed());
    assert_eq!(
        outcomes.iter().map(|o| o.tools).sum::<usize>(),
        1899,
        "every tool was tried"
    );
    report(&outcomes);
    assert_eq!(
        outcomes.iter().map(|o| o.requests_checked).sum::<usize>(),
        2 * 1899,
        "every call reached the upstream once and was compared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purpose_built_specs_send_what_the_new_fields_declare() {
    let setups = vec![
        Setup::new(data_spec("features-sealed")),
        Setup::new(data_spec("features-entrusted")),
    ];
    assert_eq!(
        setups[0].overrides,
        [(
            "yourtenant.tenant.example".to_owned(),
            "acme.tenant.example".to_owned()
        )]
    );
    assert!(
        !setups[0].ctx.install.is_empty(),
        "features-sealed has install values"
    );
    let outcomes = sweep(setups).await;
    report(&outcomes);
    assert_eq!(
        outcomes.iter().map(|o| o.requests_checked).sum::<usize>(),
        2 * 10
    );
}

// ----- the builder itself, against hand-written expectations -------------------------------

fn corpus_spec(name: &str) -> SpecFiles {
    SpecFiles::load(&corpus_dir().join("manifests").join(name), "0.1.0")
}

fn ctx(auth: Auth, hosts: &[(&str, &str)]) -> Ctx {
    Ctx {
        hosts: hosts
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect(),
        install: HashMap::new(),
        auth,
    }
}

fn expect_for(spec: &SpecFiles, tool: &str, args: Value, ctx: &Ctx) -> Expected {
    let t = spec
        .spec
        .tools
        .iter()
        .find(|t| t.name == tool)
        .expect("tool");
    let args: BTreeMap<String, Value> = args
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    build(&spec.spec, t, &args, ctx).expect("builds")
}

fn bearer(v: &str) -> Auth {
    Auth::Header {
        name: "Authorization".into(),
        value: format!("Bearer {v}"),
    }
}

fn text(s: &str) -> Val {
    Val::Text(s.to_owned())
}

#[test]
fn builder_zendesk_path_query_body_and_override() {
    let z = corpus_spec("zendesk");
    let c = ctx(
        bearer("S"),
        &[("yoursubdomain.zendesk.com", "acme.zendesk.com")],
    );
    let e = expect_for(&z, "get_ticket", json!({"id": 42}), &c);
    assert_eq!(
        (e.method, e.host.as_str(), e.path.as_str()),
        ("GET", "acme.zendesk.com", "/api/v2/tickets/42")
    );
    assert_eq!(e.headers, [("authorization".to_owned(), text("Bearer S"))]);
    assert_eq!(e.body, Body::Empty);
    let e = expect_for(
        &z,
        "search_tickets",
        json!({"query": "type:ticket a&b", "page": 2}),
        &c,
    );
    assert_eq!(
        e.query,
        [
            ("query".to_owned(), text("type:ticket a&b")),
            ("page".to_owned(), text("2"))
        ]
    );
    let e = expect_for(
        &z,
        "create_ticket",
        json!({"subject": "s", "comment": {"body": "b"}, "tags": ["x"]}),
        &c,
    );
    assert_eq!((e.method, e.path.as_str()), ("POST", "/api/v2/tickets"));
    assert_eq!(
        e.body,
        Body::Json(json!({"subject": "s", "comment": {"body": "b"}, "tags": ["x"]}))
    );
}

#[test]
fn builder_encodes_path_values_as_one_segment() {
    let ga = corpus_spec("google-analytics");
    let c = ctx(bearer("S"), &[]);
    let e = expect_for(
        &ga,
        "run_report",
        json!({"property": "properties/12 34"}),
        &c,
    );
    // `/` inside a value is data: encoded (the corpus does not mark it reserved).
    assert_eq!(e.path, "/v1beta/properties%2F12%2034:runReport");
    let d = corpus_spec("dynamics365");
    let e = expect_for(
        &d,
        "get_lead",
        json!({"leadid": "a b/é"}),
        &ctx(Auth::None, &[]),
    );
    assert_eq!(e.path, "/api/data/v9.2/leads(a%20b%2F%C3%A9)");
    assert_eq!(e.host, "org.api.crm.dynamics.com");
    let s = corpus_spec("shopify");
    let e = expect_for(
        &s,
        "get_order",
        json!({"order_id": 7}),
        &ctx(Auth::None, &[]),
    );
    assert_eq!(e.path, "/admin/api/2026-01/orders/7.json");
    assert_eq!(expect::encode_segment("a..b~-_.", false), "a..b~-_.");
    assert_eq!(expect::encode_segment("x?#%[]", false), "x%3F%23%25%5B%5D");
    assert_eq!(
        expect::encode_segment("properties/1:x", true),
        "properties/1:x"
    );
}

#[test]
fn builder_query_arrays_objects_and_forms() {
    let p = corpus_spec("pagerduty");
    let tool = p
        .spec
        .tools
        .iter()
        .find(|t| t.params.iter().any(|x| x.name == "team_ids[]"))
        .expect("a pagerduty tool with team_ids[]");
    let e = expect_for(
        &p,
        &tool.name,
        json!({"team_ids[]": ["A", "B"]}),
        &ctx(Auth::None, &[]),
    );
    assert_eq!(
        e.query,
        [
            ("team_ids[]".to_owned(), text("A")),
            ("team_ids[]".to_owned(), text("B"))
        ]
    );
    let m = corpus_spec("metaads");
    let e = expect_for(
        &m,
        "get_insights",
        json!({"object_id": "1", "time_range": {"since": "2024-01-01"}}),
        &ctx(Auth::None, &[]),
    );
    assert!(
        e.query.contains(&(
            "time_range".to_owned(),
            Val::Json(json!({"since": "2024-01-01"}))
        )),
        "{:?}",
        e.query
    );
    let b = corpus_spec("box");
    let form_tool = b
        .spec
        .tools
        .iter()
        .find(|t| t.encoding == Some(gigmcp_registry::Encoding::Form))
        .expect("a box form tool");
    let args = arg_sets(form_tool)[1].clone();
    let e = build(&b.spec, form_tool, &args, &ctx(Auth::None, &[])).expect("builds");
    let Body::Form(pairs) = e.body else {
        panic!("form body: {:?}", e.body)
    };
    assert!(!pairs.is_empty());
    // The dotted eventbrite names are literal JSON keys.
    let eb = corpus_spec("eventbrite");
    let tool = eb
        .spec
        .tools
        .iter()
        .find(|t| t.params.iter().any(|p| p.name == "event.name.html"))
        .expect("eventbrite event.name.html");
    let args = arg_sets(tool)[0].clone();
    let e = build(&eb.spec, tool, &args, &ctx(Auth::None, &[])).expect("builds");
    let Body::Json(body) = e.body else {
        panic!("json body")
    };
    assert!(body.get("event.name.html").is_some(), "{body}");
}

#[test]
fn builder_new_fields() {
    let f = data_spec("features-sealed");
    let mut c = ctx(
        Auth::None,
        &[("yourtenant.tenant.example", "acme.tenant.example")],
    );
    c.install.insert("account_id".into(), "acct 1".into());
    c.install.insert("tenant_id".into(), "t-9".into());
    let e = expect_for(
        &f,
        "get_report",
        json!({"property": "properties/1", "ids": ["a", "b"], "fields": ["x", "y"], "tags": ["t"],
               "sel": ["s"], "filter": {"k": 1}, "cursor": "c/1:2", "X-Meta": {"p": "é"}}),
        &c,
    );
    assert_eq!(e.host, "acme.tenant.example");
    assert_eq!(e.path, "/api/v1/properties/1:runReport");
    let q = |n: &str, v: Val| (n.to_owned(), v);
    assert_eq!(
        e.query,
        [
            q("fields", text("x,y")),
            q("tags[]", text("t")),
            q("ids", text("a")),
            q("ids", text("b")),
            q("sel", Val::Json(json!(["s"]))),
            q("filter", Val::Json(json!({"k": 1}))),
            q("cursor", text("c/1:2")),
            q("api-version", text("2024-01")),
            q("account", text("acct 1")),
        ]
    );
    assert_eq!(e.raw_query, ["cursor=c/1:2"]);
    assert_eq!(
        e.headers,
        [
            ("x-tenant".to_owned(), text("t-9")),
            ("prefer".to_owned(), text("transient")),
            ("x-meta".to_owned(), Val::Json(json!({"p": "é"}))),
        ]
    );
    let e = expect_for(
        &f,
        "upload_file",
        json!({"file": "AAH+/w==", "count": 3}),
        &c,
    );
    assert_eq!(e.host, "upload.features.example");
    assert_eq!(e.path, "/v1/files");
    assert_eq!(
        e.body,
        Body::Multipart(vec![
            Part {
                name: "file".into(),
                value: PartValue::File {
                    bytes: vec![0, 1, 0xfe, 0xff],
                    media_type: "image/png".into()
                }
            },
            Part {
                name: "count".into(),
                value: PartValue::Field(text("3"))
            },
        ])
    );
    let e = expect_for(&f, "ping", json!({}), &c);
    assert_eq!((e.method, e.body), ("POST", Body::Empty));
    let e = expect_for(&f, "delete_thing", json!({"lead": "x y", "id": 2.5}), &c);
    assert_eq!(e.path, "/api/v1/leads(x%20y)/things/2.5.json");
    let od = corpus_spec("onedrive");
    let e = expect_for(
        &od,
        "search_items",
        json!({"q": "it's"}),
        &ctx(Auth::None, &[]),
    );
    assert_eq!(
        e.path, "/v1.0/me/drive/root/search(q='it%27%27s')",
        "quotes doubled in an OData literal"
    );
    let odd = f
        .spec
        .tools
        .iter()
        .find(|t| t.name == "odd_names")
        .expect("odd_names");
    assert!(odd.params.iter().any(|p| p.name == "on"));
    for (name, key, fits) in [
        ("@odata.count", "_odata.count", true),
        ("@odata.count", "odata.count", true),
        ("$filter", "_filter_2", true),
        ("$filter", "filter", true),
        ("$filter", "filter_3", true),
        ("team_ids[]", "team_ids__", true),
        ("team_ids[]", "team_ids", true),
        ("filters[search]", "filters_search_", true),
        ("filters[search]", "filters_search", true),
        ("filters[search]", "filters[search]", false),
        ("filters[search]", "search", false),
        ("$filter", "filters", false),
    ] {
        assert_eq!(expect::alias_fits(name, key), fits, "{name} as {key}");
    }
    let ent = data_spec("features-entrusted");
    let cred = common::rig::credential_for(&ent.manifest).expect("entrusted credential");
    assert_eq!(cred.env_name, "FEATURES_ENTRUSTED_KEY");
    let auth = common::expected_auth(&ent, Some(&cred));
    assert_eq!(
        auth,
        Auth::Query {
            name: "api_key".into(),
            value: format!("k-{}", cred.secret)
        }
    );
}

#[test]
fn builder_comparison_catches_differences() {
    let z = corpus_spec("zendesk");
    let c = ctx(bearer("S"), &[]);
    let e = expect_for(
        &z,
        "search_tickets",
        json!({"query": "a b+c", "page": 2}),
        &c,
    );
    let rec = |path: &str, query: &str, auth: &str| Recorded {
        seq: 0,
        conn: 0,
        sni: "yoursubdomain.zendesk.com".into(),
        host: Some("yoursubdomain.zendesk.com".into()),
        method: "GET".into(),
        path: path.into(),
        query: Some(query.into()),
        headers: vec![
            ("authorization".into(), auth.as_bytes().to_vec()),
            ("user-agent".into(), b"ua".to_vec()),
            ("accept".into(), b"application/json, */*;q=0.5".to_vec()),
        ],
        body: vec![],
    };
    let good = rec("/api/v2/search", "page=2&query=a%20b%2Bc", "Bearer S");
    assert_eq!(expect::compare(&e, &good, "ua"), Vec::<String>::new());
    let plus_form = rec("/api/v2/search", "query=a+b%2Bc&page=2", "Bearer S");
    assert_eq!(expect::compare(&e, &plus_form, "ua"), Vec::<String>::new());
    let raw_plus = rec("/api/v2/search", "query=a%20b+c&page=2", "Bearer S");
    assert_eq!(
        expect::compare(&e, &raw_plus, "ua").len(),
        1,
        "a raw `+` reads as a space"
    );
    let wrong_auth = rec("/api/v2/search", "query=a%20b%2Bc&page=2", "Bearer P");
    assert_eq!(expect::compare(&e, &wrong_auth, "ua").len(), 1);
    let wrong_path = rec("/api/v2/Search", "query=a%20b%2Bc&page=2", "Bearer S");
    assert_eq!(expect::compare(&e, &wrong_path, "ua").len(), 1);
    let extra = rec(
        "/api/v2/search",
        "query=a%20b%2Bc&page=2&page=3",
        "Bearer S",
    );
    assert_eq!(expect::compare(&e, &extra, "ua").len(), 1);
}

#[test]
fn purpose_built_specs_lint_clean() {
    let deny = gigmcp_registry::Denylist::parse_with_builtin("").expect("denylist");
    let root = data_dir();
    for name in [
        "features-sealed",
        "features-entrusted",
        "respond",
        "respond-entrusted",
    ] {
        let rel = |f: &str| format!("manifests/{name}/{f}");
        let m_bytes = std::fs::read(root.join(rel("0.1.0.yaml"))).expect("manifest");
        let (m, diags) = gigmcp_registry::lint_manifest(&rel("0.1.0.yaml"), &m_bytes, &deny);
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.severity == gigmcp_registry::Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{name} manifest: {errors:#?}");
        let s_bytes = std::fs::read(root.join(rel("0.1.0.toolspec.yaml"))).expect("toolspec");
        let (_, diags) =
            gigmcp_registry::lint_toolspec(&rel("0.1.0.toolspec.yaml"), &s_bytes, m.as_ref());
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.severity == gigmcp_registry::Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{name} toolspec: {errors:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_expansion_cannot_add_parameters() {
    // A reserved-expansion query value with `&`, `=`, `#` and `+` stays one value; the other
    // calls of the purpose-built sweep check that `/` and `:` stay literal.
    let rig = common::new_rig().await;
    let (engine, setup) = common::start_data_engine(&rig, "features-sealed", |_| {}).await;
    let tool = setup
        .files
        .spec
        .tools
        .iter()
        .find(|t| t.name == "get_report")
        .expect("get_report");
    let args: BTreeMap<String, Value> = [
        ("property", json!("properties/7")),
        ("ids", json!(["1"])),
        ("cursor", json!("a&admin=1#frag+x y/z:w")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let expected = build(&setup.files.spec, tool, &args, &setup.ctx).expect("builds");
    assert!(expected.raw_query.is_empty());
    let r = engine
        .call_result("get_report", &json!(args))
        .await
        .expect("call");
    assert!(!is_error(&r), "{r}");
    let recs = rig.mock.records();
    assert_eq!(recs.len(), 1);
    let diffs = expect::compare(&expected, &recs[0], &setup.user_agent());
    assert!(diffs.is_empty(), "{diffs:#?}");
    let raw = recs[0].query.clone().unwrap_or_default();
    assert!(
        !raw.contains("admin=1") && !raw.contains('#') && !raw.contains('+'),
        "`&`, `=`, `#` and `+` are encoded even with allowReserved: {raw}"
    );
}
