//! LACP (IEEE 802.3ad link aggregation control) for one bond, as stock
//! Open vSwitch runs it: each member sends LACPDUs (every second with
//! `lacp-time=fast` asked by the partner, every 30 s otherwise), records
//! its partner's information from the PDUs it receives (current, then
//! expired after 3 missed intervals, then defaulted after 3 more), and
//! the members attached to one aggregator (the same partner system and
//! key as the lead member, which has the best priority) may be enabled
//! once their partner says it is in sync.
//!
//! The bond (`super::Bond`) asks [`Lacp::may_enable`] for each member's
//! `may_enable`, and [`Lacp::negotiated`] for its `lacp_status`.

use std::time::{Duration, Instant};

pub mod pdu;

use pdu::{state, Info, Repr};

const FAST_TX: Duration = Duration::from_millis(1000);
const SLOW_TX: Duration = Duration::from_millis(30_000);
const RX_MULTIPLIER: u32 = 3;

/// The Port's LACP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LacpCfg {
    pub active: bool,
    pub sys_id: [u8; 6],
    pub sys_priority: u16,
    pub fast: bool,
    pub fallback_ab: bool,
}

/// One member Interface's LACP settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCfg {
    pub port_id: u16,
    pub port_priority: u16,
    /// 0: the bond's key is its key member's port id.
    pub key: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Current,
    Expired,
    Defaulted,
}

/// Stock's per-member counters (`lacp/show-stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub tx: u32,
    pub rx: u32,
    pub rx_bad: u32,
    pub rx_marker: u32,
    pub expired: u32,
    pub defaulted: u32,
    pub carrier_changed: u32,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub cfg: MemberCfg,
    pub status: Status,
    pub attached: bool,
    pub carrier_up: bool,
    pub partner: Info,
    /// What the partner last said about us (a change of ours from it
    /// makes us send at once).
    ntt_actor: Info,
    /// When to send next; None: at once.
    tx_due: Option<Instant>,
    /// When the partner's information grows old; None: never (or
    /// already past).
    rx_due: Option<Instant>,
    pub counters: Counters,
}

/// The LACP object of one bond.
#[derive(Debug, Clone)]
pub struct Lacp {
    pub name: String,
    pub cfg: LacpCfg,
    /// In registration order (the first is the key member).
    pub members: Vec<Member>,
    pub negotiated: bool,
    update: bool,
    /// Warnings about what the wire brings (bad PDUs, loopback) are
    /// rate-limited to one per [`WARN_EVERY`], as stock limits them.
    next_warn: Option<Instant>,
}

const WARN_EVERY: Duration = Duration::from_secs(5);

/// What a received frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rx {
    /// A LACPDU taken in.
    Taken,
    /// Marker, unparsable, carrier down or no such member: dropped.
    Dropped,
}

impl Lacp {
    pub fn new(name: &str, cfg: LacpCfg) -> Lacp {
        Lacp {
            name: name.to_string(),
            cfg,
            members: Vec::new(),
            negotiated: false,
            update: true,
            next_warn: None,
        }
    }

    pub fn configure(&mut self, cfg: &LacpCfg) {
        if cfg.sys_id != self.cfg.sys_id
            || cfg.sys_priority != self.cfg.sys_priority
            || cfg.fallback_ab != self.cfg.fallback_ab
        {
            self.update = true;
        }
        self.cfg = cfg.clone();
    }

