//! Revalidators: threads that keep a datapath's flows true to the
//! OpenFlow tables.
//!
//! Every flow a handler installs leaves a *ukey* here: its key, mask and
//! actions, the bridge and tables generation it was translated with, and
//! the rules it went through. Each pass (every [`PASS_INTERVAL`], or at
//! once when the tables change or `revalidator/wait` asks), a revalidator
//! dumps the datapath's flows and for each of its share of them:
//!
//! - credits the packets and bytes counted since the last pass to the
//!   rules (so `n_packets` grows and idle timeouts see the traffic);
//! - deletes it when idle longer than `other_config:max-idle`;
//! - when a change since it was translated may concern it, translates
//!   its key again: keeps it if the result is the same, fixes its
//!   actions in place if only they differ, else deletes it (the next
//!   packet installs the new translation). Those translations go to
//!   the OpenFlow service in batches, one trip per [`REVALIDATE_BATCH`].
//!
//! Flows no change could affect are not translated again: each change is
//! logged with its scope (`ferrovs_ofproto::service::changes`: a flow_mod
//! naming one input port, or everything), and a flow behind the tables
//! generation is compared lazily with the changes since, against the
//! input ports of its lookups. Flows without a ukey (installed by someone
//! else, e.g. `dpctl/add-flow`) are deleted, as in Open vSwitch
//! (`revalidator/pause` keeps them).
//!
//! Provider-neutral: only `flow_dump`, `flow_put` and `flow_del` of the
//! `Dpif` trait.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrovs_dpif::{FlowId, FlowPut, FlowStats, PutFlags, Ufid};
use ferrovs_ofproto::service::{OfprotoService, UpcallItem};
use ferrovs_ofproto::xlate::learn::Learned;
use ferrovs_ofproto::xlate::upcall::{Credit, UpcallRequest, UpcallXlate};
use ferrovs_ofproto::xlate::RuleHit;

use crate::bridge::{lock_dpif, SharedDpif};
use crate::upcall::PortMap;

/// How often a revalidator dumps the flows when nothing asks sooner
/// (stock's max-revalidator default; other_config:max-revalidator
/// changes it).
pub const PASS_INTERVAL: Duration = Duration::from_millis(500);
/// How often a sleeping revalidator looks for a reason to wake.
const POLL: Duration = Duration::from_millis(20);
/// Stock's default other_config:max-idle, in milliseconds.
pub const DEFAULT_MAX_IDLE_MS: u64 = 10_000;

/// What the revalidators know about an installed flow.
#[derive(Debug, Clone)]
pub struct Ukey {
    pub key: Vec<u8>,
    pub mask: Vec<u8>,
    pub actions: Vec<u8>,
    pub bridge: String,
    /// The bridge's ports at translation (revalidation uses the
    /// bridge's ports as they are then).
    pub odp_ports: HashMap<u16, u32>,
    /// The tables generation it was translated with.
    pub generation: u64,
    pub rules: Vec<RuleHit>,
    /// Rules its translation learned, refreshed while it carries packets.
    pub learned: Vec<Learned>,
    /// The input ports its table lookups used (changes scoped to other
    /// ports cannot affect it).
    pub in_ports: Vec<u16>,
    /// Statistics already credited to the rules.
    pub credited: FlowStats,
    pub created: Instant,
}

/// The ukeys of one datapath, by UFID.
#[derive(Default)]
pub struct Ukeys(Mutex<HashMap<Ufid, Ukey>>);

impl Ukeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Ufid, Ukey>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a flow a handler installed.
    pub fn insert(&self, ufid: Ufid, ukey: Ukey) {
        self.lock().insert(ufid, ukey);
    }

    /// Records a flow a handler is about to install, unless a ukey for
    /// it is there already (then `ukey` comes back).
    pub fn insert_new(&self, ufid: Ufid, ukey: Ukey) -> Option<Ukey> {
        match self.lock().entry(ufid) {
            std::collections::hash_map::Entry::Occupied(_) => Some(ukey),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(ukey);
                None
            }
        }
    }

    /// Forgets the ukey of a flow whose install failed.
    pub fn remove(&self, ufid: Ufid) {
        self.lock().remove(&ufid);
    }

    /// Keys per revalidator (UFID modulo their number), for upcall/show.
    fn count_for(&self, index: usize, n: usize) -> usize {
        self.lock()
            .keys()
            .filter(|u| share(**u, n) == index)
            .count()
    }
}

