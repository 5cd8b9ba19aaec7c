//! Fail-open (`fail_mode=standalone` with a controller that cannot be
//! reached), run against ferrovs-vswitchd and then stock ovs-vswitchd
//! with the same script, comparing what the stock tools and a small
//! controller in the test see at each step:
//!
//! 1. A standalone bridge (dummy datapath, ports p1-p3) gets a controller
//!    on a TCP port nobody listens on (inactivity_probe=1000: the trigger
//!    is 3 s; out-of-band, so no in-band rules), and a rule from
//!    `ovs-ofctl`. The bridge fails open: the
//!    rule is flushed, `bridge/dump-flows` shows the hidden
//!    `priority=15790320,actions=NORMAL` rule, `ovs-ofctl dump-flows`,
//!    `dump-aggregate` and `dump-tables` do not count it, `del-flows`
//!    does not remove it, and a packet from p1 is flooded to p2 and p3.
//! 2. `set-fail-mode secure`: the hidden rule goes, a packet is dropped
//!    (its datapath flow drops it; nothing reaches p2).
//! 3. `set-fail-mode standalone`: the bridge fails open again.
//! 4. The test starts listening on the controller's port and completes
//!    the OpenFlow 1.0 handshake: the bridge stays in fail-open and sends
//!    the controller a bogus packet-in (a RARP from a Nicira address, in
//!    port LOCAL). A barrier request admits the controller: the hidden
//!    rule goes, with the datapath flow it made: the packet it flooded
//!    before reaches the controller as a table miss instead of p2.
//!
//! The `fail_open` log lines must match stock's too. Needs the stock OVS
//! tools: skips with a message otherwise, fails under CI=true.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use ferrovs_tests::controller::{unused_port, Controller, STEP};
use ferrovs_tests::pcap::frames_hex;
use ferrovs_tests::sandbox::{ours_then_stock, text, Sandbox};
use ferrovs_tests::vsctl;

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const FAIL_OPEN_RULE: &str = "priority=15790320";

/// What one daemon showed, step by step.
#[derive(Debug, PartialEq)]
struct Outcome {
    ofctl_flows: String,
    ofctl_aggregate: String,
    ofctl_table0: String,
    hidden_flows: Vec<String>,
    fail_open_trace: String,
    flooded: Vec<String>,
    credited: Vec<String>,
    secure_datapath_flow: String,
    secure_trace: String,
    bogus_packet_in: String,
    still_open_while_unadmitted: bool,
    after_recovery: Vec<String>,
    miss_packet_in: String,
    is_connected: String,
    log: Vec<String>,
}

fn packet(src: &str) -> String {
    format!(
        "in_port(1),eth(src={src},dst=50:54:00:00:00:07),eth_type(0x0800),\
         ipv4(src=192.168.0.1,dst=192.168.0.2,proto=1,tos=0,ttl=128,frag=no),icmp(type=8,code=0)"
    )
}

