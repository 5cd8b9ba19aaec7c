//! In-band control: hidden rules that keep the switch's own traffic to
//! and from its controllers flowing through the bridge's LOCAL port,
//! whatever the OpenFlow tables say (Open vSwitch's in-band.c and
//! ovs-vswitchd.conf.db(5), "In-Band Control").
//!
//! For every in-band controller reached over TCP (`tcp:IP[:PORT]`,
//! `ssl:IP[:PORT]`), table 0 gets `actions=NORMAL` rules at priorities
//! 180000-180008, above anything OpenFlow can set, so controllers never
//! see them:
//!
//! - (a) 180000 DHCP requests from the local port,
//! - (b) 180001 ARP replies to the local port's MAC,
//! - (c) 180002 ARP requests from the local port's MAC,
//! - (d) 180003 ARP replies to the next hop's MAC,
//! - (e) 180004 ARP requests from the next hop's MAC,
//! - (f) 180005 ARP replies for the controller's IP,
//! - (g) 180006 ARP requests from the controller's IP,
//! - (h) 180007 TCP to the controller's IP and port,
//! - (i) 180008 TCP from the controller's IP and port.
//!
//! (a)-(c) need the local port's MAC; (d) and (e) need the next hop's
//! MAC, which stock finds only when the local port is a Linux device:
//! the first up route in `/proc/net/route` that covers the controller
//! gives the gateway (or the controller itself) and the device, and the
//! device's ARP entry gives the MAC. On other devices (the dummy
//! datapath's, whatever the host's devices are called) the route lookup
//! is unsupported and (d)/(e) are left out, as stock does.
//!
//! The event loop hands over the controllers (`configure`) and calls
//! `run` on its timer; `run` re-adds rules a flush removed, removes the
//! ones no longer wanted, and reports whether the tables changed.

use super::ControllerConfig;
use crate::openflow::actions::{port, Action, Instructions};
use crate::openflow::fields::{id, Match};
use crate::switch::{Rule, SharedSwitch, Switch};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// Where the log lines go: stock's module name.
const LOG: &str = "in_band";

/// The priority of rule (a); the others follow in the order listed in
/// the module documentation.
pub const IN_BAND_PRIORITY: u32 = 180_000;

/// The OpenFlow controller port a target without one uses.
const OFP_PORT: u16 = 6653;

/// How often the local port's MAC is read again.
const LOCAL_REFRESH: Duration = Duration::from_secs(1);

/// How soon the next hop's MAC is looked up again: soon while unknown
/// (ARP is probably under way), rarely once known.
const REMOTE_REFRESH_UNKNOWN: Duration = Duration::from_secs(1);
const REMOTE_REFRESH_KNOWN: Duration = Duration::from_secs(10);

const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_ARP: u128 = 0x0806;
const IPPROTO_TCP: u128 = 6;
const IPPROTO_UDP: u128 = 17;
const ARP_REQUEST: u128 = 1;
const ARP_REPLY: u128 = 2;
const DHCP_CLIENT_PORT: u128 = 68;
const DHCP_SERVER_PORT: u128 = 67;

/// One in-band controller address and what was learned about its route.
struct Remote {
    addr: SocketAddrV4,
    /// The MAC of the next hop towards it, when known.
    next_hop_mac: Option<[u8; 6]>,
}

/// A bridge's in-band state.
#[derive(Default)]
pub(crate) struct InBand {
    remotes: Vec<Remote>,
    /// The controllers' addresses and the extra ones (managers).
    controllers: Vec<SocketAddrV4>,
    extras: Vec<SocketAddrV4>,
    /// other_config:in-band-queue: the rules set this queue first.
    queue: Option<u32>,
    local_mac: Option<[u8; 6]>,
    next_local_refresh: Option<Instant>,
    next_remote_refresh: Option<Instant>,
    /// The rules this module installed (match, priority).
    installed: Vec<(Match, u32)>,
}

