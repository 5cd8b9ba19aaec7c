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
use std::sync::{Arc, Mutex, MutexGuard};

use ferrovs_dpif::{Dpif, OdpPort};

use crate::cmdline::DummyMode;
use crate::config::{BridgeCfg, Config, Delta, IfaceCfg};
use crate::datapath;
use crate::device::Device;
use crate::ofport::{OfportAllocator, OFPP_LOCAL};

mod kernel;
mod local;
mod port;
mod show;
mod tunnel_match;

pub use port::L2Cfg;
use port::{check_tunnel_options, is_tunnel, tunnel_dp_port};

/// The OpenFlow side of one bridge (flow tables, the `punix:<rundir>/<bridge>.mgmt`
/// service, controllers). The bridge tells it about ports as they come and go.
pub trait OpenflowSwitch {
    fn port_added(&mut self, name: &str, ofport: u16, odp_port: Option<OdpPort>);
    fn port_removed(&mut self, name: &str, ofport: u16);
    /// `bridge/dump-flows` output.
    fn dump_flows(&self) -> String;
    /// How many lines `dump_flows` has (without writing them).
    fn rule_count(&self) -> usize {
        self.dump_flows().lines().count()
    }
    /// Applies the Bridge row's OpenFlow settings and its datapath ID.
    fn configure(&mut self, _cfg: &crate::config::OpenflowCfg, _datapath_id: u64) {}
    /// A new datapath ID alone (the bridge's address changed with a
    /// port's device, not with the configuration).
    fn set_datapath_id(&mut self, _datapath_id: u64) {}
    /// The bridge's ports as they are now, and the devices behind them
    /// (by OpenFlow port number) for port statistics.
    fn sync_ports(
        &mut self,
        _ports: Vec<ferrovs_ofproto::PortInfo>,
        _devices: std::collections::HashMap<u16, Device>,
    ) {
    }
    /// Some ports changed: those named in `changed` are now `ports` (a
    /// name missing there is gone), with their devices; the others stay.
    fn update_ports(
        &mut self,
        _changed: &BTreeSet<String>,
        _ports: Vec<ferrovs_ofproto::PortInfo>,
        _devices: std::collections::HashMap<u16, Device>,
    ) {
    }
    /// Each Controller row (by UUID) with its connection's status; `None`
    /// for passive targets, which have none.
    fn controller_status(&self) -> Vec<(String, Option<ferrovs_ofproto::ControllerStatus>)> {
        Vec::new()
    }
}

/// A datapath shared between the bridges of its type and the OpenFlow side
/// (which installs flows and executes packets through it).
pub type SharedDpif = Arc<Mutex<Box<dyn Dpif>>>;

/// Locks a shared datapath; a panic elsewhere while holding it does not make
/// it unusable.
pub fn lock_dpif(d: &SharedDpif) -> MutexGuard<'_, Box<dyn Dpif>> {
    d.lock().unwrap_or_else(|e| e.into_inner())
}

/// Creates the OpenFlow side of a bridge: `(bridge name, rundir, datapath
/// id, its datapath)`.
pub type OpenflowFactory =
    Box<dyn Fn(&str, &Path, u64, SharedDpif) -> Result<Box<dyn OpenflowSwitch>, String>>;

/// A bridge's entry in its datapath's upcall port map, and the
/// interfaces behind it (name to OpenFlow and datapath port numbers).
type PublishedPorts = (BTreeMap<String, (u16, OdpPort)>, crate::upcall::BridgePorts);

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
    /// The `mac` column as configured (see `Bridges::set_iface_mac`).
    pub mac_request: Option<String>,
    /// The MTU of a device whose MTU ferrovs keeps (dummy devices); `None`
    /// for devices that have none (tunnel vports, patch ports) or report
    /// their own (system devices).
    pub mtu: Option<i64>,
    /// The MTU this interface counts with for the bridge's internal
    /// ports (`None` for internal and patch ports and failed interfaces),
    /// as read when it was last examined.
    pub counted_mtu: Option<i64>,
    /// Whether the device is a dummy standing in for another type
    /// (`--enable-dummy=override|system`): no tunnel configuration then.
    pub overridden: bool,
    /// Turned down by an OpenFlow port_mod (OFPPC_PORT_DOWN).
    pub admin_down: bool,
    /// The device's Ethernet address as last read (for the bridge's own
    /// address: `Bridge::read_port_macs`).
    pub hw_addr: Option<[u8; 6]>,
}

