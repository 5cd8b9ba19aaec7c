//! Header rewrites for `set`, `set_masked`, `dec_ttl` and NAT, keeping
//! the IPv4 header checksum and the TCP/UDP/ICMPv6 checksums right
//! incrementally (RFC 1624).

use ferrovs_netdev::csum;
use ferrovs_netdev::flow::extract;
use ferrovs_netdev::packet::Packet;
use ferrovs_netdev::wire::*;

use super::odp_key;
use crate::odp::KeyAttr;

fn mixin<T>(old: T, v: T, m: Option<T>) -> T
where
    T: Copy
        + std::ops::BitAnd<Output = T>
        + std::ops::BitOr<Output = T>
        + std::ops::Not<Output = T>,
{
    match m {
        Some(m) => (old & !m) | (v & m),
        None => v,
    }
}

/// Applies a `set` or `set_masked` of one key attribute. False when the
/// packet lacks the header the action rewrites.
pub(crate) fn set_field(pkt: &mut Packet, key: &KeyAttr, mask: Option<&KeyAttr>) -> bool {
    match (key, mask) {
        (KeyAttr::Priority(v), m) => {
            let m = match m {
                Some(KeyAttr::Priority(m)) => Some(*m),
                _ => None,
            };
            pkt.meta.skb_priority = mixin(pkt.meta.skb_priority, *v, m);
            true
        }
        (KeyAttr::SkbMark(v), m) => {
            let m = match m {
                Some(KeyAttr::SkbMark(m)) => Some(*m),
                _ => None,
            };
            pkt.meta.skb_mark = mixin(pkt.meta.skb_mark, *v, m);
            true
        }
        (KeyAttr::Tunnel(t), _) => {
            pkt.meta.tunnel = odp_key::tunnel_meta(t);
            true
        }
        (KeyAttr::Ethernet(e), m) => {
            let m = match m {
                Some(KeyAttr::Ethernet(m)) => Some(*m),
                _ => None,
            };
            let d = pkt.data_mut();
            if d.len() < 12 {
                return false;
            }
            for i in 0..6 {
                d[i] = mixin(d[i], e.dst[i], m.map(|m| m.dst[i]));
                d[6 + i] = mixin(d[6 + i], e.src[i], m.map(|m| m.src[i]));
            }
            true
        }
        (KeyAttr::Ipv4(v), m) => {
            let m = match m {
                Some(KeyAttr::Ipv4(m)) => Some(*m),
                _ => None,
            };
            set_ipv4(pkt, v, m.as_ref())
        }
        (KeyAttr::Ipv6(v), m) => {
            let m = match m {
                Some(KeyAttr::Ipv6(m)) => Some(*m),
                _ => None,
            };
            set_ipv6(pkt, v, m.as_ref())
        }
        (KeyAttr::Tcp(p), m) | (KeyAttr::Udp(p), m) => {
            let m = match m {
                Some(KeyAttr::Tcp(m)) | Some(KeyAttr::Udp(m)) => Some(*m),
                _ => None,
            };
            let proto = if matches!(key, KeyAttr::Tcp(_)) {
                IPPROTO_TCP
            } else {
                IPPROTO_UDP
            };
            set_ports(pkt, proto, p.src, p.dst, m.map(|m| (m.src, m.dst)))
        }
        (KeyAttr::Mpls(l), m) => {
            let x = extract(pkt.data(), &pkt.meta);
            let (Some(v), true) = (l.first(), x.key.n_mpls() > 0) else {
                return false;
            };
            let m = match m {
                Some(KeyAttr::Mpls(m)) => m.first().copied(),
                _ => None,
            };
            let at = x.layers.l2_5;
            let old = be32(pkt.data(), at).unwrap_or(0);
            put_be32(pkt.data_mut(), at, mixin(old, *v, m))
        }
        _ => false,
    }
}

