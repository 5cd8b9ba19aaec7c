//! Stock's learning packets after a failover.

use crate::bridge::Bridges;

use super::commands::scan_mac;
use super::Bonds;

impl Bonds {
    /// Stock's learning packets: once a bond's active member changed or
    /// a member went down, a RARP from every MAC the bridge learned on
    /// another port leaves by the member the bond now picks for it, so
    /// that the switches beyond learn where those MACs are without
    /// waiting for their traffic. `fdb` gives a bridge's `fdb/show`.
    pub fn send_learning_packets(
        &mut self,
        bridges: &Bridges,
        fdb: impl Fn(&str) -> Option<String>,
    ) {
        for b in self.bonds.values_mut() {
            if !std::mem::take(&mut b.send_learning) || b.active.is_none() {
                continue;
            }
            // As stock: not with LACP negotiated (the partner knows the
            // bond), and balance-tcp never.
            let view = b.view();
            let may = if view.lacp_configured {
                view.lacp_fallback_ab && !view.lacp_negotiated
            } else {
                b.cfg.mode != ferrovs_ofproto::xlate::bond::BondMode::BalanceTcp
            };
            if !may {
                continue;
            }
            let Some(br) = bridges.bridges.get(&b.bridge) else {
                continue;
            };
            let Some(dpif) = bridges.backers.get(&br.dp_type) else {
                continue;
            };
            let Some(table) = fdb(&b.bridge) else {
                continue;
            };
            let view = b.view();
            let mut sent = 0;
            for (port, vlan, mac) in parse_fdb_show(&table) {
                if port == view.bundle() {
                    continue;
                }
                let Some(out) = view.choose_output(mac, vlan) else {
                    continue;
                };
                let Some(odp) = b
                    .members
                    .iter()
                    .find(|m| m.ofport == Some(out))
                    .and_then(|m| br.ifaces.get(&m.name))
                    .and_then(|i| i.odp_port)
                else {
                    continue;
                };
                if send(dpif, odp, &rarp(mac, vlan)) {
                    sent += 1;
                }
            }
            log::debug!(target: "bond", "bond {}: sent {sent} learning packets", b.cfg.name);
        }
    }
}

/// The (port, VLAN, MAC) rows of an `fdb/show` table (LOCAL as 65534).
fn parse_fdb_show(text: &str) -> Vec<(u16, u16, [u8; 6])> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let port = match f.next()? {
                "LOCAL" => 0xfffe,
                p => p.parse().ok()?,
            };
            let vlan = f.next()?.parse().ok()?;
            Some((port, vlan, scan_mac(f.next()?)?))
        })
        .collect()
}

/// Stock's learning packet: a broadcast RARP request from `mac`, tagged
/// with `vlan` (no CFI bit, as stock pushes it) unless 0.
fn rarp(mac: [u8; 6], vlan: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(46);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    if vlan != 0 {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vlan.to_be_bytes());
    }
    f.extend_from_slice(&[0x80, 0x35, 0, 1, 0x08, 0, 6, 4, 0, 3]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0; 4]);
    f
}

/// Sends `frame` out of datapath port `odp` (learning packets, LACPDUs).
pub(super) fn send(dpif: &crate::bridge::SharedDpif, odp: u32, frame: &[u8]) -> bool {
    use ferrovs_dpif::odp::{Action, Actions, Key, KeyAttr};
    let key = Key {
        attrs: vec![KeyAttr::InPort(0)],
    };
    let actions = Actions {
        list: vec![Action::Output(odp)],
    };
    let (Ok(key), Ok(actions)) = (key.to_nlattrs(), actions.to_nlattrs()) else {
        return false;
    };
    let done = crate::bridge::lock_dpif(dpif).execute(&ferrovs_dpif::Execute {
        packet: frame,
        key: &key,
        actions: &actions,
        probe: false,
        mru: 0,
    });
    if let Err(e) = &done {
        log::debug!(target: "bond", "frame not sent: {e}");
    }
    done.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_packets_are_stocks_rarps() {
        let mac = [2, 0, 0, 0, 0xa0, 1];
        let f = rarp(mac, 0);
        assert_eq!(f.len(), 42);
        assert_eq!(&f[12..22], &[0x80, 0x35, 0, 1, 8, 0, 6, 4, 0, 3]);
        assert_eq!(
            (&f[6..12], &f[22..28], &f[32..38]),
            (&mac[..], &mac[..], &mac[..])
        );
        let t = rarp(mac, 10);
        assert_eq!((t.len(), &t[12..16]), (46, &[0x81, 0, 0, 10][..]));
        let table = " port  VLAN  MAC                Age\n\
                         1     0  02:00:00:00:a0:01    3\n\
                     LOCAL    10  aa:55:aa:55:00:00  static\n";
        assert_eq!(
            parse_fdb_show(table),
            vec![(1, 0, mac), (0xfffe, 10, [0xaa, 0x55, 0xaa, 0x55, 0, 0])]
        );
    }
}
