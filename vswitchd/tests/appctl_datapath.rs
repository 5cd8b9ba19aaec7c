//! Differential tests of the `ovs-appctl` commands that look at or change
//! the datapath: `dpif/dump-flows`, the conntrack readings of `dpctl/*`,
//! `upcall/enable-megaflows|disable-megaflows` and
//! `tnl/egress_port_range`. Each runs the same steps against stock
//! ovs-vswitchd and ferrovs-vswitchd (stock ovsdb-server, dummy
//! datapath, packets injected with `netdev-dummy/receive`) and compares
//! what the stock tools print or what leaves the switch.

use std::path::Path;

use ferrovs_tests::sandbox::{ours_then_stock, text, Sandbox};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// A packet for `netdev-dummy/receive`, from `src` to `dst` (MAC suffix
/// and IPv4 last byte) on datapath port `port`.
fn icmp(port: u32, src: u8, dst: u8) -> String {
    format!(
        "in_port({port}),eth(src=50:54:00:00:00:{src:02x},dst=50:54:00:00:00:{dst:02x}),\
         eth_type(0x0800),ipv4(src=10.0.0.{src},dst=10.0.0.{dst},proto=1,tos=0,ttl=64,frag=no),\
         icmp(type=8,code=0)"
    )
}

/// An ovs-appctl command line and what it answered: exit code, standard
/// output and standard error.
fn appctl_answer(sb: &Sandbox, args: &[&str]) -> (String, String) {
    let out = sb.appctl(args);
    (
        args.join(" "),
        format!(
            "rc={:?}\n{}{}",
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        ),
    )
}

/// `dpif/dump-flows` of two bridges after traffic on one of them, with
/// each option; the flows of the first, the second (none) and errors.
fn dpif_flows_session(name: &str, program: &Path) -> Vec<(String, String)> {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    sb.vsctl_line(
        "add-br br0 \
         -- set bridge br0 datapath_type=dummy \
         -- add-port br0 p1 \
         -- set interface p1 type=dummy",
    );
    sb.vsctl_line(
        "add-br br2 \
         -- set bridge br2 datapath_type=dummy \
         -- add-port br2 p3 \
         -- set interface p3 type=dummy ofport_request=3 \
         -- add-port br2 p4 \
         -- set interface p4 type=dummy ofport_request=4",
    );
    for flow in ["in_port=3,actions=output:4", "in_port=4,actions=output:3"] {
        sb.succeeded(sb.run("ovs-ofctl", &["add-flow", "br2", flow]), "add-flow");
    }
    let (p3, p4) = (sb.odp_port("p3"), sb.odp_port("p4"));
    for (port, src, dst) in [(p3, 3, 4), (p4, 4, 3)] {
        sb.succeeded(
            sb.appctl(&[
                "netdev-dummy/receive",
                if port == p3 { "p3" } else { "p4" },
                &icmp(port, src, dst),
            ]),
            "netdev-dummy/receive",
        );
    }
    sb.wait_for(
        || {
            text(&sb.appctl(&["dpctl/dump-flows"]).stdout)
                .matches("actions:")
                .count()
                >= 2
        },
        "two datapath flows",
    )
    .expect("flows installed");
    let mut answers = Vec::new();
    for cmd in [
        "dpctl/dump-flows -m",
        "dpif/dump-flows br2",
        "dpif/dump-flows -m br2",
        "dpif/dump-flows --names br2",
        "dpif/dump-flows -m --no-names br2",
        "dpif/dump-flows br0",
        "dpif/dump-flows nobr",
        "dpif/dump-flows br2 nobr",
    ] {
        answers.push(appctl_answer(&sb, &cmd.split(' ').collect::<Vec<_>>()));
    }
    answers
}

