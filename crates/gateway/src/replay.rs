//! Resumable SSE streams (`Last-Event-ID`).
//!
//! Every stream the gateway opens for a session (a call's POST stream, the GET stream) writes
//! its messages to a [`StreamLog`] first; a connection reads the log. Each event carries the id
//! `<stream id>-<sequence>`, and a stream opens with a priming event (an id and no data), so a
//! client whose connection dropped, even before the first message, can come back with `GET` and
//! `Last-Event-ID` and receive everything after that event, then what follows live. A log keeps
//! its last [`MAX_EVENTS`] events; the session keeps its last [`crate::session`] logs.

use futures_util::Stream;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Events one log keeps for replay.
pub const MAX_EVENTS: usize = 512;

/// One stream's events.
pub struct StreamLog {
    id: String,
    state: Mutex<State>,
    changed: Notify,
    readers: AtomicUsize,
    /// Whether any connection ever read this log.
    ever_read: std::sync::atomic::AtomicBool,
}

struct State {
    /// (sequence, JSON text), oldest first; sequences start at 1.
    events: VecDeque<(u64, Arc<str>)>,
    next: u64,
    closed: bool,
}

/// What a reader gets: an event id and its data (empty for the priming event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub id: String,
    pub data: Arc<str>,
}

impl StreamLog {
    pub fn new(id: String) -> Arc<Self> {
        Arc::new(Self {
            id,
            state: Mutex::new(State {
                events: VecDeque::new(),
                next: 1,
                closed: false,
            }),
            changed: Notify::new(),
            readers: AtomicUsize::new(0),
            ever_read: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a message; `false` once the log is closed.
    pub fn push(&self, data: String) -> bool {
        {
            let mut s = self.lock();
            if s.closed {
                return false;
            }
            let seq = s.next;
            s.next += 1;
            s.events.push_back((seq, data.into()));
            if s.events.len() > MAX_EVENTS {
                s.events.pop_front();
            }
        }
        self.changed.notify_waiters();
        true
    }

    /// Ends the stream: readers finish once they have read everything.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether a connection ever read this log.
    pub fn ever_read(&self) -> bool {
        self.ever_read.load(Ordering::SeqCst)
    }

    /// Connections currently reading this log.
    pub fn readers(&self) -> usize {
        self.readers.load(Ordering::SeqCst)
    }

    /// The events after sequence `after` (from the start, with a priming event, if `None`),
    /// then new ones as they come, until the log is closed.
    pub fn read(self: &Arc<Self>, after: Option<u64>) -> impl Stream<Item = LoggedEvent> + use<> {
        self.readers.fetch_add(1, Ordering::SeqCst);
        self.ever_read.store(true, Ordering::SeqCst);
        let reader = Reader {
            log: self.clone(),
            next: after.map_or(1, |a| a + 1),
            primed: after.is_some(),
        };
        futures_util::stream::unfold(reader, |mut r| async move {
            let event = r.next_event().await?;
            Some((event, r))
        })
    }
}

/// Splits an event id `<stream id>-<sequence>`.
pub fn parse_event_id(id: &str) -> Option<(&str, u64)> {
    let (stream, seq) = id.rsplit_once('-')?;
    Some((stream, seq.parse().ok()?))
}

struct Reader {
    log: Arc<StreamLog>,
    next: u64,
    primed: bool,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.log.readers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Reader {
    async fn next_event(&mut self) -> Option<LoggedEvent> {
        if !self.primed {
            self.primed = true;
            return Some(LoggedEvent {
                id: format!("{}-0", self.log.id),
                data: Arc::from(""),
            });
        }
        loop {
            let changed = self.log.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let s = self.log.lock();
                if let Some((seq, data)) = s.events.iter().find(|(seq, _)| *seq >= self.next) {
                    self.next = seq + 1;
                    return Some(LoggedEvent {
                        id: format!("{}-{seq}", self.log.id),
                        data: data.clone(),
                    });
                }
                if s.closed {
                    return None;
                }
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_reader_gets_the_priming_event_then_everything_until_closed() {
        let log = StreamLog::new("c1".into());
        log.push("a".into());
        let mut r = Box::pin(log.read(None));
        assert_eq!(r.next().await.unwrap().id, "c1-0");
        assert_eq!(&*r.next().await.unwrap().data, "a");
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            writer.push("b".into());
            writer.close();
        });
        let b = r.next().await.unwrap();
        assert_eq!((b.id.as_str(), &*b.data), ("c1-2", "b"));
        assert!(r.next().await.is_none());
        assert!(!log.push("late".into()), "closed");
    }

    #[tokio::test]
    async fn resuming_replays_only_what_came_after_the_last_event_seen() {
        let log = StreamLog::new("c2".into());
        for m in ["a", "b", "c"] {
            log.push(m.into());
        }
        log.close();
        let (stream, seq) = parse_event_id("c2-1").unwrap();
        assert_eq!(stream, "c2");
        let rest: Vec<_> = log.read(Some(seq)).map(|e| e.data).collect().await;
        assert_eq!(rest, [Arc::from("b"), Arc::from("c")]);
        assert_eq!(log.readers(), 0, "readers are counted while reading only");
        assert_eq!(parse_event_id("nonsense"), None);
    }

    #[tokio::test]
    async fn a_log_keeps_its_latest_events_only() {
        let log = StreamLog::new("g".into());
        for i in 0..MAX_EVENTS + 10 {
            log.push(i.to_string());
        }
        log.close();
        let all: Vec<_> = log.read(Some(0)).collect().await;
        assert_eq!(all.len(), MAX_EVENTS);
        assert_eq!(&*all[0].data, "10");
    }
}
