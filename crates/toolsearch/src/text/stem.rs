//! A light English suffix stripper: plurals, `-ed`, `-ing` and a final `e`, so that `create`,
//! `creates`, `created` and `creating` all become `creat`, and `companies` becomes `company`.
//!
//! It is deliberately small and conservative: words under four letters, words with digits and
//! non-ASCII words are left alone; a suffix is only removed when what remains still has a vowel
//! and at least three letters.

/// Returns the stem of a lowercase word.
pub(crate) fn stem(word: &str) -> String {
    let mut out = String::new();
    stem_into(word, &mut out);
    out
}

/// Replaces the contents of `out` with the stem of `word` (no allocation once `out` is large
/// enough).
pub(crate) fn stem_into(word: &str, out: &mut String) {
    out.clear();
    out.push_str(word);
    if word.len() < 4 || !word.is_ascii() || word.bytes().any(|b| b.is_ascii_digit()) {
        return;
    }
    strip_plural(out);
    strip_verb_suffix(out);
    if out.len() > 3 && out.ends_with('e') {
        out.pop();
    }
}

fn strip_plural(w: &mut String) {
    if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with("ies") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with('s') && !(w.ends_with("ss") || w.ends_with("us") || w.ends_with("is")) {
        w.pop();
    }
}

fn strip_verb_suffix(w: &mut String) {
    if w.ends_with("ied") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
        return;
    }
    if w.ends_with("eed") {
        return;
    }
    let suffix = if w.ends_with("ed") {
        2
    } else if w.ends_with("ing") {
        3
    } else {
        return;
    };
    let stem = &w[..w.len() - suffix];
    if stem.len() < 3 || !stem.bytes().any(is_vowel) {
        return;
    }
    w.truncate(w.len() - suffix);
    undouble(w);
}

/// `running` → `runn` → `run`; `installing` keeps its `ll`, `adding` keeps `add`.
fn undouble(w: &mut String) {
    let b = w.as_bytes();
    let n = b.len();
    if n >= 4
        && b[n - 1] == b[n - 2]
        && !is_vowel(b[n - 1])
        && !matches!(b[n - 1], b'l' | b's' | b'z')
    {
        w.pop();
    }
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

#[cfg(test)]
mod tests {
    use super::stem;

    fn same(words: &[&str]) {
        let first = stem(words[0]);
        for w in words {
            assert_eq!(stem(w), first, "{w} vs {}", words[0]);
        }
    }

    #[test]
    fn inflections_meet() {
        same(&["create", "creates", "created", "creating"]);
        same(&["update", "updates", "updated", "updating"]);
        same(&["message", "messages", "messaging"]);
        same(&["list", "lists", "listed", "listing"]);
        same(&["company", "companies"]);
        same(&["copy", "copies", "copied"]);
        same(&["address", "addresses"]);
        same(&["box", "boxes"]);
        same(&["match", "matches"]);
        same(&["status", "statuses"]);
        same(&["run", "running"]);
        same(&["ship", "shipping", "shipped"]);
        same(&["install", "installing", "installed"]);
        same(&["setting", "settings"]);
        same(&["page", "pages"]);
        same(&["price", "pricing"]);
        same(&["reply", "replies", "replied"]);
    }

    #[test]
    fn short_digit_and_vowelless_words_are_kept() {
        for w in [
            "add", "get", "new", "s3", "oauth2", "string", "need", "feed", "status", "analysis",
        ] {
            assert_eq!(stem(w), w);
        }
        assert_eq!(stem("adding"), "add");
        assert_eq!(stem("grüße"), "grüße");
    }

    #[test]
    fn distinct_words_stay_distinct() {
        assert_ne!(stem("task"), stem("tag"));
        assert_ne!(stem("create"), stem("delete"));
        assert_ne!(stem("send"), stem("sent"));
    }
}