fn share(ufid: Ufid, n: usize) -> usize {
    (ufid % n.max(1) as u128) as usize
}

/// Counters and settings shared by the revalidators and the daemon.
#[derive(Default)]
pub struct RevalidatorState {
    /// `revalidator/pause`: no passes until resumed.
    pub paused: AtomicBool,
    pub max_idle_ms: AtomicU64,
    pub max_revalidator_ms: AtomicU64,
    /// Passes completed, per revalidator.
    passes: Vec<AtomicU64>,
    /// Moved to make every revalidator start a pass now.
    kick: AtomicU64,
    pub dump_duration_ms: AtomicU64,
    pub flows_max: AtomicU64,
    /// Flows deleted because idle, because the tables changed them, and
    /// flows translated again that stayed.
    pub deleted_idle: AtomicU64,
    pub deleted_stale: AtomicU64,
    pub kept: AtomicU64,
    /// Flows whose actions were fixed in place.
    pub modified: AtomicU64,
    /// Flows behind the tables generation that no change since could
    /// affect (not translated again).
    pub unaffected: AtomicU64,
}

/// What every revalidator of one datapath shares.
pub struct Context {
    pub dpif: SharedDpif,
    pub service: Arc<OfprotoService>,
    pub ukeys: Arc<Ukeys>,
    pub ports: PortMap,
    pub generation: Arc<AtomicU64>,
    pub changes: Arc<ferrovs_ofproto::service::changes::Changes>,
    pub state: Arc<RevalidatorState>,
}

/// The running revalidator threads of one datapath; dropping stops them.
pub struct Revalidators {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    ctx: Arc<Context>,
}

