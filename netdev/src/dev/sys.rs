//! The system calls the device providers need, wrapped so that the rest of
//! the crate is safe code: AF_PACKET sockets with virtio-net headers and
//! auxiliary data, tap devices, interface ioctls, eventfds.
//!
//! Every `unsafe` block of the crate lives here or in `ring.rs` (the
//! TPACKET_V3 receive ring).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
const SIOCGIFMTU: libc::c_ulong = 0x8921;
const SIOCGIFHWADDR: libc::c_ulong = 0x8927;
const SIOCSIFMTU: libc::c_ulong = 0x8922;
const SIOCSIFHWADDR: libc::c_ulong = 0x8924;
const ETH_P_ALL: u16 = 0x0003;
/// `PACKET_OUTGOING` in `sockaddr_ll.sll_pkttype`.
const PACKET_OUTGOING: u8 = 4;

/// `struct ifreq`: the name and a 24-byte union.
#[repr(C)]
#[derive(Clone, Copy)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        let mut r = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        r.name[..b.len()].copy_from_slice(b);
        Ok(r)
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// A datagram socket for the interface ioctls.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; the result is checked.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_ioctl(req: libc::c_ulong, ifr: &mut IfReq) -> io::Result<()> {
    let s = ioctl_socket()?;
    // SAFETY: `ifr` is a valid, writable `struct ifreq` (40 bytes) for the
    // duration of the call, as every SIOC*IF* request expects.
    cvt(unsafe { libc::ioctl(s.as_raw_fd(), req as _, ifr as *mut IfReq) })?;
    Ok(())
}

/// The interface index of `name`.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(i)
    }
}

pub fn if_mtu(name: &str) -> io::Result<u32> {
    let mut r = IfReq::new(name)?;
    ifreq_ioctl(SIOCGIFMTU, &mut r)?;
    Ok(i32::from_ne_bytes([r.data[0], r.data[1], r.data[2], r.data[3]]).max(0) as u32)
}

pub fn if_mac(name: &str) -> io::Result<[u8; 6]> {
    let mut r = IfReq::new(name)?;
    ifreq_ioctl(SIOCGIFHWADDR, &mut r)?;
    // struct sockaddr: family (2 bytes) then the address.
    let mut m = [0u8; 6];
    m.copy_from_slice(&r.data[2..8]);
    Ok(m)
}

/// The interface flags (`IFF_UP`, `IFF_RUNNING`, ...).
pub fn if_flags(name: &str) -> io::Result<u32> {
    let mut r = IfReq::new(name)?;
    ifreq_ioctl(SIOCGIFFLAGS, &mut r)?;
    Ok(u32::from(u16::from_ne_bytes([r.data[0], r.data[1]])))
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSET: u32 = 0x1;
const ETHTOOL_GDRVINFO: u32 = 0x3;

/// Runs an `SIOCETHTOOL` request whose command block is `buf` (its first
/// four bytes the ETHTOOL_* command).
fn ethtool(name: &str, buf: &mut [u8]) -> io::Result<()> {
    let mut r = IfReq::new(name)?;
    let ptr = buf.as_mut_ptr() as usize;
    r.data[..std::mem::size_of::<usize>()].copy_from_slice(&ptr.to_ne_bytes());
    ifreq_ioctl(SIOCETHTOOL, &mut r)
}

/// What the driver says of itself (`ETHTOOL_GDRVINFO`): driver name,
/// driver version, firmware version.
pub fn ethtool_drvinfo(name: &str) -> io::Result<(String, String, String)> {
    // struct ethtool_drvinfo: cmd, then 32-byte strings driver, version,
    // fw_version, bus_info, erom_version, 12 reserved bytes, five u32s.
    let mut buf = [0u8; 196];
    buf[..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
    ethtool(name, &mut buf)?;
    let field = |off: usize| {
        let b = &buf[off..off + 32];
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    Ok((field(4), field(36), field(68)))
}

/// The link's speed in Mb/s and whether it is full duplex
/// (`ETHTOOL_GSET`); `None` for either when the driver does not know.
pub fn ethtool_link(name: &str) -> io::Result<(Option<u32>, Option<bool>)> {
    // struct ethtool_cmd (44 bytes): speed at 12 (low 16 bits), duplex
    // at 14, speed_hi at 28.
    let mut buf = [0u8; 44];
    buf[..4].copy_from_slice(&ETHTOOL_GSET.to_ne_bytes());
    ethtool(name, &mut buf)?;
    let lo = u32::from(u16::from_ne_bytes([buf[12], buf[13]]));
    let hi = u32::from(u16::from_ne_bytes([buf[28], buf[29]]));
    let speed = (hi << 16) | lo;
    let speed = (speed != 0 && speed != u32::MAX && speed != 0xffff).then_some(speed);
    let duplex = match buf[14] {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    };
    Ok((speed, duplex))
}

const ETHTOOL_GGRO: u32 = 0x2b;
const ETHTOOL_SGRO: u32 = 0x2c;

/// Whether generic receive offload is on (`ETHTOOL_GGRO`).
pub fn ethtool_gro(name: &str) -> io::Result<bool> {
    // struct ethtool_value: cmd, data.
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&ETHTOOL_GGRO.to_ne_bytes());
    ethtool(name, &mut buf)?;
    Ok(u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]) != 0)
}

