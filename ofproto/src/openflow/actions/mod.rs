//! OpenFlow actions and instructions: an owned model close to what a rule
//! means, decoded from and encoded to each OpenFlow version's wire form.
//!
//! Standard actions are modelled one by one because their encodings differ
//! between versions (OpenFlow 1.0 set-vlan actions become Set-Field in 1.2+,
//! and so on). Nicira extension actions have the same encoding in every
//! version; those that need no translation are kept as their wire bytes
//! (`Action::Nx`) after their header has been checked.

use super::error_table::OfpErr;
use super::fields::{by_header, id, port_from_of11, port_to_of11, FIELDS};
use super::wire::{Put, Reader};

mod encode;
pub use self::encode::{encode, encode_instructions};

pub const NX_VENDOR: u32 = 0x0000_2320;

/// Reserved OpenFlow 1.0 port numbers (16-bit form).
pub mod port {
    pub const MAX: u16 = 0xff00;
    pub const IN_PORT: u16 = 0xfff8;
    pub const TABLE: u16 = 0xfff9;
    pub const NORMAL: u16 = 0xfffa;
    pub const FLOOD: u16 = 0xfffb;
    pub const ALL: u16 = 0xfffc;
    pub const CONTROLLER: u16 = 0xfffd;
    pub const LOCAL: u16 = 0xfffe;
    pub const NONE: u16 = 0xffff;
}

/// How a set-field action arrived, so it can leave the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetFieldRaw {
    SetField,
    RegLoad,
    RegLoad2,
    /// OpenFlow 1.0's set-transport-port actions (printed as mod_tp_*).
    L4Port,
    /// NXAST_SET_TUNNEL / NXAST_SET_TUNNEL64.
    Tunnel,
    Tunnel64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Output {
        port: u16,
        max_len: u16,
    },
    Enqueue {
        port: u16,
        queue: u32,
    },
    SetVlanVid(u16),
    SetVlanPcp(u8),
    StripVlan,
    PushVlan(u16),
    SetEthSrc([u8; 6]),
    SetEthDst([u8; 6]),
    SetIpv4Src(u32),
    SetIpv4Dst(u32),
    /// The DSCP bits in their IP TOS position.
    SetIpDscp(u8),
    SetIpEcn(u8),
    SetL4Src(u16),
    SetL4Dst(u16),
    SetIpTtl(u8),
    DecTtl,
    SetMplsLabel(u32),
    SetMplsTc(u8),
    SetMplsTtl(u8),
    DecMplsTtl,
    PushMpls(u16),
    PopMpls(u16),
    SetQueue(u32),
    Group(u32),
    SetField {
        field: usize,
        value: u128,
        mask: u128,
        raw: SetFieldRaw,
    },
    /// Copies `n_bits` from `src` at `src_ofs` to `dst` at `dst_ofs`
    /// (NXAST_REG_MOVE; OpenFlow 1.5 copy-field).
    Move {
        src: usize,
        dst: usize,
        src_ofs: u16,
        dst_ofs: u16,
        n_bits: u16,
    },
    /// OpenFlow 1.5's meter action (a meter instruction before 1.5); only
    /// transient: decoding moves it into `Instructions::meter`.
    Meter(u32),
    /// A Nicira action with nested actions (ct, clone): its fixed header
    /// (length patched on encoding) and the nested list.
    NxNested {
        subtype: u16,
        head: Vec<u8>,
        actions: Vec<Action>,
    },
    /// A Nicira extension action, as its complete wire bytes.
    Nx {
        subtype: u16,
        bytes: Vec<u8>,
    },
}

/// The instructions of a rule (OpenFlow 1.1+); in OpenFlow 1.0 only
/// `apply` exists on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Instructions {
    pub meter: Option<u32>,
    pub apply: Vec<Action>,
    pub clear: bool,
    pub write: Option<Vec<Action>>,
    pub write_metadata: Option<(u64, u64)>,
    pub goto_table: Option<u8>,
}

impl Instructions {
    /// Whether the actions output to `p` (out_port filters).
    pub fn outputs_to(&self, p: u16) -> bool {
        let hit = |a: &Action| match a {
            Action::Output { port, .. } | Action::Enqueue { port, .. } => *port == p,
            Action::Nx { subtype, .. } => *subtype == 20 && p == port::CONTROLLER,
            _ => false,
        };
        self.apply.iter().any(hit) || self.write.iter().flatten().any(hit)
    }
    pub fn outputs_to_group(&self, g: u32) -> bool {
        let hit = |a: &Action| matches!(a, Action::Group(x) if *x == g);
        self.apply.iter().any(hit) || self.write.iter().flatten().any(hit)
    }
}

/// Nicira subtypes that are kept as wire bytes: their encoding is the same
/// in every OpenFlow version.
const NX_PASSTHROUGH: &[u16] = &[
    1, 5, 8, 10, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 27, 28, 29, 32, 34, 35, 36, 37, 38, 39,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 254, 255,
];

