//! Meters in translation: OpenFlow meter ids to the datapath's.
//!
//! A datapath meter id is allocated for each OpenFlow meter when it is
//! created (the lowest free one, from 0, as Open vSwitch allocates them),
//! unique across bridges so that bridges sharing a datapath never clash.
//! The service reconciles this table with each bridge's meter table
//! after every change ([`sync`]) and tells the daemon what to install in
//! the datapath; translation turns a rule's meter instruction into
//! `meter(ID)`.

use crate::openflow::meters::Meter;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// A change the datapath must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterChange {
    /// Create or replace datapath meter `id` with the OpenFlow meter's
    /// configuration.
    Set {
        id: u32,
        meter: Meter,
    },
    Delete {
        id: u32,
    },
}

/// What the daemon does with meter changes (installs them in the
/// bridge's datapath).
pub type MeterHook = std::sync::Arc<dyn Fn(MeterChange) + Send + Sync>;

#[derive(Default)]
struct Table {
    /// (bridge, OpenFlow meter id) to (datapath id, configuration).
    by_bridge: HashMap<String, HashMap<u32, (u32, Meter)>>,
    used: BTreeSet<u32>,
    hooks: HashMap<String, MeterHook>,
}

fn table() -> &'static Mutex<Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(Table::default()))
}

/// Sets what installs the bridge's meters in its datapath.
pub fn set_hook(bridge: &str, hook: MeterHook) {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.hooks.insert(bridge.to_string(), hook);
}

/// Brings the bridge's datapath meters to `meters` (its OpenFlow meter
/// table), telling the bridge's hook; returns what changed.
pub fn sync(bridge: &str, meters: &BTreeMap<u32, (Meter, Instant)>) -> Vec<MeterChange> {
    let (changes, hook) = sync_table(bridge, meters);
    if let Some(h) = hook {
        for c in &changes {
            h(c.clone());
        }
    }
    changes
}

fn sync_table(
    bridge: &str,
    meters: &BTreeMap<u32, (Meter, Instant)>,
) -> (Vec<MeterChange>, Option<MeterHook>) {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    let hook = t.hooks.get(bridge).cloned();
    let Table {
        by_bridge, used, ..
    } = &mut *t;
    let known = by_bridge.entry(bridge.to_string()).or_default();
    let mut changes = Vec::new();
    let gone: Vec<u32> = known
        .keys()
        .filter(|id| !meters.contains_key(id))
        .copied()
        .collect();
    for of_id in gone {
        if let Some((id, _)) = known.remove(&of_id) {
            used.remove(&id);
            changes.push(MeterChange::Delete { id });
        }
    }
    for (of_id, (m, _)) in meters {
        match known.get_mut(of_id) {
            Some((id, old)) if old != m => {
                *old = m.clone();
                changes.push(MeterChange::Set {
                    id: *id,
                    meter: m.clone(),
                });
            }
            Some(_) => {}
            None => {
                let id = (0u32..).find(|i| !used.contains(i)).unwrap_or(u32::MAX);
                used.insert(id);
                known.insert(*of_id, (id, m.clone()));
                changes.push(MeterChange::Set {
                    id,
                    meter: m.clone(),
                });
            }
        }
    }
    (changes, hook)
}

/// Forgets a bridge's meters (the bridge is gone), deleting them from
/// its datapath; returns the deletes.
pub fn forget(bridge: &str) -> Vec<MeterChange> {
    let (changes, hook) = {
        let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
        let hook = t.hooks.remove(bridge);
        let known = t.by_bridge.remove(bridge).unwrap_or_default();
        let changes: Vec<MeterChange> = known
            .into_values()
            .map(|(id, _)| {
                t.used.remove(&id);
                MeterChange::Delete { id }
            })
            .collect();
        (changes, hook)
    };
    if let Some(h) = hook {
        for c in &changes {
            h(c.clone());
        }
    }
    changes
}

/// The datapath id of the bridge's OpenFlow meter `of_id`.
pub fn datapath_id(bridge: &str, of_id: u32) -> Option<u32> {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.by_bridge.get(bridge)?.get(&of_id).map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(id: u32, rate: u32) -> (Meter, Instant) {
        (
            Meter {
                id,
                flags: 2,
                bands: vec![crate::openflow::meters::Band {
                    band_type: 1,
                    rate,
                    burst_size: 0,
                    prec_level: 0,
                }],
            },
            Instant::now(),
        )
    }

    #[test]
    fn ids_are_allocated_lowest_first_and_freed() {
        let br = "meter-test-br";
        let mut m = BTreeMap::new();
        m.insert(5, meter(5, 10));
        m.insert(1, meter(1, 20));
        let c = sync(br, &m);
        assert_eq!(c.len(), 2);
        let (a, b) = (datapath_id(br, 1).unwrap(), datapath_id(br, 5).unwrap());
        assert_ne!(a, b);
        assert!(sync(br, &m).is_empty(), "nothing changed");
        m.insert(5, meter(5, 11));
        assert_eq!(
            sync(br, &m),
            vec![MeterChange::Set {
                id: b,
                meter: m[&5].0.clone()
            }]
        );
        m.remove(&1);
        assert_eq!(sync(br, &m), vec![MeterChange::Delete { id: a }]);
        assert_eq!(forget(br), vec![MeterChange::Delete { id: b }]);
        assert_eq!(datapath_id(br, 5), None);
    }

    #[test]
    fn a_flushed_switch_deletes_its_datapath_meters() {
        let br = "meter-flush-br";
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        set_hook(
            br,
            std::sync::Arc::new(move |c| log.lock().unwrap().push(c)),
        );
        let mut sw = crate::switch::Switch::new(br, 1);
        sw.meters.insert(3, meter(3, 10));
        sync(br, &sw.meters);
        let id = datapath_id(br, 3).expect("installed");
        sw.flush();
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&MeterChange::Delete { id }),
            "the hook deletes the datapath meter"
        );
        assert_eq!(datapath_id(br, 3), None);
        forget(br);
    }
}
