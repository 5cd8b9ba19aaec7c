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
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod bundles;
mod controller;
mod ct_flush;
mod eviction;
mod flows;
pub(crate) use self::flows::FlowMod;
pub(crate) use flows::check_consistency;
mod groups_meters;
mod monitor;
mod port_order;
mod ports;
mod queues;
mod stats;
mod table_mod;
pub mod tlv;

use self::bundles::*;
pub use self::controller::*;
pub use self::ct_flush::CtFlushHook;
pub use self::eviction::{EvictionField, TableSettings};
use self::flows::*;
pub use self::monitor::*;
pub use self::ports::*;
pub use self::stats::FAIL_OPEN_PRIORITY;
use self::stats::*;
pub use self::table_mod::*;

/// Number of flow tables, as stock Open vSwitch advertises (0..=253).
pub const N_TABLES: u8 = 254;
const NX_VENDOR: u32 = 0x0000_2320;

pub const ROLE_EQUAL: u32 = 1;
pub const ROLE_PRIMARY: u32 = 2;
pub const ROLE_SECONDARY: u32 = 3;

const ONF_VENDOR: u32 = 0x4f4e_4600;
const NO_BUFFER: u32 = 0xffff_ffff;
const OFPG_ANY: u32 = 0xffff_ffff;
/// Replies are split so that no message exceeds this length.
const MAX_MSG: usize = 65535;

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
    /// Shared between rules with the same instructions (see
    /// `Switch::share_instructions`); reads see an `&Instructions`.
    pub instructions: Arc<Instructions>,
    pub created: RuleTime,
    pub modified: RuleTime,
    /// Counters and last use, shared with the translations that went
    /// through the rule (see [`RuleStats`]).
    pub stats: Arc<RuleStats>,
}

impl Rule {
    /// A rule created now with no cookie, timeouts, importance or flags
    /// and zero counters: the rules a bridge adds on its own (and tests').
    pub fn new(instructions: Instructions) -> Rule {
        let now = Instant::now();
        Rule {
            cookie: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: 0,
            instructions: Arc::new(instructions),
            created: now.into(),
            modified: now.into(),
            stats: RuleStats::new(now),
        }
    }
}

/// A rule's packet and byte counters and the time it was last used.
/// Atomics behind an `Arc` the rule shares with the translations that went
/// through it: datapath statistics reach the rule without the switch's
/// write lock (and without looking the rule up again), from whichever
/// thread has them. A rule replaced with counters kept shares its
/// predecessor's, so statistics of flows translated before the
/// replacement still reach it.
#[derive(Debug)]
pub struct RuleStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// A [`RuleTime`]'s nanoseconds.
    used: AtomicU64,
}

impl RuleStats {
    /// Zero counters, used `now`.
    pub fn new(now: Instant) -> Arc<RuleStats> {
        Arc::new(RuleStats {
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            used: AtomicU64::new(RuleTime::from(now).0),
        })
    }

    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// When a packet last went through the rule (or it was created or
    /// refreshed by a `learn` action).
    pub fn used(&self) -> Instant {
        RuleTime(self.used.load(Ordering::Relaxed)).instant()
    }

    /// Adds datapath statistics (wrapping, as OpenFlow counters do); a
    /// credit with packets marks the rule used at `now`.
    pub fn credit(&self, packets: u64, bytes: u64, now: RuleTime) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if packets > 0 {
            self.used.fetch_max(now.0, Ordering::Relaxed);
        }
    }

    /// Zeroes the counters (`reset_counts`).
    pub fn reset(&self) {
        self.packets.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
    }

    /// Marks the rule used at `now`.
    pub fn touch(&self, now: Instant) {
        self.used.store(RuleTime::from(now).0, Ordering::Relaxed);
    }
}

/// A rule's creation or modification time in 8 bytes (an `Instant` takes
/// 16): nanoseconds since the first one the process took. Rules are the
/// bulk of a big table's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleTime(u64);

fn rule_time_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl RuleTime {
    pub fn instant(self) -> Instant {
        rule_time_epoch() + std::time::Duration::from_nanos(self.0)
    }
}

impl From<Instant> for RuleTime {
    fn from(t: Instant) -> RuleTime {
        let nanos = t.saturating_duration_since(rule_time_epoch()).as_nanos();
        RuleTime(u64::try_from(nanos).unwrap_or(u64::MAX))
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
    /// NXT_SET_CONTROLLER_ID (0 by default): packet-ins of
    /// `controller(id=N)` go only to connections with id N.
    pub controller_id: u16,
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
            controller_id: 0,
        }
    }
}

