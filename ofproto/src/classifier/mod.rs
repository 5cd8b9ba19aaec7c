//! A classifier of priority-ordered wildcard rules: tuple space search.
//!
//! Rules with the same mask live in one subtable: dense slots holding each
//! rule's priority and the rule itself, the masked keys packed beside them
//! (only the key bytes the mask covers, so a rule costs a few bytes of key,
//! not a whole flow), and a hash index from a key to its rules (highest
//! priority first). Adding, finding and removing a rule cost one hash
//! probe, whatever the number of rules. A lookup probes subtables in order
//! of their highest priority and stops when no remaining subtable can beat
//! the best hit. It reports the bits of the packet the answer depended
//! on, which is what a datapath megaflow must match, and keeps them as few
//! as Open vSwitch does (see `staged`): a subtable is probed stage by stage
//! (metadata, L2, L3, L4) and a miss at one stage leaves the later ones
//! unexamined; prefix tries over the IPv4 addresses skip subtables whose
//! prefixes cannot match after looking at only the leading address bits;
//! and a miss on transport ports examines only the leading port bits that
//! tell the packet apart from the subtable's rules.

use crate::openflow::fields::{Match, KEY_LEN};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

mod counts;
mod prefixes;
#[cfg(test)]
mod reference_tests;
mod staged;
use self::staged::{StageIndex, Tries};

/// Marks the end of a chain of rules in a subtable.
const NONE: u32 = u32::MAX;

/// One rule of a subtable, in its slot.
#[derive(Clone)]
struct Slot<T> {
    priority: u32,
    /// The next rule whose key has the same hash (the same key, or a
    /// rare collision), in descending priority order; `NONE` ends it.
    next: u32,
    rule: T,
}

/// The rules that share one mask. Rules sit in dense slots (their masked
/// keys, only the bytes the mask covers, packed side by side in `keys`);
/// `index` maps a key's hash to the first slot of its chain. A rule thus
/// costs its key bytes, two words and one index entry, with no heap
/// allocation of its own.
#[derive(Clone)]
struct Subtable<T> {
    mask: Box<[u8; KEY_LEN]>,
    /// Offsets of the key bytes the mask covers, with their mask.
    used: Box<[(u16, u8)]>,
    max_priority: u32,
    /// How many rules have each priority (keeps `max_priority` exact
    /// without a scan when a rule goes).
    priorities: BTreeMap<u32, u32>,
    keys: Vec<u8>,
    slots: Vec<Slot<T>>,
    /// Keyed by `StageIndex::key_hash` of a rule's full key.
    index: HashMap<u64, u32, PreHashed>,
    seed: u64,
    stages: StageIndex,
}

/// The index's keys are already hashes: spread them, do not rehash.
#[derive(Clone, Copy, Default)]
struct PreHashed;

impl BuildHasher for PreHashed {
    type Hasher = PreHasher;
    fn build_hasher(&self) -> PreHasher {
        PreHasher(0)
    }
}

struct PreHasher(u64);

impl std::hash::Hasher for PreHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        // A multiply spreads low-entropy words over the high bits too.
        self.0 = (v ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A random seed for a subtable's key hash, so that rules cannot be
/// chosen to collide.
fn random_seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u64) | 1
}

impl<T> Subtable<T> {
    fn new(mask: &[u8; KEY_LEN]) -> Self {
        let used: Vec<(u16, u8)> = (0..KEY_LEN)
            .filter(|&i| mask[i] != 0)
            .map(|i| (i as u16, mask[i]))
            .collect();
        Subtable {
            mask: Box::new(*mask),
            used: used.into_boxed_slice(),
            max_priority: 0,
            priorities: BTreeMap::new(),
            keys: Vec::new(),
            slots: Vec::new(),
            index: HashMap::default(),
            seed: random_seed(),
            stages: StageIndex::new(mask),
        }
    }

    fn n_rules(&self) -> usize {
        self.slots.len()
    }

    /// The compressed masked key of a full key: the bytes the mask
    /// covers, in order.
    fn compress(&self, key: &[u8; KEY_LEN]) -> Vec<u8> {
        self.used
            .iter()
            .map(|&(i, m)| key[i as usize] & m)
            .collect()
    }

    /// The hash of a full key's masked bytes (the index's key).
    fn hash(&self, key: &[u8; KEY_LEN]) -> u64 {
        self.stages.key_hash(key, self.seed)
    }

