//! The classifier against a reference written from the definitions: the
//! same rules and packets, the same rule found, the same soft matches,
//! and the same wildcard bits, for random rule sets under churn.
//!
//! The reference keeps plain lists and scans them: a stage matches when
//! some rule of the subtable agrees with the packet on the masked bytes
//! up to the stage's end; a trie answer is the longest prefix any stored
//! prefix shares with the value (plus the next bit when a longer prefix
//! goes on from there), scanning every prefix. Only the order of the
//! subtables is taken from the classifier (it depends on the history of
//! inserts and removes, not on how a lookup works).

use super::Classifier;
use crate::openflow::fields::{eth_type, id, range, Match, KEY_LEN};

const TRIE_FIELDS: [usize; 2] = [id::IP_DST, id::IP_SRC];
const PORT_FIELDS: [(usize, usize); 5] = [
    (id::TCP_SRC, id::TCP_DST),
    (id::UDP_SRC, id::UDP_DST),
    (id::SCTP_SRC, id::SCTP_DST),
    (id::ICMP_TYPE, id::ICMP_CODE),
    (id::ICMPV6_TYPE, id::ICMPV6_CODE),
];

fn prefix_mask(bits: u32) -> u32 {
    u32::MAX.checked_shl(32 - bits).unwrap_or(0)
}

fn prefix_len(mask: u32) -> Option<u32> {
    let l = mask.leading_ones();
    (l > 0 && l + mask.trailing_zeros() == 32).then_some(l)
}

/// A trie walk's answer by definition, scanning every stored prefix.
fn scan(prefixes: &[(u32, u32)], value: u32) -> (u32, u64) {
    if prefixes.is_empty() {
        return (0, 0);
    }
    let common = |v: u32| (v ^ value).leading_zeros();
    let mut matched = 0;
    let mut plens = 0u64;
    for &(v, len) in prefixes {
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
        .iter()
        .any(|&(v, len)| len > matched && common(v) >= matched);
    (matched + goes_on as u32, plens)
}

struct Rule {
    m: Match,
    prio: u32,
    id: u32,
}

/// Whether `key` and `rule` agree on `mask`'s bits in bytes `..end`
/// (`used`: the bytes where `mask` has bits).
fn agree(
    key: &[u8; KEY_LEN],
    rule: &[u8; KEY_LEN],
    mask: &[u8; KEY_LEN],
    used: &[usize],
    end: usize,
) -> bool {
    used.iter()
        .take_while(|&&i| i < end)
        .all(|&i| (key[i] ^ rule[i]) & mask[i] == 0)
}

fn or_mask(wc: &mut [u8; KEY_LEN], mask: &[u8; KEY_LEN], end: usize) {
    for i in 0..end {
        wc[i] |= mask[i];
    }
}

fn field(k: &[u8; KEY_LEN], f: usize) -> u32 {
    k[range(f)].iter().fold(0, |a, &b| (a << 8) | b as u32)
}

fn or_field(k: &mut [u8; KEY_LEN], f: usize, v: u32) {
    let mut m = Match::catchall();
    m.set(f, v as u128, v as u128);
    or_mask(k, &m.mask, KEY_LEN);
}

type Found = (Option<(u32, u32)>, Vec<Vec<(u32, u32)>>);

/// The rules as the reference looks them up: by mask in the
/// classifier's order, and the prefixes on the trie fields.
struct Reference<'a> {
    /// Mask, the bytes it has bits in, rules.
    subtables: Vec<(&'a [u8; KEY_LEN], Vec<usize>, Vec<&'a Rule>)>,
    tries: Vec<Vec<(u32, u32)>>,
}

impl<'a> Reference<'a> {
    fn new(rules: &'a [Rule], order: &'a [[u8; KEY_LEN]]) -> Self {
        let subtables = order
            .iter()
            .map(|mask| {
                let used = (0..KEY_LEN).filter(|&i| mask[i] != 0).collect();
                (
                    mask,
                    used,
                    rules.iter().filter(|r| r.m.mask == *mask).collect(),
                )
            })
            .collect();
        let tries = TRIE_FIELDS
            .iter()
            .map(|&f| {
                rules
                    .iter()
                    .filter_map(|r| {
                        let (v, m) = r.m.get(f);
                        Some((v as u32 & m as u32, prefix_len(m as u32)?))
                    })
                    .collect()
            })
            .collect();
        Reference { subtables, tries }
    }
}

