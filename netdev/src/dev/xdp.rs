//! AF_XDP receive for the `system` provider (`FERROVS_SYSTEM_RX=xdp`): an
//! XDP program on the interface redirects every frame of queue 0 to an
//! AF_XDP socket, whose kernel side copies it into a frame of our UMEM
//! (an anonymous mapping we register) and posts its place on the RX
//! ring; we read it without a system call, copy it out and hand the
//! frame back on the fill ring.
//!
//! Everything is raw: the program (five instructions, the equivalent of
//! `return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`) is
//! loaded with the bpf() system call, its XSKMAP made and filled the same
//! way, and it is attached in generic (SKB) mode with an rtnetlink
//! RTM_SETLINK carrying IFLA_XDP, and detached the same way on drop. The
//! socket is bound in copy mode (veth has no zero-copy).
//!
//! Limits of this path (why it is not the default): no virtio-net header,
//! so no partial checksums or GSO super-frames: a frame must fit a UMEM
//! chunk less the kernel's XDP headroom (2048 - 256 bytes), and GRO must
//! stay off on the device; only queue 0 is served.
//!
//! Layout facts are from <linux/if_xdp.h>, <linux/bpf.h> and
//! <linux/if_link.h>.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Bytes per UMEM frame.
const CHUNK: usize = 2048;
/// UMEM frames, and the size of the fill and RX rings (8 MiB in all, as
/// the V2 ring's default).
const FRAMES: usize = 4096;
/// The completion ring is required but unused (no AF_XDP transmit).
const COMP_SIZE: usize = 64;

const AF_XDP: libc::c_int = 44;
const SOL_XDP: libc::c_int = 283;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_COPY: u16 = 1 << 1;
const XDP_PGOFF_RX_RING: libc::off_t = 0;
const XDP_UMEM_PGOFF_FILL_RING: libc::off_t = 0x1_0000_0000;
const XDP_UMEM_PGOFF_COMPLETION_RING: libc::off_t = 0x1_8000_0000;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const XDP_PASS: i32 = 2;
/// Offset of `rx_queue_index` in `struct xdp_md`.
const XDP_MD_RX_QUEUE: i16 = 16;
/// Entries of the XSKMAP (queues it could serve; only 0 is filled).
const XSKMAP_ENTRIES: u32 = 64;

const RTM_SETLINK: u16 = 19;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const NLA_F_NESTED: u16 = 1 << 15;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn err(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A memory mapping, unmapped on drop.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mappings are owned by one XdpRx and read or written only
// under its mutex (or, for the kernel's side, at places the ring
// protocol gives it).
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, or anonymous memory when
    /// `fd` is None.
    fn new(fd: Option<RawFd>, offset: libc::off_t, len: usize) -> io::Result<Mapping> {
        let (flags, fd) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
            ),
        };
        // SAFETY: a fresh mapping chosen by the kernel; no existing memory
        // is touched; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapping { base, len })
    }

    /// The 32-bit word at `at`, shared with the kernel.
    fn word(&self, at: usize) -> &AtomicU32 {
        assert!(
            at.is_multiple_of(4) && at + 4 <= self.len,
            "word outside the mapping"
        );
        // SAFETY: inside the mapping and 4-aligned (checked above; the
        // mapping is page-aligned); lives as long as `self`. The kernel
        // reads and writes it concurrently, hence the atomic.
        unsafe { &*(self.base.as_ptr().add(at) as *const AtomicU32) }
    }

    /// Reads `N` bytes at `at` (a ring descriptor the kernel published).
    fn read<const N: usize>(&self, at: usize) -> [u8; N] {
        assert!(at + N <= self.len, "read outside the mapping");
        let mut out = [0u8; N];
        // SAFETY: inside the mapping (checked above); the ring protocol
        // (producer index loaded with acquire) says the kernel is done
        // with these bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.base.as_ptr().add(at), out.as_mut_ptr(), N) };
        out
    }

    /// Writes `bytes` at `at` (a fill ring slot that is ours).
    fn write(&self, at: usize, bytes: &[u8]) {
        assert!(at + bytes.len() <= self.len, "write outside the mapping");
        // SAFETY: inside the mapping (checked above); the slot lies
        // between the kernel's consumer index and our producer index, so
        // the kernel does not read it until we publish it.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.as_ptr().add(at), bytes.len())
        };
    }

    /// `len` bytes at `at`, or None when outside the mapping.
    fn bytes(&self, at: usize, len: usize) -> Option<&[u8]> {
        if at.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: inside the mapping (checked above); the UMEM frame was
        // handed to us on the RX ring and is not reused by the kernel
        // until we put it back on the fill ring.
        Some(unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(at), len) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len are the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.len) };
    }
}

