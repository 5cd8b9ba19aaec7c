//! Port mirroring: the bridge's Mirror rows, as Open vSwitch 3.1 applies
//! them during translation (ovs-vswitchd.conf.db(5), "Mirror TABLE").
//!
//! A mirror selects packets that enter through its source ports or leave
//! through its destination ports (optionally only those of some VLANs)
//! and sends a copy either to one output port or, for RSPAN, flooded in
//! an output VLAN. The rules stock follows, kept here:
//!
//! - Ingress mirroring happens once, before the first table's actions
//!   run, so its outputs come first in the datapath actions; egress
//!   mirroring right after each output to a selected port.
//! - Each mirror (and every mirror with the same output) gets a packet
//!   at most once per translation; a recirculation's frozen state keeps
//!   the mirrors already sent to, and a patch port's peer bridge has its
//!   own (a patch port itself is not egress-mirrored).
//! - The copy leaves with the VLAN tagging the output port's mode gives
//!   the packet's VLAN inside the bridge.
//! - A mirror output port is reserved: packets it receives are dropped,
//!   and NORMAL neither floods to it nor forwards to MACs learned there.
//! - With `snaplen`, a `trunc` precedes the mirror's outputs.
//! - A mirror selecting VLANs makes the megaflow match the VLAN ID.
//!
//! Mirror statistics follow the flows: a translation records the mirrors
//! it used as a pseudo rule hit in table [`CREDIT_TABLE`] (no OpenFlow
//! table has that number), so that the datapath flow's packets reach the
//! mirrors through the same credit path as rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::normal::{is_reserved, Xvlan};
use super::trace::{Node, NodeKind};
use super::{Ctx, RuleHit};
use crate::openflow::fields::{id, VLAN_CFI};
use crate::switch::{PortVlan, Switch, VlanMode};

/// Mirrors a bridge may have (stock's MAX_MIRRORS).
pub const MAX_MIRRORS: usize = 32;

/// The table number of the pseudo rule hit that carries mirror credit.
pub const CREDIT_TABLE: u8 = 255;

/// One configured mirror, with ports as OpenFlow port numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorCfg {
    /// The Mirror row's UUID (statistics are kept by it).
    pub uuid: String,
    pub name: String,
    /// Ports whose received packets are mirrored.
    pub srcs: Vec<u16>,
    /// Ports whose sent packets are mirrored.
    pub dsts: Vec<u16>,
    /// `select_vlan`: only these VLANs (None: all).
    pub vlans: Option<Vec<u16>>,
    /// `output_port`; when None, `out_vlan` is used.
    pub out_port: Option<u16>,
    pub out_vlan: Option<u16>,
    /// Bytes of each copy to keep (0: all).
    pub snaplen: u16,
}

/// Transmitted packets and bytes per mirror, by Mirror row UUID, shared
/// with whoever reports them.
pub type MirrorStats = Mutex<HashMap<String, (u64, u64)>>;

/// A bridge's mirrors in their slots (a slot's bit stands for the mirror
/// in masks; slots are kept across reconfigurations, as stock's indexes).
#[derive(Debug, Default)]
pub struct Mirrors {
    slots: Vec<Option<MirrorCfg>>,
    /// Per slot: the mirrors with the same output (itself included).
    dups: Vec<u32>,
    /// Mirrors configured (translation looks at nothing when none).
    count: usize,
    stats: Option<Arc<MirrorStats>>,
}

