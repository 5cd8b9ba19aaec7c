//! Tunnel ports (`vxlan`, `geneve`, `gre`) of the userspace datapath:
//! no device of their own. Packets enter them by `tnl_pop` (decapsulated
//! from another port) and leave by `tnl_push` (encapsulated and sent out
//! of another port); a plain output to one is dropped and counted.

use std::io;
use std::os::fd::RawFd;

use super::{Netdev, NetdevStats, StatsCounters};
use crate::packet::Packet;
use crate::tunnel::TunnelKind;

pub struct TunnelDev {
    name: String,
    kind_name: String,
    kind: TunnelKind,
    udp_port: u16,
    stats: StatsCounters,
}

impl TunnelDev {
    /// A tunnel port; `udp_port` 0 means the kind's default.
    pub fn new(name: &str, kind: TunnelKind, kind_name: &str, udp_port: u16) -> TunnelDev {
        TunnelDev {
            name: name.to_string(),
            kind_name: kind_name.to_string(),
            kind,
            udp_port: if udp_port == 0 {
                kind.default_port()
            } else {
                udp_port
            },
            stats: StatsCounters::default(),
        }
    }
}

impl Netdev for TunnelDev {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &str {
        &self.kind_name
    }
    fn recv(&self, _batch: &mut Vec<Packet>, _max: usize) -> io::Result<usize> {
        Ok(0)
    }
    fn send(&self, _pkt: Packet) -> io::Result<()> {
        self.stats.tx_dropped();
        Ok(())
    }
    fn poll_fd(&self) -> Option<RawFd> {
        None
    }
    fn mtu(&self) -> io::Result<u32> {
        Ok(1500)
    }
    fn mac(&self) -> io::Result<[u8; 6]> {
        Ok([0; 6])
    }
    fn is_up(&self) -> bool {
        true
    }
    fn stats(&self) -> NetdevStats {
        self.stats.get()
    }
    fn tunnel(&self) -> Option<(TunnelKind, u16)> {
        Some((self.kind, self.udp_port))
    }
}
