//! A counted set of 32-bit prefixes kept as a path-compressed binary
//! trie, answering what Open vSwitch's prefix-trie walk answers: how many
//! leading bits of a value the walk examines, and which stored prefix
//! lengths the value has.
//!
//! Nodes live in one array (indices, not pointers; freed nodes are
//! reused). A node is a prefix: either one that rules hold (`count` > 0)
//! or a branch point where two longer prefixes part. A lookup follows the
//! value's bits from the top, one node per edge, so it costs at most one
//! step per stored prefix length on the value's path, whatever the number
//! of prefixes.

/// The mask of the leading `bits` bits (0 to 32).
fn mask(bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    }
}

/// Bit `depth` (0: the most significant) of `v`.
fn bit(v: u32, depth: u32) -> usize {
    (v >> (31 - depth)) as usize & 1
}

/// No node.
const NIL: u32 = u32::MAX;

#[derive(Clone)]
struct Node {
    /// The prefix, bits past `len` zero.
    bits: u32,
    /// Its length, 1 to 32.
    len: u32,
    /// How many holders the prefix has (0: a branch point only).
    count: u32,
    /// The longer prefixes, by their bit `len`.
    child: [u32; 2],
}

/// Where a node hangs: under the (empty, length 0) top, or under a node.
#[derive(Clone, Copy)]
enum Link {
    Top(usize),
    Under(u32, usize),
}

#[derive(Clone)]
pub struct PrefixSet {
    nodes: Vec<Node>,
    /// Nodes free for reuse.
    free: Vec<u32>,
    /// The nodes under the empty prefix, by their first bit.
    top: [u32; 2],
}

impl Default for PrefixSet {
    fn default() -> Self {
        PrefixSet {
            nodes: Vec::new(),
            free: Vec::new(),
            top: [NIL, NIL],
        }
    }
}

impl PrefixSet {
    fn get(&self, link: Link) -> u32 {
        match link {
            Link::Top(b) => self.top[b],
            Link::Under(n, b) => self.nodes[n as usize].child[b],
        }
    }

    fn set(&mut self, link: Link, to: u32) {
        match link {
            Link::Top(b) => self.top[b] = to,
            Link::Under(n, b) => self.nodes[n as usize].child[b] = to,
        }
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() as u32 - 1
            }
        }
    }

    fn release(&mut self, i: u32) {
        self.nodes[i as usize].child = [NIL, NIL];
        self.nodes[i as usize].count = 0;
        self.free.push(i);
        if self.free.len() == self.nodes.len() {
            // Empty: give the memory back.
            self.nodes = Vec::new();
            self.free = Vec::new();
        }
    }

    /// Adds one holder of `value/len` (`len` from 1 to 32).
    pub fn insert(&mut self, value: u32, len: u32) {
        if !(1..=32).contains(&len) {
            return;
        }
        let value = value & mask(len);
        let mut link = Link::Top(bit(value, 0));
        loop {
            let c = self.get(link);
            if c == NIL {
                let leaf = self.alloc(Node {
                    bits: value,
                    len,
                    count: 1,
                    child: [NIL, NIL],
                });
                self.set(link, leaf);
                return;
            }
            let (nbits, nlen) = (self.nodes[c as usize].bits, self.nodes[c as usize].len);
            let common = (value ^ nbits).leading_zeros().min(nlen).min(len);
            if common == nlen {
                if nlen == len {
                    self.nodes[c as usize].count += 1;
                    return;
                }
                // The node is a prefix of the new one: go on below it.
                link = Link::Under(c, bit(value, nlen));
                continue;
            }
            // The new prefix parts from the node (or ends) inside the
            // node's edge: a node at `common` bits goes between.
            let mid = if common == len {
                let mut child = [NIL, NIL];
                child[bit(nbits, len)] = c;
                self.alloc(Node {
                    bits: value,
                    len,
                    count: 1,
                    child,
                })
            } else {
                let leaf = self.alloc(Node {
                    bits: value,
                    len,
                    count: 1,
                    child: [NIL, NIL],
                });
                let mut child = [NIL, NIL];
                child[bit(nbits, common)] = c;
                child[bit(value, common)] = leaf;
                self.alloc(Node {
                    bits: value & mask(common),
                    len: common,
                    count: 0,
                    child,
                })
            };
            self.set(link, mid);
            return;
        }
    }

    /// Drops one holder of `value/len` (nothing if it has none).
    pub fn remove(&mut self, value: u32, len: u32) {
        if !(1..=32).contains(&len) {
            return;
        }
        let value = value & mask(len);
        let mut parent: Option<(u32, Link)> = None;
        let mut link = Link::Top(bit(value, 0));
        let c = loop {
            let c = self.get(link);
            if c == NIL {
                return;
            }
            let n = &self.nodes[c as usize];
            if (value ^ n.bits) & mask(n.len) != 0 || n.len > len {
                return;
            }
            if n.len == len {
                break c;
            }
            parent = Some((c, link));
            link = Link::Under(c, bit(value, n.len));
        };
        let n = &mut self.nodes[c as usize];
        if n.count == 0 {
            return;
        }
        n.count -= 1;
        if n.count > 0 {
            return;
        }
        match n.child {
            [NIL, NIL] => {
                self.set(link, NIL);
                self.release(c);
                // A branch point left with one side goes too.
                if let Some((p, plink)) = parent {
                    let pn = &self.nodes[p as usize];
                    if pn.count == 0 {
                        let rest = pn.child[0].min(pn.child[1]);
                        self.set(plink, rest);
                        self.release(p);
                    }
                }
            }
            [a, NIL] | [NIL, a] => {
                self.set(link, a);
                self.release(c);
            }
            _ => {}
        }
    }

    /// The trie walk for `value`: the number of leading bits examined, and
    /// the set of stored lengths (bit L-1 for length L) whose prefix
    /// `value` has.
    pub fn lookup(&self, value: u32) -> (u32, u64) {
        let mut plens = 0u64;
        let mut depth = 0;
        let mut under = &self.top;
        loop {
            let b = bit(value, depth);
            let c = under[b];
            if c == NIL {
                // The walk read bit `depth` when the trie goes on there
                // (the other way); an empty set reads nothing.
                return (depth + (under[b ^ 1] != NIL) as u32, plens);
            }
            let n = &self.nodes[c as usize];
            let diff = (value ^ n.bits) & mask(n.len);
            if diff != 0 {
                // Parts inside the edge: the bits up to the first
                // different one were read.
                return (diff.leading_zeros() + 1, plens);
            }
            if n.count > 0 {
                plens |= 1 << (n.len - 1);
            }
            if n.len >= 32 {
                return (32, plens);
            }
            depth = n.len;
            under = &n.child;
        }
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
