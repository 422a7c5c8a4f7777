//! `conformance`: the fixtures that the official MCP conformance suite
//! (`@modelcontextprotocol/conformance` 0.1.16 at revision 2025-11-25, and 0.2.0-alpha.12 at the
//! stateless 2026-07-28, server scenarios) calls, served over stdio (newline-delimited
//! JSON-RPC) in both eras: a client that sends `initialize` gets a handshake-era server (up to
//! 2025-11-25); a request whose `_meta` names 2026-07-28 is served statelessly (`server/discover`,
//! the client's capabilities read from each request, input asked through
//! `InputRequiredResult`, change notifications on `subscriptions/listen` streams).
//! `conformance_handshake` is the same fixture refusing `server/discover` (handshake era only).
//!
//! - tools: `test_simple_text`, `test_image_content`, `test_audio_content`,
//!   `test_embedded_resource`, `test_multiple_content_types`, `test_tool_with_logging`,
//!   `test_tool_with_progress`, `test_error_handling`, `test_sampling`, `test_elicitation`,
//!   `test_elicitation_sep1034_defaults`, `test_elicitation_sep1330_enums`,
//!   `json_schema_2020_12_tool`, `test_reconnection`; for 2026-07-28 also `test_logging_tool`,
//!   `test_missing_capability` (needs sampling), `test_streaming_elicitation`,
//!   `test_custom_headers` (an `x-mcp-header` parameter), `test_trigger_tool_change` and
//!   `test_trigger_prompt_change` (toggle `test_dynamic_tool`/`test_dynamic_prompt` and say the
//!   list changed), and the `test_input_required_result_*` tools; for the gateway's own tests
//!   `test_touch_watched_resource` (tells the subscribers of `test://watched-resource`);
//! - resources `test://static-text`, `test://static-binary`, `test://watched-resource`, the
//!   template `test://template/{id}/data`, `resources/subscribe` and `resources/unsubscribe`;
//! - prompts `test_simple_prompt`, `test_prompt_with_arguments`,
//!   `test_prompt_with_embedded_resource`, `test_prompt_with_image`,
//!   `test_input_required_result_prompt` (elicits first);
//! - `logging/setLevel` (log notifications are filtered by it; statelessly, by the request's
//!   `_meta` log level), `completion/complete`, `ping`.
//!
//! Sampling, elicitation and roots are requests to the client, made only if the client
//! declared the capability (at `initialize`, or in the request's `_meta`; else the tool returns
//! an error result, as the suite asks, or statelessly -32021 for `test_missing_capability`).
//! In the handshake era they are sent and waited for at most [`CLIENT_WAIT`], or until the
//! client cancels the call that asked. Statelessly, the request is run again on each retry: a
//! question the retry's `inputResponses` (or an earlier round, carried in the `requestState`
//! given out, which is checksummed, so nothing is kept between requests) answers gets that answer, and the questions left over become the
//! `InputRequiredResult` (under stable keys). The `test_input_required_result_*` fixtures ask
//! exactly what the 2026-07-28 scenarios expect in an `InputRequiredResult`, each request
//! under the key the scenario expects (`user_name`, `capital_question`, `client_roots`,
//! `confirm`, `greeting`, `step1`, `step2`, `user_context`), the ones of one round at once.
//! Input is bounded: lines of at most [`MAX_LINE`] bytes, at most [`MAX_IN_FLIGHT`] requests
//! handled at once (each on its own thread, so a tool waiting for the client never blocks the
//! reader).
#![forbid(unsafe_code)]

use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

/// Longest accepted input line (bytes, newline included).
const MAX_LINE: usize = 4 << 20;
/// Requests handled concurrently; more are refused with a JSON-RPC error.
const MAX_IN_FLIGHT: usize = 64;
/// How long a tool waits for the client's answer to a sampling or elicitation request.
const CLIENT_WAIT: Duration = Duration::from_secs(10);
/// The delay between the steps of the logging and progress tools.
const STEP: Duration = Duration::from_millis(50);

const VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// The stateless revision.
const MODERN: &str = "2026-07-28";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// The stateless revision's error for a request that needs a capability the client did not
/// declare; as an [`RpcResult`] error its message is the capability's name.
const MISSING_CAPABILITY: i64 = -32021;
/// Longest `requestState` accepted.
const MAX_STATE: usize = 64 * 1024;
/// Keys the checksum of the `requestState`s this fixture gives out. A fixture's integrity check
/// only (FNV-1a is no MAC): it tells a changed state from one it gave out, as the suite's
/// tampered-state scenario asks, without keeping anything between requests.
const STATE_KEY: &[u8] = b"gigmcp conformance fixture";
const LEVELS: &[&str] = &[
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// A 1×1 red PNG.
const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
/// A WAV of eight silent samples (8 kHz, mono, 8 bit).
const WAV: &str = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

/// The resource whose subscribers `test_touch_watched_resource` tells.
const WATCHED: &str = "test://watched-resource";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

type RpcResult = Result<Value, (i64, String)>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Server {
    out: Mutex<std::io::Stdout>,
    /// The capabilities the client declared at `initialize`.
    client_caps: Mutex<Value>,
    /// Index in [`LEVELS`] of the least severe level still sent.
    min_level: AtomicUsize,
    subscriptions: Mutex<HashSet<String>>,
    /// Our requests to the client awaiting an answer, by id.
    pending: Mutex<HashMap<String, Pending>>,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
    /// Whether the tool and the prompt that `test_trigger_*_change` toggle are listed.
    extra_tool: AtomicBool,
    extra_prompt: AtomicBool,
    /// Whether it answers `server/discover` (and so speaks the stateless revision too).
    stateless: bool,
    /// Whether a client initialized it (handshake era).
    initialized: AtomicBool,
    /// Open listen streams (stateless): the request id and what it asked for.
    listeners: Mutex<Vec<(Value, Value)>>,
}

/// The request being handled.
struct Call {
    /// Its JSON-RPC id (what a cancellation names).
    id: String,
    /// Set when the request is of the stateless revision.
    stateless: Option<StatelessCall>,
}

/// A stateless request's view of its client.
struct StatelessCall {
    /// `_meta` clientCapabilities.
    caps: Value,
    /// Index in [`LEVELS`] of `_meta` logLevel, if given.
    level: Option<usize>,
    /// Answers to input requests: of earlier rounds (from `requestState`) and this one.
    answers: Map<String, Value>,
    /// Input requests this round could not answer, by key.
    needed: Mutex<Map<String, Value>>,
    next_key: AtomicU64,
}

/// One of our requests to the client, awaiting its answer.
struct Pending {
    /// The id of the client's request whose handling asked (its cancellation drops this).
    call: String,
    /// Tells this ask from a later one that reused its id.
    seq: u64,
    tx: mpsc::Sender<Result<Value, Value>>,
}

/// A JSON-RPC id as a map key.
fn id_key(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Server {
    fn send(&self, msg: &Value) {
        let mut out = lock(&self.out);
        // A closed stdout means the client is gone; stdin closing ends the process.
        let _ = writeln!(out, "{msg}").and_then(|_| out.flush());
    }

    fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn log(&self, call: &Call, level: &str, data: &str) {
        let rank = LEVELS.iter().position(|l| *l == level).unwrap_or(0);
        let min = call
            .stateless
            .as_ref()
            .and_then(|m| m.level)
            .unwrap_or_else(|| self.min_level.load(Ordering::Relaxed));
        if rank >= min {
            self.notify(
                "notifications/message",
                json!({"level": level, "logger": "conformance", "data": data}),
            );
        }
    }

    /// Whether the client of `call` declared `capability`: at `initialize`, or (stateless) in
    /// the request's `_meta`.
    fn supports(&self, call: &Call, capability: &str) -> bool {
        match &call.stateless {
            Some(m) => m.caps.get(capability).is_some(),
            None => lock(&self.client_caps).get(capability).is_some(),
        }
    }

    /// Sends a request to the client and waits (bounded) for its answer. `call` is the id of
    /// the client's request being handled; `key` names the request (its JSON-RPC id), else it
    /// gets a fresh one. A later request under the same id supersedes this one, and cancelling
    /// `call` drops it: either ends the wait at once.
    fn ask(
        &self,
        call: &Call,
        key: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        if let Some(m) = &call.stateless {
            // Stateless: the answer came with the request, or the request is listed in the
            // call's InputRequiredResult (keys are the same each time the call is replayed).
            let key = key.map_or_else(
                || format!("input-{}", m.next_key.fetch_add(1, Ordering::Relaxed)),
                str::to_owned,
            );
            if let Some(answer) = m.answers.get(&key) {
                return Ok(answer.clone());
            }
            lock(&m.needed).insert(key, json!({"method": method, "params": params}));
            return Err(format!("{method} needs the client's input"));
        }
        let seq = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = key.map_or_else(|| format!("conformance-{seq}"), str::to_owned);
        let (tx, rx) = mpsc::channel();
        let pending = Pending {
            call: call.id.clone(),
            seq,
            tx,
        };
        lock(&self.pending).insert(id.clone(), pending);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let answer = rx.recv_timeout(CLIENT_WAIT);
        {
            let mut pending = lock(&self.pending);
            if pending.get(&id).is_some_and(|p| p.seq == seq) {
                pending.remove(&id);
            }
        }
        match answer {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(format!(
                "the client answered {method} with an error: {error}"
            )),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "the client did not answer {method} within {} s",
                CLIENT_WAIT.as_secs()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!(
                "{method} was cancelled, or superseded by a request with the same id"
            )),
        }
    }

    /// A response from the client to one of our requests.
    fn answered(&self, msg: &Value) {
        if let Some(p) = lock(&self.pending).remove(&id_key(&msg["id"])) {
            let reply = match msg.get("error") {
                Some(e) => Err(e.clone()),
                None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = p.tx.send(reply);
        }
    }

    /// `notifications/cancelled`: what that request still waits for from the client is
    /// dropped, so it ends now.
    fn cancelled(&self, params: &Value) {
        if let Some(id) = params.get("requestId") {
            let call = id_key(id);
            lock(&self.pending).retain(|_, p| p.call != call);
            lock(&self.listeners).retain(|(listen, _)| listen != id);
        }
    }

    /// The request `id` as this server handles it: a stateless one (its `_meta` names the
    /// stateless revision) with the answers of its earlier rounds; an error if its
    /// `requestState` is not one this server gave out.
    fn call_of(&self, id: &Value, params: &Value) -> Result<Call, (i64, String)> {
        let meta = params.get("_meta");
        let stateless = self.stateless
            && meta
                .and_then(|m| m.get(META_VERSION))
                .and_then(Value::as_str)
                == Some(MODERN);
        if !stateless {
            return Ok(Call {
                id: id_key(id),
                stateless: None,
            });
        }
        let mut answers = Map::new();
        if let Some(state) = params.get("requestState") {
            answers = state.as_str().and_then(open_state).ok_or((
                -32602,
                "requestState is not one this server gave out".to_string(),
            ))?;
        }
        if let Some(responses) = params.get("inputResponses").and_then(Value::as_object) {
            // (an answer that is not a result object answers nothing: the question is asked
            // again)
            for (key, answer) in responses.iter().filter(|(_, a)| a.is_object()).take(64) {
                answers.insert(key.clone(), answer.clone());
            }
        }
        let level = meta
            .and_then(|m| m.get(META_LOG_LEVEL))
            .and_then(Value::as_str)
            .and_then(|l| LEVELS.iter().position(|x| *x == l));
        Ok(Call {
            id: id_key(id),
            stateless: Some(StatelessCall {
                caps: meta
                    .and_then(|m| m.get(META_CAPABILITIES))
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                level,
                answers,
                needed: Mutex::new(Map::new()),
                next_key: AtomicU64::new(0),
            }),
        })
    }

    /// A stateless request's outcome: an `InputRequiredResult` if it asked for input it did
    /// not have (the answers so far kept under a new `requestState`), else its result.
    fn finish(&self, call: Call, outcome: RpcResult) -> RpcResult {
        let Some(stateless) = call.stateless else {
            return outcome;
        };
        let needed = std::mem::take(&mut *lock(&stateless.needed));
        if needed.is_empty() {
            return outcome.map(|mut r| {
                r["resultType"] = json!("complete");
                r
            });
        }
        Ok(json!({
            "resultType": "input_required",
            "inputRequests": needed,
            "requestState": seal_state(&stateless.answers),
        }))
    }

    /// A list changed: said to a handshake-era client, and on every listen stream (stateless)
    /// that asked for `filter`.
    fn changed(&self, filter: &str, method: &str) {
        if self.initialized.load(Ordering::SeqCst) {
            self.notify(method, json!({}));
        }
        let listeners: Vec<Value> = lock(&self.listeners)
            .iter()
            .filter(|(_, f)| f.get(filter).and_then(Value::as_bool) == Some(true))
            .map(|(id, _)| id.clone())
            .collect();
        for id in listeners {
            self.notify(method, json!({"_meta": {SUBSCRIPTION_ID: id}}));
        }
    }

    /// `uri` changed: said to a handshake-era client that subscribed to it, and on every
    /// listen stream (stateless) that watches it; how many were told.
    fn updated(&self, uri: &str) -> usize {
        let mut told = 0;
        if lock(&self.subscriptions).contains(uri) {
            self.notify("notifications/resources/updated", json!({"uri": uri}));
            told += 1;
        }
        let listeners: Vec<Value> = lock(&self.listeners)
            .iter()
            .filter(|(_, f)| {
                f.get("resourceSubscriptions")
                    .and_then(Value::as_array)
                    .is_some_and(|uris| uris.iter().any(|u| u == uri))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in listeners {
            self.notify(
                "notifications/resources/updated",
                json!({"uri": uri, "_meta": {SUBSCRIPTION_ID: id}}),
            );
            told += 1;
        }
        told
    }

    /// `subscriptions/listen` (stateless): acknowledged now, answered never (it ends when the
    /// client cancels it).
    fn listen(&self, id: Value, params: &Value) {
        let filter = params.get("notifications").cloned().unwrap_or(json!({}));
        {
            let mut listeners = lock(&self.listeners);
            if listeners.len() >= MAX_IN_FLIGHT {
                drop(listeners);
                self.send(&reply(id, Err((-32000, "too many listen streams".into()))));
                return;
            }
            listeners.push((id.clone(), filter.clone()));
        }
        self.notify(
            "notifications/subscriptions/acknowledged",
            json!({"notifications": filter, "_meta": {SUBSCRIPTION_ID: id}}),
        );
    }

    fn discover(&self) -> Value {
        let mut result = capabilities_and_info();
        result["supportedVersions"] = json!([MODERN]);
        result
    }

    fn handle(&self, call: &Call, method: &str, params: &Value) -> RpcResult {
        match method {
            "initialize" => Ok(self.initialize(params)),
            "server/discover" if self.stateless => Ok(self.discover()),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": tools(self.extra_tool.load(Ordering::Relaxed)) })),
            "tools/call" => self.call_tool(call, params),
            "resources/list" => Ok(json!({ "resources": resources() })),
            "resources/templates/list" => Ok(json!({"resourceTemplates": [{
                "uriTemplate": "test://template/{id}/data",
                "name": "template",
                "description": "JSON data for the given id",
                "mimeType": "application/json"
            }]})),
            "resources/read" => read_resource(str_param(params, "uri")?),
            "resources/subscribe" => {
                let uri = str_param(params, "uri")?;
                lock(&self.subscriptions).insert(uri.to_string());
                Ok(json!({}))
            }
            "resources/unsubscribe" => {
                let uri = str_param(params, "uri")?;
                lock(&self.subscriptions).remove(uri);
                Ok(json!({}))
            }
            "prompts/list" => Ok(json!({
                "prompts": prompts(self.extra_prompt.load(Ordering::Relaxed))
            })),
            "prompts/get" => match str_param(params, "name")? {
                "test_input_required_result_prompt" => self.input_required_prompt(call),
                name => get_prompt(name, params.get("arguments").unwrap_or(&Value::Null)),
            },
            "logging/setLevel" => {
                let level = str_param(params, "level")?;
                let rank = LEVELS
                    .iter()
                    .position(|l| *l == level)
                    .ok_or((-32602, format!("unknown log level: {level}")))?;
                self.min_level.store(rank, Ordering::Relaxed);
                Ok(json!({}))
            }
            "completion/complete" => Ok(complete(params)),
            other => Err((-32601, format!("method not found: {other}"))),
        }
    }

    fn initialize(&self, params: &Value) -> Value {
        self.initialized.store(true, Ordering::SeqCst);
        *lock(&self.client_caps) = params
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let asked = params["protocolVersion"].as_str().unwrap_or_default();
        let version = if VERSIONS.contains(&asked) {
            asked
        } else {
            VERSIONS[0]
        };
        let mut result = capabilities_and_info();
        result["protocolVersion"] = json!(version);
        result
    }

    fn call_tool(&self, call: &Call, params: &Value) -> RpcResult {
        let name = str_param(params, "name")?;
        let args = params
            .get("arguments")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let content = match name {
            "test_simple_text" => vec![text("This is a simple text response for testing.")],
            "test_image_content" => vec![image()],
            "test_audio_content" => {
                vec![json!({"type": "audio", "data": WAV, "mimeType": "audio/wav"})]
            }
            "test_embedded_resource" => vec![json!({"type": "resource", "resource": {
                "uri": "test://embedded-resource",
                "mimeType": "text/plain",
                "text": "This is an embedded resource content."
            }})],
            "test_multiple_content_types" => vec![
                text("Multiple content types test:"),
                image(),
                json!({"type": "resource", "resource": {
                    "uri": "test://mixed-content-resource",
                    "mimeType": "application/json",
                    "text": r#"{"test":"data","value":123}"#
                }}),
            ],
            "test_tool_with_logging" => {
                self.log(call, "info", "Tool execution started");
                std::thread::sleep(STEP);
                self.log(call, "info", "Tool processing data");
                std::thread::sleep(STEP);
                self.log(call, "info", "Tool execution completed");
                vec![text("Tool with logging executed successfully")]
            }
            "test_tool_with_progress" => {
                let token = params.pointer("/_meta/progressToken").cloned();
                for (i, progress) in [0, 50, 100].into_iter().enumerate() {
                    if i > 0 {
                        std::thread::sleep(STEP);
                    }
                    if let Some(token) = &token {
                        self.notify(
                            "notifications/progress",
                            json!({"progressToken": token, "progress": progress, "total": 100}),
                        );
                    }
                }
                vec![text("Tool with progress executed successfully")]
            }
            "test_error_handling" => {
                return Ok(tool_error(
                    "This tool intentionally returns an error for testing",
                ));
            }
            "test_sampling" => {
                let Some(prompt) = args.get("prompt").and_then(Value::as_str) else {
                    return Ok(tool_error("argument `prompt` (string) is required"));
                };
                if !self.supports(call, "sampling") {
                    return Ok(tool_error("the client does not support sampling"));
                }
                let asked = self.ask(
                    call,
                    None,
                    "sampling/createMessage",
                    json!({
                        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                        "maxTokens": 100
                    }),
                );
                match asked {
                    Ok(result) => {
                        let answer = result
                            .pointer("/content/text")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        vec![text(&format!("LLM response: {answer}"))]
                    }
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "test_elicitation" => {
                let Some(message) = args.get("message").and_then(Value::as_str) else {
                    return Ok(tool_error("argument `message` (string) is required"));
                };
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}
                    },
                    "required": ["username", "email"]
                });
                match self.elicit(call, message, schema) {
                    Ok(result) => vec![text(&format!(
                        "User response: action={}, content={}",
                        result["action"].as_str().unwrap_or("unknown"),
                        result.get("content").unwrap_or(&Value::Null)
                    ))],
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "test_elicitation_sep1034_defaults" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "default": "John Doe"},
                        "age": {"type": "integer", "default": 30},
                        "score": {"type": "number", "default": 95.5},
                        "status": {
                            "type": "string",
                            "enum": ["active", "inactive", "pending"],
                            "default": "active"
                        },
                        "verified": {"type": "boolean", "default": true}
                    }
                });
                match self.elicit(call, "Please review the defaults", schema) {
                    Ok(result) => vec![elicitation_completed(&result)],
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "test_elicitation_sep1330_enums" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": {
                            "type": "string",
                            "enum": ["option1", "option2", "option3"]
                        },
                        "titledSingle": {
                            "type": "string",
                            "oneOf": [
                                {"const": "value1", "title": "First Option"},
                                {"const": "value2", "title": "Second Option"},
                                {"const": "value3", "title": "Third Option"}
                            ]
                        },
                        "legacyEnum": {
                            "type": "string",
                            "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"]
                        },
                        "untitledMulti": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
                        },
                        "titledMulti": {
                            "type": "array",
                            "items": {"anyOf": [
                                {"const": "value1", "title": "First Choice"},
                                {"const": "value2", "title": "Second Choice"},
                                {"const": "value3", "title": "Third Choice"}
                            ]}
                        }
                    }
                });
                match self.elicit(call, "Please choose", schema) {
                    Ok(result) => vec![elicitation_completed(&result)],
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "json_schema_2020_12_tool" => vec![text(&format!("received: {args}"))],
            // Over HTTP this tool closes the response stream mid-call; over stdio there is no
            // stream to close: the gateway's HTTP side is what the scenario then exercises.
            "test_reconnection" => {
                std::thread::sleep(STEP * 2);
                vec![text("Reconnection test completed")]
            }
            "test_logging_tool" => {
                for data in [
                    "Logging tool started",
                    "Logging tool running",
                    "Logging tool done",
                ] {
                    self.log(call, "info", data);
                    std::thread::sleep(STEP);
                }
                vec![text("Logging tool executed successfully")]
            }
            "test_trigger_tool_change" => {
                let listed = !self.extra_tool.fetch_xor(true, Ordering::SeqCst);
                self.changed("toolsListChanged", "notifications/tools/list_changed");
                vec![text(&format!("test_dynamic_tool listed: {listed}"))]
            }
            "test_trigger_prompt_change" => {
                let listed = !self.extra_prompt.fetch_xor(true, Ordering::SeqCst);
                self.changed("promptsListChanged", "notifications/prompts/list_changed");
                vec![text(&format!("test_dynamic_prompt listed: {listed}"))]
            }
            "test_dynamic_tool" => vec![text("The dynamic tool ran.")],
            "test_touch_watched_resource" => {
                let told = self.updated(WATCHED);
                vec![text(&format!(
                    "{WATCHED} updated; subscribers told: {told}"
                ))]
            }
            "test_custom_headers" => vec![text(&format!("received: {args}"))],
            // (stateless: a request that needs what the client lacks is refused, not run)
            "test_missing_capability"
                if call.stateless.is_some() && !self.supports(call, "sampling") =>
            {
                return Err((MISSING_CAPABILITY, "sampling".into()));
            }
            "test_missing_capability" | "test_input_required_result_sampling" => {
                let key = (name != "test_missing_capability").then_some("capital_question");
                match self.sample(call, key, "What is the capital of France?", 100) {
                    Ok(answer) => vec![text(&format!("LLM response: {answer}"))],
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "test_streaming_elicitation" | "test_input_required_result_elicitation" => {
                let key = (name != "test_streaming_elicitation").then_some("user_name");
                match self.ask_name(call, key, "What is your name?") {
                    Ok(name) => vec![text(&format!("Hello, {name}!"))],
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "test_input_required_result_list_roots" => match self.roots(call, "client_roots") {
                Ok(roots) => vec![text(&format!("Client roots: {roots}"))],
                Err(e) => return Ok(tool_error(&e)),
            },
            "test_input_required_result_request_state"
            | "test_input_required_result_tampered_state" => {
                let schema = json!({
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}},
                    "required": ["ok"]
                });
                match self.elicit_as(call, Some("confirm"), "Please confirm", schema) {
                    Ok(result) => vec![text(&format!(
                        "state-ok: confirmed={}",
                        result.pointer("/content/ok").unwrap_or(&Value::Null)
                    ))],
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "test_input_required_result_multiple_inputs" => {
                // All three at once, as one round of input.
                let (name, greeting, roots) = std::thread::scope(|scope| {
                    let name = scope
                        .spawn(|| self.ask_name(call, Some("user_name"), "What is your name?"));
                    let greeting = scope
                        .spawn(|| self.sample(call, Some("greeting"), "Generate a greeting", 50));
                    let roots = self.roots(call, "client_roots");
                    let join = |h: std::thread::ScopedJoinHandle<'_, Result<String, String>>| {
                        h.join()
                            .unwrap_or_else(|_| Err("the asking thread panicked".into()))
                    };
                    (join(name), join(greeting), roots)
                });
                match (name, greeting, roots) {
                    (Ok(name), Ok(greeting), Ok(roots)) => vec![text(&format!(
                        "name={name}; greeting={greeting}; roots={roots}"
                    ))],
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Ok(tool_error(&e)),
                }
            }
            "test_input_required_result_multi_round" => {
                let step2 = self
                    .ask_name(call, Some("step1"), "Step 1: What is your name?")
                    .and_then(|name| {
                        let schema = json!({
                            "type": "object",
                            "properties": {"color": {"type": "string"}},
                            "required": ["color"]
                        });
                        self.elicit_as(
                            call,
                            Some("step2"),
                            "Step 2: What is your favorite color?",
                            schema,
                        )
                        .map(|r| (name, r))
                    });
                match step2 {
                    Ok((name, r)) => vec![text(&format!(
                        "{name} likes {}",
                        r.pointer("/content/color")
                            .and_then(Value::as_str)
                            .unwrap_or("no color")
                    ))],
                    Err(e) => return Ok(tool_error(&e)),
                }
            }
            "test_input_required_result_capabilities" => {
                // Asks for what the client declared: elicitation and sampling, at once.
                let (name, answer) = std::thread::scope(|scope| {
                    let name = scope
                        .spawn(|| self.ask_name(call, Some("user_name"), "What is your name?"));
                    let answer = self.sample(
                        call,
                        Some("capital_question"),
                        "What is the capital of France?",
                        100,
                    );
                    (
                        name.join()
                            .unwrap_or_else(|_| Err("the asking thread panicked".into())),
                        answer,
                    )
                });
                match (name, answer) {
                    (Err(e1), Err(e2)) => return Ok(tool_error(&format!("{e1}; {e2}"))),
                    (name, answer) => vec![text(&format!(
                        "name: {}; LLM response: {}",
                        name.unwrap_or_else(|e| format!("({e})")),
                        answer.unwrap_or_else(|e| format!("({e})"))
                    ))],
                }
            }
            other => return Err((-32602, format!("unknown tool: {other}"))),
        };
        Ok(json!({ "content": content }))
    }

    fn elicit(&self, call: &Call, message: &str, schema: Value) -> Result<Value, String> {
        self.elicit_as(call, None, message, schema)
    }

    fn elicit_as(
        &self,
        call: &Call,
        key: Option<&str>,
        message: &str,
        schema: Value,
    ) -> Result<Value, String> {
        if !self.supports(call, "elicitation") {
            return Err("the client does not support elicitation".into());
        }
        self.ask(
            call,
            key,
            "elicitation/create",
            json!({"message": message, "requestedSchema": schema}),
        )
    }

    /// Elicits `{name: string}`; the name, or why there is none.
    fn ask_name(&self, call: &Call, key: Option<&str>, message: &str) -> Result<String, String> {
        let schema = json!({
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"]
        });
        let result = self.elicit_as(call, key, message, schema)?;
        match result.pointer("/content/name").and_then(Value::as_str) {
            Some(name) if result["action"] == "accept" => Ok(truncate(name, 200).to_owned()),
            _ => Err(format!("no name given (action {})", result["action"])),
        }
    }

    /// Samples one user message; the text of the answer.
    fn sample(
        &self,
        call: &Call,
        key: Option<&str>,
        prompt: &str,
        max_tokens: u32,
    ) -> Result<String, String> {
        if !self.supports(call, "sampling") {
            return Err("the client does not support sampling".into());
        }
        let result = self.ask(
            call,
            key,
            "sampling/createMessage",
            json!({
                "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                "maxTokens": max_tokens
            }),
        )?;
        Ok(truncate(
            result
                .pointer("/content/text")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            1000,
        )
        .to_owned())
    }

    /// The client's roots (`roots/list`), as their URIs.
    fn roots(&self, call: &Call, key: &str) -> Result<String, String> {
        if !self.supports(call, "roots") {
            return Err("the client does not support roots".into());
        }
        let result = self.ask(call, Some(key), "roots/list", json!({}))?;
        let uris: Vec<&str> = result["roots"]
            .as_array()
            .map(|r| {
                r.iter()
                    .take(100)
                    .filter_map(|r| r["uri"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        Ok(uris.join(", "))
    }

    /// `test_input_required_result_prompt`: asks the client for its context first.
    fn input_required_prompt(&self, call: &Call) -> RpcResult {
        let schema = json!({
            "type": "object",
            "properties": {"context": {"type": "string"}},
            "required": ["context"]
        });
        let result = self
            .elicit_as(
                call,
                Some("user_context"),
                "What context should the prompt use?",
                schema,
            )
            .map_err(|e| (-32603, e))?;
        let context = result
            .pointer("/content/context")
            .and_then(Value::as_str)
            .unwrap_or("none");
        Ok(
            json!({"messages": [{"role": "user", "content": text(&format!(
                "Answer with this context in mind: {}",
                truncate(context, 1000)
            ))}]}),
        )
    }
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The answers of earlier rounds, carried by the client from round to round (so any process
/// running this fixture can take the next round): `v1.<hex JSON>.<checksum>`.
fn seal_state(answers: &Map<String, Value>) -> String {
    let payload = Value::Object(answers.clone()).to_string();
    let hex: String = payload.bytes().map(|b| format!("{b:02x}")).collect();
    let sum = fnv1a(&[STATE_KEY, hex.as_bytes()]);
    format!("v1.{hex}.{sum:016x}")
}

/// The answers a state of [`seal_state`] carries; `None` if it is not one of those, unchanged.
fn open_state(token: &str) -> Option<Map<String, Value>> {
    if token.len() > MAX_STATE {
        return None;
    }
    let (hex, sum) = token.strip_prefix("v1.")?.split_once('.')?;
    if format!("{:016x}", fnv1a(&[STATE_KEY, hex.as_bytes()])) != sum || hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    match serde_json::from_slice(&bytes?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn capabilities_and_info() -> Value {
    json!({
        "capabilities": {
            "tools": {"listChanged": true},
            "resources": {"subscribe": true},
            "prompts": {"listChanged": true},
            "logging": {},
            "completions": {}
        },
        "serverInfo": {"name": "conformance", "version": "0.1.0"}
    })
}

fn str_param<'a>(params: &'a Value, name: &str) -> Result<&'a str, (i64, String)> {
    params
        .get(name)
        .and_then(Value::as_str)
        .ok_or((-32602, format!("parameter `{name}` (string) is required")))
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn image() -> Value {
    json!({"type": "image", "data": PNG, "mimeType": "image/png"})
}

fn tool_error(message: &str) -> Value {
    json!({"content": [text(message)], "isError": true})
}

fn elicitation_completed(result: &Value) -> Value {
    text(&format!(
        "Elicitation completed: action={}, content={}",
        result["action"].as_str().unwrap_or("unknown"),
        result.get("content").unwrap_or(&Value::Null)
    ))
}

fn no_args(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": {}}
    })
}

/// The tools; `extra` adds `test_dynamic_tool` (toggled by `test_trigger_tool_change`).
fn tools(extra: bool) -> Vec<Value> {
    let mut tools = vec![
        no_args("test_simple_text", "Returns a simple text response."),
        no_args("test_image_content", "Returns a 1x1 PNG image."),
        no_args("test_audio_content", "Returns a short WAV clip."),
        no_args(
            "test_embedded_resource",
            "Returns an embedded text resource.",
        ),
        no_args(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource.",
        ),
        no_args(
            "test_tool_with_logging",
            "Sends three info log notifications while it runs.",
        ),
        no_args(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100 when given a progress token.",
        ),
        no_args("test_error_handling", "Always returns a tool error."),
        json!({
            "name": "test_sampling",
            "description": "Asks the client to sample an LLM with the prompt.",
            "inputSchema": {
                "type": "object",
                "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
                "required": ["prompt"]
            }
        }),
        json!({
            "name": "test_elicitation",
            "description": "Asks the client for a username and an email address.",
            "inputSchema": {
                "type": "object",
                "properties": {"message": {"type": "string", "description": "The message to show the user"}},
                "required": ["message"]
            }
        }),
        no_args(
            "test_elicitation_sep1034_defaults",
            "Elicits values whose schema has defaults for every primitive type (SEP-1034).",
        ),
        no_args(
            "test_elicitation_sep1330_enums",
            "Elicits values with the five enum schema variants (SEP-1330).",
        ),
        json!({
            "name": "json_schema_2020_12_tool",
            "description": "Tool with JSON Schema 2020-12 features",
            "inputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "$anchor": "addressDef",
                        "type": "object",
                        "properties": {
                            "street": {"type": "string"},
                            "city": {"type": "string"}
                        }
                    }
                },
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"},
                    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                    "phone": {"type": "string"},
                    "email": {"type": "string"}
                },
                "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                "if": {
                    "properties": {"contactMethod": {"const": "phone"}},
                    "required": ["contactMethod"]
                },
                "then": {"required": ["phone"]},
                "else": {"required": ["email"]},
                "additionalProperties": false
            }
        }),
        no_args(
            "test_reconnection",
            "Answers after a short delay (SSE polling scenario).",
        ),
        no_args(
            "test_logging_tool",
            "Sends three info log notifications while it runs.",
        ),
        no_args(
            "test_trigger_tool_change",
            "Lists or unlists test_dynamic_tool and says the tool list changed.",
        ),
        no_args(
            "test_trigger_prompt_change",
            "Lists or unlists test_dynamic_prompt and says the prompt list changed.",
        ),
        no_args(
            "test_touch_watched_resource",
            "Says test://watched-resource changed (to its subscribers; not a suite fixture).",
        ),
        json!({
            "name": "test_custom_headers",
            "description": "Echoes its arguments; `region` travels in the Mcp-Param-Region header.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "region": {"type": "string", "description": "A region", "x-mcp-header": "Region"},
                    "query": {"type": "string", "description": "Not mirrored in a header"}
                },
                "required": ["region"]
            }
        }),
        no_args(
            "test_missing_capability",
            "Needs sampling: asks the client what the capital of France is.",
        ),
        no_args(
            "test_streaming_elicitation",
            "Needs elicitation: asks the client for a name.",
        ),
    ];
    for (name, description) in [
        (
            "test_input_required_result_elicitation",
            "Elicits `user_name`, then greets.",
        ),
        (
            "test_input_required_result_sampling",
            "Samples `capital_question`.",
        ),
        (
            "test_input_required_result_list_roots",
            "Asks for `client_roots` (roots/list).",
        ),
        (
            "test_input_required_result_request_state",
            "Elicits `confirm`; answers state-ok.",
        ),
        (
            "test_input_required_result_multiple_inputs",
            "Asks `user_name`, `greeting` and `client_roots` at once.",
        ),
        (
            "test_input_required_result_multi_round",
            "Elicits `step1`, then `step2`.",
        ),
        (
            "test_input_required_result_tampered_state",
            "Elicits `confirm`.",
        ),
        (
            "test_input_required_result_capabilities",
            "Elicits `user_name` and samples `capital_question` at once.",
        ),
    ] {
        tools.push(no_args(name, description));
    }
    if extra {
        tools.push(no_args("test_dynamic_tool", "Listed while toggled on."));
    }
    tools
}

