//! Differential test of packet composition against Open vSwitch: the
//! frame our `compose` builds for a flow must be byte for byte the one
//! `ovs-ofctl compose-packet` builds (stock's `flow_compose`), so that
//! `netdev-dummy/receive` with a flow string sends the same packets.
//!
//! Needs `ovs-ofctl`; skips without it, but fails under CI=true.

mod common;

use std::fmt::Write;
use std::process::Command;

use common::{gen_valid, Rng};
use ferrovs_netdev::compose::{compose, default_payload, DEFAULT_L7_LEN};
use ferrovs_netdev::flow::{extract, FlowKey, FRAG_FIRST, FRAG_LATER, VLAN_PRESENT};

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The flow in the syntax `compose-packet` reads.
fn flow_text(k: &FlowKey) -> String {
    let mut s = String::new();
    let (ip4, ip6) = (k.eth_type == 0x0800, k.eth_type == 0x86dd);
    let proto = |v4: &str, v6: &str, other: &str| -> String {
        match (ip4, ip6) {
            (true, _) => v4.to_string(),
            (_, true) => v6.to_string(),
            _ => other.to_string(),
        }
    };
    let l4 = k.nw_frag != FRAG_LATER;
    match k.eth_type {
        0x0800 | 0x86dd => {
            let name = match k.nw_proto {
                6 => proto("tcp", "tcp6", ""),
                17 => proto("udp", "udp6", ""),
                132 => proto("sctp", "sctp6", ""),
                1 if ip4 => "icmp".into(),
                58 if ip6 => "icmp6".into(),
                _ => proto("ip", "ipv6", ""),
            };
            let _ = write!(s, "{name},");
            if name == "ip" || name == "ipv6" {
                let _ = write!(s, "nw_proto={},", k.nw_proto);
            }
        }
        0x0806 => s.push_str("arp,"),
        0x8847 => s.push_str("mpls,"),
        t => {
            let _ = write!(s, "dl_type=0x{t:04x},");
        }
    }
    if k.vlans[0].tci & VLAN_PRESENT != 0 {
        let t = k.vlans[0].tci;
        let _ = write!(s, "dl_vlan={},dl_vlan_pcp={},", t & 0xfff, t >> 13);
    }
    let _ = write!(s, "dl_src={},dl_dst={},", mac(&k.eth_src), mac(&k.eth_dst));
    if ip4 {
        let _ = write!(
            s,
            "nw_src={},nw_dst={},",
            std::net::Ipv4Addr::from(k.nw_src),
            std::net::Ipv4Addr::from(k.nw_dst)
        );
    }
    if ip6 {
        let _ = write!(
            s,
            "ipv6_src={},ipv6_dst={},ipv6_label=0x{:05x},",
            std::net::Ipv6Addr::from(k.ipv6_src),
            std::net::Ipv6Addr::from(k.ipv6_dst),
            k.ipv6_label
        );
    }
    if ip4 || ip6 {
        let _ = write!(
            s,
            "nw_tos={},nw_ecn={},nw_ttl={},",
            k.nw_tos & 0xfc,
            k.nw_tos & 3,
            k.nw_ttl
        );
        let frag = match k.nw_frag {
            FRAG_FIRST => "first",
            FRAG_LATER => "later",
            _ => "no",
        };
        let _ = write!(s, "nw_frag={frag},");
        if l4 {
            match k.nw_proto {
                6 => {
                    let _ = write!(
                        s,
                        "tcp_src={},tcp_dst={},tcp_flags=0x{:03x},",
                        k.tp_src, k.tp_dst, k.tcp_flags
                    );
                }
                17 => {
                    let _ = write!(s, "udp_src={},udp_dst={},", k.tp_src, k.tp_dst);
                }
                132 => {
                    let _ = write!(s, "sctp_src={},sctp_dst={},", k.tp_src, k.tp_dst);
                }
                1 if ip4 => {
                    let _ = write!(s, "icmp_type={},icmp_code={},", k.tp_src, k.tp_dst);
                }
                58 if ip6 => {
                    let _ = write!(s, "icmpv6_type={},icmpv6_code={},", k.tp_src, k.tp_dst);
                    // Source addresses belong to solicitations, target
                    // addresses to advertisements.
                    if k.tp_dst == 0 && (k.tp_src == 135 || k.tp_src == 136) {
                        let (name, addr) = if k.tp_src == 135 {
                            ("nd_sll", &k.arp_sha)
                        } else {
                            ("nd_tll", &k.arp_tha)
                        };
                        let _ = write!(
                            s,
                            "nd_target={},{name}={},",
                            std::net::Ipv6Addr::from(k.nd_target),
                            mac(addr)
                        );
                    }
                }
                _ => {}
            }
        }
    }
    if k.eth_type == 0x0806 {
        let _ = write!(
            s,
            "arp_spa={},arp_tpa={},arp_op={},arp_sha={},arp_tha={},",
            std::net::Ipv4Addr::from(k.nw_src),
            std::net::Ipv4Addr::from(k.nw_dst),
            k.arp_op,
            mac(&k.arp_sha),
            mac(&k.arp_tha)
        );
    }
    if k.eth_type == 0x8847 {
        let l = k.mpls[0];
        let _ = write!(
            s,
            "mpls_label={},mpls_tc={},mpls_ttl={},mpls_bos={},",
            l >> 12,
            (l >> 9) & 7,
            l & 0xff,
            (l >> 8) & 1
        );
    }
    s.pop();
    s
}

