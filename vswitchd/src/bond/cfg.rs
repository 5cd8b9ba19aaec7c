//! A bond's settings, as its Port row gives them.

use ferrovs_ofproto::xlate::bond::BondMode;

use crate::ovsdb::{datum, Replica, Row};

/// A member Interface's LACP settings as written (other_config
/// lacp-port-id, lacp-port-priority, lacp-aggregation-key; out of range
/// means the default, resolved with the member's OpenFlow port).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberLacpCfg {
    pub iface_uuid: String,
    pub port_id: i64,
    pub port_priority: i64,
    pub key: i64,
}

/// A bond's settings, from its Port row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondCfg {
    pub port_uuid: String,
    pub name: String,
    pub mode: BondMode,
    /// `bond_mode` as written ("" when not set).
    pub mode_text: String,
    /// Member interface names, sorted.
    pub members: Vec<String>,
    /// Milliseconds.
    pub updelay: u64,
    pub downdelay: u64,
    pub primary: Option<String>,
    pub basis: u32,
    /// other_config:bond-rebalance-interval (ms; accepted, no rebalancing).
    pub rebalance_interval: u64,
    /// The `lacp` column ("", "off", "active", "passive").
    pub lacp: String,
    pub all_members_active: bool,
    pub lacp_fallback_ab: bool,
    /// other_config:lacp-system-id: None for the bridge's MAC; Some(None)
    /// when it does not parse (LACP then stays off, as stock).
    pub lacp_system_id: Option<Option<[u8; 6]>>,
    /// other_config:lacp-system-priority, as written (0: default).
    pub lacp_system_priority: i64,
    /// other_config:lacp-time=fast.
    pub lacp_fast: bool,
    /// Each member's LACP settings, by member name.
    pub member_lacp: std::collections::BTreeMap<String, MemberLacpCfg>,
}

impl BondCfg {
    /// A bond of `members` with the defaults (active-backup), for tests.
    #[cfg(test)]
    pub fn for_test(name: &str, members: &[&str]) -> BondCfg {
        BondCfg {
            port_uuid: "u".into(),
            name: name.into(),
            mode: BondMode::default(),
            mode_text: String::new(),
            members: members.iter().map(|m| m.to_string()).collect(),
            updelay: 0,
            downdelay: 0,
            primary: None,
            basis: 0,
            rebalance_interval: 10_000,
            lacp: String::new(),
            all_members_active: false,
            lacp_fallback_ab: false,
            lacp_system_id: None,
            lacp_system_priority: 0,
            lacp_fast: false,
            member_lacp: std::collections::BTreeMap::new(),
        }
    }

