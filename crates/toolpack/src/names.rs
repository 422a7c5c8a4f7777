//! Model-safe property names (T7).
//!
//! Contract: every property key of a tool's input schema matches `^[A-Za-z0-9_.-]{1,64}$`, the
//! pattern every model API accepts (Anthropic's rejects the whole tool list when one key fails
//! it). A param name that already matches is kept. Others get an alias: each character outside
//! the set becomes `_`, runs of `_` collapse to one, `_` is trimmed from both ends, the result
//! is cut to 64 bytes (`param` if nothing is left), and a clash with any other property of the
//! tool is resolved by appending `_2`, `_3`, ... (cut so the whole stays within 64 bytes). Names
//! that match keep priority: aliases are assigned after them, in spec order. The original name
//! is what goes on the wire.

use std::collections::HashSet;

/// Longest property name.
pub const MAX_LEN: usize = 64;

/// Whether `name` may be used as a property key as it is.
pub fn is_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The alias base of an unsafe name (before de-duplication).
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    let trimmed = out.trim_matches('_');
    let mut base = if trimmed.is_empty() {
        "param".to_owned()
    } else {
        trimmed.to_owned()
    };
    base.truncate(MAX_LEN);
    base
}

/// Property names for `names` (spec order), one per name, unique, all [`is_safe`].
pub fn property_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let names: Vec<&str> = names.into_iter().collect();
    let mut taken: HashSet<String> = names
        .iter()
        .filter(|n| is_safe(n))
        .map(|n| (*n).to_owned())
        .collect();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if is_safe(name) {
            out.push(name.to_owned());
            continue;
        }
        let base = sanitize(name);
        let mut alias = base.clone();
        let mut n = 2usize;
        while taken.contains(&alias) {
            let suffix = format!("_{n}");
            let mut stem = base.clone();
            stem.truncate(MAX_LEN - suffix.len());
            alias = format!("{stem}{suffix}");
            n += 1;
        }
        taken.insert(alias.clone());
        out.push(alias);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_are_kept_and_others_aliased_uniquely() {
        let got = property_names([
            "filters[search]",
            "filters_search",
            "$filter",
            "filter",
            "team_ids[]",
            "template@odata.bind",
            "[]",
            "on",
            "a.b-c",
        ]);
        assert_eq!(
            got,
            [
                "filters_search_2",
                "filters_search",
                "filter_2",
                "filter",
                "team_ids",
                "template_odata.bind",
                "param",
                "on",
                "a.b-c"
            ]
        );
        let long = "x".repeat(70) + "[]";
        let got = property_names([long.as_str(), &"x".repeat(64)]);
        assert!(got.iter().all(|n| is_safe(n)), "{got:?}");
        assert_ne!(got[0], got[1]);
        assert!(!is_safe(""));
        assert!(!is_safe(&"a".repeat(65)));
        assert!(!is_safe("é"));
    }
}
