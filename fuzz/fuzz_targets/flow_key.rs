//! Flow-key extraction (`ferrovs_netdev::flow::extract`) on arbitrary
//! bytes taken as an Ethernet frame.
//!
//! Properties: extraction never panics and every layer offset it reports
//! lies inside the frame; on frames that a second, independent parser
//! (etherparse) reads completely, the fields both parsers know agree:
//! MACs, VLAN tags, the Ethernet type, IPv4/IPv6 addresses, protocol,
//! TTL, TOS/traffic class, flow label, TCP/UDP ports and flags, ICMP type
//! and code. Where the two parsers mean different things by design (LLC
//! and SNAP frames, the 0x9100 tag etherparse also takes as VLAN, IPv4
//! AH, IPv6 extension chains etherparse stops early, IPv6 jumbograms,
//! fragments), only the layers before the difference are compared.
#![no_main]

// Fixed random bytes and monotonic clock: the same run in every process (see
// the module).
#[path = "../src/fixed_env.rs"]
mod fixed_env;

use etherparse::{
    ether_type, LinkHeader, NetHeaders, PacketHeaders, PayloadSlice, TransportHeader, VlanHeader,
};
use ferrovs_netdev::flow::{extract, FlowKey, FRAG_NONE, VLAN_PRESENT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let x = extract(data, &Default::default());
    for off in [Some(x.layers.l2_5), x.layers.l3, x.layers.l4]
        .into_iter()
        .flatten()
    {
        assert!(
            off <= data.len(),
            "layer offset {off} past {} bytes",
            data.len()
        );
    }
    if let Ok(h) = PacketHeaders::from_ethernet_slice(data) {
        cross_check(&h, &x.key, x.malformed);
    }
});

