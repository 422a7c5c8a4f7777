//! Tool search over 10,000 tools: index build time and per-query latency.
//!
//!   cargo bench -p gigmcp-toolsearch --bench search
//!
//! The 10,000 tools are the registry corpus (`$GIGMCP_CORPUS_DIR` or
//! `<repo>/../shared/corpus/gigmcp-registry`, ~1,930 tools of 221 servers) repeated under
//! server-name variants (`asana`, `asana-eu`, `asana-staging`, …) until there are 10,000.

#[path = "../tests/support/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gigmcp_toolsearch::{Index, ToolDoc};

const TOOLS: usize = 10_000;
const VARIANTS: &[&str] = &[
    "", "eu", "staging", "sandbox", "us", "backup", "archive", "test",
];
const QUERIES: &[&str] = &[
    "create a task in asana",
    "send a slack message",
    "upload a file to google drive",
    "create a stripe customer",
    "list open pagerduty incidents",
    "find free time on my google calendar",
    "delete",
    "get the current user's profile and list all their projects",
];

fn ten_thousand() -> Vec<ToolDoc> {
    let base = corpus::load();
    let mut out = Vec::with_capacity(TOOLS);
    for suffix in VARIANTS {
        for doc in &base {
            if out.len() == TOOLS {
                return out;
            }
            let mut d = doc.clone();
            if !suffix.is_empty() {
                d.server = format!("{}-{suffix}", d.server);
            }
            out.push(d);
        }
    }
    assert_eq!(out.len(), TOOLS, "corpus too small for {TOOLS} tools");
    out
}

fn bench(c: &mut Criterion) {
    let docs = ten_thousand();
    let mut g = c.benchmark_group("toolsearch_10k");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("build", |b| {
        b.iter_batched(
            || docs.clone(),
            |d| black_box(Index::build(d)),
            BatchSize::LargeInput,
        );
    });
    g.finish();

    let index = Index::build(docs);
    let mut g = c.benchmark_group("toolsearch_10k_search");
    g.sample_size(100).measurement_time(Duration::from_secs(3));
    for (i, q) in QUERIES.iter().enumerate() {
        g.bench_function(format!("q{i}"), |b| {
            b.iter(|| black_box(index.search(black_box(q), 10)));
        });
    }
    // Half the tools permitted (every other one), as a profile's selection would.
    g.bench_function("q0_filtered_half", |b| {
        b.iter(|| black_box(index.search_filtered(black_box(QUERIES[0]), 10, |d| d % 2 == 0)));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
