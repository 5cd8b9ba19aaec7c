//! The command table of ovs-dpctl and the datapath commands (add-dp,
//! del-dp, dump-dps), with the helpers every command uses to name and open
//! datapaths. Messages and order of output follow ovs-dpctl 3.1 so that
//! scripts cannot tell the difference.

use ferrovs_dpif::netlink::NetlinkDpif;
use ferrovs_dpif::{Dpif, DpifError};

use super::ct;
use super::flows;
use super::ports::{add_if, del_if, set_if};
use super::show::{cache_get_size, cache_set_size, show};
use super::sset_order::sset_order;
use super::Ctx;

/// (name, min args, max args, read-write, handler)
type Handler = fn(&Ctx, &[String]) -> i32;
const COMMANDS: &[(&str, usize, usize, bool, Handler)] = &[
    ("add-dp", 1, usize::MAX, true, add_dp),
    ("del-dp", 1, 1, true, del_dp),
    ("add-if", 2, usize::MAX, true, add_if),
    ("del-if", 2, usize::MAX, true, del_if),
    ("set-if", 2, usize::MAX, true, set_if),
    ("dump-dps", 0, 0, false, dump_dps),
    ("show", 0, usize::MAX, false, show),
    ("dump-flows", 0, 6, false, flows::dump_flows),
    ("add-flow", 2, 3, true, flows::add_flow),
    ("mod-flow", 2, 3, true, flows::mod_flow),
    ("get-flow", 1, 2, false, flows::get_flow),
    ("del-flow", 1, 2, true, flows::del_flow_cmd),
    ("add-flows", 1, 2, true, flows::process_flows_cmd),
    ("mod-flows", 1, 2, true, flows::process_flows_cmd),
    ("del-flows", 0, 2, true, flows::del_flows),
    ("cache-get-size", 0, 1, false, cache_get_size),
    ("ct-set-limits", 1, usize::MAX, false, ct::set_limits),
    ("ct-del-limits", 1, 2, false, ct::del_limits),
    ("ct-get-limits", 0, 2, false, ct::get_limits),
    ("cache-set-size", 3, 3, true, cache_set_size),
];

/// Runs `argv` (command first); returns 0 or an errno.
pub fn run(ctx: &Ctx, argv: &[String]) -> i32 {
    let Some(name) = argv.first() else {
        ctx.error(0, "missing command name; use --help for help");
        return libc::EINVAL;
    };
    let Some(&(cmd, min, max, rw, handler)) = COMMANDS.iter().find(|c| c.0 == name) else {
        ctx.error(0, &format!("unknown command '{name}'; use --help for help"));
        return libc::EINVAL;
    };
    let n = argv.len() - 1;
    if n < min {
        ctx.error(
            0,
            &format!("'{cmd}' command requires at least {min} arguments"),
        );
        libc::EINVAL
    } else if n > max {
        ctx.error(0, &format!("'{cmd}' command takes at most {max} arguments"));
        libc::EINVAL
    } else if rw && ctx.opts.read_only {
        ctx.error(
            0,
            &format!("'{cmd}' command does not work in read only mode"),
        );
        libc::EINVAL
    } else {
        handler(ctx, argv)
    }
}

/// Splits `[TYPE@]NAME`; the type defaults to `system`.
pub(super) fn parse_dp_name(arg: &str) -> (&str, &str) {
    match arg.split_once('@') {
        Some((t, n)) => (n, t),
        None => (arg, "system"),
    }
}

/// Opens (or creates) the datapath an argument names.
pub(super) fn open_dp(arg: &str, create: bool) -> Result<NetlinkDpif, DpifError> {
    let (name, dp_type) = parse_dp_name(arg);
    if dp_type != "system" {
        log::warn!(target: "dpif", "could not create datapath {name} of unknown type {dp_type}");
        return Err(DpifError::from_errno(libc::EAFNOSUPPORT));
    }
    if create {
        NetlinkDpif::create(name)
    } else {
        NetlinkDpif::open(name)
    }
}

pub(super) fn full_name(dp: &NetlinkDpif) -> String {
    format!("system@{}", dp.name())
}

fn add_dp(ctx: &Ctx, argv: &[String]) -> i32 {
    match open_dp(&argv[1], true) {
        Ok(dp) => drop(dp),
        Err(e) => {
            ctx.error(e.errno, "add_dp");
            return e.errno;
        }
    }
    if argv.len() > 2 {
        add_if(ctx, argv)
    } else {
        0
    }
}

fn del_dp(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut dp = match open_dp(&argv[1], false) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e.errno, "opening datapath");
            return e.errno;
        }
    };
    match dp.destroy() {
        Ok(()) => 0,
        Err(e) => {
            ctx.error(e.errno, "del_dp");
            e.errno
        }
    }
}

/// The datapath names to visit for commands without a DP argument, in the
/// order ovs-dpctl visits them.
pub(super) fn all_dps() -> Result<Vec<String>, DpifError> {
    NetlinkDpif::enumerate()
        .map(|names| sset_order(&names))
        .inspect_err(|e| {
            log::warn!(target: "dpif", "failed to enumerate system datapaths: {}", errno_text(e));
        })
}

fn errno_text(e: &DpifError) -> String {
    ferrovs_dpif::netlink::strerror(e.errno)
}

/// Runs `f` on every datapath, as dps_for_each does.
pub(super) fn for_each_dp(ctx: &Ctx, f: fn(&Ctx, &mut NetlinkDpif)) -> i32 {
    let names = match all_dps() {
        Ok(n) => n,
        Err(e) => return e.errno,
    };
    let mut open_error = 0;
    for name in names {
        match NetlinkDpif::open(&name) {
            Ok(mut dp) => f(ctx, &mut dp),
            Err(e) => {
                open_error = e.errno;
                ctx.error(e.errno, &format!("opening datapath {name} failed"));
            }
        }
    }
    open_error
}

/// Whether `arg` names an existing datapath (as dp_exists does).
pub(super) fn dp_exists(arg: &str) -> bool {
    let (name, dp_type) = parse_dp_name(arg);
    dp_type == "system"
        && NetlinkDpif::enumerate().is_ok_and(|names| names.iter().any(|n| n == name))
}

/// The only datapath, for commands whose DP argument may be left out.
fn only_dp(ctx: &Ctx) -> Option<String> {
    let names = all_dps().unwrap_or_default();
    match names.as_slice() {
        [one] => Some(format!("system@{one}")),
        [] => {
            ctx.error(0, "no datapaths exist");
            None
        }
        _ => {
            ctx.error(0, "multiple datapaths, specify one");
            None
        }
    }
}

/// Opens the datapath of a command whose first argument may be a DP:
/// that one if it exists, else the only one unless the command has all
/// its `max_args` arguments (then the first one must have been the DP).
pub(super) fn opt_dp_open(ctx: &Ctx, argv: &[String], max_args: usize) -> Result<NetlinkDpif, i32> {
    let name = if argv.len() > 1 && dp_exists(&argv[1]) {
        Some(argv[1].clone())
    } else if argv.len() != max_args {
        only_dp(ctx)
    } else {
        None
    };
    let Some(name) = name else {
        ctx.error(libc::EINVAL, "datapath not found");
        return Err(libc::EINVAL);
    };
    open_dp(&name, false).map_err(|e| {
        ctx.error(e.errno, "opening datapath");
        e.errno
    })
}

fn dump_dps(ctx: &Ctx, _argv: &[String]) -> i32 {
    for_each_dp(ctx, |ctx, dp| ctx.print(&format!("{}\n", full_name(dp))))
}
