//! Flow monitors (Nicira and OpenFlow 1.4+): registration, the initial
//! state and updates for rule changes.

use super::*;

/// A flow monitor a connection registered (NXST_FLOW_MONITOR).
#[derive(Debug, Clone)]
pub struct Monitor {
    pub id: u32,
    /// NXFMF_*: initial 1, add 2, delete 4, modify 8, actions 16, own 32
    /// (OpenFlow 1.4 requests are translated to these).
    pub flags: u16,
    pub out_port: u16,
    pub out_group: u32,
    pub table_id: u8,
    pub m: Match,
}

/// A change to a rule, for flow monitors.
#[derive(Debug, Clone)]
pub struct FlowEvent {
    /// 0 added, 1 deleted, 2 modified.
    pub event: u16,
    pub reason: u16,
    pub table_id: u8,
    pub m: Match,
    pub priority: u16,
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub instructions: Instructions,
    /// The actions before a modification changed them.
    pub old_instructions: Option<Instructions>,
    /// The connection (service token) and xid of the request that caused
    /// it, if any.
    pub origin: Option<(usize, u32)>,
}

/// The error stock sends for a bad flow monitor request: it treats the
/// bytes left after the failing entry as the message being answered, so
/// the reply takes its version (OpenFlow 1.0 when unknown), xid and length
/// from them.
pub(crate) fn monitor_error(err: OfpErr, rest: &[u8]) -> Vec<u8> {
    match Header::parse(rest) {
        Some(h) => {
            let n = (h.length as usize).min(rest.len());
            error_msg(err, h.version, h.xid, &rest[..n])
        }
        None => error_msg(err, 1, 0, &[]),
    }
}

/// One full nx_flow_update (OpenFlow 1.0 form).
pub(crate) fn put_flow_update(ev: &FlowEvent, with_actions: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u16(0);
    out.put_u16(ev.event);
    out.put_u16(ev.reason);
    out.put_u16(ev.priority);
    out.put_u16(ev.idle_timeout);
    out.put_u16(ev.hard_timeout);
    let ml_at = out.len();
    out.put_u16(0);
    out.put_u8(ev.table_id);
    out.put_u8(0);
    out.put_u64(ev.cookie);
    let ms = out.len();
    nxm::encode(&ev.m, None, out);
    let ml = out.len() - ms;
    out.set_u16(ml_at, ml as u16);
    out.pad_to(8);
    if with_actions {
        actions::encode_instructions(1, &ev.instructions, has_vlan(&ev.m), out);
    }
    let len = out.len() - start;
    out.set_u16(start, len as u16);
}

/// One full ofp_flow_update (OpenFlow 1.4+ form) with `event` in that
/// version's numbering.
pub(crate) fn put_flow_update14(
    ev: &FlowEvent,
    event: u16,
    v: u8,
    with_instructions: bool,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.put_u16(0);
    out.put_u16(event);
    out.put_u8(ev.table_id);
    out.put_u8(ev.reason as u8);
    out.put_u16(ev.idle_timeout);
    out.put_u16(ev.hard_timeout);
    out.put_u16(ev.priority);
    out.put_zeros(4);
    out.put_u64(ev.cookie);
    put_oxm_match(&ev.m, v, out);
    if with_instructions {
        actions::encode_instructions(v, &ev.instructions, has_vlan(&ev.m), out);
    }
    let len = out.len() - start;
    out.set_u16(start, len as u16);
}

