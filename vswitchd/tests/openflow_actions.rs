//! OpenFlow actions and messages against stock ovs-vswitchd 3.1 (both on
//! the dummy datapath, driven by the stock tools):
//!
//! - `groups_at_openflow10_match_stock`: groups through OpenFlow 1.0's
//!   Nicira messages (NXT_GROUP_MOD, NXST_GROUP, NXST_GROUP_DESC,
//!   NXST_GROUP_FEATURES): what every `ovs-ofctl -O OpenFlow10`
//!   add/mod/del-group, insert/remove-buckets and dump command prints
//!   (errors included) must equal stock's, and so must a bucket's
//!   OpenFlow 1.0 `mod_vlan_vid` dumped at OpenFlow 1.3 (a push_vlan
//!   first) and NXST_IPFIX_BRIDGE/FLOW without an exporter. Entries are
//!   sorted (stock lists groups in hash order) and durations masked.
//! - `malformed_messages_get_stock_errors`: truncated or inconsistent
//!   NXT_GROUP_MOD, NXST_GROUP and NXST_GROUP_DESC requests, and flow_mods
//!   whose push/pop actions are malformed, sent raw on an OpenFlow 1.0
//!   connection: the OFPT_ERROR each gets (as `ovs-ofctl ofp-print`
//!   prints it) must equal stock's.
//! - `queue_and_stack_translation_match_stock`: `ofproto/trace` of
//!   `enqueue`, `set_queue`/`pop_queue` (skb_priority in the actions and
//!   the megaflow), and of `push`/`pop` (the stack across resubmits, in a
//!   clone, in the peer of a patch port, underflow, the 64 kB limit): the
//!   `Megaflow:` and `Datapath actions:` lines must equal stock's (today
//!   the whole reports do); and the flows as `ovs-ofctl dump-flows`
//!   prints them at OpenFlow 1.0, 1.3 and 1.5.
//! - `stack_continuations_match_stock`: `controller(pause)` with a data
//!   stack and a mirror, on the bridge and in the peer of a patch port,
//!   answered by `ovs-ofctl monitor BR resume`: the packet-ins and
//!   resumes (NXCPT_STACK, NXCPT_MIRRORS, the bridge that paused), the
//!   packets each port sent and the rules' counters must equal stock's.
//!
//! Needs the stock OVS tools: skips with a message otherwise, fails under
//! CI=true.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use ferrovs_tests::pcap;
use ferrovs_tests::sandbox::{ours_then_stock, text, Children, Sandbox};
use ferrovs_tests::trace_diff::{self, compare, outcome, Scenario};
use ferrovs_tests::vsctl::{add_br, add_port, one_transaction};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

/// Runs `run` (sandbox name, program) on ferrovs and on stock; None
/// when stock is missing.
fn on_both(
    test: &str,
    run: impl Fn(&str, &Path) -> BTreeMap<String, String> + Sync,
) -> Option<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let (ours, stock) = ours_then_stock(test, FERROVS, |program, who| {
        run(&format!("{test}-{who}"), program)
    })?;
    assert_eq!(stock.len(), ours.len(), "the same cases ran on both");
    Some((stock, ours))
}