impl Mirrors {
    /// Replaces the configuration (mirrors in the order stock configures
    /// them: by UUID). Returns whether anything changed.
    pub fn set(&mut self, cfgs: Vec<MirrorCfg>, stats: Arc<MirrorStats>) -> bool {
        self.slots.resize(MAX_MIRRORS, None);
        let before = self.slots.clone();
        let mut gone = Vec::new();
        for slot in self.slots.iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|m| !cfgs.iter().any(|c| c.uuid == m.uuid))
            {
                gone.extend(slot.take().map(|m| m.uuid));
            }
        }
        for c in cfgs {
            match self
                .slots
                .iter()
                .position(|s| s.as_ref().is_some_and(|m| m.uuid == c.uuid))
            {
                Some(i) => self.slots[i] = Some(c),
                None => match self.slots.iter().position(Option::is_none) {
                    Some(i) => self.slots[i] = Some(c),
                    None => {
                        log::warn!(target: "ofproto_dpif_mirror", "maximum of {MAX_MIRRORS} port mirrors reached, cannot create {}", c.name)
                    }
                },
            }
        }
        self.dups = (0..MAX_MIRRORS)
            .map(|i| {
                let Some(m) = &self.slots[i] else { return 0 };
                (0..MAX_MIRRORS)
                    .filter(|&j| {
                        self.slots[j]
                            .as_ref()
                            .is_some_and(|o| o.out_port == m.out_port && o.out_vlan == m.out_vlan)
                    })
                    .fold(0, |mask, j| mask | 1 << j)
            })
            .collect();
        {
            let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
            for u in gone {
                st.remove(&u);
            }
            for m in self.slots.iter().flatten() {
                st.entry(m.uuid.clone()).or_default();
            }
        }
        self.stats = Some(stats);
        self.count = self.slots.iter().flatten().count();
        before != self.slots
    }

    fn mask(&self, f: impl Fn(&MirrorCfg) -> bool) -> u32 {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(&f))
            .fold(0, |mask, (i, _)| mask | 1 << i)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `port` is some mirror's output (reserved for mirroring).
    pub fn is_output(&self, port: u16) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|m| m.out_port == Some(port))
    }

    /// Adds a flow's packets to the mirrors of `mask`.
    pub fn credit(&self, mask: u32, packets: u64, bytes: u64) {
        let Some(stats) = &self.stats else { return };
        let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
        for (i, m) in self.slots.iter().enumerate() {
            if let Some(m) = m.as_ref().filter(|_| mask >> i & 1 == 1) {
                let e = st.entry(m.uuid.clone()).or_default();
                e.0 = e.0.wrapping_add(packets);
                e.1 = e.1.wrapping_add(bytes);
            }
        }
    }
}

/// The mirror credit a pseudo rule hit carries (see [`CREDIT_TABLE`]).
pub fn credit_hit(sw: &Switch, hit: &RuleHit, packets: u64, bytes: u64) {
    sw.mirrors.credit(hit.mirrors, packets, bytes);
}

/// What one translation did about mirrors.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Mirrors already sent to (with those of the same output).
    done: u32,
    /// Mirrors used, for statistics.
    used: u32,
    /// The snaplen of the mirror being output to (0: none).
    pub(super) snaplen: u16,
    ingress_done: bool,
}

/// A trunk for every VLAN (ports without VLAN settings).
const TRUNK_ALL: PortVlan = PortVlan {
    mode: VlanMode::Trunk,
    vlan: 0,
    trunks: None,
};

