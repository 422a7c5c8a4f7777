//! Associated data: who a secret belongs to and what it is for.

use gigmcp_store::{ServerId, UserId};

/// Binds a ciphertext to its owner and purpose; opening with any other value fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad {
    /// The owner, e.g. `user:42`.
    pub owner: String,
    /// What the secret is, e.g. `credential:7:GITHUB_TOKEN`.
    pub purpose: String,
}

impl Aad {
    /// Associated data from free-form owner and purpose strings.
    pub fn new(owner: impl Into<String>, purpose: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            purpose: purpose.into(),
        }
    }

    /// The associated data of the credential row (`owner`, `server`, `credential_id`).
    pub fn credential(owner: UserId, server: ServerId, credential_id: &str) -> Self {
        Self::new(
            format!("user:{owner}"),
            format!("credential:{server}:{credential_id}"),
        )
    }

    /// The associated data of the gateway-wide secret `name` (e.g. `egress-ca`): owner
    /// `gateway`, which no user's secret has (theirs are `user:<id>`).
    pub fn gateway_secret(name: &str) -> Self {
        Self::new("gateway", format!("gateway-secret:{name}"))
    }

    /// Unambiguous encoding: each field is length-prefixed.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        for field in [&self.owner, &self.purpose] {
            let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_unambiguous() {
        let mut a = Vec::new();
        Aad::new("ab", "c").encode_into(&mut a);
        let mut b = Vec::new();
        Aad::new("a", "bc").encode_into(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn gateway_secrets_never_share_a_user_secret_s_associated_data() {
        let gateway = Aad::gateway_secret("egress-ca");
        assert_ne!(gateway, Aad::gateway_secret("egress-ca2"));
        assert_ne!(
            gateway.owner,
            Aad::credential(UserId(0), ServerId(0), "egress-ca").owner
        );
    }
}
