//! What keeps lookups from examining more of a packet than they must
//! (the megaflow stays wide), as Open vSwitch's classifier does:
//!
//! - Staged lookup: each subtable's mask is cut into stages (metadata,
//!   L2, L3, L4, in key order). Each stage but the last has an index of
//!   the rules' keys up to that stage; a packet absent from it misses the
//!   subtable having examined only the stages so far.
//! - Prefix tries on `nw_src` and `nw_dst`: the prefixes of every rule in
//!   the table. A subtable matching a prefix of length L that no rule's
//!   prefix along the packet's address has is skipped, having examined
//!   only the leading bits that tell the address apart from the stored
//!   prefixes.
//! - The ports trie: when the last stage misses in a subtable that
//!   matches transport ports, only the leading port bits that tell the
//!   packet apart from the subtable's rules were examined.
//!
//! Tries are kept as counted sets of prefixes (`PrefixSet`) that give the
//! result a path-compressed binary trie walk gives: the number of leading
//! bits examined and the lengths of the stored prefixes the value matches.

use super::prefixes::PrefixSet;
use crate::openflow::fields::{eth_type, id, range, Match, KEY_LEN};
use std::collections::HashMap;

/// FNV-1a's offset basis: the stage hashes start there.
const FNV_START: u32 = 0x811c_9dc5;

/// The fields with prefix tries, as in Open vSwitch's default tables.
const TRIE_FIELDS: [usize; 2] = [id::IP_DST, id::IP_SRC];

/// Transport "ports" as one 32-bit word (source high, destination low);
/// ICMP type and code take their places, as in Open vSwitch's flow.
const PORT_FIELDS: [(usize, usize); 5] = [
    (id::TCP_SRC, id::TCP_DST),
    (id::UDP_SRC, id::UDP_DST),
    (id::SCTP_SRC, id::SCTP_DST),
    (id::ICMP_TYPE, id::ICMP_CODE),
    (id::ICMPV6_TYPE, id::ICMPV6_CODE),
];

fn stage_bounds() -> [usize; 5] {
    [
        0,
        range(id::ETH_SRC).start,
        range(id::IP_SRC).start,
        range(id::TCP_SRC).start,
        KEY_LEN,
    ]
}

fn get_u32(k: &[u8; KEY_LEN], f: usize) -> u32 {
    k[range(f)].iter().fold(0u32, |a, &b| (a << 8) | b as u32)
}

fn put_u32_or(k: &mut [u8; KEY_LEN], f: usize, v: u32) {
    let r = range(f);
    let n = r.len();
    for (i, b) in k[r].iter_mut().enumerate() {
        *b |= (v >> (8 * (n - 1 - i))) as u8;
    }
}

/// Length of `mask` as a CIDR prefix, or None when it is not one.
fn prefix_len(mask: u32) -> Option<u32> {
    let l = mask.leading_ones();
    (l > 0 && l + mask.trailing_zeros() == 32).then_some(l)
}

fn prefix_mask(bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    }
}

/// The prefixes of a table's rules on the trie fields.
#[derive(Clone, Default)]
pub struct Tries {
    prefixes: [PrefixSet; 2],
}

/// The tries' answer for one packet.
pub struct TrieResult {
    /// Per trie field: bits examined and matching lengths; None when the
    /// packet is not IPv4 (the field means nothing, no skipping).
    fields: [Option<(u32, u64)>; 2],
}

impl Tries {
    fn each(m: &Match) -> impl Iterator<Item = (usize, (u32, u32))> + '_ {
        TRIE_FIELDS.iter().enumerate().filter_map(move |(j, &f)| {
            let (v, mask) = m.get(f);
            let len = prefix_len(mask as u32)?;
            Some((j, ((v as u32) & mask as u32, len)))
        })
    }

    pub fn insert(&mut self, m: &Match) {
        for (j, p) in Self::each(m) {
            self.prefixes[j].insert(p.0, p.1);
        }
    }

    pub fn remove(&mut self, m: &Match) {
        for (j, p) in Self::each(m) {
            self.prefixes[j].remove(p.0, p.1);
        }
    }

    pub fn lookup(&self, key: &[u8; KEY_LEN]) -> TrieResult {
        let ip = get_u32(key, id::ETH_TYPE) as u16 == eth_type::IP;
        let mut fields = [None, None];
        if ip {
            for (j, &f) in TRIE_FIELDS.iter().enumerate() {
                fields[j] = Some(self.prefixes[j].lookup(get_u32(key, f)));
            }
        }
        TrieResult { fields }
    }
}

#[derive(Clone)]
struct Ports {
    fields: (usize, usize),
    mask: u32,
    /// The rules' masked port words, each of length `len`.
    values: PrefixSet,
    len: u32,
}

impl Ports {
    fn word(&self, key: &[u8; KEY_LEN]) -> u32 {
        let (s, d) = self.fields;
        ((get_u32(key, s) << 16) | (get_u32(key, d) & 0xffff)) & self.mask
    }
}

/// One subtable's stages, stage indices, trie prefix lengths and ports.
#[derive(Clone)]
pub struct StageIndex {
    mask: Box<[u8; KEY_LEN]>,
    /// Offsets of the key bytes the mask covers, in order.
    used: Box<[u16]>,
    /// Byte ranges of the stages the mask has bits in, in order.
    stages: Vec<(usize, usize)>,
    /// For each stage but the last: how many rules have each hash of
    /// their masked key up to the stage's end. As in Open vSwitch, only
    /// the hash is kept: a rare collision makes a probe go one stage
    /// further than it had to (a narrower megaflow, never a wrong one),
    /// and a rule costs 8 bytes per stage instead of a key copy.
    indices: Vec<HashMap<u32, u32, super::PreHashed>>,
    /// The mask's prefix length on each trie field (0: no trie use).
    trie_plen: [u32; 2],
    ports: Option<Ports>,
}

