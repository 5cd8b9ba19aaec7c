//! Meters for the `meter` action: token buckets per band, in kilobits or
//! packets per second, with an optional burst size. A packet that exceeds
//! a band's rate is dropped (the only band type the datapath offers); the
//! band with the highest exceeded rate counts it.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most meters a datapath holds.
pub const MAX_METERS: u32 = 65536;
/// Most bands per meter.
pub const MAX_BANDS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandConfig {
    /// Kilobits or packets per second (see [`MeterConfig::pktps`]).
    pub rate: u32,
    /// Bucket size in kilobits or packets; 0 means one second's worth.
    pub burst_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterConfig {
    /// Rates count packets instead of kilobits.
    pub pktps: bool,
    pub bands: Vec<BandConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BandStats {
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterStats {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub bands: Vec<BandStats>,
}

struct Band {
    cfg: BandConfig,
    /// Tokens in milli-units (millibits... thousandths of a packet), so
    /// that refills at low rates do not round to nothing.
    tokens: u64,
    max: u64,
    stats: BandStats,
}

struct Meter {
    pktps: bool,
    bands: Vec<Band>,
    last_ms: u64,
    packets_in: u64,
    bytes_in: u64,
}

#[derive(Default)]
pub struct Meters {
    table: Mutex<HashMap<u32, Meter>>,
}

fn err(msg: &str) -> crate::DpifError {
    crate::DpifError::new(libc::EINVAL, msg)
}

impl Meters {
    pub fn set(&self, id: u32, cfg: &MeterConfig, now_ms: u64) -> crate::Result<()> {
        if id >= MAX_METERS {
            return Err(err("meter id out of range"));
        }
        if cfg.bands.is_empty() || cfg.bands.len() > MAX_BANDS {
            return Err(err("a meter needs 1 to 8 bands"));
        }
        if cfg.bands.iter().any(|b| b.rate == 0) {
            return Err(err("a band rate must not be zero"));
        }
        let bands = cfg
            .bands
            .iter()
            .map(|b| {
                let size = if b.burst_size == 0 {
                    b.rate
                } else {
                    b.burst_size
                };
                // Kilobits are counted in bits: x1000; tokens in milli-units: x1000.
                let unit = if cfg.pktps { 1000 } else { 1_000_000 };
                let max = u64::from(size) * unit;
                Band {
                    cfg: *b,
                    tokens: max,
                    max,
                    stats: BandStats::default(),
                }
            })
            .collect();
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.insert(
            id,
            Meter {
                pktps: cfg.pktps,
                bands,
                last_ms: now_ms,
                packets_in: 0,
                bytes_in: 0,
            },
        );
        Ok(())
    }

    pub fn del(&self, id: u32) -> Option<MeterStats> {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.remove(&id).map(|m| stats(&m))
    }

    pub fn get(&self, id: u32) -> Option<MeterStats> {
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.get(&id).map(stats)
    }

    /// Whether a packet of `len` bytes may pass meter `id` now. A meter
    /// that does not exist lets everything pass (as Open vSwitch does).
    pub fn pass(&self, id: u32, len: usize, now_ms: u64) -> bool {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Some(m) = t.get_mut(&id) else {
            return true;
        };
        let elapsed = now_ms.saturating_sub(m.last_ms);
        m.last_ms = now_ms;
        m.packets_in += 1;
        m.bytes_in += len as u64;
        let cost: u64 = if m.pktps { 1000 } else { len as u64 * 8 * 1000 };
        for b in m.bands.iter_mut() {
            // A rate per second is that many milli-units per millisecond
            // (packets), or rate x 1000 (kilobits counted in bits).
            let per_ms = if m.pktps {
                u64::from(b.cfg.rate)
            } else {
                u64::from(b.cfg.rate) * 1000
            };
            b.tokens = b
                .tokens
                .saturating_add(per_ms.saturating_mul(elapsed))
                .min(b.max);
        }
        let exceeded = m
            .bands
            .iter()
            .enumerate()
            .filter(|(_, b)| b.tokens < cost)
            .max_by_key(|(_, b)| b.cfg.rate)
            .map(|(i, _)| i);
        match exceeded {
            Some(i) => {
                if let Some(b) = m.bands.get_mut(i) {
                    b.stats.packets += 1;
                    b.stats.bytes += len as u64;
                }
                false
            }
            None => {
                for b in m.bands.iter_mut() {
                    b.tokens -= cost;
                }
                true
            }
        }
    }
}

fn stats(m: &Meter) -> MeterStats {
    MeterStats {
        packets_in: m.packets_in,
        bytes_in: m.bytes_in,
        bands: m.bands.iter().map(|b| b.stats).collect(),
    }
}
