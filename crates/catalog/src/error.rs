//! The one error type of the catalogue: each variant says what was wrong and what to do.
//! Every refusal of an index (bad or missing signature, wrong key, rollback) starts with
//! `UNTRUSTED`, and nothing is installed or kept from such an index.

use gigmcp_registry::IndexError;
use gigmcp_store::StoreError;

/// What went wrong while fetching, verifying or using the registry index.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No index source and no stored index: nothing to list or install from.
    #[error(
        "no registry index: set GIG_REGISTRY_INDEX_URL (https://… or file://…) and \
         GIG_REGISTRY_PUBKEY, then `gigmcp registry refresh`; or, without network, \
         `gigmcp registry import index.json index.json.sig` with GIG_REGISTRY_PUBKEY set"
    )]
    NoIndex,
    /// A registry setting is unusable.
    #[error("{setting}: {reason}")]
    Config {
        /// The setting (`GIG_REGISTRY_…`).
        setting: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The index or its signature could not be fetched; the stored copy, if any, stays in use.
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The signature is missing.
    #[error(
        "UNTRUSTED: no signature for the index at {url}: {reason}; the publisher must serve \
         `registryctl sign`'s output beside the index"
    )]
    MissingSignature {
        /// Where the signature was looked for.
        url: String,
        /// Why it could not be read.
        reason: String,
    },
    /// The index does not verify, does not parse after verifying, or rolls back.
    #[error("{0}")]
    Index(#[from] IndexError),
    /// No catalogue entry has that name.
    #[error("no server {name:?} in the registry index{hint}; see `gigmcp registry list`")]
    UnknownServer {
        /// The name asked for.
        name: String,
        /// `; did you mean …?` or empty.
        hint: String,
    },
    /// The server exists, not at that version.
    #[error("{name} has no version {version} in the registry index; it has {available}")]
    UnknownVersion {
        name: String,
        version: String,
        /// The versions listed.
        available: String,
    },
    /// Listed, but cannot be installed.
    #[error("{name}@{version} cannot be installed: {reason}")]
    NotInstallable {
        name: String,
        version: String,
        reason: String,
    },
    /// The name is taken.
    #[error(
        "a server named {name} is already installed; `gigmcp server update {name}` moves it to \
         another version, `gigmcp server remove {name}` uninstalls it"
    )]
    AlreadyInstalled { name: String },
    /// No installed server has that name.
    #[error("no installed server {name}; see `gigmcp server list`")]
    NotInstalled { name: String },
    /// The server was added by hand, not from the index.
    #[error(
        "{name} was added by hand, not installed from the registry index; it has no registry \
         updates (remove it and `gigmcp server install` it to follow the index)"
    )]
    NotFromRegistry { name: String },
    /// The stored manifest or toolspec of an installed server does not parse.
    #[error("the stored {what} of {name} does not parse ({reason}); remove and reinstall it")]
    Stored {
        name: String,
        what: &'static str,
        reason: String,
    },
    /// The image could not be pulled or verified.
    #[error("pulling {reference}: {reason}")]
    Pull { reference: String, reason: String },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The failure of a refresh another caller ran while this one waited for it, as it was
    /// reported there (an `UNTRUSTED` refusal stays one).
    #[error("{0}")]
    Shared(String),
}

impl CatalogError {
    /// Whether the index was refused as untrusted (the message starts with `UNTRUSTED`).
    pub fn is_untrusted(&self) -> bool {
        self.to_string().starts_with("UNTRUSTED")
    }
}
