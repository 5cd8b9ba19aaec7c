//! The desired configuration, read out of the database replica: the
//! bridges, their interfaces and the settings reconfiguration acts on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::ovsdb::datum;
use crate::ovsdb::{ChangeSet, Replica, Row};

/// An Interface row as reconfiguration sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceCfg {
    pub uuid: String,
    pub name: String,
    /// The `type` column; "" (system) is spelled `system` here.
    pub iface_type: String,
    pub options: BTreeMap<String, String>,
    pub ofport_request: Option<u16>,
    /// The `ofport` column as the database had it when the row was read:
    /// the number the interface had, which it gets again if free (a
    /// restarted daemon keeps every port's number, as stock's
    /// `iface_pick_ofport`).
    pub ofport_before: NotConfig<Option<u16>>,
    pub mtu_request: Option<i64>,
    /// The `mac` column as written (an internal port's Ethernet address).
    pub mac: Option<String>,
    /// Its Port row's name, and that row's `mac` column (which the
    /// bridge's own Ethernet address may be picked from).
    pub port: String,
    pub port_mac: Option<String>,
}

/// A value read with the configuration that is not configuration: a
/// status column the daemon itself writes, such as `ofport`, changes
/// without a reconfiguration. Configurations that differ only in one
/// are the same (the patched configuration is checked against a rebuilt
/// one).
#[derive(Debug, Clone, Copy, Default)]
pub struct NotConfig<T>(pub T);

impl<T> PartialEq for NotConfig<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for NotConfig<T> {}

/// A Bridge row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeCfg {
    pub uuid: String,
    pub name: String,
    /// `datapath_type`; "" is spelled `system` here.
    pub datapath_type: String,
    pub other_config: BTreeMap<String, String>,
    /// Interfaces of all its ports, by name.
    pub ifaces: BTreeMap<String, IfaceCfg>,
    /// What its OpenFlow switch needs.
    pub openflow: OpenflowCfg,
    /// Its ports with more than one interface, by port name (see
    /// `crate::bond`).
    pub bonds: BTreeMap<String, crate::bond::BondCfg>,
}

/// The OpenFlow settings of a Bridge row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenflowCfg {
    /// The `protocols` column (empty: every version).
    pub protocols: Vec<String>,
    /// `fail_mode`: "secure", "standalone" or "" (standalone).
    pub fail_mode: String,
    /// The rows of the `controller` column, sorted by target.
    pub controllers: Vec<ControllerCfg>,
    /// `flow_tables`: table number to Flow_Table name.
    pub table_names: BTreeMap<u8, String>,
    /// `flow_tables`: the whole rows (see `crate::flow_table`).
    pub flow_tables: BTreeMap<u8, crate::flow_table::FlowTableCfg>,
    /// What the NORMAL action needs: the MAC table settings and the
    /// ports' VLAN settings.
    pub l2: crate::bridge::L2Cfg,
    /// The Bridge's `mirrors` (see `crate::mirror`).
    pub mirrors: crate::mirror::MirrorsCfg,
    /// `other_config:disable-in-band=true`: every controller is
    /// out-of-band.
    pub disable_in_band: bool,
    /// `other_config:in-band-queue` (stock ignores a negative one).
    pub in_band_queue: Option<u32>,
    /// The targets of the Open_vSwitch row's in-band managers (every
    /// bridge's in-band control lets ovsdb-server reach them).
    pub in_band_managers: Vec<String>,
}

/// A Controller row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerCfg {
    pub uuid: String,
    pub target: String,
    /// Milliseconds; `None` for the default.
    pub inactivity_probe: Option<i64>,
    pub max_backoff: Option<i64>,
    /// `connection_mode`: "in-band" (also when empty, the default) or
    /// "out-of-band".
    pub connection_mode: String,
}

