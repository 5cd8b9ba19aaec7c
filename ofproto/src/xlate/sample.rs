//! `sample(...)` (NXAST_SAMPLE, SAMPLE2, SAMPLE3): per-flow IPFIX
//! sampling. ferrovs has no IPFIX exporter, and without one Open vSwitch
//! translates the action to nothing; only its text is needed (the trace
//! lists it as ovs-ofctl prints it).

use crate::openflow::text::port_name;

fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |x| u16::from_be_bytes([x[0], x[1]]))
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
}

/// The action as ovs-ofctl prints it, from its wire bytes (`subtype` 29,
/// 38 or 41).
pub(super) fn text(subtype: u16, b: &[u8]) -> String {
    let mut s = format!(
        "sample(probability={},collector_set_id={},obs_domain_id={},obs_point_id={}",
        be16(b, 10),
        be32(b, 12),
        be32(b, 16),
        be32(b, 20)
    );
    if subtype != 29 {
        let port = be16(b, 24);
        if port != crate::openflow::actions::port::NONE {
            s.push_str(&format!(",sampling_port={}", port_name(port)));
        }
    }
    if subtype == 41 {
        match b.get(26) {
            Some(1) => s.push_str(",ingress"),
            Some(2) => s.push_str(",egress"),
            _ => {}
        }
    }
    s.push(')');
    s
}
