//! `library`: an MCP server offering every capability besides tools too, for the gateway's
//! aggregation tests: resources (a list, a template, reads, subscriptions with update
//! notifications), prompts, completion and logging.
//!
//! Each process draws a random instance id at start and puts it in everything it returns, so a
//! test running two copies can tell which one answered.
//!
//! Tools: `whoami` → the instance id; `link` → a resource link to `doc://readme`; `touch` →
//! sends `notifications/resources/updated` for `doc://readme` (if subscribed) and a log message;
//! `slow` → reports progress, then works until cancelled (it never answers); `cancelled` → the
//! cancellations received (`<request id>: <reason>` lines); `ask` → asks the client for a name
//! (elicitation) and returns its answer; `survey` → the same, then reports progress (to the
//! call's progress token) before it answers; `sample` → asks the client's model (sampling); `grow` →
//! adds a tool `grown` (which answers `grown`) and sends `notifications/tools/list_changed`.
#![forbid(unsafe_code)]

use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read, Write};

const MAX_LINE: u64 = 1 << 20;

/// A tool call waiting for the client's answer to our request.
struct Asked {
    call: Value,
    /// `survey`: the call's progress token, reported to once the answer came.
    progress: Option<Value>,
}

struct Library {
    instance: String,
    subscribed: HashSet<String>,
    level: String,
    /// Requests of `slow` still running.
    slow: Vec<Value>,
    /// Cancellations received, as `<request id>: <reason>`.
    cancelled: Vec<String>,
    /// Our requests to the client → the tool call waiting for their answer.
    asked: HashMap<String, Asked>,
    next_ask: u32,
    /// Whether `grow` added the tool `grown`.
    grown: bool,
}

/// What to do with a request: answer now, or later (the answer depends on another message).
enum Outcome {
    Now(Result<Value, (i64, String)>),
    Later,
}

fn instance_id() -> String {
    let mut bytes = [0u8; 6];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom is readable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(t: String) -> Value {
    json!({ "content": [{ "type": "text", "text": t }] })
}

impl Library {
    fn read(&self, uri: &str) -> Option<String> {
        if uri == "doc://readme" {
            return Some(format!("readme of {}", self.instance));
        }
        let n = uri.strip_prefix("doc://pages/")?;
        n.parse::<u32>()
            .ok()
            .map(|n| format!("page {n} of {}", self.instance))
    }

    /// The result for a request, or an error (code, message); notifications go to `out` first.
    fn answer(
        &mut self,
        method: &str,
        params: &Value,
        out: &mut impl Write,
    ) -> Result<Value, (i64, String)> {
        let capabilities = json!({
            "tools": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "prompts": { "listChanged": true },
            "completions": {},
            "logging": {}
        });
        Ok(match method {
            "initialize" => json!({
                "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-11-25"),
                "capabilities": capabilities,
                "serverInfo": { "name": "library", "version": self.instance }
            }),
            "ping" => json!({}),
            "tools/list" => {
                let mut tools = json!([
                    { "name": "whoami", "inputSchema": { "type": "object" } },
                    { "name": "link", "inputSchema": { "type": "object" } },
                    { "name": "touch", "inputSchema": { "type": "object" } },
                    { "name": "slow", "inputSchema": { "type": "object" } },
                    { "name": "cancelled", "inputSchema": { "type": "object" } },
                    { "name": "ask", "inputSchema": { "type": "object" } },
                    { "name": "survey", "inputSchema": { "type": "object" } },
                    { "name": "sample", "inputSchema": { "type": "object" } },
                    { "name": "grow", "inputSchema": { "type": "object" } }
                ]);
                if self.grown {
                    tools
                        .as_array_mut()
                        .expect("an array")
                        .push(json!({ "name": "grown", "inputSchema": { "type": "object" } }));
                }
                json!({ "tools": tools })
            }
            "tools/call" => match params["name"].as_str().unwrap_or_default() {
                "whoami" => text(self.instance.clone()),
                "cancelled" => text(self.cancelled.join("\n")),
                "link" => json!({ "content": [
                    { "type": "resource_link", "uri": "doc://readme", "name": "readme" }
                ]}),
                "touch" => {
                    if self.subscribed.contains("doc://readme") {
                        notify(
                            out,
                            "notifications/resources/updated",
                            json!({ "uri": "doc://readme" }),
                        );
                    }
                    notify(
                        out,
                        "notifications/message",
                        json!({ "level": "info", "logger": "books",
                                "data": format!("touched at level {}", self.level) }),
                    );
                    text("touched".into())
                }
                "grow" => {
                    self.grown = true;
                    notify(out, "notifications/tools/list_changed", json!({}));
                    text("grew".into())
                }
                "grown" if self.grown => text("grown".into()),
                other => return Err((-32602, format!("unknown tool {other}"))),
            },
            "resources/list" => json!({ "resources": [
                { "uri": "doc://readme", "name": "readme", "mimeType": "text/plain" }
            ]}),
            "resources/templates/list" => json!({ "resourceTemplates": [
                { "uriTemplate": "doc://pages/{n}", "name": "page" }
            ]}),
            "resources/read" => {
                let uri = params["uri"].as_str().unwrap_or_default();
                match self.read(uri) {
                    Some(t) => json!({ "contents": [
                        { "uri": uri, "mimeType": "text/plain", "text": t }
                    ]}),
                    None => return Err((-32002, format!("resource not found: {uri}"))),
                }
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                let uri = params["uri"].as_str().unwrap_or_default().to_string();
                if method == "resources/subscribe" {
                    self.subscribed.insert(uri);
                } else {
                    self.subscribed.remove(&uri);
                }
                json!({})
            }
            "prompts/list" => json!({ "prompts": [
                { "name": "greet", "arguments": [{ "name": "who", "required": true }] }
            ]}),
            "prompts/get" => {
                if params["name"] != "greet" {
                    return Err((-32602, format!("unknown prompt {}", params["name"])));
                }
                let who = params["arguments"]["who"].as_str().unwrap_or("nobody");
                json!({ "messages": [
                    { "role": "user", "content": { "type": "text",
                      "text": format!("Hello {who} from {}", self.instance) } },
                    { "role": "user", "content": { "type": "resource",
                      "resource": { "uri": "doc://readme", "text": "readme" } } }
                ]})
            }
            "completion/complete" => {
                let prefix = params["argument"]["value"].as_str().unwrap_or_default();
                let values: Vec<&str> = ["alice", "bob", "carol"]
                    .into_iter()
                    .filter(|v| v.starts_with(prefix))
                    .collect();
                json!({ "completion": { "values": values, "hasMore": false } })
            }
            "logging/setLevel" => {
                self.level = params["level"].as_str().unwrap_or("info").to_string();
                json!({})
            }
            other => return Err((-32601, format!("method not found: {other}"))),
        })
    }
}

