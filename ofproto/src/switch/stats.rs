//! Statistics and descriptions (multipart requests and Nicira stats) and
//! the bridge/dump-flows text.

use super::*;

/// Builder of a multipart (stats) reply, split at the message size limit.
pub struct Replies {
    pub(crate) version: u8,
    pub(crate) msg_type: u8,
    pub(crate) xid: u32,
    pub(crate) stats_type: u16,
    pub(crate) hdr_len: usize,
    pub(crate) nx_subtype: Option<u32>,
    pub(crate) bodies: Vec<Vec<u8>>,
    pub(crate) cur: Vec<u8>,
}

impl Replies {
    pub(crate) fn new(
        version: u8,
        msg_type: u8,
        xid: u32,
        stats_type: u16,
        hdr_len: usize,
    ) -> Self {
        Replies {
            version,
            msg_type,
            xid,
            stats_type,
            hdr_len,
            nx_subtype: None,
            bodies: Vec::new(),
            cur: Vec::new(),
        }
    }

    pub(crate) fn extra(&self) -> usize {
        match (self.nx_subtype, self.version) {
            (None, _) => 0,
            (Some(_), 1) => 12,
            (Some(_), _) => 8,
        }
    }

    /// Bytes before the entries of each message: its headers, written
    /// by `finish` in place (the bodies are not copied again).
    fn prefix(&self) -> usize {
        self.hdr_len + self.extra()
    }

    pub(crate) fn push(&mut self, entry: &[u8]) {
        let prefix = self.prefix();
        if self.cur.len() + entry.len() > MAX_MSG && self.cur.len() > prefix {
            self.bodies.push(std::mem::take(&mut self.cur));
        }
        if self.cur.is_empty() {
            self.cur.resize(prefix, 0);
        }
        self.cur.extend_from_slice(entry);
    }

    pub(crate) fn finish(mut self) -> Vec<Vec<u8>> {
        let prefix = self.prefix();
        if self.cur.is_empty() {
            self.cur.resize(prefix, 0);
        }
        self.bodies.push(std::mem::take(&mut self.cur));
        let n = self.bodies.len();
        for (i, b) in self.bodies.iter_mut().enumerate() {
            let mut m = start(self.version, self.msg_type, self.xid);
            m.put_u16(self.stats_type);
            m.put_u16(if i + 1 < n { 1 } else { 0 });
            if self.version != 1 {
                m.put_zeros(4);
            }
            if let Some(st) = self.nx_subtype {
                m.put_u32(NX_VENDOR);
                m.put_u32(st);
                if self.version == 1 {
                    m.put_zeros(4);
                }
            }
            debug_assert_eq!(m.len(), prefix);
            if let Some(head) = b.get_mut(..m.len()) {
                head.copy_from_slice(&m);
            }
            let len = b.len().min(u16::MAX as usize) as u16;
            b.set_u16(2, len);
        }
        self.bodies
    }
}

/// OpenFlow 1.5 statistics (OXS): a 4-byte header, then the entries that
/// are known (an all-ones counter means unknown and is left out), padded
/// to 8 bytes.
pub(crate) fn put_oxs(
    e: &mut Vec<u8>,
    duration: Option<u64>,
    idle: Option<u64>,
    pkts: u64,
    bytes: u64,
    flows: Option<u32>,
) {
    let start = e.len();
    e.put_u32(0);
    let put64 = |e: &mut Vec<u8>, field: u32, v: u64| {
        e.put_u32(0x8002 << 16 | field << 9 | 8);
        e.put_u64(v);
    };
    if let Some(d) = duration {
        put64(e, 0, d);
    }
    if let Some(i) = idle {
        put64(e, 1, i);
    }
    if pkts != u64::MAX {
        put64(e, 4, pkts);
    }
    if bytes != u64::MAX {
        put64(e, 5, bytes);
    }
    if let Some(n) = flows {
        e.put_u32(0x8002 << 16 | 3 << 9 | 4);
        e.put_u32(n);
    }
    let len = (e.len() - start) as u16;
    e.set_u16(start + 2, len);
    e.pad_to(8);
}

