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

/// The input port a flow_mod's match names exactly, read straight from
/// the message (no full decode: flow_mods are the hot path of table
/// programming): OpenFlow 1.0's match, Nicira's NXM (NXT_FLOW_MOD) and
/// OpenFlow 1.2+'s OXM. `None` for anything else (the change is then
/// taken to concern every flow).
pub fn flow_mod_in_port(msg: &[u8]) -> Option<u16> {
    let version = *msg.first()?;
    let msg_type = *msg.get(1)?;
    let be16 = |at: usize| {
        msg.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let be32 = |at: usize| {
        msg.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // TLVs from `at` for `len` bytes: the value of `header` if present
    // unmasked.
    let tlv = |mut at: usize, len: usize, want: u32| -> Option<u32> {
        let end = at.checked_add(len)?.min(msg.len());
        while at + 4 <= end {
            let h = be32(at)?;
            let n = (h & 0xff) as usize;
            if h == want {
                return if n == 2 {
                    be16(at + 4).map(u32::from)
                } else {
                    be32(at + 4)
                };
            }
            at += 4 + n;
        }
        None
    };
    match (version, msg_type) {
        // ofp10_match: wildcards, then in_port.
        (1, 14) => (be32(8)? & 1 == 0).then_some(()).and_then(|_| be16(12)),
        // NXT_FLOW_MOD: NXM match of match_len bytes at 48.
        (_, 4) if be32(8)? == 0x2320 && be32(12)? == 13 => {
            let len = be16(40)? as usize;
            tlv(48, len, 0x0000_0002).and_then(|p| u16::try_from(p).ok())
        }
        // OpenFlow 1.2+: ofp_match (type 1, length) at 48, OXM inside.
        (3.., 14) if be16(48)? == 1 => {
            let len = (be16(50)? as usize).checked_sub(4)?;
            let p = tlv(52, len, 0x8000_0004)?;
            // 32-bit port numbers: reserved ones fold into 16 bits.
            match p {
                0..=0xfeff => u16::try_from(p).ok(),
                0xffff_ff00.. => Some((p - 0xffff_0000) as u16),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod flow_mod_tests {
    use super::flow_mod_in_port;

    #[test]
    fn reads_in_port_of_each_flow_mod_form() {
        // OpenFlow 1.0: in_port not wildcarded, port 7.
        let mut of10 = vec![1, 14, 0, 72, 0, 0, 0, 1];
        of10.extend([0, 0, 0, 0, 0, 7]);
        of10.resize(72, 0);
        assert_eq!(flow_mod_in_port(&of10), Some(7));
        of10[11] = 1; // wildcarded
        assert_eq!(flow_mod_in_port(&of10), None);
        // OpenFlow 1.3 with an OXM in_port 3 then eth_type.
        let mut of13 = vec![4, 14, 0, 0, 0, 0, 0, 1];
        of13.resize(48, 0);
        of13.extend([0, 1, 0, 18]);
        of13.extend([0x80, 0, 0, 4, 0, 0, 0, 3]);
        of13.extend([0x80, 0, 0x0a, 2, 0x08, 0]);
        assert_eq!(flow_mod_in_port(&of13), Some(3));
        // Truncated: no panic, no answer.
        assert_eq!(flow_mod_in_port(&of13[..50]), None);
        assert_eq!(flow_mod_in_port(&[]), None);
    }
}
