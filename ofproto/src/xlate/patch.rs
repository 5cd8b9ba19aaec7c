//! Outputs that do not simply leave through a datapath port:
//!
//! - a patch port continues translation in the peer bridge, with the
//!   peer as the input port, inside the same datapath flow (no datapath
//!   hop, no second upcall); depth and resubmit limits are shared, so a
//!   loop of patch ports ends with "over max translation depth";
//! - a tunnel port encapsulates (see [`super::tunnel`]);
//! - a port with an IP address terminates tunnels: a packet to one of the
//!   endpoints' addresses and a tunnel's UDP port (or GRE) becomes
//!   `tnl_pop` instead of an output, and ARP replies to the port's
//!   addresses teach the tunnel neighbour cache.

use std::collections::HashMap;
use std::net::IpAddr;

use super::topology::{BridgeTopo, PortKind, Topology};
use super::{Bridge, Ctx, Node, NodeKind, MAX_DEPTH, MAX_RESUBMITS};
use crate::openflow::actions::{Action, Instructions};
use crate::openflow::fields::{eth_type, id, range};
use ferrovs_dpif::odp;
use ferrovs_netdev::tunnel::TunnelKind;

/// Every bridge of one datapath, as translation sees them.
pub struct World<'a> {
    pub bridges: Bridges<'a>,
    pub topo: &'a Topology,
}

impl World<'_> {
    /// What the topology says about bridge `name` (found among the few
    /// bridges of the world, not hashed into the topology's map).
    pub fn topo_of(&self, name: &str) -> Option<&BridgeTopo> {
        self.bridges.entry(name).map(|(_, t)| *t)
    }
}

/// Bridges held inline before a world needs a heap list.
const INLINE_BRIDGES: usize = 4;

/// The bridges of a world by name, each with its topology: a datapath
/// has a few, so a list scanned by name beats hashing, and the first
/// few need no allocation (a world is built per upcall).
pub struct Bridges<'a> {
    inline: [Option<(Bridge<'a>, &'a BridgeTopo)>; INLINE_BRIDGES],
    more: Vec<(Bridge<'a>, &'a BridgeTopo)>,
}

impl<'a> Bridges<'a> {
    fn new() -> Self {
        Bridges {
            inline: [None, None, None, None],
            more: Vec::new(),
        }
    }

    /// Adds a bridge (its name not there yet).
    fn push(&mut self, br: Bridge<'a>, topo: &'a BridgeTopo) {
        match self.inline.iter_mut().find(|e| e.is_none()) {
            Some(e) => *e = Some((br, topo)),
            None => self.more.push((br, topo)),
        }
    }

    fn entries(&self) -> impl Iterator<Item = &(Bridge<'a>, &'a BridgeTopo)> + '_ {
        self.inline.iter().flatten().chain(self.more.iter())
    }

    fn entry(&self, name: &str) -> Option<&(Bridge<'a>, &'a BridgeTopo)> {
        self.entries().find(|(b, _)| b.name == name)
    }

    /// The bridge named `name`.
    pub fn get(&self, name: &str) -> Option<&Bridge<'a>> {
        self.entry(name).map(|(b, _)| b)
    }

    /// Every bridge, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Bridge<'a>> + '_ {
        self.entries().map(|(b, _)| b)
    }
}

/// Hashes bridge names (FNV-1a): a translation looks a few up, and
/// SipHash's resistance to chosen keys is not needed for names the
/// operator gave.
#[derive(Clone, Copy, Debug, Default)]
pub struct NameHash;

