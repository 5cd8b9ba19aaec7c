//! The OpenFlow service: one thread running a mio event loop that serves
//! each bridge's `punix:` management socket and its controller
//! connections, and the small API the daemon drives it with.

use crate::connmgr::{Listener, Stream, Target};
use crate::openflow::error_table::OfpErr;
use crate::switch::{
    error_msg, hello, hello_versions, ConnState, Header, PortInfo, PortStatsSource, Switch,
};
use crate::switch::{RemovedRule, ROLE_PRIMARY, ROLE_SECONDARY};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

pub mod changes;
mod direct;
pub use self::direct::UpcallTranslator;
mod event_loop;
mod fail_open;
mod in_band;
mod reply_poll;
mod trim;
use self::event_loop::EventLoop;
use std::time::{Duration, Instant};

/// OpenFlow 1.0 to 1.5 as a version bitmap (bit n = wire version n).
pub const ALL_VERSIONS: u32 = 0b111_1110;

/// How the daemon describes a bridge to the service.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub name: String,
    pub datapath_id: u64,
    /// Where to listen, normally `<rundir>/<bridge>.mgmt`.
    pub mgmt_path: PathBuf,
    /// Allowed OpenFlow versions as a bitmap (bit n = wire version n);
    /// see [`versions_from_protocols`].
    pub versions: u32,
    /// Install `priority=0,actions=NORMAL` (no controller, fail-mode
    /// standalone), as stock does.
    pub normal_flow: bool,
}

/// Converts the Bridge `protocols` column (e.g. `["OpenFlow10",
/// "OpenFlow13"]`) to a version bitmap; empty means OpenFlow 1.0 to 1.5.
pub fn versions_from_protocols(protocols: &[String]) -> u32 {
    let mut bm = 0;
    for p in protocols {
        if let Some(n) = p
            .strip_prefix("OpenFlow1")
            .and_then(|d| d.parse::<u32>().ok())
        {
            if n <= 5 {
                bm |= 1 << (n + 1);
            }
        }
    }
    if bm == 0 {
        ALL_VERSIONS
    } else {
        bm
    }
}

/// One entry of the bridge's Controller column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `tcp:IP[:PORT]`, `unix:PATH`, `ptcp:[PORT][:IP]` or `punix:PATH`.
    pub target: String,
    /// Idle time before an echo request probes the peer (the column's
    /// inactivity_probe; 0 disables probing). Default 5 s.
    pub inactivity_probe: Duration,
    /// Longest wait between reconnection attempts (max_backoff). Default 8 s.
    pub max_backoff: Duration,
    /// In-band control applies (connection_mode in-band, the database's
    /// default, and no other_config:disable-in-band): see `in_band`.
    pub in_band: bool,
}

impl ControllerConfig {
    pub fn new(target: &str) -> Self {
        ControllerConfig {
            target: target.to_string(),
            inactivity_probe: Duration::from_secs(5),
            max_backoff: Duration::from_secs(8),
            in_band: false,
        }
    }
}

/// What happens to the flow table without controllers (Bridge fail_mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Without controllers the bridge is a learning switch: stock installs
    /// `priority=0,actions=NORMAL`.
    Standalone,
    /// Only what controllers install.
    Secure,
}

/// A controller connection's state, for the Controller table's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerStatus {
    pub target: String,
    pub is_connected: bool,
    /// "master", "slave" or "other".
    pub role: String,
    /// "ACTIVE", "BACKOFF", "CONNECTING" or "LISTENING".
    pub state: String,
    pub last_error: Option<String>,
    pub sec_since_connect: Option<u64>,
    pub sec_since_disconnect: Option<u64>,
}

/// Changes to some ports of one bridge of a topology.
#[derive(Debug, Clone, Default)]
pub struct TopologyPatch {
    pub bridge: String,
    /// Per OpenFlow port: its datapath port number and what translation
    /// knows of it, each `None` for none (the entry is removed).
    pub ports: Vec<(u16, Option<u32>, Option<crate::xlate::topology::PortTopo>)>,
    pub routes_generation: u64,
}

