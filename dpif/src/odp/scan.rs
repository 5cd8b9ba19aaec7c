//! Small text helpers shared by the key and action syntaxes: C-style
//! number scanning (`%i`: decimal, `0x` hex, leading-0 octal), addresses,
//! flag sets, and the number formats Open vSwitch prints.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::OdpError;

pub(crate) fn syntax(s: &str) -> OdpError {
    let head: String = s.chars().take(60).collect();
    OdpError::new(format!("syntax error at {head}"))
}

/// Scans an integer as C's `%i` does: optional sign, then `0x` hex,
/// leading-`0` octal or decimal. Values wrap like a C conversion would.
pub(crate) fn scan_int(s: &str) -> Option<(u64, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (radix, start) = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x') | Some(b'X'))
        && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        (16, i + 2)
    } else if b.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut j = start;
    let mut v: u64 = 0;
    while let Some(&c) = b.get(j) {
        let d = match (c as char).to_digit(radix) {
            Some(d) => d,
            None => break,
        };
        v = v.wrapping_mul(radix as u64).wrapping_add(d as u64);
        j += 1;
    }
    if j == start {
        return None;
    }
    Some((if neg { v.wrapping_neg() } else { v }, j))
}

/// Scans an unsigned decimal number (`%u`).
pub(crate) fn scan_dec(s: &str) -> Option<(u64, usize)> {
    let n = s.bytes().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    s[..n].parse().ok().map(|v| (v, n))
}

/// Scans a hexadecimal number without prefix (`%x`), accepting an optional
/// `0x` as C does.
pub(crate) fn scan_hex(s: &str) -> Option<(u64, usize)> {
    let skip = if (s.starts_with("0x") || s.starts_with("0X"))
        && s.as_bytes().get(2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        2
    } else {
        0
    };
    let n = s[skip..]
        .bytes()
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    if n == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for c in s[skip..skip + n].chars() {
        v = v
            .wrapping_mul(16)
            .wrapping_add(c.to_digit(16).unwrap_or(0) as u64);
    }
    Some((v, skip + n))
}

/// Scans a number followed by an optional `/mask`; the mask defaults to
/// `full`.
pub(crate) fn scan_masked(s: &str, full: u64) -> Option<(u64, u64, usize)> {
    let (v, mut n) = scan_int(s)?;
    let mut m = full;
    if s[n..].starts_with('/') {
        if let Some((mv, mn)) = scan_int(&s[n + 1..]) {
            m = mv;
            n += 1 + mn;
        }
    }
    Some((v, m, n))
}

pub(crate) fn scan_ipv4_addr(s: &str) -> Option<(Ipv4Addr, usize)> {
    let mut o = [0u8; 4];
    let mut n = 0;
    for (k, slot) in o.iter_mut().enumerate() {
        if k > 0 {
            if s.as_bytes().get(n) != Some(&b'.') {
                return None;
            }
            n += 1;
        }
        let (v, l) = scan_dec(&s[n..])?;
        *slot = v as u8;
        n += l;
    }
    Some((Ipv4Addr::from(o), n))
}

pub(crate) fn scan_ipv4(s: &str) -> Option<(Ipv4Addr, Ipv4Addr, usize)> {
    let (a, mut n) = scan_ipv4_addr(s)?;
    let mut m = Ipv4Addr::BROADCAST;
    if s[n..].starts_with('/') {
        if let Some((mv, l)) = scan_ipv4_addr(&s[n + 1..]) {
            m = mv;
            n += 1 + l;
        }
    }
    Some((a, m, n))
}

