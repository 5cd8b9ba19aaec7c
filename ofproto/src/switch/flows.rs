//! Flow tables: flow_mod decoding and its add, modify and delete
//! semantics, rule removal (with flow-removed and monitor events) and
//! timeouts.

use super::*;

/// A decoded flow_mod.
#[derive(Clone)]
pub(crate) struct FlowMod {
    pub(crate) m: Match,
    pub(crate) priority: u16,
    pub(crate) cookie: u64,
    pub(crate) cookie_mask: u64,
    pub(crate) new_cookie: Option<u64>,
    pub(crate) command: u8,
    pub(crate) table_id: u8,
    pub(crate) idle: u16,
    pub(crate) hard: u16,
    pub(crate) importance: u16,
    pub(crate) out_port: u16,
    pub(crate) out_group: u32,
    pub(crate) flags: u16,
    pub(crate) ins: Instructions,
    pub(crate) may_add: bool,
}

/// Filters shared by flow stats, aggregate stats and deletes.
pub(crate) struct Filter<'a> {
    pub(crate) m: &'a Match,
    pub(crate) table_id: u8,
    pub(crate) out_port: u16,
    pub(crate) out_group: u32,
    pub(crate) cookie: u64,
    pub(crate) cookie_mask: u64,
}

impl Filter<'_> {
    pub(crate) fn accepts(&self, rm: &Match, rule: &Rule) -> bool {
        self.accepts_with(rm, rule, false)
    }

    /// `accepts`, told whether the filter's match is the catch-all (then
    /// every rule's match is within it, no need to compare).
    pub(crate) fn accepts_with(&self, rm: &Match, rule: &Rule, match_all: bool) -> bool {
        (rule.cookie ^ self.cookie) & self.cookie_mask == 0
            && (self.out_port == port::NONE || rule.instructions.outputs_to(self.out_port))
            && (self.out_group == OFPG_ANY || rule.instructions.outputs_to_group(self.out_group))
            && (match_all || rm.is_subsumed_by(self.m))
    }
}

/// OpenFlow 1.0 actions as instructions: a trailing NXAST_WRITE_METADATA
/// is the write-metadata instruction; anything after it is out of order.
pub(crate) fn of10_instructions(mut apply: Vec<actions::Action>) -> Result<Instructions, OfpErr> {
    let mut ins = Instructions::default();
    if let Some(pos) = apply
        .iter()
        .position(|a| matches!(a, actions::Action::Nx { subtype: 22, .. }))
    {
        if pos + 1 != apply.len() {
            return Err(OfpErr::OFPBAC_UNSUPPORTED_ORDER);
        }
        if let Some(actions::Action::Nx { bytes, .. }) = apply.pop() {
            let mut r = Reader::new(bytes.get(16..).unwrap_or(&[]));
            let md = r.u64().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
            let mask = r.u64().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
            ins.write_metadata = Some((md & mask, mask));
        }
    }
    ins.apply = apply;
    Ok(ins)
}

/// Whether a match only admits packets with a VLAN tag.
pub(crate) fn has_vlan(m: &Match) -> bool {
    let (v, mk) = m.get(crate::openflow::fields::id::VLAN_TCI);
    v as u16 & mk as u16 & crate::openflow::fields::VLAN_CFI != 0
}

/// Rewrites OpenFlow 1.0 transport-port actions as Set-Field on the
/// protocol the match selects, the way they are then encoded in 1.2+.
pub(crate) fn l4_to_set_field(m: &Match, acts: &mut [actions::Action]) {
    use crate::openflow::fields::id;
    let (src, dst) = match m.nw_proto() {
        6 => (id::TCP_SRC, id::TCP_DST),
        17 => (id::UDP_SRC, id::UDP_DST),
        132 => (id::SCTP_SRC, id::SCTP_DST),
        _ => return,
    };
    for a in acts.iter_mut() {
        let (f, p) = match a {
            actions::Action::SetL4Src(p) => (src, *p),
            actions::Action::SetL4Dst(p) => (dst, *p),
            _ => continue,
        };
        *a = actions::Action::SetField {
            field: f,
            value: p as u128,
            mask: 0xffff,
            raw: actions::SetFieldRaw::L4Port,
        };
    }
}

