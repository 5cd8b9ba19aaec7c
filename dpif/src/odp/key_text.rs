//! The text form of flow keys and masks, as `ovs-dpctl dump-flows` prints
//! them and `ovs-dpctl add-flow` parses them.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::consts::*;
use super::key::*;
use super::scan::*;
use super::tunnel::{TunnelAttr, VxlanAttr};
use super::{OdpError, Result};

/// How to print keys and actions.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatOptions<'a> {
    /// Print every field, even fully wildcarded ones (`dump-flows -m`).
    pub verbose: bool,
    /// Datapath port names to print instead of numbers.
    pub port_names: Option<&'a HashMap<u32, String>>,
}

pub(crate) fn port_name(out: &mut String, port: u32, opts: &FormatOptions<'_>) {
    match opts.port_names.and_then(|m| m.get(&port)) {
        Some(n) => out.push_str(n),
        None => {
            let _ = write!(out, "{port}");
        }
    }
}

// ---------------------------------------------------------------------
// Masks: wildcard / exact tests (as odp_mask_is_constant__).

fn is_all(bytes: &[u8], c: u8) -> bool {
    bytes.iter().all(|&b| b == c)
}

/// Whether a mask attribute of type `ty` with payload `p` is all `c` bits
/// (0 = fully wildcarded, 0xff = exact).
pub(crate) fn mask_is_constant(ty: u16, p: &[u8], c: u8) -> bool {
    match ty {
        OVS_KEY_ATTR_PRIORITY
        | OVS_KEY_ATTR_IN_PORT
        | OVS_KEY_ATTR_ETHERNET
        | OVS_KEY_ATTR_VLAN
        | OVS_KEY_ATTR_ETHERTYPE
        | OVS_KEY_ATTR_IPV4
        | OVS_KEY_ATTR_TCP
        | OVS_KEY_ATTR_UDP
        | OVS_KEY_ATTR_ICMP
        | OVS_KEY_ATTR_ICMPV6
        | OVS_KEY_ATTR_ND
        | OVS_KEY_ATTR_ND_EXTENSIONS
        | OVS_KEY_ATTR_SKB_MARK
        | OVS_KEY_ATTR_TUNNEL
        | OVS_KEY_ATTR_SCTP
        | OVS_KEY_ATTR_DP_HASH
        | OVS_KEY_ATTR_RECIRC_ID
        | OVS_KEY_ATTR_MPLS
        | OVS_KEY_ATTR_CT_STATE
        | OVS_KEY_ATTR_CT_ZONE
        | OVS_KEY_ATTR_CT_MARK
        | OVS_KEY_ATTR_CT_LABELS
        | OVS_KEY_ATTR_PACKET_TYPE
        | OVS_KEY_ATTR_NSH => is_all(p, c),
        OVS_KEY_ATTR_TCP_FLAGS => {
            p.len() == 2
                && (u16::from_be_bytes([p[0], p[1]]) & 0x0fff) == (u16::from(c) * 0x101) & 0x0fff
        }
        OVS_KEY_ATTR_IPV6 => {
            p.len() == 40 && {
                let label = u32::from_be_bytes([p[32], p[33], p[34], p[35]]);
                let want = if c == 0 { 0 } else { 0xfffff };
                label & 0xfffff == want && is_all(&p[36..40], c) && is_all(&p[..32], c)
            }
        }
        OVS_KEY_ATTR_ARP => p.len() >= 22 && is_all(&p[..22], c),
        OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4 => p.len() >= 13 && is_all(&p[..13], c),
        OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6 => p.len() >= 37 && is_all(&p[..37], c),
        _ => false,
    }
}

fn is_wildcard(m: &KeyAttr) -> bool {
    mask_is_constant(m.attr_type(), &m.payload(), 0)
}
fn is_exact(m: &KeyAttr) -> bool {
    mask_is_constant(m.attr_type(), &m.payload(), 0xff)
}
fn mask_empty(m: Option<&KeyAttr>) -> bool {
    m.is_none_or(|m| is_all(&m.payload(), 0))
}

// ---------------------------------------------------------------------
// Field printers: `name=value[/mask],`, omitted when the mask is empty
// unless verbose.

/// How a field's value and mask are printed.
struct FieldFmt<T> {
    /// The mask value meaning "fully wildcarded".
    zero: T,
    /// Whether a mask is exact (then only the value is printed).
    full: fn(T) -> bool,
    val: fn(T) -> String,
    msk: fn(T) -> String,
}

fn field<T: Copy + PartialEq>(
    out: &mut String,
    verbose: bool,
    name: &str,
    key: T,
    mask: Option<T>,
    f: FieldFmt<T>,
) {
    let empty = mask.is_some_and(|m| m == f.zero);
    if verbose || !empty {
        out.push_str(name);
        out.push('=');
        out.push_str(&(f.val)(key));
        if let Some(m) = mask {
            if !(f.full)(m) {
                out.push('/');
                out.push_str(&(f.msk)(m));
            }
        }
        out.push(',');
    }
}

fn f_u8u(out: &mut String, v: bool, name: &str, k: u8, m: Option<u8>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: 0,
            full: |m| m == 0xff,
            val: |k| k.to_string(),
            msk: |m| hx(m.into()),
        },
    );
}
fn f_u8x(out: &mut String, v: bool, name: &str, k: u8, m: Option<u8>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: 0,
            full: |m| m == 0xff,
            val: |k| hx(k.into()),
            msk: |m| hx(m.into()),
        },
    );
}
fn f_be16(out: &mut String, v: bool, name: &str, k: u16, m: Option<u16>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: 0,
            full: |m| m == 0xffff,
            val: |k| k.to_string(),
            msk: |m| hx(m.into()),
        },
    );
}
fn f_be16x(out: &mut String, v: bool, name: &str, k: u16, m: Option<u16>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: 0,
            full: |m| m == 0xffff,
            val: |k| hx(k.into()),
            msk: |m| hx(m.into()),
        },
    );
}
fn f_be64(out: &mut String, v: bool, name: &str, k: u64, m: Option<u64>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: 0,
            full: |m| m == u64::MAX,
            val: |k| format!("0x{k:x}"),
            msk: hx,
        },
    );
}
fn f_ipv4(out: &mut String, v: bool, name: &str, k: Ipv4Addr, m: Option<Ipv4Addr>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: Ipv4Addr::UNSPECIFIED,
            full: |m| m == Ipv4Addr::BROADCAST,
            val: |k| k.to_string(),
            msk: |m| m.to_string(),
        },
    );
}
fn f_in6(out: &mut String, v: bool, name: &str, k: Ipv6Addr, m: Option<Ipv6Addr>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: Ipv6Addr::UNSPECIFIED,
            full: |m| m.octets() == [0xff; 16],
            val: |k| fmt_ipv6(&k),
            msk: |m| fmt_ipv6(&m),
        },
    );
}
fn f_eth(out: &mut String, v: bool, name: &str, k: [u8; 6], m: Option<[u8; 6]>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: [0; 6],
            full: |m| m == [0xff; 6],
            val: |k| fmt_mac(&k),
            msk: |m| fmt_mac(&m),
        },
    );
}
fn f_label(out: &mut String, v: bool, name: &str, k: u32, m: Option<u32>) {
    field(
        out,
        v,
        name,
        k,
        m,
        FieldFmt {
            zero: 0,
            full: |m| m & 0xfffff == 0xfffff,
            val: |k| hx(k.into()),
            msk: |m| hx(m.into()),
        },
    );
}
fn f_frag(out: &mut String, name: &str, k: u8, m: Option<u8>) {
    let empty = m == Some(0);
    let full = m.is_none_or(|m| m == 0xff);
    if !empty && !full {
        let _ = write!(
            out,
            "error: partial mask not supported for frag ({}),",
            hx(m.unwrap_or(0).into())
        );
    } else if !empty {
        let s = match k {
            OVS_FRAG_TYPE_NONE => "no",
            OVS_FRAG_TYPE_FIRST => "first",
            OVS_FRAG_TYPE_LATER => "later",
            _ => "<error>",
        };
        let _ = write!(out, "{name}={s},");
    }
}

