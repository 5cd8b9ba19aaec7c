//! Bridges: reconfiguration from the desired configuration.
//!
//! Each run compares the desired bridges and interfaces with the running
//! ones and applies only the difference: bridges created or destroyed,
//! interfaces added to or removed from the datapath, options updated in
//! place. A bad interface (unknown type, missing device, bad tunnel
//! options) gets its error recorded for the `error` column and a log line;
//! the rest of the configuration still applies.
//!
//! Bridges of one datapath type share one datapath ("backer"), as in
//! Open vSwitch: `dummy@ovs-dummy` holds the ports of every dummy bridge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ferrovs_dpif::{Dpif, OdpPort, PortSpec};

use crate::cmdline::DummyMode;
use crate::config::{BridgeCfg, Config, IfaceCfg};
use crate::datapath;
use crate::device::{random_mac, Device};
use crate::ofport::{OfportAllocator, OFPP_LOCAL};

/// The OpenFlow side of one bridge (flow tables, the `punix:<rundir>/<bridge>.mgmt`
/// service, controllers). The bridge tells it about ports as they come and go.
pub trait OpenflowSwitch {
    fn port_added(&mut self, name: &str, ofport: u16, odp_port: Option<OdpPort>);
    fn port_removed(&mut self, name: &str, ofport: u16);
    /// `bridge/dump-flows` output.
    fn dump_flows(&self) -> String;
}

/// Creates the OpenFlow side of a bridge: `(bridge name, rundir, datapath id)`.
pub type OpenflowFactory = Box<dyn Fn(&str, &Path, u64) -> Result<Box<dyn OpenflowSwitch>, String>>;

/// A running interface.
pub struct Iface {
    pub uuid: String,
    pub name: String,
    pub iface_type: String,
    pub options: BTreeMap<String, String>,
    pub ofport_request: Option<u16>,
    /// The OpenFlow port number; `None` when the interface failed.
    pub ofport: Option<u16>,
    /// The datapath port; `None` for patch ports and failed interfaces.
    pub odp_port: Option<OdpPort>,
    /// The datapath port's name (tunnels share one, e.g. vxlan_sys_4789).
    pub dp_port_name: Option<String>,
    pub device: Option<Device>,
    /// The text for the `error` column.
    pub error: Option<String>,
    /// Whether its status must be written even between full refreshes.
    pub status_dirty: bool,
    /// `mtu_request` as configured.
    pub mtu_request: Option<i64>,
    /// The MTU of a device whose MTU ferrovs keeps (dummy devices); `None`
    /// for devices that have none (tunnel vports, patch ports) or report
    /// their own (system devices).
    pub mtu: Option<i64>,
    /// Whether the device is a dummy standing in for another type
    /// (`--enable-dummy=override|system`): no tunnel configuration then.
    pub overridden: bool,
}

/// A running bridge.
pub struct Bridge {
    pub uuid: String,
    pub name: String,
    pub dp_type: String,
    pub ifaces: BTreeMap<String, Iface>,
    pub mac: String,
    pub datapath_id: String,
    /// Whether the Bridge row's status must be written.
    pub status_dirty: bool,
    ofports: OfportAllocator,
    /// The OpenFlow service attaches here (set by the `OpenflowFactory`).
    pub openflow: Option<Box<dyn OpenflowSwitch>>,
}

impl Bridge {
    /// Follows other_config:hwaddr and other_config:datapath-id.
    fn update_hwaddr(&mut self, cfg: &BridgeCfg) {
        if let Some(m) = cfg
            .other_config
            .get("hwaddr")
            .filter(|m| parse_mac(m).is_some())
        {
            if *m != self.mac {
                self.mac = m.clone();
            }
        }
        let dpid = cfg
            .other_config
            .get("datapath-id")
            .filter(|d| d.len() == 16 && u64::from_str_radix(d, 16).is_ok())
            .cloned()
            .unwrap_or_else(|| format!("0000{}", self.mac.replace(':', "")));
        if dpid != self.datapath_id {
            log::info!(target: "bridge", "bridge {}: using datapath ID {dpid}", self.name);
            self.datapath_id = dpid;
            self.status_dirty = true;
            if let Some(local) = self.ifaces.get_mut(&self.name) {
                local.status_dirty = true;
            }
        }
    }