impl std::hash::BuildHasher for NameHash {
    type Hasher = NameHasher;
    fn build_hasher(&self) -> NameHasher {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// The state of [`NameHash`].
pub struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

const IPPROTO_UDP: u128 = 17;
const IPPROTO_GRE: u128 = 47;
const ARP_OP_REPLY: u128 = 2;

impl<'a> Ctx<'a> {
    /// The bridge's patch ports (they have no datapath port).
    pub(super) fn patch_ports(&self) -> Vec<u16> {
        let Some(bt) = self.world.and_then(|w| w.topo_of(self.br.name)) else {
            return Vec::new();
        };
        bt.ports
            .iter()
            .filter(|(_, p)| matches!(p.kind, PortKind::Patch { .. }))
            .map(|(&n, _)| n)
            .collect()
    }

    /// Handles output to `ofport` when it is a patch port, a tunnel, or
    /// a tunnel endpoint that this packet terminates at; false when the
    /// caller should output to the datapath port as usual.
    pub(super) fn special_output(&mut self, ofport: u16, out: &mut Vec<Node>) -> bool {
        let Some(world) = self.world else {
            return false;
        };
        let Some(pt) = world
            .topo_of(self.br.name)
            .and_then(|b| b.ports.get(&ofport))
        else {
            return false;
        };
        match &pt.kind {
            PortKind::Patch { .. } => {
                match world.topo.patch_peer(self.br.name, ofport) {
                    Some((b, p)) => self.patch_output(world, b, p, out),
                    None => out.push(Node::new(
                        NodeKind::Warn,
                        "patch port has no usable peer, dropping".into(),
                    )),
                }
                true
            }
            PortKind::Tunnel(cfg) if world.topo.kernel_tunnels => {
                !self.kernel_tunnel_output(cfg, out)
            }
            PortKind::Tunnel(cfg) => {
                let odp = self.br.odp_ports.get(&ofport).copied();
                match odp {
                    Some(odp) => self.tunnel_output(world, cfg, odp, out),
                    None => out.push(Node::new(NodeKind::Warn, "Nonexistent output port".into())),
                }
                true
            }
            // (The kernel's tunnel vports take their packets themselves.)
            PortKind::Plain if !pt.addrs.is_empty() && !world.topo.kernel_tunnels => {
                self.terminate_tunnel(world)
            }
            PortKind::Plain => false,
        }
    }

    /// Translation goes on in `bridge` as if the packet came in on
    /// `in_port` there; what that bridge does to the flow stays there.
    pub(super) fn patch_output(
        &mut self,
        world: &'a World<'a>,
        bridge: &str,
        in_port: u16,
        out: &mut Vec<Node>,
    ) {
        let Some(peer) = world.bridges.get(bridge) else {
            out.push(Node::new(
                NodeKind::Warn,
                "patch peer bridge is gone".into(),
            ));
            return;
        };
        if self.depth >= MAX_DEPTH {
            self.error = Some("Recursion too deep".into());
            let text = format!("over max translation depth {MAX_DEPTH}");
            out.push(Node::new(NodeKind::Error, text));
            return;
        }
        if self.resubmits >= MAX_RESUBMITS {
            self.error = Some("Too many resubmits".into());
            let text = format!("over {MAX_RESUBMITS} resubmit actions");
            out.push(Node::new(NodeKind::Error, text));
            return;
        }
        self.resubmits += 1;
        let old_flow = self.flow;
        let old_inner_vlan = self.vlans.flow;
        let tunnel = range(id::TUN_ID).start..range(id::TUN_GTPU_MSGTYPE).end;
        let old_tunnel_wc = self.wc[tunnel.clone()].to_vec();
        let md = range(id::TUN_METADATA0).start..range(id::TUN_METADATA63).end;
        let old_md_wc = self.wc[md.clone()].to_vec();
        let old_set = std::mem::take(&mut self.action_set);
        // The peer's pipeline has its own (empty) stack.
        let old_stack = std::mem::take(&mut self.stack);
        let old_actset = self.actset_output.take();
        let old_table = std::mem::replace(&mut self.table_id, 0);
        let old_first = std::mem::replace(&mut self.first_lookup, true);
        let old_cookie = self.rule_cookie;
        let old_mirrors = self.mirror_enter_peer();
        let old_br = std::mem::replace(&mut self.br, peer);
        // The peer sees a fresh packet: its own input port, no metadata,
        // registers, tunnel or connection tracking state.
        let mut clear = vec![id::METADATA, id::ACTSET_OUTPUT];
        clear.extend(id::TUN_ID..=id::TUN_GTPU_MSGTYPE);
        clear.extend(id::TUN_METADATA0..=id::TUN_METADATA63);
        clear.extend(id::REG0..=id::REG15);
        clear.extend(id::CT_STATE..=id::CT_TP_DST);
        for f in clear {
            self.flow[range(f)].fill(0);
        }
        self.wc[tunnel.clone()].fill(0);
        self.wc[md.clone()].fill(0);
        self.set(id::IN_PORT, in_port as u128);
        let old_conntracked = std::mem::replace(&mut self.conntracked, false);
        let old_rx_md = std::mem::take(&mut self.rx_tun_metadata);
        self.depth += 1;
        let mut node = Node::new(NodeKind::Bridge, format!("bridge(\"{}\")", peer.name));
        self.patch_entry = true;
        self.table(0, in_port, &mut node.subs);
        self.patch_entry = false;
        let set = self.action_set_list();
        if !set.is_empty() && self.error.is_none() && !self.freezing {
            let mut sn = Node::new(NodeKind::Table, "--. Executing action set:".into());
            self.exit = false;
            self.actions(&set, &mut sn.subs);
            match node.subs.last_mut() {
                Some(first) => first.subs.push(sn),
                None => node.subs.push(sn),
            }
        }
        // A freeze in the peer (a pause, a recirculation) is the peer's:
        // its continuation names the peer bridge and its stack, and this
        // bridge's pipeline goes on.
        if self.freezing && self.error.is_none() {
            self.finish_freezing();
        }
        out.push(node);
        self.depth -= 1;
        self.mirror_leave_peer(old_mirrors);
        self.br = old_br;
        self.rule_cookie = old_cookie;
        self.first_lookup = old_first;
        self.table_id = old_table;
        self.actset_output = old_actset;
        self.action_set = old_set;
        self.stack = old_stack;
        self.wc[tunnel].copy_from_slice(&old_tunnel_wc);
        self.wc[md].copy_from_slice(&old_md_wc);
        self.vlans.flow = old_inner_vlan;
        self.flow = old_flow;
        self.conntracked = old_conntracked;
        self.rx_tun_metadata = old_rx_md;
        // Whatever stopped the peer's pipeline does not stop this one;
        // a translation limit does.
        self.exit = false;
        self.stop_list = false;
        if self
            .error
            .as_deref()
            .is_some_and(|e| !e.starts_with("Recursion") && !e.starts_with("Too many"))
        {
            self.error = None;
        }
    }

    /// The actions of the first rule of a patch peer's pipeline. When
    /// they change the packet for good (conntrack, a meter, ...), they run
    /// on a datapath copy of it, `clone(...)`, so that this bridge's
    /// later actions see the packet as it was, as in Open vSwitch; the
    /// peer's action set and a freeze are finished inside the copy. A
    /// copy that ends the translation is unwrapped afterwards
    /// ([`unwrap_trailing_clone`]).
    pub(super) fn patch_entry_rule(&mut self, ins: &Instructions, out: &mut Vec<Node>) {
        if reversible(ins) {
            self.instructions(ins, out);
            return;
        }
        // Rewrites so far reach the copy and the original alike.
        self.commit_rewrites();
        let outer = std::mem::take(&mut self.actions);
        let base = self.base;
        let base_tun_ports = self.base_tun_ports;
        self.instructions(ins, out);
        let set = self.action_set_list();
        if !set.is_empty() && self.error.is_none() && !self.freezing {
            let mut sn = Node::new(NodeKind::Table, "--. Executing action set:".into());
            self.exit = false;
            self.actions(&set, &mut sn.subs);
            out.push(sn);
        }
        self.action_set.clear();
        self.actset_output = None;
        if self.freezing && self.error.is_none() {
            self.finish_freezing();
        }
        let mut inner = std::mem::replace(&mut self.actions, outer);
        unwrap_trailing_clone(&mut inner);
        if !inner.is_empty() {
            self.actions.push(odp::Action::Clone(inner));
        }
        self.base = base;
        self.base_tun_ports = base_tun_ports;
    }

    /// Output to a port with IP addresses: a tunnel packet for one of the
    /// endpoints becomes `tnl_pop`; an ARP reply for one of this bridge's
    /// addresses is learned. True when the packet was terminated.
    fn terminate_tunnel(&mut self, world: &'a World<'a>) -> bool {
        let topo = world.topo;
        // Without tunnel ports, stock's native tunnelling is off: no
        // termination, no neighbour snooping (and narrower megaflows).
        let tnl_ports = topo.tunnel_dp_ports();
        if tnl_ports.is_empty() {
            return false;
        }
        let found = self.tunnel_port_lookup(topo, &tnl_ports);
        match found {
            Some(tnl_port) => {
                // The sender is a neighbour worth knowing.
                if let Some(ip) = self.outer_src() {
                    let mac = self.mac_of(id::ETH_SRC);
                    self.learn_neighbour(topo, ip, mac);
                }
                self.commit_rewrites();
                self.actions.push(odp::Action::TunnelPop(tnl_port));
                true
            }
            None => {
                self.snoop_neighbour(topo);
                false
            }
        }
    }

    fn mac_of(&self, f: usize) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.flow[range(f)][..6]);
        m
    }

