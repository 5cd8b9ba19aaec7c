//! Ports: what the daemon tells about them, their OpenFlow encodings,
//! port_mod and port-status messages.

use super::*;

/// Port config bits OpenFlow 1.1+ has (port_down, no_recv, no_fwd,
/// no_packet_in); no_stp, no_recv_stp and no_flood exist only in 1.0.
pub(crate) const CONFIG_OF11: u32 = 0x1 | 0x4 | 0x20 | 0x40;

/// Port config bits a port_mod may change.
pub(crate) const CONFIG_SETTABLE: u32 = 0x1 | 0x4 | 0x10 | 0x20 | 0x40;

/// Port state bits (OpenFlow 1.1+): link down and live.
pub(crate) const STATE_LINK_DOWN: u32 = 0x1;

pub(crate) const STATE_LIVE: u32 = 0x4;

/// One port as the daemon describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortInfo {
    pub ofp_port: u16,
    pub name: String,
    pub hw_addr: [u8; 6],
    /// OFPPC_* bits (port_down 1, no_recv 4, no_fwd 32, no_packet_in 64).
    pub config: u32,
    /// OpenFlow 1.1+ OFPPS_* bits (link_down 1, blocked 2, live 4).
    pub state: u32,
    /// OFPPF_* feature bits (OpenFlow 1.1+ layout).
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    /// kbps.
    pub curr_speed: u32,
    pub max_speed: u32,
    /// The device has one queue, 0, with unknown statistics (stock's
    /// dummy devices); other devices have none (ferrovs sets no QoS).
    pub dummy_queue: bool,
    /// The device is a Linux network interface of the daemon's namespace
    /// (a system device or a userspace datapath's tap): in-band control
    /// finds the next hop to a controller through it. Dummy, tunnel and
    /// patch devices have no route table, whatever the host's devices are
    /// called.
    pub kernel_device: bool,
}

impl PortInfo {
    /// A live port with no config bits, features or speeds: what tests and
    /// examples that drive the service without real devices describe.
    pub fn live(ofp_port: u16, name: &str, hw_addr: [u8; 6]) -> PortInfo {
        PortInfo {
            ofp_port,
            name: name.to_string(),
            hw_addr,
            state: STATE_LIVE,
            ..PortInfo::default()
        }
    }
}

/// Counters of one port, as the daemon reads them from the device;
/// `u64::MAX` marks a counter the device does not keep (shown as "?").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_errors: u64,
    pub rx_over_errors: u64,
    pub rx_crc_errors: u64,
    pub collisions: u64,
}

impl PortStats {
    /// Every counter unknown.
    pub const UNKNOWN: PortStats = PortStats {
        rx_packets: u64::MAX,
        tx_packets: u64::MAX,
        rx_bytes: u64::MAX,
        tx_bytes: u64::MAX,
        rx_dropped: u64::MAX,
        tx_dropped: u64::MAX,
        rx_errors: u64::MAX,
        tx_errors: u64::MAX,
        rx_frame_errors: u64::MAX,
        rx_over_errors: u64::MAX,
        rx_crc_errors: u64::MAX,
        collisions: u64::MAX,
    };
}

/// Where port counters come from: called on the service thread for each
/// port a statistics request covers; `None` means "all unknown".
pub type PortStatsSource = std::sync::Arc<dyn Fn(u16) -> Option<PortStats> + Send + Sync>;

/// Called when a port_mod changes a port's config bits (OpenFlow 1.0
/// numbering): the daemon brings the device down or up for port_down.
pub type PortModHook = std::sync::Arc<dyn Fn(u16, u32) + Send + Sync>;

/// A port change for port-status messages: OFPPR_ADD 0, DELETE 1,
/// MODIFY 2.
#[derive(Debug, Clone)]
pub struct PortChange {
    pub reason: u8,
    pub port: PortInfo,
}

