//! The tunnel route table (Open vSwitch's ovs-router): which device and
//! gateway reach an underlay address, and which local address to send
//! from. Filled from the kernel's routes (every table, unicast and local
//! routes, as stock reads them) plus routes added by hand
//! (`ovs/route/add`); looked up longest prefix first, local routes before
//! others. `show` prints `ovs/route/show` as stock does.
//!
//! Addresses are kept as IPv6, IPv4 ones mapped, with IPv6 prefix lengths
//! (an IPv4 /24 is a /120), as stock keeps them.

use std::fmt::Write;
use std::io;
use std::net::{IpAddr, Ipv6Addr};

use crate::dev::sys;

const RTM_GETROUTE: u16 = 26;
const RTM_NEWROUTE: u16 = 24;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RT_SCOPE_NOWHERE: u8 = 255;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_MARK: u16 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub mark: u32,
    /// The prefix, masked.
    pub prefix: Ipv6Addr,
    /// Prefix length in IPv6 terms.
    pub plen: u8,
    /// Local (kernel `local` table) routes rank above everything else of
    /// the same length; user routes above kernel ones.
    pub priority: u8,
    pub local: bool,
    pub user: bool,
    pub dev: String,
    pub gw: Ipv6Addr,
    pub src: Ipv6Addr,
}

/// The answer of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    pub dev: String,
    /// `::` when the destination is on the link.
    pub gw: Ipv6Addr,
    pub src: Ipv6Addr,
}

#[derive(Debug, Default, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
}

fn mapped(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

fn mask(plen: u8) -> u128 {
    if plen == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(plen.min(128)))
    }
}

fn format_mapped(a: &Ipv6Addr) -> String {
    match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    }
}

/// The local address to send to `dst` from: the address of `dev` whose
/// subnet holds `dst` with the longest prefix (IPv4 for IPv4).
fn source_for(addrs: &[(String, IpAddr, u8)], dev: &str, dst: &Ipv6Addr) -> Option<Ipv6Addr> {
    let v4 = dst.to_ipv4_mapped().is_some();
    addrs
        .iter()
        .filter(|(d, a, _)| d == dev && (!v4 || a.is_ipv4()))
        .filter_map(|(_, a, p)| {
            let plen = if a.is_ipv4() { p + 96 } else { *p };
            let m = mask(plen);
            let a6 = mapped(*a);
            (u128::from(a6) & m == u128::from(*dst) & m).then_some((plen, a6))
        })
        .max_by_key(|(plen, _)| *plen)
        .map(|(_, a)| a)
}

impl RouteTable {
    /// The kernel's routes now.
    pub fn from_system() -> io::Result<RouteTable> {
        let addrs = sys::if_addrs()?;
        let mut t = RouteTable::default();
        for msg in sys::rtnetlink_dump(RTM_GETROUTE, 0)? {
            if let Some((r, local)) = parse_route(&msg) {
                t.insert_kernel(r, local, &addrs);
            }
        }
        Ok(t)
    }

    fn insert_kernel(&mut self, r: RawRoute, local: bool, addrs: &[(String, IpAddr, u8)]) {
        let priority = if local {
            r.plen.saturating_add(64)
        } else {
            r.plen
        };
        let src = source_for(addrs, &r.dev, &r.dst).or_else(|| {
            (!r.gw.is_unspecified())
                .then(|| source_for(addrs, &r.dev, &r.gw))
                .flatten()
        });
        // Stock leaves out routes it has no source address for.
        let Some(src) = src else { return };
        self.replace(Route {
            mark: r.mark,
            prefix: Ipv6Addr::from(u128::from(r.dst) & mask(r.plen)),
            plen: r.plen,
            priority,
            local,
            user: false,
            dev: r.dev,
            gw: r.gw,
            src,
        });
    }

    /// `ovs/route/add`: a user route (IPv4 or IPv6 prefix with its own
    /// prefix length) through `dev`, optionally via `gw`; the source is
    /// `dev`'s address on the destination's (or the gateway's) subnet.
    pub fn add_user(
        &mut self,
        prefix: IpAddr,
        plen: u8,
        dev: &str,
        gw: Option<IpAddr>,
        mark: u32,
    ) -> Result<(), String> {
        let addrs = sys::if_addrs().map_err(|e| e.to_string())?;
        self.add_user_with(prefix, plen, dev, gw, mark, &addrs)
    }

