//! A minimal stdio MCP server loop shared by the test servers.
//!
//! Deliberately independent from the gateway's own `gigmcp-mcp` crate: the test servers stand in
//! for third-party code, so they must not share the gateway's parsing (a bug in one would hide
//! in the other).
#![forbid(unsafe_code)]

use serde_json::{Value, json};
use std::io::{BufRead, Write};

/// One tool a test server offers.
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    /// Returns the result text, or `Err(text)` for a tool error (`isError: true`).
    pub run: fn(&Value) -> Result<String, String>,
}

const VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// The stateless revision.
const STATELESS: &str = "2026-07-28";

/// The eras a server speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Eras {
    /// `initialize` only (an unknown `server/discover` is refused).
    Handshake,
    /// Also the stateless revision: `server/discover` is answered, and a request whose `_meta`
    /// names 2026-07-28 gets its `resultType`.
    Both,
}

/// Serves a tool list given as MCP tool objects, answering every call with `call(name, args)`.
pub fn serve_dynamic(
    server_name: &str,
    tools: Vec<Value>,
    call: fn(&str, &Value) -> Result<String, String>,
) {
    serve_dynamic_in(Eras::Handshake, server_name, tools, call);
}

/// [`serve_dynamic`], speaking `eras`.
pub fn serve_dynamic_in(
    eras: Eras,
    server_name: &str,
    tools: Vec<Value>,
    call: fn(&str, &Value) -> Result<String, String>,
) {
    serve_with(eras, server_name, &tools, &|name, args| {
        tools
            .iter()
            .any(|t| t["name"] == name)
            .then(|| call(name, args))
    });
}

/// Serves MCP over stdin/stdout until stdin closes.
pub fn serve(server_name: &str, tools: &[Tool]) {
    let listed: Vec<Value> = tools
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": t.input_schema}))
        .collect();
    serve_with(Eras::Handshake, server_name, &listed, &|name, args| {
        tools.iter().find(|t| t.name == name).map(|t| (t.run)(args))
    });
}

type Dispatch<'a> = &'a dyn Fn(&str, &Value) -> Option<Result<String, String>>;

fn serve_with(eras: Eras, server_name: &str, listed: &[Value], dispatch: Dispatch<'_>) {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            let _ = writeln!(
                out,
                "{}",
                json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})
            );
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            continue; // notification
        };
        if msg.get("method").is_none() {
            continue; // a response to something we never asked
        }
        let method = msg["method"].as_str().unwrap_or_default();
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let stateless = eras == Eras::Both
            && params
                .pointer("/_meta/io.modelcontextprotocol~1protocolVersion")
                .and_then(Value::as_str)
                == Some(STATELESS);
        let reply = match method {
            "server/discover" if eras == Eras::Both => Ok(json!({
                "supportedVersions": [STATELESS],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": server_name, "version": "0.1.0"}
            })),
            "initialize" => {
                let asked = params["protocolVersion"].as_str().unwrap_or_default();
                let version = if VERSIONS.contains(&asked) {
                    asked
                } else {
                    VERSIONS[0]
                };
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": server_name, "version": "0.1.0"}
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": listed })),
            "tools/call" => {
                let name = params["name"].as_str().unwrap_or_default();
                let args = params.get("arguments").cloned().unwrap_or(json!({}));
                match dispatch(name, &args) {
                    Some(Ok(text)) => Ok(json!({"content":[{"type":"text","text":text}]})),
                    Some(Err(text)) => {
                        Ok(json!({"content":[{"type":"text","text":text}],"isError":true}))
                    }
                    None => Err((-32602, format!("unknown tool: {name}"))),
                }
            }
            other => Err((-32601, format!("method not found: {other}"))),
        };
        let response = match reply {
            Ok(mut result) => {
                if stateless {
                    result["resultType"] = json!("complete");
                }
                json!({"jsonrpc":"2.0","id":id,"result":result})
            }
            Err((code, message)) => {
                json!({"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}})
            }
        };
        if writeln!(out, "{response}")
            .and_then(|_| out.flush())
            .is_err()
        {
            break;
        }
    }
}
