//! The upcall path of the userspace datapath, end to end: packets that
//! miss the datapath are translated through the bridge's OpenFlow tables,
//! the megaflows are installed and the packets forwarded.
//!
//! `openflow_tables_carry_ping_like_stock` runs one script against
//! ferrovs-vswitchd and then stock ovs-vswitchd, each with a
//! `datapath_type=netdev` bridge whose two ports are veths with their
//! peers in two network namespaces:
//! 1. the default table (`priority=0,actions=NORMAL`) carries ping and
//!    `dpctl/dump-flows` shows the megaflows installed for it;
//! 2. after `del-flows`, `in_port=1,actions=output:2` and back carry ping;
//!    a higher-priority `icmp,actions=drop` stops it (the established
//!    megaflows must not keep the old actions);
//! 3. both daemons must agree on reachability at every step and on the
//!    datapath flows of step 2 made from fresh misses (after
//!    `revalidator/purge` and with the namespaces' neighbor entries
//!    flushed, so that ARP runs again): keys, masks and actions, with
//!    ports by name; statistics, UFIDs and times left out.
//!
//! Needs root, iproute2 and the stock OVS tools: skips with a message
//! otherwise, fails under CI=true.

mod netns;

use std::path::Path;
use std::time::{Duration, Instant};

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox};
use ferrovs_tests::vsctl;
use netns::{netns_available, ours_and_stock_isolated, LinksGone, Topo};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

/// What one daemon did with the script.
#[derive(Debug)]
struct Outcome {
    /// Whether ping passed with NORMAL, with the port-to-port flows, and
    /// after the icmp drop flow.
    reach: [bool; 3],
    /// The megaflows after NORMAL carried ping.
    normal_flows: String,
    /// The megaflows after the port-to-port flows carried ping,
    /// normalized.
    port_flows: Vec<String>,
    /// `upcall/show` at the end.
    upcall_show: String,
}

/// Datapath port numbers to names, from `dpctl/show` (`  port 2: h0`):
/// the two daemons number ports in different orders.
fn port_names(sb: &Sandbox) -> Vec<(String, String)> {
    let show = text(&sb.appctl(&["dpctl/show"]).stdout);
    show.lines()
        .filter_map(|l| l.trim().strip_prefix("port "))
        .filter_map(|l| l.split_once(": "))
        .map(|(n, name)| {
            (
                n.to_string(),
                name.split(' ').next().unwrap_or(name).to_string(),
            )
        })
        .collect()
}

/// A datapath flow line without its statistics and UFID, ports named:
/// `KEY actions:ACTIONS`, the key as printed (with stock's
/// `packet_type(ns=0,id=0)`, which ferrovs's userspace keys carry too).
fn flow_shape(line: &str, ports: &[(String, String)]) -> Option<String> {
    let line = line.trim();
    let line = match line.strip_prefix("ufid:") {
        Some(rest) => rest.split_once(", ").map_or(rest, |(_, r)| r),
        None => line,
    };
    let (key, rest) = line.split_once(", packets:")?;
    let actions = rest.split_once("actions:")?.1;
    let name = |n: &str| {
        ports
            .iter()
            .find(|(num, _)| num == n)
            .map_or(n.to_string(), |(_, name)| name.clone())
    };
    let mut key = key.to_string();
    if let Some(i) = key.find("in_port(") {
        let rest = &key[i + 8..];
        if let Some(j) = rest.find(')') {
            key = format!(
                "{}in_port({}){}",
                &key[..i],
                name(&rest[..j]),
                &rest[j + 1..]
            );
        }
    }
    let actions: Vec<String> = actions
        .split(',')
        .map(|a| {
            if a.bytes().all(|b| b.is_ascii_digit()) {
                name(a)
            } else {
                a.to_string()
            }
        })
        .collect();
    Some(format!("{key} actions:{}", actions.join(",")))
}

/// Pings until it passes (`want`) or stops passing (`!want`), for up to
/// 10 s; returns whether ping passed at the end.
fn ping_until(topo: &Topo, want: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = topo.ping(0, "10.79.0.2") && topo.ping(1, "10.79.0.1");
        if ok == want || Instant::now() > deadline {
            return ok;
        }
    }
}