/// The flow lines of an answer, sorted (datapath dumps come in hash
/// order).
fn sorted_flows(t: &str) -> Vec<String> {
    let mut v: Vec<String> = t
        .lines()
        .filter(|l| l.contains("actions:"))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// What of a flow line does not depend on the datapath's key layout:
/// its input port and its actions.
fn port_and_actions(line: &str) -> String {
    let in_port = line
        .split(',')
        .find(|f| f.starts_with("in_port("))
        .unwrap_or_default();
    let actions = line.rsplit("actions:").next().unwrap_or_default();
    format!("{in_port} -> {actions}")
}

/// A flow line without its statistics: `KEY actions:ACTIONS`.
fn key_and_actions(line: &str) -> String {
    let key = line.split(", packets:").next().unwrap_or_default();
    let actions = line.rsplit("actions:").next().unwrap_or_default();
    format!("{key} actions:{actions}")
}

#[test]
fn dpif_dump_flows_as_stock() {
    let Some((ours, stock)) = ours_then_stock("dpif_dump_flows_as_stock", FERROVS, |p, tag| {
        dpif_flows_session(&format!("dpifflows-{tag}"), p)
    }) else {
        return;
    };
    for (who, answers) in [("stock", &stock), ("ferrovs", &ours)] {
        // dpif/dump-flows -m prints dpctl/dump-flows -m's lines of the
        // bridge, with a space after the UFID instead of ", " and
        // without the datapath layer and extra information.
        let dpctl: Vec<String> = sorted_flows(&answers[0].1)
            .iter()
            .map(|l| {
                let l = l.replacen(", ", " ", 1).replace(", dp:ovs", "");
                match l.find(", dp-extra-info:") {
                    Some(i) => l[..i].to_string(),
                    None => l,
                }
            })
            .collect();
        assert_eq!(dpctl.len(), 2, "{who}: {}", answers[0].1);
        assert_eq!(
            sorted_flows(&answers[2].1),
            dpctl,
            "{who}: dpif/dump-flows -m"
        );
    }
    for (i, ((cmd, s), (_, o))) in stock.iter().zip(&ours).enumerate().skip(1) {
        if i <= 4 {
            // Which flows, from which port, doing what, must be the
            // same; and without `-m` the keys too, as stock's userspace
            // datapath prints them (with `packet_type(ns=0,id=0)` and no
            // wildcarded `eth()`). The UFIDs of `-m` are hashes of
            // different things.
            let view = |l: &String| {
                if cmd.contains("-m") {
                    port_and_actions(l)
                } else {
                    key_and_actions(l)
                }
            };
            if !cmd.contains("-m") {
                assert!(s.contains(",packet_type(ns=0,id=0),"), "stock {cmd}: {s}");
            }
            let s_flows: Vec<String> = sorted_flows(s).iter().map(view).collect();
            let o_flows: Vec<String> = sorted_flows(o).iter().map(view).collect();
            assert_eq!(s_flows.len(), 2, "stock {cmd}: {s}");
            let (mut s_flows, mut o_flows) = (s_flows, o_flows);
            s_flows.sort();
            o_flows.sort();
            assert_eq!(
                s_flows, o_flows,
                "ovs-appctl {cmd}:\nstock:\n{s}\nferrovs:\n{o}"
            );
            assert_eq!(s.starts_with("rc=Some(0)"), o.starts_with("rc=Some(0)"));
        } else {
            assert_eq!(s, o, "ovs-appctl {cmd}");
        }
    }
}

/// The UDP source port of each VXLAN frame `sb` sent out of p0 while
/// `tnl/egress_port_range` was `range`, for one packet through tunnel t1.
fn vxlan_source_ports(name: &str, program: &Path, range: [&str; 2]) -> Vec<String> {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    for cmd in [
        "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure",
        "add-port br0 p0 -- set interface p0 type=dummy ofport_request=1 options:tx_pcap=p0.pcap",
        "add-br int-br -- set bridge int-br datapath_type=dummy fail-mode=secure",
        "add-port int-br p5 -- set interface p5 type=dummy ofport_request=1",
        "add-port int-br t1 -- set interface t1 type=vxlan options:remote_ip=1.1.2.92 ofport_request=3",
    ] {
        sb.vsctl_line(cmd);
    }
    for (br, flow) in [
        ("br0", "in_port=LOCAL,actions=output:1"),
        ("int-br", "in_port=1,actions=output:3"),
    ] {
        sb.succeeded(sb.run("ovs-ofctl", &["add-flow", br, flow]), "add-flow");
    }
    for cmd in [
        &["netdev-dummy/ip4addr", "br0", "1.1.2.88/24"][..],
        &["ovs/route/add", "1.1.2.92/24", "br0"],
        &["tnl/neigh/set", "br0", "1.1.2.92", "f8:bc:12:44:34:b6"],
        &["tnl/egress_port_range", range[0], range[1]],
    ] {
        sb.succeeded(sb.appctl(cmd), &cmd.join(" "));
    }
    let packet = icmp(sb.odp_port("p5"), 1, 2);
    sb.succeeded(
        sb.appctl(&["netdev-dummy/receive", "p5", &packet]),
        "receive",
    );
    let pcap = sb.dir.join("p0.pcap");
    sb.wait_for(
        || ferrovs_tests::pcap::frames_hex(&pcap).lines().count() > 1,
        "a VXLAN frame on p0",
    )
    .expect("frame sent");
    // Ethernet (14 bytes) and IPv4 (20) come first; then the UDP source
    // port, in hex.
    ferrovs_tests::pcap::frames_hex(&pcap)
        .lines()
        .skip(1)
        .map(|f| f.get(68..72).unwrap_or("short").to_string())
        .collect()
}

#[test]
fn egress_port_range_sets_vxlan_source_ports_as_stock() {
    let range = ["40000", "40000"];
    let Some((ours, stock)) = ours_then_stock(
        "egress_port_range_sets_vxlan_source_ports_as_stock",
        FERROVS,
        |p, tag| vxlan_source_ports(&format!("egress-{tag}"), p, range),
    ) else {
        return;
    };
    // 40000 is 0x9c40.
    assert_eq!(stock, vec!["9c40".to_string()], "stock");
    assert_eq!(ours, stock);
}

/// The conntrack readings after a TCP SYN, a UDP and an ICMP packet were
/// committed in zone 5.
fn conntrack_session(name: &str, program: &Path) -> Vec<(String, String)> {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    sb.vsctl_line(
        "add-br br3 \
         -- set bridge br3 datapath_type=dummy \
         -- add-port br3 p6 \
         -- set interface p6 type=dummy ofport_request=6 \
         -- add-port br3 p7 \
         -- set interface p7 type=dummy ofport_request=7",
    );
    sb.succeeded(
        sb.run(
            "ovs-ofctl",
            &[
                "add-flow",
                "br3",
                "in_port=6,ip,actions=ct(commit,zone=5),output:7",
            ],
        ),
        "add-flow",
    );
    let p6 = sb.odp_port("p6");
    let eth = "eth(src=50:54:00:00:00:06,dst=50:54:00:00:00:07)";
    for l4 in [
        "ipv4(src=10.0.0.6,dst=10.0.0.7,proto=6,tos=0,ttl=64,frag=no),tcp(src=1000,dst=80),tcp_flags(syn)",
        "ipv4(src=10.0.0.6,dst=10.0.0.7,proto=17,tos=0,ttl=64,frag=no),udp(src=5000,dst=53)",
        "ipv4(src=10.0.0.6,dst=10.0.0.7,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)",
    ] {
        let packet = format!("in_port({p6}),{eth},eth_type(0x0800),{l4}");
        sb.succeeded(sb.appctl(&["netdev-dummy/receive", "p6", &packet]), "receive");
    }
    sb.wait_for(
        || text(&sb.appctl(&["dpctl/ct-get-nconns"]).stdout).trim() == "3",
        "three connections",
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            text(&sb.appctl(&["dpctl/dump-conntrack"]).stdout)
        )
    });
    let mut answers = Vec::new();
    for cmd in [
        "dpctl/ct-get-nconns",
        "dpctl/ct-get-nconns dummy@ovs-dummy",
        "dpctl/ct-get-nconns dummy@nope",
        "dpctl/ct-get-maxconns",
        "dpctl/ct-stats-show",
        "dpctl/ct-stats-show zone=5",
        "dpctl/ct-stats-show zone=6",
        "dpctl/ct-stats-show -m",
        "dpctl/ct-stats-show dummy@ovs-dummy zone=5 verbose",
    ] {
        answers.push(appctl_answer(&sb, &cmd.split(' ').collect::<Vec<_>>()));
    }
    answers
}