impl Ctx<'_> {
    /// Ingress mirroring, before the first rule's actions. False when the
    /// packet came in on a mirror output port: it must be dropped (the
    /// reason is added to `out`).
    pub(super) fn mirror_ingress(&mut self, in_port: u16, out: &mut Vec<Node>) -> bool {
        if std::mem::replace(&mut self.mirror.ingress_done, true) {
            return true;
        }
        let Some(sw) = self.br.switch.filter(|sw| !sw.mirrors.is_empty()) else {
            return true;
        };
        if sw.mirrors.is_output(in_port) {
            let name = sw
                .ports
                .iter()
                .find(|p| p.ofp_port == in_port)
                .map_or_else(|| in_port.to_string(), |p| p.name.clone());
            out.push(Node::new(
                NodeKind::Error,
                format!("dropping packet received on port {name}, which is reserved exclusively for mirroring"),
            ));
            return false;
        }
        let srcs = sw.mirrors.mask(|m| m.srcs.contains(&in_port));
        self.mirror_packet(sw, in_port, srcs, out);
        true
    }

    /// Egress mirroring, after an output to `port`.
    pub(super) fn mirror_egress(&mut self, port: u16, out: &mut Vec<Node>) {
        let Some(sw) = self.br.switch.filter(|sw| !sw.mirrors.is_empty()) else {
            return;
        };
        let dsts = sw.mirrors.mask(|m| m.dsts.contains(&port));
        self.mirror_packet(sw, port, dsts, out);
    }

    /// The mirrors already sent to, for a freeze to keep.
    pub(super) fn mirrors_done(&self) -> u32 {
        self.mirror.done
    }

    /// A thawed packet was already sent to the mirrors of `done`.
    pub(super) fn mirrors_thawed(&mut self, done: u32) {
        self.mirror.done = done;
    }

    /// A truncated mirror copy cannot go through a patch port (it has no
    /// datapath port to truncate at): true when it is skipped so.
    pub(super) fn mirror_truncates_patch(&mut self, port: u16, out: &mut Vec<Node>) -> bool {
        if self.mirror.snaplen == 0 || !self.patch_ports().contains(&port) {
            return false;
        }
        out.push(Node::new(
            NodeKind::Warn,
            "Mirror truncate to ODPP_NONE, skipping output".into(),
        ));
        true
    }

    /// Whether NORMAL must leave `port` alone (a mirror output).
    pub(super) fn is_mirror_output(&self, port: u16) -> bool {
        self.br.switch.is_some_and(|sw| sw.mirrors.is_output(port))
    }

    /// Before a patch port takes the packet into its peer bridge, whose
    /// mirrors are its own: credits this bridge's mirrors used so far and
    /// starts afresh; returns what `mirror_leave_peer` restores.
    pub(super) fn mirror_enter_peer(&mut self) -> u32 {
        self.finish_mirrors();
        self.mirror.used = 0;
        std::mem::take(&mut self.mirror.done)
    }

    /// Back from the peer bridge (still `self.br`): credits its mirrors
    /// and restores this bridge's.
    pub(super) fn mirror_leave_peer(&mut self, done: u32) {
        self.finish_mirrors();
        self.mirror.used = 0;
        self.mirror.done = done;
    }

    /// The pseudo rule hit crediting the mirrors used. Recorded with or
    /// without side effects: revalidators translate flows that carried
    /// no packets lately without them, and the flow keeps what this
    /// translation recorded.
    pub(super) fn finish_mirrors(&mut self) {
        if self.mirror.used == 0 {
            return;
        }
        self.rules.push(RuleHit {
            bridge: super::interned_name(self.br.name),
            table: CREDIT_TABLE,
            mirrors: self.mirror.used,
            stats: None,
        });
    }

    /// Sends the packet, entering or leaving through `port`, to the
    /// mirrors of `mirrors` that take it.
    fn mirror_packet(&mut self, sw: &Switch, port: u16, mut mirrors: u32, out: &mut Vec<Node>) {
        let pv = sw.port_vlans.get(&port).unwrap_or(&TRUNK_ALL);
        let tci = self.get(id::VLAN_TCI) as u16;
        let (vid, pcp) = if tci & VLAN_CFI != 0 {
            (tci & 0x0fff, tci & 0xe000)
        } else {
            (0, 0)
        };
        // A VLAN the port may not receive is not mirrored either.
        let valid = match pv.mode {
            VlanMode::Access => vid == 0,
            VlanMode::NativeTagged | VlanMode::NativeUntagged if vid == 0 => true,
            _ => pv.trunks_vlan(vid),
        };
        // Checked (and reported) for every port with mirrors around, as
        // stock does, even when no mirror is left to send to.
        if !valid {
            let name = sw
                .ports
                .iter()
                .find(|p| p.ofp_port == port)
                .map_or_else(|| port.to_string(), |p| p.name.clone());
            let text = if pv.mode == VlanMode::Access {
                format!(
                    "dropping VLAN {vid} tagged packet received on port {name} configured as VLAN {} access port",
                    pv.vlan
                )
            } else {
                format!("dropping VLAN {vid} packet received on port {name} not configured for trunking VLAN {vid}")
            };
            out.push(Node::new(NodeKind::Error, text));
            return;
        }
        let mut xvlan = match pv.mode {
            VlanMode::Access => Xvlan {
                vid: pv.vlan,
                pcp,
                inner: 0,
            },
            VlanMode::NativeTagged | VlanMode::NativeUntagged if vid == 0 => Xvlan {
                vid: pv.vlan,
                pcp,
                inner: self.vlans.flow,
            },
            _ => Xvlan {
                vid,
                pcp,
                inner: self.vlans.flow,
            },
        };
        mirrors &= !self.mirror.done;
        let mut used = 0;
        while mirrors != 0 {
            let i = mirrors.trailing_zeros() as usize;
            let bit = 1u32 << i;
            let Some(m) = sw.mirrors.slots.get(i).and_then(Option::as_ref) else {
                mirrors &= !bit;
                continue;
            };
            if m.vlans.is_some() {
                self.unwildcard(id::VLAN_TCI, (VLAN_CFI | 0x0fff) as u128);
            }
            if m.vlans.as_ref().is_some_and(|v| !v.contains(&xvlan.vid)) {
                mirrors &= !bit;
                continue;
            }
            used |= bit;
            self.mirror.done |= sw.mirrors.dups.get(i).copied().unwrap_or(bit);
            self.mirror.snaplen = m.snaplen;
            if let Some(p) = m.out_port {
                if sw.ports.iter().any(|x| x.ofp_port == p) {
                    let opv = sw.port_vlans.get(&p).unwrap_or(&TRUNK_ALL);
                    self.output_normal(p, opv, xvlan, out);
                }
            } else if let Some(out_vlan) = m.out_vlan.filter(|&v| v != xvlan.vid) {
                if !is_reserved(self.get(id::ETH_DST) as u64) {
                    let saved = xvlan.vid;
                    xvlan.vid = out_vlan;
                    let mut ports: Vec<u16> = sw.ports.iter().map(|p| p.ofp_port).collect();
                    ports.sort_unstable();
                    for p in ports {
                        let opv = sw.port_vlans.get(&p).unwrap_or(&TRUNK_ALL);
                        let includes = opv.includes_vlan(out_vlan)
                            && (opv.mode != VlanMode::Access || xvlan.inner & 0x0fff == 0);
                        if includes && !sw.mirrors.is_output(p) {
                            self.output_normal(p, opv, xvlan, out);
                        }
                    }
                    xvlan.vid = saved;
                }
            }
            mirrors &= !self.mirror.done;
            self.mirror.snaplen = 0;
        }
        self.mirror.used |= used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(uuid: &str, out: u16) -> MirrorCfg {
        MirrorCfg {
            uuid: uuid.into(),
            name: uuid.into(),
            srcs: vec![1],
            out_port: Some(out),
            ..MirrorCfg::default()
        }
    }

    #[test]
    fn slots_are_kept_and_same_outputs_are_dups() {
        let stats = Arc::new(MirrorStats::default());
        let mut m = Mirrors::default();
        assert!(m.set(vec![cfg("a", 3), cfg("b", 4)], stats.clone()));
        assert!(!m.set(vec![cfg("a", 3), cfg("b", 4)], stats.clone()));
        // "a" goes; "c" takes its slot, "b" stays in slot 1.
        assert!(m.set(vec![cfg("b", 4), cfg("c", 4)], stats.clone()));
        assert_eq!(m.slots[0].as_ref().map(|c| c.uuid.as_str()), Some("c"));
        assert_eq!(m.slots[1].as_ref().map(|c| c.uuid.as_str()), Some("b"));
        assert_eq!((m.dups[0], m.dups[1]), (0b11, 0b11));
        assert!(m.is_output(4) && !m.is_output(3));
        assert_eq!(m.mask(|c| c.srcs.contains(&1)), 0b11);
        m.credit(0b10, 2, 100);
        m.credit(0b10, 1, 50);
        let st = stats.lock().unwrap();
        assert_eq!(st.get("b"), Some(&(3, 150)));
        assert_eq!(st.get("c"), Some(&(0, 0)));
        assert_eq!(st.get("a"), None);
    }

    /// in_port=1 output:2 on a switch whose mirrors m1 (from 1, snaplen
    /// 64) and m2 (to 2) share output 3: one truncated copy, first; a
    /// packet from 3 is dropped; the credit reaches m1 only.
    #[test]
    fn one_copy_per_output_and_mirror_ports_are_reserved() {
        use crate::openflow::actions::{Action, Instructions};
        use crate::openflow::fields::Match;
        use crate::switch::{PortInfo, Rule};
        let mut sw = Switch::new("brm", 1);
        sw.set_ports(
            (1..=3)
                .map(|p| PortInfo {
                    ofp_port: p,
                    name: format!("p{p}"),
                    ..PortInfo::default()
                })
                .collect(),
        );
        let rule = Rule::new(Instructions {
            apply: vec![Action::Output {
                port: 2,
                max_len: 0,
            }],
            ..Default::default()
        });
        sw.tables[0].insert(&Match::catchall(), 0, rule);
        let stats = Arc::new(MirrorStats::default());
        let m2 = MirrorCfg {
            srcs: vec![],
            dsts: vec![2],
            ..cfg("m2", 3)
        };
        sw.set_mirrors(
            vec![
                MirrorCfg {
                    snaplen: 64,
                    ..cfg("m1", 3)
                },
                m2,
            ],
            stats.clone(),
        );
        let odp: HashMap<u16, u32> = [(1, 11), (2, 12), (3, 13)].into_iter().collect();
        let names = HashMap::new();
        let run = |flow: &str| {
            let f = super::super::flow_text::parse_of_flow(flow, &names).expect("flow");
            // Traced (the test reads the report) with side effects.
            super::super::upcall::with_bridge(&sw, &odp, true, |br| {
                let br = super::super::Bridge {
                    describe_rules: true,
                    ..*br
                };
                super::super::translate(&br, &f)
            })
        };
        use ferrovs_dpif::odp::Action as Dp;
        let x = run("in_port=1");
        assert_eq!(
            x.actions,
            vec![Dp::Trunc(64), Dp::Output(13), Dp::Output(12)]
        );
        let x3 = run("in_port=3");
        assert!(x3.actions.is_empty());
        let f3 = super::super::flow_text::parse_of_flow("in_port=3", &names).expect("flow");
        assert!(
            super::super::trace::report(&f3, &x3).contains("reserved exclusively for mirroring")
        );
        let credit = super::super::upcall::Credit {
            rules: x.rules,
            packets: 2,
            bytes: 128,
            learned: std::sync::Arc::new([]),
        };
        super::super::upcall::credit_stats(&sw, &[credit]);
        let st = stats.lock().unwrap();
        assert_eq!(
            (st.get("m1"), st.get("m2")),
            (Some(&(2, 128)), Some(&(0, 0)))
        );
    }
}
