//! Text analysis shared by indexing and querying: split, drop stop words, stem.

mod split;
mod stem;
mod stopwords;

pub(crate) use split::split_words;
pub(crate) use stem::{stem, stem_into};
pub(crate) use stopwords::is_stop_word;

/// False for stop words and single characters, which never become terms.
fn is_term(piece: &str) -> bool {
    !is_stop_word(piece) && piece.chars().nth(1).is_some()
}

/// Turns one raw lowercase piece into an index term, or `None` for stop words and single
/// characters.
pub(crate) fn term_of(piece: &str) -> Option<String> {
    is_term(piece).then(|| stem(piece))
}

/// Calls `emit` with each index term of `text`, in order, at most `max_pieces` raw pieces
/// considered. The `&str` is only valid during the call (one buffer is reused).
pub(crate) fn analyze(text: &str, max_pieces: usize, mut emit: impl FnMut(&str)) {
    let mut buf = String::new();
    split_words(text, max_pieces, |piece| {
        if is_term(piece) {
            stem_into(piece, &mut buf);
            emit(&buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        analyze(text, usize::MAX, |t| out.push(t.to_owned()));
        out
    }

    #[test]
    fn analyze_splits_filters_and_stems() {
        assert_eq!(
            terms("Create a new task in the Workspace"),
            ["creat", "new", "task", "workspac"]
        );
        assert_eq!(terms("asana_createTasks"), ["asana", "creat", "task"]);
        assert_eq!(terms("user's x"), ["user"]);
    }
}