fn assert_same(what: &str, stock: &BTreeMap<String, String>, ours: &BTreeMap<String, String>) {
    let failures = compare(what, stock, ours);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A sandbox running `program` with bridge br0 (dummy datapath, secure
/// fail mode) and dummy ports p1..=p3.
fn bridge_with_ports(name: &str, program: &Path) -> Sandbox {
    let sb = Sandbox::with_vswitchd(name, program, trace_diff::DUMMY_ARGS);
    let mut commands = vec![add_br(
        "br0",
        "dummy",
        &[
            "fail-mode=secure",
            "protocols=OpenFlow10,OpenFlow13,OpenFlow15",
        ],
    )];
    for p in 1..=3 {
        let ofport = format!("ofport_request={p}");
        commands.push(add_port("br0", &format!("p{p}"), &["type=dummy", &ofport]));
    }
    let cmd = one_transaction(&commands);
    sb.vsctl_ok(&cmd, "add-br");
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains("p3 3/"),
        "ports in the datapath",
    )
    .expect("ports");
    sb
}

/// `ovs-ofctl` commands (version, then arguments) on groups.
const GROUP_COMMANDS: &[&str] = &[
    "OpenFlow10 add-group br0 group_id=1,type=select,bucket=output:1,bucket=weight:5,output:2",
    "OpenFlow10 add-group br0 group_id=2,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2",
    "OpenFlow10 add-group br0 group_id=3,type=indirect,bucket=mod_vlan_vid:7,mod_nw_tos:16,enqueue:2:3",
    "OpenFlow10 add-group br0 group_id=1,type=all,bucket=output:1",
    "OpenFlow10 dump-groups br0",
    "OpenFlow10 dump-groups br0 1",
    "OpenFlow10 dump-group-stats br0",
    "OpenFlow10 dump-group-stats br0 2",
    "OpenFlow10 dump-group-features br0",
    "OpenFlow10 mod-group br0 group_id=1,type=all,bucket=output:2",
    "OpenFlow10 mod-group br0 group_id=9,type=all,bucket=output:2",
    "OpenFlow10 insert-buckets br0 group_id=1,command_bucket_id=first,bucket=bucket_id:7,output:1",
    "OpenFlow10 insert-buckets br0 group_id=1,command_bucket_id=last,bucket=bucket_id:8,output:3",
    "OpenFlow10 remove-buckets br0 group_id=1,command_bucket_id=7",
    "OpenFlow13 add-flow br0 in_port=1,actions=group:1",
    "OpenFlow10 dump-group-stats br0 1",
    "OpenFlow10 dump-groups br0",
    "OpenFlow13 dump-groups br0",
    "OpenFlow10 del-groups br0 group_id=2",
    "OpenFlow10 dump-groups br0",
    "OpenFlow10 del-groups br0",
    "OpenFlow10 dump-groups br0",
    "OpenFlow10 dump-flows br0",
    // Nicira IPFIX statistics (no exporter configured).
    "OpenFlow10 dump-ipfix-bridge br0",
    "OpenFlow13 dump-ipfix-flow br0",
];

/// Sorts the ` group_id=` entry lines (stock lists groups in hash order)
/// after the other lines, and masks durations.
fn normalize_groups(s: &str) -> String {
    let (mut entries, others): (Vec<String>, Vec<String>) = s
        .lines()
        .map(|l| match l.find("duration=") {
            Some(a) => {
                let end = l[a..].find(',').map_or(l.len(), |e| a + e);
                format!("{}duration=?{}", &l[..a], &l[end..])
            }
            None => l.to_string(),
        })
        .partition(|l| l.starts_with(" group_id="));
    entries.sort();
    [others, entries].concat().join("\n")
}

fn run_groups(name: &str, program: &Path) -> BTreeMap<String, String> {
    let sb = bridge_with_ports(name, program);
    let mut out = BTreeMap::new();
    for (i, line) in GROUP_COMMANDS.iter().enumerate() {
        let mut words = line.split(' ');
        let version = words.next().unwrap_or_default();
        let mut args = vec!["-O", version];
        args.extend(words);
        let o = sb.run("ovs-ofctl", &args);
        out.insert(
            format!("ofctl {i:02} {line}"),
            normalize_groups(&outcome(&o)),
        );
    }
    out
}

#[test]
fn groups_at_openflow10_match_stock() {
    let Some((stock, ours)) = on_both("ofgroups10", run_groups) else {
        return;
    };
    assert_same("OpenFlow 1.0 groups", &stock, &ours);
}

/// An OpenFlow 1.0 message of `ty` with body `body`, xid `xid`.
fn of10(ty: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![1, ty];
    m.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A Nicira vendor message (OFPT_VENDOR) of `subtype`.
fn nxt(subtype: u32, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut b = 0x2320u32.to_be_bytes().to_vec();
    b.extend_from_slice(&subtype.to_be_bytes());
    b.extend_from_slice(body);
    of10(4, xid, &b)
}

/// A Nicira stats request (OFPST_VENDOR) of `subtype`.
fn nxst(subtype: u32, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![0xff, 0xff, 0, 0];
    b.extend_from_slice(&0x2320u32.to_be_bytes());
    b.extend_from_slice(&subtype.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(body);
    of10(16, xid, &b)
}

/// An OpenFlow 1.0 flow_mod (add, everything wildcarded) with `actions`.
fn flow_mod10(xid: u32, actions: &[u8]) -> Vec<u8> {
    let mut b = 0x003f_ffffu32.to_be_bytes().to_vec();
    b.extend_from_slice(&[0; 36]);
    b.extend_from_slice(&[0; 8]); // cookie
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x80, 0]); // add, timeouts, priority
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    b.extend_from_slice(actions);
    of10(14, xid, &b)
}

/// A stack action (27 push, 28 pop): length `len`, then offset, field
/// header, bit count and `pad`.
fn stack_action(subtype: u16, ofs: u16, header: u32, n_bits: u16, pad: &[u8]) -> Vec<u8> {
    let mut a = vec![0xff, 0xff, 0, 0];
    a.extend_from_slice(&0x2320u32.to_be_bytes());
    a.extend_from_slice(&subtype.to_be_bytes());
    a.extend_from_slice(&ofs.to_be_bytes());
    a.extend_from_slice(&header.to_be_bytes());
    a.extend_from_slice(&n_bits.to_be_bytes());
    a.extend_from_slice(pad);
    let len = a.len() as u16;
    a[2..4].copy_from_slice(&len.to_be_bytes());
    a
}

/// NXAST_CHECK_PKT_LARGER: packet length, bit offset, the destination's
/// header, then `pad` (14 zeros make it 24 bytes long).
fn check_pkt_larger_action(pkt_len: u16, ofs: u16, header: u32, pad: &[u8]) -> Vec<u8> {
    let mut a = vec![0xff, 0xff, 0, 0];
    a.extend_from_slice(&0x2320u32.to_be_bytes());
    a.extend_from_slice(&49u16.to_be_bytes());
    a.extend_from_slice(&pkt_len.to_be_bytes());
    a.extend_from_slice(&ofs.to_be_bytes());
    a.extend_from_slice(&header.to_be_bytes());
    a.extend_from_slice(pad);
    let len = a.len() as u16;
    a[2..4].copy_from_slice(&len.to_be_bytes());
    a
}

/// NXAST_OUTPUT_REG: `ofs_nbits`, the source's header, max_len, then
/// `pad` (six zeros make it 24 bytes long).
fn output_reg_action(ofs_nbits: u16, header: u32, max_len: u16, pad: &[u8]) -> Vec<u8> {
    let mut a = vec![0xff, 0xff, 0, 0];
    a.extend_from_slice(&0x2320u32.to_be_bytes());
    a.extend_from_slice(&15u16.to_be_bytes());
    a.extend_from_slice(&ofs_nbits.to_be_bytes());
    a.extend_from_slice(&header.to_be_bytes());
    a.extend_from_slice(&max_len.to_be_bytes());
    a.extend_from_slice(pad);
    let len = a.len() as u16;
    a[2..4].copy_from_slice(&len.to_be_bytes());
    a
}

/// NXAST_OUTPUT_TRUNC: port, max_len.
fn output_trunc_action(port: u16, max_len: u32) -> Vec<u8> {
    let mut a = vec![0xff, 0xff, 0, 16];
    a.extend_from_slice(&0x2320u32.to_be_bytes());
    a.extend_from_slice(&39u16.to_be_bytes());
    a.extend_from_slice(&port.to_be_bytes());
    a.extend_from_slice(&max_len.to_be_bytes());
    a
}

const NXM_NX_REG0: u32 = 0x0001_0004;
const NXM_NX_REG0_W: u32 = 0x0001_0108;
const NXM_NX_CT_STATE: u32 = 0x0001_d204;
const NXM_OF_TCP_SRC: u32 = 0x0000_0a02;

/// The malformed messages, by name.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    // A select group 5 with one bucket of `blen` bytes claimed.
    let group_mod = |blen: u16, bucket: &[u8]| {
        let mut b = vec![0, 0, 1, 0, 0, 0, 0, 5];
        b.extend_from_slice(&blen.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0xff, 0xff, 0xff, 0xff]);
        b.extend_from_slice(bucket);
        nxt(31, 7, &b)
    };
    // A bucket: length 16, no actions, then an output action 8 bytes long.
    let bucket = [0, 24, 0, 8, 0, 0, 0, 0, 0, 0, 0, 8, 0, 2, 0, 0];
    let mut bucket_with_output = bucket.to_vec();
    bucket_with_output.extend_from_slice(&[0, 0, 0, 8, 0, 2, 0, 0]);
    vec![
        ("group_mod truncated", nxt(31, 1, &[0, 0, 1, 0])),
        (
            "group_mod bucket overruns",
            group_mod(64, &bucket_with_output),
        ),
        ("group_mod bad bucket length", {
            let mut b = bucket_with_output.clone();
            b[1] = 20;
            group_mod(24, &b)
        }),
        ("group stats short", nxst(7, 2, &[0, 0, 0, 1])),
        (
            "group desc long",
            nxst(8, 3, &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        ),
        (
            "push zero bits",
            flow_mod10(4, &stack_action(27, 0, NXM_NX_REG0, 0, &[0; 6])),
        ),
        (
            "push beyond the field",
            flow_mod10(4, &stack_action(27, 16, NXM_NX_REG0, 17, &[0; 6])),
        ),
        (
            "push nonzero padding",
            flow_mod10(4, &stack_action(27, 0, NXM_NX_REG0, 8, &[0, 0, 0, 0, 0, 1])),
        ),
        (
            "push masked field",
            flow_mod10(4, &stack_action(27, 0, NXM_NX_REG0_W, 8, &[0; 6])),
        ),
        (
            "push unknown field",
            flow_mod10(4, &stack_action(27, 0, 0x0001_fe04, 8, &[0; 6])),
        ),
        (
            "pop read-only field",
            flow_mod10(4, &stack_action(28, 0, NXM_NX_CT_STATE, 8, &[0; 6])),
        ),
        (
            "push without prerequisites",
            flow_mod10(4, &stack_action(27, 0, NXM_OF_TCP_SRC, 16, &[0; 6])),
        ),
        (
            "pop without prerequisites",
            flow_mod10(4, &stack_action(28, 0, NXM_OF_TCP_SRC, 16, &[0; 6])),
        ),
        (
            "pop too long",
            flow_mod10(4, &stack_action(28, 0, NXM_NX_REG0, 8, &[0; 14])),
        ),
        (
            "output_reg nonzero padding",
            flow_mod10(
                4,
                &output_reg_action(0x000f, NXM_NX_REG0, 0, &[0, 0, 0, 0, 0, 1]),
            ),
        ),
        (
            "output_reg unknown field",
            flow_mod10(4, &output_reg_action(0x000f, 0x0001_fe04, 0, &[0; 6])),
        ),
        (
            "output_reg beyond the field",
            flow_mod10(4, &output_reg_action(30 << 6 | 15, NXM_NX_REG0, 0, &[0; 6])),
        ),
        (
            "output_trunc short max_len",
            flow_mod10(4, &output_trunc_action(2, 13)),
        ),
        (
            "output_trunc beyond the ports",
            flow_mod10(4, &output_trunc_action(0xff01, 100)),
        ),
        (
            "check_pkt_larger short",
            flow_mod10(4, &check_pkt_larger_action(100, 0, NXM_NX_REG0, &[0; 2])),
        ),
        (
            "check_pkt_larger masked field",
            flow_mod10(4, &check_pkt_larger_action(100, 0, NXM_NX_REG0_W, &[0; 6])),
        ),
        (
            "check_pkt_larger unknown field",
            flow_mod10(4, &check_pkt_larger_action(100, 0, 0x0001_fe04, &[0; 6])),
        ),
        (
            "check_pkt_larger beyond the field",
            flow_mod10(4, &check_pkt_larger_action(100, 32, NXM_NX_REG0, &[0; 6])),
        ),
        (
            "check_pkt_larger nonzero padding",
            flow_mod10(
                4,
                &check_pkt_larger_action(100, 0, NXM_NX_REG0, &[0, 0, 0, 0, 0, 1]),
            ),
        ),
        (
            "check_pkt_larger read-only field",
            flow_mod10(
                4,
                &check_pkt_larger_action(100, 0, NXM_NX_CT_STATE, &[0; 6]),
            ),
        ),
    ]
}

