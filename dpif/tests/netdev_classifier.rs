//! The userspace datapath's key conversion and megaflow classifier.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ferrovs_dpif::netdev::classifier::{Classifier, ExactCache, FlowCounters, Megaflow};
use ferrovs_dpif::netdev::odp_key::{from_odp, to_odp};
use ferrovs_dpif::odp::{self, Key, KeyAttr};
use ferrovs_netdev::extract;
use ferrovs_netdev::flow::FlowKey;
use ferrovs_netdev::packet::PacketMeta;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const ETH: &str = "020000000002 020000000001";

/// Frames of many kinds (hex after the MAC addresses).
fn frames() -> Vec<Vec<u8>> {
    [
        // IPv4 UDP
        "0800 4500001c0001000040110000 0a000001 0a000002 04d20050 0008 0000",
        // IPv4 TCP SYN
        "0800 450000280001000040060000 0a000001 0a000002 04d20050 00000001 00000000 5002ffff 00000000",
        // IPv4 ICMP echo
        "0800 4500001c0001000040010000 0a000001 0a000002 0800f7ff 00000000",
        // VLAN 10 + IPv4 UDP
        "8100 600a 0800 4500001c0001000040110000 0a000001 0a000002 04d20050 0008 0000",
        // QinQ 100/10 + ARP
        "88a8 0064 8100 000a 0806 0001080006040001 020000000001 0a000001 000000000000 0a000002",
        // MPLS two labels
        "8847 00010040 00020140 4500",
        // IPv6 TCP
        "86dd 60000000 0014 0640 fe800000000000000000000000000001 fe800000000000000000000000000002 04d20050 00000001 00000000 5010ffff 00000000",
        // IPv6 neighbour solicitation with SLL
        "86dd 60000000 0020 3aff fe800000000000000000000000000001 ff0200000000000000000001ff000002 87000000 00000000 fe800000000000000000000000000002 0101020000000001",
        // ARP reply
        "0806 0001080006040002 020000000001 0a000001 020000000002 0a000002",
        // 802.2 LLC (length, no SNAP)
        "0026 424203 000000000000",
    ]
    .iter()
    .map(|t| hex(&format!("{ETH} {t}")))
    .collect()
}

#[test]
fn packet_keys_round_trip_through_odp_attributes_and_text() {
    for (i, f) in frames().iter().enumerate() {
        let meta = PacketMeta {
            in_port: 7,
            skb_mark: 3,
            ..Default::default()
        };
        let x = extract(f, &meta);
        assert!(!x.malformed, "frame {i}");
        let bytes = to_odp(&x.key);
        // Bytes -> FlowKey with an exact mask gives back the key.
        let (k, m) = from_odp(&bytes, &[]).unwrap();
        assert_eq!(k, x.key.masked(&m), "frame {i}");
        assert_eq!(k, x.key, "frame {i}: key changed on the way");
        // Through the ovs-dpctl text form and back.
        let text = Key::from_nlattrs(&bytes).unwrap().to_text();
        let parsed = odp::parse_flow(&text, None).unwrap();
        let (k2, _) = from_odp(&parsed.key, &[]).unwrap();
        assert_eq!(k2, x.key, "frame {i}: {text}");
    }
}

fn flow(text: &str, tag: u32) -> Arc<Megaflow> {
    let p = odp::parse_flow(text, None).unwrap();
    let (key, mask) = from_odp(&p.key, &p.mask).unwrap();
    Arc::new(Megaflow {
        key,
        mask,
        ufid: u128::from(tag),
        key_attrs: p.key.into(),
        mask_attrs: p.mask.into(),
        actions_attrs: Arc::from([]),
        actions: vec![],
        counters: Arc::new(FlowCounters::default()),
        dead: AtomicBool::new(false),
    })
}

fn key_of(f: &[u8], in_port: u32) -> FlowKey {
    extract(
        f,
        &PacketMeta {
            in_port,
            ..Default::default()
        },
    )
    .key
}

