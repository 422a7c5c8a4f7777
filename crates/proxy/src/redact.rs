//! Masking secrets in everything a sandbox receives.
//!
//! Contract:
//!
//! * A [`RedactionSet`] belongs to one sandbox registration. Every secret the proxy injects into
//!   a request of that sandbox is added to it *before* the request leaves, together with its
//!   masked forms ([`crate::forms`]); it only grows, and lives as long as the registration (and
//!   the tunnels opened under it).
//! * A [`Redactor`] masks one response body as it streams. It follows the set as the set grows,
//!   so a response that began before a secret was injected (a long SSE stream, another tunnel)
//!   masks that secret from then on. This is sound by causality: the upstream cannot echo a
//!   secret before the proxy has sent it, and the proxy adds it to the set before sending.
//! * Masking replaces every byte of every occurrence of every form with `*`: same length, so
//!   `Content-Length` stays valid. Only bytes that could begin a form are held back between
//!   chunks; everything else is released at once (SSE is not delayed).
//! * Work is linear in the bytes scanned (at most one automaton step per byte; bytes that begin
//!   no form are skipped while no form is in progress) and the set is bounded ([`MAX_SECRETS`],
//!   [`MAX_SECRET_LEN`], [`MAX_PATTERN_BYTES`]); past a bound the injection fails closed, it
//!   never stops masking. A new matcher is built beside the current one, which keeps masking
//!   until the new one replaces it.
//! * Nothing here logs or prints a secret; `Debug` shows counts only. Pattern bytes inside the
//!   automata are not zeroized on drop (the buffers this module owns are).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, MatchKind};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use zeroize::Zeroizing;

use crate::forms::masked_forms;

/// The byte that replaces every byte of a masked form.
pub(crate) const MASK: u8 = b'*';
/// Distinct injected values one sandbox registration may accumulate (credentials × rotations).
pub(crate) const MAX_SECRETS: usize = 64;
/// Longest secret the proxy injects (and can mask), in bytes.
pub(crate) const MAX_SECRET_LEN: usize = 4096;
/// Total size of the masked forms of one registration's secrets.
pub(crate) const MAX_PATTERN_BYTES: usize = 2 << 20;

/// Why a secret could not be added to a redaction set (so it must not be injected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactionError {
    #[error(
        "the secret is {len} bytes long; secrets longer than {MAX_SECRET_LEN} bytes cannot be masked in responses, so it is not sent: store a shorter credential"
    )]
    SecretTooLong { len: usize },
    #[error(
        "this sandbox has already been sent {MAX_SECRETS} distinct secrets, the most whose echoes can be masked: restart the server to start afresh"
    )]
    TooManySecrets,
    #[error(
        "the masked forms of this sandbox's secrets would exceed {MAX_PATTERN_BYTES} bytes: restart the server to start afresh"
    )]
    TooLarge,
    #[error("cannot build the secret matcher: {0}")]
    Build(String),
}

/// The automaton: aho-corasick's contiguous NFA (dense root, compact elsewhere). Measured on
/// 1 MiB of JSON-like text it steps as fast as its dense DFA (within 5%) at 1/25 of the memory.
type Engine = aho_corasick::nfa::contiguous::NFA;

/// A compiled set of masked forms: finds every occurrence, and knows how many trailing bytes of
/// a stream could still begin one.
pub(crate) struct Matcher {
    engine: Engine,
    start: StateID,
    /// Bytes some form begins with.
    starts: [bool; 256],
    /// Per state: length of the longest suffix of what was read that is a proper prefix of a
    /// form (the bytes to hold back). States absent from the map hold back nothing.
    hold: StateMap<u32>,
    /// Per match state: length of the longest form ending there.
    longest: StateMap<u32>,
    /// The same forms, ASCII case-insensitively, for header names (which HTTP lowercases).
    names: AhoCorasick,
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("automaton_bytes", &self.engine.memory_usage())
            .field("holding_states", &self.hold.len())
            .finish_non_exhaustive()
    }
}

