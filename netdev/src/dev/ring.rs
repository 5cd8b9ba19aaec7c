//! A TPACKET_V3 receive ring on an AF_PACKET socket: the kernel copies
//! each frame (virtio-net header and all) into a memory-mapped block in
//! the sender's context, and hands whole blocks over, when full or when a
//! short timer retires them. The reader walks the frames of the blocks it
//! owns without a system call and gives each block back when done.
//!
//! Used by the `system` provider when `FERROVS_SYSTEM_RX=ring` (see
//! system.rs); the socket's send path is unchanged (`sendmmsg`).
//!
//! Layout facts (from <linux/if_packet.h>): a block starts with a
//! `tpacket_block_desc` (status at 8, packet count at 12, offset of the
//! first packet at 16); each packet with a `tpacket3_hdr` (next offset at
//! 0, snaplen at 12, len at 16, status at 20, mac offset at 24, VLAN TCI
//! at 32 and TPID at 36), then a `sockaddr_ll` at the aligned header
//! length (packet type at 10). With PACKET_VNET_HDR the virtio-net header
//! sits right before the frame.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::sys::{setsockopt_int, VNET_HDR_LEN};

/// Bytes per block: a block must hold a 64 KiB GRO super-frame with its
/// headers (the kernel cuts a frame longer than a block).
pub const BLOCK_SIZE: usize = 256 << 10;
/// Blocks in the ring (8 MiB in all, as much as the plain socket's buffer).
pub const BLOCK_COUNT: usize = 32;
/// Time after which the kernel hands over a block that is not full, ms
/// (the least it takes: 1).
pub const RETIRE_MS: u32 = 1;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const PACKET_OUTGOING: u8 = 4;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`.
const TP3_HDR_ALIGNED: usize = 48;
/// Frame size the request names (V3 packs frames of any size into a
/// block; the kernel only checks that the numbers agree).
const REQ_FRAME_SIZE: usize = 2048;

/// One frame in the ring, valid while the block holding it is ours.
pub struct RingFrame<'a> {
    pub vnet: [u8; VNET_HDR_LEN],
    pub data: &'a [u8],
    /// The frame was longer than what the block holds of it.
    pub truncated: bool,
    pub outgoing: bool,
    /// VLAN tag the kernel removed: (tpid, tci).
    pub vlan: Option<(u16, u16)>,
}

/// Where the reader is in the ring.
struct Cursor {
    block: usize,
    /// Packets of `block` already read.
    taken: u32,
    /// Offset in `block` of the next packet.
    offset: usize,
}

pub struct RxRing {
    base: NonNull<u8>,
    len: usize,
    cursor: Mutex<Cursor>,
}

// SAFETY: the mapping is owned by this value alone; blocks are read only
// through `recv`, which holds the cursor's mutex, and the kernel writes
// only blocks whose status says they are its own.
unsafe impl Send for RxRing {}
// SAFETY: as above: all shared access goes through the mutex.
unsafe impl Sync for RxRing {}

impl RxRing {
    /// Turns `fd` (an AF_PACKET socket with PACKET_VNET_HDR set, not yet
    /// bound) into a TPACKET_V3 ring reader and maps its ring.
    pub fn attach(fd: RawFd) -> io::Result<RxRing> {
        setsockopt_int(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            libc::tpacket_versions::TPACKET_V3 as libc::c_int,
        )?;
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE as u32,
            tp_block_nr: BLOCK_COUNT as u32,
            tp_frame_size: REQ_FRAME_SIZE as u32,
            tp_frame_nr: (BLOCK_SIZE / REQ_FRAME_SIZE * BLOCK_COUNT) as u32,
            tp_retire_blk_tov: RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        // SAFETY: the option value points at a live tpacket_req3 of the
        // stated size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_RX_RING,
                &req as *const libc::tpacket_req3 as *const libc::c_void,
                std::mem::size_of::<libc::tpacket_req3>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = BLOCK_SIZE * BLOCK_COUNT;
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
        Ok(RxRing {
            base,
            len,
            cursor: Mutex::new(Cursor {
                block: 0,
                taken: 0,
                offset: 0,
            }),
        })
    }

    /// The status word of block `b` (shared with the kernel).
    fn status(&self, b: usize) -> &AtomicU32 {
        // SAFETY: b < BLOCK_COUNT, so the word at offset 8 of the block is
        // inside the mapping, 4-aligned (blocks are page-aligned), and
        // lives as long as `self`; the kernel updates it with barriers,
        // hence the atomic view.
        unsafe { &*(self.base.as_ptr().add(b * BLOCK_SIZE + 8) as *const AtomicU32) }
    }

    /// Block `b` as bytes; only while its status says it is ours.
    fn block(&self, b: usize) -> &[u8] {
        // SAFETY: the block lies inside the mapping; the caller has seen
        // TP_STATUS_USER on it (with acquire ordering), so the kernel
        // does not write it until we give it back.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(b * BLOCK_SIZE), BLOCK_SIZE) }
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
            if self.status(b).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            let blk = self.block(b);
            let count = u32_at(blk, 12).unwrap_or(0);
            if cur.taken == 0 {
                cur.offset = u32_at(blk, 16).unwrap_or(0) as usize;
            }
            let mut give_back = cur.taken >= count;
            if !give_back {
                match frame_at(blk, cur.offset) {
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
                self.status(b).store(TP_STATUS_KERNEL, Ordering::Release);
                cur.block = (b + 1) % BLOCK_COUNT;
                cur.taken = 0;
            }
        }
        n
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: base/len are the mapping made in `attach`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.len) };
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The frame whose `tpacket3_hdr` is at `at` in `blk`, and the offset of
/// the next one from it; None if the header points outside the block.
fn frame_at(blk: &[u8], at: usize) -> Option<(RingFrame<'_>, usize)> {
    let next = u32_at(blk, at)? as usize;
    let snaplen = u32_at(blk, at + 12)? as usize;
    let len = u32_at(blk, at + 16)? as usize;
    let status = u32_at(blk, at + 20)?;
    let mac = at + u16_at(blk, at + 24)? as usize;
    let tci = u32_at(blk, at + 32)? as u16;
    let tpid = u16_at(blk, at + 36)?;
    let pkttype = *blk.get(at + TP3_HDR_ALIGNED + 10)?;
    let vnet: [u8; VNET_HDR_LEN] = blk
        .get(mac.checked_sub(VNET_HDR_LEN)?..mac)?
        .try_into()
        .ok()?;
    let data = blk.get(mac..mac + snaplen)?;
    let vlan = (status & TP_STATUS_VLAN_VALID != 0).then(|| {
        let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
            tpid
        } else {
            0x8100
        };
        (tpid, tci)
    });
    Some((
        RingFrame {
            vnet,
            data,
            truncated: len > snaplen,
            outgoing: pkttype == PACKET_OUTGOING,
            vlan,
        },
        next,
    ))
}
