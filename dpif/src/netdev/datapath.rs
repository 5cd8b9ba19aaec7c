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
use super::upcall::{Miss, MissHandler, MissVerdict, UpcallQueue};
use super::NetdevControl;
use crate::odp::{Actions, Key};
use crate::{Upcall, UpcallKind};

/// Frames read from one port per poll round.
pub const BATCH_SIZE: usize = 32;
/// Most passes of a packet through the datapath (1 + recirculations).
pub const MAX_RECIRC_DEPTH: usize = 6;
/// Shortest frame processed: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Most misses of one pass that a poll thread with a miss handler
/// handles itself: a whole batch, as stock's PMD threads do (handing a
/// burst to the handler threads cost more CPU per flow setup, in wake-ups,
/// packet copies and key decodes, than their parallel translation won
/// back). Only a pass that recirculation made larger goes to the handler
/// threads.
pub const INLINE_MISSES_MAX: usize = BATCH_SIZE;
thread_local! {
    /// A thread's list of misses between `DpCore::process` calls.
    static MISS_ROOM: std::cell::Cell<Vec<Miss>> = const { std::cell::Cell::new(Vec::new()) };
    /// A thread's list of a missed packet's segments (one, unless it is
    /// a super-frame), kept so that a miss allocates none.
    static SEGS_ROOM: std::cell::Cell<Vec<Packet>> = const { std::cell::Cell::new(Vec::new()) };
    /// A thread's list of output ports of a pass, kept between passes.
    static PENDING_ROOM: std::cell::Cell<Vec<(u32, Vec<Packet>)>> =
        const { std::cell::Cell::new(Vec::new()) };
}

/// Stack of a poll thread: a [`MissHandler`] translates on it, and
/// translation recurses once per resubmit (the size of the daemon's
/// handler threads' stacks; only what is used is ever touched).
pub const POLL_THREAD_STACK: usize = 64 << 20;

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
    /// Which ports changed at which generation (`port_changed`).
    pub port_log: PortLog,
    pub flows: RwLock<Classifier>,
    pub upcalls: UpcallQueue,
    pub conntrack: Conntrack,
    pub meters: Meters,
    pub counters: DpCounters,
    /// One per poll thread, then one for the main thread (execute).
    pub pmd_stats: Vec<PmdStats>,
    /// Who handles the poll threads' misses on their thread (else they
    /// are queued as upcalls).
    pub miss_handler: RwLock<Option<Arc<dyn MissHandler>>>,
    pub shutdown: AtomicBool,
    /// One per poll thread (each registers its own): a port change wakes
    /// them, so that they take a new port and let go of a removed one at
    /// once, not after their wait.
    pub poll_wakers: std::sync::Mutex<Vec<mio::Waker>>,
}

/// The token of a poll thread's waker (no port has this number).
const WAKE: mio::Token = mio::Token(usize::MAX);

/// Most port changes remembered for the poll threads.
const PORT_LOG_LEN: usize = 4096;

/// The recent port changes, each with the port generation it made, so
/// that a poll thread patches its poll set for the ports that changed
/// instead of looking at every port (a thread further behind than the
/// log reaches looks at every port).
#[derive(Default)]
pub struct PortLog {
    changes: std::sync::Mutex<std::collections::VecDeque<(u64, u32)>>,
}

