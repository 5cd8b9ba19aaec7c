//! Userspace tunnels: putting a ready-made outer header (Ethernet, IPv4
//! or IPv6, then UDP + VXLAN, UDP + Geneve, or GRE) in front of a packet
//! with its lengths and checksums fixed, and taking such a header off into
//! [`TunnelMeta`]. Route and neighbour resolution happen above the
//! datapath: the header arrives complete (`tnl_push`).
//!
//! Geneve options are carried on receive up to `GENEVE_OPTS_MAX` bytes.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::csum;
use crate::packet::{GeneveOpts, Packet, TunnelMeta};
use crate::wire::*;

/// Tunnel flag bits in [`TunnelMeta::flags`] (the datapath's flow keys use
/// the same numbers).
pub const TNL_F_DONT_FRAGMENT: u16 = 1 << 0;
pub const TNL_F_CSUM: u16 = 1 << 1;
pub const TNL_F_OAM: u16 = 1 << 2;
pub const TNL_F_KEY: u16 = 1 << 3;

const ETH_TYPE_TEB: u16 = 0x6558;
const GRE_CSUM: u16 = 0x8000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQ: u16 = 0x1000;

/// The kinds of tunnel the userspace datapath terminates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    Vxlan,
    Geneve,
    Gre,
}

impl TunnelKind {
    pub fn from_type(t: &str) -> Option<TunnelKind> {
        match t {
            "vxlan" => Some(TunnelKind::Vxlan),
            "geneve" => Some(TunnelKind::Geneve),
            "gre" => Some(TunnelKind::Gre),
            _ => None,
        }
    }

    /// The UDP port a tunnel of this kind listens on by default.
    pub fn default_port(self) -> u16 {
        match self {
            TunnelKind::Vxlan => 4789,
            TunnelKind::Geneve => 6081,
            TunnelKind::Gre => 0,
        }
    }
}

/// Where the L3 header of an outer header starts (after Ethernet and at
/// most one VLAN tag), and whether it is IPv6.
fn outer_l3(d: &[u8]) -> Option<(usize, bool)> {
    let mut off = 12;
    let mut ty = be16(d, off)?;
    if ty == ETH_TYPE_VLAN {
        off += 4;
        ty = be16(d, off)?;
    }
    match ty {
        ETH_TYPE_IPV4 => Some((off + 2, false)),
        ETH_TYPE_IPV6 => Some((off + 2, true)),
        _ => None,
    }
}

/// The range UDP source ports are picked from, `min << 16 | max`
/// (one word, so a reader never sees half a change): Open vSwitch's
/// default 32768-61000, changed by `ovs-appctl tnl/egress_port_range`.
static EGRESS_PORT_RANGE: AtomicU32 = AtomicU32::new((32768 << 16) | 61000);

/// The UDP source port range of encapsulated packets (min, max).
pub fn egress_port_range() -> (u16, u16) {
    let r = EGRESS_PORT_RANGE.load(Ordering::Relaxed);
    ((r >> 16) as u16, r as u16)
}

/// Sets the UDP source port range (`min` at most `max`), process-wide
/// as in Open vSwitch; packets encapsulated from now on use it.
pub fn set_egress_port_range(min: u16, max: u16) {
    let (min, max) = (min.min(max), min.max(max));
    EGRESS_PORT_RANGE.store((u32::from(min) << 16) | u32::from(max), Ordering::Relaxed);
}

/// The UDP source port for a flow hash, in the egress port range (as
/// Open vSwitch picks it, so that the underlay can spread tunnels over
/// paths).
fn udp_src_port(hash: u32) -> u16 {
    let (min, max) = egress_port_range();
    let (min, max) = (u64::from(min), u64::from(max));
    (((u64::from(hash) * (max - min)) >> 32) + min) as u16
}

