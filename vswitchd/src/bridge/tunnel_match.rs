//! What a received tunnel packet is matched on to find its tunnel port:
//! two tunnel interfaces with the same match could not be told apart, so
//! the second is refused, as stock's tunnel module refuses it (`EEXIST`,
//! "could not add network device ... to ofproto (File exists)").
//!
//! The match is stock's: the input key (or `flow`), the local and remote
//! addresses (or `flow`), the packet type mode and the datapath port
//! (tunnel type and UDP port). The output key, TOS, TTL and the like do
//! not take part.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use ferrovs_dpif::OdpPort;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TunnelMatch {
    in_key: Option<u64>,
    local: Option<Ipv6Addr>,
    local_flow: bool,
    remote: Option<Ipv6Addr>,
    remote_flow: bool,
    pt_mode: &'static str,
    /// The datapath this port's datapath port belongs to.
    dp_type: String,
    odp_port: OdpPort,
}

/// An address option as stock keeps it: IPv4 mapped into IPv6.
fn addr(v: Option<&String>) -> (Option<Ipv6Addr>, bool) {
    match v.map(String::as_str) {
        Some("flow") => (None, true),
        Some(s) => match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => (Some(a.to_ipv6_mapped()), false),
            Ok(IpAddr::V6(a)) => (Some(a), false),
            Err(_) => (None, false),
        },
        None => (None, false),
    }
}

/// A key option (`strtoull` with base 0: decimal, `0x` hex or octal);
/// `None` for `flow`.
fn key(v: Option<&String>) -> Option<u64> {
    let s = match v {
        None => return Some(0),
        Some(s) if s == "flow" => return None,
        Some(s) => s.as_str(),
    };
    let parsed = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8)
    } else {
        s.parse()
    };
    Some(parsed.unwrap_or(0))
}

impl TunnelMatch {
    pub(super) fn new(
        options: &BTreeMap<String, String>,
        dp_type: &str,
        odp_port: OdpPort,
    ) -> TunnelMatch {
        let (local, local_flow) = addr(options.get("local_ip"));
        let (remote, remote_flow) = addr(options.get("remote_ip"));
        let in_key = key(options.get("in_key").or_else(|| options.get("key")));
        let pt_mode = match options.get("packet_type").map(String::as_str) {
            Some("ptap") => "ptap",
            Some("legacy_l3") => "legacy_l3",
            _ => "legacy_l2",
        };
        TunnelMatch {
            in_key,
            local,
            local_flow,
            remote,
            remote_flow,
            pt_mode,
            dp_type: dp_type.to_string(),
            odp_port,
        }
    }

    /// The match as stock's warning prints it, e.g. `::->1.1.2.92, key=0,
    /// legacy_l2, dp port=4789`.
    pub(super) fn text(&self) -> String {
        let a = |v: &Option<Ipv6Addr>| {
            let v = v.unwrap_or(Ipv6Addr::UNSPECIFIED);
            match v.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v.to_string(),
            }
        };
        let ends = if !self.remote_flow {
            format!("{}->{}", a(&self.local), a(&self.remote))
        } else if !self.local_flow {
            format!("{}->flow", a(&self.local))
        } else {
            "flow->flow".to_string()
        };
        let key = match self.in_key {
            None => "flow".to_string(),
            Some(0) => "0".to_string(),
            Some(k) => format!("{k:#x}"),
        };
        format!(
            "{ends}, key={key}, {}, dp port={}",
            self.pt_mode, self.odp_port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn text_is_stocks() {
        let m = TunnelMatch::new(&opts(&[("remote_ip", "1.1.2.92")]), "netdev", 4789);
        assert_eq!(m.text(), "::->1.1.2.92, key=0, legacy_l2, dp port=4789");
        let m = TunnelMatch::new(&opts(&[("remote_ip", "flow")]), "netdev", 2);
        assert_eq!(m.text(), "::->flow, key=0, legacy_l2, dp port=2");
        let m = TunnelMatch::new(
            &opts(&[("remote_ip", "flow"), ("local_ip", "flow"), ("key", "0x10")]),
            "netdev",
            2,
        );
        assert_eq!(m.text(), "flow->flow, key=0x10, legacy_l2, dp port=2");
    }

    #[test]
    fn only_the_receive_side_matters() {
        let a = TunnelMatch::new(&opts(&[("remote_ip", "1.1.2.92")]), "netdev", 4789);
        let b = TunnelMatch::new(
            &opts(&[
                ("remote_ip", "::ffff:1.1.2.92"),
                ("out_key", "7"),
                ("tos", "inherit"),
            ]),
            "netdev",
            4789,
        );
        assert_eq!(a, b);
        let c = TunnelMatch::new(
            &opts(&[("remote_ip", "1.1.2.92"), ("in_key", "5")]),
            "netdev",
            4789,
        );
        assert_ne!(a, c);
        let d = TunnelMatch::new(&opts(&[("remote_ip", "1.1.2.92")]), "system", 4789);
        assert_ne!(a, d);
    }
}
