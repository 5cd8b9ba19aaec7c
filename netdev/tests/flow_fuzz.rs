//! Property tests for flow-key extraction.
//!
//! Valid packets (random headers from a small generator) must give the key
//! the generator knows, and the same fields as a second, independent
//! parser (etherparse). Random and mutated packets must never panic the
//! extractor or the offload code, and every layer offset it reports must
//! lie inside the frame.

use etherparse::{NetHeaders, PacketHeaders, TransportHeader, VlanHeader};
mod common;

use common::{gen_valid, mutate, Rng};
use ferrovs_netdev::flow::{extract, FlowKey};
use ferrovs_netdev::packet::{Offload, Packet};
use ferrovs_netdev::{csum, offload};

/// Compares our key with what etherparse reads from the same bytes.
fn cross_check(frame: &[u8], k: &FlowKey) {
    let h = PacketHeaders::from_ethernet_slice(frame)
        .unwrap_or_else(|e| panic!("etherparse refused a valid frame: {e:?} {frame:02x?}"));
    let Some(etherparse::LinkHeader::Ethernet2(eth)) = &h.link else {
        panic!("no Ethernet header")
    };
    assert_eq!(eth.source, k.eth_src);
    assert_eq!(eth.destination, k.eth_dst);
    match &h.vlan {
        None => assert_eq!(k.n_vlans(), 0),
        Some(VlanHeader::Single(v)) => {
            assert_eq!(k.n_vlans(), 1);
            assert_eq!(k.vlans[0].tci & 0xfff, v.vlan_id.value());
            assert_eq!(k.vlans[0].tci >> 13, u16::from(v.pcp.value()));
            assert_eq!(k.eth_type, v.ether_type.0);
        }
        Some(VlanHeader::Double(d)) => {
            assert_eq!(k.n_vlans(), 2);
            assert_eq!(k.vlans[0].tci & 0xfff, d.outer.vlan_id.value());
            assert_eq!(k.vlans[1].tci & 0xfff, d.inner.vlan_id.value());
            assert_eq!(k.eth_type, d.inner.ether_type.0);
        }
    }
    match &h.net {
        Some(NetHeaders::Ipv4(ip, _)) => {
            assert_eq!(k.nw_src, u32::from_be_bytes(ip.source));
            assert_eq!(k.nw_dst, u32::from_be_bytes(ip.destination));
            assert_eq!(k.nw_proto, ip.protocol.0);
            assert_eq!(k.nw_ttl, ip.time_to_live);
            assert_eq!(k.nw_tos >> 2, ip.dscp.value());
            assert_eq!(k.nw_tos & 3, ip.ecn.value());
        }
        Some(NetHeaders::Ipv6(ip, _)) => {
            assert_eq!(k.ipv6_src, u128::from_be_bytes(ip.source));
            assert_eq!(k.ipv6_dst, u128::from_be_bytes(ip.destination));
            assert_eq!(k.ipv6_label, ip.flow_label.value());
            assert_eq!(k.nw_tos, ip.traffic_class);
            assert_eq!(k.nw_ttl, ip.hop_limit);
        }
        None => assert!(!k.is_ip()),
    }
    match &h.transport {
        Some(TransportHeader::Tcp(t)) => {
            assert_eq!(k.nw_proto, 6);
            assert_eq!(k.tp_src, t.source_port);
            assert_eq!(k.tp_dst, t.destination_port);
            let flags = [t.fin, t.syn, t.rst, t.psh, t.ack, t.urg, t.ece, t.cwr, t.ns];
            let f = flags
                .iter()
                .enumerate()
                .fold(0u16, |acc, (i, &b)| acc | (u16::from(b) << i));
            assert_eq!(k.tcp_flags & 0x1ff, f);
        }
        Some(TransportHeader::Udp(u)) => {
            assert_eq!(k.nw_proto, 17);
            assert_eq!(k.tp_src, u.source_port);
            assert_eq!(k.tp_dst, u.destination_port);
        }
        Some(TransportHeader::Icmpv4(i)) => {
            let b = i.to_bytes();
            assert_eq!(k.tp_src, u16::from(b[0]));
            assert_eq!(k.tp_dst, u16::from(b[1]));
        }
        Some(TransportHeader::Icmpv6(i)) => {
            let b = i.to_bytes();
            assert_eq!(k.tp_src, u16::from(b[0]));
            assert_eq!(k.tp_dst, u16::from(b[1]));
        }
        None => assert!(
            !k.is_ip() || ![6, 17].contains(&k.nw_proto),
            "etherparse found no L4 where we did"
        ),
    }
}

