//! What controllers exchange beyond flows: packet-out and packet-in,
//! flow-removed, roles and the asynchronous-message configuration.

use super::*;

/// A packet a controller asked the switch to send (PACKET_OUT), for the
/// datapath to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOut {
    /// The port the packet is treated as coming from (OFPP_CONTROLLER,
    /// LOCAL or NONE allowed).
    pub in_port: u16,
    pub actions: Vec<actions::Action>,
    pub packet: Vec<u8>,
}

/// [`PacketIn::reason`] of a table miss the default table-miss config
/// sends (Open vSwitch's OFPR_IMPLICIT_MISS): no_match, for connections
/// before OpenFlow 1.3 only.
pub const REASON_IMPLICIT_MISS: u8 = 7;

/// [`PacketIn::reason`] of a controller action in a table-miss rule
/// (OFPR_EXPLICIT_MISS): action before OpenFlow 1.3, no_match after.
pub const REASON_EXPLICIT_MISS: u8 = 6;

/// NXT_SET_PACKET_IN_FORMAT's format for NXT_PACKET_IN2.
const NXPIF_NXT_PACKET_IN2: u32 = 2;

/// NXT_PACKET_IN2 (Nicira subtype 30): properties for the packet, the
/// table, the cookie, the reason and the metadata (OXM from OpenFlow 1.2
/// on, NXM before), each padded to 8 bytes. The whole packet goes, so
/// there is no full-length or buffer property.
fn packet_in2_msg(v: u8, pi: &PacketIn, reason: u8) -> Vec<u8> {
    fn prop(m: &mut Vec<u8>, ty: u16, body: impl FnOnce(&mut Vec<u8>)) {
        let start = m.len();
        m.put_u16(ty);
        m.put_u16(0);
        body(m);
        let len = m.len() - start;
        m.set_u16(start + 2, len.min(u16::MAX as usize) as u16);
        m.pad_to(8);
    }
    let mut m = start(v, 4, 0);
    m.put_u32(NX_VENDOR);
    m.put_u32(30);
    prop(&mut m, 0, |m| m.extend_from_slice(&pi.packet));
    prop(&mut m, 3, |m| m.put_u8(pi.table_id));
    prop(&mut m, 4, |m| {
        m.put_zeros(4);
        m.put_u64(pi.cookie);
    });
    prop(&mut m, 5, |m| m.put_u8(reason));
    prop(&mut m, 6, |m| {
        nxm::encode(&pi.metadata, (v >= 3).then_some(v), m)
    });
    if let Some(c) = &pi.continuation {
        c.encode(v, &mut m);
    }
    if !pi.userdata.is_empty() {
        prop(&mut m, 7, |m| m.extend_from_slice(&pi.userdata));
    }
    finish(m)
}

/// Executes packet-outs (the daemon's datapath).
pub type PacketOutHook = std::sync::Arc<dyn Fn(PacketOut) + Send + Sync>;

/// A packet the datapath sends to the controllers (after translation of
/// a table miss or a controller action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketIn {
    /// OFPR_*: 0 no_match, 1 action, 2 invalid_ttl, 3 action_set,
    /// 4 group, 5 packet_out (the last three read as 1 before OF1.4);
    /// 6 and 7 are Open vSwitch's explicit and implicit table misses
    /// ([`REASON_EXPLICIT_MISS`], [`REASON_IMPLICIT_MISS`]).
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    /// Pipeline fields of the packet (in_port at least; metadata,
    /// registers, tunnel fields when set).
    pub metadata: Match,
    pub packet: Vec<u8>,
    /// The controller action's max_len (kept for NXT_PACKET_IN2; the
    /// switch has no buffers, so the whole packet is sent).
    pub max_len: u16,
    /// The controller action's userdata (NXPINT_USERDATA).
    pub userdata: Vec<u8>,
    /// Only connections with this controller id get it (the controller
    /// action's `id`, 0 by default).
    pub controller_id: u16,
    /// What a `controller(pause)` froze, for NXT_RESUME (NXT_PACKET_IN2
    /// carries it; other formats cannot).
    pub continuation: Option<Box<crate::openflow::continuation::Continuation>>,
}

/// Resumes a paused pipeline (the daemon's datapath): the NXT_RESUME
/// decoded; an error is sent back to the controller.
pub type ResumeHook = std::sync::Arc<
    dyn Fn(&str, crate::openflow::continuation::Resume) -> Result<(), OfpErr> + Send + Sync,
>;

/// Which asynchronous messages a connection wants: for each kind
/// (packet-in, port-status, flow-removed, role-status, table-status,
/// requestforward) a reason mask for when it is primary/equal and one for
/// when it is secondary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncConfig {
    pub primary: [u32; 6],
    pub secondary: [u32; 6],
}

