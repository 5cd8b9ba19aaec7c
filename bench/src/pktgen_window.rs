//! pktgen-window: `pktgen.py window` without Python's cost per frame.
//!
//! Usage: `pktgen-window NS_A IFACE_A NS_B IFACE_B FIRST COUNT WINDOW MODE
//! FRAME_TIMEOUT_S MAX_S` (run from the root namespace, as root).
//!
//! It holds a raw (AF_PACKET) socket bound to IFACE_A inside network
//! namespace NS_A for sending and one bound to IFACE_B inside NS_B for
//! receiving (each namespace entered with setns(2) on `/var/run/netns/NAME`
//! just long enough to open and bind the socket, as pktgen.py's
//! `socket_in_netns` does). In NS_B it also binds the frames' UDP port,
//! never read (see `udp_sink`), as pktgen.py's `window` does. It sends
//! COUNT frames numbered from FIRST and
//! keeps at most WINDOW of them in flight: a frame not received within
//! FRAME_TIMEOUT_S counts as lost, and the run stops after MAX_S seconds.
//! One process, one clock (CLOCK_MONOTONIC): it prints
//! `{"completed": N, "lost": N, "seconds": S, "delays": [...]}`, seconds
//! from the start to the last arrival, delays in seconds.
//!
//! The frames are pktgen.py's `frame()`, byte for byte (a test compares
//! them with the Python's), and MODE is its `unique`, `same` or `oneflow`.
//! The loop is pktgen.py's too: fill the window, wait up to 5 ms for the
//! receiving socket, take every frame waiting there, expire the late ones.
//! So the two generators differ only in what each step costs: with Python,
//! building, sending and receiving a frame costs some tens of microseconds
//! of the generator's own CPU, which can cap a burst's rate below what the
//! switch could do (bench/README.md compares them).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod frame {
    //! pktgen.py's frames: Ethernet/IPv4/UDP to port 9999, payload `FVB1`,
    //! a 32-bit sequence number and 10 zero bytes (60 bytes in all).

    pub const LEN: usize = 60;
    const MAGIC: &[u8; 4] = b"FVB1";
    pub const UDP_DST_PORT: u16 = 9999;
    /// Port of every `oneflow` frame: below every numbered frame's.
    const ONEFLOW_PORT: u16 = 39999;
    const SRC_MAC_NS_A: [u8; 6] = [0x02, 0x00, 0x0a, 0xfb, 0x00, 0x01];
    const DST_MAC_NS_B: [u8; 6] = [0x02, 0x00, 0x0a, 0xfb, 0x00, 0x02];
    const SRC_IP: [u8; 4] = [10, 251, 0, 1];
    const DST_IP: [u8; 4] = [10, 251, 0, 2];
    const IP_HEADER_LEN: usize = 20;
    const UDP_LEN: u16 = 8 + 18;

    /// Which frames belong to one flow (pktgen.py's MODE).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        /// A source MAC and a UDP source port made from the number.
        Unique,
        /// Namespace A's MAC, the UDP source port made from the number.
        Same,
        /// Namespace A's MAC and one UDP source port for every frame.
        OneFlow,
    }

    impl Mode {
        pub fn parse(word: &str) -> Option<Mode> {
            match word {
                "unique" => Some(Mode::Unique),
                "same" => Some(Mode::Same),
                "oneflow" => Some(Mode::OneFlow),
                _ => None,
            }
        }
    }

    fn ip_checksum(header: &[u8]) -> u16 {
        let mut total: u32 = header
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while total >> 16 != 0 {
            total = (total & 0xffff) + (total >> 16);
        }
        !(total as u16)
    }

    /// Frame number `seq` in `mode`.
    pub fn build(seq: u32, mode: Mode) -> [u8; LEN] {
        let mut f = [0u8; LEN];
        f[..6].copy_from_slice(&DST_MAC_NS_B);
        if mode == Mode::Unique {
            f[6] = 0x0e;
            f[8..12].copy_from_slice(&seq.to_be_bytes());
        } else {
            f[6..12].copy_from_slice(&SRC_MAC_NS_A);
        }
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..14 + IP_HEADER_LEN];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(IP_HEADER_LEN as u16 + UDP_LEN).to_be_bytes());
        ip[4..6].copy_from_slice(&((seq & 0xffff) as u16).to_be_bytes());
        ip[8] = 64; // TTL
        ip[9] = 17; // UDP
        ip[12..16].copy_from_slice(&SRC_IP);
        ip[16..20].copy_from_slice(&DST_IP);
        let sum = ip_checksum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let sport = match mode {
            Mode::OneFlow => ONEFLOW_PORT,
            // 40000 + seq % 20000 < 60000: fits.
            _ => 40000 + (seq % 20000) as u16,
        };
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&UDP_DST_PORT.to_be_bytes());
        f[38..40].copy_from_slice(&UDP_LEN.to_be_bytes());
        f[42..46].copy_from_slice(MAGIC);
        f[46..50].copy_from_slice(&seq.to_be_bytes());
        f
    }

    /// The sequence number of one of our frames, else None (anything
    /// else the receiving interface sees).
    pub fn our_seq(data: &[u8]) -> Option<u32> {
        if data.get(12..14)? != [0x08, 0x00] || *data.get(23)? != 17 {
            return None;
        }
        if data.get(36..38)? != UDP_DST_PORT.to_be_bytes() || data.get(42..46)? != MAGIC {
            return None;
        }
        Some(u32::from_be_bytes(data.get(46..50)?.try_into().ok()?))
    }
}

