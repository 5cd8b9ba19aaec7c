//! Fields as actions name them: names (stock's, NXM and OXM ones,
//! aliases), subfields (`reg0[0..7]`), values in each field's syntax and
//! wire headers.

use super::*;

// ---------------------------------------------------------------------
// Fields: names, subfields, values, headers.

/// NXM/OXM names of fields besides the one the field table keeps
/// (`header_name`), from Open vSwitch's meta-flow.h.
pub(super) const OTHER_NXM_NAMES: &[(&str, usize)] = &[
    ("NXOXM_ET_DP_HASH", id::DP_HASH),
    ("OXM_OF_TUNNEL_ID", id::TUN_ID),
    ("OXM_OF_ETH_SRC", id::ETH_SRC),
    ("OXM_OF_ETH_DST", id::ETH_DST),
    ("OXM_OF_ETH_TYPE", id::ETH_TYPE),
    ("OXM_OF_IPV4_SRC", id::IP_SRC),
    ("OXM_OF_IPV4_DST", id::IP_DST),
    ("OXM_OF_IPV6_SRC", id::IPV6_SRC),
    ("OXM_OF_IPV6_DST", id::IPV6_DST),
    ("OXM_OF_IPV6_FLABEL", id::IPV6_LABEL),
    ("OXM_OF_IP_PROTO", id::NW_PROTO),
    ("OXM_OF_IP_ECN", id::NW_ECN),
    ("OXM_OF_ARP_OP", id::ARP_OP),
    ("OXM_OF_ARP_SPA", id::ARP_SPA),
    ("OXM_OF_ARP_TPA", id::ARP_TPA),
    ("OXM_OF_ARP_SHA", id::ARP_SHA),
    ("OXM_OF_ARP_THA", id::ARP_THA),
    ("OXM_OF_TCP_SRC", id::TCP_SRC),
    ("OXM_OF_TCP_DST", id::TCP_DST),
    ("ONFOXM_ET_TCP_FLAGS", id::TCP_FLAGS),
    ("OXM_OF_UDP_SRC", id::UDP_SRC),
    ("OXM_OF_UDP_DST", id::UDP_DST),
    ("OXM_OF_ICMPV4_TYPE", id::ICMP_TYPE),
    ("OXM_OF_ICMPV4_CODE", id::ICMP_CODE),
    ("OXM_OF_ICMPV6_TYPE", id::ICMPV6_TYPE),
    ("OXM_OF_ICMPV6_CODE", id::ICMPV6_CODE),
    ("OXM_OF_IPV6_ND_TARGET", id::ND_TARGET),
    ("OXM_OF_IPV6_ND_SLL", id::ND_SLL),
    ("OXM_OF_IPV6_ND_TLL", id::ND_TLL),
];

/// The other names ("aka") ovs-fields(7) gives fields.
pub(super) const FIELD_ALIASES: &[(&str, usize)] = &[
    ("tunnel_id", id::TUN_ID),
    ("dl_src", id::ETH_SRC),
    ("dl_dst", id::ETH_DST),
    ("dl_type", id::ETH_TYPE),
    ("nw_src", id::IP_SRC),
    ("nw_dst", id::IP_DST),
    ("ip_proto", id::NW_PROTO),
    ("ip_ecn", id::NW_ECN),
    ("nw_frag", id::IP_FRAG),
    ("tp_src", id::TCP_SRC),
    ("tp_dst", id::TCP_DST),
    ("nsp", id::NSH_SPI),
    ("nsi", id::NSH_SI),
];

/// Fields whose values stock writes in decimal (the others integers in
/// hexadecimal), from meta-flow.h's "Formatting:".
pub(super) const DECIMAL_FIELDS: &[&str] = &[
    "arp_op",
    "conj_id",
    "ct_nw_proto",
    "ct_tp_dst",
    "ct_tp_src",
    "dl_vlan",
    "dl_vlan_pcp",
    "icmp_code",
    "icmp_type",
    "icmpv6_code",
    "icmpv6_type",
    "ip_dscp",
    "mpls_bos",
    "mpls_label",
    "mpls_tc",
    "mpls_ttl",
    "nd_options_type",
    "nd_reserved",
    "nsh_flags",
    "nsh_mdtype",
    "nsh_np",
    "nsh_si",
    "nsh_ttl",
    "nw_ecn",
    "nw_proto",
    "nw_tos",
    "nw_ttl",
    "recirc_id",
    "sctp_dst",
    "sctp_src",
    "tcp_dst",
    "tcp_src",
    "tun_erspan_dir",
    "tun_erspan_ver",
    "tun_gbp_id",
    "tun_gtpu_msgtype",
    "tun_tos",
    "tun_ttl",
    "udp_dst",
    "udp_src",
    "vlan_pcp",
    "vlan_vid",
];