fn resources() -> Vec<Value> {
    vec![
        json!({
            "uri": "test://static-text",
            "name": "static-text",
            "description": "A static text resource",
            "mimeType": "text/plain"
        }),
        json!({
            "uri": "test://static-binary",
            "name": "static-binary",
            "description": "A static binary resource (a PNG image)",
            "mimeType": "image/png"
        }),
        json!({
            "uri": "test://watched-resource",
            "name": "watched-resource",
            "description": "A resource clients may subscribe to",
            "mimeType": "text/plain"
        }),
    ]
}

fn read_resource(uri: &str) -> RpcResult {
    let content = match uri {
        "test://static-text" => json!({
            "uri": uri,
            "mimeType": "text/plain",
            "text": "This is the content of the static text resource."
        }),
        "test://static-binary" => json!({"uri": uri, "mimeType": "image/png", "blob": PNG}),
        "test://watched-resource" => json!({
            "uri": uri,
            "mimeType": "text/plain",
            "text": "This is the content of the watched resource."
        }),
        _ => match template_id(uri) {
            Some(id) => json!({
                "uri": uri,
                "mimeType": "application/json",
                "text": json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                    .to_string()
            }),
            None => {
                return Err((
                    -32002,
                    format!("Resource not found: {}", truncate(uri, 200)),
                ));
            }
        },
    };
    Ok(json!({ "contents": [content] }))
}

