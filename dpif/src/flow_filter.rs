//! `dump-flows [DP] filter=FLOW`: which datapath flows a dump shows, for
//! `ovs-dpctl` (ferrovs-dpctl) and the daemon's `dpctl/dump-flows` alike.
//!
//! The filter is an exact OpenFlow-style flow (`in_port=1,tcp,tp_dst=80`,
//! `field(value)` works too), read and worded as stock Open vSwitch reads
//! it (`parse_ofp_exact_flow`): protocol shorthands, prerequisites checked
//! in the order given, one value per field, no wildcards. A datapath flow
//! passes when, on every field the filter names, the filter's value under
//! the flow's mask equals the flow's key; a field the flow wildcards thus
//! never excludes it.
//!
//! Fields share storage as in Open vSwitch's `struct flow`: `nw_src` and
//! `arp_spa` are one field, `tcp_src`, `udp_src`, `sctp_src` and
//! `icmp_type` another, and a key attribute the flow lacks reads as stock
//! reads it (`in_port` absent is port 0xffffffff, an Ethernet frame
//! without `eth_type` is type 0x05ff), so the same flows pass.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::odp::{Key, KeyAttr};

/// Where a field's value lives (several OpenFlow fields share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    InPort,
    SkbPriority,
    PktMark,
    RecircId,
    DpHash,
    EthSrc,
    EthDst,
    EthType,
    VlanTci,
    NwSrc,
    NwDst,
    Ipv6Src,
    Ipv6Dst,
    Ipv6Label,
    NwProto,
    NwTtl,
    ArpSha,
    ArpTha,
    TpSrc,
    TpDst,
}

/// What must hold of the flow parsed so far before a field may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prereq {
    None,
    Ipv4,
    Ipv6,
    IpAny,
    Arp,
    Tcp,
    Udp,
    Sctp,
    Icmpv4,
    Icmpv6,
}

/// How a field's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Port,
    /// An integer of this many bytes.
    Int(u8),
    Mac,
    Ipv4,
    Ipv6,
}

/// (name, other name, slot, prerequisite, syntax): the fields a filter
/// may name, with Open vSwitch's names.
const FIELDS: &[(&str, Option<&str>, Slot, Prereq, Syntax)] = &[
    ("in_port", None, Slot::InPort, Prereq::None, Syntax::Port),
    (
        "skb_priority",
        None,
        Slot::SkbPriority,
        Prereq::None,
        Syntax::Int(4),
    ),
    (
        "pkt_mark",
        None,
        Slot::PktMark,
        Prereq::None,
        Syntax::Int(4),
    ),
    (
        "recirc_id",
        None,
        Slot::RecircId,
        Prereq::None,
        Syntax::Int(4),
    ),
    ("dp_hash", None, Slot::DpHash, Prereq::None, Syntax::Int(4)),
    (
        "eth_src",
        Some("dl_src"),
        Slot::EthSrc,
        Prereq::None,
        Syntax::Mac,
    ),
    (
        "eth_dst",
        Some("dl_dst"),
        Slot::EthDst,
        Prereq::None,
        Syntax::Mac,
    ),
    (
        "eth_type",
        Some("dl_type"),
        Slot::EthType,
        Prereq::None,
        Syntax::Int(2),
    ),
    (
        "vlan_tci",
        None,
        Slot::VlanTci,
        Prereq::None,
        Syntax::Int(2),
    ),
    (
        "ip_src",
        Some("nw_src"),
        Slot::NwSrc,
        Prereq::Ipv4,
        Syntax::Ipv4,
    ),
    (
        "ip_dst",
        Some("nw_dst"),
        Slot::NwDst,
        Prereq::Ipv4,
        Syntax::Ipv4,
    ),
    ("ipv6_src", None, Slot::Ipv6Src, Prereq::Ipv6, Syntax::Ipv6),
    ("ipv6_dst", None, Slot::Ipv6Dst, Prereq::Ipv6, Syntax::Ipv6),
    (
        "ipv6_label",
        None,
        Slot::Ipv6Label,
        Prereq::Ipv6,
        Syntax::Int(4),
    ),
    (
        "nw_proto",
        Some("ip_proto"),
        Slot::NwProto,
        Prereq::IpAny,
        Syntax::Int(1),
    ),
    ("nw_ttl", None, Slot::NwTtl, Prereq::IpAny, Syntax::Int(1)),
    ("arp_op", None, Slot::NwProto, Prereq::Arp, Syntax::Int(2)),
    ("arp_spa", None, Slot::NwSrc, Prereq::Arp, Syntax::Ipv4),
    ("arp_tpa", None, Slot::NwDst, Prereq::Arp, Syntax::Ipv4),
    ("arp_sha", None, Slot::ArpSha, Prereq::Arp, Syntax::Mac),
    ("arp_tha", None, Slot::ArpTha, Prereq::Arp, Syntax::Mac),
    (
        "tcp_src",
        Some("tp_src"),
        Slot::TpSrc,
        Prereq::Tcp,
        Syntax::Int(2),
    ),
    (
        "tcp_dst",
        Some("tp_dst"),
        Slot::TpDst,
        Prereq::Tcp,
        Syntax::Int(2),
    ),
    ("udp_src", None, Slot::TpSrc, Prereq::Udp, Syntax::Int(2)),
    ("udp_dst", None, Slot::TpDst, Prereq::Udp, Syntax::Int(2)),
    ("sctp_src", None, Slot::TpSrc, Prereq::Sctp, Syntax::Int(2)),
    ("sctp_dst", None, Slot::TpDst, Prereq::Sctp, Syntax::Int(2)),
    (
        "icmp_type",
        None,
        Slot::TpSrc,
        Prereq::Icmpv4,
        Syntax::Int(1),
    ),
    (
        "icmp_code",
        None,
        Slot::TpDst,
        Prereq::Icmpv4,
        Syntax::Int(1),
    ),
    (
        "icmpv6_type",
        None,
        Slot::TpSrc,
        Prereq::Icmpv6,
        Syntax::Int(1),
    ),
    (
        "icmpv6_code",
        None,
        Slot::TpDst,
        Prereq::Icmpv6,
        Syntax::Int(1),
    ),
];

