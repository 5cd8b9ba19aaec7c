//! `dpctl/dump-flows filter=...`: an exact OpenFlow-style match
//! (`field=value` or `field(value)`, protocol shorthands like `ip` and
//! `tcp`), worded and judged as stock's `parse_ofp_exact_flow`: a flow
//! passes when, on every field the filter sets, the filter's value under
//! the flow's mask equals the flow's key. A field the flow wildcards thus
//! never excludes it.
//!
//! The fields are those a datapath flow answers directly: in_port,
//! Ethernet addresses and type, IPv4/IPv6 addresses and protocol, L4
//! ports.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ferrovs_dpif::odp::{Key, KeyAttr};
use ferrovs_dpif::DpFlow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    InPort,
    DlSrc,
    DlDst,
    DlType,
    NwSrc,
    NwDst,
    Ipv6Src,
    Ipv6Dst,
    NwProto,
    TpSrc,
    TpDst,
}

impl Field {
    fn from_name(n: &str) -> Option<Field> {
        Some(match n {
            "in_port" => Field::InPort,
            "dl_src" | "eth_src" => Field::DlSrc,
            "dl_dst" | "eth_dst" => Field::DlDst,
            "dl_type" | "eth_type" => Field::DlType,
            "nw_src" | "ip_src" => Field::NwSrc,
            "nw_dst" | "ip_dst" => Field::NwDst,
            "ipv6_src" => Field::Ipv6Src,
            "ipv6_dst" => Field::Ipv6Dst,
            "nw_proto" | "ip_proto" => Field::NwProto,
            "tp_src" | "tcp_src" | "udp_src" | "sctp_src" => Field::TpSrc,
            "tp_dst" | "tcp_dst" | "udp_dst" | "sctp_dst" => Field::TpDst,
            _ => return None,
        })
    }
}

/// `(Ethernet type, IP protocol)` of a protocol shorthand.
fn protocol(n: &str) -> Option<(u16, u8)> {
    Some(match n {
        "ip" | "ipv4" => (0x0800, 0),
        "ipv6" => (0x86dd, 0),
        "arp" => (0x0806, 0),
        "rarp" => (0x8035, 0),
        "icmp" => (0x0800, 1),
        "icmp6" => (0x86dd, 58),
        "tcp" => (0x0800, 6),
        "tcp6" => (0x86dd, 6),
        "udp" => (0x0800, 17),
        "udp6" => (0x86dd, 17),
        "sctp" => (0x0800, 132),
        "sctp6" => (0x86dd, 132),
        _ => return None,
    })
}

pub struct Filter {
    fields: Vec<(Field, u128)>,
}

/// Splits `a=1,b(2),c` into (key, value) pairs, values possibly empty.
fn key_values(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let end = rest.find([',', '=', '(', ' ', '\t']).unwrap_or(rest.len());
        let key = rest[..end].to_string();
        rest = &rest[end..];
        let value = if let Some(r) = rest.strip_prefix('=') {
            let e = r.find([',', ' ', '\t']).unwrap_or(r.len());
            let v = r[..e].to_string();
            rest = &r[e..];
            v
        } else if let Some(r) = rest.strip_prefix('(') {
            let e = r.find(')').unwrap_or(r.len());
            let v = r[..e].to_string();
            rest = r.get(e + 1..).unwrap_or("");
            v
        } else {
            String::new()
        };
        out.push((key, value));
    }
    out
}

fn parse_mac(v: &str) -> Option<u128> {
    let mut n: u128 = 0;
    let mut parts = 0;
    for p in v.split(':') {
        n = (n << 8) | u128::from(u8::from_str_radix(p, 16).ok()?);
        parts += 1;
    }
    (parts == 6).then_some(n)
}

fn parse_int(v: &str) -> Option<u128> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