/// Sends `msg` on a fresh OpenFlow 1.0 connection to br0, then a
/// barrier; every message that came back before the barrier reply, as
/// hex.
fn exchange(sb: &Sandbox, msg: &[u8]) -> Vec<String> {
    let mut s = UnixStream::connect(sb.dir.join("br0.mgmt")).expect("connect br0.mgmt");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&of10(0, 1, &[])).expect("hello");
    s.write_all(msg).expect("message");
    s.write_all(&of10(18, 0xbbbb, &[])).expect("barrier");
    let mut got = Vec::new();
    loop {
        let mut h = [0u8; 8];
        if s.read_exact(&mut h).is_err() {
            got.push("(connection closed)".to_string());
            break;
        }
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(8)];
        if s.read_exact(&mut body).is_err() {
            got.push("(truncated)".to_string());
            break;
        }
        match h[1] {
            0 => continue,
            19 => break,
            _ => {}
        }
        let hex: String = h.iter().chain(&body).map(|b| format!("{b:02x}")).collect();
        got.push(hex);
    }
    got
}

fn run_malformed(name: &str, program: &Path) -> BTreeMap<String, String> {
    let sb = bridge_with_ports(name, program);
    let mut out = BTreeMap::new();
    for (what, msg) in malformed() {
        let replies: Vec<String> = exchange(&sb, &msg)
            .iter()
            .map(|hex| {
                if hex.starts_with('(') {
                    return hex.clone();
                }
                outcome(&sb.run("ovs-ofctl", &["ofp-print", hex]))
            })
            .collect();
        out.insert(format!("ofctl {what}"), replies.join("\n"));
    }
    out
}

