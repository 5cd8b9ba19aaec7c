//! `ofproto/list-tunnels`: each tunnel port as translation matches
//! received packets to it (addresses, key, packet type, datapath port)
//! and the settings it sends with, in stock's words.
//!
//! Stock keeps tunnels in hash maps by how they match (a configured or
//! any source, a configured or flow destination, a configured or flow
//! key) and lists map by map; here each map's ports come in datapath
//! port order, not stock's hash order. A port whose match repeats an
//! earlier one is not listed (stock refuses to add it).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use crate::bridge::Bridges;

pub fn run(bridges: &Bridges) -> String {
    let mut rows: Vec<(usize, u32, u16, Tunnel)> = Vec::new();
    for br in bridges.bridges.values() {
        for i in br.ifaces.values() {
            if !matches!(i.iface_type.as_str(), "vxlan" | "geneve" | "gre") {
                continue;
            }
            let (Some(odp), Some(ofport)) = (i.odp_port, i.ofport) else {
                continue;
            };
            if let Some(t) = Tunnel::parse(&i.name, &i.iface_type, &i.options, odp) {
                rows.push((t.class(), odp, ofport, t));
            }
        }
    }
    rows.sort_by_key(|r| (r.0, r.1, r.2));
    let mut seen = Vec::new();
    let mut out = String::new();
    for (_, _, _, t) in rows {
        let m = t.match_text();
        if seen.contains(&m) {
            continue;
        }
        out.push_str(&t.format(&m));
        seen.push(m);
    }
    out
}

/// A key setting: none, `flow`, or a value.
#[derive(Clone, Copy, PartialEq)]
enum Key {
    Absent,
    Flow,
    Value(u64),
}

struct Tunnel {
    name: String,
    dp_type: String,
    odp: u32,
    /// `None`: the source is taken from the flow (`local_ip=flow`).
    src: Option<Option<IpAddr>>,
    /// `None`: the destination is taken from the flow.
    dst: Option<IpAddr>,
    in_key: Key,
    out_key: Key,
    pt_mode: &'static str,
    ttl: Option<u8>,
    tos: Option<u8>,
    df: bool,
    csum: bool,
}

impl Tunnel {
    /// The tunnel's settings, or `None` where stock would refuse the
    /// port (no destination, a packet type it cannot carry).
    fn parse(
        name: &str,
        dp_type: &str,
        opts: &BTreeMap<String, String>,
        odp: u32,
    ) -> Option<Tunnel> {
        let get = |k: &str| opts.get(k).map(String::as_str);
        let dst = match get("remote_ip")? {
            "flow" => None,
            ip => Some(ip.parse::<IpAddr>().ok()?),
        };
        let src = match get("local_ip") {
            Some("flow") => None,
            Some(ip) => Some(ip.parse::<IpAddr>().ok()),
            None => Some(None),
        };
        if src.is_none() && dst.is_some() {
            return None;
        }
        let key = |k: &str| match get(k).or_else(|| get("key")) {
            None => Key::Absent,
            Some("flow") => Key::Flow,
            Some(v) => Key::Value(strtoull(v)),
        };
        let pt_mode = match get("packet_type") {
            None | Some("legacy_l2") => "legacy_l2",
            Some("legacy_l3") if dp_type == "gre" => "legacy_l3",
            Some("ptap") => "ptap",
            Some(_) => return None,
        };
        let ttl = match get("ttl") {
            Some("inherit") => None,
            // A C int stored in a byte; 0 means the default.
            Some(v) => Some(match atoi(v) as u8 {
                0 => 64,
                t => t,
            }),
            None => Some(64),
        };
        let tos = match get("tos") {
            Some("inherit") => None,
            Some(v) => Some(parse_tos(v).unwrap_or(0)),
            None => Some(0),
        };
        Some(Tunnel {
            name: name.to_string(),
            dp_type: dp_type.to_string(),
            odp,
            src,
            dst,
            in_key: key("in_key"),
            out_key: key("out_key"),
            pt_mode,
            ttl,
            tos,
            df: get("df_default") != Some("false"),
            csum: get("csum") == Some("true"),
        })
    }