fn mac(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}

/// Decodes an action list of OpenFlow wire `version`.
pub fn decode(version: u8, data: &[u8]) -> Result<Vec<Action>, OfpErr> {
    decode_nested(version, data, 0)
}

/// Actions may nest (ct, clone); a hostile message may not nest deeper
/// than this.
const MAX_NESTING: u32 = 8;

fn decode_nested(version: u8, data: &[u8], depth: u32) -> Result<Vec<Action>, OfpErr> {
    if depth > MAX_NESTING {
        return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
    }
    if !data.len().is_multiple_of(8) {
        return Err(OfpErr::OFPBRC_BAD_LEN);
    }
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() {
        let ty = r.peek_u16(0).ok_or(OfpErr::OFPBAC_BAD_LEN)?;
        let len = r.peek_u16(2).ok_or(OfpErr::OFPBAC_BAD_LEN)? as usize;
        if len < 8 || !len.is_multiple_of(8) || len > r.len() {
            return Err(OfpErr::OFPBAC_BAD_LEN);
        }
        let a = r.bytes(len).ok_or(OfpErr::OFPBAC_BAD_LEN)?;
        out.push(decode_one(version, ty, a, depth)?);
    }
    Ok(out)
}

fn need(a: &[u8], len: usize) -> Result<Reader<'_>, OfpErr> {
    if a.len() != len {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    let mut r = Reader::new(a);
    r.skip(4).ok_or(OfpErr::OFPBAC_BAD_LEN)?;
    Ok(r)
}

fn bad() -> OfpErr {
    OfpErr::OFPBAC_BAD_LEN
}

fn check_out_port(p: u16) -> Result<u16, OfpErr> {
    if p < port::MAX || (port::IN_PORT..=port::LOCAL).contains(&p) {
        Ok(p)
    } else {
        Err(OfpErr::OFPBAC_BAD_OUT_PORT)
    }
}

fn decode_one(version: u8, ty: u16, a: &[u8], depth: u32) -> Result<Action, OfpErr> {
    use Action::*;
    if ty == 0xffff {
        return decode_vendor(version, a, depth);
    }
    if version == 1 {
        return Ok(match ty {
            0 => {
                let mut r = need(a, 8)?;
                let p = r.u16().ok_or_else(bad)?;
                let max_len = r.u16().ok_or_else(bad)?;
                Output {
                    port: check_out_port(p)?,
                    max_len,
                }
            }
            1 => {
                let vid = need(a, 8)?.u16().ok_or_else(bad)?;
                if vid & !0xfff != 0 {
                    return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
                }
                SetVlanVid(vid)
            }
            2 => {
                let pcp = need(a, 8)?.u8().ok_or_else(bad)?;
                if pcp & !7 != 0 {
                    return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
                }
                SetVlanPcp(pcp)
            }
            3 => {
                need(a, 8)?;
                StripVlan
            }
            4 => SetEthSrc(mac(need(a, 16)?.bytes(6).ok_or_else(bad)?)),
            5 => SetEthDst(mac(need(a, 16)?.bytes(6).ok_or_else(bad)?)),
            6 => SetIpv4Src(need(a, 8)?.u32().ok_or_else(bad)?),
            7 => SetIpv4Dst(need(a, 8)?.u32().ok_or_else(bad)?),
            8 => {
                let tos = need(a, 8)?.u8().ok_or_else(bad)?;
                if tos & 3 != 0 {
                    return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
                }
                SetIpDscp(tos)
            }
            9 => SetL4Src(need(a, 8)?.u16().ok_or_else(bad)?),
            10 => SetL4Dst(need(a, 8)?.u16().ok_or_else(bad)?),
            11 => {
                let mut r = need(a, 16)?;
                let p = r.u16().ok_or_else(bad)?;
                r.skip(6).ok_or_else(bad)?;
                let queue = r.u32().ok_or_else(bad)?;
                if p >= port::MAX && p != port::IN_PORT && p != port::LOCAL {
                    return Err(OfpErr::OFPBAC_BAD_OUT_PORT);
                }
                Enqueue { port: p, queue }
            }
            _ => return Err(OfpErr::OFPBAC_BAD_TYPE),
        });
    }
    // OpenFlow 1.1 and later.
    Ok(match ty {
        0 => {
            let mut r = need(a, 16)?;
            let p = r.u32().ok_or_else(bad)?;
            let max_len = r.u16().ok_or_else(bad)?;
            let p = port_from_of11(p).ok_or(OfpErr::OFPBAC_BAD_OUT_PORT)?;
            Output {
                port: check_out_port(p)?,
                max_len,
            }
        }
        1 if version == 2 => SetVlanVid(need(a, 8)?.u16().ok_or_else(bad)? & 0xfff),
        2 if version == 2 => SetVlanPcp(need(a, 8)?.u8().ok_or_else(bad)? & 7),
        3 if version == 2 => SetEthSrc(mac(need(a, 16)?.bytes(6).ok_or_else(bad)?)),
        4 if version == 2 => SetEthDst(mac(need(a, 16)?.bytes(6).ok_or_else(bad)?)),
        5 if version == 2 => SetIpv4Src(need(a, 8)?.u32().ok_or_else(bad)?),
        6 if version == 2 => SetIpv4Dst(need(a, 8)?.u32().ok_or_else(bad)?),
        7 if version == 2 => SetIpDscp(need(a, 8)?.u8().ok_or_else(bad)? & 0xfc),
        8 if version == 2 => SetIpEcn(need(a, 8)?.u8().ok_or_else(bad)? & 3),
        9 if version == 2 => SetL4Src(need(a, 8)?.u16().ok_or_else(bad)?),
        10 if version == 2 => SetL4Dst(need(a, 8)?.u16().ok_or_else(bad)?),
        // 11 and 12, copy_ttl_out and copy_ttl_in, are not supported
        // (bad type), as in Open vSwitch.
        13 if version == 2 => SetMplsLabel(need(a, 8)?.u32().ok_or_else(bad)?),
        14 if version == 2 => SetMplsTc(need(a, 8)?.u8().ok_or_else(bad)?),
        15 => SetMplsTtl(need(a, 8)?.u8().ok_or_else(bad)?),
        16 => {
            need(a, 8)?;
            DecMplsTtl
        }
        17 => {
            let et = need(a, 8)?.u16().ok_or_else(bad)?;
            if et != 0x8100 && et != 0x88a8 {
                return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
            }
            PushVlan(et)
        }
        18 => {
            need(a, 8)?;
            StripVlan
        }
        19 => PushMpls(need(a, 8)?.u16().ok_or_else(bad)?),
        20 => PopMpls(need(a, 8)?.u16().ok_or_else(bad)?),
        21 => SetQueue(need(a, 8)?.u32().ok_or_else(bad)?),
        22 => Group(need(a, 8)?.u32().ok_or_else(bad)?),
        23 => SetIpTtl(need(a, 8)?.u8().ok_or_else(bad)?),
        24 => {
            need(a, 8)?;
            DecTtl
        }
        25 if version >= 3 => decode_set_field(version, a)?,
        29 if version >= 6 => Meter(need(a, 8)?.u32().ok_or_else(bad)?),
        28 if version >= 6 => {
            let mut r = Reader::new(a.get(4..).ok_or_else(bad)?);
            let n_bits = r.u16().ok_or_else(bad)?;
            let src_ofs = r.u16().ok_or_else(bad)?;
            let dst_ofs = r.u16().ok_or_else(bad)?;
            r.skip(2).ok_or_else(bad)?;
            let src = pull_field_id(&mut r)?;
            let dst = pull_field_id(&mut r)?;
            check_move(src, dst, src_ofs, dst_ofs, n_bits)?
        }
        _ => return Err(OfpErr::OFPBAC_BAD_TYPE),
    })
}

