//! The datapath and port commands of ovs-dpctl: add-dp, del-dp, dump-dps,
//! show, add-if, set-if, del-if. Messages and order of output follow
//! ovs-dpctl 3.1 (lib/dpctl.c) so that scripts cannot tell the difference.

use ferrovs_dpif::netlink::{NetlinkDpif, VportStats};
use ferrovs_dpif::{Dpif, DpifError, OdpPort, PortSpec};

use super::ct;
use super::sset_order::sset_order;
use super::Ctx;
use ferrovs_dpif::netlink::rtnl as link;

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

fn full_name(dp: &NetlinkDpif) -> String {
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
fn for_each_dp(ctx: &Ctx, f: fn(&Ctx, &mut NetlinkDpif)) -> i32 {
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

/// One interface argument of add-if/set-if: `NAME[,KEY=VALUE...]`, split
/// as strtok does (empty pieces vanish).
struct IfaceArg<'a> {
    name: &'a str,
    options: Vec<(&'a str, &'a str)>,
}

fn parse_iface(arg: &str) -> Option<IfaceArg<'_>> {
    let mut pieces = arg.split(',').filter(|p| !p.is_empty());
    let name = pieces.next()?;
    let options = pieces
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        // strtok also drops empty pieces between '='s: "=x" has no key.
        .filter(|(k, _)| !k.is_empty())
        .collect();
    Some(IfaceArg { name, options })
}

/// The tunnel types Open vSwitch knows; configuring them needs a remote.
const TUNNEL_TYPES: &[&str] = &[
    "geneve",
    "gre",
    "vxlan",
    "lisp",
    "stt",
    "erspan",
    "ip6erspan",
    "ip6gre",
    "gtpu",
    "bareudp",
];

/// Opens the network device `name` of type `t` as netdev_open would;
/// `Err(errno)` after printing what ovs-dpctl prints.
fn open_netdev(ctx: &Ctx, name: &str, t: &str) -> Result<(), i32> {
    let fail = |errno: i32| {
        ctx.error(errno, &format!("{name}: failed to open network device"));
        Err(errno)
    };
    match t {
        "system" => match link::get(name) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => fail(libc::ENODEV),
            Err(e) => fail(e.errno),
        },
        "internal" => Ok(()),
        "tap" => {
            if std::path::Path::new("/dev/net/tun").exists() {
                fail(libc::EOPNOTSUPP)
            } else {
                log::warn!(target: "netdev_linux", "opening \"/dev/net/tun\" failed: No such file or directory");
                fail(libc::ENOENT)
            }
        }
        t if TUNNEL_TYPES.contains(&t) || t == "patch" => Ok(()),
        _ => {
            log::warn!(target: "netdev", "could not create netdev {name} of unknown type {t}");
            fail(libc::EAFNOSUPPORT)
        }
    }
}

/// netdev_set_config for the types this tool handles. Returns the errno
/// and the text set-if reports, if any.
fn set_netdev_config(name: &str, t: &str, args: &[(String, String)]) -> (i32, Option<String>) {
    if TUNNEL_TYPES.contains(&t) || t == "patch" {
        let needed = if t == "patch" { "peer" } else { "remote_ip" };
        if !args.iter().any(|(k, _)| k == needed) {
            let text = format!("{name}: {t} type requires valid '{needed}' argument");
            log::warn!(target: "netdev_vport", "{text}");
            log::warn!(target: "netdev", "{name}: could not set configuration (Invalid argument)");
            return (libc::EINVAL, Some(text));
        }
        if t == "patch" {
            let text = format!("{name}: patch ports are not supported by ferrovs-dpctl");
            log::warn!(target: "netdev", "{text}");
            return (libc::EOPNOTSUPP, Some(text));
        }
        // The tunnel's remote, key, ... are per-flow matters for the
        // kernel's collect-metadata device: nothing to apply here.
        return (0, None);
    }
    if !args.is_empty() {
        let text = format!("{name}: arguments provided to device that is not configurable");
        log::warn!(target: "netdev", "{text}");
        return (0, Some(text));
    }
    (0, None)
}

