//! Upcalls of the userspace datapath: a bounded queue from the poll
//! threads to whoever handles misses, with a descriptor that becomes
//! readable when upcalls wait (so a mio loop can poll it). A full queue
//! drops the upcall and counts it as lost, as the kernel does.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use ferrovs_netdev::dev::sys::EventFd;

use crate::Upcall;

/// Most upcalls waiting before new ones are lost.
pub const UPCALL_QUEUE_LEN: usize = 4096;

/// The sending side, shared by the datapath's threads.
pub struct UpcallQueue {
    tx: SyncSender<Upcall>,
    wake: Arc<EventFd>,
    pub lost: AtomicU64,
}

/// The receiving side, handed out once by `NetdevDpif::upcall_receiver`.
pub struct UpcallReceiver {
    rx: Receiver<Upcall>,
    wake: Arc<EventFd>,
}

pub fn channel() -> std::io::Result<(UpcallQueue, UpcallReceiver)> {
    let (tx, rx) = mpsc::sync_channel(UPCALL_QUEUE_LEN);
    let wake = Arc::new(EventFd::new()?);
    Ok((
        UpcallQueue {
            tx,
            wake: Arc::clone(&wake),
            lost: AtomicU64::new(0),
        },
        UpcallReceiver { rx, wake },
    ))
}

impl UpcallQueue {
    /// Queues an upcall; false (and counted lost) when nobody listens or
    /// the queue is full.
    pub fn send(&self, u: Upcall) -> bool {
        let ok = self.tx.try_send(u).is_ok();
        if ok {
            self.wake.signal();
        } else {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

impl UpcallReceiver {
    /// The next upcall, if one is waiting.
    pub fn try_recv(&self) -> Option<Upcall> {
        match self.rx.try_recv() {
            Ok(u) => Some(u),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {
                self.wake.drain();
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
    /// `try_recv` finds the queue empty).
    pub fn as_raw_fd(&self) -> RawFd {
        self.wake.raw_fd()
    }
}
