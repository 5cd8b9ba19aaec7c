//! Upcall handlers: threads that turn a datapath's MISS upcalls into
//! megaflows, for both providers (the userspace datapath's queues and the
//! kernel module's netlink sockets, see [`UpcallSource`]).
//!
//! Each handler owns one upcall source and works in batches: it takes the
//! upcalls that are waiting (up to [`UPCALL_BATCH`]), and for each finds
//! the bridge whose port the packet came in on and has the OpenFlow
//! service translate the datapath key through that bridge's tables (the
//! request `ofproto/trace` also uses). Then, under one datapath lock for
//! the whole batch, it installs the megaflows (key, mask, actions, a UFID
//! made from the key) unless translation says the flow must stay in
//! userspace or the flow limit is reached, and executes the packets.
//!
//! The flow limit (Open_vSwitch other_config:flow-limit, stock's default
//! 10000): while the datapath holds that many flows, handlers still
//! forward the packets but install no flow, as stock's handlers do; the
//! count is re-read from the datapath every [`FLOW_COUNT_REFRESH`].
//! Upcalls the datapath could not deliver (socket full) are the
//! datapath's `lost` counter; a handler goes on after such an overrun.
//!
//! Every installed flow leaves a ukey (key, mask, actions, the rules it
//! went through, the tables generation it was translated with) for the
//! datapath's revalidators (`crate::revalidator`), which credit its
//! statistics to the rules, expire it when idle, and translate it again
//! when the tables (or the bridges' ports) have changed since. A flow
//! translated while a change happened is installed all the same: its
//! ukey carries the older generation, so the next pass looks at it.
//!
//! ACTION upcalls raised by the `userspace` actions `controller`
//! translates to (stock's controller cookie, see
//! `ferrovs_ofproto::xlate::packet_in`) become packet-ins for the
//! bridge's OpenFlow connections; this includes the first packet of a
//! flow, whose execution raises the upcall like later packets' do. Other
//! ACTION upcalls (another cookie, a forgotten state) are counted in
//! `action_unhandled`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrovs_dpif::netdev::{
    FlowAttrs, InstalledFlow, Miss, MissHandler, MissVerdict, NetdevControl, UpcallReceiver,
};
use ferrovs_dpif::netlink::UpcallSocket;
use ferrovs_dpif::{Dpif, DpifError, Execute, FlowPut, FlowStats, PutFlags, Upcall, UpcallKind};
use ferrovs_netdev::FlowKey;
use ferrovs_ofproto::service::changes::Scope;
use ferrovs_ofproto::service::{OfprotoService, UpcallItem, UpcallTranslator, TRANSLATION_STACK};
use ferrovs_ofproto::xlate::packet_in::{self, NotPacketIn};
use ferrovs_ofproto::xlate::upcall::{PacketOutRequest, UpcallRequest, UpcallXlate};
use ferrovs_ofproto::PacketOut;

use crate::bridge::{lock_dpif, SharedDpif};
use crate::revalidator::{Revalidators, Ukey, Ukeys};

/// How often an idle handler looks at the flow count and whether it must
/// stop.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// At most this many upcalls are handled under one datapath lock.
pub const UPCALL_BATCH: usize = 64;

/// How often the datapath's flow count is re-read for the flow limit.
pub const FLOW_COUNT_REFRESH: Duration = Duration::from_millis(100);

/// Where one handler's upcalls come from.
pub enum UpcallSource {
    /// A queue of the userspace datapath.
    Userspace(UpcallReceiver),
    /// A netlink socket the kernel module sends upcalls to.
    Kernel(UpcallSocket),
}

impl UpcallSource {
    /// The next upcall, waiting at most `timeout`; `Ok(None)` when none
    /// came in time.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Upcall>, DpifError> {
        match self {
            UpcallSource::Userspace(rx) => rx.recv(Some(timeout)),
            UpcallSource::Kernel(sock) => sock.recv(Some(timeout)),
        }
    }
}

/// Whether a receive error ends the handler: the userspace datapath is
/// gone (ENODEV) or the socket is unusable. A kernel socket overrun
/// (ENOBUFS: the kernel counted the upcalls it dropped as lost) or one
/// malformed message is not.
fn is_fatal(e: &DpifError) -> bool {
    !matches!(
        e.errno,
        libc::ENOBUFS | libc::EPROTO | libc::EMSGSIZE | libc::EINTR | libc::EAGAIN | libc::EINVAL
    )
}

