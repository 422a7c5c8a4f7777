//! Property tests: the runtime hash ignores key order, formatting and list order but not consent
//! fields; the parsers never panic on random or mutated bytes; the egress rule is consistent.

use gigmcp_registry::{
    Credential, CredentialType, Denylist, EgressPattern, EgressPolicy, Entitlements, Image, Inject,
    Manifest, Source, Tier, ToolEntry, Toolspec, lint_manifest, lint_toolspec,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

const CORPUS_LIKE_MANIFEST: &str = include_str!("data/sample.yaml");
const CORPUS_LIKE_TOOLSPEC: &str = include_str!("data/sample.toolspec.yaml");

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,9}"
}

fn host() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9]{0,6}",
        "[a-z]{2,5}",
        "[a-z]{2,3}",
        any::<bool>(),
    )
        .prop_map(|(a, b, tld, wild)| {
            if wild {
                format!("*.{b}.{tld}")
            } else {
                format!("{a}.{b}.{tld}")
            }
        })
}

fn credential(tier: Tier) -> impl Strategy<Value = Credential> {
    (
        ident(),
        prop_oneof![
            Just(CredentialType::ApiKey),
            Just(CredentialType::Oauth2),
            Just(CredentialType::Basic)
        ],
        ident(),
        proptest::option::of(ident()),
        proptest::collection::vec("[a-z:.]{1,12}", 0..4),
        "[A-Za-z-]{1,12}",
        prop_oneof![
            Just("Bearer {token}".to_owned()),
            Just("{token}".to_owned()),
            Just("Token {token}".to_owned())
        ],
        "[A-Z][A-Z0-9_]{1,12}",
    )
        .prop_map(
            move |(id, kind, provider, vendor, scopes, header, format, env)| Credential {
                id,
                kind,
                provider,
                vendor,
                scopes,
                inject: match tier {
                    Tier::Sealed => Inject {
                        header: Some(header),
                        format: Some(format),
                        env: None,
                    },
                    Tier::Entrusted => Inject {
                        header: None,
                        format: None,
                        env: Some(env),
                    },
                },
            },
        )
}

fn manifest() -> impl Strategy<Value = Manifest> {
    prop_oneof![Just(Tier::Sealed), Just(Tier::Entrusted)].prop_flat_map(|tier| {
        (
            "[a-z][a-z0-9-]{0,10}[a-z0-9]",
            (0u32..5, 0u32..20, 0u32..100),
            "[0-9a-f]{64}",
            proptest::collection::vec(host(), 0..5),
            proptest::collection::btree_map(ident(), credential(tier), 0..3),
            proptest::collection::btree_map(ident(), any::<bool>(), 1..6),
            "[A-Za-z ]{1,20}",
            proptest::option::of("[A-Za-z ,.]{0,40}"),
        )
            .prop_map(
                move |(name, (ma, mi, pa), digest, egress, creds, tools, display, description)| {
                    Manifest {
                        schema_version: 1,
                        version: format!("{ma}.{mi}.{pa}"),
                        source: Source {
                            repo: "github.com/gigmcp/toolpack".into(),
                            tag: "v0.1.0".into(),
                            package: None,
                        },
                        image: Image {
                            reference: format!("ghcr.io/gigmcp/{name}-mcp"),
                            digest: format!("sha256:{digest}"),
                            entrypoint: "/app/server".into(),
                            builder: None,
                        },
                        name,
                        tier,
                        display_name: display,
                        category: "dev-tools".into(),
                        description,
                        entitlements: Entitlements { egress },
                        credentials: creds
                            .into_iter()
                            .map(|(id, c)| Credential { id, ..c })
                            .collect(),
                        tools: tools
                            .into_iter()
                            .map(|(name, default)| ToolEntry { name, default })
                            .collect(),
                    }
                },
            )
    })
}

/// Rendering choices for one YAML document.
#[derive(Debug, Clone)]
struct Style {
    key_seed: u64,
    flow_seqs: bool,
    quote: u8,
    indent: usize,
    comments: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<u64>(),
        any::<bool>(),
        0u8..3,
        1usize..5,
        any::<bool>(),
    )
        .prop_map(|(key_seed, flow_seqs, quote, indent, comments)| Style {
            key_seed,
            flow_seqs,
            quote,
            indent,
            comments,
        })
}

fn scalar(v: &Value, quote: u8) -> String {
    match v {
        Value::String(s) => {
            let plain_safe = s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-/.".contains(c))
                && s.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
                && !matches!(
                    s.as_str(),
                    "true"
                        | "false"
                        | "null"
                        | "yes"
                        | "no"
                        | "on"
                        | "off"
                        | "y"
                        | "n"
                        | "Y"
                        | "N"
                        | "~"
                );
            match quote {
                0 if plain_safe => s.clone(),
                1 if !s.contains('\'') => format!("'{s}'"),
                _ => serde_json::to_string(s).unwrap(),
            }
        }
        other => other.to_string(),
    }
}

