//! Continuations: the NXPINT_CONTINUATION property of NXT_PACKET_IN2 that
//! a `controller(pause)` action sends, and the NXT_RESUME message that
//! hands it back (Nicira subtype 28).
//!
//! The continuation is opaque to controllers but printed by `ovs-ofctl`,
//! so its layout is Open vSwitch's: nested NXCPT_* properties (bridge
//! uuid, data stack, mirrors, conntracked flag, then the frozen actions
//! in groups, each after the table and cookie to restore when those
//! change, the action set, and the datapath input port), every property
//! padded to 8 bytes. Decoding is strict: a malformed property is
//! OFPBPC_BAD_LEN, an unknown one OFPBPC_BAD_TYPE, as stock answers an
//! NXT_RESUME.

use super::actions::{self, Action};
use super::error_table::OfpErr;
use super::fields::Match;
use super::nxm;
use super::wire::{Put, Reader};

/// NXPINT_* (NXT_PACKET_IN2 and NXT_RESUME properties).
pub mod pint {
    pub const PACKET: u16 = 0;
    pub const FULL_LEN: u16 = 1;
    pub const BUFFER_ID: u16 = 2;
    pub const TABLE_ID: u16 = 3;
    pub const COOKIE: u16 = 4;
    pub const REASON: u16 = 5;
    pub const METADATA: u16 = 6;
    pub const USERDATA: u16 = 7;
    pub const CONTINUATION: u16 = 8;
}

/// NXCPT_* (inside NXPINT_CONTINUATION).
mod cpt {
    pub const BRIDGE: u16 = 0x8000;
    pub const STACK: u16 = 0x8001;
    pub const MIRRORS: u16 = 0x8002;
    pub const CONNTRACKED: u16 = 0x8003;
    pub const TABLE_ID: u16 = 0x8004;
    pub const COOKIE: u16 = 0x8005;
    pub const ACTIONS: u16 = 0x8006;
    pub const ACTION_SET: u16 = 0x8007;
    pub const ODP_PORT: u16 = 0x8008;
}

/// A run of frozen actions and the table and cookie they run with
/// (`None`: those of the level that paused, i.e. the leading run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionGroup {
    pub unroll: Option<(u8, u64)>,
    pub actions: Vec<Action>,
}

/// What a paused pipeline needs to resume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Continuation {
    /// The bridge's uuid (stock's ofproto uuid; all zeros: none).
    pub bridge: [u8; 16],
    /// Data stack entries (`push`/`pop`), top first, as on the wire.
    pub stack: Vec<Vec<u8>>,
    pub mirrors: u32,
    pub conntracked: bool,
    pub actions: Vec<ActionGroup>,
    pub action_set: Vec<Action>,
    /// The datapath port the packet came in on (0: not known).
    pub odp_port: u32,
}

/// Starts a property of type `ty`; returns its offset for [`end`].
fn begin(m: &mut Vec<u8>, ty: u16) -> usize {
    let at = m.len();
    m.put_u16(ty);
    m.put_u16(0);
    at
}

/// Starts a nested property (its payload starts 8-aligned).
fn begin_nested(m: &mut Vec<u8>, ty: u16) -> usize {
    let at = begin(m, ty);
    m.put_zeros(4);
    at
}

/// Sets the length of the property at `at` and pads it to 8 bytes.
fn end(m: &mut Vec<u8>, at: usize) {
    let len = (m.len() - at).min(u16::MAX as usize) as u16;
    m.set_u16(at + 2, len);
    m.pad_to(8);
}

/// Appends a property with payload `body`.
pub fn put_prop(m: &mut Vec<u8>, ty: u16, body: &[u8]) {
    let at = begin(m, ty);
    m.extend_from_slice(body);
    end(m, at);
}

fn put_actions_prop(m: &mut Vec<u8>, ty: u16, version: u8, list: &[Action]) {
    if list.is_empty() {
        return;
    }
    let at = begin_nested(m, ty);
    actions::encode(version, list, false, m);
    end(m, at);
}

