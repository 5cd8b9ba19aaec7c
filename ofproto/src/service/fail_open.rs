//! Fail-open: what a standalone bridge with controllers does when it
//! loses them (Open vSwitch's `fail_mode=standalone`, fail-open.c and the
//! admission rules of rconn/connmgr).
//!
//! Once every active primary controller has been out of contact (not
//! connected, or connected but not yet "admitted") for three times the
//! largest inactivity probe interval, the bridge flushes its tables and
//! adds a hidden catch-all rule at priority [`FAIL_OPEN_PRIORITY`] with
//! `actions=NORMAL`: it forwards as a learning switch. While it is in
//! that state and a controller is connected, a bogus packet-in (a RARP
//! from a random Nicira address, in_port LOCAL) goes out every two
//! seconds so the controller notices. As soon as any primary connection
//! is admitted again, the hidden rule goes (and, through revalidation,
//! the datapath flows it produced).
//!
//! A connection counts as admitted once it has received something other
//! than a handshake or configuration message (a flow_mod, a barrier, a
//! statistics request, ...), or anything at all 30 s after connecting;
//! from then on every message keeps it admitted. This is how a switch
//! guesses that its controller accepted it.
//!
//! The event loop tells this module about connections (`connected`,
//! `received`, `closed`), the configuration (`configure`) and time
//! (`run`); the module owns the hidden rule in table 0.

use super::{ControllerConfig, FailMode};
use crate::openflow::actions::{port, Action, Instructions};
use crate::openflow::fields::Match;
use crate::switch::{PacketIn, Rule, SharedSwitch, Switch};
use mio::Token;
use std::collections::HashMap;
use std::time::{Duration, Instant};

// The hidden rule's priority is above anything OpenFlow can set (16
// bits), so it hides from controllers and wins every table-0 lookup.
use crate::switch::FAIL_OPEN_PRIORITY;

/// Where the log lines go: stock's module name.
const LOG: &str = "fail_open";

/// How long a connected peer may stay unadmitted before anything it
/// sends admits it.
const ADMIT_ANYWAY: Duration = Duration::from_secs(30);

/// Time between bogus packet-ins while in fail-open.
const BOGUS_EVERY: Duration = Duration::from_secs(2);

/// One connection to a configured (primary) controller.
struct ControllerConn {
    target: String,
    connected_at: Instant,
    admitted: bool,
}

/// A bridge's fail-open state.
#[derive(Default)]
pub(crate) struct FailOpen {
    /// Whether fail-open applies at all: standalone with controllers.
    enabled: bool,
    /// Active controllers (`tcp:`, `unix:`, ...) by target: when each
    /// was last admitted (configuration time to begin with).
    last_admitted: HashMap<String, Instant>,
    /// Largest inactivity probe interval of the controllers, in seconds.
    max_probe_secs: u64,
    /// Connections to controllers, by token.
    conns: HashMap<Token, ControllerConn>,
    /// 0 when not in fail-open; else the disconnection seconds last
    /// logged.
    last_disconn_secs: u64,
    next_bogus: Option<Instant>,
}

/// What a `run` asks the event loop to do.
#[derive(Default)]
pub(crate) struct Outcome {
    /// The tables changed: installed flows must be revalidated.
    pub tables_changed: bool,
    /// A packet-in to send to the bridge's connections.
    pub bogus_packet_in: Option<PacketIn>,
}

impl FailOpen {
    /// Takes the bridge's controllers and fail mode. Leaving standalone
    /// mode or losing the last controller ends fail-open; returns whether
    /// the tables changed.
    pub fn configure(
        &mut self,
        ctls: &[&ControllerConfig],
        mode: FailMode,
        sw: &SharedSwitch,
        now: Instant,
    ) -> bool {
        let enabled = mode == FailMode::Standalone && !ctls.is_empty();
        self.max_probe_secs = ctls
            .iter()
            .map(|c| c.inactivity_probe.as_secs())
            .max()
            .unwrap_or(0);
        let old = std::mem::take(&mut self.last_admitted);
        for c in ctls.iter().filter(|c| !is_passive(&c.target)) {
            let since = old.get(&c.target).copied().unwrap_or(now);
            self.last_admitted.insert(c.target.clone(), since);
        }
        self.conns
            .retain(|_, c| ctls.iter().any(|x| x.target == c.target));
        let was = std::mem::replace(&mut self.enabled, enabled);
        if was && !enabled && self.is_active() {
            self.recover(&mut sw.write());
            return true;
        }
        false
    }

    /// A controller connection finished its handshake.
    pub fn connected(&mut self, t: Token, target: &str, now: Instant) {
        self.conns.insert(
            t,
            ControllerConn {
                target: target.to_string(),
                connected_at: now,
                admitted: false,
            },
        );
    }

    /// A controller connection is gone.
    pub fn closed(&mut self, t: Token) {
        self.conns.remove(&t);
    }