/// A running bridge.
pub struct Bridge {
    pub uuid: String,
    pub name: String,
    pub dp_type: String,
    pub ifaces: BTreeMap<String, Iface>,
    pub mac: String,
    pub datapath_id: String,
    /// other_config:hwaddr as last seen (its errors are said once).
    hwaddr_seen: Option<String>,
    /// Whether the Bridge row's status must be written.
    pub status_dirty: bool,
    ofports: OfportAllocator,
    /// Interfaces that failed or are not on their requested port number:
    /// every reconfiguration looks at them again.
    waiting: BTreeSet<String>,
    /// The OpenFlow service attaches here (set by the `OpenflowFactory`).
    pub openflow: Option<Box<dyn OpenflowSwitch>>,
}

/// All bridges and the datapaths under them.
pub struct Bridges {
    pub dummy: Option<DummyMode>,
    pub backers: BTreeMap<String, SharedDpif>,
    /// The control handles of the userspace backers, by type.
    pub netdev: BTreeMap<String, ferrovs_dpif::netdev::NetdevControl>,
    /// Types whose backer has real devices (not dummies).
    pub real_devices: BTreeSet<String>,
    /// Whether the system's routes may be read (not
    /// --disable-system-route): tunnels report their egress interface.
    pub system_routes: bool,
    /// The Open_vSwitch `datapaths` entries (by datapath type) whose
    /// Datapath row got its `capabilities` (see `status`).
    pub capabilities_written: BTreeSet<String>,
    pub bridges: BTreeMap<String, Bridge>,
    /// How many interfaces use each shared datapath port, by (type, name).
    dp_port_users: BTreeMap<(String, String), usize>,
    /// Connects the OpenFlow side of each new bridge, when attached.
    pub openflow_factory: Option<OpenflowFactory>,
    /// Translates upcalls, when attached; without it nobody handles the
    /// datapaths' upcalls.
    pub upcall_service: Option<Arc<ferrovs_ofproto::service::OfprotoService>>,
    /// Upcall handlers per datapath type, and the port maps they use.
    pub handlers: BTreeMap<String, crate::upcall::Handlers>,
    upcall_ports: BTreeMap<String, crate::upcall::PortMap>,
    /// The topology last published to the OpenFlow service (a lock only
    /// so that publishing can patch it through a shared borrow).
    pub topology_cache: Mutex<crate::tunnel::TopologyCache>,
    /// What each bridge's entry in `upcall_ports` is, by type and bridge,
    /// with the (OpenFlow, datapath) port numbers of each interface in it.
    upcall_bridges: BTreeMap<String, BTreeMap<String, PublishedPorts>>,
    n_handler_threads: Option<usize>,
    n_revalidator_threads: Option<usize>,
    flow_limit: Option<u32>,
    /// Tap devices the daemon holds for `tap` ports of the kernel
    /// datapath, by name.
    kernel_taps: BTreeMap<String, ferrovs_netdev::dev::sys::TapFd>,
    /// Datapath types whose datapath existed before this run: ports nobody
    /// uses go after the next reconfiguration.
    port_cleanup: BTreeSet<String>,
    rundir: std::path::PathBuf,
    /// Interfaces reconfiguration has looked at since the start (work
    /// done, for `coverage/show`).
    pub ifaces_examined: u64,
}

impl Bridges {
    pub fn new(dummy: Option<DummyMode>, rundir: &Path) -> Bridges {
        Bridges {
            dummy,
            backers: BTreeMap::new(),
            netdev: BTreeMap::new(),
            real_devices: BTreeSet::new(),
            system_routes: false,
            capabilities_written: BTreeSet::new(),
            bridges: BTreeMap::new(),
            dp_port_users: BTreeMap::new(),
            openflow_factory: None,
            upcall_service: None,
            handlers: BTreeMap::new(),
            upcall_ports: BTreeMap::new(),
            upcall_bridges: BTreeMap::new(),
            topology_cache: Mutex::default(),
            n_handler_threads: None,
            n_revalidator_threads: None,
            flow_limit: None,
            kernel_taps: BTreeMap::new(),
            port_cleanup: BTreeSet::new(),
            rundir: rundir.to_path_buf(),
            ifaces_examined: 0,
        }
    }

