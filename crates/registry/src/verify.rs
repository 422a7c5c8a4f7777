//! Accepting a signed `index.json`: [`verify_index`] checks the signature over the exact bytes,
//! then parses them, then applies the rollback rule against the last index this consumer
//! accepted.
//!
//! Without the rollback rule, whoever controls the index URL could serve an older, validly
//! signed index and roll consumers back to vulnerable server versions or wider entitlements.
//! Every index carries a signed `sequence` (see [`crate::index`]); a consumer stores the
//! [`AcceptedIndex`] returned with each verified index (its sequence and the sha256 of its bytes)
//! and hands it back on the next verification:
//!
//! | offered index | last accepted | result |
//! |---|---|---|
//! | any sequence | none (first use) | accepted ([`Acceptance::First`]) |
//! | sequence greater | any | accepted ([`Acceptance::Newer`]), store the new state |
//! | same sequence, same bytes | sequence + sha256 | accepted ([`Acceptance::Unchanged`]), a no-op refresh |
//! | same sequence, other bytes | sequence + sha256 | refused, [`IndexError::SequenceReused`] |
//! | same sequence | sequence only (no sha256 stored) | accepted ([`Acceptance::Unchanged`]): the bytes cannot be compared, store the sha256 to close this gap |
//! | sequence lower | any | refused, [`IndexError::Rollback`] |
//!
//! An operator who really means to go back to an older index resets the stored state
//! explicitly (deletes it, or stores the older sequence); nothing here does it implicitly.

use sha2::{Digest as _, Sha256};

use crate::index::{Index, IndexError, MAX_INDEX_BYTES};
use crate::sign::{VerifyingKey, verify_signature};

/// The last index a consumer accepted: what it must store between verifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedIndex {
    /// The accepted index's `sequence`.
    pub sequence: u64,
    /// sha256 of the accepted index's exact bytes. `None` when only the sequence is known (then
    /// an equal sequence cannot be told apart from a refresh and is accepted).
    pub sha256: Option<[u8; 32]>,
}

impl AcceptedIndex {
    /// State with the sequence and the sha256 of the accepted bytes (what [`verify_index`]
    /// returns).
    pub fn new(sequence: u64, sha256: [u8; 32]) -> Self {
        Self {
            sequence,
            sha256: Some(sha256),
        }
    }

    /// State that knows only the last accepted sequence: older indexes are refused, an equal
    /// sequence is accepted whatever its bytes.
    pub fn sequence_only(sequence: u64) -> Self {
        Self {
            sequence,
            sha256: None,
        }
    }

    /// The sha256 as 64 lowercase hex characters, for storage.
    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256.map(hex::encode)
    }

    /// Parses a stored sha256 (64 hex characters, surrounding whitespace ignored); `None` when
    /// it is anything else.
    pub fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).ok()?;
        Some(out)
    }
}

/// How a verified index relates to the last accepted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Nothing was accepted before (trust on first use of the pinned key).
    First,
    /// A newer index than the last accepted one.
    Newer { previous: u64 },
    /// The last accepted index again (same sequence, and the same bytes when the sha256 was
    /// known): nothing changed.
    Unchanged,
}

/// An index whose signature verified, which parsed, and which is not older than the last
/// accepted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIndex {
    pub index: Index,
    /// The state to store as the new last accepted index (always with the sha256).
    pub accepted: AcceptedIndex,
    pub acceptance: Acceptance,
}

/// Verifies `index_bytes` for use: the signature `sig_hex` with any of `trusted_keys` over the
/// exact bytes (before any parsing), then [`Index::from_json`] (bounded, schema, sequence,
/// runtime hashes), then the rollback rule of this module against `last_accepted` (`None` on
/// first use). On success, store [`VerifiedIndex::accepted`] as the new last accepted index.
///
/// Errors: [`IndexError::TooLarge`] before anything else, [`IndexError::Untrusted`] when the
/// signature does not verify, the parse errors of [`Index::from_json`], then
/// [`IndexError::Rollback`] or [`IndexError::SequenceReused`]. Every refusal of a validly
/// parsed but unusable index starts with `UNTRUSTED`.
pub fn verify_index(
    index_bytes: &[u8],
    sig_hex: &str,
    trusted_keys: &[VerifyingKey],
    last_accepted: Option<AcceptedIndex>,
) -> Result<VerifiedIndex, IndexError> {
    // Bound the signature check's work too, not only the parse.
    if index_bytes.len() > MAX_INDEX_BYTES {
        return Err(IndexError::TooLarge {
            size: index_bytes.len(),
            max: MAX_INDEX_BYTES,
        });
    }
    verify_signature(index_bytes, sig_hex, trusted_keys)?;
    let index = Index::from_json(index_bytes)?;
    let sha256: [u8; 32] = Sha256::digest(index_bytes).into();
    let acceptance = check_sequence(index.sequence, &sha256, last_accepted)?;
    Ok(VerifiedIndex {
        accepted: AcceptedIndex::new(index.sequence, sha256),
        index,
        acceptance,
    })
}

/// The rollback rule alone (see the module table), for consumers that verified the signature
/// and parsed the index themselves.
pub fn check_sequence(
    offered: u64,
    offered_sha256: &[u8; 32],
    last_accepted: Option<AcceptedIndex>,
) -> Result<Acceptance, IndexError> {
    let Some(last) = last_accepted else {
        return Ok(Acceptance::First);
    };
    match offered.cmp(&last.sequence) {
        std::cmp::Ordering::Less => Err(IndexError::Rollback {
            offered,
            last_accepted: last.sequence,
        }),
        std::cmp::Ordering::Greater => Ok(Acceptance::Newer {
            previous: last.sequence,
        }),
        std::cmp::Ordering::Equal => match last.sha256 {
            Some(known) if known != *offered_sha256 => {
                Err(IndexError::SequenceReused { sequence: offered })
            }
            _ => Ok(Acceptance::Unchanged),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];

    #[test]
    fn rollback_rule_table() {
        assert_eq!(check_sequence(1, &A, None).unwrap(), Acceptance::First);
        let last = Some(AcceptedIndex::new(5, A));
        assert_eq!(
            check_sequence(6, &B, last).unwrap(),
            Acceptance::Newer { previous: 5 }
        );
        assert_eq!(check_sequence(5, &A, last).unwrap(), Acceptance::Unchanged);
        assert!(matches!(
            check_sequence(5, &B, last),
            Err(IndexError::SequenceReused { sequence: 5 })
        ));
        assert!(matches!(
            check_sequence(4, &A, last),
            Err(IndexError::Rollback {
                offered: 4,
                last_accepted: 5
            })
        ));
        let only = Some(AcceptedIndex::sequence_only(5));
        assert_eq!(check_sequence(5, &B, only).unwrap(), Acceptance::Unchanged);
        assert!(check_sequence(4, &B, only).is_err());
    }

    #[test]
    fn sha256_hex_round_trip() {
        let state = AcceptedIndex::new(3, A);
        let text = state.sha256_hex().unwrap();
        assert_eq!(text.len(), 64);
        assert_eq!(
            AcceptedIndex::parse_sha256_hex(&format!("{text}\n")),
            Some(A)
        );
        assert_eq!(AcceptedIndex::parse_sha256_hex(&text[..62]), None);
        assert_eq!(AcceptedIndex::parse_sha256_hex("zz"), None);
        assert_eq!(AcceptedIndex::sequence_only(3).sha256_hex(), None);
    }
}