/// One automaton step per byte from `sid`; `on_match(end, len)` for the longest form ending at
/// each `end` (exclusive, within `data`). Returns the state after `data`.
///
/// In the start state, bytes that begin no form are skipped without a step: from the start
/// state such a byte leads back to it, so the result is exactly that of stepping every byte.
fn scan<A: Automaton>(
    aut: &A,
    start: StateID,
    starts: &[bool; 256],
    longest: &StateMap<u32>,
    mut sid: StateID,
    data: &[u8],
    on_match: &mut impl FnMut(usize, usize),
) -> StateID {
    let mut at = 0;
    while at < data.len() {
        if sid == start {
            while at < data.len() && !starts[usize::from(data[at])] {
                at += 1;
            }
            if at == data.len() {
                break;
            }
        }
        sid = aut.next_state(Anchored::No, sid, data[at]);
        at += 1;
        if aut.is_special(sid)
            && aut.is_match(sid)
            && let Some(&len) = longest.get(&sid)
        {
            on_match(at, len as usize);
        }
    }
    sid
}

/// Hashes a [`StateID`] (a `u32` chosen by our own automaton, never by a peer) with one
/// multiplication: the state tables are built and read on the hot path.
#[derive(Default, Clone, Copy)]
struct StateHasher(u64);

impl Hasher for StateHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type StateMap<V> = HashMap<StateID, V, BuildHasherDefault<StateHasher>>;

/// Per-state tables, from walking every form through the automaton: the state after `form[..k]`
/// is the trie node of that prefix (depth `k`, with a child when `k < form.len()`), and a
/// node's failure state is its parent's failure state stepped by the same byte. Linear in the
/// total length of the forms.
///
/// Returns `(hold, longest)`: for each state, the depth of the deepest node on its failure
/// chain that has a child (the bytes that could still begin a form), and for each match state,
/// the length of the longest form ending there.
fn state_tables<A: Automaton>(
    aut: &A,
    start: StateID,
    forms: &[Zeroizing<Vec<u8>>],
) -> (StateMap<u32>, StateMap<u32>) {
    /// A trie node; `parent` and the vectors below are indices into `nodes` (`ROOT`: start).
    struct Node {
        sid: StateID,
        depth: u32,
        parent: u32,
        byte: u8,
        has_child: bool,
    }
    const ROOT: u32 = u32::MAX;
    let mut index: StateMap<u32> = StateMap::default();
    let mut nodes: Vec<Node> = Vec::new();
    for form in forms {
        let (mut s, mut parent) = (start, ROOT);
        for (k, &byte) in form.iter().enumerate() {
            if let Some(p) = nodes.get_mut(parent as usize) {
                p.has_child = true;
            }
            let t = aut.next_state(Anchored::No, s, byte);
            let next = u32::try_from(nodes.len()).unwrap_or(ROOT - 1);
            let i = *index.entry(t).or_insert_with(|| {
                nodes.push(Node {
                    sid: t,
                    depth: u32::try_from(k + 1).unwrap_or(u32::MAX),
                    parent,
                    byte,
                    has_child: false,
                });
                next
            });
            (s, parent) = (t, i);
        }
    }
    let mut order: Vec<u32> = (0..u32::try_from(nodes.len()).unwrap_or(ROOT - 1)).collect();
    order.sort_unstable_by_key(|&i| nodes[i as usize].depth);
    // Failure states as node indices (ROOT for the start state), and hold lengths.
    let mut fail: Vec<u32> = vec![ROOT; nodes.len()];
    let mut hold_of: Vec<u32> = vec![0; nodes.len()];
    let mut hold: StateMap<u32> = StateMap::default();
    let mut longest: StateMap<u32> = StateMap::default();
    for &i in &order {
        let n = &nodes[i as usize];
        let f = if n.parent == ROOT {
            ROOT
        } else {
            let pf = fail[n.parent as usize];
            let pf_sid = nodes.get(pf as usize).map_or(start, |p| p.sid);
            let f_sid = aut.next_state(Anchored::No, pf_sid, n.byte);
            index.get(&f_sid).copied().unwrap_or(ROOT)
        };
        fail[i as usize] = f;
        let h = if n.has_child {
            n.depth
        } else {
            hold_of.get(f as usize).copied().unwrap_or(0)
        };
        hold_of[i as usize] = h;
        if h > 0 {
            hold.insert(n.sid, h);
        }
        if aut.is_match(n.sid) {
            let max = (0..aut.match_len(n.sid))
                .map(|m| aut.pattern_len(aut.match_pattern(n.sid, m)))
                .max()
                .unwrap_or(0);
            longest.insert(n.sid, u32::try_from(max).unwrap_or(u32::MAX));
        }
    }
    (hold, longest)
}

