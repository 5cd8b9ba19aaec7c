//! Differential test: one ovs-vsctl script against stock ovs-vswitchd and
//! against ferrovs-vswitchd, each with its own stock ovsdb-server, both on
//! the dummy datapath. What the stock tools print afterwards must match,
//! after normalizing UUIDs, MACs and datapath IDs.
//!
//! Known, deliberate differences are dropped from the comparison and
//! listed here: `datapath_types` and `iface_types` (ferrovs lists only the
//! types it really implements).

use std::path::Path;

use ferrovs_tests::sandbox::{normalize_list, stock_ovs_available, text, Sandbox, STOCK_VSWITCHD};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

/// The script: each entry is one ovs-vsctl invocation.
const SCRIPT: &[&[&str]] = &[
    &[
        "add-br",
        "br0",
        "--",
        "set",
        "bridge",
        "br0",
        "datapath_type=dummy",
    ],
    &[
        "add-port",
        "br0",
        "p1",
        "--",
        "set",
        "interface",
        "p1",
        "type=dummy",
        "ofport_request=7",
    ],
    &[
        "add-port",
        "br0",
        "p2",
        "--",
        "set",
        "interface",
        "p2",
        "type=dummy",
    ],
    &[
        "add-port",
        "br0",
        "i3",
        "--",
        "set",
        "interface",
        "i3",
        "type=internal",
    ],
    &[
        "add-port",
        "br0",
        "vx1",
        "--",
        "set",
        "interface",
        "vx1",
        "type=vxlan",
        "options:remote_ip=10.0.0.1",
    ],
    &[
        "add-port",
        "br0",
        "gnv1",
        "--",
        "set",
        "interface",
        "gnv1",
        "type=geneve",
        "options:remote_ip=10.0.0.2",
    ],
    &[
        "add-port",
        "br0",
        "gre1",
        "--",
        "set",
        "interface",
        "gre1",
        "type=gre",
        "options:remote_ip=10.0.0.3",
    ],
    &[
        "add-br",
        "br1",
        "--",
        "set",
        "bridge",
        "br1",
        "datapath_type=dummy",
    ],
    &[
        "add-port",
        "br0",
        "patch0",
        "--",
        "set",
        "interface",
        "patch0",
        "type=patch",
        "options:peer=patch1",
    ],
    &[
        "add-port",
        "br1",
        "patch1",
        "--",
        "set",
        "interface",
        "patch1",
        "type=patch",
        "options:peer=patch0",
    ],
    // (A patch port with a missing peer is left out: stock writes its
    // error from a status pass that may or may not run after the last
    // reconfiguration cleared it. ferrovs always reports it; see
    // daemon.rs's tests.)
    // Bad rows: an unknown type and a device that does not exist.
    &[
        "add-port",
        "br0",
        "bad1",
        "--",
        "set",
        "interface",
        "bad1",
        "type=nosuchtype",
    ],
    &["add-port", "br0", "sys9"],
    &["set", "interface", "p2", "external_ids:owner=test"],
    &[
        "set",
        "bridge",
        "br0",
        "external_ids:purpose=differential",
        "other_config:foo=bar",
    ],
    &["del-port", "br0", "p2"],
    &[
        "add-port",
        "br0",
        "p3",
        "--",
        "set",
        "interface",
        "p3",
        "type=dummy",
    ],
    &["set", "interface", "vx1", "options:remote_ip=10.0.0.9"],
    // A clashing ofport_request: the second one gets another number.
    &[
        "add-port",
        "br1",
        "c1",
        "--",
        "set",
        "interface",
        "c1",
        "type=dummy",
        "ofport_request=3",
    ],
    &[
        "add-port",
        "br1",
        "c2",
        "--",
        "set",
        "interface",
        "c2",
        "type=dummy",
        "ofport_request=3",
    ],
    &[
        "add-br",
        "br2",
        "--",
        "set",
        "bridge",
        "br2",
        "datapath_type=dummy",
    ],
    &[
        "add-port",
        "br2",
        "p4",
        "--",
        "set",
        "interface",
        "p4",
        "type=dummy",
    ],
    &["del-br", "br2"],
];

/// Control commands whose replies (errors included) must match stock's.
const APPCTL: &[&[&str]] = &[
    &["nosuch"],
    &["version", "extra"],
    &["vlog/set", "nosuch:dbg"],
    &["vlog/set", "bridge:file:dbg", "x"],
    &["vlog/set", "info:dbg"],
    &["vlog/set", "console:file:dbg"],
    &["vlog/set", "PATTERN"],
    &["vlog/set", "bridge:file:warn"],
    &["vlog/set"],
    &["bridge/reconnect", "nobr"],
    &["bridge/reconnect", "br0", "extra"],
    &["bridge/reconnect"],
    &["bridge/dump-flows", "nobr"],
    &["bridge/dump-flows"],
    &["dpif/dump-dps"],
    &["exit", "a", "b"],
    &["vlog/reopen"],
];

