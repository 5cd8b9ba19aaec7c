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
//! Not implemented: LACP (a bond with `lacp` set runs without it, as if
//! it were off, and says so in the log), hence balance-tcp (which stock
//! also refuses to forward on without LACP), `bond/migrate`, and
//! rebalancing (`bond-rebalance-interval` is accepted and only shown).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrovs_ofproto::xlate::bond::{self as xbond, BondMode, BondView, BridgeBonds};
use serde_json::{json, Map, Value};

use crate::bridge::Bridges;
use crate::config::Config;
use crate::ovsdb::{datum, Replica, Row};

/// How often members' carrier is read while there are bonds (stock is
/// told by netlink; a poll is simpler and cheap for a few members).
pub const POLL: Duration = Duration::from_millis(100);

/// The `bond/*` control commands: (name, usage, min args, max args).
pub const COMMANDS: &[(&str, &str, usize, usize)] = &[
    ("bond/list", "", 0, 0),
    ("bond/show", "[port]", 0, 1),
    ("bond/migrate", "port hash member", 3, 3),
    ("bond/set-active-member", "port member", 2, 2),
    ("bond/enable-member", "port member", 2, 2),
    ("bond/disable-member", "port member", 2, 2),
    ("bond/hash", "mac [vlan] [basis]", 1, 3),
];

/// Whether `method` is a command [`Bonds::command`] runs (the ones in
/// [`COMMANDS`] and stock's deprecated `*-slave` names).
pub fn handles(method: &str) -> bool {
    COMMANDS.iter().any(|c| c.0 == method)
        || matches!(
            method,
            "bond/set-active-slave" | "bond/enable-slave" | "bond/disable-slave"
        )
}

/// A bond's settings, from its Port row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondCfg {
    pub port_uuid: String,
    pub name: String,
    pub mode: BondMode,
    /// `bond_mode` as written ("" when not set).
    pub mode_text: String,
    /// Member interface names, sorted.
    pub members: Vec<String>,
    /// Milliseconds.
    pub updelay: u64,
    pub downdelay: u64,
    pub primary: Option<String>,
    pub basis: u32,
    /// other_config:bond-rebalance-interval (ms; accepted, no rebalancing).
    pub rebalance_interval: u64,
    /// The `lacp` column ("", "off", "active", "passive").
    pub lacp: String,
    pub all_members_active: bool,
    pub lacp_fallback_ab: bool,
}

impl BondCfg {
    /// The settings of Port row `prow` whose interfaces are `members`.
    pub fn from_row(port_uuid: &str, prow: &Row, mut members: Vec<String>) -> BondCfg {
        members.sort();
        let oc = datum::str_map(prow.get("other_config"));
        let int = |k: &str| oc.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        let flag = |k: &str| oc.get(k).is_some_and(|v| v == "true");
        let mode_text = datum::string(prow.get("bond_mode"));
        let mode = BondMode::parse(&mode_text).unwrap_or_default();
        let lacp_fallback_ab = flag("lacp-fallback-ab");
        let rebalance = int("bond-rebalance-interval").unwrap_or(10_000).max(0) as u64;
        let delay = |c: &str| datum::opt_int(prow.get(c)).unwrap_or(0).max(0) as u64;
        BondCfg {
            port_uuid: port_uuid.to_string(),
            name: datum::string(prow.get("name")),
            mode,
            mode_text,
            members,
            updelay: delay("bond_updelay"),
            downdelay: delay("bond_downdelay"),
            // As stock: a primary only where active-backup may run.
            primary: (mode == BondMode::ActiveBackup || lacp_fallback_ab)
                .then(|| oc.get("bond-primary").cloned())
                .flatten(),
            basis: int("bond-hash-basis").unwrap_or(0) as u32,
            rebalance_interval: if (1..1000).contains(&rebalance) {
                1000
            } else {
                rebalance
            },
            lacp: datum::string(prow.get("lacp")),
            all_members_active: flag("all-members-active"),
            lacp_fallback_ab,
        }
    }

    /// Whether the Port asks for LACP.
    fn lacp_configured(&self) -> bool {
        matches!(self.lacp.as_str(), "active" | "passive")
    }

