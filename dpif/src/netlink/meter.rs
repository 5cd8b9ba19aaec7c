//! The `ovs_meter` family: rate limiters that flows use through the
//! `meter` action. The kernel supports drop bands only.

use super::attrs::{split_ovs_header, stat_u64, AttrWriter, Attrs};
use super::consts::meter;
use super::socket::GenlBody;
use super::NetlinkDpif;
use crate::{DpifError, Result};

/// What the datapath's meters can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeterFeatures {
    pub max_meters: u32,
    pub max_bands: u32,
    /// Bit N set when band type N (OVS_METER_BAND_TYPE_*) is supported.
    pub band_types: u32,
}

/// A drop band: packets over `rate` (with `burst`) are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterBand {
    pub rate: u32,
    pub burst: u32,
}

/// A meter: rates in kilobits per second when `kbps`, else packets per
/// second.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterConfig {
    pub kbps: bool,
    pub bands: Vec<MeterBand>,
}

/// Packets and bytes a meter (and each of its bands) saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterStats {
    pub packets: u64,
    pub bytes: u64,
    /// (packets, bytes) dropped by each band, in order.
    pub bands: Vec<(u64, u64)>,
}

pub(super) fn parse_stats(body: &GenlBody) -> Result<MeterStats> {
    let (_, rest) = split_ovs_header(&body.bytes)?;
    let a = Attrs::parse(rest)?;
    let mut out = MeterStats::default();
    if let Some(s) = a.get(meter::ATTR_STATS) {
        out.packets = stat_u64(s, 0);
        out.bytes = stat_u64(s, 1);
    }
    if let Some(bands) = a.get(meter::ATTR_BANDS) {
        for (_, band) in Attrs::parse(bands)?.iter() {
            let b = Attrs::parse(band)?;
            let s = b.get(meter::BAND_ATTR_STATS).unwrap_or(&[]);
            out.bands.push((stat_u64(s, 0), stat_u64(s, 1)));
        }
    }
    Ok(out)
}

/// The reply to OVS_METER_CMD_FEATURES.
pub(super) fn parse_features(reply: &GenlBody) -> Result<MeterFeatures> {
    let (_, rest) = split_ovs_header(&reply.bytes)?;
    let a = Attrs::parse(rest)?;
    let mut f = MeterFeatures {
        max_meters: a.u32(meter::ATTR_MAX_METERS, "max meters")?.unwrap_or(0),
        max_bands: a.u32(meter::ATTR_MAX_BANDS, "max bands")?.unwrap_or(0),
        band_types: 0,
    };
    if let Some(bands) = a.get(meter::ATTR_BANDS) {
        for (_, band) in Attrs::parse(bands)?.iter() {
            if let Some(t) = Attrs::parse(band)?.u32(meter::BAND_ATTR_TYPE, "band type")? {
                f.band_types |= 1u32.checked_shl(t).unwrap_or(0);
            }
        }
    }
    Ok(f)
}

impl NetlinkDpif {
    fn meter_request(
        &mut self,
        command: u8,
        id: Option<u32>,
        build: impl FnOnce(&mut AttrWriter),
    ) -> Result<Option<GenlBody>> {
        let family = self.netlink().families().meter.ok_or_else(|| {
            DpifError::new(libc::EOPNOTSUPP, "the kernel has no ovs_meter family")
        })?;
        let mut w = AttrWriter::with_ovs_header(self.dp_ifindex());
        if let Some(id) = id {
            w.put_u32(meter::ATTR_ID, id);
        }
        build(&mut w);
        let body = w.finish()?;
        let nl = self.netlink();
        let request = nl.request(family, meter::VERSION, command, body);
        nl.sock.transact(&request)
    }

    pub fn meter_features(&mut self) -> Result<MeterFeatures> {
        let reply = self
            .meter_request(meter::CMD_FEATURES, None, |_| {})?
            .ok_or_else(|| DpifError::new(libc::EPROTO, "no meter features reply"))?;
        parse_features(&reply)
    }

    /// Adds or replaces meter `id`.
    pub fn meter_set(&mut self, id: u32, config: &MeterConfig) -> Result<()> {
        self.meter_request(meter::CMD_SET, Some(id), |w| {
            if config.kbps {
                w.put_flag(meter::ATTR_KBPS);
            }
            let bands = w.begin_nested(meter::ATTR_BANDS);
            for b in &config.bands {
                let band = w.begin_nested(0);
                w.put_u32(meter::BAND_ATTR_TYPE, meter::BAND_TYPE_DROP);
                w.put_u32(meter::BAND_ATTR_RATE, b.rate);
                w.put_u32(meter::BAND_ATTR_BURST, b.burst);
                w.end_nested(band);
            }
            w.end_nested(bands);
        })
        .map(|_| ())
    }

    pub fn meter_get(&mut self, id: u32) -> Result<MeterStats> {
        let reply = self
            .meter_request(meter::CMD_GET, Some(id), |_| {})?
            .ok_or_else(|| DpifError::new(libc::EPROTO, "no meter reply"))?;
        parse_stats(&reply)
    }

    /// Deletes meter `id`; returns its final statistics.
    pub fn meter_del(&mut self, id: u32) -> Result<MeterStats> {
        match self.meter_request(meter::CMD_DEL, Some(id), |_| {})? {
            Some(reply) => parse_stats(&reply),
            None => Ok(MeterStats::default()),
        }
    }
}