impl Matcher {
    /// Compiles `forms` (none empty).
    pub(crate) fn new(forms: &[Zeroizing<Vec<u8>>]) -> Result<Self, RedactionError> {
        let patterns = forms.iter().map(|f| f.as_slice());
        let build = |e: aho_corasick::BuildError| RedactionError::Build(e.to_string());
        let engine = aho_corasick::nfa::contiguous::Builder::new()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns.clone())
            .map_err(build)?;
        let start = engine
            .start_state(Anchored::No)
            .map_err(|e| RedactionError::Build(e.to_string()))?;
        let (hold, longest) = state_tables(&engine, start, forms);
        let mut starts = [false; 256];
        for f in forms {
            if let Some(&b) = f.first() {
                starts[usize::from(b)] = true;
            }
        }
        let names = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(patterns)
            .map_err(build)?;
        Ok(Self {
            engine,
            start,
            starts,
            hold,
            longest,
            names,
        })
    }

    fn scan(&self, sid: StateID, data: &[u8], on_match: &mut impl FnMut(usize, usize)) -> StateID {
        scan(
            &self.engine,
            self.start,
            &self.starts,
            &self.longest,
            sid,
            data,
            on_match,
        )
    }

    fn hold(&self, sid: StateID) -> usize {
        self.hold.get(&sid).map_or(0, |&h| h as usize)
    }

    /// Masks every form in a complete buffer; returns whether any was found.
    pub(crate) fn mask_all(&self, buf: &mut [u8]) -> bool {
        let mut ranges = Ranges::default();
        self.scan(self.start, buf, &mut |end, len| ranges.add(end - len, end));
        ranges.apply(buf);
        !ranges.is_empty()
    }

    /// A header name with every form (any ASCII case) masked, if it holds one.
    fn masked_name(&self, name: &HeaderName) -> Option<Vec<u8>> {
        let bytes = name.as_str().as_bytes();
        let mut ranges = Ranges::default();
        for m in self.names.find_overlapping_iter(bytes) {
            ranges.add(m.start(), m.end());
        }
        if ranges.is_empty() {
            return None;
        }
        let mut out = bytes.to_vec();
        ranges.apply(&mut out);
        Some(out)
    }
}

/// Masked byte ranges, merged as they arrive in order of their end.
#[derive(Default)]
struct Ranges(Vec<(usize, usize)>);

