//! The `dpif/show` and `dpif/dump-dps` texts, laid out as stock prints them,
//! and what each running datapath supports (`dpif/show-dp-features`, the
//! Datapath table's `capabilities`).

use super::port::is_tunnel;
use super::Bridges;

impl Bridges {
    /// What the datapath of `dp_type` supports as ferrovs runs it now,
    /// or `None` when no bridge of that type runs (stock reports only
    /// datapaths it has opened).
    pub(crate) fn support(&self, dp_type: &str) -> Option<ferrovs_dpif::support::Support> {
        let mut support = self.boot_support(dp_type)?;
        // `dpif/set-dp-features BRIDGE tnl_push_pop false` turns native
        // tunnelling off until turned on again (stock's run-time value).
        support.tnl_push_pop &= !crate::tunnel::native_tunnels_off(dp_type);
        Some(support)
    }

    /// What the datapath of `dp_type` offers, before run-time changes.
    pub(crate) fn boot_support(&self, dp_type: &str) -> Option<ferrovs_dpif::support::Support> {
        Some(super::lock_dpif(self.backers.get(dp_type)?).support())
    }

    /// The Datapath table's `capabilities` for `dp_type` (see
    /// [`Self::support`]).
    pub(crate) fn capabilities(&self, dp_type: &str) -> Option<Vec<(&'static str, String)>> {
        Some(self.support(dp_type)?.capabilities())
    }

    /// The `dpif/show` text.
    pub fn dpif_show(&mut self) -> String {
        let mut out = String::new();
        for (dp_type, shared) in &self.backers {
            let mut dpif = super::lock_dpif(shared);
            let stats = dpif.stats().unwrap_or_default();
            out.push_str(&format!(
                "{}@{}: hit:{} missed:{}\n",
                dpif.dp_type(),
                dpif.name(),
                stats.n_hit,
                stats.n_missed
            ));
            for br in self.bridges.values().filter(|b| &b.dp_type == dp_type) {
                out.push_str(&format!("  {}:\n", br.name));
                for i in br.ifaces.values() {
                    let Some(ofport) = i.ofport else { continue };
                    let odp = match i.odp_port {
                        Some(n) => n.to_string(),
                        None => "none".into(),
                    };
                    let real = self.real_devices.contains(dp_type) && !i.overridden;
                    // The kernel's internal ports are its own devices; the
                    // userspace datapath's are tap devices.
                    let kernel = real && !self.netdev.contains_key(dp_type);
                    let shown_type = match i.iface_type.as_str() {
                        "internal" if kernel => "internal".to_string(),
                        "internal" if real => "tap".to_string(),
                        "" if real => "system".to_string(),
                        "internal" | "dummy-internal" => "dummy-internal".to_string(),
                        t => t.to_string(),
                    };
                    let mut line = format!("    {} {}/{}: ({}", i.name, ofport, odp, shown_type);
                    let config: Vec<(&String, &String)> =
                        if i.iface_type == "patch" || (is_tunnel(&i.iface_type) && !i.overridden) {
                            i.options.iter().collect()
                        } else {
                            Vec::new()
                        };
                    for (k, (key, val)) in config.iter().enumerate() {
                        line.push_str(&format!("{} {key}={val}", if k == 0 { ':' } else { ',' }));
                    }
                    line.push_str(")\n");
                    out.push_str(&line);
                }
            }
        }
        out
    }

    /// The `dpif/dump-dps` text.
    pub fn dump_dps(&self) -> String {
        let mut dps: Vec<(&str, &str)> = self
            .bridges
            .values()
            .map(|b| (b.dp_type.as_str(), b.name.as_str()))
            .collect();
        dps.sort();
        dps.iter().map(|(t, n)| format!("{t}@{n}\n")).collect()
    }
}
