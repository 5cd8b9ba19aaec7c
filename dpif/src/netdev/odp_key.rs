//! Conversion between the datapath's flow key ([`FlowKey`], filled by
//! packet parsing) and the `OVS_KEY_ATTR_*` attributes that cross the
//! [`crate::Dpif`] interface.
//!
//! A mask is converted in the light of its key: the same attribute means a
//! different field depending on the key's nesting (the outer `eth_type` of
//! a VLAN key is the tag's TPID). Attributes missing from a mask are
//! wildcards; an empty mask means "exactly the attributes of the key".

use std::net::{Ipv4Addr, Ipv6Addr};

use ferrovs_netdev::flow::{FlowKey, VlanHdr, FRAG_LATER, MAX_VLANS, VLAN_PRESENT};
use ferrovs_netdev::wire::*;

use crate::odp::key::{ArpKey, EthKey, IcmpKey, Ipv4Key, Ipv6Key, NdExtKey, NdKey, PortsKey};
use crate::odp::{Key, KeyAttr, OdpError, TunnelAttr};

/// Tunnel flag bits kept in `FlowKey::tun_flags` (those of the netdev
/// crate's tunnel metadata).
pub use ferrovs_netdev::tunnel::{
    TNL_F_CSUM as TUN_F_CSUM, TNL_F_DONT_FRAGMENT as TUN_F_DONT_FRAGMENT, TNL_F_KEY as TUN_F_KEY,
    TNL_F_OAM as TUN_F_OAM,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Values are key values.
    Key,
    /// Values are mask bits.
    Mask,
    /// Every field an attribute covers becomes all-ones (a mask that
    /// matches a key exactly).
    Exact,
}

/// A value that can be made all-ones for `Mode::Exact`.
trait Ones: Copy {
    fn ones() -> Self;
}
macro_rules! ones {
    ($($t:ty),*) => {$(impl Ones for $t { fn ones() -> Self { !0 } })*};
}
ones!(u8, u16, u32, u64, u128);
impl Ones for [u8; 6] {
    fn ones() -> Self {
        [0xff; 6]
    }
}

fn put<T: Ones>(dst: &mut T, v: T, mode: Mode) {
    *dst = if mode == Mode::Exact { T::ones() } else { v };
}

/// Converts a key and its mask to a `FlowKey` pair (the key already ANDed
/// with the mask).
pub fn from_odp(key: &[u8], mask: &[u8]) -> Result<(FlowKey, FlowKey), OdpError> {
    let k = Key::from_nlattrs(key)?;
    let mut fk = FlowKey::default();
    let n_vlans = apply(&k.attrs, &mut fk, 0, 0, Mode::Key)?;
    if k.find(OVS_KEY_ATTR_ETHERNET_ID).is_some() && !has_ethertype(&k.attrs) {
        // A key with Ethernet but no type is an 802.2 frame (as Open
        // vSwitch reads it).
        fk.eth_type = ETH_TYPE_NONE;
    }
    let mut fm = FlowKey::default();
    if mask.is_empty() {
        apply(&k.attrs, &mut fm, 0, n_vlans, Mode::Exact)?;
        if fk.eth_type == ETH_TYPE_NONE {
            fm.eth_type = 0xffff;
        }
    } else {
        let m = Key::from_nlattrs(mask)?;
        apply(&m.attrs, &mut fm, 0, n_vlans, Mode::Mask)?;
    }
    // A key without an input port names none.
    if k.find(crate::odp::OVS_KEY_ATTR_IN_PORT).is_none() {
        fk.in_port = u32::MAX;
    }
    complete_mask(&mut fm, n_vlans);
    Ok((fk.masked(&fm), fm))
}

/// What every installed mask matches besides what it names: the input
/// port and recirculation id exactly (like Open vSwitch's userspace
/// datapath, and the kernel for recirc_id), and with an exact type, "no
/// (further) tag" after the key's `n_vlans` tags.
fn complete_mask(fm: &mut FlowKey, n_vlans: usize) {
    fm.in_port = u32::MAX;
    fm.recirc_id = u32::MAX;
    if fm.eth_type != 0 && n_vlans < MAX_VLANS {
        fm.vlans[n_vlans].tci = 0xffff;
    }
}