    /// Which of stock's maps the tunnel is in (the listing order).
    fn class(&self) -> usize {
        let ip_src = match self.src {
            None => 2,
            Some(Some(_)) => 0,
            Some(None) => 1,
        };
        6 * usize::from(self.in_key == Key::Flow) + 3 * usize::from(self.dst.is_none()) + ip_src
    }

    fn match_text(&self) -> String {
        let addr = |a: Option<IpAddr>| match a {
            Some(a) => a.to_string(),
            None => Ipv6Addr::UNSPECIFIED.to_string(),
        };
        let mut s = match (self.src, self.dst) {
            (Some(src), Some(dst)) => format!("{}->{}", addr(src), dst),
            (Some(src), None) => format!("{}->flow", addr(src)),
            (None, _) => "flow->flow".to_string(),
        };
        match self.in_key {
            Key::Flow => s.push_str(", key=flow"),
            Key::Value(v) => s.push_str(&format!(", key={}", hex(v))),
            Key::Absent => s.push_str(", key=0"),
        }
        s.push_str(&format!(", {}, dp port={}", self.pt_mode, self.odp));
        s
    }

    fn format(&self, m: &str) -> String {
        let mut s = format!("port {}: {} ({}: {m}", self.odp, self.name, self.dp_type);
        if self.out_key != self.in_key {
            s.push_str(&match self.out_key {
                Key::Absent => ", out_key=none".to_string(),
                Key::Flow => ", out_key=flow".to_string(),
                Key::Value(v) => format!(", out_key={}", hex(v)),
            });
        }
        match self.ttl {
            None => s.push_str(", ttl=inherit"),
            Some(t) => s.push_str(&format!(", ttl={t}")),
        }
        match self.tos {
            None => s.push_str(", tos=inherit"),
            Some(0) => {}
            Some(t) => s.push_str(&format!(", tos={t:#x}")),
        }
        if !self.df {
            s.push_str(", df=false");
        }
        if self.csum {
            s.push_str(", csum=true");
        }
        s.push_str(")\n");
        s
    }
}

/// C's `%#x`: `0` for zero, `0x...` otherwise.
fn hex(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// C's `strtoull(s, NULL, 0)`: leading white space, `0x` hex, `0` octal,
/// decimal otherwise; parsing stops at the first digit that does not
/// fit; too large saturates.
fn strtoull(s: &str) -> u64 {
    let s = s.trim_start();
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    u64::from_str_radix(&digits[..end], radix).unwrap_or(if end == 0 { 0 } else { u64::MAX })
}

/// C's `atoi` (optional sign, decimal digits, wrapping).
fn atoi(s: &str) -> i32 {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i32, |v, d| {
            v.wrapping_mul(10).wrapping_add(i32::from(d - b'0'))
        });
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// A TOS value as stock accepts it: a whole C number (`0x` hex, `0`
/// octal) whose ECN bits are clear.
fn parse_tos(v: &str) -> Option<u8> {
    let (radix, digits) = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        (16, h)
    } else if v.len() > 1 && v.starts_with('0') {
        (8, &v[1..])
    } else {
        (10, v)
    };
    let t = u8::from_str_radix(digits, radix).ok()?;
    (t & 0xfc == t).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_c_reads_them() {
        assert_eq!(strtoull("0x55"), 0x55);
        assert_eq!(strtoull("010"), 8);
        assert_eq!(strtoull("9z"), 9);
        assert_eq!(parse_tos("0x10"), Some(0x10));
        assert_eq!(parse_tos("3"), None);
        assert_eq!(atoi("300") as u8, 44);
        assert_eq!(hex(0), "0");
    }
}