impl OpenflowCfg {
    /// The Bridge row's OpenFlow settings; `l2.port_vlans` is left empty
    /// (the ports fill it in, one by one).
    fn from_row(r: &Replica, brow: &crate::ovsdb::Row) -> OpenflowCfg {
        let mut protocols: Vec<String> = datum::set_elems(brow.get("protocols"))
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        protocols.sort();
        let mut controllers: Vec<ControllerCfg> = datum::uuid_set(brow.get("controller"))
            .into_iter()
            .filter_map(|u| {
                let row = r.row("Controller", &u)?;
                Some(ControllerCfg {
                    target: datum::string(row.get("target")),
                    inactivity_probe: datum::opt_int(row.get("inactivity_probe")),
                    max_backoff: datum::opt_int(row.get("max_backoff")),
                    connection_mode: datum::string(row.get("connection_mode")),
                    uuid: u,
                })
            })
            .collect();
        controllers.sort_by(|a, b| a.target.cmp(&b.target));
        let table_names = datum::map_pairs(brow.get("flow_tables"))
            .into_iter()
            .filter_map(|(k, v)| {
                let table = u8::try_from(k.as_i64()?).ok()?;
                let row = r.row("Flow_Table", datum::uuid_of(v)?)?;
                Some((table, datum::string(row.get("name"))))
            })
            .collect();
        OpenflowCfg {
            protocols,
            fail_mode: datum::string(brow.get("fail_mode")),
            controllers,
            table_names,
            flow_tables: crate::flow_table::read(r, brow),
            l2: crate::bridge::L2Cfg {
                mac: crate::bridge::L2Cfg::mac_from_row(brow),
                port_vlans: BTreeMap::new(),
            },
            mirrors: crate::mirror::MirrorsCfg::from_row(r, brow),
            disable_in_band: datum::str_map(brow.get("other_config"))
                .get("disable-in-band")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            in_band_queue: datum::str_map(brow.get("other_config"))
                .get("in-band-queue")
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|q| u32::try_from(q).ok()),
            in_band_managers: in_band_managers(r),
        }
    }
}

/// The targets of the Managers of the Open_vSwitch row that are in-band
/// (the default `connection_mode`), as stock collects them: a target
/// that some out-of-band row names is left out.
fn in_band_managers(r: &Replica) -> Vec<String> {
    let Some((_, ovs)) = r.table("Open_vSwitch").next() else {
        return Vec::new();
    };
    let mut targets = BTreeSet::new();
    for u in datum::uuid_set(ovs.get("manager_options")) {
        let Some(m) = r.row("Manager", &u) else {
            continue;
        };
        let target = datum::string(m.get("target"));
        if datum::string(m.get("connection_mode")) == "out-of-band" {
            targets.remove(&target);
        } else {
            targets.insert(target);
        }
    }
    targets.into_iter().collect()
}

/// The whole desired configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The Open_vSwitch row, if there is exactly one.
    pub ovs_uuid: Option<String>,
    pub next_cfg: i64,
    pub bridges: BTreeMap<String, BridgeCfg>,
    /// Open_vSwitch other_config:n-handler-threads (used when a datapath
    /// is created).
    pub n_handler_threads: Option<usize>,
    /// other_config:n-revalidator-threads (used when a datapath is
    /// created) and other_config:max-idle (milliseconds).
    pub n_revalidator_threads: Option<usize>,
    pub max_idle_ms: Option<u64>,
    /// other_config:max-revalidator (milliseconds between passes).
    pub max_revalidator_ms: Option<u64>,
    /// Open_vSwitch other_config:flow-limit.
    pub flow_limit: Option<u32>,
}

impl Config {
    /// Builds the whole desired configuration from the replica.
    #[cfg(test)]
    pub fn from_replica(r: &Replica) -> Config {
        let mut t = Tracker::default();
        t.rebuild(r);
        t.config
    }

    /// Reads the Open_vSwitch row's settings (not its bridges).
    fn read_globals(&mut self, ovs: &Row) {
        self.next_cfg = datum::opt_int(ovs.get("next_cfg")).unwrap_or(0);
        let other = datum::str_map(ovs.get("other_config"));
        self.n_handler_threads = other
            .get("n-handler-threads")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map(|n| n.min(64));
        self.n_revalidator_threads = other
            .get("n-revalidator-threads")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map(|n| n.min(64));
        // As stock: at least 100 ms.
        self.max_idle_ms = other
            .get("max-idle")
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n.max(100));
        self.max_revalidator_ms = other
            .get("max-revalidator")
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n.clamp(10, 3_600_000));
        self.flow_limit = other.get("flow-limit").and_then(|n| n.parse::<u32>().ok());
    }

    /// The settings reconfiguration acts on besides bridges (`next_cfg`
    /// is only reported back).
    fn globals(&self) -> [Option<u64>; 5] {
        [
            self.n_handler_threads.map(|n| n as u64),
            self.n_revalidator_threads.map(|n| n as u64),
            self.max_idle_ms,
            self.max_revalidator_ms,
            self.flow_limit.map(u64::from),
        ]
    }
}

