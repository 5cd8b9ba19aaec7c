//! Tunnel ports in translation, as the userspace datapath does them
//! (Open vSwitch's native tunnelling):
//!
//! - output to a tunnel port sets the tunnel metadata from the port's
//!   options (or from the flow, for `flow` options), routes the remote
//!   address through the underlay route table to a bridge port, finds the
//!   next hop's MAC in the neighbour cache, and emits
//!   `tnl_push(tnl_port, header, out_port)` with the whole outer header;
//!   translation then goes on in the underlay bridge with the outer
//!   headers as the flow, and its actions follow the push (inside a
//!   `clone` unless nothing follows). A neighbour not known yet gets an
//!   ARP request, sent through the underlay bridge, and the packet is
//!   dropped without a megaflow;
//! - on the kernel datapath, whose tunnel vports (`vxlan_sys_4789`,
//!   `genev_sys_6081`, `gre_sys`) encapsulate themselves, output to a
//!   tunnel port is `set(tunnel(...))` with that metadata (when the
//!   datapath does not have it already) and an output to the vport;
//! - a packet decapsulated by `tnl_pop` (or the kernel's vport) comes back with the tunnel port
//!   of the datapath as its input and the tunnel metadata in its key:
//!   [`receive_port`] finds the OpenFlow tunnel port it belongs to (by
//!   remote and local address and key, fixed before `flow`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::patch::World;
use super::topology::{FromFlow, PortKind, Topology, TunnelCfg};
use super::{translate_with, Ctx, Node, NodeKind};
use crate::openflow::fields::{eth_type, id, range, KEY_LEN};
use ferrovs_dpif::odp::{self, tnl_push::TunnelPush, TunnelAttr};
use ferrovs_netdev::tunnel::TunnelKind;

/// A packet translation itself sends (an ARP request for a tunnel's next
/// hop): the frame, the datapath port it enters from, its actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub packet: Vec<u8>,
    pub in_port: u32,
    pub actions: Vec<odp::Action>,
}

const VXLAN_FLAGS: u32 = 0x0800_0000;
const ETH_TYPE_TEB: u16 = 0x6558;
const GRE_CSUM: u16 = 0x8000;
const GENEVE_OAM: u8 = 0x80;
const GRE_KEY: u16 = 0x2000;

/// The outer header's tunnel metadata.
struct Meta {
    dst: IpAddr,
    /// Unspecified (of `dst`'s family) until the route gives one.
    src: IpAddr,
    tun_id: u64,
    key: bool,
    tos: u8,
    ttl: u8,
    /// The flow's OAM flag (Geneve carries it in its header).
    oam: bool,
    /// Geneve options from the flow's tun_metadata fields (whole
    /// options: class, type, length, body).
    opts: Vec<u8>,
}

fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ones_csum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The outer header as Open vSwitch builds it: Ethernet, IPv4 (total
/// length and id left zero, fixed when pushed), then UDP (source port
/// left zero, picked from the flow hash when pushed) with VXLAN or
/// Geneve, or GRE.
fn build_header(cfg: &TunnelCfg, m: &Meta, smac: [u8; 6], dmac: [u8; 6], csum: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(&dmac);
    h.extend_from_slice(&smac);
    let proto = if cfg.kind == TunnelKind::Gre { 47 } else { 17 };
    match (m.src, m.dst) {
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            h.extend_from_slice(&eth_type::IPV6.to_be_bytes());
            let vtc = (6u32 << 28) | (u32::from(m.tos) << 20);
            h.extend_from_slice(&vtc.to_be_bytes());
            h.extend_from_slice(&[0, 0, proto, m.ttl]);
            h.extend_from_slice(&src.octets());
            h.extend_from_slice(&dst.octets());
        }
        (src, dst) => {
            let v4 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.octets(),
                IpAddr::V6(_) => [0; 4],
            };
            h.extend_from_slice(&eth_type::IP.to_be_bytes());
            let ip_at = h.len();
            h.extend_from_slice(&[0x45, m.tos, 0, 0, 0, 0]);
            h.extend_from_slice(&(if cfg.df { 0x4000u16 } else { 0 }).to_be_bytes());
            h.extend_from_slice(&[m.ttl, proto, 0, 0]);
            h.extend_from_slice(&v4(src));
            h.extend_from_slice(&v4(dst));
            let c = ones_csum(&h[ip_at..]);
            h[ip_at + 10..ip_at + 12].copy_from_slice(&c.to_be_bytes());
        }
    }
    // IPv6 always carries a UDP checksum (0xffff marks "fill in").
    let csum = csum || m.dst.is_ipv6();
    match cfg.kind {
        TunnelKind::Vxlan | TunnelKind::Geneve => {
            h.extend_from_slice(&0u16.to_be_bytes());
            h.extend_from_slice(&cfg.dst_port.to_be_bytes());
            h.extend_from_slice(&0u16.to_be_bytes());
            h.extend_from_slice(&(if csum { 0xffffu16 } else { 0 }).to_be_bytes());
            let vni = ((m.tun_id as u32) << 8).to_be_bytes();
            if cfg.kind == TunnelKind::Vxlan {
                h.extend_from_slice(&VXLAN_FLAGS.to_be_bytes());
            } else {
                // Version 0, the options' length in 4-byte units; the O
                // bit for OAM frames.
                let opt_units = (m.opts.len() / 4) as u8 & 0x3f;
                h.extend_from_slice(&[opt_units, if m.oam { GENEVE_OAM } else { 0 }]);
                h.extend_from_slice(&ETH_TYPE_TEB.to_be_bytes());
            }
            h.extend_from_slice(&vni);
            if cfg.kind == TunnelKind::Geneve {
                h.extend_from_slice(&m.opts);
            }
        }
        TunnelKind::Gre => {
            let mut flags = 0u16;
            if csum {
                flags |= GRE_CSUM;
            }
            if m.key {
                flags |= GRE_KEY;
            }
            h.extend_from_slice(&flags.to_be_bytes());
            h.extend_from_slice(&ETH_TYPE_TEB.to_be_bytes());
            if csum {
                h.extend_from_slice(&[0; 4]);
            }
            if m.key {
                h.extend_from_slice(&(m.tun_id as u32).to_be_bytes());
            }
        }
    }
    h
}

