//! The shared state of one userspace datapath and its packet pipeline:
//! key extraction, exact-match cache, megaflow classifier, actions,
//! recirculation, and MISS upcalls. The poll thread and `execute` both
//! run packets through [`DpCore::process`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;

use ferrovs_netdev::dev::{sys, DummyDev};
use ferrovs_netdev::packet::{Packet, PacketMeta};
use ferrovs_netdev::{extract, offload, Netdev};

use super::actions::{self, ExecCtx, PortTable};
use super::classifier::{Classifier, ExactCache, Megaflow};
use super::conntrack::Conntrack;
use super::meter::Meters;
use super::odp_key;
use super::pmd_stats::PmdStats;
use super::upcall::UpcallQueue;
use crate::{Upcall, UpcallKind};

/// Frames read from one port per poll round.
pub const BATCH_SIZE: usize = 32;
/// Most passes of a packet through the datapath (1 + recirculations).
pub const MAX_RECIRC_DEPTH: usize = 6;
/// Shortest frame processed: an Ethernet header.
pub const MIN_FRAME: usize = 14;

/// One port of the datapath.
pub struct Port {
    pub name: String,
    pub kind: String,
    pub dev: Arc<dyn Netdev>,
    /// The same device when it is a dummy, for injecting and capturing.
    pub dummy: Option<Arc<DummyDev>>,
}

/// Datapath-wide counters.
#[derive(Default)]
pub struct DpCounters {
    pub hit: AtomicU64,
    pub missed: AtomicU64,
    pub mask_hit: AtomicU64,
    /// Frames dropped for being shorter than an Ethernet header (stock's
    /// `datapath_drop_rx_invalid_packet`).
    pub invalid: AtomicU64,
    /// Packets dropped by actions (unsupported action, missing port, ...).
    pub action_drops: AtomicU64,
    /// Packets dropped for recirculating too often.
    pub recirc_drops: AtomicU64,
    /// Batches lost to a panic in packet processing (a bug if not 0).
    pub panics: AtomicU64,
}

pub struct DpCore {
    pub name: String,
    pub ports: RwLock<BTreeMap<u32, Port>>,
    /// Bumped on every port change so poll threads re-read the ports.
    pub port_gen: AtomicU64,
    pub flows: RwLock<Classifier>,
    pub upcalls: UpcallQueue,
    pub conntrack: Conntrack,
    pub meters: Meters,
    pub counters: DpCounters,
    /// One per poll thread, then one for the main thread (execute).
    pub pmd_stats: Vec<PmdStats>,
    pub shutdown: AtomicBool,
}

impl DpCore {
    /// Zeroes the per-thread counters and the lookup counters derived
    /// from the same events.
    pub fn clear_pmd_stats(&self) {
        for st in &self.pmd_stats {
            st.clear();
        }
        let c = &self.counters;
        for n in [&c.hit, &c.missed, &c.mask_hit] {
            n.store(0, Ordering::Relaxed);
        }
    }

    /// The output table as of now.
    pub fn port_table(&self) -> PortTable {
        let ports = self.ports.read().unwrap_or_else(|e| e.into_inner());
        ports
            .iter()
            .map(|(n, p)| (*n, Arc::clone(&p.dev)))
            .collect()
    }

    /// Runs received (or executed) packets through the pipeline.
    pub fn process(
        &self,
        batch: Vec<Packet>,
        ports: &PortTable,
        emc: &mut ExactCache,
        rng: &mut u64,
        stats: &PmdStats,
    ) {
        let mut pass = batch;
        for depth in 0..=MAX_RECIRC_DEPTH {
            if pass.is_empty() {
                return;
            }
            if depth == MAX_RECIRC_DEPTH {
                self.counters
                    .recirc_drops
                    .fetch_add(pass.len() as u64, Ordering::Relaxed);
                return;
            }
            if depth > 0 {
                PmdStats::add(&stats.recirc, pass.len() as u64);
            }
            let mut recirc = Vec::new();
            let mut ctx = ExecCtx {
                ports,
                upcalls: &self.upcalls,
                conntrack: &self.conntrack,
                meters: &self.meters,
                recirc: &mut recirc,
                dropped: 0,
                rng,
                pending: Vec::new(),
            };
            let now = sys::monotonic_ms();
            let mut tally = Tally::default();
            for pkt in pass {
                self.process_one(pkt, &mut ctx, emc, now, stats, &mut tally);
            }
            tally.flush_flow(now);
            self.counters.hit.fetch_add(tally.hit, Ordering::Relaxed);
            PmdStats::add(&stats.emc_hit, tally.emc_hit);
            PmdStats::add(&stats.masked_hit, tally.masked_hit);
            PmdStats::add(&stats.masked_lookup, tally.masked_lookup);
            let (pkts, batches) = ctx.flush();
            PmdStats::add(&stats.sent_pkts, pkts);
            PmdStats::add(&stats.sent_batches, batches);
            if ctx.dropped > 0 {
                self.counters
                    .action_drops
                    .fetch_add(ctx.dropped, Ordering::Relaxed);
            }
            pass = recirc;
        }
    }

