//! Differential tests of tunnel metadata, stock ovs-vswitchd against
//! ferrovs-vswitchd on the dummy datapath:
//!
//! - the TLV map (`ovs-ofctl add-tlv-map`, `dump-tlv-map`,
//!   `del-tlv-map`): the same table and the same errors, step by step;
//! - `set_field` on tunnel fields followed by plain and tunnel outputs,
//!   and two tunnel outputs in one translation, both with native
//!   tunnelling and with the kernel's way (`set(tunnel(...))` and an
//!   output to the tunnel vport, which `dpif/set-dp-features BR
//!   tnl_push_pop false` selects as on a system datapath): the same
//!   `Megaflow:` and `Datapath actions:` lines.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ferrovs_tests::sandbox::{stock_ovs_available, Sandbox, STOCK_VSWITCHD};
use ferrovs_tests::trace_diff::{compare, outcome, run, Scenario, DUMMY_ARGS};
use ferrovs_tests::vsctl;

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

/// `ovs-ofctl` steps on the TLV map, in order.
const TLV_STEPS: &[&[&str]] = &[
    &["dump-tlv-map", "br0"],
    &["add-tlv-map", "br0", "{class=0xffff,type=0,len=4}->tun_metadata0"],
    &[
        "add-tlv-map",
        "br0",
        "{class=0xffff,type=1,len=8}->tun_metadata1,{class=0x0102,type=0x80,len=124}->tun_metadata10",
    ],
    &["dump-tlv-map", "br0"],
    // Errors: index in use, option mapped already, bad length, bad
    // index, no room left.
    &["add-tlv-map", "br0", "{class=0xffff,type=0,len=4}->tun_metadata0"],
    &["add-tlv-map", "br0", "{class=0xffff,type=0,len=4}->tun_metadata2"],
    &["add-tlv-map", "br0", "{class=1,type=0,len=5}->tun_metadata2"],
    &["add-tlv-map", "br0", "{class=1,type=0,len=128}->tun_metadata2"],
    &["add-tlv-map", "br0", "{class=1,type=0,len=4}->tun_metadata64"],
    &["add-tlv-map", "br0", "{class=2,type=0,len=124}->tun_metadata3"],
    &[
        "-O",
        "OpenFlow13",
        "add-tlv-map",
        "br0",
        "{class=0xffff,type=0,len=4}->tun_metadata5",
    ],
    // All or nothing: the good first mapping is not kept either.
    &[
        "add-tlv-map",
        "br0",
        "{class=2,type=1,len=100}->tun_metadata3,{class=2,type=2,len=4}->tun_metadata0",
    ],
    &["dump-tlv-map", "br0"],
    &["del-tlv-map", "br0", "{class=0xffff,type=1,len=8}->tun_metadata1"],
    &["del-tlv-map", "br0", "{class=9,type=9,len=4}->tun_metadata5"],
    &["add-tlv-map", "br0", "{class=2,type=1,len=120}->tun_metadata3"],
    &["-O", "OpenFlow15", "dump-tlv-map", "br0"],
    // Another bridge has its own map.
    &["dump-tlv-map", "br1"],
    &["add-tlv-map", "br1", "{class=0xffff,type=0,len=4}->tun_metadata7"],
    &["dump-tlv-map", "br1"],
    &["del-tlv-map", "br0"],
    &["dump-tlv-map", "br0"],
    &["dump-tlv-map", "br1"],
];

/// Runs `steps` (`ovs-ofctl` commands) on `program` with dummy bridges
/// `bridges`: the outcome of each step, keyed by its number and words.
fn ofctl_steps(
    program: &Path,
    name: &str,
    bridges: &[&str],
    steps: &[&[&str]],
) -> BTreeMap<String, String> {
    let mut sb = Sandbox::new(name).expect("sandbox");
    sb.start_vswitchd(program, DUMMY_ARGS)
        .expect("start vswitchd");
    for br in bridges {
        sb.vsctl_ok(&vsctl::add_br(br, "dummy", &[]), "add-br");
    }
    let mut out = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        let mut result = outcome(&sb.run("ovs-ofctl", step));
        // Stock frees a deleted rule only after an RCU grace period, and
        // until then the TLV mappings it used count as in use: a
        // del-tlv-map right after a del-flows may be refused for a
        // moment. What is compared is the answer once the deletion has
        // settled, for both daemons alike.
        let settles =
            i > 0 && steps[i - 1].first() == Some(&"del-flows") && step[0] == "del-tlv-map";
        let deadline = Instant::now() + Duration::from_secs(3);
        while settles && result.contains("NXTTMFC_INVALID_TLV_DEL") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            result = outcome(&sb.run("ovs-ofctl", step));
        }
        out.insert(format!("ofctl {i:02} {}", step.join(" ")), result);
    }
    sb.stop_vswitchd();
    out
}