fn vport_type(k: TunnelKind) -> u32 {
    match k {
        TunnelKind::Vxlan => odp::tnl_push::VPORT_VXLAN,
        TunnelKind::Geneve => odp::tnl_push::VPORT_GENEVE,
        TunnelKind::Gre => odp::tnl_push::VPORT_GRE,
    }
}

/// A neighbour solicitation from `smac`/`sip` for `tip`, to its
/// solicited-node multicast address, with the source link-layer address
/// option (as stock's compose_nd_ns).
fn neighbour_solicitation(smac: [u8; 6], sip: Ipv6Addr, tip: Ipv6Addr) -> Vec<u8> {
    let t = tip.octets();
    let mut dst = [0u8; 16];
    dst[..2].copy_from_slice(&[0xff, 0x02]);
    dst[11..13].copy_from_slice(&[0x01, 0xff]);
    dst[13..].copy_from_slice(&t[13..]);
    let mut p = vec![0x33, 0x33, 0xff, t[13], t[14], t[15]];
    p.extend_from_slice(&smac);
    p.extend_from_slice(&eth_type::IPV6.to_be_bytes());
    // ICMPv6: type, code, checksum, reserved, target, SLL option.
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&t);
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&smac);
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.extend_from_slice(&[58, 255]);
    p.extend_from_slice(&sip.octets());
    p.extend_from_slice(&dst);
    // The checksum covers the pseudo-header: addresses, length, next header.
    let mut pseudo = Vec::with_capacity(40 + icmp.len());
    pseudo.extend_from_slice(&sip.octets());
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&icmp);
    let c = ones_csum(&pseudo);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&icmp);
    p
}

/// A tunnel destination as stock compares them (flow_tnl_dst): an IPv4
/// address mapped into IPv6, none as `::`.
pub(super) fn tnl_dst_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) if v4.is_unspecified() => 0,
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// An ARP request from `smac`/`sip` for `tip`, as stock composes it.
fn arp_request(smac: [u8; 6], sip: Ipv4Addr, tip: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0xff; 6];
    p.extend_from_slice(&smac);
    p.extend_from_slice(&eth_type::ARP.to_be_bytes());
    p.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    p.extend_from_slice(&smac);
    p.extend_from_slice(&sip.octets());
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&tip.octets());
    p
}

impl<'a> Ctx<'a> {
    fn ipv4_of(&self, f: usize) -> Ipv4Addr {
        (self.get(f) as u32).into()
    }