    /// Brings the running bridges to `cfg`, changing only what differs
    /// among what `delta` says changed (every interface when `delta.all`;
    /// otherwise the interfaces it names, plus those still waiting for
    /// something: failed ones, which are retried on every run as stock
    /// does, and those not yet on their requested port number; these
    /// join `delta`, so that what follows reconfiguration covers them).
    /// Returns whether anything changed.
    pub fn reconfigure(&mut self, cfg: &Config, delta: &mut Delta) -> bool {
        let mut changed = false;
        self.n_handler_threads = cfg.n_handler_threads;
        self.n_revalidator_threads = cfg.n_revalidator_threads;
        self.flow_limit = cfg.flow_limit;
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
        // The interfaces to look at, by bridge (`None`: all of them).
        let mut examine: BTreeMap<&str, Option<BTreeSet<String>>> = cfg
            .bridges
            .iter()
            .map(|(name, bcfg)| (name.as_str(), self.to_examine(bcfg, delta)))
            .collect();

        let mut patches_touched = delta.all;
        for (name, names) in &examine {
            let n = match names {
                Some(names) => names.len(),
                None => self.bridges.get(*name).map_or(0, |b| b.ifaces.len()),
            };
            self.ifaces_examined += n as u64;
            if let (Some(names), Some(bcfg)) = (names, cfg.bridges.get(*name)) {
                let running = self.bridges.get(*name);
                patches_touched |= names.iter().any(|n| {
                    bcfg.ifaces.get(n).is_some_and(|c| c.iface_type == "patch")
                        || running
                            .and_then(|b| b.ifaces.get(n))
                            .is_some_and(|i| i.iface_type == "patch")
                });
            }
        }
        // Removals everywhere before additions anywhere, so that an
        // interface moving between bridges finds its name free.
        for (name, bcfg) in &cfg.bridges {
            let Some(names) = examine.get_mut(name.as_str()) else {
                continue;
            };
            changed |= self.prune_bridge(bcfg, names);
        }
        // What reconfiguration looked at joins `delta`.
        for (name, names) in &examine {
            if let Some(names) = names.as_ref().filter(|n| !n.is_empty()) {
                delta
                    .ifaces
                    .entry(name.to_string())
                    .or_default()
                    .extend(names.iter().cloned());
            }
        }
        for (name, bcfg) in &cfg.bridges {
            let mut names = examine.get(name.as_str()).and_then(Option::as_ref);
            if !self.bridges.contains_key(name) {
                if let Err(e) = self.create_bridge(bcfg) {
                    log::error!(target: "bridge", "failed to create bridge {name}: {e}");
                    continue;
                }
                changed = true;
                names = None;
            }
            let old_mac = self.bridges.get(name).map(|b| b.mac.clone());
            changed |= self.grow_bridge(bcfg, names);
            if let Some(br) = self.bridges.get_mut(name) {
                if old_mac.is_some_and(|m| m != br.mac) && !delta.all {
                    // The bridge's own OpenFlow port has a new address.
                    delta
                        .ifaces
                        .entry(name.clone())
                        .or_default()
                        .insert(name.clone());
                }
                let dpid = br.dpid();
                if let Some(of) = br.openflow.as_mut() {
                    of.configure(&bcfg.openflow, dpid);
                }
            }
        }
        // Patch peers can only be judged once every bridge is in place.
        if patches_touched {
            self.check_patch_peers();
        }
        self.remove_unused_dp_ports();
        for h in self.handlers.values() {
            h.set_flow_limit(self.flow_limit);
        }
        // Backers nobody uses any more go away.
        let used: BTreeSet<String> = self.bridges.values().map(|b| b.dp_type.clone()).collect();
        self.destroy_unused_kernel_datapaths(&used);
        self.handlers.retain(|t, _| used.contains(t));
        self.upcall_ports.retain(|t, _| used.contains(t));
        self.backers.retain(|t, _| used.contains(t));
        self.netdev.retain(|t, _| used.contains(t));
        self.real_devices.retain(|t| used.contains(t));
        let max_idle = cfg
            .max_idle_ms
            .unwrap_or(crate::revalidator::DEFAULT_MAX_IDLE_MS);
        let max_reval = cfg
            .max_revalidator_ms
            .unwrap_or(crate::revalidator::PASS_INTERVAL.as_millis() as u64);
        for h in self.handlers.values() {
            h.set_max_idle(max_idle);
            h.set_max_revalidator(max_reval);
        }
        changed
    }