/// What changed in the desired configuration, for reconfiguration to
/// look at: everything, or the interfaces named here plus (when
/// `settings`) the global and bridge-wide settings, which are few.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Anything may have changed (a new monitor reply, a bridge added,
    /// removed or renamed, a row the configuration skipped).
    pub all: bool,
    /// Interfaces added, removed or changed, by bridge name then
    /// interface name.
    pub ifaces: BTreeMap<String, BTreeSet<String>>,
    /// The Open_vSwitch row's settings or a bridge's own settings changed.
    pub settings: bool,
}

impl Delta {
    pub fn everything() -> Delta {
        Delta {
            all: true,
            ..Delta::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && !self.settings && self.ifaces.is_empty()
    }

    /// The changed interfaces of one bridge (`None`: all of them).
    pub fn bridge(&self, name: &str) -> Option<&BTreeSet<String>> {
        static NONE: BTreeSet<String> = BTreeSet::new();
        if self.all {
            return None;
        }
        Some(self.ifaces.get(name).unwrap_or(&NONE))
    }

    fn touch(&mut self, bridge: &str, iface: &str) {
        self.ifaces
            .entry(bridge.to_string())
            .or_default()
            .insert(iface.to_string());
    }
}

/// A Port row as the configuration holds it: the bridge it is in and the
/// interfaces (UUID, name) it contributed.
#[derive(Debug, Clone, Default)]
struct PortEntry {
    bridge: String,
    ifaces: Vec<(String, String)>,
    /// The port's name when it is a bond.
    bond: Option<String>,
}

/// The desired configuration, kept current from the replica's change
/// sets: each update re-reads only the rows it changed (a Bridge row,
/// the Port rows it gained or lost, changed Port and Interface rows) and
/// patches the configuration with them, so the work of one add-port does
/// not grow with the ports already there.
///
/// Rows the configuration cannot take (a duplicate or empty name, a
/// missing referenced row, more than one Open_vSwitch row) and changes to
/// the set of bridges make it rebuild everything, as the first read
/// does; the result is the same either way (debug builds check it).
///
/// Another table (e.g. Mirror) joins by reading its rows for the bridges
/// it belongs to in `bridge_settings` (a row change touches the bridge's
/// settings), or per port like `read_port` when it hangs off ports.
#[derive(Debug, Default)]
pub struct Tracker {
    pub config: Config,
    /// Open_vSwitch `bridges` as last read.
    bridge_uuids: BTreeSet<String>,
    /// Bridge row UUID to its name and its `ports` column as last read.
    bridges: HashMap<String, (String, HashSet<String>)>,
    /// Port row UUID to what it contributed.
    ports: HashMap<String, PortEntry>,
    /// Interface row UUID to its Port row UUID.
    iface_ports: HashMap<String, String>,
    /// Interface names in use (unique across bridges).
    iface_names: HashSet<String>,
    /// The last full read skipped something: changes rebuild everything
    /// until the configuration is regular again.
    irregular: bool,
    /// Port rows read since the start (work done, for `coverage/show`).
    pub ports_read: u64,
}

impl Tracker {
    /// Brings the configuration up to date with the rows in `changes`;
    /// returns what changed.
    pub fn update(&mut self, r: &Replica, changes: &ChangeSet) -> Delta {
        if changes.is_empty() {
            return Delta::default();
        }
        let delta = match self.patch(r, changes) {
            Some(d) => d,
            None => {
                self.rebuild(r);
                Delta::everything()
            }
        };
        if cfg!(debug_assertions) {
            let mut full = Tracker::default();
            full.rebuild(r);
            debug_assert_eq!(self.config, full.config, "patched configuration differs");
        }
        delta
    }

