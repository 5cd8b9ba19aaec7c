//! Translation: a flow through a bridge's OpenFlow tables into datapath
//! actions plus the megaflow mask those actions are valid for.
//!
//! The flow is the dense key of the match model ([`Match::key`], every
//! field a value), so that classifier lookups take it as is. The mask
//! (`wc`, same layout) collects every bit the answer depended on: the
//! bits each classifier lookup examined, the fields actions read, and
//! the fields the datapath actions rewrite. Header rewrites are kept in
//! the flow and turned into `set`/`set_masked` datapath actions only when
//! the packet leaves (an output), comparing the flow with what the
//! datapath already has (`base`), as Open vSwitch commits them.
//!
//! Translation runs on the OpenFlow service thread, which owns the
//! tables (see [`crate::OfprotoService::trace`]): a request costs one
//! message, and no copy of the tables has to be kept consistent. Upcall
//! handlers will want a published snapshot instead; this module only
//! needs `&Switch`, so either works.

pub mod bond;
mod check_pkt_len;
mod commit;
mod conj;
mod ct;
pub mod flow_text;
mod group;
pub mod learn;
pub mod meter;
pub mod mirror;
mod mpls;
pub(crate) mod multipath;
mod nicira;
pub mod normal;
pub mod packet_in;
mod patch;
pub(crate) use patch::NameHash;
mod queue;
pub mod recirc;
mod sample;
mod stack;
pub mod topology;
pub mod trace;
pub mod tunnel;
pub mod upcall;

pub use group::FrozenOp;

use crate::classifier::Classifier;
use crate::openflow::actions::{port, Action, Instructions};
use crate::openflow::fields::{
    eth_type, id, range, Match, FIELDS, KEY_LEN, N_FIELDS, OFFSETS, VLAN_CFI,
};
use crate::openflow::groups::Group;
use crate::switch::Rule;
use ferrovs_dpif::odp::{self, Userspace};
use std::collections::HashMap;

pub use self::ct::TraceFork;
pub use self::patch::World;
pub use self::trace::{Node, NodeKind};

/// Resubmits may nest this deep (as Open vSwitch's MAX_DEPTH).
const MAX_DEPTH: u32 = 64;
/// Resubmits per translation, at most (MAX_RESUBMITS).
const MAX_RESUBMITS: u32 = 64 * 64;

/// What translation needs from the bridge besides its tables.
pub struct Bridge<'a> {
    pub name: &'a str,
    pub tables: &'a [Classifier<Rule>],
    /// Table-miss behaviour per table (Open vSwitch's internal numbers:
    /// 0 default, 1 controller, 2 continue, 3 drop).
    pub table_miss: &'a [u32],
    /// OpenFlow port number to datapath port number.
    pub odp_ports: &'a HashMap<u16, u32>,
    pub groups: &'a std::collections::BTreeMap<u32, (Group, std::time::Instant)>,
    /// False for `ofproto/trace`: packet-ins are marked not to be sent.
    pub side_effects: bool,
    /// Whether to describe each rule in the trace (costs a scan of the
    /// table per rule; only `ofproto/trace` wants it).
    pub describe_rules: bool,
    /// The switch whose ports (VLAN modes) and MAC learning table NORMAL
    /// uses; without one, NORMAL floods to every port as a trunk.
    pub switch: Option<&'a crate::switch::Switch>,
}

/// The result of translating one flow.
pub struct Xlated {
    pub actions: Vec<odp::Action>,
    /// Megaflow mask in key layout.
    pub wc: [u8; KEY_LEN],
    /// The flow after every rewrite.
    pub final_flow: [u8; KEY_LEN],
    /// Its second VLAN tag, if pushing made one (0 for none).
    pub final_inner_vlan: u16,
    /// The MPLS label stack entries under the top one: of the flow
    /// translated, of the final flow, and the bits of them the megaflow
    /// matches.
    pub mpls_in: [u32; 2],
    pub final_mpls: [u32; 2],
    pub mpls_wc: [u32; 2],
    /// The action set's output port at the end (the flow's
    /// `actset_output`, which the report does not print).
    pub actset_output: Option<u16>,
    /// What happened, as `ofproto/trace` prints it.
    pub trace: Vec<Node>,
    /// Whether the flow must be handled in userspace ("slow path"):
    /// some datapath action is one the kernel module cannot run.
    pub slow: bool,
    /// Set when translation stopped early (loops, too many resubmits):
    /// the reason as stock names it ("Recursion too deep").
    pub error: Option<String>,
    /// Packets forked to recirculate, for `ofproto/trace` to follow
    /// (only without side effects).
    pub forks: Vec<TraceFork>,
    /// The rules translation went through (only with side effects), so
    /// that the datapath flow's statistics can be credited to them;
    /// shared as the flow's ukey and credits keep them.
    pub rules: std::sync::Arc<[RuleHit]>,
    /// What translation learned: rules of `learn` actions (only with
    /// side effects), for the caller to apply to the tables; source MACs
    /// and tunnel neighbours (always, so that the flow's later packets
    /// refresh them).
    pub learned: Vec<learn::Learned>,
    /// The input ports of every table lookup (only with side effects):
    /// changes scoped to other ports cannot affect this translation.
    pub in_ports: Vec<u16>,
    /// The (VLAN, MAC) destinations NORMAL looked up: a change of one of
    /// those MAC table entries may change this translation.
    pub mac_lookups: Vec<crate::mac_learning::MacKey>,
    /// The answer depends on state that changes without a tables change
    /// (a tunnel neighbour not resolved yet): no megaflow may be
    /// installed for it.
    pub no_install: bool,
    /// Packets translation itself sends (ARP requests for tunnel
    /// neighbours), with their datapath actions.
    pub injected: Vec<tunnel::Injected>,
}

/// A rule a translation went through: its table and the rule's
/// counters, which credits go to directly (no lookup, no write lock; a
/// rule deleted since takes them unseen, one replaced with its counters
/// kept passes them on). Shared, not copied: every flow keeps its hits,
/// and each packet's credit carries them again. (Hits used to carry the
/// flow each lookup was made with, which nothing read once credits went
/// by the counters: a copy of the key, and often an allocation, per
/// table.)
#[derive(Debug, Clone)]
pub struct RuleHit {
    /// The bridge whose table it is (patch ports lead to others),
    /// interned (see [`interned_name`]): a hit per table costs no
    /// reference count.
    pub bridge: &'static str,
    pub table: u8,
    /// The mirrors to credit (bit i: mirror slot i) for the mirrors'
    /// pseudo hit (see [`mirror::CREDIT_TABLE`]); 0 for a rule's hit.
    pub mirrors: u32,
    /// The rule's counters; None for the mirrors' pseudo hit.
    pub stats: Option<std::sync::Arc<crate::switch::RuleStats>>,
}

impl PartialEq for RuleHit {
    /// The same table of the same bridge, the same rule (or mirrors).
    fn eq(&self, other: &RuleHit) -> bool {
        let same_rule = match (&self.stats, &other.stats) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        self.bridge == other.bridge
            && self.table == other.table
            && self.mirrors == other.mirrors
            && same_rule
    }
}

impl Eq for RuleHit {}

/// `name` as a shared string, made once per thread and bridge name (a
/// translation records a hit per table, all with the same name).
fn shared_name(name: &str) -> std::sync::Arc<str> {
    use std::cell::RefCell;
    use std::sync::Arc;
    thread_local! {
        static NAMES: RefCell<Vec<Arc<str>>> = const { RefCell::new(Vec::new()) };
    }
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(n) = names.iter().find(|n| ***n == *name) {
            return Arc::clone(n);
        }
        // Bridges come and go: forget the old names now and then.
        if names.len() >= 64 {
            names.clear();
        }
        let n: Arc<str> = Arc::from(name);
        names.push(Arc::clone(&n));
        n
    })
}

/// `name` interned for the life of the process: one copy per bridge name
/// ever translated (a few bytes each), which rule hits and their credits
/// then carry as a plain reference. Each thread remembers the names it
/// has seen, so only a thread's first translation through a bridge takes
/// the process-wide lock.
pub(crate) fn interned_name(name: &str) -> &'static str {
    use std::cell::RefCell;
    use std::sync::Mutex;
    thread_local! {
        static SEEN: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    }
    static ALL: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    SEEN.with(|seen| {
        if let Some(n) = seen.borrow().iter().find(|n| **n == name) {
            return *n;
        }
        let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
        let n = match all.iter().find(|n| **n == name) {
            Some(n) => *n,
            None => {
                let n: &'static str = Box::leak(name.into());
                all.push(n);
                n
            }
        };
        seen.borrow_mut().push(n);
        n
    })
}

