//! A memory-mapped receive ring (TPACKET_V2) on an AF_PACKET socket: the
//! kernel copies each frame (virtio-net header and all) into a slot of the
//! ring in the sender's context and marks the slot ours, waking the
//! reader frame by frame; the reader walks the slots it owns without a
//! system call and gives each back when done. A frame larger than a slot
//! (a GRO super-frame, a jumbo frame) is flagged in its slot and queued
//! whole on the socket (PACKET_COPY_THRESH), where `recvmsg` takes it.
//!
//! Why V2 and not V3 (measured, see the `system` provider): V3 packs
//! frames into large blocks handed over when full or when a timer
//! retires them, and that timer runs in jiffies (4 ms with HZ=250): ping
//! through the switch took 1.6 ms instead of 0.15.
//!
//! Layout facts (from <linux/if_packet.h>): a slot starts with a
//! `tpacket2_hdr` (status at 0, len at 4, snaplen at 8, mac offset at 12,
//! VLAN TCI at 24 and TPID at 26), then a `sockaddr_ll` at the header's
//! aligned length (packet type at 10); with PACKET_VNET_HDR the
//! virtio-net header sits right before the frame.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::sys::{setsockopt_int, VNET_HDR_LEN};

/// Bytes per slot: an MTU-sized frame with its headers fits; larger
/// ones go through the socket.
pub const SLOT_SIZE: usize = 2048;
/// Slots in the ring by default: 2 MiB in all, pinned while the port is
/// open (1024 frames in flight, where 32 are read per poll). Measured
/// against 4096 (8 MiB) in two bench/ `forward` runs: no difference in
/// rates or CPU beyond the spread, and a quarter of the memory per port.
pub const SLOT_COUNT: usize = 1024;
/// Environment variable overriding the slot count (rounded down to a
/// multiple of a block's slots, at least one block).
pub const SLOTS_ENV: &str = "FERROVS_SYSTEM_RING_SLOTS";
/// Bytes of slots the kernel allocates at a time.
const SLOT_BLOCK: usize = 64 << 10;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_COPY: u32 = 1 << 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const PACKET_OUTGOING: u8 = 4;
/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`.
const TP2_HDR_ALIGNED: usize = 32;

/// One frame in the ring, valid while its slot is ours.
pub struct RingFrame<'a> {
    pub vnet: [u8; VNET_HDR_LEN],
    pub data: &'a [u8],
    /// The frame was longer than what the ring holds of it.
    pub truncated: bool,
    /// ...and the whole frame waits on the socket: read it with
    /// `recvmsg` (`data` and `vnet` are then to be ignored).
    pub on_socket: bool,
    pub outgoing: bool,
    /// VLAN tag the kernel removed: (tpid, tci).
    pub vlan: Option<(u16, u16)>,
}

/// The ring's memory, mapped from the socket.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by its ring alone; the ring reads it only
// while holding its cursor's mutex, and the kernel writes only the slots
// whose status says they are its own.
unsafe impl Send for Mapping {}
// SAFETY: as above: all shared access goes through the ring's mutex.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(fd: RawFd, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of the socket's ring, of exactly
        // the ring's size; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapping { base, len })
    }

    /// The status word at `at` (shared with the kernel).
    fn status(&self, at: usize) -> &AtomicU32 {
        assert!(
            at.is_multiple_of(4) && at + 4 <= self.len,
            "status word outside the ring"
        );
        // SAFETY: checked just above: the word is inside the mapping and
        // 4-aligned (the mapping is page-aligned); it lives as long as
        // `self`. The kernel updates it with barriers, hence the atomic.
        unsafe { &*(self.base.as_ptr().add(at) as *const AtomicU32) }
    }

    /// `len` bytes at `at`; only for a part whose status says it is ours.
    fn bytes(&self, at: usize, len: usize) -> &[u8] {
        assert!(at + len <= self.len, "bytes outside the ring");
        // SAFETY: inside the mapping (checked above); the caller has seen
        // TP_STATUS_USER on this part (with acquire ordering), so the
        // kernel does not write it until it is given back.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(at), len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len are the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.len) };
    }
}

fn set_rx_ring(fd: RawFd, req: &libc::tpacket_req) -> io::Result<()> {
    let v2 = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
    setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_VERSION, v2)?;
    // SAFETY: the option value points at a live tpacket_req (what V2
    // expects) of the stated size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            req as *const libc::tpacket_req as *const libc::c_void,
            std::mem::size_of::<libc::tpacket_req>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A TPACKET_V2 receive ring.
pub struct RxRing {
    map: Mapping,
    /// Slots in the ring.
    slots: usize,
    /// The next slot to read.
    cursor: Mutex<usize>,
}

/// The slot count `SLOTS_ENV` asks for, else `SLOT_COUNT`.
fn slot_count() -> usize {
    let per_block = SLOT_BLOCK / SLOT_SIZE;
    match std::env::var(SLOTS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(n) => (n.clamp(per_block, 1 << 20) / per_block) * per_block,
        None => SLOT_COUNT,
    }
}

impl RxRing {
    /// Turns `fd` (an AF_PACKET socket with PACKET_VNET_HDR set, not yet
    /// bound) into a V2 ring reader and maps its ring. Frames too large
    /// for a slot are queued whole on the socket as well.
    pub fn attach(fd: RawFd) -> io::Result<RxRing> {
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_COPY_THRESH, 1)?;
        let slots = slot_count();
        let req = libc::tpacket_req {
            tp_block_size: SLOT_BLOCK as u32,
            tp_block_nr: (SLOT_SIZE * slots / SLOT_BLOCK) as u32,
            tp_frame_size: SLOT_SIZE as u32,
            tp_frame_nr: slots as u32,
        };
        set_rx_ring(fd, &req)?;
        Ok(RxRing {
            map: Mapping::new(fd, SLOT_SIZE * slots)?,
            slots,
            cursor: Mutex::new(0),
        })
    }

    /// Calls `f` for up to `max` frames waiting in the ring; returns how
    /// many. Never blocks.
    pub fn recv(&self, max: usize, mut f: impl FnMut(RingFrame<'_>)) -> usize {
        let mut cur = match self.cursor.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let mut n = 0;
        while n < max {
            let at = *cur * SLOT_SIZE;
            let status = self.map.status(at);
            let st = status.load(Ordering::Acquire);
            if st & TP_STATUS_USER == 0 {
                break;
            }
            if let Some(frame) = frame_in(self.map.bytes(at, SLOT_SIZE), st) {
                f(frame);
                n += 1;
            }
            status.store(TP_STATUS_KERNEL, Ordering::Release);
            *cur = (*cur + 1) % self.slots;
        }
        n
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The frame in a slot whose status word is `status`; None if its
/// header points outside the slot.
fn frame_in(slot: &[u8], status: u32) -> Option<RingFrame<'_>> {
    let len = u32_at(slot, 4)? as usize;
    let snaplen = u32_at(slot, 8)? as usize;
    let mac = u16_at(slot, 12)? as usize;
    let tci = u16_at(slot, 24)?;
    let tpid = u16_at(slot, 26)?;
    let pkttype = *slot.get(TP2_HDR_ALIGNED + 10)?;
    let vnet: [u8; VNET_HDR_LEN] = slot
        .get(mac.checked_sub(VNET_HDR_LEN)?..mac)?
        .try_into()
        .ok()?;
    let data = slot.get(mac..mac + snaplen)?;
    let vlan = (status & TP_STATUS_VLAN_VALID != 0).then(|| {
        let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
            tpid
        } else {
            0x8100
        };
        (tpid, tci)
    });
    Some(RingFrame {
        vnet,
        data,
        truncated: len > snaplen,
        on_socket: len > snaplen && status & TP_STATUS_COPY != 0,
        outgoing: pkttype == PACKET_OUTGOING,
        vlan,
    })
}
