//! Patch ports and tunnels on the daemon's side: what translation must
//! know about the bridges (published to the OpenFlow service as one
//! [`Topology`] per datapath type), the process-wide underlay (the
//! host's routes, refreshed with the topology, and the tunnel neighbour
//! cache), and the `tnl/*` and `ovs/route/show` control commands.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ferrovs_netdev::route::RouteTable;
use ferrovs_ofproto::service::{OfprotoService, TopologyPatch};
use ferrovs_ofproto::xlate::topology::{
    BridgeTopo, PortKind, PortTopo, Topology, TunnelCfg, Underlay,
};

use crate::bridge::{Bridge, Bridges, Iface};
use crate::config::Delta;
use crate::device::Device;

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
    (
        "ovs/route/add",
        "ip_addr/prefix_len out_br_name [gw] [pkt_mark=mark]",
        2,
        4,
    ),
    ("ovs/route/del", "ip_addr/prefix_len [pkt_mark=mark]", 1, 2),
    ("ovs/route/lookup", "ip_addr [pkt_mark=mark]", 1, 2),
    ("dpif/set-dp-features", "bridge", 1, 3),
];

/// Datapath types whose native tunnelling was turned off by hand
/// (`dpif/set-dp-features BRIDGE tnl_push_pop false`, as stock allows):
/// their tunnel ports then get `set(tunnel(...))` and an output to the
/// tunnel vport, as on the kernel datapath.
fn push_pop_off() -> &'static Mutex<BTreeSet<String>> {
    static OFF: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    OFF.get_or_init(Default::default)
}

pub(crate) fn native_tunnels_off(dp_type: &str) -> bool {
    push_pop_off()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(dp_type)
}

/// `dpif/set-dp-features BRIDGE [FEATURE [VALUE]]` for the one feature
/// ferrovs lets be changed, `tnl_push_pop` (per datapath type, as stock's
/// is per backer).
fn set_dp_features(args: &[String], bridges: &Bridges) -> Result<String, String> {
    let br = args
        .first()
        .and_then(|b| bridges.bridges.get(b))
        .ok_or("no such bridge")?;
    let Some(feature) = args.get(1) else {
        return Err("listing the datapath features is not implemented".into());
    };
    if feature != "tnl_push_pop" {
        return Err(format!("changing the {feature} feature is not implemented"));
    }
    let boot = bridges
        .boot_support(&br.dp_type)
        .is_some_and(|s| s.tnl_push_pop);
    let run = boot && !native_tunnels_off(&br.dp_type);
    let Some(value) = args.get(2) else {
        return Ok(format!(
            "tnl_push_pop (Tunnel push pop) : [run time]:{run}, [boot time]:{boot}\n"
        ));
    };
    let mut off = push_pop_off().lock().unwrap_or_else(|e| e.into_inner());
    if value.eq_ignore_ascii_case("true") {
        if !boot {
            return Ok("Can not enable features not supported by the datapth".into());
        }
        off.remove(&br.dp_type);
    } else if value.eq_ignore_ascii_case("false") {
        off.insert(br.dp_type.clone());
    } else {
        return Ok("Boolean value expected".into());
    }
    drop(off);
    // As stock flushes the datapath's flows, every translation is redone.
    publish_after_route_change(bridges);
    Ok(String::new())
}

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

/// Moves when the underlay changes under translations already made
/// (routes, neighbours set or flushed by hand): the service then counts
/// the tables as changed, so no datapath flow keeps an old answer.
static UNDERLAY_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Publishes again after an underlay change by hand.
fn publish_after_route_change(bridges: &Bridges) {
    UNDERLAY_GENERATION.fetch_add(1, Ordering::Relaxed);
    if let Some(svc) = &bridges.upcall_service {
        publish(bridges, svc);
    }
}

/// Builds each datapath type's topology from the running bridges and
/// hands it to `service`; reloads the host's routes first when allowed.
pub fn publish(bridges: &Bridges, service: &OfprotoService) {
    publish_changes(bridges, service, &Delta::everything());
}

/// One bridge's topology as last published, and its ports whose IP
/// addresses come from the kernel (re-read on every publication, since
/// the host may change them at any time; dummy devices' addresses change
/// through `netdev-dummy/ip4addr`, which asks for a whole publication).
#[derive(Debug, Default)]
pub struct TopologyCache {
    bridges: BTreeMap<String, BridgeEntry>,
    /// The next publication rebuilds every bridge.
    pub stale: bool,
    /// The routes generation last published.
    routes_generation: u64,
}

