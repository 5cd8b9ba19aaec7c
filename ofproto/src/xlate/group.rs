//! Groups and `clone` in translation, and freezing the rest of a
//! pipeline for a recirculation that comes back with a hash.
//!
//! - `all` and `indirect` groups run every bucket, `ff` (fast failover)
//!   the first live one; each bucket is an action set run on a copy of
//!   the packet (the flow is restored afterwards).
//! - `select` groups choose by the datapath's hash, as Open vSwitch does
//!   by default: the first pass has no hash yet, so translation freezes
//!   (the group action and everything after it, at every nesting level)
//!   and emits `hash(sym_l4(0)),recirc(ID)`; the recirculated packet
//!   carries `dp_hash`, and the group picks the bucket that the hash's
//!   low bits map to (a table spreading hash values over the buckets by
//!   weight, Webster's method, as stock builds it). The megaflow matches
//!   those low bits only.
//! - `clone` runs its actions on a copy of the packet, inline (the flow
//!   is restored afterwards); with conntrack inside, as a datapath
//!   `clone(...)`.

use super::recirc::{self, Frozen};
use super::{Ctx, Node, NodeKind};
use crate::openflow::actions::{port, Action, Instructions};
use crate::openflow::fields::id;
use crate::openflow::groups::{Bucket, Group, ANY};
use ferrovs_dpif::odp::{self, OVS_HASH_ALG_L4, OVS_HASH_ALG_SYM_L4};

const GROUP_ALL: u8 = 0;
const GROUP_SELECT: u8 = 1;
const GROUP_INDIRECT: u8 = 2;
const GROUP_FF: u8 = 3;

/// One step of a frozen pipeline, run when the packet comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrozenOp {
    /// Restores the table and rule cookie of the level that follows.
    Unroll {
        table: u8,
        cookie: u64,
    },
    Act(Action),
    Clear,
    Write(Vec<Action>),
    WriteMetadata(u64, u64),
    /// goto_table, as a resubmit to that table.
    Resubmit(u8),
}

impl FrozenOp {
    pub(super) fn text(&self) -> String {
        match self {
            FrozenOp::Unroll { table, cookie } => {
                format!("unroll_xlate(table={table}, cookie={cookie:#x})")
                    .replace("cookie=0x0)", "cookie=0)")
            }
            FrozenOp::Act(a) => super::ct::action_text(a),
            FrozenOp::Clear => "clear_actions".into(),
            FrozenOp::Write(v) => {
                let t: Vec<String> = v.iter().map(super::ct::action_text).collect();
                format!("write_actions({})", t.join(","))
            }
            FrozenOp::WriteMetadata(v, m) => {
                if *m == u64::MAX {
                    format!("set_field:{v:#x}->metadata")
                } else {
                    format!("set_field:{v:#x}/{m:#x}->metadata")
                }
            }
            FrozenOp::Resubmit(t) => format!("resubmit(,{t})"),
        }
    }
}

/// Whether `a` may show the table or cookie (a packet-in could), so a
/// frozen copy needs them restored first.
fn needs_unroll(a: &Action) -> bool {
    match a {
        Action::Output { .. } | Action::Group(_) | Action::DecTtl | Action::DecMplsTtl => true,
        Action::Nx { subtype, bytes } => match subtype {
            20 | 21 | 37 => true,
            // A resubmit relative to the current table.
            1 => true,
            14 | 44 => bytes.get(12).is_none_or(|&t| t == 255),
            _ => false,
        },
        _ => false,
    }
}

/// Hash values mapped to buckets (index into `buckets`), by weight,
/// Webster's method; None when no bucket has weight or more than 256
/// values would be needed.
fn hash_map(buckets: &[Bucket]) -> Option<Vec<usize>> {
    let total: u64 = buckets.iter().map(|b| b.weight as u64).sum();
    let min = buckets.iter().map(|b| b.weight).filter(|&w| w > 0).min()?;
    if total == 0 {
        return None;
    }
    let slots = total.div_ceil(min as u64).next_power_of_two().max(16);
    if slots > 256 {
        return None;
    }
    let mut divisor = vec![1u32; buckets.len()];
    let mut value: Vec<f64> = buckets.iter().map(|b| b.weight as f64).collect();
    let mut map = Vec::with_capacity(slots as usize);
    for _ in 0..slots {
        let mut win = 0;
        for i in 1..buckets.len() {
            if value[i] > value[win] {
                win = i;
            }
        }
        divisor[win] += 2;
        value[win] = buckets[win].weight as f64 / divisor[win] as f64;
        map.push(win);
    }
    Some(map)
}

