//! Gig'MCP egress proxy: the only way out of a sandbox.
//!
//! Two entry points share one pipeline:
//!
//! * an explicit HTTP `CONNECT` proxy (for servers honouring `HTTPS_PROXY`), and
//! * a transparent path for servers that ignore proxy variables: a DNS responder that answers
//!   allowlisted names with the listener's own address (every other name gets NXDOMAIN) and a
//!   TLS listener that takes the host from SNI.
//!
//! For every tunnel the pipeline is: identity by source address → allowlist (before any leaf
//! certificate is minted) → DNS resolution → SSRF guard on every resolved address → connect to
//! the vetted address and verify the upstream certificate → mint (or reuse) a leaf for the host →
//! serve HTTP/1.1 on the decrypted stream, swapping sealed-credential placeholders for the real
//! secret (only toward the hosts of the credential's scope) and masking every secret sent on
//! behalf of the sandbox, in its common encodings, in every response the sandbox receives. One
//! audit event is emitted per request.
//!
//! See `docs/proxy.md` for the design and its limits.
#![forbid(unsafe_code)]

pub mod audit;
mod body;
pub mod ca;
pub mod config;
mod connect;
pub mod credentials;
pub mod dns;
mod forms;
pub mod identity;
mod limits;
mod proxy;
mod redact;
pub mod resolver;
pub mod ssrf;
mod transparent;
mod tunnel;
mod upstream;

pub use audit::{AuditEvent, AuditReceiver, AuditSink, AuditSubject, Decision, DenyReason, Entry};
pub use ca::{CaError, CertificateAuthority, LeafCache};
pub use config::{Limits, PortPolicy, ProxyConfig};
pub use credentials::{BoxFuture, CredentialError, CredentialSource, StaticCredentials};
pub use identity::{
    IdentityResolver, IdentityTable, Injection, InjectionError, Registration, SandboxIdentity,
    SecretFormat,
};
pub use proxy::{EgressProxy, ListenerHandle, MetricsSnapshot, ProxyDeps, ProxyError};
pub use redact::{RedactionError, RedactionSet};
pub use resolver::{Resolver, StaticResolver, SystemResolver};
pub use ssrf::{AddressGuard, BlockedClass, Cidr, CidrError};
