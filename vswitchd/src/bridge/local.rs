//! A bridge's own settings: its MAC and datapath ID, and the MTU and
//! Ethernet addresses (the Interface `mac` column) of its internal ports.

use std::collections::BTreeSet;

use ferrovs_netdev::dev::sys;

use super::{Bridge, Bridges, Iface};
use crate::config::BridgeCfg;
use crate::device::Device;
use crate::ofport::OFPP_LOCAL;

impl Bridge {
    /// Files an interface under `waiting` when it failed or is not on its
    /// requested port number (the bridge's own port has its fixed one),
    /// and takes it out otherwise (or when it is gone).
    pub(super) fn note_waiting(&mut self, name: &str) {
        let waiting = self.ifaces.get(name).is_some_and(|i| {
            i.ofport.is_none()
                || (i.ofport != Some(OFPP_LOCAL)
                    && i.ofport_request.is_some_and(|r| i.ofport != Some(r)))
        });
        if waiting {
            self.waiting.insert(name.to_string());
        } else {
            self.waiting.remove(name);
        }
    }

    /// Follows other_config:hwaddr and other_config:datapath-id; true
    /// when the bridge's Ethernet address changed (its own port's device
    /// must then take it).
    pub(super) fn update_hwaddr(&mut self, cfg: &BridgeCfg) -> bool {
        let mut changed = false;
        if let Some(m) = cfg
            .other_config
            .get("hwaddr")
            .filter(|m| parse_mac(m).is_some())
        {
            if *m != self.mac {
                self.mac = m.clone();
                changed = true;
            }
        }
        let dpid = cfg
            .other_config
            .get("datapath-id")
            .filter(|d| d.len() == 16 && u64::from_str_radix(d, 16).is_ok())
            .cloned()
            .unwrap_or_else(|| format!("0000{}", self.mac.replace(':', "")));
        if dpid != self.datapath_id {
            log::info!(target: "bridge", "bridge {}: using datapath ID {dpid}", self.name);
            self.datapath_id = dpid;
            self.status_dirty = true;
            if let Some(local) = self.ifaces.get_mut(&self.name) {
                local.status_dirty = true;
            }
        }
        changed
    }

    /// Internal ports without an `mtu_request` take the smallest MTU of
    /// the bridge's other ports (1500 when none has one), as in stock.
    /// The MTUs of the ports in `names` (all when `None`) are read again;
    /// the others count with what was read when they last changed, so a
    /// new port costs one device read, not one per port.
    pub(super) fn update_internal_mtu(&mut self, names: Option<&BTreeSet<String>>) {
        let is_internal =
            |i: &Iface| matches!(i.iface_type.as_str(), "internal" | "dummy-internal");
        let read = |i: &mut Iface| {
            i.counted_mtu = match &i.device {
                _ if is_internal(i) || i.iface_type == "patch" || i.ofport.is_none() => None,
                Some(Device::System { .. } | Device::Tap { .. }) => {
                    i.device.as_ref().and_then(|d| d.status().mtu)
                }
                _ => i.mtu,
            };
        };
        match names {
            None => self.ifaces.values_mut().for_each(read),
            Some(names) => {
                for n in names {
                    if let Some(i) = self.ifaces.get_mut(n) {
                        read(i);
                    }
                }
            }
        }
        let min = self
            .ifaces
            .values()
            .filter_map(|i| i.counted_mtu)
            .min()
            .unwrap_or(1500);
        for i in self
            .ifaces
            .values_mut()
            .filter(|i| is_internal(i) && i.mtu.is_some())
        {
            let want = i.mtu_request.unwrap_or(min);
            if i.mtu != Some(want) {
                i.mtu = Some(want);
                i.status_dirty = true;
            }
        }
    }
}

