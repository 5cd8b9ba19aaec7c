//! Revalidators: threads that keep a datapath's flows true to the
//! OpenFlow tables.
//!
//! Every flow a handler installs leaves a *ukey* here: its key, mask and
//! actions, the bridge and tables generation it was translated with, and
//! the rules it went through. Each pass (every [`PASS_INTERVAL`], or at
//! once when the tables change or `revalidator/wait` asks), a revalidator
//! dumps the datapath's flows tersely (UFID and statistics only: the
//! ukey has the rest) and for each of its share of them:
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
//! naming one input port, a MAC table entry, or everything), and a flow
//! behind the tables generation is compared lazily with the changes
//! since, against the input ports of its lookups and the destinations
//! its NORMAL looked up.
//!
//! A pass copies no ukey: flows are judged in place under the ukeys'
//! lock, a chunk at a time, and only what a translation or a datapath
//! call needs leaves it (the datapath's lock is never taken under the
//! ukeys': the handlers take the datapath's, then the ukeys'). Flows
//! without a ukey (installed by someone else, e.g. `dpctl/add-flow`) are
//! deleted, as in Open vSwitch (`revalidator/pause` keeps them).
//!
//! Provider-neutral: only `flow_dump_stats`, `flow_put` and `flow_del`
//! of the `Dpif` trait (`flow_dump` for `revalidator/purge`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrovs_dpif::netdev::ufid::{UfidMap, UfidSet};
use ferrovs_dpif::netdev::FlowAttrs;
use ferrovs_dpif::{FlowId, FlowPut, FlowStats, PutFlags, Ufid};
use ferrovs_ofproto::mac_learning::MacKey;
use ferrovs_ofproto::service::{OfprotoService, UpcallItem};
use ferrovs_ofproto::xlate::learn::Learned;
use ferrovs_ofproto::xlate::upcall::{Credit, UpcallRequest, UpcallXlate};
use ferrovs_ofproto::xlate::RuleHit;

use crate::bridge::{lock_dpif, SharedDpif};
use crate::upcall::{BridgePorts, PortMap};

/// How often a revalidator dumps the flows when nothing asks sooner
/// (stock's max-revalidator default; other_config:max-revalidator
/// changes it).
pub const PASS_INTERVAL: Duration = Duration::from_millis(500);
/// How often a sleeping revalidator looks for a reason to wake.
const POLL: Duration = Duration::from_millis(20);
/// Stock's default other_config:max-idle, in milliseconds.
pub const DEFAULT_MAX_IDLE_MS: u64 = 10_000;

/// What the revalidators know about an installed flow.
#[derive(Debug)]
pub struct Ukey {
    /// Key, mask and actions as installed (shared with the userspace
    /// datapath's flow, not copied).
    pub key: Arc<[u8]>,
    pub mask: Arc<[u8]>,
    pub actions: Arc<[u8]>,
    /// The bridge it was translated in, with the ports it had then
    /// (shared with the handlers' port map, not copied per flow; a
    /// revalidation translates with the bridge's ports as they are then).
    pub bridge: BridgePorts,
    /// The tables generation it was translated with.
    pub generation: u64,
    /// The rules it went through (shared with its translation and
    /// credits, never copied).
    pub rules: Arc<[RuleHit]>,
    /// Rules its translation learned, refreshed while it carries packets.
    pub learned: Arc<[Learned]>,
    /// The input ports its table lookups used (changes scoped to other
    /// ports cannot affect it).
    pub in_ports: Vec<u16>,
    /// The (VLAN, MAC) destinations its NORMAL looked up (changes to
    /// other MAC table entries cannot affect it).
    pub mac_lookups: Vec<MacKey>,
    /// Statistics already credited to the rules.
    pub credited: FlowStats,
    pub created: Instant,
}

impl Ukey {
    /// The ukey of a flow installed with `attrs` (key, effective mask,
    /// actions) in `bridge`, from its translation `x` made at tables
    /// generation `generation`; what only the ukey needs of `x` (the
    /// ports and MAC destinations it looked at) is moved out of it.
    pub fn new(
        attrs: FlowAttrs,
        bridge: BridgePorts,
        generation: u64,
        x: &mut UpcallXlate,
    ) -> Ukey {
        Ukey {
            key: attrs.key,
            mask: attrs.mask,
            actions: attrs.actions,
            bridge,
            generation,
            rules: Arc::clone(&x.rules),
            learned: Arc::clone(&x.learned),
            in_ports: std::mem::take(&mut x.in_ports),
            mac_lookups: std::mem::take(&mut x.mac_lookups),
            credited: FlowStats::default(),
            created: Instant::now(),
        }
    }

