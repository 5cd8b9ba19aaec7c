//! The tunnel neighbour cache: underlay IP address to MAC address, per
//! bridge, learned by snooping ARP replies, gratuitous ARPs and neighbour
//! advertisements that pass through the switch (or set by hand), with an
//! idle timeout. Building a `tnl_push` header needs the MAC of the next
//! hop; this is where it comes from. `show` prints `tnl/neigh/show` as
//! stock does.
//!
//! A new entry or a changed MAC moves [`NeighCache::changes`]: flows
//! translated with the old answer (or with none) carry a stale or missing
//! `tnl_push` header, so the daemon revalidates every flow then, as stock
//! does when its neighbour cache changes. Refreshing an entry with the
//! MAC it has moves nothing: the flows carrying ARP replies refresh it on
//! every revalidation pass.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::dev::sys::monotonic_ms;
use crate::flow::FlowKey;
use crate::wire::{ETH_TYPE_ARP, ETH_TYPE_IPV6, IPPROTO_ICMPV6};

/// Default idle time of an entry (15 minutes).
pub const DEFAULT_AGING_MS: u64 = 15 * 60 * 1000;
/// Largest aging `tnl/neigh/aging` accepts, in seconds.
pub const MAX_AGING_S: u64 = 3600;
/// Most entries kept: learning comes from packets, which may be hostile.
pub const MAX_ENTRIES: usize = 65536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    mac: [u8; 6],
    expires_ms: u64,
}

#[derive(Debug)]
pub struct NeighCache {
    inner: Mutex<Inner>,
    /// Moves on every new entry, changed MAC and flush (see the module
    /// comment).
    changes: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    entries: HashMap<(String, Ipv6Addr), Entry>,
    aging_ms: u64,
}

impl Default for NeighCache {
    fn default() -> Self {
        NeighCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                aging_ms: DEFAULT_AGING_MS,
            }),
            changes: AtomicU64::new(0),
        }
    }
}

/// Addresses are kept as IPv6, IPv4 ones mapped (`::ffff:a.b.c.d`).
fn mapped(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// An address as stock prints it: mapped IPv4 in dotted form.
fn format_mapped(a: &Ipv6Addr) -> String {
    match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    }
}

/// The fields a snoop looked at, for the caller's megaflow mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snooped {
    /// An ARP packet: `nw_proto` (opcode), `arp_sha`, `nw_src` and
    /// `nw_dst` were consulted.
    Arp,
    /// A neighbour advertisement: `ipv6_src`, `ipv6_dst`, `nd_target` and
    /// `arp_tha` were consulted.
    Nd,
}

