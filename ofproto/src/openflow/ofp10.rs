//! OpenFlow 1.0's fixed 40-byte `ofp_match`.

use super::fields::{eth_type, id, Match, VLAN_CFI};
use super::wire::{Put, Reader};

pub const LEN: usize = 40;
const W_IN_PORT: u32 = 1 << 0;
const W_DL_VLAN: u32 = 1 << 1;
const W_DL_SRC: u32 = 1 << 2;
const W_DL_DST: u32 = 1 << 3;
const W_DL_TYPE: u32 = 1 << 4;
const W_NW_PROTO: u32 = 1 << 5;
const W_TP_SRC: u32 = 1 << 6;
const W_TP_DST: u32 = 1 << 7;
const W_NW_SRC_SHIFT: u32 = 8;
const W_NW_DST_SHIFT: u32 = 14;
const W_DL_VLAN_PCP: u32 = 1 << 20;
const W_NW_TOS: u32 = 1 << 21;
pub const W_ALL: u32 = (1 << 22) - 1;

fn prefix_mask(wild_bits: u32) -> u32 {
    if wild_bits >= 32 {
        0
    } else {
        !((1u64 << wild_bits) as u32).wrapping_sub(1)
    }
}

/// Decodes an `ofp_match`, keeping only the fields that apply given the
/// match's Ethernet type and IP protocol (as Open vSwitch normalizes it).
/// Returns the match and whether it was fully exact (no wildcard bits).
pub fn decode(r: &mut Reader<'_>) -> Option<(Match, bool)> {
    let w = r.u32()?;
    let in_port = r.u16()?;
    let dl_src = r.array::<6>()?;
    let dl_dst = r.array::<6>()?;
    let dl_vlan = r.u16()?;
    let dl_vlan_pcp = r.u8()?;
    r.skip(1)?;
    let dl_type = r.u16()?;
    let nw_tos = r.u8()?;
    let nw_proto = r.u8()?;
    r.skip(2)?;
    let nw_src = r.u32()?;
    let nw_dst = r.u32()?;
    let tp_src = r.u16()?;
    let tp_dst = r.u16()?;

    let mut m = Match::catchall();
    if w & W_IN_PORT == 0 {
        m.set_exact(id::IN_PORT, in_port as u128);
    }
    if w & W_DL_SRC == 0 {
        m.set_bytes(id::ETH_SRC, &dl_src, &[0xff; 6]);
    }
    if w & W_DL_DST == 0 {
        m.set_bytes(id::ETH_DST, &dl_dst, &[0xff; 6]);
    }
    // VLAN: "no tag" (0xffff) ignores the PCP; otherwise VID and PCP map
    // into vlan_tci with the CFI bit.
    let mut tci_mask = 0u16;
    if w & W_DL_VLAN_PCP == 0 {
        tci_mask |= 0xe000 | VLAN_CFI;
    }
    if w & W_DL_VLAN == 0 {
        tci_mask |= 0x0fff | VLAN_CFI;
    }
    if w & W_DL_VLAN == 0 && dl_vlan == 0xffff {
        m.set(id::VLAN_TCI, 0, 0xffff);
    } else if tci_mask != 0 {
        let tci = (dl_vlan & 0x0fff) | (((dl_vlan_pcp as u16) << 13) & 0xe000) | VLAN_CFI;
        m.set(id::VLAN_TCI, tci as u128, tci_mask as u128);
    }
    if w & W_DL_TYPE != 0 {
        return Some((m, w & W_ALL == 0));
    }
    m.set_exact(id::ETH_TYPE, dl_type as u128);
    let is_ip = dl_type == eth_type::IP;
    let is_arp = dl_type == eth_type::ARP || dl_type == eth_type::RARP;
    let src_mask = prefix_mask((w >> W_NW_SRC_SHIFT) & 0x3f);
    let dst_mask = prefix_mask((w >> W_NW_DST_SHIFT) & 0x3f);
    if is_ip || is_arp {
        let (s, d) = if is_ip {
            (id::IP_SRC, id::IP_DST)
        } else {
            (id::ARP_SPA, id::ARP_TPA)
        };
        if src_mask != 0 {
            m.set(s, nw_src as u128, src_mask as u128);
        }
        if dst_mask != 0 {
            m.set(d, nw_dst as u128, dst_mask as u128);
        }
    }
    if is_arp && w & W_NW_PROTO == 0 {
        m.set_exact(id::ARP_OP, nw_proto as u128);
    }
    if is_ip {
        if w & W_NW_TOS == 0 {
            m.set(id::NW_TOS, (nw_tos & 0xfc) as u128, 0xfc);
        }
        if w & W_NW_PROTO == 0 {
            m.set_exact(id::NW_PROTO, nw_proto as u128);
            let (s, d) = match nw_proto {
                6 => (Some(id::TCP_SRC), Some(id::TCP_DST)),
                17 => (Some(id::UDP_SRC), Some(id::UDP_DST)),
                132 => (Some(id::SCTP_SRC), Some(id::SCTP_DST)),
                1 => (Some(id::ICMP_TYPE), Some(id::ICMP_CODE)),
                _ => (None, None),
            };
            if let (Some(s), Some(d)) = (s, d) {
                if w & W_TP_SRC == 0 {
                    m.set_exact(
                        s,
                        if nw_proto == 1 { tp_src & 0xff } else { tp_src } as u128,
                    );
                }
                if w & W_TP_DST == 0 {
                    m.set_exact(
                        d,
                        if nw_proto == 1 { tp_dst & 0xff } else { tp_dst } as u128,
                    );
                }
            }
        }
    }
    Some((m, w & W_ALL == 0))
}

