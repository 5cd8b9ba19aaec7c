//! Encoding actions and instructions for each OpenFlow version (the
//! version-dependent spellings of the same action live here).

use super::*;

fn put_std(out: &mut Vec<u8>, ty: u16, len: u16) {
    out.put_u16(ty);
    out.put_u16(len);
}

fn put_set_field(out: &mut Vec<u8>, version: u8, f: usize, value: u128, mask: u128) {
    let start = out.len();
    put_std(out, 25, 0);
    // Aliases are encoded with their own code points.
    let (hdr, width) = match FIELDS[f]
        .headers
        .iter()
        .find(|h| h.since_of != 0 && h.since_of <= version)
    {
        Some(h) => (Some(*h), FIELDS[f].width as usize),
        None => (FIELDS[f].headers.first().copied(), FIELDS[f].width as usize),
    };
    if let Some(h) = hdr {
        put_oxm(out, h, width, value, mask);
    }
    out.pad_to(8);
    let len = (out.len() - start) as u16;
    out.set_u16(start + 2, len);
}

fn put_oxm(out: &mut Vec<u8>, h: crate::openflow::fields::Hdr, width: usize, v: u128, mk: u128) {
    let full = if width >= 16 {
        u128::MAX
    } else {
        (1u128 << (width * 8)) - 1
    };
    let masked = mk != full;
    let exp_len = if h.class == 0xffff { 4 } else { 0 };
    let len = exp_len + if masked { 2 * width } else { width };
    out.put_u32((h.class as u32) << 16 | (h.field as u32) << 9 | (masked as u32) << 8 | len as u32);
    if h.class == 0xffff {
        out.put_u32(h.exp);
    }
    out.extend_from_slice(&v.to_be_bytes()[16 - width..]);
    if masked {
        out.extend_from_slice(&mk.to_be_bytes()[16 - width..]);
    }
}

fn put_nx_header(out: &mut Vec<u8>, len: u16, subtype: u16) {
    put_std(out, 0xffff, len);
    out.put_u32(NX_VENDOR);
    out.put_u16(subtype);
}

fn put_reg_load(out: &mut Vec<u8>, f: usize, value: u128, mask: u128) {
    let hs = FIELDS[f].headers;
    let Some(h) = hs
        .iter()
        .find(|h| h.class <= 1)
        .or(hs.iter().find(|h| h.class != 0xffff))
        .copied()
    else {
        put_reg_load2(out, f, value, mask);
        return;
    };
    let width = FIELDS[f].width as u32;
    let bits = FIELDS[f].bits as u32;
    let mask = if bits >= 128 {
        mask
    } else {
        mask & ((1u128 << bits) - 1)
    };
    // One reg_load per contiguous run of 1-bits in the mask.
    let mut ofs = 0u32;
    while ofs < width * 8 {
        if mask >> ofs & 1 == 0 {
            ofs += 1;
            continue;
        }
        let mut n = 0u32;
        while ofs + n < width * 8 && mask >> (ofs + n) & 1 == 1 && n < 64 {
            n += 1;
        }
        put_nx_header(out, 24, 7);
        out.put_u16(((ofs as u16) << 6) | (n as u16 - 1));
        out.put_u32((h.class as u32) << 16 | (h.field as u32) << 9 | width);
        let seg = (value >> ofs)
            & if n >= 128 {
                u128::MAX
            } else {
                (1u128 << n) - 1
            };
        out.put_u64(seg as u64);
        ofs += n;
    }
}

fn put_reg_load2(out: &mut Vec<u8>, f: usize, value: u128, mask: u128) {
    let start = out.len();
    put_nx_header(out, 0, 33);
    let h = FIELDS[f]
        .headers
        .iter()
        .find(|h| h.class <= 1)
        .or(FIELDS[f].headers.first())
        .copied();
    if let Some(h) = h {
        put_oxm(out, h, FIELDS[f].width as usize, value, mask);
    }
    out.pad_to(8);
    let len = (out.len() - start) as u16;
    out.set_u16(start + 2, len);
}

fn put_u16_action(out: &mut Vec<u8>, ty: u16, v: u16) {
    put_std(out, ty, 8);
    out.put_u16(v);
    out.put_zeros(2);
}

fn put_u8_action(out: &mut Vec<u8>, ty: u16, v: u8) {
    put_std(out, ty, 8);
    out.put_u8(v);
    out.put_zeros(3);
}

fn put_u32_action(out: &mut Vec<u8>, ty: u16, v: u32) {
    put_std(out, ty, 8);
    out.put_u32(v);
}