    /// The tunnel metadata output to `cfg` sets (stock's tnl_port_send).
    fn tunnel_meta(&mut self, cfg: &TunnelCfg) -> Result<Meta, String> {
        let flow_ip = |c: &Self, v4: usize, v6: usize| -> IpAddr {
            if c.get(v4) != 0 || c.get(v6) == 0 {
                IpAddr::V4(c.ipv4_of(v4))
            } else {
                IpAddr::V6(Ipv6Addr::from(c.get(v6)))
            }
        };
        let dst = match cfg.remote_ip {
            FromFlow::Fixed(a) => a,
            FromFlow::Flow => flow_ip(self, id::TUN_DST, id::TUN_IPV6_DST),
        };
        let unspecified = match dst {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let src = match cfg.local_ip {
            Some(FromFlow::Fixed(a)) if a.is_ipv4() == dst.is_ipv4() => a,
            Some(FromFlow::Flow) => {
                let a = flow_ip(self, id::TUN_SRC, id::TUN_IPV6_SRC);
                if a.is_ipv4() == dst.is_ipv4() {
                    a
                } else {
                    unspecified
                }
            }
            _ => unspecified,
        };
        let tun_id = match cfg.out_key {
            Some(FromFlow::Fixed(k)) => k,
            Some(FromFlow::Flow) => self.get(id::TUN_ID) as u64,
            None => 0,
        };
        let et = self.get(id::ETH_TYPE) as u16;
        let ip = et == eth_type::IP || et == eth_type::IPV6;
        let ttl = match cfg.ttl {
            None if ip => {
                self.exact(id::NW_TTL);
                self.get(id::NW_TTL) as u8
            }
            None => super::topology::DEFAULT_TTL,
            Some(t) => t,
        };
        let mut tos = match cfg.tos {
            None if ip => {
                self.unwildcard(id::NW_TOS, 0xfc);
                self.get(id::NW_TOS) as u8 & 0xfc
            }
            None => 0,
            Some(t) => t,
        };
        if ip {
            // ECN is always inherited; CE becomes ECT(0) outside.
            self.unwildcard(id::NW_ECN, 3);
            let ecn = self.get(id::NW_ECN) as u8 & 3;
            tos |= if ecn == 3 { 2 } else { ecn };
        }
        Ok(Meta {
            dst,
            src,
            tun_id,
            key: cfg.out_key.is_some(),
            tos,
            ttl,
            oam: self.get(id::TUN_FLAGS) & TUN_F_OAM != 0,
            opts: if cfg.kind == TunnelKind::Geneve {
                self.geneve_options()
            } else {
                Vec::new()
            },
        })
    }

    /// The Geneve options the flow's tun_metadata fields stand for under
    /// the bridge's TLV map, in field order. A field that is zero counts
    /// as absent (the key keeps no "present" bits).
    fn geneve_options(&self) -> Vec<u8> {
        let Some(table) = self.br.switch.map(|s| &s.tlv_table) else {
            return Vec::new();
        };
        let mut opts = Vec::new();
        for (i, f) in (id::TUN_METADATA0..=id::TUN_METADATA63).enumerate() {
            let v = self.get(f) as u32;
            match table.fields.get(i) {
                Some(Some(o)) if v != 0 && o.len == 4 => {
                    opts.extend_from_slice(&o.class.to_be_bytes());
                    opts.extend_from_slice(&[o.opt_type, 1]);
                    opts.extend_from_slice(&v.to_be_bytes());
                }
                _ => {}
            }
        }
        opts
    }

    /// Output to tunnel port `cfg` on the kernel datapath (stock's
    /// "output to kernel tunnel"): the port's metadata goes to the
    /// datapath in a `set(tunnel(...))` unless it already has exactly
    /// that, and the caller then outputs to the tunnel vport. The flow's
    /// own tunnel fields stay as they were (later matches do not see the
    /// port's). False when nothing is to be sent.
    pub(super) fn kernel_tunnel_output(&mut self, cfg: &TunnelCfg, out: &mut Vec<Node>) -> bool {
        let m = match self.tunnel_meta(cfg) {
            Ok(m) => m,
            Err(e) => {
                out.push(Node::new(NodeKind::Warn, e));
                return false;
            }
        };
        if tnl_dst_key(m.dst) == self.orig_tun_dst {
            out.push(Node::new(
                NodeKind::Warn,
                "Not tunneling to our own address".into(),
            ));
            return false;
        }
        out.push(Node::new(
            NodeKind::Detail,
            "output to kernel tunnel".into(),
        ));
        let (src, dst, src6, dst6) = match (m.src, m.dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, s, d),
            (s, d) => {
                let v4 = |a: IpAddr| match a {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                };
                (v4(s), v4(d), Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED)
            }
        };
        let t = TunnelKey {
            tun_id: m.tun_id,
            src,
            dst,
            src6,
            dst6,
            tos: m.tos,
            ttl: m.ttl,
            // OAM is the flow's (the one flag OpenFlow may set).
            oam: self.get(id::TUN_FLAGS) & TUN_F_OAM != 0,
            key: m.key,
            df: cfg.df,
            csum: cfg.csum,
        };
        let mut want = self.base;
        t.to_flow(&mut want);
        let md = range(id::TUN_METADATA0).start..range(id::TUN_METADATA63).end;
        want[md.clone()].copy_from_slice(&self.flow[md.clone()]);
        let tunnel = range(id::TUN_ID).start..range(id::TUN_GTPU_MSGTYPE).end;
        // The UDP ports are part of what the datapath has too: a second
        // output to a tunnel of another port needs its own set. The
        // source port is the one the packet came in with (0 when none).
        let ports = (self.in_tun_tp_src, cfg.dst_port);
        if want[tunnel.clone()] != self.base[tunnel.clone()]
            || want[md.clone()] != self.base[md.clone()]
            || self.base_tun_ports != ports
        {
            self.base[tunnel.clone()].copy_from_slice(&want[tunnel]);
            self.base[md.clone()].copy_from_slice(&want[md]);
            self.base_tun_ports = ports;
            let mut attrs = t.to_attrs(cfg.dst_port);
            if !m.opts.is_empty() {
                attrs.push(TunnelAttr::GeneveOpts(m.opts.clone()));
            }
            if ports.0 != 0 {
                // Before the destination port, in the kernel's order.
                let at = attrs
                    .iter()
                    .position(|a| matches!(a, TunnelAttr::TpDst(_)))
                    .unwrap_or(attrs.len());
                attrs.insert(at, TunnelAttr::TpSrc(ports.0));
            }
            self.actions
                .push(odp::Action::Set(odp::KeyAttr::Tunnel(attrs)));
        }
        true
    }

