//! Per-sandbox connection accounting (the mechanism of phase 2, `admit.rs`).
//!
//! Contract: at most `max` connections per source address are open at once, across every
//! listener; a [`ConnPermit`] holds one slot and gives it back when dropped. A plain type: it
//! imports nothing of the crate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections per source address.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    max: usize,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Held for the life of one connection; releases its slot on drop.
#[derive(Debug)]
pub(crate) struct ConnPermit {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnLimiter {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            counts: Arc::default(),
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// A permit, or `None` if `ip` already holds `max` connections.
    pub(crate) fn try_acquire(&self, ip: IpAddr) -> Option<ConnPermit> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConnPermit {
            ip,
            counts: Arc::clone(&self.counts),
        })
    }

    pub(crate) fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_releases() {
        let l = ConnLimiter::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let p1 = l.try_acquire(a).unwrap();
        let _p2 = l.try_acquire(a).unwrap();
        assert!(l.try_acquire(a).is_none());
        assert!(l.try_acquire(b).is_some());
        drop(p1);
        assert!(l.try_acquire(a).is_some());
        assert_eq!(l.open(), 1);
    }
}