/// `Classifier::lookup_soft` by definition.
fn reference(
    rf: &Reference,
    key: &[u8; KEY_LEN],
    wc: &mut [u8; KEY_LEN],
    is_soft: impl Fn(u32) -> bool,
    allow_soft: bool,
) -> Found {
    let bounds = [
        0,
        range(id::ETH_SRC).start,
        range(id::IP_SRC).start,
        range(id::TCP_SRC).start,
        KEY_LEN,
    ];
    let is_ip = field(key, id::ETH_TYPE) as u16 == eth_type::IP;
    let tries = &rf.tries;
    let mut hard: Option<(u32, u32)> = None;
    let mut soft = Vec::new();
    'subtables: for (mask, used, mine) in &rf.subtables {
        let mask = *mask;
        let max = mine.iter().map(|r| r.prio).max().unwrap_or(0);
        if hard.is_some_and(|(hp, _)| hp >= max) {
            break;
        }
        let stages: Vec<(usize, usize)> = bounds
            .windows(2)
            .map(|w| (w[0], w[1]))
            .filter(|&(s, e)| mask[s..e].iter().any(|&b| b != 0))
            .collect();
        let m = Match {
            key: [0; KEY_LEN],
            mask: *mask,
        };
        for (i, &(start, end)) in stages.iter().enumerate() {
            for (j, &f) in TRIE_FIELDS.iter().enumerate() {
                let r = range(f);
                let Some(plen) = prefix_len(m.get(f).1 as u32) else {
                    continue;
                };
                if r.start < start || r.end > end || !is_ip {
                    continue;
                }
                let (bits, plens) = scan(&tries[j], field(key, f));
                if plens >> (plen - 1) & 1 == 1 {
                    continue;
                }
                let pm = prefix_mask(bits);
                if bits <= plen || field(wc, f) & pm == pm {
                    or_field(wc, f, pm);
                    or_mask(wc, mask, start);
                    continue 'subtables;
                }
            }
            if i + 1 == stages.len() {
                break;
            }
            if !mine.iter().any(|r| agree(key, &r.m.key, mask, used, end)) {
                or_mask(wc, mask, end);
                continue 'subtables;
            }
        }
        let mut hits: Vec<(u32, u32)> = mine
            .iter()
            .filter(|r| agree(key, &r.m.key, mask, used, KEY_LEN))
            .map(|r| (r.prio, r.id))
            .collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&best) = hits.first() else {
            let ports = PORT_FIELDS
                .iter()
                .find(|&&(s, d)| m.is_set(s) || m.is_set(d));
            let Some(&(s, d)) = ports else {
                or_mask(wc, mask, KEY_LEN);
                continue;
            };
            or_mask(wc, mask, stages.last().map_or(0, |l| l.0));
            let pm = (field(mask, s) << 16) | field(mask, d);
            let word = |k: &[u8; KEY_LEN]| ((field(k, s) << 16) | field(k, d)) & pm;
            let len = 32 - pm.trailing_zeros();
            let stored: Vec<(u32, u32)> = mine.iter().map(|r| (word(&r.m.key), len)).collect();
            let (bits, _) = scan(&stored, word(key));
            let got = pm & prefix_mask(bits);
            or_field(wc, s, got >> 16);
            or_field(wc, d, got & 0xffff);
            continue;
        };
        or_mask(wc, mask, KEY_LEN);
        if hard.is_some_and(|(hp, _)| best.0 <= hp) {
            continue;
        }
        if !is_soft(best.1) {
            hard = Some(best);
        } else if allow_soft {
            soft.push(hits);
        }
    }
    (hard, soft)
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `below` for field values.
    fn val(&mut self, n: u64) -> u128 {
        self.below(n) as u128
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }

    /// An IPv4 address near the few networks the rules use.
    fn addr(&mut self) -> u128 {
        let base = self.pick(&[0x0a00_0000u32, 0x0a01_0000, 0xc0a8_0000, 0xac10_0000]);
        let (rx, ry) = (self.below(256) as u32, self.below(256) as u32);
        let x = self.pick(&[0, 1, 2, 3, 0x80, 0xff, rx]);
        let y = self.pick(&[0, 1, 2, 0x80, ry]);
        (base | x << 8 | y) as u128
    }

    fn port(&mut self) -> u128 {
        let r = self.below(65536) as u32;
        self.pick(&[80, 443, 1000, 1001, 1002, 0x8000, r]) as u128
    }
}