impl Switch {
    /// Replaces the port list, remembering when each port appeared.
    /// The config bits of ports that stay are OpenFlow's (port_mod) and
    /// are kept; everything else comes from the daemon.
    pub fn set_ports(&mut self, mut ports: Vec<PortInfo>) {
        // Indexed by number once, so that a list of N ports costs N
        // lookups, not N scans (the daemon sends the whole list when
        // one port comes or goes).
        let old_index: HashMap<u16, usize> = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, o)| (o.ofp_port, i))
            .collect();
        let old_port = |n: u16| old_index.get(&n).and_then(|&i| self.ports.get(i));
        for p in ports.iter_mut() {
            if let Some(old) = old_port(p.ofp_port) {
                p.config = old.config;
            }
        }
        let new_numbers: std::collections::HashSet<u16> =
            ports.iter().map(|p| p.ofp_port).collect();
        let now = Instant::now();
        self.port_added.retain(|p, _| new_numbers.contains(p));
        for p in &ports {
            self.port_added.entry(p.ofp_port).or_insert(now);
        }
        for old in &self.ports {
            if !new_numbers.contains(&old.ofp_port) {
                self.port_changes.push(PortChange {
                    reason: 1,
                    port: old.clone(),
                });
            }
        }
        for p in &ports {
            match old_port(p.ofp_port) {
                None => self.port_changes.push(PortChange {
                    reason: 0,
                    port: p.clone(),
                }),
                Some(o) if o != p => self.port_changes.push(PortChange {
                    reason: 2,
                    port: p.clone(),
                }),
                Some(_) => {}
            }
        }
        let renumbered = ports.len() != self.ports.len()
            || ports.iter().any(|p| !old_index.contains_key(&p.ofp_port));
        self.ports = ports;
        if renumbered {
            self.l2_ports_changed();
        }
    }

    /// Applies the daemon's changes to some ports: `removed` numbers go,
    /// each of `upserts` is added or replaces the port of its number
    /// (keeping its OpenFlow config bits). The same outcome as
    /// `set_ports` with the whole list, at the cost of the changed ports
    /// (one port added to a bridge of thousands costs one port's work).
    pub fn update_ports(&mut self, upserts: Vec<PortInfo>, removed: &[u16]) {
        let mut renumbered = false;
        for n in removed {
            let Some(i) = self.ports.iter().position(|o| o.ofp_port == *n) else {
                continue;
            };
            let old = self.ports.swap_remove(i);
            self.port_added.remove(n);
            self.port_changes.push(PortChange {
                reason: 1,
                port: old,
            });
            renumbered = true;
        }
        let now = Instant::now();
        for mut p in upserts {
            match self.ports.iter().position(|o| o.ofp_port == p.ofp_port) {
                Some(i) => {
                    let old = &mut self.ports[i];
                    p.config = old.config;
                    if *old != p {
                        self.port_changes.push(PortChange {
                            reason: 2,
                            port: p.clone(),
                        });
                        *old = p;
                    }
                }
                None => {
                    self.port_added.entry(p.ofp_port).or_insert(now);
                    self.port_changes.push(PortChange {
                        reason: 0,
                        port: p.clone(),
                    });
                    self.ports.push(p);
                    renumbered = true;
                }
            }
        }
        if renumbered {
            let mut mac = self.mac_table.lock().unwrap_or_else(|e| e.into_inner());
            mac.flush_ports(|p| removed.contains(&p));
            drop(mac);
            self.l2_changed = true;
        }
    }

    pub(crate) fn port_bytes(&self, v: u8, p: &PortInfo, out: &mut Vec<u8>) {
        let mut name = [0u8; 16];
        let nb = p.name.as_bytes();
        let n = nb.len().min(15);
        name[..n].copy_from_slice(&nb[..n]);
        if v == 1 {
            out.put_u16(p.ofp_port);
            out.extend_from_slice(&p.hw_addr);
            out.extend_from_slice(&name);
            out.put_u32(p.config);
            out.put_u32(p.state & 1);
            // OpenFlow 1.0 feature bits stop at bit 11 (pause_asym).
            for f in [p.curr, p.advertised, p.supported, p.peer] {
                out.put_u32(f & 0x7f | (f >> 4 & 0xf80) & 0xf80);
            }
        } else if v <= 4 {
            out.put_u32(port_to_of11(p.ofp_port));
            out.put_zeros(4);
            out.extend_from_slice(&p.hw_addr);
            out.put_zeros(2);
            out.extend_from_slice(&name);
            out.put_u32(p.config & CONFIG_OF11);
            out.put_u32(p.state);
            for f in [
                p.curr,
                p.advertised,
                p.supported,
                p.peer,
                p.curr_speed,
                p.max_speed,
            ] {
                out.put_u32(f);
            }
        } else {
            out.put_u32(port_to_of11(p.ofp_port));
            out.put_u16(72);
            out.put_zeros(2);
            out.extend_from_slice(&p.hw_addr);
            out.put_zeros(2);
            out.extend_from_slice(&name);
            out.put_u32(p.config & CONFIG_OF11);
            out.put_u32(p.state);
            out.put_u16(0);
            out.put_u16(32);
            out.put_zeros(4);
            for f in [
                p.curr,
                p.advertised,
                p.supported,
                p.peer,
                p.curr_speed,
                p.max_speed,
            ] {
                out.put_u32(f);
            }
        }
    }

    pub(crate) fn sorted_ports(&self) -> Vec<&PortInfo> {
        let mut ps: Vec<&PortInfo> = self.ports.iter().collect();
        ps.sort_by_key(|p| p.ofp_port);
        ps
    }

    pub(crate) fn features_reply(&self, h: Header) -> Vec<u8> {
        let v = h.version;
        let mut m = start(v, 6, h.xid);
        m.put_u64(self.datapath_id);
        m.put_u32(0);
        m.put_u8(N_TABLES);
        m.put_zeros(3);
        // flow, table, port and queue statistics; arp_match_ip in 1.0/1.1;
        // group statistics from 1.1.
        let caps: u32 = match v {
            1 => 0x1 | 0x2 | 0x4 | 0x40 | 0x80,
            2 => 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80,
            3 | 4 => 0x1 | 0x2 | 0x4 | 0x8 | 0x40,
            _ => 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x200,
        };
        m.put_u32(caps);
        m.put_u32(if v == 1 { 0xfff } else { 0 });
        // In stock's order (ovs-ofctl sorts what it prints, but walks the
        // ports in this order for OpenFlow 1.0 queue-get-config).
        if v <= 3 {
            for p in self.stock_ordered_ports() {
                self.port_bytes(v, p, &mut m);
            }
        }
        finish(m)
    }

    /// PORT_MOD: changes a port's config bits (the hardware address must
    /// match); port_down also takes the link down, as a real device does.
    pub(crate) fn port_mod(&mut self, v: u8, body: &[u8]) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let (port_no, hw, config, mask) = if v == 1 {
            let p = r.u16().ok_or(e)?;
            let hw = r.array::<6>().ok_or(e)?;
            (p, hw, r.u32().ok_or(e)?, r.u32().ok_or(e)?)
        } else {
            let p = port_from_of11(r.u32().ok_or(e)?).ok_or(OfpErr::OFPPMFC_BAD_PORT)?;
            r.skip(4).ok_or(e)?;
            let hw = r.array::<6>().ok_or(e)?;
            r.skip(2).ok_or(e)?;
            (p, hw, r.u32().ok_or(e)?, r.u32().ok_or(e)?)
        };
        let Some(idx) = self.ports.iter().position(|p| p.ofp_port == port_no) else {
            return Err(OfpErr::OFPPMFC_BAD_PORT);
        };
        let port = &mut self.ports[idx];
        if port.hw_addr != hw {
            return Err(OfpErr::OFPPMFC_BAD_HW_ADDR);
        }
        let mask = mask & CONFIG_SETTABLE;
        let new = (port.config & !mask) | (config & mask);
        if new != port.config {
            port.config = new;
            // With a daemon behind the hook, the link state follows the
            // device (its next set_ports), as stock reports it in a second
            // port-status; without one, the switch models it itself.
            if self.port_mod_hook.is_none() {
                if new & 1 != 0 {
                    port.state = (port.state | STATE_LINK_DOWN) & !STATE_LIVE;
                } else {
                    port.state = (port.state & !STATE_LINK_DOWN) | STATE_LIVE;
                }
            }
            let changed = port.clone();
            self.port_changes.push(PortChange {
                reason: 2,
                port: changed,
            });
            if let Some(hook) = &self.port_mod_hook {
                hook(port_no, new);
            }
        }
        Ok(vec![])
    }

    /// The port-status message for `c` in version `v`.
    pub fn port_status_msg(&self, v: u8, c: &PortChange) -> Vec<u8> {
        let mut m = start(v, 12, 0);
        m.put_u8(c.reason);
        m.put_zeros(7);
        self.port_bytes(v, &c.port, &mut m);
        finish(m)
    }
}