fn add_if(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut dp = match open_dp(&argv[1], false) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e.errno, "opening datapath");
            return e.errno;
        }
    };
    let mut last_error = 0;
    for arg in &argv[2..] {
        let error = add_one_if(ctx, &mut dp, &argv[1], arg);
        if error != 0 {
            last_error = error;
        }
    }
    last_error
}

fn add_one_if(ctx: &Ctx, dp: &mut NetlinkDpif, dp_arg: &str, arg: &str) -> i32 {
    let Some(iface) = parse_iface(arg) else {
        ctx.error(0, &format!("{arg} is not a valid network device name"));
        return libc::EINVAL;
    };
    let mut t = "system";
    let mut port_no: Option<OdpPort> = None;
    let mut args: Vec<(String, String)> = Vec::new();
    for (k, v) in &iface.options {
        match *k {
            "type" => t = v,
            "port_no" => port_no = Some(atoi(v) as u32),
            _ if args.iter().any(|(ak, _)| ak == k) => {
                ctx.error(0, &format!("duplicate \"{k}\" option"));
            }
            _ => args.push((k.to_string(), v.to_string())),
        }
    }
    let name = iface.name;
    if let Err(errno) = open_netdev(ctx, name, t) {
        return errno;
    }
    let (errno, _) = set_netdev_config(name, t, &args);
    if errno != 0 {
        return errno;
    }
    let spec = PortSpec {
        name: name.to_string(),
        port_type: t.to_string(),
        port_no,
        options: args,
    };
    if let Err(e) = dp.port_add(&spec) {
        ctx.error(e.errno, &format!("adding {name} to {dp_arg} failed"));
        return e.errno;
    }
    // Tunnel netdevs have no device of their own name to bring up (the
    // shared tunnel device is up from its creation).
    if TUNNEL_TYPES.contains(&t) {
        return 0;
    }
    if let Err(e) = link::set_up(name) {
        ctx.error(e.errno, &format!("{name}: failed bringing interface up"));
        return e.errno;
    }
    0
}

/// C's atoi: leading blanks, optional sign, digits; 0 if none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    let n = if neg { -n } else { n };
    // atoi returns an int.
    n as i32 as i64
}

fn set_if(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut dp = match open_dp(&argv[1], false) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e.errno, "opening datapath");
            return e.errno;
        }
    };
    let mut last_error = 0;
    for arg in &argv[2..] {
        let error = set_one_if(ctx, &mut dp, &argv[1], arg);
        if error != 0 {
            last_error = error;
        }
    }
    last_error
}

fn set_one_if(ctx: &Ctx, dp: &mut NetlinkDpif, dp_arg: &str, arg: &str) -> i32 {
    let Some(iface) = parse_iface(arg) else {
        ctx.error(0, &format!("{arg} is not a valid network device name"));
        return 0;
    };
    let name = iface.name;
    let port = match dp.port_query_by_name(name) {
        Ok(p) => p,
        Err(e) => {
            ctx.error(
                e.errno,
                &format!("{name}: failed to query port in {dp_arg}"),
            );
            return e.errno;
        }
    };
    if let Err(errno) = open_netdev(ctx, name, &port.port_type) {
        return errno;
    }
    // Devices of these types have no configuration to start from.
    let mut args: Vec<(String, String)> = Vec::new();
    for (k, v) in &iface.options {
        match *k {
            "type" => {
                if *v != port.port_type {
                    ctx.error(
                        0,
                        &format!("{name}: can't change type from {} to {v}", port.port_type),
                    );
                    return libc::EINVAL;
                }
            }
            "port_no" => {
                if i64::from(port.port_no) != atoi(v) {
                    ctx.error(
                        0,
                        &format!(
                            "{name}: can't change port number from {} to {}",
                            port.port_no,
                            atoi(v)
                        ),
                    );
                    return libc::EINVAL;
                }
            }
            _ if v.is_empty() => args.retain(|(ak, _)| ak != k),
            _ => {
                args.retain(|(ak, _)| ak != k);
                args.push((k.to_string(), v.to_string()));
            }
        }
    }
    let (errno, text) = set_netdev_config(name, &port.port_type, &args);
    if errno != 0 || text.is_some() {
        ctx.error(
            errno,
            text.as_deref().unwrap_or("Error updating configuration"),
        );
    }
    errno
}

