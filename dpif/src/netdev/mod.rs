//! `netdev`: the userspace datapath.
//!
//! Ports are [`ferrovs_netdev::Netdev`] devices; a poll thread reads them
//! in batches, extracts each frame's [`FlowKey`], looks it up in an
//! exact-match cache and then in the megaflow [`classifier`], and runs the
//! flow's actions ([`actions`]) in userspace. Packets that match nothing go
//! up as MISS upcalls, `userspace` actions as ACTION upcalls, both through
//! an [`UpcallReceiver`]. Flows, keys and actions cross the [`Dpif`] trait
//! as the same netlink attributes the kernel module takes ([`odp_key`]
//! converts).
//!
//! Port numbers follow Open vSwitch's userspace datapath: 0 is the local
//! port, an `internal` (tap) device named after the datapath; others get
//! the lowest free number from 1. Tunnel ports (`vxlan`, `geneve`, `gre`)
//! have no device: `tnl_push` encapsulates and sends out of another port,
//! `tnl_pop` decapsulates and recirculates with the tunnel's port as input.
//!
//! Also here: a userspace connection tracker for `ct` ([`conntrack`], with
//! NAT), meters ([`meter`]), per-thread counters in the layout of
//! `dpif-netdev/pmd-stats-show` ([`pmd_stats`]). Flows and executes with
//! actions this datapath cannot run are refused with EINVAL, as the kernel
//! does, so that feature probing finds the truth.
//!
//! [`FlowKey`]: ferrovs_netdev::FlowKey

pub mod actions;
pub mod classifier;
pub mod conntrack;
pub mod datapath;
pub mod meter;
pub mod odp_key;
pub mod pmd_stats;
mod rewrite;
pub mod ufid;
pub mod upcall;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use ferrovs_netdev::dev::{self as netdevs, DummyDev, TunnelDev};
use ferrovs_netdev::packet::{Packet, PacketMeta};
use ferrovs_netdev::tunnel::TunnelKind;
use ferrovs_netdev::{FlowKey, Netdev, NetdevStats};

use crate::odp::{Action, Actions, Key, KeyAttr};
use crate::support::Support;
use crate::{
    DpFlow, DpStats, Dpif, DpifError, DpifPort, Execute, FlowId, FlowPut, FlowStats, OdpPort,
    PortSpec, Result, Ufid,
};
use classifier::{ExactCache, FlowCounters, Megaflow};
use datapath::{DpCore, Port};
pub use upcall::{InstalledFlow, Miss, MissHandler, MissVerdict, UpcallReceiver};

/// Largest port number handed out.
pub const MAX_PORTS: u32 = 65535;

/// How ports become devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMode {
    /// Real devices: `system` AF_PACKET sockets, tap devices for
    /// `internal` and `tap`, in-memory for `dummy`.
    Real,
    /// Every port is a dummy device, whatever its type (what
    /// `--enable-dummy=override` asks for, and tests without root).
    AllDummy,
}

/// Poll threads per datapath: one per CPU, at most four (ports are
/// shared out by number), or `FERROVS_NETDEV_POLL_THREADS` when set.
fn poll_thread_count() -> u32 {
    if let Some(n) = std::env::var("FERROVS_NETDEV_POLL_THREADS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        return n.clamp(1, 64);
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32)
}

/// Counters beyond [`DpStats`], for `dpif-netdev/pmd-stats-show`-like
/// output and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropStats {
    /// Frames shorter than an Ethernet header. (Frames whose deeper
    /// headers do not parse are switched on what did, as in stock.)
    pub invalid: u64,
    /// Packets that actions dropped (unsupported action, bad port, ...).
    pub action: u64,
    /// Packets that recirculated more than the datapath allows.
    pub recirc: u64,
    /// Batches lost to a panic in packet processing (a bug if not 0).
    pub panics: u64,
}

/// A userspace datapath.
pub struct NetdevDpif {
    core: Arc<DpCore>,
    mode: DeviceMode,
    /// What `dp_type` reports: `netdev`, or `dummy` for Open vSwitch's
    /// dummy datapath (this datapath with dummy devices).
    type_name: String,
    /// Number ports after the digits in their names, as stock's dummy
    /// datapath does.
    number_by_name: bool,
    receiver: Option<UpcallReceiver>,
    poll_threads: Vec<JoinHandle<()>>,
    /// Used by `execute`, which runs in the caller's thread.
    emc: ExactCache,
    rng: u64,
}

fn err(errno: i32, msg: impl Into<String>) -> DpifError {
    DpifError::new(errno, msg)
}

/// A port's device, plus the same device as a dummy when it is one.
type OpenedDevice = (Arc<dyn Netdev>, Option<Arc<DummyDev>>);

