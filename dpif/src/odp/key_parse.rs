//! Parsing the text form of flow keys and masks, as `ovs-dpctl add-flow`
//! and `ovs-appctl dpctl/add-flow` take it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::consts::*;
use super::key::*;
use super::scan::*;
use super::{OdpError, Result};

/// Deepest nesting the parser accepts (as Open vSwitch's MAX_ODP_NESTED).
const MAX_ODP_NESTED: usize = 32;

pub(crate) const DELIMITERS: &[u8] = b", \t\r\n";

pub(crate) fn skip_delims(s: &str, mut i: usize) -> usize {
    while s.as_bytes().get(i).is_some_and(|c| DELIMITERS.contains(c)) {
        i += 1;
    }
    i
}

/// Parses a key (with its mask) from text. Returns the key attributes and
/// the mask attributes, in text order.
pub fn parse_key_attrs(
    s: &str,
    port_names: Option<&HashMap<String, u32>>,
) -> Result<(Vec<KeyAttr>, Vec<KeyAttr>)> {
    ascii_only(s)?;
    let mut p = KeyParser {
        port_names,
        depth: 0,
    };
    let mut key = Vec::new();
    let mut mask = Vec::new();
    let mut i = 0;
    loop {
        i = skip_delims(s, i);
        if i >= s.len() {
            return Ok((key, mask));
        }
        let rest = &s[i..];
        if let Some(r) = rest.strip_prefix("ufid:") {
            if parse_ufid(r).is_none() {
                return Err(syntax(rest));
            }
            i += 5 + 36;
            if s.as_bytes().get(i) == Some(&b' ') {
                i += 1;
            }
            continue;
        }
        // An empty key prints as `<empty>`; take that back as the empty
        // key (stock cannot), so that everything printed parses again.
        if let Some(after) = rest.strip_prefix("<empty>") {
            if key.is_empty() && skip_delims(after, 0) == after.len() {
                return Ok((key, mask));
            }
        }
        let (k, m, n) = p.attr(rest).map_err(|_| syntax(rest))?;
        refuse_duplicate(&key, &k)?;
        key.push(k);
        mask.push(m);
        i += n;
    }
}

/// A key has each attribute once per level (the kernel refuses a
/// duplicate; and a mask is found by type, so a second one could not get
/// its own mask).
fn refuse_duplicate(list: &[KeyAttr], a: &KeyAttr) -> Result<()> {
    let ty = a.attr_type();
    if list.iter().any(|x| x.attr_type() == ty) {
        Err(OdpError::new(format!(
            "duplicate key attribute {}",
            key_attr_name(ty)
        )))
    } else {
        Ok(())
    }
}