/// `bridge/dump-flows br0` without the table-254 rules (what ferrovs
/// lists there depends on the branch) and with durations dropped.
fn bridge_flows(sb: &Sandbox) -> Vec<String> {
    let o = sb.appctl(&["bridge/dump-flows", "br0"]);
    text(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("table_id=254"))
        .map(|l| {
            l.split(", ")
                .filter(|f| !f.starts_with("duration="))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

fn has_rule(sb: &Sandbox) -> bool {
    bridge_flows(sb).iter().any(|l| l.contains(FAIL_OPEN_RULE))
}

fn wait(sb: &Sandbox, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            sb.vswitchd_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn frames(sb: &Sandbox, port: &str) -> String {
    frames_hex(&sb.dir.join(format!("{port}-tx.pcap")))
}

fn n_frames(sb: &Sandbox, port: &str) -> usize {
    frames(sb, port).lines().filter(|l| !l.is_empty()).count()
}

/// The `fail_open` log lines from the module name on, the seconds
/// counted masked (they depend on when the daemon looked).
fn fail_open_log(sb: &Sandbox) -> Vec<String> {
    sb.vswitchd_log()
        .lines()
        .filter_map(|l| l.find("|fail_open|").map(|i| l[i + 1..].to_string()))
        .map(|l| {
            l.split(' ')
                .map(|w| {
                    if w.chars().all(|c| c.is_ascii_digit()) {
                        "N"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// An OpenFlow 1.0 packet-in, described without what is random (the
/// bogus packet's Nicira MAC address past its first three bytes).
fn describe_packet_in(body: &[u8]) -> String {
    let Some(h) = body.get(..10) else {
        return format!("short packet-in {body:02x?}");
    };
    let data = &body[10..];
    let eth_type = data.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]]));
    format!(
        "buffer_id={:#x} total_len={} in_port={:#x} reason={} data_len={} dst={:02x?} src_oui={:02x?} eth_type={:x?}",
        u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        u16::from_be_bytes([h[4], h[5]]),
        u16::from_be_bytes([h[6], h[7]]),
        h[8],
        data.len(),
        data.get(..6).unwrap_or_default(),
        data.get(6..9).unwrap_or_default(),
        eth_type,
    )
}

fn script(program: &Path, tag: &str) -> Outcome {
    let mut sb = Sandbox::with_vswitchd(
        &format!("fail-open-{tag}"),
        program,
        &["--enable-dummy", "--disable-system"],
    );
    sb.vsctl_ok(
        &vsctl::add_br("br0", "dummy", &["fail-mode=standalone"]),
        "add-br",
    );
    for p in 1..=3 {
        let pcap = sb.dir.join(format!("p{p}-tx.pcap"));
        let settings = [
            format!("ofport_request={p}"),
            "type=dummy".to_string(),
            format!("options:tx_pcap={}", pcap.display()),
        ];
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        sb.vsctl_ok(
            &vsctl::add_port("br0", &format!("p{p}"), &settings),
            "add-port",
        );
    }
    let port = unused_port();
    let target = format!("tcp:127.0.0.1:{port}");
    sb.vsctl_ok(
        &[
            "set-controller",
            "br0",
            &target,
            "--",
            "set",
            "controller",
            "br0",
            "inactivity_probe=1000",
            "max_backoff=1000",
            // In-band control (stock's default) would add its own
            // hidden rules.
            "connection_mode=out-of-band",
        ],
        "set-controller",
    );
    // A rule that failing open flushes.
    let o = sb.run(
        "ovs-ofctl",
        &["add-flow", "br0", "priority=7,arp,actions=drop"],
    );
    assert!(o.status.success(), "{tag}: add-flow: {}", text(&o.stderr));

    // 1. Fail-open.
    wait(&sb, "the fail-open rule", || has_rule(&sb));
    let ofctl = sb.run("ovs-ofctl", &["dump-flows", "br0"]);
    let ofctl_flows = text(&ofctl.stdout);
    let aggregate = sb.run("ovs-ofctl", &["dump-aggregate", "br0"]);
    let ofctl_aggregate = text(&aggregate.stdout);
    let tables = sb.run("ovs-ofctl", &["dump-tables", "br0"]);
    // Table 0's active count (its first `active=` line).
    let ofctl_table0 = text(&tables.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("active="))
        .unwrap_or_default()
        .to_string();
    // OpenFlow cannot delete it either.
    let o = sb.run("ovs-ofctl", &["del-flows", "br0"]);
    assert!(o.status.success(), "{tag}: del-flows: {}", text(&o.stderr));
    let hidden_flows = bridge_flows(&sb);
    let trace = sb.appctl(&[
        "ofproto/trace",
        "br0",
        "in_port=1,dl_src=50:54:00:00:00:05,dl_dst=50:54:00:00:00:07",
    ]);
    let fail_open_trace = text(&trace.stdout);
    let o = sb.appctl(&["netdev-dummy/receive", "p1", &packet("50:54:00:00:00:05")]);
    assert!(o.status.success(), "{tag}: receive: {}", text(&o.stderr));
    wait(&sb, "the flooded frame", || {
        n_frames(&sb, "p2") == 1 && n_frames(&sb, "p3") == 1
    });
    let flooded = vec![frames(&sb, "p2"), frames(&sb, "p3")];
    // The hidden rule's counters take the packet.
    wait(&sb, "the fail-open rule's counters", || {
        bridge_flows(&sb)
            .iter()
            .any(|l| l.contains("n_packets=1,") && l.contains(FAIL_OPEN_RULE))
    });
    let credited = bridge_flows(&sb);

    // 2. Secure mode: out of fail-open, nothing forwards.
    sb.vsctl_ok(&["set-fail-mode", "br0", "secure"], "set-fail-mode secure");
    wait(&sb, "the fail-open rule to go", || !has_rule(&sb));
    let trace = sb.appctl(&[
        "ofproto/trace",
        "br0",
        "in_port=1,dl_src=50:54:00:00:00:09,dl_dst=50:54:00:00:00:07",
    ]);
    let secure_trace = text(&trace.stdout)
        .lines()
        .filter(|l| l.starts_with("Datapath actions"))
        .collect::<Vec<_>>()
        .join("\n");
    let o = sb.appctl(&["netdev-dummy/receive", "p1", &packet("50:54:00:00:00:09")]);
    assert!(o.status.success(), "{tag}: receive: {}", text(&o.stderr));
    let mut secure_datapath_flow = String::new();
    wait(&sb, "the secure mode datapath flow", || {
        let o = sb.appctl(&["dpctl/dump-flows"]);
        secure_datapath_flow = text(&o.stdout)
            .lines()
            // (An empty table's megaflow leaves the addresses out.)
            .filter(|l| l.contains("in_port(1)"))
            .filter_map(|l| l.split(" actions:").nth(1))
            .find(|a| *a == "drop")
            .unwrap_or_default()
            .to_string();
        !secure_datapath_flow.is_empty()
    });
    assert_eq!(n_frames(&sb, "p2"), 1, "{tag}: forwarded in secure mode");

    // 3. Standalone again: out of contact long enough, fails open again.
    sb.vsctl_ok(
        &["set-fail-mode", "br0", "standalone"],
        "set-fail-mode standalone",
    );
    wait(&sb, "the fail-open rule again", || has_rule(&sb));
    // The secure mode's drop flow goes once the revalidators have seen
    // the new tables (until then it drops what it matches, in stock too).
    sb.appctl(&["revalidator/wait"]);
    // A flow that the rule makes (flooding), to be revalidated away.
    let again = packet("50:54:00:00:00:0b");
    let o = sb.appctl(&["netdev-dummy/receive", "p1", &again]);
    assert!(o.status.success(), "{tag}: receive: {}", text(&o.stderr));
    wait(&sb, "the second flooded frame", || n_frames(&sb, "p2") == 2);

    // 4. A controller comes: connected but not admitted, it gets bogus
    // packet-ins; a barrier request admits it.
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("listen on the controller port");
    let mut ctl = Controller::accept(&listener, &sb);
    let bogus = ctl.until(10);
    let bogus_packet_in = describe_packet_in(&bogus);
    let still_open_while_unadmitted = has_rule(&sb);
    ctl.send(18, 0x99, &[]);
    ctl.until(19);
    wait(&sb, "the fail-open rule to go after admission", || {
        !has_rule(&sb)
    });
    let after_recovery = bridge_flows(&sb);
    // Revalidation removes the datapath flow the rule made.
    wait(&sb, "the flooding datapath flow to go", || {
        let o = sb.appctl(&["dpctl/dump-flows"]);
        !text(&o.stdout).contains("src=50:54:00:00:00:0b")
    });
    // The same packet again: its datapath flow went with the rule.
    let o = sb.appctl(&["netdev-dummy/receive", "p1", &again]);
    assert!(o.status.success(), "{tag}: receive: {}", text(&o.stderr));
    // Bogus packet-ins have stopped; the miss comes from p1.
    let miss_packet_in = loop {
        let pi = describe_packet_in(&ctl.until(10));
        if !pi.contains("in_port=0xfffe") {
            break pi;
        }
    };
    assert_eq!(n_frames(&sb, "p2"), 2, "{tag}: forwarded after recovery");
    let is_connected = sb.vsctl_ok(&["get", "controller", "br0", "is_connected"], "get");
    let log = fail_open_log(&sb);
    drop(ctl);
    sb.exit_alive(tag);
    Outcome {
        ofctl_flows,
        ofctl_aggregate,
        ofctl_table0,
        hidden_flows,
        fail_open_trace,
        flooded,
        credited,
        secure_datapath_flow,
        secure_trace,
        bogus_packet_in,
        still_open_while_unadmitted,
        after_recovery,
        miss_packet_in,
        is_connected,
        log,
    }
}

#[test]
fn fail_open_matches_stock() {
    let Some((ours, stock)) = ours_then_stock("fail_open_matches_stock", FERROVS, script) else {
        return;
    };
    // What stock does, so that agreeing with it means something.
    assert!(
        stock
            .hidden_flows
            .iter()
            .any(|l| l.contains(FAIL_OPEN_RULE)),
        "stock: {stock:#?}"
    );
    assert!(
        !stock.ofctl_flows.contains(FAIL_OPEN_RULE),
        "stock: {stock:#?}"
    );
    assert!(
        stock.ofctl_aggregate.contains("flow_count=0"),
        "stock: {stock:#?}"
    );
    assert!(stock.ofctl_table0.contains("active=0"), "stock: {stock:#?}");
    assert!(stock.still_open_while_unadmitted, "stock: {stock:#?}");
    assert_eq!(
        stock.secure_trace, "Datapath actions: drop",
        "stock: {stock:#?}"
    );
    assert_eq!(ours, stock);
}