struct Outcome {
    appctl: String,
    transcript: String,
    interfaces: String,
    bridges: String,
    ovs: String,
    dpif_show: String,
}

/// The script for `--enable-dummy=override`: every device is a dummy
/// (tunnels and system devices included), patch ports excepted.
const OVERRIDE_SCRIPT: &[&[&str]] = &[
    &["add-br", "br0"],
    &[
        "add-port",
        "br0",
        "p1",
        "--",
        "set",
        "interface",
        "p1",
        "type=dummy",
        "mtu_request=9000",
    ],
    &[
        "add-port",
        "br0",
        "i1",
        "--",
        "set",
        "interface",
        "i1",
        "type=internal",
        "mtu_request=2000",
    ],
    &[
        "add-port",
        "br0",
        "v1",
        "--",
        "set",
        "interface",
        "v1",
        "type=vxlan",
        "options:remote_ip=1.1.1.1",
        "mtu_request=1400",
    ],
    &[
        "add-port",
        "br0",
        "v2",
        "--",
        "set",
        "interface",
        "v2",
        "type=vxlan",
    ],
    &["add-port", "br0", "sys5"],
    &[
        "add-port",
        "br0",
        "pt",
        "--",
        "set",
        "interface",
        "pt",
        "type=patch",
    ],
    &[
        "add-port",
        "br0",
        "pself",
        "--",
        "set",
        "interface",
        "pself",
        "type=patch",
        "options:peer=pself",
    ],
    &[
        "add-port",
        "br0",
        "odd",
        "--",
        "set",
        "interface",
        "odd",
        "type=frobozz",
    ],
    &[
        "set",
        "bridge",
        "br0",
        "other_config:hwaddr=02:00:00:00:00:02",
    ],
    &["get", "bridge", "br0", "datapath_id"],
    &["get", "interface", "br0", "mac_in_use"],
    &["set", "interface", "p1", "mtu_request=1234"],
    &["get", "interface", "p1", "mtu"],
    &[
        "add-br",
        "br1",
        "--",
        "set",
        "bridge",
        "br1",
        "datapath_type=netdev",
    ],
    &[
        "add-port",
        "br1",
        "p9",
        "--",
        "set",
        "interface",
        "p9",
        "type=dummy",
    ],
    &["del-port", "br0", "v2"],
];

const DUMMY_ARGS: &[&str] = &[
    "--enable-dummy",
    "--disable-system",
    "--disable-system-route",
];
const OVERRIDE_ARGS: &[&str] = &["--enable-dummy=override", "--disable-system"];

/// Runs `script`; with `restart`, then restarts the daemon (SIGTERM, as a
/// service manager stops it) on the same database before looking.
fn run_script(
    name: &str,
    program: &Path,
    args: &[&str],
    script: &[&[&str]],
    restart: bool,
) -> Outcome {
    let mut sb = Sandbox::with_vswitchd(name, program, args);
    let dir = sb.dir.display().to_string();
    let mut transcript = String::new();
    for cmd in script {
        let out = sb.vsctl(cmd);
        transcript.push_str(&format!(
            "$ ovs-vsctl {}\nrc={:?}\n{}{}",
            cmd.join(" "),
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr).replace(&dir, "<dir>")
        ));
    }
    if restart {
        assert!(sb.stop_vswitchd(), "{name}: the daemon was running");
        sb.start_vswitchd(program, args)
            .unwrap_or_else(|e| panic!("{name}: restart: {e}"));
        // A change ovs-vsctl waits for: the new daemon has caught up
        // with the database once it is applied.
        let synced = sb.vsctl(&["set", "Open_vSwitch", ".", "external_ids:restarted=true"]);
        assert!(
            synced.status.success(),
            "{name}: no reconfiguration after the restart"
        );
    }
    let list = |table: &str, drop: &[&str]| {
        let out = sb.vsctl(&["list", table]);
        assert!(out.status.success(), "list {table} failed");
        normalize_list(&text(&out.stdout), drop)
    };
    let mut appctl = String::new();
    for cmd in APPCTL {
        let out = sb.appctl(cmd);
        appctl.push_str(&format!(
            "$ ovs-appctl {}\nrc={:?}\n{}{}",
            cmd.join(" "),
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        ));
    }
    let vlog = text(&sb.appctl(&["vlog/list"]).stdout);
    let bridge_levels = vlog
        .lines()
        .find(|l| l.starts_with("bridge "))
        .unwrap_or("");
    appctl.push_str(&format!("vlog/list bridge line: {bridge_levels}\n"));
    let outcome = Outcome {
        appctl,
        transcript,
        interfaces: list("Interface", &[]),
        bridges: list("Bridge", &[]),
        ovs: list("Open_vSwitch", &["datapath_types", "iface_types"]),
        dpif_show: text(&sb.appctl(&["dpif/show"]).stdout),
    };
    assert!(
        sb.vswitchd_running(),
        "{name}: daemon died; log:\n{}",
        sb.vswitchd_log()
    );
    outcome
}

