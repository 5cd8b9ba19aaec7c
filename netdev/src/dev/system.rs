//! `system`: an existing Linux interface, read and written through an
//! AF_PACKET socket with virtio-net headers, so that partial checksums and
//! TCP super-frames from veth pass through untouched (or get finished in
//! software when they must), and TX offload can stay on.

use std::io;
use std::os::fd::RawFd;

use super::sys::{self, PacketSocket, VNET_HDR_LEN};
use super::{vnet, with_scratch, Netdev, NetdevStats, StatsCounters};
use crate::packet::Packet;

pub struct SystemDev {
    name: String,
    ifindex: u32,
    sock: PacketSocket,
    stats: StatsCounters,
}

impl SystemDev {
    pub fn open(name: &str) -> io::Result<SystemDev> {
        let ifindex = sys::if_index(name)
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: no such device ({e})")))?;
        let sock = PacketSocket::open(ifindex)?;
        // Open vSwitch brings ports it adds up; do the same.
        sys::if_set_up(name)?;
        Ok(SystemDev {
            name: name.to_string(),
            ifindex,
            sock,
            stats: StatsCounters::default(),
        })
    }
}

impl Netdev for SystemDev {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &str {
        "system"
    }

    fn recv(&self, batch: &mut Vec<Packet>, max: usize) -> io::Result<usize> {
        let mut n = 0;
        while n < max {
            let mut hdr = [0u8; VNET_HDR_LEN];
            let info = match with_scratch(|buf| {
                self.sock
                    .recv(&mut hdr, buf)
                    .map(|i| (i, Packet::from_bytes(buf.get(..i.len).unwrap_or(&[]))))
            }) {
                Ok(i) => i,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return if n > 0 { Ok(n) } else { Err(e) },
            };
            let (info, mut pkt) = info;
            if info.outgoing {
                continue;
            }
            if info.truncated {
                self.stats.rx_dropped();
                continue;
            }
            let Some(off) = vnet::decode(&hdr) else {
                self.stats.rx_error();
                continue;
            };
            pkt.offload = off;
            if let Some((tpid, tci)) = info.vlan {
                // Put back the tag the kernel moved into metadata.
                let mut tag = [0u8; 4];
                tag[..2].copy_from_slice(&tpid.to_be_bytes());
                tag[2..].copy_from_slice(&tci.to_be_bytes());
                if !pkt.insert(12, &tag) {
                    self.stats.rx_error();
                    continue;
                }
            }
            self.stats.rx(pkt.len());
            batch.push(pkt);
            n += 1;
        }
        Ok(n)
    }

    fn send(&self, pkt: Packet) -> io::Result<()> {
        let hdr = vnet::encode(&pkt.offload);
        match self.sock.send(&hdr, pkt.data()) {
            Ok(()) => {
                self.stats.tx(pkt.len());
                Ok(())
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
                {
                    self.stats.tx_dropped();
                } else {
                    self.stats.tx_error();
                }
                Err(e)
            }
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.sock.raw_fd())
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
    fn ifindex(&self) -> Option<u32> {
        Some(self.ifindex)
    }
}
