//! Hostile input: random and mangled bytes fed to every decoder of what the
//! kernel (or anyone able to write to our netlink sockets) sends. Each must
//! return a value or an error, never panic. A fixed-seed generator keeps
//! the test reproducible; the mangling starts from real message shapes so
//! that it reaches past the first length check.

use super::attrs::{AttrWriter, Attrs};
use super::consts::{dp_attr, flow_attr, packet_attr, packet_cmd, vport_attr};
use super::fuzz::decode_untrusted;

/// xorshift64*: small, deterministic, good enough to shake bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Realistic message bodies (ovs_header + attributes) to start from.
fn seeds() -> Vec<Vec<u8>> {
    let mut dp = AttrWriter::with_ovs_header(3);
    dp.put_str(dp_attr::NAME, "dp0")
        .put(dp_attr::STATS, &[1; 32])
        .put(dp_attr::MEGAFLOW_STATS, &[2; 32])
        .put_u32(dp_attr::USER_FEATURES, 9);
    let mut vp = AttrWriter::with_ovs_header(3);
    vp.put_u32(vport_attr::PORT_NO, 1)
        .put_u32(vport_attr::TYPE, 1)
        .put_str(vport_attr::NAME, "eth0")
        .put_u32s(vport_attr::UPCALL_PID, &[7, 8])
        .put(vport_attr::STATS, &[3; 64]);
    let mut fl = AttrWriter::with_ovs_header(3);
    fl.put(flow_attr::UFID, &[4; 16])
        .put(flow_attr::KEY, &[8, 0, 3, 0, 1, 0, 0, 0])
        .put(flow_attr::MASK, &[8, 0, 3, 0, 255, 255, 255, 255])
        .put(flow_attr::ACTIONS, &[8, 0, 1, 0, 2, 0, 0, 0])
        .put(flow_attr::STATS, &[5; 16])
        .put(flow_attr::USED, &[6; 8])
        .put_u8(flow_attr::TCP_FLAGS, 2);
    let mut up = AttrWriter::with_ovs_header(3);
    up.put(packet_attr::PACKET, &[0xab; 60])
        .put(packet_attr::KEY, &[8, 0, 3, 0, 1, 0, 0, 0])
        .put(packet_attr::USERDATA, b"cookie")
        .put_u16(packet_attr::MRU, 1500);
    [dp, vp, fl, up]
        .into_iter()
        .map(|w| w.finish().unwrap())
        .collect()
}

fn mangle(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..=rng.below(6) {
        match rng.below(5) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 => b.truncate(rng.below(b.len() + 1)),
            2 => b.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
            3 if b.len() >= 2 => {
                // Attribute lengths are the interesting bytes.
                let i = rng.below(b.len() - 1);
                b[i..i + 2].copy_from_slice(&(rng.next() as u16).to_ne_bytes());
            }
            _ => b = (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        }
    }
    b
}

fn decode_all(bytes: &[u8]) {
    let _ = Attrs::parse(bytes);
    for cmd in [1u8, 2, 3, packet_cmd::MISS, packet_cmd::ACTION] {
        let mut framed = vec![cmd, 1];
        framed.extend_from_slice(bytes);
        decode_untrusted(&framed);
    }
    // The same bytes as a whole datagram (netlink headers included).
    decode_untrusted(bytes);
}

#[test]
fn decoders_survive_mangled_messages() {
    let mut rng = Rng(0x5eed_f00d_dead_beef);
    let seeds = seeds();
    for seed in &seeds {
        decode_all(seed);
    }
    for _ in 0..20_000 {
        let seed = &seeds[rng.below(seeds.len())];
        decode_all(&mangle(&mut rng, seed));
    }
}

#[test]
fn decoders_survive_mangled_datagrams() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for seed in seeds() {
        // Wrap each body in nlmsghdr + genlmsghdr, as the kernel sends it.
        let len = (16 + 4 + seed.len()) as u32;
        let mut dgram = Vec::new();
        dgram.extend_from_slice(&len.to_ne_bytes());
        dgram.extend_from_slice(&0x20u16.to_ne_bytes());
        dgram.extend_from_slice(&[0; 10]);
        dgram.extend_from_slice(&[1, 1, 0, 0]);
        dgram.extend_from_slice(&seed);
        for _ in 0..5_000 {
            decode_untrusted(&mangle(&mut rng, &dgram));
        }
    }
}
