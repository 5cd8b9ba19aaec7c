//! The bridge's tunnel option (TLV) map: which Geneve option
//! (class, type, length) each `tun_metadataN` field stands for.
//!
//! Nicira extensions NXT_TLV_TABLE_MOD (24), NXT_TLV_TABLE_REQUEST (25)
//! and NXT_TLV_TABLE_REPLY (26), as `ovs-ofctl add-tlv-map`,
//! `del-tlv-map` and `dump-tlv-map` use them. Like Open vSwitch, the map
//! has 64 fields sharing 256 bytes of option space handed out in 4-byte
//! units, and a modification is all or nothing: the first bad mapping
//! leaves the table as it was.

use super::*;
use crate::openflow::fields::is_tun_metadata;

/// Number of `tun_metadataN` fields.
pub const TLV_FIELDS: usize = 64;
/// Option space shared by the mapped options, in bytes.
pub const TLV_SPACE: u32 = 256;
/// Longest option body a Geneve option can carry.
const TLV_MAX_LEN: u8 = 124;

const NXT_TLV_TABLE_MOD: u32 = 24;
const NXT_TLV_TABLE_REQUEST: u32 = 25;
const NXT_TLV_TABLE_REPLY: u32 = 26;

const CMD_ADD: u16 = 0;
const CMD_DELETE: u16 = 1;
const CMD_CLEAR: u16 = 2;

/// One mapped Geneve option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvOption {
    pub class: u16,
    pub opt_type: u8,
    /// Option body length in bytes (a multiple of 4, at most 124).
    pub len: u8,
}

/// The map of one bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvTable {
    pub fields: [Option<TlvOption>; TLV_FIELDS],
}

impl Default for TlvTable {
    fn default() -> Self {
        TlvTable {
            fields: [None; TLV_FIELDS],
        }
    }
}

impl TlvTable {
    /// Bytes of option space the mapped options take.
    pub fn used_space(&self) -> u32 {
        self.fields.iter().flatten().map(|o| u32::from(o.len)).sum()
    }

    /// The field index `(class, type)` is mapped to.
    pub fn index_of(&self, class: u16, opt_type: u8) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| matches!(f, Some(o) if o.class == class && o.opt_type == opt_type))
    }

    fn add(&mut self, index: usize, opt: TlvOption) -> Result<(), OfpErr> {
        let slot = self
            .fields
            .get(index)
            .ok_or(OfpErr::NXTTMFC_BAD_FIELD_IDX)?;
        if slot.is_some() {
            return Err(OfpErr::NXTTMFC_ALREADY_MAPPED);
        }
        if self.index_of(opt.class, opt.opt_type).is_some() {
            return Err(OfpErr::NXTTMFC_DUP_ENTRY);
        }
        // Space goes in 4-byte units and may be split, so an option fits
        // exactly when enough units are free.
        if self.used_space() + u32::from(opt.len) > TLV_SPACE {
            return Err(OfpErr::NXTTMFC_TABLE_FULL);
        }
        self.fields[index] = Some(opt);
        Ok(())
    }
}

/// A decoded NXT_TLV_TABLE_MOD.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TableMod {
    command: u16,
    maps: Vec<(usize, TlvOption)>,
}

/// Decodes the body after the Nicira header (vendor and subtype), with
/// the checks and error order of Open vSwitch's decoder.
fn decode_mod(body: &[u8]) -> Result<TableMod, OfpErr> {
    let mut r = Reader::new(body);
    let command = r.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
    r.skip(6).ok_or(OfpErr::OFPBRC_BAD_LEN)?;
    if !r.len().is_multiple_of(8) {
        return Err(OfpErr::OFPBRC_BAD_LEN);
    }
    if command > CMD_CLEAR {
        return Err(OfpErr::NXTTMFC_BAD_COMMAND);
    }
    let mut maps = Vec::new();
    while r.len() >= 8 {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let class = r.u16().ok_or(e)?;
        let opt_type = r.u8().ok_or(e)?;
        let len = r.u8().ok_or(e)?;
        let index = r.u16().ok_or(e)?;
        r.skip(2).ok_or(e)?;
        if !len.is_multiple_of(4) || len > TLV_MAX_LEN {
            return Err(OfpErr::NXTTMFC_BAD_OPT_LEN);
        }
        if usize::from(index) >= TLV_FIELDS {
            return Err(OfpErr::NXTTMFC_BAD_FIELD_IDX);
        }
        maps.push((
            usize::from(index),
            TlvOption {
                class,
                opt_type,
                len,
            },
        ));
    }
    Ok(TableMod { command, maps })
}

