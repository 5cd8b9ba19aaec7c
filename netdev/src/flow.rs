//! Single-pass flow-key extraction.
//!
//! [`extract`] reads a frame once, front to back, and fills a [`FlowKey`]:
//! a fixed-layout record of every header field the datapath can match on.
//! A mask is a `FlowKey` too (a 1 bit means "this bit matters"), so masking
//! is a field-wise AND and a masked key hashes and compares like any key.
//!
//! Bad bytes never panic: a header that does not fit, or that says
//! something impossible (IHL < 5, a TCP data offset past the end, ...),
//! ends parsing at that layer and leaves the deeper fields zero, the way
//! Open vSwitch's extractor treats them. [`Extracted::malformed`] says so.

use crate::packet::PacketMeta;
use crate::wire::*;

/// `vlan_tci` bit meaning "a tag is present" (the CFI/DEI bit position, as
/// Open vSwitch and the kernel use it in flow keys).
pub const VLAN_PRESENT: u16 = 0x1000;
/// Most VLAN headers parsed (outer and inner, for QinQ).
pub const MAX_VLANS: usize = 2;
/// Most MPLS label stack entries kept.
pub const MAX_MPLS: usize = 3;

/// `nw_frag` values (the `OVS_FRAG_TYPE_*` numbering).
pub const FRAG_NONE: u8 = 0;
pub const FRAG_FIRST: u8 = 1;
pub const FRAG_LATER: u8 = 2;

/// One VLAN header: TPID and TCI (with [`VLAN_PRESENT`] set when present).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanHdr {
    pub tpid: u16,
    pub tci: u16,
}

/// Every field the datapath matches on, metadata first, then the headers
/// outermost first. Addresses are numbers in host order (big-endian bytes
/// read as one integer), MACs byte arrays.
///
/// `Hash` is written by hand (below): it feeds every field to the hasher
/// packed into 64-bit words, about a third of the calls the derived one
/// makes, since a lookup in the exact-match cache hashes a key for every
/// packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowKey {
    // Metadata.
    pub recirc_id: u32,
    pub dp_hash: u32,
    pub in_port: u32,
    pub skb_priority: u32,
    pub skb_mark: u32,
    pub ct_state: u32,
    pub ct_zone: u16,
    pub ct_mark: u32,
    pub ct_label: u128,
    pub tun_id: u64,
    pub tun_ipv4_src: u32,
    pub tun_ipv4_dst: u32,
    pub tun_ipv6_src: u128,
    pub tun_ipv6_dst: u128,
    pub tun_flags: u16,
    pub tun_tos: u8,
    pub tun_ttl: u8,
    pub tun_tp_src: u16,
    pub tun_tp_dst: u16,
    pub tun_geneve: crate::packet::GeneveOpts,
    // L2.
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    pub vlans: [VlanHdr; MAX_VLANS],
    /// The type after any VLAN tags (0x05ff for 802.2 without SNAP).
    pub eth_type: u16,
    /// MPLS label stack entries, outermost first (0 where absent).
    pub mpls: [u32; MAX_MPLS],
    // L3 (IPv4 addresses, or ARP sender/target protocol addresses).
    pub nw_src: u32,
    pub nw_dst: u32,
    pub ipv6_src: u128,
    pub ipv6_dst: u128,
    pub ipv6_label: u32,
    /// IP protocol / final IPv6 next header (ARP keeps its opcode in
    /// `arp_op`).
    pub nw_proto: u8,
    pub nw_tos: u8,
    pub nw_ttl: u8,
    pub nw_frag: u8,
    pub arp_op: u16,
    /// ARP sender hardware address, or ND source link-layer address.
    pub arp_sha: [u8; 6],
    /// ARP target hardware address, or ND target link-layer address.
    pub arp_tha: [u8; 6],
    pub nd_target: u128,
    pub nd_reserved: u32,
    pub nd_options_type: u8,
    // L4 (ICMP type and code go in tp_src and tp_dst).
    pub tp_src: u16,
    pub tp_dst: u16,
    pub tcp_flags: u16,
}

/// Six bytes and two more as one 64-bit word.
fn word6(mac: [u8; 6], hi: u16) -> u64 {
    let [a, b, c, d, e, f] = mac;
    u64::from_le_bytes([a, b, c, d, e, f, 0, 0]) | u64::from(hi) << 48
}

