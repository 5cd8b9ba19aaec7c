//! The megaflow classifier: tuple space search. Flows with the same mask
//! share a subtable, a hash table keyed by the masked key; a lookup masks
//! the packet's key with each subtable's mask in turn. Subtables are kept
//! in order of recent hits, so the busiest masks are tried first.
//!
//! In front of it, each poll thread keeps an [`ExactCache`]: full packet
//! key to flow, checked for liveness on every hit.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use ferrovs_netdev::flow::FlowKey;

use super::ufid::UfidMap;
use crate::odp::Action;
use crate::{FlowStats, Ufid};

/// A fast non-cryptographic hasher for flow keys (the FxHash mix). Keys
/// come from packets, so a per-process random seed guards against
/// crafted collisions.
#[derive(Clone, Copy)]
pub struct KeyHasher {
    h: u64,
}

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher {
            h: ferrovs_netdev::fasthash::seeds()[1],
        }
    }
}

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl KeyHasher {
    #[inline]
    fn mix(&mut self, v: u64) {
        self.h = (self.h.rotate_left(5) ^ v).wrapping_mul(K);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Two lanes of 64-bit words (a flow key is one write of ~30
        // words): their multiplies do not wait on each other.
        let word = |w: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            u64::from_le_bytes(a)
        };
        let mut pairs = bytes.chunks_exact(16);
        if pairs.len() > 0 {
            let mut other = KeyHasher {
                h: self.h ^ 0x2545_f491_4f6c_dd1d,
            };
            for p in &mut pairs {
                self.mix(word(&p[..8]));
                other.mix(word(&p[8..]));
            }
            self.mix(other.h);
        }
        let mut c = pairs.remainder().chunks_exact(8);
        for w in &mut c {
            self.mix(word(w));
        }
        for &b in c.remainder() {
            self.mix(u64::from(b));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    fn write_u128(&mut self, v: u128) {
        self.mix(v as u64);
        self.mix((v >> 64) as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
    fn finish(&self) -> u64 {
        self.h
    }
}

pub type KeyMap<V> = HashMap<FlowKey, V, BuildHasherDefault<KeyHasher>>;

/// Counters of one flow, shared by the versions of a flow that a modify
/// creates.
#[derive(Debug, Default)]
pub struct FlowCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub used_ms: AtomicU64,
    pub tcp_flags: AtomicU64,
}

impl FlowCounters {
    pub fn hit(&self, bytes: usize, tcp_flags: u16, now_ms: u64) {
        self.add(1, bytes as u64, tcp_flags, now_ms);
    }

    /// Counts `packets` packets of `bytes` bytes in all, seen at `now_ms`.
    pub fn add(&self, packets: u64, bytes: u64, tcp_flags: u16, now_ms: u64) {
        if packets == 0 {
            return;
        }
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.used_ms.store(now_ms, Ordering::Relaxed);
        if tcp_flags != 0 {
            self.tcp_flags
                .fetch_or(u64::from(tcp_flags), Ordering::Relaxed);
        }
    }

    pub fn get(&self) -> FlowStats {
        FlowStats {
            n_packets: self.packets.load(Ordering::Relaxed),
            n_bytes: self.bytes.load(Ordering::Relaxed),
            used_ms: self.used_ms.load(Ordering::Relaxed),
            tcp_flags: self.tcp_flags.load(Ordering::Relaxed) as u16,
        }
    }

    pub fn clear(&self) {
        self.packets.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.used_ms.store(0, Ordering::Relaxed);
        self.tcp_flags.store(0, Ordering::Relaxed);
    }
}

/// One installed megaflow. Immutable once installed except for its
/// counters and its `dead` flag; a modify installs a new version.
#[derive(Debug)]
pub struct Megaflow {
    /// The key, already ANDed with the mask.
    pub key: FlowKey,
    pub mask: FlowKey,
    pub ufid: Ufid,
    /// The attributes as they were put (what get and dump return),
    /// shared with the daemon's ukey of the flow where it gave them
    /// ([`super::FlowAttrs`]).
    pub key_attrs: Arc<[u8]>,
    pub mask_attrs: Arc<[u8]>,
    pub actions_attrs: Arc<[u8]>,
    pub actions: Vec<Action>,
    pub counters: Arc<FlowCounters>,
    /// Set when the flow is deleted or replaced, so that caches holding it
    /// let go.
    pub dead: AtomicBool,
}

impl Megaflow {
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }
}

struct Subtable {
    mask: FlowKey,
    /// The subtable's flows, found by their (masked) key.
    flows: HashSet<ByKey, BuildHasherDefault<StoredHash>>,
    hits: AtomicU64,
}

/// A megaflow in its subtable's set, with the hash of its key: the set
/// holds a pointer and a hash per flow rather than a copy of the key (a
/// key is a few hundred bytes, and growing a table of 10,000 flows moved
/// them all), and growing the set rehashes from the hashes kept here
/// instead of reading and hashing every key again (a subtable filling up
/// from empty, as after a purge or for a new mask, spent ~5% of the poll
/// thread's flow setups in that rehashing).
struct ByKey {
    hash: u64,
    flow: Arc<Megaflow>,
}

/// The hash a subtable files a (masked) key under: the key hasher's,
/// finished so that the low bits the set indexes by depend on every bit.
fn key_hash(key: &FlowKey) -> u64 {
    use std::hash::BuildHasher;
    ferrovs_netdev::fasthash::fmix64(BuildHasherDefault::<KeyHasher>::default().hash_one(key))
}

/// What a subtable is searched with: a key and its [`key_hash`]. Lookups
/// borrow an entry as one (`ByKey: Borrow<dyn Probe>`), so that a search
/// takes a key without a megaflow around it.
trait Probe {
    fn hash(&self) -> u64;
    fn key(&self) -> &FlowKey;
}

impl Probe for ByKey {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &FlowKey {
        &self.flow.key
    }
}

/// A key to search a subtable for.
struct KeyProbe<'a> {
    hash: u64,
    key: &'a FlowKey,
}

impl<'a> KeyProbe<'a> {
    fn new(key: &'a FlowKey) -> Self {
        KeyProbe {
            hash: key_hash(key),
            key,
        }
    }
}

impl Probe for KeyProbe<'_> {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &FlowKey {
        self.key
    }
}

