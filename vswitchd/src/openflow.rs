//! The glue between the daemon's bridges and the OpenFlow service
//! (`ferrovs_ofproto::OfprotoService`): each bridge becomes an OpenFlow
//! switch serving `punix:<rundir>/<bridge>.mgmt` and `<bridge>.snoop`,
//! with its ports, controllers, fail mode, protocols and table names
//! following the database, and the controllers' connection status written
//! back to the Controller table as ovs-vswitchd writes it.
//!
//! The service runs its own thread. What it reports back to the daemon
//! (a port_mod turning a port down or up, a controller's packet-out) is
//! queued here and the main loop is woken through a mio `Waker`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrovs_dpif::OdpPort;
use ferrovs_ofproto::{
    versions_from_protocols, BridgeConfig, ControllerConfig, FailMode, OfprotoService, PacketOut,
    PortInfo, PortStats,
};
use mio::{Registry, Token, Waker};
use serde_json::{json, Map, Value};

use crate::bridge::{Bridge, Bridges, Iface, OpenflowFactory, OpenflowSwitch, SharedDpif};
use crate::config::{Delta, OpenflowCfg};
use crate::device::Device;
use crate::ofport::OFPP_LOCAL;
use crate::ovsdb::{datum, Replica};
use crate::status::{put, update};

/// OFPPC_PORT_DOWN.
const PORT_DOWN: u32 = 1;
/// OFPPS_LINK_DOWN and OFPPS_LIVE (OpenFlow 1.1+ numbering).
const LINK_DOWN: u32 = 1;
const LIVE: u32 = 4;

/// A port_mod that changed a port's config bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMod {
    pub bridge: String,
    pub ofport: u16,
    pub config: u32,
}

/// A packet-out, with the bridge it was sent to.
pub struct BridgePacketOut {
    pub bridge: String,
    pub packet_out: PacketOut,
}

/// The OpenFlow service as the daemon holds it.
pub struct Openflow {
    svc: Arc<OfprotoService>,
    port_mods: Arc<Mutex<Vec<PortMod>>>,
    /// Packet-outs for the datapaths, in the order they came: the
    /// service decodes and checks them while it holds the switch's write
    /// lock, under which nothing can translate; the main loop translates
    /// and executes them (`Bridges::packet_outs`).
    packet_outs: Arc<Mutex<Vec<BridgePacketOut>>>,
    waker: Arc<Waker>,
}

impl Openflow {
    /// Starts the service; `token` is woken when it has news for the
    /// main loop.
    pub fn start(registry: &Registry, token: Token) -> std::io::Result<Openflow> {
        Ok(Openflow {
            svc: Arc::new(OfprotoService::start()?),
            port_mods: Arc::new(Mutex::new(Vec::new())),
            packet_outs: Arc::new(Mutex::new(Vec::new())),
            waker: Arc::new(Waker::new(registry, token)?),
        })
    }

    /// The factory the bridges create their OpenFlow side with.
    pub fn factory(&self) -> OpenflowFactory {
        let svc = self.svc.clone();
        let port_mods = self.port_mods.clone();
        let packet_outs = self.packet_outs.clone();
        let waker = self.waker.clone();
        Box::new(
            move |name: &str, rundir: &Path, dpid: u64, dpif: SharedDpif| {
                let sw = OpenflowBridge::create(&svc, name, rundir, dpid).map_err(|e| {
                    format!("{}: {e}", rundir.join(format!("{name}.mgmt")).display())
                })?;
                svc.set_resume_hook(name, crate::resume::hook(dpif));
                let (queue, wake, bridge) = (packet_outs.clone(), waker.clone(), name.to_string());
                svc.set_packet_out_hook(
                    name,
                    Arc::new(move |packet_out| {
                        lock(&queue).push(BridgePacketOut {
                            bridge: bridge.clone(),
                            packet_out,
                        });
                        let _ = wake.wake();
                    }),
                );
                let (port_mods, waker, bridge) =
                    (port_mods.clone(), waker.clone(), name.to_string());
                svc.set_port_mod_hook(
                    name,
                    Arc::new(move |ofport, config| {
                        lock(&port_mods).push(PortMod {
                            bridge: bridge.clone(),
                            ofport,
                            config,
                        });
                        let _ = waker.wake();
                    }),
                );
                Ok(Box::new(sw) as Box<dyn OpenflowSwitch>)
            },
        )
    }

