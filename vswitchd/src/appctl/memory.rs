//! `memory/show`: stock's figures, `name:value` in name order, those
//! that are zero left out: handler and revalidator threads, installed
//! flows known ("udpif keys"), the database replica's cells (rows times
//! columns of Open vSwitch 3.1's schema, as stock's IDL counts them),
//! bridge ports and OpenFlow rules (hidden ones included).

use std::collections::BTreeMap;

use crate::bridge::Bridges;

/// Columns per table in the schema stock 3.1 is built with (8.3.1);
/// tables it does not know count nothing.
const COLUMNS: &[(&str, usize)] = &[
    ("AutoAttach", 3),
    ("Bridge", 22),
    ("CT_Timeout_Policy", 2),
    ("CT_Zone", 2),
    ("Controller", 17),
    ("Datapath", 4),
    ("Flow_Sample_Collector_Set", 4),
    ("Flow_Table", 6),
    ("IPFIX", 8),
    ("Interface", 35),
    ("Manager", 8),
    ("Mirror", 10),
    ("NetFlow", 6),
    ("Open_vSwitch", 17),
    ("Port", 22),
    ("QoS", 4),
    ("Queue", 3),
    ("SSL", 5),
    ("sFlow", 6),
];

/// `rows` gives each table's row count.
pub fn show(bridges: &Bridges, rows: impl Fn(&str) -> usize) -> String {
    let mut usage: BTreeMap<&str, usize> = BTreeMap::new();
    for h in bridges.handlers.values() {
        let (handlers, revalidators, ukeys) = h.memory();
        *usage.entry("handlers").or_default() += handlers;
        *usage.entry("revalidators").or_default() += revalidators;
        *usage.entry("udpif keys").or_default() += ukeys;
    }
    let cells = COLUMNS.iter().map(|(t, n)| rows(t) * n).sum();
    usage.insert("idl-cells-Open_vSwitch", cells);
    usage.insert("ports", bridges.n_ports());
    // Every rule bridge/dump-flows lists, the hidden ones included.
    let rules = bridges
        .bridges
        .values()
        .filter_map(|b| b.openflow.as_ref())
        .map(|of| of.rule_count())
        .sum();
    usage.insert("rules", rules);
    let parts: Vec<String> = usage
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    parts.join(" ")
}
