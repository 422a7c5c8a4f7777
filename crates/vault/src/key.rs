//! A master key (KEK) and its public id.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::KeyError;

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a KEK id in bytes (hex: twice as many characters).
pub const KEK_ID_LEN: usize = 8;

/// Public identifier of a KEK: the first 8 bytes of SHA-256("gigmcp-kek-id-v1" || key).
/// Safe to print and store; says which key a ciphertext needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KekId(pub(crate) [u8; KEK_ID_LEN]);

impl KekId {
    /// The raw id bytes (as stored in ciphertext headers).
    pub fn as_bytes(&self) -> &[u8; KEK_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KekId({self})")
    }
}

/// A 256-bit key-encryption key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: KekId,
}

impl MasterKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self::from_zeroizing(Zeroizing::new(bytes))
    }

    /// Takes ownership of key bytes that are already in a zeroizing buffer (no stray copies).
    fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"gigmcp-kek-id-v1");
        hasher.update(bytes.as_slice());
        let digest = hasher.finalize();
        let mut id = [0u8; KEK_ID_LEN];
        id.copy_from_slice(&digest[..KEK_ID_LEN]);
        Self {
            bytes,
            id: KekId(id),
        }
    }

    /// Parses 64 hex characters (surrounding whitespace ignored). `var` names the setting the
    /// text came from, for the error message.
    pub fn from_hex(var: &str, text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Empty {
                var: var.to_owned(),
            });
        }
        if let Some(pos) = text.chars().position(|c| !c.is_ascii_hexdigit()) {
            return Err(KeyError::NotHex {
                var: var.to_owned(),
                position: pos + 1,
            });
        }
        if text.len() != KEY_LEN * 2 {
            return Err(KeyError::WrongLength {
                var: var.to_owned(),
                found: text.len(),
            });
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(text, bytes.as_mut_slice()).map_err(|_| KeyError::NotHex {
            var: var.to_owned(),
            position: 1,
        })?;
        Ok(Self::from_zeroizing(bytes))
    }

    /// A fresh random key (tests, `gigmcp vault` tooling).
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut_slice())?;
        Ok(Self::from_zeroizing(bytes))
    }

    /// This key's public id.
    pub fn id(&self) -> KekId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn parses_hex_and_derives_a_stable_id() {
        let a = MasterKey::from_hex("GIG_MASTER_KEY", &format!(" {HEX}\n")).unwrap();
        let b = MasterKey::from_hex("GIG_MASTER_KEY", &HEX.to_uppercase()).unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().to_string().len(), 16);
        let other = MasterKey::from_bytes([1; 32]);
        assert_ne!(a.id(), other.id());
    }

    #[test]
    fn bad_keys_are_named_and_explained() {
        let e = MasterKey::from_hex("GIG_MASTER_KEY", "abcd")
            .unwrap_err()
            .to_string();
        assert!(e.contains("GIG_MASTER_KEY") && e.contains("found 4"), "{e}");
        assert!(e.contains("openssl rand -hex 32"), "{e}");
        let e = MasterKey::from_hex("X", &format!("{}zz", &HEX[..62]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("character 63") && e.contains("openssl rand -hex 32"),
            "{e}"
        );
        let e = MasterKey::from_hex("X", "   ").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn debug_hides_the_key() {
        let k = MasterKey::from_hex("K", HEX).unwrap();
        let shown = format!("{k:?} {:#?}", k.clone());
        assert!(!shown.to_lowercase().contains("00112233"), "{shown}");
        assert!(!shown.contains("[0, 17, 34"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
