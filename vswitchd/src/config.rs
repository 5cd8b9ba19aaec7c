//! The desired configuration, read out of the database replica: the
//! bridges, their interfaces and the settings reconfiguration acts on.

use std::collections::{BTreeMap, HashSet};

use crate::ovsdb::datum;
use crate::ovsdb::Replica;

/// An Interface row as reconfiguration sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceCfg {
    pub uuid: String,
    pub name: String,
    /// The `type` column; "" (system) is spelled `system` here.
    pub iface_type: String,
    pub options: BTreeMap<String, String>,
    pub ofport_request: Option<u16>,
    pub mtu_request: Option<i64>,
}

/// A Bridge row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeCfg {
    pub uuid: String,
    pub name: String,
    /// `datapath_type`; "" is spelled `system` here.
    pub datapath_type: String,
    pub other_config: BTreeMap<String, String>,
    /// Interfaces of all its ports, by name.
    pub ifaces: BTreeMap<String, IfaceCfg>,
    /// What its OpenFlow switch needs.
    pub openflow: OpenflowCfg,
}

/// The OpenFlow settings of a Bridge row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenflowCfg {
    /// The `protocols` column (empty: every version).
    pub protocols: Vec<String>,
    /// `fail_mode`: "secure", "standalone" or "" (standalone).
    pub fail_mode: String,
    /// The rows of the `controller` column, sorted by target.
    pub controllers: Vec<ControllerCfg>,
    /// `flow_tables`: table number to Flow_Table name.
    pub table_names: BTreeMap<u8, String>,
    /// `flow_tables`: the whole rows (see `crate::flow_table`).
    pub flow_tables: BTreeMap<u8, crate::flow_table::FlowTableCfg>,
    /// What the NORMAL action needs: the MAC table settings and the
    /// ports' VLAN settings.
    pub l2: crate::bridge::L2Cfg,
    /// The Bridge's `mirrors` (see `crate::mirror`).
    pub mirrors: crate::mirror::MirrorsCfg,
}

/// A Controller row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerCfg {
    pub uuid: String,
    pub target: String,
    /// Milliseconds; `None` for the default.
    pub inactivity_probe: Option<i64>,
    pub max_backoff: Option<i64>,
}

impl OpenflowCfg {
    fn from_row(r: &Replica, brow: &crate::ovsdb::Row) -> OpenflowCfg {
        let mut protocols: Vec<String> = datum::set_elems(brow.get("protocols"))
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        protocols.sort();
        let mut controllers: Vec<ControllerCfg> = datum::uuid_set(brow.get("controller"))
            .into_iter()
            .filter_map(|u| {
                let row = r.row("Controller", &u)?;
                Some(ControllerCfg {
                    target: datum::string(row.get("target")),
                    inactivity_probe: datum::opt_int(row.get("inactivity_probe")),
                    max_backoff: datum::opt_int(row.get("max_backoff")),
                    uuid: u,
                })
            })
            .collect();
        controllers.sort_by(|a, b| a.target.cmp(&b.target));
        let table_names = datum::map_pairs(brow.get("flow_tables"))
            .into_iter()
            .filter_map(|(k, v)| {
                let table = u8::try_from(k.as_i64()?).ok()?;
                let row = r.row("Flow_Table", datum::uuid_of(v)?)?;
                Some((table, datum::string(row.get("name"))))
            })
            .collect();
        OpenflowCfg {
            protocols,
            fail_mode: datum::string(brow.get("fail_mode")),
            controllers,
            table_names,
            flow_tables: crate::flow_table::read(r, brow),
            l2: crate::bridge::L2Cfg::from_row(r, brow),
            mirrors: crate::mirror::MirrorsCfg::from_row(r, brow),
        }
    }
}