impl TopologyPatch {
    /// Applies the patch; returns whether translations may have changed:
    /// whenever an entry differs (a whole new topology is judged by
    /// whether any port crosses bridges, a scan of every port; a patch
    /// comes with a port change, which changes the tables generation
    /// anyway, so it is not worth one).
    fn apply(self, topo: &mut crate::xlate::topology::Topology) -> bool {
        let mut changed = topo.routes_generation != self.routes_generation;
        topo.routes_generation = self.routes_generation;
        let bt = topo.bridges.entry(self.bridge).or_default();
        for (ofport, odp, port) in self.ports {
            let old_odp = match odp {
                Some(o) => bt.odp_ports.insert(ofport, o),
                None => bt.odp_ports.remove(&ofport),
            };
            changed |= old_odp != odp;
            let old = match port {
                Some(p) => {
                    let same = bt.ports.get(&ofport) == Some(&p);
                    changed |= !same;
                    if same {
                        continue;
                    }
                    bt.ports.insert(ofport, p)
                }
                None => bt.ports.remove(&ofport),
            };
            changed |= old.is_some();
        }
        changed
    }
}

enum Cmd {
    AddBridge(BridgeConfig, Sender<io::Result<()>>),
    RemoveBridge(String, Sender<()>),
    /// Answers once every command sent before it is done.
    Settle(Sender<()>),
    SetPorts(String, Vec<PortInfo>),
    UpdatePorts(String, Vec<PortInfo>, Vec<u16>),
    SetPortStats(String, PortStatsSource),
    SetDatapathId(String, u64),
    ReconnectControllers(Option<String>),
    SetVersions(String, u32),
    SetTableName(String, u8, String),
    SetSnoop(String, Option<PathBuf>, Sender<io::Result<()>>),
    SetPortModHook(String, crate::switch::PortModHook),
    SetPacketOutHook(String, crate::switch::PacketOutHook),
    SetCtFlushHook(String, crate::switch::CtFlushHook),
    SetResumeHook(String, crate::switch::ResumeHook),
    SetTableSettings(String, u8, crate::switch::TableSettings),
    PacketIn(String, Box<crate::switch::PacketIn>),
    SetControllers(String, Vec<ControllerConfig>, FailMode, Sender<Vec<String>>),
    SetInBandExtras(String, Vec<std::net::SocketAddrV4>, Option<u32>),
    ControllerStatus(String, Sender<Vec<ControllerStatus>>),
    DumpFlows(String, Sender<Option<String>>),
    Translate(
        String,
        crate::xlate::upcall::UpcallRequest,
        Sender<Result<crate::xlate::upcall::UpcallXlate, String>>,
    ),
    /// Refresh what flows that carried packets learned (their credits
    /// are added by the caller).
    Credit(String, Vec<crate::xlate::upcall::Credit>),
    TranslateBatch(
        Vec<UpcallItem>,
        Sender<Vec<Result<crate::xlate::upcall::UpcallXlate, String>>>,
    ),
    ListBridges(Sender<Vec<String>>),
    SetPortVlans(String, HashMap<u16, crate::switch::PortVlan>),
    SetMirrors(
        String,
        Vec<crate::xlate::mirror::MirrorCfg>,
        Arc<crate::xlate::mirror::MirrorStats>,
    ),
    SetMacConfig(String, crate::mac_learning::MacConfig),
    Fdb(FdbRequest, Sender<Result<String, String>>),
    SetTopology(String, Arc<crate::xlate::topology::Topology>),
    PatchTopology(String, TopologyPatch),
    /// A handler's translation changed these bridges' tables (learning):
    /// their connections may be owed messages.
    DeliverAsync(Vec<String>),
    Shutdown,
}

/// One MISS upcall of a batch for [`OfprotoService::translate_upcalls`].
#[derive(Debug, Clone)]
pub struct UpcallItem {
    /// The bridge whose port the packet came in on (shared, not copied
    /// per upcall).
    pub bridge: std::sync::Arc<str>,
    pub req: crate::xlate::upcall::UpcallRequest,
    /// The packet's length: the packet is credited to the rules it went
    /// through. `None` for a translation that is no packet's
    /// (revalidation).
    pub packet_len: Option<u64>,
}

/// The `fdb/*` commands (the bridge's MAC learning table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdbRequest {
    /// `fdb/show BRIDGE`.
    Show(String),
    /// `fdb/flush [BRIDGE]` (all bridges without one).
    Flush(Option<String>),
    /// `fdb/stats-show BRIDGE`.
    StatsShow(String),
    /// `fdb/stats-clear [BRIDGE]`.
    StatsClear(Option<String>),
    /// `fdb/add BRIDGE PORT VLAN MAC`: a static entry.
    Add {
        bridge: String,
        port: String,
        vlan: String,
        mac: String,
    },
    /// `fdb/del BRIDGE VLAN MAC`: removes a static entry.
    Del {
        bridge: String,
        vlan: String,
        mac: String,
    },
}

