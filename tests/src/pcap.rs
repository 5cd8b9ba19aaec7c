//! Reading the pcap files that dummy ports write (`options:tx_pcap`,
//! `options:rxq_pcap`): classic little-endian pcap, one record per frame.

use std::path::Path;

/// The frames of a pcap file, one hex line each (each line starts with a
/// newline; timestamps are left out, they differ from run to run);
/// "(no file)" when it cannot be read, and "(truncated)" after the last
/// whole frame when a record is cut short.
pub fn frames_hex(path: &Path) -> String {
    let Ok(b) = std::fs::read(path) else {
        return "(no file)".into();
    };
    let mut out = String::new();
    let mut at = 24;
    while let Some(h) = b.get(at..at + 16) {
        let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let Some(frame) = b.get(at + 16..at + 16 + len) else {
            out.push_str("(truncated)");
            break;
        };
        out.push('\n');
        for x in frame {
            out.push_str(&format!("{x:02x}"));
        }
        at += 16 + len;
    }
    out
}

/// How many whole frames a pcap file holds (0 when there is no file
/// yet): each of [`frames_hex`]'s frames starts with a newline.
pub fn frame_count(path: &Path) -> usize {
    frames_hex(path).matches('\n').count()
}
