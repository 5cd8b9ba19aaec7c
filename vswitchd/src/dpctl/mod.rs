//! `dpctl/*` control commands over the daemon's datapaths, printed and
//! worded as stock ovs-vswitchd 3.1 prints them (lib/dpctl.c is the
//! reference for the texts): show, dump-dps, dump-flows, add-flow,
//! mod-flow, get-flow, del-flow, del-flows (and the file forms add-flows,
//! mod-flows, del-flows FILE), dump-conntrack and flush-conntrack.
//! The flow commands are in [`flows`]; the dump filter is
//! `ferrovs_dpif::flow_filter`, shared with ferrovs-dpctl.
//! Also here: `dpif-netdev/pmd-stats-show` and `-clear`.
//!
//! Everything a command prints, its error lines included, goes into one
//! text; an error makes that text the error reply, as stock does.

use std::fmt::Write;

use ferrovs_dpif::netdev::NetdevControl;

use crate::bridge::{lock_dpif, SharedDpif};

mod extra;
pub(crate) mod flows;

use flows::FileCmd;

/// One datapath as the commands see it.
pub struct Datapath<'a> {
    pub dpif: &'a SharedDpif,
    /// The userspace datapath's extras, when it is one.
    pub netdev: Option<&'a NetdevControl>,
}

/// Options common to every dpctl command (`-m`, `-s`, `--names`, ...).
#[derive(Default)]
pub(super) struct Params {
    verbosity: u32,
    print_statistics: bool,
    zero_statistics: bool,
    may_create: bool,
    names: bool,
}

/// The text of an errno, as strerror gives it.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The output of one command: text, and whether it failed.
pub(super) struct Out {
    text: String,
}

impl Out {
    pub(super) fn print(&mut self, s: &str) {
        self.text.push_str(s);
    }
    /// `ovs-vswitchd: MSG (ERRNO TEXT)`.
    pub(super) fn error(&mut self, errno: i32, msg: &str) {
        let _ = write!(self.text, "ovs-vswitchd: {msg}");
        if errno != 0 {
            let _ = write!(self.text, " ({})", strerror(errno));
        }
        self.text.push('\n');
    }
}