    fn outer_src(&self) -> Option<IpAddr> {
        match self.get(id::ETH_TYPE) as u16 {
            eth_type::IP => Some(IpAddr::V4((self.get(id::IP_SRC) as u32).into())),
            eth_type::IPV6 => Some(IpAddr::V6(self.get(id::IPV6_SRC).into())),
            _ => None,
        }
    }

    /// Open vSwitch's tunnel port map: one rule per (endpoint address,
    /// tunnel datapath port) on Ethernet destination, type, VLAN, IP
    /// destination, protocol, fragment and UDP port, looked up in stages
    /// (L2, L3, L4) so that the megaflow holds only the stages consulted.
    fn tunnel_port_lookup(
        &mut self,
        topo: &Topology,
        tnl_ports: &[(u32, TunnelKind, u16)],
    ) -> Option<u32> {
        let endpoints: Vec<([u8; 6], IpAddr)> = topo
            .bridges
            .values()
            .flat_map(|b| b.ports.values())
            .filter_map(|p| Some((p.mac?, p)))
            .flat_map(|(mac, p)| p.addrs.iter().map(move |a| (mac, *a)))
            .collect();
        let eth_dst = self.mac_of(id::ETH_DST);
        let et = self.get(id::ETH_TYPE) as u16;
        let untagged = self.get(id::VLAN_TCI) == 0;
        let nw_dst: Option<IpAddr> = match et {
            eth_type::IP => Some(IpAddr::V4((self.get(id::IP_DST) as u32).into())),
            eth_type::IPV6 => Some(IpAddr::V6(self.get(id::IPV6_DST).into())),
            _ => None,
        };
        let proto = self.get(id::NW_PROTO);
        let frag = self.get(id::IP_FRAG);
        let udp_dst = self.get(id::UDP_DST) as u16;
        // Two subtables: UDP tunnels (with a port) and GRE (without).
        let mut result = None;
        for with_port in [true, false] {
            let rules: Vec<(u32, u16, [u8; 6], IpAddr, u128)> = tnl_ports
                .iter()
                .filter(|(_, k, _)| (*k != TunnelKind::Gre) == with_port)
                .flat_map(|&(odp, k, udp)| {
                    let proto = if k == TunnelKind::Gre {
                        IPPROTO_GRE
                    } else {
                        IPPROTO_UDP
                    };
                    endpoints
                        .iter()
                        .map(move |&(mac, a)| (odp, udp, mac, a, proto))
                })
                .collect();
            if rules.is_empty() {
                continue;
            }
            self.exact(id::ETH_DST);
            self.exact(id::ETH_TYPE);
            self.exact(id::VLAN_TCI);
            let l2: Vec<_> = rules
                .iter()
                .filter(|r| r.2 == eth_dst && untagged)
                .filter(|r| match r.3 {
                    IpAddr::V4(_) => et == eth_type::IP,
                    IpAddr::V6(_) => et == eth_type::IPV6,
                })
                .collect();
            if l2.is_empty() {
                continue;
            }
            self.exact(if et == eth_type::IP {
                id::IP_DST
            } else {
                id::IPV6_DST
            });
            self.exact(id::NW_PROTO);
            self.exact(id::IP_FRAG);
            let l3: Vec<_> = l2
                .into_iter()
                .filter(|r| Some(r.3) == nw_dst && r.4 == proto && frag == 0)
                .collect();
            if l3.is_empty() {
                continue;
            }
            if with_port {
                match l3.iter().find(|r| r.1 == udp_dst) {
                    Some(r) => {
                        self.exact(id::UDP_DST);
                        result = result.or(Some(r.0));
                    }
                    None => {
                        // The ports trie: only as many leading bits as
                        // tell this port from every tunnel's.
                        let plen = rules
                            .iter()
                            .map(|r| (r.1 ^ udp_dst).leading_zeros() + 1)
                            .max()
                            .unwrap_or(16)
                            .min(16);
                        self.unwildcard(id::UDP_DST, (0xffffu128 << (16 - plen)) & 0xffff);
                    }
                }
            } else {
                result = result.or(l3.first().map(|r| r.0));
            }
        }
        result
    }

