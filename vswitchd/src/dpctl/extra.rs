//! `dpctl/offload-stats-show`, `dpctl/parse-actions`, and the conntrack
//! readings `ct-get-nconns`, `ct-get-maxconns` and `ct-stats-show`.

use ferrovs_dpif::odp::{self, FormatOptions};

use ferrovs_dpif::netdev::conntrack::MAX_CONNECTIONS;

use super::{opt_dp, BTreeDps, Out, Params};

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
        let Ok(actions) = odp::parse_actions_as_stock(a, None) else {
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

/// `ct-get-nconns [dp]` and `ct-get-maxconns [dp]`: the userspace
/// datapath's connection count and limit; the kernel's are not read here
/// (stock's dpif-netlink cannot either).
pub(super) fn ct_count(args: &[&str], dps: &BTreeDps<'_>, out: &mut Out, max: bool) -> i32 {
    let Some(d) = opt_dp(args, dps, 2, out) else {
        return libc::EINVAL;
    };
    match d.netdev {
        Some(_) if max => out.print(&format!("{MAX_CONNECTIONS}\n")),
        Some(ctl) => out.print(&format!("{}\n", ctl.conntrack().dump().len())),
        None => {
            let what = if max { "maxconns" } else { "nconns" };
            out.error(libc::EOPNOTSUPP, &format!("{what} could not be retrieved"));
            return libc::EOPNOTSUPP;
        }
    }
    0
}

/// Open vSwitch's TCP connection states, in its order (`ct-stats-show`
/// lists them so).
const TCP_STATES: [&str; 11] = [
    "CLOSED",
    "LISTEN",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "CLOSE_WAIT",
    "FIN_WAIT_1",
    "CLOSING",
    "LAST_ACK",
    "FIN_WAIT_2",
    "TIME_WAIT",
];

/// `ct-stats-show [dp] [zone=N] [verbose]`: connections by protocol
/// (and with -m or `verbose`, TCP ones by state).
pub(super) fn ct_stats_show(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let mut args = args.to_vec();
    let mut verbose = p.verbosity > 0;
    let mut zone = None;
    while let Some(last) = args.last().copied() {
        if last.starts_with("verbose") {
            verbose = true;
        } else if let Some(z) = last
            .strip_prefix("zone=")
            .and_then(|z| z.parse::<u16>().ok())
        {
            zone = Some(z);
        } else {
            break;
        }
        args.pop();
    }
    let Some(d) = opt_dp(&args, dps, 2, out) else {
        return libc::EINVAL;
    };
    let Some(ctl) = d.netdev else {
        out.error(libc::EOPNOTSUPP, "starting conntrack dump");
        return libc::EOPNOTSUPP;
    };
    // Counts by protocol, in the order stock prints them.
    let mut counts = [
        ("TCP", 6u8, 0usize),
        ("UDP", 17, 0),
        ("UDPLITE", 136, 0),
        ("SCTP", 132, 0),
        ("ICMP", 1, 0),
        ("DCCP", 33, 0),
        ("IGMP", 2, 0),
    ];
    let (mut total, mut other) = (0, 0);
    let mut states = [0usize; TCP_STATES.len()];
    for c in ctl.conntrack().dump() {
        if zone.is_some_and(|z| z != c.orig.zone) {
            continue;
        }
        total += 1;
        match counts
            .iter_mut()
            .find(|(_, proto, _)| *proto == c.orig.proto)
        {
            Some(entry) => entry.2 += 1,
            // ICMPv6 is counted but never printed, as in stock.
            None if c.orig.proto == 58 => {}
            None => other += 1,
        }
        if c.orig.proto == 6 {
            let text = c.to_dpctl_text();
            let state = text
                .split("state=")
                .nth(1)
                .map(|s| s.trim_end_matches(')'))
                .unwrap_or_default();
            if let Some(i) = TCP_STATES.iter().position(|n| *n == state) {
                states[i] += 1;
            }
        }
    }
    out.print(&format!("Connections Stats:\n    Total: {total}\n"));
    for (name, proto, n) in counts {
        if n == 0 {
            continue;
        }
        out.print(&format!("  {name}: {n}\n"));
        if proto == 6 && verbose {
            out.print("    Conn per TCP states:\n");
            for (state, n) in TCP_STATES.iter().zip(states) {
                if n > 0 {
                    out.print(&format!("\t  [{state}]={n}\n"));
                }
            }
        }
    }
    if other > 0 {
        out.print(&format!("  Other: {other}\n"));
    }
    0
}