impl Bridges {
    /// The kernel device of `br`'s own port, when it has one whose
    /// Ethernet address the daemon sets: the kernel datapath's internal
    /// port, or the tap of a userspace datapath with real devices (not a
    /// dummy).
    fn local_device<'a>(&self, br: &'a Bridge) -> Option<&'a str> {
        let local = br.ifaces.get(&br.name)?;
        let real = self.is_kernel(&br.dp_type) || self.real_devices.contains(&br.dp_type);
        (real && !local.overridden && local.ofport == Some(OFPP_LOCAL))
            .then_some(local.name.as_str())
    }

    /// Gives the bridge's own port's device the bridge's Ethernet address
    /// when it has another, as stock's `bridge_configure_datapath_id`
    /// does at every reconfiguration: after other_config:hwaddr changed,
    /// and after someone changed the device's (`ip link set BRIDGE
    /// address ...`; stock's reconfiguration follows the link change at
    /// once, ours comes with the periodic refresh, `keep_local_macs`).
    /// Tunnel endpoints are the bridge's address (the topology publishes
    /// it), so a device left with another would answer ARP for the
    /// endpoint's IP address with an address whose tunnel packets are
    /// not decapsulated.
    pub(super) fn keep_local_mac(&self, bridge: &str) {
        let Some(br) = self.bridges.get(bridge) else {
            return;
        };
        let (Some(dev), Some(mac)) = (self.local_device(br), parse_mac(&br.mac)) else {
            return;
        };
        set_back_mac(dev, mac);
    }

    /// `keep_local_mac` for every bridge (the periodic refresh, which
    /// also follows the devices' IP addresses), and the same for internal
    /// ports with a `mac` column: a device whose address someone changed
    /// gets the configured one back (stock's next reconfiguration, which
    /// a link change starts, sets it again).
    pub fn keep_local_macs(&self) {
        for name in self.bridges.keys() {
            self.keep_local_mac(name);
        }
        for i in self.bridges.values().flat_map(|b| b.ifaces.values()) {
            let (Some(Ok(mac)), Some(Device::System { name } | Device::Tap { name })) =
                (iface_mac(i), &i.device)
            else {
                continue;
            };
            set_back_mac(name, mac);
        }
    }

    /// Follows the Interface `mac` column, as stock's `iface_set_mac`:
    /// an internal port's device takes the address (a dummy's too, which
    /// then reports it in `mac_in_use`); see `iface_mac` for what is
    /// refused. Stock does this at every reconfiguration (so it repeats
    /// its errors at each), ours when the interface is added or the
    /// column changes; clearing the column leaves the address as it is.
    pub(super) fn set_iface_mac(&mut self, bridge: &str, name: &str) {
        let Some(i) = self
            .bridges
            .get_mut(bridge)
            .and_then(|b| b.ifaces.get_mut(name))
        else {
            return;
        };
        match iface_mac(i) {
            None => {}
            Some(Err(why)) => log::error!(target: "bridge", "interface {name}: {why}"),
            Some(Ok(mac)) => {
                if let Some(dev) = i.device.as_mut() {
                    if let Err(e) = dev.set_mac(mac) {
                        let errno = e.raw_os_error().unwrap_or(libc::EIO);
                        log::error!(target: "bridge", "interface {name}: setting MAC failed ({})", ferrovs_dpif::netlink::strerror(errno));
                    }
                    i.status_dirty = true;
                }
            }
        }
    }
}

/// Gives device `dev` the Ethernet address `mac` again when it has
/// another (someone changed it behind the daemon's back).
fn set_back_mac(dev: &str, mac: [u8; 6]) {
    match sys::if_mac(dev) {
        Ok(m) if m == mac => {}
        Ok(_) => {
            log::debug!(target: "bridge", "{dev}: setting Ethernet address back to {}", crate::device::format_mac(mac));
            Bridges::set_kernel_mac(dev, mac);
        }
        Err(e) => log::debug!(target: "bridge", "{dev}: reading Ethernet address failed: {e}"),
    }
}

/// The address an interface's `mac` column asks its device to take:
/// `None` when there is nothing to do (not an internal port, not added,
/// or no valid address: stock ignores those silently), an error (stock's
/// text) when the address is refused: on the bridge's own port, whose
/// address is the Bridge's (other_config:hwaddr), and multicast or
/// all-zero addresses.
fn iface_mac(i: &Iface) -> Option<Result<[u8; 6], &'static str>> {
    if i.iface_type != "internal" || i.ofport.is_none() {
        return None;
    }
    let mac = parse_mac(i.mac_request.as_deref()?)?;
    Some(if i.ofport == Some(OFPP_LOCAL) {
        Err("ignoring mac in Interface record (use Bridge record to set local port's mac)")
    } else if mac[0] & 1 != 0 {
        Err("cannot set MAC to multicast address")
    } else if mac == [0; 6] {
        Err("cannot set MAC to all zero address")
    } else {
        Ok(mac)
    })
}

pub(super) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ofport::OfportAllocator;

    #[test]
    fn a_new_hwaddr_is_reported_so_the_device_takes_it() {
        let mut br = Bridge {
            uuid: String::new(),
            name: "br0".into(),
            dp_type: "netdev".into(),
            ifaces: BTreeMap::new(),
            mac: "02:00:00:00:00:01".into(),
            datapath_id: "0000020000000001".into(),
            status_dirty: false,
            ofports: OfportAllocator::default(),
            waiting: BTreeSet::new(),
            openflow: None,
        };
        let mut cfg = BridgeCfg {
            uuid: String::new(),
            name: "br0".into(),
            datapath_type: "netdev".into(),
            other_config: BTreeMap::new(),
            ifaces: BTreeMap::new(),
            openflow: Default::default(),
            bonds: BTreeMap::new(),
        };
        assert!(!br.update_hwaddr(&cfg), "no hwaddr: the address stays");
        cfg.other_config
            .insert("hwaddr".into(), "02:99:00:00:99:12".into());
        assert!(br.update_hwaddr(&cfg));
        assert_eq!(br.mac, "02:99:00:00:99:12");
        assert_eq!(br.datapath_id, "0000029900009912");
        assert!(!br.update_hwaddr(&cfg), "the same hwaddr again");
        cfg.other_config.insert("hwaddr".into(), "bogus".into());
        assert!(!br.update_hwaddr(&cfg), "a bad hwaddr is ignored");
        assert_eq!(br.mac, "02:99:00:00:99:12");
    }
}
