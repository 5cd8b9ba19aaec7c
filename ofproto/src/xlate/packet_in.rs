//! Packet-ins through the datapath: the `controller` action becomes a
//! datapath `userspace` action whose userdata is Open vSwitch's
//! controller cookie (48 bytes, `struct user_action_cookie` of type
//! USER_ACTION_COOKIE_CONTROLLER, native byte order as stock writes it),
//! and the ACTION upcall that action raises becomes a [`PacketIn`].
//!
//! As in stock, the cookie carries what fits (reason, controller id,
//! max_len, rule cookie) and a recirculation id naming a frozen state
//! (`super::recirc`) with the rest: the bridge, the table and the
//! pipeline metadata (in_port, metadata, registers) at the action. Equal
//! states share an id, so revalidating a flow gives the same actions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use super::flow_text;
use super::group::FrozenOp;
use super::recirc::{self, Frozen};
use super::{be, frange};
use crate::openflow::actions::{Action, SetFieldRaw};
use crate::openflow::continuation::{ActionGroup, Continuation, Resume};
use crate::openflow::error_table::OfpErr;
use crate::openflow::fields::{id, Match, KEY_LEN};
use crate::switch::PacketIn;
use ferrovs_dpif::odp::Key;

/// Length of stock's `struct user_action_cookie`.
pub const COOKIE_LEN: usize = 48;
/// USER_ACTION_COOKIE_CONTROLLER.
const TYPE_CONTROLLER: u16 = 5;
/// OFPP_NONE as a 32-bit `ofp_port_t`.
const OFPP_NONE32: u32 = 0xffff;

/// The controller part of the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerCookie {
    /// Set by `ofproto/trace`: the action shows, nothing is sent.
    pub dont_send: bool,
    pub continuation: bool,
    /// OFPR_* (Open vSwitch's internal numbering).
    pub reason: u8,
    pub recirc_id: u32,
    pub rule_cookie: u64,
    pub controller_id: u16,
    pub max_len: u16,
}

impl ControllerCookie {
    /// The 48 userdata bytes (the ofproto uuid slot stays zero: the
    /// frozen state names the bridge).
    pub fn encode(&self) -> Vec<u8> {
        let mut c = vec![0u8; COOKIE_LEN];
        c[0..2].copy_from_slice(&TYPE_CONTROLLER.to_ne_bytes());
        c[4..8].copy_from_slice(&OFPP_NONE32.to_ne_bytes());
        c[24] = self.dont_send as u8;
        c[25] = self.continuation as u8;
        c[26..28].copy_from_slice(&u16::from(self.reason).to_ne_bytes());
        c[28..32].copy_from_slice(&self.recirc_id.to_ne_bytes());
        c[32..40].copy_from_slice(&self.rule_cookie.to_be_bytes());
        c[40..42].copy_from_slice(&self.controller_id.to_ne_bytes());
        c[42..44].copy_from_slice(&self.max_len.to_ne_bytes());
        c
    }

    /// Reads a controller cookie; None for anything else (another
    /// cookie type, a wrong length).
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != COOKIE_LEN {
            return None;
        }
        let u16at = |i: usize| b.get(i..i + 2).map(|s| u16::from_ne_bytes([s[0], s[1]]));
        let u32at = |i: usize| {
            b.get(i..i + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(u32::from_ne_bytes)
        };
        if u16at(0)? != TYPE_CONTROLLER {
            return None;
        }
        let rule_cookie = u64::from_be_bytes(b.get(32..40)?.try_into().ok()?);
        Some(ControllerCookie {
            dont_send: *b.get(24)? != 0,
            continuation: *b.get(25)? != 0,
            reason: u8::try_from(u16at(26)?).ok()?,
            recirc_id: u32at(28)?,
            rule_cookie,
            controller_id: u16at(40)?,
            max_len: u16at(42)?,
        })
    }
}

/// The netlink pid userspace actions name: the kernel sends the ACTION
/// upcall there (the userspace datapath ignores it). 0 until a kernel
/// datapath's handlers exist.
static UPCALL_PID: AtomicU32 = AtomicU32::new(0);

/// Sets the pid controller actions send their packets to (a handler
/// socket of the kernel datapath).
pub fn set_upcall_pid(pid: u32) {
    UPCALL_PID.store(pid, Ordering::Relaxed);
}