fn del_if(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut dp = match open_dp(&argv[1], false) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e.errno, "opening datapath");
            return e.errno;
        }
    };
    let mut last_error = 0;
    for name in &argv[2..] {
        let port = if name.bytes().all(|b| b.is_ascii_digit()) {
            atoi(name) as u32
        } else {
            match dp.port_query_by_name(name) {
                Ok(p) => p.port_no,
                Err(_) => {
                    ctx.error(0, &format!("no port named {name}"));
                    last_error = libc::ENOENT;
                    continue;
                }
            }
        };
        if let Err(e) = dp.port_del(port) {
            ctx.error(
                e.errno,
                &format!("deleting port {name} from {} failed", argv[1]),
            );
            last_error = e.errno;
        }
    }
    last_error
}

fn show(ctx: &Ctx, argv: &[String]) -> i32 {
    if argv.len() == 1 {
        return for_each_dp(ctx, show_dp);
    }
    let mut last_error = 0;
    for name in &argv[1..] {
        match open_dp(name, false) {
            Ok(mut dp) => show_dp(ctx, &mut dp),
            Err(e) => {
                ctx.error(e.errno, &format!("opening datapath {name} failed"));
                last_error = e.errno;
            }
        }
    }
    last_error
}

fn show_caches(ctx: &Ctx, dp: &mut NetlinkDpif) {
    if let Ok(info) = dp.info() {
        if let Some(size) = info.masks_cache_size {
            ctx.print(&format!("  caches:\n    masks-cache: size:{size}\n"));
        }
    }
}

fn show_dp(ctx: &Ctx, dp: &mut NetlinkDpif) {
    let mut out = format!("{}:\n", full_name(dp));
    if let Ok(info) = dp.info() {
        let s = info.stats;
        out.push_str(&format!(
            "  lookups: hit:{} missed:{} lost:{}\n  flows: {}\n",
            s.n_hit, s.n_missed, s.n_lost, s.n_flows
        ));
        if info.has_megaflow_stats {
            let n_pkts = s.n_hit.wrapping_add(s.n_missed);
            let avg = if n_pkts != 0 {
                s.n_mask_hit as f64 / n_pkts as f64
            } else {
                0.0
            };
            out.push_str(&format!(
                "  masks: hit:{} total:{} hit/pkt:{avg:.2}\n",
                s.n_mask_hit, s.n_masks
            ));
            if let Some(hits) = info.n_cache_hit.filter(|&h| h != 0) {
                let rate = if n_pkts != 0 {
                    hits as f64 / n_pkts as f64 * 100.0
                } else {
                    0.0
                };
                out.push_str(&format!("  cache: hit:{hits} hit-rate:{rate:.2}%\n"));
            }
        }
    }
    ctx.print(&out);
    show_caches(ctx, dp);

    let mut numbers: Vec<OdpPort> = match dp.port_dump() {
        Ok(ports) => ports.iter().map(|p| p.port_no).collect(),
        Err(_) => Vec::new(),
    };
    numbers.sort_unstable();
    for no in numbers {
        let Ok(port) = dp.port_query_by_number(no) else {
            continue;
        };
        let mut line = format!("  port {}: {}", port.port_no, port.name);
        if port.port_type != "system" {
            line.push_str(&format!(
                " ({}{})",
                port.port_type,
                tunnel_config_text(&port.name, &port.port_type)
            ));
        }
        line.push('\n');
        if ctx.opts.statistics {
            line.push_str(&port_stats_text(dp, &port.name, &port.port_type));
        }
        ctx.print(&line);
    }
}

/// The name prefix of the devices of a tunnel type and its default port.
fn tunnel_naming(t: &str) -> Option<(&'static str, Option<u16>)> {
    match t {
        "vxlan" => Some(("vxlan_sys", Some(4789))),
        "geneve" => Some(("genev_sys", Some(6081))),
        "gre" => Some(("gre_sys", None)),
        _ => None,
    }
}