impl Continuation {
    /// Appends the NXPINT_CONTINUATION property (nothing when it would
    /// be empty) for OpenFlow `version`.
    pub fn encode(&self, version: u8, m: &mut Vec<u8>) {
        let outer = begin_nested(m, pint::CONTINUATION);
        let inner = m.len();
        if self.bridge != [0; 16] {
            put_prop(m, cpt::BRIDGE, &self.bridge);
        }
        for s in &self.stack {
            put_prop(m, cpt::STACK, s);
        }
        if self.mirrors != 0 {
            put_prop(m, cpt::MIRRORS, &self.mirrors.to_be_bytes());
        }
        if self.conntracked {
            put_prop(m, cpt::CONNTRACKED, &[]);
        }
        let (mut table, mut cookie) = (0u8, 0u64);
        for g in &self.actions {
            if let Some((t, c)) = g.unroll {
                if t != table {
                    put_prop(m, cpt::TABLE_ID, &[t]);
                    table = t;
                }
                if c != cookie {
                    let at = begin(m, cpt::COOKIE);
                    m.put_zeros(4);
                    m.put_u64(c);
                    end(m, at);
                    cookie = c;
                }
            }
            put_actions_prop(m, cpt::ACTIONS, version, &g.actions);
        }
        put_actions_prop(m, cpt::ACTION_SET, version, &self.action_set);
        if self.odp_port != 0 {
            put_prop(m, cpt::ODP_PORT, &self.odp_port.to_be_bytes());
        }
        if m.len() > inner {
            end(m, outer);
        } else {
            m.truncate(outer);
        }
    }

    /// Decodes the payload of an NXPINT_CONTINUATION property (after its
    /// 8-byte header) of an OpenFlow `version` message.
    pub fn decode(version: u8, payload: &[u8]) -> Result<Continuation, OfpErr> {
        let mut c = Continuation::default();
        let (mut table, mut cookie) = (0u8, 0u64);
        let mut r = Reader::new(payload);
        while !r.is_empty() {
            let (ty, body) = pull_prop(&mut r)?;
            match ty {
                cpt::BRIDGE => {
                    c.bridge = body.try_into().map_err(|_| OfpErr::OFPBPC_BAD_LEN)?;
                }
                cpt::STACK => {
                    // At most a subvalue (128 bytes), as stock checks.
                    if body.len() > 128 {
                        return Err(OfpErr::OFPBPC_BAD_LEN);
                    }
                    c.stack.push(body.to_vec());
                }
                cpt::MIRRORS => c.mirrors = be_u32(body)?,
                cpt::CONNTRACKED => c.conntracked = true,
                cpt::TABLE_ID => table = *body.first().ok_or(OfpErr::OFPBPC_BAD_LEN)?,
                cpt::COOKIE => cookie = be64_padded(body)?,
                cpt::ACTIONS => c.actions.push(ActionGroup {
                    unroll: Some((table, cookie)),
                    actions: nested_actions(version, body)?,
                }),
                cpt::ACTION_SET => c.action_set = nested_actions(version, body)?,
                cpt::ODP_PORT => c.odp_port = be_u32(body)?,
                EXPERIMENTER => return Err(OfpErr::OFPBPC_BAD_EXP_TYPE),
                _ => return Err(OfpErr::OFPBPC_BAD_TYPE),
            }
        }
        Ok(c)
    }
}

/// Pulls one property: its type and its payload (after the 4-byte
/// header, padding excluded). The padded length must fit.
fn pull_prop<'a>(r: &mut Reader<'a>) -> Result<(u16, &'a [u8]), OfpErr> {
    let e = OfpErr::OFPBPC_BAD_LEN;
    let ty = r.peek_u16(0).ok_or(e)?;
    let len = r.peek_u16(2).ok_or(e)? as usize;
    // Experimenter properties have a 12-byte header.
    let min = if ty == EXPERIMENTER { 12 } else { 4 };
    if len < min || len.next_multiple_of(8) > r.len() {
        return Err(e);
    }
    let whole = r.bytes(len.next_multiple_of(8)).ok_or(e)?;
    Ok((ty, whole.get(4..len).ok_or(e)?))
}

/// An experimenter property's type: none is known here.
const EXPERIMENTER: u16 = 0xffff;

/// A u32 payload (stock accepts a longer one and reads the first four).
fn be_u32(b: &[u8]) -> Result<u32, OfpErr> {
    let v: [u8; 4] = b
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or(OfpErr::OFPBPC_BAD_LEN)?;
    Ok(u32::from_be_bytes(v))
}

/// A be64 property payload: 4 bytes of padding, then the value.
fn be64_padded(b: &[u8]) -> Result<u64, OfpErr> {
    if b.len() != 12 {
        return Err(OfpErr::OFPBPC_BAD_LEN);
    }
    let v: [u8; 8] = b
        .get(4..12)
        .and_then(|s| s.try_into().ok())
        .ok_or(OfpErr::OFPBPC_BAD_LEN)?;
    Ok(u64::from_be_bytes(v))
}

/// The actions of a nested property (4 bytes of padding first).
fn nested_actions(version: u8, b: &[u8]) -> Result<Vec<Action>, OfpErr> {
    let list = b.get(4..).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
    actions::decode(version, list)
}