/// [`from_odp`] for a key the datapath extracted itself and whose
/// netlink form `key` came from it (`to_odp`): only the mask is decoded.
/// `None` when the key is one whose round trip through netlink is not
/// plainly the identity (VLAN tags, tunnel metadata): decode it then.
pub fn from_extracted(
    flow: &FlowKey,
    key: &[u8],
    mask: &[u8],
) -> Option<Result<(FlowKey, FlowKey), OdpError>> {
    if flow.vlans[0].tci & VLAN_PRESENT != 0 || flow.tun_ipv4_dst != 0 || flow.tun_ipv6_dst != 0 {
        return None;
    }
    if mask.is_empty() {
        return Some(from_odp(key, mask));
    }
    let decoded = Key::from_nlattrs(mask).and_then(|m| {
        let mut fm = FlowKey::default();
        apply(&m.attrs, &mut fm, 0, 0, Mode::Mask)?;
        // No VLAN tag (checked above): zero tags.
        complete_mask(&mut fm, 0);
        Ok((flow.masked(&fm), fm))
    });
    // Tests run debug builds: every flow they install checks that this
    // agrees with decoding the key.
    #[cfg(debug_assertions)]
    if let Ok(fast) = &decoded {
        if let Ok(full) = from_odp(key, mask) {
            debug_assert!(&full == fast, "from_extracted differs from from_odp");
        }
    }
    Some(decoded)
}

/// A megaflow mask built straight from its attributes, one at a time,
/// as translation makes them (`KeyAttr`s of mask values), for a key the
/// datapath extracted: the same `FlowKey` mask that encoding the
/// attributes to netlink and [`from_extracted`] would give, without the
/// encoding, the decoding and their allocations. Only top-level
/// attributes: an `Encap` (a VLAN key, which [`from_extracted`] does not
/// take either) or an attribute the datapath refuses spoils it.
#[derive(Clone, Copy)]
pub struct MaskBuilder {
    mask: FlowKey,
    ok: bool,
}

impl Default for MaskBuilder {
    fn default() -> Self {
        MaskBuilder {
            mask: FlowKey::default(),
            ok: true,
        }
    }
}

impl MaskBuilder {
    /// Adds one mask attribute.
    pub fn add(&mut self, a: &KeyAttr) {
        let mut into = MaskInto {
            mask: &mut self.mask,
            ok: self.ok,
        };
        into.add(a);
        self.ok = into.ok;
    }

    /// The mask so far (before [`masked_extracted`] completes it); None
    /// when an attribute spoiled it.
    pub fn finish(self) -> Option<FlowKey> {
        self.ok.then_some(self.mask)
    }
}

/// [`MaskBuilder`] building into a mask the caller holds (where the
/// mask is finally kept), so that the mask is not moved on the way.
pub struct MaskInto<'a> {
    mask: &'a mut FlowKey,
    ok: bool,
}

impl<'a> MaskInto<'a> {
    /// Builds into `mask`, which must be all zeroes (nothing matched).
    pub fn new(mask: &'a mut FlowKey) -> Self {
        MaskInto { mask, ok: true }
    }

    /// Adds one mask attribute.
    pub fn add(&mut self, a: &KeyAttr) {
        if matches!(a, KeyAttr::Encap(_)) {
            self.ok = false;
        }
        if self.ok {
            self.ok = apply(std::slice::from_ref(a), self.mask, 0, 0, Mode::Mask).is_ok();
        }
    }

    /// Whether no attribute spoiled the mask (else it must not be used).
    pub fn ok(&self) -> bool {
        self.ok
    }
}

/// [`from_extracted`] with the mask already built ([`MaskBuilder`]) from
/// the attributes that netlink `mask` encodes: the key ANDed with the
/// completed mask, and that mask. `None` for the keys `from_extracted`
/// does not take (VLAN tags, tunnel metadata).
pub fn masked_extracted(flow: &FlowKey, mask: &FlowKey) -> Option<(FlowKey, FlowKey)> {
    if flow.vlans[0].tci & VLAN_PRESENT != 0 || flow.tun_ipv4_dst != 0 || flow.tun_ipv6_dst != 0 {
        return None;
    }
    let mut fm = *mask;
    complete_mask(&mut fm, 0);
    Some((flow.masked(&fm), fm))
}

const OVS_KEY_ATTR_ETHERNET_ID: u16 = crate::odp::OVS_KEY_ATTR_ETHERNET;

