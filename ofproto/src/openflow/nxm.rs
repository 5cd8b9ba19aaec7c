//! NXM and OXM: the type-length-value match encoding of Nicira extensions
//! (OpenFlow 1.0) and of OpenFlow 1.2+.
//!
//! An entry is a 32-bit header (class 16 bits, field 7 bits, has-mask 1 bit,
//! length 8 bits), for experimenter classes followed by a 32-bit
//! experimenter id, then the value and, when has-mask, the mask.

use super::error_table::OfpErr;
use super::fields::{
    by_header, id, is_tun_metadata, port_from_of11, port_to_of11, tun_metadata_value, Match,
    FIELDS, VLAN_CFI,
};
use super::wire::{Put, Reader};

/// NXM_NX_COOKIE, a pseudo-field allowed in Nicira flow stats requests.
const COOKIE_CLASS: u16 = 1;
const COOKIE_FIELD: u8 = 30;

/// Which field-set a decoded entry names.
enum Target {
    Field(usize),
    Cookie,
}

fn bits_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn be_to_u128(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, &x| (acc << 8) | x as u128)
}

/// Decodes `len` bytes of NXM/OXM entries into a match. `strict` checks
/// prerequisites (flow_mod and stats requests do); `cookie`, when given,
/// receives an NXM_NX_COOKIE pseudo-field as (value, mask).
pub fn decode(
    r: &mut Reader<'_>,
    len: usize,
    strict: bool,
    mut cookie: Option<&mut (u64, u64)>,
) -> Result<Match, OfpErr> {
    let bytes = r.bytes(len).ok_or(OfpErr::OFPBMC_BAD_LEN)?;
    let mut r = Reader::new(bytes);
    let mut m = Match::catchall();
    let mut cookie_seen = false;
    while !r.is_empty() {
        let header = r.u32().ok_or(OfpErr::OFPBMC_BAD_LEN)?;
        let class = (header >> 16) as u16;
        let field = ((header >> 9) & 0x7f) as u8;
        let hasmask = header & 0x100 != 0;
        let mut length = (header & 0xff) as usize;
        let mut exp = 0;
        if class == 0xffff {
            exp = r.u32().ok_or(OfpErr::OFPBMC_BAD_LEN)?;
            // The experimenter id counts in the payload length.
            length = length.checked_sub(4).ok_or(OfpErr::OFPBMC_BAD_LEN)?;
        }
        let payload = r.bytes(length).ok_or(OfpErr::OFPBMC_BAD_LEN)?;
        let width = if hasmask { length / 2 } else { length };
        let (value, mask) = if hasmask {
            payload.split_at(width)
        } else {
            (payload, &[][..])
        };
        // tun_metadata0..63: whether the bridge maps the field is checked
        // where the bridge's TLV map is known (switch::tlv).
        if let Some(f) = by_header(class, exp, field, width).filter(|&f| is_tun_metadata(f)) {
            let mk = if hasmask {
                tun_metadata_value(mask)
            } else {
                u32::MAX as u128
            };
            let v = tun_metadata_value(value);
            if v & !mk != 0 {
                return Err(OfpErr::OFPBMC_BAD_WILDCARDS);
            }
            if m.is_set(f) {
                return Err(OfpErr::OFPBMC_DUP_FIELD);
            }
            m.set(f, v, mk);
            continue;
        }
        let target = if class == COOKIE_CLASS && field == COOKIE_FIELD && width == 8 {
            Target::Cookie
        } else {
            match by_header(class, exp, field, width) {
                Some(f) if !hasmask || length.is_multiple_of(2) => Target::Field(f),
                _ => return Err(OfpErr::OFPBMC_BAD_FIELD),
            }
        };
        let v = be_to_u128(value);
        let mk = if hasmask {
            be_to_u128(mask)
        } else {
            bits_mask(width as u32 * 8)
        };
        if hasmask && v & !mk != 0 {
            return Err(OfpErr::OFPBMC_BAD_WILDCARDS);
        }
        let f = match target {
            Target::Cookie => {
                let Some(c) = cookie.as_deref_mut() else {
                    return Err(OfpErr::OFPBMC_BAD_FIELD);
                };
                if cookie_seen {
                    return Err(OfpErr::OFPBMC_DUP_FIELD);
                }
                cookie_seen = true;
                *c = (v as u64, mk as u64);
                continue;
            }
            Target::Field(f) => f,
        };
        let def = &FIELDS[f];
        let full = bits_mask(width as u32 * 8);
        if hasmask && !def.maskable && mk != 0 && mk != full {
            return Err(OfpErr::OFPBMC_BAD_MASK);
        }
        if !value_valid(f, v) {
            return Err(OfpErr::OFPBMC_BAD_VALUE);
        }
        if strict && !m.prereq_ok(def.prereq) {
            return Err(OfpErr::OFPBMC_BAD_PREREQ);
        }
        set_field(&mut m, f, v, mk)?;
    }
    Ok(m)
}

