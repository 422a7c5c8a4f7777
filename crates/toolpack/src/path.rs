//! Path templates (T11): `/api/v2/tickets/{id}`, with placeholders anywhere inside a segment
//! (`leads({leadid})`, `act_{ad_account_id}`, `{property}:runReport`, `{order_id}.json`).
//!
//! Contract: the template's literal text is kept as written (lint checked it is a safe URL
//! path). Each placeholder is replaced by its value's text ([`crate::encode::scalar_text`])
//! percent-encoded as part of one segment: RFC 3986 unreserved characters stay, everything else
//! (including `/`) is encoded. With `allowReserved` the value may span segments: `/` and the
//! other reserved characters that keep the URL's shape stay literal
//! ([`Component::PathReserved`]), but no piece between slashes may be empty, `.` or `..`.
//! Values that are empty, `.` or `..` are refused. A placeholder written inside single quotes
//! (OData `search(q='{q}')`) has each `'` of its value doubled first.

use crate::encode::{Component, encode};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder { name: String, quoted: bool },
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    parts: Vec<Part>,
}

/// A placeholder's value, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathValue {
    pub text: String,
    /// `allowReserved`: `/` and friends stay literal.
    pub reserved: bool,
}

/// Why a path could not be built; each names the placeholder's param.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("`{0}` is required: it is part of the URL path")]
    Missing(String),
    #[error(
        "`{0}` may not be empty, `.` or `..` (nor contain such a piece between slashes): it is part of the URL path"
    )]
    Unsafe(String),
}

impl PathTemplate {
    /// Parses `{name}` placeholders. Lint has checked the braces; an unbalanced one is kept as
    /// literal text.
    pub fn parse(path: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            let Some(len) = rest[open + 1..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + 1 + len];
            let before = &rest[..open];
            let after = &rest[open + 2 + len..];
            if !before.is_empty() {
                parts.push(Part::Literal(before.to_owned()));
            }
            parts.push(Part::Placeholder {
                name: name.to_owned(),
                quoted: before.ends_with('\'') && after.starts_with('\''),
            });
            rest = after;
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Self { parts }
    }

    /// The placeholder names, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder { name, .. } => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The path with each placeholder replaced by `value_of(name)`.
    pub fn render(
        &self,
        value_of: impl Fn(&str) -> Option<PathValue>,
    ) -> Result<String, PathError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Placeholder { name, quoted } => {
                    let v = value_of(name).ok_or_else(|| PathError::Missing(name.clone()))?;
                    out.push_str(&encode_value(name, &v, *quoted)?);
                }
            }
        }
        Ok(out)
    }
}

fn unsafe_piece(s: &str) -> bool {
    s.is_empty() || s == "." || s == ".."
}

fn encode_value(name: &str, v: &PathValue, quoted: bool) -> Result<String, PathError> {
    if unsafe_piece(&v.text) || v.reserved && v.text.split('/').any(unsafe_piece) {
        return Err(PathError::Unsafe(name.to_owned()));
    }
    let text = if quoted {
        v.text.replace('\'', "''")
    } else {
        v.text.clone()
    };
    let component = if v.reserved {
        Component::PathReserved
    } else {
        Component::Strict
    };
    Ok(encode(&text, component))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, values: &[(&str, &str, bool)]) -> Result<String, PathError> {
        PathTemplate::parse(template).render(|n| {
            values
                .iter()
                .find(|(k, _, _)| *k == n)
                .map(|(_, v, r)| PathValue {
                    text: (*v).to_owned(),
                    reserved: *r,
                })
        })
    }

    #[test]
    fn path_encoding_table() {
        let ok = |t: &str, v: &[(&str, &str, bool)]| render(t, v).unwrap();
        // one segment: `/`, spaces, unicode, reserved characters all encoded
        assert_eq!(ok("/t/{id}", &[("id", "a/b", false)]), "/t/a%2Fb");
        assert_eq!(ok("/t/{id}", &[("id", "a b", false)]), "/t/a%20b");
        assert_eq!(ok("/t/{id}", &[("id", "é€", false)]), "/t/%C3%A9%E2%82%AC");
        assert_eq!(
            ok("/t/{id}", &[("id", "a?b#c%d", false)]),
            "/t/a%3Fb%23c%25d"
        );
        assert_eq!(ok("/t/{id}", &[("id", "..a", false)]), "/t/..a");
        // placeholders inside segments
        assert_eq!(
            ok(
                "/api/data/v9.2/leads({leadid})",
                &[("leadid", "4f1c", false)]
            ),
            "/api/data/v9.2/leads(4f1c)"
        );
        assert_eq!(
            ok(
                "/v1beta/{property}:runReport",
                &[("property", "properties/12", true)]
            ),
            "/v1beta/properties/12:runReport"
        );
        assert_eq!(
            ok(
                "/v1beta/{property}:runReport",
                &[("property", "properties/12", false)]
            ),
            "/v1beta/properties%2F12:runReport"
        );
        assert_eq!(
            ok(
                "/admin/orders/{order_id}.json",
                &[("order_id", "42", false)]
            ),
            "/admin/orders/42.json"
        );
        assert_eq!(ok("/act_{id}/ads", &[("id", "7", false)]), "/act_7/ads");
        // OData string literal: quotes doubled, then encoded
        assert_eq!(
            ok("/me/drive/root/search(q='{q}')", &[("q", "it's", false)]),
            "/me/drive/root/search(q='it%27%27s')"
        );
        // reserved keeps `/` but not `?` or `#`
        assert_eq!(ok("/{+p}", &[("+p", "a/b?c", true)]), "/a/b%3Fc");
    }

    #[test]
    fn unsafe_values_are_refused() {
        for v in ["", ".", ".."] {
            assert_eq!(
                render("/t/{id}", &[("id", v, false)]),
                Err(PathError::Unsafe("id".into()))
            );
        }
        for v in ["a/../b", "/a", "a//b", "a/", "./a"] {
            assert_eq!(
                render("/t/{id}", &[("id", v, true)]),
                Err(PathError::Unsafe("id".into())),
                "{v}"
            );
        }
        assert_eq!(render("/t/{id}", &[]), Err(PathError::Missing("id".into())));
        let t = PathTemplate::parse("/a/{x}/b/{y}");
        assert_eq!(t.placeholders().collect::<Vec<_>>(), ["x", "y"]);
    }
}
