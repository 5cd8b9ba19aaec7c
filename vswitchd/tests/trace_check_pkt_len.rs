//! `check_pkt_larger` (what OVN emits for a gateway router port's
//! `gateway_mtu`), against stock ovs-vswitchd 3.1:
//!
//! 1. `ofproto/trace` of pipelines where the check is followed by the
//!    rest of its rule's actions, by a rule's other instructions (write
//!    actions, goto-table), by more checks, by conntrack (a freeze in
//!    each branch), sits in a clone or in a table reached by resubmit
//!    (actions after the resubmit run after the `check_pkt_len`), and
//!    comes after a rewrite (committed before it). Most are compared in
//!    full (pipeline names ending in `-whole`), the rest by megaflow and
//!    datapath actions.
//! 2. Frames of 60, 200 and 1000 bytes through the userspace datapath:
//!    the same frames must leave on the same ports, and the datapath
//!    flows must be the same.
//!
//! The kernel datapath's side is in `tests/vm/vswitchd/kernel-traffic`.

use std::collections::BTreeMap;
use std::path::Path;

use ferrovs_tests::pcap;
use ferrovs_tests::sandbox::{stock_ovs_available, STOCK_VSWITCHD};

mod trace_corpus;
use trace_corpus::{compare, Pipeline};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

const CORPUS: &[Pipeline] = &[
    Pipeline {
        name: "rest-of-rule-whole",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,ip,actions=check_pkt_larger(200)->NXM_NX_REG0[0],resubmit(,1),output:3
                table=1,reg0=0x1/0x1,actions=mod_nw_tos:4,output:2
                table=1,reg0=0/0x1,actions=output:4",
        traces: &[
            "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2",
            "in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=8",
        ],
    },
    Pipeline {
        name: "after-resubmit-whole",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=mod_dl_src:00:00:00:00:00:0a,resubmit(,1),output:3
                table=1,actions=check_pkt_larger(1500)->NXM_NX_REG1[5],resubmit(,2),output:4
                table=2,reg1=0x20/0x20,actions=output:2
                table=2,priority=0,actions=drop",
        traces: &["in_port=1", "in_port=1,tcp,tp_dst=80"],
    },
    Pipeline {
        name: "instructions-whole",
        version: "OpenFlow13",
        flows: "table=0,in_port=1,actions=check_pkt_larger(100)->NXM_NX_REG2[0],write_actions(output:4),goto_table:1
                table=0,in_port=2,actions=write_actions(output:4),goto_table:2
                table=1,reg2=1,actions=output:2
                table=1,priority=0,actions=output:3
                table=2,actions=check_pkt_larger(100)->NXM_NX_REG2[0],resubmit(,1)",
        traces: &["in_port=1,ip", "in_port=2,ip"],
    },
    Pipeline {
        name: "nested-whole",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=check_pkt_larger(100)->NXM_NX_REG0[0],check_pkt_larger(1000)->NXM_NX_REG0[1],resubmit(,1)
                table=1,reg0=3,actions=output:2
                table=1,reg0=1,actions=output:3
                table=1,priority=0,actions=output:4",
        traces: &["in_port=1,ip", "in_port=1"],
    },
    Pipeline {
        name: "clone-whole",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=clone(check_pkt_larger(300)->NXM_NX_REG0[1],resubmit(,1)),output:4
                table=1,reg0=0x2/0x2,actions=output:2
                table=1,priority=0,actions=mod_dl_dst:00:00:00:00:00:0b,output:3",
        traces: &["in_port=1", "in_port=1,dl_dst=00:00:00:00:00:0c"],
    },
    Pipeline {
        name: "rewrite-first-whole",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,ip,actions=mod_nw_dst:10.0.0.9,check_pkt_larger(64)->NXM_NX_REG0[0],resubmit(,1)
                table=1,reg0=1,actions=mod_nw_src:10.1.1.1,output:2
                table=1,priority=0,actions=output:3",
        traces: &["in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2"],
    },
    Pipeline {
        name: "conntrack",
        version: "OpenFlow13",
        flows: "table=0,in_port=1,ip,actions=check_pkt_larger(500)->NXM_NX_REG0[0],ct(table=1,zone=5)
                table=1,reg0=1,actions=output:2
                table=1,priority=0,actions=output:3",
        traces: &["in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80"],
    },
];