    /// The interfaces of one bridge that reconfiguration looks at: those
    /// `delta` names, and those waiting (failed, or not yet on their
    /// requested port number); `None` for all of them.
    fn to_examine(&self, cfg: &BridgeCfg, delta: &Delta) -> Option<BTreeSet<String>> {
        let mut names = delta.bridge(&cfg.name)?.clone();
        let br = self.bridges.get(&cfg.name)?;
        names.extend(br.waiting.iter().cloned());
        Some(names)
    }

    fn create_bridge(&mut self, cfg: &BridgeCfg) -> Result<(), String> {
        if !self.backers.contains_key(&cfg.datapath_type) {
            let n = self
                .n_handler_threads
                .unwrap_or_else(crate::upcall::default_handler_count);
            let opened = datapath::open(&cfg.datapath_type, self.dummy, n)?;
            let t = cfg.datapath_type.clone();
            let shared: SharedDpif = Arc::new(Mutex::new(opened.dpif));
            if let Some(svc) = &self.upcall_service {
                let ports = crate::upcall::PortMap::default();
                let name = lock_dpif(&shared).name().to_string();
                let h = crate::upcall::Handlers::start(
                    &name,
                    Arc::clone(&shared),
                    Arc::clone(svc),
                    Arc::clone(&ports),
                    opened.upcalls,
                    self.n_revalidator_threads.unwrap_or(1),
                    opened.netdev.clone(),
                );
                self.upcall_ports.insert(t.clone(), ports);
                h.set_flow_limit(self.flow_limit);
                self.handlers.insert(t.clone(), h);
            }
            if opened.existed {
                self.mark_for_port_cleanup(&t);
            }
            if let Some(ctl) = opened.netdev {
                self.netdev.insert(t.clone(), ctl);
            }
            if opened.real_devices {
                self.real_devices.insert(t.clone());
            }
            self.backers.insert(t, shared);
        }
        let mut br = Bridge {
            uuid: cfg.uuid.clone(),
            name: cfg.name.clone(),
            dp_type: cfg.datapath_type.clone(),
            ifaces: BTreeMap::new(),
            mac: String::new(),
            datapath_id: String::new(),
            hwaddr_seen: None,
            status_dirty: true,
            ofports: OfportAllocator::default(),
            waiting: BTreeSet::new(),
            openflow: None,
        };
        // Without its ports yet: other_config:hwaddr or the UUID's
        // address; the ports may bring a better one (`grow_bridge`).
        br.update_local_mac(cfg);
        br.ofports.take(OFPP_LOCAL);
        if let Some(factory) = &self.openflow_factory {
            let dpid = br.dpid();
            let dpif = self.backers.get(&cfg.datapath_type).cloned();
            let made = match dpif {
                Some(d) => factory(&br.name, &self.rundir, dpid, d),
                None => Err("no datapath".to_string()),
            };
            // OpenFlow meters go to the userspace datapath's meters.
            if let (Some(svc), Some(ctl)) =
                (&self.upcall_service, self.netdev.get(&cfg.datapath_type))
            {
                svc.set_meter_hook(&br.name, crate::meters::hook(&br.name, ctl.clone()));
                let ct = ctl.clone();
                svc.set_ct_flush_hook(&br.name, Arc::new(move |zone| ct.conntrack().flush(zone)));
            }
            match made {
                Ok(of) => br.openflow = Some(of),
                Err(e) => {
                    log::error!(target: "bridge", "bridge {}: OpenFlow service failed: {e}", br.name)
                }
            }
        }
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

    /// Removes a bridge's interfaces that are gone or must be re-added, and
    /// applies the changes that happen in place, among `names` (all when
    /// `None`); an interface in the way of another's requested port number
    /// is removed too, and joins `names`.
    fn prune_bridge(&mut self, cfg: &BridgeCfg, names: &mut Option<BTreeSet<String>>) -> bool {
        let mut changed = false;
        let Some(br) = self.bridges.get(&cfg.name) else {
            return false;
        };
        let examined: Vec<(&String, &Iface)> = match names.as_ref() {
            None => br.ifaces.iter().collect(),
            Some(names) => names
                .iter()
                .filter_map(|n| br.ifaces.get_key_value(n))
                .collect(),
        };
        // Interfaces gone, or changed in a way that needs a new port.
        let mut stale: BTreeSet<String> = examined
            .iter()
            .copied()
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
        for &(n, i) in &examined {
            let Some(request) = cfg.ifaces.get(n).and_then(|c| c.ofport_request) else {
                continue;
            };
            if i.ofport == Some(OFPP_LOCAL) || i.ofport == Some(request) || stale.contains(n) {
                continue;
            }
            match br.ifaces.values().find(|v| v.ofport == Some(request)) {
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
        if let Some(names) = names.as_mut() {
            names.extend(stale.iter().cloned());
        }
        for n in stale {
            self.remove_iface(&cfg.name, &n);
            changed = true;
        }
        // Options that can change in place.
        let in_place: Vec<&IfaceCfg> = match names.as_ref() {
            None => cfg.ifaces.values().collect(),
            Some(names) => names.iter().filter_map(|n| cfg.ifaces.get(n)).collect(),
        };
        let mut new_macs = Vec::new();
        if let Some(br) = self.bridges.get_mut(&cfg.name) {
            for c in &in_place {
                let n = &c.name;
                if let Some(i) = br.ifaces.get_mut(n) {
                    if i.options != c.options {
                        i.options = c.options.clone();
                        i.status_dirty = true;
                        if let (Some(ctl), Some(dp_name), Some(odp)) =
                            (self.netdev.get(&br.dp_type), &i.dp_port_name, i.odp_port)
                        {
                            port::apply_dummy_options(ctl, odp, dp_name, &i.options);
                        }
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
                    if i.mac_request != c.mac {
                        i.mac_request = c.mac.clone();
                        new_macs.push(n.clone());
                    }
                }
            }
            for c in &in_place {
                br.note_waiting(&c.name);
            }
        }
        for n in new_macs {
            self.set_iface_mac(&cfg.name, &n);
        }
        changed
    }

    /// Adds a bridge's new interfaces among `names` (all when `None`) and
    /// settles its own settings.
    fn grow_bridge(&mut self, cfg: &BridgeCfg, names: Option<&BTreeSet<String>>) -> bool {
        let mut changed = false;
        // New interfaces: those requesting a port number first, as stock.
        let Some(br) = self.bridges.get(&cfg.name) else {
            return changed;
        };
        let candidates: Vec<&IfaceCfg> = match names {
            None => cfg.ifaces.values().collect(),
            Some(names) => names.iter().filter_map(|n| cfg.ifaces.get(n)).collect(),
        };
        let mut new: Vec<&IfaceCfg> = candidates
            .into_iter()
            .filter(|c| !br.ifaces.contains_key(&c.name))
            .collect();
        new.sort_by_key(|c| c.ofport_request.is_none());
        for c in new {
            self.add_iface(&cfg.name, c);
            changed = true;
        }
        if let Some(br) = self.bridges.get_mut(&cfg.name) {
            br.read_port_macs(names);
            let new_mac = br.update_local_mac(cfg);
            br.update_internal_mtu(names);
            if new_mac {
                self.keep_local_mac(&cfg.name);
            }
        }
        changed
    }

    /// `revalidator/wait`: returns once every datapath's revalidators
    /// have run a whole pass that started after the call (so the flows
    /// reflect the tables as they were then), or after a few seconds.
    pub fn revalidator_wait(&self) {
        // A round trip through the OpenFlow service first: changes queued
        // to it (ports, MAC table) have bumped the generation by then.
        if let Some(svc) = &self.upcall_service {
            let _ = svc.list_bridges();
        }
        for h in self.handlers.values() {
            h.wait_revalidation(std::time::Duration::from_secs(5));
        }
    }

    /// `revalidator/pause` and `revalidator/resume`: stop (or restart)
    /// the revalidators' passes, so that flows nobody translated (dpctl
    /// adds some) stay.
    pub fn revalidator_pause(&self, pause: bool) {
        for h in self.handlers.values() {
            h.pause_revalidators(pause);
        }
    }

    /// `revalidator/purge`: deletes every datapath flow (crediting their
    /// last statistics to the rules where handlers installed them).
    pub fn revalidator_purge(&self) {
        for (t, shared) in &self.backers {
            if let Some(h) = self.handlers.get(t) {
                h.purge();
                continue;
            }
            let mut dpif = lock_dpif(shared);
            if let Err(e) = dpif.flow_flush() {
                log::warn!(target: "dpif", "{}: flow flush failed: {e}", dpif.name());
            }
        }
    }

    /// Controllers' packet-outs, in order: each translated and executed
    /// by the datapath of the bridge it was sent to (dropped when that
    /// bridge or its datapath is gone).
    pub fn packet_outs(&self, list: Vec<crate::openflow::BridgePacketOut>) {
        for po in list {
            let Some(br) = self.bridges.get(&po.bridge) else {
                continue;
            };
            let ports = self
                .upcall_bridges
                .get(&br.dp_type)
                .and_then(|m| m.get(&po.bridge));
            if let (Some(h), Some(ports)) = (self.handlers.get(&br.dp_type), ports) {
                h.packet_out(Arc::clone(&ports.1), po.packet_out);
            }
        }
    }

    /// `upcall/show`: every datapath with handlers.
    pub fn upcall_show(&self) -> String {
        self.handlers.values().map(|h| h.show()).collect()
    }

    /// Tells the upcall handlers which bridge owns each datapath port
    /// (after reconfiguration), for the interfaces `delta` says changed:
    /// a bridge's map is patched for those, and the datapath ports of
    /// the bridge are pointed at the new map without hashing them again.
    pub fn sync_upcall_ports(&mut self, delta: &Delta) {
        for (dp_type, map) in &self.upcall_ports {
            let known = self.upcall_bridges.entry(dp_type.clone()).or_default();
            let mut current = map.write().unwrap_or_else(|e| e.into_inner());
            // A bridge that had ports and now has others (or is gone) may
            // have flows that send packets to the wrong places (floods
            // above all); a new bridge has none yet.
            let mut changed = false;
            if delta.all {
                known.retain(|n, _| self.bridges.get(n).is_some_and(|b| &b.dp_type == dp_type));
            }
            for br in self.bridges.values().filter(|b| &b.dp_type == dp_type) {
                let names = delta.bridge(&br.name);
                if names.is_some_and(BTreeSet::is_empty) {
                    continue;
                }
                let published = known.entry(br.name.clone()).or_default();
                let old = Arc::clone(&published.1);
                let mut of_to_odp = (*old.1).clone();
                let mut by_name = std::mem::take(&mut published.0);
                let (mut gone, mut added) = (Vec::new(), Vec::new());
                let names: Vec<&String> = match names {
                    Some(names) => names.iter().collect(),
                    None => {
                        gone.extend(by_name.values().map(|(_, odp)| *odp));
                        of_to_odp.clear();
                        by_name.clear();
                        br.ifaces.keys().collect()
                    }
                };
                for n in names {
                    if let Some((ofport, odp)) = by_name.remove(n) {
                        of_to_odp.remove(&ofport);
                        gone.push(odp);
                    }
                    let Some(i) = br.ifaces.get(n) else { continue };
                    if let (Some(ofport), Some(odp)) = (i.ofport, i.odp_port) {
                        by_name.insert(n.clone(), (ofport, odp));
                        of_to_odp.insert(ofport, odp);
                        added.push(odp);
                    }
                }
                published.0 = by_name;
                if *old.1 == of_to_odp && !old.0.is_empty() {
                    continue;
                }
                changed |= !old.0.is_empty();
                let new: crate::upcall::BridgePorts =
                    Arc::new((br.name.as_str().into(), Arc::new(of_to_odp)));
                for odp in gone {
                    if current.get(&odp).is_some_and(|b| Arc::ptr_eq(b, &old)) {
                        current.remove(&odp);
                    }
                }
                for v in current.values_mut().filter(|v| Arc::ptr_eq(v, &old)) {
                    *v = Arc::clone(&new);
                }
                for odp in added {
                    current.insert(odp, Arc::clone(&new));
                }
                published.1 = new;
            }
            if delta.all {
                // Ports of bridges gone.
                let before = current.len();
                current.retain(|_, b| known.get(&*b.0).is_some_and(|p| Arc::ptr_eq(&p.1, b)));
                changed |= current.len() != before;
            }
            drop(current);
            if changed {
                if let Some(h) = self.handlers.get(dp_type) {
                    h.invalidate();
                }
            }
        }
        let types = &self.upcall_ports;
        self.upcall_bridges.retain(|t, _| types.contains_key(t));
        if let Some(svc) = &self.upcall_service {
            crate::tunnel::publish_changes(self, svc, delta);
        }
    }

    /// Makes the next topology publication read every port again (a
    /// device changed outside the configuration).
    pub fn mark_topology_stale(&self) {
        let mut cache = self
            .topology_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache.stale = true;
    }

    /// Removes every datapath (`exit --cleanup`).
    pub fn destroy_datapaths(&mut self) {
        self.handlers.clear();
        let names: Vec<String> = self.bridges.keys().cloned().collect();
        for n in names {
            self.destroy_bridge(&n);
        }
        self.netdev.clear();
        self.real_devices.clear();
        for (_, shared) in std::mem::take(&mut self.backers) {
            let mut dpif = lock_dpif(&shared);
            if let Err(e) = dpif.destroy() {
                log::warn!(target: "dpif", "{}: failed to destroy datapath: {e}", dpif.name());
            }
        }
    }

    pub fn n_ports(&self) -> usize {
        self.bridges.values().map(|b| b.ifaces.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IfaceCfg;

    fn iface(name: &str, t: &str, request: Option<u16>) -> IfaceCfg {
        IfaceCfg {
            uuid: format!("uuid-{name}"),
            name: name.into(),
            iface_type: t.into(),
            options: BTreeMap::new(),
            ofport_request: request,
            ofport_before: Default::default(),
            mtu_request: None,
            mac: None,
            port: name.into(),
            port_mac: None,
        }
    }

    fn config(ifaces: Vec<IfaceCfg>) -> Config {
        let mut bridges = BTreeMap::new();
        bridges.insert(
            "br0".to_string(),
            BridgeCfg {
                uuid: "uuid-br0".into(),
                name: "br0".into(),
                datapath_type: "dummy".into(),
                other_config: BTreeMap::new(),
                ifaces: ifaces.into_iter().map(|i| (i.name.clone(), i)).collect(),
                openflow: Default::default(),
                bonds: BTreeMap::new(),
            },
        );
        Config {
            ovs_uuid: Some("ovs".into()),
            next_cfg: 1,
            bridges,
            n_handler_threads: None,
            n_revalidator_threads: None,
            max_idle_ms: None,
            max_revalidator_ms: None,
            flow_limit: None,
        }
    }

    /// Records what the bridge tells its OpenFlow side.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl OpenflowSwitch for Recorder {
        fn port_added(&mut self, name: &str, ofport: u16, odp_port: Option<OdpPort>) {
            let mut log = self.0.lock().unwrap();
            log.push(format!("add {name} {ofport} {odp_port:?}"));
        }
        fn port_removed(&mut self, name: &str, ofport: u16) {
            self.0.lock().unwrap().push(format!("del {name} {ofport}"));
        }
        fn dump_flows(&self) -> String {
            String::new()
        }
    }

    #[test]
    fn tells_the_openflow_side_about_ports_and_applies_only_differences() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut b = Bridges::new(Some(DummyMode::Add), Path::new("/nonexistent"));
        let ev = events.clone();
        b.openflow_factory = Some(Box::new(move |name, _rundir, _dpid, dpif| {
            assert_eq!(lock_dpif(&dpif).name(), "ovs-dummy");
            ev.lock().unwrap().push(format!("bridge {name}"));
            Ok(Box::new(Recorder(ev.clone())) as Box<dyn OpenflowSwitch>)
        }));
        let c1 = config(vec![
            iface("br0", "internal", None),
            iface("p1", "dummy", Some(5)),
            iface("p2", "dummy", None),
        ]);
        assert!(b.reconfigure(&c1, &mut Delta::everything()));
        assert_eq!(
            *events.lock().unwrap(),
            vec![
                "bridge br0",
                "add p1 5 Some(1)",
                "add br0 65534 Some(100)",
                "add p2 1 Some(2)"
            ]
        );
        events.lock().unwrap().clear();
        // The same configuration again changes nothing.
        assert!(!b.reconfigure(&c1, &mut Delta::everything()));
        assert!(events.lock().unwrap().is_empty());
        // p1 goes and p2 asks for its number: p2 moves there.
        let mut c2 = c1.clone();
        if let Some(br) = c2.bridges.get_mut("br0") {
            br.ifaces.insert("p2".into(), iface("p2", "dummy", Some(5)));
            br.ifaces.remove("p1");
        }
        assert!(b.reconfigure(&c2, &mut Delta::everything()));
        assert_eq!(
            *events.lock().unwrap(),
            vec!["del p1 5", "del p2 1", "add p2 5 Some(2)"]
        );
        let br = b.bridges.get("br0").unwrap();
        assert_eq!(br.ifaces.get("p2").and_then(|i| i.ofport), Some(5));
    }

    #[test]
    fn a_partial_delta_still_moves_the_port_in_the_way() {
        let mut b = Bridges::new(Some(DummyMode::Add), Path::new("/nonexistent"));
        let c1 = config(vec![iface("p1", "dummy", None), iface("p2", "dummy", None)]);
        b.reconfigure(&c1, &mut Delta::everything());
        let ofport = |b: &Bridges, n: &str| b.bridges["br0"].ifaces.get(n).and_then(|i| i.ofport);
        assert_eq!((ofport(&b, "p1"), ofport(&b, "p2")), (Some(1), Some(2)));
        // Only p2 changed: it asks for p1's number.
        let mut c2 = c1.clone();
        if let Some(br) = c2.bridges.get_mut("br0") {
            br.ifaces.insert("p2".into(), iface("p2", "dummy", Some(1)));
        }
        let mut delta = Delta::default();
        delta
            .ifaces
            .insert("br0".into(), BTreeSet::from(["p2".to_string()]));
        assert!(b.reconfigure(&c2, &mut delta));
        assert_eq!(ofport(&b, "p2"), Some(1));
        assert!(
            ofport(&b, "p1").is_some_and(|n| n != 1),
            "p1 re-added elsewhere"
        );
        // The one moved out of the way joined the delta.
        assert!(delta.bridge("br0").is_some_and(|n| n.contains("p1")));
        // A failed interface waits: every later run looks at it again.
        let mut c3 = c2.clone();
        if let Some(br) = c3.bridges.get_mut("br0") {
            br.ifaces
                .insert("bad".into(), iface("bad", "frobozz", None));
        }
        let mut delta = Delta::default();
        delta
            .ifaces
            .insert("br0".into(), BTreeSet::from(["bad".to_string()]));
        b.reconfigure(&c3, &mut delta);
        let mut nothing = Delta::default();
        b.reconfigure(&c3, &mut nothing);
        assert_eq!(
            nothing.bridge("br0"),
            Some(&BTreeSet::from(["bad".to_string()]))
        );
    }

    #[test]
    fn bad_rows_get_errors_and_the_rest_applies() {
        let mut b = Bridges::new(Some(DummyMode::Add), Path::new("/nonexistent"));
        let mut tunnel = iface("vx", "vxlan", None);
        tunnel
            .options
            .insert("remote_ip".into(), "not-an-ip".into());
        let c = config(vec![
            iface("br0", "internal", None),
            iface("bad", "frobozz", None),
            iface("nosuchdev0", "system", None),
            tunnel,
            iface("ok", "dummy", None),
        ]);
        b.reconfigure(&c, &mut Delta::everything());
        let br = b.bridges.get("br0").unwrap();
        let err = |n: &str| br.ifaces.get(n).and_then(|i| i.error.clone());
        assert_eq!(
            err("bad").as_deref(),
            Some("could not open network device bad (Address family not supported by protocol)")
        );
        assert_eq!(
            err("nosuchdev0").as_deref(),
            Some("could not open network device nosuchdev0 (No such device)")
        );
        assert_eq!(
            err("vx").as_deref(),
            Some("vx: vxlan type requires valid 'remote_ip' argument")
        );
        assert_eq!(br.ifaces.get("ok").and_then(|i| i.ofport), Some(1));
        // A bridge whose datapath type is unavailable is not created.
        let mut c = c.clone();
        if let Some(br) = c.bridges.get_mut("br0") {
            br.datapath_type = "system".into();
        }
        b.reconfigure(&c, &mut Delta::everything());
        assert!(b.bridges.is_empty());
        assert!(b.backers.is_empty());
    }
}
