//! Reconfiguration stays incremental: the work of one add-port does not
//! grow with the ports already there (the daemon's `coverage/show`
//! counts the Port rows it reads and the interfaces reconfiguration looks
//! at), and after one add-port among many, the daemon's status
//! transactions update only the new interface's row, never rewrite the
//! unchanged rows of the others.
//!
//! The stock ovsdb-server logs every JSON-RPC request it receives at debug
//! level (module `jsonrpc`); the test reads the `transact` requests from
//! that log and collects the Interface rows their `update` operations name.

use std::collections::BTreeSet;
use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, Sandbox};
use ferrovs_tests::trace_diff::DUMMY_ARGS;
use ferrovs_tests::vsctl;

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const PORTS: usize = 40;

/// The UUIDs of the Interface rows named by `update` operations in the
/// `transact` requests of these ovsdb-server log lines.
fn interface_updates(log: &str) -> BTreeSet<String> {
    let mut uuids = BTreeSet::new();
    for line in log.lines().filter(|l| l.contains("method=\"transact\"")) {
        let Some(start) = line.find("params=") else {
            continue;
        };
        let rest = &line[start + "params=".len()..];
        let Some(end) = rest.rfind(", id=") else {
            continue;
        };
        let Ok(params) = serde_json::from_str::<serde_json::Value>(&rest[..end]) else {
            panic!("unparsable transact params in ovsdb-server log: {line}");
        };
        for op in params.as_array().into_iter().flatten().skip(1) {
            if op["op"] != "update" || op["table"] != "Interface" {
                continue;
            }
            if let Some(u) = op["where"][0][2][1].as_str() {
                uuids.insert(u.to_string());
            }
        }
    }
    uuids
}

/// A counter's total in `coverage/show` output (0 when not listed).
fn coverage_total(show: &str, name: &str) -> u64 {
    show.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.rsplit("total: ").next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn each_add_port_reads_and_examines_one_port_however_many_there_are() {
    if !stock_ovs_available("each_add_port_reads_and_examines_one_port_however_many_there_are") {
        return;
    }
    let sb = Sandbox::with_vswitchd("ports-work", Path::new(FERROVS), DUMMY_ARGS);
    sb.vsctl_ok(&vsctl::add_br("br0", "dummy", &[]), "add-br");
    let counters = |sb: &Sandbox| {
        let show = sb.succeeded(sb.appctl(&["coverage/show"]), "coverage/show");
        (
            coverage_total(&show, "bridge_port_read"),
            coverage_total(&show, "bridge_iface_examined"),
        )
    };
    // (Port rows read, interfaces examined) by each add-port.
    let mut work = Vec::new();
    for i in 0..PORTS {
        let before = counters(&sb);
        let port = vsctl::add_port("br0", &format!("p{i}"), &["type=dummy"]);
        sb.vsctl_ok(&port, "add-port");
        let after = counters(&sb);
        work.push((after.0 - before.0, after.1 - before.1));
    }
    let out = sb.vsctl(&["get", "Interface", &format!("p{}", PORTS - 1), "ofport"]);
    assert_eq!(sb.succeeded(out, "get ofport").trim(), PORTS.to_string());
    // The plain vsctl waited for cur_cfg, so each add's reconfiguration
    // is counted in its own step: one Port row read, one interface
    // examined, from the first add to the last.
    for (i, w) in work.iter().enumerate() {
        assert_eq!(
            *w,
            (1, 1),
            "add-port p{i} (with {i} ports already there): (Port rows read, interfaces examined); all: {work:?}"
        );
    }
    // The OpenFlow service, told of each port alone, lists them all.
    let out = sb.run("ovs-ofctl", &["show", "br0"]);
    let shown = sb.succeeded(out, "ovs-ofctl show");
    for i in 0..PORTS {
        assert!(
            shown.contains(&format!(" {}(p{i}): ", i + 1)),
            "ovs-ofctl show lacks p{i} as port {}:\n{shown}",
            i + 1
        );
    }
    // Removing one port among many is as cheap: no Port row to read,
    // one interface examined.
    let before = counters(&sb);
    sb.succeeded(sb.vsctl(&["del-port", "br0", "p7"]), "del-port");
    let after = counters(&sb);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (0, 1),
        "del-port p7"
    );
    let out = sb.run("ovs-ofctl", &["show", "br0"]);
    let shown = sb.succeeded(out, "ovs-ofctl show");
    assert!(
        !shown.contains("(p7)") && shown.contains("(p8)"),
        "ovs-ofctl show after del-port:\n{shown}"
    );
}

#[test]
fn one_add_port_among_many_updates_only_its_own_interface_row() {
    if !stock_ovs_available("one_add_port_among_many_updates_only_its_own_interface_row") {
        return;
    }
    let sb = Sandbox::with_vswitchd("ports-incr", Path::new(FERROVS), DUMMY_ARGS);
    let mut commands = vec![vsctl::add_br("br0", "dummy", &[])];
    commands.extend((0..PORTS).map(|i| vsctl::add_port("br0", &format!("p{i}"), &["type=dummy"])));
    sb.vsctl_ok(&vsctl::one_transaction(&commands), "add-br with ports");
    // The status of the first batch (and a full refresh, if one comes)
    // is written before the ovsdb-server log is watched.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let out = sb.run(
        "ovs-appctl",
        &["-t", "ovsdb-server", "vlog/set", "jsonrpc:file:dbg"],
    );
    sb.succeeded(out, "ovsdb-server vlog/set");
    let log_path = sb.dir.join("ovsdb-server.log");
    let before = std::fs::read_to_string(&log_path).unwrap_or_default().len();

    let out = sb.vsctl(&[
        "add-port",
        "br0",
        "new0",
        "--",
        "set",
        "Interface",
        "new0",
        "type=dummy",
    ]);
    sb.succeeded(out, "add-port new0");
    let out = sb.vsctl(&["get", "Interface", "new0", "_uuid"]);
    let new_uuid = sb.succeeded(out, "get _uuid").trim().to_string();
    let out = sb.vsctl(&["get", "Interface", "new0", "ofport"]);
    let ofport = sb.succeeded(out, "get ofport");
    assert_eq!(ofport.trim(), format!("{}", PORTS + 1), "new0's ofport");
    // Room for a periodic full status refresh: it must not rewrite
    // unchanged rows either.
    std::thread::sleep(std::time::Duration::from_secs(6));

    let log = std::fs::read_to_string(&log_path).expect("ovsdb-server log");
    let after = log.get(before..).unwrap_or("");
    let updated = interface_updates(after);
    assert_eq!(
        updated,
        BTreeSet::from([new_uuid]),
        "Interface rows updated after one add-port (only the new one's expected)"
    );
}