/// Stock's `mf_from_name()`: a field's name or its "aka" name.
pub(super) fn field_by_name(name: &str) -> Option<usize> {
    by_name(name).or_else(|| {
        FIELD_ALIASES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    })
}

/// Stock's `nxm_field_by_name()`: one of a field's NXM/OXM names.
pub(super) fn field_by_nxm_name(name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    FIELDS
        .iter()
        .position(|f| f.header_name == name)
        .or_else(|| {
            OTHER_NXM_NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, f)| f)
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Subfield {
    pub(super) field: usize,
    pub(super) ofs: u16,
    pub(super) n_bits: u16,
}

impl Subfield {
    /// NXM's `ofs_nbits` encoding.
    pub(super) fn ofs_nbits(self) -> u16 {
        self.ofs << 6 | (self.n_bits - 1)
    }
}

/// Stock's `mf_parse_subfield__()`: `NAME`, `NAME[]`, `NAME[bit]` or
/// `NAME[start..end]` at the start of `s`, and what follows it.
pub(super) fn parse_subfield_prefix(s: &str) -> Result<(Subfield, &str), String> {
    let name_len = s.find(['[', '-']).unwrap_or(s.len());
    let name = &s[..name_len];
    let nxm_name = if name_len > 2 {
        name.strip_suffix("_W").unwrap_or(name)
    } else {
        name
    };
    let field = field_by_nxm_name(nxm_name)
        .or_else(|| field_by_name(name))
        .ok_or_else(|| format!("{s}: unknown field `{name}'"))?;
    let bits = i64::from(FIELDS[field].bits);
    let mut rest = &s[name_len..];
    let (mut start, mut end) = (0i64, bits - 1);
    if rest.starts_with('[') {
        if !rest.starts_with("[]") {
            (start, end) = scan_bit_range(rest.as_bytes()).ok_or_else(|| {
                format!("{s}: syntax error expecting [] or [<bit>] or [<start>..<end>]")
            })?;
        }
        rest = rest.find(']').map_or("", |i| &rest[i + 1..]);
    }
    if start > end {
        return Err(format!(
            "{s}: starting bit {start} is after ending bit {end}"
        ));
    }
    if start >= bits {
        return Err(format!(
            "{s}: starting bit {start} is not valid because field is only {bits} bits wide"
        ));
    }
    if end >= bits {
        return Err(format!(
            "{s}: ending bit {end} is not valid because field is only {bits} bits wide"
        ));
    }
    let sf = Subfield {
        field,
        ofs: start as u16,
        n_bits: (end - start + 1) as u16,
    };
    Ok((sf, rest))
}

/// `[%d..%d]` or `[%d]` as ovs_scan reads them. Negative bits, which
/// stock would take, are refused as syntax errors.
pub(super) fn scan_bit_range(b: &[u8]) -> Option<(i64, i64)> {
    let (start, i) = scan_int(b, 1, 10)?;
    let start = i64::from(start as i32);
    let range = || {
        let rest = b.get(i..)?.strip_prefix(b"..")?;
        let (end, j) = scan_int(rest, 0, 10)?;
        (rest.get(j) == Some(&b']')).then_some(i64::from(end as i32))
    };
    let end = match range() {
        Some(end) => end,
        None if b.get(i) == Some(&b']') => start,
        None => return None,
    };
    (start >= 0 && end >= 0).then_some((start, end))
}

/// Stock's `mf_parse_subfield()`: a subfield and nothing after it.
pub(super) fn parse_subfield(s: &str) -> Result<Subfield, String> {
    let (sf, rest) = parse_subfield_prefix(s)?;
    if !rest.is_empty() {
        return Err("unexpected input following field syntax".into());
    }
    Ok(sf)
}

/// The code point Nicira actions name field `f` with: its NXM one, else
/// a standard OXM one, else its first (as stock encodes and the decoder
/// reads them).
pub(super) fn field_header(f: usize) -> Option<crate::openflow::fields::Hdr> {
    let hs = FIELDS[f].headers;
    hs.iter()
        .find(|h| h.class <= 1)
        .or_else(|| hs.iter().find(|h| h.class != 0xffff))
        .or(hs.first())
        .copied()
}

/// Writes field `f`'s NXM or experimenter OXM header, as Nicira actions
/// name a field (`nx_put_mff_header()`).
pub(super) fn put_field_header(b: &mut Vec<u8>, f: usize) {
    let Some(h) = field_header(f) else {
        b.put_u32(0);
        return;
    };
    let width = u32::from(FIELDS[f].width);
    let exp = h.class == 0xffff;
    let len = width + if exp { 4 } else { 0 };
    b.put_u32(u32::from(h.class) << 16 | u32::from(h.field) << 9 | len);
    if exp {
        b.put_u32(h.exp);
    }
}

/// Field `f`'s 32-bit NXM/OXM header (`nxm_header_from_mff()`), or 0 when
/// it has only an experimenter one.
pub(super) fn field_header32(f: usize) -> u32 {
    match field_header(f) {
        Some(h) if h.class != 0xffff => {
            u32::from(h.class) << 16 | u32::from(h.field) << 9 | u32::from(FIELDS[f].width)
        }
        _ => 0,
    }
}

pub(super) fn width_mask(f: usize) -> u128 {
    full_bits(u32::from(FIELDS[f].width) * 8)
}

/// How stock writes and reads a field's values (`enum mf_string`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    Integer,
    Ethernet,
    Ipv4,
    Ipv6,
    /// An OpenFlow 1.0 port number or name.
    Port,
    /// An OpenFlow 1.1 port number (in_port_oxm, actset_output).
    Port32,
    /// Flags and enumerations (fragments, tunnel and TCP flags, ct_state,
    /// packet_type), all but tun_flags read-only.
    Flags,
}