/// How a port treats 802.1Q tags for the NORMAL action (the Port table's
/// `vlan_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VlanMode {
    /// Carries the VLANs of `trunks` (all when none are listed), tagged.
    #[default]
    Trunk,
    /// Carries only its own VLAN, untagged.
    Access,
    /// A trunk whose untagged packets belong to its own VLAN; that VLAN
    /// leaves tagged.
    NativeTagged,
    /// The same, but its own VLAN leaves untagged.
    NativeUntagged,
}

/// A port's VLAN settings as the NORMAL action uses them, already
/// resolved the way stock resolves the Port row's `tag`, `trunks` and
/// `vlan_mode`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortVlan {
    pub mode: VlanMode,
    /// The port's own VLAN (0 for trunks, and for access or native ports
    /// without a tag).
    pub vlan: u16,
    /// The VLANs a trunk or native port carries, as a 4096-bit map;
    /// `None` means all.
    pub trunks: Option<Vec<u64>>,
}

impl PortVlan {
    /// Resolves a Port row's columns: `tag` (valid when 0..=4095),
    /// `trunks`, and `vlan_mode` (None: access with a tag, trunk without;
    /// an unknown mode is a trunk, as stock falls back).
    pub fn from_port_columns(tag: Option<i64>, trunks: &[i64], vlan_mode: Option<&str>) -> Self {
        let tag = tag
            .and_then(|t| u16::try_from(t).ok())
            .filter(|t| *t <= 4095);
        let mode = match vlan_mode {
            Some("access") => VlanMode::Access,
            Some("native-tagged") => VlanMode::NativeTagged,
            Some("native-untagged") => VlanMode::NativeUntagged,
            Some(_) => VlanMode::Trunk,
            None if tag.is_some() => VlanMode::Access,
            None => VlanMode::Trunk,
        };
        let vlan = match mode {
            VlanMode::Trunk => 0,
            _ => tag.unwrap_or(0),
        };
        let listed = (!trunks.is_empty()).then(|| {
            let mut map = vec![0u64; 64];
            for t in trunks.iter().filter_map(|&t| u16::try_from(t).ok()) {
                if t <= 4095 {
                    map[t as usize / 64] |= 1 << (t % 64);
                }
            }
            map
        });
        let bit = |m: &[u64], v: u16| {
            m.get(v as usize / 64)
                .is_some_and(|w| w >> (v % 64) & 1 != 0)
        };
        let trunks = match mode {
            VlanMode::Access => None,
            VlanMode::Trunk => listed,
            VlanMode::NativeTagged | VlanMode::NativeUntagged => {
                // The native VLAN is always carried and VLAN 0 never is.
                let forced =
                    vlan != 0 && listed.as_ref().is_none_or(|m| !bit(m, vlan) || bit(m, 0));
                if forced {
                    let mut m = listed.unwrap_or_else(|| vec![u64::MAX; 64]);
                    m[vlan as usize / 64] |= 1 << (vlan % 64);
                    m[0] &= !1;
                    Some(m)
                } else {
                    listed
                }
            }
        };
        PortVlan { mode, vlan, trunks }
    }