    fn process_one(
        &self,
        pkt: Packet,
        ctx: &mut ExecCtx<'_>,
        emc: &mut ExactCache,
        now: u64,
        stats: &PmdStats,
        tally: &mut Tally,
    ) {
        if pkt.len() < MIN_FRAME {
            self.counters.invalid.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A frame whose deeper headers are cut or inconsistent is switched
        // on what did parse (the key holds zeros below that), as both of
        // Open vSwitch's datapaths do: a switch forwards what it cannot
        // read, and the flow tables decide. Only frames without a whole
        // Ethernet header are invalid.
        let x = extract(pkt.data(), &pkt.meta);
        let flow = match emc.lookup(&x.key) {
            Some(f) => {
                tally.emc_hit += 1;
                Some(f)
            }
            None => {
                let cls = self.flows.read().unwrap_or_else(|e| e.into_inner());
                cls.lookup(&x.key).map(|l| {
                    let searched = u64::from(l.subtables_searched);
                    self.counters
                        .mask_hit
                        .fetch_add(searched, Ordering::Relaxed);
                    tally.masked_hit += 1;
                    tally.masked_lookup += searched;
                    emc.insert(x.key, Arc::clone(&l.flow));
                    l.flow
                })
            }
        };
        match flow {
            Some(f) => {
                tally.hit += 1;
                tally.flow_hit(&f, pkt.len(), x.key.tcp_flags, now);
                actions::execute(pkt, &f.actions, ctx);
            }
            None => {
                // Counted before the upcall leaves (whoever handles it may
                // look at the counters next); a miss is slow anyway.
                self.counters.missed.fetch_add(1, Ordering::Relaxed);
                if self.miss_upcall(pkt) {
                    PmdStats::add(&stats.miss, 1);
                } else {
                    PmdStats::add(&stats.lost, 1);
                }
            }
        }
    }

    /// Sends a packet that matched no flow up. A super-frame goes up as
    /// its segments, each a packet the handler can execute and output.
    fn miss_upcall(&self, pkt: Packet) -> bool {
        let mut segs = Vec::new();
        offload::finish(pkt, &mut segs);
        let mut all = true;
        for s in segs {
            let key = extract(s.data(), &s.meta).key;
            all &= self.upcalls.send(
                Upcall {
                    kind: UpcallKind::Miss,
                    packet: s.data().to_vec(),
                    key: odp_key::to_odp(&key),
                    userdata: None,
                    egress_tun_key: None,
                    mru: None,
                },
                super::upcall::flow_hash(&key),
            );
        }
        all
    }
}

/// Counters of the hits in one pass over a batch, added to the shared
/// atomics once per pass rather than once per packet (they are on cache
/// lines other threads read); they are added before the pass's output
/// is sent. Misses are counted at once, before their upcall leaves. A flow's counters are added once per run of packets
/// that hit the same flow: one add for a whole batch of one stream.
#[derive(Default)]
struct Tally {
    hit: u64,
    emc_hit: u64,
    masked_hit: u64,
    masked_lookup: u64,
    /// The flow of the current run, its packets, bytes and TCP flags.
    flow: Option<Arc<Megaflow>>,
    packets: u64,
    bytes: u64,
    tcp_flags: u16,
}

impl Tally {
    fn flow_hit(&mut self, flow: &Arc<Megaflow>, bytes: usize, tcp_flags: u16, now: u64) {
        if !self.flow.as_ref().is_some_and(|f| Arc::ptr_eq(f, flow)) {
            self.flush_flow(now);
            self.flow = Some(Arc::clone(flow));
        }
        self.packets += 1;
        self.bytes += bytes as u64;
        self.tcp_flags |= tcp_flags;
    }