fn word32(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | u64::from(hi) << 32
}

/// How many 64-bit words [`FlowKey::hash_words`] makes of a key.
const HASH_WORDS: usize = 29;

impl FlowKey {
    /// The key's fields (all but the Geneve options) packed into 64-bit
    /// words, in a fixed order: what its hash is made of.
    fn hash_words(&self) -> [u64; HASH_WORDS] {
        // Named one by one, so that a field added to the key and not
        // here fails to compile rather than hash the same for keys that
        // differ in it.
        let FlowKey {
            recirc_id,
            dp_hash,
            in_port,
            skb_priority,
            skb_mark,
            ct_state,
            ct_zone,
            ct_mark,
            ct_label,
            tun_id,
            tun_ipv4_src,
            tun_ipv4_dst,
            tun_ipv6_src,
            tun_ipv6_dst,
            tun_flags,
            tun_tos,
            tun_ttl,
            tun_tp_src,
            tun_tp_dst,
            tun_geneve: _,
            eth_src,
            eth_dst,
            vlans,
            eth_type,
            mpls,
            nw_src,
            nw_dst,
            ipv6_src,
            ipv6_dst,
            ipv6_label,
            nw_proto,
            nw_tos,
            nw_ttl,
            nw_frag,
            arp_op,
            arp_sha,
            arp_tha,
            nd_target,
            nd_reserved,
            nd_options_type,
            tp_src,
            tp_dst,
            tcp_flags,
        } = *self;
        let [vlan0, vlan1] = vlans;
        let [mpls0, mpls1, mpls2] = mpls;
        let vlan = |v: VlanHdr| u32::from(v.tpid) | u32::from(v.tci) << 16;
        let lo = |v: u128| v as u64;
        let hi = |v: u128| (v >> 64) as u64;
        [
            word32(recirc_id, dp_hash),
            word32(in_port, skb_priority),
            word32(skb_mark, ct_state),
            word32(ct_mark, u32::from(ct_zone)),
            lo(ct_label),
            hi(ct_label),
            tun_id,
            word32(tun_ipv4_src, tun_ipv4_dst),
            lo(tun_ipv6_src),
            hi(tun_ipv6_src),
            lo(tun_ipv6_dst),
            hi(tun_ipv6_dst),
            u64::from(tun_flags)
                | u64::from(tun_tos) << 16
                | u64::from(tun_ttl) << 24
                | u64::from(tun_tp_src) << 32
                | u64::from(tun_tp_dst) << 48,
            word6(eth_src, eth_type),
            word6(eth_dst, arp_op),
            word32(vlan(vlan0), vlan(vlan1)),
            word32(mpls0, mpls1),
            word32(mpls2, ipv6_label),
            word32(nw_src, nw_dst),
            lo(ipv6_src),
            hi(ipv6_src),
            lo(ipv6_dst),
            hi(ipv6_dst),
            word32(
                u32::from_le_bytes([nw_proto, nw_tos, nw_ttl, nw_frag]),
                u32::from(nd_options_type) | u32::from(tcp_flags) << 16,
            ),
            word6(arp_sha, tp_src),
            word6(arp_tha, tp_dst),
            lo(nd_target),
            hi(nd_target),
            u64::from(nd_reserved),
        ]
    }
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // Every field goes in (equal keys must hash equally, and keys that
        // differ anywhere should rarely collide), as one run of bytes: a
        // hasher that takes several words at a time (the datapath's) is
        // not held to one dependent multiply per field.
        let mut bytes = [0u8; HASH_WORDS * 8];
        for (b, w) in bytes.chunks_exact_mut(8).zip(self.hash_words()) {
            b.copy_from_slice(&w.to_le_bytes());
        }
        h.write(&bytes);
        if self.tun_geneve.len != 0 {
            h.write_u8(self.tun_geneve.len);
            h.write(&self.tun_geneve.bytes);
        }
    }
}

fn and6(a: [u8; 6], b: [u8; 6]) -> [u8; 6] {
    let mut r = [0u8; 6];
    for (r, (a, b)) in r.iter_mut().zip(a.iter().zip(b.iter())) {
        *r = a & b;
    }
    r
}

