//! OpenFlow 1.1's fixed 88-byte "standard" match (`ofp11_match`). In its
//! masks a 1-bit means "don't care", the opposite of NXM/OXM.

use super::error_table::OfpErr;
use super::fields::{eth_type, id, port_from_of11, port_to_of11, Match, VLAN_CFI};
use super::wire::{Put, Reader};

pub const LEN: usize = 88;
const W_IN_PORT: u32 = 1 << 0;
const W_DL_VLAN: u32 = 1 << 1;
const W_DL_VLAN_PCP: u32 = 1 << 2;
const W_DL_TYPE: u32 = 1 << 3;
const W_NW_TOS: u32 = 1 << 4;
const W_NW_PROTO: u32 = 1 << 5;
const W_TP_SRC: u32 = 1 << 6;
const W_TP_DST: u32 = 1 << 7;
const W_MPLS_LABEL: u32 = 1 << 8;
const W_MPLS_TC: u32 = 1 << 9;
const W_ALL: u32 = (1 << 10) - 1;
const VID_NONE: u16 = 0xffff;
const VID_ANY: u16 = 0xfffe;

fn mac(m: &mut Match, f: usize, v: [u8; 6], wild: [u8; 6]) {
    let mask: Vec<u8> = wild.iter().map(|b| !b).collect();
    m.set_bytes(f, &v, &mask);
}

/// Decodes the body after the type and length fields (84 bytes).
pub fn decode(r: &mut Reader<'_>) -> Result<Match, OfpErr> {
    let e = OfpErr::OFPBMC_BAD_LEN;
    let in_port = r.u32().ok_or(e)?;
    let w = r.u32().ok_or(e)?;
    let dl_src = r.array::<6>().ok_or(e)?;
    let dl_src_mask = r.array::<6>().ok_or(e)?;
    let dl_dst = r.array::<6>().ok_or(e)?;
    let dl_dst_mask = r.array::<6>().ok_or(e)?;
    let dl_vlan = r.u16().ok_or(e)?;
    let dl_vlan_pcp = r.u8().ok_or(e)?;
    r.skip(1).ok_or(e)?;
    let dl_type = r.u16().ok_or(e)?;
    let nw_tos = r.u8().ok_or(e)?;
    let nw_proto = r.u8().ok_or(e)?;
    let nw_src = r.u32().ok_or(e)?;
    let nw_src_mask = r.u32().ok_or(e)?;
    let nw_dst = r.u32().ok_or(e)?;
    let nw_dst_mask = r.u32().ok_or(e)?;
    let tp_src = r.u16().ok_or(e)?;
    let tp_dst = r.u16().ok_or(e)?;
    let mpls_label = r.u32().ok_or(e)?;
    let mpls_tc = r.u8().ok_or(e)?;
    r.skip(3).ok_or(e)?;
    let metadata = r.u64().ok_or(e)?;
    let metadata_mask = r.u64().ok_or(e)?;

    let bad_value = OfpErr::OFPBMC_BAD_VALUE;
    let mut m = Match::catchall();
    if w & W_IN_PORT == 0 {
        let p = port_from_of11(in_port).ok_or(bad_value)?;
        m.set_exact(id::IN_PORT, p as u128);
    }
    mac(&mut m, id::ETH_SRC, dl_src, dl_src_mask);
    mac(&mut m, id::ETH_DST, dl_dst, dl_dst_mask);
    if w & W_DL_VLAN == 0 {
        if dl_vlan == VID_NONE {
            m.set(id::VLAN_TCI, 0, 0xffff);
        } else {
            let (mut tci, mut mask) = if dl_vlan == VID_ANY {
                (VLAN_CFI, VLAN_CFI)
            } else if dl_vlan < 4096 {
                (VLAN_CFI | dl_vlan, VLAN_CFI | 0x0fff)
            } else {
                return Err(bad_value);
            };
            if w & W_DL_VLAN_PCP == 0 {
                if dl_vlan_pcp > 7 {
                    return Err(bad_value);
                }
                tci |= (dl_vlan_pcp as u16) << 13;
                mask |= 0xe000;
            }
            m.set(id::VLAN_TCI, tci as u128, mask as u128);
        }
    }
    if w & W_DL_TYPE == 0 {
        m.set_exact(id::ETH_TYPE, dl_type as u128);
    }
    let ip = w & W_DL_TYPE == 0 && dl_type == eth_type::IP;
    let arp = w & W_DL_TYPE == 0 && (dl_type == eth_type::ARP || dl_type == eth_type::RARP);
    if ip && w & W_NW_TOS == 0 {
        if nw_tos & 3 != 0 {
            return Err(bad_value);
        }
        m.set(id::NW_TOS, nw_tos as u128, 0xfc);
    }
    if ip || arp {
        if w & W_NW_PROTO == 0 {
            if arp {
                m.set_exact(id::ARP_OP, nw_proto as u128);
            } else {
                m.set_exact(id::NW_PROTO, nw_proto as u128);
            }
        }
        let (s, d) = if arp {
            (id::ARP_SPA, id::ARP_TPA)
        } else {
            (id::IP_SRC, id::IP_DST)
        };
        m.set(s, nw_src as u128, !nw_src_mask as u128);
        m.set(d, nw_dst as u128, !nw_dst_mask as u128);
    }
    if ip && w & (W_TP_SRC | W_TP_DST) != W_TP_SRC | W_TP_DST {
        let (s, d, icmp) = match nw_proto {
            1 => (id::ICMP_TYPE, id::ICMP_CODE, true),
            6 => (id::TCP_SRC, id::TCP_DST, false),
            17 => (id::UDP_SRC, id::UDP_DST, false),
            132 => (id::SCTP_SRC, id::SCTP_DST, false),
            _ => return Err(OfpErr::OFPBMC_BAD_FIELD),
        };
        if w & W_NW_PROTO != 0 {
            return Err(OfpErr::OFPBMC_BAD_FIELD);
        }
        let narrow = |v: u16| if icmp { v & 0xff } else { v } as u128;
        if w & W_TP_SRC == 0 {
            m.set_exact(s, narrow(tp_src));
        }
        if w & W_TP_DST == 0 {
            m.set_exact(d, narrow(tp_dst));
        }
    }
    if w & W_DL_TYPE == 0 && (dl_type == eth_type::MPLS || dl_type == eth_type::MPLS_MCAST) {
        if w & W_MPLS_LABEL == 0 {
            m.set_exact(id::MPLS_LABEL, (mpls_label & 0xfffff) as u128);
        }
        if w & W_MPLS_TC == 0 {
            m.set_exact(id::MPLS_TC, (mpls_tc & 7) as u128);
        }
    }
    m.set(id::METADATA, metadata as u128, !metadata_mask as u128);
    Ok(m)
}

