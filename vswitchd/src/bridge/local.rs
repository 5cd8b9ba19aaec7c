//! A bridge's own settings: its MAC and datapath ID, and the MTU and
//! Ethernet addresses (the Interface `mac` column) of its internal ports.

use std::collections::BTreeSet;

use ferrovs_netdev::dev::sys;

use super::{Bridge, Bridges, Iface};
use crate::config::BridgeCfg;
use crate::device::Device;
use crate::ofport::OFPP_LOCAL;

impl Bridge {
    /// Runs `f` on the interfaces `names` (on all of them: `None`).
    fn each_iface(&mut self, names: Option<&BTreeSet<String>>, mut f: impl FnMut(&mut Iface)) {
        match names {
            None => self.ifaces.values_mut().for_each(f),
            Some(names) => {
                for n in names {
                    if let Some(i) = self.ifaces.get_mut(n) {
                        f(i);
                    }
                }
            }
        }
    }

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

    /// The address stock gives a bridge that has no other: the first six
    /// bytes of its UUID as stock holds one in memory (the first 32-bit
    /// part's bytes, least significant first, then the low two bytes of
    /// the second), made unicast and locally administered. It stays the
    /// same across restarts, and so does the datapath ID made from it,
    /// which is how a controller knows the switch again.
    fn default_mac(&self) -> [u8; 6] {
        let hex: String = self.uuid.chars().filter(|c| *c != '-').collect();
        let part = |r: std::ops::Range<usize>| {
            hex.get(r)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .unwrap_or(0)
                .to_le_bytes()
        };
        let (a, b) = (part(0..8), part(8..16));
        [(a[0] & !1) | 2, a[1], a[2], a[3], b[0], b[1]]
    }

    /// Stock's `bridge_pick_local_hw_addr`: other_config:hwaddr when it
    /// is a unicast, non-zero address; otherwise the lowest universally
    /// administered unicast address among the bridge's ports (a port's
    /// `mac` column, or else the address of its interface whose name
    /// sorts first; not the bridge's own port, nor ports mirrors send
    /// to), so that a bridge given a host's NIC takes the NIC's address,
    /// as DHCP servers and switch port security expect; otherwise
    /// `default_mac`.
    fn pick_mac(&self, cfg: &BridgeCfg) -> [u8; 6] {
        if let Some(m) = cfg.other_config.get("hwaddr").and_then(|h| parse_mac(h)) {
            if m[0] & 1 == 0 && m != [0; 6] {
                return m;
            }
        }
        // Each port once: by its interface whose name sorts first (cfg's
        // interfaces are in name order; a port's others are skipped), of
        // those in place. This runs at every reconfiguration, for every
        // port: the running interfaces are walked beside the configured
        // ones (both in name order), nothing looked up or copied.
        let in_place = |name: &str| self.ifaces.get(name).filter(|i| i.ofport.is_some());
        let mut running = self.ifaces.iter().peekable();
        let mut best: Option<[u8; 6]> = None;
        for c in cfg.ifaces.values() {
            while running
                .next_if(|(n, _)| n.as_str() < c.name.as_str())
                .is_some()
            {}
            let live = running
                .peek()
                .filter(|(n, i)| **n == c.name && i.ofport.is_some())
                .map(|(_, i)| *i);
            let first_of_port = match cfg.bonds.get(&c.port) {
                None => true,
                Some(bond) => bond.members.iter().find(|m| in_place(m).is_some()) == Some(&c.name),
            };
            if !first_of_port
                || cfg
                    .openflow
                    .mirrors
                    .mirrors
                    .iter()
                    .any(|m| m.output_port.as_ref() == Some(&c.port))
            {
                continue;
            }
            let mac = match c.port_mac.as_deref().and_then(parse_mac) {
                Some(m) => Some(m),
                None => match live {
                    None => continue,
                    Some(i) if i.ofport == Some(OFPP_LOCAL) => continue,
                    Some(i) => i.hw_addr,
                },
            };
            // Unicast, universally administered (neither bit of the
            // first byte; the reserved addresses are multicast), not zero.
            if let Some(m) = mac.filter(|m| m[0] & 3 == 0 && *m != [0; 6]) {
                if best.is_none_or(|b| m < b) {
                    best = Some(m);
                }
            }
        }
        best.unwrap_or_else(|| self.default_mac())
    }

