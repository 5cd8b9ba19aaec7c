//! What translation knows about the bridges of one datapath beyond their
//! tables: each bridge's datapath port numbers, its patch and tunnel
//! ports, the addresses of its ports (tunnel endpoints), and the
//! process-wide underlay state (routes and neighbours) that native
//! tunnelling resolves through.
//!
//! The daemon builds a [`Topology`] per datapath after every
//! reconfiguration (and periodically, to follow address changes) and
//! hands it to the OpenFlow service, which translates with it. Patch
//! ports reach the peer bridge through it; tunnel ports find their
//! configuration and the underlay bridge through it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ferrovs_netdev::neigh::NeighCache;
use ferrovs_netdev::route::RouteTable;
use ferrovs_netdev::tunnel::TunnelKind;

/// Route table and neighbour cache shared by every datapath of the
/// process (`tnl/*`, `ovs/route/*` show them).
#[derive(Debug, Default)]
pub struct Underlay {
    pub routes: RwLock<RouteTable>,
    pub neigh: NeighCache,
}

impl Underlay {
    pub fn routes(&self) -> std::sync::RwLockReadGuard<'_, RouteTable> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The bridges of one datapath.
#[derive(Debug, Default, Clone)]
pub struct Topology {
    pub bridges: HashMap<String, BridgeTopo>,
    pub underlay: Arc<Underlay>,
    /// Moves when the underlay's routes change (translations through
    /// tunnels may then differ).
    pub routes_generation: u64,
    /// The datapath is the kernel module's: its tunnel vports encapsulate
    /// and decapsulate themselves (no `tnl_push`/`tnl_pop`, which only
    /// the userspace datapath has).
    pub kernel_tunnels: bool,
    /// The datapath's `hash` action has only OVS_HASH_ALG_L4 (kernels
    /// before 6.5): select groups hash with it, as stock does when its
    /// probe finds no symmetric L4 hash.
    pub hash_l4_only: bool,
}

/// One bridge: OpenFlow to datapath port numbers and what its ports are.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BridgeTopo {
    pub odp_ports: HashMap<u16, u32>,
    pub ports: HashMap<u16, PortTopo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortTopo {
    /// The interface (and device) name.
    pub name: String,
    pub kind: PortKind,
    /// The device's Ethernet address, when it has one.
    pub mac: Option<[u8; 6]>,
    /// The device's IP addresses: a port with any is a possible tunnel
    /// endpoint (packets to those addresses are decapsulated there).
    pub addrs: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortKind {
    Plain,
    /// A patch port and the name of its peer interface.
    Patch {
        peer: String,
    },
    Tunnel(TunnelCfg),
}

/// An address option of a tunnel: fixed, or taken from the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromFlow<T> {
    Fixed(T),
    Flow,
}

/// A tunnel interface's options, as `set_tunnel_config` reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelCfg {
    pub kind: TunnelKind,
    pub remote_ip: FromFlow<IpAddr>,
    pub local_ip: Option<FromFlow<IpAddr>>,
    /// Key expected on receive: None when no key option is given (then
    /// only key 0 matches).
    pub in_key: Option<FromFlow<u64>>,
    pub out_key: Option<FromFlow<u64>>,
    pub dst_port: u16,
    /// None: inherit from the inner packet.
    pub tos: Option<u8>,
    /// None: inherit from the inner packet.
    pub ttl: Option<u8>,
    pub df: bool,
    pub csum: bool,
}

/// Stock's default outer TTL.
pub const DEFAULT_TTL: u8 = 64;

fn parse_key(s: &str) -> Result<FromFlow<u64>, String> {
    if s == "flow" {
        return Ok(FromFlow::Flow);
    }
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    v.map(FromFlow::Fixed)
        .map_err(|_| format!("bad key value {s}"))
}

fn parse_ip(s: &str, what: &str) -> Result<FromFlow<IpAddr>, String> {
    if s == "flow" {
        return Ok(FromFlow::Flow);
    }
    s.parse()
        .map(FromFlow::Fixed)
        .map_err(|_| format!("bad {what} {s}"))
}

impl TunnelCfg {
    /// Reads the Interface `options` of a tunnel of type `t`.
    pub fn from_options(t: &str, options: &BTreeMap<String, String>) -> Result<TunnelCfg, String> {
        let kind = TunnelKind::from_type(t).ok_or_else(|| format!("{t}: not a tunnel type"))?;
        let get = |k: &str| options.get(k).map(String::as_str);
        let remote_ip = parse_ip(get("remote_ip").unwrap_or(""), "remote_ip")?;
        let local_ip = get("local_ip")
            .map(|s| parse_ip(s, "local_ip"))
            .transpose()?;
        let key = |name: &str| get(name).or_else(|| get("key")).map(parse_key).transpose();
        let dst_port = match get("dst_port") {
            Some(p) => p.parse().map_err(|_| format!("bad dst_port {p}"))?,
            None => kind.default_port(),
        };
        let tos = match get("tos") {
            None => Some(0),
            Some("inherit") => None,
            Some(v) => Some(v.parse::<u8>().map_err(|_| format!("bad tos {v}"))? & 0xfc),
        };
        let ttl = match get("ttl") {
            None => Some(DEFAULT_TTL),
            Some("inherit") => None,
            Some(v) => Some(v.parse().map_err(|_| format!("bad ttl {v}"))?),
        };
        Ok(TunnelCfg {
            kind,
            remote_ip,
            local_ip,
            in_key: key("in_key")?,
            out_key: key("out_key")?,
            dst_port,
            tos,
            ttl,
            df: get("df_default") != Some("false"),
            csum: get("csum") == Some("true"),
        })
    }
}