    fn flush_flow(&mut self, now: u64) {
        if let Some(f) = self.flow.take() {
            f.counters
                .add(self.packets, self.bytes, self.tcp_flags, now);
        }
        self.packets = 0;
        self.bytes = 0;
        self.tcp_flags = 0;
    }
}

/// Starts poll thread `index` of `count`: it waits on the descriptors of
/// its share of the ports (port number modulo `count`), reads batches and
/// runs them through the pipeline until `shutdown`.
pub fn spawn_poll_thread(
    core: Arc<DpCore>,
    index: u32,
    count: u32,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name(format!("pmd{index}-{}", core.name))
        .spawn(move || poll_loop(&core, index, count.max(1)))
}

struct PollPort {
    port_no: u32,
    dev: Arc<dyn Netdev>,
    /// After a receive error, the port rests until then (a link that
    /// went down reports an error once; a broken device keeps failing and
    /// must not make the thread spin).
    resting_until: Option<std::time::Instant>,
    /// The failure was logged (once until the port works again).
    warned: bool,
}

fn poll_loop(core: &DpCore, index: u32, count: u32) {
    let mut gen = u64::MAX;
    let mut polled: Vec<PollPort> = Vec::new();
    let mut table = PortTable::new();
    let mut emc = ExactCache::default();
    let mut rng = 0x2545_f491_4f6c_dd1du64 ^ sys::monotonic_ms();
    let mut rounds = 0u64;
    while !core.shutdown.load(Ordering::Relaxed) {
        let g = core.port_gen.load(Ordering::Acquire);
        if g != gen {
            gen = g;
            table = core.port_table();
            polled = table
                .iter()
                .filter(|(n, _)| *n % count == index)
                .map(|(n, d)| PollPort {
                    port_no: *n,
                    dev: Arc::clone(d),
                    resting_until: None,
                    warned: false,
                })
                .collect();
        }
        let live: Vec<usize> = (0..polled.len())
            .filter(|&i| {
                let p = &mut polled[i];
                if p.resting_until
                    .is_some_and(|t| t > std::time::Instant::now())
                {
                    return false;
                }
                p.resting_until = None;
                p.dev.poll_fd().is_some()
            })
            .collect();
        let fds: Vec<_> = live
            .iter()
            .filter_map(|&i| polled[i].dev.poll_fd())
            .collect();
        let stats = core.pmd_stats.get(index as usize);
        let t0 = std::time::Instant::now();
        let ready = match sys::poll_readable(&fds, 100) {
            Ok(r) => r,
            Err(e) => {
                log::error!("{}: poll failed: {e}", core.name);
                thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        // Ports may have changed while we waited: output with the current
        // table (the devices polled above stay valid, they are shared).
        if core.port_gen.load(Ordering::Acquire) != gen {
            table = core.port_table();
        }
        let t1 = std::time::Instant::now();
        for (&i, r) in live.iter().zip(ready) {
            if !r {
                continue;
            }
            let p = &mut polled[i];
            let mut batch = Vec::with_capacity(BATCH_SIZE);
            match p.dev.recv(&mut batch, BATCH_SIZE) {
                Ok(_) => p.warned = false,
                Err(e) => {
                    if !p.warned {
                        log::warn!("{}: receive on {} failed: {e}", core.name, p.dev.name());
                        p.warned = true;
                    }
                    p.resting_until =
                        Some(std::time::Instant::now() + std::time::Duration::from_millis(100));
                }
            }
            if let Some(st) = stats {
                PmdStats::add(&st.recv, batch.len() as u64);
            }
            for pkt in &mut batch {
                pkt.meta = PacketMeta {
                    in_port: p.port_no,
                    ..PacketMeta::default()
                };
            }
            if !batch.is_empty() {
                // A bug must cost a batch, not the datapath: nothing here
                // should panic, but if it does, log it and keep polling.
                let fallback = PmdStats::default();
                let st = stats.unwrap_or(&fallback);
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    core.process(batch, &table, &mut emc, &mut rng, st)
                }));
                if r.is_err() {
                    core.counters.panics.fetch_add(1, Ordering::Relaxed);
                    log::error!("{}: packet processing panicked; batch dropped", core.name);
                    emc = ExactCache::default();
                }
            }
        }
        if let Some(st) = stats {
            PmdStats::add(&st.idle_ns, (t1 - t0).as_nanos() as u64);
            PmdStats::add(&st.busy_ns, t1.elapsed().as_nanos() as u64);
        }
        rounds += 1;
        if rounds & 1023 == 0 {
            if let Ok(mut cls) = core.flows.try_write() {
                cls.sort_subtables();
            }
        }
    }
}
