//! Building a frame from a flow key: the packet that, parsed again, gives
//! the same key (Open vSwitch's flow_compose). This is what
//! `netdev-dummy/receive` with a flow string and `ofproto/trace` with a
//! generated packet need, and what round-trip tests use.

use crate::csum;
use crate::flow::{FlowKey, FRAG_FIRST, FRAG_LATER, VLAN_PRESENT};
use crate::wire::*;

/// Builds the frame for `k` with `payload` after the innermost header.
/// Fields the key cannot express (IP ids, TCP sequence numbers) are zero;
/// lengths and checksums are filled in.
pub fn compose(k: &FlowKey, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(128 + payload.len());
    f.extend_from_slice(&k.eth_dst);
    f.extend_from_slice(&k.eth_src);
    for v in k.vlans.iter().take_while(|v| v.tci & VLAN_PRESENT != 0) {
        let tpid = if v.tpid == 0 { ETH_TYPE_VLAN } else { v.tpid };
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(v.tci & !VLAN_PRESENT).to_be_bytes());
    }
    if k.eth_type == ETH_TYPE_NONE || k.eth_type < ETH_TYPE_MIN {
        // 802.2 LLC: a length field and a minimal LLC header.
        let body = [&[0x42u8, 0x42, 0x03][..], payload].concat();
        f.extend_from_slice(&(body.len() as u16).to_be_bytes());
        f.extend_from_slice(&body);
        return f;
    }
    f.extend_from_slice(&k.eth_type.to_be_bytes());
    match k.eth_type {
        ETH_TYPE_ARP => {
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
            f.extend_from_slice(&k.arp_op.to_be_bytes());
            f.extend_from_slice(&k.arp_sha);
            f.extend_from_slice(&k.nw_src.to_be_bytes());
            f.extend_from_slice(&k.arp_tha);
            f.extend_from_slice(&k.nw_dst.to_be_bytes());
            f.extend_from_slice(payload);
        }
        ETH_TYPE_MPLS | ETH_TYPE_MPLS_MCAST => {
            let n = k.n_mpls().max(1);
            for (i, lse) in k.mpls.iter().take(n).enumerate() {
                let mut l = *lse;
                if i + 1 == n {
                    l |= 0x100;
                }
                f.extend_from_slice(&l.to_be_bytes());
            }
            f.extend_from_slice(payload);
        }
        ETH_TYPE_IPV4 => {
            let l4 = l4_header(k, payload, false);
            let l3 = f.len();
            let tot = 20 + l4.len();
            f.push(0x45);
            f.push(k.nw_tos);
            f.extend_from_slice(&(tot as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            let frag: u16 = match k.nw_frag {
                FRAG_FIRST => 0x2000,
                FRAG_LATER => 0x2000 | 100,
                _ => 0,
            };
            f.extend_from_slice(&frag.to_be_bytes());
            f.push(k.nw_ttl);
            f.push(k.nw_proto);
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(&k.nw_src.to_be_bytes());
            f.extend_from_slice(&k.nw_dst.to_be_bytes());
            let c = csum::checksum(&f[l3..]);
            put_be16(&mut f, l3 + 10, c);
            let l4_at = f.len();
            f.extend_from_slice(&l4);
            fill_l4(&mut f, k, l3, l4_at);
        }
        ETH_TYPE_IPV6 => {
            let l4 = l4_header(k, payload, true);
            let frag_hdr = k.nw_frag != 0;
            let l3 = f.len();
            let plen = l4.len() + if frag_hdr { 8 } else { 0 };
            let w = (6u32 << 28) | (u32::from(k.nw_tos) << 20) | (k.ipv6_label & 0xf_ffff);
            f.extend_from_slice(&w.to_be_bytes());
            f.extend_from_slice(&(plen as u16).to_be_bytes());
            f.push(if frag_hdr {
                IPPROTO_FRAGMENT
            } else {
                k.nw_proto
            });
            f.push(k.nw_ttl);
            f.extend_from_slice(&k.ipv6_src.to_be_bytes());
            f.extend_from_slice(&k.ipv6_dst.to_be_bytes());
            if frag_hdr {
                let off: u16 = if k.nw_frag == FRAG_LATER { 100 << 3 } else { 0 };
                f.extend_from_slice(&[k.nw_proto, 0]);
                f.extend_from_slice(&(off | 1).to_be_bytes());
                f.extend_from_slice(&[0, 0, 0, 0]);
            }
            let l4_at = f.len();
            f.extend_from_slice(&l4);
            fill_l4(&mut f, k, l3, l4_at);
        }
        _ => f.extend_from_slice(payload),
    }
    f
}

/// The L4 header (with payload) for the key, checksum left zero.
fn l4_header(k: &FlowKey, payload: &[u8], v6: bool) -> Vec<u8> {
    let mut h = Vec::new();
    if k.nw_frag == FRAG_LATER {
        h.extend_from_slice(payload);
        return h;
    }
    match k.nw_proto {
        IPPROTO_TCP => {
            h.extend_from_slice(&k.tp_src.to_be_bytes());
            h.extend_from_slice(&k.tp_dst.to_be_bytes());
            h.extend_from_slice(&[0; 8]);
            h.extend_from_slice(&((5u16 << 12) | (k.tcp_flags & 0x0fff)).to_be_bytes());
            h.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        }
        IPPROTO_UDP => {
            h.extend_from_slice(&k.tp_src.to_be_bytes());
            h.extend_from_slice(&k.tp_dst.to_be_bytes());
            h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            h.extend_from_slice(&[0, 0]);
        }
        IPPROTO_SCTP => {
            h.extend_from_slice(&k.tp_src.to_be_bytes());
            h.extend_from_slice(&k.tp_dst.to_be_bytes());
            h.extend_from_slice(&[0; 8]);
        }
        IPPROTO_ICMP if !v6 => {
            h.extend_from_slice(&[k.tp_src as u8, k.tp_dst as u8, 0, 0, 0, 0, 0, 0]);
        }
        IPPROTO_ICMPV6 if v6 => {
            h.extend_from_slice(&[k.tp_src as u8, k.tp_dst as u8, 0, 0]);
            if (k.tp_src == 135 || k.tp_src == 136) && k.tp_dst == 0 {
                h.extend_from_slice(&k.nd_reserved.to_be_bytes());
                h.extend_from_slice(&k.nd_target.to_be_bytes());
                if k.arp_sha != [0; 6] {
                    h.extend_from_slice(&[1, 1]);
                    h.extend_from_slice(&k.arp_sha);
                }
                if k.arp_tha != [0; 6] {
                    h.extend_from_slice(&[2, 1]);
                    h.extend_from_slice(&k.arp_tha);
                }
            } else {
                h.extend_from_slice(&[0; 4]);
            }
        }
        _ => {}
    }
    h.extend_from_slice(payload);
    h
}

fn fill_l4(f: &mut [u8], k: &FlowKey, l3: usize, l4: usize) {
    if k.nw_frag == FRAG_LATER {
        return;
    }
    if k.nw_proto == IPPROTO_ICMP {
        let c = csum::checksum(f.get(l4..).unwrap_or(&[]));
        put_be16(f, l4 + 2, c);
        return;
    }
    crate::offload::fill_l4_csum(f, l3, l4, k.nw_proto);
}