impl AsyncConfig {
    /// Stock's default for a connection of `version`: packet-ins for every
    /// reason but invalid TTL, all port changes (also as secondary), and
    /// the flow-removed reasons the version knows.
    pub fn default_for(version: u8) -> Self {
        let fr = match version {
            5.. => 0x3f,
            4 => 0x0f,
            _ => 0x07,
        };
        AsyncConfig {
            primary: [0x3f & !0x4, 0x7, fr, 0, 0, 0],
            secondary: [0, 0x7, 0, 0, 0, 0],
        }
    }

    fn allowed(version: u8) -> [u32; 6] {
        if version >= 5 {
            ASYNC_ALLOWED14
        } else {
            ASYNC_ALLOWED10
        }
    }

    /// Whether a message of `kind` for `reason` goes to a connection in
    /// `role`.
    pub fn wants(&self, role: u32, kind: usize, reason: u8) -> bool {
        let masks = if role == ROLE_SECONDARY {
            &self.secondary
        } else {
            &self.primary
        };
        masks.get(kind).is_some_and(|m| m >> reason & 1 == 1)
    }
}

/// Reasons each kind may have before OpenFlow 1.4 and from 1.4 on.
pub(crate) const ASYNC_ALLOWED10: [u32; 6] = [0x07, 0x07, 0x3f, 0x07, 0x18, 0x03];

pub(crate) const ASYNC_ALLOWED14: [u32; 6] = [0x3f, 0x07, 0x3f, 0x07, 0x18, 0x03];

/// GET_ASYNC reply body: six masks before OpenFlow 1.4, properties after.
pub(crate) fn put_async_config(ac: &AsyncConfig, v: u8, out: &mut Vec<u8>) {
    let allowed = AsyncConfig::allowed(v);
    if v < 5 {
        for ((p, s), a) in ac.primary.iter().zip(&ac.secondary).zip(&allowed).take(3) {
            out.put_u32(p & a);
            out.put_u32(s & a);
        }
    } else {
        for kind in 0..6 {
            for (primary, masks) in [(false, &ac.secondary), (true, &ac.primary)] {
                out.put_u16((2 * kind + primary as usize) as u16);
                out.put_u16(8);
                out.put_u32(masks[kind] & allowed[kind]);
            }
        }
    }
}

/// SET_ASYNC body (and NXT_SET_ASYNC_CONFIG): the layout of `v`, changes
/// applied over `basis` for the property form.
pub(crate) fn decode_async_config(
    basis: &AsyncConfig,
    v: u8,
    body: &[u8],
) -> Result<AsyncConfig, OfpErr> {
    let allowed = AsyncConfig::allowed(v);
    let mut r = Reader::new(body);
    if v < 5 {
        if body.len() != 24 {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        // The fixed layout is read loosely: unknown reason bits drop.
        let mut ac = AsyncConfig {
            primary: [0; 6],
            secondary: [0; 6],
        };
        for (kind, a) in allowed.iter().enumerate().take(3) {
            for slot in [&mut ac.primary[kind], &mut ac.secondary[kind]] {
                *slot = r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)? & a;
            }
        }
        return Ok(ac);
    }
    let mut ac = *basis;
    while !r.is_empty() {
        let ty = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        let len = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)? as usize;
        if len < 4 {
            return Err(OfpErr::OFPBPC_BAD_LEN);
        }
        if len.div_ceil(8) * 8 - 4 > r.len() {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let mut p = Reader::new(r.bytes(len - 4).ok_or(OfpErr::OFPBPC_BAD_LEN)?);
        r.skip((8 - len % 8) % 8).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        let kind = ty as usize / 2;
        if kind >= 6 {
            return Err(OfpErr::OFPACFC_UNSUPPORTED);
        }
        if len != 8 {
            return Err(OfpErr::OFPBPC_BAD_LEN);
        }
        let m = p.u32().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        if m & !allowed[kind] != 0 {
            return Err(OfpErr::OFPACFC_INVALID);
        }
        if ty % 2 == 1 {
            ac.primary[kind] = m;
        } else {
            ac.secondary[kind] = m;
        }
    }
    Ok(ac)
}

/// Why a rule went away (OFPRR_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedReason {
    IdleTimeout = 0,
    HardTimeout = 1,
    Delete = 2,
    GroupDelete = 3,
    MeterDelete = 4,
    Eviction = 5,
}

/// A rule removed with send_flow_rem set: a flow-removed message is owed
/// to the connections.
#[derive(Debug, Clone)]
pub struct RemovedRule {
    pub table_id: u8,
    pub m: Match,
    pub priority: u16,
    pub rule: Rule,
    pub reason: RemovedReason,
    pub at: Instant,
}

