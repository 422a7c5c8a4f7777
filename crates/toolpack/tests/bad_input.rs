//! What the engine refuses: a toolspec that fails lint and a host override outside the egress
//! policy stop it at start-up (exit status 1, the reason on stderr); arguments of the wrong
//! type, path values that would climb the URL, header values that would split the request, a
//! missing credential and unknown tools fail the call. In every case nothing reaches the
//! upstream and the proxy sees no request.

mod common;

use std::time::Duration;

use common::engine::{Engine, Era, engine_bin_async, is_error, result_text};
use common::rig::Rig;
use common::{Setup, data_dir, data_spec, new_rig, start_data_engine};
use gigmcp_registry::{Denylist, Severity, lint_manifest, lint_toolspec};
use serde_json::{Value, json};

/// Nothing went upstream, and the proxy saw no tunnel or request either.
async fn assert_nothing_sent(rig: &Rig, what: &str) {
    let recs = rig.mock.records();
    assert!(
        recs.is_empty(),
        "{what}: requests reached the upstream: {recs:?}"
    );
    let audit = rig.drain_audit(Duration::from_millis(200)).await;
    assert!(audit.is_empty(), "{what}: the proxy saw traffic: {audit:?}");
}

/// Starts an engine that must refuse to start: exit status 1 within 10 s; returns stderr.
async fn refused_start(setup: &Setup, rig: &Rig) -> String {
    let env = setup.env(rig);
    engine_bin_async().await;
    let mut engine = Engine::spawn(&env, Era::Handshake);
    // It must not answer: a refused start serves nothing.
    let answer = engine
        .request_within("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}), Duration::from_secs(10))
        .await;
    let status = engine.wait_exit(Duration::from_secs(10)).await;
    let stderr = engine.stderr();
    assert!(
        answer.as_ref().map_or(true, |m| m.get("result").is_none()),
        "a refused start answered initialize: {answer:?}"
    );
    let status = status.unwrap_or_else(|| panic!("the engine did not exit; stderr: {stderr}"));
    assert_eq!(status.code(), Some(1), "exit status 1; stderr: {stderr}");
    stderr
}

#[tokio::test]
async fn a_toolspec_that_fails_lint_stops_the_engine_naming_the_rule() {
    let rig = new_rig().await;
    let setup = Setup::new(data_spec("bad-lint"));
    setup.register(&rig);
    // What lint says about the file, as the registry tooling would report it.
    let root = data_dir();
    let m_rel = "manifests/bad-lint/0.1.0.yaml";
    let s_rel = "manifests/bad-lint/0.1.0.toolspec.yaml";
    let deny = Denylist::parse_with_builtin("").expect("denylist");
    let (manifest, m_diags) = lint_manifest(
        m_rel,
        &std::fs::read(root.join(m_rel)).expect("manifest"),
        &deny,
    );
    assert!(
        m_diags.iter().all(|d| d.severity != Severity::Error),
        "the manifest itself is valid: {m_diags:?}"
    );
    let (_, diags) = lint_toolspec(
        s_rel,
        &std::fs::read(root.join(s_rel)).expect("toolspec"),
        manifest.as_ref(),
    );
    let errors: Vec<_> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(!errors.is_empty(), "bad-lint must fail lint");
    let stderr = refused_start(&setup, &rig).await;
    for e in errors {
        assert!(
            stderr.contains(&e.message),
            "stderr names the lint finding {:?} ({}): {stderr}",
            e.message,
            e.field
        );
    }
    assert_nothing_sent(&rig, "lint failure").await;
}

#[tokio::test]
async fn a_host_override_outside_the_egress_policy_stops_the_engine_naming_it() {
    let rig = new_rig().await;
    let files = data_spec("features-sealed");
    for to in [
        "acme.evil.example",
        "tenant.example",
        "acme.tenant.example.evil.example",
    ] {
        let setup = Setup::with_overrides(
            files.clone(),
            vec![("yourtenant.tenant.example".to_owned(), to.to_owned())],
        );
        setup.register(&rig);
        let stderr = refused_start(&setup, &rig).await;
        assert!(
            stderr.contains(to),
            "stderr names the refused host {to}: {stderr}"
        );
    }
    // The control: the pattern's own form starts.
    let ok = Setup::new(files);
    let (mut engine, _) = Engine::start(&ok.env(&rig), Era::Handshake)
        .await
        .expect("acme.tenant.example is allowed");
    assert!(engine.shutdown(Duration::from_secs(5)).await.is_some());
    assert_nothing_sent(&rig, "host override").await;
}

/// Calls `tool` and expects a tool error (not a JSON-RPC error) whose text contains `names`.
async fn refused_call(engine: &Engine, tool: &str, args: Value, names: &str) -> String {
    let r = engine
        .call_result(tool, &args)
        .await
        .unwrap_or_else(|e| panic!("{tool} {args}: a tool error expected, got {e}"));
    assert!(is_error(&r), "{tool} {args}: refused with isError: {r}");
    let text = result_text(&r);
    assert!(
        text.contains(names),
        "{tool} {args}: the error names {names:?}: {text}"
    );
    text
}

#[tokio::test]
async fn an_argument_of_the_wrong_type_is_a_tool_error_naming_the_field() {
    let rig = new_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    refused_call(&engine, "typed", json!({"id": "seven"}), "id").await;
    refused_call(&engine, "typed", json!({"id": 7, "count": "many"}), "count").await;
    refused_call(&engine, "typed", json!({"id": 7, "note": 12}), "note").await;
    refused_call(&engine, "typed", json!({"id": 1.5}), "id").await;
    refused_call(&engine, "typed", json!({"count": 1}), "id").await;
    refused_call(
        &engine,
        "typed",
        json!({"id": 7, "colour": "red"}),
        "colour",
    )
    .await;
    assert_nothing_sent(&rig, "wrong types").await;
    // The control: the same tool with right arguments goes out.
    let r = engine
        .call_result("typed", &json!({"id": 7, "count": 2, "note": "n"}))
        .await
        .expect("call");
    assert!(!is_error(&r), "{r}");
    assert_eq!(rig.mock.records().len(), 1);
}

#[tokio::test]
async fn path_values_that_climb_the_url_are_refused() {
    let rig = new_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    for bad in ["..", ".", ""] {
        refused_call(&engine, "fetch", json!({"case": bad}), "case").await;
    }
    assert_nothing_sent(&rig, "dot segments").await;
    // Dots inside a value, or an encoded slash, are data: sent as one encoded segment.
    let r = engine
        .call_result("fetch", &json!({"case": "../x"}))
        .await
        .expect("call");
    assert!(!is_error(&r), "{r}");
    let recs = rig.mock.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].path, "/r/..%2Fx",
        "`/` in a value is encoded, so it cannot climb"
    );
}

