//! `dummy`: a device with no kernel object. Tests (and `netdev-dummy/*`
//! commands) inject frames that the datapath then receives, and take the
//! frames the datapath sent. A bounded queue each way.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use std::fs::File;
use std::sync::Arc;

use super::sys::EventFd;
use super::{Netdev, NetdevStats, StatsCounters};
use crate::offload;
use crate::packet::Packet;
use crate::pcap::PcapWriter;

/// Most frames held in either direction; more are dropped and counted.
pub const QUEUE_LIMIT: usize = 4096;

pub struct DummyDev {
    name: String,
    mac: Mutex<[u8; 6]>,
    mtu: std::sync::atomic::AtomicU32,
    up: AtomicBool,
    rx: Mutex<VecDeque<Packet>>,
    tx: Mutex<VecDeque<Packet>>,
    wake: EventFd,
    stats: StatsCounters,
    rx_pcap: Mutex<Option<SharedPcap>>,
    tx_pcap: Mutex<Option<SharedPcap>>,
    /// Addresses given by `netdev-dummy/ip4addr` / `ip6addr` (address,
    /// prefix length), for tunnel routing over dummy underlays.
    addrs: Mutex<Vec<(std::net::IpAddr, u8)>>,
}

/// A capture file, possibly shared by both directions (the `pcap`
/// option) or used by one (`rxq_pcap`, `tx_pcap`).
pub type SharedPcap = Arc<Mutex<PcapWriter<File>>>;

fn capture(slot: &Mutex<Option<SharedPcap>>, frame: &[u8]) {
    let w = slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(w) = w {
        let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = w.write(frame) {
            log::warn!("pcap write failed: {e}");
        }
    }
}

impl DummyDev {
    pub fn new(name: &str) -> io::Result<DummyDev> {
        // A stable locally administered MAC derived from the name.
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let hb = h.to_be_bytes();
        Ok(DummyDev {
            name: name.to_string(),
            mac: Mutex::new([0xaa, 0x55, hb[0], hb[1], hb[2], hb[3]]),
            mtu: std::sync::atomic::AtomicU32::new(1500),
            up: AtomicBool::new(true),
            rx: Mutex::new(VecDeque::new()),
            tx: Mutex::new(VecDeque::new()),
            wake: EventFd::new()?,
            stats: StatsCounters::default(),
            rx_pcap: Mutex::new(None),
            tx_pcap: Mutex::new(None),
            addrs: Mutex::new(Vec::new()),
        })
    }

    /// Queues a frame as if it had arrived on the wire.
    pub fn inject(&self, pkt: Packet) {
        let mut q = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= QUEUE_LIMIT {
            self.stats.rx_dropped();
            return;
        }
        q.push_back(pkt);
        self.wake.signal();
    }

    /// Takes every frame the datapath sent so far.
    pub fn take_sent(&self) -> Vec<Packet> {
        let mut q = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }

    /// Records received frames (`rx`) and sent frames (`tx`) in pcap
    /// files; the same path for both shares one file, as the `pcap`
    /// option does.
    pub fn set_pcap(&self, rx: Option<&str>, tx: Option<&str>) -> io::Result<()> {
        let open = |p: &str| -> io::Result<SharedPcap> {
            Ok(Arc::new(Mutex::new(PcapWriter::new(File::create(p)?)?)))
        };
        let rx_w = rx.map(open).transpose()?;
        let tx_w = match (tx, rx, &rx_w) {
            (Some(t), Some(r), Some(w)) if t == r => Some(Arc::clone(w)),
            (Some(t), _, _) => Some(open(t)?),
            (None, _, _) => None,
        };
        *self.rx_pcap.lock().unwrap_or_else(|e| e.into_inner()) = rx_w;
        *self.tx_pcap.lock().unwrap_or_else(|e| e.into_inner()) = tx_w;
        Ok(())
    }

    /// Adds an address (replacing one of the same family, as
    /// `netdev-dummy/ip4addr` does).
    pub fn set_addr(&self, addr: std::net::IpAddr, prefix: u8) {
        let mut a = self.addrs.lock().unwrap_or_else(|e| e.into_inner());
        a.retain(|(x, _)| x.is_ipv4() != addr.is_ipv4());
        a.push((addr, prefix));
    }