    fn key_of(&self, slot: u32) -> &[u8] {
        let n = self.used.len();
        let at = slot as usize * n;
        self.keys.get(at..at + n).unwrap_or(&[])
    }

    /// Whether slot `slot`'s rule has the masked key of `key`.
    fn matches(&self, slot: u32, key: &[u8; KEY_LEN]) -> bool {
        let short = self.key_of(slot);
        short.len() == self.used.len()
            && self
                .used
                .iter()
                .zip(short)
                .all(|(&(i, m), &b)| key[i as usize] & m == b)
    }

    /// The full key of a compressed one (bits outside the mask zero).
    fn expand_key(&self, short: &[u8]) -> [u8; KEY_LEN] {
        let mut k = [0; KEY_LEN];
        for (&(i, _), &b) in self.used.iter().zip(short) {
            k[i as usize] = b;
        }
        k
    }

    fn expand(&self, short: &[u8]) -> Match {
        Match {
            key: self.expand_key(short),
            mask: *self.mask,
        }
    }

    /// The hash of slot `slot`'s key.
    fn slot_hash(&self, slot: u32) -> u64 {
        self.hash(&self.expand_key(self.key_of(slot)))
    }

    /// The slot of the rule with the masked key of `key` and `priority`.
    fn find(&self, key: &[u8; KEY_LEN], priority: u32) -> Option<u32> {
        self.find_hashed(key, self.hash(key), priority)
    }

    /// `find` with the key's hash already computed.
    fn find_hashed(&self, key: &[u8; KEY_LEN], h: u64, priority: u32) -> Option<u32> {
        let mut s = *self.index.get(&h)?;
        while s != NONE {
            let slot = &self.slots[s as usize];
            if slot.priority == priority && self.matches(s, key) {
                return Some(s);
            }
            s = slot.next;
        }
        None
    }

    /// The index of the highest-priority slot matching `key`.
    fn best_slot(&self, key: &[u8; KEY_LEN]) -> Option<u32> {
        if self.used.is_empty() {
            // A mask with no bits (a table's catch-all rules): every
            // rule has the empty key, so the index holds one chain, led
            // by the highest priority, and nothing needs hashing.
            return self.index.values().next().copied();
        }
        let mut s = *self.index.get(&self.hash(key))?;
        while s != NONE {
            if self.matches(s, key) {
                return Some(s);
            }
            s = self.slots[s as usize].next;
        }
        None
    }

    /// Adds a rule that is not there yet: `short` its compressed key,
    /// `h` the hash of its full key.
    fn add(&mut self, short: &[u8], h: u64, priority: u32, rule: T) {
        let new = self.slots.len() as u32;
        let head = self.index.get(&h).copied().unwrap_or(NONE);
        // Find the link to rewrite: the chain stays in descending priority.
        let mut prev = NONE;
        let mut s = head;
        while s != NONE && self.slots[s as usize].priority >= priority {
            prev = s;
            s = self.slots[s as usize].next;
        }
        self.keys.extend_from_slice(short);
        self.slots.push(Slot {
            priority,
            next: s,
            rule,
        });
        if prev == NONE {
            self.index.insert(h, new);
        } else {
            self.slots[prev as usize].next = new;
        }
        *self.priorities.entry(priority).or_insert(0) += 1;
        self.max_priority = self.max_priority.max(priority);
    }

    /// Points whatever refers to slot `from` (the index or a chain link)
    /// at slot `to`.
    fn relink(&mut self, from: u32, to: u32) {
        let h = self.slot_hash(from);
        let Some(head) = self.index.get_mut(&h) else {
            return;
        };
        if *head == from {
            *head = to;
            return;
        }
        let mut s = *head;
        while s != NONE {
            let next = self.slots[s as usize].next;
            if next == from {
                self.slots[s as usize].next = to;
                return;
            }
            s = next;
        }
    }

    /// Removes the rule in `slot`, returning it and its priority.
    fn take(&mut self, slot: u32) -> T {
        let next = self.slots[slot as usize].next;
        // Unlink it from its chain.
        let h = self.slot_hash(slot);
        if self.index.get(&h) == Some(&slot) {
            if next == NONE {
                self.index.remove(&h);
            } else {
                self.index.insert(h, next);
            }
        } else {
            self.relink(slot, next);
        }
        // Fill the hole with the last slot.
        let last = self.slots.len() as u32 - 1;
        if slot != last {
            self.relink(last, slot);
            let n = self.used.len();
            let (a, b) = (slot as usize * n, last as usize * n);
            self.keys.copy_within(b..b + n, a);
        }
        self.keys.truncate(last as usize * self.used.len());
        let gone = self.slots.swap_remove(slot as usize);
        if let Some(c) = self.priorities.get_mut(&gone.priority) {
            *c -= 1;
            if *c == 0 {
                self.priorities.remove(&gone.priority);
            }
        }
        self.max_priority = self.priorities.keys().next_back().copied().unwrap_or(0);
        gone.rule
    }
}