/// Stack of the service thread: it translates for the revalidators
/// (`translate_upcalls`), and translation recurses once per resubmit and
/// nested action, as deep as a controller's rules take it.
pub(crate) const THREAD_STACK: usize = 64 << 20;

/// The stack a thread needs to translate (an [`UpcallTranslator`]'s
/// handler thread, and the daemon's main thread for `ofproto/trace`): as
/// the service thread's.
pub const TRANSLATION_STACK: usize = THREAD_STACK;

/// Handle to the running service. Dropping it shuts the service down.
pub struct OfprotoService {
    tx: Sender<Cmd>,
    tables_generation: Arc<AtomicU64>,
    changes: Arc<changes::Changes>,
    shared: Arc<direct::Shared>,
    waker: Arc<Waker>,
    /// Whether a command went to the service thread since the last
    /// [`Self::settle`]: a reader of the shared tables waits for those
    /// commands first, as if it had queued behind them.
    unsettled: AtomicBool,
    thread: Option<JoinHandle<()>>,
}

const WAKER: Token = Token(0);
/// Per-connection limits: unread replies before requests wait, and
/// unprocessed requests before the connection is dropped.
const MAX_TX_BACKLOG: usize = 16 << 20;
const MAX_RX_BACKLOG: usize = 64 << 20;
/// Timer granularity for timeouts, probes and reconnection.
const TICK: Duration = Duration::from_millis(250);

