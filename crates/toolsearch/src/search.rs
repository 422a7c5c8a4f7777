//! Turning a query into term groups and ranking tools against them.

use crate::index::Index;
use crate::synonyms::synonyms_of;
use crate::text::{split_words, stem, term_of};

/// Longest query considered, in bytes; the rest is ignored.
pub const MAX_QUERY_BYTES: usize = 1024;
/// Most word pieces of a query considered.
pub const MAX_QUERY_WORDS: usize = 32;
/// How much a synonym counts relative to the word actually asked for.
const SYNONYM_WEIGHT: f32 = 0.5;
// Accumulation treats a zero score as "not matched yet": every contribution must be positive.
const _: () = assert!(SYNONYM_WEIGHT > 0.0);
/// Share of the final score that depends on how much of the tool's qualified name (server and
/// tool name) the query covers: `asana/create_task` answers "create a task in asana" better than
/// `asana/create_task_comment` does.
const NAME_COVERAGE_WEIGHT: f32 = 0.2;

/// One ranked tool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position of the tool in the vector given to [`Index::build`].
    pub doc: usize,
    /// BM25F relevance, higher is better; only comparable within one search.
    pub score: f32,
}

/// A query word with its synonyms: a tool scores the best of them, so a word counts once.
struct Group {
    members: Vec<(u32, f32)>,
}