/// Runs `dpctl/<cmd>` with `args` (options included) over `dps`, which
/// are sorted by type then name.
pub fn run(cmd: &str, args: &[String], dps: &BTreeDps<'_>) -> Result<String, String> {
    let mut p = Params::default();
    let mut rest: Vec<&str> = Vec::new();
    let mut set_names = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if let Some(long) = a.strip_prefix("--") {
            match long {
                "statistics" => p.print_statistics = true,
                "clear" => p.zero_statistics = true,
                "may-create" => p.may_create = true,
                "more" => p.verbosity += 1,
                "names" => {
                    p.names = true;
                    set_names = true;
                }
                "no-names" => {
                    p.names = false;
                    set_names = true;
                }
                _ => return Err(format!("Unrecognized option {a}")),
            }
        } else if a.len() > 1 && a.starts_with('-') {
            for c in a[1..].chars() {
                match c {
                    'm' => p.verbosity += 1,
                    's' => p.print_statistics = true,
                    _ => return Err(format!("Unrecognized option -{c}")),
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    rest.extend(args[i..].iter().map(String::as_str));
    if !set_names {
        p.names = p.verbosity > 0;
    }
    let mut out = Out {
        text: String::new(),
    };
    let ok = match cmd {
        "show" => show(&rest, dps, &p, &mut out),
        "dump-dps" => {
            for d in dps {
                let dp = lock_dpif(d.1.dpif);
                out.print(&format!("{}@{}\n", dp.dp_type(), dp.name()));
            }
            0
        }
        "dump-flows" => flows::dump_flows(&rest, dps, &p, &mut out),
        "add-flow" => flows::put_flow(&rest, dps, &p, &mut out, false),
        "mod-flow" => flows::put_flow(&rest, dps, &p, &mut out, true),
        "get-flow" => flows::get_flow(&rest, dps, &p, &mut out),
        "del-flow" => flows::del_flow(&rest, dps, &p, &mut out),
        "del-flows" => flows::del_flows(&rest, dps, &p, &mut out),
        "add-flows" => flows::process_flows(&rest, dps, &p, &mut out, FileCmd::Add),
        "mod-flows" => flows::process_flows(&rest, dps, &p, &mut out, FileCmd::Modify),
        "dump-conntrack" => dump_conntrack(&rest, dps, &mut out),
        "flush-conntrack" => flush_conntrack(&rest, dps, &mut out),
        "offload-stats-show" => extra::offload_stats_show(&rest, dps, &mut out),
        "parse-actions" => extra::parse_actions(&rest, &mut out),
        "ct-get-nconns" => extra::ct_count(&rest, dps, &mut out, false),
        "ct-get-maxconns" => extra::ct_count(&rest, dps, &mut out, true),
        "ct-stats-show" => extra::ct_stats_show(&rest, dps, &p, &mut out),
        other => {
            out.error(
                0,
                &format!("unknown command '{other}'; use --help for help"),
            );
            libc::EINVAL
        }
    };
    if ok == 0 {
        Ok(out.text)
    } else {
        Err(out.text)
    }
}

/// The datapaths, keyed by their full name `TYPE@NAME`.
pub type BTreeDps<'a> = Vec<(String, Datapath<'a>)>;

/// Finds a datapath by `[TYPE@]NAME` (type `system` when none is given).
pub(super) fn find<'a, 'b>(dps: &'b BTreeDps<'a>, arg: &str) -> Option<&'b Datapath<'a>> {
    let full = if arg.contains('@') {
        arg.to_string()
    } else {
        format!("system@{arg}")
    };
    dps.iter().find(|(n, _)| *n == full).map(|(_, d)| d)
}

/// Opens the datapath a command names in its first argument, or the only
/// one (stock's `opt_dpif_open`); `max_args` counts the command name.
pub(super) fn opt_dp<'a, 'b>(
    args: &[&str],
    dps: &'b BTreeDps<'a>,
    max_args: usize,
    out: &mut Out,
) -> Option<&'b Datapath<'a>> {
    let argc = args.len() + 1;
    if let Some(d) = args.first().and_then(|a| find(dps, a)) {
        return Some(d);
    }
    let one = if argc != max_args {
        match dps.len() {
            0 => {
                out.error(0, "no datapaths exist");
                None
            }
            1 => dps.first().map(|(_, d)| d),
            _ => {
                out.error(0, "multiple datapaths, specify one");
                None
            }
        }
    } else {
        None
    };
    if one.is_none() {
        out.error(libc::EINVAL, "datapath not found");
    }
    one
}

fn show(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    if args.is_empty() {
        for (_, d) in dps {
            show_dp(d, p, out);
        }
        return 0;
    }
    let mut last = 0;
    for a in args {
        match find(dps, a) {
            Some(d) => show_dp(d, p, out),
            None => {
                out.error(libc::EAFNOSUPPORT, &format!("opening datapath {a} failed"));
                last = libc::EAFNOSUPPORT;
            }
        }
    }
    last
}

/// The type `dpctl/show` gives a port: the kernel's internal ports are
/// its own; the userspace datapath's are tap devices, those of the dummy
/// datapath dummies.
fn shown_port_type(kernel: bool, dp_type: &str, port_type: &str, name: &str) -> String {
    if kernel {
        // A tap device under a plain netdev vport is a tap port (the
        // daemon's view, as stock's daemon prints it; ovs-dpctl says
        // system).
        let is_tap = port_type == "system"
            && !name.contains('/')
            && std::path::Path::new("/sys/class/net")
                .join(name)
                .join("tun_flags")
                .exists();
        return if is_tap {
            "tap".into()
        } else {
            port_type.into()
        };
    }
    match (dp_type, port_type) {
        ("netdev", "internal") => "tap".into(),
        (_, "internal") => "dummy-internal".into(),
        (_, t) => t.into(),
    }
}

fn show_dp(d: &Datapath<'_>, p: &Params, out: &mut Out) {
    let mut dp = lock_dpif(d.dpif);
    out.print(&format!("{}@{}:\n", dp.dp_type(), dp.name()));
    if let Ok(s) = dp.stats() {
        out.print(&format!(
            "  lookups: hit:{} missed:{} lost:{}\n  flows: {}\n",
            s.n_hit, s.n_missed, s.n_lost, s.n_flows
        ));
    }
    if d.netdev.is_none() {
        out.print(&kernel_cache_lines(dp.name()));
    }
    let dp_type = dp.dp_type().to_string();
    let mut ports = dp.port_dump().unwrap_or_default();
    ports.sort_by_key(|p| p.port_no);
    for port in ports {
        out.print(&format!("  port {}: {}", port.port_no, port.name));
        let t = shown_port_type(d.netdev.is_none(), &dp_type, &port.port_type, &port.name);
        if t != "system" {
            out.print(&format!(" ({t}"));
            // The tunnel ports of the userspace datapath carry packets of
            // any type (their only configuration, as stock shows it).
            if matches!(t.as_str(), "vxlan" | "geneve" | "gre") {
                out.print(": packet_type=ptap");
            }
            out.print(")");
        }
        out.print("\n");
        if p.print_statistics {
            let dev = d.netdev.and_then(|n| n.port_device(port.port_no));
            let Some(dev) = dev else {
                out.print(", could not retrieve stats (Operation not supported)");
                continue;
            };
            let s = dev.stats();
            // Tunnel ports count packets and bytes only.
            let tunnel = dev.tunnel().is_some();
            let n = |v: u64| {
                if tunnel {
                    "?".to_string()
                } else {
                    v.to_string()
                }
            };
            out.print(&format!(
                "    RX packets:{} errors:{} dropped:{} overruns:{} frame:{}\n",
                s.rx_packets,
                n(s.rx_errors),
                n(s.rx_dropped),
                n(0),
                n(0)
            ));
            out.print(&format!(
                "    TX packets:{} errors:{} dropped:{} aborted:{} carrier:{}\n",
                s.tx_packets,
                n(s.tx_errors),
                n(s.tx_dropped),
                n(0),
                n(0)
            ));
            out.print(&format!("    collisions:{}\n", n(0)));
            out.print(&format!(
                "    RX bytes:{}{}  TX bytes:{}{}\n",
                s.rx_bytes,
                human_size(s.rx_bytes),
                s.tx_bytes,
                human_size(s.tx_bytes)
            ));
        }
    }
}

/// The kernel datapath's mask and cache lines, as stock prints them
/// after `flows:` (asked of the kernel directly: they are not part of the
/// `Dpif` trait's statistics).
fn kernel_cache_lines(dp_name: &str) -> String {
    let Ok(info) = ferrovs_dpif::netlink::Netlink::open().and_then(|mut nl| nl.dp_get(dp_name))
    else {
        return String::new();
    };
    let mut out = String::new();
    let s = info.stats;
    if info.has_megaflow_stats {
        let n_pkts = s.n_hit.wrapping_add(s.n_missed);
        let per_pkt = |n: u64| {
            if n_pkts != 0 {
                n as f64 / n_pkts as f64
            } else {
                0.0
            }
        };
        out.push_str(&format!(
            "  masks: hit:{} total:{} hit/pkt:{:.2}\n",
            s.n_mask_hit,
            s.n_masks,
            per_pkt(s.n_mask_hit)
        ));
        if let Some(hits) = info.n_cache_hit.filter(|&h| h != 0) {
            out.push_str(&format!(
                "  cache: hit:{hits} hit-rate:{:.2}%\n",
                per_pkt(hits) * 100.0
            ));
        }
    }
    if let Some(size) = info.masks_cache_size {
        out.push_str(&format!("  caches:\n    masks-cache: size:{size}\n"));
    }
    out
}

fn human_size(v: u64) -> String {
    const K: f64 = 1024.0;
    let f = v as f64;
    if v >= 1 << 40 {
        format!(" ({:.1} TiB)", f / (K * K * K * K))
    } else if v >= 1 << 30 {
        format!(" ({:.1} GiB)", f / (K * K * K))
    } else if v >= 1 << 20 {
        format!(" ({:.1} MiB)", f / (K * K))
    } else if v >= 1 << 10 {
        format!(" ({:.1} KiB)", f / K)
    } else {
        String::new()
    }
}

/// `zone=N` as stock scans it.
fn parse_zone(s: &str) -> Option<u16> {
    s.strip_prefix("zone=")?.parse().ok()
}

fn dump_conntrack(args: &[&str], dps: &BTreeDps<'_>, out: &mut Out) -> i32 {
    let mut args = args.to_vec();
    let zone = args.last().and_then(|a| parse_zone(a));
    if zone.is_some() {
        args.pop();
    }
    let Some(d) = opt_dp(&args, dps, 2, out) else {
        return libc::EINVAL;
    };
    let Some(ctl) = d.netdev else {
        out.error(libc::EOPNOTSUPP, "starting conntrack dump");
        return libc::EOPNOTSUPP;
    };
    for c in ctl.conntrack().dump() {
        if zone.is_some_and(|z| z != c.orig.zone) {
            continue;
        }
        out.print(&c.to_dpctl_text());
        out.print("\n");
    }
    0
}

fn flush_conntrack(args: &[&str], dps: &BTreeDps<'_>, out: &mut Out) -> i32 {
    let mut rest = args;
    let mut dp_arg = None;
    if let Some(first) = rest.first() {
        if find(dps, first).is_some() {
            dp_arg = Some(*first);
            rest = &rest[1..];
        }
    }
    let mut zone = None;
    if let Some(first) = rest.first() {
        if first.starts_with("zone=") {
            match parse_zone(first) {
                Some(z) => zone = Some(z),
                None => {
                    out.error(libc::EINVAL, "failed to parse zone");
                    return libc::EINVAL;
                }
            }
            rest = &rest[1..];
        }
    }
    if !rest.is_empty() {
        out.print("flushing connections by tuple is not supported by ferrovs-vswitchd");
        return libc::EOPNOTSUPP;
    }
    let dp_args: Vec<&str> = dp_arg.into_iter().collect();
    let Some(d) = opt_dp(&dp_args, dps, 2 + usize::from(dp_arg.is_none()), out) else {
        return libc::EINVAL;
    };
    let Some(ctl) = d.netdev else {
        out.error(libc::EOPNOTSUPP, "flushing conntrack");
        return libc::EOPNOTSUPP;
    };
    ctl.conntrack().flush(zone);
    0
}

/// `dpif-netdev/pmd-stats-show` and `-clear` with stock's arguments,
/// `[-pmd CORE] [DP]`: a datapath by its name, or the only userspace one.
pub fn pmd_stats(clear: bool, args: &[String], ctls: &[&NetdevControl]) -> Result<String, String> {
    let mut named = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "-pmd" && i + 1 < args.len() {
            i += 2;
            continue;
        }
        named = ctls.iter().find(|c| c.name() == args[i]).copied();
        i += 1;
    }
    let only = if ctls.len() == 1 {
        ctls.first().copied()
    } else {
        None
    };
    let Some(ctl) = named.or(only) else {
        return Err("please specify an existing datapath".into());
    };
    if clear {
        ctl.pmd_stats_clear();
        Ok(String::new())
    } else {
        Ok(ctl.pmd_stats_show())
    }
}