impl FlowKey {
    /// The key with only the bits of `mask` kept.
    pub fn masked(&self, m: &FlowKey) -> FlowKey {
        let mut vlans = [VlanHdr::default(); MAX_VLANS];
        for (i, v) in vlans.iter_mut().enumerate() {
            v.tpid = self.vlans[i].tpid & m.vlans[i].tpid;
            v.tci = self.vlans[i].tci & m.vlans[i].tci;
        }
        let mut mpls = [0u32; MAX_MPLS];
        for (i, l) in mpls.iter_mut().enumerate() {
            *l = self.mpls[i] & m.mpls[i];
        }
        FlowKey {
            recirc_id: self.recirc_id & m.recirc_id,
            dp_hash: self.dp_hash & m.dp_hash,
            in_port: self.in_port & m.in_port,
            skb_priority: self.skb_priority & m.skb_priority,
            skb_mark: self.skb_mark & m.skb_mark,
            ct_state: self.ct_state & m.ct_state,
            ct_zone: self.ct_zone & m.ct_zone,
            ct_mark: self.ct_mark & m.ct_mark,
            ct_label: self.ct_label & m.ct_label,
            tun_id: self.tun_id & m.tun_id,
            tun_ipv4_src: self.tun_ipv4_src & m.tun_ipv4_src,
            tun_ipv4_dst: self.tun_ipv4_dst & m.tun_ipv4_dst,
            tun_ipv6_src: self.tun_ipv6_src & m.tun_ipv6_src,
            tun_ipv6_dst: self.tun_ipv6_dst & m.tun_ipv6_dst,
            tun_flags: self.tun_flags & m.tun_flags,
            tun_tos: self.tun_tos & m.tun_tos,
            tun_ttl: self.tun_ttl & m.tun_ttl,
            tun_tp_src: self.tun_tp_src & m.tun_tp_src,
            tun_tp_dst: self.tun_tp_dst & m.tun_tp_dst,
            tun_geneve: self.tun_geneve.and(&m.tun_geneve),
            eth_src: and6(self.eth_src, m.eth_src),
            eth_dst: and6(self.eth_dst, m.eth_dst),
            vlans,
            eth_type: self.eth_type & m.eth_type,
            mpls,
            nw_src: self.nw_src & m.nw_src,
            nw_dst: self.nw_dst & m.nw_dst,
            ipv6_src: self.ipv6_src & m.ipv6_src,
            ipv6_dst: self.ipv6_dst & m.ipv6_dst,
            ipv6_label: self.ipv6_label & m.ipv6_label,
            nw_proto: self.nw_proto & m.nw_proto,
            nw_tos: self.nw_tos & m.nw_tos,
            nw_ttl: self.nw_ttl & m.nw_ttl,
            nw_frag: self.nw_frag & m.nw_frag,
            arp_op: self.arp_op & m.arp_op,
            arp_sha: and6(self.arp_sha, m.arp_sha),
            arp_tha: and6(self.arp_tha, m.arp_tha),
            nd_target: self.nd_target & m.nd_target,
            nd_reserved: self.nd_reserved & m.nd_reserved,
            nd_options_type: self.nd_options_type & m.nd_options_type,
            tp_src: self.tp_src & m.tp_src,
            tp_dst: self.tp_dst & m.tp_dst,
            tcp_flags: self.tcp_flags & m.tcp_flags,
        }
    }

    /// Whether the frame carried an IPv4 or IPv6 header that was parsed.
    pub fn is_ip(&self) -> bool {
        self.eth_type == ETH_TYPE_IPV4 || self.eth_type == ETH_TYPE_IPV6
    }

    /// Number of VLAN headers present.
    pub fn n_vlans(&self) -> usize {
        self.vlans
            .iter()
            .take_while(|v| v.tci & VLAN_PRESENT != 0)
            .count()
    }

    /// Number of MPLS label stack entries present.
    pub fn n_mpls(&self) -> usize {
        if self.eth_type != ETH_TYPE_MPLS && self.eth_type != ETH_TYPE_MPLS_MCAST {
            return 0;
        }
        match self.mpls.iter().position(|l| l & 0x100 != 0) {
            Some(i) => i + 1,
            None => MAX_MPLS,
        }
    }
}

