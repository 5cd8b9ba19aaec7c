//! NXT_CT_FLUSH_ZONE and NXT_CT_FLUSH (`ovs-ofctl ct-flush-zone` and
//! `ct-flush`) against stock ovs-vswitchd: the same steps on each daemon
//! (stock ovsdb-server, dummy datapath, packets injected with
//! `netdev-dummy/receive` through `ct(commit,zone=N)` rules), and after
//! each flush the connections left (`dpctl/dump-conntrack`, sorted) and
//! what ovs-ofctl answered must be stock's. ovn-controller flushes a
//! zone this way when it gives the zone to another logical port.
//!
//! Flushing one 5-tuple is left out: ferrovs refuses it (OFPBRC_BAD_SUBTYPE)
//! where stock flushes the matching connections; see
//! `ofproto::switch::ct_flush`.

use std::path::Path;

use ferrovs_tests::sandbox::{assert_same_steps, ours_then_stock, text, Sandbox};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const DUMMY_ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

/// Three UDP connections, one through each of ports 1 to 3 (zones 5, 6
/// and 7).
fn connect(sb: &Sandbox) {
    for (n, port) in ["p1", "p2", "p3"].iter().enumerate() {
        let odp = sb.odp_port(port);
        let packet = format!(
            "in_port({odp}),eth(src=50:54:00:00:00:0{n},dst=50:54:00:00:00:09),eth_type(0x0800),\
             ipv4(src=10.0.0.{n},dst=10.0.0.9,proto=17,tos=0,ttl=64,frag=no),udp(src=5000,dst=53)"
        );
        sb.succeeded(
            sb.appctl(&["netdev-dummy/receive", port, &packet]),
            "receive",
        );
    }
    sb.wait_for(|| conns(sb).lines().count() == 3, "three connections")
        .unwrap_or_else(|e| panic!("{e}: {}", conns(sb)));
}

fn conns(sb: &Sandbox) -> String {
    let mut lines: Vec<String> = text(&sb.appctl(&["dpctl/dump-conntrack"]).stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines.join("\n")
}

fn session(program: &Path, tag: &str) -> Vec<(String, String)> {
    let mut sb = Sandbox::with_vswitchd(&format!("ctflush-{tag}"), program, DUMMY_ARGS);
    sb.vsctl_line(
        "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure \
         -- add-port br0 p1 -- set interface p1 type=dummy ofport_request=1 \
         -- add-port br0 p2 -- set interface p2 type=dummy ofport_request=2 \
         -- add-port br0 p3 -- set interface p3 type=dummy ofport_request=3 \
         -- add-port br0 p9 -- set interface p9 type=dummy ofport_request=9",
    );
    for (port, zone) in [(1, 5), (2, 6), (3, 7)] {
        let flow = format!("in_port={port},ip,actions=ct(commit,zone={zone}),output:9");
        sb.succeeded(sb.run("ovs-ofctl", &["add-flow", "br0", &flow]), "add-flow");
    }
    connect(&sb);
    let mut seen = vec![("connected".to_string(), conns(&sb))];
    for args in [
        &["ct-flush-zone", "br0", "5"][..],
        &["ct-flush", "br0", "zone=6"],
        &["ct-flush", "br0"],
        &["-O", "OpenFlow15", "ct-flush-zone", "br0", "7"],
    ] {
        if args.contains(&"ct-flush") && args.len() == 2 {
            // All zones: connect again first, so that there are several.
            connect(&sb);
        }
        let out = sb.run("ovs-ofctl", args);
        seen.push((
            args.join(" "),
            format!(
                "rc={:?} {}{}\n{}",
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr),
                conns(&sb)
            ),
        ));
    }
    sb.exit_alive(tag);
    seen
}

#[test]
fn conntrack_flush_messages_as_stock() {
    let Some((ours, stock)) =
        ours_then_stock("conntrack_flush_messages_as_stock", FERROVS, session)
    else {
        return;
    };
    // What this test rests on: stock had three connections and flushed
    // zone 5's.
    assert_eq!(stock[0].1.lines().count(), 3, "stock: {stock:#?}");
    assert!(!stock[1].1.contains("zone=5"), "stock: {stock:#?}");
    assert!(stock[1].1.contains("zone=6"), "stock: {stock:#?}");
    assert_same_steps(&ours, &stock);
}