fn format_vlan_tci(out: &mut String, tci: u16, mask: u16, verbose: bool) {
    let vid = |t: u16| t & 0x0fff;
    let pcp = |t: u16| t >> 13;
    if verbose || vid(tci) != 0 || vid(mask) != 0 {
        let _ = write!(out, "vid={}", vid(tci));
        if vid(mask) != 0x0fff {
            let _ = write!(out, "/0x{:x}", vid(mask));
        }
        out.push(',');
    }
    if verbose || pcp(tci) != 0 || pcp(mask) != 0 {
        let _ = write!(out, "pcp={}", pcp(tci));
        if pcp(mask) != 7 {
            let _ = write!(out, "/0x{:x}", pcp(mask));
        }
        out.push(',');
    }
    if tci & 0x1000 == 0 {
        out.push_str("cfi=0,");
    }
    chomp(out, ',');
}

pub(crate) fn format_mpls_lse(out: &mut String, lse: u32) {
    let _ = write!(
        out,
        "label={},tc={},ttl={},bos={}",
        lse >> 12,
        (lse >> 9) & 7,
        lse & 0xff,
        (lse >> 8) & 1
    );
}

fn format_u128(out: &mut String, key: u128, mask: Option<u128>, verbose: bool) {
    if verbose || mask.is_some_and(|m| m != 0) {
        put_hex(out, &key.to_be_bytes());
        if let Some(m) = mask {
            if m != u128::MAX {
                out.push('/');
                put_hex(out, &m.to_be_bytes());
            }
        }
    }
}

// ---------------------------------------------------------------------
// Key attribute printer.

/// Prints a list of key attributes with an optional mask, as
/// `odp_flow_format` does.
pub fn format_key_attrs(
    out: &mut String,
    key: &[KeyAttr],
    mask: Option<&[KeyAttr]>,
    opts: &FormatOptions<'_>,
) {
    if key.is_empty() {
        out.push_str("<empty>");
        return;
    }
    let mut has_ethtype = false;
    let mut has_packet_type = false;
    let mut first = true;
    let mask_nonempty = mask.filter(|m| !m.is_empty());
    for a in key {
        let ty = a.attr_type();
        if ty == OVS_KEY_ATTR_ETHERTYPE {
            has_ethtype = true;
        } else if ty == OVS_KEY_ATTR_PACKET_TYPE {
            has_packet_type = true;
        }
        let nested = key_attr_is_nested(ty);
        let mut ma = None;
        let mut wildcard = false;
        if let Some(m) = mask_nonempty {
            ma = m.iter().find(|x| x.attr_type() == ty);
            wildcard = ma.is_none_or(is_wildcard);
        }
        if opts.verbose || !wildcard || nested {
            let generated;
            if wildcard && ma.is_none() {
                generated = a.zero_mask();
                ma = Some(&generated);
            }
            if !first {
                out.push(',');
            }
            format_key_attr(out, a, ma, opts);
            first = false;
        } else if ty == OVS_KEY_ATTR_ETHERNET && !has_packet_type {
            if !first {
                out.push(',');
            }
            out.push_str("eth()");
        } else if ty == OVS_KEY_ATTR_PACKET_TYPE && wildcard {
            has_packet_type = false;
        }
    }
    if !has_ethtype {
        if let Some(KeyAttr::Ethertype(m)) =
            mask.and_then(|m| m.iter().find(|x| x.attr_type() == OVS_KEY_ATTR_ETHERTYPE))
        {
            let _ = write!(out, ",eth_type(0/0x{m:04x})");
        }
    }
}

