//! NORMAL with bonds, `ofproto/trace` on stock and on ferrovs (dummy
//! datapath, same bridge): an active-backup bond (bond-primary p2) and a
//! balance-slb bond whose second member is disabled (with a long updelay,
//! so it stays so), a balance-slb bond with LACP (which no partner
//! answers: it passes nothing), beside a plain port.
//!
//! The traces cover flooding (one copy per bond, by the member the bond
//! picks), packets received on a backup member (refused), multicast on an
//! SLB bond's inactive member (refused), unicast there (accepted), a
//! source MAC learned elsewhere coming back on an SLB bond (dropped as a
//! loop) except in a gratuitous ARP, and forwarding to a learned port
//! from a bond. Megaflows and datapath actions must be stock's.

use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, STOCK_VSWITCHD};
use ferrovs_tests::trace_diff::{compare, run, Scenario};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

const SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy other-config:hwaddr=aa:55:aa:55:00:00",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-bond br0 bond0 p2 p3 bond_mode=active-backup other_config:bond-primary=p2 -- set interface p2 type=dummy ofport_request=2 -- set interface p3 type=dummy ofport_request=3",
    "add-bond br0 bond1 p4 p5 bond_mode=balance-slb bond_updelay=3600000 -- set interface p4 type=dummy ofport_request=4 -- set interface p5 type=dummy ofport_request=5",
    "add-bond br0 bond2 p6 p7 bond_mode=balance-slb lacp=active -- set interface p6 type=dummy ofport_request=6 -- set interface p7 type=dummy ofport_request=7",
];

const UNDERLAY: &[&[&str]] = &[
    &["bond/disable-member", "bond1", "p5"],
    &["fdb/add", "br0", "p1", "0", "00:00:00:00:00:01"],
    // A MAC on bond0, given by its backup member's name.
    &["fdb/add", "br0", "p3", "0", "00:00:00:00:00:02"],
];

const TRACES: &[(&str, &str)] = &[
    // Flooding: p2 (bond0's active member), p4 (bond1's only enabled
    // one), nothing to bond2 (LACP never negotiated).
    ("br0", "in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=ff:ff:ff:ff:ff:ff"),
    // bond0's backup member: refused, multicast or not.
    ("br0", "in_port=3,dl_src=00:00:00:00:00:0b,dl_dst=ff:ff:ff:ff:ff:ff"),
    ("br0", "in_port=3,dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:01"),
    // Its active member: flooded to everything but bond0.
    ("br0", "in_port=2,dl_src=00:00:00:00:00:0b,dl_dst=ff:ff:ff:ff:ff:ff"),
    // To a learned port.
    ("br0", "in_port=2,dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:01"),
    // To a MAC learned on bond0: by its active member.
    ("br0", "in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:02"),
    // bond1's disabled member: multicast refused, unicast accepted.
    ("br0", "in_port=5,dl_src=00:00:00:00:00:0c,dl_dst=ff:ff:ff:ff:ff:ff"),
    ("br0", "in_port=5,dl_src=00:00:00:00:00:0c,dl_dst=00:00:00:00:00:0a"),
    // bond2 takes nothing in either.
    ("br0", "in_port=6,dl_src=00:00:00:00:00:0d,dl_dst=00:00:00:00:00:01"),
    // A LACP frame on bond2's member goes to the daemon's slow path
    // (after a lookup in table 0 whose actions do not run); on a bond
    // without LACP it is an ordinary frame.
    (
        "br0",
        "in_port=6,dl_src=00:00:00:00:00:0d,dl_dst=01:80:c2:00:00:02,dl_type=0x8809",
    ),
    (
        "br0",
        "in_port=2,dl_src=00:00:00:00:00:0d,dl_dst=01:80:c2:00:00:02,dl_type=0x8809",
    ),
    // A MAC learned on p1 coming back by bond1: a loop, unless it is a
    // gratuitous ARP.
    ("br0", "in_port=4,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:0a"),
    (
        "br0",
        "in_port=4,arp,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=2",
    ),
    (
        "br0",
        "in_port=4,arp,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2",
    ),
];

fn scenario() -> Scenario<'static> {
    Scenario {
        setup: SETUP,
        ready: "p7 7/",
        underlay: UNDERLAY,
        ofctl: &[],
        flows: &[],
        traces: TRACES,
        // bond/list is compared (masked) in tests/suites/47-bonds: its
        // member order is stock's hash order.
        appctl_sorted: &[],
    }
}

#[test]
fn bond_traces_match_stock() {
    if !stock_ovs_available("bond_traces_match_stock") {
        return;
    }
    let stock = run("trace-bond-stock", Path::new(STOCK_VSWITCHD), &scenario());
    let ours = run("trace-bond-ferrovs", Path::new(FERROVS), &scenario());
    // The bonds must really be in force on stock.
    assert!(
        stock
            .values()
            .any(|r| r.contains("bonding refused admissibility")),
        "stock refused nothing: {stock:#?}"
    );
    assert!(stock
        .values()
        .any(|r| r.contains("SLB bond thinks this packet looped back")));
    let failures = compare("bond traces", &stock, &ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
