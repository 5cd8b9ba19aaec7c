//! Flows as `ofproto/trace` reads and prints them: the OpenFlow syntax
//! (`in_port=1,tcp,nw_dst=10.0.0.1`, every field not named is zero), the
//! datapath syntax (`in_port(1),eth(...),eth_type(0x0800),ipv4(...)`),
//! and the `Flow:` line.

use super::{frange, put_be};
use crate::openflow::fields::{by_name, eth_type, id, range, Match, FIELDS, KEY_LEN, VLAN_CFI};
use crate::openflow::text::format_match;
use ferrovs_dpif::odp::{Key, KeyAttr};
use std::collections::HashMap;

pub type FlowKey = [u8; KEY_LEN];

fn set(k: &mut FlowKey, f: usize, v: u128) {
    put_be(&mut k[frange(f)], v);
}

fn get(k: &FlowKey, f: usize) -> u128 {
    super::be(&k[frange(f)])
}

/// Names ovs-ofctl accepts besides the canonical field names.
fn alias(name: &str) -> Option<usize> {
    Some(match name {
        "dl_src" => id::ETH_SRC,
        "dl_dst" => id::ETH_DST,
        "dl_type" => id::ETH_TYPE,
        "nw_src" => id::IP_SRC,
        "nw_dst" => id::IP_DST,
        "nw_proto" | "ip_proto" => id::NW_PROTO,
        "nw_ttl" => id::NW_TTL,
        "nw_tos" => id::NW_TOS,
        "nw_ecn" | "ip_ecn" => id::NW_ECN,
        "nw_frag" | "ip_frag" => id::IP_FRAG,
        "arp_op" => id::ARP_OP,
        _ => return None,
    })
}

fn parse_u128(s: &str) -> Option<u128> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_mac(s: &str) -> Option<u128> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    parts.iter().try_fold(0u128, |a, p| {
        u8::from_str_radix(p, 16).ok().map(|b| (a << 8) | b as u128)
    })
}

fn is_mac_field(f: usize) -> bool {
    matches!(
        f,
        id::ETH_SRC | id::ETH_DST | id::ARP_SHA | id::ARP_THA | id::ND_SLL | id::ND_TLL
    )
}

fn is_ip4_field(f: usize) -> bool {
    matches!(
        f,
        id::IP_SRC | id::IP_DST | id::ARP_SPA | id::ARP_TPA | id::TUN_SRC | id::TUN_DST
    )
}

fn field_value(f: usize, v: &str, port_names: &HashMap<String, u16>) -> Result<u128, String> {
    let bad = || format!("{v}: bad value for field {}", FIELDS[f].name);
    if f == id::IN_PORT {
        return match v {
            "LOCAL" => Ok(0xfffe),
            "IN_PORT" => Ok(0xfff8),
            "CONTROLLER" => Ok(0xfffd),
            _ => parse_u128(v)
                .or_else(|| port_names.get(v).map(|&p| p as u128))
                .ok_or_else(|| format!("{v}: unknown port")),
        };
    }
    if f == id::IP_FRAG {
        return match v {
            "no" => Ok(0),
            "first" | "yes" => Ok(1),
            "later" => Ok(3),
            _ => Err(bad()),
        };
    }
    if is_mac_field(f) {
        return parse_mac(v).ok_or_else(bad);
    }
    if is_ip4_field(f) {
        return v
            .parse::<std::net::Ipv4Addr>()
            .map(|a| u32::from(a) as u128)
            .map_err(|_| bad());
    }
    if matches!(f, id::IPV6_SRC | id::IPV6_DST | id::ND_TARGET) {
        return v
            .parse::<std::net::Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| bad());
    }
    parse_u128(v).ok_or_else(bad)
}