/// A table name in a 32-byte NUL-padded field.
pub(crate) fn put_name32(name: &str, out: &mut Vec<u8>) {
    let b = name.as_bytes();
    let n = b.len().min(31);
    out.extend_from_slice(&b[..n]);
    out.put_zeros(32 - n);
}

/// An OXM `ofp_match` (type 1), padded to 8 bytes.
pub(crate) fn put_oxm_match(m: &Match, v: u8, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u16(1);
    out.put_u16(0);
    nxm::encode(m, Some(v), out);
    let len = out.len() - start;
    out.set_u16(start + 2, len as u16);
    out.pad_to(8);
}

/// The group id of a group statistics or description request (the id
/// and 4 bytes of padding).
fn group_request_id(body: &[u8]) -> Result<u32, OfpErr> {
    let mut br = Reader::new(body);
    let g = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
    if br.len() != 4 {
        return Err(OfpErr::OFPBRC_BAD_LEN);
    }
    Ok(g)
}

impl Switch {
    /// Appends the description (`desc`) or statistics entry of group
    /// `want` (or of every group for `groups::ALL`).
    fn group_entries(&self, v: u8, desc: bool, want: u32, rep: &mut Replies) {
        let now = Instant::now();
        let mut e = Vec::new();
        for (id, (g, created)) in &self.groups {
            if want != groups::ALL && want != *id {
                continue;
            }
            e.clear();
            if desc {
                groups::encode_desc(v, g, &mut e);
            } else {
                let refs = self.group_refs(*id);
                groups::encode_stats(v, g, refs, now.duration_since(*created), &mut e);
            }
            rep.push(&e);
        }
    }