/// One bridge's cached topology.
#[derive(Debug, Default)]
struct BridgeEntry {
    topo: BridgeTopo,
    /// Ports whose addresses come from the kernel, by OpenFlow number.
    kernel_ports: BTreeMap<u16, String>,
    /// The OpenFlow number each interface's entry was made under, so
    /// that a changed interface's old entry is found without a scan.
    ofport_of: HashMap<String, u16>,
}

/// Publishes the topology after the interfaces `delta` names changed:
/// their bridges' entries are patched for them alone; the other ports keep
/// what the last publication found (but for the kernel's IP addresses,
/// which are re-read).
pub fn publish_changes(bridges: &Bridges, service: &OfprotoService, delta: &Delta) {
    let mut cache = bridges
        .topology_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let all = delta.all || delta.settings || std::mem::take(&mut cache.stale);
    let u = underlay();
    if all && bridges.system_routes {
        match RouteTable::from_system() {
            Ok(mut t) => {
                let mut routes = u.routes.write().unwrap_or_else(|e| e.into_inner());
                t.keep_user_routes(&routes);
                if routes.routes() != t.routes() {
                    *routes = t;
                    UNDERLAY_GENERATION.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => log::debug!(target: "ovs_router", "reading routes failed: {e}"),
        }
    }
    let routes_generation = UNDERLAY_GENERATION.load(Ordering::Relaxed);
    if all {
        cache.bridges.clear();
    }
    let known = cache.bridges.len();
    cache
        .bridges
        .retain(|name, _| bridges.bridges.contains_key(name));
    // Patches (only the ports that changed) are sent instead of whole
    // topologies when every bridge was published before and is patched.
    let mut incremental = !all && known == cache.bridges.len();
    let mut touched: Vec<(String, BTreeSet<u16>)> = Vec::new();
    // The kernel's addresses (one netlink dump) only when a port takes
    // its addresses from the kernel: not for dummy devices.
    let kernel_device = |i: &Iface| !matches!(i.device, Some(Device::Dummy { .. }));
    let need_addrs = all
        || cache.bridges.values().any(|e| !e.kernel_ports.is_empty())
        || delta.ifaces.iter().any(|(b, names)| {
            let br = bridges.bridges.get(b);
            names.iter().any(|n| {
                br.and_then(|br| br.ifaces.get(n))
                    .is_some_and(kernel_device)
            })
        });
    let addrs = if need_addrs {
        ferrovs_netdev::dev::sys::if_addrs().unwrap_or_default()
    } else {
        Vec::new()
    };
    for br in bridges.bridges.values() {
        let names = if all { None } else { delta.bridge(&br.name) };
        incremental &= names.is_some() && cache.bridges.contains_key(&br.name);
        let BridgeEntry {
            topo: bt,
            kernel_ports,
            ofport_of,
        } = cache.bridges.entry(br.name.clone()).or_default();
        let mut touch = BTreeSet::new();
        let ifaces: Vec<&Iface> = match names {
            None => {
                *bt = BridgeTopo::default();
                kernel_ports.clear();
                ofport_of.clear();
                br.ifaces.values().collect()
            }
            Some(names) => {
                for name in names {
                    // Its entry, found by name (an entry under that
                    // number may since be another interface's).
                    let Some(n) = ofport_of.remove(name) else {
                        continue;
                    };
                    if bt.ports.get(&n).is_some_and(|p| p.name == *name) {
                        touch.insert(n);
                        bt.ports.remove(&n);
                        bt.odp_ports.remove(&n);
                        kernel_ports.remove(&n);
                    }
                }
                names.iter().filter_map(|n| br.ifaces.get(n)).collect()
            }
        };
        for i in ifaces {
            let Some(ofport) = i.ofport else { continue };
            touch.insert(ofport);
            // Its old entry, under the number it had (or another port's
            // under this one).
            bt.ports.remove(&ofport);
            bt.odp_ports.remove(&ofport);
            kernel_ports.remove(&ofport);
            if let Some(odp) = i.odp_port {
                bt.odp_ports.insert(ofport, odp);
            }
            let Some((topo, from_kernel)) = port_topo(bridges, br, i, &addrs) else {
                continue;
            };
            if from_kernel {
                kernel_ports.insert(ofport, i.name.clone());
            }
            ofport_of.insert(i.name.clone(), ofport);
            bt.ports.insert(ofport, topo);
        }
        for (ofport, name) in kernel_ports.iter() {
            let fresh: Vec<IpAddr> = kernel_addrs(&addrs, name);
            if let Some(p) = bt.ports.get_mut(ofport) {
                if p.addrs != fresh {
                    p.addrs = fresh;
                    touch.insert(*ofport);
                }
            }
        }
        touched.push((br.name.clone(), touch));
    }
    if incremental {
        for (br_name, ports) in touched {
            let (Some(br), Some(BridgeEntry { topo: bt, .. })) =
                (bridges.bridges.get(&br_name), cache.bridges.get(&br_name))
            else {
                continue;
            };
            if ports.is_empty() && routes_generation == cache.routes_generation {
                continue;
            }
            let patch = TopologyPatch {
                bridge: br_name,
                ports: ports
                    .into_iter()
                    .map(|n| (n, bt.odp_ports.get(&n).copied(), bt.ports.get(&n).cloned()))
                    .collect(),
                routes_generation,
            };
            service.patch_topology(&br.dp_type, patch);
        }
        cache.routes_generation = routes_generation;
        return;
    }
    cache.routes_generation = routes_generation;
    let mut by_type: BTreeMap<&str, Topology> = BTreeMap::new();
    for br in bridges.bridges.values() {
        let Some(BridgeEntry { topo: bt, .. }) = cache.bridges.get(&br.name) else {
            continue;
        };
        let topo = by_type.entry(br.dp_type.as_str()).or_insert_with(|| {
            let support = bridges.support(&br.dp_type);
            Topology {
                bridges: HashMap::new(),
                underlay: Arc::clone(u),
                routes_generation,
                kernel_tunnels: support.map_or(bridges.is_kernel(&br.dp_type), |s| !s.tnl_push_pop),
                hash_l4_only: support.is_some_and(|s| s.max_hash_alg == 0),
            }
        });
        topo.bridges.insert(br.name.clone(), bt.clone());
    }
    for (t, topo) in by_type {
        service.set_topology(t, Arc::new(topo));
    }
}

/// What translation knows about one interface, and whether its IP
/// addresses come from the kernel; `None` for a port it need not know
/// (a patch port without a peer, a tunnel with bad options).
fn port_topo(
    bridges: &Bridges,
    br: &Bridge,
    i: &Iface,
    addrs: &[(String, IpAddr, u8)],
) -> Option<(PortTopo, bool)> {
    let kind = match i.iface_type.as_str() {
        "patch" => PortKind::Patch {
            peer: i.options.get("peer")?.clone(),
        },
        t @ ("vxlan" | "geneve" | "gre") if !i.overridden => {
            match TunnelCfg::from_options(t, &i.options) {
                Ok(c) => PortKind::Tunnel(c),
                Err(e) => {
                    log::debug!(target: "tunnel", "{}: {e}", i.name);
                    return None;
                }
            }
        }
        _ => PortKind::Plain,
    };
    let device = i.odp_port.is_some() && matches!(kind, PortKind::Plain);
    let (mac, port_addrs, from_kernel) = if device {
        device_facts(bridges, &br.dp_type, &i.name, i.odp_port, addrs)
    } else {
        (None, Vec::new(), false)
    };
    // The bridge's own port has the bridge's address.
    let mac = if i.name == br.name {
        parse_mac(&br.mac).or(mac)
    } else {
        mac
    };
    let topo = PortTopo {
        name: i.name.clone(),
        mac,
        kind,
        addrs: port_addrs,
    };
    Some((topo, from_kernel))
}

/// A kernel device's IP addresses (but loopback ones).
fn kernel_addrs(sys_addrs: &[(String, IpAddr, u8)], name: &str) -> Vec<IpAddr> {
    sys_addrs
        .iter()
        .filter(|(d, a, _)| d == name && !a.is_loopback())
        .map(|(_, a, _)| *a)
        .collect()
}

/// A device's Ethernet address and IP addresses: a dummy device's from
/// `netdev-dummy/ip4addr`, a real one's from the kernel. The device is
/// found by its datapath port number (its datapath port carries the
/// interface's name), not by a scan of every port by name.
fn device_facts(
    bridges: &Bridges,
    dp_type: &str,
    name: &str,
    odp: Option<u32>,
    sys_addrs: &[(String, IpAddr, u8)],
) -> (Option<[u8; 6]>, Vec<IpAddr>, bool) {
    let ctl = bridges.netdev.get(dp_type);
    let dummy = ctl.zip(odp).and_then(|(c, p)| c.dummy_device(p));
    if let Some(d) = dummy {
        let mac = ctl
            .zip(odp)
            .and_then(|(c, p)| c.port_device(p))
            .and_then(|d| d.mac().ok());
        return (mac, d.addrs().into_iter().map(|(a, _)| a).collect(), false);
    }
    (read_mac(name), kernel_addrs(sys_addrs, name), true)
}

/// Every address of every device: the kernel's and the dummies'.
fn all_addrs(bridges: &Bridges) -> Vec<(String, IpAddr, u8)> {
    let mut v = ferrovs_netdev::dev::sys::if_addrs().unwrap_or_default();
    for br in bridges.bridges.values() {
        let Some(ctl) = bridges.netdev.get(&br.dp_type) else {
            continue;
        };
        // By port number: a lookup by name would scan every port.
        for i in br.ifaces.values() {
            let dummy = i.odp_port.and_then(|p| ctl.dummy_device(p));
            if let Some(d) = dummy.filter(|_| i.dp_port_name.as_deref() == Some(i.name.as_str())) {
                v.extend(d.addrs().into_iter().map(|(a, p)| (i.name.clone(), a, p)));
            }
        }
    }
    v
}

/// `ovs/route/add IP/PLEN DEV [GW] [pkt_mark=MARK]`.
fn route_add(args: &[String], bridges: &Bridges) -> Result<String, String> {
    let bad = || "Invalid parameters".to_string();
    let (Some(prefix), Some(dev)) = (args.first(), args.get(1)) else {
        return Err(bad());
    };
    let (ip, plen) = match prefix.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (prefix.as_str(), None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let plen: u8 = match plen {
        Some(p) => p.parse().map_err(|_| bad())?,
        None if ip.is_ipv4() => 32,
        None => 128,
    };
    let mut gw = None;
    let mut mark = 0;
    for a in &args[2..] {
        if let Some(m) = a.strip_prefix("pkt_mark=") {
            mark = m.parse().map_err(|_| "Invalid pkt_mark".to_string())?;
        } else {
            gw = Some(
                a.parse()
                    .map_err(|_| "Invalid pkt_mark or gateway".to_string())?,
            );
        }
    }
    let addrs = all_addrs(bridges);
    underlay()
        .routes
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .add_user_with(ip, plen, dev, gw, mark, &addrs)
        .map_err(|_| "Error while inserting route.".to_string())?;
    Ok("OK".into())
}

/// `IP[/PLEN]` and an optional `pkt_mark=MARK` argument.
fn route_args(args: &[String]) -> Result<(IpAddr, Option<u8>, u32), String> {
    let bad = || "Invalid parameters".to_string();
    let prefix = args.first().ok_or_else(bad)?;
    let (ip, plen) = match prefix.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
        None => (prefix.as_str(), None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let mark = match args.get(1) {
        Some(m) => m
            .strip_prefix("pkt_mark=")
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| "Invalid pkt_mark".to_string())?,
        None => 0,
    };
    Ok((ip, plen, mark))
}

fn format_mapped(a: &std::net::Ipv6Addr) -> String {
    match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    }
}

/// `ovs/route/del IP/PLEN [pkt_mark=MARK]`: a user route.
fn route_del(args: &[String]) -> Result<String, String> {
    let (ip, plen, mark) = route_args(args)?;
    let plen = plen.unwrap_or(if ip.is_ipv4() { 32 } else { 128 });
    let mut routes = underlay().routes.write().unwrap_or_else(|e| e.into_inner());
    if routes.del_user(ip, plen, mark) {
        Ok("OK".into())
    } else {
        Err("Not found".into())
    }
}

/// `ovs/route/lookup IP [pkt_mark=MARK]`.
fn route_lookup(args: &[String]) -> Result<String, String> {
    let (ip, plen, mark) = route_args(args)?;
    if plen.is_some_and(|p| p != if ip.is_ipv4() { 32 } else { 128 }) {
        return Err("Invalid parameters".into());
    }
    let hop = underlay()
        .routes()
        .lookup(mark, ip)
        .ok_or_else(|| "Not found".to_string())?;
    Ok(format!(
        "src {}\ngateway {}\ndev {}\n",
        format_mapped(&hop.src),
        format_mapped(&hop.gw),
        hop.dev
    ))
}

/// `tnl/ports/show -v`: the tunnel port map's entries, one per tunnel
/// datapath port and endpoint address, as the datapath flow each matches.
fn ports_show_verbose(bridges: &Bridges) -> String {
    let mut out = String::from("Listening ports:\n");
    let mut ports: BTreeMap<(u32, String), (&str, u16)> = BTreeMap::new();
    for br in bridges.bridges.values() {
        for i in br.ifaces.values() {
            let t = i.iface_type.as_str();
            if !matches!(t, "vxlan" | "geneve" | "gre") || i.overridden {
                continue;
            }
            if let (Some(odp), Some(name)) = (i.odp_port, &i.dp_port_name) {
                let port = TunnelCfg::from_options(t, &i.options).map_or(0, |c| c.dst_port);
                ports.insert((odp, name.clone()), (t, port));
            }
        }
    }
    let addrs = ferrovs_netdev::dev::sys::if_addrs().unwrap_or_default();
    let mut endpoints = Vec::new();
    for br in bridges.bridges.values() {
        for i in br.ifaces.values().filter(|i| i.odp_port.is_some()) {
            if matches!(i.iface_type.as_str(), "vxlan" | "geneve" | "gre" | "patch") {
                continue;
            }
            let (mac, a, _) = device_facts(bridges, &br.dp_type, &i.name, i.odp_port, &addrs);
            let mac = if i.name == br.name {
                parse_mac(&br.mac).or(mac)
            } else {
                mac
            };
            if let Some(mac) = mac {
                endpoints.extend(a.into_iter().map(|a| (mac, a)));
            }
        }
    }
    // As in stock, every device a route leaves through is a possible
    // endpoint too (its addresses are local).
    let mut devs: Vec<String> = underlay()
        .routes
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .routes()
        .iter()
        .map(|r| r.dev.clone())
        .filter(|d| {
            d != "lo"
                && !bridges
                    .bridges
                    .values()
                    .any(|b| b.ifaces.values().any(|i| &i.name == d))
        })
        .collect();
    devs.sort();
    devs.dedup();
    for d in devs {
        if let (Some(mac), a) = (
            read_mac(&d),
            addrs.iter().filter(|(n, a, _)| *n == d && !a.is_loopback()),
        ) {
            endpoints.extend(a.map(|(_, a, _)| (mac, *a)));
        }
    }
    for ((odp, name), (t, udp)) in &ports {
        for (mac, a) in &endpoints {
            let m = mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            let proto = if *t == "gre" { 47 } else { 17 };
            let l3 = match a {
                IpAddr::V4(v4) => format!("eth_type(0x0800),ipv4(dst={v4},proto={proto},frag=no)"),
                IpAddr::V6(v6) => {
                    format!("eth_type(0x86dd),ipv6(dst={v6},proto={proto},frag=no)")
                }
            };
            let l4 = if *t == "gre" {
                String::new()
            } else {
                format!(",udp(dst={udp})")
            };
            out.push_str(&format!("{name} ({odp}) : eth(dst={m}),{l3}{l4}\n"));
        }
    }
    out
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
        ("dpif/set-dp-features", _) => set_dp_features(args, bridges),
        ("tnl/ports/show", _) if args.first().is_some_and(|a| a.eq_ignore_ascii_case("-v")) => {
            Ok(ports_show_verbose(bridges))
        }
        ("tnl/ports/show", _) => Ok(ports_show(bridges)),
        ("ovs/route/show", _) => Ok(u.routes().show()),
        ("ovs/route/lookup", _) => route_lookup(args),
        ("ovs/route/del", _) => {
            let r = route_del(args);
            if r.is_ok() {
                publish_after_route_change(bridges);
            }
            r
        }
        ("ovs/route/add", _) => {
            let r = route_add(args, bridges);
            if r.is_ok() {
                publish_after_route_change(bridges);
            }
            r
        }
        (_, Some("show")) => {
            u.neigh.run();
            Ok(u.neigh.show())
        }
        (_, Some("flush")) => {
            u.neigh.flush();
            publish_after_route_change(bridges);
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
            publish_after_route_change(bridges);
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