/// Deterministic shuffle of keys from a seed (no extra RNG dependency).
fn ordered_keys(map: &serde_json::Map<String, Value>, seed: u64) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| {
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for b in k.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        h
    });
    keys
}

fn emit(v: &Value, st: &Style, depth: usize, out: &mut String) {
    let pad = " ".repeat(st.indent * depth);
    match v {
        Value::Object(map) => {
            for k in ordered_keys(map, st.key_seed) {
                let child = &map[k];
                if st.comments {
                    out.push_str(&format!("{pad}# about {k}\n"));
                }
                match child {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        emit(child, st, depth + 1, out);
                    }
                    Value::Array(a)
                        if !a.is_empty() && (!st.flow_seqs || a.iter().any(Value::is_object)) =>
                    {
                        out.push_str(&format!("{pad}{k}:\n"));
                        emit(child, st, depth + 1, out);
                    }
                    Value::Array(a) => {
                        let items: Vec<String> = a.iter().map(|x| scalar(x, 2)).collect();
                        out.push_str(&format!("{pad}{k}: [{}]\n", items.join(", ")));
                    }
                    Value::Object(_) => out.push_str(&format!("{pad}{k}: {{}}\n")),
                    _ => out.push_str(&format!("{pad}{k}:   {}\n", scalar(child, st.quote))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) => {
                        let mut inner = String::new();
                        emit(item, st, 0, &mut inner);
                        let inner_pad = " ".repeat(st.indent * depth + 2);
                        for (i, line) in inner.lines().enumerate() {
                            if i == 0 {
                                out.push_str(&format!("{pad}- {line}\n"));
                            } else {
                                out.push_str(&format!("{inner_pad}{line}\n"));
                            }
                        }
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", scalar(item, st.quote))),
                }
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", scalar(v, st.quote))),
    }
}

fn render(m: &Manifest, st: &Style) -> String {
    let mut out = String::new();
    emit(&serde_json::to_value(m).unwrap(), st, 0, &mut out);
    out
}

fn permute<T: Clone>(v: &[T], idx: &[Index]) -> Vec<T> {
    let mut rest = v.to_vec();
    let mut out = Vec::with_capacity(v.len());
    for i in idx.iter().take(v.len()) {
        out.push(rest.remove(i.index(rest.len())));
    }
    out.extend(rest);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn runtime_hash_ignores_key_order_and_formatting(m in manifest(), a in style(), b in style()) {
        let ya = render(&m, &a);
        let yb = render(&m, &b);
        let pa = Manifest::from_yaml(ya.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{ya}")))?;
        let pb = Manifest::from_yaml(yb.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{yb}")))?;
        prop_assert_eq!(&pa, &m);
        prop_assert_eq!(pa.runtime_hash(), pb.runtime_hash());
        // JSON is also accepted YAML, and yaml_serde's own output.
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(Manifest::from_yaml(json.as_bytes()).unwrap().runtime_hash(), m.runtime_hash());
        let own = yaml_serde::to_string(&m).unwrap();
        prop_assert_eq!(Manifest::from_yaml(own.as_bytes()).unwrap().runtime_hash(), m.runtime_hash());
    }

    #[test]
    fn runtime_hash_ignores_set_order_and_display_fields(m in manifest(), idx in proptest::collection::vec(any::<Index>(), 8)) {
        let mut n = m.clone();
        n.entitlements.egress = permute(&m.entitlements.egress, &idx).into_iter().map(|e| e.to_uppercase()).collect();
        n.tools = permute(&m.tools, &idx);
        n.credentials = permute(&m.credentials, &idx);
        for c in &mut n.credentials {
            c.scopes.reverse();
        }
        n.display_name.push_str(" (renamed)");
        n.category = "other".into();
        n.description = Some("changed".into());
        n.source.tag = "v9".into();
        n.image.reference = "ghcr.io/elsewhere/x".into();
        prop_assert_eq!(m.runtime_hash(), n.runtime_hash());
    }

    #[test]
    fn runtime_hash_changes_with_consent_fields(m in manifest(), which in 0usize..6) {
        let mut n = m.clone();
        match which {
            0 => n.image.digest = format!("sha256:{}", "f".repeat(64)),
            1 => n.image.entrypoint = "/app/other".into(),
            2 => n.tier = match m.tier { Tier::Sealed => Tier::Entrusted, Tier::Entrusted => Tier::Sealed },
            3 => n.entitlements.egress.push("added.new-host.example".into()),
            4 => n.tools[0].default = !n.tools[0].default,
            _ => n.credentials.push(Credential {
                id: "zz_extra".into(), kind: CredentialType::Basic, provider: "p".into(), vendor: None,
                scopes: vec![], inject: Inject { header: None, format: None, env: Some("EXTRA".into()) },
            }),
        }
        if n.image.digest != m.image.digest || which != 0 {
            prop_assert_ne!(m.runtime_hash(), n.runtime_hash());
        }
    }

    #[test]
    fn parsers_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Manifest::from_yaml(&bytes);
        let _ = Toolspec::from_yaml(&bytes);
        let _ = lint_manifest("manifests/a/1.0.0.yaml", &bytes, &Denylist::builtin());
    }

    #[test]
    fn parsers_never_panic_on_mutated_documents(
        edits in proptest::collection::vec((any::<Index>(), 0u8..3, any::<u8>()), 1..12)
    ) {
        for (doc, is_spec) in [(CORPUS_LIKE_MANIFEST, false), (CORPUS_LIKE_TOOLSPEC, true)] {
            let mut bytes = doc.as_bytes().to_vec();
            for (at, op, b) in &edits {
                let i = at.index(bytes.len().max(1)).min(bytes.len());
                match op {
                    0 if i < bytes.len() => bytes[i] = *b,
                    1 => bytes.insert(i, *b),
                    _ if i < bytes.len() => { bytes.remove(i); }
                    _ => {}
                }
            }
            if is_spec {
                let m = Manifest::from_yaml(CORPUS_LIKE_MANIFEST.as_bytes()).unwrap();
                let _ = lint_toolspec("manifests/sample/0.1.0.toolspec.yaml", &bytes, Some(&m));
            } else {
                let _ = lint_manifest("manifests/sample/0.1.0.yaml", &bytes, &Denylist::builtin());
            }
        }
    }

    #[test]
    fn egress_policy_agrees_with_patterns(patterns in proptest::collection::vec(host(), 1..6), probe in host(), prefix in "[a-z]{1,5}") {
        let parsed: Vec<EgressPattern> = patterns.iter().map(|p| EgressPattern::parse(p).unwrap()).collect();
        let policy = EgressPolicy::new(parsed.clone());
        let probe = probe.trim_start_matches("*.").to_owned();
        for host in [probe.clone(), format!("{prefix}.{probe}"), probe.to_uppercase() + "."] {
            prop_assert_eq!(policy.allows(&host), parsed.iter().any(|p| p.allows(&host)), "{}", host);
        }
        for p in &parsed {
            match p {
                EgressPattern::Exact(h) => prop_assert!(policy.allows(h)),
                EgressPattern::Wildcard(s) => {
                    let one = format!("{prefix}.{s}");
                    let two = format!("a.{one}");
                    prop_assert!(policy.allows(&one));
                    prop_assert!(policy.allows(&two));
                    prop_assert!(!policy.allows(s) || parsed.iter().any(|q| q.allows(s)));
                }
            }
        }
    }
}

#[test]
fn fixtures_are_valid() {
    let m = Manifest::from_yaml(CORPUS_LIKE_MANIFEST.as_bytes()).unwrap();
    let (_, d) = lint_manifest(
        "manifests/sample/0.1.0.yaml",
        CORPUS_LIKE_MANIFEST.as_bytes(),
        &Denylist::builtin(),
    );
    assert!(d.is_empty(), "{d:?}");
    let (_, d) = lint_toolspec(
        "manifests/sample/0.1.0.toolspec.yaml",
        CORPUS_LIKE_TOOLSPEC.as_bytes(),
        Some(&m),
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn renderer_really_varies_the_text() {
    let m = Manifest::from_yaml(CORPUS_LIKE_MANIFEST.as_bytes()).unwrap();
    let a = render(
        &m,
        &Style {
            key_seed: 1,
            flow_seqs: false,
            quote: 0,
            indent: 2,
            comments: false,
        },
    );
    let b = render(
        &m,
        &Style {
            key_seed: 2,
            flow_seqs: true,
            quote: 2,
            indent: 4,
            comments: true,
        },
    );
    assert_ne!(a, b);
    assert!(
        b.contains('#') && b.contains("\"sample\"") && a.contains("name:   sample"),
        "{a}\n{b}"
    );
    let first_key = |s: &str| {
        s.lines()
            .find(|l| !l.starts_with('#'))
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_owned()
    };
    let keys: std::collections::BTreeSet<String> = (0..8u64)
        .map(|seed| {
            first_key(&render(
                &m,
                &Style {
                    key_seed: seed,
                    flow_seqs: false,
                    quote: 0,
                    indent: 2,
                    comments: false,
                },
            ))
        })
        .collect();
    assert!(keys.len() > 1, "key order never changes: {keys:?}");
    let pa = Manifest::from_yaml(a.as_bytes()).unwrap();
    let pb = Manifest::from_yaml(b.as_bytes()).unwrap();
    assert_eq!(pa.runtime_hash(), pb.runtime_hash());
}
