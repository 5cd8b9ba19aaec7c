//! Interfaces: opening their devices, their datapath ports (shared by
//! tunnels of one kind), removing them, and judging patch peers.

use std::collections::BTreeMap;

use ferrovs_dpif::{OdpPort, PortSpec};

use super::local::parse_mac;
use super::tunnel_match::TunnelMatch;
use super::{Bridges, Iface};
use crate::cmdline::DummyMode;
use crate::config::IfaceCfg;
use crate::datapath;
use crate::device::Device;
use crate::ofport::OFPP_LOCAL;

/// The datapath port a tunnel interface uses: one per tunnel type and UDP
/// port, shared by every interface of that kind (stock's names).
pub(super) fn tunnel_dp_port(
    iface_type: &str,
    options: &BTreeMap<String, String>,
) -> Option<String> {
    let (prefix, default_port) = match iface_type {
        "vxlan" => ("vxlan_sys", Some(4789)),
        "geneve" => ("genev_sys", Some(6081)),
        "gre" => ("gre_sys", None),
        _ => return None,
    };
    Some(match default_port {
        Some(d) => {
            let port = options
                .get("dst_port")
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(d);
            format!("{prefix}_{port}")
        }
        None => prefix.to_string(),
    })
}

/// A dummy device's capture options, as stock's netdev-dummy takes them:
/// `pcap` (both directions, one file) or `rxq_pcap` / `tx_pcap`. Does
/// nothing for ports that are not dummy devices. The device is found by
/// its datapath port number (by name would scan every port).
pub(super) fn apply_dummy_options(
    ctl: &ferrovs_dpif::netdev::NetdevControl,
    port_no: OdpPort,
    dev_name: &str,
    options: &BTreeMap<String, String>,
) {
    let Some(dev) = ctl.dummy_device(port_no) else {
        return;
    };
    let (rx, tx) = match options.get("pcap") {
        Some(p) => (Some(p.as_str()), Some(p.as_str())),
        None => (
            options.get("rxq_pcap").map(String::as_str),
            options.get("tx_pcap").map(String::as_str),
        ),
    };
    if let Err(e) = dev.set_pcap(rx, tx) {
        log::warn!(target: "netdev_dummy", "{dev_name}: failed to open pcap file for writing ({e})");
    }
}

pub(super) fn is_tunnel(t: &str) -> bool {
    matches!(t, "vxlan" | "geneve" | "gre")
}

/// Checks tunnel options the way the device would.
pub(super) fn check_tunnel_options(
    name: &str,
    t: &str,
    options: &BTreeMap<String, String>,
) -> Result<(), String> {
    match options.get("remote_ip").map(String::as_str) {
        Some("flow") => {}
        Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => {}
        _ => {
            return Err(format!(
                "{name}: {t} type requires valid 'remote_ip' argument"
            ))
        }
    }
    if let Some(p) = options.get("dst_port") {
        if p.parse::<u16>().is_err() {
            return Err(format!("{name}: {t} type has bad 'dst_port' argument"));
        }
    }
    Ok(())
}

