//! Tunnel ports, made as Open vSwitch 3.1 makes them on kernels with
//! in-tree tunnels: one collect-metadata tunnel device per type and UDP
//! port (`vxlan_sys_4789`, `genev_sys_6081`, `gre_sys`) attached as a
//! netdev vport; the vport tunnel types only where such devices cannot be
//! made.

use super::consts::{cmd, tunnel_attr, vport_type};
use super::rtnl::{self, TunnelDevice};
use super::vport::VportRequest;
use super::{AttrWriter, NetlinkDpif};
use crate::{DpifError, OdpPort, PortSpec, Result};

/// The prefixes Open vSwitch gives the kernel devices of its tunnel ports
/// (`vxlan_sys_4789`, ...) and the port types they stand for.
const TUNNEL_NAME_PREFIXES: &[(&str, &str)] = &[
    ("genev_sys", "geneve"),
    ("gre_sys", "gre"),
    ("vxlan_sys", "vxlan"),
    ("lisp_sys", "lisp"),
    ("stt_sys", "stt"),
    ("erspan_sys", "erspan"),
    ("ip6erspan_sys", "ip6erspan"),
    ("ip6gre_sys", "ip6gre"),
    ("gtpu_sys", "gtpu"),
    ("udp_sys", "bareudp"),
];

/// Port types that are tunnel devices attached as netdev vports.
pub(super) const TUNNEL_PORT_TYPES: &[&str] = &["vxlan", "geneve", "gre"];

/// The device name and kind of a tunnel port, named as Open vSwitch names
/// them: one device per type and UDP port, shared by every tunnel port of
/// that type (the remote is chosen per packet, by flow).
fn tunnel_device_for(spec: &PortSpec) -> Result<(String, TunnelDevice)> {
    let t = spec.port_type.as_str();
    let dst_port = match spec.options.iter().find(|(k, _)| k == "dst_port") {
        Some((_, v)) => v.parse::<u16>().map_err(|_| {
            DpifError::new(libc::EINVAL, format!("{}: bad dst_port {v}", spec.name))
        })?,
        None => default_dst_port(t).unwrap_or(0),
    };
    match t {
        "vxlan" => Ok((
            format!("vxlan_sys_{dst_port}"),
            TunnelDevice::Vxlan { dst_port },
        )),
        "geneve" => Ok((
            format!("genev_sys_{dst_port}"),
            TunnelDevice::Geneve { dst_port },
        )),
        "gre" => Ok(("gre_sys".to_string(), TunnelDevice::Gre)),
        other => Err(DpifError::new(
            libc::EOPNOTSUPP,
            format!("no tunnel device for type {other}"),
        )),
    }
}

/// The default UDP port of a tunnel type, when the spec gives none.
fn default_dst_port(t: &str) -> Option<u16> {
    match t {
        "vxlan" => Some(4789),
        "geneve" => Some(6081),
        _ => None,
    }
}

/// The options of a tunnel port of the vport tunnel types (kernels whose
/// tunnel devices cannot be made): its kind and OVS_TUNNEL_ATTR_DST_PORT.
pub(super) fn compat_vport(spec: &PortSpec) -> Result<(u32, Option<Vec<u8>>)> {
    let t = spec.port_type.as_str();
    let kind = match t {
        "vxlan" => vport_type::VXLAN,
        "geneve" => vport_type::GENEVE,
        "gre" => vport_type::GRE,
        other => {
            return Err(DpifError::new(
                libc::EOPNOTSUPP,
                format!("{}: {other} is not a tunnel type", spec.name),
            ))
        }
    };
    let dst_port = match spec.options.iter().find(|(k, _)| k == "dst_port") {
        Some((_, v)) => Some(v.parse::<u16>().map_err(|_| {
            DpifError::new(libc::EINVAL, format!("{}: bad dst_port {v}", spec.name))
        })?),
        None => default_dst_port(t),
    };
    let options = match dst_port {
        Some(p) => {
            let mut w = AttrWriter::new();
            w.put_u16(tunnel_attr::DST_PORT, p);
            Some(w.finish()?)
        }
        None => None,
    };
    Ok((kind, options))
}

/// The port type of a kernel device named like Open vSwitch names tunnel
/// devices, if it is one.
pub(super) fn type_from_device_name(name: &str) -> Option<&'static str> {
    TUNNEL_NAME_PREFIXES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, t)| *t)
}

impl NetlinkDpif {
    /// Adds a tunnel port the current way: a collect-metadata tunnel
    /// device, attached as a netdev vport. EOPNOTSUPP if the kernel cannot
    /// make the device (the caller falls back to the vport tunnel types).
    pub(super) fn tunnel_port_add(&mut self, spec: &PortSpec) -> Result<OdpPort> {
        let (name, device) = tunnel_device_for(spec)?;
        let created = match rtnl::create_tunnel(&name, device) {
            Ok(()) => true,
            // One device serves every port of its type and UDP port.
            Err(e) if e.errno == libc::EEXIST => false,
            Err(e) => return Err(e),
        };
        let pids = self.port_upcall_pids.clone();
        let dp_ifindex = self.dp_ifindex();
        let reply = self.netlink().vport_transact(&VportRequest {
            cmd: cmd::NEW,
            dp_ifindex,
            port_no: spec.port_no,
            vport_type: Some(vport_type::NETDEV),
            name: Some(&name),
            upcall_pids: Some(&pids),
            options: None,
        });
        match reply {
            Ok(info) => Ok(info.port_no),
            Err(e) => {
                if created {
                    let _ = rtnl::delete(&name);
                }
                log::warn!(
                    target: "dpif",
                    "{}: failed to add {} as port: {}",
                    self.full_name(),
                    spec.name,
                    super::strerror(e.errno)
                );
                Err(e)
            }
        }
    }
}