    /// Whether the port trunks `vlan` (never for access ports).
    pub fn trunks_vlan(&self, vlan: u16) -> bool {
        self.mode != VlanMode::Access
            && self.trunks.as_ref().is_none_or(|m| {
                m.get(vlan as usize / 64)
                    .is_some_and(|w| w >> (vlan % 64) & 1 != 0)
            })
    }

    /// Whether a packet in `vlan` (inside the bridge) may leave here.
    pub fn includes_vlan(&self, vlan: u16) -> bool {
        match self.mode {
            VlanMode::Access => vlan == self.vlan,
            _ => self.trunks_vlan(vlan),
        }
    }
}

impl Switch {
    /// Replaces the ports' VLAN settings (by OpenFlow port number; ports
    /// not listed are trunks for every VLAN). A port whose settings
    /// change forgets the MACs learned on it (static ones too), as stock
    /// does.
    pub fn set_port_vlans(&mut self, vlans: HashMap<u16, PortVlan>) {
        if vlans == self.port_vlans {
            return;
        }
        let changed: Vec<u16> = self
            .port_vlans
            .keys()
            .chain(vlans.keys())
            .copied()
            .filter(|p| {
                let old = self.port_vlans.get(p).cloned().unwrap_or_default();
                let new = vlans.get(p).cloned().unwrap_or_default();
                old != new
            })
            .collect();
        self.port_vlans = vlans;
        let mut mac = self.mac_table.lock().unwrap_or_else(|e| e.into_inner());
        mac.flush_ports(|p| changed.contains(&p));
        drop(mac);
        self.l2_changed = true;
    }

