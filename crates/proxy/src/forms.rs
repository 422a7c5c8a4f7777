//! The forms in which an injected secret is masked in what a sandbox receives.
//!
//! Contract: [`masked_forms`] turns the secret and the header value that carried it into a
//! finite, deduplicated list of byte strings. Each is what a common encoder produces from that
//! value, so an upstream that echoes it back encoded still hands the sandbox only `*`s. The
//! list is the same on every call for the same input; nothing here logs or returns errors.
//!
//! For the secret (and, when the secret is base64 of printable text as in a `Basic` token, for
//! that text `user:password`, and for the password alone when it has at least 8 bytes):
//!
//! * the literal bytes;
//! * **percent-encoding** as done by RFC 3986 encoders (`rawurlencode`, `encodeURIComponent`,
//!   `encodeURI`, Python `quote`/`quote_plus`, Go `QueryEscape`/`PathEscape`, WHATWG form
//!   encoding, PHP `urlencode`, Java `URLEncoder`, .NET `WebUtility.UrlEncode`) and by an encoder
//!   escaping every non-alphanumeric byte; space as `%20` or `+`; hex digits upper and lower case;
//! * **JSON string escaping** as done by minimal encoders (`JSON.stringify`, serde_json,
//!   Jackson), PHP (`\/`, and `\uXXXX` for non-ASCII), Python (`\uXXXX` for non-ASCII), Go
//!   (`\u003c` for `<`, `>`, `&`, U+2028, U+2029), .NET `System.Text.Json` (`\u0022`, `\u0027`,
//!   `\u002B`, … and non-ASCII), and an encoder escaping every non-alphanumeric character as
//!   `\uXXXX`; hex digits upper and lower case;
//! * **base64 and base64url**, padded and unpadded, of the value on its own and of the value at
//!   the end of a longer encoded input at each of the three byte alignments (as in
//!   `Basic base64(user:secret)`); plus, at each alignment, the run of characters fully
//!   determined by the value when it sits anywhere inside a longer encoded input, when that run
//!   is at least [`MIN_RUN`] characters long (shorter runs would mask unrelated text);
//! * the percent- and JSON-escaped forms of each base64 form (`+`, `/`, `=` escaped).
//!
//! For the header value that carried it (`Bearer sk-…`): the literal and its base64 and
//! base64url encodings, padded and not, with their escapes. Its other forms contain the
//! secret's (percent and JSON escaping work character by character, and a base64 run of the
//! secret lies inside any base64 encoding of it), so they are masked where it matters.
//!
//! Out of scope (see `docs/proxy.md`): compressed or encrypted echoes, base64 with line breaks,
//! double encoding, case changes, and arbitrary re-encodings an upstream may choose.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use zeroize::Zeroizing;

/// Shortest base64 run (characters fully determined by the value, the value embedded in a
/// longer encoded input) that is masked. Shorter runs match unrelated base64 text too often.
pub(crate) const MIN_RUN: usize = 16;

/// Shortest decoded text taken as the real credential behind a base64 secret (`user:pass`).
const MIN_DECODED: usize = 6;

/// Shortest password (after the `:` of a decoded `user:pass`) masked on its own; shorter ones
/// would mask unrelated text.
const MIN_PASSWORD: usize = 8;

/// A percent-encoder: the bytes it leaves as they are besides ASCII letters and digits, and
/// whether it writes space as `+`.
struct PercentProfile {
    literal: &'static [u8],
    plus_space: bool,
}