fn cross_check(h: &PacketHeaders<'_>, k: &FlowKey, malformed: bool) {
    let Some(LinkHeader::Ethernet2(eth)) = &h.link else {
        return;
    };
    assert_eq!(eth.source, k.eth_src, "eth_src");
    assert_eq!(eth.destination, k.eth_dst, "eth_dst");
    // etherparse takes 0x9100 as a VLAN TPID too; Open vSwitch does not.
    let tag_types: Vec<u16> = match &h.vlan {
        None => vec![],
        Some(VlanHeader::Single(_)) => vec![eth.ether_type.0],
        Some(VlanHeader::Double(d)) => vec![eth.ether_type.0, d.outer.ether_type.0],
    };
    if tag_types.contains(&ether_type::VLAN_DOUBLE_TAGGED_FRAME.0) {
        return;
    }
    let inner_type = match &h.vlan {
        None => eth.ether_type.0,
        Some(VlanHeader::Single(v)) => {
            assert_eq!(k.n_vlans(), 1, "one VLAN tag");
            assert_eq!(k.vlans[0].tpid, tag_types[0], "tpid");
            assert_eq!(
                k.vlans[0].tci,
                v.to_bytes()[0..2]
                    .iter()
                    .fold(0, |a, b| a << 8 | u16::from(*b))
                    | VLAN_PRESENT,
                "tci"
            );
            v.ether_type.0
        }
        Some(VlanHeader::Double(d)) => {
            assert_eq!(k.n_vlans(), 2, "two VLAN tags");
            assert_eq!(k.vlans[0].tci & 0xfff, d.outer.vlan_id.value(), "outer vid");
            assert_eq!(k.vlans[1].tci & 0xfff, d.inner.vlan_id.value(), "inner vid");
            assert_eq!(k.vlans[1].tpid, tag_types[1], "inner tpid");
            d.inner.ether_type.0
        }
    };
    if h.vlan.is_none() {
        assert_eq!(k.n_vlans(), 0, "no VLAN tag");
    }
    // Below 0x600 the "type" is an 802.3 length: LLC/SNAP, which
    // etherparse does not read.
    if inner_type < 0x600 {
        return;
    }
    assert_eq!(k.eth_type, inner_type, "eth_type");
    let Some(net) = &h.net else {
        assert!(!k.is_ip(), "we found IP where etherparse did not");
        return;
    };
    let ip_payload = match &h.payload {
        PayloadSlice::Ip(p) => Some(p),
        _ => None,
    };
    match net {
        NetHeaders::Ipv4(ip, exts) => {
            assert_eq!(k.nw_src, u32::from_be_bytes(ip.source), "nw_src");
            assert_eq!(k.nw_dst, u32::from_be_bytes(ip.destination), "nw_dst");
            assert_eq!(k.nw_ttl, ip.time_to_live, "nw_ttl");
            assert_eq!(k.nw_tos >> 2, ip.dscp.value(), "dscp");
            assert_eq!(k.nw_tos & 3, ip.ecn.value(), "ecn");
            assert_eq!(k.nw_proto, ip.protocol.0, "nw_proto");
            assert_eq!(
                k.nw_frag != FRAG_NONE,
                ip.is_fragmenting_payload(),
                "nw_frag"
            );
            // Open vSwitch stops at AH; etherparse reads past it.
            if exts.auth.is_some() {
                return;
            }
        }
        NetHeaders::Ipv6(ip, _) => {
            assert_eq!(k.ipv6_src, u128::from_be_bytes(ip.source), "ipv6_src");
            assert_eq!(k.ipv6_dst, u128::from_be_bytes(ip.destination), "ipv6_dst");
            // A zero payload length: etherparse takes the rest of the
            // frame as a jumbogram's payload; Open vSwitch has no
            // jumbograms and keeps only the addresses.
            if ip.payload_length == 0 {
                return;
            }
            // etherparse stops at an extension header out of its order
            // (or one it does not read): what follows is unknown to it,
            // and Open vSwitch keeps only the addresses of a chain it
            // cannot walk to the end.
            if let Some(p) = ip_payload {
                if p.ip_number.is_ipv6_ext_header_value() {
                    return;
                }
            }
            assert_eq!(k.ipv6_label, ip.flow_label.value(), "ipv6_label");
            assert_eq!(k.nw_tos, ip.traffic_class, "ipv6 tclass");
            assert_eq!(k.nw_ttl, ip.hop_limit, "hop limit");
        }
    }
    if k.nw_frag != FRAG_NONE || ip_payload.is_some_and(|p| p.fragmented) {
        return;
    }
    match &h.transport {
        Some(TransportHeader::Tcp(t)) => {
            assert!(!malformed, "TCP etherparse reads, seen as malformed");
            assert_eq!(k.nw_proto, 6, "nw_proto tcp");
            assert_eq!(k.tp_src, t.source_port, "tcp src");
            assert_eq!(k.tp_dst, t.destination_port, "tcp dst");
            let bits = [t.fin, t.syn, t.rst, t.psh, t.ack, t.urg, t.ece, t.cwr, t.ns];
            let f = bits
                .iter()
                .enumerate()
                .fold(0u16, |acc, (i, &b)| acc | (u16::from(b) << i));
            assert_eq!(k.tcp_flags & 0x1ff, f, "tcp flags");
        }
        Some(TransportHeader::Udp(u)) => {
            assert!(!malformed, "UDP etherparse reads, seen as malformed");
            assert_eq!(k.nw_proto, 17, "nw_proto udp");
            assert_eq!(k.tp_src, u.source_port, "udp src");
            assert_eq!(k.tp_dst, u.destination_port, "udp dst");
        }
        Some(TransportHeader::Icmpv4(i)) => {
            assert!(!malformed, "ICMP etherparse reads, seen as malformed");
            let b = i.to_bytes();
            assert_eq!(k.tp_src, u16::from(b[0]), "icmp type");
            assert_eq!(k.tp_dst, u16::from(b[1]), "icmp code");
        }
        Some(TransportHeader::Icmpv6(i)) => {
            assert!(!malformed, "ICMPv6 etherparse reads, seen as malformed");
            let b = i.to_bytes();
            assert_eq!(k.tp_src, u16::from(b[0]), "icmpv6 type");
            assert_eq!(k.tp_dst, u16::from(b[1]), "icmpv6 code");
        }
        None => {
            if let Some(p) = ip_payload {
                assert_eq!(k.nw_proto, p.ip_number.0, "final protocol");
            }
        }
    }
}