    /// Whether a rate-limited warning may be logged now.
    fn may_warn(&mut self, now: Instant) -> bool {
        if self.next_warn.is_some_and(|t| now < t) {
            return false;
        }
        self.next_warn = Some(now + WARN_EVERY);
        true
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.name == name)
    }

    /// Adds a member or takes its new settings.
    pub fn register(&mut self, name: &str, cfg: MemberCfg, now: Instant) {
        let i = match self.find(name) {
            Some(i) => i,
            None => {
                self.members.push(Member {
                    name: name.to_string(),
                    cfg,
                    status: Status::Defaulted,
                    attached: false,
                    carrier_up: false,
                    partner: Info::default(),
                    ntt_actor: Info::default(),
                    tx_due: None,
                    rx_due: None,
                    counters: Counters::default(),
                });
                self.update = true;
                return;
            }
        };
        if self.members[i].cfg != cfg {
            self.members[i].cfg = cfg;
            self.update = true;
            if self.cfg.active || self.negotiated {
                self.members[i].set_expired(now);
            }
        }
    }

    /// Keeps only the members named.
    pub fn retain(&mut self, names: &[String]) {
        let before = self.members.len();
        self.members.retain(|m| names.contains(&m.name));
        if self.members.len() != before {
            self.update = true;
        }
    }

    /// The member's carrier as last seen; call on every change.
    pub fn carrier_changed(&mut self, name: &str, up: bool, now: Instant) {
        let active = self.cfg.active;
        let Some(i) = self.find(name) else { return };
        let m = &mut self.members[i];
        if m.status == Status::Current || active {
            m.set_expired(now);
        }
        if m.carrier_up != up {
            m.carrier_up = up;
            m.counters.carrier_changed += 1;
        }
        self.update = true;
    }

    /// The carrier of a member just registered: taken as it is, not
    /// counted as a change (stock learns it when it first asks whether
    /// the member may be enabled).
    pub fn initial_carrier(&mut self, name: &str, up: bool) {
        if let Some(i) = self.find(name) {
            self.members[i].carrier_up = up;
        }
    }

    /// A slow-protocols frame received on member `name`.
    pub fn receive(&mut self, name: &str, frame: &[u8], now: Instant) -> Rx {
        let fast = self.cfg.fast;
        let lacp_name = self.name.clone();
        let Some(i) = self.find(name) else {
            return Rx::Dropped;
        };
        self.members[i].counters.rx += 1;
        let repr = match pdu::parse_frame(frame) {
            Ok(r) => r,
            Err(pdu::Error::Marker) => {
                self.members[i].counters.rx_marker += 1;
                log::debug!(target: "lacp", "{lacp_name}: received a LACP marker PDU.");
                return Rx::Dropped;
            }
            Err(_) => {
                self.members[i].counters.rx_bad += 1;
                if self.may_warn(now) {
                    log::warn!(target: "lacp", "{lacp_name}: received an unparsable LACP PDU.");
                }
                return Rx::Dropped;
            }
        };
        if !self.members[i].carrier_up {
            if self.may_warn(now) {
                log::info!(target: "lacp", "{}: carrier state is DOWN, dropping received LACP PDU.", self.members[i].name);
            }
            return Rx::Dropped;
        }
        let m = &mut self.members[i];
        m.status = Status::Current;
        let tx = if fast { FAST_TX } else { SLOW_TX };
        m.rx_due = Some(now + tx * RX_MULTIPLIER);
        m.ntt_actor = repr.partner;
        if m.partner != repr.actor {
            m.partner = repr.actor;
            self.update = true;
        }
        Rx::Taken
    }

    /// Whether member `name` may be enabled (attached, partner in sync,
    /// or falling back to active-backup without a partner).
    pub fn may_enable(&self, name: &str) -> bool {
        self.find(name)
            .is_some_and(|i| self.member_may_enable(&self.members[i]))
    }

    fn member_may_enable(&self, m: &Member) -> bool {
        m.attached
            && (m.partner.state & state::SYNC != 0
                || (self.cfg.fallback_ab && m.status == Status::Defaulted))
    }

    /// Whether the member's partner information is not defaulted
    /// (Interface `lacp_current`).
    pub fn is_current(&self, name: &str) -> Option<bool> {
        self.find(name)
            .map(|i| self.members[i].status != Status::Defaulted)
    }

    /// Timers, attachment, and the PDUs to send now: (member name,
    /// PDU), by name because the bond keeps its members in another
    /// order (ours is the Interface uuids', the key member first).
    /// Returns also whether the state others see changed.
    pub fn run(&mut self, now: Instant) -> (Vec<(String, Repr)>, bool) {
        let mut changed = false;
        for m in &mut self.members {
            if m.rx_due.is_some_and(|t| now >= t) {
                match m.status {
                    Status::Current => {
                        m.set_expired(now);
                        m.counters.expired += 1;
                        changed = true;
                    }
                    Status::Expired => {
                        m.set_defaulted();
                        m.rx_due = None;
                        m.counters.defaulted += 1;
                        self.update = true;
                        changed = true;
                    }
                    Status::Defaulted => m.rx_due = None,
                }
            }
        }
        if self.update {
            self.update_attached();
            changed = true;
        }
        let mut out = Vec::new();
        for i in 0..self.members.len() {
            if !self.may_tx(&self.members[i]) {
                continue;
            }
            let actor = self.actor(i);
            let m = &mut self.members[i];
            if m.tx_due.is_none_or(|t| now >= t) || !tx_equal(&actor, &m.ntt_actor) {
                m.ntt_actor = actor;
                out.push((
                    m.name.clone(),
                    Repr {
                        actor,
                        partner: m.partner,
                        collector_delay: 0,
                    },
                ));
                m.counters.tx += 1;
                let every = if m.partner.state & state::TIMEOUT != 0 {
                    FAST_TX
                } else {
                    SLOW_TX
                };
                m.tx_due = Some(now + every);
            }
        }
        (out, changed)
    }

    fn may_tx(&self, m: &Member) -> bool {
        m.carrier_up && (self.cfg.active || m.status != Status::Defaulted)
    }

    /// The bond's aggregation key: its key member's, or that member's
    /// port id.
    pub fn key(&self) -> Option<u16> {
        self.members.first().map(|k| {
            if k.cfg.key != 0 {
                k.cfg.key
            } else {
                k.cfg.port_id
            }
        })
    }

    /// What member `i` says about itself.
    pub fn actor(&self, i: usize) -> Info {
        let Some(m) = self.members.get(i) else {
            return Info::default();
        };
        let mut st = 0;
        if self.cfg.active {
            st |= state::ACTIVITY;
        }
        if self.cfg.fast {
            st |= state::TIMEOUT;
        }
        if m.attached {
            st |= state::SYNC;
        }
        match m.status {
            Status::Defaulted => st |= state::DEFAULTED,
            Status::Expired => st |= state::EXPIRED,
            Status::Current => {}
        }
        if self.members.len() > 1 {
            st |= state::AGGREGATION;
        }
        if m.attached || !self.negotiated {
            st |= state::COLLECTING | state::DISTRIBUTING;
        }
        Info {
            sys_priority: self.cfg.sys_priority,
            sys_id: self.cfg.sys_id,
            key: self.key().unwrap_or(0),
            port_priority: m.cfg.port_priority,
            port_id: m.cfg.port_id,
            state: st,
        }
    }

    /// The link priority of member `i`: the information of whichever
    /// system (ours or the partner's) has the better priority, without
    /// key and state. Lower is better.
    fn priority(&self, i: usize) -> Info {
        let m = &self.members[i];
        let ours = (self.cfg.sys_priority, self.cfg.sys_id);
        let theirs = (m.partner.sys_priority, m.partner.sys_id);
        let mut p = if ours < theirs {
            self.actor(i)
        } else {
            m.partner
        };
        p.key = 0;
        p.state = 0;
        p
    }

    /// Stock's attachment rules: members current and attached keep the
    /// lead they have; otherwise the member with the best priority
    /// among those that may be enabled leads; a member attaches when its
    /// partner is the lead's system with the lead's key.
    fn update_attached(&mut self) {
        self.update = false;
        let mut lead: Option<(usize, bool, Info)> = None;
        let mut lead_current: Option<usize> = None;
        for i in 0..self.members.len() {
            let m = &self.members[i];
            if m.status == Status::Current && m.attached {
                let pri = self.priority(i);
                if lead.is_none_or(|(_, _, lp)| pri < lp) {
                    lead_current = Some(i);
                    lead = Some((i, true, pri));
                }
            }
        }
        for i in 0..self.members.len() {
            self.members[i].attached = false;
            let m = &self.members[i];
            if m.partner.sys_id == self.cfg.sys_id {
                let name = m.name.clone();
                if self.may_warn(Instant::now()) {
                    log::warn!(target: "lacp", "member {name}: Loopback detected. Interface is connected to its own bond");
                }
                continue;
            }
            if m.status == Status::Defaulted {
                if self.cfg.fallback_ab {
                    self.members[i].attached = true;
                }
                continue;
            }
            let pri = self.priority(i);
            let enable = self.member_may_enable(&self.members[i]);
            let attach = match lead_current {
                None => true,
                Some(l) => self.members[l].partner.sys_id == self.members[i].partner.sys_id,
            };
            self.members[i].attached = attach;
            if attach && lead.is_none_or(|(_, le, lp)| enable & !le || (enable == le && pri < lp)) {
                lead = Some((i, enable, pri));
            }
        }
        self.negotiated = lead.is_some();
        if let Some((l, _, _)) = lead {
            let (lkey, lsys) = (self.members[l].partner.key, self.members[l].partner.sys_id);
            let fallback = self.cfg.fallback_ab;
            for m in &mut self.members {
                if (fallback && m.status == Status::Defaulted)
                    || m.partner.key != lkey
                    || m.partner.sys_id != lsys
                {
                    m.attached = false;
                }
            }
        }
    }
}

impl Member {
    fn set_expired(&mut self, now: Instant) {
        self.status = Status::Expired;
        self.partner.state |= state::TIMEOUT;
        self.partner.state &= !state::SYNC;
        self.rx_due = Some(now + FAST_TX * RX_MULTIPLIER);
    }

    fn set_defaulted(&mut self) {
        self.partner = Info::default();
        self.status = Status::Defaulted;
    }
}

/// Whether two actor infos differ in nothing that needs a new PDU.
fn tx_equal(a: &Info, b: &Info) -> bool {
    let bits = state::ACTIVITY | state::TIMEOUT | state::SYNC | state::AGGREGATION;
    (a.state ^ b.state) & bits == 0
        && a.port_id == b.port_id
        && a.port_priority == b.port_priority
        && a.key == b.key
        && a.sys_priority == b.sys_priority
        && a.sys_id == b.sys_id
}

mod show;
pub use show::{show, show_stats};

#[cfg(test)]
mod tests;
