//! `ovs-appctl` commands that stock ovs-vswitchd 3.1 offers and that the
//! older command modules did not cover, answered as stock answers them.
//!
//! - [`dump_flows`]: `bridge/dump-flows [--offload-stats] BRIDGE`.
//! - [`absent`]: commands of features ferrovs does not run (LACP, STP,
//!   RSTP, CFM, BFD, auto-attach, multicast snooping, QoS): stock's
//!   answers when none is configured, so that scripts read the same
//!   text.
//! - [`dpif_flows`]: `dpif/dump-flows`, one bridge's datapath flows.
//! - [`megaflows`]: `upcall/enable-megaflows` and `disable-megaflows`.
//! - [`memory`]: the `memory/show` figures.
//! - [`tunnels`]: `ofproto/list-tunnels`, each tunnel port and its match.
//! - [`tuning`]: `coverage/read-counter`, `upcall/set-flow-limit`,
//!   `upcall/enable-ufid|disable-ufid`, `dpctl/list-commands`,
//!   `tnl/egress_port_range`,
//!   `vlog/list-pattern`, `vlog/enable-rate-limit|disable-rate-limit`.
//!
//! What is left out, and why, is in docs/design-notes.md.

use crate::bridge::Bridges;
use crate::coverage::Coverage;

mod absent;
mod dpif_flows;
mod dump_flows;
mod megaflows;
mod memory;
mod tuning;
mod tunnels;

pub use megaflows::effective_mask;
pub use memory::show as memory_show;
pub use tuning::ufid_enabled;

/// What the commands may look at.
pub struct Ctx<'a> {
    pub bridges: &'a Bridges,
    pub coverage: &'a Coverage,
    /// The `dpctl/*` commands registered (name, usage), for
    /// `dpctl/list-commands`.
    pub dpctl_commands: &'a [(&'static str, &'static str, usize, usize)],
}

/// Name, usage, min and max argument counts (stock's).
pub const COMMANDS: &[(&str, &str, usize, usize)] = &[
    ("bridge/dump-flows", "[--offload-stats] bridge", 1, 2),
    ("ofproto/list-tunnels", "", 0, 0),
    (
        "dpif/dump-flows",
        "[-m] [--names | --no-names] bridge",
        1,
        usize::MAX,
    ),
    ("bond/set-active-slave", "", 2, 2),
    ("bond/enable-slave", "", 2, 2),
    ("bond/disable-slave", "", 2, 2),
    ("lacp/show", "[port]", 0, 1),
    ("lacp/show-stats", "[port]", 0, 1),
    ("stp/show", "[bridge]", 0, 1),
    ("stp/tcn", "[bridge]", 0, 1),
    ("rstp/show", "[bridge]", 0, 1),
    ("rstp/tcn", "[bridge]", 0, 1),
    ("cfm/show", "[interface]", 0, 1),
    ("cfm/set-fault", "[interface] normal|false|true", 1, 2),
    ("bfd/show", "[interface]", 0, 1),
    ("bfd/set-forwarding", "[interface] normal|false|true", 1, 2),
    ("autoattach/status", "[bridge]", 0, 1),
    ("autoattach/show-isid", "[bridge]", 0, 1),
    ("autoattach/statistics", "[bridge]", 0, 1),
    ("mdb/show", "bridge", 1, 1),
    ("mdb/flush", "[bridge]", 0, 1),
    ("qos/show", "interface", 1, 1),
    ("qos/show-types", "interface", 1, 1),
    ("dpif-netdev/bond-show", "[dp]", 0, 1),
    ("coverage/read-counter", "COUNTER", 1, 1),
    ("upcall/set-flow-limit", "flow-limit-number", 1, 1),
    ("upcall/enable-megaflows", "", 0, 0),
    ("upcall/disable-megaflows", "", 0, 0),
    ("upcall/enable-ufid", "", 0, 0),
    ("upcall/disable-ufid", "", 0, 0),
    ("dpctl/list-commands", "", 0, usize::MAX),
    ("tnl/egress_port_range", "min max", 0, 2),
    ("vlog/list-pattern", "", 0, 0),
    ("vlog/enable-rate-limit", "[module]...", 0, usize::MAX),
    ("vlog/disable-rate-limit", "[module]...", 0, usize::MAX),
];

/// Commands that answer but stay out of `list-commands`, as in stock 3.1
/// (deprecated names, and revalidator hooks stock registers hidden).
pub const HIDDEN: &[&str] = &[
    "bond/set-active-slave",
    "bond/enable-slave",
    "bond/disable-slave",
    "revalidator/pause",
    "revalidator/resume",
];

/// Runs `method` if it is one of [`COMMANDS`]; `None` otherwise.
pub fn run(method: &str, args: &[String], cx: &Ctx<'_>) -> Option<Result<String, String>> {
    let (group, verb) = method.split_once('/')?;
    Some(match (group, verb) {
        ("bridge", "dump-flows") => dump_flows::run(args, cx.bridges),
        ("ofproto", "list-tunnels") => Ok(tunnels::run(cx.bridges)),
        ("dpif", "dump-flows") => dpif_flows::run(args, cx.bridges),
        ("upcall", "enable-megaflows") => Ok(megaflows::run(true, cx.bridges)),
        ("upcall", "disable-megaflows") => Ok(megaflows::run(false, cx.bridges)),
        ("lacp" | "stp" | "rstp" | "cfm" | "bfd" | "autoattach" | "mdb" | "qos", _)
        | ("dpif-netdev", "bond-show") => absent::run(group, verb, args, cx.bridges)?,
        _ => tuning::run(method, args, cx)?,
    })
}
