//! What changed in the tables, for lazy revalidation.
//!
//! Every change that may alter translations moves the tables generation
//! and is logged with its scope: a flow_mod whose match names one input
//! port can only change the translation of flows that looked a table up
//! with that input port (the generation per port of Microsoft's VFP);
//! anything else (other flow_mods, groups, meters, ports, expiry) may
//! change any flow. A revalidator asks, flow by flow and only when the
//! generation moved past the flow's, whether any change since concerns
//! it ([`Changes::affects`]); flows no change can affect are not
//! translated again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which flows a change may affect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Flows with a table lookup on this input port.
    InPort(u16),
}

/// Changes older than this many are forgotten; a flow older than the log
/// is always translated again.
const LOG_LIMIT: usize = 65536;

/// The tables generation and the log of changes that moved it.
pub struct Changes {
    generation: Arc<AtomicU64>,
    log: Mutex<VecDeque<(u64, Scope)>>,
}

impl Changes {
    pub fn new(generation: Arc<AtomicU64>) -> Changes {
        Changes {
            generation,
            log: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Scope)>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a change (and moves the generation, under the log's lock,
    /// so that whoever sees the new generation finds the entry).
    pub fn bump(&self, scope: Scope) {
        let mut log = self.lock();
        let g = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        log.push_back((g, scope));
        while log.len() > LOG_LIMIT {
            log.pop_front();
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a change after generation `since` may affect a flow whose
    /// lookups used the input ports `in_ports`.
    pub fn affects(&self, since: u64, in_ports: &[u16]) -> bool {
        let log = self.lock();
        match log.front() {
            // Forgotten changes may have concerned it.
            Some((first, _)) if *first > since + 1 => return true,
            None => return self.generation() > since,
            _ => {}
        }
        log.iter()
            .filter(|(g, _)| *g > since)
            .any(|(_, s)| match s {
                Scope::All => true,
                Scope::InPort(p) => in_ports.contains(p),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_scoped_changes_spare_other_ports() {
        let c = Changes::new(Arc::new(AtomicU64::new(0)));
        c.bump(Scope::InPort(1));
        assert!(c.affects(0, &[1, 3]));
        assert!(!c.affects(0, &[2]));
        assert!(!c.affects(1, &[1]));
        c.bump(Scope::All);
        assert!(c.affects(1, &[2]));
        assert_eq!(c.generation(), 2);
    }
}