pub(super) fn field_syntax(f: usize) -> Syntax {
    match f {
        id::ETH_SRC | id::ETH_DST | id::ARP_SHA | id::ARP_THA | id::ND_SLL | id::ND_TLL => {
            Syntax::Ethernet
        }
        id::TUN_SRC
        | id::TUN_DST
        | id::IP_SRC
        | id::IP_DST
        | id::ARP_SPA
        | id::ARP_TPA
        | id::CT_NW_SRC
        | id::CT_NW_DST => Syntax::Ipv4,
        id::TUN_IPV6_SRC
        | id::TUN_IPV6_DST
        | id::IPV6_SRC
        | id::IPV6_DST
        | id::ND_TARGET
        | id::CT_IPV6_SRC
        | id::CT_IPV6_DST => Syntax::Ipv6,
        id::IN_PORT => Syntax::Port,
        id::IN_PORT_OXM | id::ACTSET_OUTPUT => Syntax::Port32,
        id::IP_FRAG | id::TUN_FLAGS | id::TCP_FLAGS | id::CT_STATE | id::PACKET_TYPE => {
            Syntax::Flags
        }
        _ => Syntax::Integer,
    }
}

/// Why `parse_int_string()` failed (errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IntErr {
    Range,
    Syntax,
}

/// Stock's `parse_int_string()` for a `width`-byte field: `0x` hex of any
/// length that fits (white space allowed between digits), else
/// strtoull(). Returns the value and where it ends.
pub(super) fn parse_int_string(s: &str, width: usize) -> Result<(u128, usize), IntErr> {
    let b = s.as_bytes();
    if b.starts_with(b"0x") || b.starts_with(b"0X") {
        let mut i = 2;
        let mut v: u128 = 0;
        let mut hexits = 0;
        loop {
            while b.get(i).is_some_and(|c| b" \t\r\n".contains(c)) {
                i += 1;
            }
            let Some(d) = b.get(i).and_then(|&c| char::from(c).to_digit(16)) else {
                return Ok((v, i));
            };
            if d != 0 || hexits > 0 {
                if (hexits + 2) / 2 > width {
                    return Err(IntErr::Range);
                }
                v = v << 4 | u128::from(d);
                hexits += 1;
            }
            i += 1;
        }
    }
    let (neg, mag, end) = c_strto(b, 0).ok_or(IntErr::Syntax)?;
    if mag > u64::MAX.into() {
        return Err(IntErr::Range);
    }
    let v = if neg {
        (mag as u64).wrapping_neg()
    } else {
        mag as u64
    };
    if width < 8 && u128::from(v) >> (width * 8) != 0 {
        return Err(IntErr::Range);
    }
    Ok((v.into(), end))
}

