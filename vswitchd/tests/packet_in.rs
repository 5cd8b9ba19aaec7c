//! Packet-ins raised through the datapath, against stock ovs-vswitchd.
//!
//! `packet_ins_match_stock` runs one script against ferrovs-vswitchd and
//! then stock ovs-vswitchd, as stock's own tests do: a `datapath_type=dummy`
//! bridge with dummy ports, packets injected with `netdev-dummy/receive`,
//! and the packet-ins captured by `ovs-ofctl monitor br0 65534` in three
//! formats (`-P openflow10`, `-P nxt_packet_in`, and OpenFlow 1.3):
//! - p1: `controller` (reason action, the rule's cookie);
//! - p2: registers loaded, then `controller(reason=no_match,max_len=64)`
//!   (the packet-in carries reg3);
//! - p3: `dec_ttl` on a packet with TTL 1 (reason invalid_ttl, sent only
//!   to connections that ask for it, as stock decides);
//! - p4: no flow: the table miss goes to the controller because an
//!   OpenFlow 1.0 connection is up;
//! - p5: resubmitted to table 1, whose table-miss rule (priority 0,
//!   catch-all) sends to the controller: an explicit miss (action before
//!   OpenFlow 1.3, no_match from 1.3 on).
//!
//! Three packets per port: the first is a datapath miss, the later ones
//! hit the megaflow and come up as ACTION upcalls. Each monitor's text
//! must equal stock's (so each packet gives exactly one packet-in), the
//! megaflows' actions (the `userspace` action with stock's controller
//! cookie, recirculation ids masked) must equal stock's, and ferrovs
//! must count no unhandled ACTION upcall.
//!
//! Needs the stock OVS tools: skips with a message otherwise, fails under
//! CI=true.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

// Monitor processes a test started, killed on drop.
use ferrovs_tests::sandbox::Children as Monitors;
use ferrovs_tests::sandbox::{ours_then_stock, text, Sandbox};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

const SETUP: &[&str] = &[
    "set Open_vSwitch . other_config:n-handler-threads=1",
    "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure protocols=OpenFlow10,OpenFlow13",
    "add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set interface p2 type=dummy ofport_request=2",
    "add-port br0 p3 -- set interface p3 type=dummy ofport_request=3",
    "add-port br0 p4 -- set interface p4 type=dummy ofport_request=4",
    "add-port br0 p5 -- set interface p5 type=dummy ofport_request=5",
];

const FLOWS: &[&str] = &[
    "cookie=0x11,priority=100,in_port=1,actions=controller",
    "cookie=0x22,priority=100,in_port=2,actions=load:0x5->NXM_NX_REG3[],controller(reason=no_match,max_len=64)",
    "cookie=0x33,priority=100,in_port=3,ip,actions=dec_ttl,output:4",
    "priority=100,in_port=5,actions=resubmit(,1)",
    "cookie=0x55,table=1,priority=0,actions=controller",
];

/// The monitors: file name, the options and what follows `65534`
/// (`invalid_ttl` asks for invalid_ttl packet-ins too).
const MONITORS: &[(&str, &[&str], &[&str])] = &[
    ("of10", &["-P", "openflow10"], &[]),
    ("nxt", &["-P", "nxt_packet_in"], &["invalid_ttl"]),
    ("of13", &["-O", "OpenFlow13"], &[]),
];

const PACKETS_PER_PORT: usize = 3;

fn packet(port: u8, ttl: u8) -> String {
    format!(
        "in_port({port}),eth(src=50:54:00:00:00:0{port},dst=50:54:00:00:00:09),eth_type(0x0800),\
         ipv4(src=10.0.0.{port},dst=10.0.0.9,proto=17,tos=0,ttl={ttl},frag=no),udp(src=1000,dst=2000)"
    )
}

fn count_packet_ins(s: &str) -> usize {
    s.lines().filter(|l| l.contains("PACKET_IN")).count()
}

/// What one daemon sent: each monitor's text, the datapath flows'
/// actions (recirculation ids masked, sorted), and `upcall/show`.
struct Outcome {
    monitors: Vec<(String, String)>,
    flow_actions: Vec<String>,
    upcall_show: String,
}

/// The actions of each `dpctl/dump-flows` line, recirc_id masked.
fn flow_actions(dump: &str) -> Vec<String> {
    let mut v: Vec<String> = dump
        .lines()
        .filter_map(|l| l.split_once("actions:"))
        .map(|(_, a)| {
            let a = a.trim();
            match a.find("recirc_id=") {
                Some(i) => {
                    let rest = &a[i + 10..];
                    let end = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    format!("{}N{}", &a[..i + 10], &rest[end..])
                }
                None => a.to_string(),
            }
        })
        .collect();
    v.sort();
    v
}

