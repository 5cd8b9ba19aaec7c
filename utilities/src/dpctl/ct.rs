//! ct-set-limits, ct-del-limits, ct-get-limits: conntrack zone limits.

use ferrovs_dpif::netlink::{strerror, CtLimits};

use super::commands::{dp_exists, opt_dp_open};
use super::Ctx;

/// C's strtoul with base 0 over the whole string (leading blanks and a
/// sign allowed, `0x` hex, leading-zero octal); None if anything is left
/// over or nothing was read. Negative values wrap, as strtoul's do.
fn strtoul_all(s: &str) -> Option<u64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let v = u64::from_str_radix(digits, radix).ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `zone=N,limit=L` (keys also as `key:value`); the message ovs-dpctl
/// gives when it cannot be read.
fn parse_zone_limit(s: &str) -> Result<(u16, u32), String> {
    let mut zone = None;
    let mut limit = None;
    for piece in s
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|p| !p.is_empty())
    {
        let (key, value) = piece.split_once(['=', ':']).unwrap_or((piece, ""));
        if value.is_empty() {
            return Err(format!("field {key} missing value"));
        }
        match key {
            "zone" => {
                let z = strtoul_all(value)
                    .filter(|&v| !value.trim_start().starts_with('-') && v <= 65535)
                    .ok_or_else(|| "failed to parse field zone".to_string())?;
                zone = Some(z as u16);
            }
            "limit" => {
                let l =
                    strtoul_all(value).ok_or_else(|| "failed to parse field limit".to_string())?;
                // strtoul reads into an unsigned long; the limit keeps 32 bits.
                limit = Some(l as u32);
            }
            _ => return Err(format!("invalid zone limit field: {key}")),
        }
    }
    match (zone, limit) {
        (Some(z), Some(l)) => Ok((z, l)),
        _ => Err("failed to parse zone limit".to_string()),
    }
}

/// `zone=N1[,N2]...`: each zone read as scanf's %hu reads it.
fn parse_zones(s: &str) -> Result<Vec<u16>, String> {
    let Some(list) = s.strip_prefix("zone=") else {
        return Err(format!("invalid argument {s}"));
    };
    let mut zones = Vec::new();
    let pieces: Vec<&str> = list.split(',').filter(|p| !p.is_empty()).collect();
    if pieces.is_empty() {
        return Err("invalid zone".to_string());
    }
    for p in pieces {
        let digits: String = p
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.parse::<u64>() {
            Ok(z) => zones.push(z as u16),
            Err(_) => return Err("invalid zone".to_string()),
        }
    }
    Ok(zones)
}

/// Index of the first argument after the optional DP.
fn first_arg(argv: &[String]) -> usize {
    if argv.len() > 1 && dp_exists(&argv[1]) {
        2
    } else {
        1
    }
}

pub fn set_limits(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut i = first_arg(argv);
    let mut dp = match opt_dp_open(ctx, argv, usize::MAX) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    let mut default_limit = None;
    if let Some(v) = argv.get(i).and_then(|a| a.strip_prefix("default=")) {
        match scan_u32(v) {
            Some(l) => {
                default_limit = Some(l);
                i += 1;
            }
            None => {
                ctx.error(libc::EINVAL, "invalid default limit");
                return libc::EINVAL;
            }
        }
    }
    let mut zones = Vec::new();
    for arg in argv.get(i..).unwrap_or(&[]) {
        match parse_zone_limit(arg) {
            Ok(z) => zones.push(z),
            Err(msg) => {
                ctx.error(libc::EINVAL, &msg);
                return libc::EINVAL;
            }
        }
    }
    match dp.netlink().ct_limit_set(default_limit, &zones) {
        Ok(()) => 0,
        Err(e) => {
            ctx.error(e.errno, "failed to set conntrack limit");
            e.errno
        }
    }
}

pub fn del_limits(ctx: &Ctx, argv: &[String]) -> i32 {
    let i = first_arg(argv);
    let mut dp = match opt_dp_open(ctx, argv, 3) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    let zones = match parse_zones(argv.get(i).map_or("", String::as_str)) {
        Ok(z) => z,
        Err(msg) => {
            ctx.error(libc::EINVAL, &msg);
            return libc::EINVAL;
        }
    };
    match dp.netlink().ct_limit_del(&zones) {
        Ok(()) => 0,
        Err(e) => {
            ctx.error(e.errno, "failed to delete conntrack limit");
            e.errno
        }
    }
}

fn limits_text(l: &CtLimits) -> String {
    let mut s = format!("default limit={}", l.default_limit);
    for z in &l.zones {
        s.push_str(&format!(
            "\nzone={},limit={},count={}",
            z.zone, z.limit, z.count
        ));
    }
    s
}

pub fn get_limits(ctx: &Ctx, argv: &[String]) -> i32 {
    let i = first_arg(argv);
    let mut dp = match opt_dp_open(ctx, argv, 3) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    let mut query = Vec::new();
    if let Some(arg) = argv.get(i) {
        match parse_zones(arg) {
            Ok(z) => query = z,
            Err(msg) => {
                ctx.error(libc::EINVAL, &msg);
                return libc::EINVAL;
            }
        }
    }
    match dp.netlink().ct_limit_get(&query) {
        Ok(limits) => {
            ctx.print(&format!("{}\n", limits_text(&limits)));
            0
        }
        Err(e) => {
            ctx.error(
                e.errno,
                &format!("failed to get conntrack limit {}", strerror(e.errno)),
            );
            e.errno
        }
    }
}

/// `%u` as Open vSwitch's `ovs_scan` reads it: blanks, an optional sign,
/// decimal digits (at least one) with what follows ignored; the value
/// wraps as C's unsigned arithmetic does (`-1` is 4294967295).
fn scan_u32(s: &str) -> Option<u32> {
    let s = s.trim_start_matches([' ', '\t', '\r', '\n', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    let value = digits[..len].bytes().fold(0u64, |v, d| {
        v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
    });
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Some(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_limit_tuples() {
        assert_eq!(parse_zone_limit("zone=1,limit=10"), Ok((1, 10)));
        assert_eq!(parse_zone_limit("limit=0x10,zone=010"), Ok((8, 16)));
        assert_eq!(
            parse_zone_limit("zone=1").unwrap_err(),
            "failed to parse zone limit"
        );
        assert_eq!(
            parse_zone_limit("zone=,limit=1").unwrap_err(),
            "field zone missing value"
        );
        assert_eq!(
            parse_zone_limit("zone=x,limit=1").unwrap_err(),
            "failed to parse field zone"
        );
        assert_eq!(
            parse_zone_limit("zone=70000,limit=1").unwrap_err(),
            "failed to parse field zone"
        );
        assert_eq!(
            parse_zone_limit("zone=1,limit=2,foo=3").unwrap_err(),
            "invalid zone limit field: foo"
        );
    }

    #[test]
    fn default_limit_as_ovs_scan_reads_it() {
        assert_eq!(scan_u32("100"), Some(100));
        assert_eq!(scan_u32(" 7x"), Some(7));
        assert_eq!(scan_u32("-1"), Some(u32::MAX));
        assert_eq!(scan_u32("4294967296"), Some(0));
        assert_eq!(scan_u32(""), None);
        assert_eq!(scan_u32("x"), None);
    }

    #[test]
    fn zone_lists() {
        assert_eq!(parse_zones("zone=1,2,3"), Ok(vec![1, 2, 3]));
        assert_eq!(
            parse_zones("zones=1").unwrap_err(),
            "invalid argument zones=1"
        );
        assert_eq!(parse_zones("zone=a").unwrap_err(), "invalid zone");
    }
}