    /// Logs what stock logs about these settings, and what ferrovs
    /// cannot do with them.
    fn warn(&self) {
        let port = &self.name;
        if self.mode_text.is_empty() {
            log::warn!(target: "bridge", "port {port}: Using the default bond_mode active-backup. Note that in previous versions, the default bond_mode was balance-slb");
        } else if BondMode::parse(&self.mode_text).is_none() {
            log::warn!(target: "bridge", "port {port}: unknown bond_mode {}, defaulting to active-backup", self.mode_text);
        }
        if self.lacp_configured() {
            let what = if self.lacp_fallback_ab {
                "it runs as active-backup (lacp-fallback-ab)"
            } else {
                "it passes no traffic"
            };
            log::warn!(target: "bond", "port {port}: LACP is not implemented by ferrovs: the bond stays as stock's with a silent partner (lacp_status configured): {what}");
        } else if self.mode == BondMode::BalanceTcp {
            log::warn!(target: "bond", "port {port}: balance-tcp needs LACP, which ferrovs does not implement: the bond forwards nothing (as stock without LACP)");
        }
    }
}

#[derive(Debug)]
struct Member {
    name: String,
    ofport: Option<u16>,
    enabled: bool,
    /// Whether the member may be enabled: without LACP or CFM, as in
    /// stock, its carrier.
    may_enable: bool,
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
                        enabled: carrier,
                        may_enable: carrier,
                        delay_expires: None,
                        mac,
                    }
                }
            };
            self.members.push(m);
        }
        self.active = active_name.and_then(|n| self.members.iter().position(|m| m.name == n));
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
        for i in 0..self.members.len() {
            let (ofport, carrier) = facts(&self.members[i].name);
            let (updelay, downdelay) = (self.cfg.updelay, self.cfg.downdelay);
            let m = &mut self.members[i];
            m.ofport = ofport;
            m.may_enable = carrier;
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
            lacp_configured: self.cfg.lacp_configured(),
            lacp_fallback_ab: self.cfg.lacp_fallback_ab,
        }
    }

    /// Stock's `bond_is_balanced`.
    fn balanced(&self) -> bool {
        self.cfg.rebalance_interval > 0
            && self.cfg.mode != BondMode::ActiveBackup
            && !(self.cfg.lacp_fallback_ab && self.cfg.lacp_configured())
    }

    /// `bond/show`'s text for this bond, in stock's layout.
    fn show(&self, now: Instant) -> String {
        use std::fmt::Write;
        let c = &self.cfg;
        let mut s = String::new();
        let _ = writeln!(s, "---- {} ----", c.name);
        let _ = writeln!(s, "bond_mode: {}", c.mode.as_str());
        s.push_str("bond may use recirculation: no, Recirc-ID : -1\n");
        let _ = writeln!(s, "bond-hash-basis: {}", c.basis);
        s.push_str("lb_output action: disabled, bond-id: -1\n");
        if c.mode == BondMode::BalanceSlb {
            let _ = writeln!(s, "all members active: {}", c.all_members_active);
        }
        let _ = writeln!(s, "updelay: {} ms", c.updelay);
        let _ = writeln!(s, "downdelay: {} ms", c.downdelay);
        if self.balanced() {
            let left = self
                .next_rebalance
                .saturating_duration_since(now)
                .as_millis();
            let _ = writeln!(s, "next rebalance: {left} ms");
        }
        let lacp = if self.cfg.lacp_configured() {
            "configured"
        } else {
            "off"
        };
        let _ = writeln!(s, "lacp_status: {lacp}");
        let _ = writeln!(s, "lacp_fallback_ab: {}", c.lacp_fallback_ab);
        let primary = match (&c.primary, self.primary_index()) {
            (None, _) => "<none>".to_string(),
            (Some(p), Some(_)) => p.clone(),
            (Some(p), None) => format!("{p} (no such member)"),
        };
        let _ = writeln!(s, "active-backup primary: {primary}");
        let owner = self
            .members
            .iter()
            .find(|m| m.mac == self.active_mac)
            .map_or("none", |m| m.name.as_str());
        let _ = writeln!(s, "active member mac: {}({owner})", self.active_mac);
        for (i, m) in self.members.iter().enumerate() {
            let state = if m.enabled { "enabled" } else { "disabled" };
            let _ = writeln!(s, "\nmember {}: {state}", m.name);
            if self.active == Some(i) {
                s.push_str("  active member\n");
            }
            if let Some(t) = m.delay_expires {
                let kind = if m.enabled { "downdelay" } else { "updelay" };
                let left = t.saturating_duration_since(now).as_millis();
                let _ = writeln!(s, "  {kind} expires in {left} ms");
            }
            let _ = writeln!(s, "  may_enable: {}", m.may_enable);
        }
        s.push('\n');
        s
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
        self.publish()
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
        self.bonds.values().any(|b| b.active_mac_dirty)
    }

    /// Operations writing each bond's last active member MAC to its
    /// Port's `bond_active_slave`.
    pub fn status_ops(&mut self, replica: &Replica) -> Vec<Value> {
        let mut ops = Vec::new();
        for b in self.bonds.values_mut() {
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

    fn find(&mut self, bond: &str, member: &str) -> Result<(&mut Bond, usize), String> {
        let b = self.bonds.get_mut(bond).ok_or("no such bond")?;
        let i = b
            .members
            .iter()
            .position(|m| m.name == member)
            .ok_or("no such member")?;
        Ok((b, i))
    }

    /// Runs a `bond/*` command (`cmd` without the prefix). After a
    /// command that changed something, [`Bonds::publish_changes`] tells
    /// translation.
    pub fn command(&mut self, cmd: &str, args: &[String], now: Instant) -> Result<String, String> {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        match cmd {
            "list" => {
                let mut s = String::from("bond\ttype\trecircID\tmembers\n");
                for b in self.bonds.values() {
                    let names: Vec<&str> = b.members.iter().map(|m| m.name.as_str()).collect();
                    s.push_str(&format!(
                        "{}\t{}\t0\t{}\n",
                        b.cfg.name,
                        b.cfg.mode.as_str(),
                        names.join(", ")
                    ));
                }
                Ok(s)
            }
            "show" => match args.first() {
                Some(name) => self
                    .bonds
                    .get(name)
                    .map(|b| b.show(now))
                    .ok_or_else(|| "no such bond".to_string()),
                None => Ok(self.bonds.values().map(|b| b.show(now)).collect()),
            },
            "set-active-member" | "set-active-slave" => {
                let (b, i) = self.find(arg(0), arg(1))?;
                if !b.members[i].enabled {
                    return Err("cannot make disabled member active".into());
                }
                if b.active == Some(i) {
                    return Ok("no change".into());
                }
                b.active = Some(i);
                b.send_learning = true;
                log::info!(target: "bond", "bond {}: active member is now {}", b.cfg.name, b.members[i].name);
                b.active_changed();
                Ok("done".into())
            }
            "enable-member" | "enable-slave" | "disable-member" | "disable-slave" => {
                let enable = cmd.starts_with("enable");
                let (b, i) = self.find(arg(0), arg(1))?;
                b.set_enabled(i, enable);
                Ok(if enable { "enabled" } else { "disabled" }.into())
            }
            "migrate" => {
                let b = self.bonds.get_mut(arg(0)).ok_or("no such bond")?;
                if b.cfg.mode != BondMode::BalanceSlb {
                    return Err("not an SLB bond".into());
                }
                let h = arg(1);
                if !h.bytes().all(|c| c.is_ascii_digit()) {
                    return Err("bad hash".into());
                }
                // As stock's atoi, masked to a bucket.
                let bucket = h.bytes().fold(0u32, |n, c| {
                    n.wrapping_mul(10).wrapping_add(u32::from(c - b'0'))
                }) as u8;
                let m = b
                    .members
                    .iter()
                    .find(|m| m.name == arg(2))
                    .ok_or("no such member")?;
                if !m.enabled {
                    return Err("cannot migrate to disabled member".into());
                }
                b.migrated.insert(bucket, m.name.clone());
                Ok("migrated".into())
            }
            "hash" => {
                let vlan = match args.get(1) {
                    Some(v) => scan_u32(v).ok_or("invalid vlan")?,
                    None => 0,
                };
                let basis = match args.get(2) {
                    Some(v) => scan_u32(v).ok_or("invalid basis")?,
                    None => 0,
                };
                let mac = scan_mac(arg(0)).ok_or("invalid mac")?;
                // Stock hashes the VLAN as a 16-bit number.
                Ok(format!(
                    "{}",
                    xbond::slb_hash(mac, vlan as u16, basis) & 0xff
                ))
            }
            _ => Err(format!("\"bond/{cmd}\" is not a valid command")),
        }
    }

    /// Stock's learning packets: once a bond's active member changed or
    /// a member went down, a RARP from every MAC the bridge learned on
    /// another port leaves by the member the bond now picks for it, so
    /// that the switches beyond learn where those MACs are without
    /// waiting for their traffic. `fdb` gives a bridge's `fdb/show`.
    pub fn send_learning_packets(
        &mut self,
        bridges: &Bridges,
        fdb: impl Fn(&str) -> Option<String>,
    ) {
        for b in self.bonds.values_mut() {
            if !std::mem::take(&mut b.send_learning) || b.active.is_none() {
                continue;
            }
            let Some(br) = bridges.bridges.get(&b.bridge) else {
                continue;
            };
            let Some(dpif) = bridges.backers.get(&br.dp_type) else {
                continue;
            };
            let Some(table) = fdb(&b.bridge) else {
                continue;
            };
            let view = b.view();
            let mut sent = 0;
            for (port, vlan, mac) in parse_fdb_show(&table) {
                if port == view.bundle() {
                    continue;
                }
                let Some(out) = view.choose_output(mac, vlan) else {
                    continue;
                };
                let Some(odp) = b
                    .members
                    .iter()
                    .find(|m| m.ofport == Some(out))
                    .and_then(|m| br.ifaces.get(&m.name))
                    .and_then(|i| i.odp_port)
                else {
                    continue;
                };
                if send(dpif, odp, &rarp(mac, vlan)) {
                    sent += 1;
                }
            }
            log::debug!(target: "bond", "bond {}: sent {sent} learning packets", b.cfg.name);
        }
    }

    /// Publishes what commands changed; returns whether translations may
    /// have changed.
    pub fn publish_changes(&mut self) -> bool {
        self.publish()
    }
}

/// The (port, VLAN, MAC) rows of an `fdb/show` table (LOCAL as 65534).
fn parse_fdb_show(text: &str) -> Vec<(u16, u16, [u8; 6])> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let port = match f.next()? {
                "LOCAL" => 0xfffe,
                p => p.parse().ok()?,
            };
            let vlan = f.next()?.parse().ok()?;
            Some((port, vlan, parse_mac(f.next()?)?))
        })
        .collect()
}