#[test]
fn malformed_messages_get_stock_errors() {
    let Some((stock, ours)) = on_both("ofmalformed", run_malformed) else {
        return;
    };
    // Every malformed message was refused.
    for (case, s) in &stock {
        assert!(s.contains("OFPT_ERROR"), "stock accepted {case}: {s}");
    }
    assert_same("malformed messages", &stock, &ours);
}

/// Bridges br0 (p1..p3 and patch port pa, 10) and br1 (patch port pb,
/// 20, and p4).
const TWO_BRIDGES: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 p3 -- set interface p3 type=dummy ofport_request=3",
    "add-br br1 -- set bridge br1 datapath_type=dummy fail-mode=secure",
    "add-port br0 pa -- set interface pa type=patch options:peer=pb ofport_request=10",
    "add-port br1 pb -- set interface pb type=patch options:peer=pa ofport_request=20",
    "add-port br1 p4 -- set interface p4 type=dummy ofport_request=4",
];

const QUEUE_STACK_FLOWS: &str = "
table=0,priority=1,in_port=1,icmp,actions=enqueue:2:5
table=0,priority=1,in_port=2,icmp,actions=set_queue:3,output:1
table=0,priority=1,in_port=3,icmp,actions=enqueue:2:7,output:1,set_queue:4,output:2,pop_queue,output:1
table=0,priority=1,in_port=1,udp,actions=enqueue:in_port:5,enqueue:1:3,enqueue:10:2
table=0,priority=1,in_port=2,udp,actions=set_queue:8,resubmit(,2)
table=2,actions=output:3,pop_queue,output:1
table=0,priority=2,in_port=1,tcp,actions=push:NXM_OF_IP_SRC[],push:NXM_NX_REG0[0..7],resubmit(,1),pop:NXM_OF_IP_DST[],output:2
table=1,tcp,actions=pop:NXM_NX_REG1[8..15],push:NXM_OF_TCP_SRC[],load:0x7->NXM_NX_REG2[],output:2
table=0,priority=2,in_port=2,tcp,actions=pop:NXM_NX_REG0[],output:1
table=0,priority=2,in_port=3,tcp,actions=push:NXM_OF_ETH_SRC[],clone(pop:NXM_OF_ETH_DST[],output:1),pop:NXM_NX_XXREG3[0..47],move:NXM_NX_XXREG3[0..31]->NXM_OF_IP_DST[],output:2
table=0,priority=3,in_port=3,tcp,tp_dst=80,actions=push:NXM_OF_TCP_DST[],output:10,pop:NXM_OF_TCP_SRC[],output:2
table=0,priority=2,in_port=3,udp,actions=push:NXM_NX_REG0[],set_queue:9,output:10
table=0,priority=2,in_port=1,arp,actions=resubmit(,5)";