impl std::hash::Hash for dyn Probe + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(Probe::hash(self));
    }
}

impl PartialEq for dyn Probe + '_ {
    fn eq(&self, other: &Self) -> bool {
        Probe::hash(self) == Probe::hash(other) && self.key() == other.key()
    }
}

impl Eq for dyn Probe + '_ {}

impl std::hash::Hash for ByKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `dyn Probe` hashes: the two must agree.
        state.write_u64(self.hash);
    }
}

impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.flow.key == other.flow.key
    }
}

impl Eq for ByKey {}

impl<'a> std::borrow::Borrow<dyn Probe + 'a> for ByKey {
    fn borrow(&self) -> &(dyn Probe + 'a) {
        self
    }
}

/// The hasher of a subtable's set: the value written is already a hash
/// ([`key_hash`], seeded), so it passes through.
#[derive(Default)]
struct StoredHash(u64);

impl Hasher for StoredHash {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; anything else still hashes.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The megaflow table.
#[derive(Default)]
pub struct Classifier {
    subtables: Vec<Subtable>,
    by_ufid: UfidMap<Arc<Megaflow>>,
}

/// The result of a lookup: the flow and how many subtables were searched.
pub struct Lookup {
    pub flow: Arc<Megaflow>,
    pub subtables_searched: u32,
}

impl Classifier {
    pub fn lookup(&self, key: &FlowKey) -> Option<Lookup> {
        for (i, st) in self.subtables.iter().enumerate() {
            let masked = key.masked(&st.mask);
            if let Some(e) = st.flows.get(&KeyProbe::new(&masked) as &dyn Probe) {
                st.hits.fetch_add(1, Ordering::Relaxed);
                return Some(Lookup {
                    flow: Arc::clone(&e.flow),
                    subtables_searched: i as u32 + 1,
                });
            }
        }
        None
    }