    /// Stock's neighbour snooping, with the same unwildcarding: ARP
    /// replies to one of this bridge's addresses and gratuitous ARPs teach
    /// the sender's MAC; neighbour advertisements to one of its addresses
    /// teach the target's link-layer address (none, none learned).
    fn snoop_neighbour(&mut self, topo: &Topology) {
        let mine = |a: IpAddr| {
            topo.bridges
                .get(self.br.name)
                .is_some_and(|b| b.ports.values().any(|p| p.addrs.contains(&a)))
        };
        let et = self.get(id::ETH_TYPE) as u16;
        if et == eth_type::ARP {
            // Telling a gratuitous ARP compares (so consults) both
            // addresses, whatever else happens.
            self.exact(id::ARP_SPA);
            self.exact(id::ARP_TPA);
            let spa = IpAddr::V4((self.get(id::ARP_SPA) as u32).into());
            let tpa = IpAddr::V4((self.get(id::ARP_TPA) as u32).into());
            let garp = spa == tpa;
            if !garp && !mine(tpa) {
                return;
            }
            if !garp {
                self.exact(id::ARP_OP);
                if self.get(id::ARP_OP) != ARP_OP_REPLY {
                    return;
                }
            }
            self.exact(id::ARP_SHA);
            let sha = self.mac_of(id::ARP_SHA);
            if sha != [0; 6] {
                self.learn_neighbour(topo, spa, sha);
            }
            return;
        }
        // (Whether the destination is one of ours is judged without
        // unwildcarding it, as stock does.)
        if et != eth_type::IPV6
            || self.get(id::NW_PROTO) != 58
            || !mine(IpAddr::V6(self.get(id::IPV6_DST).into()))
        {
            return;
        }
        self.exact(id::NW_PROTO);
        self.exact(id::ICMPV6_CODE);
        if self.get(id::ICMPV6_CODE) != 0 {
            return;
        }
        self.exact(id::ICMPV6_TYPE);
        if self.get(id::ICMPV6_TYPE) != 136 {
            return;
        }
        self.exact(id::ND_TLL);
        let tll = self.mac_of(id::ND_TLL);
        if tll == [0; 6] {
            return;
        }
        self.exact(id::IPV6_SRC);
        self.exact(id::IPV6_DST);
        self.exact(id::ND_TARGET);
        let target = IpAddr::V6(self.get(id::ND_TARGET).into());
        self.learn_neighbour(topo, target, tll);
    }

