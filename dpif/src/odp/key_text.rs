//! The text form of flow keys and masks, as `ovs-dpctl dump-flows` prints
//! them and `ovs-dpctl add-flow` parses them.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::consts::*;
use super::key::*;
use super::scan::*;
use super::tunnel_text::format_tunnel;

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

pub(crate) fn is_all(bytes: &[u8], c: u8) -> bool {
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

pub(crate) fn f_u8u(out: &mut String, v: bool, name: &str, k: u8, m: Option<u8>) {
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
pub(crate) fn f_u8x(out: &mut String, v: bool, name: &str, k: u8, m: Option<u8>) {
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
pub(crate) fn f_be16(out: &mut String, v: bool, name: &str, k: u16, m: Option<u16>) {
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
pub(crate) fn f_be16x(out: &mut String, v: bool, name: &str, k: u16, m: Option<u16>) {
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
pub(crate) fn f_be64(out: &mut String, v: bool, name: &str, k: u64, m: Option<u64>) {
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
pub(crate) fn f_ipv4(out: &mut String, v: bool, name: &str, k: Ipv4Addr, m: Option<Ipv4Addr>) {
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
pub(crate) fn f_in6(out: &mut String, v: bool, name: &str, k: Ipv6Addr, m: Option<Ipv6Addr>) {
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
pub(crate) fn f_eth(out: &mut String, v: bool, name: &str, k: [u8; 6], m: Option<[u8; 6]>) {
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
pub(crate) fn f_label(out: &mut String, v: bool, name: &str, k: u32, m: Option<u32>) {
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
