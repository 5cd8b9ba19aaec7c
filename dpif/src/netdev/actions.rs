//! Executing datapath actions on packets in userspace.
//!
//! Header rewrites keep checksums right incrementally (RFC 1624). A packet
//! that still carries offloaded work (a partial checksum or a TCP
//! super-frame) is finished in software before any action that rewrites
//! L3/L4 bytes or sends it to userspace; plain forwarding passes the work
//! on to the output device untouched.

use std::collections::HashMap;
use std::sync::Arc;

use ferrovs_netdev::flow::{extract, VLAN_PRESENT};
use ferrovs_netdev::packet::{Packet, TunnelMeta};
use ferrovs_netdev::wire::*;
use ferrovs_netdev::{csum, offload, Netdev};

use super::conntrack::Conntrack;
use super::meter::Meters;
use super::odp_key;
use super::upcall::UpcallQueue;
use crate::odp::{Action, KeyAttr, TunnelAttr};
use crate::{Upcall, UpcallKind};

/// Output ports by number, as the executing thread sees them.
pub type PortTable = HashMap<u32, Arc<dyn Netdev>>;

/// What executing actions needs from the datapath.
pub struct ExecCtx<'a> {
    pub ports: &'a PortTable,
    pub upcalls: &'a UpcallQueue,
    pub conntrack: &'a Conntrack,
    pub meters: &'a Meters,
    /// Packets sent to `recirc`, to be looked up again by the caller.
    pub recirc: &'a mut Vec<Packet>,
    /// Packets that actions could not handle (unsupported action,
    /// rewrite of a header the packet does not have).
    pub dropped: u64,
    /// State of the sampling PRNG.
    pub rng: &'a mut u64,
    /// Output packets per port, sent together by [`ExecCtx::flush`].
    pub pending: Vec<(u32, Vec<Packet>)>,
}

impl ExecCtx<'_> {
    fn queue(&mut self, port: u32, pkt: Packet) {
        match self.pending.iter_mut().find(|(p, _)| *p == port) {
            Some((_, q)) => q.push(pkt),
            None => self.pending.push((port, vec![pkt])),
        }
    }

    /// Sends the queued output, a batch per port; returns how many
    /// packets and batches went out.
    pub fn flush(&mut self) -> (u64, u64) {
        let (mut pkts, mut batches) = (0, 0);
        for (port, q) in self.pending.drain(..) {
            if let Some(dev) = self.ports.get(&port) {
                pkts += q.len() as u64;
                batches += 1;
                dev.send_batch(q);
            }
        }
        (pkts, batches)
    }
}

/// Runs `actions` on `pkt`. An empty list drops the packet.
pub fn execute(pkt: Packet, actions: &[Action], ctx: &mut ExecCtx<'_>) {
    run(pkt, actions, ctx, None);
}

fn needs_plain(a: &Action) -> bool {
    match a {
        Action::Set(k) | Action::SetMasked { key: k, .. } => !matches!(
            k,
            KeyAttr::Priority(_) | KeyAttr::SkbMark(_) | KeyAttr::Tunnel(_) | KeyAttr::Ethernet(_)
        ),
        Action::Ct(attrs) => attrs
            .iter()
            .any(|a| matches!(a, crate::odp::CtAttr::Nat(_))),
        Action::Userspace(_)
        | Action::TunnelPush(_)
        | Action::PushMpls { .. }
        | Action::PopMpls(_)
        | Action::DecTtl(_)
        | Action::Trunc(_) => true,
        _ => false,
    }
}

fn has_offload(p: &Packet) -> bool {
    p.offload.csum_partial || p.offload.gso_type != 0
}

