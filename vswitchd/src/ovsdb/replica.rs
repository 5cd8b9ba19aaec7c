//! The local copy of the database that the monitor keeps current.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::datum::{apply_diff, ColumnKind};

/// A row: column name to OVSDB JSON value. Columns an update2 left out
/// hold their defaults and read as such through the `datum` helpers.
pub type Row = Map<String, Value>;

/// Column kinds per table, from the schema.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub tables: HashMap<String, HashMap<String, ColumnKind>>,
}

impl Schema {
    /// Reads what the client needs from a `get_schema` reply.
    pub fn from_json(v: &Value) -> Result<Schema, String> {
        let tables = v
            .get("tables")
            .and_then(Value::as_object)
            .ok_or("schema has no \"tables\" object")?;
        let mut out = Schema::default();
        for (name, t) in tables {
            let cols = t
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("table {name} has no \"columns\""))?;
            let kinds = cols
                .iter()
                .map(|(c, def)| {
                    let kind = def
                        .get("type")
                        .map(ColumnKind::from_schema_type)
                        .unwrap_or(ColumnKind::Scalar);
                    (c.clone(), kind)
                })
                .collect();
            out.tables.insert(name.clone(), kinds);
        }
        Ok(out)
    }

    fn kind(&self, table: &str, column: &str) -> ColumnKind {
        self.tables
            .get(table)
            .and_then(|t| t.get(column))
            .copied()
            .unwrap_or(ColumnKind::Scalar)
    }
}

/// What a monitor reply or update changed in the configuration: the rows
/// (by table, then UUID) inserted, deleted, or modified in a column that
/// is not status (what the daemon writes back itself). `all` stands for
/// every row (a new monitor reply replaced the replica).
///
/// Reconfiguration follows these rows only, so its work stays in
/// proportion to the change, not to the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub all: bool,
    pub rows: BTreeMap<String, BTreeSet<String>>,
}

impl ChangeSet {
    /// Every row counts as changed.
    pub fn everything() -> ChangeSet {
        ChangeSet {
            all: true,
            rows: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.rows.is_empty()
    }

    /// The changed rows of one table (empty under `all`: ask `all` first).
    pub fn table(&self, name: &str) -> impl Iterator<Item = &String> {
        self.rows.get(name).into_iter().flatten()
    }

    /// Whether any row of this table changed (always under `all`).
    pub fn touches(&self, table: &str) -> bool {
        self.all || self.rows.get(table).is_some_and(|r| !r.is_empty())
    }

    pub fn insert(&mut self, table: &str, uuid: &str) {
        if !self.all {
            self.rows
                .entry(table.to_string())
                .or_default()
                .insert(uuid.to_string());
        }
    }

    /// Adds another change set's rows (updates that arrived before the
    /// daemon got to reconfigure).
    pub fn merge(&mut self, other: ChangeSet) {
        if other.all {
            *self = ChangeSet::everything();
        } else if !self.all {
            for (t, rows) in other.rows {
                self.rows.entry(t).or_default().extend(rows);
            }
        }
    }
}

/// The replica: table name to rows by UUID.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    pub tables: HashMap<String, HashMap<String, Row>>,
}

impl Replica {
    pub fn table(&self, name: &str) -> impl Iterator<Item = (&String, &Row)> {
        self.tables.get(name).into_iter().flat_map(|t| t.iter())
    }

    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table).and_then(|t| t.get(uuid))
    }

    /// Applies a `monitor` reply or `update` notification (RFC 7047
    /// <table-updates>: "new" holds every monitored column, and "old" the
    /// modified ones of a modification). Returns the configuration rows
    /// it changed.
    pub fn apply_update(&mut self, updates: &Value) -> Result<ChangeSet, String> {
        let tables = updates
            .as_object()
            .ok_or("table-updates is not an object")?;
        let mut changes = ChangeSet::default();
        for (tname, rows) in tables {
            let rows = rows.as_object().ok_or("table-update is not an object")?;
            let table = self.tables.entry(tname.clone()).or_default();
            for (uuid, change) in rows {
                let config_change = match (change.get("old"), change.get("new")) {
                    (Some(Value::Object(old)), Some(_)) => {
                        old.keys().any(|c| is_config_column(tname, c))
                    }
                    _ => true,
                };
                if config_change {
                    changes.insert(tname, uuid);
                }
                match change.get("new") {
                    Some(Value::Object(new)) => {
                        table.insert(uuid.clone(), new.clone());
                    }
                    Some(_) => return Err("row-update \"new\" is not an object".into()),
                    None => {
                        table.remove(uuid);
                    }
                }
            }
        }
        Ok(changes)
    }

    /// Applies a `monitor_cond` reply or `update2` notification. Returns
    /// the configuration rows it changed.
    pub fn apply_update2(&mut self, updates: &Value, schema: &Schema) -> Result<ChangeSet, String> {
        let tables = updates
            .as_object()
            .ok_or("table-updates2 is not an object")?;
        let mut changes = ChangeSet::default();
        for (tname, rows) in tables {
            let rows = rows.as_object().ok_or("table-update2 is not an object")?;
            let table = self.tables.entry(tname.clone()).or_default();
            for (uuid, change) in rows {
                let change = change.as_object().ok_or("row-update2 is not an object")?;
                if let Some(row) = change.get("initial").or_else(|| change.get("insert")) {
                    let row = row.as_object().ok_or("inserted row is not an object")?;
                    table.insert(uuid.clone(), row.clone());
                    changes.insert(tname, uuid);
                } else if let Some(diff) = change.get("modify") {
                    let diff = diff.as_object().ok_or("modify is not an object")?;
                    if diff.keys().any(|c| is_config_column(tname, c)) {
                        changes.insert(tname, uuid);
                    }
                    let row = table.entry(uuid.clone()).or_default();
                    for (col, d) in diff {
                        let new = apply_diff(row.remove(col), d, schema.kind(tname, col));
                        row.insert(col.clone(), new);
                    }
                } else if change.contains_key("delete") {
                    table.remove(uuid);
                    changes.insert(tname, uuid);
                } else {
                    return Err("row-update2 has no known member".into());
                }
            }
        }
        Ok(changes)
    }
}