#[test]
fn valid_packets_match_generator_and_etherparse() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    for i in 0..20_000 {
        let g = gen_valid(&mut r);
        let x = extract(&g.frame, &Default::default());
        assert!(!x.malformed, "case {i}: valid frame seen as malformed");
        assert_eq!(x.key, g.want, "case {i}: {:02x?}", g.frame);
        if g.want.eth_type != 0x0806 {
            cross_check(&g.frame, &x.key);
        }
    }
}

#[test]
fn random_and_mutated_packets_never_panic() {
    let mut r = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..100_000 {
        let mut f = gen_valid(&mut r).frame;
        for _ in 0..1 + r.below(3) {
            mutate(&mut r, &mut f);
        }
        let x = extract(&f, &Default::default());
        for off in [Some(x.layers.l2_5), x.layers.l3, x.layers.l4]
            .into_iter()
            .flatten()
        {
            assert!(
                off <= f.len(),
                "layer offset {off} past frame of {}",
                f.len()
            );
        }
        // The offload code must not trust hostile offsets either.
        let mut p = Packet::from_bytes(&f);
        p.offload = Offload {
            csum_partial: r.below(2) == 0,
            csum_start: r.below(200) as u16,
            csum_offset: r.below(40) as u16,
            hdr_len: r.below(100) as u16,
            gso_type: [0u8, 1, 3, 4, 5][r.below(5) as usize],
            gso_size: r.below(2000) as u16,
        };
        let mut out = Vec::new();
        offload::finish(p, &mut out);
    }
}

#[test]
fn fragments_and_extension_headers() {
    // IPv4 first fragment (MF set) and later fragment (offset != 0).
    let mut r = Rng(7);
    let mut g;
    loop {
        g = gen_valid(&mut r);
        if g.want.eth_type == 0x0800 && g.want.n_vlans() == 0 && g.want.nw_proto == 17 {
            break;
        }
    }
    let mut first = g.frame.clone();
    first[20] = 0x20; // MF
    let k = extract(&first, &Default::default()).key;
    assert_eq!(k.nw_frag, 1);
    assert_eq!(k.tp_src, g.want.tp_src, "first fragment keeps L4");
    let mut later = g.frame.clone();
    later[20] = 0;
    later[21] = 10; // offset 80 bytes
    let k = extract(&later, &Default::default()).key;
    assert_eq!(k.nw_frag, 2);
    assert_eq!((k.tp_src, k.tp_dst), (0, 0), "later fragment has no L4");

    // IPv6 with a fragment header (later fragment) after hop-by-hop.
    let mut f = Vec::new();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 24, 0, 64]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> fragment
    f.extend_from_slice(&[17, 0, 0, 0x11, 0, 0, 0, 1]); // offset 2, UDP
    f.extend_from_slice(&[0u8; 8]);
    let k = extract(&f, &Default::default()).key;
    // A later IPv6 fragment names the fragment header as its protocol (as
    // Open vSwitch does: the real one is unknown without reassembly).
    assert_eq!((k.nw_frag, k.nw_proto), (2, 44));
}

#[test]
fn neighbour_discovery() {
    // Neighbour solicitation with a source link-layer address option.
    let mut f = Vec::new();
    f.extend_from_slice(&[0x33, 0x33, 0xff, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, 58, 255]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2]);
    f.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 1]);
    let x = extract(&f, &Default::default());
    assert!(!x.malformed);
    assert_eq!((x.key.tp_src, x.key.tp_dst), (135, 0));
    assert_eq!(x.key.nd_target & 0xff, 2);
    assert_eq!(x.key.arp_sha, [2, 0, 0, 0, 0, 1]);
}