const PERCENT_PROFILES: &[PercentProfile] = &[
    // RFC 3986 unreserved: rawurlencode, encodeURIComponent-like libraries, Go PathEscape of
    // most bytes, Python quote(safe=""), curl --data-urlencode, .NET Uri.EscapeDataString.
    PercentProfile {
        literal: b"-._~",
        plus_space: false,
    },
    // The same with `+` for space: Go QueryEscape, Python quote_plus, Ruby CGI.escape.
    PercentProfile {
        literal: b"-._~",
        plus_space: true,
    },
    // Python urllib.parse.quote (safe="/").
    PercentProfile {
        literal: b"-._~/",
        plus_space: false,
    },
    // WHATWG application/x-www-form-urlencoded (URLSearchParams), Java URLEncoder.
    PercentProfile {
        literal: b"*-._",
        plus_space: true,
    },
    // PHP urlencode.
    PercentProfile {
        literal: b"-._",
        plus_space: true,
    },
    // .NET WebUtility.UrlEncode / HttpUtility.UrlEncode.
    PercentProfile {
        literal: b"-_.!*()",
        plus_space: true,
    },
    // JavaScript encodeURIComponent.
    PercentProfile {
        literal: b"-_.!~*'()",
        plus_space: false,
    },
    // JavaScript encodeURI.
    PercentProfile {
        literal: b"-_.!~*'();,/?:@&=+$#",
        plus_space: false,
    },
    // Go url.PathEscape (path segment).
    PercentProfile {
        literal: b"-._~$&+,:;=@",
        plus_space: false,
    },
    // Every byte but letters and digits.
    PercentProfile {
        literal: b"",
        plus_space: false,
    },
];

/// A JSON string encoder: which characters it writes as escapes beyond the mandatory ones
/// (`"`, `\`, control characters).
#[derive(Clone, Copy, Default)]
struct JsonProfile {
    /// `/` as `\/` (PHP).
    slash: bool,
    /// `<`, `>`, `&`, U+2028, U+2029 as `\uXXXX` (Go, Rails).
    html: bool,
    /// .NET's default encoder: `"` `'` `&` `+` `<` `>` and backquote as `\uXXXX`.
    dotnet: bool,
    /// Every non-ASCII character as `\uXXXX` (UTF-16 surrogate pairs above U+FFFF).
    non_ascii: bool,
    /// Every character but ASCII letters and digits as `\uXXXX`.
    all: bool,
}

const JSON_PROFILES: &[JsonProfile] = &[
    // JSON.stringify, serde_json, Jackson, Python with ensure_ascii=False.
    JsonProfile {
        slash: false,
        html: false,
        dotnet: false,
        non_ascii: false,
        all: false,
    },
    // PHP json_encode (default flags).
    JsonProfile {
        slash: true,
        html: false,
        dotnet: false,
        non_ascii: true,
        all: false,
    },
    // PHP json_encode with JSON_UNESCAPED_UNICODE.
    JsonProfile {
        slash: true,
        html: false,
        dotnet: false,
        non_ascii: false,
        all: false,
    },
    // Python json.dumps (ensure_ascii=True).
    JsonProfile {
        slash: false,
        html: false,
        dotnet: false,
        non_ascii: true,
        all: false,
    },
    // Go encoding/json, Rails to_json.
    JsonProfile {
        slash: false,
        html: true,
        dotnet: false,
        non_ascii: false,
        all: false,
    },
    // .NET System.Text.Json (JavaScriptEncoder.Default).
    JsonProfile {
        slash: false,
        html: false,
        dotnet: true,
        non_ascii: true,
        all: false,
    },
    // Every character but letters and digits.
    JsonProfile {
        slash: false,
        html: false,
        dotnet: false,
        non_ascii: false,
        all: true,
    },
];

/// Every masked form of `secret` and of `rendered` (the header value that carried it). See the
/// module docs for the list. Forms are deduplicated; none is empty.
///
/// The secret (and the text a base64 secret stands for) gets every form. The header value gets
/// its literal and its whole base64 encodings (and their escapes): its percent- and
/// JSON-escaped forms, and base64 runs inside longer inputs, contain those of the secret, which
/// are masked already.
pub(crate) fn masked_forms(secret: &[u8], rendered: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut primary = vec![Zeroizing::new(secret.to_vec())];
    if let Some(text) = decoded_text(secret) {
        // `user:password`: the password alone is the secret too.
        if let Some(colon) = text.iter().position(|b| *b == b':')
            && text.len() - colon > MIN_PASSWORD
        {
            primary.push(Zeroizing::new(text[colon + 1..].to_vec()));
        }
        primary.push(text);
    }
    for source in &primary {
        out.push(source.clone());
        escaped_forms(source, &mut out);
        for b64 in base64_forms(source, true) {
            escaped_forms(&b64, &mut out);
            out.push(b64);
        }
    }
    if rendered != secret {
        out.push(Zeroizing::new(rendered.to_vec()));
        for b64 in base64_forms(rendered, false) {
            escaped_forms(&b64, &mut out);
            out.push(b64);
        }
    }
    out.retain(|f| !f.is_empty());
    sort_dedup(&mut out);
    out
}