/// One mapped AF_XDP ring: producer and consumer words and descriptors.
struct Ring {
    map: Mapping,
    producer: usize,
    consumer: usize,
    desc: usize,
    size: usize,
}

impl Ring {
    /// `off` is the ring's `xdp_ring_offset` (producer, consumer, desc).
    fn map(
        fd: RawFd,
        pgoff: libc::off_t,
        off: [u64; 4],
        size: usize,
        desc_len: usize,
    ) -> io::Result<Ring> {
        let desc = off[2] as usize;
        let map = Mapping::new(Some(fd), pgoff, desc + size * desc_len)?;
        Ok(Ring {
            map,
            producer: off[0] as usize,
            consumer: off[1] as usize,
            desc,
            size,
        })
    }
    fn producer(&self) -> &AtomicU32 {
        self.map.word(self.producer)
    }
    fn consumer(&self) -> &AtomicU32 {
        self.map.word(self.consumer)
    }
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live value of the size given.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            SOL_XDP,
            opt,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// The `bpf_attr` union, zeroed, with fields written at their offsets.
#[repr(C, align(8))]
struct BpfAttr([u8; 128]);

impl BpfAttr {
    fn new() -> BpfAttr {
        BpfAttr([0; 128])
    }
    fn u32(mut self, at: usize, v: u32) -> BpfAttr {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(mut self, at: usize, v: u64) -> BpfAttr {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
}

fn bpf(cmd: libc::c_long, attr: &mut BpfAttr) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a live, 8-aligned bpf_attr of the stated size;
    // the pointers inside it (if any) point at buffers the caller keeps
    // alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            attr.0.len() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call returned a new descriptor nobody else owns (for
    // commands that return one; MAP_UPDATE_ELEM returns 0, see its caller).
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// One eBPF instruction.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (dst & 0xf) | (src << 4);
    b[2..4].copy_from_slice(&off.to_ne_bytes());
    b[4..8].copy_from_slice(&imm.to_ne_bytes());
    b
}

/// `return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`.
fn redirect_program(map_fd: RawFd) -> Vec<u8> {
    [
        insn(0x61, 2, 1, XDP_MD_RX_QUEUE, 0), // r2 = *(u32 *)(r1 + 16)
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map_fd), // r1 = &xsks (ld_imm64)
        insn(0, 0, 0, 0, 0),                  // (second half of ld_imm64)
        insn(0xb7, 3, 0, 0, XDP_PASS),        // r3 = XDP_PASS
        insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP), // call
        insn(0x95, 0, 0, 0, 0),               // exit
    ]
    .concat()
}

fn load_program(map_fd: RawFd) -> io::Result<OwnedFd> {
    let prog = redirect_program(map_fd);
    let license = b"GPL\0";
    let mut log = vec![0u8; 16 << 10];
    let mut attr = BpfAttr::new()
        .u32(0, BPF_PROG_TYPE_XDP)
        .u32(4, (prog.len() / 8) as u32)
        .u64(8, prog.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64);
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            // Once more with the verifier's log, for the error message.
            let mut attr = BpfAttr::new()
                .u32(0, BPF_PROG_TYPE_XDP)
                .u32(4, (prog.len() / 8) as u32)
                .u64(8, prog.as_ptr() as u64)
                .u64(16, license.as_ptr() as u64)
                .u32(24, 1)
                .u32(28, log.len() as u32)
                .u64(32, log.as_mut_ptr() as u64);
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(io::Error::new(
                e.kind(),
                format!(
                    "BPF_PROG_LOAD: {e}: {}",
                    String::from_utf8_lossy(&log[..end])
                ),
            ))
        }
    }
}

