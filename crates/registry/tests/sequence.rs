//! The signed `sequence` of `index.json` and the rollback rule of `verify_index`: an older,
//! validly signed index must not be accepted after a newer one.

mod common;

use std::num::NonZeroU64;

use gigmcp_registry::index::MAX_INDEX_BYTES;
use gigmcp_registry::{
    Acceptance, AcceptedIndex, Index, IndexError, SigningKey, SourceFile, VerifyError, build_index,
    sign_index, verify_index,
};

fn own_files() -> Vec<SourceFile> {
    common::load(&common::own_registry_dir())
}

/// `index.json` bytes of `files` (our own registry by default) at `sequence`.
fn build(files: &[SourceFile], sequence: u64) -> Vec<u8> {
    let deny = common::denylist(&common::own_registry_dir());
    let (index, _) = build_index(files, &deny, NonZeroU64::new(sequence).unwrap())
        .unwrap_or_else(|r| panic!("{r:?}"));
    index.to_json()
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A signed index: bytes and signature.
fn signed(files: &[SourceFile], sequence: u64) -> (Vec<u8>, String) {
    let bytes = build(files, sequence);
    let sig = sign_index(&bytes, &key());
    (bytes, sig)
}

fn accept(
    bytes: &[u8],
    sig: &str,
    last: Option<AcceptedIndex>,
) -> Result<AcceptedIndex, IndexError> {
    verify_index(bytes, sig, &[key().verifying_key()], last).map(|v| v.accepted)
}

#[test]
fn sequence_is_in_the_signed_deterministic_bytes() {
    let files = own_files();
    let bytes = build(&files, 3);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("{\n  \"schemaVersion\": 2,\n  \"sequence\": 3,\n  \"entries\": ["),
        "{text}"
    );
    // Same inputs and sequence: same bytes, whatever the file order.
    let mut reversed = files.clone();
    reversed.reverse();
    assert_eq!(build(&reversed, 3), bytes);
    assert_eq!(build(&files, 3), bytes);
    // Another sequence changes exactly that line.
    let other = String::from_utf8(build(&files, 4)).unwrap();
    assert_eq!(other, text.replace("\"sequence\": 3,", "\"sequence\": 4,"));
    let parsed = Index::from_json(&bytes).unwrap();
    assert_eq!(parsed.sequence, 3);
    assert_eq!(parsed.to_json(), bytes, "parse and serialise round-trips");
    // The largest sequence round-trips.
    let max = build(&files, u64::MAX);
    assert_eq!(Index::from_json(&max).unwrap().sequence, u64::MAX);
}