/// Rules of type `T`, each with a match and a priority; at most one rule
/// per (match, priority).
#[derive(Clone)]
pub struct Classifier<T> {
    subtables: Vec<Subtable<T>>,
    n_rules: usize,
    tries: Tries,
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Classifier {
            subtables: Vec::new(),
            n_rules: 0,
            tries: Tries::default(),
        }
    }
}

/// The result of a lookup.
pub struct Lookup<'a, T> {
    pub rule: Option<&'a T>,
    /// Bits of the key that the lookup examined.
    pub wildcards: Box<[u8; KEY_LEN]>,
}

impl<T> Classifier<T> {
    pub fn len(&self) -> usize {
        self.n_rules
    }

    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// How many rules have a priority above `priority` (only the
    /// subtables that reach above it are visited).
    pub fn count_above(&self, priority: u32) -> usize {
        self.subtables
            .iter()
            .take_while(|st| st.max_priority > priority)
            .map(|st| st.slots.iter().filter(|s| s.priority > priority).count())
            .sum()
    }

    /// The subtables' masks, in lookup order.
    #[cfg(test)]
    fn subtable_masks(&self) -> Vec<[u8; KEY_LEN]> {
        self.subtables.iter().map(|s| *s.mask).collect()
    }

    fn subtable_index(&self, mask: &[u8; KEY_LEN]) -> Option<usize> {
        self.subtables.iter().position(|s| *s.mask == *mask)
    }