/// Applies a modification to a copy of `old`: the new table, or the
/// error of the first mapping that fails.
fn apply(old: &TlvTable, m: &TableMod) -> Result<TlvTable, OfpErr> {
    let mut t = old.clone();
    match m.command {
        CMD_ADD => {
            for &(index, opt) in &m.maps {
                t.add(index, opt)?;
            }
        }
        CMD_DELETE => {
            for &(index, _) in &m.maps {
                if let Some(slot) = t.fields.get_mut(index) {
                    *slot = None;
                }
            }
        }
        _ => t = TlvTable::default(),
    }
    Ok(t)
}

/// NXT_TLV_TABLE_REPLY for `t`.
fn encode_reply(t: &TlvTable, version: u8, xid: u32) -> Vec<u8> {
    let mut m = start(version, 4, xid);
    m.put_u32(NX_VENDOR);
    m.put_u32(NXT_TLV_TABLE_REPLY);
    m.put_u32(TLV_SPACE);
    m.put_u16(TLV_FIELDS as u16);
    m.put_zeros(10);
    for (index, o) in t.fields.iter().enumerate() {
        if let Some(o) = o {
            m.put_u16(o.class);
            m.put_u8(o.opt_type);
            m.put_u8(o.len);
            m.put_u16(index as u16);
            m.put_zeros(2);
        }
    }
    finish(m)
}

impl Switch {
    /// Nicira TLV table messages (`subtype` 24 or 25, `body` after the
    /// subtype); None for other subtypes.
    pub(crate) fn tlv_message(
        &mut self,
        conn: &ConnState,
        h: Header,
        subtype: u32,
        body: &[u8],
    ) -> Option<Res> {
        match subtype {
            NXT_TLV_TABLE_MOD => {
                if conn.role == ROLE_SECONDARY {
                    return Some(Err(OfpErr::OFPBRC_IS_SECONDARY));
                }
                Some(
                    decode_mod(body)
                        .and_then(|m| {
                            // A mapping flows use stays (stock refuses
                            // deleting it while they exist).
                            let in_use = match m.command {
                                CMD_DELETE => m.maps.iter().fold(0u64, |a, (i, _)| {
                                    a | 1u64.checked_shl(*i as u32).unwrap_or(0)
                                }),
                                CMD_CLEAR => u64::MAX,
                                _ => 0,
                            };
                            if in_use != 0 && self.tlv_fields_in_use() & in_use != 0 {
                                return Err(OfpErr::NXTTMFC_INVALID_TLV_DEL);
                            }
                            apply(&self.tlv_table, &m)
                        })
                        .map(|t| {
                            self.tlv_table = t;
                            Vec::new()
                        }),
                )
            }
            NXT_TLV_TABLE_REQUEST => Some(if body.is_empty() {
                Ok(vec![encode_reply(&self.tlv_table, h.version, h.xid)])
            } else {
                Err(OfpErr::OFPBRC_BAD_LEN)
            }),
            _ => None,
        }
    }
}

/// The key keeps 4 bytes per `tun_metadataN` field (see
/// `openflow::fields`), so only options of that length can be used.
const KEY_OPTION_LEN: u8 = 4;