pub(crate) fn upcall_pid() -> u32 {
    UPCALL_PID.load(Ordering::Relaxed)
}

/// Freezes what the packet-in will need of `flow` in bridge `bridge` at
/// table `table`, returning the recirculation id.
pub(crate) fn freeze(
    bridge: &str,
    table: u8,
    flow: &[u8; KEY_LEN],
    userdata: &[u8],
    tunnel: Vec<(usize, u128)>,
) -> u32 {
    recirc::alloc(Frozen {
        bridge: bridge.to_string(),
        mirrors: 0,
        stack: Vec::new(),
        table,
        metadata: Frozen::metadata_of(flow),
        action_set: Vec::new(),
        actset_output: None,
        conntracked: false,
        actions: Vec::new(),
        userdata: userdata.to_vec(),
        tunnel,
    })
}

/// A packet-in an ACTION upcall asks for.
#[derive(Debug, Clone)]
pub struct ControllerUpcall {
    pub bridge: String,
    pub controller_id: u16,
    pub packet_in: PacketIn,
}

/// Why an ACTION upcall gives no packet-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotPacketIn {
    /// A trace's action (dont_send): nothing to do.
    DontSend,
    /// Not a controller cookie (sFlow, IPFIX, ...).
    OtherCookie,
    /// The recirculation id is unknown (forgotten state, hostile input).
    UnknownState(u32),
}

/// Turns an ACTION upcall (userdata, packet, datapath key) into the
/// packet-in it stands for: in_port, metadata and registers come from
/// the frozen state, tunnel fields and the packet mark from the key.
pub fn from_action_upcall(
    userdata: &[u8],
    packet: Vec<u8>,
    key: &[u8],
) -> Result<ControllerUpcall, NotPacketIn> {
    let c = ControllerCookie::decode(userdata).ok_or(NotPacketIn::OtherCookie)?;
    if c.dont_send {
        return Err(NotPacketIn::DontSend);
    }
    let state = recirc::lookup(c.recirc_id).ok_or(NotPacketIn::UnknownState(c.recirc_id))?;
    let mut flow = [0u8; KEY_LEN];
    state.restore(&mut flow);
    let mut metadata = Match::catchall();
    metadata.set_exact(id::IN_PORT, be(&flow[frange(id::IN_PORT)]));
    let nonzero = [id::METADATA].into_iter().chain(id::REG0..=id::REG15);
    for f in nonzero {
        let v = be(&flow[frange(f)]);
        if v != 0 {
            metadata.set_exact(f, v);
        }
    }
    // The tunnel as it was at the action (as stock's frozen tunnel).
    for &(f, v) in &state.tunnel {
        metadata.set_exact(f, v);
    }
    // The packet mark the packet arrived with.
    if let Ok(k) = Key::from_nlattrs(key) {
        // (The packet-in's in_port is the frozen one.)
        let ofports: HashMap<u32, u16> = k
            .attrs
            .iter()
            .filter_map(|a| match a {
                ferrovs_dpif::odp::KeyAttr::InPort(p) => Some((*p, 0)),
                _ => None,
            })
            .collect();
        if let Ok(pk) = flow_text::from_odp(&k, &ofports) {
            let v = be(&pk[frange(id::PKT_MARK)]);
            if v != 0 {
                metadata.set_exact(id::PKT_MARK, v);
            }
        }
    }
    // A pause's packet-in carries what resuming needs.
    let continuation = c.continuation.then(|| {
        let odp_port = Key::from_nlattrs(key)
            .ok()
            .and_then(|k| {
                k.attrs.iter().find_map(|a| match a {
                    ferrovs_dpif::odp::KeyAttr::InPort(p) => Some(*p),
                    _ => None,
                })
            })
            .unwrap_or(0);
        Box::new(Continuation {
            bridge: bridge_uuid(&state.bridge),
            // Stock sends the stack top first.
            stack: state.stack.iter().rev().cloned().collect(),
            mirrors: state.mirrors,
            conntracked: state.conntracked,
            actions: ops_to_groups(&state.actions),
            action_set: state.action_set.clone(),
            odp_port,
        })
    });
    Ok(ControllerUpcall {
        bridge: state.bridge,
        controller_id: c.controller_id,
        packet_in: PacketIn {
            // Stock's reasons, the internal explicit (6) and implicit (7)
            // misses included: connections tell them apart.
            reason: c.reason,
            table_id: state.table,
            cookie: c.rule_cookie,
            metadata,
            packet,
            max_len: c.max_len,
            userdata: state.userdata,
            controller_id: c.controller_id,
            continuation,
        },
    })
}

