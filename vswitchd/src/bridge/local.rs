//! A bridge's own settings: its MAC and datapath ID, and the MTU of its
//! internal ports.

use std::collections::BTreeSet;

use super::{Bridge, Iface};
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

    /// Follows other_config:hwaddr and other_config:datapath-id.
    pub(super) fn update_hwaddr(&mut self, cfg: &BridgeCfg) {
        if let Some(m) = cfg
            .other_config
            .get("hwaddr")
            .filter(|m| parse_mac(m).is_some())
        {
            if *m != self.mac {
                self.mac = m.clone();
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

pub(super) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}
