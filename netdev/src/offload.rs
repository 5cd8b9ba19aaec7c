//! Finishing in software the work a sender left to the hardware: partial
//! L4 checksums (CHECKSUM_PARTIAL from veth and tap) and TCP segmentation
//! (GSO/TSO super-frames). The datapath calls this before a packet goes
//! anywhere that cannot take the work over (a device without a virtio-net
//! header, an upcall, an action that rewrites headers).

use crate::csum;
use crate::flow::extract;
use crate::packet::{Packet, GSO_NONE, GSO_TCPV4, GSO_TCPV6};
use crate::wire::*;

/// Completes a partial checksum in place: the field at
/// `csum_start + csum_offset` holds the pseudo-header sum; the sum over the
/// bytes from `csum_start` on, complemented, is the checksum. Returns false
/// (and leaves the packet alone) when the offsets point outside the frame.
pub fn complete_partial_csum(pkt: &mut Packet) -> bool {
    if !pkt.offload.csum_partial {
        return true;
    }
    let start = usize::from(pkt.offload.csum_start);
    let field = start + usize::from(pkt.offload.csum_offset);
    let d = pkt.data_mut();
    if field + 2 > d.len() {
        return false;
    }
    let Some(l4) = d.get(start..) else {
        return false;
    };
    let mut c = csum::checksum(l4);
    // A UDP checksum of zero means "none"; send its other form.
    if c == 0 && start + 6 == field {
        c = 0xffff;
    }
    put_be16(d, field, c);
    pkt.offload.csum_partial = false;
    true
}

/// Recomputes the TCP, UDP or ICMPv6 checksum of a frame from scratch.
/// `l3`/`l4` are the layer offsets and `proto` the L4 protocol (as the
/// flow key has it); the segment ends where the IP header says.
pub fn fill_l4_csum(d: &mut [u8], l3: usize, l4: usize, proto: u8) -> bool {
    let Some(&v) = d.get(l3) else {
        return false;
    };
    let (end, pseudo) = if v >> 4 == 4 {
        let Some(ip) = d.get(l3..).and_then(Ipv4Header::new_checked) else {
            return false;
        };
        let end = l3 + usize::from(ip.total_len());
        (
            end,
            csum::pseudo_v4(ip.src(), ip.dst(), proto, end.saturating_sub(l4)),
        )
    } else {
        let Some(ip) = d.get(l3..).and_then(Ipv6Header::new_checked) else {
            return false;
        };
        let end = l3 + 40 + usize::from(ip.payload_len());
        (
            end,
            csum::pseudo_v6(ip.src(), ip.dst(), proto, end.saturating_sub(l4)),
        )
    };
    let field = match proto {
        IPPROTO_TCP => 16,
        IPPROTO_UDP => 6,
        IPPROTO_ICMPV6 => 2,
        _ => return true,
    };
    if end > d.len() || l4 + field + 2 > end {
        return false;
    }
    put_be16(d, l4 + field, 0);
    let mut c = !csum::fold(csum::add(pseudo, &d[l4..end]));
    if c == 0 && proto == IPPROTO_UDP {
        c = 0xffff;
    }
    put_be16(d, l4 + field, c);
    true
}

/// Makes a packet self-contained: completes a partial checksum and cuts a
/// TCP super-frame into segments of at most `gso_size` payload bytes.
/// Pushes the result (one or more packets) to `out`; a super-frame that
/// cannot be segmented (headers not understood) is dropped and false
/// returned.
pub fn finish(mut pkt: Packet, out: &mut Vec<Packet>) -> bool {
    let gso = pkt.offload.gso_type;
    if gso == GSO_NONE || pkt.offload.gso_size == 0 {
        let ok = complete_partial_csum(&mut pkt);
        pkt.offload = Default::default();
        out.push(pkt);
        return ok;
    }
    if gso != GSO_TCPV4 && gso != GSO_TCPV6 {
        // UDP fragmentation offload: send it whole with a good checksum.
        let ok = complete_partial_csum(&mut pkt);
        pkt.offload = Default::default();
        out.push(pkt);
        return ok;
    }
    segment_tcp(pkt, out)
}

fn segment_tcp(pkt: Packet, out: &mut Vec<Packet>) -> bool {
    let mss = usize::from(pkt.offload.gso_size);
    let x = extract(pkt.data(), &pkt.meta);
    let (Some(l3), Some(l4)) = (x.layers.l3, x.layers.l4) else {
        return false;
    };
    let d = pkt.data();
    let Some(tcp) = d.get(l4..).and_then(TcpHeader::new_checked) else {
        return false;
    };
    let hdr_end = l4 + tcp.header_len();
    let v4 = x.key.eth_type == ETH_TYPE_IPV4;
    // Super-frames may carry a zero or stale length; IPv6 ones end with
    // the frame.
    let end = if v4 {
        l3 + d
            .get(l3..)
            .and_then(Ipv4Header::new_checked)
            .map_or(0, |ip| usize::from(ip.total_len()))
    } else {
        d.len()
    };
    if end > d.len() || end < hdr_end {
        return false;
    }
    let (headers, payload) = (&d[..hdr_end], &d[hdr_end..end]);
    let seq = be32(d, l4 + 4).unwrap_or(0);
    let flags = be16(d, l4 + 12).unwrap_or(0);
    let ip_id = be16(d, l3 + 4).unwrap_or(0);
    let n = payload.len().div_ceil(mss).max(1);
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(mss).collect()
    };
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut seg = Vec::with_capacity(hdr_end + chunk.len());
        seg.extend_from_slice(headers);
        seg.extend_from_slice(chunk);
        let last = i + 1 == n;
        put_be32(&mut seg, l4 + 4, seq.wrapping_add((i * mss) as u32));
        let mut f = flags;
        if !last {
            f &= !0x0009; // FIN, PSH only on the last segment
        }
        if i != 0 {
            f &= !0x0080; // CWR only on the first
        }
        put_be16(&mut seg, l4 + 12, f);
        if v4 {
            let tot = (seg.len() - l3) as u16;
            put_be16(&mut seg, l3 + 2, tot);
            put_be16(&mut seg, l3 + 4, ip_id.wrapping_add(i as u16));
            put_be16(&mut seg, l3 + 10, 0);
            let ihl = seg.get(l3).map_or(20, |v| usize::from(v & 0x0f) * 4);
            let c = csum::checksum(seg.get(l3..l3 + ihl).unwrap_or(&[]));
            put_be16(&mut seg, l3 + 10, c);
        } else {
            let plen = (seg.len() - l3 - 40) as u16;
            put_be16(&mut seg, l3 + 4, plen);
        }
        fill_l4_csum(&mut seg, l3, l4, IPPROTO_TCP);
        let mut p = Packet::from_bytes(&seg);
        p.meta = pkt.meta;
        out.push(p);
    }
    true
}