    /// Patches the configuration with the changed rows; `None` when only
    /// a whole rebuild will do.
    fn patch(&mut self, r: &Replica, changes: &ChangeSet) -> Option<Delta> {
        if changes.all || self.irregular {
            return None;
        }
        let mut delta = Delta::default();
        let mut ovs_rows = r.table("Open_vSwitch");
        let (ovs_uuid, ovs) = ovs_rows.next()?;
        if ovs_rows.next().is_some() || self.config.ovs_uuid.as_ref() != Some(ovs_uuid) {
            return None;
        }
        if changes.touches("Open_vSwitch") {
            let before = self.config.globals();
            self.config.read_globals(ovs);
            delta.settings |= before != self.config.globals();
            let uuids: BTreeSet<String> = datum::uuid_set(ovs.get("bridges")).into_iter().collect();
            if uuids != self.bridge_uuids {
                return None;
            }
        }
        // Bridge rows, and the rows their settings read (Controller,
        // Flow_Table, ...: any table but the ones handled here).
        let others_changed = changes
            .rows
            .keys()
            .any(|t| !matches!(t.as_str(), "Open_vSwitch" | "Bridge" | "Port" | "Interface"));
        // Ports to read again: (port UUID, the bridge it is in now, if any).
        let mut stale_ports: BTreeMap<String, Option<String>> = BTreeMap::new();
        let bridge_rows: Vec<String> = self.bridges.keys().cloned().collect();
        for buuid in bridge_rows {
            let row_changed = changes
                .rows
                .get("Bridge")
                .is_some_and(|b| b.contains(&buuid));
            if !(row_changed || others_changed) {
                continue;
            }
            let brow = r.row("Bridge", &buuid)?;
            let (name, known_ports) = self.bridges.get_mut(&buuid)?;
            let name = name.clone();
            if row_changed {
                // The ports it gained and lost. Port rows are not root
                // rows: a port that leaves every bridge is deleted and a
                // new one is inserted. So when this is the only Bridge row
                // changed, it gained the new Port rows of the change set
                // and lost its deleted ones, which its port count
                // confirms; otherwise (a port moving between bridges) the
                // whole column is compared.
                let only_bridge = changes.rows.get("Bridge").is_some_and(|b| b.len() == 1);
                let known = &self.ports;
                let quick = only_bridge
                    .then(|| {
                        let (mut added, mut lost) = (Vec::new(), Vec::new());
                        for p in changes.table("Port") {
                            let exists = r.row("Port", p).is_some();
                            if exists && !known.contains_key(p) {
                                added.push(p.clone());
                            } else if !exists && known_ports.contains(p) {
                                lost.push(p.clone());
                            }
                        }
                        (added, lost)
                    })
                    .filter(|(added, lost)| {
                        (known_ports.len() + added.len()).checked_sub(lost.len())
                            == Some(datum::set_len(brow.get("ports")))
                    });
                let (added, lost) = match quick {
                    Some(diff) => diff,
                    None => {
                        let now: HashSet<&str> = datum::set_elems(brow.get("ports"))
                            .into_iter()
                            .filter_map(datum::uuid_of)
                            .collect();
                        let lost = known_ports
                            .iter()
                            .filter(|p| !now.contains(p.as_str()))
                            .cloned()
                            .collect();
                        let added = now
                            .into_iter()
                            .filter(|p| !known_ports.contains(*p))
                            .map(str::to_string)
                            .collect();
                        (added, lost)
                    }
                };
                for p in lost {
                    known_ports.remove(&p);
                    stale_ports.entry(p).or_insert(None);
                }
                for p in added {
                    known_ports.insert(p.clone());
                    stale_ports.insert(p, Some(name.clone()));
                }
            }
            let bcfg = self.config.bridges.get_mut(&name)?;
            let fresh = bridge_settings(r, &buuid, brow);
            if fresh.name != bcfg.name || fresh.datapath_type != bcfg.datapath_type {
                return None;
            }
            let mut openflow = fresh.openflow;
            openflow.l2.port_vlans = std::mem::take(&mut bcfg.openflow.l2.port_vlans);
            if fresh.other_config != bcfg.other_config || openflow != bcfg.openflow {
                delta.settings = true;
            }
            bcfg.other_config = fresh.other_config;
            bcfg.openflow = openflow;
        }
        // Changed Port rows, and the ports of changed Interface rows.
        let changed_ports = changes.table("Port").cloned().chain(
            changes
                .table("Interface")
                .filter_map(|i| self.iface_ports.get(i).cloned()),
        );
        for p in changed_ports {
            if let Some(entry) = self.ports.get(&p) {
                let bridge = entry.bridge.clone();
                stale_ports.entry(p).or_insert(Some(bridge));
            }
        }
        // A port leaving one bridge for another shows up in both: it
        // stays where it is now.
        for (p, bridge) in stale_ports.iter_mut() {
            if bridge.is_none() {
                *bridge = self
                    .bridges
                    .values()
                    .find(|b| b.1.contains(p))
                    .map(|b| b.0.clone());
            }
        }
        // Removals first, so that a name moving between ports is free.
        for p in stale_ports.keys() {
            let Some(old) = self.ports.remove(p) else {
                continue;
            };
            let bcfg = self.config.bridges.get_mut(&old.bridge)?;
            if let Some(b) = &old.bond {
                bcfg.bonds.remove(b);
            }
            for (iuuid, iname) in old.ifaces {
                bcfg.ifaces.remove(&iname);
                bcfg.openflow.l2.port_vlans.remove(&iname);
                self.iface_ports.remove(&iuuid);
                self.iface_names.remove(&iname);
                delta.touch(&old.bridge, &iname);
            }
        }
        for (p, bridge) in stale_ports {
            let Some(bridge) = bridge else {
                continue;
            };
            let prow = r.row("Port", &p)?;
            let (entry, regular) = self.read_port(r, &bridge, &p, prow);
            if !regular {
                return None;
            }
            for (_, iname) in &entry.ifaces {
                delta.touch(&bridge, iname);
            }
            self.ports.insert(p, entry);
        }
        Some(delta)
    }

