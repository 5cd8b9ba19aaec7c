//! Differential test of `ovs-appctl` answers: one set-up (ovs-vsctl and
//! ovs-ofctl) and one list of ovs-appctl commands, run against stock
//! ovs-vswitchd and against ferrovs-vswitchd, each on its own sandbox
//! (stock ovsdb-server, dummy datapath). What ovs-appctl prints (standard
//! output, standard error, exit code) must be the same after
//! normalizing what changes from run to run (durations; every number of
//! the commands marked volatile).
//!
//! It also compares the command lists: stock's `list-commands` and
//! `dpctl/list-commands` must equal ferrovs's, except for the commands
//! named in `LEFT_OUT` (why each is left out: docs/design-notes.md) and
//! ferrovs's own extras.

use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// ovs-vsctl command lines: a plain bridge with two ports, and a bridge
/// with an out-of-band controller in secure fail mode (no in-band rules,
/// no default NORMAL flow, no fail-open rule).
const VSCTL: &[&str] = &[
    "add-br br0 \
     -- set bridge br0 datapath_type=dummy \
     -- add-port br0 p1 \
     -- set interface p1 type=dummy ofport_request=1 \
     -- add-port br0 p2 \
     -- set interface p2 type=dummy ofport_request=2",
    "add-br br1 \
     -- set bridge br1 datapath_type=dummy fail-mode=secure \
     -- set-controller br1 tcp:127.0.0.1:6653 \
     -- set controller br1 connection-mode=out-of-band",
];

/// Tunnel ports for `ofproto/list-tunnels`, one per kind of match, in
/// one ovs-vsctl call each; the last repeats the first's match, which
/// stock refuses (so its ovs-vsctl fails and its status is not checked).
const TUNNELS: &[&str] = &[
    "vx1 type=vxlan options:remote_ip=10.0.0.1",
    "gnv1 type=geneve options:remote_ip=10.0.0.2 options:key=0x55 options:ttl=inherit \
     options:tos=0x10 options:csum=true options:df_default=false",
    "gre1 type=gre options:remote_ip=flow options:local_ip=flow options:in_key=flow \
     options:out_key=7",
    "gre2 type=gre options:remote_ip=fe80::1 options:local_ip=fe80::2 options:key=9 \
     options:ttl=300",
    "vx2 type=vxlan options:remote_ip=flow options:local_ip=10.1.1.1 options:packet_type=ptap",
    "vx3 type=vxlan options:remote_ip=10.0.0.1",
];

/// Flows for br0, added in this order: the listing order of
/// bridge/dump-flows follows the classifier (subtables by highest
/// priority, then rules in the order they were added).
const FLOWS: &str = "\
actions=drop
priority=5,in_port=1,actions=output:2
table=3,priority=7,ip,nw_src=10.0.0.0/8,actions=resubmit(,4)
table=3,cookie=0x5,tcp,tp_dst=80,actions=controller
table=3,priority=7,ip,nw_src=11.0.0.0/8,actions=drop
table=3,priority=9,ip,nw_src=12.0.0.0/8,actions=drop
table=3,priority=8,ip,nw_src=13.0.0.0/8,actions=drop
table=5,priority=8,udp,actions=drop
table=5,priority=8,tcp,actions=drop
table=5,priority=8,tcp,tp_src=1,actions=drop
table=7,priority=3,in_port=2,dl_vlan=5,actions=mod_vlan_vid:6,output:1
";

/// ovs-ofctl commands after FLOWS: a rule replaced (it moves to the end
/// of its subtable) and one deleted.
const OFCTL: &[&[&str]] = &[
    &[
        "add-flow",
        "br0",
        "table=3,priority=7,ip,nw_src=10.0.0.0/8,actions=drop",
    ],
    &["del-flows", "br0", "table=3,ip,nw_src=11.0.0.0/8"],
    &["add-flow", "br1", "table=2,priority=100,arp,actions=NORMAL"],
];

