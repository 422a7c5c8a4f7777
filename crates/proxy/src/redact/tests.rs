//! Unit tests of `redact.rs` (kept apart so the module itself stays readable).

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

const KEY: &str = "sk-live/REALKEY+0123456789";

fn set_with(secrets: &[&str]) -> Arc<RedactionSet> {
    let set = Arc::new(RedactionSet::new());
    for s in secrets {
        set.insert(s.as_bytes(), format!("Bearer {s}").as_bytes())
            .unwrap();
    }
    set
}

/// Everything a redactor releases for `chunks`, flush included.
fn run(set: &Arc<RedactionSet>, chunks: &[&[u8]]) -> Vec<u8> {
    let mut r = Redactor::new(Arc::clone(set));
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&r.push(Bytes::copy_from_slice(c)));
    }
    out.extend_from_slice(&r.flush());
    out
}

fn stars(n: usize) -> String {
    "*".repeat(n)
}

#[test]
fn masks_literal_and_transformed_echoes_in_place() {
    let set = set_with(&[KEY]);
    let echoes = [
        KEY.to_string(),
        format!("Bearer {KEY}"),
        STANDARD.encode(KEY),
        URL_SAFE_NO_PAD.encode(KEY),
        STANDARD.encode(format!("user:{KEY}")),
        STANDARD.encode(format!("Bearer {KEY}")),
        KEY.replace('/', "%2F").replace('+', "%2B"),
        KEY.replace('/', "%2f").replace('+', "%2b"),
        KEY.replace('/', "\\/"),
        KEY.replace('+', "\\u002B"),
    ];
    for echo in echoes {
        let body = format!("{{\"x\":\"{echo}\"}}\n");
        let out = String::from_utf8(run(&set, &[body.as_bytes()])).unwrap();
        assert_eq!(out.len(), body.len(), "same length");
        assert!(!out.contains(KEY), "{out}");
        // Nothing of the echo is left but what is not about the secret.
        let left = out.replace('*', "");
        assert!(
            left.len() <= "{\"x\":\"\"}\nBasic dXNlcjp=".len(),
            "{echo} -> {out}"
        );
    }
}

#[test]
fn masks_echoes_split_at_every_point() {
    let set = set_with(&[KEY]);
    for echo in [
        format!("Bearer {KEY}"),
        STANDARD.encode(format!("user:{KEY}")),
        KEY.replace('/', "\\/"),
    ] {
        let body = format!("data: {echo} and again {echo}\n\n");
        let whole = run(&set, &[body.as_bytes()]);
        assert!(!String::from_utf8_lossy(&whole).contains(&echo));
        let b = body.as_bytes();
        for cut1 in 0..=b.len() {
            for cut2 in cut1..=b.len() {
                let out = run(&set, &[&b[..cut1], &b[cut1..cut2], &b[cut2..]]);
                assert_eq!(out, whole, "cuts {cut1} {cut2} of {body}");
            }
        }
    }
}

#[test]
fn one_byte_chunks_give_the_same_result() {
    let set = set_with(&[KEY, "other-secret-value"]);
    let body = format!(
        "a{KEY}b other-secret-value {} {}",
        STANDARD.encode(KEY),
        KEY.replace('/', "%2F")
    );
    let chunks: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
    assert_eq!(run(&set, &chunks), run(&set, &[body.as_bytes()]));
    assert!(
        !String::from_utf8(run(&set, &chunks))
            .unwrap()
            .contains("other-secret")
    );
}

#[test]
fn holds_back_only_what_could_begin_a_form() {
    let set = set_with(&["REALKEY-0123456789"]);
    let mut r = Redactor::new(Arc::clone(&set));
    // An SSE event cannot begin a form: released whole, at once.
    let ev = Bytes::from_static(b"data: {\"ok\":true}\n\n");
    assert_eq!(r.push(ev.clone()), ev);
    assert!(r.is_idle());
    assert_eq!(&r.push(Bytes::from_static(b"abc REALK"))[..], b"abc ");
    assert!(!r.is_idle());
    assert_eq!(&r.push(Bytes::from_static(b"X\n"))[..], b"REALKX\n");
    assert_eq!(&r.push(Bytes::from_static(b"REALKEY-01"))[..], b"");
    assert_eq!(
        &r.push(Bytes::from_static(b"23456789!"))[..],
        b"******************!"
    );
    assert_eq!(&r.push(Bytes::from_static(b"REAL"))[..], b"");
    assert_eq!(&r.flush()[..], b"REAL");
}

#[test]
fn no_secret_no_holding_and_no_copy() {
    let set = Arc::new(RedactionSet::new());
    let mut r = Redactor::new(Arc::clone(&set));
    let data = Bytes::from_static(b"REALKEY-0123456789 untouched");
    assert_eq!(r.push(data.clone()).as_ptr(), data.as_ptr());
    let set = set_with(&["REALKEY-0123456789"]);
    let mut r = Redactor::new(set);
    let data = Bytes::from(b"plain text without it\n".to_vec());
    let out = r.push(data.clone());
    assert_eq!(
        out.as_ptr(),
        data.as_ptr(),
        "no match: released without a copy"
    );
}