    /// Output to tunnel port `cfg` whose datapath port is `tnl_odp`.
    pub(super) fn tunnel_output(
        &mut self,
        world: &'a World<'a>,
        cfg: &TunnelCfg,
        tnl_odp: u32,
        out: &mut Vec<Node>,
    ) {
        let topo: &'a Topology = world.topo;
        let m = match self.tunnel_meta(cfg) {
            Ok(m) => m,
            Err(e) => {
                out.push(Node::new(NodeKind::Warn, e));
                return;
            }
        };
        if tnl_dst_key(m.dst) == self.orig_tun_dst {
            out.push(Node::new(
                NodeKind::Warn,
                "Not tunneling to our own address".into(),
            ));
            return;
        }
        out.push(Node::new(
            NodeKind::Detail,
            "output to native tunnel".into(),
        ));
        let mark = self.get(id::PKT_MARK) as u32;
        let hop = topo.underlay.routes().lookup(mark, m.dst);
        let Some(hop) = hop else {
            out.push(Node::new(
                NodeKind::Warn,
                "native tunnel routing failed".into(),
            ));
            return;
        };
        let nh = match (m.dst, hop.gw.to_ipv4_mapped()) {
            (IpAddr::V4(_), Some(g)) if !g.is_unspecified() => IpAddr::V4(g),
            (IpAddr::V6(_), None) if !hop.gw.is_unspecified() => IpAddr::V6(hop.gw),
            _ => m.dst,
        };
        let Some((out_br, out_port, out_dev)) = topo.port_by_dev(&hop.dev) else {
            out.push(Node::new(
                NodeKind::Warn,
                "native tunnel routing failed".into(),
            ));
            return;
        };
        out.push(Node::new(
            NodeKind::Detail,
            format!("tunneling to {nh} via {}", hop.dev),
        ));
        let Some(smac) = out_dev.mac else {
            out.push(Node::new(
                NodeKind::Warn,
                "tunnel output device lacks Ethernet address".into(),
            ));
            return;
        };
        let route_src = match (m.dst, hop.src.to_ipv4_mapped()) {
            (IpAddr::V4(_), Some(a)) => IpAddr::V4(a),
            (IpAddr::V4(_), None) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (IpAddr::V6(_), _) => IpAddr::V6(hop.src),
        };
        let src = if m.src.is_unspecified() {
            route_src
        } else {
            m.src
        };
        let Some(dmac) = topo.underlay.neigh.lookup(out_br, nh) else {
            let what = if nh.is_ipv4() { "ARP" } else { "ND" };
            out.push(Node::new(
                NodeKind::Detail,
                format!("neighbor cache miss for {nh} on bridge {out_br}, sending {what} request"),
            ));
            // Until the neighbour answers, packets to it are dropped and
            // no megaflow remembers that.
            self.no_install = true;
            if self.br.side_effects {
                self.send_neighbour_request(world, out_br, out_port, smac, route_src, nh);
            }
            return;
        };
        out.push(Node::new(
            NodeKind::Detail,
            format!(
                "tunneling from {} {src} to {} {nh}",
                mac_text(&smac),
                mac_text(&dmac)
            ),
        ));
        let Some(&out_odp) = world
            .bridges
            .get(out_br)
            .and_then(|b| b.odp_ports.get(&out_port))
        else {
            out.push(Node::new(NodeKind::Warn, "Nonexistent output port".into()));
            return;
        };
        let header = build_header(
            cfg,
            &Meta {
                src,
                opts: m.opts.clone(),
                ..m
            },
            smac,
            dmac,
            cfg.csum,
        );
        self.commit_rewrites();
        // The underlay bridge sees the outer headers; what it consults is
        // not part of this megaflow (the outer headers follow from it).
        let saved_flow = self.flow;
        let saved_base = self.base;
        let saved_wc = self.wc;
        let saved_vlans = self.vlans;
        let saved_actions = std::mem::take(&mut self.actions);
        self.outer_flow(cfg, &m, src, smac, dmac);
        self.actions.push(odp::Action::TunnelPush(TunnelPush {
            tnl_port: tnl_odp,
            out_port: out_odp,
            tnl_type: vport_type(cfg.kind),
            header,
        }));
        self.patch_output(world, out_br, out_port, out);
        let inner = std::mem::replace(&mut self.actions, saved_actions);
        // A push with nothing after it sends nothing.
        if inner.len() > 1 {
            self.actions.push(odp::Action::Clone(inner));
        }
        self.flow = saved_flow;
        self.base = saved_base;
        self.wc = saved_wc;
        self.vlans = saved_vlans;
    }

    /// Makes the flow (and what the datapath has) the encapsulated
    /// packet's outer headers.
    fn outer_flow(&mut self, cfg: &TunnelCfg, m: &Meta, src: IpAddr, smac: [u8; 6], dmac: [u8; 6]) {
        let proto = if cfg.kind == TunnelKind::Gre { 47 } else { 17 };
        let mut k = [0u8; KEY_LEN];
        for f in [id::IN_PORT, id::RECIRC_ID, id::PKT_MARK, id::SKB_PRIORITY] {
            k[range(f)].copy_from_slice(&self.flow[range(f)]);
        }
        let set = |k: &mut [u8; KEY_LEN], f: usize, v: u128| super::put_be(&mut k[range(f)], v);
        set(&mut k, id::ETH_DST, super::be(&dmac));
        set(&mut k, id::ETH_SRC, super::be(&smac));
        match (src, m.dst) {
            (IpAddr::V6(s6), IpAddr::V6(d6)) => {
                set(&mut k, id::ETH_TYPE, eth_type::IPV6 as u128);
                set(&mut k, id::IPV6_SRC, u128::from(s6));
                set(&mut k, id::IPV6_DST, u128::from(d6));
            }
            (s4, d4) => {
                let v4 = |a: IpAddr| match a {
                    IpAddr::V4(a) => u32::from(a) as u128,
                    IpAddr::V6(_) => 0,
                };
                set(&mut k, id::ETH_TYPE, eth_type::IP as u128);
                set(&mut k, id::IP_SRC, v4(s4));
                set(&mut k, id::IP_DST, v4(d4));
            }
        }
        set(&mut k, id::NW_PROTO, proto);
        set(&mut k, id::NW_TOS, (m.tos & 0xfc) as u128);
        set(&mut k, id::NW_ECN, (m.tos & 3) as u128);
        set(&mut k, id::NW_TTL, m.ttl as u128);
        if proto == 17 {
            set(&mut k, id::UDP_DST, cfg.dst_port as u128);
        }
        self.flow = k;
        self.base = k;
        self.vlans = Default::default();
    }