    /// Internal ports without an `mtu_request` take the smallest MTU of
    /// the bridge's other ports (1500 when none has one), as in stock.
    fn update_internal_mtu(&mut self) {
        let is_internal =
            |i: &Iface| matches!(i.iface_type.as_str(), "internal" | "dummy-internal");
        let min = self
            .ifaces
            .values()
            .filter(|i| !is_internal(i) && i.iface_type != "patch" && i.ofport.is_some())
            .filter_map(|i| match &i.device {
                Some(Device::System { .. }) => i.device.as_ref().and_then(|d| d.status().mtu),
                _ => i.mtu,
            })
            .min()
            .unwrap_or(1500);
        for i in self
            .ifaces
            .values_mut()
            .filter(|i| is_internal(i) && i.mtu.is_some())
        {
            let want = i.mtu_request.unwrap_or(min);
            if i.mtu != Some(want) {
                i.mtu = Some(want);
                i.status_dirty = true;
            }
        }
    }
}

/// All bridges and the datapaths under them.
pub struct Bridges {
    pub dummy: Option<DummyMode>,
    pub backers: BTreeMap<String, Box<dyn Dpif>>,
    pub bridges: BTreeMap<String, Bridge>,
    /// How many interfaces use each shared datapath port, by (type, name).
    dp_port_users: BTreeMap<(String, String), usize>,
    /// Connects the OpenFlow side of each new bridge, when attached.
    pub openflow_factory: Option<OpenflowFactory>,
    rundir: std::path::PathBuf,
}

/// The datapath port a tunnel interface uses: one per tunnel type and UDP
/// port, shared by every interface of that kind (stock's names).
fn tunnel_dp_port(iface_type: &str, options: &BTreeMap<String, String>) -> Option<String> {
    let (prefix, default_port) = match iface_type {
        "vxlan" => ("vxlan_sys", Some(4789)),
        "geneve" => ("genev_sys", Some(6081)),
        "gre" => ("gre_sys", None),
        _ => return None,
    };
    Some(match default_port {
        Some(d) => {
            let port = options
                .get("dst_port")
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(d);
            format!("{prefix}_{port}")
        }
        None => prefix.to_string(),
    })
}

fn is_tunnel(t: &str) -> bool {
    matches!(t, "vxlan" | "geneve" | "gre")
}

/// Checks tunnel options the way the device would.
fn check_tunnel_options(
    name: &str,
    t: &str,
    options: &BTreeMap<String, String>,
) -> Result<(), String> {
    match options.get("remote_ip").map(String::as_str) {
        Some("flow") => {}
        Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => {}
        _ => {
            return Err(format!(
                "{name}: {t} type requires valid 'remote_ip' argument"
            ))
        }
    }
    if let Some(p) = options.get("dst_port") {
        if p.parse::<u16>().is_err() {
            return Err(format!("{name}: {t} type has bad 'dst_port' argument"));
        }
    }
    Ok(())
}

impl Bridges {
    pub fn new(dummy: Option<DummyMode>, rundir: &Path) -> Bridges {
        Bridges {
            dummy,
            backers: BTreeMap::new(),
            bridges: BTreeMap::new(),
            dp_port_users: BTreeMap::new(),
            openflow_factory: None,
            rundir: rundir.to_path_buf(),
        }
    }