impl Switch {
    /// PACKET_OUT: decoded and checked as stock does, then handed to the
    /// datapath hook (dropped when there is none).
    pub(crate) fn packet_out(&mut self, v: u8, body: &[u8]) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let buffer_id = r.u32().ok_or(e)?;
        let (in_port, acts_len) = match v {
            1 => {
                let p = r.u16().ok_or(e)?;
                (p, r.u16().ok_or(e)? as usize)
            }
            2..=5 => {
                let p = port_from_of11(r.u32().ok_or(e)?).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
                let n = r.u16().ok_or(e)? as usize;
                r.skip(6).ok_or(e)?;
                (p, n)
            }
            _ => {
                let n = r.u16().ok_or(e)? as usize;
                r.skip(2).ok_or(e)?;
                let m = self.pull_oxm_match(&mut r)?;
                let p = m
                    .exact(crate::openflow::fields::id::IN_PORT)
                    .ok_or(OfpErr::OFPBRC_BAD_PORT)?;
                (p as u16, n)
            }
        };
        if !acts_len.is_multiple_of(8) || acts_len > r.len() {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let acts = actions::decode(v, r.bytes(acts_len).ok_or(e)?)?;
        if in_port >= port::MAX
            && in_port != port::LOCAL
            && in_port != port::NONE
            && in_port != port::CONTROLLER
        {
            return Err(OfpErr::OFPBRC_BAD_PORT);
        }
        if buffer_id != NO_BUFFER {
            return Err(OfpErr::OFPBRC_BUFFER_UNKNOWN);
        }
        let missing_group = |a: &actions::Action| matches!(a, actions::Action::Group(g) if !self.groups.contains_key(g));
        if acts.iter().any(missing_group) {
            return Err(OfpErr::OFPBAC_BAD_OUT_GROUP);
        }
        if let Some(hook) = &self.packet_out_hook {
            hook(PacketOut {
                in_port,
                actions: acts,
                packet: r.rest().to_vec(),
            });
        }
        Ok(vec![])
    }

    /// NXT_RESUME: decoded strictly, then handed to the datapath's hook.
    pub(crate) fn resume(&mut self, v: u8, body: &[u8]) -> Res {
        let r = crate::openflow::continuation::decode_resume(v, body)?;
        let hook = self.resume_hook.as_ref().ok_or(OfpErr::NXR_NOT_SUPPORTED)?;
        hook(&self.name, r)?;
        Ok(vec![])
    }

    /// The packet-in message for `pi` on `conn`, or None when the
    /// connection does not take it (secondary role, or a table miss with
    /// miss_send_len 0).
    pub fn packet_in_msg(conn: &ConnState, pi: &PacketIn) -> Option<Vec<u8>> {
        use crate::openflow::fields::id;
        // A controller action names the connections it is for.
        if conn.controller_id != pi.controller_id {
            return None;
        }
        // A table miss sent by default (Open vSwitch's implicit miss) goes
        // only to connections before OpenFlow 1.3, as no_match.
        if pi.reason == REASON_IMPLICIT_MISS {
            if conn.version >= 4 {
                return None;
            }
            let pi = PacketIn {
                reason: 0,
                ..pi.clone()
            };
            return Self::packet_in_msg(conn, &pi);
        }
        // A controller action in a table-miss rule: action before
        // OpenFlow 1.3, no_match from 1.3 on.
        if pi.reason == REASON_EXPLICIT_MISS {
            let pi = PacketIn {
                reason: if conn.version < 4 { 1 } else { 0 },
                ..pi.clone()
            };
            return Self::packet_in_msg(conn, &pi);
        }
        if !conn.async_config().wants(conn.role, 0, pi.reason)
            || (pi.reason == 0 && conn.miss_send_len == 0)
        {
            return None;
        }
        let v = conn.version;
        // Without packet buffers the whole packet goes up, as stock sends
        // it (max_len would only bound a buffered packet's excerpt).
        let data = &pi.packet[..];
        let total = pi.packet.len().min(u16::MAX as usize) as u16;
        let reason = if v < 5 && pi.reason > 2 { 1 } else { pi.reason };
        if conn.packet_in_format == NXPIF_NXT_PACKET_IN2 {
            return Some(packet_in2_msg(v, pi, reason));
        }
        let mut m;
        if v == 1 && conn.packet_in_format == 0 {
            m = start(1, 10, 0);
            m.put_u32(NO_BUFFER);
            m.put_u16(total);
            m.put_u16(pi.metadata.value(id::IN_PORT) as u16);
            m.put_u8(reason);
            m.put_u8(0);
        } else if v == 1 {
            m = start(1, 4, 0);
            m.put_u32(NX_VENDOR);
            m.put_u32(17);
            m.put_u32(NO_BUFFER);
            m.put_u16(total);
            m.put_u8(reason);
            m.put_u8(pi.table_id);
            m.put_u64(pi.cookie);
            let ml_at = m.len();
            m.put_u16(0);
            m.put_zeros(6);
            let ms = m.len();
            nxm::encode(&pi.metadata, None, &mut m);
            let ml = m.len() - ms;
            m.set_u16(ml_at, ml as u16);
            m.pad_to(8);
            m.put_zeros(2);
        } else {
            m = start(v, 10, 0);
            m.put_u32(NO_BUFFER);
            m.put_u16(total);
            m.put_u8(reason);
            m.put_u8(pi.table_id);
            if v >= 4 {
                m.put_u64(pi.cookie);
            }
            put_oxm_match(&pi.metadata, v, &mut m);
            m.put_zeros(2);
        }
        m.extend_from_slice(data);
        Some(finish(m))
    }

