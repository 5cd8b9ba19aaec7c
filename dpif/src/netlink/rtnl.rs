//! The rtnetlink requests the kernel provider needs on network devices:
//! look one up by name (with its counters), bring it up, and create or
//! delete the collect-metadata tunnel devices that tunnel ports attach
//! (`vxlan_sys_4789`, `genev_sys_6081`, `gre_sys`), as Open vSwitch does on
//! kernels with in-tree tunnels.

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::attrs::{AttrWriter, Attrs};
use crate::{DpifError, Result};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_MTU: u16 = 4;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_VXLAN_PORT: u16 = 15;
const IFLA_VXLAN_LEARNING: u16 = 7;
const IFLA_VXLAN_UDP_ZERO_CSUM6_RX: u16 = 20;
const IFLA_VXLAN_COLLECT_METADATA: u16 = 25;
const IFLA_GENEVE_PORT: u16 = 5;
const IFLA_GENEVE_COLLECT_METADATA: u16 = 6;
const IFLA_GENEVE_UDP_ZERO_CSUM6_RX: u16 = 10;
const IFLA_GRE_COLLECT_METADATA: u16 = 18;
/// The largest MTU every tunnel driver takes (Open vSwitch's choice).
const TUNNEL_MTU: u32 = 65000;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
const IFF_UP: u32 = 1;
const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;

/// `struct rtnl_link_stats64`, the fields ovs-dpctl shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub collisions: u64,
    pub rx_over_errors: u64,
    pub rx_frame_errors: u64,
    pub tx_aborted_errors: u64,
    pub tx_carrier_errors: u64,
}

/// A network device as rtnetlink describes it.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub ifindex: i32,
    pub flags: u32,
    pub stats: Option<LinkStats>,
}

fn io_err(what: &str, e: std::io::Error) -> DpifError {
    DpifError::new(
        e.raw_os_error().unwrap_or(libc::EIO),
        format!("{what}: {e}"),
    )
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Sends one rtnetlink request and returns the payload of its reply
/// message (if any) once the kernel acked it.
fn transact(msg_type: u16, flags: u16, body: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| io_err("rtnetlink socket", e))?;
    sock.bind_auto().map_err(|e| io_err("rtnetlink bind", e))?;
    let len = u32::try_from(NLMSG_HDRLEN + body.len())
        .map_err(|_| DpifError::new(libc::EMSGSIZE, "rtnetlink request too large"))?;
    let seq = 1u32;
    let mut msg = Vec::with_capacity(len as usize);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&msg_type.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | flags).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(body);
    sock.send_to(&msg, &SocketAddr::new(0, 0), 0)
        .map_err(|e| io_err("rtnetlink send", e))?;

    let mut reply = None;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        sock.recv(&mut buf, 0)
            .map_err(|e| io_err("rtnetlink receive", e))?;
        let mut off = 0;
        while off + NLMSG_HDRLEN <= buf.len() {
            let bad = || DpifError::new(libc::EPROTO, "malformed rtnetlink reply");
            let mlen = u32_at(&buf, off).ok_or_else(bad)? as usize;
            let mtype = u16_at(&buf, off + 4).ok_or_else(bad)?;
            let mseq = u32_at(&buf, off + 8).ok_or_else(bad)?;
            if mlen < NLMSG_HDRLEN || off + mlen > buf.len() {
                return Err(bad());
            }
            let payload = &buf[off + NLMSG_HDRLEN..off + mlen];
            if mseq == seq {
                if mtype == NLMSG_ERROR {
                    let code = u32_at(payload, 0).ok_or_else(bad)? as i32;
                    return if code == 0 {
                        Ok(reply)
                    } else {
                        Err(DpifError::from_errno(
                            code.checked_neg().unwrap_or(libc::EIO),
                        ))
                    };
                }
                if reply.is_none() {
                    reply = Some(payload.to_vec());
                }
            }
            off += (mlen + 3) & !3;
        }
    }
}

/// `struct ifinfomsg` naming a device by index (0: by IFLA_IFNAME).
fn ifinfomsg(ifindex: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(IFINFOMSG_LEN);
    b.extend_from_slice(&[0u8, 0, 0, 0]); // family, pad, type
    b.extend_from_slice(&ifindex.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&change.to_ne_bytes());
    b
}

