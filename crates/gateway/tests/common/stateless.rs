//! A raw client of the stateless revision (2026-07-28): every request with the `_meta`
//! envelope and the routing headers, no session.

use serde_json::{Value, json};

/// The stateless revision.
pub const V: &str = "2026-07-28";

pub struct StatelessClient {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl StatelessClient {
    pub fn request(&self, method: &str, params: Value) -> reqwest::RequestBuilder {
        self.request_with(method, params, &[])
    }

    pub fn request_accepting(
        &self,
        method: &str,
        params: Value,
        accept: &str,
    ) -> reqwest::RequestBuilder {
        self.request_with(method, params, &[("accept", accept)])
    }

    /// A request with the usual headers, each of `overrides` replacing the one of its name.
    pub fn request_with(
        &self,
        method: &str,
        params: Value,
        overrides: &[(&'static str, &str)],
    ) -> reqwest::RequestBuilder {
        let accept = "application/json, text/event-stream";
        let mut params = params;
        let meta = params
            .as_object_mut()
            .unwrap()
            .entry("_meta")
            .or_insert_with(|| json!({}));
        meta["io.modelcontextprotocol/protocolVersion"] = json!(V);
        if meta
            .get("io.modelcontextprotocol/clientCapabilities")
            .is_none()
        {
            meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
        }
        meta["io.modelcontextprotocol/clientInfo"] = json!({"name": "raw", "version": "0"});
        let mut b = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-protocol-version", V)
            .header("mcp-method", method);
        if let Some(name) = params
            .get("name")
            .or_else(|| params.get("uri"))
            .and_then(Value::as_str)
        {
            b = b.header("mcp-name", name);
        }
        let mut b = b.build().unwrap();
        for (k, v) in overrides {
            b.headers_mut().insert(*k, v.parse().unwrap());
        }
        let b = reqwest::RequestBuilder::from_parts(self.http.clone(), b);
        b.body(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string())
    }

    pub async fn json(&self, method: &str, params: Value) -> (u16, Value) {
        let resp = self
            .request_accepting(method, params, "application/json")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(
            resp.headers().get("mcp-session-id").is_none(),
            "no sessions"
        );
        (status, resp.json().await.unwrap())
    }
}

/// The key of the first input request of an `InputRequiredResult`.
pub fn first_input_key(result: &Value) -> String {
    result["inputRequests"]
        .as_object()
        .and_then(|r| r.keys().next())
        .unwrap_or_else(|| panic!("no inputRequests: {result}"))
        .clone()
}
