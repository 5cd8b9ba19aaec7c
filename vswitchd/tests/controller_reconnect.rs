//! What a controller sees when a bridge's datapath ID changes, and on
//! `ovs-appctl bridge/reconnect`, against stock ovs-vswitchd (dummy
//! datapath, a controller of the test's own on a TCP port). OpenFlow has
//! no message for a new datapath ID, so stock drops its connections to
//! active controllers, which learn the new ID from the FEATURES_REPLY of
//! the connection the switch makes again; `bridge/reconnect` drops them
//! too. The datapath ID changes with other_config:datapath-id, and with
//! the bridge's address (a NIC added as a port). The controller's view,
//! step by step, must be stock's.
//!
//! Needs the stock OVS tools: skips with a message otherwise, fails under
//! CI=true.

use std::net::TcpListener;
use std::path::Path;

use ferrovs_tests::controller::Controller;
use ferrovs_tests::sandbox::{ours_then_stock, text, Sandbox};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
const ARGS: &[&str] = &["--enable-dummy", "--disable-system"];

fn session(program: &Path, tag: &str) -> Vec<String> {
    // Bound before the port number is used: the two daemons' sessions
    // run at the same time, and a number merely found free could be
    // found by both.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen for the switch");
    let port = listener.local_addr().expect("address").port();
    let mut sb = Sandbox::with_vswitchd(&format!("reconnect-{tag}"), program, ARGS);
    sb.vsctl_line(&format!(
        "add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure other_config:datapath-id=0000000000000001 -- set-controller br0 tcp:127.0.0.1:{port}"
    ));
    let mut seen = Vec::new();
    let mut ctl = Controller::accept(&listener, &sb);
    seen.push(format!("connected, datapath ID {:x}", ctl.datapath_id()));
    // A new datapath ID drops the connection, and the switch connects
    // again; a new address under a configured ID does not.
    let changes = [
        (
            "set bridge br0 other_config:datapath-id=0000000000000002",
            true,
        ),
        (
            "set bridge br0 other_config:hwaddr=00:1b:21:00:00:07",
            false,
        ),
        ("remove bridge br0 other_config datapath-id", true),
    ];
    for (change, drops) in changes {
        sb.vsctl_line(change);
        if drops {
            let closed = ctl.closed();
            seen.push(format!("{change}: connection closed {closed}"));
            ctl = Controller::accept(&listener, &sb);
            seen.push(format!(
                "connected again, datapath ID {:x}",
                ctl.datapath_id()
            ));
        } else {
            seen.push(format!(
                "{change}: still connected, datapath ID {:x}",
                ctl.datapath_id()
            ));
        }
    }
    let out = sb.appctl(&["bridge/reconnect", "br0"]);
    seen.push(format!(
        "bridge/reconnect br0: {:?} {}",
        out.status.code(),
        text(&out.stdout).trim()
    ));
    seen.push(format!("connection closed {}", ctl.closed()));
    ctl = Controller::accept(&listener, &sb);
    seen.push(format!(
        "connected again, datapath ID {:x}",
        ctl.datapath_id()
    ));
    let out = sb.appctl(&["bridge/reconnect", "nosuch"]);
    seen.push(format!(
        "bridge/reconnect nosuch: {:?} {}",
        out.status.code(),
        text(&out.stderr).trim()
    ));
    sb.exit_alive(tag);
    seen
}

#[test]
fn controllers_reconnect_on_a_new_datapath_id_as_stock() {
    let Some((ours, stock)) = ours_then_stock(
        "controllers_reconnect_on_a_new_datapath_id_as_stock",
        FERROVS,
        session,
    ) else {
        return;
    };
    // What this test rests on: stock drops the connection and tells the
    // new ID on the next.
    assert!(
        stock.iter().any(|s| s == "connected again, datapath ID 2"),
        "stock: {stock:#?}"
    );
    assert_eq!(ours, stock);
}
