//! The MAC learning table of one bridge (the forwarding database that the
//! NORMAL action consults): (VLAN, MAC) → OpenFlow port, with Open
//! vSwitch's rules for aging, size and statistics.
//!
//! - An entry lives `idle_time` seconds after the last packet that taught
//!   it (Bridge other_config:mac-aging-time, default 300, kept within
//!   15..=3600 as stock does).
//! - At most `max_entries` entries (other_config:mac-table-size, default
//!   8192, kept within 10..=1_000_000). A new entry in a full table
//!   evicts the least recently used entry of the port that has the most
//!   entries, so that one busy port cannot push out everyone else.
//! - Multicast source addresses are never learned, and lookups of
//!   multicast destinations never hit.
//!
//! A change that can change a translation is reported by
//! [`MacTable::take_changes`], which the service logs as a change scoped
//! to that (VLAN, MAC) (`service::changes::Scope::Mac`): the revalidators
//! then translate again only the flows whose NORMAL looked that
//! destination up (each translation records its lookups). A flow's
//! source address is learned as a side effect; what the flow does never
//! depends on the entry of its source, so a source is no reason to
//! translate a flow again.
//!
//! To spare the revalidators a pass for changes no flow can see, the
//! table remembers what translations consulted: entries that sent a
//! packet somewhere (`used`) and destinations that were missing
//! (`missed`, flooded). A new entry (or one back from expiry) is a change
//! only if its address was missed; a move, expiry or removal only if the
//! entry was used or missed. Settings that change every lookup (aging
//! time, flood VLANs) and too many missed addresses to remember are a
//! change to every flow.

use ferrovs_netdev::fasthash::FastHashing;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Stock's defaults (MAC_ENTRY_DEFAULT_IDLE_TIME, MAC_DEFAULT_MAX).
pub const DEFAULT_IDLE_TIME: u32 = 300;
pub const DEFAULT_MAX_ENTRIES: usize = 8192;

/// A (VLAN, MAC) address of the table.
pub type MacKey = (u16, [u8; 6]);
type Key = MacKey;

/// The table's maps: their keys (a VLAN and a MAC) come from packets,
/// hence the seeded [`FastHashing`] (std's SipHash of every learned and
/// looked-up address was ~1.5% of the poll thread in a burst of new MAC
/// addresses).
type MacHashing = FastHashing;

type MacMap<K, V> = HashMap<K, V, MacHashing>;

#[derive(Debug, Clone)]
struct Entry {
    port: u16,
    /// Added by `fdb/add`: never learned over, aged, flushed or evicted.
    is_static: bool,
    /// When a packet last taught this entry.
    seen: Instant,
    /// Its place in the LRU order (`MacTable::lru`).
    seq: u64,
    /// A translation forwarded by it (it was looked up and found).
    used: bool,
}

/// How many missed destinations are remembered; beyond that they are
/// forgotten together, as a change to every flow (whose translations
/// then record their misses again).
const MAX_MISSED: usize = 16384;

/// Changed entries reported at most at once; beyond that, a change to
/// every flow is cheaper to log.
const MAX_CHANGED: usize = 16384;

/// What changed in a table since the last [`MacTable::take_changes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MacChanges {
    /// Every translation through NORMAL may have changed.
    pub all: bool,
    /// These entries changed for the flows that looked them up.
    pub keys: Vec<MacKey>,
}

impl MacChanges {
    pub fn is_empty(&self) -> bool {
        !self.all && self.keys.is_empty()
    }
}

/// What a Bridge row says about L2 switching: other_config
/// `mac-aging-time` and `mac-table-size` (0: the default, as stock
/// reads an absent or unparsable value), the `flood_vlans` column (VLANs
/// without learning) and other_config `forward-bpdu`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MacConfig {
    pub idle_time: i64,
    pub max_entries: i64,
    pub flood_vlans: Vec<u16>,
    pub forward_bpdu: bool,
}