    /// Adds a Port row's interfaces to its bridge. Returns what it took,
    /// and whether that was everything (not so when an interface row is
    /// missing or its name empty or already in use: those are skipped).
    fn read_port(
        &mut self,
        r: &Replica,
        bridge: &str,
        puuid: &str,
        prow: &Row,
    ) -> (PortEntry, bool) {
        self.ports_read += 1;
        let vlan = crate::bridge::L2Cfg::port_vlan_from_row(prow);
        let mut entry = PortEntry {
            bridge: bridge.to_string(),
            ifaces: Vec::new(),
            bond: None,
        };
        let mut regular = true;
        for iuuid in datum::uuid_set(prow.get("interfaces")) {
            let Some(irow) = r.row("Interface", &iuuid) else {
                regular = false;
                continue;
            };
            let mut iface = IfaceCfg::from_row(&iuuid, irow);
            iface.port = datum::string(prow.get("name"));
            iface.port_mac = datum::opt_string(prow.get("mac"));
            if iface.name.is_empty() || !self.iface_names.insert(iface.name.clone()) {
                log::warn!(target: "bridge", "bridge {bridge}: interface {} is already in use, skipping", iface.name);
                regular = false;
                continue;
            }
            let Some(bcfg) = self.config.bridges.get_mut(bridge) else {
                regular = false;
                continue;
            };
            self.iface_ports.insert(iuuid.clone(), puuid.to_string());
            entry.ifaces.push((iuuid, iface.name.clone()));
            if let Some(v) = vlan.clone() {
                bcfg.openflow.l2.port_vlans.insert(iface.name.clone(), v);
            }
            bcfg.ifaces.insert(iface.name.clone(), iface);
        }
        if entry.ifaces.len() > 1 {
            let bond = crate::bond::BondCfg::from_row(puuid, prow, &entry.ifaces, r);
            if let Some(bcfg) = self.config.bridges.get_mut(bridge) {
                entry.bond = Some(bond.name.clone());
                bcfg.bonds.insert(bond.name.clone(), bond);
            }
        }
        (entry, regular)
    }