impl StageIndex {
    pub fn new(mask: &[u8; KEY_LEN]) -> Self {
        let b = stage_bounds();
        let stages: Vec<(usize, usize)> = b
            .windows(2)
            .map(|w| (w[0], w[1]))
            .filter(|&(s, e)| mask[s..e].iter().any(|&x| x != 0))
            .collect();
        let n_idx = stages.len().saturating_sub(1);
        let m = Match {
            key: [0; KEY_LEN],
            mask: *mask,
        };
        let mut trie_plen = [0; 2];
        for (j, &f) in TRIE_FIELDS.iter().enumerate() {
            trie_plen[j] = prefix_len(m.get(f).1 as u32).unwrap_or(0);
        }
        let ports = PORT_FIELDS.iter().find_map(|&(s, d)| {
            let pm = ((m.get(s).1 as u32) << 16) | (m.get(d).1 as u32 & 0xffff);
            (pm != 0).then(|| Ports {
                fields: (s, d),
                mask: pm,
                values: PrefixSet::default(),
                len: 32 - pm.trailing_zeros(),
            })
        });
        StageIndex {
            mask: Box::new(*mask),
            used: (0..KEY_LEN)
                .filter(|&i| mask[i] != 0)
                .map(|i| i as u16)
                .collect(),
            stages,
            indices: vec![HashMap::default(); n_idx],
            trie_plen,
            ports,
        }
    }

    /// The hash of the masked key's bytes `..end` (FNV-1a: fixed, so
    /// that lookups do not depend on the run).
    fn partial(&self, key: &[u8; KEY_LEN], end: usize) -> u32 {
        self.partial_from(key, end, (FNV_START, 0)).0
    }

    /// [`Self::partial`] continued from `(hash, n)`, the hash of the
    /// first `n` used bytes (a probe goes stage after stage): the hash
    /// and how many used bytes it covers now.
    fn partial_from(&self, key: &[u8; KEY_LEN], end: usize, from: (u32, usize)) -> (u32, usize) {
        let (mut h, mut n) = from;
        for &i in self.used.get(n..).unwrap_or(&[]) {
            let i = i as usize;
            if i >= end {
                break;
            }
            h = (h ^ (key[i] & self.mask[i]) as u32).wrapping_mul(0x0100_0193);
            n += 1;
        }
        (h, n)
    }

    pub fn insert(&mut self, key: &[u8; KEY_LEN]) {
        for i in 0..self.indices.len() {
            let p = self.partial(key, self.stages[i].1);
            *self.indices[i].entry(p).or_insert(0) += 1;
        }
        if let Some(ports) = &self.ports {
            let w = ports.word(key);
            let len = ports.len;
            if let Some(p) = self.ports.as_mut() {
                p.values.insert(w, len);
            }
        }
    }

    pub fn remove(&mut self, key: &[u8; KEY_LEN]) {
        for i in 0..self.indices.len() {
            let p = self.partial(key, self.stages[i].1);
            if let Some(n) = self.indices[i].get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    self.indices[i].remove(&p);
                }
            }
        }
        if let Some(p) = self.ports.as_mut() {
            let k = (p.word(key), p.len);
            p.values.remove(k.0, k.1);
        }
    }

    /// Marks the mask's bits in bytes `..end` as examined.
    fn fold(&self, wc: &mut [u8; KEY_LEN], end: usize) {
        for (w, m) in wc[..end].iter_mut().zip(self.mask[..end].iter()) {
            *w |= m;
        }
    }

    /// Probes the stages before the last; false when the subtable cannot
    /// match (the bits that showed it are then in `wc`).
    pub fn probe(
        &self,
        key: &[u8; KEY_LEN],
        tries: &mut TrieResult,
        wc: &mut [u8; KEY_LEN],
    ) -> bool {
        let mut done = 0;
        let mut hashed = (FNV_START, 0);
        for (i, &(start, end)) in self.stages.iter().enumerate() {
            for (j, &f) in TRIE_FIELDS.iter().enumerate() {
                let plen = self.trie_plen[j];
                let r = range(f);
                if plen == 0 || r.start < start || r.end > end {
                    continue;
                }
                let Some((bits, plens)) = tries.fields[j] else {
                    continue;
                };
                if plens >> (plen - 1) & 1 == 1 {
                    continue;
                }
                let already = get_u32(wc, f) & prefix_mask(bits) == prefix_mask(bits);
                if bits <= plen || already {
                    put_u32_or(wc, f, prefix_mask(bits));
                    self.fold(wc, done);
                    return false;
                }
            }
            if i + 1 == self.stages.len() {
                return true;
            }
            done = end;
            hashed = self.partial_from(key, end, hashed);
            if !self.indices[i].contains_key(&hashed.0) {
                self.fold(wc, done);
                return false;
            }
        }
        true
    }

    /// The last stage found no rule: what was examined to know it.
    pub fn final_miss(&self, key: &[u8; KEY_LEN], wc: &mut [u8; KEY_LEN]) {
        let Some(ports) = &self.ports else {
            self.fold(wc, KEY_LEN);
            return;
        };
        let before_last = self.stages.last().map_or(0, |&(s, _)| s);
        self.fold(wc, before_last);
        let (bits, _) = ports.values.lookup(ports.word(key));
        let m = ports.mask & prefix_mask(bits);
        let (s, d) = ports.fields;
        put_u32_or(wc, s, m >> 16);
        put_u32_or(wc, d, m & 0xffff);
    }
}
