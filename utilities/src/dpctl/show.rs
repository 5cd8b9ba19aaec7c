//! show [-s] and the cache commands: what a datapath and its ports look
//! like, printed as ovs-dpctl prints them.

use ferrovs_dpif::netlink::rtnl as link;
use ferrovs_dpif::netlink::{NetlinkDpif, VportStats};
use ferrovs_dpif::{Dpif, OdpPort};

use super::commands::{for_each_dp, full_name, open_dp};
use super::ports::atoi;
use super::Ctx;

pub(super) fn show(ctx: &Ctx, argv: &[String]) -> i32 {
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

pub(super) fn cache_get_size(ctx: &Ctx, argv: &[String]) -> i32 {
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

pub(super) fn cache_set_size(ctx: &Ctx, argv: &[String]) -> i32 {
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
}
