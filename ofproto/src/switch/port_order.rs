//! The order in which stock lists a bridge's ports when it walks them
//! all (port descriptions, queue statistics and configuration): the
//! iteration order of its ports hash map (`struct hmap` keyed by
//! `hash_int(port_no, 0)`, the portable murmur-based hash), which
//! depends on the ports and on the order they were added.
//!
//! The order matters where a client does not sort what it receives
//! (`ovs-ofctl queue-stats`; `queue-get-config` in OpenFlow 1.0 asks port
//! by port in port-description order). Ports are taken in the order they
//! appeared (the LOCAL port first); a map that lost ports may have had
//! more buckets in stock than the current count gives, which this does
//! not model.

use super::*;

/// Stock's `hash_int(x, 0)` (`hash_2words(x, 0)`).
fn hash_port(x: u32) -> u32 {
    crate::xlate::multipath::hash_2words(x, 0)
}

/// Stock's bucket mask for `n` entries.
fn calc_mask(n: usize) -> usize {
    let mut m = n / 2;
    for s in [1, 2, 4, 8, 16, 32] {
        m |= m >> s;
    }
    m | ((m & 1) << 1)
}

/// The iteration order of a stock hash map after inserting `keys` in
/// order: buckets in index order, each newest first, re-chained on every
/// growth.
pub(crate) fn hmap_order(keys: &[u16]) -> Vec<u16> {
    let mut mask = 0usize;
    let mut buckets: Vec<Vec<(u16, u32)>> = vec![Vec::new()];
    let mut n = 0usize;
    for &k in keys {
        let h = hash_port(u32::from(k));
        if let Some(b) = buckets.get_mut(h as usize & mask) {
            b.insert(0, (k, h));
        }
        n += 1;
        if n / 2 > mask {
            let new_mask = calc_mask(n);
            if new_mask > mask {
                let old = std::mem::replace(&mut buckets, vec![Vec::new(); new_mask + 1]);
                mask = new_mask;
                for (k, h) in old.into_iter().flatten() {
                    if let Some(b) = buckets.get_mut(h as usize & mask) {
                        b.insert(0, (k, h));
                    }
                }
            }
        }
    }
    buckets.into_iter().flatten().map(|(k, _)| k).collect()
}

impl Switch {
    /// The bridge's ports in stock's iteration order.
    pub(crate) fn stock_ordered_ports(&self) -> Vec<&PortInfo> {
        let mut added: Vec<&PortInfo> = self.ports.iter().collect();
        added.sort_by_key(|p| {
            (
                self.port_added.get(&p.ofp_port).copied(),
                p.ofp_port != port::LOCAL,
                p.ofp_port,
            )
        });
        let keys: Vec<u16> = added.iter().map(|p| p.ofp_port).collect();
        hmap_order(&keys)
            .into_iter()
            .filter_map(|k| self.ports.iter().find(|p| p.ofp_port == k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_stock_hmap_order() {
        // Seen from stock 3.1 (queue-stats of a bridge with p1..p7 added
        // one by one after LOCAL).
        let keys: Vec<u16> = std::iter::once(0xfffe).chain(1..=7).collect();
        assert_eq!(hmap_order(&keys), vec![0xfffe, 5, 1, 4, 6, 7, 2, 3]);
        assert_eq!(hmap_order(&[0xfffe, 1, 2]), vec![0xfffe, 1, 2]);
        assert!(hmap_order(&[]).is_empty());
    }
}
