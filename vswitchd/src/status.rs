//! The status ovs-vswitchd writes back to the database, as transaction
//! operations. Only columns whose value differs from what the replica
//! holds are written, so an idle daemon sends nothing.

use ferrovs_netdev::route::RouteTable;
use serde_json::{json, Map, Value};

use crate::bridge::{Bridges, Iface};
use crate::config::Config;
use crate::datapath;
use crate::ovsdb::{datum, Replica, Row};

/// Adds `column = value` to `row` unless the replica already has it.
pub(crate) fn put(row: &mut Map<String, Value>, current: Option<&Row>, column: &str, value: Value) {
    if !datum::same_datum(current.and_then(|r| r.get(column)), &value) {
        row.insert(column.to_string(), value);
    }
}

pub(crate) fn update(table: &str, uuid: &str, row: Map<String, Value>) -> Value {
    json!({
        "op": "update",
        "table": table,
        "where": [["_uuid", "==", datum::uuid(uuid)]],
        "row": Value::Object(row),
    })
}

/// A tunnel's `status`: the interface its packets leave through (the
/// route to `remote_ip`) and that interface's carrier, as stock reports.
fn tunnel_status(iface: &Iface, routes: Option<&RouteTable>) -> Vec<(String, String)> {
    let (Some(routes), false) = (routes, iface.overridden) else {
        return Vec::new();
    };
    if !matches!(iface.iface_type.as_str(), "vxlan" | "geneve" | "gre") {
        return Vec::new();
    }
    let Some(ip) = iface
        .options
        .get("remote_ip")
        .and_then(|r| r.parse::<std::net::IpAddr>().ok())
    else {
        return Vec::new();
    };
    let Some(hop) = routes.lookup(0, ip) else {
        return Vec::new();
    };
    let carrier = std::fs::read_to_string(format!("/sys/class/net/{}/carrier", hop.dev))
        .is_ok_and(|c| c.trim() == "1");
    vec![
        ("tunnel_egress_iface".to_string(), hop.dev.clone()),
        (
            "tunnel_egress_iface_carrier".to_string(),
            if carrier { "up" } else { "down" }.to_string(),
        ),
    ]
}

fn iface_columns(
    iface: &Iface,
    bridge_mac: &str,
    is_local: bool,
    routes: Option<&RouteTable>,
) -> Map<String, Value> {
    let mut row = Map::new();
    let opt = |v: Option<Value>| datum::optional(v);
    row.insert("error".into(), opt(iface.error.as_ref().map(|e| json!(e))));
    match (&iface.device, iface.ofport) {
        (Some(dev), Some(ofport)) => {
            let mut st = dev.status();
            st.status.extend(tunnel_status(iface, routes));
            let mac = if is_local {
                bridge_mac.to_string()
            } else {
                st.mac.clone()
            };
            row.insert("ofport".into(), json!(i64::from(ofport)));
            row.insert("ifindex".into(), json!(st.ifindex));
            row.insert("mac_in_use".into(), json!(mac));
            row.insert(
                "admin_state".into(),
                json!(if st.admin_up && !iface.admin_down {
                    "up"
                } else {
                    "down"
                }),
            );
            row.insert(
                "link_state".into(),
                json!(if st.link_up && !iface.admin_down {
                    "up"
                } else {
                    "down"
                }),
            );
            row.insert("link_resets".into(), json!(0));
            row.insert("link_speed".into(), opt(st.link_speed.map(|s| json!(s))));
            row.insert("duplex".into(), opt(st.duplex.map(|d| json!(d))));
            let mtu = iface.mtu.or(st.mtu);
            row.insert("mtu".into(), opt(mtu.map(|m| json!(m))));
            row.insert("statistics".into(), datum::map_of(st.statistics));
            row.insert("status".into(), datum::map_of(st.status));
        }
        _ => {
            row.insert("ofport".into(), json!(-1));
            for c in [
                "ifindex",
                "mac_in_use",
                "admin_state",
                "link_state",
                "link_resets",
                "link_speed",
                "duplex",
                "mtu",
            ] {
                row.insert(c.into(), datum::empty_set());
            }
            row.insert(
                "statistics".into(),
                datum::map_of(Vec::<(String, i64)>::new()),
            );
            row.insert(
                "status".into(),
                datum::map_of(Vec::<(String, String)>::new()),
            );
        }
    }
    row
}