fn put_mac_action(out: &mut Vec<u8>, ty: u16, m: &[u8; 6]) {
    put_std(out, ty, 16);
    out.extend_from_slice(m);
    out.put_zeros(6);
}

/// Encodes `actions` for OpenFlow wire `version`.
/// `flow_has_vlan` tells whether the rule's match requires a VLAN tag:
/// without one, OpenFlow 1.0's set-vlan actions imply pushing a tag.
pub fn encode(version: u8, actions: &[Action], flow_has_vlan: bool, out: &mut Vec<u8>) {
    // Whether the packet has a VLAN tag at this point of the list, as far
    // as the match and the earlier actions tell.
    let mut has_vlan = flow_has_vlan;
    for a in actions {
        match a {
            Action::SetVlanVid(_) | Action::SetVlanPcp(_) => {
                if version >= 2 && !has_vlan {
                    put_u16_action(out, 17, 0x8100);
                }
                has_vlan = true;
            }
            Action::PushVlan(_) => has_vlan = true,
            Action::StripVlan => has_vlan = false,
            Action::SetField {
                field: id::VLAN_TCI,
                value,
                mask,
                raw: SetFieldRaw::SetField,
            } if version <= 2 && *mask == 0xffff => {
                // OpenFlow 1.0/1.1 have no vlan_tci: CFI set means set the
                // VID and PCP (pushing a tag in 1.1), clear means strip.
                let tci = *value as u16;
                if tci & 0x1000 != 0 {
                    if version == 2 && !has_vlan {
                        put_u16_action(out, 17, 0x8100);
                    }
                    put_u16_action(out, 1, tci & 0xfff);
                    put_u8_action(out, 2, (tci >> 13) as u8);
                    has_vlan = true;
                } else {
                    encode_one(version, &Action::StripVlan, out);
                    has_vlan = false;
                }
                continue;
            }
            _ => {}
        }
        encode_one(version, a, out);
    }
}