    pub fn addrs(&self) -> Vec<(std::net::IpAddr, u8)> {
        self.addrs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Administrative state (`netdev-dummy/set-admin-state`): a dummy
    /// that is down neither sends nor counts as up.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }
}

impl Netdev for DummyDev {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &str {
        "dummy"
    }

    fn recv(&self, batch: &mut Vec<Packet>, max: usize) -> io::Result<usize> {
        self.wake.drain();
        let mut q = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        while n < max {
            let Some(p) = q.pop_front() else { break };
            capture(&self.rx_pcap, p.data());
            self.stats.rx(p.len());
            batch.push(p);
            n += 1;
        }
        if !q.is_empty() {
            self.wake.signal();
        }
        Ok(n)
    }

    fn send(&self, pkt: Packet) -> io::Result<()> {
        if !self.up.load(Ordering::Relaxed) {
            self.stats.tx_dropped();
            return Ok(());
        }
        let mut done = Vec::new();
        offload::finish(pkt, &mut done);
        let mut q = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        for p in done {
            if q.len() >= QUEUE_LIMIT {
                self.stats.tx_dropped();
                continue;
            }
            capture(&self.tx_pcap, p.data());
            self.stats.tx(p.len());
            q.push_back(p);
        }
        Ok(())
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.wake.raw_fd())
    }
    fn mtu(&self) -> io::Result<u32> {
        Ok(self.mtu.load(Ordering::Relaxed))
    }
    fn mac(&self) -> io::Result<[u8; 6]> {
        Ok(*self.mac.lock().unwrap_or_else(|e| e.into_inner()))
    }
    fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        if !(68..=65535).contains(&mtu) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.mtu.store(mtu, Ordering::Relaxed);
        Ok(())
    }
    fn set_mac(&self, mac: [u8; 6]) -> io::Result<()> {
        *self.mac.lock().unwrap_or_else(|e| e.into_inner()) = mac;
        Ok(())
    }
    fn set_admin_up(&self, up: bool) -> io::Result<()> {
        self.set_up(up);
        Ok(())
    }
    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
    fn stats(&self) -> NetdevStats {
        self.stats.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_receive_send_capture() {
        let d = DummyDev::new("d0").unwrap();
        assert_eq!(d.mac().unwrap()[0], 0xaa);
        d.inject(Packet::from_bytes(&[1; 60]));
        let mut b = Vec::new();
        assert_eq!(d.recv(&mut b, 8).unwrap(), 1);
        assert_eq!(b[0].data(), &[1; 60][..]);
        d.send(Packet::from_bytes(&[2; 60])).unwrap();
        assert_eq!(d.take_sent().len(), 1);
        d.set_up(false);
        d.send(Packet::from_bytes(&[3; 60])).unwrap();
        assert!(d.take_sent().is_empty());
        assert!(!d.is_up());
        let s = d.stats();
        assert_eq!((s.rx_packets, s.tx_packets, s.tx_dropped), (1, 1, 1));
        d.set_mtu(9000).unwrap();
        assert_eq!(d.mtu().unwrap(), 9000);
        assert!(d.set_mtu(10).is_err());
        d.set_mac([2, 0, 0, 0, 0, 9]).unwrap();
        assert_eq!(d.mac().unwrap(), [2, 0, 0, 0, 0, 9]);
        d.set_addr("10.0.0.1".parse().unwrap(), 24);
        d.set_addr("10.0.0.2".parse().unwrap(), 16);
        d.set_addr("2001:db8::1".parse().unwrap(), 64);
        assert_eq!(d.addrs().len(), 2);
        assert!(d.addrs().contains(&("10.0.0.2".parse().unwrap(), 16)));
        // The queue is bounded.
        for _ in 0..QUEUE_LIMIT + 10 {
            d.inject(Packet::from_bytes(&[0; 14]));
        }
        assert_eq!(d.stats().rx_dropped, 10);
    }
}
