//! Meters (OpenFlow 1.3+): the meter_mod message and the meter
//! configuration, statistics and features replies. The limits are those
//! of Open vSwitch's userspace datapath, which will enforce them.

use super::error_table::OfpErr;
use super::wire::{Put, Reader};

/// Meters a bridge may hold.
pub const MAX_METERS: u32 = 1 << 18;
/// Bands a meter may have.
pub const MAX_BANDS: usize = 8;
/// OFPM13_MAX and the special meter ids.
pub const ID_MAX: u32 = 0xffff_0000;
pub const ID_SLOWPATH: u32 = 0xffff_fffd;
pub const ID_CONTROLLER: u32 = 0xffff_fffe;
pub const ID_ALL: u32 = 0xffff_ffff;
/// kbps, pktps, burst, stats.
const SUPPORTED_FLAGS: u16 = 0xf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    /// 1 drop, 2 dscp_remark.
    pub band_type: u16,
    pub rate: u32,
    pub burst_size: u32,
    pub prec_level: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub id: u32,
    pub flags: u16,
    pub bands: Vec<Band>,
}

/// A decoded and validated meter_mod: command 0 add, 1 modify, 2 delete.
#[derive(Debug, Clone)]
pub struct MeterMod {
    pub command: u16,
    pub meter: Meter,
}

pub fn decode_mod(body: &[u8]) -> Result<MeterMod, OfpErr> {
    let e = OfpErr::OFPBRC_BAD_LEN;
    let mut r = Reader::new(body);
    let command = r.u16().ok_or(e)?;
    let flags = r.u16().ok_or(e)?;
    let id = r.u32().ok_or(e)?;
    if command > 2 {
        return Err(OfpErr::OFPMMFC_BAD_COMMAND);
    }
    if command == 2 {
        return Ok(MeterMod {
            command,
            meter: Meter {
                id,
                flags: 0,
                bands: Vec::new(),
            },
        });
    }
    if flags & 1 != 0 && flags & 2 != 0 {
        return Err(OfpErr::OFPMMFC_BAD_FLAGS);
    }
    let mut bands = Vec::new();
    while r.len() >= 16 {
        let band_type = r.u16().ok_or(e)?;
        let len = r.u16().ok_or(e)?;
        if len != 16 {
            return Err(OfpErr::OFPBRC_BAD_LEN);
        }
        if band_type != 1 && band_type != 2 {
            return Err(OfpErr::OFPMMFC_BAD_BAND);
        }
        let rate = r.u32().ok_or(e)?;
        let burst_size = r.u32().ok_or(e)?;
        let prec = r.u8().ok_or(e)?;
        r.skip(3).ok_or(e)?;
        bands.push(Band {
            band_type,
            rate,
            burst_size,
            prec_level: if band_type == 2 { prec } else { 0 },
        });
    }
    if !r.is_empty() {
        return Err(OfpErr::OFPBRC_BAD_LEN);
    }
    if id == 0 || (id > ID_MAX && id != ID_SLOWPATH && id != ID_CONTROLLER) {
        return Err(OfpErr::OFPMMFC_INVALID_METER);
    }
    if bands.len() > MAX_BANDS {
        return Err(OfpErr::OFPMMFC_OUT_OF_BANDS);
    }
    Ok(MeterMod {
        command,
        meter: Meter { id, flags, bands },
    })
}

/// What the datapath can do, checked once the meter table accepted the
/// change (as stock checks it when it installs the meter).
pub fn datapath_check(m: &Meter) -> Result<(), OfpErr> {
    if m.flags & !SUPPORTED_FLAGS != 0 {
        return Err(OfpErr::OFPMMFC_BAD_FLAGS);
    }
    if m.bands.iter().any(|b| b.band_type != 1) {
        return Err(OfpErr::OFPMMFC_BAD_BAND);
    }
    if m.bands.iter().any(|b| b.rate == 0) {
        return Err(OfpErr::OFPMMFC_BAD_RATE);
    }
    Ok(())
}

fn put_bands(m: &Meter, out: &mut Vec<u8>) {
    for b in &m.bands {
        out.put_u16(b.band_type);
        out.put_u16(16);
        out.put_u32(b.rate);
        out.put_u32(b.burst_size);
        out.put_u8(b.prec_level);
        out.put_zeros(3);
    }
}

/// One meter configuration entry.
pub fn encode_config(m: &Meter, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u16(0);
    out.put_u16(m.flags);
    out.put_u32(m.id);
    put_bands(m, out);
    let len = out.len() - start;
    out.set_u16(start, len as u16);
}

/// One meter statistics entry (counters come from the datapath).
pub fn encode_stats(m: &Meter, flow_count: u32, age: std::time::Duration, out: &mut Vec<u8>) {
    out.put_u32(m.id);
    out.put_u16(40 + 16 * m.bands.len() as u16);
    out.put_zeros(6);
    out.put_u32(flow_count);
    out.put_u64(0);
    out.put_u64(0);
    out.put_u32(age.as_secs() as u32);
    out.put_u32(age.subsec_millis() * 1_000_000);
    for _ in &m.bands {
        out.put_u64(0);
        out.put_u64(0);
    }
}

/// The meter features reply body.
pub fn encode_features(out: &mut Vec<u8>) {
    out.put_u32(MAX_METERS);
    out.put_u32(1 << 1);
    out.put_u32(SUPPORTED_FLAGS as u32);
    out.put_u8(MAX_BANDS as u8);
    out.put_u8(0);
    out.put_zeros(2);
}