#[test]
fn conntrack_readings_as_stock() {
    let Some((ours, stock)) = ours_then_stock("conntrack_readings_as_stock", FERROVS, |p, tag| {
        conntrack_session(&format!("ct-{tag}"), p)
    }) else {
        return;
    };
    for ((cmd, s), (_, o)) in stock.iter().zip(&ours) {
        assert_eq!(s, o, "ovs-appctl {cmd}");
    }
    assert!(stock[4].1.contains("Total: 3"), "{}", stock[4].1);
}

/// The part of a flow line from `from` up to its statistics (the key's
/// start differs by datapath, see `dpif_dump_flows_as_stock`).
fn key_part(line: &str, from: &str) -> String {
    let start = line.find(from).unwrap_or(0);
    let end = line.find(", packets:").unwrap_or(line.len());
    line.get(start..end).unwrap_or_default().to_string()
}

/// `upcall/disable-megaflows`, a packet, its flow; `enable-megaflows`,
/// the flows left, the same packet, its flow.
fn megaflows_session(name: &str, program: &Path) -> Vec<String> {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    sb.vsctl_line(
        "add-br br2 \
         -- set bridge br2 datapath_type=dummy \
         -- add-port br2 p3 \
         -- set interface p3 type=dummy ofport_request=3 \
         -- add-port br2 p4 \
         -- set interface p4 type=dummy ofport_request=4",
    );
    sb.succeeded(
        sb.run(
            "ovs-ofctl",
            &["add-flow", "br2", "in_port=3,actions=output:4"],
        ),
        "add-flow",
    );
    let p3 = sb.odp_port("p3");
    let flows = || text(&sb.appctl(&["dpif/dump-flows", "br2"]).stdout);
    let send = || {
        sb.succeeded(
            sb.appctl(&["netdev-dummy/receive", "p3", &icmp(p3, 3, 4)]),
            "netdev-dummy/receive",
        );
        sb.wait_for(|| flows().contains("actions:"), "a datapath flow")
            .expect("flow installed");
    };
    let mut seen = Vec::new();
    seen.push(text(&sb.appctl(&["upcall/disable-megaflows"]).stdout));
    send();
    seen.push(key_part(&flows(), "eth(src="));
    seen.push(text(&sb.appctl(&["upcall/enable-megaflows"]).stdout));
    seen.push(format!("after enable: {} flows", flows().lines().count()));
    send();
    seen.push(key_part(&flows(), "eth_type("));
    seen
}

