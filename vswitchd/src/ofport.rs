//! OpenFlow port numbers of a bridge, allocated as Open vSwitch does:
//! an `ofport_request` is honoured when free; otherwise numbers go round
//! from the last one handed out, through the lower half of the range, and a
//! number freed less than an hour ago is reused only when nothing else is
//! left (old flows may still name it).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// OFPP_LOCAL: the bridge's own port.
pub const OFPP_LOCAL: u16 = 0xfffe;
/// Automatically assigned numbers stay below this (the upper half of the
/// range is left to controllers).
const AUTO_LIMIT: u16 = 32768;
/// Requests must be below OFPP_MAX.
pub const MAX_PORTS: u16 = 0xff00;
const REUSE_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
pub struct OfportAllocator {
    last: u16,
    in_use: HashMap<u16, ()>,
    freed_at: HashMap<u16, Instant>,
}

impl OfportAllocator {
    pub fn is_free(&self, n: u16) -> bool {
        !self.in_use.contains_key(&n)
    }

    /// Allocates a number, `request` if it is usable.
    pub fn alloc(&mut self, request: Option<u16>) -> Option<u16> {
        if let Some(r) = request {
            if (1..MAX_PORTS).contains(&r) && self.is_free(r) {
                self.take(r);
                return Some(r);
            }
        }
        let end = self.last;
        let mut lru: Option<(u16, Instant)> = None;
        loop {
            self.last = if self.last.saturating_add(1) >= AUTO_LIMIT {
                1
            } else {
                self.last + 1
            };
            let n = self.last;
            if self.is_free(n) {
                match self.freed_at.get(&n) {
                    None => {
                        self.take(n);
                        return Some(n);
                    }
                    Some(t) if t.elapsed() >= REUSE_AFTER => {
                        self.take(n);
                        return Some(n);
                    }
                    Some(t) => {
                        if lru.is_none_or(|(_, lt)| *t < lt) {
                            lru = Some((n, *t));
                        }
                    }
                }
            }
            if n == end || (end == 0 && n == AUTO_LIMIT - 1) {
                let (n, _) = lru?;
                self.take(n);
                return Some(n);
            }
        }
    }

    /// Marks the bridge's own port number as used.
    pub fn take(&mut self, n: u16) {
        self.in_use.insert(n, ());
        self.freed_at.remove(&n);
    }

    pub fn free(&mut self, n: u16) {
        if self.in_use.remove(&n).is_some() && n < MAX_PORTS {
            self.freed_at.insert(n, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_like_stock() {
        let mut a = OfportAllocator::default();
        assert_eq!(a.alloc(Some(5)), Some(5));
        assert_eq!(a.alloc(None), Some(1));
        assert_eq!(a.alloc(None), Some(2));
        // A taken request falls back to the next free number.
        assert_eq!(a.alloc(Some(5)), Some(3));
        a.free(2);
        // Freed numbers are not reused right away.
        assert_eq!(a.alloc(None), Some(4));
        assert_eq!(a.alloc(None), Some(6));
        // But a request for one is honoured.
        assert_eq!(a.alloc(Some(2)), Some(2));
    }
}
