//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running 32-bit sum (an odd
/// last byte is padded with zero).
pub fn add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Fold early so the sum never overflows, whatever the length.
        if sum & 0x8000_0000 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// Folds a running sum to 16 bits (not complemented).
pub fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum of `data`: the complement of its folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(add(0, data))
}

/// The sum of the IPv4 pseudo-header for an L4 segment of `len` bytes.
pub fn pseudo_v4(src: u32, dst: u32, proto: u8, len: usize) -> u32 {
    let mut s = add(0, &src.to_be_bytes());
    s = add(s, &dst.to_be_bytes());
    s + u32::from(proto) + (len as u32 & 0xffff) + (len as u32 >> 16)
}

/// The sum of the IPv6 pseudo-header for an L4 segment of `len` bytes.
pub fn pseudo_v6(src: u128, dst: u128, proto: u8, len: usize) -> u32 {
    let mut s = add(0, &src.to_be_bytes());
    s = add(s, &dst.to_be_bytes());
    s + u32::from(proto) + (len as u32 & 0xffff) + (len as u32 >> 16)
}

/// Updates checksum `old_csum` for a 16-bit word changing from `old` to
/// `new` (RFC 1624, eqn. 3).
pub fn update16(old_csum: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!old_csum) + u32::from(!old) + u32::from(new);
    !fold(s)
}

/// Updates checksum `old_csum` for a 32-bit value changing.
pub fn update32(old_csum: u16, old: u32, new: u32) -> u16 {
    let c = update16(old_csum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// Updates checksum `old_csum` for a 128-bit value changing.
pub fn update128(mut c: u16, old: u128, new: u128) -> u16 {
    for i in (0..4).rev() {
        c = update32(c, (old >> (32 * i)) as u32, (new >> (32 * i)) as u32);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ipv4_header() {
        // An IPv4 header with its checksum (0xb861) from RFC 1071 examples
        // in common use.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0);
        let mut z = h;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(checksum(&z), 0xb861);
    }

    #[test]
    fn incremental_matches_full() {
        let mut h = [
            0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&h);
        h[12..16].copy_from_slice(&[10, 1, 2, 3]);
        let full = checksum(&h);
        let inc = update32(c, 0xc0a8_0001, 0x0a01_0203);
        assert_eq!(inc, full);
    }
}
