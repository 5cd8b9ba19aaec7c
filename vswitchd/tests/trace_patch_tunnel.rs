//! Differential test of patch ports and native tunnels in translation:
//! stock ovs-vswitchd and ferrovs-vswitchd, both on the dummy datapath,
//! get two bridges joined by a patch port, tunnel ports (vxlan, geneve,
//! gre; fixed and `flow` keys and remote addresses) on the integration
//! bridge, an underlay address, route and neighbour set as Open
//! vSwitch's own tunnel-push-pop tests set them (`netdev-dummy/ip4addr`,
//! `ovs/route/add`, `tnl/neigh/set`), and the same flows. Every
//! `ofproto/trace` must give the same `Megaflow:` and `Datapath
//! actions:` lines: `tnl_push` with the whole outer header, `tnl_pop` at
//! the endpoint, translation across the patch port, and a patch loop
//! bounded. `tnl/ports/show`, `tnl/neigh/show`, the user routes of
//! `ovs/route/show`, `ovs/route/lookup` and `ovs/route/del` must print
//! the same.

use std::collections::BTreeMap;
use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, STOCK_VSWITCHD};
use ferrovs_tests::trace_diff::{compare, run, Scenario};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

const SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure other-config:hwaddr=aa:55:aa:55:00:00",
    "add-port br0 p0 -- set interface p0 type=dummy ofport_request=1",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=2",
    "add-port br0 pa -- set interface pa type=patch options:peer=pb ofport_request=3",
    "add-br int-br -- set bridge int-br datapath_type=dummy fail-mode=secure",
    "add-port int-br p5 -- set interface p5 type=dummy ofport_request=1",
    "add-port int-br pb -- set interface pb type=patch options:peer=pa ofport_request=2",
    "add-port int-br t1 -- set interface t1 type=vxlan options:remote_ip=1.1.2.92 options:key=123 ofport_request=3",
    "add-port int-br t2 -- set interface t2 type=geneve options:remote_ip=1.1.2.92 options:key=flow ofport_request=4",
    "add-port int-br t3 -- set interface t3 type=gre options:remote_ip=1.1.2.92 ofport_request=5",
    "add-port int-br t4 -- set interface t4 type=vxlan options:remote_ip=flow options:key=flow options:tos=inherit options:ttl=inherit ofport_request=6",
    "add-port int-br t5 -- set interface t5 type=gre options:remote_ip=1.1.2.92 options:key=7 options:csum=true options:df_default=false ofport_request=7",
    "add-port int-br t6 -- set interface t6 type=vxlan options:remote_ip=2001:cafe::92 options:key=11 ofport_request=8",
    "add-port int-br t7 -- set interface t7 type=geneve options:remote_ip=2001:cafe::93 ofport_request=9",
];

const UNDERLAY: &[&[&str]] = &[
    &["netdev-dummy/ip4addr", "br0", "1.1.2.88/24"],
    &["ovs/route/add", "1.1.2.92/24", "br0"],
    &["tnl/neigh/set", "br0", "1.1.2.92", "f8:bc:12:44:34:b6"],
    &["netdev-dummy/ip6addr", "br0", "2001:cafe::88/24"],
    &["ovs/route/add", "2001:cafe::92/24", "br0"],
    &["tnl/neigh/set", "br0", "2001:cafe::92", "f8:bc:12:44:34:c8"],
];

const BR0_FLOWS: &str = "in_port=LOCAL,actions=output:1
priority=10,in_port=1,actions=LOCAL
in_port=2,actions=output:3
priority=10,in_port=3,actions=output:2
priority=20,in_port=3,ip,nw_dst=10.0.0.8,actions=in_port
priority=30,in_port=3,ip,nw_dst=10.0.0.14,actions=ct(commit,zone=5),output:2
priority=30,in_port=3,ip,nw_dst=10.0.0.15,actions=ct(table=1,zone=5)
priority=30,in_port=3,ip,nw_dst=10.0.0.16,actions=set_field:10.1.1.1->nw_src,ct(commit),output:2
priority=30,in_port=3,ip,nw_dst=10.0.0.17,actions=resubmit(,2)
priority=30,in_port=3,ip,nw_dst=10.0.0.18,actions=ct(commit,nat(src=10.9.9.9)),output:2
priority=30,in_port=3,ip,nw_dst=10.0.0.19,actions=ct(table=1,zone=5)
priority=30,in_port=3,ip,nw_dst=10.0.0.23,actions=controller(pause),output:2
priority=30,in_port=3,ip,nw_dst=10.0.0.24,actions=ct(commit),output:2
priority=30,in_port=3,ip,nw_dst=10.0.0.25,actions=ct(commit),output:2
priority=30,in_port=3,ip,nw_dst=10.0.0.26,actions=ct(commit),output:2
priority=30,in_port=3,ip,nw_dst=10.0.0.27,actions=ct(commit),output:2
table=1,priority=30,ct_state=+trk,ip,actions=output:2
table=2,ip,actions=ct(commit),output:2";

