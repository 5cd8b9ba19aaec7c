//! Building a frame from a flow key: the packet that, parsed again, gives
//! the same key. The layout follows Open vSwitch's `flow_compose` byte for
//! byte (checked against `ovs-ofctl compose-packet`), so that
//! `netdev-dummy/receive` with a flow string makes the same packets as
//! stock: zero IP ids, the 0, 1, 2, ... payload pattern, no IPv6 fragment
//! header.

use crate::csum;
use crate::flow::{FlowKey, FRAG_LATER, VLAN_PRESENT};
use crate::wire::*;

/// Payload bytes stock puts after the headers when none is given.
pub const DEFAULT_L7_LEN: usize = 64;

/// The payload stock uses: bytes 0, 1, 2, ... (wrapping).
pub fn default_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// Builds the frame for `k`, with `l7` as the application payload where
/// stock puts one (TCP without SYN/FIN/RST, UDP, ICMP and ICMPv6 echo).
pub fn compose(k: &FlowKey, l7: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(128 + l7.len());
    f.extend_from_slice(&k.eth_dst);
    f.extend_from_slice(&k.eth_src);
    if k.eth_type == ETH_TYPE_NONE {
        // 802.2: the type field holds the frame length.
        f.extend_from_slice(&14u16.to_be_bytes());
        return f;
    }
    for v in k.vlans.iter().take_while(|v| v.tci & VLAN_PRESENT != 0) {
        let tpid = if v.tpid == 0 { ETH_TYPE_VLAN } else { v.tpid };
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(v.tci & !VLAN_PRESENT).to_be_bytes());
    }
    f.extend_from_slice(&k.eth_type.to_be_bytes());
    match k.eth_type {
        ETH_TYPE_ARP | ETH_TYPE_RARP => {
            let op = k.arp_op & 0xff;
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
            f.extend_from_slice(&op.to_be_bytes());
            if op == 1 || op == 2 {
                f.extend_from_slice(&k.arp_sha);
                f.extend_from_slice(&k.nw_src.to_be_bytes());
                f.extend_from_slice(&k.arp_tha);
                f.extend_from_slice(&k.nw_dst.to_be_bytes());
            } else {
                f.extend_from_slice(&[0; 20]);
            }
        }
        ETH_TYPE_MPLS | ETH_TYPE_MPLS_MCAST => {
            // Entries up to the first bottom of stack, at most three.
            let mut n = 1;
            while n < k.mpls.len() && k.mpls[n - 1] & 0x100 == 0 {
                n += 1;
            }
            for lse in &k.mpls[..n] {
                f.extend_from_slice(&lse.to_be_bytes());
            }
        }
        ETH_TYPE_IPV4 => {
            let l3 = f.len();
            f.extend_from_slice(&[0x45, k.nw_tos, 0, 0, 0, 0]);
            let frag: u16 = match k.nw_frag {
                0 => 0,
                FRAG_LATER => 0x2000 | 100,
                _ => 0x2000,
            };
            f.extend_from_slice(&frag.to_be_bytes());
            f.extend_from_slice(&[k.nw_ttl, k.nw_proto, 0, 0]);
            f.extend_from_slice(&k.nw_src.to_be_bytes());
            f.extend_from_slice(&k.nw_dst.to_be_bytes());
            let l4 = f.len();
            l4_header(&mut f, k, l7);
            let tot = (f.len() - l3) as u16;
            put_be16(&mut f, l3 + 2, tot);
            let c = csum::checksum(&f[l3..l4]);
            put_be16(&mut f, l3 + 10, c);
            fill_l4(&mut f, k, l3, l4);
        }
        ETH_TYPE_IPV6 => {
            let l3 = f.len();
            let w = (6u32 << 28) | (u32::from(k.nw_tos) << 20) | (k.ipv6_label & 0xf_ffff);
            f.extend_from_slice(&w.to_be_bytes());
            f.extend_from_slice(&[0, 0, k.nw_proto, k.nw_ttl]);
            f.extend_from_slice(&k.ipv6_src.to_be_bytes());
            f.extend_from_slice(&k.ipv6_dst.to_be_bytes());
            let l4 = f.len();
            l4_header(&mut f, k, l7);
            let plen = (f.len() - l4) as u16;
            put_be16(&mut f, l3 + 4, plen);
            fill_l4(&mut f, k, l3, l4);
        }
        _ => {}
    }
    f
}

/// Appends the L4 header (checksum zero) and, where stock puts one, the
/// payload.
fn l4_header(f: &mut Vec<u8>, k: &FlowKey, l7: &[u8]) {
    if k.nw_frag == FRAG_LATER {
        return;
    }
    match k.nw_proto {
        IPPROTO_TCP => {
            f.extend_from_slice(&k.tp_src.to_be_bytes());
            f.extend_from_slice(&k.tp_dst.to_be_bytes());
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&((5u16 << 12) | (k.tcp_flags & 0x0fff)).to_be_bytes());
            f.extend_from_slice(&[0; 6]);
            if k.tcp_flags & 0x07 == 0 {
                f.extend_from_slice(l7);
            }
        }
        IPPROTO_UDP => {
            f.extend_from_slice(&k.tp_src.to_be_bytes());
            f.extend_from_slice(&k.tp_dst.to_be_bytes());
            f.extend_from_slice(&((8 + l7.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(l7);
        }
        IPPROTO_SCTP => {
            f.extend_from_slice(&k.tp_src.to_be_bytes());
            f.extend_from_slice(&k.tp_dst.to_be_bytes());
            f.extend_from_slice(&[0; 8]);
        }
        IPPROTO_ICMP => {
            let (t, c) = (k.tp_src as u8, k.tp_dst as u8);
            f.extend_from_slice(&[t, c, 0, 0, 0, 0, 0, 0]);
            if (t == 8 || t == 0) && c == 0 {
                f.extend_from_slice(l7);
            }
        }
        IPPROTO_IGMP => {
            f.extend_from_slice(&[k.tp_src as u8, k.tp_dst as u8, 0, 0, 0, 0, 0, 0]);
        }
        IPPROTO_ICMPV6 => {
            let (t, c) = (k.tp_src as u8, k.tp_dst as u8);
            f.extend_from_slice(&[t, c, 0, 0]);
            f.extend_from_slice(&k.nd_reserved.to_be_bytes());
            if c == 0 && (t == 135 || t == 136) {
                f.extend_from_slice(&k.nd_target.to_be_bytes());
                if k.arp_sha != [0; 6] {
                    f.extend_from_slice(&[1, 1]);
                    f.extend_from_slice(&k.arp_sha);
                }
                if k.arp_tha != [0; 6] {
                    f.extend_from_slice(&[2, 1]);
                    f.extend_from_slice(&k.arp_tha);
                }
            } else if c == 0 && (t == 128 || t == 129) {
                f.extend_from_slice(l7);
            }
        }
        _ => {}
    }
}

fn fill_l4(f: &mut [u8], k: &FlowKey, l3: usize, l4: usize) {
    if k.nw_frag == FRAG_LATER {
        return;
    }
    match k.nw_proto {
        IPPROTO_ICMP | IPPROTO_IGMP => {
            let c = csum::checksum(f.get(l4..).unwrap_or(&[]));
            put_be16(f, l4 + 2, c);
        }
        p => {
            crate::offload::fill_l4_csum(f, l3, l4, p);
        }
    }
}
