//! Handler sockets: where the kernel sends upcalls.
//!
//! Each handler thread owns one [`UpcallSocket`]. The datapath learns their
//! port ids in one of two ways ([`super::NetlinkDpif::set_upcall_pids_per_cpu`]
//! or [`super::NetlinkDpif::set_upcall_pids_per_vport`]): per CPU (the CPU
//! that received the packet picks the socket; OVS_DP_F_DISPATCH_UPCALL_PER_CPU)
//! or per port (each vport lists the sockets its packets go to).

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::packet::parse_upcall;
use super::socket::{GenlSocket, Received};
use crate::{Result, Upcall};

/// A netlink socket that receives upcalls. Not tied to a datapath: the
/// datapath is told its [`UpcallSocket::pid`].
#[derive(Debug)]
pub struct UpcallSocket {
    sock: GenlSocket,
    pending: Vec<Upcall>,
}

impl UpcallSocket {
    pub fn new() -> Result<Self> {
        Ok(UpcallSocket {
            sock: GenlSocket::new()?,
            pending: Vec::new(),
        })
    }

    /// The netlink port id to give the datapath.
    pub fn pid(&self) -> u32 {
        self.sock.pid()
    }

    /// The next upcall, waiting at most `timeout` (forever with `None`).
    /// `Ok(None)` when none came in time. Messages that are not upcalls are
    /// skipped; a malformed upcall is an error, and the next call goes on
    /// with the next message.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Option<Upcall>> {
        loop {
            if !self.pending.is_empty() {
                return Ok(Some(self.pending.remove(0)));
            }
            let Some(msgs) = self.sock.recv(timeout)? else {
                return Ok(None);
            };
            for m in msgs {
                if let Received::Message { body, .. } = m {
                    if let Some(up) = parse_upcall(&body)? {
                        self.pending.push(up);
                    }
                }
            }
        }
    }

    /// Non-blocking mode, for callers that poll the fd themselves (mio).
    pub fn set_non_blocking(&self, on: bool) -> Result<()> {
        self.sock.set_non_blocking(on)
    }
}

impl AsRawFd for UpcallSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
