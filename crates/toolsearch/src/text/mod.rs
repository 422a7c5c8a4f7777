//! Text analysis shared by indexing and querying: split, drop stop words, stem.

mod split;
mod stem;
mod stopwords;

pub(crate) use split::split_words;
pub(crate) use stem::stem;
pub(crate) use stopwords::is_stop_word;

/// Turns one raw lowercase piece into an index term, or `None` for stop words and single
/// characters.
pub(crate) fn term_of(piece: &str) -> Option<String> {
    if is_stop_word(piece) || piece.chars().nth(1).is_none() {
        return None;
    }
    Some(stem(piece))
}

/// All index terms of `text`, in order, at most `max_pieces` raw pieces considered.
pub(crate) fn analyze(text: &str, max_pieces: usize, mut emit: impl FnMut(String)) {
    split_words(text, max_pieces, |piece| {
        if let Some(term) = term_of(piece) {
            emit(term);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        analyze(text, usize::MAX, |t| out.push(t));
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
