//! Tunnel header push and pop: round trips for VXLAN, Geneve and GRE over
//! IPv4 and IPv6, and hostile outer headers.

use ferrovs_netdev::packet::Packet;
use ferrovs_netdev::tunnel::{
    pop_header, push_header, TunnelKind, TNL_F_CSUM, TNL_F_DONT_FRAGMENT, TNL_F_KEY,
};
use ferrovs_netdev::{csum, extract};

fn eth(ty: u16) -> Vec<u8> {
    let mut h = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    h.extend_from_slice(&ty.to_be_bytes());
    h
}

fn ipv4(proto: u8) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    h.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    h
}

fn ipv6(proto: u8) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0, 0, 0, proto, 64];
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h
}

fn udp(dst: u16, csum: bool) -> Vec<u8> {
    let mut h = vec![0, 0];
    h.extend_from_slice(&dst.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, if csum { 0xff } else { 0 }]);
    h
}

fn inner() -> Vec<u8> {
    let mut f = eth(0x0800);
    f.extend_from_slice(&[
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 59, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(b"some inner bytes");
    f
}

/// Name, outer header, kind, UDP port, tunnel id, IPv6 underlay.
type Case = (&'static str, Vec<u8>, TunnelKind, u16, u64, bool);

fn headers() -> Vec<Case> {
    let vxlan = [0x08, 0, 0, 0, 0, 0, 0x2a, 0];
    let geneve = [0x02, 0, 0x65, 0x58, 0, 0, 0x01, 0, 0, 1, 2, 1, 0, 0, 0, 9];
    let gre = [0xa0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0x30, 0x39];
    vec![
        (
            "vxlan4",
            [eth(0x0800), ipv4(17), udp(4789, false), vxlan.to_vec()].concat(),
            TunnelKind::Vxlan,
            4789,
            42,
            false,
        ),
        (
            "vxlan6",
            [eth(0x86dd), ipv6(17), udp(4789, false), vxlan.to_vec()].concat(),
            TunnelKind::Vxlan,
            4789,
            42,
            true,
        ),
        (
            "geneve4",
            [eth(0x0800), ipv4(17), udp(6081, true), geneve.to_vec()].concat(),
            TunnelKind::Geneve,
            6081,
            1,
            false,
        ),
        (
            "gre4",
            [eth(0x0800), ipv4(47), gre.to_vec()].concat(),
            TunnelKind::Gre,
            0,
            12345,
            false,
        ),
        (
            "gre6",
            [eth(0x86dd), ipv6(47), gre.to_vec()].concat(),
            TunnelKind::Gre,
            0,
            12345,
            true,
        ),
    ]
}

#[test]
fn push_then_pop_round_trips() {
    for (name, hdr, kind, port, id, v6) in headers() {
        let mut p = Packet::from_bytes(&inner());
        assert!(push_header(&mut p, &hdr, 0xdead_beef), "{name}");
        let outer = p.data().to_vec();
        assert_eq!(outer.len(), hdr.len() + inner().len());
        let x = extract(&outer, &Default::default());
        assert!(!x.malformed, "{name}: outer parses");
        let (l3, l4) = (x.layers.l3.unwrap(), x.layers.l4.unwrap());
        if !v6 {
            assert_eq!(
                csum::checksum(&outer[l3..l3 + 20]),
                0,
                "{name}: IP checksum"
            );
        }
        if x.key.nw_proto == 17 && (v6 || outer[l4 + 6] | outer[l4 + 7] != 0) {
            let seg = &outer[l4..];
            let ps = if v6 {
                csum::pseudo_v6(x.key.ipv6_src, x.key.ipv6_dst, 17, seg.len())
            } else {
                csum::pseudo_v4(x.key.nw_src, x.key.nw_dst, 17, seg.len())
            };
            assert_eq!(
                csum::fold(csum::add(ps, seg)),
                0xffff,
                "{name}: UDP checksum"
            );
        }
        if x.key.nw_proto == 47 {
            assert_eq!(csum::checksum(&outer[l4..]), 0, "{name}: GRE checksum");
        }
        let m = pop_header(&mut p, kind, port).unwrap_or_else(|| panic!("{name}: pop"));
        assert_eq!(p.data(), &inner()[..], "{name}: inner back");
        assert_eq!(m.tun_id, id, "{name}");
        assert!(m.flags & TNL_F_KEY != 0, "{name}");
        if v6 {
            assert_eq!(m.ipv6_dst & 0xff, 2);
        } else {
            assert_eq!(m.ipv4_src, 0xc000_0201);
            assert!(m.flags & TNL_F_DONT_FRAGMENT != 0);
            assert_eq!(m.ttl, 64);
        }
        if name == "geneve4" || name.starts_with("gre") {
            assert!(m.flags & TNL_F_CSUM != 0, "{name}");
        }
    }
}

#[test]
fn hostile_outer_headers_are_refused() {
    let mut seed = 0x1234_5678u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (name, hdr, kind, port, _, _) in headers() {
        let mut p = Packet::from_bytes(&inner());
        push_header(&mut p, &hdr, 1);
        let outer = p.data().to_vec();
        // Wrong kind or port: untouched.
        let mut q = Packet::from_bytes(&outer);
        let other = if kind == TunnelKind::Gre {
            TunnelKind::Vxlan
        } else {
            TunnelKind::Gre
        };
        assert!(pop_header(&mut q, other, 4789).is_none(), "{name}");
        assert_eq!(q.data(), &outer[..]);
        // Cut anywhere, or bytes flipped: never a panic.
        for cut in 0..outer.len() {
            let mut q = Packet::from_bytes(&outer[..cut]);
            let _ = pop_header(&mut q, kind, port);
        }
        for _ in 0..2000 {
            let mut f = outer.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % f.len() as u64) as usize;
                f[i] = next() as u8;
            }
            let mut q = Packet::from_bytes(&f);
            let _ = pop_header(&mut q, kind, port);
            let mut h = hdr.clone();
            let i = (next() % h.len() as u64) as usize;
            h[i] = next() as u8;
            let mut q = Packet::from_bytes(&inner());
            let _ = push_header(&mut q, &h, 7);
        }
    }
}