/// Other field names Open vSwitch knows: a filter on them is refused with
/// a message saying so, rather than "unknown field".
const OTHER_OVS_FIELDS: &[&str] = &[
    "tun_id",
    "tunnel_id",
    "tun_src",
    "tun_dst",
    "tun_ipv6_src",
    "tun_ipv6_dst",
    "tun_flags",
    "tun_gbp_id",
    "tun_gbp_flags",
    "metadata",
    "in_port_oxm",
    "actset_output",
    "ct_state",
    "ct_zone",
    "ct_mark",
    "ct_label",
    "ct_nw_src",
    "ct_nw_dst",
    "ct_ipv6_src",
    "ct_ipv6_dst",
    "ct_nw_proto",
    "ct_tp_src",
    "ct_tp_dst",
    "conj_id",
    "packet_type",
    "dl_vlan",
    "vlan_vid",
    "dl_vlan_pcp",
    "vlan_pcp",
    "mpls_label",
    "mpls_tc",
    "mpls_bos",
    "mpls_ttl",
    "nw_tos",
    "ip_dscp",
    "nw_ecn",
    "ip_ecn",
    "ip_frag",
    "nw_frag",
    "tcp_flags",
    "nd_target",
    "nd_sll",
    "nd_tll",
    "nd_reserved",
    "nd_options_type",
    "xreg0",
    "xxreg0",
    "reg0",
    "reg1",
    "reg2",
    "reg3",
    "reg4",
    "reg5",
    "reg6",
    "reg7",
    "reg8",
    "reg9",
    "reg10",
    "reg11",
    "reg12",
    "reg13",
    "reg14",
    "reg15",
];

const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_IPV6: u128 = 0x86dd;
const ETH_TYPE_ARP: u128 = 0x0806;
const ETH_TYPE_RARP: u128 = 0x8035;
const ETH_TYPE_VLAN: u16 = 0x8100;
/// The type `struct flow` gives an 802.2 frame (no Ethernet II type).
const FLOW_DL_TYPE_NONE: u128 = 0x05ff;

/// The protocol shorthands: (name, Ethernet type, IP protocol or 0).
const PROTOCOLS: &[(&str, u128, u128)] = &[
    ("ip", ETH_TYPE_IP, 0),
    ("ipv4", ETH_TYPE_IP, 0),
    ("ip4", ETH_TYPE_IP, 0),
    ("arp", ETH_TYPE_ARP, 0),
    ("icmp", ETH_TYPE_IP, 1),
    ("tcp", ETH_TYPE_IP, 6),
    ("udp", ETH_TYPE_IP, 17),
    ("sctp", ETH_TYPE_IP, 132),
    ("ipv6", ETH_TYPE_IPV6, 0),
    ("ip6", ETH_TYPE_IPV6, 0),
    ("icmp6", ETH_TYPE_IPV6, 58),
    ("tcp6", ETH_TYPE_IPV6, 6),
    ("udp6", ETH_TYPE_IPV6, 17),
    ("sctp6", ETH_TYPE_IPV6, 132),
    ("rarp", ETH_TYPE_RARP, 0),
    ("mpls", 0x8847, 0),
    ("mplsm", 0x8848, 0),
];

/// A parsed filter: the value of each slot it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFilter {
    set: Vec<(Slot, u128)>,
    /// Warnings logged so far, per kind (for their rate limit).
    warned: [Cell<u32>; 2],
}

