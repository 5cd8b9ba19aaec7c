//! The Mirror table: a bridge's `mirrors` read out of the database, turned
//! into the mirrors its OpenFlow switch applies during translation (see
//! `ferrovs_ofproto::xlate::mirror`), and their `statistics` written back.
//!
//! Reading keeps port names (rows refer to Port rows); the names become
//! OpenFlow port numbers when the bridge's ports are known
//! ([`MirrorsCfg::resolve`]), as stock's `mirror_configure` looks them up
//! among the bridge's ports then.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use ferrovs_ofproto::xlate::mirror::{MirrorCfg, MirrorStats};
use serde_json::{json, Map, Value};

use crate::ovsdb::{datum, Replica, Row};
use crate::status::{put, update};

/// A Mirror row as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorRow {
    pub uuid: String,
    pub name: String,
    pub select_all: bool,
    /// Port names.
    pub select_src_port: Vec<String>,
    pub select_dst_port: Vec<String>,
    pub select_vlan: Vec<u16>,
    pub output_port: Option<String>,
    pub output_vlan: Option<u16>,
    pub snaplen: Option<u16>,
}

/// A bridge's mirrors, with what resolving them needs: the interfaces of
/// the bridge's ports they name.
///
/// It depends on the Bridge row (`mirrors`, `ports`), its Mirror rows,
/// and the Port rows they name with those ports' Interface rows; not on
/// the bridge's other ports (`select_all` takes the switch's ports when
/// resolving), so that a port added elsewhere leaves it unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorsCfg {
    /// Sorted by UUID, the order stock configures them in.
    pub mirrors: Vec<MirrorRow>,
    /// Port name to its interfaces' names, for the ports of the bridge
    /// the mirrors name.
    pub port_ifaces: BTreeMap<String, Vec<String>>,
}

/// Mirror statistics of every bridge, by Mirror UUID.
pub fn stats() -> Arc<MirrorStats> {
    static STATS: OnceLock<Arc<MirrorStats>> = OnceLock::new();
    Arc::clone(STATS.get_or_init(Default::default))
}

fn port_names(r: &Replica, v: Option<&Value>) -> Vec<String> {
    datum::uuid_set(v)
        .into_iter()
        .filter_map(|u| r.row("Port", &u).map(|p| datum::string(p.get("name"))))
        .collect()
}

fn small_int(v: Option<&Value>, max: i64) -> Option<u16> {
    datum::opt_int(v)
        .filter(|n| (0..=max).contains(n))
        .map(|n| n as u16)
}

impl MirrorRow {
    fn from_row(r: &Replica, uuid: String, row: &Row) -> MirrorRow {
        MirrorRow {
            uuid,
            name: datum::string(row.get("name")),
            select_all: datum::set_elems(row.get("select_all"))
                .first()
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            select_src_port: port_names(r, row.get("select_src_port")),
            select_dst_port: port_names(r, row.get("select_dst_port")),
            select_vlan: datum::set_elems(row.get("select_vlan"))
                .into_iter()
                .filter_map(|v| v.as_i64())
                .filter(|v| (0..4096).contains(v))
                .map(|v| v as u16)
                .collect(),
            output_port: port_names(r, row.get("output_port")).into_iter().next(),
            output_vlan: small_int(row.get("output_vlan"), 4095),
            snaplen: small_int(row.get("snaplen"), 65535),
        }
    }
}

impl MirrorsCfg {
    /// The mirrors of Bridge row `brow`.
    pub fn from_row(r: &Replica, brow: &Row) -> MirrorsCfg {
        let mut mirrors: Vec<MirrorRow> = datum::uuid_set(brow.get("mirrors"))
            .into_iter()
            .filter_map(|u| {
                let row = r.row("Mirror", &u)?;
                Some(MirrorRow::from_row(r, u, row))
            })
            .collect();
        mirrors.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        let named: std::collections::BTreeSet<&str> = mirrors
            .iter()
            .flat_map(|m| {
                let out = m.output_port.iter();
                out.chain(&m.select_src_port).chain(&m.select_dst_port)
            })
            .map(String::as_str)
            .collect();
        // A bridge without mirrors naming ports reads none of its ports
        // (this runs whenever the Bridge row changes: on every add-port).
        let ports = if named.is_empty() {
            Vec::new()
        } else {
            datum::uuid_set(brow.get("ports"))
        };
        let port_ifaces = ports
            .into_iter()
            .filter_map(|u| r.row("Port", &u))
            .filter(|p| named.contains(datum::string(p.get("name")).as_str()))
            .map(|p| {
                let ifaces = datum::uuid_set(p.get("interfaces"))
                    .into_iter()
                    .filter_map(|i| r.row("Interface", &i))
                    .map(|i| datum::string(i.get("name")))
                    .collect();
                (datum::string(p.get("name")), ifaces)
            })
            .collect();
        MirrorsCfg {
            mirrors,
            port_ifaces,
        }
    }