/// Looks up device `name`; `Ok(None)` if there is none.
pub fn get(name: &str) -> Result<Option<Link>> {
    let mut body = ifinfomsg(0, 0, 0);
    let mut w = AttrWriter::new();
    w.put_str(IFLA_IFNAME, name);
    body.extend_from_slice(&w.finish()?);
    let reply = match transact(RTM_GETLINK, 0, &body) {
        Ok(r) => r,
        Err(e) if e.errno == libc::ENODEV => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(reply) = reply else { return Ok(None) };
    let bad = || DpifError::new(libc::EPROTO, "malformed rtnetlink link message");
    let ifindex = u32_at(&reply, 4).ok_or_else(bad)? as i32;
    let flags = u32_at(&reply, 8).ok_or_else(bad)?;
    let attrs = Attrs::parse(reply.get(IFINFOMSG_LEN..).ok_or_else(bad)?)?;
    let stats = attrs.get(IFLA_STATS64).map(|s| {
        let n = |i: usize| {
            s.get(i * 8..i * 8 + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_ne_bytes)
        };
        LinkStats {
            rx_packets: n(0),
            tx_packets: n(1),
            rx_bytes: n(2),
            tx_bytes: n(3),
            rx_errors: n(4),
            tx_errors: n(5),
            rx_dropped: n(6),
            tx_dropped: n(7),
            collisions: n(9),
            rx_over_errors: n(11),
            rx_frame_errors: n(13),
            tx_aborted_errors: n(16),
            tx_carrier_errors: n(17),
        }
    });
    Ok(Some(Link {
        ifindex,
        flags,
        stats,
    }))
}

/// Sets IFF_UP on device `name` (a no-op if it is up already).
pub fn set_up(name: &str) -> Result<()> {
    let link = get(name)?.ok_or_else(|| DpifError::from_errno(libc::ENODEV))?;
    if link.flags & IFF_UP != 0 {
        return Ok(());
    }
    transact(RTM_NEWLINK, 0, &ifinfomsg(link.ifindex, IFF_UP, IFF_UP)).map(|_| ())
}

/// A collect-metadata tunnel device of the kind a tunnel port needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelDevice {
    Vxlan {
        dst_port: u16,
    },
    Geneve {
        dst_port: u16,
    },
    /// `gretap`: GRE carrying Ethernet frames.
    Gre,
}

/// Creates tunnel device `name`, up, in collect-metadata mode. EEXIST if a
/// device of that name exists already.
pub fn create_tunnel(name: &str, dev: TunnelDevice) -> Result<()> {
    let mut body = ifinfomsg(0, IFF_UP, IFF_UP);
    let mut w = AttrWriter::new();
    w.put_str(IFLA_IFNAME, name);
    w.put_u32(IFLA_MTU, TUNNEL_MTU);
    let linkinfo = w.begin_nested(IFLA_LINKINFO);
    let kind = match dev {
        TunnelDevice::Vxlan { .. } => "vxlan",
        TunnelDevice::Geneve { .. } => "geneve",
        TunnelDevice::Gre => "gretap",
    };
    w.put_str(IFLA_INFO_KIND, kind);
    let data = w.begin_nested(IFLA_INFO_DATA);
    match dev {
        TunnelDevice::Vxlan { dst_port } => {
            w.put_u8(IFLA_VXLAN_LEARNING, 0);
            w.put_u8(IFLA_VXLAN_COLLECT_METADATA, 1);
            w.put_u8(IFLA_VXLAN_UDP_ZERO_CSUM6_RX, 1);
            w.put(IFLA_VXLAN_PORT, &dst_port.to_be_bytes());
        }
        TunnelDevice::Geneve { dst_port } => {
            w.put_flag(IFLA_GENEVE_COLLECT_METADATA);
            w.put_u8(IFLA_GENEVE_UDP_ZERO_CSUM6_RX, 1);
            w.put(IFLA_GENEVE_PORT, &dst_port.to_be_bytes());
        }
        TunnelDevice::Gre => {
            w.put_flag(IFLA_GRE_COLLECT_METADATA);
        }
    }
    w.end_nested(data);
    w.end_nested(linkinfo);
    body.extend_from_slice(&w.finish()?);
    transact(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &body)?;
    if dev == TunnelDevice::Gre {
        // The GRE driver ignores IFLA_MTU when creating; set it again.
        if let Some(link) = get(name)? {
            let mut body = ifinfomsg(link.ifindex, 0, 0);
            let mut w = AttrWriter::new();
            w.put_u32(IFLA_MTU, TUNNEL_MTU);
            body.extend_from_slice(&w.finish()?);
            if transact(RTM_NEWLINK, 0, &body).is_err() {
                log::warn!(target: "dpif_netlink_rtnl", "setting MTU of tunnel {name} failed");
            }
        }
    }
    Ok(())
}

/// Deletes device `name`.
pub fn delete(name: &str) -> Result<()> {
    let mut body = ifinfomsg(0, 0, 0);
    let mut w = AttrWriter::new();
    w.put_str(IFLA_IFNAME, name);
    body.extend_from_slice(&w.finish()?);
    transact(RTM_DELLINK, 0, &body).map(|_| ())
}
