//! The ciphertext format (version 1).
//!
//! ```text
//! offset  len  field
//!      0    2  magic "GV"
//!      2    1  format version (1)
//!      3    8  KEK id
//!     11   24  wrap nonce
//!     35   48  wrapped DEK (32-byte DEK + 16-byte Poly1305 tag)
//!     83   24  data nonce
//!    107  n+16 secret ciphertext + tag
//! ```
//! The DEK wrap authenticates `"gigmcp-vault-dek-v1" || bytes[0..11] || data nonce`, so the
//! magic, version, KEK id and data nonce cannot be changed. The secret authenticates
//! `"gigmcp-vault-data-v1" || bytes[0..3] || data nonce || owner || purpose` (length-prefixed),
//! so it only opens for its owner and purpose; it does not cover the KEK id and wrap fields,
//! which lets rotation replace them (rewrap) without touching the secret's ciphertext.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::key::{KEK_ID_LEN, KEY_LEN, KekId, MasterKey};
use crate::{Aad, VaultError};

/// Current format version.
pub const FORMAT_VERSION: u8 = 1;
/// Largest secret the vault seals (64 KiB).
pub const MAX_SECRET_LEN: usize = 64 * 1024;

const MAGIC: &[u8; 2] = b"GV";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEK_ID_AT: usize = 3;
const WRAP_NONCE_AT: usize = KEK_ID_AT + KEK_ID_LEN;
const WRAPPED_AT: usize = WRAP_NONCE_AT + NONCE_LEN;
const WRAPPED_LEN: usize = KEY_LEN + TAG_LEN;
const DATA_NONCE_AT: usize = WRAPPED_AT + WRAPPED_LEN;
const HEADER_LEN: usize = DATA_NONCE_AT + NONCE_LEN;

/// A parsed, not yet authenticated ciphertext.
struct Parts<'a> {
    kek_id: KekId,
    prefix: &'a [u8],
    wrap_nonce: &'a [u8],
    wrapped: &'a [u8],
    data_nonce: &'a [u8],
    body: &'a [u8],
}

fn parse(ct: &[u8]) -> Result<Parts<'_>, VaultError> {
    if ct.len() < 3 || &ct[..2] != MAGIC {
        return Err(VaultError::Malformed {
            reason: "missing the vault header",
        });
    }
    if ct[2] != FORMAT_VERSION {
        return Err(VaultError::UnsupportedVersion(ct[2]));
    }
    if ct.len() < HEADER_LEN + TAG_LEN {
        return Err(VaultError::Malformed {
            reason: "truncated",
        });
    }
    if ct.len() > HEADER_LEN + TAG_LEN + MAX_SECRET_LEN {
        return Err(VaultError::Malformed {
            reason: "longer than any sealed secret",
        });
    }
    let mut kek_id = [0u8; KEK_ID_LEN];
    kek_id.copy_from_slice(&ct[KEK_ID_AT..WRAP_NONCE_AT]);
    Ok(Parts {
        kek_id: KekId(kek_id),
        prefix: &ct[..KEK_ID_AT],
        wrap_nonce: &ct[WRAP_NONCE_AT..WRAPPED_AT],
        wrapped: &ct[WRAPPED_AT..DATA_NONCE_AT],
        data_nonce: &ct[DATA_NONCE_AT..HEADER_LEN],
        body: &ct[HEADER_LEN..],
    })
}

/// The KEK id a ciphertext's DEK is wrapped under (read from the header, not authenticated).
pub fn kek_id_of(ciphertext: &[u8]) -> Result<KekId, VaultError> {
    parse(ciphertext).map(|p| p.kek_id)
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, VaultError> {
    let mut out = Zeroizing::new([0u8; N]);
    getrandom::fill(out.as_mut_slice()).map_err(VaultError::Rng)?;
    Ok(out)
}

fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

fn nonce(bytes: &[u8]) -> Result<XNonce, VaultError> {
    XNonce::try_from(bytes).map_err(|_| VaultError::Malformed {
        reason: "bad nonce length",
    })
}

fn wrap_aad(prefix: &[u8], kek_id: &KekId, data_nonce: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"gigmcp-vault-dek-v1");
    aad.extend_from_slice(prefix);
    aad.extend_from_slice(kek_id.as_bytes());
    aad.extend_from_slice(data_nonce);
    aad
}

fn data_aad(prefix: &[u8], data_nonce: &[u8], aad: &Aad) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + aad.owner.len() + aad.purpose.len());
    out.extend_from_slice(b"gigmcp-vault-data-v1");
    out.extend_from_slice(prefix);
    out.extend_from_slice(data_nonce);
    aad.encode_into(&mut out);
    out
}

