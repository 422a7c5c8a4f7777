//! What `gigmcp vault status` reports, and reading a secret from standard input.

use std::collections::BTreeMap;
use std::io::Read;

use gigmcp_store::{Store, StoreError};
use zeroize::Zeroizing;

use crate::{Keyring, MAX_SECRET_LEN};

/// How a KEK id relates to the running keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KekRole {
    /// `GIG_MASTER_KEY`: new secrets are sealed under it.
    Current,
    /// In `GIG_MASTER_KEY_PREVIOUS`: still opens; `vault rotate` moves secrets off it.
    Previous,
    /// Not in the keyring: these secrets cannot be opened until the key is supplied.
    Unknown,
    /// No keyring was loaded, so the role cannot be told.
    NoKeyring,
}

impl std::fmt::Display for KekRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Current => "current (GIG_MASTER_KEY)",
            Self::Previous => "previous (GIG_MASTER_KEY_PREVIOUS)",
            Self::Unknown => "UNKNOWN: not in the keyring, these secrets cannot be opened",
            Self::NoKeyring => "? (no master key loaded)",
        })
    }
}

/// Number of secrets under one KEK id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekUsage {
    /// The KEK id as stored.
    pub kek_id: String,
    /// How many secrets (credentials and gateway secrets) are wrapped under it.
    pub secrets: u64,
    /// Its role in the keyring.
    pub role: KekRole,
}

/// How many secrets (credentials and gateway secrets such as the egress CA) sit under each KEK
/// id; the current key is listed even with 0 secrets.
pub async fn status(store: &Store, keyring: Option<&Keyring>) -> Result<Vec<KekUsage>, StoreError> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (kek_id, n) in store
        .count_credentials_by_kek()
        .await?
        .into_iter()
        .chain(store.count_gateway_secrets_by_kek().await?)
    {
        *counts.entry(kek_id).or_default() += n;
    }
    let role_of = |id: &str| match keyring {
        None => KekRole::NoKeyring,
        Some(ring) if ring.current_kek_id().to_string() == id => KekRole::Current,
        Some(ring) if ring.previous_kek_ids().iter().any(|k| k.to_string() == id) => {
            KekRole::Previous
        }
        Some(_) => KekRole::Unknown,
    };
    let mut out: Vec<KekUsage> = counts
        .into_iter()
        .map(|(kek_id, secrets)| KekUsage {
            role: role_of(&kek_id),
            kek_id,
            secrets,
        })
        .collect();
    if let Some(ring) = keyring {
        let current = ring.current_kek_id().to_string();
        if !out.iter().any(|u| u.kek_id == current) {
            out.insert(
                0,
                KekUsage {
                    kek_id: current,
                    secrets: 0,
                    role: KekRole::Current,
                },
            );
        }
    }
    out.sort_by_key(|u| (u.role != KekRole::Current, u.kek_id.clone()));
    Ok(out)
}

/// Reading a secret from a stream failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadSecretError {
    /// Nothing was given.
    #[error(
        "the secret is empty: pipe it on standard input, e.g. `printf %s \"$TOKEN\" | gigmcp credential set …`"
    )]
    Empty,
    /// More than [`MAX_SECRET_LEN`] bytes.
    #[error("the secret is longer than {MAX_SECRET_LEN} bytes")]
    TooLarge,
    /// Reading failed.
    #[error("cannot read the secret from standard input: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a secret (at most [`MAX_SECRET_LEN`] bytes) from `input`, dropping one trailing
/// newline (`\n` or `\r\n`) as typed at a terminal or added by `echo`.
pub fn read_secret(input: impl Read) -> Result<Zeroizing<Vec<u8>>, ReadSecretError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    input
        .take(MAX_SECRET_LEN as u64 + 3)
        .read_to_end(&mut buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > MAX_SECRET_LEN {
        return Err(ReadSecretError::TooLarge);
    }
    if buf.is_empty() {
        return Err(ReadSecretError::Empty);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(read_secret(&b"tok\n"[..]).unwrap().as_slice(), b"tok");
        assert_eq!(read_secret(&b"tok\r\n"[..]).unwrap().as_slice(), b"tok");
        assert_eq!(read_secret(&b"tok\n\n"[..]).unwrap().as_slice(), b"tok\n");
        assert_eq!(read_secret(&b" t o k "[..]).unwrap().as_slice(), b" t o k ");
    }

    #[test]
    fn empty_and_oversized_are_refused() {
        assert!(matches!(
            read_secret(&b"\n"[..]),
            Err(ReadSecretError::Empty)
        ));
        let big = vec![b'a'; MAX_SECRET_LEN + 1];
        assert!(matches!(
            read_secret(big.as_slice()),
            Err(ReadSecretError::TooLarge)
        ));
        let max = vec![b'a'; MAX_SECRET_LEN];
        assert_eq!(read_secret(max.as_slice()).unwrap().len(), MAX_SECRET_LEN);
    }
}
