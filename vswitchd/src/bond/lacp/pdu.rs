//! The LACPDU on the wire (IEEE 802.3ad, as Open vSwitch sends and
//! accepts it): a zero-copy view [`Pdu`] over the slow-protocols payload
//! and the owned [`Repr`], plus the Ethernet frame around it.
//!
//! Layout of the 110-byte payload (after ethertype 0x8809):
//!
//! ```text
//!  0  subtype (1 = LACP, 2 = marker)   1  version (1)
//!  2  actor TLV: type 1, length 20, Info (15 bytes), 3 reserved
//! 22  partner TLV: type 2, length 20, Info (15 bytes), 3 reserved
//! 42  collector TLV: type 3, length 16, max delay (u16), 12 reserved
//! 58  terminator TLV (type 0, length 0) and reserved bytes up to 110
//! ```
//!
//! Info: system priority (u16), system id (MAC), key (u16), port
//! priority (u16), port id (u16), state (u8), all big-endian.

/// Destination of slow-protocols frames.
pub const DST_MAC: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x02];
/// The slow protocols' ethertype.
pub const ETH_TYPE: u16 = 0x8809;
/// The payload's length.
pub const PDU_LEN: usize = 110;
const INFO_LEN: usize = 15;
const ACTOR: usize = 2;
const PARTNER: usize = 22;
const COLLECTOR: usize = 42;

pub const SUBTYPE_LACP: u8 = 1;
pub const SUBTYPE_MARKER: u8 = 2;

/// Actor/partner state bits.
pub mod state {
    pub const ACTIVITY: u8 = 0x01;
    pub const TIMEOUT: u8 = 0x02;
    pub const AGGREGATION: u8 = 0x04;
    pub const SYNC: u8 = 0x08;
    pub const COLLECTING: u8 = 0x10;
    pub const DISTRIBUTING: u8 = 0x20;
    pub const DEFAULTED: u8 = 0x40;
    pub const EXPIRED: u8 = 0x80;
}

/// Why a frame is not a usable LACPDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its headers or the 110-byte payload.
    Truncated,
    /// Not a slow-protocols frame (ethertype).
    NotSlowProtocol,
    /// A marker PDU (counted apart, as stock does).
    Marker,
    /// Another subtype, or TLV types/lengths that are not LACP's.
    Malformed,
}

/// One side's information (actor or partner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Info {
    pub sys_priority: u16,
    pub sys_id: [u8; 6],
    pub key: u16,
    pub port_priority: u16,
    pub port_id: u16,
    pub state: u8,
}

impl Info {
    fn parse(b: &[u8; INFO_LEN]) -> Info {
        let u16at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let mut sys_id = [0; 6];
        sys_id.copy_from_slice(&b[2..8]);
        Info {
            sys_priority: u16at(0),
            sys_id,
            key: u16at(8),
            port_priority: u16at(10),
            port_id: u16at(12),
            state: b[14],
        }
    }

    fn emit(&self, b: &mut [u8; INFO_LEN]) {
        b[0..2].copy_from_slice(&self.sys_priority.to_be_bytes());
        b[2..8].copy_from_slice(&self.sys_id);
        b[8..10].copy_from_slice(&self.key.to_be_bytes());
        b[10..12].copy_from_slice(&self.port_priority.to_be_bytes());
        b[12..14].copy_from_slice(&self.port_id.to_be_bytes());
        b[14] = self.state;
    }
}

/// A read-only view of a slow-protocols payload checked to be a LACPDU.
#[derive(Debug, Clone, Copy)]
pub struct Pdu<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Pdu<T> {
    /// Checks length, subtype and the actor/partner TLV headers, as
    /// stock does before it trusts a PDU.
    pub fn new_checked(buffer: T) -> Result<Pdu<T>, Error> {
        let b = buffer.as_ref();
        let Some(head) = b.get(..PDU_LEN) else {
            // Stock reads a marker's subtype only from a full PDU too.
            return Err(Error::Truncated);
        };
        if head[0] == SUBTYPE_MARKER {
            return Err(Error::Marker);
        }
        if head[0] != SUBTYPE_LACP
            || head[ACTOR] != 1
            || head[ACTOR + 1] != 20
            || head[PARTNER] != 2
            || head[PARTNER + 1] != 20
        {
            return Err(Error::Malformed);
        }
        Ok(Pdu { buffer })
    }

    fn info(&self, at: usize) -> Info {
        let mut b = [0; INFO_LEN];
        // In range: new_checked saw PDU_LEN bytes.
        b.copy_from_slice(&self.buffer.as_ref()[at + 2..at + 2 + INFO_LEN]);
        Info::parse(&b)
    }

    pub fn actor(&self) -> Info {
        self.info(ACTOR)
    }

    pub fn partner(&self) -> Info {
        self.info(PARTNER)
    }

    pub fn collector_delay(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[COLLECTOR + 2], b[COLLECTOR + 3]])
    }
}

