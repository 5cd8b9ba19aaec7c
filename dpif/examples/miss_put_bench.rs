//! What the userspace datapath spends turning a translated miss's mask
//! and actions into its flow: through netlink (the mask decoded with the
//! key the datapath extracted, `odp_key::from_extracted`, the actions
//! decoded, as any `flow_put`), or directly (the mask built attribute by
//! attribute as translation makes them, `odp_key::MaskBuilder`, and the
//! translation's actions taken as they are), for a UDP miss with the
//! shape of mask the 10-table pipeline benchmark installs.
//!
//! `cargo run --release -p ferrovs-dpif --example miss_put_bench [N]`
//! prints ns and allocations per miss for each route.

use ferrovs_dpif::netdev::odp_key::{self, MaskBuilder};
use ferrovs_dpif::odp::key::{EthKey, Ipv4Key, PortsKey};
use ferrovs_dpif::odp::{Action, Actions, Key, KeyAttr};
use ferrovs_tests::counting_alloc::{allocations, Counting};
use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let text = "in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),\
                ipv4(src=10.0.0.1,dst=10.1.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1000,dst=80)";
    let parsed = ferrovs_dpif::odp::parse_flow(text, None).expect("flow text");
    let (k, _) = odp_key::from_odp(&parsed.key, &[]).expect("key");
    let frame = ferrovs_netdev::compose::compose(&k, &ferrovs_netdev::compose::default_payload(20));
    let meta = ferrovs_netdev::packet::PacketMeta {
        in_port: k.in_port,
        ..Default::default()
    };
    let flow = ferrovs_netdev::flow::extract(&frame, &meta).key;
    let key = odp_key::to_odp(&flow);
    // The mask translation makes for the key's attributes (metadata
    // wildcarded, addresses and the UDP destination looked at).
    let mask_attrs: Vec<KeyAttr> = Key::from_nlattrs(&key)
        .expect("decodes")
        .attrs
        .iter()
        .map(|a| match a {
            KeyAttr::InPort(_) => KeyAttr::InPort(u32::MAX),
            KeyAttr::RecircId(_) => KeyAttr::RecircId(u32::MAX),
            KeyAttr::PacketType(_) => KeyAttr::PacketType(u32::MAX),
            KeyAttr::Ethernet(_) => KeyAttr::Ethernet(EthKey {
                src: [0xff; 6],
                dst: [0xff; 6],
            }),
            KeyAttr::Ethertype(_) => KeyAttr::Ethertype(0xffff),
            KeyAttr::Ipv4(_) => KeyAttr::Ipv4(Ipv4Key {
                src: [255, 255, 255, 255].into(),
                dst: [255, 255, 0, 0].into(),
                proto: 0xff,
                tos: 0,
                ttl: 0,
                frag: 0xff,
            }),
            KeyAttr::Udp(_) => KeyAttr::Udp(PortsKey {
                src: 0,
                dst: 0xffff,
            }),
            other => other.zero_mask(),
        })
        .collect();
    let mask = Key::new(mask_attrs.clone()).to_nlattrs().expect("mask");
    let actions = vec![Action::Output(2)];
    let action_bytes = ferrovs_dpif::odp::action::encode_actions(&actions).expect("actions");

    let via_netlink = || {
        let (fk, fm) = odp_key::from_extracted(&flow, &key, &mask)
            .expect("fast path")
            .expect("decodes");
        let list = Actions::from_nlattrs(&action_bytes).expect("actions").list;
        black_box((fk, fm, list));
    };
    let direct = || {
        // Translation's side: each mask attribute as it is made.
        let mut b = MaskBuilder::default();
        for a in &mask_attrs {
            b.add(black_box(a));
        }
        let m = b.finish().expect("direct mask");
        let (fk, fm) = odp_key::masked_extracted(&flow, &m).expect("no VLAN, no tunnel");
        black_box((fk, fm));
    };
    // Same flow either way.
    let mut b = MaskBuilder::default();
    mask_attrs.iter().for_each(|a| b.add(a));
    assert!(
        odp_key::masked_extracted(&flow, &b.finish().expect("mask"))
            == odp_key::from_extracted(&flow, &key, &mask).and_then(Result::ok)
    );
    for (name, f) in [
        ("netlink", &via_netlink as &dyn Fn()),
        ("direct", &direct as &dyn Fn()),
    ] {
        let mut best = f64::MAX;
        let mut allocs = 0.0;
        for _ in 0..5 {
            let a0 = allocations();
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
            allocs = (allocations() - a0) as f64 / f64::from(n);
            best = best.min(ns);
        }
        println!("{name}: best {best:.0} ns per miss, {allocs:.1} allocations per miss");
    }
}
