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
//! Stale flows: until revalidators exist, every change of any OpenFlow
//! table (the service's tables generation) flushes all flows of the
//! datapath, and so does a change of an existing bridge's ports (the
//! ports epoch). A handler checks both under the datapath lock before it
//! installs a flow, so a flow translated with old tables or ports is
//! either never installed or installed before the flush that removes it.
//!
//! ACTION upcalls (the `userspace` action, e.g. `controller`) are not
//! handled yet: they are counted in `action_unhandled`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrovs_dpif::netdev::UpcallReceiver;
use ferrovs_dpif::netlink::UpcallSocket;
use ferrovs_dpif::odp::{Key, KeyAttr};
use ferrovs_dpif::{Dpif, DpifError, Execute, FlowPut, PutFlags, Upcall, UpcallKind};
use ferrovs_ofproto::service::OfprotoService;
use ferrovs_ofproto::xlate::upcall::{UpcallRequest, UpcallXlate};

use crate::bridge::{lock_dpif, SharedDpif};

/// How often an idle handler looks at the tables generation.
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
pub type BridgePorts = Arc<(String, HashMap<u16, u32>)>;

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
    /// ACTION upcalls, which are not handled yet.
    pub action_unhandled: AtomicU64,
    /// Flushes of the datapath's flows after table changes.
    pub flushes: AtomicU64,
    /// Upcalls whose flow was not installed because the datapath held
    /// flow-limit flows.
    pub flow_limit_hit: AtomicU64,
    /// Receive overruns of the upcall sockets (ENOBUFS).
    pub overruns: AtomicU64,
}

/// What every handler of one datapath shares.
pub struct HandlerContext {
    pub dpif: SharedDpif,
    pub service: Arc<OfprotoService>,
    pub ports: PortMap,
    pub stats: Arc<UpcallStats>,
    /// The generation whose flows are in the datapath.
    flushed: AtomicU64,
    generation: Arc<AtomicU64>,
    /// Bumped whenever the bridges' ports change (see
    /// [`Handlers::invalidate`]).
    ports_epoch: AtomicU64,
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
}

