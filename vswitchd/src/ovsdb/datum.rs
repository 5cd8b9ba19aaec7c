//! OVSDB values in their JSON form (RFC 7047 section 5.1): atoms, sets
//! `["set", [...]]`, maps `["map", [[k, v], ...]]`, uuids `["uuid", "..."]`.
//! Readers are lenient (a missing column reads as its default, a set of one
//! may be a bare atom); writers produce what ovsdb-server expects.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// How a column's values combine, from its schema type; what an update2
/// diff means depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// At most one atom (scalars and optional values): a diff is the new
    /// value.
    Scalar,
    /// A set (including optional values): a diff toggles elements.
    Set,
    /// A map: a diff adds, replaces or removes pairs.
    Map,
}

impl ColumnKind {
    /// Reads a column's `type` from the schema. Only a column that can
    /// hold more than one element is diffed element by element.
    pub fn from_schema_type(t: &Value) -> ColumnKind {
        let Value::Object(o) = t else {
            return ColumnKind::Scalar;
        };
        let composite = match o.get("max") {
            None => false,
            Some(Value::String(s)) => s == "unlimited",
            Some(v) => v.as_u64().is_some_and(|m| m > 1),
        };
        match (composite, o.contains_key("value")) {
            (false, _) => ColumnKind::Scalar,
            (true, true) => ColumnKind::Map,
            (true, false) => ColumnKind::Set,
        }
    }
}

/// The elements of a set (a bare atom is a set of one).
pub fn set_elems(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(a)) if a.first().and_then(Value::as_str) == Some("set") => a
            .get(1)
            .and_then(Value::as_array)
            .map(|x| x.iter().collect())
            .unwrap_or_default(),
        Some(atom) => vec![atom],
    }
}

/// The number of elements of a set column, without reading them.
pub fn set_len(v: Option<&Value>) -> usize {
    match v {
        None => 0,
        Some(Value::Array(a)) if a.first().and_then(Value::as_str) == Some("set") => {
            a.get(1).and_then(Value::as_array).map_or(0, Vec::len)
        }
        Some(_) => 1,
    }
}

/// The pairs of a map.
pub fn map_pairs(v: Option<&Value>) -> Vec<(&Value, &Value)> {
    let Some(Value::Array(a)) = v else {
        return Vec::new();
    };
    if a.first().and_then(Value::as_str) != Some("map") {
        return Vec::new();
    }
    a.get(1)
        .and_then(Value::as_array)
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([k, v]) => Some((k, v)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A string-to-string map column (options, external_ids, other_config...).
pub fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    map_pairs(v)
        .into_iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}

/// The UUID inside `["uuid", "..."]`.
pub fn uuid_of(v: &Value) -> Option<&str> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::String(u)]) if tag == "uuid" => Some(u),
        _ => None,
    }
}

/// The UUIDs of a set-of-references column.
pub fn uuid_set(v: Option<&Value>) -> Vec<String> {
    set_elems(v)
        .into_iter()
        .filter_map(|e| uuid_of(e).map(str::to_string))
        .collect()
}

/// A string column (scalar or optional); missing reads as "".
pub fn string(v: Option<&Value>) -> String {
    set_elems(v)
        .first()
        .and_then(|a| a.as_str())
        .unwrap_or("")
        .to_string()
}

/// A string column's value, `None` when it is empty (an optional
/// string column left unset).
pub fn opt_string(v: Option<&Value>) -> Option<String> {
    Some(string(v)).filter(|s| !s.is_empty())
}

/// An integer column (scalar or optional).
pub fn opt_int(v: Option<&Value>) -> Option<i64> {
    set_elems(v).first().and_then(|a| a.as_i64())
}

pub fn uuid(u: &str) -> Value {
    json!(["uuid", u])
}

pub fn empty_set() -> Value {
    json!(["set", []])
}

/// An optional value: the atom itself or the empty set.
pub fn optional(v: Option<Value>) -> Value {
    v.unwrap_or_else(empty_set)
}

// (Built as values, not with `json!`, which would serialize the
// elements again: a copy of the whole set.)
pub fn set_of<I: IntoIterator<Item = Value>>(items: I) -> Value {
    Value::Array(vec![
        Value::from("set"),
        Value::Array(items.into_iter().collect()),
    ])
}

pub fn map_of<K: Into<Value>, V: Into<Value>, I: IntoIterator<Item = (K, V)>>(pairs: I) -> Value {
    let pairs: Vec<Value> = pairs
        .into_iter()
        .map(|(k, v)| Value::Array(vec![k.into(), v.into()]))
        .collect();
    Value::Array(vec![Value::from("map"), Value::Array(pairs)])
}

/// Applies an update2 "modify" diff for one column to its old value,
/// taken by value so that a large set (a bridge's ports) is changed in
/// place, not copied: the cost follows the diff and a scan of the set.
pub fn apply_diff(old: Option<Value>, diff: &Value, kind: ColumnKind) -> Value {
    match kind {
        ColumnKind::Scalar => diff.clone(),
        ColumnKind::Set => {
            let mut elems = into_set_elems(old);
            for e in set_elems(Some(diff)) {
                // References (the large sets) compare by their UUID text.
                let found = match uuid_of(e) {
                    // (The text first: the tag is checked on a match only.)
                    Some(u) => elems.iter().position(|x| {
                        matches!(x.as_array().map(Vec::as_slice),
                            Some([_, Value::String(t)]) if t == u)
                            && uuid_of(x).is_some()
                    }),
                    None => elems.iter().position(|x| x == e),
                };
                if let Some(pos) = found {
                    elems.remove(pos);
                } else {
                    elems.push(e.clone());
                }
            }
            set_of(elems)
        }
        ColumnKind::Map => {
            let mut pairs = into_map_pairs(old);
            for (k, v) in map_pairs(Some(diff)) {
                match pairs.iter().position(|(pk, _)| pk == k) {
                    Some(pos) if pairs.get(pos).is_some_and(|(_, pv)| pv == v) => {
                        pairs.remove(pos);
                    }
                    Some(pos) => {
                        if let Some(p) = pairs.get_mut(pos) {
                            p.1 = v.clone();
                        }
                    }
                    None => pairs.push((k.clone(), v.clone())),
                }
            }
            map_of(pairs)
        }
    }
}

