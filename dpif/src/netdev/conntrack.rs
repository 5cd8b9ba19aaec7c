//! A userspace connection tracker for the `ct` action: TCP, UDP and ICMP
//! echo over IPv4 and IPv6, per zone, with marks, labels, and source and
//! destination NAT (address and port ranges).
//!
//! Each connection is stored under two keys, its original-direction tuple
//! and its reply tuple (after NAT), both pointing at one [`Conn`]. TCP
//! tracking is deliberately simple: a connection starts with a SYN,
//! becomes established when the other side answers, and closes on RST or
//! FIN from both sides. ICMP errors quoting a tracked connection are
//! RELATED to it. Not yet done: helpers (FTP, TFTP), NAT of related
//! packets, fragments (tracked as invalid), `ct_orig_tuple` in keys,
//! limits and timeout policies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrovs_netdev::flow::{Extracted, FRAG_NONE};
use ferrovs_netdev::packet::Packet;
use ferrovs_netdev::wire::*;

use crate::odp::{CtAttr, NatAttr};

pub const CS_NEW: u32 = 0x01;
pub const CS_ESTABLISHED: u32 = 0x02;
pub const CS_RELATED: u32 = 0x04;
pub const CS_REPLY_DIR: u32 = 0x08;
pub const CS_INVALID: u32 = 0x10;
pub const CS_TRACKED: u32 = 0x20;
pub const CS_SRC_NAT: u32 = 0x40;
pub const CS_DST_NAT: u32 = 0x80;

/// Idle timeouts (milliseconds).
const TCP_ESTABLISHED_MS: u64 = 86_400_000;
const TCP_OTHER_MS: u64 = 30_000;
const OTHER_MS: u64 = 30_000;
/// Least time between sweeps of expired connections.
const SWEEP_INTERVAL_MS: u64 = 1000;
/// Most connections tracked (both directions of one count once); new ones
/// beyond are invalid, so that a flood cannot take all memory. Open
/// vSwitch's default limit.
pub const MAX_CONNECTIONS: usize = 3_000_000;

/// A connection tuple in one direction. IPv4 addresses are stored in the
/// low 32 bits. For ICMP echo, `sport` is the identifier and `dport` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtTuple {
    pub zone: u16,
    pub v6: bool,
    pub proto: u8,
    pub src: u128,
    pub dst: u128,
    pub sport: u16,
    pub dport: u16,
}

impl CtTuple {
    /// The tuple of the other direction (ICMP echo keeps its identifier
    /// in place: requests and replies carry the same one).
    fn reversed(&self) -> CtTuple {
        let icmp = self.proto == IPPROTO_ICMP || self.proto == IPPROTO_ICMPV6;
        CtTuple {
            src: self.dst,
            dst: self.src,
            sport: if icmp { self.sport } else { self.dport },
            dport: if icmp { self.dport } else { self.sport },
            ..*self
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpState {
    SynSent,
    Established,
    /// FIN seen from one side (bit 0: original, bit 1: reply).
    Closing(u8),
    /// FIN seen from both sides.
    TimeWait,
    /// Reset.
    Closed,
}

impl TcpState {
    /// The state name `dump-conntrack` prints (as stock coalesces them).
    fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::Established => "ESTABLISHED",
            TcpState::Closing(_) => "FIN_WAIT_1",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Closed => "CLOSED",
        }
    }

    fn is_over(self) -> bool {
        matches!(self, TcpState::TimeWait | TcpState::Closed)
    }
}

/// One tracked connection.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The tuple of the original direction, as the first packet had it.
    pub orig: CtTuple,
    /// The tuple replies carry (after NAT).
    pub reply: CtTuple,
    pub mark: u32,
    pub label: u128,
    /// `CS_SRC_NAT` and/or `CS_DST_NAT`.
    pub nat: u32,
    reply_seen: bool,
    tcp: TcpState,
    expires_ms: u64,
}

type ConnRef = Arc<Mutex<Conn>>;

/// The connection table of one datapath.
#[derive(Default)]
pub struct Conntrack {
    table: Mutex<CtTable>,
}

#[derive(Default)]
struct CtTable {
    by_tuple: HashMap<CtTuple, (ConnRef, bool)>,
    last_sweep_ms: u64,
}

/// What `ct` did to a packet, for its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtResult {
    pub state: u32,
    pub zone: u16,
    pub mark: u32,
    pub label: u128,
}