/// Parses an OpenFlow-syntax flow into a key: fields not named are zero.
pub fn parse_of_flow(s: &str, port_names: &HashMap<String, u16>) -> Result<Box<FlowKey>, String> {
    let mut k = Box::new([0u8; KEY_LEN]);
    // Prerequisites are checked against what was given so far, as stock.
    let mut given = Match::catchall();
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (et, proto) = match item {
            "eth" => continue,
            "ip" => (eth_type::IP, None),
            "ipv6" => (eth_type::IPV6, None),
            "arp" => (eth_type::ARP, None),
            "rarp" => (eth_type::RARP, None),
            "icmp" => (eth_type::IP, Some(1)),
            "tcp" => (eth_type::IP, Some(6)),
            "udp" => (eth_type::IP, Some(17)),
            "sctp" => (eth_type::IP, Some(132)),
            "icmp6" => (eth_type::IPV6, Some(58)),
            "tcp6" => (eth_type::IPV6, Some(6)),
            "udp6" => (eth_type::IPV6, Some(17)),
            "sctp6" => (eth_type::IPV6, Some(132)),
            "mpls" => (eth_type::MPLS, None),
            "mplsm" => (eth_type::MPLS_MCAST, None),
            _ => {
                let (name, value) = item
                    .split_once('=')
                    .or_else(|| item.split_once(':'))
                    .ok_or_else(|| format!("unknown field {item}"))?;
                let f = parse_field_name(name, &given)?;
                let v = field_value(f, value, port_names)?;
                if !given.prereq_ok(FIELDS[f].prereq) {
                    return Err(format!("prerequisites not met for setting {name}"));
                }
                assign(&mut k, &mut given, f, v)?;
                continue;
            }
        };
        set(&mut k, id::ETH_TYPE, et as u128);
        given.set_exact(id::ETH_TYPE, et as u128);
        if let Some(p) = proto {
            set(&mut k, id::NW_PROTO, p);
            given.set_exact(id::NW_PROTO, p);
        }
    }
    Ok(k)
}

fn parse_field_name(name: &str, given: &Match) -> Result<usize, String> {
    let transport = |src: bool| match given.nw_proto() {
        17 => Some(if src { id::UDP_SRC } else { id::UDP_DST }),
        132 => Some(if src { id::SCTP_SRC } else { id::SCTP_DST }),
        1 if src => Some(id::ICMP_TYPE),
        1 => Some(id::ICMP_CODE),
        _ => Some(if src { id::TCP_SRC } else { id::TCP_DST }),
    };
    // As in stock, tp_src and tp_dst are other names of tcp_src and
    // tcp_dst (UDP ports are udp_src/udp_dst).
    let _ = transport;
    let f = match name {
        "tp_src" => Some(id::TCP_SRC),
        "tp_dst" => Some(id::TCP_DST),
        _ => alias(name).or_else(|| by_name(name)),
    };
    f.ok_or_else(|| format!("unknown field {name}"))
}

fn assign(k: &mut FlowKey, given: &mut Match, f: usize, v: u128) -> Result<(), String> {
    let (f, v) = match f {
        x if x == id::VLAN_VID => (id::VLAN_TCI, (get(k, id::VLAN_TCI) & 0xe000) | (v & 0x1fff)),
        x if x == id::DL_VLAN => (
            id::VLAN_TCI,
            (get(k, id::VLAN_TCI) & 0xe000) | (v & 0xfff) | VLAN_CFI as u128,
        ),
        x if x == id::VLAN_PCP || x == id::DL_VLAN_PCP => (
            id::VLAN_TCI,
            (get(k, id::VLAN_TCI) & 0x1fff) | ((v & 7) << 13) | VLAN_CFI as u128,
        ),
        x if x == id::IP_DSCP => (id::NW_TOS, (v & 0x3f) << 2),
        x if x == id::NW_TOS => (id::NW_TOS, v & 0xfc),
        x if x == id::IN_PORT_OXM => (id::IN_PORT, v),
        x => (x, v),
    };
    if frange(f).is_empty() {
        return Err(format!("{}: field not supported here", FIELDS[f].name));
    }
    set(k, f, v);
    if FIELDS[f].alias {
        return Ok(());
    }
    given.set_exact(f, v);
    Ok(())
}

/// Converts a datapath flow key into a flow key; `ofports` maps datapath
/// port numbers to OpenFlow ones.
pub fn from_odp(key: &Key, ofports: &HashMap<u32, u16>) -> Result<Box<FlowKey>, String> {
    from_odp_with(key, |p| ofports.get(&p).copied())
}

/// [`from_odp`] with `ofport` giving the OpenFlow port of a datapath
/// port (so that an upcall needs no reversed port map).
pub fn from_odp_with(
    key: &Key,
    ofport: impl Fn(u32) -> Option<u16>,
) -> Result<Box<FlowKey>, String> {
    let mut k = Box::new([0u8; KEY_LEN]);
    from_odp_into(key, ofport, &mut k)?;
    Ok(k)
}