#[test]
fn tcp_segmentation_produces_valid_segments() {
    // A 10000-byte TCP super-frame with a partial checksum, cut at 1448.
    let mut r = Rng(99);
    let payload = r.vec(10_000);
    let mut f = Vec::new();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]);
    let tot = 20 + 20 + payload.len();
    f.extend_from_slice(&[
        0x45,
        0,
        (tot >> 8) as u8,
        tot as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let c = csum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x50, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x18]);
    f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    // Partial: the field holds the pseudo-header sum.
    let ps = csum::fold(csum::pseudo_v4(
        0x0a00_0001,
        0x0a00_0002,
        6,
        20 + payload.len(),
    ));
    f[50..52].copy_from_slice(&ps.to_be_bytes());
    f.extend_from_slice(&payload);
    let mut p = Packet::from_bytes(&f);
    p.offload = Offload {
        csum_partial: true,
        csum_start: 34,
        csum_offset: 16,
        hdr_len: 54,
        gso_type: 1,
        gso_size: 1448,
    };
    let mut out = Vec::new();
    assert!(offload::finish(p, &mut out));
    assert_eq!(out.len(), 10_000usize.div_ceil(1448));
    let mut joined = Vec::new();
    for (i, s) in out.iter().enumerate() {
        let d = s.data();
        assert_eq!(csum::checksum(&d[14..34]), 0, "IPv4 header checksum");
        let x = extract(d, &Default::default());
        let seg = &d[34..];
        let ps = csum::pseudo_v4(x.key.nw_src, x.key.nw_dst, 6, seg.len());
        assert_eq!(
            csum::fold(csum::add(ps, seg)),
            0xffff,
            "TCP checksum of {i}"
        );
        let seq = u32::from_be_bytes([d[38], d[39], d[40], d[41]]);
        assert_eq!(seq, 100 + (i * 1448) as u32);
        let psh = d[47] & 0x08 != 0;
        assert_eq!(psh, i + 1 == out.len(), "PSH only on the last segment");
        joined.extend_from_slice(&d[54..]);
    }
    assert_eq!(joined, payload);
}

#[test]
fn composed_packets_parse_back_to_their_key() {
    let mut r = Rng(0x0bad_cafe);
    for i in 0..5_000 {
        let g = gen_valid(&mut r);
        let k = extract(&g.frame, &Default::default()).key;
        let f = ferrovs_netdev::compose::compose(&k, b"payload");
        let x = extract(&f, &Default::default());
        assert!(!x.malformed, "case {i}");
        assert_eq!(x.key, k, "case {i}: {f:02x?}");
        if k.eth_type != 0x0806 {
            cross_check(&f, &x.key);
        }
    }
    // Fragments, MPLS and 802.2 too.
    // (Like stock's flow_compose, no IPv6 fragment header is made.)
    for (ty, frag) in [(0x0800u16, 1u8), (0x0800, 2)] {
        let mut k = FlowKey {
            eth_src: [2, 0, 0, 0, 0, 1],
            eth_dst: [2, 0, 0, 0, 0, 2],
            eth_type: ty,
            nw_proto: 17,
            nw_ttl: 9,
            nw_frag: frag,
            tp_src: 1,
            tp_dst: 2,
            ..Default::default()
        };
        if ty == 0x0800 {
            k.nw_src = 0x0a00_0001;
        } else {
            k.ipv6_src = 1;
        }
        if frag == 2 {
            k.tp_src = 0;
            k.tp_dst = 0;
        }
        let f = ferrovs_netdev::compose::compose(&k, b"");
        let got = extract(&f, &Default::default()).key;
        assert_eq!(got, k, "{ty:#x} frag {frag}");
    }
    let k = FlowKey {
        eth_type: 0x8847,
        mpls: [0x0001_0040, 0x0002_0140, 0],
        ..Default::default()
    };
    let f = ferrovs_netdev::compose::compose(&k, b"");
    assert_eq!(extract(&f, &Default::default()).key, k);
    let k = FlowKey {
        eth_type: 0x05ff,
        ..Default::default()
    };
    let f = ferrovs_netdev::compose::compose(&k, b"xyz");
    assert_eq!(extract(&f, &Default::default()).key, k);
}
