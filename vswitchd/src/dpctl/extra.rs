//! `dpctl/offload-stats-show` and `dpctl/parse-actions`.

use ferrovs_dpif::odp::{self, FormatOptions};

use super::{opt_dp, BTreeDps, Out};

/// `offload-stats-show [dp]`: ferrovs offloads nothing to hardware. The
/// userspace datapath answers as stock's does with hardware offload off
/// (EINVAL), the kernel's as stock's dpif-netlink, which has no offload
/// statistics (EOPNOTSUPP).
pub(super) fn offload_stats_show(args: &[&str], dps: &BTreeDps<'_>, out: &mut Out) -> i32 {
    let Some(d) = opt_dp(args, dps, 2, out) else {
        return libc::EINVAL;
    };
    let errno = if d.netdev.is_some() {
        libc::EINVAL
    } else {
        libc::EOPNOTSUPP
    };
    out.error(errno, "retrieving offload statistics");
    errno
}

/// `parse-actions ACTIONS...`: each argument parsed as datapath actions
/// and printed back in the datapath's text form.
pub(super) fn parse_actions(args: &[&str], out: &mut Out) -> i32 {
    for a in args {
        let Ok(actions) = odp::parse_actions(a, None) else {
            out.error(libc::EINVAL, "odp_actions_from_string");
            return libc::EINVAL;
        };
        let mut s = String::new();
        let opts = FormatOptions {
            verbose: false,
            port_names: None,
        };
        if odp::format_actions(&actions, &opts, &mut s).is_err() {
            out.error(libc::EINVAL, "odp_actions_from_string");
            return libc::EINVAL;
        }
        s.push('\n');
        out.print(&s);
    }
    0
}