    /// Inserts `rule`, returning the rule it replaces (same match and
    /// priority), if any.
    pub fn insert(&mut self, m: &Match, priority: u32, rule: T) -> Option<T> {
        let idx = match self.subtable_index(&m.mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable::new(&m.mask));
                self.subtables.len() - 1
            }
        };
        let st = &mut self.subtables[idx];
        let h = st.hash(&m.key);
        if let Some(s) = st.find_hashed(&m.key, h, priority) {
            return Some(std::mem::replace(&mut st.slots[s as usize].rule, rule));
        }
        let old_max = (st.n_rules() > 0).then_some(st.max_priority);
        let short = st.compress(&m.key);
        st.add(&short, h, priority, rule);
        st.stages.insert(&m.key);
        self.tries.insert(m);
        self.n_rules += 1;
        if old_max.is_none_or(|p| priority > p) {
            self.sort_subtables();
        }
        None
    }

    fn sort_subtables(&mut self) {
        self.subtables
            .sort_by_key(|s| std::cmp::Reverse(s.max_priority));
    }

    pub fn find_exact(&self, m: &Match, priority: u32) -> Option<&T> {
        let st = &self.subtables[self.subtable_index(&m.mask)?];
        let s = st.find(&m.key, priority)?;
        Some(&st.slots[s as usize].rule)
    }

    pub fn find_exact_mut(&mut self, m: &Match, priority: u32) -> Option<&mut T> {
        let i = self.subtable_index(&m.mask)?;
        let st = &mut self.subtables[i];
        let s = st.find(&m.key, priority)?;
        Some(&mut st.slots[s as usize].rule)
    }

    pub fn remove(&mut self, m: &Match, priority: u32) -> Option<T> {
        let i = self.subtable_index(&m.mask)?;
        let st = &mut self.subtables[i];
        let s = st.find(&m.key, priority)?;
        let old_max = st.max_priority;
        let rule = st.take(s);
        st.stages.remove(&m.key);
        self.tries.remove(m);
        self.n_rules -= 1;
        if st.n_rules() == 0 {
            self.subtables.remove(i);
        } else if st.max_priority != old_max {
            self.sort_subtables();
        }
        Some(rule)
    }

    /// Every rule, without its match (cheaper than `iter`).
    pub fn rules(&self) -> impl Iterator<Item = &T> + '_ {
        self.subtables
            .iter()
            .flat_map(|st| st.slots.iter().map(|s| &s.rule))
    }

    /// Every rule with its match and priority.
    pub fn iter(&self) -> impl Iterator<Item = (Match, u32, &T)> + '_ {
        self.subtables.iter().flat_map(|st| {
            st.slots
                .iter()
                .enumerate()
                .map(move |(i, s)| (st.expand(st.key_of(i as u32)), s.priority, &s.rule))
        })
    }

    /// Every rule with its match and priority, grouped by mask: one
    /// `Vec` per subtable, subtables in lookup order (highest maximum
    /// priority first). Reports that list rules as Open vSwitch's
    /// classifier iterates them (`bridge/dump-flows`) start from this.
    pub fn iter_by_subtable(&self) -> Vec<Vec<(Match, u32, &T)>> {
        self.subtables
            .iter()
            .map(|st| {
                st.slots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (st.expand(st.key_of(i as u32)), s.priority, &s.rule))
                    .collect()
            })
            .collect()
    }

    /// The match and priority of `rule`, found by its address (for
    /// reports such as `ofproto/trace`): only that rule's match is built.
    pub fn match_of(&self, rule: &T) -> Option<(Match, u32)> {
        self.subtables.iter().find_map(|st| {
            st.slots
                .iter()
                .position(|s| std::ptr::eq(&s.rule, rule))
                .map(|i| (st.expand(st.key_of(i as u32)), st.slots[i].priority))
        })
    }

    /// The highest-priority rule matching `key`, to change it in place
    /// (crediting datapath statistics); no wildcards are tracked.
    pub fn lookup_mut(&mut self, key: &[u8; KEY_LEN]) -> Option<&mut T> {
        // (priority, subtable, slot) of the best match so far.
        let mut best: Option<(u32, usize, u32)> = None;
        for (i, st) in self.subtables.iter().enumerate() {
            if best.is_some_and(|(bp, _, _)| bp >= st.max_priority) {
                break;
            }
            if let Some(s) = st.best_slot(key) {
                let p = st.slots[s as usize].priority;
                if best.is_none_or(|(bp, _, _)| p > bp) {
                    best = Some((p, i, s));
                }
            }
        }
        let (_, i, s) = best?;
        Some(&mut self.subtables[i].slots[s as usize].rule)
    }

    /// The highest-priority rule matching the flow `key`.
    pub fn lookup(&self, key: &[u8; KEY_LEN]) -> Lookup<'_, T> {
        let mut wc = Box::new([0u8; KEY_LEN]);
        let found = self.lookup_soft(key, &mut wc, |_| false, false);
        Lookup {
            rule: found.hard.map(|(_, r)| r),
            wildcards: wc,
        }
    }

    /// A lookup in a table where some rules (those `is_soft` tells, the
    /// clauses of conjunctive matches) only match together with others,
    /// as Open vSwitch's classifier does it: subtables are probed until
    /// none can beat the best other ("hard") rule; a subtable whose best
    /// match above it is soft yields that match, and the rules with the
    /// same match under it, when `allow_soft` (else it is passed over).
    /// The bits examined are added to `wc`.
    pub fn lookup_soft(
        &self,
        key: &[u8; KEY_LEN],
        wc: &mut [u8; KEY_LEN],
        is_soft: impl Fn(&T) -> bool,
        allow_soft: bool,
    ) -> SoftLookup<'_, T> {
        let mut hard: Option<(u32, &T)> = None;
        let mut soft = Vec::new();
        let mut tries = self.tries.lookup(key);
        for st in &self.subtables {
            if hard.is_some_and(|(hp, _)| hp >= st.max_priority) {
                break;
            }
            // Stages first: they may prove a miss having looked at less.
            if !st.stages.probe(key, &mut tries, wc) {
                continue;
            }
            let Some(first) = st.best_slot(key) else {
                st.stages.final_miss(key, wc);
                continue;
            };
            st.stages.fold_all(wc);
            let slot = &st.slots[first as usize];
            if hard.is_some_and(|(hp, _)| slot.priority <= hp) {
                continue;
            }
            if !is_soft(&slot.rule) {
                hard = Some((slot.priority, &slot.rule));
            } else if allow_soft {
                soft.push(st.same_match(first, key));
            }
        }
        SoftLookup { hard, soft }
    }
}