    /// The flow-removed message for `r` in `conn`'s protocol, unless the
    /// connection is a secondary controller.
    pub fn flow_removed_msg(conn: &ConnState, r: &RemovedRule) -> Option<Vec<u8>> {
        if !conn.async_config().wants(conn.role, 2, r.reason as u8) {
            return None;
        }
        let v = conn.version;
        let d = r.at.saturating_duration_since(r.rule.created.instant());
        let (dsec, dnsec) = (d.as_secs() as u32, d.subsec_millis() * 1_000_000);
        // Reasons newer than the connection's version read as "delete".
        let reason = match (r.reason, v) {
            (RemovedReason::GroupDelete | RemovedReason::MeterDelete, v) if v < 5 => {
                RemovedReason::Delete as u8
            }
            (why, _) => why as u8,
        };
        let mut m;
        if v == 1 && conn.nxm {
            m = start(1, 4, 0);
            m.put_u32(NX_VENDOR);
            m.put_u32(14);
            m.put_u64(r.rule.cookie);
            m.put_u16(r.priority);
            m.put_u8(reason);
            m.put_u8(r.table_id);
            m.put_u32(dsec);
            m.put_u32(dnsec);
            m.put_u16(r.rule.idle_timeout);
            let ml_at = m.len();
            m.put_u16(0);
            m.put_u64(r.rule.stats.packets());
            m.put_u64(r.rule.stats.bytes());
            let ms = m.len();
            nxm::encode(&r.m, None, &mut m);
            let ml = m.len() - ms;
            m.set_u16(ml_at, ml as u16);
            m.pad_to(8);
        } else if v == 1 {
            m = start(1, 11, 0);
            ofp10::encode(&r.m, &mut m);
            m.put_u64(r.rule.cookie);
            m.put_u16(r.priority);
            m.put_u8(reason);
            m.put_u8(0);
            m.put_u32(dsec);
            m.put_u32(dnsec);
            m.put_u16(r.rule.idle_timeout);
            m.put_zeros(2);
            m.put_u64(r.rule.stats.packets());
            m.put_u64(r.rule.stats.bytes());
        } else if v <= 5 {
            m = start(v, 11, 0);
            m.put_u64(r.rule.cookie);
            m.put_u16(r.priority);
            m.put_u8(reason);
            m.put_u8(r.table_id);
            m.put_u32(dsec);
            m.put_u32(dnsec);
            m.put_u16(r.rule.idle_timeout);
            m.put_u16(r.rule.hard_timeout);
            m.put_u64(r.rule.stats.packets());
            m.put_u64(r.rule.stats.bytes());
            put_oxm_match(&r.m, v, &mut m);
        } else {
            m = start(v, 11, 0);
            m.put_u8(r.table_id);
            m.put_u8(reason);
            m.put_u16(r.priority);
            m.put_u16(r.rule.idle_timeout);
            m.put_u16(r.rule.hard_timeout);
            m.put_u64(r.rule.cookie);
            put_oxm_match(&r.m, v, &mut m);
            let idle =
                r.at.saturating_duration_since(r.rule.stats.used())
                    .as_secs();
            put_oxs(
                &mut m,
                Some(((dsec as u64) << 32) | dnsec as u64),
                Some(idle << 32),
                r.rule.stats.packets(),
                r.rule.stats.bytes(),
                None,
            );
        }
        Some(finish(m))
    }

    /// Gives `conn` a role; a new primary asks the service to demote the
    /// bridge's other primaries (`demote_others`).
    pub(crate) fn set_role(&mut self, conn: &mut ConnState, role: u32) {
        if role == ROLE_PRIMARY && conn.role != ROLE_PRIMARY {
            self.demote_others = true;
        }
        conn.role = role;
    }
}