impl Bridges {
    pub(super) fn add_iface(&mut self, bridge: &str, c: &IfaceCfg) {
        let Some(br) = self.bridges.get(bridge) else {
            return;
        };
        let dp_type = br.dp_type.clone();
        let is_local = c.name == bridge;
        let mut iface = Iface {
            uuid: c.uuid.clone(),
            name: c.name.clone(),
            iface_type: c.iface_type.clone(),
            options: c.options.clone(),
            ofport_request: c.ofport_request,
            ofport: None,
            odp_port: None,
            dp_port_name: None,
            device: None,
            error: None,
            status_dirty: true,
            mtu_request: c.mtu_request,
            mac_request: c.mac.clone(),
            mtu: None,
            counted_mtu: None,
            overridden: false,
            admin_down: false,
            hw_addr: None,
        };
        let opened = self.open_iface(&dp_type, &mut iface);
        // A tunnel that another tunnel port's receive-side match already
        // covers is refused (after taking a port number, as stock).
        let clash = match (&opened, iface.odp_port) {
            (Ok(()), Some(odp)) if is_tunnel(&iface.iface_type) && !iface.overridden => {
                let m = TunnelMatch::new(&iface.options, &dp_type, odp);
                self.tunnel_with_match(&iface.name, &m)
                    .map(|other| (other, m))
            }
            _ => None,
        };
        let kernel = self.is_kernel(&dp_type);
        let Some(br) = self.bridges.get_mut(bridge) else {
            return;
        };
        match opened {
            Err(e) => {
                log::warn!(target: "bridge", "{e}");
                iface.error = Some(e);
            }
            Ok(()) => {
                if is_local && kernel {
                    // The bridge's own port carries the bridge's address.
                    if let Some(mac) = parse_mac(&br.mac) {
                        Bridges::set_kernel_mac(&c.name, mac);
                    }
                } else if is_local && self.real_devices.contains(&dp_type) {
                    // The bridge's own port carries the bridge's address.
                    let dev = self
                        .netdev
                        .get(&dp_type)
                        .and_then(|n| n.device_by_name(&c.name));
                    if let (Some(dev), Some(mac)) = (dev, parse_mac(&br.mac)) {
                        if let Err(e) = dev.set_mac(mac) {
                            log::warn!(target: "netdev", "{}: setting Ethernet address failed: {e}", c.name);
                        }
                    }
                }
                let ofport = if is_local {
                    Some(OFPP_LOCAL)
                } else {
                    br.ofports.alloc(c.ofport_request.or(c.ofport_before.0))
                };
                match ofport {
                    Some(n) if clash.is_some() => {
                        br.ofports.free(n);
                        if let Some((other, m)) = &clash {
                            log::warn!(target: "tunnel", "{}: attempting to add tunnel port with same config as port '{other}' ({})", c.name, m.text());
                        }
                        log::warn!(target: "ofproto", "{bridge}: could not add port {} (File exists)", c.name);
                        let e = format!(
                            "could not add network device {} to ofproto (File exists)",
                            c.name
                        );
                        log::warn!(target: "bridge", "{e}");
                        iface.error = Some(e);
                    }
                    Some(n) => {
                        iface.ofport = Some(n);
                        log::info!(target: "bridge", "bridge {bridge}: added interface {} on port {n}", c.name);
                        if let Some(of) = br.openflow.as_mut() {
                            of.port_added(&c.name, n, iface.odp_port);
                        }
                    }
                    None => {
                        let e = format!(
                            "bridge {bridge}: no free OpenFlow port number for {}",
                            c.name
                        );
                        log::warn!(target: "bridge", "{e}");
                        iface.error = Some(e);
                    }
                }
            }
        }
        if iface.ofport.is_none() {
            // Give back what was taken.
            let (odp, dpname) = (iface.odp_port.take(), iface.dp_port_name.take());
            self.release_dp_port(&dp_type, odp, dpname);
            iface.device = None;
            if iface.iface_type == "tap" {
                self.close_kernel_tap(&iface.name);
            }
        }
        if let Some(br) = self.bridges.get_mut(bridge) {
            br.ifaces.insert(c.name.clone(), iface);
            br.note_waiting(&c.name);
        }
        self.set_iface_mac(bridge, &c.name);
    }

    /// The name of a working tunnel interface, on any bridge, whose
    /// receive-side match is `m` (other than `name`, which may be the
    /// interface being replaced).
    fn tunnel_with_match(&self, name: &str, m: &TunnelMatch) -> Option<String> {
        self.bridges.values().find_map(|br| {
            br.ifaces.values().find_map(|i| {
                let odp = i.odp_port?;
                (i.ofport.is_some()
                    && i.name != name
                    && is_tunnel(&i.iface_type)
                    && !i.overridden
                    && TunnelMatch::new(&i.options, &br.dp_type, odp) == *m)
                    .then(|| i.name.clone())
            })
        })
    }

