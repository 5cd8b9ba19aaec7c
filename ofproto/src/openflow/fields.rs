//! Match fields: the field table, the dense key layout rules are stored in,
//! and the `Match` (value + mask) that every OpenFlow match format decodes
//! into and encodes from.
//!
//! Each field of ovs-fields(7) either owns bytes in the key ("storage"
//! fields) or is an alias: a different view of a storage field that some
//! OpenFlow versions use (vlan_vid and vlan_pcp are views of vlan_tci,
//! ip_dscp of nw_tos, in_port_oxm of in_port, xregs and xxregs of regs).

pub use super::field_table::{id, FIELDS};

/// A field's prerequisite: what the match must already contain before the
/// field may be matched on (ovs-fields(7) "Prerequisites").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prereq {
    None,
    Arp,
    Ct,
    Icmp4,
    Icmp6,
    Ip4,
    Ip6,
    IpAny,
    Mpls,
    NdAdvert,
    NdSolicit,
    Nd,
    Nsh,
    Sctp,
    Tcp,
    Udp,
    VlanVid,
}

/// One NXM/OXM code point of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hdr {
    /// NXM/OXM class: 0 and 1 are Nicira NXM, 0x8000 OpenFlow basic,
    /// 0x8001 packet registers, 0xffff experimenter.
    pub class: u16,
    /// Experimenter id when `class` is 0xffff.
    pub exp: u32,
    pub field: u8,
    /// First OpenFlow wire version with this OXM (0 for NXM code points).
    pub since_of: u8,
}

/// Static description of one field.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    /// The first NXM/OXM name of the field (as load/move print it).
    pub header_name: &'static str,
    pub alias: bool,
    /// Bytes on the wire.
    pub width: u8,
    /// Significant low bits of the value.
    pub bits: u8,
    pub maskable: bool,
    pub prereq: Prereq,
    pub read_only: bool,
    pub headers: &'static [Hdr],
}

pub const N_FIELDS: usize = FIELDS.len();

const fn compute_offsets() -> ([u16; N_FIELDS], usize) {
    let mut offs = [u16::MAX; N_FIELDS];
    let mut at = 0usize;
    let mut i = 0;
    while i < N_FIELDS {
        if !FIELDS[i].alias {
            offs[i] = at as u16;
            at += FIELDS[i].width as usize;
        }
        i += 1;
    }
    (offs, at)
}

const LAYOUT: ([u16; N_FIELDS], usize) = compute_offsets();
/// Byte offset of each storage field in a key (u16::MAX for aliases).
pub const OFFSETS: [u16; N_FIELDS] = LAYOUT.0;
/// Length of a dense flow key.
pub const KEY_LEN: usize = LAYOUT.1;

/// Byte range of storage field `f` in a key.
pub fn range(f: usize) -> std::ops::Range<usize> {
    let off = OFFSETS[f] as usize;
    off..off + FIELDS[f].width as usize
}

/// Looks a field up by one of its code points (class, experimenter, field)
/// and its value width in bytes.
pub fn by_header(class: u16, exp: u32, field: u8, width: usize) -> Option<usize> {
    if let Some(f) = tun_metadata_by_header(class, field, width) {
        return Some(f);
    }
    FIELDS.iter().position(|f| {
        f.width as usize == width
            && f.headers
                .iter()
                .any(|h| h.class == class && h.field == field && (class != 0xffff || h.exp == exp))
    })
}

/// NXM_NX_TUN_METADATA0..63 (class 1, fields 40..103) have a variable
/// length on the wire: 0 to 124 bytes, whatever the bridge's TLV map
/// gives the option. The key keeps 4 bytes per field (the length OVN
/// and most users map), so any wire length up to 124 names the field and
/// [`tun_metadata_value`] brings the bytes to those 4.
fn tun_metadata_by_header(class: u16, field: u8, width: usize) -> Option<usize> {
    (class == 1 && (40..=103).contains(&field) && width <= 124)
        .then(|| id::TUN_METADATA0 + usize::from(field - 40))
}

/// Whether `f` is one of tun_metadata0..63.
pub fn is_tun_metadata(f: usize) -> bool {
    (id::TUN_METADATA0..=id::TUN_METADATA63).contains(&f)
}