/// The properties of NXAST_CONTROLLER2 (`controller(...)` with userdata,
/// pause or a meter), with stock's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller2 {
    pub max_len: u16,
    pub controller_id: u16,
    pub reason: u8,
    pub userdata: Vec<u8>,
    pub pause: bool,
}

impl Controller2 {
    /// Reads the action's wire bytes (16-byte header, then properties
    /// padded to 8); None if they are malformed (the action decoder
    /// refuses those before a rule holds them).
    pub fn parse(b: &[u8]) -> Option<Controller2> {
        let mut c = Controller2 {
            max_len: u16::MAX,
            controller_id: 0,
            reason: REASON_ACTION,
            userdata: Vec::new(),
            pause: false,
        };
        let mut at = 16;
        while at < b.len() {
            let ty = u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]);
            let len = u16::from_be_bytes([*b.get(at + 2)?, *b.get(at + 3)?]) as usize;
            let body = b.get(at + 4..at.checked_add(len)?)?;
            let u16_of = |x: &[u8]| x.get(..2).map(|v| u16::from_be_bytes([v[0], v[1]]));
            match ty {
                0 => c.max_len = u16_of(body)?,
                1 => c.controller_id = u16_of(body)?,
                2 => c.reason = *body.first()?,
                3 => c.userdata = body.to_vec(),
                4 => c.pause = true,
                // The meter limits packet-ins to the controller; ferrovs
                // sends them unmetered.
                5 => {}
                _ => return None,
            }
            if len < 4 {
                return None;
            }
            at += len.next_multiple_of(8);
        }
        Some(c)
    }
}

impl Controller2 {
    /// The action as ovs-ofctl writes it (`controller(...,pause)`).
    pub fn text(&self) -> String {
        const REASONS: [&str; 6] = crate::openflow::text::PACKET_IN_REASONS;
        let mut parts = Vec::new();
        if self.reason != REASON_ACTION {
            let name = REASONS.get(self.reason as usize).map(|r| r.to_string());
            parts.push(format!(
                "reason={}",
                name.unwrap_or_else(|| self.reason.to_string())
            ));
        }
        if self.max_len != u16::MAX {
            parts.push(format!("max_len={}", self.max_len));
        }
        if self.controller_id != 0 {
            parts.push(format!("id={}", self.controller_id));
        }
        if !self.userdata.is_empty() {
            let hex: Vec<String> = self.userdata.iter().map(|b| format!("{b:02x}")).collect();
            parts.push(format!("userdata={}", hex.join(".")));
        }
        if self.pause {
            parts.push("pause".into());
        }
        format!("controller({})", parts.join(","))
    }
}

/// OFPR_ACTION.
const REASON_ACTION: u8 = 1;