pub(crate) fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Checks actions against what the match (as changed by earlier actions)
/// says about the packet, as stock does: a set-field or move whose field's
/// prerequisites do not hold is an error in every version; the older
/// set-address, set-port and tag actions on packets that cannot have the
/// header are refused from OpenFlow 1.1 on (OpenFlow 1.0 lets them be
/// no-ops).
pub(crate) fn check_consistency(m: &Match, ins: &Instructions, v: u8) -> Result<(), OfpErr> {
    use crate::openflow::fields::{eth_type, id, FIELDS, VLAN_CFI};
    use actions::Action as A;
    let mut flow = m.clone();
    let mut inconsistent = false;
    let ip_any = |f: &Match| f.eth_type() == eth_type::IP || f.eth_type() == eth_type::IPV6;
    let has_tag = |f: &Match| f.value(id::VLAN_TCI) as u16 & VLAN_CFI != 0;
    for a in ins.apply.iter().chain(ins.write.iter().flatten()) {
        match a {
            A::SetVlanVid(_) | A::SetVlanPcp(_) | A::PushVlan(_) => {
                let tci = flow.value(id::VLAN_TCI) as u16 | VLAN_CFI;
                flow.set(id::VLAN_TCI, tci as u128, 0xffff);
            }
            A::StripVlan => {
                if !has_tag(&flow) {
                    inconsistent = true;
                }
                flow.set(id::VLAN_TCI, 0, 0xffff);
            }
            A::SetIpv4Src(_) | A::SetIpv4Dst(_) => inconsistent |= flow.eth_type() != eth_type::IP,
            A::SetIpDscp(_) | A::SetIpEcn(_) | A::SetIpTtl(_) => inconsistent |= !ip_any(&flow),
            A::SetL4Src(_) | A::SetL4Dst(_) => {
                inconsistent |= !ip_any(&flow) || !matches!(flow.nw_proto(), 6 | 17 | 132);
            }
            A::PushMpls(et) => {
                flow.set_exact(id::ETH_TYPE, *et as u128);
                flow.clear(id::NW_PROTO);
            }
            A::PopMpls(et) => {
                let cur = flow.eth_type();
                if cur != eth_type::MPLS && cur != eth_type::MPLS_MCAST {
                    inconsistent = true;
                }
                flow.set_exact(id::ETH_TYPE, *et as u128);
            }
            A::SetField { field, value, .. } => {
                let f = *field;
                if !flow.prereq_ok(FIELDS[f].prereq) || (f == id::VLAN_VID && !has_tag(&flow)) {
                    return Err(OfpErr::OFPBAC_MATCH_INCONSISTENT);
                }
                if f == id::VLAN_TCI {
                    flow.set(id::VLAN_TCI, *value & 0xffff, 0xffff);
                }
            }
            A::Move { src, dst, .. }
                if !flow.prereq_ok(FIELDS[*src].prereq) || !flow.prereq_ok(FIELDS[*dst].prereq) =>
            {
                return Err(OfpErr::OFPBAC_MATCH_INCONSISTENT);
            }
            _ => {}
        }
    }
    if inconsistent && v != 1 {
        return Err(OfpErr::OFPBAC_MATCH_INCONSISTENT);
    }
    Ok(())
}

