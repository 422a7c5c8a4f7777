//! Building the inverted index: one posting list per term, each posting carrying the term's
//! precomputed BM25F score for that tool, so a search only adds numbers.

use std::collections::HashMap;

use crate::doc::ToolDoc;
use crate::fields::{FIELDS, LENGTH_NORM, NAME, SERVER, WEIGHTS, for_each_term};

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;

/// One tool's precomputed score for one term.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Posting {
    pub(crate) doc: u32,
    pub(crate) score: f32,
    /// The term is part of the tool's qualified name (server or tool name).
    pub(crate) in_name: bool,
}

/// A search index over a fixed set of tools. Build it once per tool set (it is cheap; see
/// docs/PERFORMANCE.md) and share it: searching takes `&self`.
#[derive(Clone, Default)]
pub struct Index {
    pub(crate) docs: Vec<ToolDoc>,
    pub(crate) vocab: HashMap<Box<str>, u32>,
    /// Postings of term `t` are `postings[offsets[t]..offsets[t + 1]]`, sorted by doc.
    offsets: Vec<usize>,
    postings: Vec<Posting>,
    /// Number of distinct terms in each tool's qualified name (server and tool name).
    name_lens: Vec<u16>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("tools", &self.docs.len())
            .field("terms", &self.vocab.len())
            .field("postings", &self.postings.len())
            .finish()
    }
}

fn in_name(tf: &[u32; FIELDS]) -> bool {
    tf[SERVER] > 0 || tf[NAME] > 0
}

/// Term counts of one tool: `(term, occurrences per field)`, and field lengths.
struct DocStats {
    terms: Vec<(u32, [u32; FIELDS])>,
    lens: [u32; FIELDS],
}