/// Encodes the part of `m` that `ofp_match` can express.
pub fn encode(m: &Match, out: &mut Vec<u8>) {
    let mut w = W_ALL & !(0x3f << W_NW_SRC_SHIFT) & !(0x3f << W_NW_DST_SHIFT);
    let get = |f| m.get(f);
    let in_port = if m.is_set(id::IN_PORT) {
        w &= !W_IN_PORT;
        get(id::IN_PORT).0 as u16
    } else {
        0
    };
    let mac = |f: usize, bit: u32, w: &mut u32| -> [u8; 6] {
        let mut a = [0u8; 6];
        if m.is_set(f) {
            *w &= !bit;
            a.copy_from_slice(&m.key[super::fields::range(f)]);
        }
        a
    };
    let dl_src = mac(id::ETH_SRC, W_DL_SRC, &mut w);
    let dl_dst = mac(id::ETH_DST, W_DL_DST, &mut w);
    let (tci, tmask) = get(id::VLAN_TCI);
    let (tci, tmask) = (tci as u16, tmask as u16);
    let (mut dl_vlan, mut pcp) = (0u16, 0u8);
    if tmask == 0xffff && tci == 0 {
        w &= !W_DL_VLAN;
        dl_vlan = 0xffff;
    } else {
        if tmask & 0x0fff == 0x0fff {
            w &= !W_DL_VLAN;
            dl_vlan = tci & 0xfff;
        }
        if tmask & 0xe000 == 0xe000 {
            w &= !W_DL_VLAN_PCP;
            pcp = (tci >> 13) as u8;
        }
    }
    let dl_type = if m.is_set(id::ETH_TYPE) {
        w &= !W_DL_TYPE;
        m.eth_type()
    } else {
        0
    };
    let mut nw_proto = 0u8;
    let mut nw_tos = 0u8;
    let (mut nw_src, mut nw_dst) = (0u32, 0u32);
    let (mut src_bits, mut dst_bits) = (32u32, 32u32);
    let (mut tp_src, mut tp_dst) = (0u16, 0u16);
    let arp = dl_type == eth_type::ARP || dl_type == eth_type::RARP;
    let (sf, df, pf) = if arp {
        (id::ARP_SPA, id::ARP_TPA, id::ARP_OP)
    } else {
        (id::IP_SRC, id::IP_DST, id::NW_PROTO)
    };
    if m.is_set(pf) {
        w &= !W_NW_PROTO;
        nw_proto = m.value(pf) as u8;
    }
    let (v, mk) = get(sf);
    if mk != 0 {
        nw_src = v as u32;
        src_bits = (mk as u32).trailing_zeros().min(32);
    }
    let (v, mk) = get(df);
    if mk != 0 {
        nw_dst = v as u32;
        dst_bits = (mk as u32).trailing_zeros().min(32);
    }
    w |= src_bits << W_NW_SRC_SHIFT | dst_bits << W_NW_DST_SHIFT;
    if m.is_set(id::NW_TOS) {
        w &= !W_NW_TOS;
        nw_tos = m.value(id::NW_TOS) as u8;
    }
    for (s, d) in [
        (id::TCP_SRC, id::TCP_DST),
        (id::UDP_SRC, id::UDP_DST),
        (id::SCTP_SRC, id::SCTP_DST),
        (id::ICMP_TYPE, id::ICMP_CODE),
    ] {
        if m.is_set(s) {
            w &= !W_TP_SRC;
            tp_src = m.value(s) as u16;
        }
        if m.is_set(d) {
            w &= !W_TP_DST;
            tp_dst = m.value(d) as u16;
        }
    }
    out.put_u32(w);
    out.put_u16(in_port);
    out.extend_from_slice(&dl_src);
    out.extend_from_slice(&dl_dst);
    out.put_u16(dl_vlan);
    out.put_u8(pcp);
    out.put_u8(0);
    out.put_u16(dl_type);
    out.put_u8(nw_tos);
    out.put_u8(nw_proto);
    out.put_u16(0);
    out.put_u32(nw_src);
    out.put_u32(nw_dst);
    out.put_u16(tp_src);
    out.put_u16(tp_dst);
}