    /// Sends an ARP request (IPv4) or neighbour solicitation (IPv6) for
    /// `target` out of `bridge` as if it came in on `port` (the underlay's
    /// port with the route's source address `src`).
    fn send_neighbour_request(
        &mut self,
        world: &'a World<'a>,
        bridge: &str,
        port: u16,
        smac: [u8; 6],
        src: IpAddr,
        target: IpAddr,
    ) {
        let Some(br) = world.bridges.get(bridge) else {
            return;
        };
        let Some(&in_odp) = br.odp_ports.get(&port) else {
            return;
        };
        let mut k = [0u8; KEY_LEN];
        let set = |k: &mut [u8; KEY_LEN], f: usize, v: u128| super::put_be(&mut k[range(f)], v);
        set(&mut k, id::IN_PORT, port as u128);
        set(&mut k, id::ETH_SRC, super::be(&smac));
        let packet = match (src, target) {
            (IpAddr::V4(sip), IpAddr::V4(tip)) => {
                set(&mut k, id::ETH_DST, 0xffff_ffff_ffff);
                set(&mut k, id::ETH_TYPE, eth_type::ARP as u128);
                set(&mut k, id::ARP_OP, 1);
                set(&mut k, id::ARP_SPA, u32::from(sip) as u128);
                set(&mut k, id::ARP_TPA, u32::from(tip) as u128);
                set(&mut k, id::ARP_SHA, super::be(&smac));
                arp_request(smac, sip, tip)
            }
            (IpAddr::V6(sip), IpAddr::V6(tip)) => {
                let p = neighbour_solicitation(smac, sip, tip);
                set(&mut k, id::ETH_DST, super::be(&p[..6]));
                set(&mut k, id::ETH_TYPE, eth_type::IPV6 as u128);
                set(&mut k, id::IPV6_SRC, u128::from(sip));
                set(&mut k, id::IPV6_DST, super::be(&p[38..54]));
                set(&mut k, id::NW_PROTO, 58);
                set(&mut k, id::NW_TTL, 255);
                set(&mut k, id::ICMPV6_TYPE, 135);
                set(&mut k, id::ND_TARGET, u128::from(tip));
                set(&mut k, id::ND_SLL, super::be(&smac));
                p
            }
            _ => return,
        };
        let x = translate_with(br, Some(world), &k);
        if !x.actions.is_empty() {
            self.injected.push(Injected {
                packet,
                in_port: in_odp,
                actions: x.actions,
            });
        }
    }
}

/// The tunnel metadata of a datapath key, when it has some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelKey {
    pub tun_id: u64,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The outer addresses of an IPv6 underlay (`::` otherwise).
    pub src6: Ipv6Addr,
    pub dst6: Ipv6Addr,
    pub tos: u8,
    pub ttl: u8,
    pub oam: bool,
    pub key: bool,
    pub df: bool,
    pub csum: bool,
}

/// Tunnel flag bits in the flow's `tun_flags` (Open vSwitch's
/// FLOW_TNL_F_*: only OAM is visible to OpenFlow).
pub(super) const TUN_F_OAM: u128 = 1;
const TUN_F_DF: u128 = 2;
const TUN_F_CSUM: u128 = 4;
const TUN_F_KEY: u128 = 8;

impl TunnelKey {
    pub fn from_attrs(attrs: &[TunnelAttr]) -> TunnelKey {
        let mut t = TunnelKey {
            tun_id: 0,
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            src6: Ipv6Addr::UNSPECIFIED,
            dst6: Ipv6Addr::UNSPECIFIED,
            tos: 0,
            ttl: 0,
            oam: false,
            key: false,
            df: false,
            csum: false,
        };
        for a in attrs {
            match a {
                TunnelAttr::Id(v) => {
                    t.tun_id = *v;
                    t.key = true;
                }
                TunnelAttr::Ipv4Src(a) => t.src = *a,
                TunnelAttr::Ipv4Dst(a) => t.dst = *a,
                TunnelAttr::Ipv6Src(a) => t.src6 = *a,
                TunnelAttr::Ipv6Dst(a) => t.dst6 = *a,
                TunnelAttr::Tos(v) => t.tos = *v,
                TunnelAttr::Ttl(v) => t.ttl = *v,
                TunnelAttr::Oam => t.oam = true,
                TunnelAttr::DontFragment => t.df = true,
                TunnelAttr::Csum => t.csum = true,
                _ => {}
            }
        }
        t
    }