    pub(crate) fn stats(&mut self, conn: &mut ConnState, h: Header, msg: &[u8]) -> Res {
        let v = h.version;
        let hdr_len = if v == 1 { 12 } else { 16 };
        let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
        let ty = r.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        let _flags = r.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        if v != 1 {
            r.skip(4).ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        }
        let body = r.rest();
        let reply_type = if v == 1 { 17 } else { 19 };
        let mut rep = Replies::new(v, reply_type, h.xid, ty, hdr_len);
        match ty {
            0 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut d = Vec::new();
                for (s, n) in [
                    ("Nicira, Inc.", 256),
                    ("Open vSwitch", 256),
                    (env!("CARGO_PKG_VERSION"), 256),
                    ("None", 32),
                    ("None", 256),
                ] {
                    let mut f = vec![0u8; n];
                    let b = s.as_bytes();
                    f[..b.len().min(n - 1)].copy_from_slice(&b[..b.len().min(n - 1)]);
                    d.extend_from_slice(&f);
                }
                rep.push(&d);
            }
            1 | 2 => {
                let mut br = Reader::new(body);
                let e = OfpErr::OFPBRC_BAD_LEN;
                let (m, table_id, out_port, out_group, cookie, cookie_mask);
                if v == 1 {
                    let (mm, _) = ofp10::decode(&mut br).ok_or(e)?;
                    table_id = br.u8().ok_or(e)?;
                    br.skip(1).ok_or(e)?;
                    out_port = br.u16().ok_or(e)?;
                    if !br.is_empty() {
                        return Err(e);
                    }
                    m = mm;
                    (out_group, cookie, cookie_mask) = (OFPG_ANY, 0, 0);
                } else {
                    table_id = br.u8().ok_or(e)?;
                    br.skip(3).ok_or(e)?;
                    let op = br.u32().ok_or(e)?;
                    out_port = port_from_of11(op).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
                    out_group = br.u32().ok_or(e)?;
                    br.skip(4).ok_or(e)?;
                    cookie = br.u64().ok_or(e)?;
                    cookie_mask = br.u64().ok_or(e)?;
                    m = self.pull_oxm_match(&mut br)?;
                }
                let f = Filter {
                    m: &m,
                    table_id,
                    out_port,
                    out_group,
                    cookie,
                    cookie_mask,
                };
                if ty == 1 {
                    self.flow_stats(&f, v, None, &mut rep)?;
                } else {
                    self.aggregate(&f, &mut rep)?;
                }
            }
            3 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                self.table_stats(v, &mut rep)?;
            }
            4 => {
                let mut br = Reader::new(body);
                let want = if v == 1 {
                    br.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?
                } else {
                    let p = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
                    port_from_of11(p).ok_or(OfpErr::OFPBRC_BAD_PORT)?
                };
                if br.len() != if v == 1 { 6 } else { 4 } {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let now = Instant::now();
                let mut e = Vec::new();
                for pi in self.sorted_ports() {
                    if want == port::NONE || want == pi.ofp_port {
                        e.clear();
                        self.port_stats_entry(v, pi, now, &mut e);
                        rep.push(&e);
                    }
                }
            }
            5 => self.queue_stats(v, body, &mut rep)?,
            15 if v >= 5 => self.queue_desc(body, &mut rep)?,
            12 if v >= 4 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_EPERM);
                }
                self.table_features(v, &mut rep);
            }
            13 => {
                // Only OpenFlow 1.5 names a port; earlier requests are empty.
                let want = if v >= 6 {
                    let mut br = Reader::new(body);
                    let p = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
                    if br.len() != 4 {
                        return Err(OfpErr::OFPBRC_BAD_LEN);
                    }
                    port_from_of11(p).ok_or(OfpErr::OFPBRC_BAD_PORT)?
                } else {
                    if !body.is_empty() {
                        return Err(OfpErr::OFPBRC_BAD_LEN);
                    }
                    port::NONE
                };
                let mut out = Vec::new();
                // In stock's order (ovs-ofctl sorts what it prints, but
                // walks the ports in this order for OpenFlow 1.0
                // queue-get-config).
                for pi in self.stock_ordered_ports() {
                    if want == port::NONE || want == pi.ofp_port {
                        out.clear();
                        self.port_bytes(v, pi, &mut out);
                        rep.push(&out);
                    }
                }
            }
            6 | 7 if v >= 2 => {
                let want = if ty == 7 && v < 6 {
                    if !body.is_empty() {
                        return Err(OfpErr::OFPBRC_BAD_LEN);
                    }
                    groups::ALL
                } else {
                    group_request_id(body)?
                };
                self.group_entries(v, ty == 7, want, &mut rep);
            }
            9 | 10 if v >= 4 => {
                let mut br = Reader::new(body);
                let want = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
                if br.len() != 4 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let now = Instant::now();
                let mut e = Vec::new();
                for (id, (m, created)) in &self.meters {
                    if want != meters::ID_ALL && want != *id {
                        continue;
                    }
                    e.clear();
                    if ty == 10 {
                        meters::encode_config(m, &mut e);
                    } else {
                        meters::encode_stats(
                            m,
                            self.meter_refs(*id),
                            now.duration_since(*created),
                            &mut e,
                        );
                    }
                    rep.push(&e);
                }
            }
            11 if v >= 4 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut e = Vec::new();
                meters::encode_features(&mut e);
                rep.push(&e);
            }
            16 if v >= 5 => return self.flow_monitor_request14(conn, v, body, rep),
            14 if v >= 5 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut e = Vec::new();
                for (t, cfg) in self.table_cfg.iter().enumerate() {
                    e.clear();
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u32(
                        if cfg.eviction { 4 } else { 0 }
                            | if cfg.vacancy.is_some() { 8 } else { 0 },
                    );
                    e.put_u16(2);
                    e.put_u16(8);
                    e.put_u32(EVICTION_FLAGS);
                    if let Some((down, up)) = cfg.vacancy {
                        let vac = self.vacancy(t);
                        e.put_u16(3);
                        e.put_u16(8);
                        e.put_u8(down);
                        e.put_u8(up);
                        e.put_u8(vac);
                        e.put_u8(0);
                    }
                    let len = e.len() as u16;
                    e.set_u16(0, len);
                    rep.push(&e);
                }
            }
            8 if v >= 2 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut e = Vec::new();
                groups::encode_features(v, &mut e);
                rep.push(&e);
            }
            0xffff => return self.nx_stats(conn, h, body, rep),
            _ => return Err(OfpErr::OFPBRC_BAD_STAT),
        }
        Ok(rep.finish())
    }

    pub(crate) fn nx_stats(
        &mut self,
        _conn: &mut ConnState,
        h: Header,
        body: &[u8],
        mut rep: Replies,
    ) -> Res {
        let mut r = Reader::new(body);
        let e = OfpErr::OFPBRC_BAD_LEN;
        let vendor = r.u32().ok_or(e)?;
        if vendor != NX_VENDOR {
            return Err(OfpErr::OFPBRC_BAD_VENDOR);
        }
        let subtype = r.u32().ok_or(e)?;
        if h.version == 1 {
            r.skip(4).ok_or(e)?;
        }
        // NXST_GROUP_FEATURES: group features before OpenFlow 1.2.
        if subtype == 9 && h.version <= 2 {
            if !r.is_empty() {
                return Err(e);
            }
            rep.nx_subtype = Some(subtype);
            let mut b = Vec::new();
            groups::encode_features(h.version, &mut b);
            rep.push(&b);
            return Ok(rep.finish());
        }
        // NXST_GROUP / NXST_GROUP_DESC: OpenFlow 1.0's group statistics
        // and descriptions (OpenFlow 1.3's and 1.5's entries).
        if (subtype == 7 || subtype == 8) && h.version == 1 {
            let want = group_request_id(r.rest())?;
            rep.nx_subtype = Some(subtype);
            self.group_entries(h.version, subtype == 8, want, &mut rep);
            return Ok(rep.finish());
        }
        // NXST_IPFIX_BRIDGE / NXST_IPFIX_FLOW: ferrovs has no IPFIX
        // exporter, so it answers as stock does without one.
        if subtype == 3 || subtype == 4 {
            if !r.is_empty() {
                return Err(e);
            }
            return Err(OfpErr::NXST_NOT_CONFIGURED);
        }
        if subtype == 2 && h.version == 1 {
            return self.flow_monitor_request(_conn, r.rest(), rep);
        }
        if subtype > 1 || h.version != 1 {
            return Err(OfpErr::OFPBRC_BAD_SUBTYPE);
        }
        let out_port = r.u16().ok_or(e)?;
        let match_len = r.u16().ok_or(e)? as usize;
        let table_id = r.u8().ok_or(e)?;
        r.skip(3).ok_or(e)?;
        if r.len() < pad8(match_len) {
            return Err(OfpErr::OFPBMC_BAD_LEN);
        }
        let mut ck = (0u64, 0u64);
        let m = nxm::decode(&mut r, match_len, true, Some(&mut ck))?;
        rep.nx_subtype = Some(subtype);
        let f = Filter {
            m: &m,
            table_id,
            out_port,
            out_group: OFPG_ANY,
            cookie: ck.0,
            cookie_mask: ck.1,
        };
        if subtype == 0 {
            self.flow_stats(&f, h.version, Some(()), &mut rep)?;
        } else {
            self.aggregate(&f, &mut rep)?;
        }
        Ok(rep.finish())
    }

    pub(crate) fn flow_stats(
        &self,
        f: &Filter<'_>,
        v: u8,
        nx: Option<()>,
        rep: &mut Replies,
    ) -> Result<(), OfpErr> {
        let now = Instant::now();
        let mut e = Vec::new();
        let match_all = f.m.mask.iter().all(|&b| b == 0);
        // The fields a match sets depend on its mask only: rules that share
        // a mask (a subtable's, in a row) share the list.
        let mut fields_of: Option<(Box<[u8; crate::openflow::fields::KEY_LEN]>, Vec<usize>)> = None;
        for t in self.tables_for(f.table_id)? {
            for (m, p, rule) in self.tables[t].iter() {
                if is_hidden(p) || !f.accepts_with(&m, rule, match_all) {
                    continue;
                }
                if fields_of.as_ref().is_none_or(|(mask, _)| **mask != m.mask) {
                    fields_of = Some((Box::new(m.mask), m.set_fields().collect()));
                }
                let fields = fields_of.as_ref().map_or(&[][..], |(_, f)| &f[..]);
                e.clear();
                let d = now.saturating_duration_since(rule.created.instant());
                // Stock reports durations with millisecond resolution.
                let (dsec, dnsec) = (d.as_secs() as u32, d.subsec_millis() * 1_000_000);
                let pkts = if rule.flags & 8 != 0 {
                    u64::MAX
                } else {
                    rule.stats.packets()
                };
                let bytes = if rule.flags & 16 != 0 {
                    u64::MAX
                } else {
                    rule.stats.bytes()
                };
                if nx.is_some() {
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u32(dsec);
                    e.put_u32(dnsec);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    let ml_at = e.len();
                    e.put_u16(0);
                    let idle_age = now.duration_since(rule.stats.used()).as_secs();
                    let hard_age = now
                        .saturating_duration_since(rule.modified.instant())
                        .as_secs();
                    e.put_u16((idle_age + 1).min(65535) as u16);
                    e.put_u16(if rule.modified != rule.created {
                        (hard_age + 1).min(65535) as u16
                    } else {
                        0
                    });
                    e.put_u64(rule.cookie);
                    e.put_u64(pkts);
                    e.put_u64(bytes);
                    let start = e.len();
                    nxm::encode_fields(&m, fields.iter().copied(), None, &mut e);
                    let ml = e.len() - start;
                    e.set_u16(ml_at, ml as u16);
                    e.pad_to(8);
                    actions::encode_instructions(1, &rule.instructions, has_vlan(&m), &mut e);
                } else if v == 1 {
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    ofp10::encode(&m, &mut e);
                    e.put_u32(dsec);
                    e.put_u32(dnsec);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    e.put_zeros(6);
                    e.put_u64(rule.cookie);
                    e.put_u64(pkts);
                    e.put_u64(bytes);
                    actions::encode(1, &rule.instructions.apply, has_vlan(&m), &mut e);
                } else if v >= 6 {
                    // OpenFlow 1.5: a flow description, the match, then
                    // the statistics as OXS entries.
                    e.put_u16(0);
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    e.put_u16(rule.flags);
                    e.put_u16(rule.importance);
                    e.put_u64(rule.cookie);
                    let mstart = e.len();
                    e.put_u16(1);
                    e.put_u16(0);
                    nxm::encode_fields(&m, fields.iter().copied(), Some(v), &mut e);
                    let mlen = e.len() - mstart;
                    e.set_u16(mstart + 2, mlen as u16);
                    e.pad_to(8);
                    let idle = now
                        .duration_since(rule.stats.used())
                        .as_secs()
                        .min(u32::MAX as u64 - 1);
                    put_oxs(
                        &mut e,
                        Some(((dsec as u64) << 32) | dnsec as u64),
                        Some(idle << 32),
                        pkts,
                        bytes,
                        None,
                    );
                    actions::encode_instructions(v, &rule.instructions, has_vlan(&m), &mut e);
                } else {
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u32(dsec);
                    e.put_u32(dnsec);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    e.put_u16(if v >= 4 { rule.flags } else { 0 });
                    e.put_u16(if v >= 5 { rule.importance } else { 0 });
                    e.put_zeros(2);
                    e.put_u64(rule.cookie);
                    e.put_u64(pkts);
                    e.put_u64(bytes);
                    // Stock answers with OXM even in OpenFlow 1.1.
                    let mstart = e.len();
                    e.put_u16(1);
                    e.put_u16(0);
                    nxm::encode_fields(&m, fields.iter().copied(), Some(v), &mut e);
                    let mlen = e.len() - mstart;
                    e.set_u16(mstart + 2, mlen as u16);
                    e.pad_to(8);
                    actions::encode_instructions(v, &rule.instructions, has_vlan(&m), &mut e);
                }
                let len = e.len() as u16;
                e.set_u16(0, len);
                rep.push(&e);
            }
        }
        Ok(())
    }

    pub(crate) fn aggregate(&self, f: &Filter<'_>, rep: &mut Replies) -> Result<(), OfpErr> {
        let (mut pkts, mut bytes, mut n) = (0u64, 0u64, 0u32);
        for t in self.tables_for(f.table_id)? {
            for (m, p, rule) in self.tables[t].iter() {
                if !is_hidden(p) && f.accepts(&m, rule) {
                    n += 1;
                    if rule.flags & 8 == 0 {
                        pkts += rule.stats.packets();
                    }
                    if rule.flags & 16 == 0 {
                        bytes += rule.stats.bytes();
                    }
                }
            }
        }
        let mut e = Vec::new();
        if rep.version >= 6 {
            put_oxs(&mut e, None, None, pkts, bytes, Some(n));
        } else {
            e.put_u64(pkts);
            e.put_u64(bytes);
            e.put_u32(n);
            e.put_zeros(4);
        }
        rep.push(&e);
        Ok(())
    }

    pub(crate) fn table_stats(&self, v: u8, rep: &mut Replies) -> Result<(), OfpErr> {
        let mut e = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            let active = table.len() - self.hidden_rules(t);
            e.clear();
            match v {
                1 => {
                    e.put_u8(t as u8);
                    e.put_zeros(3);
                    // Tables have no names unless configured.
                    put_name32(&self.table_cfg[t].name, &mut e);
                    e.put_u32(ofp10::W_ALL);
                    e.put_u32(self.max_entries(t));
                    e.put_u32(active as u32);
                    e.put_u64(0);
                    e.put_u64(0);
                }
                2 | 3 => {
                    e.put_u8(t as u8);
                    e.put_zeros(7);
                    put_name32(&self.table_cfg[t].name, &mut e);
                    // Goto-table is offered by every table but the last.
                    let ins: u32 = if (t as u8) + 1 < N_TABLES { 0x3e } else { 0x3c };
                    if v == 2 {
                        // ofp11_table_stats: OFPFMF11 match/wildcard bits
                        // and OpenFlow 1.1 action bits (no copy-TTL).
                        e.put_u32(0xfbff);
                        e.put_u32(0xfbff);
                        e.put_u32(ins);
                        e.put_u32(0x01ff_e7ff);
                        e.put_u32(0x01ff_e7ff);
                    } else {
                        // ofp12_table_stats: OXM field bits.
                        // Every OXM basic field up to mpls_tc (35) but
                        // in_phy_port (1).
                        let matchable: u64 = ((1u64 << 36) - 1) & !(1 << 1);
                        let settable = matchable & !(1 << 5) & !(1 << 10);
                        e.put_u64(matchable);
                        e.put_u64(matchable);
                        e.put_u32(0x03ff_e001);
                        e.put_u32(0x03ff_e001);
                        e.put_u64(settable);
                        e.put_u64(settable);
                        e.put_u64(u64::MAX);
                        e.put_u64(u64::MAX);
                        e.put_u32(ins);
                    }
                    // OpenFlow 1.1 table stats carry stock's internal miss
                    // number as is; 1.2 encodes it properly.
                    let miss = self.table_cfg[t].miss;
                    e.put_u32(if v == 2 {
                        miss
                    } else {
                        match miss {
                            2 => 1,
                            3 => 2,
                            _ => 0,
                        }
                    });
                    e.put_u32(self.max_entries(t));
                    e.put_u32(active as u32);
                    e.put_u64(0);
                    e.put_u64(0);
                }
                4..=6 => {
                    e.put_u8(t as u8);
                    e.put_zeros(3);
                    e.put_u32(active as u32);
                    e.put_u64(0);
                    e.put_u64(0);
                }
                _ => return Err(OfpErr::OFPBRC_BAD_STAT),
            }
            rep.push(&e);
        }
        Ok(())
    }

    /// Table features: name (none), metadata masks, size and the eight
    /// properties ovs-ofctl requires (instructions, next tables, actions,
    /// match, wildcards and set-field fields).
    pub(crate) fn table_features(&self, v: u8, rep: &mut Replies) {
        use crate::openflow::fields::{FIELDS, N_FIELDS};
        // OXM ids: `masked` sets the has-mask bit for maskable fields (in
        // the match property that says "arbitrary mask"). tun_metadata0..63
        // (variable length, up to 124 bytes) follow the fixed fields.
        let oxm_ids = |pred: &dyn Fn(usize) -> bool, masked: bool, with_tun_md: bool| -> Vec<u8> {
            let mut b = Vec::new();
            for f in (0..N_FIELDS).filter(|&f| pred(f)) {
                if let Some(h) = FIELDS[f].headers.first() {
                    let hm = masked && FIELDS[f].maskable;
                    let w = FIELDS[f].width as u32 * if hm { 2 } else { 1 };
                    let len = w + if h.class == 0xffff { 4 } else { 0 };
                    b.put_u32(
                        (h.class as u32) << 16 | (h.field as u32) << 9 | (hm as u32) << 8 | len,
                    );
                    if h.class == 0xffff {
                        b.put_u32(h.exp);
                    }
                }
            }
            if with_tun_md {
                for i in 0..64u32 {
                    let len = if masked { 248 } else { 124 };
                    b.put_u32(1 << 16 | (40 + i) << 9 | (masked as u32) << 8 | len);
                }
            }
            b
        };
        let matchable = oxm_ids(&|_| true, true, true);
        let wildcards = oxm_ids(&|_| true, false, true);
        let settable = oxm_ids(&|f| !FIELDS[f].read_only, false, true);
        let mut acts = Vec::new();
        for t in [0u16, 22, 25, 18, 17, 23, 24, 15, 16, 19, 20, 21] {
            acts.put_u16(t);
            acts.put_u16(4);
        }
        let prop = |e: &mut Vec<u8>, ty: u16, body: &[u8]| {
            e.put_u16(ty);
            e.put_u16(4 + body.len() as u16);
            e.extend_from_slice(body);
            e.pad_to(8);
        };
        let mut e = Vec::new();
        for t in 0..N_TABLES {
            e.clear();
            e.put_u16(0);
            e.put_u8(t);
            e.put_zeros(5);
            put_name32(&self.table_cfg[t as usize].name, &mut e);
            e.put_u64(u64::MAX);
            e.put_u64(u64::MAX);
            e.put_u32(0);
            e.put_u32(self.max_entries(t as usize));
            let mut ins = Vec::new();
            for i in [6u16, 4, 5, 3, 2, 1] {
                // No goto from the last table; meters are actions in 1.5.
                if (i == 1 && t + 1 >= N_TABLES) || (i == 6 && v >= 6) {
                    continue;
                }
                ins.put_u16(i);
                ins.put_u16(4);
            }
            prop(&mut e, 0, &ins);
            let next: Vec<u8> = (t + 1..N_TABLES).collect();
            prop(&mut e, 2, &next);
            prop(&mut e, 4, &acts);
            prop(&mut e, 6, &acts);
            prop(&mut e, 8, &matchable);
            prop(&mut e, 10, &wildcards);
            prop(&mut e, 12, &settable);
            prop(&mut e, 14, &settable);
            let len = e.len() as u16;
            e.set_u16(0, len);
            rep.push(&e);
        }
    }

    pub(crate) fn port_stats_entry(&self, v: u8, p: &PortInfo, now: Instant, e: &mut Vec<u8>) {
        let st = self
            .port_stats
            .as_ref()
            .and_then(|f| f(p.ofp_port))
            .unwrap_or(PortStats::UNKNOWN);
        let age = now.duration_since(self.port_added.get(&p.ofp_port).copied().unwrap_or(now));
        let main = [
            st.rx_packets,
            st.tx_packets,
            st.rx_bytes,
            st.tx_bytes,
            st.rx_dropped,
            st.tx_dropped,
            st.rx_errors,
            st.tx_errors,
        ];
        let eth = [
            st.rx_frame_errors,
            st.rx_over_errors,
            st.rx_crc_errors,
            st.collisions,
        ];
        match v {
            1 => {
                e.put_u16(p.ofp_port);
                e.put_zeros(6);
            }
            2..=4 => {
                e.put_u32(port_to_of11(p.ofp_port));
                e.put_zeros(4);
            }
            _ => {
                e.put_u16(120);
                e.put_zeros(2);
                e.put_u32(port_to_of11(p.ofp_port));
                e.put_u32(age.as_secs() as u32);
                e.put_u32(age.subsec_millis() * 1_000_000);
                for c in main {
                    e.put_u64(c);
                }
                e.put_u16(0);
                e.put_u16(40);
                e.put_zeros(4);
                for c in eth {
                    e.put_u64(c);
                }
                return;
            }
        }
        for c in main.into_iter().chain(eth) {
            e.put_u64(c);
        }
        if v == 4 {
            e.put_u32(age.as_secs() as u32);
            e.put_u32(age.subsec_millis() * 1_000_000);
        }
    }

    /// Flows as `ovs-appctl bridge/dump-flows` prints them: one line per
    /// rule, `[table_id=N, ]duration=Ns, n_packets=N, n_bytes=N, MATCH,
    /// actions=ACTIONS` (an empty match leaves `, ,`), then the hidden
    /// rules of table 254. Rules come in the order Open vSwitch's
    /// classifier visits them: table by table, subtables by highest
    /// priority, and within a subtable in the order the rules were added.
    pub fn dump_flows_text(&self) -> String {
        use crate::openflow::text;
        let mut s = String::new();
        let now = Instant::now();
        for (t, table) in self.tables.iter().enumerate() {
            for mut rules in table.iter_by_subtable() {
                rules.sort_by_key(|r| r.2.created);
                for (m, p, rule) in rules {
                    if t != 0 {
                        s.push_str(&format!("table_id={t}, "));
                    }
                    let d = now.saturating_duration_since(rule.created.instant());
                    s.push_str(&format!(
                        "duration={}s, n_packets={}, n_bytes={}, {},actions={}\n",
                        d.as_secs(),
                        rule.stats.packets(),
                        rule.stats.bytes(),
                        match_text(&m, p),
                        text::format_instructions(&rule.instructions)
                    ));
                }
            }
        }
        let age = now.duration_since(self.created).as_secs();
        for (m, actions) in HIDDEN_RULES {
            s.push_str(&format!(
                "table_id=254, duration={age}s, n_packets=0, n_bytes=0, {m},actions={actions}\n"
            ));
        }
        s
    }

    /// How many lines `dump_flows_text` has (`memory/show`'s "rules"),
    /// without writing them.
    pub fn dump_flows_count(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum::<usize>() + HIDDEN_RULES.len()
    }
}