impl InBand {
    /// Takes the bridge's controllers: the in-band ones with an IPv4 TCP
    /// or SSL target become remotes (in the given order).
    pub fn configure(&mut self, ctls: &[&ControllerConfig]) {
        self.controllers = ctls
            .iter()
            .filter(|c| c.in_band)
            .filter_map(|c| parse_target(&c.target, OFP_PORT))
            .collect();
        self.update_remotes();
    }

    /// Takes the bridge's in-band settings besides its controllers: the
    /// managers' addresses (ovsdb-server must reach them too) and the
    /// queue.
    pub fn set_extras(&mut self, managers: Vec<SocketAddrV4>, queue: Option<u32>) {
        self.extras = managers;
        self.queue = queue;
        self.update_remotes();
    }

    fn update_remotes(&mut self) {
        let addrs: Vec<SocketAddrV4> = self
            .controllers
            .iter()
            .chain(&self.extras)
            .copied()
            .collect();
        if addrs.iter().ne(self.remotes.iter().map(|r| &r.addr)) {
            self.remotes = addrs
                .into_iter()
                .map(|addr| Remote {
                    addr,
                    next_hop_mac: None,
                })
                .collect();
            self.next_remote_refresh = None;
        }
    }

    /// Refreshes what is due and brings table 0 in line. Returns whether
    /// the tables changed.
    pub fn run(&mut self, sw: &SharedSwitch, now: Instant) -> bool {
        if self.remotes.is_empty() && self.installed.is_empty() {
            return false;
        }
        let local = sw
            .read()
            .ports
            .iter()
            .find(|p| p.ofp_port == port::LOCAL)
            .map(|p| (p.hw_addr, p.kernel_device));
        if self.next_local_refresh.is_none_or(|at| now >= at) {
            self.next_local_refresh = Some(now + LOCAL_REFRESH);
            self.local_mac = local.map(|(mac, _)| mac).filter(|m| *m != [0; 6]);
        }
        if self.next_remote_refresh.is_none_or(|at| now >= at) {
            let kernel_device = local.map(|(_, kernel)| kernel);
            let mut soonest = REMOTE_REFRESH_KNOWN;
            let bridge = sw.read().name.clone();
            for r in &mut self.remotes {
                let host = *r.addr.ip();
                r.next_hop_mac = match kernel_device.map(|k| next_hop_mac(k, host)) {
                    Some(Ok(mac)) => mac,
                    // (Stock rate-limits this to 60 a minute; at one
                    // refresh a second, that is every one.)
                    Some(Err(why)) => {
                        log::warn!(
                            target: LOG,
                            "{bridge}: cannot find route for controller ({host}): {why}"
                        );
                        None
                    }
                    None => None,
                };
                if r.next_hop_mac.is_none() {
                    soonest = REMOTE_REFRESH_UNKNOWN;
                }
            }
            self.next_remote_refresh = Some(now + soonest);
        }
        let wanted = rules(self.local_mac, &self.remotes);
        let actions = instructions(self.queue);
        let on = !self.remotes.is_empty();
        // Most ticks change nothing: look before taking the write lock
        // that translation waits for.
        if wanted == self.installed && in_place(&sw.read(), &wanted, &actions, on) {
            return false;
        }
        let mut changed = false;
        let mut sw = sw.write();
        for (m, p) in &self.installed {
            if !wanted.contains(&(m.clone(), *p)) {
                changed |= remove_rule(&mut sw, m, *p);
            }
        }
        for (m, p) in &wanted {
            changed |= add_rule(&mut sw, m, *p, &actions);
        }
        self.installed = wanted;
        changed |= std::mem::replace(&mut sw.in_band, on) != on;
        changed
    }
}

/// The address of a `tcp:` or `ssl:` target with an IPv4 address, the
/// port defaulting to `default_port`.
pub fn parse_target(target: &str, default_port: u16) -> Option<SocketAddrV4> {
    let rest = target
        .strip_prefix("tcp:")
        .or_else(|| target.strip_prefix("ssl:"))?;
    let (ip, port) = match rest.split_once(':') {
        Some((ip, port)) => (ip, port.parse().ok()?),
        None => (rest, default_port),
    };
    Some(SocketAddrV4::new(ip.parse().ok()?, port))
}

