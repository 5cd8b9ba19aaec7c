//! A counted set of 32-bit hashes (a stage index: how many rules have
//! each hash of their partial key). Most stage indices hold one or a few
//! hashes (a first stage matching only `eth_type`, say): those stay
//! inline and are scanned, which reads one cache line where a hash map
//! reads three; more go to a hash map.

use super::PreHashed;
use std::collections::HashMap;

/// Hashes held inline before spilling to the map.
const INLINE: usize = 4;

#[derive(Clone, Default)]
pub struct HashCounts {
    /// How many of `hashes` are in use (0 while `map` holds them all).
    n: usize,
    hashes: [u32; INLINE],
    counts: [u32; INLINE],
    /// Boxed: a map inline would triple the size of every stage, and
    /// most stages never spill.
    #[allow(clippy::box_collection)]
    map: Option<Box<HashMap<u32, u32, PreHashed>>>,
}

impl HashCounts {
    pub fn contains(&self, h: u32) -> bool {
        match &self.map {
            Some(m) => m.contains_key(&h),
            None => self.hashes[..self.n].contains(&h),
        }
    }

    /// Counts one more holder of `h`.
    pub fn add(&mut self, h: u32) {
        if let Some(m) = &mut self.map {
            *m.entry(h).or_insert(0) += 1;
            return;
        }
        if let Some(i) = self.hashes[..self.n].iter().position(|&x| x == h) {
            self.counts[i] += 1;
        } else if self.n < INLINE {
            self.hashes[self.n] = h;
            self.counts[self.n] = 1;
            self.n += 1;
        } else {
            let mut m: HashMap<u32, u32, PreHashed> = self
                .hashes
                .iter()
                .copied()
                .zip(self.counts.iter().copied())
                .collect();
            m.insert(h, 1);
            self.map = Some(Box::new(m));
            self.n = 0;
        }
    }

    /// Counts one holder of `h` less (nothing if it has none).
    pub fn remove(&mut self, h: u32) {
        if let Some(m) = &mut self.map {
            if let Some(c) = m.get_mut(&h) {
                *c -= 1;
                if *c == 0 {
                    m.remove(&h);
                }
            }
            // Back inline once well below the limit (not at it, so that
            // a set going up and down by one does not move each time).
            if m.len() <= INLINE / 2 {
                for (i, (&k, &c)) in m.iter().enumerate() {
                    self.hashes[i] = k;
                    self.counts[i] = c;
                }
                self.n = m.len();
                self.map = None;
            }
            return;
        }
        let Some(i) = self.hashes[..self.n].iter().position(|&x| x == h) else {
            return;
        };
        self.counts[i] -= 1;
        if self.counts[i] == 0 {
            self.n -= 1;
            self.hashes[i] = self.hashes[self.n];
            self.counts[i] = self.counts[self.n];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds and removes hashes from a small pool (so that the set spills
    /// to the map and comes back inline many times), checking membership
    /// against a plain map.
    #[test]
    fn agrees_with_a_map() {
        let mut set = HashCounts::default();
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut seed: u64 = 7;
        for step in 0..20_000 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let h = (seed >> 40) as u32 % 9;
            if (seed >> 20) % 5 < 2 {
                set.remove(h);
                if let Some(c) = model.get_mut(&h) {
                    *c -= 1;
                    if *c == 0 {
                        model.remove(&h);
                    }
                }
            } else {
                set.add(h);
                *model.entry(h).or_insert(0) += 1;
            }
            for x in 0..10 {
                assert_eq!(set.contains(x), model.contains_key(&x), "step {step}");
            }
        }
    }
}