pub(crate) fn scan_ipv6_addr(s: &str) -> Option<(Ipv6Addr, usize)> {
    let n = s
        .bytes()
        .take(46)
        .take_while(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.')
        .count();
    let a: Ipv6Addr = s[..n].parse().ok()?;
    Some((a, n))
}

pub(crate) fn scan_in6(s: &str) -> Option<(Ipv6Addr, Ipv6Addr, usize)> {
    let (a, mut n) = scan_ipv6_addr(s)?;
    let mut m = Ipv6Addr::from([0xffu8; 16]);
    if s[n..].starts_with('/') {
        if let Some((mv, l)) = scan_ipv6_addr(&s[n + 1..]) {
            m = mv;
            n += 1 + l;
        }
    }
    Some((a, m, n))
}

pub(crate) fn scan_mac_addr(s: &str) -> Option<([u8; 6], usize)> {
    let mut o = [0u8; 6];
    let mut n = 0;
    for (k, slot) in o.iter_mut().enumerate() {
        if k > 0 {
            if s.as_bytes().get(n) != Some(&b':') {
                return None;
            }
            n += 1;
        }
        let l = s[n..]
            .bytes()
            .take(2)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if l == 0 {
            return None;
        }
        *slot = u8::from_str_radix(&s[n..n + l], 16).ok()?;
        n += l;
    }
    Some((o, n))
}

pub(crate) fn scan_mac(s: &str) -> Option<([u8; 6], [u8; 6], usize)> {
    let (a, mut n) = scan_mac_addr(s)?;
    let mut m = [0xffu8; 6];
    if s[n..].starts_with('/') {
        if let Some((mv, l)) = scan_mac_addr(&s[n + 1..]) {
            m = mv;
            n += 1 + l;
        }
    }
    Some((a, m, n))
}

/// Parses a big number into a big-endian field of `out.len()` bytes:
/// `0x` followed by hex digits, or a decimal number. Returns the length
/// consumed.
pub(crate) fn parse_int_string(s: &str, out: &mut [u8]) -> Option<usize> {
    if s.starts_with("0x") || s.starts_with("0X") {
        let mut digits: Vec<u8> = Vec::new();
        let b = s.as_bytes();
        let mut i = 2;
        loop {
            while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                i += 1;
            }
            let Some(d) = b.get(i).and_then(|c| (*c as char).to_digit(16)) else {
                break;
            };
            if d != 0 || !digits.is_empty() {
                if (digits.len() + 1).div_ceil(2) > out.len() {
                    return None;
                }
                digits.push(d as u8);
            }
            i += 1;
        }
        out.fill(0);
        let mut idx = out.len();
        let mut k = digits.len();
        while k > 0 {
            idx -= 1;
            let lo = digits[k - 1];
            let hi = if k >= 2 { digits[k - 2] } else { 0 };
            out[idx] = (hi << 4) | lo;
            k = k.saturating_sub(2);
        }
        Some(i)
    } else {
        let (mut v, n) = scan_int(s)?;
        for slot in out.iter_mut().rev() {
            *slot = v as u8;
            v >>= 8;
        }
        Some(n)
    }
}

/// C's `%#x`: `0` for zero, `0x...` otherwise.
pub(crate) fn hx(v: u64) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// `ds_put_hex`: `0x` and the bytes without leading zeros, or `0`.
pub(crate) fn put_hex(out: &mut String, bytes: &[u8]) {
    let mut printed = false;
    for &b in bytes {
        if b != 0 || printed {
            if printed {
                let _ = write!(out, "{b:02x}");
            } else {
                let _ = write!(out, "0x{b:x}");
            }
            printed = true;
        }
    }
    if !printed {
        out.push('0');
    }
}

pub(crate) fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// IPv6 text as glibc's `inet_ntop` writes it (RFC 5952, plus the
/// `::a.b.c.d` and `::ffff:a.b.c.d` forms).
pub(crate) fn fmt_ipv6(a: &Ipv6Addr) -> String {
    let w = a.segments();
    // Longest run of zero words (length >= 2), first one on ties.
    let (mut best_base, mut best_len) = (usize::MAX, 0);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_base = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best_base = usize::MAX;
    }
    let mut s = String::new();
    let mut i = 0;
    while i < 8 {
        if i == best_base {
            s.push(':');
            i += best_len;
            if i == 8 {
                s.push(':');
            }
            continue;
        }
        if i != 0 {
            s.push(':');
        }
        if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            let o = a.octets();
            let _ = write!(s, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
            break;
        }
        let _ = write!(s, "{:x}", w[i]);
        i += 1;
    }
    s
}

/// Names of flag bits, as a function from a single bit to its name.
pub(crate) type FlagNames = fn(u32) -> Option<&'static str>;

/// `format_flags`: names joined by `del`, unknown bits as hex, `0` for none.
pub(crate) fn format_flags(out: &mut String, names: FlagNames, flags: u32, del: char) {
    if flags == 0 {
        out.push('0');
        return;
    }
    let mut bad = 0;
    let mut f = flags;
    let start = out.len();
    while f != 0 {
        let bit = f & f.wrapping_neg();
        match names(bit) {
            Some(n) => {
                out.push_str(n);
                out.push(del);
            }
            None => bad |= bit,
        }
        f &= !bit;
    }
    if bad != 0 {
        let _ = write!(out, "0x{bad:x}{del}");
    }
    if out.len() > start && out.ends_with(del) {
        out.pop();
    }
}

/// `format_flags_masked`: `+name-name` for the bits in `mask`.
pub(crate) fn format_flags_masked(
    out: &mut String,
    names: FlagNames,
    flags: u32,
    mask: u32,
    max_mask: u32,
) {
    if mask == max_mask {
        format_flags(out, names, flags, '|');
        return;
    }
    if mask == 0 {
        out.push_str("0/0");
        return;
    }
    let mut m = mask;
    while m != 0 {
        let bit = m & m.wrapping_neg();
        out.push(if flags & bit != 0 { '+' } else { '-' });
        out.push_str(names(bit).unwrap_or("[Unknown]"));
        m &= !bit;
    }
}