/// [`from_odp_with`] into `k` (all zero on entry), which the caller may
/// keep on its stack: an upcall's translation allocates no key.
pub fn from_odp_into(
    key: &Key,
    ofport: impl Fn(u32) -> Option<u16>,
    k: &mut FlowKey,
) -> Result<(), String> {
    attrs_into(&key.attrs, &ofport, k)
}

/// Sets the fields of `attrs` in `k`, then those of the encapsulated
/// headers (an 802.1Q frame keeps its inner headers in an encap
/// attribute): the outer attributes first, as the inner ones (the
/// Ethernet type, the transport ports) are read against them.
fn attrs_into(
    attrs: &[KeyAttr],
    ofport: &impl Fn(u32) -> Option<u16>,
    k: &mut FlowKey,
) -> Result<(), String> {
    let l4 = |proto: u128| match proto {
        6 => (id::TCP_SRC, id::TCP_DST),
        17 => (id::UDP_SRC, id::UDP_DST),
        _ => (id::SCTP_SRC, id::SCTP_DST),
    };
    for a in attrs {
        let k = &mut *k;
        match a {
            KeyAttr::InPort(p) => {
                let of =
                    ofport(*p).ok_or_else(|| "no OpenFlow port for datapath port".to_string())?;
                set(k, id::IN_PORT, of as u128);
            }
            KeyAttr::Ethernet(e) => {
                set(k, id::ETH_SRC, super::be(&e.src));
                set(k, id::ETH_DST, super::be(&e.dst));
            }
            KeyAttr::Vlan(tci) => set(k, id::VLAN_TCI, *tci as u128),
            // The outer 802.1Q type of a tagged frame: the encapsulated
            // type follows.
            KeyAttr::Ethertype(t) if *t != eth_type::VLAN => {
                set(k, id::ETH_TYPE, *t as u128);
            }
            KeyAttr::Ipv4(ip) => {
                set(k, id::IP_SRC, u32::from(ip.src) as u128);
                set(k, id::IP_DST, u32::from(ip.dst) as u128);
                set(k, id::NW_PROTO, ip.proto as u128);
                set(k, id::NW_TOS, (ip.tos & 0xfc) as u128);
                set(k, id::NW_ECN, (ip.tos & 3) as u128);
                set(k, id::NW_TTL, ip.ttl as u128);
                let frag = match ip.frag {
                    1 => 1,
                    2 => 3,
                    _ => 0,
                };
                set(k, id::IP_FRAG, frag);
            }
            KeyAttr::Tcp(p) | KeyAttr::Udp(p) | KeyAttr::Sctp(p) => {
                let (sf, df) = l4(get(k, id::NW_PROTO));
                set(k, sf, p.src as u128);
                set(k, df, p.dst as u128);
            }
            KeyAttr::Ipv6(ip) => {
                set(k, id::IPV6_SRC, u128::from(ip.src));
                set(k, id::IPV6_DST, u128::from(ip.dst));
                set(k, id::IPV6_LABEL, ip.label as u128);
                set(k, id::NW_PROTO, ip.proto as u128);
                set(k, id::NW_TOS, (ip.tclass & 0xfc) as u128);
                set(k, id::NW_ECN, (ip.tclass & 3) as u128);
                set(k, id::NW_TTL, ip.hlimit as u128);
                let frag = match ip.frag {
                    1 => 1,
                    2 => 3,
                    _ => 0,
                };
                set(k, id::IP_FRAG, frag);
            }
            KeyAttr::Icmpv6(i) => {
                set(k, id::ICMPV6_TYPE, i.icmp_type as u128);
                set(k, id::ICMPV6_CODE, i.code as u128);
            }
            KeyAttr::Nd(nd) => {
                set(k, id::ND_TARGET, u128::from(nd.target));
                set(k, id::ND_SLL, super::be(&nd.sll));
                set(k, id::ND_TLL, super::be(&nd.tll));
            }
            KeyAttr::TcpFlags(f) => set(k, id::TCP_FLAGS, *f as u128),
            KeyAttr::Icmp(i) => {
                set(k, id::ICMP_TYPE, i.icmp_type as u128);
                set(k, id::ICMP_CODE, i.code as u128);
            }
            KeyAttr::Arp(arp) => {
                set(k, id::ARP_SPA, u32::from(arp.sip) as u128);
                set(k, id::ARP_TPA, u32::from(arp.tip) as u128);
                set(k, id::ARP_OP, arp.op as u128);
                set(k, id::ARP_SHA, super::be(&arp.sha));
                set(k, id::ARP_THA, super::be(&arp.tha));
            }
            KeyAttr::SkbMark(m) => set(k, id::PKT_MARK, *m as u128),
            KeyAttr::RecircId(r) => set(k, id::RECIRC_ID, *r as u128),
            KeyAttr::DpHash(h) => set(k, id::DP_HASH, *h as u128),
            KeyAttr::Mpls(lses) => {
                if let Some(&l) = lses.first() {
                    set(k, id::MPLS_LABEL, (l >> 12) as u128);
                    set(k, id::MPLS_TC, ((l >> 9) & 7) as u128);
                    set(k, id::MPLS_BOS, ((l >> 8) & 1) as u128);
                    set(k, id::MPLS_TTL, (l & 0xff) as u128);
                }
            }
            KeyAttr::CtState(v) => set(k, id::CT_STATE, *v as u128),
            KeyAttr::CtZone(v) => set(k, id::CT_ZONE, *v as u128),
            KeyAttr::CtMark(v) => set(k, id::CT_MARK, *v as u128),
            KeyAttr::CtLabels(v) => set(k, id::CT_LABEL, *v),
            KeyAttr::CtOrigTupleIpv4(t) => {
                set(k, id::CT_NW_SRC, u32::from(t.src) as u128);
                set(k, id::CT_NW_DST, u32::from(t.dst) as u128);
                set(k, id::CT_TP_SRC, t.src_port as u128);
                set(k, id::CT_TP_DST, t.dst_port as u128);
                set(k, id::CT_NW_PROTO, t.proto as u128);
            }
            _ => {}
        }
    }
    for a in attrs {
        if let KeyAttr::Encap(inner) = a {
            attrs_into(inner, ofport, k)?;
        }
    }
    Ok(())
}

