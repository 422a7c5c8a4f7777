//! Credentials as the gateway uses them: sealed with the keyring, stored in the store.

use gigmcp_store::{ServerId, Store, StoreError, UserId};
use zeroize::Zeroizing;

use crate::{Aad, Keyring, VaultError};

/// Storing or fetching a secret failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Encryption/decryption failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Seals `plaintext` for (`owner`, `server`, `credential_id`) and stores it, replacing any
/// previous value.
pub async fn put_secret(
    store: &Store,
    keyring: &Keyring,
    owner: UserId,
    server: ServerId,
    credential_id: &str,
    plaintext: &[u8],
) -> Result<(), SecretError> {
    let ciphertext = keyring.seal(plaintext, &Aad::credential(owner, server, credential_id))?;
    let kek_id = keyring.current_kek_id().to_string();
    store
        .put_credential(owner, server, credential_id, ciphertext, &kek_id)
        .await?;
    Ok(())
}

/// Fetches and opens the secret of (`owner`, `server`, `credential_id`), if stored.
pub async fn get_secret(
    store: &Store,
    keyring: &Keyring,
    owner: UserId,
    server: ServerId,
    credential_id: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError> {
    let Some(row) = store.credential(owner, server, credential_id).await? else {
        return Ok(None);
    };
    let aad = Aad::credential(row.owner, row.server, &row.credential_id);
    Ok(Some(keyring.open(&row.ciphertext, &aad)?))
}

/// Seals `plaintext` as the gateway-wide secret `name` (bound to that name) and stores it,
/// replacing any previous value.
pub async fn put_gateway_secret(
    store: &Store,
    keyring: &Keyring,
    name: &str,
    plaintext: &[u8],
) -> Result<(), SecretError> {
    let ciphertext = keyring.seal(plaintext, &Aad::gateway_secret(name))?;
    let kek_id = keyring.current_kek_id().to_string();
    store.put_gateway_secret(name, ciphertext, &kek_id).await?;
    Ok(())
}

/// Seals and stores `plaintext` as the gateway-wide secret `name` unless one is stored already;
/// returns whether it was written. Gateways starting together on one database thus agree on
/// one value: whoever loses reads the winner's with [`get_gateway_secret`].
pub async fn create_gateway_secret(
    store: &Store,
    keyring: &Keyring,
    name: &str,
    plaintext: &[u8],
) -> Result<bool, SecretError> {
    let ciphertext = keyring.seal(plaintext, &Aad::gateway_secret(name))?;
    let kek_id = keyring.current_kek_id().to_string();
    Ok(store
        .create_gateway_secret(name, ciphertext, &kek_id)
        .await?)
}

/// Fetches and opens the gateway-wide secret `name`, if stored.
pub async fn get_gateway_secret(
    store: &Store,
    keyring: &Keyring,
    name: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError> {
    let Some(row) = store.gateway_secret(name).await? else {
        return Ok(None);
    };
    Ok(Some(
        keyring.open(&row.ciphertext, &Aad::gateway_secret(&row.name))?,
    ))
}
