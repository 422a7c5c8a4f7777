//! Bounded, strict YAML → typed document.

use serde::de::DeserializeOwned;

use crate::limits::{self, LimitError};

/// A document that could not be parsed. The message carries the YAML field path and position.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("{0}")]
    Yaml(#[from] yaml_serde::Error),
}

/// Applies [`limits::check`], then deserialises with the schema's `deny_unknown_fields`.
pub fn parse_yaml<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    let text = limits::check(bytes)?;
    Ok(yaml_serde::from_str(text)?)
}
