//! Connection tracking in translation: `ct`, its nested `nat` and
//! `exec(...)`, and `ct_clear`.
//!
//! `ct` becomes one datapath `ct(...)` action. With `table=N` it also
//! forks: a clone of the packet goes through conntrack and recirculates
//! (`recirc(ID)`, see [`super::recirc`]) to resume in table N with the
//! ct_* fields conntrack set, while the original packet continues with
//! the rest of the actions as untracked. The ct_mark and ct_label writes
//! in `exec(...)` become the action's `mark=`/`labels=` (value and mask
//! from the bits written), as Open vSwitch composes them.

use super::recirc::{self, Frozen};
use super::{Ctx, Node, NodeKind};
use crate::openflow::actions::Action;
use crate::openflow::fields::{by_header, id, range, FIELDS, KEY_LEN};
use ferrovs_dpif::odp::{self, CtAttr, NatAttr};

/// `recirc_table` of a `ct` that does not recirculate.
const NO_RECIRC: u8 = 255;
/// conntrack state bits (`ct_state`).
pub(super) const CS_NEW: u128 = 0x01;
pub(super) const CS_TRACKED: u128 = 0x20;

/// The fixed part of NXAST_CT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CtHead {
    pub commit: bool,
    pub force: bool,
    /// The zone from a subfield: field, offset, number of bits.
    pub zone_field: Option<(usize, u16, u16)>,
    pub zone_imm: u16,
    pub table: u8,
    /// The helper's well-known port (21 ftp, 69 tftp), 0 for none.
    pub alg: u16,
}

fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |x| u16::from_be_bytes([x[0], x[1]]))
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
}

impl CtHead {
    /// Reads the header the decoder kept (24 bytes, checked there).
    pub fn parse(h: &[u8]) -> CtHead {
        let flags = be16(h, 10);
        let zone_src = be32(h, 12);
        let ofs_nbits = be16(h, 16);
        let zone_field = (zone_src != 0)
            .then(|| {
                let class = (zone_src >> 16) as u16;
                let len = (zone_src & 0xff) as usize;
                by_header(class, 0, ((zone_src >> 9) & 0x7f) as u8, len)
            })
            .flatten()
            .map(|f| (f, ofs_nbits >> 6, (ofs_nbits & 0x3f) + 1));
        CtHead {
            commit: flags & 1 != 0,
            force: flags & 2 != 0,
            zone_field,
            zone_imm: if zone_src == 0 { ofs_nbits } else { 0 },
            table: h.get(18).copied().unwrap_or(NO_RECIRC),
            alg: be16(h, 22),
        }
    }
}

/// NXAST_NAT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Nat {
    pub flags: u16,
    /// Address range, IPv4 or IPv6, as (min, max; 0 for none).
    pub v4: Option<(u32, u32)>,
    pub v6: Option<(u128, u128)>,
    pub proto: (u16, u16),
}

const NAT_SRC: u16 = 1;
const NAT_DST: u16 = 2;
const NAT_PERSISTENT: u16 = 4;
const NAT_PROTO_HASH: u16 = 8;
const NAT_PROTO_RANDOM: u16 = 16;

impl Nat {
    /// Reads a NAT action's wire bytes (whose ranges the decoder let
    /// through; missing bytes read as absent ranges).
    pub fn parse(b: &[u8]) -> Nat {
        let flags = be16(b, 12);
        let present = be16(b, 14);
        let mut at = 16;
        let mut take = |n: usize| {
            let v = b.get(at..at + n).map(super::be);
            at += n;
            v.unwrap_or(0)
        };
        let mut nat = Nat {
            flags,
            ..Nat::default()
        };
        if present & 1 != 0 {
            let min = take(4) as u32;
            let max = if present & 2 != 0 { take(4) as u32 } else { 0 };
            nat.v4 = Some((min, max));
        } else if present & 4 != 0 {
            let min = take(16);
            let max = if present & 8 != 0 { take(16) } else { 0 };
            nat.v6 = Some((min, max));
        }
        if present & 16 != 0 {
            nat.proto.0 = take(2) as u16;
        }
        if present & 32 != 0 {
            nat.proto.1 = take(2) as u16;
        }
        nat
    }

