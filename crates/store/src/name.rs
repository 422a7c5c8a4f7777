//! Names the store keeps: server names and profile slugs, `^[a-z0-9][a-z0-9-]{0,62}$`.
//!
//! No `_` is allowed, which is what makes a namespaced tool name `<server>_<tool>` split back
//! unambiguously at its first `_`; a slug is part of the profile's URL. The types are the only
//! way to hand the store a new name, so an invalid one can never be written.

use std::fmt;
use std::str::FromStr;

/// Why a name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid {kind} {name:?}: use 1 to 63 characters of lowercase letters, digits and '-', starting with a letter or digit (for example \"my-server-1\")"
)]
pub struct NameError {
    pub kind: &'static str,
    pub name: String,
}

fn check(kind: &'static str, name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NameError {
            kind,
            name: name.to_string(),
        })
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Checks `name`; the error says what a valid one looks like.
            pub fn new(name: &str) -> Result<Self, NameError> {
                check($kind, name)?;
                Ok(Self(name.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }
    };
}

name_type!(
    /// A server's name: what its tools are prefixed with (`<server>_<tool>`).
    ServerName,
    "server name"
);
name_type!(
    /// A profile's slug: its URL (`/mcp/p/<slug>`).
    Slug,
    "slug"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shape() {
        for good in ["a", "echo", "my-server-1", "0abc", &"a".repeat(63)] {
            assert_eq!(ServerName::new(good).unwrap().as_str(), good);
            assert!(good.parse::<Slug>().is_ok(), "{good}");
        }
    }

    #[test]
    fn refuses_everything_else_and_says_what_is_valid() {
        for bad in [
            "",
            "-a",
            "A",
            "a_b",
            "a.b",
            "a b",
            "é",
            &"a".repeat(64),
            "../x",
        ] {
            let err = Slug::new(bad).unwrap_err().to_string();
            assert!(
                err.contains("invalid slug") && err.contains("my-server-1"),
                "{err}"
            );
            let err = ServerName::new(bad).unwrap_err().to_string();
            assert!(err.contains("invalid server name"), "{err}");
        }
    }
}