/// Prepends `header` to `pkt` and fixes the outer lengths and checksums.
/// `hash` picks the UDP source port when the header leaves it zero.
/// False (packet unchanged in meaning) when the header is not one this
/// code understands.
pub fn push_header(pkt: &mut Packet, header: &[u8], hash: u32) -> bool {
    let Some((l3, v6)) = outer_l3(header) else {
        return false;
    };
    let (l4, proto) = if v6 {
        (l3 + 40, header.get(l3 + 6).copied().unwrap_or(0))
    } else {
        match header.get(l3..).and_then(Ipv4Header::new_checked) {
            Some(ip) => (l3 + ip.header_len(), ip.proto()),
            None => return false,
        }
    };
    if l4 > header.len() {
        return false;
    }
    let hlen = header.len();
    if let Some(front) = pkt.push_front(hlen).get_mut(..hlen) {
        front.copy_from_slice(header);
    }
    let total = pkt.len();
    let d = pkt.data_mut();
    if v6 {
        put_be16(d, l3 + 4, (total - l3 - 40) as u16);
    } else {
        put_be16(d, l3 + 2, (total - l3) as u16);
        put_be16(d, l3 + 10, 0);
        let c = csum::checksum(d.get(l3..l4).unwrap_or(&[]));
        put_be16(d, l3 + 10, c);
    }
    match proto {
        IPPROTO_UDP => {
            if be16(d, l4) == Some(0) {
                put_be16(d, l4, udp_src_port(hash));
            }
            put_be16(d, l4 + 4, (total - l4) as u16);
            // IPv6 needs the UDP checksum; IPv4 only when asked (non-zero).
            if v6 || be16(d, l4 + 6).is_some_and(|c| c != 0) {
                crate::offload::fill_l4_csum(d, l3, l4, IPPROTO_UDP);
            }
        }
        IPPROTO_GRE if be16(d, l4).is_some_and(|f| f & GRE_CSUM != 0) => {
            put_be16(d, l4 + 4, 0);
            let c = csum::checksum(d.get(l4..).unwrap_or(&[]));
            put_be16(d, l4 + 4, c);
        }
        _ => {}
    }
    true
}

/// Takes the outer header of a tunnel packet of `kind` (UDP port
/// `udp_port` for VXLAN and Geneve) off and returns the tunnel metadata;
/// `None` (packet untouched) when it is not such a packet.
pub fn pop_header(pkt: &mut Packet, kind: TunnelKind, udp_port: u16) -> Option<TunnelMeta> {
    let d = pkt.data();
    let (l3, v6) = outer_l3(d)?;
    let mut m = TunnelMeta::default();
    let (l4, proto, end) = if v6 {
        let ip = d.get(l3..).and_then(Ipv6Header::new_checked)?;
        m.ipv6_src = ip.src();
        m.ipv6_dst = ip.dst();
        m.tos = ip.tclass();
        m.ttl = ip.hop_limit();
        (
            l3 + 40,
            ip.next_header(),
            l3 + 40 + usize::from(ip.payload_len()),
        )
    } else {
        let ip = d.get(l3..).and_then(Ipv4Header::new_checked)?;
        if ip.is_fragment() {
            return None;
        }
        m.ipv4_src = ip.src();
        m.ipv4_dst = ip.dst();
        m.tos = ip.tos();
        m.ttl = ip.ttl();
        if ip.frag_field() & 0x4000 != 0 {
            m.flags |= TNL_F_DONT_FRAGMENT;
        }
        (
            l3 + ip.header_len(),
            ip.proto(),
            l3 + usize::from(ip.total_len()),
        )
    };
    if end > d.len() {
        return None;
    }
    let inner = match (kind, proto) {
        (TunnelKind::Vxlan | TunnelKind::Geneve, IPPROTO_UDP) => {
            m.tp_src = be16(d, l4)?;
            m.tp_dst = be16(d, l4 + 2)?;
            if m.tp_dst != udp_port {
                return None;
            }
            if be16(d, l4 + 6).is_some_and(|c| c != 0) {
                m.flags |= TNL_F_CSUM;
            }
            let t = l4 + 8;
            match kind {
                TunnelKind::Vxlan => {
                    // I flag set, VNI in bytes 4..7.
                    if d.get(t)? & 0x08 == 0 {
                        return None;
                    }
                    m.tun_id = u64::from(be32(d, t + 4)? >> 8);
                    m.flags |= TNL_F_KEY;
                    t + 8
                }
                _ => {
                    let b0 = *d.get(t)?;
                    if b0 >> 6 != 0 || be16(d, t + 2)? != ETH_TYPE_TEB {
                        return None;
                    }
                    if d.get(t + 1)? & 0x80 != 0 {
                        m.flags |= TNL_F_OAM;
                    }
                    m.tun_id = u64::from(be32(d, t + 4)? >> 8);
                    m.flags |= TNL_F_KEY;
                    let opts_end = t + 8 + usize::from(b0 & 0x3f) * 4;
                    // Options that do not fit are not carried.
                    m.geneve = GeneveOpts::new(d.get(t + 8..opts_end)?).unwrap_or_default();
                    opts_end
                }
            }
        }
        (TunnelKind::Gre, IPPROTO_GRE) => {
            let flags = be16(d, l4)?;
            if flags & 0x0007 != 0 || be16(d, l4 + 2)? != ETH_TYPE_TEB {
                // GRE version 0 carrying Ethernet only.
                return None;
            }
            let mut t = l4 + 4;
            if flags & GRE_CSUM != 0 {
                m.flags |= TNL_F_CSUM;
                t += 4;
            }
            if flags & GRE_KEY != 0 {
                m.tun_id = u64::from(be32(d, t)?);
                m.flags |= TNL_F_KEY;
                t += 4;
            }
            if flags & GRE_SEQ != 0 {
                t += 4;
            }
            t
        }
        _ => return None,
    };
    if inner + ETH_HLEN > end {
        return None;
    }
    // Drop the outer header and any padding after the outer datagram.
    let keep = end - inner;
    if !pkt.pull_front(inner) {
        return None;
    }
    pkt.truncate(keep);
    pkt.offload = Default::default();
    Some(m)
}