    /// As ovs-ofctl prints it: `nat`, `nat(src=10.0.0.1-10.0.0.9:80,random)`.
    pub fn text(&self) -> String {
        let mut s = String::from("nat");
        if self.flags & (NAT_SRC | NAT_DST) == 0 {
            return s;
        }
        s.push('(');
        s.push_str(if self.flags & NAT_SRC != 0 {
            "src"
        } else {
            "dst"
        });
        if self.v4.is_some() || self.v6.is_some() {
            s.push('=');
            if let Some((min, max)) = self.v4 {
                s.push_str(&std::net::Ipv4Addr::from(min).to_string());
                if max != 0 && max != min {
                    s.push_str(&format!("-{}", std::net::Ipv4Addr::from(max)));
                }
            } else if let Some((min, max)) = self.v6 {
                let bracket = |v: u128| {
                    let a = std::net::Ipv6Addr::from(v);
                    if self.proto.0 != 0 {
                        format!("[{a}]")
                    } else {
                        a.to_string()
                    }
                };
                s.push_str(&bracket(min));
                if max != 0 && max != min {
                    s.push('-');
                    s.push_str(&bracket(max));
                }
            }
            if self.proto.0 != 0 {
                s.push_str(&format!(":{}", self.proto.0));
                if self.proto.1 != 0 && self.proto.1 != self.proto.0 {
                    s.push_str(&format!("-{}", self.proto.1));
                }
            }
            s.push(',');
            for (bit, name) in [
                (NAT_PERSISTENT, "persistent,"),
                (NAT_PROTO_HASH, "hash,"),
                (NAT_PROTO_RANDOM, "random,"),
            ] {
                if self.flags & bit != 0 {
                    s.push_str(name);
                }
            }
        }
        if s.ends_with(',') {
            s.pop();
        }
        s.push(')');
        s
    }

    /// The datapath's `nat(...)` attributes.
    fn odp(&self) -> Vec<NatAttr> {
        let mut v = Vec::new();
        if self.flags & (NAT_SRC | NAT_DST) == 0 {
            return v;
        }
        v.push(if self.flags & NAT_SRC != 0 {
            NatAttr::Src
        } else {
            NatAttr::Dst
        });
        if self.flags & NAT_PERSISTENT != 0 {
            v.push(NatAttr::Persistent);
        }
        if self.flags & NAT_PROTO_HASH != 0 {
            v.push(NatAttr::ProtoHash);
        } else if self.flags & NAT_PROTO_RANDOM != 0 {
            v.push(NatAttr::ProtoRandom);
        }
        let ranged = self.v4.is_some() || self.v6.is_some();
        if let Some((min, max)) = self.v4 {
            v.push(NatAttr::IpMin(min.to_be_bytes().to_vec()));
            if max > min {
                v.push(NatAttr::IpMax(max.to_be_bytes().to_vec()));
            }
        } else if let Some((min, max)) = self.v6 {
            v.push(NatAttr::IpMin(min.to_be_bytes().to_vec()));
            if max > min {
                v.push(NatAttr::IpMax(max.to_be_bytes().to_vec()));
            }
        }
        if ranged && self.proto.0 != 0 {
            v.push(NatAttr::ProtoMin(self.proto.0));
            if self.proto.1 > self.proto.0 {
                v.push(NatAttr::ProtoMax(self.proto.1));
            }
        }
        v
    }
}

/// A zone subfield as ovs-ofctl prints it (`NXM_NX_REG0[0..15]`).
fn subfield_text(f: usize, ofs: u16, n: u16) -> String {
    let name = FIELDS[f].header_name;
    if ofs == 0 && n as usize >= FIELDS[f].width as usize * 8 {
        format!("{name}[]")
    } else if n == 1 {
        format!("{name}[{ofs}]")
    } else {
        format!("{name}[{}..{}]", ofs, ofs + n - 1)
    }
}