/// ovs-appctl commands; a leading `~` marks one whose numbers vary from
/// run to run (they are all masked).
const APPCTL: &[&str] = &[
    "bridge/dump-flows br0",
    "bridge/dump-flows --offload-stats br0",
    "bridge/dump-flows --whatever br1",
    "bridge/dump-flows nobr",
    "bridge/dump-flows br0 nobr",
    "ofproto/list-tunnels",
    "bond/list",
    "bond/show",
    "bond/show bond0",
    "bond/migrate bond0 1 p1",
    "bond/set-active-member bond0 p1",
    "bond/enable-member bond0 p1",
    "bond/disable-member bond0 p1",
    "bond/set-active-slave bond0 p1",
    "bond/enable-slave bond0 p1",
    "bond/disable-slave bond0 p1",
    "revalidator/pause",
    "revalidator/resume",
    "bond/hash 00:11:22:33:44:55",
    "bond/hash 00:11:22:33:44:55 5 7",
    "bond/hash 0a:0b:0c:0d:0e:0f 4095 4294967295",
    "bond/hash 1:2:3:4:5:6 -1",
    "bond/hash xx",
    "bond/hash 00:11:22:33:44:55 v",
    "bond/hash 00:11:22:33:44:55 1 b",
    "lacp/show",
    "lacp/show bond0",
    "lacp/show-stats",
    "lacp/show-stats bond0",
    "stp/show",
    "stp/show br0",
    "stp/tcn",
    "stp/tcn nobr",
    "rstp/show",
    "rstp/show br0",
    "rstp/tcn",
    "rstp/tcn br0",
    "cfm/show",
    "cfm/show p1",
    "cfm/set-fault true",
    "cfm/set-fault p1 normal",
    "cfm/set-fault p1 bogus",
    "bfd/show",
    "bfd/show p1",
    "bfd/set-forwarding FALSE",
    "bfd/set-forwarding p1 true",
    "bfd/set-forwarding p1 maybe",
    "autoattach/status",
    "autoattach/status br0",
    "autoattach/show-isid br0",
    "autoattach/statistics",
    "mdb/show br0",
    "mdb/show nobr",
    "mdb/flush",
    "mdb/flush br0",
    "mdb/flush nobr",
    "qos/show p1",
    "qos/show br0",
    "qos/show nope",
    "qos/show-types p2",
    "qos/show-types nope",
    "dpif-netdev/bond-show",
    "dpif-netdev/bond-show ovs-dummy",
    "dpif-netdev/bond-show nodp",
    "~memory/show",
    "memory/show",
    "~coverage/read-counter bridge_reconfigure",
    "~coverage/read-counter unixctl_received",
    "coverage/read-counter no_such_counter",
    "upcall/set-flow-limit 1234",
    "upcall/set-flow-limit 77abc",
    "~upcall/show",
    "upcall/disable-ufid",
    "~upcall/show",
    "upcall/enable-ufid",
    "upcall/set-flow-limit abc",
    "dpctl/list-commands",
    "dpctl/offload-stats-show",
    "dpctl/offload-stats-show dummy@ovs-dummy",
    "dpctl/offload-stats-show dummy@nope",
    "dpctl/parse-actions bogus",
    "dpctl/parse-actions 1,2,bogus",
    "dpctl/parse-actions 1 2 drop",
    "dpctl/parse-actions set(ipv4(src=1.2.3.4,dst=5.6.7.8)) push_vlan(vid=5,pcp=0),2",
    "dpctl/parse-actions userspace(pid=1) tnl_pop(4) check_pkt_len(size=200,gt(1),le(2))",
    "dpctl/parse-actions ct(commit,zone=5,nat(src=10.0.0.1)) clone(1) meter(3),trunc(100)",
    "dpctl/parse-actions sample(sample=50.0%,actions(1)),pop_vlan",
    "dpctl/parse-actions set(tunnel(tun_id=0x5,dst=1.1.1.1,ttl=64,flags(df|key))),4789",
    "tnl/egress_port_range",
    "tnl/egress_port_range 100",
    "tnl/egress_port_range 50000 40000",
    "tnl/egress_port_range",
    "tnl/egress_port_range 0 5",
    "tnl/egress_port_range 5 70000",
    "tnl/egress_port_range abc 5",
    "tnl/egress_port_range 40000 40000",
    "tnl/egress_port_range",
    "vlog/list-pattern",
    "vlog/enable-rate-limit",
    "vlog/disable-rate-limit bridge ANY",
    "vlog/disable-rate-limit BRIDGE nomod",
    "vlog/enable-rate-limit nomod",
];

