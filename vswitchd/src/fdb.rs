//! The `fdb/*` control commands: the MAC learning tables of the bridges'
//! NORMAL action, which live in the OpenFlow service.

use ferrovs_ofproto::service::FdbRequest;

use crate::openflow::Openflow;

/// Name, usage, minimum and maximum argument counts, as stock registers
/// them.
pub const COMMANDS: &[(&str, &str, usize, usize)] = &[
    ("fdb/add", "bridge port vlan mac", 4, 4),
    ("fdb/del", "bridge vlan mac", 3, 3),
    ("fdb/flush", "[bridge]", 0, 1),
    ("fdb/show", "bridge", 1, 1),
    ("fdb/stats-clear", "[bridge]", 0, 1),
    ("fdb/stats-show", "bridge", 1, 1),
];

/// Runs `fdb/<cmd>` with `args` (already checked against `COMMANDS`).
pub fn run(openflow: &Openflow, cmd: &str, args: &[String]) -> Result<String, String> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let bridge = args.first().cloned();
    let req = match (cmd, bridge) {
        ("add", Some(bridge)) => FdbRequest::Add {
            bridge,
            port: arg(1),
            vlan: arg(2),
            mac: arg(3),
        },
        ("del", Some(bridge)) => FdbRequest::Del {
            bridge,
            vlan: arg(1),
            mac: arg(2),
        },
        ("show", Some(b)) => FdbRequest::Show(b),
        ("stats-show", Some(b)) => FdbRequest::StatsShow(b),
        ("flush", b) => FdbRequest::Flush(b),
        ("stats-clear", b) => FdbRequest::StatsClear(b),
        _ => return Err(format!("\"fdb/{cmd}\" is not implemented")),
    };
    openflow.fdb(req)
}