/// `ct(...)` as ovs-ofctl prints it.
pub(super) fn ct_text(head: &[u8], actions: &[Action]) -> String {
    let h = CtHead::parse(head);
    let mut s = String::from("ct(");
    if h.commit {
        s.push_str("commit,");
    }
    if h.force {
        s.push_str("force,");
    }
    if h.table != NO_RECIRC {
        s.push_str(&format!("table={},", h.table));
    }
    if let Some((f, ofs, n)) = h.zone_field {
        s.push_str(&format!("zone={},", subfield_text(f, ofs, n)));
    } else if h.zone_imm != 0 {
        s.push_str(&format!("zone={},", h.zone_imm));
    }
    let mut rest = actions;
    if let Some((Action::Nx { subtype: 36, bytes }, tail)) = actions.split_first() {
        s.push_str(&Nat::parse(bytes).text());
        s.push(',');
        rest = tail;
    }
    if !rest.is_empty() {
        let texts: Vec<String> = rest.iter().map(action_text).collect();
        s.push_str(&format!("exec({}),", texts.join(",")));
    }
    match h.alg {
        0 => {}
        21 => s.push_str("alg=ftp,"),
        69 => s.push_str("alg=tftp,"),
        p => s.push_str(&format!("alg={p},")),
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
    s
}

/// An action as the trace lists it: conntrack actions here, the rest as
/// ovs-ofctl prints them.
pub(super) fn action_text(a: &Action) -> String {
    match a {
        Action::NxNested {
            subtype: 35,
            head,
            actions,
        } => ct_text(head, actions),
        Action::Nx { subtype: 36, bytes } => Nat::parse(bytes).text(),
        Action::Nx { subtype: 37, bytes } => super::packet_in::Controller2::parse(bytes)
            .map(|c| c.text())
            .unwrap_or_else(|| crate::openflow::text::action_text(a)),
        Action::Nx {
            subtype: s @ (29 | 38 | 41),
            bytes,
        } => super::sample::text(*s, bytes),
        Action::Nx {
            subtype: s @ (10 | 12 | 13),
            bytes,
        } => super::multipath::text(*s, bytes)
            .unwrap_or_else(|| crate::openflow::text::action_text(a)),
        Action::Nx { subtype: 16, bytes } => match super::learn::Learn::parse(bytes) {
            Some(l) => l.text(),
            None => crate::openflow::text::action_text(a),
        },
        // clone, whose actions may hold a ct.
        Action::NxNested {
            subtype: 42,
            actions,
            ..
        } => {
            let texts: Vec<String> = actions.iter().map(action_text).collect();
            format!("clone({})", texts.join(","))
        }
        _ => crate::openflow::text::action_text(a),
    }
}

/// A packet forked to recirculate, for `ofproto/trace` to follow.
#[derive(Debug, Clone)]
pub struct TraceFork {
    pub recirc_id: u32,
    /// The flow at the fork, with the recirculation id and zone set.
    pub flow: Box<[u8; KEY_LEN]>,
    pub(super) nat: Option<Nat>,
}

impl TraceFork {
    /// The banner stock prints before following the fork; it also sets
    /// the flow's ct_state (`ct_next`, or new as stock assumes) and the
    /// NAT result.
    pub fn banner(&mut self, ct_next: Option<u32>) -> String {
        let mut s = match ct_next {
            None => format!(
                "recirc({:#x}) - resume conntrack with default ct_state=trk|new (use --ct-next to customize)\n",
                self.recirc_id
            ),
            Some(st) => {
                const NAMES: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
                let names: Vec<&str> = (0..8)
                    .filter(|i| st >> i & 1 == 1)
                    .map(|i| NAMES[i])
                    .collect();
                format!(
                    "recirc({:#x}) - resume conntrack with ct_state={}\n",
                    self.recirc_id,
                    names.join("|")
                )
            }
        };
        let state = ct_next.map_or(CS_TRACKED | CS_NEW, u128::from);
        super::put_be(&mut self.flow[range(id::CT_STATE)], state);
        if let Some(nat) = &self.nat {
            let v6 = nat.v6.is_some();
            let ip_flow = |k: &[u8; KEY_LEN]| {
                let g = |f: usize| super::be(&k[range(f)]);
                let (sp, dp) = l4_fields(k);
                let port = |f: Option<usize>| f.map_or(0, g);
                if v6 {
                    format!(
                        "ipv6_src={},tp_src={},ipv6_dst={},tp_dst={}\n",
                        std::net::Ipv6Addr::from(g(id::IPV6_SRC)),
                        port(sp),
                        std::net::Ipv6Addr::from(g(id::IPV6_DST)),
                        port(dp)
                    )
                } else if nat.v4.is_some() {
                    format!(
                        "nw_src={},tp_src={},nw_dst={},tp_dst={}\n",
                        std::net::Ipv4Addr::from(g(id::IP_SRC) as u32),
                        port(sp),
                        std::net::Ipv4Addr::from(g(id::IP_DST) as u32),
                        port(dp)
                    )
                } else {
                    "\n".to_string()
                }
            };
            s.push_str("Replacing src/dst IP/ports to simulate NAT:\n Initial flow: ");
            s.push_str(&ip_flow(&self.flow));
            let (sp, dp) = l4_fields(&self.flow);
            let (addr, port) = if nat.flags & NAT_SRC != 0 {
                ((id::IP_SRC, id::IPV6_SRC), sp)
            } else {
                ((id::IP_DST, id::IPV6_DST), dp)
            };
            if nat.flags & (NAT_SRC | NAT_DST) != 0 {
                if let Some((min, _)) = nat.v4 {
                    super::put_be(&mut self.flow[range(addr.0)], min as u128);
                } else if let Some((min, _)) = nat.v6 {
                    super::put_be(&mut self.flow[range(addr.1)], min);
                }
                if (nat.v4.is_some() || v6) && nat.proto.0 != 0 {
                    if let Some(p) = port {
                        super::put_be(&mut self.flow[range(p)], nat.proto.0 as u128);
                    }
                }
            }
            s.push_str(" Modified flow: ");
            s.push_str(&ip_flow(&self.flow));
        }
        s
    }
}

/// The transport port fields of the flow's protocol.
fn l4_fields(k: &[u8; KEY_LEN]) -> (Option<usize>, Option<usize>) {
    match super::be(&k[range(id::NW_PROTO)]) {
        6 => (Some(id::TCP_SRC), Some(id::TCP_DST)),
        17 => (Some(id::UDP_SRC), Some(id::UDP_DST)),
        132 => (Some(id::SCTP_SRC), Some(id::SCTP_DST)),
        _ => (None, None),
    }
}

/// The conntrack fields of a flow (what an untracked packet has as 0).
const CT_FIELDS: [usize; 11] = [
    id::CT_STATE,
    id::CT_ZONE,
    id::CT_MARK,
    id::CT_LABEL,
    id::CT_NW_PROTO,
    id::CT_NW_SRC,
    id::CT_NW_DST,
    id::CT_IPV6_SRC,
    id::CT_IPV6_DST,
    id::CT_TP_SRC,
    id::CT_TP_DST,
];

impl Ctx<'_> {
    pub(super) fn clear_conntrack(&mut self) {
        for f in CT_FIELDS {
            self.flow[range(f)].fill(0);
        }
    }

    /// `ct_clear`: the packet becomes untracked (nothing to do when it
    /// has not been through conntrack in this pipeline).
    pub(super) fn ct_clear(&mut self) {
        if self.conntracked {
            self.clear_conntrack();
            self.conntracked = false;
            self.actions.push(odp::Action::CtClear);
        }
    }

    /// `ct(...)`: see the module comment.
    pub(super) fn ct(&mut self, head: &[u8], nested: &[Action], out: &mut Vec<Node>) {
        let h = CtHead::parse(head);
        let zone = match h.zone_field {
            Some((f, ofs, n)) => {
                let ones = (1u128 << n.min(64)) - 1;
                self.unwildcard(f, ones << ofs.min(127));
                (self.get(f).checked_shr(ofs as u32).unwrap_or(0) & ones) as u16
            }
            None => h.zone_imm,
        };
        // Earlier rewrites reach the datapath before conntrack sees the
        // packet.
        self.commit_rewrites();
        // The nested actions' writes to ct_mark and ct_label, and only
        // theirs, make the action's mark and labels.
        let saved_mark = self.get_wc(id::CT_MARK);
        let saved_label = self.get_wc(id::CT_LABEL);
        self.wc[range(id::CT_MARK)].fill(0);
        self.wc[range(id::CT_LABEL)].fill(0);
        self.ct_nat = None;
        if nested.is_empty() {
            out.push(Node::new(NodeKind::Action, "drop".into()));
        }
        self.actions(nested, out);
        let mut attrs = Vec::new();
        if h.commit {
            attrs.push(if h.force {
                CtAttr::ForceCommit
            } else {
                CtAttr::Commit
            });
        }
        attrs.push(CtAttr::Zone(zone));
        let mark_mask = self.get_wc(id::CT_MARK) as u32;
        if mark_mask != 0 {
            attrs.push(CtAttr::Mark {
                value: self.get(id::CT_MARK) as u32 & mark_mask,
                mask: mark_mask,
            });
        }
        let label_mask = self.get_wc(id::CT_LABEL);
        if label_mask != 0 {
            attrs.push(CtAttr::Labels {
                value: self.get(id::CT_LABEL) & label_mask,
                mask: label_mask,
            });
        }
        match h.alg {
            0 => {}
            21 => attrs.push(CtAttr::Helper("ftp".into())),
            69 => attrs.push(CtAttr::Helper("tftp".into())),
            p => out.push(Node::new(
                NodeKind::Error,
                format!("cannot serialize ct_helper {p}"),
            )),
        }
        let nat = self.ct_nat.take();
        if let Some(n) = &nat {
            attrs.push(CtAttr::Nat(n.odp()));
        }
        self.actions.push(odp::Action::Ct(attrs));
        super::put_be(&mut self.wc[range(id::CT_MARK)], saved_mark);
        super::put_be(&mut self.wc[range(id::CT_LABEL)], saved_label);
        if h.table != NO_RECIRC {
            self.fork_recirc(h.table, zone, nat, out);
        }
        // The ct_* fields belong to the recirculated pipeline only.
        self.clear_conntrack();
        self.conntracked = false;
        out.push(Node::new(
            NodeKind::Detail,
            "Sets the packet to an untracked state, and clears all the conntrack fields.".into(),
        ));
    }

    /// Freezes the pipeline to resume in `table` after conntrack, and
    /// sends a clone of the packet there.
    fn fork_recirc(&mut self, table: u8, zone: u16, nat: Option<Nat>, out: &mut Vec<Node>) {
        let state = Frozen {
            bridge: self.br.name.to_string(),
            mirrors: self.mirrors_done(),
            stack: self.stack.clone(),
            table,
            metadata: Frozen::metadata_of(&self.flow),
            action_set: self.action_set.clone(),
            actset_output: self.actset_output,
            conntracked: true,
            actions: Vec::new(),
            userdata: Vec::new(),
            tunnel: Vec::new(),
        };
        let rid = recirc::alloc(state);
        self.actions.push(odp::Action::Recirc(rid));
        if !self.br.side_effects {
            let mut flow = Box::new(self.flow);
            super::put_be(&mut flow[range(id::RECIRC_ID)], rid as u128);
            super::put_be(&mut flow[range(id::CT_ZONE)], zone as u128);
            self.forks.push(TraceFork {
                recirc_id: rid,
                flow,
                nat,
            });
            out.push(Node::new(
                NodeKind::Detail,
                format!(
                    "A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table {table}."
                ),
            ));
        }
    }

    /// Starts a recirculated packet's translation where its frozen
    /// pipeline left off: the table to look up and the frozen steps to
    /// run instead when there are some, or None (an error reported) when
    /// the id is unknown.
    pub(super) fn thaw(
        &mut self,
        rid: u32,
        out: &mut Vec<Node>,
    ) -> Option<(u8, Vec<super::group::FrozenOp>)> {
        let state = recirc::lookup(rid).filter(|s| s.bridge == self.br.name);
        let Some(state) = state else {
            let text = format!("Recirculation context not found for ID {rid:x}");
            out.push(Node::new(NodeKind::Error, text));
            self.error = Some("Recirculation context not found".into());
            return None;
        };
        let mut node = Node::new(NodeKind::Table, "thaw".into());
        node.subs.push(Node::new(
            NodeKind::Table,
            format!("Resuming from table {}", state.table),
        ));
        if !state.actions.is_empty() {
            let texts: Vec<String> = state.actions.iter().map(|o| o.text()).collect();
            node.subs.push(Node::new(
                NodeKind::Table,
                format!("Restoring actions: {}", texts.join(",")),
            ));
        }
        self.table_id = state.table;
        state.restore(&mut self.flow);
        state.restore(&mut self.base);
        self.conntracked = state.conntracked;
        if !state.conntracked {
            self.clear_conntrack();
        }
        self.action_set = state.action_set.clone();
        self.actset_output = state.actset_output;
        self.mirrors_thawed(state.mirrors);
        self.stack = state.stack.clone();
        out.push(node);
        Some((state.table, state.actions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_head_and_nat_text() {
        // ct(commit,table=1,zone=NXM_NX_REG0[0..15]) header.
        let mut h = vec![0u8; 24];
        h[10..12].copy_from_slice(&1u16.to_be_bytes());
        h[12..16].copy_from_slice(&0x0001_0004u32.to_be_bytes());
        h[16..18].copy_from_slice(&15u16.to_be_bytes());
        h[18] = 1;
        assert_eq!(
            ct_text(&h, &[]),
            "ct(commit,table=1,zone=NXM_NX_REG0[0..15])"
        );
        let mut nat = vec![0u8; 16];
        nat[12..14].copy_from_slice(&(NAT_SRC | NAT_PROTO_RANDOM).to_be_bytes());
        nat[14..16].copy_from_slice(&(1u16 | 2 | 16).to_be_bytes());
        nat.extend([10, 0, 0, 1, 10, 0, 0, 9, 0, 80]);
        let n = Nat::parse(&nat);
        assert_eq!(n.text(), "nat(src=10.0.0.1-10.0.0.9:80,random)");
        assert_eq!(
            n.odp(),
            vec![
                NatAttr::Src,
                NatAttr::ProtoRandom,
                NatAttr::IpMin(vec![10, 0, 0, 1]),
                NatAttr::IpMax(vec![10, 0, 0, 9]),
                NatAttr::ProtoMin(80),
            ]
        );
        // Truncated bytes read as absent, never panic.
        let _ = Nat::parse(&nat[..18]).text();
        let _ = CtHead::parse(&[]);
    }
}