/// The switch state of one bridge.
pub struct Switch {
    pub name: String,
    /// When the bridge's switch was made (the age of its hidden rules).
    pub created: Instant,
    /// In-band control is on (see `service::in_band`): translation sends
    /// DHCP replies to LOCAL too.
    pub in_band: bool,
    pub datapath_id: u64,
    pub ports: Vec<PortInfo>,
    /// When each port number first appeared (port statistics durations).
    pub port_added: HashMap<u16, Instant>,
    pub port_stats: Option<PortStatsSource>,
    pub port_mod_hook: Option<PortModHook>,
    pub packet_out_hook: Option<PacketOutHook>,
    /// Flushes the datapath's conntrack (NXT_CT_FLUSH_ZONE, NXT_CT_FLUSH);
    /// none: those are refused.
    pub ct_flush_hook: Option<CtFlushHook>,
    /// Runs NXT_RESUME (none: NXR_NOT_SUPPORTED, as a switch without a
    /// datapath answers).
    pub resume_hook: Option<ResumeHook>,
    pub tables: Vec<Classifier<Rule>>,
    /// OFPC_FRAG_* handling set by SET_CONFIG.
    pub frag_flags: u16,
    /// Per-table settings from TABLE_MOD.
    pub table_cfg: Vec<TableConfig>,
    /// `table_cfg`'s table-miss behaviours up to the last that is not
    /// the default (usually none), kept by `table_mod`: translation
    /// reads it per upcall, where a scan of every table's settings cost
    /// more than a table lookup.
    table_misses: Vec<u32>,
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
    /// The MAC learning table NORMAL uses (learned from during the
    /// translation of upcalls, which only borrow the switch).
    pub mac_table: std::sync::Mutex<crate::mac_learning::MacTable>,
    /// Each port's VLAN settings for NORMAL (see `set_port_vlans`).
    pub port_vlans: HashMap<u16, PortVlan>,
    /// The bridge's port mirrors (see `set_mirrors`).
    pub mirrors: crate::xlate::mirror::Mirrors,
    /// Ports or their VLAN settings changed since `l2_run` last looked.
    l2_changed: bool,
    /// NORMAL forwards reserved (STP and other bridge protocol)
    /// destinations (Bridge other_config:forward-bpdu).
    pub forward_bpdu: bool,
    /// A connection before OpenFlow 1.3 is up, so a table miss with the
    /// default table-miss config sends a packet-in (stock's
    /// want_packet_in_on_miss); kept by the service.
    pub packet_in_on_miss: bool,
    /// Every distinct instruction set of the rules, kept once and shared
    /// (rules mostly repeat a few action lists); sets no rule holds any
    /// more are swept out when the pool has doubled since the last sweep.
    instructions_pool: HashSet<Arc<Instructions>>,
    pool_sweep_at: usize,
    /// The tunnel option map (`ovs-ofctl add-tlv-map`).
    pub tlv_table: tlv::TlvTable,
}

/// A bridge's switch as the OpenFlow service (its only writer, under the
/// write lock) and the upcall handlers (readers: translation needs only
/// `&Switch`) share it. A poisoned lock is taken as it is: the switch
/// is kept consistent by each message's handling, not by the lock.
#[derive(Clone)]
pub struct SharedSwitch(Arc<std::sync::RwLock<Switch>>);

impl SharedSwitch {
    pub fn new(sw: Switch) -> Self {
        SharedSwitch(Arc::new(std::sync::RwLock::new(sw)))
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Switch> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Switch> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
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

impl Switch {
    pub fn new(name: &str, datapath_id: u64) -> Self {
        Switch {
            name: name.to_string(),
            created: Instant::now(),
            in_band: false,
            datapath_id,
            ports: Vec::new(),
            tables: (0..N_TABLES).map(|_| Classifier::default()).collect(),
            frag_flags: 0,
            table_cfg: vec![TableConfig::default(); N_TABLES as usize],
            table_misses: Vec::new(),
            port_added: HashMap::new(),
            port_stats: None,
            port_mod_hook: None,
            packet_out_hook: None,
            resume_hook: None,
            ct_flush_hook: None,
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
            mac_table: Default::default(),
            port_vlans: HashMap::new(),
            mirrors: Default::default(),
            l2_changed: false,
            forward_bpdu: false,
            packet_in_on_miss: false,
            instructions_pool: HashSet::new(),
            pool_sweep_at: 64,
            tlv_table: Default::default(),
        }
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
                // OFPC_INVALID_TTL_TO_CONTROLLER (before OpenFlow 1.3)
                // reports the connection's invalid_ttl packet-in bit.
                let ttl = v < 4 && conn.async_config().primary[0] & (1 << 2) != 0;
                m.put_u16(self.frag_flags | if ttl { 4 } else { 0 });
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
                // Before OpenFlow 1.3, OFPC_INVALID_TTL_TO_CONTROLLER turns
                // the connection's invalid_ttl packet-ins on or off.
                if v < 4 {
                    let mut ac = conn.async_config();
                    if flags & 4 != 0 {
                        ac.primary[0] |= 1 << 2;
                    } else {
                        ac.primary[0] &= !(1 << 2);
                    }
                    conn.async_config = Some(ac);
                }
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
            20 if of10 => self.queue_get_config(h, body),
            22 if (2..=4).contains(&v) => self.queue_get_config(h, body),
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
        if let Some(res) = self.tlv_message(conn, h, subtype, rest) {
            return res;
        }
        if let Some(res) = self.ct_flush_message(subtype, rest) {
            return res;
        }
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
            // NXT_SET_CONTROLLER_ID: 6 zero bytes, then the id.
            20 => {
                if rest.len() != 8 {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                conn.controller_id = Reader::new(rest).peek_u16(6).unwrap_or(0);
                Ok(vec![])
            }
            28 => self.resume(h.version, rest),
            // NXT_GROUP_MOD: OpenFlow 1.0's group_mod (OpenFlow 1.5's body).
            31 if h.version == 1 => {
                let gm = groups::decode_mod(h.version, rest)?;
                self.group_mod(gm)?;
                Ok(vec![])
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
}