/// A random rule of one of several shapes (so that subtables hold
/// several rules each), over every stage, the trie and port fields, and
/// the last bytes of the key.
fn random_match(rng: &mut Rng) -> Match {
    let mut m = Match::catchall();
    let shape = rng.below(13);
    let ip = |m: &mut Match| m.set_exact(id::ETH_TYPE, eth_type::IP as u128);
    match shape {
        0 => {}
        1 => {
            ip(&mut m);
            m.set(id::IP_SRC, rng.addr(), prefix_mask(24) as u128);
        }
        2 => {
            ip(&mut m);
            m.set_exact(id::NW_PROTO, 6);
            m.set(id::IP_SRC, rng.addr(), prefix_mask(16) as u128);
            m.set_exact(id::TCP_DST, rng.port());
        }
        3 => {
            ip(&mut m);
            m.set_exact(id::NW_PROTO, 17);
            m.set_exact(id::IP_DST, rng.addr());
        }
        4 => {
            ip(&mut m);
            m.set(id::IP_DST, rng.addr(), prefix_mask(24) as u128);
            m.set_exact(id::NW_TOS, rng.pick(&[0, 4, 8]));
        }
        5 => {
            m.set_exact(id::IN_PORT, rng.val(3) + 1);
            ip(&mut m);
            let len = rng.pick(&[8, 20]);
            m.set(id::IP_DST, rng.addr(), prefix_mask(len) as u128);
            m.set_exact(id::NW_PROTO, 17);
            m.set(id::UDP_SRC, rng.port(), 0xfc00);
        }
        6 => {
            ip(&mut m);
            m.set(id::IP_SRC, rng.addr(), 0xff00_ff00);
            m.set(id::IP_DST, rng.addr(), prefix_mask(20) as u128);
        }
        7 => {
            m.set_exact(id::TUN_METADATA63, rng.val(4));
            m.set(id::TUN_METADATA0 + 62, rng.val(4) << 8, 0xff00);
        }
        8 => {
            m.set_exact(id::ETH_TYPE, eth_type::ARP as u128);
            m.set_exact(id::ARP_OP, rng.val(3));
        }
        9 => {
            ip(&mut m);
            m.set_exact(id::NW_PROTO, 1);
            m.set_exact(id::ICMP_TYPE, rng.pick(&[0, 3, 8]));
            m.set_exact(id::ICMP_CODE, rng.val(2));
        }
        10 => {
            m.set(id::REG0, rng.val(4), 0xff);
            m.set_exact(id::ETH_SRC, rng.pick(&[1, 2, 0x0e00_0000_0001]));
        }
        11 => {
            ip(&mut m);
            m.set_exact(id::NW_PROTO, 6);
            let (sl, dl) = (rng.pick(&[0u32, 4, 16]), rng.pick(&[1u32, 12, 16]));
            m.set(id::TCP_SRC, rng.port(), (prefix_mask(sl) >> 16) as u128);
            m.set(id::TCP_DST, rng.port(), (prefix_mask(dl) >> 16) as u128);
        }
        _ => {
            ip(&mut m);
            let (a, b) = (rng.below(33) as u32, rng.below(33) as u32);
            m.set(id::IP_DST, rng.addr(), prefix_mask(a) as u128);
            m.set(id::IP_SRC, rng.addr(), prefix_mask(b) as u128);
        }
    }
    m
}