/// Turns generic receive offload on or off (`ETHTOOL_SGRO`).
pub fn ethtool_set_gro(name: &str, on: bool) -> io::Result<()> {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&ETHTOOL_SGRO.to_ne_bytes());
    buf[4..].copy_from_slice(&u32::from(on).to_ne_bytes());
    ethtool(name, &mut buf)
}

pub fn if_set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut r = IfReq::new(name)?;
    let v = i32::try_from(mtu).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    r.data[..4].copy_from_slice(&v.to_ne_bytes());
    ifreq_ioctl(SIOCSIFMTU, &mut r)
}

pub fn if_set_mac(name: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut r = IfReq::new(name)?;
    // struct sockaddr: family ARPHRD_ETHER (1), then the address.
    r.data[..2].copy_from_slice(&1u16.to_ne_bytes());
    r.data[2..8].copy_from_slice(&mac);
    ifreq_ioctl(SIOCSIFHWADDR, &mut r)
}

/// Sets the interface administratively up or down.
pub fn if_set_admin(name: &str, up: bool) -> io::Result<()> {
    let flags = if_flags(name)?;
    let mut r = IfReq::new(name)?;
    let f = if up {
        flags | libc::IFF_UP as u32
    } else {
        flags & !(libc::IFF_UP as u32)
    } as u16;
    r.data[..2].copy_from_slice(&f.to_ne_bytes());
    ifreq_ioctl(SIOCSIFFLAGS, &mut r)
}

/// Sets the interface administratively up.
pub fn if_set_up(name: &str) -> io::Result<()> {
    let flags = if_flags(name)?;
    let mut r = IfReq::new(name)?;
    let f = (flags | libc::IFF_UP as u32) as u16;
    r.data[..2].copy_from_slice(&f.to_ne_bytes());
    ifreq_ioctl(SIOCSIFFLAGS, &mut r)
}

pub(crate) fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value points at a live c_int of the given size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads and clears a socket's pending error (`SO_ERROR`).
fn take_socket_error(fd: RawFd) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the option value points at a live c_int and `len` holds its
    // size, as SO_ERROR expects.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut v as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(v)
}

/// An AF_PACKET socket bound to one interface, with a virtio-net header in
/// front of every frame (checksum and segmentation offload information)
/// and auxiliary data (the VLAN tag the NIC or veth took off).
pub struct PacketSocket {
    fd: OwnedFd,
}

/// What `PacketSocket::recv` learned besides the bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecvInfo {
    /// Bytes written into the frame buffer (virtio header excluded).
    pub len: usize,
    /// The frame was longer than the buffer and was cut.
    pub truncated: bool,
    /// The socket saw our own transmission (skip it).
    pub outgoing: bool,
    /// VLAN tag the kernel removed: (tpid, tci).
    pub vlan: Option<(u16, u16)>,
}

pub const VNET_HDR_LEN: usize = 10;

/// Socket buffer size asked for on packet sockets (each way).
const SOCKET_BUFFER: libc::c_int = 8 << 20;

impl PacketSocket {
    pub fn open(ifindex: u32) -> io::Result<PacketSocket> {
        Ok(Self::open_with(ifindex, |_| Ok(()))?.0)
    }

