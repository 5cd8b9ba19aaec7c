//! Packet generators shared by the extractor tests: a small PRNG, valid
//! packets of many kinds with the key the generator knows, and mutations.

#![allow(dead_code)]

use ferrovs_netdev::csum;
use ferrovs_netdev::flow::{FlowKey, FRAG_NONE, VLAN_PRESENT};

/// xorshift64*: small, deterministic, good enough to spread test cases.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in a.iter_mut() {
            *b = self.next() as u8;
        }
        a
    }
    pub fn vec(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A generated packet and the key fields the generator put in it.
pub struct Gen {
    pub frame: Vec<u8>,
    pub want: FlowKey,
}

pub fn gen_valid(r: &mut Rng) -> Gen {
    let mut want = FlowKey::default();
    let mut f = Vec::new();
    want.eth_dst = r.bytes();
    want.eth_src = r.bytes();
    f.extend_from_slice(&want.eth_dst);
    f.extend_from_slice(&want.eth_src);
    let n_vlans = r.below(3) as usize;
    for i in 0..n_vlans {
        let tpid = if i == 0 && n_vlans == 2 {
            0x88a8
        } else {
            0x8100
        };
        let tci = r.next() as u16 & !VLAN_PRESENT; // DEI clear: etherparse agrees
        want.vlans[i].tpid = tpid;
        want.vlans[i].tci = tci | VLAN_PRESENT;
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    let l3 = r.below(3);
    let (ty, v6) = match l3 {
        0 => (0x0800u16, false),
        1 => (0x86ddu16, true),
        _ => (0x0806u16, false),
    };
    want.eth_type = ty;
    f.extend_from_slice(&ty.to_be_bytes());
    if ty == 0x0806 {
        let op = 1 + r.below(2) as u16;
        want.arp_op = op;
        want.arp_sha = r.bytes();
        want.arp_tha = r.bytes();
        want.nw_src = r.next() as u32;
        want.nw_dst = r.next() as u32;
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&want.arp_sha);
        f.extend_from_slice(&want.nw_src.to_be_bytes());
        f.extend_from_slice(&want.arp_tha);
        f.extend_from_slice(&want.nw_dst.to_be_bytes());
        return Gen { frame: f, want };
    }
    // L4 first (its length goes into the IP header).
    let proto = match r.below(3) {
        0 => 6u8,
        1 => 17,
        _ => {
            if v6 {
                58
            } else {
                1
            }
        }
    };
    want.nw_proto = proto;
    let n = r.below(64) as usize;
    let payload = r.vec(n);
    let mut l4 = Vec::new();
    match proto {
        6 => {
            want.tp_src = r.next() as u16;
            want.tp_dst = r.next() as u16;
            want.tcp_flags = r.next() as u16 & 0x1ff;
            let opt_words = r.below(4) as usize;
            l4.extend_from_slice(&want.tp_src.to_be_bytes());
            l4.extend_from_slice(&want.tp_dst.to_be_bytes());
            l4.extend_from_slice(&r.bytes::<8>());
            let off_flags = ((5 + opt_words as u16) << 12) | want.tcp_flags;
            l4.extend_from_slice(&off_flags.to_be_bytes());
            l4.extend_from_slice(&r.bytes::<2>());
            l4.extend_from_slice(&[0, 0, 0, 0]);
            l4.extend(std::iter::repeat_n(1u8, opt_words * 4)); // NOPs
        }
        17 => {
            want.tp_src = r.next() as u16;
            want.tp_dst = r.next() as u16;
            l4.extend_from_slice(&want.tp_src.to_be_bytes());
            l4.extend_from_slice(&want.tp_dst.to_be_bytes());
            l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        }
        _ => {
            // Echo request/reply: types both parsers agree on.
            let t: u8 = match (v6, r.below(2)) {
                (false, 0) => 8,
                (false, _) => 0,
                (true, 0) => 128,
                (true, _) => 129,
            };
            want.tp_src = u16::from(t);
            want.tp_dst = 0;
            l4.extend_from_slice(&[t, 0, 0, 0]);
            l4.extend_from_slice(&r.bytes::<4>());
        }
    }
    l4.extend_from_slice(&payload);
    let l3_at = f.len();
    want.nw_ttl = r.next() as u8;
    want.nw_tos = r.next() as u8;
    want.nw_frag = FRAG_NONE;
    if !v6 {
        let opt_words = r.below(3) as usize;
        let ihl = 5 + opt_words;
        let tot = ihl * 4 + l4.len();
        want.nw_src = r.next() as u32;
        want.nw_dst = r.next() as u32;
        f.push(0x40 | ihl as u8);
        f.push(want.nw_tos);
        f.extend_from_slice(&(tot as u16).to_be_bytes());
        f.extend_from_slice(&r.bytes::<2>());
        f.extend_from_slice(&[0x40, 0]); // DF, not a fragment
        f.push(want.nw_ttl);
        f.push(proto);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&want.nw_src.to_be_bytes());
        f.extend_from_slice(&want.nw_dst.to_be_bytes());
        f.extend(std::iter::repeat_n(1u8, opt_words * 4));
        let c = csum::checksum(&f[l3_at..]);
        f[l3_at + 10..l3_at + 12].copy_from_slice(&c.to_be_bytes());
    } else {
        want.ipv6_src = u128::from_be_bytes(r.bytes());
        want.ipv6_dst = u128::from_be_bytes(r.bytes());
        want.ipv6_label = r.next() as u32 & 0xf_ffff;
        let hbh = r.below(2) == 1;
        let plen = l4.len() + if hbh { 8 } else { 0 };
        let w = (6u32 << 28) | (u32::from(want.nw_tos) << 20) | want.ipv6_label;
        f.extend_from_slice(&w.to_be_bytes());
        f.extend_from_slice(&(plen as u16).to_be_bytes());
        f.push(if hbh { 0 } else { proto });
        f.push(want.nw_ttl);
        f.extend_from_slice(&want.ipv6_src.to_be_bytes());
        f.extend_from_slice(&want.ipv6_dst.to_be_bytes());
        if hbh {
            // Hop-by-hop with a PadN option filling 6 bytes.
            f.extend_from_slice(&[proto, 0, 1, 4, 0, 0, 0, 0]);
        }
    }
    f.extend_from_slice(&l4);
    // Sometimes Ethernet padding after the datagram.
    if r.below(4) == 0 {
        f.extend(std::iter::repeat_n(0u8, r.below(20) as usize));
    }
    Gen { frame: f, want }
}

pub fn mutate(r: &mut Rng, f: &mut Vec<u8>) {
    match r.below(6) {
        0 => {
            let n = r.below(f.len() as u64 + 1) as usize;
            f.truncate(n);
        }
        1 => {
            for _ in 0..1 + r.below(8) {
                if !f.is_empty() {
                    let i = r.below(f.len() as u64) as usize;
                    f[i] ^= 1 << r.below(8);
                }
            }
        }
        2 => {
            if !f.is_empty() {
                let i = r.below(f.len() as u64) as usize;
                f[i] = r.next() as u8;
            }
        }
        3 => {
            let n = r.below(300) as usize;
            let extra = r.vec(n);
            f.extend_from_slice(&extra);
        }
        4 => {
            // Lengths and offsets are where parsers go wrong: hit them.
            for at in [16usize, 17, 18, 19, 22, 23, 26, 38, 46, 50] {
                if at < f.len() && r.below(3) == 0 {
                    f[at] = r.next() as u8;
                }
            }
        }
        _ => {
            let n = r.below(200) as usize;
            *f = r.vec(n);
        }
    }
}
