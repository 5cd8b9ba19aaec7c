//! Bonds: a Port row with two or more Interfaces (`ovs-vsctl add-bond`).
//!
//! Each member interface is an ordinary OpenFlow and datapath port of the
//! bridge; what makes them a bond lives here: the settings read from the
//! Port row ([`BondCfg`]), each member's liveness (carrier, polled every
//! [`POLL`], with `bond_updelay`/`bond_downdelay`, and
//! `bond/enable-member`/`bond/disable-member`), the active member (with
//! `other_config:bond-primary`, the last active member remembered in the
//! Port's `bond_active_slave`, `bond/set-active-member`), and the
//! `bond/*` commands. After each change the bridge's bonds are published
//! to translation (`ferrovs_ofproto::xlate::bond`, where the NORMAL
//! choices are described) and the caller makes the revalidators look at
//! every flow again.
//!
//! A bond with `lacp=active|passive` runs LACP ([`lacp`]): members'
//! `may_enable` follows it, PDUs go out each member from the main loop,
//! and the frames the datapath sends up (`xlate::bond::lacp_upcall`) are
//! taken in on each [`Bonds::run`].
//!
//! Not implemented: balance-tcp (it needs recirculation by dp_hash) and
//! rebalancing (`bond-rebalance-interval` is accepted and only shown).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrovs_ofproto::xlate::bond::{self as xbond, BondMode, BondView, BridgeBonds};
use serde_json::{json, Map, Value};

use crate::bridge::Bridges;
use crate::config::Config;
use crate::ovsdb::{datum, Replica};

mod cfg;
mod commands;
pub mod lacp;
mod learning;

pub use cfg::BondCfg;
pub use commands::{handles, COMMANDS};

/// How often members' carrier is read while there are bonds (stock is
/// told by netlink; a poll is simpler and cheap for a few members).
pub const POLL: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Member {
    name: String,
    ofport: Option<u16>,
    enabled: bool,
    /// Whether the member may be enabled: its carrier, and with LACP,
    /// what LACP says.
    may_enable: bool,
    /// The carrier as last read.
    carrier: bool,
    delay_expires: Option<Instant>,
    mac: String,
}

#[derive(Debug)]
struct Bond {
    bridge: String,
    cfg: BondCfg,
    /// Sorted by name.
    members: Vec<Member>,
    active: Option<usize>,
    /// The last active member's MAC (stock's `active_member_mac`).
    active_mac: String,
    /// `bond_active_slave` must be written.
    active_mac_dirty: bool,
    next_rebalance: Instant,
    /// `bond/migrate`: hash bucket to member name (forgotten when the
    /// settings change, as stock resets its buckets).
    migrated: BTreeMap<u8, String>,
    /// The far side must learn again where the bridge's MACs are (the
    /// active member changed or a member went down): see
    /// [`Bonds::send_learning_packets`].
    send_learning: bool,
    /// LACP, when the Port asks for it.
    lacp: Option<lacp::Lacp>,
    /// LACPDUs to send: (member index, PDU).
    pdus_out: Vec<(String, lacp::pdu::Repr)>,
    /// Interface `lacp_current` as last computed (member name to value).
    lacp_current: BTreeMap<String, Option<bool>>,
    /// `lacp_current` must be written.
    lacp_current_dirty: bool,
}

const ZERO_MAC: &str = "00:00:00:00:00:00";

/// Every bridge's bonds, by port name.
#[derive(Debug, Default)]
pub struct Bonds {
    bonds: BTreeMap<String, Bond>,
    /// What translation was last given, by bridge.
    published: BTreeMap<String, BridgeBonds>,
    /// When members' carrier is read next.
    next_poll: Option<Instant>,
}

