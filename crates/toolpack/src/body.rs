//! Request bodies (T14, G6).
//!
//! Contract, given the tool's `encoding` and the body args provided (spec order, absent and
//! `null` left out):
//! - a tool without body params sends no body (`Content-Length: 0`, no `Content-Type`);
//! - `json` (the default): an object of the provided args under their literal names (`{}` when
//!   none was given), `application/json`;
//! - `form`: `application/x-www-form-urlencoded`, pairs as in [`crate::pairs`] (arrays repeat
//!   the key unless `style` says otherwise, objects as JSON);
//! - `multipart`: `multipart/form-data`; a `contentEncoding: base64` param is a file part (its
//!   bytes decoded, `filename` = the param name, `Content-Type` = its `mediaType` or
//!   `application/octet-stream`); other args are text fields (arrays one field per item, objects
//!   as JSON). The boundary is chosen so it occurs in no part;
//! - `binary`: the one base64 param's decoded bytes are the body, `Content-Type` = its
//!   `mediaType` or `application/octet-stream` (no body when the arg is absent).
//!
//! Base64 is accepted in the standard and URL-safe alphabets, padded or not, with whitespace
//! ignored.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use gigmcp_registry::{ContentEncoding, Encoding, Param, ParamType};
use serde_json::{Map, Value};

use crate::encode::scalar_text;
use crate::pairs::{Target, encode_pairs, pairs};

/// Media type of raw bytes without a declared one.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    /// `None` with empty bytes: no body at all.
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Why a body could not be built; names the param.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("`{0}` is not valid base64: give the bytes base64-encoded")]
    Base64(String),
}

/// One provided body arg: its param and value.
pub type Field<'a> = (&'a Param, &'a Value);

/// Decodes a base64 argument (see the module contract).
pub fn decode_base64(name: &str, text: &str) -> Result<Vec<u8>, BodyError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD_PAD_INDIFFERENT
        .decode(&compact)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(&compact))
        .map_err(|_| BodyError::Base64(name.to_owned()))
}

fn is_bytes(p: &Param) -> bool {
    p.content_encoding == Some(ContentEncoding::Base64)
}