struct Ctx<'a> {
    br: &'a Bridge<'a>,
    /// Every bridge of the datapath, for patch ports and tunnels; None
    /// when translating one bridge alone.
    world: Option<&'a World<'a>>,
    /// The packet's own tunnel destination (0 when it came from no
    /// tunnel): never tunnelled back to.
    orig_tun_dst: u128,
    /// The outer UDP source port a decapsulated packet came with: as in
    /// stock, the flow keeps it, and the kernel's tunnel outputs pass it on.
    in_tun_tp_src: u16,
    /// The tunnel UDP ports (source, destination) the datapath has, which
    /// are not fields of the key.
    base_tun_ports: (u16, u16),
    no_install: bool,
    injected: Vec<tunnel::Injected>,
    flow: [u8; KEY_LEN],
    /// The headers as the datapath will see them at the next action.
    base: [u8; KEY_LEN],
    wc: [u8; KEY_LEN],
    actions: Vec<odp::Action>,
    /// The second VLAN tag (under `VLAN_TCI`) of the flow and of what the
    /// datapath has; 0 when there is none.
    vlans: commit::InnerVlans,
    depth: u32,
    resubmits: u32,
    table_id: u8,
    exit: bool,
    /// Ends the current action list only (dec_ttl's exception).
    stop_list: bool,
    /// The cookie of the rule whose actions run.
    rule_cookie: u64,
    /// The rule whose actions run (compared by address only: a
    /// controller action in a table-miss rule is an explicit miss).
    cur_rule: Option<*const Rule>,
    /// Some action cannot run in the kernel datapath.
    slow: bool,
    /// The OpenFlow 1.1+ action set (write_actions), in writing order.
    action_set: Vec<Action>,
    /// The output port the action set holds, if any (`actset_output`).
    actset_output: Option<u16>,
    first_lookup: bool,
    error: Option<String>,
    /// The `nat` inside the `ct` being translated.
    ct_nat: Option<ct::Nat>,
    /// The packet went through conntrack in this pipeline (or arrived
    /// tracked).
    conntracked: bool,
    forks: Vec<TraceFork>,
    rules: Vec<RuleHit>,
    /// Translation is being frozen (to resume after a recirculation);
    /// `frozen` collects what is left to run, `freeze_hash` asks the
    /// datapath to hash the packet first.
    freezing: bool,
    freeze_hash: bool,
    frozen: Vec<group::FrozenOp>,
    /// The `controller(pause)` that is freezing translation (the pause
    /// itself is not among the frozen actions).
    pause: Option<packet_in::Controller2>,
    learned: Vec<learn::Learned>,
    in_ports: Vec<u16>,
    /// The (VLAN, MAC) destinations NORMAL looked up.
    mac_lookups: Vec<crate::mac_learning::MacKey>,
    mirror: mirror::State,
    /// The data stack of `push` and `pop` (see `stack`).
    stack: Vec<stack::StackEntry>,
    /// The packet's priority on arrival, which `pop_queue` restores.
    orig_skb_priority: u32,
    /// The next rule found is the first of a patch peer's pipeline (see
    /// `patch::Ctx::patch_entry_rule`).
    patch_entry: bool,
    /// The tun_metadata options (bit N: tun_metadataN) the packet
    /// arrived with, which a packet-in reports even when set to zero.
    rx_tun_metadata: u64,
    /// The bridge name of the last rule hit, shared (see `hit_bridge`).
    hit_name: Option<(&'a str, &'static str)>,
}

/// Packet-in reasons (OFPR_*).
const REASON_ACTION: u8 = 1;
const REASON_INVALID_TTL: u8 = 2;
/// Open vSwitch's internal reason for the table-miss packet-in (sent as
/// no_match).
const REASON_IMPLICIT_MISS: u8 = 7;
/// Open vSwitch's internal reason for a controller action in a
/// table-miss rule (sent as action before OpenFlow 1.3, no_match after).
const REASON_EXPLICIT_MISS: u8 = 6;

/// Translates `flow` (a key with every field's value) through `br`.
pub fn translate(br: &Bridge<'_>, flow: &[u8; KEY_LEN]) -> Xlated {
    translate_with(br, None, flow)
}

/// Translates `flow` through `br`, one of the bridges of `world`, so that
/// patch ports and tunnels reach the others.
pub fn translate_with<'a>(
    br: &'a Bridge<'a>,
    world: Option<&'a World<'a>>,
    flow: &[u8; KEY_LEN],
) -> Xlated {
    translate_received(br, world, flow, Received::default())
}

/// What a received packet carries besides its flow key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received<'r> {
    /// The MPLS label stack entries under the top one (which is in the
    /// flow), 0 where there are none.
    pub deeper_labels: [u32; 2],
    /// The UDP ports (source, destination) of the tunnel header the
    /// packet was decapsulated from; 0 for GRE and untunnelled packets.
    pub outer_ports: (u16, u16),
    /// An OpenFlow packet-out's actions, which run instead of the
    /// tables (an empty list looks the tables up, as in stock, whose
    /// empty action buffer is no buffer at all).
    pub packet_out: Option<&'r [Action]>,
}

/// [`translate_with`] for a received packet with what its key leaves out.
pub fn translate_received<'a>(
    br: &'a Bridge<'a>,
    world: Option<&'a World<'a>>,
    flow: &[u8; KEY_LEN],
    rx: Received<'_>,
) -> Xlated {
    // A recirculated packet resumes in the bridge that froze it (the
    // peer of a patch port may have), whatever port it came in on.
    let rid = be(&flow[frange(id::RECIRC_ID)]) as u32;
    let br = match world {
        Some(w) if rid != 0 => recirc::bridge_of(rid)
            .and_then(|b| w.bridges.get(b.as_str()))
            .unwrap_or(br),
        _ => br,
    };
    let mut ctx = Ctx {
        br,
        world,
        orig_tun_dst: {
            let v4 = be(&flow[frange(id::TUN_DST)]) as u32;
            let v6 = be(&flow[frange(id::TUN_IPV6_DST)]);
            if v4 != 0 {
                tunnel::tnl_dst_key(std::net::IpAddr::V4(v4.into()))
            } else {
                v6
            }
        },
        in_tun_tp_src: rx.outer_ports.0,
        base_tun_ports: rx.outer_ports,
        no_install: false,
        injected: Vec::new(),
        flow: *flow,
        base: *flow,
        wc: [0; KEY_LEN],
        actions: Vec::new(),
        vlans: commit::InnerVlans {
            mpls: mpls::Deeper {
                flow: rx.deeper_labels,
                base: rx.deeper_labels,
                ..mpls::Deeper::default()
            },
            ..commit::InnerVlans::default()
        },
        depth: 0,
        resubmits: 0,
        table_id: 0,
        exit: false,
        stop_list: false,
        rule_cookie: 0,
        cur_rule: None,
        slow: false,
        action_set: Vec::new(),
        actset_output: None,
        first_lookup: true,
        error: None,
        ct_nat: None,
        conntracked: false,
        forks: Vec::new(),
        rules: hit_buffer(),
        freezing: false,
        freeze_hash: false,
        frozen: Vec::new(),
        pause: None,
        learned: Vec::new(),
        in_ports: Vec::new(),
        mac_lookups: Vec::new(),
        mirror: mirror::State::default(),
        stack: Vec::new(),
        orig_skb_priority: be(&flow[frange(id::SKB_PRIORITY)]) as u32,
        patch_entry: false,
        rx_tun_metadata: received_tun_metadata(flow),
        hit_name: None,
    };
    // Every megaflow matches the packet's recirculation id, input port and
    // Ethernet type; IP ones the fragment type too (checked before any
    // table, for the fragment handling mode).
    ctx.exact(id::RECIRC_ID);
    ctx.exact(id::IN_PORT);
    ctx.exact(id::ETH_TYPE);
    let et = ctx.get(id::ETH_TYPE) as u16;
    if et == eth_type::IP || et == eth_type::IPV6 {
        ctx.exact(id::IP_FRAG);
    }
    let mut nodes = Vec::new();
    // A recirculated packet resumes its frozen pipeline.
    let rid = ctx.get(id::RECIRC_ID) as u32;
    let start = if rid == 0 && ctx.lacp_slow_path(&mut nodes) {
        None
    } else if rid == 0 {
        ctx.conntracked = ctx.get(id::CT_STATE) & ct::CS_TRACKED != 0;
        // A packet from a tunnel first passes the tunnel's checks.
        ctx.receive_tunnel().then(|| (0, Vec::new()))
    } else {
        ctx.thaw(rid, &mut nodes)
    };
    let in_port = ctx.get(id::IN_PORT) as u16;
    // A thawed pipeline that runs frozen actions has no first rule to
    // report the action set under.
    let thawed_actions = matches!(&start, Some((_, ops)) if !ops.is_empty());
    match (start, rx.packet_out.filter(|l| !l.is_empty())) {
        // A packet-out's actions belong to no rule (stock's cookie for
        // them is all ones).
        (Some((_, ops)), Some(list)) if ops.is_empty() => {
            ctx.rule_cookie = u64::MAX;
            ctx.actions(list, &mut nodes);
        }
        (Some((t, ops)), _) if ops.is_empty() => ctx.table(t, in_port, &mut nodes),
        (Some((_, ops)), _) => ctx.run_frozen(&ops, &mut nodes),
        (None, _) => {}
    }
    // The pipeline is over: the action set runs, reported under the
    // first table's rule.
    let set = ctx.action_set_list();
    if !set.is_empty() && ctx.error.is_none() && !ctx.freezing {
        let mut node = Node::new(NodeKind::Table, "--. Executing action set:".into());
        ctx.exit = false;
        ctx.actions(&set, &mut node.subs);
        match nodes.last_mut() {
            Some(first) if !thawed_actions => first.subs.push(node),
            _ => nodes.push(node),
        }
    }
    if ctx.freezing && ctx.error.is_none() {
        ctx.finish_freezing();
    }
    if !ctx.freezing {
        // Reported under the first table's rule, as stock's trace does.
        match nodes.iter_mut().find(|n| n.kind == NodeKind::Table) {
            Some(first) => ctx.in_band_dhcp_to_local(&mut first.subs),
            None => ctx.in_band_dhcp_to_local(&mut nodes),
        }
    }
    // A rewrite that reached no output changes nothing in the datapath,
    // but the fields it wrote are still part of the megaflow (their mask
    // bits were set when written).
    // (Stock leaves them as they are when translation failed.)
    if ctx.error.is_none() {
        ctx.finish_wildcards(flow);
    }
    // A copy of the packet (a tunnel's, a patch peer's, `clone`'s) that
    // ends the actions needs no copy.
    patch::unwrap_trailing_clone(&mut ctx.actions);
    ctx.finish_mirrors();
    let trace = if ctx.tracing() {
        let mut bridge = Node::new(NodeKind::Bridge, format!("bridge(\"{}\")", br.name));
        bridge.subs = nodes;
        vec![bridge]
    } else {
        Vec::new()
    };
    Xlated {
        actions: ctx.actions,
        wc: ctx.wc,
        final_inner_vlan: ctx.vlans.flow,
        mpls_in: rx.deeper_labels,
        final_mpls: ctx.vlans.mpls.flow,
        mpls_wc: ctx.vlans.mpls.wc,
        actset_output: ctx.actset_output,
        final_flow: ctx.flow,
        trace,
        error: ctx.error,
        slow: ctx.slow,
        forks: ctx.forks,
        rules: share_hits(ctx.rules),
        learned: ctx.learned,
        in_ports: ctx.in_ports,
        mac_lookups: ctx.mac_lookups,
        no_install: ctx.no_install,
        injected: ctx.injected,
    }
}