    /// Brings the running bridges to `cfg`, changing only what differs.
    /// Returns whether anything changed.
    pub fn reconfigure(&mut self, cfg: &Config) -> bool {
        let mut changed = false;
        // Bridges gone, or whose datapath type changed.
        let stale: Vec<String> = self
            .bridges
            .iter()
            .filter(|(name, br)| {
                cfg.bridges
                    .get(*name)
                    .is_none_or(|c| c.datapath_type != br.dp_type || c.uuid != br.uuid)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in stale {
            self.destroy_bridge(&name);
            changed = true;
        }
        for (name, bcfg) in &cfg.bridges {
            if !self.bridges.contains_key(name) {
                if let Err(e) = self.create_bridge(bcfg) {
                    log::error!(target: "bridge", "failed to create bridge {name}: {e}");
                    continue;
                }
                changed = true;
            }
            changed |= self.reconfigure_bridge(bcfg);
        }
        // Patch peers can only be judged once every bridge is in place.
        self.check_patch_peers();
        // Backers nobody uses any more go away.
        let used: BTreeSet<String> = self.bridges.values().map(|b| b.dp_type.clone()).collect();
        self.backers.retain(|t, _| used.contains(t));
        changed
    }

    fn create_bridge(&mut self, cfg: &BridgeCfg) -> Result<(), String> {
        if !self.backers.contains_key(&cfg.datapath_type) {
            let dpif = datapath::open(&cfg.datapath_type, self.dummy)?;
            self.backers.insert(cfg.datapath_type.clone(), dpif);
        }
        let mac = cfg
            .other_config
            .get("hwaddr")
            .filter(|m| parse_mac(m).is_some())
            .cloned()
            .unwrap_or_else(random_mac);
        let datapath_id = cfg
            .other_config
            .get("datapath-id")
            .filter(|d| d.len() == 16 && u64::from_str_radix(d, 16).is_ok())
            .cloned()
            .unwrap_or_else(|| format!("0000{}", mac.replace(':', "")));
        let mut br = Bridge {
            uuid: cfg.uuid.clone(),
            name: cfg.name.clone(),
            dp_type: cfg.datapath_type.clone(),
            ifaces: BTreeMap::new(),
            mac,
            datapath_id,
            status_dirty: true,
            ofports: OfportAllocator::default(),
            openflow: None,
        };
        br.ofports.take(OFPP_LOCAL);
        if let Some(factory) = &self.openflow_factory {
            let dpid = u64::from_str_radix(&br.datapath_id, 16).unwrap_or(0);
            match factory(&br.name, &self.rundir, dpid) {
                Ok(of) => br.openflow = Some(of),
                Err(e) => {
                    log::error!(target: "bridge", "bridge {}: OpenFlow service failed: {e}", br.name)
                }
            }
        }
        log::info!(target: "bridge", "bridge {}: using datapath ID {}", br.name, br.datapath_id);
        self.bridges.insert(cfg.name.clone(), br);
        Ok(())
    }

    fn destroy_bridge(&mut self, name: &str) {
        let Some(br) = self.bridges.get(name) else {
            return;
        };
        let ifaces: Vec<String> = br.ifaces.keys().cloned().collect();
        for i in ifaces {
            self.remove_iface(name, &i);
        }
        self.bridges.remove(name);
        log::info!(target: "bridge", "bridge {name}: deleted");
    }

    /// Applies the interface differences of one bridge.
    fn reconfigure_bridge(&mut self, cfg: &BridgeCfg) -> bool {
        let mut changed = false;
        let Some(br) = self.bridges.get(&cfg.name) else {
            return false;
        };
        // Interfaces gone, or changed in a way that needs a new port.
        let mut stale: BTreeSet<String> = br
            .ifaces
            .iter()
            .filter(|(n, i)| match cfg.ifaces.get(*n) {
                None => true,
                Some(c) => {
                    // A failed interface is retried on every run, as stock
                    // does (its device may have appeared).
                    i.ofport.is_none()
                        || c.uuid != i.uuid
                        || c.iface_type != i.iface_type
                        || (c.iface_type == "patch"
                            && c.options.get("peer").is_none_or(|p| *p == c.name))
                        || (is_tunnel(&c.iface_type)
                            && !i.overridden
                            && tunnel_dp_port(&c.iface_type, &c.options) != i.dp_port_name)
                }
            })
            .map(|(n, _)| n.clone())
            .collect();
        // An interface whose ofport_request differs from its number moves
        // there: re-added, together with the port in its way unless that
        // one requested the same number (then neither moves), as stock.
        let by_ofport: BTreeMap<u16, &Iface> = br
            .ifaces
            .values()
            .filter_map(|i| i.ofport.map(|n| (n, i)))
            .collect();
        for (n, i) in &br.ifaces {
            let Some(request) = cfg.ifaces.get(n).and_then(|c| c.ofport_request) else {
                continue;
            };
            if i.ofport == Some(OFPP_LOCAL) || i.ofport == Some(request) || stale.contains(n) {
                continue;
            }
            match by_ofport.get(&request) {
                None => {
                    stale.insert(n.clone());
                }
                Some(victim) => {
                    let victim_request =
                        cfg.ifaces.get(&victim.name).and_then(|c| c.ofport_request);
                    if victim_request != Some(request) {
                        stale.insert(victim.name.clone());
                        stale.insert(n.clone());
                    }
                }
            }
        }
        for n in stale {
            self.remove_iface(&cfg.name, &n);
            changed = true;
        }
        // Options that can change in place.
        if let Some(br) = self.bridges.get_mut(&cfg.name) {
            for (n, c) in &cfg.ifaces {
                if let Some(i) = br.ifaces.get_mut(n) {
                    if i.options != c.options {
                        i.options = c.options.clone();
                        i.status_dirty = true;
                        if is_tunnel(&i.iface_type) && !i.overridden {
                            i.error = check_tunnel_options(n, &i.iface_type, &i.options).err();
                        }
                        changed = true;
                    }
                    i.ofport_request = c.ofport_request;
                    if i.mtu_request != c.mtu_request {
                        i.mtu_request = c.mtu_request;
                        if let (Some(m), Some(_)) = (c.mtu_request, i.mtu) {
                            i.mtu = Some(m);
                        }
                        i.status_dirty = true;
                    }
                }
            }
        }
        // New interfaces: those requesting a port number first, as stock.
        let Some(br) = self.bridges.get(&cfg.name) else {
            return changed;
        };
        let mut new: Vec<&IfaceCfg> = cfg
            .ifaces
            .values()
            .filter(|c| !br.ifaces.contains_key(&c.name))
            .collect();
        new.sort_by_key(|c| c.ofport_request.is_none());
        for c in new {
            self.add_iface(&cfg.name, c);
            changed = true;
        }
        if let Some(br) = self.bridges.get_mut(&cfg.name) {
            br.update_hwaddr(cfg);
            br.update_internal_mtu();
        }
        changed
    }

    fn add_iface(&mut self, bridge: &str, c: &IfaceCfg) {
        let Some(br) = self.bridges.get(bridge) else {
            return;
        };
        let dp_type = br.dp_type.clone();
        let is_local = c.name == bridge;
        let mut iface = Iface {
            uuid: c.uuid.clone(),
            name: c.name.clone(),
            iface_type: c.iface_type.clone(),
            options: c.options.clone(),
            ofport_request: c.ofport_request,
            ofport: None,
            odp_port: None,
            dp_port_name: None,
            device: None,
            error: None,
            status_dirty: true,
            mtu_request: c.mtu_request,
            mtu: None,
            overridden: false,
        };
        let opened = self.open_iface(&dp_type, &mut iface);
        let Some(br) = self.bridges.get_mut(bridge) else {
            return;
        };
        match opened {
            Err(e) => {
                log::warn!(target: "bridge", "{e}");
                iface.error = Some(e);
            }
            Ok(()) => {
                let ofport = if is_local {
                    Some(OFPP_LOCAL)
                } else {
                    br.ofports.alloc(c.ofport_request)
                };
                match ofport {
                    Some(n) => {
                        iface.ofport = Some(n);
                        log::info!(target: "bridge", "bridge {bridge}: added interface {} on port {n}", c.name);
                        if let Some(of) = br.openflow.as_mut() {
                            of.port_added(&c.name, n, iface.odp_port);
                        }
                    }
                    None => {
                        let e = format!(
                            "bridge {bridge}: no free OpenFlow port number for {}",
                            c.name
                        );
                        log::warn!(target: "bridge", "{e}");
                        iface.error = Some(e);
                    }
                }
            }
        }
        if iface.ofport.is_none() {
            // Give back what was taken.
            let (odp, dpname) = (iface.odp_port.take(), iface.dp_port_name.take());
            self.release_dp_port(&dp_type, odp, dpname);
            iface.device = None;
        }
        if let Some(br) = self.bridges.get_mut(bridge) {
            br.ifaces.insert(c.name.clone(), iface);
        }
    }

    /// Creates the device and the datapath port of an interface.
    fn open_iface(&mut self, dp_type: &str, iface: &mut Iface) -> Result<(), String> {
        let name = iface.name.clone();
        let t = iface.iface_type.clone();
        // Like netdev-dummy's override levels: the device becomes a plain
        // dummy device (patch ports stay patch ports).
        iface.overridden = match self.dummy {
            Some(DummyMode::Override) => {
                t != "patch" && datapath::IFACE_TYPES.contains(&t.as_str())
            }
            Some(DummyMode::System) => t == "system",
            _ => false,
        };
        let (device, dp_name) = match t.as_str() {
            _ if iface.overridden => (Device::new_dummy(), Some(name.clone())),
            "dummy" | "internal" | "dummy-internal" => (Device::new_dummy(), Some(name.clone())),
            "system" | "tap" => (Device::open_system(&name)?, Some(name.clone())),
            "patch" => {
                // A patch port without a usable peer option fails to open;
                // one whose peer merely does not exist yet opens (and
                // reports that in its status).
                match iface.options.get("peer") {
                    None => {
                        return Err(format!("{name}: patch type requires valid 'peer' argument"))
                    }
                    Some(p) if *p == name => {
                        return Err(format!("{name}: patch peer must not be self"))
                    }
                    Some(_) => {}
                }
                (Device::new_virtual(), None)
            }
            t if is_tunnel(t) => {
                check_tunnel_options(&name, t, &iface.options)?;
                (Device::new_virtual(), tunnel_dp_port(t, &iface.options))
            }
            other => {
                log::warn!(target: "netdev", "could not create netdev {name} of unknown type {other}");
                return Err(format!(
                    "could not open network device {name} (Address family not supported by protocol)"
                ));
            }
        };
        if let Some(dp_name) = dp_name {
            let key = (dp_type.to_string(), dp_name.clone());
            let dpif = self
                .backers
                .get_mut(dp_type)
                .ok_or_else(|| format!("{name}: no datapath of type {dp_type}"))?;
            let port_no = if self.dp_port_users.get(&key).copied().unwrap_or(0) > 0 {
                dpif.port_query_by_name(&dp_name)
                    .map_err(|e| format!("{name}: {e}"))?
                    .port_no
            } else {
                let spec = PortSpec {
                    name: dp_name.clone(),
                    port_type: if iface.overridden && t != "internal" {
                        "dummy".into()
                    } else if t == "dummy-internal" {
                        "internal".into()
                    } else {
                        t.clone()
                    },
                    port_no: None,
                    options: iface
                        .options
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                dpif.port_add(&spec)
                    .map_err(|e| format!("error adding {name} as port {}: {e}", dpif.name()))?
            };
            *self.dp_port_users.entry(key).or_insert(0) += 1;
            iface.odp_port = Some(port_no);
            iface.dp_port_name = Some(dp_name);
        }
        if matches!(device, Device::Dummy { .. }) {
            iface.mtu = Some(iface.mtu_request.unwrap_or(1500));
        }
        iface.device = Some(device);
        Ok(())
    }

    fn release_dp_port(&mut self, dp_type: &str, odp: Option<OdpPort>, dp_name: Option<String>) {
        let (Some(odp), Some(dp_name)) = (odp, dp_name) else {
            return;
        };
        let key = (dp_type.to_string(), dp_name);
        let users = self.dp_port_users.entry(key.clone()).or_insert(1);
        *users = users.saturating_sub(1);
        if *users == 0 {
            self.dp_port_users.remove(&key);
            if let Some(dpif) = self.backers.get_mut(dp_type) {
                if let Err(e) = dpif.port_del(odp) {
                    log::warn!(target: "dpif", "{}: failed to remove port {}: {e}", dpif.name(), key.1);
                }
            }
        }
    }

    fn remove_iface(&mut self, bridge: &str, name: &str) {
        let Some(br) = self.bridges.get_mut(bridge) else {
            return;
        };
        let Some(mut iface) = br.ifaces.remove(name) else {
            return;
        };
        let dp_type = br.dp_type.clone();
        if let Some(n) = iface.ofport {
            if n != OFPP_LOCAL {
                br.ofports.free(n);
            }
            if let Some(of) = br.openflow.as_mut() {
                of.port_removed(name, n);
            }
            log::info!(target: "bridge", "bridge {bridge}: deleted interface {name} on port {n}");
        }
        let (odp, dpname) = (iface.odp_port.take(), iface.dp_port_name.take());
        self.release_dp_port(&dp_type, odp, dpname);
    }

    /// Sets the error of every patch port whose peer is missing, the way
    /// stock words it, and clears it when the peer appears.
    fn check_patch_peers(&mut self) {
        // (bridge dp type, patch iface name) -> its peer option.
        let mut patches: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for br in self.bridges.values() {
            for i in br.ifaces.values().filter(|i| i.iface_type == "patch") {
                patches.insert(
                    i.name.clone(),
                    (br.dp_type.clone(), i.options.get("peer").cloned()),
                );
            }
        }
        for br in self.bridges.values_mut() {
            for i in br
                .ifaces
                .values_mut()
                .filter(|i| i.iface_type == "patch" && i.ofport.is_some())
            {
                let peer = i.options.get("peer");
                let error = match peer {
                    Some(p) => {
                        let usable = patches.get(p).is_some_and(|(t, back)| {
                            *t == br.dp_type && back.as_deref() == Some(&i.name)
                        });
                        (!usable).then(|| {
                            format!("No usable peer '{p}' exists in '{}' datapath.", br.dp_type)
                        })
                    }
                    None => None,
                };
                if error != i.error {
                    i.error = error;
                    i.status_dirty = true;
                }
            }
        }
    }

    /// Removes every datapath (`exit --cleanup`).
    pub fn destroy_datapaths(&mut self) {
        let names: Vec<String> = self.bridges.keys().cloned().collect();
        for n in names {
            self.destroy_bridge(&n);
        }
        for (_, mut dpif) in std::mem::take(&mut self.backers) {
            if let Err(e) = dpif.destroy() {
                log::warn!(target: "dpif", "{}: failed to destroy datapath: {e}", dpif.name());
            }
        }
    }

    /// The `dpif/show` text.
    pub fn dpif_show(&mut self) -> String {
        let mut out = String::new();
        for (dp_type, dpif) in self.backers.iter_mut() {
            let stats = dpif.stats().unwrap_or_default();
            out.push_str(&format!(
                "{}@{}: hit:{} missed:{}\n",
                dpif.dp_type(),
                dpif.name(),
                stats.n_hit,
                stats.n_missed
            ));
            for br in self.bridges.values().filter(|b| &b.dp_type == dp_type) {
                out.push_str(&format!("  {}:\n", br.name));
                for i in br.ifaces.values() {
                    let Some(ofport) = i.ofport else { continue };
                    let odp = match i.odp_port {
                        Some(n) => n.to_string(),
                        None => "none".into(),
                    };
                    let shown_type = match i.iface_type.as_str() {
                        "internal" | "dummy-internal" => "dummy-internal".to_string(),
                        t => t.to_string(),
                    };
                    let mut line = format!("    {} {}/{}: ({}", i.name, ofport, odp, shown_type);
                    let config: Vec<(&String, &String)> =
                        if i.iface_type == "patch" || (is_tunnel(&i.iface_type) && !i.overridden) {
                            i.options.iter().collect()
                        } else {
                            Vec::new()
                        };
                    for (k, (key, val)) in config.iter().enumerate() {
                        line.push_str(&format!("{} {key}={val}", if k == 0 { ':' } else { ',' }));
                    }
                    line.push_str(")\n");
                    out.push_str(&line);
                }
            }
        }
        out
    }

    /// The `dpif/dump-dps` text.
    pub fn dump_dps(&self) -> String {
        let mut dps: Vec<(&str, &str)> = self
            .bridges
            .values()
            .map(|b| (b.dp_type.as_str(), b.name.as_str()))
            .collect();
        dps.sort();
        dps.iter().map(|(t, n)| format!("{t}@{n}\n")).collect()
    }

    pub fn n_ports(&self) -> usize {
        self.bridges.values().map(|b| b.ifaces.len()).sum()
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}