/// `dpif/show` with `ofport/odp` written `ofport/_`.
fn without_odp_numbers(show: &str) -> String {
    show.lines()
        .map(|l| match l.split_once('/') {
            Some((head, rest)) if l.starts_with("    ") => {
                let tail = rest.split_once(':').map_or("", |(_, t)| t);
                format!("{head}/_:{tail}")
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn compare(what: &str, stock: &str, ours: &str) -> bool {
    if stock == ours {
        return true;
    }
    eprintln!("=== {what} differs\n--- stock\n{stock}\n--- ferrovs\n{ours}");
    let (s, o): (Vec<_>, Vec<_>) = (stock.lines().collect(), ours.lines().collect());
    for (i, (a, b)) in s.iter().zip(o.iter()).enumerate() {
        if a != b {
            eprintln!(
                "first difference at line {}:\n  stock:   {a}\n  ferrovs: {b}",
                i + 1
            );
            break;
        }
    }
    false
}

#[test]
fn same_script_same_database_as_stock() {
    if !stock_ovs_available("differential") {
        return;
    }
    let stock = run_script(
        "diff-stock",
        Path::new(STOCK_VSWITCHD),
        DUMMY_ARGS,
        SCRIPT,
        false,
    );
    let ours = run_script(
        "diff-ferrovs",
        Path::new(FERROVS),
        DUMMY_ARGS,
        SCRIPT,
        false,
    );
    assert_same(&stock, &ours);
}

/// The same, looked at after a restart on the same database: what the
/// new daemon makes of a configuration it did not build step by step
/// (port numbers, addresses, errors, status) must still be stock's.
#[test]
fn same_database_as_stock_after_a_restart() {
    if !stock_ovs_available("differential-restart") {
        return;
    }
    // Left out: the second port asking for a number another has. Stock
    // adds a bridge's ports at start in its hash table's order, so which
    // of the two gets the number after a restart is arbitrary (ferrovs:
    // the one that had it).
    let script: Vec<&[&str]> = SCRIPT
        .iter()
        .copied()
        .filter(|c| !(c.contains(&"c2") && c.contains(&"ofport_request=3")))
        .collect();
    let mut stock = run_script(
        "rst-stock",
        Path::new(STOCK_VSWITCHD),
        DUMMY_ARGS,
        &script,
        true,
    );
    let mut ours = run_script("rst-ferrovs", Path::new(FERROVS), DUMMY_ARGS, &script, true);
    // The same order makes the datapath's port numbers: a new dummy
    // datapath numbers its ports as they come.
    for o in [&mut stock, &mut ours] {
        o.dpif_show = without_odp_numbers(&o.dpif_show);
    }
    assert_same(&stock, &ours);
}

#[test]
fn override_mode_same_database_as_stock() {
    if !stock_ovs_available("differential-override") {
        return;
    }
    let stock = run_script(
        "ovr-stock",
        Path::new(STOCK_VSWITCHD),
        OVERRIDE_ARGS,
        OVERRIDE_SCRIPT,
        false,
    );
    let ours = run_script(
        "ovr-ferrovs",
        Path::new(FERROVS),
        OVERRIDE_ARGS,
        OVERRIDE_SCRIPT,
        false,
    );
    assert_same(&stock, &ours);
}

fn assert_same(stock: &Outcome, ours: &Outcome) {
    let mut ok = true;
    ok &= compare("ovs-appctl replies", &stock.appctl, &ours.appctl);
    ok &= compare("ovs-vsctl transcript", &stock.transcript, &ours.transcript);
    ok &= compare("list Interface", &stock.interfaces, &ours.interfaces);
    ok &= compare("list Bridge", &stock.bridges, &ours.bridges);
    ok &= compare("list Open_vSwitch", &stock.ovs, &ours.ovs);
    ok &= compare("dpif/show", &stock.dpif_show, &ours.dpif_show);
    assert!(
        ok,
        "ferrovs-vswitchd differs from stock ovs-vswitchd (see above)"
    );
}
