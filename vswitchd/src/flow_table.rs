//! The Flow_Table rows a bridge's `flow_tables` column maps table numbers
//! to: each table's name, `flow_limit`, `overflow_policy` (refuse or
//! evict) and eviction `groups`, for the bridge's OpenFlow switch
//! (`ferrovs_ofproto::TableSettings`).
//!
//! As in stock, a `groups` element that does not parse as a subfield is
//! skipped with a warning, and a table without a row (or a row removed)
//! goes back to no name, no limit and no eviction. The `prefixes` column
//! is read but not applied: ferrovs's classifier keeps its fixed prefix
//! fields.

use std::collections::BTreeMap;

use ferrovs_ofproto::switch::EvictionField;
use ferrovs_ofproto::TableSettings;

use crate::ovsdb::datum;
use crate::ovsdb::{Replica, Row};

/// One Flow_Table row, as the database holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowTableCfg {
    pub name: String,
    pub flow_limit: Option<i64>,
    /// "refuse", "evict" or "" (refuse).
    pub overflow_policy: String,
    pub groups: Vec<String>,
    pub prefixes: Vec<String>,
}

/// The Flow_Table rows of Bridge row `brow`, by table number (numbers
/// outside 0..=254 and dangling references are ignored).
pub fn read(r: &Replica, brow: &Row) -> BTreeMap<u8, FlowTableCfg> {
    let strings = |row: &Row, col: &str| -> Vec<String> {
        datum::set_elems(row.get(col))
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    datum::map_pairs(brow.get("flow_tables"))
        .into_iter()
        .filter_map(|(k, v)| {
            let table = u8::try_from(k.as_i64()?).ok()?;
            let row = r.row("Flow_Table", datum::uuid_of(v)?)?;
            Some((
                table,
                FlowTableCfg {
                    name: datum::string(row.get("name")),
                    flow_limit: datum::opt_int(row.get("flow_limit")),
                    overflow_policy: datum::string(row.get("overflow_policy")),
                    groups: strings(row, "groups"),
                    prefixes: strings(row, "prefixes"),
                },
            ))
        })
        .collect()
}

/// What the OpenFlow switch applies for table `table` of `bridge`.
pub fn settings(bridge: &str, table: u8, cfg: &FlowTableCfg) -> TableSettings {
    let mut groups = Vec::new();
    for g in &cfg.groups {
        match EvictionField::parse(g) {
            Ok(f) => groups.push(f),
            Err(e) => {
                log::warn!(target: "bridge", "bridge {bridge} table {table}: error parsing 'groups' ({e})")
            }
        }
    }
    TableSettings {
        name: cfg.name.clone(),
        // A limit at or above 2^32 - 1 is no limit (stock's UINT_MAX).
        max_flows: cfg
            .flow_limit
            .and_then(|l| u32::try_from(l.max(0)).ok())
            .filter(|&l| l < u32::MAX),
        evict: cfg.overflow_policy == "evict",
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_switch_settings() {
        let cfg = FlowTableCfg {
            name: "acl".into(),
            flow_limit: Some(3),
            overflow_policy: "evict".into(),
            groups: vec!["NXM_OF_IN_PORT[]".into(), "bogus[]".into()],
            prefixes: Vec::new(),
        };
        let s = settings("br0", 1, &cfg);
        assert_eq!(s.name, "acl");
        assert_eq!(s.max_flows, Some(3));
        assert!(s.evict);
        // The unparsable group is skipped.
        assert_eq!(s.groups.len(), 1);
        let none = settings("br0", 1, &FlowTableCfg::default());
        assert_eq!(none.max_flows, None);
        assert!(!none.evict);
        let huge = FlowTableCfg {
            flow_limit: Some(1 << 40),
            ..FlowTableCfg::default()
        };
        assert_eq!(settings("br0", 0, &huge).max_flows, None);
    }
}
