//! Port mirroring (the Mirror table).
//!
//! - `mirror_traces_match_stock`: stock ovs-vswitchd and ferrovs-vswitchd,
//!   each on the dummy datapath with the same bridge, get the same
//!   ovs-vsctl mirror setups and the same `ofproto/trace` requests; the
//!   reports must be the same (whole, with the order of flooded ports
//!   set aside: stock's varies from run to run): source-only, destination-only, select_all
//!   with snaplen, select_vlan, output_vlan (RSPAN), NORMAL and explicit
//!   OpenFlow outputs, a MAC learned on the mirror port, packets received
//!   on the mirror port, patch ports, a conntrack recirculation, and the
//!   mirror's output port deleted; and the statistics written after
//!   packets are received (`netdev-dummy/receive`).
//! - `mirror_copies_traffic_netdev`: two namespaces ping through a
//!   userspace-datapath bridge; a third port, a mirror's output, sees
//!   one copy of each mirrored packet in its namespace, the Mirror row's
//!   statistics count them, and the copies stop once the mirror is gone.
//!
//! The namespace test needs root and iproute2 (skips otherwise, fails
//! under CI=true).

mod netns;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrovs_tests::sandbox::{stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};
use ferrovs_tests::trace_text::{megaflow_and_actions, split_actions};
use netns::{netns_available, ours_and_stock_isolated, run, LinksGone, Topo};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const RAWFRAMES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rawframes.py");

/// Five dummy ports; p4 is an access port of VLAN 10, p5 a trunk of
/// VLANs 5, 10 and 20.
const SETUP: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=dummy",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 p3 -- set interface p3 type=dummy ofport_request=3",
    "add-port br0 p4 tag=10 -- set interface p4 type=dummy ofport_request=4",
    "add-port br0 p5 trunks=5,10,20 -- set interface p5 type=dummy ofport_request=5",
];