const INT_FLOWS: &str = "in_port=2,actions=output:1
in_port=1,ip,nw_dst=10.0.0.1,actions=output:3
in_port=1,ip,nw_dst=10.0.0.2,actions=output:4
in_port=1,ip,nw_dst=10.0.0.3,actions=set_field:0x5->tun_id,output:4
in_port=1,ip,nw_dst=10.0.0.4,actions=output:5
in_port=1,ip,nw_dst=10.0.0.5,actions=set_field:1.1.2.92->tun_dst,set_field:0x7->tun_id,output:6
in_port=1,ip,nw_dst=10.0.0.6,actions=output:3,output:2
in_port=1,ip,nw_dst=10.0.0.7,actions=set_field:1.1.2.99->tun_dst,output:6
in_port=1,ip,nw_dst=10.0.0.8,actions=output:2
priority=10,in_port=2,ip,nw_dst=10.0.0.8,actions=in_port
in_port=1,ip,nw_dst=10.0.0.9,actions=output:7
in_port=1,ip,nw_dst=10.0.0.10,actions=set_field:0x1->tun_id,output:3,set_field:0x2->tun_id,output:6
in_port=3,actions=output:1
in_port=4,tun_id=0x5,actions=output:1
in_port=6,tun_id=0x7,tun_src=1.1.2.93,actions=output:1
in_port=7,actions=output:1
in_port=1,ip,nw_dst=10.0.0.11,actions=output:8
in_port=1,ip,nw_dst=10.0.0.12,actions=output:9
in_port=8,actions=output:1
in_port=1,ip,nw_dst=10.0.0.14,actions=output:2,in_port
in_port=1,ip,nw_dst=10.0.0.15,actions=output:2,in_port
in_port=1,ip,nw_dst=10.0.0.16,actions=mod_nw_tos:16,output:2,mod_nw_tos:32,in_port
in_port=1,ip,nw_dst=10.0.0.17,actions=output:2,in_port
in_port=1,ip,nw_dst=10.0.0.18,actions=output:2,in_port
in_port=1,ip,nw_dst=10.0.0.19,actions=mod_nw_tos:16,output:2
in_port=1,ip,nw_dst=10.0.0.20,actions=clone(ct(commit),in_port)
in_port=1,ip,nw_dst=10.0.0.21,actions=clone(ct(commit),in_port),mod_nw_tos:16,in_port
in_port=1,ip,nw_dst=10.0.0.22,actions=clone(mod_nw_tos:16,in_port)
in_port=1,ip,nw_dst=10.0.0.23,actions=output:2,in_port
in_port=1,ip,nw_dst=10.0.0.24,actions=output:2,load:0x1->NXM_NX_REG0[]
in_port=1,ip,nw_dst=10.0.0.25,actions=resubmit(,3)
in_port=1,ip,nw_dst=10.0.0.26,actions=output:2,resubmit(,4)
in_port=1,ip,nw_dst=10.0.0.27,actions=clone(output:2)
table=3,actions=output:2";

