//! Translation across bridges: patch ports, loops of them, and native
//! tunnels (route, neighbour, header, ARP request on a miss), with real
//! switch tables and a hand-built topology (no daemon).

use super::topology::{BridgeTopo, PortKind, PortTopo, Topology, TunnelCfg};
use super::*;
use crate::switch::Switch;
use std::collections::BTreeMap;
use std::net::IpAddr;

fn rule(actions: Vec<Action>) -> Rule {
    Rule::new(Instructions {
        apply: actions,
        ..Default::default()
    })
}

fn out(port: u16) -> Action {
    Action::Output { port, max_len: 0 }
}

/// `in_port=IN,actions=...` in table 0.
fn flow(sw: &mut Switch, in_port: u16, actions: Vec<Action>) {
    let mut m = Match::catchall();
    m.set_exact(id::IN_PORT, in_port as u128);
    sw.tables[0].insert(&m, 100, rule(actions));
}

fn port(name: &str, kind: PortKind) -> PortTopo {
    PortTopo {
        name: name.into(),
        kind,
        mac: None,
        addrs: vec![],
    }
}

fn patch(name: &str, peer: &str) -> PortTopo {
    port(name, PortKind::Patch { peer: peer.into() })
}

const UNDERLAY_MAC: [u8; 6] = [0xaa, 0x55, 0xaa, 0x55, 0, 0];

/// br0: p1 (odp 1) and patch pa (3); br1: p2 (odp 2), patch pb (2) and
/// a vxlan port (5, odp 9) to 1.1.2.92; br0's own port (odp 100) holds
/// 1.1.2.88/24, routed to by a user route.
fn topology() -> Topology {
    let mut t = Topology::default();
    let mut b0 = BridgeTopo::default();
    b0.odp_ports.insert(1, 1);
    b0.odp_ports.insert(port::LOCAL, 100);
    b0.ports.insert(1, port("p1", PortKind::Plain));
    b0.ports.insert(3, patch("pa", "pb"));
    b0.ports.insert(
        port::LOCAL,
        PortTopo {
            name: "br0".into(),
            kind: PortKind::Plain,
            mac: Some(UNDERLAY_MAC),
            addrs: vec!["1.1.2.88".parse().unwrap()],
        },
    );
    let mut b1 = BridgeTopo::default();
    b1.odp_ports.insert(1, 2);
    b1.odp_ports.insert(5, 9);
    b1.ports.insert(1, port("p2", PortKind::Plain));
    b1.ports.insert(2, patch("pb", "pa"));
    let opts: BTreeMap<String, String> = [("remote_ip", "1.1.2.92"), ("key", "123")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cfg = TunnelCfg::from_options("vxlan", &opts).unwrap();
    b1.ports.insert(5, port("t1", PortKind::Tunnel(cfg)));
    t.bridges.insert("br0".into(), b0);
    t.bridges.insert("br1".into(), b1);
    let addrs = vec![("br0".to_string(), "1.1.2.88".parse::<IpAddr>().unwrap(), 24)];
    t.underlay
        .routes
        .write()
        .unwrap()
        .add_user_with("1.1.2.92".parse().unwrap(), 24, "br0", None, 0, &addrs)
        .unwrap();
    t
}

/// (Traced: the tests read the trace, which only a trace makes.)
fn run(br0: &Switch, br1: &Switch, topo: &Topology, bridge: &str, k: &[u8; KEY_LEN]) -> Xlated {
    let switches: HashMap<&str, &Switch> = [("br0", br0), ("br1", br1)].into_iter().collect();
    patch::with_world(&switches, topo, true, true, |w| {
        translate_with(w.bridges.get(bridge).unwrap(), Some(w), k)
    })
}

fn ip_flow(in_port: u16) -> Box<[u8; KEY_LEN]> {
    let mut k = Box::new([0u8; KEY_LEN]);
    put_be(&mut k[range(id::IN_PORT)], in_port as u128);
    put_be(&mut k[range(id::ETH_TYPE)], 0x0800);
    put_be(&mut k[range(id::NW_PROTO)], 6);
    put_be(&mut k[range(id::NW_TTL)], 64);
    k
}

fn bridges_in(nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        if n.kind == NodeKind::Bridge {
            out.push(n.text.clone());
        }
        bridges_in(&n.subs, out);
    }
}

#[test]
fn patch_output_continues_in_the_peer_in_one_flow() {
    let (mut br0, mut br1) = (Switch::new("br0", 1), Switch::new("br1", 2));
    flow(&mut br0, 1, vec![out(3)]);
    flow(&mut br1, 2, vec![out(1)]);
    let topo = topology();
    let x = run(&br0, &br1, &topo, "br0", &ip_flow(1));
    assert_eq!(x.actions, vec![odp::Action::Output(2)]);
    let mut seen = Vec::new();
    bridges_in(&x.trace, &mut seen);
    assert_eq!(seen, ["bridge(\"br0\")", "bridge(\"br1\")"]);
    assert!(x.error.is_none());
}

