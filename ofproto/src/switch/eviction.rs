//! Flow table limits and eviction, as the Flow_Table rows of the
//! database and OpenFlow 1.4's OFPTC_EVICTION configure them.
//!
//! A table holds at most `max_flows` rules. A new rule that would exceed
//! it (one that replaces no rule) evicts a rule if eviction is on for the
//! table, else fails with OFPFMFC_TABLE_FULL. Eviction is on when the
//! table's Flow_Table row says `overflow_policy=evict` or a controller
//! turned it on with a table-mod.
//!
//! As in stock, only rules with an idle or hard timeout can be evicted.
//! They are grouped by the values of the table's eviction fields (the
//! Flow_Table `groups` column; one group without it), the victim comes
//! from the largest group, and within a group the rule of lowest
//! importance (OpenFlow 1.4), then the one that would expire first,
//! goes. Stock breaks ties between equal groups or rules at random;
//! ferrovs takes the first in table order.

use super::*;
use crate::openflow::fields::FIELDS;

/// One eviction field: a (sub)field of the match, `[ofs, ofs + n_bits)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvictionField {
    pub field: usize,
    pub ofs: u16,
    pub n_bits: u16,
}

impl EvictionField {
    /// Parses a subfield as stock's `groups` column takes it:
    /// `NAME`, `NAME[]`, `NAME[BIT]` or `NAME[START..END]`, NAME being a
    /// field name (`in_port`) or its NXM/OXM name (`NXM_OF_IN_PORT`).
    pub fn parse(s: &str) -> Result<EvictionField, String> {
        let (name, bits) = match s.split_once('[') {
            Some((n, rest)) => {
                let inner = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("{s}: missing ']'"))?;
                (n, Some(inner))
            }
            None => (s, None),
        };
        let field = FIELDS
            .iter()
            .position(|f| f.name == name || f.header_name == name)
            .ok_or_else(|| format!("{name}: unknown field"))?;
        let width = u16::from(FIELDS[field].bits);
        let (ofs, end) = match bits {
            None | Some("") => (0, width.saturating_sub(1)),
            Some(b) => {
                let num = |x: &str| {
                    x.trim()
                        .parse::<u16>()
                        .map_err(|_| format!("{s}: bad bit index"))
                };
                match b.split_once("..") {
                    Some((a, z)) => (num(a)?, num(z)?),
                    None => {
                        let n = num(b)?;
                        (n, n)
                    }
                }
            }
        };
        if ofs > end || end >= width {
            return Err(format!("{s}: bits out of range for a {width}-bit field"));
        }
        Ok(EvictionField {
            field,
            ofs,
            n_bits: end - ofs + 1,
        })
    }

    /// The rule's value of this subfield (0 where the match leaves it
    /// wildcarded).
    fn value(&self, m: &Match) -> u128 {
        let v = m.value(self.field) >> self.ofs;
        if self.n_bits >= 128 {
            v
        } else {
            v & ((1u128 << self.n_bits) - 1)
        }
    }
}

/// What a Flow_Table row sets for one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSettings {
    pub name: String,
    /// `flow_limit` (None: unlimited).
    pub max_flows: Option<u32>,
    /// `overflow_policy=evict`.
    pub evict: bool,
    /// `groups`, parsed.
    pub groups: Vec<EvictionField>,
}

/// An evictable rule: its match, priority, importance and seconds to
/// expiry.
type Candidate = (Match, u32, u16, u64);

/// The rule's expiration, in seconds from `now` (u64::MAX: never).
fn expires_in(r: &Rule, now: Instant) -> u64 {
    let left = |since: Instant, t: u16| {
        u64::from(t).saturating_sub(now.saturating_duration_since(since).as_secs())
    };
    let hard = (r.hard_timeout != 0).then(|| left(r.modified.instant(), r.hard_timeout));
    let idle = (r.idle_timeout != 0).then(|| left(r.stats.used(), r.idle_timeout));
    hard.into_iter().chain(idle).min().unwrap_or(u64::MAX)
}

impl Switch {
    /// Whether table `t` evicts when full.
    pub(crate) fn evicts(&self, t: usize) -> bool {
        self.table_cfg
            .get(t)
            .is_some_and(|c| c.eviction || c.evict_client)
    }

    /// The most rules table `t` holds.
    pub(crate) fn max_flows(&self, t: usize) -> u32 {
        self.table_cfg
            .get(t)
            .and_then(|c| c.max_flows)
            .unwrap_or(u32::MAX)
    }