/// Counters of `fdb/stats-show`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MacStats {
    pub learned: u64,
    pub expired: u64,
    pub evicted: u64,
    pub moved: u64,
}

/// What `learn` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// Not learnable (multicast source).
    No,
    /// Already known on this port: its age starts again.
    Refreshed,
    /// A new entry.
    New,
    /// Known on another port before.
    Moved,
}

/// One bridge's MAC learning table.
#[derive(Debug)]
pub struct MacTable {
    entries: MacMap<Key, Entry>,
    /// Least recently learned first.
    lru: BTreeMap<u64, Key>,
    /// The dynamic entries of each port, least recently learned first:
    /// eviction picks the busiest port's oldest without a scan of the
    /// table (a full table evicts on every new address).
    by_port: MacMap<u16, BTreeMap<u64, Key>>,
    next_seq: u64,
    idle_time: u32,
    max_entries: usize,
    pub stats: MacStats,
    /// Changes not taken yet (see the module comment).
    changed: MacChanges,
    /// VLANs that are flooded, never learned (sorted).
    flood_vlans: Vec<u16>,
    /// Destinations translations flooded for and not learned since.
    missed: HashSet<Key, MacHashing>,
}

impl Default for MacTable {
    fn default() -> Self {
        MacTable {
            entries: MacMap::default(),
            lru: BTreeMap::new(),
            by_port: MacMap::default(),
            next_seq: 0,
            idle_time: DEFAULT_IDLE_TIME,
            max_entries: DEFAULT_MAX_ENTRIES,
            stats: MacStats::default(),
            changed: MacChanges::default(),
            flood_vlans: Vec::new(),
            missed: HashSet::default(),
        }
    }
}

/// Forgets a dynamic entry's place in its port's LRU order.
fn untrack(by_port: &mut MacMap<u16, BTreeMap<u64, Key>>, port: u16, seq: u64) {
    if let Some(lru) = by_port.get_mut(&port) {
        lru.remove(&seq);
        if lru.is_empty() {
            by_port.remove(&port);
        }
    }
}

/// Whether `mac` is a group (multicast or broadcast) address.
pub fn is_multicast(mac: [u8; 6]) -> bool {
    mac[0] & 1 != 0
}

impl MacTable {
    /// Applies a Bridge's settings; new flood VLANs forget what was
    /// learned, as in stock.
    pub fn configure(&mut self, cfg: &MacConfig) {
        self.set_config(cfg.idle_time, cfg.max_entries);
        let mut fv = cfg.flood_vlans.clone();
        fv.sort_unstable();
        fv.dedup();
        if fv != self.flood_vlans {
            self.flood_vlans = fv;
            self.flush();
            self.changed.all = true;
        }
    }

    /// Whether `vlan` learns (it is not a flood VLAN).
    fn learns(&self, vlan: u16) -> bool {
        self.flood_vlans.binary_search(&vlan).is_err()
    }

    /// Applies mac-aging-time and mac-table-size (0 means the default,
    /// as stock reads an absent or unparsable value).
    pub fn set_config(&mut self, idle_time: i64, max_entries: i64) {
        let idle = if idle_time == 0 {
            DEFAULT_IDLE_TIME as i64
        } else {
            idle_time
        };
        let max = if max_entries == 0 {
            DEFAULT_MAX_ENTRIES as i64
        } else {
            max_entries
        };
        // Stock passes them on as unsigned: a negative value is huge.
        let unsigned = |v: i64| if v < 0 { i64::MAX } else { v };
        let idle = unsigned(idle).clamp(15, 3600) as u32;
        let max = unsigned(max).clamp(10, 1_000_000) as usize;
        if idle != self.idle_time {
            self.idle_time = idle;
            self.changed.all = true;
        }
        self.max_entries = max;
    }

    pub fn idle_time(&self) -> u32 {
        self.idle_time
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        !e.is_static
            && now.saturating_duration_since(e.seen) >= Duration::from_secs(self.idle_time.into())
    }

    /// How many entries are static.
    pub fn n_static(&self) -> usize {
        self.entries.values().filter(|e| e.is_static).count()
    }