fn script(program: &Path, topo: &Topo, tag: &str) -> Outcome {
    let mut sb = topo.sandbox(&format!("upcall-{tag}"), program, &["--disable-system"]);
    let br = format!("fvu{}", std::process::id() % 100_000);
    let _taps = LinksGone(vec![br.clone()]);
    let hosts = [topo.host[0].as_str(), topo.host[1].as_str()];
    // One handler thread: set before the datapath exists.
    sb.vsctl_ok(
        &[
            "set",
            "Open_vSwitch",
            ".",
            "other_config:n-handler-threads=1",
        ],
        &format!("{tag}: n-handler-threads"),
    );
    sb.vsctl_ok(
        &vsctl::netdev_bridge(&br, &[], &hosts),
        &format!("{tag}: add-br"),
    );
    // Each change must reach the datapath's established flows before
    // the next ping (`revalidator/wait`, as stock's tests do).
    let ofctl = |args: &[&str]| {
        let o = sb.run("ovs-ofctl", args);
        assert!(
            o.status.success(),
            "{tag}: ovs-ofctl {args:?}: {}",
            text(&o.stderr)
        );
        let o = sb.appctl(&["revalidator/wait"]);
        assert!(
            o.status.success(),
            "{tag}: revalidator/wait: {}",
            text(&o.stderr)
        );
    };
    let dump = |sb: &Sandbox| text(&sb.appctl(&["dpctl/dump-flows"]).stdout);

    let normal = ping_until(topo, true);
    let normal_flows = dump(&sb);

    ofctl(&["del-flows", &br]);
    ofctl(&["add-flow", &br, "in_port=1,actions=output:2"]);
    ofctl(&["add-flow", &br, "in_port=2,actions=output:1"]);
    // Stock's revalidators keep a flow whose old mask is narrower than
    // the new translation needs and change only its actions; ferrovs's
    // delete it instead. Compare megaflows made from fresh misses.
    let o = sb.appctl(&["revalidator/purge"]);
    assert!(
        o.status.success(),
        "{tag}: revalidator/purge: {}",
        text(&o.stderr)
    );
    // Whether the pings of this step also resolve addresses depends on
    // the neighbor entries' timers, which run on between the two
    // daemons' runs: flushed, every run resolves afresh, so the ARP
    // request and reply make datapath flows in both.
    for ns in &topo.ns {
        netns::must(&["ip", "-n", ns, "neigh", "flush", "all"]);
    }
    let ports = ping_until(topo, true);
    let names = port_names(&sb);
    // The reply that ends a ping can come back before its handler's
    // flow is in the dump: wait until ARP and IPv4 from each port are.
    let shapes = || -> Vec<String> {
        dump(&sb)
            .lines()
            .filter_map(|l| flow_shape(l, &names))
            .collect()
    };
    let complete = |flows: &[String]| {
        hosts.iter().all(|h| {
            ["eth_type(0x0806)", "eth_type(0x0800)"].iter().all(|et| {
                let port = format!("in_port({h})");
                flows.iter().any(|f| f.contains(&port) && f.contains(et))
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut port_flows = shapes();
    while !complete(&port_flows) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        port_flows = shapes();
    }
    port_flows.sort();

    ofctl(&["add-flow", &br, "priority=40000,icmp,actions=drop"]);
    let dropped = ping_until(topo, false);

    let upcall_show = text(&sb.appctl(&["upcall/show"]).stdout);
    sb.exit_alive(tag);
    Outcome {
        reach: [normal, ports, dropped],
        normal_flows,
        port_flows,
        upcall_show,
    }
}

#[test]
fn openflow_tables_carry_ping_like_stock() {
    let test = "openflow_tables_carry_ping_like_stock";
    if !netns_available(test) || !stock_ovs_available(test) {
        return;
    }
    // Each daemon on a topology of its own, both at the same time.
    let (ours, stock) = ours_and_stock_isolated(Path::new(FERROVS), 'u', 2, |_| {}, script);
    assert!(
        ours.reach[0],
        "NORMAL did not carry ping:\n{}",
        ours.normal_flows
    );
    assert!(
        ours.normal_flows.contains("actions:"),
        "no megaflows after ping with NORMAL:\n{}",
        ours.normal_flows
    );
    assert!(ours.reach[1], "in_port flows did not carry ping: {ours:?}");
    assert!(!ours.reach[2], "ping passed after the icmp drop flow");
    assert!(
        !ours.port_flows.is_empty(),
        "no megaflows for the in_port flows"
    );
    // Every miss found its bridge and translated; nothing was lost; one
    // handler, as other_config:n-handler-threads asked.
    assert!(
        ours.upcall_show.contains("(failed 0) (lost 0)")
            && ours.upcall_show.contains("handlers      : 1\n"),
        "upcalls failed or were lost:\n{}",
        ours.upcall_show
    );
    assert_eq!(ours.reach, stock.reach, "reachability differs from stock");
    assert_eq!(
        ours.port_flows, stock.port_flows,
        "datapath flows differ from stock (left: ferrovs, right: stock)"
    );
}