mod packet_socket {
    //! AF_PACKET sockets bound to an interface of another network
    //! namespace, and the few calls the loop makes on them; and the UDP
    //! port that receives the frames in the far namespace.

    use std::ffi::CString;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    const ETH_P_ALL: u16 = 0x0003;
    const RCVBUF: libc::c_int = 16 << 20;

    pub struct PacketSocket {
        fd: OwnedFd,
    }

    /// Enters namespace `ns` for the calling thread; returns to the
    /// original one when dropped.
    struct InNetns {
        own: File,
    }

    impl InNetns {
        fn enter(ns: &str) -> io::Result<InNetns> {
            if ns.is_empty() || ns.contains('/') || ns == "." || ns == ".." {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("bad namespace name {ns:?}"),
                ));
            }
            let own = File::open("/proc/self/ns/net")?;
            let target = File::open(format!("/var/run/netns/{ns}"))
                .map_err(|e| io::Error::new(e.kind(), format!("namespace {ns}: {e}")))?;
            // SAFETY: setns on a namespace file descriptor we hold open;
            // it changes only this thread's network namespace.
            if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(e.kind(), format!("setns {ns}: {e}")));
            }
            Ok(InNetns { own })
        }
    }

    impl Drop for InNetns {
        fn drop(&mut self) {
            // SAFETY: as in enter(), with the namespace we came from.
            if unsafe { libc::setns(self.own.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                // Sockets opened later would land in the wrong namespace.
                eprintln!("pktgen-window: cannot return to the original network namespace");
                std::process::exit(1);
            }
        }
    }

    fn os_error<T>(what: &str) -> io::Result<T> {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }

    /// A new socket of `domain`, `kind` and `protocol`.
    fn socket(
        domain: libc::c_int,
        kind: libc::c_int,
        protocol: libc::c_int,
    ) -> io::Result<OwnedFd> {
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
        if raw < 0 {
            return os_error("socket");
        }
        // SAFETY: raw is a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    /// Sets the socket's receive buffer size (the kernel raises a small
    /// one to its minimum).
    fn set_rcvbuf(fd: &OwnedFd, bytes: libc::c_int) -> io::Result<()> {
        // SAFETY: setsockopt with a pointer to a c_int and its size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return os_error("SO_RCVBUF");
        }
        Ok(())
    }

    /// Binds the socket to `addr`, a sockaddr of the socket's family.
    fn bind<A>(fd: &OwnedFd, addr: &A, what: &str) -> io::Result<()> {
        // SAFETY: bind with a pointer to a sockaddr and its size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (addr as *const A).cast(),
                std::mem::size_of::<A>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return os_error(what);
        }
        Ok(())
    }

    /// A UDP socket bound to `port` in namespace `ns` that is never read:
    /// the service the frames are addressed to. Without it, the far
    /// namespace's kernel answers every frame with an attempt at an ICMP
    /// port-unreachable (route lookups per frame, rate-limited only after
    /// them), and a veth runs that in the context of whoever sent into
    /// it: the switch under test, whose CPU time it would inflate. With
    /// the smallest receive buffer the kernel allows, the socket fills at
    /// once and each further frame is dropped where UDP queues it.
    pub fn udp_sink(ns: &str, port: u16) -> io::Result<OwnedFd> {
        let _inside = InNetns::enter(ns)?;
        let fd = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
        set_rcvbuf(&fd, 0)?;
        // SAFETY: sockaddr_in is plain data; all zeroes is INADDR_ANY.
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        bind(&fd, &addr, &format!("bind UDP port {port} in {ns}"))?;
        Ok(fd)
    }

    impl PacketSocket {
        /// A socket bound to `iface` in namespace `ns`: for receiving
        /// every frame (`receive`) or for sending only.
        pub fn open(ns: &str, iface: &str, receive: bool) -> io::Result<PacketSocket> {
            let name = CString::new(iface)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
            let _inside = InNetns::enter(ns)?;
            // A sender binds with protocol 0: it receives nothing.
            let protocol = if receive { ETH_P_ALL.to_be() } else { 0 };
            let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(protocol))?;
            // SAFETY: name is a valid NUL-terminated string.
            let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if ifindex == 0 {
                return os_error(&format!("interface {iface} in {ns}"));
            }
            if receive {
                set_rcvbuf(&fd, RCVBUF)?;
            }
            // SAFETY: sockaddr_ll is plain data; all zeroes is valid.
            let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            addr.sll_family = libc::AF_PACKET as libc::c_ushort;
            addr.sll_protocol = protocol;
            addr.sll_ifindex = libc::c_int::try_from(ifindex).unwrap_or(0);
            bind(&fd, &addr, &format!("bind to {iface} in {ns}"))?;
            Ok(PacketSocket { fd })
        }

        /// Sends one whole frame (blocking while the queue is full, like
        /// Python's `socket.send`).
        pub fn send(&self, frame: &[u8]) -> io::Result<()> {
            loop {
                // SAFETY: frame is a valid buffer of frame.len() bytes.
                let n = unsafe {
                    libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0)
                };
                if n >= 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }

        /// One waiting frame into buf, without blocking: its length, or
        /// None when nothing waits.
        pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
            loop {
                // SAFETY: buf is a valid writable buffer of buf.len() bytes.
                let n = unsafe {
                    libc::recv(
                        self.fd.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if let Ok(n) = usize::try_from(n) {
                    return Ok(Some(n));
                }
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return Ok(None),
                    _ => return Err(e),
                }
            }
        }

        /// Waits up to `timeout` until a frame can be received.
        pub fn wait_readable(&self, timeout: Duration) {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd. An error or EINTR just ends the
            // wait early; the caller then reads (and finds nothing).
            unsafe { libc::poll(&mut pfd, 1, ms) };
        }
    }
}