#[test]
fn a_loop_of_patch_ports_is_bounded() {
    let (mut br0, mut br1) = (Switch::new("br0", 1), Switch::new("br1", 2));
    flow(&mut br0, 1, vec![out(3)]);
    flow(&mut br0, 3, vec![out(port::IN_PORT)]);
    flow(&mut br1, 2, vec![out(port::IN_PORT)]);
    let topo = topology();
    let x = run(&br0, &br1, &topo, "br0", &ip_flow(1));
    assert_eq!(x.error.as_deref(), Some("Recursion too deep"));
    assert!(x.actions.is_empty());
}

#[test]
fn tunnel_output_pushes_the_header_and_goes_on_in_the_underlay() {
    let (mut br0, mut br1) = (Switch::new("br0", 1), Switch::new("br1", 2));
    flow(&mut br0, port::LOCAL, vec![out(1)]);
    flow(&mut br1, 1, vec![out(5)]);
    let topo = topology();
    // No neighbour yet: an ARP request out of p1, no megaflow.
    let x = run(&br0, &br1, &topo, "br1", &ip_flow(1));
    assert!(x.actions.is_empty());
    assert!(x.no_install);
    assert_eq!(x.injected.len(), 1);
    let arp = &x.injected[0];
    assert_eq!(arp.in_port, 100);
    assert_eq!(arp.actions, vec![odp::Action::Output(1)]);
    assert_eq!(&arp.packet[..6], &[0xff; 6]);
    assert_eq!(&arp.packet[38..42], &[1, 1, 2, 92]);
    // Once the neighbour is known: tnl_push, then br0's output.
    let dmac = [0xf8, 0xbc, 0x12, 0x44, 0x34, 0xb6];
    topo.underlay
        .neigh
        .set("br0", "1.1.2.92".parse().unwrap(), dmac);
    let x = run(&br0, &br1, &topo, "br1", &ip_flow(1));
    assert!(!x.no_install);
    match x.actions.as_slice() {
        [odp::Action::TunnelPush(p), odp::Action::Output(1)] => {
            assert_eq!((p.tnl_port, p.out_port), (9, 100));
            assert_eq!(&p.header[..6], &dmac);
            assert_eq!(&p.header[6..12], &UNDERLAY_MAC);
            // VNI 123 at the end of the VXLAN header.
            assert_eq!(&p.header[46..50], &[0, 0, 123, 0]);
        }
        other => panic!("unexpected actions {other:?}"),
    }
    // The inner flow's megaflow does not hold the underlay's fields.
    assert_eq!(x.wc[range(id::ETH_DST)], [0; 6]);
}

#[test]
fn kernel_tunnel_output_sets_the_metadata_and_outputs_to_the_vport() {
    let (br0, mut br1) = (Switch::new("br0", 1), Switch::new("br1", 2));
    // Twice to the tunnel, then to a plain port: the metadata is set once.
    flow(&mut br1, 1, vec![out(5), out(5), out(2)]);
    let mut topo = topology();
    topo.kernel_tunnels = true;
    let x = run(&br0, &br1, &topo, "br1", &ip_flow(1));
    let mut text = String::new();
    odp::action_text::format_action_list(
        &mut text,
        &x.actions,
        &odp::key_text::FormatOptions::default(),
    );
    // Stock's text for the same port on the kernel datapath (tunnel.at's
    // shape: no tnl_push, the kernel's vport encapsulates; pb is a patch
    // port back to br0, whose flow table is empty).
    assert_eq!(
        text,
        "set(tunnel(tun_id=0x7b,dst=1.1.2.92,ttl=64,tp_dst=4789,flags(df|key))),9,9"
    );
    // ECN is always inherited, so the megaflow matches it (the TTL is
    // the port's default 64, not inherited).
    assert_eq!(be(&x.wc[range(id::NW_ECN)]), 3);
    assert_eq!(be(&x.wc[range(id::NW_TTL)]), 0);
    assert!(
        x.injected.is_empty(),
        "no ARP request for the kernel's tunnels"
    );
}

#[test]
fn kernel_datapath_ports_with_addresses_do_not_decapsulate() {
    let (mut br0, br1) = (Switch::new("br0", 1), Switch::new("br1", 2));
    flow(&mut br0, 1, vec![out(port::LOCAL)]);
    let mut topo = topology();
    topo.kernel_tunnels = true;
    // A VXLAN packet to br0's address (the tunnel's local endpoint).
    let mut k = ip_flow(1);
    put_be(&mut k[range(id::ETH_DST)], be(&UNDERLAY_MAC));
    put_be(
        &mut k[range(id::IP_DST)],
        u32::from(std::net::Ipv4Addr::new(1, 1, 2, 88)) as u128,
    );
    put_be(&mut k[range(id::NW_PROTO)], 17);
    put_be(&mut k[range(id::UDP_DST)], 4789);
    let x = run(&br0, &br1, &topo, "br0", &k);
    assert_eq!(x.actions, vec![odp::Action::Output(100)]);
    topo.kernel_tunnels = false;
    let x = run(&br0, &br1, &topo, "br0", &k);
    assert_eq!(x.actions, vec![odp::Action::TunnelPop(9)]);
}
