//! A bridge as an OpenFlow switch: its flow tables, ports and the handling
//! of every request a connection sends (one message in, replies out).

use crate::classifier::Classifier;
use crate::openflow::actions::{self, port, Instructions};
use crate::openflow::error_table::{triplet, OfpErr};
use crate::openflow::fields::{port_from_of11, port_to_of11, Match};
use crate::openflow::groups::{self, Group};
use crate::openflow::meters::{self, Meter};
use crate::openflow::wire::{Put, Reader};
use crate::openflow::{nxm, ofp10, ofp11};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Number of flow tables, as stock Open vSwitch advertises (0..=253).
pub const N_TABLES: u8 = 254;
const NX_VENDOR: u32 = 0x0000_2320;
/// Port config bits OpenFlow 1.1+ has (port_down, no_recv, no_fwd,
/// no_packet_in); no_stp, no_recv_stp and no_flood exist only in 1.0.
const CONFIG_OF11: u32 = 0x1 | 0x4 | 0x20 | 0x40;
/// Port config bits a port_mod may change.
const CONFIG_SETTABLE: u32 = 0x1 | 0x4 | 0x10 | 0x20 | 0x40;
/// Port state bits (OpenFlow 1.1+): link down and live.
const STATE_LINK_DOWN: u32 = 0x1;
const STATE_LIVE: u32 = 0x4;

/// A packet a controller asked the switch to send (PACKET_OUT), for the
/// datapath to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOut {
    /// The port the packet is treated as coming from (OFPP_CONTROLLER,
    /// LOCAL or NONE allowed).
    pub in_port: u16,
    pub actions: Vec<actions::Action>,
    pub packet: Vec<u8>,
}

/// Executes packet-outs (the daemon's datapath).
pub type PacketOutHook = std::sync::Arc<dyn Fn(PacketOut) + Send + Sync>;

/// A packet the datapath sends to the controllers (after translation of
/// a table miss or a controller action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketIn {
    /// OFPR_*: 0 no_match, 1 action, 2 invalid_ttl, 3 action_set,
    /// 4 group, 5 packet_out (the last three read as 1 before OF1.4).
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    /// Pipeline fields of the packet (in_port at least; metadata,
    /// registers, tunnel fields when set).
    pub metadata: Match,
    pub packet: Vec<u8>,
    /// The controller action's max_len (kept for NXT_PACKET_IN2; the
    /// switch has no buffers, so the whole packet is sent).
    pub max_len: u16,
}

/// Called when a port_mod changes a port's config bits (OpenFlow 1.0
/// numbering): the daemon brings the device down or up for port_down.
pub type PortModHook = std::sync::Arc<dyn Fn(u16, u32) + Send + Sync>;

pub const ROLE_EQUAL: u32 = 1;
pub const ROLE_PRIMARY: u32 = 2;
pub const ROLE_SECONDARY: u32 = 3;

/// Why a rule went away (OFPRR_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedReason {
    IdleTimeout = 0,
    HardTimeout = 1,
    Delete = 2,
    GroupDelete = 3,
    MeterDelete = 4,
}

/// A rule removed with send_flow_rem set: a flow-removed message is owed
/// to the connections.
#[derive(Debug, Clone)]
pub struct RemovedRule {
    pub table_id: u8,
    pub m: Match,
    pub priority: u16,
    pub rule: Rule,
    pub reason: RemovedReason,
    pub at: Instant,
}

/// A table's TABLE_MOD settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableConfig {
    /// The Flow_Table name ("" for none).
    pub name: String,
    /// Table-miss behaviour as Open vSwitch numbers it internally: 0
    /// default, 1 controller, 2 continue, 3 drop.
    pub miss: u32,
    pub eviction: bool,
    /// Vacancy events: (vacancy_down, vacancy_up) percentages when on.
    pub vacancy: Option<(u8, u8)>,
}

/// A table name in a 32-byte NUL-padded field.
fn put_name32(name: &str, out: &mut Vec<u8>) {
    let b = name.as_bytes();
    let n = b.len().min(31);
    out.extend_from_slice(&b[..n]);
    out.put_zeros(32 - n);
}

/// The eviction flags Open vSwitch reports: other, importance, lifetime.
const EVICTION_FLAGS: u32 = 0x7;

/// A flow monitor a connection registered (NXST_FLOW_MONITOR).
#[derive(Debug, Clone)]
pub struct Monitor {
    pub id: u32,
    /// NXFMF_*: initial 1, add 2, delete 4, modify 8, actions 16, own 32
    /// (OpenFlow 1.4 requests are translated to these).
    pub flags: u16,
    pub out_port: u16,
    pub out_group: u32,
    pub table_id: u8,
    pub m: Match,
}

/// A change to a rule, for flow monitors.
#[derive(Debug, Clone)]
pub struct FlowEvent {
    /// 0 added, 1 deleted, 2 modified.
    pub event: u16,
    pub reason: u16,
    pub table_id: u8,
    pub m: Match,
    pub priority: u16,
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub instructions: Instructions,
    /// The actions before a modification changed them.
    pub old_instructions: Option<Instructions>,
    /// The connection (service token) and xid of the request that caused
    /// it, if any.
    pub origin: Option<(usize, u32)>,
}

/// A port change for port-status messages: OFPPR_ADD 0, DELETE 1,
/// MODIFY 2.
#[derive(Debug, Clone)]
pub struct PortChange {
    pub reason: u8,
    pub port: PortInfo,
}
const ONF_VENDOR: u32 = 0x4f4e_4600;
const NO_BUFFER: u32 = 0xffff_ffff;
const OFPG_ANY: u32 = 0xffff_ffff;
/// Replies are split so that no message exceeds this length.
const MAX_MSG: usize = 65535;

/// One port as the daemon describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortInfo {
    pub ofp_port: u16,
    pub name: String,
    pub hw_addr: [u8; 6],
    /// OFPPC_* bits (port_down 1, no_recv 4, no_fwd 32, no_packet_in 64).
    pub config: u32,
    /// OpenFlow 1.1+ OFPPS_* bits (link_down 1, blocked 2, live 4).
    pub state: u32,
    /// OFPPF_* feature bits (OpenFlow 1.1+ layout).
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    /// kbps.
    pub curr_speed: u32,
    pub max_speed: u32,
}

/// Counters of one port, as the daemon reads them from the device;
/// `u64::MAX` marks a counter the device does not keep (shown as "?").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_errors: u64,
    pub rx_over_errors: u64,
    pub rx_crc_errors: u64,
    pub collisions: u64,
}

impl PortStats {
    /// Every counter unknown.
    pub const UNKNOWN: PortStats = PortStats {
        rx_packets: u64::MAX,
        tx_packets: u64::MAX,
        rx_bytes: u64::MAX,
        tx_bytes: u64::MAX,
        rx_dropped: u64::MAX,
        tx_dropped: u64::MAX,
        rx_errors: u64::MAX,
        tx_errors: u64::MAX,
        rx_frame_errors: u64::MAX,
        rx_over_errors: u64::MAX,
        rx_crc_errors: u64::MAX,
        collisions: u64::MAX,
    };
}

/// Where port counters come from: called on the service thread for each
/// port a statistics request covers; `None` means "all unknown".
pub type PortStatsSource = std::sync::Arc<dyn Fn(u16) -> Option<PortStats> + Send + Sync>;

/// A flow rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub importance: u16,
    /// OFPFF_* in OpenFlow 1.3 numbering (send_flow_rem 1, check_overlap 2,
    /// reset_counts 4, no_pkt_counts 8, no_byt_counts 16).
    pub flags: u16,
    pub instructions: Instructions,
    pub created: Instant,
    pub modified: Instant,
    pub used: Instant,
    pub packet_count: u64,
    pub byte_count: u64,
}

/// One change inside a bundle, decoded when it was added.
enum BundleOp {
    Flow(Box<FlowMod>),
    Group(groups::GroupMod),
}

/// An open bundle of a connection.
struct Bundle {
    flags: u16,
    closed: bool,
    /// Each change with the BUNDLE_ADD message that carried it (echoed in
    /// the error if the change fails at commit).
    entries: Vec<(BundleOp, Vec<u8>)>,
}

/// Which asynchronous messages a connection wants: for each kind
/// (packet-in, port-status, flow-removed, role-status, table-status,
/// requestforward) a reason mask for when it is primary/equal and one for
/// when it is secondary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncConfig {
    pub primary: [u32; 6],
    pub secondary: [u32; 6],
}

/// Reasons each kind may have before OpenFlow 1.4 and from 1.4 on.
const ASYNC_ALLOWED10: [u32; 6] = [0x07, 0x07, 0x3f, 0x07, 0x18, 0x03];
const ASYNC_ALLOWED14: [u32; 6] = [0x3f, 0x07, 0x3f, 0x07, 0x18, 0x03];

impl AsyncConfig {
    /// Stock's default for a connection of `version`: packet-ins for every
    /// reason but invalid TTL, all port changes (also as secondary), and
    /// the flow-removed reasons the version knows.
    pub fn default_for(version: u8) -> Self {
        let fr = match version {
            5.. => 0x3f,
            4 => 0x0f,
            _ => 0x07,
        };
        AsyncConfig {
            primary: [0x3f & !0x4, 0x7, fr, 0, 0, 0],
            secondary: [0, 0x7, 0, 0, 0, 0],
        }
    }

    fn allowed(version: u8) -> [u32; 6] {
        if version >= 5 {
            ASYNC_ALLOWED14
        } else {
            ASYNC_ALLOWED10
        }
    }

    /// Whether a message of `kind` for `reason` goes to a connection in
    /// `role`.
    pub fn wants(&self, role: u32, kind: usize, reason: u8) -> bool {
        let masks = if role == ROLE_SECONDARY {
            &self.secondary
        } else {
            &self.primary
        };
        masks.get(kind).is_some_and(|m| m >> reason & 1 == 1)
    }
}

/// Per-connection protocol state that changes how messages are read.
pub struct ConnState {
    pub version: u8,
    /// NXT_SET_FLOW_FORMAT: true once the peer asked for NXM.
    pub nxm: bool,
    /// NXT_FLOW_MOD_TABLE_ID enabled.
    pub table_id_ext: bool,
    pub packet_in_format: u32,
    pub miss_send_len: u16,
    /// OpenFlow 1.2 role numbering: 1 equal, 2 primary, 3 secondary.
    pub role: u32,
    /// SET_ASYNC configuration; None means the version's default.
    pub async_config: Option<AsyncConfig>,
    pub monitors: Vec<Monitor>,
    bundles: HashMap<u32, Bundle>,
}

impl ConnState {
    pub fn async_config(&self) -> AsyncConfig {
        self.async_config
            .unwrap_or_else(|| AsyncConfig::default_for(self.version))
    }

    pub fn new(version: u8) -> Self {
        ConnState {
            version,
            nxm: false,
            table_id_ext: false,
            packet_in_format: 0,
            miss_send_len: 0,
            role: ROLE_EQUAL,
            async_config: None,
            monitors: Vec::new(),
            bundles: HashMap::new(),
        }
    }
}

/// The switch state of one bridge.
pub struct Switch {
    pub name: String,
    pub datapath_id: u64,
    pub ports: Vec<PortInfo>,
    /// When each port number first appeared (port statistics durations).
    pub port_added: HashMap<u16, Instant>,
    pub port_stats: Option<PortStatsSource>,
    pub port_mod_hook: Option<PortModHook>,
    pub packet_out_hook: Option<PacketOutHook>,
    pub tables: Vec<Classifier<Rule>>,
    /// OFPC_FRAG_* handling set by SET_CONFIG.
    pub frag_flags: u16,
    /// Per-table settings from TABLE_MOD.
    pub table_cfg: Vec<TableConfig>,
    /// The group table, by group id, with each group's creation time.
    pub groups: BTreeMap<u32, (Group, Instant)>,
    /// The meter table, by meter id, with each meter's creation time.
    pub meters: BTreeMap<u32, (Meter, Instant)>,
    /// Replies that must precede the reply (or error) of the message
    /// being handled.
    early_replies: Vec<Vec<u8>>,
    /// Rules with a timeout (0 lets the service sleep without a timer).
    n_timeouts: usize,
    /// Flow-removed and port-status messages owed to the connections,
    /// drained by the service after each event.
    pub removed: Vec<RemovedRule>,
    pub port_changes: Vec<PortChange>,
    /// The last primary election generation id, if any was given.
    pub election_id: Option<u64>,
    /// Set when a connection became primary: the service demotes the
    /// bridge's other primary connections to secondary.
    pub demote_others: bool,
    /// Rule changes for flow monitors, recorded while `monitoring`.
    pub flow_events: Vec<FlowEvent>,
    pub monitoring: bool,
    /// Set by the service around `handle`: who is asking.
    pub event_origin: Option<(usize, u32)>,
}

/// A message header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    pub length: u16,
    pub xid: u32,
}

impl Header {
    pub fn parse(b: &[u8]) -> Option<Header> {
        let mut r = Reader::new(b);
        Some(Header {
            version: r.u8()?,
            msg_type: r.u8()?,
            length: r.u16()?,
            xid: r.u32()?,
        })
    }
}

/// Starts a message; `finish` patches the length.
pub fn start(version: u8, msg_type: u8, xid: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.put_u8(version);
    m.put_u8(msg_type);
    m.put_u16(0);
    m.put_u32(xid);
    m
}

pub fn finish(mut m: Vec<u8>) -> Vec<u8> {
    let len = m.len().min(u16::MAX as usize) as u16;
    m.set_u16(2, len);
    m
}

/// The OFPT_ERROR for `err` replying to `request` (whose bytes are echoed
/// back, as much as fits), in `version` or OpenFlow 1.0 when `version` is
/// unknown.
pub fn error_msg(err: OfpErr, version: u8, xid: u32, request: &[u8]) -> Vec<u8> {
    let v = if (1..=6).contains(&version) {
        version
    } else {
        1
    };
    let (vendor, ty, code) = triplet(err, v)
        .or_else(|| triplet(OfpErr::NXBRC_UNENCODABLE_ERROR, v))
        .unwrap_or((0, 1, 0));
    let mut m = start(v, 1, xid);
    if vendor == 0 {
        m.put_u16(ty);
        m.put_u16(code);
    } else if v <= 2 {
        m.put_u16(0xb0c2);
        m.put_u16(0);
        m.put_u32(vendor);
        m.put_u16(ty);
        m.put_u16(code);
    } else {
        m.put_u16(0xffff);
        m.put_u16(ty);
        m.put_u32(vendor);
    }
    let room = MAX_MSG - m.len();
    m.extend_from_slice(&request[..request.len().min(room)]);
    finish(m)
}