/// Operations that bring the status columns up to date; with `cur_cfg`,
/// also marks the configuration `next_cfg` as applied.
///
/// Only rows marked dirty are looked at, unless `full` (the periodic
/// refresh, which also picks up counters and link changes).
pub fn status_ops(
    bridges: &mut Bridges,
    cfg: &Config,
    replica: &Replica,
    cur_cfg: Option<i64>,
    full: bool,
) -> Vec<Value> {
    let mut ops = Vec::new();
    // Tunnels report their egress interface from the system's routes
    // (unless --disable-system-route).
    let has_tunnels = || {
        bridges.bridges.values().any(|b| {
            b.ifaces
                .values()
                .any(|i| matches!(i.iface_type.as_str(), "vxlan" | "geneve" | "gre"))
        })
    };
    let routes = (bridges.system_routes && has_tunnels())
        .then(|| RouteTable::from_system().ok())
        .flatten();
    for br in bridges.bridges.values_mut() {
        let (bridge_name, bridge_mac) = (br.name.clone(), br.mac.clone());
        for iface in br.ifaces.values_mut() {
            if !(full || iface.status_dirty) {
                continue;
            }
            iface.status_dirty = false;
            let iface = &*iface;
            let current = replica.row("Interface", &iface.uuid);
            if current.is_none() {
                continue;
            }
            let mut row = Map::new();
            for (c, v) in iface_columns(
                iface,
                &bridge_mac,
                iface.name == bridge_name,
                routes.as_ref(),
            ) {
                put(&mut row, current, &c, v);
            }
            if !row.is_empty() {
                ops.push(update("Interface", &iface.uuid, row));
            }
        }
        if !(full || br.status_dirty) {
            continue;
        }
        br.status_dirty = false;
        let current = replica.row("Bridge", &br.uuid);
        if current.is_some() {
            let mut row = Map::new();
            put(&mut row, current, "datapath_id", json!(br.datapath_id));
            put(&mut row, current, "datapath_version", json!("<built-in>"));
            if !row.is_empty() {
                ops.push(update("Bridge", &br.uuid, row));
            }
        }
    }
    if let Some(ovs_uuid) = &cfg.ovs_uuid {
        let current = replica.row("Open_vSwitch", ovs_uuid);
        let mut row = Map::new();
        if let Some(n) = cur_cfg {
            put(&mut row, current, "cur_cfg", json!(n));
        }
        let dp_types = datapath::available_types(bridges.dummy)
            .into_iter()
            .map(|t| json!(t));
        put(&mut row, current, "datapath_types", datum::set_of(dp_types));
        // What stock writes when it was built without DPDK.
        put(&mut row, current, "dpdk_version", json!("none"));
        let if_types = datapath::iface_types(bridges.dummy)
            .into_iter()
            .map(|t| json!(t));
        put(&mut row, current, "iface_types", datum::set_of(if_types));
        if !row.is_empty() {
            ops.push(update("Open_vSwitch", ovs_uuid, row));
        }
        datapath_capabilities(bridges, replica, current, &mut ops);
    }
    ops
}

/// The `capabilities` of each Datapath row that Open_vSwitch `datapaths`
/// names for a datapath type ferrovs runs (ovn-controller creates the
/// row and reads it). As stock, they are written once per entry (a key
/// someone sets by hand afterwards stays), each key set and keys of
/// others kept. Stock writes only when it first sees the entry, so not
/// at all when no bridge of the type ran then; ferrovs writes as soon as
/// one runs.
fn datapath_capabilities(
    bridges: &mut Bridges,
    replica: &Replica,
    ovs: Option<&Row>,
    ops: &mut Vec<Value>,
) {
    let entries = datum::map_pairs(ovs.and_then(|r| r.get("datapaths")));
    let entries: Vec<(&str, &str)> = entries
        .into_iter()
        .filter_map(|(t, row)| Some((t.as_str()?, datum::uuid_of(row)?)))
        .collect();
    // An entry removed and added again is new again.
    bridges
        .capabilities_written
        .retain(|t| entries.iter().any(|(e, _)| e == t));
    for (dp_type, uuid) in entries {
        if bridges.capabilities_written.contains(dp_type) {
            continue;
        }
        let (Some(current), Some(caps)) =
            (replica.row("Datapath", uuid), bridges.capabilities(dp_type))
        else {
            continue;
        };
        bridges.capabilities_written.insert(dp_type.to_string());
        let mut map = datum::str_map(current.get("capabilities"));
        map.extend(caps.into_iter().map(|(k, v)| (k.to_string(), v)));
        let mut row = Map::new();
        put(&mut row, Some(current), "capabilities", datum::map_of(map));
        if !row.is_empty() {
            ops.push(update("Datapath", uuid, row));
        }
    }
}