/// One mirror setup: ovs-vsctl commands (each a `--`-separated command
/// line, split at spaces), OpenFlow flows (none: the NORMAL flow of
/// standalone mode) and the flows to trace.
struct Case {
    name: &'static str,
    vsctl: &'static [&'static str],
    flows: &'static [&'static str],
    traces: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "src-only",
        vsctl: &["-- --id=@p1 get port p1 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_src_port=@p1 output_port=@p3 -- set bridge br0 mirrors=@m"],
        flows: &[],
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
            "in_port=2,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01",
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_vlan=5,ip,nw_dst=10.0.0.2",
            // Received on the mirror port: dropped.
            "in_port=3,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:01",
            // An access port's packet is not selected.
            "in_port=4,dl_src=00:00:00:00:00:04,dl_dst=00:00:00:00:00:01",
        ],
    },
    Case {
        name: "dst-only-and-all-with-snaplen",
        vsctl: &[
            "-- --id=@p2 get port p2 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_dst_port=@p2 output_port=@p3 -- set bridge br0 mirrors=@m",
            "-- --id=@p5 get port p5 -- --id=@m create mirror name=m2 select_all=true output_port=@p5 snaplen=100 -- add bridge br0 mirrors @m",
        ],
        flows: &[],
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
            "in_port=4,dl_src=00:00:00:00:00:04,dl_dst=00:00:00:00:00:02",
            "in_port=2,dl_src=00:00:00:00:00:02,dl_dst=ff:ff:ff:ff:ff:ff",
        ],
    },
    Case {
        name: "select-all-explicit-outputs",
        vsctl: &[
            "set bridge br0 fail-mode=secure",
            "-- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_all=true output_port=@p3 -- set bridge br0 mirrors=@m",
        ],
        flows: &[
            "in_port=1,actions=output:2",
            "in_port=2,actions=output:3,output:1",
            "in_port=4,actions=output:1,output:2",
            "in_port=5,actions=mod_vlan_vid:7,output:2,strip_vlan,output:1",
            "in_port=3,actions=output:1",
        ],
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
            "in_port=2,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01,dl_vlan=5",
            "in_port=4,dl_src=00:00:00:00:00:04,dl_dst=00:00:00:00:00:02",
            "in_port=5,dl_src=00:00:00:00:00:05,dl_dst=00:00:00:00:00:02,dl_vlan=10",
            "in_port=3,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:02",
        ],
    },
    Case {
        name: "select-vlan",
        vsctl: &["-- --id=@p1 get port p1 -- --id=@p5 get port p5 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_src_port=@p1,@p5 select_dst_port=@p5 select_vlan=5,10 output_port=@p3 -- set bridge br0 mirrors=@m"],
        flows: &[],
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09,dl_vlan=5",
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09,dl_vlan=6",
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09",
            "FDB br0 p2 10 00:00:00:00:00:02",
            "FDB br0 p5 10 00:00:00:00:00:05",
            "in_port=5,dl_src=00:00:00:00:00:05,dl_dst=00:00:00:00:00:02,dl_vlan=10",
            // Leaves through p5 in VLAN 10 (from the access port p4).
            "in_port=4,dl_src=00:00:00:00:00:04,dl_dst=00:00:00:00:00:05",
        ],
    },
    Case {
        name: "output-vlan",
        vsctl: &["-- --id=@p1 get port p1 -- --id=@m create mirror name=m1 select_src_port=@p1 output_vlan=20 -- set bridge br0 mirrors=@m"],
        flows: &[],
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_vlan=5",
            // Already in the output VLAN: not mirrored.
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_vlan=20",
            // Reserved destinations are not flooded.
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=01:80:c2:00:00:00",
        ],
    },
    Case {
        name: "two-mirrors-same-output",
        vsctl: &[
            "-- --id=@p1 get port p1 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_src_port=@p1 output_port=@p3 -- set bridge br0 mirrors=@m",
            "-- --id=@p2 get port p2 -- --id=@p3 get port p3 -- --id=@m create mirror name=m2 select_dst_port=@p2 output_port=@p3 -- add bridge br0 mirrors @m",
            "set bridge br0 fail-mode=secure",
        ],
        flows: &["in_port=1,actions=output:2,output:4"],
        traces: &["in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02"],
    },
    Case {
        name: "learned-on-mirror-port",
        vsctl: &["-- --id=@p1 get port p1 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_src_port=@p1 output_port=@p3 -- set bridge br0 mirrors=@m"],
        flows: &[],
        traces: &[
            "FDB br0 p3 0 00:00:00:00:00:03",
            "in_port=2,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:03",
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:03",
        ],
    },
    Case {
        name: "patch-ports",
        vsctl: &[
            "add-br br1 -- set bridge br1 datapath_type=dummy",
            "add-port br1 q1 -- set interface q1 type=dummy ofport_request=1",
            "add-port br1 q2 -- set interface q2 type=dummy ofport_request=3",
            "add-port br0 pa -- set interface pa type=patch options:peer=pb ofport_request=6",
            "add-port br1 pb -- set interface pb type=patch options:peer=pa ofport_request=2",
            "-- --id=@pa get port pa -- --id=@p3 get port p3 -- --id=@m create mirror name=m0 select_dst_port=@pa output_port=@p3 -- set bridge br0 mirrors=@m",
            "-- --id=@pb get port pb -- --id=@q1 get port q1 -- --id=@q2 get port q2 -- --id=@m create mirror name=m1 select_src_port=@pb select_dst_port=@q1 output_port=@q2 -- set bridge br1 mirrors=@m",
            "set bridge br0 fail-mode=secure",
        ],
        flows: &["in_port=1,actions=output:6,output:2"],
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_vlan=5",
        ],
    },
    Case {
        name: "patch-port-as-truncated-mirror-output",
        vsctl: &[
            "add-br br1 -- set bridge br1 datapath_type=dummy",
            "add-port br1 q1 -- set interface q1 type=dummy ofport_request=1",
            "add-port br0 pa -- set interface pa type=patch options:peer=pb ofport_request=6",
            "add-port br1 pb -- set interface pb type=patch options:peer=pa ofport_request=2",
            "-- --id=@p1 get port p1 -- --id=@pa get port pa -- --id=@m create mirror name=m0 select_src_port=@p1 output_port=@pa snaplen=100 -- set bridge br0 mirrors=@m",
            "-- --id=@p2 get port p2 -- --id=@pa get port pa -- --id=@m create mirror name=m1 select_src_port=@p2 output_port=@pa -- add bridge br0 mirrors @m",
            "set bridge br0 fail-mode=secure",
        ],
        flows: &["actions=output:4"],
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
            "in_port=2,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01",
        ],
    },
    Case {
        name: "table-miss",
        vsctl: &[
            "set bridge br0 fail-mode=secure",
            "-- --id=@p1 get port p1 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_src_port=@p1 output_port=@p3 -- set bridge br0 mirrors=@m",
        ],
        flows: &["table=1,actions=drop"],
        traces: &["in_port=3", "in_port=1"],
    },
    Case {
        name: "conntrack-recirculation",
        vsctl: &[
            "-- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_all=true output_port=@p3 -- set bridge br0 mirrors=@m",
            "set bridge br0 fail-mode=secure",
        ],
        flows: &[
            "table=0,ip,ct_state=-trk,actions=ct(table=1)",
            "table=1,ip,actions=output:2",
        ],
        traces: &["in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2"],
    },
    Case {
        name: "statistics",
        vsctl: &["-- --id=@p1 get port p1 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_src_port=@p1 output_port=@p3 -- set bridge br0 mirrors=@m"],
        flows: &[],
        traces: &[
            "RECV p1 in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)",
            "RECV p1 in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)",
            "RECV p2 in_port(2),eth(src=00:00:00:00:00:02,dst=00:00:00:00:00:01),eth_type(0x0800),ipv4(src=10.0.0.2,dst=10.0.0.1,proto=17,tos=0,ttl=64,frag=no),udp(src=2,dst=1)",
            "RECV p1 in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)",
            "STATS m1 3",
        ],
    },
    Case {
        name: "output-port-deleted",
        vsctl: &[
            "-- --id=@p1 get port p1 -- --id=@p3 get port p3 -- --id=@m create mirror name=m1 select_src_port=@p1 output_port=@p3 -- set bridge br0 mirrors=@m",
            "set bridge br0 fail-mode=secure",
            "del-port br0 p3",
        ],
        flows: &["in_port=1,actions=output:2"],
        traces: &["in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02"],
    },
];