/// Where the layers of a parsed frame start (offsets from the frame start),
/// for actions that rewrite headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layers {
    /// Start of the MPLS stack, or of L3 when there is none.
    pub l2_5: usize,
    /// Start of the IP/ARP header, if the frame got that far.
    pub l3: Option<usize>,
    /// Start of the L4 header, if parsed.
    pub l4: Option<usize>,
}

/// The result of [`extract`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extracted {
    pub key: FlowKey,
    pub layers: Layers,
    /// Some header was present but could not be parsed (too short or
    /// inconsistent); the key holds what came before it.
    pub malformed: bool,
}

/// Extracts the flow key of an Ethernet frame plus its metadata.
pub fn extract(frame: &[u8], meta: &PacketMeta) -> Extracted {
    let mut x = Extracted::default();
    let k = &mut x.key;
    k.recirc_id = meta.recirc_id;
    k.dp_hash = meta.dp_hash;
    k.in_port = meta.in_port;
    k.skb_priority = meta.skb_priority;
    k.skb_mark = meta.skb_mark;
    k.ct_state = meta.ct_state;
    k.ct_zone = meta.ct_zone;
    k.ct_mark = meta.ct_mark;
    k.ct_label = meta.ct_label;
    let t = &meta.tunnel;
    if t.is_set() {
        k.tun_id = t.tun_id;
        k.tun_ipv4_src = t.ipv4_src;
        k.tun_ipv4_dst = t.ipv4_dst;
        k.tun_ipv6_src = t.ipv6_src;
        k.tun_ipv6_dst = t.ipv6_dst;
        k.tun_flags = t.flags;
        k.tun_tos = t.tos;
        k.tun_ttl = t.ttl;
        k.tun_tp_src = t.tp_src;
        k.tun_tp_dst = t.tp_dst;
        k.tun_geneve = t.geneve;
    }
    x.malformed = !parse_l2(frame, &mut x.key, &mut x.layers);
    x
}

/// Parses Ethernet, VLANs, the type and everything below; false when some
/// header was cut short or inconsistent. Which fields a damaged packet
/// still gets follows Open vSwitch's extractor (checked against it by the
/// differential test), so that both datapaths see the same flows.
fn parse_l2(b: &[u8], k: &mut FlowKey, layers: &mut Layers) -> bool {
    if b.len() < ETH_HLEN {
        return false;
    }
    k.eth_dst = mac(b, 0).unwrap_or_default();
    k.eth_src = mac(b, 6).unwrap_or_default();
    let mut off = 12;
    let mut ty = be16(b, off).unwrap_or(0);
    let mut n_vlans = 0;
    // A tag counts only with the type after it present (4 + 2 bytes).
    while (ty == ETH_TYPE_VLAN || ty == ETH_TYPE_QINQ) && n_vlans < MAX_VLANS && b.len() >= off + 6
    {
        let tci = be16(b, off + 2).unwrap_or(0);
        k.vlans[n_vlans] = VlanHdr {
            tpid: ty,
            tci: tci | VLAN_PRESENT,
        };
        n_vlans += 1;
        off += 4;
        ty = be16(b, off).unwrap_or(0);
    }
    off += 2;
    if ty < ETH_TYPE_MIN {
        // 802.2 LLC: a SNAP header may carry the real type.
        ty = match (b.get(off..off + 8), be16(b, off + 6)) {
            (Some([0xaa, 0xaa, 0x03, 0, 0, 0, _, _]), Some(t)) if t >= ETH_TYPE_MIN => {
                off += 8;
                t
            }
            _ => ETH_TYPE_NONE,
        };
    }
    k.eth_type = ty;
    layers.l2_5 = off;
    match ty {
        ETH_TYPE_MPLS | ETH_TYPE_MPLS_MCAST => parse_mpls(b, off, k),
        ETH_TYPE_IPV4 => {
            layers.l3 = Some(off);
            parse_ipv4(b, off, k, layers)
        }
        ETH_TYPE_IPV6 => {
            layers.l3 = Some(off);
            parse_ipv6(b, off, k, layers)
        }
        ETH_TYPE_ARP | ETH_TYPE_RARP => {
            layers.l3 = Some(off);
            parse_arp(b, off, k)
        }
        _ => true,
    }
}

