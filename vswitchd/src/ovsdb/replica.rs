//! The local copy of the database that the monitor keeps current.

use std::collections::HashMap;

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
    /// <table-updates>: "new" holds every monitored column).
    pub fn apply_update(&mut self, updates: &Value) -> Result<(), String> {
        let tables = updates
            .as_object()
            .ok_or("table-updates is not an object")?;
        for (tname, rows) in tables {
            let rows = rows.as_object().ok_or("table-update is not an object")?;
            let table = self.tables.entry(tname.clone()).or_default();
            for (uuid, change) in rows {
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
        Ok(())
    }

    /// Applies a `monitor_cond` reply or `update2` notification.
    pub fn apply_update2(&mut self, updates: &Value, schema: &Schema) -> Result<(), String> {
        let tables = updates
            .as_object()
            .ok_or("table-updates2 is not an object")?;
        for (tname, rows) in tables {
            let rows = rows.as_object().ok_or("table-update2 is not an object")?;
            let table = self.tables.entry(tname.clone()).or_default();
            for (uuid, change) in rows {
                let change = change.as_object().ok_or("row-update2 is not an object")?;
                if let Some(row) = change.get("initial").or_else(|| change.get("insert")) {
                    let row = row.as_object().ok_or("inserted row is not an object")?;
                    table.insert(uuid.clone(), row.clone());
                } else if let Some(diff) = change.get("modify") {
                    let diff = diff.as_object().ok_or("modify is not an object")?;
                    let row = table.entry(uuid.clone()).or_default();
                    for (col, d) in diff {
                        let new = apply_diff(row.get(col), d, schema.kind(tname, col));
                        row.insert(col.clone(), new);
                    }
                } else if change.contains_key("delete") {
                    table.remove(uuid);
                } else {
                    return Err("row-update2 has no known member".into());
                }
            }
        }
        Ok(())
    }

    /// The number of cells held (for memory/show, like stock's idl-cells).
    pub fn n_cells(&self) -> usize {
        self.tables
            .values()
            .flat_map(|t| t.values())
            .map(|r| r.len())
            .sum()
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
}