    /// `bridge/reconnect [bridge]`: the connections to active
    /// controllers of the bridge (of every bridge) are dropped and made
    /// again.
    pub fn reconnect_controllers(&self, bridge: Option<&str>) {
        self.svc.reconnect_controllers(bridge);
    }

    /// The port_mods since the last call.
    pub fn take_port_mods(&self) -> Vec<PortMod> {
        std::mem::take(&mut *lock(&self.port_mods))
    }

    /// The packet-outs since the last call, in order.
    pub fn take_packet_outs(&self) -> Vec<BridgePacketOut> {
        std::mem::take(&mut *lock(&self.packet_outs))
    }

    /// `ofproto/trace` on one bridge (see `crate::trace`).
    pub fn trace(
        &self,
        bridge: &str,
        req: ferrovs_ofproto::xlate::TraceRequest,
    ) -> Result<String, String> {
        self.svc.trace(bridge, req)
    }

    /// The service itself (the upcall handlers translate through it).
    pub fn service(&self) -> Arc<OfprotoService> {
        Arc::clone(&self.svc)
    }

    /// An `fdb/*` command (see `crate::fdb`).
    pub fn fdb(&self, req: ferrovs_ofproto::service::FdbRequest) -> Result<String, String> {
        self.svc.fdb(req)
    }

