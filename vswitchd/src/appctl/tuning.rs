//! Small commands that read or tune the daemon: `coverage/read-counter`,
//! `upcall/set-flow-limit`, `upcall/enable-ufid|disable-ufid`,
//! `dpctl/list-commands`, `tnl/egress_port_range`, `vlog/list-pattern` and
//! `vlog/enable-rate-limit|disable-rate-limit`.

use std::sync::atomic::{AtomicBool, Ordering};

use super::Ctx;

/// `upcall/enable-ufid` and `disable-ufid`, shown by `upcall/show`.
/// Flows are installed with UFIDs either way, and the revalidators dump
/// whole flows either way (stock asks a datapath that knows UFIDs for
/// terse dumps only while this is on), so nothing else reads it.
static UFID_ENABLED: AtomicBool = AtomicBool::new(true);

pub fn ufid_enabled() -> bool {
    UFID_ENABLED.load(Ordering::Relaxed)
}

pub fn run(method: &str, args: &[String], cx: &Ctx<'_>) -> Option<Result<String, String>> {
    Some(match method {
        "coverage/read-counter" => {
            let name = args.first().map(String::as_str).unwrap_or_default();
            cx.coverage
                .read(name)
                .map(|n| n.to_string())
                .ok_or_else(|| "No such counter".to_string())
        }
        "upcall/set-flow-limit" => {
            let limit = atoi(args.first().map(String::as_str).unwrap_or_default()) as u32;
            for h in cx.bridges.handlers.values() {
                h.set_flow_limit(Some(limit));
            }
            Ok(format!("set flow_limit to {limit}"))
        }
        "upcall/enable-ufid" => {
            UFID_ENABLED.store(true, Ordering::Relaxed);
            Ok("Datapath dumping tersely using UFID enabled for supported datapaths".into())
        }
        "upcall/disable-ufid" => {
            UFID_ENABLED.store(false, Ordering::Relaxed);
            Ok("Datapath dumping tersely using UFID disabled".into())
        }
        "dpctl/list-commands" => Ok(dpctl_list(cx.dpctl_commands)),
        "vlog/list-pattern" => Ok(PATTERNS.into()),
        "tnl/egress_port_range" => Ok(egress_port_range(args)),
        "vlog/enable-rate-limit" | "vlog/disable-rate-limit" => check_modules(args),
        _ => return None,
    })
}

/// C's `atoi`: optional white space and sign, then decimal digits; no
/// digits is 0, and the value wraps as a C int would.
fn atoi(s: &str) -> i32 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i32, |v, d| {
            v.wrapping_mul(10).wrapping_add(i32::from(d - b'0'))
        });
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// `tnl/egress_port_range [MIN MAX]`: shows or sets the UDP source
/// ports of the userspace datapath's encapsulated packets (the kernel
/// picks its own). Bad bounds are a successful reply, as in stock.
fn egress_port_range(args: &[String]) -> String {
    let [min, max] = args else {
        let (min, max) = ferrovs_netdev::tunnel::egress_port_range();
        return format!("Tunnel UDP source port range: {min}-{max}");
    };
    let bound = |s: &str| u16::try_from(atoi(s)).ok().filter(|v| *v > 0);
    let Some(min) = bound(min) else {
        return "Invalid min.".into();
    };
    let Some(max) = bound(max) else {
        return "Invalid max.".into();
    };
    ferrovs_netdev::tunnel::set_egress_port_range(min, max);
    "OK".into()
}

/// Stock's `dpctl/list-commands` lists its dpctl table in this order;
/// the commands registered here keep it.
const DPCTL_ORDER: &[&str] = &[
    "add-dp",
    "del-dp",
    "add-if",
    "del-if",
    "set-if",
    "dump-dps",
    "show",
    "dump-flows",
    "add-flow",
    "mod-flow",
    "get-flow",
    "del-flow",
    "add-flows",
    "mod-flows",
    "del-flows",
    "offload-stats-show",
    "dump-conntrack",
    "flush-conntrack",
    "cache-get-size",
    "cache-set-size",
    "ct-stats-show",
    "ct-bkts",
    "ct-set-maxconns",
    "ct-get-maxconns",
    "ct-get-nconns",
    "ct-enable-tcp-seq-chk",
    "ct-disable-tcp-seq-chk",
    "ct-get-tcp-seq-chk",
    "ct-set-limits",
    "ct-del-limits",
    "ct-get-limits",
    "ipf-set-enabled",
    "ipf-set-disabled",
    "ipf-set-min-frag",
    "ipf-set-max-nfrags",
    "ipf-get-status",
    "list-commands",
    "parse-actions",
    "normalize-actions",
];

fn dpctl_list(registered: &[(&str, &str, usize, usize)]) -> String {
    let mut s = String::from("The available commands are:\n");
    for verb in DPCTL_ORDER {
        let name = format!("dpctl/{verb}");
        let usage = if *verb == "list-commands" {
            Some("")
        } else {
            registered
                .iter()
                .find(|(n, ..)| *n == name)
                .map(|(_, u, ..)| *u)
        };
        if let Some(usage) = usage {
            s.push_str(&format!("  {name:<29} {usage}\n"));
        }
    }
    s
}

/// The log line layouts ferrovs writes (the defaults of stock's vlog;
/// custom patterns are not supported).
const PATTERNS: &str = "         prefix                            format\n\
         \x20        ------                            ------\n\
SYSLOG   <%B> %D{%h %e %T} %E %A:          ovs|%05N|%c%T|%p|%m\n\
CONSOLE  none                              %D{%Y-%m-%dT%H:%M:%SZ}|%05N|%c%T|%p|%m\n\
FILE     none                              %D{%Y-%m-%dT%H:%M:%S.###Z}|%05N|%c%T|%p|%m\n";

/// `vlog/enable-rate-limit` and `disable-rate-limit`: ferrovs does not
/// rate-limit its log lines, so every module already logs as if limits
/// were off; the module names are checked as stock checks them.
fn check_modules(args: &[String]) -> Result<String, String> {
    for a in args {
        if !a.eq_ignore_ascii_case("ANY")
            && !crate::vlog::MODULES
                .iter()
                .any(|m| m.eq_ignore_ascii_case(a))
        {
            return Err("unknown module".into());
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_like_c() {
        assert_eq!(atoi("1000"), 1000);
        assert_eq!(atoi(" 12abc"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("-5"), -5);
    }
}
