//! `upcall/enable-megaflows` and `upcall/disable-megaflows`. With
//! megaflows off, every flow the handlers install matches all of its
//! packet's fields exactly (its key, each attribute under an all-ones
//! mask), as stock's translation does then; the revalidators judge a
//! retranslation by the same rule. Either command flushes the installed
//! flows, as stock does, so that none of the other kind stays.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use ferrovs_dpif::odp::consts::{
    OVS_KEY_ATTR_ENCAP, OVS_KEY_ATTR_NSH, OVS_KEY_ATTR_TUNNEL, OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS,
};

use crate::bridge::Bridges;

static MEGAFLOWS: AtomicBool = AtomicBool::new(true);

pub fn run(enable: bool, bridges: &Bridges) -> String {
    MEGAFLOWS.store(enable, Ordering::Relaxed);
    bridges.revalidator_purge();
    if enable {
        "megaflows enabled".into()
    } else {
        "megaflows disabled".into()
    }
}

/// The mask a flow with `key` is installed with, given the mask its
/// translation computed.
pub fn effective_mask<'a>(key: &[u8], translated: &'a [u8]) -> Cow<'a, [u8]> {
    if MEGAFLOWS.load(Ordering::Relaxed) {
        Cow::Borrowed(translated)
    } else {
        Cow::Owned(exact_mask(key, Level::Key))
    }
}

/// Which attribute space a run of attributes is in (for their nesting).
#[derive(Clone, Copy)]
enum Level {
    Key,
    Tunnel,
    /// Inside an attribute that nests everything (NSH, VXLAN options).
    Nested,
}

/// An all-ones mask for each attribute of `attrs`, nested attributes
/// recursed into so that the mask keeps their structure. Malformed input
/// ends the walk (the datapath rejects such a key anyway).
fn exact_mask(attrs: &[u8], level: Level) -> Vec<u8> {
    let mut out = Vec::with_capacity(attrs.len());
    let mut rest = attrs;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        let Some(payload) = rest.get(4..len.max(4)) else {
            break;
        };
        let ty = kind & 0x3fff;
        let nested = match level {
            Level::Key if ty == OVS_KEY_ATTR_ENCAP => Some(Level::Key),
            Level::Key if ty == OVS_KEY_ATTR_TUNNEL => Some(Level::Tunnel),
            Level::Key if ty == OVS_KEY_ATTR_NSH => Some(Level::Nested),
            Level::Tunnel if ty == OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS => Some(Level::Nested),
            _ => None,
        };
        let body = match nested {
            Some(l) => exact_mask(payload, l),
            None => vec![0xff; payload.len()],
        };
        let Ok(total) = u16::try_from(body.len() + 4) else {
            break;
        };
        out.extend_from_slice(&total.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&body);
        out.resize(out.len().next_multiple_of(4), 0);
        rest = rest
            .get(len.max(4).next_multiple_of(4)..)
            .unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 4) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(v.len().next_multiple_of(4), 0);
        v
    }

    #[test]
    fn masks_every_field_and_keeps_nesting() {
        let tunnel = [attr(0, &[0, 0, 0, 0, 0, 0, 0, 5]), attr(5, &[])].concat();
        let key = [
            attr(3, &[1, 0, 0, 0]),
            attr(OVS_KEY_ATTR_TUNNEL, &tunnel),
            attr(6, &[8, 0]),
        ]
        .concat();
        let want = [
            attr(3, &[0xff; 4]),
            attr(
                OVS_KEY_ATTR_TUNNEL,
                &[attr(0, &[0xff; 8]), attr(5, &[])].concat(),
            ),
            attr(6, &[0xff; 2]),
        ]
        .concat();
        assert_eq!(exact_mask(&key, Level::Key), want);
        // A truncated attribute, or one longer than what is left, ends
        // the walk instead of panicking.
        assert_eq!(exact_mask(&key[..key.len() - 5], Level::Key).len(), 28);
        let mut bogus = key.clone();
        bogus[0] = 100;
        assert!(exact_mask(&bogus, Level::Key).is_empty());
    }
}
