//! `strict`: a handshake-era server that exits when its first message is not `initialize` (as
//! some servers do with anything before the handshake), so the gateway's `server/discover`
//! probe kills it. Tools: `hello` (answers `hello`) and `exit` (ends the process).
#![forbid(unsafe_code)]

use serde_json::{Value, json};
use std::io::{BufRead, Read, Write};

fn main() {
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut line = String::new();
    let mut initialized = false;
    loop {
        line.clear();
        match (&mut input).take(1 << 20).read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let method = msg["method"].as_str().unwrap_or_default();
        if !initialized && method != "initialize" {
            eprintln!("strict: {method} before initialize; exiting");
            std::process::exit(1);
        }
        initialized = true;
        let Some(id) = msg.get("id") else { continue };
        let result = match method {
            "initialize" => json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "strict", "version": "0"}}),
            "tools/list" => json!({"tools": [
                {"name": "hello", "inputSchema": {"type": "object"}},
                {"name": "exit", "inputSchema": {"type": "object"}}]}),
            "tools/call" if msg["params"]["name"] == "exit" => std::process::exit(0),
            "tools/call" => json!({"content": [{"type": "text", "text": "hello"}]}),
            _ => json!({}),
        };
        let _ = writeln!(
            out,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        );
        let _ = out.flush();
    }
}