/// Open vSwitch's value checks: a value may not use bits beyond the field.
fn value_valid(f: usize, v: u128) -> bool {
    let def = &FIELDS[f];
    let bits = match f {
        id::VLAN_VID => 13,
        id::CT_STATE => 8,
        id::IP_FRAG => 2,
        _ => def.bits as u32,
    };
    if f == id::NW_TOS && v & 3 != 0 {
        return false;
    }
    if f == id::IN_PORT_OXM {
        return port_from_of11(v as u32).is_some();
    }
    v & !bits_mask(bits) == 0
}

/// Sets field `f` (storage or alias) in `m`, refusing a field already set.
pub fn set_field(m: &mut Match, f: usize, v: u128, mk: u128) -> Result<(), OfpErr> {
    let dup = Err(OfpErr::OFPBMC_DUP_FIELD);
    match f {
        id::IN_PORT_OXM => {
            if m.is_set(id::IN_PORT) {
                return dup;
            }
            let p = port_from_of11(v as u32).ok_or(OfpErr::OFPBMC_BAD_VALUE)?;
            m.set_exact(id::IN_PORT, p as u128);
        }
        _ if (id::XREG0..id::XREG0 + 8).contains(&f) => {
            let base = id::REG0 + 2 * (f - id::XREG0);
            if m.is_set(base) || m.is_set(base + 1) {
                return dup;
            }
            m.set(base, v >> 32, mk >> 32);
            m.set(base + 1, v & 0xffff_ffff, mk & 0xffff_ffff);
        }
        _ if (id::XXREG0..id::XXREG0 + 4).contains(&f) => {
            let base = id::REG0 + 4 * (f - id::XXREG0);
            if (0..4).any(|i| m.is_set(base + i)) {
                return dup;
            }
            for i in 0..4 {
                let sh = 96 - 32 * i as u32;
                m.set(base + i, (v >> sh) & 0xffff_ffff, (mk >> sh) & 0xffff_ffff);
            }
        }
        id::VLAN_VID | id::DL_VLAN | id::VLAN_PCP | id::DL_VLAN_PCP => {
            let (tv, tm) = m.get(id::VLAN_TCI);
            let (tv, tm) = (tv as u16, tm as u16);
            let (v, mk) = (v as u16, mk as u16);
            let (nv, nm) = match f {
                id::VLAN_VID => {
                    if tm & 0x1fff != 0 {
                        return dup;
                    }
                    (
                        (tv & !0x1fff) | (v & mk & 0x1fff),
                        (tm & !0x1fff) | (mk & 0x1fff),
                    )
                }
                id::DL_VLAN => {
                    if tm & 0x0fff != 0 {
                        return dup;
                    }
                    if v == 0xffff {
                        (0, 0xffff)
                    } else {
                        ((tv & !0x1fff) | (v & 0xfff) | VLAN_CFI, tm | 0x1fff)
                    }
                }
                _ => {
                    if tm & 0xe000 != 0 {
                        return dup;
                    }
                    ((tv & !0xe000) | ((v & 7) << 13) | VLAN_CFI, tm | 0xf000)
                }
            };
            m.set(id::VLAN_TCI, nv as u128, nm as u128);
        }
        id::IP_DSCP => {
            if m.is_set(id::NW_TOS) {
                return dup;
            }
            m.set(id::NW_TOS, (v << 2) & 0xfc, 0xfc);
        }
        _ => {
            if m.is_set(f) {
                return dup;
            }
            // nw_tos holds only the DSCP bits.
            let mk = if f == id::NW_TOS && mk != 0 { 0xfc } else { mk };
            m.set(f, v, mk);
        }
    }
    Ok(())
}

