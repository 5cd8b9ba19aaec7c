//! Bundles: changes collected per connection and applied all or nothing.

use super::*;

/// One change inside a bundle, decoded when it was added.
pub(crate) enum BundleOp {
    Flow(PackedFlowMod),
    Group(groups::GroupMod),
}

/// A flow_mod held in a bundle until the commit: its match packed to the
/// bytes it uses. A [`Match`] is a dense key and mask of every field (over a
/// kilobyte), almost all zeros, so a bundle of 100,000 whole flow_mods
/// would take over 130 MB (and the page faults of touching it) for matches
/// of a few dozen bytes each.
pub(crate) struct PackedFlowMod {
    /// Everything but the match.
    rest: FlowModRest,
    /// Runs of key bytes where key or mask is not zero: for each, its
    /// offset and length (u16 each, native order), then the key bytes,
    /// then the mask bytes.
    packed: Box<[u8]>,
}

/// Every field of [`FlowMod`] but the match.
struct FlowModRest {
    priority: u16,
    cookie: u64,
    cookie_mask: u64,
    new_cookie: Option<u64>,
    command: u8,
    table_id: u8,
    idle: u16,
    hard: u16,
    importance: u16,
    out_port: u16,
    out_group: u32,
    flags: u16,
    ins: Instructions,
    may_add: bool,
}

impl PackedFlowMod {
    pub(crate) fn pack(fm: FlowMod) -> PackedFlowMod {
        // Naming every field: a field added to FlowMod fails to build here
        // until it is carried.
        let FlowMod {
            m,
            priority,
            cookie,
            cookie_mask,
            new_cookie,
            command,
            table_id,
            idle,
            hard,
            importance,
            out_port,
            out_group,
            flags,
            ins,
            may_add,
        } = fm;
        let mut packed = Vec::new();
        let mut i = 0;
        while i < m.key.len() {
            if m.key[i] | m.mask[i] == 0 {
                i += 1;
                continue;
            }
            let start = i;
            while i < m.key.len() && m.key[i] | m.mask[i] != 0 {
                i += 1;
            }
            // KEY_LEN is far below 64 KiB, so offsets and lengths fit.
            packed.extend_from_slice(&(start as u16).to_ne_bytes());
            packed.extend_from_slice(&((i - start) as u16).to_ne_bytes());
            packed.extend_from_slice(&m.key[start..i]);
            packed.extend_from_slice(&m.mask[start..i]);
        }
        PackedFlowMod {
            rest: FlowModRest {
                priority,
                cookie,
                cookie_mask,
                new_cookie,
                command,
                table_id,
                idle,
                hard,
                importance,
                out_port,
                out_group,
                flags,
                ins,
                may_add,
            },
            packed: packed.into_boxed_slice(),
        }
    }

    pub(crate) fn unpack(self) -> FlowMod {
        let mut m = Match::default();
        let mut p = &self.packed[..];
        // `pack` wrote whole runs within the key, so this walks them all.
        while let [a, b, c, d, tail @ ..] = p {
            let start = usize::from(u16::from_ne_bytes([*a, *b]));
            let len = usize::from(u16::from_ne_bytes([*c, *d]));
            let (Some(key), Some(mask)) = (tail.get(..len), tail.get(len..2 * len)) else {
                break;
            };
            if let (Some(k), Some(mm)) = (
                m.key.get_mut(start..start + len),
                m.mask.get_mut(start..start + len),
            ) {
                k.copy_from_slice(key);
                mm.copy_from_slice(mask);
            }
            p = &tail[2 * len..];
        }
        let r = self.rest;
        FlowMod {
            m,
            priority: r.priority,
            cookie: r.cookie,
            cookie_mask: r.cookie_mask,
            new_cookie: r.new_cookie,
            command: r.command,
            table_id: r.table_id,
            idle: r.idle,
            hard: r.hard,
            importance: r.importance,
            out_port: r.out_port,
            out_group: r.out_group,
            flags: r.flags,
            ins: r.ins,
            may_add: r.may_add,
        }
    }
}