/// A member's carrier and MAC as the bridge's interface has them.
fn member_facts(bridges: &Bridges, bridge: &str, name: &str) -> (Option<u16>, bool, String) {
    let Some(iface) = bridges.bridges.get(bridge).and_then(|b| b.ifaces.get(name)) else {
        return (None, false, String::new());
    };
    match (&iface.device, iface.ofport) {
        (Some(dev), Some(p)) => (Some(p), dev.carrier() && !iface.admin_down, dev.mac()),
        _ => (iface.ofport, false, String::new()),
    }
}

impl Bond {
    fn new(bridge: &str, cfg: BondCfg, replica: &Replica, now: Instant) -> Bond {
        cfg.warn();
        // The last active member, as a previous run stored it.
        let active_mac = replica
            .row("Port", &cfg.port_uuid)
            .map(|r| datum::string(r.get("bond_active_slave")))
            .filter(|m| m.len() == 17)
            .unwrap_or_else(|| ZERO_MAC.to_string());
        Bond {
            bridge: bridge.to_string(),
            next_rebalance: now + Duration::from_millis(cfg.rebalance_interval),
            cfg,
            members: Vec::new(),
            active: None,
            active_mac,
            active_mac_dirty: false,
            migrated: BTreeMap::new(),
            send_learning: false,
            lacp: None,
            pdus_out: Vec::new(),
            lacp_current: BTreeMap::new(),
            lacp_current_dirty: false,
        }
    }

    /// Takes new settings, keeping the state of members that stay.
    fn configure(&mut self, cfg: &BondCfg, bridges: &Bridges) {
        if *cfg != self.cfg {
            if cfg.mode_text != self.cfg.mode_text || cfg.lacp != self.cfg.lacp {
                cfg.warn();
            }
            self.cfg = cfg.clone();
            self.migrated.clear();
        }
        let active_name = self.active.map(|i| self.members[i].name.clone());
        let mut old: BTreeMap<String, Member> = std::mem::take(&mut self.members)
            .into_iter()
            .map(|m| (m.name.clone(), m))
            .collect();
        for name in &self.cfg.members {
            let (ofport, carrier, mac) = member_facts(bridges, &self.bridge, name);
            let m = match old.remove(name) {
                Some(mut m) => {
                    m.ofport = ofport;
                    m.mac = mac;
                    m
                }
                None => {
                    // As stock registers a member: enabled with its carrier.
                    if carrier {
                        log::info!(target: "bond", "member {name}: enabled");
                    }
                    Member {
                        name: name.clone(),
                        ofport,
                        enabled: carrier && !self.cfg.lacp_configured(),
                        may_enable: carrier && !self.cfg.lacp_configured(),
                        carrier,
                        delay_expires: None,
                        mac,
                    }
                }
            };
            self.members.push(m);
        }
        self.active = active_name.and_then(|n| self.members.iter().position(|m| m.name == n));
        self.configure_lacp(bridges);
    }

    /// Starts, changes or stops LACP as the settings say.
    fn configure_lacp(&mut self, bridges: &Bridges) {
        let now = Instant::now();
        let bridge_mac = bridges
            .bridges
            .get(&self.bridge)
            .and_then(|b| commands::scan_mac(&b.mac))
            .unwrap_or([0; 6]);
        let Some(lc) = self.cfg.lacp_cfg(bridge_mac) else {
            if self.lacp.take().is_some() {
                self.lacp_current_dirty = true;
            }
            return;
        };
        let l = self
            .lacp
            .get_or_insert_with(|| lacp::Lacp::new(&self.cfg.name, lc.clone()));
        l.configure(&lc);
        l.retain(&self.cfg.members);
        // Registered in the order of the Interface uuids, as stock adds
        // a Port's interfaces: the first one is the key member.
        let mut order: Vec<&Member> = self.members.iter().collect();
        order.sort_by_key(|m| {
            self.cfg
                .member_lacp
                .get(&m.name)
                .map(|c| c.iface_uuid.as_str())
        });
        for m in order {
            let known = l.is_current(&m.name).is_some();
            l.register(&m.name, self.cfg.member_lacp_cfg(&m.name, m.ofport), now);
            if !known {
                l.initial_carrier(&m.name, m.carrier);
            }
        }
        self.lacp_current_dirty = true;
    }
    fn set_enabled(&mut self, i: usize, enable: bool) {
        let m = &mut self.members[i];
        m.delay_expires = None;
        if m.enabled != enable {
            m.enabled = enable;
            self.send_learning |= !enable;
            log::info!(target: "bond", "member {}: {}", m.name, if enable { "enabled" } else { "disabled" });
        }
    }

