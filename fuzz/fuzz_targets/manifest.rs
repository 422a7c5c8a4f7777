//! Any bytes into the manifest parser and linter: must return, never panic or hang.
#![no_main]

use gigmcp_registry::{Denylist, Manifest, lint_manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_yaml(data) {
        let _ = m.runtime_hash();
        let _ = m.egress_policy();
    }
    let _ = lint_manifest("manifests/fuzz/0.1.0.yaml", data, &Denylist::builtin());
});