    /// Reads the whole configuration again.
    fn rebuild(&mut self, r: &Replica) {
        let ports_read = self.ports_read;
        *self = Tracker {
            ports_read,
            ..Tracker::default()
        };
        let mut ovs_rows = r.table("Open_vSwitch");
        let Some((ovs_uuid, ovs)) = ovs_rows.next() else {
            self.irregular = true;
            return;
        };
        if ovs_rows.next().is_some() {
            log::warn!(target: "bridge", "database has more than one Open_vSwitch row; using none");
            self.irregular = true;
            return;
        }
        self.config.ovs_uuid = Some(ovs_uuid.clone());
        self.config.read_globals(ovs);
        self.bridge_uuids = datum::uuid_set(ovs.get("bridges")).into_iter().collect();
        let mut bridges: Vec<_> = Vec::new();
        for u in &self.bridge_uuids {
            match r.row("Bridge", u) {
                Some(row) => bridges.push((u.clone(), row)),
                None => self.irregular = true,
            }
        }
        bridges.sort_by_key(|(_, row)| datum::string(row.get("name")));
        for (buuid, brow) in bridges {
            let bcfg = bridge_settings(r, &buuid, brow);
            let name = bcfg.name.clone();
            if name.is_empty() || self.config.bridges.contains_key(&name) {
                log::warn!(target: "bridge", "bridge {name}: duplicate or empty name, skipping");
                self.irregular = true;
                continue;
            }
            self.config.bridges.insert(name.clone(), bcfg);
            let ports = datum::uuid_set(brow.get("ports"));
            self.bridges
                .insert(buuid, (name.clone(), ports.iter().cloned().collect()));
            for puuid in ports {
                let Some(prow) = r.row("Port", &puuid) else {
                    self.irregular = true;
                    continue;
                };
                let (entry, regular) = self.read_port(r, &name, &puuid, prow);
                self.irregular |= !regular;
                self.ports.insert(puuid, entry);
            }
        }
    }
}

impl IfaceCfg {
    fn from_row(uuid: &str, irow: &Row) -> IfaceCfg {
        let iface_type = match datum::string(irow.get("type")) {
            t if t.is_empty() => "system".to_string(),
            t => t,
        };
        // A port number a request may name (1 up to OFPP_MAX); anything
        // else counts as none.
        let port_number = |column: &str| {
            datum::opt_int(irow.get(column))
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (1..crate::ofport::MAX_PORTS).contains(n))
        };
        IfaceCfg {
            uuid: uuid.to_string(),
            name: datum::string(irow.get("name")),
            iface_type,
            options: datum::str_map(irow.get("options")),
            ofport_request: port_number("ofport_request"),
            ofport_before: NotConfig(port_number("ofport")),
            mtu_request: datum::opt_int(irow.get("mtu_request")),
            mac: datum::opt_string(irow.get("mac")),
            port: String::new(),
            port_mac: None,
        }
    }
}

