//! `bond/hash MAC [VLAN] [BASIS]`: the bucket (0-255) a bond would give a
//! source MAC and VLAN, computed as Open vSwitch does (its murmur-based
//! `hash_uint64_basis` over the VLAN in the top 16 bits and the MAC in
//! the low 48). It needs no bond, so it is answered for real.

pub fn run(args: &[String]) -> Result<String, String> {
    let vlan = match args.get(1) {
        Some(v) => scan_u32(v).ok_or("invalid vlan")?,
        None => 0,
    };
    let basis = match args.get(2) {
        Some(b) => scan_u32(b).ok_or("invalid basis")?,
        None => 0,
    };
    let mac = args
        .first()
        .and_then(|m| scan_mac(m))
        .ok_or("invalid mac")?;
    // Stock's VLAN is a 16-bit argument.
    let word = (u64::from(vlan as u16) << 48) | mac;
    Ok(format!("{}", hash_uint64_basis(word, basis) & 0xff))
}

/// What C's `sscanf("%u")` reads: optional white space and sign, then
/// decimal digits (anything after them is ignored); a minus sign wraps.
fn scan_u32(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    // Out of range saturates, as strtoul does.
    let v = digits[..end].parse::<u64>().unwrap_or(u64::MAX);
    let v = u32::try_from(v).unwrap_or(u32::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Six colon-separated hex bytes (one or two digits each, as
/// `%hhx:%hhx:...` reads them); trailing text is ignored.
fn scan_mac(s: &str) -> Option<u64> {
    let mut mac = 0u64;
    let mut rest = s;
    for i in 0..6 {
        if i > 0 {
            rest = rest.strip_prefix(':')?;
        }
        let end = rest
            .char_indices()
            .take_while(|(j, c)| *j < 2 && c.is_ascii_hexdigit())
            .count();
        if end == 0 {
            return None;
        }
        let byte = u8::from_str_radix(&rest[..end], 16).ok()?;
        mac = (mac << 8) | u64::from(byte);
        rest = &rest[end..];
    }
    Some(mac)
}

fn hash_add(hash: u32, data: u32) -> u32 {
    let mut h = hash;
    if data != 0 {
        let d = data
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        h ^= d;
    }
    h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

fn hash_uint64_basis(x: u64, basis: u32) -> u32 {
    let mut h = hash_add(hash_add(basis, x as u32), (x >> 32) as u32) ^ 8;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(args: &[&str]) -> Result<String, String> {
        run(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_like_stock() {
        assert_eq!(scan_mac("0:1:22:33:44:ff"), Some(0x0001_2233_44ff));
        assert_eq!(scan_mac("00:11:22:33:44"), None);
        assert_eq!(scan_u32(" 12x"), Some(12));
        assert_eq!(scan_u32("-1"), Some(u32::MAX));
        assert_eq!(scan_u32("x"), None);
        assert_eq!(hash(&["zz"]), Err("invalid mac".into()));
        assert_eq!(
            hash(&["00:11:22:33:44:55", "v"]),
            Err("invalid vlan".into())
        );
        assert_eq!(
            hash(&["00:11:22:33:44:55", "1", "b"]),
            Err("invalid basis".into())
        );
    }
}