/// Sorts each run of plain port outputs: stock floods (NORMAL and RSPAN)
/// in the order of its bundle hash table, which varies between runs.
fn sort_port_runs(actions: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<u32> = Vec::new();
    for a in split_actions(actions) {
        match a.parse::<u32>() {
            Ok(p) => run.push(p),
            Err(_) => {
                run.sort_unstable();
                out.extend(run.drain(..).map(|p| p.to_string()));
                out.push(a.to_string());
            }
        }
    }
    run.sort_unstable();
    out.extend(run.drain(..).map(|p| p.to_string()));
    out.join(",")
}

/// What is compared of a report: all of it, with the datapath actions'
/// port runs sorted when the packet was flooded or mirrored to a VLAN.
/// `Megaflow:` and `Datapath actions:` come first, so that a difference
/// there shows at the top.
fn comparable(report: &str, unordered: bool) -> String {
    let actions = megaflow_and_actions(report);
    let lines: Vec<String> = actions
        .lines()
        .chain(report.lines())
        .map(|l| match l.strip_prefix("Datapath actions: ") {
            Some(a) if unordered => format!("Datapath actions: {}", sort_port_runs(a)),
            _ => l.to_string(),
        })
        .collect();
    lines.join("\n")
}

fn vsctl_ok(sb: &Sandbox, line: &str) {
    let args: Vec<&str> = line.split(' ').collect();
    let out = sb.vsctl(&args);
    assert!(
        out.status.success(),
        "ovs-vsctl {line}: {}",
        text(&out.stderr)
    );
}

/// Runs every case on one daemon: the comparable report of each trace.
fn run_cases(name: &str, program: &Path) -> BTreeMap<String, String> {
    let mut results = BTreeMap::new();
    for c in CASES {
        // A fresh daemon per case: mirror slots, MACs and flows start over.
        let mut sb = Sandbox::new(&format!("{name}-{}", c.name)).expect("sandbox");
        sb.start_vswitchd(program, &["--enable-dummy", "--disable-system"])
            .expect("start vswitchd");
        for line in SETUP.iter().chain(c.vsctl) {
            vsctl_ok(&sb, line);
        }
        if !c.flows.is_empty() {
            let out = sb.run("ovs-ofctl", &["del-flows", "br0"]);
            assert!(out.status.success(), "del-flows: {}", text(&out.stderr));
            for f in c.flows {
                let out = sb.run("ovs-ofctl", &["add-flow", "br0", f]);
                assert!(out.status.success(), "add-flow {f}: {}", text(&out.stderr));
            }
        }
        for t in c.traces {
            if let Some(args) = t.strip_prefix("RECV ") {
                let (port, packet) = args.split_once(' ').unwrap_or_default();
                let out = sb.appctl(&["netdev-dummy/receive", port, packet]);
                assert!(out.status.success(), "receive: {}", text(&out.stderr));
                continue;
            }
            if let Some(args) = t.strip_prefix("STATS ") {
                results.insert(format!("{}/{t}", c.name), wait_stats(&sb, args));
                continue;
            }
            if let Some(args) = t.strip_prefix("FDB ") {
                let mut v = vec!["fdb/add"];
                v.extend(args.split(' '));
                let out = sb.appctl(&v);
                assert!(out.status.success(), "fdb/add: {}", text(&out.stderr));
                continue;
            }
            let out = sb.appctl(&["ofproto/trace", "br0", t]);
            let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
            let unordered = report.contains("flooding") || c.name == "output-vlan";
            results.insert(
                format!("{}/{t}", c.name),
                format!(
                    "rc={:?}\n{}",
                    out.status.code(),
                    comparable(&report, unordered)
                ),
            );
        }
        sb.stop_vswitchd();
    }
    results
}

