//! Names of servers and slugs of profiles: `^[a-z0-9][a-z0-9-]{0,62}$`.
//!
//! No `_` is allowed, which is what makes `<server>_<tool>` unambiguous.

/// Why a name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid {kind} {name:?}: use 1 to 63 characters of lowercase letters, digits and '-', starting with a letter or digit (for example \"my-server-1\")"
)]
pub struct NameError {
    pub kind: &'static str,
    pub name: String,
}

/// Checks a server name or profile slug; `kind` names it in the error ("server name", "slug").
pub fn validate(kind: &'static str, name: &str) -> Result<(), NameError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shape() {
        for good in ["a", "echo", "my-server-1", "0abc", &"a".repeat(63)] {
            assert!(validate("server name", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn refuses_everything_else() {
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
            let err = validate("slug", bad).unwrap_err();
            assert!(err.to_string().contains("invalid slug"), "{err}");
        }
    }
}