    /// Connection `t` received OpenFlow message `msg` (after the
    /// handshake). Returns whether this ended fail-open (the tables
    /// changed).
    pub fn received(&mut self, t: Token, msg: &[u8], sw: &SharedSwitch, now: Instant) -> bool {
        // Most messages come from the management socket (ovs-ofctl
        // add-flows): no lookup for those while no controller is up.
        if self.conns.is_empty() {
            return false;
        }
        let Some(c) = self.conns.get_mut(&t) else {
            return false;
        };
        if c.admitted || admits(msg) || now.duration_since(c.connected_at) >= ADMIT_ANYWAY {
            c.admitted = true;
            if let Some(at) = self.last_admitted.get_mut(&c.target) {
                *at = now;
            }
        }
        if self.is_active() && self.conns.values().any(|c| c.admitted) {
            self.recover(&mut sw.write());
            return true;
        }
        false
    }

    pub fn is_active(&self) -> bool {
        self.last_disconn_secs != 0
    }

    /// Whole seconds every active controller has been out of contact; 0
    /// if one is admitted now or there is none.
    fn failure_secs(&self, now: Instant) -> u64 {
        self.last_admitted
            .iter()
            .map(|(target, at)| {
                let admitted = self
                    .conns
                    .values()
                    .any(|c| &c.target == target && c.admitted);
                if admitted {
                    0
                } else {
                    now.saturating_duration_since(*at).as_secs()
                }
            })
            .min()
            .unwrap_or(0)
    }

    /// Enters fail-open when the controllers have been out of contact
    /// long enough; keeps the hidden rule in place (a flush removes it)
    /// and paces the bogus packet-ins.
    pub fn run(&mut self, sw: &SharedSwitch, now: Instant) -> Outcome {
        let mut out = Outcome::default();
        if !self.enabled {
            return out;
        }
        let secs = self.failure_secs(now);
        if secs > 0 && secs >= self.max_probe_secs.saturating_mul(3) {
            if !self.is_active() {
                log::warn!(
                    target: LOG,
                    "Could not connect to controller (or switch failed controller's \
                     post-connection admission control policy) for {secs} seconds, failing open"
                );
                self.last_disconn_secs = secs;
                let mut sw = sw.write();
                sw.flush();
                add_rule(&mut sw);
                out.tables_changed = true;
            } else if secs > self.last_disconn_secs + 60 {
                log::info!(
                    target: LOG,
                    "Still in fail-open mode after {secs} seconds disconnected from controller"
                );
                self.last_disconn_secs = secs;
            }
        }
        if !self.is_active() {
            return out;
        }
        if !has_rule(&sw.read()) {
            add_rule(&mut sw.write());
            out.tables_changed = true;
        }
        if self.conns.is_empty() {
            self.next_bogus = None;
        } else {
            let due = self.next_bogus.is_some_and(|at| now >= at);
            if due {
                out.bogus_packet_in = Some(bogus_packet_in(now));
            }
            if due || self.next_bogus.is_none() {
                self.next_bogus = Some(now + BOGUS_EVERY);
            }
        }
        out
    }

    fn recover(&mut self, sw: &mut Switch) {
        log::warn!(target: LOG, "No longer in fail-open mode");
        self.last_disconn_secs = 0;
        self.next_bogus = None;
        // Straight out of the table: a hidden rule's removal is no
        // flow monitor's business (nor a flow-removed message's).
        if let Some(t) = sw.tables.first_mut() {
            t.remove(&Match::catchall(), FAIL_OPEN_PRIORITY);
        }
    }
}

fn is_passive(target: &str) -> bool {
    target.starts_with("ptcp:") || target.starts_with("punix:") || target.starts_with("pssl:")
}

fn has_rule(sw: &Switch) -> bool {
    sw.tables.first().is_some_and(|t| {
        t.find_exact(&Match::catchall(), FAIL_OPEN_PRIORITY)
            .is_some()
    })
}

fn add_rule(sw: &mut Switch) {
    let rule = Rule::new(Instructions {
        apply: vec![Action::Output {
            port: port::NORMAL,
            max_len: 0,
        }],
        ..Default::default()
    });
    if let Some(t) = sw.tables.first_mut() {
        t.insert(&Match::catchall(), FAIL_OPEN_PRIORITY, rule);
    }
}

/// Whether a message received from a controller shows that it accepted
/// the switch: anything but the handshake and configuration messages
/// (hello, error, echo, features, get/set config, queue config, async
/// config, group statistics and features, table features and
/// descriptions), as Open vSwitch judges it.
fn admits(msg: &[u8]) -> bool {
    let (Some(&version), Some(&msg_type)) = (msg.first(), msg.get(1)) else {
        return false;
    };
    // The multipart (statistics) type in this version, and its subtype.
    let multipart = if version == 1 { 16 } else { 18 };
    let multipart_reply = multipart + 1;
    match msg_type {
        // Hello, error, echo request/reply, features request/reply, get
        // config request/reply, set config.
        0..=3 | 5..=9 => false,
        // Queue get config request/reply (1.0: 20/21; 1.1-1.3: 22/23).
        20 | 21 if version == 1 => false,
        22 | 23 if (2..=4).contains(&version) => false,
        // Get async request/reply (1.3+: 26/27).
        26 | 27 if version >= 4 => false,
        t if t == multipart || t == multipart_reply => {
            let sub = msg
                .get(8..10)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            // Group stats, group desc, group features, table features,
            // table desc.
            !(version >= 2 && matches!(sub, 6 | 7 | 8 | 12 | 14))
        }
        _ => true,
    }
}

