//! `probe`: reports what the process can see of its surroundings, for the sandbox tests.
//!
//! Tools: `inspect` (namespaces, interfaces, uid, environment, visible host files) and `exit`
//! (terminates the process, to test how the gateway handles a dying backend).
#![forbid(unsafe_code)]

use gigmcp_test_servers::{Tool, serve};
use serde_json::{Value, json};

fn ns(kind: &str) -> Value {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .map(|p| Value::String(p.display().to_string()))
        .unwrap_or(Value::Null)
}

fn interfaces() -> Vec<String> {
    std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect()
}

fn status_field(name: &str) -> Option<String> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
}

fn inspect(_: &Value) -> Result<String, String> {
    let report = json!({
        "pid": std::process::id(),
        "ns": {
            "pid": ns("pid"), "net": ns("net"), "mnt": ns("mnt"), "user": ns("user"),
            "ipc": ns("ipc"), "uts": ns("uts"), "cgroup": ns("cgroup"),
        },
        "interfaces": interfaces(),
        "uid": status_field("Uid"),
        "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "etc_hostname_visible": std::path::Path::new("/etc/hostname").exists(),
        "root_entries": std::fs::read_dir("/").map(|d| d
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Vec<_>>()).unwrap_or_default(),
        "proc_pids": std::fs::read_dir("/proc").map(|d| d
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .collect::<Vec<_>>()).unwrap_or_default(),
    });
    Ok(report.to_string())
}

fn exit(_: &Value) -> Result<String, String> {
    std::process::exit(3)
}

fn main() {
    let empty = json!({"type": "object", "properties": {}});
    serve(
        "probe",
        &[
            Tool {
                name: "inspect",
                description: "Reports namespaces, interfaces, uid, environment and visible files.",
                input_schema: empty.clone(),
                run: inspect,
            },
            Tool {
                name: "exit",
                description: "Exits the server process immediately (status 3).",
                input_schema: empty,
                run: exit,
            },
        ],
    );
}
