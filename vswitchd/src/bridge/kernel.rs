//! What ports of the kernel datapath need beyond the generic path: tap
//! devices the daemon creates itself, the bridge address on the local
//! port's device, ports kept across a restart, and removing the ports of
//! an earlier run that nobody configures any more.
//!
//! The kernel's own devices (internal ports, tunnel devices) come from
//! the datapath; `system` ports are existing Linux interfaces; a `tap`
//! port is a tap device the daemon opens (and holds: it goes away when
//! the port does), added to the datapath as a plain netdev vport, as
//! stock does.

use std::collections::BTreeSet;

use ferrovs_dpif::{Dpif, DpifError, OdpPort, PortSpec};
use ferrovs_netdev::dev::sys;

use super::Bridges;
use crate::datapath::kernel::DP_NAME;

impl Bridges {
    /// Whether `dp_type`'s datapath is the kernel module's.
    pub(crate) fn is_kernel(&self, dp_type: &str) -> bool {
        self.real_devices.contains(dp_type) && !self.netdev.contains_key(dp_type)
    }

    /// Creates the tap device of a `tap` port of the kernel datapath.
    pub(super) fn open_kernel_tap(&mut self, name: &str) -> Result<(), String> {
        if self.kernel_taps.contains_key(name) {
            return Ok(());
        }
        // Stock's wording, with the C library's text for the errno.
        let tap = sys::TapFd::open(name).map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            format!(
                "could not open network device {name} ({})",
                ferrovs_dpif::netlink::strerror(errno)
            )
        })?;
        self.kernel_taps.insert(name.to_string(), tap);
        Ok(())
    }

    /// Closes the tap device of a removed port (which deletes it).
    pub(super) fn close_kernel_tap(&mut self, name: &str) {
        self.kernel_taps.remove(name);
    }

    /// Gives a device an Ethernet address (a bridge's own port, an
    /// internal port set back), logging a failure.
    pub(super) fn set_kernel_mac(name: &str, mac: [u8; 6]) {
        if let Err(e) = sys::if_set_mac(name, mac) {
            log::warn!(target: "netdev_linux", "{name}: setting Ethernet address failed: {e}");
        }
    }

    /// Deletes the kernel datapath once no bridge uses it, as stock does
    /// when its last bridge is deleted (a plain exit keeps it).
    pub(super) fn destroy_unused_kernel_datapaths(&mut self, used: &BTreeSet<String>) {
        let unused: Vec<String> = self
            .backers
            .keys()
            .filter(|t| !used.contains(*t) && self.is_kernel(t))
            .cloned()
            .collect();
        for t in unused {
            // The handlers go first: their sockets belong to the datapath.
            self.handlers.remove(&t);
            if let Some(shared) = self.backers.remove(&t) {
                let mut dpif = super::lock_dpif(&shared);
                if let Err(e) = dpif.destroy() {
                    log::warn!(target: "dpif", "{}: failed to destroy datapath: {e}", dpif.name());
                }
            }
        }
    }

    /// Remembers that `dp_type`'s datapath held ports before this run.
    pub(super) fn mark_for_port_cleanup(&mut self, dp_type: &str) {
        self.port_cleanup.insert(dp_type.to_string());
    }

    /// After the first reconfiguration on a datapath that existed: removes
    /// the ports no interface uses (those of bridges or interfaces deleted
    /// while the daemon was down), except the datapath's own local port.
    pub(super) fn remove_unused_dp_ports(&mut self) {
        for dp_type in std::mem::take(&mut self.port_cleanup) {
            let Some(shared) = self.backers.get(&dp_type) else {
                continue;
            };
            let used: BTreeSet<&str> = self
                .dp_port_users
                .keys()
                .filter(|(t, _)| *t == dp_type)
                .map(|(_, n)| n.as_str())
                .collect();
            let mut dpif = super::lock_dpif(shared);
            let ports = match dpif.port_dump() {
                Ok(p) => p,
                Err(e) => {
                    log::warn!(target: "ofproto_dpif", "{}: cannot list ports: {e}", dpif.name());
                    continue;
                }
            };
            for p in ports {
                if p.port_no == 0 || p.name == DP_NAME || used.contains(p.name.as_str()) {
                    continue;
                }
                log::info!(target: "ofproto_dpif", "{}: removing port {} left by an earlier run", dpif.name(), p.name);
                if let Err(e) = dpif.port_del(p.port_no) {
                    log::warn!(target: "dpif", "{}: failed to remove port {}: {e}", dpif.name(), p.name);
                }
            }
        }
    }
}

/// Adds a port to the kernel datapath; a port of that name that is
/// already there (kept from an earlier run) is taken over, as stock does.
pub(super) fn kernel_port_add(dpif: &mut dyn Dpif, spec: &PortSpec) -> Result<OdpPort, DpifError> {
    if let Ok(existing) = dpif.port_query_by_name(&spec.name) {
        return Ok(existing.port_no);
    }
    dpif.port_add(spec)
}
