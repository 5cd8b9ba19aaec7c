//! NXT_CT_FLUSH_ZONE and NXT_CT_FLUSH: a controller (or `ovs-ofctl
//! ct-flush-zone` / `ct-flush`) flushes the connection tracker of the
//! bridge's datapath. ovn-controller flushes a zone this way whenever it
//! gives the zone to another logical port.
//!
//! Both are answered with nothing on success, as stock does. Flushing
//! the connections of one 5-tuple (NXT_CT_FLUSH with tuple properties or
//! an IP protocol) is not implemented by the datapaths' conntrack here,
//! and neither is flushing at all without a flush hook (the kernel
//! datapath's conntrack lives in netfilter): those are refused with
//! OFPBRC_BAD_SUBTYPE, as before these messages were known, rather than
//! acknowledged without effect.

use std::sync::Arc;

use super::{OfpErr, Res, Switch};
use crate::openflow::wire::Reader;

/// Flushes the datapath's connections: of one zone, or of all (`None`).
pub type CtFlushHook = Arc<dyn Fn(Option<u16>) + Send + Sync>;

const NXT_CT_FLUSH_ZONE: u32 = 29;
const NXT_CT_FLUSH: u32 = 32;

/// NXT_CT_FLUSH's properties (`enum nx_ct_flush_tlv_type`).
const PROP_ORIG_TUPLE: u16 = 0;
const PROP_REPLY_TUPLE: u16 = 1;
const PROP_ZONE_ID: u16 = 2;

impl Switch {
    /// The conntrack flush messages (`subtype` 29 or 32, `body` after the
    /// subtype); None for other subtypes.
    pub(crate) fn ct_flush_message(&self, subtype: u32, body: &[u8]) -> Option<Res> {
        let zone = match subtype {
            NXT_CT_FLUSH_ZONE => decode_flush_zone(body).map(Some),
            NXT_CT_FLUSH => decode_flush(body),
            _ => return None,
        };
        Some(zone.and_then(|zone| {
            let hook = self
                .ct_flush_hook
                .as_ref()
                .ok_or(OfpErr::OFPBRC_BAD_SUBTYPE)?;
            hook(zone);
            Ok(Vec::new())
        }))
    }
}

/// `struct nx_zone_id`: six zero bytes, then the zone.
fn decode_flush_zone(body: &[u8]) -> Result<u16, OfpErr> {
    let b: &[u8; 8] = body.try_into().map_err(|_| OfpErr::OFPBRC_BAD_LEN)?;
    if b[..6].iter().any(|x| *x != 0) {
        return Err(OfpErr::NXBRC_MUST_BE_ZERO);
    }
    Ok(u16::from_be_bytes([b[6], b[7]]))
}

/// `struct nx_ct_flush` (IP protocol, seven zero bytes) and its
/// properties, each padded to 8 bytes: the zone to flush (`None`: all),
/// when nothing narrower than a zone was asked for.
fn decode_flush(body: &[u8]) -> Result<Option<u16>, OfpErr> {
    if body.len() < 8 || !body.len().is_multiple_of(8) {
        return Err(OfpErr::OFPBRC_BAD_LEN);
    }
    if body[1..8].iter().any(|x| *x != 0) {
        return Err(OfpErr::NXBRC_MUST_BE_ZERO);
    }
    let mut narrower = body[0] != 0;
    let mut zone = None;
    let mut r = Reader::new(&body[8..]);
    while !r.rest().is_empty() {
        let kind = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        let len = usize::from(r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)?);
        let value_len = len.checked_sub(4).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        let padded = len.div_ceil(8) * 8 - 4;
        let value = r.rest().get(..value_len).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        match kind {
            PROP_ZONE_ID => {
                // OpenFlow gives a 16-bit value 4 bytes; stock takes
                // the first two of any that has them.
                let z = value.get(..2).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                zone = Some(u16::from_be_bytes([z[0], z[1]]));
            }
            PROP_ORIG_TUPLE | PROP_REPLY_TUPLE => narrower = true,
            // Stock skips properties it does not know.
            _ => {}
        }
        r.skip(padded).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
    }
    if narrower {
        return Err(OfpErr::OFPBRC_BAD_SUBTYPE);
    }
    Ok(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_messages_are_decoded_as_stock_encodes_them() {
        assert_eq!(decode_flush_zone(&[0, 0, 0, 0, 0, 0, 0, 5]), Ok(5));
        assert_eq!(
            decode_flush_zone(&[0, 0, 0, 1, 0, 0, 0, 5]),
            Err(OfpErr::NXBRC_MUST_BE_ZERO)
        );
        assert_eq!(decode_flush_zone(&[0; 4]), Err(OfpErr::OFPBRC_BAD_LEN));
        // `ovs-ofctl ct-flush br0` and `ct-flush br0 zone=5`.
        assert_eq!(decode_flush(&[0; 8]), Ok(None));
        // (ovs-ofctl's bytes: the zone property is 8 long.)
        let zone5 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 8, 0, 5, 0, 0];
        assert_eq!(decode_flush(&zone5), Ok(Some(5)));
        let short = [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 6, 0, 5, 0, 0];
        assert_eq!(decode_flush(&short), Ok(Some(5)));
        // A protocol or a tuple asks for less than a zone.
        assert_eq!(
            decode_flush(&[17, 0, 0, 0, 0, 0, 0, 0]),
            Err(OfpErr::OFPBRC_BAD_SUBTYPE)
        );
        let tuple = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0];
        assert_eq!(decode_flush(&tuple), Err(OfpErr::OFPBRC_BAD_SUBTYPE));
        // Hostile lengths.
        assert_eq!(
            decode_flush(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 5, 0, 0, 0, 0]),
            Err(OfpErr::OFPBPC_BAD_LEN)
        );
        assert_eq!(
            decode_flush(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0, 0, 0, 0]),
            Err(OfpErr::OFPBPC_BAD_LEN)
        );
        assert_eq!(decode_flush(&[0; 9]), Err(OfpErr::OFPBRC_BAD_LEN));
    }
}