/// An open bundle of a connection.
pub(crate) struct Bundle {
    pub(crate) flags: u16,
    pub(crate) closed: bool,
    /// Each change with the BUNDLE_ADD message that carried it (echoed in
    /// the error if the change fails at commit).
    pub(crate) entries: Vec<(BundleOp, Vec<u8>)>,
}

impl Switch {
    /// BUNDLE_CONTROL (or its OpenFlow 1.3 ONF form): `body` starts at the
    /// bundle id.
    pub(crate) fn bundle_control(&mut self, conn: &mut ConnState, h: Header, body: &[u8]) -> Res {
        let mut r = Reader::new(body);
        let e = OfpErr::OFPBRC_BAD_LEN;
        let id = r.u32().ok_or(e)?;
        let ty = r.u16().ok_or(e)?;
        let flags = r.u16().ok_or(e)?;
        let reply_type = match ty {
            0 => {
                if conn.bundles.remove(&id).is_some() {
                    return Err(OfpErr::OFPBFC_BAD_ID);
                }
                conn.bundles.insert(
                    id,
                    Bundle {
                        flags,
                        closed: false,
                        entries: Vec::new(),
                    },
                );
                1
            }
            2 => {
                let b = conn.bundles.get_mut(&id).ok_or(OfpErr::OFPBFC_BAD_ID)?;
                if b.closed {
                    conn.bundles.remove(&id);
                    return Err(OfpErr::OFPBFC_BUNDLE_CLOSED);
                }
                if b.flags != flags {
                    conn.bundles.remove(&id);
                    return Err(OfpErr::OFPBFC_BAD_FLAGS);
                }
                b.closed = true;
                3
            }
            4 => {
                let b = conn.bundles.remove(&id).ok_or(OfpErr::OFPBFC_BAD_ID)?;
                if b.flags != flags {
                    return Err(OfpErr::OFPBFC_BAD_FLAGS);
                }
                if let Some((err, failed)) = self.commit(b.entries) {
                    // First the failing change's own error, then the
                    // commit's (which `handle` sends for the Err).
                    let fh = Header::parse(&failed).unwrap_or(h);
                    self.early_replies
                        .push(error_msg(err, fh.version, fh.xid, &failed));
                    return Err(OfpErr::OFPBFC_MSG_FAILED);
                }
                5
            }
            6 => {
                conn.bundles.remove(&id).ok_or(OfpErr::OFPBFC_BAD_ID)?;
                7
            }
            1 | 3 | 5 | 7 => return Err(OfpErr::OFPBFC_BAD_TYPE),
            _ => return Err(OfpErr::OFPBFC_BAD_TYPE),
        };
        // The reply repeats the request's header form with flags 0.
        let mut m = start(h.version, h.msg_type, h.xid);
        if h.msg_type == 4 {
            m.put_u32(ONF_VENDOR);
            m.put_u32(2300);
        }
        m.put_u32(id);
        m.put_u16(reply_type);
        m.put_u16(0);
        Ok(vec![finish(m)])
    }

    /// BUNDLE_ADD_MESSAGE: the inner message starts at `inner_at`.
    pub(crate) fn bundle_add(
        &mut self,
        conn: &mut ConnState,
        h: Header,
        msg: &[u8],
        inner_at: usize,
    ) -> Res {
        let mut r = Reader::new(msg.get(inner_at - 8..).unwrap_or(&[]));
        let e = OfpErr::OFPBRC_BAD_LEN;
        let id = r.u32().ok_or(e)?;
        r.skip(2).ok_or(e)?;
        let flags = r.u16().ok_or(e)?;
        let inner = r.rest();
        let ih = Header::parse(inner).ok_or(OfpErr::OFPBFC_MSG_BAD_LEN)?;
        if ih.version != h.version {
            return Err(OfpErr::OFPBFC_BAD_VERSION);
        }
        if (ih.length as usize) < 8 || ih.length as usize > inner.len() {
            return Err(OfpErr::OFPBFC_MSG_BAD_LEN);
        }
        if ih.xid != h.xid {
            return Err(OfpErr::OFPBFC_MSG_BAD_XID);
        }
        let inner = &inner[..ih.length as usize];
        let op = match ih.msg_type {
            14 => BundleOp::Flow(PackedFlowMod::pack(self.decode_flow_mod(conn, ih, inner)?)),
            15 => BundleOp::Group(groups::decode_mod(ih.version, &inner[8..])?),
            _ => return Err(OfpErr::OFPBFC_MSG_UNSUP),
        };
        match conn.bundles.get_mut(&id) {
            None => {
                conn.bundles.insert(
                    id,
                    Bundle {
                        flags,
                        closed: false,
                        entries: vec![(op, msg.to_vec())],
                    },
                );
            }
            Some(b) if b.closed => {
                conn.bundles.remove(&id);
                return Err(OfpErr::OFPBFC_BUNDLE_CLOSED);
            }
            Some(b) if b.flags != flags => {
                conn.bundles.remove(&id);
                return Err(OfpErr::OFPBFC_BAD_FLAGS);
            }
            Some(b) => b.entries.push((op, msg.to_vec())),
        }
        Ok(vec![])
    }