impl super::Ctx<'_> {
    /// The tunnel fields a packet-in reports, as stock's
    /// `flow_get_metadata` lists them: every non-zero tunnel field but
    /// the TTL, TOS and the public flags but OAM, then the tun_metadata
    /// options present (received, or non-zero now).
    pub(super) fn frozen_tunnel(&self) -> Vec<(usize, u128)> {
        let mut out = Vec::new();
        for f in id::TUN_ID..=id::TUN_GTPU_MSGTYPE {
            let v = match f {
                id::TUN_TTL | id::TUN_TOS => 0,
                id::TUN_FLAGS => self.get(f) & super::tunnel::TUN_F_OAM,
                _ => self.get(f),
            };
            if v != 0 {
                out.push((f, v));
            }
        }
        for i in 0..64 {
            let f = id::TUN_METADATA0 + i;
            let v = self.get(f);
            if v != 0 || self.rx_tun_metadata & (1 << i) != 0 {
                out.push((f, v));
            }
        }
        out
    }

    /// NXAST_CONTROLLER2: a packet-in with userdata, or a pause, which
    /// freezes the rest of the pipeline for NXT_RESUME.
    pub(super) fn controller2(&mut self, b: &[u8], out: &mut Vec<super::trace::Node>) {
        let Some(c) = Controller2::parse(b) else {
            out.push(super::trace::Node::new(
                super::trace::NodeKind::Warn,
                "malformed controller action".into(),
            ));
            return;
        };
        if c.pause {
            // The actions after it are frozen as translation unwinds; the
            // packet-in goes out where the freeze ends.
            self.pause = Some(c);
            self.freezing = true;
            self.exit = true;
        } else {
            self.controller(c.max_len, c.controller_id, c.reason, &c.userdata);
        }
    }

    /// The userspace action of a pause: stock's controller cookie with
    /// the continuation flag and the frozen state's id.
    pub(super) fn push_pause(&mut self, recirc_id: u32, p: &Controller2) {
        // `ofproto/trace` shows no packet-in for a pause (stock sends
        // none without a packet that may have side effects).
        if self.br.describe_rules {
            return;
        }
        let cookie = ControllerCookie {
            dont_send: self.br.describe_rules,
            continuation: true,
            reason: p.reason,
            recirc_id,
            rule_cookie: self.rule_cookie,
            controller_id: p.controller_id,
            max_len: p.max_len,
        };
        self.actions.push(ferrovs_dpif::odp::Action::Userspace(
            ferrovs_dpif::odp::Userspace {
                pid: upcall_pid(),
                userdata: Some(cookie.encode()),
                ..Default::default()
            },
        ));
    }
}

/// The uuid the continuations of bridge `name` carry (stock's ofproto
/// uuid): random, fixed for the bridge while the daemon runs, so that an
/// NXT_RESUME for another bridge (or an earlier daemon) is refused.
pub fn bridge_uuid(name: &str) -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    static UUIDS: OnceLock<Mutex<HashMap<String, [u8; 16]>>> = OnceLock::new();
    let map = UUIDS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    *m.entry(name.to_string()).or_insert_with(|| {
        // Randomly seeded hashers give the random bits.
        let seed = std::collections::hash_map::RandomState::new();
        let half = |i: u8| {
            let mut h = seed.build_hasher();
            h.write(name.as_bytes());
            h.write_u8(i);
            h.finish().to_be_bytes()
        };
        let mut u = [0u8; 16];
        u[..8].copy_from_slice(&half(0));
        u[8..].copy_from_slice(&half(1));
        // Version 4, RFC 4122 variant, as uuid_generate() makes.
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        u
    })
}

/// The frozen steps as stock sends them: runs of actions, each after the
/// table and cookie to restore (goto_table as a resubmit to the table,
/// write_metadata as a set_field, as stock freezes them).
pub fn ops_to_groups(ops: &[FrozenOp]) -> Vec<ActionGroup> {
    let mut groups = vec![ActionGroup {
        unroll: None,
        actions: Vec::new(),
    }];
    for op in ops {
        let action = match op {
            FrozenOp::Unroll { table, cookie } => {
                groups.push(ActionGroup {
                    unroll: Some((*table, *cookie)),
                    actions: Vec::new(),
                });
                continue;
            }
            FrozenOp::Act(a) => a.clone(),
            FrozenOp::Resubmit(t) => resubmit_action(*t),
            FrozenOp::WriteMetadata(v, m) => Action::SetField {
                field: id::METADATA,
                value: *v as u128,
                mask: *m as u128,
                raw: SetFieldRaw::SetField,
            },
            // Instructions have no action form; stock cannot resume them
            // either.
            FrozenOp::Clear | FrozenOp::Write(_) => continue,
        };
        if let Some(g) = groups.last_mut() {
            g.actions.push(action);
        }
    }
    if groups.first().is_some_and(|g| g.actions.is_empty()) {
        groups.remove(0);
    }
    groups
}

/// NXAST_RESUBMIT_TABLE to `table` from the input port.
fn resubmit_action(table: u8) -> Action {
    let mut b = vec![
        0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 14, 0xff, 0xf8, table,
    ];
    b.resize(16, 0);
    Action::Nx {
        subtype: 14,
        bytes: b,
    }
}