#[test]
fn a_secret_added_mid_stream_is_masked_from_then_on() {
    let set = Arc::new(RedactionSet::new());
    let mut r = Redactor::new(Arc::clone(&set));
    assert_eq!(
        &r.push(Bytes::from_static(b"data: start\n\n"))[..],
        b"data: start\n\n"
    );
    // Bytes that could only begin the secret once it is known.
    assert_eq!(
        &r.push(Bytes::from_static(b"data: sk-li"))[..],
        b"data: sk-li"
    );
    set.insert(KEY.as_bytes(), format!("Bearer {KEY}").as_bytes())
        .unwrap();
    let echo = format!("data: {KEY}\n\ndata: {}\n\n", STANDARD.encode(KEY));
    let (a, b) = echo.as_bytes().split_at(11);
    let mut out = r.push(Bytes::copy_from_slice(a)).to_vec();
    out.extend_from_slice(&r.push(Bytes::copy_from_slice(b)));
    out.extend_from_slice(&r.flush());
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        format!(
            "data: {}\n\ndata: {}\n\n",
            stars(KEY.len()),
            stars(STANDARD.encode(KEY).len())
        )
    );
}

#[test]
fn a_secret_added_while_bytes_are_held_rescans_them() {
    let set = set_with(&["first-secret-value"]);
    let mut r = Redactor::new(Arc::clone(&set));
    // "first-" is held: it could begin the first secret.
    assert_eq!(&r.push(Bytes::from_static(b"x first-"))[..], b"x ");
    set.insert(b"first-second-key", b"first-second-key")
        .unwrap();
    assert_eq!(
        &r.push(Bytes::from_static(b"second-key."))[..],
        b"****************."
    );
}

#[test]
fn a_form_ending_inside_held_bytes_stays_masked() {
    // "abcdefgh12" is a form; "abcdefgh12345678" (another secret) extends it: the first
    // match is held (it could grow into the second), then released masked.
    let set = set_with(&["abcdefgh12", "abcdefgh12345678"]);
    let mut r = Redactor::new(Arc::clone(&set));
    assert_eq!(&r.push(Bytes::from_static(b"abcdefgh12"))[..], b"");
    assert_eq!(&r.push(Bytes::from_static(b"34!"))[..], b"**********34!");
}

#[test]
fn headers_values_and_names_are_masked() {
    let set = set_with(&["REALKEY-0123456789"]);
    let mut h = HeaderMap::new();
    h.insert(
        "x-echo",
        HeaderValue::from_static("Bearer REALKEY-0123456789"),
    );
    h.append(
        "x-echo",
        HeaderValue::from_static("UkVBTEtFWS0wMTIzNDU2Nzg5"),
    );
    h.insert("x-realkey-0123456789", HeaderValue::from_static("1"));
    h.insert("x-other", HeaderValue::from_static("fine"));
    set.redact_headers(&mut h);
    let echoes: Vec<_> = h.get_all("x-echo").iter().collect();
    assert_eq!(echoes[0], &stars(25));
    assert_eq!(echoes[1], &stars(24));
    assert!(h.contains_key(format!("x-{}", stars(18)).as_str()), "{h:?}");
    assert_eq!(h["x-other"], "fine");
    assert!(!format!("{h:?}").to_ascii_lowercase().contains("realkey"));
}

#[test]
fn bounds_fail_closed_without_printing_the_secret() {
    let set = RedactionSet::new();
    let long = "k".repeat(MAX_SECRET_LEN + 1);
    let err = set.insert(long.as_bytes(), long.as_bytes()).unwrap_err();
    assert!(!err.to_string().contains("kkkk"));
    for i in 0..MAX_SECRETS {
        set.insert(format!("secret-number-{i:04}").as_bytes(), b"x")
            .unwrap();
    }
    assert_eq!(
        set.insert(b"one-too-many-secret", b"x"),
        Err(RedactionError::TooManySecrets)
    );
    // Known values are still accepted (no new masking needed).
    set.insert(b"secret-number-0001", b"x").unwrap();
    assert!(!format!("{set:?}").contains("secret-number"));
}

#[test]
fn long_secrets_are_masked_in_every_form_too() {
    let key = format!(
        "eyJhbGciOi.{}/sig+x",
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ".repeat(20)
    );
    let set = set_with(&[&key]);
    for echo in [
        key.clone(),
        key.replace('/', "\\/"),
        key.replace('/', "%2F").replace('+', "%2B"),
        STANDARD.encode(&key),
        STANDARD.encode(format!("u:{key}")),
    ] {
        let body = format!("[\"{echo}\"]");
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(7).collect();
        let out = String::from_utf8(run(&set, &chunks)).unwrap();
        assert!(out.starts_with("[\"") && out.ends_with("\"]"), "{out}");
        let inner = &out[2..out.len() - 2];
        assert!(inner.bytes().filter(|&b| b != MASK).count() <= 4, "{out}");
    }
}