fn be_to_u128(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, &x| (acc << 8) | x as u128)
}

/// One OXM header + value (+ mask when allowed) inside an action.
fn pull_oxm(r: &mut Reader<'_>, may_mask: bool) -> Result<(usize, u128, u128, usize), OfpErr> {
    let header = r.u32().ok_or(OfpErr::OFPBAC_BAD_SET_LEN)?;
    let class = (header >> 16) as u16;
    let field = ((header >> 9) & 0x7f) as u8;
    let hasmask = header & 0x100 != 0;
    let mut length = (header & 0xff) as usize;
    let mut exp = 0;
    if class == 0xffff {
        exp = r.u32().ok_or(OfpErr::OFPBAC_BAD_SET_LEN)?;
        length = length.checked_sub(4).ok_or(OfpErr::OFPBAC_BAD_SET_LEN)?;
    }
    let width = if hasmask { length / 2 } else { length };
    let Some(f) = by_header(class, exp, field, width) else {
        // A known field with the wrong length is a length error.
        let known = FIELDS.iter().any(|d| {
            d.headers
                .iter()
                .any(|h| h.class == class && h.field == field && (class != 0xffff || h.exp == exp))
        });
        return Err(if known {
            OfpErr::OFPBAC_BAD_SET_LEN
        } else {
            OfpErr::OFPBAC_BAD_SET_TYPE
        });
    };
    let payload = r.bytes(length).ok_or(OfpErr::OFPBAC_BAD_SET_LEN)?;
    if super::fields::is_tun_metadata(f) {
        let value = payload.get(..width).ok_or(OfpErr::OFPBAC_BAD_SET_LEN)?;
        let mask = match payload.get(width..) {
            Some(_) if hasmask && !may_mask => return Err(OfpErr::OFPBAC_BAD_SET_MASK),
            Some(m) if hasmask => {
                if value.iter().zip(m).any(|(v, m)| v & !m != 0) {
                    return Err(OfpErr::OFPBMC_BAD_WILDCARDS);
                }
                super::fields::tun_metadata_value(m)
            }
            _ => u32::MAX as u128,
        };
        return Ok((f, super::fields::tun_metadata_value(value), mask, 4));
    }
    let value = be_to_u128(payload.get(..width).ok_or(OfpErr::OFPBAC_BAD_SET_LEN)?);
    let full = if width >= 16 {
        u128::MAX
    } else {
        (1u128 << (width * 8)) - 1
    };
    let mask = if hasmask {
        if !may_mask {
            return Err(OfpErr::OFPBAC_BAD_SET_MASK);
        }
        be_to_u128(payload.get(width..).ok_or(OfpErr::OFPBAC_BAD_SET_LEN)?)
    } else {
        full
    };
    Ok((f, value, mask, width))
}