thread_local! {
    /// The rule hits buffer of the thread's last translation, emptied
    /// (so that one allocation serves every translation of a thread).
    static HITS: std::cell::Cell<Vec<RuleHit>> = const { std::cell::Cell::new(Vec::new()) };
    /// The hits of translations that hit no rule.
    static NO_HITS: std::sync::Arc<[RuleHit]> = std::sync::Arc::new([]);
}

/// A buffer for a translation's rule hits (empty): the thread's, unless
/// a translation in progress (one nested in this one) holds it.
fn hit_buffer() -> Vec<RuleHit> {
    let mut v = HITS.with(std::cell::Cell::take);
    // A hit per table a pipeline goes through.
    v.reserve(16);
    v
}

/// The hits moved into their shared list (allocated once, at its size),
/// and the buffer given back to the thread.
fn share_hits(mut hits: Vec<RuleHit>) -> std::sync::Arc<[RuleHit]> {
    let shared = if hits.is_empty() {
        NO_HITS.with(std::sync::Arc::clone)
    } else {
        hits.drain(..).collect()
    };
    // (A translation of thousands of resubmits does not keep its size.)
    if hits.capacity() <= 256 {
        HITS.with(|h| h.set(hits));
    }
    shared
}

/// The tun_metadata fields (`Ctx::rx_tun_metadata`) not zero in `flow`:
/// 64 fields of 4 bytes, side by side in the key.
fn received_tun_metadata(flow: &[u8; KEY_LEN]) -> u64 {
    let start = range(id::TUN_METADATA0).start;
    let all = &flow[start..range(id::TUN_METADATA63).end];
    // Nearly always none: tell that a word at a time.
    if all.iter().fold(0u8, |acc, &b| acc | b) == 0 {
        return 0;
    }
    all.chunks_exact(4)
        .enumerate()
        .filter(|(_, f)| *f != [0; 4])
        .fold(0, |m, (i, _)| m | 1 << i)
}