    /// [`Self::add_user`] with the devices' addresses given (device,
    /// address, prefix length): dummy devices have theirs outside the
    /// kernel.
    pub fn add_user_with(
        &mut self,
        prefix: IpAddr,
        plen: u8,
        dev: &str,
        gw: Option<IpAddr>,
        mark: u32,
        addrs: &[(String, IpAddr, u8)],
    ) -> Result<(), String> {
        let (dst, plen6) = match prefix {
            IpAddr::V4(_) if plen <= 32 => (mapped(prefix), plen + 96),
            IpAddr::V6(_) if plen <= 128 => (mapped(prefix), plen),
            _ => return Err("Invalid parameters".into()),
        };
        let gw = gw.map(mapped).unwrap_or(Ipv6Addr::UNSPECIFIED);
        let src = source_for(addrs, dev, &dst)
            .or_else(|| source_for(addrs, dev, &gw))
            .ok_or_else(|| format!("Error while inserting route: {dev} has no usable address"))?;
        self.replace(Route {
            mark,
            prefix: Ipv6Addr::from(u128::from(dst) & mask(plen6)),
            plen: plen6,
            priority: plen6.saturating_add(32),
            local: false,
            user: true,
            dev: dev.to_string(),
            gw,
            src,
        });
        Ok(())
    }

    /// `ovs/route/del` of a user route.
    pub fn del_user(&mut self, prefix: IpAddr, plen: u8, mark: u32) -> bool {
        let plen6 = if prefix.is_ipv4() { plen + 96 } else { plen };
        let dst = Ipv6Addr::from(u128::from(mapped(prefix)) & mask(plen6));
        let before = self.routes.len();
        self.routes
            .retain(|r| !(r.user && r.mark == mark && r.prefix == dst && r.plen == plen6));
        self.routes.len() != before
    }

    fn replace(&mut self, r: Route) {
        self.routes.retain(|o| {
            !(o.mark == r.mark
                && o.prefix == r.prefix
                && o.plen == r.plen
                && o.priority == r.priority)
        });
        self.routes.push(r);
        // Highest priority first (a lookup takes the first match); equal
        // priorities keep the kernel's order, as stock shows them.
        self.routes.sort_by_key(|r| std::cmp::Reverse(r.priority));
    }

    /// The route to `dst` for packets marked `mark`.
    pub fn lookup(&self, mark: u32, dst: IpAddr) -> Option<NextHop> {
        let d = u128::from(mapped(dst));
        self.routes
            .iter()
            .find(|r| r.mark == mark && d & mask(r.plen) == u128::from(r.prefix))
            .map(|r| NextHop {
                dev: r.dev.clone(),
                gw: r.gw,
                src: r.src,
            })
    }

