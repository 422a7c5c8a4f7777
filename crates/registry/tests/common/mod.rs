//! Test helpers: locate the shared corpus and load a registry directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gigmcp_registry::{Denylist, SourceFile};

/// `<repo>/../shared/corpus/gigmcp-registry`, or `$GIGMCP_CORPUS_DIR`.
pub fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIGMCP_CORPUS_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gigmcp-registry")
}

/// `<repo>/registry`.
pub fn own_registry_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../registry")
}

/// Every file under `<root>/manifests/*/`, sorted, paths relative to `root`.
pub fn load(root: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let manifests = root.join("manifests");
    let mut dirs: Vec<_> = std::fs::read_dir(&manifests)
        .unwrap_or_else(|e| panic!("{}: {e} (set GIGMCP_CORPUS_DIR?)", manifests.display()))
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for f in entries {
            let rel = f.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            files.push(SourceFile {
                path: rel,
                bytes: std::fs::read(&f).unwrap(),
            });
        }
    }
    files
}

pub fn denylist(root: &Path) -> Denylist {
    let text = std::fs::read_to_string(root.join("denylist/exfil-domains.txt")).unwrap();
    Denylist::parse_with_builtin(&text).unwrap()
}

pub fn read(root: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(root.join(rel)).unwrap()
}