fn run(mut pkt: Packet, actions: &[Action], ctx: &mut ExecCtx<'_>, mut cutlen: Option<usize>) {
    for (i, a) in actions.iter().enumerate() {
        let last = i + 1 == actions.len();
        if has_offload(&pkt) && needs_plain(a) {
            let mut segs = Vec::new();
            offload::finish(pkt, &mut segs);
            for s in segs {
                run(s, &actions[i..], ctx, cutlen);
            }
            return;
        }
        match a {
            Action::Output(port) => {
                let out = if last {
                    pkt.clone_for_last()
                } else {
                    pkt.clone()
                };
                output(out, *port, ctx, cutlen.take());
                if last {
                    return;
                }
            }
            Action::Userspace(u) => {
                let mut p = pkt.clone();
                if let Some(c) = cutlen.take() {
                    p.truncate(c);
                }
                let key = extract(p.data(), &p.meta).key;
                ctx.upcalls.send(Upcall {
                    kind: UpcallKind::Action,
                    packet: p.data().to_vec(),
                    key: odp_key::to_odp(&key),
                    userdata: u.userdata.clone(),
                    egress_tun_key: None,
                    mru: None,
                });
            }
            Action::Set(k) => {
                if !set_field(&mut pkt, k, None) {
                    ctx.dropped += 1;
                    return;
                }
            }
            Action::SetMasked { key, mask } => {
                if !set_field(&mut pkt, key, Some(mask)) {
                    ctx.dropped += 1;
                    return;
                }
            }
            Action::PushVlan { tpid, tci } => {
                let mut tag = [0u8; 4];
                tag[..2].copy_from_slice(&tpid.to_be_bytes());
                tag[2..].copy_from_slice(&(tci & !VLAN_PRESENT).to_be_bytes());
                if !pkt.insert(12, &tag) {
                    ctx.dropped += 1;
                    return;
                }
            }
            Action::PopVlan => {
                let ty = be16(pkt.data(), 12);
                if matches!(ty, Some(ETH_TYPE_VLAN) | Some(ETH_TYPE_QINQ)) {
                    pkt.remove(12, 4);
                }
            }
            Action::PushMpls { lse, ethertype } => {
                let x = extract(pkt.data(), &pkt.meta);
                let at = x.layers.l2_5;
                if at < 2 || !pkt.insert(at, &lse.to_be_bytes()) {
                    ctx.dropped += 1;
                    return;
                }
                put_be16(pkt.data_mut(), at - 2, *ethertype);
            }
            Action::PopMpls(ethertype) => {
                let x = extract(pkt.data(), &pkt.meta);
                if x.key.n_mpls() == 0 {
                    continue;
                }
                let at = x.layers.l2_5;
                if at < 2 || !pkt.remove(at, 4) {
                    ctx.dropped += 1;
                    return;
                }
                put_be16(pkt.data_mut(), at - 2, *ethertype);
            }
            Action::Recirc(id) => {
                let mut p = if last {
                    pkt.clone_for_last()
                } else {
                    pkt.clone()
                };
                p.meta.recirc_id = *id;
                ctx.recirc.push(p);
                if last {
                    return;
                }
            }
            Action::Hash { alg, basis } => {
                let k = extract(pkt.data(), &pkt.meta).key;
                pkt.meta.dp_hash = l4_hash(&k, *alg, *basis);
            }
            Action::Clone(inner) => run(pkt.clone(), inner, ctx, cutlen),
            Action::Sample {
                probability,
                actions,
            } => {
                if sample(ctx.rng, *probability) {
                    run(pkt.clone(), actions, ctx, cutlen);
                }
            }
            Action::Trunc(max) => {
                let m = *max as usize;
                cutlen = Some(cutlen.map_or(m, |c| c.min(m)));
            }
            Action::CheckPktLen { pkt_len, gt, le } => {
                let len = cutlen.map_or(pkt.len(), |c| c.min(pkt.len()));
                let branch = if len > usize::from(*pkt_len) { gt } else { le };
                run(pkt.clone(), branch, ctx, cutlen);
            }
            Action::DecTtl(expired) => {
                if !dec_ttl(&mut pkt) {
                    run(pkt, expired, ctx, cutlen);
                    return;
                }
            }
            Action::Drop(_) => return,
            Action::Meter(id) => {
                let now = ferrovs_netdev::dev::sys::monotonic_ms();
                if !ctx.meters.pass(*id, pkt.len(), now) {
                    // Dropped by the meter, counted in its band.
                    return;
                }
            }
            Action::Ct(attrs) => {
                let now = ferrovs_netdev::dev::sys::monotonic_ms();
                let r = ctx.conntrack.execute(&mut pkt, attrs, now);
                pkt.meta.ct_state = r.state;
                pkt.meta.ct_zone = r.zone;
                pkt.meta.ct_mark = r.mark;
                pkt.meta.ct_label = r.label;
            }
            Action::TunnelPush(t) => {
                let mut p = if last {
                    pkt.clone_for_last()
                } else {
                    pkt.clone()
                };
                let k = extract(p.data(), &p.meta).key;
                let hash = l4_hash(&k, 0, 0);
                if ferrovs_netdev::tunnel::push_header(&mut p, &t.header, hash) {
                    p.meta.tunnel = TunnelMeta::default();
                    output(p, t.out_port, ctx, cutlen.take());
                } else {
                    ctx.dropped += 1;
                }
                if last {
                    return;
                }
            }
            Action::TunnelPop(port) => {
                let tunnel = ctx.ports.get(port).and_then(|d| d.tunnel());
                let mut p = if last {
                    pkt.clone_for_last()
                } else {
                    pkt.clone()
                };
                match tunnel
                    .and_then(|(kind, udp)| ferrovs_netdev::tunnel::pop_header(&mut p, kind, udp))
                {
                    Some(meta) => {
                        p.meta = ferrovs_netdev::PacketMeta {
                            in_port: *port,
                            recirc_id: p.meta.recirc_id,
                            tunnel: meta,
                            ..Default::default()
                        };
                        ctx.recirc.push(p);
                    }
                    None => ctx.dropped += 1,
                }
                if last {
                    return;
                }
            }
            Action::CtClear => {
                pkt.meta.ct_state = 0;
                pkt.meta.ct_zone = 0;
                pkt.meta.ct_mark = 0;
                pkt.meta.ct_label = 0;
            }
            _ => {
                log::warn!("netdev datapath: action not supported, packet dropped: {a:?}");
                ctx.dropped += 1;
                return;
            }
        }
    }
}