    /// The `max_entries` table stats and features report.
    pub(crate) fn max_entries(&self, t: usize) -> u32 {
        self.max_flows(t).min(1_000_000)
    }

    /// The table's vacancy in percent, as stock computes it (the share
    /// of `max_flows` still free, rounded down).
    pub(crate) fn vacancy(&self, t: usize) -> u8 {
        let max = self.max_flows(t);
        let n = self.tables.get(t).map_or(0, |tb| tb.len()) as u64;
        if max == 0 {
            100
        } else if n >= u64::from(max) {
            0
        } else {
            ((u64::from(max) - n) as f64 * 100.0 / f64::from(max)) as u8
        }
    }

    /// The rule eviction would remove from table `t` now, if any.
    fn eviction_victim(&self, t: usize, now: Instant) -> Option<(Match, u32)> {
        if !self.evicts(t) {
            return None;
        }
        let fields = self.table_cfg.get(t).map(|c| c.eviction_fields.clone())?;
        let mut groups: Vec<(Vec<u128>, Vec<Candidate>)> = Vec::new();
        for (m, p, r) in self.tables.get(t)?.iter() {
            if r.idle_timeout == 0 && r.hard_timeout == 0 {
                continue;
            }
            let key: Vec<u128> = fields.iter().map(|f| f.value(&m)).collect();
            let entry = (m, p, r.importance, expires_in(r, now));
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(entry),
                None => groups.push((key, vec![entry])),
            }
        }
        // The largest group (the first of equals), then its least
        // important, soonest expiring rule (the first of equals).
        let mut best: Option<&Vec<Candidate>> = None;
        for (_, g) in &groups {
            if best.is_none_or(|b| g.len() > b.len()) {
                best = Some(g);
            }
        }
        let mut pick: Option<&Candidate> = None;
        for e in best? {
            if pick.is_none_or(|b| (e.2, e.3) < (b.2, b.3)) {
                pick = Some(e);
            }
        }
        pick.map(|(m, p, _, _)| (m.clone(), *p))
    }

    /// Makes room for one new rule in table `t`: evicts one if the table
    /// is full and evicts, else OFPFMFC_TABLE_FULL.
    pub(crate) fn make_room(&mut self, t: usize) -> Result<(), OfpErr> {
        let n = self.tables.get(t).map_or(0, |tb| tb.len());
        if (n as u64) < u64::from(self.max_flows(t)) {
            return Ok(());
        }
        let now = Instant::now();
        let (m, p) = self
            .eviction_victim(t, now)
            .ok_or(OfpErr::OFPFMFC_TABLE_FULL)?;
        self.remove_rule(t, &m, p, RemovedReason::Eviction, now);
        Ok(())
    }

    /// Evicts rules from tables over their limit while they can (after
    /// a limit or eviction change, as stock does on reconfiguration).
    pub(crate) fn evict_over_limit(&mut self) {
        let now = Instant::now();
        for t in 0..self.tables.len() {
            while self.tables[t].len() as u64 > u64::from(self.max_flows(t)) {
                let Some((m, p)) = self.eviction_victim(t, now) else {
                    break;
                };
                self.remove_rule(t, &m, p, RemovedReason::Eviction, now);
            }
        }
        self.recount_timeouts();
    }

    /// Applies a Flow_Table row (or its absence: defaults) to table `t`.
    pub fn set_table_settings(&mut self, t: u8, s: TableSettings) {
        if let Some(cfg) = self.table_cfg.get_mut(t as usize) {
            cfg.name = s.name;
            cfg.max_flows = s.max_flows;
            cfg.evict_client = s.evict;
            cfg.eviction_fields = s.groups;
        }
        self.evict_over_limit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subfields_parse_as_stock_writes_them() {
        let f = EvictionField::parse("NXM_OF_IN_PORT[]").expect("in_port");
        assert_eq!((f.ofs, f.n_bits), (0, 16));
        let g = EvictionField::parse("reg0[8..15]").expect("reg0 bits");
        assert_eq!((g.ofs, g.n_bits), (8, 8));
        assert_eq!(EvictionField::parse("in_port").expect("bare"), f);
        assert!(EvictionField::parse("nosuch[]").is_err());
        assert!(EvictionField::parse("reg0[0..40]").is_err());
        assert!(EvictionField::parse("reg0[3").is_err());
        assert!(EvictionField::parse("reg0[9..2]").is_err());
    }
}