    fn bridge_name(&self) -> &str {
        &self.bridge.0
    }

    /// Takes a revalidation's translation (same mask) as its own, at
    /// generation `gen`.
    fn retranslated(&mut self, x: UpcallXlate, gen: u64) {
        if *self.actions != *x.actions {
            self.actions = x.actions.into();
        }
        self.generation = gen;
        self.rules = x.rules;
        self.learned = x.learned;
        self.in_ports = x.in_ports;
        self.mac_lookups = x.mac_lookups;
    }
}

/// The ukeys of one datapath, by UFID.
#[derive(Default)]
pub struct Ukeys(Mutex<UfidMap<Ukey>>);

impl Ukeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, UfidMap<Ukey>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many flows are known (`memory/show`'s "udpif keys").
    pub fn len(&self) -> usize {
        self.lock().len()
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
    /// How many revalidator threads run (`memory/show`).
    pub fn n_threads(&self) -> usize {
        self.threads.len()
    }

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
        let mut credits = Credits::default();
        for (ufid, stats) in finals {
            let Some(k) = ufid.and_then(|u| ukeys.remove(&u)) else {
                continue;
            };
            let (packets, bytes) = delta(&stats, &k.credited);
            if packets > 0 || bytes > 0 {
                credits.push(
                    &Arc::clone(&k.bridge).0,
                    Credit {
                        rules: k.rules,
                        packets,
                        bytes,
                        learned: Arc::new([]),
                    },
                );
            }
        }
        ukeys.clear();
        drop(ukeys);
        credits.send(&ctx.service);
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
    // The tunnel neighbour cache: a new or changed neighbour (or one
    // expired or flushed) may change the `tnl_push` header of any flow
    // through a tunnel, so every flow is checked again, as stock does
    // (its `tnl_conf_seq`). One thread watches for all.
    let neigh = &crate::tunnel::underlay().neigh;
    let mut last_neigh = neigh.changes();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(POLL);
        if index == 0 {
            if last_pass.elapsed() >= PASS_INTERVAL {
                neigh.run();
            }
            let now = neigh.changes();
            if now != last_neigh {
                last_neigh = now;
                ctx.changes
                    .bump(ferrovs_ofproto::service::changes::Scope::All);
            }
        }
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

/// Statistics to credit to rules, by bridge.
#[derive(Default)]
struct Credits(HashMap<String, Vec<Credit>>);

impl Credits {
    fn push(&mut self, bridge: &str, c: Credit) {
        match self.0.get_mut(bridge) {
            Some(v) => v.push(c),
            None => {
                self.0.insert(bridge.to_string(), vec![c]);
            }
        }
    }

    /// Credits the flow's statistics counted since the last pass (with
    /// its rules as the ukey has them) and marks them credited.
    fn flow(&mut self, ukey: &mut Ukey, now: FlowStats) {
        let (packets, bytes) = delta(&now, &ukey.credited);
        if packets > 0 || bytes > 0 {
            self.push(
                &ukey.bridge.0,
                Credit {
                    rules: Arc::clone(&ukey.rules),
                    packets,
                    bytes,
                    learned: Arc::clone(&ukey.learned),
                },
            );
        }
        ukey.credited = now;
    }

    fn send(self, service: &OfprotoService) {
        for (bridge, c) in self.0 {
            service.credit_stats(&bridge, c);
        }
    }
}

/// Flows judged under one hold of the ukeys' lock (the handlers insert
/// theirs between chunks).
const JUDGE_CHUNK: usize = 1024;

/// Flows translated again in one trip to the OpenFlow service.
const REVALIDATE_BATCH: usize = 64;

/// Why a flow goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Idle,
    /// The tables changed what it translates to (or its bridge went).
    Stale,
    /// No ukey: installed by someone else.
    Stranger,
}

/// A flow whose key must be translated again, with the request for it
/// (`None` when its bridge is gone: it goes along).
struct Recheck {
    ufid: Ufid,
    stats: FlowStats,
    item: Option<UpcallItem>,
}

/// What a pass does after judging: the flows to delete and those to
/// translate again.
#[derive(Default)]
struct Work {
    doomed: Vec<(Ufid, FlowStats, Why)>,
    rechecks: Vec<Recheck>,
}

/// One pass over this revalidator's share of the datapath's flows.
fn pass(ctx: &Context, index: usize, n: usize) -> Result<(), String> {
    let started = Instant::now();
    let mut flows = lock_dpif(&ctx.dpif)
        .flow_dump_stats()
        .map_err(|e| format!("flow dump: {e}"))?;
    ctx.state
        .flows_max
        .fetch_max(flows.len() as u64, Ordering::Relaxed);
    flows.retain(|(ufid, _)| share(*ufid, n) == index);
    let now_ms = ferrovs_netdev::dev::sys::monotonic_ms();
    let max_idle = ctx.state.max_idle_ms.load(Ordering::Relaxed);
    let gen = ctx.generation.load(Ordering::Acquire);
    let bridges = current_bridges(ctx);
    let mut credits = Credits::default();
    let mut work = Work::default();
    for chunk in flows.chunks(JUDGE_CHUNK) {
        let mut ukeys = ctx.ukeys.lock();
        for &(ufid, stats) in chunk {
            let Some(u) = ukeys.get_mut(&ufid) else {
                work.doomed.push((ufid, stats, Why::Stranger));
                continue;
            };
            let idle_ms = if stats.used_ms == 0 {
                u.created.elapsed().as_millis() as u64
            } else {
                now_ms.saturating_sub(stats.used_ms)
            };
            if idle_ms > max_idle {
                work.doomed.push((ufid, stats, Why::Idle));
                continue;
            }
            if u.generation != gen {
                if ctx
                    .changes
                    .affects(u.generation, &u.in_ports, &u.mac_lookups)
                {
                    // Translated again below, many flows per trip to
                    // the OpenFlow service.
                    let carried = delta(&stats, &u.credited).0 > 0;
                    work.rechecks.push(Recheck {
                        ufid,
                        stats,
                        item: recheck_request(&bridges, u, carried),
                    });
                    continue;
                }
                u.generation = gen;
                ctx.state.unaffected.fetch_add(1, Ordering::Relaxed);
            }
            credits.flow(u, stats);
        }
    }
    let Work {
        mut doomed,
        rechecks,
    } = work;
    let mut rechecks = rechecks.into_iter();
    loop {
        let batch: Vec<Recheck> = rechecks.by_ref().take(REVALIDATE_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        recheck(ctx, batch, gen, &mut doomed, &mut credits);
    }
    delete(ctx, doomed, &mut credits);
    credits.send(&ctx.service);
    // Ukeys whose flows are gone (purged, or deleted with their port),
    // unless installed after the dump began.
    let seen: UfidSet = flows.iter().map(|(u, _)| *u).collect();
    ctx.ukeys
        .lock()
        .retain(|u, k| share(*u, n) != index || seen.contains(u) || k.created >= started);
    ctx.state
        .dump_duration_ms
        .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    Ok(())
}

/// The bridges as they are now, by name.
fn current_bridges(ctx: &Context) -> HashMap<String, BridgePorts> {
    ctx.ports
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|b| (b.0.to_string(), Arc::clone(b)))
        .collect()
}

/// The request that translates the flow's key again with its bridge's
/// ports now (they may have changed too); `None` when the bridge is gone.
fn recheck_request(
    bridges: &HashMap<String, BridgePorts>,
    ukey: &Ukey,
    may_learn: bool,
) -> Option<UpcallItem> {
    let now = bridges.get(ukey.bridge_name())?;
    Some(UpcallItem {
        bridge: Arc::clone(&now.0),
        req: UpcallRequest {
            key: ukey.key.to_vec(),
            odp_ports: Arc::clone(&now.1),
            may_learn,
            parsed: None,
            packet_out: None,
        },
        // Revalidation is no packet: nothing to credit.
        packet_len: None,
    })
}

/// What a revalidation's translation means for its flow.
enum Verdict {
    /// The same: the ukey took the translation.
    Same,
    /// Same megaflow, other actions: to fix in place (key, mask of the
    /// flow, and the translation).
    Fix(Arc<[u8]>, Arc<[u8]>, Box<UpcallXlate>),
    Stale,
}

/// Translates a batch of flows again and judges each: kept (now at
/// generation `gen`), fixed in place, or to delete (into `doomed`).
fn recheck(
    ctx: &Context,
    mut batch: Vec<Recheck>,
    gen: u64,
    doomed: &mut Vec<(Ufid, FlowStats, Why)>,
    credits: &mut Credits,
) {
    // One answer per item, in order; flows without an item (bridge gone)
    // get none.
    let mut asked = Vec::with_capacity(batch.len());
    let items: Vec<UpcallItem> = batch
        .iter_mut()
        .filter_map(|r| {
            let item = r.item.take();
            asked.push(item.is_some());
            item
        })
        .collect();
    let mut answers = ctx.service.translate_upcalls(items).into_iter();
    let mut verdicts = Vec::with_capacity(batch.len());
    {
        let mut ukeys = ctx.ukeys.lock();
        for (r, &asked) in batch.iter().zip(&asked) {
            let answer = if asked { answers.next() } else { None };
            let verdict = match (answer, ukeys.get_mut(&r.ufid)) {
                (Some(Ok(x)), Some(u))
                    if !x.slow && *crate::appctl::effective_mask(&u.key, &x.mask) == *u.mask =>
                {
                    if *x.actions == *u.actions {
                        ctx.state.kept.fetch_add(1, Ordering::Relaxed);
                        u.retranslated(x, gen);
                        credits.flow(u, r.stats);
                        Verdict::Same
                    } else {
                        Verdict::Fix(u.key.clone(), u.mask.clone(), Box::new(x))
                    }
                }
                _ => Verdict::Stale,
            };
            verdicts.push(verdict);
        }
    }
    // Fixes need the datapath's lock, never under the ukeys'.
    let mut fixed = Vec::new();
    {
        let mut dpif = None;
        for (r, v) in batch.iter().zip(verdicts) {
            match v {
                Verdict::Same => {}
                Verdict::Stale => doomed.push((r.ufid, r.stats, Why::Stale)),
                Verdict::Fix(key, mask, x) => {
                    let put = FlowPut {
                        flags: PutFlags {
                            create: false,
                            modify: true,
                            zero_stats: false,
                        },
                        key: &key,
                        mask: &mask,
                        actions: &x.actions,
                        ufid: Some(r.ufid),
                    };
                    let dpif = dpif.get_or_insert_with(|| lock_dpif(&ctx.dpif));
                    if dpif.flow_put(&put).is_ok() {
                        fixed.push((r.ufid, r.stats, x));
                    } else {
                        doomed.push((r.ufid, r.stats, Why::Stale));
                    }
                }
            }
        }
    }
    if fixed.is_empty() {
        return;
    }
    let mut ukeys = ctx.ukeys.lock();
    for (ufid, stats, x) in fixed {
        ctx.state.modified.fetch_add(1, Ordering::Relaxed);
        if let Some(u) = ukeys.get_mut(&ufid) {
            u.retranslated(*x, gen);
            credits.flow(u, stats);
        }
    }
}

/// Deletes flows (under one hold of the datapath's lock), then credits
/// what each counted since the last pass, to the end, and forgets their
/// ukeys.
fn delete(ctx: &Context, doomed: Vec<(Ufid, FlowStats, Why)>, credits: &mut Credits) {
    if doomed.is_empty() {
        return;
    }
    let finals: Vec<FlowStats> = {
        let mut dpif = lock_dpif(&ctx.dpif);
        doomed
            .iter()
            // The final counters, including packets since the dump.
            .map(|(ufid, stats, _)| dpif.flow_del(FlowId::Ufid(*ufid)).unwrap_or(*stats))
            .collect()
    };
    let mut ukeys = ctx.ukeys.lock();
    for ((ufid, _, why), stats) in doomed.into_iter().zip(finals) {
        let counter = match why {
            Why::Idle => &ctx.state.deleted_idle,
            Why::Stale => &ctx.state.deleted_stale,
            // Not ours: nothing to credit, nothing to count.
            Why::Stranger => continue,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(mut u) = ukeys.remove(&ufid) {
            credits.flow(&mut u, stats);
        }
    }
}