/// Sorts byte strings and removes duplicates.
pub(crate) fn sort_dedup(forms: &mut Vec<Zeroizing<Vec<u8>>>) {
    forms.sort_unstable_by(|a, b| a.as_slice().cmp(b.as_slice()));
    forms.dedup_by(|a, b| a.as_slice() == b.as_slice());
}

/// Percent- and JSON-escaped forms of `value`, each in upper- and lower-case hex.
fn escaped_forms(value: &[u8], out: &mut Vec<Zeroizing<Vec<u8>>>) {
    for upper in [true, false] {
        for p in PERCENT_PROFILES {
            out.push(percent_encode(value, p, upper));
        }
        if let Ok(text) = std::str::from_utf8(value) {
            for p in JSON_PROFILES {
                out.push(json_escape(text, *p, upper));
            }
        }
    }
}

/// The printable text a base64 secret stands for (a pre-encoded `Basic` token's `user:pass`),
/// if `secret` is padded standard base64 of at least [`MIN_DECODED`] printable ASCII bytes.
fn decoded_text(secret: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if !secret.len().is_multiple_of(4) {
        return None;
    }
    let decoded = Zeroizing::new(STANDARD.decode(secret).ok()?);
    let printable = decoded.iter().all(|b| (0x20..0x7f).contains(b));
    (decoded.len() >= MIN_DECODED && printable).then_some(decoded)
}

fn hex_digit(n: u8, upper: bool) -> u8 {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    digits[usize::from(n & 0x0f)]
}

fn percent_encode(value: &[u8], p: &PercentProfile, upper: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        if b.is_ascii_alphanumeric() || p.literal.contains(&b) {
            out.push(b);
        } else if b == b' ' && p.plus_space {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', hex_digit(b >> 4, upper), hex_digit(b, upper)]);
        }
    }
    out
}

fn push_unicode_escape(out: &mut Vec<u8>, c: char, upper: bool) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            // The mask keeps one hex digit, which always fits in a byte.
            out.push(hex_digit(((*unit >> shift) & 0x0f) as u8, upper));
        }
    }
}