/// A RARP request from a random Nicira MAC, in_port LOCAL, as stock's
/// fail-open sends to make a controller notice the switch.
fn bogus_packet_in(now: Instant) -> PacketIn {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.elapsed().as_nanos());
    let r = h.finish().to_be_bytes();
    let mac = [0x00, 0x23, 0x20, r[0] & 0x7f, r[1], r[2]];
    let mut p = Vec::with_capacity(42);
    p.extend_from_slice(&[0xff; 6]);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&0x8035u16.to_be_bytes());
    p.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 3]);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0; 4]);
    let mut metadata = Match::catchall();
    metadata.set_exact(crate::openflow::fields::id::IN_PORT, port::LOCAL as u128);
    PacketIn {
        reason: 0,
        table_id: 0,
        cookie: u64::MAX,
        metadata,
        packet: p,
        max_len: u16::MAX,
        userdata: Vec::new(),
        controller_id: 0,
        continuation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(version: u8, t: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![version, t, 0, 0, 0, 0, 0, 1];
        m.extend_from_slice(body);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn handshake_messages_do_not_admit_but_requests_do() {
        for t in [0, 1, 2, 3, 5, 6, 7, 8, 9] {
            assert!(!admits(&msg(4, t, &[])), "type {t}");
        }
        // Barrier request (1.3: 20), flow_mod (14), packet_out (13).
        assert!(admits(&msg(4, 20, &[])));
        assert!(admits(&msg(4, 14, &[])));
        assert!(admits(&msg(1, 18, &[])));
        // Table features multipart does not; flow stats does.
        assert!(!admits(&msg(4, 18, &[0, 12, 0, 0, 0, 0, 0, 0])));
        assert!(admits(&msg(4, 18, &[0, 1, 0, 0, 0, 0, 0, 0])));
        assert!(!admits(&[]));
    }

    #[test]
    fn fails_open_after_three_probe_intervals_and_recovers_on_admission() {
        let sw = SharedSwitch::new(Switch::new("br0", 1));
        let mut ctl = ControllerConfig::new("tcp:127.0.0.1:1");
        ctl.inactivity_probe = Duration::from_secs(1);
        let t0 = Instant::now();
        let mut fo = FailOpen::default();
        fo.configure(&[&ctl], FailMode::Standalone, &sw, t0);
        assert!(!fo.run(&sw, t0 + Duration::from_secs(2)).tables_changed);
        assert!(!has_rule(&sw.read()));
        assert!(fo.run(&sw, t0 + Duration::from_secs(3)).tables_changed);
        assert!(fo.is_active() && has_rule(&sw.read()));
        // A minute later it says it is still open (once a minute).
        fo.run(&sw, t0 + Duration::from_secs(64));
        assert_eq!(fo.last_disconn_secs, 64);
        fo.run(&sw, t0 + Duration::from_secs(65));
        assert_eq!(fo.last_disconn_secs, 64);
        // A connection that only says hello and echoes is not admitted;
        // packet-ins go to it every two seconds.
        let t = Token(7);
        let t1 = t0 + Duration::from_secs(4);
        fo.connected(t, "tcp:127.0.0.1:1", t1);
        assert!(!fo.received(t, &msg(4, 2, &[]), &sw, t1));
        assert!(fo.run(&sw, t1).bogus_packet_in.is_none());
        let pi = fo.run(&sw, t1 + BOGUS_EVERY).bogus_packet_in;
        assert!(pi.is_some_and(|p| p.packet.len() == 42 && p.cookie == u64::MAX));
        // A barrier admits it: the rule goes.
        assert!(fo.received(t, &msg(4, 20, &[]), &sw, t1));
        assert!(!fo.is_active() && !has_rule(&sw.read()));
    }

    #[test]
    fn secure_mode_and_passive_controllers_never_fail_open() {
        let sw = SharedSwitch::new(Switch::new("br0", 1));
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(3600);
        let active = ControllerConfig::new("tcp:127.0.0.1:1");
        let mut fo = FailOpen::default();
        fo.configure(&[&active], FailMode::Secure, &sw, t0);
        assert!(!fo.run(&sw, later).tables_changed);
        let passive = ControllerConfig::new("ptcp:6653");
        let mut fo = FailOpen::default();
        fo.configure(&[&passive], FailMode::Standalone, &sw, t0);
        assert!(!fo.run(&sw, later).tables_changed);
        assert!(!has_rule(&sw.read()));
    }
}