impl Ranges {
    fn add(&mut self, start: usize, end: usize) {
        match self.0.last_mut() {
            Some(last) if start <= last.1 => {
                last.0 = last.0.min(start);
                last.1 = last.1.max(end);
            }
            _ => self.0.push((start, end)),
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn apply(&self, buf: &mut [u8]) {
        for &(s, e) in &self.0 {
            let e = e.min(buf.len());
            if s < e {
                buf[s..e].fill(MASK);
            }
        }
    }
}

/// One injected value: the secret and the header value that carried it.
type Source = (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>);

struct SetState {
    /// Distinct injected values so far.
    sources: Vec<Source>,
    /// The masked forms of all of them, deduplicated.
    forms: Vec<Zeroizing<Vec<u8>>>,
    pattern_bytes: usize,
    generation: u64,
    matcher: Option<Arc<Matcher>>,
}

/// The secrets sent on behalf of one sandbox registration, and the matcher masking them.
///
/// Created empty by `IdentityTable::insert` (one per registration); the proxy adds to it
/// before each injected request leaves; every response of the registration is masked with it.
pub struct RedactionSet {
    state: RwLock<SetState>,
    /// Serialises inserts; a new matcher is built holding this, not `state`'s lock, so
    /// responses keep being masked (with the previous matcher) meanwhile.
    building: Mutex<()>,
    /// Bumped (after the new matcher is in place) whenever a secret is added.
    generation: AtomicU64,
}

impl Default for RedactionSet {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RedactionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.read();
        f.debug_struct("RedactionSet")
            .field("secrets", &s.sources.len())
            .field("forms", &s.forms.len())
            .field("form_bytes", &s.pattern_bytes)
            .field("matcher", &s.matcher)
            .finish()
    }
}

impl RedactionSet {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            state: RwLock::new(SetState {
                sources: Vec::new(),
                forms: Vec::new(),
                pattern_bytes: 0,
                generation: 0,
                matcher: None,
            }),
            building: Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    /// Number of distinct injected values masked so far.
    pub fn len(&self) -> usize {
        self.read().sources.len()
    }

    /// Whether nothing has been injected yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, SetState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `secret`, injected as `rendered`, is in the set already (nothing to build).
    pub(crate) fn contains(&self, secret: &[u8], rendered: &[u8]) -> bool {
        self.read()
            .sources
            .iter()
            .any(|(a, b)| a.as_slice() == secret && b.as_slice() == rendered)
    }

    /// Adds `secret`, injected as the header value `rendered`. On return the set masks it in
    /// every response of the registration, including those already streaming. Call it before
    /// the request carrying the secret is sent; on error, do not send it. Building the new
    /// matcher takes milliseconds (seconds near [`MAX_PATTERN_BYTES`]): call it off the async
    /// workers.
    pub(crate) fn insert(&self, secret: &[u8], rendered: &[u8]) -> Result<(), RedactionError> {
        if self.contains(secret, rendered) {
            return Ok(());
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(RedactionError::SecretTooLong { len: secret.len() });
        }
        let _building = self.building.lock().unwrap_or_else(|p| p.into_inner());
        let mut forms = {
            let state = self.read();
            if state
                .sources
                .iter()
                .any(|(a, b)| a.as_slice() == secret && b.as_slice() == rendered)
            {
                return Ok(());
            }
            if state.sources.len() >= MAX_SECRETS {
                return Err(RedactionError::TooManySecrets);
            }
            state.forms.clone()
        };
        forms.extend(masked_forms(secret, rendered));
        crate::forms::sort_dedup(&mut forms);
        let pattern_bytes: usize = forms.iter().map(|f| f.len()).sum();
        if pattern_bytes > MAX_PATTERN_BYTES {
            return Err(RedactionError::TooLarge);
        }
        let matcher = Arc::new(Matcher::new(&forms)?);
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.sources.push((
            Zeroizing::new(secret.to_vec()),
            Zeroizing::new(rendered.to_vec()),
        ));
        state.forms = forms;
        state.pattern_bytes = pattern_bytes;
        state.generation += 1;
        state.matcher = Some(matcher);
        self.generation.store(state.generation, Ordering::Release);
        Ok(())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current matcher and its generation, read together.
    fn current(&self) -> (u64, Option<Arc<Matcher>>) {
        let s = self.read();
        (s.generation, s.matcher.clone())
    }

    /// Masks every form in header values and names (response headers and trailers). A value
    /// that cannot be rebuilt after masking is replaced whole by `*`; a name, dropped.
    pub(crate) fn redact_headers(&self, headers: &mut HeaderMap) {
        let Some(m) = self.current().1 else {
            return;
        };
        if headers.keys().any(|n| m.masked_name(n).is_some()) {
            let old = std::mem::take(headers);
            let mut name: Option<Option<HeaderName>> = None;
            for (n, value) in old {
                if let Some(n) = n {
                    name = Some(match m.masked_name(&n) {
                        Some(masked) => HeaderName::from_bytes(&masked).ok(),
                        None => Some(n),
                    });
                }
                if let Some(Some(n)) = &name {
                    headers.append(n.clone(), value);
                }
            }
        }
        for value in headers.values_mut() {
            let mut bytes = Zeroizing::new(value.as_bytes().to_vec());
            if m.mask_all(&mut bytes) {
                let sensitive = value.is_sensitive();
                *value = HeaderValue::from_bytes(&bytes).unwrap_or(HeaderValue::from_static("*"));
                value.set_sensitive(sensitive);
            }
        }
    }
}

/// Streaming redaction of one response body against a (possibly growing) [`RedactionSet`].
pub(crate) struct Redactor {
    set: Arc<RedactionSet>,
    generation: u64,
    matcher: Option<Arc<Matcher>>,
    /// Automaton state after the bytes released or held so far.
    sid: Option<StateID>,
    /// Bytes held back (they could begin a form), as received.
    held: Zeroizing<Vec<u8>>,
    /// The same bytes with the masks found so far applied.
    held_out: Zeroizing<Vec<u8>>,
}

impl Redactor {
    pub(crate) fn new(set: Arc<RedactionSet>) -> Self {
        Self {
            set,
            generation: 0,
            matcher: None,
            sid: None,
            held: Zeroizing::new(Vec::new()),
            held_out: Zeroizing::new(Vec::new()),
        }
    }