/// The `{id}` of `test://template/{id}/data`.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix(TEMPLATE_PREFIX)?
        .strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The prompts; `extra` adds `test_dynamic_prompt` (toggled by `test_trigger_prompt_change`).
fn prompts(extra: bool) -> Vec<Value> {
    let arg = |name: &str, description: &str| json!({"name": name, "description": description, "required": true});
    vec![
        json!({"name": "test_simple_prompt", "description": "A simple prompt without arguments"}),
        json!({
            "name": "test_prompt_with_arguments",
            "description": "A prompt with two required arguments",
            "arguments": [arg("arg1", "First test argument"), arg("arg2", "Second test argument")]
        }),
        json!({
            "name": "test_prompt_with_embedded_resource",
            "description": "A prompt embedding a resource",
            "arguments": [arg("resourceUri", "URI of the resource to embed")]
        }),
        json!({"name": "test_prompt_with_image", "description": "A prompt with an image"}),
        json!({
            "name": "test_input_required_result_prompt",
            "description": "Elicits `user_context` from the client first"
        }),
    ]
    .into_iter()
    .chain(
        extra.then(
            || json!({"name": "test_dynamic_prompt", "description": "Listed while toggled on"}),
        ),
    )
    .collect()
}

fn get_prompt(name: &str, args: &Value) -> RpcResult {
    let arg = |key: &str| {
        args.get(key)
            .and_then(Value::as_str)
            .ok_or((-32602, format!("prompt argument `{key}` is required")))
    };
    let user = |content: Value| json!({"role": "user", "content": content});
    let messages = match name {
        "test_simple_prompt" => vec![user(text("This is a simple prompt for testing."))],
        "test_prompt_with_arguments" => vec![user(text(&format!(
            "Prompt with arguments: arg1='{}', arg2='{}'",
            arg("arg1")?,
            arg("arg2")?
        )))],
        "test_prompt_with_embedded_resource" => vec![
            user(json!({"type": "resource", "resource": {
                "uri": arg("resourceUri")?,
                "mimeType": "text/plain",
                "text": "Embedded resource content for testing."
            }})),
            user(text("Please process the embedded resource above.")),
        ],
        "test_dynamic_prompt" => vec![user(text("The dynamic prompt."))],
        "test_prompt_with_image" => {
            vec![user(image()), user(text("Please analyze the image above."))]
        }
        other => return Err((-32602, format!("unknown prompt: {}", truncate(other, 200)))),
    };
    Ok(json!({ "messages": messages }))
}