fn stock_compose(flow: &str) -> Result<Vec<u8>, String> {
    let out = Command::new("ovs-ofctl")
        .args(["--pcap", "compose-packet", flow])
        .output()
        .map_err(|e| e.to_string())?;
    // It exits non-zero when the packet does not parse back to the flow
    // (e.g. fields it cannot compose); the packet is still printed.
    let frames = ferrovs_netdev::pcap::parse(&out.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stderr)))?;
    frames.into_iter().next().ok_or_else(|| "no packet".into())
}

fn keys() -> Vec<FlowKey> {
    let base = FlowKey {
        eth_src: [2, 0, 0, 0, 0, 1],
        eth_dst: [2, 0, 0, 0, 0, 2],
        ..Default::default()
    };
    let mut v = vec![
        FlowKey {
            eth_type: 0x0806,
            arp_op: 2,
            nw_src: 0x0a00_0001,
            nw_dst: 0x0a00_0002,
            arp_sha: [2, 0, 0, 0, 0, 1],
            ..base
        },
        FlowKey {
            eth_type: 0x8847,
            mpls: [0x0001_0140, 0, 0],
            ..base
        },
        FlowKey {
            eth_type: 0x88b5,
            ..base
        },
        FlowKey {
            eth_type: 0x0800,
            nw_proto: 17,
            nw_frag: FRAG_FIRST,
            nw_ttl: 3,
            tp_src: 9,
            tp_dst: 10,
            ..base
        },
        FlowKey {
            eth_type: 0x0800,
            nw_proto: 6,
            nw_frag: FRAG_LATER,
            ..base
        },
        FlowKey {
            eth_type: 0x0800,
            nw_proto: 1,
            tp_src: 3,
            tp_dst: 1,
            ..base
        },
        FlowKey {
            eth_type: 0x86dd,
            nw_proto: 58,
            tp_src: 135,
            ipv6_src: 1,
            nd_target: 0xfe80 << 112 | 2,
            arp_sha: [2, 0, 0, 0, 0, 7],
            ..base
        },
        FlowKey {
            eth_type: 0x86dd,
            nw_proto: 58,
            tp_src: 128,
            ..base
        },
        FlowKey {
            eth_type: 0x0800,
            nw_proto: 6,
            tcp_flags: 0x012,
            ..base
        },
    ];
    let mut r = Rng(0x0dd_ba11);
    while v.len() < 150 {
        let k = extract(&gen_valid(&mut r).frame, &Default::default()).key;
        // compose-packet takes one VLAN tag only.
        if k.vlans[1].tci & VLAN_PRESENT == 0 {
            v.push(k);
        }
    }
    v
}

#[test]
fn composed_frames_match_stock() {
    if Command::new("ovs-ofctl").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "ovs-ofctl is required under CI"
        );
        eprintln!("SKIP stock compose differential: ovs-ofctl not found");
        return;
    }
    let payload = default_payload(DEFAULT_L7_LEN);
    let mut bad = Vec::new();
    let all = keys();
    for k in &all {
        let text = flow_text(k);
        let want = stock_compose(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let ours = compose(k, &payload);
        if ours != want {
            bad.push(format!(
                "{text}\n  stock: {want:02x?}\n  ours:  {ours:02x?}"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        all.len(),
        bad.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}
