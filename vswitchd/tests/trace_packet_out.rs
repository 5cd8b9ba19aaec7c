//! `ovs-appctl ofproto/trace-packet-out` against stock ovs-vswitchd
//! 3.1: the same bridge (the trace corpus's: dummy ports 1-4), the same
//! flows and groups, then packet-out traces whose whole reports (or
//! errors) must be stock's: outputs, rewrites, resubmit into tables,
//! conntrack (the recirculation's trace follows), clone, check_pkt_larger,
//! a group, stock's refusals (an instruction, an unknown action, a missing
//! group, `-consistent` with a field the flow lacks) and its quirk that an
//! empty action list looks the tables up.
//!
//! One difference is deliberate: stock traces a packet-out's conntrack
//! fork with the packet-out's actions still given, and so reports
//! "Recirculation conflict (actions)!" for it instead of the resumed
//! pipeline; ferrovs traces the fork as a recirculated packet would go.
//! That case compares the report up to the fork.

use std::collections::BTreeMap;
use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, Sandbox, STOCK_VSWITCHD};
use ferrovs_tests::trace_diff::exit_and_output;

mod trace_corpus;

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

const FLOWS: &str = "table=1,ip,actions=mod_nw_tos:4,output:2
table=1,priority=0,actions=output:4
table=2,reg2=0x500/0xff00,actions=output:3
table=2,ct_state=+trk,actions=output:4
table=2,priority=0,actions=drop
";

const GROUP: &str = "group_id=1,type=all,bucket=output:2,bucket=output:3";

/// Each case: the arguments after `ofproto/trace-packet-out`.
const CASES: &[&[&str]] = &[
    &["br0", "in_port=1,ip,nw_src=1.1.1.1", "output:2,resubmit(,1)"],
    &[
        "br0",
        "in_port=1,ip",
        "mod_dl_src:00:00:00:00:00:01,output:3,ct(commit),controller",
    ],
    &["br0", "in_port=1,ip", "goto_table:1"],
    &["br0", "in_port=1,ip", "bogus"],
    &["br0", "in_port=9,ip", "output:2"],
    &["-consistent", "br0", "in_port=1,ip", "mod_nw_src:1.2.3.4"],
    &["-consistent", "br0", "in_port=1,arp", "mod_nw_src:1.2.3.4"],
    &["br0", "in_port=1,arp", "mod_nw_src:1.2.3.4,output:2"],
    &["br0", "in_port=1,arp", "output:99"],
    &["br0", "in_port=1,arp", "group:5"],
    &["br0", "in_port=1,udp", "group:1"],
    &[
        "ovs-dummy",
        "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)",
        "output:2",
    ],
    &["br0", "in_port=1,tcp,nw_src=1.1.1.1", "-generate", "output:2"],
    &["br0", "in_port=1", "drop"],
    &["br0", "in_port=1", ""],
    &[
        "br0",
        "in_port=1,ip",
        "check_pkt_larger(100)->NXM_NX_REG0[0],resubmit(,1)",
    ],
    &["br0", "in_port=1,ip", "clone(mod_nw_dst:9.9.9.9,output:2),output:3"],
    &[
        "br0",
        "in_port=1,udp",
        "set_field:10.0.0.9->ip_dst,load:0x5->NXM_NX_REG1[0..7],move:NXM_NX_REG1[0..7]->NXM_NX_REG2[8..15],resubmit(,2)",
    ],
    &["br0", "in_port=1,udp", "ct(commit,zone=5,table=2)"],
    &["br0", "in_port=LOCAL,udp", "in_port,output:1"],
    &["br0", "in_port=2,udp", "enqueue:1:3,set_queue:2,output:3"],
    &["br0", "in_port=2,udp", "dec_ttl,output:3"],
    &["br0", "in_port=2,ip,nw_ttl=1", "dec_ttl,output:3"],
];

fn run(name: &str, program: &Path) -> BTreeMap<String, String> {
    let mut sb: Sandbox = trace_corpus::start(name, program);
    sb.add_flows("br0", "OpenFlow10", FLOWS);
    sb.succeeded(
        sb.run(
            "ovs-ofctl",
            &["-O", "OpenFlow13", "add-group", "br0", GROUP],
        ),
        "add-group",
    );
    let mut out = BTreeMap::new();
    for (i, case) in CASES.iter().enumerate() {
        let mut args = vec!["ofproto/trace-packet-out"];
        args.extend_from_slice(case);
        let report = trace_corpus::normalize(&exit_and_output(&sb.appctl(&args)));
        out.insert(format!("{i:02} {}", case.join(" ")), report);
    }
    sb.stop_vswitchd();
    out
}

#[test]
fn trace_packet_out_matches_stock() {
    if !stock_ovs_available("trace_packet_out_matches_stock") {
        return;
    }
    let stock = run("tpo-stock", Path::new(STOCK_VSWITCHD));
    let ours = run("tpo-ferrovs", Path::new(FERROVS));
    // Stock traced most cases (and refused the others).
    let traced = stock
        .values()
        .filter(|r| r.contains("Datapath actions: "))
        .count();
    assert!(
        traced >= CASES.len() - 6,
        "stock traced {traced}: {stock:#?}"
    );
    let mut failures = Vec::new();
    for (case, s) in &stock {
        let o = &ours[case];
        if case.contains("ct(commit,zone=5,table=2)") {
            let before_fork = |r: &str| r.split("=====").next().unwrap_or("").to_string();
            assert!(
                s.contains("Recirculation conflict (actions)!"),
                "stock:\n{s}"
            );
            assert!(o.contains("Resuming from table 2"), "ferrovs:\n{o}");
            if before_fork(o) != before_fork(s) {
                failures.push(format!("== {case}\n-- stock:\n{s}\n-- ferrovs:\n{o}"));
            }
            continue;
        }
        if o != s {
            failures.push(format!("== {case}\n-- stock:\n{s}\n-- ferrovs:\n{o}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
