//! Splitting text into lowercase word pieces.
//!
//! Boundaries: any non-alphanumeric character (spaces, `_`, `-`, `.`, `/`, …), a lowercase letter
//! or digit followed by an uppercase letter (`createTask` → `create`, `task`), and the last capital
//! of a run of capitals followed by a lowercase letter (`HTMLParser` → `html`, `parser`). Letters and
//! digits stay together (`oauth2`, `s3`).

/// Pieces longer than this (in bytes, after lowercasing) are dropped: they are identifiers,
/// hashes or base64, not words anyone searches for.
pub(crate) const MAX_PIECE_BYTES: usize = 48;

/// Calls `emit` with each lowercase piece of `text`, at most `max_pieces` times.
pub(crate) fn split_words(text: &str, max_pieces: usize, mut emit: impl FnMut(&str)) {
    let mut emitted = 0usize;
    let mut buf = String::new();
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    let mut flush = |buf: &mut String, emitted: &mut usize| {
        if !buf.is_empty() && buf.len() <= MAX_PIECE_BYTES && *emitted < max_pieces {
            emit(buf);
            *emitted += 1;
        }
        buf.clear();
    };
    while let Some(c) = chars.next() {
        if emitted >= max_pieces {
            return;
        }
        if !c.is_alphanumeric() {
            flush(&mut buf, &mut emitted);
            prev = None;
            continue;
        }
        if let Some(p) = prev.filter(|_| c.is_uppercase()) {
            let camel = p.is_lowercase() || p.is_numeric();
            let acronym_end = p.is_uppercase() && chars.peek().is_some_and(|n| n.is_lowercase());
            if camel || acronym_end {
                flush(&mut buf, &mut emitted);
            }
        }
        buf.extend(c.to_lowercase());
        prev = Some(c);
    }
    flush(&mut buf, &mut emitted);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_words(text, usize::MAX, |p| out.push(p.to_owned()));
        out
    }

    #[test]
    fn splits_snake_kebab_camel_and_punctuation() {
        assert_eq!(pieces("create_task"), ["create", "task"]);
        assert_eq!(pieces("createTask"), ["create", "task"]);
        assert_eq!(pieces("CreateTask"), ["create", "task"]);
        assert_eq!(pieces("asana_create_task"), ["asana", "create", "task"]);
        assert_eq!(pieces("zoho-books"), ["zoho", "books"]);
        assert_eq!(
            pieces("HTMLParser getURL"),
            ["html", "parser", "get", "url"]
        );
        assert_eq!(pieces("v2Api oauth2"), ["v2", "api", "oauth2"]);
        assert_eq!(
            pieces("Send a message (to #general)."),
            ["send", "a", "message", "to", "general"]
        );
        assert_eq!(pieces("Grüße_Straße"), ["grüße", "straße"]);
    }

    #[test]
    fn empty_and_separator_only_input_yield_nothing() {
        assert!(pieces("").is_empty());
        assert!(pieces(" _-./ ").is_empty());
    }

    #[test]
    fn overlong_pieces_are_dropped_and_count_is_capped() {
        let long = "x".repeat(MAX_PIECE_BYTES + 1);
        assert_eq!(pieces(&format!("a {long} b")), ["a", "b"]);
        let mut out = Vec::new();
        split_words("one two three four", 2, |p| out.push(p.to_owned()));
        assert_eq!(out, ["one", "two"]);
    }
}