/// Prints one key attribute (`name(fields)`) with an optional mask.
pub fn format_key_attr(
    out: &mut String,
    a: &KeyAttr,
    ma: Option<&KeyAttr>,
    opts: &FormatOptions<'_>,
) {
    use KeyAttr::*;
    let verbose = opts.verbose;
    let exact = ma.is_none_or(is_exact);
    let ty = a.attr_type();
    out.push_str(&key_attr_name(ty));
    out.push('(');
    // The mask attribute, when it has the same shape as the key.
    macro_rules! m {
        ($pat:ident) => {
            match ma {
                Some($pat(x)) => Some(x),
                _ => None,
            }
        };
    }
    match a {
        Encap(children) => {
            let mchildren = m!(Encap).filter(|c| !c.is_empty());
            if !children.is_empty() {
                format_key_attrs(out, children, mchildren.map(|v| v.as_slice()), opts);
            }
        }
        Priority(v) | SkbMark(v) | DpHash(v) | RecircId(v) => {
            out.push_str(&hx((*v).into()));
            if !exact {
                let mv = ma.map(u32_of).unwrap_or(0);
                let _ = write!(out, "/{}", hx(mv.into()));
            }
        }
        CtMark(v) => {
            if verbose || !mask_empty(ma) {
                out.push_str(&hx((*v).into()));
                if !exact {
                    let _ = write!(out, "/{}", hx(ma.map(u32_of).unwrap_or(0).into()));
                }
            }
        }
        CtState(v) => {
            let mv = if mask_empty(ma) {
                0
            } else {
                ma.map(u32_of).unwrap_or(0)
            };
            if verbose {
                out.push_str(&hx((*v).into()));
                if !exact {
                    let _ = write!(out, "/{}", hx(mv.into()));
                }
            } else if !exact {
                format_flags_masked(out, ct_state_name, *v, mv, u32::MAX);
            } else {
                format_flags(out, ct_state_name, *v, '|');
            }
        }
        CtZone(v) => {
            if verbose || !mask_empty(ma) {
                out.push_str(&hx((*v).into()));
                if !exact {
                    let mv = m!(CtZone).copied().unwrap_or(0);
                    let _ = write!(out, "/{}", hx(mv.into()));
                }
            }
        }
        CtLabels(v) => format_u128(out, *v, m!(CtLabels).copied(), verbose),
        CtOrigTupleIpv4(k) => {
            let mk = m!(CtOrigTupleIpv4);
            f_ipv4(out, verbose, "src", k.src, mk.map(|m| m.src));
            f_ipv4(out, verbose, "dst", k.dst, mk.map(|m| m.dst));
            f_u8u(out, verbose, "proto", k.proto, mk.map(|m| m.proto));
            f_be16(out, verbose, "tp_src", k.src_port, mk.map(|m| m.src_port));
            f_be16(out, verbose, "tp_dst", k.dst_port, mk.map(|m| m.dst_port));
            chomp(out, ',');
        }
        CtOrigTupleIpv6(k) => {
            let mk = m!(CtOrigTupleIpv6);
            f_in6(out, verbose, "src", k.src, mk.map(|m| m.src));
            f_in6(out, verbose, "dst", k.dst, mk.map(|m| m.dst));
            f_u8u(out, verbose, "proto", k.proto, mk.map(|m| m.proto));
            f_be16(out, verbose, "src_port", k.src_port, mk.map(|m| m.src_port));
            f_be16(out, verbose, "dst_port", k.dst_port, mk.map(|m| m.dst_port));
            chomp(out, ',');
        }
        Tunnel(attrs) => {
            let mk = ma.map(|m| match m {
                Tunnel(x) => x.as_slice(),
                _ => &[],
            });
            format_tunnel(out, attrs, mk, verbose);
        }
        InPort(v) => {
            if exact {
                port_name(out, *v, opts);
            } else {
                let _ = write!(out, "{}/{}", v, hx(ma.map(u32_of).unwrap_or(0).into()));
            }
        }
        PacketType(v) => {
            let mv = m!(PacketType).copied().unwrap_or(u32::MAX);
            f_be16(
                out,
                verbose,
                "ns",
                (*v >> 16) as u16,
                Some((mv >> 16) as u16),
            );
            f_be16x(out, verbose, "id", *v as u16, Some(mv as u16));
            chomp(out, ',');
        }
        Ethernet(k) => {
            let mk = m!(Ethernet);
            f_eth(out, verbose, "src", k.src, mk.map(|m| m.src));
            f_eth(out, verbose, "dst", k.dst, mk.map(|m| m.dst));
            chomp(out, ',');
        }
        Vlan(tci) => format_vlan_tci(out, *tci, m!(Vlan).copied().unwrap_or(0xffff), verbose),
        Mpls(lses) => {
            let mk = if exact { None } else { m!(Mpls) };
            if let Some(mk) = mk {
                if mk.len() != lses.len() {
                    let _ = write!(
                        out,
                        "(key length {} != mask length {}))",
                        lses.len() * 4,
                        mk.len() * 4
                    );
                    return;
                }
            }
            for (i, l) in lses.iter().enumerate() {
                match mk {
                    None => format_mpls_lse(out, *l),
                    Some(mk) => {
                        let m = mk.get(i).copied().unwrap_or(0);
                        let _ = write!(
                            out,
                            "label={}/0x{:x},tc={}/{:x},ttl={}/0x{:x},bos={}/{:x}",
                            l >> 12,
                            m >> 12,
                            (l >> 9) & 7,
                            (m >> 9) & 7,
                            l & 0xff,
                            m & 0xff,
                            (l >> 8) & 1,
                            (m >> 8) & 1
                        );
                    }
                }
                out.push(',');
            }
            chomp(out, ',');
        }
        Ethertype(v) => {
            let _ = write!(out, "0x{v:04x}");
            if !exact {
                let _ = write!(out, "/0x{:04x}", m!(Ethertype).copied().unwrap_or(0));
            }
        }
        Ipv4(k) => {
            let mk = m!(Ipv4);
            f_ipv4(out, verbose, "src", k.src, mk.map(|m| m.src));
            f_ipv4(out, verbose, "dst", k.dst, mk.map(|m| m.dst));
            f_u8u(out, verbose, "proto", k.proto, mk.map(|m| m.proto));
            f_u8x(out, verbose, "tos", k.tos, mk.map(|m| m.tos));
            f_u8u(out, verbose, "ttl", k.ttl, mk.map(|m| m.ttl));
            f_frag(out, "frag", k.frag, mk.map(|m| m.frag));
            chomp(out, ',');
        }
        Ipv6(k) => {
            let mk = m!(Ipv6);
            f_in6(out, verbose, "src", k.src, mk.map(|m| m.src));
            f_in6(out, verbose, "dst", k.dst, mk.map(|m| m.dst));
            f_label(out, verbose, "label", k.label, mk.map(|m| m.label));
            f_u8u(out, verbose, "proto", k.proto, mk.map(|m| m.proto));
            f_u8x(out, verbose, "tclass", k.tclass, mk.map(|m| m.tclass));
            f_u8u(out, verbose, "hlimit", k.hlimit, mk.map(|m| m.hlimit));
            f_frag(out, "frag", k.frag, mk.map(|m| m.frag));
            chomp(out, ',');
        }
        Tcp(k) | Udp(k) | Sctp(k) => {
            let mk = match ma {
                Some(Tcp(x) | Udp(x) | Sctp(x)) => Some(x),
                _ => None,
            };
            f_be16(out, verbose, "src", k.src, mk.map(|m| m.src));
            f_be16(out, verbose, "dst", k.dst, mk.map(|m| m.dst));
            chomp(out, ',');
        }
        TcpFlags(v) => {
            if !exact {
                let mv = m!(TcpFlags).copied().unwrap_or(0);
                format_flags_masked(
                    out,
                    tcp_flag_name,
                    (*v).into(),
                    (mv & 0x0fff).into(),
                    0x0fff,
                );
            } else {
                format_flags(out, tcp_flag_name, (*v).into(), '|');
            }
        }
        Icmp(k) | Icmpv6(k) => {
            let mk = match ma {
                Some(Icmp(x) | Icmpv6(x)) => Some(x),
                _ => None,
            };
            f_u8u(out, verbose, "type", k.icmp_type, mk.map(|m| m.icmp_type));
            f_u8u(out, verbose, "code", k.code, mk.map(|m| m.code));
            chomp(out, ',');
        }
        Arp(k) => {
            let mk = m!(Arp);
            f_ipv4(out, verbose, "sip", k.sip, mk.map(|m| m.sip));
            f_ipv4(out, verbose, "tip", k.tip, mk.map(|m| m.tip));
            f_be16(out, verbose, "op", k.op, mk.map(|m| m.op));
            f_eth(out, verbose, "sha", k.sha, mk.map(|m| m.sha));
            f_eth(out, verbose, "tha", k.tha, mk.map(|m| m.tha));
            chomp(out, ',');
        }
        Nd(k) => {
            let mk = m!(Nd);
            f_in6(out, verbose, "target", k.target, mk.map(|m| m.target));
            f_eth(out, verbose, "sll", k.sll, mk.map(|m| m.sll));
            f_eth(out, verbose, "tll", k.tll, mk.map(|m| m.tll));
            chomp(out, ',');
        }
        NdExtensions(k) => {
            let mk = m!(NdExtensions);
            let _ = write!(out, "nd_reserved=0x{:x},", k.reserved);
            f_u8u(
                out,
                verbose,
                "nd_options_type",
                k.options_type,
                mk.map(|m| m.options_type),
            );
            chomp(out, ',');
        }
        Nsh(attrs) => {
            let mk = ma.map(|m| match m {
                Nsh(x) => x.as_slice(),
                _ => &[],
            });
            format_nsh(out, attrs, mk);
        }
        Unknown { data, .. } => {
            put_spaced_hex(out, data);
            if !exact {
                out.push('/');
                put_spaced_hex(out, &ma.map(|m| m.payload()).unwrap_or_default());
            }
        }
    }
    out.push(')');
}

fn u32_of(a: &KeyAttr) -> u32 {
    match a {
        KeyAttr::Priority(v)
        | KeyAttr::SkbMark(v)
        | KeyAttr::DpHash(v)
        | KeyAttr::RecircId(v)
        | KeyAttr::CtMark(v)
        | KeyAttr::CtState(v)
        | KeyAttr::InPort(v) => *v,
        _ => 0,
    }
}

// ---------------------------------------------------------------------
// NSH.

/// The flattened NSH key Open vSwitch prints.
#[derive(Clone, Copy)]
pub(crate) struct NshFields {
    pub flags: u8,
    pub ttl: u8,
    pub mdtype: u8,
    pub np: u8,
    pub path_hdr: u32,
    pub context: [u32; 4],
}

pub(crate) fn nsh_fields(attrs: &[NshAttr], fill: u8) -> NshFields {
    let f32 = u32::from_ne_bytes([fill; 4]);
    let mut n = NshFields {
        flags: fill,
        ttl: fill,
        mdtype: fill,
        np: fill,
        path_hdr: f32,
        context: [f32; 4],
    };
    for a in attrs {
        match a {
            NshAttr::Base {
                flags,
                ttl,
                mdtype,
                np,
                path_hdr,
            } => {
                n.flags = *flags;
                n.ttl = *ttl;
                n.mdtype = *mdtype;
                n.np = *np;
                n.path_hdr = *path_hdr;
            }
            NshAttr::Md1(c) => n.context = *c,
            _ => {}
        }
    }
    n
}

