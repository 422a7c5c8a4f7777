//! Invariants of ranking over random tool sets, queries and filters.

use gigmcp_toolsearch::{Index, ToolDoc};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "create",
    "task",
    "delete",
    "send",
    "message",
    "list",
    "users",
    "asana",
    "slack",
    "file",
    "upload",
    "get",
    "record",
    "new",
    "the",
    "in",
    "Add",
    "fetchItems",
    "post_comment",
];

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..max).prop_map(|w| w.join(" "))
}

fn tool() -> impl Strategy<Value = ToolDoc> {
    (
        prop::sample::select(&["asana", "slack", "google-drive", "todoist"][..]),
        text(3),
        text(8),
        prop::collection::vec((text(2), text(4)), 0..3),
    )
        .prop_map(|(server, name, description, params)| ToolDoc {
            server: server.to_owned(),
            name: name.replace(' ', "_"),
            description,
            params,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn hits_are_allowed_unique_sorted_and_consistent(
        docs in prop::collection::vec(tool(), 0..40),
        query in text(6),
        banned in prop::collection::vec(any::<bool>(), 40),
        limit in 0usize..50,
    ) {
        let n = docs.len();
        let idx = Index::build(docs);
        let allow = |d: usize| !banned[d];
        let hits = idx.search_filtered(&query, limit, allow);
        prop_assert!(hits.len() <= limit);
        prop_assert!(hits.iter().all(|h| allow(h.doc) && h.doc < n));
        prop_assert!(hits.iter().all(|h| h.score.is_finite() && h.score > 0.0));
        prop_assert!(hits.windows(2).all(|w| w[0].score > w[1].score
            || (w[0].score == w[1].score && w[0].doc < w[1].doc)));
        // A smaller limit is a prefix of a larger one.
        let all = idx.search_filtered(&query, n + 1, allow);
        prop_assert_eq!(&hits[..], &all[..hits.len()]);
        // Filtering removes hits without reordering the rest.
        let unfiltered = idx.search(&query, n + 1);
        let kept: Vec<_> = unfiltered.into_iter().filter(|h| allow(h.doc)).collect();
        prop_assert_eq!(all, kept);
    }
}
