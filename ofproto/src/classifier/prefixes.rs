//! A counted set of 32-bit prefixes answering what a walk of a binary trie
//! holding them would: how many leading bits of a value the walk examines,
//! and which stored prefix lengths the value has.
//!
//! Prefixes are kept per length in sorted maps, so a lookup costs a few
//! ordered-map probes per distinct length (at most 32) whatever the number
//! of prefixes: the longest common prefix of a value with a set of
//! same-length prefixes is found at the value's neighbours in sorted order.

use std::collections::BTreeMap;

/// The mask of the leading `bits` bits (0 to 32).
fn mask(bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    }
}

#[derive(Clone, Default)]
pub struct PrefixSet {
    /// Index L-1: the prefixes of length L (value masked to L bits), with
    /// how many rules hold each.
    by_len: [BTreeMap<u32, u32>; 32],
    /// Bit L-1 set when some prefix has length L.
    lens: u32,
}

impl PrefixSet {
    /// Adds one holder of `value/len` (`len` from 1 to 32).
    pub fn insert(&mut self, value: u32, len: u32) {
        let Some(map) = self.by_len.get_mut(len.wrapping_sub(1) as usize) else {
            return;
        };
        *map.entry(value & mask(len)).or_insert(0) += 1;
        self.lens |= 1 << (len - 1);
    }

    /// Drops one holder of `value/len`.
    pub fn remove(&mut self, value: u32, len: u32) {
        let Some(map) = self.by_len.get_mut(len.wrapping_sub(1) as usize) else {
            return;
        };
        let key = value & mask(len);
        if let Some(n) = map.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&key);
                if map.is_empty() {
                    self.lens &= !(1 << (len - 1));
                }
            }
        }
    }

    fn lengths(&self) -> impl Iterator<Item = u32> + '_ {
        let mut bits = self.lens;
        std::iter::from_fn(move || {
            let l = bits.trailing_zeros();
            (l < 32).then(|| {
                bits &= bits - 1;
                l + 1
            })
        })
    }

    /// The trie walk for `value`: the number of leading bits examined, and
    /// the set of stored lengths (bit L-1 for length L) whose prefix
    /// `value` has.
    pub fn lookup(&self, value: u32) -> (u32, u64) {
        if self.lens == 0 {
            return (0, 0);
        }
        let common = |v: u32| (v ^ value).leading_zeros();
        let mut matched = 0;
        let mut plens = 0u64;
        // Per length without the value's prefix: the most leading bits
        // a stored prefix of that length shares with the value.
        let mut closest = [0u32; 32];
        for len in self.lengths() {
            let map = &self.by_len[len as usize - 1];
            let p = value & mask(len);
            let above = map.range(p..).next().map(|(&v, _)| v);
            if above == Some(p) {
                matched = matched.max(len);
                plens |= 1 << (len - 1);
                continue;
            }
            // No stored prefix of this length is the value's: the closest
            // ones in order share the most leading bits with it.
            let below = map.range(..p).next_back().map(|(&v, _)| common(v));
            let above = above.map(common);
            let c = below.unwrap_or(0).max(above.unwrap_or(0));
            closest[len as usize - 1] = c;
            matched = matched.max(c);
        }
        if matched >= 32 {
            return (32, plens);
        }
        // The walk stops at `matched` bits; it also looked at the next bit
        // when the trie goes on below that point (a longer prefix shares
        // those bits: the closest one of its length does, as sorted
        // order keeps the longest common prefixes next to the value).
        let goes_on = self
            .lengths()
            .any(|l| l > matched && closest[l as usize - 1] >= matched);
        (matched + goes_on as u32, plens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The answer by definition, scanning every prefix.
    fn scan(prefixes: &HashMap<(u32, u32), usize>, value: u32) -> (u32, u64) {
        if prefixes.is_empty() {
            return (0, 0);
        }
        let common = |v: u32| (v ^ value).leading_zeros();
        let mut matched = 0;
        let mut plens = 0u64;
        for &(v, len) in prefixes.keys() {
            let c = common(v).min(len);
            matched = matched.max(c);
            if c == len {
                plens |= 1 << (len - 1);
            }
        }
        if matched >= 32 {
            return (32, plens);
        }
        let goes_on = prefixes
            .keys()
            .any(|&(v, len)| len > matched && common(v) >= matched);
        (matched + goes_on as u32, plens)
    }

    #[test]
    fn trie_walk_results() {
        let mut p = PrefixSet::default();
        // 10.0.0.1/32
        p.insert(0x0a00_0001, 32);
        // 10.0.0.2 shares 30 bits, differs at bit 31: 31 bits examined.
        assert_eq!(p.lookup(0x0a00_0002), (31, 0));
        // 0.0.0.0 differs at bit 5 (0000 1010 ...): 5 bits.
        assert_eq!(p.lookup(0), (5, 0));
        assert_eq!(p.lookup(0x0a00_0001), (32, 1 << 31));
        p.insert(0xc0a8_0000, 16);
        // 192.168.7.7 matches the /16, and the trie ends there.
        assert_eq!(p.lookup(0xc0a8_0707), (16, 1 << 15));
        // 192.169.x differs at bit 16 inside the /16 edge.
        assert_eq!(p.lookup(0xc0a9_0707).0, 16);
    }

    /// Random prefixes (clustered, so that values share long prefixes)
    /// added and removed: the same answers as the scan.
    #[test]
    fn agrees_with_the_definition() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 32) as u32
        };
        let mut set = PrefixSet::default();
        let mut model: HashMap<(u32, u32), usize> = HashMap::new();
        for _ in 0..3000 {
            let len = [8, 16, 24, 31, 32, 1 + next() % 32][(next() % 6) as usize];
            let value = (0x0a00_0000 | (next() & 0x0003_0f0f)) & mask(len);
            if next() % 3 == 0 {
                if let Some(n) = model.get_mut(&(value, len)) {
                    *n -= 1;
                    if *n == 0 {
                        model.remove(&(value, len));
                    }
                }
                set.remove(value, len);
            } else {
                *model.entry((value, len)).or_insert(0) += 1;
                set.insert(value, len);
            }
            let probe = [0x0a00_0000 | (next() & 0x0003_0f0f), next()][(next() % 2) as usize];
            assert_eq!(set.lookup(probe), scan(&model, probe), "probe {probe:#x}");
        }
    }
}