#[test]
fn tlv_map_matches_stock() {
    if !stock_ovs_available("tlv_map_matches_stock") {
        return;
    }
    let bridges = ["br0", "br1"];
    let stock = ofctl_steps(Path::new(STOCK_VSWITCHD), "tlv-stock", &bridges, TLV_STEPS);
    let ours = ofctl_steps(Path::new(FERROVS), "tlv-ferrovs", &bridges, TLV_STEPS);
    // The steps must really have mapped options and failed on stock.
    assert!(stock.values().any(|r| r.contains("tun_metadata10")));
    assert!(stock.values().any(|r| r.contains("NXTTMFC_TABLE_FULL")));
    let failures = compare("TLV map", &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure other-config:hwaddr=aa:55:aa:55:00:00",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 t1 -- set interface t1 type=vxlan options:remote_ip=flow options:key=flow ofport_request=3",
    "add-port br0 t2 -- set interface t2 type=geneve options:remote_ip=1.1.2.92 options:key=flow ofport_request=4",
    "add-port br0 t3 -- set interface t3 type=gre options:remote_ip=1.1.2.92 options:key=flow ofport_request=5",
    "add-port br0 t4 -- set interface t4 type=vxlan options:remote_ip=1.1.2.92 options:key=flow options:dst_port=4790 ofport_request=6",
];

const UNDERLAY: &[&[&str]] = &[
    &["netdev-dummy/ip4addr", "br0", "1.1.2.88/24"],
    &["ovs/route/add", "1.1.2.92/24", "br0"],
    &["tnl/neigh/set", "br0", "1.1.2.92", "f8:bc:12:44:34:b6"],
];

const FLOWS: &str = "in_port=LOCAL,actions=output:1
in_port=1,ip,nw_dst=10.0.0.1,actions=set_field:0x5->tun_id,output:2
in_port=1,ip,nw_dst=10.0.0.2,actions=set_field:1.1.2.99->tun_dst,set_field:0x7->tun_id,output:2
in_port=1,ip,nw_dst=10.0.0.3,actions=set_field:0x5->tun_id,output:4,output:2
in_port=1,ip,nw_dst=10.0.0.4,actions=output:2,set_field:0x5->tun_id,output:4
in_port=1,ip,nw_dst=10.0.0.5,actions=output:4,output:5
in_port=1,ip,nw_dst=10.0.0.6,actions=set_field:1.1.2.92->tun_dst,output:3,output:4
in_port=1,ip,nw_dst=10.0.0.7,actions=output:4,output:6
in_port=1,ip,nw_dst=10.0.0.8,actions=set_field:0x5->tun_id,output:4,set_field:0x6->tun_id,output:4,output:2
in_port=1,ip,nw_dst=10.0.0.9,actions=set_field:1.1.2.92->tun_dst,output:3,set_field:0x1->tun_flags,output:3
in_port=1,ip,nw_dst=10.0.0.10,actions=set_field:0x5->tun_id,output:4,output:4
in_port=1,ip,nw_dst=10.0.0.12,actions=set_field:0x5->tun_id,group:1,output:2
in_port=1,ip,nw_dst=10.0.0.13,actions=set_field:0x5->tun_id,clone(output:4),output:5,output:2
in_port=1,ip,nw_dst=10.0.0.14,actions=set_field:0x5->tun_id,resubmit(,1),set_field:0x6->tun_id,output:2
table=1,actions=output:4,output:6
in_port=1,ip,nw_dst=10.0.0.15,actions=set_field:0x5->tun_id,output:4,controller,output:2
in_port=1,ip,nw_dst=10.0.0.16,actions=set_field:1.1.2.92->tun_dst,set_field:0x5->tun_id,output:3,output:IN_PORT
in_port=1,ip,nw_dst=10.0.0.17,actions=set_field:0x1->tun_flags,output:2,output:4
in_port=1,ip,nw_dst=10.0.0.18,actions=set_field:0x5->tun_id,group:2
in_port=3,actions=output:2
in_port=4,tun_id=0x9,actions=set_field:0x9->tun_id,output:4
in_port=4,tun_id=0xa,actions=set_field:1.1.2.93->tun_dst,output:2
in_port=4,tun_id=0x5,actions=output:2
in_port=4,tun_id=0x6,actions=set_field:0x9->tun_id,output:2
in_port=4,tun_id=0x7,actions=output:5
in_port=4,tun_id=0x8,actions=output:4";

const TRACES: &[(&str, &str)] = &[
    ("br0", "in_port=1,ip,nw_dst=10.0.0.1"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.2"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.3"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.4"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.5"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.6"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.7"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.8"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.9"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.10"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.12"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.13"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.14"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.15"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.16"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.17"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.18"),
    ("br0", "in_port=1,tcp,nw_dst=10.0.0.5,nw_tos=32,nw_ttl=9"),
    ("ODP", "tunnel(tun_id=0x9,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0xa,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    // Received through a tunnel.
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x6,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x7,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x8,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    // Geneve options: one the TLV map names, one it does not.
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,geneve({class=0xffff,type=0,len=4,0xa}),flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,geneve({class=0x102,type=0x1,len=8,0x0102030405060708}),flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    // A critical option the map does not name, and a mapped one of the
    // wrong length: stock refuses both.
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,geneve({class=0x102,type=0x80,len=8,0x0102030405060708}),flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,geneve({class=0xffff,type=0,len=8,0x0102030405060708}),flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x2,src=1.1.2.93,dst=1.1.2.88,ttl=64,flags(key)),in_port(4789),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
];

fn scenario(underlay: &'static [&'static [&'static str]]) -> Scenario<'static> {
    Scenario {
        setup: SETUP,
        ready: "t4 6/",
        underlay,
        ofctl: &[
            &[
                "add-tlv-map",
                "br0",
                "{class=0xffff,type=0,len=4}->tun_metadata0",
            ],
            &[
                "-O",
                "OpenFlow13",
                "add-group",
                "br0",
                "group_id=1,type=all,bucket=output:4,bucket=output:5",
            ],
            &[
                "-O",
                "OpenFlow13",
                "add-group",
                "br0",
                "group_id=2,type=all,bucket=set_field:0x6->tun_id,output:4,bucket=output:4,output:2",
            ],
        ],
        flows: &[("br0", FLOWS)],
        traces: TRACES,
        appctl_sorted: &[],
    }
}

fn traces_match(name: &str, underlay: &'static [&'static [&'static str]], kernel: bool) {
    if !stock_ovs_available(name) {
        return;
    }
    let stock = run(
        &format!("{name}-stock"),
        Path::new(STOCK_VSWITCHD),
        &scenario(underlay),
    );
    let ours = run(
        &format!("{name}-ferrovs"),
        Path::new(FERROVS),
        &scenario(underlay),
    );
    let marker = if kernel { "set(tunnel(" } else { "tnl_push(" };
    assert!(
        stock.values().any(|r| r.contains(marker)),
        "stock did not tunnel with {marker}: {stock:#?}"
    );
    let refused = stock
        .values()
        .filter(|r| r.contains("Failed to parse Geneve options"))
        .count();
    assert_eq!(refused, 2, "stock refused other Geneve options: {stock:#?}");
    let failures = compare(name, &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tunnel_field_traces_match_stock_native() {
    traces_match("tunmeta-native", UNDERLAY, false);
}

const KERNEL_UNDERLAY: &[&[&str]] = &[
    &["netdev-dummy/ip4addr", "br0", "1.1.2.88/24"],
    &["ovs/route/add", "1.1.2.92/24", "br0"],
    &["tnl/neigh/set", "br0", "1.1.2.92", "f8:bc:12:44:34:b6"],
    &["dpif/set-dp-features", "br0", "tnl_push_pop", "false"],
];

#[test]
fn tunnel_field_traces_match_stock_kernel_style() {
    traces_match("tunmeta-kernel", KERNEL_UNDERLAY, true);
}

/// `ovs-ofctl` steps on flows using `tun_metadataN`: matches (exact and
/// masked, the leading-zero trimming ovs-ofctl does on the wire), the
/// actions writing and reading them, and the error for a field the TLV
/// map does not name.
const TUN_METADATA_STEPS: &[&[&str]] = &[
    &["add-flow", "br0", "tun_metadata0=0x1234,actions=output:2"],
    &["add-tlv-map", "br0", "{class=0xffff,type=0,len=4}->tun_metadata0,{class=0x0102,type=0x80,len=4}->tun_metadata7"],
    &["add-flow", "br0", "priority=1,tun_metadata0=0x1234/0xffff,actions=drop"],
    &["add-flow", "br0", "priority=2,tun_metadata0=0x1234,actions=drop"],
    &["add-flow", "br0", "priority=3,tun_metadata0=0x12345678/0xffff0000,actions=drop"],
    &["add-flow", "br0", "priority=4,tun_metadata0=0x1/0x1,actions=drop"],
    &["add-flow", "br0", "priority=5,tun_metadata0=0/0xff,actions=drop"],
    &["add-flow", "br0", "priority=6,tun_metadata0=0,actions=drop"],
    &["add-flow", "br0", "priority=9,tun_metadata0=0x123456789a,actions=drop"],
    &["add-flow", "br0", "priority=10,tun_metadata0=0x1,tun_metadata7=0x2,in_port=1,actions=drop"],
    &["add-flow", "br0", "priority=11,actions=load:0x5->NXM_NX_TUN_METADATA0[0..7],move:NXM_NX_TUN_METADATA0[0..31]->NXM_NX_REG0[],move:NXM_NX_REG1[]->NXM_NX_TUN_METADATA7[0..31],set_field:0x77->tun_metadata7"],
    &["add-flow", "br0", "priority=12,actions=set_field:0x1234/0xff->tun_metadata0"],
    &["add-flow", "br0", "priority=13,tun_metadata5=0x1,actions=drop"],
    &["add-flow", "br0", "priority=14,actions=set_field:0x1->tun_metadata5"],
    &["add-flow", "br0", "priority=15,actions=move:NXM_NX_TUN_METADATA6[0..7]->NXM_NX_REG0[0..7]"],
    &["dump-flows", "br0", "--no-stats"],
    &["-O", "OpenFlow13", "dump-flows", "br0", "--no-stats"],
    &["dump-flows", "br0", "--no-stats", "tun_metadata0=0x1234"],
    &["del-flows", "br0", "tun_metadata7=0x2"],
    &["dump-flows", "br0", "--no-stats"],
    // Mappings flows use cannot go; unused ones can.
    &["del-tlv-map", "br0", "{class=0x0102,type=0x80,len=4}->tun_metadata7"],
    &["del-tlv-map", "br0"],
    &["del-flows", "br0", "--strict", "priority=11"],
    &["del-tlv-map", "br0", "{class=0x0102,type=0x80,len=4}->tun_metadata7"],
    &["del-tlv-map", "br0"],
    &["del-flows", "br0"],
    &["del-tlv-map", "br0"],
    &["dump-tlv-map", "br0"],
];

#[test]
fn tun_metadata_flows_match_stock() {
    if !stock_ovs_available("tun_metadata_flows_match_stock") {
        return;
    }
    let bridges = ["br0"];
    let steps = TUN_METADATA_STEPS;
    let stock = ofctl_steps(Path::new(STOCK_VSWITCHD), "tunmd-stock", &bridges, steps);
    let ours = ofctl_steps(Path::new(FERROVS), "tunmd-ferrovs", &bridges, steps);
    assert!(stock.values().any(|r| r.contains("tun_metadata7=0x2")));
    assert!(stock
        .values()
        .any(|r| r.contains("NXFMFC_INVALID_TLV_FIELD")));
    assert!(stock
        .values()
        .any(|r| r.contains("NXTTMFC_INVALID_TLV_DEL")));
    let failures = compare("tun_metadata flows", &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Added to [`SETUP`]: a second bridge behind a patch port: the peer
/// sees no tun_metadata (as no other tunnel field).
const TM_PATCHED_BR1: &[&str] = &[
    "add-br br1 -- set bridge br1 datapath_type=dummy fail-mode=secure",
    "add-port br0 pp0 -- set interface pp0 type=patch options:peer=pp1 ofport_request=7",
    "add-port br1 pp1 -- set interface pp1 type=patch options:peer=pp0 ofport_request=1",
    "add-port br1 p9 -- set interface p9 type=dummy ofport_request=2",
];

const TM_BR1_FLOWS: &str = "in_port=1,tun_metadata0=0x1234,actions=drop
priority=1,in_port=1,actions=output:2";

const TM_FLOWS: &str = "in_port=LOCAL,actions=output:1
in_port=1,ip,nw_dst=10.0.0.35,actions=set_field:0x1234->tun_metadata0,output:7
in_port=1,ip,nw_dst=10.0.0.30,actions=set_field:0x1234->tun_metadata0,output:4
in_port=1,ip,nw_dst=10.0.0.31,actions=set_field:0x1234->tun_metadata0,output:2
in_port=1,ip,nw_dst=10.0.0.32,actions=load:0x5->NXM_NX_TUN_METADATA0[0..7],move:NXM_NX_TUN_METADATA0[0..31]->NXM_NX_REG0[],output:2
in_port=1,ip,nw_dst=10.0.0.33,actions=set_field:0x1234->tun_metadata0,resubmit(,1)
in_port=1,ip,nw_dst=10.0.0.34,actions=set_field:0x5->tun_id,set_field:0xabcd->tun_metadata0,output:4,output:2
table=1,tun_metadata0=0x1234,actions=output:2
table=1,priority=1,actions=output:5
in_port=4,tun_metadata0=0xb,actions=output:2
in_port=4,tun_metadata0=0x1200/0xff00,actions=set_field:0x7->tun_metadata0,output:IN_PORT
priority=1,in_port=4,actions=output:5";

const TM_TRACES: &[(&str, &str)] = &[
    ("br0", "in_port=1,ip,nw_dst=10.0.0.30"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.31"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.32"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.33"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.34"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.35"),
    ("br0", "in_port=1,ip,nw_dst=10.0.0.30,tun_metadata0=0x5"),
    ("br0", "in_port=4,tun_metadata0=0xb"),
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,geneve({class=0xffff,type=0,len=4,0xb}),flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,geneve({class=0xffff,type=0,len=4,0x1234}),flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,geneve({class=0xffff,type=0,len=4,0x99}),flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
    ("ODP", "tunnel(tun_id=0x5,src=1.1.2.92,dst=1.1.2.88,ttl=64,tp_src=1,tp_dst=6081,flags(df|key)),in_port(6081),eth(src=f8:bc:12:44:34:b6,dst=aa:55:aa:55:00:05),eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)"),
];

fn tm_traces_match(name: &str, underlay: &'static [&'static [&'static str]]) {
    if !stock_ovs_available(name) {
        return;
    }
    let ofctl: &[&[&str]] = &[
        &[
            "add-tlv-map",
            "br0",
            "{class=0xffff,type=0,len=4}->tun_metadata0",
        ],
        &[
            "add-tlv-map",
            "br1",
            "{class=0xffff,type=0,len=4}->tun_metadata0",
        ],
    ];
    let setup: Vec<&str> = SETUP.iter().chain(TM_PATCHED_BR1).copied().collect();
    let sc = || Scenario {
        setup: &setup,
        ofctl,
        flows: &[("br0", TM_FLOWS), ("br1", TM_BR1_FLOWS)],
        traces: TM_TRACES,
        ..scenario(underlay)
    };
    let stock = run(&format!("{name}-stock"), Path::new(STOCK_VSWITCHD), &sc());
    let ours = run(&format!("{name}-ferrovs"), Path::new(FERROVS), &sc());
    // The options really went out, and received options really matched.
    for marker in [
        "len=4,0x1234})",
        "len=4,0xabcd})",
        "len=4,0x7})",
        "tun_metadata0=0xb,in_port=4, priority",
        "tun_metadata0=0x1200/0xff00,in_port=4, priority",
        // br1 behind the patch port: its tun_metadata0 rule is not hit.
        "bridge(\"br1\")\n-------------\n 0. in_port=1, priority 1\n",
    ] {
        assert!(
            stock.values().any(|r| r.contains(marker)),
            "stock never showed {marker}: {stock:#?}"
        );
    }
    let failures = compare(name, &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tun_metadata_traces_match_stock_native() {
    tm_traces_match("tunmd-native", UNDERLAY);
}

#[test]
fn tun_metadata_traces_match_stock_kernel_style() {
    tm_traces_match("tunmd-kernel", KERNEL_UNDERLAY);
}

/// NORMAL floods in the order ports joined the bridge, as stock: the
/// bridge's LOCAL port first, and a port deleted and added again last.
const FLOOD_SETUP: &[&str] = &[
    "add-br br9 -- set bridge br9 datapath_type=dummy",
    "add-port br9 q1 -- set interface q1 type=dummy ofport_request=1",
    "add-port br9 q2 -- set interface q2 type=dummy ofport_request=2",
    "add-port br9 q3 -- set interface q3 type=dummy ofport_request=3",
    "add-port br9 q4 -- set interface q4 type=dummy ofport_request=4",
    "del-port br9 q2",
    "add-port br9 q2 -- set interface q2 type=dummy ofport_request=2",
    "add-port br9 q5 -- set interface q5 type=dummy ofport_request=5",
];

#[test]
fn normal_flood_order_matches_stock() {
    if !stock_ovs_available("normal_flood_order_matches_stock") {
        return;
    }
    let sc = || Scenario {
        setup: FLOOD_SETUP,
        ready: "q5 5/",
        underlay: &[],
        ofctl: &[],
        flows: &[],
        traces: &[
            ("br9", "in_port=1,dl_dst=ff:ff:ff:ff:ff:ff"),
            ("br9", "in_port=3,dl_dst=01:00:00:00:00:01"),
            ("br9", "in_port=LOCAL,dl_dst=ff:ff:ff:ff:ff:ff"),
        ],
        appctl_sorted: &[],
    };
    let stock = run("flood-stock", Path::new(STOCK_VSWITCHD), &sc());
    let ours = run("flood-ferrovs", Path::new(FERROVS), &sc());
    assert!(
        stock.values().all(|r| r.contains("Datapath actions: ")),
        "{stock:#?}"
    );
    let failures = compare("NORMAL flood order", &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Packet-ins of packets received on the Geneve port: the outer frame is
/// injected on p1 and passed to the bridge's own address (LOCAL), where
/// the dummy datapath decapsulates it; the packet-in's match carries the
/// tunnel fields and the options the TLV map names, as `ovs-ofctl
/// monitor` prints them (NXT_PACKET_IN2 and OpenFlow 1.3).
const PIN_FLOWS: &str = "priority=5,in_port=1,udp,tp_dst=6081,actions=LOCAL
priority=1,in_port=4,actions=controller
priority=2,in_port=4,tun_metadata0=0x2,actions=set_field:0x77->tun_metadata1,controller(userdata=01.02)
priority=3,in_port=4,tun_metadata0=0x3,actions=load:0->NXM_NX_TUN_METADATA0[],controller
priority=4,in_port=4,tun_metadata0=0x4,actions=controller(pause)";

/// One Geneve option of class 0xffff: type, 4-byte value.
type GeneveOpt = (u8, u32);

/// The frames sent: (VNI, options).
const PIN_PACKETS: &[(u32, &[GeneveOpt])] = &[
    (5, &[(0, 1)]),
    (6, &[(0, 2)]),
    (7, &[(0, 3), (1, 0x1234)]),
    (8, &[]),
    (9, &[(0, 4), (2, 0xabcd)]),
];

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4_header(proto: u8, src: [u8; 4], dst: [u8; 4], payload: usize) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend(((20 + payload) as u16).to_be_bytes());
    h.extend([0, 0, 0x40, 0, 64, proto, 0, 0]);
    h.extend(src);
    h.extend(dst);
    let c = ipv4_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// An ICMP echo inside Geneve (VNI `vni`, `opts`) from 1.1.2.92 to the
/// bridge's address 1.1.2.88, as hex for `netdev-dummy/receive`.
fn geneve_frame(vni: u32, opts: &[GeneveOpt]) -> String {
    let mut inner = Vec::new();
    inner.extend([0x50, 0x54, 0, 0, 0, 9, 0x50, 0x54, 0, 0, 0, 5, 0x08, 0x00]);
    let icmp = [8u8, 0, 0xf7, 0xfe, 0, 1, 0, 0];
    inner.extend(ipv4_header(1, [10, 0, 0, 5], [10, 0, 0, 9], icmp.len()));
    inner.extend(icmp);
    let mut geneve = vec![(opts.len() * 2) as u8, 0, 0x65, 0x58];
    geneve.extend(&(vni << 8).to_be_bytes());
    for (ty, v) in opts {
        geneve.extend([0xff, 0xff, *ty, 1]);
        geneve.extend(v.to_be_bytes());
    }
    geneve.extend(inner);
    let mut udp = Vec::new();
    udp.extend(12345u16.to_be_bytes());
    udp.extend(6081u16.to_be_bytes());
    udp.extend(((8 + geneve.len()) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(geneve);
    let mut frame = vec![
        0xaa, 0x55, 0xaa, 0x55, 0, 0, 0xf8, 0xbc, 0x12, 0x44, 0x34, 0xb6, 8, 0,
    ];
    frame.extend(ipv4_header(17, [1, 1, 2, 92], [1, 1, 2, 88], udp.len()));
    frame.extend(udp);
    frame.iter().map(|b| format!("{b:02x}")).collect()
}

fn geneve_packet_ins(program: &Path, who: &str) -> BTreeMap<String, String> {
    let sb = Sandbox::with_vswitchd(&format!("tunmd-pin-{who}"), program, DUMMY_ARGS);
    for line in SETUP {
        let args: Vec<&str> = line.split(' ').collect();
        sb.vsctl_ok(&args, line);
    }
    sb.wait_for(
        || ferrovs_tests::sandbox::text(&sb.appctl(&["dpif/show"]).stdout).contains("t4 6/"),
        "ports in the datapath",
    )
    .expect("ports");
    for cmd in UNDERLAY {
        sb.succeeded(sb.appctl(cmd), &cmd.join(" "));
    }
    let map = "{class=0xffff,type=0,len=4}->tun_metadata0,{class=0xffff,type=1,len=4}->tun_metadata1,{class=0xffff,type=2,len=4}->tun_metadata2";
    sb.succeeded(sb.run("ovs-ofctl", &["add-tlv-map", "br0", map]), "tlv map");
    let file = sb.dir.join("pin.flows");
    std::fs::write(&file, PIN_FLOWS.to_string() + "\n").expect("flows file");
    let f = file.display().to_string();
    sb.succeeded(sb.run("ovs-ofctl", &["add-flows", "br0", &f]), "add-flows");
    let monitors: &[(&str, &[&str])] = &[
        ("nxt", &["-P", "nxt_packet_in"]),
        ("of13", &["-O", "OpenFlow13"]),
    ];
    let mut children = ferrovs_tests::sandbox::Children(Vec::new());
    for (name, opts) in monitors {
        let out = std::fs::File::create(sb.dir.join(format!("{name}.txt"))).expect("file");
        let ctl = sb.dir.join(format!("{name}.ctl")).display().to_string();
        let child = sb
            .command("ovs-ofctl")
            .args(*opts)
            .args(["monitor", "br0", "65534", &format!("--unixctl={ctl}")])
            .stdout(std::process::Stdio::null())
            .stderr(out)
            .spawn()
            .expect("ovs-ofctl monitor");
        children.0.push(child);
        sb.wait_for(
            || {
                sb.run("ovs-appctl", &["-t", &ctl, "ofctl/barrier"])
                    .status
                    .success()
            },
            "monitor connected",
        )
        .expect("monitor");
    }
    let read = |name: &str| {
        std::fs::read_to_string(sb.dir.join(format!("{name}.txt"))).unwrap_or_default()
    };
    let count = |s: &str| s.matches("total_len=").count();
    for (i, (vni, opts)) in PIN_PACKETS.iter().enumerate() {
        let hex = geneve_frame(*vni, opts);
        sb.succeeded(sb.appctl(&["netdev-dummy/receive", "p1", &hex]), "receive");
        let _ = sb.wait_for(|| count(&read("nxt")) > i, "packet-in");
    }
    // Late duplicates would show up now.
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(children);
    let mut out = BTreeMap::new();
    for (name, _) in monitors {
        // (Each daemon picks its bridge's uuid at random.)
        let text: String = read(name)
            .lines()
            .map(|l| match l.find("continuation.bridge=") {
                Some(at) => format!("{}continuation.bridge=UUID\n", &l[..at]),
                None => format!("{l}\n"),
            })
            .collect();
        out.insert(format!("ofctl monitor {name}"), text);
    }
    out
}

#[test]
fn geneve_packet_ins_match_stock() {
    let Some((ours, stock)) = ferrovs_tests::sandbox::ours_then_stock(
        "geneve_packet_ins_match_stock",
        FERROVS,
        geneve_packet_ins,
    ) else {
        return;
    };
    assert!(
        stock["ofctl monitor nxt"].contains("tun_metadata0=0x2"),
        "stock's packet-ins carry no tun_metadata: {stock:#?}"
    );
    let failures = compare("geneve packet-ins", &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
