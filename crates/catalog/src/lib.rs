//! The signed registry index as a catalogue, and installing from it.
//!
//! The gateway honours only what an index signed by a pinned key says. This crate:
//!
//! - [`source`]: where the index comes from (`file://`, or `https://` through the SSRF guard,
//!   bounded in size and time) and its signature at `<url>.sig`;
//! - [`registry`]: refresh and import: the exact bytes verified before parsing, runtime hashes
//!   recomputed, an older sequence than the last accepted refused; the last good copy kept in
//!   the store and served (marked stale) through outages and restarts;
//! - [`catalogue`]: the views a user browses (cards, detail, installable or why not);
//! - [`consent`]: the consent document, every permission spelled out;
//! - [`diff`]: what an update changes and whether it widens entitlements (then it needs
//!   consent again; until then the consented version keeps running);
//! - [`install`]: install, update, uninstall, each planned first and applied on the user's yes.
//!
//! Every refusal of an index starts with `UNTRUSTED` ([`CatalogError::is_untrusted`]) and
//! changes nothing. Every step is an audit event. The store does the same on SQLite and
//! PostgreSQL. The operator CLI (`gigmcp registry …`, `gigmcp server install|update|remove`)
//! and the gateway's periodic refresh and boot installs (`GIG_INSTALL`) call this crate.
#![forbid(unsafe_code)]

pub mod catalogue;
pub mod consent;
pub mod diff;
pub mod error;
pub mod install;
pub mod registry;
pub mod source;

pub use catalogue::{Card, Catalogue, Freshness};
pub use consent::ConsentDocument;
pub use diff::EntitlementDiff;
pub use error::CatalogError;
pub use install::{
    InstallOptions, InstallPlan, PendingUpdate, Uninstalled, UpdatePlan, apply_update, install,
    pending_updates, plan_install, plan_update, uninstall,
};
pub use registry::{Refreshed, Registry, RegistryConfig, RegistrySettings};
pub use source::{FetchOptions, IndexSource};
