//! MPLS in translation: push_mpls, pop_mpls, the label fields and
//! dec_mpls_ttl, and committing them as datapath actions.
//!
//! The flow key holds one label stack entry (label, tc, bos, ttl), so
//! this handles packets with at most one label: pushing onto a non-MPLS
//! packet, popping a bottom-of-stack label, and rewriting it. Pushing
//! takes tc and ttl from the IP header (matched), and hides the L3 and
//! L4 headers from the rest of the pipeline, as Open vSwitch does.
//! Deeper stacks, and IP processing after a pop (which stock does by
//! recirculating), are not handled.

use super::{be, put_be, Ctx, Node, NodeKind};
use crate::openflow::fields::{eth_type, id, range, KEY_LEN};
use ferrovs_dpif::odp::{Action, KeyAttr};

type Key = [u8; KEY_LEN];

fn get(k: &Key, f: usize) -> u128 {
    be(&k[range(f)])
}

fn put(k: &mut Key, f: usize, v: u128) {
    put_be(&mut k[range(f)], v);
}

pub(super) fn is_mpls(et: u16) -> bool {
    et == eth_type::MPLS || et == eth_type::MPLS_MCAST
}

/// The label stack entry of a key, as the datapath encodes it.
fn lse(k: &Key) -> u32 {
    ((get(k, id::MPLS_LABEL) as u32 & 0xf_ffff) << 12)
        | ((get(k, id::MPLS_TC) as u32 & 7) << 9)
        | ((get(k, id::MPLS_BOS) as u32 & 1) << 8)
        | (get(k, id::MPLS_TTL) as u32 & 0xff)
}

/// The L3 and L4 fields a push hides (zero while the packet is MPLS).
const L3_L4: [usize; 24] = [
    id::IP_SRC,
    id::IP_DST,
    id::IPV6_SRC,
    id::IPV6_DST,
    id::IPV6_LABEL,
    id::NW_PROTO,
    id::NW_TOS,
    id::NW_ECN,
    id::NW_TTL,
    id::IP_FRAG,
    id::ARP_SPA,
    id::ARP_TPA,
    id::ARP_OP,
    id::ARP_SHA,
    id::ARP_THA,
    id::TCP_SRC,
    id::TCP_DST,
    id::TCP_FLAGS,
    id::UDP_SRC,
    id::UDP_DST,
    id::SCTP_SRC,
    id::SCTP_DST,
    id::ICMP_TYPE,
    id::ICMP_CODE,
];

/// Emits the push, pop or set that brings the datapath's label stack to
/// the flow's. `popping` selects the pop half (done before L3 commits,
/// so they apply to the packet without its label), else push and set.
pub(super) fn commit(flow: &Key, base: &mut Key, out: &mut Vec<Action>, popping: bool) {
    let (fe, be_) = (
        get(flow, id::ETH_TYPE) as u16,
        get(base, id::ETH_TYPE) as u16,
    );
    match (is_mpls(fe), is_mpls(be_)) {
        (false, true) if popping => {
            out.push(Action::PopMpls(fe));
            put(base, id::ETH_TYPE, fe as u128);
        }
        (true, false) if !popping => {
            out.push(Action::PushMpls {
                lse: lse(flow),
                ethertype: fe,
            });
            put(base, id::ETH_TYPE, fe as u128);
            for f in [id::MPLS_LABEL, id::MPLS_TC, id::MPLS_BOS, id::MPLS_TTL] {
                put(base, f, get(flow, f));
            }
        }
        (true, true) if !popping && lse(flow) != lse(base) => {
            out.push(Action::Set(KeyAttr::Mpls(vec![lse(flow)])));
            for f in [id::MPLS_LABEL, id::MPLS_TC, id::MPLS_BOS, id::MPLS_TTL] {
                put(base, f, get(flow, f));
            }
        }
        _ => {}
    }
}

impl Ctx<'_> {
    /// `push_mpls:ETHERTYPE`.
    pub(super) fn push_mpls(&mut self, ethertype: u16, out: &mut Vec<Node>) {
        let et = self.get(id::ETH_TYPE) as u16;
        if is_mpls(et) {
            out.push(Node::new(
                NodeKind::Warn,
                "pushing a second MPLS label is not supported by ferrovs translation".into(),
            ));
            return;
        }
        // Pending rewrites reach the packet before it gets the label.
        super::commit::commit(
            &self.flow,
            &mut self.base,
            &mut self.wc,
            &mut self.vlans,
            &mut self.actions,
            &mut self.slow,
        );
        let (mut label, mut tc, mut ttl) = (0u128, 0u128, 64u128);
        if et == eth_type::IPV6 {
            label = 2;
        }
        if et == eth_type::IP || et == eth_type::IPV6 {
            tc = ((self.get(id::NW_TOS) & 0xfc) >> 2) & 7;
            self.unwildcard(id::NW_TOS, 0xfc);
            self.exact(id::NW_TTL);
            let t = self.get(id::NW_TTL);
            if t != 0 {
                ttl = t;
            }
        }
        for f in L3_L4 {
            self.flow[range(f)].fill(0);
        }
        self.set(id::MPLS_LABEL, label);
        self.set(id::MPLS_TC, tc);
        self.set(id::MPLS_BOS, 1);
        self.set(id::MPLS_TTL, ttl);
        self.set(id::ETH_TYPE, ethertype as u128);
    }

    /// `pop_mpls:ETHERTYPE`.
    pub(super) fn pop_mpls(&mut self, ethertype: u16, out: &mut Vec<Node>) {
        let et = self.get(id::ETH_TYPE) as u16;
        if !is_mpls(et) {
            return;
        }
        self.exact(id::MPLS_BOS);
        if self.get(id::MPLS_BOS) == 0 {
            out.push(Node::new(
                NodeKind::Warn,
                "popping one of several MPLS labels is not supported by ferrovs translation".into(),
            ));
            return;
        }
        for f in [id::MPLS_LABEL, id::MPLS_TC, id::MPLS_BOS, id::MPLS_TTL] {
            self.flow[range(f)].fill(0);
        }
        self.set(id::ETH_TYPE, ethertype as u128);
    }

    /// set_mpls_label/tc/ttl (and set_field to them).
    pub(super) fn set_mpls(&mut self, f: usize, v: u128) {
        if !is_mpls(self.get(id::ETH_TYPE) as u16) {
            return;
        }
        let mask = match f {
            id::MPLS_LABEL => 0xf_ffff,
            id::MPLS_TC => 7,
            id::MPLS_TTL => 0xff,
            _ => 1,
        };
        self.unwildcard(f, mask);
        self.set(f, v & mask);
    }

    /// `dec_mpls_ttl`: at 0 or 1 the packet goes to the controller
    /// (reason invalid_ttl) and this action list stops.
    pub(super) fn dec_mpls_ttl(&mut self, out: &mut Vec<Node>) {
        if !is_mpls(self.get(id::ETH_TYPE) as u16) {
            return;
        }
        self.exact(id::MPLS_TTL);
        let ttl = self.get(id::MPLS_TTL);
        if ttl > 1 {
            self.set(id::MPLS_TTL, ttl - 1);
        } else {
            out.push(Node::new(
                NodeKind::Warn,
                "MPLS decrement TTL exception".into(),
            ));
            self.controller(u16::MAX, 0, super::REASON_INVALID_TTL, &[]);
            self.stop_list = true;
        }
    }
}