    /// Opens the socket as `open` does, calling `setup` on it after its
    /// options are set and before it is bound (a receive ring must be set
    /// up then: no frame has been queued to the socket yet).
    pub fn open_with<T>(
        ifindex: u32,
        setup: impl FnOnce(RawFd) -> io::Result<T>,
    ) -> io::Result<(PacketSocket, T)> {
        // Protocol 0: the socket takes no frame (of any interface) until
        // `bind` names the interface and ETH_P_ALL.
        // SAFETY: socket() takes no pointers; the result is checked.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: raw was just returned by socket() and is owned by nobody.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)?;
        setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
        // Older kernels lack it; then outgoing frames are filtered by type.
        let _ = setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);
        // Room for bursts of TCP super-frames (64 KiB each): the default
        // buffer holds only a few and drops the rest. The FORCE variants
        // pass rmem_max/wmem_max when we may (root); otherwise take what
        // the limits allow.
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if setsockopt_int(raw, libc::SOL_SOCKET, force, SOCKET_BUFFER).is_err() {
                let _ = setsockopt_int(raw, libc::SOL_SOCKET, plain, SOCKET_BUFFER);
            }
        }
        let extra = setup(raw)?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        cvt(unsafe {
            libc::bind(
                raw,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        // A device that was down when we bound leaves a pending ENETDOWN
        // on the socket; reading SO_ERROR clears it.
        let _ = take_socket_error(raw);
        // Promiscuous while the socket lives (the kernel undoes it on close).
        // SAFETY: packet_mreq is plain data; all-zero is a valid value.
        let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mr.mr_ifindex = ifindex as i32;
        mr.mr_type = libc::PACKET_MR_PROMISC as u16;
        // SAFETY: the option value points at a live packet_mreq.
        cvt(unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mr as *const libc::packet_mreq as *const libc::c_void,
                std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        })?;
        Ok((PacketSocket { fd }, extra))
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Receives one frame: the virtio-net header into `vnet`, the frame
    /// into `buf`. `Err(WouldBlock)` when nothing is waiting.
    pub fn recv(&self, vnet: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> io::Result<RecvInfo> {
        let mut iov = [
            libc::iovec {
                iov_base: vnet.as_mut_ptr() as *mut libc::c_void,
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            },
        ];
        // u64 elements keep the control buffer aligned for cmsghdr.
        let mut cbuf = [0u64; 16];
        // SAFETY: sockaddr_ll and msghdr are plain data; zero is valid.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = &mut from as *mut libc::sockaddr_ll as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        // SAFETY: every pointer in `msg` points at a live buffer of the
        // stated length for the duration of the call.
        let n = cvt_size(unsafe { libc::recvmsg(self.raw_fd(), &mut msg, libc::MSG_TRUNC) })?;
        let mut info = RecvInfo {
            len: n.saturating_sub(VNET_HDR_LEN).min(buf.len()),
            truncated: n.saturating_sub(VNET_HDR_LEN) > buf.len()
                || msg.msg_flags & libc::MSG_TRUNC != 0,
            outgoing: from.sll_pkttype == PACKET_OUTGOING,
            vlan: None,
        };
        info.vlan = aux_vlan(&msg);
        Ok(info)
    }

    /// Sends one frame with its virtio-net header.
    pub fn send(&self, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        writev(self.raw_fd(), vnet, frame)
    }

    /// Sends messages, each a virtio-net header followed by its frame in
    /// one slice (one iovec per message: the kernel imports fewer), in as
    /// few system calls as the kernel allows. Returns how many went out
    /// before the first error, and that error if any.
    pub fn send_many<M: AsRef<[u8]>>(&self, messages: &[M]) -> (usize, Option<io::Error>) {
        // The message headers live on the stack, a chunk at a time (a
        // heap list of them per batch showed in profiles).
        const CHUNK: usize = 64;
        // SAFETY: iovec and mmsghdr are plain data; zero is a valid value
        // (null pointers that are set before the kernel sees them).
        let mut iovs: [libc::iovec; CHUNK] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; CHUNK] = unsafe { std::mem::zeroed() };
        let mut sent = 0;
        for chunk in messages.chunks(CHUNK) {
            let n = chunk.len();
            for (iov, m) in iovs.iter_mut().zip(chunk) {
                let m = m.as_ref();
                *iov = libc::iovec {
                    iov_base: m.as_ptr() as *mut libc::c_void,
                    iov_len: m.len(),
                };
            }
            for (msg, iov) in msgs.iter_mut().zip(iovs.iter_mut()).take(n) {
                // SAFETY: msghdr is plain data; zero is a valid value.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_iov = iov;
                h.msg_iovlen = 1;
                *msg = libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                };
            }
            let mut done = 0;
            while done < n {
                let rest = &mut msgs[done..n];
                // SAFETY: every mmsghdr points at a live iovec, which
                // points at a live buffer (the caller's message) for the
                // duration of the call; the kernel only reads them.
                let r = unsafe {
                    libc::sendmmsg(
                        self.raw_fd(),
                        rest.as_mut_ptr(),
                        rest.len() as libc::c_uint,
                        0,
                    )
                };
                if r < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return (sent + done, Some(e));
                }
                if r == 0 {
                    return (sent + done, None);
                }
                done += r as usize;
            }
            sent += n;
        }
        (sent, None)
    }

    /// Receives up to `bufs.len()` frames in one system call. Each frame
    /// goes into the spare capacity of its buffer, after the bytes the
    /// buffer already holds (its headroom), and the buffer's length grows
    /// by the frame's length (at most the spare capacity: a longer frame
    /// is cut and marked truncated). Returns what each received message
    /// was like; an empty list when nothing waits.
    pub fn recv_many(
        &self,
        bufs: &mut [(Vec<u8>, [u8; VNET_HDR_LEN])],
    ) -> io::Result<Vec<RecvInfo>> {
        let n = bufs.len();
        let mut iovs: Vec<[libc::iovec; 2]> = bufs
            .iter_mut()
            .map(|(b, h)| {
                let spare = b.spare_capacity_mut();
                [
                    libc::iovec {
                        iov_base: h.as_mut_ptr() as *mut libc::c_void,
                        iov_len: VNET_HDR_LEN,
                    },
                    libc::iovec {
                        iov_base: spare.as_mut_ptr() as *mut libc::c_void,
                        iov_len: spare.len(),
                    },
                ]
            })
            .collect();
        let mut cbufs = vec![[0u64; 16]; n];
        // SAFETY: sockaddr_ll is plain data; zero is a valid value.
        let mut names: Vec<libc::sockaddr_ll> = vec![unsafe { std::mem::zeroed() }; n];
        let mut msgs: Vec<libc::mmsghdr> = (0..n)
            .map(|i| {
                // SAFETY: msghdr is plain data; zero is a valid value.
                let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
                m.msg_name = &mut names[i] as *mut libc::sockaddr_ll as *mut libc::c_void;
                m.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                m.msg_iov = iovs[i].as_mut_ptr();
                m.msg_iovlen = 2;
                m.msg_control = cbufs[i].as_mut_ptr() as *mut libc::c_void;
                m.msg_controllen = std::mem::size_of::<[u64; 16]>();
                libc::mmsghdr {
                    msg_hdr: m,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: every mmsghdr points at live name, iovec and control
        // buffers of the stated sizes (the frame iovecs at the buffers'
        // spare capacity, which the kernel only writes), all outliving
        // the call.
        let r = unsafe {
            libc::recvmmsg(
                self.raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_TRUNC,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(Vec::new());
            }
            return Err(e);
        }
        let mut out = Vec::with_capacity(r as usize);
        for (i, m) in msgs.iter().take(r as usize).enumerate() {
            let total = m.msg_len as usize;
            let cap = iovs[i][1].iov_len;
            let got = total.saturating_sub(VNET_HDR_LEN).min(cap);
            let mut info = RecvInfo {
                len: got,
                truncated: total.saturating_sub(VNET_HDR_LEN) > cap
                    || m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                outgoing: names[i].sll_pkttype == PACKET_OUTGOING,
                vlan: None,
            };
            info.vlan = aux_vlan(&m.msg_hdr);
            let b = &mut bufs[i].0;
            // SAFETY: the kernel wrote `got` bytes (at most the spare
            // capacity) right after the buffer's initialized length, so
            // those bytes are initialized now.
            unsafe { b.set_len(b.len() + got) };
            out.push(info);
        }
        Ok(out)
    }
}

/// The VLAN tag in a received message's PACKET_AUXDATA, if any.
fn aux_vlan(msg: &libc::msghdr) -> Option<(u16, u16)> {
    let mut vlan = None;
    // SAFETY: `msg` was filled by recvmsg/recvmmsg; the CMSG macros walk
    // the control buffer within msg_controllen.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !c.is_null() {
        // SAFETY: `c` is a valid cmsghdr inside the control buffer
        // (CMSG_FIRSTHDR / CMSG_NXTHDR return only those or null).
        let h = unsafe { &*c };
        if h.cmsg_level == libc::SOL_PACKET && h.cmsg_type == libc::PACKET_AUXDATA {
            // SAFETY: the kernel put a tpacket_auxdata there; it may be
            // unaligned inside the buffer, hence read_unaligned.
            let aux = unsafe {
                std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::tpacket_auxdata)
            };
            if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                    aux.tp_vlan_tpid
                } else {
                    0x8100
                };
                vlan = Some((tpid, aux.tp_vlan_tci));
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        c = unsafe { libc::CMSG_NXTHDR(msg, c) };
    }
    vlan
}