/// A NAT request from the `ct` action.
#[derive(Debug, Clone, Default)]
struct NatSpec {
    src: bool,
    dst: bool,
    ip_min: Option<u128>,
    ip_max: Option<u128>,
    port_min: u16,
    port_max: u16,
}

fn nat_spec(attrs: &[NatAttr]) -> NatSpec {
    let ip = |b: &[u8]| -> Option<u128> {
        match b.len() {
            4 => Some(u128::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Some(u128::from_be_bytes(a))
            }
            _ => None,
        }
    };
    let mut n = NatSpec::default();
    for a in attrs {
        match a {
            NatAttr::Src => n.src = true,
            NatAttr::Dst => n.dst = true,
            // The all-zero address asks for none (ct_zero_snat): keep
            // the source, change the port only on a clash.
            NatAttr::IpMin(b) => n.ip_min = ip(b).filter(|&a| a != 0),
            NatAttr::IpMax(b) => n.ip_max = ip(b).filter(|&a| a != 0),
            NatAttr::ProtoMin(p) => n.port_min = *p,
            NatAttr::ProtoMax(p) => n.port_max = *p,
            _ => {}
        }
    }
    n
}

/// The tuple of a packet, or `None` when it cannot be tracked.
fn tuple_of(pkt: &Packet, x: &Extracted, zone: u16) -> Option<CtTuple> {
    let k = &x.key;
    if !k.is_ip() || k.nw_frag != FRAG_NONE {
        return None;
    }
    let v6 = k.eth_type == ETH_TYPE_IPV6;
    let (src, dst) = if v6 {
        (k.ipv6_src, k.ipv6_dst)
    } else {
        (u128::from(k.nw_src), u128::from(k.nw_dst))
    };
    let (sport, dport) = match k.nw_proto {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => (k.tp_src, k.tp_dst),
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let echo = matches!(k.tp_src, 0 | 8 | 128 | 129) && k.tp_dst == 0;
            if !echo {
                return None;
            }
            let id = x.layers.l4.and_then(|l4| be16(pkt.data(), l4 + 4))?;
            (id, 0)
        }
        _ => (0, 0),
    };
    Some(CtTuple {
        zone,
        v6,
        proto: k.nw_proto,
        src,
        dst,
        sport,
        dport,
    })
}

/// For an ICMP error, the tuple of the packet it quotes (as that packet
/// went).
fn related_tuple(pkt: &Packet, x: &Extracted, zone: u16) -> Option<CtTuple> {
    let k = &x.key;
    let v6 = k.eth_type == ETH_TYPE_IPV6;
    let is_error = match (k.nw_proto, k.tp_src) {
        (IPPROTO_ICMP, t) if !v6 => matches!(t, 3 | 4 | 5 | 11 | 12),
        (IPPROTO_ICMPV6, t) if v6 => matches!(t, 1..=4),
        _ => false,
    };
    if !is_error || k.nw_frag != FRAG_NONE {
        return None;
    }
    let d = pkt.data();
    let inner = x.layers.l4? + 8;
    let (src, dst, proto, l4) = if v6 {
        let ip = d.get(inner..).and_then(Ipv6Header::new_checked)?;
        (ip.src(), ip.dst(), ip.next_header(), inner + 40)
    } else {
        let ip = d.get(inner..).and_then(Ipv4Header::new_checked)?;
        (
            u128::from(ip.src()),
            u128::from(ip.dst()),
            ip.proto(),
            inner + ip.header_len(),
        )
    };
    let (sport, dport) = match proto {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => (be16(d, l4)?, be16(d, l4 + 2)?),
        IPPROTO_ICMP | IPPROTO_ICMPV6 => (be16(d, l4 + 4)?, 0),
        _ => (0, 0),
    };
    Some(CtTuple {
        zone,
        v6,
        proto,
        src,
        dst,
        sport,
        dport,
    })
}

fn is_echo_request(x: &Extracted) -> bool {
    matches!(
        (x.key.nw_proto, x.key.tp_src),
        (IPPROTO_ICMP, 8) | (IPPROTO_ICMPV6, 128)
    )
}

const TCP_FIN: u16 = 0x01;
const TCP_SYN: u16 = 0x02;
const TCP_RST: u16 = 0x04;
const TCP_ACK: u16 = 0x10;