    /// The port `mac` was learned on in `vlan`, if it is known and alive.
    pub fn lookup(&self, mac: [u8; 6], vlan: u16, now: Instant) -> Option<u16> {
        if is_multicast(mac) || !self.learns(vlan) {
            return None;
        }
        self.entries
            .get(&(vlan, mac))
            .filter(|e| !self.expired(e, now))
            .map(|e| e.port)
    }

    /// `lookup` for a translation whose flow may be installed (or be
    /// kept by a revalidation): what it consulted is remembered (see the
    /// module comment).
    pub fn lookup_for_flow(&mut self, mac: [u8; 6], vlan: u16, now: Instant) -> Option<u16> {
        if is_multicast(mac) || !self.learns(vlan) {
            return None;
        }
        let key = (vlan, mac);
        let idle = Duration::from_secs(self.idle_time.into());
        match self.entries.get_mut(&key) {
            Some(e) if e.is_static || now.saturating_duration_since(e.seen) < idle => {
                e.used = true;
                Some(e.port)
            }
            _ => {
                if self.missed.len() >= MAX_MISSED && !self.missed.contains(&key) {
                    self.missed.clear();
                    self.changed.all = true;
                }
                self.missed.insert(key);
                None
            }
        }
    }

    /// Notes that `key` changed for the flows that looked it up.
    fn changed(&mut self, key: Key) {
        if self.changed.all {
            return;
        }
        if self.changed.keys.len() >= MAX_CHANGED {
            self.changed.keys.clear();
            self.changed.all = true;
        } else {
            self.changed.keys.push(key);
        }
    }

