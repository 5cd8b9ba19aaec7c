//! A classifier of priority-ordered wildcard rules: tuple space search.
//!
//! Rules with the same mask live in one subtable, a hash map from the
//! masked key to the rules with that key (highest priority first). Each
//! subtable stores only the key bytes its mask covers, so a rule costs a
//! few bytes of key, not a whole flow. A lookup probes subtables in order
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
use std::collections::HashMap;

mod staged;
use self::staged::{StageIndex, Tries};

#[derive(Clone)]
struct Subtable<T> {
    mask: Box<[u8; KEY_LEN]>,
    /// Offsets of the key bytes the mask covers.
    used: Box<[u16]>,
    max_priority: u32,
    buckets: HashMap<Box<[u8]>, Vec<(u32, T)>>,
    n_rules: usize,
    stages: StageIndex,
}

impl<T> Subtable<T> {
    fn new(mask: &[u8; KEY_LEN]) -> Self {
        let used: Vec<u16> = (0..KEY_LEN)
            .filter(|&i| mask[i] != 0)
            .map(|i| i as u16)
            .collect();
        Subtable {
            mask: Box::new(*mask),
            used: used.into_boxed_slice(),
            max_priority: 0,
            buckets: HashMap::new(),
            n_rules: 0,
            stages: StageIndex::new(mask),
        }
    }

    /// The compressed masked key of a full key.
    fn compress(&self, key: &[u8; KEY_LEN]) -> Box<[u8]> {
        self.used
            .iter()
            .map(|&i| key[i as usize] & self.mask[i as usize])
            .collect()
    }

    fn expand(&self, short: &[u8]) -> Match {
        let mut m = Match {
            key: [0; KEY_LEN],
            mask: *self.mask,
        };
        for (&i, &b) in self.used.iter().zip(short) {
            m.key[i as usize] = b;
        }
        m
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
        let key = st.compress(&m.key);
        // Most keys hold one rule: start with room for exactly one.
        let bucket = st
            .buckets
            .entry(key)
            .or_insert_with(|| Vec::with_capacity(1));
        if let Some(slot) = bucket.iter_mut().find(|(p, _)| *p == priority) {
            return Some(std::mem::replace(&mut slot.1, rule));
        }
        let at = bucket
            .iter()
            .position(|(p, _)| *p < priority)
            .unwrap_or(bucket.len());
        bucket.insert(at, (priority, rule));
        st.n_rules += 1;
        st.stages.insert(&m.key);
        self.tries.insert(m);
        let raised = priority > st.max_priority;
        st.max_priority = st.max_priority.max(priority);
        self.n_rules += 1;
        if raised {
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
        let b = st.buckets.get(&st.compress(&m.key))?;
        b.iter().find(|(p, _)| *p == priority).map(|(_, r)| r)
    }

    pub fn find_exact_mut(&mut self, m: &Match, priority: u32) -> Option<&mut T> {
        let i = self.subtable_index(&m.mask)?;
        let key = self.subtables[i].compress(&m.key);
        let b = self.subtables[i].buckets.get_mut(&key)?;
        b.iter_mut().find(|(p, _)| *p == priority).map(|(_, r)| r)
    }

    pub fn remove(&mut self, m: &Match, priority: u32) -> Option<T> {
        let i = self.subtable_index(&m.mask)?;
        let st = &mut self.subtables[i];
        let key = st.compress(&m.key);
        let b = st.buckets.get_mut(&key)?;
        let at = b.iter().position(|(p, _)| *p == priority)?;
        let (_, rule) = b.remove(at);
        if b.is_empty() {
            st.buckets.remove(&key);
        }
        st.stages.remove(&m.key);
        self.tries.remove(m);
        st.n_rules -= 1;
        self.n_rules -= 1;
        if st.n_rules == 0 {
            self.subtables.remove(i);
        } else if priority == st.max_priority {
            st.max_priority = st
                .buckets
                .values()
                .filter_map(|b| b.first().map(|(p, _)| *p))
                .max()
                .unwrap_or(0);
            self.sort_subtables();
        }
        Some(rule)
    }

    /// Every rule, without its match (cheaper than `iter`).
    pub fn rules(&self) -> impl Iterator<Item = &T> + '_ {
        self.subtables
            .iter()
            .flat_map(|st| st.buckets.values().flat_map(|b| b.iter().map(|(_, r)| r)))
    }

    /// Every rule with its match and priority.
    pub fn iter(&self) -> impl Iterator<Item = (Match, u32, &T)> + '_ {
        self.subtables.iter().flat_map(|st| {
            st.buckets.iter().flat_map(move |(k, rules)| {
                let m = st.expand(k);
                rules.iter().map(move |(p, r)| (m.clone(), *p, r))
            })
        })
    }

    /// The highest-priority rule matching `key`, to change it in place
    /// (crediting datapath statistics); no wildcards are tracked.
    pub fn lookup_mut(&mut self, key: &[u8; KEY_LEN]) -> Option<&mut T> {
        let mut best: Option<(u32, usize, Box<[u8]>)> = None;
        for (i, st) in self.subtables.iter().enumerate() {
            if best
                .as_ref()
                .is_some_and(|(bp, _, _)| *bp >= st.max_priority)
            {
                break;
            }
            let short = st.compress(key);
            if let Some((p, _)) = st.buckets.get(&short).and_then(|b| b.first()) {
                if best.as_ref().is_none_or(|(bp, _, _)| *p > *bp) {
                    best = Some((*p, i, short));
                }
            }
        }
        let (_, i, short) = best?;
        self.subtables[i]
            .buckets
            .get_mut(&short)
            .and_then(|b| b.first_mut())
            .map(|(_, r)| r)
    }

    /// The highest-priority rule matching the flow `key`.
    pub fn lookup(&self, key: &[u8; KEY_LEN]) -> Lookup<'_, T> {
        let mut wc = Box::new([0u8; KEY_LEN]);
        let mut best: Option<(u32, &T)> = None;
        let mut tries = self.tries.lookup(key);
        for st in &self.subtables {
            if let Some((bp, _)) = best {
                if bp >= st.max_priority {
                    break;
                }
            }
            // Stages first: they may prove a miss having looked at less.
            if !st.stages.probe(key, &mut tries, &mut wc) {
                continue;
            }
            match st.buckets.get(&st.compress(key)).and_then(|b| b.first()) {
                Some((p, r)) => {
                    for &i in st.used.iter() {
                        wc[i as usize] |= st.mask[i as usize];
                    }
                    if best.is_none_or(|(bp, _)| *p > bp) {
                        best = Some((*p, r));
                    }
                }
                None => st.stages.final_miss(key, &mut wc),
            }
        }
        Lookup {
            rule: best.map(|(_, r)| r),
            wildcards: wc,
        }
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
}
