//! The virtio-net header (`struct virtio_net_hdr`, 10 bytes, host byte
//! order) that AF_PACKET sockets with PACKET_VNET_HDR and tap devices with
//! IFF_VNET_HDR put in front of each frame, and its [`Offload`] form.

use super::sys::VNET_HDR_LEN;
use crate::packet::{Offload, GSO_NONE};

const F_NEEDS_CSUM: u8 = 1;
const GSO_ECN: u8 = 0x80;

/// Reads a header; `None` for one that claims a GSO type this code does
/// not know (the frame is then dropped).
pub fn decode(h: &[u8; VNET_HDR_LEN]) -> Option<Offload> {
    let w = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
    let gso_type = h[1] & !GSO_ECN;
    if gso_type > 5 || gso_type == 2 {
        return None;
    }
    Some(Offload {
        csum_partial: h[0] & F_NEEDS_CSUM != 0,
        hdr_len: w(2),
        gso_size: if gso_type == GSO_NONE { 0 } else { w(4) },
        csum_start: w(6),
        csum_offset: w(8),
        gso_type,
    })
}

pub fn encode(o: &Offload) -> [u8; VNET_HDR_LEN] {
    let mut h = [0u8; VNET_HDR_LEN];
    if o.csum_partial {
        h[0] = F_NEEDS_CSUM;
        h[6..8].copy_from_slice(&o.csum_start.to_ne_bytes());
        h[8..10].copy_from_slice(&o.csum_offset.to_ne_bytes());
    }
    if o.gso_type != GSO_NONE {
        h[1] = o.gso_type;
        h[2..4].copy_from_slice(&o.hdr_len.to_ne_bytes());
        h[4..6].copy_from_slice(&o.gso_size.to_ne_bytes());
    }
    h
}