    /// Learns that `mac` in `vlan` is behind `port`.
    pub fn learn(&mut self, mac: [u8; 6], vlan: u16, port: u16, now: Instant) -> Learned {
        if is_multicast(mac) || !self.learns(vlan) {
            return Learned::No;
        }
        let key = (vlan, mac);
        // Learned again while it is the newest entry (a packet's upcall
        // learns its source in translation, then once more where its
        // learned state is applied): only its age starts again.
        if let Some(e) = self.entries.get_mut(&key) {
            if !e.is_static && e.port == port && e.seq + 1 == self.next_seq {
                e.seen = now;
                if self.missed.remove(&key) {
                    self.changed(key);
                }
                return Learned::Refreshed;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let missed = self.missed.remove(&key);
        let (outcome, stale) = match self.entries.get_mut(&key) {
            Some(e) if e.is_static => return Learned::No,
            Some(e) => {
                self.lru.remove(&e.seq);
                if e.port == port {
                    // It stays on its port: its place there moves, and
                    // the port's order is kept even if this was its only
                    // entry (dropping it and allocating it again below
                    // cost a malloc and a free per learn).
                    if let Some(lru) = self.by_port.get_mut(&port) {
                        lru.remove(&e.seq);
                    }
                } else {
                    untrack(&mut self.by_port, e.port, e.seq);
                }
                e.seq = seq;
                e.seen = now;
                // An expired entry that is still here was missed by
                // lookups: it comes back as if new.
                if e.port == port {
                    (Learned::Refreshed, missed)
                } else {
                    e.port = port;
                    self.stats.moved += 1;
                    (Learned::Moved, missed || e.used)
                }
            }
            None => {
                if self.entries.len() >= self.max_entries {
                    self.evict_fairly();
                }
                self.entries.insert(
                    key,
                    Entry {
                        port,
                        is_static: false,
                        seen: now,
                        seq,
                        used: false,
                    },
                );
                self.stats.learned += 1;
                (Learned::New, missed)
            }
        };
        self.lru.insert(seq, key);
        self.by_port.entry(port).or_default().insert(seq, key);
        if stale {
            self.changed(key);
        }
        outcome
    }

    /// Adds or converts a static entry (`fdb/add`); returns the port and
    /// kind (static or not) of the entry it replaces, if any.
    pub fn add_static(
        &mut self,
        mac: [u8; 6],
        vlan: u16,
        port: u16,
        now: Instant,
    ) -> Option<(u16, bool)> {
        let key = (vlan, mac);
        let seq = self.next_seq;
        self.next_seq += 1;
        let old = match self.entries.get_mut(&key) {
            Some(e) => {
                self.lru.remove(&e.seq);
                if !e.is_static {
                    untrack(&mut self.by_port, e.port, e.seq);
                }
                let old = (e.port, e.is_static);
                e.seq = seq;
                e.is_static = true;
                e.seen = now;
                e.port = port;
                Some(old)
            }
            None => {
                if self.entries.len() >= self.max_entries {
                    self.evict_fairly();
                }
                self.entries.insert(
                    key,
                    Entry {
                        port,
                        is_static: true,
                        seen: now,
                        seq,
                        used: false,
                    },
                );
                None
            }
        };
        self.lru.insert(seq, key);
        self.missed.remove(&key);
        self.changed(key);
        old
    }

    /// Removes a static entry (`fdb/del`); false when there is none.
    pub fn del_static(&mut self, mac: [u8; 6], vlan: u16) -> bool {
        let key = (vlan, mac);
        if self.entries.get(&key).is_some_and(|e| e.is_static) {
            self.remove(&key);
            true
        } else {
            false
        }
    }

    /// Removes the least recently used entry of the port with the most
    /// entries.
    fn evict_fairly(&mut self) {
        // Ties go to the lower port number, for determinism.
        let victim = self
            .by_port
            .iter()
            .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
            .and_then(|(_, lru)| lru.values().next())
            .copied();
        if let Some(k) = victim {
            self.remove(&k);
            self.stats.evicted += 1;
        }
    }

    fn remove(&mut self, k: &Key) {
        if let Some(e) = self.entries.remove(k) {
            self.lru.remove(&e.seq);
            if !e.is_static {
                untrack(&mut self.by_port, e.port, e.seq);
            }
            if e.used {
                self.changed(*k);
            }
        }
    }

    /// Expires entries that outlived the aging time, and the oldest ones
    /// beyond the size limit (after a shrink).
    pub fn run(&mut self, now: Instant) {
        loop {
            // The least recently used dynamic entry.
            let Some(k) = self
                .lru
                .values()
                .find(|k| self.entries.get(*k).is_some_and(|e| !e.is_static))
                .copied()
            else {
                return;
            };
            let over = self.entries.len() > self.max_entries;
            let old = self.entries.get(&k).is_some_and(|e| self.expired(e, now));
            if !(over || old) {
                return;
            }
            self.remove(&k);
            self.stats.expired += 1;
        }
    }

    /// Forgets every learned entry (fdb/flush); static ones stay.
    pub fn flush(&mut self) {
        let keys: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.is_static)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.remove(&k);
        }
    }

