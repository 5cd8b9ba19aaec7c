//! Frozen translations: what a recirculation id stands for.
//!
//! When translation forks a packet to come back later (`ct(table=N)`),
//! it freezes the pipeline state the continuation needs (the bridge, the
//! table to resume in, the metadata and registers, the action set) and
//! names it with a recirculation id, which the datapath actions carry as
//! `recirc(ID)` and the recirculated packet's key as `recirc_id(ID)`.
//! Translating that key thaws the state again.
//!
//! Equal states share an id, so the megaflows of many connections that
//! freeze the same state share one continuation. Ids are never reused
//! while their state is known; states unused for a long time are
//! forgotten once the table is large, and a packet that still carries a
//! forgotten id is dropped with stock's error ("Recirculation context not
//! found").

use crate::openflow::actions::Action;
use crate::openflow::fields::{id, range, KEY_LEN};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The key fields a continuation restores (Open vSwitch's frozen
/// metadata): the OpenFlow metadata, the registers and the input port.
fn frozen_fields() -> impl Iterator<Item = usize> {
    [id::METADATA, id::IN_PORT]
        .into_iter()
        .chain(id::REG0..=id::REG15)
}

/// The state a recirculation id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    pub bridge: String,
    /// The mirrors the packet was already sent to (see `mirror`).
    pub mirrors: u32,
    /// The data stack of `push`/`pop`, bottom first (see `stack`).
    pub stack: Vec<Vec<u8>>,
    /// The table translation resumes in.
    pub table: u8,
    /// The frozen fields' bytes, in `frozen_fields` order.
    pub metadata: Vec<u8>,
    /// The action set at the fork, as written.
    pub action_set: Vec<Action>,
    pub actset_output: Option<u16>,
    /// Whether conntrack ran before the fork (the continuation keeps the
    /// key's ct_* fields only then).
    pub conntracked: bool,
    /// What remained to run at the freeze (empty: look `table` up).
    pub actions: Vec<super::group::FrozenOp>,
    /// The userdata of the controller action that froze (packet-ins).
    pub userdata: Vec<u8>,
    /// The tunnel a packet-in reports, as it was at the controller
    /// action (field, value): the fields set, and the tun_metadata
    /// options present (received or written, even if now zero). Empty
    /// for other states.
    pub tunnel: Vec<(usize, u128)>,
}

impl Frozen {
    /// Collects the frozen fields of `flow`.
    pub fn metadata_of(flow: &[u8; KEY_LEN]) -> Vec<u8> {
        frozen_fields()
            .flat_map(|f| flow[range(f)].to_vec())
            .collect()
    }

    /// A string equal for equal states (the map key for sharing ids).
    fn identity(&self) -> String {
        format!("{self:?}")
    }

    /// Writes the frozen fields back into `flow`.
    pub fn restore(&self, flow: &mut [u8; KEY_LEN]) {
        let mut at = 0;
        for f in frozen_fields() {
            let r = range(f);
            let n = r.len();
            if let Some(src) = self.metadata.get(at..at + n) {
                flow[r].copy_from_slice(src);
            }
            at += n;
        }
    }
}

/// Past this many states, ones unused for [`STALE`] are forgotten.
const SOFT_LIMIT: usize = 65536;
const STALE: Duration = Duration::from_secs(60);
/// At most this many states are kept, whatever their age.
const HARD_LIMIT: usize = 4 * SOFT_LIMIT;

#[derive(Default)]
struct Table {
    next: u32,
    /// Keyed by [`Frozen::identity`] (actions are not `Hash`).
    by_state: HashMap<String, u32>,
    by_id: HashMap<u32, (Frozen, Instant)>,
}

fn table() -> &'static Mutex<Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(Table::default()))
}

/// The id of `state`, allocating one (from 1 up, as stock does) if it has
/// none yet.
pub fn alloc(state: Frozen) -> u32 {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let ident = state.identity();
    if let Some(&id) = t.by_state.get(&ident) {
        if let Some(e) = t.by_id.get_mut(&id) {
            e.1 = now;
        }
        return id;
    }
    if t.by_id.len() >= SOFT_LIMIT {
        let stale: Vec<u32> = t
            .by_id
            .iter()
            .filter(|(_, (_, used))| now.duration_since(*used) > STALE)
            .map(|(&id, _)| id)
            .collect();
        for id in stale {
            if let Some((s, _)) = t.by_id.remove(&id) {
                t.by_state.remove(&s.identity());
            }
        }
        // Still too many (states made faster than they go stale): the
        // least recently used quarter goes; their packets, if any come
        // back, are dropped as unknown.
        if t.by_id.len() >= HARD_LIMIT {
            let mut by_age: Vec<(Instant, u32)> =
                t.by_id.iter().map(|(&id, (_, used))| (*used, id)).collect();
            by_age.sort_unstable();
            for (_, id) in by_age.into_iter().take(HARD_LIMIT / 4) {
                if let Some((s, _)) = t.by_id.remove(&id) {
                    t.by_state.remove(&s.identity());
                }
            }
        }
    }
    // 0 means "not recirculated"; skip it (and ids still in use) when the
    // counter wraps.
    let mut id = t.next.wrapping_add(1);
    while id == 0 || t.by_id.contains_key(&id) {
        id = id.wrapping_add(1);
    }
    t.next = id;
    t.by_state.insert(ident, id);
    t.by_id.insert(id, (state, now));
    id
}

/// The state `id` stands for, if it is known.
pub fn lookup(id: u32) -> Option<Frozen> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.by_id.get_mut(&id).map(|e| {
        e.1 = Instant::now();
        e.0.clone()
    })
}

/// The bridge that froze state `id`, if it is known (without copying
/// the state).
pub fn bridge_of(id: u32) -> Option<String> {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.by_id.get(&id).map(|e| e.0.bridge.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_states_share_an_id_and_thaw_back() {
        let mut flow = [0u8; KEY_LEN];
        flow[range(id::REG3)].copy_from_slice(&7u32.to_be_bytes());
        let state = |table| Frozen {
            bridge: "brtest-recirc".into(),
            mirrors: 0,
            stack: Vec::new(),
            table,
            metadata: Frozen::metadata_of(&flow),
            action_set: Vec::new(),
            actset_output: None,
            conntracked: true,
            actions: Vec::new(),
            userdata: Vec::new(),
            tunnel: Vec::new(),
        };
        let a = alloc(state(1));
        let b = alloc(state(1));
        let c = alloc(state(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, 0);
        let back = lookup(a).expect("known id");
        assert_eq!(back.table, 1);
        let mut thawed = [0u8; KEY_LEN];
        back.restore(&mut thawed);
        assert_eq!(&thawed[range(id::REG3)], &7u32.to_be_bytes());
        assert!(lookup(u32::MAX - 5).is_none());
    }
}