fn encode_one(v: u8, a: &Action, out: &mut Vec<u8>) {
    use Action::*;
    let of10 = v == 1;
    match a {
        Output { port, max_len } => {
            if of10 {
                put_std(out, 0, 8);
                out.put_u16(*port);
                out.put_u16(*max_len);
            } else {
                put_std(out, 0, 16);
                out.put_u32(port_to_of11(*port));
                out.put_u16(*max_len);
                out.put_zeros(6);
            }
        }
        Enqueue { port, queue } => {
            if of10 {
                put_std(out, 11, 16);
                out.put_u16(*port);
                out.put_zeros(6);
                out.put_u32(*queue);
            } else {
                put_u32_action(out, 21, *queue);
                encode_one(
                    v,
                    &Output {
                        port: *port,
                        max_len: 0,
                    },
                    out,
                );
                put_nx_header(out, 16, 5);
                out.put_zeros(6);
            }
        }
        SetVlanVid(vid) => match v {
            1 => put_u16_action(out, 1, *vid),
            2 => put_u16_action(out, 1, *vid),
            _ => put_set_field(out, v, id::VLAN_VID, (*vid | 0x1000) as u128, 0xffff),
        },
        SetVlanPcp(pcp) => match v {
            1 | 2 => put_u8_action(out, 2, *pcp),
            _ => put_set_field(out, v, id::VLAN_PCP, *pcp as u128, 0xff),
        },
        StripVlan => put_std_empty(out, if of10 { 3 } else { 18 }),
        PushVlan(et) => {
            if !of10 {
                put_u16_action(out, 17, *et);
            }
        }
        SetEthSrc(m) | SetEthDst(m) => {
            let src = matches!(a, SetEthSrc(_));
            if v <= 2 {
                put_mac_action(
                    out,
                    if of10 {
                        if src {
                            4
                        } else {
                            5
                        }
                    } else if src {
                        3
                    } else {
                        4
                    },
                    m,
                );
            } else {
                let f = if src { id::ETH_SRC } else { id::ETH_DST };
                put_set_field(out, v, f, be_to_u128(m), 0xffff_ffff_ffff);
            }
        }
        SetIpv4Src(x) | SetIpv4Dst(x) => {
            let src = matches!(a, SetIpv4Src(_));
            if v <= 2 {
                put_u32_action(
                    out,
                    if of10 {
                        if src {
                            6
                        } else {
                            7
                        }
                    } else if src {
                        5
                    } else {
                        6
                    },
                    *x,
                );
            } else {
                let f = if src { id::IP_SRC } else { id::IP_DST };
                put_set_field(out, v, f, *x as u128, 0xffff_ffff);
            }
        }
        SetIpDscp(tos) => match v {
            1 => put_u8_action(out, 8, *tos),
            2 => put_u8_action(out, 7, *tos),
            _ => put_set_field(out, v, id::IP_DSCP, (*tos >> 2) as u128, 0xff),
        },
        SetIpEcn(ecn) => match v {
            1 => put_reg_load(out, id::NW_ECN, *ecn as u128, 0xff),
            2 => put_u8_action(out, 8, *ecn),
            _ => put_set_field(out, v, id::NW_ECN, *ecn as u128, 0xff),
        },
        SetL4Src(p) | SetL4Dst(p) => {
            let src = matches!(a, SetL4Src(_));
            put_u16_action(out, if src { 9 } else { 10 }, *p);
        }
        SetIpTtl(t) => {
            if of10 {
                put_reg_load(out, id::NW_TTL, *t as u128, 0xff);
            } else {
                put_u8_action(out, 23, *t);
            }
        }
        DecTtl => {
            if of10 {
                put_nx_header(out, 16, 18);
                out.put_zeros(6);
            } else {
                put_std_empty(out, 24);
            }
        }
        SetMplsLabel(l) => match v {
            1 => {
                put_nx_header(out, 16, 30);
                out.put_zeros(2);
                out.put_u32(*l);
            }
            2 => put_u32_action(out, 13, *l),
            _ => put_set_field(out, v, id::MPLS_LABEL, *l as u128, 0xffff_ffff),
        },
        SetMplsTc(t) => match v {
            1 => {
                put_nx_header(out, 16, 31);
                out.put_u8(*t);
                out.put_zeros(5);
            }
            2 => put_u8_action(out, 14, *t),
            _ => put_set_field(out, v, id::MPLS_TC, *t as u128, 0xff),
        },
        SetMplsTtl(t) => {
            if of10 {
                put_nx_header(out, 16, 25);
                out.put_u8(*t);
                out.put_zeros(5);
            } else {
                put_u8_action(out, 15, *t);
            }
        }
        DecMplsTtl => {
            if of10 {
                put_nx_header(out, 16, 26);
                out.put_zeros(6);
            } else {
                put_std_empty(out, 16);
            }
        }
        PushMpls(et) | PopMpls(et) => {
            let push = matches!(a, PushMpls(_));
            if of10 {
                put_nx_header(out, 16, if push { 23 } else { 24 });
                out.put_u16(*et);
                out.put_zeros(4);
            } else {
                put_u16_action(out, if push { 19 } else { 20 }, *et);
            }
        }
        SetQueue(q) => {
            if of10 {
                put_nx_header(out, 16, 4);
                out.put_zeros(2);
                out.put_u32(*q);
            } else {
                put_u32_action(out, 21, *q);
            }
        }
        Group(g) => {
            if of10 {
                put_nx_header(out, 16, 40);
                out.put_zeros(2);
                out.put_u32(*g);
            } else {
                put_u32_action(out, 22, *g);
            }
        }
        SetField {
            field,
            value,
            mask,
            raw,
        } => encode_set_field(v, *field, *value, *mask, *raw, out),
        Move {
            src,
            dst,
            src_ofs,
            dst_ofs,
            n_bits,
        } => {
            let start = out.len();
            if v >= 6 {
                put_std(out, 28, 0);
                out.put_u16(*n_bits);
                out.put_u16(*src_ofs);
                out.put_u16(*dst_ofs);
                out.put_zeros(2);
                put_field_id(out, *src, Some(v));
                put_field_id(out, *dst, Some(v));
            } else {
                put_nx_header(out, 0, 6);
                out.put_u16(*n_bits);
                out.put_u16(*src_ofs);
                out.put_u16(*dst_ofs);
                put_field_id(out, *src, None);
                put_field_id(out, *dst, None);
            }
            out.pad_to(8);
            let len = (out.len() - start) as u16;
            out.set_u16(start + 2, len);
        }
        Meter(m) => {
            if v >= 6 {
                put_u32_action(out, 29, *m);
            }
        }
        NxNested { head, actions, .. } => {
            let start = out.len();
            out.extend_from_slice(head);
            encode(v, actions, true, out);
            let len = (out.len() - start) as u16;
            out.set_u16(start + 2, len);
        }
        Nx { bytes, .. } => out.extend_from_slice(bytes),
    }
}

fn put_std_empty(out: &mut Vec<u8>, ty: u16) {
    put_std(out, ty, 8);
    out.put_zeros(4);
}