/// Stock's learning packet: a broadcast RARP request from `mac`, tagged
/// with `vlan` (no CFI bit, as stock pushes it) unless 0.
fn rarp(mac: [u8; 6], vlan: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(46);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    if vlan != 0 {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vlan.to_be_bytes());
    }
    f.extend_from_slice(&[0x80, 0x35, 0, 1, 0x08, 0, 6, 4, 0, 3]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0; 4]);
    f
}

/// Sends `frame` out of datapath port `odp`.
fn send(dpif: &crate::bridge::SharedDpif, odp: u32, frame: &[u8]) -> bool {
    use ferrovs_dpif::odp::{Action, Actions, Key, KeyAttr};
    let key = Key {
        attrs: vec![KeyAttr::InPort(0)],
    };
    let actions = Actions {
        list: vec![Action::Output(odp)],
    };
    let (Ok(key), Ok(actions)) = (key.to_nlattrs(), actions.to_nlattrs()) else {
        return false;
    };
    let done = crate::bridge::lock_dpif(dpif).execute(&ferrovs_dpif::Execute {
        packet: frame,
        key: &key,
        actions: &actions,
        probe: false,
        mru: 0,
    });
    if let Err(e) = &done {
        log::debug!(target: "bond", "learning packet not sent: {e}");
    }
    done.is_ok()
}

