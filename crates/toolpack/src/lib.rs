//! The toolpack engine: serves a registry toolspec (tools mapped to HTTPS requests) as an MCP
//! server over stdio, reaching the APIs only through the gateway's egress proxy.
//!
//! The library turns a toolspec into MCP tools ([`Toolpack`]), arguments into one HTTP request
//! ([`request::build`]) and an HTTP response into an MCP result ([`response::to_result`]); the
//! binary `gigmcp-toolpack` runs them as a stdio server ([`server::serve`]). It is built static
//! (`+crt-static`) and needs nothing in its root but the files named below.
//!
//! # Runtime contract
//!
//! Environment (nothing else is read):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `GIG_TOOLPACK_MANIFEST` | path of the manifest (YAML) | `/app/manifest.yaml` |
//! | `GIG_TOOLPACK_SPEC` | path of the toolspec (YAML) | `/app/toolspec.yaml` |
//! | `GIG_TOOLPACK_HOSTS` | host overrides, `from=to[,from=to…]`: every base URL whose host is `from` uses `to` | none |
//! | `GIG_TOOLPACK_VAR_<NAME>` | value of the install setting `install.<name>` (`NAME` = the var upper-cased) | unset |
//! | `GIG_TOOLPACK_TIMEOUT` | whole-call bound in seconds (1–3600): redirects and body included | `55` |
//! | `GIG_TOOLPACK_MAX_TEXT` | text bytes kept from a response (1024–5242880) | `102400` |
//! | `GIG_CREDENTIAL_<ID>` | sealed credential: the placeholder the proxy swaps (`ID` = credential id upper-cased, non-alphanumerics `_`) | unset |
//! | the manifest's `inject.env` | entrusted credential: the secret itself | unset |
//! | `HTTPS_PROXY` (else `https_proxy`) | the egress proxy, `http://host:port` (CONNECT) | unset: every call is a tool error |
//! | `SSL_CERT_FILE` | PEM CA bundle trusted in addition to the webpki roots | webpki roots only |
//!
//! Files read: the two documents, `SSL_CERT_FILE`, and `/dev/urandom` (once, for the hash seeds
//! of the argument validator: in a static glibc build the `getrandom` crate cannot find the
//! libc wrapper and falls back to the device; the sandbox's minimal `/dev` has it).
//!
//! Start-up (exit status 1, with the reason on stderr, on any failure; nothing is served):
//! 1. the settings above parse (numbers in range, overrides `from=to` with DNS host names, the
//!    proxy an `http://` URL, the CA bundle readable and holding at least one certificate);
//! 2. both documents are read (each at most 1 MiB), parsed by `gigmcp-registry` (bounded) and
//!    linted: the manifest with `lint_manifest` (built-in denylist) and the toolspec with
//!    `lint_toolspec` against the manifest; every lint error is printed;
//! 3. each override's `to` must be allowed by the manifest's egress policy
//!    (`EgressPolicy::allows`), else it is named; an override whose `from` no base URL uses
//!    changes nothing (a note on stderr says so);
//! 4. the credential is resolved ([`credential`]); a missing variable does not stop the start:
//!    every call then returns the tool error "credential not configured: …".
//!
//! Then one line on stderr (`gigmcp-toolpack: serving <name>@<version>: <n> tools …`), and MCP on
//! stdin/stdout until stdin ends (exit status 0). See [`server`] for the protocol.
//!
//! Network: HTTPS only, port 443, only through the proxy (CONNECT), trusting `SSL_CERT_FILE`
//! plus webpki roots; tunnel + TLS set-up ≤ 10 s; at most 5 redirects, `https` only, each target
//! host allowed by the manifest's egress policy; the credential (header or query key) is sent
//! only to the host of the request's base URL (after overrides), never to a redirect target on
//! another host. At most 5 MiB of a response body is read.
//!
//! Logging (stderr): one line per call with tool name, method, host, status, bytes, duration
//! and an outcome word ([`log`]); never argument values, credentials or placeholders.
//!
//! # Decisions where the design notes proposed
//!
//! - **Property names** (T7): aliases replace characters outside `[A-Za-z0-9_.-]` with `_`,
//!   collapse and trim `_`, cut to 64 bytes (`param` if empty), de-duplicate with `_2`, `_3`…;
//!   names that are already valid keep priority. The description ends with
//!   "(Sent to the API as `<original>`.)". ([`names`])
//! - **Title** (T5): the name in sentence case with separators as spaces (`list_tickets` ⇒
//!   "List tickets"). **Annotations** (T8): `destructiveHint` is `true` for DELETE only and
//!   written `false` elsewhere (MCP assumes `true` when absent). ([`schema`])
//! - **Path values** (T11, G8): one segment, unreserved characters only, unless
//!   `allowReserved`: then `/ : @` and the sub-delims stay literal, `? # [ ] %` never; no piece
//!   between slashes may be empty, `.` or `..`. A placeholder inside `'…'` doubles quotes. ([`path`])
//! - **Query** (T12, G9): keys keep `$ [ ] @ : , / ! ' ( ) * ;` literal (`$filter`,
//!   `filters[search]`); values are strictly encoded (space `%20`) unless `allowReserved`
//!   (then `/ : @ ? ! $ ' ( ) * , ;` stay). Arrays default to `form` (repeat the key), objects to
//!   `json`; `comma`, `brackets` (`k[]`, or the name as is when it ends in `[]`; objects
//!   `k[member]`) and `form` for objects (members as pairs) are supported; empty arrays are
//!   omitted except in `json` style. ([`pairs`])
//! - **Tool list** (T6): tools in spec order; each input schema's properties are sent in spec
//!   order too (the `tools/list` text is prebuilt; `serde_json` maps would sort them).
//! - **Header params** (T13): printable ASCII only; JSON (object/array args, or a string arg
//!   holding JSON) has non-ASCII escaped as `\uXXXX`; other non-ASCII is refused. ([`header`])
//! - **Bodies** (T14, G6): a tool with body params always sends a body (`{}` when no body arg
//!   was given); a POST/PUT/PATCH without body params sends `Content-Length: 0` and no
//!   `Content-Type`. Form bodies use WHATWG urlencoding (space `+`). Multipart file parts are
//!   named and `filename`d after the param, other args are text fields (arrays one per item).
//!   Base64 is accepted standard or URL-safe, padded or not. ([`body`])
//! - **Install settings** (G2): a missing setting fails only calls of tools where the param is
//!   required (optional ones are left out); a non-string param's setting is parsed as JSON.
//! - **Credentials** (T3, G3, G4): sealed placeholders go only into the manifest's header;
//!   `{token}` is filled verbatim (a Basic token is stored pre-encoded); entrusted query keys
//!   are appended to the query (after the params) on same-host hops only. The credential
//!   replaces a header or query param of the same name; a header param replaces a fixed header
//!   (`User-Agent`, `Accept`) of the same name.
//! - **Responses** (T18–T21): a 2xx with an empty body other than 204 is the text
//!   `<status> <reason>`; JSON over the text cap is returned as cut compact text without
//!   `structuredContent`; binary results name the answering URL (without query) as the
//!   resource `uri`; `image/svg+xml` counts as text (`+xml`); of a text body longer than the
//!   5 MiB read cap, M in `[truncated: N of M bytes]` is its `Content-Length`, or the bytes
//!   counted by reading on (not kept) up to 64 MiB, else `of more than <read> bytes`.
//!   A proxy refusal is recognised by status 421, or 403 with a body starting
//!   `gigmcp egress proxy:`; a CONNECT refused with 403 is `egress denied: <host>` too.
//! - **Retries** (T21): only a GET whose tunnel could not be opened for a transient reason
//!   (proxy unreachable, or the proxy's 502) is retried, once. Pooled keep-alive tunnels are
//!   reused per host (idle 30 s).
//! - **Protocol** (T4, T17): `server/discover` lists only the stateless revision (`initialize`
//!   serves the handshake era); a cancelled call gets no answer; calls beyond 16 wait, beyond 256
//!   are refused with -32000.
#![forbid(unsafe_code)]

pub mod body;
pub mod config;
pub mod credential;
pub mod encode;
pub mod engine;
pub mod header;
pub mod http;
pub mod log;
pub mod names;
pub mod pairs;
pub mod path;
pub mod request;
pub mod response;
pub mod schema;
pub mod server;
pub mod toolpack;

pub use config::Settings;
pub use engine::Engine;
pub use request::{CallError, HttpRequest};
pub use toolpack::{LoadError, Setup, Tool, Toolpack};

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod testing;
