//! One `tools/call`, end to end: find the tool, build the request, send it within the deadline,
//! map the answer, log one line.
//!
//! Contract of [`Engine::call`]: a call that names no tool, an unknown tool, or arguments that
//! are not an object is a JSON-RPC error (-32602). Everything else is a `CallToolResult`:
//! invalid arguments, a missing install setting or credential, an egress refusal, a connect or
//! TLS failure, a refused redirect and the deadline (`GIG_TOOLPACK_TIMEOUT`) are tool errors
//! (`isError: true`) whose text says what happened and what to do; HTTP answers are mapped by
//! [`crate::response`]. Dropping the returned future (cancellation) drops the HTTP exchange.

use std::time::Instant;

use gigmcp_mcp::ErrorObject;
use gigmcp_mcp::jsonrpc::code;
use gigmcp_mcp::view::ToolCall;
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::http::{ConnectError, FetchError, HttpClient};
use crate::log::{CallLog, Outcome};
use crate::request::{self, CallError};
use crate::response::{self, tool_error};
use crate::toolpack::{Tool, Toolpack};

/// A loaded toolpack with its HTTP client and settings.
pub struct Engine {
    pub pack: Toolpack,
    pub settings: Settings,
    client: HttpClient,
}

/// The tool-error text and log outcome of a failed exchange.
fn describe(e: &FetchError, host: &str) -> (String, Outcome) {
    match e {
        FetchError::Connect(ConnectError::Refused { status: 403, .. }) => (
            format!(
                "egress denied: {host} (the egress proxy refused it: not allowed by this server's egress policy, or it resolves to a forbidden address)"
            ),
            Outcome::EgressDenied,
        ),
        FetchError::Connect(ConnectError::Refused { status: 429, .. }) => (
            "the egress proxy has too many connections open for this server: retry shortly"
                .to_owned(),
            Outcome::Failed,
        ),
        FetchError::Connect(ConnectError::Refused {
            status: 502 | 504, ..
        }) => (
            format!("cannot reach {host}: the egress proxy could not resolve or connect to it"),
            Outcome::Failed,
        ),
        FetchError::Redirect(m) if m.starts_with("egress denied") => {
            (format!("redirect refused: {m}"), Outcome::EgressDenied)
        }
        other => (other.to_string(), Outcome::Failed),
    }
}

impl Engine {
    pub fn new(pack: Toolpack, settings: Settings, client: HttpClient) -> Self {
        Self {
            pack,
            settings,
            client,
        }
    }

    /// Answers a `tools/call` with `params` (see the module contract).
    pub async fn call(&self, params: Option<&Value>) -> Result<Value, ErrorObject> {
        let started = Instant::now();
        let (tool, args) = self.resolve(params)?;
        let mut log = CallLog {
            tool: &tool.name,
            method: tool_method(tool.method),
            host: &tool.host,
            status: None,
            bytes: 0,
            elapsed: started.elapsed(),
            outcome: Outcome::InvalidArguments,
        };
        let out = self.run(tool, args, &mut log).await;
        log.elapsed = started.elapsed();
        log.write();
        Ok(out)
    }

    /// The tool and arguments a `tools/call` names, or its JSON-RPC error.
    fn resolve<'a>(
        &'a self,
        params: Option<&'a Value>,
    ) -> Result<(&'a Tool, &'a Value), ErrorObject> {
        static EMPTY: std::sync::LazyLock<Value> =
            std::sync::LazyLock::new(|| Value::Object(Map::new()));
        let call = ToolCall::of(params).ok_or_else(|| {
            ErrorObject::new(
                code::INVALID_PARAMS,
                "tools/call needs params with a string `name`",
            )
        })?;
        let tool = self.pack.tool(call.name).ok_or_else(|| {
            ErrorObject::new(
                code::INVALID_PARAMS,
                format!("unknown tool: {} (tools/list names the tools)", call.name),
            )
        })?;
        match call.arguments {
            None | Some(Value::Null) => Ok((tool, &EMPTY)),
            Some(a @ Value::Object(_)) => Ok((tool, a)),
            Some(_) => Err(ErrorObject::new(
                code::INVALID_PARAMS,
                "tools/call `arguments` must be an object",
            )),
        }
    }

    /// Builds, sends and maps one call; fills `log`'s outcome, status and bytes.
    async fn run(&self, tool: &Tool, args: &Value, log: &mut CallLog<'_>) -> Value {
        let server = &self.pack.manifest.name;
        let req = match request::build(tool, args, &self.settings.install_vars, server) {
            Ok(r) => r,
            Err(e) => {
                if matches!(
                    e,
                    CallError::InstallSetting { .. } | CallError::InstallSettingType { .. }
                ) {
                    log.outcome = Outcome::NotConfigured;
                }
                return tool_error(e.to_string());
            }
        };
        if let Some(missing) = self.pack.credentials.missing() {
            log.outcome = Outcome::NotConfigured;
            return tool_error(missing);
        }
        let fetched = tokio::time::timeout(
            self.settings.timeout,
            self.client.fetch(&req, &self.pack.credentials),
        )
        .await;
        match fetched {
            Err(_) => {
                log.outcome = Outcome::Timeout;
                tool_error(format!(
                    "timeout: {} did not answer within {} s; try again later or ask for less",
                    tool.host,
                    self.settings.timeout.as_secs()
                ))
            }
            Ok(Err(e)) => {
                let (text, outcome) = describe(&e, &tool.host);
                log.outcome = outcome;
                tool_error(text)
            }
            Ok(Ok(f)) => {
                log.status = Some(f.status.as_u16());
                log.bytes = f.body.len();
                let result = response::to_result(&f, self.settings.max_text);
                let denied = result["isError"] == true
                    && result["content"][0]["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("egress denied"));
                log.outcome = if denied {
                    Outcome::EgressDenied
                } else {
                    Outcome::Answered
                };
                result
            }
        }
    }
}

fn tool_method(m: gigmcp_registry::HttpMethod) -> &'static str {
    use gigmcp_registry::HttpMethod as M;
    match m {
        M::Get => "GET",
        M::Post => "POST",
        M::Put => "PUT",
        M::Patch => "PATCH",
        M::Delete => "DELETE",
    }
}
