//! The placeholder-to-secret swap: the reason the proxy exists.
//!
//! A sealed server is given a placeholder instead of its owner's secret. On the way out, the
//! proxy puts the real secret where the placeholder was, but only where the credential's rules
//! allow it. Contract:
//!
//! * A placeholder may appear only in the header its [`Injection`] names. Anywhere else (another
//!   header, the path, the query: [`check_target`]) the request is refused
//!   ([`DenyReason::PlaceholderMisuse`]) and nothing of it is forwarded.
//! * A header named by an injection that carries its placeholder is, when the tunnel host is in
//!   the credential's host scope ([`Injection::may_send_to`]), **replaced whole** by the
//!   injection's trusted format filled with the secret (`Bearer {token}`: never the sandbox's
//!   own text around the placeholder); when the host is outside the scope, **removed** (neither
//!   the secret nor the placeholder goes out) and the credential reported as withheld.
//! * A credential that could not be fetched, or that does not fit in a header value, fails the
//!   request closed ([`DenyReason::CredentialUnavailable`]).
//! * Headers are judged in order and the first refusal wins. Every secret written before it is
//!   reported in [`Swap::injected`]; the caller adds each to the registration's redaction set
//!   before the request leaves (or is refused), and only then sends.
//!
//! Everything here is pure (no I/O, no clock, no logging). The one piece of I/O the swap needs,
//! fetching secrets, is the caller's: [`wanted`] names the credentials [`swap`] will need, in
//! the order it will need them, and the answers go back in as a [`Fetched`].
//!
//! Hot path: every request of a registration with injection rules goes through [`wanted`] and
//! [`swap`] (two passes over its header values); other registrations skip both.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use zeroize::Zeroizing;

use crate::audit::DenyReason;
use crate::identity::Injection;

/// Refuses a request target (path and query) carrying any placeholder.
pub(crate) fn check_target(
    path_and_query: &str,
    injections: &[Injection],
) -> Result<(), DenyReason> {
    if injections
        .iter()
        .any(|i| path_and_query.contains(&i.placeholder))
    {
        return Err(DenyReason::PlaceholderMisuse);
    }
    Ok(())
}

/// How one header value stands toward the injections.
enum Claim<'a> {
    /// Carries no placeholder.
    Plain,
    /// Carries the placeholder of this injection, in its header (the first such injection).
    For(&'a Injection),
    /// Carries a placeholder outside its header.
    Misplaced,
}

/// The length of the shortest placeholder: a shorter value cannot carry one.
fn shortest_placeholder(injections: &[Injection]) -> usize {
    injections
        .iter()
        .map(|i| i.placeholder.len())
        .min()
        .unwrap_or(usize::MAX)
}

/// Classifies one header value (`shortest`: [`shortest_placeholder`], which lets most values
/// through without a look). The single rule both [`wanted`] and [`swap`] follow.
#[inline]
fn classify<'a>(
    injections: &'a [Injection],
    shortest: usize,
    name: &HeaderName,
    value: &[u8],
) -> Claim<'a> {
    if value.len() < shortest {
        return Claim::Plain;
    }
    let carries = |i: &Injection| contains(value, i.placeholder.as_bytes());
    match injections.iter().find(|i| i.header == *name && carries(i)) {
        Some(inj) => Claim::For(inj),
        None if injections.iter().any(carries) => Claim::Misplaced,
        None => Claim::Plain,
    }
}

/// Whether `needle` (non-empty) occurs in `haystack`. Compares only where the first byte
/// matches: several times faster than comparing a window at every position on long values
/// (cookies), which matters because every header value is scanned twice ([`wanted`], [`swap`]).
#[inline]
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return false;
    };
    let Some(last) = haystack.len().checked_sub(needle.len()) else {
        return false;
    };
    haystack[..=last]
        .iter()
        .enumerate()
        .any(|(i, &b)| b == first && haystack[i + 1..i + needle.len()] == *rest)
}

/// The credentials [`swap`] will look up for these headers toward `host`, in the order it will
/// need them: those whose placeholder sits in their own header with `host` in their scope, up to
/// the first misplaced placeholder (where the swap refuses and needs nothing more). A credential
/// carried by several headers comes once per header: fetch each once ([`Fetched::has`]). A
/// caller that fetches in this order may stop at the first failure: the swap refuses there
/// before it needs any later one. Lazy, so it allocates nothing.
pub(crate) fn wanted<'h, 'i>(
    headers: &'h HeaderMap,
    injections: &'i [Injection],
    host: &'h str,
) -> impl Iterator<Item = &'i Injection> + 'h
where
    'i: 'h,
{
    let shortest = shortest_placeholder(injections);
    headers
        .iter()
        .map(move |(name, value)| classify(injections, shortest, name, value.as_bytes()))
        .take_while(|claim| !matches!(claim, Claim::Misplaced))
        .filter_map(|claim| match claim {
            Claim::For(inj) if inj.may_send_to(host) => Some(inj),
            _ => None,
        })
}

