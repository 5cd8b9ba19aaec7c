//! OpenFlow features beyond the basic switch, against stock ovs-vswitchd:
//! continuations (`controller(pause)`, NXT_PACKET_IN2's continuation,
//! NXT_RESUME) and `controller(id=N)` packet-ins that go only to the
//! connections with that controller id (NXT_SET_CONTROLLER_ID).
//!
//! Each test runs one script against ferrovs-vswitchd, then stock
//! ovs-vswitchd, as stock's own tests do (`datapath_type=dummy`, dummy
//! ports writing pcap files, packets injected with
//! `netdev-dummy/receive`), and compares what `ovs-ofctl` saw.
//!
//! - `continuations_match_stock`: stock's "continuation" cases (pauses
//!   between outputs, inside resubmits and goto_table, with userdata),
//!   driven by `ovs-ofctl monitor br0 resume`, which answers every paused
//!   packet-in with NXT_RESUME: the monitor's text (every NXT_PACKET_IN2
//!   with its continuation, every NXT_RESUME sent; the bridge uuid
//!   masked), the packets each port sent, and the rules' packet counts
//!   must equal stock's. Also a malformed NXT_RESUME and a stale one
//!   (another bridge's continuation): the OFPT_ERROR must equal stock's.
//! - `controller_id_filters_packet_ins`: two monitors, one of which sets
//!   controller id 5 through `ofctl/send`; `controller(id=5)` packet-ins
//!   reach only it, plain `controller` ones only the other.
//!
//! Needs the stock OVS tools: skips with a message otherwise, fails under
//! CI=true.

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

// Monitor processes a test started, killed on drop.
use ferrovs_tests::sandbox::Children as Monitors;
use ferrovs_tests::sandbox::{ours_then_stock, stock_ovs_available, text, Sandbox};
use ferrovs_tests::vsctl;

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

fn packet(port: u8) -> String {
    format!(
        "in_port({port}),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),\
         ipv4(src=192.168.0.1,dst=192.168.0.2,proto=1,tos=0,ttl=128,frag=no),icmp(type=8,code=0)"
    )
}

/// Starts `program` in a fresh sandbox with bridge br0 (dummy datapath,
/// secure fail mode) and dummy ports p1..=pN writing pN-tx.pcap.
fn start(program: &Path, tag: &str, n_ports: u8) -> Sandbox {
    let mut sb = Sandbox::new(tag).expect("sandbox");
    sb.start_vswitchd(program, &["--enable-dummy", "--disable-system"])
        .expect("start vswitchd");
    let br_settings = [
        "fail-mode=secure",
        "protocols=OpenFlow10,OpenFlow13,OpenFlow14",
    ];
    sb.vsctl_ok(
        &vsctl::add_br("br0", "dummy", &br_settings),
        &format!("{tag}: add-br"),
    );
    for p in 1..=n_ports {
        let pcap = sb.dir.join(format!("p{p}-tx.pcap"));
        let request = format!("ofport_request={p}");
        let tx_pcap = format!("options:tx_pcap={}", pcap.display());
        let port = vsctl::add_port("br0", &format!("p{p}"), &["type=dummy", &request, &tx_pcap]);
        sb.vsctl_ok(&port, &format!("{tag}: add-port"));
    }
    let last = format!("p{n_ports} {n_ports}/");
    sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains(&last),
        "ports in the datapath",
    )
    .expect("ports");
    sb
}

fn add_flows(sb: &Sandbox, tag: &str, flows: &[&str]) {
    for f in flows {
        let o = sb.run("ovs-ofctl", &["-O", "OpenFlow13", "add-flow", "br0", f]);
        assert!(
            o.status.success(),
            "{tag}: add-flow {f}: {}",
            text(&o.stderr)
        );
    }
}

/// Starts `ovs-ofctl -O OpenFlow13 monitor br0 ARGS` printing to
/// `<name>.txt`, with a unixctl socket `<name>.ctl` for `ofctl/send`.
fn monitor(sb: &Sandbox, name: &str, args: &[&str]) -> Child {
    monitor_in(sb, "OpenFlow13", name, args)
}

