//! What changed in the tables, for lazy revalidation.
//!
//! Every change that may alter translations moves the tables generation
//! and is recorded with its scope: a flow_mod whose match names one input
//! port can only change the translation of flows that looked a table up
//! with that input port (the generation per port of Microsoft's VFP); a
//! MAC learning table entry that was learned, moved or removed can only
//! change flows whose NORMAL action looked that (VLAN, MAC) destination
//! up (the tags of old Open vSwitch); anything else (other flow_mods,
//! groups, meters, ports, expiry, MAC table settings) may change any
//! flow. A revalidator asks, flow by flow and only when the generation
//! moved past the flow's, whether any change since concerns it
//! ([`Changes::affects`]); flows no change can affect are not translated
//! again.
//!
//! What is kept is, per scope, the generation of its latest change (not
//! a list of changes): a question costs a few hash lookups however many
//! changes happened since the flow was translated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::mac_learning::MacKey;

/// Which flows a change may affect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Flows with a table lookup on this input port.
    InPort(u16),
    /// Flows whose NORMAL looked this (VLAN, MAC) destination up.
    Mac(MacKey),
}

/// Scoped changes remembered at most (per kind); beyond that they are
/// forgotten at once and count as a change to everything.
const SCOPES_LIMIT: usize = 65536;

/// The latest change of each scope.
#[derive(Default)]
struct Latest {
    all: u64,
    ports: HashMap<u16, u64>,
    macs: HashMap<MacKey, u64>,
}

impl Latest {
    fn record(&mut self, g: u64, scope: Scope) {
        match scope {
            Scope::All => self.all = g,
            Scope::InPort(p) => {
                self.ports.insert(p, g);
            }
            Scope::Mac(k) => {
                self.macs.insert(k, g);
            }
        }
        if self.ports.len() > SCOPES_LIMIT || self.macs.len() > SCOPES_LIMIT {
            // Forgetting them is safe as one change to everything.
            self.ports.clear();
            self.macs.clear();
            self.all = g;
        }
    }
}

/// The tables generation and the latest change of each scope.
pub struct Changes {
    generation: Arc<AtomicU64>,
    latest: Mutex<Latest>,
}

impl Changes {
    pub fn new(generation: Arc<AtomicU64>) -> Changes {
        Changes {
            generation,
            latest: Mutex::new(Latest::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a change (and moves the generation, under the lock, so
    /// that whoever sees the new generation finds the change).
    pub fn bump(&self, scope: Scope) {
        let mut latest = self.lock();
        let g = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        latest.record(g, scope);
    }

    /// Records changes to several MAC table entries as one generation;
    /// nothing when there are none.
    pub fn bump_macs(&self, keys: &[MacKey]) {
        if keys.is_empty() {
            return;
        }
        let mut latest = self.lock();
        let g = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        for k in keys {
            latest.record(g, Scope::Mac(*k));
        }
    }

    /// Records what changed in a MAC learning table.
    pub fn note_mac_changes(&self, c: &crate::mac_learning::MacChanges) {
        if c.all {
            self.bump(Scope::All);
        } else {
            self.bump_macs(&c.keys);
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a change after generation `since` may affect a flow whose
    /// lookups used the input ports `in_ports` and whose NORMAL looked up
    /// the destinations `macs`.
    pub fn affects(&self, since: u64, in_ports: &[u16], macs: &[MacKey]) -> bool {
        let latest = self.lock();
        let after = |g: Option<&u64>| g.is_some_and(|g| *g > since);
        latest.all > since
            || in_ports.iter().any(|p| after(latest.ports.get(p)))
            || macs.iter().any(|k| after(latest.macs.get(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_scoped_changes_spare_other_ports() {
        let c = Changes::new(Arc::new(AtomicU64::new(0)));
        c.bump(Scope::InPort(1));
        assert!(c.affects(0, &[1, 3], &[]));
        assert!(!c.affects(0, &[2], &[]));
        assert!(!c.affects(1, &[1], &[]));
        c.bump(Scope::All);
        assert!(c.affects(1, &[2], &[]));
        assert_eq!(c.generation(), 2);
    }

    #[test]
    fn mac_scoped_changes_spare_other_destinations() {
        let c = Changes::new(Arc::new(AtomicU64::new(0)));
        let (a, b) = ((0, [2, 0, 0, 0, 0, 1]), (0, [2, 0, 0, 0, 0, 2]));
        let a10 = (10, a.1);
        c.bump_macs(&[a]);
        c.bump_macs(&[]);
        assert_eq!(c.generation(), 1, "nothing changed, no generation");
        assert!(c.affects(0, &[], &[b, a]));
        assert!(!c.affects(0, &[1], &[b, a10]), "VLANs are separate");
        assert!(!c.affects(1, &[], &[a]), "translated after the change");
        c.bump(Scope::InPort(3));
        assert!(!c.affects(1, &[1], &[a]));
        assert!(c.affects(0, &[1], &[a]));
    }

    #[test]
    fn too_many_scopes_count_as_everything() {
        let c = Changes::new(Arc::new(AtomicU64::new(0)));
        c.bump(Scope::InPort(1));
        let many: Vec<MacKey> = (0..=SCOPES_LIMIT as u32)
            .map(|i| {
                let b = i.to_be_bytes();
                (0, [2, 0, b[0], b[1], b[2], b[3]])
            })
            .collect();
        c.bump_macs(&many);
        assert!(c.affects(1, &[7], &[]), "forgotten: may concern anyone");
        assert!(!c.affects(2, &[1], &[many[0]]));
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
