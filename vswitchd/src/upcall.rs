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
//! Every installed flow leaves a ukey (key, mask, actions, the rules it
//! went through, the tables generation it was translated with) for the
//! datapath's revalidators (`crate::revalidator`), which credit its
//! statistics to the rules, expire it when idle, and translate it again
//! when the tables have changed since.
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
use ferrovs_ofproto::xlate::upcall::{Credit, UpcallRequest};

use crate::bridge::{lock_dpif, SharedDpif};
use crate::revalidator::{Revalidators, Ukey, Ukeys};

/// How often an idle handler looks whether it must stop.
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
}

/// What every handler of one datapath shares.
pub struct HandlerContext {
    pub dpif: SharedDpif,
    pub service: Arc<OfprotoService>,
    pub ports: PortMap,
    pub stats: Arc<UpcallStats>,
    ukeys: Arc<Ukeys>,
    generation: Arc<AtomicU64>,
}

/// The running handler threads of one datapath; dropping stops them.
pub struct Handlers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    ctx: Arc<HandlerContext>,
    revalidators: Revalidators,
}

/// Handler threads when other_config:n-handler-threads does not say:
/// one per CPU, at most four (the userspace datapath's misses are few
/// once megaflows are in).
pub fn default_handler_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl Handlers {
    /// Starts one thread per receiver, and `n_revalidators` revalidator
    /// threads.
    pub fn start(
        dp_name: &str,
        dpif: SharedDpif,
        service: Arc<OfprotoService>,
        ports: PortMap,
        receivers: Vec<UpcallReceiver>,
        n_revalidators: usize,
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
            service,
            ports,
            stats: Arc::new(UpcallStats::default()),
            ukeys,
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
        Handlers {
            stop,
            threads,
            ctx,
            revalidators,
        }
    }

    /// `revalidator/wait`: returns once the revalidators have run a whole
    /// pass that started after the call (at most `limit` later).
    pub fn wait_revalidation(&self, limit: Duration) {
        self.revalidators.wait(limit);
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
        format!(
            "{name}:\n  flows         : (current {flows}) (avg {flows}) (max {max}) (limit {FLOW_LIMIT})\n  \
             dump duration : {}ms\n  ufid enabled : true\n\n{}\n  \
             handlers      : {}\n  \
             upcalls       : (handled {}) (failed {}) (lost {lost}) (action unhandled {})\n  \
             flows put     : {}\n  \
             revalidated   : (kept {}) (modified {}) (unaffected {}) (deleted stale {}) (deleted idle {}) (tables generation {})\n",
            get(&r.dump_duration_ms),
            self.revalidators.show_lines(),
            self.threads.len(),
            get(&s.handled),
            get(&s.failed),
            get(&s.action_unhandled),
            get(&s.flows_put),
            get(&r.kept),
            get(&r.modified),
            get(&r.unaffected),
            get(&r.deleted_stale),
            get(&r.deleted_idle),
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
        match rx.recv(Some(IDLE_WAKE)) {
            Ok(Some(u)) => ctx.handle(&u),
            Ok(None) => {}
            // The datapath is gone.
            Err(_) => return,
        }
    }
}

impl HandlerContext {
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
            may_learn: true,
        };
        let x = self.service.translate_upcall(&bridge.0, req)?;
        let mut dpif = lock_dpif(&self.dpif);
        // A flow translated with tables that changed meanwhile is still
        // installed: its ukey carries the old generation, so the
        // revalidators translate it again.
        if !x.slow {
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
                    self.ukeys.insert(
                        ufid_of(&u.key),
                        Ukey {
                            key: u.key.clone(),
                            mask: x.mask.clone(),
                            actions: x.actions.clone(),
                            bridge: bridge.0.clone(),
                            odp_ports: bridge.1.clone(),
                            generation: gen,
                            rules: x.rules.clone(),
                            learned: x.learned.clone(),
                            in_ports: x.in_ports.clone(),
                            credited: Default::default(),
                            created: std::time::Instant::now(),
                        },
                    );
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
        drop(dpif);
        // The packet itself counts for the rules, as its flow's later
        // packets will (the revalidators credit those).
        self.service.credit_stats(
            &bridge.0,
            vec![Credit {
                rules: x.rules.clone(),
                packets: 1,
                bytes: u.packet.len() as u64,
                // Translation learned already.
                learned: Vec::new(),
            }],
        );
        if x.actions.is_empty() {
            return Ok(());
        }
        let mut dpif = lock_dpif(&self.dpif);
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
