//! Hostile inputs: clear errors, no panic, no hang.

use gigmcp_registry::limits::{LimitError, MAX_DOCUMENT_BYTES};
use gigmcp_registry::{Denylist, DocPath, Manifest, ParseError, Toolspec, lint_manifest};

fn limit_err(r: Result<Manifest, ParseError>) -> LimitError {
    match r {
        Err(ParseError::Limit(e)) => e,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn fifty_megabytes_is_refused_before_parsing() {
    let mut big = b"schemaVersion: 1\ndescription: \"".to_vec();
    big.resize(50 * 1024 * 1024, b'a');
    let e = limit_err(Manifest::from_yaml(&big));
    assert!(matches!(e, LimitError::TooLarge { .. }));
    assert!(
        e.to_string().contains(&MAX_DOCUMENT_BYTES.to_string()),
        "{e}"
    );
    assert!(matches!(
        Toolspec::from_yaml(&big),
        Err(ParseError::Limit(LimitError::TooLarge { .. }))
    ));
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let flow = format!("schemaVersion: 1\nname: {}", "[".repeat(200_000));
    assert!(matches!(
        limit_err(Manifest::from_yaml(flow.as_bytes())),
        LimitError::TooDeep { line: 2, .. }
    ));
    let mut block = String::new();
    for i in 0..1_000 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    assert!(matches!(
        limit_err(Manifest::from_yaml(block.as_bytes())),
        LimitError::TooDeep { .. }
    ));
    let seqs = "- ".repeat(5_000) + "x\n";
    assert!(matches!(
        limit_err(Manifest::from_yaml(seqs.as_bytes())),
        LimitError::TooDeep { .. }
    ));
}

#[test]
fn alias_bombs_fail_fast() {
    // Nine levels of ten-fold aliases: 10^9 nodes if expanded.
    let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    doc.push_str("tools: *a8\n");
    assert!(Manifest::from_yaml(doc.as_bytes()).is_err());
    assert!(Toolspec::from_yaml(doc.as_bytes()).is_err());
}

#[test]
fn malformed_yaml_gives_clear_errors() {
    let cases: &[&[u8]] = &[
        b"",
        b"---\n",
        b"schemaVersion: 1\n\tname: x\n",
        b"name: \"unclosed\n",
        b"name: [1, 2\n",
        b"\x00\x01\x02",
        b"a: \xff\xfe",
        b"schemaVersion: 1\n---\nschemaVersion: 1\n",
        b"schemaVersion: 1\nschemaVersion: 1\n",
        b"- just\n- a list\n",
        b"schemaVersion: !!binary aGVsbG8=\n",
        b"? [complex, key]\n: value\n",
    ];
    for bytes in cases {
        let e = Manifest::from_yaml(bytes).expect_err("must not parse");
        assert!(!e.to_string().is_empty());
        let e = Toolspec::from_yaml(bytes).expect_err("must not parse");
        assert!(!e.to_string().is_empty());
        let (m, diags) = lint_manifest("manifests/x/1.0.0.yaml", bytes, &Denylist::builtin());
        assert!(m.is_none());
        assert!(
            diags
                .iter()
                .any(|d| d.message.starts_with("does not parse")),
            "{diags:?}"
        );
    }
}

#[test]
fn parse_errors_name_the_field_and_position() {
    let yaml = b"schemaVersion: 1\nname: x\nversion: 1.0.0\nsource: {repo: a, tag: b, branch: c}\n";
    let e = Manifest::from_yaml(yaml).unwrap_err().to_string();
    assert!(
        e.contains("source") && e.contains("branch") && e.contains("line 4"),
        "{e}"
    );
}

#[test]
fn paths_with_dot_dot_are_refused() {
    for p in [
        "manifests/../../etc/passwd.yaml",
        "manifests/a/../../b.yaml",
        "../manifests/a/1.0.0.yaml",
    ] {
        let e = DocPath::parse(p).unwrap_err();
        assert!(e.to_string().contains("`..`"), "{e}");
        let (_, diags) = lint_manifest(p, b"schemaVersion: 1\n", &Denylist::builtin());
        assert!(
            diags.iter().any(|d| d.message.contains("`..`")),
            "{diags:?}"
        );
    }
}
