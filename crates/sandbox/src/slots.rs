//! Allocation of sandbox slots: slot `n` owns host uid `base + n` and the `n`th /30 of the pool.

use std::sync::Mutex;

pub struct Slots {
    capacity: u32,
    state: Mutex<State>,
}

struct State {
    next_fresh: u32,
    freed: Vec<u32>,
}

impl Slots {
    pub fn new(capacity: u32) -> Self {
        Self {
            capacity,
            state: Mutex::new(State {
                next_fresh: 0,
                freed: Vec::new(),
            }),
        }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// A free slot, preferring the least recently freed (so a dying sandbox's uid and address
    /// are not reused at once).
    pub fn acquire(&self) -> Option<u32> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.next_fresh < self.capacity {
            s.next_fresh += 1;
            return Some(s.next_fresh - 1);
        }
        if s.freed.is_empty() {
            None
        } else {
            Some(s.freed.remove(0))
        }
    }

    pub fn release(&self, slot: u32) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert!(!s.freed.contains(&slot));
        s.freed.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_each_slot_once_until_released() {
        let s = Slots::new(2);
        assert_eq!(s.acquire(), Some(0));
        assert_eq!(s.acquire(), Some(1));
        assert_eq!(s.acquire(), None);
        s.release(1);
        s.release(0);
        assert_eq!(s.acquire(), Some(1));
        assert_eq!(s.acquire(), Some(0));
        assert_eq!(s.acquire(), None);
    }
}
