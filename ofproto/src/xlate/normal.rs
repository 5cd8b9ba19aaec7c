//! The NORMAL action: the bridge as a VLAN-aware learning switch, as
//! Open vSwitch's `xlate_normal` behaves.
//!
//! 1. The input port's VLAN mode decides whether the packet may enter
//!    (an access port takes untagged or priority-tagged packets, a trunk
//!    only the VLANs it carries) and which VLAN it belongs to inside the
//!    bridge.
//! 2. Reserved destinations (STP and other bridge protocols) are dropped.
//! 3. During upcalls (not `ofproto/trace`) the source MAC is learned on
//!    the input port in that VLAN.
//! 4. A learned destination goes to its port; an unknown, broadcast or
//!    multicast one is flooded to every other port that carries the VLAN.
//!    Each output gets the tagging of its port's mode.
//!
//! The megaflow matches both MAC addresses and the VLAN ID and CFI
//! bits; a broadcast ARP adds its opcode (and both addresses for a
//! request), because stock checks for gratuitous ARPs.

use std::borrow::Cow;
use std::time::Instant;

use super::trace::{Node, NodeKind};
use super::Ctx;
use crate::openflow::actions::port;
use crate::openflow::fields::{eth_type, id, VLAN_CFI};
use crate::service::FdbRequest;
use crate::switch::{PortVlan, Switch, VlanMode};

/// A port of no Port row: a trunk for every VLAN.
const TRUNK_ALL: PortVlan = PortVlan {
    mode: VlanMode::Trunk,
    vlan: 0,
    trunks: None,
};

/// OFPPC_NO_FLOOD.
const NO_FLOOD: u32 = 0x10;

/// The VLANs of a packet inside the bridge: the outer tag's VID and PCP,
/// and the whole inner tag (0 for none).
#[derive(Debug, Clone, Copy)]
pub(super) struct Xvlan {
    pub(super) vid: u16,
    pub(super) pcp: u16,
    pub(super) inner: u16,
}

/// One port as NORMAL sees it.
struct L2Port<'a> {
    ofport: u16,
    name: Cow<'a, str>,
    vlan: &'a PortVlan,
    floodable: bool,
}

/// Whether `mac` is one of the reserved protocol addresses stock never
/// forwards (`eth_addr_is_reserved`): 01:80:c2:00:00:0x, Extreme's EDP
/// and EAPS, Cisco's ISL, CDP/VTP, PVST+, uplink-fast and CFM.
pub(super) fn is_reserved(mac: u64) -> bool {
    mac >> 4 == 0x0180_c200_0000 >> 4
        || matches!(
            mac,
            0x00e0_2b00_0000
                | 0x00e0_2b00_0004
                | 0x00e0_2b00_0006
                | 0x0100_0c00_0000
                | 0x0100_0ccc_cccc
                | 0x0100_0ccc_cccd
                | 0x0100_0ccd_cdcd
        )
        || (0x0100_0ccc_ccc0..=0x0100_0ccc_ccc7).contains(&mac)
}

fn mac_bytes(v: u128) -> [u8; 6] {
    let b = v.to_be_bytes();
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[10..16]);
    m
}

/// The bridge's ports in the order NORMAL visits them: as stock, the
/// order they joined the bridge (so the bridge's own LOCAL port first);
/// ports that came in one reconfiguration by OpenFlow number, LOCAL
/// first. Without a switch, by number.
fn l2_ports<'a>(br: &super::Bridge<'a>) -> Vec<L2Port<'a>> {
    let mut ports: Vec<L2Port<'a>> = match br.switch {
        Some(sw) => sw
            .ports
            .iter()
            .map(|p| L2Port {
                ofport: p.ofp_port,
                name: Cow::Borrowed(p.name.as_str()),
                vlan: sw.port_vlans.get(&p.ofp_port).unwrap_or(&TRUNK_ALL),
                floodable: p.config & NO_FLOOD == 0,
            })
            .collect(),
        None => br
            .odp_ports
            .keys()
            .map(|&p| L2Port {
                ofport: p,
                name: Cow::Owned(p.to_string()),
                vlan: &TRUNK_ALL,
                floodable: true,
            })
            .collect(),
    };
    match br.switch {
        Some(sw) => ports.sort_by_key(|p| {
            (
                sw.port_added.get(&p.ofport).copied(),
                p.ofport != port::LOCAL,
                p.ofport,
            )
        }),
        None => ports.sort_by_key(|p| p.ofport),
    }
    ports
}