use frame::Mode;
use packet_socket::PacketSocket;

/// How long one wait for the receiving socket lasts at most (pktgen.py's
/// select timeout).
const WAIT: Duration = Duration::from_millis(5);
const MAX_WINDOW: u64 = 1 << 20;

const USAGE: &str = "usage: pktgen-window NS_A IFACE_A NS_B IFACE_B FIRST COUNT WINDOW \
                     {unique|same|oneflow} FRAME_TIMEOUT_S MAX_S";

#[derive(Debug, PartialEq)]
struct Args {
    ns_a: String,
    iface_a: String,
    ns_b: String,
    iface_b: String,
    first: u32,
    count: u32,
    window: usize,
    mode: Mode,
    frame_timeout: Duration,
    max: Duration,
}

fn seconds(word: &str) -> Option<Duration> {
    let s: f64 = word.parse().ok()?;
    Duration::try_from_secs_f64(s).ok()
}

impl Args {
    fn parse(argv: &[String]) -> Option<Args> {
        let [ns_a, iface_a, ns_b, iface_b, first, count, window, mode, timeout, max] = argv else {
            return None;
        };
        let first: u32 = first.parse().ok()?;
        let count: u32 = count.parse().ok()?;
        // Sequence numbers are 32 bits: the last one must fit.
        first.checked_add(count)?;
        let window: u64 = window.parse().ok()?;
        if !(1..=MAX_WINDOW).contains(&window) {
            return None;
        }
        Some(Args {
            ns_a: ns_a.clone(),
            iface_a: iface_a.clone(),
            ns_b: ns_b.clone(),
            iface_b: iface_b.clone(),
            first,
            count,
            window: usize::try_from(window).ok()?,
            mode: Mode::parse(mode)?,
            frame_timeout: seconds(timeout)?,
            max: seconds(max)?,
        })
    }
}