#[cfg(test)]
mod geneve_option_tests {
    use super::*;

    /// Ethernet + IPv4 + UDP (to 6081) + Geneve (VNI 7) + `opts`.
    fn header(opts: &[u8]) -> Vec<u8> {
        let mut h = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        h.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        h.extend_from_slice(&[192, 168, 98, 2, 192, 168, 98, 1]);
        h.extend_from_slice(&[0, 0, 0x17, 0xc1, 0, 0, 0, 0]);
        h.extend_from_slice(&[(opts.len() / 4) as u8, 0, 0x65, 0x58, 0, 0, 7, 0]);
        h.extend_from_slice(opts);
        h
    }

    fn decap(opts: &[u8]) -> (TunnelMeta, Vec<u8>) {
        let inner: Vec<u8> = (0..60u8).collect();
        let mut pkt = Packet::from_bytes(&inner);
        assert!(push_header(&mut pkt, &header(opts), 1));
        let m = pop_header(&mut pkt, TunnelKind::Geneve, 6081).expect("a Geneve packet");
        assert_eq!(pkt.data(), &inner[..], "the inner frame comes back whole");
        (m, opts.to_vec())
    }

    #[test]
    fn received_options_are_carried_whole() {
        let (m, opts) = decap(&[0x01, 0x02, 0x80, 0x01, 0xa1, 0xb2, 0xc3, 0xd4]);
        assert_eq!(m.tun_id, 7);
        assert_eq!(m.geneve.as_slice(), &opts[..]);
        let (m, _) = decap(&[]);
        assert_eq!(m.geneve.len, 0);
        // More than there is room for: decapsulated, options not carried.
        let long: Vec<u8> = [0xff, 0xff, 0x01, 0x09]
            .into_iter()
            .chain([0; 36])
            .collect();
        let (m, _) = decap(&long);
        assert_eq!(m.geneve, GeneveOpts::default());
        assert_eq!(m.tun_id, 7);
    }
}

#[cfg(test)]
mod egress_port_tests {
    use super::*;

    #[test]
    fn source_ports_come_from_the_configured_range() {
        assert_eq!(egress_port_range(), (32768, 61000));
        assert_eq!(udp_src_port(0), 32768);
        assert_eq!(udp_src_port(u32::MAX), 60999);
        // Reversed bounds are put in order, as stock does.
        set_egress_port_range(40010, 40000);
        assert_eq!(egress_port_range(), (40000, 40010));
        let ports: Vec<u16> = [0, 1 << 31, u32::MAX].map(udp_src_port).to_vec();
        set_egress_port_range(32768, 61000);
        assert_eq!(ports, vec![40000, 40005, 40009]);
    }
}
