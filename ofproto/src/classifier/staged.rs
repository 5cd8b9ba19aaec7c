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
//! Tries are path-compressed binary tries of counted prefixes
//! (`PrefixSet`), looked up only when a subtable's stage first needs them.
//!
//! A subtable's mask is read as a few words: runs of up to 8 key bytes
//! holding mask bits, each with its mask (`Word`), in key order. Stage
//! hashes, the subtable's key hash, and the wildcards a miss or hit adds
//! all go a word at a time over those, not byte by byte over the key.

use super::counts::HashCounts;
use super::prefixes::PrefixSet;
use crate::openflow::fields::{eth_type, id, range, Match, KEY_LEN, OFFSETS};

/// Where the stage hashes start (fixed, so that which partial keys share
/// a hash does not depend on the run).
const STAGE_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// The fields with prefix tries, as in Open vSwitch's default tables.
const TRIE_FIELDS: [usize; 2] = [id::IP_DST, id::IP_SRC];

/// Their offsets in the key.
const TRIE_AT: [usize; 2] = [OFFSETS[id::IP_DST] as usize, OFFSETS[id::IP_SRC] as usize];

/// Where `eth_type` is in the key.
const ETH_TYPE_AT: usize = OFFSETS[id::ETH_TYPE] as usize;

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

/// The big-endian value of the `n` (at most 4) key bytes at `at`.
fn get_be(k: &[u8; KEY_LEN], at: usize, n: usize) -> u32 {
    k[at..at + n].iter().fold(0u32, |a, &b| (a << 8) | b as u32)
}

/// Ors the low `8 * n` bits of `v`, big-endian, into the bytes at `at`.
fn or_be(k: &mut [u8; KEY_LEN], at: usize, n: usize, v: u32) {
    for (i, b) in k[at..at + n].iter_mut().enumerate() {
        *b |= (v >> (8 * (n - 1 - i))) as u8;
    }
}

/// The big-endian 32-bit value at `at` (a trie field).
#[inline]
fn get_be32(k: &[u8; KEY_LEN], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&k[at..at + 4]);
    u32::from_be_bytes(b)
}

/// Ors `v` big-endian into the 4 bytes at `at`.
#[inline]
fn or_be32(k: &mut [u8; KEY_LEN], at: usize, v: u32) {
    let w = get_be32(k, at) | v;
    k[at..at + 4].copy_from_slice(&w.to_be_bytes());
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

/// A run of up to 8 key bytes that holds mask bits, read as one
/// little-endian word at `at` (at most `KEY_LEN - 8`), with the mask's
/// bits of those bytes (zero for bytes another word covers).
#[derive(Clone, Copy)]
struct Word {
    at: usize,
    mask: u64,
}

impl Word {
    /// The masked key word.
    #[inline]
    fn of(&self, k: &[u8; KEY_LEN]) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&k[self.at..self.at + 8]);
        u64::from_le_bytes(b) & self.mask
    }

    /// Ors the mask's bits into `wc`.
    #[inline]
    fn fold(&self, wc: &mut [u8; KEY_LEN]) {
        let w = &mut wc[self.at..self.at + 8];
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        w.copy_from_slice(&(u64::from_le_bytes(b) | self.mask).to_le_bytes());
    }
}

/// The words covering `mask`'s bits in bytes `start..end`.
fn words_of(mask: &[u8; KEY_LEN], start: usize, end: usize) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        if mask[i] == 0 {
            i += 1;
            continue;
        }
        let at = i.min(KEY_LEN - 8);
        let stop = (at + 8).min(end);
        let m = (i..stop).fold(0u64, |m, p| m | (mask[p] as u64) << (8 * (p - at)));
        out.push(Word { at, mask: m });
        i = stop;
    }
    out
}

/// One step of the word hashes (a multiply, as in FxHash).
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// Spreads a hash's bits over all of them.
fn finish(h: u64) -> u64 {
    (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32)
}

/// The prefixes of a table's rules on the trie fields.
#[derive(Clone, Default)]
pub struct Tries {
    prefixes: [PrefixSet; 2],
}

/// The tries' answer for one packet, each field looked up the first time
/// a subtable needs it (as Open vSwitch does: most lookups need one or
/// none).
pub struct TrieResult<'a> {
    tries: &'a Tries,
    key: &'a [u8; KEY_LEN],
    /// The packet is IPv4: otherwise the trie fields mean nothing, and
    /// no subtable is skipped by them.
    ip: bool,
    /// Per trie field once looked up: bits examined and matching lengths.
    fields: [Option<(u32, u64)>; 2],
}

