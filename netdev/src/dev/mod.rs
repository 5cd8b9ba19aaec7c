//! Network devices behind one trait, [`Netdev`], with one provider per
//! kind (the split of Open vSwitch's netdev-provider): `system` (an
//! existing Linux interface through an AF_PACKET socket), `tap` and
//! `internal` (a tap device this process creates), `dummy` (no kernel
//! object at all; packets injected and captured in memory).
//!
//! Devices are shared between the datapath's poll thread (receive) and
//! whoever outputs to them, so every method takes `&self`.

pub mod dummy;
pub mod ring;
pub mod sys;
pub mod system;
pub mod tap;
mod vnet;
pub mod vport;

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::packet::{Packet, DEFAULT_HEADROOM};

pub use dummy::DummyDev;
pub use system::{RxPath, SystemDev};
pub use tap::TapDev;
pub use vport::TunnelDev;

/// Largest frame a device reads (a GSO super-frame plus headers).
pub const MAX_FRAME: usize = 65536 + 128;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; MAX_FRAME]);
}

thread_local! {
    static SCRATCH_BATCH: std::cell::RefCell<Vec<(Vec<u8>, [u8; sys::VNET_HDR_LEN])>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty receive buffer: DEFAULT_HEADROOM zero bytes, and room for a
/// MAX_FRAME frame after them (not initialized: the kernel writes it).
pub(crate) fn rx_buffer() -> Vec<u8> {
    let mut b = Vec::with_capacity(DEFAULT_HEADROOM + MAX_FRAME);
    b.resize(DEFAULT_HEADROOM, 0);
    b
}

/// Runs `f` with this thread's `n` receive buffers for batched receive,
/// each as `rx_buffer` makes it (and made so again after `f`: a buffer
/// `f` took stays taken, and is replaced).
pub(crate) fn with_scratch_batch<R>(
    n: usize,
    f: impl FnOnce(&mut [(Vec<u8>, [u8; sys::VNET_HDR_LEN])]) -> R,
) -> R {
    SCRATCH_BATCH.with(|s| {
        let mut v = s.borrow_mut();
        while v.len() < n {
            v.push((rx_buffer(), [0; sys::VNET_HDR_LEN]));
        }
        let r = f(&mut v[..n]);
        for (b, _) in v[..n].iter_mut() {
            if b.capacity() < DEFAULT_HEADROOM + MAX_FRAME {
                *b = rx_buffer();
            } else {
                b.truncate(DEFAULT_HEADROOM);
            }
        }
        r
    })
}

/// Runs `f` with this thread's receive buffer (MAX_FRAME bytes), so that
/// receiving a small frame costs a copy of its length, not a fresh
/// 64 KiB buffer.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// Device counters, as the Interface table's `statistics` column names
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetdevStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// Counters a device updates from several threads.
#[derive(Debug, Default)]
pub struct StatsCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
    tx_errors: AtomicU64,
}

impl StatsCounters {
    pub fn rx(&self, bytes: usize) {
        self.rx_packets.fetch_add(1, Ordering::Relaxed);
        self.rx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub fn tx(&self, bytes: usize) {
        self.tx_packets.fetch_add(1, Ordering::Relaxed);
        self.tx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub fn rx_dropped(&self) {
        self.rx_dropped.fetch_add(1, Ordering::Relaxed);
    }
    pub fn rx_error(&self) {
        self.rx_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn tx_dropped(&self) {
        self.tx_dropped.fetch_add(1, Ordering::Relaxed);
    }
    pub fn tx_error(&self) {
        self.tx_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> NetdevStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NetdevStats {
            rx_packets: l(&self.rx_packets),
            rx_bytes: l(&self.rx_bytes),
            rx_dropped: l(&self.rx_dropped),
            rx_errors: l(&self.rx_errors),
            tx_packets: l(&self.tx_packets),
            tx_bytes: l(&self.tx_bytes),
            tx_dropped: l(&self.tx_dropped),
            tx_errors: l(&self.tx_errors),
        }
    }
}

/// A network device the userspace datapath reads from and writes to.
pub trait Netdev: Send + Sync {
    fn name(&self) -> &str;
    /// The type as the Interface table spells it (`system`, `tap`,
    /// `internal`, `dummy`).
    fn kind(&self) -> &str;
    /// Appends up to `max` received frames to `batch`; returns how many.
    /// `Ok(0)` when nothing is waiting (never blocks).
    fn recv(&self, batch: &mut Vec<Packet>, max: usize) -> io::Result<usize>;
    /// Transmits a frame. A device that cannot take the offload work the
    /// packet carries finishes it first (`offload::finish`).
    fn send(&self, pkt: Packet) -> io::Result<()>;
    /// Transmits several frames, in order. Devices that can hand the
    /// kernel many frames per system call override this; errors are
    /// counted in the device statistics, not returned per frame. Leaves
    /// `pkts` empty, its room kept for the caller's next batch.
    fn send_batch(&self, pkts: &mut Vec<Packet>) {
        for p in pkts.drain(..) {
            let _ = self.send(p);
        }
    }
    /// A descriptor that becomes readable when `recv` has something.
    fn poll_fd(&self) -> Option<RawFd>;
    fn mtu(&self) -> io::Result<u32>;
    fn mac(&self) -> io::Result<[u8; 6]>;
    /// Link (carrier) up.
    fn is_up(&self) -> bool;
    fn stats(&self) -> NetdevStats;
    /// Sets the MTU (Interface `mtu_request`).
    fn set_mtu(&self, _mtu: u32) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
    }
    /// Sets the Ethernet address (the bridge's local port takes the
    /// bridge's).
    fn set_mac(&self, _mac: [u8; 6]) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
    }
    /// Administrative state (up or down).
    fn set_admin_up(&self, _up: bool) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
    }
    /// The tunnel a tunnel port terminates (kind and UDP port).
    fn tunnel(&self) -> Option<(crate::tunnel::TunnelKind, u16)> {
        None
    }
    /// The kernel's interface index, for devices that are kernel objects.
    fn ifindex(&self) -> Option<u32> {
        None
    }
}

/// Opens a device of type `kind` (`system`, `tap`, `internal` or
/// `dummy`). `internal` is a tap device, as in Open vSwitch's userspace
/// datapath.
pub fn open(name: &str, kind: &str) -> io::Result<Arc<dyn Netdev>> {
    Ok(match kind {
        "system" | "" => Arc::new(SystemDev::open(name)?),
        "tap" | "internal" => Arc::new(TapDev::open(name, kind)?),
        "dummy" | "dummy-internal" | "dummy-pmd" => Arc::new(DummyDev::new(name)?),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{name}: netdev type {kind} is not supported"),
            ))
        }
    })
}