/// What [`Classifier::lookup_soft`] found.
pub struct SoftLookup<'a, T> {
    /// The best matching rule that is not soft, with its priority.
    pub hard: Option<(u32, &'a T)>,
    /// For each subtable whose best match (above `hard`) is soft: that
    /// rule and those with the same match under it, in descending
    /// priority.
    pub soft: Vec<Vec<(u32, &'a T)>>,
}

impl<T> Subtable<T> {
    /// The rules from slot `first` down with the masked key of `key`.
    fn same_match(&self, first: u32, key: &[u8; KEY_LEN]) -> Vec<(u32, &T)> {
        let mut out = Vec::new();
        let mut s = first;
        while s != NONE {
            let slot = &self.slots[s as usize];
            if self.matches(s, key) {
                out.push((slot.priority, &slot.rule));
            }
            s = slot.next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::fields::id;

    #[test]
    fn lookup_prefers_priority_and_reports_wildcards() {
        let mut c = Classifier::default();
        let mut ip = Match::catchall();
        ip.set_exact(id::ETH_TYPE, 0x0800);
        let mut net = ip.clone();
        net.set(id::IP_SRC, 0x0a00_0000, 0xff00_0000);
        c.insert(&Match::catchall(), 0, "any");
        c.insert(&ip, 10, "ip");
        c.insert(&net, 20, "net");
        let mut pkt = Match::catchall();
        pkt.set_exact(id::ETH_TYPE, 0x0800);
        pkt.set_exact(id::IP_SRC, 0x0a01_0203);
        let l = c.lookup(&pkt.key);
        assert_eq!(l.rule, Some(&"net"));
        pkt.set_exact(id::IP_SRC, 0x0b01_0203);
        let l = c.lookup(&pkt.key);
        assert_eq!(l.rule, Some(&"ip"));
        // The answer depended on eth_type and the first byte of ip_src.
        let r = crate::openflow::fields::range(id::IP_SRC);
        assert_eq!(&l.wildcards[r], &[0xff, 0, 0, 0]);
        assert_eq!(c.remove(&ip, 10), Some("ip"));
        assert_eq!(c.lookup(&pkt.key).rule, Some(&"any"));
        assert_eq!(c.len(), 2);
        // Rules come back with their full match.
        let mut all: Vec<(u32, Match)> = c.iter().map(|(m, p, _)| (p, m)).collect();
        all.sort_by_key(|(p, _)| *p);
        assert_eq!(all[1].1, net);
    }

    /// Inserts, replaces and removes many rules with few distinct keys
    /// (so keys share chains, and slots move when others go), checking
    /// every answer against a plain list of the same rules.
    #[test]
    fn agrees_with_a_plain_list_under_churn() {
        let mut c: Classifier<u32> = Classifier::default();
        let mut model: Vec<(Match, u32, u32)> = Vec::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let masks = [0xffff_ffffu128, 0xffff_ff00, 0xff00_0000];
        for step in 0..2500u32 {
            let mut m = Match::catchall();
            m.set_exact(id::ETH_TYPE, 0x0800);
            let mask = masks[next(3) as usize];
            m.set(id::IP_SRC, 0x0a00_0000 | (next(4) as u128 * 0x0101), mask);
            let prio = next(4) as u32 * 10;
            let at = model.iter().position(|(mm, p, _)| *mm == m && *p == prio);
            if next(3) == 0 {
                let want = at.map(|i| model.swap_remove(i).2);
                assert_eq!(c.remove(&m, prio), want, "step {step}");
            } else {
                let old = c.insert(&m, prio, step);
                match at {
                    Some(i) => assert_eq!(old, Some(std::mem::replace(&mut model[i].2, step))),
                    None => {
                        assert_eq!(old, None);
                        model.push((m.clone(), prio, step));
                    }
                }
            }
            assert_eq!(c.len(), model.len());
            for (mm, p, r) in &model {
                assert_eq!(c.find_exact(mm, *p), Some(r), "step {step}");
            }
            // The best rule for a packet: highest priority among matches.
            let mut pkt = Match::catchall();
            pkt.set_exact(id::ETH_TYPE, 0x0800);
            pkt.set_exact(id::IP_SRC, 0x0a00_0000 | (next(4) as u128 * 0x0101));
            let best = model
                .iter()
                .filter(|(mm, _, _)| pkt.is_subsumed_by(mm))
                .map(|(_, p, _)| *p)
                .max();
            let got = c.lookup(&pkt.key).rule.copied();
            let got_prio = got.and_then(|r| model.iter().find(|x| x.2 == r).map(|x| x.1));
            assert_eq!(got_prio, best, "step {step}");
        }
        let mut all: Vec<u32> = c.iter().map(|(_, _, r)| *r).collect();
        let mut want: Vec<u32> = model.iter().map(|x| x.2).collect();
        all.sort_unstable();
        want.sort_unstable();
        assert_eq!(all, want);
    }
}
