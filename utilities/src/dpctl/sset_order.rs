//! The order in which ovs-dpctl visits datapaths when no DP is named.
//!
//! Open vSwitch collects the names in a string set (a hash map keyed by a
//! murmur hash of the name) and walks it bucket by bucket, so `dump-dps`
//! and `show` list datapaths in that hash order, not in creation order. To
//! print the same lines in the same order, this module replays the same
//! insertions into a model of that hash map.

fn rot(x: u32, k: u32) -> u32 {
    x.rotate_left(k)
}

fn mhash_add(hash: u32, data: u32) -> u32 {
    let mut hash = hash;
    if data != 0 {
        let d = rot(data.wrapping_mul(0xcc9e_2d51), 15).wrapping_mul(0x1b87_3593);
        hash ^= d;
    }
    rot(hash, 13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

fn mhash_finish(mut hash: u32) -> u32 {
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85eb_ca6b);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xc2b2_ae35);
    hash ^ (hash >> 16)
}

/// Open vSwitch's hash of a string (basis 0): murmur3 steps over 32-bit
/// little-endian words, the tail zero-padded, finished with the length.
pub fn hash_string(s: &str) -> u32 {
    let bytes = s.as_bytes();
    let mut hash = 0u32;
    let mut chunks = bytes.chunks_exact(4);
    for c in &mut chunks {
        hash = mhash_add(hash, u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut w = [0u8; 4];
        w[..tail.len()].copy_from_slice(tail);
        hash = mhash_add(hash, u32::from_le_bytes(w));
    }
    mhash_finish(hash ^ bytes.len() as u32)
}

/// The bucket mask the hash map grows to for `n` entries.
fn calc_mask(n: usize) -> usize {
    let mut mask = n / 2;
    let mut shift = 1;
    while shift < usize::BITS {
        mask |= mask >> shift;
        shift *= 2;
    }
    mask | ((mask & 1) << 1)
}

/// `names` (in the order they were added, duplicates ignored) in the order
/// a walk of Open vSwitch's string set returns them.
pub fn sset_order(names: &[String]) -> Vec<String> {
    // Each bucket lists its entries newest first, as the C lists do.
    let mut buckets: Vec<Vec<(u32, String)>> = vec![Vec::new()];
    let mut n = 0usize;
    for name in names {
        if buckets.iter().flatten().any(|(_, x)| x == name) {
            continue;
        }
        let hash = hash_string(name);
        let mask = buckets.len() - 1;
        buckets[hash as usize & mask].insert(0, (hash, name.clone()));
        n += 1;
        if n / 2 > mask {
            let new_mask = calc_mask(n);
            if new_mask > mask {
                let mut grown: Vec<Vec<(u32, String)>> = vec![Vec::new(); new_mask + 1];
                for bucket in buckets {
                    for (h, x) in bucket {
                        grown[h as usize & new_mask].insert(0, (h, x));
                    }
                }
                buckets = grown;
            }
        }
    }
    buckets.into_iter().flatten().map(|(_, x)| x).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_of_known_strings() {
        // Values of Open vSwitch's hash_string(s, 0) (murmur build).
        assert_eq!(hash_string(""), 0);
        assert_eq!(hash_string("a"), mhash_finish(mhash_add(0, 0x61) ^ 1));
    }

    #[test]
    fn masks_grow_like_hmap() {
        assert_eq!(calc_mask(2), 3);
        assert_eq!(calc_mask(8), 7);
        assert_eq!(calc_mask(9), 7);
        assert_eq!(calc_mask(16), 15);
    }

    #[test]
    fn order_is_a_permutation_without_duplicates() {
        let names: Vec<String> = ["dp0", "dp1", "ovs-system", "dp0", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut got = sset_order(&names);
        assert_eq!(got.len(), 4);
        got.sort();
        assert_eq!(got, vec!["dp0", "dp1", "ovs-system", "x"]);
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn hash_order_is_not_creation_order() {
        // The names tests/vm/guest/dpctl-compat creates; the VM test checks
        // the order against stock ovs-dpctl, this one that it is not
        // simply the order of creation (which would make that check weak).
        let names: Vec<String> = "alpha b c dp-7 ovs-system zz9 q datapath-number-8 k"
            .split(' ')
            .map(String::from)
            .collect();
        let order = sset_order(&names);
        println!("{order:?}");
        assert_ne!(order, names);
    }
}