/// Stock commands ferrovs does not offer (see docs/design-notes.md).
const LEFT_OUT: &[&str] = &[
    "dpctl/add-dp",
    "dpctl/add-if",
    "dpctl/cache-get-size",
    "dpctl/cache-set-size",
    "dpctl/ct-bkts",
    "dpctl/ct-del-limits",
    "dpctl/ct-disable-tcp-seq-chk",
    "dpctl/ct-enable-tcp-seq-chk",
    "dpctl/ct-get-limits",
    "dpctl/ct-get-tcp-seq-chk",
    "dpctl/ct-set-limits",
    "dpctl/ct-set-maxconns",
    "dpctl/del-dp",
    "dpctl/del-if",
    "dpctl/ipf-get-status",
    "dpctl/ipf-set-disabled",
    "dpctl/ipf-set-enabled",
    "dpctl/ipf-set-max-nfrags",
    "dpctl/ipf-set-min-frag",
    "dpctl/normalize-actions",
    "dpctl/set-if",
    "dpif-dummy/change-port-number",
    "dpif-netdev/dpif-impl-get",
    "dpif-netdev/dpif-impl-set",
    "dpif-netdev/miniflow-parser-get",
    "dpif-netdev/miniflow-parser-set",
    "dpif-netdev/pmd-perf-log-set",
    "dpif-netdev/pmd-perf-show",
    "dpif-netdev/pmd-rxq-rebalance",
    "dpif-netdev/pmd-rxq-show",
    "dpif-netdev/subtable-lookup-info-get",
    "dpif-netdev/subtable-lookup-prio-set",
    "dpif-netlink/dispatch-mode",
    "odp-execute/action-impl-set",
    "odp-execute/action-impl-show",
    "time/stop",
    "time/warp",
];

/// Commands ferrovs lists that stock 3.1 does not (none so far).
const EXTRAS: &[&str] = &[];

struct Answer {
    command: String,
    text: String,
}

/// Sets the sandbox up and runs every command of APPCTL (plus the two
/// command lists) on `program`.
fn session(name: &str, program: &Path) -> Vec<Answer> {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    for line in VSCTL {
        sb.vsctl_line(line);
    }
    for t in TUNNELS {
        let mut words = t.split_whitespace();
        let name = words.next().unwrap_or_default();
        let mut args = vec!["add-port", "br0", name, "--", "set", "interface", name];
        args.extend(words);
        let _ = sb.vsctl(&args);
    }
    let flows = sb.dir.join("flows.txt");
    std::fs::write(&flows, FLOWS).expect("write flows");
    let flows = flows.display().to_string();
    sb.succeeded(
        sb.run("ovs-ofctl", &["add-flows", "br0", &flows]),
        "ovs-ofctl add-flows",
    );
    for args in OFCTL {
        sb.succeeded(sb.run("ovs-ofctl", args), "ovs-ofctl");
    }
    let mut answers = Vec::new();
    for cmd in APPCTL.iter().chain(&["list-commands"]) {
        let (volatile, cmd) = match cmd.strip_prefix('~') {
            Some(c) => (true, c),
            None => (false, *cmd),
        };
        let args: Vec<&str> = cmd.split(' ').collect();
        let out = sb.appctl(&args);
        let mut t = format!(
            "rc={:?}\n{}{}",
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        );
        if cmd.starts_with("upcall/show") {
            t = upcall_show_lines(&t);
        }
        if cmd == "memory/show" && !volatile {
            // Thread counts and ports differ by design (and ferrovs adds
            // vx3, which stock refuses); the database cells and the
            // rules must not.
            t = t
                .split([' ', '\n'])
                .filter(|w| w.starts_with("idl-cells") || w.starts_with("rules:"))
                .collect::<Vec<_>>()
                .join(" ");
        }
        t = mask_durations(&t);
        if volatile {
            t = mask_numbers(&t);
        }
        answers.push(Answer {
            command: cmd.to_string(),
            text: t,
        });
    }
    answers
}