impl TrieResult<'_> {
    #[inline]
    fn field(&mut self, j: usize) -> Option<(u32, u64)> {
        if !self.ip {
            return None;
        }
        let (tries, key) = (self.tries, self.key);
        Some(
            *self.fields[j]
                .get_or_insert_with(|| tries.prefixes[j].lookup(get_be32(key, TRIE_AT[j]))),
        )
    }
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

    /// The tries' answer for `key`, looked up as the stages ask.
    pub fn lookup<'a>(&'a self, key: &'a [u8; KEY_LEN]) -> TrieResult<'a> {
        TrieResult {
            tries: self,
            key,
            ip: u16::from_be_bytes([key[ETH_TYPE_AT], key[ETH_TYPE_AT + 1]]) == eth_type::IP,
            fields: [None, None],
        }
    }
}

#[derive(Clone)]
struct Ports {
    /// Offsets and widths of the source and destination fields.
    src: (usize, usize),
    dst: (usize, usize),
    mask: u32,
    /// The rules' masked port words, each of length `len`.
    values: PrefixSet,
    len: u32,
}

impl Ports {
    fn word(&self, key: &[u8; KEY_LEN]) -> u32 {
        let (s, d) = (self.src, self.dst);
        ((get_be(key, s.0, s.1) << 16) | (get_be(key, d.0, d.1) & 0xffff)) & self.mask
    }
}

/// A trie field a stage holds and the mask matches as a prefix.
#[derive(Clone, Copy, Default)]
struct TrieCheck {
    /// Index in `TRIE_FIELDS`.
    trie: u8,
    /// The mask's prefix length on the field.
    plen: u8,
    /// The field's offset in the key.
    at: u16,
}

/// One stage, all inline (a probe reads one cache line per stage).
#[derive(Clone, Default)]
struct Stage {
    /// `words[..end]` are this stage's and the earlier stages'.
    end: u16,
    n_tries: u8,
    tries: [TrieCheck; 2],
    /// How many rules have each hash of their masked key up to the
    /// stage's end (empty for the last stage). As in Open vSwitch, only
    /// the hash is kept: a rare collision makes a probe go one stage
    /// further than it had to (a narrower megaflow, never a wrong one),
    /// and a rule costs 8 bytes per stage instead of a key copy.
    index: HashCounts,
}

/// One subtable's stages, stage indices, trie prefix lengths and ports.
#[derive(Clone)]
pub struct StageIndex {
    /// The mask's words, in key order (so stage after stage).
    words: Box<[Word]>,
    /// The stages the mask has bits in, in order: `stages[..n_stages]`.
    stages: [Stage; 4],
    n_stages: usize,
    ports: Option<Ports>,
}

impl StageIndex {
    pub fn new(mask: &[u8; KEY_LEN]) -> Self {
        let m = Match {
            key: [0; KEY_LEN],
            mask: *mask,
        };
        let mut words = Vec::new();
        let mut stages: [Stage; 4] = Default::default();
        let mut n_stages = 0;
        for w in stage_bounds().windows(2) {
            let (start, end) = (w[0], w[1]);
            let mine = words_of(mask, start, end);
            if mine.is_empty() {
                continue;
            }
            words.extend(mine);
            let st = &mut stages[n_stages];
            n_stages += 1;
            st.end = words.len() as u16;
            for (trie, &f) in TRIE_FIELDS.iter().enumerate() {
                let r = range(f);
                let Some(plen) = prefix_len(m.get(f).1 as u32) else {
                    continue;
                };
                if r.start >= start && r.end <= end {
                    st.tries[st.n_tries as usize] = TrieCheck {
                        trie: trie as u8,
                        plen: plen as u8,
                        at: r.start as u16,
                    };
                    st.n_tries += 1;
                }
            }
        }
        let ports = PORT_FIELDS.iter().find_map(|&(s, d)| {
            let pm = ((m.get(s).1 as u32) << 16) | (m.get(d).1 as u32 & 0xffff);
            let (rs, rd) = (range(s), range(d));
            (pm != 0).then(|| Ports {
                src: (rs.start, rs.len()),
                dst: (rd.start, rd.len()),
                mask: pm,
                values: PrefixSet::default(),
                len: 32 - pm.trailing_zeros(),
            })
        });
        StageIndex {
            words: words.into_boxed_slice(),
            stages,
            n_stages,
            ports,
        }
    }