fn writev(fd: RawFd, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
    let iov = [
        libc::iovec {
            iov_base: vnet.as_ptr() as *mut libc::c_void,
            iov_len: VNET_HDR_LEN,
        },
        libc::iovec {
            iov_base: frame.as_ptr() as *mut libc::c_void,
            iov_len: frame.len(),
        },
    ];
    // SAFETY: both iovecs point at live buffers of the stated lengths; the
    // kernel only reads them.
    cvt_size(unsafe { libc::writev(fd, iov.as_ptr(), 2) })?;
    Ok(())
}

/// An open tap device (IFF_TAP, no packet info, virtio-net headers).
pub struct TapFd {
    fd: OwnedFd,
    /// Made persistent when opened (see [`persistent_taps`]).
    persistent: bool,
}

/// Set by [`persistent_taps`].
static PERSISTENT_TAPS: AtomicBool = AtomicBool::new(false);
/// Set by [`keep_taps`].
static KEEP_TAPS: AtomicBool = AtomicBool::new(false);

/// Taps opened from now on are persistent, as stock's: they outlive the
/// process (a restart, a crash) with whatever the host configured on
/// them, until closed while the process goes on (their port deleted),
/// which deletes them. The daemon's choice; other users of the library
/// (tests, examples) get taps that go with them.
pub fn persistent_taps() {
    PERSISTENT_TAPS.store(true, Ordering::SeqCst);
}

