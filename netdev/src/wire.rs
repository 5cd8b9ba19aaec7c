//! Zero-copy views over header bytes, in the style of smoltcp's `wire`:
//! `new_checked` refuses a buffer too short for the fixed header, and every
//! accessor after that reads inside what was checked, so no view panics on
//! hostile bytes.

pub const ETH_HLEN: usize = 14;
pub const ETH_TYPE_IPV4: u16 = 0x0800;
pub const ETH_TYPE_ARP: u16 = 0x0806;
pub const ETH_TYPE_RARP: u16 = 0x8035;
pub const ETH_TYPE_VLAN: u16 = 0x8100;
pub const ETH_TYPE_QINQ: u16 = 0x88a8;
pub const ETH_TYPE_IPV6: u16 = 0x86dd;
pub const ETH_TYPE_MPLS: u16 = 0x8847;
pub const ETH_TYPE_MPLS_MCAST: u16 = 0x8848;
/// Smallest value of the Ethernet type field that is a type, not a length.
pub const ETH_TYPE_MIN: u16 = 0x0600;
/// The type Open vSwitch gives 802.2 frames without a SNAP type.
pub const ETH_TYPE_NONE: u16 = 0x05ff;

pub const IPPROTO_HOPOPTS: u8 = 0;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_IGMP: u8 = 2;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ROUTING: u8 = 43;
pub const IPPROTO_FRAGMENT: u8 = 44;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_ESP: u8 = 50;
pub const IPPROTO_AH: u8 = 51;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_NONE: u8 = 59;
pub const IPPROTO_DSTOPTS: u8 = 60;
pub const IPPROTO_SCTP: u8 = 132;

/// Reads a big-endian u16 at `off`, `None` past the end.
pub fn be16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Reads a big-endian u32 at `off`, `None` past the end.
pub fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a big-endian u128 (an IPv6 address) at `off`.
pub fn be128(b: &[u8], off: usize) -> Option<u128> {
    let s = b.get(off..off.checked_add(16)?)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(s);
    Some(u128::from_be_bytes(a))
}

/// Reads 6 bytes (a MAC address) at `off`.
pub fn mac(b: &[u8], off: usize) -> Option<[u8; 6]> {
    let s = b.get(off..off.checked_add(6)?)?;
    let mut a = [0u8; 6];
    a.copy_from_slice(s);
    Some(a)
}

/// Writes a big-endian u16 at `off`; false past the end.
pub fn put_be16(b: &mut [u8], off: usize, v: u16) -> bool {
    match off.checked_add(2).and_then(|e| b.get_mut(off..e)) {
        Some(s) => {
            s.copy_from_slice(&v.to_be_bytes());
            true
        }
        None => false,
    }
}

/// Writes a big-endian u32 at `off`; false past the end.
pub fn put_be32(b: &mut [u8], off: usize, v: u32) -> bool {
    match off.checked_add(4).and_then(|e| b.get_mut(off..e)) {
        Some(s) => {
            s.copy_from_slice(&v.to_be_bytes());
            true
        }
        None => false,
    }
}

/// Writes `v` at `off`; false past the end.
pub fn put_bytes(b: &mut [u8], off: usize, v: &[u8]) -> bool {
    match off.checked_add(v.len()).and_then(|e| b.get_mut(off..e)) {
        Some(s) => {
            s.copy_from_slice(v);
            true
        }
        None => false,
    }
}

/// An IPv4 header whose fixed part and options are inside the buffer.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Header<'a> {
    b: &'a [u8],
}

impl<'a> Ipv4Header<'a> {
    /// Checks version 4, IHL >= 5 and that the header with its options is
    /// inside `b`.
    pub fn new_checked(b: &'a [u8]) -> Option<Self> {
        let vihl = *b.first()?;
        let hlen = usize::from(vihl & 0x0f) * 4;
        if vihl >> 4 != 4 || hlen < 20 || b.len() < hlen {
            return None;
        }
        Some(Ipv4Header { b })
    }
    /// As `new_checked`, without looking at the version nibble (flow
    /// extraction trusts the Ethernet type, as Open vSwitch does).
    pub fn new_checked_any_version(b: &'a [u8]) -> Option<Self> {
        let hlen = usize::from(*b.first()? & 0x0f) * 4;
        if hlen < 20 || b.len() < hlen {
            return None;
        }
        Some(Ipv4Header { b })
    }
    pub fn header_len(&self) -> usize {
        usize::from(self.b[0] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.b[1]
    }
    pub fn total_len(&self) -> u16 {
        u16::from_be_bytes([self.b[2], self.b[3]])
    }
    pub fn frag_field(&self) -> u16 {
        u16::from_be_bytes([self.b[6], self.b[7]])
    }
    /// More-fragments flag set or non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.frag_field() & 0x3fff != 0
    }
    pub fn frag_offset(&self) -> u16 {
        self.frag_field() & 0x1fff
    }
    pub fn ttl(&self) -> u8 {
        self.b[8]
    }
    pub fn proto(&self) -> u8 {
        self.b[9]
    }
    pub fn src(&self) -> u32 {
        u32::from_be_bytes([self.b[12], self.b[13], self.b[14], self.b[15]])
    }
    pub fn dst(&self) -> u32 {
        u32::from_be_bytes([self.b[16], self.b[17], self.b[18], self.b[19]])
    }
}

/// The fixed IPv6 header (40 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Header<'a> {
    b: &'a [u8],
}

impl<'a> Ipv6Header<'a> {
    pub fn new_checked(b: &'a [u8]) -> Option<Self> {
        if b.len() < 40 || b[0] >> 4 != 6 {
            return None;
        }
        Some(Ipv6Header { b })
    }
    /// As `new_checked`, without looking at the version nibble.
    pub fn new_checked_any_version(b: &'a [u8]) -> Option<Self> {
        if b.len() < 40 {
            return None;
        }
        Some(Ipv6Header { b })
    }
    pub fn tclass(&self) -> u8 {
        (u16::from_be_bytes([self.b[0], self.b[1]]) >> 4) as u8
    }
    pub fn label(&self) -> u32 {
        u32::from_be_bytes([self.b[0], self.b[1], self.b[2], self.b[3]]) & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        u16::from_be_bytes([self.b[4], self.b[5]])
    }
    pub fn next_header(&self) -> u8 {
        self.b[6]
    }
    pub fn hop_limit(&self) -> u8 {
        self.b[7]
    }
    pub fn src(&self) -> u128 {
        be128(self.b, 8).unwrap_or(0)
    }
    pub fn dst(&self) -> u128 {
        be128(self.b, 24).unwrap_or(0)
    }
}

/// The fixed TCP header (20 bytes; the data offset is checked too).
#[derive(Debug, Clone, Copy)]
pub struct TcpHeader<'a> {
    b: &'a [u8],
}

impl<'a> TcpHeader<'a> {
    pub fn new_checked(b: &'a [u8]) -> Option<Self> {
        let off = usize::from(*b.get(12)? >> 4) * 4;
        if b.len() < 20 || off < 20 || b.len() < off {
            return None;
        }
        Some(TcpHeader { b })
    }
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.b[0], self.b[1]])
    }
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.b[2], self.b[3]])
    }
    /// The 12 flag bits (NS..FIN), as OVS's `tcp_flags` field.
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.b[12], self.b[13]]) & 0x0fff
    }
    pub fn header_len(&self) -> usize {
        usize::from(self.b[12] >> 4) * 4
    }
}