    /// The attributes of a `set(tunnel(...))` for this metadata, in the
    /// kernel's order; `tp_dst` is the tunnel's UDP port (0 for GRE).
    pub fn to_attrs(&self, tp_dst: u16) -> Vec<TunnelAttr> {
        let mut v = Vec::new();
        if self.tun_id != 0 || self.key {
            v.push(TunnelAttr::Id(self.tun_id));
        }
        if !self.src.is_unspecified() {
            v.push(TunnelAttr::Ipv4Src(self.src));
        }
        if !self.dst.is_unspecified() {
            v.push(TunnelAttr::Ipv4Dst(self.dst));
        }
        if !self.src6.is_unspecified() {
            v.push(TunnelAttr::Ipv6Src(self.src6));
        }
        if !self.dst6.is_unspecified() {
            v.push(TunnelAttr::Ipv6Dst(self.dst6));
        }
        if self.tos != 0 {
            v.push(TunnelAttr::Tos(self.tos));
        }
        v.push(TunnelAttr::Ttl(self.ttl));
        if self.df {
            v.push(TunnelAttr::DontFragment);
        }
        if self.csum {
            v.push(TunnelAttr::Csum);
        }
        if self.oam {
            v.push(TunnelAttr::Oam);
        }
        if tp_dst != 0 {
            v.push(TunnelAttr::TpDst(tp_dst));
        }
        v
    }

    /// Writes the metadata into a flow's `tun_*` fields.
    pub fn to_flow(&self, k: &mut [u8; KEY_LEN]) {
        let mut set = |f: usize, v: u128| super::put_be(&mut k[range(f)], v);
        set(id::TUN_ID, self.tun_id as u128);
        set(id::TUN_SRC, u32::from(self.src) as u128);
        set(id::TUN_DST, u32::from(self.dst) as u128);
        set(id::TUN_IPV6_SRC, u128::from(self.src6));
        set(id::TUN_IPV6_DST, u128::from(self.dst6));
        set(id::TUN_TOS, self.tos as u128);
        set(id::TUN_TTL, self.ttl as u128);
        let flags = [
            (self.oam, TUN_F_OAM),
            (self.df, TUN_F_DF),
            (self.csum, TUN_F_CSUM),
            (self.key, TUN_F_KEY),
        ];
        set(
            id::TUN_FLAGS,
            flags.iter().filter(|f| f.0).map(|f| f.1).sum::<u128>(),
        );
    }
}

/// The Geneve option type bit that marks an option the receiver must
/// understand.
const GENEVE_CRITICAL: u8 = 0x80;

/// Checks a datapath key's Geneve options against the bridge's TLV map
/// as stock does when it turns them into `tun_metadata` fields: each
/// option must be whole, a mapped one must have its mapped length, and
/// an unmapped one must not be critical.
pub fn check_geneve_options(
    key: &odp::Key,
    table: &crate::switch::tlv::TlvTable,
) -> Result<(), String> {
    geneve_options_to_flow(key, table, None)
}

/// [`check_geneve_options`], and when `flow` is given, writes each mapped
/// 4-byte option into its `tun_metadataN` field (the key keeps 4 bytes
/// per field; longer mapped options are checked but not kept).
pub fn geneve_options_to_flow(
    key: &odp::Key,
    table: &crate::switch::tlv::TlvTable,
    mut flow: Option<&mut [u8; KEY_LEN]>,
) -> Result<(), String> {
    let bad = || "Failed to parse Geneve options".to_string();
    for a in key.attrs.iter() {
        let odp::KeyAttr::Tunnel(t) = a else { continue };
        for x in t {
            let TunnelAttr::GeneveOpts(mut opts) = x.clone() else {
                continue;
            };
            while !opts.is_empty() {
                let [c0, c1, opt_type, len, ..] = opts[..] else {
                    return Err(bad());
                };
                let body = usize::from(len & 0x1f) * 4;
                if opts.len() < 4 + body {
                    return Err(bad());
                }
                match table.index_of(u16::from_be_bytes([c0, c1]), opt_type) {
                    Some(i) if table.fields[i].map(|o| usize::from(o.len)) != Some(body) => {
                        return Err(bad())
                    }
                    None if opt_type & GENEVE_CRITICAL != 0 => return Err(bad()),
                    Some(i) if body == 4 => {
                        if let (Some(k), Some(v)) = (flow.as_deref_mut(), opts.get(4..8)) {
                            k[range(id::TUN_METADATA0 + i)].copy_from_slice(v);
                        }
                    }
                    _ => {}
                }
                opts.drain(..4 + body);
            }
        }
    }
    Ok(())
}

/// The outer UDP ports (source, destination) in a datapath key's tunnel
/// metadata; zeros when it has none.
pub fn outer_ports(key: &odp::Key) -> (u16, u16) {
    let mut ports = (0, 0);
    for a in key.attrs.iter() {
        if let odp::KeyAttr::Tunnel(t) = a {
            for x in t {
                match x {
                    TunnelAttr::TpSrc(p) => ports.0 = *p,
                    TunnelAttr::TpDst(p) => ports.1 = *p,
                    _ => {}
                }
            }
        }
    }
    ports
}

