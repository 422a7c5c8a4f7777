//! Profile bearer tokens: `gig_` + 32 random bytes in unpadded base64url. Only the SHA-256 of
//! the whole token string is ever stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix of every profile token (lets secret scanners recognise a leaked one).
pub const PREFIX: &str = "gig_";

/// A freshly generated token and its hash.
pub struct NewToken {
    /// Shown to the operator exactly once.
    pub token: String,
    /// What the store keeps.
    pub hash: [u8; 32],
}

/// Generates a token from the operating system's CSPRNG.
pub fn generate() -> NewToken {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&token);
    NewToken { token, hash }
}

/// SHA-256 of a presented token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_documented_shape_and_differ() {
        let a = generate();
        let b = generate();
        assert!(a.token.starts_with(PREFIX));
        assert_eq!(
            a.token.len(),
            PREFIX.len() + 43,
            "32 bytes in unpadded base64url"
        );
        assert!(
            a.token[4..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.token, b.token);
        assert_eq!(hash(&a.token), a.hash);
        assert_ne!(a.hash, b.hash);
    }
}
