//! OpenFlow port numbers across a daemon restart, against stock
//! ovs-vswitchd: the same ovs-vsctl script on each daemon (dummy
//! datapath, stock ovsdb-server). Stock gives an interface the number
//! the database's `ofport` column has for it when that is free
//! (`iface_pick_ofport`), so a restart keeps every port's number, also
//! where a port was deleted before it: flows saved by `ovs-save` (the
//! ovs-ctl restart) and a controller's rules keep pointing at the right
//! ports. After every step the interfaces' numbers and `ovs-ofctl show`'s
//! port list (numbers and names) must be stock's.
//!
//! Needs the stock OVS tools: skips with a message otherwise, fails under
//! CI=true.

use std::path::Path;

use ferrovs_tests::sandbox::{assert_same_steps, ours_then_stock, text, Sandbox};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// Interface names and numbers, sorted; and the ports `ovs-ofctl show`
/// lists (number and name, without the dummies' addresses, which stock
/// numbers in the order it happens to create devices).
fn look(sb: &Sandbox) -> String {
    let list = text(
        &sb.vsctl(&[
            "--format=csv",
            "--no-headings",
            "--columns=name,ofport",
            "list",
            "Interface",
        ])
        .stdout,
    );
    let mut ifaces: Vec<&str> = list.lines().collect();
    ifaces.sort();
    let show = text(&sb.run("ovs-ofctl", &["show", "br0"]).stdout);
    let ports: Vec<&str> = show
        .lines()
        .filter_map(|l| l.split_once(": addr:").map(|(p, _)| p.trim()))
        .collect();
    format!("{}; {}", ifaces.join(" "), ports.join(" "))
}

fn session(program: &Path, tag: &str) -> Vec<(String, String)> {
    let mut sb = Sandbox::with_vswitchd(&format!("ofports-{tag}"), program, ARGS);
    let mut seen = Vec::new();
    let step = |sb: &Sandbox, seen: &mut Vec<(String, String)>, line: &str| {
        sb.vsctl_line(line);
        seen.push((line.to_string(), look(sb)));
    };
    step(
        &sb,
        &mut seen,
        "add-br br0 -- set bridge br0 datapath_type=dummy",
    );
    for p in ["p1", "p2", "p3", "p4"] {
        step(
            &sb,
            &mut seen,
            &format!("add-port br0 {p} -- set interface {p} type=dummy"),
        );
    }
    step(&sb, &mut seen, "del-port br0 p2");
    step(
        &sb,
        &mut seen,
        "add-port br0 p6 -- set interface p6 type=dummy ofport_request=9",
    );
    // A service manager's restart.
    assert!(sb.stop_vswitchd(), "{tag}: the daemon was running");
    sb.start_vswitchd(program, ARGS)
        .unwrap_or_else(|e| panic!("{tag}: restart: {e}"));
    let _ = sb.wait_for(|| look(&sb).contains("p6"), "the ports after the restart");
    seen.push(("restart".to_string(), look(&sb)));
    step(
        &sb,
        &mut seen,
        "add-port br0 p5 -- set interface p5 type=dummy",
    );
    // A number another port had before the restart, asked for: the
    // request wins, as before.
    step(&sb, &mut seen, "set interface p5 ofport_request=3");
    sb.exit_alive(tag);
    seen
}

#[test]
fn ports_keep_their_numbers_across_a_restart_as_stock() {
    let Some((ours, stock)) = ours_then_stock(
        "ports_keep_their_numbers_across_a_restart_as_stock",
        FERROVS,
        session,
    ) else {
        return;
    };
    // What this test rests on: stock keeps p3 and p4 on 3 and 4.
    let restart = &stock
        .iter()
        .find(|(w, _)| w == "restart")
        .expect("restart")
        .1;
    assert!(restart.contains("p3,3 p4,4"), "stock: {stock:#?}");
    assert_same_steps(&ours, &stock);
}
