//! Groups: the group table's entries, the group_mod message and the group
//! description, statistics and features replies of OpenFlow 1.1 to 1.5.

use super::actions::{self, Action};
use super::error_table::OfpErr;
use super::wire::{Put, Reader};

/// Largest group id a group may have (OFPG_MAX).
pub const MAX_ID: u32 = 0xffff_ff00;
/// OFPG_ALL: every group (delete, stats).
pub const ALL: u32 = 0xffff_fffc;
/// OFPG_ANY / OFPP_ANY: no watch group / port.
pub const ANY: u32 = 0xffff_ffff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub id: u32,
    pub weight: u16,
    pub watch_port: u32,
    pub watch_group: u32,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: u32,
    /// 0 all, 1 select, 2 indirect, 3 fast failover.
    pub group_type: u8,
    pub buckets: Vec<Bucket>,
}

/// A decoded group_mod.
#[derive(Debug, Clone)]
pub struct GroupMod {
    /// 0 add, 1 modify, 2 delete, 3 insert bucket, 4 remove bucket,
    /// 0x8000 add-or-modify.
    pub command: u16,
    pub group: Group,
    /// OpenFlow 1.5 bucket commands: where to insert / which to remove.
    pub command_bucket_id: u32,
}

/// Whether `version` carries groups in OpenFlow 1.5's layout (bucket ids
/// and properties): OpenFlow 1.5 itself and OpenFlow 1.0, whose Nicira
/// group messages (NXT_GROUP_MOD, NXST_GROUP_DESC) borrow that layout.
pub fn of15_layout(version: u8) -> bool {
    version == 1 || version >= 6
}

fn bad() -> OfpErr {
    OfpErr::OFPBRC_BAD_LEN
}

/// Decodes a group_mod body (after the OpenFlow header).
pub fn decode_mod(version: u8, body: &[u8]) -> Result<GroupMod, OfpErr> {
    let mut r = Reader::new(body);
    let command = r.u16().ok_or_else(bad)?;
    let group_type = r.u8().ok_or_else(bad)?;
    r.skip(1).ok_or_else(bad)?;
    let id = r.u32().ok_or_else(bad)?;
    let mut command_bucket_id = ANY;
    let buckets = if of15_layout(version) {
        let blen = r.u16().ok_or_else(bad)? as usize;
        r.skip(2).ok_or_else(bad)?;
        command_bucket_id = r.u32().ok_or_else(bad)?;
        let b = r.bytes(blen).ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        decode_buckets15(version, group_type, b)?
    } else {
        decode_buckets11(version, r.rest())?
    };
    Ok(GroupMod {
        command,
        group: Group {
            id,
            group_type,
            buckets,
        },
        command_bucket_id,
    })
}

fn decode_buckets11(version: u8, data: &[u8]) -> Result<Vec<Bucket>, OfpErr> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = r.peek_u16(0).ok_or(OfpErr::OFPGMFC_BAD_BUCKET)? as usize;
        if len < 16 || !len.is_multiple_of(8) || len > r.len() {
            return Err(OfpErr::OFPGMFC_BAD_BUCKET);
        }
        let b = r.bytes(len).ok_or(OfpErr::OFPGMFC_BAD_BUCKET)?;
        let mut br = Reader::new(b);
        br.skip(2).ok_or_else(bad)?;
        let weight = br.u16().ok_or_else(bad)?;
        let watch_port = br.u32().ok_or_else(bad)?;
        let watch_group = br.u32().ok_or_else(bad)?;
        br.skip(4).ok_or_else(bad)?;
        let actions = actions::decode(version, br.rest())?;
        out.push(Bucket {
            id: out.len() as u32,
            weight,
            watch_port,
            watch_group,
            actions,
        });
    }
    Ok(out)
}