/// The HELLO a switch sends: the highest allowed version in the header,
/// plus a version bitmap element unless the allowed versions are simply
/// "this version and all earlier ones" (as stock decides).
pub fn hello(allowed: u32) -> Vec<u8> {
    let top = (1..=6u8)
        .rev()
        .find(|v| allowed & (1 << v) != 0)
        .unwrap_or(1);
    let mut m = start(top, 0, 0);
    if !((allowed >> 1) + 1).is_power_of_two() {
        m.put_u16(1);
        m.put_u16(8);
        m.put_u32(allowed);
    }
    finish(m)
}

/// Parses a peer HELLO: its version bitmap (from the element if present,
/// else all versions up to the header's).
pub fn hello_versions(msg: &[u8]) -> u32 {
    let h = match Header::parse(msg) {
        Some(h) => h,
        None => return 0,
    };
    let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
    while r.len() >= 4 {
        let ty = r.u16().unwrap_or(0);
        let len = r.u16().unwrap_or(0) as usize;
        if len < 4 {
            break;
        }
        let body = match r.bytes(len - 4) {
            Some(b) => b,
            None => break,
        };
        if ty == 1 {
            let mut b = Reader::new(body);
            if let Some(bm) = b.u32() {
                return bm;
            }
        }
        let pad = (8 - len % 8) % 8;
        if r.skip(pad).is_none() {
            break;
        }
    }
    if h.version >= 1 && h.version < 31 {
        (1u32 << (h.version + 1)) - 2
    } else {
        0
    }
}

type Res = Result<Vec<Vec<u8>>, OfpErr>;

/// A decoded flow_mod.
#[derive(Clone)]
struct FlowMod {
    m: Match,
    priority: u16,
    cookie: u64,
    cookie_mask: u64,
    new_cookie: Option<u64>,
    command: u8,
    table_id: u8,
    idle: u16,
    hard: u16,
    importance: u16,
    out_port: u16,
    out_group: u32,
    flags: u16,
    ins: Instructions,
    may_add: bool,
}

/// Filters shared by flow stats, aggregate stats and deletes.
struct Filter<'a> {
    m: &'a Match,
    table_id: u8,
    out_port: u16,
    out_group: u32,
    cookie: u64,
    cookie_mask: u64,
}

impl Filter<'_> {
    fn accepts(&self, rm: &Match, rule: &Rule) -> bool {
        (rule.cookie ^ self.cookie) & self.cookie_mask == 0
            && (self.out_port == port::NONE || rule.instructions.outputs_to(self.out_port))
            && (self.out_group == OFPG_ANY || rule.instructions.outputs_to_group(self.out_group))
            && rm.is_subsumed_by(self.m)
    }
}

/// Whether a message changes switch state (refused from a secondary
/// controller).
fn modifies_state(h: Header, msg: &[u8]) -> bool {
    let v = h.version;
    match h.msg_type {
        13 | 14 => true,
        15 => true,
        16 | 17 if v >= 2 => true,
        29 | 33 | 34 if v >= 4 => true,
        4 => {
            let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
            let vendor = r.u32().unwrap_or(0);
            let sub = r.u32().unwrap_or(0);
            (vendor == NX_VENDOR && sub == 13)
                || (vendor == ONF_VENDOR && (sub == 2300 || sub == 2301))
        }
        _ => false,
    }
}

/// OpenFlow 1.0 actions as instructions: a trailing NXAST_WRITE_METADATA
/// is the write-metadata instruction; anything after it is out of order.
fn of10_instructions(mut apply: Vec<actions::Action>) -> Result<Instructions, OfpErr> {
    let mut ins = Instructions::default();
    if let Some(pos) = apply
        .iter()
        .position(|a| matches!(a, actions::Action::Nx { subtype: 22, .. }))
    {
        if pos + 1 != apply.len() {
            return Err(OfpErr::OFPBAC_UNSUPPORTED_ORDER);
        }
        if let Some(actions::Action::Nx { bytes, .. }) = apply.pop() {
            let mut r = Reader::new(bytes.get(16..).unwrap_or(&[]));
            let md = r.u64().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
            let mask = r.u64().ok_or(OfpErr::OFPBAC_BAD_LEN)?;
            ins.write_metadata = Some((md & mask, mask));
        }
    }
    ins.apply = apply;
    Ok(ins)
}

/// Whether a match only admits packets with a VLAN tag.
fn has_vlan(m: &Match) -> bool {
    let (v, mk) = m.get(crate::openflow::fields::id::VLAN_TCI);
    v as u16 & mk as u16 & crate::openflow::fields::VLAN_CFI != 0
}

/// Rewrites OpenFlow 1.0 transport-port actions as Set-Field on the
/// protocol the match selects, the way they are then encoded in 1.2+.
fn l4_to_set_field(m: &Match, acts: &mut [actions::Action]) {
    use crate::openflow::fields::id;
    let (src, dst) = match m.nw_proto() {
        6 => (id::TCP_SRC, id::TCP_DST),
        17 => (id::UDP_SRC, id::UDP_DST),
        132 => (id::SCTP_SRC, id::SCTP_DST),
        _ => return,
    };
    for a in acts.iter_mut() {
        let (f, p) = match a {
            actions::Action::SetL4Src(p) => (src, *p),
            actions::Action::SetL4Dst(p) => (dst, *p),
            _ => continue,
        };
        *a = actions::Action::SetField {
            field: f,
            value: p as u128,
            mask: 0xffff,
            raw: actions::SetFieldRaw::L4Port,
        };
    }
}

/// GET_ASYNC reply body: six masks before OpenFlow 1.4, properties after.
fn put_async_config(ac: &AsyncConfig, v: u8, out: &mut Vec<u8>) {
    let allowed = AsyncConfig::allowed(v);
    if v < 5 {
        for ((p, s), a) in ac.primary.iter().zip(&ac.secondary).zip(&allowed).take(3) {
            out.put_u32(p & a);
            out.put_u32(s & a);
        }
    } else {
        for kind in 0..6 {
            for (primary, masks) in [(false, &ac.secondary), (true, &ac.primary)] {
                out.put_u16((2 * kind + primary as usize) as u16);
                out.put_u16(8);
                out.put_u32(masks[kind] & allowed[kind]);
            }
        }
    }
}

/// SET_ASYNC body (and NXT_SET_ASYNC_CONFIG): the layout of `v`, changes
/// applied over `basis` for the property form.
fn decode_async_config(basis: &AsyncConfig, v: u8, body: &[u8]) -> Result<AsyncConfig, OfpErr> {
    let allowed = AsyncConfig::allowed(v);
    let mut r = Reader::new(body);
    if v < 5 {
        if body.len() != 24 {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        // The fixed layout is read loosely: unknown reason bits drop.
        let mut ac = AsyncConfig {
            primary: [0; 6],
            secondary: [0; 6],
        };
        for (kind, a) in allowed.iter().enumerate().take(3) {
            for slot in [&mut ac.primary[kind], &mut ac.secondary[kind]] {
                *slot = r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)? & a;
            }
        }
        return Ok(ac);
    }
    let mut ac = *basis;
    while !r.is_empty() {
        let ty = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        let len = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)? as usize;
        if len < 4 {
            return Err(OfpErr::OFPBPC_BAD_LEN);
        }
        if len.div_ceil(8) * 8 - 4 > r.len() {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let mut p = Reader::new(r.bytes(len - 4).ok_or(OfpErr::OFPBPC_BAD_LEN)?);
        r.skip((8 - len % 8) % 8).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        let kind = ty as usize / 2;
        if kind >= 6 {
            return Err(OfpErr::OFPACFC_UNSUPPORTED);
        }
        if len != 8 {
            return Err(OfpErr::OFPBPC_BAD_LEN);
        }
        let m = p.u32().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
        if m & !allowed[kind] != 0 {
            return Err(OfpErr::OFPACFC_INVALID);
        }
        if ty % 2 == 1 {
            ac.primary[kind] = m;
        } else {
            ac.secondary[kind] = m;
        }
    }
    Ok(ac)
}

/// The error stock sends for a bad flow monitor request: it treats the
/// bytes left after the failing entry as the message being answered, so
/// the reply takes its version (OpenFlow 1.0 when unknown), xid and length
/// from them.
fn monitor_error(err: OfpErr, rest: &[u8]) -> Vec<u8> {
    match Header::parse(rest) {
        Some(h) => {
            let n = (h.length as usize).min(rest.len());
            error_msg(err, h.version, h.xid, &rest[..n])
        }
        None => error_msg(err, 1, 0, &[]),
    }
}

/// One full ofp_flow_update (OpenFlow 1.4+ form) with `event` in that
/// version's numbering.
fn put_flow_update14(
    ev: &FlowEvent,
    event: u16,
    v: u8,
    with_instructions: bool,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.put_u16(0);
    out.put_u16(event);
    out.put_u8(ev.table_id);
    out.put_u8(ev.reason as u8);
    out.put_u16(ev.idle_timeout);
    out.put_u16(ev.hard_timeout);
    out.put_u16(ev.priority);
    out.put_zeros(4);
    out.put_u64(ev.cookie);
    put_oxm_match(&ev.m, v, out);
    if with_instructions {
        actions::encode_instructions(v, &ev.instructions, has_vlan(&ev.m), out);
    }
    let len = out.len() - start;
    out.set_u16(start, len as u16);
}

/// One full nx_flow_update (OpenFlow 1.0 form).
fn put_flow_update(ev: &FlowEvent, with_actions: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u16(0);
    out.put_u16(ev.event);
    out.put_u16(ev.reason);
    out.put_u16(ev.priority);
    out.put_u16(ev.idle_timeout);
    out.put_u16(ev.hard_timeout);
    let ml_at = out.len();
    out.put_u16(0);
    out.put_u8(ev.table_id);
    out.put_u8(0);
    out.put_u64(ev.cookie);
    let ms = out.len();
    nxm::encode(&ev.m, None, out);
    let ml = out.len() - ms;
    out.set_u16(ml_at, ml as u16);
    out.pad_to(8);
    if with_actions {
        actions::encode_instructions(1, &ev.instructions, has_vlan(&ev.m), out);
    }
    let len = out.len() - start;
    out.set_u16(start, len as u16);
}

/// An OXM `ofp_match` (type 1), padded to 8 bytes.
fn put_oxm_match(m: &Match, v: u8, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u16(1);
    out.put_u16(0);
    nxm::encode(m, Some(v), out);
    let len = out.len() - start;
    out.set_u16(start + 2, len as u16);
    out.pad_to(8);
}

