//! Differential test of flow-key extraction against Open vSwitch itself:
//! `ovs-ofctl parse-pcap` prints the flow stock's extractor finds in each
//! packet of a capture; the same packets go through ours and are printed
//! the same way. Valid packets of many kinds and thousands of mutated and
//! truncated ones must give the same text, line for line.
//!
//! Needs `ovs-ofctl` (Debian openvswitch-common); skips without it, but
//! fails under CI=true.

mod common;

use std::fmt::Write;
use std::process::Command;

use common::{gen_valid, mutate, Rng};
use ferrovs_netdev::flow::{extract, FlowKey, FRAG_FIRST, FRAG_LATER, VLAN_PRESENT};
use ferrovs_netdev::pcap::PcapWriter;

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn v4(a: u32) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

fn v6(a: u128) -> String {
    std::net::Ipv6Addr::from(a).to_string()
}

const TCP_FLAG_NAMES: [&str; 12] = [
    "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]",
];

/// A packet's key as `ovs-ofctl parse-pcap` prints a flow (OpenFlow match
/// syntax, every field the packet has, metadata all zero).
fn stock_text(k: &FlowKey) -> String {
    let mut s = String::new();
    let (ip4, ip6) = (k.eth_type == 0x0800, k.eth_type == 0x86dd);
    let arp = k.eth_type == 0x0806 || k.eth_type == 0x8035;
    let l4_present = k.nw_frag != FRAG_LATER && matches!(k.nw_proto, 1 | 2 | 6 | 17 | 58 | 132);
    let mut skip_proto = false;
    let short = match k.eth_type {
        0x0800 => Some(match k.nw_proto {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            132 => "sctp",
            _ => "ip",
        }),
        0x86dd => Some(match k.nw_proto {
            58 => "icmp6",
            6 => "tcp6",
            17 => "udp6",
            132 => "sctp6",
            _ => "ipv6",
        }),
        0x0806 => Some("arp"),
        0x8035 => Some("rarp"),
        0x8847 => Some("mpls"),
        0x8848 => Some("mplsm"),
        _ => None,
    };
    if let Some(n) = short {
        skip_proto = (ip4 || ip6) && n != "ip" && n != "ipv6";
        let _ = write!(s, "{n},");
    }
    s.push_str("in_port=ANY,");
    for i in 0..2 {
        let v = k.vlans[i];
        let sfx = if i == 0 { String::new() } else { i.to_string() };
        if v.tci & VLAN_PRESENT != 0 {
            let _ = write!(
                s,
                "dl_vlan{sfx}={},dl_vlan_pcp{sfx}={},",
                v.tci & 0xfff,
                v.tci >> 13
            );
        } else {
            let _ = write!(s, "vlan_tci{sfx}=0x{:04x},", v.tci);
            break;
        }
    }
    let _ = write!(s, "dl_src={},dl_dst={},", mac(&k.eth_src), mac(&k.eth_dst));
    if short.is_none() {
        let _ = write!(s, "dl_type=0x{:04x},", k.eth_type);
    }
    if ip6 {
        let _ = write!(
            s,
            "ipv6_src={},ipv6_dst={},ipv6_label=0x{:05x},",
            v6(k.ipv6_src),
            v6(k.ipv6_dst),
            k.ipv6_label
        );
    } else if arp {
        let _ = write!(s, "arp_spa={},arp_tpa={},", v4(k.nw_src), v4(k.nw_dst));
    } else if ip4 {
        let _ = write!(s, "nw_src={},nw_dst={},", v4(k.nw_src), v4(k.nw_dst));
    }
    if arp {
        let op = if k.arp_op <= 0xff { k.arp_op } else { 0 };
        let _ = write!(
            s,
            "arp_op={op},arp_sha={},arp_tha={},",
            mac(&k.arp_sha),
            mac(&k.arp_tha)
        );
    } else if (ip4 || ip6) && !skip_proto {
        let _ = write!(s, "nw_proto={},", k.nw_proto);
    }
    if ip4 || ip6 {
        let _ = write!(
            s,
            "nw_tos={},nw_ecn={},nw_ttl={},",
            k.nw_tos & 0xfc,
            k.nw_tos & 3,
            k.nw_ttl
        );
    }
    if k.eth_type == 0x8847 || k.eth_type == 0x8848 {
        let l = k.mpls[0];
        let _ = write!(
            s,
            "mpls_label={},mpls_tc={},mpls_ttl={},mpls_bos={},",
            l >> 12,
            (l >> 9) & 7,
            l & 0xff,
            (l >> 8) & 1
        );
        // Further entries as far as the first bottom of stack.
        for i in 1..3 {
            if k.mpls[i - 1] & 0x100 != 0 {
                break;
            }
            let _ = write!(s, "mpls_lse{i}={},", k.mpls[i]);
        }
    }
    if ip4 || ip6 {
        let frag = match k.nw_frag {
            FRAG_FIRST => "first",
            FRAG_LATER => "later",
            _ => "no",
        };
        let _ = write!(s, "nw_frag={frag},");
    }
    if (ip4 || ip6) && l4_present {
        let icmp = (ip4 && k.nw_proto == 1) || (ip6 && k.nw_proto == 58);
        if icmp {
            let _ = write!(s, "icmp_type={},icmp_code={},", k.tp_src, k.tp_dst);
            if ip6 && (k.tp_src == 135 || k.tp_src == 136) && k.tp_dst == 0 {
                let _ = write!(
                    s,
                    "nd_target={},nd_sll={},nd_tll={},",
                    v6(k.nd_target),
                    mac(&k.arp_sha),
                    mac(&k.arp_tha)
                );
            }
        } else {
            let _ = write!(s, "tp_src={},tp_dst={},", k.tp_src, k.tp_dst);
        }
        if k.nw_proto == 6 {
            let names: Vec<&str> = (0..12)
                .filter(|b| k.tcp_flags & (1 << b) != 0)
                .map(|b| TCP_FLAG_NAMES[b])
                .collect();
            let f = if names.is_empty() {
                "0".to_string()
            } else {
                names.join("|")
            };
            let _ = write!(s, "tcp_flags={f},");
        }
    }
    s.pop();
    s
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

/// Hand-made frames for what the generator does not make.
fn seeds() -> Vec<Vec<u8>> {
    let e = "020000000002 020000000001";
    [
        // IPv4 first and later fragments, IGMP, options.
        "0800 45000020 0001 2000 4011 0000 0a000001 0a000002 04d20050 000c 0000 deadbeef",
        "0800 45000020 0001 0010 4006 0000 0a000001 0a000002 04d20050 000c 0000 deadbeef",
        "0800 4600001c 0000 0000 0102 0000 0a000001 e0000001 94040000 1600fa04 e00000fb",
        "0800 45000024 0000 0000 4002 0000 0a000001 e0000001 1600fa04 e00000fb 00000000 00000000",
        // IPv6 with fragment header (first, later, atomic), AH, routing.
        "86dd 60000000 0010 2c40 20010db8000000000000000000000001 20010db8000000000000000000000002 11000001 00000001 04d20050 0008 0000",
        "86dd 60000000 0010 2c40 20010db8000000000000000000000001 20010db8000000000000000000000002 11000010 00000001 04d20050 0008 0000",
        "86dd 60000000 0010 2c40 20010db8000000000000000000000001 20010db8000000000000000000000002 11000000 00000001 04d20050 0008 0000",
        "86dd 60000000 0014 3340 20010db8000000000000000000000001 20010db8000000000000000000000002 11010000 00000001 00000001 04d20050 0008 0000",
        "86dd 60000000 0018 2b40 20010db8000000000000000000000001 20010db8000000000000000000000002 06020000 00000000 04d20050 00000001 00000000 5002ffff",
        // Neighbour solicitation / advertisement with options, duplicates.
        "86dd 60000000 0020 3aff fe800000000000000000000000000001 ff0200000000000000000001ff000002 87000000 00000000 fe800000000000000000000000000002 0101 020000000001",
        "86dd 60000000 0028 3aff fe800000000000000000000000000002 fe800000000000000000000000000001 88000000 60000000 fe800000000000000000000000000002 0201 020000000002 0101 020000000009",
        "86dd 60000000 0028 3aff fe800000000000000000000000000002 fe800000000000000000000000000001 88000000 60000000 fe800000000000000000000000000002 0201 020000000002 0201 020000000009",
        "86dd 60000000 0020 3aff fe800000000000000000000000000001 ff0200000000000000000001ff000002 87000000 00000000 fe800000000000000000000000000002 0100 020000000001",
        // RARP, ARP with a 16-bit opcode, ARP for something else.
        "8035 0001080006040003 020000000001 00000000 020000000001 00000000",
        "0806 0001080006040301 020000000001 0a000001 000000000000 0a000002",
        "0806 0006080006040001 020000000001 0a000001 000000000000 0a000002",
        // 802.2 with and without SNAP, unknown type, MPLS without BOS.
        "0030 aaaa03 000000 0800 4500001c 0001 0000 4011 0000 0a000001 0a000002 04d20050 0008 0000",
        "0030 aaaa03 000000 0050 00000000",
        "0030 4242 03",
        "88b5 0102030405060708",
        "8847 00010040 00020040 00030040 00040140",
        // QinQ with IPv6 inside.
        "88a8 2064 8100 400a 86dd 60000000 0008 1140 20010db8000000000000000000000001 20010db8000000000000000000000002 04d20050 0008 0000",
    ]
    .iter()
    .map(|t| hex(&format!("{e} {t}")))
    .collect()
}

fn stock_available() -> bool {
    let ok = Command::new("ovs-ofctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "ovs-ofctl is required under CI"
        );
        eprintln!("SKIP stock extraction differential: ovs-ofctl not found");
    }
    ok
}