const QUEUE_STACK_TRACES: &[(&str, &str)] = &[
    ("br0", "in_port=1,icmp"),
    ("br0", "in_port=2,icmp"),
    ("br0", "in_port=3,icmp"),
    ("br0", "in_port=1,udp"),
    ("br0", "in_port=2,udp"),
    ("br0", "skb_priority=7,in_port=2,icmp"),
    ("br0", "skb_priority=7,in_port=2,udp"),
    ("br0", "in_port=1,tcp,nw_src=1.2.3.4,tp_src=80,reg0=0x55"),
    ("br0", "in_port=2,tcp"),
    ("br0", "in_port=3,tcp,dl_src=00:11:22:33:44:55"),
    ("br0", "in_port=3,tcp,tp_dst=80"),
    ("br0", "in_port=3,udp"),
    ("br0", "in_port=1,arp"),
];

#[test]
fn queue_and_stack_translation_match_stock() {
    // Table 5 pushes 62 times 17 bytes per resubmit: past 64 kB of
    // stack before the depth limit.
    let pushes = vec!["push:NXM_NX_XXREG0[]"; 62].join(",");
    let deep = format!("table=5,actions={pushes},resubmit(,5)");
    let br0 = format!("{QUEUE_STACK_FLOWS}\n{deep}");
    let flows = [
        ("br0", br0.trim()),
        (
            "br1",
            "in_port=20,tcp,actions=pop:NXM_NX_REG0[],push:NXM_OF_TCP_DST[],pop:NXM_OF_TCP_SRC[],output:4
             in_port=20,udp,actions=enqueue:4:6",
        ),
    ];
    let sc = Scenario {
        setup: TWO_BRIDGES,
        ready: "p4 4/",
        underlay: &[],
        ofctl: &[],
        flows: &flows,
        traces: QUEUE_STACK_TRACES,
        appctl_sorted: &[],
    };
    let Some((stock, ours)) = on_both("ofqueuestack", |name, program| {
        let sb = Sandbox::with_vswitchd(name, program, trace_diff::DUMMY_ARGS);
        let mut out = trace_diff::run_in(&sb, &sc);
        // The actions as each version encodes them, as ovs-ofctl prints
        // them (OpenFlow 1.0's enqueue is set_queue, output, pop_queue
        // later).
        for version in ["OpenFlow10", "OpenFlow13", "OpenFlow15"] {
            for br in ["br0", "br1"] {
                let o = sb.run(
                    "ovs-ofctl",
                    &["-O", version, "dump-flows", br, "--no-stats"],
                );
                let mut lines: Vec<String> = outcome(&o).lines().map(str::to_string).collect();
                lines.sort();
                out.insert(format!("ofctl {version} dump-flows {br}"), lines.join("\n"));
            }
        }
        out
    }) else {
        return;
    };
    assert_same("queue and stack traces", &stock, &ours);
}