    /// The mirrors of bridge `bridge` as its switch applies them, given
    /// the OpenFlow number of each interface it has (all of them: every
    /// port for `select_all`). Mirrors without a usable output are left
    /// out (logged, as stock does).
    pub fn resolve(&self, bridge: &str, ofports: &HashMap<String, u16>) -> Vec<MirrorCfg> {
        if self.mirrors.is_empty() {
            return Vec::new();
        }
        let ports_of = |port: &str| -> Vec<u16> {
            self.port_ifaces
                .get(port)
                .into_iter()
                .flatten()
                .filter_map(|i| ofports.get(i).copied())
                .collect()
        };
        let collect = |names: &[String], m: &MirrorRow| -> Vec<u16> {
            let mut out = Vec::new();
            for n in names {
                if self.port_ifaces.contains_key(n) {
                    out.extend(ports_of(n));
                } else {
                    log::warn!(target: "bridge", "bridge {bridge}: mirror {} cannot match on nonexistent port {n}", m.name);
                }
            }
            out
        };
        let mut cfgs = Vec::new();
        for m in &self.mirrors {
            let (out_port, out_vlan) = match (&m.output_port, m.output_vlan) {
                (Some(p), v) => {
                    let Some(&ofport) = self
                        .port_ifaces
                        .contains_key(p)
                        .then(|| ports_of(p))
                        .and_then(|v| v.first().copied())
                        .as_ref()
                    else {
                        log::error!(target: "bridge", "bridge {bridge}: mirror {} outputs to port not on bridge", m.name);
                        continue;
                    };
                    if v.is_some() {
                        log::error!(target: "bridge", "bridge {bridge}: mirror {} specifies both output port and output vlan; ignoring output vlan", m.name);
                    }
                    (Some(ofport), None)
                }
                (None, Some(v)) => (None, Some(v)),
                (None, None) => {
                    log::error!(target: "bridge", "bridge {bridge}: mirror {} does not specify output; ignoring", m.name);
                    continue;
                }
            };
            let (srcs, dsts) = if m.select_all {
                // In port order (the map's order is random).
                let mut all: Vec<u16> = ofports.values().copied().collect();
                all.sort_unstable();
                (all.clone(), all)
            } else {
                (
                    collect(&m.select_src_port, m),
                    collect(&m.select_dst_port, m),
                )
            };
            cfgs.push(MirrorCfg {
                uuid: m.uuid.clone(),
                name: m.name.clone(),
                srcs,
                dsts,
                vlans: (!m.select_vlan.is_empty()).then(|| m.select_vlan.clone()),
                out_port,
                out_vlan,
                snaplen: m.snaplen.unwrap_or(0),
            });
        }
        cfgs
    }
}

/// Operations writing each configured mirror's `statistics` (tx_packets,
/// tx_bytes), for the periodic statistics refresh.
pub fn status_ops(replica: &Replica) -> Vec<Value> {
    let stats = stats();
    let st = stats.lock().unwrap_or_else(|e| e.into_inner());
    let mut ops = Vec::new();
    for (uuid, &(packets, bytes)) in st.iter() {
        let Some(current) = replica.row("Mirror", uuid) else {
            continue;
        };
        let value = datum::map_of([
            ("tx_bytes", json!(bytes as i64)),
            ("tx_packets", json!(packets as i64)),
        ]);
        let mut row = Map::new();
        put(&mut row, Some(current), "statistics", value);
        if !row.is_empty() {
            ops.push(update("Mirror", uuid, row));
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, uuid: &str) -> MirrorRow {
        MirrorRow {
            uuid: uuid.into(),
            name: name.into(),
            ..MirrorRow::default()
        }
    }

    #[test]
    fn mirrors_resolve_to_openflow_ports_as_stock() {
        let cfg = MirrorsCfg {
            mirrors: vec![
                MirrorRow {
                    select_src_port: vec!["p1".into(), "gone".into()],
                    select_dst_port: vec!["p2".into()],
                    select_vlan: vec![5],
                    output_port: Some("p3".into()),
                    output_vlan: Some(9),
                    snaplen: Some(100),
                    ..row("m1", "a")
                },
                // No output: not configured.
                MirrorRow {
                    select_all: true,
                    ..row("m2", "b")
                },
                MirrorRow {
                    select_all: true,
                    output_vlan: Some(20),
                    ..row("m3", "c")
                },
                // Output to a port of another bridge.
                MirrorRow {
                    output_port: Some("elsewhere".into()),
                    ..row("m4", "d")
                },
            ],
            port_ifaces: [("p1", "p1"), ("p2", "p2"), ("p3", "p3")]
                .iter()
                .map(|(p, i)| (p.to_string(), vec![i.to_string()]))
                .collect(),
        };
        let ofports: HashMap<String, u16> = [("p1".into(), 1), ("p2".into(), 2), ("p3".into(), 3)]
            .into_iter()
            .collect();
        let out = cfg.resolve("br0", &ofports);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].srcs.clone(), out[0].dsts.clone()),
            (vec![1], vec![2])
        );
        assert_eq!((out[0].out_port, out[0].out_vlan), (Some(3), None));
        assert_eq!((out[0].vlans.clone(), out[0].snaplen), (Some(vec![5]), 100));
        assert_eq!(out[1].name, "m3");
        assert_eq!(out[1].srcs, vec![1, 2, 3]);
        assert_eq!((out[1].out_port, out[1].out_vlan), (None, Some(20)));
    }
}