/// `STATS MIRROR N`: the Mirror row's statistics once they count N
/// packets (written every 5 seconds), or whatever they are after 15
/// seconds.
fn wait_stats(sb: &Sandbox, args: &str) -> String {
    let (name, n) = args.split_once(' ').unwrap_or((args, "1"));
    let want = format!("tx_packets={n}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = text(&sb.vsctl(&["get", "mirror", name, "statistics"]).stdout);
        if out.contains(&want) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn mirror_traces_match_stock() {
    if !stock_ovs_available("mirror_traces_match_stock") {
        return;
    }
    let stock = run_cases("mirror-stock", Path::new(STOCK_VSWITCHD));
    let ours = run_cases("mirror-ferrovs", Path::new(FERROVS));
    let mut diffs = Vec::new();
    for (case, want) in &stock {
        let got = ours.get(case).map(String::as_str).unwrap_or("<missing>");
        if got != want {
            diffs.push(format!("{case}\n--- stock\n{want}\n--- ferrovs\n{got}\n"));
        }
    }
    // Every case must have mirrored or dropped something at least once,
    // so that the comparison is not of empty reports.
    assert!(stock.values().any(|r| r.contains("trunc(100)")));
    assert!(stock.values().any(|r| r.contains("push_vlan(vid=20")));
    assert!(stock
        .values()
        .any(|r| r.contains("reserved exclusively for mirroring")));
    assert!(stock
        .values()
        .any(|r| r.contains("tx_bytes=318, tx_packets=3")));
    assert!(stock
        .values()
        .any(|r| r.contains("Mirror truncate to ODPP_NONE")));
    assert_eq!(stock.len(), ours.len());
    assert!(
        diffs.is_empty(),
        "{} of {} traces differ:\n{}",
        diffs.len(),
        stock.len(),
        diffs.join("\n")
    );
    println!("{} mirror traces match stock", stock.len());
}

/// The MAC address of `dev` in namespace `ns`, as 12 hex digits.
fn mac_of(ns: &str, dev: &str) -> String {
    let out = text(&run(&["ip", "-n", ns, "-o", "link", "show", "dev", dev]).stdout);
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_default()
        .replace(':', "")
}

/// ICMP frames from `src_mac` (hex) seen on `dev` in `ns` while `during`
/// runs.
fn icmp_frames_seen(ns: &str, dev: &str, src_mac: &str, during: impl FnOnce()) -> usize {
    let mut child = Command::new("ip")
        .args([
            "netns", "exec", ns, "python3", RAWFRAMES, "recv", dev, "4", src_mac,
        ])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("rawframes recv");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("receiver ready line");
    assert_eq!(line.trim(), "ready", "receiver did not start");
    during();
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("receiver output");
    let _ = child.wait();
    // A JSON list of hex frames: IPv4 (0800 at byte 12) carrying ICMP
    // (protocol 1 at byte 23).
    rest.split('"')
        .filter(|f| f.len() > 48 && f.chars().all(|c| c.is_ascii_hexdigit()))
        .filter(|f| &f[24..28] == "0800" && &f[46..48] == "01")
        .count()
}

fn mirror_stats(sb: &Sandbox) -> (u64, u64) {
    let out = text(&sb.vsctl(&["get", "mirror", "m0", "statistics"]).stdout);
    let field = |k: &str| {
        out.split([',', '{', '}', ' '])
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("tx_packets"), field("tx_bytes"))
}

/// What the observer namespace saw: echo requests and replies copied
/// while the mirror was there, requests after it was removed; and the
/// Mirror row's statistics.
#[derive(Debug, PartialEq)]
struct Seen {
    requests: usize,
    replies: usize,
    after_removal: usize,
    stats_counted: bool,
}

/// With `purge`, the datapath flows are deleted once the mirror is
/// added, and again once it is removed.
fn mirror_traffic(program: &Path, topo: &Topo, tag: &str, purge: bool) -> Seen {
    let mut sb = topo.bare_sandbox(&format!("mirror-netdev-{tag}"));
    sb.start_vswitchd(program, &["--disable-system"])
        .expect("start vswitchd");
    let br = format!("fvm{}", std::process::id() % 100_000);
    let _taps = LinksGone(vec![br.clone()]);
    vsctl_ok(
        &sb,
        &format!("add-br {br} -- set bridge {br} datapath_type=netdev"),
    );
    for h in &topo.host {
        vsctl_ok(&sb, &format!("add-port {br} {h}"));
    }
    // Learn both ends first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !topo.ping(0, "10.79.0.2") {
        assert!(
            Instant::now() < deadline,
            "{tag}: no ping through the bridge"
        );
    }
    vsctl_ok(
        &sb,
        &format!(
            "-- --id=@a get port {a} -- --id=@c get port {c} -- --id=@m create mirror name=m0 select_src_port=@a select_dst_port=@a output_port=@c -- set bridge {br} mirrors=@m",
            a = topo.host[0],
            c = topo.host[2]
        ),
    );
    if purge {
        let o = sb.appctl(&["revalidator/purge"]);
        assert!(o.status.success(), "{tag}: purge: {}", text(&o.stderr));
    }
    let (a_mac, b_mac) = (
        mac_of(&topo.ns[0], &format!("{}i", topo.host[0])),
        mac_of(&topo.ns[1], &format!("{}i", topo.host[1])),
    );
    let observer = format!("{}i", topo.host[2]);
    let ping3 = || {
        let o = topo.ping_series(0, "10.79.0.2", 3, "0.2");
        assert!(o.status.success(), "{tag}: ping: {}", text(&o.stdout));
    };
    // Requests enter through a (source), replies leave through a
    // (destination).
    let requests = icmp_frames_seen(&topo.ns[2], &observer, &a_mac, ping3);
    let replies = icmp_frames_seen(&topo.ns[2], &observer, &b_mac, ping3);
    // The statistics count those 12 packets (and ARP, if any), once the
    // periodic statistics update has written them.
    let mut stats = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        stats = mirror_stats(&sb);
        if stats.0 >= 12 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("{tag}: Mirror statistics {stats:?}");
    vsctl_ok(&sb, &format!("clear bridge {br} mirrors"));
    if purge {
        let o = sb.appctl(&["revalidator/purge"]);
        assert!(o.status.success(), "{tag}: purge: {}", text(&o.stderr));
    }
    let after_removal = icmp_frames_seen(&topo.ns[2], &observer, &a_mac, ping3);
    sb.stop_vswitchd();
    Seen {
        requests,
        replies,
        after_removal,
        stats_counted: stats.0 >= 12 && stats.1 >= 12 * 98,
    }
}

#[test]
fn mirror_copies_traffic_netdev() {
    if !netns_available("mirror_copies_traffic_netdev")
        || !stock_ovs_available("mirror_copies_traffic_netdev")
    {
        return;
    }
    // Stock 3.1 does not revalidate datapath flows when a mirror is
    // added or removed (its mirror_set and mirror_destroy leave
    // need_revalidate alone): the flows of the pings before keep their
    // actions until something else makes it revalidate. Purging them
    // puts it on the same footing. Each daemon runs on a topology of its
    // own (stock's persistent taps go with its namespace), both at once.
    let (ours, stock) = ours_and_stock_isolated(
        Path::new(FERROVS),
        'm',
        3,
        |_| {},
        |program, topo, who| mirror_traffic(program, topo, who, who == "stock"),
    );
    // One copy of each packet, never two; none once the mirror is gone.
    let want = Seen {
        requests: 3,
        replies: 3,
        after_removal: 0,
        stats_counted: true,
    };
    assert_eq!(ours, want, "ferrovs");
    assert_eq!(stock, want, "stock (the same expectations hold for it)");
}