/// A tun_metadata value (or mask) as sent on the wire, brought to the
/// 4-byte option it stands for the way Open vSwitch does: longer values
/// keep their first 4 bytes, shorter ones are right-aligned.
pub fn tun_metadata_value(b: &[u8]) -> u128 {
    b.iter()
        .take(4)
        .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

pub fn by_name(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.name == name)
}

/// Ethernet types used by prerequisites.
pub mod eth_type {
    pub const IP: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MCAST: u16 = 0x8848;
    pub const NSH: u16 = 0x894f;
    pub const VLAN: u16 = 0x8100;
}

/// 802.1Q "CFI" bit, which Open vSwitch sets in vlan_tci when a tag exists.
pub const VLAN_CFI: u16 = 0x1000;

/// A match: for every storage field, a value and a mask (1-bits are
/// matched). Values are always zero where the mask is zero.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Match {
    pub key: [u8; KEY_LEN],
    pub mask: [u8; KEY_LEN],
}

impl Default for Match {
    fn default() -> Self {
        Match {
            key: [0; KEY_LEN],
            mask: [0; KEY_LEN],
        }
    }
}

impl std::fmt::Debug for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_map();
        for (i, def) in FIELDS.iter().enumerate() {
            if !def.alias && self.is_set(i) {
                let r = range(i);
                l.entry(&def.name, &(&self.key[r.clone()], &self.mask[r]));
            }
        }
        l.finish()
    }
}

fn be_to_u128(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, &x| (acc << 8) | x as u128)
}

fn u128_to_be(v: u128, out: &mut [u8]) {
    let n = out.len();
    for (i, o) in out.iter_mut().enumerate() {
        *o = (v >> (8 * (n - 1 - i))) as u8;
    }
}

impl Match {
    pub fn catchall() -> Self {
        Self::default()
    }

    /// Whether any bit of storage field `f` is matched.
    pub fn is_set(&self, f: usize) -> bool {
        self.mask[range(f)].iter().any(|&b| b != 0)
    }

    /// Whether any storage field from `first` to `last` (by number) is
    /// matched: one scan of their bytes, which the layout keeps
    /// consecutive in field order.
    pub fn any_set(&self, first: usize, last: usize) -> bool {
        self.mask[range(first).start..range(last).end]
            .iter()
            .any(|&b| b != 0)
    }

    pub fn is_exact(&self, f: usize) -> bool {
        self.mask[range(f)].iter().all(|&b| b == 0xff)
    }

    /// Value and mask of storage field `f` as integers (fields are at most
    /// 16 bytes wide).
    pub fn get(&self, f: usize) -> (u128, u128) {
        let r = range(f);
        (be_to_u128(&self.key[r.clone()]), be_to_u128(&self.mask[r]))
    }

    pub fn value(&self, f: usize) -> u128 {
        self.get(f).0
    }

    /// Sets storage field `f` from big-endian value and mask bytes of the
    /// field's width.
    pub fn set_bytes(&mut self, f: usize, value: &[u8], mask: &[u8]) {
        let r = range(f);
        for ((k, m), (v, mm)) in self.key[r.clone()]
            .iter_mut()
            .zip(self.mask[r].iter_mut())
            .zip(value.iter().zip(mask.iter()))
        {
            *k = v & mm;
            *m = *mm;
        }
    }

    pub fn set(&mut self, f: usize, value: u128, mask: u128) {
        let r = range(f);
        let v = value & mask;
        u128_to_be(v, &mut self.key[r.clone()]);
        u128_to_be(mask, &mut self.mask[r]);
    }

    pub fn set_exact(&mut self, f: usize, value: u128) {
        let bits = FIELDS[f].width as u32 * 8;
        let all = if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        self.set(f, value, all);
    }

    pub fn clear(&mut self, f: usize) {
        self.set(f, 0, 0);
    }

    /// Exact value of storage field `f`, or `None` when not fully matched.
    pub fn exact(&self, f: usize) -> Option<u128> {
        if self.is_exact(f) {
            Some(self.value(f))
        } else {
            None
        }
    }

    pub fn eth_type(&self) -> u16 {
        self.value(id::ETH_TYPE) as u16
    }

    pub fn nw_proto(&self) -> u8 {
        self.value(id::NW_PROTO) as u8
    }

