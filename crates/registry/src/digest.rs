//! OCI image digests (`sha256:` + 64 lowercase hex).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("`{0}` does not start with `sha256:`: write `sha256:` followed by 64 hex digits")]
    Algorithm(String),
    #[error(
        "`{0}` must have exactly 64 lowercase hex digits after `sha256:` (copy it from the image build output)"
    )]
    Hex(String),
}

/// A validated sha256 image digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The raw hash.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// All zeros: a placeholder until the image is built, never installable.
    pub fn is_placeholder(&self) -> bool {
        self.0 == [0; 32]
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s
            .strip_prefix("sha256:")
            .ok_or_else(|| DigestError::Algorithm(s.to_owned()))?;
        let lower = hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex_part.len() != 64 || !lower {
            return Err(DigestError::Hex(s.to_owned()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| DigestError::Hex(s.to_owned()))?;
        Ok(Self(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_flags_placeholders() {
        let real = format!("sha256:{}", "ab".repeat(32));
        let d: Digest = real.parse().unwrap();
        assert!(!d.is_placeholder());
        assert_eq!(d.to_string(), real);
        let zero: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        assert!(zero.is_placeholder());
    }

    #[test]
    fn rejects_malformed() {
        let bad = |s: &str| s.parse::<Digest>().unwrap_err();
        assert!(matches!(bad(&"ab".repeat(32)), DigestError::Algorithm(_)));
        assert!(matches!(
            bad(&format!("sha512:{}", "ab".repeat(32))),
            DigestError::Algorithm(_)
        ));
        assert!(matches!(
            bad(&format!("sha256:{}", "AB".repeat(32))),
            DigestError::Hex(_)
        ));
        assert!(matches!(
            bad(&format!("sha256:{}", "ab".repeat(31))),
            DigestError::Hex(_)
        ));
        assert!(matches!(
            bad(&format!("sha256:{}g", "ab".repeat(31))),
            DigestError::Hex(_)
        ));
    }
}