impl Ctx<'_> {
    pub(super) fn normal(&mut self, out: &mut Vec<Node>) {
        self.exact(id::ETH_SRC);
        self.exact(id::ETH_DST);
        self.unwildcard(id::VLAN_TCI, 0x1fff);
        let in_port = self.get(id::IN_PORT) as u16;
        let ports = l2_ports(self.br);
        let bonds = self
            .br
            .switch
            .and_then(|_| super::bond::of_bridge(self.br.name));
        // What MACs are learned on and forwarded to: a bond member stands
        // for its bond.
        let in_bundle = bonds.as_ref().map_or(in_port, |b| b.bundle(in_port));
        let input = ports.iter().find(|p| p.ofport == in_port);
        // A controller may send packets "from" CONTROLLER or NONE: they
        // belong to no port and may carry any VLAN.
        let from_nowhere =
            input.is_none() && (in_port == port::CONTROLLER || in_port == port::NONE);
        if input.is_none() && !from_nowhere {
            out.push(Node::new(
                NodeKind::Error,
                format!("received packet on unknown port {in_port}"),
            ));
            out.push(Node::new(
                NodeKind::Warn,
                "no input bundle, dropping".into(),
            ));
            return;
        }
        let tci = self.get(id::VLAN_TCI) as u16;
        let et = self.get(id::ETH_TYPE) as u16;
        if et == eth_type::VLAN && tci & VLAN_CFI == 0 {
            out.push(Node::new(
                NodeKind::Warn,
                "partial VLAN tag, dropping".into(),
            ));
            return;
        }
        if self.is_mirror_output(in_port) {
            out.push(Node::new(
                NodeKind::Warn,
                "input port is mirror output port, dropping".into(),
            ));
            return;
        }
        let (in_vid, in_pcp) = if tci & VLAN_CFI != 0 {
            (tci & 0x0fff, tci & 0xe000)
        } else {
            (0, 0)
        };
        let in_vlan = input.map_or(&TRUNK_ALL, |p| p.vlan);
        if let Some(e) = input.and_then(|p| vid_error(p, in_vid)) {
            out.push(Node::new(NodeKind::Error, e));
            out.push(Node::new(
                NodeKind::Warn,
                "disallowed VLAN VID for this input port, dropping".into(),
            ));
            return;
        }
        let xvlan = match in_vlan.mode {
            VlanMode::Access => Xvlan {
                vid: in_vlan.vlan,
                pcp: in_pcp,
                inner: 0,
            },
            VlanMode::NativeTagged | VlanMode::NativeUntagged if in_vid == 0 => Xvlan {
                vid: in_vlan.vlan,
                pcp: in_pcp,
                inner: self.vlans.flow,
            },
            _ => Xvlan {
                vid: in_vid,
                pcp: in_pcp,
                inner: self.vlans.flow,
            },
        };
        let vlan = xvlan.vid;
        let dst = self.get(id::ETH_DST) as u64;
        let forward_bpdu = self.br.switch.is_some_and(|sw| sw.forward_bpdu);
        if !forward_bpdu && is_reserved(dst) {
            out.push(Node::new(
                NodeKind::Detail,
                "packet has reserved destination MAC, dropping".into(),
            ));
            return;
        }
        self.gratuitous_arp_wildcards(dst);
        if let Some(bond) = bonds.as_ref().and_then(|b| b.of_member(in_port)) {
            if !self.bond_admits(bond, in_port, in_bundle, vlan, dst, out) {
                return;
            }
        }
        if !from_nowhere && self.br.switch.is_some() {
            // Recorded always, so that the flow's later packets refresh
            // (or teach again) the entry; applied now only for a packet.
            self.learned.push(super::learn::Learned::Mac {
                bridge: self.br.name.to_string(),
                mac: mac_bytes(self.get(id::ETH_SRC)),
                vlan,
                port: in_bundle,
            });
        }
        // The source is learned and the destination looked up under one
        // lock of the table and one read of the clock.
        let learned = self.br.switch.and_then(|sw| {
            let now = Instant::now();
            let mut table = sw.mac_table.lock().unwrap_or_else(|e| e.into_inner());
            if self.br.side_effects && !from_nowhere {
                let src = mac_bytes(self.get(id::ETH_SRC));
                table.learn(src, vlan, in_bundle, now);
            }
            // Every lookup is recorded (even `ofproto/trace`'s,
            // harmlessly), in the table and in the translation: a change
            // of that entry makes this flow, and only flows like it, stale.
            let mac = mac_bytes(dst as u128);
            if !self.mac_lookups.contains(&(vlan, mac)) {
                self.mac_lookups.push((vlan, mac));
            }
            table.lookup_for_flow(mac, vlan, now)
        });
        match learned {
            Some(p) if self.is_mirror_output(p) => out.push(Node::new(
                NodeKind::Warn,
                "learned port is a mirror port, dropping".into(),
            )),
            Some(p) if p == in_bundle => out.push(Node::new(
                NodeKind::Detail,
                "learned port is input port, dropping".into(),
            )),
            Some(p) => match self
                .bond_member_for(bonds.as_deref(), p, vlan)
                .and_then(|m| ports.iter().find(|x| x.ofport == m))
            {
                Some(target) => {
                    self.note(out, NodeKind::Detail, || {
                        "forwarding to learned port".into()
                    });
                    self.output_normal(target.ofport, target.vlan, xvlan, out);
                }
                // A bond with no member to send by drops it, as stock.
                None if bonds.as_ref().is_some_and(|b| b.of_member(p).is_some()) => out.push(
                    Node::new(NodeKind::Detail, "forwarding to learned port".into()),
                ),
                None => out.push(Node::new(
                    NodeKind::Warn,
                    "learned port is unknown, dropping".into(),
                )),
            },
            None => {
                self.note(out, NodeKind::Detail, || {
                    "no learned MAC for destination, flooding".into()
                });
                let targets: Vec<(u16, &PortVlan)> = ports
                    .iter()
                    .filter(|p| p.ofport != in_port && p.floodable)
                    .filter(|p| match &bonds {
                        // One copy per bond, through the member it picks,
                        // and none back into the bond it came from.
                        Some(b) if b.of_member(p.ofport).is_some() => {
                            b.bundle(p.ofport) != in_bundle
                                && self.bond_member_for(Some(b), p.ofport, vlan) == Some(p.ofport)
                        }
                        _ => true,
                    })
                    .filter(|p| !self.is_mirror_output(p.ofport))
                    .filter(|p| {
                        p.vlan.includes_vlan(vlan)
                            && (p.vlan.mode != VlanMode::Access || xvlan.inner & 0x0fff == 0)
                    })
                    .map(|p| (p.ofport, p.vlan))
                    .collect();
                for (ofport, v) in targets {
                    self.output_normal(ofport, v, xvlan, out);
                }
            }
        }
    }

    /// Stock's admissibility check for a packet received on bond member
    /// `in_port`: whether NORMAL may go on with it.
    fn bond_admits(
        &mut self,
        bond: &super::bond::BondView,
        in_port: u16,
        in_bundle: u16,
        vlan: u16,
        dst: u64,
        out: &mut Vec<Node>,
    ) -> bool {
        use super::bond::Verdict;
        let multicast = crate::mac_learning::is_multicast(mac_bytes(dst as u128));
        match bond.admissibility(in_port, multicast) {
            Verdict::Accept => true,
            Verdict::Drop => {
                out.push(Node::new(
                    NodeKind::Detail,
                    "bonding refused admissibility, dropping".into(),
                ));
                false
            }
            Verdict::DropIfMoved => {
                let src = mac_bytes(self.get(id::ETH_SRC));
                let learned = self.br.switch.and_then(|sw| {
                    let table = sw.mac_table.lock().unwrap_or_else(|e| e.into_inner());
                    table.lookup(src, vlan, Instant::now())
                });
                let moved = learned.is_some_and(|p| p != in_bundle);
                if moved && !self.is_gratuitous_arp(dst) {
                    out.push(Node::new(
                        NodeKind::Detail,
                        "SLB bond thinks this packet looped back, dropping".into(),
                    ));
                    return false;
                }
                true
            }
        }
    }

    /// Stock's `is_gratuitous_arp` (the wildcards are already set by
    /// `gratuitous_arp_wildcards`).
    fn is_gratuitous_arp(&self, dst: u64) -> bool {
        self.get(id::ETH_TYPE) as u16 == eth_type::ARP
            && dst == 0xffff_ffff_ffff
            && match self.get(id::ARP_OP) {
                2 => true,
                1 => self.get(id::ARP_SPA) == self.get(id::ARP_TPA),
                _ => false,
            }
    }

    /// The port NORMAL sends by for `ofport`: itself, or when it belongs
    /// to a bond, the member the bond picks for this packet (none when
    /// no member may send).
    fn bond_member_for(
        &self,
        bonds: Option<&super::bond::BridgeBonds>,
        ofport: u16,
        vlan: u16,
    ) -> Option<u16> {
        match bonds.and_then(|b| b.of_member(ofport)) {
            Some(bond) => bond.choose_output(mac_bytes(self.get(id::ETH_SRC)), vlan),
            None => Some(ofport),
        }
    }

    /// Stock looks at every ARP to tell a gratuitous one (which matters
    /// to bonds): the megaflow matches what that looked at.
    fn gratuitous_arp_wildcards(&mut self, dst: u64) {
        if self.get(id::ETH_TYPE) as u16 != eth_type::ARP || dst != 0xffff_ffff_ffff {
            return;
        }
        self.exact(id::ARP_OP);
        if self.get(id::ARP_OP) == 1 {
            self.exact(id::ARP_SPA);
            self.exact(id::ARP_TPA);
        }
    }

    /// Outputs to `ofport` with the tags its VLAN mode wants, then puts
    /// the flow's tags back for the next output.
    pub(super) fn output_normal(
        &mut self,
        ofport: u16,
        pv: &PortVlan,
        x: Xvlan,
        out: &mut Vec<Node>,
    ) {
        let (outer, inner) = match pv.mode {
            VlanMode::Access => (0, 0),
            VlanMode::NativeUntagged if x.vid == pv.vlan => (x.inner, 0),
            _ => {
                let tci = x.vid | x.pcp;
                let tci = if tci != 0 { tci | VLAN_CFI } else { 0 };
                (tci, x.inner)
            }
        };
        let saved = (self.get(id::VLAN_TCI), self.vlans.flow);
        self.set(id::VLAN_TCI, outer as u128);
        self.vlans.flow = inner;
        self.output_port(ofport, out);
        self.set(id::VLAN_TCI, saved.0);
        self.vlans.flow = saved.1;
    }
}

