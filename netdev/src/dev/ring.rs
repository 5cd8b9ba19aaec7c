//! Memory-mapped receive rings on an AF_PACKET socket: the kernel copies
//! each frame (virtio-net header and all) into the ring in the sender's
//! context, and the reader walks the frames it owns without a system
//! call, giving each part of the ring back when done. Two layouts:
//!
//! - [`BlockRing`] (TPACKET_V3): frames packed into large blocks, which
//!   the kernel hands over when full or when a timer retires them (at
//!   least one jiffy: 4 ms with HZ=250, so light traffic waits that long);
//!   a block holds a 64 KiB GRO super-frame whole.
//! - [`SlotRing`] (TPACKET_V2): one fixed slot per frame, handed over (and
//!   the reader woken) frame by frame. A frame larger than a slot (a
//!   super-frame) is flagged in its slot and queued whole on the socket
//!   (PACKET_COPY_THRESH), where `recvmsg` takes it.
//!
//! Used by the `system` provider when `FERROVS_SYSTEM_RX` says so (see
//! system.rs); the socket's send path is unchanged (`sendmmsg`).
//!
//! Layout facts (from <linux/if_packet.h>): a V3 block starts with a
//! `tpacket_block_desc` (status at 8, packet count at 12, offset of the
//! first packet at 16); each V3 packet with a `tpacket3_hdr` (next offset
//! at 0, snaplen at 12, len at 16, status at 20, mac offset at 24, VLAN
//! TCI at 32 and TPID at 36). A V2 slot starts with a `tpacket2_hdr`
//! (status at 0, len at 4, snaplen at 8, mac offset at 12, VLAN TCI at 24
//! and TPID at 26). Either header is followed by a `sockaddr_ll` at its
//! aligned length (packet type at 10), and with PACKET_VNET_HDR the
//! virtio-net header sits right before the frame.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::sys::{setsockopt_int, VNET_HDR_LEN};

/// Bytes per V3 block: a block must hold a 64 KiB GRO super-frame with
/// its headers (the kernel cuts a frame longer than a block).
pub const BLOCK_SIZE: usize = 256 << 10;
/// Blocks in the V3 ring (8 MiB in all, as much as the plain socket's
/// buffer).
pub const BLOCK_COUNT: usize = 32;
/// Time after which the kernel hands over a block that is not full, ms
/// (the least it takes; rounded up to a jiffy).
pub const RETIRE_MS: u32 = 1;
/// Bytes per V2 slot: an MTU-sized frame with its headers fits.
pub const SLOT_SIZE: usize = 2048;
/// Slots in the V2 ring (8 MiB in all).
pub const SLOT_COUNT: usize = 4096;
/// Bytes of V2 slots the kernel allocates at a time.
const SLOT_BLOCK: usize = 64 << 10;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_COPY: u32 = 1 << 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const PACKET_OUTGOING: u8 = 4;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`.
const TP3_HDR_ALIGNED: usize = 48;
/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`.
const TP2_HDR_ALIGNED: usize = 32;
/// Frame size a V3 request names (V3 packs frames of any size into a
/// block; the kernel only checks that the numbers agree).
const REQ_FRAME_SIZE: usize = 2048;

/// One frame in a ring, valid while the part of the ring holding it is
/// ours.
pub struct RingFrame<'a> {
    pub vnet: [u8; VNET_HDR_LEN],
    pub data: &'a [u8],
    /// The frame was longer than what the ring holds of it.
    pub truncated: bool,
    /// ...and the whole frame waits on the socket (V2 only): read it with
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

// SAFETY: the mapping is owned by its ring alone; the rings read it only
// while holding their cursor's mutex, and the kernel writes only the
// parts whose status says they are its own.
unsafe impl Send for Mapping {}
// SAFETY: as above: all shared access goes through the rings' mutex.
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

fn set_rx_ring<T>(fd: RawFd, version: libc::c_int, req: &T) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_VERSION, version)?;
    // SAFETY: the option value points at a live request (tpacket_req or
    // tpacket_req3, as the version set above expects) of the stated size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            req as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where the reader of a V3 ring is.
struct BlockCursor {
    block: usize,
    /// Packets of `block` already read.
    taken: u32,
    /// Offset in `block` of the next packet.
    offset: usize,
}

/// A TPACKET_V3 receive ring.
pub struct BlockRing {
    map: Mapping,
    cursor: Mutex<BlockCursor>,
}

