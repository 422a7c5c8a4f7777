//! Where real secrets come from, at the moment of the request.
//!
//! Contract: a [`CredentialSource`] answers for one identity's own secrets (its owner's, looked
//! up by `credential_key`), never another user's. The proxy asks it only for credentials about
//! to be injected toward a host of their scope (`swap.rs`, `request.rs`), within the connect
//! timeout; any error fails that request closed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;

use zeroize::Zeroizing;

use crate::identity::SandboxIdentity;

/// A boxed, sendable future (keeps the injected traits object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The secret could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no credential {credential_id:?} stored for {credential_key:?}")]
    NotFound {
        credential_key: String,
        credential_id: String,
    },
    #[error("credential store unavailable: {0}")]
    Unavailable(String),
}

/// Supplies decrypted secrets; the gateway implements it with the vault.
pub trait CredentialSource: Send + Sync {
    /// The secret `credential_id` of `identity` (its owner's, never another user's).
    fn secret<'a>(
        &'a self,
        identity: &'a SandboxIdentity,
        credential_id: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<String>, CredentialError>>;
}

/// An in-memory credential source keyed by `(credential_key, credential_id)`, for tests,
/// benchmarks and single-user setups.
#[derive(Default)]
pub struct StaticCredentials {
    map: RwLock<HashMap<(String, String), Zeroizing<String>>>,
}

impl StaticCredentials {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `secret` under `(credential_key, credential_id)`.
    pub fn insert(&self, credential_key: &str, credential_id: &str, secret: &str) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).insert(
            (credential_key.to_owned(), credential_id.to_owned()),
            Zeroizing::new(secret.to_owned()),
        );
    }
}

impl CredentialSource for StaticCredentials {
    fn secret<'a>(
        &'a self,
        identity: &'a SandboxIdentity,
        credential_id: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<String>, CredentialError>> {
        let found = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(identity.credential_key.clone(), credential_id.to_owned()))
            .cloned();
        Box::pin(async move {
            found.ok_or_else(|| CredentialError::NotFound {
                credential_key: identity.credential_key.clone(),
                credential_id: credential_id.to_owned(),
            })
        })
    }
}