/// Stock's `mf_from_integer_string()`: `VALUE[/MASK]`.
pub(super) fn parse_integer_value(f: usize, s: &str) -> Result<(u128, u128), String> {
    let name = FIELDS[f].name;
    let width = usize::from(FIELDS[f].width);
    let fail = |e: IntErr, what: &str| match e {
        IntErr::Range => format!("{s}: {what} too large for {width}-byte field {name}"),
        IntErr::Syntax => format!("{s}: bad syntax for {name} {what}"),
    };
    let (value, end) = parse_int_string(s, width).map_err(|e| fail(e, "value"))?;
    let rest = &s[end..];
    if rest.is_empty() {
        return Ok((value, width_mask(f)));
    }
    let Some(mask_s) = rest.strip_prefix('/') else {
        return Err(fail(IntErr::Syntax, "value"));
    };
    let (mask, end) = parse_int_string(mask_s, width).map_err(|e| fail(e, "mask"))?;
    if end != mask_s.len() {
        return Err(fail(IntErr::Syntax, "mask"));
    }
    Ok((value, mask))
}

/// Stock's `mf_from_ethernet_string()`: `MAC` or `MAC/MAC`.
pub(super) fn parse_ethernet_value(s: &str) -> Result<(u128, u128), String> {
    let b = s.as_bytes();
    let mac = |m: [u8; 6]| m.iter().fold(0u128, |a, &x| a << 8 | u128::from(x));
    if let Some((m, end)) = scan_mac(b, 0) {
        if end == b.len() {
            return Ok((mac(m), full_bits(48)));
        }
        if b.get(end) == Some(&b'/') {
            if let Some((mk, _)) = scan_mac(b, end + 1).filter(|&(_, e)| e == b.len()) {
                return Ok((mac(m), mac(mk)));
            }
        }
    }
    Err(format!("{s}: invalid Ethernet address"))
}

/// Stock's `ip_parse_masked()`: `IP`, `IP/IP` or `IP/PREFIX`.
pub(super) fn parse_ipv4_value(s: &str) -> Result<(u128, u128), String> {
    let b = s.as_bytes();
    let invalid = || format!("{s}: invalid IP address");
    let (ip, ip_end) = scan_ipv4(b, 0).ok_or_else(invalid)?;
    let (mask, end) = if b.get(ip_end) != Some(&b'/') {
        (u32::MAX, ip_end)
    } else if let Some((m, end)) = scan_ipv4(b, ip_end + 1) {
        (m, end)
    } else if let Some((p, end)) = scan_int(b, ip_end + 1, 10) {
        let p = p as i32;
        if !(0..=32).contains(&p) {
            return Err(format!(
                "{s}: IPv4 network prefix bits not between 0 and 32, inclusive"
            ));
        }
        (prefix_mask(p as u32, 32) as u32, end)
    } else {
        (u32::MAX, ip_end)
    };
    if end != b.len() {
        return Err(invalid());
    }
    Ok((ip.into(), mask.into()))
}

