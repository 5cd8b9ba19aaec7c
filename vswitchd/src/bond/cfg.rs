//! A bond's settings, as its Port row gives them.

use ferrovs_ofproto::xlate::bond::BondMode;

use crate::ovsdb::{datum, Row};

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
}

impl BondCfg {
    /// The settings of Port row `prow` whose interfaces are `members`.
    pub fn from_row(port_uuid: &str, prow: &Row, mut members: Vec<String>) -> BondCfg {
        members.sort();
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
        }
    }

    /// Whether the Port asks for LACP.
    pub(super) fn lacp_configured(&self) -> bool {
        matches!(self.lacp.as_str(), "active" | "passive")
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
        if self.lacp_configured() {
            let what = if self.lacp_fallback_ab {
                "it runs as active-backup (lacp-fallback-ab)"
            } else {
                "it passes no traffic"
            };
            log::warn!(target: "bond", "port {port}: LACP is not implemented by ferrovs: the bond stays as stock's with a silent partner (lacp_status configured): {what}");
        } else if self.mode == BondMode::BalanceTcp {
            log::warn!(target: "bond", "port {port}: balance-tcp needs LACP, which ferrovs does not implement: the bond forwards nothing (as stock without LACP)");
        }
    }
}