/// Offset of the L4 checksum field for `proto` (None: no checksum to fix).
fn l4_csum_field(proto: u8, d: &[u8], l4: usize) -> Option<usize> {
    match proto {
        IPPROTO_TCP => Some(l4 + 16),
        // A zero UDP checksum means "none" and stays so.
        IPPROTO_UDP => match be16(d, l4 + 6) {
            Some(0) | None => None,
            _ => Some(l4 + 6),
        },
        IPPROTO_ICMPV6 => Some(l4 + 2),
        _ => None,
    }
}

/// Applies a change of a 32-bit word to the IP header checksum at
/// `ip_csum` and the L4 checksum at `l4_csum`.
fn fix_csums(d: &mut [u8], ip_csum: Option<usize>, l4_csum: Option<usize>, old: u32, new: u32) {
    for f in [ip_csum, l4_csum].into_iter().flatten() {
        if let Some(c) = be16(d, f) {
            put_be16(d, f, csum::update32(c, old, new));
        }
    }
}

fn set_ipv4(
    pkt: &mut Packet,
    v: &crate::odp::key::Ipv4Key,
    m: Option<&crate::odp::key::Ipv4Key>,
) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l3) = x.layers.l3 else { return false };
    if x.key.eth_type != ETH_TYPE_IPV4 {
        return false;
    }
    let proto = x.key.nw_proto;
    let d = pkt.data_mut();
    let l4c = x.layers.l4.and_then(|l4| l4_csum_field(proto, d, l4));
    let ipc = Some(l3 + 10);
    let fields = [
        (l3 + 12, u32::from(v.src), m.map(|m| u32::from(m.src))),
        (l3 + 16, u32::from(v.dst), m.map(|m| u32::from(m.dst))),
    ];
    for (off, val, mask) in fields {
        let Some(old) = be32(d, off) else {
            return false;
        };
        let new = mixin(old, val, mask);
        if new != old {
            put_be32(d, off, new);
            fix_csums(d, ipc, l4c, old, new);
        }
    }
    // TOS (byte 1) and TTL (byte 8) share 16-bit words with their
    // neighbours; update the header checksum word-wise.
    for (off, val, mask) in [
        (l3 + 1, v.tos, m.map(|m| m.tos)),
        (l3 + 8, v.ttl, m.map(|m| m.ttl)),
    ] {
        let Some(&old) = d.get(off) else { return false };
        let new = mixin(old, val, mask);
        if new != old {
            let w = off & !1;
            let ow = be16(d, w).unwrap_or(0);
            d[off] = new;
            let nw = be16(d, w).unwrap_or(0);
            if let Some(c) = be16(d, l3 + 10) {
                put_be16(d, l3 + 10, csum::update16(c, ow, nw));
            }
        }
    }
    true
}

fn set_ipv6(
    pkt: &mut Packet,
    v: &crate::odp::key::Ipv6Key,
    m: Option<&crate::odp::key::Ipv6Key>,
) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l3) = x.layers.l3 else { return false };
    if x.key.eth_type != ETH_TYPE_IPV6 {
        return false;
    }
    let proto = x.key.nw_proto;
    let d = pkt.data_mut();
    let l4c = x.layers.l4.and_then(|l4| l4_csum_field(proto, d, l4));
    for (off, val, mask) in [
        (l3 + 8, u128::from(v.src), m.map(|m| u128::from(m.src))),
        (l3 + 24, u128::from(v.dst), m.map(|m| u128::from(m.dst))),
    ] {
        let Some(old) = be128(d, off) else {
            return false;
        };
        let new = mixin(old, val, mask);
        if new != old {
            put_bytes(d, off, &new.to_be_bytes());
            if let Some(f) = l4c {
                if let Some(c) = be16(d, f) {
                    put_be16(d, f, csum::update128(c, old, new));
                }
            }
        }
    }
    // Version/class/label word, then hop limit: no header checksum.
    let Some(w) = be32(d, l3) else { return false };
    let tc = mixin(((w >> 20) & 0xff) as u8, v.tclass, m.map(|m| m.tclass));
    let label = mixin(w & 0xf_ffff, v.label, m.map(|m| m.label)) & 0xf_ffff;
    put_be32(d, l3, (w & 0xf000_0000) | (u32::from(tc) << 20) | label);
    if let Some(h) = d.get_mut(l3 + 7) {
        *h = mixin(*h, v.hlimit, m.map(|m| m.hlimit));
    }
    true
}

