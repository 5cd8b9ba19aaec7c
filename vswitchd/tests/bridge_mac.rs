//! A bridge's Ethernet address and datapath ID against stock
//! ovs-vswitchd: one ovs-vsctl script on each daemon (stock ovsdb-server,
//! each daemon in a network namespace of its own) with a `netdev` bridge
//! and veths as its ports, some with universally administered addresses
//! as a host's NICs have. Stock gives a bridge other_config:hwaddr, else
//! the lowest such address among its ports (a port's `mac` column, a
//! bond's first member; not its own port, not a mirror's output), else an
//! address made from the bridge's UUID: a bridge given a host's NIC keeps
//! the NIC's address (DHCP leases, switch port security), and the
//! datapath ID made from it stays across restarts (controllers know a
//! switch by it). After every step the `datapath_id` column, the
//! bridge's own port in `ovs-ofctl show` and its tap's address must be
//! stock's, the UUID's address written as `uuid` (each daemon's database
//! has its own UUIDs); so must the ERR lines, as a set (stock repeats
//! them at every reconfiguration).
//!
//! Needs root, iproute2 and the stock OVS tools: skips with a message
//! otherwise, fails under CI=true.

mod netns;

use std::path::Path;
use std::time::Duration;

use ferrovs_tests::netns::NetNs;
use ferrovs_tests::sandbox::{assert_same_steps, ours_then_stock, text, Sandbox};
use netns::{bridge_errors, dev_addr, must, netns_available, set_dev_addr};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const ARGS: &[&str] = &["--disable-system"];

/// The veths (host side, peer) and the addresses they start with.
const VETHS: &[(&str, &str)] = &[
    ("v0", "00:1b:21:aa:00:02"),
    ("v1", "00:1b:21:aa:00:01"),
    ("v2", "02:1b:21:aa:00:00"),
    ("v3", "00:1b:21:aa:00:05"),
];

/// One ovs-vsctl invocation per step.
const STEPS: &[&str] = &[
    "add-br br0 -- set bridge br0 datapath_type=netdev",
    "add-port br0 v2",
    "add-port br0 v0",
    "add-port br0 v1",
    r#"set port v1 mac="00:1b:21:aa:00:09""#,
    "set bridge br0 other_config:hwaddr=00:1b:21:bb:00:07",
    "set bridge br0 other_config:hwaddr=01:00:5e:00:00:01",
    "set bridge br0 other_config:hwaddr=00:00:00:00:00:00",
    "remove bridge br0 other_config hwaddr",
    "-- --id=@p get port v0 -- --id=@m create mirror name=m select-all=true output-port=@p -- set bridge br0 mirrors=@m",
    "clear bridge br0 mirrors",
    "add-bond br0 bond0 v3 v2b",
    "del-port br0 v0",
    "del-port br0 v1 -- del-port br0 bond0",
    "set bridge br0 other_config:datapath-id=00000000000000AB",
    "set bridge br0 other_config:datapath-id=0000000000000000",
    "remove bridge br0 other_config datapath-id",
];