/// An owned LACPDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repr {
    pub actor: Info,
    pub partner: Info,
    pub collector_delay: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(pdu: &Pdu<T>) -> Repr {
        Repr {
            actor: pdu.actor(),
            partner: pdu.partner(),
            collector_delay: pdu.collector_delay(),
        }
    }

    /// The 110 payload bytes: version 1, the three TLVs, a terminator
    /// and zeros.
    pub fn emit(&self) -> [u8; PDU_LEN] {
        let mut b = [0u8; PDU_LEN];
        b[0] = SUBTYPE_LACP;
        b[1] = 1;
        for (at, ty, info) in [(ACTOR, 1, &self.actor), (PARTNER, 2, &self.partner)] {
            b[at] = ty;
            b[at + 1] = 20;
            let mut i = [0; INFO_LEN];
            info.emit(&mut i);
            b[at + 2..at + 2 + INFO_LEN].copy_from_slice(&i);
        }
        b[COLLECTOR] = 3;
        b[COLLECTOR + 1] = 16;
        b[COLLECTOR + 2..COLLECTOR + 4].copy_from_slice(&self.collector_delay.to_be_bytes());
        b
    }
}

/// The LACPDU in an Ethernet frame (one 802.1Q tag allowed, as stock
/// finds the payload after whatever L2 header the frame has).
pub fn parse_frame(frame: &[u8]) -> Result<Repr, Error> {
    let ethertype = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or(Error::Truncated)
    };
    let mut at = 12;
    if matches!(ethertype(at)?, 0x8100 | 0x88a8) {
        at += 4;
    }
    if ethertype(at)? != ETH_TYPE {
        return Err(Error::NotSlowProtocol);
    }
    let payload = frame.get(at + 2..).ok_or(Error::Truncated)?;
    Pdu::new_checked(payload).map(|p| Repr::parse(&p))
}

/// The frame that carries `repr` from a port whose MAC is `src`.
pub fn compose_frame(src: [u8; 6], repr: &Repr) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + PDU_LEN);
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ETH_TYPE.to_be_bytes());
    f.extend_from_slice(&repr.emit());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Repr {
        Repr {
            actor: Info {
                sys_priority: 65534,
                sys_id: [0xaa, 0x55, 0, 0, 0, 1],
                key: 3,
                port_priority: 65535,
                port_id: 3,
                state: state::ACTIVITY | state::TIMEOUT | state::AGGREGATION | state::SYNC,
            },
            partner: Info {
                sys_priority: 0xffff,
                sys_id: [2, 0, 0, 0, 0, 9],
                key: 15,
                port_priority: 255,
                port_id: 1,
                state: state::COLLECTING | state::DISTRIBUTING | state::EXPIRED,
            },
            collector_delay: 0,
        }
    }

    #[test]
    fn frames_round_trip_with_the_wire_layout() {
        let r = sample();
        let f = compose_frame([2, 0, 0, 0, 0, 0x11], &r);
        assert_eq!(f.len(), 124);
        assert_eq!(&f[..6], &DST_MAC);
        assert_eq!(&f[12..16], &[0x88, 0x09, 1, 1]);
        // Actor TLV header, then its system priority and id.
        assert_eq!(&f[16..26], &[1, 20, 0xff, 0xfe, 0xaa, 0x55, 0, 0, 0, 1]);
        assert_eq!(f[16 + 16], 0x0f);
        assert_eq!(&f[36..38], &[2, 20]);
        assert_eq!(&f[56..58], &[3, 16]);
        assert!(f[60..].iter().all(|&b| b == 0));
        assert_eq!(parse_frame(&f), Ok(r));
        // A tagged copy parses the same.
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0, 0, 10]);
        tagged.extend_from_slice(&f[12..]);
        assert_eq!(parse_frame(&tagged), Ok(r));
    }

    #[test]
    fn hostile_frames_are_refused_without_panic() {
        let good = compose_frame([2, 0, 0, 0, 0, 1], &sample());
        // Every truncation.
        for n in 0..good.len() {
            assert!(parse_frame(&good[..n]).is_err(), "{n} bytes accepted");
        }
        let with = |i: usize, v: u8| {
            let mut f = good.clone();
            f[i] = v;
            parse_frame(&f)
        };
        assert_eq!(with(14, 2), Err(Error::Marker));
        assert_eq!(with(14, 9), Err(Error::Malformed));
        assert_eq!(with(16, 2), Err(Error::Malformed));
        assert_eq!(with(17, 19), Err(Error::Malformed));
        assert_eq!(with(36, 1), Err(Error::Malformed));
        assert_eq!(with(37, 0), Err(Error::Malformed));
        assert_eq!(with(13, 0x00), Err(Error::NotSlowProtocol));
        // Longer frames (padding) are fine.
        let mut long = good.clone();
        long.extend_from_slice(&[0xee; 20]);
        assert_eq!(parse_frame(&long), Ok(sample()));
        // Arbitrary bytes never panic.
        let mut x: u32 = 0x1234_5678;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = parse_frame(&junk);
            let _ = Pdu::new_checked(&junk[..]);
        }
    }
}