    /// Applies a bundle's changes all or nothing. On failure returns the
    /// error and the BUNDLE_ADD message of the change that failed.
    pub(crate) fn commit(
        &mut self,
        entries: Vec<(BundleOp, Vec<u8>)>,
    ) -> Option<(OfpErr, Vec<u8>)> {
        let saved = (
            self.tables.clone(),
            self.groups.clone(),
            self.meters.clone(),
        );
        for (op, msg) in entries {
            let res = match op {
                BundleOp::Flow(fm) => self.flow_mod(fm.unpack()),
                BundleOp::Group(gm) => self.group_mod(gm),
            };
            if let Err(e) = res {
                (self.tables, self.groups, self.meters) = saved;
                return Some((e, msg));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::fields::KEY_LEN;

    #[test]
    fn packed_flow_mod_gives_back_the_same_match_and_fields() {
        let mut m = Match::default();
        // Runs at the start, in the middle (key without mask, mask without
        // key) and at the very end of the key.
        m.key[0] = 1;
        m.mask[0] = 0xff;
        m.key[100..104].copy_from_slice(&[10, 0, 0, 1]);
        m.mask[101..105].copy_from_slice(&[0xff; 4]);
        m.key[KEY_LEN - 1] = 7;
        m.mask[KEY_LEN - 1] = 0x0f;
        let fm = FlowMod {
            m: m.clone(),
            priority: 123,
            cookie: 0x1234,
            cookie_mask: u64::MAX,
            new_cookie: Some(9),
            command: 1,
            table_id: 3,
            idle: 10,
            hard: 20,
            importance: 5,
            out_port: 7,
            out_group: 8,
            flags: 1,
            ins: Instructions::default(),
            may_add: true,
        };
        let packed = PackedFlowMod::pack(fm);
        assert!(packed.packed.len() < 40);
        let back = packed.unpack();
        assert!(back.m.key == m.key && back.m.mask == m.mask);
        assert_eq!(
            (
                back.priority,
                back.cookie,
                back.cookie_mask,
                back.new_cookie
            ),
            (123, 0x1234, u64::MAX, Some(9))
        );
        assert_eq!(
            (back.command, back.table_id, back.idle, back.hard),
            (1, 3, 10, 20)
        );
        assert_eq!((back.importance, back.out_port, back.out_group), (5, 7, 8));
        assert!(back.flags == 1 && back.may_add);
    }

    #[test]
    fn packed_catch_all_match_is_empty() {
        let fm = FlowMod {
            m: Match::default(),
            priority: 0,
            cookie: 0,
            cookie_mask: 0,
            new_cookie: None,
            command: 0,
            table_id: 0,
            idle: 0,
            hard: 0,
            importance: 0,
            out_port: 0,
            out_group: 0,
            flags: 0,
            ins: Instructions::default(),
            may_add: false,
        };
        let packed = PackedFlowMod::pack(fm);
        assert!(packed.packed.is_empty());
        let back = packed.unpack();
        assert!(back.m.key == [0; KEY_LEN] && back.m.mask == [0; KEY_LEN]);
    }
}
