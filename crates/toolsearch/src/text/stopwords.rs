//! Words that carry no meaning for finding a tool.

const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could", "do",
    "for", "from", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or",
    "our", "please", "should", "so", "some", "that", "the", "their", "them", "then", "there",
    "these", "this", "those", "to", "us", "using", "via", "want", "was", "we", "what", "when",
    "where", "which", "who", "will", "with", "would", "you", "your",
];

/// True for a lowercase word on the stop list.
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn recognises_stop_words_only() {
        assert!(is_stop_word("the") && is_stop_word("in") && is_stop_word("a"));
        assert!(!is_stop_word("task") && !is_stop_word("new") && !is_stop_word("send"));
    }
}