/// Splits `s` into key/value pairs as Open vSwitch's
/// `ofputil_parse_key_value` does: `key=value`, `key:value`, `key(value)`
/// (nested parentheses kept) or a bare `key`, separated by commas and
/// blanks.
fn key_values(s: &str) -> Vec<(&str, &str)> {
    const BLANKS: &[char] = &[',', ' ', '\t', '\r', '\n'];
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(BLANKS);
        if rest.is_empty() {
            return out;
        }
        let key_len = rest
            .find([':', '=', '(', ',', ' ', '\t', '\r', '\n'])
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        let delim = rest[key_len..].chars().next();
        rest = rest
            .get(key_len + delim.map_or(0, char::len_utf8)..)
            .unwrap_or("");
        let closing: &[char] = match delim {
            Some(':' | '=') => BLANKS,
            Some('(') => &[')'],
            _ => {
                out.push((key, ""));
                continue;
            }
        };
        let value_len = value_len(rest, closing);
        let value = &rest[..value_len];
        let after = &rest[value_len..];
        rest = after
            .get(after.chars().next().map_or(0, char::len_utf8)..)
            .unwrap_or("");
        out.push((key, value));
    }
}

/// Length of a value up to one of `delims`, skipping over balanced
/// parentheses.
fn value_len(s: &str, delims: &[char]) -> usize {
    let bytes = s.as_bytes();
    let mut n = 0;
    while let Some(&b) = bytes.get(n) {
        if delims.contains(&char::from(b)) {
            break;
        }
        if b == b'(' {
            let mut level = 0;
            loop {
                match bytes.get(n) {
                    None => return n,
                    Some(b'(') => level += 1,
                    Some(b')') => level -= 1,
                    Some(_) => {}
                }
                n += 1;
                if level <= 0 {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// An unsigned integer as C's `strtoull(s, &tail, 0)` reads it: leading
/// blanks and sign, `0x` hex, `0` octal, else decimal. Returns the value
/// (None on overflow) and the unparsed rest; None if no digits at all.
fn strtoull(s: &str) -> Option<(Option<u128>, &str)> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.starts_with(|c: char| c.is_ascii_hexdigit()) {
            (16, h)
        } else {
            (8, t)
        }
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let len = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if len == 0 {
        return None;
    }
    let v = u64::from_str_radix(&digits[..len], radix).ok().map(|v| {
        if neg {
            u128::from(v.wrapping_neg())
        } else {
            u128::from(v)
        }
    });
    Some((v, &digits[len..]))
}

/// One integer of `width` bytes as `parse_int_string` reads it; Err is
/// true for "too large", false for bad syntax. Returns the rest too.
fn parse_int(s: &str, width: u8) -> Result<(u128, &str), bool> {
    let max = if width >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * u32::from(width))) - 1
    };
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        let mut value: u128 = 0;
        let mut digits = 0usize;
        let mut rest = hex;
        loop {
            rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            let Some(d) = rest.chars().next().and_then(|c| c.to_digit(16)) else {
                break;
            };
            if d != 0 || digits > 0 {
                digits += 1;
                if digits.div_ceil(2) > usize::from(width) {
                    return Err(true);
                }
                value = (value << 4) | u128::from(d);
            }
            rest = &rest[1..];
        }
        return Ok((value, rest));
    }
    match strtoull(s) {
        None => Err(false),
        Some((None, _)) => Err(true),
        Some((Some(v), rest)) if v <= max => Ok((v, rest)),
        Some(_) => Err(true),
    }
}

/// A MAC address `xx:xx:xx:xx:xx:xx` (hex bytes of one or two digits).
fn parse_mac(s: &str) -> Option<u128> {
    let mut v: u128 = 0;
    let mut n = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        v = (v << 8) | u128::from(u8::from_str_radix(part, 16).ok()?);
        n += 1;
    }
    (n == 6).then_some(v)
}

fn all_ones(width_bits: u32) -> u128 {
    if width_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << width_bits) - 1
    }
}

/// An address with an optional `/mask` or `/prefix`, which must then be
/// all ones: Ok(value) or the message stock gives.
fn parse_masked_addr(
    s: &str,
    bits: u32,
    parse: impl Fn(&str) -> Option<u128>,
    kind: &str,
) -> Result<u128, String> {
    let invalid = || format!("{s}: invalid {kind} address");
    let (addr, mask) = match s.split_once('/') {
        None => (parse(s).ok_or_else(invalid)?, all_ones(bits)),
        Some((a, m)) => {
            let addr = parse(a).ok_or_else(invalid)?;
            let mask = match parse(m) {
                Some(m) => m,
                None => {
                    let prefix: i64 = m.parse().map_err(|_| invalid())?;
                    if prefix < 0 || prefix > i64::from(bits) {
                        return Err(if bits == 32 {
                            format!("{s}: IPv4 network prefix bits not between 0 and 32, inclusive")
                        } else {
                            format!(
                                "{s}: IPv6 network prefix bits not between 0 and 128, inclusive"
                            )
                        });
                    }
                    let p = u32::try_from(prefix).unwrap_or(0);
                    if p == 0 {
                        0
                    } else {
                        all_ones(bits) & !(all_ones(bits - p))
                    }
                }
            };
            (addr, mask)
        }
    };
    if mask != all_ones(bits) {
        return Err(format!("{s}: wildcards not allowed here"));
    }
    Ok(addr)
}

