//! Patch ports and tunnels on the daemon's side: what translation must
//! know about the bridges (published to the OpenFlow service as one
//! [`Topology`] per datapath type), the process-wide underlay (the
//! host's routes, refreshed with the topology, and the tunnel neighbour
//! cache), and the `tnl/*` and `ovs/route/show` control commands.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use ferrovs_netdev::route::RouteTable;
use ferrovs_ofproto::service::OfprotoService;
use ferrovs_ofproto::xlate::topology::{
    BridgeTopo, PortKind, PortTopo, Topology, TunnelCfg, Underlay,
};

use crate::bridge::Bridges;

/// The process's underlay: one route table and neighbour cache, as
/// stock has one ovs-router and one tnl-neigh-cache.
pub fn underlay() -> &'static Arc<Underlay> {
    static U: OnceLock<Arc<Underlay>> = OnceLock::new();
    U.get_or_init(|| Arc::new(Underlay::default()))
}

/// The unixctl commands this module serves: name, usage, min, max.
pub const COMMANDS: &[(&str, &str, usize, usize)] = &[
    ("tnl/ports/show", "-v", 0, 1),
    ("tnl/neigh/show", "", 0, 0),
    ("tnl/neigh/set", "BRIDGE IP MAC", 3, 3),
    ("tnl/neigh/flush", "", 0, 0),
    ("tnl/neigh/aging", "[SECS]", 0, 1),
    ("tnl/arp/show", "", 0, 0),
    ("tnl/arp/set", "BRIDGE IP MAC", 3, 3),
    ("tnl/arp/flush", "", 0, 0),
    ("tnl/arp/aging", "[SECS]", 0, 1),
    ("ovs/route/show", "", 0, 0),
];

fn read_mac(dev: &str) -> Option<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{dev}/address")).ok()?;
    parse_mac(s.trim())
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

/// Builds each datapath type's topology from the running bridges and
/// hands it to `service`; reloads the host's routes first when allowed.
pub fn publish(bridges: &Bridges, service: &OfprotoService) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static ROUTES_GENERATION: AtomicU64 = AtomicU64::new(0);
    let u = underlay();
    if bridges.system_routes {
        match RouteTable::from_system() {
            Ok(t) => {
                let mut routes = u.routes.write().unwrap_or_else(|e| e.into_inner());
                if routes.routes() != t.routes() {
                    *routes = t;
                    ROUTES_GENERATION.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => log::debug!(target: "ovs_router", "reading routes failed: {e}"),
        }
    }
    let routes_generation = ROUTES_GENERATION.load(Ordering::Relaxed);
    let addrs = ferrovs_netdev::dev::sys::if_addrs().unwrap_or_default();
    let mut by_type: BTreeMap<&str, Topology> = BTreeMap::new();
    for br in bridges.bridges.values() {
        let mut bt = BridgeTopo::default();
        for i in br.ifaces.values() {
            let Some(ofport) = i.ofport else { continue };
            if let Some(odp) = i.odp_port {
                bt.odp_ports.insert(ofport, odp);
            }
            let kind = match i.iface_type.as_str() {
                "patch" => match i.options.get("peer") {
                    Some(p) => PortKind::Patch { peer: p.clone() },
                    None => continue,
                },
                t @ ("vxlan" | "geneve" | "gre") if !i.overridden => {
                    match TunnelCfg::from_options(t, &i.options) {
                        Ok(c) => PortKind::Tunnel(c),
                        Err(e) => {
                            log::debug!(target: "tunnel", "{}: {e}", i.name);
                            continue;
                        }
                    }
                }
                _ => PortKind::Plain,
            };
            let real = i.odp_port.is_some() && matches!(kind, PortKind::Plain);
            let port_addrs: Vec<IpAddr> = if real {
                addrs
                    .iter()
                    .filter(|(d, a, _)| *d == i.name && !a.is_loopback())
                    .map(|(_, a, _)| *a)
                    .collect()
            } else {
                Vec::new()
            };
            bt.ports.insert(
                ofport,
                PortTopo {
                    name: i.name.clone(),
                    mac: if real { read_mac(&i.name) } else { None },
                    kind,
                    addrs: port_addrs,
                },
            );
        }
        let topo = by_type
            .entry(br.dp_type.as_str())
            .or_insert_with(|| Topology {
                bridges: HashMap::new(),
                underlay: Arc::clone(u),
                routes_generation,
            });
        topo.bridges.insert(br.name.clone(), bt);
    }
    for (t, topo) in by_type {
        service.set_topology(t, Arc::new(topo));
    }
}

/// `tnl/ports/show`: the tunnel datapath ports that terminate tunnels,
/// with how many tunnel interfaces use each.
fn ports_show(bridges: &Bridges) -> String {
    let mut ports: BTreeMap<(u32, String), usize> = BTreeMap::new();
    for br in bridges.bridges.values() {
        for i in br.ifaces.values() {
            if !matches!(i.iface_type.as_str(), "vxlan" | "geneve" | "gre") || i.overridden {
                continue;
            }
            if let (Some(odp), Some(name)) = (i.odp_port, &i.dp_port_name) {
                *ports.entry((odp, name.clone())).or_insert(0) += 1;
            }
        }
    }
    let mut out = String::from("Listening ports:\n");
    for ((odp, name), n) in ports {
        out.push_str(&format!("{name} ({odp}) ref_cnt={n}\n"));
    }
    out
}

/// Runs a `tnl/*` or `ovs/route/*` command; None when `method` is not one.
pub fn command(method: &str, args: &[String], bridges: &Bridges) -> Option<Result<String, String>> {
    let u = underlay();
    let verb = method
        .strip_prefix("tnl/neigh/")
        .or_else(|| method.strip_prefix("tnl/arp/"));
    Some(match (method, verb) {
        ("tnl/ports/show", _) => Ok(ports_show(bridges)),
        ("ovs/route/show", _) => Ok(u.routes().show()),
        (_, Some("show")) => {
            u.neigh.run();
            Ok(u.neigh.show())
        }
        (_, Some("flush")) => {
            u.neigh.flush();
            Ok("OK".into())
        }
        (_, Some("set")) => {
            let [br, ip, mac] = args else {
                return Some(Err("BRIDGE IP MAC expected".into()));
            };
            let Ok(ip) = ip.parse::<IpAddr>() else {
                return Some(Err("bad IP address".into()));
            };
            let Some(mac) = parse_mac(mac) else {
                return Some(Err("bad MAC address".into()));
            };
            u.neigh.set(br, ip, mac);
            Ok("OK".into())
        }
        (_, Some("aging")) => match args.first() {
            None => Ok(u.neigh.aging_s().to_string()),
            Some(s) => match s.parse::<u64>() {
                Ok(v) => u.neigh.set_aging_s(v).map(|()| "OK".to_string()),
                Err(_) => Err("bad aging value".into()),
            },
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac("aa:55:aa:55:00:01"),
            Some([0xaa, 0x55, 0xaa, 0x55, 0, 1])
        );
        assert_eq!(parse_mac("aa:55:aa:55:00"), None);
        assert_eq!(parse_mac("aa:55:aa:55:00:01:02"), None);
        assert_eq!(parse_mac("zz:55:aa:55:00:01"), None);
    }
}