impl Switch {
    /// NXST_FLOW_MONITOR request: registers monitors and answers with the
    /// rules they already see (when asked for the initial state).
    pub(crate) fn flow_monitor_request(
        &mut self,
        conn: &mut ConnState,
        body: &[u8],
        mut rep: Replies,
    ) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let mut new = Vec::new();
        while !r.is_empty() {
            let id = r.u32().ok_or(e)?;
            let flags = r.u16().ok_or(e)?;
            let out_port = r.u16().ok_or(e)?;
            let match_len = r.u16().ok_or(e)? as usize;
            let table_id = r.u8().ok_or(e)?;
            let zeros = r.bytes(5).ok_or(e)?;
            if flags & (2 | 4 | 8) == 0 || flags & !0x3f != 0 {
                return Ok(vec![monitor_error(OfpErr::OFPMOFC_BAD_FLAGS, r.rest())]);
            }
            if zeros.iter().any(|&b| b != 0) {
                return Ok(vec![monitor_error(OfpErr::NXBRC_MUST_BE_ZERO, r.rest())]);
            }
            if r.len() < pad8(match_len) {
                return Err(OfpErr::OFPBMC_BAD_LEN);
            }
            let m = nxm::decode(&mut r, match_len, false, None)?;
            r.skip(pad8(match_len) - match_len).ok_or(e)?;
            if table_id != 0xff && table_id > N_TABLES {
                return Ok(vec![monitor_error(OfpErr::OFPBRC_BAD_TABLE_ID, r.rest())]);
            }
            if conn
                .monitors
                .iter()
                .chain(new.iter())
                .any(|x: &Monitor| x.id == id)
            {
                return Ok(vec![monitor_error(
                    OfpErr::OFPMOFC_MONITOR_EXISTS,
                    r.rest(),
                )]);
            }
            new.push(Monitor {
                id,
                flags,
                out_port,
                out_group: OFPG_ANY,
                table_id,
                m,
            });
        }
        rep.nx_subtype = Some(2);
        self.initial_updates(&new, 1, &mut rep);
        if !new.is_empty() {
            self.monitoring = true;
        }
        conn.monitors.extend(new);
        Ok(rep.finish())
    }

    /// OpenFlow 1.4+ OFPMP_FLOW_MONITOR request: add, modify and delete
    /// monitors, answering with the initial state of added ones.
    pub(crate) fn flow_monitor_request14(
        &mut self,
        conn: &mut ConnState,
        v: u8,
        body: &[u8],
        mut rep: Replies,
    ) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let mut monitors = conn.monitors.clone();
        let mut new = Vec::new();
        while !r.is_empty() {
            let id = r.u32().ok_or(e)?;
            let out_port = r.u32().ok_or(e)?;
            let out_group = r.u32().ok_or(e)?;
            let flags = r.u16().ok_or(e)?;
            let table_id = r.u8().ok_or(e)?;
            let command = r.u8().ok_or(e)?;
            if command != 2 && (flags & (2 | 4 | 8) == 0 || flags & !(0x1f | 0x40) != 0) {
                return Ok(vec![monitor_error(OfpErr::OFPMOFC_BAD_FLAGS, r.rest())]);
            }
            let out_port = port_from_of11(out_port).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
            let m = self.pull_oxm_match(&mut r)?;
            if table_id != 0xff && table_id > N_TABLES {
                return Ok(vec![monitor_error(OfpErr::OFPBRC_BAD_TABLE_ID, r.rest())]);
            }
            // Only-own maps to the Nicira "own" bit.
            let nx_flags = (flags & 0x1f) | if flags & 0x40 != 0 { 0x20 } else { 0 };
            let mon = Monitor {
                id,
                flags: nx_flags,
                out_port,
                out_group,
                table_id,
                m,
            };
            let pos = monitors.iter().position(|x| x.id == id);
            let fail = |err| Ok(vec![monitor_error(err, r.rest())]);
            match (command, pos) {
                (0, Some(_)) => return fail(OfpErr::OFPMOFC_MONITOR_EXISTS),
                (0, None) => {
                    monitors.push(mon.clone());
                    new.push(mon);
                }
                (1, Some(i)) => {
                    monitors[i] = mon.clone();
                    new.push(mon);
                }
                (2, Some(i)) => {
                    monitors.remove(i);
                }
                (1 | 2, None) => return fail(OfpErr::OFPMOFC_UNKNOWN_MONITOR),
                _ => return fail(OfpErr::OFPMOFC_BAD_COMMAND),
            }
        }
        self.initial_updates(&new, v, &mut rep);
        if !new.is_empty() {
            self.monitoring = true;
        }
        conn.monitors = monitors;
        Ok(rep.finish())
    }

    /// The rules `mons` see now, as initial updates in version `v`'s form.
    pub(crate) fn initial_updates(&self, mons: &[Monitor], v: u8, rep: &mut Replies) {
        let mut e2 = Vec::new();
        for mon in mons {
            if mon.flags & 1 == 0 {
                continue;
            }
            for (t, table) in self.tables.iter().enumerate() {
                if mon.table_id != 0xff && mon.table_id as usize != t {
                    continue;
                }
                for (m, p, rule) in table.iter() {
                    if super::stats::is_hidden(p)
                        || !m.is_subsumed_by(&mon.m)
                        || (mon.out_port != port::NONE
                            && !rule.instructions.outputs_to(mon.out_port))
                        || (mon.out_group != OFPG_ANY
                            && !rule.instructions.outputs_to_group(mon.out_group))
                    {
                        continue;
                    }
                    e2.clear();
                    let ev = FlowEvent {
                        event: 0,
                        reason: 0,
                        table_id: t as u8,
                        m,
                        priority: p as u16,
                        cookie: rule.cookie,
                        idle_timeout: rule.idle_timeout,
                        hard_timeout: rule.hard_timeout,
                        instructions: (*rule.instructions).clone(),
                        old_instructions: None,
                        origin: None,
                    };
                    if v >= 5 {
                        // OFPFME_INITIAL.
                        put_flow_update14(&ev, 0, v, mon.flags & 16 != 0, &mut e2);
                    } else {
                        put_flow_update(&ev, mon.flags & 16 != 0, &mut e2);
                    }
                    rep.push(&e2);
                }
            }
        }
    }

    /// The NXST_FLOW_MONITOR update a connection with monitors gets for
    /// `events`, or None if none concerns it. `me` is the connection's
    /// service token: its own changes come abbreviated unless it asked for
    /// them in full.
    pub fn flow_updates_msg(conn: &ConnState, me: usize, events: &[FlowEvent]) -> Option<Vec<u8>> {
        let v = conn.version;
        if conn.monitors.is_empty() || !(v == 1 || v >= 5) {
            return None;
        }
        let mut body = Vec::new();
        let mut sent_abbrev = false;
        for ev in events {
            let bit = match ev.event {
                0 => 2,
                1 => 4,
                _ => 8,
            };
            let mut flags = 0u16;
            for mon in &conn.monitors {
                let port_ok = mon.out_port == port::NONE
                    || ev.instructions.outputs_to(mon.out_port)
                    || ev
                        .old_instructions
                        .as_ref()
                        .is_some_and(|o| o.outputs_to(mon.out_port));
                let group_ok =
                    mon.out_group == OFPG_ANY || ev.instructions.outputs_to_group(mon.out_group);
                if mon.flags & bit != 0
                    && (mon.table_id == 0xff || mon.table_id == ev.table_id)
                    && port_ok
                    && group_ok
                    && ev.m.is_subsumed_by(&mon.m)
                {
                    flags |= mon.flags;
                }
            }
            if flags == 0 {
                continue;
            }
            match ev.origin {
                Some((who, xid)) if who == me && flags & 32 == 0 => {
                    if !sent_abbrev {
                        body.put_u16(8);
                        body.put_u16(if v >= 5 { 4 } else { 3 });
                        body.put_u32(xid);
                        sent_abbrev = true;
                    }
                }
                _ if v >= 5 => put_flow_update14(ev, ev.event + 1, v, flags & 16 != 0, &mut body),
                _ => put_flow_update(ev, flags & 16 != 0, &mut body),
            }
        }
        if body.is_empty() {
            return None;
        }
        if v >= 5 {
            let mut m = start(v, 19, 0);
            m.put_u16(16);
            m.put_u16(0);
            m.put_zeros(4);
            m.extend_from_slice(&body);
            return Some(finish(m));
        }
        let mut m = start(1, 17, 0);
        m.put_u16(0xffff);
        m.put_u16(0);
        m.put_u32(NX_VENDOR);
        m.put_u32(2);
        m.put_zeros(4);
        m.extend_from_slice(&body);
        Some(finish(m))
    }
}