pub(crate) fn format_nsh_key(out: &mut String, k: &NshFields) {
    let _ = write!(
        out,
        "flags={},ttl={},mdtype={},np={},spi=0x{:x},si={}",
        k.flags,
        k.ttl,
        k.mdtype,
        k.np,
        k.path_hdr >> 8,
        k.path_hdr & 0xff
    );
    if k.mdtype == 1 {
        for (i, c) in k.context.iter().enumerate() {
            let _ = write!(out, ",c{}=0x{:x}", i + 1, c);
        }
    }
}

fn nsh_u8(out: &mut String, first: &mut bool, name: &str, v: u8, mk: u8) {
    if mk != 0 {
        if !*first {
            out.push(',');
        }
        if mk == 0xff {
            let _ = write!(out, "{name}={v}");
        } else {
            let _ = write!(out, "{name}=0x{v:02x}/0x{mk:02x}");
        }
        *first = false;
    }
}

fn nsh_be32(out: &mut String, first: &mut bool, name: &str, v: u32, mk: u32) {
    if mk != 0 {
        if !*first {
            out.push(',');
        }
        if mk == u32::MAX {
            let _ = write!(out, "{name}=0x{v:x}");
        } else {
            let _ = write!(out, "{name}=0x{v:x}/0x{mk:08x}");
        }
        *first = false;
    }
}

pub(crate) fn format_nsh_key_mask(out: &mut String, k: &NshFields, m: &NshFields) {
    let mut first = true;
    nsh_u8(out, &mut first, "flags", k.flags, m.flags);
    nsh_u8(out, &mut first, "ttl", k.ttl, m.ttl);
    nsh_u8(out, &mut first, "mdtype", k.mdtype, m.mdtype);
    nsh_u8(out, &mut first, "np", k.np, m.np);
    let mut spi_mask = m.path_hdr >> 8;
    if spi_mask == 0xffffff {
        spi_mask = u32::MAX;
    }
    nsh_be32(out, &mut first, "spi", k.path_hdr >> 8, spi_mask);
    nsh_u8(out, &mut first, "si", k.path_hdr as u8, m.path_hdr as u8);
    for i in 0..4 {
        nsh_be32(
            out,
            &mut first,
            &format!("c{}", i + 1),
            k.context[i],
            m.context[i],
        );
    }
}

fn format_nsh(out: &mut String, attrs: &[NshAttr], mask: Option<&[NshAttr]>) {
    let k = nsh_fields(attrs, 0);
    match mask {
        Some(m) => {
            let mut mf = nsh_fields(&[], 0xff);
            // Mask fields come from the mask attributes of the types the
            // key has.
            for a in attrs {
                if let Some(ma) = m.iter().find(|x| x.attr_type() == a.attr_type()) {
                    let f = nsh_fields(std::slice::from_ref(ma), 0xff);
                    match ma {
                        NshAttr::Base { .. } => {
                            mf.flags = f.flags;
                            mf.ttl = f.ttl;
                            mf.mdtype = f.mdtype;
                            mf.np = f.np;
                            mf.path_hdr = f.path_hdr;
                        }
                        NshAttr::Md1(_) => mf.context = f.context,
                        _ => {}
                    }
                }
            }
            format_nsh_key_mask(out, &k, &mf)
        }
        None => format_nsh_key(out, &k),
    }
}

// ---------------------------------------------------------------------
// Tunnel.

fn format_unknown_sub(out: &mut String, ty: u16, data: &[u8], ma: Option<&[u8]>) {
    let _ = write!(out, "key{ty}(");
    put_spaced_hex(out, data);
    if let Some(m) = ma {
        if !mask_is_constant(ty, m, 0xff) {
            out.push('/');
            put_spaced_hex(out, m);
        }
    }
    out.push_str("),");
}

pub(crate) fn format_tunnel(
    out: &mut String,
    attrs: &[TunnelAttr],
    mask: Option<&[TunnelAttr]>,
    verbose: bool,
) {
    use TunnelAttr::*;
    let mut flags = 0u32;
    let mut mask_flags = 0u32;
    for a in attrs {
        let generated;
        let ma = match mask {
            Some(m) => match m.iter().find(|x| x.attr_type() == a.attr_type()) {
                Some(x) => Some(x),
                None => {
                    generated = a.zero_mask();
                    Some(&generated)
                }
            },
            None => None,
        };
        macro_rules! m {
            ($pat:ident) => {
                match ma {
                    Some($pat(x)) => Some(*x),
                    _ => None,
                }
            };
        }
        match a {
            Id(v) => {
                f_be64(out, verbose, "tun_id", *v, m!(Id));
                flags |= TNL_F_KEY;
                if ma.is_some() {
                    mask_flags |= TNL_F_KEY;
                }
            }
            Ipv4Src(v) => f_ipv4(out, verbose, "src", *v, m!(Ipv4Src)),
            Ipv4Dst(v) => f_ipv4(out, verbose, "dst", *v, m!(Ipv4Dst)),
            Ipv6Src(v) => f_in6(out, verbose, "ipv6_src", *v, m!(Ipv6Src)),
            Ipv6Dst(v) => f_in6(out, verbose, "ipv6_dst", *v, m!(Ipv6Dst)),
            Tos(v) => f_u8x(out, verbose, "tos", *v, m!(Tos)),
            Ttl(v) => f_u8u(out, verbose, "ttl", *v, m!(Ttl)),
            DontFragment => flags |= TNL_F_DONT_FRAGMENT,
            Csum => flags |= TNL_F_CSUM,
            Oam => flags |= TNL_F_OAM,
            TpSrc(v) => f_be16(out, verbose, "tp_src", *v, m!(TpSrc)),
            TpDst(v) => f_be16(out, verbose, "tp_dst", *v, m!(TpDst)),
            VxlanOpts(v) => {
                out.push_str("vxlan(");
                let mv = match ma {
                    Some(VxlanOpts(x)) => Some(x.as_slice()),
                    Some(_) => Some(&[][..]),
                    None => None,
                };
                format_vxlan(out, v, mv, verbose);
                out.push_str("),");
            }
            GeneveOpts(d) => {
                out.push_str("geneve(");
                let mv = match ma {
                    Some(GeneveOpts(x)) => Some(x.as_slice()),
                    Some(_) => Some(&[][..]),
                    None => None,
                };
                format_geneve(out, d, mv, verbose);
                out.push_str("),");
            }
            Pad(_) => {}
            ErspanOpts(d) => {
                out.push_str("erspan(");
                format_erspan(out, d, m!(ErspanOpts), verbose);
                out.push_str("),");
            }
            GtpuOpts(d) => {
                out.push_str("gtpu(");
                let mk = m!(GtpuOpts);
                f_u8x(out, verbose, "flags", d[0], mk.map(|m| m[0]));
                f_u8u(out, verbose, "msgtype", d[1], mk.map(|m| m[1]));
                chomp(out, ',');
                out.push_str("),");
            }
            Ipv4InfoBridge | Unknown { .. } => {
                let mp = ma.map(|m| m.payload());
                format_unknown_sub(out, a.attr_type(), &a.payload(), mp.as_deref());
            }
        }
    }
    if let Some(m) = mask {
        for a in m {
            match a {
                DontFragment => mask_flags |= TNL_F_DONT_FRAGMENT,
                Csum => mask_flags |= TNL_F_CSUM,
                Oam => mask_flags |= TNL_F_OAM,
                _ => {}
            }
        }
    }
    let mf = mask.map(|_| mask_flags);
    if verbose || mf != Some(0) {
        out.push_str("flags(");
        match mf {
            Some(mf) => format_flags_masked(out, tun_flag_name, flags, mf & TNL_F_MASK, TNL_F_MASK),
            None => format_flags(out, tun_flag_name, flags, '|'),
        }
        out.push_str("),");
    }
    chomp(out, ',');
}