impl OfprotoService {
    /// Starts the service thread.
    pub fn start() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = channel();
        let tables_generation = Arc::new(AtomicU64::new(0));
        let changes = Arc::new(changes::Changes::new(Arc::clone(&tables_generation)));
        let log = Arc::clone(&changes);
        let shared = Arc::new(direct::Shared::default());
        let loop_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ofproto".into())
            .stack_size(THREAD_STACK)
            .spawn(move || EventLoop::new(poll, rx, log, loop_shared).run())?;
        Ok(OfprotoService {
            tx,
            tables_generation,
            changes,
            shared,
            waker,
            unsettled: AtomicBool::new(false),
            thread: Some(thread),
        })
    }

    fn send(&self, c: Cmd) {
        self.unsettled.store(true, Ordering::Release);
        if self.tx.send(c).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Returns once the service thread has done every command this
    /// handle sent before (a port, VLAN or mirror change that a caller
    /// then expects to see in the tables); at once when none was sent
    /// since the last call.
    fn settle(&self) {
        if self.unsettled.swap(false, Ordering::AcqRel) {
            let (tx, rx) = channel();
            if self.tx.send(Cmd::Settle(tx)).is_ok() {
                let _ = self.waker.wake();
                let _ = rx.recv();
            }
        }
    }

    /// Adds a bridge and starts listening on its management socket
    /// (replacing a stale socket file).
    pub fn add_bridge(&self, cfg: BridgeConfig) -> io::Result<()> {
        let (tx, rx) = channel();
        self.send(Cmd::AddBridge(cfg, tx));
        rx.recv()
            .unwrap_or_else(|_| Err(io::Error::other("ofproto service stopped")))
    }

    /// Removes a bridge, closing its connections and sockets; returns once
    /// the socket files are gone (as `ovs-vsctl del-br` expects).
    pub fn remove_bridge(&self, name: &str) {
        let (tx, rx) = channel();
        self.send(Cmd::RemoveBridge(name.to_string(), tx));
        let _ = rx.recv();
    }

    /// Replaces the bridge's port list (connections get port-status
    /// messages for the differences).
    pub fn set_ports(&self, bridge: &str, ports: Vec<PortInfo>) {
        self.send(Cmd::SetPorts(bridge.to_string(), ports));
    }

    /// Changes some of the bridge's ports: `removed` numbers go, each of
    /// `upserts` is added or replaces the port of its number. What
    /// `set_ports` with the whole list would do, at the cost of the
    /// changed ports alone.
    pub fn update_ports(&self, bridge: &str, upserts: Vec<PortInfo>, removed: Vec<u16>) {
        self.send(Cmd::UpdatePorts(bridge.to_string(), upserts, removed));
    }

    /// Sets where the bridge's port counters come from (port statistics
    /// requests call it on the service thread).
    pub fn set_port_stats_source(&self, bridge: &str, source: PortStatsSource) {
        self.send(Cmd::SetPortStats(bridge.to_string(), source));
    }

    /// Sets what to call when a port_mod changes a port's config (so the
    /// daemon can bring the device down for port_down). Config bits of
    /// existing ports belong to OpenFlow: later `set_ports` keep them.
    pub fn set_port_mod_hook(&self, bridge: &str, hook: crate::switch::PortModHook) {
        self.send(Cmd::SetPortModHook(bridge.to_string(), hook));
    }

    /// Changes the bridge's datapath id (other-config:datapath-id, or the
    /// bridge MAC changing); later features replies carry it.
    pub fn set_datapath_id(&self, bridge: &str, dpid: u64) {
        self.send(Cmd::SetDatapathId(bridge.to_string(), dpid));
    }

    /// Drops the connections to the active controllers of `bridge` (of
    /// every bridge: `None`), which then connect again after their
    /// backoff, as stock's `bridge/reconnect` and a datapath ID change do.
    pub fn reconnect_controllers(&self, bridge: Option<&str>) {
        self.send(Cmd::ReconnectControllers(bridge.map(str::to_string)));
    }

    /// Changes the OpenFlow versions the bridge accepts (the Bridge
    /// `protocols` column changed); new connections negotiate with them,
    /// established ones keep their version, as in stock.
    pub fn set_versions(&self, bridge: &str, versions: u32) {
        self.send(Cmd::SetVersions(bridge.to_string(), versions));
    }

    /// Listens for `ovs-ofctl snoop` on `path` (normally
    /// `<rundir>/<bridge>.snoop`), or stops with None. A snoop connection
    /// sees every message to and from an active controller connection.
    pub fn set_snoop(&self, bridge: &str, path: Option<PathBuf>) -> io::Result<()> {
        let (tx, rx) = channel();
        self.send(Cmd::SetSnoop(bridge.to_string(), path, tx));
        rx.recv()
            .unwrap_or_else(|_| Err(io::Error::other("ofproto service stopped")))
    }

    /// Names a table (the Bridge's flow_tables → Flow_Table name); ""
    /// removes the name.
    pub fn set_table_name(&self, bridge: &str, table: u8, name: &str) {
        self.send(Cmd::SetTableName(
            bridge.to_string(),
            table,
            name.to_string(),
        ));
    }

    /// Sets what executes PACKET_OUT messages (the datapath).
    pub fn set_packet_out_hook(&self, bridge: &str, hook: crate::switch::PacketOutHook) {
        self.send(Cmd::SetPacketOutHook(bridge.to_string(), hook));
    }

    /// Runs the bridge's NXT_CT_FLUSH_ZONE and NXT_CT_FLUSH on its
    /// datapath's connection tracker.
    pub fn set_ct_flush_hook(&self, bridge: &str, hook: crate::switch::CtFlushHook) {
        self.send(Cmd::SetCtFlushHook(bridge.to_string(), hook));
    }

    /// Applies a Flow_Table row to table `table` (name, flow limit,
    /// overflow policy, eviction groups); rules over a lowered limit are
    /// evicted when the table evicts.
    pub fn set_table_settings(&self, bridge: &str, table: u8, s: crate::switch::TableSettings) {
        self.send(Cmd::SetTableSettings(bridge.to_string(), table, s));
    }

    /// Sets what executes NXT_RESUME (the datapath).
    pub fn set_resume_hook(&self, bridge: &str, hook: crate::switch::ResumeHook) {
        self.send(Cmd::SetResumeHook(bridge.to_string(), hook));
    }

    /// Sets what installs the bridge's OpenFlow meters in its datapath
    /// (called on the service thread after each meter change).
    pub fn set_meter_hook(&self, bridge: &str, hook: crate::xlate::meter::MeterHook) {
        crate::xlate::meter::set_hook(bridge, hook);
    }

    /// Sends a packet-in to the bridge's connections that take it.
    pub fn packet_in(&self, bridge: &str, pi: crate::switch::PacketIn) {
        self.send(Cmd::PacketIn(bridge.to_string(), Box::new(pi)));
    }

    /// Replaces the bridge's controllers and fail mode. Connections to
    /// controllers that stay are kept. As in stock, going from no
    /// controller to some (or back) flushes the flow table, and a
    /// standalone bridge without controllers gets its NORMAL flow.
    /// Returns the targets that could not be used, with the reason.
    pub fn set_controllers(
        &self,
        bridge: &str,
        controllers: Vec<ControllerConfig>,
        fail_mode: FailMode,
    ) -> Vec<String> {
        let (tx, rx) = channel();
        self.send(Cmd::SetControllers(
            bridge.to_string(),
            controllers,
            fail_mode,
            tx,
        ));
        rx.recv().unwrap_or_default()
    }

    /// In-band control's settings besides the controllers: the managers'
    /// addresses (in-band Manager targets that are not loopback), which
    /// get in-band rules as controllers do, and the queue the rules set
    /// (other_config:in-band-queue).
    pub fn set_in_band_extras(
        &self,
        bridge: &str,
        managers: Vec<std::net::SocketAddrV4>,
        queue: Option<u32>,
    ) {
        self.send(Cmd::SetInBandExtras(bridge.to_string(), managers, queue));
    }

    /// The address of a `tcp:`/`ssl:` IPv4 target, with `default_port`
    /// when it names none (6640 for managers).
    pub fn in_band_target(target: &str, default_port: u16) -> Option<std::net::SocketAddrV4> {
        in_band::parse_target(target, default_port)
    }

    /// The state of each controller, for the Controller table.
    pub fn controller_status(&self, bridge: &str) -> Vec<ControllerStatus> {
        let (tx, rx) = channel();
        self.send(Cmd::ControllerStatus(bridge.to_string(), tx));
        rx.recv().unwrap_or_default()
    }

    /// The bridge's flows as text, or `None` for an unknown bridge.
    pub fn dump_flows(&self, bridge: &str) -> Option<String> {
        let (tx, rx) = channel();
        self.send(Cmd::DumpFlows(bridge.to_string(), tx));
        rx.recv().ok().flatten()
    }

    /// How many rules `dump_flows` would list (read from the bridge's
    /// tables directly, without the text), or `None` for an unknown
    /// bridge.
    pub fn rule_count(&self, bridge: &str) -> Option<usize> {
        let sw = self.shared.switches().get(bridge)?.clone();
        let n = sw.read().dump_flows_count();
        Some(n)
    }

    /// `ofproto/trace`: translates a flow through the bridge's tables on
    /// the calling thread, under the switches' read locks as a handler
    /// translates (a trip to the service thread and back cost more than
    /// the translation), and returns the report, or the error text stock
    /// prints for a bad bridge or flow.
    pub fn trace(&self, bridge: &str, req: crate::xlate::TraceRequest) -> Result<String, String> {
        self.settle();
        let topo = self.shared.topology_of(bridge);
        let registry = self.shared.switches();
        if !registry.contains_key(bridge) {
            return Err("no bridge named ".to_string() + bridge);
        }
        direct::with_reachable(&registry, topo.as_deref(), bridge, |sws| {
            crate::xlate::trace_world(sws, topo.as_deref(), bridge, &req)
        })
    }

    /// Translates a MISS upcall's datapath key through the bridge's
    /// tables on the service thread (as `trace` does).
    pub fn translate_upcall(
        &self,
        bridge: &str,
        req: crate::xlate::upcall::UpcallRequest,
    ) -> Result<crate::xlate::upcall::UpcallXlate, String> {
        let (tx, rx) = channel();
        self.send(Cmd::Translate(bridge.to_string(), req, tx));
        rx.recv()
            .unwrap_or_else(|_| Err("the OpenFlow service has stopped".into()))
    }

    /// Translates a batch of MISS upcalls in one trip to the service
    /// thread (as [`Self::translate_upcall`] each), and credits each
    /// packet to the rules it went through (see [`UpcallItem`]); one
    /// answer per item, in order. (The revalidators use it; handlers
    /// translate on their own thread with [`Self::upcall_translator`].)
    pub fn translate_upcalls(
        &self,
        items: Vec<UpcallItem>,
    ) -> Vec<Result<crate::xlate::upcall::UpcallXlate, String>> {
        let n = items.len();
        let (tx, rx) = channel();
        self.send(Cmd::TranslateBatch(items, tx));
        rx.recv()
            .unwrap_or_else(|_| vec![Err("the OpenFlow service has stopped".into()); n])
    }

    /// A translator for the calling thread: translates MISS upcalls
    /// there, reading the bridges' tables directly, with no trip to the
    /// service thread (see [`UpcallTranslator`]).
    pub fn upcall_translator(&self) -> UpcallTranslator {
        UpcallTranslator::new(
            Arc::clone(&self.shared),
            Arc::clone(&self.changes),
            self.tx.clone(),
            Arc::clone(&self.waker),
        )
    }

    /// Adds datapath flow statistics to the bridge's rules (the
    /// revalidators' pushes), on the calling thread: rule counters are
    /// atomics, each bridge's switch is only read-locked (one at a time;
    /// patch ports make a flow's rules span bridges). Only the learned
    /// rules and MACs of flows that carried packets go to the service to
    /// refresh, which writes.
    pub fn credit_stats(&self, bridge: &str, credits: Vec<crate::xlate::upcall::Credit>) {
        if credits.is_empty() {
            return;
        }
        let switches: Vec<crate::switch::SharedSwitch> =
            self.shared.switches().values().cloned().collect();
        for sw in &switches {
            crate::xlate::upcall::credit_stats(&sw.read(), &credits);
        }
        let refresh: Vec<_> = credits
            .into_iter()
            .filter(|c| c.packets > 0 && !c.learned.is_empty())
            .collect();
        if !refresh.is_empty() {
            self.send(Cmd::Credit(bridge.to_string(), refresh));
        }
    }

    /// A number that grows whenever some bridge's flow, group or meter
    /// tables may have changed (over-approximated: every modifying
    /// message counts), so that datapath flows translated before can be
    /// found stale.
    pub fn tables_generation(&self) -> u64 {
        self.tables_generation.load(Ordering::Acquire)
    }

    /// The log of what moved the tables generation (for revalidators to
    /// tell which flows a change may affect).
    pub fn changes(&self) -> Arc<changes::Changes> {
        Arc::clone(&self.changes)
    }

    /// A shared handle on [`Self::tables_generation`] for other threads.
    pub fn tables_generation_handle(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.tables_generation)
    }

    /// Sets each port's VLAN settings for the NORMAL action (by OpenFlow
    /// port number; ports left out are trunks of every VLAN).
    pub fn set_port_vlans(&self, bridge: &str, vlans: HashMap<u16, crate::switch::PortVlan>) {
        self.send(Cmd::SetPortVlans(bridge.to_string(), vlans));
    }

    /// Sets the bridge's port mirrors; their statistics go to `stats`.
    pub fn set_mirrors(
        &self,
        bridge: &str,
        mirrors: Vec<crate::xlate::mirror::MirrorCfg>,
        stats: Arc<crate::xlate::mirror::MirrorStats>,
    ) {
        self.send(Cmd::SetMirrors(bridge.to_string(), mirrors, stats));
    }

    /// Applies the Bridge's L2 settings: MAC aging time and table size,
    /// flood VLANs, forward-bpdu.
    pub fn set_mac_config(&self, bridge: &str, cfg: crate::mac_learning::MacConfig) {
        self.send(Cmd::SetMacConfig(bridge.to_string(), cfg));
    }

    /// Runs an `fdb/*` command; the reply text or stock's error text.
    pub fn fdb(&self, req: FdbRequest) -> Result<String, String> {
        let (tx, rx) = channel();
        self.send(Cmd::Fdb(req, tx));
        rx.recv()
            .unwrap_or_else(|_| Err("the OpenFlow service has stopped".into()))
    }

    /// What translation needs to know about the bridges of datapath type
    /// `dp_type` beyond their tables (patch peers, tunnels, addresses).
    /// A change may change translations: the tables generation moves.
    pub fn set_topology(&self, dp_type: &str, topo: Arc<crate::xlate::topology::Topology>) {
        self.send(Cmd::SetTopology(dp_type.to_string(), topo));
    }

    /// Changes some ports of one bridge in the topology of `dp_type`
    /// (which `set_topology` gave before): the cost of the changed ports,
    /// not of a whole topology. Ignored for a datapath type with no
    /// topology yet.
    pub fn patch_topology(&self, dp_type: &str, patch: TopologyPatch) {
        self.send(Cmd::PatchTopology(dp_type.to_string(), patch));
    }

    /// Names of the bridges, sorted (for ofproto/list).
    pub fn list_bridges(&self) -> Vec<String> {
        let (tx, rx) = channel();
        self.send(Cmd::ListBridges(tx));
        rx.recv().unwrap_or_default()
    }

    /// Stops the service thread and closes every socket.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.send(Cmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OfprotoService {
    fn drop(&mut self) {
        self.stop();
    }
}
