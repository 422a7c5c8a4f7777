//! Every HTTP answer of the MCP endpoint, in one place: JSON-RPC errors with their HTTP status
//! ([`HttpError`], an [`IntoResponse`] so handlers can `?` it), one message as JSON or as a
//! one-event SSE stream, and the one SSE writer both eras' streams use ([`sse`]).

use crate::replay::StreamLog;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use gigmcp_mcp::header as mcp_header;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, Message, code};
use http::{HeaderName, HeaderValue, StatusCode, header};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// A JSON-RPC error answered with an HTTP status (and maybe extra headers).
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub id: Option<Id>,
    pub error: ErrorObject,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl HttpError {
    pub fn new(status: StatusCode, id: Option<Id>, error: ErrorObject) -> Self {
        Self {
            status,
            id,
            error,
            headers: Vec::new(),
        }
    }

    /// 400 with an invalid-request error: the message says what was wrong and what to do.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            None,
            ErrorObject::new(code::INVALID_REQUEST, message),
        )
    }

    /// An invalid-request error with `status`.
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(
            status,
            None,
            ErrorObject::new(code::INVALID_REQUEST, message),
        )
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = Message::error(self.id, self.error).to_value().to_string();
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        resp.headers_mut().extend(self.headers);
        resp
    }
}

/// How the client wants a request answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyKind {
    Json,
    Sse,
}

/// One message as JSON.
pub fn json(msg: Message) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        msg.to_value().to_string(),
    )
        .into_response()
}

/// One message in the form the client asked for, naming its session (handshake era).
pub fn message(kind: ReplyKind, msg: Message, session: Option<&str>) -> Response {
    let mut resp = match kind {
        ReplyKind::Json => json(msg),
        ReplyKind::Sse => {
            let chunk = event_chunk(None, &msg.to_value().to_string());
            let mut r = Response::new(Body::from(chunk));
            set_sse_headers(&mut r);
            r
        }
    };
    if let Some(id) = session
        && let Ok(v) = HeaderValue::from_str(id)
    {
        resp.headers_mut().insert(mcp_header::SESSION_ID, v);
    }
    resp
}

/// One SSE event carrying a message, with its id when the stream is resumable.
fn event_chunk(id: Option<&str>, data: &str) -> String {
    match id {
        Some(id) => format!("id: {id}\nevent: message\ndata: {data}\n\n"),
        None => format!("event: message\ndata: {data}\n\n"),
    }
}

fn set_sse_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// How an SSE stream of a [`StreamLog`] is written.
#[derive(Clone, Copy, Debug)]
pub struct SseOptions {
    /// Handshake era: events carry ids (`<stream>-<seq>`) and the stream opens with a priming
    /// event, so a client can resume with `Last-Event-ID`. The stateless revision has nothing
    /// to resume: no ids.
    pub resumable: bool,
    /// A comment after this much silence (a dropped client is noticed at the next write).
    pub keep_alive: Duration,
}

/// Something that lives as long as an SSE response body. Dropped when the body is (the client
/// went away, or the stream ended); told first when the stream ended by itself.
pub trait StreamHold: Send + 'static {
    /// The log ended: every message was written.
    fn ended(&mut self) {}
}

impl StreamHold for () {}

/// Streams of the stateless revision: nothing to resume; a comment every second so that a
/// client that closed the stream is noticed at the next write.
pub const STATELESS_STREAM: SseOptions = SseOptions {
    resumable: false,
    keep_alive: Duration::from_secs(1),
};

/// An SSE response reading `log` after event `after` (from its start if `None`), with `hold`
/// kept as long as the response body.
///
/// Written by hand rather than with axum's `Sse`: the priming event must carry an empty
/// `data:` line (so clients dispatch it and learn its id), which axum's encoder leaves out.
pub fn sse<H: StreamHold>(
    log: &Arc<StreamLog>,
    after: Option<u64>,
    options: SseOptions,
    hold: H,
) -> Response {
    let events = Box::pin(log.read(after));
    let body =
        futures_util::stream::unfold((events, hold), move |(mut events, mut hold)| async move {
            let chunk = tokio::select! {
                e = events.next() => {
                    let Some(e) = e else {
                        hold.ended();
                        return None;
                    };
                    match (options.resumable, e.data.is_empty()) {
                        // the priming event: an id to resume from, and how soon to come back
                        (true, true) => format!("id: {}\nretry: 1000\ndata: \n\n", e.id),
                        (true, false) => event_chunk(Some(&e.id), &e.data),
                        // (nothing to resume in this stream: a comment instead)
                        (false, true) => ":\n\n".to_string(),
                        (false, false) => event_chunk(None, &e.data),
                    }
                }
                () = tokio::time::sleep(options.keep_alive) => ":\n\n".to_string(),
            };
            Some((Ok::<_, Infallible>(chunk), (events, hold)))
        });
    let mut resp = Response::new(Body::from_stream(body));
    set_sse_headers(&mut resp);
    resp
}