impl NeighCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets (or refreshes) the MAC of `ip` behind `bridge`.
    /// A full cache first drops expired entries, then refuses new ones.
    pub fn set(&self, bridge: &str, ip: IpAddr, mac: [u8; 6]) {
        let mut g = self.lock();
        let now = monotonic_ms();
        let expires_ms = now + g.aging_ms;
        let key = (bridge.to_string(), mapped(ip));
        if g.entries.len() >= MAX_ENTRIES && !g.entries.contains_key(&key) {
            g.entries.retain(|_, e| e.expires_ms > now);
            if g.entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        let old = g.entries.insert(key, Entry { mac, expires_ms });
        if old.is_none_or(|e| e.mac != mac) {
            self.changed();
        }
    }

    /// How many times the cache changed (see the module comment).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// The MAC of `ip` behind `bridge`, if known and fresh; a hit keeps
    /// the entry alive.
    pub fn lookup(&self, bridge: &str, ip: IpAddr) -> Option<[u8; 6]> {
        let mut g = self.lock();
        let now = monotonic_ms();
        let aging = g.aging_ms;
        let e = g.entries.get_mut(&(bridge.to_string(), mapped(ip)))?;
        if e.expires_ms <= now {
            return None;
        }
        e.expires_ms = now + aging;
        Some(e.mac)
    }

    /// Learns from a packet seen on `bridge`: ARP replies and gratuitous
    /// ARPs (sender address to sender MAC), neighbour advertisements
    /// carrying a target link-layer address. `None` when the packet
    /// teaches nothing.
    pub fn snoop(&self, bridge: &str, k: &FlowKey) -> Option<Snooped> {
        if k.eth_type == ETH_TYPE_ARP {
            let garp = k.nw_src == k.nw_dst;
            if (!garp && k.arp_op != 2) || k.arp_sha == [0; 6] {
                return None;
            }
            self.set(bridge, IpAddr::V4(Ipv4Addr::from(k.nw_src)), k.arp_sha);
            return Some(Snooped::Arp);
        }
        let na = k.eth_type == ETH_TYPE_IPV6
            && k.nw_proto == IPPROTO_ICMPV6
            && k.tp_src == 136
            && k.tp_dst == 0;
        if !na || k.arp_tha == [0; 6] {
            return None;
        }
        self.set(bridge, IpAddr::V6(Ipv6Addr::from(k.nd_target)), k.arp_tha);
        Some(Snooped::Nd)
    }

    pub fn flush(&self) {
        let mut g = self.lock();
        if !g.entries.is_empty() {
            g.entries.clear();
            self.changed();
        }
    }

    /// Forgets the entries of one bridge (when it goes away).
    pub fn flush_bridge(&self, bridge: &str) {
        let mut g = self.lock();
        let before = g.entries.len();
        g.entries.retain(|(b, _), _| b != bridge);
        if g.entries.len() != before {
            self.changed();
        }
    }

    pub fn aging_s(&self) -> u64 {
        self.lock().aging_ms / 1000
    }

    /// Sets the idle time (1 to 3600 s); entries due later than the new
    /// aging allows are brought forward.
    pub fn set_aging_s(&self, secs: u64) -> Result<(), String> {
        if secs == 0 || secs > MAX_AGING_S {
            return Err("bad aging value".into());
        }
        let mut g = self.lock();
        g.aging_ms = secs * 1000;
        let limit = monotonic_ms() + g.aging_ms;
        for e in g.entries.values_mut() {
            e.expires_ms = e.expires_ms.min(limit);
        }
        Ok(())
    }

    /// Drops expired entries.
    pub fn run(&self) {
        let now = monotonic_ms();
        let mut g = self.lock();
        let before = g.entries.len();
        g.entries.retain(|_, e| e.expires_ms > now);
        if g.entries.len() != before {
            self.changed();
        }
    }

    /// `tnl/neigh/show` (and `tnl/arp/show`): a header, then one line per
    /// entry, the address padded to 46 columns, `STALE` when expired.
    pub fn show(&self) -> String {
        let g = self.lock();
        let now = monotonic_ms();
        let mut out = String::from(
            "IP                                            MAC                 Bridge\n\
             ==========================================================================\n",
        );
        let mut rows: Vec<_> = g.entries.iter().collect();
        rows.sort_by(|a, b| (a.0 .1, &a.0 .0).cmp(&(b.0 .1, &b.0 .0)));
        for ((bridge, ip), e) in rows {
            let m = e.mac;
            let _ = write!(
                out,
                "{:<46}{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}   {bridge}",
                format_mapped(ip),
                m[0],
                m[1],
                m[2],
                m[3],
                m[4],
                m[5]
            );
            if e.expires_ms <= now {
                out.push_str(" STALE");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::extract;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn learns_from_replies_and_advertisements_only() {
        let c = NeighCache::default();
        let eth = "020000000002 020000000001";
        let request = hex(&format!(
            "{eth} 0806 0001080006040001 020000000001 0a000001 000000000000 0a000002"
        ));
        let reply = hex(&format!(
            "{eth} 0806 0001080006040002 020000000009 0a000009 020000000001 0a000001"
        ));
        let garp = hex(&format!(
            "{eth} 0806 0001080006040001 02000000000a 0a00000a 000000000000 0a00000a"
        ));
        let na = hex(&format!(
            "{eth} 86dd 60000000 0020 3aff fe800000000000000000000000000002 \
             fe800000000000000000000000000001 88000000 60000000 \
             20010db8000000000000000000000002 0201 02000000000b"
        ));
        let key = |f: &[u8]| extract(f, &Default::default()).key;
        assert_eq!(c.snoop("br0", &key(&request)), None);
        assert_eq!(c.snoop("br0", &key(&reply)), Some(Snooped::Arp));
        assert_eq!(c.snoop("br0", &key(&garp)), Some(Snooped::Arp));
        assert_eq!(c.snoop("br1", &key(&na)), Some(Snooped::Nd));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(c.lookup("br0", ip("10.0.0.9")), Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(c.lookup("br1", ip("10.0.0.9")), None, "per bridge");
        assert_eq!(
            c.lookup("br1", ip("2001:db8::2")),
            Some([2, 0, 0, 0, 0, 0xb])
        );
        let shown = c.show();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines
            .contains(&"10.0.0.9                                      02:00:00:00:00:09   br0"));
        assert!(lines
            .contains(&"2001:db8::2                                   02:00:00:00:00:0b   br1"));
        assert!(c.set_aging_s(0).is_err());
        c.set_aging_s(60).unwrap();
        assert_eq!(c.aging_s(), 60);
        c.flush_bridge("br1");
        assert_eq!(c.lookup("br1", ip("2001:db8::2")), None);
        c.flush();
        assert_eq!(c.show().lines().count(), 2);
    }

    /// Only what can make a translated `tnl_push` header wrong moves the
    /// change count: a new entry, a new MAC, entries going away.
    #[test]
    fn counts_changes_not_refreshes() {
        let c = NeighCache::default();
        let ip = "192.168.99.2".parse::<IpAddr>().unwrap();
        let (a, b) = ([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb]);
        let n0 = c.changes();
        c.set("br-phy", ip, a);
        assert_eq!(c.changes(), n0 + 1, "new entry");
        c.set("br-phy", ip, a);
        assert_eq!(c.changes(), n0 + 1, "refresh with the same MAC");
        c.set("br-phy", ip, b);
        assert_eq!(c.changes(), n0 + 2, "MAC changed");
        c.set("br-other", ip, b);
        assert_eq!(c.changes(), n0 + 3, "same address behind another bridge");
        c.flush_bridge("br-none");
        c.run();
        assert_eq!(c.changes(), n0 + 3, "nothing removed");
        c.flush_bridge("br-other");
        assert_eq!(c.changes(), n0 + 4);
        c.flush();
        assert_eq!(c.changes(), n0 + 5);
        c.flush();
        assert_eq!(c.changes(), n0 + 5, "flushing an empty cache");
    }
}