fn complete(params: &Value) -> Value {
    let reference = &params["ref"];
    let argument = params.pointer("/argument/name").and_then(Value::as_str);
    let partial = params
        .pointer("/argument/value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let candidates: &[&str] = match (reference["type"].as_str(), argument) {
        (Some("ref/prompt"), Some("arg1" | "arg2"))
            if reference["name"] == "test_prompt_with_arguments" =>
        {
            &["paris", "park", "party"]
        }
        (Some("ref/resource"), Some("id")) if reference["uri"] == "test://template/{id}/data" => {
            &["123", "456", "789"]
        }
        _ => &[],
    };
    let values: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| c.starts_with(partial))
        .collect();
    json!({"completion": {"values": values, "total": values.len(), "hasMore": false}})
}

enum Line {
    Text,
    TooLong,
    Eof,
}

/// Reads one line into `buf` (cleared first), refusing to hold more than [`MAX_LINE`] bytes:
/// the rest of an overlong line is skipped.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(match (too_long, buf.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::Eof,
                (false, false) => Line::Text,
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        input.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Text });
        }
    }
}

fn reply(id: Value, outcome: RpcResult) -> Value {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((MISSING_CAPABILITY, capability)) => json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": MISSING_CAPABILITY,
            "message": format!("this request needs the client's {capability} capability"),
            "data": {"requiredCapabilities": {capability: {}}}
        }}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
    }
}

