//! Per-poll-thread counters and their `dpif-netdev/pmd-stats-show` text
//! (the layout of Open vSwitch's). Time is measured in nanoseconds of the
//! monotonic clock where stock counts TSC cycles; the lines keep stock's
//! names so that tools reading them work.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct PmdStats {
    pub recv: AtomicU64,
    pub recirc: AtomicU64,
    pub emc_hit: AtomicU64,
    pub masked_hit: AtomicU64,
    pub masked_lookup: AtomicU64,
    pub miss: AtomicU64,
    pub lost: AtomicU64,
    pub sent_pkts: AtomicU64,
    pub sent_batches: AtomicU64,
    pub idle_ns: AtomicU64,
    pub busy_ns: AtomicU64,
}

impl PmdStats {
    pub fn add(c: &AtomicU64, n: u64) {
        if n != 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds `other`'s packet counters (not its times) to these.
    pub fn add_counts(&self, other: &PmdStats) {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (to, from) in [
            (&self.recv, &other.recv),
            (&self.recirc, &other.recirc),
            (&self.emc_hit, &other.emc_hit),
            (&self.masked_hit, &other.masked_hit),
            (&self.masked_lookup, &other.masked_lookup),
            (&self.miss, &other.miss),
            (&self.lost, &other.lost),
            (&self.sent_pkts, &other.sent_pkts),
            (&self.sent_batches, &other.sent_batches),
        ] {
            Self::add(to, l(from));
        }
    }

    pub fn clear(&self) {
        for c in [
            &self.recv,
            &self.recirc,
            &self.emc_hit,
            &self.masked_hit,
            &self.masked_lookup,
            &self.miss,
            &self.lost,
            &self.sent_pkts,
            &self.sent_batches,
            &self.idle_ns,
            &self.busy_ns,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Appends this thread's block of `pmd-stats-show`; `core` is `None`
    /// for the main (non-poll) thread.
    pub fn format(&self, out: &mut String, core: Option<u32>) {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (recv, recirc) = (l(&self.recv), l(&self.recirc));
        let (hit, lookups) = (l(&self.masked_hit), l(&self.masked_lookup));
        let (pkts, batches) = (l(&self.sent_pkts), l(&self.sent_batches));
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        match core {
            Some(c) => {
                let _ = writeln!(out, "pmd thread numa_id 0 core_id {c}:");
            }
            None => out.push_str("main thread:\n"),
        }
        let _ = write!(
            out,
            "  packets received: {recv}\n  packet recirculations: {recirc}\n  avg. datapath passes per packet: {:.2}\n  phwol hits: 0\n  mfex opt hits: 0\n  simple match hits: 0\n  emc hits: {}\n  smc hits: 0\n  megaflow hits: {hit}\n  avg. subtable lookups per megaflow hit: {:.2}\n  miss with success upcall: {}\n  miss with failed upcall: {}\n  avg. packets per output batch: {:.2}\n",
            if recv > 0 { ratio(recv + recirc, recv) } else { 0.0 },
            l(&self.emc_hit),
            ratio(lookups, hit),
            l(&self.miss),
            l(&self.lost),
            ratio(pkts, batches),
        );
        let (idle, busy) = (l(&self.idle_ns), l(&self.busy_ns));
        let total = idle + busy;
        if total == 0 {
            return;
        }
        let _ = write!(
            out,
            "  idle cycles: {idle} ({:.2}%)\n  processing cycles: {busy} ({:.2}%)\n",
            ratio(idle, total) * 100.0,
            ratio(busy, total) * 100.0
        );
        if recv == 0 {
            return;
        }
        let _ = write!(
            out,
            "  avg cycles per packet: {:.2} ({total}/{recv})\n  avg processing cycles per packet: {:.2} ({busy}/{recv})\n",
            ratio(total, recv),
            ratio(busy, recv)
        );
    }
}