/// A port as `ofputil_port_from_string` reads it: a decimal number, a
/// reserved port name, or the name of one of the datapath's ports.
/// Numbers from 0xfff7 name reserved ports.
const RESERVED_PORTS: &[(&str, u128)] = &[
    ("UNSET", 0xfff7),
    ("IN_PORT", 0xfff8),
    ("TABLE", 0xfff9),
    ("NORMAL", 0xfffa),
    ("FLOOD", 0xfffb),
    ("ALL", 0xfffc),
    ("CONTROLLER", 0xfffd),
    ("LOCAL", 0xfffe),
    ("ANY", 0xffff),
];

/// A port as `ofputil_port_from_string` reads it (and warns about it).
fn parse_port(s: &str, ports: &HashMap<String, u32>) -> Option<u128> {
    if s.starts_with('-') {
        log::warn!(target: "ofp_port", "Negative value {s} is not a valid port number.");
        return None;
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let Ok(n) = s.parse::<u32>() else {
            return lookup_port(s, ports);
        };
        return match n {
            0..=0xfeff => Some(u128::from(n)),
            0xff00..=0xfff6 => {
                log::warn!(
                    target: "ofp_port",
                    "port {n} is a reserved OF1.0 port number that will be translated to {} \
                     when talking to an OF1.1 or later controller",
                    u64::from(n) + 0xffff_0000
                );
                Some(u128::from(n))
            }
            0xfff7..=0xffff => {
                let name = RESERVED_PORTS
                    .iter()
                    .find(|(_, v)| *v == u128::from(n))
                    .map_or("", |(name, _)| name);
                log::warn!(
                    target: "ofp_port",
                    "referring to port {name} as {n} is deprecated for compatibility with \
                     OpenFlow 1.1 and later"
                );
                Some(u128::from(n))
            }
            0x1_0000..=0xffff_feff => {
                log::warn!(
                    target: "ofp_port",
                    "port {n} is outside the supported range 0 through ffff or 0xffffff00 \
                     through 0xffffffff"
                );
                None
            }
            _ => Some(u128::from(n - 0xffff_0000)),
        };
    }
    lookup_port(s, ports)
}

/// A port name: reserved (any case) or one of the datapath's.
fn lookup_port(s: &str, ports: &HashMap<String, u32>) -> Option<u128> {
    const NAMED: &[(&str, u128)] = &[
        ("UNSET", 0xfff7),
        ("IN_PORT", 0xfff8),
        ("TABLE", 0xfff9),
        ("NORMAL", 0xfffa),
        ("FLOOD", 0xfffb),
        ("ALL", 0xfffc),
        ("CONTROLLER", 0xfffd),
        ("LOCAL", 0xfffe),
        ("ANY", 0xffff),
        ("NONE", 0xffff),
    ];
    if let Some((_, v)) = NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(*v);
    }
    ports
        .get(s)
        .and_then(|p| u16::try_from(*p).ok())
        .map(u128::from)
}

/// Whether Open vSwitch lets a mask other than all-zeros or all-ones go
/// with this integer field (its `MFM_FULLY` fields).
fn maskable(name: &str) -> bool {
    matches!(
        name,
        "dp_hash"
            | "pkt_mark"
            | "vlan_tci"
            | "ipv6_label"
            | "tcp_src"
            | "tcp_dst"
            | "udp_src"
            | "udp_dst"
            | "sctp_src"
            | "sctp_dst"
    )
}

