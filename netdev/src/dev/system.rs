//! `system`: an existing Linux interface, read and written through an
//! AF_PACKET socket with virtio-net headers, so that partial checksums and
//! TCP super-frames from veth pass through untouched (or get finished in
//! software when they must), and TX offload can stay on.
//!
//! Receive goes through a TPACKET_V2 ring mapped from the socket
//! (ring.rs): the kernel copies each frame into a slot in the sender's
//! context, and the forwarding thread reads the slots without a system
//! call. Frames too large for a slot (GRO super-frames, jumbo frames) are
//! queued whole on the socket beside it and read with `recvmmsg`, into a
//! buffer the packet then keeps (no copy). `FERROVS_SYSTEM_RX=socket`
//! reads everything with `recvmmsg` (32 frames a call), as before the
//! ring; it is also the fallback when the ring cannot be set up. Send is
//! `sendmmsg` either way.
//!
//! Chosen by measurement (bench/ `forward`, 5 rounds, release build,
//! `--ferrovs-variant`; medians): the ring cuts the daemon's CPU time per
//! 60-byte frame by about a quarter (flood: 3.07 ms per 1000 frames
//! against 4.10 with `recvmmsg`; iperf3 UDP: 2.95 against 4.22), with TCP
//! throughput and ping round trips alike (2.7 against 2.5 Gbit/s; 151
//! against 129 us, within the spread; a second run: flood 2.91 against
//! 4.03 ms, 136 against 89 kpps). A TPACKET_V3 ring saved as much
//! CPU but its blocks are handed over by a jiffy timer (4 ms here): ping
//! took 1.6 ms; it was removed (see docs/design-notes.md). So was an
//! AF_XDP receive path (generic-mode XDP program redirecting to a
//! copy-mode AF_XDP socket, commit 5b76ca8): about 5% less CPU per
//! 60-byte frame than the ring (2.79 against 2.93 ms per 1000, spreads
//! touching), but frames of one UMEM chunk and no virtio-net header mean
//! no GRO super-frames and no partial checksums: TCP fell to 1.16 Gbit/s
//! against 3.27, at 4.5 times the CPU per GB.
//!
//! Other measured choices: GRO on veth ports (`enable_veth_gro`:
//! super-frames end to end, TCP 0.7 -> 1.1 Gbit/s), keeping freed packet
//! memory mapped (`sys::keep_freed_memory`: TCP 1.0 -> 2.0 Gbit/s), and
//! receiving super-frames without a copy. The forwarding thread's time is
//! mostly the kernel's (a veth runs the receiving namespace's stack in the
//! sender's context, so `sendmmsg` is mostly the far side's receive work),
//! which bounds the small-packet rate more than the receive API does.

use std::io;
use std::os::fd::RawFd;

use super::ring::{RingFrame, RxRing};
use super::sys::{self, PacketSocket, RecvInfo, VNET_HDR_LEN};
use super::{vnet, with_scratch_batch, Netdev, NetdevStats, StatsCounters};
use crate::packet::{Offload, Packet, DEFAULT_HEADROOM};

/// Most frames taken from the socket per system call.
const RECV_BATCH: usize = 32;
/// Frames up to this size are copied out of the receive buffer; larger
/// ones take it along (see `recv`).
const COPY_MAX: usize = 2048;

/// Environment variable that picks the receive path: `socket` for
/// `recvmmsg` alone; anything else (or unset) for the ring.
pub const RX_PATH_ENV: &str = "FERROVS_SYSTEM_RX";

/// How a system device receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxPath {
    /// `recvmmsg` on the packet socket, 32 frames a call.
    Socket,
    /// A TPACKET_V2 ring mapped from the packet socket (ring.rs), and
    /// `recvmsg` for the frames too large for its slots. The default.
    Ring,
}

impl RxPath {
    /// The path `RX_PATH_ENV` names.
    pub fn from_env() -> RxPath {
        match std::env::var(RX_PATH_ENV).as_deref() {
            Ok("socket") => RxPath::Socket,
            _ => RxPath::Ring,
        }
    }
}

pub struct SystemDev {
    name: String,
    ifindex: u32,
    sock: PacketSocket,
    /// The receive ring, when receiving through one.
    ring: Option<RxRing>,
    stats: StatsCounters,
    /// GRO was turned on by us (and is turned off again on close).
    gro_turned_on: bool,
}

impl SystemDev {
    pub fn open(name: &str) -> io::Result<SystemDev> {
        Self::open_rx(name, RxPath::from_env())
    }

    /// Opens `name`, receiving through `rx`.
    pub fn open_rx(name: &str, rx: RxPath) -> io::Result<SystemDev> {
        let ifindex = sys::if_index(name)
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: no such device ({e})")))?;
        // Open vSwitch brings ports it adds up; do the same, before the
        // socket binds: bound to a device that is down, a packet socket
        // holds an ENETDOWN error for its first send or receive.
        sys::if_set_up(name)?;
        let (sock, ring) = match rx {
            RxPath::Socket => (PacketSocket::open(ifindex)?, None),
            RxPath::Ring => match PacketSocket::open_with(ifindex, RxRing::attach) {
                Ok((s, r)) => (s, Some(r)),
                Err(e) => {
                    // E.g. a kernel without packet rings, or the locked
                    // memory limit: the socket alone still works.
                    log::warn!(target: "netdev_linux", "{name}: no receive ring ({e}), using recvmmsg");
                    (PacketSocket::open(ifindex)?, None)
                }
            },
        };
        Ok(SystemDev {
            name: name.to_string(),
            ifindex,
            sock,
            ring,
            stats: StatsCounters::default(),
            gro_turned_on: enable_veth_gro(name),
        })
    }
}