fn json_escape(text: &str, p: JsonProfile, upper: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 2));
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let dotnet_special = matches!(c, '"' | '\'' | '&' | '+' | '<' | '>' | '`');
        let html_special = matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        if p.all && !c.is_ascii_alphanumeric() {
            push_unicode_escape(&mut out, c, upper);
            continue;
        }
        match c {
            _ if p.dotnet && dotnet_special => push_unicode_escape(&mut out, c, upper),
            _ if p.html && html_special => push_unicode_escape(&mut out, c, upper),
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '/' if p.slash => out.extend_from_slice(b"\\/"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            _ if c < ' ' => push_unicode_escape(&mut out, c, upper),
            _ if !c.is_ascii() && (p.non_ascii || p.dotnet) => {
                push_unicode_escape(&mut out, c, upper);
            }
            _ => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    out
}

/// Base64 and base64url forms of `value`: see the module docs. Without `runs`, only the
/// encodings of `value` on its own (padded and not).
fn base64_forms(value: &[u8], runs: bool) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = Vec::new();
    let alignments = if runs { 0..3usize } else { 0..1 };
    for align in alignments {
        // The value after `align` bytes of an encoded input; the zero bytes stand for whatever
        // precedes it, and the characters they touch are dropped below.
        let mut input = Zeroizing::new(vec![0u8; align]);
        input.extend_from_slice(value);
        let std_padded = Zeroizing::new(STANDARD.encode(&*input).into_bytes());
        let bits = 8 * input.len();
        // First character made only of the value's bits, and the end of the run of such
        // characters when more input follows the value.
        let first = (8 * align).div_ceil(6);
        let core_end = bits / 6;
        // Without padding, the encoding of an input ending with the value.
        let tail_end = bits.div_ceil(6);
        let core_long = runs && core_end.saturating_sub(first) >= MIN_RUN;
        let mut ranges = Vec::new();
        if core_long {
            ranges.push(first..core_end);
        }
        if core_long || align == 0 {
            ranges.push(first..tail_end);
            ranges.push(first..std_padded.len());
        }
        debug_assert_eq!(
            STANDARD_NO_PAD.encode(&*input).len(),
            tail_end,
            "unpadded length"
        );
        for range in ranges {
            let std_form = Zeroizing::new(std_padded[range].to_vec());
            let url_form = Zeroizing::new(
                std_form
                    .iter()
                    .map(|&b| match b {
                        b'+' => b'-',
                        b'/' => b'_',
                        other => other,
                    })
                    .collect::<Vec<u8>>(),
            );
            out.push(std_form);
            out.push(url_form);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

    fn forms(secret: &str, rendered: &str) -> Vec<String> {
        masked_forms(secret.as_bytes(), rendered.as_bytes())
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect()
    }

    fn has(all: &[String], form: &str) -> bool {
        all.iter().any(|f| f == form)
    }

    #[test]
    fn literal_and_header_value() {
        let f = forms(
            "sk-live-0123456789abcdef",
            "Bearer sk-live-0123456789abcdef",
        );
        assert!(has(&f, "sk-live-0123456789abcdef"));
        assert!(has(&f, "Bearer sk-live-0123456789abcdef"));
        assert!(f.iter().all(|x| !x.is_empty()));
        // The header value's escaped forms hold a masked form of the secret.
        for escaped in [
            "Bearer%20sk-live-0123456789abcdef",
            "Bearer+sk-live-0123456789abcdef",
            "Bearer\\u0020sk\\u002dlive\\u002d0123456789abcdef",
            "Bearer%20sk%2Dlive%2D0123456789abcdef",
        ] {
            assert!(
                f.iter()
                    .any(|form| form.len() >= 23 && escaped.contains(form.as_str())),
                "{escaped}"
            );
        }
    }

    #[test]
    fn base64_full_forms_match_the_engines() {
        let s = "sk/live+0123456789abcdef?>";
        let f = forms(s, &format!("Bearer {s}"));
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            assert!(has(&f, &engine.encode(s)), "{}", engine.encode(s));
            let header = format!("Bearer {s}");
            assert!(
                has(&f, &engine.encode(&header)),
                "{}",
                engine.encode(header)
            );
        }
    }

    #[test]
    fn base64_runs_cover_every_alignment_inside_a_longer_input() {
        let s = "REALKEY-0123456789-abcdefghij";
        let f = forms(s, s);
        for prefix in ["", "u", "us", "user:", "ab:", "x:"] {
            for suffix in ["", ":tail", "x", "yz"] {
                let whole = format!("{prefix}{s}{suffix}");
                for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE] {
                    let enc = engine.encode(&whole);
                    let covered = f
                        .iter()
                        .any(|form| form.len() >= MIN_RUN && enc.contains(form));
                    assert!(covered, "{whole:?} as {enc} holds no masked run");
                }
            }
        }
        // At the end of the input (Basic user:secret), the whole tail is a form.
        let basic = STANDARD.encode(format!("user:{s}"));
        let tail = f
            .iter()
            .filter(|form| basic.ends_with(form.as_str()))
            .map(String::len)
            .max()
            .unwrap();
        assert!(basic.len() - tail <= 8, "{basic}: only {tail} chars masked");
    }

    #[test]
    fn short_runs_are_not_masked() {
        // 9 bytes: the full encoding is a form, but no embedded run of 16 characters exists.
        let f = forms("abcdefghi", "abcdefghi");
        assert!(has(&f, "YWJjZGVmZ2hp"));
        let b64ish = f.iter().filter(|x| {
            x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b))
        });
        for x in b64ish {
            assert!(
                x == "abcdefghi" || x == "YWJjZGVmZ2hp" || x.len() >= MIN_RUN,
                "{x}"
            );
        }
    }

    #[test]
    fn percent_forms() {
        let f = forms("a/b+c d~é", "a/b+c d~é");
        for form in [
            "a%2Fb%2Bc%20d~%C3%A9",
            "a%2fb%2bc%20d~%c3%a9",
            "a%2Fb%2Bc+d~%C3%A9",
            "a/b%2Bc%20d~%C3%A9",
            "a%2Fb%2Bc+d%7E%C3%A9",
            "a/b+c%20d~%C3%A9",
            "a%2Fb%2Bc%20d%7E%C3%A9",
        ] {
            assert!(has(&f, form), "{form} missing from {f:?}");
        }
    }

    #[test]
    fn json_forms() {
        let f = forms("k/<&>\"'+é\u{1F600}", "x");
        for form in [
            r#"k/<&>\"'+é😀"#,
            r#"k\/<&>\"'+\u00e9\ud83d\ude00"#,
            r#"k\/<&>\"'+é😀"#,
            r#"k/<&>\"'+\u00e9\ud83d\ude00"#,
            r#"k/\u003c\u0026\u003e\"'+é😀"#,
            r#"k/\u003C\u0026\u003E\"'+é😀"#,
            r#"k/\u003C\u0026\u003E\u0022\u0027\u002B\u00E9\uD83D\uDE00"#,
            r#"k\u002f\u003c\u0026\u003e\u0022\u0027\u002b\u00e9\ud83d\ude00"#,
        ] {
            assert!(has(&f, form), "{form} missing from {f:?}");
        }
        let f = forms("a\\b\n\u{1}", "x");
        assert!(has(&f, r"a\\b\n\u0001"));
    }

    #[test]
    fn escaped_base64_forms() {
        // Standard base64 of this value contains `/` and `+`.
        let s = "\u{3f}\u{3f}\u{3f}>>>~~~";
        let enc = STANDARD.encode(s);
        assert!(enc.contains('/') || enc.contains('+'), "{enc}");
        let f = forms(s, s);
        assert!(has(&f, &enc.replace('/', "\\/")));
        assert!(has(
            &f,
            &enc.replace('/', "%2F")
                .replace('+', "%2B")
                .replace('=', "%3D")
        ));
    }

    #[test]
    fn a_basic_token_s_password_is_masked_alone_too() {
        let token = STANDARD.encode("agent@example.com:hunter2-long-password");
        let f = forms(&token, &format!("Basic {token}"));
        assert!(
            f.iter().any(|x| x == "hunter2-long-password"),
            "password alone"
        );
        assert!(
            f.iter().any(|x| x == "aHVudGVyMi1sb25nLXBhc3N3b3Jk"),
            "its base64 too"
        );
        let short = STANDARD.encode("agent@example.com:short");
        let f = forms(&short, &format!("Basic {short}"));
        assert!(
            !f.iter().any(|x| x == "short"),
            "a short password is not masked alone"
        );
    }

    #[test]
    fn basic_token_is_masked_decoded_too() {
        let token = STANDARD.encode("alice:s3cret-pass");
        let f = forms(&token, &format!("Basic {token}"));
        assert!(has(&f, "alice:s3cret-pass"));
        assert!(has(&f, "alice%3As3cret-pass"));
        // A random key that happens to decode as base64 to bytes is not treated as text.
        let f = forms("0123456789abcdef", "0123456789abcdef");
        assert!(f.iter().all(|x| x.is_ascii()));
    }

    #[test]
    fn the_set_is_finite_and_deterministic() {
        let a = forms(
            "sk-proj-AbCdEf0123456789/+=",
            "Bearer sk-proj-AbCdEf0123456789/+=",
        );
        let b = forms(
            "sk-proj-AbCdEf0123456789/+=",
            "Bearer sk-proj-AbCdEf0123456789/+=",
        );
        assert_eq!(a, b);
        assert!(a.len() < 600, "{} forms", a.len());
    }
}
