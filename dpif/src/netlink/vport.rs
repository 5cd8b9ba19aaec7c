//! The `ovs_vport` family: the ports of a datapath.

use super::attrs::{split_ovs_header, stat_u64, AttrWriter, Attrs};
use super::consts::{cmd, family, vport_attr, vport_type};
use super::socket::GenlBody;
use super::Netlink;
use crate::{DpifError, OdpPort, Result};

/// A request of the `ovs_vport` family. A port is named by `port_no` or by
/// `name`; the datapath by `dp_ifindex` (ports named by name need none).
#[derive(Debug, Clone, Default)]
pub struct VportRequest<'a> {
    pub cmd: u8,
    pub dp_ifindex: i32,
    pub port_no: Option<OdpPort>,
    pub vport_type: Option<u32>,
    pub name: Option<&'a str>,
    /// Upcall ports for packets from this port (per-vport dispatch).
    pub upcall_pids: Option<&'a [u32]>,
    /// OVS_VPORT_ATTR_OPTIONS, already encoded (tunnel options).
    pub options: Option<&'a [u8]>,
}

/// `struct ovs_vport_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VportStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// A port as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VportInfo {
    pub dp_ifindex: i32,
    pub port_no: OdpPort,
    pub vport_type: u32,
    pub name: String,
    pub upcall_pids: Vec<u32>,
    pub stats: Option<VportStats>,
    pub ifindex: Option<u32>,
    pub netnsid: Option<u32>,
    pub options: Option<Vec<u8>>,
    /// The command of the message: NEW/DEL/GET/SET (notifications use it).
    pub cmd: u8,
}

/// The Interface type name of a kernel vport type, as Open vSwitch names it.
pub fn vport_type_name(t: u32) -> &'static str {
    match t {
        vport_type::NETDEV => "system",
        vport_type::INTERNAL => "internal",
        vport_type::GRE => "gre",
        vport_type::VXLAN => "vxlan",
        vport_type::GENEVE => "geneve",
        _ => "unknown",
    }
}

impl VportRequest<'_> {
    fn encode(&self) -> Result<Vec<u8>> {
        let mut w = AttrWriter::with_ovs_header(self.dp_ifindex);
        if let Some(p) = self.port_no {
            w.put_u32(vport_attr::PORT_NO, p);
        }
        if let Some(t) = self.vport_type {
            w.put_u32(vport_attr::TYPE, t);
        }
        if let Some(n) = self.name {
            w.put_str(vport_attr::NAME, n);
        }
        if let Some(pids) = self.upcall_pids {
            w.put_u32s(vport_attr::UPCALL_PID, pids);
        }
        if let Some(o) = self.options {
            w.put(vport_attr::OPTIONS, o);
        }
        w.finish()
    }
}

impl VportInfo {
    pub fn parse(body: &GenlBody) -> Result<Self> {
        let (dp_ifindex, rest) = split_ovs_header(&body.bytes)?;
        let a = Attrs::parse(rest)?;
        let required =
            |what: &str| DpifError::new(libc::EPROTO, format!("vport message without {what}"));
        Ok(VportInfo {
            dp_ifindex,
            port_no: a
                .u32(vport_attr::PORT_NO, "port number")?
                .ok_or_else(|| required("port number"))?,
            vport_type: a
                .u32(vport_attr::TYPE, "port type")?
                .ok_or_else(|| required("type"))?,
            name: a
                .string(vport_attr::NAME, "port name")?
                .ok_or_else(|| required("name"))?,
            upcall_pids: a
                .u32s(vport_attr::UPCALL_PID, "upcall pids")?
                .unwrap_or_default(),
            stats: a.get(vport_attr::STATS).map(|s| VportStats {
                rx_packets: stat_u64(s, 0),
                tx_packets: stat_u64(s, 1),
                rx_bytes: stat_u64(s, 2),
                tx_bytes: stat_u64(s, 3),
                rx_errors: stat_u64(s, 4),
                tx_errors: stat_u64(s, 5),
                rx_dropped: stat_u64(s, 6),
                tx_dropped: stat_u64(s, 7),
            }),
            ifindex: a.u32(vport_attr::IFINDEX, "ifindex")?,
            netnsid: a.u32(vport_attr::NETNSID, "netnsid")?,
            options: a.get(vport_attr::OPTIONS).map(<[u8]>::to_vec),
            cmd: body.cmd,
        })
    }
}

impl Netlink {
    /// Sends a vport request; returns the port the kernel echoes.
    pub fn vport_transact(&mut self, req: &VportRequest<'_>) -> Result<VportInfo> {
        let request = self.request(
            self.families.vport,
            family::VPORT_VERSION,
            req.cmd,
            req.encode()?,
        );
        match self.sock.transact(&request)? {
            Some(body) => VportInfo::parse(&body),
            None => Err(DpifError::new(
                libc::EPROTO,
                "the kernel did not describe the port",
            )),
        }
    }

    /// Every port of the datapath `dp_ifindex`.
    pub fn vport_dump(&mut self, dp_ifindex: i32) -> Result<Vec<VportInfo>> {
        let req = VportRequest {
            cmd: cmd::GET,
            dp_ifindex,
            ..VportRequest::default()
        };
        let request = self.request(
            self.families.vport,
            family::VPORT_VERSION,
            cmd::GET,
            req.encode()?,
        );
        self.sock
            .dump(&request)?
            .iter()
            .map(VportInfo::parse)
            .collect()
    }
}