/// Attaches program `prog_fd` (or detaches with -1) to `ifindex` in
/// generic mode, with one RTM_SETLINK.
fn set_link_xdp(ifindex: u32, prog_fd: RawFd) -> io::Result<()> {
    let mut m = Vec::with_capacity(52);
    m.extend_from_slice(&52u32.to_ne_bytes());
    m.extend_from_slice(&RTM_SETLINK.to_ne_bytes());
    m.extend_from_slice(&(1u16 | 4).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_ACK
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(&[0u8; 4]); // ifi_family, pad, ifi_type
    m.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    m.extend_from_slice(&[0u8; 8]); // ifi_flags, ifi_change
    m.extend_from_slice(&20u16.to_ne_bytes());
    m.extend_from_slice(&(IFLA_XDP | NLA_F_NESTED).to_ne_bytes());
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&IFLA_XDP_FD.to_ne_bytes());
    m.extend_from_slice(&prog_fd.to_ne_bytes());
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&IFLA_XDP_FLAGS.to_ne_bytes());
    m.extend_from_slice(&XDP_FLAGS_SKB_MODE.to_ne_bytes());
    // SAFETY: socket() takes no pointers; the result is checked.
    let raw = cvt(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: raw was just returned by socket() and is owned by nobody.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain data; zero (the kernel) is valid.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: `m` and `kernel` are live for the call, lengths match.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            m.as_ptr() as *const libc::c_void,
            m.len(),
            0,
            &kernel as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = [0u8; 1024];
    // SAFETY: `buf` is a live, writable buffer of the stated length.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            0,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // The acknowledgement: nlmsghdr (type NLMSG_ERROR = 2), then the error.
    let ty = buf.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let code = buf
        .get(16..20)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match (ty, code) {
        (Some(2), Some(0)) => Ok(()),
        (Some(2), Some(e)) => Err(io::Error::from_raw_os_error(-e)),
        _ => Err(io::Error::other("RTM_SETLINK: no acknowledgement")),
    }
}

/// The receive cursors (ours: the kernel only reads them).
struct Cursors {
    rx_cons: u32,
    fill_prod: u32,
}

/// An AF_XDP socket with its UMEM and rings, and the XDP program that
/// feeds it, attached to one interface while this lives.
pub struct XdpRx {
    ifindex: u32,
    // Order matters on drop: the program is detached first (Drop), then
    // the rings and UMEM go, then the socket.
    rx: Ring,
    fill: Ring,
    _comp: Ring,
    umem: Mapping,
    cursors: Mutex<Cursors>,
    _prog: OwnedFd,
    _map: OwnedFd,
    sock: OwnedFd,
}

