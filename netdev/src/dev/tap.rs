//! `tap` and `internal`: a tap device named after the port. The bridge's
//! LOCAL port is one. Frames carry virtio-net headers both ways, so the
//! host stack may hand us partial checksums and TCP super-frames.
//!
//! In the daemon, as in stock's userspace datapath, the tap is persistent
//! while the port exists ([`persistent_taps`]): a daemon that exits
//! without `--cleanup` (a restart, an upgrade, a crash) leaves it with its
//! addresses and routes, and takes it again when it starts. Closing the
//! port (deleted, its bridge deleted, `exit --cleanup`) deletes the
//! device, unless the process is exiting and has said so ([`keep_taps`]).

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sys::{self, TapFd, VNET_HDR_LEN};
pub use super::sys::{keep_taps, persistent_taps};
use super::{vnet, with_scratch, Netdev, NetdevStats, StatsCounters};
use crate::packet::Packet;

pub struct TapDev {
    name: String,
    kind: String,
    tap: TapFd,
    stats: StatsCounters,
    /// When the administrative state was last read (monotonic ms, shifted
    /// left by one) and whether it was up (bit 0): see `admin_up`.
    up_seen: AtomicU64,
}

/// How long a reading of the tap's administrative state is trusted.
const UP_STATE_TTL_MS: u64 = 50;

impl TapDev {
    pub fn open(name: &str, kind: &str) -> io::Result<TapDev> {
        let tap = TapFd::open(name)
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: cannot create tap ({e})")))?;
        Ok(TapDev {
            name: name.to_string(),
            kind: kind.to_string(),
            tap,
            stats: StatsCounters::default(),
            up_seen: AtomicU64::new(0),
        })
    }
}

impl TapDev {
    /// Whether the tap is administratively up, read at most every
    /// UP_STATE_TTL_MS. A tap that is down takes a frame, copies it, and
    /// only then refuses it (EIO): for a bridge's local port that nobody
    /// brought up, which flooding reaches with every packet, that copy
    /// was a fifth of the forwarding thread's time with 64 KiB
    /// super-frames. A frame sent in the first moments after `ip link set
    /// up` may be dropped, as frames are while a link comes up anyway.
    fn admin_up(&self) -> bool {
        let now = sys::monotonic_ms();
        let seen = self.up_seen.load(Ordering::Relaxed);
        if seen != 0 && now.saturating_sub(seen >> 1) < UP_STATE_TTL_MS {
            return seen & 1 != 0;
        }
        let up = sys::if_flags(&self.name).map_or(true, |f| f & libc::IFF_UP as u32 != 0);
        self.up_seen
            .store((now.max(1) << 1) | u64::from(up), Ordering::Relaxed);
        up
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

    fn send_batch(&self, pkts: &mut Vec<Packet>) {
        if !self.admin_up() {
            for _ in pkts.drain(..) {
                self.stats.tx_dropped();
            }
            return;
        }
        for p in pkts.drain(..) {
            let _ = self.send(p);
        }
    }

    fn send(&self, pkt: Packet) -> io::Result<()> {
        if !self.admin_up() {
            self.stats.tx_dropped();
            return Ok(());
        }
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
        self.up_seen.store(0, Ordering::Relaxed);
        sys::if_set_admin(&self.name, up)
    }
    fn ifindex(&self) -> Option<u32> {
        sys::if_index(&self.name).ok()
    }
}