/// The address stock derives from a bridge's UUID (the first six bytes of
/// the UUID as it holds one in memory, made unicast and local).
fn uuid_mac(uuid: &str) -> String {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    let part = |r: std::ops::Range<usize>| {
        u32::from_str_radix(&hex[r], 16)
            .expect("uuid hex")
            .to_le_bytes()
    };
    let (a, b) = (part(0..8), part(8..16));
    let m = [(a[0] & !1) | 2, a[1], a[2], a[3], b[0], b[1]];
    m.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn bridge_col(sb: &Sandbox, col: &str) -> String {
    text(&sb.vsctl(&["get", "Bridge", "br0", col]).stdout)
        .trim()
        .trim_matches('"')
        .to_string()
}

/// What the daemon shows of the bridge's address, with the UUID's
/// address written as `uuid`.
fn look(sb: &Sandbox, ns: &str) -> String {
    let uuid = uuid_mac(&bridge_col(sb, "_uuid"));
    let of = text(&sb.run("ovs-ofctl", &["show", "br0"]).stdout);
    let local = of
        .lines()
        .find_map(|l| l.split_once("LOCAL(br0): addr:"))
        .map_or("none".to_string(), |(_, a)| a.trim().to_string());
    let dpid = bridge_col(sb, "datapath_id");
    let uuid_dpid = format!("0000{}", uuid.replace(':', ""));
    let s = format!(
        "datapath_id {dpid}, OpenFlow LOCAL {local}, device {}",
        dev_addr(ns, "br0")
    );
    s.replace(&uuid_dpid, "uuid").replace(&uuid, "uuid")
}

fn session(program: &Path, tag: &str) -> Vec<(String, String)> {
    let ns = NetNs::new().expect("namespace");
    let mut sb = Sandbox::with_vswitchd_in(&ns, &format!("brmac-{tag}"), program, ARGS);
    let ns = ns.name();
    for (dev, mac) in VETHS {
        let peer = format!("{dev}p");
        must(&[
            "ip", "-n", ns, "link", "add", dev, "address", mac, "type", "veth", "peer", "name",
            &peer,
        ]);
    }
    must(&[
        "ip",
        "-n",
        ns,
        "link",
        "add",
        "v2b",
        "address",
        "00:1b:21:aa:00:08",
        "type",
        "veth",
        "peer",
        "name",
        "v2bp",
    ]);
    let mut seen = Vec::new();
    // The status columns follow a reconfiguration a moment later: wait
    // until two looks agree and the OpenFlow LOCAL port is the device's.
    let settled = |sb: &Sandbox| {
        let mut last = look(sb, ns);
        let _ = sb.wait_for(
            || {
                std::thread::sleep(Duration::from_millis(100));
                let now = look(sb, ns);
                let same = now == last
                    && now
                        .split(", ")
                        .nth(1)
                        .map(|l| l.replace("OpenFlow LOCAL", "device"))
                        == now.split(", ").nth(2).map(str::to_string);
                last = now;
                same
            },
            "the bridge's address",
        );
        last
    };
    for step in STEPS {
        sb.vsctl_line(step);
        seen.push((step.to_string(), settled(&sb)));
        if *step == "add-port br0 v1" {
            // A port's device takes a lower address behind the daemon's
            // back: stock picks again at the link change, ferrovs at its
            // periodic refresh (5 s).
            set_dev_addr(ns, "v0", "00:1b:21:aa:00:00");
            let _ = sb.wait_for(
                || look(&sb, ns).contains("001b21aa0000"),
                "the new lowest address",
            );
            seen.push((
                "ip link set v0 address 00:1b:21:aa:00:00".to_string(),
                settled(&sb),
            ));
        }
        if *step == "del-port br0 v0" {
            // The same database, a new daemon: the same address.
            assert!(sb.stop_vswitchd(), "{tag}: the daemon was running");
            sb.start_vswitchd(program, ARGS)
                .unwrap_or_else(|e| panic!("{tag}: restart: {e}"));
            let _ = sb.wait_for(
                || text(&sb.appctl(&["dpif/show"]).stdout).contains("v1 "),
                "the bridge after the restart",
            );
            seen.push(("restart".to_string(), settled(&sb)));
        }
    }
    seen.push(("errors".to_string(), bridge_errors(&sb)));
    sb.exit_alive(tag);
    seen
}

#[test]
fn bridge_mac_and_datapath_id_are_picked_as_stock() {
    if !netns_available("bridge_mac_and_datapath_id_are_picked_as_stock") {
        return;
    }
    let Some((ours, stock)) = ours_then_stock(
        "bridge_mac_and_datapath_id_are_picked_as_stock",
        FERROVS,
        session,
    ) else {
        return;
    };
    // What this test rests on: stock starts from the UUID's address and
    // takes its lowest port's.
    assert!(
        stock[0].1.starts_with("datapath_id uuid,"),
        "stock: {stock:#?}"
    );
    assert!(
        stock[2].1.starts_with("datapath_id 0000001b21aa0002,"),
        "stock: {stock:#?}"
    );
    assert_same_steps(&ours, &stock);
}