fn format_vxlan(out: &mut String, attrs: &[VxlanAttr], mask: Option<&[VxlanAttr]>, verbose: bool) {
    for a in attrs {
        let ty = match a {
            VxlanAttr::Gbp(_) => OVS_VXLAN_EXT_GBP,
            VxlanAttr::Unknown { ty, .. } => *ty,
        };
        let ma = mask.map(|m| {
            m.iter()
                .find(|x| match x {
                    VxlanAttr::Gbp(_) => ty == OVS_VXLAN_EXT_GBP,
                    VxlanAttr::Unknown { ty: t, .. } => *t == ty,
                })
                .cloned()
                .unwrap_or(match a {
                    VxlanAttr::Gbp(_) => VxlanAttr::Gbp(0),
                    VxlanAttr::Unknown { ty, data } => VxlanAttr::Unknown {
                        ty: *ty,
                        data: vec![0; data.len()],
                    },
                })
        });
        match a {
            VxlanAttr::Gbp(k) => {
                let mk = match ma {
                    Some(VxlanAttr::Gbp(m)) => Some(m),
                    _ => None,
                };
                out.push_str("gbp(");
                f_be16(
                    out,
                    verbose,
                    "id",
                    (*k & 0xffff) as u16,
                    mk.map(|m| (m & 0xffff) as u16),
                );
                f_u8x(
                    out,
                    verbose,
                    "flags",
                    (*k >> 16) as u8,
                    mk.map(|m| (m >> 16) as u8),
                );
                chomp(out, ',');
                out.push_str("),");
            }
            VxlanAttr::Unknown { ty, data } => {
                let mp = match &ma {
                    Some(VxlanAttr::Unknown { data, .. }) => Some(data.clone()),
                    Some(VxlanAttr::Gbp(m)) => Some(m.to_ne_bytes().to_vec()),
                    None => None,
                };
                format_unknown_sub(out, *ty, data, mp.as_deref());
            }
        }
    }
    chomp(out, ',');
}

fn format_geneve(out: &mut String, opts: &[u8], mask: Option<&[u8]>, verbose: bool) {
    if let Some(m) = mask {
        if m.len() != opts.len() {
            let _ = write!(
                out,
                "value len {} different from mask len {}",
                opts.len(),
                m.len()
            );
            return;
        }
    }
    let mut ofs = 0;
    while ofs < opts.len() {
        let left = opts.len() - ofs;
        if left < 4 {
            let _ = write!(out, "opt len {left} less than minimum 4");
            return;
        }
        let o = &opts[ofs..];
        let data_len = usize::from(o[3] & 0x1f) * 4;
        let len = 4 + data_len;
        if len > left {
            let _ = write!(out, "opt len {len} greater than remaining {left}");
            return;
        }
        let mo = mask.map(|m| &m[ofs..]);
        out.push('{');
        f_be16x(
            out,
            verbose,
            "class",
            u16::from_be_bytes([o[0], o[1]]),
            mo.map(|m| u16::from_be_bytes([m[0], m[1]])),
        );
        f_u8x(out, verbose, "type", o[2], mo.map(|m| m[2]));
        let len_mask = mo.map(|m| {
            if m[3] & 0x1f == 0x1f {
                0xff
            } else {
                m[3] & 0x1f
            }
        });
        f_u8u(out, verbose, "len", data_len as u8, len_mask);
        let data = &o[4..len];
        let mdata = mo.map(|m| &m[4..len]);
        if data_len > 0 && (verbose || mdata.is_none_or(|m| !is_all(m, 0))) {
            put_hex(out, data);
            if let Some(m) = mdata {
                if !is_all(m, 0xff) {
                    out.push('/');
                    put_hex(out, m);
                }
            }
        } else {
            chomp(out, ',');
        }
        out.push('}');
        ofs += len;
    }
}

fn format_erspan(out: &mut String, d: &[u8; 12], m: Option<[u8; 12]>, verbose: bool) {
    let version = u32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
    f_u8u(out, verbose, "ver", d_ver(d), m.map(|m| d_ver(&m)));
    if version == 1 {
        let idx = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
        match m {
            Some(m) => {
                let mi = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
                let _ = write!(out, "idx={}/{},", hx(idx.into()), hx(mi.into()));
            }
            None => {
                let _ = write!(out, "idx={},", hx(idx.into()));
            }
        }
    } else if version == 2 {
        let dir = |b: &[u8; 12]| (b[11] >> 3) & 1;
        let hwid = |b: &[u8; 12]| b[11] >> 4;
        f_u8u(out, verbose, "dir", dir(d), m.as_ref().map(dir));
        f_u8x(out, verbose, "hwid", hwid(d), m.as_ref().map(hwid));
    }
    chomp(out, ',');
}

fn d_ver(d: &[u8; 12]) -> u8 {
    u32::from_ne_bytes([d[0], d[1], d[2], d[3]]) as u8
}

// ---------------------------------------------------------------------
// Parser.

/// Deepest nesting the parser accepts (as Open vSwitch's MAX_ODP_NESTED).
const MAX_ODP_NESTED: usize = 32;

pub(crate) const DELIMITERS: &[u8] = b", \t\r\n";

pub(crate) fn skip_delims(s: &str, mut i: usize) -> usize {
    while s.as_bytes().get(i).is_some_and(|c| DELIMITERS.contains(c)) {
        i += 1;
    }
    i
}

/// Parses a key (with its mask) from text. Returns the key attributes and
/// the mask attributes, in text order.
pub fn parse_key_attrs(
    s: &str,
    port_names: Option<&HashMap<String, u32>>,
) -> Result<(Vec<KeyAttr>, Vec<KeyAttr>)> {
    ascii_only(s)?;
    let mut p = KeyParser {
        port_names,
        depth: 0,
    };
    let mut key = Vec::new();
    let mut mask = Vec::new();
    let mut i = 0;
    loop {
        i = skip_delims(s, i);
        if i >= s.len() {
            return Ok((key, mask));
        }
        let rest = &s[i..];
        if let Some(r) = rest.strip_prefix("ufid:") {
            if parse_ufid(r).is_none() {
                return Err(syntax(rest));
            }
            i += 5 + 36;
            if s.as_bytes().get(i) == Some(&b' ') {
                i += 1;
            }
            continue;
        }
        let (k, m, n) = p.attr(rest).map_err(|_| syntax(rest))?;
        key.push(k);
        mask.push(m);
        i += n;
    }
}