/// The `tun_metadataN` fields a flow matches, writes or reads, as bits
/// (bit N for tun_metadataN).
fn fields_used(m: &Match, ins: &Instructions) -> u64 {
    let bit = |f: usize| -> u64 {
        if is_tun_metadata(f) {
            1 << (f - crate::openflow::fields::id::TUN_METADATA0)
        } else {
            0
        }
    };
    fn walk(acts: &[actions::Action], bit: &dyn Fn(usize) -> u64) -> u64 {
        acts.iter()
            .map(|a| match a {
                actions::Action::SetField { field, .. } => bit(*field),
                actions::Action::Move { src, dst, .. } => bit(*src) | bit(*dst),
                actions::Action::NxNested { actions, .. } => walk(actions, bit),
                _ => 0,
            })
            .fold(0, |a, b| a | b)
    }
    // The tun_metadata fields lie side by side in the key: a flow that
    // matches none of them (nearly all) costs one scan of their mask.
    use crate::openflow::fields::{id, range};
    let all = range(id::TUN_METADATA0).start..range(id::TUN_METADATA63).end;
    let matched = if m.mask.get(all).is_some_and(|b| b.iter().any(|&x| x != 0)) {
        (id::TUN_METADATA0..=id::TUN_METADATA63)
            .filter(|&f| m.is_set(f))
            .map(bit)
            .fold(0, |a, b| a | b)
    } else {
        0
    };
    matched | walk(&ins.apply, &bit) | walk(ins.write.as_deref().unwrap_or(&[]), &bit)
}

impl TlvTable {
    /// Checks that every `tun_metadataN` a flow matches or writes is
    /// mapped (Open vSwitch: NXFMFC_INVALID_TLV_FIELD otherwise). A field
    /// mapped to an option longer than 4 bytes is refused the same way:
    /// the key has no room for it.
    pub fn check_flow_fields(&self, m: &Match, ins: &Instructions) -> Result<(), OfpErr> {
        let used = fields_used(m, ins);
        for (i, slot) in self.fields.iter().enumerate() {
            if used & (1 << i) == 0 {
                continue;
            }
            match slot {
                Some(o) if o.len == KEY_OPTION_LEN => {}
                Some(o) => {
                    log::warn!(
                        target: "tun_metadata",
                        "tun_metadata{i} is mapped to a {}-byte option; only 4-byte options can be used in flows",
                        o.len
                    );
                    return Err(OfpErr::NXFMFC_INVALID_TLV_FIELD);
                }
                None => return Err(OfpErr::NXFMFC_INVALID_TLV_FIELD),
            }
        }
        Ok(())
    }
}