/// An OXM/NXM header without a value (as in move actions).
fn pull_field_id(r: &mut Reader<'_>) -> Result<usize, OfpErr> {
    let header = r.u32().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
    let class = (header >> 16) as u16;
    let mut len = (header & 0xff) as usize;
    let mut exp = 0;
    if class == 0xffff {
        exp = r.u32().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
        len = len.saturating_sub(4);
    }
    if header & 0x100 != 0 {
        len /= 2;
    }
    by_header(class, exp, ((header >> 9) & 0x7f) as u8, len).ok_or(OfpErr::OFPBAC_BAD_SET_TYPE)
}

/// The subfield (field, offset, bit count) a push or pop action's wire
/// bytes name: offset, NXM or experimenter OXM header, bit count; None
/// when it names no field or bits beyond it.
pub fn stack_subfield(a: &[u8]) -> Option<(usize, u16, u16)> {
    let mut r = Reader::new(a.get(10..)?);
    let ofs = r.u16()?;
    let f = pull_field_id(&mut r).ok()?;
    let n_bits = r.u16()?;
    let bits = FIELDS[f].bits as u32;
    if n_bits == 0 || ofs as u32 + n_bits as u32 > bits {
        return None;
    }
    Some((f, ofs, n_bits))
}

/// Validates a stack action (nx_action_stack: offset, field header,
/// bit count, zeros) as stock does; `pop` writes its field.
/// A field header read as stock reads one inside an action
/// (`mf_vl_mff_nx_pull_header`, which looks fields up as match fields:
/// an unknown one is OFPBMC_BAD_FIELD): the field, and whether the header
/// has its mask bit (0x100 of the first 32 bits) set.
fn pull_match_field(r: &mut Reader<'_>) -> Result<(usize, bool), OfpErr> {
    let masked = r.peek_u32(0).is_some_and(|h| h & 0x100 != 0);
    let field = pull_field_id(r).map_err(|e| match e {
        OfpErr::OFPBAC_BAD_SET_TYPE => OfpErr::OFPBMC_BAD_FIELD,
        e => e,
    })?;
    Ok((field, masked))
}

/// The field of an action's header that may not be masked, with only
/// zeros after it (stock's `nx_pull_header` without a mask, then
/// `is_all_zeros`).
fn pull_unmasked_field_then_zeros(r: &mut Reader<'_>) -> Result<usize, OfpErr> {
    let (field, masked) = pull_match_field(r)?;
    if masked {
        return Err(OfpErr::OFPBMC_BAD_MASK);
    }
    if r.rest().iter().any(|&b| b != 0) {
        return Err(OfpErr::NXBRC_MUST_BE_ZERO);
    }
    Ok(field)
}

