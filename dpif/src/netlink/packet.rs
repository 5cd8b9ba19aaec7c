//! The `ovs_packet` family: executing a packet with actions, and the
//! upcalls (MISS, ACTION) the kernel sends to handler sockets.

use super::attrs::{split_ovs_header, AttrWriter, Attrs};
use super::consts::{family, packet_attr, packet_cmd};
use super::socket::GenlBody;
use super::Netlink;
use crate::{DpifError, Execute, Result, Upcall, UpcallKind};

fn encode_execute(dp_ifindex: i32, exec: &Execute<'_>) -> Result<Vec<u8>> {
    let mut w = AttrWriter::with_ovs_header(dp_ifindex);
    w.put(packet_attr::PACKET, exec.packet);
    w.put(packet_attr::KEY, exec.key);
    w.put(packet_attr::ACTIONS, exec.actions);
    if exec.probe {
        w.put_flag(packet_attr::PROBE);
    }
    if exec.mru != 0 {
        w.put_u16(packet_attr::MRU, exec.mru);
    }
    w.finish()
}

/// Parses an upcall; `Ok(None)` for a message of this family that is not
/// one (nothing else should arrive on a handler socket, but it is not ours
/// to crash on).
pub fn parse_upcall(body: &GenlBody) -> Result<Option<Upcall>> {
    let kind = match body.cmd {
        packet_cmd::MISS => UpcallKind::Miss,
        packet_cmd::ACTION => UpcallKind::Action,
        _ => return Ok(None),
    };
    let (_, rest) = split_ovs_header(&body.bytes)?;
    let a = Attrs::parse(rest)?;
    let packet = a
        .get(packet_attr::PACKET)
        .ok_or_else(|| DpifError::new(libc::EPROTO, "upcall without a packet"))?;
    let key = a
        .get(packet_attr::KEY)
        .ok_or_else(|| DpifError::new(libc::EPROTO, "upcall without a flow key"))?;
    Ok(Some(Upcall {
        kind,
        packet: packet.to_vec(),
        key: key.to_vec(),
        userdata: a.get(packet_attr::USERDATA).map(<[u8]>::to_vec),
        egress_tun_key: a.get(packet_attr::EGRESS_TUN_KEY).map(<[u8]>::to_vec),
        mru: a.u16(packet_attr::MRU, "upcall MRU")?,
    }))
}

impl Netlink {
    /// Runs a packet through actions in the datapath `dp_ifindex`.
    pub fn packet_execute(&mut self, dp_ifindex: i32, exec: &Execute<'_>) -> Result<()> {
        let body = encode_execute(dp_ifindex, exec)?;
        let request = self.request(
            self.families.packet,
            family::PACKET_VERSION,
            packet_cmd::EXECUTE,
            body,
        );
        self.sock.transact(&request).map(|_| ())
    }
}