fn field_full(f: usize) -> u128 {
    let w = FIELDS[f].width as u32 * 8;
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

fn encode_set_field(v: u8, f: usize, value: u128, mask: u128, raw: SetFieldRaw, out: &mut Vec<u8>) {
    let whole = mask == field_full(f);
    // Covers every bit the field has (nw_ecn is 2 bits in a byte).
    let bits = FIELDS[f].bits as u32;
    let all_bits = if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    let whole_bits = mask & all_bits == all_bits;
    if matches!(raw, SetFieldRaw::Tunnel | SetFieldRaw::Tunnel64) && v <= 2 {
        if value <= u32::MAX as u128 && raw == SetFieldRaw::Tunnel {
            put_nx_header(out, 16, 2);
            out.put_zeros(2);
            out.put_u32(value as u32);
        } else {
            put_nx_header(out, 24, 9);
            out.put_zeros(6);
            out.put_u64(value as u64);
        }
        return;
    }
    if v >= 6 {
        put_set_field(out, v, f, value, mask);
    } else if raw == SetFieldRaw::RegLoad2 {
        put_reg_load2(out, f, value, mask);
    } else if raw == SetFieldRaw::RegLoad {
        put_reg_load(out, f, value, mask);
    } else if v <= 2 {
        let a = match f {
            id::VLAN_VID if whole => Some(Action::SetVlanVid(value as u16 & 0xfff)),
            id::VLAN_PCP if whole => Some(Action::SetVlanPcp(value as u8)),
            id::ETH_SRC if whole => Some(Action::SetEthSrc(mac(&value.to_be_bytes()[10..]))),
            id::ETH_DST if whole => Some(Action::SetEthDst(mac(&value.to_be_bytes()[10..]))),
            id::IP_SRC if whole => Some(Action::SetIpv4Src(value as u32)),
            id::IP_DST if whole => Some(Action::SetIpv4Dst(value as u32)),
            id::NW_TOS if whole => Some(Action::SetIpDscp(value as u8)),
            id::IP_DSCP if whole => Some(Action::SetIpDscp((value as u8) << 2)),
            id::NW_ECN if whole_bits => Some(Action::SetIpEcn(value as u8 & 3)),
            id::TCP_SRC | id::UDP_SRC if whole => Some(Action::SetL4Src(value as u16)),
            id::TCP_DST | id::UDP_DST if whole => Some(Action::SetL4Dst(value as u16)),
            _ => None,
        };
        match a {
            Some(a) => encode_one(v, &a, out),
            None => put_reg_load(out, f, value, mask),
        }
    } else if whole {
        put_set_field(out, v, f, value, mask);
    } else {
        put_reg_load(out, f, value, mask);
    }
}

/// Encodes instructions for `version` (OpenFlow 1.0: a plain action list,
/// with write_metadata and goto_table as Nicira actions).
pub fn encode_instructions(version: u8, ins: &Instructions, has_vlan: bool, out: &mut Vec<u8>) {
    if version == 1 {
        encode(1, &ins.apply, has_vlan, out);
        if let Some((md, mask)) = ins.write_metadata {
            put_nx_header(out, 32, 22);
            out.put_zeros(6);
            out.put_u64(md);
            out.put_u64(mask);
        }
        if let Some(t) = ins.goto_table {
            put_nx_header(out, 16, 14);
            out.put_u16(port::IN_PORT);
            out.put_u8(t);
            out.put_zeros(3);
        }
        return;
    }
    if let Some(m) = ins.meter {
        if (4..=5).contains(&version) {
            put_std(out, 6, 8);
            out.put_u32(m);
        }
    }
    let meter_action = if version >= 6 { ins.meter } else { None };
    if !ins.apply.is_empty() || meter_action.is_some() {
        let start = out.len();
        put_std(out, 4, 0);
        out.put_zeros(4);
        if let Some(m) = meter_action {
            put_u32_action(out, 29, m);
        }
        encode(version, &ins.apply, has_vlan, out);
        let len = (out.len() - start) as u16;
        out.set_u16(start + 2, len);
    }
    if ins.clear {
        put_std(out, 5, 8);
        out.put_zeros(4);
    }
    if let Some(w) = &ins.write {
        let start = out.len();
        put_std(out, 3, 0);
        out.put_zeros(4);
        encode(version, w, has_vlan, out);
        let len = (out.len() - start) as u16;
        out.set_u16(start + 2, len);
    }
    if let Some((md, mask)) = ins.write_metadata {
        put_std(out, 2, 24);
        out.put_zeros(4);
        out.put_u64(md);
        out.put_u64(mask);
    }
    if let Some(t) = ins.goto_table {
        put_std(out, 1, 8);
        out.put_u8(t);
        out.put_zeros(3);
    }
}
