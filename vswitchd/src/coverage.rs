//! Event counters for `coverage/show`, with stock's rates over the last
//! 5 seconds, minute and hour.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

const SAMPLE: Duration = Duration::from_secs(5);
/// One hour of 5-second samples.
const HISTORY: usize = 720;

#[derive(Debug)]
pub struct Coverage {
    totals: BTreeMap<&'static str, u64>,
    /// Snapshots of the totals, newest last, one per 5 seconds.
    history: VecDeque<BTreeMap<&'static str, u64>>,
    last_sample: Instant,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            totals: BTreeMap::new(),
            history: VecDeque::new(),
            last_sample: Instant::now(),
        }
    }
}

/// Every counter this daemon keeps (a counter never hit reads 0; a
/// name not here is no counter, as in stock's `coverage/read-counter`).
const COUNTERS: &[&str] = &[
    "bridge_iface_examined",
    "bridge_port_read",
    "bridge_reconfigure",
    "unixctl_received",
    "unixctl_replied",
];

impl Coverage {
    /// `coverage/read-counter NAME`: the counter's total.
    pub fn read(&self, name: &str) -> Option<u64> {
        let total = self.totals.get(name).copied().unwrap_or(0);
        COUNTERS.contains(&name).then_some(total)
    }

    pub fn inc(&mut self, name: &'static str) {
        self.add(name, 1);
    }

    /// Counts `n` events at once (nothing when `n` is 0, so that a counter
    /// never hit stays out of the list, as stock's).
    pub fn add(&mut self, name: &'static str, n: u64) {
        if n > 0 {
            *self.totals.entry(name).or_insert(0) += n;
        }
    }

    /// Takes a snapshot when 5 seconds have passed.
    pub fn tick(&mut self) {
        while self.last_sample.elapsed() >= SAMPLE {
            self.last_sample += SAMPLE;
            self.history.push_back(self.totals.clone());
            if self.history.len() > HISTORY {
                self.history.pop_front();
            }
        }
    }

    fn rate(&self, name: &str, samples: usize) -> f64 {
        let now = self.totals.get(name).copied().unwrap_or(0);
        let then = self
            .history
            .len()
            .checked_sub(samples)
            .and_then(|i| self.history.get(i))
            .and_then(|h| h.get(name).copied())
            .unwrap_or(0);
        let secs = (samples as f64) * SAMPLE.as_secs_f64();
        now.saturating_sub(then) as f64 / secs
    }

    pub fn show(&self) -> String {
        let mut s = String::from(
            "Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash=00000000:\n",
        );
        for (name, total) in &self.totals {
            s.push_str(&format!(
                "{:<24} {:5.1}/sec {:9.3}/sec {:13.4}/sec   total: {}\n",
                name,
                self.rate(name, 1),
                self.rate(name, 12),
                self.rate(name, 720),
                total
            ));
        }
        s.push_str("0 events never hit\n");
        s
    }
}
