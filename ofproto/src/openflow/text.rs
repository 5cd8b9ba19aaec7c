//! Flows as text, in the syntax of ovs-ofctl and ovs-fields(7) /
//! ovs-actions(7), for bridge/dump-flows. Matches follow the field order
//! and shorthands that Open vSwitch prints; the common actions are spelled
//! as ovs-ofctl spells them and rarer Nicira actions fall back to a
//! generic form.

use super::actions::{port, Action, Instructions, SetFieldRaw};
use super::fields::{eth_type, id, range, Match, FIELDS};
use std::fmt::Write;

/// C's `%#x`: hexadecimal with 0x, except that zero is plain "0".
fn chex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn ip4(v: u32) -> String {
    let b = v.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

fn ip4_masked(v: u32, m: u32) -> String {
    if m == u32::MAX {
        ip4(v)
    } else if m.leading_ones() + m.trailing_zeros() == 32 {
        format!("{}/{}", ip4(v), m.leading_ones())
    } else {
        format!("{}/{}", ip4(v), ip4(m))
    }
}

fn ip6(v: u128) -> String {
    std::net::Ipv6Addr::from(v).to_string()
}

fn ip6_masked(v: u128, m: u128) -> String {
    if m == u128::MAX {
        ip6(v)
    } else if m.leading_ones() + m.trailing_zeros() == 128 {
        format!("{}/{}", ip6(v), m.leading_ones())
    } else {
        format!("{}/{}", ip6(v), ip6(m))
    }
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A port number as ovs-ofctl prints it.
pub fn port_name(p: u16) -> String {
    match p {
        port::IN_PORT => "IN_PORT".into(),
        port::TABLE => "TABLE".into(),
        port::NORMAL => "NORMAL".into(),
        port::FLOOD => "FLOOD".into(),
        port::ALL => "ALL".into(),
        port::CONTROLLER => "CONTROLLER".into(),
        port::LOCAL => "LOCAL".into(),
        port::NONE => "ANY".into(),
        n => n.to_string(),
    }
}

const CT_STATE: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
const TCP_FLAGS: [&str; 12] = [
    "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]",
];

fn flags_masked(names: &[&str], v: u32, m: u32) -> String {
    let mut s = String::new();
    for (i, n) in names.iter().enumerate() {
        if m >> i & 1 == 1 {
            s.push(if v >> i & 1 == 1 { '+' } else { '-' });
            s.push_str(n);
        }
    }
    s
}

/// Formats `m` (with `priority`, omitted when it is the default 32768).
pub fn format_match(m: &Match, priority: u16) -> String {
    let mut s = String::new();
    if priority != 32768 {
        let _ = write!(s, "priority={priority},");
    }
    // The name is any Display, so that `reg{N}` costs no String.
    let hex32 = |s: &mut String, name: &dyn std::fmt::Display, f: usize| {
        let (v, mk) = m.get(f);
        if mk != 0 {
            let _ = write!(s, "{name}={}", chex(v));
            if mk != 0xffff_ffff {
                let _ = write!(s, "/{}", chex(mk));
            }
            s.push(',');
        }
    };
    let dec16 = |s: &mut String, name: &str, f: usize, full: u128| {
        let (v, mk) = m.get(f);
        if mk != 0 {
            if mk == full {
                let _ = write!(s, "{name}={v},");
            } else {
                let _ = write!(s, "{name}={v:#x}/{mk:#x},");
            }
        }
    };
    let ipf = |s: &mut String, name: &str, f: usize| {
        let (v, mk) = m.get(f);
        if mk != 0 {
            let _ = write!(s, "{name}={},", ip4_masked(v as u32, mk as u32));
        }
    };
    let ip6f = |s: &mut String, name: &str, f: usize| {
        let (v, mk) = m.get(f);
        if mk != 0 {
            let _ = write!(s, "{name}={},", ip6_masked(v, mk));
        }
    };
    let ethf = |s: &mut String, name: &str, f: usize| {
        if m.is_set(f) {
            let r = range(f);
            let _ = write!(s, "{name}={}", mac(&m.key[r.clone()]));
            if !m.is_exact(f) {
                let _ = write!(s, "/{}", mac(&m.mask[r]));
            }
            s.push(',');
        }
    };
    hex32(&mut s, &"pkt_mark", id::PKT_MARK);
    hex32(&mut s, &"recirc_id", id::RECIRC_ID);
    hex32(&mut s, &"dp_hash", id::DP_HASH);
    if m.is_set(id::CONJ_ID) {
        let _ = write!(s, "conj_id={},", m.value(id::CONJ_ID));
    }
    let (cv, cm) = m.get(id::CT_STATE);
    if cm != 0 {
        let _ = write!(
            s,
            "ct_state={},",
            flags_masked(&CT_STATE, cv as u32, cm as u32)
        );
    }
    dec16(&mut s, "ct_zone", id::CT_ZONE, 0xffff);
    hex32(&mut s, &"ct_mark", id::CT_MARK);
    let (lv, lm) = m.get(id::CT_LABEL);
    if lm != 0 {
        let _ = write!(s, "ct_label={lv:#x}");
        if lm != u128::MAX {
            let _ = write!(s, "/{lm:#x}");
        }
        s.push(',');
    }
    ipf(&mut s, "ct_nw_src", id::CT_NW_SRC);
    ip6f(&mut s, "ct_ipv6_src", id::CT_IPV6_SRC);
    ipf(&mut s, "ct_nw_dst", id::CT_NW_DST);
    ip6f(&mut s, "ct_ipv6_dst", id::CT_IPV6_DST);
    if m.is_set(id::CT_NW_PROTO) {
        let _ = write!(s, "ct_nw_proto={},", m.value(id::CT_NW_PROTO));
        dec16(&mut s, "ct_tp_src", id::CT_TP_SRC, 0xffff);
        dec16(&mut s, "ct_tp_dst", id::CT_TP_DST, 0xffff);
    }
    // Protocol shorthands.
    let et = m.exact(id::ETH_TYPE).map(|t| t as u16);
    let proto = m.exact(id::NW_PROTO).map(|p| p as u8);
    let (mut skip_type, mut skip_proto) = (false, false);
    if let Some(t) = et {
        skip_type = true;
        let name = match (t, proto) {
            (eth_type::IP, Some(1)) => Some(("icmp", true)),
            (eth_type::IP, Some(6)) => Some(("tcp", true)),
            (eth_type::IP, Some(17)) => Some(("udp", true)),
            (eth_type::IP, Some(132)) => Some(("sctp", true)),
            (eth_type::IP, _) => Some(("ip", false)),
            (eth_type::IPV6, Some(58)) => Some(("icmp6", true)),
            (eth_type::IPV6, Some(6)) => Some(("tcp6", true)),
            (eth_type::IPV6, Some(17)) => Some(("udp6", true)),
            (eth_type::IPV6, Some(132)) => Some(("sctp6", true)),
            (eth_type::IPV6, _) => Some(("ipv6", false)),
            (eth_type::ARP, _) => Some(("arp", false)),
            (eth_type::RARP, _) => Some(("rarp", false)),
            (eth_type::MPLS, _) => Some(("mpls", false)),
            (eth_type::MPLS_MCAST, _) => Some(("mplsm", false)),
            _ => None,
        };
        match name {
            Some((n, sp)) => {
                s.push_str(n);
                s.push(',');
                skip_proto = sp;
            }
            None => skip_type = false,
        }
    }
    for r in 0..16 {
        hex32(&mut s, &format_args!("reg{r}"), id::REG0 + r);
    }
    let (tv, tm) = m.get(id::TUN_ID);
    if tm != 0 {
        let _ = write!(s, "tun_id={}", chex(tv));
        if tm != u64::MAX as u128 {
            let _ = write!(s, "/{}", chex(tm));
        }
        s.push(',');
    }
    ipf(&mut s, "tun_src", id::TUN_SRC);
    ipf(&mut s, "tun_dst", id::TUN_DST);
    ip6f(&mut s, "tun_ipv6_src", id::TUN_IPV6_SRC);
    ip6f(&mut s, "tun_ipv6_dst", id::TUN_IPV6_DST);
    dec16(&mut s, "tun_gbp_id", id::TUN_GBP_ID, 0xffff);
    if m.is_set(id::TUN_GBP_FLAGS) {
        let _ = write!(s, "tun_gbp_flags={},", chex(m.value(id::TUN_GBP_FLAGS)));
    }
    if m.is_set(id::TUN_TOS) {
        let _ = write!(s, "tun_tos={:x},", m.value(id::TUN_TOS));
    }
    if m.is_set(id::TUN_TTL) {
        let _ = write!(s, "tun_ttl={},", m.value(id::TUN_TTL));
    }
    // Bit 0 (oam) is what OpenFlow sees; df, csum and key appear in
    // megaflows of decapsulated packets.
    let (fv, fm) = m.get(id::TUN_FLAGS);
    if fm & 0xf != 0 {
        let _ = write!(
            s,
            "tun_flags={},",
            flags_masked(&["oam", "df", "csum", "key"], fv as u32, fm as u32 & 0xf)
        );
    }
    // 64 fields that are rarely matched: one scan says whether to look.
    if m.any_set(id::TUN_METADATA0, id::TUN_METADATA63) {
        for (i, f) in (id::TUN_METADATA0..=id::TUN_METADATA63).enumerate() {
            let (v, mk) = m.get(f);
            if mk != 0 {
                let _ = write!(s, "tun_metadata{i}={}", chex(v));
                if mk != u32::MAX as u128 {
                    let _ = write!(s, "/{}", chex(mk));
                }
                s.push(',');
            }
        }
    }
    let (mv, mm) = m.get(id::METADATA);
    if mm != 0 {
        let _ = write!(s, "metadata={}", chex(mv));
        if mm != u64::MAX as u128 {
            let _ = write!(s, "/{}", chex(mm));
        }
        s.push(',');
    }
    if m.is_set(id::IN_PORT) {
        let _ = write!(s, "in_port={},", port_name(m.value(id::IN_PORT) as u16));
    }
    let (tci, tmask) = m.get(id::VLAN_TCI);
    let (tci, tmask) = (tci as u16, tmask as u16);
    if tmask != 0 {
        let vid_mask = tmask & 0x0fff;
        let pcp_mask = tmask & 0xe000;
        if tmask & 0x1000 != 0
            && tci & 0x1000 != 0
            && (vid_mask == 0 || vid_mask == 0x0fff)
            && (pcp_mask == 0 || pcp_mask == 0xe000)
            && (vid_mask != 0 || pcp_mask != 0)
        {
            if vid_mask != 0 {
                let _ = write!(s, "dl_vlan={},", tci & 0xfff);
            }
            if pcp_mask != 0 {
                let _ = write!(s, "dl_vlan_pcp={},", tci >> 13);
            }
        } else if tmask == 0xffff {
            let _ = write!(s, "vlan_tci={tci:#06x},");
        } else {
            let _ = write!(s, "vlan_tci={tci:#06x}/{tmask:#06x},");
        }
    }
    ethf(&mut s, "dl_src", id::ETH_SRC);
    ethf(&mut s, "dl_dst", id::ETH_DST);
    if !skip_type && m.is_set(id::ETH_TYPE) {
        let _ = write!(s, "dl_type={:#06x},", m.eth_type());
    }
    let et = et.unwrap_or(0);
    let arp = et == eth_type::ARP || et == eth_type::RARP;
    if et == eth_type::IPV6 {
        ip6f(&mut s, "ipv6_src", id::IPV6_SRC);
        ip6f(&mut s, "ipv6_dst", id::IPV6_DST);
        let (v, mk) = m.get(id::IPV6_LABEL);
        if mk != 0 {
            if mk == 0xffff_ffff {
                let _ = write!(s, "ipv6_label={v:#07x},");
            } else {
                let _ = write!(s, "ipv6_label={v:#07x}/{mk:#07x},");
            }
        }
    } else if arp {
        ipf(&mut s, "arp_spa", id::ARP_SPA);
        ipf(&mut s, "arp_tpa", id::ARP_TPA);
    } else {
        ipf(&mut s, "nw_src", id::IP_SRC);
        ipf(&mut s, "nw_dst", id::IP_DST);
    }
    if arp && m.is_set(id::ARP_OP) {
        let _ = write!(s, "arp_op={},", m.value(id::ARP_OP));
    } else if !skip_proto && m.is_set(id::NW_PROTO) {
        let _ = write!(s, "nw_proto={},", m.value(id::NW_PROTO));
    }
    if arp {
        ethf(&mut s, "arp_sha", id::ARP_SHA);
        ethf(&mut s, "arp_tha", id::ARP_THA);
    }
    if m.is_set(id::NW_TOS) {
        let _ = write!(s, "nw_tos={},", m.value(id::NW_TOS));
    }
    if m.is_set(id::NW_ECN) {
        let _ = write!(s, "nw_ecn={},", m.value(id::NW_ECN));
    }
    if m.is_set(id::NW_TTL) {
        let _ = write!(s, "nw_ttl={},", m.value(id::NW_TTL));
    }
    for (f, n) in [
        (id::MPLS_LABEL, "mpls_label"),
        (id::MPLS_TC, "mpls_tc"),
        (id::MPLS_TTL, "mpls_ttl"),
        (id::MPLS_BOS, "mpls_bos"),
    ] {
        if m.is_set(f) {
            let _ = write!(s, "{n}={},", m.value(f));
        }
    }
    let (fv, fm) = m.get(id::IP_FRAG);
    let frag = match (fm & 3, fv & 3) {
        (3, 0) => Some("no"),
        (3, 1) => Some("first"),
        (3, 3) => Some("later"),
        (3, _) => Some("<error>"),
        (1, 1) => Some("yes"),
        (1, _) => Some("no"),
        (2, 2) => Some("later"),
        (2, _) => Some("not_later"),
        _ => None,
    };
    if let Some(f) = frag {
        let _ = write!(s, "nw_frag={f},");
    }
    let p = proto.unwrap_or(0);
    if et == eth_type::IP && p == 1 {
        dec16(&mut s, "icmp_type", id::ICMP_TYPE, 0xff);
        dec16(&mut s, "icmp_code", id::ICMP_CODE, 0xff);
    } else if et == eth_type::IPV6 && p == 58 {
        dec16(&mut s, "icmp_type", id::ICMPV6_TYPE, 0xff);
        dec16(&mut s, "icmp_code", id::ICMPV6_CODE, 0xff);
        ip6f(&mut s, "nd_target", id::ND_TARGET);
        ethf(&mut s, "nd_sll", id::ND_SLL);
        ethf(&mut s, "nd_tll", id::ND_TLL);
    } else {
        for (sf, df) in [
            (id::TCP_SRC, id::TCP_DST),
            (id::UDP_SRC, id::UDP_DST),
            (id::SCTP_SRC, id::SCTP_DST),
        ] {
            dec16(&mut s, "tp_src", sf, 0xffff);
            dec16(&mut s, "tp_dst", df, 0xffff);
        }
    }
    let (tv, tm) = m.get(id::TCP_FLAGS);
    if tm != 0 {
        let _ = write!(
            s,
            "tcp_flags={},",
            flags_masked(&TCP_FLAGS, tv as u32, tm as u32 & 0xfff)
        );
    }
    if s.ends_with(',') {
        s.pop();
    }
    s
}

fn field_value(f: usize, v: u128) -> String {
    match f {
        id::ETH_SRC | id::ETH_DST | id::ARP_SHA | id::ARP_THA | id::ND_SLL | id::ND_TLL => {
            mac(&v.to_be_bytes()[10..])
        }
        id::IP_SRC | id::IP_DST | id::ARP_SPA | id::ARP_TPA | id::TUN_SRC | id::TUN_DST => {
            ip4(v as u32)
        }
        id::IPV6_SRC | id::IPV6_DST | id::ND_TARGET => ip6(v),
        // Decimal in ovs-ofctl's syntax despite its width.
        id::MPLS_LABEL => v.to_string(),
        _ if FIELDS[f].width <= 2 && !FIELDS[f].name.starts_with("reg") => v.to_string(),
        _ => format!("{v:#x}"),
    }
}

/// The NXM/OXM name ovs-ofctl uses in load/move (e.g. NXM_NX_REG0).
fn nxm_name(f: usize) -> String {
    FIELDS[f].header_name.to_string()
}

/// `n` bits of field `f` from bit `ofs` on, as stock writes a subfield:
/// `NAME[]` for the whole field, `NAME[ofs]` for one bit, else
/// `NAME[ofs..last]`.
/// `write_metadata:VALUE[/MASK]` as stock writes it (C's "%#x": zero is
/// "0", not "0x0"; no mask when all ones).
pub fn write_metadata_text(value: u64, mask: u64) -> String {
    let hex = |v: u64| {
        if v == 0 {
            "0".to_string()
        } else {
            format!("{v:#x}")
        }
    };
    if mask == u64::MAX {
        format!("write_metadata:{}", hex(value))
    } else {
        format!("write_metadata:{}/{}", hex(value), hex(mask))
    }
}

/// Packet-in reasons by number (OFPR_*), as actions name them.
pub const PACKET_IN_REASONS: [&str; 6] = [
    "no_match",
    "action",
    "invalid_ttl",
    "action_set",
    "group",
    "packet_out",
];

fn format_subfield(f: usize, ofs: u16, n: u16, s: &mut String) {
    let name = nxm_name(f);
    let _ = if ofs == 0 && n as u32 == FIELDS[f].bits as u32 {
        write!(s, "{name}[]")
    } else if n == 1 {
        write!(s, "{name}[{ofs}]")
    } else {
        write!(s, "{name}[{ofs}..{}]", ofs + n - 1)
    };
}

fn format_action(a: &Action, s: &mut String) {
    match a {
        Action::Output { port: p, max_len } => {
            if *p == port::CONTROLLER {
                let _ = write!(s, "CONTROLLER:{max_len}");
            } else if *p >= port::MAX {
                s.push_str(&port_name(*p));
            } else {
                let _ = write!(s, "output:{p}");
            }
        }
        Action::Enqueue { port: p, queue } => {
            let _ = write!(s, "enqueue:{}:{queue}", port_name(*p));
        }
        Action::SetVlanVid(v) => {
            let _ = write!(s, "mod_vlan_vid:{v}");
        }
        Action::SetVlanPcp(v) => {
            let _ = write!(s, "mod_vlan_pcp:{v}");
        }
        Action::StripVlan => s.push_str("strip_vlan"),
        Action::PushVlan(e) => {
            let _ = write!(s, "push_vlan:{e:#06x}");
        }
        Action::SetEthSrc(m) => {
            let _ = write!(s, "mod_dl_src:{}", mac(m));
        }
        Action::SetEthDst(m) => {
            let _ = write!(s, "mod_dl_dst:{}", mac(m));
        }
        Action::SetIpv4Src(v) => {
            let _ = write!(s, "mod_nw_src:{}", ip4(*v));
        }
        Action::SetIpv4Dst(v) => {
            let _ = write!(s, "mod_nw_dst:{}", ip4(*v));
        }
        Action::SetIpDscp(v) => {
            let _ = write!(s, "mod_nw_tos:{v}");
        }
        Action::SetIpEcn(v) => {
            let _ = write!(s, "mod_nw_ecn:{v}");
        }
        Action::SetL4Src(v) => {
            let _ = write!(s, "mod_tp_src:{v}");
        }
        Action::SetL4Dst(v) => {
            let _ = write!(s, "mod_tp_dst:{v}");
        }
        Action::SetIpTtl(v) => {
            let _ = write!(s, "mod_nw_ttl:{v}");
        }
        Action::DecTtl => s.push_str("dec_ttl"),
        Action::SetMplsLabel(v) => {
            let _ = write!(s, "set_mpls_label({v})");
        }
        Action::SetMplsTc(v) => {
            let _ = write!(s, "set_mpls_tc({v})");
        }
        Action::SetMplsTtl(v) => {
            let _ = write!(s, "set_mpls_ttl({v})");
        }
        Action::DecMplsTtl => s.push_str("dec_mpls_ttl"),
        Action::PushMpls(e) => {
            let _ = write!(s, "push_mpls:{e:#06x}");
        }
        Action::PopMpls(e) => {
            let _ = write!(s, "pop_mpls:{e:#06x}");
        }
        Action::SetQueue(q) => {
            let _ = write!(s, "set_queue:{q}");
        }
        Action::Group(g) => {
            let _ = write!(s, "group:{g}");
        }
        Action::Meter(m) => {
            let _ = write!(s, "meter:{m}");
        }
        Action::SetField {
            field,
            value,
            mask,
            raw,
        } => {
            let full = if FIELDS[*field].width >= 16 {
                u128::MAX
            } else {
                (1u128 << (FIELDS[*field].width * 8)) - 1
            };
            if *raw == SetFieldRaw::Tunnel {
                let _ = write!(s, "set_tunnel:{value:#x}");
            } else if *raw == SetFieldRaw::Tunnel64 {
                let _ = write!(s, "set_tunnel64:{value:#x}");
            } else if *raw == SetFieldRaw::L4Port {
                let dir = if matches!(*field, id::TCP_SRC | id::UDP_SRC | id::SCTP_SRC) {
                    "src"
                } else {
                    "dst"
                };
                let _ = write!(s, "mod_tp_{dir}:{value}");
            } else if *raw == SetFieldRaw::RegLoad {
                let lo = mask.trailing_zeros();
                let n = 128 - mask.leading_zeros() - lo;
                let whole = lo == 0 && n >= FIELDS[*field].bits as u32;
                let bits = if *mask == full || whole {
                    String::new()
                } else {
                    format!("{}..{}", lo, lo + n - 1)
                };
                let _ = write!(s, "load:{:#x}->{}[{bits}]", value >> lo, nxm_name(*field));
            } else if *mask == full {
                let _ = write!(
                    s,
                    "set_field:{}->{}",
                    field_value(*field, *value),
                    FIELDS[*field].name
                );
            } else {
                let _ = write!(s, "set_field:{value:#x}/{mask:#x}->{}", FIELDS[*field].name);
            }
        }
        Action::Move {
            src,
            dst,
            src_ofs,
            dst_ofs,
            n_bits,
        } => {
            let sub = |f: usize, ofs: u16| {
                if ofs == 0 && *n_bits as u32 == FIELDS[f].width as u32 * 8 {
                    format!("{}[]", nxm_name(f))
                } else {
                    format!("{}[{}..{}]", nxm_name(f), ofs, ofs + n_bits - 1)
                }
            };
            let _ = write!(s, "move:{}->{}", sub(*src, *src_ofs), sub(*dst, *dst_ofs));
        }
        Action::NxNested {
            subtype, actions, ..
        } => {
            let name = if *subtype == 35 { "ct" } else { "clone" };
            let _ = write!(s, "{name}(");
            format_list(actions, s);
            s.push(')');
        }
        Action::Nx { subtype, bytes } => format_nx(*subtype, bytes, s),
    }
}

fn format_nx(subtype: u16, b: &[u8], s: &mut String) {
    let u16at = |i: usize| {
        b.get(i..i + 2)
            .map_or(0, |x| u16::from_be_bytes([x[0], x[1]]))
    };
    match subtype {
        1 => {
            let _ = write!(s, "resubmit:{}", port_name(u16at(10)));
        }
        14 | 44 => {
            let p = u16at(10);
            let t = b.get(12).copied().unwrap_or(255);
            let ps = if p == port::IN_PORT {
                String::new()
            } else {
                port_name(p)
            };
            let ts = if t == 255 {
                String::new()
            } else {
                t.to_string()
            };
            let ct = if subtype == 44 { ",ct" } else { "" };
            // As stock prints it: the short form whenever it says it all.
            if p != port::IN_PORT && t == 255 && subtype == 14 {
                let _ = write!(s, "resubmit:{ps}");
            } else {
                let _ = write!(s, "resubmit({ps},{ts}{ct})");
            }
        }
        8 => {
            let note: Vec<String> = b
                .get(10..)
                .unwrap_or(&[])
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            let _ = write!(s, "note:{}", note.join("."));
        }
        5 => s.push_str("pop_queue"),
        27 | 28 => {
            let verb = if subtype == 27 { "push" } else { "pop" };
            match super::actions::stack_subfield(b) {
                Some((f, ofs, n)) => {
                    let _ = write!(s, "{verb}:");
                    format_subfield(f, ofs, n, s);
                }
                None => {
                    let _ = write!(s, "nx_action({subtype})");
                }
            }
        }
        21 => match super::actions::dec_ttl_ids(b) {
            Ok(ids) => {
                let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
                let _ = write!(s, "dec_ttl({})", ids.join(","));
            }
            Err(_) => {
                let _ = write!(s, "nx_action({subtype})");
            }
        },
        22 => match super::actions::write_metadata(b) {
            Ok((v, m)) => s.push_str(&write_metadata_text(v, m)),
            Err(_) => {
                let _ = write!(s, "nx_action({subtype})");
            }
        },
        39 => match super::actions::output_trunc(b) {
            Ok(t) => {
                let _ = write!(
                    s,
                    "output(port={},max_len={})",
                    port_name(t.port),
                    t.max_len
                );
            }
            Err(_) => {
                let _ = write!(s, "nx_action({subtype})");
            }
        },
        15 | 32 => match super::actions::output_reg(b) {
            Ok(o) => {
                s.push_str("output:");
                format_subfield(o.field, o.ofs, o.n_bits, s);
            }
            Err(_) => {
                let _ = write!(s, "nx_action({subtype})");
            }
        },
        49 => match super::actions::check_pkt_larger(b) {
            Ok(c) => {
                let _ = write!(s, "check_pkt_larger({})->", c.pkt_len);
                format_subfield(c.field, c.ofs, 1, s);
            }
            Err(_) => {
                let _ = write!(s, "nx_action({subtype})");
            }
        },
        17 => s.push_str("exit"),
        20 => {
            // max_len, controller id, reason.
            let (max_len, id, reason) = (u16at(10), u16at(12), b.get(14).copied().unwrap_or(0));
            if id == 0 && reason == 1 {
                let _ = write!(s, "CONTROLLER:{max_len}");
            } else {
                let reasons = PACKET_IN_REASONS;
                let mut parts = Vec::new();
                if reason != 1 {
                    parts.push(format!(
                        "reason={}",
                        reasons.get(reason as usize).copied().unwrap_or("?")
                    ));
                }
                if max_len != u16::MAX {
                    parts.push(format!("max_len={max_len}"));
                }
                if id != 0 {
                    parts.push(format!("id={id}"));
                }
                let _ = write!(s, "controller({})", parts.join(","));
            }
        }
        43 => s.push_str("ct_clear"),
        _ => {
            let _ = write!(s, "nx_action({subtype})");
        }
    }
}

fn format_list(acts: &[Action], s: &mut String) {
    for (i, a) in acts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        format_action(a, s);
    }
}

/// Formats a rule's instructions as ovs-ofctl prints its actions.
pub fn format_instructions(ins: &Instructions) -> String {
    let mut parts = Vec::new();
    if let Some(m) = ins.meter {
        parts.push(format!("meter:{m}"));
    }
    if !ins.apply.is_empty() {
        let mut s = String::new();
        format_list(&ins.apply, &mut s);
        parts.push(s);
    }
    if ins.clear {
        parts.push("clear_actions".into());
    }
    if let Some(w) = &ins.write {
        let mut s = String::from("write_actions(");
        format_list(w, &mut s);
        s.push(')');
        parts.push(s);
    }
    if let Some((v, m)) = ins.write_metadata {
        parts.push(write_metadata_text(v, m));
    }
    if let Some(t) = ins.goto_table {
        parts.push(format!("goto_table:{t}"));
    }
    if parts.is_empty() {
        "drop".into()
    } else {
        parts.join(",")
    }
}

/// One action as ovs-ofctl prints it (and `ofproto/trace` lists it).
pub fn action_text(a: &Action) -> String {
    let mut s = String::new();
    format_action(a, &mut s);
    s
}