impl Ctx<'_> {
    /// Emits the datapath set actions that bring the packet from what the
    /// datapath has (`base`) to the flow as translated so far.
    fn commit_rewrites(&mut self) {
        commit::commit(
            &self.flow,
            &mut self.base,
            &mut self.wc,
            &mut self.vlans,
            &mut self.actions,
            &mut self.slow,
        );
    }

    /// The current bridge's name as rule hits carry it: looked up once
    /// per bridge a translation goes through, not once per table.
    fn hit_bridge(&mut self) -> &'static str {
        match self.hit_name {
            Some((br, n)) if std::ptr::eq(br, self.br.name) => n,
            _ => {
                let n = interned_name(self.br.name);
                self.hit_name = Some((self.br.name, n));
                n
            }
        }
    }

    /// Whether this translation reports what it does (`ofproto/trace`,
    /// the only reader of the nodes): an upcall's translation makes no
    /// trace text at all, which would cost more than translating.
    fn tracing(&self) -> bool {
        self.br.describe_rules
    }

    /// Appends a trace node, its text made only when tracing.
    fn note(&self, out: &mut Vec<Node>, kind: NodeKind, text: impl FnOnce() -> String) {
        if self.tracing() {
            out.push(Node::new(kind, text()));
        }
    }

    /// Appends a node that was built anyway (its children collected),
    /// only when tracing.
    fn note_node(&self, out: &mut Vec<Node>, node: Node) {
        if self.tracing() {
            out.push(node);
        }
    }

    /// Drops mask bits the datapath cannot match: metadata and registers
    /// (not packet fields), and headers the original packet does not have
    /// (a VLAN tag, tunnel metadata, ports of later fragments).
    fn finish_wildcards(&mut self, orig: &[u8; KEY_LEN]) {
        // Field runs (first and last field: consecutive fields are
        // consecutive in the key) whose mask bits go; cleared last, as
        // the VLAN check reads the mask first.
        let mut clear = [(0, 0); 8];
        let mut n = 0;
        let mut push = |run: (usize, usize)| {
            clear[n] = run;
            n += 1;
        };
        push((id::METADATA, id::METADATA));
        push((id::ACTSET_OUTPUT, id::ACTSET_OUTPUT));
        push((id::CONJ_ID, id::CONJ_ID));
        push((id::REG0, id::REG15));
        let orig_get = |f: usize| be(&orig[range(f)]);
        let clear_vlan = orig_get(id::VLAN_TCI) as u16 & VLAN_CFI == 0;
        if clear_vlan {
            push((id::VLAN_TCI, id::VLAN_TCI));
        }
        let later_fragment = orig_get(id::IP_FRAG) & 2 != 0;
        // Labels pushed here are not in the packet the megaflow matches.
        let no_mpls = !mpls::is_mpls(orig_get(id::ETH_TYPE) as u16);
        if no_mpls {
            push((id::MPLS_LABEL, id::MPLS_TTL));
        }
        if orig_get(id::TUN_DST) == 0 && orig_get(id::TUN_IPV6_DST) == 0 {
            push((id::TUN_ID, id::TUN_GTPU_MSGTYPE));
            push((id::TUN_METADATA0, id::TUN_METADATA63));
        }
        if !clear_vlan && self.get_wc(id::VLAN_TCI) != 0 {
            self.unwildcard(id::VLAN_TCI, VLAN_CFI as u128);
        }
        if no_mpls {
            self.vlans.mpls.wc = [0; 2];
        }
        for &(first, last) in &clear[..n] {
            self.wc[range(first).start..range(last).end].fill(0);
        }
        if later_fragment {
            for f in [
                id::TCP_SRC,
                id::TCP_DST,
                id::UDP_SRC,
                id::UDP_DST,
                id::SCTP_SRC,
                id::SCTP_DST,
            ] {
                self.wc[range(f)].fill(0);
            }
        }
    }

    fn get_wc(&self, f: usize) -> u128 {
        be(&self.wc[frange(f)])
    }

    fn get(&self, f: usize) -> u128 {
        be(&self.flow[frange(f)])
    }

    fn set(&mut self, f: usize, v: u128) {
        put_be(&mut self.flow[frange(f)], v);
    }

    /// Marks all of field `f` as consulted.
    fn exact(&mut self, f: usize) {
        self.wc[frange(f)].fill(0xff);
    }

    fn unwildcard(&mut self, f: usize, mask: u128) {
        let r = frange(f);
        let n = r.len();
        for (i, w) in self.wc[r].iter_mut().enumerate() {
            *w |= mask.checked_shr(8 * (n - 1 - i) as u32).unwrap_or(0) as u8;
        }
    }

    /// Looks `table` up and runs the rule found (or the table-miss
    /// behaviour), appending trace nodes to `out`.
    fn table(&mut self, table: u8, in_port: u16, out: &mut Vec<Node>) {
        let br = self.br;
        let Some(cls) = br.tables.get(table as usize) else {
            return;
        };
        let saved_port = self.get(id::IN_PORT);
        self.set(id::IN_PORT, in_port as u128);
        // The bits the lookup examined go straight into the megaflow.
        let hit = cls
            .lookup_soft(&self.flow, &mut self.wc, |_| false, false)
            .hard
            .map(|(_, r)| r);
        // A conjunction clause is not an answer by itself.
        let found = match hit {
            Some(r) if conj::is_clause(r) => self.conjunction(cls).0,
            r => r,
        };
        // The ports and rules a translation consulted describe it, they
        // are not side effects: a revalidation that may not learn still
        // needs them, or the flow's statistics stop reaching its rules
        // and port-scoped changes stop reaching the flow.
        if !self.in_ports.contains(&in_port) {
            self.in_ports.push(in_port);
        }
        if let Some(r) = found {
            let bridge = self.hit_bridge();
            self.rules.push(RuleHit {
                bridge,
                table,
                mirrors: 0,
                stats: Some(std::sync::Arc::clone(&r.stats)),
            });
        }
        self.set(id::IN_PORT, saved_port);
        let old_table = self.table_id;
        self.table_id = table;
        match found {
            Some(rule) => {
                // Only a trace shows the rule; an upcall's translation
                // (no one reads its text) skips the formatting.
                let text = if self.br.describe_rules {
                    rule_line(cls, rule, table)
                } else {
                    String::new()
                };
                let mut node = Node::new(NodeKind::Table, text);
                // The first lookup is not a recursion.
                let deepens = table <= old_table && !std::mem::take(&mut self.first_lookup);
                self.depth += deepens as u32;
                let old_cookie = std::mem::replace(&mut self.rule_cookie, rule.cookie);
                let old_rule = self.cur_rule.replace(rule as *const Rule);
                let patch_entry = std::mem::take(&mut self.patch_entry);
                if self.mirror_ingress(in_port, &mut node.subs) {
                    if patch_entry {
                        self.patch_entry_rule(&rule.instructions, &mut node.subs);
                    } else {
                        self.instructions(&rule.instructions, &mut node.subs);
                    }
                }
                self.rule_cookie = old_cookie;
                self.cur_rule = old_rule;
                self.depth -= deepens as u32;
                self.note_node(out, node);
            }
            None => {
                let miss = self.br.table_miss.get(table as usize).copied().unwrap_or(0);
                if miss == 2 && (table as usize) + 1 < self.br.tables.len() {
                    // "continue": the next table decides.
                    self.table_id = old_table;
                    self.table(table + 1, in_port, out);
                    return;
                }
                let mut dropped = Vec::new();
                if !self.mirror_ingress(in_port, &mut dropped) {
                    if self.tracing() {
                        let mut node = Node::new(NodeKind::Table, format!("{table:2}. No match."));
                        node.subs = dropped;
                        out.push(node);
                    }
                    self.table_id = old_table;
                    return;
                }
                // Table-miss config 1 is "controller"; the default (0)
                // sends while an OpenFlow 1.0-1.2 connection is up.
                let wants = self.br.switch.is_some_and(|s| s.packet_in_on_miss);
                if miss == 1 || (miss == 0 && wants) {
                    let text = format!("{table:2}. No match, and a \"packet-in\" is called for.");
                    let mut node = Node::new(NodeKind::Table, text);
                    node.subs.push(Node::new(
                        NodeKind::Action,
                        "controller(reason=no_match)".into(),
                    ));
                    // The internal miss rule's cookie (0), not the caller's.
                    let old_cookie = std::mem::take(&mut self.rule_cookie);
                    self.controller(u16::MAX, 0, REASON_IMPLICIT_MISS, &[]);
                    self.rule_cookie = old_cookie;
                    out.push(node);
                } else if self.tracing() {
                    let mut node = Node::new(NodeKind::Table, format!("{table:2}. No match."));
                    node.subs.push(Node::new(NodeKind::Action, "drop".into()));
                    out.push(node);
                }
            }
        }
        self.table_id = old_table;
    }

    fn instructions(&mut self, ins: &Instructions, out: &mut Vec<Node>) {
        // The meter comes first (stock lists it as an action).
        if let Some(m) = ins.meter {
            out.push(Node::new(NodeKind::Action, format!("meter:{m}")));
            if let Some(id) = meter::datapath_id(self.br.name, m) {
                self.actions.push(odp::Action::Meter(id));
            }
        }
        if ins.apply.is_empty()
            && ins.goto_table.is_none()
            && ins.write_metadata.is_none()
            && !ins.clear
            && ins.write.is_none()
        {
            self.note(out, NodeKind::Action, || "drop".into());
            return;
        }
        if self.actions_then(&ins.apply, Some(ins), out) {
            // A check_pkt_larger ran the other instructions, twice.
            return;
        }
        self.after_apply(ins, out);
    }

    /// A rule's instructions after its apply-actions: clear, write and
    /// write-metadata, goto-table.
    fn after_apply(&mut self, ins: &Instructions, out: &mut Vec<Node>) {
        // After a pop to IP, these need the packet's real headers.
        if ins.clear
            || ins.write.is_some()
            || ins.write_metadata.is_some()
            || ins.goto_table.is_some()
        {
            self.recirc_after_pop();
        }
        if self.exit && self.freezing && self.error.is_none() {
            self.freeze_instructions(ins);
        }
        if self.exit || self.error.is_some() {
            return;
        }
        if ins.clear {
            self.note(out, NodeKind::Action, || "clear_actions".into());
            self.note(out, NodeKind::Detail, || self.action_set_text("was"));
            self.action_set.clear();
            self.actset_output = None;
        }
        if let Some(w) = &ins.write {
            self.note(out, NodeKind::Action, || {
                let text: Vec<String> = w.iter().map(crate::openflow::text::action_text).collect();
                format!("write_actions({})", text.join(","))
            });
            for a in w {
                if let Action::Output { port: p, .. } = a {
                    self.actset_output = Some(*p);
                }
                self.action_set.push(a.clone());
            }
            self.note(out, NodeKind::Detail, || self.action_set_text("is"));
        }
        if let Some((value, mask)) = ins.write_metadata {
            self.note(out, NodeKind::Action, || {
                crate::openflow::text::write_metadata_text(value, mask)
            });
            let old = self.get(id::METADATA) as u64;
            self.set(id::METADATA, ((old & !mask) | (value & mask)) as u128);
        }
        if let Some(t) = ins.goto_table {
            self.note(out, NodeKind::Action, || format!("goto_table:{t}"));
            let in_port = self.get(id::IN_PORT) as u16;
            self.table(t, in_port, out);
        }
    }

    /// The action set as it would run, in OpenFlow's order (nothing at
    /// all without an output or group).
    fn action_set_list(&self) -> Vec<Action> {
        action_set_order(&self.action_set, SetEnd::OutputOrGroup)
    }

    fn action_set_text(&self, verb: &str) -> String {
        let list = self.action_set_list();
        if list.is_empty() {
            format!("action set {verb} empty")
        } else {
            let text: Vec<String> = list
                .iter()
                .map(crate::openflow::text::action_text)
                .collect();
            format!("action set {verb}: {}", text.join(","))
        }
    }

    fn actions(&mut self, list: &[Action], out: &mut Vec<Node>) {
        self.actions_then(list, None, out);
    }

    /// Runs an action list; `then`, for a rule's apply-actions, is the
    /// rule's instructions, whose other parts follow. True when a
    /// `check_pkt_larger` in the list ran the rest of it and `then`
    /// itself (see `check_pkt_len`).
    fn actions_then(
        &mut self,
        list: &[Action],
        then: Option<&Instructions>,
        out: &mut Vec<Node>,
    ) -> bool {
        for (i, a) in list.iter().enumerate() {
            if mpls::needs_recirc(a) {
                self.recirc_after_pop();
            }
            if self.exit || self.error.is_some() {
                // A freeze keeps what this level had left.
                if self.freezing && self.error.is_none() {
                    self.freeze_actions(&list[i..]);
                }
                break;
            }
            self.note(out, NodeKind::Action, || ct::action_text(a));
            if let Action::Nx { subtype: 49, bytes } = a {
                let rest = check_pkt_len::Rest::Actions(&list[i + 1..], then);
                self.check_pkt_larger(bytes, rest, out);
                return true;
            }
            self.action(a, out);
            // The action that froze runs again after the recirculation
            // (a pause does not: the actions after it do).
            if self.freezing && self.exit && self.frozen.is_empty() && self.error.is_none() {
                if self.pause.is_some() {
                    self.freeze_actions(list.get(i + 1..).unwrap_or(&[]));
                } else {
                    self.freeze_actions(&list[i..]);
                }
                break;
            }
            if self.stop_list {
                self.stop_list = false;
                break;
            }
        }
        false
    }

    fn action(&mut self, a: &Action, out: &mut Vec<Node>) {
        match a {
            Action::Output { port: p, max_len } => self.output(*p, *max_len, out),
            Action::SetField {
                field, value, mask, ..
            } => self.set_field_checked(*field, *value, *mask, out),
            Action::SetEthSrc(m) => self.set_field(id::ETH_SRC, be(m), (1 << 48) - 1),
            Action::SetEthDst(m) => self.set_field(id::ETH_DST, be(m), (1 << 48) - 1),
            Action::SetIpv4Src(v) => self.set_l3(id::IP_SRC, *v as u128, 0xffff_ffff),
            Action::SetIpv4Dst(v) => self.set_l3(id::IP_DST, *v as u128, 0xffff_ffff),
            Action::SetIpDscp(v) => self.set_l3(id::NW_TOS, *v as u128, 0xfc),
            Action::SetIpEcn(v) => self.set_l3(id::NW_ECN, *v as u128, 0x03),
            Action::SetIpTtl(v) => self.set_l3(id::NW_TTL, *v as u128, 0xff),
            Action::SetL4Src(v) => self.set_l4(true, *v),
            Action::SetL4Dst(v) => self.set_l4(false, *v),
            Action::DecTtl => self.dec_ttl(out),
            Action::SetVlanVid(v) => {
                let tci = self.get(id::VLAN_TCI) as u16;
                self.unwildcard(id::VLAN_TCI, 0x1fff);
                self.set(
                    id::VLAN_TCI,
                    ((tci & 0xe000) | VLAN_CFI | (v & 0xfff)) as u128,
                );
            }
            Action::SetVlanPcp(v) => {
                let tci = self.get(id::VLAN_TCI) as u16;
                self.unwildcard(id::VLAN_TCI, 0xf000 | VLAN_CFI as u128);
                let pcp = ((*v as u16) & 7) << 13;
                self.set(id::VLAN_TCI, ((tci & 0x0fff) | VLAN_CFI | pcp) as u128);
            }
            Action::StripVlan => {
                self.set(id::VLAN_TCI, self.vlans.flow as u128);
                self.vlans.flow = 0;
            }
            Action::PushVlan(_) => {
                let tci = self.get(id::VLAN_TCI) as u16;
                if tci & VLAN_CFI != 0 {
                    self.exact(id::VLAN_TCI);
                }
                self.vlans.flow = tci;
                self.set(id::VLAN_TCI, VLAN_CFI as u128);
            }
            Action::Move {
                src,
                dst,
                src_ofs,
                dst_ofs,
                n_bits,
            } => {
                self.reg_move(*src, *dst, *src_ofs, *dst_ofs, *n_bits);
                self.note(out, NodeKind::Detail, || {
                    self.subfield_now(*dst, *dst_ofs, *n_bits)
                });
            }
            Action::NxNested {
                subtype: 35,
                head,
                actions,
            } => self.ct(head, actions, out),
            Action::NxNested {
                subtype: 42,
                actions,
                ..
            } => self.clone_action(actions, out),
            Action::Group(g) => self.group(*g, out),
            Action::PushMpls(et) => self.push_mpls(*et, out),
            Action::PopMpls(et) => self.pop_mpls(*et, out),
            Action::SetMplsLabel(v) => self.set_mpls(id::MPLS_LABEL, *v as u128),
            Action::SetMplsTc(v) => self.set_mpls(id::MPLS_TC, *v as u128),
            Action::SetMplsTtl(v) => self.set_mpls(id::MPLS_TTL, *v as u128),
            Action::DecMplsTtl => self.dec_mpls_ttl(out),
            Action::Nx { subtype, bytes } => self.nx(*subtype, bytes, out),
            Action::SetQueue(q) => self.set_queue(*q),
            Action::Enqueue { port, queue } => self.enqueue(*port, *queue, out),
            _ => out.push(Node::new(
                NodeKind::Warn,
                "action not supported by ferrovs translation".into(),
            )),
        }
    }

    /// A set_field or load: applied only when the packet has the field
    /// (its prerequisites, which the megaflow then matches).
    fn set_field_checked(&mut self, f: usize, value: u128, mask: u128, out: &mut Vec<Node>) {
        if !self.prereqs_ok(f) {
            out.push(Node::new(
                NodeKind::Warn,
                format!(
                    "unmet prerequisites for {}, set_field ignored",
                    FIELDS[f].name
                ),
            ));
            return;
        }
        // Writing an IP header field depends on the IP protocol (the
        // datapath's set action carries it).
        let et = self.get(id::ETH_TYPE) as u16;
        let l3 = [
            id::IP_SRC,
            id::IP_DST,
            id::IPV6_SRC,
            id::IPV6_DST,
            id::IPV6_LABEL,
            id::IP_DSCP,
            id::NW_TOS,
            id::NW_ECN,
            id::NW_TTL,
        ];
        if (et == eth_type::IP || et == eth_type::IPV6) && l3.contains(&f) {
            self.exact(id::NW_PROTO);
        }
        self.set_field(f, value, mask);
    }

    /// Whether the flow has field `f`; the fields this depends on join
    /// the megaflow.
    fn prereqs_ok(&mut self, f: usize) -> bool {
        use crate::openflow::fields::Prereq;
        let p = FIELDS.get(f).map_or(Prereq::None, |d| d.prereq);
        if matches!(
            p,
            Prereq::Tcp | Prereq::Udp | Prereq::Sctp | Prereq::Icmp4 | Prereq::Icmp6
        ) {
            let et = self.get(id::ETH_TYPE) as u16;
            if et == eth_type::IP || et == eth_type::IPV6 {
                self.exact(id::NW_PROTO);
            }
        }
        let mut m = Match::catchall();
        m.key.copy_from_slice(&self.flow[..]);
        m.prereq_ok(p)
    }

    fn set_field(&mut self, f: usize, value: u128, mask: u128) {
        let f = storage_field(f);
        let (f, value, mask) = match f {
            // vlan_vid as OpenFlow 1.2+ sees it: the present bit is CFI.
            x if x == id::VLAN_VID => (id::VLAN_TCI, value & 0x1fff, mask & 0x1fff),
            x if x == id::DL_VLAN => (
                id::VLAN_TCI,
                (value & 0xfff) | 0x1000,
                (mask & 0xfff) | 0x1000,
            ),
            x if x == id::VLAN_PCP || x == id::DL_VLAN_PCP => (
                id::VLAN_TCI,
                ((value & 7) << 13) | 0x1000,
                ((mask & 7) << 13) | 0x1000,
            ),
            x if x == id::IP_DSCP => (id::NW_TOS, (value & 0x3f) << 2, (mask & 0x3f) << 2),
            x if !is_storage(x) && frange(x).is_empty() => return,
            x => (x, value, mask),
        };
        let old = self.get(f);
        self.unwildcard(f, mask);
        self.set(f, (old & !mask) | (value & mask));
        if f == id::VLAN_TCI && self.get(f) as u16 & 0x0fff != 0 {
            let tci = self.get(f) as u16 | VLAN_CFI;
            self.set(f, tci as u128);
        }
    }

    fn set_l3(&mut self, f: usize, value: u128, mask: u128) {
        let et = self.get(id::ETH_TYPE) as u16;
        if et == eth_type::IP || (et == eth_type::IPV6 && f != id::IP_SRC && f != id::IP_DST) {
            self.exact(id::NW_PROTO);
            self.set_field(f, value, mask);
        }
    }

    fn set_l4(&mut self, src: bool, v: u16) {
        let et = self.get(id::ETH_TYPE) as u16;
        if et != eth_type::IP && et != eth_type::IPV6 {
            return;
        }
        self.exact(id::NW_PROTO);
        let f = match (self.get(id::NW_PROTO), src) {
            (6, true) => id::TCP_SRC,
            (6, false) => id::TCP_DST,
            (17, true) => id::UDP_SRC,
            (17, false) => id::UDP_DST,
            (132, true) => id::SCTP_SRC,
            (132, false) => id::SCTP_DST,
            _ => return,
        };
        self.set_field(f, v as u128, 0xffff);
    }

    fn dec_ttl(&mut self, out: &mut Vec<Node>) {
        self.dec_ttl_to(&[0], out);
    }

    /// dec_ttl whose packet-ins (TTL exceeded) go to the controllers with
    /// these ids.
    fn dec_ttl_to(&mut self, controller_ids: &[u16], out: &mut Vec<Node>) {
        let et = self.get(id::ETH_TYPE) as u16;
        if et != eth_type::IP && et != eth_type::IPV6 {
            return;
        }
        self.exact(id::NW_TTL);
        self.exact(id::NW_PROTO);
        let ttl = self.get(id::NW_TTL) as u8;
        if ttl > 1 {
            self.set(id::NW_TTL, (ttl - 1) as u128);
        } else {
            // TTL exceeded: a packet-in (reason invalid_ttl) instead of
            // the rest of this rule's actions.
            let what = if et == eth_type::IP { "IPv4" } else { "IPv6" };
            out.push(Node::new(
                NodeKind::Warn,
                format!("{what} decrement TTL exception"),
            ));
            for &id in controller_ids {
                self.controller(u16::MAX, id, REASON_INVALID_TTL, &[]);
            }
            self.stop_list = true;
        }
    }

    fn reg_move(&mut self, src: usize, dst: usize, src_ofs: u16, dst_ofs: u16, n: u16) {
        let (src, dst) = (storage_field(src), storage_field(dst));
        if n == 0 || n > 128 {
            return;
        }
        let ones = if n >= 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        };
        let (so, dof) = (src_ofs as u32, dst_ofs as u32);
        let bits = self.get(src).checked_shr(so).unwrap_or(0) & ones;
        self.unwildcard(src, ones.checked_shl(so).unwrap_or(0));
        let dmask = ones.checked_shl(dof).unwrap_or(0);
        self.unwildcard(dst, dmask);
        let old = self.get(dst);
        self.set(
            dst,
            (old & !dmask) | (bits.checked_shl(dof).unwrap_or(0) & dmask),
        );
    }

    /// "NXM_NX_REG1[0..15] is now 0x1234", as the trace reports a move.
    fn subfield_now(&self, f: usize, ofs: u16, n: u16) -> String {
        let def = &FIELDS[f];
        let whole = ofs == 0 && n as u32 >= def.bits as u32;
        let name = def.header_name;
        let (sub, value) = if whole {
            let v = self.get(storage_field(f));
            let text = match f {
                id::ETH_SRC | id::ETH_DST | id::ARP_SHA | id::ARP_THA => {
                    let mut m = [0u8; 6];
                    put_be(&mut m, v);
                    m.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":")
                }
                id::IP_SRC | id::IP_DST | id::ARP_SPA | id::ARP_TPA => {
                    std::net::Ipv4Addr::from(v as u32).to_string()
                }
                _ if def.width <= 2 && !def.name.starts_with("reg") => v.to_string(),
                // Zero prints as "0", as stock prints a subvalue.
                _ if v == 0 => "0".into(),
                _ => format!("{v:#x}"),
            };
            ("[]".to_string(), text)
        } else {
            let ones = if n >= 128 {
                u128::MAX
            } else {
                (1u128 << n) - 1
            };
            let v = self
                .get(storage_field(f))
                .checked_shr(ofs as u32)
                .unwrap_or(0)
                & ones;
            let sub = if n == 1 {
                format!("[{ofs}]")
            } else {
                format!("[{}..{}]", ofs, ofs + n - 1)
            };
            (
                sub,
                if v == 0 {
                    "0".into()
                } else {
                    format!("{v:#x}")
                },
            )
        };
        format!("{name}{sub} is now {value}")
    }

    fn nx(&mut self, subtype: u16, b: &[u8], out: &mut Vec<Node>) {
        let u16at = |i: usize| {
            b.get(i..i + 2)
                .map_or(0, |x| u16::from_be_bytes([x[0], x[1]]))
        };
        match subtype {
            // resubmit / resubmit(port,table)
            1 | 14 => {
                let p = u16at(10);
                let t = if subtype == 14 {
                    b.get(12).copied().unwrap_or(255)
                } else {
                    255
                };
                self.resubmit(p, t, out);
            }
            // pop_queue, push, pop
            5 => self.pop_queue(out),
            27 => self.stack_push(b, out),
            28 => self.stack_pop(b, out),
            // note, and exit
            8 => {}
            17 => self.exit = true,
            // nat (inside ct; elsewhere it does nothing), ct_clear
            36 => self.ct_nat = Some(ct::Nat::parse(b)),
            43 => self.ct_clear(),
            // sample: nothing without an IPFIX exporter (see `sample`).
            29 | 38 | 41 => {}
            15 | 32 => self.output_reg(b, out),
            21 => self.dec_ttl_ids(b, out),
            22 => self.write_metadata_action(b, out),
            39 => self.output_trunc(b, out),
            10 => self.multipath(b, out),
            12 | 13 => self.bundle(subtype == 13, b, out),
            16 => match learn::Learn::parse(b) {
                Some(l) => self.learn(&l, out),
                None => out.push(Node::new(
                    NodeKind::Warn,
                    "learn action not supported by ferrovs translation".into(),
                )),
            },
            // controller
            20 => {
                let reason = b.get(14).copied().unwrap_or(1);
                self.controller(u16at(10), u16at(12), reason, &[]);
            }
            // controller with properties (userdata, pause)
            37 => self.controller2(b, out),
            _ => out.push(Node::new(
                NodeKind::Warn,
                "action not supported by ferrovs translation".into(),
            )),
        }
    }

    fn resubmit(&mut self, p: u16, t: u8, out: &mut Vec<Node>) {
        if self.depth >= MAX_DEPTH {
            self.error = Some("Recursion too deep".into());
            let text = format!("over max translation depth {MAX_DEPTH}");
            out.push(Node::new(NodeKind::Error, text));
            return;
        }
        if self.resubmits >= MAX_RESUBMITS {
            self.error = Some("Too many resubmits".into());
            let text = format!("over {MAX_RESUBMITS} resubmit actions");
            out.push(Node::new(NodeKind::Error, text));
            return;
        }
        if self.stack_bytes() >= stack::MAX_STACK_BYTES {
            self.error = Some("Stack too deep".into());
            let text = "resubmits yielded over 64 kB of stack".to_string();
            out.push(Node::new(NodeKind::Error, text));
            return;
        }
        self.resubmits += 1;
        let in_port = if p == port::IN_PORT {
            self.get(id::IN_PORT) as u16
        } else {
            p
        };
        let table = if t == 255 { self.table_id } else { t };
        self.table(table, in_port, out);
    }

    fn output(&mut self, p: u16, max_len: u16, out: &mut Vec<Node>) {
        let in_port = self.get(id::IN_PORT) as u16;
        let target = match p {
            port::IN_PORT => in_port,
            port::CONTROLLER => return self.controller(max_len, 0, REASON_ACTION, &[]),
            port::NORMAL => return self.normal(out),
            port::FLOOD | port::ALL => return self.flood(in_port, out),
            port::TABLE => {
                out.push(Node::new(
                    NodeKind::Warn,
                    "output to this reserved port is not supported by ferrovs translation".into(),
                ));
                return;
            }
            port::NONE => return,
            x => {
                if x == in_port {
                    out.push(Node::new(
                        NodeKind::Warn,
                        "skipping output to input port".into(),
                    ));
                    return;
                }
                x
            }
        };
        self.output_port(target, out);
    }

    /// Outputs to the port `target` (no reserved port), then mirrors
    /// what leaves there.
    fn output_port(&mut self, target: u16, out: &mut Vec<Node>) {
        if self.mirror_truncates_patch(target, out) {
            return;
        }
        if self.special_output(target, out) {
            // Tunnels are mirrored like other ports; patch ports not.
            if !self.patch_ports().contains(&target) {
                self.mirror_egress(target, out);
            }
            return;
        }
        let Some(&odp) = self.br.odp_ports.get(&target) else {
            out.push(Node::new(NodeKind::Warn, "Nonexistent output port".into()));
            return;
        };
        self.commit_rewrites();
        if (1..u16::MAX).contains(&self.mirror.snaplen) {
            self.actions
                .push(odp::Action::Trunc(self.mirror.snaplen as u32));
        }
        self.actions.push(odp::Action::Output(odp));
        self.mirror_egress(target, out);
    }

    /// On a bridge with in-band control, a DHCP reply that the actions
    /// do not send to LOCAL goes there as well, so that the local port
    /// gets its address whatever the tables say (stock's in-band rule
    /// for translation).
    fn in_band_dhcp_to_local(&mut self, out: &mut Vec<Node>) {
        if !self.br.switch.is_some_and(|s| s.in_band) {
            return;
        }
        let dhcp_reply = self.get(id::ETH_TYPE) as u16 == eth_type::IP
            && self.get(id::NW_PROTO) == 17
            && self.get(id::UDP_SRC) == 67
            && self.get(id::UDP_DST) == 68;
        let local = self.br.odp_ports.get(&port::LOCAL).copied();
        let to_local = self
            .actions
            .iter()
            .any(|a| matches!(a, odp::Action::Output(p) if Some(*p) == local));
        if !dhcp_reply || to_local {
            return;
        }
        for f in [id::NW_PROTO, id::UDP_SRC, id::UDP_DST, id::ETH_TYPE] {
            self.exact(f);
        }
        self.note(out, NodeKind::Detail, || {
            "outputting DHCP packet to local port for in-band control".into()
        });
        self.output_port(port::LOCAL, out);
    }

    /// Outputs to every port of the bridge but `except`, in port order.
    fn flood(&mut self, except: u16, out: &mut Vec<Node>) {
        let mut ports: Vec<(u16, Option<u32>)> = self
            .br
            .odp_ports
            .iter()
            .filter(|(&p, _)| p != except)
            .map(|(&p, &o)| (p, Some(o)))
            .collect();
        // Patch ports have no datapath port but flood all the same.
        ports.extend(
            self.patch_ports()
                .into_iter()
                .filter(|&p| p != except)
                .map(|p| (p, None)),
        );
        ports.sort_unstable();
        ports.dedup_by_key(|p| p.0);
        for (ofport, odp) in ports {
            if self.special_output(ofport, out) {
                continue;
            }
            let Some(odp) = odp else { continue };
            self.commit_rewrites();
            self.actions.push(odp::Action::Output(odp));
            self.mirror_egress(ofport, out);
        }
    }

    /// A packet-in: a userspace action whose cookie carries the reason,
    /// the rule's cookie and a recirculation id for the continuation, as
    /// stock lays it out (`user_action_cookie`).
    fn controller(&mut self, max_len: u16, controller_id: u16, mut reason: u8, userdata: &[u8]) {
        // From a table-miss rule (priority 0, matching everything), an
        // action's packet-in is an explicit miss, as in stock.
        if reason == REASON_ACTION {
            let miss_rule = self
                .br
                .tables
                .get(self.table_id as usize)
                .and_then(|cls| cls.find_exact(&Match::catchall(), 0));
            if miss_rule.is_some_and(|r| self.cur_rule.is_some_and(|c| std::ptr::eq(r, c))) {
                reason = REASON_EXPLICIT_MISS;
            }
        }
        self.commit_rewrites();
        // The frozen state names the bridge, table and metadata the
        // packet-in reports (shared by equal states, so revalidation
        // finds the same actions).
        let recirc_id = packet_in::freeze(
            self.br.name,
            self.table_id,
            &self.flow,
            userdata,
            self.frozen_tunnel(),
        );
        let cookie = packet_in::ControllerCookie {
            // Only ofproto/trace describes rules; it must not send.
            dont_send: self.br.describe_rules,
            continuation: false,
            reason,
            recirc_id,
            rule_cookie: self.rule_cookie,
            controller_id,
            max_len,
        };
        self.actions.push(odp::Action::Userspace(Userspace {
            pid: packet_in::upcall_pid(),
            userdata: Some(cookie.encode()),
            ..Userspace::default()
        }));
    }
}

