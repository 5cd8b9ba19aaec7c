//! Port change notifications: the `ovs_vport` multicast group, where the
//! kernel announces every port added, deleted or changed in any datapath.

use std::time::Duration;

use super::consts::cmd;
use super::socket::{GenlBody, GenlSocket, Received};
use super::vport::VportInfo;
use super::Netlink;
use crate::{DpifError, Result};

/// What happened to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChangeKind {
    Added,
    Deleted,
    Changed,
}

/// One notification: the change and the port as it was announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChange {
    pub kind: PortChangeKind,
    pub port: VportInfo,
}

/// A socket subscribed to port changes.
#[derive(Debug)]
pub struct PortWatcher {
    sock: GenlSocket,
    pending: Vec<PortChange>,
}

impl PortWatcher {
    pub fn new() -> Result<Self> {
        let nl = Netlink::open()?;
        let group = nl.families().vport_mcgroup.ok_or_else(|| {
            DpifError::new(
                libc::EOPNOTSUPP,
                "the ovs_vport family has no multicast group",
            )
        })?;
        let sock = GenlSocket::new()?;
        sock.add_membership(group)?;
        Ok(PortWatcher {
            sock,
            pending: Vec::new(),
        })
    }

    /// The next change, waiting at most `timeout` (forever with `None`);
    /// `Ok(None)` if none came in time. A lost notification (the socket
    /// overflowed) is reported as ENOBUFS: the caller should re-read the
    /// ports.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Option<PortChange>> {
        loop {
            if !self.pending.is_empty() {
                return Ok(Some(self.pending.remove(0)));
            }
            let Some(msgs) = self.sock.recv(timeout)? else {
                return Ok(None);
            };
            for m in msgs {
                if let Received::Message { body, .. } = m {
                    if let Some(change) = port_change(&body) {
                        self.pending.push(change?);
                    }
                }
            }
        }
    }
}

/// A notification of the `ovs_vport` multicast group; `None` for commands
/// that are not port changes.
pub(super) fn port_change(body: &GenlBody) -> Option<Result<PortChange>> {
    let kind = match body.cmd {
        cmd::NEW => PortChangeKind::Added,
        cmd::DEL => PortChangeKind::Deleted,
        cmd::SET => PortChangeKind::Changed,
        _ => return None,
    };
    Some(VportInfo::parse(body).map(|port| PortChange { kind, port }))
}