/// A bridge as the handlers see it: its name and its OpenFlow to
/// datapath port map.
pub type BridgePorts = Arc<(Arc<str>, Arc<HashMap<u16, u32>>)>;

/// Datapath port number to the bridge that owns the port.
pub type PortMap = Arc<RwLock<HashMap<u32, BridgePorts>>>;

/// Handler counters for one datapath.
#[derive(Debug, Default)]
pub struct UpcallStats {
    /// MISS upcalls translated and executed.
    pub handled: AtomicU64,
    /// Megaflows installed.
    pub flows_put: AtomicU64,
    /// Upcalls that failed (no bridge for the port, translation or
    /// datapath errors).
    pub failed: AtomicU64,
    /// ACTION upcalls that were not a packet-in (another cookie, an
    /// unknown frozen state).
    pub action_unhandled: AtomicU64,
    /// ACTION upcalls sent up as packet-ins.
    pub packet_ins: AtomicU64,
    /// Upcalls whose flow was not installed because the datapath held
    /// flow-limit flows.
    pub flow_limit_hit: AtomicU64,
    /// Receive overruns of the upcall sockets (ENOBUFS).
    pub overruns: AtomicU64,
}

/// What every handler of one datapath shares.
pub struct HandlerContext {
    pub dpif: SharedDpif,
    /// The userspace datapath's own handle, when `dpif` is one: misses
    /// are installed and executed through it, without `dpif`'s lock.
    netdev: Option<NetdevControl>,
    pub service: Arc<OfprotoService>,
    /// Translates on the handler thread itself, reading the bridges'
    /// tables (no trip to the service thread).
    translator: UpcallTranslator,
    pub ports: PortMap,
    pub stats: Arc<UpcallStats>,
    ukeys: Arc<Ukeys>,
    generation: Arc<AtomicU64>,
    /// other_config:flow-limit.
    flow_limit: AtomicU64,
    /// The datapath's flow count as last read, plus the flows put since.
    n_flows: AtomicU64,
    /// When the flow count was last read (ms since `started`).
    counted_at_ms: AtomicU64,
    started: Instant,
}

/// The running handler threads of one datapath; dropping stops them.
pub struct Handlers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    ctx: Arc<HandlerContext>,
    revalidators: Revalidators,
    /// The userspace datapath whose poll threads call `ctx` with their
    /// misses (unregistered on drop).
    inline: Option<NetdevControl>,
}