/// A flow to trace, in one of the two syntaxes `ofproto/trace` takes.
#[derive(Debug, Clone)]
pub enum TraceFlow {
    /// `in_port=1,tcp,nw_dst=10.0.0.1`
    OpenFlow(String),
    /// `in_port(1),eth(...),eth_type(0x0800),...`
    Odp(String),
}

/// An `ofproto/trace` request for one bridge.
#[derive(Debug, Clone)]
pub struct TraceRequest {
    pub flow: TraceFlow,
    /// OpenFlow port number to datapath port number, for the bridge's
    /// ports (the daemon knows both).
    pub odp_ports: HashMap<u16, u32>,
    /// `--ct-next` states for the conntrack recirculations followed, in
    /// order (trk|new for those beyond).
    pub ct_next: Vec<u32>,
    /// `ofproto/trace-packet-out`: the packet-out's actions, which run
    /// instead of the tables.
    pub packet_out: Option<PacketOutTrace>,
}

/// The packet-out `ofproto/trace-packet-out` traces.
#[derive(Debug, Clone, Default)]
pub struct PacketOutTrace {
    pub actions: Vec<Action>,
    /// `-consistent`: actions must fit the flow (their fields' prerequisites).
    pub consistent: bool,
}

/// Stock's checks of a packet-out's actions before it is traced
/// (`handle_packet_out`'s): the groups they name exist, and the actions
/// fit the flow as a rule's fit its match (OpenFlow 1.0's leniency for
/// the old set actions, unless `-consistent`).
fn check_packet_out(
    sw: &crate::switch::Switch,
    flow: &flow_text::FlowKey,
    po: &PacketOutTrace,
) -> Result<(), String> {
    let missing_group = |a: &Action| matches!(a, Action::Group(g) if !sw.groups.contains_key(g));
    if po.actions.iter().any(missing_group) {
        return Err("Bad actions: OFPBAC_BAD_OUT_GROUP".into());
    }
    let mut m = Match::catchall();
    m.key.copy_from_slice(&flow[..]);
    m.mask.fill(0xff);
    let ins = Instructions {
        apply: po.actions.clone(),
        ..Instructions::default()
    };
    let version = if po.consistent { 4 } else { 1 };
    crate::switch::check_consistency(&m, &ins, version).map_err(|e| format!("Bad actions: {e:?}"))
}