    /// Replaces the port mirrors; flows are translated again when they
    /// changed.
    pub fn set_mirrors(
        &mut self,
        mirrors: Vec<crate::xlate::mirror::MirrorCfg>,
        stats: std::sync::Arc<crate::xlate::mirror::MirrorStats>,
    ) {
        if self.mirrors.set(mirrors, stats) {
            self.l2_changed = true;
        }
    }

    /// Whether the MAC table holds entries (that will age).
    pub fn has_macs(&self) -> bool {
        !self
            .mac_table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Applies the Bridge's L2 settings (MAC table, flood VLANs,
    /// forward-bpdu).
    pub fn set_mac_config(&mut self, cfg: &crate::mac_learning::MacConfig) {
        if cfg.forward_bpdu != self.forward_bpdu {
            self.forward_bpdu = cfg.forward_bpdu;
            self.l2_changed = true;
        }
        self.mac_table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .configure(cfg);
    }

    /// The VLAN settings of port `p`.
    pub fn port_vlan(&self, p: u16) -> PortVlan {
        self.port_vlans.get(&p).cloned().unwrap_or_default()
    }

    /// Called once the port list changed: MACs learned on ports that are
    /// gone are forgotten, and flooding must be translated again.
    fn l2_ports_changed(&mut self) {
        let ports: Vec<u16> = self.ports.iter().map(|p| p.ofp_port).collect();
        let mut mac = self.mac_table.lock().unwrap_or_else(|e| e.into_inner());
        mac.flush_ports(|p| !ports.contains(&p));
        self.l2_changed = true;
    }

    /// Ages the MAC table; returns what may have made translations
    /// stale since the last call (MAC table entries, or everything for
    /// port changes), clearing that.
    pub fn l2_run(&mut self) -> crate::mac_learning::MacChanges {
        let mut mac = self.mac_table.lock().unwrap_or_else(|e| e.into_inner());
        mac.run(Instant::now());
        let mut stale = mac.take_changes();
        drop(mac);
        stale.all |= std::mem::take(&mut self.l2_changed);
        stale
    }
}

#[cfg(test)]
mod vlan_tests {
    use super::*;