fn parse_mpls(b: &[u8], mut off: usize, k: &mut FlowKey) -> bool {
    for slot in k.mpls.iter_mut() {
        let Some(lse) = be32(b, off) else {
            return false;
        };
        *slot = lse;
        off += 4;
        if lse & 0x100 != 0 {
            break;
        }
    }
    true
}

fn parse_arp(b: &[u8], off: usize, k: &mut FlowKey) -> bool {
    let Some(a) = b.get(off..off + 28) else {
        return false;
    };
    // Ethernet/IPv4 ARP only (htype 1, ptype 0x0800, hlen 6, plen 4).
    if a[..6] != [0, 1, 8, 0, 6, 4] {
        return true;
    }
    k.arp_op = u16::from_be_bytes([a[6], a[7]]);
    k.arp_sha = mac(a, 8).unwrap_or_default();
    k.nw_src = be32(a, 14).unwrap_or(0);
    k.arp_tha = mac(a, 18).unwrap_or_default();
    k.nw_dst = be32(a, 24).unwrap_or(0);
    true
}

fn parse_ipv4(b: &[u8], off: usize, k: &mut FlowKey, layers: &mut Layers) -> bool {
    // The version nibble is not checked (as in Open vSwitch).
    let Some(ip) = b.get(off..).and_then(Ipv4Header::new_checked_any_version) else {
        return false;
    };
    let hlen = ip.header_len();
    let tot = usize::from(ip.total_len());
    if tot < hlen || tot > b.len() - off {
        return false;
    }
    k.nw_src = ip.src();
    k.nw_dst = ip.dst();
    k.nw_proto = ip.proto();
    k.nw_tos = ip.tos();
    k.nw_ttl = ip.ttl();
    if ip.is_fragment() {
        k.nw_frag = if ip.frag_offset() != 0 {
            FRAG_LATER
        } else {
            FRAG_FIRST
        };
    }
    if k.nw_frag == FRAG_LATER {
        return true;
    }
    let l4 = off + hlen;
    layers.l4 = Some(l4);
    // Ethernet padding after the IP datagram is not L4 payload.
    let payload = b.get(l4..off + tot).unwrap_or(&[]);
    parse_l4(payload, k)
}