fn has_ethertype(attrs: &[KeyAttr]) -> bool {
    attrs.iter().any(|a| matches!(a, KeyAttr::Ethertype(_)))
}

/// Applies `attrs` (one nesting level) to `fk`. `key_vlans` is the number
/// of VLAN levels of the key (for masks; 0 for keys). Returns the number of
/// VLAN levels found (for keys).
fn apply(
    attrs: &[KeyAttr],
    fk: &mut FlowKey,
    level: usize,
    key_vlans: usize,
    mode: Mode,
) -> Result<usize, OdpError> {
    if level > MAX_VLANS {
        return Err(OdpError::new(
            "too many VLAN encapsulations for this datapath",
        ));
    }
    // Is this level a VLAN level? For a key: it has a VLAN attribute; for
    // a mask: the key said so.
    let vlan_level = match mode {
        Mode::Key => attrs.iter().any(|a| matches!(a, KeyAttr::Vlan(_))) && level < MAX_VLANS,
        _ => level < key_vlans,
    };
    if mode == Mode::Key && vlan_level {
        let tpid_ok = attrs.iter().any(
            |a| matches!(a, KeyAttr::Ethertype(t) if *t == ETH_TYPE_VLAN || *t == ETH_TYPE_QINQ),
        );
        if !tpid_ok {
            return Err(OdpError::new(
                "vlan() needs eth_type(0x8100) or eth_type(0x88a8)",
            ));
        }
    }
    let mut n_vlans = if vlan_level { level + 1 } else { level };
    for a in attrs {
        match a {
            KeyAttr::Encap(inner) => {
                if !vlan_level {
                    return Err(OdpError::new("encap() without a VLAN"));
                }
                n_vlans = apply(inner, fk, level + 1, key_vlans, mode)?;
            }
            KeyAttr::Priority(v) => put(&mut fk.skb_priority, *v, mode),
            KeyAttr::InPort(v) => put(&mut fk.in_port, *v, mode),
            KeyAttr::SkbMark(v) => put(&mut fk.skb_mark, *v, mode),
            KeyAttr::RecircId(v) => put(&mut fk.recirc_id, *v, mode),
            KeyAttr::DpHash(v) => put(&mut fk.dp_hash, *v, mode),
            KeyAttr::CtState(v) => put(&mut fk.ct_state, *v, mode),
            KeyAttr::CtZone(v) => put(&mut fk.ct_zone, *v, mode),
            KeyAttr::CtMark(v) => put(&mut fk.ct_mark, *v, mode),
            KeyAttr::CtLabels(v) => put(&mut fk.ct_label, *v, mode),
            KeyAttr::Tunnel(t) => apply_tunnel(t, fk, mode)?,
            KeyAttr::Ethernet(e) => {
                put(&mut fk.eth_src, e.src, mode);
                put(&mut fk.eth_dst, e.dst, mode);
            }
            KeyAttr::Ethertype(t) => {
                if vlan_level {
                    put(&mut fk.vlans[level].tpid, *t, mode);
                } else {
                    put(&mut fk.eth_type, *t, mode);
                }
            }
            KeyAttr::Vlan(tci) => {
                if !vlan_level {
                    return Err(OdpError::new("vlan() where the key has no VLAN"));
                }
                put(&mut fk.vlans[level].tci, *tci, mode);
            }
            KeyAttr::Mpls(lses) => {
                if lses.len() > fk.mpls.len() {
                    return Err(OdpError::new("more MPLS labels than this datapath matches"));
                }
                for (slot, v) in fk.mpls.iter_mut().zip(lses.iter()) {
                    put(slot, *v, mode);
                }
            }
            KeyAttr::Ipv4(ip) => {
                put(&mut fk.nw_src, u32::from(ip.src), mode);
                put(&mut fk.nw_dst, u32::from(ip.dst), mode);
                put(&mut fk.nw_proto, ip.proto, mode);
                put(&mut fk.nw_tos, ip.tos, mode);
                put(&mut fk.nw_ttl, ip.ttl, mode);
                put(&mut fk.nw_frag, ip.frag, mode);
            }
            KeyAttr::Ipv6(ip) => {
                put(&mut fk.ipv6_src, u128::from(ip.src), mode);
                put(&mut fk.ipv6_dst, u128::from(ip.dst), mode);
                put(&mut fk.ipv6_label, ip.label, mode);
                put(&mut fk.nw_proto, ip.proto, mode);
                put(&mut fk.nw_tos, ip.tclass, mode);
                put(&mut fk.nw_ttl, ip.hlimit, mode);
                put(&mut fk.nw_frag, ip.frag, mode);
            }
            KeyAttr::Tcp(p) | KeyAttr::Udp(p) | KeyAttr::Sctp(p) => {
                put(&mut fk.tp_src, p.src, mode);
                put(&mut fk.tp_dst, p.dst, mode);
            }
            KeyAttr::TcpFlags(f) => put(&mut fk.tcp_flags, *f, mode),
            KeyAttr::Icmp(i) | KeyAttr::Icmpv6(i) => {
                put(&mut fk.tp_src, u16::from(i.icmp_type), mode);
                put(&mut fk.tp_dst, u16::from(i.code), mode);
            }
            KeyAttr::Arp(arp) => {
                put(&mut fk.nw_src, u32::from(arp.sip), mode);
                put(&mut fk.nw_dst, u32::from(arp.tip), mode);
                put(&mut fk.arp_op, arp.op, mode);
                put(&mut fk.arp_sha, arp.sha, mode);
                put(&mut fk.arp_tha, arp.tha, mode);
            }
            KeyAttr::Nd(nd) => {
                put(&mut fk.nd_target, u128::from(nd.target), mode);
                put(&mut fk.arp_sha, nd.sll, mode);
                put(&mut fk.arp_tha, nd.tll, mode);
            }
            KeyAttr::NdExtensions(x) => {
                put(&mut fk.nd_reserved, x.reserved, mode);
                put(&mut fk.nd_options_type, x.options_type, mode);
            }
            // Ethernet is the only packet type here.
            KeyAttr::PacketType(v) => {
                if mode == Mode::Key && *v != 0 {
                    return Err(OdpError::new("only Ethernet packets are supported"));
                }
            }
            // Original-direction tuples are not tracked yet: refuse to
            // match on them (so feature probing finds them missing), but
            // accept an all-zero mask.
            KeyAttr::CtOrigTupleIpv4(_) | KeyAttr::CtOrigTupleIpv6(_) => {
                if mode == Mode::Key || a.payload().iter().any(|&b| b != 0) {
                    return Err(OdpError::new("ct_tuple keys are not supported"));
                }
            }
            KeyAttr::Nsh(_) => return Err(OdpError::new("nsh keys are not supported")),
            KeyAttr::Unknown { ty, .. } => {
                return Err(OdpError::new(format!("unknown key attribute {ty}")))
            }
        }
    }
    Ok(n_vlans)
}