impl BlockRing {
    /// Turns `fd` (an AF_PACKET socket with PACKET_VNET_HDR set, not yet
    /// bound) into a V3 ring reader and maps its ring.
    pub fn attach(fd: RawFd) -> io::Result<BlockRing> {
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE as u32,
            tp_block_nr: BLOCK_COUNT as u32,
            tp_frame_size: REQ_FRAME_SIZE as u32,
            tp_frame_nr: (BLOCK_SIZE / REQ_FRAME_SIZE * BLOCK_COUNT) as u32,
            tp_retire_blk_tov: RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_rx_ring(fd, libc::tpacket_versions::TPACKET_V3 as libc::c_int, &req)?;
        Ok(BlockRing {
            map: Mapping::new(fd, BLOCK_SIZE * BLOCK_COUNT)?,
            cursor: Mutex::new(BlockCursor {
                block: 0,
                taken: 0,
                offset: 0,
            }),
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
            let b = cur.block;
            let status = self.map.status(b * BLOCK_SIZE + 8);
            if status.load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            let blk = self.map.bytes(b * BLOCK_SIZE, BLOCK_SIZE);
            let count = u32_at(blk, 12).unwrap_or(0);
            if cur.taken == 0 {
                cur.offset = u32_at(blk, 16).unwrap_or(0) as usize;
            }
            let mut give_back = cur.taken >= count;
            if !give_back {
                match frame_v3(blk, cur.offset) {
                    Some((frame, next)) => {
                        f(frame);
                        n += 1;
                        cur.taken += 1;
                        cur.offset += next;
                        // A zero step with packets left would loop on
                        // the same frame: the block is unreadable.
                        give_back = cur.taken >= count || next == 0;
                    }
                    None => give_back = true,
                }
            }
            if give_back {
                status.store(TP_STATUS_KERNEL, Ordering::Release);
                cur.block = (b + 1) % BLOCK_COUNT;
                cur.taken = 0;
            }
        }
        n
    }
}

/// A TPACKET_V2 receive ring.
pub struct SlotRing {
    map: Mapping,
    /// The next slot to read.
    cursor: Mutex<usize>,
}

impl SlotRing {
    /// Turns `fd` (an AF_PACKET socket with PACKET_VNET_HDR set, not yet
    /// bound) into a V2 ring reader and maps its ring. Frames too large
    /// for a slot are queued whole on the socket as well.
    pub fn attach(fd: RawFd) -> io::Result<SlotRing> {
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_COPY_THRESH, 1)?;
        let req = libc::tpacket_req {
            tp_block_size: SLOT_BLOCK as u32,
            tp_block_nr: (SLOT_SIZE * SLOT_COUNT / SLOT_BLOCK) as u32,
            tp_frame_size: SLOT_SIZE as u32,
            tp_frame_nr: SLOT_COUNT as u32,
        };
        set_rx_ring(fd, libc::tpacket_versions::TPACKET_V2 as libc::c_int, &req)?;
        Ok(SlotRing {
            map: Mapping::new(fd, SLOT_SIZE * SLOT_COUNT)?,
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
            if let Some(frame) = frame_v2(self.map.bytes(at, SLOT_SIZE), st) {
                f(frame);
                n += 1;
            }
            status.store(TP_STATUS_KERNEL, Ordering::Release);
            *cur = (*cur + 1) % SLOT_COUNT;
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

/// The frame at `mac` in `area`, with the parts its header gave.
fn frame_in(
    area: &[u8],
    mac: usize,
    snaplen: usize,
    len: usize,
    status: u32,
    vlan: (u16, u16), // (tci, tpid) as the header holds them
    pkttype: u8,
) -> Option<RingFrame<'_>> {
    let vnet: [u8; VNET_HDR_LEN] = area
        .get(mac.checked_sub(VNET_HDR_LEN)?..mac)?
        .try_into()
        .ok()?;
    let data = area.get(mac..mac + snaplen)?;
    let (tci, tpid) = vlan;
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

/// The frame whose `tpacket3_hdr` is at `at` in `blk`, and the offset of
/// the next one from it; None if the header points outside the block.
fn frame_v3(blk: &[u8], at: usize) -> Option<(RingFrame<'_>, usize)> {
    let next = u32_at(blk, at)? as usize;
    let snaplen = u32_at(blk, at + 12)? as usize;
    let len = u32_at(blk, at + 16)? as usize;
    let status = u32_at(blk, at + 20)?;
    let mac = at + u16_at(blk, at + 24)? as usize;
    let vlan = (u32_at(blk, at + 32)? as u16, u16_at(blk, at + 36)?);
    let pkttype = *blk.get(at + TP3_HDR_ALIGNED + 10)?;
    let frame = frame_in(blk, mac, snaplen, len, status, vlan, pkttype)?;
    Some((frame, next))
}

/// The frame in a V2 slot whose status word is `status`; None if its
/// header points outside the slot.
fn frame_v2(slot: &[u8], status: u32) -> Option<RingFrame<'_>> {
    let len = u32_at(slot, 4)? as usize;
    let snaplen = u32_at(slot, 8)? as usize;
    let mac = u16_at(slot, 12)? as usize;
    let vlan = (u16_at(slot, 24)?, u16_at(slot, 26)?);
    let pkttype = *slot.get(TP2_HDR_ALIGNED + 10)?;
    frame_in(slot, mac, snaplen, len, status, vlan, pkttype)
}
