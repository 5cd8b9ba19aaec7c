//! The `ofproto/trace` report: a tree of what translation did (bridges,
//! tables, actions, warnings), printed with Open vSwitch's indentation
//! rules, framed by the flow, the final flow, the megaflow and the
//! datapath actions.

use super::flow_text::format_flow;
use super::Xlated;
use crate::openflow::fields::{id, range, Match, KEY_LEN};
use crate::openflow::text::format_match;
use ferrovs_dpif::odp::action_text::format_action_list;
use ferrovs_dpif::odp::FormatOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Bridge,
    Table,
    Action,
    Detail,
    Warn,
    Error,
}

impl NodeKind {
    /// Terminal nodes are indented as if more siblings followed.
    fn terminal(self) -> bool {
        !matches!(self, NodeKind::Bridge | NodeKind::Table)
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub text: String,
    pub subs: Vec<Node>,
}

impl Node {
    pub fn new(kind: NodeKind, text: String) -> Node {
        Node {
            kind,
            text,
            subs: Vec::new(),
        }
    }
}

/// Prints `nodes` at `level`: a node is indented one more step when it is
/// not the last of its siblings or is terminal, and its children two more.
pub fn print_nodes(out: &mut String, nodes: &[Node], level: usize) {
    for (i, n) in nodes.iter().enumerate() {
        if n.kind == NodeKind::Bridge {
            out.push('\n');
        }
        let more = (i + 1 < nodes.len() || n.kind.terminal()) as usize;
        let indent = " ".repeat((level + more) * 4);
        out.push_str(&indent);
        match n.kind {
            NodeKind::Detail => out.push_str(&format!(" -> {}\n", n.text)),
            NodeKind::Warn => out.push_str(&format!(" >> {}\n", n.text)),
            NodeKind::Error => out.push_str(&format!(" >>>> {} <<<<\n", n.text)),
            NodeKind::Bridge => {
                out.push_str(&n.text);
                out.push('\n');
                out.push_str(&indent);
                out.push_str(&"-".repeat(n.text.len()));
                out.push('\n');
            }
            NodeKind::Table | NodeKind::Action => {
                out.push_str(&n.text);
                out.push('\n');
            }
        }
        print_nodes(out, &n.subs, level + 2 * more);
    }
}

/// Moves `fields` out of `m` and formats them (with a trailing comma
/// when any is matched): the parts of a megaflow that lead it.
fn take_leading(m: &mut Match, fields: impl Iterator<Item = usize>) -> String {
    let mut part = Match::catchall();
    for f in fields {
        let r = range(f);
        part.key[r.clone()].copy_from_slice(&m.key[r.clone()]);
        part.mask[r.clone()].copy_from_slice(&m.mask[r]);
        m.clear(f);
    }
    let mut text = format_match(&part, 32768);
    if !text.is_empty() {
        text.push(',');
    }
    text
}

/// The megaflow as `ofproto/trace` prints it: the flow's values under the
/// mask, as a match.
pub fn format_megaflow(flow: &[u8; KEY_LEN], wc: &[u8; KEY_LEN]) -> String {
    let mut m = Match::catchall();
    for i in 0..KEY_LEN {
        m.key[i] = flow[i] & wc[i];
        m.mask[i] = wc[i];
    }
    // pkt_mark, recirc_id and the packet type (always Ethernet here)
    // lead.
    let mark = if m.is_set(id::PKT_MARK) {
        let (v, mk) = m.get(id::PKT_MARK);
        m.clear(id::PKT_MARK);
        if mk == 0xffff_ffff {
            format!("pkt_mark={v:#x},")
        } else {
            format!("pkt_mark={v:#x}/{mk:#x},")
        }
        .replace("=0x0,", "=0,")
    } else {
        String::new()
    };
    let recirc = m.value(id::RECIRC_ID);
    m.clear(id::RECIRC_ID);
    m.mask[range(id::PACKET_TYPE)].fill(0);
    m.key[range(id::PACKET_TYPE)].fill(0);
    // ICMP type and code are 8-bit views of 16-bit fields in stock's
    // megaflows, so they always print as value/mask.
    let mut icmp = String::new();
    for (f, name) in [
        (id::ICMP_TYPE, "icmp_type"),
        (id::ICMP_CODE, "icmp_code"),
        (id::ICMPV6_TYPE, "icmp_type"),
        (id::ICMPV6_CODE, "icmp_code"),
    ] {
        let (v, mk) = m.get(f);
        if mk != 0 {
            icmp.push_str(&format!(",{name}={v:#x}/{mk:#x}"));
            m.clear(f);
        }
    }
    // The datapath hash and conntrack metadata come before the packet
    // type too.
    let dp_hash = take_leading(&mut m, std::iter::once(id::DP_HASH));
    // The queue's priority follows (stock prints any mask as matched).
    let prio = if m.is_set(id::SKB_PRIORITY) {
        let v = m.value(id::SKB_PRIORITY);
        m.clear(id::SKB_PRIORITY);
        if v == 0 {
            "skb_priority=0,".to_string()
        } else {
            format!("skb_priority={v:#x},")
        }
    } else {
        String::new()
    };
    let ct = take_leading(&mut m, id::CT_STATE..=id::CT_TP_DST);
    let ct = format!("{dp_hash}{prio}{ct}");
    let rest = super::tunnel::absent_options_text(&format_match(&m, 32768)) + &icmp;
    let recirc = if recirc == 0 {
        "0".to_string()
    } else {
        format!("{recirc:#x}")
    };
    if rest.is_empty() {
        format!("{mark}recirc_id={recirc},{ct}eth")
    } else {
        format!("{mark}recirc_id={recirc},{ct}eth,{rest}")
    }
}

/// The whole report for `flow` translated into `x`.
pub fn report(flow: &[u8; KEY_LEN], x: &Xlated) -> String {
    let mut out = String::new();
    out.push_str("Flow: ");
    let mut text = format_flow(flow, 0);
    let mask = super::mpls::flow_deeper_mask(flow, x.mpls_in);
    super::mpls::add_deeper_text(&mut text, x.mpls_in, mask);
    out.push_str(&text);
    out.push('\n');
    print_nodes(&mut out, &x.trace, 0);
    out.push_str("\nFinal flow: ");
    if x.final_flow == *flow
        && x.final_inner_vlan == 0
        && x.actset_output.is_none()
        && x.final_mpls == x.mpls_in
    {
        out.push_str("unchanged");
    } else {
        let mut text = format_flow(&x.final_flow, x.final_inner_vlan);
        let mask = super::mpls::flow_deeper_mask(&x.final_flow, x.final_mpls);
        super::mpls::add_deeper_text(&mut text, x.final_mpls, mask);
        out.push_str(&text);
    }
    out.push('\n');
    out.push_str("Megaflow: ");
    let mut text = format_megaflow(flow, &x.wc);
    super::mpls::add_deeper_text(&mut text, x.mpls_in, x.mpls_wc);
    out.push_str(&text);
    out.push('\n');
    out.push_str("Datapath actions: ");
    let lacp = super::bond::is_lacp_slow_path(&x.actions);
    if lacp {
        out.push_str("drop");
    } else {
        format_action_list(&mut out, &x.actions, &FormatOptions::default());
    }
    out.push('\n');
    if let Some(e) = &x.error {
        out.push_str(&format!("Translation failed ({e}), packet is dropped.\n"));
    } else if lacp {
        out.push_str("This flow is handled by the userspace slow path because it:\n");
        out.push_str("  - Consists of LACP packets.\n");
    } else if x.slow {
        out.push_str("This flow is handled by the userspace slow path because it:\n");
        out.push_str("  - Uses action(s) not supported by datapath.\n");
    }
    out
}