impl Filter {
    /// Parses a filter; `ports` maps port names for `in_port`. Errors are
    /// stock's texts.
    pub fn parse(s: &str, ports: &HashMap<String, u32>) -> Result<Filter, String> {
        let mut fields: Vec<(Field, u128)> = Vec::new();
        let has = |fields: &Vec<(Field, u128)>, f: Field| fields.iter().any(|(x, _)| *x == f);
        let get = |fields: &Vec<(Field, u128)>, f: Field| {
            fields.iter().find(|(x, _)| *x == f).map(|(_, v)| *v)
        };
        for (key, value) in key_values(s) {
            if let Some((dl_type, proto)) = protocol(&key) {
                if has(&fields, Field::DlType) {
                    return Err(format!("{s}: Ethernet type set multiple times"));
                }
                fields.push((Field::DlType, u128::from(dl_type)));
                if proto != 0 {
                    if has(&fields, Field::NwProto) {
                        return Err(format!("{s}: network protocol set multiple times"));
                    }
                    fields.push((Field::NwProto, u128::from(proto)));
                }
                continue;
            }
            let Some(field) = Field::from_name(&key) else {
                return Err(format!("{s}: unknown field {key}"));
            };
            let dl_type = get(&fields, Field::DlType);
            let proto = get(&fields, Field::NwProto);
            let prereqs = match field {
                Field::NwSrc | Field::NwDst => dl_type == Some(0x0800),
                Field::Ipv6Src | Field::Ipv6Dst => dl_type == Some(0x86dd),
                Field::NwProto => matches!(dl_type, Some(0x0800 | 0x86dd)),
                Field::TpSrc | Field::TpDst => {
                    matches!(dl_type, Some(0x0800 | 0x86dd)) && matches!(proto, Some(6 | 17 | 132))
                }
                _ => true,
            };
            if !prereqs {
                return Err(format!("{s}: prerequisites not met for setting {key}"));
            }
            if has(&fields, field) {
                return Err(format!("{s}: field {key} set multiple times"));
            }
            let v = match field {
                Field::InPort => parse_int(&value)
                    .filter(|n| *n < 0xff00)
                    .or_else(|| ports.get(&value).map(|p| u128::from(*p)))
                    .ok_or_else(|| format!("{value}: invalid or unknown port for in_port")),
                Field::DlSrc | Field::DlDst => {
                    parse_mac(&value).ok_or_else(|| format!("{value}: invalid Ethernet address"))
                }
                Field::DlType | Field::TpSrc | Field::TpDst => parse_int(&value)
                    .filter(|n| *n <= 0xffff)
                    .ok_or_else(|| format!("{value}: invalid value for {key}")),
                Field::NwProto => parse_int(&value)
                    .filter(|n| *n <= 0xff)
                    .ok_or_else(|| format!("{value}: invalid value for {key}")),
                Field::NwSrc | Field::NwDst => value
                    .parse::<Ipv4Addr>()
                    .map(|a| u128::from(u32::from(a)))
                    .map_err(|_| format!("{value}: invalid IP address")),
                Field::Ipv6Src | Field::Ipv6Dst => value
                    .parse::<Ipv6Addr>()
                    .map(u128::from)
                    .map_err(|_| format!("{value}: invalid IPv6 address")),
            }
            .map_err(|e| format!("{s}: bad value for {key} ({e})"))?;
            fields.push((field, v));
        }
        Ok(Filter { fields })
    }

    /// Whether flow `f` passes.
    pub fn matches(&self, f: &DpFlow) -> bool {
        let Ok(k) = Key::from_nlattrs(&f.key) else {
            return false;
        };
        // An empty mask means every attribute of the key is exact.
        let m = if f.mask.is_empty() {
            None
        } else {
            match Key::from_nlattrs(&f.mask) {
                Ok(m) => Some(m),
                Err(_) => return false,
            }
        };
        self.fields.iter().all(|(field, want)| {
            let key = value_of(&k.attrs, *field);
            let mask = match &m {
                None => key.map(|_| u128::MAX),
                Some(m) => value_of(&m.attrs, *field),
            };
            match (key, mask) {
                (Some(kv), Some(mv)) => want & mv == kv & mv,
                // Not in the flow: wildcarded.
                _ => true,
            }
        })
    }
}

/// The value of `field` in key (or mask) attributes, if present.
fn value_of(attrs: &[KeyAttr], field: Field) -> Option<u128> {
    let mac = |m: [u8; 6]| m.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b));
    attrs.iter().find_map(|a| match (field, a) {
        (Field::InPort, KeyAttr::InPort(p)) => Some(u128::from(*p)),
        (Field::DlSrc, KeyAttr::Ethernet(e)) => Some(mac(e.src)),
        (Field::DlDst, KeyAttr::Ethernet(e)) => Some(mac(e.dst)),
        (Field::DlType, KeyAttr::Ethertype(t)) => Some(u128::from(*t)),
        (Field::NwSrc, KeyAttr::Ipv4(i)) => Some(u128::from(u32::from(i.src))),
        (Field::NwDst, KeyAttr::Ipv4(i)) => Some(u128::from(u32::from(i.dst))),
        (Field::Ipv6Src, KeyAttr::Ipv6(i)) => Some(u128::from(i.src)),
        (Field::Ipv6Dst, KeyAttr::Ipv6(i)) => Some(u128::from(i.dst)),
        (Field::NwProto, KeyAttr::Ipv4(i)) => Some(u128::from(i.proto)),
        (Field::NwProto, KeyAttr::Ipv6(i)) => Some(u128::from(i.proto)),
        (Field::TpSrc, KeyAttr::Tcp(p) | KeyAttr::Udp(p) | KeyAttr::Sctp(p)) => {
            Some(u128::from(p.src))
        }
        (Field::TpDst, KeyAttr::Tcp(p) | KeyAttr::Udp(p) | KeyAttr::Sctp(p)) => {
            Some(u128::from(p.dst))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_stock() {
        let ports = HashMap::from([("p1".to_string(), 1)]);
        assert!(Filter::parse("in_port=1", &ports).is_ok());
        assert!(Filter::parse("in_port(p1),ip,nw_src=10.0.0.1", &ports).is_ok());
        assert_eq!(
            Filter::parse("nosuch=1", &ports).err().unwrap(),
            "nosuch=1: unknown field nosuch"
        );
        assert_eq!(
            Filter::parse("in_port=zz", &ports).err().unwrap(),
            "in_port=zz: bad value for in_port (zz: invalid or unknown port for in_port)"
        );
        assert_eq!(
            Filter::parse("nw_src=1.1.1.1", &ports).err().unwrap(),
            "nw_src=1.1.1.1: prerequisites not met for setting nw_src"
        );
        assert_eq!(
            Filter::parse("ip,arp", &ports).err().unwrap(),
            "ip,arp: Ethernet type set multiple times"
        );
    }
}
