//! Upcall handlers of the userspace datapath: threads that turn the
//! datapath's MISS upcalls into megaflows.
//!
//! Each handler owns one [`UpcallReceiver`]. For a MISS it finds the
//! bridge whose port the packet came in on, has the OpenFlow service
//! translate the datapath key through that bridge's tables (the request
//! `ofproto/trace` also uses), installs the megaflow (key, mask, actions,
//! a UFID made from the key) unless translation says the flow must stay
//! in userspace, and executes the packet with the actions.
//!
//! Stale flows: until revalidators exist, every change of any OpenFlow
//! table (the service's tables generation) flushes all flows of the
//! datapath. A handler checks the generation under the datapath lock
//! before it installs a flow, so a flow translated with old tables is
//! either never installed or installed before the flush that removes it.
//!
//! ACTION upcalls (the `userspace` action, e.g. `controller`) are not
//! handled yet: they are counted in `action_unhandled`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrovs_dpif::netdev::UpcallReceiver;
use ferrovs_dpif::odp::{Key, KeyAttr};
use ferrovs_dpif::{Execute, FlowPut, PutFlags, Upcall, UpcallKind};
use ferrovs_ofproto::service::OfprotoService;
use ferrovs_ofproto::xlate::upcall::UpcallRequest;

use crate::bridge::{lock_dpif, SharedDpif};

/// How often an idle handler looks at the tables generation.
const IDLE_WAKE: Duration = Duration::from_millis(100);

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
    /// Starts one thread per receiver.
    pub fn start(
        dp_name: &str,
        dpif: SharedDpif,
        service: Arc<OfprotoService>,
        ports: PortMap,
        receivers: Vec<UpcallReceiver>,
    ) -> Handlers {
        let generation = service.tables_generation_handle();
        let ctx = Arc::new(HandlerContext {
            dpif,
            service,
            ports,
            stats: Arc::new(UpcallStats::default()),
            flushed: AtomicU64::new(generation.load(Ordering::Acquire)),
            generation,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, rx) in receivers.into_iter().enumerate() {
            let ctx = Arc::clone(&ctx);
            let stop = Arc::clone(&stop);
            let spawned = std::thread::Builder::new()
                .name(format!("handler{}", i + 1))
                .spawn(move || run(&ctx, &rx, &stop));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    log::error!(target: "ofproto_dpif_upcall", "{dp_name}: cannot start handler thread: {e}")
                }
            }
        }
        Handlers { stop, threads, ctx }
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
        format!(
            "{name}:\n  flows         : (current {flows}) (avg {flows}) (max {flows}) (limit {FLOW_LIMIT})\n  \
             dump duration : 0ms\n  ufid enabled : true\n\n  \
             handlers      : {}\n  \
             upcalls       : (handled {}) (failed {}) (lost {lost}) (action unhandled {})\n  \
             flows put     : {}\n  \
             flushes       : {} (tables generation {})\n",
            self.threads.len(),
            get(&s.handled),
            get(&s.failed),
            get(&s.action_unhandled),
            get(&s.flows_put),
            get(&s.flushes),
            self.ctx.generation.load(Ordering::Acquire),
        )
    }
}

/// Stock's default other_config:flow-limit (not enforced yet).
const FLOW_LIMIT: u32 = 10000;

impl Drop for Handlers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(ctx: &HandlerContext, rx: &UpcallReceiver, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        ctx.flush_if_stale();
        match rx.recv(Some(IDLE_WAKE)) {
            Ok(Some(u)) => ctx.handle(&u),
            Ok(None) => {}
            // The datapath is gone.
            Err(_) => return,
        }
    }
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
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
    }

    fn handle(&self, u: &Upcall) {
        if u.kind == UpcallKind::Action {
            self.stats.action_unhandled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.handle_miss(u) {
            Ok(()) => {
                self.stats.handled.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // The first failures are worth a warning; later ones
                // would flood the log.
                let n = self.stats.failed.fetch_add(1, Ordering::Relaxed);
                if n < 10 {
                    log::warn!(target: "ofproto_dpif_upcall", "upcall failed: {e}");
                } else {
                    log::debug!(target: "ofproto_dpif_upcall", "upcall failed: {e}");
                }
            }
        }
    }

    fn handle_miss(&self, u: &Upcall) -> Result<(), String> {
        let key = Key::from_nlattrs(&u.key).map_err(|e| e.message)?;
        let in_port = key
            .attrs
            .iter()
            .find_map(|a| match a {
                KeyAttr::InPort(p) => Some(*p),
                _ => None,
            })
            .ok_or("upcall key without in_port")?;
        let bridge = self
            .ports
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&in_port)
            .cloned()
            .ok_or_else(|| format!("no bridge has datapath port {in_port}"))?;
        let gen = self.generation.load(Ordering::Acquire);
        let req = UpcallRequest {
            key: u.key.clone(),
            odp_ports: bridge.1.clone(),
        };
        let x = self.service.translate_upcall(&bridge.0, req)?;
        let mut dpif = lock_dpif(&self.dpif);
        // Tables changed since translation: the flow would be stale (the
        // packet still goes out as translated, as it would have a moment
        // earlier).
        if !x.slow && self.generation.load(Ordering::Acquire) == gen {
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
                }
                // Another handler installed it first.
                Err(e) if e.errno == libc::EEXIST => {}
                Err(e) => return Err(format!("flow put: {e}")),
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
