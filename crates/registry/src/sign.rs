//! ed25519 signatures over the exact bytes of `index.json`. Keys and signatures are hex.
//!
//! Key generation needs the OS random source, so it lives in `registryctl`; this module only
//! turns hex into keys and signs/verifies bytes. Consumers accepting an index call
//! [`crate::verify_index`], which checks the signature with [`verify_signature`] first, then
//! parses and applies the rollback rule.

use ed25519_dalek::{Signature, Signer as _};
pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// A signature or key that does not verify. Every message starts with `UNTRUSTED`: callers must
/// not use the index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("UNTRUSTED: the signature is missing or empty; sign the index with `registryctl sign`")]
    MissingSignature,
    #[error("UNTRUSTED: the signature is not 64 bytes of hex ({0})")]
    MalformedSignature(String),
    #[error("UNTRUSTED: the public key is not 32 bytes of hex or not a valid ed25519 point ({0})")]
    MalformedPublicKey(String),
    #[error(
        "UNTRUSTED: the signature does not match these bytes under this key (the index was modified, or signed by another key)"
    )]
    BadSignature,
    #[error(
        "UNTRUSTED: no trusted public key is configured; pin the registry's public key (printed by `registryctl keygen`)"
    )]
    NoTrustedKey,
}

/// A private key file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the private key is not 32 bytes of hex ({0}); generate one with `registryctl keygen`")]
pub struct KeyError(String);

/// Signs `index_bytes`; returns the signature as 128 lowercase hex characters.
pub fn sign_index(index_bytes: &[u8], key: &SigningKey) -> String {
    hex::encode(key.sign(index_bytes).to_bytes())
}

/// Verifies `sig_hex` (surrounding whitespace ignored) over the exact `index_bytes`: succeeds
/// when any of `trusted_keys` verifies it (several keys allow a key rotation). Uses strict
/// verification (rejects malleable signatures and weak keys). This checks the signature only;
/// [`crate::verify_index`] also parses the index and refuses a rollback.
pub fn verify_signature(
    index_bytes: &[u8],
    sig_hex: &str,
    trusted_keys: &[VerifyingKey],
) -> Result<(), VerifyError> {
    if trusted_keys.is_empty() {
        return Err(VerifyError::NoTrustedKey);
    }
    let sig_hex = sig_hex.trim();
    if sig_hex.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let mut sig = [0u8; 64];
    hex::decode_to_slice(sig_hex, &mut sig)
        .map_err(|e| VerifyError::MalformedSignature(e.to_string()))?;
    let sig = Signature::from_bytes(&sig);
    if trusted_keys
        .iter()
        .any(|key| key.verify_strict(index_bytes, &sig).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Parses a public key from hex.
pub fn verifying_key_from_hex(hex_str: &str) -> Result<VerifyingKey, VerifyError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_str.trim(), &mut bytes)
        .map_err(|e| VerifyError::MalformedPublicKey(e.to_string()))?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|e| VerifyError::MalformedPublicKey(e.to_string()))?;
    if key.is_weak() {
        return Err(VerifyError::MalformedPublicKey("weak key".into()));
    }
    Ok(key)
}

/// Parses a private key (the 32-byte seed) from hex, as written by `registryctl keygen`.
pub fn signing_key_from_hex(hex_str: &str) -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex_str.trim(), &mut seed).map_err(|e| KeyError(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Hex of a private key's seed (for the key file).
pub fn signing_key_to_hex(key: &SigningKey) -> String {
    hex::encode(key.to_bytes())
}

/// Hex of a public key.
pub fn verifying_key_to_hex(key: &VerifyingKey) -> String {
    hex::encode(key.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_verify_and_tamper() {
        let k = key(7);
        let pk = [k.verifying_key()];
        let msg = b"{\"schemaVersion\":1}\n";
        let sig = sign_index(msg, &k);
        assert_eq!(sig.len(), 128);
        verify_signature(msg, &sig, &pk).unwrap();
        verify_signature(msg, &format!("  {sig}\n"), &pk).unwrap();
        // flipped byte in the message
        let mut flipped = msg.to_vec();
        flipped[3] ^= 1;
        assert_eq!(
            verify_signature(&flipped, &sig, &pk),
            Err(VerifyError::BadSignature)
        );
        // truncated
        assert_eq!(
            verify_signature(&msg[..msg.len() - 1], &sig, &pk),
            Err(VerifyError::BadSignature)
        );
        // wrong key
        let other = [key(8).verifying_key()];
        assert_eq!(
            verify_signature(msg, &sig, &other),
            Err(VerifyError::BadSignature)
        );
        // any trusted key will do (rotation), none is an error
        verify_signature(msg, &sig, &[other[0], pk[0]]).unwrap();
        assert_eq!(
            verify_signature(msg, &sig, &[]),
            Err(VerifyError::NoTrustedKey)
        );
        // signature of another message
        let sig2 = sign_index(b"other", &k);
        assert_eq!(
            verify_signature(msg, &sig2, &pk),
            Err(VerifyError::BadSignature)
        );
        // missing / malformed
        assert_eq!(
            verify_signature(msg, " \n", &pk),
            Err(VerifyError::MissingSignature)
        );
        assert!(matches!(
            verify_signature(msg, &sig[..100], &pk),
            Err(VerifyError::MalformedSignature(_))
        ));
        assert!(matches!(
            verifying_key_from_hex("zz"),
            Err(VerifyError::MalformedPublicKey(_))
        ));
        for e in [
            VerifyError::BadSignature,
            VerifyError::MissingSignature,
            VerifyError::NoTrustedKey,
        ] {
            assert!(e.to_string().starts_with("UNTRUSTED"));
        }
    }

    #[test]
    fn key_hex_round_trip() {
        let k = key(3);
        let back = signing_key_from_hex(&format!("{}\n", signing_key_to_hex(&k))).unwrap();
        assert_eq!(back.to_bytes(), k.to_bytes());
        assert!(signing_key_from_hex("abcd").is_err());
        // The identity point is a weak key.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert!(matches!(
            verifying_key_from_hex(&hex::encode(ident)),
            Err(VerifyError::MalformedPublicKey(_))
        ));
    }
}