    /// Stock's `bond_link_status_update` for every member, then a new
    /// active member when needed.
    /// `facts` gives a member's OpenFlow port and carrier by name.
    fn run(&mut self, facts: impl Fn(&str) -> (Option<u16>, bool), now: Instant) {
        let facts: Vec<(Option<u16>, bool)> = self.members.iter().map(|m| facts(&m.name)).collect();
        // LACP first (stock's lacp_run before bond_run): carrier changes,
        // timers, attachment, PDUs to send.
        if let Some(l) = &mut self.lacp {
            for (m, &(_, carrier)) in self.members.iter().zip(&facts) {
                if carrier != m.carrier {
                    l.carrier_changed(&m.name, carrier, now);
                }
            }
            let (pdus, _) = l.run(now);
            self.pdus_out.extend(pdus);
            let current: BTreeMap<String, Option<bool>> = self
                .members
                .iter()
                .map(|m| (m.name.clone(), l.is_current(&m.name)))
                .collect();
            if current != self.lacp_current {
                self.lacp_current = current;
                self.lacp_current_dirty = true;
            }
        }
        for (i, &(ofport, carrier)) in facts.iter().enumerate() {
            let lacp_ok = self
                .lacp
                .as_ref()
                .is_none_or(|l| l.may_enable(&self.members[i].name));
            let (updelay, downdelay) = (self.cfg.updelay, self.cfg.downdelay);
            let m = &mut self.members[i];
            m.ofport = ofport;
            m.carrier = carrier;
            m.may_enable = carrier && lacp_ok;
            let up = carrier && m.may_enable;
            if (up == m.enabled) != m.delay_expires.is_none() {
                log::info!(target: "bond", "member {}: link state {}", m.name, if up { "up" } else { "down" });
                if up == m.enabled {
                    m.delay_expires = None;
                    log::info!(target: "bond", "member {}: will not be {}", m.name, if up { "disabled" } else { "enabled" });
                } else {
                    let delay = if up { updelay } else { downdelay };
                    m.delay_expires = Some(now + Duration::from_millis(delay));
                    if delay > 0 {
                        log::info!(target: "bond", "member {}: will be {} if it stays {} for {delay} ms", m.name, if up { "enabled" } else { "disabled" }, if up { "up" } else { "down" });
                    }
                }
            }
            if m.delay_expires.is_some_and(|t| now >= t) {
                self.set_enabled(i, up);
            }
        }
        let primary = self.primary_index().filter(|&i| self.members[i].enabled);
        let stale = match self.active {
            None => true,
            Some(a) => !self.members[a].enabled || primary.is_some_and(|p| p != a),
        };
        if stale {
            self.choose_active(now);
        }
        if self.cfg.rebalance_interval > 0 && now >= self.next_rebalance {
            self.next_rebalance = now + Duration::from_millis(self.cfg.rebalance_interval);
        }
    }

    fn primary_index(&self) -> Option<usize> {
        let p = self.cfg.primary.as_deref()?;
        self.members.iter().position(|m| m.name == p)
    }

    /// Stock's `bond_choose_member`.
    fn best_member(&self) -> Option<usize> {
        let enabled = |i: &usize| self.members[*i].enabled;
        let all = 0..self.members.len();
        self.primary_index()
            .filter(enabled)
            .or_else(|| {
                self.members
                    .iter()
                    .position(|m| m.mac == self.active_mac && m.mac != ZERO_MAC)
                    .filter(enabled)
            })
            .or_else(|| all.clone().find(enabled))
            .or_else(|| {
                all.filter(|&i| self.members[i].may_enable)
                    .filter_map(|i| self.members[i].delay_expires.map(|t| (t, i)))
                    .min()
                    .map(|(_, i)| i)
            })
    }