trait CloneForLast {
    fn clone_for_last(&mut self) -> Packet;
}

impl CloneForLast for Packet {
    /// Takes the packet out (the last action owns it), leaving an empty
    /// one behind.
    fn clone_for_last(&mut self) -> Packet {
        std::mem::replace(self, Packet::from_bytes(&[]))
    }
}

fn output(mut pkt: Packet, port: u32, ctx: &mut ExecCtx<'_>, cutlen: Option<usize>) {
    if !ctx.ports.contains_key(&port) {
        ctx.dropped += 1;
        return;
    }
    if let Some(c) = cutlen {
        if c < pkt.len() {
            let mut segs = Vec::new();
            offload::finish(pkt, &mut segs);
            for mut s in segs {
                s.truncate(c);
                ctx.queue(port, s);
            }
            return;
        }
    }
    // Metadata of this datapath pass does not leave with the packet.
    pkt.meta.recirc_id = 0;
    ctx.queue(port, pkt);
}

/// Sampling: `probability` out of u32::MAX.
fn sample(rng: &mut u64, probability: u32) -> bool {
    if probability == u32::MAX {
        return true;
    }
    // xorshift64*
    let mut x = *rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    ((x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32) < probability
}

/// The L4 hash of `hash(l4)` (alg 0) and `hash(sym_l4)` (alg 1).
fn l4_hash(k: &ferrovs_netdev::FlowKey, alg: u32, basis: u32) -> u32 {
    let fold = |v: u128| (v as u32) ^ ((v >> 32) as u32) ^ ((v >> 64) as u32) ^ ((v >> 96) as u32);
    let (mut a, mut b) = (
        fold(u128::from(k.nw_src)) ^ fold(k.ipv6_src),
        fold(u128::from(k.nw_dst)) ^ fold(k.ipv6_dst),
    );
    let (mut pa, mut pb) = (u32::from(k.tp_src), u32::from(k.tp_dst));
    if alg == 1 && (a, pa) > (b, pb) {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut pa, &mut pb);
    }
    let mut h = basis ^ 0x9e37_79b9;
    for v in [a, b, pa << 16 | pb, u32::from(k.nw_proto)] {
        h = (h ^ v).wrapping_mul(0x0100_0193).rotate_left(13);
    }
    h ^= h >> 16;
    h.wrapping_mul(0x85eb_ca6b)
}