/// (bridge, flow) to trace.
const TRACES: &[(&str, &str)] = &[
    ("br0", "in_port=2,tcp,nw_dst=10.0.0.9,tp_dst=80"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.1"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.1,nw_tos=32,nw_ttl=9"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.2"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.3"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.4"),
    (
        "int-br",
        "in_port=1,tcp,nw_dst=10.0.0.5,nw_tos=32,nw_ecn=3,nw_ttl=9",
    ),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.6"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.7"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.8"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.9"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.10"),
    ("int-br", "in_port=1,arp,arp_tpa=10.0.0.1"),
    // Conntrack in the patch peer: a datapath clone unless the patch
    // output ends the actions (or the peer's first rule is reversible).
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.14"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.15"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.16"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.17"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.18"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.19"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.20"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.21"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.22"),
    // A pause in the patch peer.
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.23"),
    // Whether the patch output is the translation's last action.
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.24"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.25"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.26"),
    ("int-br", "in_port=1,tcp,nw_dst=10.0.0.27"),
    (
        "br0",
        "in_port=1,udp,dl_dst=aa:55:aa:55:00:00,nw_dst=1.1.2.88,udp_dst=4789",
    ),
    (
        "br0",
        "in_port=1,udp,dl_dst=aa:55:aa:55:00:00,nw_dst=1.1.2.88,udp_dst=6081",
    ),
    (
        "br0",
        "in_port=1,udp,dl_dst=aa:55:aa:55:00:00,nw_dst=1.1.2.88,udp_dst=53",
    ),
    (
        "br0",
        "in_port=1,ip,nw_proto=47,dl_dst=aa:55:aa:55:00:00,nw_dst=1.1.2.88",
    ),
    (
        "br0",
        "in_port=1,udp,dl_dst=aa:55:aa:55:00:01,nw_dst=1.1.2.88,udp_dst=4789",
    ),
    (
        "br0",
        "in_port=1,tcp,dl_dst=aa:55:aa:55:00:00,nw_dst=1.1.2.88",
    ),
    // Decapsulated packets, as the datapath hands them up after tnl_pop.
    ("ODP", "tunnel(tun_id=0x7b,src=1.1.2.92,dst=1.1.2.88,ttl=64,flags(df|key)),in_port(4789),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=2)"),
    ("ODP", "tunnel(tun_id=0x7,src=1.1.2.93,dst=1.1.2.88,ttl=64,flags(key)),in_port(4789),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0806),arp(sip=10.0.0.9,tip=10.0.0.1,op=1,sha=f8:bc:12:44:34:b6,tha=00:00:00:00:00:00)"),
    ("ODP", "tunnel(tun_id=0x9,src=1.1.2.93,dst=1.1.2.88,ttl=64,flags(key)),in_port(4789),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x7,src=1.1.2.92,dst=1.1.2.88,ttl=64,flags(key)),in_port(3),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    // An IPv6 underlay.
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.11"),
    ("int-br", "in_port=1,ip,nw_dst=10.0.0.12"),
    (
        "br0",
        "in_port=1,udp6,dl_dst=aa:55:aa:55:00:00,ipv6_dst=2001:cafe::88,udp_dst=4789",
    ),
    ("ODP", "tunnel(tun_id=0xb,ipv6_src=2001:cafe::92,ipv6_dst=2001:cafe::88,ttl=64,tp_dst=4789,flags(key)),in_port(4789),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    // Outer ECN CE: passed on to an ECN-capable inner packet, or the
    // packet is dropped.
    ("ODP", "tunnel(tun_id=0x7b,src=1.1.2.92,dst=1.1.2.88,tos=0x3,ttl=64,flags(df|key)),in_port(4789),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0x2,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x7b,src=1.1.2.92,dst=1.1.2.88,tos=0x3,ttl=64,flags(df|key)),in_port(4789),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
];

const SORTED: &[&str] = &[
    "tnl/ports/show",
    "tnl/ports/show -v",
    "tnl/neigh/show",
    "ovs/route/show",
    "ovs/route/lookup 1.1.2.92",
    "ovs/route/lookup 1.1.2.92/24",
    "ovs/route/del 1.1.2.0/24 pkt_mark=3",
];

fn scenario() -> Scenario<'static> {
    Scenario {
        setup: SETUP,
        ready: "t7 9/",
        underlay: UNDERLAY,
        ofctl: &[],
        flows: &[("br0", BR0_FLOWS), ("int-br", INT_FLOWS)],
        traces: TRACES,
        // The underlay as the tnl/* and ovs/route commands show it (system
        // routes left out: only the one added by hand is the same in both).
        appctl_sorted: SORTED,
    }
}

/// Recirculation ids masked: stock allocates a new one per trace, ferrovs
/// shares ids between equal frozen states.
fn mask_recirc_ids(reports: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mask = |text: &str, lead: &str| {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(lead) {
            out.push_str(&rest[..at + lead.len()]);
            rest = rest[at + lead.len()..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
            out.push('N');
        }
        out.push_str(rest);
        out
    };
    reports
        .into_iter()
        .map(|(k, v)| (k, mask(&mask(&v, "recirc(0x"), "recirc_id=0x")))
        .collect()
}

#[test]
fn patch_and_tunnel_traces_match_stock() {
    if !stock_ovs_available("patch_and_tunnel_traces_match_stock") {
        return;
    }
    let stock = mask_recirc_ids(run(
        "trace-pt-stock",
        Path::new(STOCK_VSWITCHD),
        &scenario(),
    ));
    let ours = mask_recirc_ids(run("trace-pt-ferrovs", Path::new(FERROVS), &scenario()));
    // The setup must really tunnel on stock (or the comparison is empty).
    assert!(
        stock.values().any(|r| r.contains("tnl_push(")),
        "stock did not tunnel: {stock:#?}"
    );
    assert!(stock.values().any(|r| r.contains("tnl_pop(")));
    assert!(
        stock
            .values()
            .any(|r| r.contains("tnl_push(") && r.contains("ipv6(src=2001:cafe::88")),
        "stock did not tunnel over IPv6"
    );
    assert!(stock.values().any(|r| r.contains("sending ND request")));
    let failures = compare("patch/tunnel traces", &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Packets through a patch port whose peer runs conntrack, on the dummy
/// datapath: the installed megaflows (`dpctl/dump-flows`, counters left
/// out) and the frames each port sent must be stock's: the peer's
/// `clone(ct(...),...)` then the first bridge's own output.
const CT_PATCH_SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 pa -- set interface pa type=patch options:peer=pb ofport_request=3",
    "add-br br1 -- set bridge br1 datapath_type=dummy fail-mode=secure",
    "add-port br1 pb -- set interface pb type=patch options:peer=pa ofport_request=1",
    "add-port br1 p3 -- set interface p3 type=dummy ofport_request=2",
];

const CT_PATCH_FLOWS: &[(&str, &str)] = &[
    (
        "br0",
        "in_port=1,ip,nw_dst=10.0.0.2,actions=output:3,mod_nw_tos:16,output:2
         in_port=1,ip,nw_dst=10.0.0.3,actions=mod_nw_tos:32,output:3",
    ),
    (
        "br1",
        "in_port=1,ip,actions=ct(commit,zone=3),mod_dl_src:aa:bb:cc:dd:ee:ff,output:2",
    ),
];

fn ct_patch_packets(program: &Path, who: &str) -> BTreeMap<String, String> {
    use ferrovs_tests::pcap;
    use ferrovs_tests::sandbox::{text, Sandbox};
    let sb = Sandbox::with_vswitchd(
        &format!("ct-patch-{who}"),
        program,
        ferrovs_tests::trace_diff::DUMMY_ARGS,
    );
    for line in CT_PATCH_SETUP {
        let args: Vec<&str> = line.split(' ').collect();
        sb.vsctl_ok(&args, line);
    }
    for p in ["p2", "p3"] {
        let pcap = format!(
            "options:tx_pcap={}",
            sb.dir.join(format!("{p}.pcap")).display()
        );
        sb.vsctl_ok(&["set", "interface", p, &pcap], "tx_pcap");
    }
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains("p3 "),
        "ports in the datapath",
    )
    .expect("ports");
    for (br, flows) in CT_PATCH_FLOWS {
        let file = sb.dir.join(format!("{br}.flows"));
        let body: String = flows.lines().map(|l| l.trim().to_string() + "\n").collect();
        std::fs::write(&file, body).expect("flows file");
        let f = file.display().to_string();
        sb.succeeded(sb.run("ovs-ofctl", &["add-flows", br, &f]), "add-flows");
    }
    for dst in ["10.0.0.2", "10.0.0.3"] {
        let packet = format!(
            "in_port(1),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0800),\
             ipv4(src=10.0.0.1,dst={dst},proto=17,tos=0,ttl=64,frag=no),udp(src=1000,dst=2000)"
        );
        for _ in 0..2 {
            sb.succeeded(
                sb.appctl(&["netdev-dummy/receive", "p1", &packet]),
                "receive",
            );
        }
    }
    let frames = |p: &str| pcap::frames_hex(&sb.dir.join(format!("{p}.pcap")));
    let _ = sb.wait_for(
        || frames("p3").lines().count() >= 4 && frames("p2").lines().count() >= 2,
        "frames on p2 and p3",
    );
    let flows: Vec<String> = text(&sb.appctl(&["dpctl/dump-flows"]).stdout)
        .lines()
        .map(|l| {
            // The counters and age differ by timing.
            let l = match (l.find(", packets:"), l.find(", actions:")) {
                (Some(a), Some(b)) if a < b => format!("{}{}", &l[..a], &l[b..]),
                _ => l.to_string(),
            };
            l + "\n"
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = BTreeMap::new();
    out.insert("appctl dpctl/dump-flows".to_string(), flows.concat());
    for p in ["p2", "p3"] {
        out.insert(format!("appctl frames {p}"), frames(p));
    }
    out
}

#[test]
fn ct_in_patch_peer_packets_match_stock() {
    let Some((ours, stock)) = ferrovs_tests::sandbox::ours_then_stock(
        "ct_in_patch_peer_packets_match_stock",
        FERROVS,
        ct_patch_packets,
    ) else {
        return;
    };
    assert!(
        stock["appctl dpctl/dump-flows"].contains("clone(ct(commit,zone=3)"),
        "stock did not clone: {stock:#?}"
    );
    let failures = compare("ct in a patch peer", &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