    /// Stock's `bond_choose_active_member`.
    fn choose_active(&mut self, now: Instant) {
        let old = self.active;
        self.active = self.best_member();
        match self.active {
            Some(a) => {
                let m = &self.members[a];
                if m.enabled {
                    log::info!(target: "bond", "bond {}: active member is now {}", self.cfg.name, m.name);
                } else {
                    let left = m
                        .delay_expires
                        .map_or(0, |t| t.saturating_duration_since(now).as_millis());
                    log::info!(target: "bond", "bond {}: active member is now {}, skipping remaining {left} ms updelay (since no member was enabled)", self.cfg.name, m.name);
                    self.set_enabled(a, true);
                }
                self.send_learning = true;
                if old != self.active {
                    self.active_changed();
                }
            }
            None if old.is_some() => {
                self.active_changed();
                log::info!(target: "bond", "bond {}: all members disabled", self.cfg.name);
            }
            None => {}
        }
    }

    fn active_changed(&mut self) {
        self.active_mac = self
            .active
            .map(|a| self.members[a].mac.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| ZERO_MAC.to_string());
        self.active_mac_dirty = true;
    }

    /// Operations writing each member Interface's `lacp_current` (empty
    /// without LACP).
    fn lacp_current_ops(&self, replica: &Replica) -> Vec<Value> {
        let mut ops = Vec::new();
        for m in &self.members {
            let Some(uuid) = self.cfg.member_lacp.get(&m.name).map(|c| &c.iface_uuid) else {
                continue;
            };
            let Some(current) = replica.row("Interface", uuid) else {
                continue;
            };
            let value = self
                .lacp
                .as_ref()
                .and_then(|l| l.is_current(&m.name))
                .map(|c| json!(c));
            let mut row = Map::new();
            crate::status::put(
                &mut row,
                Some(current),
                "lacp_current",
                datum::optional(value),
            );
            if !row.is_empty() {
                ops.push(crate::status::update("Interface", uuid, row));
            }
        }
        ops
    }

    fn view(&self) -> BondView {
        let ports = |f: &dyn Fn(&Member) -> bool| {
            let mut v: Vec<u16> = self
                .members
                .iter()
                .filter(|m| f(m))
                .filter_map(|m| m.ofport)
                .collect();
            v.sort_unstable();
            v
        };
        BondView {
            name: self.cfg.name.clone(),
            mode: self.cfg.mode,
            members: ports(&|_| true),
            enabled: ports(&|m| m.enabled),
            active: self.active.and_then(|a| self.members[a].ofport),
            basis: self.cfg.basis,
            all_members_active: self.cfg.mode == BondMode::BalanceSlb
                && self.cfg.all_members_active,
            migrated: self
                .migrated
                .iter()
                .filter_map(|(&h, name)| {
                    let m = self.members.iter().find(|m| m.name == *name)?;
                    Some((h, m.ofport?))
                })
                .collect(),
            lacp_configured: self.lacp.is_some(),
            lacp_fallback_ab: self.cfg.lacp_fallback_ab,
            lacp_negotiated: self.lacp.as_ref().is_some_and(|l| l.negotiated),
        }
    }
}