fn mixin<T>(old: T, v: T, m: Option<T>) -> T
where
    T: Copy
        + std::ops::BitAnd<Output = T>
        + std::ops::BitOr<Output = T>
        + std::ops::Not<Output = T>,
{
    match m {
        Some(m) => (old & !m) | (v & m),
        None => v,
    }
}

/// Applies a `set` or `set_masked` of one key attribute. False when the
/// packet lacks the header the action rewrites.
fn set_field(pkt: &mut Packet, key: &KeyAttr, mask: Option<&KeyAttr>) -> bool {
    match (key, mask) {
        (KeyAttr::Priority(v), m) => {
            let m = match m {
                Some(KeyAttr::Priority(m)) => Some(*m),
                _ => None,
            };
            pkt.meta.skb_priority = mixin(pkt.meta.skb_priority, *v, m);
            true
        }
        (KeyAttr::SkbMark(v), m) => {
            let m = match m {
                Some(KeyAttr::SkbMark(m)) => Some(*m),
                _ => None,
            };
            pkt.meta.skb_mark = mixin(pkt.meta.skb_mark, *v, m);
            true
        }
        (KeyAttr::Tunnel(t), _) => {
            pkt.meta.tunnel = tunnel_meta(t);
            true
        }
        (KeyAttr::Ethernet(e), m) => {
            let m = match m {
                Some(KeyAttr::Ethernet(m)) => Some(*m),
                _ => None,
            };
            let d = pkt.data_mut();
            if d.len() < 12 {
                return false;
            }
            for i in 0..6 {
                d[i] = mixin(d[i], e.dst[i], m.map(|m| m.dst[i]));
                d[6 + i] = mixin(d[6 + i], e.src[i], m.map(|m| m.src[i]));
            }
            true
        }
        (KeyAttr::Ipv4(v), m) => {
            let m = match m {
                Some(KeyAttr::Ipv4(m)) => Some(*m),
                _ => None,
            };
            set_ipv4(pkt, v, m.as_ref())
        }
        (KeyAttr::Ipv6(v), m) => {
            let m = match m {
                Some(KeyAttr::Ipv6(m)) => Some(*m),
                _ => None,
            };
            set_ipv6(pkt, v, m.as_ref())
        }
        (KeyAttr::Tcp(p), m) | (KeyAttr::Udp(p), m) => {
            let m = match m {
                Some(KeyAttr::Tcp(m)) | Some(KeyAttr::Udp(m)) => Some(*m),
                _ => None,
            };
            let proto = if matches!(key, KeyAttr::Tcp(_)) {
                IPPROTO_TCP
            } else {
                IPPROTO_UDP
            };
            set_ports(pkt, proto, p.src, p.dst, m.map(|m| (m.src, m.dst)))
        }
        (KeyAttr::Mpls(l), m) => {
            let x = extract(pkt.data(), &pkt.meta);
            let (Some(v), true) = (l.first(), x.key.n_mpls() > 0) else {
                return false;
            };
            let m = match m {
                Some(KeyAttr::Mpls(m)) => m.first().copied(),
                _ => None,
            };
            let at = x.layers.l2_5;
            let old = be32(pkt.data(), at).unwrap_or(0);
            put_be32(pkt.data_mut(), at, mixin(old, *v, m))
        }
        _ => false,
    }
}

fn tunnel_meta(t: &[TunnelAttr]) -> TunnelMeta {
    let mut m = TunnelMeta::default();
    for a in t {
        match a {
            TunnelAttr::Id(v) => m.tun_id = *v,
            TunnelAttr::Ipv4Src(a) => m.ipv4_src = u32::from(*a),
            TunnelAttr::Ipv4Dst(a) => m.ipv4_dst = u32::from(*a),
            TunnelAttr::Ipv6Src(a) => m.ipv6_src = u128::from(*a),
            TunnelAttr::Ipv6Dst(a) => m.ipv6_dst = u128::from(*a),
            TunnelAttr::Tos(v) => m.tos = *v,
            TunnelAttr::Ttl(v) => m.ttl = *v,
            TunnelAttr::TpSrc(v) => m.tp_src = *v,
            TunnelAttr::TpDst(v) => m.tp_dst = *v,
            TunnelAttr::DontFragment => m.flags |= odp_key_flags::DF,
            TunnelAttr::Csum => m.flags |= odp_key_flags::CSUM,
            _ => {}
        }
    }
    m
}

