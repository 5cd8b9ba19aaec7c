//! Upcalls of the userspace datapath: bounded queues from the poll
//! threads to the handlers of misses, each with a descriptor that becomes
//! readable when upcalls wait (so a mio loop can poll it). With several
//! handlers, a flow's upcalls always go to the same one (chosen by a hash
//! of the flow's addresses and ports), as the kernel's per-flow dispatch
//! does. A full queue drops the upcall and counts it as lost.
//!
//! A [`MissHandler`] (the daemon's upcall handlers) may take the poll
//! threads' misses instead: the poll thread that found them calls it with
//! the misses of a pass and executes them with the actions it returns,
//! as Open vSwitch's poll threads translate their own misses (no queue,
//! no wake-up of another thread, no copy of the packet).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use ferrovs_netdev::dev::sys::EventFd;

use ferrovs_netdev::packet::Packet;

use ferrovs_netdev::flow::FlowKey;

use super::classifier::Megaflow;
use super::NetdevControl;
use crate::odp::Key;
use crate::Upcall;

/// A packet that matched no flow, handed to a [`MissHandler`].
pub struct Miss {
    /// The packet (with its metadata), executed after the handler ran.
    pub packet: Packet,
    /// The key the datapath extracted, netlink-encoded (as a MISS upcall
    /// carries it).
    pub key: Vec<u8>,
    /// The same key as attributes (what `key` encodes), so that
    /// translation need not decode `key`; a handler may take it.
    pub attrs: Key,
    /// The same key as the datapath parsed it (for
    /// [`NetdevControl::flow_put_extracted`]).
    pub flow: FlowKey,
    /// Which handler thread's queue the miss goes to if it is queued.
    pub(crate) hash: u32,
}

/// A flow a [`MissHandler`] installed (see
/// [`NetdevControl::flow_put_extracted`]).
pub struct InstalledFlow(pub(crate) Arc<Megaflow>);

/// What a poll thread does with a miss's packet after its handler ran.
pub enum MissVerdict {
    Drop,
    /// Execute it with these netlink actions.
    Actions(Vec<u8>),
    /// Execute it with the actions of this flow (already decoded).
    Flow(InstalledFlow),
}

/// Handles misses on the poll thread that found them.
pub trait MissHandler: Send + Sync {
    /// Installs the flows `misses` need (through `dp`, whose locks are
    /// not held) and returns, for each miss in order, what to execute its
    /// packet with. It may take the misses' keys (`Miss::key`). Runs on a
    /// poll thread, whose stack is [`super::datapath::POLL_THREAD_STACK`]:
    /// it must not take the provider's own lock (whoever holds it may be
    /// waiting for the poll threads to stop).
    fn handle_misses(&self, dp: &NetdevControl, misses: &mut [Miss]) -> Vec<MissVerdict>;
}

/// Most upcalls waiting before new ones are lost.
pub const UPCALL_QUEUE_LEN: usize = 4096;

/// The sending side, shared by the datapath's threads.
pub struct UpcallQueue {
    queues: std::sync::RwLock<Vec<Sender>>,
    pub lost: AtomicU64,
}

/// One handler's receiving side (see `NetdevDpif::upcall_receiver` and
/// `NetdevDpif::upcall_receivers`).
pub struct UpcallReceiver {
    rx: Receiver<Upcall>,
    wake: Arc<Wake>,
}

/// A receiver's wake-up descriptor, signalled only once someone asked for
/// it ([`UpcallReceiver::as_raw_fd`]): a handler that blocks on the
/// queue itself spares the poll thread a write per upcall.
struct Wake {
    fd: EventFd,
    armed: AtomicBool,
}

impl Wake {
    fn signal(&self) {
        if self.armed.load(Ordering::Acquire) {
            self.fd.signal();
        }
    }
}

/// The sending end of one handler's queue and its wake-up descriptor.
type Sender = (SyncSender<Upcall>, Arc<Wake>);

