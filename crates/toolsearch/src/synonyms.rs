//! A small table of interchangeable verbs. A query word also matches its synonyms, at a lower
//! weight, so "add a task" finds `create_task` but still prefers a tool literally named `add_task`.
//! A word may belong to several groups (`add` creates things and adds messages); its synonyms
//! are the other members of all of them.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::text::stem;

/// Groups of words used interchangeably when asking for a tool (unstemmed).
const GROUPS: &[&[&str]] = &[
    &["send", "post", "message", "publish", "add"],
    &[
        "create", "add", "new", "make", "insert", "open", "post", "schedule",
    ],
    &["delete", "remove", "destroy", "erase"],
    &["get", "fetch", "retrieve", "read", "show", "view"],
    &["list", "search", "find", "query", "browse"],
    &["update", "edit", "modify", "change", "patch"],
];

struct Table {
    /// Stemmed word → its synonyms (stemmed, itself excluded, no duplicates).
    by_term: HashMap<String, Vec<String>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let groups: Vec<Vec<String>> = GROUPS
            .iter()
            .map(|g| g.iter().map(|w| stem(w)).collect())
            .collect();
        let mut by_term: HashMap<String, Vec<String>> = HashMap::new();
        for g in &groups {
            for t in g {
                let syns = by_term.entry(t.clone()).or_default();
                for s in g {
                    if s != t && !syns.contains(s) {
                        syns.push(s.clone());
                    }
                }
            }
        }
        Table { by_term }
    })
}

/// The synonyms of an (already stemmed) term, excluding the term itself.
pub(crate) fn synonyms_of(term: &str) -> impl Iterator<Item = &'static str> {
    table()
        .by_term
        .get(term)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
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
    fn relation_is_symmetric_and_irreflexive() {
        for (word, syns) in &table().by_term {
            assert!(!syns.contains(word), "{word}");
            for s in syns {
                assert!(table().by_term[s].contains(word), "{word} ~ {s}");
            }
        }
        let add: Vec<_> = synonyms_of("add").collect();
        assert!(add.contains(&"send") && add.contains(&"creat"), "{add:?}");
        assert_eq!(add.iter().filter(|s| **s == "new").count(), 1);
    }
}