/// Chooses the code point to encode storage field `f` with: in OXM
/// (OpenFlow `version` >= 1.2) the standard OXM when the version has it,
/// otherwise the Nicira NXM one.
fn header_for(f: usize, oxm_version: Option<u8>) -> Option<super::fields::Hdr> {
    let hs = FIELDS[f].headers;
    if let Some(v) = oxm_version {
        if let Some(h) = hs.iter().find(|h| h.since_of != 0 && h.since_of <= v) {
            return Some(*h);
        }
    }
    hs.iter()
        .find(|h| h.class <= 1)
        .or_else(|| hs.iter().find(|h| h.class != 0xffff || h.since_of == 0))
        .copied()
}

fn put_entry(out: &mut Vec<u8>, h: super::fields::Hdr, width: usize, v: u128, mk: u128) {
    let full = bits_mask(width as u32 * 8);
    let masked = mk != full;
    let exp_len = if h.class == 0xffff { 4 } else { 0 };
    let len = exp_len + if masked { 2 * width } else { width };
    let header = (h.class as u32) << 16 | (h.field as u32) << 9 | (masked as u32) << 8 | len as u32;
    out.put_u32(header);
    if h.class == 0xffff {
        out.put_u32(h.exp);
    }
    let vb = v.to_be_bytes();
    out.extend_from_slice(&vb[16 - width..]);
    if masked {
        let mb = mk.to_be_bytes();
        out.extend_from_slice(&mb[16 - width..]);
    }
}

/// Appends the entries of `m`. `oxm_version` is `Some(wire version)` for
/// OXM (OpenFlow 1.2+), `None` for NXM.
pub fn encode(m: &Match, oxm_version: Option<u8>, out: &mut Vec<u8>) {
    encode_fields(m, m.set_fields(), oxm_version, out)
}