/// What the credential source answered, per credential id: the secret, or why there is none
/// (the text of the [`DenyReason::CredentialUnavailable`] refusal).
#[derive(Default)]
pub(crate) struct Fetched<'a> {
    answers: Vec<(&'a str, Result<Zeroizing<String>, String>)>,
}

impl<'a> Fetched<'a> {
    /// Records the answer for `credential_id` (the first answer for an id is kept).
    pub(crate) fn insert(
        &mut self,
        credential_id: &'a str,
        answer: Result<Zeroizing<String>, String>,
    ) {
        if !self.has(credential_id) {
            self.answers.push((credential_id, answer));
        }
    }

    /// Whether an answer for `credential_id` is recorded.
    pub(crate) fn has(&self, credential_id: &str) -> bool {
        self.get(credential_id).is_some()
    }

    fn get(&self, credential_id: &str) -> Option<&Result<Zeroizing<String>, String>> {
        self.answers
            .iter()
            .find(|(id, _)| *id == credential_id)
            .map(|(_, answer)| answer)
    }
}

/// One secret written into the outgoing headers.
pub(crate) struct Injected<'a> {
    pub(crate) injection: &'a Injection,
    pub(crate) secret: &'a str,
    /// The header value that carries it (the injection's format, filled in).
    pub(crate) rendered: Zeroizing<String>,
}

/// Send these headers, or refuse the request.
#[derive(Debug)]
pub(crate) enum Verdict {
    Send(HeaderMap),
    Refuse(DenyReason),
}

/// The outcome of [`swap`].
pub(crate) struct Swap<'a> {
    pub(crate) verdict: Verdict,
    /// Secrets written, in header order, once per injection (also on a refusal: those written
    /// before it). Each goes into the registration's redaction set before anything is sent.
    pub(crate) injected: Vec<Injected<'a>>,
    /// Ids of credentials withheld because `host` is outside their scope (their headers were
    /// removed), each once.
    pub(crate) withheld: Vec<String>,
}

/// Swaps placeholders for secrets in `headers` (hop-by-hop headers already removed) for a
/// request to `host`, with the secrets `fetched` for the credentials [`wanted`] named.
pub(crate) fn swap<'a>(
    headers: HeaderMap,
    injections: &'a [Injection],
    host: &str,
    fetched: &'a Fetched<'_>,
) -> Swap<'a> {
    let mut out = HeaderMap::with_capacity(headers.len());
    let mut injected: Vec<Injected<'a>> = Vec::new();
    let mut withheld: Vec<String> = Vec::new();
    let shortest = shortest_placeholder(injections);
    let mut current: Option<HeaderName> = None;
    for (name, value) in headers {
        if let Some(n) = name {
            current = Some(n);
        }
        let Some(name) = current.clone() else {
            continue;
        };
        let value = match classify(injections, shortest, &name, value.as_bytes()) {
            Claim::Plain => value,
            Claim::For(inj) if !inj.may_send_to(host) => {
                // Allowlisted, but not a host this credential is for: the header goes
                // nowhere, neither with the secret nor with the placeholder.
                if !withheld.contains(&inj.credential_id) {
                    withheld.push(inj.credential_id.clone());
                }
                continue;
            }
            Claim::For(inj) => match render(inj, fetched) {
                Ok((value, secret, rendered)) => {
                    if !injected.iter().any(|i| std::ptr::eq(i.injection, inj)) {
                        injected.push(Injected {
                            injection: inj,
                            secret,
                            rendered,
                        });
                    }
                    value
                }
                Err(reason) => {
                    return Swap {
                        verdict: Verdict::Refuse(reason),
                        injected,
                        withheld,
                    };
                }
            },
            Claim::Misplaced => {
                return Swap {
                    verdict: Verdict::Refuse(DenyReason::PlaceholderMisuse),
                    injected,
                    withheld,
                };
            }
        };
        out.append(name, value);
    }
    Swap {
        verdict: Verdict::Send(out),
        injected,
        withheld,
    }
}