/// Handler threads when other_config:n-handler-threads does not say:
/// one per CPU, at most four (the userspace datapath's misses are few
/// once megaflows are in).
pub fn default_handler_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl Handlers {
    /// Starts one thread per upcall source, and `n_revalidators`
    /// revalidator threads. With `netdev` (the userspace datapath behind
    /// `dpif`), its poll threads handle their misses themselves through
    /// the same code ([`MissHandler`]); the handler threads then get the
    /// ACTION upcalls and the misses of packets `execute` recirculates.
    pub fn start(
        dp_name: &str,
        dpif: SharedDpif,
        service: Arc<OfprotoService>,
        ports: PortMap,
        receivers: Vec<UpcallSource>,
        n_revalidators: usize,
        netdev: Option<NetdevControl>,
    ) -> Handlers {
        let generation = service.tables_generation_handle();
        let ukeys = Arc::new(Ukeys::default());
        let revalidators = Revalidators::start(
            dp_name,
            Arc::clone(&dpif),
            Arc::clone(&service),
            Arc::clone(&ukeys),
            Arc::clone(&ports),
            n_revalidators,
        );
        let ctx = Arc::new(HandlerContext {
            dpif,
            netdev: netdev.clone(),
            translator: service.upcall_translator(),
            service,
            ports,
            stats: Arc::new(UpcallStats::default()),
            ukeys,
            generation,
            flow_limit: AtomicU64::new(u64::from(DEFAULT_FLOW_LIMIT)),
            n_flows: AtomicU64::new(0),
            counted_at_ms: AtomicU64::new(0),
            started: Instant::now(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, mut rx) in receivers.into_iter().enumerate() {
            let ctx = Arc::clone(&ctx);
            let stop = Arc::clone(&stop);
            let spawned = std::thread::Builder::new()
                .name(format!("handler{}", i + 1))
                // Translation recurses once per resubmit.
                .stack_size(TRANSLATION_STACK)
                .spawn(move || run(&ctx, &mut rx, &stop));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    log::error!(target: "ofproto_dpif_upcall", "{dp_name}: cannot start handler thread: {e}")
                }
            }
        }
        if let Some(dp) = &netdev {
            dp.set_miss_handler(Some(Arc::clone(&ctx) as Arc<dyn MissHandler>));
        }
        Handlers {
            stop,
            threads,
            ctx,
            revalidators,
            inline: netdev,
        }
    }

    /// The bridges' ports changed: flows translated before (a flood, say)
    /// may be wrong, so every flow is looked at again by the next pass.
    pub fn invalidate(&self) {
        self.ctx.service.changes().bump(Scope::All);
    }

    /// `memory/show`'s figures: handler threads, revalidator threads and
    /// installed flows known.
    pub fn memory(&self) -> (usize, usize, usize) {
        (
            self.threads.len(),
            self.revalidators.n_threads(),
            self.ctx.ukeys.len(),
        )
    }

    /// Applies other_config:flow-limit (stock's default when unset).
    pub fn set_flow_limit(&self, limit: Option<u32>) {
        let limit = limit.unwrap_or(DEFAULT_FLOW_LIMIT);
        self.ctx
            .flow_limit
            .store(u64::from(limit), Ordering::Relaxed);
    }

    /// `revalidator/wait`: returns once the revalidators have run a whole
    /// pass that started after the call (at most `limit` later).
    pub fn wait_revalidation(&self, limit: Duration) {
        self.revalidators.wait(limit);
    }

    /// A controller's packet-out to one of this datapath's bridges
    /// (`bridge`: its name and ports), translated and executed now.
    pub fn packet_out(&self, bridge: BridgePorts, po: PacketOut) {
        self.ctx.packet_out(bridge, po);
    }

    /// `revalidator/purge` for this datapath.
    pub fn purge(&self) {
        self.revalidators.purge();
    }

    /// Stops or restarts the revalidators' passes.
    pub fn pause_revalidators(&self, pause: bool) {
        self.revalidators
            .state()
            .paused
            .store(pause, Ordering::Release);
    }

    /// other_config:max-idle, in milliseconds.
    pub fn set_max_idle(&self, ms: u64) {
        self.revalidators
            .state()
            .max_idle_ms
            .store(ms, Ordering::Relaxed);
    }

    /// other_config:max-revalidator, in milliseconds: the longest time
    /// between two revalidation passes.
    pub fn set_max_revalidator(&self, ms: u64) {
        self.revalidators
            .state()
            .max_revalidator_ms
            .store(ms, Ordering::Relaxed);
    }

    /// `upcall/show` for this datapath: stock's lines (flows, dump
    /// duration, ufid, one line per revalidator), then the handlers' and
    /// revalidators' counters.
    pub fn show(&self) -> String {
        let mut dpif = lock_dpif(&self.ctx.dpif);
        let name = format!("{}@{}", dpif.dp_type(), dpif.name());
        let (flows, lost) = dpif.stats().map_or((0, 0), |s| (s.n_flows, s.n_lost));
        drop(dpif);
        let s = &self.ctx.stats;
        let r = self.revalidators.state();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let max = get(&r.flows_max).max(flows);
        let limit = get(&self.ctx.flow_limit);
        format!(
            "{name}:\n  flows         : (current {flows}) (avg {flows}) (max {max}) (limit {limit})\n  \
             dump duration : {}ms\n  ufid enabled : {}\n\n{}\n  \
             handlers      : {}\n  \
             upcalls       : (handled {}) (failed {}) (lost {lost}) (action unhandled {}) (packet-ins {})\n  \
             flows put     : {} (flow limit hit {})\n  \
             overruns      : {}\n  \
             revalidated   : (kept {}) (modified {}) (unaffected {}) (deleted stale {}) (deleted idle {}) (tables generation {})\n",
            get(&r.dump_duration_ms),
            crate::appctl::ufid_enabled(),
            self.revalidators.show_lines(),
            self.threads.len(),
            get(&s.handled),
            get(&s.failed),
            get(&s.action_unhandled),
            get(&s.packet_ins),
            get(&s.flows_put),
            get(&s.flow_limit_hit),
            get(&s.overruns),
            get(&r.kept),
            get(&r.modified),
            get(&r.unaffected),
            get(&r.deleted_stale),
            get(&r.deleted_idle),
            self.ctx.generation.load(Ordering::Acquire),
        )
    }
}