fn check_stack(pop: bool, a: &[u8]) -> Result<(), OfpErr> {
    if a.len() != 24 {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    let mut r = Reader::new(a.get(10..).ok_or(OfpErr::OFPBAC_BAD_LEN)?);
    let ofs = r.u16().ok_or(OfpErr::OFPBAC_BAD_LEN)? as u32;
    let (f, masked) = pull_match_field(&mut r)?;
    if masked {
        return Err(OfpErr::OFPBMC_BAD_MASK);
    }
    let n_bits = r.u16().ok_or(OfpErr::OFPBAC_BAD_LEN)? as u32;
    if r.rest().iter().any(|&b| b != 0) {
        return Err(OfpErr::NXBRC_MUST_BE_ZERO);
    }
    let bits = FIELDS[f].bits as u32;
    if n_bits == 0 || ofs >= bits || ofs + n_bits > bits {
        return Err(OfpErr::OFPBAC_BAD_SET_LEN);
    }
    if pop && FIELDS[f].read_only {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    Ok(())
}

/// What a `check_pkt_larger(pkt_len)->field[ofs]` action says: the
/// length to compare the packet's with, and the one bit that receives
/// the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckPktLarger {
    pub pkt_len: u16,
    pub field: usize,
    pub ofs: u16,
}

/// Decodes NXAST_CHECK_PKT_LARGER's wire bytes `a` (length, bit offset,
/// the destination's NXM or OXM header, zeros), with stock's errors.
pub fn check_pkt_larger(a: &[u8]) -> Result<CheckPktLarger, OfpErr> {
    if a.len() < 24 {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    let mut r = Reader::new(&a[10..]);
    let pkt_len = r.u16().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
    let ofs = r.u16().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
    let field = pull_unmasked_field_then_zeros(&mut r)?;
    // One bit, inside the field, which actions may write.
    if ofs as u32 >= FIELDS[field].bits as u32 {
        return Err(OfpErr::OFPBAC_BAD_SET_LEN);
    }
    if FIELDS[field].read_only {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    Ok(CheckPktLarger {
        pkt_len,
        field,
        ofs,
    })
}

/// `dec_ttl(ID,...)` (NXAST_DEC_TTL_CNT_IDS): the controllers a packet
/// whose TTL runs out goes to.
pub fn dec_ttl_ids(a: &[u8]) -> Result<Vec<u16>, OfpErr> {
    if a.len() < 16 {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    let n = u16::from_be_bytes([a[10], a[11]]) as usize;
    if a[12..16].iter().any(|&b| b != 0) {
        return Err(OfpErr::NXBRC_MUST_BE_ZERO);
    }
    let ids = &a[16..];
    if ids.len() < 2 * n {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    Ok(ids[..2 * n]
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

/// NXAST_WRITE_METADATA (OpenFlow 1.0's write_metadata): value and mask.
pub fn write_metadata(a: &[u8]) -> Result<(u64, u64), OfpErr> {
    if a.len() != 32 {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    if a[10..16].iter().any(|&b| b != 0) {
        return Err(OfpErr::NXBRC_MUST_BE_ZERO);
    }
    let mut r = Reader::new(&a[16..]);
    let value = r.u64().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
    let mask = r.u64().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
    Ok((value, mask))
}

/// `output(port=P,max_len=N)` (NXAST_OUTPUT_TRUNC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputTrunc {
    pub port: u16,
    pub max_len: u32,
}

/// Decodes NXAST_OUTPUT_TRUNC: a port and a length of at least an
/// Ethernet header, as stock requires.
pub fn output_trunc(a: &[u8]) -> Result<OutputTrunc, OfpErr> {
    if a.len() != 16 {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    let port = u16::from_be_bytes([a[10], a[11]]);
    let max_len = u32::from_be_bytes([a[12], a[13], a[14], a[15]]);
    if max_len < 14 {
        return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
    }
    Ok(OutputTrunc { port, max_len })
}

/// What an `output:FIELD[ofs..end]` action says (NXAST_OUTPUT_REG,
/// NXAST_OUTPUT_REG2): the bits that hold the port, and the length of
/// what goes to a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputReg {
    pub field: usize,
    pub ofs: u16,
    pub n_bits: u16,
    pub max_len: u16,
}

/// Decodes NXAST_OUTPUT_REG (`ofs_nbits`, an NXM header, `max_len`, six
/// zeros) or NXAST_OUTPUT_REG2 (`ofs_nbits`, `max_len`, an NXM or
/// experimenter OXM header, zeros) from wire bytes `a`, with stock's
/// errors.
pub fn output_reg(a: &[u8]) -> Result<OutputReg, OfpErr> {
    if a.len() < 24 {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    let subtype = u16::from_be_bytes([a[8], a[9]]);
    let mut r = Reader::new(&a[10..]);
    let ofs_nbits = r.u16().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
    let (field, max_len) = if subtype == 15 {
        if a.len() != 24 {
            return Err(OfpErr::OFPBAC_BAD_LEN);
        }
        let field = pull_field_id(&mut r)?;
        let max_len = r.u16().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
        if r.rest().iter().any(|&b| b != 0) {
            return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
        }
        (field, max_len)
    } else {
        let max_len = r.u16().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
        (pull_unmasked_field_then_zeros(&mut r)?, max_len)
    };
    let (ofs, n_bits) = (ofs_nbits >> 6, (ofs_nbits & 0x3f) + 1);
    if u32::from(ofs) + u32::from(n_bits) > FIELDS[field].bits as u32 {
        return Err(OfpErr::OFPBAC_BAD_SET_LEN);
    }
    Ok(OutputReg {
        field,
        ofs,
        n_bits,
        max_len,
    })
}

fn check_move(
    src: usize,
    dst: usize,
    src_ofs: u16,
    dst_ofs: u16,
    n_bits: u16,
) -> Result<Action, OfpErr> {
    let sw = FIELDS[src].width as u32 * 8;
    let dw = FIELDS[dst].width as u32 * 8;
    if n_bits == 0 || src_ofs as u32 + n_bits as u32 > sw || dst_ofs as u32 + n_bits as u32 > dw {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    if FIELDS[dst].read_only {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    Ok(Action::Move {
        src,
        dst,
        src_ofs,
        dst_ofs,
        n_bits,
    })
}

/// The header of field `f` with no value: NXM when `oxm_version` is None.
fn put_field_id(out: &mut Vec<u8>, f: usize, oxm_version: Option<u8>) {
    let hs = FIELDS[f].headers;
    let h = match oxm_version {
        Some(v) => hs
            .iter()
            .find(|h| h.since_of != 0 && h.since_of <= v)
            .or(hs.iter().find(|h| h.class <= 1)),
        None => hs
            .iter()
            .find(|h| h.class <= 1)
            .or(hs.iter().find(|h| h.class != 0xffff)),
    }
    .or(hs.first())
    .copied();
    if let Some(h) = h {
        let len = FIELDS[f].width as u32 + if h.class == 0xffff { 4 } else { 0 };
        out.put_u32((h.class as u32) << 16 | (h.field as u32) << 9 | len);
        if h.class == 0xffff {
            out.put_u32(h.exp);
        }
    }
}

fn decode_set_field(version: u8, a: &[u8]) -> Result<Action, OfpErr> {
    let mut r = Reader::new(a);
    r.skip(4).ok_or_else(bad)?;
    let (f, value, mask, _) = pull_oxm(&mut r, version >= 6)?;
    if r.rest().iter().any(|&b| b != 0) {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    let def = &FIELDS[f];
    if f == id::IN_PORT_OXM || def.read_only {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    let bits = if f == id::VLAN_VID {
        13
    } else {
        def.bits as u32
    };
    if bits < 128 && value >> bits != 0 {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    if f == id::VLAN_VID && (value & 0x1000 == 0 || mask & 0x1000 == 0) {
        return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
    }
    Ok(Action::SetField {
        field: f,
        value: value & mask,
        mask,
        raw: SetFieldRaw::SetField,
    })
}

fn decode_vendor(version: u8, a: &[u8], depth: u32) -> Result<Action, OfpErr> {
    let mut r = Reader::new(a);
    r.skip(4).ok_or_else(bad)?;
    let vendor = r.u32().ok_or_else(bad)?;
    if vendor != NX_VENDOR {
        return Err(OfpErr::OFPBAC_BAD_VENDOR);
    }
    if a.len() < 16 {
        return Err(OfpErr::OFPBAC_BAD_LEN);
    }
    let subtype = r.u16().ok_or_else(bad)?;
    use Action::*;
    Ok(match subtype {
        7 => {
            if a.len() != 24 {
                return Err(OfpErr::OFPBAC_BAD_LEN);
            }
            let ofs_nbits = r.u16().ok_or_else(bad)?;
            let header = r.u32().ok_or_else(bad)?;
            let value = r.u64().ok_or_else(bad)?;
            let (ofs, nbits) = ((ofs_nbits >> 6) as u32, (ofs_nbits & 0x3f) as u32 + 1);
            let class = (header >> 16) as u16;
            let width = (header & 0xff) as usize;
            let f = by_header(class, 0, ((header >> 9) & 0x7f) as u8, width)
                .ok_or(OfpErr::OFPBAC_BAD_SET_TYPE)?;
            // Bounded by the field's width as the flow holds it (as a move
            // is): a tun_metadata header may name up to 124 bytes, of which
            // the flow keeps 4 (and the load's value and mask are u128).
            if ofs + nbits > width as u32 * 8
                || ofs + nbits > FIELDS[f].width as u32 * 8
                || header & 0x100 != 0
            {
                return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
            }
            if nbits < 64 && value >> nbits != 0 {
                return Err(OfpErr::OFPBAC_BAD_ARGUMENT);
            }
            let fmask = if nbits >= 128 {
                u128::MAX
            } else {
                (1u128 << nbits) - 1
            } << ofs;
            if FIELDS[f].read_only {
                return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
            }
            SetField {
                field: f,
                value: (value as u128) << ofs,
                mask: fmask,
                raw: SetFieldRaw::RegLoad,
            }
        }
        33 => {
            let mut rr = Reader::new(a.get(10..).ok_or_else(bad)?);
            let (f, value, mask, _) = pull_oxm(&mut rr, true)?;
            if rr.rest().iter().any(|&b| b != 0) {
                return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
            }
            if FIELDS[f].read_only {
                return Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT);
            }
            SetField {
                field: f,
                value: value & mask,
                mask,
                raw: SetFieldRaw::RegLoad2,
            }
        }
        6 if version <= 5 => {
            if a.len() != 24 {
                return Err(OfpErr::OFPBAC_BAD_LEN);
            }
            let n_bits = r.u16().ok_or_else(bad)?;
            let src_ofs = r.u16().ok_or_else(bad)?;
            let dst_ofs = r.u16().ok_or_else(bad)?;
            let src = pull_field_id(&mut r)?;
            let dst = pull_field_id(&mut r)?;
            check_move(src, dst, src_ofs, dst_ofs, n_bits)?
        }
        // push / pop: checked as stock does, kept as their wire bytes.
        27 | 28 => {
            check_stack(subtype == 28, a)?;
            Nx {
                subtype,
                bytes: a.to_vec(),
            }
        }
        // ct and clone carry actions of the message's version after a
        // fixed header; they are re-encoded for each version.
        35 | 42 => {
            let head = if subtype == 35 { 24 } else { 16 };
            let (h, inner) = a.split_at(head.min(a.len()));
            if h.len() < head {
                return Err(OfpErr::OFPBAC_BAD_LEN);
            }
            NxNested {
                subtype,
                head: h.to_vec(),
                actions: decode_nested(version, inner, depth + 1)?,
            }
        }
        2 => {
            r.skip(2).ok_or_else(bad)?;
            let v = r.u32().ok_or_else(bad)?;
            SetField {
                field: id::TUN_ID,
                value: v as u128,
                mask: u64::MAX as u128,
                raw: SetFieldRaw::Tunnel,
            }
        }
        9 => {
            r.skip(6).ok_or_else(bad)?;
            let v = r.u64().ok_or_else(bad)?;
            SetField {
                field: id::TUN_ID,
                value: v as u128,
                mask: u64::MAX as u128,
                raw: SetFieldRaw::Tunnel64,
            }
        }
        18 if version == 1 => DecTtl,
        // OpenFlow 1.0 spellings of OpenFlow 1.1 actions: a 16-bit or 8-bit
        // argument right after the subtype, a 32-bit one aligned at 12.
        4 if version == 1 => {
            r.skip(2).ok_or_else(bad)?;
            SetQueue(r.u32().ok_or_else(bad)?)
        }
        40 if version == 1 => {
            r.skip(2).ok_or_else(bad)?;
            Group(r.u32().ok_or_else(bad)?)
        }
        30 if version == 1 => {
            r.skip(2).ok_or_else(bad)?;
            SetMplsLabel(r.u32().ok_or_else(bad)?)
        }
        23 if version == 1 => PushMpls(r.u16().ok_or_else(bad)?),
        24 if version == 1 => PopMpls(r.u16().ok_or_else(bad)?),
        25 if version == 1 => SetMplsTtl(r.u8().ok_or_else(bad)?),
        26 if version == 1 => DecMplsTtl,
        31 if version == 1 => SetMplsTc(r.u8().ok_or_else(bad)?),
        // Checked as stock does, kept as their wire bytes.
        21 => {
            dec_ttl_ids(a)?;
            Nx {
                subtype,
                bytes: a.to_vec(),
            }
        }
        22 => {
            write_metadata(a)?;
            Nx {
                subtype,
                bytes: a.to_vec(),
            }
        }
        39 => {
            let t = output_trunc(a)?;
            check_out_port(t.port)?;
            Nx {
                subtype,
                bytes: a.to_vec(),
            }
        }
        // output_reg, output_reg2: checked as stock does, kept as their
        // wire bytes.
        15 | 32 => {
            output_reg(a)?;
            Nx {
                subtype,
                bytes: a.to_vec(),
            }
        }
        // check_pkt_larger: checked as stock does, kept as its wire bytes.
        49 => {
            check_pkt_larger(a)?;
            Nx {
                subtype,
                bytes: a.to_vec(),
            }
        }
        _ if NX_PASSTHROUGH.contains(&subtype) => Nx {
            subtype,
            bytes: a.to_vec(),
        },
        _ => return Err(OfpErr::OFPBAC_BAD_VENDOR_TYPE),
    })
}

/// Decodes OpenFlow 1.1+ instructions.
pub fn decode_instructions(version: u8, data: &[u8]) -> Result<Instructions, OfpErr> {
    if !data.len().is_multiple_of(8) {
        return Err(OfpErr::OFPBIC_BAD_LEN);
    }
    let mut r = Reader::new(data);
    let mut ins = Instructions::default();
    let mut seen = [false; 7];
    while !r.is_empty() {
        let ty = r.peek_u16(0).ok_or(OfpErr::OFPBIC_BAD_LEN)?;
        let len = r.peek_u16(2).ok_or(OfpErr::OFPBIC_BAD_LEN)? as usize;
        if len < 8 || !len.is_multiple_of(8) || len > r.len() {
            return Err(OfpErr::OFPBIC_BAD_LEN);
        }
        let body = r.bytes(len).ok_or(OfpErr::OFPBIC_BAD_LEN)?;
        let idx = match ty {
            1..=5 => ty as usize,
            6 if (4..=5).contains(&version) => 6,
            0xffff => return Err(OfpErr::OFPBIC_BAD_EXPERIMENTER),
            _ => return Err(OfpErr::OFPBIC_UNKNOWN_INST),
        };
        if seen[idx] {
            return Err(OfpErr::OFPBIC_DUP_INST);
        }
        seen[idx] = true;
        let mut b = Reader::new(body);
        b.skip(4).ok_or(OfpErr::OFPBIC_BAD_LEN)?;
        match ty {
            1 => {
                if len != 8 {
                    return Err(OfpErr::OFPBIC_BAD_LEN);
                }
                ins.goto_table = Some(b.u8().ok_or(OfpErr::OFPBIC_BAD_LEN)?);
            }
            2 => {
                if len != 24 {
                    return Err(OfpErr::OFPBIC_BAD_LEN);
                }
                b.skip(4).ok_or(OfpErr::OFPBIC_BAD_LEN)?;
                let md = b.u64().ok_or(OfpErr::OFPBIC_BAD_LEN)?;
                let mask = b.u64().ok_or(OfpErr::OFPBIC_BAD_LEN)?;
                ins.write_metadata = Some((md & mask, mask));
            }
            3 | 4 => {
                b.skip(4).ok_or(OfpErr::OFPBIC_BAD_LEN)?;
                let mut acts = decode(version, b.rest())?;
                // OpenFlow 1.5 meters are actions; keep them as the
                // instruction they are in earlier versions.
                if ty == 4 {
                    if let Some(pos) = acts.iter().position(|a| matches!(a, Action::Meter(_))) {
                        if let Action::Meter(m) = acts.remove(pos) {
                            ins.meter = Some(m);
                        }
                    }
                }
                if ty == 3 {
                    ins.write = Some(acts);
                } else {
                    ins.apply = acts;
                }
            }
            5 => {
                if len != 8 {
                    return Err(OfpErr::OFPBIC_BAD_LEN);
                }
                ins.clear = true;
            }
            _ => ins.meter = Some(b.u32().ok_or(OfpErr::OFPBIC_BAD_LEN)?),
        }
    }
    if let Some(t) = ins.goto_table {
        if t == 0xff {
            return Err(OfpErr::OFPBIC_BAD_TABLE_ID);
        }
    }
    Ok(ins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_survive_each_version() {
        let acts = vec![
            Action::Output {
                port: 3,
                max_len: 0,
            },
            Action::Output {
                port: port::CONTROLLER,
                max_len: 128,
            },
            Action::StripVlan,
            Action::SetField {
                field: id::IP_DST,
                value: 0x0a00_0001,
                mask: 0xffff_ffff,
                raw: SetFieldRaw::SetField,
            },
            Action::SetField {
                field: id::REG0 + 1,
                value: 0x10,
                mask: 0xf0,
                raw: SetFieldRaw::RegLoad,
            },
            Action::Move {
                src: id::REG0,
                dst: id::REG0 + 2,
                src_ofs: 0,
                dst_ofs: 0,
                n_bits: 32,
            },
            Action::Group(7),
        ];
        for v in 1..=6u8 {
            let mut b = Vec::new();
            encode(v, &acts, true, &mut b);
            let back = decode(v, &b).expect("decodes");
            // OpenFlow 1.0/1.1 carry set-field of ip_dst as set_nw_dst.
            let expect: Vec<Action> = acts
                .iter()
                .map(|a| match a {
                    Action::SetField {
                        field: id::IP_DST,
                        value,
                        ..
                    } if v <= 2 => Action::SetIpv4Dst(*value as u32),
                    Action::SetField {
                        field,
                        value,
                        mask,
                        raw: SetFieldRaw::RegLoad,
                    } if v >= 6 => Action::SetField {
                        field: *field,
                        value: *value,
                        mask: *mask,
                        raw: SetFieldRaw::SetField,
                    },
                    a => a.clone(),
                })
                .collect();
            assert_eq!(back, expect, "version {v}");
        }
    }

    #[test]
    fn reg_load_beyond_the_held_width_is_refused() {
        // NXAST_REG_LOAD (fuzzer finding): tun_metadata16 named with 96
        // bytes, bits 132..147. The flow holds 4 bytes of it.
        let load = |ofs_nbits: u16| {
            let mut a = vec![0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 7];
            a.extend_from_slice(&ofs_nbits.to_be_bytes());
            a.extend_from_slice(&[0x00, 0x01, 0x60, 0x60]);
            a.extend_from_slice(&[0; 8]);
            a
        };
        assert_eq!(
            decode(1, &load(0x210f)),
            Err(OfpErr::OFPBAC_BAD_SET_ARGUMENT)
        );
        // Bits 0..31, which the flow holds, load.
        assert!(decode(1, &load(0x001f)).is_ok());
    }

    #[test]
    fn malformed_actions_get_stock_errors() {
        assert_eq!(decode(1, &[0, 0, 0, 8, 0, 1]), Err(OfpErr::OFPBRC_BAD_LEN));
        assert_eq!(
            decode(1, &[0, 0, 0, 16, 0, 1, 0, 0]),
            Err(OfpErr::OFPBAC_BAD_LEN)
        );
        assert_eq!(
            decode(1, &[0, 0x70, 0, 8, 0, 0, 0, 0]),
            Err(OfpErr::OFPBAC_BAD_TYPE)
        );
        assert_eq!(
            decode(4, &[0, 1, 0, 8, 0, 5, 0, 0]),
            Err(OfpErr::OFPBAC_BAD_TYPE)
        );
        assert_eq!(
            decode(1, &[0, 0, 0, 8, 0xff, 0x80, 0, 0]),
            Err(OfpErr::OFPBAC_BAD_OUT_PORT)
        );
    }
}