/// Parses a `--ct-next` argument (`trk,est`, flags separated by commas
/// or spaces) as stock does: a known flag each, and no flag without trk.
pub fn parse_ct_next(s: &str) -> Result<u32, String> {
    const NAMES: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
    let mut state = 0u32;
    for f in s.split([',', ' ']).filter(|f| !f.is_empty()) {
        let bit = NAMES
            .iter()
            .position(|n| *n == f)
            .ok_or_else(|| format!("{f}: unknown connection tracking state flag"))?;
        state |= 1 << bit;
    }
    let names: Vec<&str> = (0..8)
        .filter(|i| state >> i & 1 == 1)
        .map(|i| NAMES[i])
        .collect();
    let names = names.join("|");
    let (new, est, rpl, inv, trk) = (1, 2, 8, 16, 32);
    let mut err = String::new();
    let mut bad = |why: &str| {
        err.push_str(&format!("{names}: invalid connection state: {why}\n"));
    };
    if state != 0 && state & trk == 0 {
        bad("If \"trk\" is unset, no other flags are set");
    }
    if state & inv != 0 && state & !(trk | inv) != 0 {
        bad("when \"inv\" is set, only \"trk\" may also be set");
    }
    if state & new != 0 && state & est != 0 {
        bad("\"new\" and \"est\" are mutually exclusive");
    }
    if state & new != 0 && state & rpl != 0 {
        bad("\"new\" and \"rpy\" are mutually exclusive");
    }
    if !err.is_empty() {
        return Err(err);
    }
    Ok(state)
}