impl Library {
    /// Tools whose answer waits for another message.
    fn start(&mut self, id: &Value, method: &str, params: &Value, out: &mut impl Write) -> Outcome {
        if method != "tools/call" {
            return Outcome::Now(self.answer(method, params, out));
        }
        match params["name"].as_str().unwrap_or_default() {
            "slow" => {
                if let Some(token) = params["_meta"].get("progressToken") {
                    for step in 1..=2 {
                        notify(
                            out,
                            "notifications/progress",
                            json!({ "progressToken": token, "progress": step, "total": 10,
                                    "message": format!("step {step}") }),
                        );
                    }
                }
                self.slow.push(id.clone());
                Outcome::Later
            }
            tool @ ("ask" | "survey" | "sample") => {
                self.next_ask += 1;
                let ask_id = format!("{tool}-{}", self.next_ask);
                let progress = (tool == "survey")
                    .then(|| params["_meta"].get("progressToken").cloned())
                    .flatten();
                let (method, params) = if tool != "sample" {
                    (
                        "elicitation/create",
                        json!({
                            "message": "What is your name?",
                            "requestedSchema": { "type": "object",
                                "properties": { "name": { "type": "string" } }, "required": ["name"] }
                        }),
                    )
                } else {
                    (
                        "sampling/createMessage",
                        json!({
                            "messages": [{ "role": "user",
                                           "content": { "type": "text", "text": "What is 2+2?" } }],
                            "maxTokens": 16
                        }),
                    )
                };
                let msg =
                    json!({ "jsonrpc": "2.0", "id": ask_id, "method": method, "params": params });
                let _ = writeln!(out, "{msg}");
                let call = id.clone();
                self.asked.insert(ask_id, Asked { call, progress });
                Outcome::Later
            }
            _ => Outcome::Now(self.answer(method, params, out)),
        }
    }

    /// A notification from the client.
    fn notified(&mut self, method: &str, params: &Value) {
        if method == "notifications/cancelled" {
            let id = &params["requestId"];
            if let Some(at) = self.slow.iter().position(|s| s == id) {
                self.slow.remove(at);
                let reason = params["reason"].as_str().unwrap_or("no reason");
                self.cancelled.push(format!("{id}: {reason}"));
            }
        }
    }

    /// The client's answer to one of our requests: the waiting tool call's result.
    fn answered(&mut self, msg: &Value, out: &mut impl Write) -> Option<(Value, Value)> {
        let ask_id = msg["id"].as_str()?;
        let Asked { call, progress } = self.asked.remove(ask_id)?;
        if let Some(token) = progress {
            for step in 1..=2 {
                notify(
                    out,
                    "notifications/progress",
                    json!({ "progressToken": token, "progress": step, "total": 2,
                            "message": format!("survey step {step}") }),
                );
            }
        }
        let t = if let Some(e) = msg.get("error") {
            format!("refused: {}", e["message"].as_str().unwrap_or_default())
        } else if !ask_id.starts_with("sample") {
            format!("answer: {}", msg["result"])
        } else {
            format!(
                "sampled: {}",
                msg["result"]["content"]["text"]
                    .as_str()
                    .unwrap_or_default()
            )
        };
        Some((call, text(t)))
    }
}

fn notify(out: &mut impl Write, method: &str, params: Value) {
    let msg = json!({ "jsonrpc": "2.0", "method": method, "params": params });
    let _ = writeln!(out, "{msg}");
}

fn main() {
    let mut lib = Library {
        instance: instance_id(),
        subscribed: HashSet::new(),
        level: "info".into(),
        slow: Vec::new(),
        cancelled: Vec::new(),
        asked: HashMap::new(),
        next_ask: 0,
        grown: false,
    };
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut input).take(MAX_LINE).read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let method = msg["method"].as_str().unwrap_or_default().to_string();
        let reply = match (msg.get("id").cloned(), method.is_empty()) {
            (None, _) => {
                lib.notified(&method, &msg["params"]);
                None
            }
            (Some(_), true) => lib
                .answered(&msg, &mut out)
                .map(|(id, result)| json!({ "jsonrpc": "2.0", "id": id, "result": result })),
            (Some(id), false) => match lib.start(&id, &method, &msg["params"], &mut out) {
                Outcome::Later => None,
                Outcome::Now(Ok(result)) => {
                    Some(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
                }
                Outcome::Now(Err((code, message))) => Some(json!({
                    "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message }
                })),
            },
        };
        if let Some(reply) = reply {
            let _ = writeln!(out, "{reply}");
        }
        let _ = out.flush();
    }
}