impl Conntrack {
    /// Runs a packet through the tracker as `ct(attrs)` says; rewrites it
    /// when NAT applies. Returns the metadata to give the packet.
    pub fn execute(&self, pkt: &mut Packet, attrs: &[CtAttr], now_ms: u64) -> CtResult {
        let mut zone = 0;
        let mut commit = false;
        let mut force = false;
        let mut set_mark = None;
        let mut set_label = None;
        let mut nat = None;
        for a in attrs {
            match a {
                CtAttr::Zone(z) => zone = *z,
                CtAttr::Commit => commit = true,
                CtAttr::ForceCommit => {
                    commit = true;
                    force = true;
                }
                CtAttr::Mark { value, mask } => set_mark = Some((*value, *mask)),
                CtAttr::Labels { value, mask } => set_label = Some((*value, *mask)),
                CtAttr::Nat(n) => nat = Some(nat_spec(n)),
                _ => {}
            }
        }
        let x = ferrovs_netdev::extract(pkt.data(), &pkt.meta);
        let mut res = CtResult {
            zone,
            ..Default::default()
        };
        let Some(t) = tuple_of(pkt, &x, zone) else {
            res.state = CS_TRACKED | CS_INVALID;
            // An ICMP error about a tracked connection is related to it.
            if let Some(inner) = related_tuple(pkt, &x, zone) {
                let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((c, reply)) = table.lookup(&inner, now_ms) {
                    let c = c.lock().unwrap_or_else(|e| e.into_inner());
                    // The error travels against the packet it quotes.
                    res.state = CS_TRACKED | CS_RELATED | if reply { 0 } else { CS_REPLY_DIR };
                    res.mark = c.mark;
                    res.label = c.label;
                }
            }
            return res;
        };
        let flags = if x.key.nw_proto == IPPROTO_TCP {
            x.key.tcp_flags
        } else {
            0
        };
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = table.lookup(&t, now_ms);
        // A fresh SYN on a finished connection starts a new one.
        if let Some((c, false)) = &found {
            let g = c.lock().unwrap_or_else(|e| e.into_inner());
            let restart = g.tcp.is_over() && flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
            let orig = g.orig;
            drop(g);
            if restart {
                table.remove(&orig);
                found = None;
            }
        }
        if force {
            if let Some((c, true)) = &found {
                let orig = c.lock().unwrap_or_else(|e| e.into_inner()).orig;
                table.remove(&orig);
                found = None;
            }
        }
        let (conn, reply) = match found {
            Some(f) => f,
            None => {
                // A new connection: TCP must open with a bare SYN, ICMP
                // with an echo request.
                let ok = match t.proto {
                    IPPROTO_TCP => flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN,
                    IPPROTO_ICMP | IPPROTO_ICMPV6 => is_echo_request(&x),
                    _ => true,
                };
                if !ok {
                    res.state = CS_TRACKED | CS_INVALID;
                    return res;
                }
                res.state = CS_TRACKED | CS_NEW;
                if !commit {
                    return res;
                }
                let Some(c) = table.create(t, nat.as_ref(), now_ms) else {
                    // The table is full, or NAT found no free tuple.
                    res.state = CS_TRACKED | CS_INVALID;
                    return res;
                };
                (c, false)
            }
        };
        let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
        if res.state & CS_NEW == 0 {
            if !update_state(&mut c, reply, t.proto, flags, now_ms) {
                res.state = CS_TRACKED | CS_INVALID;
                return res;
            }
            res.state = CS_TRACKED
                | if reply {
                    CS_ESTABLISHED | CS_REPLY_DIR
                } else if c.reply_seen {
                    CS_ESTABLISHED
                } else {
                    CS_NEW
                };
        }
        if commit {
            if let Some((v, m)) = set_mark {
                c.mark = (c.mark & !m) | (v & m);
            }
            if let Some((v, m)) = set_label {
                c.label = (c.label & !m) | (v & m);
            }
        }
        res.mark = c.mark;
        res.label = c.label;
        if nat.is_some() && c.nat != 0 {
            apply_nat(pkt, &c, reply);
            res.state |= c.nat;
        }
        res
    }

    /// Every connection (original tuple, reply tuple, mark, label, NAT).
    pub fn dump(&self) -> Vec<Conn> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table
            .by_tuple
            .values()
            .filter(|(_, reply)| !reply)
            .map(|(c, _)| c.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Forgets every connection, or those of one zone.
    pub fn flush(&self, zone: Option<u16>) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table
            .by_tuple
            .retain(|t, _| zone.is_some_and(|z| z != t.zone));
    }
}