fn apply_tunnel(t: &[TunnelAttr], fk: &mut FlowKey, mode: Mode) -> Result<(), OdpError> {
    use ferrovs_netdev::packet::GeneveOpts;
    let mut flags = 0u16;
    // A tunnel mask always matches how long the options are: a flow for
    // a packet without options does not take packets with some.
    if mode != Mode::Key {
        fk.tun_geneve.len = 0xff;
    }
    for a in t {
        match a {
            TunnelAttr::Id(v) => {
                put(&mut fk.tun_id, *v, mode);
                flags |= TUN_F_KEY;
            }
            TunnelAttr::Ipv4Src(a) => put(&mut fk.tun_ipv4_src, u32::from(*a), mode),
            TunnelAttr::Ipv4Dst(a) => put(&mut fk.tun_ipv4_dst, u32::from(*a), mode),
            TunnelAttr::Ipv6Src(a) => put(&mut fk.tun_ipv6_src, u128::from(*a), mode),
            TunnelAttr::Ipv6Dst(a) => put(&mut fk.tun_ipv6_dst, u128::from(*a), mode),
            TunnelAttr::Tos(v) => put(&mut fk.tun_tos, *v, mode),
            TunnelAttr::Ttl(v) => put(&mut fk.tun_ttl, *v, mode),
            TunnelAttr::TpSrc(v) => put(&mut fk.tun_tp_src, *v, mode),
            TunnelAttr::TpDst(v) => put(&mut fk.tun_tp_dst, *v, mode),
            TunnelAttr::DontFragment => flags |= TUN_F_DONT_FRAGMENT,
            TunnelAttr::Csum => flags |= TUN_F_CSUM,
            TunnelAttr::Oam => flags |= TUN_F_OAM,
            TunnelAttr::GeneveOpts(o) => {
                let g = GeneveOpts::new(o)
                    .ok_or_else(|| OdpError::new("Geneve options longer than carried"))?;
                match mode {
                    Mode::Key => fk.tun_geneve = g,
                    Mode::Mask => fk.tun_geneve.bytes = g.bytes,
                    Mode::Exact => {
                        fk.tun_geneve.bytes = [0xff; ferrovs_netdev::packet::GENEVE_OPTS_MAX]
                    }
                }
            }
            TunnelAttr::Pad(_) => {}
            _ => return Err(OdpError::new("tunnel key attribute not supported here")),
        }
    }
    // In a key the flags present are set; in a mask each flag named is
    // matched (the key's tun_id implies the KEY flag).
    fk.tun_flags |= if mode == Mode::Exact { 0xffff } else { flags };
    Ok(())
}