/// OpenFlow 1.5's buckets (also OpenFlow 1.0's, in NXT_GROUP_MOD),
/// checked in stock's order with stock's errors.
fn decode_buckets15(version: u8, group_type: u8, data: &[u8]) -> Result<Vec<Bucket>, OfpErr> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    let bucket = OfpErr::OFPGMFC_BAD_BUCKET;
    while !r.is_empty() {
        let len = r.peek_u16(0).ok_or(bucket)? as usize;
        let alen = r.peek_u16(2).ok_or(bucket)? as usize;
        if r.len() < 8 || len < 8 || len > r.len() || alen > len - 8 {
            return Err(bucket);
        }
        let b = r.bytes(len).ok_or(bucket)?;
        let mut br = Reader::new(b);
        br.skip(4).ok_or(bucket)?;
        let id = br.u32().ok_or(bucket)?;
        let actions = actions::decode(version, br.bytes(alen).ok_or(bucket)?)?;
        // A select group's bucket weighs 1 unless it says otherwise.
        let mut weight = u16::from(group_type == 1);
        let (mut watch_port, mut watch_group) = (ANY, ANY);
        let plen_err = OfpErr::OFPBPC_BAD_LEN;
        while !br.is_empty() {
            let ty = br.peek_u16(0).ok_or(plen_err)?;
            let plen = br.peek_u16(2).ok_or(plen_err)? as usize;
            if plen < 4 || plen.next_multiple_of(8) > br.len() {
                return Err(plen_err);
            }
            let whole = br.bytes(plen.next_multiple_of(8)).ok_or(plen_err)?;
            let payload = whole.get(4..plen).ok_or(plen_err)?;
            // Stock takes a 16-bit value from any payload long enough (it
            // sends it padded to 4 bytes), a 32-bit one only exactly.
            let exact = |n: usize| {
                if payload.len() == n || (n == 2 && payload.len() > 2) {
                    Ok(Reader::new(payload))
                } else {
                    Err(plen_err)
                }
            };
            match ty {
                0 => weight = exact(2)?.u16().ok_or(plen_err)?,
                1 => watch_port = exact(4)?.u32().ok_or(plen_err)?,
                2 => watch_group = exact(4)?.u32().ok_or(plen_err)?,
                0xffff => return Err(OfpErr::OFPBPC_BAD_EXPERIMENTER),
                _ => return Err(OfpErr::OFPBPC_BAD_TYPE),
            }
        }
        if id > MAX_ID {
            return Err(bucket);
        }
        out.push(Bucket {
            id,
            weight,
            watch_port,
            watch_group,
            actions,
        });
    }
    Ok(out)
}

/// Appends one group description entry.
pub fn encode_desc(version: u8, g: &Group, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u16(0);
    out.put_u8(g.group_type);
    out.put_u8(0);
    out.put_u32(g.id);
    if of15_layout(version) {
        let blen_at = out.len();
        out.put_u16(0);
        out.put_zeros(6);
        let bstart = out.len();
        for b in &g.buckets {
            let s = out.len();
            out.put_u16(0);
            out.put_u16(0);
            out.put_u32(b.id);
            let astart = out.len();
            // A bucket has no match: OpenFlow 1.0's set-vlan actions
            // push a tag in later versions.
            actions::encode(version, &b.actions, false, out);
            let alen = out.len() - astart;
            out.set_u16(s + 2, alen as u16);
            if g.group_type == 1 {
                out.put_u16(0);
                out.put_u16(8);
                out.put_u16(b.weight);
                out.put_u16(0);
            }
            if g.group_type == 3 {
                out.put_u16(1);
                out.put_u16(8);
                out.put_u32(b.watch_port);
                out.put_u16(2);
                out.put_u16(8);
                out.put_u32(b.watch_group);
            }
            let l = out.len() - s;
            out.set_u16(s, l as u16);
        }
        let blen = out.len() - bstart;
        out.set_u16(blen_at, blen as u16);
    } else {
        for b in &g.buckets {
            let s = out.len();
            out.put_u16(0);
            out.put_u16(b.weight);
            out.put_u32(b.watch_port);
            out.put_u32(b.watch_group);
            out.put_zeros(4);
            // A bucket has no match: OpenFlow 1.0's set-vlan actions
            // push a tag in later versions.
            actions::encode(version, &b.actions, false, out);
            let l = out.len() - s;
            out.set_u16(s, l as u16);
        }
    }
    let len = out.len() - start;
    out.set_u16(start, len as u16);
}

/// Appends one group statistics entry (counters are kept by the datapath
/// and are zero until translation exists).
pub fn encode_stats(
    version: u8,
    g: &Group,
    ref_count: u32,
    age: std::time::Duration,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.put_u16(0);
    out.put_zeros(2);
    out.put_u32(g.id);
    out.put_u32(ref_count);
    out.put_zeros(4);
    out.put_u64(0);
    out.put_u64(0);
    // OpenFlow 1.0's NXST_GROUP uses OpenFlow 1.3's entry, with duration.
    if version >= 4 || version == 1 {
        out.put_u32(age.as_secs() as u32);
        out.put_u32(age.subsec_millis() * 1_000_000);
    }
    for _ in &g.buckets {
        out.put_u64(0);
        out.put_u64(0);
    }
    let len = out.len() - start;
    out.set_u16(start, len as u16);
}

/// The group features reply body: all four types, chaining, liveness and
/// weights, and the action set of `table_features`.
pub fn encode_features(version: u8, out: &mut Vec<u8>) {
    out.put_u32(0xf);
    out.put_u32(0x7);
    for _ in 0..4 {
        out.put_u32(MAX_ID);
    }
    // Every action each version's bitmap can name (OpenFlow 1.0: output
    // through enqueue, bits 0 to 11).
    let acts: u32 = if version == 1 {
        0xfff
    } else if version == 2 {
        0x01ff_e7ff
    } else {
        0x03ff_8001
    };
    for _ in 0..4 {
        out.put_u32(acts);
    }
}
