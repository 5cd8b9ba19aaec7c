//! A userspace datapath's tap devices across a daemon restart, against
//! stock ovs-vswitchd: one script on each daemon (stock ovsdb-server, each
//! daemon in a network namespace of its own). A `netdev` bridge br0 and an
//! internal port p0 get IP addresses from the host; the daemon stops with
//! SIGTERM, as a service manager stops it, and starts again. Stock keeps
//! its taps persistent, so the devices and what the host configured on
//! them outlive the daemon (an underlay address on br-phy survives a
//! restart or upgrade) and the new daemon takes them again. Deleting a
//! port deletes its tap; `exit` alone keeps them; `exit --cleanup`
//! deletes them all. After each step the devices present and their IPv4
//! addresses (`ip -4 -br addr`) must be stock's.
//!
//! Needs root, iproute2 and the stock OVS tools: skips with a message
//! otherwise, fails under CI=true.

mod netns;

use std::path::Path;
use std::time::Duration;

use ferrovs_tests::netns::NetNs;
use ferrovs_tests::sandbox::{assert_same_steps, ours_then_stock, text, Sandbox};
use netns::{must, netns_available, run};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const ARGS: &[&str] = &["--disable-system"];

/// The namespace's devices but lo, with their IPv4 addresses, one line
/// each (`ip -4 -br addr` leaves out devices without one: `ip -br link`
/// names them all).
fn devices(ns: &str) -> String {
    let links = text(&run(&["ip", "-n", ns, "-br", "link"]).stdout);
    let addrs = text(&run(&["ip", "-n", ns, "-4", "-br", "addr"]).stdout);
    let mut out: Vec<String> = links
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|d| *d != "lo")
        .map(|d| {
            let ips: Vec<&str> = addrs
                .lines()
                .filter(|a| a.split_whitespace().next() == Some(d))
                .flat_map(|a| a.split_whitespace().skip(2))
                .collect();
            format!("{d} [{}]", ips.join(" "))
        })
        .collect();
    out.sort();
    out.join(", ")
}

fn session(program: &Path, tag: &str) -> Vec<(String, String)> {
    let ns = NetNs::new().expect("namespace");
    let mut sb = Sandbox::with_vswitchd_in(&ns, &format!("taps-{tag}"), program, ARGS);
    let ns = ns.name();
    let mut seen = Vec::new();
    sb.vsctl_line(
        "add-br br0 -- set bridge br0 datapath_type=netdev -- add-port br0 p0 -- set Interface p0 type=internal",
    );
    must(&["ip", "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "br0"]);
    must(&[
        "ip",
        "-n",
        ns,
        "addr",
        "add",
        "198.51.100.1/24",
        "dev",
        "p0",
    ]);
    must(&["ip", "-n", ns, "link", "set", "br0", "up"]);
    seen.push(("configured".to_string(), devices(ns)));

    assert!(sb.stop_vswitchd(), "{tag}: the daemon was running");
    seen.push(("stopped with SIGTERM".to_string(), devices(ns)));

    sb.start_vswitchd(program, ARGS)
        .unwrap_or_else(|e| panic!("{tag}: restart: {e}"));
    // Wait until the restarted daemon has its bridge back (its ports in
    // the datapath).
    let _ = sb.wait_for(
        || text(&sb.appctl(&["dpif/show"]).stdout).contains("p0 "),
        "the bridge after the restart",
    );
    seen.push(("started again".to_string(), devices(ns)));

    sb.vsctl_line("del-port br0 p0");
    seen.push(("del-port p0".to_string(), devices(ns)));

    let _ = sb.appctl(&["exit"]);
    let _ = sb.wait_vswitchd_exit(Duration::from_secs(10));
    seen.push(("exit".to_string(), devices(ns)));

    sb.start_vswitchd(program, ARGS)
        .unwrap_or_else(|e| panic!("{tag}: second restart: {e}"));
    let _ = sb.appctl(&["exit", "--cleanup"]);
    let _ = sb.wait_vswitchd_exit(Duration::from_secs(10));
    seen.push(("exit --cleanup".to_string(), devices(ns)));
    seen
}

#[test]
fn taps_outlive_a_restart_as_stock() {
    if !netns_available("taps_outlive_a_restart_as_stock") {
        return;
    }
    let Some((ours, stock)) = ours_then_stock("taps_outlive_a_restart_as_stock", FERROVS, session)
    else {
        return;
    };
    // What this test rests on: stock's taps and their addresses outlive
    // a SIGTERM, and exit --cleanup removes them.
    assert!(
        stock[1].1.contains("br0 [192.0.2.1/24]"),
        "stock: {stock:#?}"
    );
    assert_eq!(
        stock.last().map(|s| s.1.as_str()),
        Some(""),
        "stock: {stock:#?}"
    );
    assert_same_steps(&ours, &stock);
}