/// The value of one field: Ok or the inner message of a bad value.
fn parse_value(
    name: &str,
    syntax: Syntax,
    s: &str,
    ports: &HashMap<String, u32>,
) -> Result<u128, String> {
    if s == "*" {
        return Err(format!("{s}: wildcards not allowed here"));
    }
    match syntax {
        Syntax::Port => {
            parse_port(s, ports).ok_or_else(|| format!("{s}: invalid or unknown port for {name}"))
        }
        Syntax::Int(width) => {
            let syntax_error = |what: &str, too_large: bool| {
                if too_large {
                    format!("{s}: {what} too large for {width}-byte field {name}")
                } else {
                    format!("{s}: bad syntax for {name} {what}")
                }
            };
            let (value, rest) = parse_int(s, width).map_err(|big| syntax_error("value", big))?;
            let mask = match rest {
                "" => all_ones(8 * u32::from(width)),
                r if r.starts_with('/') => match parse_int(&r[1..], width) {
                    Ok((m, "")) => m,
                    Ok(_) => return Err(syntax_error("mask", false)),
                    Err(big) => return Err(syntax_error("mask", big)),
                },
                _ => return Err(syntax_error("value", false)),
            };
            let ones = all_ones(8 * u32::from(width));
            if mask != ones && mask != 0 && !maskable(name) {
                return Err(format!("{s}: invalid mask for field {name}"));
            }
            if mask != ones {
                return Err(format!("{s}: wildcards not allowed here"));
            }
            Ok(value)
        }
        Syntax::Mac => {
            let (addr, mask) = match s.split_once('/') {
                None => (parse_mac(s), Some(all_ones(48))),
                Some((a, m)) => (parse_mac(a), parse_mac(m)),
            };
            match (addr, mask) {
                (Some(a), Some(m)) if m == all_ones(48) => Ok(a),
                (Some(_), Some(_)) => Err(format!("{s}: wildcards not allowed here")),
                _ => Err(format!("{s}: invalid Ethernet address")),
            }
        }
        Syntax::Ipv4 => parse_masked_addr(
            s,
            32,
            |a| a.parse::<Ipv4Addr>().ok().map(|a| u128::from(u32::from(a))),
            "IP",
        ),
        Syntax::Ipv6 => parse_masked_addr(
            s,
            128,
            |a| a.parse::<Ipv6Addr>().ok().map(u128::from),
            "IPv6",
        ),
    }
}

impl FlowFilter {
    fn get(&self, slot: Slot) -> u128 {
        self.set
            .iter()
            .find(|(s, _)| *s == slot)
            .map_or(0, |(_, v)| *v)
    }

    fn prereq_ok(&self, p: Prereq) -> bool {
        let dl_type = self.get(Slot::EthType);
        let proto = self.get(Slot::NwProto);
        let ip_any = dl_type == ETH_TYPE_IP || dl_type == ETH_TYPE_IPV6;
        match p {
            Prereq::None => true,
            Prereq::Ipv4 => dl_type == ETH_TYPE_IP,
            Prereq::Ipv6 => dl_type == ETH_TYPE_IPV6,
            Prereq::IpAny => ip_any,
            Prereq::Arp => dl_type == ETH_TYPE_ARP || dl_type == ETH_TYPE_RARP,
            Prereq::Tcp => ip_any && proto == 6,
            Prereq::Udp => ip_any && proto == 17,
            Prereq::Sctp => ip_any && proto == 132,
            Prereq::Icmpv4 => dl_type == ETH_TYPE_IP && proto == 1,
            Prereq::Icmpv6 => dl_type == ETH_TYPE_IPV6 && proto == 58,
        }
    }

    fn put(&mut self, slot: Slot, v: u128) {
        self.set.retain(|(s, _)| *s != slot);
        self.set.push((slot, v));
    }

    /// Parses filter text; `ports` maps the datapath's port names to
    /// numbers (for `in_port=NAME`). Errors are stock's texts, to be shown
    /// as `Failed to parse filter (ERROR)`.
    pub fn parse(s: &str, ports: &HashMap<String, u32>) -> Result<FlowFilter, String> {
        let mut f = FlowFilter {
            set: Vec::new(),
            warned: Default::default(),
        };
        for (key, value) in key_values(s) {
            if let Some(&(_, dl_type, proto)) = PROTOCOLS.iter().find(|p| p.0 == key) {
                if f.get(Slot::EthType) != 0 {
                    return Err(format!("{s}: Ethernet type set multiple times"));
                }
                f.put(Slot::EthType, dl_type);
                if proto != 0 {
                    if f.get(Slot::NwProto) != 0 {
                        return Err(format!("{s}: network protocol set multiple times"));
                    }
                    f.put(Slot::NwProto, proto);
                }
                continue;
            }
            let Some(&(name, _, slot, prereq, syntax)) = FIELDS
                .iter()
                .find(|(n, alias, ..)| *n == key || *alias == Some(key))
            else {
                if OTHER_OVS_FIELDS.contains(&key) {
                    return Err(format!(
                        "{s}: field {key} is not supported in a dump filter"
                    ));
                }
                return Err(format!("{s}: unknown field {key}"));
            };
            if !f.prereq_ok(prereq) {
                return Err(format!("{s}: prerequisites not met for setting {key}"));
            }
            if f.get(slot) != 0 {
                return Err(format!("{s}: field {key} set multiple times"));
            }
            let v = parse_value(name, syntax, value, ports)
                .map_err(|e| format!("{s}: bad value for {key} ({e})"))?;
            f.put(slot, v);
        }
        // As stock: an in_port of 0 stands for OFPP_NONE.
        if f.set.iter().any(|(s, v)| *s == Slot::InPort && *v == 0) {
            f.put(Slot::InPort, 0xffff);
        }
        Ok(f)
    }