    /// Creates the device and the datapath port of an interface.
    fn open_iface(&mut self, dp_type: &str, iface: &mut Iface) -> Result<(), String> {
        let name = iface.name.clone();
        let t = iface.iface_type.clone();
        // Like netdev-dummy's override levels: the device becomes a plain
        // dummy device (patch ports stay patch ports).
        iface.overridden = match self.dummy {
            Some(DummyMode::Override) => {
                t != "patch" && datapath::IFACE_TYPES.contains(&t.as_str())
            }
            Some(DummyMode::System) => t == "system",
            _ => false,
        };
        // Internal and tap ports of a datapath with real devices are tap
        // devices the datapath creates: their facts come once they exist.
        let real = self.real_devices.contains(dp_type) && !iface.overridden;
        let kernel = self.is_kernel(dp_type) && !iface.overridden;
        let open_after = real && matches!(t.as_str(), "internal" | "tap");
        // A tap port of the kernel datapath: the daemon makes the device.
        if kernel && t == "tap" {
            self.open_kernel_tap(&name)?;
        }
        let (device, dp_name) = match t.as_str() {
            _ if iface.overridden => (Device::new_dummy(), Some(name.clone())),
            _ if open_after => (Device::new_virtual(), Some(name.clone())),
            "dummy" | "internal" | "dummy-internal" => (Device::new_dummy(), Some(name.clone())),
            "system" | "tap" => (Device::open_system(&name)?, Some(name.clone())),
            "patch" => {
                // A patch port without a usable peer option fails to open;
                // one whose peer merely does not exist yet opens (and
                // reports that in its status).
                match iface.options.get("peer") {
                    None => {
                        return Err(format!("{name}: patch type requires valid 'peer' argument"))
                    }
                    Some(p) if *p == name => {
                        return Err(format!("{name}: patch peer must not be self"))
                    }
                    Some(_) => {}
                }
                (Device::new_virtual(), None)
            }
            t if is_tunnel(t) => {
                check_tunnel_options(&name, t, &iface.options)?;
                (Device::new_virtual(), tunnel_dp_port(t, &iface.options))
            }
            other => {
                log::warn!(target: "netdev", "could not create netdev {name} of unknown type {other}");
                return Err(format!(
                    "could not open network device {name} (Address family not supported by protocol)"
                ));
            }
        };
        if let Some(dp_name) = dp_name {
            let key = (dp_type.to_string(), dp_name.clone());
            let shared = self
                .backers
                .get(dp_type)
                .ok_or_else(|| format!("{name}: no datapath of type {dp_type}"))?;
            let mut dpif = super::lock_dpif(shared);
            let port_no = if self.dp_port_users.get(&key).copied().unwrap_or(0) > 0 {
                dpif.port_query_by_name(&dp_name)
                    .map_err(|e| format!("{name}: {e}"))?
                    .port_no
            } else {
                let spec = PortSpec {
                    name: dp_name.clone(),
                    port_type: if iface.overridden && t != "internal" {
                        "dummy".into()
                    } else if t == "dummy-internal" {
                        "internal".into()
                    } else {
                        t.clone()
                    },
                    port_no: None,
                    options: iface
                        .options
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                let added = if kernel {
                    super::kernel::kernel_port_add(&mut **dpif, &spec)
                } else {
                    dpif.port_add(&spec)
                };
                match added {
                    Ok(n) => n,
                    Err(e) => {
                        let e = format!("error adding {name} as port {}: {e}", dpif.name());
                        drop(dpif);
                        if kernel && t == "tap" {
                            self.close_kernel_tap(&name);
                        }
                        return Err(e);
                    }
                }
            };
            *self.dp_port_users.entry(key).or_insert(0) += 1;
            drop(dpif);
            if let Some(ctl) = self.netdev.get(dp_type) {
                apply_dummy_options(ctl, port_no, &dp_name, &iface.options);
            }
            iface.odp_port = Some(port_no);
            iface.dp_port_name = Some(dp_name);
        }
        let device = if open_after {
            match Device::open_system(&name)? {
                Device::System { name } => Device::Tap { name },
                other => other,
            }
        } else {
            device
        };
        let device = match device {
            // Its counters are those of the datapath's device.
            Device::Dummy {
                mac,
                counters: None,
            } => {
                let dev = iface
                    .odp_port
                    .and_then(|p| self.netdev.get(dp_type)?.port_device(p));
                Device::Dummy {
                    mac,
                    counters: dev.map(crate::device::Counters),
                }
            }
            other => other,
        };
        if matches!(device, Device::Dummy { .. }) {
            iface.mtu = Some(iface.mtu_request.unwrap_or(1500));
        }
        iface.device = Some(device);
        Ok(())
    }

    fn release_dp_port(&mut self, dp_type: &str, odp: Option<OdpPort>, dp_name: Option<String>) {
        let (Some(odp), Some(dp_name)) = (odp, dp_name) else {
            return;
        };
        let key = (dp_type.to_string(), dp_name);
        let users = self.dp_port_users.entry(key.clone()).or_insert(1);
        *users = users.saturating_sub(1);
        if *users == 0 {
            self.dp_port_users.remove(&key);
            if let Some(shared) = self.backers.get(dp_type) {
                let mut dpif = super::lock_dpif(shared);
                if let Err(e) = dpif.port_del(odp) {
                    log::warn!(target: "dpif", "{}: failed to remove port {}: {e}", dpif.name(), key.1);
                }
            }
        }
    }

    pub(super) fn remove_iface(&mut self, bridge: &str, name: &str) {
        let Some(br) = self.bridges.get_mut(bridge) else {
            return;
        };
        let Some(mut iface) = br.ifaces.remove(name) else {
            return;
        };
        br.note_waiting(name);
        let dp_type = br.dp_type.clone();
        if let Some(n) = iface.ofport {
            if n != OFPP_LOCAL {
                br.ofports.free(n);
            }
            if let Some(of) = br.openflow.as_mut() {
                of.port_removed(name, n);
            }
            log::info!(target: "bridge", "bridge {bridge}: deleted interface {name} on port {n}");
        }
        let (odp, dpname) = (iface.odp_port.take(), iface.dp_port_name.take());
        self.release_dp_port(&dp_type, odp, dpname);
        if iface.iface_type == "tap" {
            self.close_kernel_tap(name);
        }
    }

    /// Sets the error of every patch port whose peer is missing, the way
    /// stock words it, and clears it when the peer appears.
    pub(super) fn check_patch_peers(&mut self) {
        // (bridge dp type, patch iface name) -> its peer option.
        let mut patches: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for br in self.bridges.values() {
            for i in br.ifaces.values().filter(|i| i.iface_type == "patch") {
                patches.insert(
                    i.name.clone(),
                    (br.dp_type.clone(), i.options.get("peer").cloned()),
                );
            }
        }
        for br in self.bridges.values_mut() {
            for i in br
                .ifaces
                .values_mut()
                .filter(|i| i.iface_type == "patch" && i.ofport.is_some())
            {
                let peer = i.options.get("peer");
                let error = match peer {
                    Some(p) => {
                        let usable = patches.get(p).is_some_and(|(t, back)| {
                            *t == br.dp_type && back.as_deref() == Some(&i.name)
                        });
                        (!usable).then(|| {
                            format!("No usable peer '{p}' exists in '{}' datapath.", br.dp_type)
                        })
                    }
                    None => None,
                };
                if error != i.error {
                    i.error = error;
                    i.status_dirty = true;
                }
            }
        }
    }
}

/// A Bridge row's settings for the NORMAL action: its other_config
/// `mac-aging-time` and `mac-table-size` (0 when absent or not a number,
/// which means the default, as stock reads them), `forward-bpdu`, its
/// `flood_vlans`, and the VLAN settings of each Port row (`tag`,
/// `trunks`, `vlan_mode`) given to every interface of the port, by
/// interface name. Ports with the default settings (a trunk of every
/// VLAN) are left out, so the map stays as small as the VLAN
/// configuration, not the port count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L2Cfg {
    pub mac: ferrovs_ofproto::mac_learning::MacConfig,
    pub port_vlans: BTreeMap<String, ferrovs_ofproto::PortVlan>,
}