/// [`monitor`] in OpenFlow version `proto`.
fn monitor_in(sb: &Sandbox, proto: &str, name: &str, args: &[&str]) -> Child {
    let out = fs::File::create(sb.dir.join(format!("{name}.txt"))).expect("monitor file");
    let ctl = sb.dir.join(format!("{name}.ctl"));
    sb.command("ovs-ofctl")
        .args(["-O", proto, "monitor", "br0"])
        .args(args)
        .arg(format!("--unixctl={}", ctl.display()))
        .stdout(Stdio::null())
        // The monitor prints what it receives and sends on stderr.
        .stderr(out)
        .spawn()
        .expect("ovs-ofctl monitor")
}

fn read(sb: &Sandbox, name: &str) -> String {
    fs::read_to_string(sb.dir.join(name)).unwrap_or_default()
}

/// Waits until `cond` holds on the file `name` (at most 10 s).
fn wait_file(sb: &Sandbox, name: &str, cond: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond(&read(sb, name)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Masks what differs between any two runs: the bridge uuid of
/// continuations.
fn normalize(s: &str) -> String {
    s.lines()
        .map(|l| match l.find("continuation.bridge=") {
            Some(i) => format!("{}continuation.bridge=UUID", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rules with their packet counts (durations dropped), sorted.
fn flow_counts(sb: &Sandbox) -> Vec<String> {
    let o = sb.run("ovs-ofctl", &["-O", "OpenFlow13", "dump-flows", "br0"]);
    let mut v: Vec<String> = text(&o.stdout)
        .lines()
        .filter(|l| l.contains("n_packets"))
        .map(|l| {
            l.split(", ")
                .filter(|f| !f.trim_start().starts_with("duration="))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    v.sort();
    v
}

/// An OpenFlow 1.3 Nicira message of `subtype` with body `body` (hex),
/// in hex, for `ofctl/send`.
fn nx_hex(subtype: u32, body: &str) -> String {
    let len = 16 + body.len() / 2;
    format!("0404{len:04x}00000000000023200000{subtype:04x}{body}")
}

/// A property of type `ty` with payload `payload` (hex), padded to 8.
fn prop_hex(ty: u16, payload: &str) -> String {
    let len = 4 + payload.len() / 2;
    let pad = len.next_multiple_of(8) - len;
    format!("{ty:04x}{len:04x}{payload}{}", "00".repeat(pad))
}

fn stop(mut sb: Sandbox, tag: &str) {
    sb.exit_alive(tag);
}

/// Stock's continuation cases, 5 ports, packets from p1: (name, flows,
/// pauses the packet meets).
const PAUSE_CASES: &[(&str, &[&str], usize)] = &[
    // Pauses between outputs, at the end of a table, inside resubmit and
    // after goto_table, with userdata on one.
    (
        "pipeline",
        &[
            "table=0,in_port=1,actions=controller(pause),output:2,controller(pause),resubmit(,1),controller(pause,userdata=01.02.03),output:5",
            "table=1,in_port=1,actions=controller(pause),output:3,goto_table:2",
            "table=2,in_port=1,actions=controller(pause),output:4,controller(pause)",
        ],
        6,
    ),
    // The action set survives a pause and runs at the end.
    (
        "action set",
        &[
            "table=0,in_port=1,actions=output:2,controller(pause),resubmit(,1),controller(pause),output:3",
            "table=1,in_port=1,actions=write_actions(output:4)",
        ],
        2,
    ),
    // write_metadata and goto_table after a pause, registers across one.
    (
        "metadata",
        &[
            "table=0,in_port=1,actions=controller(pause),load:0x5->NXM_NX_REG1[],output:2,write_metadata:0x1/0x1,goto_table:1",
            "table=1,in_port=1,metadata=0x1/0x1,reg1=0x5,actions=controller(pause),output:3,controller(pause),output:4",
        ],
        3,
    ),
];

struct PauseOutcome {
    monitor: String,
    pcaps: Vec<String>,
    flows: Vec<String>,
    errors: String,
}

/// One case with the resuming monitor in OpenFlow version `proto`; the
/// hostile NXT_RESUMEs go too when `hostile`.
fn pause_script(
    program: &Path,
    tag: &str,
    proto: &str,
    (flows, n_pauses): (&[&str], usize),
    hostile: bool,
) -> PauseOutcome {
    let sb = start(program, &format!("gaps-pause-{tag}"), 5);
    add_flows(&sb, tag, flows);
    let mut monitors = Monitors(vec![monitor_in(&sb, proto, "resume", &["resume"])]);
    std::thread::sleep(Duration::from_millis(700));
    let o = sb.appctl(&["netdev-dummy/receive", "p1", &packet(1)]);
    assert!(o.status.success(), "{tag}: receive: {}", text(&o.stderr));
    wait_file(&sb, "resume.txt", |s| {
        s.matches("NXT_RESUME").count() >= n_pauses
    });
    // Late extra packet-ins would show up now.
    std::thread::sleep(Duration::from_millis(500));
    let seen = normalize(&read(&sb, "resume.txt"));
    let pcaps = (2..=5)
        .map(|p| {
            let file = sb.dir.join(format!("p{p}-tx.pcap"));
            let o = sb.run("ovs-ofctl", &["parse-pcap", &file.display().to_string()]);
            format!("p{p}: {}", text(&o.stdout))
        })
        .collect();
    let flows = flow_counts(&sb);
    if !hostile {
        drop(monitors);
        stop(sb, tag);
        return PauseOutcome {
            monitor: seen,
            pcaps,
            flows,
            errors: String::new(),
        };
    }
    // Hostile NXT_RESUMEs through a second monitor's connection: a
    // truncated property, an unknown property, no packet, and a
    // continuation of another bridge (uuid all ones).
    monitors.0.push(monitor(&sb, "bad", &[]));
    std::thread::sleep(Duration::from_millis(500));
    let ctl = sb.dir.join("bad.ctl").display().to_string();
    let frame = "505400000007505400000005080045000014000000004001f93ec0a80001c0a80002";
    let bad = [
        // A property claiming more bytes than the message has.
        nx_hex(28, "0000004000000000"),
        // An unknown property type, and an experimenter one.
        nx_hex(28, "0077000400000000"),
        nx_hex(28, "ffff000c000023200000000100000000"),
        // Only a reason property: no packet.
        nx_hex(28, "0005000501000000"),
        // A packet and a continuation of bridge ff..ff from odp port 1.
        {
            let inner = prop_hex(0x8000, &"ff".repeat(16)) + &prop_hex(0x8008, "00000001");
            let cont = format!("0008{:04x}00000000{inner}", 8 + inner.len() / 2);
            nx_hex(28, &(prop_hex(0, frame) + &cont))
        },
    ];
    for hex in &bad {
        let _ = sb.run("ovs-appctl", &["-t", &ctl, "ofctl/send", hex]);
    }
    wait_file(&sb, "bad.txt", |s| {
        s.lines().filter(|l| l.starts_with("OFPT_ERROR")).count() >= bad.len()
    });
    let errors = read(&sb, "bad.txt")
        .lines()
        // The errors received, in order (how they interleave with what
        // ofctl/send prints of the requests is timing).
        .filter(|l| l.starts_with("OFPT_ERROR"))
        .map(str::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    drop(monitors);
    stop(sb, tag);
    PauseOutcome {
        monitor: seen,
        pcaps,
        flows,
        errors,
    }
}

#[test]
fn continuations_match_stock() {
    let test = "continuations_match_stock";
    if !stock_ovs_available(test) {
        return;
    }
    let mut failures = Vec::new();
    for proto in ["OpenFlow10", "OpenFlow13"] {
        for (k, (name, flows, n_pauses)) in PAUSE_CASES.iter().enumerate() {
            let case = (*flows, *n_pauses);
            let hostile = k == 0 && proto == "OpenFlow13";
            // Both daemons at the same time.
            let Some((ours, stock)) = ours_then_stock(test, FERROVS, |program, who| {
                pause_script(program, who, proto, case, hostile)
            }) else {
                return;
            };
            let what = format!("{name} ({proto} monitor)");
            let resumes = stock.monitor.matches("NXT_RESUME").count();
            if resumes != *n_pauses {
                failures.push(format!(
                    "{what}: stock sent {resumes} NXT_RESUMEs, not {n_pauses}:\n{}",
                    stock.monitor
                ));
            }
            if ours.monitor != stock.monitor {
                failures.push(format!(
                    "{what}: monitor differs from stock\n--- ferrovs:\n{}\n--- stock:\n{}",
                    ours.monitor, stock.monitor
                ));
            }
            if ours.pcaps != stock.pcaps {
                failures.push(format!(
                    "{what}: packets sent differ\n--- ferrovs:\n{:#?}\n--- stock:\n{:#?}",
                    ours.pcaps, stock.pcaps
                ));
            }
            if ours.flows != stock.flows {
                failures.push(format!(
                    "{what}: rule counters differ\n--- ferrovs:\n{:#?}\n--- stock:\n{:#?}",
                    ours.flows, stock.flows
                ));
            }
            if ours.errors != stock.errors || (hostile && stock.errors.is_empty()) {
                failures.push(format!(
                    "{what}: NXT_RESUME errors differ\n--- ferrovs:\n{}\n--- stock:\n{}",
                    ours.errors, stock.errors
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What each monitor saw.
fn controller_id_script(program: &Path, tag: &str) -> (String, String) {
    let sb = start(program, &format!("gaps-ctlid-{tag}"), 2);
    add_flows(
        &sb,
        tag,
        &[
            "in_port=1,actions=controller(id=5)",
            "in_port=2,actions=controller",
        ],
    );
    let monitors = Monitors(vec![
        monitor(&sb, "id0", &["65534"]),
        monitor(&sb, "id5", &["65534"]),
    ]);
    std::thread::sleep(Duration::from_millis(700));
    // NXT_SET_CONTROLLER_ID 5 (OpenFlow 1.3).
    let ctl = sb.dir.join("id5.ctl").display().to_string();
    let o = sb.run(
        "ovs-appctl",
        &["-t", &ctl, "ofctl/send", &nx_hex(20, "0000000000000005")],
    );
    assert!(o.status.success(), "{tag}: ofctl/send: {}", text(&o.stderr));
    // A barrier makes sure the id is set before packets come.
    let _ = sb.run("ovs-appctl", &["-t", &ctl, "ofctl/barrier"]);
    for p in [1u8, 2] {
        let o = sb.appctl(&["netdev-dummy/receive", &format!("p{p}"), &packet(p)]);
        assert!(o.status.success(), "{tag}: receive: {}", text(&o.stderr));
    }
    wait_file(&sb, "id0.txt", |s| s.contains("PACKET_IN"));
    wait_file(&sb, "id5.txt", |s| s.contains("PACKET_IN"));
    std::thread::sleep(Duration::from_millis(500));
    let out = (read(&sb, "id0.txt"), read(&sb, "id5.txt"));
    drop(monitors);
    stop(sb, tag);
    out
}

#[test]
fn controller_id_filters_packet_ins() {
    let Some((ours, stock)) = ours_then_stock(
        "controller_id_filters_packet_ins",
        FERROVS,
        controller_id_script,
    ) else {
        return;
    };
    let count = |s: &str| s.matches("PACKET_IN").count();
    assert_eq!(
        (count(&stock.0), count(&stock.1)),
        (1, 1),
        "stock's monitors:\n{}\n{}",
        stock.0,
        stock.1
    );
    assert!(
        stock.0.contains("in_port=2") && stock.1.contains("in_port=1"),
        "stock:\n{}\n{}",
        stock.0,
        stock.1
    );
    assert_eq!(ours.0, stock.0, "the id 0 monitor differs from stock");
    assert_eq!(ours.1, stock.1, "the id 5 monitor differs from stock");
}

/// Every queue request of ovs-ofctl in three protocols, before and after
/// a QoS row with a queue is set on p1, with `xid`s masked.
fn queue_script(program: &Path, tag: &str) -> String {
    let sb = start(program, &format!("gaps-queues-{tag}"), 7);
    let requests: &[&[&str]] = &[
        &["queue-stats", "br0"],
        &["queue-stats", "br0", "1"],
        &["queue-stats", "br0", "1", "5"],
        &["queue-stats", "br0", "ALL", "5"],
        &["queue-stats", "br0", "LOCAL"],
        &["queue-stats", "br0", "9"],
        &["queue-get-config", "br0"],
        &["queue-get-config", "br0", "1"],
        &["queue-get-config", "br0", "1", "5"],
        &["queue-get-config", "br0", "LOCAL"],
        &["queue-get-config", "br0", "9"],
    ];
    let mut out = String::new();
    for qos in [false, true] {
        if qos {
            let o = sb.vsctl(&[
                "set",
                "port",
                "p1",
                "qos=@q",
                "--",
                "--id=@q",
                "create",
                "qos",
                "type=linux-htb",
                "queues:5=@q5",
                "--",
                "--id=@q5",
                "create",
                "queue",
                "other_config:max-rate=1000000",
            ]);
            assert!(o.status.success(), "{tag}: qos: {}", text(&o.stderr));
            // Let the daemon apply it.
            let _ = sb.appctl(&["revalidator/wait"]);
        }
        for proto in ["OpenFlow10", "OpenFlow13", "OpenFlow14"] {
            for req in requests {
                let o = sb.run("ovs-ofctl", &[&["-O", proto], *req].concat());
                out.push_str(&format!(
                    "qos={qos} -O {proto} {}: {}{}\n",
                    req.join(" "),
                    text(&o.stdout),
                    text(&o.stderr)
                ));
            }
        }
    }
    stop(sb, tag);
    mask_xids(&out)
}

/// `xid=0x...` as `xid=X`.
fn mask_xids(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("xid=0x") {
        out.push_str(&rest[..i + 4]);
        out.push('X');
        let tail = &rest[i + 6..];
        let end = tail
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn queue_requests_match_stock() {
    let Some((ours, stock)) = ours_then_stock("queue_requests_match_stock", FERROVS, queue_script)
    else {
        return;
    };
    assert!(
        stock.contains("OFPST_QUEUE reply") || stock.contains("queue stats reply"),
        "stock answered no queue request:\n{stock}"
    );
    assert_eq!(ours, stock, "queue requests differ from stock");
}

/// Runs `ovs-ofctl ARGS` and returns what it printed (both streams).
fn ofctl(sb: &Sandbox, args: &[&str]) -> String {
    let o = sb.run("ovs-ofctl", args);
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// Creates a Flow_Table row with `columns` and points table `table` of
/// br0 at it; returns its uuid.
fn flow_table(sb: &Sandbox, tag: &str, table: u8, columns: &[&str]) -> String {
    // Flow_Table is not a root table: the row and its reference go in
    // one transaction.
    let mut args = vec!["--", "--id=@ft", "create", "Flow_Table"];
    args.extend(columns);
    let set = format!("flow_tables:{table}=@ft");
    args.extend(["--", "set", "bridge", "br0", &set]);
    let o = sb.vsctl(&args);
    assert!(o.status.success(), "{tag}: create: {}", text(&o.stderr));
    let o = sb.vsctl(&["get", "bridge", "br0", &format!("flow_tables:{table}")]);
    assert!(o.status.success(), "{tag}: get: {}", text(&o.stderr));
    text(&o.stdout).trim().to_string()
}

/// The table-related answers of one daemon, in order, with the
/// commands that gave them.
fn eviction_script(program: &Path, tag: &str) -> String {
    let sb = start(program, &format!("gaps-evict-{tag}"), 2);
    let mut out = String::new();
    let mut step = |what: &str, s: String| out.push_str(&format!("## {what}\n{s}"));
    let of14 = |args: &[&str]| -> Vec<String> {
        ["-O", "OpenFlow14"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    let run14 = |sb: &Sandbox, args: &[&str]| {
        let a = of14(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ofctl(sb, &a)
    };
    let flows = |sb: &Sandbox| run14(sb, &["dump-flows", "--no-stats", "--sort", "br0"]);

    // A table of three that refuses more.
    let t0 = flow_table(
        &sb,
        tag,
        0,
        &["name=small", "flow_limit=3", "overflow_policy=refuse"],
    );
    for p in 1..=4 {
        let f = format!("priority={p},hard_timeout={},actions=drop", 100 * p);
        step(
            &format!("refuse: add {f}"),
            run14(&sb, &["add-flow", "br0", &f]),
        );
    }
    // Replacing a rule needs no room.
    step(
        "refuse: replace",
        run14(
            &sb,
            &[
                "add-flow",
                "br0",
                "priority=1,hard_timeout=100,actions=output:1",
            ],
        ),
    );
    step("refuse: flows", flows(&sb));
    let tables = ofctl(&sb, &["dump-tables", "br0"]);
    step(
        "refuse: dump-tables table 0",
        tables.lines().take(6).map(|l| format!("{l}\n")).collect(),
    );
    let tables13 = ofctl(&sb, &["-O", "OpenFlow13", "dump-tables", "br0"]);
    step(
        "refuse: dump-tables OF1.3 table 0",
        tables13.lines().take(6).map(|l| format!("{l}\n")).collect(),
    );
    let desc = run14(&sb, &["dump-table-desc", "br0"]);
    step(
        "refuse: dump-table-desc",
        desc.lines().take(4).map(|l| format!("{l}\n")).collect(),
    );

    // The same table evicts: least important first, then soonest to
    // expire; rules without timeouts stay.
    let o = sb.vsctl(&["set", "Flow_Table", &t0, "overflow_policy=evict"]);
    assert!(o.status.success(), "{tag}: evict: {}", text(&o.stderr));
    let _ = run14(&sb, &["del-flows", "br0"]);
    for f in [
        "priority=1,hard_timeout=1000,importance=5,actions=drop",
        "priority=2,hard_timeout=500,importance=1,actions=drop",
        "priority=3,hard_timeout=300,importance=1,actions=drop",
        "priority=4,actions=drop",
        "priority=5,idle_timeout=2000,importance=9,actions=drop",
        "priority=6,actions=drop",
        "priority=7,actions=drop",
        "priority=8,actions=drop",
    ] {
        step(
            &format!("evict: add {f}"),
            run14(&sb, &["add-flow", "br0", f]),
        );
        step("evict: flows", flows(&sb));
    }

    // Eviction groups: the largest group loses a rule first.
    let _t1 = flow_table(
        &sb,
        tag,
        1,
        &[
            "name=grouped",
            "flow_limit=4",
            "overflow_policy=evict",
            "groups=\"NXM_OF_IN_PORT[]\"",
        ],
    );
    for f in [
        "table=1,priority=1,in_port=1,hard_timeout=500,actions=drop",
        "table=1,priority=2,in_port=1,hard_timeout=400,actions=drop",
        "table=1,priority=3,in_port=1,hard_timeout=600,actions=drop",
        "table=1,priority=4,in_port=2,hard_timeout=10,actions=drop",
        "table=1,priority=5,in_port=2,hard_timeout=900,actions=drop",
    ] {
        step(
            &format!("groups: add {f}"),
            run14(&sb, &["add-flow", "br0", f]),
        );
    }
    step("groups: flows", flows(&sb));
    // A lower limit evicts at once.
    let o = sb.vsctl(&["remove", "bridge", "br0", "flow_tables", "1"]);
    assert!(o.status.success(), "{tag}: unset: {}", text(&o.stderr));
    let _t1b = flow_table(
        &sb,
        tag,
        1,
        &["name=lower", "flow_limit=2", "overflow_policy=evict"],
    );
    std::thread::sleep(Duration::from_millis(300));
    step("lower limit: flows", flows(&sb));

    // Table 2 refuses per its row, until OpenFlow 1.4 turns eviction on.
    let _t2 = flow_table(&sb, tag, 2, &["flow_limit=1"]);
    let add2 = |sb: &Sandbox, p: u32| {
        let f = format!("table=2,priority={p},hard_timeout={},actions=drop", 100 * p);
        run14(sb, &["add-flow", "br0", &f])
    };
    step("table 2: add 1", add2(&sb, 1));
    step("table 2: add 2", add2(&sb, 2));
    step(
        "mod-table evict",
        run14(&sb, &["mod-table", "br0", "2", "evict"]),
    );
    step("table 2: add 3", add2(&sb, 3));
    step("table 2: flows", flows(&sb));
    let desc = run14(&sb, &["dump-table-desc", "br0"]);
    step(
        "dump-table-desc tables 0-2",
        desc.lines().take(13).map(|l| format!("{l}\n")).collect(),
    );
    stop(sb, tag);
    mask_xids(&out)
}

#[test]
fn flow_table_limits_and_eviction_match_stock() {
    let Some((ours, stock)) = ours_then_stock(
        "flow_table_limits_and_eviction_match_stock",
        FERROVS,
        eviction_script,
    ) else {
        return;
    };
    assert!(
        stock.contains("OFPFMFC_TABLE_FULL"),
        "stock refused nothing:\n{stock}"
    );
    if ours != stock {
        let diff: Vec<String> = ours
            .lines()
            .zip(stock.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("ferrovs: {a}\nstock:   {b}"))
            .collect();
        panic!(
            "table limits differ from stock:\n{}\n--- ferrovs:\n{ours}\n--- stock:\n{stock}",
            diff.join("\n")
        );
    }
}