/// Starts `ovs-ofctl -O OpenFlow13 monitor BRIDGE resume` printing to
/// `<bridge>-monitor.txt`, with a control socket `<bridge>-monitor.ctl`.
fn monitor(sb: &Sandbox, bridge: &str) -> Child {
    let out =
        std::fs::File::create(sb.dir.join(format!("{bridge}-monitor.txt"))).expect("monitor file");
    let ctl = sb.dir.join(format!("{bridge}-monitor.ctl"));
    sb.command("ovs-ofctl")
        .args(["-O", "OpenFlow13", "monitor", bridge, "resume"])
        .arg(format!("--unixctl={}", ctl.display()))
        .stdout(Stdio::null())
        // The monitor prints what it receives and sends on stderr.
        .stderr(out)
        .spawn()
        .expect("ovs-ofctl monitor")
}

const PAUSE_FLOWS: &[(&str, &str)] = &[
    (
        "br0",
        "in_port=1,icmp,actions=load:0x1234->NXM_NX_REG0[],push:NXM_NX_REG0[],push:NXM_NX_REG0[0..3],controller(pause),pop:NXM_NX_REG1[],push:NXM_OF_ETH_SRC[],controller(pause,userdata=01.02),pop:NXM_OF_ETH_DST[],pop:NXM_NX_REG2[],output:2
         in_port=1,udp,actions=push:NXM_OF_IP_SRC[],output:10,pop:NXM_NX_REG5[],output:2",
    ),
    (
        "br1",
        "in_port=20,udp,actions=push:NXM_OF_UDP_DST[],controller(pause),pop:NXM_OF_UDP_SRC[],output:4",
    ),
];

