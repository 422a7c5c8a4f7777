//! Any bytes into the toolspec parser and linter (against a fixed manifest): must return,
//! never panic or hang.
#![no_main]

use std::sync::LazyLock;

use gigmcp_registry::{Manifest, Toolspec, lint_toolspec};
use libfuzzer_sys::fuzz_target;

static MANIFEST: LazyLock<Manifest> = LazyLock::new(|| {
    Manifest::from_yaml(include_bytes!(
        "../../crates/registry/tests/data/sample.yaml"
    ))
    .expect("fixture parses")
});

fuzz_target!(|data: &[u8]| {
    let _ = Toolspec::from_yaml(data);
    let _ = lint_toolspec(
        "manifests/sample/0.1.0.toolspec.yaml",
        data,
        Some(&MANIFEST),
    );
});
