//! Numbers as C reads them (stock parses with strtoull and sscanf), and
//! port and table names.

use super::*;

// ---------------------------------------------------------------------
// Numbers as C reads them.

pub(super) fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// strtoull()/strtoll()'s scan of `s`: leading white space, a sign, `0x`
/// (base 0 or 16) or `0` (base 0: octal), digits. Returns the sign, the
/// magnitude (saturated) and where the digits end; None when there are
/// no digits.
pub(super) fn c_strto(s: &[u8], base: u32) -> Option<(bool, u128, usize)> {
    let mut i = 0;
    while s.get(i).is_some_and(|&c| is_c_space(c)) {
        i += 1;
    }
    let neg = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut base = base;
    let hex_prefix = s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit());
    if (base == 0 || base == 16) && hex_prefix {
        base = 16;
        i += 2;
    } else if base == 0 {
        base = if s.get(i) == Some(&b'0') { 8 } else { 10 };
    }
    let start = i;
    let mut mag: u128 = 0;
    while let Some(d) = s.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        mag = mag.saturating_mul(base.into()).saturating_add(d.into());
        i += 1;
    }
    (i > start).then_some((neg, mag, i))
}

/// strtoull() over all of `s` (base 0): None on overflow or trailing
/// characters. A minus sign wraps, as in C.
pub(super) fn c_strtoull_all(s: &str) -> Option<u64> {
    let (neg, mag, end) = c_strto(s.as_bytes(), 0)?;
    if end != s.len() || mag > u64::MAX.into() {
        return None;
    }
    let v = mag as u64;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Stock's `str_to_llong()`: strtoll() over all of `s`.
pub(super) fn c_str_to_llong(s: &str, base: u32) -> Option<i64> {
    let (neg, mag, end) = c_strto(s.as_bytes(), base)?;
    if end != s.len() {
        return None;
    }
    let v = i128::try_from(mag).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

/// Stock's `str_to_u64()`.
pub(super) fn str_to_u64(s: &str) -> Result<u64, String> {
    if s.is_empty() {
        return Err("missing required numeric argument".into());
    }
    c_strtoull_all(s).ok_or_else(|| format!("invalid numeric format {s}"))
}

/// Stock's `str_to_u32()`: strtoul() stored in 32 bits, so larger values
/// keep their low bits without an error, as in stock.
pub(super) fn str_to_u32(s: &str) -> Result<u32, String> {
    str_to_u64(s).map(|v| v as u32)
}

/// Stock's `str_to_u8()`/`str_to_u16()`: an int in 0..=`max`.
pub(super) fn str_to_uint_max(s: &str, name: &str, max: i64) -> Result<i64, String> {
    c_str_to_llong(s, 0)
        .filter(|v| (0..=max).contains(v))
        .ok_or_else(|| format!("invalid {name} \"{s}\""))
}

/// `(uint16_t) atoi(s)`: the leading decimal number, 0 when there is none.
pub(super) fn atoi_u16(s: &str) -> u16 {
    c_strto(s.as_bytes(), 10).map_or(0, |(neg, mag, _)| {
        let v = mag as u16;
        if neg {
            v.wrapping_neg()
        } else {
            v
        }
    })
}

pub(super) fn str_to_u8(s: &str, name: &str) -> Result<u8, String> {
    str_to_uint_max(s, name, 0xff).map(|v| v as u8)
}

pub(super) fn str_to_u16(s: &str, name: &str) -> Result<u16, String> {
    str_to_uint_max(s, name, 0xffff).map(|v| v as u16)
}

/// ovs_scan()'s integer conversion at `b[i..]`: white space, a sign,
/// `0x` for base 16, digits without overflow checks. Callers truncate
/// the result to their type as the C conversion does.
pub(super) fn scan_int(b: &[u8], mut i: usize, base: u32) -> Option<(u64, usize)> {
    while b.get(i).is_some_and(|&c| is_c_space(c)) {
        i += 1;
    }
    let neg = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    if base == 16 && b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
    }
    let start = i;
    let mut v: u64 = 0;
    while let Some(d) = b.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        v = v.wrapping_mul(base.into()).wrapping_add(d.into());
        i += 1;
    }
    (i > start).then_some((if neg { v.wrapping_neg() } else { v }, i))
}

