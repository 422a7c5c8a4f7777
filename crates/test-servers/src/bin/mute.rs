//! `mute`: completes the MCP handshake, then never answers anything: a stuck server, for the
//! gateway's fan-out tests (the rest of a profile must not wait for it).
#![forbid(unsafe_code)]

use serde_json::{Value, json};
use std::io::{BufRead, Read, Write};

fn main() {
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut input).take(1 << 20).read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if msg["method"] == "initialize" {
            let reply = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}, "prompts": {}},
                "serverInfo": {"name": "mute", "version": "0"}}});
            let _ = writeln!(out, "{reply}");
            let _ = out.flush();
        }
    }
}