/// `encode` for a match whose set fields the caller already knows (they
/// depend on the mask only, so rules of one mask can share the list).
pub fn encode_fields(
    m: &Match,
    fields: impl Iterator<Item = usize>,
    oxm_version: Option<u8>,
    out: &mut Vec<u8>,
) {
    for f in fields {
        let (v, mk) = m.get(f);
        let width = FIELDS[f].width as usize;
        if let Some(ver) = oxm_version {
            match f {
                id::IN_PORT => {
                    if let Some(h) = header_for(id::IN_PORT_OXM, Some(ver)) {
                        put_entry(out, h, 4, port_to_of11(v as u16) as u128, 0xffff_ffff);
                    }
                    continue;
                }
                id::VLAN_TCI => {
                    let vid = v as u16 & 0x1fff;
                    let vmask = mk as u16 & 0x1fff;
                    if let Some(h) = header_for(id::VLAN_VID, Some(ver)) {
                        if vmask != 0 {
                            let m2 = if vmask == 0x1fff { 0xffff } else { vmask };
                            put_entry(out, h, 2, vid as u128, m2 as u128);
                        }
                    }
                    if vid != 0 && mk as u16 & 0xe000 != 0 {
                        if let Some(h) = header_for(id::VLAN_PCP, Some(ver)) {
                            put_entry(out, h, 1, (v as u16 >> 13) as u128, 0xff);
                        }
                    }
                    continue;
                }
                id::NW_TOS => {
                    if let Some(h) = header_for(id::IP_DSCP, Some(ver)) {
                        put_entry(out, h, 1, v >> 2, 0xff);
                    }
                    continue;
                }
                _ => {}
            }
        }
        if let Some(h) = header_for(f, oxm_version) {
            // Fields that cannot be masked are always sent exact.
            let mk = if FIELDS[f].maskable {
                mk
            } else {
                bits_mask(width as u32 * 8)
            };
            put_entry(out, h, width, v, mk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Match {
        let mut m = Match::catchall();
        m.set_exact(id::IN_PORT, 0xfffe);
        m.set_exact(id::ETH_TYPE, 0x0800);
        m.set(id::VLAN_TCI, 0x1005, 0x1fff);
        m.set_exact(id::NW_PROTO, 6);
        m.set(id::IP_SRC, 0x0a00_0000, 0xff00_0000);
        m.set_exact(id::TCP_DST, 80);
        m.set(id::REG0 + 3, 5, 0xff);
        m.set(id::METADATA, 0x10, 0xff);
        m.set(id::NW_TOS, 0x20, 0xfc);
        m
    }

    #[test]
    fn nxm_and_oxm_round_trip() {
        let m = sample();
        for oxm in [None, Some(4u8), Some(6)] {
            let mut b = Vec::new();
            encode(&m, oxm, &mut b);
            let mut r = Reader::new(&b);
            let back = decode(&mut r, b.len(), true, None).expect("decodes");
            assert_eq!(back, m, "version {oxm:?}");
        }
    }

    #[test]
    fn tun_metadata_lengths_are_brought_to_four_bytes() {
        // NXM_NX_TUN_METADATA0 (class 1, field 40) with `len` value bytes.
        let entry = |hasmask: bool, payload: &[u8]| -> Vec<u8> {
            let mut e = vec![0, 1, 40 << 1 | u8::from(hasmask), payload.len() as u8];
            e.extend_from_slice(payload);
            e
        };
        let f = id::TUN_METADATA0;
        let dec = |b: &[u8]| decode(&mut Reader::new(b), b.len(), true, None);
        // Short values are right-aligned, exact.
        assert_eq!(
            dec(&entry(false, &[0x12, 0x34])).unwrap().get(f),
            (0x1234, 0xffff_ffff)
        );
        // No bytes at all: exactly zero.
        assert_eq!(dec(&entry(false, &[])).unwrap().get(f), (0, 0xffff_ffff));
        // Long values keep their first four bytes.
        let long = entry(false, &[0x12, 0x34, 0x56, 0x78, 0x9a]);
        assert_eq!(dec(&long).unwrap().get(f), (0x1234_5678, 0xffff_ffff));
        // Masked, right-aligned too.
        let masked = entry(true, &[0x12, 0x00, 0xff, 0x00]);
        assert_eq!(dec(&masked).unwrap().get(f), (0x1200, 0xff00));
        let wild = entry(true, &[0x12, 0x34, 0xff, 0x00]);
        assert_eq!(dec(&wild), Err(OfpErr::OFPBMC_BAD_WILDCARDS));
        // tun_metadata63 is field 103; 104 is no tun_metadata.
        let mut last = entry(false, &[1, 2, 3, 4]);
        last[2] = 103 << 1;
        assert_eq!(dec(&last).unwrap().get(id::TUN_METADATA63).0, 0x0102_0304);
        // And back: four bytes on the wire, as a switch with a 4-byte
        // mapping sends them.
        let mut out = Vec::new();
        encode(&dec(&masked).unwrap(), None, &mut out);
        assert_eq!(out, [0, 1, 81, 8, 0, 0, 0x12, 0, 0, 0, 0xff, 0]);
    }

    #[test]
    fn strict_decoding_refuses_what_stock_refuses() {
        let mut r = Reader::new(&[0, 0, 0x0e, 4, 10, 0, 0, 1]);
        assert_eq!(
            decode(&mut r, 8, true, None),
            Err(OfpErr::OFPBMC_BAD_PREREQ)
        );
        let twice = [0, 0, 6, 2, 8, 0, 0, 0, 6, 2, 8, 0];
        assert_eq!(
            decode(&mut Reader::new(&twice), 12, true, None),
            Err(OfpErr::OFPBMC_DUP_FIELD)
        );
        let short = [0, 0, 6, 4, 8, 0];
        assert_eq!(
            decode(&mut Reader::new(&short), 6, true, None),
            Err(OfpErr::OFPBMC_BAD_LEN)
        );
        // Value bits outside the mask.
        let wild = [0, 0, 6, 2, 8, 0, 0, 0, 0x0f, 8, 10, 0, 0, 1, 0xff, 0, 0, 0];
        assert_eq!(
            decode(&mut Reader::new(&wild), 18, true, None),
            Err(OfpErr::OFPBMC_BAD_WILDCARDS)
        );
    }
}
