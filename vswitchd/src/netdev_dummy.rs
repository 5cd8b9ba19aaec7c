//! `netdev-dummy/*` control commands (under `--enable-dummy`): put
//! packets on dummy devices as if they had arrived, set their admin
//! state, give them addresses. Replies and error texts are stock's
//! (lib/netdev-dummy.c).

use std::sync::Arc;

use ferrovs_dpif::netdev::{odp_key, NetdevControl};
use ferrovs_dpif::odp;
use ferrovs_netdev::compose::{compose, default_payload, DEFAULT_L7_LEN};
use ferrovs_netdev::csum;
use ferrovs_netdev::dev::DummyDev;
use ferrovs_netdev::flow::FRAG_LATER;
use ferrovs_netdev::Packet;

/// Shortest frame `--len` may ask for (ETH_TOTAL_MIN).
const ETH_TOTAL_MIN: usize = 60;

fn find_dummy(dps: &[&NetdevControl], name: &str) -> Option<Arc<DummyDev>> {
    dps.iter().find_map(|c| c.dummy_device_by_name(name))
}

/// A frame written in hex (spaces and dots allowed between bytes), at
/// least an Ethernet header; `None` if the text is not that.
fn packet_from_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'.')
        .collect();
    if !digits.len().is_multiple_of(2) || digits.len() < 28 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

/// The frame a datapath flow string describes, `len` bytes long when
/// given (stock's `eth_from_flow_str`).
fn packet_from_flow(s: &str, len: Option<usize>) -> Result<Vec<u8>, String> {
    let parsed = odp::parse_flow(s, None).map_err(|e| e.message)?;
    let (k, _) = odp_key::from_odp(&parsed.key, &[]).map_err(|e| e.message)?;
    let frame = match len {
        None => compose(&k, &default_payload(DEFAULT_L7_LEN)),
        Some(n) => {
            // Stock pads with zeros to the length asked for, with lengths
            // and checksums fixed: the same as zeros for a payload where
            // the packet has one; plain zeros after other frames (ARP).
            let bare = compose(&k, &[]);
            if bare.len() > n {
                return Err(format!(
                    "packet of {} bytes is longer than --len {n}",
                    bare.len()
                ));
            }
            let mut f = compose(&k, &vec![0; n - bare.len()]);
            f.resize(n, 0);
            stock_padded_udp_len(&mut f, &k, bare.len(), n - bare.len());
            f
        }
    };
    Ok(frame)
}

/// Stock's `--len` writes a UDP length `extra` bytes too long: it adds
/// the padding to a length that already counts it (its checksum covers
/// the field as written). Done the same here, so that OVS-style tests
/// that compare such frames see stock's bytes. `bare_len` is the frame's
/// length without payload: the UDP header is its last 8 bytes.
fn stock_padded_udp_len(f: &mut [u8], k: &ferrovs_netdev::FlowKey, bare_len: usize, extra: usize) {
    const ETH_TYPE_IP: u16 = 0x0800;
    const ETH_TYPE_IPV6: u16 = 0x86dd;
    const IPPROTO_UDP: u8 = 17;
    let ip = k.eth_type == ETH_TYPE_IP || k.eth_type == ETH_TYPE_IPV6;
    if !ip || k.nw_proto != IPPROTO_UDP || k.nw_frag == FRAG_LATER || extra == 0 {
        return;
    }
    let Some(udp) = bare_len.checked_sub(8).and_then(|l4| f.get_mut(l4..l4 + 8)) else {
        return;
    };
    let len = u16::from_be_bytes([udp[4], udp[5]]);
    let stock_len = len.wrapping_add(extra as u16);
    let sum = u16::from_be_bytes([udp[6], udp[7]]);
    let mut sum = csum::update16(sum, len, stock_len);
    // A UDP checksum of zero means "none": stock writes all ones.
    if sum == 0 {
        sum = 0xffff;
    }
    udp[4..6].copy_from_slice(&stock_len.to_be_bytes());
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
}

/// `netdev-dummy/receive NAME [--qid N] PACKET|FLOW [--len N]...`.
pub fn receive(args: &[String], dps: &[&NetdevControl]) -> Result<String, String> {
    let Some(dev) = args.first().and_then(|n| find_dummy(dps, n)) else {
        return Err("no such dummy netdev".into());
    };
    let mut i = 1;
    if args.len() > i + 1 && args[i] == "--qid" {
        // One receive queue per dummy device.
        if args[i + 1].trim().parse::<i64>().unwrap_or(0) != 0 {
            return Err("bad rx queue id.".into());
        }
        i += 2;
    }
    let mut frames = Vec::new();
    while i < args.len() {
        let a = &args[i];
        let frame = match packet_from_hex(a) {
            Some(f) => f,
            None => {
                let mut len = None;
                if args.get(i + 1).is_some_and(|x| x == "--len") {
                    let n = args
                        .get(i + 2)
                        .and_then(|x| x.trim().parse::<i64>().ok())
                        .unwrap_or(0);
                    if n < ETH_TOTAL_MIN as i64 {
                        return Err("too small packet len".into());
                    }
                    len = usize::try_from(n).ok();
                    i += 2;
                }
                packet_from_flow(a, len)?
            }
        };
        frames.push(frame);
        i += 1;
    }
    for f in frames {
        dev.inject(Packet::from_bytes(&f));
    }
    Ok(String::new())
}