mod odp_key_flags {
    pub const DF: u16 = super::odp_key::TUN_F_DONT_FRAGMENT;
    pub const CSUM: u16 = super::odp_key::TUN_F_CSUM;
}

/// Offset of the L4 checksum field for `proto` (None: no checksum to fix).
fn l4_csum_field(proto: u8, d: &[u8], l4: usize) -> Option<usize> {
    match proto {
        IPPROTO_TCP => Some(l4 + 16),
        // A zero UDP checksum means "none" and stays so.
        IPPROTO_UDP => match be16(d, l4 + 6) {
            Some(0) | None => None,
            _ => Some(l4 + 6),
        },
        IPPROTO_ICMPV6 => Some(l4 + 2),
        _ => None,
    }
}

/// Applies a change of a 32-bit word to the IP header checksum at
/// `ip_csum` and the L4 checksum at `l4_csum`.
fn fix_csums(d: &mut [u8], ip_csum: Option<usize>, l4_csum: Option<usize>, old: u32, new: u32) {
    for f in [ip_csum, l4_csum].into_iter().flatten() {
        if let Some(c) = be16(d, f) {
            put_be16(d, f, csum::update32(c, old, new));
        }
    }
}

fn set_ipv4(
    pkt: &mut Packet,
    v: &crate::odp::key::Ipv4Key,
    m: Option<&crate::odp::key::Ipv4Key>,
) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l3) = x.layers.l3 else { return false };
    if x.key.eth_type != ETH_TYPE_IPV4 {
        return false;
    }
    let proto = x.key.nw_proto;
    let d = pkt.data_mut();
    let l4c = x.layers.l4.and_then(|l4| l4_csum_field(proto, d, l4));
    let ipc = Some(l3 + 10);
    let fields = [
        (l3 + 12, u32::from(v.src), m.map(|m| u32::from(m.src))),
        (l3 + 16, u32::from(v.dst), m.map(|m| u32::from(m.dst))),
    ];
    for (off, val, mask) in fields {
        let Some(old) = be32(d, off) else {
            return false;
        };
        let new = mixin(old, val, mask);
        if new != old {
            put_be32(d, off, new);
            fix_csums(d, ipc, l4c, old, new);
        }
    }
    // TOS (byte 1) and TTL (byte 8) share 16-bit words with their
    // neighbours; update the header checksum word-wise.
    for (off, val, mask) in [
        (l3 + 1, v.tos, m.map(|m| m.tos)),
        (l3 + 8, v.ttl, m.map(|m| m.ttl)),
    ] {
        let Some(&old) = d.get(off) else { return false };
        let new = mixin(old, val, mask);
        if new != old {
            let w = off & !1;
            let ow = be16(d, w).unwrap_or(0);
            d[off] = new;
            let nw = be16(d, w).unwrap_or(0);
            if let Some(c) = be16(d, l3 + 10) {
                put_be16(d, l3 + 10, csum::update16(c, ow, nw));
            }
        }
    }
    true
}

fn set_ipv6(
    pkt: &mut Packet,
    v: &crate::odp::key::Ipv6Key,
    m: Option<&crate::odp::key::Ipv6Key>,
) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l3) = x.layers.l3 else { return false };
    if x.key.eth_type != ETH_TYPE_IPV6 {
        return false;
    }
    let proto = x.key.nw_proto;
    let d = pkt.data_mut();
    let l4c = x.layers.l4.and_then(|l4| l4_csum_field(proto, d, l4));
    for (off, val, mask) in [
        (l3 + 8, u128::from(v.src), m.map(|m| u128::from(m.src))),
        (l3 + 24, u128::from(v.dst), m.map(|m| u128::from(m.dst))),
    ] {
        let Some(old) = be128(d, off) else {
            return false;
        };
        let new = mixin(old, val, mask);
        if new != old {
            put_bytes(d, off, &new.to_be_bytes());
            if let Some(f) = l4c {
                if let Some(c) = be16(d, f) {
                    put_be16(d, f, csum::update128(c, old, new));
                }
            }
        }
    }
    // Version/class/label word, then hop limit: no header checksum.
    let Some(w) = be32(d, l3) else { return false };
    let tc = mixin(((w >> 20) & 0xff) as u8, v.tclass, m.map(|m| m.tclass));
    let label = mixin(w & 0xf_ffff, v.label, m.map(|m| m.label)) & 0xf_ffff;
    put_be32(d, l3, (w & 0xf000_0000) | (u32::from(tc) << 20) | label);
    if let Some(h) = d.get_mut(l3 + 7) {
        *h = mixin(*h, v.hlimit, m.map(|m| m.hlimit));
    }
    true
}