/// Whether a column is configuration: neither the server's own
/// (`_version`, `_uuid`) nor a status column.
fn is_config_column(table: &str, column: &str) -> bool {
    !column.starts_with('_') && !is_status_column(table, column)
}

/// Columns ovs-vswitchd writes and never reads as configuration, by
/// table (ovs-vswitchd.conf.db(5)'s "status" columns).
fn is_status_column(table: &str, column: &str) -> bool {
    match table {
        "Open_vSwitch" => matches!(
            column,
            "cur_cfg"
                | "ovs_version"
                | "db_version"
                | "datapath_types"
                | "iface_types"
                | "dpdk_initialized"
                | "dpdk_version"
                | "statistics"
        ),
        "Bridge" => matches!(
            column,
            "datapath_id" | "datapath_version" | "status" | "rstp_status"
        ),
        "Datapath" => column == "capabilities",
        "Port" => matches!(
            column,
            "status" | "statistics" | "rstp_status" | "rstp_statistics" | "bond_active_slave"
        ),
        "Interface" => matches!(
            column,
            "ofport"
                | "ifindex"
                | "mac_in_use"
                | "admin_state"
                | "link_state"
                | "link_resets"
                | "link_speed"
                | "duplex"
                | "mtu"
                | "statistics"
                | "status"
                | "error"
                | "lacp_current"
                | "bfd_status"
                | "cfm_fault"
                | "cfm_fault_status"
                | "cfm_remote_mpids"
                | "cfm_flap_count"
                | "cfm_health"
                | "cfm_remote_opstate"
        ),
        "Controller" | "Manager" => matches!(column, "is_connected" | "role" | "status"),
        "Mirror" => column == "statistics",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum;
    use serde_json::json;

    #[test]
    fn applies_updates_of_both_versions() {
        let schema = Schema::from_json(&json!({"tables": {"T": {"columns": {
            "s": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
            "n": {"type": "integer"}}}}}))
        .unwrap();
        let mut r = Replica::default();
        r.apply_update2(
            &json!({"T": {"u1": {"initial": {"n": 1, "s": ["set", ["a"]]}}}}),
            &schema,
        )
        .unwrap();
        r.apply_update2(
            &json!({"T": {"u1": {"modify": {"n": 2, "s": "b"}}}}),
            &schema,
        )
        .unwrap();
        let row = r.row("T", "u1").unwrap();
        assert_eq!(datum::opt_int(row.get("n")), Some(2));
        assert!(datum::same_datum(row.get("s"), &json!(["set", ["a", "b"]])));
        r.apply_update2(&json!({"T": {"u1": {"delete": null}}}), &schema)
            .unwrap();
        assert!(r.row("T", "u1").is_none());
        r.apply_update(&json!({"T": {"u2": {"new": {"n": 3}}}}))
            .unwrap();
        assert!(r.row("T", "u2").is_some());
        r.apply_update(&json!({"T": {"u2": {"old": {"n": 3}}}}))
            .unwrap();
        assert!(r.row("T", "u2").is_none());
        assert!(r.apply_update(&json!([1])).is_err());
        assert!(r
            .apply_update2(&json!({"T": {"u": {"bogus": 1}}}), &schema)
            .is_err());
    }

    #[test]
    fn status_only_updates_change_no_configuration() {
        let schema = Schema::default();
        let mut r = Replica::default();
        let stats = json!({"Interface": {"u1": {"modify": {"statistics": ["map", []], "link_state": "up", "_version": ["uuid", "v2"]}}}});
        assert!(r.apply_update2(&stats, &schema).unwrap().is_empty());
        let cfg = json!({"Interface": {"u1": {"modify": {"ofport_request": 5, "mtu": 1500}}}});
        let c = r.apply_update2(&cfg, &schema).unwrap();
        assert_eq!(c.table("Interface").collect::<Vec<_>>(), ["u1"]);
        assert!(!c.touches("Port") && c.touches("Interface"));
        let next = json!({"Open_vSwitch": {"u0": {"modify": {"next_cfg": 7, "cur_cfg": 6}}}});
        assert!(r
            .apply_update2(&next, &schema)
            .unwrap()
            .touches("Open_vSwitch"));
        let insert = json!({"Port": {"u2": {"insert": {"name": "p1"}}}});
        assert!(r.apply_update2(&insert, &schema).unwrap().touches("Port"));
        let delete = json!({"Port": {"u2": {"delete": null}}});
        assert!(r.apply_update2(&delete, &schema).unwrap().touches("Port"));
        let v1 = json!({"Bridge": {"u3": {"old": {"datapath_id": "1"}, "new": {"datapath_id": "2", "name": "br0"}}}});
        assert!(r.apply_update(&v1).unwrap().is_empty());
        let v1_new_row = json!({"Bridge": {"u3": {"new": {"name": "br0"}}}});
        assert!(r.apply_update(&v1_new_row).unwrap().touches("Bridge"));
        let mut all = ChangeSet::default();
        all.merge(c);
        all.merge(ChangeSet::everything());
        assert!(all.all && all.touches("Mirror"));
    }
}