    /// `h` continued over the masked key's words `from..to`.
    fn hash_words(&self, key: &[u8; KEY_LEN], mut h: u64, from: usize, to: usize) -> u64 {
        for w in self.words.get(from..to).unwrap_or(&[]) {
            h = mix(h, w.of(key));
        }
        h
    }

    /// The hash of the whole masked key, from `seed`.
    pub fn key_hash(&self, key: &[u8; KEY_LEN], seed: u64) -> u64 {
        finish(self.hash_words(key, seed, 0, self.words.len()))
    }

    /// The stages but the last (those with an index).
    fn indexed(&self) -> usize {
        self.n_stages.saturating_sub(1)
    }

    /// The stage indices' hashes of `key`, one per index (there are at
    /// most 3).
    fn stage_hashes(&self, key: &[u8; KEY_LEN]) -> [u32; 4] {
        let mut out = [0; 4];
        let mut h = STAGE_SEED;
        let mut done = 0;
        for (o, st) in out.iter_mut().zip(&self.stages[..self.indexed()]) {
            let end = st.end as usize;
            h = self.hash_words(key, h, done, end);
            done = end;
            *o = (finish(h) >> 32) as u32;
        }
        out
    }

    pub fn insert(&mut self, key: &[u8; KEY_LEN]) {
        let hashes = self.stage_hashes(key);
        let n = self.indexed();
        for (st, p) in self.stages[..n].iter_mut().zip(hashes) {
            st.index.add(p);
        }
        if let Some(p) = self.ports.as_mut() {
            let w = p.word(key);
            p.values.insert(w, p.len);
        }
    }

    pub fn remove(&mut self, key: &[u8; KEY_LEN]) {
        let hashes = self.stage_hashes(key);
        let n = self.indexed();
        for (st, p) in self.stages[..n].iter_mut().zip(hashes) {
            st.index.remove(p);
        }
        if let Some(p) = self.ports.as_mut() {
            let w = p.word(key);
            p.values.remove(w, p.len);
        }
    }

    /// Marks the mask's bits in its first `n` words as examined.
    fn fold(&self, wc: &mut [u8; KEY_LEN], n: usize) {
        for w in self.words.get(..n).unwrap_or(&[]) {
            w.fold(wc);
        }
    }

    /// Marks every bit of the mask as examined (a hit, or a miss at the
    /// last stage without a ports trie).
    pub fn fold_all(&self, wc: &mut [u8; KEY_LEN]) {
        self.fold(wc, self.words.len());
    }

    /// Probes the stages before the last; false when the subtable cannot
    /// match (the bits that showed it are then in `wc`).
    pub fn probe(
        &self,
        key: &[u8; KEY_LEN],
        tries: &mut TrieResult,
        wc: &mut [u8; KEY_LEN],
    ) -> bool {
        // Words of the stages passed so far.
        let mut done = 0;
        let mut h = STAGE_SEED;
        let last = self.indexed();
        for (i, st) in self.stages[..self.n_stages].iter().enumerate() {
            for t in &st.tries[..st.n_tries as usize] {
                let Some((bits, plens)) = tries.field(t.trie as usize) else {
                    continue;
                };
                let plen = t.plen as u32;
                if plens >> (plen - 1) & 1 == 1 {
                    continue;
                }
                let pm = prefix_mask(bits);
                let at = t.at as usize;
                let already = get_be32(wc, at) & pm == pm;
                if bits <= plen || already {
                    or_be32(wc, at, pm);
                    self.fold(wc, done);
                    return false;
                }
            }
            if i == last {
                return true;
            }
            let end = st.end as usize;
            h = self.hash_words(key, h, done, end);
            done = end;
            if !st.index.contains((finish(h) >> 32) as u32) {
                self.fold(wc, done);
                return false;
            }
        }
        true
    }

    /// The last stage found no rule: what was examined to know it.
    pub fn final_miss(&self, key: &[u8; KEY_LEN], wc: &mut [u8; KEY_LEN]) {
        let Some(ports) = &self.ports else {
            self.fold_all(wc);
            return;
        };
        let before_last = self
            .n_stages
            .checked_sub(2)
            .map_or(0, |i| self.stages[i].end as usize);
        self.fold(wc, before_last);
        let (bits, _) = ports.values.lookup(ports.word(key));
        let m = ports.mask & prefix_mask(bits);
        let ((s, sn), (d, dn)) = (ports.src, ports.dst);
        or_be(wc, s, sn, m >> 16);
        or_be(wc, d, dn, m & 0xffff);
    }
}
