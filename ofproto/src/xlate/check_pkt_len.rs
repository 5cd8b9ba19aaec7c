//! `check_pkt_larger(N)->DST` (NXAST_CHECK_PKT_LARGER): whether the
//! packet is longer than N bytes goes into one bit, DST, that later
//! actions and lookups can test. Only the datapath knows a packet's
//! length, so translation cannot decide: as Open vSwitch does, it
//! translates everything that follows twice, once with DST=1 and once
//! with DST=0, into the two branches of a datapath
//! `check_pkt_len(size=N,gt(...),le(...))`. OVN asks for it on gateway
//! router ports (`gateway_mtu`) to answer oversized packets with ICMP.
//!
//! "Everything that follows" is what stock's `do_xlate_actions` has left
//! at that point: the rest of the action list (and, for a rule's
//! apply-actions, the rule's other instructions, which stock keeps in the
//! same list), or the rest of a thawed pipeline. Each branch then runs
//! the action set, or finishes a freeze, as a pipeline's end does; and
//! the action list that held the check ends with it, while whoever
//! resubmitted to its rule goes on after the `check_pkt_len`, on the
//! flow as it was before the check.

use super::group::FrozenOp;
use super::trace::{Node, NodeKind};
use super::{is_storage, Ctx};
use crate::openflow::actions::{self, Action, Instructions};
use ferrovs_dpif::odp;

/// What runs after a `check_pkt_larger`, once in each branch.
#[derive(Clone, Copy)]
pub(super) enum Rest<'r> {
    /// The rest of an action list, then (for a rule's apply-actions) the
    /// rule's other instructions.
    Actions(&'r [Action], Option<&'r Instructions>),
    /// The steps of a thawed pipeline that are still to run.
    Frozen(&'r [FrozenOp]),
}

impl Ctx<'_> {
    /// Translates `check_pkt_larger` (wire bytes `b`, checked when the
    /// rule was added) and `rest` after it.
    pub(super) fn check_pkt_larger(&mut self, b: &[u8], rest: Rest<'_>, out: &mut Vec<Node>) {
        let Ok(check) = actions::check_pkt_larger(b) else {
            out.push(Node::new(NodeKind::Warn, "invalid check_pkt_larger".into()));
            return;
        };
        // Rewrites so far apply to both branches.
        self.commit_rewrites();
        let old_flow = self.flow;
        let old_base = (self.base, self.base_tun_ports, self.vlans);
        let old_set = (self.action_set.clone(), self.actset_output);
        let old_stack = self.stack.clone();
        let old_conntracked = self.conntracked;
        let old_exit = self.exit;
        let outer = std::mem::take(&mut self.actions);

        self.write_bit(check.field, check.ofs, true);
        self.branch(rest, out);
        let gt = std::mem::take(&mut self.actions);
        // The second branch starts from the same packet; the action set
        // and stack stay as the first branch left them (as in stock).
        self.restore_packet(old_flow, old_base, old_conntracked);
        self.actset_output = old_set.1;
        self.exit = false;
        self.write_bit(check.field, check.ofs, false);
        self.branch(rest, out);
        let le = std::mem::replace(&mut self.actions, outer);
        self.actions.push(odp::Action::CheckPktLen {
            pkt_len: check.pkt_len,
            gt,
            le,
        });

        self.restore_packet(old_flow, old_base, old_conntracked);
        (self.action_set, self.actset_output) = old_set;
        self.stack = old_stack;
        self.exit = old_exit;
        self.stop_list = false;
    }

    /// One branch: `rest`, then the end of a pipeline (the action set, or
    /// the freeze that stopped it).
    fn branch(&mut self, rest: Rest<'_>, out: &mut Vec<Node>) {
        match rest {
            Rest::Actions(list, then) => {
                if !self.actions_then(list, then, out) {
                    if let Some(ins) = then {
                        self.after_apply(ins, out);
                    }
                }
            }
            Rest::Frozen(ops) => self.run_frozen(ops, out),
        }
        self.stop_list = false;
        if !self.freezing {
            let set = self.action_set_list();
            self.action_set.clear();
            if !set.is_empty() && self.error.is_none() {
                let mut node = Node::new(NodeKind::Table, "--. Executing action set:".into());
                self.exit = false;
                self.actions(&set, &mut node.subs);
                self.note_node(out, node);
            }
        } else if self.error.is_none() {
            self.finish_freezing();
        }
    }

    /// Puts the packet back as it was before the check: the flow, what
    /// the datapath has of it (the bits translation looked at stay).
    fn restore_packet(
        &mut self,
        flow: [u8; super::KEY_LEN],
        (base, base_tun_ports, vlans): (
            [u8; super::KEY_LEN],
            (u16, u16),
            super::commit::InnerVlans,
        ),
        conntracked: bool,
    ) {
        self.flow = flow;
        self.base = base;
        self.base_tun_ports = base_tun_ports;
        let mpls_wc = self.vlans.mpls.wc;
        self.vlans = vlans;
        self.vlans.mpls.wc = mpls_wc;
        self.conntracked = conntracked;
    }

    /// Writes the answer into bit `ofs` of `field`, in the flow only (as
    /// stock's `mf_write_subfield_flow`: the megaflow does not depend on
    /// what translation wrote).
    fn write_bit(&mut self, field: usize, ofs: u16, larger: bool) {
        let bit = 1u128 << ofs;
        let value = if larger { bit } else { 0 };
        if is_storage(field) {
            let old = self.get(field);
            self.set(field, (old & !bit) | value);
        } else {
            // A view of another field (a VLAN or DSCP alias).
            self.set_field(field, value, bit);
        }
    }
}
