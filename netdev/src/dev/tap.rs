//! `tap` and `internal`: a tap device named after the port, created by
//! this process (it disappears when the device is closed). The bridge's
//! LOCAL port is one. Frames carry virtio-net headers both ways, so the
//! host stack may hand us partial checksums and TCP super-frames.

use std::io;
use std::os::fd::RawFd;

use super::sys::{self, TapFd, VNET_HDR_LEN};
use super::{vnet, with_scratch, Netdev, NetdevStats, StatsCounters};
use crate::packet::Packet;

pub struct TapDev {
    name: String,
    kind: String,
    tap: TapFd,
    stats: StatsCounters,
}

impl TapDev {
    pub fn open(name: &str, kind: &str) -> io::Result<TapDev> {
        let tap = TapFd::open(name)
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: cannot create tap ({e})")))?;
        Ok(TapDev {
            name: name.to_string(),
            kind: kind.to_string(),
            tap,
            stats: StatsCounters::default(),
        })
    }
}

impl Netdev for TapDev {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &str {
        &self.kind
    }

    fn recv(&self, batch: &mut Vec<Packet>, max: usize) -> io::Result<usize> {
        let mut n = 0;
        while n < max {
            let mut hdr = [0u8; VNET_HDR_LEN];
            let mut pkt = match with_scratch(|buf| {
                self.tap
                    .recv(&mut hdr, buf)
                    .map(|n| Packet::from_bytes(buf.get(..n).unwrap_or(&[])))
            }) {
                Ok(l) => l,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EIO while the interface is down: nothing to read.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
                Err(e) => return if n > 0 { Ok(n) } else { Err(e) },
            };
            let Some(off) = vnet::decode(&hdr) else {
                self.stats.rx_error();
                continue;
            };
            pkt.offload = off;
            self.stats.rx(pkt.len());
            batch.push(pkt);
            n += 1;
        }
        Ok(n)
    }

    fn send(&self, pkt: Packet) -> io::Result<()> {
        let hdr = vnet::encode(&pkt.offload);
        match self.tap.send(&hdr, pkt.data()) {
            Ok(()) => {
                self.stats.tx(pkt.len());
                Ok(())
            }
            // A tap that is down refuses frames; that is a drop, not an error.
            Err(e)
                if e.raw_os_error() == Some(libc::EIO) || e.kind() == io::ErrorKind::WouldBlock =>
            {
                self.stats.tx_dropped();
                Ok(())
            }
            Err(e) => {
                self.stats.tx_error();
                Err(e)
            }
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.tap.raw_fd())
    }
    fn mtu(&self) -> io::Result<u32> {
        sys::if_mtu(&self.name)
    }
    fn mac(&self) -> io::Result<[u8; 6]> {
        sys::if_mac(&self.name)
    }
    fn is_up(&self) -> bool {
        sys::if_flags(&self.name).is_ok_and(|f| f & libc::IFF_RUNNING as u32 != 0)
    }
    fn stats(&self) -> NetdevStats {
        self.stats.get()
    }
    fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        sys::if_set_mtu(&self.name, mtu)
    }
    fn set_mac(&self, mac: [u8; 6]) -> io::Result<()> {
        sys::if_set_mac(&self.name, mac)
    }
    fn set_admin_up(&self, up: bool) -> io::Result<()> {
        sys::if_set_admin(&self.name, up)
    }
    fn ifindex(&self) -> Option<u32> {
        sys::if_index(&self.name).ok()
    }
}
