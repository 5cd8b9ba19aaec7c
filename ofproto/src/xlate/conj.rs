//! Conjunctive matches (`conjunction(id, k/n)`).
//!
//! A rule whose only action is `conjunction` is one clause of a
//! conjunctive match: the flow matches conjunction `id` at priority P
//! when, for each of its n clauses, some rule of priority P with
//! `conjunction(id, k/n)` matches. Then the table is looked up again with
//! `conj_id=id`; with no completed conjunction, the clauses count as if
//! absent. This follows Open vSwitch's classifier step by step (its
//! "soft" matches), so that the megaflow holds just the bits its lookups
//! examined: the clauses found on the way, the lookup again with
//! `conj_id`, and, when nothing completes, the rules under the clauses.

use super::Ctx;
use crate::classifier::Classifier;
use crate::openflow::actions::Action;
use crate::openflow::fields::id;
use crate::switch::Rule;
use std::collections::BTreeMap;

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

/// Whether `rule`'s actions are conjunction clauses only (what
/// `clauses` accepts, without collecting them: every lookup asks).
pub(super) fn is_clause(rule: &Rule) -> bool {
    let ins = &rule.instructions;
    !(ins.apply.is_empty() || ins.goto_table.is_some() || ins.write.is_some() || ins.clear)
        && ins
            .apply
            .iter()
            .all(|a| matches!(a, Action::Nx { subtype: 34, bytes } if bytes.len() >= 16))
}

impl Ctx<'_> {
    /// Resolves a lookup whose best match was a clause: the rule the
    /// table's conjunctions (or its plain rules) give, as stock's
    /// classifier would, and the conjunction id it was found with.
    pub(super) fn conjunction<'c>(
        &mut self,
        cls: &'c Classifier<Rule>,
    ) -> (Option<&'c Rule>, Option<u32>) {
        let found = cls.lookup_soft(&self.flow, &mut self.wc, is_clause, true);
        let mut hard = found.hard;
        // Each soft match: its same-match rules and which one is current.
        let mut soft: Vec<(Vec<(u32, &Rule)>, usize)> =
            found.soft.into_iter().map(|chain| (chain, 0)).collect();
        let above_hard = |p: u32, hard: Option<(u32, &Rule)>| hard.is_none_or(|(hp, _)| p > hp);
        loop {
            soft.retain(|(chain, i)| chain.get(*i).is_some_and(|(p, _)| above_hard(*p, hard)));
            let Some(soft_pri) = soft
                .iter()
                .filter_map(|(c, i)| c.get(*i))
                .map(|(p, _)| *p)
                .max()
            else {
                break;
            };
            let at_pri: Vec<&Rule> = soft
                .iter()
                .filter_map(|(c, i)| c.get(*i))
                .filter(|(p, _)| *p == soft_pri)
                .map(|(_, r)| *r)
                .collect();
            // Conjunction id -> the clauses seen (bits past n set).
            let mut seen: BTreeMap<u32, u64> = BTreeMap::new();
            for r in &at_pri {
                let Some(cid) = completes(r, at_pri.len(), &mut seen) else {
                    continue;
                };
                let saved = self.get(id::CONJ_ID);
                self.set(id::CONJ_ID, cid as u128);
                let again = cls.lookup_soft(&self.flow, &mut self.wc, is_clause, false);
                self.set(id::CONJ_ID, saved);
                if let Some((_, rule)) = again.hard {
                    return (Some(rule), Some(cid));
                }
            }
            // No conjunction here: the rules with the same matches under
            // these clauses come next (plain ones are hard matches).
            for (chain, i) in soft.iter_mut() {
                if chain.get(*i).is_some_and(|(p, _)| *p == soft_pri) {
                    *i += 1;
                    if let Some(&(p, r)) = chain.get(*i) {
                        if !is_clause(r) {
                            if above_hard(p, hard) {
                                hard = Some((p, r));
                            }
                            *i = chain.len();
                        }
                    }
                }
            }
        }
        (hard.map(|(_, r)| r), None)
    }
}

/// Adds `rule`'s clauses to `seen` (among `n_soft` soft matches of one
/// priority); the id of the first conjunction this completes.
fn completes(rule: &Rule, n_soft: usize, seen: &mut BTreeMap<u32, u64>) -> Option<u32> {
    let cs = clauses(rule)?;
    if cs
        .iter()
        .map(|c| c.2 as usize)
        .min()
        .is_some_and(|m| n_soft < m)
    {
        return None;
    }
    for (cid, clause, n) in cs {
        if n as usize > n_soft {
            continue;
        }
        let bits = seen.entry(cid).or_insert(u64::MAX << (n & 63));
        *bits |= 1u64 << (clause & 63);
        if *bits == u64::MAX {
            return Some(cid);
        }
    }
    None
}