    pub fn get(&self, ufid: Ufid) -> Option<&Arc<Megaflow>> {
        self.by_ufid.get(&ufid)
    }

    /// The flow with exactly this masked key and mask, if any.
    pub fn find_exact(&self, key: &FlowKey, mask: &FlowKey) -> Option<&Arc<Megaflow>> {
        self.subtables
            .iter()
            .find(|st| st.mask == *mask)
            .and_then(|st| st.flows.get(&KeyProbe::new(key) as &dyn Probe))
            .map(|e| &e.flow)
    }

    /// Installs a new flow unless a flow with its UFID or with its key and
    /// mask is there already (then nothing changes and the answer is
    /// false). The key, a few hundred bytes, is hashed once.
    pub fn insert_new(&mut self, flow: Arc<Megaflow>) -> bool {
        if self.by_ufid.contains_key(&flow.ufid) {
            return false;
        }
        let entry = ByKey {
            hash: key_hash(&flow.key),
            flow: Arc::clone(&flow),
        };
        if !self.subtable_mut(&flow.mask).flows.insert(entry) {
            return false;
        }
        self.by_ufid.insert(flow.ufid, flow);
        true
    }

    /// The subtable of `mask`, added (last) when there is none.
    fn subtable_mut(&mut self, mask: &FlowKey) -> &mut Subtable {
        match self.subtables.iter().position(|s| s.mask == *mask) {
            Some(i) => &mut self.subtables[i],
            None => {
                self.subtables.push(Subtable {
                    mask: *mask,
                    flows: HashSet::default(),
                    hits: AtomicU64::new(0),
                });
                let last = self.subtables.len() - 1;
                &mut self.subtables[last]
            }
        }
    }

    /// Installs a flow, replacing (and marking dead) any flow with the same
    /// UFID or the same key and mask.
    pub fn insert(&mut self, flow: Arc<Megaflow>) {
        if let Some(old) = self.by_ufid.get(&flow.ufid).cloned() {
            self.remove(old.ufid);
        }
        let entry = ByKey {
            hash: key_hash(&flow.key),
            flow: Arc::clone(&flow),
        };
        // A flow with the same key and mask goes (found by the insert
        // itself: the key, a few hundred bytes, is hashed once).
        if let Some(ByKey { flow: old, .. }) = self.subtable_mut(&flow.mask).flows.replace(entry) {
            old.dead.store(true, Ordering::Relaxed);
            self.by_ufid.remove(&old.ufid);
        }
        self.by_ufid.insert(flow.ufid, flow);
    }

    pub fn remove(&mut self, ufid: Ufid) -> Option<Arc<Megaflow>> {
        let flow = self.by_ufid.remove(&ufid)?;
        flow.dead.store(true, Ordering::Relaxed);
        if let Some(i) = self.subtables.iter().position(|s| s.mask == flow.mask) {
            let probe = KeyProbe::new(&flow.key);
            self.subtables[i].flows.remove(&probe as &dyn Probe);
            if self.subtables[i].flows.is_empty() {
                self.subtables.remove(i);
            }
        }
        Some(flow)
    }

    pub fn clear(&mut self) {
        for f in self.by_ufid.values() {
            f.dead.store(true, Ordering::Relaxed);
        }
        self.by_ufid.clear();
        self.subtables.clear();
    }

    pub fn flows(&self) -> impl Iterator<Item = &Arc<Megaflow>> {
        self.by_ufid.values()
    }