/// Stock's rule set for these remotes, (a) to (i), without duplicates
/// (two remotes with one next hop share its rules).
fn rules(local_mac: Option<[u8; 6]>, remotes: &[Remote]) -> Vec<(Match, u32)> {
    let mut out: Vec<(Match, u32)> = Vec::new();
    let mut add = |m: Match, which: u32| {
        if !out.iter().any(|(x, _)| *x == m) {
            out.push((m, IN_BAND_PRIORITY + which));
        }
    };
    let mac = |m: [u8; 6]| {
        u128::from(u64::from_be_bytes([
            0, 0, m[0], m[1], m[2], m[3], m[4], m[5],
        ]))
    };
    if let (Some(local), false) = (local_mac, remotes.is_empty()) {
        let mut m = Match::catchall();
        m.set_exact(id::IN_PORT, u128::from(port::LOCAL));
        m.set_exact(id::ETH_TYPE, ETH_TYPE_IP);
        m.set_exact(id::ETH_SRC, mac(local));
        m.set_exact(id::NW_PROTO, IPPROTO_UDP);
        m.set_exact(id::UDP_SRC, DHCP_CLIENT_PORT);
        m.set_exact(id::UDP_DST, DHCP_SERVER_PORT);
        add(m, 0);
        add(arp(ARP_REPLY, Some((id::ETH_DST, mac(local)))), 1);
        add(arp(ARP_REQUEST, Some((id::ETH_SRC, mac(local)))), 2);
    }
    for r in remotes {
        if let Some(hop) = r.next_hop_mac {
            add(arp(ARP_REPLY, Some((id::ETH_DST, mac(hop)))), 3);
            add(arp(ARP_REQUEST, Some((id::ETH_SRC, mac(hop)))), 4);
        }
    }
    for r in remotes {
        let ip = u128::from(u32::from(*r.addr.ip()));
        let tcp_port = u128::from(r.addr.port());
        add(arp(ARP_REPLY, Some((id::ARP_TPA, ip))), 5);
        add(arp(ARP_REQUEST, Some((id::ARP_SPA, ip))), 6);
        for (which, addr, tp) in [(7, id::IP_DST, id::TCP_DST), (8, id::IP_SRC, id::TCP_SRC)] {
            let mut m = Match::catchall();
            m.set_exact(id::ETH_TYPE, ETH_TYPE_IP);
            m.set_exact(id::NW_PROTO, IPPROTO_TCP);
            m.set_exact(addr, ip);
            m.set_exact(tp, tcp_port);
            add(m, which);
        }
    }
    out
}

/// An ARP match on the opcode and one more field.
fn arp(op: u128, field: Option<(usize, u128)>) -> Match {
    let mut m = Match::catchall();
    m.set_exact(id::ETH_TYPE, ETH_TYPE_ARP);
    m.set_exact(id::ARP_OP, op);
    if let Some((f, v)) = field {
        m.set_exact(f, v);
    }
    m
}

/// The rules' actions: NORMAL, after `set_queue` when a queue is set.
fn instructions(queue: Option<u32>) -> Instructions {
    let mut apply: Vec<Action> = queue.map(Action::SetQueue).into_iter().collect();
    apply.push(Action::Output {
        port: port::NORMAL,
        max_len: 0,
    });
    Instructions {
        apply,
        ..Default::default()
    }
}

/// Whether table 0 holds every rule of `wanted` with `actions` and the
/// switch's in-band flag is `on`.
fn in_place(sw: &Switch, wanted: &[(Match, u32)], actions: &Instructions, on: bool) -> bool {
    let Some(t) = sw.tables.first() else {
        return true;
    };
    sw.in_band == on
        && wanted.iter().all(|(m, p)| {
            t.find_exact(m, *p)
                .is_some_and(|r| *r.instructions == *actions)
        })
}

