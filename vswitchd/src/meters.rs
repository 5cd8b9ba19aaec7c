//! OpenFlow meters in the userspace datapath: the OpenFlow service
//! allocates a datapath meter id for each meter and calls this hook with
//! each change, which installs it in the datapath (drop bands; the
//! datapath has no DSCP remarking, as stock's userspace datapath).

use ferrovs_dpif::netdev::meter::{BandConfig, MeterConfig};
use ferrovs_dpif::netdev::NetdevControl;
use ferrovs_ofproto::xlate::meter::{MeterChange, MeterHook};
use std::sync::Arc;

/// OFPMF_PKTPS and OFPMF_BURST.
const PKTPS: u16 = 2;
const BURST: u16 = 4;
/// OFPMBT_DROP.
const BAND_DROP: u16 = 1;

/// The hook for one bridge whose datapath is `ctl`'s.
pub fn hook(bridge: &str, ctl: NetdevControl) -> MeterHook {
    let bridge = bridge.to_string();
    Arc::new(move |change| match change {
        MeterChange::Set { id, meter } => {
            let cfg = MeterConfig {
                pktps: meter.flags & PKTPS != 0,
                bands: meter
                    .bands
                    .iter()
                    .filter(|b| b.band_type == BAND_DROP)
                    .map(|b| BandConfig {
                        rate: b.rate,
                        burst_size: if meter.flags & BURST != 0 {
                            b.burst_size
                        } else {
                            0
                        },
                    })
                    .collect(),
            };
            if let Err(e) = ctl.meter_set(id, &cfg) {
                log::warn!(target: "ofproto_dpif", "{bridge}: meter {}: {e}", meter.id);
            }
        }
        MeterChange::Delete { id } => {
            let _ = ctl.meter_del(id);
        }
    })
}