    /// Whether the prerequisite `p` holds in this (partial) match, judged
    /// on values as Open vSwitch does.
    pub fn prereq_ok(&self, p: Prereq) -> bool {
        let et = self.eth_type();
        let ip_any = et == eth_type::IP || et == eth_type::IPV6;
        let proto = self.nw_proto();
        let icmp6 = et == eth_type::IPV6 && proto == 58;
        let icmp6_type = self.value(id::ICMPV6_TYPE) as u8;
        let icmp6_code = self.value(id::ICMPV6_CODE) as u8;
        match p {
            Prereq::None => true,
            Prereq::Arp => et == eth_type::ARP || et == eth_type::RARP,
            Prereq::Ct => {
                // A state bit that implies a valid connection, or tracked
                // and explicitly not invalid.
                let (st, mk) = self.get(id::CT_STATE);
                let (st, mk) = (st as u32, mk as u32);
                st & 0xcf != 0 || (st & 0x20 != 0 && mk & 0x10 != 0 && st & 0x10 == 0)
            }
            Prereq::Icmp4 => et == eth_type::IP && proto == 1,
            Prereq::Icmp6 => icmp6,
            Prereq::Ip4 => et == eth_type::IP,
            Prereq::Ip6 => et == eth_type::IPV6,
            Prereq::IpAny => ip_any,
            Prereq::Mpls => et == eth_type::MPLS || et == eth_type::MPLS_MCAST,
            Prereq::Nd => icmp6 && icmp6_code == 0 && (icmp6_type == 135 || icmp6_type == 136),
            Prereq::NdSolicit => icmp6 && icmp6_code == 0 && icmp6_type == 135,
            Prereq::NdAdvert => icmp6 && icmp6_code == 0 && icmp6_type == 136,
            Prereq::Nsh => et == eth_type::NSH,
            Prereq::Sctp => ip_any && proto == 132,
            Prereq::Tcp => ip_any && proto == 6,
            Prereq::Udp => ip_any && proto == 17,
            Prereq::VlanVid => self.value(id::VLAN_TCI) as u16 & VLAN_CFI != 0,
        }
    }

    /// Whether every packet this match accepts is also accepted by `outer`
    /// ("loose" matching of OpenFlow modify/delete and stats requests).
    pub fn is_subsumed_by(&self, outer: &Match) -> bool {
        self.key
            .iter()
            .zip(self.mask.iter())
            .zip(outer.key.iter().zip(outer.mask.iter()))
            .all(|((k, m), (ok, om))| om & !m == 0 && (k ^ ok) & om == 0)
    }

    /// Whether some packet could match both (check_overlap).
    pub fn overlaps(&self, other: &Match) -> bool {
        self.key
            .iter()
            .zip(self.mask.iter())
            .zip(other.key.iter().zip(other.mask.iter()))
            .all(|((k, m), (ok, om))| (k ^ ok) & m & om == 0)
    }

    /// Storage fields with any matched bit, in table order.
    pub fn set_fields(&self) -> impl Iterator<Item = usize> + '_ {
        (0..N_FIELDS).filter(move |&f| !FIELDS[f].alias && self.is_set(f))
    }
}

/// Converts an OpenFlow 1.1+ 32-bit port number to the 16-bit form used
/// internally (and by OpenFlow 1.0): reserved ports 0xffffff00.. become
/// 0xff00..; other numbers above 0xfeff do not exist.
pub fn port_from_of11(p: u32) -> Option<u16> {
    if p < 0xff00 {
        Some(p as u16)
    } else if p >= 0xffff_ff00 {
        Some((p - 0xffff_0000) as u16)
    } else {
        None
    }
}

/// The inverse of [`port_from_of11`].
pub fn port_to_of11(p: u16) -> u32 {
    if p >= 0xff00 {
        p as u32 + 0xffff_0000
    } else {
        p as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `any_set` sees every storage field numbered inside its span and
    /// none outside it: the layout keeps fields in number order.
    #[test]
    fn any_set_covers_exactly_the_fields_in_its_span() {
        let (first, last) = (id::TUN_METADATA0, id::TUN_METADATA63);
        for f in (0..N_FIELDS).filter(|&f| !FIELDS[f].alias) {
            let mut m = Match::default();
            m.set(f, 1, 1);
            assert_eq!(
                m.any_set(first, last),
                (first..=last).contains(&f),
                "{}",
                FIELDS[f].name
            );
        }
    }
}