    /// Teaches the neighbour cache that `ip` is at `mac` behind this
    /// bridge: now for a packet (side effects), and through the flow's
    /// record whenever its later packets pass (they never reach
    /// translation while the flow is installed, and the entry may have
    /// aged out or been flushed meanwhile).
    fn learn_neighbour(&mut self, topo: &Topology, ip: IpAddr, mac: [u8; 6]) {
        if self.br.side_effects {
            topo.underlay.neigh.set(self.br.name, ip, mac);
        }
        self.learned.push(super::learn::Learned::Neighbour {
            bridge: self.br.name.to_string(),
            ip,
            mac,
        });
    }
}

/// Builds the bridge views of every switch named in `topo` and runs `f`
/// with them.
pub fn with_world<R, S: std::hash::BuildHasher>(
    switches: &HashMap<&str, &crate::switch::Switch, S>,
    topo: &Topology,
    side_effects: bool,
    describe_rules: bool,
    f: impl FnOnce(&World<'_>) -> R,
) -> R {
    let mut bridges = Bridges::new();
    for (&name, sw) in switches {
        let Some(bt) = topo.bridges.get(name) else {
            continue;
        };
        let br = Bridge {
            name: &sw.name,
            tables: &sw.tables,
            table_miss: sw.table_misses(),
            odp_ports: &bt.odp_ports,
            groups: &sw.groups,
            side_effects,
            describe_rules,
            switch: Some(sw),
        };
        bridges.push(br, bt);
    }
    let world = World { bridges, topo };
    f(&world)
}

/// Whether a rule's actions can be undone by rewriting the packet back
/// (Open vSwitch's list: conntrack and NAT, meters, truncation, encap,
/// decap and NSH TTL cannot).
fn reversible(ins: &Instructions) -> bool {
    const CT: u16 = 35;
    const NAT: u16 = 36;
    const OUTPUT_TRUNC: u16 = 39;
    const ENCAP: u16 = 46;
    const DECAP: u16 = 47;
    const DEC_NSH_TTL: u16 = 48;
    ins.meter.is_none()
        && !ins.apply.iter().any(|a| match a {
            Action::Meter(_) => true,
            Action::NxNested { subtype, .. } | Action::Nx { subtype, .. } => {
                matches!(
                    *subtype,
                    CT | NAT | OUTPUT_TRUNC | ENCAP | DECAP | DEC_NSH_TTL
                )
            }
            _ => false,
        })
}

/// A datapath copy (`clone(...)`) that ends an action list copies a
/// packet nothing else uses: its actions take the packet itself, as
/// Open vSwitch emits them for the last action of a translation.
pub(super) fn unwrap_trailing_clone(actions: &mut Vec<odp::Action>) {
    while let Some(odp::Action::Clone(_)) = actions.last() {
        if let Some(odp::Action::Clone(inner)) = actions.pop() {
            actions.extend(inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trailing_clone_is_unwrapped() {
        let clone = |v: Vec<odp::Action>| odp::Action::Clone(v);
        let out = |p: u32| odp::Action::Output(p);
        // A clone that ends the list, and the one it then exposes.
        let mut acts = vec![out(1), clone(vec![out(2), clone(vec![out(3)])])];
        unwrap_trailing_clone(&mut acts);
        assert_eq!(acts, vec![out(1), out(2), out(3)]);
        // Actions after it keep it a copy.
        let mut acts = vec![clone(vec![out(2)]), out(1)];
        unwrap_trailing_clone(&mut acts);
        assert_eq!(acts, vec![clone(vec![out(2)]), out(1)]);
    }

    #[test]
    fn conntrack_meters_and_truncation_cannot_be_undone() {
        let with = |a: Action| Instructions {
            apply: vec![Action::SetIpTtl(3), a],
            ..Instructions::default()
        };
        let ct = Action::NxNested {
            subtype: 35,
            head: Vec::new(),
            actions: Vec::new(),
        };
        assert!(!reversible(&with(ct)));
        assert!(!reversible(&with(Action::Meter(1))));
        let trunc = Action::Nx {
            subtype: 39,
            bytes: Vec::new(),
        };
        assert!(!reversible(&with(trunc)));
        let metered = Instructions {
            meter: Some(2),
            ..Instructions::default()
        };
        assert!(!reversible(&metered));
        // A clone may hold a ct, but stock only looks at the rule's own
        // actions.
        let clone = Action::NxNested {
            subtype: 42,
            head: Vec::new(),
            actions: Vec::new(),
        };
        assert!(reversible(&with(clone)));
        assert!(reversible(&with(Action::Output {
            port: 1,
            max_len: 0
        })));
    }
}