    pub fn n_flows(&self) -> usize {
        self.by_ufid.len()
    }

    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    /// Puts the most-hit subtables first and ages the hit counts.
    pub fn sort_subtables(&mut self) {
        self.subtables
            .sort_by_key(|s| std::cmp::Reverse(s.hits.load(Ordering::Relaxed)));
        for s in &self.subtables {
            let h = s.hits.load(Ordering::Relaxed);
            s.hits.store(h / 2, Ordering::Relaxed);
        }
    }

    /// The masks in search order (for tests and `pmd-stats`-like output).
    pub fn masks(&self) -> Vec<FlowKey> {
        self.subtables.iter().map(|s| s.mask).collect()
    }
}

/// Most entries an exact-match cache holds before it starts over.
pub const EXACT_CACHE_SIZE: usize = 8192;

/// Full packet key to megaflow, private to one poll thread.
///
/// It holds its flows weakly: a flow deleted from the classifier (idle,
/// revalidated away, purged) is dropped by the thread that deleted it,
/// its actions and shared key, mask and actions bytes with it, and the
/// poll thread only lets go of the emptied allocation when it next meets
/// the entry. (Holding them strongly left that freeing to the poll
/// thread, in the middle of forwarding, as stock's pmd threads avoid by
/// leaving it to the RCU thread.)
#[derive(Default)]
pub struct ExactCache {
    map: KeyMap<Weak<Megaflow>>,
}

impl ExactCache {
    pub fn lookup(&mut self, key: &FlowKey) -> Option<Arc<Megaflow>> {
        let live = self.map.get(key)?.upgrade().filter(|f| !f.is_dead());
        if live.is_none() {
            self.map.remove(key);
        }
        live
    }

    pub fn insert(&mut self, key: FlowKey, flow: &Arc<Megaflow>) {
        if self.map.len() >= EXACT_CACHE_SIZE {
            // Dead entries first; if that frees nothing, start over.
            self.map
                .retain(|_, f| f.upgrade().is_some_and(|f| !f.is_dead()));
            if self.map.len() >= EXACT_CACHE_SIZE {
                self.map.clear();
            }
        }
        self.map.insert(key, Arc::downgrade(flow));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(ufid: Ufid, port: u16) -> Arc<Megaflow> {
        let mask = FlowKey {
            tp_dst: 0xffff,
            ..Default::default()
        };
        let key = FlowKey {
            tp_dst: port,
            ..Default::default()
        };
        Arc::new(Megaflow {
            key,
            mask,
            ufid,
            key_attrs: Arc::from([]),
            mask_attrs: Arc::from([]),
            actions_attrs: Arc::from([]),
            actions: Vec::new(),
            counters: Arc::default(),
            dead: AtomicBool::new(false),
        })
    }

    #[test]
    fn insert_replaces_the_same_ufid_or_the_same_match() {
        let mut cls = Classifier::default();
        let a = flow(1, 80);
        cls.insert(Arc::clone(&a));
        // Same match, another UFID: the old flow goes, dead.
        let b = flow(2, 80);
        cls.insert(Arc::clone(&b));
        assert!(a.is_dead() && !b.is_dead());
        assert_eq!(cls.n_flows(), 1);
        assert!(cls.get(1).is_none());
        let key = FlowKey {
            tp_dst: 80,
            ..Default::default()
        };
        assert_eq!(cls.lookup(&key).map(|l| l.flow.ufid), Some(2));
        // Same UFID, another match: the old match no longer hits.
        let c = flow(2, 443);
        cls.insert(Arc::clone(&c));
        assert!(b.is_dead() && !c.is_dead());
        assert_eq!(cls.n_flows(), 1);
        assert!(cls.lookup(&key).is_none());
        let key443 = FlowKey {
            tp_dst: 443,
            ..Default::default()
        };
        assert_eq!(cls.lookup(&key443).map(|l| l.flow.ufid), Some(2));
        assert_eq!(cls.n_subtables(), 1);
        // Another flow beside it.
        cls.insert(flow(3, 22));
        assert_eq!(cls.n_flows(), 2);
        assert!(cls.remove(3).is_some());
        assert_eq!(cls.n_flows(), 1);
    }
}