#[tokio::test]
async fn header_values_with_line_breaks_are_refused() {
    let rig = new_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    for bad in [
        "a\r\nX-Injected: 1",
        "a\nX-Injected: 1",
        "a\rb",
        "tab\u{0}nul",
    ] {
        refused_call(
            &engine,
            "typed",
            json!({"id": 1, "X-Trace": bad}),
            "X-Trace",
        )
        .await;
    }
    assert_nothing_sent(&rig, "header injection").await;
}

#[tokio::test]
async fn a_missing_credential_fails_each_call_and_sends_nothing() {
    let rig = new_rig().await;
    let setup = Setup::new(data_spec("respond"));
    setup.register(&rig);
    let mut env = setup.env(&rig);
    let cred = setup.cred.as_ref().expect("credential");
    env.vars.retain(|(n, _)| *n != cred.env_name);
    let (engine, _) = Engine::start(&env, Era::Handshake)
        .await
        .expect("the engine starts without its credential");
    let tools = engine.list_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 2, "the tools are still listed");
    refused_call(
        &engine,
        "fetch",
        json!({"case": "x"}),
        "credential not configured",
    )
    .await;
    assert_nothing_sent(&rig, "missing credential").await;
}

#[tokio::test]
async fn an_unknown_tool_is_a_protocol_error() {
    let rig = new_rig().await;
    let (engine, _) = start_data_engine(&rig, "respond", |_| {}).await;
    let msg = engine
        .call("no_such_tool", &json!({}))
        .await
        .expect("an answer");
    assert_eq!(msg["error"]["code"], -32602, "unknown tool: {msg}");
    assert_nothing_sent(&rig, "unknown tool").await;
}

#[tokio::test]
async fn reserved_path_values_cannot_climb_either() {
    let rig = new_rig().await;
    let (engine, _) = start_data_engine(&rig, "features-sealed", |_| {}).await;
    // `property` keeps `/` (allowReserved): each piece between slashes is checked.
    for bad in [
        "properties/../admin",
        "../properties",
        "properties/..",
        "properties/./1",
        "properties//1",
        "/properties",
        "..",
    ] {
        refused_call(
            &engine,
            "get_report",
            json!({"property": bad, "ids": ["1"]}),
            "property",
        )
        .await;
    }
    assert_nothing_sent(&rig, "reserved dot segments").await;
    // `%` is never kept, so an encoded dot segment stays data.
    let r = engine
        .call_result(
            "get_report",
            &json!({"property": "properties/%2e%2e", "ids": ["1"]}),
        )
        .await
        .expect("call");
    assert!(!is_error(&r), "{r}");
    let recs = rig.mock.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].path, "/api/v1/properties/%252e%252e:runReport");
}
