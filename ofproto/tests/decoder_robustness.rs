//! Hostile-input robustness of the message handling: random and mutated
//! messages of every type and version go through `Switch::handle`, which
//! must answer (or stay silent) without panicking, and every reply must
//! itself be a well-formed OpenFlow message.
//!
//! The generator is a fixed-seed xorshift, so failures reproduce.

use ferrovs_ofproto::switch::{ConnState, Switch};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn header(version: u8, ty: u8, body: &[u8], xid: u32) -> Vec<u8> {
    let mut m = vec![version, ty, 0, 0];
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    let len = m.len().min(65535) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// Valid-looking seeds: flow mods with matches and actions in each
/// version, stats requests, group and meter mods, bundles.
fn seeds() -> Vec<Vec<u8>> {
    let mut s = Vec::new();
    // OpenFlow 1.0 flow_mod: match (all wildcards but dl_type=ip), add,
    // output:1.
    let mut fm10 = vec![0u8; 40];
    fm10[0..4].copy_from_slice(&(0x003f_ffef_u32).to_be_bytes());
    fm10[20..22].copy_from_slice(&0x0800u16.to_be_bytes());
    fm10.extend_from_slice(&[0; 8]);
    fm10.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
    ]);
    fm10.extend_from_slice(&[0, 0, 0, 8, 0, 1, 0, 0]);
    s.push(header(1, 14, &fm10, 1));
    // NXT_FLOW_MOD with an NXM eth_type match and a reg_load.
    let mut nx = vec![0, 0, 0x23, 0x20, 0, 0, 0, 13];
    nx.extend_from_slice(&[0; 8]);
    nx.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0,
    ]);
    nx.extend_from_slice(&[0, 0, 6, 2, 8, 0, 0, 0]);
    nx.extend_from_slice(&[
        0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 7, 0, 31, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5,
    ]);
    s.push(header(1, 4, &nx, 2));
    // OpenFlow 1.1-1.5 flow_mod with an OXM match and apply-actions.
    for v in 2..=6u8 {
        let mut b = vec![0u8; 16];
        b.extend_from_slice(&[
            0, 0, 0, 0, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0]);
        if v == 2 {
            let mut m11 = vec![0, 0, 0, 88];
            m11.extend_from_slice(&[0; 84]);
            b.extend_from_slice(&m11);
        } else {
            b.extend_from_slice(&[0, 1, 0, 10, 0x80, 0, 0x0a, 2, 8, 0, 0, 0]);
            b.extend_from_slice(&[0, 0, 0, 0]);
        }
        b.extend_from_slice(&[
            0, 4, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 0, 0,
        ]);
        s.push(header(v, 14, &b, 3));
        // Flow stats and aggregate requests.
        let mut fs = vec![
            0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        fs.extend_from_slice(&[0; 20]);
        fs.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 0]);
        s.push(header(v, 18, &fs, 4));
        // Group mod: all, one bucket output:1.
        let mut g = vec![0, 0, 0, 0, 0, 0, 0, 1];
        g.extend_from_slice(&[
            0, 32, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        g.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
        s.push(header(v, 15, &g, 5));
        // Meter mod and bundle control.
        s.push(header(
            v,
            29,
            &[
                0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 16, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            6,
        ));
        s.push(header(v, 33, &[0, 0, 0, 1, 0, 0, 0, 3], 7));
    }
    s
}

fn check_replies(replies: &[Vec<u8>]) {
    for r in replies {
        assert!(r.len() >= 8, "reply shorter than a header");
        let len = u16::from_be_bytes([r[2], r[3]]) as usize;
        assert_eq!(len, r.len(), "reply length field disagrees with its size");
        assert!((1..=6).contains(&r[0]), "reply in an unknown version");
    }
}

#[test]
fn random_and_mutated_messages_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = seeds();
    let mut sw = Switch::new("br0", 1);
    sw.add_normal_flow();
    for i in 0..40_000u32 {
        let version = (rng.below(6) + 1) as u8;
        let mut conn = ConnState::new(version);
        conn.nxm = rng.below(2) == 0;
        conn.table_id_ext = rng.below(2) == 0;
        let msg = match rng.below(3) {
            // Pure noise behind a plausible header.
            0 => {
                let n = rng.below(120) as usize;
                header(version, rng.below(40) as u8, &rng.bytes(n), i)
            }
            // A seed with bytes flipped.
            1 => {
                let mut m = seeds[rng.below(seeds.len() as u64) as usize].clone();
                for _ in 0..=rng.below(4) {
                    let at = 8 + rng.below((m.len() - 8) as u64) as usize;
                    m[at] ^= 1 << rng.below(8);
                }
                m[0] = version;
                m
            }
            // A seed truncated or padded, with its length field adjusted.
            _ => {
                let mut m = seeds[rng.below(seeds.len() as u64) as usize].clone();
                let n = 8 + rng.below(m.len() as u64 + 16) as usize;
                m.resize(n, rng.next() as u8);
                let len = m.len() as u16;
                m[2..4].copy_from_slice(&len.to_be_bytes());
                m[0] = version;
                m
            }
        };
        let replies = sw.handle(&mut conn, &msg);
        check_replies(&replies);
        if i % 5000 == 0 {
            // Keep tables from growing without bound.
            sw.flush();
        }
    }
    // The switch still answers normally afterwards.
    let mut conn = ConnState::new(4);
    let echo = header(4, 2, b"ok", 99);
    let r = sw.handle(&mut conn, &echo);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0][1], 3);
}
