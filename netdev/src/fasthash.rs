//! A fast hasher for small keys in hash maps on hot paths (port numbers,
//! (VLAN, MAC) pairs): one multiply per word folded in, MurmurHash3's
//! 64-bit finalizer at the end (so that the high bits hashbrown groups by
//! depend on every bit), from a seed drawn once per process at random (so
//! that keys a sender chooses, such as source MACs, cannot be aimed at
//! collisions). std's SipHash costs several times more per key and showed
//! in the poll thread's profile.
//!
//! The other seeded hashes of the daemon's hot paths (the userspace
//! datapath's flow-key hasher, UFIDs) take their seeds and finalizer from
//! here too: [`seeds`], [`fmix64`].

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// Two random 64-bit values drawn once per process: the seeds of every
/// hash here and of those that build on it.
pub fn seeds() -> [u64; 2] {
    static SEEDS: OnceLock<[u64; 2]> = OnceLock::new();
    *SEEDS.get_or_init(|| {
        let s = std::collections::hash_map::RandomState::new();
        [s.hash_one(1u64), s.hash_one(2u64)]
    })
}

/// MurmurHash3's 64-bit finalizer: every input bit reaches every output
/// bit.
#[inline]
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Builds [`FastHasher`]s (the `S` of a `HashMap`/`HashSet`).
#[derive(Clone, Copy, Default, Debug)]
pub struct FastHashing;

/// See the module comment.
pub struct FastHasher {
    h: u64,
}

impl BuildHasher for FastHashing {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher { h: seeds()[0] }
    }
}

impl FastHasher {
    #[inline]
    fn fold(&mut self, v: u64) {
        self.h = (self.h ^ v)
            .wrapping_mul(0x87c3_7b91_1142_53d5)
            .rotate_left(29);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut x = [0u8; 8];
            x[..c.len()].copy_from_slice(c);
            self.fold(u64::from_le_bytes(x));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.fold(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.fold(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.fold(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.fold(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.fold(v as u64);
    }
    fn finish(&self) -> u64 {
        fmix64(self.h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Equal keys hash equally, and small keys that differ in one bit
    /// (ports 0..4096, MACs one apart) spread over the high bits.
    #[test]
    fn equal_keys_agree_and_small_keys_spread() {
        let s = FastHashing;
        assert_eq!(s.hash_one(7u32), s.hash_one(7u32));
        assert_eq!(
            s.hash_one((1u16, [2u8, 0, 0, 0, 0, 1])),
            s.hash_one((1u16, [2u8, 0, 0, 0, 0, 1]))
        );
        let tops: HashSet<u64> = (0..4096u32).map(|p| s.hash_one(p) >> 57).collect();
        assert_eq!(tops.len(), 128, "every 7-bit group tag is used");
        let macs: HashSet<u64> = (0..4096u16)
            .map(|i| s.hash_one((0u16, [2, 0, 0, 0, (i >> 8) as u8, i as u8])))
            .collect();
        assert_eq!(macs.len(), 4096);
    }
}