/// The rules every bridge has in its hidden table 254, as Open vSwitch
/// lists them (match, actions). They stand for what translation does on
/// its own: a lookup that recirculation did not start ends in a drop; a
/// table miss sends a packet-in (reg0=1), drops (reg0=2), or drops a
/// fragment (reg0=3). Translation does not go through them here, so
/// their counters stay zero.
const HIDDEN_RULES: [(&str, &str); 4] = [
    ("priority=2,recirc_id=0", "drop"),
    ("priority=0,reg0=0x1", "controller(reason=)"),
    ("priority=0,reg0=0x2", "drop"),
    ("priority=0,reg0=0x3", "drop"),
];

/// The priority of fail-open's catch-all rule in table 0.
pub const FAIL_OPEN_PRIORITY: u32 = 0xf0f0f0;

impl Switch {
    /// How many rules of table `t` OpenFlow cannot see (fail-open's and
    /// in-band control's).
    pub(crate) fn hidden_rules(&self, t: usize) -> usize {
        self.tables.get(t).map_or(0, |tb| tb.count_above(0xffff))
    }
}

/// Whether a rule is one OpenFlow cannot see: its priority does not fit
/// in 16 bits (fail-open's and in-band's rules), as Open vSwitch hides
/// them.
pub(crate) fn is_hidden(priority: u32) -> bool {
    priority > 0xffff
}

/// A rule's match as `bridge/dump-flows` prints it, a hidden rule's
/// priority in full.
fn match_text(m: &Match, priority: u32) -> String {
    match u16::try_from(priority) {
        Ok(p) => crate::openflow::text::format_match(m, p),
        Err(_) => {
            let rest = crate::openflow::text::format_match(m, 32768);
            if rest.is_empty() {
                format!("priority={priority}")
            } else {
                format!("priority={priority},{rest}")
            }
        }
    }
}