impl CtTable {
    fn lookup(&mut self, t: &CtTuple, now_ms: u64) -> Option<(ConnRef, bool)> {
        let (c, reply) = self.by_tuple.get(t)?;
        let (c, reply) = (Arc::clone(c), *reply);
        let (expired, orig) = {
            let g = c.lock().unwrap_or_else(|e| e.into_inner());
            (g.expires_ms <= now_ms, g.orig)
        };
        if expired {
            self.remove(&orig);
            return None;
        }
        Some((c, reply))
    }

    fn remove(&mut self, orig: &CtTuple) {
        if let Some((c, _)) = self.by_tuple.remove(orig) {
            let reply = c.lock().unwrap_or_else(|e| e.into_inner()).reply;
            self.by_tuple.remove(&reply);
        }
    }

    fn create(&mut self, orig: CtTuple, nat: Option<&NatSpec>, now_ms: u64) -> Option<ConnRef> {
        if now_ms.saturating_sub(self.last_sweep_ms) >= SWEEP_INTERVAL_MS {
            self.last_sweep_ms = now_ms;
            self.sweep(now_ms);
        }
        if self.by_tuple.len() / 2 >= MAX_CONNECTIONS {
            return None;
        }
        let mut reply = orig.reversed();
        let mut nat_bits = 0;
        if let Some(n) = nat.filter(|n| n.src || n.dst) {
            reply = self.pick_nat(&orig, n)?;
            nat_bits = if n.src { CS_SRC_NAT } else { CS_DST_NAT };
        }
        if self.by_tuple.contains_key(&reply) {
            return None;
        }
        let c = Arc::new(Mutex::new(Conn {
            orig,
            reply,
            mark: 0,
            label: 0,
            nat: nat_bits,
            reply_seen: false,
            tcp: TcpState::SynSent,
            expires_ms: now_ms
                + if orig.proto == IPPROTO_TCP {
                    TCP_OTHER_MS
                } else {
                    OTHER_MS
                },
        }));
        self.by_tuple.insert(orig, (Arc::clone(&c), false));
        self.by_tuple.insert(reply, (Arc::clone(&c), true));
        Some(c)
    }

    /// The reply tuple for a NATed connection: the first address of the
    /// range (spread by hash over a range) and the first free port.
    fn pick_nat(&self, orig: &CtTuple, n: &NatSpec) -> Option<CtTuple> {
        let base = orig.reversed();
        let (cur_ip, cur_port) = if n.src {
            (orig.src, orig.sport)
        } else {
            (orig.dst, orig.dport)
        };
        let ip_min = n.ip_min.unwrap_or(cur_ip);
        let ip_max = n.ip_max.unwrap_or(ip_min).max(ip_min);
        let span = (ip_max - ip_min).saturating_add(1);
        let h = u128::from(orig.sport) ^ orig.src.rotate_left(7) ^ orig.dst;
        let ip = ip_min + h % span;
        if orig.proto == IPPROTO_ICMP || orig.proto == IPPROTO_ICMPV6 {
            // Addresses only: the echo identifier stays.
            let mut r = base;
            if n.src {
                r.dst = ip;
            } else {
                r.src = ip;
            }
            return (!self.by_tuple.contains_key(&r)).then_some(r);
        }
        let ports: Vec<u16> = if n.port_min != 0 {
            let (lo, hi) = (n.port_min, n.port_max.max(n.port_min));
            let mut v = Vec::new();
            if (lo..=hi).contains(&cur_port) {
                v.push(cur_port);
            }
            v.extend((lo..=hi).filter(|p| *p != cur_port));
            v
        } else {
            // Keep the port; on a clash try others above 1024.
            std::iter::once(cur_port)
                .chain((1024..=u16::MAX).filter(move |p| *p != cur_port))
                .collect()
        };
        for p in ports {
            let mut r = base;
            if n.src {
                r.dst = ip;
                r.dport = p;
            } else {
                r.src = ip;
                r.sport = p;
            }
            if !self.by_tuple.contains_key(&r) {
                return Some(r);
            }
        }
        None
    }

    fn sweep(&mut self, now_ms: u64) {
        self.by_tuple
            .retain(|_, (c, _)| c.lock().unwrap_or_else(|e| e.into_inner()).expires_ms > now_ms);
    }
}

