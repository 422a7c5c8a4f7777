//! The credential a call carries (T3).
//!
//! Contract:
//! - **sealed** credential (manifest `inject.header` + `inject.format`): the value of
//!   `GIG_CREDENTIAL_<ID>` (ID = the credential id upper-cased, every non-alphanumeric as `_`)
//!   is a placeholder the egress proxy swaps for the secret; the engine sends header
//!   `inject.header` with `inject.format`'s `{token}` replaced by it.
//! - **entrusted** credential (manifest `inject.env` names the variable holding the secret):
//!   the toolspec's `auth` says how to send it: header `auth.header` with `auth.format` filled,
//!   or, when `auth.query` is set, that query parameter (format applied) and no header. Only the
//!   first entrusted credential is used (the toolspec has one `auth`).
//! - No credential in the manifest: nothing is added.
//! - A variable that is unset, empty, or whose filled value is not a valid header value: the
//!   engine starts anyway and every call returns the tool error [`Credentials::missing`] names.
//!
//! Values are never printed: `Debug` shows names only (T22).

use std::fmt;

use gigmcp_registry::{InjectTarget, Manifest, Toolspec};

/// Where an auth value goes.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthPart {
    Header { name: String, value: String },
    Query { name: String, value: String },
}

impl fmt::Debug for AuthPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header { name, .. } => write!(f, "Header({name}: <redacted>)"),
            Self::Query { name, .. } => write!(f, "Query({name}=<redacted>)"),
        }
    }
}

/// The resolved credentials of this server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    parts: Vec<AuthPart>,
    missing: Option<String>,
}

/// The environment variable holding a sealed credential's placeholder.
pub fn placeholder_var(credential_id: &str) -> String {
    let id: String = credential_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("GIG_CREDENTIAL_{id}")
}

fn header_safe(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

impl Credentials {
    /// Resolves the manifest's credentials; `env` reads the process environment.
    pub fn resolve(
        manifest: &Manifest,
        spec: &Toolspec,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let mut out = Self::default();
        let mut entrusted_done = false;
        for c in &manifest.credentials {
            let (var, name, format, query) = match c.inject.target() {
                Some(InjectTarget::Header { name, format }) => {
                    (placeholder_var(&c.id), name, format, None)
                }
                Some(InjectTarget::Env { name: var }) => {
                    let Some(auth) = spec.auth.as_ref().filter(|_| !entrusted_done) else {
                        continue;
                    };
                    entrusted_done = true;
                    (
                        var.to_owned(),
                        auth.header.as_str(),
                        auth.format.as_str(),
                        auth.query.as_deref(),
                    )
                }
                None => continue,
            };
            let Some(token) = env(&var).filter(|v| !v.is_empty()) else {
                out.missing.get_or_insert_with(|| {
                    format!(
                        "credential not configured: `{}` is missing ({var} is not set); connect the credential for this server in the dashboard",
                        c.id
                    )
                });
                continue;
            };
            let value = format.replace("{token}", &token);
            if !header_safe(&value) {
                out.missing.get_or_insert_with(|| {
                    format!(
                        "credential not configured: `{}` holds characters an HTTP request cannot carry; reconnect the credential in the dashboard",
                        c.id
                    )
                });
                continue;
            }
            out.parts.push(match query {
                Some(q) => AuthPart::Query {
                    name: q.to_owned(),
                    value,
                },
                None => AuthPart::Header {
                    name: name.to_owned(),
                    value,
                },
            });
        }
        out
    }

    /// What to add to each request.
    pub fn parts(&self) -> &[AuthPart] {
        &self.parts
    }

    /// The tool error every call returns when a credential is not configured.
    pub fn missing(&self) -> Option<&str> {
        self.missing.as_deref()
    }

    /// Whether `header` (any case) is an auth header.
    pub fn is_auth_header(&self, header: &str) -> bool {
        self.parts.iter().any(
            |p| matches!(p, AuthPart::Header { name, .. } if name.eq_ignore_ascii_case(header)),
        )
    }

    /// The auth query parameter's name, if the key goes in the query.
    pub fn query_name(&self) -> Option<&str> {
        self.parts.iter().find_map(|p| match p {
            AuthPart::Query { name, .. } => Some(name.as_str()),
            AuthPart::Header { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn manifest(inject: &str, tier: &str) -> Manifest {
        Manifest::from_yaml(
            format!(
                "schemaVersion: 1\nname: s\nversion: 0.1.0\nsource: {{repo: github.com/a/b, tag: v1}}\n\
                 image: {{ref: ghcr.io/a/b, digest: 'sha256:{}', entrypoint: /app/server, builder: toolpack}}\n\
                 tier: {tier}\ndisplayName: S\ncategory: c\nentitlements: {{egress: [api.example.com]}}\n\
                 credentials:\n  - {{id: my-key, type: api_key, provider: s, inject: {inject}}}\n\
                 tools: [{{name: t, default: true}}]\n",
                "0".repeat(64)
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn spec(auth: &str) -> Toolspec {
        Toolspec::from_yaml(
            format!(
                "schemaVersion: 1\nname: s\nversion: 0.1.0\nbaseUrl: https://api.example.com\n{auth}\
                 tools: [{{name: t, description: d, method: GET, path: /t}}]\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn sealed_uses_the_placeholder_in_the_manifest_format() {
        let m = manifest(
            "{header: Authorization, format: 'Bearer {token}'}",
            "sealed",
        );
        let c = Credentials::resolve(&m, &spec(""), &env(&[("GIG_CREDENTIAL_MY_KEY", "ph-1")]));
        assert_eq!(
            c.parts(),
            [AuthPart::Header {
                name: "Authorization".into(),
                value: "Bearer ph-1".into()
            }]
        );
        assert!(c.missing().is_none());
        assert!(c.is_auth_header("authorization"));
        assert!(!format!("{c:?}").contains("ph-1"));
        let c = Credentials::resolve(&m, &spec(""), &env(&[]));
        assert!(c.parts().is_empty());
        assert!(
            c.missing()
                .unwrap()
                .starts_with("credential not configured")
        );
        let c = Credentials::resolve(&m, &spec(""), &env(&[("GIG_CREDENTIAL_MY_KEY", "a\r\nb")]));
        assert!(c.missing().is_some());
    }

    #[test]
    fn entrusted_uses_the_toolspec_auth_header_or_query() {
        let m = manifest("{env: KEY}", "entrusted");
        let s = spec("auth: {header: X-Api-Key, format: '{token}'}\n");
        let c = Credentials::resolve(&m, &s, &env(&[("KEY", "sk")]));
        assert_eq!(
            c.parts(),
            [AuthPart::Header {
                name: "X-Api-Key".into(),
                value: "sk".into()
            }]
        );
        let s = spec("auth: {header: X-Api-Key, format: '{token}', query: api_key}\n");
        let c = Credentials::resolve(&m, &s, &env(&[("KEY", "sk")]));
        assert_eq!(c.query_name(), Some("api_key"));
        assert!(!c.is_auth_header("X-Api-Key"));
        let c = Credentials::resolve(&m, &s, &env(&[("KEY", "")]));
        assert!(c.missing().unwrap().contains("KEY is not set"));
        assert_eq!(
            placeholder_var("zoho.books-token"),
            "GIG_CREDENTIAL_ZOHO_BOOKS_TOKEN"
        );
    }
}
