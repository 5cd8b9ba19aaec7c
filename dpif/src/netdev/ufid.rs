//! Fast, seeded hashing of UFIDs and of the keys they are made from.
//!
//! A flow setup hashes a UFID several times (the ukey map, the datapath's
//! UFID index, the revalidator's dump bookkeeping) and makes one from the
//! netlink key; with std's SipHash that was ~1-2% of the userspace
//! datapath's poll thread per new flow. Both hashes here are seeded from
//! a per-process random value, so a sender who chooses packets (and so
//! keys) cannot aim at collisions, as stock's random-seeded 128-bit key
//! hash cannot be aimed at either; UFIDs therefore differ between runs of
//! the daemon, as stock's do.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use ferrovs_netdev::fasthash::{fmix64, seeds};

use crate::Ufid;

const P1: u64 = 0x87c3_7b91_1142_53d5;
const P2: u64 = 0x4cf5_ad43_2745_937f;

/// A 128-bit hash of `bytes` (a datapath key's netlink attributes), the
/// UFID of the flow with that key: two lanes over its 64-bit words (each
/// word multiplied into both, differently), the length folded in, each
/// lane finished with a full avalanche and cross-mixed.
pub fn ufid_of_bytes(bytes: &[u8]) -> Ufid {
    let [mut a, mut b] = seeds();
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        let v = u64::from_le_bytes(x);
        a = (a ^ v.wrapping_mul(P1)).rotate_left(31).wrapping_mul(P2);
        b = (b ^ v.wrapping_mul(P2)).rotate_left(27).wrapping_mul(P1);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut x = [0u8; 8];
        x[..rest.len()].copy_from_slice(rest);
        let v = u64::from_le_bytes(x);
        a = (a ^ v.wrapping_mul(P1)).rotate_left(31).wrapping_mul(P2);
        b = (b ^ v.wrapping_mul(P2)).rotate_left(27).wrapping_mul(P1);
    }
    let len = bytes.len() as u64;
    a ^= len;
    b ^= len.rotate_left(32);
    a = a.wrapping_add(b);
    b = b.wrapping_add(a);
    a = fmix64(a);
    b = fmix64(b);
    a = a.wrapping_add(b);
    b = b.wrapping_add(a);
    (u128::from(a) << 64) | u128::from(b)
}

/// Hashes a UFID (already a random-seeded hash, or one an administrator
/// gave) for a hash table: its two halves and the process seed, mixed
/// once.
#[derive(Clone, Copy, Default)]
pub struct UfidHasher {
    h: u64,
}

impl Hasher for UfidHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only UFIDs go in (write_u128); anything else still hashes.
        for &b in bytes {
            self.h = (self.h.rotate_left(8) ^ u64::from(b)).wrapping_mul(P1);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.h ^= (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
    }
    fn finish(&self) -> u64 {
        fmix64(self.h ^ seeds()[0])
    }
}

/// A map keyed by UFID.
pub type UfidMap<V> = HashMap<Ufid, V, BuildHasherDefault<UfidHasher>>;
/// A set of UFIDs.
pub type UfidSet = HashSet<Ufid, BuildHasherDefault<UfidHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_equal_ufids_and_neighbours_differ() {
        let key: Vec<u8> = (0u8..=200).collect();
        assert_eq!(ufid_of_bytes(&key), ufid_of_bytes(&key.clone()));
        let mut seen = UfidSet::default();
        // Every one-bit change of the key, every length (trailing zero
        // bytes included) gives another UFID.
        for i in 0..key.len() {
            for bit in 0..8 {
                let mut k = key.clone();
                k[i] ^= 1 << bit;
                assert!(seen.insert(ufid_of_bytes(&k)));
            }
        }
        for n in 0..key.len() {
            assert!(seen.insert(ufid_of_bytes(&key[..n])));
        }
        let zeros = [0u8; 16];
        assert_ne!(ufid_of_bytes(&zeros[..8]), ufid_of_bytes(&zeros));
        assert_ne!(ufid_of_bytes(&zeros[..7]), ufid_of_bytes(&zeros[..8]));
    }

    #[test]
    fn ufid_map_finds_what_it_holds() {
        let mut m = UfidMap::default();
        for i in 0u128..1000 {
            m.insert(i << 64 | i, i);
        }
        for i in 0u128..1000 {
            assert_eq!(m.get(&(i << 64 | i)), Some(&i));
        }
        assert!(!m.contains_key(&1));
    }
}
