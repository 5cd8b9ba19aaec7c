//! Flow keys and masks: owned representations of the `OVS_KEY_ATTR_*`
//! attributes and their exact netlink encoding.
//!
//! A key and its mask have the same shape: a list of attributes, in the
//! order they appear on the wire. A mask attribute holds mask bits in the
//! same layout as the key attribute of the same type.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::consts::*;
use super::nlattr::{NlAttr, NlAttrIter, NlWriter};
use super::tunnel::TunnelAttr;
use super::{OdpError, Result};

/// Deepest nesting of ENCAP attributes accepted (as Open vSwitch).
pub const MAX_ENCAP_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EthKey {
    pub src: [u8; 6],
    pub dst: [u8; 6],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Key {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub tos: u8,
    pub ttl: u8,
    /// One of `OVS_FRAG_TYPE_*` (a mask: 0 or 0xff).
    pub frag: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Key {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Flow label (20 bits).
    pub label: u32,
    pub proto: u8,
    pub tclass: u8,
    pub hlimit: u8,
    pub frag: u8,
}

/// TCP, UDP and SCTP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortsKey {
    pub src: u16,
    pub dst: u16,
}

/// ICMP and ICMPv6 type and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IcmpKey {
    pub icmp_type: u8,
    pub code: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpKey {
    pub sip: Ipv4Addr,
    pub tip: Ipv4Addr,
    pub op: u16,
    pub sha: [u8; 6],
    pub tha: [u8; 6],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdKey {
    pub target: Ipv6Addr,
    pub sll: [u8; 6],
    pub tll: [u8; 6],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NdExtKey {
    pub reserved: u32,
    pub options_type: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtTupleIpv4Key {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtTupleIpv6Key {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
}

/// One `OVS_NSH_KEY_ATTR_*` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NshAttr {
    /// flags, ttl, mdtype, np, path header (spi << 8 | si).
    Base {
        flags: u8,
        ttl: u8,
        mdtype: u8,
        np: u8,
        path_hdr: u32,
    },
    /// The four MD type 1 context words.
    Md1([u32; 4]),
    /// MD type 2 TLVs, raw.
    Md2(Vec<u8>),
    Unknown {
        ty: u16,
        data: Vec<u8>,
    },
}

/// One `OVS_KEY_ATTR_*` attribute of a flow key or mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAttr {
    Encap(Vec<KeyAttr>),
    Priority(u32),
    InPort(u32),
    Ethernet(EthKey),
    /// The VLAN TCI.
    Vlan(u16),
    Ethertype(u16),
    Ipv4(Ipv4Key),
    Ipv6(Ipv6Key),
    Tcp(PortsKey),
    Udp(PortsKey),
    Icmp(IcmpKey),
    Icmpv6(IcmpKey),
    Arp(ArpKey),
    Nd(NdKey),
    SkbMark(u32),
    Tunnel(Vec<TunnelAttr>),
    Sctp(PortsKey),
    TcpFlags(u16),
    DpHash(u32),
    RecircId(u32),
    /// MPLS label stack entries, outermost first.
    Mpls(Vec<u32>),
    CtState(u32),
    CtZone(u16),
    CtMark(u32),
    /// The 128-bit label as a number (stored in host byte order).
    CtLabels(u128),
    CtOrigTupleIpv4(CtTupleIpv4Key),
    CtOrigTupleIpv6(CtTupleIpv6Key),
    Nsh(Vec<NshAttr>),
    /// Namespace in the upper 16 bits, type in the lower 16.
    PacketType(u32),
    NdExtensions(NdExtKey),
    /// An attribute this code does not know (e.g. from a newer kernel),
    /// kept byte for byte.
    Unknown {
        ty: u16,
        data: Vec<u8>,
    },
}

/// The payload length the kernel requires for a fixed-size key attribute
/// (its `ovs_key_lens` table); `None` for variable or nested ones.
pub fn key_attr_len(ty: u16) -> Option<usize> {
    Some(match ty {
        OVS_KEY_ATTR_PRIORITY
        | OVS_KEY_ATTR_SKB_MARK
        | OVS_KEY_ATTR_DP_HASH
        | OVS_KEY_ATTR_RECIRC_ID
        | OVS_KEY_ATTR_IN_PORT
        | OVS_KEY_ATTR_CT_STATE
        | OVS_KEY_ATTR_CT_MARK
        | OVS_KEY_ATTR_PACKET_TYPE => 4,
        OVS_KEY_ATTR_ETHERNET => 12,
        OVS_KEY_ATTR_VLAN
        | OVS_KEY_ATTR_ETHERTYPE
        | OVS_KEY_ATTR_TCP_FLAGS
        | OVS_KEY_ATTR_CT_ZONE => 2,
        OVS_KEY_ATTR_IPV4 => 12,
        OVS_KEY_ATTR_IPV6 => 40,
        OVS_KEY_ATTR_TCP | OVS_KEY_ATTR_UDP | OVS_KEY_ATTR_SCTP => 4,
        OVS_KEY_ATTR_ICMP | OVS_KEY_ATTR_ICMPV6 => 2,
        OVS_KEY_ATTR_ARP => 24,
        OVS_KEY_ATTR_ND => 28,
        OVS_KEY_ATTR_ND_EXTENSIONS => 8,
        OVS_KEY_ATTR_CT_LABELS => 16,
        OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4 => 16,
        OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6 => 40,
        _ => return None,
    })
}

/// Whether a key attribute type holds nested attributes.
pub fn key_attr_is_nested(ty: u16) -> bool {
    matches!(
        ty,
        OVS_KEY_ATTR_ENCAP | OVS_KEY_ATTR_TUNNEL | OVS_KEY_ATTR_NSH
    )
}

fn mac(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}
fn v4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}
fn v6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn ne32(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

impl KeyAttr {
    /// The `OVS_KEY_ATTR_*` number.
    pub fn attr_type(&self) -> u16 {
        use KeyAttr::*;
        match self {
            Encap(_) => OVS_KEY_ATTR_ENCAP,
            Priority(_) => OVS_KEY_ATTR_PRIORITY,
            InPort(_) => OVS_KEY_ATTR_IN_PORT,
            Ethernet(_) => OVS_KEY_ATTR_ETHERNET,
            Vlan(_) => OVS_KEY_ATTR_VLAN,
            Ethertype(_) => OVS_KEY_ATTR_ETHERTYPE,
            Ipv4(_) => OVS_KEY_ATTR_IPV4,
            Ipv6(_) => OVS_KEY_ATTR_IPV6,
            Tcp(_) => OVS_KEY_ATTR_TCP,
            Udp(_) => OVS_KEY_ATTR_UDP,
            Icmp(_) => OVS_KEY_ATTR_ICMP,
            Icmpv6(_) => OVS_KEY_ATTR_ICMPV6,
            Arp(_) => OVS_KEY_ATTR_ARP,
            Nd(_) => OVS_KEY_ATTR_ND,
            SkbMark(_) => OVS_KEY_ATTR_SKB_MARK,
            Tunnel(_) => OVS_KEY_ATTR_TUNNEL,
            Sctp(_) => OVS_KEY_ATTR_SCTP,
            TcpFlags(_) => OVS_KEY_ATTR_TCP_FLAGS,
            DpHash(_) => OVS_KEY_ATTR_DP_HASH,
            RecircId(_) => OVS_KEY_ATTR_RECIRC_ID,
            Mpls(_) => OVS_KEY_ATTR_MPLS,
            CtState(_) => OVS_KEY_ATTR_CT_STATE,
            CtZone(_) => OVS_KEY_ATTR_CT_ZONE,
            CtMark(_) => OVS_KEY_ATTR_CT_MARK,
            CtLabels(_) => OVS_KEY_ATTR_CT_LABELS,
            CtOrigTupleIpv4(_) => OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4,
            CtOrigTupleIpv6(_) => OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6,
            Nsh(_) => OVS_KEY_ATTR_NSH,
            PacketType(_) => OVS_KEY_ATTR_PACKET_TYPE,
            NdExtensions(_) => OVS_KEY_ATTR_ND_EXTENSIONS,
            Unknown { ty, .. } => *ty,
        }
    }

    /// Decodes one attribute, checking its length as the kernel does.
    pub fn from_nlattr(a: &NlAttr<'_>) -> Result<KeyAttr> {
        Self::decode(a.ty, a.payload, 0)
    }

    pub(crate) fn decode(ty: u16, p: &[u8], depth: usize) -> Result<KeyAttr> {
        use KeyAttr::*;
        if let Some(want) = key_attr_len(ty) {
            if p.len() != want {
                return Err(OdpError::new(format!(
                    "key attribute {} ({}) has length {}, expected {}",
                    ty,
                    key_attr_name(ty),
                    p.len(),
                    want
                )));
            }
        }
        Ok(match ty {
            OVS_KEY_ATTR_ENCAP => {
                if depth >= MAX_ENCAP_DEPTH {
                    return Err(OdpError::new("encap attributes nested too deeply"));
                }
                Encap(decode_attrs(p, depth + 1)?)
            }
            OVS_KEY_ATTR_PRIORITY => Priority(ne32(p)),
            OVS_KEY_ATTR_IN_PORT => InPort(ne32(p)),
            OVS_KEY_ATTR_ETHERNET => Ethernet(EthKey {
                src: mac(p),
                dst: mac(&p[6..]),
            }),
            OVS_KEY_ATTR_VLAN => Vlan(be16(p)),
            OVS_KEY_ATTR_ETHERTYPE => Ethertype(be16(p)),
            OVS_KEY_ATTR_IPV4 => Ipv4(Ipv4Key {
                src: v4(p),
                dst: v4(&p[4..]),
                proto: p[8],
                tos: p[9],
                ttl: p[10],
                frag: p[11],
            }),
            OVS_KEY_ATTR_IPV6 => Ipv6(Ipv6Key {
                src: v6(p),
                dst: v6(&p[16..]),
                label: be32(&p[32..]),
                proto: p[36],
                tclass: p[37],
                hlimit: p[38],
                frag: p[39],
            }),
            OVS_KEY_ATTR_TCP | OVS_KEY_ATTR_UDP | OVS_KEY_ATTR_SCTP => {
                let k = PortsKey {
                    src: be16(p),
                    dst: be16(&p[2..]),
                };
                match ty {
                    OVS_KEY_ATTR_TCP => Tcp(k),
                    OVS_KEY_ATTR_UDP => Udp(k),
                    _ => Sctp(k),
                }
            }
            OVS_KEY_ATTR_ICMP | OVS_KEY_ATTR_ICMPV6 => {
                let k = IcmpKey {
                    icmp_type: p[0],
                    code: p[1],
                };
                if ty == OVS_KEY_ATTR_ICMP {
                    Icmp(k)
                } else {
                    Icmpv6(k)
                }
            }
            OVS_KEY_ATTR_ARP => Arp(ArpKey {
                sip: v4(p),
                tip: v4(&p[4..]),
                op: be16(&p[8..]),
                sha: mac(&p[10..]),
                tha: mac(&p[16..]),
            }),
            OVS_KEY_ATTR_ND => Nd(NdKey {
                target: v6(p),
                sll: mac(&p[16..]),
                tll: mac(&p[22..]),
            }),
            OVS_KEY_ATTR_SKB_MARK => SkbMark(ne32(p)),
            OVS_KEY_ATTR_TUNNEL => Tunnel(super::tunnel::decode_tunnel(p)?),
            OVS_KEY_ATTR_TCP_FLAGS => TcpFlags(be16(p)),
            OVS_KEY_ATTR_DP_HASH => DpHash(ne32(p)),
            OVS_KEY_ATTR_RECIRC_ID => RecircId(ne32(p)),
            OVS_KEY_ATTR_MPLS => {
                if p.is_empty() || !p.len().is_multiple_of(4) {
                    return Err(OdpError::new(format!(
                        "mpls key attribute has bad length {}",
                        p.len()
                    )));
                }
                Mpls(p.chunks_exact(4).map(be32).collect())
            }
            OVS_KEY_ATTR_CT_STATE => CtState(ne32(p)),
            OVS_KEY_ATTR_CT_ZONE => CtZone(u16::from_ne_bytes([p[0], p[1]])),
            OVS_KEY_ATTR_CT_MARK => CtMark(ne32(p)),
            OVS_KEY_ATTR_CT_LABELS => {
                let mut b = [0u8; 16];
                b.copy_from_slice(p);
                CtLabels(u128::from_ne_bytes(b))
            }
            OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4 => CtOrigTupleIpv4(CtTupleIpv4Key {
                src: v4(p),
                dst: v4(&p[4..]),
                src_port: be16(&p[8..]),
                dst_port: be16(&p[10..]),
                proto: p[12],
            }),
            OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6 => CtOrigTupleIpv6(CtTupleIpv6Key {
                src: v6(p),
                dst: v6(&p[16..]),
                src_port: be16(&p[32..]),
                dst_port: be16(&p[34..]),
                proto: p[36],
            }),
            OVS_KEY_ATTR_NSH => Nsh(decode_nsh(p, false)?),
            OVS_KEY_ATTR_PACKET_TYPE => PacketType(be32(p)),
            OVS_KEY_ATTR_ND_EXTENSIONS => NdExtensions(NdExtKey {
                reserved: be32(p),
                options_type: p[4],
            }),
            _ => Unknown {
                ty,
                data: p.to_vec(),
            },
        })
    }

    /// The attribute's payload as the kernel expects it.
    pub fn payload(&self) -> Vec<u8> {
        let mut b = Vec::new();
        self.payload_into(&mut b);
        b
    }

    /// Appends the payload bytes to `b` (no allocation of its own for a
    /// fixed-size attribute).
    fn payload_into(&self, b: &mut Vec<u8>) {
        use KeyAttr::*;
        match self {
            Encap(attrs) => {
                let mut w = NlWriter::new();
                for a in attrs {
                    a.write_to(&mut w);
                }
                b.extend_from_slice(&w.buf);
            }
            Priority(v) | InPort(v) | SkbMark(v) | DpHash(v) | RecircId(v) | CtState(v)
            | CtMark(v) => b.extend_from_slice(&v.to_ne_bytes()),
            Ethernet(e) => {
                b.extend_from_slice(&e.src);
                b.extend_from_slice(&e.dst);
            }
            Vlan(v) | Ethertype(v) | TcpFlags(v) => b.extend_from_slice(&v.to_be_bytes()),
            Ipv4(k) => {
                b.extend_from_slice(&k.src.octets());
                b.extend_from_slice(&k.dst.octets());
                b.extend_from_slice(&[k.proto, k.tos, k.ttl, k.frag]);
            }
            Ipv6(k) => {
                b.extend_from_slice(&k.src.octets());
                b.extend_from_slice(&k.dst.octets());
                b.extend_from_slice(&k.label.to_be_bytes());
                b.extend_from_slice(&[k.proto, k.tclass, k.hlimit, k.frag]);
            }
            Tcp(k) | Udp(k) | Sctp(k) => {
                b.extend_from_slice(&k.src.to_be_bytes());
                b.extend_from_slice(&k.dst.to_be_bytes());
            }
            Icmp(k) | Icmpv6(k) => b.extend_from_slice(&[k.icmp_type, k.code]),
            Arp(k) => {
                b.extend_from_slice(&k.sip.octets());
                b.extend_from_slice(&k.tip.octets());
                b.extend_from_slice(&k.op.to_be_bytes());
                b.extend_from_slice(&k.sha);
                b.extend_from_slice(&k.tha);
                b.extend_from_slice(&[0, 0]);
            }
            Nd(k) => {
                b.extend_from_slice(&k.target.octets());
                b.extend_from_slice(&k.sll);
                b.extend_from_slice(&k.tll);
            }
            Tunnel(attrs) => b.extend_from_slice(&super::tunnel::encode_tunnel(attrs)),
            Mpls(lses) => {
                for l in lses {
                    b.extend_from_slice(&l.to_be_bytes());
                }
            }
            CtZone(z) => b.extend_from_slice(&z.to_ne_bytes()),
            CtLabels(l) => b.extend_from_slice(&l.to_ne_bytes()),
            CtOrigTupleIpv4(k) => {
                b.extend_from_slice(&k.src.octets());
                b.extend_from_slice(&k.dst.octets());
                b.extend_from_slice(&k.src_port.to_be_bytes());
                b.extend_from_slice(&k.dst_port.to_be_bytes());
                b.extend_from_slice(&[k.proto, 0, 0, 0]);
            }
            CtOrigTupleIpv6(k) => {
                b.extend_from_slice(&k.src.octets());
                b.extend_from_slice(&k.dst.octets());
                b.extend_from_slice(&k.src_port.to_be_bytes());
                b.extend_from_slice(&k.dst_port.to_be_bytes());
                b.extend_from_slice(&[k.proto, 0, 0, 0]);
            }
            Nsh(attrs) => b.extend_from_slice(&encode_nsh(attrs)),
            PacketType(v) => b.extend_from_slice(&v.to_be_bytes()),
            NdExtensions(k) => {
                b.extend_from_slice(&k.reserved.to_be_bytes());
                b.extend_from_slice(&[k.options_type, 0, 0, 0]);
            }
            Unknown { data, .. } => b.extend_from_slice(data),
        }
    }

    /// Appends the attribute (header, payload, padding) to `w`.
    pub fn write_to(&self, w: &mut NlWriter) {
        w.put_with(self.attr_type(), |b| self.payload_into(b));
    }

    /// An all-wildcard mask attribute of the same shape as `self`.
    pub fn zero_mask(&self) -> KeyAttr {
        match self {
            KeyAttr::Encap(attrs) => KeyAttr::Encap(attrs.iter().map(|a| a.zero_mask()).collect()),
            KeyAttr::Tunnel(attrs) => {
                KeyAttr::Tunnel(attrs.iter().map(|a| a.zero_mask()).collect())
            }
            KeyAttr::Nsh(attrs) => KeyAttr::Nsh(attrs.iter().map(zero_nsh_attr).collect()),
            other => {
                let ty = other.attr_type();
                let zeros = vec![0u8; other.payload().len()];
                KeyAttr::decode(ty, &zeros, 0).unwrap_or(KeyAttr::Unknown { ty, data: zeros })
            }
        }
    }
}

fn zero_nsh_attr(a: &NshAttr) -> NshAttr {
    match a {
        NshAttr::Base { .. } => NshAttr::Base {
            flags: 0,
            ttl: 0,
            mdtype: 0,
            np: 0,
            path_hdr: 0,
        },
        NshAttr::Md1(_) => NshAttr::Md1([0; 4]),
        NshAttr::Md2(d) => NshAttr::Md2(vec![0; d.len()]),
        NshAttr::Unknown { ty, data } => NshAttr::Unknown {
            ty: *ty,
            data: vec![0; data.len()],
        },
    }
}

pub(crate) fn decode_attrs(buf: &[u8], depth: usize) -> Result<Vec<KeyAttr>> {
    // Room for every attribute at once (each takes at least 8 bytes):
    // growing the list a doubling at a time showed in flow setup profiles.
    let mut out = Vec::with_capacity(buf.len() / 8);
    for a in NlAttrIter::new(buf) {
        let a = a?;
        out.push(KeyAttr::decode(a.ty, a.payload, depth)?);
    }
    Ok(out)
}

/// Decodes NSH key attributes. With `doubled`, each payload holds a value
/// followed by a mask of the same size (as in a masked set action); only
/// the first half is decoded.
/// The value part of an NSH attribute's payload: all of it, or the first
/// half when the payload is a value followed by a mask of the same size.
fn value_half(ty: u16, d: &[u8], doubled: bool) -> Result<&[u8]> {
    if !doubled {
        Ok(d)
    } else if !d.len().is_multiple_of(2) {
        Err(OdpError::new(format!(
            "masked nsh attribute {ty} has odd length {}",
            d.len()
        )))
    } else {
        Ok(&d[..d.len() / 2])
    }
}

pub(crate) fn decode_nsh(p: &[u8], doubled: bool) -> Result<Vec<NshAttr>> {
    let mut out = Vec::new();
    for a in NlAttrIter::new(p) {
        let a = a?;
        let d = a.payload;
        let want = |n: usize| -> Result<&[u8]> {
            let n2 = if doubled { 2 * n } else { n };
            if d.len() != n2 {
                Err(OdpError::new(format!(
                    "nsh attribute {} has length {}, expected {}",
                    a.ty,
                    d.len(),
                    n2
                )))
            } else {
                Ok(&d[..n])
            }
        };
        out.push(match a.ty {
            OVS_NSH_KEY_ATTR_BASE => {
                let b = want(8)?;
                NshAttr::Base {
                    flags: b[0],
                    ttl: b[1],
                    mdtype: b[2],
                    np: b[3],
                    path_hdr: be32(&b[4..]),
                }
            }
            OVS_NSH_KEY_ATTR_MD1 => {
                let b = want(16)?;
                NshAttr::Md1([be32(b), be32(&b[4..]), be32(&b[8..]), be32(&b[12..])])
            }
            // Variable-length attributes: in a masked set the value is the
            // first half (the mask the second, see decode_nsh_masks).
            OVS_NSH_KEY_ATTR_MD2 => NshAttr::Md2(value_half(a.ty, d, doubled)?.to_vec()),
            ty => NshAttr::Unknown {
                ty,
                data: value_half(ty, d, doubled)?.to_vec(),
            },
        });
    }
    Ok(out)
}

impl NshAttr {
    pub fn attr_type(&self) -> u16 {
        match self {
            NshAttr::Base { .. } => OVS_NSH_KEY_ATTR_BASE,
            NshAttr::Md1(_) => OVS_NSH_KEY_ATTR_MD1,
            NshAttr::Md2(_) => OVS_NSH_KEY_ATTR_MD2,
            NshAttr::Unknown { ty, .. } => *ty,
        }
    }
    pub fn payload(&self) -> Vec<u8> {
        match self {
            NshAttr::Base {
                flags,
                ttl,
                mdtype,
                np,
                path_hdr,
            } => {
                let mut b = vec![*flags, *ttl, *mdtype, *np];
                b.extend_from_slice(&path_hdr.to_be_bytes());
                b
            }
            NshAttr::Md1(c) => c.iter().flat_map(|w| w.to_be_bytes()).collect(),
            NshAttr::Md2(d) => d.clone(),
            NshAttr::Unknown { data, .. } => data.clone(),
        }
    }
}

pub(crate) fn encode_nsh(attrs: &[NshAttr]) -> Vec<u8> {
    let mut w = NlWriter::new();
    for a in attrs {
        w.put(a.attr_type(), &a.payload());
    }
    w.buf
}

/// The name Open vSwitch gives a key attribute in text.
pub fn key_attr_name(ty: u16) -> String {
    match ty {
        OVS_KEY_ATTR_UNSPEC => "unspec",
        OVS_KEY_ATTR_ENCAP => "encap",
        OVS_KEY_ATTR_PRIORITY => "skb_priority",
        OVS_KEY_ATTR_SKB_MARK => "skb_mark",
        OVS_KEY_ATTR_CT_STATE => "ct_state",
        OVS_KEY_ATTR_CT_ZONE => "ct_zone",
        OVS_KEY_ATTR_CT_MARK => "ct_mark",
        OVS_KEY_ATTR_CT_LABELS => "ct_label",
        OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4 => "ct_tuple4",
        OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6 => "ct_tuple6",
        OVS_KEY_ATTR_TUNNEL => "tunnel",
        OVS_KEY_ATTR_IN_PORT => "in_port",
        OVS_KEY_ATTR_ETHERNET => "eth",
        OVS_KEY_ATTR_VLAN => "vlan",
        OVS_KEY_ATTR_ETHERTYPE => "eth_type",
        OVS_KEY_ATTR_IPV4 => "ipv4",
        OVS_KEY_ATTR_IPV6 => "ipv6",
        OVS_KEY_ATTR_TCP => "tcp",
        OVS_KEY_ATTR_TCP_FLAGS => "tcp_flags",
        OVS_KEY_ATTR_UDP => "udp",
        OVS_KEY_ATTR_SCTP => "sctp",
        OVS_KEY_ATTR_ICMP => "icmp",
        OVS_KEY_ATTR_ICMPV6 => "icmpv6",
        OVS_KEY_ATTR_ARP => "arp",
        OVS_KEY_ATTR_ND => "nd",
        OVS_KEY_ATTR_ND_EXTENSIONS => "nd_ext",
        OVS_KEY_ATTR_MPLS => "mpls",
        OVS_KEY_ATTR_DP_HASH => "dp_hash",
        OVS_KEY_ATTR_RECIRC_ID => "recirc_id",
        OVS_KEY_ATTR_PACKET_TYPE => "packet_type",
        OVS_KEY_ATTR_NSH => "nsh",
        _ => return format!("key{ty}"),
    }
    .to_string()
}

/// A flow key or mask: key attributes in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Key {
    pub attrs: Vec<KeyAttr>,
}

impl Key {
    pub fn new(attrs: Vec<KeyAttr>) -> Self {
        Key { attrs }
    }

    /// Decodes a stream of `OVS_KEY_ATTR_*` attributes (as in
    /// `OVS_FLOW_ATTR_KEY` / `OVS_FLOW_ATTR_MASK`).
    pub fn from_nlattrs(buf: &[u8]) -> Result<Key> {
        Ok(Key {
            attrs: decode_attrs(buf, 0)?,
        })
    }

    /// Encodes the attributes as the kernel takes them.
    pub fn to_nlattrs(&self) -> Result<Vec<u8>> {
        // A packet's whole key (ct fields, Ethernet, IP, ports) is about
        // 200 bytes.
        let mut w = NlWriter::with_capacity(256);
        for a in &self.attrs {
            a.write_to(&mut w);
        }
        w.finish()
    }

    /// The first attribute of the given type.
    pub fn find(&self, ty: u16) -> Option<&KeyAttr> {
        self.attrs.iter().find(|a| a.attr_type() == ty)
    }
}