/// The full key of a parsed packet, as a MISS upcall carries it.
pub fn to_odp_attrs(k: &FlowKey) -> Vec<KeyAttr> {
    // Room for the whole key at once (metadata, Ethernet, type, L3, L4).
    let mut a = Vec::with_capacity(16);
    a.extend([
        KeyAttr::Priority(k.skb_priority),
        KeyAttr::InPort(k.in_port),
        KeyAttr::SkbMark(k.skb_mark),
        KeyAttr::CtState(k.ct_state),
        KeyAttr::CtZone(k.ct_zone),
        KeyAttr::CtMark(k.ct_mark),
        KeyAttr::CtLabels(k.ct_label),
        KeyAttr::RecircId(k.recirc_id),
        KeyAttr::DpHash(k.dp_hash),
    ]);
    if k.tun_ipv4_dst != 0 || k.tun_ipv6_dst != 0 {
        let mut t = Vec::new();
        if k.tun_flags & TUN_F_KEY != 0 {
            t.push(TunnelAttr::Id(k.tun_id));
        }
        if k.tun_ipv4_dst != 0 {
            t.push(TunnelAttr::Ipv4Src(Ipv4Addr::from(k.tun_ipv4_src)));
            t.push(TunnelAttr::Ipv4Dst(Ipv4Addr::from(k.tun_ipv4_dst)));
        } else {
            t.push(TunnelAttr::Ipv6Src(Ipv6Addr::from(k.tun_ipv6_src)));
            t.push(TunnelAttr::Ipv6Dst(Ipv6Addr::from(k.tun_ipv6_dst)));
        }
        t.push(TunnelAttr::Tos(k.tun_tos));
        t.push(TunnelAttr::Ttl(k.tun_ttl));
        if k.tun_flags & TUN_F_DONT_FRAGMENT != 0 {
            t.push(TunnelAttr::DontFragment);
        }
        if k.tun_flags & TUN_F_CSUM != 0 {
            t.push(TunnelAttr::Csum);
        }
        t.push(TunnelAttr::TpSrc(k.tun_tp_src));
        t.push(TunnelAttr::TpDst(k.tun_tp_dst));
        if k.tun_geneve.len != 0 {
            t.push(TunnelAttr::GeneveOpts(k.tun_geneve.as_slice().to_vec()));
        }
        a.push(KeyAttr::Tunnel(t));
    }
    // Stock's userspace datapath names the packet type in every key it
    // reports (Ethernet: namespace 0, type 0); translation then matches
    // it exactly, and the datapath's flow dumps show it.
    a.push(KeyAttr::PacketType(0));
    a.push(KeyAttr::Ethernet(EthKey {
        src: k.eth_src,
        dst: k.eth_dst,
    }));
    push_l2_5_attrs(k, 0, &mut a);
    a
}

/// The type/VLAN nesting from VLAN level `level` on, then L3 and L4,
/// appended to `a`.
fn push_l2_5_attrs(k: &FlowKey, level: usize, a: &mut Vec<KeyAttr>) {
    if let Some(VlanHdr { tpid, tci }) = k.vlans.get(level).copied() {
        if tci & VLAN_PRESENT != 0 {
            let mut inner = Vec::new();
            push_l2_5_attrs(k, level + 1, &mut inner);
            a.extend([
                KeyAttr::Ethertype(tpid),
                KeyAttr::Vlan(tci),
                KeyAttr::Encap(inner),
            ]);
            return;
        }
    }
    if k.eth_type != ETH_TYPE_NONE {
        a.push(KeyAttr::Ethertype(k.eth_type));
    }
    l3_attrs(k, a);
}

