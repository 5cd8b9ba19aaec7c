//! MPLS in translation: push_mpls, pop_mpls, the label fields and
//! dec_mpls_ttl on label stacks of up to three entries, and committing
//! them as datapath actions, as Open vSwitch 3.1 does.
//!
//! The top label stack entry lives in the key's MPLS fields (what
//! OpenFlow matches and sets); the two under it ride along in
//! [`Deeper`]. Pushing onto a non-MPLS packet takes tc and ttl from the
//! IP header and hides L3 and L4 from the rest of the pipeline; pushing
//! onto a label copies it (without bottom of stack). Popping shifts the
//! stack up; a pop to a non-MPLS type leaves L3 headers translation has
//! not seen, so later work on them (a table lookup, an L3 rewrite)
//! recirculates the packet, as stock does.

use super::{be, put_be, Ctx, Node, NodeKind};
use crate::openflow::actions::Action as OfAction;
use crate::openflow::fields::{eth_type, id, range, KEY_LEN};
use ferrovs_dpif::odp::{Action, Key as OdpKey, KeyAttr};

type Key = [u8; KEY_LEN];

/// Most label stack entries a flow holds (stock's FLOW_MAX_MPLS_LABELS).
const MAX_LABELS: usize = 3;
const BOS: u32 = 0x100;
const ETH_TYPE_MPLS: u16 = eth_type::MPLS;

/// The error stock reports when a stack would outgrow `MAX_LABELS`.
const TOO_MANY: &str = "Too many MPLS labels";

/// The label stack entries under the top one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deeper {
    /// Of the flow as translated so far.
    pub flow: [u32; 2],
    /// Of the packet as the datapath actions so far leave it.
    pub base: [u32; 2],
    /// The bits translation looked at (by stack position, as stock).
    pub wc: [u32; 2],
    /// A pop made the packet non-MPLS: its L3 headers are unknown here
    /// (stock's `was_mpls`).
    pub popped: bool,
}

impl Deeper {
    /// The entries under the top of a datapath key's label stack.
    pub fn of_key(key: &OdpKey) -> [u32; 2] {
        let mut out = [0; 2];
        for a in &key.attrs {
            if let KeyAttr::Mpls(lses) = a {
                for (o, l) in out.iter_mut().zip(lses.iter().skip(1)) {
                    *o = *l;
                }
            }
        }
        out
    }
}

fn get(k: &Key, f: usize) -> u128 {
    be(&k[range(f)])
}

fn put(k: &mut Key, f: usize, v: u128) {
    put_be(&mut k[range(f)], v);
}

pub(super) fn is_mpls(et: u16) -> bool {
    et == eth_type::MPLS || et == eth_type::MPLS_MCAST
}

/// The top label stack entry of a key, as the datapath encodes it.
fn lse(k: &Key) -> u32 {
    ((get(k, id::MPLS_LABEL) as u32 & 0xf_ffff) << 12)
        | ((get(k, id::MPLS_TC) as u32 & 7) << 9)
        | ((get(k, id::MPLS_BOS) as u32 & 1) << 8)
        | (get(k, id::MPLS_TTL) as u32 & 0xff)
}

fn put_lse(k: &mut Key, v: u32) {
    put(k, id::MPLS_LABEL, (v >> 12) as u128);
    put(k, id::MPLS_TC, ((v >> 9) & 7) as u128);
    put(k, id::MPLS_BOS, ((v >> 8) & 1) as u128);
    put(k, id::MPLS_TTL, (v & 0xff) as u128);
}

/// A key's whole stack: its top entry and `deeper`.
fn stack(k: &Key, deeper: [u32; 2]) -> [u32; MAX_LABELS] {
    [lse(k), deeper[0], deeper[1]]
}

/// How many entries the stack has: up to the first with bottom of stack,
/// else the non-zero ones (stock's flow_count_mpls_labels). `seen` gets
/// the bottom-of-stack bits looked at.
fn count(et: u16, s: &[u32; MAX_LABELS], mut seen: impl FnMut(usize)) -> usize {
    if !is_mpls(et) {
        return 0;
    }
    let mut n = 0;
    for (i, l) in s.iter().enumerate() {
        seen(i);
        if l & BOS != 0 {
            return i + 1;
        }
        n += (*l != 0) as usize;
    }
    n
}