const PACKETS: &[&str] = &[
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),ipv4(src=192.168.0.1,dst=192.168.0.2,proto=1,tos=0,ttl=128,frag=no),icmp(type=8,code=0)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),ipv4(src=192.168.0.1,dst=192.168.0.2,proto=17,tos=0,ttl=128,frag=no),udp(src=1000,dst=2000)",
];

fn run_pauses(name: &str, program: &Path) -> BTreeMap<String, String> {
    let sb = Sandbox::with_vswitchd(name, program, trace_diff::DUMMY_ARGS);
    for line in TWO_BRIDGES {
        let args: Vec<&str> = line.split(' ').collect();
        sb.vsctl_ok(&args, line);
    }
    for p in ["p2", "p3", "p4"] {
        let pcap = format!(
            "options:tx_pcap={}",
            sb.dir.join(format!("{p}.pcap")).display()
        );
        sb.vsctl_ok(&["set", "interface", p, &pcap], "tx_pcap");
    }
    sb.vsctl_ok(
        &[
            "--",
            "--id=@p3",
            "get",
            "port",
            "p3",
            "--",
            "--id=@m",
            "create",
            "mirror",
            "name=m0",
            "select-all=true",
            "output-port=@p3",
            "--",
            "set",
            "bridge",
            "br0",
            "mirrors=@m",
        ],
        "mirror",
    );
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains("p4 4/"),
        "ports in the datapath",
    )
    .expect("ports");
    for (br, flows) in PAUSE_FLOWS {
        let file = sb.dir.join(format!("{br}.flows"));
        let body: String = flows.lines().map(|l| l.trim().to_string() + "\n").collect();
        std::fs::write(&file, body).expect("flows file");
        let f = file.display().to_string();
        sb.succeeded(sb.run("ovs-ofctl", &["add-flows", br, &f]), "add-flows");
    }
    let monitors = Children(vec![monitor(&sb, "br0"), monitor(&sb, "br1")]);
    // A barrier answered through each monitor: it is connected and its
    // set-up (packet-in format, resume) is done.
    for br in ["br0", "br1"] {
        let ctl = sb.dir.join(format!("{br}-monitor.ctl"));
        let ctl = ctl.display().to_string();
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
    for p in PACKETS {
        sb.succeeded(sb.appctl(&["netdev-dummy/receive", "p1", p]), "receive");
    }
    let frames = |p: &str| pcap::frames_hex(&sb.dir.join(format!("{p}.pcap")));
    sb.wait_for(
        || frames("p2").lines().count() > 2 && frames("p4").lines().count() > 1,
        "resumed packets on p2 and p4",
    )
    .expect("resumed packets");
    // The mirrored copies, and the rules' counters (credited from the
    // datapath flows); the monitors have printed everything.
    sb.wait_for(|| frames("p3").lines().count() > 2, "mirrored packets")
        .expect("mirrored packets");
    sb.succeeded(sb.appctl(&["revalidator/wait"]), "revalidator/wait");
    for br in ["br0", "br1"] {
        let ctl = sb.dir.join(format!("{br}-monitor.ctl"));
        let ctl = ctl.display().to_string();
        sb.succeeded(
            sb.run("ovs-appctl", &["-t", &ctl, "ofctl/barrier"]),
            "barrier",
        );
    }
    drop(monitors);
    let mut out = BTreeMap::new();
    for br in ["br0", "br1"] {
        let mon =
            std::fs::read_to_string(sb.dir.join(format!("{br}-monitor.txt"))).unwrap_or_default();
        // The bridge uuid and log times differ from run to run.
        let mon: Vec<String> = mon
            .lines()
            .filter(|l| !l.contains("|fatal_signal|"))
            .map(|l| match l.strip_prefix(" continuation.bridge=") {
                Some(_) => " continuation.bridge=UUID".to_string(),
                None => l.to_string(),
            })
            .collect();
        out.insert(format!("ofctl monitor {br}"), mon.join("\n"));
        let flows = sb.run("ovs-ofctl", &["dump-flows", br, "--no-stats"]);
        out.insert(format!("ofctl dump-flows {br}"), outcome(&flows));
        let stats = text(&sb.run("ovs-ofctl", &["dump-flows", br]).stdout);
        let counts: Vec<String> = stats
            .lines()
            .filter_map(|l| {
                let a = l.find("n_packets=")?;
                let m = l.find(" actions=")?;
                let matched = l[..m].rsplit(' ').next()?;
                Some(format!("{} {matched}", l[a..].split(',').next()?))
            })
            .collect();
        out.insert(format!("ofctl counts {br}"), counts.join("\n"));
    }
    // Sorted: the paused packet and the other one race to the ports.
    for p in ["p2", "p3", "p4"] {
        let mut lines: Vec<String> = frames(p).lines().map(str::to_string).collect();
        lines.sort();
        out.insert(format!("ofctl frames {p}"), lines.join("\n"));
    }
    out
}

#[test]
fn stack_continuations_match_stock() {
    let Some((stock, ours)) = on_both("ofpausestack", run_pauses) else {
        return;
    };
    // The pauses happened: both bridges' monitors saw a continuation
    // with a stack.
    for br in ["br0", "br1"] {
        let mon = &stock[&format!("ofctl monitor {br}")];
        assert!(mon.contains("continuation.stack="), "stock {br}: {mon}");
    }
    assert_same("paused pipelines with a stack", &stock, &ours);
}