fn l3_attrs(k: &FlowKey, a: &mut Vec<KeyAttr>) {
    match k.eth_type {
        ETH_TYPE_IPV4 => a.push(KeyAttr::Ipv4(Ipv4Key {
            src: Ipv4Addr::from(k.nw_src),
            dst: Ipv4Addr::from(k.nw_dst),
            proto: k.nw_proto,
            tos: k.nw_tos,
            ttl: k.nw_ttl,
            frag: k.nw_frag,
        })),
        ETH_TYPE_IPV6 => a.push(KeyAttr::Ipv6(Ipv6Key {
            src: Ipv6Addr::from(k.ipv6_src),
            dst: Ipv6Addr::from(k.ipv6_dst),
            label: k.ipv6_label,
            proto: k.nw_proto,
            tclass: k.nw_tos,
            hlimit: k.nw_ttl,
            frag: k.nw_frag,
        })),
        ETH_TYPE_ARP => {
            a.push(KeyAttr::Arp(ArpKey {
                sip: Ipv4Addr::from(k.nw_src),
                tip: Ipv4Addr::from(k.nw_dst),
                op: k.arp_op,
                sha: k.arp_sha,
                tha: k.arp_tha,
            }));
            return;
        }
        ETH_TYPE_MPLS | ETH_TYPE_MPLS_MCAST => {
            a.push(KeyAttr::Mpls(k.mpls[..k.n_mpls().max(1)].to_vec()));
            return;
        }
        _ => return,
    }
    if k.nw_frag == FRAG_LATER {
        return;
    }
    let v6 = k.eth_type == ETH_TYPE_IPV6;
    let ports = PortsKey {
        src: k.tp_src,
        dst: k.tp_dst,
    };
    match k.nw_proto {
        IPPROTO_TCP => {
            a.push(KeyAttr::Tcp(ports));
            a.push(KeyAttr::TcpFlags(k.tcp_flags));
        }
        IPPROTO_UDP => a.push(KeyAttr::Udp(ports)),
        IPPROTO_SCTP => a.push(KeyAttr::Sctp(ports)),
        IPPROTO_ICMP if !v6 => a.push(KeyAttr::Icmp(IcmpKey {
            icmp_type: k.tp_src as u8,
            code: k.tp_dst as u8,
        })),
        IPPROTO_ICMPV6 if v6 => {
            a.push(KeyAttr::Icmpv6(IcmpKey {
                icmp_type: k.tp_src as u8,
                code: k.tp_dst as u8,
            }));
            if (k.tp_src == 135 || k.tp_src == 136) && k.tp_dst == 0 {
                a.push(KeyAttr::Nd(NdKey {
                    target: Ipv6Addr::from(k.nd_target),
                    sll: k.arp_sha,
                    tll: k.arp_tha,
                }));
                if k.nd_reserved != 0 || k.nd_options_type != 0 {
                    a.push(KeyAttr::NdExtensions(NdExtKey {
                        reserved: k.nd_reserved,
                        options_type: k.nd_options_type,
                    }));
                }
            }
        }
        _ => {}
    }
}

/// The netlink bytes of a packet's full key.
pub fn to_odp(k: &FlowKey) -> Vec<u8> {
    // Encoding owned, well-formed attributes cannot fail; an empty key
    // would be refused by any consumer, so it is a safe fallback.
    Key::new(to_odp_attrs(k)).to_nlattrs().unwrap_or_default()
}

/// Builds the packet a flow key describes (for `netdev-dummy/receive`
/// with a flow string, and for tests): the frame, and the metadata
/// (in_port, marks, recirc_id, ...) to receive it with.
pub fn packet_from_odp(key: &[u8]) -> Result<ferrovs_netdev::Packet, OdpError> {
    let (k, _) = from_odp(key, &[])?;
    // Stock's default payload, so that the packet is byte for byte the one
    // stock's netdev-dummy/receive makes from the same flow.
    use ferrovs_netdev::compose::{compose, default_payload, DEFAULT_L7_LEN};
    let frame = compose(&k, &default_payload(DEFAULT_L7_LEN));
    let mut p = ferrovs_netdev::Packet::from_bytes(&frame);
    p.meta.in_port = k.in_port;
    p.meta.recirc_id = k.recirc_id;
    p.meta.dp_hash = k.dp_hash;
    p.meta.skb_priority = k.skb_priority;
    p.meta.skb_mark = k.skb_mark;
    Ok(p)
}