    /// Reads the Ethernet addresses of the interfaces `names` (all when
    /// `None`) again, for `pick_mac`: a new port, or the periodic
    /// refresh, costs one device read per interface it names.
    pub(super) fn read_port_macs(&mut self, names: Option<&BTreeSet<String>>) {
        let read = |i: &mut Iface| {
            i.hw_addr = match (&i.device, i.ofport) {
                (Some(d), Some(_)) => parse_mac(&d.mac()),
                _ => None,
            };
        };
        self.each_iface(names, read);
    }

    /// The datapath ID as a number (the `datapath_id` column's 16 hex
    /// digits).
    pub(super) fn dpid(&self) -> u64 {
        u64::from_str_radix(&self.datapath_id, 16).unwrap_or(0)
    }

    /// Picks the bridge's Ethernet address and datapath ID again; true
    /// when the address changed (its own port's device must then take it).
    pub(super) fn update_local_mac(&mut self, cfg: &BridgeCfg) -> bool {
        let hwaddr = cfg.other_config.get("hwaddr");
        if hwaddr != self.hwaddr_seen.as_ref() {
            // Stock repeats these at every reconfiguration; ours says
            // them when the setting changes.
            match hwaddr.and_then(|h| parse_mac(h)) {
                Some(m) if m[0] & 1 != 0 => log::error!(target: "bridge",
                    "bridge {}: cannot set MAC address to multicast address {}",
                    self.name, crate::device::format_mac(m)),
                Some([0, 0, 0, 0, 0, 0]) => log::error!(target: "bridge",
                    "bridge {}: cannot set MAC address to zero", self.name),
                _ => {}
            }
            self.hwaddr_seen = hwaddr.cloned();
        }
        let mac = crate::device::format_mac(self.pick_mac(cfg));
        let changed = mac != self.mac;
        if changed {
            self.mac = mac;
        }
        // Stock's `dpid_from_string`: exactly 16 hex digits, not zero.
        let configured = cfg
            .other_config
            .get("datapath-id")
            .filter(|d| d.len() == 16)
            .and_then(|d| u64::from_str_radix(d, 16).ok())
            .filter(|d| *d != 0);
        let dpid = match configured {
            Some(d) => format!("{d:016x}"),
            None => format!("0000{}", self.mac.replace(':', "")),
        };
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
        self.each_iface(names, read);
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
    /// once, ours comes with the periodic refresh, `refresh_local_macs`).
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

    /// The periodic refresh (which also follows the devices' IP
    /// addresses): each bridge picks its address again from its ports'
    /// devices as they are now (stock picks again when a link changes),
    /// and its own port's device, and the devices of internal ports with
    /// a `mac` column, get their configured address back if someone
    /// changed it (stock's next reconfiguration, which a link change
    /// starts, sets it again).
    pub fn refresh_local_macs(&mut self, cfg: &crate::config::Config) {
        let names: Vec<String> = self.bridges.keys().cloned().collect();
        for name in &names {
            let (Some(br), Some(bcfg)) = (self.bridges.get_mut(name), cfg.bridges.get(name)) else {
                continue;
            };
            br.read_port_macs(None);
            let old_dpid = br.datapath_id.clone();
            br.update_local_mac(bcfg);
            if br.datapath_id != old_dpid {
                let dpid = br.dpid();
                if let Some(of) = br.openflow.as_mut() {
                    of.set_datapath_id(dpid);
                }
            }
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

    fn iface(name: &str, ofport: u16, mac: &str) -> Iface {
        Iface {
            uuid: String::new(),
            name: name.into(),
            iface_type: "system".into(),
            options: BTreeMap::new(),
            ofport_request: None,
            ofport: Some(ofport),
            odp_port: None,
            dp_port_name: None,
            device: Some(Device::Virtual { mac: mac.into() }),
            error: None,
            status_dirty: false,
            mtu_request: None,
            mac_request: None,
            mtu: None,
            counted_mtu: None,
            overridden: false,
            admin_down: false,
            hw_addr: None,
        }
    }

    fn iface_cfg(name: &str, port: &str) -> crate::config::IfaceCfg {
        crate::config::IfaceCfg {
            uuid: String::new(),
            name: name.into(),
            iface_type: "system".into(),
            options: BTreeMap::new(),
            ofport_request: None,
            ofport_before: Default::default(),
            mtu_request: None,
            mac: None,
            port: port.into(),
            port_mac: None,
        }
    }

    #[test]
    fn the_address_is_picked_as_stock_picks_it() {
        let mut br = Bridge {
            // Stock gave this bridge 26:67:30:35:be:43.
            uuid: "35306724-cdd1-43be-a256-a55f80a390a7".into(),
            name: "br0".into(),
            dp_type: "netdev".into(),
            ifaces: BTreeMap::new(),
            mac: String::new(),
            datapath_id: String::new(),
            hwaddr_seen: None,
            status_dirty: false,
            ofports: OfportAllocator::default(),
            waiting: BTreeSet::new(),
            openflow: None,
        };
        let mut cfg = BridgeCfg {
            uuid: br.uuid.clone(),
            name: "br0".into(),
            datapath_type: "netdev".into(),
            other_config: BTreeMap::new(),
            ifaces: BTreeMap::new(),
            openflow: Default::default(),
            bonds: BTreeMap::new(),
        };
        assert!(br.update_local_mac(&cfg));
        assert_eq!(br.mac, "26:67:30:35:be:43");
        assert_eq!(br.datapath_id, "000026673035be43");
        assert!(!br.update_local_mac(&cfg), "the same again");

        // A port with a universally administered address wins; the
        // bridge's own port, locally administered and multicast
        // addresses do not count; the lowest wins.
        for (name, ofport, mac) in [
            ("br0", OFPP_LOCAL, "00:00:00:00:00:01"),
            ("a", 1, "02:00:00:00:00:01"),
            ("b", 2, "00:1b:21:00:00:09"),
            ("c", 3, "01:1b:21:00:00:01"),
            ("d", 4, "00:1b:21:00:00:05"),
        ] {
            br.ifaces.insert(name.into(), iface(name, ofport, mac));
            cfg.ifaces.insert(name.into(), iface_cfg(name, name));
        }
        br.read_port_macs(None);
        assert!(br.update_local_mac(&cfg));
        assert_eq!(br.mac, "00:1b:21:00:00:05");
        assert_eq!(br.datapath_id, "0000001b21000005");
        // A port that mirrors send to does not count.
        cfg.openflow.mirrors.mirrors.push(crate::mirror::MirrorRow {
            uuid: String::new(),
            name: "m".into(),
            select_all: true,
            select_src_port: Vec::new(),
            select_dst_port: Vec::new(),
            select_vlan: Vec::new(),
            output_port: Some("d".into()),
            output_vlan: None,
            snaplen: None,
        });
        assert!(br.update_local_mac(&cfg));
        assert_eq!(br.mac, "00:1b:21:00:00:09");
        // A bond is represented by the interface whose name sorts first;
        // a port's `mac` column stands for it.
        cfg.ifaces.get_mut("a").unwrap().port = "bond0".into();
        cfg.ifaces.get_mut("b").unwrap().port = "bond0".into();
        cfg.bonds.insert(
            "bond0".into(),
            crate::bond::BondCfg::for_test("bond0", &["a", "b"]),
        );
        assert!(br.update_local_mac(&cfg));
        assert_eq!(br.mac, "26:67:30:35:be:43", "a's address is local");
        for n in ["a", "b"] {
            cfg.ifaces.get_mut(n).unwrap().port_mac = Some("00:1b:21:00:00:02".into());
        }
        assert!(br.update_local_mac(&cfg));
        assert_eq!(br.mac, "00:1b:21:00:00:02");

        // other_config:hwaddr comes first, unless multicast or zero;
        // without it the pick is as before.
        cfg.other_config
            .insert("hwaddr".into(), "02:99:00:00:99:12".into());
        assert!(br.update_local_mac(&cfg));
        assert_eq!(br.mac, "02:99:00:00:99:12");
        assert_eq!(br.datapath_id, "0000029900009912");
        for refused in ["01:99:00:00:99:12", "00:00:00:00:00:00", "bogus"] {
            cfg.other_config.insert("hwaddr".into(), refused.into());
            br.update_local_mac(&cfg);
            assert_eq!(br.mac, "00:1b:21:00:00:02", "{refused}");
        }
        cfg.other_config.remove("hwaddr");
        assert!(!br.update_local_mac(&cfg));
        assert_eq!(br.mac, "00:1b:21:00:00:02");

        // other_config:datapath-id: 16 hex digits, not zero.
        cfg.other_config
            .insert("datapath-id".into(), "00000000000000AB".into());
        br.update_local_mac(&cfg);
        assert_eq!(br.datapath_id, "00000000000000ab");
        cfg.other_config
            .insert("datapath-id".into(), "0000000000000000".into());
        br.update_local_mac(&cfg);
        assert_eq!(br.datapath_id, "0000001b21000002");
    }
}
