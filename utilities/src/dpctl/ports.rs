//! add-if, set-if, del-if: the ports of a datapath, with the network
//! device checks and configuration messages of ovs-dpctl's netdev layer.

use ferrovs_dpif::netlink::rtnl as link;
use ferrovs_dpif::netlink::NetlinkDpif;
use ferrovs_dpif::{Dpif, OdpPort, PortSpec};

use super::commands::open_dp;
use super::Ctx;

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
pub(super) const TUNNEL_TYPES: &[&str] = &[
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

pub(super) fn add_if(ctx: &Ctx, argv: &[String]) -> i32 {
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
pub(super) fn atoi(s: &str) -> i64 {
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

pub(super) fn set_if(ctx: &Ctx, argv: &[String]) -> i32 {
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

pub(super) fn del_if(ctx: &Ctx, argv: &[String]) -> i32 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