/// The text syntax is ASCII; refusing anything else up front also keeps
/// every byte offset the scanners compute on a character boundary. NUL is
/// refused too: stock reads C strings, which end there, and a name with a
/// NUL inside (ct helper, timeout policy) would be cut short on the wire.
pub(crate) fn ascii_only(s: &str) -> Result<()> {
    if !s.is_ascii() {
        Err(OdpError::new("non-ASCII character in flow text"))
    } else if s.contains('\0') {
        Err(OdpError::new("NUL character in flow text"))
    } else {
        Ok(())
    }
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` into a UFID.
pub fn parse_ufid(s: &str) -> Option<u128> {
    let u = s.get(..36)?;
    let b = u.as_bytes();
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let hex: String = u.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let p = |a: usize| u32::from_str_radix(&hex[a..a + 8], 16).ok();
    let parts = [p(0)?, p(8)?, p(16)?, p(24)?];
    Some(
        u128::from(parts[0])
            | u128::from(parts[1]) << 32
            | u128::from(parts[2]) << 64
            | u128::from(parts[3]) << 96,
    )
}

type Parsed = (KeyAttr, KeyAttr, usize);

/// Parses exactly one key attribute (with its mask) at the start of `s`;
/// returns the key, the mask and the length consumed.
pub fn parse_one_key_attr(s: &str, port_names: Option<&HashMap<String, u32>>) -> Result<Parsed> {
    ascii_only(s)?;
    KeyParser {
        port_names,
        depth: 0,
    }
    .attr(s)
}

struct KeyParser<'a> {
    port_names: Option<&'a HashMap<String, u32>>,
    depth: usize,
}

fn err() -> OdpError {
    OdpError::new("syntax error")
}

/// Runs the `field=value,...)` loop of a struct-like attribute. `on` gets
/// the index of the matched field prefix and the text after it, and
/// returns how much of that text it consumed. Returns the total consumed,
/// including the closing parenthesis.
fn scan_fields(
    s: &str,
    names: &[&str],
    mut on: impl FnMut(usize, &str) -> Result<usize>,
) -> Result<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let mut len = 0;
        if let Some((k, name)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| s[i..].starts_with(**n))
        {
            i += name.len();
            let n = on(k, &s[i..])?;
            if n == 0 {
                return Err(err());
            }
            i += n;
            len = n;
        }
        let c = b.get(i).copied();
        i += 1;
        if c == Some(b',') && len != 0 {
            continue;
        }
        if c != Some(b')') {
            return Err(err());
        }
        return Ok(i);
    }
}

fn sc_u8(s: &str, k: &mut u8, m: &mut u8) -> Result<usize> {
    let (v, mv, n) = scan_masked(s, 0xff).ok_or_else(err)?;
    *k = v as u8;
    *m = mv as u8;
    Ok(n)
}
fn sc_u16(s: &str, k: &mut u16, m: &mut u16) -> Result<usize> {
    let (v, mv, n) = scan_masked(s, 0xffff).ok_or_else(err)?;
    *k = v as u16;
    *m = mv as u16;
    Ok(n)
}
fn sc_u32(s: &str, k: &mut u32, m: &mut u32) -> Result<usize> {
    let (v, mv, n) = scan_masked(s, 0xffff_ffff).ok_or_else(err)?;
    *k = v as u32;
    *m = mv as u32;
    Ok(n)
}
fn sc_ipv4(s: &str, k: &mut Ipv4Addr, m: &mut Ipv4Addr) -> Result<usize> {
    let (v, mv, n) = scan_ipv4(s).ok_or_else(err)?;
    *k = v;
    *m = mv;
    Ok(n)
}
fn sc_in6(s: &str, k: &mut Ipv6Addr, m: &mut Ipv6Addr) -> Result<usize> {
    let (v, mv, n) = scan_in6(s).ok_or_else(err)?;
    *k = v;
    *m = mv;
    Ok(n)
}
fn sc_eth(s: &str, k: &mut [u8; 6], m: &mut [u8; 6]) -> Result<usize> {
    let (v, mv, n) = scan_mac(s).ok_or_else(err)?;
    *k = v;
    *m = mv;
    Ok(n)
}
fn sc_frag(s: &str, k: &mut u8, m: &mut u8) -> Result<usize> {
    let n = s
        .bytes()
        .take(7)
        .take_while(|c| c.is_ascii_lowercase())
        .count();
    *k = match s[..n].to_ascii_lowercase().as_str() {
        "no" => OVS_FRAG_TYPE_NONE,
        "first" => OVS_FRAG_TYPE_FIRST,
        "later" => OVS_FRAG_TYPE_LATER,
        _ => return Err(err()),
    };
    *m = 0xff;
    Ok(n)
}
fn sc_label(s: &str, k: &mut u32, m: &mut u32) -> Result<usize> {
    let (v, mut n) = scan_int(s).ok_or_else(err)?;
    let v = v as u32;
    if v & !0xfffff != 0 {
        return Err(err());
    }
    *k = v;
    *m = 0xfffff;
    if s[n..].starts_with('/') {
        if let Some((mv, l)) = scan_int(&s[n + 1..]) {
            if (mv as u32) & !0xfffff == 0 {
                *m = mv as u32;
                n += 1 + l;
            }
        }
    }
    Ok(n)
}
/// A bit field of `bits` bits at `offset` in a 16- or 32-bit word.
fn sc_bits(s: &str, k: &mut u32, m: &mut u32, bits: u32, offset: u32) -> Result<usize> {
    let field = ((1u32 << bits) - 1) << offset;
    let (v, mut n) = scan_int(s).ok_or_else(err)?;
    let v = v as u32;
    if v >> bits != 0 {
        return Err(err());
    }
    *k = (*k & !field) | (v << offset);
    if s[n..].starts_with('/') {
        if let Some((mv, l)) = scan_int(&s[n + 1..]) {
            let mv = mv as u32;
            if mv >> bits != 0 {
                return Err(err());
            }
            *m = (*m & !field) | (mv << offset);
            n += 1 + l;
            return Ok(n);
        }
    }
    *m |= field;
    Ok(n)
}

impl KeyParser<'_> {
    fn attr(&mut self, s: &str) -> Result<Parsed> {
        self.depth += 1;
        let r = if self.depth >= MAX_ODP_NESTED {
            Err(err())
        } else {
            self.attr_inner(s)
        };
        self.depth -= 1;
        r
    }

    fn single_u32(
        s: &str,
        name: &str,
        mk: fn(u32) -> KeyAttr,
        fully_masked: bool,
    ) -> Option<Result<Parsed>> {
        let rest = s.strip_prefix(name)?;
        Some((|| {
            let (v, m, n) = if fully_masked {
                let (v, n) = scan_int(rest).ok_or_else(err)?;
                (v as u32, u32::MAX, n)
            } else {
                let (v, m, n) = scan_masked(rest, 0xffff_ffff).ok_or_else(err)?;
                (v as u32, m as u32, n)
            };
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            Ok((mk(v), mk(m), name.len() + n + 1))
        })())
    }

    fn attr_inner(&mut self, s: &str) -> Result<Parsed> {
        use KeyAttr::*;
        for (name, mk, full) in [
            ("skb_priority(", Priority as fn(u32) -> KeyAttr, false),
            ("skb_mark(", SkbMark, false),
            ("recirc_id(", RecircId, true),
            ("dp_hash(", DpHash, false),
            ("ct_mark(", CtMark, false),
        ] {
            if let Some(r) = Self::single_u32(s, name, mk, full) {
                return r;
            }
        }
        if let Some(rest) = s.strip_prefix("ct_state(") {
            let (v, m, n) = parse_flags(rest, ct_state_name, b')', 0xff, true).ok_or_else(err)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((CtState(v), CtState(m), 9 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("ct_zone(") {
            let (mut k, mut m) = (0u16, 0u16);
            let n = sc_u16(rest, &mut k, &mut m)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((CtZone(k), CtZone(m), 8 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("ct_label(") {
            let mut kb = [0u8; 16];
            let mut n = parse_int_string(rest, &mut kb).ok_or_else(err)?;
            let mut mb = [0xffu8; 16];
            if rest[n..].starts_with('/') {
                n += 1 + parse_int_string(&rest[n + 1..], &mut mb).ok_or_else(err)?;
            }
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((
                CtLabels(u128::from_be_bytes(kb)),
                CtLabels(u128::from_be_bytes(mb)),
                9 + n + 1,
            ));
        }
        if let Some(rest) = s.strip_prefix("ct_tuple4(") {
            let z = CtTupleIpv4Key {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::UNSPECIFIED,
                src_port: 0,
                dst_port: 0,
                proto: 0,
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &["src=", "dst=", "proto=", "tp_src=", "tp_dst="],
                |f, r| match f {
                    0 => sc_ipv4(r, &mut k.src, &mut m.src),
                    1 => sc_ipv4(r, &mut k.dst, &mut m.dst),
                    2 => sc_u8(r, &mut k.proto, &mut m.proto),
                    3 => sc_u16(r, &mut k.src_port, &mut m.src_port),
                    _ => sc_u16(r, &mut k.dst_port, &mut m.dst_port),
                },
            )?;
            return Ok((CtOrigTupleIpv4(k), CtOrigTupleIpv4(m), 10 + n));
        }
        if let Some(rest) = s.strip_prefix("ct_tuple6(") {
            let z = CtTupleIpv6Key {
                src: Ipv6Addr::UNSPECIFIED,
                dst: Ipv6Addr::UNSPECIFIED,
                src_port: 0,
                dst_port: 0,
                proto: 0,
            };
            let (mut k, mut m) = (z, z);
            // Stock prints src_port/dst_port here but parses tp_src/tp_dst;
            // take both.
            let n = scan_fields(
                rest,
                &[
                    "src=",
                    "dst=",
                    "proto=",
                    "tp_src=",
                    "tp_dst=",
                    "src_port=",
                    "dst_port=",
                ],
                |f, r| match f {
                    0 => sc_in6(r, &mut k.src, &mut m.src),
                    1 => sc_in6(r, &mut k.dst, &mut m.dst),
                    2 => sc_u8(r, &mut k.proto, &mut m.proto),
                    3 | 5 => sc_u16(r, &mut k.src_port, &mut m.src_port),
                    _ => sc_u16(r, &mut k.dst_port, &mut m.dst_port),
                },
            )?;
            return Ok((CtOrigTupleIpv6(k), CtOrigTupleIpv6(m), 10 + n));
        }
        if let Some(rest) = s.strip_prefix("tunnel(") {
            let (k, m, n) = super::tunnel_text::parse_tunnel(rest)?;
            return Ok((Tunnel(k), Tunnel(m), 7 + n));
        }
        if let Some(rest) = s.strip_prefix("in_port(") {
            let (k, m, n) = match scan_masked(rest, 0xffff_ffff) {
                Some((v, m, n)) => (v as u32, m as u32, n),
                None => {
                    let len = rest.find(')').unwrap_or(rest.len());
                    match self.port_names.and_then(|p| p.get(&rest[..len])) {
                        Some(&port) if len > 0 => (port, u32::MAX, len),
                        _ => return Err(err()),
                    }
                }
            };
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((InPort(k), InPort(m), 8 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("eth(") {
            let (mut k, mut m) = (EthKey::default(), EthKey::default());
            let n = scan_fields(rest, &["src=", "dst="], |f, r| match f {
                0 => sc_eth(r, &mut k.src, &mut m.src),
                _ => sc_eth(r, &mut k.dst, &mut m.dst),
            })?;
            return Ok((Ethernet(k), Ethernet(m), 4 + n));
        }
        if let Some(rest) = s.strip_prefix("vlan(") {
            let (mut k, mut m) = (0x1000u32, 0x1000u32);
            let n = scan_fields(rest, &["vid=", "pcp=", "cfi="], |f, r| match f {
                0 => sc_bits(r, &mut k, &mut m, 12, 0),
                1 => sc_bits(r, &mut k, &mut m, 3, 13),
                _ => sc_bits(r, &mut k, &mut m, 1, 12),
            })?;
            return Ok((Vlan(k as u16), Vlan(m as u16), 5 + n));
        }
        if let Some(rest) = s.strip_prefix("eth_type(") {
            let (mut k, mut m) = (0u16, 0u16);
            let n = sc_u16(rest, &mut k, &mut m)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((Ethertype(k), Ethertype(m), 9 + n + 1));
        }
        if let Some(rest) = s.strip_prefix("mpls(") {
            return parse_mpls(rest).map(|(k, m, n)| (Mpls(k), Mpls(m), 5 + n));
        }
        if let Some(rest) = s.strip_prefix("ipv4(") {
            let z = Ipv4Key {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::UNSPECIFIED,
                proto: 0,
                tos: 0,
                ttl: 0,
                frag: 0,
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &["src=", "dst=", "proto=", "tos=", "ttl=", "frag="],
                |f, r| match f {
                    0 => sc_ipv4(r, &mut k.src, &mut m.src),
                    1 => sc_ipv4(r, &mut k.dst, &mut m.dst),
                    2 => sc_u8(r, &mut k.proto, &mut m.proto),
                    3 => sc_u8(r, &mut k.tos, &mut m.tos),
                    4 => sc_u8(r, &mut k.ttl, &mut m.ttl),
                    _ => sc_frag(r, &mut k.frag, &mut m.frag),
                },
            )?;
            return Ok((Ipv4(k), Ipv4(m), 5 + n));
        }
        if let Some(rest) = s.strip_prefix("ipv6(") {
            let z = Ipv6Key {
                src: Ipv6Addr::UNSPECIFIED,
                dst: Ipv6Addr::UNSPECIFIED,
                label: 0,
                proto: 0,
                tclass: 0,
                hlimit: 0,
                frag: 0,
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &[
                    "src=", "dst=", "label=", "proto=", "tclass=", "hlimit=", "frag=",
                ],
                |f, r| match f {
                    0 => sc_in6(r, &mut k.src, &mut m.src),
                    1 => sc_in6(r, &mut k.dst, &mut m.dst),
                    2 => sc_label(r, &mut k.label, &mut m.label),
                    3 => sc_u8(r, &mut k.proto, &mut m.proto),
                    4 => sc_u8(r, &mut k.tclass, &mut m.tclass),
                    5 => sc_u8(r, &mut k.hlimit, &mut m.hlimit),
                    _ => sc_frag(r, &mut k.frag, &mut m.frag),
                },
            )?;
            return Ok((Ipv6(k), Ipv6(m), 5 + n));
        }
        for (name, mk) in [
            ("tcp(", Tcp as fn(PortsKey) -> KeyAttr),
            ("udp(", Udp),
            ("sctp(", Sctp),
        ] {
            if let Some(rest) = s.strip_prefix(name) {
                let (mut k, mut m) = (PortsKey::default(), PortsKey::default());
                let n = scan_fields(rest, &["src=", "dst="], |f, r| match f {
                    0 => sc_u16(r, &mut k.src, &mut m.src),
                    _ => sc_u16(r, &mut k.dst, &mut m.dst),
                })?;
                return Ok((mk(k), mk(m), name.len() + n));
            }
        }
        if let Some(rest) = s.strip_prefix("tcp_flags(") {
            let (v, m, n) = parse_flags(rest, tcp_flag_name, b')', 0x0fff, true).ok_or_else(err)?;
            if rest.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            return Ok((TcpFlags(v as u16), TcpFlags(m as u16), 10 + n + 1));
        }
        for (name, mk) in [
            ("icmp(", Icmp as fn(IcmpKey) -> KeyAttr),
            ("icmpv6(", Icmpv6),
        ] {
            if let Some(rest) = s.strip_prefix(name) {
                let (mut k, mut m) = (IcmpKey::default(), IcmpKey::default());
                let n = scan_fields(rest, &["type=", "code="], |f, r| match f {
                    0 => sc_u8(r, &mut k.icmp_type, &mut m.icmp_type),
                    _ => sc_u8(r, &mut k.code, &mut m.code),
                })?;
                return Ok((mk(k), mk(m), name.len() + n));
            }
        }
        if let Some(rest) = s.strip_prefix("arp(") {
            let z = ArpKey {
                sip: Ipv4Addr::UNSPECIFIED,
                tip: Ipv4Addr::UNSPECIFIED,
                op: 0,
                sha: [0; 6],
                tha: [0; 6],
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(
                rest,
                &["sip=", "tip=", "op=", "sha=", "tha="],
                |f, r| match f {
                    0 => sc_ipv4(r, &mut k.sip, &mut m.sip),
                    1 => sc_ipv4(r, &mut k.tip, &mut m.tip),
                    2 => sc_u16(r, &mut k.op, &mut m.op),
                    3 => sc_eth(r, &mut k.sha, &mut m.sha),
                    _ => sc_eth(r, &mut k.tha, &mut m.tha),
                },
            )?;
            return Ok((Arp(k), Arp(m), 4 + n));
        }
        if let Some(rest) = s.strip_prefix("nd(") {
            let z = NdKey {
                target: Ipv6Addr::UNSPECIFIED,
                sll: [0; 6],
                tll: [0; 6],
            };
            let (mut k, mut m) = (z, z);
            let n = scan_fields(rest, &["target=", "sll=", "tll="], |f, r| match f {
                0 => sc_in6(r, &mut k.target, &mut m.target),
                1 => sc_eth(r, &mut k.sll, &mut m.sll),
                _ => sc_eth(r, &mut k.tll, &mut m.tll),
            })?;
            return Ok((Nd(k), Nd(m), 3 + n));
        }
        if let Some(rest) = s.strip_prefix("nd_ext(") {
            let (mut k, mut m) = (NdExtKey::default(), NdExtKey::default());
            let n = scan_fields(
                rest,
                &["nd_reserved=", "nd_options_type="],
                |f, r| match f {
                    0 => sc_u32(r, &mut k.reserved, &mut m.reserved),
                    _ => sc_u8(r, &mut k.options_type, &mut m.options_type),
                },
            )?;
            return Ok((NdExtensions(k), NdExtensions(m), 7 + n));
        }
        if let Some(rest) = s.strip_prefix("packet_type(") {
            let (mut kn, mut mn, mut ki, mut mi) = (0u16, 0u16, 0u16, 0u16);
            let n = scan_fields(rest, &["ns=", "id="], |f, r| match f {
                0 => sc_u16(r, &mut kn, &mut mn),
                _ => sc_u16(r, &mut ki, &mut mi),
            })?;
            let pack = |a: u16, b: u16| u32::from(a) << 16 | u32::from(b);
            return Ok((PacketType(pack(kn, ki)), PacketType(pack(mn, mi)), 12 + n));
        }
        if let Some(rest) = s.strip_prefix("nsh(") {
            return parse_nsh(rest).map(|(k, m, n)| (Nsh(k), Nsh(m), 4 + n));
        }
        if let Some(rest) = s.strip_prefix("encap(") {
            let (mut k, mut m) = (Vec::new(), Vec::new());
            let mut i = 0;
            loop {
                i = skip_delims(rest, i);
                match rest.as_bytes().get(i) {
                    None => return Err(err()),
                    Some(b')') => break,
                    _ => {}
                }
                let (a, ma, n) = self.attr(&rest[i..])?;
                refuse_duplicate(&k, &a)?;
                k.push(a);
                m.push(ma);
                i += n;
            }
            return Ok((Encap(k), Encap(m), 6 + i + 1));
        }
        // `key<N>(hex)`: an attribute unknown to this code, as printed;
        // type 0 prints as `unspec(hex)`.
        let unknown = match s.strip_prefix("unspec") {
            Some(rest) => Some((rest, 0u64, 0usize, 6usize)),
            None => s
                .strip_prefix("key")
                .and_then(|rest| scan_dec(rest).map(|(ty, n)| (rest, ty, n, 3))),
        };
        if let Some((rest, ty, n, prefix)) = unknown {
            let ty = u16::try_from(ty).map_err(|_| err())?;
            let r = rest[n..].strip_prefix('(').ok_or_else(err)?;
            let (data, dn) = scan_spaced_hex(r).ok_or_else(err)?;
            let mut used = dn;
            let mut mdata = vec![0xff; data.len()];
            if r[dn..].starts_with('/') {
                let (md, mn) = scan_spaced_hex(&r[dn + 1..]).ok_or_else(err)?;
                mdata = md;
                used += 1 + mn;
            }
            if r.as_bytes().get(used) != Some(&b')') {
                return Err(err());
            }
            let k = KeyAttr::decode(ty, &data, 0)?;
            let m = KeyAttr::decode(ty, &mdata, 0)?;
            if !matches!(k, Unknown { .. }) {
                return Err(err());
            }
            return Ok((k, m, prefix + n + 1 + used + 1));
        }
        Err(err())
    }
}

fn parse_mpls(s: &str) -> Result<(Vec<u32>, Vec<u32>, usize)> {
    const CNT: usize = 3;
    let names = ["label=", "tc=", "ttl=", "bos="];
    let spec: [(u32, u32); 4] = [(20, 12), (3, 9), (8, 0), (1, 8)];
    let mut k = [0u32; CNT];
    let mut m = [0u32; CNT];
    let mut idx = 0;
    let mut fields = 0u32;
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let mut len = 0;
        if let Some((f, name)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| s[i..].starts_with(**n))
        {
            if fields & (1 << f) != 0 {
                fields = 0;
                idx += 1;
                if idx == CNT {
                    // Too many entries: the closing check below fails.
                    return Err(err());
                }
            }
            i += name.len();
            let (bits, ofs) = spec[f];
            let n = sc_bits(&s[i..], &mut k[idx], &mut m[idx], bits, ofs)?;
            i += n;
            len = n;
            fields |= 1 << f;
        }
        let c = b.get(i).copied();
        i += 1;
        if c == Some(b',') && len != 0 {
            continue;
        }
        if c != Some(b')') {
            return Err(err());
        }
        break;
    }
    Ok((k[..=idx].to_vec(), m[..=idx].to_vec(), i))
}

fn parse_nsh(s: &str) -> Result<(Vec<NshAttr>, Vec<NshAttr>, usize)> {
    let (mut kf, mut mf) = ([0u8; 4], [0u8; 4]); // flags, ttl, mdtype, np
    let (mut spi, mut spi_m) = (0u32, 0u32);
    let (mut si, mut si_m) = (0u8, 0u8);
    let (mut kc, mut mc) = ([0u32; 4], [0u32; 4]);
    let names = [
        "flags=", "ttl=", "mdtype=", "np=", "spi=", "si=", "c1=", "c2=", "c3=", "c4=",
    ];
    let n = scan_fields(s, &names, |f, r| {
        let [kfl, kttl, kmd, knp] = &mut kf;
        let [mfl, mttl, mmd, mnp] = &mut mf;
        match f {
            0 => sc_u8(r, kfl, mfl),
            1 => sc_u8(r, kttl, mttl),
            2 => sc_u8(r, kmd, mmd),
            3 => sc_u8(r, knp, mnp),
            4 => sc_u32(r, &mut spi, &mut spi_m),
            5 => sc_u8(r, &mut si, &mut si_m),
            c => sc_u32(r, &mut kc[c - 6], &mut mc[c - 6]),
        }
    })?;
    let base = |f: [u8; 4], spi: u32, si: u8| NshAttr::Base {
        flags: f[0],
        ttl: f[1],
        mdtype: f[2],
        np: f[3],
        path_hdr: (spi << 8) | u32::from(si),
    };
    let mut key = vec![base(kf, spi, si)];
    if kf[2] == 1 {
        key.push(NshAttr::Md1(kc));
    }
    let mask = vec![base(mf, spi_m, si_m), NshAttr::Md1(mc)];
    Ok((key, mask, n))
}