/// Why a packet with VLAN ID `vid` may not enter `p` (the error stock
/// reports), or None when it may.
fn vid_error(p: &L2Port<'_>, vid: u16) -> Option<String> {
    let v = p.vlan;
    match v.mode {
        VlanMode::Access if vid != 0 => Some(format!(
            "dropping VLAN {vid} tagged packet received on port {} configured as VLAN {} access port",
            p.name, v.vlan
        )),
        VlanMode::Access => None,
        VlanMode::NativeTagged | VlanMode::NativeUntagged if vid == 0 => None,
        _ if !v.trunks_vlan(vid) => Some(format!(
            "dropping VLAN {vid} packet received on port {} not configured for trunking VLAN {vid}",
            p.name
        )),
        _ => None,
    }
}

/// Runs an `fdb/*` command over the bridges (name, switch); the reply
/// or stock's error text.
pub fn fdb_command<'a>(
    bridges: impl Iterator<Item = (&'a str, &'a Switch)>,
    req: &FdbRequest,
) -> Result<String, String> {
    let bridges: Vec<(&str, &Switch)> = bridges.collect();
    let find = |name: &str| {
        bridges
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| "no such bridge".to_string())
    };
    // The bridges a flush or clear applies to.
    let chosen = |name: &Option<String>| -> Result<Vec<&Switch>, String> {
        match name {
            Some(n) => find(n).map(|s| vec![s]),
            None => Ok(bridges.iter().map(|(_, s)| *s).collect()),
        }
    };
    let now = Instant::now();
    match req {
        FdbRequest::Show(n) => {
            let sw = find(n)?;
            let mut t = sw.mac_table.lock().unwrap_or_else(|e| e.into_inner());
            t.run(now);
            Ok(t.show(now))
        }
        FdbRequest::StatsShow(n) => {
            let sw = find(n)?;
            let mut t = sw.mac_table.lock().unwrap_or_else(|e| e.into_inner());
            t.run(now);
            Ok(t.stats_show(n))
        }
        FdbRequest::Flush(n) => {
            for sw in chosen(n)? {
                sw.mac_table
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .flush();
            }
            Ok("table successfully flushed\n".into())
        }
        FdbRequest::Add {
            bridge,
            port: port_name,
            vlan,
            mac,
        } => {
            let sw = find(bridge)?;
            let mac = parse_mac(mac).ok_or("bad MAC address")?;
            let Some(p) = sw.ports.iter().find(|p| p.name == *port_name) else {
                return Err("software error, odp port is present but no ofp port".into());
            };
            // A bond member stands for its bond, as stock takes the
            // interface's bundle.
            let in_port =
                super::bond::of_bridge(bridge).map_or(p.ofp_port, |b| b.bundle(p.ofp_port));
            let mut t = sw.mac_table.lock().unwrap_or_else(|e| e.into_inner());
            let old = t.add_static(mac, atoi(vlan) as u16, in_port, now);
            // As stock, say so when another entry is replaced.
            Ok(match old {
                Some((old_port, is_static)) if old_port != in_port || !is_static => {
                    let old_name = if old_port == port::LOCAL {
                        "LOCAL".to_string()
                    } else {
                        old_port.to_string()
                    };
                    let kind = if is_static { "static" } else { "dynamic" };
                    format!("Overriding already existing {kind} entry on {old_name}\n")
                }
                _ => String::new(),
            })
        }
        FdbRequest::Del { bridge, vlan, mac } => {
            let sw = find(bridge)?;
            let mac = parse_mac(mac).ok_or("bad MAC address")?;
            let mut t = sw.mac_table.lock().unwrap_or_else(|e| e.into_inner());
            if t.del_static(mac, atoi(vlan) as u16) {
                Ok(String::new())
            } else {
                Err("could not find static mac entry\n".into())
            }
        }
        FdbRequest::StatsClear(n) => {
            for sw in chosen(n)? {
                sw.mac_table.lock().unwrap_or_else(|e| e.into_inner()).stats = Default::default();
            }
            Ok("statistics successfully cleared\n".into())
        }
    }
}