    #[test]
    fn port_columns_resolve_as_stock() {
        let access = PortVlan::from_port_columns(Some(10), &[20], None);
        assert_eq!((access.mode, access.vlan), (VlanMode::Access, 10));
        assert!(access.includes_vlan(10) && !access.includes_vlan(20));
        let trunk = PortVlan::from_port_columns(Some(10), &[20, 30], Some("trunk"));
        assert_eq!(trunk.vlan, 0);
        assert!(trunk.includes_vlan(20) && !trunk.includes_vlan(10) && !trunk.includes_vlan(0));
        let all = PortVlan::from_port_columns(None, &[], None);
        assert!(all.includes_vlan(0) && all.includes_vlan(4095));
        let native = PortVlan::from_port_columns(Some(10), &[0, 20], Some("native-untagged"));
        assert!(native.includes_vlan(10) && native.includes_vlan(20) && !native.includes_vlan(0));
        let native_all = PortVlan::from_port_columns(Some(10), &[], Some("native-tagged"));
        assert!(native_all.includes_vlan(99) && !native_all.includes_vlan(0));
        let bad = PortVlan::from_port_columns(Some(5000), &[], None);
        assert_eq!(bad.mode, VlanMode::Trunk);
    }
}

#[cfg(test)]
mod update_tests {
    use super::*;

    fn port(n: u16, name: &str, state: u32) -> PortInfo {
        PortInfo {
            ofp_port: n,
            name: name.into(),
            state,
            ..PortInfo::default()
        }
    }

    fn sorted(sw: &Switch) -> Vec<PortInfo> {
        sw.sorted_ports().into_iter().cloned().collect()
    }

    /// (reason, port number) of the port-status messages, in order.
    fn changes(sw: &mut Switch) -> Vec<(u8, u16)> {
        std::mem::take(&mut sw.port_changes)
            .into_iter()
            .map(|c| (c.reason, c.port.ofp_port))
            .collect()
    }

    #[test]
    fn per_port_updates_end_where_a_whole_list_does() {
        let before = vec![port(1, "a", 0), port(2, "b", 0), port(3, "c", 0)];
        let after = vec![port(1, "a", 0), port(3, "c", 1), port(4, "d", 0)];
        let mut whole = Switch::new("br0", 1);
        whole.set_ports(before.clone());
        let mut patched = Switch::new("br0", 1);
        patched.set_ports(before);
        // port_mod's config bits stay with the port through either path.
        for sw in [&mut whole, &mut patched] {
            if let Some(p) = sw.ports.iter_mut().find(|p| p.ofp_port == 3) {
                p.config = 0x20;
            }
            sw.port_changes.clear();
        }
        whole.set_ports(after.clone());
        patched.update_ports(vec![port(3, "c", 1), port(4, "d", 0)], &[2]);
        assert_eq!(sorted(&whole), sorted(&patched));
        assert_eq!(
            sorted(&patched)
                .iter()
                .find(|p| p.ofp_port == 3)
                .map(|p| p.config),
            Some(0x20)
        );
        let mut w = changes(&mut whole);
        let mut p = changes(&mut patched);
        w.sort();
        p.sort();
        assert_eq!(w, p);
        assert_eq!(p, vec![(0, 4), (1, 2), (2, 3)]);
        // An unchanged port sends nothing.
        patched.update_ports(vec![port(1, "a", 0)], &[]);
        assert!(changes(&mut patched).is_empty());
        assert_eq!(patched.port_added.len(), 3);
    }
}