fn set_ports(pkt: &mut Packet, proto: u8, src: u16, dst: u16, m: Option<(u16, u16)>) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l4) = x.layers.l4 else { return false };
    if x.key.nw_proto != proto {
        return false;
    }
    let d = pkt.data_mut();
    let cf = l4_csum_field(proto, d, l4);
    for (off, val, mask) in [(l4, src, m.map(|m| m.0)), (l4 + 2, dst, m.map(|m| m.1))] {
        let Some(old) = be16(d, off) else {
            return false;
        };
        let new = mixin(old, val, mask);
        if new != old {
            put_be16(d, off, new);
            if let Some(f) = cf {
                if let Some(c) = be16(d, f) {
                    put_be16(d, f, csum::update16(c, old, new));
                }
            }
        }
    }
    true
}

/// Decrements the IP TTL / hop limit; false when it would reach zero.
fn dec_ttl(pkt: &mut Packet) -> bool {
    let x = extract(pkt.data(), &pkt.meta);
    let Some(l3) = x.layers.l3 else { return true };
    let d = pkt.data_mut();
    match x.key.eth_type {
        ETH_TYPE_IPV4 => {
            let Some(&ttl) = d.get(l3 + 8) else {
                return true;
            };
            if ttl <= 1 {
                return false;
            }
            let ow = be16(d, l3 + 8).unwrap_or(0);
            d[l3 + 8] = ttl - 1;
            let nw = be16(d, l3 + 8).unwrap_or(0);
            if let Some(c) = be16(d, l3 + 10) {
                put_be16(d, l3 + 10, csum::update16(c, ow, nw));
            }
            true
        }
        ETH_TYPE_IPV6 => {
            let Some(h) = d.get_mut(l3 + 7) else {
                return true;
            };
            if *h <= 1 {
                return false;
            }
            *h -= 1;
            true
        }
        _ => true,
    }
}

/// Rewrites a packet's addresses (and TCP/UDP ports when given) with
/// checksum fixups: what NAT does to each packet of a connection.
pub(crate) fn rewrite_tuple(
    pkt: &mut Packet,
    v6: bool,
    src: u128,
    dst: u128,
    ports: Option<(u16, u16)>,
) {
    use crate::odp::key::{Ipv4Key, Ipv6Key};
    use std::net::{Ipv4Addr, Ipv6Addr};
    if v6 {
        let v = Ipv6Key {
            src: Ipv6Addr::from(src),
            dst: Ipv6Addr::from(dst),
            label: 0,
            proto: 0,
            tclass: 0,
            hlimit: 0,
            frag: 0,
        };
        let m = Ipv6Key {
            src: Ipv6Addr::from(u128::MAX),
            dst: Ipv6Addr::from(u128::MAX),
            ..v
        };
        set_ipv6(pkt, &v, Some(&m));
    } else {
        let v = Ipv4Key {
            src: Ipv4Addr::from(src as u32),
            dst: Ipv4Addr::from(dst as u32),
            proto: 0,
            tos: 0,
            ttl: 0,
            frag: 0,
        };
        let m = Ipv4Key {
            src: Ipv4Addr::from(u32::MAX),
            dst: Ipv4Addr::from(u32::MAX),
            ..v
        };
        set_ipv4(pkt, &v, Some(&m));
    }
    if let Some((s, d)) = ports {
        let proto = extract(pkt.data(), &pkt.meta).key.nw_proto;
        if proto == IPPROTO_TCP || proto == IPPROTO_UDP {
            set_ports(pkt, proto, s, d, None);
        }
    }
}