/// The process is exiting without cleaning up: taps it closes from now on
/// stay, for the next daemon to take.
pub fn keep_taps() {
    KEEP_TAPS.store(true, Ordering::SeqCst);
}

impl Drop for TapFd {
    fn drop(&mut self) {
        if self.persistent && !KEEP_TAPS.load(Ordering::SeqCst) {
            if let Err(e) = self.set_persistent(false) {
                log::warn!(target: "netdev_linux", "cannot delete a tap device ({e})");
            }
        }
    }
}

impl TapFd {
    /// Creates (or attaches to) tap device `name`, non-blocking, with
    /// checksum and TSO offload allowed towards us; persistent once the
    /// process asked for that ([`persistent_taps`]).
    pub fn open(name: &str) -> io::Result<TapFd> {
        let path = c"/dev/net/tun";
        // SAFETY: `path` is a valid NUL-terminated string.
        let raw = cvt(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: raw was just returned by open() and is owned by nobody.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut r = IfReq::new(name)?;
        let flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as u16;
        r.data[..2].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF takes a `struct ifreq`, valid for the call.
        cvt(unsafe { libc::ioctl(raw, libc::TUNSETIFF as _, &mut r as *mut IfReq) })?;
        let offloads = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        cvt(unsafe { libc::ioctl(raw, libc::TUNSETOFFLOAD as _, offloads as libc::c_ulong) })?;
        let mut tap = TapFd {
            fd,
            persistent: false,
        };
        if PERSISTENT_TAPS.load(Ordering::SeqCst) {
            tap.set_persistent(true)?;
            tap.persistent = true;
        }
        Ok(tap)
    }

    /// Whether the device outlives its last descriptor. A persistent tap
    /// keeps its addresses, routes and state while no process holds it,
    /// so that a daemon restarted (or another that takes it, as stock's
    /// does) finds it as it was; one that is not goes when closed.
    pub fn set_persistent(&self, keep: bool) -> io::Result<()> {
        // SAFETY: TUNSETPERSIST takes its argument by value.
        cvt(unsafe {
            libc::ioctl(
                self.raw_fd(),
                libc::TUNSETPERSIST as _,
                libc::c_ulong::from(keep),
            )
        })?;
        Ok(())
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one frame (virtio-net header first). Returns the frame length.
    pub fn recv(&self, vnet: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> io::Result<usize> {
        let mut iov = [
            libc::iovec {
                iov_base: vnet.as_mut_ptr() as *mut libc::c_void,
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            },
        ];
        // SAFETY: both iovecs point at live, writable buffers of the
        // stated lengths.
        let n = cvt_size(unsafe { libc::readv(self.raw_fd(), iov.as_mut_ptr(), 2) })?;
        Ok(n.saturating_sub(VNET_HDR_LEN))
    }

    pub fn send(&self, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        writev(self.raw_fd(), vnet, frame)
    }
}

/// An eventfd: a counter that makes a file descriptor readable, used to
/// wake a poll loop when a dummy device gets a packet.
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd() takes no pointers; the result is checked.
        let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: raw was just returned by eventfd() and is owned by nobody.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn signal(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer. A full counter only
        // means the fd is readable already, so the result is not needed.
        let _ = unsafe { libc::write(self.raw_fd(), one.as_ptr() as *const libc::c_void, 8) };
    }

    pub fn drain(&self) {
        let mut b = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live buffer.
        let _ = unsafe { libc::read(self.raw_fd(), b.as_mut_ptr() as *mut libc::c_void, 8) };
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes; returns
/// the readiness of each (true = readable or in error).
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a live array of `p.len()` pollfd structures.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter().map(|x| x.revents != 0).collect())
}

/// Asks the C allocator to keep freed packet-sized memory mapped.
///
/// Packet buffers are allocated and freed at line rate, many of them
/// tens of KiB (GRO super-frames). By default glibc gives a freed block
/// at the top of its heap back to the kernel (`madvise`, heap trimming)
/// and serves the next one with fresh pages, each a page fault and a
/// zeroed page: in a profile of iperf3 TCP through the datapath, half of
/// the forwarding thread's time. Blocks up to 1 MiB therefore come from
/// the heap (not one `mmap` each), and up to 32 MiB of free heap stay
/// mapped. Process-wide; calling it again changes nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets allocator parameters; it takes no
            // pointers and is safe to call at any time.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
            }
        });
    }
}