    /// Whether a flow with this key and mask (netlink attributes, as a
    /// dump gives them; an empty mask means exact) passes the filter.
    /// Both sides are compared under the flow's mask, as stock compares
    /// them.
    pub fn matches(&self, key: &[u8], mask: &[u8]) -> bool {
        let Ok(k) = Key::from_nlattrs(key) else {
            return false;
        };
        let key_view = FlowView::of_key(&k.attrs);
        let mask_view = if mask.is_empty() {
            key_view.exact_mask()
        } else {
            match Key::from_nlattrs(mask) {
                Ok(m) => self.mask_view(&k.attrs, &key_view, &m.attrs, mask),
                Err(_) => return false,
            }
        };
        self.set.iter().all(|&(slot, want)| {
            // in_port is 16 bits in the filter, 32 in the datapath.
            let width = if slot == Slot::InPort {
                0xffff
            } else {
                u128::MAX
            };
            let mask = mask_view.get(slot) & width;
            (want & mask) == (key_view.get(slot) & mask)
        })
    }

    /// The mask as stock reads it against the key. An Ethernet frame
    /// without an Ethernet II type (802.2) whose type the mask does not
    /// match exactly is an error there: stock logs it, and keeps only the
    /// mask fields read before the type (metadata, Ethernet addresses).
    fn mask_view(
        &self,
        key: &[KeyAttr],
        key_view: &FlowView,
        mask: &[KeyAttr],
        mask_bytes: &[u8],
    ) -> FlowView {
        let mut view = FlowView::of_mask(mask);
        let has_eth = key.iter().any(|a| matches!(a, KeyAttr::Ethernet(_)));
        let key_type = key.iter().find_map(|a| match a {
            KeyAttr::Ethertype(t) => Some(*t),
            _ => None,
        });
        let mask_type = mask.iter().find_map(|a| match a {
            KeyAttr::Ethertype(t) => Some(*t),
            _ => None,
        });
        if has_eth && key_type.is_none() && mask_type != Some(0xffff) {
            let error = match mask_type {
                Some(m) => format!(
                    "can't bitwise match non-Ethernet II \"Ethertype\" {} (with mask {})",
                    c_hex(FLOW_DL_TYPE_NONE),
                    c_hex(u128::from(m))
                ),
                None => "mask expected for non-Ethernet II frame".to_string(),
            };
            self.warn_rate_limited(0, &error);
            let mut mask_text = String::new();
            // As odp_flow_key_format: the mask as a key, verbose.
            let verbose = crate::odp::FormatOptions {
                verbose: true,
                port_names: None,
            };
            let _ = crate::odp::format_flow(mask_bytes, &[], &verbose, &mut mask_text);
            self.warn_rate_limited(
                1,
                &format!(
                    "the flow mask in error is: {mask_text}, for the following flow key: {}",
                    key_view.flow_text()
                ),
            );
            view.values.retain(|(s, _)| {
                matches!(
                    s,
                    Slot::InPort
                        | Slot::SkbPriority
                        | Slot::PktMark
                        | Slot::RecircId
                        | Slot::DpHash
                        | Slot::EthSrc
                        | Slot::EthDst
                )
            });
            return view;
        }
        // A missing VLAN mask means an exact match on "no VLAN".
        let tagged = matches!(key_type, Some(0x8100 | 0x88a8));
        if !tagged && !mask.iter().any(|a| matches!(a, KeyAttr::Vlan(_))) {
            view.put(Slot::VlanTci, 0xffff);
        }
        view
    }

    /// Logs as Open vSwitch's rate-limited warnings do within one run: the
    /// first five of each kind.
    fn warn_rate_limited(&self, kind: usize, text: &str) {
        let counter = &self.warned[kind.min(1)];
        if counter.get() < 5 {
            counter.set(counter.get() + 1);
            log::warn!(target: "odp_util", "{text}");
        }
    }
}

/// C's `%#x`: `0` for zero, `0x...` otherwise.
fn c_hex(v: u128) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// A flow key (or mask) seen as `struct flow` slots.
#[derive(Debug, Default)]
struct FlowView {
    values: Vec<(Slot, u128)>,
}

impl FlowView {
    fn get(&self, slot: Slot) -> u128 {
        self.values
            .iter()
            .rev()
            .find(|(s, _)| *s == slot)
            .map_or(0, |(_, v)| *v)
    }

    fn put(&mut self, slot: Slot, v: u128) {
        self.values.push((slot, v));
    }