impl XdpRx {
    /// Sets up a copy-mode AF_XDP socket on queue 0 of `ifindex` and
    /// attaches a generic-mode XDP program redirecting to it.
    pub fn open(ifindex: u32) -> io::Result<XdpRx> {
        // SAFETY: socket() takes no pointers; the result is checked.
        let raw = cvt(unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })
            .map_err(|e| err("AF_XDP socket", e))?;
        // SAFETY: raw was just returned by socket() and is owned by nobody.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem = Mapping::new(None, 0, CHUNK * FRAMES).map_err(|e| err("UMEM", e))?;
        // struct xdp_umem_reg: addr, len, chunk_size, headroom, flags,
        // tx_metadata_len.
        #[repr(C)]
        struct UmemReg {
            addr: u64,
            len: u64,
            chunk_size: u32,
            headroom: u32,
            flags: u32,
            tx_metadata_len: u32,
        }
        let reg = UmemReg {
            addr: umem.base.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: CHUNK as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, XDP_UMEM_REG, &reg).map_err(|e| err("XDP_UMEM_REG", e))?;
        setsockopt(raw, XDP_UMEM_FILL_RING, &(FRAMES as u32)).map_err(|e| err("fill ring", e))?;
        setsockopt(raw, XDP_UMEM_COMPLETION_RING, &(COMP_SIZE as u32))
            .map_err(|e| err("completion ring", e))?;
        setsockopt(raw, XDP_RX_RING, &(FRAMES as u32)).map_err(|e| err("RX ring", e))?;
        // struct xdp_mmap_offsets: rx, tx, fr, cr; each producer,
        // consumer, desc, flags.
        let mut off = [0u64; 16];
        let mut len = std::mem::size_of_val(&off) as libc::socklen_t;
        // SAFETY: `off` is a live, writable buffer of `len` bytes.
        cvt(unsafe {
            libc::getsockopt(
                raw,
                SOL_XDP,
                XDP_MMAP_OFFSETS,
                off.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        })
        .map_err(|e| err("XDP_MMAP_OFFSETS", e))?;
        if len as usize != std::mem::size_of_val(&off) {
            return Err(io::Error::other("XDP_MMAP_OFFSETS: old layout"));
        }
        let part = |i: usize| [off[i * 4], off[i * 4 + 1], off[i * 4 + 2], off[i * 4 + 3]];
        let rx = Ring::map(raw, XDP_PGOFF_RX_RING, part(0), FRAMES, 16)
            .map_err(|e| err("mmap RX", e))?;
        let fill = Ring::map(raw, XDP_UMEM_PGOFF_FILL_RING, part(2), FRAMES, 8)
            .map_err(|e| err("mmap fill", e))?;
        let comp = Ring::map(raw, XDP_UMEM_PGOFF_COMPLETION_RING, part(3), COMP_SIZE, 8)
            .map_err(|e| err("mmap completion", e))?;
        // Every UMEM frame goes on the fill ring.
        for i in 0..FRAMES {
            fill.map
                .write(fill.desc + i * 8, &((i * CHUNK) as u64).to_ne_bytes());
        }
        fill.producer().store(FRAMES as u32, Ordering::Release);
        // struct sockaddr_xdp: family, flags, ifindex, queue_id, shared fd.
        let mut sa = [0u8; 16];
        sa[0..2].copy_from_slice(&(AF_XDP as u16).to_ne_bytes());
        sa[2..4].copy_from_slice(&XDP_COPY.to_ne_bytes());
        sa[4..8].copy_from_slice(&ifindex.to_ne_bytes());
        // SAFETY: `sa` is a live sockaddr_xdp of the stated length.
        cvt(unsafe {
            libc::bind(
                raw,
                sa.as_ptr() as *const libc::sockaddr,
                sa.len() as libc::socklen_t,
            )
        })
        .map_err(|e| err("bind AF_XDP", e))?;

        let mut attr = BpfAttr::new()
            .u32(0, BPF_MAP_TYPE_XSKMAP)
            .u32(4, 4)
            .u32(8, 4)
            .u32(12, XSKMAP_ENTRIES);
        let map = bpf(BPF_MAP_CREATE, &mut attr).map_err(|e| err("BPF_MAP_CREATE xskmap", e))?;
        let key = 0u32;
        let value = raw as u32;
        let mut attr = BpfAttr::new()
            .u32(0, map.as_raw_fd() as u32)
            .u64(8, &key as *const u32 as u64)
            .u64(16, &value as *const u32 as u64);
        // SAFETY: as in `bpf`; this command returns 0, not a descriptor,
        // so the result is forgotten rather than closed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_UPDATE_ELEM,
                attr.0.as_mut_ptr(),
                attr.0.len() as libc::c_uint,
            )
        };
        if r < 0 {
            return Err(err("BPF_MAP_UPDATE_ELEM", io::Error::last_os_error()));
        }
        let prog = load_program(map.as_raw_fd())?;
        set_link_xdp(ifindex, prog.as_raw_fd()).map_err(|e| err("attach XDP program", e))?;
        Ok(XdpRx {
            ifindex,
            rx,
            fill,
            _comp: comp,
            umem,
            cursors: Mutex::new(Cursors {
                rx_cons: 0,
                fill_prod: FRAMES as u32,
            }),
            _prog: prog,
            _map: map,
            sock,
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Calls `f` for up to `max` frames waiting on the RX ring, giving
    /// each frame back to the kernel after; returns how many. Never blocks.
    pub fn recv(&self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        let mut cur = match self.cursors.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let ready = self
            .rx
            .producer()
            .load(Ordering::Acquire)
            .wrapping_sub(cur.rx_cons) as usize;
        let n = ready.min(max);
        for _ in 0..n {
            let at = self.rx.desc + (cur.rx_cons as usize % self.rx.size) * 16;
            let d: [u8; 16] = self.rx.map.read(at);
            let addr = u64::from_ne_bytes(d[0..8].try_into().unwrap_or_default()) as usize;
            let len = u32::from_ne_bytes(d[8..12].try_into().unwrap_or_default()) as usize;
            if let Some(frame) = self.umem.bytes(addr, len) {
                f(frame);
            }
            // The frame goes back on the fill ring (which has room: every
            // frame is either there or on the RX ring).
            let chunk = (addr - addr % CHUNK) as u64;
            let slot = self.fill.desc + (cur.fill_prod as usize % self.fill.size) * 8;
            self.fill.map.write(slot, &chunk.to_ne_bytes());
            cur.fill_prod = cur.fill_prod.wrapping_add(1);
            cur.rx_cons = cur.rx_cons.wrapping_add(1);
        }
        if n > 0 {
            self.fill.producer().store(cur.fill_prod, Ordering::Release);
            self.rx.consumer().store(cur.rx_cons, Ordering::Release);
        }
        n
    }
}

impl Drop for XdpRx {
    fn drop(&mut self) {
        // The device may be gone already; then there is nothing to undo.
        if let Err(e) = set_link_xdp(self.ifindex, -1) {
            log::debug!(target: "netdev_linux", "ifindex {}: detaching XDP: {e}", self.ifindex);
        }
    }
}