/// Stock's default other_config:flow-limit.
pub const DEFAULT_FLOW_LIMIT: u32 = 10000;

impl Drop for Handlers {
    fn drop(&mut self) {
        // The datapath holds the context (and so the datapath itself)
        // while it is registered.
        if let Some(dp) = &self.inline {
            dp.set_miss_handler(None);
        }
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(ctx: &HandlerContext, rx: &mut UpcallSource, stop: &AtomicBool) {
    let mut batch = Vec::with_capacity(UPCALL_BATCH);
    while !stop.load(Ordering::Acquire) {
        ctx.refresh_flow_count();
        // Wait for one upcall, then take whatever else is already there.
        let mut wait = IDLE_WAKE;
        while batch.len() < UPCALL_BATCH {
            match rx.recv(wait) {
                Ok(Some(u)) => batch.push(u),
                Ok(None) => break,
                Err(e) if e.errno == libc::ENOBUFS => {
                    ctx.stats.overruns.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if !is_fatal(&e) => {
                    ctx.count_failure(&format!("receive: {e}"));
                    break;
                }
                Err(e) => {
                    log::info!(target: "ofproto_dpif_upcall", "handler stops: {e}");
                    return;
                }
            }
            wait = Duration::ZERO;
        }
        if !batch.is_empty() {
            ctx.handle_batch(&mut batch);
        }
    }
}

/// One MISS upcall, translated.
struct Translated<'a> {
    /// The upcall's key, netlink-encoded.
    key: &'a [u8],
    /// Its packet and MRU, when the handler executes it (a poll thread
    /// executes its misses itself).
    packet: Option<(&'a [u8], u16)>,
    x: UpcallXlate,
    /// The key as the userspace datapath parsed it (a poll thread's
    /// miss), so that its install need not decode `key` again.
    flow: Option<&'a FlowKey>,
    /// The flow installed for it through that key.
    installed: Option<InstalledFlow>,
    /// The bridge it was translated in (name, port map) and the tables
    /// generation it was translated with.
    bridge: BridgePorts,
    generation: u64,
}

impl HandlerContext {
    /// Re-reads the datapath's flow count when it is older than
    /// [`FLOW_COUNT_REFRESH`] (one handler does it; the others go on).
    fn refresh_flow_count(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.counted_at_ms.load(Ordering::Relaxed);
        let every = u64::try_from(FLOW_COUNT_REFRESH.as_millis()).unwrap_or(100);
        if now.saturating_sub(last) < every
            || self
                .counted_at_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Ok(s) = lock_dpif(&self.dpif).stats() {
            self.n_flows.store(s.n_flows, Ordering::Relaxed);
        }
    }

    fn count_failure(&self, e: &str) {
        // The first failures are worth a warning; later ones would flood
        // the log.
        let n = self.stats.failed.fetch_add(1, Ordering::Relaxed);
        if n < 10 {
            log::warn!(target: "ofproto_dpif_upcall", "upcall failed: {e}");
        } else {
            log::debug!(target: "ofproto_dpif_upcall", "upcall failed: {e}");
        }
    }

    /// Translates a batch (on this thread, as stock does), then installs
    /// and executes it under one datapath lock.
    fn handle_batch(&self, batch: &mut Vec<Upcall>) {
        let generation = self.generation.load(Ordering::Acquire);
        let mut misses = Vec::with_capacity(batch.len());
        let mut items = Vec::with_capacity(batch.len());
        for u in batch.iter() {
            if u.kind == UpcallKind::Action {
                self.action_upcall(u);
                continue;
            }
            match self.bridge_of(&u.key) {
                Ok(bridge) => {
                    items.push(UpcallItem {
                        bridge: Arc::clone(&bridge.0),
                        req: UpcallRequest {
                            key: u.key.clone(),
                            odp_ports: Arc::clone(&bridge.1),
                            may_learn: true,
                            parsed: None,
                            packet_out: None,
                        },
                        packet_len: Some(u.packet.len() as u64),
                    });
                    misses.push((u, bridge));
                }
                Err(e) => self.count_failure(&e),
            }
        }
        if items.is_empty() {
            batch.clear();
            return;
        }
        let results = self.translator.translate(&items);
        let mut done = Vec::with_capacity(misses.len());
        for ((upcall, bridge), r) in misses.into_iter().zip(results) {
            match r {
                Ok(x) => done.push(Translated {
                    key: &upcall.key,
                    packet: Some((&upcall.packet, upcall.mru.unwrap_or(0))),
                    x,
                    flow: None,
                    installed: None,
                    bridge,
                    generation,
                }),
                Err(e) => self.count_failure(&e),
            }
        }
        match &self.netdev {
            Some(dp) => self.install_and_execute_userspace(dp, &mut done),
            None if !done.is_empty() => {
                let mut dpif = lock_dpif(&self.dpif);
                for t in done.iter_mut() {
                    let r = self
                        .install(&mut ProviderOps(&mut **dpif), t)
                        .and_then(|()| match t.execute() {
                            Some(e) => dpif.execute(&e).map_err(|e| format!("execute: {e}")),
                            None => Ok(()),
                        });
                    match r {
                        Ok(()) => {
                            self.stats.handled.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => self.count_failure(&e),
                    }
                }
            }
            None => {}
        }
        batch.clear();
    }

    /// The userspace datapath's part of a batch: installs through its own
    /// handle (not under the provider's lock, which the revalidators'
    /// dumps hold), then executes the packets together, their output a
    /// batch per port.
    fn install_and_execute_userspace(&self, dp: &NetdevControl, done: &mut [Translated<'_>]) {
        let mut ops = dp;
        let mut execs = Vec::with_capacity(done.len());
        for t in done.iter_mut() {
            match self.install(&mut ops, t) {
                Ok(()) if t.execute().is_none() => {
                    self.stats.handled.fetch_add(1, Ordering::Relaxed);
                }
                Ok(()) => {}
                Err(e) => {
                    // Not executed either, as with the provider.
                    t.packet = None;
                    self.count_failure(&e);
                }
            }
        }
        execs.extend(done.iter().filter_map(|t| t.execute()));
        for r in dp.execute_batch(&execs) {
            match r {
                Ok(()) => {
                    self.stats.handled.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => self.count_failure(&format!("execute: {e}")),
            }
        }
    }

    /// An ACTION upcall: the packet-in a `controller` action asked for.
    fn action_upcall(&self, u: &Upcall) {
        let userdata = u.userdata.as_deref().unwrap_or_default();
        // LACP's slow path: the frame is the bond's (crate::bond::lacp).
        if ferrovs_ofproto::xlate::bond::lacp_upcall(userdata, key_in_port(&u.key), &u.packet) {
            return;
        }
        match packet_in::from_action_upcall(userdata, u.packet.clone(), &u.key) {
            Ok(c) => {
                self.stats.packet_ins.fetch_add(1, Ordering::Relaxed);
                self.service.packet_in(&c.bridge, c.packet_in);
            }
            // ofproto/trace's flows are never installed; nothing to send.
            Err(NotPacketIn::DontSend) => {}
            Err(e) => {
                log::debug!(target: "ofproto_dpif_upcall", "ACTION upcall not handled: {e:?}");
                self.stats.action_unhandled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A packet-out, as stock's handle_packet_out does it: the packet's
    /// flow (from its bytes, on the datapath port of its input port)
    /// translated with the packet-out's actions instead of the tables,
    /// with side effects (learning, packet-ins through `controller`,
    /// rule credits), then executed by the datapath. No flow is
    /// installed. A packet from a port with no datapath port (CONTROLLER,
    /// NONE, a number no port has) is executed from the bridge's LOCAL
    /// port, where the kernel puts a packet from no port; translation
    /// still sees the OpenFlow input port it was given.
    fn packet_out(&self, bridge: BridgePorts, po: PacketOut) {
        const LOCAL: u16 = 0xfffe;
        let odp_in = bridge.1.get(&po.in_port).or_else(|| bridge.1.get(&LOCAL));
        let Some(&odp_in) = odp_in else {
            self.count_failure(&format!(
                "{}: packet-out from a port with no datapath port",
                bridge.0
            ));
            return;
        };
        let meta = ferrovs_netdev::PacketMeta {
            in_port: odp_in,
            ..Default::default()
        };
        let key =
            ferrovs_dpif::netdev::odp_key::to_odp(&ferrovs_netdev::extract(&po.packet, &meta).key);
        let item = UpcallItem {
            bridge: Arc::clone(&bridge.0),
            req: UpcallRequest {
                key,
                odp_ports: Arc::clone(&bridge.1),
                may_learn: true,
                parsed: None,
                packet_out: Some(Arc::new(PacketOutRequest {
                    in_port: po.in_port,
                    actions: po.actions,
                })),
            },
            packet_len: Some(po.packet.len() as u64),
        };
        let x = match self.translator.translate_one(&item) {
            Ok(x) => x,
            Err(e) => return self.count_failure(&format!("packet-out: {e}")),
        };
        if x.actions.is_empty() {
            return;
        }
        // The datapath takes the packet's metadata only, as stock's
        // odp_key_from_dp_packet gives it (the kernel refuses the whole
        // key userspace extracted: EINVAL).
        let metadata = ferrovs_dpif::odp::Key::new(vec![
            ferrovs_dpif::odp::KeyAttr::Priority(0),
            ferrovs_dpif::odp::KeyAttr::SkbMark(0),
            ferrovs_dpif::odp::KeyAttr::InPort(odp_in),
        ]);
        let Ok(metadata) = metadata.to_nlattrs() else {
            return self.count_failure("packet-out: cannot encode its key");
        };
        let exec = Execute {
            packet: &po.packet,
            key: &metadata,
            actions: &x.actions,
            probe: false,
            mru: 0,
        };
        let done = match &self.netdev {
            Some(dp) => dp.execute_batch(&[exec]).pop().unwrap_or(Ok(())),
            None => lock_dpif(&self.dpif).execute(&exec),
        };
        if let Err(e) = done {
            self.count_failure(&format!("packet-out execute: {e}"));
        }
    }

    /// The bridge whose port the packet of the upcall with `key` came
    /// in on.
    fn bridge_of(&self, key: &[u8]) -> Result<BridgePorts, String> {
        let in_port = key_in_port(key).ok_or("upcall key without in_port")?;
        self.ports
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&in_port)
            .cloned()
            .ok_or_else(|| format!("no bridge has datapath port {in_port}"))
    }

    /// Installs a translated miss's megaflow (unless it must stay in
    /// userspace or the flow limit is reached) with its ukey, and sends
    /// the packets translation made. What only the ukey needs is moved
    /// into it.
    fn install(&self, dpif: &mut dyn MissOps, t: &mut Translated<'_>) -> Result<(), String> {
        let x = &mut t.x;
        // A flow translated with tables that changed meanwhile is still
        // installed: its ukey carries the old generation, so the
        // revalidators translate it again.
        let under_limit =
            self.n_flows.load(Ordering::Relaxed) < self.flow_limit.load(Ordering::Relaxed);
        if !x.slow && !under_limit {
            self.stats.flow_limit_hit.fetch_add(1, Ordering::Relaxed);
        }
        if !x.slow && under_limit {
            let ufid = ufid_of(t.key);
            // Held once, by the ukey and (userspace datapath) the flow.
            // With megaflows disabled the mask is exact, and the
            // translation's own (direct) mask is not the one put.
            let mask = crate::appctl::effective_mask(t.key, &x.mask);
            let translated_mask = matches!(mask, std::borrow::Cow::Borrowed(_));
            let attrs = FlowAttrs {
                key: Arc::from(t.key),
                mask: Arc::from(&*mask),
                actions: Arc::from(&x.actions[..]),
            };
            let ukey = Ukey::new(attrs.clone(), Arc::clone(&t.bridge), t.generation, x);
            // The datapath mask lent, not moved out (it is several
            // hundred bytes).
            let direct = Translation {
                mask: x.datapath_mask.as_ref().filter(|_| translated_mask),
                actions: std::mem::take(&mut x.odp_actions),
            };
            let put = FlowPut {
                flags: PutFlags {
                    create: true,
                    modify: false,
                    zero_stats: false,
                },
                key: &attrs.key,
                mask: &attrs.mask,
                actions: &attrs.actions,
                ufid: Some(ufid),
            };
            // The ukey goes in first: the userspace datapath's flows are
            // put without the provider's lock, and a revalidator that
            // dumped the flow before its ukey came would delete it as
            // someone else's. (A ukey without its flow yet is kept by a
            // pass that started before it.)
            let waiting = self.ukeys.insert_new(ufid, ukey);
            match dpif.put_miss(&put, t.flow, &attrs, direct) {
                Ok(installed) => {
                    t.installed = installed;
                    self.stats.flows_put.fetch_add(1, Ordering::Relaxed);
                    self.n_flows.fetch_add(1, Ordering::Relaxed);
                    // A ukey was left from a flow deleted meanwhile.
                    if let Some(ukey) = waiting {
                        self.ukeys.insert(ufid, ukey);
                    }
                }
                // Another thread installed it first (its ukey, or ours,
                // describes it).
                Err(e) if e.errno == libc::EEXIST => {}
                Err(e) => {
                    if waiting.is_none() {
                        self.ukeys.remove(ufid);
                    }
                    return Err(format!("flow put: {e}"));
                }
            }
        }
        // Packets translation sends itself (ARP requests for tunnel
        // neighbours).
        for i in &x.injected {
            if let Err(e) = dpif.execute(&Execute {
                packet: &i.packet,
                key: &i.key,
                actions: &i.actions,
                probe: false,
                mru: 0,
            }) {
                log::debug!(target: "ofproto_dpif_upcall", "sending a tunnel neighbour request failed: {e}");
            }
        }
        Ok(())
    }
}

impl Translated<'_> {
    /// The execution of its packet, when there is one to run.
    fn execute(&self) -> Option<Execute<'_>> {
        let (packet, mru) = self.packet?;
        (!self.x.actions.is_empty()).then_some(Execute {
            packet,
            key: self.key,
            actions: &self.x.actions,
            probe: false,
            mru,
        })
    }
}

/// What installing and executing a miss needs of a datapath: the
/// provider under its lock (handler threads), or the userspace
/// datapath's own handle (its poll threads, which must not take that
/// lock).
trait MissOps {
    fn flow_put(&mut self, put: &FlowPut<'_>) -> Result<Option<FlowStats>, DpifError>;
    fn execute(&mut self, exec: &Execute<'_>) -> Result<(), DpifError>;
    /// `flow_put` of a miss, given its key as the datapath parsed it
    /// when it has one, `put`'s key, mask and actions held to share
    /// (`attrs`), and the translation's own forms of its mask and
    /// actions (`direct`); returns the flow installed where the datapath
    /// can hand it back.
    fn put_miss(
        &mut self,
        put: &FlowPut<'_>,
        _flow: Option<&FlowKey>,
        _attrs: &FlowAttrs,
        _direct: Translation<'_>,
    ) -> Result<Option<InstalledFlow>, DpifError> {
        self.flow_put(put).map(|_| None)
    }
}

/// A translated miss's mask and actions as translation made them (not
/// netlink-encoded), for a datapath that takes them so.
struct Translation<'a> {
    /// The mask in the userspace datapath's layout, when translation
    /// made it and it is the mask put.
    mask: Option<&'a FlowKey>,
    actions: Vec<ferrovs_dpif::odp::Action>,
}

struct ProviderOps<'a>(&'a mut dyn Dpif);

impl MissOps for ProviderOps<'_> {
    fn flow_put(&mut self, put: &FlowPut<'_>) -> Result<Option<FlowStats>, DpifError> {
        self.0.flow_put(put)
    }
    fn execute(&mut self, exec: &Execute<'_>) -> Result<(), DpifError> {
        self.0.execute(exec)
    }
}

impl MissOps for &NetdevControl {
    fn flow_put(&mut self, put: &FlowPut<'_>) -> Result<Option<FlowStats>, DpifError> {
        NetdevControl::flow_put(self, put)
    }
    fn execute(&mut self, exec: &Execute<'_>) -> Result<(), DpifError> {
        NetdevControl::execute(self, exec)
    }
    fn put_miss(
        &mut self,
        put: &FlowPut<'_>,
        flow: Option<&FlowKey>,
        attrs: &FlowAttrs,
        direct: Translation<'_>,
    ) -> Result<Option<InstalledFlow>, DpifError> {
        match flow {
            Some(flow) => NetdevControl::flow_put_translated(
                self,
                put,
                flow,
                attrs,
                direct.mask,
                direct.actions,
            )
            .map(Some),
            None => NetdevControl::flow_put(self, put).map(|_| None),
        }
    }
}

/// The userspace datapath's poll threads hand their misses here: the
/// same translation, flow limit, install and ukey as an upcall's, on the
/// poll thread (as Open vSwitch's poll threads do), which then executes
/// the packets with the actions returned.
impl MissHandler for HandlerContext {
    fn handle_misses(&self, dp: &NetdevControl, misses: &mut [Miss]) -> Vec<MissVerdict> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut verdicts: Vec<MissVerdict> = misses.iter().map(|_| MissVerdict::Drop).collect();
        let mut ops = dp;
        // One miss at a time, translated then installed: no lists of
        // requests and answers, and the translation is not moved
        // between them.
        for (m, verdict) in misses.iter_mut().zip(verdicts.iter_mut()) {
            let bridge = match self.bridge_of(&m.key) {
                Ok(bridge) => bridge,
                Err(e) => {
                    self.count_failure(&e);
                    continue;
                }
            };
            let item = UpcallItem {
                bridge: bridge.0.clone(),
                req: UpcallRequest {
                    // Moved, not copied: the request's key is the one
                    // installed below.
                    key: std::mem::take(&mut m.key),
                    odp_ports: bridge.1.clone(),
                    may_learn: true,
                    parsed: Some(std::mem::take(&mut m.attrs)),
                    packet_out: None,
                },
                packet_len: Some(m.packet.len() as u64),
            };
            let x = match self.translator.translate_one(&item) {
                Ok(x) => x,
                Err(e) => {
                    self.count_failure(&e);
                    continue;
                }
            };
            let mut t = Translated {
                key: &item.req.key,
                packet: None,
                x,
                flow: Some(&m.flow),
                installed: None,
                bridge,
                generation,
            };
            match self.install(&mut ops, &mut t) {
                Ok(()) => {
                    self.stats.handled.fetch_add(1, Ordering::Relaxed);
                    if !t.x.actions.is_empty() {
                        *verdict = match t.installed {
                            Some(f) => MissVerdict::Flow(f),
                            None => MissVerdict::Actions(t.x.actions),
                        };
                    }
                }
                Err(e) => self.count_failure(&e),
            }
        }
        verdicts
    }
}

/// The OVS_KEY_ATTR_IN_PORT of a netlink-encoded datapath key, found
/// without decoding the rest (a handler only needs it to pick the bridge).
pub(crate) fn key_in_port(key: &[u8]) -> Option<u32> {
    const OVS_KEY_ATTR_IN_PORT: u16 = 3;
    let mut rest = key;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 {
            return None;
        }
        let payload = rest.get(4..len)?;
        if kind == OVS_KEY_ATTR_IN_PORT {
            return Some(u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?));
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

/// A UFID for a datapath key: a random-seeded 128-bit hash of its bytes
/// (unique enough within one datapath; stock uses a random-seeded hash of
/// the key too), made without SipHash (`ferrovs_dpif::netdev::ufid`).
fn ufid_of(key: &[u8]) -> u128 {
    ferrovs_dpif::netdev::ufid::ufid_of_bytes(key)
}

#[cfg(test)]
mod tests {
    use super::key_in_port;
    use ferrovs_dpif::odp::{Key, KeyAttr};

    #[test]
    fn in_port_found_without_decoding_the_key() {
        let key = Key::new(vec![
            KeyAttr::Priority(7),
            KeyAttr::SkbMark(1),
            KeyAttr::InPort(42),
            KeyAttr::Ethertype(0x0800),
        ]);
        let bytes = key.to_nlattrs().unwrap();
        assert_eq!(key_in_port(&bytes), Some(42));
        let no_port = Key::new(vec![KeyAttr::Priority(7)]).to_nlattrs().unwrap();
        assert_eq!(key_in_port(&no_port), None);
        // Cut or nonsense input is no port, not a panic.
        for n in 0..bytes.len() {
            let _ = key_in_port(&bytes[..n]);
        }
        assert_eq!(key_in_port(&[0, 0, 3, 0, 1, 0, 0, 0]), None);
        assert_eq!(key_in_port(&[5, 0, 3, 0, 1]), None);
    }
}