    /// Every attribute, with those inside an 802.1Q `encap` after the
    /// outer ones (so the inner Ethernet type wins).
    fn flatten(attrs: &[KeyAttr]) -> Vec<&KeyAttr> {
        let mut all: Vec<&KeyAttr> = attrs.iter().collect();
        let mut i = 0;
        while let Some(a) = all.get(i) {
            if let KeyAttr::Encap(inner) = a {
                all.extend(inner.iter());
            }
            i += 1;
        }
        all
    }

    fn read(attrs: &[&KeyAttr]) -> FlowView {
        let mac = |m: &[u8; 6]| m.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b));
        let mut v = FlowView::default();
        for a in attrs {
            match a {
                KeyAttr::InPort(p) => v.put(Slot::InPort, u128::from(*p)),
                KeyAttr::Priority(p) => v.put(Slot::SkbPriority, u128::from(*p)),
                KeyAttr::SkbMark(m) => v.put(Slot::PktMark, u128::from(*m)),
                KeyAttr::RecircId(r) => v.put(Slot::RecircId, u128::from(*r)),
                KeyAttr::DpHash(h) => v.put(Slot::DpHash, u128::from(*h)),
                KeyAttr::Ethernet(e) => {
                    v.put(Slot::EthSrc, mac(&e.src));
                    v.put(Slot::EthDst, mac(&e.dst));
                }
                KeyAttr::Vlan(tci) => v.put(Slot::VlanTci, u128::from(*tci)),
                KeyAttr::Ethertype(t) => v.put(Slot::EthType, u128::from(*t)),
                KeyAttr::Ipv4(ip) => {
                    v.put(Slot::NwSrc, u128::from(u32::from(ip.src)));
                    v.put(Slot::NwDst, u128::from(u32::from(ip.dst)));
                    v.put(Slot::NwProto, u128::from(ip.proto));
                    v.put(Slot::NwTtl, u128::from(ip.ttl));
                }
                KeyAttr::Ipv6(ip) => {
                    v.put(Slot::Ipv6Src, u128::from(ip.src));
                    v.put(Slot::Ipv6Dst, u128::from(ip.dst));
                    v.put(Slot::Ipv6Label, u128::from(ip.label));
                    v.put(Slot::NwProto, u128::from(ip.proto));
                    v.put(Slot::NwTtl, u128::from(ip.hlimit));
                }
                KeyAttr::Tcp(p) | KeyAttr::Udp(p) | KeyAttr::Sctp(p) => {
                    v.put(Slot::TpSrc, u128::from(p.src));
                    v.put(Slot::TpDst, u128::from(p.dst));
                }
                KeyAttr::Icmp(i) | KeyAttr::Icmpv6(i) => {
                    v.put(Slot::TpSrc, u128::from(i.icmp_type));
                    v.put(Slot::TpDst, u128::from(i.code));
                }
                KeyAttr::Arp(arp) => {
                    v.put(Slot::NwSrc, u128::from(u32::from(arp.sip)));
                    v.put(Slot::NwDst, u128::from(u32::from(arp.tip)));
                    // struct flow keeps the ARP opcode in nw_proto's byte.
                    v.put(Slot::NwProto, u128::from(arp.op & 0xff));
                    v.put(Slot::ArpSha, mac(&arp.sha));
                    v.put(Slot::ArpTha, mac(&arp.tha));
                }
                _ => {}
            }
        }
        v
    }

    fn of_key(attrs: &[KeyAttr]) -> FlowView {
        let flat = Self::flatten(attrs);
        let mut v = Self::read(&flat);
        if !flat.iter().any(|a| matches!(a, KeyAttr::InPort(_))) {
            v.put(Slot::InPort, 0xffff_ffff);
        }
        let has_eth = flat.iter().any(|a| matches!(a, KeyAttr::Ethernet(_)));
        let types: Vec<u16> = flat
            .iter()
            .filter_map(|a| match a {
                KeyAttr::Ethertype(t) => Some(*t),
                _ => None,
            })
            .collect();
        match types.as_slice() {
            [] if has_eth => v.put(Slot::EthType, FLOW_DL_TYPE_NONE),
            // A VLAN frame whose encapsulated type is not given.
            [ETH_TYPE_VLAN] => v.put(Slot::EthType, 0),
            _ => {}
        }
        v
    }

    fn of_mask(attrs: &[KeyAttr]) -> FlowView {
        Self::read(&Self::flatten(attrs))
    }

    /// The key as Open vSwitch's `flow_format` prints an 802.2 frame's
    /// flow (zero metadata left out).
    fn flow_text(&self) -> String {
        let mut s = String::new();
        for (slot, name) in [
            (Slot::RecircId, "recirc_id"),
            (Slot::DpHash, "dp_hash"),
            (Slot::SkbPriority, "skb_priority"),
            (Slot::PktMark, "pkt_mark"),
        ] {
            let v = self.get(slot);
            if v != 0 {
                s.push_str(&format!("{name}={v:#x},"));
            }
        }
        let mac = |v: u128| {
            let b = v.to_be_bytes();
            b.get(10..16)
                .unwrap_or(&[])
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        s.push_str(&format!(
            "in_port={},vlan_tci={:#06x},dl_src={},dl_dst={},dl_type={:#06x}",
            self.get(Slot::InPort),
            self.get(Slot::VlanTci),
            mac(self.get(Slot::EthSrc)),
            mac(self.get(Slot::EthDst)),
            self.get(Slot::EthType)
        ));
        s
    }

    /// The mask of an exact-match flow: all ones where the key has values.
    fn exact_mask(&self) -> FlowView {
        FlowView {
            values: self.values.iter().map(|(s, _)| (*s, u128::MAX)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odp;

    fn ports() -> HashMap<String, u32> {
        HashMap::from([("p1".to_string(), 1)])
    }

    fn passes(filter: &str, flow: &str) -> bool {
        let f = FlowFilter::parse(filter, &ports()).unwrap();
        let p = odp::parse_flow(flow, None).unwrap();
        f.matches(&p.key, &p.mask)
    }

    #[test]
    fn parses_and_words_errors_like_stock() {
        let p = ports();
        assert!(FlowFilter::parse("in_port=1", &p).is_ok());
        assert!(FlowFilter::parse("in_port(p1),ip,nw_src=10.0.0.1", &p).is_ok());
        assert!(FlowFilter::parse("in_port(1),eth_type(0x0800)", &p).is_ok());
        let err = |s: &str| FlowFilter::parse(s, &p).unwrap_err();
        assert_eq!(err("nosuch=1"), "nosuch=1: unknown field nosuch");
        assert_eq!(
            err("in_port=zz"),
            "in_port=zz: bad value for in_port (zz: invalid or unknown port for in_port)"
        );
        assert_eq!(
            err("nw_src=1.1.1.1"),
            "nw_src=1.1.1.1: prerequisites not met for setting nw_src"
        );
        assert_eq!(err("ip,arp"), "ip,arp: Ethernet type set multiple times");
        assert_eq!(
            err("udp,tp_dst=53"),
            "udp,tp_dst=53: prerequisites not met for setting tp_dst"
        );
        assert_eq!(
            err("ip,nw_src=10.0.0.0/24"),
            "ip,nw_src=10.0.0.0/24: bad value for nw_src (10.0.0.0/24: wildcards not allowed here)"
        );
        assert_eq!(
            err("dl_type=0x10000"),
            "dl_type=0x10000: bad value for dl_type (0x10000: value too large for 2-byte field eth_type)"
        );
        assert_eq!(
            err("dl_type=x"),
            "dl_type=x: bad value for dl_type (x: bad syntax for eth_type value)"
        );
        assert_eq!(
            err("tcp,tcp_src=1,tp_src=2"),
            "tcp,tcp_src=1,tp_src=2: field tp_src set multiple times"
        );
        assert!(FlowFilter::parse("ip,nw_src=10.0.0.1/32", &p).is_ok());
    }

    #[test]
    fn judges_like_stock() {
        let tcp = "in_port(1),eth(src=00:01:02:03:04:05,dst=00:01:02:03:04:06),eth_type(0x0800),\
                   ipv4(src=10.0.0.1,dst=10.0.0.0/255.255.255.0,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=80)";
        assert!(passes("in_port=1", tcp));
        assert!(!passes("in_port=2", tcp));
        assert!(passes("tcp,tp_dst=80", tcp));
        assert!(!passes("tcp,tp_dst=81", tcp));
        // Keys come masked from the kernel, as here.
        assert!(
            passes("ip,nw_dst=10.0.0.77", tcp),
            "outside the flow's mask"
        );
        assert!(!passes("udp", tcp));
        let wild = "in_port(1),eth_type(0x88b5)";
        assert!(passes("eth_type=0x88b5", wild));
        assert!(passes("dl_src=00:00:00:00:00:09", wild), "wildcarded field");
        let arp = "in_port(2),eth(src=00:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),\
                   arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=00:00:00:00:00:01,tha=00:00:00:00:00:00)";
        assert!(passes("arp,arp_spa=10.0.0.1,arp_op=1", arp));
        assert!(!passes("arp,arp_tpa=10.0.0.1", arp));
        let no_type = "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02)";
        // An 802.2 frame whose mask has no exact type: stock's mask reading
        // fails after the Ethernet addresses, so later fields never exclude.
        assert!(passes("ip", no_type));
        assert!(passes("dl_src=00:00:00:00:00:01", no_type));
        assert!(!passes("dl_src=00:00:00:00:00:03", no_type));
        assert!(!passes("in_port=2", no_type));
        // in_port=0 stands for OFPP_NONE.
        assert!(!passes("in_port=0", "in_port(0),eth_type(0x88b5)"));
    }
}