/// `parse_flags`: numeric `v/m`, masked `+a-b`, or `a|b` (mask all ones
/// then). Stops before `end`. Returns (flags, mask, consumed).
pub(crate) fn parse_flags(
    s: &str,
    names: FlagNames,
    end: u8,
    allowed: u32,
    want_mask: bool,
) -> Option<(u32, u32, usize)> {
    let b = s.as_bytes();
    if want_mask {
        if let Some((v, n)) = scan_int(s) {
            if b.get(n) == Some(&b'/') {
                if let Some((m, n2)) = scan_int(&s[n + 1..]) {
                    let (v, m) = (v as u32, m as u32);
                    if v & !allowed != 0 || m & !allowed != 0 {
                        return None;
                    }
                    return Some((v, m, n + 1 + n2));
                }
            }
        }
    }
    let mut n = 0;
    if want_mask && matches!(b.first(), Some(b'+' | b'-')) {
        let (mut flags, mut mask) = (0u32, 0u32);
        while b.get(n) != Some(&end) {
            let set = match b.get(n) {
                Some(b'+') => true,
                Some(b'-') => false,
                _ => return None,
            };
            n += 1;
            let mut found = None;
            for k in 0..32 {
                let bit = 1u32 << k;
                let Some(name) = names(bit) else { continue };
                let rest = &s[n..];
                if rest.starts_with(name)
                    && matches!(rest.as_bytes().get(name.len()), Some(&c) if c == b'+' || c == b'-' || c == end)
                {
                    found = Some((bit, name.len()));
                    break;
                }
            }
            let (bit, len) = found?;
            if mask & bit != 0 || bit & allowed == 0 {
                return None;
            }
            if set {
                flags |= bit;
            }
            mask |= bit;
            n += len;
        }
        return Some((flags, mask, n));
    }
    let mut result = 0u32;
    while b.get(n) != Some(&end) {
        b.get(n)?;
        if let Some((v, l)) = scan_int(&s[n..]) {
            let v = v as u32;
            if v & !allowed != 0 {
                return None;
            }
            n += l;
            if b.get(n) == Some(&b'|') {
                n += 1;
            }
            result |= v;
            continue;
        }
        let mut found = None;
        for k in 0..32 {
            let bit = 1u32 << k;
            let Some(name) = names(bit) else { continue };
            let rest = &s[n..];
            if rest.starts_with(name)
                && matches!(rest.as_bytes().get(name.len()), Some(&c) if c == b'|' || c == end)
            {
                found = Some((bit, name.len()));
                break;
            }
        }
        let (bit, len) = found?;
        if bit & allowed == 0 {
            return None;
        }
        result |= bit;
        n += len;
        if b.get(n) == Some(&b'|') {
            n += 1;
        }
    }
    Some((result, u32::MAX, n))
}

pub(crate) fn tcp_flag_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x001 => "fin",
        0x002 => "syn",
        0x004 => "rst",
        0x008 => "psh",
        0x010 => "ack",
        0x020 => "urg",
        0x040 => "ece",
        0x080 => "cwr",
        0x100 => "ns",
        0x200 => "[200]",
        0x400 => "[400]",
        0x800 => "[800]",
        _ => return None,
    })
}

pub(crate) fn ct_state_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x08 => "rpl",
        0x20 => "trk",
        0x01 => "new",
        0x02 => "est",
        0x04 => "rel",
        0x10 => "inv",
        0x40 => "snat",
        0x80 => "dnat",
        _ => return None,
    })
}

/// Tunnel flag bits as Open vSwitch numbers them (`FLOW_TNL_F_*`).
pub(crate) const TNL_F_OAM: u32 = 1;
pub(crate) const TNL_F_DONT_FRAGMENT: u32 = 2;
pub(crate) const TNL_F_CSUM: u32 = 4;
pub(crate) const TNL_F_KEY: u32 = 8;
pub(crate) const TNL_F_MASK: u32 = 0xf;

pub(crate) fn tun_flag_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        TNL_F_DONT_FRAGMENT => "df",
        TNL_F_CSUM => "csum",
        TNL_F_KEY => "key",
        TNL_F_OAM => "oam",
        _ => return None,
    })
}

/// Removes one trailing `c`, like `ds_chomp`.
pub(crate) fn chomp(out: &mut String, c: char) {
    if out.ends_with(c) {
        out.pop();
    }
}

/// Bytes as `%02x` separated by spaces (unknown attributes).
pub(crate) fn put_spaced_hex(out: &mut String, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// Parses `put_spaced_hex` output (also accepts no spaces); stops at the
/// first character that is neither hex nor space.
pub(crate) fn scan_spaced_hex(s: &str) -> Option<(Vec<u8>, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        match (b.get(i), b.get(i + 1)) {
            (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push(u8::from_str_radix(&s[i..i + 2], 16).ok()?);
                i += 2;
            }
            _ => break,
        }
    }
    Some((out, i))
}