fn pair() -> std::io::Result<(Sender, UpcallReceiver)> {
    let (tx, rx) = mpsc::sync_channel(UPCALL_QUEUE_LEN);
    let wake = Arc::new(Wake {
        fd: EventFd::new()?,
        armed: AtomicBool::new(false),
    });
    Ok(((tx, Arc::clone(&wake)), UpcallReceiver { rx, wake }))
}

/// A queue with one receiver.
pub fn channel() -> std::io::Result<(UpcallQueue, UpcallReceiver)> {
    let (tx, rx) = pair()?;
    Ok((
        UpcallQueue {
            queues: std::sync::RwLock::new(vec![tx]),
            lost: AtomicU64::new(0),
        },
        rx,
    ))
}

impl UpcallQueue {
    /// Queues an upcall for the handler that `hash` picks; false (and
    /// counted lost) when nobody listens or that queue is full.
    pub fn send(&self, u: Upcall, hash: u32) -> bool {
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        let ok = match queues.get(hash as usize % queues.len().max(1)) {
            Some((tx, wake)) => {
                let ok = tx.try_send(u).is_ok();
                if ok {
                    wake.signal();
                }
                ok
            }
            None => false,
        };
        if !ok {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Replaces the receivers with `n` new ones (at least one); upcalls
    /// waiting in the old queues are dropped.
    pub fn reconfigure(&self, n: usize) -> std::io::Result<Vec<UpcallReceiver>> {
        let mut txs = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..n.max(1) {
            let (tx, rx) = pair()?;
            txs.push(tx);
            rxs.push(rx);
        }
        *self.queues.write().unwrap_or_else(|e| e.into_inner()) = txs;
        Ok(rxs)
    }
}

/// The handler a flow's upcalls go to: a hash of what identifies the
/// flow (ports, addresses, L4 ports), not of per-packet fields.
pub fn flow_hash(k: &ferrovs_netdev::FlowKey) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |v: u32| h = (h ^ v).wrapping_mul(0x0100_0193);
    mix(k.in_port);
    mix(k.recirc_id);
    mix(k.nw_src ^ (k.ipv6_src as u32) ^ ((k.ipv6_src >> 96) as u32));
    mix(k.nw_dst ^ (k.ipv6_dst as u32) ^ ((k.ipv6_dst >> 96) as u32));
    mix(u32::from(k.tp_src) << 16 | u32::from(k.tp_dst));
    mix(u32::from(k.nw_proto) << 16 | u32::from(k.eth_type));
    h ^ (h >> 16)
}

impl UpcallReceiver {
    /// The next upcall, if one is waiting.
    pub fn try_recv(&self) -> Option<Upcall> {
        match self.rx.try_recv() {
            Ok(u) => Some(u),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {
                self.wake.fd.drain();
                // An upcall may have come between the miss and the drain.
                self.rx.try_recv().ok()
            }
        }
    }

    /// Waits up to `timeout` for the next upcall.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Upcall> {
        match self.rx.recv_timeout(timeout) {
            Ok(u) => Some(u),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for the next upcall: up to `timeout`, or until one comes
    /// (`None`). `Ok(None)` on timeout; an error once the datapath is
    /// gone. (The same shape as the kernel provider's upcall socket.)
    pub fn recv(&self, timeout: Option<Duration>) -> crate::Result<Option<Upcall>> {
        let r = match timeout {
            Some(t) => self.rx.recv_timeout(t),
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match r {
            Ok(u) => Ok(Some(u)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                Err(crate::DpifError::new(libc::ENODEV, "the datapath is gone"))
            }
        }
    }

    /// Readable while upcalls may be waiting (level-triggered until
    /// `try_recv` finds the queue empty). From the first call on, every
    /// upcall signals it.
    pub fn as_raw_fd(&self) -> RawFd {
        if !self.wake.armed.swap(true, Ordering::AcqRel) {
            // Upcalls queued before did not signal: readable at once (a
            // `try_recv` that finds nothing drains it again).
            self.wake.fd.signal();
        }
        self.wake.fd.raw_fd()
    }
}