/// The text syntax is ASCII; refusing anything else up front also keeps
/// every byte offset the scanners compute on a character boundary.
pub(crate) fn ascii_only(s: &str) -> Result<()> {
    if s.is_ascii() {
        Ok(())
    } else {
        Err(OdpError::new("non-ASCII character in flow text"))
    }
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` into a UFID.
pub fn parse_ufid(s: &str) -> Option<u128> {
    let u = s.get(..36)?;
    let b = u.as_bytes();
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let hex: String = u.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let p = |a: usize| u32::from_str_radix(&hex[a..a + 8], 16).ok();
    let parts = [p(0)?, p(8)?, p(16)?, p(24)?];
    Some(
        u128::from(parts[0])
            | u128::from(parts[1]) << 32
            | u128::from(parts[2]) << 64
            | u128::from(parts[3]) << 96,
    )
}

/// Prints a UFID as `ufid:` plus its UUID form.
pub fn format_ufid(ufid: u128) -> String {
    let p = |k: u32| (ufid >> (32 * k)) as u32;
    format!(
        "ufid:{:08x}-{:04x}-{:04x}-{:04x}-{:04x}{:08x}",
        p(0),
        p(1) >> 16,
        p(1) & 0xffff,
        p(2) >> 16,
        p(2) & 0xffff,
        p(3)
    )
}

type Parsed = (KeyAttr, KeyAttr, usize);

/// Parses exactly one key attribute (with its mask) at the start of `s`;
/// returns the key, the mask and the length consumed.
pub fn parse_one_key_attr(s: &str, port_names: Option<&HashMap<String, u32>>) -> Result<Parsed> {
    ascii_only(s)?;
    KeyParser {
        port_names,
        depth: 0,
    }
    .attr(s)
}

struct KeyParser<'a> {
    port_names: Option<&'a HashMap<String, u32>>,
    depth: usize,
}

fn err() -> OdpError {
    OdpError::new("syntax error")
}

/// Runs the `field=value,...)` loop of a struct-like attribute. `on` gets
/// the index of the matched field prefix and the text after it, and
/// returns how much of that text it consumed. Returns the total consumed,
/// including the closing parenthesis.
fn scan_fields(
    s: &str,
    names: &[&str],
    mut on: impl FnMut(usize, &str) -> Result<usize>,
) -> Result<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let mut len = 0;
        if let Some((k, name)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| s[i..].starts_with(**n))
        {
            i += name.len();
            let n = on(k, &s[i..])?;
            if n == 0 {
                return Err(err());
            }
            i += n;
            len = n;
        }
        let c = b.get(i).copied();
        i += 1;
        if c == Some(b',') && len != 0 {
            continue;
        }
        if c != Some(b')') {
            return Err(err());
        }
        return Ok(i);
    }
}

fn sc_u8(s: &str, k: &mut u8, m: &mut u8) -> Result<usize> {
    let (v, mv, n) = scan_masked(s, 0xff).ok_or_else(err)?;
    *k = v as u8;
    *m = mv as u8;
    Ok(n)
}
fn sc_u16(s: &str, k: &mut u16, m: &mut u16) -> Result<usize> {
    let (v, mv, n) = scan_masked(s, 0xffff).ok_or_else(err)?;
    *k = v as u16;
    *m = mv as u16;
    Ok(n)
}
fn sc_u32(s: &str, k: &mut u32, m: &mut u32) -> Result<usize> {
    let (v, mv, n) = scan_masked(s, 0xffff_ffff).ok_or_else(err)?;
    *k = v as u32;
    *m = mv as u32;
    Ok(n)
}
fn sc_ipv4(s: &str, k: &mut Ipv4Addr, m: &mut Ipv4Addr) -> Result<usize> {
    let (v, mv, n) = scan_ipv4(s).ok_or_else(err)?;
    *k = v;
    *m = mv;
    Ok(n)
}
fn sc_in6(s: &str, k: &mut Ipv6Addr, m: &mut Ipv6Addr) -> Result<usize> {
    let (v, mv, n) = scan_in6(s).ok_or_else(err)?;
    *k = v;
    *m = mv;
    Ok(n)
}
fn sc_eth(s: &str, k: &mut [u8; 6], m: &mut [u8; 6]) -> Result<usize> {
    let (v, mv, n) = scan_mac(s).ok_or_else(err)?;
    *k = v;
    *m = mv;
    Ok(n)
}
fn sc_frag(s: &str, k: &mut u8, m: &mut u8) -> Result<usize> {
    let n = s
        .bytes()
        .take(7)
        .take_while(|c| c.is_ascii_lowercase())
        .count();
    *k = match s[..n].to_ascii_lowercase().as_str() {
        "no" => OVS_FRAG_TYPE_NONE,
        "first" => OVS_FRAG_TYPE_FIRST,
        "later" => OVS_FRAG_TYPE_LATER,
        _ => return Err(err()),
    };
    *m = 0xff;
    Ok(n)
}
fn sc_label(s: &str, k: &mut u32, m: &mut u32) -> Result<usize> {
    let (v, mut n) = scan_int(s).ok_or_else(err)?;
    let v = v as u32;
    if v & !0xfffff != 0 {
        return Err(err());
    }
    *k = v;
    *m = 0xfffff;
    if s[n..].starts_with('/') {
        if let Some((mv, l)) = scan_int(&s[n + 1..]) {
            if (mv as u32) & !0xfffff == 0 {
                *m = mv as u32;
                n += 1 + l;
            }
        }
    }
    Ok(n)
}
/// A bit field of `bits` bits at `offset` in a 16- or 32-bit word.
fn sc_bits(s: &str, k: &mut u32, m: &mut u32, bits: u32, offset: u32) -> Result<usize> {
    let field = ((1u32 << bits) - 1) << offset;
    let (v, mut n) = scan_int(s).ok_or_else(err)?;
    let v = v as u32;
    if v >> bits != 0 {
        return Err(err());
    }
    *k = (*k & !field) | (v << offset);
    if s[n..].starts_with('/') {
        if let Some((mv, l)) = scan_int(&s[n + 1..]) {
            let mv = mv as u32;
            if mv >> bits != 0 {
                return Err(err());
            }
            *m = (*m & !field) | (mv << offset);
            n += 1 + l;
            return Ok(n);
        }
    }
    *m |= field;
    Ok(n)
}

impl KeyParser<'_> {
    fn attr(&mut self, s: &str) -> Result<Parsed> {
        self.depth += 1;
        let r = if self.depth >= MAX_ODP_NESTED {
            Err(err())
        } else {
            self.attr_inner(s)
        };
        self.depth -= 1;
        r
    }

    fn single_u32(
        s: &str,
        name: &str,
        mk: fn(u32) -> KeyAttr,
        fully_masked: bool,
    ) -> Option<Result<Parsed>> {
        let rest = s.strip_prefix(name)?;
        Some((|| {
            let (v, m, n) = if fully_masked {
                let (v, n) = scan_int(rest).ok_or_else(err)?;
                (v as u32, u32::MAX, n)
            } else {
                let (v, m, n) = scan_masked(rest, 0xffff_ffff).ok_or_else(err)?;
                (v as u32, m as u32, n)
            };
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            Ok((mk(v), mk(m), name.len() + n + 1))
        })())
    }

    fn attr_inner(&mut self, s: &str) -> Result<Parsed> {
        use KeyAttr::*;
        for (name, mk, full) in [
            ("skb_priority(", Priority as fn(u32) -> KeyAttr, false),
            ("skb_mark(", SkbMark, false),
            ("recirc_id(", RecircId, true),
            ("dp_hash(", DpHash, false),
            ("ct_mark(", CtMark, false),
        ] {
            if let Some(r) = Self::single_u32(s, name, mk, full) {
                return r;
            }
        }
        if let Some(rest) = s.strip_prefix("ct_state(") {
            let (v, m, n) = parse_flags(rest, ct_state_name, b')', 0xff, true).ok_or_else(err)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((CtState(v), CtState(m), 9 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("ct_zone(") {
            let (mut k, mut m) = (0u16, 0u16);
            let n = sc_u16(rest, &mut k, &mut m)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((CtZone(k), CtZone(m), 8 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("ct_label(") {
            let mut kb = [0u8; 16];
            let mut n = parse_int_string(rest, &mut kb).ok_or_else(err)?;
            let mut mb = [0xffu8; 16];
            if rest[n..].starts_with('/') {
                n += 1 + parse_int_string(&rest[n + 1..], &mut mb).ok_or_else(err)?;
            }
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((
                CtLabels(u128::from_be_bytes(kb)),
                CtLabels(u128::from_be_bytes(mb)),
                9 + n + 1,
            ));
        }
        if let Some(rest) = s.strip_prefix("ct_tuple4(") {
            let z = CtTupleIpv4Key {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::UNSPECIFIED,
                src_port: 0,
                dst_port: 0,
                proto: 0,
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &["src=", "dst=", "proto=", "tp_src=", "tp_dst="],
                |f, r| match f {
                    0 => sc_ipv4(r, &mut k.src, &mut m.src),
                    1 => sc_ipv4(r, &mut k.dst, &mut m.dst),
                    2 => sc_u8(r, &mut k.proto, &mut m.proto),
                    3 => sc_u16(r, &mut k.src_port, &mut m.src_port),
                    _ => sc_u16(r, &mut k.dst_port, &mut m.dst_port),
                },
            )?;
            return Ok((CtOrigTupleIpv4(k), CtOrigTupleIpv4(m), 10 + n));
        }
        if let Some(rest) = s.strip_prefix("ct_tuple6(") {
            let z = CtTupleIpv6Key {
                src: Ipv6Addr::UNSPECIFIED,
                dst: Ipv6Addr::UNSPECIFIED,
                src_port: 0,
                dst_port: 0,
                proto: 0,
            };
            let (mut k, mut m) = (z, z);
            // Stock prints src_port/dst_port here but parses tp_src/tp_dst;
            // take both.
            let n = scan_fields(
                rest,
                &[
                    "src=",
                    "dst=",
                    "proto=",
                    "tp_src=",
                    "tp_dst=",
                    "src_port=",
                    "dst_port=",
                ],
                |f, r| match f {
                    0 => sc_in6(r, &mut k.src, &mut m.src),
                    1 => sc_in6(r, &mut k.dst, &mut m.dst),
                    2 => sc_u8(r, &mut k.proto, &mut m.proto),
                    3 | 5 => sc_u16(r, &mut k.src_port, &mut m.src_port),
                    _ => sc_u16(r, &mut k.dst_port, &mut m.dst_port),
                },
            )?;
            return Ok((CtOrigTupleIpv6(k), CtOrigTupleIpv6(m), 10 + n));
        }
        if let Some(rest) = s.strip_prefix("tunnel(") {
            let (k, m, n) = super::tunnel_text::parse_tunnel(rest)?;
            return Ok((Tunnel(k), Tunnel(m), 7 + n));
        }
        if let Some(rest) = s.strip_prefix("in_port(") {
            let (k, m, n) = match scan_masked(rest, 0xffff_ffff) {
                Some((v, m, n)) => (v as u32, m as u32, n),
                None => {
                    let len = rest.find(')').unwrap_or(rest.len());
                    match self.port_names.and_then(|p| p.get(&rest[..len])) {
                        Some(&port) if len > 0 => (port, u32::MAX, len),
                        _ => return Err(err()),
                    }
                }
            };
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((InPort(k), InPort(m), 8 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("eth(") {
            let (mut k, mut m) = (EthKey::default(), EthKey::default());
            let n = scan_fields(rest, &["src=", "dst="], |f, r| match f {
                0 => sc_eth(r, &mut k.src, &mut m.src),
                _ => sc_eth(r, &mut k.dst, &mut m.dst),
            })?;
            return Ok((Ethernet(k), Ethernet(m), 4 + n));
        }
        if let Some(rest) = s.strip_prefix("vlan(") {
            let (mut k, mut m) = (0x1000u32, 0x1000u32);
            let n = scan_fields(rest, &["vid=", "pcp=", "cfi="], |f, r| match f {
                0 => sc_bits(r, &mut k, &mut m, 12, 0),
                1 => sc_bits(r, &mut k, &mut m, 3, 13),
                _ => sc_bits(r, &mut k, &mut m, 1, 12),
            })?;
            return Ok((Vlan(k as u16), Vlan(m as u16), 5 + n));
        }
        if let Some(rest) = s.strip_prefix("eth_type(") {
            let (mut k, mut m) = (0u16, 0u16);
            let n = sc_u16(rest, &mut k, &mut m)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((Ethertype(k), Ethertype(m), 9 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("mpls(") {
            return parse_mpls(rest).map(|(k, m, n)| (Mpls(k), Mpls(m), 5 + n));
        }
        if let Some(rest) = s.strip_prefix("ipv4(") {
            let z = Ipv4Key {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::UNSPECIFIED,
                proto: 0,
                tos: 0,
                ttl: 0,
                frag: 0,
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &["src=", "dst=", "proto=", "tos=", "ttl=", "frag="],
                |f, r| match f {
                    0 => sc_ipv4(r, &mut k.src, &mut m.src),
                    1 => sc_ipv4(r, &mut k.dst, &mut m.dst),
                    2 => sc_u8(r, &mut k.proto, &mut m.proto),
                    3 => sc_u8(r, &mut k.tos, &mut m.tos),
                    4 => sc_u8(r, &mut k.ttl, &mut m.ttl),
                    _ => sc_frag(r, &mut k.frag, &mut m.frag),
                },
            )?;
            return Ok((Ipv4(k), Ipv4(m), 5 + n));
        }
        if let Some(rest) = s.strip_prefix("ipv6(") {
            let z = Ipv6Key {
                src: Ipv6Addr::UNSPECIFIED,
                dst: Ipv6Addr::UNSPECIFIED,
                label: 0,
                proto: 0,
                tclass: 0,
                hlimit: 0,
                frag: 0,
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &[
                    "src=", "dst=", "label=", "proto=", "tclass=", "hlimit=", "frag=",
                ],
                |f, r| match f {
                    0 => sc_in6(r, &mut k.src, &mut m.src),
                    1 => sc_in6(r, &mut k.dst, &mut m.dst),
                    2 => sc_label(r, &mut k.label, &mut m.label),
                    3 => sc_u8(r, &mut k.proto, &mut m.proto),
                    4 => sc_u8(r, &mut k.tclass, &mut m.tclass),
                    5 => sc_u8(r, &mut k.hlimit, &mut m.hlimit),
                    _ => sc_frag(r, &mut k.frag, &mut m.frag),
                },
            )?;
            return Ok((Ipv6(k), Ipv6(m), 5 + n));
        }
        for (name, mk) in [
            ("tcp(", Tcp as fn(PortsKey) -> KeyAttr),
            ("udp(", Udp),
            ("sctp(", Sctp),
        ] {
            if let Some(rest) = s.strip_prefix(name) {
                let (mut k, mut m) = (PortsKey::default(), PortsKey::default());
                let n = scan_fields(rest, &["src=", "dst="], |f, r| match f {
                    0 => sc_u16(r, &mut k.src, &mut m.src),
                    _ => sc_u16(r, &mut k.dst, &mut m.dst),
                })?;
                return Ok((mk(k), mk(m), name.len() + n));
            }
        }
        if let Some(rest) = s.strip_prefix("tcp_flags(") {
            let (v, m, n) = parse_flags(rest, tcp_flag_name, b')', 0x0fff, true).ok_or_else(err)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((TcpFlags(v as u16), TcpFlags(m as u16), 10 + n + 1));
        }
        for (name, mk) in [
            ("icmp(", Icmp as fn(IcmpKey) -> KeyAttr),
            ("icmpv6(", Icmpv6),
        ] {
            if let Some(rest) = s.strip_prefix(name) {
                let (mut k, mut m) = (IcmpKey::default(), IcmpKey::default());
                let n = scan_fields(rest, &["type=", "code="], |f, r| match f {
                    0 => sc_u8(r, &mut k.icmp_type, &mut m.icmp_type),
                    _ => sc_u8(r, &mut k.code, &mut m.code),
                })?;
                return Ok((mk(k), mk(m), name.len() + n));
            }
        }
        if let Some(rest) = s.strip_prefix("arp(") {
            let z = ArpKey {
                sip: Ipv4Addr::UNSPECIFIED,
                tip: Ipv4Addr::UNSPECIFIED,
                op: 0,
                sha: [0; 6],
                tha: [0; 6],
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &["sip=", "tip=", "op=", "sha=", "tha="],
                |f, r| match f {
                    0 => sc_ipv4(r, &mut k.sip, &mut m.sip),
                    1 => sc_ipv4(r, &mut k.tip, &mut m.tip),
                    2 => sc_u16(r, &mut k.op, &mut m.op),
                    3 => sc_eth(r, &mut k.sha, &mut m.sha),
                    _ => sc_eth(r, &mut k.tha, &mut m.tha),
                },
            )?;
            return Ok((Arp(k), Arp(m), 4 + n));
        }
        if let Some(rest) = s.strip_prefix("nd(") {
            let z = NdKey {
                target: Ipv6Addr::UNSPECIFIED,
                sll: [0; 6],
                tll: [0; 6],
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(rest, &["target=", "sll=", "tll="], |f, r| match f {
                0 => sc_in6(r, &mut k.target, &mut m.target),
                1 => sc_eth(r, &mut k.sll, &mut m.sll),
                _ => sc_eth(r, &mut k.tll, &mut m.tll),
            })?;
            return Ok((Nd(k), Nd(m), 3 + n));
        }
        if let Some(rest) = s.strip_prefix("nd_ext(") {
            let (mut k, mut m) = (NdExtKey::default(), NdExtKey::default());
            let n = scan_fields(
                rest,
                &["nd_reserved=", "nd_options_type="],
                |f, r| match f {
                    0 => sc_u32(r, &mut k.reserved, &mut m.reserved),
                    _ => sc_u8(r, &mut k.options_type, &mut m.options_type),
                },
            )?;
            return Ok((NdExtensions(k), NdExtensions(m), 7 + n));
        }
        if let Some(rest) = s.strip_prefix("packet_type(") {
            let (mut kn, mut mn, mut ki, mut mi) = (0u16, 0u16, 0u16, 0u16);
            let n = scan_fields(rest, &["ns=", "id="], |f, r| match f {
                0 => sc_u16(r, &mut kn, &mut mn),
                _ => sc_u16(r, &mut ki, &mut mi),
            })?;
            let pack = |a: u16, b: u16| u32::from(a) << 16 | u32::from(b);
            return Ok((PacketType(pack(kn, ki)), PacketType(pack(mn, mi)), 12 + n));
        }
        if let Some(rest) = s.strip_prefix("nsh(") {
            return parse_nsh(rest).map(|(k, m, n)| (Nsh(k), Nsh(m), 4 + n));
        }
        if let Some(rest) = s.strip_prefix("encap(") {
            let (mut k, mut m) = (Vec::new(), Vec::new());
            let mut i = 0;
            loop {
                i = skip_delims(rest, i);
                match rest.as_bytes().get(i) {
                    None => return Err(err()),
                    Some(b')') => break,
                    _ => {}
                }
                let (a, ma, n) = self.attr(&rest[i..])?;
                k.push(a);
                m.push(ma);
                i += n;
            }
            return Ok((Encap(k), Encap(m), 6 + i + 1));
        }
        // `key<N>(hex)`: an attribute unknown to this code, as printed.
        if let Some(rest) = s.strip_prefix("key") {
            let (ty, n) = scan_dec(rest).ok_or_else(err)?;
            let ty = u16::try_from(ty).map_err(|_| err())?;
            let r = rest[n..].strip_prefix('(').ok_or_else(err)?;
            let (data, dn) = scan_spaced_hex(r).ok_or_else(err)?;
            let mut used = dn;
            let mut mdata = vec![0xff; data.len()];
            if r[dn..].starts_with('/') {
                let (md, mn) = scan_spaced_hex(&r[dn + 1..]).ok_or_else(err)?;
                mdata = md;
                used += 1 + mn;
            }
            if r.as_bytes().get(used) != Some(&b')') {
                return Err(err());
            }
            let k = KeyAttr::decode(ty, &data, 0)?;
            let m = KeyAttr::decode(ty, &mdata, 0)?;
            if !matches!(k, Unknown { .. }) {
                return Err(err());
            }
            return Ok((k, m, 3 + n + 1 + used + 1));
        }
        Err(err())
    }
}

fn parse_mpls(s: &str) -> Result<(Vec<u32>, Vec<u32>, usize)> {
    const CNT: usize = 3;
    let names = ["label=", "tc=", "ttl=", "bos="];
    let spec: [(u32, u32); 4] = [(20, 12), (3, 9), (8, 0), (1, 8)];
    let mut k = [0u32; CNT];
    let mut m = [0u32; CNT];
    let mut idx = 0;
    let mut fields = 0u32;
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let mut len = 0;
        if let Some((f, name)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| s[i..].starts_with(**n))
        {
            if fields & (1 << f) != 0 {
                fields = 0;
                idx += 1;
                if idx == CNT {
                    // Too many entries: the closing check below fails.
                    return Err(err());
                }
            }
            i += name.len();
            let (bits, ofs) = spec[f];
            let n = sc_bits(&s[i..], &mut k[idx], &mut m[idx], bits, ofs)?;
            i += n;
            len = n;
            fields |= 1 << f;
        }
        let c = b.get(i).copied();
        i += 1;
        if c == Some(b',') && len != 0 {
            continue;
        }
        if c != Some(b')') {
            return Err(err());
        }
        break;
    }
    Ok((k[..=idx].to_vec(), m[..=idx].to_vec(), i))
}

fn parse_nsh(s: &str) -> Result<(Vec<NshAttr>, Vec<NshAttr>, usize)> {
    let (mut kf, mut mf) = ([0u8; 4], [0u8; 4]); // flags, ttl, mdtype, np
    let (mut spi, mut spi_m) = (0u32, 0u32);
    let (mut si, mut si_m) = (0u8, 0u8);
    let (mut kc, mut mc) = ([0u32; 4], [0u32; 4]);
    let names = [
        "flags=", "ttl=", "mdtype=", "np=", "spi=", "si=", "c1=", "c2=", "c3=", "c4=",
    ];
    let n = scan_fields(s, &names, |f, r| {
        let [kfl, kttl, kmd, knp] = &mut kf;
        let [mfl, mttl, mmd, mnp] = &mut mf;
        match f {
            0 => sc_u8(r, kfl, mfl),
            1 => sc_u8(r, kttl, mttl),
            2 => sc_u8(r, kmd, mmd),
            3 => sc_u8(r, knp, mnp),
            4 => sc_u32(r, &mut spi, &mut spi_m),
            5 => sc_u8(r, &mut si, &mut si_m),
            c => sc_u32(r, &mut kc[c - 6], &mut mc[c - 6]),
        }
    })?;
    let base = |f: [u8; 4], spi: u32, si: u8| NshAttr::Base {
        flags: f[0],
        ttl: f[1],
        mdtype: f[2],
        np: f[3],
        path_hdr: (spi << 8) | u32::from(si),
    };
    let mut key = vec![base(kf, spi, si)];
    if kf[2] == 1 {
        key.push(NshAttr::Md1(kc));
    }
    let mask = vec![base(mf, spi_m, si_m), NshAttr::Md1(mc)];
    Ok((key, mask, n))
}