impl Bonds {
    /// Follows the configuration: bonds come, change and go. Returns
    /// whether translations may have changed.
    pub fn reconfigure(
        &mut self,
        cfg: &Config,
        bridges: &Bridges,
        replica: &Replica,
        now: Instant,
    ) -> bool {
        let wanted: BTreeMap<&str, (&str, &BondCfg)> = cfg
            .bridges
            .iter()
            .flat_map(|(br, b)| {
                b.bonds
                    .iter()
                    .map(move |(n, c)| (n.as_str(), (br.as_str(), c)))
            })
            .collect();
        self.bonds.retain(|name, b| {
            wanted
                .get(name.as_str())
                .is_some_and(|(br, _)| *br == b.bridge)
        });
        for (name, (br, c)) in wanted {
            let bond = self
                .bonds
                .entry(name.to_string())
                .or_insert_with(|| Bond::new(br, c.clone(), replica, now));
            bond.configure(c, bridges);
        }
        self.run(bridges, now)
    }

    /// Periodic work: liveness and the active member. Returns whether
    /// translations may have changed (what was published changed).
    pub fn run(&mut self, bridges: &Bridges, now: Instant) -> bool {
        self.next_poll = (!self.bonds.is_empty()).then(|| now + POLL);
        self.receive_lacp(bridges, now);
        for b in self.bonds.values_mut() {
            let bridge = b.bridge.clone();
            b.run(
                |name| {
                    let (ofport, carrier, _) = member_facts(bridges, &bridge, name);
                    (ofport, carrier)
                },
                now,
            );
        }
        self.send_lacp(bridges);
        self.publish()
    }

    /// Hands the LACP frames the datapath sent up to their bonds.
    fn receive_lacp(&mut self, bridges: &Bridges, now: Instant) {
        let frames = xbond::take_lacp_frames();
        if frames.is_empty() {
            return;
        }
        for b in self.bonds.values_mut() {
            let uuid = ferrovs_ofproto::xlate::packet_in::bridge_uuid(&b.bridge);
            let (Some(l), Some(br)) = (&mut b.lacp, bridges.bridges.get(&b.bridge)) else {
                continue;
            };
            for f in frames.iter().filter(|f| f.bridge_uuid == uuid) {
                let member = b
                    .members
                    .iter()
                    .find(|m| br.ifaces.get(&m.name).and_then(|i| i.odp_port) == Some(f.odp_port));
                if let Some(m) = member {
                    l.receive(&m.name, &f.frame, now);
                }
            }
        }
    }

    /// Sends the LACPDUs the bonds' LACP asked for, each out of its
    /// member with the member's MAC as source.
    fn send_lacp(&mut self, bridges: &Bridges) {
        for b in self.bonds.values_mut() {
            let pdus = std::mem::take(&mut b.pdus_out);
            let Some(br) = bridges.bridges.get(&b.bridge) else {
                continue;
            };
            let Some(dpif) = bridges.backers.get(&br.dp_type) else {
                continue;
            };
            for (name, repr) in pdus {
                let Some(m) = b.members.iter().find(|m| m.name == name) else {
                    continue;
                };
                let Some(odp) = br.ifaces.get(&m.name).and_then(|i| i.odp_port) else {
                    continue;
                };
                let src = commands::scan_mac(&m.mac).unwrap_or([0; 6]);
                learning::send(dpif, odp, &lacp::pdu::compose_frame(src, &repr));
            }
        }
    }