/// The whole desired configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The Open_vSwitch row, if there is exactly one.
    pub ovs_uuid: Option<String>,
    pub next_cfg: i64,
    pub bridges: BTreeMap<String, BridgeCfg>,
    /// Open_vSwitch other_config:n-handler-threads (used when a datapath
    /// is created).
    pub n_handler_threads: Option<usize>,
    /// other_config:n-revalidator-threads (used when a datapath is
    /// created) and other_config:max-idle (milliseconds).
    pub n_revalidator_threads: Option<usize>,
    pub max_idle_ms: Option<u64>,
    /// other_config:max-revalidator (milliseconds between passes).
    pub max_revalidator_ms: Option<u64>,
    /// Open_vSwitch other_config:flow-limit.
    pub flow_limit: Option<u32>,
}

impl Config {
    pub fn from_replica(r: &Replica) -> Config {
        let mut cfg = Config::default();
        let mut ovs_rows = r.table("Open_vSwitch");
        let Some((ovs_uuid, ovs)) = ovs_rows.next() else {
            return cfg;
        };
        if ovs_rows.next().is_some() {
            log::warn!(target: "bridge", "database has more than one Open_vSwitch row; using none");
            return cfg;
        }
        cfg.ovs_uuid = Some(ovs_uuid.clone());
        cfg.next_cfg = datum::opt_int(ovs.get("next_cfg")).unwrap_or(0);
        cfg.n_handler_threads = datum::str_map(ovs.get("other_config"))
            .get("n-handler-threads")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map(|n| n.min(64));
        let other = datum::str_map(ovs.get("other_config"));
        cfg.n_revalidator_threads = other
            .get("n-revalidator-threads")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map(|n| n.min(64));
        // As stock: at least 100 ms.
        cfg.max_idle_ms = other
            .get("max-idle")
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n.max(100));
        cfg.max_revalidator_ms = other
            .get("max-revalidator")
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n.clamp(10, 3_600_000));
        cfg.flow_limit = other.get("flow-limit").and_then(|n| n.parse::<u32>().ok());
        let mut seen_ifaces = HashSet::new();
        let mut bridges: Vec<_> = datum::uuid_set(ovs.get("bridges"))
            .into_iter()
            .filter_map(|u| r.row("Bridge", &u).map(|row| (u, row)))
            .collect();
        bridges.sort_by_key(|(_, row)| datum::string(row.get("name")));
        for (buuid, brow) in bridges {
            let name = datum::string(brow.get("name"));
            if name.is_empty() || cfg.bridges.contains_key(&name) {
                log::warn!(target: "bridge", "bridge {name}: duplicate or empty name, skipping");
                continue;
            }
            let dp_type = match datum::string(brow.get("datapath_type")) {
                t if t.is_empty() => "system".to_string(),
                t => t,
            };
            let mut ifaces = BTreeMap::new();
            for puuid in datum::uuid_set(brow.get("ports")) {
                let Some(prow) = r.row("Port", &puuid) else {
                    continue;
                };
                for iuuid in datum::uuid_set(prow.get("interfaces")) {
                    let Some(irow) = r.row("Interface", &iuuid) else {
                        continue;
                    };
                    let iname = datum::string(irow.get("name"));
                    if iname.is_empty() || !seen_ifaces.insert(iname.clone()) {
                        log::warn!(target: "bridge", "bridge {name}: interface {iname} is already in use, skipping");
                        continue;
                    }
                    let iface_type = match datum::string(irow.get("type")) {
                        t if t.is_empty() => "system".to_string(),
                        t => t,
                    };
                    let ofport_request = datum::opt_int(irow.get("ofport_request"))
                        .and_then(|n| u16::try_from(n).ok())
                        .filter(|n| (1..0xff00).contains(n));
                    ifaces.insert(
                        iname.clone(),
                        IfaceCfg {
                            uuid: iuuid,
                            name: iname,
                            iface_type,
                            options: datum::str_map(irow.get("options")),
                            ofport_request,
                            mtu_request: datum::opt_int(irow.get("mtu_request")),
                        },
                    );
                }
            }
            cfg.bridges.insert(
                name.clone(),
                BridgeCfg {
                    uuid: buuid,
                    name,
                    datapath_type: dp_type,
                    other_config: datum::str_map(brow.get("other_config")),
                    ifaces,
                    openflow: OpenflowCfg::from_row(r, brow),
                },
            );
        }
        cfg
    }
}