impl DpCore {
    /// Records that port `port_no` was added, replaced or removed (after
    /// `ports` says so) and moves the port generation.
    pub fn port_changed(&self, port_no: u32) {
        let mut log = self
            .port_log
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let gen = self.port_gen.fetch_add(1, Ordering::Release) + 1;
        log.push_back((gen, port_no));
        if log.len() > PORT_LOG_LEN {
            log.pop_front();
        }
        drop(log);
        for w in self
            .poll_wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = w.wake();
        }
    }

    /// The port generation now and the ports changed after generation
    /// `since`; `None` for the ports when the log does not tell all of
    /// them (the caller then looks at every port).
    fn ports_changed_since(&self, since: u64) -> (u64, Option<Vec<u32>>) {
        let log = self
            .port_log
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = self.port_gen.load(Ordering::Acquire);
        if now == since {
            return (now, Some(Vec::new()));
        }
        let reaches_back = log
            .front()
            .is_some_and(|(g, _)| *g <= since.saturating_add(1));
        let up_to_now = log.back().is_some_and(|(g, _)| *g == now);
        if since == u64::MAX || !reaches_back || !up_to_now {
            return (now, None);
        }
        let changed = log
            .iter()
            .filter(|(g, _)| *g > since)
            .map(|(_, n)| *n)
            .collect();
        (now, Some(changed))
    }

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

    /// Runs received (or executed) packets through the pipeline. With
    /// `inline` (a poll thread's handle on this datapath), misses go to
    /// the miss handler, if any, at the end of each pass; else they are
    /// queued as upcalls. `batch` is left empty, with its room kept for
    /// the caller's next batch (a batch of packets is ~10 KB: allocating
    /// one per poll round made malloc consolidate its free lists each time).
    pub fn process(
        &self,
        batch: &mut Vec<Packet>,
        ports: &PortTable,
        emc: &mut ExactCache,
        rng: &mut u64,
        stats: &PmdStats,
        inline: Option<&NetdevControl>,
    ) {
        // The thread's list of misses, kept between calls (room for a
        // batch of misses is ~10 KB); put back after the last pass.
        let mut misses = MISS_ROOM.take();
        let handler = inline.and_then(|dp| {
            let h = self.miss_handler.read().unwrap_or_else(|e| e.into_inner());
            h.as_ref().map(|h| (dp, Arc::clone(h)))
        });
        let mut pass = std::mem::take(batch);
        for depth in 0..=MAX_RECIRC_DEPTH {
            if pass.is_empty() {
                break;
            }
            if depth == MAX_RECIRC_DEPTH {
                self.counters
                    .recirc_drops
                    .fetch_add(pass.len() as u64, Ordering::Relaxed);
                break;
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
                pending: PENDING_ROOM.take(),
            };
            let now = sys::monotonic_ms();
            let mut tally = Tally::default();
            let collect = handler.is_some();
            for pkt in pass.drain(..) {
                let to_handler = collect.then_some(&mut misses);
                self.process_one(pkt, &mut ctx, emc, now, stats, &mut tally, to_handler);
            }
            tally.flush_flow(now);
            if let Some((dp, h)) = &handler {
                if misses.len() > INLINE_MISSES_MAX {
                    self.queue_misses(&mut misses, stats);
                } else if !misses.is_empty() {
                    self.handle_misses(dp, &**h, &mut misses, &mut ctx);
                }
            }
            self.counters.hit.fetch_add(tally.hit, Ordering::Relaxed);
            PmdStats::add(&stats.emc_hit, tally.emc_hit);
            PmdStats::add(&stats.masked_hit, tally.masked_hit);
            PmdStats::add(&stats.masked_lookup, tally.masked_lookup);
            let (pkts, batches) = ctx.flush();
            PENDING_ROOM.set(std::mem::take(&mut ctx.pending));
            PmdStats::add(&stats.sent_pkts, pkts);
            PmdStats::add(&stats.sent_batches, batches);
            if ctx.dropped > 0 {
                self.counters
                    .action_drops
                    .fetch_add(ctx.dropped, Ordering::Relaxed);
            }
            let done = std::mem::replace(&mut pass, recirc);
            if depth == 0 {
                *batch = done;
            }
        }
        misses.clear();
        MISS_ROOM.set(misses);
    }

    #[allow(clippy::too_many_arguments)]
    fn process_one(
        &self,
        pkt: Packet,
        ctx: &mut ExecCtx<'_>,
        emc: &mut ExactCache,
        now: u64,
        stats: &PmdStats,
        tally: &mut Tally,
        misses: Option<&mut Vec<Miss>>,
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
                    emc.insert(x.key, &l.flow);
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
                if let Some(misses) = misses {
                    PmdStats::add(&stats.miss, 1);
                    if misses.capacity() == 0 {
                        // Room for a whole batch at once: a miss is a
                        // few hundred bytes, and growing the list one
                        // doubling at a time showed in profiles.
                        misses.reserve(BATCH_SIZE);
                    }
                    let mut segs = SEGS_ROOM.take();
                    offload::finish(pkt, &mut segs);
                    let whole = segs.len() == 1;
                    for s in segs.drain(..) {
                        // A super-frame's segments are parsed again; a
                        // plain packet keeps the key it was looked up with.
                        let key = if whole {
                            x.key
                        } else {
                            extract(s.data(), &s.meta).key
                        };
                        // Encoded once; the attributes go along for
                        // translation.
                        let attrs = Key::new(odp_key::to_odp_attrs(&key));
                        misses.push(Miss {
                            key: attrs.to_nlattrs().unwrap_or_default(),
                            attrs,
                            flow: key,
                            packet: s,
                            hash: super::upcall::flow_hash(&key),
                        });
                    }
                    SEGS_ROOM.set(segs);
                } else if self.miss_upcall(pkt) {
                    PmdStats::add(&stats.miss, 1);
                } else {
                    PmdStats::add(&stats.lost, 1);
                }
            }
        }
    }

    /// Has the miss handler translate and install the flows of a pass's
    /// misses, then executes each packet with the actions it got back
    /// (in the pass's context: its output leaves with the pass's).
    fn handle_misses(
        &self,
        dp: &NetdevControl,
        handler: &dyn MissHandler,
        misses: &mut Vec<Miss>,
        ctx: &mut ExecCtx<'_>,
    ) {
        let verdicts = handler.handle_misses(dp, misses);
        let mut verdicts = verdicts.into_iter();
        for m in misses.drain(..) {
            match verdicts.next() {
                Some(MissVerdict::Flow(f)) => actions::execute(m.packet, &f.0.actions, ctx),
                Some(MissVerdict::Actions(attrs)) => match Actions::from_nlattrs(&attrs) {
                    Ok(a) if actions::validate(&a.list).is_ok() => {
                        actions::execute(m.packet, &a.list, ctx);
                    }
                    _ => ctx.dropped += 1,
                },
                Some(MissVerdict::Drop) | None => {}
            }
        }
    }

    /// Queues a pass's misses as MISS upcalls for the handler threads
    /// (more than the poll thread translates itself in one pass).
    fn queue_misses(&self, misses: &mut Vec<Miss>, stats: &PmdStats) {
        for m in misses.drain(..) {
            let sent = self.upcalls.send(
                Upcall {
                    kind: UpcallKind::Miss,
                    packet: m.packet.data().to_vec(),
                    key: m.key,
                    userdata: None,
                    egress_tun_key: None,
                    mru: None,
                },
                m.hash,
            );
            if !sent {
                // Counted as a miss when it was found.
                stats.miss.fetch_sub(1, Ordering::Relaxed);
                PmdStats::add(&stats.lost, 1);
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
        .stack_size(POLL_THREAD_STACK)
        .spawn(move || poll_loop(core, index, count.max(1)))
}

struct PollPort {
    dev: Arc<dyn Netdev>,
    /// The descriptor registered for it.
    fd: std::os::fd::RawFd,
    /// After a receive error, the port rests until then (a link that
    /// went down reports an error once; a broken device keeps failing and
    /// must not make the thread spin).
    resting_until: Option<std::time::Instant>,
    /// The failure was logged (once until the port works again).
    warned: bool,
    /// The port is on the list of ports to read again without waiting.
    queued: bool,
}

/// The ports one poll thread reads, registered with epoll once (not
/// listed again at every wakeup): a wakeup costs as much as the ports that
/// are ready, and a port change costs that port's registration.
///
/// epoll (through mio) reports readiness as edges, and a read takes at
/// most a batch, so a port whose read returned frames is read again
/// without waiting until a read finds nothing; a port that rested after
/// an error is read again when its rest ends.
struct PollSet {
    poll: mio::Poll,
    events: mio::Events,
    ports: actions::PortMap<PollPort>,
    /// Ports to read in the next round whether or not epoll reports them.
    again: Vec<u32>,
    /// Ports resting after an error.
    resting: Vec<u32>,
    /// The port generation the registrations follow.
    gen: u64,
}

impl PollSet {
    fn new() -> std::io::Result<PollSet> {
        Ok(PollSet {
            poll: mio::Poll::new()?,
            events: mio::Events::with_capacity(256),
            ports: actions::PortMap::default(),
            again: Vec::new(),
            resting: Vec::new(),
            gen: u64::MAX,
        })
    }

    /// Brings the registrations up to date with the datapath's ports
    /// (this thread's share: port number modulo `count`): for the ports
    /// changed since the last call when the datapath's log tells them,
    /// otherwise for every port. Only added, replaced and removed ports
    /// touch epoll.
    fn sync(&mut self, core: &DpCore, index: u32, count: u32) {
        let (gen, changed) = core.ports_changed_since(self.gen);
        self.gen = gen;
        let ports = core.ports.read().unwrap_or_else(|e| e.into_inner());
        let look_at: Vec<u32> = match changed {
            Some(changed) => changed,
            None => self.ports.keys().chain(ports.keys()).copied().collect(),
        };
        for n in look_at.into_iter().filter(|n| *n % count == index) {
            let port = ports.get(&n);
            let fd = port.and_then(|p| p.dev.poll_fd());
            if let Some(p) = self.ports.get(&n) {
                if port.is_some_and(|q| Arc::ptr_eq(&q.dev, &p.dev)) && fd == Some(p.fd) {
                    continue;
                }
            }
            if let Some(p) = self.ports.remove(&n) {
                // The device is still open (we held it), so this removes
                // its own registration.
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut mio::unix::SourceFd(&p.fd));
            }
            let (Some(port), Some(fd)) = (port, fd) else {
                continue;
            };
            let r = self.poll.registry().register(
                &mut mio::unix::SourceFd(&fd),
                mio::Token(n as usize),
                mio::Interest::READABLE,
            );
            if let Err(e) = r {
                log::warn!("{}: cannot poll {}: {e}", core.name, port.name);
                continue;
            }
            self.ports.insert(
                n,
                PollPort {
                    dev: Arc::clone(&port.dev),
                    fd,
                    resting_until: None,
                    warned: false,
                    queued: true,
                },
            );
            // Frames may have arrived before the registration.
            self.again.push(n);
        }
    }

    /// Waits up to 100 ms (not at all when ports are to be read again)
    /// and puts the ports to read now in `ready` (emptied first; the
    /// caller keeps it between rounds).
    fn wait(&mut self, core: &DpCore, ready: &mut Vec<u32>) {
        // The clock is read only when a port rests (a read of it per
        // round showed in profiles).
        if !self.resting.is_empty() {
            let now = std::time::Instant::now();
            let ports = &mut self.ports;
            let again = &mut self.again;
            self.resting.retain(|n| {
                let Some(p) = ports.get_mut(n) else {
                    return false;
                };
                if p.resting_until.is_some_and(|t| t > now) {
                    return true;
                }
                p.resting_until = None;
                if !p.queued {
                    p.queued = true;
                    again.push(*n);
                }
                false
            });
        }
        let timeout = if self.again.is_empty() {
            std::time::Duration::from_millis(100)
        } else {
            std::time::Duration::ZERO
        };
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                log::error!("{}: poll failed: {e}", core.name);
                thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        for ev in self.events.iter() {
            let n = ev.token().0 as u32;
            if let Some(p) = self.ports.get_mut(&n) {
                if !p.queued && p.resting_until.is_none() {
                    p.queued = true;
                    self.again.push(n);
                }
            }
        }
        ready.clear();
        std::mem::swap(ready, &mut self.again);
        for n in ready.iter() {
            if let Some(p) = self.ports.get_mut(n) {
                p.queued = false;
            }
        }
    }
}

fn poll_loop(shared: Arc<DpCore>, index: u32, count: u32) {
    // The miss handler reaches the datapath through this handle.
    let dp = NetdevControl {
        core: Arc::clone(&shared),
    };
    let core = &*shared;
    let mut set = match PollSet::new() {
        Ok(s) => s,
        Err(e) => {
            log::error!("{}: cannot create a poll set: {e}", core.name);
            return;
        }
    };
    match mio::Waker::new(set.poll.registry(), WAKE) {
        Ok(w) => core
            .poll_wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(w),
        // Port changes then reach this thread after its wait (100 ms).
        Err(e) => log::warn!("{}: cannot make a poll waker: {e}", core.name),
    }
    // The output table, rebuilt when ports changed and packets are to be
    // processed (a port change alone costs the thread no copy of it).
    let mut table = PortTable::default();
    let mut table_gen = u64::MAX;
    let mut emc = ExactCache::default();
    let mut rng = 0x2545_f491_4f6c_dd1du64 ^ sys::monotonic_ms();
    let mut rounds = 0u64;
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    let mut ready = Vec::new();
    // The end of the last round: the start of this one's wait (one clock
    // read per round saved).
    let mut t0 = std::time::Instant::now();
    while !core.shutdown.load(Ordering::Relaxed) {
        if core.port_gen.load(Ordering::Acquire) != set.gen {
            set.sync(core, index, count);
            // A removed port's device closes once nobody holds it, this
            // thread's output table included (it is rebuilt when packets
            // come, as after any port change).
            table = PortTable::default();
            table_gen = u64::MAX;
        }
        let stats = core.pmd_stats.get(index as usize);
        set.wait(core, &mut ready);
        let t1 = std::time::Instant::now();
        for &n in &ready {
            let Some(p) = set.ports.get_mut(&n) else {
                continue;
            };
            // Empty: `process` drains it and gives its room back.
            batch.clear();
            if batch.capacity() < BATCH_SIZE {
                batch.reserve(BATCH_SIZE);
            }
            match p.dev.recv(&mut batch, BATCH_SIZE) {
                Ok(_) => p.warned = false,
                Err(e) => {
                    if !p.warned {
                        log::warn!("{}: receive on {} failed: {e}", core.name, p.dev.name());
                        p.warned = true;
                    }
                    p.resting_until =
                        Some(std::time::Instant::now() + std::time::Duration::from_millis(100));
                    set.resting.push(n);
                }
            }
            if !batch.is_empty() && !p.queued {
                // There may be more than a batch waiting.
                p.queued = true;
                set.again.push(n);
            }
            if let Some(st) = stats {
                PmdStats::add(&st.recv, batch.len() as u64);
            }
            for pkt in &mut batch {
                pkt.meta = PacketMeta {
                    in_port: n,
                    ..PacketMeta::default()
                };
            }
            if !batch.is_empty() {
                // Ports may have changed while we waited: output with the
                // current table (the devices polled stay valid, they are
                // shared).
                let g = core.port_gen.load(Ordering::Acquire);
                if g != table_gen {
                    table_gen = g;
                    table = core.port_table();
                }
                // A bug must cost a batch, not the datapath: nothing here
                // should panic, but if it does, log it and keep polling.
                let fallback = PmdStats::default();
                let st = stats.unwrap_or(&fallback);
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    core.process(&mut batch, &table, &mut emc, &mut rng, st, Some(&dp))
                }));
                if r.is_err() {
                    core.counters.panics.fetch_add(1, Ordering::Relaxed);
                    log::error!("{}: packet processing panicked; batch dropped", core.name);
                    emc = ExactCache::default();
                }
            }
        }
        let t2 = std::time::Instant::now();
        if let Some(st) = stats {
            PmdStats::add(&st.idle_ns, (t1 - t0).as_nanos() as u64);
            PmdStats::add(&st.busy_ns, (t2 - t1).as_nanos() as u64);
        }
        t0 = t2;
        rounds += 1;
        if rounds & 1023 == 0 {
            if let Ok(mut cls) = core.flows.try_write() {
                cls.sort_subtables();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> DpCore {
        let (upcalls, _rx) = super::super::upcall::channel().expect("upcall channel");
        DpCore {
            name: "test".into(),
            ports: RwLock::new(BTreeMap::new()),
            port_gen: AtomicU64::new(1),
            port_log: PortLog::default(),
            flows: RwLock::new(Default::default()),
            upcalls,
            conntrack: Default::default(),
            meters: Default::default(),
            counters: Default::default(),
            pmd_stats: Vec::new(),
            miss_handler: RwLock::new(None),
            shutdown: AtomicBool::new(false),
            poll_wakers: Default::default(),
        }
    }

    #[test]
    fn poll_threads_learn_the_ports_changed_since_their_generation() {
        let core = core();
        // A thread that never synced looks at every port.
        let (gen, changed) = core.ports_changed_since(u64::MAX);
        assert_eq!((gen, changed), (1, None));
        // Nothing logged yet: up to date.
        assert_eq!(core.ports_changed_since(1), (1, Some(vec![])));
        core.port_changed(5);
        core.port_changed(9);
        core.port_changed(5);
        assert_eq!(core.ports_changed_since(1), (4, Some(vec![5, 9, 5])));
        assert_eq!(core.ports_changed_since(3), (4, Some(vec![5])));
        assert_eq!(core.ports_changed_since(4), (4, Some(vec![])));
        // Further behind than the log reaches: every port.
        for n in 0..PORT_LOG_LEN as u32 {
            core.port_changed(n);
        }
        assert_eq!(core.ports_changed_since(1).1, None);
        let now = core.port_gen.load(Ordering::Relaxed);
        assert_eq!(core.ports_changed_since(now - 2).1, Some(vec![4094, 4095]));
    }
}