/// Cases where ferrovs is known to differ, with the reason.
const KNOWN_GAPS: &[(&str, &str)] = &[];

fn run(name: &str, program: &Path) -> BTreeMap<String, String> {
    let mut sb = trace_corpus::start(name, program);
    let results = trace_corpus::run_all(&sb, CORPUS);
    sb.stop_vswitchd();
    results
}

#[test]
fn check_pkt_larger_traces_like_stock() {
    let test = "check_pkt_larger_traces_like_stock";
    let n_cases: usize = CORPUS.iter().map(|p| p.traces.len()).sum();
    let ferrovs = Path::new(FERROVS);
    let Some((stock, ours)) = trace_corpus::on_both(test, "cpl", ferrovs, n_cases, run) else {
        return;
    };
    // Stock really translates the cases, into check_pkt_len.
    let missing: Vec<&String> = stock
        .iter()
        .filter(|(_, r)| !r.contains("Datapath actions: ") || !r.contains("check_pkt_len(size="))
        .map(|(c, _)| c)
        .collect();
    assert!(missing.is_empty(), "stock did not translate: {missing:?}");
    let (full, lines, failures) = compare(&stock, &ours, KNOWN_GAPS);
    eprintln!(
        "ofproto/trace (check_pkt_larger): {n_cases} cases, {lines} with the same megaflow and datapath actions, {full} identical in full"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The flows of the datapath test: frames over 200 bytes leave on p2
/// with their DSCP rewritten, the others on p3.
const DATAPATH_FLOWS: &str =
    "table=0,in_port=1,ip,actions=check_pkt_larger(200)->NXM_NX_REG0[0],resubmit(,1)
table=1,reg0=0x1/0x1,actions=mod_nw_tos:4,output:2
table=1,reg0=0/0x1,actions=output:3
";

/// One UDP flow; frames of these lengths (the last one exactly at the
/// limit: not larger).
const FLOW: &str = "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1000,dst=2000)";
const LENGTHS: &[&str] = &["60", "1000", "200"];

/// Sends the frames (twice: a miss, then the megaflow) through a
/// daemon's userspace datapath; the frames sent on p2 and p3 and the
/// datapath flows (counters left out), as text.
fn run_datapath(name: &str, program: &Path) -> String {
    let mut sb = trace_corpus::start(name, program);
    for p in ["p2", "p3"] {
        let opt = format!("options:tx_pcap={p}.pcap");
        sb.vsctl_ok(&["set", "interface", p, &opt], "tx_pcap");
    }
    sb.add_flows("br0", "OpenFlow10", DATAPATH_FLOWS);
    let frames_out = || -> usize {
        ["p2", "p3"]
            .iter()
            .map(|p| pcap::frame_count(&sb.dir.join(format!("{p}.pcap"))))
            .sum()
    };
    for round in 0..2 {
        for (i, len) in LENGTHS.iter().enumerate() {
            sb.succeeded(
                sb.appctl(&["netdev-dummy/receive", "p1", FLOW, "--len", len]),
                "netdev-dummy/receive",
            );
            // One at a time: the first of a round may be a miss.
            let want = round * LENGTHS.len() + i + 1;
            sb.wait_for(|| frames_out() >= want, "the frame sent")
                .expect("frames");
        }
    }
    let mut report = String::new();
    for p in ["p2", "p3"] {
        let frames = pcap::frames_hex(&sb.dir.join(format!("{p}.pcap")));
        report.push_str(&format!("{p}:\n{frames}\n"));
    }
    report.push_str(&trace_corpus::datapath_flows(&sb));
    sb.stop_vswitchd();
    report
}

#[test]
fn check_pkt_larger_runs_in_the_userspace_datapath_like_stock() {
    if !stock_ovs_available("check_pkt_larger_runs_in_the_userspace_datapath_like_stock") {
        return;
    }
    let stock = run_datapath("cpldp-stock", Path::new(STOCK_VSWITCHD));
    let ours = run_datapath("cpldp-ferrovs", Path::new(FERROVS));
    // What stock does: one flow, both branches in it, and the large
    // frame (DSCP rewritten: TOS byte 0x04) on p2.
    assert!(
        stock.contains("check_pkt_len(size=200,gt(set(ipv4(tos=0x4/0xfc)),2),le(3))"),
        "stock:\n{stock}"
    );
    assert_eq!(stock, ours, "stock (left) and ferrovs (right) differ");
}
