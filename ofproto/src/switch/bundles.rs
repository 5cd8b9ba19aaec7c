//! Bundles: changes collected per connection and applied all or nothing.

use super::*;

/// One change inside a bundle, decoded when it was added.
pub(crate) enum BundleOp {
    Flow(Box<FlowMod>),
    Group(groups::GroupMod),
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
            14 => BundleOp::Flow(Box::new(self.decode_flow_mod(conn, ih, inner)?)),
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
                BundleOp::Flow(fm) => self.flow_mod(*fm),
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