/// Stock's `ipv6_parse_masked()`: `IPV6`, `IPV6/IPV6` or `IPV6/PREFIX`.
pub(super) fn parse_ipv6_value(s: &str) -> Result<(u128, u128), String> {
    let b = s.as_bytes();
    let invalid = || format!("{s}: invalid IPv6 address");
    let mut start = 0;
    while b.get(start).is_some_and(|&c| is_c_space(c)) {
        start += 1;
    }
    let addr_end = scan_ipv6_chars(b, start).ok_or_else(invalid)?;
    let ip: Ipv6Addr = s[start..addr_end].parse().map_err(|_| invalid())?;
    let (mask, end) = if b.get(addr_end) != Some(&b'/') {
        (u128::MAX, addr_end)
    } else if let Some((p, end)) = scan_int(b, addr_end + 1, 10) {
        let p = p as i32;
        if !(0..=128).contains(&p) {
            return Err(format!(
                "{s}: IPv6 network prefix bits not between 0 and 128, inclusive"
            ));
        }
        (prefix_mask(p as u32, 128), end)
    } else if let Some(end) = scan_ipv6_chars(b, addr_end + 1) {
        let m: Ipv6Addr = s[addr_end + 1..end]
            .parse()
            .map_err(|_| format!("{s}: Invalid IPv6 mask"))?;
        (u128::from(m), end)
    } else {
        (u128::MAX, addr_end)
    };
    if end != b.len() {
        return Err(invalid());
    }
    Ok((u128::from(ip), mask))
}

/// Stock's `mf_parse()`: a value (and mask) for field `f` in the field's
/// syntax.
pub(super) fn parse_field_value(f: usize, s: &str) -> Result<(u128, u128), String> {
    if s == "*" {
        return Ok((0, 0));
    }
    let name = FIELDS[f].name;
    let (value, mask) = match field_syntax(f) {
        Syntax::Integer => parse_integer_value(f, s)?,
        Syntax::Ethernet => parse_ethernet_value(s)?,
        Syntax::Ipv4 => parse_ipv4_value(s)?,
        Syntax::Ipv6 => parse_ipv6_value(s)?,
        Syntax::Port => match port_from_string(s) {
            Some(p) => (p.into(), width_mask(f)),
            None => return Err(format!("{s}: invalid or unknown port for {name}")),
        },
        Syntax::Port32 => match port_from_string(s) {
            Some(p) => (port_to_of11(p).into(), width_mask(f)),
            None => return Err(format!("{s}: port value out of range for {name}")),
        },
        // Of these only tun_flags is writable; its numeric form is enough
        // here.
        Syntax::Flags => parse_integer_value(f, s).map_err(|_| {
            format!("{s}: flag names for {name}: not supported by ferrovs's action parser")
        })?,
    };
    if !FIELDS[f].maskable && mask != width_mask(f) {
        return Err(format!("{s}: invalid mask for field {name}"));
    }
    Ok((value, mask))
}

/// Stock's `mf_is_value_valid()` for the fields with invalid values.
pub(super) fn field_value_is_valid(f: usize, v: u128) -> bool {
    match f {
        id::IN_PORT_OXM | id::ACTSET_OUTPUT => port_from_of11(v as u32).is_some(),
        id::NW_TOS => v & !0xfc == 0,
        id::IP_DSCP => v < 64,
        id::NW_ECN | id::IP_FRAG => v < 4,
        id::TCP_FLAGS => v < 0x1000,
        id::ARP_OP => v < 0x100,
        id::DL_VLAN => v & 0xf000 == 0,
        id::VLAN_VID => v & 0xe000 == 0,
        id::DL_VLAN_PCP | id::VLAN_PCP | id::MPLS_TC => v < 8,
        id::IPV6_LABEL | id::MPLS_LABEL => v < 1 << 20,
        id::MPLS_BOS | id::TUN_FLAGS => v < 2,
        id::NSH_TTL => v <= 63,
        id::NSH_MDTYPE => v == 1 || v == 2,
        id::NSH_SPI => v < 1 << 24,
        _ => true,
    }
}

/// A value of field `f` as stock's `mf_format()` writes it (for errors).
pub(super) fn format_field_value(f: usize, v: u128) -> String {
    match field_syntax(f) {
        Syntax::Ethernet => {
            let b = v.to_be_bytes();
            b[10..]
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        }
        Syntax::Ipv4 => Ipv4Addr::from(v as u32).to_string(),
        Syntax::Ipv6 => Ipv6Addr::from(v).to_string(),
        Syntax::Port => crate::openflow::text::port_name(v as u16),
        _ if DECIMAL_FIELDS.contains(&FIELDS[f].name) => v.to_string(),
        _ => format!("{v:#x}"),
    }
}