/// What NXT_RESUME resumes: the frozen state to thaw, as a recirculation
/// id, and the datapath port the packet re-enters on. A continuation of
/// another bridge (or an earlier daemon) is NXR_STALE, as in stock.
pub fn resume_state(bridge: &str, r: &Resume) -> Result<(u32, u32), OfpErr> {
    let c = &r.continuation;
    if c.bridge != bridge_uuid(bridge) || c.odp_port == 0 {
        return Err(OfpErr::NXR_STALE);
    }
    let mut flow = [0u8; KEY_LEN];
    let fields = [id::IN_PORT, id::METADATA]
        .into_iter()
        .chain(id::REG0..=id::REG15);
    for f in fields {
        if let Some(v) = r.metadata.exact(f) {
            super::put_be(&mut flow[frange(f)], v);
        }
    }
    let mut actions = Vec::new();
    for g in &c.actions {
        if let Some((table, cookie)) = g.unroll {
            actions.push(FrozenOp::Unroll { table, cookie });
        }
        actions.extend(g.actions.iter().cloned().map(FrozenOp::Act));
    }
    // Nothing left to run still resumes (the action set may run): a
    // no-op note keeps translation from looking a table up.
    if actions.is_empty() {
        let mut note = vec![0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 8];
        note.resize(16, 0);
        actions.push(FrozenOp::Act(Action::Nx {
            subtype: 8,
            bytes: note,
        }));
    }
    let actset_output = c.action_set.iter().rev().find_map(|a| match a {
        Action::Output { port, .. } => Some(*port),
        _ => None,
    });
    let rid = recirc::alloc(Frozen {
        bridge: bridge.to_string(),
        table: 0,
        metadata: Frozen::metadata_of(&flow),
        action_set: c.action_set.clone(),
        actset_output,
        conntracked: c.conntracked,
        actions,
        userdata: Vec::new(),
        tunnel: Vec::new(),
        mirrors: c.mirrors,
        stack: c.stack.iter().rev().cloned().collect(),
    });
    Ok((rid, c.odp_port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trips_and_other_cookies_are_refused() {
        let c = ControllerCookie {
            dont_send: false,
            continuation: false,
            reason: 2,
            recirc_id: 77,
            rule_cookie: 0x1234_5678_9abc_def0,
            controller_id: 3,
            max_len: 128,
        };
        let b = c.encode();
        assert_eq!(b.len(), COOKIE_LEN);
        assert_eq!(ControllerCookie::decode(&b), Some(c));
        let mut sflow = b.clone();
        sflow[0..2].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(ControllerCookie::decode(&sflow), None);
        assert_eq!(ControllerCookie::decode(&b[..40]), None);
    }

    #[test]
    fn action_upcall_becomes_packet_in_with_frozen_metadata() {
        let mut flow = [0u8; KEY_LEN];
        flow[frange(id::IN_PORT)].copy_from_slice(&7u16.to_be_bytes());
        flow[frange(id::REG2)].copy_from_slice(&0x55u32.to_be_bytes());
        let recirc_id = freeze("br-pin-test", 3, &flow, &[], Vec::new());
        let c = ControllerCookie {
            dont_send: false,
            continuation: false,
            reason: 1,
            recirc_id,
            rule_cookie: 9,
            controller_id: 0,
            max_len: u16::MAX,
        };
        let up = from_action_upcall(&c.encode(), vec![1, 2, 3], &[]).expect("packet-in");
        assert_eq!(up.bridge, "br-pin-test");
        assert_eq!(up.packet_in.table_id, 3);
        assert_eq!(up.packet_in.cookie, 9);
        assert_eq!(up.packet_in.metadata.value(id::IN_PORT), 7);
        assert_eq!(up.packet_in.metadata.value(id::REG2), 0x55);
        let trace = ControllerCookie {
            dont_send: true,
            ..c
        };
        assert!(matches!(
            from_action_upcall(&trace.encode(), vec![], &[]),
            Err(NotPacketIn::DontSend)
        ));
        let unknown = ControllerCookie {
            recirc_id: u32::MAX - 1,
            ..c
        };
        assert!(matches!(
            from_action_upcall(&unknown.encode(), vec![], &[]),
            Err(NotPacketIn::UnknownState(_))
        ));
    }
}