/// `set_elems`, owning them.
fn into_set_elems(v: Option<Value>) -> Vec<Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(mut a)) if a.first().and_then(Value::as_str) == Some("set") => {
            match (a.len() > 1).then(|| a.swap_remove(1)) {
                Some(Value::Array(elems)) => elems,
                _ => Vec::new(),
            }
        }
        Some(atom) => vec![atom],
    }
}

/// `map_pairs`, owning them.
fn into_map_pairs(v: Option<Value>) -> Vec<(Value, Value)> {
    let Some(Value::Array(mut a)) = v else {
        return Vec::new();
    };
    if a.first().and_then(Value::as_str) != Some("map") || a.len() < 2 {
        return Vec::new();
    }
    let Value::Array(pairs) = a.swap_remove(1) else {
        return Vec::new();
    };
    pairs
        .into_iter()
        .filter_map(|p| match p {
            Value::Array(kv) if kv.len() == 2 => {
                let mut kv = kv.into_iter();
                Some((kv.next()?, kv.next()?))
            }
            _ => None,
        })
        .collect()
}

/// Whether two column values are the same datum (order of set elements
/// and map pairs does not matter; a bare atom equals a set of one).
pub fn same_datum(a: Option<&Value>, b: &Value) -> bool {
    if a == Some(b) {
        return true;
    }
    let is_map =
        |v: &Value| v.as_array().and_then(|x| x.first()).and_then(Value::as_str) == Some("map");
    if a.is_some_and(is_map) || is_map(b) {
        let mut x: Vec<String> = map_pairs(a)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut y: Vec<String> = map_pairs(Some(b))
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        x.sort();
        y.sort();
        return x == y;
    }
    let mut x: Vec<String> = set_elems(a).iter().map(|v| v.to_string()).collect();
    let mut y: Vec<String> = set_elems(Some(b)).iter().map(|v| v.to_string()).collect();
    x.sort();
    y.sort();
    x == y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_leniently() {
        let m = json!(["map", [["a", "1"], ["b", "2"]]]);
        assert_eq!(str_map(Some(&m)).get("b").map(String::as_str), Some("2"));
        assert_eq!(opt_int(Some(&json!(["set", [5]]))), Some(5));
        assert_eq!(opt_int(Some(&json!(5))), Some(5));
        assert_eq!(opt_int(Some(&json!(["set", []]))), None);
        assert_eq!(set_len(Some(&json!(["set", [1, 2]]))), 2);
        assert_eq!(set_len(Some(&json!(["uuid", "x"]))), 1);
        assert_eq!(set_len(None), 0);
        assert_eq!(string(None), "");
        assert_eq!(uuid_set(Some(&json!(["uuid", "x"]))), vec!["x".to_string()]);
        assert!(str_map(Some(&json!(["map", [["a"]]]))).is_empty());
        assert!(str_map(Some(&json!("junk"))).is_empty());
    }

    #[test]
    fn applies_update2_diffs() {
        let old = json!(["set", [1, 2]]);
        let new = apply_diff(Some(old.clone()), &json!(["set", [2, 3]]), ColumnKind::Set);
        assert!(same_datum(Some(&new), &json!(["set", [1, 3]])));
        let old = json!(["map", [["a", "1"], ["b", "2"]]]);
        let new = apply_diff(
            Some(old),
            &json!(["map", [["a", "1"], ["b", "3"], ["c", "4"]]]),
            ColumnKind::Map,
        );
        assert!(same_datum(
            Some(&new),
            &json!(["map", [["b", "3"], ["c", "4"]]])
        ));
        assert_eq!(apply_diff(None, &json!(7), ColumnKind::Scalar), json!(7));
        // A set of one may come as the bare atom.
        let new = apply_diff(Some(json!(1)), &json!(["set", [2]]), ColumnKind::Set);
        assert!(same_datum(Some(&new), &json!(["set", [1, 2]])));
        let new = apply_diff(None, &json!(["map", [["k", "v"]]]), ColumnKind::Map);
        assert!(same_datum(Some(&new), &json!(["map", [["k", "v"]]])));
        // An optional value is replaced, not toggled (as ovsdb-server
        // diffs it).
        assert_eq!(
            ColumnKind::from_schema_type(&json!({"key": "integer", "min": 0, "max": 1})),
            ColumnKind::Scalar
        );
        assert_eq!(
            ColumnKind::from_schema_type(&json!({"key": "string", "min": 0, "max": "unlimited"})),
            ColumnKind::Set
        );
        assert_eq!(
            ColumnKind::from_schema_type(
                &json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"})
            ),
            ColumnKind::Map
        );
        assert_eq!(
            ColumnKind::from_schema_type(&json!("string")),
            ColumnKind::Scalar
        );
    }
}
