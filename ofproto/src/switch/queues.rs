//! Queues: queue statistics (OFPMP_QUEUE), queue configuration
//! (OFPT_QUEUE_GET_CONFIG_REQUEST before OpenFlow 1.4, OFPMP_QUEUE_DESC
//! from 1.4 on).
//!
//! ferrovs sets up no QoS, so a port has the queues its device reports
//! without one, as in stock: a dummy device has queue 0 with unknown
//! statistics ([`PortInfo::dummy_queue`]), other devices none. A request
//! for all queues lists what there is; one for a queue a port lacks is
//! OFPQOFC_BAD_QUEUE (for any port: when every port lacks it), one for a
//! port the bridge lacks OFPQOFC_BAD_PORT. The request checks (lengths,
//! port ranges, OpenFlow 1.0's OFPP_ALL standing for any port) are
//! stock's.

use super::*;

/// OFPQ_ALL.
const QUEUE_ALL: u32 = 0xffff_ffff;

impl Switch {
    /// The (port, queue) pairs `queue` names on port `p` (`port::NONE`:
    /// any port, in stock's order).
    fn port_queues(&self, p: u16, queue: u32) -> Result<Vec<(u16, u32)>, OfpErr> {
        let of_port = |pi: &PortInfo| -> Result<Vec<(u16, u32)>, OfpErr> {
            match (pi.dummy_queue, queue) {
                (true, QUEUE_ALL | 0) => Ok(vec![(pi.ofp_port, 0)]),
                (false, QUEUE_ALL) => Ok(Vec::new()),
                _ => Err(OfpErr::OFPQOFC_BAD_QUEUE),
            }
        };
        if p != port::NONE {
            let pi = self
                .ports
                .iter()
                .find(|pi| pi.ofp_port == p)
                .ok_or(OfpErr::OFPQOFC_BAD_PORT)?;
            return of_port(pi);
        }
        let ports = self.stock_ordered_ports();
        // Any port will do: the answer is an error only if none answers.
        let mut out = Vec::new();
        let mut answered = false;
        for pi in ports {
            if let Ok(q) = of_port(pi) {
                answered = true;
                out.extend(q);
            }
        }
        if answered {
            Ok(out)
        } else {
            Err(OfpErr::OFPQOFC_BAD_QUEUE)
        }
    }

    /// A 32-bit port of a request (OpenFlow 1.1+).
    fn queue_port11(r: &mut Reader<'_>) -> Result<u16, OfpErr> {
        let p = r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        port_from_of11(p).ok_or(OfpErr::OFPBAC_BAD_OUT_PORT)
    }

    /// OFPMP_QUEUE (OFPST_QUEUE): one entry per queue, its counters
    /// unknown (all ones), as a dummy device reports them.
    pub(crate) fn queue_stats(&self, v: u8, body: &[u8], rep: &mut Replies) -> Result<(), OfpErr> {
        if body.len() != 8 {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let mut r = Reader::new(body);
        let p = if v == 1 {
            let p = r.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
            r.skip(2).ok_or(OfpErr::OFPBRC_BAD_LEN)?;
            // OpenFlow 1.0 names every port OFPP_ALL here.
            if p == port::ALL {
                port::NONE
            } else {
                p
            }
        } else {
            Self::queue_port11(&mut r)?
        };
        let queue = r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        for (p, q) in self.port_queues(p, queue)? {
            let mut e = Vec::with_capacity(48);
            if v >= 5 {
                e.put_u16(48);
                e.put_zeros(6);
            }
            if v == 1 {
                e.put_u16(p);
                e.put_zeros(2);
            } else {
                e.put_u32(port_to_of11(p));
            }
            e.put_u32(q);
            for _ in 0..3 {
                e.put_u64(u64::MAX);
            }
            if v >= 4 {
                // Unknown duration.
                e.put_u32(u32::MAX);
                e.put_u32(u32::MAX);
            }
            rep.push(&e);
        }
        Ok(())
    }

    /// OFPMP_QUEUE_DESC (OpenFlow 1.4+): port and queue; one entry per
    /// queue, without rate properties.
    pub(crate) fn queue_desc(&self, body: &[u8], rep: &mut Replies) -> Result<(), OfpErr> {
        if body.len() != 8 {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let mut r = Reader::new(body);
        let p = Self::queue_port11(&mut r)?;
        let queue = r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        for (p, q) in self.port_queues(p, queue)? {
            let mut e = Vec::with_capacity(16);
            e.put_u32(port_to_of11(p));
            e.put_u32(q);
            e.put_u16(16);
            e.put_zeros(6);
            rep.push(&e);
        }
        Ok(())
    }

    /// OFPT_QUEUE_GET_CONFIG_REQUEST (OpenFlow 1.0 to 1.3): the reply
    /// names the port asked for and lists its queues.
    pub(crate) fn queue_get_config(&self, h: Header, body: &[u8]) -> Res {
        let v = h.version;
        let mut r = Reader::new(body);
        let p = if v == 1 {
            if body.len() != 4 {
                return Err(OfpErr::OFPBRC_BAD_LEN);
            }
            r.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?
        } else {
            if body.len() != 8 {
                return Err(OfpErr::OFPBRC_BAD_LEN);
            }
            Self::queue_port11(&mut r)?
        };
        // Only OpenFlow 1.1+ may ask for any port; reserved ports are
        // refused.
        if p >= port::MAX && !(v != 1 && p == port::NONE) {
            return Err(OfpErr::OFPQOFC_BAD_PORT);
        }
        let queues = self.port_queues(p, QUEUE_ALL)?;
        let mut m = if v == 1 {
            let mut m = start(v, 21, h.xid);
            m.put_u16(p);
            m.put_zeros(6);
            m
        } else {
            let mut m = start(v, 23, h.xid);
            m.put_u32(port_to_of11(p));
            m.put_zeros(4);
            m
        };
        for (qp, q) in queues {
            // OpenFlow 1.0 and 1.1 entries: queue, length; 1.2 and 1.3
            // add the port.
            m.put_u32(q);
            if v >= 3 {
                m.put_u32(port_to_of11(qp));
                m.put_u16(16);
                m.put_zeros(6);
            } else {
                m.put_u16(8);
                m.put_zeros(2);
            }
        }
        Ok(vec![finish(m)])
    }
}