    /// Forgets the entries of ports for which `gone` says so (ports
    /// deleted from the bridge).
    pub fn flush_ports(&mut self, gone: impl Fn(u16) -> bool) {
        let keys: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| gone(e.port))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.remove(&k);
        }
    }

    /// What changed since the last call (see the module comment).
    pub fn take_changes(&mut self) -> MacChanges {
        std::mem::take(&mut self.changed)
    }

    /// The entries, least recently learned first: (port, VLAN, MAC, age
    /// in seconds or None for a static entry).
    pub fn entries(&self, now: Instant) -> Vec<(u16, u16, [u8; 6], Option<u64>)> {
        self.lru
            .values()
            .filter_map(|k| {
                let e = self.entries.get(k)?;
                let age = now.saturating_duration_since(e.seen).as_secs();
                Some((e.port, k.0, k.1, (!e.is_static).then_some(age)))
            })
            .collect()
    }

    /// `fdb/show`: stock's table, ports by OpenFlow number (`LOCAL` for
    /// the bridge's own port).
    pub fn show(&self, now: Instant) -> String {
        let mut out = String::from(" port  VLAN  MAC                Age\n");
        for (port, vlan, mac, age) in self.entries(now) {
            let name = if port == crate::openflow::actions::port::LOCAL {
                "LOCAL".to_string()
            } else {
                port.to_string()
            };
            let m = mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            match age {
                Some(age) => out.push_str(&format!("{name:>5}  {vlan:4}  {m}  {age:3}\n")),
                None => out.push_str(&format!("{name:>5}  {vlan:4}  {m}  static\n")),
            }
        }
        out
    }

    /// `fdb/stats-show` for bridge `name`.
    pub fn stats_show(&self, name: &str) -> String {
        let s = &self.stats;
        format!(
            "Statistics for bridge \"{name}\":\n  \
             Current/maximum MAC entries in the table: {}/{}\n  \
             Current static MAC entries in the table : {}\n  \
             Total number of learned MAC entries     : {}\n  \
             Total number of expired MAC entries     : {}\n  \
             Total number of evicted MAC entries     : {}\n  \
             Total number of port moved MAC entries  : {}\n",
            self.entries.len(),
            self.max_entries,
            self.n_static(),
            s.learned,
            s.expired,
            s.evicted,
            s.moved
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> [u8; 6] {
        [0x50, 0x54, 0, 0, 0, n]
    }

    /// The entries (VLAN 0) that changed, or None for "everything".
    fn changed(t: &mut MacTable) -> Option<Vec<u8>> {
        let c = t.take_changes();
        (!c.all).then(|| c.keys.iter().map(|k| k.1[5]).collect())
    }

    #[test]
    fn learns_moves_and_ages() {
        let t0 = Instant::now();
        let mut t = MacTable::default();
        t.set_config(20, 0);
        assert_eq!(changed(&mut t), None, "the aging time changed");
        // Nobody looked for it: no flow can be stale.
        assert_eq!(t.learn(mac(1), 0, 1, t0), Learned::New);
        assert_eq!(changed(&mut t), Some(vec![]));
        // A flow flooded for 02 until it is learned.
        assert_eq!(t.lookup_for_flow(mac(2), 0, t0), None);
        assert_eq!(t.learn(mac(2), 0, 2, t0), Learned::New);
        assert_eq!(changed(&mut t), Some(vec![2]));
        assert_eq!(t.learn(mac(2), 0, 2, t0), Learned::Refreshed, "the newest");
        assert_eq!(t.learn(mac(1), 0, 1, t0), Learned::Refreshed);
        assert_eq!(changed(&mut t), Some(vec![]));
        assert_eq!(t.lookup_for_flow(mac(1), 0, t0), Some(1));
        assert_eq!(t.lookup(mac(1), 10, t0), None, "VLANs are separate");
        assert_eq!(t.learn([1, 0, 0x5e, 0, 0, 1], 0, 1, t0), Learned::No);
        assert_eq!(t.lookup([0xff; 6], 0, t0), None);
        assert_eq!(t.learn(mac(1), 0, 2, t0), Learned::Moved);
        assert_eq!(t.learn(mac(2), 0, 1, t0), Learned::Moved);
        assert_eq!(changed(&mut t), Some(vec![1]), "02 was never found");
        assert_eq!(t.lookup_for_flow(mac(1), 0, t0), Some(2));
        let later = t0 + Duration::from_secs(21);
        assert_eq!(t.lookup(mac(1), 0, later), None, "aged out");
        t.run(later);
        assert!(t.is_empty());
        assert_eq!(changed(&mut t), Some(vec![1]), "a used entry expired");
        assert_eq!(
            t.stats,
            MacStats {
                learned: 2,
                expired: 2,
                evicted: 0,
                moved: 2
            }
        );
    }

    #[test]
    fn a_full_table_evicts_from_the_busiest_port() {
        let t0 = Instant::now();
        let mut t = MacTable::default();
        t.set_config(-1, -1);
        assert_eq!((t.idle_time(), t.max_entries()), (3600, 1_000_000));
        t.set_config(0, 10);
        assert_eq!((t.idle_time(), t.max_entries()), (300, 10));
        // Port 1 has the oldest entry; port 2 has the most.
        t.learn(mac(100), 0, 1, t0);
        for i in 0..9 {
            t.learn(mac(i), 0, 2, t0);
        }
        t.learn(mac(50), 0, 3, t0);
        assert_eq!(t.len(), 10);
        assert_eq!(t.lookup(mac(0), 0, t0), None, "port 2's oldest went");
        assert_eq!(t.lookup(mac(100), 0, t0), Some(1));
        assert_eq!(t.stats.evicted, 1);
        t.flush_ports(|p| p == 2);
        assert_eq!(t.len(), 2);
        let shown = t.show(t0);
        assert_eq!(
            shown,
            " port  VLAN  MAC                Age\n    1     0  50:54:00:00:00:64    0\n    3     0  50:54:00:00:00:32    0\n"
        );
        t.flush();
        assert!(t.is_empty());
    }

    #[test]
    fn static_entries_stay() {
        let t0 = Instant::now();
        let mut t = MacTable::default();
        t.set_config(15, 10);
        assert!(t.take_changes().all, "the aging time changed");
        assert_eq!(t.add_static(mac(1), 5, 3, t0), None);
        assert_eq!(t.learn(mac(1), 5, 4, t0), Learned::No, "not learned over");
        t.learn(mac(2), 5, 4, t0);
        let later = t0 + Duration::from_secs(100);
        t.run(later);
        assert_eq!(t.lookup(mac(1), 5, later), Some(3));
        assert_eq!(t.lookup(mac(2), 5, later), None);
        t.learn(mac(2), 5, 4, later);
        // The static entry changed what flows looking for it do.
        assert_eq!(t.take_changes().keys, vec![(5, mac(1))]);
        t.run(later + Duration::from_secs(20));
        assert!(t.take_changes().is_empty(), "unused entries expire quietly");
        t.learn(mac(2), 5, 4, later);
        assert!(t.take_changes().is_empty(), "back on the same port");
        t.run(later + Duration::from_secs(40));
        t.learn(mac(2), 5, 3, later);
        // What a flow does never depends on its source's entry.
        assert!(t.take_changes().is_empty(), "back on another port");
        assert_eq!(t.lookup_for_flow(mac(2), 5, later), Some(3));
        t.learn(mac(2), 5, 4, later);
        assert_eq!(t.take_changes().keys, vec![(5, mac(2))], "a used one moved");
        t.flush();
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.show(later),
            " port  VLAN  MAC                Age\n    3     5  50:54:00:00:00:01  static\n"
        );
        assert_eq!(t.add_static(mac(1), 5, 4, later), Some((3, true)));
        t.configure(&MacConfig {
            flood_vlans: vec![6],
            ..Default::default()
        });
        assert_eq!(t.learn(mac(7), 6, 1, later), Learned::No, "flood VLAN");
        assert_eq!(t.learn(mac(7), 7, 1, later), Learned::New);
        assert!(t.take_changes().all, "flood VLANs changed");
        assert!(t.del_static(mac(1), 5));
        assert!(!t.del_static(mac(1), 5));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn too_many_misses_are_one_change_to_everything() {
        let t0 = Instant::now();
        let mut t = MacTable::default();
        for i in 0..MAX_MISSED as u32 {
            let b = i.to_be_bytes();
            assert_eq!(
                t.lookup_for_flow([2, 0, b[0], b[1], b[2], b[3]], 0, t0),
                None
            );
        }
        assert!(t.take_changes().is_empty());
        assert_eq!(t.lookup_for_flow(mac(1), 0, t0), None);
        assert!(t.take_changes().all, "the misses before were forgotten");
        // The last one is still remembered.
        t.learn(mac(1), 0, 1, t0);
        assert_eq!(t.take_changes().keys, vec![(0, mac(1))]);
        t.learn([2, 0, 0, 0, 0, 0], 0, 1, t0);
        assert!(t.take_changes().is_empty());
    }
}