#[test]
fn megaflows_switch_as_stock() {
    let Some((ours, stock)) = ours_then_stock("megaflows_switch_as_stock", FERROVS, |p, tag| {
        megaflows_session(&format!("megaflows-{tag}"), p)
    }) else {
        return;
    };
    assert_eq!(ours, stock);
    // Exact: the addresses are matched; wide: they are not.
    assert!(stock[1].contains("src=10.0.0.3"), "{stock:?}");
    assert!(!stock[4].contains("src=10.0.0.3"), "{stock:?}");
}

/// What `dpctl/parse-actions` and `dpctl/add-flow` answer to each action
/// text: stock's parser refuses some text its printer writes.
fn action_syntax_session(name: &str, program: &Path) -> Vec<(String, String)> {
    let sb = Sandbox::with_vswitchd(name, program, DUMMY_ARGS);
    let cmd = "add-br br0 -- set bridge br0 datapath_type=dummy -- add-port br0 p1 -- \
               set interface p1 type=dummy ofport_request=1";
    sb.vsctl_line(cmd);
    let key = "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.9,frag=no)";
    let mut answers = Vec::new();
    for actions in [
        "2",
        "drop",
        "recirc(5)",
        "ct(commit),recirc(5)",
        "check_pkt_len(size=200,gt(drop),le(2))",
        "recirc(0x5)",
        "2,recirc(0x5)",
        "hash(l4(0))",
        "hash(l4(0)),2",
        "2,drop",
        "drop,2",
        "drop,",
        "clone(drop)",
    ] {
        for cmd in [
            vec!["dpctl/parse-actions", actions],
            // (Not dumped: the revalidators may remove the flow, which
            // no OpenFlow rule made, at any moment.)
            vec!["dpctl/add-flow", key, actions],
            vec!["dpctl/del-flows"],
        ] {
            answers.push(appctl_answer(&sb, &cmd));
        }
    }
    answers
}

#[test]
fn dpctl_action_syntax_as_stock() {
    let Some((ours, stock)) = ours_then_stock("dpctl_action_syntax_as_stock", FERROVS, |p, tag| {
        action_syntax_session(&format!("actsyntax-{tag}"), p)
    }) else {
        return;
    };
    // Stock refuses text its own printer writes: the test is about that.
    assert!(stock
        .iter()
        .any(|(cmd, a)| cmd == "dpctl/parse-actions recirc(0x5)" && a.starts_with("rc=Some(2)")));
    assert_eq!(stock.len(), ours.len());
    for ((cmd, s), (_, o)) in stock.iter().zip(&ours) {
        assert_eq!(s, o, "ovs-appctl {cmd}");
    }
}