/// What one run measured.
struct Report {
    completed: usize,
    lost: usize,
    seconds: f64,
    delays: Vec<f64>,
}

impl Report {
    fn json(&self) -> String {
        let delays: Vec<String> = self.delays.iter().map(|d| format!("{d:.9}")).collect();
        format!(
            "{{\"completed\": {}, \"lost\": {}, \"seconds\": {:.9}, \"delays\": [{}]}}",
            self.completed,
            self.lost,
            self.seconds,
            delays.join(", ")
        )
    }
}

fn run(args: &Args, tx: &PacketSocket, rx: &PacketSocket) -> std::io::Result<Report> {
    let mut outstanding: HashMap<u32, Instant> = HashMap::with_capacity(args.window);
    let mut delays = Vec::with_capacity(args.count as usize);
    let mut lost = 0usize;
    let mut buf = [0u8; 2048];
    let end = u64::from(args.first) + u64::from(args.count);
    let mut next = u64::from(args.first);
    let start = Instant::now();
    let mut last_done = start;
    while (next < end || !outstanding.is_empty()) && start.elapsed() < args.max {
        while outstanding.len() < args.window && next < end {
            // next < end <= first + count, which Args::parse checked fits.
            let seq = next as u32;
            let data = frame::build(seq, args.mode);
            outstanding.insert(seq, Instant::now());
            if tx.send(&data).is_err() {
                // The local queue was full: the frame never left.
                outstanding.remove(&seq);
                lost += 1;
            }
            next += 1;
        }
        rx.wait_readable(WAIT);
        while let Some(n) = rx.recv(&mut buf)? {
            let now = Instant::now();
            let sent = buf
                .get(..n)
                .and_then(frame::our_seq)
                .and_then(|seq| outstanding.remove(&seq));
            if let Some(sent) = sent {
                delays.push((now - sent).as_secs_f64());
                last_done = now;
            }
        }
        let now = Instant::now();
        let before = outstanding.len();
        outstanding.retain(|_, sent| now.duration_since(*sent) <= args.frame_timeout);
        lost += before - outstanding.len();
    }
    lost += outstanding.len();
    Ok(Report {
        completed: delays.len(),
        lost,
        seconds: (last_done - start).as_secs_f64(),
        delays,
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(args) = Args::parse(&argv) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let sockets = PacketSocket::open(&args.ns_a, &args.iface_a, false)
        .and_then(|tx| PacketSocket::open(&args.ns_b, &args.iface_b, true).map(|rx| (tx, rx)));
    // The sink is held (never read) until the run ends.
    let report = packet_socket::udp_sink(&args.ns_b, frame::UDP_DST_PORT).and_then(|_sink| {
        let (tx, rx) = sockets?;
        run(&args, &tx, &rx)
    });
    match report {
        Ok(report) => {
            println!("{}", report.json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pktgen-window: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// pktgen.py's own frame(), as hex, or None without python3.
    fn python_frame(seq: u32, mode: &str) -> Option<String> {
        let benchlib = concat!(env!("CARGO_MANIFEST_DIR"), "/benchlib");
        let code = format!(
            "import sys; sys.path.insert(0, {benchlib:?}); import pktgen; \
             print(pktgen.frame({seq}, {mode:?}).hex())"
        );
        let out = Command::new("python3").args(["-c", &code]).output().ok()?;
        assert!(out.status.success(), "pktgen.py frame() failed: {out:?}");
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn frames_are_pktgen_py_frames() {
        let mut compared = 0;
        for seq in [0u32, 1, 19_999, 20_000, 0x1000_0000, 0x2000_1f40, u32::MAX] {
            for (word, mode) in [
                ("unique", Mode::Unique),
                ("same", Mode::Same),
                ("oneflow", Mode::OneFlow),
            ] {
                let Some(expected) = python_frame(seq, word) else {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "python3 is needed under CI"
                    );
                    eprintln!("skipped: no python3 to run pktgen.py");
                    return;
                };
                assert_eq!(hex(&frame::build(seq, mode)), expected, "seq {seq} {word}");
                compared += 1;
            }
        }
        assert_eq!(compared, 21);
    }

    #[test]
    fn sequence_numbers_come_back_from_our_frames_only() {
        for seq in [0u32, 7, 0xdead_beef] {
            for mode in [Mode::Unique, Mode::Same, Mode::OneFlow] {
                assert_eq!(frame::our_seq(&frame::build(seq, mode)), Some(seq));
            }
        }
        let mut other = frame::build(5, Mode::Same);
        other[36] = 0; // another UDP destination port
        assert_eq!(frame::our_seq(&other), None);
        let mut arp = frame::build(5, Mode::Same);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(frame::our_seq(&arp), None);
        assert_eq!(frame::our_seq(&frame::build(5, Mode::Same)[..49]), None);
        assert_eq!(frame::our_seq(&[]), None);
    }

    #[test]
    fn arguments_are_checked() {
        let args = Args::parse(&words("nsa a0 nsb b0 10 100 32 oneflow 0.2 30")).unwrap();
        assert_eq!(args.first, 10);
        assert_eq!(args.count, 100);
        assert_eq!(args.window, 32);
        assert_eq!(args.mode, Mode::OneFlow);
        assert_eq!(args.frame_timeout, Duration::from_millis(200));
        assert_eq!(args.max, Duration::from_secs(30));
        for bad in [
            "nsa a0 nsb b0 10 100 32 oneflow 0.2",
            "nsa a0 nsb b0 10 100 0 same 0.2 30",
            "nsa a0 nsb b0 10 100 32 other 0.2 30",
            "nsa a0 nsb b0 -1 100 32 same 0.2 30",
            "nsa a0 nsb b0 4294967295 2 32 same 0.2 30",
            "nsa a0 nsb b0 10 100 32 same -1 30",
            "nsa a0 nsb b0 10 100 32 same 0.2 nan",
        ] {
            assert_eq!(Args::parse(&words(bad)), None, "{bad}");
        }
    }

    #[test]
    fn report_is_json() {
        let r = Report {
            completed: 2,
            lost: 1,
            seconds: 0.5,
            delays: vec![0.000_012_5, 1.0],
        };
        assert_eq!(
            r.json(),
            "{\"completed\": 2, \"lost\": 1, \"seconds\": 0.500000000, \
             \"delays\": [0.000012500, 1.000000000]}"
        );
    }
}
