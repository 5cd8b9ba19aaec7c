//! `dpctl/*` control commands over the daemon's datapaths, printed and
//! worded as stock ovs-vswitchd 3.1 prints them (lib/dpctl.c is the
//! reference for the texts): show, dump-dps, dump-flows, add-flow,
//! mod-flow, get-flow, del-flow, del-flows, dump-conntrack and
//! flush-conntrack.
//!
//! Everything a command prints, its error lines included, goes into one
//! text; an error makes that text the error reply, as stock does.

use std::collections::HashMap;
use std::fmt::Write;

use ferrovs_dpif::netdev::NetdevControl;
use ferrovs_dpif::odp::{self, FormatOptions, Key, KeyAttr};
use ferrovs_dpif::{DpFlow, Dpif, FlowId, FlowPut, FlowStats, PutFlags};

use crate::bridge::{lock_dpif, SharedDpif};

/// One datapath as the commands see it.
pub struct Datapath<'a> {
    pub dpif: &'a SharedDpif,
    /// The userspace datapath's extras, when it is one.
    pub netdev: Option<&'a NetdevControl>,
}

/// Options common to every dpctl command (`-m`, `-s`, `--names`, ...).
#[derive(Default)]
struct Params {
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
struct Out {
    text: String,
}

impl Out {
    fn print(&mut self, s: &str) {
        self.text.push_str(s);
    }
    /// `ovs-vswitchd: MSG (ERRNO TEXT)`.
    fn error(&mut self, errno: i32, msg: &str) {
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
        "dump-flows" => dump_flows(&rest, dps, &p, &mut out),
        "add-flow" => put_flow(&rest, dps, &p, &mut out, false),
        "mod-flow" => put_flow(&rest, dps, &p, &mut out, true),
        "get-flow" => get_flow(&rest, dps, &p, &mut out),
        "del-flow" => del_flow(&rest, dps, &p, &mut out),
        "del-flows" => del_flows(&rest, dps, &mut out),
        "dump-conntrack" => dump_conntrack(&rest, dps, &mut out),
        "flush-conntrack" => flush_conntrack(&rest, dps, &mut out),
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
fn find<'a, 'b>(dps: &'b BTreeDps<'a>, arg: &str) -> Option<&'b Datapath<'a>> {
    let full = if arg.contains('@') {
        arg.to_string()
    } else {
        format!("system@{arg}")
    };
    dps.iter().find(|(n, _)| *n == full).map(|(_, d)| d)
}

/// Opens the datapath a command names in its first argument, or the only
/// one (stock's `opt_dpif_open`); `max_args` counts the command name.
fn opt_dp<'a, 'b>(
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

/// The type `dpctl/show` gives a port of the userspace datapath: its
/// internal ports are tap devices, those of the dummy datapath dummies.
fn shown_port_type(dp_type: &str, port_type: &str) -> String {
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
    let dp_type = dp.dp_type().to_string();
    let mut ports = dp.port_dump().unwrap_or_default();
    ports.sort_by_key(|p| p.port_no);
    for port in ports {
        out.print(&format!("  port {}: {}", port.port_no, port.name));
        let t = shown_port_type(&dp_type, &port.port_type);
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

/// `packets:N, bytes:N, used:X` (+ `, flags:...`), as stock formats flow
/// statistics.
pub fn format_stats(s: &FlowStats) -> String {
    let mut out = format!("packets:{}, bytes:{}, used:", s.n_packets, s.n_bytes);
    if s.used_ms == 0 {
        out.push_str("never");
    } else {
        let now = ferrovs_netdev::dev::sys::monotonic_ms();
        let ago = now.saturating_sub(s.used_ms);
        let _ = write!(out, "{}.{:03}s", ago / 1000, ago % 1000);
    }
    if s.tcp_flags != 0 {
        out.push_str(", flags:");
        out.push_str(&tcp_flags_text(s.tcp_flags));
    }
    out
}

fn tcp_flags_text(f: u16) -> String {
    const NAMES: &[(u16, &str)] = &[
        (0x001, "F"),
        (0x002, "S"),
        (0x004, "R"),
        (0x008, "P"),
        (0x010, "."),
        (0x020, "U"),
        (0x040, "E"),
        (0x080, "C"),
        (0x100, "N"),
    ];
    NAMES
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Where stock's userspace datapath prints each metadata attribute (it
/// rebuilds keys from its own flow): these first, in this order, then
/// the packet fields in the order given.
fn attr_rank(a: &KeyAttr) -> u8 {
    match a {
        KeyAttr::Priority(_) => 0,
        KeyAttr::Tunnel(_) => 1,
        KeyAttr::SkbMark(_) => 2,
        KeyAttr::CtState(_) => 3,
        KeyAttr::CtZone(_) => 4,
        KeyAttr::CtMark(_) => 5,
        KeyAttr::CtLabels(_) => 6,
        KeyAttr::RecircId(_) => 8,
        KeyAttr::DpHash(_) => 9,
        KeyAttr::InPort(_) => 10,
        _ => 20,
    }
}

/// A flow's key and mask as the userspace datapath reports them: with
/// `recirc_id(0)` when the flow did not name one (its flows always match
/// it exactly) and the metadata in stock's order.
fn userspace_view(f: &DpFlow) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut k = Key::from_nlattrs(&f.key).ok()?;
    let mut m = Key::from_nlattrs(&f.mask).ok()?;
    if !k.attrs.iter().any(|a| matches!(a, KeyAttr::RecircId(_))) {
        k.attrs.push(KeyAttr::RecircId(0));
        if !f.mask.is_empty() {
            m.attrs.push(KeyAttr::RecircId(u32::MAX));
        }
    }
    k.attrs.sort_by_key(attr_rank);
    m.attrs.sort_by_key(attr_rank);
    Some((k.to_nlattrs().ok()?, m.to_nlattrs().ok()?))
}

fn port_names(dp: &mut Box<dyn Dpif>) -> HashMap<u32, String> {
    dp.port_dump()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.port_no, p.name))
        .collect()
}

fn name_ports(dp: &mut Box<dyn Dpif>) -> HashMap<String, u32> {
    dp.port_dump()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.port_no))
        .collect()
}

/// One flow as `dump-flows` prints it.
fn format_flow(
    dp_type: &str,
    f: &DpFlow,
    names: Option<&HashMap<u32, String>>,
    p: &Params,
) -> String {
    let mut s = String::new();
    if p.verbosity > 0 {
        if let Some(u) = f.ufid {
            s.push_str(&odp::format_ufid(u));
            s.push_str(", ");
        }
    }
    let opts = FormatOptions {
        verbose: p.verbosity > 0,
        port_names: names,
    };
    let userspace = dp_type != "system";
    let (key, mask) = if userspace {
        userspace_view(f).unwrap_or_else(|| (f.key.clone(), f.mask.clone()))
    } else {
        (f.key.clone(), f.mask.clone())
    };
    if odp::format_flow(&key, &mask, &opts, &mut s).is_err() {
        s.push_str("<error decoding key>");
    }
    s.push_str(", ");
    s.push_str(&format_stats(&f.stats));
    if p.verbosity > 0 && userspace {
        s.push_str(", dp:ovs");
    }
    s.push_str(", actions:");
    let aopts = FormatOptions {
        verbose: false,
        port_names: names,
    };
    if odp::format_actions(&f.actions, &aopts, &mut s).is_err() {
        s.push_str("<error decoding actions>");
    }
    s
}

fn dump_flows(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let mut args: Vec<&str> = args.to_vec();
    let mut filter: Option<&str> = None;
    let mut types: Option<&str> = None;
    while let Some(last) = args.last().copied() {
        if let (Some(f), None) = (last.strip_prefix("filter="), filter) {
            filter = Some(f);
        } else if let (Some(t), None) = (last.strip_prefix("type="), types) {
            types = Some(t);
        } else if last.starts_with("pmd=") {
            // Flows live in the main thread here, as in stock with
            // non-DPDK ports; any pmd id selects them all.
        } else {
            break;
        }
        args.pop();
    }
    let Some(d) = opt_dp(&args, dps, 2, out) else {
        return libc::EINVAL;
    };
    if let Some(t) = types {
        for ty in t.split(',').filter(|t| !t.is_empty()) {
            if !matches!(
                ty,
                "ovs"
                    | "tc"
                    | "dpdk"
                    | "offloaded"
                    | "non-offloaded"
                    | "partially-offloaded"
                    | "all"
            ) {
                out.error(libc::EINVAL, &format!("Failed to parse type ({ty})"));
                return libc::EINVAL;
            }
        }
    }
    let mut dp = lock_dpif(d.dpif);
    let names = p.names.then(|| port_names(&mut dp));
    let filter = match filter.map(|f| Filter::parse(f, &name_ports(&mut dp))) {
        Some(Err(e)) => {
            out.error(0, &format!("Failed to parse filter ({e})"));
            return libc::EINVAL;
        }
        Some(Ok(f)) => Some(f),
        None => None,
    };
    let dp_type = dp.dp_type().to_string();
    let flows = match dp.flow_dump() {
        Ok(f) => f,
        Err(e) => {
            out.error(e.errno, "Failed to dump flows from datapath");
            return e.errno;
        }
    };
    let mut header = dp_type != "system";
    for f in flows {
        if let Some(flt) = &filter {
            if !flt.matches(&f) {
                continue;
            }
        }
        if header {
            out.print("flow-dump from the main thread:\n");
            header = false;
        }
        out.print(&format_flow(&dp_type, &f, names.as_ref(), p));
        out.print("\n");
    }
    0
}

fn put_flow(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out, modify: bool) -> i32 {
    let Some(d) = opt_dp(args, dps, 4, out) else {
        return libc::EINVAL;
    };
    let (Some(key_s), Some(actions_s)) = (
        args.len().checked_sub(2).and_then(|i| args.get(i)),
        args.last(),
    ) else {
        return libc::EINVAL;
    };
    let mut dp = lock_dpif(d.dpif);
    let names = name_ports(&mut dp);
    let parsed = match parse_key(key_s, &names, out, |e| format!("parsing flow key ({e})")) {
        Ok(f) => f,
        Err(errno) => return errno,
    };
    let actions = match odp::parse_actions(actions_s, None) {
        Ok(a) => a,
        Err(_) => {
            out.error(libc::EINVAL, "parsing actions");
            return libc::EINVAL;
        }
    };
    let flags = if modify {
        PutFlags {
            create: p.may_create,
            modify: true,
            zero_stats: p.zero_statistics,
        }
    } else {
        PutFlags {
            create: true,
            modify: false,
            zero_stats: false,
        }
    };
    let put = FlowPut {
        flags,
        key: &parsed.key,
        mask: &parsed.mask,
        actions: &actions,
        ufid: parsed.ufid,
    };
    match dp.flow_put(&put) {
        Ok(old) => {
            if p.print_statistics {
                out.print(&format_stats(&old.unwrap_or_default()));
                out.print("\n");
            }
            0
        }
        Err(e) => {
            log::warn!(target: "dpif", "{}@{}: failed to put[{}] ({})", dp.dp_type(), dp.name(), if modify { "modify" } else { "create" }, strerror(e.errno));
            out.error(e.errno, "updating flow table");
            e.errno
        }
    }
}

/// Parses `[ufid:UUID,]KEY`; a UFID that does not parse is an error.
fn parse_key(
    key_s: &str,
    names: &HashMap<String, u32>,
    out: &mut Out,
    what: impl Fn(&str) -> String,
) -> Result<odp::ParsedFlow, i32> {
    if key_s.trim_start().starts_with("ufid:") && ufid_prefix(key_s).is_none() {
        out.error(libc::EINVAL, "parsing flow ufid");
        return Err(libc::EINVAL);
    }
    odp::parse_flow(key_s, Some(names)).map_err(|e| {
        out.error(libc::EINVAL, &what(&e.message));
        libc::EINVAL
    })
}

/// The UFID a text starts with (`ufid:UUID`), if it is a valid one.
fn ufid_prefix(s: &str) -> Option<u128> {
    let t = s.trim_start().strip_prefix("ufid:")?;
    odp::parse_ufid(t)
}

fn get_flow(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let Some(d) = opt_dp(args, dps, 3, out) else {
        return libc::EINVAL;
    };
    let key_s = args.last().copied().unwrap_or("");
    let Some(ufid) = ufid_prefix(key_s) else {
        let errno = if key_s.trim_start().starts_with("ufid:") {
            libc::EINVAL
        } else {
            0
        };
        out.error(errno, "parsing flow ufid");
        // Stock goes on with error 0 here: the reply is not an error.
        return errno;
    };
    let mut dp = lock_dpif(d.dpif);
    let names = p.names.then(|| port_names(&mut dp));
    let dp_type = dp.dp_type().to_string();
    match dp.flow_get(FlowId::Ufid(ufid)) {
        Ok(f) => {
            out.print(&format_flow(&dp_type, &f, names.as_ref(), p));
            out.print("\n");
            0
        }
        Err(e) => {
            out.error(e.errno, "getting flow");
            e.errno
        }
    }
}

fn del_flow(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let Some(d) = opt_dp(args, dps, 3, out) else {
        return libc::EINVAL;
    };
    let key_s = args.last().copied().unwrap_or("");
    let mut dp = lock_dpif(d.dpif);
    let names = name_ports(&mut dp);
    let given_ufid = ufid_prefix(key_s);
    let parsed = match parse_key(key_s, &names, out, |e| e.to_string()) {
        Ok(f) => f,
        Err(errno) => return errno,
    };
    let id = match given_ufid.or(parsed.ufid) {
        Some(u) => FlowId::Ufid(u),
        None => FlowId::Key(&parsed.key),
    };
    match dp.flow_del(id) {
        Ok(stats) => {
            if p.print_statistics {
                out.print(&format_stats(&stats));
                out.print("\n");
            }
            0
        }
        Err(e) => {
            out.error(e.errno, "deleting flow");
            if e.errno == libc::ENOENT && given_ufid.is_none() {
                out.print("Perhaps you need to specify a UFID?\n");
            }
            e.errno
        }
    }
}

fn del_flows(args: &[&str], dps: &BTreeDps<'_>, out: &mut Out) -> i32 {
    let named = args.first().is_some_and(|a| find(dps, a).is_some());
    if (!named && args.len() == 1) || args.len() > 1 {
        out.error(
            libc::EOPNOTSUPP,
            "deleting flows listed in a file is not supported by ferrovs-vswitchd",
        );
        return libc::EOPNOTSUPP;
    }
    let Some(d) = opt_dp(args, dps, 2, out) else {
        return libc::EINVAL;
    };
    let mut dp = lock_dpif(d.dpif);
    match dp.flow_flush() {
        Ok(()) => 0,
        Err(e) => {
            out.error(e.errno, "deleting all flows");
            e.errno
        }
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
                    out.print("failed to parse zone");
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

/// A `dump-flows filter=...`: a few OpenFlow-style match fields (stock
/// parses a whole OpenFlow match; these are the ones a datapath flow's
/// metadata and L2/L3 headers answer directly).
struct Filter {
    in_port: Option<u32>,
    eth_type: Option<u16>,
    nw_proto: Option<u8>,
}

impl Filter {
    fn parse(s: &str, names: &HashMap<String, u32>) -> Result<Filter, String> {
        let mut f = Filter {
            in_port: None,
            eth_type: None,
            nw_proto: None,
        };
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            match (k, v) {
                ("in_port", Some(v)) => {
                    f.in_port = Some(
                        v.parse()
                            .ok()
                            .or_else(|| names.get(v).copied())
                            .ok_or_else(|| format!("{v}: invalid or unknown port for in_port"))?,
                    )
                }
                ("dl_type" | "eth_type", Some(v)) => {
                    let n = match v.strip_prefix("0x") {
                        Some(h) => u16::from_str_radix(h, 16).ok(),
                        None => v.parse().ok(),
                    };
                    f.eth_type = Some(n.ok_or_else(|| format!("{v}: invalid Ethernet type"))?);
                }
                ("ip", None) => f.eth_type = Some(0x0800),
                ("ipv6", None) => f.eth_type = Some(0x86dd),
                ("arp", None) => f.eth_type = Some(0x0806),
                ("icmp", None) => (f.eth_type, f.nw_proto) = (Some(0x0800), Some(1)),
                ("tcp", None) => (f.eth_type, f.nw_proto) = (Some(0x0800), Some(6)),
                ("udp", None) => (f.eth_type, f.nw_proto) = (Some(0x0800), Some(17)),
                _ => return Err(format!("unknown or unsupported field {k}")),
            }
        }
        Ok(f)
    }

    fn matches(&self, f: &DpFlow) -> bool {
        let Ok(k) = Key::from_nlattrs(&f.key) else {
            return false;
        };
        let mut in_port = None;
        let mut eth_type = None;
        let mut proto = None;
        for a in &k.attrs {
            match a {
                KeyAttr::InPort(p) => in_port = Some(*p),
                KeyAttr::Ethertype(t) => eth_type = Some(*t),
                KeyAttr::Ipv4(i) => proto = Some(i.proto),
                KeyAttr::Ipv6(i) => proto = Some(i.proto),
                _ => {}
            }
        }
        self.in_port.is_none_or(|p| in_port == Some(p))
            && self.eth_type.is_none_or(|t| eth_type == Some(t))
            && self.nw_proto.is_none_or(|p| proto == Some(p))
    }
}