/// Advances a connection's state for a packet; false when the packet is
/// invalid for it.
fn update_state(c: &mut Conn, reply: bool, proto: u8, flags: u16, now_ms: u64) -> bool {
    if reply {
        c.reply_seen = true;
    }
    if proto != IPPROTO_TCP {
        c.expires_ms = now_ms + OTHER_MS;
        return true;
    }
    if flags & TCP_RST != 0 {
        c.tcp = TcpState::Closed;
    } else if flags & TCP_FIN != 0 {
        let bit = if reply { 2 } else { 1 };
        c.tcp = match c.tcp {
            TcpState::Closing(b) if b | bit == 3 => TcpState::TimeWait,
            TcpState::Closing(b) => TcpState::Closing(b | bit),
            s if s.is_over() => s,
            _ => TcpState::Closing(bit),
        };
    } else if c.tcp == TcpState::SynSent && reply {
        if flags & (TCP_SYN | TCP_ACK) != (TCP_SYN | TCP_ACK) {
            return false;
        }
        c.tcp = TcpState::Established;
    } else if c.tcp == TcpState::SynSent && !reply && flags & TCP_SYN == 0 && !c.reply_seen {
        // Data before the handshake completed.
        return false;
    }
    c.expires_ms = now_ms
        + match c.tcp {
            TcpState::Established => TCP_ESTABLISHED_MS,
            _ => TCP_OTHER_MS,
        };
    true
}

/// Rewrites a packet of a NATed connection: the original direction gets
/// the translated tuple, replies get the original one back.
fn apply_nat(pkt: &mut Packet, c: &Conn, reply: bool) {
    // What the packet should carry after translation.
    let want = if reply {
        c.orig.reversed()
    } else {
        c.reply.reversed()
    };
    let is_icmp = c.orig.proto == IPPROTO_ICMP || c.orig.proto == IPPROTO_ICMPV6;
    super::rewrite::rewrite_tuple(
        pkt,
        c.orig.v6,
        want.src,
        want.dst,
        if is_icmp {
            None
        } else {
            Some((want.sport, want.dport))
        },
    );
}

fn format_addr(v6: bool, a: u128) -> String {
    if v6 {
        std::net::Ipv6Addr::from(a).to_string()
    } else {
        std::net::Ipv4Addr::from(a as u32).to_string()
    }
}

/// One tuple as `dump-conntrack` prints it; `icmp_type` is the echo type
/// of that direction.
fn format_tuple(out: &mut String, t: &CtTuple, icmp_type: u8) {
    out.push_str(&format!(
        "src={},dst={}",
        format_addr(t.v6, t.src),
        format_addr(t.v6, t.dst)
    ));
    if t.proto == IPPROTO_ICMP || t.proto == IPPROTO_ICMPV6 {
        out.push_str(&format!(",id={},type={icmp_type},code=0", t.sport));
    } else {
        out.push_str(&format!(",sport={},dport={}", t.sport, t.dport));
    }
}

impl Conn {
    /// The entry as `ovs-appctl dpctl/dump-conntrack` prints it (the
    /// non-verbose form without statistics).
    pub fn to_dpctl_text(&self) -> String {
        let (name, req, rep) = match self.orig.proto {
            IPPROTO_ICMP => ("icmp".to_string(), 8, 0),
            IPPROTO_ICMPV6 => ("icmpv6".to_string(), 128, 129),
            IPPROTO_TCP => ("tcp".to_string(), 0, 0),
            IPPROTO_UDP => ("udp".to_string(), 0, 0),
            IPPROTO_SCTP => ("sctp".to_string(), 0, 0),
            p => (p.to_string(), 0, 0),
        };
        let mut out = name;
        out.push_str(",orig=(");
        format_tuple(&mut out, &self.orig, req);
        out.push_str("),reply=(");
        format_tuple(&mut out, &self.reply, rep);
        out.push(')');
        if self.orig.zone != 0 {
            out.push_str(&format!(",zone={}", self.orig.zone));
        }
        if self.mark != 0 {
            out.push_str(&format!(",mark={}", self.mark));
        }
        if self.label != 0 {
            out.push_str(&format!(",labels={:#x}", self.label));
        }
        if self.orig.proto == IPPROTO_TCP {
            out.push_str(&format!(",protoinfo=(state={})", self.tcp.name()));
        }
        out
    }
}