/// OpenFlow 1.5 statistics (OXS): a 4-byte header, then the entries that
/// are known (an all-ones counter means unknown and is left out), padded
/// to 8 bytes.
fn put_oxs(
    e: &mut Vec<u8>,
    duration: Option<u64>,
    idle: Option<u64>,
    pkts: u64,
    bytes: u64,
    flows: Option<u32>,
) {
    let start = e.len();
    e.put_u32(0);
    let put64 = |e: &mut Vec<u8>, field: u32, v: u64| {
        e.put_u32(0x8002 << 16 | field << 9 | 8);
        e.put_u64(v);
    };
    if let Some(d) = duration {
        put64(e, 0, d);
    }
    if let Some(i) = idle {
        put64(e, 1, i);
    }
    if pkts != u64::MAX {
        put64(e, 4, pkts);
    }
    if bytes != u64::MAX {
        put64(e, 5, bytes);
    }
    if let Some(n) = flows {
        e.put_u32(0x8002 << 16 | 3 << 9 | 4);
        e.put_u32(n);
    }
    let len = (e.len() - start) as u16;
    e.set_u16(start + 2, len);
    e.pad_to(8);
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl Switch {
    pub fn new(name: &str, datapath_id: u64) -> Self {
        Switch {
            name: name.to_string(),
            datapath_id,
            ports: Vec::new(),
            tables: (0..N_TABLES).map(|_| Classifier::default()).collect(),
            frag_flags: 0,
            table_cfg: vec![TableConfig::default(); N_TABLES as usize],
            port_added: HashMap::new(),
            port_stats: None,
            port_mod_hook: None,
            packet_out_hook: None,
            groups: BTreeMap::new(),
            meters: BTreeMap::new(),
            early_replies: Vec::new(),
            n_timeouts: 0,
            removed: Vec::new(),
            port_changes: Vec::new(),
            election_id: None,
            demote_others: false,
            flow_events: Vec::new(),
            monitoring: false,
            event_origin: None,
        }
    }

    /// Replaces the port list, remembering when each port appeared.
    /// The config bits of ports that stay are OpenFlow's (port_mod) and
    /// are kept; everything else comes from the daemon.
    pub fn set_ports(&mut self, mut ports: Vec<PortInfo>) {
        for p in ports.iter_mut() {
            if let Some(old) = self.ports.iter().find(|o| o.ofp_port == p.ofp_port) {
                p.config = old.config;
            }
        }
        let now = Instant::now();
        self.port_added
            .retain(|p, _| ports.iter().any(|x| x.ofp_port == *p));
        for p in &ports {
            self.port_added.entry(p.ofp_port).or_insert(now);
        }
        for old in &self.ports {
            if !ports.iter().any(|p| p.ofp_port == old.ofp_port) {
                self.port_changes.push(PortChange {
                    reason: 1,
                    port: old.clone(),
                });
            }
        }
        for p in &ports {
            match self.ports.iter().find(|o| o.ofp_port == p.ofp_port) {
                None => self.port_changes.push(PortChange {
                    reason: 0,
                    port: p.clone(),
                }),
                Some(o) if o != p => self.port_changes.push(PortChange {
                    reason: 2,
                    port: p.clone(),
                }),
                Some(_) => {}
            }
        }
        self.ports = ports;
    }

    fn port_stats_entry(&self, v: u8, p: &PortInfo, now: Instant, e: &mut Vec<u8>) {
        let st = self
            .port_stats
            .as_ref()
            .and_then(|f| f(p.ofp_port))
            .unwrap_or(PortStats::UNKNOWN);
        let age = now.duration_since(self.port_added.get(&p.ofp_port).copied().unwrap_or(now));
        let main = [
            st.rx_packets,
            st.tx_packets,
            st.rx_bytes,
            st.tx_bytes,
            st.rx_dropped,
            st.tx_dropped,
            st.rx_errors,
            st.tx_errors,
        ];
        let eth = [
            st.rx_frame_errors,
            st.rx_over_errors,
            st.rx_crc_errors,
            st.collisions,
        ];
        match v {
            1 => {
                e.put_u16(p.ofp_port);
                e.put_zeros(6);
            }
            2..=4 => {
                e.put_u32(port_to_of11(p.ofp_port));
                e.put_zeros(4);
            }
            _ => {
                e.put_u16(120);
                e.put_zeros(2);
                e.put_u32(port_to_of11(p.ofp_port));
                e.put_u32(age.as_secs() as u32);
                e.put_u32(age.subsec_millis() * 1_000_000);
                for c in main {
                    e.put_u64(c);
                }
                e.put_u16(0);
                e.put_u16(40);
                e.put_zeros(4);
                for c in eth {
                    e.put_u64(c);
                }
                return;
            }
        }
        for c in main.into_iter().chain(eth) {
            e.put_u64(c);
        }
        if v == 4 {
            e.put_u32(age.as_secs() as u32);
            e.put_u32(age.subsec_millis() * 1_000_000);
        }
    }

    /// Deletes every rule, group and meter (when the bridge gains its
    /// first controller or loses its last, as stock does).
    pub fn flush(&mut self) {
        let now = Instant::now();
        self.remove_rules(|_| Some(RemovedReason::Delete), now);
        self.groups.clear();
        self.meters.clear();
    }

    /// Adds the flow stock adds to a bridge without controllers in
    /// standalone fail mode: priority 0, actions=NORMAL.
    pub fn add_normal_flow(&mut self) {
        let now = Instant::now();
        let rule = Rule {
            cookie: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: 0,
            instructions: Instructions {
                apply: vec![actions::Action::Output {
                    port: port::NORMAL,
                    max_len: 0,
                }],
                ..Default::default()
            },
            created: now,
            modified: now,
            used: now,
            packet_count: 0,
            byte_count: 0,
        };
        self.tables[0].insert(&Match::catchall(), 0, rule);
    }

    /// Handles one complete message from a connected peer. Returns the
    /// replies; an `Err` becomes an OFPT_ERROR echoing the request.
    pub fn handle(&mut self, conn: &mut ConnState, msg: &[u8]) -> Vec<Vec<u8>> {
        let Some(h) = Header::parse(msg) else {
            return Vec::new();
        };
        let result = self.dispatch(conn, h, msg);
        let mut out = std::mem::take(&mut self.early_replies);
        match result {
            Ok(r) => out.extend(r),
            Err(e) => out.push(error_msg(e, h.version, h.xid, msg)),
        }
        out
    }

    fn dispatch(&mut self, conn: &mut ConnState, h: Header, msg: &[u8]) -> Res {
        let v = h.version;
        if conn.role == ROLE_SECONDARY && modifies_state(h, msg) {
            return Err(OfpErr::OFPBRC_IS_SECONDARY);
        }
        let body = msg.get(8..).unwrap_or(&[]);
        let of10 = v == 1;
        match h.msg_type {
            0 => Ok(vec![]),
            1 => Ok(vec![]),
            2 => {
                let mut m = start(v, 3, h.xid);
                m.extend_from_slice(body);
                Ok(vec![finish(m)])
            }
            3 => Ok(vec![]),
            4 => self.vendor(conn, h, msg),
            5 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                Ok(vec![self.features_reply(h)])
            }
            7 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut m = start(v, 8, h.xid);
                m.put_u16(self.frag_flags);
                m.put_u16(conn.miss_send_len);
                Ok(vec![finish(m)])
            }
            9 => {
                if body.len() != 4 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut r = Reader::new(body);
                let flags = r.u16().unwrap_or(0);
                conn.miss_send_len = r.u16().unwrap_or(0);
                // Only the fragment handling bits are kept, as stock does.
                self.frag_flags = flags & 3;
                Ok(vec![])
            }
            14 => {
                let fm = self.decode_flow_mod(conn, h, msg)?;
                self.flow_mod(fm)?;
                Ok(vec![])
            }
            24 if v >= 3 => {
                let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
                if r.len() != 16 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let role = r.u32().unwrap_or(0);
                r.skip(4);
                let gen = r.u64().unwrap_or(0);
                if role > ROLE_SECONDARY {
                    return Err(OfpErr::OFPRRFC_BAD_ROLE);
                }
                if role != 0 {
                    if role != ROLE_EQUAL {
                        if let Some(old) = self.election_id {
                            if (gen.wrapping_sub(old) as i64) < 0 {
                                return Err(OfpErr::OFPRRFC_STALE);
                            }
                        }
                        self.election_id = Some(gen);
                    }
                    self.set_role(conn, role);
                }
                let mut m = start(v, 25, h.xid);
                m.put_u32(conn.role);
                m.put_zeros(4);
                m.put_u64(self.election_id.unwrap_or(0));
                Ok(vec![finish(m)])
            }
            26 if v >= 4 => {
                if !msg[8..].is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut m = start(v, 27, h.xid);
                put_async_config(&conn.async_config(), v, &mut m);
                Ok(vec![finish(m)])
            }
            28 if v >= 4 => {
                conn.async_config = Some(decode_async_config(&conn.async_config(), v, &msg[8..])?);
                Ok(vec![])
            }
            33 if v >= 5 => self.bundle_control(conn, h, &msg[8..]),
            34 if v >= 5 => self.bundle_add(conn, h, msg, 16),
            29 if v >= 4 => {
                let mm = meters::decode_mod(body)?;
                self.meter_mod(mm)?;
                Ok(vec![])
            }
            13 => self.packet_out(v, body),
            17 if v >= 2 => self.table_mod(v, body),
            15 if of10 => self.port_mod(v, body),
            16 if !of10 => self.port_mod(v, body),
            15 if !of10 => {
                let gm = groups::decode_mod(v, body)?;
                self.group_mod(gm)?;
                Ok(vec![])
            }
            16 if of10 => self.stats(conn, h, msg),
            18 if !of10 => self.stats(conn, h, msg),
            18 if of10 => self.barrier(h, body, 19),
            20 if !of10 => self.barrier(h, body, 21),
            _ => Err(OfpErr::OFPBRC_BAD_TYPE),
        }
    }

    fn barrier(&self, h: Header, body: &[u8], reply: u8) -> Res {
        if !body.is_empty() {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        Ok(vec![finish(start(h.version, reply, h.xid))])
    }

    fn vendor(&mut self, conn: &mut ConnState, h: Header, msg: &[u8]) -> Res {
        let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
        let vendor = r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        // OpenFlow 1.3 bundles are an ONF extension.
        if vendor == ONF_VENDOR && h.version == 4 {
            return match r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)? {
                2300 => self.bundle_control(conn, h, r.rest()),
                2301 => self.bundle_add(conn, h, msg, 24),
                _ => Err(OfpErr::OFPBRC_BAD_SUBTYPE),
            };
        }
        if vendor != NX_VENDOR {
            return Err(OfpErr::OFPBRC_BAD_VENDOR);
        }
        let subtype = r.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        let rest = r.rest();
        match subtype {
            12 => {
                if rest.len() != 4 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let fmt = Reader::new(rest).u32().unwrap_or(u32::MAX);
                match fmt {
                    0 => conn.nxm = false,
                    2 => conn.nxm = true,
                    _ => return Err(OfpErr::OFPBRC_EPERM),
                }
                Ok(vec![])
            }
            13 => {
                let fm = self.decode_flow_mod(conn, h, msg)?;
                self.flow_mod(fm)?;
                Ok(vec![])
            }
            15 => {
                if rest.len() != 8 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                conn.table_id_ext = rest.first().copied().unwrap_or(0) != 0;
                Ok(vec![])
            }
            19 => {
                // NXT_SET_ASYNC_CONFIG: the OpenFlow 1.3 layout.
                conn.async_config = Some(decode_async_config(
                    &conn.async_config(),
                    4.min(h.version),
                    rest,
                )?);
                Ok(vec![])
            }
            21 => {
                // NXT_FLOW_MONITOR_CANCEL.
                if rest.len() != 4 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let id = Reader::new(rest).u32().unwrap_or(0);
                let before = conn.monitors.len();
                conn.monitors.retain(|m| m.id != id);
                if conn.monitors.len() == before {
                    return Err(OfpErr::OFPMOFC_UNKNOWN_MONITOR);
                }
                Ok(vec![])
            }
            10 => {
                // NXT_ROLE_REQUEST: 0 other (equal), 1 master, 2 slave.
                if rest.len() != 4 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let nx_role = Reader::new(rest).u32().unwrap_or(u32::MAX);
                if nx_role > 2 {
                    return Err(OfpErr::OFPRRFC_BAD_ROLE);
                }
                self.set_role(conn, nx_role + 1);
                let mut m = start(h.version, 4, h.xid);
                m.put_u32(NX_VENDOR);
                m.put_u32(11);
                m.put_u32(conn.role - 1);
                Ok(vec![finish(m)])
            }
            16 => {
                if rest.len() != 4 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let fmt = Reader::new(rest).u32().unwrap_or(u32::MAX);
                if fmt > 2 {
                    return Err(OfpErr::OFPBRC_EPERM);
                }
                conn.packet_in_format = fmt;
                Ok(vec![])
            }
            _ => Err(OfpErr::OFPBRC_BAD_SUBTYPE),
        }
    }

    fn port_bytes(&self, v: u8, p: &PortInfo, out: &mut Vec<u8>) {
        let mut name = [0u8; 16];
        let nb = p.name.as_bytes();
        let n = nb.len().min(15);
        name[..n].copy_from_slice(&nb[..n]);
        if v == 1 {
            out.put_u16(p.ofp_port);
            out.extend_from_slice(&p.hw_addr);
            out.extend_from_slice(&name);
            out.put_u32(p.config);
            out.put_u32(p.state & 1);
            // OpenFlow 1.0 feature bits stop at bit 11 (pause_asym).
            for f in [p.curr, p.advertised, p.supported, p.peer] {
                out.put_u32(f & 0x7f | (f >> 4 & 0xf80) & 0xf80);
            }
        } else if v <= 4 {
            out.put_u32(port_to_of11(p.ofp_port));
            out.put_zeros(4);
            out.extend_from_slice(&p.hw_addr);
            out.put_zeros(2);
            out.extend_from_slice(&name);
            out.put_u32(p.config & CONFIG_OF11);
            out.put_u32(p.state);
            for f in [
                p.curr,
                p.advertised,
                p.supported,
                p.peer,
                p.curr_speed,
                p.max_speed,
            ] {
                out.put_u32(f);
            }
        } else {
            out.put_u32(port_to_of11(p.ofp_port));
            out.put_u16(72);
            out.put_zeros(2);
            out.extend_from_slice(&p.hw_addr);
            out.put_zeros(2);
            out.extend_from_slice(&name);
            out.put_u32(p.config & CONFIG_OF11);
            out.put_u32(p.state);
            out.put_u16(0);
            out.put_u16(32);
            out.put_zeros(4);
            for f in [
                p.curr,
                p.advertised,
                p.supported,
                p.peer,
                p.curr_speed,
                p.max_speed,
            ] {
                out.put_u32(f);
            }
        }
    }

    fn sorted_ports(&self) -> Vec<&PortInfo> {
        let mut ps: Vec<&PortInfo> = self.ports.iter().collect();
        ps.sort_by_key(|p| p.ofp_port);
        ps
    }

    fn features_reply(&self, h: Header) -> Vec<u8> {
        let v = h.version;
        let mut m = start(v, 6, h.xid);
        m.put_u64(self.datapath_id);
        m.put_u32(0);
        m.put_u8(N_TABLES);
        m.put_zeros(3);
        // flow, table, port and queue statistics; arp_match_ip in 1.0/1.1;
        // group statistics from 1.1.
        let caps: u32 = match v {
            1 => 0x1 | 0x2 | 0x4 | 0x40 | 0x80,
            2 => 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80,
            3 | 4 => 0x1 | 0x2 | 0x4 | 0x8 | 0x40,
            _ => 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x200,
        };
        m.put_u32(caps);
        m.put_u32(if v == 1 { 0xfff } else { 0 });
        if v <= 3 {
            for p in self.sorted_ports() {
                self.port_bytes(v, p, &mut m);
            }
        }
        finish(m)
    }

    fn decode_flow_mod(&self, conn: &ConnState, h: Header, msg: &[u8]) -> Result<FlowMod, OfpErr> {
        let v = h.version;
        // Each flow_mod form is a fixed part and then 8-byte units.
        let fixed = match (h.msg_type, v) {
            (14, 1) => 72,
            (14, _) => 56,
            _ => 48,
        };
        if msg.len() < fixed || !(msg.len() - fixed).is_multiple_of(8) {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let len_err = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
        let mut fm;
        let raw_flags;
        if h.msg_type == 14 && v >= 2 {
            let cookie = r.u64().ok_or(len_err)?;
            let cookie_mask = r.u64().ok_or(len_err)?;
            let table_id = r.u8().ok_or(len_err)?;
            let command = r.u8().ok_or(len_err)?;
            let idle = r.u16().ok_or(len_err)?;
            let hard = r.u16().ok_or(len_err)?;
            let priority = r.u16().ok_or(len_err)?;
            let buffer_id = r.u32().ok_or(len_err)?;
            let out_port = r.u32().ok_or(len_err)?;
            let out_group = r.u32().ok_or(len_err)?;
            raw_flags = r.u16().ok_or(len_err)?;
            let importance = r.u16().ok_or(len_err)?;
            let m = self.pull_oxm_match(&mut r)?;
            // OpenFlow 1.1 modify without a cookie mask sets the cookie.
            let add_like =
                command == 0 || (v == 2 && (command == 1 || command == 2) && cookie_mask == 0);
            if table_id == 0xff && (v == 2 || (command != 3 && command != 4)) {
                return Err(OfpErr::OFPFMFC_BAD_TABLE_ID);
            }
            let out_port = port_from_of11(out_port).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
            if buffer_id != NO_BUFFER {
                return Err(OfpErr::OFPBRC_BUFFER_UNKNOWN);
            }
            fm = FlowMod {
                m,
                priority,
                cookie: if add_like { 0 } else { cookie },
                cookie_mask: if add_like { 0 } else { cookie_mask },
                new_cookie: if add_like { Some(cookie) } else { None },
                command,
                table_id,
                idle,
                hard,
                importance: if v >= 5 && command == 0 {
                    importance
                } else {
                    0
                },
                out_port,
                out_group: if command == 3 || command == 4 {
                    out_group
                } else {
                    OFPG_ANY
                },
                flags: 0,
                ins: Instructions::default(),
                may_add: false,
            };
            if command > 4 {
                return Err(OfpErr::OFPFMFC_BAD_COMMAND);
            }
            fm.ins = actions::decode_instructions(v, r.rest())?;
        } else {
            let (m, priority, cookie, command, idle, hard, buffer_id, out_port, match_cookie);
            if h.msg_type == 14 {
                let (mm, exact) = ofp10::decode(&mut r).ok_or(len_err)?;
                cookie = r.u64().ok_or(len_err)?;
                command = r.u16().ok_or(len_err)?;
                idle = r.u16().ok_or(len_err)?;
                hard = r.u16().ok_or(len_err)?;
                let p = r.u16().ok_or(len_err)?;
                priority = if exact { u16::MAX } else { p };
                buffer_id = r.u32().ok_or(len_err)?;
                out_port = r.u16().ok_or(len_err)?;
                raw_flags = r.u16().ok_or(len_err)?;
                m = mm;
                match_cookie = (0, 0);
            } else {
                r.skip(8).ok_or(len_err)?;
                cookie = r.u64().ok_or(len_err)?;
                command = r.u16().ok_or(len_err)?;
                idle = r.u16().ok_or(len_err)?;
                hard = r.u16().ok_or(len_err)?;
                priority = r.u16().ok_or(len_err)?;
                buffer_id = r.u32().ok_or(len_err)?;
                out_port = r.u16().ok_or(len_err)?;
                raw_flags = r.u16().ok_or(len_err)?;
                let match_len = r.u16().ok_or(len_err)? as usize;
                r.skip(6).ok_or(len_err)?;
                let mut ck = (0u64, 0u64);
                if r.len() < pad8(match_len) {
                    return Err(OfpErr::OFPBMC_BAD_LEN);
                }
                m = nxm::decode(&mut r, match_len, true, Some(&mut ck))?;
                r.skip(pad8(match_len) - match_len)
                    .ok_or(OfpErr::OFPBMC_BAD_LEN)?;
                if command & 0xff == 0 && ck.1 != 0 {
                    return Err(OfpErr::NXBRC_NXM_INVALID);
                }
                match_cookie = ck;
            }
            let (command, table_id) = if conn.table_id_ext {
                ((command & 0xff) as u8, (command >> 8) as u8)
            } else {
                (command.min(0xff) as u8, 0xff)
            };
            if buffer_id != NO_BUFFER {
                return Err(OfpErr::OFPBRC_BUFFER_UNKNOWN);
            }
            if command > 4 {
                return Err(OfpErr::OFPFMFC_BAD_COMMAND);
            }
            let ins = of10_instructions(actions::decode(1, r.rest())?)?;
            fm = FlowMod {
                m,
                priority,
                cookie: match_cookie.0,
                cookie_mask: match_cookie.1,
                new_cookie: Some(cookie),
                command,
                table_id,
                idle,
                hard,
                importance: 0,
                out_port,
                out_group: OFPG_ANY,
                flags: 0,
                ins,
                may_add: match_cookie.1 == 0,
            };
        }
        if fm.new_cookie == Some(u64::MAX) {
            fm.new_cookie = None;
        }
        if v >= 3 && fm.command <= 2 {
            fm.may_add = fm.command == 0;
        }
        // Flags: EMERG (4) exists only in OpenFlow 1.0; counts flags from 1.3.
        let allowed: u16 = match v {
            1 => 0x7,
            2 => 0x3,
            3 => 0x7,
            _ => 0x1f,
        };
        if raw_flags & !allowed != 0 {
            return Err(OfpErr::OFPFMFC_BAD_FLAGS);
        }
        if v == 1 && raw_flags & 4 != 0 {
            return Err(if fm.idle != 0 || fm.hard != 0 {
                OfpErr::OFPFMFC_BAD_EMERG_TIMEOUT
            } else {
                OfpErr::OFPFMFC_TABLE_FULL
            });
        }
        l4_to_set_field(&fm.m, &mut fm.ins.apply);
        if let Some(w) = fm.ins.write.as_mut() {
            l4_to_set_field(&fm.m, w);
        }
        // Table 254 exists but is hidden and read-only, as in stock.
        if fm.table_id == N_TABLES {
            return Err(OfpErr::OFPBRC_EPERM);
        }
        if fm.table_id != 0xff && fm.table_id >= N_TABLES {
            return Err(OfpErr::OFPBRC_BAD_TABLE_ID);
        }
        fm.flags = raw_flags & 0x1f & !4 | if v >= 3 { raw_flags & 4 } else { 0 };
        // In OpenFlow 1.0 and 1.1 "add" always resets the counters.
        if v <= 2 && fm.command == 0 {
            fm.flags |= 4;
        }
        if let Some(t) = fm.ins.goto_table {
            let cur = if fm.table_id == 0xff { 0 } else { fm.table_id };
            if t <= cur || t >= N_TABLES {
                return Err(OfpErr::OFPBIC_BAD_TABLE_ID);
            }
        }
        Ok(fm)
    }

    fn pull_oxm_match(&self, r: &mut Reader<'_>) -> Result<Match, OfpErr> {
        let ty = r.u16().ok_or(OfpErr::OFPBMC_BAD_LEN)?;
        let len = r.u16().ok_or(OfpErr::OFPBMC_BAD_LEN)? as usize;
        // Type 0: OpenFlow 1.1's fixed "standard" match.
        if ty == 0 {
            if len != ofp11::LEN || r.len() + 4 < ofp11::LEN {
                return Err(OfpErr::OFPBMC_BAD_LEN);
            }
            return ofp11::decode(r);
        }
        if ty != 1 {
            return Err(OfpErr::OFPBMC_BAD_TYPE);
        }
        if len < 4 || r.len() + 4 < pad8(len) {
            return Err(OfpErr::OFPBMC_BAD_LEN);
        }
        let m = nxm::decode(r, len - 4, true, None)?;
        r.skip(pad8(len) - len).ok_or(OfpErr::OFPBMC_BAD_LEN)?;
        Ok(m)
    }

    fn tables_for(&self, table_id: u8) -> Result<std::ops::Range<usize>, OfpErr> {
        if table_id == 0xff {
            Ok(0..N_TABLES as usize)
        } else if table_id < N_TABLES {
            Ok(table_id as usize..table_id as usize + 1)
        } else {
            Err(OfpErr::OFPBRC_BAD_TABLE_ID)
        }
    }

    fn flow_mod(&mut self, fm: FlowMod) -> Result<(), OfpErr> {
        // Meters and groups must exist when the change is applied (a
        // bundle may create them first).
        if let Some(m) = fm.ins.meter {
            if !self.meters.contains_key(&m) {
                return Err(OfpErr::OFPMMFC_INVALID_METER);
            }
        }
        let missing_group = |a: &actions::Action| matches!(a, actions::Action::Group(g) if !self.groups.contains_key(g));
        if fm
            .ins
            .apply
            .iter()
            .chain(fm.ins.write.iter().flatten())
            .any(missing_group)
        {
            return Err(OfpErr::OFPBAC_BAD_OUT_GROUP);
        }
        let prio = fm.priority as u32;
        match fm.command {
            0 => self.add_flow(&fm, None),
            1 | 2 => {
                let strict = fm.command == 2;
                let filter = Filter {
                    m: &fm.m,
                    table_id: fm.table_id,
                    out_port: fm.out_port,
                    out_group: OFPG_ANY,
                    cookie: fm.cookie,
                    cookie_mask: fm.cookie_mask,
                };
                let targets = self.collect(&filter, strict.then_some(prio))?;
                if targets.is_empty() {
                    if fm.may_add {
                        return self.add_flow(&fm, None);
                    }
                    return Ok(());
                }
                let now = Instant::now();
                for (t, m, p) in targets {
                    let mut changed = None;
                    if let Some(rule) = self.tables[t].find_exact_mut(&m, p) {
                        let old = std::mem::replace(&mut rule.instructions, fm.ins.clone());
                        let old_cookie = rule.cookie;
                        if let Some(c) = fm.new_cookie {
                            rule.cookie = c;
                        }
                        rule.modified = now;
                        if fm.flags & 4 != 0 {
                            rule.packet_count = 0;
                            rule.byte_count = 0;
                        }
                        let actions_changed = old != rule.instructions;
                        if actions_changed || old_cookie != rule.cookie {
                            changed = Some((rule.clone(), actions_changed.then_some(old)));
                        }
                    }
                    if let Some((rule, old)) = changed {
                        self.record((2, 0), (t, &m, p), &rule, old);
                    }
                }
                Ok(())
            }
            _ => {
                let strict = fm.command == 4;
                let filter = Filter {
                    m: &fm.m,
                    table_id: fm.table_id,
                    out_port: fm.out_port,
                    out_group: fm.out_group,
                    cookie: fm.cookie,
                    cookie_mask: fm.cookie_mask,
                };
                let now = Instant::now();
                // Deleting everything from a table nobody watches and no
                // rule asked to hear about needs no per-rule work.
                let everything = !strict
                    && !self.monitoring
                    && fm.m == Match::catchall()
                    && fm.cookie_mask == 0
                    && fm.out_port == port::NONE
                    && fm.out_group == OFPG_ANY;
                if everything {
                    for t in self.tables_for(fm.table_id)? {
                        if self.tables[t].rules().all(|r| r.flags & 1 == 0) {
                            self.tables[t] = Classifier::default();
                        }
                    }
                }
                for (t, m, p) in self.collect(&filter, strict.then_some(prio))? {
                    self.remove_rule(t, &m, p, RemovedReason::Delete, now);
                }
                Ok(())
            }
        }
    }

    /// PACKET_OUT: decoded and checked as stock does, then handed to the
    /// datapath hook (dropped when there is none).
    fn packet_out(&mut self, v: u8, body: &[u8]) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let buffer_id = r.u32().ok_or(e)?;
        let (in_port, acts_len) = match v {
            1 => {
                let p = r.u16().ok_or(e)?;
                (p, r.u16().ok_or(e)? as usize)
            }
            2..=5 => {
                let p = port_from_of11(r.u32().ok_or(e)?).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
                let n = r.u16().ok_or(e)? as usize;
                r.skip(6).ok_or(e)?;
                (p, n)
            }
            _ => {
                let n = r.u16().ok_or(e)? as usize;
                r.skip(2).ok_or(e)?;
                let m = self.pull_oxm_match(&mut r)?;
                let p = m
                    .exact(crate::openflow::fields::id::IN_PORT)
                    .ok_or(OfpErr::OFPBRC_BAD_PORT)?;
                (p as u16, n)
            }
        };
        if !acts_len.is_multiple_of(8) || acts_len > r.len() {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        let acts = actions::decode(v, r.bytes(acts_len).ok_or(e)?)?;
        if in_port >= port::MAX
            && in_port != port::LOCAL
            && in_port != port::NONE
            && in_port != port::CONTROLLER
        {
            return Err(OfpErr::OFPBRC_BAD_PORT);
        }
        if buffer_id != NO_BUFFER {
            return Err(OfpErr::OFPBRC_BUFFER_UNKNOWN);
        }
        let missing_group = |a: &actions::Action| matches!(a, actions::Action::Group(g) if !self.groups.contains_key(g));
        if acts.iter().any(missing_group) {
            return Err(OfpErr::OFPBAC_BAD_OUT_GROUP);
        }
        if let Some(hook) = &self.packet_out_hook {
            hook(PacketOut {
                in_port,
                actions: acts,
                packet: r.rest().to_vec(),
            });
        }
        Ok(vec![])
    }

    /// The packet-in message for `pi` on `conn`, or None when the
    /// connection does not take it (secondary role, or a table miss with
    /// miss_send_len 0).
    pub fn packet_in_msg(conn: &ConnState, pi: &PacketIn) -> Option<Vec<u8>> {
        use crate::openflow::fields::id;
        if !conn.async_config().wants(conn.role, 0, pi.reason)
            || (pi.reason == 0 && conn.miss_send_len == 0)
        {
            return None;
        }
        let v = conn.version;
        // Without packet buffers the whole packet goes up, as stock sends
        // it (max_len would only bound a buffered packet's excerpt).
        let data = &pi.packet[..];
        let total = pi.packet.len().min(u16::MAX as usize) as u16;
        let reason = if v < 5 && pi.reason > 2 { 1 } else { pi.reason };
        let mut m;
        if v == 1 && conn.packet_in_format == 0 {
            m = start(1, 10, 0);
            m.put_u32(NO_BUFFER);
            m.put_u16(total);
            m.put_u16(pi.metadata.value(id::IN_PORT) as u16);
            m.put_u8(reason);
            m.put_u8(0);
        } else if v == 1 {
            m = start(1, 4, 0);
            m.put_u32(NX_VENDOR);
            m.put_u32(17);
            m.put_u32(NO_BUFFER);
            m.put_u16(total);
            m.put_u8(reason);
            m.put_u8(pi.table_id);
            m.put_u64(pi.cookie);
            let ml_at = m.len();
            m.put_u16(0);
            m.put_zeros(6);
            let ms = m.len();
            nxm::encode(&pi.metadata, None, &mut m);
            let ml = m.len() - ms;
            m.set_u16(ml_at, ml as u16);
            m.pad_to(8);
            m.put_zeros(2);
        } else {
            m = start(v, 10, 0);
            m.put_u32(NO_BUFFER);
            m.put_u16(total);
            m.put_u8(reason);
            m.put_u8(pi.table_id);
            if v >= 4 {
                m.put_u64(pi.cookie);
            }
            put_oxm_match(&pi.metadata, v, &mut m);
            m.put_zeros(2);
        }
        m.extend_from_slice(data);
        Some(finish(m))
    }

    /// TABLE_MOD: table-miss behaviour (OpenFlow 1.1/1.2), eviction and
    /// vacancy events (1.4+).
    fn table_mod(&mut self, v: u8, body: &[u8]) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let table_id = r.u8().ok_or(e)?;
        r.skip(3).ok_or(e)?;
        let config = r.u32().ok_or(e)?;
        let mut miss = None;
        let (mut eviction, mut vacancy) = (None, None);
        if v == 2 || v == 3 {
            // OFPTC11_TABLE_MISS_{CONTROLLER,CONTINUE,DROP}; 3 is invalid
            // and reads as controller.
            miss = Some(match config & 3 {
                1 => 2,
                2 => 3,
                _ => 1,
            });
        } else if v >= 5 {
            eviction = Some(config & 4 != 0);
            let on = config & 8 != 0;
            vacancy = Some(if on { Some((0u8, 0u8)) } else { None });
            while !r.is_empty() {
                let ty = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                let len = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)? as usize;
                if len < 4 || len.div_ceil(8) * 8 - 4 > r.len() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut p = Reader::new(r.bytes(len - 4).ok_or(OfpErr::OFPBPC_BAD_LEN)?);
                r.skip((8 - len % 8) % 8).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                match ty {
                    2 => {
                        if len != 8 {
                            return Err(OfpErr::OFPBPC_BAD_LEN);
                        }
                        // Stock reads this property into the eviction
                        // setting itself (1 on, 2 off), not the flags.
                        match p.u32().ok_or(OfpErr::OFPBPC_BAD_LEN)? {
                            0 => {}
                            1 => eviction = Some(true),
                            _ => eviction = Some(false),
                        }
                    }
                    3 => {
                        if len != 8 {
                            return Err(OfpErr::OFPBPC_BAD_LEN);
                        }
                        let down = p.u8().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                        let up = p.u8().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                        let cur = p.u8().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                        if down > up || up > 100 || cur != 0 {
                            return Err(OfpErr::OFPBPC_BAD_VALUE);
                        }
                        if on {
                            vacancy = Some(Some((down, up)));
                        }
                    }
                    _ => return Err(OfpErr::OFPBRC_BAD_TYPE),
                }
            }
        }
        if table_id != 0xff && table_id > N_TABLES {
            return Err(OfpErr::OFPTMFC_BAD_TABLE);
        }
        if table_id == N_TABLES {
            return Err(OfpErr::OFPTMFC_EPERM);
        }
        let tables = if table_id == 0xff {
            0..N_TABLES as usize
        } else {
            table_id as usize..table_id as usize + 1
        };
        for t in tables {
            let cfg = &mut self.table_cfg[t];
            if let Some(m) = miss {
                cfg.miss = m;
            }
            if let Some(ev) = eviction {
                cfg.eviction = ev;
            }
            if let Some(va) = vacancy {
                cfg.vacancy = va;
            }
        }
        Ok(vec![])
    }

    /// PORT_MOD: changes a port's config bits (the hardware address must
    /// match); port_down also takes the link down, as a real device does.
    fn port_mod(&mut self, v: u8, body: &[u8]) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let (port_no, hw, config, mask) = if v == 1 {
            let p = r.u16().ok_or(e)?;
            let hw = r.array::<6>().ok_or(e)?;
            (p, hw, r.u32().ok_or(e)?, r.u32().ok_or(e)?)
        } else {
            let p = port_from_of11(r.u32().ok_or(e)?).ok_or(OfpErr::OFPPMFC_BAD_PORT)?;
            r.skip(4).ok_or(e)?;
            let hw = r.array::<6>().ok_or(e)?;
            r.skip(2).ok_or(e)?;
            (p, hw, r.u32().ok_or(e)?, r.u32().ok_or(e)?)
        };
        let Some(idx) = self.ports.iter().position(|p| p.ofp_port == port_no) else {
            return Err(OfpErr::OFPPMFC_BAD_PORT);
        };
        let port = &mut self.ports[idx];
        if port.hw_addr != hw {
            return Err(OfpErr::OFPPMFC_BAD_HW_ADDR);
        }
        let mask = mask & CONFIG_SETTABLE;
        let new = (port.config & !mask) | (config & mask);
        if new != port.config {
            port.config = new;
            if new & 1 != 0 {
                port.state = (port.state | STATE_LINK_DOWN) & !STATE_LIVE;
            } else {
                port.state = (port.state & !STATE_LINK_DOWN) | STATE_LIVE;
            }
            let changed = port.clone();
            self.port_changes.push(PortChange {
                reason: 2,
                port: changed,
            });
            if let Some(hook) = &self.port_mod_hook {
                hook(port_no, new);
            }
        }
        Ok(vec![])
    }

    /// Gives `conn` a role; a new primary asks the service to demote the
    /// bridge's other primaries (`demote_others`).
    fn set_role(&mut self, conn: &mut ConnState, role: u32) {
        if role == ROLE_PRIMARY && conn.role != ROLE_PRIMARY {
            self.demote_others = true;
        }
        conn.role = role;
    }

    /// The flow-removed message for `r` in `conn`'s protocol, unless the
    /// connection is a secondary controller.
    pub fn flow_removed_msg(conn: &ConnState, r: &RemovedRule) -> Option<Vec<u8>> {
        if !conn.async_config().wants(conn.role, 2, r.reason as u8) {
            return None;
        }
        let v = conn.version;
        let d = r.at.saturating_duration_since(r.rule.created);
        let (dsec, dnsec) = (d.as_secs() as u32, d.subsec_millis() * 1_000_000);
        // Reasons newer than the connection's version read as "delete".
        let reason = match (r.reason, v) {
            (RemovedReason::GroupDelete | RemovedReason::MeterDelete, v) if v < 5 => {
                RemovedReason::Delete as u8
            }
            (why, _) => why as u8,
        };
        let mut m;
        if v == 1 && conn.nxm {
            m = start(1, 4, 0);
            m.put_u32(NX_VENDOR);
            m.put_u32(14);
            m.put_u64(r.rule.cookie);
            m.put_u16(r.priority);
            m.put_u8(reason);
            m.put_u8(r.table_id);
            m.put_u32(dsec);
            m.put_u32(dnsec);
            m.put_u16(r.rule.idle_timeout);
            let ml_at = m.len();
            m.put_u16(0);
            m.put_u64(r.rule.packet_count);
            m.put_u64(r.rule.byte_count);
            let ms = m.len();
            nxm::encode(&r.m, None, &mut m);
            let ml = m.len() - ms;
            m.set_u16(ml_at, ml as u16);
            m.pad_to(8);
        } else if v == 1 {
            m = start(1, 11, 0);
            ofp10::encode(&r.m, &mut m);
            m.put_u64(r.rule.cookie);
            m.put_u16(r.priority);
            m.put_u8(reason);
            m.put_u8(0);
            m.put_u32(dsec);
            m.put_u32(dnsec);
            m.put_u16(r.rule.idle_timeout);
            m.put_zeros(2);
            m.put_u64(r.rule.packet_count);
            m.put_u64(r.rule.byte_count);
        } else if v <= 5 {
            m = start(v, 11, 0);
            m.put_u64(r.rule.cookie);
            m.put_u16(r.priority);
            m.put_u8(reason);
            m.put_u8(r.table_id);
            m.put_u32(dsec);
            m.put_u32(dnsec);
            m.put_u16(r.rule.idle_timeout);
            m.put_u16(r.rule.hard_timeout);
            m.put_u64(r.rule.packet_count);
            m.put_u64(r.rule.byte_count);
            put_oxm_match(&r.m, v, &mut m);
        } else {
            m = start(v, 11, 0);
            m.put_u8(r.table_id);
            m.put_u8(reason);
            m.put_u16(r.priority);
            m.put_u16(r.rule.idle_timeout);
            m.put_u16(r.rule.hard_timeout);
            m.put_u64(r.rule.cookie);
            put_oxm_match(&r.m, v, &mut m);
            let idle = r.at.saturating_duration_since(r.rule.used).as_secs();
            put_oxs(
                &mut m,
                Some(((dsec as u64) << 32) | dnsec as u64),
                Some(idle << 32),
                r.rule.packet_count,
                r.rule.byte_count,
                None,
            );
        }
        Some(finish(m))
    }

    /// The port-status message for `c` in version `v`.
    pub fn port_status_msg(&self, v: u8, c: &PortChange) -> Vec<u8> {
        let mut m = start(v, 12, 0);
        m.put_u8(c.reason);
        m.put_zeros(7);
        self.port_bytes(v, &c.port, &mut m);
        finish(m)
    }

    /// BUNDLE_CONTROL (or its OpenFlow 1.3 ONF form): `body` starts at the
    /// bundle id.
    fn bundle_control(&mut self, conn: &mut ConnState, h: Header, body: &[u8]) -> Res {
        let mut r = Reader::new(body);
        let e = OfpErr::OFPBRC_BAD_LEN;
        let id = r.u32().ok_or(e)?;
        let ty = r.u16().ok_or(e)?;
        let flags = r.u16().ok_or(e)?;
        let reply_type = match ty {
            0 => {
                if conn.bundles.remove(&id).is_some() {
                    return Err(OfpErr::OFPBFC_BAD_ID);
                }
                conn.bundles.insert(
                    id,
                    Bundle {
                        flags,
                        closed: false,
                        entries: Vec::new(),
                    },
                );
                1
            }
            2 => {
                let b = conn.bundles.get_mut(&id).ok_or(OfpErr::OFPBFC_BAD_ID)?;
                if b.closed {
                    conn.bundles.remove(&id);
                    return Err(OfpErr::OFPBFC_BUNDLE_CLOSED);
                }
                if b.flags != flags {
                    conn.bundles.remove(&id);
                    return Err(OfpErr::OFPBFC_BAD_FLAGS);
                }
                b.closed = true;
                3
            }
            4 => {
                let b = conn.bundles.remove(&id).ok_or(OfpErr::OFPBFC_BAD_ID)?;
                if b.flags != flags {
                    return Err(OfpErr::OFPBFC_BAD_FLAGS);
                }
                if let Some((err, failed)) = self.commit(b.entries) {
                    // First the failing change's own error, then the
                    // commit's (which `handle` sends for the Err).
                    let fh = Header::parse(&failed).unwrap_or(h);
                    self.early_replies
                        .push(error_msg(err, fh.version, fh.xid, &failed));
                    return Err(OfpErr::OFPBFC_MSG_FAILED);
                }
                5
            }
            6 => {
                conn.bundles.remove(&id).ok_or(OfpErr::OFPBFC_BAD_ID)?;
                7
            }
            1 | 3 | 5 | 7 => return Err(OfpErr::OFPBFC_BAD_TYPE),
            _ => return Err(OfpErr::OFPBFC_BAD_TYPE),
        };
        // The reply repeats the request's header form with flags 0.
        let mut m = start(h.version, h.msg_type, h.xid);
        if h.msg_type == 4 {
            m.put_u32(ONF_VENDOR);
            m.put_u32(2300);
        }
        m.put_u32(id);
        m.put_u16(reply_type);
        m.put_u16(0);
        Ok(vec![finish(m)])
    }

    /// BUNDLE_ADD_MESSAGE: the inner message starts at `inner_at`.
    fn bundle_add(&mut self, conn: &mut ConnState, h: Header, msg: &[u8], inner_at: usize) -> Res {
        let mut r = Reader::new(msg.get(inner_at - 8..).unwrap_or(&[]));
        let e = OfpErr::OFPBRC_BAD_LEN;
        let id = r.u32().ok_or(e)?;
        r.skip(2).ok_or(e)?;
        let flags = r.u16().ok_or(e)?;
        let inner = r.rest();
        let ih = Header::parse(inner).ok_or(OfpErr::OFPBFC_MSG_BAD_LEN)?;
        if ih.version != h.version {
            return Err(OfpErr::OFPBFC_BAD_VERSION);
        }
        if (ih.length as usize) < 8 || ih.length as usize > inner.len() {
            return Err(OfpErr::OFPBFC_MSG_BAD_LEN);
        }
        if ih.xid != h.xid {
            return Err(OfpErr::OFPBFC_MSG_BAD_XID);
        }
        let inner = &inner[..ih.length as usize];
        let op = match ih.msg_type {
            14 => BundleOp::Flow(Box::new(self.decode_flow_mod(conn, ih, inner)?)),
            15 => BundleOp::Group(groups::decode_mod(ih.version, &inner[8..])?),
            _ => return Err(OfpErr::OFPBFC_MSG_UNSUP),
        };
        match conn.bundles.get_mut(&id) {
            None => {
                conn.bundles.insert(
                    id,
                    Bundle {
                        flags,
                        closed: false,
                        entries: vec![(op, msg.to_vec())],
                    },
                );
            }
            Some(b) if b.closed => {
                conn.bundles.remove(&id);
                return Err(OfpErr::OFPBFC_BUNDLE_CLOSED);
            }
            Some(b) if b.flags != flags => {
                conn.bundles.remove(&id);
                return Err(OfpErr::OFPBFC_BAD_FLAGS);
            }
            Some(b) => b.entries.push((op, msg.to_vec())),
        }
        Ok(vec![])
    }

    /// Applies a bundle's changes all or nothing. On failure returns the
    /// error and the BUNDLE_ADD message of the change that failed.
    fn commit(&mut self, entries: Vec<(BundleOp, Vec<u8>)>) -> Option<(OfpErr, Vec<u8>)> {
        let saved = (
            self.tables.clone(),
            self.groups.clone(),
            self.meters.clone(),
        );
        for (op, msg) in entries {
            let res = match op {
                BundleOp::Flow(fm) => self.flow_mod(*fm),
                BundleOp::Group(gm) => self.group_mod(gm),
            };
            if let Err(e) = res {
                (self.tables, self.groups, self.meters) = saved;
                return Some((e, msg));
            }
        }
        None
    }

    /// Whether any rule has an idle or hard timeout.
    pub fn has_timeouts(&self) -> bool {
        self.n_timeouts > 0
    }

    /// Removes the rules whose idle or hard timeout has passed at `now`;
    /// returns how many. (Without traffic a rule is idle since it was
    /// added, as in stock; the datapath will refresh `used`.)
    pub fn expire(&mut self, now: Instant) -> usize {
        if self.n_timeouts == 0 {
            return 0;
        }
        let secs = |d: std::time::Duration| d.as_secs();
        let expired = |r: &Rule| {
            if r.hard_timeout != 0
                && secs(now.saturating_duration_since(r.modified)) >= r.hard_timeout as u64
            {
                Some(RemovedReason::HardTimeout)
            } else if r.idle_timeout != 0
                && secs(now.saturating_duration_since(r.used)) >= r.idle_timeout as u64
            {
                Some(RemovedReason::IdleTimeout)
            } else {
                None
            }
        };
        let before: usize = self.tables.iter().map(|t| t.len()).sum();
        self.remove_rules(expired, now);
        let after: usize = self.tables.iter().map(|t| t.len()).sum();
        self.recount_timeouts();
        before - after
    }

    fn recount_timeouts(&mut self) {
        self.n_timeouts = self
            .tables
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|(_, _, r)| r.idle_timeout != 0 || r.hard_timeout != 0)
                    .count()
            })
            .sum();
    }

    /// NXST_FLOW_MONITOR request: registers monitors and answers with the
    /// rules they already see (when asked for the initial state).
    fn flow_monitor_request(&mut self, conn: &mut ConnState, body: &[u8], mut rep: Replies) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let mut new = Vec::new();
        while !r.is_empty() {
            let id = r.u32().ok_or(e)?;
            let flags = r.u16().ok_or(e)?;
            let out_port = r.u16().ok_or(e)?;
            let match_len = r.u16().ok_or(e)? as usize;
            let table_id = r.u8().ok_or(e)?;
            let zeros = r.bytes(5).ok_or(e)?;
            if flags & (2 | 4 | 8) == 0 || flags & !0x3f != 0 {
                return Ok(vec![monitor_error(OfpErr::OFPMOFC_BAD_FLAGS, r.rest())]);
            }
            if zeros.iter().any(|&b| b != 0) {
                return Ok(vec![monitor_error(OfpErr::NXBRC_MUST_BE_ZERO, r.rest())]);
            }
            if r.len() < pad8(match_len) {
                return Err(OfpErr::OFPBMC_BAD_LEN);
            }
            let m = nxm::decode(&mut r, match_len, false, None)?;
            r.skip(pad8(match_len) - match_len).ok_or(e)?;
            if table_id != 0xff && table_id > N_TABLES {
                return Ok(vec![monitor_error(OfpErr::OFPBRC_BAD_TABLE_ID, r.rest())]);
            }
            if conn
                .monitors
                .iter()
                .chain(new.iter())
                .any(|x: &Monitor| x.id == id)
            {
                return Ok(vec![monitor_error(
                    OfpErr::OFPMOFC_MONITOR_EXISTS,
                    r.rest(),
                )]);
            }
            new.push(Monitor {
                id,
                flags,
                out_port,
                out_group: OFPG_ANY,
                table_id,
                m,
            });
        }
        rep.nx_subtype = Some(2);
        self.initial_updates(&new, 1, &mut rep);
        if !new.is_empty() {
            self.monitoring = true;
        }
        conn.monitors.extend(new);
        Ok(rep.finish())
    }

    /// OpenFlow 1.4+ OFPMP_FLOW_MONITOR request: add, modify and delete
    /// monitors, answering with the initial state of added ones.
    fn flow_monitor_request14(
        &mut self,
        conn: &mut ConnState,
        v: u8,
        body: &[u8],
        mut rep: Replies,
    ) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let mut monitors = conn.monitors.clone();
        let mut new = Vec::new();
        while !r.is_empty() {
            let id = r.u32().ok_or(e)?;
            let out_port = r.u32().ok_or(e)?;
            let out_group = r.u32().ok_or(e)?;
            let flags = r.u16().ok_or(e)?;
            let table_id = r.u8().ok_or(e)?;
            let command = r.u8().ok_or(e)?;
            if command != 2 && (flags & (2 | 4 | 8) == 0 || flags & !(0x1f | 0x40) != 0) {
                return Ok(vec![monitor_error(OfpErr::OFPMOFC_BAD_FLAGS, r.rest())]);
            }
            let out_port = port_from_of11(out_port).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
            let m = self.pull_oxm_match(&mut r)?;
            if table_id != 0xff && table_id > N_TABLES {
                return Ok(vec![monitor_error(OfpErr::OFPBRC_BAD_TABLE_ID, r.rest())]);
            }
            // Only-own maps to the Nicira "own" bit.
            let nx_flags = (flags & 0x1f) | if flags & 0x40 != 0 { 0x20 } else { 0 };
            let mon = Monitor {
                id,
                flags: nx_flags,
                out_port,
                out_group,
                table_id,
                m,
            };
            let pos = monitors.iter().position(|x| x.id == id);
            let fail = |err| Ok(vec![monitor_error(err, r.rest())]);
            match (command, pos) {
                (0, Some(_)) => return fail(OfpErr::OFPMOFC_MONITOR_EXISTS),
                (0, None) => {
                    monitors.push(mon.clone());
                    new.push(mon);
                }
                (1, Some(i)) => {
                    monitors[i] = mon.clone();
                    new.push(mon);
                }
                (2, Some(i)) => {
                    monitors.remove(i);
                }
                (1 | 2, None) => return fail(OfpErr::OFPMOFC_UNKNOWN_MONITOR),
                _ => return fail(OfpErr::OFPMOFC_BAD_COMMAND),
            }
        }
        self.initial_updates(&new, v, &mut rep);
        if !new.is_empty() {
            self.monitoring = true;
        }
        conn.monitors = monitors;
        Ok(rep.finish())
    }

    /// The rules `mons` see now, as initial updates in version `v`'s form.
    fn initial_updates(&self, mons: &[Monitor], v: u8, rep: &mut Replies) {
        let mut e2 = Vec::new();
        for mon in mons {
            if mon.flags & 1 == 0 {
                continue;
            }
            for (t, table) in self.tables.iter().enumerate() {
                if mon.table_id != 0xff && mon.table_id as usize != t {
                    continue;
                }
                for (m, p, rule) in table.iter() {
                    if !m.is_subsumed_by(&mon.m)
                        || (mon.out_port != port::NONE
                            && !rule.instructions.outputs_to(mon.out_port))
                        || (mon.out_group != OFPG_ANY
                            && !rule.instructions.outputs_to_group(mon.out_group))
                    {
                        continue;
                    }
                    e2.clear();
                    let ev = FlowEvent {
                        event: 0,
                        reason: 0,
                        table_id: t as u8,
                        m,
                        priority: p as u16,
                        cookie: rule.cookie,
                        idle_timeout: rule.idle_timeout,
                        hard_timeout: rule.hard_timeout,
                        instructions: rule.instructions.clone(),
                        old_instructions: None,
                        origin: None,
                    };
                    if v >= 5 {
                        // OFPFME_INITIAL.
                        put_flow_update14(&ev, 0, v, mon.flags & 16 != 0, &mut e2);
                    } else {
                        put_flow_update(&ev, mon.flags & 16 != 0, &mut e2);
                    }
                    rep.push(&e2);
                }
            }
        }
    }

    /// The NXST_FLOW_MONITOR update a connection with monitors gets for
    /// `events`, or None if none concerns it. `me` is the connection's
    /// service token: its own changes come abbreviated unless it asked for
    /// them in full.
    pub fn flow_updates_msg(conn: &ConnState, me: usize, events: &[FlowEvent]) -> Option<Vec<u8>> {
        let v = conn.version;
        if conn.monitors.is_empty() || !(v == 1 || v >= 5) {
            return None;
        }
        let mut body = Vec::new();
        let mut sent_abbrev = false;
        for ev in events {
            let bit = match ev.event {
                0 => 2,
                1 => 4,
                _ => 8,
            };
            let mut flags = 0u16;
            for mon in &conn.monitors {
                let port_ok = mon.out_port == port::NONE
                    || ev.instructions.outputs_to(mon.out_port)
                    || ev
                        .old_instructions
                        .as_ref()
                        .is_some_and(|o| o.outputs_to(mon.out_port));
                let group_ok =
                    mon.out_group == OFPG_ANY || ev.instructions.outputs_to_group(mon.out_group);
                if mon.flags & bit != 0
                    && (mon.table_id == 0xff || mon.table_id == ev.table_id)
                    && port_ok
                    && group_ok
                    && ev.m.is_subsumed_by(&mon.m)
                {
                    flags |= mon.flags;
                }
            }
            if flags == 0 {
                continue;
            }
            match ev.origin {
                Some((who, xid)) if who == me && flags & 32 == 0 => {
                    if !sent_abbrev {
                        body.put_u16(8);
                        body.put_u16(if v >= 5 { 4 } else { 3 });
                        body.put_u32(xid);
                        sent_abbrev = true;
                    }
                }
                _ if v >= 5 => put_flow_update14(ev, ev.event + 1, v, flags & 16 != 0, &mut body),
                _ => put_flow_update(ev, flags & 16 != 0, &mut body),
            }
        }
        if body.is_empty() {
            return None;
        }
        if v >= 5 {
            let mut m = start(v, 19, 0);
            m.put_u16(16);
            m.put_u16(0);
            m.put_zeros(4);
            m.extend_from_slice(&body);
            return Some(finish(m));
        }
        let mut m = start(1, 17, 0);
        m.put_u16(0xffff);
        m.put_u16(0);
        m.put_u32(NX_VENDOR);
        m.put_u32(2);
        m.put_zeros(4);
        m.extend_from_slice(&body);
        Some(finish(m))
    }

    /// Number of rules metered by meter `m`.
    fn meter_refs(&self, m: u32) -> u32 {
        self.tables
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|(_, _, r)| r.instructions.meter == Some(m))
                    .count() as u32
            })
            .sum()
    }

    /// Removes every rule for which `doomed` holds.
    /// Removes every rule for which `doomed` gives a reason.
    fn remove_rules(&mut self, doomed: impl Fn(&Rule) -> Option<RemovedReason>, now: Instant) {
        for t in 0..self.tables.len() {
            let gone: Vec<(Match, u32, RemovedReason)> = self.tables[t]
                .iter()
                .filter_map(|(m, p, r)| doomed(r).map(|why| (m, p, why)))
                .collect();
            for (m, p, why) in gone {
                self.remove_rule(t, &m, p, why, now);
            }
        }
    }

    /// Records a rule change for flow monitors: `what` is (event, reason),
    /// `at` the rule's (table, match, priority).
    fn record(
        &mut self,
        what: (u16, u16),
        at: (usize, &Match, u32),
        r: &Rule,
        old: Option<Instructions>,
    ) {
        if !self.monitoring {
            return;
        }
        let (event, reason) = what;
        let (t, m, p) = at;
        self.flow_events.push(FlowEvent {
            event,
            reason,
            table_id: t as u8,
            m: m.clone(),
            priority: p as u16,
            cookie: r.cookie,
            idle_timeout: r.idle_timeout,
            hard_timeout: r.hard_timeout,
            instructions: r.instructions.clone(),
            old_instructions: old,
            origin: self.event_origin,
        });
    }

    /// Removes one rule, owing a flow-removed message if it asked for one.
    fn remove_rule(&mut self, t: usize, m: &Match, p: u32, why: RemovedReason, now: Instant) {
        if let Some(rule) = self.tables.get_mut(t).and_then(|tb| tb.remove(m, p)) {
            self.record((1, why as u16), (t, m, p), &rule, None);
            if rule.flags & 1 != 0 {
                self.removed.push(RemovedRule {
                    table_id: t as u8,
                    m: m.clone(),
                    priority: p as u16,
                    rule,
                    reason: why,
                    at: now,
                });
            }
        }
    }

    fn meter_mod(&mut self, mm: meters::MeterMod) -> Result<(), OfpErr> {
        let id = mm.meter.id;
        let now = Instant::now();
        match mm.command {
            0 => {
                if self.meters.contains_key(&id) {
                    return Err(OfpErr::OFPMMFC_METER_EXISTS);
                }
                meters::datapath_check(&mm.meter)?;
                self.meters.insert(id, (mm.meter, now));
            }
            1 => {
                let Some((_, created)) = self.meters.get(&id) else {
                    return Err(OfpErr::OFPMMFC_UNKNOWN_METER);
                };
                let created = *created;
                meters::datapath_check(&mm.meter)?;
                self.meters.insert(id, (mm.meter, created));
            }
            _ => {
                let ids: Vec<u32> = if id == meters::ID_ALL {
                    self.meters.keys().copied().collect()
                } else {
                    vec![id]
                };
                for m in ids {
                    if self.meters.remove(&m).is_some() {
                        // Rules that use a deleted meter go with it.
                        self.remove_rules(
                            |r| {
                                (r.instructions.meter == Some(m))
                                    .then_some(RemovedReason::MeterDelete)
                            },
                            now,
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of rules whose actions name group `g`.
    fn group_refs(&self, g: u32) -> u32 {
        self.tables
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|(_, _, r)| r.instructions.outputs_to_group(g))
                    .count() as u32
            })
            .sum()
    }

    fn group_mod(&mut self, gm: groups::GroupMod) -> Result<(), OfpErr> {
        let id = gm.group.id;
        let check = |g: &Group| -> Result<(), OfpErr> {
            if g.id > groups::MAX_ID {
                return Err(OfpErr::OFPGMFC_INVALID_GROUP);
            }
            if g.group_type > 3 {
                return Err(OfpErr::OFPGMFC_BAD_TYPE);
            }
            Ok(())
        };
        let now = Instant::now();
        match gm.command {
            0 => {
                check(&gm.group)?;
                if self.groups.contains_key(&id) {
                    return Err(OfpErr::OFPGMFC_GROUP_EXISTS);
                }
                self.groups.insert(id, (gm.group, now));
            }
            1 | 0x8000 => {
                check(&gm.group)?;
                let created = match self.groups.get(&id) {
                    Some((_, c)) => *c,
                    None if gm.command == 0x8000 => now,
                    None => return Err(OfpErr::OFPGMFC_UNKNOWN_GROUP),
                };
                self.groups.insert(id, (gm.group, created));
            }
            2 => {
                let ids: Vec<u32> = if id == groups::ALL {
                    self.groups.keys().copied().collect()
                } else {
                    vec![id]
                };
                for g in ids {
                    if self.groups.remove(&g).is_some() {
                        // Rules that use a deleted group go with it.
                        self.remove_rules(
                            |r| {
                                r.instructions
                                    .outputs_to_group(g)
                                    .then_some(RemovedReason::GroupDelete)
                            },
                            now,
                        );
                    }
                }
            }
            3 | 5 => {
                let Some((old, _)) = self.groups.get_mut(&id) else {
                    return Err(OfpErr::OFPGMFC_UNKNOWN_GROUP);
                };
                const FIRST: u32 = 0xffff_fffd;
                const LAST: u32 = 0xffff_fffe;
                let pos = |b: &[groups::Bucket], which: u32| match which {
                    FIRST => Some(0),
                    LAST => Some(b.len()),
                    id => b.iter().position(|x| x.id == id),
                };
                if gm.command == 3 {
                    if gm
                        .group
                        .buckets
                        .iter()
                        .any(|nb| old.buckets.iter().any(|b| b.id == nb.id))
                    {
                        return Err(OfpErr::OFPGMFC_BUCKET_EXISTS);
                    }
                    let at = pos(&old.buckets, gm.command_bucket_id)
                        .ok_or(OfpErr::OFPGMFC_UNKNOWN_BUCKET)?;
                    for (i, b) in gm.group.buckets.into_iter().enumerate() {
                        old.buckets.insert(at + i, b);
                    }
                } else if gm.command_bucket_id == groups::ANY {
                    old.buckets.clear();
                } else {
                    let at = match gm.command_bucket_id {
                        FIRST if !old.buckets.is_empty() => 0,
                        LAST if !old.buckets.is_empty() => old.buckets.len() - 1,
                        which => pos(&old.buckets, which)
                            .filter(|&i| i < old.buckets.len())
                            .ok_or(OfpErr::OFPGMFC_UNKNOWN_BUCKET)?,
                    };
                    old.buckets.remove(at);
                }
            }
            _ => return Err(OfpErr::OFPGMFC_BAD_COMMAND),
        }
        Ok(())
    }

    /// Rules selected by `f`, loosely or (with a priority) strictly.
    fn collect(
        &self,
        f: &Filter<'_>,
        strict: Option<u32>,
    ) -> Result<Vec<(usize, Match, u32)>, OfpErr> {
        let mut out = Vec::new();
        for t in self.tables_for(f.table_id)? {
            if let Some(p) = strict {
                if let Some(rule) = self.tables[t].find_exact(f.m, p) {
                    if f.accepts(f.m, rule) {
                        out.push((t, f.m.clone(), p));
                    }
                }
            } else {
                for (m, p, rule) in self.tables[t].iter() {
                    if f.accepts(&m, rule) {
                        out.push((t, m, p));
                    }
                }
            }
        }
        Ok(out)
    }

    fn add_flow(&mut self, fm: &FlowMod, _: Option<()>) -> Result<(), OfpErr> {
        let t = if fm.table_id == 0xff {
            0
        } else {
            fm.table_id as usize
        };
        let table = &mut self.tables[t];
        let prio = fm.priority as u32;
        if fm.flags & 2 != 0 {
            let overlap = table
                .iter()
                .any(|(m, p, _)| p == prio && m != fm.m && m.overlaps(&fm.m));
            if overlap {
                return Err(OfpErr::OFPFMFC_OVERLAP);
            }
        }
        let now = Instant::now();
        let mut rule = Rule {
            cookie: fm.new_cookie.unwrap_or(0),
            idle_timeout: fm.idle,
            hard_timeout: fm.hard,
            importance: fm.importance,
            flags: fm.flags,
            instructions: fm.ins.clone(),
            created: now,
            modified: now,
            used: now,
            packet_count: 0,
            byte_count: 0,
        };
        if let Some(old) = table.find_exact(&fm.m, prio) {
            if fm.flags & 4 == 0 {
                rule.packet_count = old.packet_count;
                rule.byte_count = old.byte_count;
            }
        }
        if self.monitoring {
            let r = rule.clone();
            self.record((0, 0), (t, &fm.m, prio), &r, None);
        }
        let table = &mut self.tables[t];
        table.insert(&fm.m, prio, rule);
        if fm.idle != 0 || fm.hard != 0 {
            // A hint; `expire` recounts exactly.
            self.n_timeouts += 1;
        }
        Ok(())
    }

    fn stats(&mut self, conn: &mut ConnState, h: Header, msg: &[u8]) -> Res {
        let v = h.version;
        let hdr_len = if v == 1 { 12 } else { 16 };
        let mut r = Reader::new(msg.get(8..).unwrap_or(&[]));
        let ty = r.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        let _flags = r.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        if v != 1 {
            r.skip(4).ok_or(OfpErr::OFPBRC_BAD_LEN)?;
        }
        let body = r.rest();
        let reply_type = if v == 1 { 17 } else { 19 };
        let mut rep = Replies::new(v, reply_type, h.xid, ty, hdr_len);
        match ty {
            0 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut d = Vec::new();
                for (s, n) in [
                    ("Nicira, Inc.", 256),
                    ("Open vSwitch", 256),
                    (env!("CARGO_PKG_VERSION"), 256),
                    ("None", 32),
                    ("None", 256),
                ] {
                    let mut f = vec![0u8; n];
                    let b = s.as_bytes();
                    f[..b.len().min(n - 1)].copy_from_slice(&b[..b.len().min(n - 1)]);
                    d.extend_from_slice(&f);
                }
                rep.push(&d);
            }
            1 | 2 => {
                let mut br = Reader::new(body);
                let e = OfpErr::OFPBRC_BAD_LEN;
                let (m, table_id, out_port, out_group, cookie, cookie_mask);
                if v == 1 {
                    let (mm, _) = ofp10::decode(&mut br).ok_or(e)?;
                    table_id = br.u8().ok_or(e)?;
                    br.skip(1).ok_or(e)?;
                    out_port = br.u16().ok_or(e)?;
                    if !br.is_empty() {
                        return Err(e);
                    }
                    m = mm;
                    (out_group, cookie, cookie_mask) = (OFPG_ANY, 0, 0);
                } else {
                    table_id = br.u8().ok_or(e)?;
                    br.skip(3).ok_or(e)?;
                    let op = br.u32().ok_or(e)?;
                    out_port = port_from_of11(op).ok_or(OfpErr::OFPBRC_BAD_PORT)?;
                    out_group = br.u32().ok_or(e)?;
                    br.skip(4).ok_or(e)?;
                    cookie = br.u64().ok_or(e)?;
                    cookie_mask = br.u64().ok_or(e)?;
                    m = self.pull_oxm_match(&mut br)?;
                }
                let f = Filter {
                    m: &m,
                    table_id,
                    out_port,
                    out_group,
                    cookie,
                    cookie_mask,
                };
                if ty == 1 {
                    self.flow_stats(&f, v, None, &mut rep)?;
                } else {
                    self.aggregate(&f, &mut rep)?;
                }
            }
            3 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                self.table_stats(v, &mut rep)?;
            }
            4 => {
                let mut br = Reader::new(body);
                let want = if v == 1 {
                    br.u16().ok_or(OfpErr::OFPBRC_BAD_LEN)?
                } else {
                    let p = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
                    port_from_of11(p).ok_or(OfpErr::OFPBRC_BAD_PORT)?
                };
                if br.len() != if v == 1 { 6 } else { 4 } {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let now = Instant::now();
                let mut e = Vec::new();
                for pi in self.sorted_ports() {
                    if want == port::NONE || want == pi.ofp_port {
                        e.clear();
                        self.port_stats_entry(v, pi, now, &mut e);
                        rep.push(&e);
                    }
                }
            }
            12 if v >= 4 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_EPERM);
                }
                self.table_features(v, &mut rep);
            }
            13 => {
                // Only OpenFlow 1.5 names a port; earlier requests are empty.
                let want = if v >= 6 {
                    let mut br = Reader::new(body);
                    let p = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
                    if br.len() != 4 {
                        return Err(OfpErr::OFPBRC_BAD_LEN);
                    }
                    port_from_of11(p).ok_or(OfpErr::OFPBRC_BAD_PORT)?
                } else {
                    if !body.is_empty() {
                        return Err(OfpErr::OFPBRC_BAD_LEN);
                    }
                    port::NONE
                };
                let mut out = Vec::new();
                for pi in self.sorted_ports() {
                    if want == port::NONE || want == pi.ofp_port {
                        out.clear();
                        self.port_bytes(v, pi, &mut out);
                        rep.push(&out);
                    }
                }
            }
            6 | 7 if v >= 2 => {
                let want = if ty == 7 && v < 6 {
                    if !body.is_empty() {
                        return Err(OfpErr::OFPBRC_BAD_LEN);
                    }
                    groups::ALL
                } else {
                    let mut br = Reader::new(body);
                    let g = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
                    if br.len() != 4 {
                        return Err(OfpErr::OFPBRC_BAD_LEN);
                    }
                    g
                };
                let now = Instant::now();
                let mut e = Vec::new();
                for (id, (g, created)) in &self.groups {
                    if want != groups::ALL && want != *id {
                        continue;
                    }
                    e.clear();
                    if ty == 7 {
                        groups::encode_desc(v, g, &mut e);
                    } else {
                        let refs = self.group_refs(*id);
                        groups::encode_stats(v, g, refs, now.duration_since(*created), &mut e);
                    }
                    rep.push(&e);
                }
            }
            9 | 10 if v >= 4 => {
                let mut br = Reader::new(body);
                let want = br.u32().ok_or(OfpErr::OFPBRC_BAD_LEN)?;
                if br.len() != 4 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let now = Instant::now();
                let mut e = Vec::new();
                for (id, (m, created)) in &self.meters {
                    if want != meters::ID_ALL && want != *id {
                        continue;
                    }
                    e.clear();
                    if ty == 10 {
                        meters::encode_config(m, &mut e);
                    } else {
                        meters::encode_stats(
                            m,
                            self.meter_refs(*id),
                            now.duration_since(*created),
                            &mut e,
                        );
                    }
                    rep.push(&e);
                }
            }
            11 if v >= 4 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut e = Vec::new();
                meters::encode_features(&mut e);
                rep.push(&e);
            }
            16 if v >= 5 => return self.flow_monitor_request14(conn, v, body, rep),
            14 if v >= 5 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut e = Vec::new();
                for (t, cfg) in self.table_cfg.iter().enumerate() {
                    e.clear();
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u32(
                        if cfg.eviction { 4 } else { 0 }
                            | if cfg.vacancy.is_some() { 8 } else { 0 },
                    );
                    e.put_u16(2);
                    e.put_u16(8);
                    e.put_u32(EVICTION_FLAGS);
                    if let Some((down, up)) = cfg.vacancy {
                        let active = self.tables[t].len() as u64;
                        let vac = 100 - (active * 100 / 1_000_000).min(100);
                        e.put_u16(3);
                        e.put_u16(8);
                        e.put_u8(down);
                        e.put_u8(up);
                        e.put_u8(vac as u8);
                        e.put_u8(0);
                    }
                    let len = e.len() as u16;
                    e.set_u16(0, len);
                    rep.push(&e);
                }
            }
            8 if v >= 2 => {
                if !body.is_empty() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut e = Vec::new();
                groups::encode_features(v, &mut e);
                rep.push(&e);
            }
            0xffff => return self.nx_stats(conn, h, body, rep),
            _ => return Err(OfpErr::OFPBRC_BAD_STAT),
        }
        Ok(rep.finish())
    }

    fn nx_stats(&mut self, _conn: &mut ConnState, h: Header, body: &[u8], mut rep: Replies) -> Res {
        let mut r = Reader::new(body);
        let e = OfpErr::OFPBRC_BAD_LEN;
        let vendor = r.u32().ok_or(e)?;
        if vendor != NX_VENDOR {
            return Err(OfpErr::OFPBRC_BAD_VENDOR);
        }
        let subtype = r.u32().ok_or(e)?;
        if h.version == 1 {
            r.skip(4).ok_or(e)?;
        }
        // NXST_GROUP_FEATURES: group features before OpenFlow 1.2.
        if subtype == 9 && h.version <= 2 {
            if !r.is_empty() {
                return Err(e);
            }
            rep.nx_subtype = Some(subtype);
            let mut b = Vec::new();
            groups::encode_features(h.version, &mut b);
            rep.push(&b);
            return Ok(rep.finish());
        }
        if subtype == 2 && h.version == 1 {
            return self.flow_monitor_request(_conn, r.rest(), rep);
        }
        if subtype > 1 || h.version != 1 {
            return Err(OfpErr::OFPBRC_BAD_SUBTYPE);
        }
        let out_port = r.u16().ok_or(e)?;
        let match_len = r.u16().ok_or(e)? as usize;
        let table_id = r.u8().ok_or(e)?;
        r.skip(3).ok_or(e)?;
        if r.len() < pad8(match_len) {
            return Err(OfpErr::OFPBMC_BAD_LEN);
        }
        let mut ck = (0u64, 0u64);
        let m = nxm::decode(&mut r, match_len, true, Some(&mut ck))?;
        rep.nx_subtype = Some(subtype);
        let f = Filter {
            m: &m,
            table_id,
            out_port,
            out_group: OFPG_ANY,
            cookie: ck.0,
            cookie_mask: ck.1,
        };
        if subtype == 0 {
            self.flow_stats(&f, h.version, Some(()), &mut rep)?;
        } else {
            self.aggregate(&f, &mut rep)?;
        }
        Ok(rep.finish())
    }

    fn flow_stats(
        &self,
        f: &Filter<'_>,
        v: u8,
        nx: Option<()>,
        rep: &mut Replies,
    ) -> Result<(), OfpErr> {
        let now = Instant::now();
        let mut e = Vec::new();
        for t in self.tables_for(f.table_id)? {
            for (m, p, rule) in self.tables[t].iter() {
                if !f.accepts(&m, rule) {
                    continue;
                }
                e.clear();
                let d = now.duration_since(rule.created);
                // Stock reports durations with millisecond resolution.
                let (dsec, dnsec) = (d.as_secs() as u32, d.subsec_millis() * 1_000_000);
                let pkts = if rule.flags & 8 != 0 {
                    u64::MAX
                } else {
                    rule.packet_count
                };
                let bytes = if rule.flags & 16 != 0 {
                    u64::MAX
                } else {
                    rule.byte_count
                };
                if nx.is_some() {
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u32(dsec);
                    e.put_u32(dnsec);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    let ml_at = e.len();
                    e.put_u16(0);
                    let idle_age = now.duration_since(rule.used).as_secs();
                    let hard_age = now.duration_since(rule.modified).as_secs();
                    e.put_u16((idle_age + 1).min(65535) as u16);
                    e.put_u16(if rule.modified != rule.created {
                        (hard_age + 1).min(65535) as u16
                    } else {
                        0
                    });
                    e.put_u64(rule.cookie);
                    e.put_u64(pkts);
                    e.put_u64(bytes);
                    let start = e.len();
                    nxm::encode(&m, None, &mut e);
                    let ml = e.len() - start;
                    e.set_u16(ml_at, ml as u16);
                    e.pad_to(8);
                    actions::encode_instructions(1, &rule.instructions, has_vlan(&m), &mut e);
                } else if v == 1 {
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    ofp10::encode(&m, &mut e);
                    e.put_u32(dsec);
                    e.put_u32(dnsec);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    e.put_zeros(6);
                    e.put_u64(rule.cookie);
                    e.put_u64(pkts);
                    e.put_u64(bytes);
                    actions::encode(1, &rule.instructions.apply, has_vlan(&m), &mut e);
                } else if v >= 6 {
                    // OpenFlow 1.5: a flow description, the match, then
                    // the statistics as OXS entries.
                    e.put_u16(0);
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    e.put_u16(rule.flags);
                    e.put_u16(rule.importance);
                    e.put_u64(rule.cookie);
                    let mstart = e.len();
                    e.put_u16(1);
                    e.put_u16(0);
                    nxm::encode(&m, Some(v), &mut e);
                    let mlen = e.len() - mstart;
                    e.set_u16(mstart + 2, mlen as u16);
                    e.pad_to(8);
                    let idle = now
                        .duration_since(rule.used)
                        .as_secs()
                        .min(u32::MAX as u64 - 1);
                    put_oxs(
                        &mut e,
                        Some(((dsec as u64) << 32) | dnsec as u64),
                        Some(idle << 32),
                        pkts,
                        bytes,
                        None,
                    );
                    actions::encode_instructions(v, &rule.instructions, has_vlan(&m), &mut e);
                } else {
                    e.put_u16(0);
                    e.put_u8(t as u8);
                    e.put_u8(0);
                    e.put_u32(dsec);
                    e.put_u32(dnsec);
                    e.put_u16(p as u16);
                    e.put_u16(rule.idle_timeout);
                    e.put_u16(rule.hard_timeout);
                    e.put_u16(if v >= 4 { rule.flags } else { 0 });
                    e.put_u16(if v >= 5 { rule.importance } else { 0 });
                    e.put_zeros(2);
                    e.put_u64(rule.cookie);
                    e.put_u64(pkts);
                    e.put_u64(bytes);
                    // Stock answers with OXM even in OpenFlow 1.1.
                    let mstart = e.len();
                    e.put_u16(1);
                    e.put_u16(0);
                    nxm::encode(&m, Some(v), &mut e);
                    let mlen = e.len() - mstart;
                    e.set_u16(mstart + 2, mlen as u16);
                    e.pad_to(8);
                    actions::encode_instructions(v, &rule.instructions, has_vlan(&m), &mut e);
                }
                let len = e.len() as u16;
                e.set_u16(0, len);
                rep.push(&e);
            }
        }
        Ok(())
    }

    fn aggregate(&self, f: &Filter<'_>, rep: &mut Replies) -> Result<(), OfpErr> {
        let (mut pkts, mut bytes, mut n) = (0u64, 0u64, 0u32);
        for t in self.tables_for(f.table_id)? {
            for (m, _, rule) in self.tables[t].iter() {
                if f.accepts(&m, rule) {
                    n += 1;
                    if rule.flags & 8 == 0 {
                        pkts += rule.packet_count;
                    }
                    if rule.flags & 16 == 0 {
                        bytes += rule.byte_count;
                    }
                }
            }
        }
        let mut e = Vec::new();
        if rep.version >= 6 {
            put_oxs(&mut e, None, None, pkts, bytes, Some(n));
        } else {
            e.put_u64(pkts);
            e.put_u64(bytes);
            e.put_u32(n);
            e.put_zeros(4);
        }
        rep.push(&e);
        Ok(())
    }

    fn table_stats(&self, v: u8, rep: &mut Replies) -> Result<(), OfpErr> {
        let mut e = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            e.clear();
            match v {
                1 => {
                    e.put_u8(t as u8);
                    e.put_zeros(3);
                    // Tables have no names unless configured.
                    put_name32(&self.table_cfg[t].name, &mut e);
                    e.put_u32(ofp10::W_ALL);
                    e.put_u32(1_000_000);
                    e.put_u32(table.len() as u32);
                    e.put_u64(0);
                    e.put_u64(0);
                }
                2 | 3 => {
                    e.put_u8(t as u8);
                    e.put_zeros(7);
                    put_name32(&self.table_cfg[t].name, &mut e);
                    // Goto-table is offered by every table but the last.
                    let ins: u32 = if (t as u8) + 1 < N_TABLES { 0x3e } else { 0x3c };
                    if v == 2 {
                        // ofp11_table_stats: OFPFMF11 match/wildcard bits
                        // and OpenFlow 1.1 action bits (no copy-TTL).
                        e.put_u32(0xfbff);
                        e.put_u32(0xfbff);
                        e.put_u32(ins);
                        e.put_u32(0x01ff_e7ff);
                        e.put_u32(0x01ff_e7ff);
                    } else {
                        // ofp12_table_stats: OXM field bits.
                        // Every OXM basic field up to mpls_tc (35) but
                        // in_phy_port (1).
                        let matchable: u64 = ((1u64 << 36) - 1) & !(1 << 1);
                        let settable = matchable & !(1 << 5) & !(1 << 10);
                        e.put_u64(matchable);
                        e.put_u64(matchable);
                        e.put_u32(0x03ff_e001);
                        e.put_u32(0x03ff_e001);
                        e.put_u64(settable);
                        e.put_u64(settable);
                        e.put_u64(u64::MAX);
                        e.put_u64(u64::MAX);
                        e.put_u32(ins);
                    }
                    // OpenFlow 1.1 table stats carry stock's internal miss
                    // number as is; 1.2 encodes it properly.
                    let miss = self.table_cfg[t].miss;
                    e.put_u32(if v == 2 {
                        miss
                    } else {
                        match miss {
                            2 => 1,
                            3 => 2,
                            _ => 0,
                        }
                    });
                    e.put_u32(1_000_000);
                    e.put_u32(table.len() as u32);
                    e.put_u64(0);
                    e.put_u64(0);
                }
                4..=6 => {
                    e.put_u8(t as u8);
                    e.put_zeros(3);
                    e.put_u32(table.len() as u32);
                    e.put_u64(0);
                    e.put_u64(0);
                }
                _ => return Err(OfpErr::OFPBRC_BAD_STAT),
            }
            rep.push(&e);
        }
        Ok(())
    }

    /// Table features: name (none), metadata masks, size and the eight
    /// properties ovs-ofctl requires (instructions, next tables, actions,
    /// match, wildcards and set-field fields).
    fn table_features(&self, v: u8, rep: &mut Replies) {
        use crate::openflow::fields::{FIELDS, N_FIELDS};
        // OXM ids: `masked` sets the has-mask bit for maskable fields (in
        // the match property that says "arbitrary mask"). tun_metadata0..63
        // (variable length, up to 124 bytes) follow the fixed fields.
        let oxm_ids = |pred: &dyn Fn(usize) -> bool, masked: bool, with_tun_md: bool| -> Vec<u8> {
            let mut b = Vec::new();
            for f in (0..N_FIELDS).filter(|&f| pred(f)) {
                if let Some(h) = FIELDS[f].headers.first() {
                    let hm = masked && FIELDS[f].maskable;
                    let w = FIELDS[f].width as u32 * if hm { 2 } else { 1 };
                    let len = w + if h.class == 0xffff { 4 } else { 0 };
                    b.put_u32(
                        (h.class as u32) << 16 | (h.field as u32) << 9 | (hm as u32) << 8 | len,
                    );
                    if h.class == 0xffff {
                        b.put_u32(h.exp);
                    }
                }
            }
            if with_tun_md {
                for i in 0..64u32 {
                    let len = if masked { 248 } else { 124 };
                    b.put_u32(1 << 16 | (40 + i) << 9 | (masked as u32) << 8 | len);
                }
            }
            b
        };
        let matchable = oxm_ids(&|_| true, true, true);
        let wildcards = oxm_ids(&|_| true, false, true);
        let settable = oxm_ids(&|f| !FIELDS[f].read_only, false, true);
        let mut acts = Vec::new();
        for t in [0u16, 22, 25, 18, 17, 23, 24, 15, 16, 19, 20, 21] {
            acts.put_u16(t);
            acts.put_u16(4);
        }
        let prop = |e: &mut Vec<u8>, ty: u16, body: &[u8]| {
            e.put_u16(ty);
            e.put_u16(4 + body.len() as u16);
            e.extend_from_slice(body);
            e.pad_to(8);
        };
        let mut e = Vec::new();
        for t in 0..N_TABLES {
            e.clear();
            e.put_u16(0);
            e.put_u8(t);
            e.put_zeros(5);
            put_name32(&self.table_cfg[t as usize].name, &mut e);
            e.put_u64(u64::MAX);
            e.put_u64(u64::MAX);
            e.put_u32(0);
            e.put_u32(1_000_000);
            let mut ins = Vec::new();
            for i in [6u16, 4, 5, 3, 2, 1] {
                // No goto from the last table; meters are actions in 1.5.
                if (i == 1 && t + 1 >= N_TABLES) || (i == 6 && v >= 6) {
                    continue;
                }
                ins.put_u16(i);
                ins.put_u16(4);
            }
            prop(&mut e, 0, &ins);
            let next: Vec<u8> = (t + 1..N_TABLES).collect();
            prop(&mut e, 2, &next);
            prop(&mut e, 4, &acts);
            prop(&mut e, 6, &acts);
            prop(&mut e, 8, &matchable);
            prop(&mut e, 10, &wildcards);
            prop(&mut e, 12, &settable);
            prop(&mut e, 14, &settable);
            let len = e.len() as u16;
            e.set_u16(0, len);
            rep.push(&e);
        }
    }

    /// Flows as `ovs-appctl bridge/dump-flows` prints them: one line per
    /// rule, `[table_id=N, ]duration=Ns, n_packets=N, n_bytes=N, MATCH,
    /// actions=ACTIONS`, in table order.
    pub fn dump_flows_text(&self) -> String {
        use crate::openflow::text;
        let mut s = String::new();
        let now = Instant::now();
        for (t, table) in self.tables.iter().enumerate() {
            let mut rules: Vec<(Match, u32, &Rule)> = table.iter().collect();
            rules.sort_by_key(|r| std::cmp::Reverse(r.1));
            for (m, p, rule) in rules {
                if t != 0 {
                    s.push_str(&format!("table_id={t}, "));
                }
                let d = now.duration_since(rule.created);
                let mt = text::format_match(&m, p as u16);
                s.push_str(&format!(
                    "duration={}s, n_packets={}, n_bytes={}, {}{}actions={}\n",
                    d.as_secs(),
                    rule.packet_count,
                    rule.byte_count,
                    mt,
                    if mt.is_empty() { "" } else { "," },
                    text::format_instructions(&rule.instructions)
                ));
            }
        }
        s
    }
}