    /// Whether no bytes are held back.
    pub(crate) fn is_idle(&self) -> bool {
        self.held.is_empty()
    }

    /// Picks up a grown set: the held bytes are scanned again from the start state with the
    /// new matcher (the bytes before them were released earlier, before the new secret could
    /// have been echoed).
    fn refresh(&mut self) {
        if self.set.generation() == self.generation {
            return;
        }
        let (generation, matcher) = self.set.current();
        self.generation = generation;
        self.matcher = matcher;
        let Some(m) = &self.matcher else {
            return;
        };
        let mut ranges = Ranges::default();
        let sid = m.scan(m.start, &self.held, &mut |end, len| {
            ranges.add(end - len, end);
        });
        ranges.apply(&mut self.held_out);
        self.sid = Some(sid);
    }

    /// Feeds a chunk; returns what can be released now (possibly empty).
    pub(crate) fn push(&mut self, data: Bytes) -> Bytes {
        self.refresh();
        let Some(m) = self.matcher.clone() else {
            return data;
        };
        let base = self.held.len();
        let mut ranges = Ranges::default();
        let sid = m.scan(self.sid.unwrap_or(m.start), &data, &mut |end, len| {
            // A form ending here began at most `base` bytes back: those bytes were held.
            ranges.add((base + end).saturating_sub(len), base + end);
        });
        self.sid = Some(sid);
        let total = base + data.len();
        let release = total - m.hold(sid).min(total);
        if ranges.is_empty() && base == 0 {
            self.held.extend_from_slice(&data[release..]);
            self.held_out.extend_from_slice(&data[release..]);
            return data.slice(..release);
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&self.held_out);
        out.extend_from_slice(&data);
        ranges.apply(&mut out);
        let mut held = Zeroizing::new(Vec::with_capacity(total - release));
        if release < base {
            held.extend_from_slice(&self.held[release..]);
            held.extend_from_slice(&data);
        } else {
            held.extend_from_slice(&data[release - base..]);
        }
        self.held = held;
        self.held_out = Zeroizing::new(out[release..].to_vec());
        out.truncate(release);
        Bytes::from(out)
    }

    /// Releases everything still held (end of body, or before trailers).
    pub(crate) fn flush(&mut self) -> Bytes {
        self.refresh();
        let out = Bytes::copy_from_slice(&self.held_out);
        self.held.clear();
        self.held_out.clear();
        self.sid = None;
        out
    }
}

#[cfg(test)]
mod tests;