fn set_ports(pkt: &mut Packet, proto: u8, src: u16, dst: u16, m: Option<(u16, u16)>) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l4) = x.layers.l4 else { return false };
    if x.key.nw_proto != proto {
        return false;
    }
    let d = pkt.data_mut();
    let cf = l4_csum_field(proto, d, l4);
    for (off, val, mask) in [(l4, src, m.map(|m| m.0)), (l4 + 2, dst, m.map(|m| m.1))] {
        let Some(old) = be16(d, off) else {
            return false;
        };
        let new = mixin(old, val, mask);
        if new != old {
            put_be16(d, off, new);
            if let Some(f) = cf {
                if let Some(c) = be16(d, f) {
                    put_be16(d, f, csum::update16(c, old, new));
                }
            }
        }
    }
    true
}

/// Decrements the IP TTL / hop limit; false when it would reach zero.
pub(crate) fn dec_ttl(pkt: &mut Packet) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l3) = x.layers.l3 else { return true };
    let d = pkt.data_mut();
    match x.key.eth_type {
        ETH_TYPE_IPV4 => {
            let Some(&ttl) = d.get(l3 + 8) else {
                return true;
            };
            if ttl <= 1 {
                return false;
            }
            let ow = be16(d, l3 + 8).unwrap_or(0);
            d[l3 + 8] = ttl - 1;
            let nw = be16(d, l3 + 8).unwrap_or(0);
            if let Some(c) = be16(d, l3 + 10) {
                put_be16(d, l3 + 10, csum::update16(c, ow, nw));
            }
            true
        }
        ETH_TYPE_IPV6 => {
            let Some(h) = d.get_mut(l3 + 7) else {
                return true;
            };
            if *h <= 1 {
                return false;
            }
            *h -= 1;
            true
        }
        _ => true,
    }
}

/// Rewrites a packet's addresses (and TCP/UDP ports when given) with
/// checksum fixups: what NAT does to each packet of a connection.
pub(crate) fn rewrite_tuple(
    pkt: &mut Packet,
    v6: bool,
    src: u128,
    dst: u128,
    ports: Option<(u16, u16)>,
) {
    use crate::odp::key::{Ipv4Key, Ipv6Key};
    use std::net::{Ipv4Addr, Ipv6Addr};
    if v6 {
        let v = Ipv6Key {
            src: Ipv6Addr::from(src),
            dst: Ipv6Addr::from(dst),
            label: 0,
            proto: 0,
            tclass: 0,
            hlimit: 0,
            frag: 0,
        };
        let m = Ipv6Key {
            src: Ipv6Addr::from(u128::MAX),
            dst: Ipv6Addr::from(u128::MAX),
            ..v
        };
        set_ipv6(pkt, &v, Some(&m));
    } else {
        let v = Ipv4Key {
            src: Ipv4Addr::from(src as u32),
            dst: Ipv4Addr::from(dst as u32),
            proto: 0,
            tos: 0,
            ttl: 0,
            frag: 0,
        };
        let m = Ipv4Key {
            src: Ipv4Addr::from(u32::MAX),
            dst: Ipv4Addr::from(u32::MAX),
            ..v
        };
        set_ipv4(pkt, &v, Some(&m));
    }
    if let Some((s, d)) = ports {
        let proto = extract(pkt.data(), &pkt.meta).key.nw_proto;
        if proto == IPPROTO_TCP || proto == IPPROTO_UDP {
            set_ports(pkt, proto, s, d, None);
        }
    }
}