/// `IP_SCAN_FMT` ("%hhu.%hhu.%hhu.%hhu") at `b[i..]`.
pub(super) fn scan_ipv4(b: &[u8], mut i: usize) -> Option<(u32, usize)> {
    let mut ip = 0u32;
    for k in 0..4 {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let (v, end) = scan_int(b, i, 10)?;
        ip = ip << 8 | u32::from(v as u8);
        i = end;
    }
    Some((ip, i))
}

/// `ETH_ADDR_SCAN_FMT` ("%hhx:" six times) at `b[i..]`.
pub(super) fn scan_mac(b: &[u8], mut i: usize) -> Option<([u8; 6], usize)> {
    let mut mac = [0u8; 6];
    for (k, byte) in mac.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
        }
        let (v, end) = scan_int(b, i, 16)?;
        *byte = v as u8;
        i = end;
    }
    Some((mac, i))
}

/// `IPV6_SCAN_FMT` ("%46[0123456789abcdefABCDEF:.]") at `b[i..]`: the
/// characters an IPv6 address may have, at most 46 of them.
pub(super) fn scan_ipv6_chars(b: &[u8], i: usize) -> Option<usize> {
    let n = b
        .get(i..)?
        .iter()
        .take(46)
        .take_while(|c| c.is_ascii_hexdigit() || **c == b':' || **c == b'.')
        .count();
    (n > 0).then_some(i + n)
}

pub(super) fn prefix_mask(bits: u32, width_bits: u32) -> u128 {
    let all = full_bits(width_bits);
    if bits == 0 {
        0
    } else {
        all & !(full_bits(width_bits - bits))
    }
}

/// A mask of the low `bits` bits.
pub(super) fn full_bits(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// Stock's `ofpbuf_put_hex()`: hex byte pairs, with `.` and white space
/// allowed between them. Returns the bytes and what follows them.
pub(super) fn parse_hex_bytes(s: &str) -> (Vec<u8>, &str) {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while b.get(i).is_some_and(|c| b" .\t\r\n".contains(c)) {
            i += 1;
        }
        let hexit = |j: usize| b.get(j).and_then(|&c| char::from(c).to_digit(16));
        match (hexit(i), hexit(i + 1)) {
            (Some(h), Some(l)) => out.push((h << 4 | l) as u8),
            _ => return (out, &s[i..]),
        }
        i += 2;
    }
}

// ---------------------------------------------------------------------
// Ports and tables.

/// Stock's `ofputil_port_from_string()` without a port map (as
/// trace-packet-out has none): a number (OpenFlow 1.0 or 1.1 form) or a
/// reserved port's name in any case.
pub(super) fn port_from_string(s: &str) -> Option<u16> {
    if s.starts_with('-') {
        return None;
    }
    if let Some(n) = c_str_to_llong(s, 10).and_then(|n| u32::try_from(n).ok()) {
        return match n {
            0..=0xffff => Some(n as u16),
            0xffff_ff00.. => port_from_of11(n),
            _ => None,
        };
    }
    const NAMES: [(&str, u16); 10] = [
        ("IN_PORT", port::IN_PORT),
        ("TABLE", port::TABLE),
        ("NORMAL", port::NORMAL),
        ("FLOOD", port::FLOOD),
        ("ALL", port::ALL),
        ("CONTROLLER", port::CONTROLLER),
        ("LOCAL", port::LOCAL),
        ("ANY", port::NONE),
        ("UNSET", 0xfff7),
        ("NONE", port::NONE),
    ];
    NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, p)| p)
}

/// Stock's `ofputil_table_from_string()` without a table map.
pub(super) fn table_from_string(s: &str) -> Option<u8> {
    if s.starts_with('-') {
        return None;
    }
    c_str_to_llong(s, 10).and_then(|n| u8::try_from(n).ok())
}