/// Adds the rule unless it is there with these actions; returns whether
/// the table changed.
fn add_rule(sw: &mut Switch, m: &Match, priority: u32, actions: &Instructions) -> bool {
    let Some(t) = sw.tables.first_mut() else {
        return false;
    };
    if t.find_exact(m, priority)
        .is_some_and(|r| *r.instructions == *actions)
    {
        return false;
    }
    t.insert(m, priority, Rule::new(actions.clone()));
    true
}

/// Removes the rule straight out of the table (a hidden rule's removal
/// is no flow monitor's business); returns whether it was there.
fn remove_rule(sw: &mut Switch, m: &Match, priority: u32) -> bool {
    sw.tables
        .first_mut()
        .is_some_and(|t| t.remove(m, priority).is_some())
}

/// The MAC of the next hop to `host`, as stock finds it from a local port
/// that is a Linux device (`kernel_device`): an error (stock's words for
/// it) when the local port is no such device (a dummy port: stock's dummy
/// class cannot look up routes, even where the host has a device of the
/// same name) or no route covers `host`; `None` when the neighbour is not
/// resolved.
fn next_hop_mac(kernel_device: bool, host: Ipv4Addr) -> Result<Option<[u8; 6]>, &'static str> {
    if !kernel_device {
        return Err("Operation not supported");
    }
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let Some((iface, gateway)) = route_lookup(&routes, host) else {
        return Err("No such device or address");
    };
    let hop = if gateway.is_unspecified() {
        host
    } else {
        gateway
    };
    let Ok(arp) = std::fs::read_to_string("/proc/net/arp") else {
        return Ok(None);
    };
    Ok(arp_lookup(&arp, &iface, hop))
}

/// The first up route of `/proc/net/route` (text `table`) that covers
/// `host`: its device and gateway (0.0.0.0 when directly reachable).
/// Stock takes the first match in the file's order, not the longest.
fn route_lookup(table: &str, host: Ipv4Addr) -> Option<(String, Ipv4Addr)> {
    // The file prints addresses as the hex of the 32-bit value in host
    // (little-endian on the machines we run on) byte order.
    let addr = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_le_bytes()))
    };
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, gw, flags, mask) = (
            f.first()?,
            addr(f.get(1)?)?,
            addr(f.get(2)?)?,
            f.get(3)?,
            addr(f.get(7)?)?,
        );
        let up = u16::from_str_radix(flags, 16).ok()? & 1 != 0;
        let (d, m, h) = (u32::from(dest), u32::from(mask), u32::from(host));
        (up && d & m == h & m).then(|| (iface.to_string(), gw))
    })
}