/// An NXT_RESUME, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub packet: Vec<u8>,
    pub table_id: u8,
    pub cookie: u64,
    pub reason: u8,
    pub metadata: Match,
    pub continuation: Continuation,
}

/// Decodes the properties of an NXT_RESUME (after the 16-byte Nicira
/// header) of OpenFlow `version`, with stock's errors: a bad property is
/// OFPBPC_BAD_LEN or OFPBPC_BAD_TYPE, a missing packet or a full length
/// below the packet's OFPBRC_BAD_LEN.
pub fn decode_resume(version: u8, body: &[u8]) -> Result<Resume, OfpErr> {
    let mut out = Resume {
        packet: Vec::new(),
        table_id: 0,
        cookie: u64::MAX,
        reason: 0,
        metadata: Match::catchall(),
        continuation: Continuation::default(),
    };
    let mut full_len = 0u32;
    let mut r = Reader::new(body);
    while !r.is_empty() {
        let (ty, b) = pull_prop(&mut r)?;
        match ty {
            pint::PACKET => out.packet = b.to_vec(),
            pint::FULL_LEN => full_len = be_u32(b)?,
            pint::BUFFER_ID => {
                be_u32(b)?;
            }
            pint::TABLE_ID => out.table_id = *b.first().ok_or(OfpErr::OFPBPC_BAD_LEN)?,
            pint::COOKIE => out.cookie = be64_padded(b)?,
            pint::REASON => out.reason = *b.first().ok_or(OfpErr::OFPBPC_BAD_LEN)?,
            pint::METADATA => {
                let mut mr = Reader::new(b);
                out.metadata = nxm::decode(&mut mr, b.len(), false, None)?;
            }
            pint::USERDATA => {}
            pint::CONTINUATION => {
                let inner = b.get(4..).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                out.continuation = Continuation::decode(version, inner)?;
            }
            EXPERIMENTER => return Err(OfpErr::OFPBPC_BAD_EXP_TYPE),
            _ => return Err(OfpErr::OFPBPC_BAD_TYPE),
        }
    }
    if out.packet.is_empty() || (full_len != 0 && (full_len as usize) < out.packet.len()) {
        return Err(OfpErr::OFPBRC_BAD_LEN);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Continuation {
        Continuation {
            bridge: [7; 16],
            stack: Vec::new(),
            mirrors: 0,
            conntracked: true,
            actions: vec![
                ActionGroup {
                    unroll: None,
                    actions: vec![Action::Output {
                        port: 2,
                        max_len: 0,
                    }],
                },
                ActionGroup {
                    unroll: Some((3, 0x55)),
                    actions: vec![Action::Output {
                        port: 9,
                        max_len: 0,
                    }],
                },
            ],
            action_set: vec![Action::Output {
                port: 4,
                max_len: 0,
            }],
            odp_port: 1,
        }
    }

    #[test]
    fn continuation_round_trips_with_stock_grouping() {
        let c = sample();
        let mut m = Vec::new();
        c.encode(4, &mut m);
        assert_eq!(m.len() % 8, 0);
        let (ty, payload) = pull_prop(&mut Reader::new(&m)).expect("outer property");
        assert_eq!(ty, pint::CONTINUATION);
        let back = Continuation::decode(4, &payload[4..]).expect("decodes");
        // Decoding names the leading run's table and cookie (0, 0).
        let mut want = c.clone();
        want.actions[0].unroll = Some((0, 0));
        assert_eq!(back, want);
    }

    #[test]
    fn empty_continuation_is_omitted_and_bad_properties_are_refused() {
        let mut m = Vec::new();
        Continuation::default().encode(4, &mut m);
        assert!(m.is_empty());
        // A property longer than the data.
        let bad = [0x80, 0x03, 0x00, 0x10, 0, 0, 0, 0];
        assert_eq!(Continuation::decode(4, &bad), Err(OfpErr::OFPBPC_BAD_LEN));
        // An unknown type.
        let unknown = [0x80, 0x77, 0x00, 0x04, 0, 0, 0, 0];
        assert_eq!(
            Continuation::decode(4, &unknown),
            Err(OfpErr::OFPBPC_BAD_TYPE)
        );
        // A resume without a packet.
        assert_eq!(decode_resume(4, &[]), Err(OfpErr::OFPBRC_BAD_LEN));
        // Truncated and odd inputs never panic.
        let mut m = Vec::new();
        sample().encode(4, &mut m);
        for n in 0..m.len() {
            let _ = decode_resume(4, &m[..n]);
            let _ = Continuation::decode(4, &m[..n]);
        }
    }
}
