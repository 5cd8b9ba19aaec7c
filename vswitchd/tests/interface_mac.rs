//! The Interface table's `mac` column against stock ovs-vswitchd: one
//! ovs-vsctl script on each daemon (stock ovsdb-server, each daemon in a
//! network namespace of its own), with an internal port of a `netdev`
//! bridge (a tap device) and one of a `dummy` bridge given the same
//! addresses, the bridge's own port given one, and a veth added as a
//! system port with one. After every step the tap's address (`ip link`),
//! the `mac_in_use` columns and the port's address in `ovs-ofctl show`
//! must be stock's; the bridge's own port and the veth must keep their
//! addresses; a tap address changed behind the daemon's back must be
//! set back (within the 10 s of a wait); and the errors logged (stock repeats them at every
//! reconfiguration: compared as a set) must be stock's.
//!
//! Needs root, iproute2 and the stock OVS tools: skips with a message
//! otherwise, fails under CI=true.

mod netns;

use std::path::Path;

use ferrovs_tests::netns::NetNs;
use ferrovs_tests::sandbox::{assert_same_steps, ours_then_stock, text, Sandbox};
use netns::{bridge_errors, dev_addr, must, netns_available, set_dev_addr};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

/// The script, one ovs-vsctl invocation per step (words split at
/// spaces); `p0` is brought up before the last one.
const STEPS: &[&str] = &[
    r#"add-port br0 p0 -- set Interface p0 type=internal mac="02:11:22:33:44:55" -- add-port br1 d0 -- set Interface d0 type=internal mac="02:11:22:33:44:55""#,
    r#"set Interface p0 mac="02:11:22:33:44:66" -- set Interface d0 mac="02:11:22:33:44:66""#,
    "clear Interface p0 mac -- clear Interface d0 mac",
    r#"set Interface p0 mac="bogus" -- set Interface d0 mac="bogus""#,
    r#"set Interface p0 mac="02:11:22:33:44:77" -- set Interface d0 mac="02:11:22:33:44:77""#,
    r#"set Interface p0 mac="01:00:5e:00:00:01" -- set Interface d0 mac="01:00:5e:00:00:01""#,
    r#"set Interface p0 mac="00:00:00:00:00:00" -- set Interface d0 mac="00:00:00:00:00:00""#,
    r#"set Interface p0 mac="2:11:22:33:44:8" -- set Interface d0 mac="2:11:22:33:44:8""#,
    r#"set Interface p0 mac="02:11:22:33:44:88_junk""#,
    r#"set Interface br0 mac="02:aa:bb:cc:dd:ee""#,
    r#"add-port br0 v0 -- set Interface v0 mac="02:11:22:33:44:a0""#,
    r#"set Interface p0 mac="02:11:22:33:44:d0""#,
];

fn in_use(sb: &Sandbox, iface: &str) -> String {
    text(&sb.vsctl(&["get", "Interface", iface, "mac_in_use"]).stdout)
        .trim()
        .trim_matches('"')
        .to_string()
}

/// The address `ovs-ofctl show` gives OpenFlow port `port`.
fn ofctl_addr(sb: &Sandbox, bridge: &str, port: &str) -> String {
    let show = text(&sb.run("ovs-ofctl", &["show", bridge]).stdout);
    show.lines()
        .find_map(|l| l.split_once(&format!("({port}): addr:")))
        .map_or("none".to_string(), |(_, a)| a.trim().to_string())
}

fn session(program: &Path, tag: &str) -> Vec<(String, String)> {
    let ns = NetNs::new().expect("namespace");
    let sb = Sandbox::with_vswitchd_in(
        &ns,
        &format!("ifmac-{tag}"),
        program,
        &["--enable-dummy", "--disable-system"],
    );
    let ns = ns.name();
    must(&[
        "ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v0p",
    ]);
    let v0 = dev_addr(ns, "v0");
    sb.vsctl_line(
        "add-br br0 -- set bridge br0 datapath_type=netdev -- add-br br1 -- set bridge br1 datapath_type=dummy",
    );
    let br0 = dev_addr(ns, "br0");
    let mut seen = Vec::new();
    for (n, step) in STEPS.iter().enumerate() {
        if n + 1 == STEPS.len() {
            must(&["ip", "-n", ns, "link", "set", "p0", "up"]);
        }
        sb.vsctl_line(step);
        let look = || {
            let p0 = dev_addr(ns, "p0");
            let mut s = format!(
                "p0: device {p0}, mac_in_use {}, OpenFlow {}; d0: mac_in_use {}, OpenFlow {}; ",
                in_use(&sb, "p0"),
                ofctl_addr(&sb, "br0", "p0"),
                in_use(&sb, "d0"),
                ofctl_addr(&sb, "br1", "d0"),
            );
            let now = dev_addr(ns, "br0");
            s += &format!(
                "br0: kept {}, mac_in_use is the device's {}",
                now == br0,
                in_use(&sb, "br0") == now
            );
            if step.contains("v0") {
                let now = dev_addr(ns, "v0");
                s += &format!(
                    "; v0: kept {}, mac_in_use is the device's {}",
                    now == v0,
                    in_use(&sb, "v0") == now
                );
            }
            s
        };
        // The status columns and the OpenFlow port follow the device a
        // moment after the transaction: wait until they agree (they
        // need not, without the column applied: then compare anyway).
        let mut last = look();
        let _ = sb.wait_for(
            || {
                last = look();
                let p0 = dev_addr(ns, "p0");
                in_use(&sb, "p0") == p0
                    && ofctl_addr(&sb, "br0", "p0") == p0
                    && in_use(&sb, "d0") == ofctl_addr(&sb, "br1", "d0")
            },
            "mac_in_use",
        );
        seen.push((step.to_string(), last));
    }
    // Someone else changes the tap's address: stock sets it back at
    // once (the link change starts a reconfiguration), ferrovs at its
    // next periodic refresh (5 s).
    set_dev_addr(ns, "p0", "02:00:00:00:00:99");
    let back = sb
        .wait_for(|| dev_addr(ns, "p0") == "02:11:22:33:44:d0", "p0's address")
        .is_ok();
    seen.push((
        "ip link set p0 address 02:00:00:00:00:99".to_string(),
        format!("set back {back}"),
    ));
    seen.push(("errors".to_string(), bridge_errors(&sb)));
    seen
}

#[test]
fn interface_mac_is_applied_as_stock() {
    if !netns_available("interface_mac_is_applied_as_stock") {
        return;
    }
    let Some((ours, stock)) =
        ours_then_stock("interface_mac_is_applied_as_stock", FERROVS, session)
    else {
        return;
    };
    // What this test rests on: stock sets the tap's address and refuses
    // the bridge's own port.
    assert!(
        stock[0].1.starts_with("p0: device 02:11:22:33:44:55,"),
        "stock: {stock:#?}"
    );
    assert!(
        stock.last().is_some_and(|(_, e)| e.contains(
            "interface br0: ignoring mac in Interface record (use Bridge record to set local port's mac)"
        )),
        "stock: {stock:#?}"
    );
    assert_same_steps(&ours, &stock);
}