/// Packet tunnel metadata from `tunnel(...)` attributes (of an execute's
/// key or a `set(tunnel(...))` action).
pub fn tunnel_meta(t: &[TunnelAttr]) -> ferrovs_netdev::packet::TunnelMeta {
    use ferrovs_netdev::packet::TunnelMeta;
    let mut m = TunnelMeta::default();
    for a in t {
        match a {
            TunnelAttr::Id(v) => {
                m.tun_id = *v;
                m.flags |= TUN_F_KEY;
            }
            TunnelAttr::Ipv4Src(a) => m.ipv4_src = u32::from(*a),
            TunnelAttr::Ipv4Dst(a) => m.ipv4_dst = u32::from(*a),
            TunnelAttr::Ipv6Src(a) => m.ipv6_src = u128::from(*a),
            TunnelAttr::Ipv6Dst(a) => m.ipv6_dst = u128::from(*a),
            TunnelAttr::Tos(v) => m.tos = *v,
            TunnelAttr::Ttl(v) => m.ttl = *v,
            TunnelAttr::TpSrc(v) => m.tp_src = *v,
            TunnelAttr::TpDst(v) => m.tp_dst = *v,
            TunnelAttr::DontFragment => m.flags |= TUN_F_DONT_FRAGMENT,
            TunnelAttr::Csum => m.flags |= TUN_F_CSUM,
            TunnelAttr::GeneveOpts(o) => {
                m.geneve = ferrovs_netdev::packet::GeneveOpts::new(o).unwrap_or_default();
            }
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrovs_netdev::compose::{compose, default_payload};
    use ferrovs_netdev::flow::extract;
    use ferrovs_netdev::packet::PacketMeta;

    /// The key a poll thread extracts from the frame `flow` (a
    /// `ovs-dpctl` flow text, key/mask) describes.
    fn extracted(flow: &str) -> (FlowKey, Vec<u8>) {
        let parsed = crate::odp::parse_flow(flow, None).unwrap();
        let (k, _) = from_odp(&parsed.key, &[]).unwrap();
        let frame = compose(&k, &default_payload(20));
        let meta = PacketMeta {
            in_port: k.in_port,
            ..Default::default()
        };
        (extract(&frame, &meta).key, parsed.mask)
    }

    #[test]
    fn extracted_key_with_decoded_mask_matches_full_decode() {
        let flows = [
            "in_port(1),eth(src=02:00:00:00:00:01/ff:ff:ff:00:00:00,dst=02:00:00:00:00:02),\
             eth_type(0x0800),ipv4(src=10.0.0.1/255.255.255.0,dst=10.0.0.2,proto=17,tos=0,\
             ttl=64/0,frag=no),udp(src=1000/0xff00,dst=80)",
            "in_port(2),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),\
             ipv4(src=10.1.0.1,dst=10.0.0.2,proto=6,tos=0x10,ttl=3,frag=no),tcp(src=5,dst=443/0xfff0)",
            "in_port(3),eth(src=02:00:00:00:00:03,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),\
             arp(sip=10.0.0.1,tip=10.0.0.9/255.255.0.0,op=1,sha=02:00:00:00:00:03,tha=00:00:00:00:00:00)",
            "in_port(4),eth(src=02:00:00:00:00:04,dst=02:00:00:00:00:05/01:00:00:00:00:00),\
             eth_type(0x86dd),ipv6(src=2001:db8::1/ffff:ffff::,dst=2001:db8::2,label=0,proto=17,\
             tclass=0,hlimit=64,frag=no),udp(src=7,dst=9)",
            "in_port(5),eth(src=02:00:00:00:00:06,dst=02:00:00:00:00:07),eth_type(0x0800),\
             ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0/0)",
        ];
        for flow in flows {
            let (key, mask) = extracted(flow);
            assert!(!mask.is_empty(), "{flow}");
            let bytes = to_odp(&key);
            for mask in [&mask[..], &[][..]] {
                let full = from_odp(&bytes, mask).unwrap();
                let fast = from_extracted(&key, &bytes, mask)
                    .expect("no VLAN, no tunnel: the fast path")
                    .unwrap();
                assert!(fast == full, "{flow}");
            }
        }
        // A tagged frame's key is decoded in full.
        let (key, mask) = extracted(
            "in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x8100),\
             vlan(vid=5,pcp=0),encap(eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,\
             tos=0,ttl=64,frag=no),udp(src=1,dst=2))",
        );
        assert!(key.vlans[0].tci & VLAN_PRESENT != 0);
        assert!(from_extracted(&key, &to_odp(&key), &mask).is_none());
    }

    /// A small deterministic generator for the randomized tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Mostly all-ones or zero bytes, sometimes random ones (as
        /// megaflow masks are).
        fn mask_byte(&mut self) -> u8 {
            match self.next() % 4 {
                0 => 0,
                1 | 2 => 0xff,
                _ => self.next() as u8,
            }
        }
    }

    /// Each attribute of `attrs` with random mask bytes in its payload
    /// (nested ones kept as they are); those whose random payload does
    /// not decode are left out.
    fn random_mask(attrs: &[KeyAttr], rng: &mut Rng) -> Vec<KeyAttr> {
        let mut out = Vec::new();
        for a in attrs {
            if matches!(a, KeyAttr::Encap(_) | KeyAttr::Tunnel(_) | KeyAttr::Mpls(_))
                || rng.next().is_multiple_of(8)
            {
                if !rng.next().is_multiple_of(8) {
                    out.push(a.clone());
                }
                continue;
            }
            let mut bytes = Key::new(vec![a.clone()]).to_nlattrs().unwrap();
            for b in bytes.iter_mut().skip(4) {
                *b = rng.mask_byte();
            }
            if let Ok(k) = Key::from_nlattrs(&bytes) {
                out.extend(k.attrs);
            }
        }
        out
    }

    /// The masks `MaskBuilder` makes from mask attributes are exactly
    /// those that encoding them to netlink and decoding them with the key
    /// (`from_odp`, the route of any other flow put) gives: random masks
    /// over keys of every kind the poll threads extract, with random
    /// metadata.
    #[test]
    fn direct_masks_match_the_netlink_route() {
        // The corpus without the VLAN flow: `masked_extracted` takes no
        // VLAN (such keys take the full decode).
        let flows = ferrovs_tests::odp_corpus::FLOWS
            .iter()
            .filter(|f| !ferrovs_tests::odp_corpus::tagged(f));
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut direct = 0;
        for &flow in flows {
            let (base, _) = extracted(flow);
            for _ in 0..300 {
                let mut key = base;
                // Metadata a poll thread's key may carry.
                key.skb_priority = rng.next() as u32 & 7;
                key.skb_mark = rng.next() as u32 & 3;
                key.recirc_id = rng.next() as u32 & 1;
                key.dp_hash = rng.next() as u32 & 1;
                key.ct_state = rng.next() as u32 & 0x21;
                key.ct_zone = rng.next() as u16 & 1;
                key.ct_mark = rng.next() as u32 & 1;
                let bytes = to_odp(&key);
                let mask_attrs = random_mask(&to_odp_attrs(&key), &mut rng);
                let mask = Key::new(mask_attrs.clone()).to_nlattrs().unwrap();
                let mut b = MaskBuilder::default();
                for a in &mask_attrs {
                    b.add(a);
                }
                let full = from_odp(&bytes, &mask);
                match b.finish() {
                    Some(m) => {
                        let d = masked_extracted(&key, &m).expect("no VLAN, no tunnel");
                        let full = full.expect("a mask the builder takes decodes");
                        assert!(d == full, "{flow}: {mask_attrs:?}");
                        direct += 1;
                    }
                    // Only what the datapath refuses spoils the builder.
                    None => assert!(full.is_err(), "{flow}: {mask_attrs:?}"),
                }
            }
        }
        assert!(direct > 2000, "{direct}");
        // A nested attribute spoils it.
        let mut b = MaskBuilder::default();
        b.add(&KeyAttr::Encap(vec![KeyAttr::Ethertype(0xffff)]));
        assert!(b.finish().is_none());
    }
}