/// Turns GRO on for a veth port whose GRO is off (returns whether it did).
///
/// A NIC hands the stack (and so our socket) TCP segments merged into
/// super-frames: GRO is on by default there. A veth does not: it has GRO
/// only when asked, so every MTU-sized segment of a namespace's TCP stream
/// would cross the datapath on its own, with a system call share and a
/// trip through the receiving namespace's stack each. With GRO, the
/// super-frames travel end to end with their virtio-net header (partial
/// checksum, gso_size) and are cut only where a device needs that.
/// Measured with iperf3 between two namespaces (TX offload off in the
/// namespaces, as bench/ runs it): about 1.6x the TCP throughput.
fn enable_veth_gro(name: &str) -> bool {
    let is_veth = sys::ethtool_drvinfo(name).is_ok_and(|(driver, _, _)| driver == "veth");
    if !is_veth || sys::ethtool_gro(name).unwrap_or(true) {
        return false;
    }
    match sys::ethtool_set_gro(name, true) {
        Ok(()) => true,
        Err(e) => {
            log::debug!(target: "netdev_linux", "{name}: cannot turn GRO on: {e}");
            false
        }
    }
}

impl SystemDev {
    /// `recv` through `recvmmsg` on the socket.
    fn recv_socket(&self, batch: &mut Vec<Packet>, max: usize) -> io::Result<usize> {
        let want = max.min(RECV_BATCH);
        if want == 0 {
            return Ok(0);
        }
        let got = with_scratch_batch(
            want,
            |bufs| -> io::Result<Vec<(RecvInfo, Packet, Option<Offload>)>> {
                let infos = self.sock.recv_many(bufs)?;
                Ok(infos
                    .into_iter()
                    .zip(bufs.iter_mut())
                    .map(|(info, (buf, hdr))| {
                        // A small frame is copied into a packet of its
                        // size; a large one (a GRO or TSO super-frame)
                        // keeps the buffer it was received into, which
                        // is replaced.
                        let pkt = if info.len > COPY_MAX {
                            Packet::from_buffer(std::mem::take(buf), DEFAULT_HEADROOM)
                        } else {
                            Packet::from_bytes(buf.get(DEFAULT_HEADROOM..).unwrap_or(&[]))
                        };
                        (info, pkt, vnet::decode(hdr))
                    })
                    .collect())
            },
        )?;
        let mut n = 0;
        for (info, mut pkt, off) in got {
            if info.outgoing {
                continue;
            }
            if info.truncated {
                self.stats.rx_dropped();
                continue;
            }
            let Some(off) = off else {
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

    /// `recv` through the ring: each frame is copied out of it (and its
    /// place given back to the kernel); one the ring holds only part of
    /// is read from the socket, where the kernel queued it whole.
    fn recv_ring(&self, ring: &RxRing, batch: &mut Vec<Packet>, max: usize) -> io::Result<usize> {
        let mut n = 0;
        let mut err = None;
        let mut take = |f: RingFrame<'_>| {
            if f.on_socket {
                // Whatever it is, take it off the socket's queue (which
                // holds exactly these frames, in ring order): a frame
                // left there would keep the socket readable.
                match self.recv_socket(batch, 1) {
                    Ok(k) => n += k,
                    Err(e) => err = Some(e),
                }
                return;
            }
            if f.outgoing {
                return;
            }
            if f.truncated {
                self.stats.rx_dropped();
                return;
            }
            let Some(off) = vnet::decode(&f.vnet) else {
                self.stats.rx_error();
                return;
            };
            let mut pkt = Packet::from_bytes(f.data);
            // Before the tag goes back in: inserting it moves the
            // checksum and header offsets the offload information holds.
            pkt.offload = off;
            if let Some((tpid, tci)) = f.vlan {
                // Put back the tag the kernel moved into metadata.
                let mut tag = [0u8; 4];
                tag[..2].copy_from_slice(&tpid.to_be_bytes());
                tag[2..].copy_from_slice(&tci.to_be_bytes());
                if !pkt.insert(12, &tag) {
                    self.stats.rx_error();
                    return;
                }
            }
            self.stats.rx(pkt.len());
            batch.push(pkt);
            n += 1;
        };
        ring.recv(max, &mut take);
        match err {
            Some(e) if n == 0 => Err(e),
            _ => Ok(n),
        }
    }
}

impl Drop for SystemDev {
    fn drop(&mut self) {
        if self.gro_turned_on {
            // The device may be gone already; then there is nothing to undo.
            let _ = sys::ethtool_set_gro(&self.name, false);
        }
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
        match &self.ring {
            Some(ring) => self.recv_ring(ring, batch, max),
            None => self.recv_socket(batch, max),
        }
    }

    fn send_batch(&self, pkts: &mut Vec<Packet>) {
        // Each packet's virtio-net header goes into its headroom, right
        // in front of the frame, so a message is one contiguous buffer.
        for p in pkts.iter_mut() {
            let hdr = vnet::encode(&p.offload);
            if let Some(h) = p.push_front(VNET_HDR_LEN).get_mut(..VNET_HDR_LEN) {
                h.copy_from_slice(&hdr);
            }
        }
        let msgs = &pkts[..];
        let mut done = 0;
        while done < msgs.len() {
            let (sent, err) = self.sock.send_many(&msgs[done..]);
            for m in &msgs[done..done + sent] {
                self.stats.tx(m.len().saturating_sub(VNET_HDR_LEN));
            }
            done += sent;
            match err {
                None => break,
                Some(e) => {
                    // The frame at `done` failed: count it and go on.
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS)
                    {
                        self.stats.tx_dropped();
                    } else {
                        self.stats.tx_error();
                    }
                    done += 1;
                }
            }
        }
        pkts.clear();
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
        Some(self.ifindex)
    }
}