impl Ctx<'_> {
    /// Whether a bucket may be used: its watched port exists (link state
    /// is not known here) and it watches no group.
    fn bucket_live(&self, b: &Bucket) -> bool {
        let port_ok = b.watch_port == ANY
            || u16::try_from(b.watch_port)
                .ok()
                .is_some_and(|p| self.br.odp_ports.contains_key(&p));
        port_ok && (b.watch_group == ANY || self.br.groups.contains_key(&b.watch_group))
    }

    /// `group:N`.
    pub(super) fn group(&mut self, gid: u32, out: &mut Vec<Node>) {
        if self.depth >= super::MAX_DEPTH || self.resubmits >= super::MAX_RESUBMITS {
            self.error = Some("Recursion too deep".into());
            return;
        }
        let Some((g, _)) = self.br.groups.get(&gid) else {
            out.push(Node::new(
                NodeKind::Warn,
                format!("output to nonexistent group {gid}"),
            ));
            return;
        };
        let g: &Group = g;
        match g.group_type {
            GROUP_ALL | GROUP_INDIRECT => {
                for b in &g.buckets {
                    self.bucket(b, out);
                }
            }
            GROUP_FF => match g.buckets.iter().find(|b| {
                let live = self.bucket_live(b);
                if !live {
                    let why = if b.watch_port != ANY {
                        format!("port {}", b.watch_port)
                    } else {
                        format!("group {}", b.watch_group)
                    };
                    out.push(Node::new(
                        NodeKind::Detail,
                        format!("bucket {}: not live due to {why}", b.id),
                    ));
                }
                live
            }) {
                Some(b) => {
                    out.push(Node::new(
                        NodeKind::Detail,
                        format!("using bucket {}", b.id),
                    ));
                    self.bucket(b, out);
                }
                None => out.push(Node::new(NodeKind::Detail, "no live bucket".into())),
            },
            GROUP_SELECT => match self.pick_select(g) {
                Some(b) => {
                    out.push(Node::new(
                        NodeKind::Detail,
                        format!("using bucket {}", b.id),
                    ));
                    self.bucket(b, out);
                }
                None => out.push(Node::new(NodeKind::Detail, "no live bucket".into())),
            },
            _ => {}
        }
    }

    /// The select group's bucket for the packet's hash; without a hash
    /// yet, freezes to recirculate with one (and returns None).
    fn pick_select<'g>(&mut self, g: &'g Group) -> Option<&'g Bucket> {
        let map = hash_map(&g.buckets)?;
        let dp_hash = self.get(id::DP_HASH) as u32;
        if dp_hash == 0 {
            self.exit = true;
            self.freezing = true;
            self.freeze_hash = true;
            return None;
        }
        let mask = map.len() as u32 - 1;
        self.unwildcard(id::DP_HASH, mask as u128);
        (0..=mask)
            .map(|i| &g.buckets[map[(dp_hash.wrapping_add(i) & mask) as usize]])
            .find(|b| self.bucket_live(b))
    }

    /// Runs one bucket on a copy of the packet.
    fn bucket(&mut self, b: &Bucket, out: &mut Vec<Node>) {
        let mut node = Node::new(NodeKind::Action, format!("bucket {}", b.id));
        let saved = self.flow;
        let saved_vlan = self.vlans.flow;
        let saved_mpls = (self.vlans.mpls.flow, self.vlans.mpls.popped);
        let list = super::action_set_order(&b.actions, super::SetEnd::AlsoResubmitOrCt);
        self.depth += 1;
        self.actions(&list, &mut node.subs);
        self.depth -= 1;
        out.push(node);
        if self.freezing {
            self.finish_freezing();
        }
        self.flow = saved;
        self.vlans.flow = saved_vlan;
        (self.vlans.mpls.flow, self.vlans.mpls.popped) = saved_mpls;
        self.exit = false;
    }

    /// `clone(...)`: the actions on a copy of the packet.
    pub(super) fn clone_action(&mut self, nested: &[Action], out: &mut Vec<Node>) {
        let saved = self.flow;
        let saved_vlan = self.vlans.flow;
        let saved_mpls = (self.vlans.mpls.flow, self.vlans.mpls.popped);
        let saved_set = (self.action_set.clone(), self.actset_output);
        let saved_ct = self.conntracked;
        // The clone works on a copy of the stack.
        let saved_stack = self.stack.clone();
        let irreversible = nested
            .iter()
            .any(|a| matches!(a, Action::NxNested { subtype: 35, .. }));
        if irreversible {
            // Conntrack changes the packet for good: the datapath copies
            // it. Rewrites so far reach it first.
            self.commit_rewrites();
            let outer = std::mem::take(&mut self.actions);
            let base = self.base;
            let base_tun_ports = self.base_tun_ports;
            self.actions(nested, out);
            let inner = std::mem::replace(&mut self.actions, outer);
            self.actions.push(odp::Action::Clone(inner));
            self.base = base;
            self.base_tun_ports = base_tun_ports;
        } else {
            self.actions(nested, out);
        }
        self.flow = saved;
        self.vlans.flow = saved_vlan;
        (self.vlans.mpls.flow, self.vlans.mpls.popped) = saved_mpls;
        (self.action_set, self.actset_output) = saved_set;
        self.conntracked = saved_ct;
        self.stack = saved_stack;
        self.exit = false;
    }

    /// Before `a` is frozen: the table and cookie it runs with.
    fn freeze_put_unroll(&mut self) {
        let same = self.frozen.iter().rev().find_map(|op| match op {
            FrozenOp::Unroll { table, cookie } => Some((*table, *cookie)),
            _ => None,
        }) == Some((self.table_id, self.rule_cookie));
        if !same {
            self.frozen.push(FrozenOp::Unroll {
                table: self.table_id,
                cookie: self.rule_cookie,
            });
        }
    }

    /// Appends actions that are still to run to the frozen pipeline.
    pub(super) fn freeze_actions(&mut self, rest: &[Action]) {
        for a in rest {
            if needs_unroll(a) {
                self.freeze_put_unroll();
            }
            self.frozen.push(FrozenOp::Act(a.clone()));
        }
    }

    /// Appends frozen steps that are still to run (a pause during a
    /// resumed pipeline): the recorded table and cookie restorations are
    /// kept as they are, as stock copies them.
    fn freeze_ops(&mut self, rest: &[FrozenOp]) {
        for op in rest {
            match op {
                FrozenOp::Act(a) => self.freeze_actions(std::slice::from_ref(a)),
                other => self.frozen.push(other.clone()),
            }
        }
    }

    /// Appends a rule's instructions after its apply-actions.
    pub(super) fn freeze_instructions(&mut self, ins: &Instructions) {
        if ins.clear {
            self.frozen.push(FrozenOp::Clear);
        }
        if let Some(w) = &ins.write {
            self.frozen.push(FrozenOp::Write(w.clone()));
        }
        if let Some((v, m)) = ins.write_metadata {
            self.frozen.push(FrozenOp::WriteMetadata(v, m));
        }
        if let Some(t) = ins.goto_table {
            self.frozen.push(FrozenOp::Resubmit(t));
        }
    }

    /// Ends a freeze: the datapath hashes the packet and recirculates it
    /// to the frozen pipeline.
    pub(super) fn finish_freezing(&mut self) {
        self.commit_rewrites();
        let state = Frozen {
            bridge: self.br.name.to_string(),
            mirrors: self.mirrors_done(),
            stack: self.stack.clone(),
            table: 0,
            metadata: Frozen::metadata_of(&self.flow),
            action_set: self.action_set.clone(),
            actset_output: self.actset_output,
            conntracked: self.conntracked,
            actions: std::mem::take(&mut self.frozen),
            userdata: self
                .pause
                .as_ref()
                .map(|p| p.userdata.clone())
                .unwrap_or_default(),
            tunnel: match self.pause {
                Some(_) => self.frozen_tunnel(),
                None => Vec::new(),
            },
        };
        let rid = recirc::alloc(state);
        // A pause sends the packet to the controllers with the frozen
        // state instead of recirculating it.
        if let Some(p) = self.pause.take() {
            self.push_pause(rid, &p);
            self.freezing = false;
            self.freeze_hash = false;
            return;
        }
        if std::mem::take(&mut self.freeze_hash) {
            let l4_only = self.world.is_some_and(|w| w.topo.hash_l4_only);
            self.actions.push(odp::Action::Hash {
                alg: if l4_only {
                    OVS_HASH_ALG_L4
                } else {
                    OVS_HASH_ALG_SYM_L4
                },
                basis: 0,
            });
        }
        self.actions.push(odp::Action::Recirc(rid));
        self.freezing = false;
    }

    /// Runs a thawed pipeline's frozen steps.
    pub(super) fn run_frozen(&mut self, ops: &[FrozenOp], out: &mut Vec<Node>) {
        for (k, op) in ops.iter().enumerate() {
            if self.exit || self.error.is_some() {
                // A pause among resumed steps freezes the steps after it.
                if self.pause.is_some() && self.freezing && self.error.is_none() {
                    self.freeze_ops(&ops[k..]);
                }
                break;
            }
            match op {
                FrozenOp::Unroll { table, cookie } => {
                    out.push(Node::new(NodeKind::Action, op.text()));
                    self.table_id = *table;
                    self.rule_cookie = *cookie;
                    out.push(Node::new(
                        NodeKind::Table,
                        format!("restored state: table={table}, cookie={cookie:#x}")
                            .replace("cookie=0x0", "cookie=0"),
                    ));
                }
                FrozenOp::Act(a @ Action::Nx { subtype: 49, bytes }) => {
                    // It runs the steps after it itself, in each branch.
                    self.note(out, NodeKind::Action, || super::ct::action_text(a));
                    let rest = super::check_pkt_len::Rest::Frozen(&ops[k + 1..]);
                    self.check_pkt_larger(bytes, rest, out);
                    break;
                }
                FrozenOp::Act(a) => self.actions(std::slice::from_ref(a), out),
                FrozenOp::Clear => {
                    out.push(Node::new(NodeKind::Action, op.text()));
                    self.action_set.clear();
                    self.actset_output = None;
                }
                FrozenOp::Write(w) => {
                    out.push(Node::new(NodeKind::Action, op.text()));
                    for a in w {
                        if let Action::Output { port: p, .. } = a {
                            self.actset_output = Some(*p);
                        }
                        self.action_set.push(a.clone());
                    }
                    out.push(Node::new(NodeKind::Detail, self.action_set_text("is")));
                }
                FrozenOp::WriteMetadata(v, m) => {
                    out.push(Node::new(NodeKind::Action, op.text()));
                    let old = self.get(id::METADATA) as u64;
                    self.set(id::METADATA, ((old & !m) | (v & m)) as u128);
                }
                FrozenOp::Resubmit(t) => {
                    out.push(Node::new(NodeKind::Action, op.text()));
                    self.resubmit(port::IN_PORT, *t, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(id: u32, weight: u16) -> Bucket {
        Bucket {
            id,
            weight,
            watch_port: ANY,
            watch_group: ANY,
            actions: Vec::new(),
        }
    }

    #[test]
    fn hash_map_spreads_by_weight() {
        let m = hash_map(&[bucket(0, 1), bucket(1, 1)]).expect("map");
        assert_eq!(m.len(), 16);
        // Ties go to the first bucket, then alternate.
        assert_eq!(&m[..4], &[0, 1, 0, 1]);
        let m = hash_map(&[bucket(0, 3), bucket(1, 1)]).expect("map");
        assert_eq!(m.iter().filter(|&&b| b == 0).count(), 12);
        assert!(hash_map(&[bucket(0, 0)]).is_none());
        assert!(hash_map(&[bucket(0, 1), bucket(1, 1000)]).is_none());
        assert!(hash_map(&[]).is_none());
    }
}