/// The body of a tool whose body params are `has_body_params`, with the provided `fields`.
pub fn build(
    encoding: Option<Encoding>,
    has_body_params: bool,
    fields: &[Field<'_>],
) -> Result<Body, BodyError> {
    if !has_body_params {
        return Ok(Body::default());
    }
    match encoding.unwrap_or(Encoding::Json) {
        Encoding::Json => Ok(json_body(fields)),
        Encoding::Form => Ok(form_body(fields)),
        Encoding::Multipart => multipart_body(fields),
        Encoding::Binary => binary_body(fields),
    }
}

fn json_body(fields: &[Field<'_>]) -> Body {
    let object: Map<String, Value> = fields
        .iter()
        .map(|(p, v)| (p.name.clone(), (*v).clone()))
        .collect();
    Body {
        content_type: Some("application/json".into()),
        bytes: Value::Object(object).to_string().into_bytes(),
    }
}

fn form_body(fields: &[Field<'_>]) -> Body {
    let mut out = String::new();
    for (p, v) in fields {
        encode_pairs(&mut out, &pairs(&p.name, v, p.kind, p.style), Target::Form);
    }
    Body {
        content_type: Some("application/x-www-form-urlencoded".into()),
        bytes: out.into_bytes(),
    }
}

fn binary_body(fields: &[Field<'_>]) -> Result<Body, BodyError> {
    let Some((p, v)) = fields.iter().find(|(p, _)| is_bytes(p)) else {
        return Ok(Body::default());
    };
    let bytes = decode_base64(&p.name, v.as_str().unwrap_or_default())?;
    Ok(Body {
        content_type: Some(p.media_type.clone().unwrap_or_else(|| OCTET_STREAM.into())),
        bytes,
    })
}

/// One multipart part: headers after `Content-Disposition`'s name, and content.
struct Part {
    name: String,
    file: Option<String>,
    content: Vec<u8>,
}

/// A `Content-Disposition` parameter value: `"`, CR and LF percent-encoded (as browsers do).
fn quoted(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn multipart_body(fields: &[Field<'_>]) -> Result<Body, BodyError> {
    let mut parts = Vec::new();
    for (p, v) in fields {
        if is_bytes(p) {
            let content = decode_base64(&p.name, v.as_str().unwrap_or_default())?;
            let media = p.media_type.clone().unwrap_or_else(|| OCTET_STREAM.into());
            parts.push(Part {
                name: p.name.clone(),
                file: Some(media),
                content,
            });
            continue;
        }
        let texts = match v {
            Value::Array(items) => items
                .iter()
                .map(|i| scalar_text(i, ParamType::Number))
                .collect(),
            _ => vec![scalar_text(v, p.kind)],
        };
        parts.extend(texts.into_iter().map(|t| Part {
            name: p.name.clone(),
            file: None,
            content: t.into_bytes(),
        }));
    }
    let boundary = boundary_for(&parts);
    let mut out = Vec::new();
    for part in &parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let name = quoted(&part.name);
        match &part.file {
            Some(media) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: {media}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(&part.content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(Body {
        content_type: Some(format!("multipart/form-data; boundary={boundary}")),
        bytes: out,
    })
}

/// A boundary that occurs in no part's content.
fn boundary_for(parts: &[Part]) -> String {
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    (0u64..)
        .map(|n| format!("gigmcp-toolpack-{n:016x}"))
        .find(|b| !parts.iter().any(|p| contains(&p.content, b.as_bytes())))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigmcp_registry::ParamLocation;
    use serde_json::json;

    fn param(name: &str, kind: ParamType) -> Param {
        Param {
            name: name.into(),
            location: ParamLocation::Body,
            kind,
            required: false,
            description: None,
            enum_values: None,
            default: None,
            constant: None,
            from: None,
            allow_reserved: false,
            style: None,
            content_encoding: None,
            media_type: None,
        }
    }

    fn file(name: &str, media: Option<&str>) -> Param {
        Param {
            content_encoding: Some(ContentEncoding::Base64),
            media_type: media.map(str::to_owned),
            ..param(name, ParamType::String)
        }
    }

    #[test]
    fn no_body_params_means_no_body() {
        let b = build(Some(Encoding::Form), false, &[]).unwrap();
        assert_eq!(b, Body::default());
        let b = build(None, true, &[]).unwrap();
        assert_eq!(b.bytes, b"{}");
        assert_eq!(b.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn json_and_form_bodies() {
        let (a, t, d) = (
            param("event.name.html", ParamType::String),
            param("tags", ParamType::Array),
            param("data", ParamType::Object),
        );
        let (va, vt, vd) = (json!("<p>"), json!(["x", "y z"]), json!({"k": 1}));
        let fields: Vec<Field<'_>> = vec![(&a, &va), (&t, &vt), (&d, &vd)];
        let b = build(None, true, &fields).unwrap();
        let parsed: Value = serde_json::from_slice(&b.bytes).unwrap();
        assert_eq!(
            parsed,
            json!({"event.name.html": "<p>", "tags": ["x", "y z"], "data": {"k": 1}})
        );
        let b = build(Some(Encoding::Form), true, &fields).unwrap();
        assert_eq!(
            b.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            String::from_utf8(b.bytes).unwrap(),
            "event.name.html=%3Cp%3E&tags=x&tags=y+z&data=%7B%22k%22%3A1%7D"
        );
    }

    #[test]
    fn multipart_body_has_file_and_text_parts() {
        let (f, n, t) = (
            file("file", Some("application/pdf")),
            param("parent_id", ParamType::Integer),
            param("tags", ParamType::Array),
        );
        let (vf, vn, vt) = (json!("JVBERg=="), json!(7), json!(["a", "b"]));
        let fields: Vec<Field<'_>> = vec![(&f, &vf), (&n, &vn), (&t, &vt)];
        let b = build(Some(Encoding::Multipart), true, &fields).unwrap();
        let ct = b.content_type.unwrap();
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"parent_id\"\r\n\r\n7\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\na\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nb\r\n\
             --{boundary}--\r\n"
        );
        assert_eq!(String::from_utf8(b.bytes).unwrap(), expected);
    }

    #[test]
    fn multipart_boundary_avoids_the_content() {
        let n = param("note", ParamType::String);
        let v = json!("gigmcp-toolpack-0000000000000000");
        let b = build(Some(Encoding::Multipart), true, &[(&n, &v)]).unwrap();
        assert!(
            b.content_type
                .unwrap()
                .ends_with("gigmcp-toolpack-0000000000000001")
        );
    }

    #[test]
    fn binary_body_and_base64_errors() {
        let f = file("content", None);
        let v = json!("aGVs bG8");
        let b = build(Some(Encoding::Binary), true, &[(&f, &v)]).unwrap();
        assert_eq!(b.bytes, b"hello");
        assert_eq!(b.content_type.as_deref(), Some(OCTET_STREAM));
        let url_safe = json!("-_8");
        let b = build(Some(Encoding::Binary), true, &[(&f, &url_safe)]).unwrap();
        assert_eq!(b.bytes, [0xfb, 0xff]);
        let bad = json!("not base64!");
        assert_eq!(
            build(Some(Encoding::Binary), true, &[(&f, &bad)]),
            Err(BodyError::Base64("content".into()))
        );
        assert_eq!(
            build(Some(Encoding::Binary), true, &[]).unwrap(),
            Body::default()
        );
    }
}