/// What C's `sscanf("%u")` takes: optional white space and sign, then
/// decimal digits, the rest ignored; a minus sign wraps, too many digits
/// saturate.
fn scan_u32(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let v = digits[..end].parse::<u64>().unwrap_or(u64::MAX);
    let v = u32::try_from(v).unwrap_or(u32::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Six colon-separated hex bytes of one or two digits, the rest ignored,
/// as stock's `ETH_ADDR_SCAN_FMT` reads them.
fn scan_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut rest = s;
    for (i, b) in mac.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(':')?;
        }
        let n = rest
            .bytes()
            .take(2)
            .take_while(u8::is_ascii_hexdigit)
            .count();
        *b = u8::from_str_radix(rest.get(..n).filter(|d| !d.is_empty())?, 16).ok()?;
        rest = &rest[n..];
    }
    Some(mac)
}

/// `xx:xx:xx:xx:xx:xx`, as stock's ETH_ADDR_SCAN_FMT takes it.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, ofport: u16, enabled: bool) -> Member {
        Member {
            name: name.into(),
            ofport: Some(ofport),
            enabled,
            may_enable: true,
            delay_expires: None,
            mac: format!("02:00:00:00:00:{ofport:02x}"),
        }
    }

    fn bond(mode: &str, primary: Option<&str>) -> Bond {
        let cfg = BondCfg {
            port_uuid: "u".into(),
            name: "bond0".into(),
            mode: BondMode::parse(mode).unwrap_or_default(),
            mode_text: mode.into(),
            members: vec!["p1".into(), "p2".into()],
            updelay: 0,
            downdelay: 0,
            primary: primary.map(str::to_string),
            basis: 0,
            rebalance_interval: 10_000,
            lacp: String::new(),
            all_members_active: false,
            lacp_fallback_ab: false,
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

    #[test]
    fn show_has_stocks_layout() {
        let now = Instant::now();
        let mut b = bond("active-backup", Some("p9"));
        b.choose_active(now);
        b.members[1].delay_expires = Some(now + Duration::from_millis(500));
        let s = b.show(now);
        let expected = "---- bond0 ----\n\
            bond_mode: active-backup\n\
            bond may use recirculation: no, Recirc-ID : -1\n\
            bond-hash-basis: 0\n\
            lb_output action: disabled, bond-id: -1\n\
            updelay: 0 ms\n\
            downdelay: 0 ms\n\
            lacp_status: off\n\
            lacp_fallback_ab: false\n\
            active-backup primary: p9 (no such member)\n\
            active member mac: 02:00:00:00:00:01(p1)\n\
            \n\
            member p1: enabled\n  active member\n  may_enable: true\n\
            \n\
            member p2: enabled\n  downdelay expires in 500 ms\n  may_enable: true\n\
            \n";
        assert_eq!(s, expected);
        let slb = bond("balance-slb", None).show(now);
        assert!(slb.contains("all members active: false\nupdelay: 0 ms\n"));
        assert!(slb.contains("next rebalance: "));
    }

    #[test]
    fn learning_packets_are_stocks_rarps() {
        let mac = [2, 0, 0, 0, 0xa0, 1];
        let f = rarp(mac, 0);
        assert_eq!(f.len(), 42);
        assert_eq!(&f[12..22], &[0x80, 0x35, 0, 1, 8, 0, 6, 4, 0, 3]);
        assert_eq!(
            (&f[6..12], &f[22..28], &f[32..38]),
            (&mac[..], &mac[..], &mac[..])
        );
        let t = rarp(mac, 10);
        assert_eq!((t.len(), &t[12..16]), (46, &[0x81, 0, 0, 10][..]));
        let table = " port  VLAN  MAC                Age\n\
                         1     0  02:00:00:00:a0:01    3\n\
                     LOCAL    10  aa:55:aa:55:00:00  static\n";
        assert_eq!(
            parse_fdb_show(table),
            vec![(1, 0, mac), (0xfffe, 10, [0xaa, 0x55, 0xaa, 0x55, 0, 0])]
        );
    }

    #[test]
    fn commands_answer_with_stocks_errors() {
        let mut bonds = Bonds::default();
        let mut b = bond("active-backup", None);
        b.choose_active(Instant::now());
        bonds.bonds.insert("bond0".into(), b);
        let now = Instant::now();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let run = |bonds: &mut Bonds, c: &str, a: &[&str]| bonds.command(c, &s(a), now);
        assert_eq!(
            run(&mut bonds, "set-active-member", &["nope", "p1"]),
            Err("no such bond".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "x"]),
            Err("no such member".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "p1"]),
            Ok("no change".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "p2"]),
            Ok("done".into())
        );
        assert_eq!(
            run(&mut bonds, "disable-member", &["bond0", "p1"]),
            Ok("disabled".into())
        );
        assert_eq!(
            run(&mut bonds, "set-active-member", &["bond0", "p1"]),
            Err("cannot make disabled member active".into())
        );
        assert_eq!(
            run(&mut bonds, "list", &[]),
            Ok("bond\ttype\trecircID\tmembers\nbond0\tactive-backup\t0\tp1, p2\n".into())
        );
        assert_eq!(run(&mut bonds, "show", &["x"]), Err("no such bond".into()));
        assert_eq!(
            run(&mut bonds, "migrate", &["bond0", "1", "p2"]),
            Err("not an SLB bond".into())
        );
        assert_eq!(run(&mut bonds, "hash", &["zz"]), Err("invalid mac".into()));
        // As sscanf: trailing text ignored, "-1" wraps (to VLAN 0xffff).
        assert_eq!(
            run(&mut bonds, "hash", &["1:2:3:4:5:6", "-1"]),
            run(&mut bonds, "hash", &["01:02:03:04:05:06x", "65535"])
        );
        assert_eq!(scan_u32(" 12x"), Some(12));
        assert_eq!(scan_u32("x"), None);
        assert_eq!(scan_mac("00:11:22:33:44"), None);
        assert_eq!(
            run(&mut bonds, "hash", &["00:00:00:00:00:01", "x"]),
            Err("invalid vlan".into())
        );
    }
}