fn main() {
    run(true);
}

/// Serves stdin/stdout; `stateless`: also the stateless revision (else `server/discover` is
/// an unknown method, as for any server of the handshake era).
pub fn run(stateless: bool) {
    let server = Arc::new(Server {
        out: Mutex::new(std::io::stdout()),
        client_caps: Mutex::new(json!({})),
        min_level: AtomicUsize::new(0),
        subscriptions: Mutex::new(HashSet::new()),
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        in_flight: AtomicUsize::new(0),
        extra_tool: AtomicBool::new(false),
        extra_prompt: AtomicBool::new(false),
        stateless,
        initialized: AtomicBool::new(false),
        listeners: Mutex::new(Vec::new()),
    });
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        match read_line(&mut input, &mut buf) {
            Err(_) | Ok(Line::Eof) => break,
            Ok(Line::TooLong) => {
                server.send(&json!({"jsonrpc": "2.0", "id": null, "error": {
                    "code": -32600,
                    "message": format!("message longer than {MAX_LINE} bytes")
                }}));
                continue;
            }
            Ok(Line::Text) => {}
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(msg) = serde_json::from_slice::<Value>(&buf) else {
            server.send(
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}}),
            );
            continue;
        };
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            if msg.get("id").is_some() {
                server.answered(&msg);
            }
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            // a notification: initialized, cancelled, ...
            if method == "notifications/cancelled" {
                server.cancelled(msg.get("params").unwrap_or(&Value::Null));
            }
            continue;
        };
        let method = method.to_string();
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let call = match server.call_of(&id, &params) {
            Ok(call) => call,
            Err(e) => {
                server.send(&reply(id, Err(e)));
                continue;
            }
        };
        if method == "initialize" || method == "server/discover" {
            // Answered in order, before anything that follows it.
            let outcome = server.handle(&call, &method, &params);
            server.send(&reply(id, outcome));
            continue;
        }
        if method == "subscriptions/listen" && call.stateless.is_some() {
            server.listen(id, &params);
            continue;
        }
        if server.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            server.in_flight.fetch_sub(1, Ordering::SeqCst);
            server.send(&reply(
                id,
                Err((-32000, "too many requests in flight".into())),
            ));
            continue;
        }
        let worker = Arc::clone(&server);
        let refused = id.clone();
        let spawned = std::thread::Builder::new().spawn(move || {
            let outcome = worker.handle(&call, &method, &params);
            let outcome = worker.finish(call, outcome);
            worker.send(&reply(id, outcome));
            worker.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            server.in_flight.fetch_sub(1, Ordering::SeqCst);
            server.send(&reply(
                refused,
                Err((-32000, "cannot start a worker".into())),
            ));
        }
    }
}