/// Entries common to both stacks, counted from the bottom.
fn common(a: &[u32; MAX_LABELS], an: usize, b: &[u32; MAX_LABELS], bn: usize) -> usize {
    (0..an.min(bn))
        .take_while(|i| a[an - 1 - i] == b[bn - 1 - i])
        .count()
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

/// Emits the pops, set and pushes that bring the datapath's label stack
/// to the flow's: pops of what is not common (or a set of the last one
/// when the flow has an entry in its place), then pushes of the flow's
/// outer entries. `popping` selects the half that runs before L3
/// commits: only when the flow is no longer MPLS (the L3 rewrites are
/// for the packet under the labels).
pub(super) fn commit(
    flow: &Key,
    base: &mut Key,
    deeper: &mut Deeper,
    out: &mut Vec<Action>,
    popping: bool,
) {
    let fe = get(flow, id::ETH_TYPE) as u16;
    let mut be_ = get(base, id::ETH_TYPE) as u16;
    let pops_to_non_mpls = is_mpls(be_) && !is_mpls(fe);
    if popping && !pops_to_non_mpls {
        return;
    }
    let fs = stack(flow, deeper.flow);
    let mut bs = stack(base, deeper.base);
    let flow_n = count(fe, &fs, |_| {});
    let mut base_n = count(be_, &bs, |_| {});
    let mut common_n = common(&fs, flow_n, &bs, base_n);
    let before = (bs, be_);
    while base_n > common_n {
        if base_n - 1 == common_n && flow_n > common_n {
            let v = fs[flow_n - base_n];
            out.push(Action::Set(KeyAttr::Mpls(vec![v])));
            bs[0] = v;
            common_n += 1;
        } else {
            // Only the last pop may leave a non-MPLS type.
            let et = if !is_mpls(fe) && base_n > 1 {
                ETH_TYPE_MPLS
            } else {
                fe
            };
            out.push(Action::PopMpls(et));
            bs.copy_within(1..base_n, 0);
            bs[base_n - 1] = 0;
            be_ = fe;
            base_n -= 1;
        }
    }
    while base_n < flow_n {
        let v = fs[flow_n - base_n - 1];
        out.push(Action::PushMpls {
            lse: v,
            ethertype: fe,
        });
        if base_n > 0 {
            bs.copy_within(0..base_n, 1);
        }
        bs[0] = v;
        be_ = fe;
        base_n += 1;
    }
    if (bs, be_) != before {
        put_lse(base, bs[0]);
        deeper.base = [bs[1], bs[2]];
        put(base, id::ETH_TYPE, be_ as u128);
    }
}

/// Whether `a`, after a pop to a non-MPLS type, needs the packet's L3
/// headers, so that translation recirculates first (stock's
/// recirc_for_mpls): all but outputs, groups, and rewrites below L3.
pub(super) fn needs_recirc(a: &OfAction) -> bool {
    match a {
        OfAction::Output { .. }
        | OfAction::Enqueue { .. }
        | OfAction::Group(_)
        | OfAction::SetVlanVid(_)
        | OfAction::SetVlanPcp(_)
        | OfAction::SetEthSrc(_)
        | OfAction::SetEthDst(_)
        | OfAction::SetQueue(_) => false,
        // The field table is in Open vSwitch's order, where the fields
        // from ip_src on are those of L3 and above.
        OfAction::SetField { field, .. } => *field >= id::IP_SRC,
        // set_tunnel, set_tunnel64, output_reg, output_reg2, output_trunc.
        OfAction::Nx { subtype, .. } => !matches!(subtype, 2 | 9 | 15 | 32 | 39),
        _ => true,
    }
}

/// `mpls_lse1=..,mpls_lse2=..` for the entries under the top with a
/// non-zero mask, as stock's flow and megaflow texts print them (a full
/// mask as a decimal number).
fn deeper_text(v: [u32; 2], mask: [u32; 2]) -> String {
    let mut s = String::new();
    for (i, (v, m)) in v.iter().zip(mask.iter()).enumerate() {
        match *m {
            0 => {}
            u32::MAX => s.push_str(&format!(",mpls_lse{}={v}", i + 1)),
            m => s.push_str(&format!(",mpls_lse{}={:#010x}/{m:#010x}", i + 1, v & m)),
        }
    }
    s
}

/// Adds the deeper entries to a flow or megaflow text, after its
/// `mpls_bos` (stock prints them right after the top entry's fields).
pub(super) fn add_deeper_text(text: &mut String, v: [u32; 2], mask: [u32; 2]) {
    let extra = deeper_text(v, mask);
    if extra.is_empty() {
        return;
    }
    let at = match text.find("mpls_bos=") {
        Some(p) => text[p..].find(',').map_or(text.len(), |c| p + c),
        None => text.len(),
    };
    text.insert_str(at, &extra);
}

/// For a flow's own text: the entries under the top that a packet of
/// this flow has (down to the first bottom of stack), all exact.
pub(super) fn flow_deeper_mask(k: &Key, deeper: [u32; 2]) -> [u32; 2] {
    let mut mask = [0; 2];
    if !is_mpls(get(k, id::ETH_TYPE) as u16) {
        return mask;
    }
    let s = stack(k, deeper);
    for i in 1..MAX_LABELS {
        if s[..i].iter().any(|l| l & BOS != 0) {
            break;
        }
        mask[i - 1] = u32::MAX;
    }
    mask
}

impl Ctx<'_> {
    fn stack(&self) -> [u32; MAX_LABELS] {
        stack(&self.flow, self.vlans.mpls.flow)
    }

    fn set_stack(&mut self, s: [u32; MAX_LABELS]) {
        put_lse(&mut self.flow, s[0]);
        self.vlans.mpls.flow = [s[1], s[2]];
    }

    /// Marks bits `mask` of stack entry `i` as looked at.
    fn mask_lse(&mut self, i: usize, mask: u32) {
        match i {
            0 => {
                self.unwildcard(id::MPLS_LABEL, (mask >> 12) as u128);
                self.unwildcard(id::MPLS_TC, ((mask >> 9) & 7) as u128);
                self.unwildcard(id::MPLS_BOS, ((mask >> 8) & 1) as u128);
                self.unwildcard(id::MPLS_TTL, (mask & 0xff) as u128);
            }
            i => {
                if let Some(w) = self.vlans.mpls.wc.get_mut(i - 1) {
                    *w |= mask;
                }
            }
        }
    }

    /// The flow's number of labels, marking the bottom-of-stack bits
    /// looked at.
    fn count_labels(&mut self) -> usize {
        let et = self.get(id::ETH_TYPE) as u16;
        let s = self.stack();
        let mut seen = Vec::new();
        let n = count(et, &s, |i| seen.push(i));
        for i in seen {
            self.mask_lse(i, BOS);
        }
        n
    }

    /// `push_mpls:ETHERTYPE`.
    pub(super) fn push_mpls(&mut self, ethertype: u16, _out: &mut [Node]) {
        let et = self.get(id::ETH_TYPE) as u16;
        let n = self.count_labels();
        if n >= MAX_LABELS {
            self.error = Some(TOO_MANY.into());
            return;
        }
        if n > 0 {
            for i in 0..n {
                self.mask_lse(i, u32::MAX);
            }
            let mut s = self.stack();
            s.copy_within(0..n, 1);
            s[0] = s[1] & !BOS;
            self.set_stack(s);
            self.set(id::ETH_TYPE, ethertype as u128);
            return;
        }
        // Pending rewrites reach the packet before it gets the label.
        self.commit_rewrites();
        let (mut label, mut tc, mut ttl) = (0u32, 0u32, 64u32);
        if et == eth_type::IPV6 {
            label = 2;
        }
        if et == eth_type::IP || et == eth_type::IPV6 {
            tc = ((self.get(id::NW_TOS) as u32 & 0xfc) >> 2) & 7;
            self.unwildcard(id::NW_TOS, 0xfc);
            self.exact(id::NW_TTL);
            let t = self.get(id::NW_TTL) as u32;
            if t != 0 {
                ttl = t;
            }
        }
        for f in L3_L4 {
            self.flow[range(f)].fill(0);
        }
        let mut s = self.stack();
        s[0] = (label << 12) | (tc << 9) | BOS | ttl;
        self.set_stack(s);
        self.set(id::ETH_TYPE, ethertype as u128);
    }

    /// `pop_mpls:ETHERTYPE`.
    pub(super) fn pop_mpls(&mut self, ethertype: u16, _out: &mut [Node]) {
        let n = self.count_labels();
        if n == 0 {
            return;
        }
        let mut s = self.stack();
        if n == MAX_LABELS {
            self.mask_lse(n - 1, BOS);
            if s[n - 1] & BOS == 0 {
                // What would come up from under the stack is unknown.
                self.error = Some(TOO_MANY.into());
                self.actions.clear();
                return;
            }
        }
        for i in 1..n {
            self.mask_lse(i, u32::MAX);
        }
        s.copy_within(1..n, 0);
        s[n - 1] = 0;
        self.set_stack(s);
        self.set(id::ETH_TYPE, ethertype as u128);
        if !is_mpls(ethertype) {
            self.vlans.mpls.popped = true;
        }
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
    /// (reason invalid_ttl); then, and for a packet without MPLS, this
    /// action list stops.
    pub(super) fn dec_mpls_ttl(&mut self, out: &mut Vec<Node>) {
        if is_mpls(self.get(id::ETH_TYPE) as u16) {
            self.exact(id::MPLS_TTL);
            let ttl = self.get(id::MPLS_TTL);
            if ttl > 1 {
                self.set(id::MPLS_TTL, ttl - 1);
                return;
            }
            self.controller(u16::MAX, 0, super::REASON_INVALID_TTL, &[]);
        }
        out.push(Node::new(
            NodeKind::Warn,
            "MPLS decrement TTL exception".into(),
        ));
        self.stop_list = true;
    }

    /// Before a table lookup or an action that needs L3 headers after a
    /// pop to a non-MPLS type: freezes, so that the datapath recirculates
    /// the packet and translation resumes with its real headers.
    pub(super) fn recirc_after_pop(&mut self) -> bool {
        if self.vlans.mpls.popped && !self.exit {
            self.exit = true;
            self.freezing = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lse_of(label: u32, bos: bool) -> u32 {
        (label << 12) | if bos { BOS } else { 0 } | 64
    }

    #[test]
    fn counts_to_the_bottom_of_stack() {
        let s = [lse_of(1, false), lse_of(2, true), 0];
        assert_eq!(count(ETH_TYPE_MPLS, &s, |_| {}), 2);
        assert_eq!(count(eth_type::IP, &s, |_| {}), 0);
        let s = [lse_of(1, false), lse_of(2, false), lse_of(3, false)];
        assert_eq!(count(ETH_TYPE_MPLS, &s, |_| {}), 3);
        let s = [lse_of(1, false), 0, 0];
        assert_eq!(count(ETH_TYPE_MPLS, &s, |_| {}), 1);
    }

    #[test]
    fn commit_pops_sets_and_pushes_like_stock() {
        let mut flow = [0u8; KEY_LEN];
        let mut base = [0u8; KEY_LEN];
        put(&mut base, id::ETH_TYPE, ETH_TYPE_MPLS as u128);
        put(&mut flow, id::ETH_TYPE, ETH_TYPE_MPLS as u128);
        // Base: 100, 200(bos). Flow: 30, 100, 200(bos): one push.
        put_lse(&mut base, lse_of(100, false));
        put_lse(&mut flow, lse_of(30, false));
        let mut d = Deeper {
            flow: [lse_of(100, false), lse_of(200, true)],
            base: [lse_of(200, true), 0],
            ..Deeper::default()
        };
        let mut out = Vec::new();
        commit(&flow, &mut base, &mut d, &mut out, false);
        assert_eq!(
            out,
            vec![Action::PushMpls {
                lse: lse_of(30, false),
                ethertype: ETH_TYPE_MPLS
            }]
        );
        assert_eq!(stack(&base, d.base), stack(&flow, d.flow));
        // Flow popped to IP from two labels: pop as MPLS, then to IP.
        put(&mut flow, id::ETH_TYPE, eth_type::IP as u128);
        put_lse(&mut flow, 0);
        d.flow = [0, 0];
        d.base = [lse_of(200, true), 0];
        put_lse(&mut base, lse_of(100, false));
        let mut out = Vec::new();
        commit(&flow, &mut base, &mut d, &mut out, true);
        assert_eq!(
            out,
            vec![
                Action::PopMpls(ETH_TYPE_MPLS),
                Action::PopMpls(eth_type::IP)
            ]
        );
        assert_eq!(get(&base, id::ETH_TYPE) as u16, eth_type::IP);
    }

    #[test]
    fn deeper_entries_print_after_bos() {
        let mut t = "mpls,in_port=2,mpls_bos=0,nw_frag=no".to_string();
        add_deeper_text(&mut t, [820543, 0], [u32::MAX, 0]);
        assert_eq!(t, "mpls,in_port=2,mpls_bos=0,mpls_lse1=820543,nw_frag=no");
        let mut t = "mpls_bos=0".to_string();
        add_deeper_text(&mut t, [0, 0x100], [0x100, 0x100]);
        assert_eq!(
            t,
            "mpls_bos=0,mpls_lse1=0x00000000/0x00000100,mpls_lse2=0x00000100/0x00000100"
        );
    }
}