fn open_device(name: &str, kind: &str, mode: DeviceMode) -> Result<OpenedDevice> {
    let is_dummy = mode == DeviceMode::AllDummy || kind.starts_with("dummy");
    if is_dummy {
        let d = Arc::new(DummyDev::new(name)?);
        return Ok((Arc::clone(&d) as Arc<dyn Netdev>, Some(d)));
    }
    let dev = netdevs::open(name, kind).map_err(|e| {
        let errno = match e.kind() {
            std::io::ErrorKind::Unsupported => libc::EOPNOTSUPP,
            _ => e.raw_os_error().unwrap_or(libc::ENODEV),
        };
        err(errno, e.to_string())
    })?;
    Ok((dev, None))
}

impl NetdevDpif {
    /// Creates a datapath named `name` with its local port (port 0, an
    /// internal device of the same name) and starts its poll thread.
    pub fn create(name: &str, mode: DeviceMode) -> Result<NetdevDpif> {
        ferrovs_netdev::dev::sys::keep_freed_memory();
        let (queue, receiver) = upcall::channel()?;
        let (dev, dummy) = open_device(name, "internal", mode)?;
        let mut ports = BTreeMap::new();
        ports.insert(
            0,
            Port {
                name: name.to_string(),
                kind: "internal".to_string(),
                dev,
                dummy,
            },
        );
        let n = poll_thread_count();
        let core = Arc::new(DpCore {
            name: name.to_string(),
            ports: RwLock::new(ports),
            port_gen: AtomicU64::new(1),
            port_log: Default::default(),
            flows: RwLock::new(Default::default()),
            upcalls: queue,
            conntrack: Default::default(),
            meters: Default::default(),
            counters: Default::default(),
            pmd_stats: (0..=n).map(|_| Default::default()).collect(),
            miss_handler: RwLock::new(None),
            shutdown: AtomicBool::new(false),
            poll_wakers: Default::default(),
        });
        let mut poll_threads = Vec::new();
        for i in 0..n {
            match datapath::spawn_poll_thread(Arc::clone(&core), i, n) {
                Ok(t) => poll_threads.push(t),
                Err(e) => {
                    core.shutdown.store(true, Ordering::Relaxed);
                    for t in poll_threads {
                        let _ = t.join();
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(NetdevDpif {
            core,
            mode,
            type_name: "netdev".to_string(),
            number_by_name: false,
            receiver: Some(receiver),
            poll_threads,
            emc: ExactCache::default(),
            rng: 0x9e37_79b9_7f4a_7c15,
        })
    }

    /// Reports `name` as the datapath type (e.g. `dummy`: stock's dummy
    /// datapath is its userspace datapath with dummy devices).
    pub fn set_type_name(&mut self, name: &str) {
        self.type_name = name.to_string();
    }

    /// Numbers new ports as Open vSwitch's dummy datapath does (the first
    /// number in a port's name, plus 100 for names starting with `br`,
    /// when free), so that test scripts written for stock see the same
    /// numbers.
    pub fn set_number_ports_by_name(&mut self, on: bool) {
        self.number_by_name = on;
    }

    /// A handle for control commands (dummy devices, counters,
    /// conntrack) that stays usable while the datapath itself is locked
    /// by someone else.
    pub fn control(&self) -> NetdevControl {
        NetdevControl {
            core: Arc::clone(&self.core),
        }
    }

    /// Takes the receiving end of the upcall queue (once).
    pub fn upcall_receiver(&mut self) -> Option<UpcallReceiver> {
        self.receiver.take()
    }

    /// Replaces the upcall queue by `n` queues, one per handler thread;
    /// each flow's upcalls go to one of them. (The receiver handed out by
    /// `upcall_receiver` stops getting anything.)
    pub fn upcall_receivers(&mut self, n: usize) -> Result<Vec<UpcallReceiver>> {
        self.receiver = None;
        Ok(self.core.upcalls.reconfigure(n)?)
    }

    /// The dummy device behind a port, when it is one.
    pub fn dummy_device(&self, port_no: OdpPort) -> Option<Arc<DummyDev>> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports.get(&port_no).and_then(|p| p.dummy.clone())
    }

    /// Counters of the device behind a port.
    pub fn port_stats(&self, port_no: OdpPort) -> Option<NetdevStats> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports.get(&port_no).map(|p| p.dev.stats())
    }

    /// The device behind a port (MTU, MAC, link state).
    pub fn port_device(&self, port_no: OdpPort) -> Option<Arc<dyn Netdev>> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports.get(&port_no).map(|p| Arc::clone(&p.dev))
    }

    /// The connection tracker (for dump-conntrack / flush-conntrack).
    pub fn conntrack(&self) -> &conntrack::Conntrack {
        &self.core.conntrack
    }

    /// Creates or replaces meter `id`.
    pub fn meter_set(&self, id: u32, cfg: &meter::MeterConfig) -> Result<()> {
        self.core
            .meters
            .set(id, cfg, ferrovs_netdev::dev::sys::monotonic_ms())
    }

    /// Deletes meter `id`, returning its final statistics.
    pub fn meter_del(&self, id: u32) -> Result<meter::MeterStats> {
        self.core
            .meters
            .del(id)
            .ok_or_else(|| err(libc::ENOENT, format!("no meter {id}")))
    }

    pub fn meter_get(&self, id: u32) -> Result<meter::MeterStats> {
        self.core
            .meters
            .get(id)
            .ok_or_else(|| err(libc::ENOENT, format!("no meter {id}")))
    }

    /// `dpif-netdev/pmd-stats-show`: one block per poll thread, then the
    /// main thread's (packets run by `execute`).
    pub fn pmd_stats_show(&self) -> String {
        let mut out = String::new();
        let n = self.core.pmd_stats.len();
        for (i, st) in self.core.pmd_stats.iter().enumerate() {
            st.format(&mut out, (i + 1 < n).then_some(i as u32));
        }
        out
    }

    /// `dpif-netdev/pmd-stats-clear`. As in stock, whose datapath
    /// lookup counters are the sums of these, `dpctl/show`'s hit, missed
    /// and mask counters start again from zero too.
    pub fn pmd_stats_clear(&self) {
        self.core.clear_pmd_stats();
    }

    pub fn drop_stats(&self) -> DropStats {
        let c = &self.core.counters;
        DropStats {
            invalid: c.invalid.load(Ordering::Relaxed),
            action: c.action_drops.load(Ordering::Relaxed),
            recirc: c.recirc_drops.load(Ordering::Relaxed),
            panics: c.panics.load(Ordering::Relaxed),
        }
    }

    fn stop(&mut self) {
        self.core.shutdown.store(true, Ordering::Relaxed);
        for t in self.poll_threads.drain(..) {
            let _ = t.join();
        }
    }

    fn ports_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u32, Port>> {
        self.core.ports.write().unwrap_or_else(|e| e.into_inner())
    }

    fn ports_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Port>> {
        self.core.ports.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for NetdevDpif {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The port number Open vSwitch's dummy datapath gives a port: the first
/// number written in its name (plus 100 when the name starts with `br`),
/// so that test scripts see the numbers they name.
fn dummy_port_from_name(name: &str) -> Option<OdpPort> {
    let start: u64 = if name.starts_with("br") { 100 } else { 0 };
    let pos = name.find(|c: char| c.is_ascii_digit())?;
    let digits: String = name[pos..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let n = digits.parse::<u64>().ok()?.saturating_add(start);
    (n > 0 && n < u64::from(u32::MAX)).then_some(n as OdpPort)
}

/// A cloneable handle on a datapath's shared state, for control commands
/// (`netdev-dummy/*`, `dpctl/*-conntrack`, `dpif-netdev/pmd-stats-*`).
#[derive(Clone)]
pub struct NetdevControl {
    pub(crate) core: Arc<DpCore>,
}

impl NetdevControl {
    /// Creates or replaces meter `id` (as the provider's `meter_set`).
    pub fn meter_set(&self, id: u32, cfg: &meter::MeterConfig) -> Result<()> {
        self.core
            .meters
            .set(id, cfg, ferrovs_netdev::dev::sys::monotonic_ms())
    }

    /// Deletes meter `id` (as the provider's `meter_del`).
    pub fn meter_del(&self, id: u32) -> Result<meter::MeterStats> {
        self.core
            .meters
            .del(id)
            .ok_or_else(|| err(libc::ENOENT, format!("no meter {id}")))
    }

    /// The dummy device behind a port, when it is one.
    pub fn dummy_device(&self, port_no: OdpPort) -> Option<Arc<DummyDev>> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports.get(&port_no).and_then(|p| p.dummy.clone())
    }

    /// The dummy device of the port named `name`, when it is one.
    pub fn dummy_device_by_name(&self, name: &str) -> Option<Arc<DummyDev>> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports
            .values()
            .find(|p| p.name == name)
            .and_then(|p| p.dummy.clone())
    }

    /// Every dummy device of the datapath.
    pub fn dummy_devices(&self) -> Vec<Arc<DummyDev>> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports.values().filter_map(|p| p.dummy.clone()).collect()
    }

    /// The device behind a port (MTU, MAC, link state, counters).
    pub fn port_device(&self, port_no: OdpPort) -> Option<Arc<dyn Netdev>> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports.get(&port_no).map(|p| Arc::clone(&p.dev))
    }

    /// The device of the port named `name`.
    pub fn device_by_name(&self, name: &str) -> Option<Arc<dyn Netdev>> {
        let ports = self.core.ports.read().unwrap_or_else(|e| e.into_inner());
        ports
            .values()
            .find(|p| p.name == name)
            .map(|p| Arc::clone(&p.dev))
    }

    pub fn conntrack(&self) -> &conntrack::Conntrack {
        &self.core.conntrack
    }

    /// `dpif-netdev/pmd-stats-show` text as stock prints it for a
    /// datapath without DPDK ports: one `main thread` block (stock's main
    /// thread polls such ports; here the poll threads do, and their
    /// counters are summed; time is not shown, as stock shows none there).
    pub fn pmd_stats_show(&self) -> String {
        let sum = pmd_stats::PmdStats::default();
        for st in &self.core.pmd_stats {
            sum.add_counts(st);
        }
        let mut out = String::new();
        sum.format(&mut out, None);
        out
    }

    /// The datapath's name (e.g. `ovs-netdev`).
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// `dpif-netdev/pmd-stats-clear`. As in stock, whose datapath
    /// lookup counters are the sums of these, `dpctl/show`'s hit, missed
    /// and mask counters start again from zero too.
    pub fn pmd_stats_clear(&self) {
        self.core.clear_pmd_stats();
    }

    /// Has the poll threads hand their misses to `handler` (on their own
    /// thread) instead of queueing them as MISS upcalls; `None` goes
    /// back to the queues. Misses of packets that `execute` recirculates
    /// are always queued.
    pub fn set_miss_handler(&self, handler: Option<Arc<dyn MissHandler>>) {
        *self
            .core
            .miss_handler
            .write()
            .unwrap_or_else(|e| e.into_inner()) = handler;
    }

    /// The provider's `flow_put`, without the provider's lock (for a
    /// [`MissHandler`]).
    pub fn flow_put(&self, put: &FlowPut<'_>) -> Result<Option<FlowStats>> {
        flow_put(&self.core, put)
    }

    /// `flow_put` of a poll thread's [`Miss`], whose key the datapath
    /// extracted (`flow`, the parsed form of `put.key`): the key is not
    /// decoded again. Returns the installed flow, whose actions the poll
    /// thread then executes the miss's packet with (they are not decoded
    /// again either).
    pub fn flow_put_extracted(&self, put: &FlowPut<'_>, flow: &FlowKey) -> Result<InstalledFlow> {
        self.put_extracted(put, flow, None)
    }

    /// `flow_put_extracted` whose key, mask and actions (the same bytes
    /// as `put`'s) the flow shares with the caller instead of copying.
    pub fn flow_put_shared(
        &self,
        put: &FlowPut<'_>,
        flow: &FlowKey,
        attrs: &FlowAttrs,
    ) -> Result<InstalledFlow> {
        self.put_extracted(put, flow, Some(attrs))
    }

    /// `flow_put_shared` of a translated miss, with what translation
    /// made besides the netlink attributes: `mask`, the mask `put.mask`
    /// encodes as [`odp_key::MaskBuilder`] built it, and `actions`,
    /// those `put.actions` encodes. Neither is decoded from netlink
    /// again (as Open vSwitch's userspace datapath takes its flow and
    /// wildcards as they are). A key `mask` cannot serve (VLAN tags,
    /// tunnel metadata) has its mask decoded.
    pub fn flow_put_translated(
        &self,
        put: &FlowPut<'_>,
        flow: &FlowKey,
        attrs: &FlowAttrs,
        mask: Option<&FlowKey>,
        actions: Vec<Action>,
    ) -> Result<InstalledFlow> {
        let direct = mask.and_then(|m| odp_key::masked_extracted(flow, m));
        // Tests run debug builds: every flow they install this way checks
        // that the direct mask is the netlink route's.
        #[cfg(debug_assertions)]
        if let Some(d) = &direct {
            debug_assert!(
                odp_key::from_odp(put.key, put.mask).is_ok_and(|full| full == *d),
                "direct megaflow mask differs from the decoded one"
            );
        }
        let (key, mask) = match direct {
            Some(d) => d,
            None => match odp_key::from_extracted(flow, put.key, put.mask) {
                Some(r) => r?,
                None => odp_key::from_odp(put.key, put.mask)?,
            },
        };
        put_decoded(&self.core, put, key, mask, Some(attrs), Some(actions))
            .map(|(_, f)| InstalledFlow(f))
    }

    fn put_extracted(
        &self,
        put: &FlowPut<'_>,
        flow: &FlowKey,
        attrs: Option<&FlowAttrs>,
    ) -> Result<InstalledFlow> {
        let (key, mask) = match odp_key::from_extracted(flow, put.key, put.mask) {
            Some(r) => r?,
            None => odp_key::from_odp(put.key, put.mask)?,
        };
        put_decoded(&self.core, put, key, mask, attrs, None).map(|(_, f)| InstalledFlow(f))
    }

    /// The provider's `execute`, without the provider's lock (for a
    /// [`MissHandler`]); its recirculations' misses are queued.
    pub fn execute(&self, exec: &Execute<'_>) -> Result<()> {
        let mut rng = 0x9e37_79b9_7f4a_7c15 ^ ferrovs_netdev::dev::sys::monotonic_ms();
        execute(&self.core, exec, &mut ExactCache::default(), &mut rng)
    }

    /// Executes packets as `execute` does, their output sent together
    /// (a batch per port); one result per packet.
    pub fn execute_batch(&self, execs: &[Execute<'_>]) -> Vec<Result<()>> {
        let mut rng = 0x9e37_79b9_7f4a_7c15 ^ ferrovs_netdev::dev::sys::monotonic_ms();
        execute_all(&self.core, execs, &mut ExactCache::default(), &mut rng)
    }

    /// Flows in the datapath.
    pub fn n_flows(&self) -> usize {
        self.core
            .flows
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .n_flows()
    }
}

/// A flow's netlink key, mask and actions, held once and shared by the
/// datapath's flow and whoever else keeps them (the daemon's ukey): a
/// flow setup made two copies of each before.
#[derive(Debug, Clone)]
pub struct FlowAttrs {
    pub key: Arc<[u8]>,
    pub mask: Arc<[u8]>,
    pub actions: Arc<[u8]>,
}

/// The UFID of a flow put without one: a hash of its key bytes (stable
/// for equal keys, so get/del by key find it).
fn ufid_of_key(key: &[u8]) -> Ufid {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for &x in key {
        a = (a ^ u64::from(x)).wrapping_mul(0x100_0000_01b3);
        b = (b ^ u64::from(x))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(7);
    }
    (u128::from(a) << 64) | u128::from(b)
}

fn to_dpflow(f: &Megaflow) -> DpFlow {
    DpFlow {
        key: f.key_attrs.to_vec(),
        mask: f.mask_attrs.to_vec(),
        actions: f.actions_attrs.to_vec(),
        ufid: Some(f.ufid),
        stats: f.counters.get(),
    }
}

/// Installs or modifies a flow (the provider's `flow_put`, also used by
/// [`NetdevControl::flow_put`] from the poll threads).
fn flow_put(core: &DpCore, put: &FlowPut<'_>) -> Result<Option<FlowStats>> {
    let (key, mask) = odp_key::from_odp(put.key, put.mask)?;
    put_decoded(core, put, key, mask, None, None).map(|(stats, _)| stats)
}

/// `flow_put` with the key and mask already decoded; also returns the
/// flow now installed.
fn put_decoded(
    core: &DpCore,
    put: &FlowPut<'_>,
    key: FlowKey,
    mask: FlowKey,
    shared: Option<&FlowAttrs>,
    decoded_actions: Option<Vec<Action>>,
) -> Result<(Option<FlowStats>, Arc<Megaflow>)> {
    debug_assert!(shared
        .is_none_or(|a| *a.key == *put.key && *a.mask == *put.mask && *a.actions == *put.actions));
    let actions_attrs = match shared {
        Some(a) => Arc::clone(&a.actions),
        None => Arc::from(put.actions),
    };
    // Actions handed over decoded (a translated miss's) are the ones
    // `put.actions` encodes.
    debug_assert!(decoded_actions
        .as_ref()
        .is_none_or(|a| Actions::from_nlattrs(put.actions).is_ok_and(|d| d.list == *a)));
    let actions = match decoded_actions {
        Some(a) => a,
        None => Actions::from_nlattrs(put.actions)?.list,
    };
    actions::validate(&actions).map_err(|m| err(libc::EINVAL, m))?;
    let ufid = put.ufid.unwrap_or_else(|| ufid_of_key(put.key));
    if put.flags.create && !put.flags.modify {
        // A new flow (every miss's put): built before the lock, and
        // refused when its UFID or its match is there already, with one
        // hash of the key.
        let flow = Arc::new(Megaflow {
            key,
            mask,
            ufid,
            key_attrs: shared.map_or_else(|| Arc::from(put.key), |a| Arc::clone(&a.key)),
            mask_attrs: shared.map_or_else(|| Arc::from(put.mask), |a| Arc::clone(&a.mask)),
            actions_attrs,
            actions,
            counters: Arc::new(FlowCounters::default()),
            dead: AtomicBool::new(false),
        });
        let mut cls = core.flows.write().unwrap_or_else(|e| e.into_inner());
        if !cls.insert_new(Arc::clone(&flow)) {
            return Err(err(libc::EEXIST, "flow already exists"));
        }
        return Ok((None, flow));
    }
    let mut cls = core.flows.write().unwrap_or_else(|e| e.into_inner());
    let existing = cls
        .get(ufid)
        .cloned()
        .or_else(|| cls.find_exact(&key, &mask).cloned());
    let (counters, old_stats) = match &existing {
        Some(old) => {
            if !put.flags.modify {
                return Err(err(libc::EEXIST, "flow already exists"));
            }
            let stats = old.counters.get();
            if put.flags.zero_stats {
                old.counters.clear();
            }
            (Arc::clone(&old.counters), Some(stats))
        }
        None => {
            if !put.flags.create {
                return Err(err(libc::ENOENT, "flow does not exist"));
            }
            (Arc::new(FlowCounters::default()), None)
        }
    };
    // A modify keeps the flow's original UFID and match.
    let (ufid, key, mask, key_attrs, mask_attrs) = match &existing {
        Some(old) => (
            old.ufid,
            old.key,
            old.mask,
            old.key_attrs.clone(),
            old.mask_attrs.clone(),
        ),
        None => (
            ufid,
            key,
            mask,
            shared.map_or_else(|| Arc::from(put.key), |a| Arc::clone(&a.key)),
            shared.map_or_else(|| Arc::from(put.mask), |a| Arc::clone(&a.mask)),
        ),
    };
    let flow = Arc::new(Megaflow {
        key,
        mask,
        ufid,
        key_attrs,
        mask_attrs,
        actions_attrs,
        actions,
        counters,
        dead: AtomicBool::new(false),
    });
    cls.insert(Arc::clone(&flow));
    Ok((old_stats, flow))
}

/// Runs a packet through actions (the provider's `execute`, also used by
/// [`NetdevControl::execute`]).
fn execute(core: &DpCore, exec: &Execute<'_>, emc: &mut ExactCache, rng: &mut u64) -> Result<()> {
    execute_all(core, std::slice::from_ref(exec), emc, rng)
        .pop()
        .unwrap_or(Ok(()))
}

/// Runs packets through their actions with one output table and one
/// output context: what they send leaves together, a batch per port.
/// One result per packet, in order.
fn execute_all(
    core: &DpCore,
    execs: &[Execute<'_>],
    emc: &mut ExactCache,
    rng: &mut u64,
) -> Vec<Result<()>> {
    let mut parsed = Vec::with_capacity(execs.len());
    let results = execs
        .iter()
        .map(|exec| {
            if exec.packet.len() < datapath::MIN_FRAME {
                return Err(err(libc::EINVAL, "packet shorter than an Ethernet header"));
            }
            let meta = meta_from_key(exec.key)?;
            let actions = Actions::from_nlattrs(exec.actions)?.list;
            actions::validate(&actions).map_err(|m| err(libc::EINVAL, m))?;
            let mut pkt = Packet::from_bytes(exec.packet);
            pkt.meta = meta;
            parsed.push((pkt, actions));
            Ok(())
        })
        .collect();
    if parsed.is_empty() {
        return results;
    }
    let table = core.port_table();
    let mut recirc = Vec::new();
    let mut ctx = actions::ExecCtx {
        ports: &table,
        upcalls: &core.upcalls,
        conntrack: &core.conntrack,
        meters: &core.meters,
        recirc: &mut recirc,
        dropped: 0,
        rng,
        pending: Vec::new(),
    };
    for (pkt, actions) in parsed {
        actions::execute(pkt, &actions, &mut ctx);
    }
    let main = core.pmd_stats.last();
    let (pkts, batches) = ctx.flush();
    if let Some(st) = main {
        pmd_stats::PmdStats::add(&st.sent_pkts, pkts);
        pmd_stats::PmdStats::add(&st.sent_batches, batches);
    }
    let dropped = ctx.dropped;
    if dropped > 0 {
        core.counters
            .action_drops
            .fetch_add(dropped, Ordering::Relaxed);
    }
    // Recirculated packets go through the flow table like received ones
    // (their misses go to the handler threads: the caller may hold locks
    // a translation needs).
    let fallback = pmd_stats::PmdStats::default();
    let st = core.pmd_stats.last().unwrap_or(&fallback);
    core.process(&mut recirc, &table, emc, rng, st, None);
    results
}

/// Packet metadata from the key attributes of an `execute`.
fn meta_from_key(key: &[u8]) -> Result<PacketMeta> {
    let k = Key::from_nlattrs(key)?;
    let mut m = PacketMeta::default();
    for a in &k.attrs {
        match a {
            KeyAttr::InPort(v) => m.in_port = *v,
            KeyAttr::Priority(v) => m.skb_priority = *v,
            KeyAttr::SkbMark(v) => m.skb_mark = *v,
            KeyAttr::RecircId(v) => m.recirc_id = *v,
            KeyAttr::DpHash(v) => m.dp_hash = *v,
            KeyAttr::CtState(v) => m.ct_state = *v,
            KeyAttr::CtZone(v) => m.ct_zone = *v,
            KeyAttr::CtMark(v) => m.ct_mark = *v,
            KeyAttr::CtLabels(v) => m.ct_label = *v,
            KeyAttr::Tunnel(t) => m.tunnel = odp_key::tunnel_meta(t),
            _ => {}
        }
    }
    Ok(m)
}

impl Dpif for NetdevDpif {
    fn name(&self) -> &str {
        &self.core.name
    }

    fn dp_type(&self) -> &str {
        &self.type_name
    }

    /// The userspace datapath's features as ferrovs uses them (see
    /// [`Support::FERROVS`]): it pushes and pops tunnel headers and hashes
    /// symmetrically; keys with the original direction's tuple are
    /// refused (the tuple is not tracked).
    fn support(&self) -> Support {
        Support {
            tnl_push_pop: true,
            max_hash_alg: crate::odp::OVS_HASH_ALG_SYM_L4 as usize,
            ..Support::FERROVS
        }
    }

    fn destroy(&mut self) -> Result<()> {
        self.stop();
        self.ports_write().clear();
        self.core
            .flows
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    fn stats(&mut self) -> Result<DpStats> {
        let c = &self.core.counters;
        let cls = self.core.flows.read().unwrap_or_else(|e| e.into_inner());
        Ok(DpStats {
            n_hit: c.hit.load(Ordering::Relaxed),
            n_missed: c.missed.load(Ordering::Relaxed),
            n_lost: self.core.upcalls.lost.load(Ordering::Relaxed),
            n_flows: cls.n_flows() as u64,
            n_mask_hit: c.mask_hit.load(Ordering::Relaxed),
            n_masks: cls.n_subtables() as u32,
        })
    }

    fn port_add(&mut self, spec: &PortSpec) -> Result<OdpPort> {
        if spec.name.is_empty() {
            return Err(err(libc::EINVAL, "port name is empty"));
        }
        {
            let ports = self.ports_read();
            if ports.values().any(|p| p.name == spec.name) {
                return Err(err(
                    libc::EEXIST,
                    format!("{}: port already exists", spec.name),
                ));
            }
            if let Some(n) = spec.port_no {
                if ports.contains_key(&n) || n > MAX_PORTS {
                    return Err(err(
                        libc::EBUSY,
                        format!("port number {n} is in use or invalid"),
                    ));
                }
            }
        }
        let kind = if spec.port_type.is_empty() {
            "system"
        } else {
            spec.port_type.as_str()
        };
        let (dev, dummy) = match TunnelKind::from_type(kind) {
            // Tunnel ports are datapath objects, dummy or not (as in Open
            // vSwitch, whose tunnel tests run on the dummy datapath).
            Some(tk) => {
                let port = spec
                    .options
                    .iter()
                    .find(|(k, _)| k == "dst_port")
                    .map(|(_, v)| {
                        v.parse::<u16>()
                            .map_err(|_| err(libc::EINVAL, format!("bad dst_port {v:?}")))
                    })
                    .transpose()?
                    .unwrap_or(0);
                let d: Arc<dyn Netdev> = Arc::new(TunnelDev::new(&spec.name, tk, kind, port));
                (d, None)
            }
            _ => open_device(&spec.name, kind, self.mode)?,
        };
        let mut ports = self.ports_write();
        let port_no = match spec.port_no {
            Some(n) => n,
            None => {
                let wanted = if self.number_by_name {
                    dummy_port_from_name(&spec.name).filter(|n| !ports.contains_key(n))
                } else {
                    None
                };
                match wanted {
                    Some(n) => n,
                    // The lowest free number: the one after the last when
                    // 0..=last are all taken (no scan), else the first gap.
                    None => match ports.last_key_value() {
                        Some((&last, _))
                            if last < MAX_PORTS && ports.len() as u64 == u64::from(last) + 1 =>
                        {
                            last + 1
                        }
                        _ => (1..=MAX_PORTS)
                            .find(|n| !ports.contains_key(n))
                            .ok_or_else(|| err(libc::EFBIG, "no free port number"))?,
                    },
                }
            }
        };
        if ports.contains_key(&port_no) || ports.values().any(|p| p.name == spec.name) {
            return Err(err(
                libc::EEXIST,
                format!("{}: port already exists", spec.name),
            ));
        }
        ports.insert(
            port_no,
            Port {
                name: spec.name.clone(),
                kind: kind.to_string(),
                dev,
                dummy,
            },
        );
        self.core.port_changed(port_no);
        Ok(port_no)
    }

    fn port_del(&mut self, port_no: OdpPort) -> Result<()> {
        if port_no == 0 {
            return Err(err(libc::EINVAL, "the local port cannot be deleted"));
        }
        let removed = self.ports_write().remove(&port_no);
        match removed {
            Some(port) => {
                self.core.port_changed(port_no);
                // Stock closes the device (a tap goes from the system)
                // before the deletion returns. The poll threads, woken by
                // the change, let go of it within a round; a thread stuck
                // elsewhere costs at most the bound, and the device then
                // closes when that thread lets go.
                if port.dummy.is_none() {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
                    while Arc::strong_count(&port.dev) > 1 && std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
                Ok(())
            }
            None => Err(err(libc::ENOENT, format!("no port {port_no}"))),
        }
    }

    fn port_query_by_name(&mut self, name: &str) -> Result<DpifPort> {
        self.ports_read()
            .iter()
            .find(|(_, p)| p.name == name)
            .map(|(n, p)| DpifPort {
                name: p.name.clone(),
                port_type: p.kind.clone(),
                port_no: *n,
            })
            .ok_or_else(|| err(libc::ENODEV, format!("{name}: no such port")))
    }

    fn port_query_by_number(&mut self, port_no: OdpPort) -> Result<DpifPort> {
        self.ports_read()
            .get(&port_no)
            .map(|p| DpifPort {
                name: p.name.clone(),
                port_type: p.kind.clone(),
                port_no,
            })
            .ok_or_else(|| err(libc::ENOENT, format!("no port {port_no}")))
    }

    fn port_dump(&mut self) -> Result<Vec<DpifPort>> {
        Ok(self
            .ports_read()
            .iter()
            .map(|(n, p)| DpifPort {
                name: p.name.clone(),
                port_type: p.kind.clone(),
                port_no: *n,
            })
            .collect())
    }

    fn flow_put(&mut self, put: &FlowPut<'_>) -> Result<Option<FlowStats>> {
        flow_put(&self.core, put)
    }

    fn flow_get(&mut self, id: FlowId<'_>) -> Result<DpFlow> {
        let cls = self.core.flows.read().unwrap_or_else(|e| e.into_inner());
        let f = match id {
            FlowId::Ufid(u) => cls.get(u).cloned(),
            FlowId::Key(k) => cls
                .get(ufid_of_key(k))
                .cloned()
                .or_else(|| cls.flows().find(|f| *f.key_attrs == *k).cloned()),
        };
        f.map(|f| to_dpflow(&f))
            .ok_or_else(|| err(libc::ENOENT, "flow does not exist"))
    }

    fn flow_del(&mut self, id: FlowId<'_>) -> Result<FlowStats> {
        let mut cls = self.core.flows.write().unwrap_or_else(|e| e.into_inner());
        let ufid = match id {
            FlowId::Ufid(u) => Some(u),
            FlowId::Key(k) => {
                let u = ufid_of_key(k);
                if cls.get(u).is_some() {
                    Some(u)
                } else {
                    cls.flows().find(|f| *f.key_attrs == *k).map(|f| f.ufid)
                }
            }
        };
        ufid.and_then(|u| cls.remove(u))
            .map(|f| f.counters.get())
            .ok_or_else(|| err(libc::ENOENT, "flow does not exist"))
    }

    fn flow_flush(&mut self) -> Result<()> {
        self.core
            .flows
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    fn flow_dump(&mut self) -> Result<Vec<DpFlow>> {
        let cls = self.core.flows.read().unwrap_or_else(|e| e.into_inner());
        Ok(cls.flows().map(|f| to_dpflow(f)).collect())
    }

    fn flow_dump_stats(&mut self) -> Result<Vec<(Ufid, FlowStats)>> {
        let cls = self.core.flows.read().unwrap_or_else(|e| e.into_inner());
        Ok(cls.flows().map(|f| (f.ufid, f.counters.get())).collect())
    }

    fn execute(&mut self, exec: &Execute<'_>) -> Result<()> {
        execute(&self.core, exec, &mut self.emc, &mut self.rng)
    }
}