/// Wraps `dek` under `kek` and writes the header (everything before the body) into `out`.
fn write_header(
    out: &mut Vec<u8>,
    kek: &MasterKey,
    dek: &[u8; KEY_LEN],
    data_nonce: &[u8],
) -> Result<(), VaultError> {
    let wrap_nonce = random::<NONCE_LEN>()?;
    let prefix = [MAGIC[0], MAGIC[1], FORMAT_VERSION];
    let aad = wrap_aad(&prefix, &kek.id(), data_nonce);
    let wrapped = cipher(kek.bytes())
        .encrypt(
            &nonce(wrap_nonce.as_slice())?,
            Payload {
                msg: dek,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Seal)?;
    out.extend_from_slice(&prefix);
    out.extend_from_slice(kek.id().as_bytes());
    out.extend_from_slice(wrap_nonce.as_slice());
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(data_nonce);
    Ok(())
}

/// Seals `plaintext` for `aad` under a fresh DEK wrapped by `kek`.
pub(crate) fn seal(kek: &MasterKey, plaintext: &[u8], aad: &Aad) -> Result<Vec<u8>, VaultError> {
    if plaintext.len() > MAX_SECRET_LEN {
        return Err(VaultError::TooLarge {
            len: plaintext.len(),
            max: MAX_SECRET_LEN,
        });
    }
    let dek = random::<KEY_LEN>()?;
    let data_nonce = random::<NONCE_LEN>()?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    write_header(&mut out, kek, &dek, data_nonce.as_slice())?;
    let aad = data_aad(&out[..KEK_ID_AT], data_nonce.as_slice(), aad);
    let body = cipher(&dek)
        .encrypt(
            &nonce(data_nonce.as_slice())?,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Seal)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Recovers the DEK of a parsed ciphertext with `kek`.
fn unwrap_dek(kek: &MasterKey, parts: &Parts<'_>) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    let aad = wrap_aad(parts.prefix, &parts.kek_id, parts.data_nonce);
    let dek = Zeroizing::new(
        cipher(kek.bytes())
            .decrypt(
                &nonce(parts.wrap_nonce)?,
                Payload {
                    msg: parts.wrapped,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::UnwrapFailed {
                kek_id: parts.kek_id,
            })?,
    );
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    if dek.len() != KEY_LEN {
        return Err(VaultError::UnwrapFailed {
            kek_id: parts.kek_id,
        });
    }
    out.copy_from_slice(&dek);
    Ok(out)
}

/// Opens a ciphertext; `find` returns the KEK for the header's KEK id.
pub(crate) fn open<'k>(
    ciphertext: &[u8],
    aad: &Aad,
    find: impl FnOnce(KekId) -> Result<&'k MasterKey, VaultError>,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let parts = parse(ciphertext)?;
    let kek = find(parts.kek_id)?;
    let dek = unwrap_dek(kek, &parts)?;
    let aad = data_aad(parts.prefix, parts.data_nonce, aad);
    cipher(&dek)
        .decrypt(
            &nonce(parts.data_nonce)?,
            Payload {
                msg: parts.body,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::OpenFailed)
}

/// Re-wraps the DEK of `ciphertext` under `to`, keeping the secret's body unchanged.
pub(crate) fn rewrap<'k>(
    ciphertext: &[u8],
    to: &MasterKey,
    find: impl FnOnce(KekId) -> Result<&'k MasterKey, VaultError>,
) -> Result<Vec<u8>, VaultError> {
    let parts = parse(ciphertext)?;
    let from = find(parts.kek_id)?;
    let dek = unwrap_dek(from, &parts)?;
    let mut out = Vec::with_capacity(ciphertext.len());
    write_header(&mut out, to, &dek, parts.data_nonce)?;
    out.extend_from_slice(parts.body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_constants_match_the_documented_offsets() {
        assert_eq!(
            (
                KEK_ID_AT,
                WRAP_NONCE_AT,
                WRAPPED_AT,
                DATA_NONCE_AT,
                HEADER_LEN
            ),
            (3, 11, 35, 83, 107)
        );
    }

    #[test]
    fn ciphertext_length_is_header_plus_body() {
        let k = MasterKey::from_bytes([3; 32]);
        let ct = seal(&k, &[0u8; 100], &Aad::new("o", "p")).unwrap();
        assert_eq!(ct.len(), HEADER_LEN + 100 + TAG_LEN);
        assert_eq!(&ct[..3], b"GV\x01");
        assert_eq!(kek_id_of(&ct).unwrap(), k.id());
    }

    #[test]
    fn oversized_secret_is_refused() {
        let k = MasterKey::from_bytes([3; 32]);
        let err = seal(&k, &vec![0; MAX_SECRET_LEN + 1], &Aad::new("o", "p")).unwrap_err();
        assert!(matches!(err, VaultError::TooLarge { .. }));
    }
}