/// Translates the request's flow through `sw` and prints the report.
pub fn trace_switch(sw: &crate::switch::Switch, req: &TraceRequest) -> Result<String, String> {
    let mut deeper = [0; 2];
    let flow = match &req.flow {
        TraceFlow::OpenFlow(s) => {
            let names: HashMap<String, u16> = sw
                .ports
                .iter()
                .map(|p| (p.name.clone(), p.ofp_port))
                .collect();
            flow_text::parse_of_flow(s, &names)
                .map_err(|e| format!("Bad openflow flow syntax: {s}: {e}"))?
        }
        TraceFlow::Odp(s) => {
            let key = odp::Key::parse_text(s).map_err(|e| e.message)?;
            let ofports: HashMap<u32, u16> = req.odp_ports.iter().map(|(&o, &d)| (d, o)).collect();
            deeper = mpls::Deeper::of_key(&key);
            flow_text::from_odp(&key, &ofports)?
        }
    };
    if let Some(po) = &req.packet_out {
        check_packet_out(sw, &flow, po)?;
    }
    let run = |flow: &flow_text::FlowKey, deeper: [u32; 2], packet_out: Option<&[Action]>| {
        upcall::with_bridge(sw, &req.odp_ports, false, |br| {
            translate_received(
                br,
                None,
                flow,
                Received {
                    deeper_labels: deeper,
                    packet_out,
                    ..Received::default()
                },
            )
        })
    };
    Ok(report_with_forks(&flow, deeper, req, run))
}

/// The trace of `flow`, then of the packets it forked to recirculate, in
/// fork order, as stock prints them (each may fork more). `run`
/// translates a flow.
fn report_with_forks(
    flow: &flow_text::FlowKey,
    deeper: [u32; 2],
    req: &TraceRequest,
    run: impl Fn(&flow_text::FlowKey, [u32; 2], Option<&[Action]>) -> Xlated,
) -> String {
    // A packet-out's actions run once: its forks resume frozen states.
    let x = run(
        flow,
        deeper,
        req.packet_out.as_ref().map(|p| &p.actions[..]),
    );
    let mut out = trace::report(flow, &x);
    // Every fork's report is headed by the traced bridge, even when it
    // resumes in a patch peer (as stock prints it).
    let traced = x.trace.first().map(|n| n.text.clone());
    let mut queue: std::collections::VecDeque<TraceFork> = x.forks.into();
    let mut ct_next = req.ct_next.iter().copied();
    let rule = "=".repeat(79);
    while let Some(mut fork) = queue.pop_front() {
        let banner = fork.banner(ct_next.next());
        out.push_str(&format!("\n{rule}\n{banner}{rule}\n\n"));
        let mut x = run(&fork.flow, [0; 2], None);
        if let (Some(text), Some(root)) = (&traced, x.trace.first_mut()) {
            root.text.clone_from(text);
        }
        out.push_str(&trace::report(&fork.flow, &x));
        queue.extend(x.forks);
    }
    out
}