/// Encodes the whole `ofp11_match` (type and length included).
pub fn encode(m: &Match, out: &mut Vec<u8>) {
    let mut w = W_ALL;
    out.put_u16(0);
    out.put_u16(LEN as u16);
    let in_port = m.exact(id::IN_PORT).map(|p| port_to_of11(p as u16));
    if in_port.is_some() {
        w &= !W_IN_PORT;
    }
    let (tci, tmask) = m.get(id::VLAN_TCI);
    let (tci, tmask) = (tci as u16, tmask as u16);
    let (mut dl_vlan, mut pcp) = (0u16, 0u8);
    if tmask == 0 {
        // Any packet, tagged or not.
    } else if tci & VLAN_CFI == 0 {
        w &= !W_DL_VLAN;
        w |= W_DL_VLAN_PCP;
        dl_vlan = VID_NONE;
    } else {
        w &= !W_DL_VLAN;
        dl_vlan = if tmask & 0x0fff == 0 {
            VID_ANY
        } else {
            tci & 0x0fff
        };
        if tmask & 0xe000 != 0 {
            w &= !W_DL_VLAN_PCP;
            pcp = (tci >> 13) as u8;
        }
    }
    let dl_type = m.exact(id::ETH_TYPE).map(|t| t as u16);
    if dl_type.is_some() {
        w &= !W_DL_TYPE;
    }
    let arp = matches!(dl_type, Some(eth_type::ARP) | Some(eth_type::RARP));
    let (pf, sf, df) = if arp {
        (id::ARP_OP, id::ARP_SPA, id::ARP_TPA)
    } else {
        (id::NW_PROTO, id::IP_SRC, id::IP_DST)
    };
    let nw_tos = if m.is_set(id::NW_TOS) {
        w &= !W_NW_TOS;
        m.value(id::NW_TOS) as u8
    } else {
        0
    };
    let nw_proto = if m.is_set(pf) {
        w &= !W_NW_PROTO;
        m.value(pf) as u8
    } else {
        0
    };
    let (mut tp_src, mut tp_dst) = (0u16, 0u16);
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
    let mpls_label = if m.is_set(id::MPLS_LABEL) {
        w &= !W_MPLS_LABEL;
        m.value(id::MPLS_LABEL) as u32
    } else {
        0
    };
    let mpls_tc = if m.is_set(id::MPLS_TC) {
        w &= !W_MPLS_TC;
        m.value(id::MPLS_TC) as u8
    } else {
        0
    };
    out.put_u32(in_port.unwrap_or(0));
    out.put_u32(w);
    for f in [id::ETH_SRC, id::ETH_DST] {
        let r = super::fields::range(f);
        out.extend_from_slice(&m.key[r.clone()]);
        out.extend(m.mask[r].iter().map(|b| !b));
    }
    out.put_u16(dl_vlan);
    out.put_u8(pcp);
    out.put_u8(0);
    out.put_u16(dl_type.unwrap_or(0));
    out.put_u8(nw_tos);
    out.put_u8(nw_proto);
    for f in [sf, df] {
        let (v, mk) = m.get(f);
        out.put_u32(v as u32);
        out.put_u32(!(mk as u32));
    }
    out.put_u16(tp_src);
    out.put_u16(tp_dst);
    out.put_u32(mpls_label);
    out.put_u8(mpls_tc);
    out.put_zeros(3);
    let (v, mk) = m.get(id::METADATA);
    out.put_u64(v as u64);
    out.put_u64(!(mk as u64));
}