fn script(program: &Path, tag: &str) -> Outcome {
    let mut sb = Sandbox::new(&format!("packet-in-{tag}")).expect("sandbox");
    sb.start_vswitchd(program, &["--enable-dummy", "--disable-system"])
        .expect("start vswitchd");
    for line in SETUP {
        let args: Vec<&str> = line.split(' ').collect();
        let o = sb.vsctl(&args);
        assert!(o.status.success(), "{tag}: {line}: {}", text(&o.stderr));
    }
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains("p5 5/"),
        "ports in the datapath",
    )
    .expect("ports");
    for f in FLOWS {
        let o = sb.run("ovs-ofctl", &["add-flow", "br0", f]);
        assert!(
            o.status.success(),
            "{tag}: add-flow {f}: {}",
            text(&o.stderr)
        );
    }
    let mut monitors = Monitors(Vec::new());
    for (name, pre, post) in MONITORS {
        let out = fs::File::create(sb.dir.join(format!("{name}.txt"))).expect("monitor file");
        let child = sb
            .command("ovs-ofctl")
            .args(*pre)
            .args(["monitor", "br0", "65534"])
            .args(*post)
            // The monitor prints what it receives on stderr.
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("ovs-ofctl monitor");
        monitors.0.push(child);
    }
    let read =
        |name: &str| fs::read_to_string(sb.dir.join(format!("{name}.txt"))).unwrap_or_default();
    // Give the monitors time to connect and set their packet-in format.
    std::thread::sleep(Duration::from_millis(700));
    let mut sent_expect = 0usize;
    for port in 1..=5u8 {
        let ttl = if port == 3 { 1 } else { 64 };
        for _ in 0..PACKETS_PER_PORT {
            let o = sb.appctl(&[
                "netdev-dummy/receive",
                &format!("p{port}"),
                &packet(port, ttl),
            ]);
            assert!(o.status.success(), "{tag}: receive: {}", text(&o.stderr));
            // The nxt monitor takes every packet-in (invalid_ttl too).
            sent_expect += 1;
            let deadline = Instant::now() + Duration::from_secs(10);
            while count_packet_ins(&read("nxt")) < sent_expect && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // Late duplicates would show up now.
    std::thread::sleep(Duration::from_millis(700));
    let outcome = Outcome {
        monitors: MONITORS
            .iter()
            .map(|(n, _, _)| (n.to_string(), read(n)))
            .collect(),
        flow_actions: flow_actions(&text(&sb.appctl(&["dpctl/dump-flows"]).stdout)),
        upcall_show: text(&sb.appctl(&["upcall/show"]).stdout),
    };
    drop(monitors);
    sb.exit_alive(tag);
    outcome
}

#[test]
fn packet_ins_match_stock() {
    let Some((ours, stock)) = ours_then_stock("packet_ins_match_stock", FERROVS, script) else {
        return;
    };
    let mut failures = Vec::new();
    for ((name, o), (_, s)) in ours.monitors.iter().zip(&stock.monitors) {
        // OpenFlow 1.0: packets to the controller, no_match, table
        // misses, explicit misses, and invalid_ttl for the monitor that
        // asked; OpenFlow 1.3 gets no implicit table miss.
        let want = match name.as_str() {
            "of13" => 3,
            "nxt" => 5,
            _ => 4,
        } * PACKETS_PER_PORT;
        if count_packet_ins(s) != want {
            failures.push(format!(
                "stock's {name} monitor saw {} packet-ins, not {want}:\n{s}",
                count_packet_ins(s)
            ));
        }
        if o != s {
            failures.push(format!(
                "{name} monitor: packet-ins differ from stock\n--- ferrovs:\n{o}--- stock:\n{s}"
            ));
        }
    }
    // The megaflows carry the controller cookie as stock writes it.
    if ours.flow_actions != stock.flow_actions
        || !ours.flow_actions.iter().any(|a| a.contains("userspace("))
    {
        failures.push(format!(
            "datapath flow actions differ from stock\n--- ferrovs:\n{:#?}\n--- stock:\n{:#?}",
            ours.flow_actions, stock.flow_actions
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        ours.upcall_show.contains("(action unhandled 0)"),
        "ACTION upcalls left unhandled:\n{}",
        ours.upcall_show
    );
}
