//! The classic pcap file format (Ethernet link type): a writer for the
//! `pcap`/`tx_pcap` options of dummy devices and a reader for
//! `rxq_pcap`. The reader treats the file as hostile: bad magic, a record
//! running past the end or an absurd length is an error, never a panic.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;
/// Largest record accepted when reading.
pub const MAX_RECORD: usize = 262_144;

pub struct PcapWriter<W: Write> {
    w: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut w: W) -> io::Result<PcapWriter<W>> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&(MAX_RECORD as u32).to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter { w })
    }

    /// Appends one frame stamped with the current time.
    pub fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let len = frame.len().min(MAX_RECORD);
        let mut h = Vec::with_capacity(16);
        h.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
        h.extend_from_slice(&t.subsec_micros().to_le_bytes());
        h.extend_from_slice(&(len as u32).to_le_bytes());
        h.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&frame[..len])?;
        self.w.flush()
    }

    pub fn into_inner(self) -> W {
        self.w
    }
}

/// Reads every frame of a pcap file.
pub fn parse(b: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let hdr = b.get(..24).ok_or("pcap file shorter than its header")?;
    let magic_le = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let magic_be = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let le = if magic_le == MAGIC || magic_le == MAGIC_NS {
        true
    } else if magic_be == MAGIC || magic_be == MAGIC_NS {
        false
    } else {
        return Err(format!("not a pcap file (magic {magic_le:#010x})"));
    };
    let u32_at = |off: usize| -> Option<u32> {
        let s = b.get(off..off + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let link = u32_at(20).unwrap_or(0);
    if link != LINKTYPE_ETHERNET {
        return Err(format!("pcap link type {link} is not Ethernet"));
    }
    let mut out = Vec::new();
    let mut pos = 24;
    while pos < b.len() {
        let caplen = u32_at(pos + 8).ok_or("pcap record header cut short")? as usize;
        if caplen > MAX_RECORD {
            return Err(format!("pcap record of {caplen} bytes is too large"));
        }
        let data = b
            .get(pos + 16..pos + 16 + caplen)
            .ok_or("pcap record runs past the end of the file")?;
        out.push(data.to_vec());
        pos += 16 + caplen;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_and_hostile_files() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(&[1, 2, 3]).unwrap();
        w.write(&[0xaa; 60]).unwrap();
        let file = w.into_inner();
        assert_eq!(parse(&file).unwrap(), vec![vec![1, 2, 3], vec![0xaa; 60]]);
        assert!(parse(&file[..file.len() - 1]).is_err());
        assert!(parse(&file[..10]).is_err());
        let mut bad = file.clone();
        bad[0] = 0;
        assert!(parse(&bad).is_err());
        let mut huge = file.clone();
        huge[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).is_err());
        for cut in 0..file.len() {
            let _ = parse(&file[..cut]);
        }
    }
}