/// A Bridge row's own settings, without its interfaces.
fn bridge_settings(r: &Replica, buuid: &str, brow: &Row) -> BridgeCfg {
    let datapath_type = match datum::string(brow.get("datapath_type")) {
        t if t.is_empty() => "system".to_string(),
        t => t,
    };
    BridgeCfg {
        uuid: buuid.to_string(),
        name: datum::string(brow.get("name")),
        datapath_type,
        other_config: datum::str_map(brow.get("other_config")),
        ifaces: BTreeMap::new(),
        openflow: OpenflowCfg::from_row(r, brow),
        bonds: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::replica::Schema;
    use serde_json::{json, Value};

    fn schema() -> Schema {
        let set = json!({"type": {"key": "uuid", "min": 0, "max": "unlimited"}});
        let map =
            json!({"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}});
        Schema::from_json(&json!({"tables": {
            "Open_vSwitch": {"columns": {"bridges": set, "next_cfg": {"type": "integer"}}},
            "Bridge": {"columns": {"name": {"type": "string"}, "ports": set, "other_config": map}},
            "Port": {"columns": {"name": {"type": "string"}, "interfaces": set, "tag": {"type": "integer"}}},
            "Interface": {"columns": {"name": {"type": "string"}, "type": {"type": "string"}, "options": map}},
        }}))
        .unwrap()
    }

    fn refs(uuids: &[&str]) -> Value {
        json!([
            "set",
            uuids.iter().map(|u| json!(["uuid", u])).collect::<Vec<_>>()
        ])
    }

    /// The rows of one port with one interface of the same name.
    fn port(name: &str) -> Value {
        json!({
            "Port": {format!("P-{name}"): {"insert": {"name": name, "interfaces": refs(&[&format!("I-{name}")])}}},
            "Interface": {format!("I-{name}"): {"insert": {"name": name, "type": "dummy"}}},
        })
    }

    fn apply(r: &mut Replica, t: &mut Tracker, update: Value) -> Delta {
        let changes = r.apply_update2(&update, &schema()).unwrap();
        t.update(r, &changes)
    }

    fn merged(mut a: Value, b: Value) -> Value {
        if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
            for (table, rows) in b {
                let slot = a.entry(table.clone()).or_insert(json!({}));
                if let (Some(slot), Some(rows)) = (slot.as_object_mut(), rows.as_object()) {
                    slot.extend(rows.clone());
                }
            }
        }
        a
    }

    #[test]
    fn patches_the_configuration_row_by_row() {
        let mut r = Replica::default();
        let mut t = Tracker::default();
        let initial = merged(
            json!({
                "Open_vSwitch": {"O": {"initial": {"bridges": refs(&["B"]), "next_cfg": 1}}},
                "Bridge": {"B": {"initial": {"name": "br0", "ports": refs(&["P-br0"])}}},
            }),
            port("br0"),
        );
        let d = apply(&mut r, &mut t, initial);
        assert!(d.all);
        let read = t.ports_read;

        // One port more: one Port row read, one interface changed.
        let add = merged(
            json!({
                "Open_vSwitch": {"O": {"modify": {"next_cfg": 2}}},
                "Bridge": {"B": {"modify": {"ports": refs(&["P-p1"])}}},
            }),
            port("p1"),
        );
        let d = apply(&mut r, &mut t, add);
        assert!(!d.all && !d.settings);
        assert_eq!(d.bridge("br0"), Some(&BTreeSet::from(["p1".to_string()])));
        assert_eq!(t.ports_read, read + 1);
        assert_eq!(t.config.next_cfg, 2);
        assert_eq!(t.config, Config::from_replica(&r));

        // A VLAN tag and a renamed interface: that port only.
        let d = apply(
            &mut r,
            &mut t,
            json!({"Port": {"P-p1": {"modify": {"tag": 5}}},
                   "Interface": {"I-p1": {"modify": {"name": "q1"}}}}),
        );
        let names: BTreeSet<String> = ["p1", "q1"].map(String::from).into();
        assert_eq!(d.bridge("br0"), Some(&names));
        let br = &t.config.bridges["br0"];
        assert!(br.ifaces.contains_key("q1") && !br.ifaces.contains_key("p1"));
        assert_eq!(br.openflow.l2.port_vlans.keys().collect::<Vec<_>>(), ["q1"]);
        assert_eq!(t.config, Config::from_replica(&r));

        // A bridge setting: settings, no interface.
        let d = apply(
            &mut r,
            &mut t,
            json!({"Bridge": {"B": {"modify": {"other_config": ["map", [["mac-aging-time", "10"]]]}}}}),
        );
        assert!(d.settings && d.ifaces.is_empty());

        // A second port with an interface name in use: skipped, and the
        // configuration is read whole (as at the start) until it is
        // regular again.
        let dup = json!({
            "Bridge": {"B": {"modify": {"ports": refs(&["P-x"])}}},
            "Port": {"P-x": {"insert": {"name": "x", "interfaces": refs(&["I-x"])}}},
            "Interface": {"I-x": {"insert": {"name": "q1", "type": "dummy"}}},
        });
        assert!(apply(&mut r, &mut t, dup).all);
        assert_eq!(t.config, Config::from_replica(&r));
        let gone = json!({
            "Bridge": {"B": {"modify": {"ports": refs(&["P-x"])}}},
            "Port": {"P-x": {"delete": null}},
            "Interface": {"I-x": {"delete": null}},
        });
        assert!(apply(&mut r, &mut t, gone).all);
        // Regular again: back to patching. Removing a port reads none.
        let read = t.ports_read;
        let del = json!({
            "Bridge": {"B": {"modify": {"ports": refs(&["P-p1"])}}},
            "Port": {"P-p1": {"delete": null}},
            "Interface": {"I-p1": {"delete": null}},
        });
        let d = apply(&mut r, &mut t, del);
        assert_eq!(d.bridge("br0"), Some(&BTreeSet::from(["q1".to_string()])));
        assert_eq!(t.ports_read, read);
        assert_eq!(t.config.bridges["br0"].ifaces.len(), 1);
        assert_eq!(t.config, Config::from_replica(&r));

        // A new bridge: everything.
        let newbr = json!({
            "Open_vSwitch": {"O": {"modify": {"bridges": refs(&["B2"])}}},
            "Bridge": {"B2": {"insert": {"name": "br1"}}},
        });
        assert!(apply(&mut r, &mut t, newbr).all);
        assert_eq!(t.config.bridges.len(), 2);
    }
}
