//! A small table of interchangeable verbs. A query word also matches its synonyms, at a lower
//! weight, so "add a task" finds `create_task` but still prefers a tool literally named `add_task`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::text::stem;

/// Groups of words used interchangeably when asking for a tool (unstemmed).
const GROUPS: &[&[&str]] = &[
    &["send", "post", "message", "publish"],
    &["create", "add", "new", "make", "insert"],
    &["delete", "remove", "destroy", "erase"],
    &["get", "fetch", "retrieve", "read", "show", "view"],
    &["list", "search", "find", "query", "browse"],
    &["update", "edit", "modify", "change", "patch"],
];

struct Table {
    /// Stemmed member → index into `groups`.
    by_term: HashMap<String, usize>,
    /// Stemmed members of each group.
    groups: Vec<Vec<String>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let groups: Vec<Vec<String>> = GROUPS
            .iter()
            .map(|g| g.iter().map(|w| stem(w)).collect())
            .collect();
        let mut by_term = HashMap::new();
        for (i, g) in groups.iter().enumerate() {
            for t in g {
                by_term.insert(t.clone(), i);
            }
        }
        Table { by_term, groups }
    })
}

/// The synonyms of an (already stemmed) term, excluding the term itself.
pub(crate) fn synonyms_of(term: &str) -> impl Iterator<Item = &'static str> + '_ {
    let t = table();
    t.by_term
        .get(term)
        .map(|&g| t.groups[g].as_slice())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .filter(move |s| *s != term)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_map_to_their_group() {
        let syn: Vec<_> = synonyms_of(&stem("create")).collect();
        assert!(syn.contains(&"add") && syn.contains(&"new"));
        assert!(!syn.contains(&stem("create").as_str()));
        let syn: Vec<_> = synonyms_of(&stem("messages")).collect();
        assert!(syn.contains(&"send") && syn.contains(&"post"));
        let syn: Vec<_> = synonyms_of("fetch").collect();
        assert!(syn.contains(&"get") && syn.contains(&stem("retrieve").as_str()));
    }

    #[test]
    fn unknown_terms_have_no_synonyms() {
        assert_eq!(synonyms_of("asana").count(), 0);
    }

    #[test]
    fn no_word_is_in_two_groups() {
        let total: usize = GROUPS.iter().map(|g| g.len()).sum();
        assert_eq!(table().by_term.len(), total);
    }
}