impl Switch {
    pub(crate) fn decode_flow_mod(
        &self,
        conn: &ConnState,
        h: Header,
        msg: &[u8],
    ) -> Result<FlowMod, OfpErr> {
        let v = h.version;
        // Each flow_mod form is a fixed part and then 8-byte units.
        let fixed = match (h.msg_type, v) {
            (14, 1) => 72,
            (14, _) => 56,
            _ => 48,
        };
        if msg.len() < fixed || !(msg.len() - fixed).is_multiple_of(8) {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let len_err = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
        let mut fm;
        let raw_flags;
        if h.msg_type == 14 && v >= 2 {
            let cookie = r.u64().ok_or(len_err)?;
            let cookie_mask = r.u64().ok_or(len_err)?;
            let table_id = r.u8().ok_or(len_err)?;
            let command = r.u8().ok_or(len_err)?;
            let idle = r.u16().ok_or(len_err)?;
            let hard = r.u16().ok_or(len_err)?;
            let priority = r.u16().ok_or(len_err)?;
            let buffer_id = r.u32().ok_or(len_err)?;
            let out_port = r.u32().ok_or(len_err)?;
            let out_group = r.u32().ok_or(len_err)?;
            raw_flags = r.u16().ok_or(len_err)?;
            let importance = r.u16().ok_or(len_err)?;
            let m = self.pull_oxm_match(&mut r)?;
            // OpenFlow 1.1 modify without a cookie mask sets the cookie.
            let add_like =
                command == 0 || (v == 2 && (command == 1 || command == 2) && cookie_mask == 0);
            if table_id == 0xff && (v == 2 || (command != 3 && command != 4)) {
                return Err(OfpErr::OFPFMFC_BAD_TABLE_ID);
            }
            let out_port = port_from_of11(out_port).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
            if buffer_id != NO_BUFFER {
                return Err(OfpErr::OFPBRC_BUFFER_UNKNOWN);
            }
            fm = FlowMod {
                m,
                priority,
                cookie: if add_like { 0 } else { cookie },
                cookie_mask: if add_like { 0 } else { cookie_mask },
                new_cookie: if add_like { Some(cookie) } else { None },
                command,
                table_id,
                idle,
                hard,
                importance: if v >= 5 && command == 0 {
                    importance
                } else {
                    0
                },
                out_port,
                out_group: if command == 3 || command == 4 {
                    out_group
                } else {
                    OFPG_ANY
                },
                flags: 0,
                ins: Instructions::default(),
                may_add: false,
            };
            if command > 4 {
                return Err(OfpErr::OFPFMFC_BAD_COMMAND);
            }
            fm.ins = actions::decode_instructions(v, r.rest())?;
        } else {
            let (m, priority, cookie, command, idle, hard, buffer_id, out_port, match_cookie);
            if h.msg_type == 14 {
                let (mm, exact) = ofp10::decode(&mut r).ok_or(len_err)?;
                cookie = r.u64().ok_or(len_err)?;
                command = r.u16().ok_or(len_err)?;
                idle = r.u16().ok_or(len_err)?;
                hard = r.u16().ok_or(len_err)?;
                let p = r.u16().ok_or(len_err)?;
                priority = if exact { u16::MAX } else { p };
                buffer_id = r.u32().ok_or(len_err)?;
                out_port = r.u16().ok_or(len_err)?;
                raw_flags = r.u16().ok_or(len_err)?;
                m = mm;
                match_cookie = (0, 0);
            } else {
                r.skip(8).ok_or(len_err)?;
                cookie = r.u64().ok_or(len_err)?;
                command = r.u16().ok_or(len_err)?;
                idle = r.u16().ok_or(len_err)?;
                hard = r.u16().ok_or(len_err)?;
                priority = r.u16().ok_or(len_err)?;
                buffer_id = r.u32().ok_or(len_err)?;
                out_port = r.u16().ok_or(len_err)?;
                raw_flags = r.u16().ok_or(len_err)?;
                let match_len = r.u16().ok_or(len_err)? as usize;
                r.skip(6).ok_or(len_err)?;
                let mut ck = (0u64, 0u64);
                if r.len() < pad8(match_len) {
                    return Err(OfpErr::OFPBMC_BAD_LEN);
                }
                m = nxm::decode(&mut r, match_len, true, Some(&mut ck))?;
                r.skip(pad8(match_len) - match_len)
                    .ok_or(OfpErr::OFPBMC_BAD_LEN)?;
                if command & 0xff == 0 && ck.1 != 0 {
                    return Err(OfpErr::NXBRC_NXM_INVALID);
                }
                match_cookie = ck;
            }
            let (command, table_id) = if conn.table_id_ext {
                ((command & 0xff) as u8, (command >> 8) as u8)
            } else {
                (command.min(0xff) as u8, 0xff)
            };
            if buffer_id != NO_BUFFER {
                return Err(OfpErr::OFPBRC_BUFFER_UNKNOWN);
            }
            if command > 4 {
                return Err(OfpErr::OFPFMFC_BAD_COMMAND);
            }
            let ins = of10_instructions(actions::decode(1, r.rest())?)?;
            fm = FlowMod {
                m,
                priority,
                cookie: match_cookie.0,
                cookie_mask: match_cookie.1,
                new_cookie: Some(cookie),
                command,
                table_id,
                idle,
                hard,
                importance: 0,
                out_port,
                out_group: OFPG_ANY,
                flags: 0,
                ins,
                may_add: match_cookie.1 == 0,
            };
        }
        if fm.new_cookie == Some(u64::MAX) {
            fm.new_cookie = None;
        }
        if v >= 3 && fm.command <= 2 {
            fm.may_add = fm.command == 0;
        }
        // Flags: EMERG (4) exists only in OpenFlow 1.0; counts flags from 1.3.
        let allowed: u16 = match v {
            1 => 0x7,
            2 => 0x3,
            3 => 0x7,
            _ => 0x1f,
        };
        if raw_flags & !allowed != 0 {
            return Err(OfpErr::OFPFMFC_BAD_FLAGS);
        }
        if v == 1 && raw_flags & 4 != 0 {
            return Err(if fm.idle != 0 || fm.hard != 0 {
                OfpErr::OFPFMFC_BAD_EMERG_TIMEOUT
            } else {
                OfpErr::OFPFMFC_TABLE_FULL
            });
        }
        l4_to_set_field(&fm.m, &mut fm.ins.apply);
        if let Some(w) = fm.ins.write.as_mut() {
            l4_to_set_field(&fm.m, w);
        }
        // Table 254 exists but is hidden and read-only, as in stock.
        if fm.table_id == N_TABLES {
            return Err(OfpErr::OFPBRC_EPERM);
        }
        if fm.table_id != 0xff && fm.table_id >= N_TABLES {
            return Err(OfpErr::OFPBRC_BAD_TABLE_ID);
        }
        fm.flags = raw_flags & 0x1f & !4 | if v >= 3 { raw_flags & 4 } else { 0 };
        // In OpenFlow 1.0 and 1.1 "add" always resets the counters.
        if v <= 2 && fm.command == 0 {
            fm.flags |= 4;
        }
        self.tlv_table.check_flow_fields(&fm.m, &fm.ins)?;
        check_consistency(&fm.m, &fm.ins, v)?;
        if let Some(t) = fm.ins.goto_table {
            let cur = if fm.table_id == 0xff { 0 } else { fm.table_id };
            if t <= cur || t >= N_TABLES {
                return Err(OfpErr::OFPBIC_BAD_TABLE_ID);
            }
        }
        Ok(fm)
    }

    pub(crate) fn pull_oxm_match(&self, r: &mut Reader<'_>) -> Result<Match, OfpErr> {
        let ty = r.u16().ok_or(OfpErr::OFPBMC_BAD_LEN)?;
        let len = r.u16().ok_or(OfpErr::OFPBMC_BAD_LEN)? as usize;
        // Type 0: OpenFlow 1.1's fixed "standard" match.
        if ty == 0 {
            if len != ofp11::LEN || r.len() + 4 < ofp11::LEN {
                return Err(OfpErr::OFPBMC_BAD_LEN);
            }
            return ofp11::decode(r);
        }
        if ty != 1 {
            return Err(OfpErr::OFPBMC_BAD_TYPE);
        }
        if len < 4 || r.len() + 4 < pad8(len) {
            return Err(OfpErr::OFPBMC_BAD_LEN);
        }
        let m = nxm::decode(r, len - 4, true, None)?;
        r.skip(pad8(len) - len).ok_or(OfpErr::OFPBMC_BAD_LEN)?;
        Ok(m)
    }

    pub(crate) fn tables_for(&self, table_id: u8) -> Result<std::ops::Range<usize>, OfpErr> {
        if table_id == 0xff {
            Ok(0..N_TABLES as usize)
        } else if table_id < N_TABLES {
            Ok(table_id as usize..table_id as usize + 1)
        } else {
            Err(OfpErr::OFPBRC_BAD_TABLE_ID)
        }
    }

    pub(crate) fn flow_mod(&mut self, fm: FlowMod) -> Result<(), OfpErr> {
        // Meters and groups must exist when the change is applied (a
        // bundle may create them first).
        if let Some(m) = fm.ins.meter {
            if !self.meters.contains_key(&m) {
                return Err(OfpErr::OFPMMFC_INVALID_METER);
            }
        }
        let missing_group = |a: &actions::Action| matches!(a, actions::Action::Group(g) if !self.groups.contains_key(g));
        if fm
            .ins
            .apply
            .iter()
            .chain(fm.ins.write.iter().flatten())
            .any(missing_group)
        {
            return Err(OfpErr::OFPBAC_BAD_OUT_GROUP);
        }
        let prio = fm.priority as u32;
        match fm.command {
            0 => self.add_flow(&fm, None),
            1 | 2 => {
                let strict = fm.command == 2;
                let filter = Filter {
                    m: &fm.m,
                    table_id: fm.table_id,
                    out_port: fm.out_port,
                    out_group: OFPG_ANY,
                    cookie: fm.cookie,
                    cookie_mask: fm.cookie_mask,
                };
                let targets = self.collect(&filter, strict.then_some(prio))?;
                if targets.is_empty() {
                    if fm.may_add {
                        return self.add_flow(&fm, None);
                    }
                    return Ok(());
                }
                let now = Instant::now();
                let ins = self.share_instructions(&fm.ins);
                let monitoring = self.monitoring;
                for (t, m, p) in targets {
                    let mut changed = None;
                    if let Some(rule) = self.tables[t].find_exact_mut(&m, p) {
                        let old = std::mem::replace(&mut rule.instructions, Arc::clone(&ins));
                        let old_cookie = rule.cookie;
                        if let Some(c) = fm.new_cookie {
                            rule.cookie = c;
                        }
                        rule.modified = now.into();
                        if fm.flags & 4 != 0 {
                            rule.stats.reset();
                        }
                        let actions_changed = *old != *rule.instructions;
                        // Only flow monitors want to hear about it.
                        if monitoring && (actions_changed || old_cookie != rule.cookie) {
                            changed = Some((
                                rule.clone(),
                                actions_changed.then(|| Arc::unwrap_or_clone(old)),
                            ));
                        }
                    }
                    if let Some((rule, old)) = changed {
                        self.record((2, 0), (t, &m, p), &rule, old);
                    }
                }
                Ok(())
            }
            _ => {
                let strict = fm.command == 4;
                let filter = Filter {
                    m: &fm.m,
                    table_id: fm.table_id,
                    out_port: fm.out_port,
                    out_group: fm.out_group,
                    cookie: fm.cookie,
                    cookie_mask: fm.cookie_mask,
                };
                let now = Instant::now();
                // Deleting everything from a table nobody watches and no
                // rule asked to hear about needs no per-rule work.
                let everything = !strict
                    && !self.monitoring
                    && fm.m == Match::catchall()
                    && fm.cookie_mask == 0
                    && fm.out_port == port::NONE
                    && fm.out_group == OFPG_ANY;
                if everything {
                    for t in self.tables_for(fm.table_id)? {
                        // (Not when a hidden rule must stay.)
                        if self.hidden_rules(t) == 0
                            && self.tables[t].rules().all(|r| r.flags & 1 == 0)
                        {
                            self.tables[t] = Classifier::default();
                        }
                    }
                }
                for (t, m, p) in self.collect(&filter, strict.then_some(prio))? {
                    self.remove_rule(t, &m, p, RemovedReason::Delete, now);
                }
                Ok(())
            }
        }
    }

    /// Rules selected by `f`, loosely or (with a priority) strictly.
    pub(crate) fn collect(
        &self,
        f: &Filter<'_>,
        strict: Option<u32>,
    ) -> Result<Vec<(usize, Match, u32)>, OfpErr> {
        let mut out = Vec::new();
        for t in self.tables_for(f.table_id)? {
            if let Some(p) = strict {
                if let Some(rule) = self.tables[t].find_exact(f.m, p) {
                    if f.accepts(f.m, rule) {
                        out.push((t, f.m.clone(), p));
                    }
                }
            } else {
                for (m, p, rule) in self.tables[t].iter() {
                    if !super::stats::is_hidden(p) && f.accepts(&m, rule) {
                        out.push((t, m, p));
                    }
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn add_flow(&mut self, fm: &FlowMod, _: Option<()>) -> Result<(), OfpErr> {
        let t = if fm.table_id == 0xff {
            0
        } else {
            fm.table_id as usize
        };
        let table = &self.tables[t];
        let prio = fm.priority as u32;
        if fm.flags & 2 != 0 {
            let overlap = table
                .iter()
                .any(|(m, p, _)| p == prio && m != fm.m && m.overlaps(&fm.m));
            if overlap {
                return Err(OfpErr::OFPFMFC_OVERLAP);
            }
        }
        // A new rule needs room in the table (only a full table has to
        // look for the rule this one would replace first).
        if table.len() as u64 >= u64::from(self.max_flows(t))
            && table.find_exact(&fm.m, prio).is_none()
        {
            self.make_room(t)?;
        }
        let instructions = self.share_instructions(&fm.ins);
        let now = Instant::now();
        let rule = Rule {
            cookie: fm.new_cookie.unwrap_or(0),
            idle_timeout: fm.idle,
            hard_timeout: fm.hard,
            importance: fm.importance,
            flags: fm.flags,
            instructions,
            created: now.into(),
            modified: now.into(),
            stats: RuleStats::new(now),
        };
        if self.monitoring {
            let r = rule.clone();
            self.record((0, 0), (t, &fm.m, prio), &r, None);
        }
        let table = &mut self.tables[t];
        if let Some(old) = table.insert(&fm.m, prio, rule) {
            // The rule replaced one: it keeps its counters unless told
            // to reset them. It takes them over (shares them), so that
            // statistics of flows translated through the old rule reach
            // the new one.
            if let Some(new) = table.find_exact_mut(&fm.m, prio) {
                new.stats = old.stats;
                if fm.flags & 4 != 0 {
                    new.stats.reset();
                }
                new.stats.touch(now);
            }
        }
        if fm.idle != 0 || fm.hard != 0 {
            // A hint; `expire` recounts exactly.
            self.n_timeouts += 1;
        }
        Ok(())
    }

    /// The instructions for a new rule: shared with the rules that have
    /// the same ones.
    pub(crate) fn share_instructions(&mut self, ins: &Instructions) -> Arc<Instructions> {
        if let Some(shared) = self.instructions_pool.get(ins) {
            return Arc::clone(shared);
        }
        if self.instructions_pool.len() >= self.pool_sweep_at {
            // Only the pool holds these: their rules are gone.
            self.instructions_pool
                .retain(|shared| Arc::strong_count(shared) > 1);
            self.pool_sweep_at = (2 * self.instructions_pool.len()).max(64);
        }
        let new = Arc::new(ins.clone());
        self.instructions_pool.insert(Arc::clone(&new));
        new
    }

    /// Removes every rule for which `doomed` gives a reason.
    pub(crate) fn remove_rules(
        &mut self,
        doomed: impl Fn(&Rule) -> Option<RemovedReason>,
        now: Instant,
    ) {
        for t in 0..self.tables.len() {
            let gone: Vec<(Match, u32, RemovedReason)> = self.tables[t]
                .iter()
                .filter_map(|(m, p, r)| doomed(r).map(|why| (m, p, why)))
                .collect();
            for (m, p, why) in gone {
                self.remove_rule(t, &m, p, why, now);
            }
        }
    }

    /// Records a rule change for flow monitors: `what` is (event, reason),
    /// `at` the rule's (table, match, priority).
    pub(crate) fn record(
        &mut self,
        what: (u16, u16),
        at: (usize, &Match, u32),
        r: &Rule,
        old: Option<Instructions>,
    ) {
        let (event, reason) = what;
        let (t, m, p) = at;
        // Hidden rules (fail-open's, in-band's) are no monitor's business.
        if !self.monitoring || super::stats::is_hidden(p) {
            return;
        }
        self.flow_events.push(FlowEvent {
            event,
            reason,
            table_id: t as u8,
            m: m.clone(),
            priority: p as u16,
            cookie: r.cookie,
            idle_timeout: r.idle_timeout,
            hard_timeout: r.hard_timeout,
            instructions: (*r.instructions).clone(),
            old_instructions: old,
            origin: self.event_origin,
        });
    }

    /// Removes one rule, owing a flow-removed message if it asked for one.
    pub(crate) fn remove_rule(
        &mut self,
        t: usize,
        m: &Match,
        p: u32,
        why: RemovedReason,
        now: Instant,
    ) {
        if let Some(rule) = self.tables.get_mut(t).and_then(|tb| tb.remove(m, p)) {
            self.record((1, why as u16), (t, m, p), &rule, None);
            if rule.flags & 1 != 0 {
                self.removed.push(RemovedRule {
                    table_id: t as u8,
                    m: m.clone(),
                    priority: p as u16,
                    rule,
                    reason: why,
                    at: now,
                });
            }
        }
    }

    /// Whether flow-removed, port-status or monitor messages are owed.
    pub fn has_async(&self) -> bool {
        !self.removed.is_empty() || !self.port_changes.is_empty() || !self.flow_events.is_empty()
    }

    /// Whether any rule has an idle or hard timeout.
    pub fn has_timeouts(&self) -> bool {
        self.n_timeouts > 0
    }

    /// Removes the rules whose idle or hard timeout has passed at `now`;
    /// returns how many. (Without traffic a rule is idle since it was
    /// added, as in stock; the datapath will refresh `used`.)
    pub fn expire(&mut self, now: Instant) -> usize {
        if self.n_timeouts == 0 {
            return 0;
        }
        let secs = |d: std::time::Duration| d.as_secs();
        let expired = |r: &Rule| {
            if r.hard_timeout != 0
                && secs(now.saturating_duration_since(r.modified.instant()))
                    >= r.hard_timeout as u64
            {
                Some(RemovedReason::HardTimeout)
            } else if r.idle_timeout != 0
                && secs(now.saturating_duration_since(r.stats.used())) >= r.idle_timeout as u64
            {
                Some(RemovedReason::IdleTimeout)
            } else {
                None
            }
        };
        let before: usize = self.tables.iter().map(|t| t.len()).sum();
        self.remove_rules(expired, now);
        let after: usize = self.tables.iter().map(|t| t.len()).sum();
        self.recount_timeouts();
        before - after
    }

    pub(crate) fn recount_timeouts(&mut self) {
        self.n_timeouts = self
            .tables
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|(_, _, r)| r.idle_timeout != 0 || r.hard_timeout != 0)
                    .count()
            })
            .sum();
    }

    /// Adds the flow stock adds to a bridge without controllers in
    /// standalone fail mode: priority 0, actions=NORMAL.
    pub fn add_normal_flow(&mut self) {
        let rule = Rule::new(Instructions {
            apply: vec![actions::Action::Output {
                port: port::NORMAL,
                max_len: 0,
            }],
            ..Default::default()
        });
        self.tables[0].insert(&Match::catchall(), 0, rule);
    }

    /// Deletes every rule, group and meter (when the bridge gains its
    /// first controller or loses its last, as stock does).
    pub fn flush(&mut self) {
        let now = Instant::now();
        self.remove_rules(|_| Some(RemovedReason::Delete), now);
        self.groups.clear();
        self.meters.clear();
        // The datapath's meters go with them (fail-open, a bridge's
        // first or last controller): nothing else re-syncs them.
        crate::xlate::meter::sync(&self.name, &self.meters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(p: u16) -> Instructions {
        Instructions {
            apply: vec![actions::Action::Output {
                port: p,
                max_len: 0,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn rules_stay_small_and_keep_their_times() {
        // The slot array of a table holds rules by value: every byte here
        // is 100 KB per 100,000 rules.
        assert!(
            std::mem::size_of::<Rule>() <= 72,
            "{}",
            std::mem::size_of::<Rule>()
        );
        // (Sets the epoch, if no other test did, before t0.)
        let _ = RuleTime::from(Instant::now());
        let t0 = Instant::now();
        let t1 = t0 + std::time::Duration::from_nanos(1_234_567_891);
        let (a, b) = (RuleTime::from(t0), RuleTime::from(t1));
        assert_eq!(
            b.instant().duration_since(a.instant()).as_nanos(),
            1_234_567_891
        );
        assert!(a < b && a == RuleTime::from(a.instant()));
    }

    fn flow_mod(command: u8, flags: u16, out: u16) -> FlowMod {
        let mut m = Match::catchall();
        m.set_exact(crate::openflow::fields::id::IN_PORT, 1);
        FlowMod {
            m,
            priority: 10,
            cookie: 0,
            cookie_mask: 0,
            new_cookie: None,
            command,
            table_id: 0,
            idle: 0,
            hard: 0,
            importance: 0,
            out_port: port::NONE,
            out_group: groups::ANY,
            flags,
            ins: output(out),
            may_add: true,
        }
    }

    /// The rule's counters, as flow statistics read them.
    fn counts(sw: &Switch) -> Option<(u64, u64)> {
        let fm = flow_mod(0, 0, 0);
        let r = sw.tables[0].find_exact(&fm.m, 10)?;
        Some((r.stats.packets(), r.stats.bytes()))
    }

    /// Credits go to the counters a translation's hit holds: the rule's
    /// while it is modified (reset_counts zeroes them) or replaced (the
    /// new rule takes them over, zeroed with reset_counts); a rule deleted
    /// and added again starts anew, the old flows' credits are not its.
    #[test]
    fn credits_follow_the_rule_through_modify_and_replace() {
        let mut sw = Switch::new("br0", 1);
        let now = || RuleTime::from(Instant::now());
        sw.flow_mod(flow_mod(0, 0, 2)).expect("add");
        let m = flow_mod(0, 0, 0).m;
        let hit = Arc::clone(&sw.tables[0].find_exact(&m, 10).expect("rule").stats);
        hit.credit(2, 120, now());
        assert_eq!(counts(&sw), Some((2, 120)));
        // modify_strict keeps the counters; with reset_counts, zeroes them.
        sw.flow_mod(flow_mod(2, 0, 3)).expect("modify");
        assert_eq!(counts(&sw), Some((2, 120)));
        sw.flow_mod(flow_mod(2, 4, 2)).expect("modify, reset");
        assert_eq!(counts(&sw), Some((0, 0)));
        hit.credit(1, 60, now());
        assert_eq!(counts(&sw), Some((1, 60)));
        // An add that replaces the rule keeps its counters, and flows
        // translated through the old rule still credit the new one.
        sw.flow_mod(flow_mod(0, 0, 3)).expect("replace");
        assert_eq!(counts(&sw), Some((1, 60)));
        hit.credit(1, 60, now());
        assert_eq!(counts(&sw), Some((2, 120)));
        sw.flow_mod(flow_mod(0, 4, 2)).expect("replace, reset");
        assert_eq!(counts(&sw), Some((0, 0)));
        hit.credit(1, 60, now());
        assert_eq!(counts(&sw), Some((1, 60)));
        // Deleted: the old hit's credits reach no rule in the tables.
        sw.flow_mod(flow_mod(4, 0, 0)).expect("delete");
        assert_eq!(counts(&sw), None);
        sw.flow_mod(flow_mod(0, 0, 2)).expect("add again");
        hit.credit(5, 300, now());
        assert_eq!(counts(&sw), Some((0, 0)));
        // A credit with packets marks the rule used (idle timeouts).
        let before = hit.used();
        hit.credit(
            1,
            60,
            RuleTime::from(Instant::now() + std::time::Duration::from_secs(5)),
        );
        assert!(hit.used() > before);
        hit.credit(
            0,
            0,
            RuleTime::from(Instant::now() + std::time::Duration::from_secs(50)),
        );
        assert!(hit.used() < before + std::time::Duration::from_secs(10));
    }

    #[test]
    fn equal_instructions_are_shared_and_unused_ones_swept() {
        let mut sw = Switch::new("br0", 1);
        let a = sw.share_instructions(&output(1));
        let b = sw.share_instructions(&output(1));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &sw.share_instructions(&output(2))));
        drop((a, b));
        // Growing the pool past its sweep point drops what no rule holds.
        let held: Vec<Arc<Instructions>> = (3..200)
            .map(|p| sw.share_instructions(&output(p)))
            .collect();
        assert!(!sw.instructions_pool.contains(&output(1)));
        assert_eq!(sw.instructions_pool.len(), held.len());
    }
}