fn parse_ipv6(b: &[u8], off: usize, k: &mut FlowKey, layers: &mut Layers) -> bool {
    let Some(ip) = b.get(off..).and_then(Ipv6Header::new_checked_any_version) else {
        return false;
    };
    let plen = usize::from(ip.payload_len());
    if plen > b.len() - off - 40 {
        return false;
    }
    // Addresses first: a broken extension header leaves only them.
    k.ipv6_src = ip.src();
    k.ipv6_dst = ip.dst();
    let end = off + 40 + plen;
    let mut next = ip.next_header();
    let mut pos = off + 40;
    let mut frag = FRAG_NONE;
    loop {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_AH => {
                // Every extension header has at least 8 bytes.
                if pos + 8 > end {
                    return false;
                }
                let (nh, len) = (b[pos], usize::from(b[pos + 1]));
                let size = if next == IPPROTO_AH {
                    (len + 2) * 4
                } else {
                    (len + 1) * 8
                };
                if pos + size > end {
                    return false;
                }
                next = nh;
                pos += size;
            }
            IPPROTO_FRAGMENT => {
                if pos + 8 > end {
                    return false;
                }
                let offlg = be16(b, pos + 2).unwrap_or(0);
                next = b[pos];
                pos += 8;
                // An "atomic" fragment header (offset 0, no more
                // fragments) does not make a fragment.
                if offlg != 0 {
                    frag = FRAG_FIRST;
                    if offlg & 0xfff8 != 0 {
                        frag = FRAG_LATER;
                        next = IPPROTO_FRAGMENT;
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    k.ipv6_label = ip.label();
    k.nw_tos = ip.tclass();
    k.nw_ttl = ip.hop_limit();
    k.nw_proto = next;
    k.nw_frag = frag;
    if frag == FRAG_LATER {
        return true;
    }
    layers.l4 = Some(pos);
    let payload = b.get(pos..end).unwrap_or(&[]);
    parse_l4(payload, k)
}

/// L4 headers. A header too short for its fixed part leaves the L4
/// fields zero and makes the packet malformed.
fn parse_l4(p: &[u8], k: &mut FlowKey) -> bool {
    match k.nw_proto {
        IPPROTO_TCP => match TcpHeader::new_checked(p) {
            Some(t) => {
                k.tp_src = t.src_port();
                k.tp_dst = t.dst_port();
                k.tcp_flags = t.flags();
                true
            }
            None => false,
        },
        IPPROTO_UDP | IPPROTO_SCTP => {
            let min = if k.nw_proto == IPPROTO_UDP { 8 } else { 12 };
            if p.len() < min {
                return false;
            }
            k.tp_src = be16(p, 0).unwrap_or(0);
            k.tp_dst = be16(p, 2).unwrap_or(0);
            true
        }
        // ICMP and IGMP: type and code, from a complete 8-byte header.
        // (Like Open vSwitch, whatever the IP version says.)
        IPPROTO_ICMP | IPPROTO_IGMP => match p.get(..8) {
            Some(h) => {
                k.tp_src = u16::from(h[0]);
                k.tp_dst = u16::from(h[1]);
                true
            }
            None => false,
        },
        IPPROTO_ICMPV6 => match p.get(..8) {
            Some(h) => {
                k.tp_src = u16::from(h[0]);
                k.tp_dst = u16::from(h[1]);
                if (h[0] == 135 || h[0] == 136) && h[1] == 0 {
                    parse_nd(p, k);
                }
                true
            }
            None => false,
        },
        _ => true,
    }
}

/// Neighbour solicitation (135) or advertisement (136): the reserved word,
/// the target and the link-layer address options. Options that do not fit
/// end the walk; a repeated address option voids the ND fields.
fn parse_nd(p: &[u8], k: &mut FlowKey) {
    k.nd_reserved = be32(p, 4).unwrap_or(0);
    let Some(target) = be128(p, 8) else {
        return;
    };
    k.nd_target = target;
    let mut pos = 24;
    while p.len() >= pos + 8 {
        let (ty, len) = (p[pos], usize::from(p[pos + 1]) * 8);
        if len == 0 || pos + len > p.len() {
            return;
        }
        if len == 8 && (ty == 1 || ty == 2) {
            let addr = mac(p, pos + 2).unwrap_or_default();
            let slot = if ty == 1 {
                &mut k.arp_sha
            } else {
                &mut k.arp_tha
            };
            if *slot != [0; 6] {
                k.nd_target = 0;
                k.arp_sha = [0; 6];
                k.arp_tha = [0; 6];
                return;
            }
            *slot = addr;
            if k.nd_options_type == 0 {
                k.nd_options_type = ty;
            }
        }
        pos += len;
    }
}

#[cfg(test)]
mod hash_tests {
    use super::FlowKey;
    use std::hash::{BuildHasher, Hash, Hasher};

    fn h(k: &FlowKey) -> u64 {
        let s = std::collections::hash_map::RandomState::new();
        assert_eq!(s.hash_one(k), s.hash_one(*k), "equal keys hash equally");
        // A second hasher, same seed, to compare keys below.
        let mut c = std::collections::hash_map::DefaultHasher::new();
        k.hash(&mut c);
        c.finish()
    }

    #[test]
    fn every_field_reaches_the_hash() {
        let base = FlowKey::default();
        let variants = [
            FlowKey {
                recirc_id: 1,
                ..base
            },
            FlowKey { in_port: 1, ..base },
            FlowKey {
                ct_label: 1 << 100,
                ..base
            },
            FlowKey { tun_id: 1, ..base },
            FlowKey {
                tun_tp_dst: 1,
                ..base
            },
            FlowKey {
                eth_src: [0, 0, 0, 0, 0, 1],
                ..base
            },
            FlowKey {
                eth_type: 0x0800,
                ..base
            },
            FlowKey { nw_dst: 1, ..base },
            FlowKey {
                ipv6_dst: 1 << 127,
                ..base
            },
            FlowKey { tp_src: 1, ..base },
            FlowKey { tp_dst: 1, ..base },
            FlowKey {
                nd_target: 1,
                ..base
            },
            FlowKey {
                nd_reserved: 1,
                ..base
            },
            FlowKey {
                tun_geneve: crate::packet::GeneveOpts::new(&[1, 2, 3, 4]).unwrap_or_default(),
                ..base
            },
        ];
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(h(&base)));
        for v in &variants {
            assert!(seen.insert(h(v)), "{v:?}");
        }
    }
}
