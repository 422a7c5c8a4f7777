//! Key rotation: rewrap every credential's and every gateway secret's DEK under the current
//! KEK, batch by batch (credentials first, then gateway secrets such as the egress CA).
//!
//! Safe to interrupt at any point: each batch is one transaction that swaps ciphertexts whose
//! DEK was re-wrapped (the secret body is unchanged), and every row is always readable by a
//! keyring holding the new key plus the old ones. Re-running picks up the rows still under an
//! old KEK. A row written concurrently (its version moved on) is left alone, never clobbered.

use std::fmt;

use gigmcp_store::{CasUpdate, CredentialRowId, GatewaySecretCas, Store, StoreError};

use crate::Keyring;

/// How to run a rotation.
#[derive(Debug, Clone, Copy)]
pub struct RotateOptions {
    /// Secrets per batch (one transaction each).
    pub batch_size: u32,
    /// Stop after this many batches (`None`: until done). Lets operators rotate in slices.
    pub max_batches: Option<u64>,
}

/// Which secret a [`RotationFailure`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotatedSecret {
    /// A user's credential, by row id.
    Credential(CredentialRowId),
    /// A gateway-wide secret, by name.
    Gateway(String),
}

impl fmt::Display for RotatedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Credential(id) => write!(f, "credential row {id}"),
            Self::Gateway(name) => write!(f, "gateway secret {name:?}"),
        }
    }
}

/// A secret that could not be rewrapped (it stays as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationFailure {
    /// The secret.
    pub id: RotatedSecret,
    /// KEK id stored with the row.
    pub kek_id: String,
    /// Why (e.g. its KEK is not in the keyring).
    pub reason: String,
}

/// What a rotation run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Secrets (credentials and gateway secrets) now wrapped under the current KEK.
    pub rewrapped: u64,
    /// Secrets skipped because they were rewritten while the batch was prepared.
    pub changed_concurrently: u64,
    /// Secrets that could not be rewrapped.
    pub failed: Vec<RotationFailure>,
    /// Batches committed.
    pub batches: u64,
    /// False if the run stopped at `max_batches` before scanning every secret.
    pub complete: bool,
}

/// Rewraps every credential and gateway secret not yet under the current KEK, `batch_size`
/// rows per transaction.
pub async fn rotate(
    store: &Store,
    keyring: &Keyring,
    batch_size: u32,
) -> Result<RotationReport, StoreError> {
    rotate_with(
        store,
        keyring,
        RotateOptions {
            batch_size,
            max_batches: None,
        },
    )
    .await
}

/// [`rotate`] with options.
pub async fn rotate_with(
    store: &Store,
    keyring: &Keyring,
    options: RotateOptions,
) -> Result<RotationReport, StoreError> {
    let target = keyring.current_kek_id().to_string();
    let mut report = RotationReport::default();
    let mut after: Option<CredentialRowId> = None;
    loop {
        if options.max_batches.is_some_and(|max| report.batches >= max) {
            return Ok(report);
        }
        let batch = store
            .credentials_to_rewrap(&target, after, options.batch_size)
            .await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        let mut updates = Vec::with_capacity(batch.len());
        for row in &batch {
            match keyring.rewrap(&row.ciphertext) {
                Ok(ciphertext) => updates.push(CasUpdate {
                    id: row.id,
                    expected_version: row.version,
                    ciphertext,
                    kek_id: target.clone(),
                }),
                Err(err) => report.failed.push(RotationFailure {
                    id: RotatedSecret::Credential(row.id),
                    kek_id: row.kek_id.clone(),
                    reason: err.to_string(),
                }),
            }
        }
        let stale = store.apply_rewraps(&updates).await?;
        report.batches += 1;
        report.changed_concurrently += stale.len() as u64;
        report.rewrapped += (updates.len() - stale.len()) as u64;
        tracing::info!(
            batch = report.batches,
            rewrapped = report.rewrapped,
            failed = report.failed.len(),
            kek_id = %target,
            "rotation batch committed"
        );
    }
    // Gateway secrets (few rows): the same batches and compare-and-swap, paged by name.
    let mut after: Option<String> = None;
    loop {
        if options.max_batches.is_some_and(|max| report.batches >= max) {
            return Ok(report);
        }
        let batch = store
            .gateway_secrets_to_rewrap(&target, after.as_deref(), options.batch_size)
            .await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.name.clone());
        let mut updates = Vec::with_capacity(batch.len());
        for row in &batch {
            match keyring.rewrap(&row.ciphertext) {
                Ok(ciphertext) => updates.push(GatewaySecretCas {
                    name: row.name.clone(),
                    expected_version: row.version,
                    ciphertext,
                    kek_id: target.clone(),
                }),
                Err(err) => report.failed.push(RotationFailure {
                    id: RotatedSecret::Gateway(row.name.clone()),
                    kek_id: row.kek_id.clone(),
                    reason: err.to_string(),
                }),
            }
        }
        let stale = store.apply_gateway_secret_rewraps(&updates).await?;
        report.batches += 1;
        report.changed_concurrently += stale.len() as u64;
        report.rewrapped += (updates.len() - stale.len()) as u64;
        tracing::info!(
            batch = report.batches,
            rewrapped = report.rewrapped,
            failed = report.failed.len(),
            kek_id = %target,
            "rotation batch of gateway secrets committed"
        );
    }
    report.complete = true;
    Ok(report)
}
