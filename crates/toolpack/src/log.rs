//! stderr logging (T22).
//!
//! Contract: one line per event, `gigmcp-toolpack: ` then `key=value` fields. Call lines carry
//! only the tool name, the HTTP method, the host, the status (or `-`), the body bytes read, the
//! duration and a fixed outcome word; never argument values, header values, credentials,
//! placeholders, URLs' paths or queries, or upstream text. Every value written is a name from the
//! signed manifest/toolspec, a host name, a number or a word from this crate, so none of them
//! can break a line.

use std::time::Duration;

/// How a call ended, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response was mapped (2xx or not).
    Answered,
    /// The arguments did not validate or could not be encoded.
    InvalidArguments,
    /// A credential or install setting is missing.
    NotConfigured,
    /// The egress proxy refused the host (or a redirect target).
    EgressDenied,
    /// No response: connect, TLS, protocol or redirect error.
    Failed,
    /// The call deadline passed.
    Timeout,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::InvalidArguments => "invalid-arguments",
            Self::NotConfigured => "not-configured",
            Self::EgressDenied => "egress-denied",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
        }
    }
}

/// One finished call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLog<'a> {
    pub tool: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub status: Option<u16>,
    pub bytes: usize,
    pub elapsed: Duration,
    pub outcome: Outcome,
}

impl CallLog<'_> {
    /// The line written (without newline).
    pub fn line(&self) -> String {
        format!(
            "gigmcp-toolpack: call tool={} method={} host={} status={} bytes={} ms={} outcome={}",
            self.tool,
            self.method,
            self.host,
            self.status
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            self.bytes,
            self.elapsed.as_millis(),
            self.outcome.as_str()
        )
    }

    pub fn write(&self) {
        eprintln!("{}", self.line());
    }
}

/// A line about the engine itself (start-up, configuration); `text` must hold no secret.
pub fn note(text: &str) {
    eprintln!("gigmcp-toolpack: {text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_lines_carry_only_the_allowed_fields() {
        let l = CallLog {
            tool: "get_ticket",
            method: "GET",
            host: "acme.zendesk.com",
            status: Some(200),
            bytes: 12,
            elapsed: Duration::from_millis(34),
            outcome: Outcome::Answered,
        };
        assert_eq!(
            l.line(),
            "gigmcp-toolpack: call tool=get_ticket method=GET host=acme.zendesk.com status=200 bytes=12 ms=34 outcome=answered"
        );
    }
}