/// Where a datapath key's packet is translated: for a decapsulated
/// packet on a tunnel datapath port, the bridge and OpenFlow port of the
/// tunnel port it belongs to (Err when none takes it); otherwise None.
pub fn receive_target(
    topo: &Topology,
    key: &odp::Key,
) -> Result<Option<(String, u32, u16, TunnelKey)>, String> {
    let in_port = key.attrs.iter().find_map(|a| match a {
        odp::KeyAttr::InPort(p) => Some(*p),
        _ => None,
    });
    let tunnel = key.attrs.iter().find_map(|a| match a {
        odp::KeyAttr::Tunnel(t) => Some(TunnelKey::from_attrs(t)),
        _ => None,
    });
    let (Some(t), Some(odp)) = (
        tunnel.filter(|t| !t.dst.is_unspecified() || !t.dst6.is_unspecified()),
        in_port,
    ) else {
        return Ok(None);
    };
    if !topo.tunnel_dp_ports().iter().any(|x| x.0 == odp) {
        return Err("no OpenFlow tunnel port for this packet".into());
    }
    match receive_port(topo, odp, &t) {
        Some((b, p)) => Ok(Some((b, odp, p, t))),
        None => Err("no OpenFlow tunnel port for this packet".into()),
    }
}

/// A megaflow's text with a matched `tun_metadataN` of value zero shown
/// as stock shows an option the packet does not have (`=NP`): the key
/// keeps no "present" bits, and a zero-valued option is rare.
pub fn absent_options_text(megaflow: &str) -> String {
    megaflow
        .split(',')
        .map(|t| match t.split_once('=') {
            Some((name, v))
                if name.starts_with("tun_metadata") && (v == "0" || v.starts_with("0/")) =>
            {
                format!("{name}=NP")
            }
            _ => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The flow's tunnel metadata as the `Flow:` line shows it: tun_id when
/// set, the rest whenever the packet came from a tunnel.
pub fn flow_text(k: &[u8; KEY_LEN]) -> String {
    let get = |f: usize| super::be(&k[range(f)]);
    let mut s = String::new();
    if get(id::TUN_ID) != 0 {
        s.push_str(&format!("tun_id={:#x},", get(id::TUN_ID)));
    }
    if get(id::TUN_DST) == 0 && get(id::TUN_IPV6_DST) == 0 {
        return s;
    }
    let v4 = |f: usize| Ipv4Addr::from(get(f) as u32);
    let v6 = |f: usize| std::net::Ipv6Addr::from(get(f));
    let flags: Vec<&str> = [
        (TUN_F_OAM, "oam"),
        (TUN_F_DF, "df"),
        (TUN_F_CSUM, "csum"),
        (TUN_F_KEY, "key"),
    ]
    .iter()
    .filter(|(b, _)| get(id::TUN_FLAGS) & b != 0)
    .map(|(_, n)| *n)
    .collect();
    s.push_str(&format!(
        "tun_src={},tun_dst={},tun_ipv6_src={},tun_ipv6_dst={},tun_gbp_id={},tun_gbp_flags={},tun_tos={},tun_ttl={},tun_erspan_ver={},gtpu_flags={},gtpu_msgtype={},tun_flags={},",
        v4(id::TUN_SRC),
        v4(id::TUN_DST),
        v6(id::TUN_IPV6_SRC),
        v6(id::TUN_IPV6_DST),
        get(id::TUN_GBP_ID),
        get(id::TUN_GBP_FLAGS),
        get(id::TUN_TOS),
        get(id::TUN_TTL),
        get(id::TUN_ERSPAN_VER),
        get(id::TUN_GTPU_FLAGS),
        get(id::TUN_GTPU_MSGTYPE),
        if flags.is_empty() { "0".to_string() } else { flags.join("|") },
    ));
    for (i, f) in (id::TUN_METADATA0..=id::TUN_METADATA63).enumerate() {
        if get(f) != 0 {
            s.push_str(&format!("tun_metadata{i}={:#x},", get(f)));
        }
    }
    s
}

impl Ctx<'_> {
    /// A decapsulated packet's megaflow matches what chose its tunnel
    /// port and the outer TOS (stock's tnl_wc_init). Congestion seen
    /// outside (ECN CE) is passed on to the inner packet; an inner packet
    /// that cannot carry it is dropped (its rule's actions do not run), as
    /// RFC 6040 says. Returns whether the pipeline runs.
    pub(super) fn receive_tunnel(&mut self) -> bool {
        if self.get(id::TUN_DST) == 0 && self.get(id::TUN_IPV6_DST) == 0 {
            return true;
        }
        self.exact(id::TUN_ID);
        if self.get(id::TUN_DST) != 0 {
            self.exact(id::TUN_SRC);
            self.exact(id::TUN_DST);
        } else {
            self.exact(id::TUN_IPV6_SRC);
            self.exact(id::TUN_IPV6_DST);
        }
        self.unwildcard(id::TUN_FLAGS, TUN_F_DF | TUN_F_CSUM | TUN_F_KEY);
        self.exact(id::TUN_TOS);
        let et = self.get(id::ETH_TYPE) as u16;
        if (et == eth_type::IP || et == eth_type::IPV6) && self.get(id::TUN_TOS) & 3 == 3 {
            self.unwildcard(id::NW_ECN, 3);
            if self.get(id::NW_ECN) == 0 {
                // Stock looks the rule up but runs none of its actions,
                // and says why only in its log.
                log::warn!(target: "tunnel", "dropping tunnel packet marked ECN CE but is not ECN capable");
                self.exit = true;
                return true;
            }
            self.set(id::NW_ECN, 3);
        }
        true
    }
}

/// The OpenFlow tunnel port (bridge, port number) a packet decapsulated
/// on datapath port `odp` with metadata `t` arrived on: its key must
/// match (or be `flow`), its remote address must be the sender (or
/// `flow`), its local address the receiver (when set). Fixed settings
/// win over `flow` ones, as in stock.
pub fn receive_port(topo: &Topology, odp: u32, t: &TunnelKey) -> Option<(String, u16)> {
    let mut best: Option<(u8, String, u16)> = None;
    for (b, bt) in &topo.bridges {
        for (&p, pt) in &bt.ports {
            let PortKind::Tunnel(c) = &pt.kind else {
                continue;
            };
            if bt.odp_ports.get(&p) != Some(&odp) {
                continue;
            }
            let key_rank = match c.in_key {
                Some(FromFlow::Flow) => 1,
                Some(FromFlow::Fixed(k)) if k == t.tun_id => 0,
                None if t.tun_id == 0 => 0,
                _ => continue,
            };
            let remote_rank = match c.remote_ip {
                FromFlow::Flow => 1,
                FromFlow::Fixed(IpAddr::V4(a)) if a == t.src => 0,
                FromFlow::Fixed(IpAddr::V6(a)) if a == t.src6 && t.dst.is_unspecified() => 0,
                _ => continue,
            };
            let local_rank = match c.local_ip {
                None | Some(FromFlow::Flow) => 1,
                Some(FromFlow::Fixed(IpAddr::V4(a))) if a == t.dst => 0,
                Some(FromFlow::Fixed(IpAddr::V6(a))) if a == t.dst6 && t.dst.is_unspecified() => 0,
                _ => continue,
            };
            let rank = key_rank + 2 * remote_rank + 4 * local_rank;
            let better = best
                .as_ref()
                .is_none_or(|(r, bb, bp)| (rank, b.as_str(), p) < (*r, bb.as_str(), *bp));
            if better {
                best = Some((rank, b.clone(), p));
            }
        }
    }
    best.map(|(_, b, p)| (b, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrovs_dpif::odp::tnl_push::TunnelPush;

    #[test]
    fn vxlan_header_prints_as_stock_builds_it() {
        let cfg = TunnelCfg::from_options(
            "vxlan",
            &[("remote_ip", "1.1.2.92"), ("key", "123")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap();
        let m = Meta {
            dst: "1.1.2.92".parse().unwrap(),
            src: "1.1.2.88".parse().unwrap(),
            tun_id: 123,
            key: true,
            tos: 0,
            ttl: 64,
            oam: false,
            opts: Vec::new(),
        };
        let h = build_header(
            &cfg,
            &m,
            [0xaa, 0x55, 0xaa, 0x55, 0, 0],
            [0xf8, 0xbc, 0x12, 0x44, 0x34, 0xb6],
            false,
        );
        let a = odp::Action::TunnelPush(TunnelPush {
            tnl_port: 4789,
            out_port: 100,
            tnl_type: odp::tnl_push::VPORT_VXLAN,
            header: h,
        });
        let mut s = String::new();
        odp::action_text::format_action_list(
            &mut s,
            &[a],
            &odp::key_text::FormatOptions::default(),
        );
        // The text of tunnel-push-pop.at for the same tunnel.
        assert_eq!(
            s,
            "tnl_push(tnl_port(4789),header(size=50,type=4,eth(dst=f8:bc:12:44:34:b6,src=aa:55:aa:55:00:00,dl_type=0x0800),ipv4(src=1.1.2.88,dst=1.1.2.92,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x7b)),out_port(100))"
        );
    }

    #[test]
    fn geneve_options_checked_against_the_tlv_map() {
        use crate::switch::tlv::{TlvOption, TlvTable};
        let key = |opts: &str| {
            odp::Key::parse_text(&format!(
                "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=7,tp_dst=6081,geneve({opts}),flags(key)),in_port(6081)"
            ))
            .unwrap()
        };
        let mut table = TlvTable::default();
        table.fields[0] = Some(TlvOption {
            class: 0xffff,
            opt_type: 0,
            len: 4,
        });
        let ok = key("{class=0xffff,type=0,len=4,0xa}{class=0x102,type=0x1,len=8,0x1}");
        assert_eq!(check_geneve_options(&ok, &table), Ok(()));
        assert_eq!(outer_ports(&ok), (7, 6081));
        let critical = key("{class=0x102,type=0x80,len=4,0x1}");
        assert!(check_geneve_options(&critical, &table).is_err());
        let wrong_len = key("{class=0xffff,type=0,len=8,0x1}");
        assert!(check_geneve_options(&wrong_len, &table).is_err());
        // Without a map, only critical options are refused.
        let empty = TlvTable::default();
        assert_eq!(check_geneve_options(&wrong_len, &empty), Ok(()));
        assert!(check_geneve_options(&critical, &empty).is_err());
    }
}
