//! `echo`: one tool, `echo{message}` → `echo: <message>`.
#![forbid(unsafe_code)]

use gigmcp_test_servers::{Tool, serve};
use serde_json::{Value, json};

fn echo(args: &Value) -> Result<String, String> {
    match args.get("message").and_then(Value::as_str) {
        Some(m) => Ok(format!("echo: {m}")),
        None => Err("argument `message` (string) is required".into()),
    }
}

fn main() {
    serve(
        "echo",
        &[Tool {
            name: "echo",
            description: "Echoes the message back, prefixed with `echo: `.",
            input_schema: json!({
                "type": "object",
                "properties": {"message": {"type": "string", "description": "Text to echo"}},
                "required": ["message"]
            }),
            run: echo,
        }],
    );
}