    /// `ofproto/list`: one bridge per line.
    pub fn list(&self) -> String {
        self.svc
            .list_bridges()
            .into_iter()
            .map(|b| b + "\n")
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Applies port_mods to the interfaces' admin state (stock turns the
/// device down for OFPPC_PORT_DOWN). Returns whether anything changed.
pub fn apply_port_mods(bridges: &mut Bridges, mods: Vec<PortMod>) -> bool {
    let mut changed = false;
    for m in mods {
        let Some(br) = bridges.bridges.get_mut(&m.bridge) else {
            continue;
        };
        let Some(iface) = br.ifaces.values_mut().find(|i| i.ofport == Some(m.ofport)) else {
            continue;
        };
        let down = m.config & PORT_DOWN != 0;
        if iface.admin_down != down {
            iface.admin_down = down;
            iface.status_dirty = true;
            changed = true;
        }
    }
    changed
}

/// Brings every bridge's OpenFlow port list (and the devices its
/// dump-ports counters are read from) up to date with its interfaces.
pub fn sync_ports(bridges: &mut Bridges) {
    sync_changed_ports(bridges, &Delta::everything());
}

/// Like `sync_ports`, for the interfaces `delta` names only (after a
/// reconfiguration), so that one new port costs one port's work.
pub fn sync_changed_ports(bridges: &mut Bridges, delta: &Delta) {
    for br in bridges.bridges.values_mut() {
        match delta.bridge(&br.name) {
            None => {
                let (ports, devices) = port_infos(br, br.ifaces.values());
                if let Some(of) = br.openflow.as_mut() {
                    of.sync_ports(ports, devices);
                }
            }
            Some(names) if names.is_empty() => {}
            Some(names) => {
                let ifaces = names.iter().filter_map(|n| br.ifaces.get(n));
                let (ports, devices) = port_infos(br, ifaces);
                if let Some(of) = br.openflow.as_mut() {
                    of.update_ports(names, ports, devices);
                }
            }
        }
    }
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (b, part) in out.iter_mut().zip(s.split(':')) {
        *b = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    out
}

/// These interfaces of the bridge as OpenFlow describes them, and their
/// devices.
fn port_infos<'a>(
    br: &Bridge,
    ifaces: impl Iterator<Item = &'a Iface>,
) -> (Vec<PortInfo>, HashMap<u16, Device>) {
    let mut ports = Vec::new();
    let mut devices = HashMap::new();
    for iface in ifaces {
        let (Some(ofport), Some(dev)) = (iface.ofport, &iface.device) else {
            continue;
        };
        let st = dev.status();
        let mac = if ofport == OFPP_LOCAL {
            &br.mac
        } else {
            &st.mac
        };
        let link_up = st.link_up && st.admin_up && !iface.admin_down;
        let speed_kbps = st
            .link_speed
            .map_or(0, |bps| u32::try_from(bps / 1000).unwrap_or(u32::MAX));
        ports.push(PortInfo {
            ofp_port: ofport,
            name: iface.name.clone(),
            hw_addr: parse_mac(mac),
            config: if iface.admin_down { PORT_DOWN } else { 0 },
            state: if link_up { LIVE } else { LINK_DOWN },
            curr_speed: speed_kbps,
            dummy_queue: matches!(dev, Device::Dummy { .. }),
            kernel_device: matches!(dev, Device::System { .. } | Device::Tap { .. }),
            ..Default::default()
        });
        devices.insert(ofport, dev.clone());
    }
    ports.sort_by_key(|p| p.ofp_port);
    (ports, devices)
}

/// A device's counters as port statistics; those it does not keep read
/// as unknown ("?" in ovs-ofctl dump-ports).
fn port_stats(dev: &Device) -> PortStats {
    let s = dev.status().statistics;
    let get = |k: &str| {
        s.get(k)
            .and_then(|v| u64::try_from(*v).ok())
            .unwrap_or(u64::MAX)
    };
    PortStats {
        rx_packets: get("rx_packets"),
        tx_packets: get("tx_packets"),
        rx_bytes: get("rx_bytes"),
        tx_bytes: get("tx_bytes"),
        rx_dropped: get("rx_dropped"),
        tx_dropped: get("tx_dropped"),
        rx_errors: get("rx_errors"),
        tx_errors: get("tx_errors"),
        rx_frame_errors: get("rx_frame_err"),
        rx_over_errors: get("rx_over_err"),
        rx_crc_errors: get("rx_crc_err"),
        collisions: get("collisions"),
    }
}

/// Operations writing each controller's connection status, as stock's
/// periodic refresh does: active targets get is_connected, role and
/// status; passive ones (`ptcp:`, `punix:`) are reset.
pub fn controller_status_ops(bridges: &Bridges, replica: &Replica) -> Vec<Value> {
    let mut ops = Vec::new();
    for br in bridges.bridges.values() {
        let Some(of) = br.openflow.as_ref() else {
            continue;
        };
        for (uuid, st) in of.controller_status() {
            let current = replica.row("Controller", &uuid);
            if current.is_none() {
                continue;
            }
            let mut row = Map::new();
            match st {
                Some(st) => {
                    let mut status = vec![("state".to_string(), st.state.clone())];
                    if let Some(e) = &st.last_error {
                        status.push(("last_error".into(), errno_text(e)));
                    }
                    if let Some(s) = st.sec_since_connect {
                        status.push(("sec_since_connect".into(), s.to_string()));
                    }
                    if let Some(s) = st.sec_since_disconnect {
                        status.push(("sec_since_disconnect".into(), s.to_string()));
                    }
                    put(&mut row, current, "is_connected", json!(st.is_connected));
                    // Stock has a role only for a live connection.
                    let role = st.is_connected.then(|| json!(st.role));
                    put(&mut row, current, "role", datum::optional(role));
                    put(&mut row, current, "status", datum::map_of(status));
                }
                None => {
                    put(&mut row, current, "is_connected", json!(false));
                    put(&mut row, current, "role", datum::empty_set());
                    put(
                        &mut row,
                        current,
                        "status",
                        datum::map_of(Vec::<(String, String)>::new()),
                    );
                }
            }
            if !row.is_empty() {
                ops.push(update("Controller", &uuid, row));
            }
        }
    }
    ops
}

/// An error as stock spells it: `strerror` text, without the
/// " (os error N)" that Rust's io errors add.
fn errno_text(e: &str) -> String {
    match e.rfind(" (os error ") {
        Some(i) if e.ends_with(')') => e[..i].to_string(),
        _ => e.to_string(),
    }
}

/// One bridge's OpenFlow switch inside the service; removed from the
/// service (its sockets unlinked) when dropped.
struct OpenflowBridge {
    svc: Arc<OfprotoService>,
    name: String,
    rundir: std::path::PathBuf,
    datapath_id: u64,
    cfg: Option<OpenflowCfg>,
    /// The ports the service has, by OpenFlow number, and those numbers
    /// by port name.
    ports: BTreeMap<u16, PortInfo>,
    ofports: HashMap<String, u16>,
    /// The devices behind the ports, read when dump-ports asks.
    devices: Arc<Mutex<HashMap<u16, Device>>>,
    /// The ports' VLAN settings the service has (those with settings
    /// other than the default only).
    port_vlans: HashMap<u16, ferrovs_ofproto::PortVlan>,
}

impl OpenflowBridge {
    fn create(
        svc: &Arc<OfprotoService>,
        name: &str,
        rundir: &Path,
        datapath_id: u64,
    ) -> std::io::Result<OpenflowBridge> {
        svc.add_bridge(BridgeConfig {
            name: name.to_string(),
            datapath_id,
            mgmt_path: rundir.join(format!("{name}.mgmt")),
            versions: versions_from_protocols(&[]),
            normal_flow: true,
        })?;
        let sw = OpenflowBridge {
            svc: svc.clone(),
            name: name.to_string(),
            rundir: rundir.to_path_buf(),
            datapath_id,
            cfg: None,
            ports: BTreeMap::new(),
            ofports: HashMap::new(),
            devices: Arc::new(Mutex::new(HashMap::new())),
            port_vlans: HashMap::new(),
        };
        // From here on, dropping `sw` removes the bridge again.
        svc.set_snoop(name, Some(rundir.join(format!("{name}.snoop"))))?;
        let devices = sw.devices.clone();
        svc.set_port_stats_source(
            name,
            Arc::new(move |p| lock(&devices).get(&p).map(port_stats)),
        );
        Ok(sw)
    }
}

fn controller_config(c: &crate::config::ControllerCfg, disable_in_band: bool) -> ControllerConfig {
    let mut out = ControllerConfig::new(&c.target);
    // In-band is the default mode; the bridge can turn it off for all.
    out.in_band = !disable_in_band && matches!(c.connection_mode.as_str(), "" | "in-band");
    // Whole seconds, as stock: below one second probes every second, 0
    // disables probing.
    out.inactivity_probe = match c.inactivity_probe {
        None => Duration::from_secs(5),
        Some(ms) if ms <= 0 => Duration::ZERO,
        Some(ms) if ms < 1000 => Duration::from_secs(1),
        Some(ms) => Duration::from_secs(ms.unsigned_abs() / 1000),
    };
    if let Some(ms) = c.max_backoff {
        out.max_backoff = Duration::from_secs(ms.max(0).unsigned_abs() / 1000);
    }
    out
}

/// Whether a Unix socket controller stays inside the run directory, as
/// stock requires (a database user must not make the daemon create or
/// connect to arbitrary sockets): `punix:<rundir>/<bridge>.*` and
/// `unix:` paths under `<rundir>/`. Logs stock's error otherwise.
fn confined(bridge: &str, rundir: &Path, target: &str) -> bool {
    let rundir = rundir.display();
    if let Some(path) = target.strip_prefix("unix:") {
        let allowed = format!("{rundir}/");
        if path.contains('/') && !path.starts_with(&allowed) {
            log::error!(target: "bridge", "bridge {bridge}: Not connecting to socket controller \"{target}\" due to possibility for remote exploit.  Instead, specify socket in permitted directory \"unix:{allowed}\" or connect to \"unix:{rundir}/{bridge}.mgmt\" (which is always available without special configuration).");
            return false;
        }
    } else if let Some(path) = target.strip_prefix("punix:") {
        let allowed = format!("{rundir}/{bridge}.");
        let ok = path
            .strip_prefix(&allowed)
            .is_some_and(|rest| !rest.contains('/'));
        if !ok {
            log::error!(target: "bridge", "bridge {bridge}: Not adding Unix domain socket controller \"{target}\" due to possibility of overwriting local files. Instead, specify path in permitted format \"punix:{allowed}*\" or connect to \"unix:{rundir}/{bridge}.mgmt\" (which is always available without special configuration).");
            return false;
        }
    }
    true
}

fn is_passive(target: &str) -> bool {
    target.starts_with("ptcp:") || target.starts_with("punix:") || target.starts_with("pssl:")
}

impl OpenflowSwitch for OpenflowBridge {
    fn port_added(&mut self, _name: &str, _ofport: u16, _odp_port: Option<OdpPort>) {}

    fn port_removed(&mut self, _name: &str, _ofport: u16) {}

    fn dump_flows(&self) -> String {
        self.svc.dump_flows(&self.name).unwrap_or_default()
    }

    fn rule_count(&self) -> usize {
        self.svc.rule_count(&self.name).unwrap_or_default()
    }

    fn set_datapath_id(&mut self, datapath_id: u64) {
        if datapath_id != self.datapath_id {
            self.datapath_id = datapath_id;
            self.svc.set_datapath_id(&self.name, datapath_id);
        }
    }

    fn configure(&mut self, cfg: &OpenflowCfg, datapath_id: u64) {
        self.set_datapath_id(datapath_id);
        let first = self.cfg.is_none();
        let old = self.cfg.take().unwrap_or_default();
        if first || old.protocols != cfg.protocols {
            self.svc
                .set_versions(&self.name, versions_from_protocols(&cfg.protocols));
        }
        if old.controllers != cfg.controllers
            || old.fail_mode != cfg.fail_mode
            || old.disable_in_band != cfg.disable_in_band
        {
            let mode = if cfg.fail_mode == "secure" {
                FailMode::Secure
            } else {
                FailMode::Standalone
            };
            let ctls = cfg
                .controllers
                .iter()
                .filter(|c| confined(&self.name, &self.rundir, &c.target))
                .map(|c| controller_config(c, cfg.disable_in_band))
                .collect();
            for e in self.svc.set_controllers(&self.name, ctls, mode) {
                log::warn!(target: "connmgr", "{}: {e}", self.name);
            }
        }
        if first
            || old.in_band_managers != cfg.in_band_managers
            || old.in_band_queue != cfg.in_band_queue
            || old.disable_in_band != cfg.disable_in_band
        {
            // Managers on loopback need no help (stock's rule).
            let managers = cfg
                .in_band_managers
                .iter()
                .filter(|_| !cfg.disable_in_band)
                .filter_map(|t| OfprotoService::in_band_target(t, 6640))
                .filter(|a| *a.ip() != std::net::Ipv4Addr::LOCALHOST)
                .collect();
            self.svc
                .set_in_band_extras(&self.name, managers, cfg.in_band_queue);
        }
        for (table, name) in &cfg.table_names {
            if old.table_names.get(table) != Some(name) {
                self.svc.set_table_name(&self.name, *table, name);
            }
        }
        for table in old.table_names.keys() {
            if !cfg.table_names.contains_key(table) {
                self.svc.set_table_name(&self.name, *table, "");
            }
        }
        // Flow_Table rows: limits and eviction (and the name again).
        let tables = cfg.flow_tables.keys().chain(old.flow_tables.keys());
        for &table in tables.collect::<std::collections::BTreeSet<_>>() {
            let new = cfg.flow_tables.get(&table);
            if new != old.flow_tables.get(&table) {
                let row = new.cloned().unwrap_or_default();
                let s = crate::flow_table::settings(&self.name, table, &row);
                self.svc.set_table_settings(&self.name, table, s);
            }
        }
        if first || old.l2.mac != cfg.l2.mac {
            self.svc.set_mac_config(&self.name, cfg.l2.mac.clone());
        }
        self.cfg = Some(cfg.clone());
        self.push_port_vlans();
    }

    fn sync_ports(&mut self, ports: Vec<PortInfo>, devices: HashMap<u16, Device>) {
        *lock(&self.devices) = devices;
        let ports: BTreeMap<u16, PortInfo> = ports.into_iter().map(|p| (p.ofp_port, p)).collect();
        if ports != self.ports {
            self.ofports = ports
                .values()
                .map(|p| (p.name.clone(), p.ofp_port))
                .collect();
            self.ports = ports;
            self.push_ports();
        }
    }

    fn update_ports(
        &mut self,
        changed: &BTreeSet<String>,
        ports: Vec<PortInfo>,
        devices: HashMap<u16, Device>,
    ) {
        let mut new: BTreeMap<u16, PortInfo> = ports.into_iter().map(|p| (p.ofp_port, p)).collect();
        // What the service is told: the ports that went and the ports
        // that came or changed, never the whole list.
        let mut removed: Vec<u16> = Vec::new();
        {
            let mut devs = lock(&self.devices);
            for name in changed {
                let Some(ofport) = self.ofports.get(name).copied() else {
                    continue;
                };
                let same = new
                    .get(&ofport)
                    .is_some_and(|p| p.name == *name && self.ports.get(&ofport) == Some(p));
                if same {
                    // Unchanged: keep it (its device may be new).
                    new.remove(&ofport);
                    if let Some(d) = devices.get(&ofport) {
                        devs.insert(ofport, d.clone());
                    }
                    continue;
                }
                self.ofports.remove(name);
                self.ports.remove(&ofport);
                devs.remove(&ofport);
                removed.push(ofport);
            }
            for (ofport, p) in &new {
                if let Some(d) = devices.get(ofport) {
                    devs.insert(*ofport, d.clone());
                }
                if let Some(old) = self.ports.insert(*ofport, p.clone()) {
                    self.ofports.remove(&old.name);
                }
                self.ofports.insert(p.name.clone(), *ofport);
            }
        }
        // A number that went and came back is a replacement.
        removed.retain(|n| !new.contains_key(n));
        if !removed.is_empty() || !new.is_empty() {
            self.svc
                .update_ports(&self.name, new.into_values().collect(), removed);
            self.push_port_vlans();
        }
    }

    fn controller_status(&self) -> Vec<(String, Option<ferrovs_ofproto::ControllerStatus>)> {
        let Some(cfg) = &self.cfg else {
            return Vec::new();
        };
        let mut live = self.svc.controller_status(&self.name);
        cfg.controllers
            .iter()
            .map(|c| {
                let st = if is_passive(&c.target) {
                    None
                } else {
                    live.iter()
                        .position(|s| s.target == c.target)
                        .map(|i| live.swap_remove(i))
                };
                (c.uuid.clone(), st)
            })
            .collect()
    }
}

impl OpenflowBridge {
    /// Gives the service the whole port list (and then their VLAN
    /// settings).
    fn push_ports(&mut self) {
        self.svc
            .set_ports(&self.name, self.ports.values().cloned().collect());
        self.push_port_vlans();
    }

    /// Tells the service each port's VLAN settings (by OpenFlow number)
    /// when they differ from what it has. Only ports with settings are
    /// listed (the others are trunks of every VLAN), so this costs as
    /// much as the VLAN configuration, not the port count.
    fn push_port_vlans(&mut self) {
        let Some(cfg) = &self.cfg else {
            return;
        };
        let vlans: HashMap<u16, ferrovs_ofproto::PortVlan> = cfg
            .l2
            .port_vlans
            .iter()
            .filter_map(|(name, v)| Some((*self.ofports.get(name)?, v.clone())))
            .collect();
        if vlans != self.port_vlans {
            self.svc.set_port_vlans(&self.name, vlans.clone());
            self.port_vlans = vlans;
        }
        // Mirrors name ports too (the switch ignores an unchanged set).
        let mirrors = cfg.mirrors.resolve(&self.name, &self.ofports);
        self.svc
            .set_mirrors(&self.name, mirrors, crate::mirror::stats());
    }
}

impl Drop for OpenflowBridge {
    fn drop(&mut self) {
        self.svc.remove_bridge(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_stock_spells_them() {
        assert_eq!(
            errno_text("Connection refused (os error 111)"),
            "Connection refused"
        );
        assert_eq!(
            errno_text("inactivity probe timeout"),
            "inactivity probe timeout"
        );
    }

    #[test]
    fn counters_a_device_does_not_keep_are_unknown() {
        let st = port_stats(&Device::new_dummy());
        assert_eq!((st.rx_packets, st.tx_bytes), (0, 0));
        assert_eq!((st.rx_dropped, st.collisions), (u64::MAX, u64::MAX));
        assert_eq!(
            parse_mac("aa:55:aa:55:00:0f"),
            [0xaa, 0x55, 0xaa, 0x55, 0, 0x0f]
        );
        assert_eq!(parse_mac("garbage"), [0; 6]);
    }
}