    /// How long until `run` has work (while there are bonds, every
    /// [`POLL`]).
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.next_poll.map(|t| t.saturating_duration_since(now))
    }

    fn publish(&mut self) -> bool {
        let mut now: BTreeMap<String, Vec<BondView>> = BTreeMap::new();
        for b in self.bonds.values() {
            now.entry(b.bridge.clone()).or_default().push(b.view());
        }
        let now: BTreeMap<String, BridgeBonds> = now
            .into_iter()
            .map(|(br, v)| (br, BridgeBonds::new(v)))
            .collect();
        if now == self.published {
            return false;
        }
        for br in self.published.keys() {
            if !now.contains_key(br) {
                xbond::publish(br, None);
            }
        }
        for (br, bb) in &now {
            if self.published.get(br) != Some(bb) {
                xbond::publish(br, Some(bb.clone()));
            }
        }
        self.published = now;
        true
    }

    /// Whether some bond's `bond_active_slave` waits to be written.
    pub fn status_dirty(&self) -> bool {
        self.bonds
            .values()
            .any(|b| b.active_mac_dirty || b.lacp_current_dirty)
    }

    /// Operations writing each bond's last active member MAC to its
    /// Port's `bond_active_slave`.
    pub fn status_ops(&mut self, replica: &Replica) -> Vec<Value> {
        let mut ops = Vec::new();
        for b in self.bonds.values_mut() {
            if std::mem::take(&mut b.lacp_current_dirty) {
                ops.extend(b.lacp_current_ops(replica));
            }
            if !std::mem::take(&mut b.active_mac_dirty) {
                continue;
            }
            let Some(current) = replica.row("Port", &b.cfg.port_uuid) else {
                continue;
            };
            let mut row = Map::new();
            crate::status::put(
                &mut row,
                Some(current),
                "bond_active_slave",
                datum::optional(Some(json!(b.active_mac))),
            );
            if !row.is_empty() {
                ops.push(crate::status::update("Port", &b.cfg.port_uuid, row));
            }
        }
        ops
    }

    /// `lacp/show` and `lacp/show-stats` (`verb`), for one bond or all.
    pub fn lacp_command(&self, verb: &str, args: &[String]) -> Result<String, String> {
        let text = |l: &lacp::Lacp| {
            if verb == "show" {
                lacp::show(l)
            } else {
                lacp::show_stats(l)
            }
        };
        match args.first() {
            Some(name) => self
                .bonds
                .values()
                .filter_map(|b| b.lacp.as_ref())
                .find(|l| l.name == *name)
                .map(text)
                .ok_or_else(|| "no such lacp object".to_string()),
            None => Ok(self
                .bonds
                .values()
                .filter_map(|b| b.lacp.as_ref())
                .map(text)
                .collect()),
        }
    }

    /// Publishes what commands changed; returns whether translations may
    /// have changed.
    pub fn publish_changes(&mut self) -> bool {
        self.publish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn member(name: &str, ofport: u16, enabled: bool) -> Member {
        Member {
            name: name.into(),
            ofport: Some(ofport),
            enabled,
            may_enable: true,
            carrier: true,
            delay_expires: None,
            mac: format!("02:00:00:00:00:{ofport:02x}"),
        }
    }

    pub(super) fn bond(mode: &str, primary: Option<&str>) -> Bond {
        let cfg = BondCfg {
            mode: BondMode::parse(mode).unwrap_or_default(),
            mode_text: mode.into(),
            primary: primary.map(str::to_string),
            ..BondCfg::for_test("bond0", &["p1", "p2"])
        };
        Bond {
            bridge: "br0".into(),
            next_rebalance: Instant::now(),
            cfg,
            members: vec![member("p1", 1, true), member("p2", 2, true)],
            active: None,
            active_mac: ZERO_MAC.into(),
            active_mac_dirty: false,
            migrated: BTreeMap::new(),
            send_learning: false,
            lacp: None,
            pdus_out: Vec::new(),
            lacp_current: BTreeMap::new(),
            lacp_current_dirty: false,
        }
    }
    #[test]
    fn the_active_member_follows_primary_then_last_active_then_order() {
        let now = Instant::now();
        let mut b = bond("active-backup", None);
        b.choose_active(now);
        assert_eq!(b.active, Some(0));
        assert_eq!(b.active_mac, "02:00:00:00:00:01");
        assert!(b.active_mac_dirty);
        // The remembered MAC wins over order.
        let mut b = bond("active-backup", None);
        b.active_mac = "02:00:00:00:00:02".into();
        b.choose_active(now);
        assert_eq!(b.active, Some(1));
        // A primary wins over both.
        let mut b = bond("active-backup", Some("p2"));
        b.choose_active(now);
        assert_eq!(b.active, Some(1));
        // Nothing enabled: none, then "all members disabled".
        b.members[0].enabled = false;
        b.members[1].enabled = false;
        b.choose_active(now);
        assert_eq!((b.active, b.active_mac.as_str()), (None, ZERO_MAC));
        let v = b.view();
        assert_eq!((v.members, v.enabled, v.active), (vec![1, 2], vec![], None));
    }

    #[test]
    fn carrier_changes_wait_for_updelay_and_downdelay() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = bond("active-backup", None);
        b.cfg.updelay = 300;
        b.cfg.downdelay = 200;
        let up = |down: &'static [&'static str]| {
            move |name: &str| {
                (
                    Some(if name == "p1" { 1 } else { 2 }),
                    !down.contains(&name),
                )
            }
        };
        b.run(up(&[]), t0);
        assert_eq!(b.active, Some(0));
        // p1 loses its carrier: still enabled and active for 200 ms.
        b.run(up(&["p1"]), ms(10));
        assert!(b.members[0].enabled && b.members[0].delay_expires == Some(ms(210)));
        assert!(b.show(ms(110)).contains("member p1: enabled\n  active member\n  downdelay expires in 100 ms\n  may_enable: false\n"));
        b.run(up(&["p1"]), ms(209));
        assert_eq!(b.active, Some(0));
        b.run(up(&["p1"]), ms(210));
        assert!(!b.members[0].enabled);
        assert_eq!(b.active, Some(1));
        assert_eq!(b.active_mac, "02:00:00:00:00:02");
        // Back up: enabled after 300 ms only; the active member stays p2
        // (no primary).
        b.run(up(&[]), ms(400));
        assert!(b
            .show(ms(400))
            .contains("member p1: disabled\n  updelay expires in 300 ms\n"));
        b.run(up(&[]), ms(700));
        assert!(b.members[0].enabled);
        assert_eq!(b.active, Some(1));
        // A flap shorter than the delay changes nothing.
        b.run(up(&["p2"]), ms(800));
        b.run(up(&[]), ms(850));
        assert!(b.members[1].enabled && b.members[1].delay_expires.is_none());
        // Everything down: the member whose updelay ends first is taken
        // at once, as stock does.
        b.run(up(&["p1", "p2"]), ms(900));
        b.run(up(&["p1", "p2"]), ms(1200));
        assert_eq!(b.active, None);
        b.run(up(&["p2"]), ms(1300));
        assert_eq!(b.active, Some(0));
        assert!(b.members[0].enabled);
    }

    /// The LACP key member is the first Interface by uuid, not the
    /// bond's first member: each PDU must still leave by the member it
    /// speaks for. (Sent by index once, they crossed links whenever the
    /// key member was second; the Linux bonding driver then never took
    /// us as in sync.)
    #[test]
    fn lacp_pdus_leave_by_the_member_they_speak_for() {
        let bridges = Bridges::new(
            Some(crate::cmdline::DummyMode::Add),
            std::path::Path::new("/nonexistent"),
        );
        let mut b = bond("balance-slb", None);
        b.cfg.lacp = "active".into();
        b.cfg.lacp_system_id = Some(Some([2, 0, 0, 0, 0xe0, 1]));
        for (name, uuid) in [("p1", "u2"), ("p2", "u1")] {
            b.cfg.member_lacp.insert(
                name.into(),
                cfg::MemberLacpCfg {
                    iface_uuid: uuid.into(),
                    ..Default::default()
                },
            );
        }
        b.configure_lacp(&bridges);
        b.run(
            |name| (Some(if name == "p1" { 1 } else { 2 }), true),
            Instant::now(),
        );
        let mut sent: Vec<(String, u16, u16)> = b
            .pdus_out
            .iter()
            .map(|(name, r)| (name.clone(), r.actor.port_id, r.actor.key))
            .collect();
        sent.sort();
        // p2 is the key member: its port id is the key of both.
        assert_eq!(sent, vec![("p1".into(), 1, 2), ("p2".into(), 2, 2)]);
    }
}