/// `ofproto/trace` through `bridge`, one of `switches`, with patch ports
/// and tunnels reaching the others through `topo`.
pub fn trace_world<S: std::hash::BuildHasher>(
    switches: &HashMap<&str, &crate::switch::Switch, S>,
    topo: Option<&topology::Topology>,
    bridge: &str,
    req: &TraceRequest,
) -> Result<String, String> {
    let sw = switches
        .get(bridge)
        .ok_or_else(|| format!("no bridge named {bridge}"))?;
    let Some(topo) = topo.filter(|t| t.bridges.contains_key(bridge)) else {
        return trace_switch(sw, req);
    };
    let mut retarget: Option<String> = None;
    let mut deeper = [0; 2];
    let mut outer_ports = (0, 0);
    let flow = match &req.flow {
        TraceFlow::OpenFlow(s) => {
            let names: HashMap<String, u16> = sw
                .ports
                .iter()
                .map(|p| (p.name.clone(), p.ofp_port))
                .collect();
            flow_text::parse_of_flow(s, &names)
                .map_err(|e| format!("Bad openflow flow syntax: {s}: {e}"))?
        }
        TraceFlow::Odp(s) => {
            let key = odp::Key::parse_text(s).map_err(|e| e.message)?;
            outer_ports = tunnel::outer_ports(&key);
            let mut ofports: HashMap<u32, u16> =
                req.odp_ports.iter().map(|(&o, &d)| (d, o)).collect();
            // A decapsulated packet goes to its tunnel port's bridge.
            let target = tunnel::receive_target(topo, &key)?;
            if let Some((b, odp, p, _)) = &target {
                ofports = topo
                    .bridges
                    .get(b)
                    .map(|bt| bt.odp_ports.iter().map(|(&o, &d)| (d, o)).collect())
                    .unwrap_or_default();
                ofports.insert(*odp, *p);
            }
            let mut flow = flow_text::from_odp(&key, &ofports)?;
            deeper = mpls::Deeper::of_key(&key);
            let owner = target.as_ref().map_or(bridge, |t| t.0.as_str());
            if let Some(sw) = switches.get(owner) {
                tunnel::geneve_options_to_flow(&key, &sw.tlv_table, Some(&mut flow))?;
            }
            if let Some((b, _, _, t)) = target {
                t.to_flow(&mut flow);
                retarget = Some(b);
            }
            flow
        }
    };
    let bridge = retarget.as_deref().unwrap_or(bridge);
    if let (Some(po), Some(sw)) = (&req.packet_out, switches.get(bridge)) {
        check_packet_out(sw, &flow, po)?;
    }
    let no_groups = std::collections::BTreeMap::new();
    let run = |flow: &flow_text::FlowKey, deeper: [u32; 2], packet_out: Option<&[Action]>| {
        patch::with_world(switches, topo, false, true, |w| {
            match w.bridges.get(bridge) {
                Some(br) => translate_received(
                    br,
                    Some(w),
                    flow,
                    Received {
                        deeper_labels: deeper,
                        outer_ports,
                        packet_out,
                    },
                ),
                None => translate(
                    &Bridge {
                        name: bridge,
                        tables: &[],
                        table_miss: &[],
                        odp_ports: &req.odp_ports,
                        groups: &no_groups,
                        side_effects: false,
                        describe_rules: true,
                        switch: None,
                    },
                    flow,
                ),
            }
        })
    };
    Ok(report_with_forks(&flow, deeper, req, run))
}

/// Which actions may end an action set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SetEnd {
    /// A write_actions set: only output or group.
    OutputOrGroup,
    /// A group bucket: also resubmit or ct.
    AlsoResubmitOrCt,
}

/// `set` in OpenFlow's action-set order: the last of each single-kind
/// action (strip_vlan, pop_mpls, push_mpls, push_vlan, dec_ttl,
/// dec_mpls_ttl), every rewrite, the last set_queue, then the terminal
/// action that `end` allows; nothing at all without a terminal.
pub(super) fn action_set_order(set: &[Action], end: SetEnd) -> Vec<Action> {
    if set.is_empty() {
        return Vec::new();
    }
    let last = |f: &dyn Fn(&Action) -> bool| set.iter().rev().find(|a| f(a)).cloned();
    let mut list = Vec::new();
    let kinds: [&dyn Fn(&Action) -> bool; 6] = [
        &|a| matches!(a, Action::StripVlan),
        &|a| matches!(a, Action::PopMpls(_)),
        &|a| matches!(a, Action::PushMpls(_)),
        &|a| matches!(a, Action::PushVlan(_)),
        &|a| matches!(a, Action::DecTtl),
        &|a| matches!(a, Action::DecMplsTtl),
    ];
    for k in kinds {
        list.extend(last(k));
    }
    list.extend(set.iter().filter(|a| is_rewrite(a)).cloned());
    list.extend(last(&|a| matches!(a, Action::SetQueue(_))));
    let mut terminal = last(&|a| matches!(a, Action::Group(_)))
        .or_else(|| last(&|a| matches!(a, Action::Output { .. })));
    if end == SetEnd::AlsoResubmitOrCt {
        terminal = terminal
            .or_else(|| {
                last(&|a| {
                    matches!(
                        a,
                        Action::Nx {
                            subtype: 1 | 14 | 44,
                            ..
                        }
                    )
                })
            })
            .or_else(|| last(&|a| matches!(a, Action::NxNested { subtype: 35, .. })));
    }
    match terminal {
        Some(t) => list.push(t),
        None => list.clear(),
    }
    list
}

fn is_rewrite(a: &Action) -> bool {
    matches!(
        a,
        Action::SetField { .. }
            | Action::Move { .. }
            | Action::SetEthSrc(_)
            | Action::SetEthDst(_)
            | Action::SetIpv4Src(_)
            | Action::SetIpv4Dst(_)
            | Action::SetIpDscp(_)
            | Action::SetIpEcn(_)
            | Action::SetL4Src(_)
            | Action::SetL4Dst(_)
            | Action::SetIpTtl(_)
            | Action::SetVlanVid(_)
            | Action::SetVlanPcp(_)
            | Action::SetMplsLabel(_)
            | Action::SetMplsTc(_)
            | Action::SetMplsTtl(_)
    )
}

/// The match and priority of `rule` in `cls` (for the trace text).
fn find_match(cls: &Classifier<Rule>, rule: &Rule) -> (Match, u32) {
    cls.match_of(rule).unwrap_or_default()
}

/// A trace's line for a rule hit in `table`: " 0. MATCH, priority P[, cookie C]".
fn rule_line(cls: &Classifier<Rule>, rule: &Rule, table: u8) -> String {
    let (m, prio) = find_match(cls, rule);
    let mut text = format!("{table:2}. ");
    text.push_str(&crate::openflow::text::format_match(&m, 32768));
    if !text.ends_with(' ') {
        text.push_str(", ");
    }
    text.push_str(&format!("priority {prio}"));
    if rule.cookie != 0 {
        text.push_str(&format!(", cookie {:#x}", rule.cookie));
    }
    text
}

/// The storage field behind an alias whose value reads the same.
fn storage_field(f: usize) -> usize {
    if f == id::IN_PORT_OXM {
        id::IN_PORT
    } else {
        f
    }
}

/// The key bytes of field `f`: storage fields own theirs; xregs and
/// xxregs are views of consecutive registers; other aliases are handled
/// by their users (vlan and dscp views), so they get an empty range.
pub(crate) fn frange(f: usize) -> std::ops::Range<usize> {
    match FRANGES.get(f) {
        Some(&(start, end)) => start as usize..end as usize,
        None => 0..0,
    }
}

/// Every field's `frange`, worked out at compile time: translation asks
/// for field ranges all the time, and a table of 4-byte entries stays
/// in cache where the field table (a cache line per field) does not.
const FRANGES: [(u16, u16); N_FIELDS] = franges();

const fn franges() -> [(u16, u16); N_FIELDS] {
    let mut out = [(0u16, 0u16); N_FIELDS];
    let mut f = 0;
    while f < N_FIELDS {
        out[f] = if f >= id::XREG0 && f <= id::XREG7 {
            let start = OFFSETS[id::REG0 + 2 * (f - id::XREG0)];
            (start, start + 8)
        } else if f >= id::XXREG0 && f <= id::XXREG3 {
            let start = OFFSETS[id::REG0 + 4 * (f - id::XXREG0)];
            (start, start + 16)
        } else if !FIELDS[f].alias {
            (OFFSETS[f], OFFSETS[f] + FIELDS[f].width as u16)
        } else {
            (0, 0)
        };
        f += 1;
    }
    out
}

/// The big-endian value of `b` (its last 16 bytes when longer): one copy
/// and a byte swap, not a shift per byte (translation reads fields all
/// the time).
pub(crate) fn be(b: &[u8]) -> u128 {
    let tail = &b[b.len().saturating_sub(16)..];
    let mut w = [0u8; 16];
    w[16 - tail.len()..].copy_from_slice(tail);
    u128::from_be_bytes(w)
}

/// Writes `v` big-endian into `out` (truncated to its width; zeros
/// before the last 16 bytes when wider).
pub(crate) fn put_be(out: &mut [u8], v: u128) {
    let bytes = v.to_be_bytes();
    let n = out.len();
    if n <= 16 {
        out.copy_from_slice(&bytes[16 - n..]);
    } else {
        let (head, tail) = out.split_at_mut(n - 16);
        head.fill(0);
        tail.copy_from_slice(&bytes);
    }
}

/// Whether storage field `f` exists in the key (aliases do not).
pub(crate) fn is_storage(f: usize) -> bool {
    FIELDS.get(f).is_some_and(|d| !d.alias)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod world_tests;