/// Handler threads when other_config:n-handler-threads does not say:
/// one per CPU, at most four (the userspace datapath's misses are few
/// once megaflows are in).
pub fn default_handler_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl Handlers {
    /// Starts one thread per upcall source.
    pub fn start(
        dp_name: &str,
        dpif: SharedDpif,
        service: Arc<OfprotoService>,
        ports: PortMap,
        receivers: Vec<UpcallSource>,
    ) -> Handlers {
        let generation = service.tables_generation_handle();
        let ctx = Arc::new(HandlerContext {
            dpif,
            service,
            ports,
            stats: Arc::new(UpcallStats::default()),
            flushed: AtomicU64::new(generation.load(Ordering::Acquire)),
            generation,
            ports_epoch: AtomicU64::new(0),
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
                .spawn(move || run(&ctx, &mut rx, &stop));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    log::error!(target: "ofproto_dpif_upcall", "{dp_name}: cannot start handler thread: {e}")
                }
            }
        }
        Handlers { stop, threads, ctx }
    }

    /// Flushes the datapath's flows now: the bridges' ports changed, so
    /// flows translated before (a flood, say) may be wrong. Translations
    /// in flight were made with the old ports; the epoch, bumped under the
    /// datapath lock, keeps their flows out.
    pub fn invalidate(&self) {
        let mut dpif = lock_dpif(&self.ctx.dpif);
        self.ctx.ports_epoch.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = dpif.flow_flush() {
            log::warn!(target: "ofproto_dpif_upcall", "{}: flow flush failed: {e}", dpif.name());
        }
        self.ctx.n_flows.store(0, Ordering::Relaxed);
        self.ctx.stats.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies other_config:flow-limit (stock's default when unset).
    pub fn set_flow_limit(&self, limit: Option<u32>) {
        let limit = limit.unwrap_or(DEFAULT_FLOW_LIMIT);
        self.ctx
            .flow_limit
            .store(u64::from(limit), Ordering::Relaxed);
    }

    /// Whether the datapath's flows reflect the current tables (the
    /// handlers flushed after the last change).
    pub fn up_to_date(&self) -> bool {
        self.ctx.flushed.load(Ordering::Acquire) == self.ctx.generation.load(Ordering::Acquire)
    }

    /// `upcall/show` for this datapath: stock's first lines (there are
    /// no revalidators yet, so no per-revalidator lines), then the
    /// handlers' counters.
    pub fn show(&self) -> String {
        let mut dpif = lock_dpif(&self.ctx.dpif);
        let name = format!("{}@{}", dpif.dp_type(), dpif.name());
        let (flows, lost) = dpif.stats().map_or((0, 0), |s| (s.n_flows, s.n_lost));
        drop(dpif);
        let s = &self.ctx.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let limit = get(&self.ctx.flow_limit);
        format!(
            "{name}:\n  flows         : (current {flows}) (avg {flows}) (max {flows}) (limit {limit})\n  \
             dump duration : 0ms\n  ufid enabled : true\n\n  \
             handlers      : {}\n  \
             upcalls       : (handled {}) (failed {}) (lost {lost}) (action unhandled {})\n  \
             flows put     : {} (flow limit hit {})\n  \
             overruns      : {}\n  \
             flushes       : {} (tables generation {})\n",
            self.threads.len(),
            get(&s.handled),
            get(&s.failed),
            get(&s.action_unhandled),
            get(&s.flows_put),
            get(&s.flow_limit_hit),
            get(&s.overruns),
            get(&s.flushes),
            self.ctx.generation.load(Ordering::Acquire),
        )
    }
}

/// Stock's default other_config:flow-limit.
pub const DEFAULT_FLOW_LIMIT: u32 = 10000;

impl Drop for Handlers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(ctx: &HandlerContext, rx: &mut UpcallSource, stop: &AtomicBool) {
    let mut batch = Vec::with_capacity(UPCALL_BATCH);
    while !stop.load(Ordering::Acquire) {
        ctx.flush_if_stale();
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
    upcall: &'a Upcall,
    x: UpcallXlate,
    /// The tables generation and ports epoch it was translated with.
    generation: u64,
    ports_epoch: u64,
}

impl HandlerContext {
    /// Flushes the datapath's flows once per tables generation.
    fn flush_if_stale(&self) {
        let gen = self.generation.load(Ordering::Acquire);
        if self.flushed.load(Ordering::Acquire) == gen {
            return;
        }
        let mut dpif = lock_dpif(&self.dpif);
        // Another handler may have flushed meanwhile.
        if self.flushed.swap(gen, Ordering::AcqRel) == gen {
            return;
        }
        if let Err(e) = dpif.flow_flush() {
            log::warn!(target: "ofproto_dpif_upcall", "{}: flow flush failed: {e}", dpif.name());
        }
        self.n_flows.store(0, Ordering::Relaxed);
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
    }

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

    /// Translates a batch, then installs and executes it under one lock.
    fn handle_batch(&self, batch: &mut Vec<Upcall>) {
        let mut done = Vec::with_capacity(batch.len());
        for u in batch.iter() {
            if u.kind == UpcallKind::Action {
                self.stats.action_unhandled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match self.translate(u) {
                Ok(t) => done.push(t),
                Err(e) => self.count_failure(&e),
            }
        }
        if !done.is_empty() {
            let mut dpif = lock_dpif(&self.dpif);
            for t in &done {
                match self.install_and_execute(&mut **dpif, t) {
                    Ok(()) => {
                        self.stats.handled.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => self.count_failure(&e),
                }
            }
        }
        batch.clear();
    }

    fn translate<'a>(&self, u: &'a Upcall) -> Result<Translated<'a>, String> {
        let key = Key::from_nlattrs(&u.key).map_err(|e| e.message)?;
        let in_port = key
            .attrs
            .iter()
            .find_map(|a| match a {
                KeyAttr::InPort(p) => Some(*p),
                _ => None,
            })
            .ok_or("upcall key without in_port")?;
        let ports_epoch = self.ports_epoch.load(Ordering::Acquire);
        let bridge = self
            .ports
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&in_port)
            .cloned()
            .ok_or_else(|| format!("no bridge has datapath port {in_port}"))?;
        let generation = self.generation.load(Ordering::Acquire);
        let req = UpcallRequest {
            key: u.key.clone(),
            odp_ports: bridge.1.clone(),
        };
        let x = self.service.translate_upcall(&bridge.0, req)?;
        Ok(Translated {
            upcall: u,
            x,
            generation,
            ports_epoch,
        })
    }

    fn install_and_execute(&self, dpif: &mut dyn Dpif, t: &Translated<'_>) -> Result<(), String> {
        let (u, x) = (t.upcall, &t.x);
        // Tables changed since translation: the flow would be stale (the
        // packet still goes out as translated, as it would have a moment
        // earlier).
        let current = self.generation.load(Ordering::Acquire) == t.generation
            && self.ports_epoch.load(Ordering::Acquire) == t.ports_epoch;
        let under_limit =
            self.n_flows.load(Ordering::Relaxed) < self.flow_limit.load(Ordering::Relaxed);
        if !x.slow && current && !under_limit {
            self.stats.flow_limit_hit.fetch_add(1, Ordering::Relaxed);
        }
        if !x.slow && current && under_limit {
            let put = FlowPut {
                flags: PutFlags {
                    create: true,
                    modify: false,
                    zero_stats: false,
                },
                key: &u.key,
                mask: &x.mask,
                actions: &x.actions,
                ufid: Some(ufid_of(&u.key)),
            };
            match dpif.flow_put(&put) {
                Ok(_) => {
                    self.stats.flows_put.fetch_add(1, Ordering::Relaxed);
                    self.n_flows.fetch_add(1, Ordering::Relaxed);
                }
                // Another handler installed it first.
                Err(e) if e.errno == libc::EEXIST => {}
                Err(e) => return Err(format!("flow put: {e}")),
            }
        }
        if x.actions.is_empty() {
            return Ok(());
        }
        dpif.execute(&Execute {
            packet: &u.packet,
            key: &u.key,
            actions: &x.actions,
            probe: false,
            mru: u.mru.unwrap_or(0),
        })
        .map_err(|e| format!("execute: {e}"))
    }
}

/// A UFID for a datapath key: two differently seeded 64-bit hashes of its
/// bytes (unique enough within one datapath; stock uses a random-seeded
/// hash of the key too).
fn ufid_of(key: &[u8]) -> u128 {
    let half = |seed: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0x6f76_7375)) << 64) | u128::from(half(0x7570_6361))
}