/// The trusted header value for `inj`, with its secret and the rendered text.
fn render<'a>(
    inj: &Injection,
    fetched: &'a Fetched<'_>,
) -> Result<(HeaderValue, &'a str, Zeroizing<String>), DenyReason> {
    let id = &inj.credential_id;
    let secret = match fetched.get(id) {
        Some(Ok(secret)) => secret.as_str(),
        Some(Err(why)) => return Err(DenyReason::CredentialUnavailable(why.clone())),
        None => {
            return Err(DenyReason::CredentialUnavailable(format!(
                "secret {id:?} was not fetched"
            )));
        }
    };
    let rendered = inj.format.render(secret);
    let mut value = HeaderValue::from_str(&rendered).map_err(|_| {
        DenyReason::CredentialUnavailable(format!("secret {id:?} is not a valid header value"))
    })?;
    value.set_sensitive(true);
    Ok((value, secret, rendered))
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "api.example.com";
    const TENANT: &str = "other.zendesk.com";
    const PLACEHOLDER: &str = "GIGMCP-SEALED-aaaa1111";
    const OTHER_PLACEHOLDER: &str = "GIGMCP-SEALED-bbbb2222";

    fn injections() -> Vec<Injection> {
        vec![
            Injection::new(
                "api_key",
                "authorization",
                PLACEHOLDER,
                "Bearer {token}",
                [API],
            )
            .unwrap(),
            Injection::new("other", "x-api-key", OTHER_PLACEHOLDER, "{token}", [API]).unwrap(),
        ]
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        h
    }

    fn fetched<'a>(answers: &[(&'a str, Result<&str, &str>)]) -> Fetched<'a> {
        let mut f = Fetched::default();
        for (id, answer) in answers {
            let answer = answer
                .map(|s| Zeroizing::new(s.to_owned()))
                .map_err(str::to_owned);
            f.insert(id, answer);
        }
        f
    }

    fn wanted_ids<'a>(h: &'a HeaderMap, inj: &'a [Injection], host: &'a str) -> Vec<&'a str> {
        wanted(h, inj, host)
            .map(|i| i.credential_id.as_str())
            .collect()
    }

    fn sent<'s>(swap: &'s Swap<'_>) -> &'s HeaderMap {
        match &swap.verdict {
            Verdict::Send(h) => h,
            Verdict::Refuse(r) => panic!("refused: {r}"),
        }
    }

    fn refused<'s>(swap: &'s Swap<'_>) -> &'s DenyReason {
        match &swap.verdict {
            Verdict::Refuse(r) => r,
            Verdict::Send(h) => panic!("sent: {h:?}"),
        }
    }

    #[test]
    fn contains_finds_a_needle_anywhere() {
        assert!(contains(b"abc", b"abc"));
        assert!(contains(b"xxabc", b"abc"));
        assert!(contains(b"abcxx", b"abc"));
        assert!(contains(b"aabab-abc", b"abc"));
        assert!(!contains(b"ab", b"abc"));
        assert!(!contains(b"abdabc-", b"abcd"));
        assert!(!contains(b"abc", b""));
        assert!(!contains(b"", b"a"));
    }

    #[test]
    fn placeholder_in_its_header_is_replaced_by_the_trusted_format() {
        let inj = injections();
        // The sandbox's own text around the placeholder does not survive: the whole value is
        // the trusted format.
        let h = headers(&[
            ("accept", "*/*"),
            ("authorization", &format!("Token {PLACEHOLDER} trailing")),
        ]);
        assert_eq!(wanted_ids(&h, &inj, API), ["api_key"]);
        let f = fetched(&[("api_key", Ok("sk-live-1"))]);
        let s = swap(h, &inj, API, &f);
        let out = sent(&s);
        assert_eq!(out["authorization"], "Bearer sk-live-1");
        assert!(out["authorization"].is_sensitive());
        assert_eq!(out["accept"], "*/*");
        assert_eq!(out.len(), 2);
        assert_eq!(s.injected.len(), 1);
        assert_eq!(s.injected[0].injection.credential_id, "api_key");
        assert_eq!(s.injected[0].secret, "sk-live-1");
        assert_eq!(s.injected[0].rendered.as_str(), "Bearer sk-live-1");
        assert!(s.withheld.is_empty());
    }

    #[test]
    fn headers_without_placeholders_pass_in_order() {
        let inj = injections();
        let h = headers(&[
            ("accept", "a"),
            ("cookie", "c1"),
            ("cookie", "c2"),
            ("x", "y"),
        ]);
        assert!(wanted_ids(&h, &inj, API).is_empty());
        let f = Fetched::default();
        let s = swap(h.clone(), &inj, API, &f);
        assert_eq!(sent(&s), &h);
        assert!(s.injected.is_empty() && s.withheld.is_empty());
    }

    #[test]
    fn placeholder_anywhere_else_is_refused() {
        let inj = injections();
        // In another header.
        let h = headers(&[("x-forwarded", PLACEHOLDER)]);
        assert!(wanted_ids(&h, &inj, API).is_empty());
        let f = Fetched::default();
        assert_eq!(
            refused(&swap(h, &inj, API, &f)),
            &DenyReason::PlaceholderMisuse
        );
        // In another injection's header.
        let h = headers(&[("x-api-key", PLACEHOLDER)]);
        assert_eq!(
            refused(&swap(h, &inj, API, &f)),
            &DenyReason::PlaceholderMisuse
        );
        // In the path or the query.
        assert_eq!(
            check_target(&format!("/v1/{PLACEHOLDER}"), &inj),
            Err(DenyReason::PlaceholderMisuse)
        );
        assert_eq!(
            check_target(&format!("/v1?key={OTHER_PLACEHOLDER}"), &inj),
            Err(DenyReason::PlaceholderMisuse)
        );
        assert_eq!(check_target("/v1?key=value", &inj), Ok(()));
    }

    #[test]
    fn the_first_refusal_wins_and_earlier_secrets_are_reported() {
        let inj = injections();
        let h = headers(&[
            ("authorization", &format!("Bearer {PLACEHOLDER}")),
            ("x-other", OTHER_PLACEHOLDER),
            ("x-api-key", OTHER_PLACEHOLDER),
        ]);
        // Nothing is wanted past the misplaced placeholder.
        assert_eq!(wanted_ids(&h, &inj, API), ["api_key"]);
        let f = fetched(&[("api_key", Ok("sk-1"))]);
        let s = swap(h, &inj, API, &f);
        assert_eq!(refused(&s), &DenyReason::PlaceholderMisuse);
        // Written before the refusal: the caller masks it all the same.
        assert_eq!(s.injected.len(), 1);
    }

    #[test]
    fn out_of_scope_host_removes_the_header_and_records_it_withheld() {
        let inj = injections();
        let h = headers(&[
            ("authorization", &format!("Bearer {PLACEHOLDER}")),
            ("authorization", PLACEHOLDER),
            ("accept", "*/*"),
        ]);
        // Nothing to fetch for a host outside the scope.
        assert!(wanted_ids(&h, &inj, TENANT).is_empty());
        let f = Fetched::default();
        let s = swap(h, &inj, TENANT, &f);
        let out = sent(&s);
        assert!(!out.contains_key("authorization"));
        assert_eq!(out["accept"], "*/*");
        assert_eq!(s.withheld, vec!["api_key".to_owned()]);
        assert!(s.injected.is_empty());
    }

    #[test]
    fn missing_credential_fails_closed() {
        let inj = injections();
        let h = headers(&[("authorization", &format!("Bearer {PLACEHOLDER}"))]);
        let f = fetched(&[("api_key", Err("no credential \"api_key\" stored"))]);
        let s = swap(h.clone(), &inj, API, &f);
        assert_eq!(
            refused(&s),
            &DenyReason::CredentialUnavailable("no credential \"api_key\" stored".into())
        );
        assert!(s.injected.is_empty());
        // Not fetched at all: refused too, never forwarded with the placeholder.
        let none = Fetched::default();
        assert!(matches!(
            refused(&swap(h, &inj, API, &none)),
            DenyReason::CredentialUnavailable(_)
        ));
    }

    #[test]
    fn a_secret_that_is_no_header_value_fails_closed() {
        let inj = injections();
        let h = headers(&[("authorization", &format!("Bearer {PLACEHOLDER}"))]);
        let f = fetched(&[("api_key", Ok("sk\r\nx-injected: 1"))]);
        assert!(matches!(
            refused(&swap(h, &inj, API, &f)),
            DenyReason::CredentialUnavailable(m) if m.contains("not a valid header value")
        ));
    }

    #[test]
    fn each_credential_is_wanted_and_injected_once() {
        let inj = injections();
        let h = headers(&[
            ("x-api-key", OTHER_PLACEHOLDER),
            ("authorization", &format!("Bearer {PLACEHOLDER}")),
            ("authorization", PLACEHOLDER),
        ]);
        // In the order of the headers (the caller fetches each once).
        assert_eq!(wanted_ids(&h, &inj, API), ["other", "api_key", "api_key"]);
        let f = fetched(&[("api_key", Ok("k1")), ("other", Ok("k2"))]);
        let s = swap(h, &inj, API, &f);
        let out = sent(&s);
        let auth: Vec<_> = out.get_all("authorization").iter().collect();
        assert_eq!(auth, ["Bearer k1", "Bearer k1"]);
        assert_eq!(out["x-api-key"], "k2");
        assert_eq!(s.injected.len(), 2);
    }
}