/// Milliseconds of the monotonic clock (what flow `used` times count).
pub fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec the call fills in.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

/// Sends one rtnetlink dump request and returns every reply message
/// (header included) until the end of the dump.
pub fn rtnetlink_dump(msg_type: u16, family: u8) -> io::Result<Vec<Vec<u8>>> {
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_DUMP: u16 = 0x300;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
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
    // nlmsghdr (16) + rtgenmsg (1, padded to 4).
    let mut req = [0u8; 20];
    req[..4].copy_from_slice(&20u32.to_ne_bytes());
    req[4..6].copy_from_slice(&msg_type.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[16] = family;
    // SAFETY: sockaddr_nl is plain data; zero (the kernel) is valid.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: `req` and `kernel` are live for the call, lengths match.
    cvt_size(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr() as *const libc::c_void,
            req.len(),
            0,
            &kernel as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is a live, writable buffer of the stated length.
        let n = cvt_size(unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        })?;
        let mut pos = 0;
        while pos + 16 <= n {
            let len =
                u32::from_ne_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            let ty = u16::from_ne_bytes([buf[pos + 4], buf[pos + 5]]);
            if len < 16 || pos + len > n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bad netlink message",
                ));
            }
            match ty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let e = buf
                        .get(pos + 16..pos + 20)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if e != 0 {
                        return Err(io::Error::from_raw_os_error(-e));
                    }
                }
                _ => out.push(buf[pos..pos + len].to_vec()),
            }
            pos += (len + 3) & !3;
        }
        if n == 0 {
            return Ok(out);
        }
    }
}

/// Every address of every interface: (interface name, address, prefix
/// length).
pub fn if_addrs() -> io::Result<Vec<(String, std::net::IpAddr, u8)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive
        // until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr points at a sockaddr whose family says its type.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let read = |sa: *const libc::sockaddr| -> Option<std::net::IpAddr> {
            if sa.is_null() {
                return None;
            }
            match family {
                libc::AF_INET => {
                    // SAFETY: an AF_INET sockaddr is a sockaddr_in.
                    let sin = unsafe { std::ptr::read_unaligned(sa as *const libc::sockaddr_in) };
                    Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                        u32::from_be(sin.sin_addr.s_addr),
                    )))
                }
                libc::AF_INET6 => {
                    // SAFETY: an AF_INET6 sockaddr is a sockaddr_in6.
                    let sin6 = unsafe { std::ptr::read_unaligned(sa as *const libc::sockaddr_in6) };
                    Some(std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                        sin6.sin6_addr.s6_addr,
                    )))
                }
                _ => None,
            }
        };
        let (Some(addr), mask) = (read(ifa.ifa_addr), read(ifa.ifa_netmask)) else {
            continue;
        };
        let prefix = match mask {
            Some(std::net::IpAddr::V4(m)) => u32::from(m).count_ones() as u8,
            Some(std::net::IpAddr::V6(m)) => u128::from(m).count_ones() as u8,
            None => 0,
        };
        out.push((name, addr, prefix));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}