/// The flow as `Flow:` and `Final flow:` print it: the packet's headers
/// in full, metadata only where it is not zero.
pub fn format_flow(k: &FlowKey, inner_vlan: u16) -> String {
    let mut m = Match::catchall();
    let mut exact = |f: usize| {
        let r = range(f);
        m.key[r.clone()].copy_from_slice(&k[r.clone()]);
        m.mask[r].fill(0xff);
    };
    for f in [
        id::IN_PORT,
        id::ETH_SRC,
        id::ETH_DST,
        id::ETH_TYPE,
        id::VLAN_TCI,
    ] {
        exact(f);
    }
    let et = get(k, id::ETH_TYPE) as u16;
    let proto = get(k, id::NW_PROTO) as u8;
    if et == eth_type::IP || et == eth_type::IPV6 {
        let (src, dst) = if et == eth_type::IP {
            (id::IP_SRC, id::IP_DST)
        } else {
            (id::IPV6_SRC, id::IPV6_DST)
        };
        for f in [
            src,
            dst,
            id::NW_PROTO,
            id::NW_TOS,
            id::NW_ECN,
            id::NW_TTL,
            id::IP_FRAG,
        ] {
            exact(f);
        }
        if et == eth_type::IPV6 {
            exact(id::IPV6_LABEL);
        }
        match proto {
            6 => {
                exact(id::TCP_SRC);
                exact(id::TCP_DST);
                exact(id::TCP_FLAGS);
            }
            17 => {
                exact(id::UDP_SRC);
                exact(id::UDP_DST);
            }
            132 => {
                exact(id::SCTP_SRC);
                exact(id::SCTP_DST);
            }
            1 if et == eth_type::IP => {
                exact(id::ICMP_TYPE);
                exact(id::ICMP_CODE);
            }
            58 => {
                exact(id::ICMPV6_TYPE);
                exact(id::ICMPV6_CODE);
            }
            _ => {}
        }
    } else if et == eth_type::MPLS || et == eth_type::MPLS_MCAST {
        for f in [id::MPLS_LABEL, id::MPLS_TC, id::MPLS_TTL, id::MPLS_BOS] {
            exact(f);
        }
    } else if et == eth_type::ARP || et == eth_type::RARP {
        for f in [
            id::ARP_SPA,
            id::ARP_TPA,
            id::ARP_OP,
            id::ARP_SHA,
            id::ARP_THA,
        ] {
            exact(f);
        }
    }
    let mut meta: Vec<usize> = vec![
        id::PKT_MARK,
        id::RECIRC_ID,
        id::DP_HASH,
        id::METADATA,
        id::SKB_PRIORITY,
        id::CT_STATE,
        id::CT_ZONE,
        id::CT_MARK,
        id::CT_LABEL,
    ];
    meta.extend(id::REG0..=id::REG15);
    for f in meta {
        if k[range(f)].iter().any(|&b| b != 0) {
            exact(f);
        }
    }
    // An exact tcp_flags prints as flag names joined by '|' ("0" for
    // none), not in the +flag-flag form of masked matches.
    let tcp_flags = m.is_set(id::TCP_FLAGS);
    m.clear(id::TCP_FLAGS);
    // The queue priority is no OpenFlow field: it goes after the leading
    // pkt_mark, recirc_id and dp_hash, as stock prints it.
    let prio = m
        .is_set(id::SKB_PRIORITY)
        .then(|| m.value(id::SKB_PRIORITY));
    m.clear(id::SKB_PRIORITY);
    let mut s = format_match(&m, 32768);
    if let Some(p) = prio {
        let mut at = 0;
        for part in s.split(',') {
            if !["pkt_mark=", "recirc_id=", "dp_hash="]
                .iter()
                .any(|lead| part.starts_with(lead))
            {
                break;
            }
            at += part.len() + 1;
        }
        s.insert_str(at.min(s.len()), &format!("skb_priority={p:#x},"));
    }
    // An exact ct_state prints as names joined by '|'.
    if let Some(at) = s.find("ct_state=") {
        let end = s[at..].find(',').map_or(s.len(), |e| at + e);
        let names = ct_state_text(get(k, id::CT_STATE) as u8);
        s.replace_range(at..end, &format!("ct_state={names}"));
    }
    // A recirculated flow names its packet type after the metadata.
    if get(k, id::RECIRC_ID) != 0 {
        s = insert_packet_type(&s);
    }
    // A tagged flow also shows the (absent) second tag.
    if get(k, id::VLAN_TCI) as u16 & VLAN_CFI != 0 {
        let inner = if inner_vlan & VLAN_CFI != 0 {
            format!(
                ",dl_vlan1={},dl_vlan_pcp1={},dl_src=",
                inner_vlan & 0xfff,
                inner_vlan >> 13
            )
        } else {
            format!(",vlan_tci1={inner_vlan:#06x},dl_src=")
        };
        s = s.replacen(",dl_src=", &inner, 1);
    }
    // Tunnel metadata goes before the input port, as stock prints it.
    let tunnel = super::tunnel::flow_text(k);
    if !tunnel.is_empty() {
        match s.find(",in_port=") {
            Some(at) => s.insert_str(at + 1, &tunnel),
            None if s.starts_with("in_port=") => s.insert_str(0, &tunnel),
            None => {}
        }
    }
    if tcp_flags {
        s.push_str(",tcp_flags=");
        s.push_str(&tcp_flags_text(get(k, id::TCP_FLAGS) as u16));
    }
    s
}

/// Puts `eth,` after the leading metadata fields of a formatted flow.
fn insert_packet_type(s: &str) -> String {
    const META: [&str; 9] = [
        "pkt_mark=",
        "recirc_id=",
        "dp_hash=",
        "skb_priority=",
        "ct_state=",
        "ct_zone=",
        "ct_mark=",
        "ct_label=",
        "ct_nw_",
    ];
    let mut at = 0;
    for part in s.split(',') {
        if !META.iter().any(|m| part.starts_with(m)) {
            break;
        }
        at += part.len() + 1;
    }
    let (head, tail) = s.split_at(at.min(s.len()));
    if tail.is_empty() {
        format!("{}eth", head)
    } else {
        format!("{head}eth,{tail}")
    }
}

fn ct_state_text(v: u8) -> String {
    const NAMES: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
    let names: Vec<&str> = (0..8)
        .filter(|i| v >> i & 1 == 1)
        .map(|i| NAMES[i])
        .collect();
    names.join("|")
}

fn tcp_flags_text(v: u16) -> String {
    const NAMES: [&str; 12] = [
        "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]",
    ];
    let names: Vec<&str> = (0..12)
        .filter(|i| v >> i & 1 == 1)
        .map(|i| NAMES[i])
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}
