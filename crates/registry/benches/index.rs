//! In-process cost of compiling and signing the shared corpus (221 manifests, 215 toolspecs):
//! lint + build_index + to_json + sign, and each step alone.
//!
//!   cargo bench -p gigmcp-registry --bench index
//!
//! Corpus: `$GIGMCP_CORPUS_DIR` or `<repo>/../shared/corpus/gigmcp-registry`.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use gigmcp_registry::{Denylist, Index, SigningKey, SourceFile, build_index, sign_index};

fn corpus_dir() -> PathBuf {
    std::env::var_os("GIGMCP_CORPUS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry"),
        PathBuf::from,
    )
}

fn load(root: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("manifests"))
        .expect("corpus present")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for f in entries {
            let path = f
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            files.push(SourceFile {
                path,
                bytes: std::fs::read(&f).expect("read"),
            });
        }
    }
    files
}

fn bench(c: &mut Criterion) {
    let root = corpus_dir();
    let files = load(&root);
    let deny_text =
        std::fs::read_to_string(root.join("denylist/exfil-domains.txt")).expect("denylist");
    let deny = Denylist::parse_with_builtin(&deny_text).expect("denylist parses");
    let key = SigningKey::from_bytes(&[7; 32]);
    let seq = NonZeroU64::MIN;
    let (index, _) = build_index(&files, &deny, seq).expect("corpus lints clean");
    let bytes = index.to_json();

    let mut g = c.benchmark_group("corpus");
    g.sample_size(20);
    g.bench_function("build_index+to_json+sign", |b| {
        b.iter(|| {
            let (index, _) = build_index(&files, &deny, seq).expect("lints clean");
            let bytes = index.to_json();
            sign_index(&bytes, &key)
        })
    });
    g.bench_function("build_index (lint+compile)", |b| {
        b.iter(|| build_index(&files, &deny, seq))
    });
    g.bench_function("to_json", |b| b.iter(|| index.to_json()));
    g.bench_function("sign", |b| b.iter(|| sign_index(&bytes, &key)));
    g.bench_function("Index::from_json (gateway load)", |b| {
        b.iter(|| Index::from_json(&bytes))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