/// The configuration ovs-dpctl shows for a tunnel port: that of a fresh
/// tunnel device of the port's name (the UDP port comes from the name).
fn tunnel_config_text(name: &str, t: &str) -> String {
    let Some((prefix, default_port)) = tunnel_naming(t) else {
        return String::new();
    };
    let mut items = Vec::new();
    if let Some(default_port) = default_port {
        let from_name = name
            .strip_prefix(prefix)
            // The port follows one separator byte. Cutting inside a
            // character leaves continuation bytes, which atoi reads as 0.
            .and_then(|rest| rest.as_bytes().get(1..))
            .map(|digits| std::str::from_utf8(digits).map_or(0, atoi))
            .filter(|&p| p != 0);
        let port = from_name.unwrap_or(i64::from(default_port)) as u16;
        if port != default_port {
            items.push(format!("dst_port={port}"));
        }
    }
    items.push("packet_type=ptap".to_string());
    format!(": {}", items.join(", "))
}

/// The counters show -s prints for a port, taken as Open vSwitch takes
/// them: the datapath's vport counters, plus the device's own error
/// counters for system ports (device counters alone if the vport has none).
fn port_stats_text(dp: &mut NetlinkDpif, name: &str, port_type: &str) -> String {
    let vport = dp
        .port_query_by_name(name)
        .ok()
        .and_then(|p| dp.vport_get(p.port_no).ok())
        .and_then(|v| v.stats);
    if tunnel_naming(port_type).is_some() {
        // A tunnel netdev only counts what this process sent through it,
        // which is nothing; the other counters are unknown.
        return "    RX packets:0 errors:? dropped:? overruns:? frame:?\n    \
                TX packets:0 errors:? dropped:? aborted:? carrier:?\n    \
                collisions:?\n    RX bytes:0  TX bytes:0\n"
            .to_string();
    }
    let mut s = [0u64; 13];
    let from_vport = |s: &mut [u64; 13], v: &VportStats| {
        *s = [
            v.rx_packets,
            v.rx_errors,
            v.rx_dropped,
            0,
            0,
            v.tx_packets,
            v.tx_errors,
            v.tx_dropped,
            0,
            0,
            0,
            v.rx_bytes,
            v.tx_bytes,
        ];
    };
    match (port_type, vport) {
        ("system", v) => {
            let dev = link::get(name).ok().flatten().and_then(|l| l.stats);
            match (v, dev) {
                (Some(v), Some(d)) => {
                    from_vport(&mut s, &v);
                    s[3] = d.rx_over_errors;
                    s[4] = d.rx_frame_errors;
                    s[8] = d.tx_aborted_errors;
                    s[9] = d.tx_carrier_errors;
                    s[10] = d.collisions;
                }
                (Some(v), None) => from_vport(&mut s, &v),
                (None, Some(d)) => {
                    s = [
                        d.rx_packets,
                        d.rx_errors,
                        d.rx_dropped,
                        d.rx_over_errors,
                        d.rx_frame_errors,
                        d.tx_packets,
                        d.tx_errors,
                        d.tx_dropped,
                        d.tx_aborted_errors,
                        d.tx_carrier_errors,
                        d.collisions,
                        d.rx_bytes,
                        d.tx_bytes,
                    ];
                }
                (None, None) => {
                    return format!(
                        ", could not retrieve stats ({})",
                        ferrovs_dpif::netlink::strerror(libc::ENODEV)
                    );
                }
            }
        }
        (_, Some(v)) => from_vport(&mut s, &v),
        (_, None) => {
            return format!(
                ", could not retrieve stats ({})",
                ferrovs_dpif::netlink::strerror(libc::ENODEV)
            );
        }
    }
    format!(
        "    RX packets:{} errors:{} dropped:{} overruns:{} frame:{}\n    \
         TX packets:{} errors:{} dropped:{} aborted:{} carrier:{}\n    \
         collisions:{}\n    RX bytes:{}{}  TX bytes:{}{}\n",
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        s[8],
        s[9],
        s[10],
        s[11],
        human_size(s[11]),
        s[12],
        human_size(s[12])
    )
}

