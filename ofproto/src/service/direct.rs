//! Upcall translation on the handler threads themselves, as stock does:
//! a handler reads the bridges' switches under their read locks (the
//! service is their only other user, and writes them under the write
//! lock), so a flow setup costs no trip to the service thread and back.
//!
//! What translation changes goes back as follows:
//! - learned rules (`learn` actions) are applied by the handler, under
//!   the bridge's write lock, before the flow is installed (as stock
//!   applies them in the handler); the service is told afterwards to
//!   send flow monitors and flow-removed messages, without waiting;
//! - MAC learning is in the switch's own mutex; a change that makes
//!   flows stale moves the tables generation at once;
//! - the packet's credit to the rules it went through is added by the
//!   handler, under the read locks it translated under: rule counters
//!   are atomics shared with the hits (`crate::switch::RuleStats`), so
//!   the credit is visible before the flow is installed.

use super::changes::{Changes, Scope};
use super::{Cmd, UpcallItem};
use crate::switch::{SharedSwitch, Switch};
use crate::xlate::learn::Learned;
use crate::xlate::topology::Topology;
use crate::xlate::upcall::{credit_hits, translate_upcall_in, UpcallXlate};
use crate::xlate::NameHash;
use mio::Waker;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// What the service shares with the handlers.
#[derive(Default)]
pub(crate) struct Shared {
    /// Every bridge's switch, by name: sorted, which is the order
    /// several are read-locked in.
    pub switches: RwLock<BTreeMap<String, SharedSwitch>>,
    /// Per datapath type, as `OfprotoService::set_topology` gave it.
    pub topologies: RwLock<HashMap<String, Arc<Topology>>>,
}

impl Shared {
    pub fn switches(&self) -> RwLockReadGuard<'_, BTreeMap<String, SharedSwitch>> {
        self.switches.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn topologies(&self) -> RwLockReadGuard<'_, HashMap<String, Arc<Topology>>> {
        self.topologies.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The topology that holds `bridge`.
    pub fn topology_of(&self, bridge: &str) -> Option<Arc<Topology>> {
        self.topologies()
            .values()
            .find(|t| t.bridges.contains_key(bridge))
            .cloned()
    }
}

