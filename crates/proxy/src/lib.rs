//! Gig'MCP egress proxy: the only way out of a sandbox.
//!
//! Two entry points share one pipeline:
//!
//! * an explicit HTTP `CONNECT` proxy (for servers honouring `HTTPS_PROXY`), and
//! * a transparent path for servers that ignore proxy variables: a DNS responder that answers
//!   allowlisted names with the listener's own address (every other name gets NXDOMAIN) and a
//!   TLS listener that takes the host from SNI.
//!
//! The pipeline, phase by phase, and the module that owns each phase:
//!
//! | phase | what | module |
//! |---|---|---|
//! | entry | accept; CONNECT head, or ClientHello/SNI, or a DNS query | `connect`, `transparent`, [`dns`] |
//! | 1 identify | source address → registration | `admit` |
//! | 2 admit | per-sandbox connection cap | `admit` (with `limits`) |
//! | 3 vet | host normalised, port, allowlist, resolution, SSRF guard on every address | `vet` (with [`ssrf`], [`resolver`]) |
//! | 4 connect upstream | vetted addresses only, verified certificate, `h2` or `http/1.1` | `tunnel`, `upstream` |
//! | 5 mint leaf | leaf chosen by the vetted host, minted once, cached; client handshake | `client_tls` (with [`ca`]) |
//! | 6 request filter | `Host` check, hop-by-hop, **the placeholder-to-secret swap** | `request`, `swap`, `hop_by_hop` |
//! | 7 response filter | canonical reason phrase, hop-by-hop, masking of every secret sent | `response`, `body`, `redact`, `forms` |
//! | 8 audit | one event per request or refusal, never blocking | [`audit`] |
//!
//! All of them read the shared state in `state` (configuration, CA and leaf cache, identity
//! table, credential source, resolver, guard, limiter, audit sink, counters), a leaf that
//! imports none of the phases; `proxy` assembles it and starts the listeners. Plain types live
//! in [`config`], [`identity`], [`credentials`], [`audit`] and `error`.
//!
//! See `docs/proxy.md` for the design and its limits.
#![forbid(unsafe_code)]

mod admit;
pub mod audit;
mod body;
pub mod ca;
mod client_tls;
pub mod config;
mod connect;
pub mod credentials;
pub mod dns;
mod error;
mod forms;
mod hop_by_hop;
pub mod identity;
mod idle;
mod limits;
mod proxy;
mod redact;
mod request;
pub mod resolver;
mod response;
pub mod ssrf;
mod state;
mod swap;
mod transparent;
mod tunnel;
mod upstream;
mod vet;

pub use audit::{AuditEvent, AuditReceiver, AuditSink, AuditSubject, Decision, DenyReason, Entry};
pub use ca::{CaError, CertificateAuthority, LeafCache};
pub use config::{Limits, PortPolicy, ProxyConfig};
pub use credentials::{BoxFuture, CredentialError, CredentialSource, StaticCredentials};
pub use error::ProxyError;
pub use identity::{
    IdentityResolver, IdentityTable, Injection, InjectionError, Registration, SandboxIdentity,
    SecretFormat,
};
pub use proxy::{EgressProxy, ListenerHandle, ProxyDeps};
pub use redact::{RedactionError, RedactionSet};
pub use resolver::{Resolver, StaticResolver, SystemResolver};
pub use ssrf::{AddressGuard, BlockedClass, Cidr, CidrError};
pub use state::MetricsSnapshot;
