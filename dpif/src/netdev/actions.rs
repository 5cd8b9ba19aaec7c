//! Executing datapath actions on packets in userspace.
//!
//! Header rewrites keep checksums right incrementally (RFC 1624). A packet
//! that still carries offloaded work (a partial checksum or a TCP
//! super-frame) is finished in software before any action that rewrites
//! L3/L4 bytes or sends it to userspace; plain forwarding passes the work
//! on to the output device untouched.

use std::collections::HashMap;
use std::sync::Arc;

use ferrovs_netdev::fasthash::FastHashing;
use ferrovs_netdev::flow::{extract, VLAN_PRESENT};
use ferrovs_netdev::packet::{Packet, TunnelMeta};
use ferrovs_netdev::wire::*;
use ferrovs_netdev::{offload, Netdev};

use super::conntrack::Conntrack;
use super::meter::Meters;
use super::odp_key;
use super::rewrite::{dec_ttl, set_field};
use super::upcall::UpcallQueue;
use crate::odp::{Action, KeyAttr};
use crate::{Upcall, UpcallKind};

/// Output ports by number, as the executing thread sees them.
pub type PortTable = PortMap<Arc<dyn Netdev>>;

/// A map keyed by datapath port number. Port numbers are chosen by the
/// daemon and its administrator, never by a packet's sender, so they
/// need no keyed (SipHash) hash: [`FastHashing`]'s multiply-and-fold
/// is enough, and the poll thread looks ports up per packet and per
/// round (std's SipHash showed in its profile).
pub type PortMap<V> = HashMap<u32, V, FastHashing>;

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
        // The ports of this pass are the non-empty lists at the front, in
        // the order they were first queued to; the empty lists after them
        // are room kept from earlier passes.
        for (p, q) in self.pending.iter_mut() {
            if q.is_empty() {
                *p = port;
            } else if *p != port {
                continue;
            }
            q.push(pkt);
            return;
        }
        self.pending.push((port, vec![pkt]));
    }

    /// Sends the queued output, a batch per port; returns how many
    /// packets and batches went out. The lists stay, empty, for the next
    /// pass (a few: the ports a pass outputs to are usually few).
    pub fn flush(&mut self) -> (u64, u64) {
        const KEPT_LISTS: usize = 8;
        let (mut pkts, mut batches) = (0, 0);
        for (port, q) in self.pending.iter_mut() {
            if q.is_empty() {
                break;
            }
            match self.ports.get(port) {
                Some(dev) => {
                    pkts += q.len() as u64;
                    batches += 1;
                    dev.send_batch(q);
                    q.clear();
                }
                None => q.clear(),
            }
        }
        self.pending.truncate(KEPT_LISTS);
        (pkts, batches)
    }
}

/// Checks that this datapath can run every action of a list (nested
/// lists too), as the kernel checks a flow's actions when it is put: an
/// error names the first one it cannot. Feature probing relies on this.
pub fn validate(actions: &[Action]) -> Result<(), String> {
    for a in actions {
        let ok = match a {
            Action::Set(k) | Action::SetMasked { key: k, .. } => {
                matches!(
                    k,
                    KeyAttr::Priority(_)
                        | KeyAttr::SkbMark(_)
                        | KeyAttr::Ethernet(_)
                        | KeyAttr::Ipv4(_)
                        | KeyAttr::Ipv6(_)
                        | KeyAttr::Tcp(_)
                        | KeyAttr::Udp(_)
                        | KeyAttr::Mpls(_)
                ) || matches!((a, k), (Action::Set(_), KeyAttr::Tunnel(_)))
            }
            Action::Sample { actions, .. } | Action::Clone(actions) | Action::DecTtl(actions) => {
                validate(actions)?;
                true
            }
            Action::CheckPktLen { gt, le, .. } => {
                validate(gt)?;
                validate(le)?;
                true
            }
            Action::Ct(attrs) => !attrs.iter().any(|c| {
                matches!(
                    c,
                    crate::odp::CtAttr::Helper(_)
                        | crate::odp::CtAttr::Timeout(_)
                        | crate::odp::CtAttr::Unknown { .. }
                )
            }),
            Action::Output(_)
            | Action::Userspace(_)
            | Action::PushVlan { .. }
            | Action::PopVlan
            | Action::Recirc(_)
            | Action::Hash { .. }
            | Action::PushMpls { .. }
            | Action::PopMpls(_)
            | Action::Trunc(_)
            | Action::CtClear
            | Action::Meter(_)
            | Action::Drop(_)
            | Action::TunnelPush(_)
            | Action::TunnelPop(_) => true,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "action not supported by the userspace datapath: {a:?}"
            ));
        }
    }
    Ok(())
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
                let out = if last { take(&mut pkt) } else { pkt.clone() };
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
                ctx.upcalls.send(
                    Upcall {
                        kind: UpcallKind::Action,
                        packet: p.data().to_vec(),
                        key: odp_key::to_odp(&key),
                        userdata: u.userdata.clone(),
                        egress_tun_key: None,
                        mru: None,
                    },
                    super::upcall::flow_hash(&key),
                );
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
                let mut p = if last { take(&mut pkt) } else { pkt.clone() };
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
            // As in Open vSwitch, tnl_push only encapsulates: the actions
            // after it (translated in the underlay bridge) send the packet.
            // A tnl_push that ends its list has no such actions; it sends
            // to its out_port, as this datapath always did.
            Action::TunnelPush(t) => {
                let k = extract(pkt.data(), &pkt.meta).key;
                let hash = l4_hash(&k, 0, 0);
                if !ferrovs_netdev::tunnel::push_header(&mut pkt, &t.header, hash) {
                    ctx.dropped += 1;
                    return;
                }
                pkt.meta.tunnel = TunnelMeta::default();
                if last {
                    output(take(&mut pkt), t.out_port, ctx, cutlen.take());
                    return;
                }
            }
            Action::TunnelPop(port) => {
                let tunnel = ctx.ports.get(port).and_then(|d| d.tunnel());
                let mut p = if last { take(&mut pkt) } else { pkt.clone() };
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

/// Takes the packet out for the last action, which owns it (no copy),
/// leaving an empty one behind.
fn take(pkt: &mut Packet) -> Packet {
    std::mem::replace(pkt, Packet::empty())
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
    // 0 means "no hash computed yet" to translation (a select group would
    // ask for the hash again): never produce it.
    h.wrapping_mul(0x85eb_ca6b).max(1)
}