/// The lines of `upcall/show` both daemons print: the datapath, its
/// flows and limit, and the ufid setting (ferrovs adds counters after
/// them; revalidator lines differ in number).
fn upcall_show_lines(t: &str) -> String {
    t.lines()
        .filter(|l| {
            l.starts_with("rc=")
                || l.ends_with("@ovs-dummy:")
                || l.contains("flows         :")
                || l.contains("ufid enabled")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn mask_durations(t: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("duration=") {
        let after = &rest[i + "duration=".len()..];
        let n = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        out.push_str(&rest[..i]);
        out.push_str("duration=N");
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

fn mask_numbers(t: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in t.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out.replace("rc=Some(N)", "rc")
}

/// The command names of a `list-commands` answer, without `skip`.
fn command_names(list: &str, skip: &[&str]) -> Vec<String> {
    list.lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| l.trim_start())
        .filter(|l| !skip.iter().any(|s| l.split(' ').next() == Some(*s)))
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn appctl_answers_as_stock() {
    if !stock_ovs_available("appctl_answers_as_stock") {
        return;
    }
    let stock = session("appctl-stock", Path::new(STOCK_VSWITCHD));
    let ours = session("appctl-ferrovs", Path::new(FERROVS));
    let mut report = String::new();
    for (s, o) in stock.iter().zip(&ours) {
        let (s_text, o_text) = match s.command.as_str() {
            // The lists are compared below, without what is left out.
            "list-commands" | "dpctl/list-commands" => {
                let s_names = command_names(&s.text, LEFT_OUT);
                let o_names = command_names(&o.text, EXTRAS);
                assert!(
                    s_names.len() >= 10,
                    "{}: stock listed too little:\n{}",
                    s.command,
                    s.text
                );
                (s_names.join("\n"), o_names.join("\n"))
            }
            _ => (s.text.clone(), o.text.clone()),
        };
        if s_text != o_text {
            report.push_str(&format!(
                "=== ovs-appctl {}\n--- stock\n{s_text}\n--- ferrovs\n{o_text}\n",
                s.command
            ));
        }
    }
    assert_eq!(stock.len(), ours.len());
    assert!(report.is_empty(), "answers differ:\n{report}");
    // The flow listing really lists: the rules added, then table 254.
    let dump = &ours[0].text;
    assert!(dump.contains("table_id=7, "), "{dump}");
    assert!(dump.contains("n_bytes=0, ,actions=drop"), "{dump}");
    assert!(dump.contains("table_id=254, "), "{dump}");
    let tunnels = ours
        .iter()
        .find(|a| a.command == "ofproto/list-tunnels")
        .map(|a| a.text.matches("port ").count());
    assert_eq!(tunnels, Some(5), "five tunnels listed");
    let memory = ours.iter().find(|a| a.command == "memory/show");
    assert!(
        memory.is_some_and(
            |a| a.text.contains("idl-cells-Open_vSwitch:") && a.text.contains("rules:")
        ),
        "memory/show compared"
    );
}