    /// The settings of Port row `prow` whose interfaces are `members`.
    /// `ifaces` are the member (Interface uuid, name) pairs, whose rows
    /// `r` holds.
    pub fn from_row(
        port_uuid: &str,
        prow: &Row,
        ifaces: &[(String, String)],
        r: &Replica,
    ) -> BondCfg {
        let mut members: Vec<String> = ifaces.iter().map(|(_, n)| n.clone()).collect();
        members.sort();
        let member_lacp = ifaces
            .iter()
            .map(|(uuid, name)| {
                let ioc =
                    datum::str_map(r.row("Interface", uuid).and_then(|i| i.get("other_config")));
                let get = |k: &str| {
                    ioc.get(k)
                        .and_then(|v| v.trim().parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let m = MemberLacpCfg {
                    iface_uuid: uuid.clone(),
                    port_id: get("lacp-port-id"),
                    port_priority: get("lacp-port-priority"),
                    key: get("lacp-aggregation-key"),
                };
                (name.clone(), m)
            })
            .collect();
        let oc = datum::str_map(prow.get("other_config"));
        let int = |k: &str| oc.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        let flag = |k: &str| oc.get(k).is_some_and(|v| v == "true");
        let mode_text = datum::string(prow.get("bond_mode"));
        let mode = BondMode::parse(&mode_text).unwrap_or_default();
        let lacp_fallback_ab = flag("lacp-fallback-ab");
        let rebalance = int("bond-rebalance-interval").unwrap_or(10_000).max(0) as u64;
        let delay = |c: &str| datum::opt_int(prow.get(c)).unwrap_or(0).max(0) as u64;
        BondCfg {
            port_uuid: port_uuid.to_string(),
            name: datum::string(prow.get("name")),
            mode,
            mode_text,
            members,
            updelay: delay("bond_updelay"),
            downdelay: delay("bond_downdelay"),
            // As stock: a primary only where active-backup may run.
            primary: (mode == BondMode::ActiveBackup || lacp_fallback_ab)
                .then(|| oc.get("bond-primary").cloned())
                .flatten(),
            basis: int("bond-hash-basis").unwrap_or(0) as u32,
            rebalance_interval: if (1..1000).contains(&rebalance) {
                1000
            } else {
                rebalance
            },
            lacp: datum::string(prow.get("lacp")),
            all_members_active: flag("all-members-active"),
            lacp_fallback_ab,
            lacp_system_id: oc
                .get("lacp-system-id")
                .map(|v| super::commands::scan_mac(v).filter(|m| *m != [0; 6])),
            lacp_system_priority: int("lacp-system-priority").unwrap_or(0),
            lacp_fast: oc
                .get("lacp-time")
                .is_some_and(|v| v.eq_ignore_ascii_case("fast")),
            member_lacp,
        }
    }

    /// Whether the Port asks for LACP (with usable settings).
    pub(super) fn lacp_configured(&self) -> bool {
        matches!(self.lacp.as_str(), "active" | "passive")
            && !matches!(self.lacp_system_id, Some(None))
    }

    /// The LACP settings, given the bridge's MAC (the default system
    /// id); None with LACP off.
    pub(super) fn lacp_cfg(&self, bridge_mac: [u8; 6]) -> Option<super::lacp::LacpCfg> {
        if !self.lacp_configured() {
            return None;
        }
        let sys_id = self.lacp_system_id.flatten().unwrap_or(bridge_mac);
        if sys_id == [0; 6] {
            return None;
        }
        let p = self.lacp_system_priority;
        Some(super::lacp::LacpCfg {
            active: self.lacp == "active",
            sys_id,
            // Stock prefers bondable links: one below the maximum for a
            // port with several interfaces.
            sys_priority: if (1..=0xffff).contains(&p) {
                p as u16
            } else {
                0xfffe
            },
            fast: self.lacp_fast,
            fallback_ab: self.lacp_fallback_ab,
        })
    }

    /// Member `name`'s LACP settings, its OpenFlow port giving the
    /// default port id.
    pub(super) fn member_lacp_cfg(
        &self,
        name: &str,
        ofport: Option<u16>,
    ) -> super::lacp::MemberCfg {
        let m = self.member_lacp.get(name).cloned().unwrap_or_default();
        let in_u16 = |v: i64| (1..=0xffff).contains(&v).then_some(v as u16);
        super::lacp::MemberCfg {
            port_id: in_u16(m.port_id).unwrap_or(ofport.unwrap_or(0)),
            port_priority: in_u16(m.port_priority).unwrap_or(0xffff),
            key: in_u16(m.key).unwrap_or(0),
        }
    }

    /// Logs what stock logs about these settings, and what ferrovs
    /// cannot do with them.
    pub(super) fn warn(&self) {
        let port = &self.name;
        if self.mode_text.is_empty() {
            log::warn!(target: "bridge", "port {port}: Using the default bond_mode active-backup. Note that in previous versions, the default bond_mode was balance-slb");
        } else if BondMode::parse(&self.mode_text).is_none() {
            log::warn!(target: "bridge", "port {port}: unknown bond_mode {}, defaulting to active-backup", self.mode_text);
        }
        if !matches!(self.lacp.as_str(), "" | "off" | "active" | "passive") {
            log::warn!(target: "bridge", "port {port}: unknown LACP mode {}", self.lacp);
        }
        if matches!(self.lacp_system_id, Some(None)) {
            log::warn!(target: "bridge", "port {port}: LACP system ID must be an Ethernet address and not zero.");
        }
        if self.mode == BondMode::BalanceTcp {
            log::warn!(target: "bond", "port {port}: balance-tcp is not implemented by ferrovs: the bond forwards nothing");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(lacp: &str) -> BondCfg {
        BondCfg {
            port_uuid: "u".into(),
            name: "bond0".into(),
            mode: BondMode::BalanceSlb,
            mode_text: "balance-slb".into(),
            members: vec!["p1".into(), "p2".into()],
            updelay: 0,
            downdelay: 0,
            primary: None,
            basis: 0,
            rebalance_interval: 10_000,
            lacp: lacp.into(),
            all_members_active: false,
            lacp_fallback_ab: false,
            lacp_system_id: None,
            lacp_system_priority: 0,
            lacp_fast: false,
            member_lacp: std::collections::BTreeMap::new(),
        }
    }

    #[test]
    fn lacp_settings_take_stocks_defaults_and_ranges() {
        let mac = [2, 0, 0, 0, 0, 1];
        assert!(cfg("off").lacp_cfg(mac).is_none());
        assert!(cfg("").lacp_cfg(mac).is_none());
        assert!(cfg("bogus").lacp_cfg(mac).is_none());
        let c = cfg("passive").lacp_cfg(mac).unwrap();
        assert_eq!(
            (c.active, c.sys_id, c.sys_priority, c.fast),
            (false, mac, 65534, false)
        );
        let mut b = cfg("active");
        b.lacp_system_id = Some(Some([2, 0, 0, 0, 0, 9]));
        b.lacp_system_priority = 70_000;
        let c = b.lacp_cfg(mac).unwrap();
        assert_eq!(
            (c.active, c.sys_id, c.sys_priority),
            (true, [2, 0, 0, 0, 0, 9], 65534)
        );
        b.lacp_system_priority = 100;
        assert_eq!(b.lacp_cfg(mac).unwrap().sys_priority, 100);
        // An unparsable or zero system id turns LACP off, as stock.
        b.lacp_system_id = Some(None);
        assert!(b.lacp_cfg(mac).is_none() && !b.lacp_configured());
        assert!(cfg("active").lacp_cfg([0; 6]).is_none());
        // Members: port id defaults to the OpenFlow port, priority to
        // 65535, key to 0 (the key member's port id); out of range is
        // the default.
        let mut b = cfg("active");
        let m = b.member_lacp_cfg("p1", Some(4));
        assert_eq!((m.port_id, m.port_priority, m.key), (4, 65535, 0));
        b.member_lacp.insert(
            "p1".into(),
            MemberLacpCfg {
                iface_uuid: "i".into(),
                port_id: 70_000,
                port_priority: 7,
                key: 9,
            },
        );
        let m = b.member_lacp_cfg("p1", Some(4));
        assert_eq!((m.port_id, m.port_priority, m.key), (4, 7, 9));
    }
}
