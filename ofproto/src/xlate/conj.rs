//! Conjunctive matches (`conjunction(id, k/n)`).
//!
//! A rule whose only action is `conjunction` is one clause of a
//! conjunctive match: the flow matches conjunction `id` at priority P
//! when, for each of its n clauses, some rule of priority P with
//! `conjunction(id, k/n)` matches. Then the table is looked up again with
//! `conj_id=id`; with no completed conjunction, the clauses count as if
//! absent. The classifier does not know conjunctions, so when its best
//! match is a clause, translation scans the table: every clause decides,
//! so the megaflow covers each matching rule's fields and, for each rule
//! that does not match, a field that proves it.

use super::{Ctx, KEY_LEN};
use crate::classifier::Classifier;
use crate::openflow::actions::Action;
use crate::openflow::fields::{id, range, Match, FIELDS};
use crate::switch::Rule;
use std::collections::{BTreeMap, BTreeSet};

/// The (id, clause, n_clauses) of each conjunction action, if the rule's
/// actions are only those.
fn clauses(rule: &Rule) -> Option<Vec<(u32, u8, u8)>> {
    let ins = &rule.instructions;
    if ins.apply.is_empty() || ins.goto_table.is_some() || ins.write.is_some() || ins.clear {
        return None;
    }
    ins.apply
        .iter()
        .map(|a| match a {
            Action::Nx { subtype: 34, bytes } => {
                let clause = *bytes.get(10)?;
                let n = *bytes.get(11)?;
                let b = bytes.get(12..16)?;
                Some((u32::from_be_bytes([b[0], b[1], b[2], b[3]]), clause, n))
            }
            _ => None,
        })
        .collect()
}

/// Whether `rule`'s actions are conjunction clauses only.
pub(super) fn is_clause(rule: &Rule) -> bool {
    clauses(rule).is_some()
}

fn matches(m: &Match, flow: &[u8; KEY_LEN]) -> bool {
    m.mask
        .iter()
        .zip(m.key.iter())
        .zip(flow.iter())
        .all(|((mk, k), f)| f & mk == k & mk)
}

impl Ctx<'_> {
    /// Resolves a lookup whose best match was a clause: the rule the
    /// table's conjunctions (or its plain rules) give, as stock's
    /// classifier would, and the conjunction id it was found with.
    pub(super) fn conjunction<'c>(
        &mut self,
        cls: &'c Classifier<Rule>,
    ) -> (Option<&'c Rule>, Option<u32>) {
        // priority -> id -> (clauses needed, clauses matched)
        let mut conj: BTreeMap<u32, BTreeMap<u32, (u8, BTreeSet<u8>)>> = BTreeMap::new();
        let mut best: Option<(u32, &Rule)> = None;
        for (m, prio, rule) in cls.iter() {
            if matches(&m, &self.flow) {
                for (w, mk) in self.wc.iter_mut().zip(m.mask.iter()) {
                    *w |= mk;
                }
                match clauses(rule) {
                    Some(cs) => {
                        for (cid, clause, n) in cs {
                            let e = conj
                                .entry(prio)
                                .or_default()
                                .entry(cid)
                                .or_insert((n, BTreeSet::new()));
                            e.1.insert(clause);
                        }
                    }
                    None => {
                        if best.is_none_or(|(bp, _)| prio > bp) {
                            best = Some((prio, rule));
                        }
                    }
                }
            } else {
                // One field that tells the flow apart is enough (with the
                // types that say how the packet's fields read).
                let differs = (0..FIELDS.len()).find(|&f| {
                    !FIELDS[f].alias
                        && range(f).any(|i| self.flow[i] & m.mask[i] != m.key[i] & m.mask[i])
                });
                if let Some(f) = differs {
                    for g in [f, id::ETH_TYPE, id::NW_PROTO] {
                        for i in range(g) {
                            self.wc[i] |= m.mask[i];
                        }
                    }
                }
            }
        }
        let floor = best.map_or(0, |(p, _)| p);
        // The highest priority with a completed conjunction above the best
        // plain rule wins.
        let done = conj
            .iter()
            .rev()
            .filter(|(p, _)| **p >= floor)
            .find_map(|(_, ids)| {
                ids.iter()
                    .find(|(_, (n, got))| (0..*n).all(|k| got.contains(&k)))
                    .map(|(cid, _)| *cid)
            });
        let Some(cid) = done else {
            return (best.map(|(_, r)| r), None);
        };
        let saved = self.get(id::CONJ_ID);
        self.set(id::CONJ_ID, cid as u128);
        let l = cls.lookup(&self.flow);
        for (w, b) in self.wc.iter_mut().zip(l.wildcards.iter()) {
            *w |= b;
        }
        // Clauses of the same priority may tie with the conj_id rule:
        // only plain rules count now.
        let mut rule = l.rule;
        if rule.is_some_and(is_clause) {
            rule = cls
                .iter()
                .filter(|(m, _, r)| !is_clause(r) && matches(m, &self.flow))
                .max_by_key(|(_, p, _)| *p)
                .map(|(m, _, r)| {
                    for (w, mk) in self.wc.iter_mut().zip(m.mask.iter()) {
                        *w |= mk;
                    }
                    r
                });
        }
        self.set(id::CONJ_ID, saved);
        match rule {
            Some(r) => (Some(r), Some(cid)),
            None => (best.map(|(_, r)| r), None),
        }
    }
}