/// A random packet: mostly IPv4 near the rules' values, sometimes taking
/// a rule's values for the fields it matches.
fn random_packet(rng: &mut Rng, rules: &[Rule]) -> [u8; KEY_LEN] {
    let mut p = Match::catchall();
    let et = rng.pick(&[
        eth_type::IP,
        eth_type::IP,
        eth_type::IP,
        eth_type::ARP,
        eth_type::IPV6,
    ]);
    p.set_exact(id::ETH_TYPE, et as u128);
    p.set_exact(id::IN_PORT, rng.val(3) + 1);
    p.set_exact(id::IP_SRC, rng.addr());
    p.set_exact(id::IP_DST, rng.addr());
    p.set_exact(id::NW_PROTO, rng.pick(&[1, 6, 17]));
    p.set_exact(id::NW_TOS, rng.pick(&[0, 4, 8]));
    for f in [id::TCP_SRC, id::TCP_DST, id::UDP_SRC, id::UDP_DST] {
        p.set_exact(f, rng.port());
    }
    p.set_exact(id::ICMP_TYPE, rng.pick(&[0, 3, 8]));
    p.set_exact(id::ARP_OP, rng.val(3));
    p.set_exact(id::REG0, rng.val(4));
    p.set_exact(id::ETH_SRC, rng.pick(&[1, 2, 0x0e00_0000_0001]));
    p.set_exact(id::TUN_METADATA63, rng.val(4));
    p.set_exact(id::TUN_METADATA0 + 62, rng.val(4) << 8);
    if !rules.is_empty() && rng.below(2) == 0 {
        let r = &rules[rng.below(rules.len() as u64) as usize];
        for i in 0..KEY_LEN {
            p.key[i] = (p.key[i] & !r.m.mask[i]) | r.m.key[i];
        }
    }
    p.key
}

#[test]
fn agrees_with_the_reference_under_churn() {
    for seed in 1..=3u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut c: Classifier<u32> = Classifier::default();
        let mut rules: Vec<Rule> = Vec::new();
        for step in 0..500u32 {
            let m = random_match(&mut rng);
            let prio = rng.below(6) as u32 * 10;
            let at = rules.iter().position(|r| r.m == m && r.prio == prio);
            if rng.below(4) == 0 && !rules.is_empty() {
                let r = rules.swap_remove(rng.below(rules.len() as u64) as usize);
                assert_eq!(c.remove(&r.m, r.prio), Some(r.id));
            } else if let Some(i) = at {
                assert_eq!(c.insert(&m, prio, step), Some(rules[i].id));
                rules[i].id = step;
            } else {
                assert_eq!(c.insert(&m, prio, step), None);
                rules.push(Rule { m, prio, id: step });
            }
            let order = c.subtable_masks();
            let rf = Reference::new(&rules, &order);
            for _ in 0..8 {
                let key = random_packet(&mut rng, &rules);
                // Earlier tables' wildcards, sometimes on the trie fields.
                let mut wc = [0u8; KEY_LEN];
                if rng.below(3) == 0 {
                    let f = rng.pick(&TRIE_FIELDS);
                    or_field(&mut wc, f, prefix_mask(rng.below(33) as u32));
                }
                let mut want_wc = wc;
                let allow = rng.below(2) == 0;
                let is_soft = |id: u32| id.is_multiple_of(5);
                let want = reference(&rf, &key, &mut want_wc, is_soft, allow);
                let got = c.lookup_soft(&key, &mut wc, |&id| is_soft(id), allow);
                let got_soft: Vec<Vec<(u32, u32)>> = got
                    .soft
                    .iter()
                    .map(|v| v.iter().map(|&(p, &id)| (p, id)).collect())
                    .collect();
                let got = (got.hard.map(|(p, &id)| (p, id)), got_soft);
                assert_eq!(got, want, "seed {seed} step {step}");
                let diff: Vec<usize> = (0..KEY_LEN).filter(|&i| wc[i] != want_wc[i]).collect();
                assert!(
                    diff.is_empty(),
                    "seed {seed} step {step}: wildcards differ at {diff:?}"
                );
                // Without soft rules: the best rule, first subtable first.
                let mut best: Option<(u32, usize, u32)> = None;
                for (i, (mask, used, mine)) in rf.subtables.iter().enumerate() {
                    for r in mine {
                        if agree(&key, &r.m.key, mask, used, KEY_LEN)
                            && best
                                .is_none_or(|(bp, bi, _)| r.prio > bp || (r.prio == bp && i < bi))
                        {
                            best = Some((r.prio, i, r.id));
                        }
                    }
                }
                assert_eq!(c.lookup_mut(&key).copied(), best.map(|b| b.2));
                assert_eq!(c.lookup(&key).rule.copied(), best.map(|b| b.2));
            }
        }
        for r in &rules {
            assert_eq!(c.find_exact(&r.m, r.prio), Some(&r.id));
        }
        assert_eq!(c.len(), rules.len());
    }
}