impl Switch {
    /// The `tun_metadataN` fields the bridge's flows use, as bits.
    fn tlv_fields_in_use(&self) -> u64 {
        self.tables
            .iter()
            .flat_map(|t| t.iter())
            .map(|(m, _, r)| fields_used(&m, &r.instructions))
            .fold(0, |a, b| a | b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_used_sees_every_tun_metadata_match() {
        use crate::openflow::fields::{id, range};
        let ins = Instructions::default();
        assert_eq!(fields_used(&Match::catchall(), &ins), 0);
        for n in 0..64 {
            let mut m = Match::catchall();
            let r = range(id::TUN_METADATA0 + n);
            m.mask[r.end - 1] = 1;
            assert_eq!(fields_used(&m, &ins), 1 << n, "tun_metadata{n}");
        }
    }

    fn body(command: u16, maps: &[(u16, u8, u8, u16)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&command.to_be_bytes());
        b.extend_from_slice(&[0; 6]);
        for &(class, t, len, index) in maps {
            b.extend_from_slice(&class.to_be_bytes());
            b.extend_from_slice(&[t, len]);
            b.extend_from_slice(&index.to_be_bytes());
            b.extend_from_slice(&[0, 0]);
        }
        b
    }

    fn run(t: &TlvTable, b: &[u8]) -> Result<TlvTable, OfpErr> {
        decode_mod(b).and_then(|m| apply(t, &m))
    }

    #[test]
    fn flows_may_use_only_mapped_four_byte_fields() {
        use crate::openflow::actions::{Action, SetFieldRaw};
        use crate::openflow::fields::id;
        let t = run(
            &TlvTable::default(),
            &body(CMD_ADD, &[(0xffff, 0, 4, 0), (0xffff, 1, 8, 1)]),
        )
        .unwrap();
        let matching = |f: usize| {
            let mut m = Match::catchall();
            m.set_exact(f, 1);
            m
        };
        let none = Instructions::default();
        assert_eq!(
            t.check_flow_fields(&matching(id::TUN_METADATA0), &none),
            Ok(())
        );
        // Mapped, but 8 bytes: the key has 4.
        let err = Err(OfpErr::NXFMFC_INVALID_TLV_FIELD);
        assert_eq!(
            t.check_flow_fields(&matching(id::TUN_METADATA0 + 1), &none),
            err
        );
        assert_eq!(
            t.check_flow_fields(&matching(id::TUN_METADATA0 + 2), &none),
            err
        );
        // Writes count, nested ones too.
        let set = |f: usize| Action::SetField {
            field: f,
            value: 1,
            mask: 0xffff_ffff,
            raw: SetFieldRaw::SetField,
        };
        let apply = |a: Vec<Action>| Instructions {
            apply: a,
            ..Default::default()
        };
        let any = Match::catchall();
        assert_eq!(
            t.check_flow_fields(&any, &apply(vec![set(id::TUN_METADATA0)])),
            Ok(())
        );
        assert_eq!(
            t.check_flow_fields(&any, &apply(vec![set(id::TUN_METADATA63)])),
            err
        );
        let nested = Action::NxNested {
            subtype: 42,
            head: Vec::new(),
            actions: vec![set(id::TUN_METADATA0 + 5)],
        };
        assert_eq!(t.check_flow_fields(&any, &apply(vec![nested])), err);
        let moved = Action::Move {
            src: id::TUN_METADATA0 + 7,
            dst: id::REG0,
            src_ofs: 0,
            dst_ofs: 0,
            n_bits: 8,
        };
        assert_eq!(t.check_flow_fields(&any, &apply(vec![moved])), err);
    }

    #[test]
    fn add_delete_and_errors() {
        let t = TlvTable::default();
        let t = run(&t, &body(CMD_ADD, &[(0xffff, 0, 4, 0), (0xffff, 1, 8, 3)])).unwrap();
        assert_eq!(t.used_space(), 12);
        assert_eq!(t.index_of(0xffff, 1), Some(3));
        for (entry, err) in [
            ((1, 0, 4, 0), OfpErr::NXTTMFC_ALREADY_MAPPED),
            ((0xffff, 0, 4, 1), OfpErr::NXTTMFC_DUP_ENTRY),
            ((1, 0, 5, 1), OfpErr::NXTTMFC_BAD_OPT_LEN),
            ((1, 0, 4, 64), OfpErr::NXTTMFC_BAD_FIELD_IDX),
        ] {
            assert_eq!(run(&t, &body(CMD_ADD, &[entry])), Err(err), "{entry:?}");
        }
        assert_eq!(run(&t, &body(3, &[])), Err(OfpErr::NXTTMFC_BAD_COMMAND));
        let full: Vec<_> = (0..3).map(|i| (2, i as u8, 124, 10 + i)).collect();
        assert_eq!(
            run(&t, &body(CMD_ADD, &full)),
            Err(OfpErr::NXTTMFC_TABLE_FULL)
        );
        let t = run(&t, &body(CMD_DELETE, &[(0, 0, 0, 3), (0, 0, 0, 9)])).unwrap();
        assert_eq!(t.used_space(), 4);
        let t = run(&t, &body(CMD_CLEAR, &[])).unwrap();
        assert_eq!(t, TlvTable::default());
        assert_eq!(
            decode_mod(&[0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(OfpErr::OFPBRC_BAD_LEN)
        );
    }
}
