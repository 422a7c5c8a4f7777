//! Envelope encryption properties (no database).

use gigmcp_vault::{Aad, Keyring, MasterKey, VaultError, kek_id_of};

fn ring(seed: u8) -> Keyring {
    Keyring::new(MasterKey::from_bytes([seed; 32]), Vec::new())
}

fn aad() -> Aad {
    Aad::new("user:1", "credential:2:API_KEY")
}

#[test]
fn round_trip_of_various_sizes() {
    let ring = ring(1);
    for len in [0usize, 1, 100, 4096, gigmcp_vault::MAX_SECRET_LEN] {
        let secret: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let ct = ring.seal(&secret, &aad()).unwrap();
        assert_eq!(
            ring.open(&ct, &aad()).unwrap().as_slice(),
            secret.as_slice(),
            "len {len}"
        );
    }
}

#[test]
fn sealing_twice_gives_different_ciphertexts() {
    let ring = ring(1);
    let a = ring.seal(b"same", &aad()).unwrap();
    let b = ring.seal(b"same", &aad()).unwrap();
    assert_ne!(a, b, "fresh DEK and nonces each time");
}

#[test]
fn every_flipped_byte_fails_to_open() {
    let ring = ring(1);
    let ct = ring.seal(&[0x5a; 100], &aad()).unwrap();
    for i in 0..ct.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = ct.clone();
            bad[i] ^= bit;
            assert!(
                ring.open(&bad, &aad()).is_err(),
                "byte {i} bit {bit:#x} flipped still opened"
            );
        }
    }
    for cut in [0, 1, 3, 50, 106, 107, 122, ct.len() - 1] {
        assert!(
            ring.open(&ct[..cut], &aad()).is_err(),
            "truncated to {cut} still opened"
        );
    }
    let mut longer = ct.clone();
    longer.push(0);
    assert!(ring.open(&longer, &aad()).is_err());
}

#[test]
fn header_tampering_gives_precise_errors() {
    let ring = ring(1);
    let ct = ring.seal(b"secret", &aad()).unwrap();
    let mut bad = ct.clone();
    bad[0] = b'X';
    assert!(matches!(
        ring.open(&bad, &aad()),
        Err(VaultError::Malformed { .. })
    ));
    let mut bad = ct.clone();
    bad[2] = 9;
    assert!(matches!(
        ring.open(&bad, &aad()),
        Err(VaultError::UnsupportedVersion(9))
    ));
    let mut bad = ct.clone();
    bad[5] ^= 1; // KEK id
    assert!(matches!(
        ring.open(&bad, &aad()),
        Err(VaultError::UnknownKek { .. })
    ));
    let mut bad = ct.clone();
    bad[40] ^= 1; // wrapped DEK
    assert!(matches!(
        ring.open(&bad, &aad()),
        Err(VaultError::UnwrapFailed { .. })
    ));
    let mut bad = ct;
    let last = bad.len() - 1;
    bad[last] ^= 1; // body tag
    assert!(matches!(
        ring.open(&bad, &aad()),
        Err(VaultError::OpenFailed)
    ));
}

#[test]
fn other_owner_or_purpose_fails() {
    let ring = ring(1);
    let ct = ring.seal(b"secret", &aad()).unwrap();
    for other in [
        Aad::new("user:2", "credential:2:API_KEY"),
        Aad::new("user:1", "credential:3:API_KEY"),
        Aad::new("user:1", "credential:2:OTHER"),
        Aad::new("user:1credential:2:API_KEY", ""),
    ] {
        assert!(
            matches!(ring.open(&ct, &other), Err(VaultError::OpenFailed)),
            "{other:?}"
        );
    }
}

#[test]
fn wrong_kek_fails_with_a_clear_error() {
    let sealer = ring(1);
    let ct = sealer.seal(b"secret", &aad()).unwrap();
    let stranger = ring(2);
    let err = stranger.open(&ct, &aad()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VaultError::UnknownKek { .. }));
    assert!(msg.contains(&sealer.current_kek_id().to_string()), "{msg}");
    assert!(msg.contains("GIG_MASTER_KEY_PREVIOUS"), "{msg}");
    assert!(stranger.rewrap(&ct).is_err());
}

#[test]
fn rewrap_moves_the_dek_to_the_current_key_only() {
    let old = MasterKey::from_bytes([1; 32]);
    let new = MasterKey::from_bytes([2; 32]);
    let ct = Keyring::new(old.clone(), vec![])
        .seal(b"secret", &aad())
        .unwrap();
    let both = Keyring::new(new.clone(), vec![old.clone()]);
    assert_eq!(
        both.open(&ct, &aad()).unwrap().as_slice(),
        b"secret",
        "previous keys decrypt"
    );
    let moved = both.rewrap(&ct).unwrap();
    assert_eq!(kek_id_of(&moved).unwrap(), new.id());
    assert_eq!(moved[83..], ct[83..], "data nonce and body unchanged");
    let only_new = Keyring::new(new, vec![]);
    assert_eq!(only_new.open(&moved, &aad()).unwrap().as_slice(), b"secret");
    assert!(Keyring::new(old, vec![]).open(&moved, &aad()).is_err());
}
