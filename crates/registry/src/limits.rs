//! Bounds applied to untrusted documents before any YAML parser sees them.

/// Largest manifest or toolspec accepted, in bytes. The largest corpus file is ~13 KiB.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Deepest nesting accepted, counted both as flow brackets (`[`/`{`) and as indentation levels.
/// The schema needs at most 5 levels (toolspec `tools[].params[].field`).
pub const MAX_NESTING: usize = 32;

/// Widest indentation accepted, in columns (about `MAX_NESTING` levels of two spaces each).
pub const MAX_INDENT: usize = 2 * MAX_NESTING;

/// Why a document was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "document is larger than {max} bytes (read {size}): a manifest or toolspec is a few KiB; trim it"
    )]
    TooLarge { size: usize, max: usize },
    #[error(
        "line {line}: nesting deeper than {max} levels; the schema needs at most 5, so this is not a manifest or toolspec"
    )]
    TooDeep { line: usize, max: usize },
    #[error("document is not UTF-8 (first bad byte at offset {offset}): save it as UTF-8")]
    NotUtf8 { offset: usize },
}

/// Checks size, encoding and nesting in one linear pass. Conservative: brackets inside quoted
/// strings count too, which only matters for text nesting brackets 32 deep.
pub fn check(bytes: &[u8]) -> Result<&str, LimitError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(LimitError::TooLarge {
            size: bytes.len(),
            max: MAX_DOCUMENT_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| LimitError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut flow_depth: usize = 0;
    for (i, line) in text.lines().enumerate() {
        let indent = indentation(line);
        if indent > MAX_INDENT {
            return Err(LimitError::TooDeep {
                line: i + 1,
                max: MAX_NESTING,
            });
        }
        for b in line.bytes() {
            match b {
                b'[' | b'{' => {
                    flow_depth += 1;
                    if flow_depth > MAX_NESTING {
                        return Err(LimitError::TooDeep {
                            line: i + 1,
                            max: MAX_NESTING,
                        });
                    }
                }
                b']' | b'}' => flow_depth = flow_depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(text)
}

/// Leading whitespace plus block-sequence markers (`- - key:` nests twice).
fn indentation(line: &str) -> usize {
    let mut rest = line.trim_start_matches([' ', '\t']);
    while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("-\t")) {
        rest = r.trim_start_matches([' ', '\t']);
    }
    line.len() - rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversized_documents() {
        let big = vec![b'a'; MAX_DOCUMENT_BYTES + 1];
        assert!(matches!(check(&big), Err(LimitError::TooLarge { .. })));
        assert!(check(&vec![b'a'; MAX_DOCUMENT_BYTES]).is_ok());
    }

    #[test]
    fn refuses_deep_flow_and_block_nesting() {
        let flow = "a: ".to_owned() + &"[".repeat(MAX_NESTING + 1);
        assert!(matches!(
            check(flow.as_bytes()),
            Err(LimitError::TooDeep { line: 1, .. })
        ));
        let ok_flow = "a: ".to_owned() + &"[".repeat(MAX_NESTING) + &"]".repeat(MAX_NESTING);
        assert!(check(ok_flow.as_bytes()).is_ok());
        let mut block = String::new();
        for level in 0..=MAX_NESTING + 1 {
            block.push_str(&" ".repeat(level * 2));
            block.push_str("k:\n");
        }
        assert!(matches!(
            check(block.as_bytes()),
            Err(LimitError::TooDeep { .. })
        ));
    }

    #[test]
    fn refuses_invalid_utf8() {
        assert_eq!(check(b"a: \xff"), Err(LimitError::NotUtf8 { offset: 3 }));
    }
}