/// The MAC `/proc/net/arp` (text `table`) holds for `ip` on `dev`, if
/// the entry is complete.
fn arp_lookup(table: &str, dev: &str, ip: Ipv4Addr) -> Option<[u8; 6]> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (entry_ip, flags, hw, entry_dev) = (f.first()?, f.get(2)?, f.get(3)?, f.get(5)?);
        // ATF_COM (0x2): the entry is resolved.
        let complete = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()? & 2 != 0;
        if !complete || *entry_dev != dev || entry_ip.parse::<Ipv4Addr>().ok()? != ip {
            return None;
        }
        let mut mac = [0u8; 6];
        let mut parts = hw.split(':');
        for b in &mut mac {
            *b = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        Some(mac)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_the_default_port() {
        let a = |s: &str| s.parse::<SocketAddrV4>().ok();
        assert_eq!(parse_target("tcp:10.0.0.1", 6653), a("10.0.0.1:6653"));
        assert_eq!(parse_target("ssl:10.0.0.1:6633", 6653), a("10.0.0.1:6633"));
        assert_eq!(parse_target("tcp:10.0.0.1", 6640), a("10.0.0.1:6640"));
        assert_eq!(parse_target("unix:/x", 6653), None);
        assert_eq!(parse_target("ptcp:6653", 6653), None);
        assert_eq!(parse_target("tcp:[::1]:6653", 6653), None);
        assert_eq!(parse_target("tcp:10.0.0.1:x", 6653), None);
    }

    #[test]
    fn rule_set_follows_what_is_known() {
        let remote = |ip: &str, hop: Option<[u8; 6]>| Remote {
            addr: SocketAddrV4::new(ip.parse().unwrap(), 6653),
            next_hop_mac: hop,
        };
        let prios = |r: &[(Match, u32)]| {
            r.iter()
                .map(|(_, p)| p - IN_BAND_PRIORITY)
                .collect::<Vec<_>>()
        };
        let mac = Some([0xaa, 0, 0, 0, 0, 1]);
        // No remotes: nothing, even with a local MAC.
        assert!(rules(mac, &[]).is_empty());
        // Dummy local port: no next hop, no (d)/(e).
        assert_eq!(
            prios(&rules(mac, &[remote("10.0.0.2", None)])),
            [0, 1, 2, 5, 6, 7, 8]
        );
        // No local MAC yet: only the remote's own rules.
        assert_eq!(
            prios(&rules(None, &[remote("10.0.0.2", None)])),
            [5, 6, 7, 8]
        );
        // Two remotes behind one gateway share its (d)/(e).
        let hop = Some([2, 0, 0, 0, 0, 9]);
        let two = [remote("10.0.0.2", hop), remote("10.0.0.3", hop)];
        assert_eq!(
            prios(&rules(mac, &two)),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8]
        );
    }

    #[test]
    fn run_installs_restores_and_removes_the_rules() {
        let sw = SharedSwitch::new(Switch::new("br0", 1));
        let hidden = |sw: &SharedSwitch| sw.read().hidden_rules(0);
        let mut ctl = ControllerConfig::new("tcp:10.0.0.2:6653");
        ctl.in_band = true;
        let mut ib = InBand::default();
        let t0 = Instant::now();
        ib.configure(&[&ctl]);
        // No local port here: (f)-(i) only.
        assert!(ib.run(&sw, t0));
        assert_eq!(hidden(&sw), 4);
        assert!(sw.read().in_band);
        assert!(!ib.run(&sw, t0));
        // A flush takes them; the next run puts them back.
        sw.write().flush();
        assert_eq!(hidden(&sw), 0);
        assert!(ib.run(&sw, t0));
        assert_eq!(hidden(&sw), 4);
        // A queue changes their actions.
        ib.set_extras(Vec::new(), Some(3));
        assert!(ib.run(&sw, t0));
        let queued = sw.read().tables[0]
            .rules()
            .all(|r| r.instructions.apply.first() == Some(&Action::SetQueue(3)));
        assert!(queued);
        // Out-of-band: gone.
        ctl.in_band = false;
        ib.configure(&[&ctl]);
        assert!(ib.run(&sw, t0));
        assert_eq!(hidden(&sw), 0);
        assert!(!sw.read().in_band);
        assert!(!ib.run(&sw, t0));
    }

    #[test]
    fn routes_and_neighbours_read_as_stock_reads_them() {
        let routes =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth1\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n\
            down\t0000000B\t00000000\t0000\t0\t0\t0\t000000FF\t0\t0\t0\n";
        let gw: Ipv4Addr = "192.168.1.1".parse().unwrap();
        // First match in file order: the default route comes first here.
        assert_eq!(
            route_lookup(routes, "10.1.2.3".parse().unwrap()),
            Some(("eth0".into(), gw))
        );
        let only_local = routes
            .lines()
            .filter(|l| !l.starts_with("eth0"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            route_lookup(&only_local, "10.1.2.3".parse().unwrap()),
            Some(("eth1".into(), Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(route_lookup(&only_local, "11.0.0.1".parse().unwrap()), None);
        let arp =
            "IP address       HW type     Flags       HW address            Mask     Device\n\
            192.168.1.1      0x1         0x2         52:54:00:12:35:02     *        eth0\n\
            10.1.2.3         0x1         0x0         00:00:00:00:00:00     *        eth1\n";
        assert_eq!(
            arp_lookup(arp, "eth0", gw),
            Some([0x52, 0x54, 0, 0x12, 0x35, 2])
        );
        assert_eq!(arp_lookup(arp, "eth1", gw), None);
        assert_eq!(arp_lookup(arp, "eth1", "10.1.2.3".parse().unwrap()), None);
    }
}