/// `xx:xx:xx:xx:xx:xx` (one or two hex digits each).
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// C's atoi: an optional sign and the leading digits, 0 for none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let n = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .fold(0i64, |a, c| {
            a.saturating_mul(10)
                .saturating_add(c.to_digit(10).unwrap_or(0) as i64)
        });
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses_are_stocks() {
        assert!(is_reserved(0x0180_c200_0000));
        assert!(is_reserved(0x0180_c200_000f));
        assert!(!is_reserved(0x0180_c200_0010));
        assert!(is_reserved(0x0100_0ccc_ccc7));
        assert!(is_reserved(0x0100_0ccd_cdcd));
        assert!(!is_reserved(0xffff_ffff_ffff));
        assert!(crate::mac_learning::is_multicast([0xff; 6]));
    }

    #[test]
    fn fdb_arguments_parse_as_stock() {
        assert_eq!(
            parse_mac("0:1:22:a:bb:FF"),
            Some([0, 1, 0x22, 0xa, 0xbb, 0xff])
        );
        assert_eq!(parse_mac("00:11:22:33:44"), None);
        assert_eq!(parse_mac("00:11:22:33:44:55:66"), None);
        assert_eq!(parse_mac("zz:11:22:33:44:55"), None);
        assert_eq!(
            (atoi("10"), atoi("7x"), atoi("x"), atoi("-3")),
            (10, 7, 0, -3)
        );
    }
}