    /// Keeps the user routes of `old` (a reload from the kernel replaces
    /// only the cached ones).
    pub fn keep_user_routes(&mut self, old: &RouteTable) {
        for r in old.routes.iter().filter(|r| r.user) {
            self.replace(r.clone());
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// `ovs/route/show`.
    pub fn show(&self) -> String {
        let mut out = String::from("Route Table:\n");
        for r in &self.routes {
            out.push_str(if r.user { "User: " } else { "Cached: " });
            let plen = if r.prefix.to_ipv4_mapped().is_some() {
                r.plen.saturating_sub(96)
            } else {
                r.plen
            };
            let _ = write!(out, "{}/{plen}", format_mapped(&r.prefix));
            if r.mark != 0 {
                let _ = write!(out, " MARK {}", r.mark);
            }
            let _ = write!(out, " dev {}", r.dev);
            if !r.gw.is_unspecified() {
                let _ = write!(out, " GW {}", format_mapped(&r.gw));
            }
            let _ = write!(out, " SRC {}", format_mapped(&r.src));
            if r.local {
                out.push_str(" local");
            }
            out.push('\n');
        }
        out
    }
}

struct RawRoute {
    dst: Ipv6Addr,
    plen: u8,
    dev: String,
    gw: Ipv6Addr,
    mark: u32,
}

/// One RTM_NEWROUTE message (header included); `None` for routes stock
/// ignores (not unicast or local, scope nowhere, unknown family, no
/// device).
fn parse_route(msg: &[u8]) -> Option<(RawRoute, bool)> {
    if u16::from_ne_bytes([*msg.get(4)?, *msg.get(5)?]) != RTM_NEWROUTE {
        return None;
    }
    let rt = msg.get(16..28)?;
    let (family, dst_len, scope, ty) = (rt[0], rt[1], rt[6], rt[7]);
    let v4 = match i32::from(family) {
        libc::AF_INET => true,
        libc::AF_INET6 => false,
        _ => return None,
    };
    if scope == RT_SCOPE_NOWHERE || (ty != RTN_UNICAST && ty != RTN_LOCAL) {
        return None;
    }
    let addr = |b: &[u8]| -> Option<Ipv6Addr> {
        match (v4, b.len()) {
            (true, 4) => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_ipv6_mapped()),
            (false, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Some(Ipv6Addr::from(a))
            }
            _ => None,
        }
    };
    let mut r = RawRoute {
        dst: if v4 {
            std::net::Ipv4Addr::UNSPECIFIED.to_ipv6_mapped()
        } else {
            Ipv6Addr::UNSPECIFIED
        },
        plen: dst_len.saturating_add(if v4 { 96 } else { 0 }),
        dev: String::new(),
        gw: Ipv6Addr::UNSPECIFIED,
        mark: 0,
    };
    let mut pos = 28;
    while pos + 4 <= msg.len() {
        let len = usize::from(u16::from_ne_bytes([msg[pos], msg[pos + 1]]));
        let ty = u16::from_ne_bytes([msg[pos + 2], msg[pos + 3]]);
        if len < 4 || pos + len > msg.len() {
            break;
        }
        let data = &msg[pos + 4..pos + len];
        match ty {
            RTA_DST => r.dst = addr(data)?,
            RTA_GATEWAY => r.gw = addr(data)?,
            RTA_OIF if data.len() == 4 => {
                let idx = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
                r.dev = if_name(idx)?;
            }
            RTA_MARK if data.len() == 4 => {
                r.mark = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
            }
            _ => {}
        }
        pos += (len + 3) & !3;
    }
    if r.dev.is_empty() {
        return None;
    }
    Some((r, ty == RTN_LOCAL))
}

fn if_name(index: u32) -> Option<String> {
    std::fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .find_map(|e| {
            let idx = std::fs::read_to_string(e.path().join("ifindex")).ok()?;
            (idx.trim().parse::<u32>().ok()? == index)
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_local_first() {
        let mut t = RouteTable::default();
        let add = |t: &mut RouteTable, p: &str, plen: u8, local: bool, dev: &str, gw: &str| {
            let prefix: IpAddr = p.parse().unwrap();
            let plen6 = if prefix.is_ipv4() { plen + 96 } else { plen };
            t.replace(Route {
                mark: 0,
                prefix: Ipv6Addr::from(u128::from(mapped(prefix)) & mask(plen6)),
                plen: plen6,
                priority: if local { plen6 + 64 } else { plen6 },
                local,
                user: false,
                dev: dev.into(),
                gw: match gw {
                    "" => Ipv6Addr::UNSPECIFIED,
                    g => mapped(g.parse().unwrap()),
                },
                src: mapped("10.0.0.5".parse().unwrap()),
            });
        };
        add(&mut t, "0.0.0.0", 0, false, "eth0", "10.0.0.1");
        add(&mut t, "10.0.0.0", 24, false, "eth0", "");
        add(&mut t, "10.0.0.5", 32, true, "eth0", "");
        add(&mut t, "192.168.0.0", 16, false, "eth1", "");
        let hop = |ip: &str| t.lookup(0, ip.parse().unwrap()).map(|h| h.dev);
        assert_eq!(hop("10.0.0.7"), Some("eth0".into()));
        assert_eq!(hop("192.168.3.4"), Some("eth1".into()));
        let via = t.lookup(0, "8.8.8.8".parse().unwrap()).unwrap();
        assert_eq!(format_mapped(&via.gw), "10.0.0.1");
        assert_eq!(t.routes()[0].plen, 128, "local route first");
        let shown = t.show();
        assert!(shown.starts_with("Route Table:\n"));
        assert!(shown.contains("Cached: 10.0.0.5/32 dev eth0 SRC 10.0.0.5 local\n"));
        assert!(shown.contains("Cached: 0.0.0.0/0 dev eth0 GW 10.0.0.1 SRC 10.0.0.5\n"));
        assert_eq!(
            t.lookup(7, "10.0.0.7".parse().unwrap()),
            None,
            "marks separate"
        );
    }

    #[test]
    fn system_routes_load() {
        // Every host has at least the loopback's local route.
        let t = RouteTable::from_system().unwrap();
        assert!(t
            .routes()
            .iter()
            .any(|r| r.local && r.dev == "lo" && format_mapped(&r.prefix) == "127.0.0.1"));
        assert_eq!(
            t.lookup(0, "127.0.0.1".parse().unwrap()).map(|h| h.dev),
            Some("lo".into())
        );
    }
}