impl L2Cfg {
    /// The Bridge row's MAC table settings.
    pub fn mac_from_row(brow: &crate::ovsdb::Row) -> ferrovs_ofproto::mac_learning::MacConfig {
        use crate::ovsdb::datum;
        let oc = datum::str_map(brow.get("other_config"));
        let int = |k: &str| {
            oc.get(k)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0)
        };
        let flood_vlans = datum::set_elems(brow.get("flood_vlans"))
            .into_iter()
            .filter_map(|v| v.as_i64())
            .filter_map(|v| u16::try_from(v).ok())
            .filter(|v| *v <= 4095)
            .collect();
        ferrovs_ofproto::mac_learning::MacConfig {
            idle_time: int("mac-aging-time"),
            max_entries: int("mac-table-size"),
            flood_vlans,
            forward_bpdu: oc.get("forward-bpdu").is_some_and(|v| v == "true"),
        }
    }

    /// A Port row's VLAN settings; `None` for the default.
    pub fn port_vlan_from_row(prow: &crate::ovsdb::Row) -> Option<ferrovs_ofproto::PortVlan> {
        use crate::ovsdb::datum;
        let trunks: Vec<i64> = datum::set_elems(prow.get("trunks"))
            .into_iter()
            .filter_map(|v| v.as_i64())
            .collect();
        let mode = datum::string(prow.get("vlan_mode"));
        let vlan = ferrovs_ofproto::PortVlan::from_port_columns(
            datum::opt_int(prow.get("tag")),
            &trunks,
            (!mode.is_empty()).then_some(mode.as_str()),
        );
        (vlan != ferrovs_ofproto::PortVlan::default()).then_some(vlan)
    }
}