impl Revalidators {
    /// Starts `n` threads (at least one).
    pub fn start(
        dp_name: &str,
        dpif: SharedDpif,
        service: Arc<OfprotoService>,
        ukeys: Arc<Ukeys>,
        ports: PortMap,
        n: usize,
    ) -> Revalidators {
        let n = n.max(1);
        let generation = service.tables_generation_handle();
        let changes = service.changes();
        let state = Arc::new(RevalidatorState {
            max_idle_ms: AtomicU64::new(DEFAULT_MAX_IDLE_MS),
            max_revalidator_ms: AtomicU64::new(PASS_INTERVAL.as_millis() as u64),
            passes: (0..n).map(|_| AtomicU64::new(0)).collect(),
            ..RevalidatorState::default()
        });
        let ctx = Arc::new(Context {
            dpif,
            service,
            ukeys,
            ports,
            generation,
            changes,
            state,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..n {
            let (ctx, stop) = (Arc::clone(&ctx), Arc::clone(&stop));
            let spawned = std::thread::Builder::new()
                .name(format!("revalidator{}", i + 1))
                .spawn(move || run(&ctx, i, n, &stop));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => log::error!(target: "ofproto_dpif_upcall",
                    "{dp_name}: cannot start revalidator thread: {e}"),
            }
        }
        Revalidators { stop, threads, ctx }
    }

    pub fn state(&self) -> &Arc<RevalidatorState> {
        &self.ctx.state
    }

    /// `revalidator/wait`: returns once every revalidator has run a whole
    /// pass that started after the call (or after `limit`).
    pub fn wait(&self, limit: Duration) {
        let s = &self.ctx.state;
        if s.paused.load(Ordering::Acquire) {
            return;
        }
        let start: Vec<u64> = s.passes.iter().map(|p| p.load(Ordering::Acquire)).collect();
        s.kick.fetch_add(1, Ordering::AcqRel);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let done = s
                .passes
                .iter()
                .zip(&start)
                .all(|(p, &b)| p.load(Ordering::Acquire) >= b + 2);
            if done || self.threads.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `revalidator/purge`: deletes every flow of the datapath, crediting
    /// what each counted since the last pass to its rules.
    pub fn purge(&self) {
        let ctx = &self.ctx;
        let mut dpif = lock_dpif(&ctx.dpif);
        let flows = dpif.flow_dump().unwrap_or_default();
        let mut finals = Vec::new();
        for f in &flows {
            let id = match f.ufid {
                Some(u) => FlowId::Ufid(u),
                None => FlowId::Key(&f.key),
            };
            let stats = dpif.flow_del(id).unwrap_or(f.stats);
            finals.push((f.ufid, stats));
        }
        // Flows installed meanwhile, or that would not go one by one.
        let _ = dpif.flow_flush();
        drop(dpif);
        let mut ukeys = ctx.ukeys.lock();
        let mut credits: HashMap<String, Vec<Credit>> = HashMap::new();
        for (ufid, stats) in finals {
            let Some(k) = ufid.and_then(|u| ukeys.remove(&u)) else {
                continue;
            };
            let (packets, bytes) = delta(&stats, &k.credited);
            if packets > 0 || bytes > 0 {
                credits.entry(k.bridge.clone()).or_default().push(Credit {
                    rules: k.rules,
                    packets,
                    bytes,
                    learned: Vec::new(),
                });
            }
        }
        ukeys.clear();
        drop(ukeys);
        for (bridge, c) in credits {
            ctx.service.credit_stats(&bridge, c);
        }
    }

    /// The per-revalidator lines of `upcall/show`.
    pub fn show_lines(&self) -> String {
        let n = self.ctx.state.passes.len();
        (0..n)
            .map(|i| format!("  {}: (keys {})\n", i + 1, self.ctx.ukeys.count_for(i, n)))
            .collect()
    }
}

impl Drop for Revalidators {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(ctx: &Context, index: usize, n: usize, stop: &AtomicBool) {
    let mut last_gen = ctx.generation.load(Ordering::Acquire);
    let mut last_kick = ctx.state.kick.load(Ordering::Acquire);
    let mut last_pass = Instant::now();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(POLL);
        let gen = ctx.generation.load(Ordering::Acquire);
        let kick = ctx.state.kick.load(Ordering::Acquire);
        let kicked = kick != last_kick;
        let interval = Duration::from_millis(ctx.state.max_revalidator_ms.load(Ordering::Relaxed));
        if ctx.state.paused.load(Ordering::Acquire)
            || (gen == last_gen && !kicked && last_pass.elapsed() < interval)
        {
            continue;
        }
        last_kick = kick;
        last_gen = gen;
        last_pass = Instant::now();
        if let Err(e) = pass(ctx, index, n) {
            log::warn!(target: "ofproto_dpif_upcall", "revalidation failed: {e}");
        }
        if let Some(p) = ctx.state.passes.get(index) {
            p.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Statistics counted since `seen` (a flow recreated with fresh counters
/// counts from zero).
fn delta(now: &FlowStats, seen: &FlowStats) -> (u64, u64) {
    if now.n_packets < seen.n_packets {
        (now.n_packets, now.n_bytes)
    } else {
        (
            now.n_packets - seen.n_packets,
            now.n_bytes.saturating_sub(seen.n_bytes),
        )
    }
}

/// What to do with one flow.
enum Verdict {
    Keep,
    Delete { idle: bool },
}

/// Flows translated again in one trip to the OpenFlow service.
const REVALIDATE_BATCH: usize = 64;

/// A flow whose key must be translated again, with the request for it.
struct Recheck {
    ufid: Ufid,
    ukey: Ukey,
    stats: FlowStats,
    item: Option<UpcallItem>,
}

/// One pass over this revalidator's share of the datapath's flows.
fn pass(ctx: &Context, index: usize, n: usize) -> Result<(), String> {
    let started = Instant::now();
    let flows = lock_dpif(&ctx.dpif)
        .flow_dump()
        .map_err(|e| format!("flow dump: {e}"))?;
    ctx.state
        .flows_max
        .fetch_max(flows.len() as u64, Ordering::Relaxed);
    let now_ms = ferrovs_netdev::dev::sys::monotonic_ms();
    let max_idle = ctx.state.max_idle_ms.load(Ordering::Relaxed);
    let gen = ctx.generation.load(Ordering::Acquire);
    let mut credits: HashMap<String, Vec<Credit>> = HashMap::new();
    let mut seen = HashSet::new();
    let mut rechecks = Vec::new();
    for f in &flows {
        let Some(ufid) = f.ufid else { continue };
        if share(ufid, n) != index {
            continue;
        }
        seen.insert(ufid);
        // Most flows only have statistics to credit: done in place,
        // without a copy of their ukey.
        if credit_in_place(ctx, ufid, &f.stats, now_ms, max_idle, gen, &mut credits) {
            continue;
        }
        let ukey = ctx.ukeys.lock().get(&ufid).cloned();
        let Some(mut ukey) = ukey else {
            // Not ours: nothing to credit, nothing to check it against.
            delete(ctx, ufid);
            continue;
        };
        let idle_ms = if f.stats.used_ms == 0 {
            ukey.created.elapsed().as_millis() as u64
        } else {
            now_ms.saturating_sub(f.stats.used_ms)
        };
        let verdict = if idle_ms > max_idle {
            Verdict::Delete { idle: true }
        } else if ukey.generation != gen {
            if ctx.changes.affects(ukey.generation, &ukey.in_ports) {
                // Translated again below, many flows per trip to the
                // OpenFlow service.
                let carried = delta(&f.stats, &ukey.credited).0 > 0;
                let item = recheck_request(ctx, &mut ukey, carried);
                rechecks.push(Recheck {
                    ufid,
                    ukey,
                    stats: f.stats,
                    item,
                });
                continue;
            }
            ukey.generation = gen;
            ctx.state.unaffected.fetch_add(1, Ordering::Relaxed);
            Verdict::Keep
        } else {
            Verdict::Keep
        };
        conclude(ctx, ufid, ukey, f.stats, verdict, &mut credits);
    }
    while !rechecks.is_empty() {
        let rest = rechecks.split_off(rechecks.len().min(REVALIDATE_BATCH));
        let batch = std::mem::replace(&mut rechecks, rest);
        let items: Vec<UpcallItem> = batch.iter().filter_map(|r| r.item.clone()).collect();
        let mut answers = ctx.service.translate_upcalls(items).into_iter();
        for mut r in batch {
            let verdict = match r.item {
                // The bridge is gone, and its flows with it.
                None => Verdict::Delete { idle: false },
                Some(_) => match answers.next() {
                    Some(x) => revalidated(ctx, r.ufid, &mut r.ukey, gen, x),
                    None => Verdict::Delete { idle: false },
                },
            };
            conclude(ctx, r.ufid, r.ukey, r.stats, verdict, &mut credits);
        }
    }
    for (bridge, c) in credits {
        ctx.service.credit_stats(&bridge, c);
    }
    // Ukeys whose flows are gone (purged, or deleted with their port),
    // unless installed after the dump began.
    ctx.ukeys
        .lock()
        .retain(|u, k| share(*u, n) != index || seen.contains(u) || k.created >= started);
    ctx.state
        .dump_duration_ms
        .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    Ok(())
}

/// For a flow that stays as it is (not idle, translated at the current
/// generation or unaffected by the changes since): credits its statistics
/// since the last pass and brings its ukey up to date, under one lock.
/// False when the flow needs more (no ukey, idle, to translate again).
fn credit_in_place(
    ctx: &Context,
    ufid: Ufid,
    dumped: &FlowStats,
    now_ms: u64,
    max_idle: u64,
    gen: u64,
    credits: &mut HashMap<String, Vec<Credit>>,
) -> bool {
    let mut ukeys = ctx.ukeys.lock();
    let Some(u) = ukeys.get_mut(&ufid) else {
        return false;
    };
    let idle_ms = if dumped.used_ms == 0 {
        u.created.elapsed().as_millis() as u64
    } else {
        now_ms.saturating_sub(dumped.used_ms)
    };
    if idle_ms > max_idle {
        return false;
    }
    if u.generation != gen {
        if ctx.changes.affects(u.generation, &u.in_ports) {
            return false;
        }
        u.generation = gen;
        ctx.state.unaffected.fetch_add(1, Ordering::Relaxed);
    }
    let (packets, bytes) = delta(dumped, &u.credited);
    if packets > 0 || bytes > 0 {
        credits.entry(u.bridge.clone()).or_default().push(Credit {
            rules: u.rules.clone(),
            packets,
            bytes,
            learned: u.learned.clone(),
        });
    }
    u.credited = *dumped;
    true
}

/// Carries out a flow's verdict: deletes it, or records what its ukey
/// learned; either way its statistics since the last pass go to `credits`.
fn conclude(
    ctx: &Context,
    ufid: Ufid,
    ukey: Ukey,
    dumped: FlowStats,
    verdict: Verdict,
    credits: &mut HashMap<String, Vec<Credit>>,
) {
    let mut ukey = ukey;
    let mut stats = dumped;
    if let Verdict::Delete { idle } = verdict {
        // The final counters, including packets since the dump.
        if let Some(last) = delete(ctx, ufid) {
            stats = last;
        }
        let counter = if idle {
            &ctx.state.deleted_idle
        } else {
            &ctx.state.deleted_stale
        };
        counter.fetch_add(1, Ordering::Relaxed);
        ctx.ukeys.lock().remove(&ufid);
    }
    let (packets, bytes) = delta(&stats, &ukey.credited);
    if packets > 0 || bytes > 0 {
        credits
            .entry(ukey.bridge.clone())
            .or_default()
            .push(Credit {
                rules: ukey.rules.clone(),
                packets,
                bytes,
                learned: ukey.learned.clone(),
            });
    }
    if let Verdict::Keep = verdict {
        ukey.credited = stats;
        if let Some(u) = ctx.ukeys.lock().get_mut(&ufid) {
            u.credited = ukey.credited;
            u.generation = ukey.generation;
            u.rules = ukey.rules;
            u.actions = ukey.actions;
            u.learned = ukey.learned;
            u.in_ports = ukey.in_ports;
            u.odp_ports = ukey.odp_ports;
        }
    }
}

/// The request that translates the flow's key again with its bridge's
/// ports now (they may have changed too); `None` when the bridge is gone
/// (its flows go along).
fn recheck_request(ctx: &Context, ukey: &mut Ukey, may_learn: bool) -> Option<UpcallItem> {
    let odp_ports = ctx
        .ports
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .find(|b| b.0 == ukey.bridge)
        .map(|b| b.1.clone())?;
    ukey.odp_ports = odp_ports.clone();
    Some(UpcallItem {
        bridge: ukey.bridge.clone(),
        req: UpcallRequest {
            key: ukey.key.clone(),
            odp_ports,
            may_learn,
        },
        // Revalidation is no packet: nothing to credit.
        packet_len: None,
    })
}

/// Judges the flow's new translation `x`: keeps the flow (now at
/// generation `gen`) when nothing changed, fixes its actions when only
/// they did, else deletes it.
fn revalidated(
    ctx: &Context,
    ufid: Ufid,
    ukey: &mut Ukey,
    gen: u64,
    x: Result<UpcallXlate, String>,
) -> Verdict {
    let x = match x {
        Ok(x) if !x.slow && x.mask == ukey.mask => x,
        _ => return Verdict::Delete { idle: false },
    };
    if x.actions != ukey.actions {
        // Same megaflow, other actions: fixed in place (its counters
        // stay).
        let put = FlowPut {
            flags: PutFlags {
                create: false,
                modify: true,
                zero_stats: false,
            },
            key: &ukey.key,
            mask: &ukey.mask,
            actions: &x.actions,
            ufid: Some(ufid),
        };
        if lock_dpif(&ctx.dpif).flow_put(&put).is_err() {
            return Verdict::Delete { idle: false };
        }
        ctx.state.modified.fetch_add(1, Ordering::Relaxed);
    } else {
        ctx.state.kept.fetch_add(1, Ordering::Relaxed);
    }
    ukey.actions = x.actions;
    ukey.generation = gen;
    ukey.rules = x.rules;
    ukey.learned = x.learned;
    ukey.in_ports = x.in_ports;
    Verdict::Keep
}

fn delete(ctx: &Context, ufid: Ufid) -> Option<FlowStats> {
    lock_dpif(&ctx.dpif).flow_del(FlowId::Ufid(ufid)).ok()
}