/// `netdev-dummy/set-admin-state [NETDEV] up|down`.
pub fn set_admin_state(args: &[String], dps: &[&NetdevControl]) -> Result<String, String> {
    let up = match args.last().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("up") => true,
        Some("down") => false,
        _ => return Err("Invalid Admin State".into()),
    };
    if args.len() > 1 {
        let Some(dev) = args.first().and_then(|n| find_dummy(dps, n)) else {
            return Err("Unknown Dummy Interface".into());
        };
        dev.set_up(up);
    } else {
        for c in dps {
            for d in c.dummy_devices() {
                d.set_up(up);
            }
        }
    }
    Ok("OK".into())
}

/// Parses `ADDR[/PREFIX]` where PREFIX is a length or a netmask (IPv4),
/// with stock's error texts.
fn parse_ip4(spec: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let bad = || format!("{spec}: invalid IP address");
    let (addr, prefix) = spec.split_once('/').unwrap_or((spec, "32"));
    let addr = addr.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
    let plen = if let Ok(mask) = prefix.parse::<std::net::Ipv4Addr>() {
        let m = u32::from(mask);
        if m.leading_ones() + m.trailing_zeros() != 32 {
            return Err(bad());
        }
        m.leading_ones() as u8
    } else {
        let n: u32 = prefix.parse().map_err(|_| bad())?;
        if n > 32 {
            return Err(format!(
                "{spec}: IPv4 network prefix bits not between 0 and 32, inclusive"
            ));
        }
        n as u8
    };
    Ok((addr, plen))
}

/// Parses `ADDR[/PREFIXLEN]` (IPv6), with stock's error texts.
fn parse_ip6(spec: &str) -> Result<(std::net::Ipv6Addr, u8), String> {
    let (addr, prefix) = spec.split_once('/').unwrap_or((spec, "128"));
    let addr = addr
        .parse::<std::net::Ipv6Addr>()
        .map_err(|_| format!("{spec}: invalid IPv6 address"))?;
    match prefix.parse::<u32>() {
        Ok(n) if n <= 128 => Ok((addr, n as u8)),
        Ok(_) => Err(format!(
            "{spec}: IPv6 network prefix bits not between 0 and 128, inclusive"
        )),
        Err(_) => Err(format!("{spec}: invalid IPv6 address")),
    }
}

/// `netdev-dummy/ip4addr NETDEV ADDR[/PREFIX]` and `ip6addr`.
pub fn ipaddr(v6: bool, args: &[String], dps: &[&NetdevControl]) -> Result<String, String> {
    let (Some(name), Some(spec)) = (args.first(), args.get(1)) else {
        return Err("Unknown Dummy Interface".into());
    };
    let Some(dev) = find_dummy(dps, name) else {
        return Err("Unknown Dummy Interface".into());
    };
    let (addr, plen): (std::net::IpAddr, u8) = if v6 {
        parse_ip6(spec).map(|(a, p)| (a.into(), p))?
    } else {
        parse_ip4(spec).map(|(a, p)| (a.into(), p))?
    };
    dev.set_addr(addr, plen);
    Ok("OK".into())
}

/// `netdev-dummy/conn-state [NETDEV]`: dummy devices here have no
/// stream connection, so their state is unknown (and the list of known
/// states is empty), as for stock's devices without one.
pub fn conn_state(args: &[String]) -> Result<String, String> {
    Ok(match args.first() {
        Some(n) => format!("{n}: unknown\n"),
        None => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_packets_and_flow_strings() {
        assert!(packet_from_hex("00").is_none());
        assert!(packet_from_hex("zz0000000000000000000000000000").is_none());
        let p = packet_from_hex("50540000000a 50540000000b 0800 4500").unwrap();
        assert_eq!(p.len(), 16);
        let f = packet_from_flow(
            "in_port(1),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0806),arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=50:54:00:00:00:01,tha=00:00:00:00:00:00)",
            None,
        )
        .unwrap();
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert!(packet_from_flow("nonsense(", None).is_err());
        let long = packet_from_flow(
            "eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(src=1.1.1.1,dst=2.2.2.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)",
            Some(200),
        )
        .unwrap();
        assert_eq!(long.len(), 200);
    }

    #[test]
    fn addresses_as_stock_parses_them() {
        assert_eq!(parse_ip4("1.2.3.4").unwrap().1, 32);
        assert_eq!(parse_ip4("1.2.3.4/255.255.0.0").unwrap().1, 16);
        assert!(parse_ip4("1.2.3.4/255.0.255.0").is_err());
        assert_eq!(
            parse_ip4("1.2.3.4/40").unwrap_err(),
            "1.2.3.4/40: IPv4 network prefix bits not between 0 and 32, inclusive"
        );
        assert_eq!(parse_ip6("2001:db8::1/64").unwrap().1, 64);
        assert_eq!(
            parse_ip6("zz/64").unwrap_err(),
            "zz/64: invalid IPv6 address"
        );
    }
}