#[test]
fn replay_of_an_older_signed_index_is_refused() {
    let files = own_files();
    let (old, old_sig) = signed(&files, 1);
    let (new, new_sig) = signed(&files, 2);
    // Both are validly signed: on first use either would do.
    accept(&old, &old_sig, None).unwrap();
    let state = accept(&new, &new_sig, None).unwrap();
    assert_eq!(state.sequence, 2);
    let err = accept(&old, &old_sig, Some(state)).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Rollback {
                offered: 1,
                last_accepted: 2
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    for needle in [
        "UNTRUSTED",
        "older index than the last one accepted",
        "replay",
        "check the index source",
        "reset the stored last-accepted sequence explicitly",
    ] {
        assert!(msg.contains(needle), "missing {needle}: {msg}");
    }
    // Knowing only the last sequence is enough to refuse the replay.
    assert!(matches!(
        accept(&old, &old_sig, Some(AcceptedIndex::sequence_only(2))),
        Err(IndexError::Rollback { .. })
    ));
}

#[test]
fn newer_index_is_accepted_and_the_state_advances() {
    let files = own_files();
    let (first, first_sig) = signed(&files, 5);
    let v = verify_index(&first, &first_sig, &[key().verifying_key()], None).unwrap();
    assert_eq!(v.acceptance, Acceptance::First);
    assert_eq!(v.index.sequence, 5);
    let state = v.accepted;
    assert_eq!(state.sequence, 5);
    assert!(state.sha256.is_some());

    let (next, next_sig) = signed(&files, 9);
    let v = verify_index(&next, &next_sig, &[key().verifying_key()], Some(state)).unwrap();
    assert_eq!(v.acceptance, Acceptance::Newer { previous: 5 });
    assert_eq!(v.accepted.sequence, 9);
    assert_ne!(v.accepted.sha256, state.sha256);
    // And the advanced state now refuses the one before.
    assert!(matches!(
        accept(&first, &first_sig, Some(v.accepted)),
        Err(IndexError::Rollback {
            offered: 5,
            last_accepted: 9
        })
    ));
}

#[test]
fn equal_sequence_is_a_refresh_only_with_the_same_bytes() {
    let files = own_files();
    let (bytes, sig) = signed(&files, 4);
    let state = accept(&bytes, &sig, None).unwrap();
    // Same sequence, same bytes: a no-op refresh.
    let v = verify_index(&bytes, &sig, &[key().verifying_key()], Some(state)).unwrap();
    assert_eq!(v.acceptance, Acceptance::Unchanged);
    assert_eq!(v.accepted, state);
    // Same sequence, other content (one manifest fewer), validly signed: refused.
    let fewer: Vec<SourceFile> = files
        .iter()
        .filter(|f| !f.path.starts_with("manifests/probe/"))
        .cloned()
        .collect();
    let (other, other_sig) = signed(&fewer, 4);
    assert_ne!(other, bytes);
    let err = accept(&other, &other_sig, Some(state)).unwrap_err();
    assert!(
        matches!(err, IndexError::SequenceReused { sequence: 4 }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("UNTRUSTED") && msg.contains("different content"),
        "{msg}"
    );
    // With only the sequence stored, the bytes cannot be compared: accepted as unchanged.
    let v = verify_index(
        &other,
        &other_sig,
        &[key().verifying_key()],
        Some(AcceptedIndex::sequence_only(4)),
    )
    .unwrap();
    assert_eq!(v.acceptance, Acceptance::Unchanged);
}

#[test]
fn index_without_sequence_is_refused_with_the_rebuild_message() {
    let bytes = build(&own_files(), 1);
    let text = String::from_utf8(bytes).unwrap();
    // What `build-index` wrote before sequence numbers: schema version 1, no sequence.
    let legacy = text
        .replace("\"schemaVersion\": 2,", "\"schemaVersion\": 1,")
        .replace("  \"sequence\": 1,\n", "");
    assert!(!legacy.contains("sequence"));
    let err = Index::from_json(legacy.as_bytes()).unwrap_err();
    assert!(matches!(err, IndexError::MissingSequence), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("predates sequence numbers")
            && msg.contains("registryctl build-index --sequence N"),
        "{msg}"
    );
    // Also when it is validly signed (signed by an older registryctl).
    let sig = sign_index(legacy.as_bytes(), &key());
    assert!(matches!(
        accept(legacy.as_bytes(), &sig, None),
        Err(IndexError::MissingSequence)
    ));
    // Also through serde directly.
    let err = serde_json::from_str::<Index>(&legacy).unwrap_err();
    assert!(
        err.to_string().contains("predates sequence numbers"),
        "{err}"
    );
    // The current schema version without a sequence, and a zero sequence.
    let no_seq = text.replace("  \"sequence\": 1,\n", "");
    assert!(matches!(
        Index::from_json(no_seq.as_bytes()),
        Err(IndexError::MissingSequence)
    ));
    let zero = text.replace("\"sequence\": 1,", "\"sequence\": 0,");
    assert!(matches!(
        Index::from_json(zero.as_bytes()),
        Err(IndexError::ZeroSequence)
    ));
    for bad in ["-1", "1.5", "\"2\"", "18446744073709551616", "null"] {
        let doc = text.replace("\"sequence\": 1,", &format!("\"sequence\": {bad},"));
        assert!(Index::from_json(doc.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn tampering_with_the_sequence_breaks_the_signature() {
    let files = own_files();
    let (bytes, sig) = signed(&files, 1);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let bumped = text.replace("\"sequence\": 1,", "\"sequence\": 1000,");
    assert_ne!(bumped, text);
    // The bumped index parses, so only the signature stands in the way.
    Index::from_json(bumped.as_bytes()).unwrap();
    for last in [None, Some(AcceptedIndex::sequence_only(1))] {
        let err = accept(bumped.as_bytes(), &sig, last).unwrap_err();
        assert!(
            matches!(err, IndexError::Untrusted(VerifyError::BadSignature)),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("UNTRUSTED"));
    }
}

#[test]
fn signature_is_checked_before_parsing() {
    let (bytes, sig) = signed(&own_files(), 1);
    // Unparseable bytes under a signature that does not cover them: the signature error wins.
    assert!(matches!(
        accept(b"{not json", &sig, None),
        Err(IndexError::Untrusted(VerifyError::BadSignature))
    ));
    // No trusted key at all.
    assert!(matches!(
        verify_index(&bytes, &sig, &[], None),
        Err(IndexError::Untrusted(VerifyError::NoTrustedKey))
    ));
    // Several trusted keys (rotation): any one verifies.
    let other = SigningKey::from_bytes(&[1; 32]).verifying_key();
    verify_index(&bytes, &sig, &[other, key().verifying_key()], None).unwrap();
    // Oversized input is refused before the signature check hashes it.
    let huge = vec![b' '; MAX_INDEX_BYTES + 1];
    assert!(matches!(
        accept(&huge, &sig, None),
        Err(IndexError::TooLarge { .. })
    ));
}