/// Runs `f` with the switches that a translation through `bridge` may
/// reach (patch ports, tunnels): its own and those of its topology,
/// read-locked in name order, the order every thread that holds several
/// locks them in. The first guard is held on the stack: with one bridge
/// (the usual case) no list is allocated.
pub(crate) fn with_reachable<R>(
    registry: &BTreeMap<String, SharedSwitch>,
    topo: Option<&Topology>,
    bridge: &str,
    f: impl FnOnce(&HashMap<&str, &Switch, NameHash>) -> R,
) -> R {
    let mut first: Option<(&str, RwLockReadGuard<'_, Switch>)> = None;
    let mut more: Vec<(&str, RwLockReadGuard<'_, Switch>)> = Vec::new();
    let reachable = registry
        .iter()
        .filter(|(n, _)| n.as_str() == bridge || topo.is_some_and(|t| t.bridges.contains_key(*n)));
    for (n, s) in reachable {
        let g = (n.as_str(), s.read());
        match first {
            None => first = Some(g),
            Some(_) => more.push(g),
        }
    }
    let guards = first.iter().chain(more.iter());
    let mut switches = HashMap::with_capacity_and_hasher(1 + more.len(), NameHash);
    switches.extend(guards.map(|(n, g)| (*n, &**g)));
    f(&switches)
}

/// Translates MISS upcalls on the calling thread (see the module
/// documentation). Cheap to clone; one per handler thread.
#[derive(Clone)]
pub struct UpcallTranslator {
    shared: Arc<Shared>,
    changes: Arc<Changes>,
    tx: Sender<Cmd>,
    waker: Arc<Waker>,
}

impl UpcallTranslator {
    pub(super) fn new(
        shared: Arc<Shared>,
        changes: Arc<Changes>,
        tx: Sender<Cmd>,
        waker: Arc<Waker>,
    ) -> Self {
        UpcallTranslator {
            shared,
            changes,
            tx,
            waker,
        }
    }

    /// Translates each item (as `OfprotoService::translate_upcalls`
    /// does on the service thread); one answer per item, in order.
    pub fn translate(&self, items: &[UpcallItem]) -> Vec<Result<UpcallXlate, String>> {
        items.iter().map(|item| self.translate_one(item)).collect()
    }

    /// Translates one item (what [`Self::translate`] does for each), so
    /// that a caller that installs misses one by one needs no list of
    /// answers.
    pub fn translate_one(&self, item: &UpcallItem) -> Result<UpcallXlate, String> {
        let bridge = &*item.bridge;
        let topo = self.shared.topology_of(bridge);
        let registry = self.shared.switches();
        if !registry.contains_key(bridge) {
            return Err("no bridge named ".to_string() + bridge);
        }
        let r = with_reachable(&registry, topo.as_deref(), bridge, |switches| {
            let r = translate_upcall_in(switches, topo.as_deref(), bridge, &item.req);
            // The packet counts for the rules (and mirrors) it went
            // through, as its flow's later packets will.
            if let (Ok((_, x)), Some(bytes)) = (&r, item.packet_len) {
                let now = std::time::Instant::now().into();
                for sw in switches.values() {
                    credit_hits(sw, &x.rules, 1, bytes, now);
                }
            }
            // MAC table entries that changed make the flows that looked
            // them up stale.
            for sw in switches.values() {
                let stale = sw
                    .mac_table
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take_changes();
                self.changes.note_mac_changes(&stale);
            }
            r
        });
        let (target, mut x) = r?;
        // NORMAL's MAC learning is in the MAC table already (translation
        // with side effects learns as it goes): only learned rules need
        // the bridge's write lock, which stops every other translation.
        let is_rule = |l: &Learned| matches!(l, Learned::Rule { .. });
        if item.req.may_learn && x.learned.iter().any(is_rule) {
            // Applied before the flow is installed: the next packet
            // that needs the learned rule finds it.
            let mut changed = Vec::new();
            for (name, s) in registry.iter() {
                if x.learned.iter().any(|l| is_rule(l) && l.bridge() == name)
                    && crate::xlate::learn::apply(&mut s.write(), &x.learned)
                {
                    changed.push(name.clone());
                }
            }
            x.tables_changed = !changed.is_empty();
            if x.tables_changed {
                self.changes.bump(Scope::All);
                // Flow monitors and evictions' flow-removed messages.
                if !changed.iter().any(|c| **c == *target) {
                    changed.push(target.to_string());
                }
                if self.tx.send(Cmd::DeliverAsync(changed)).is_ok() {
                    let _ = self.waker.wake();
                }
            }
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use crate::service::{BridgeConfig, FdbRequest, OfprotoService, UpcallItem, ALL_VERSIONS};
    use crate::switch::PortInfo;
    use crate::xlate::upcall::UpcallRequest;
    use ferrovs_dpif::odp::key::EthKey;
    use ferrovs_dpif::odp::{Key, KeyAttr};
    use std::collections::HashMap;

    fn port(n: u16) -> PortInfo {
        PortInfo::live(n, &format!("p{n}"), [2, 0, 0, 0, 0, n as u8])
    }

    /// A handler's translation reads the service's switch: NORMAL floods
    /// to the other port, learns the source MAC in the switch's table, and
    /// the packet's credit reaches the rule before a later request is
    /// served.
    #[test]
    fn handler_translation_learns_and_credits_the_rule() {
        let dir = std::env::temp_dir().join(format!("ferrovs-direct-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let svc = OfprotoService::start().expect("start service");
        svc.add_bridge(BridgeConfig {
            name: "brd".into(),
            datapath_id: 1,
            mgmt_path: dir.join("brd.mgmt"),
            versions: ALL_VERSIONS,
            normal_flow: true,
        })
        .expect("add bridge");
        svc.set_ports("brd", vec![port(1), port(2)]);
        // Any request after set_ports is served after it.
        assert_eq!(svc.list_bridges(), vec!["brd".to_string()]);
        let key = Key::new(vec![
            KeyAttr::InPort(11),
            KeyAttr::Ethernet(EthKey {
                src: [0, 0, 0, 0, 0, 0xaa],
                dst: [0xff; 6],
            }),
            KeyAttr::Ethertype(0x0806),
        ])
        .to_nlattrs()
        .expect("key");
        let item = UpcallItem {
            bridge: "brd".into(),
            req: UpcallRequest {
                key,
                odp_ports: std::sync::Arc::new(HashMap::from([(1, 11), (2, 12)])),
                may_learn: true,
                parsed: None,
                packet_out: None,
            },
            packet_len: Some(60),
        };
        let translator = svc.upcall_translator();
        let out = translator.translate(std::slice::from_ref(&item));
        let x = out[0].as_ref().expect("translated");
        // Flooded to datapath port 12 only (OVS_ACTION_ATTR_OUTPUT, 12).
        assert_eq!(x.actions, vec![8, 0, 1, 0, 12, 0, 0, 0], "{x:?}");
        let fdb = svc.fdb(FdbRequest::Show("brd".into())).expect("fdb/show");
        assert!(fdb.contains("00:00:00:00:00:aa"), "{fdb}");
        let flows = svc.dump_flows("brd").expect("dump");
        assert!(flows.contains("n_packets=1, n_bytes=60"), "{flows}");
        let unknown = UpcallItem {
            bridge: "nope".into(),
            ..item
        };
        assert!(translator.translate(&[unknown])[0].is_err());
        svc.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