impl Index {
    /// The `limit` tools most relevant to `query`, best first (ties: lower position first).
    /// Tools sharing no term with the query are not returned.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        self.search_filtered(query, limit, |_| true)
    }

    /// Like [`Index::search`], ranking only tools for which `allow(position)` is true; the
    /// others never appear and do not take places in `limit`. `allow` is called at most once
    /// per matching tool.
    pub fn search_filtered(
        &self,
        query: &str,
        limit: usize,
        mut allow: impl FnMut(usize) -> bool,
    ) -> Vec<Hit> {
        if limit == 0 || self.docs.is_empty() {
            return Vec::new();
        }
        let groups = self.groups(query);
        if groups.is_empty() {
            return Vec::new();
        }
        let (scores, matched) = self.accumulate(&groups);
        let covered = self.name_coverage(&groups);
        let mut hits: Vec<Hit> = matched
            .into_iter()
            .map(|d| d as usize)
            .filter(|&d| allow(d))
            .map(|d| {
                let len = self.name_len(d);
                let coverage = if len == 0 {
                    1.0
                } else {
                    covered[d] / f32::from(len)
                };
                Hit {
                    doc: d,
                    score: scores[d]
                        * (1.0 - NAME_COVERAGE_WEIGHT + NAME_COVERAGE_WEIGHT * coverage),
                }
            })
            .collect();
        let order = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc));
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, order);
            hits.truncate(limit);
        }
        hits.sort_unstable_by(order);
        hits
    }

    /// BM25F score of every tool (dense) and the tools with a non-zero score, in first-match
    /// order. Within a group a tool scores its best member.
    fn accumulate(&self, groups: &[Group]) -> (Vec<f32>, Vec<u32>) {
        let n = self.docs.len();
        let mut scores = vec![0f32; n];
        let mut matched: Vec<u32> = Vec::new();
        let mut best: Vec<f32> = Vec::new();
        let mut touched: Vec<u32> = Vec::new();
        let mut add = |scores: &mut [f32], doc: u32, v: f32| {
            let s = &mut scores[doc as usize];
            if *s == 0.0 {
                matched.push(doc);
            }
            *s += v;
        };
        for g in groups {
            if let [(term, w)] = g.members[..] {
                for p in self.postings(term) {
                    add(&mut scores, p.doc, w * p.score);
                }
                continue;
            }
            best.resize(n, 0.0);
            for &(term, w) in &g.members {
                for p in self.postings(term) {
                    let v = w * p.score;
                    let b = &mut best[p.doc as usize];
                    if *b == 0.0 {
                        touched.push(p.doc);
                    }
                    if v > *b {
                        *b = v;
                    }
                }
            }
            for doc in touched.drain(..) {
                let v = std::mem::take(&mut best[doc as usize]);
                add(&mut scores, doc, v);
            }
        }
        (scores, matched)
    }

    /// Per tool, how many of its qualified-name terms the query asks for: every distinct query
    /// term found in the server or tool name counts with its best weight in the query (1 asked,
    /// [`SYNONYM_WEIGHT`] as a synonym).
    fn name_coverage(&self, groups: &[Group]) -> Vec<f32> {
        let mut asked: Vec<(u32, f32)> = Vec::new();
        for &(term, w) in groups.iter().flat_map(|g| &g.members) {
            match asked.iter_mut().find(|(t, _)| *t == term) {
                Some(a) => a.1 = a.1.max(w),
                None => asked.push((term, w)),
            }
        }
        let mut covered = vec![0f32; self.docs.len()];
        for &(term, w) in &asked {
            for p in self.postings(term).iter().filter(|p| p.in_name) {
                covered[p.doc as usize] += w;
            }
        }
        covered
    }

    /// The query's term groups: each kept word with its synonyms, then adjacent words run
    /// together when that is an indexed term ("google drive" → `googledrive`).
    fn groups(&self, query: &str) -> Vec<Group> {
        let query = match query.char_indices().find(|(i, _)| *i >= MAX_QUERY_BYTES) {
            Some((end, _)) => &query[..end],
            None => query,
        };
        let mut words: Vec<(String, String)> = Vec::new();
        split_words(query, MAX_QUERY_WORDS, |piece| {
            if let Some(term) = term_of(piece) {
                words.push((piece.to_owned(), term));
            }
        });
        let mut primaries: Vec<&str> = Vec::new();
        for (_, term) in &words {
            if !primaries.contains(&term.as_str()) {
                primaries.push(term);
            }
        }
        let mut groups = Vec::new();
        for term in &primaries {
            // A synonym that is itself a query word counts in its own group, not twice:
            // "send a message" must not let `message` stand in for `send`.
            let members: Vec<(u32, f32)> = self
                .term_id(term)
                .map(|id| (id, 1.0))
                .into_iter()
                .chain(
                    synonyms_of(term)
                        .filter(|s| !primaries.contains(s))
                        .filter_map(|s| self.term_id(s))
                        .map(|id| (id, SYNONYM_WEIGHT)),
                )
                .collect();
            if !members.is_empty() {
                groups.push(Group { members });
            }
        }
        let mut joined_seen: Vec<String> = Vec::new();
        for pair in words.windows(2) {
            let joined = stem(&format!("{}{}", pair[0].0, pair[1].0));
            if primaries.contains(&joined.as_str()) || joined_seen.contains(&joined) {
                continue;
            }
            if let Some(id) = self.term_id(&joined) {
                groups.push(Group {
                    members: vec![(id, 1.0)],
                });
                joined_seen.push(joined);
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use crate::{Index, ToolDoc};

    fn doc(server: &str, name: &str, description: &str) -> ToolDoc {
        ToolDoc {
            server: server.into(),
            name: name.into(),
            description: description.into(),
            params: Vec::new(),
        }
    }

    fn small() -> Index {
        Index::build(vec![
            doc("asana", "create_task", "Create a new task in a project"),
            doc("todoist", "create_task", "Create a new task in Todoist"),
            doc("todoist", "delete_task", "Permanently delete a task"),
            doc(
                "googledrive",
                "upload_file",
                "Upload a new file to Google Drive",
            ),
            doc("dropbox", "upload_file", "Upload a file to Dropbox"),
            doc(
                "msteams",
                "send_message",
                "Send a chat message to a channel",
            ),
            doc("asana", "get_task", "Return the complete task record"),
            doc("trello", "addCard", "Put a card on a list"),
        ])
    }

    fn top(idx: &Index, q: &str) -> (String, String) {
        let hit = idx.search(q, 1)[0];
        let d = idx.doc(hit.doc).unwrap();
        (d.server.clone(), d.name.clone())
    }

    #[test]
    fn server_name_decides_between_equal_tools() {
        let idx = small();
        assert_eq!(top(&idx, "create a task in asana").0, "asana");
        assert_eq!(top(&idx, "todoist: create task").0, "todoist");
    }

    #[test]
    fn synonyms_and_inflections_match() {
        let idx = small();
        assert_eq!(
            top(&idx, "remove tasks"),
            ("todoist".into(), "delete_task".into())
        );
        assert_eq!(
            top(&idx, "creating a trello card"),
            ("trello".into(), "addCard".into())
        );
        assert_eq!(
            top(&idx, "fetch asana task"),
            ("asana".into(), "get_task".into())
        );
        assert_eq!(top(&idx, "post a message").1, "send_message");
    }

    #[test]
    fn adjacent_words_match_a_compound_server_name() {
        let idx = small();
        assert_eq!(top(&idx, "put a file on google drive").0, "googledrive");
    }

    #[test]
    fn scores_descend_and_limit_holds() {
        let idx = small();
        let hits = idx.search("create upload task file", 3);
        assert_eq!(hits.len(), 3);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(idx.search("create", 0).is_empty());
    }

    #[test]
    fn unmatched_and_empty_queries_return_nothing() {
        let idx = small();
        assert!(idx.search("", 10).is_empty());
        assert!(idx.search("the a of in", 10).is_empty());
        assert!(idx.search("zzzqqq", 10).is_empty());
        assert!(Index::build(Vec::new()).search("task", 10).is_empty());
    }

    #[test]
    fn filter_excludes_and_is_called_once_per_match() {
        let idx = small();
        let mut calls = Vec::new();
        let hits = idx.search_filtered("create a task in asana", 10, |d| {
            calls.push(d);
            d != 0
        });
        assert!(hits.iter().all(|h| h.doc != 0));
        assert!(!hits.is_empty());
        let mut sorted = calls.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), calls.len());
    }

    #[test]
    fn repeated_words_count_once_and_long_queries_are_bounded() {
        let idx = small();
        let once = idx.search("task", 10);
        let twice = idx.search("task task", 10);
        assert_eq!(once, twice);
        let huge = "task ".repeat(100_000);
        assert_eq!(idx.search(&huge, 10), once);
    }
}