/// " (1.5 KiB)" and the like, for byte counters from 1 KiB up.
fn human_size(v: u64) -> String {
    const K: f64 = 1024.0;
    let x = v as f64;
    if v >= 1 << 40 {
        format!(" ({:.1} TiB)", x / (K * K * K * K))
    } else if v >= 1 << 30 {
        format!(" ({:.1} GiB)", x / (K * K * K))
    } else if v >= 1 << 20 {
        format!(" ({:.1} MiB)", x / (K * K))
    } else if v >= 1 << 10 {
        format!(" ({:.1} KiB)", x / K)
    } else {
        String::new()
    }
}

fn cache_get_size(ctx: &Ctx, argv: &[String]) -> i32 {
    if argv.len() == 1 {
        return for_each_dp(ctx, |ctx, dp| {
            ctx.print(&format!("{}:\n", full_name(dp)));
            show_caches(ctx, dp);
        });
    }
    match open_dp(&argv[1], false) {
        Ok(mut dp) => {
            ctx.print(&format!("{}:\n", full_name(&dp)));
            show_caches(ctx, &mut dp);
            0
        }
        Err(e) => {
            ctx.error(e.errno, &format!("Opening datapath {} failed", argv[1]));
            e.errno
        }
    }
}

/// scanf's %u: leading blanks, then digits (what follows is ignored).
fn scan_u32(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn cache_set_size(ctx: &Ctx, argv: &[String]) -> i32 {
    let Some(size) = scan_u32(&argv[3]) else {
        ctx.error(libc::EINVAL, "size is malformed");
        return libc::EINVAL;
    };
    let mut dp = match open_dp(&argv[1], false) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e.errno, &format!("Opening datapath {} failed", argv[1]));
            return e.errno;
        }
    };
    match dp.info() {
        Ok(info) if info.masks_cache_size.is_some() => {}
        Ok(_) => {
            ctx.error(0, "Setting caches not supported");
            return 0;
        }
        Err(e) => {
            ctx.error(e.errno, "Setting caches not supported");
            return e.errno;
        }
    }
    if argv[2] != "masks-cache" {
        ctx.error(
            libc::EINVAL,
            &format!("Cache name \"{}\" not found on dpif", argv[2]),
        );
        return libc::EINVAL;
    }
    match dp.set_masks_cache_size(size) {
        Ok(new_size) => {
            ctx.print(&format!(
                "Setting cache size successful, new size {new_size}\n"
            ));
            0
        }
        Err(e) => {
            ctx.error(e.errno, "Setting cache size failed");
            e.errno
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_config_from_device_names() {
        assert_eq!(
            tunnel_config_text("vxlan_sys_4789", "vxlan"),
            ": packet_type=ptap"
        );
        assert_eq!(
            tunnel_config_text("vxlan_sys_4790", "vxlan"),
            ": dst_port=4790, packet_type=ptap"
        );
        assert_eq!(
            tunnel_config_text("genev_sys_6081", "geneve"),
            ": packet_type=ptap"
        );
        assert_eq!(tunnel_config_text("gre_sys", "gre"), ": packet_type=ptap");
        // Hostile names from the kernel: no panic, the default port.
        assert_eq!(
            tunnel_config_text("vxlan_sysé9", "vxlan"),
            ": packet_type=ptap"
        );
        assert_eq!(
            tunnel_config_text("vxlan_sys_é9", "vxlan"),
            ": packet_type=ptap"
        );
        assert_eq!(
            tunnel_config_text("vxlan_sys", "vxlan"),
            ": packet_type=ptap"
        );
        assert_eq!(tunnel_config_text("x", "internal"), "");
    }

    #[test]
    fn iface_arguments_split_like_strtok() {
        let a = parse_iface(",,eth0,,type=internal,port_no=3,").unwrap();
        assert_eq!(a.name, "eth0");
        assert_eq!(a.options, vec![("type", "internal"), ("port_no", "3")]);
        assert!(parse_iface(",,,").is_none());
        assert_eq!(atoi(" 42abc"), 42);
        assert_eq!(atoi("-7"), -7);
        assert_eq!(atoi("x"), 0);
    }
}