#[test]
fn lookup_by_mask_and_hit_ordering() {
    let fr = frames();
    let (udp4, tcp4, vlan_udp4, tcp6) = (&fr[0], &fr[1], &fr[3], &fr[6]);
    let mut c = Classifier::default();
    c.insert(flow("in_port(1),eth_type(0x0800),ipv4(proto=17)", 1));
    c.insert(flow(
        "in_port(1),eth_type(0x0800),ipv4(proto=6),tcp(dst=80)",
        2,
    ));
    c.insert(flow("in_port(2)", 3));
    c.insert(flow(
        "in_port(1),eth_type(0x0800),ipv4(src=10.0.0.0/255.0.0.0,proto=6),tcp(dst=443)",
        4,
    ));
    assert_eq!(c.n_flows(), 4);
    assert_eq!(c.n_subtables(), 4, "four distinct masks");

    let hit = |c: &Classifier, f: &[u8], port| c.lookup(&key_of(f, port)).map(|l| l.flow.ufid);
    assert_eq!(hit(&c, udp4, 1), Some(1));
    assert_eq!(hit(&c, tcp4, 1), Some(2));
    assert_eq!(
        hit(&c, tcp4, 2),
        Some(3),
        "in_port(2) matches anything from 2"
    );
    assert_eq!(hit(&c, vlan_udp4, 2), Some(3), "even tagged frames");
    assert_eq!(
        hit(&c, vlan_udp4, 1),
        None,
        "eth_type(0x0800) without vlan() means untagged"
    );
    assert_eq!(hit(&c, tcp6, 1), None);
    assert_eq!(hit(&c, udp4, 3), None, "in_port is always exact");

    // The busiest mask moves to the front.
    for _ in 0..10 {
        hit(&c, tcp4, 2);
    }
    c.sort_subtables();
    let first = c.masks()[0];
    assert_eq!(first.in_port, u32::MAX);
    assert_eq!(first.eth_type, 0, "the in_port-only mask is searched first");
    assert_eq!(c.lookup(&key_of(tcp4, 2)).unwrap().subtables_searched, 1);

    // Removing the last flow of a mask removes its subtable.
    let f = c.remove(3).unwrap();
    assert!(f.is_dead());
    assert_eq!(c.n_subtables(), 3);
    assert_eq!(hit(&c, tcp4, 2), None);
}

#[test]
fn same_match_replaces_and_exact_cache_lets_go() {
    let fr = frames();
    let mut c = Classifier::default();
    let a = flow("in_port(1),eth_type(0x0800)", 1);
    c.insert(Arc::clone(&a));
    let mut emc = ExactCache::default();
    let k = key_of(&fr[0], 1);
    let l = c.lookup(&k).unwrap();
    emc.insert(k, &l.flow);
    drop(l);
    assert_eq!(emc.lookup(&k).unwrap().ufid, 1);
    // The same key and mask under another UFID replaces the first flow.
    c.insert(flow("in_port(1),eth_type(0x0800)", 9));
    assert_eq!(c.n_flows(), 1);
    assert!(a.is_dead());
    // Once the classifier and we let go, the flow is gone: the cache
    // holds it weakly, so the poll thread never frees a deleted flow.
    let gone = Arc::downgrade(&a);
    drop(a);
    assert!(
        gone.upgrade().is_none(),
        "the cache must not keep a deleted flow alive"
    );
    assert!(emc.lookup(&k).is_none(), "cache must drop a dead flow");
    assert_eq!(c.lookup(&k).unwrap().flow.ufid, 9);
    c.clear();
    assert_eq!((c.n_flows(), c.n_subtables()), (0, 0));
}

#[test]
fn hostile_keys_are_refused_not_panicked() {
    // encap() without a VLAN, vlan() where the key has none, an unknown
    // attribute: clear errors.
    for bad in [
        "in_port(1),eth_type(0x0800),encap(eth_type(0x0800))",
        "in_port(1),vlan(vid=5)",
    ] {
        let p = odp::parse_flow(bad, None).unwrap();
        assert!(from_odp(&p.key, &p.mask).is_err(), "{bad}");
    }
    assert!(from_odp(&[0xff, 0xff, 0x01], &[]).is_err());
    assert!(from_odp(&[8, 0, 99, 0, 1, 2, 3, 4], &[]).is_err());
}

#[test]
fn keys_beyond_this_datapath_are_refused() {
    // Three VLAN tags, ct_tuple matches, four MPLS labels.
    for bad in [
        "in_port(1),eth_type(0x88a8),vlan(vid=1),encap(eth_type(0x8100),vlan(vid=2),encap(eth_type(0x8100),vlan(vid=3),encap(eth_type(0x0800))))",
        "in_port(1),ct_state(+trk),ct_tuple4(src=1.1.1.1,dst=2.2.2.2,proto=6,tp_src=1,tp_dst=2),eth_type(0x0800)",
    ] {
        let p = odp::parse_flow(bad, None).unwrap();
        assert!(from_odp(&p.key, &p.mask).is_err(), "{bad}");
    }
    let four_labels = Key::new(vec![
        KeyAttr::InPort(1),
        KeyAttr::Ethertype(0x8847),
        KeyAttr::Mpls(vec![0x1000, 0x2000, 0x3000, 0x4100]),
    ])
    .to_nlattrs()
    .unwrap();
    assert!(from_odp(&four_labels, &[]).is_err());
    // Two tags are fine.
    let ok = odp::parse_flow(
        "in_port(1),eth_type(0x88a8),vlan(vid=1),encap(eth_type(0x8100),vlan(vid=2),encap(eth_type(0x0800)))",
        None,
    )
    .unwrap();
    assert!(from_odp(&ok.key, &ok.mask).is_ok());
}