/// Builder of a multipart (stats) reply, split at the message size limit.
pub struct Replies {
    version: u8,
    msg_type: u8,
    xid: u32,
    stats_type: u16,
    hdr_len: usize,
    nx_subtype: Option<u32>,
    bodies: Vec<Vec<u8>>,
    cur: Vec<u8>,
}

impl Replies {
    fn new(version: u8, msg_type: u8, xid: u32, stats_type: u16, hdr_len: usize) -> Self {
        Replies {
            version,
            msg_type,
            xid,
            stats_type,
            hdr_len,
            nx_subtype: None,
            bodies: Vec::new(),
            cur: Vec::new(),
        }
    }

    fn extra(&self) -> usize {
        match (self.nx_subtype, self.version) {
            (None, _) => 0,
            (Some(_), 1) => 12,
            (Some(_), _) => 8,
        }
    }

    fn push(&mut self, entry: &[u8]) {
        if self.hdr_len + self.extra() + self.cur.len() + entry.len() > MAX_MSG
            && !self.cur.is_empty()
        {
            self.bodies.push(std::mem::take(&mut self.cur));
        }
        self.cur.extend_from_slice(entry);
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        self.bodies.push(std::mem::take(&mut self.cur));
        let n = self.bodies.len();
        let mut out = Vec::with_capacity(n);
        for (i, b) in self.bodies.iter().enumerate() {
            let mut m = start(self.version, self.msg_type, self.xid);
            m.put_u16(self.stats_type);
            m.put_u16(if i + 1 < n { 1 } else { 0 });
            if self.version != 1 {
                m.put_zeros(4);
            }
            if let Some(st) = self.nx_subtype {
                m.put_u32(NX_VENDOR);
                m.put_u32(st);
                if self.version == 1 {
                    m.put_zeros(4);
                }
            }
            m.extend_from_slice(b);
            out.push(finish(m));
        }
        out
    }
}