impl Index {
    /// Indexes `docs`; hits refer to tools by their position in `docs`.
    ///
    /// # Panics
    /// If `docs` holds more than `u32::MAX` tools.
    // Long: three passes (terms per tool, document frequencies and offsets, postings) that
    // share the vocabulary and the per-tool statistics; split, each would take them all.
    pub fn build(docs: Vec<ToolDoc>) -> Index {
        assert!(
            u32::try_from(docs.len()).is_ok(),
            "a tool search index holds at most u32::MAX tools"
        );
        let mut vocab: HashMap<Box<str>, u32> = HashMap::new();
        // Per term id: (1 + position of the last tool that used it, its slot in that tool's
        // `terms`), so counting a tool's terms needs no per-tool map.
        let mut seen: Vec<(u32, u32)> = Vec::new();
        let mut stats = Vec::with_capacity(docs.len());
        let mut total = [0f64; FIELDS];
        let mut name_lens = Vec::with_capacity(docs.len());
        for (pos, doc) in docs.iter().enumerate() {
            let stamp = pos as u32 + 1;
            let mut st = DocStats {
                terms: Vec::new(),
                lens: [0; FIELDS],
            };
            for_each_term(doc, |field, term| {
                st.lens[field] = st.lens[field].saturating_add(1);
                let id = match vocab.get(term) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
                        vocab.insert(term.into(), id);
                        seen.push((0, 0));
                        id
                    }
                };
                let entry = &mut seen[id as usize];
                if entry.0 != stamp {
                    *entry = (stamp, st.terms.len() as u32);
                    st.terms.push((id, [0; FIELDS]));
                }
                st.terms[entry.1 as usize].1[field] += 1;
            });
            for (t, l) in total.iter_mut().zip(st.lens) {
                *t += f64::from(l);
            }
            let in_name = st.terms.iter().filter(|(_, tf)| in_name(tf)).count();
            name_lens.push(u16::try_from(in_name).unwrap_or(u16::MAX));
            stats.push(st);
        }

        let n = docs.len();
        let avg: [f32; FIELDS] = std::array::from_fn(|f| {
            if n == 0 {
                0.0
            } else {
                (total[f] / n as f64) as f32
            }
        });
        let mut df = vec![0usize; vocab.len()];
        for st in &stats {
            for (t, _) in &st.terms {
                df[*t as usize] += 1;
            }
        }
        let mut offsets: Vec<usize> = Vec::with_capacity(df.len() + 1);
        let mut acc = 0usize;
        offsets.push(0);
        for d in &df {
            acc += d;
            offsets.push(acc);
        }
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| {
                let (n, d) = (n as f32, d as f32);
                (1.0 + (n - d + 0.5) / (d + 0.5)).ln()
            })
            .collect();

        let mut fill = offsets[..offsets.len() - 1].to_vec();
        let mut postings = vec![
            Posting {
                doc: 0,
                score: 0.0,
                in_name: false,
            };
            acc
        ];
        for (doc, st) in stats.iter().enumerate() {
            let norms: [f32; FIELDS] = std::array::from_fn(|f| {
                if avg[f] > 0.0 {
                    1.0 - LENGTH_NORM[f] + LENGTH_NORM[f] * st.lens[f] as f32 / avg[f]
                } else {
                    1.0
                }
            });
            for (t, tf) in &st.terms {
                let t = *t as usize;
                let weighted: f32 = (0..FIELDS)
                    .map(|f| WEIGHTS[f] * tf[f] as f32 / norms[f])
                    .sum();
                // Always > 0 (search relies on it to tell matched tools apart); `max` also
                // maps a NaN to the floor.
                let score =
                    (idf[t] * weighted * (K1 + 1.0) / (K1 + weighted)).max(f32::MIN_POSITIVE);
                let at = fill[t];
                fill[t] += 1;
                postings[at] = Posting {
                    doc: doc as u32,
                    score,
                    in_name: in_name(tf),
                };
            }
        }
        Index {
            docs,
            vocab,
            offsets,
            postings,
            name_lens,
        }
    }

    /// The postings of a term id.
    pub(crate) fn postings(&self, term: u32) -> &[Posting] {
        let t = term as usize;
        &self.postings[self.offsets[t]..self.offsets[t + 1]]
    }

    /// Number of distinct terms in tool `doc`'s server and tool name.
    pub(crate) fn name_len(&self, doc: usize) -> u16 {
        self.name_lens[doc]
    }

    /// The id of an analysed term, if any tool contains it.
    pub(crate) fn term_id(&self, term: &str) -> Option<u32> {
        self.vocab.get(term).copied()
    }

    /// Number of tools indexed.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when no tools are indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The tool at position `i` of the vector given to [`Index::build`].
    pub fn doc(&self, i: usize) -> Option<&ToolDoc> {
        self.docs.get(i)
    }

    /// All indexed tools, in the order given to [`Index::build`].
    pub fn docs(&self) -> &[ToolDoc] {
        &self.docs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(server: &str, name: &str, description: &str) -> ToolDoc {
        ToolDoc {
            server: server.into(),
            name: name.into(),
            description: description.into(),
            params: Vec::new(),
        }
    }

    #[test]
    fn postings_are_sorted_by_doc_and_positive() {
        let idx = Index::build(vec![
            doc("alpha", "create_task", "Create a task"),
            doc("beta", "delete_task", "Delete a task"),
            doc("gamma", "create_task", "Create a task"),
        ]);
        let task = idx.term_id("task").unwrap();
        let docs: Vec<u32> = idx.postings(task).iter().map(|p| p.doc).collect();
        assert_eq!(docs, [0, 1, 2]);
        let creat = idx.term_id("creat").unwrap();
        assert_eq!(idx.postings(creat).len(), 2);
        assert!(
            idx.postings
                .iter()
                .all(|p| p.score > 0.0 && p.score.is_finite())
        );
    }

    #[test]
    fn qualified_name_terms_are_marked() {
        let idx = Index::build(vec![
            doc("alpha", "create_task", "Create a task"),
            doc("beta", "get", "a task"),
        ]);
        assert_eq!((idx.name_len(0), idx.name_len(1)), (3, 2));
        let task = idx.term_id("task").unwrap();
        let in_name: Vec<bool> = idx.postings(task).iter().map(|p| p.in_name).collect();
        assert_eq!(in_name, [true, false]);
        let beta = idx.term_id("beta").unwrap();
        assert!(idx.postings(beta)[0].in_name);
    }

    #[test]
    fn rarer_terms_weigh_more() {
        let idx = Index::build(vec![
            doc("a", "create_task", ""),
            doc("b", "create_note", ""),
            doc("c", "create_page", ""),
        ]);
        let creat = idx.postings(idx.term_id("creat").unwrap())[0].score;
        let task = idx.postings(idx.term_id("task").unwrap())[0].score;
        assert!(task > creat, "task {task} creat {creat}");
    }

    #[test]
    fn index_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Index>();
    }

    #[test]
    fn empty_index_is_fine() {
        let idx = Index::build(Vec::new());
        assert!(idx.is_empty());
        assert_eq!(idx.len(), 0);
        assert!(idx.doc(0).is_none());
        assert!(format!("{idx:?}").contains("tools: 0"));
    }
}