impl Topology {
    /// Whether some bridge has a patch or tunnel port (translation then
    /// depends on more than the bridge's own tables).
    pub fn crosses_bridges(&self) -> bool {
        self.bridges
            .values()
            .flat_map(|b| b.ports.values())
            .any(|p| !matches!(p.kind, PortKind::Plain))
    }

    /// The bridge and OpenFlow port of the patch port that `name` (a
    /// patch interface) is peered with, when both name each other.
    pub fn patch_peer(&self, bridge: &str, ofport: u16) -> Option<(&str, u16)> {
        let me = self.bridges.get(bridge)?.ports.get(&ofport)?;
        let PortKind::Patch { peer } = &me.kind else {
            return None;
        };
        self.bridges.iter().find_map(|(b, bt)| {
            bt.ports.iter().find_map(|(&p, pt)| {
                let back = matches!(&pt.kind, PortKind::Patch { peer: back } if *back == me.name);
                (pt.name == *peer && back).then_some((b.as_str(), p))
            })
        })
    }

    /// The port named `dev` that a route out of `dev` leaves through:
    /// the bridge called `dev` first (its internal port), else any
    /// bridge's port of that name.
    pub fn port_by_dev(&self, dev: &str) -> Option<(&str, u16, &PortTopo)> {
        let in_bridge = |b: &str| {
            let bt = self.bridges.get(b)?;
            bt.ports
                .iter()
                .find(|(_, pt)| pt.name == dev)
                .map(|(&p, pt)| (p, pt))
        };
        if let Some((b, _)) = self.bridges.get_key_value(dev) {
            if let Some((p, pt)) = in_bridge(dev) {
                return Some((b.as_str(), p, pt));
            }
        }
        let mut names: Vec<&String> = self.bridges.keys().collect();
        names.sort();
        names.into_iter().find_map(|b| {
            let (p, pt) = in_bridge(b)?;
            Some((b.as_str(), p, pt))
        })
    }

    /// The tunnel datapath ports, with their kind and UDP port, for
    /// terminating tunnels (`tnl/ports/show` lists them too).
    pub fn tunnel_dp_ports(&self) -> Vec<(u32, TunnelKind, u16)> {
        let mut v: Vec<(u32, TunnelKind, u16)> = Vec::new();
        for bt in self.bridges.values() {
            for (p, pt) in &bt.ports {
                // The kind first: only a tunnel port's number is looked up
                // (a translation asks per output, and the maps hash with
                // SipHash).
                let PortKind::Tunnel(c) = &pt.kind else {
                    continue;
                };
                if let Some(&odp) = bt.odp_ports.get(p) {
                    if !v.iter().any(|(o, _, _)| *o == odp) {
                        v.push((odp, c.kind, c.dst_port));
                    }
                }
            }
        }
        v.sort_by_key(|x| x.0);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tunnel_options_as_stock_reads_them() {
        let c = TunnelCfg::from_options(
            "vxlan",
            &opts(&[("remote_ip", "flow"), ("key", "0x10"), ("tos", "inherit")]),
        )
        .unwrap();
        assert_eq!(c.remote_ip, FromFlow::Flow);
        assert_eq!(c.in_key, Some(FromFlow::Fixed(16)));
        assert_eq!(c.out_key, Some(FromFlow::Fixed(16)));
        assert_eq!(
            (c.dst_port, c.tos, c.ttl, c.df),
            (4789, None, Some(64), true)
        );
        let g = TunnelCfg::from_options(
            "gre",
            &opts(&[
                ("remote_ip", "10.0.0.2"),
                ("out_key", "flow"),
                ("csum", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(g.in_key, None);
        assert_eq!(g.out_key, Some(FromFlow::Flow));
        assert!(g.csum);
        assert!(TunnelCfg::from_options("geneve", &opts(&[("remote_ip", "x")])).is_err());
    }

    #[test]
    fn patch_peers_must_name_each_other() {
        let mut t = Topology::default();
        let port = |name: &str, peer: &str| PortTopo {
            name: name.into(),
            kind: PortKind::Patch { peer: peer.into() },
            mac: None,
            addrs: vec![],
        };
        let mut a = BridgeTopo::default();
        a.ports.insert(1, port("p0", "p1"));
        let mut b = BridgeTopo::default();
        b.ports.insert(7, port("p1", "p0"));
        b.ports.insert(8, port("p2", "p0"));
        t.bridges.insert("br0".into(), a);
        t.bridges.insert("br1".into(), b);
        assert_eq!(t.patch_peer("br0", 1), Some(("br1", 7)));
        assert_eq!(t.patch_peer("br1", 7), Some(("br0", 1)));
        assert_eq!(t.patch_peer("br1", 8), None, "p0 does not name p2");
    }
}
