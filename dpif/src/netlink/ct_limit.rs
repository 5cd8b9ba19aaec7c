//! The `ovs_ct_limit` family: per-zone limits on conntrack entries. The
//! limits belong to the network namespace, not to a datapath.

use super::attrs::{split_ovs_header, AttrWriter, Attrs};
use super::consts::ct_limit;
use super::Netlink;
use crate::{DpifError, Result};

/// One zone's limit and current count (`struct ovs_zone_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneLimit {
    pub zone: u16,
    pub limit: u32,
    pub count: u32,
}

/// The limits the kernel reports: the default for zones without their own,
/// and the zones asked for (or all zones with a limit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CtLimits {
    pub default_limit: u32,
    pub zones: Vec<ZoneLimit>,
}

/// `struct ovs_zone_limit` bytes: zone id (-1 for the default), limit, and
/// a count the kernel fills in replies.
fn zone_limit_bytes(zone_id: i32, limit: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&zone_id.to_ne_bytes());
    b[4..8].copy_from_slice(&limit.to_ne_bytes());
    b
}

fn encode(entries: &[(i32, u32)]) -> Result<Vec<u8>> {
    let mut w = AttrWriter::with_ovs_header(0);
    if !entries.is_empty() {
        let bytes: Vec<u8> = entries
            .iter()
            .flat_map(|&(z, l)| zone_limit_bytes(z, l))
            .collect();
        w.put(ct_limit::ATTR_ZONE_LIMIT, &bytes);
    }
    w.finish()
}

pub(super) fn parse_reply(bytes: &[u8]) -> Result<CtLimits> {
    let (_, rest) = split_ovs_header(bytes)?;
    let attrs = Attrs::parse(rest)?;
    let zones = attrs
        .get(ct_limit::ATTR_ZONE_LIMIT)
        .ok_or_else(|| DpifError::new(libc::EINVAL, "conntrack limit reply without zone limits"))?;
    let mut out = CtLimits::default();
    for entry in zones.chunks_exact(12) {
        let field = |i: usize| {
            entry
                .get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
        };
        let (Some(z), Some(l), Some(c)) = (field(0), field(4), field(8)) else {
            continue;
        };
        let zone_id = i32::from_ne_bytes(z);
        let (limit, count) = (u32::from_ne_bytes(l), u32::from_ne_bytes(c));
        if zone_id == ct_limit::DEFAULT_ZONE {
            out.default_limit = limit;
        } else if let Ok(zone) = u16::try_from(zone_id) {
            out.zones.push(ZoneLimit { zone, limit, count });
        }
        // Other ids are not zones: skipped, as Open vSwitch skips them.
    }
    Ok(out)
}

impl Netlink {
    fn ct_limit_family(&self) -> Result<u16> {
        self.families.ct_limit.ok_or_else(|| {
            DpifError::new(libc::EOPNOTSUPP, "the kernel has no ovs_ct_limit family")
        })
    }

    /// Sets the default limit (if given) and the limits of `zones`.
    pub fn ct_limit_set(&mut self, default_limit: Option<u32>, zones: &[(u16, u32)]) -> Result<()> {
        let family = self.ct_limit_family()?;
        let mut entries: Vec<(i32, u32)> = default_limit
            .map(|l| (ct_limit::DEFAULT_ZONE, l))
            .into_iter()
            .collect();
        entries.extend(zones.iter().map(|&(z, l)| (i32::from(z), l)));
        let request = self.request(
            family,
            ct_limit::VERSION,
            ct_limit::CMD_SET,
            encode(&entries)?,
        );
        self.sock.transact(&request).map(|_| ())
    }

    /// Removes the limits of `zones` (they fall back to the default).
    pub fn ct_limit_del(&mut self, zones: &[u16]) -> Result<()> {
        let family = self.ct_limit_family()?;
        let entries: Vec<(i32, u32)> = zones.iter().map(|&z| (i32::from(z), 0)).collect();
        let request = self.request(
            family,
            ct_limit::VERSION,
            ct_limit::CMD_DEL,
            encode(&entries)?,
        );
        self.sock.transact(&request).map(|_| ())
    }

    /// The default limit and those of `zones` (all zones with a limit of
    /// their own when `zones` is empty).
    pub fn ct_limit_get(&mut self, zones: &[u16]) -> Result<CtLimits> {
        let family = self.ct_limit_family()?;
        let mut entries = Vec::new();
        if !zones.is_empty() {
            entries.push((ct_limit::DEFAULT_ZONE, 0));
            entries.extend(zones.iter().map(|&z| (i32::from(z), 0)));
        }
        let request = self.request(
            family,
            ct_limit::VERSION,
            ct_limit::CMD_GET,
            encode(&entries)?,
        );
        let reply = self
            .sock
            .transact(&request)?
            .ok_or_else(|| DpifError::new(libc::EPROTO, "no conntrack limit reply"))?;
        parse_reply(&reply.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_and_hostile_ones_do_not_panic() {
        let mut w = AttrWriter::with_ovs_header(0);
        let mut z = Vec::new();
        z.extend_from_slice(&zone_limit_bytes(-1, 100));
        z.extend_from_slice(&zone_limit_bytes(7, 10));
        z.extend_from_slice(&zone_limit_bytes(70_000, 1));
        z.extend_from_slice(&[1, 2, 3]);
        w.put(ct_limit::ATTR_ZONE_LIMIT, &z);
        let r = parse_reply(&w.finish().unwrap()).unwrap();
        assert_eq!(r.default_limit, 100);
        assert_eq!(
            r.zones,
            vec![ZoneLimit {
                zone: 7,
                limit: 10,
                count: 0
            }]
        );
        assert!(parse_reply(&[0, 0, 0, 0]).is_err());
        assert!(parse_reply(&[1]).is_err());
    }
}