#[test]
fn extraction_matches_stock_ovs() {
    if !stock_available() {
        return;
    }
    let mut frames = seeds();
    let mut r = Rng(0x00c0_ffee_1234_5678);
    for _ in 0..3000 {
        frames.push(gen_valid(&mut r).frame);
    }
    let base: Vec<Vec<u8>> = frames.clone();
    for i in 0..40_000 {
        let mut f = base[i % base.len()].clone();
        for _ in 0..1 + r.below(2) {
            mutate(&mut r, &mut f);
        }
        frames.push(f);
    }
    // Stock prints nothing useful for empty records, and NSH (0x894f) is a
    // header this datapath does not parse.
    let is_nsh = |f: &[u8]| f.get(12..14) == Some(&[0x89, 0x4f][..]);
    frames.retain(|f| !f.is_empty() && !is_nsh(f));
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for f in &frames {
        w.write(f).unwrap();
    }
    let path = std::env::temp_dir().join(format!("fvn-extract-{}.pcap", std::process::id()));
    std::fs::write(&path, w.into_inner()).unwrap();
    let out = Command::new("ovs-ofctl")
        .arg("parse-pcap")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stock = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stock.lines().collect();
    assert_eq!(lines.len(), frames.len(), "one line per packet");
    let mut bad = Vec::new();
    for (i, (f, want)) in frames.iter().zip(lines.iter()).enumerate() {
        let ours = stock_text(&extract(f, &Default::default()).key);
        if ours != *want {
            bad.push(format!(
                "packet {i} {}\n  stock: {want}\n  ours:  {ours}",
                f.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} packets differ; first ones:\n{}",
        bad.len(),
        frames.len(),
        bad.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}
